//! A member's own profile (`PATCH /me`): display name, status (a text and an emoji)
//! and time zone. The account record is the one copy; each workspace the member is in
//! logs `user.updated` naming only who changed, and its members' clients fetch the
//! profile again.

use confab_core::{Error, ErrorCode, Event, User, validate};
pub use confab_protocol::http::UpdateProfile;
use confab_store::Op;

use crate::error::Result;
use crate::{App, Caller};

impl App {
    /// Changes the caller's own profile: only the fields given, each validated
    /// (`invalid_field` names the first bad one); counted against the write rate.
    pub async fn update_profile(&self, caller: Caller, req: UpdateProfile) -> Result<User> {
        self.check_write_rate(caller.user)?;
        let display_name = req.display_name.as_deref().map(|n| self.limits().display_name(n)).transpose()?;
        let status_text = req.status_text.as_deref().map(|t| self.limits().status_text(t)).transpose()?;
        let status_emoji = req.status_emoji.as_deref().map(validate::status_emoji).transpose()?;
        let time_zone = req.time_zone.as_deref().map(validate::time_zone).transpose()?;
        let user = {
            // The sign-up lock orders this read-modify-write with the other writers of
            // account records that take it.
            let _guard = self.inner.signup_lock.lock();
            let mut record = self
                .store()
                .user(caller.user)?
                .ok_or_else(|| Error::new(ErrorCode::Unauthenticated, "account no longer exists"))?;
            let user = &mut record.user;
            if let Some(name) = display_name {
                user.display_name = name.to_string();
            }
            if let Some(text) = status_text {
                user.details.status_text = text.to_string();
            }
            if let Some(emoji) = status_emoji {
                user.details.status_emoji = emoji;
            }
            if let Some(zone) = time_zone {
                user.details.time_zone = zone.to_string();
            }
            let user = user.clone();
            let mut batch = confab_store::Batch::new();
            batch.push(Op::PutUser(record));
            self.check_writable()?;
            self.store().apply(batch).map_err(|e| self.store_write_failed(e))?;
            user
        };
        self.announce_profile_change(caller).await?;
        Ok(user)
    }

    /// Logs `user.updated` in every workspace of the caller (durable, like the record
    /// written before it).
    async fn announce_profile_change(&self, caller: Caller) -> Result<()> {
        let mut pending = Vec::new();
        for ws in self.store().workspaces_of(caller.user)? {
            let ((), durable) = self.write(ws, |state, tx| {
                if state.role(caller.user).is_some() {
                    tx.emit(Event::UserUpdated { user: caller.user });
                }
                Ok(())
            })?;
            pending.push(durable);
        }
        if pending.is_empty() {
            // No workspace: the record's own write still needs a flush.
            return self.inner.committer.enqueue(Vec::new()).wait().await;
        }
        for durable in pending {
            durable.wait().await?;
        }
        Ok(())
    }
}
