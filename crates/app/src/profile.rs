//! A member's own profile (`PATCH /me`): display name, status (a text and an emoji)
//! and time zone; and their picture (`PUT`/`DELETE /me/avatar`), which the server
//! decodes and stores as a square PNG of its own making, never the bytes sent. The
//! account record is the one copy of the rest; each workspace the member is in logs
//! `user.updated` naming only who changed, and its members' clients fetch the profile
//! again.

use confab_core::{Error, ErrorCode, Event, User, UserId, WorkspaceId, validate};
pub use confab_protocol::http::UpdateProfile;
use confab_store::Op;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::{App, Caller};

/// A profile picture's side, in pixels (it is cropped square).
const AVATAR_PX: u32 = 256;
/// The largest image taken as a profile picture, in bytes.
pub const AVATAR_MAX_BYTES: usize = 5 * 1024 * 1024;

impl App {
    /// Changes the caller's own profile: only the fields given, each validated
    /// (`invalid_field` names the first bad one); counted against the write rate.
    pub async fn update_profile(&self, caller: Caller, req: UpdateProfile) -> Result<User> {
        self.check_write_rate(caller.user)?;
        let display_name = req.display_name.as_deref().map(|n| self.limits().display_name(n)).transpose()?;
        let status_text = req.status_text.as_deref().map(|t| self.limits().status_text(t)).transpose()?;
        let status_emoji = req.status_emoji.as_deref().map(validate::status_emoji).transpose()?;
        let time_zone = req.time_zone.as_deref().map(validate::time_zone).transpose()?;
        self.change_own_account(caller, Vec::new(), |user| {
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
        })
        .await
    }

    /// Sets the caller's picture from an uploaded image (PNG, JPEG, GIF or WebP, at
    /// most [`AVATAR_MAX_BYTES`]): decoded in the bounded thumbnail pool under the
    /// `files` image limits, cropped square, stored as a PNG. The write rate is
    /// [`App::check_avatar_rate`]'s, which the route calls before it reads the image.
    pub async fn set_avatar(&self, caller: Caller, image: Vec<u8>) -> Result<User> {
        if image.is_empty() {
            return Err(Error::invalid_field("avatar", "send an image").into());
        }
        if image.len() > AVATAR_MAX_BYTES {
            let message = format!("a picture may have at most {AVATAR_MAX_BYTES} bytes");
            return Err(Error::new(ErrorCode::PayloadTooLarge, message).into());
        }
        if !crate::files::is_inline_image(&crate::files::sniff(&image)) {
            return Err(Error::invalid_field("avatar", "send a PNG, JPEG, GIF or WebP image").into());
        }
        let png = {
            let _permit = self.inner.files.thumbnails.acquire().await.map_err(|_| Error::unavailable())?;
            let config = self.config().files.clone();
            tokio::task::spawn_blocking(move || crate::files::avatar_png(&image, AVATAR_PX, &config))
                .await?
                .map_err(|why| Error::invalid_field("avatar", format!("not a readable image: {why}")))?
        };
        let version: String = Sha256::digest(&png)[..8].iter().map(|b| format!("{b:02x}")).collect();
        let ops = vec![Op::PutAvatar { user: caller.user, png }];
        self.change_own_account(caller, ops, |user| user.details.avatar = version).await
    }

    /// Counts a picture upload against the caller's write rate, refusing one over it:
    /// called before the image is read, so a refused upload costs no body.
    pub fn check_avatar_rate(&self, caller: Caller) -> Result<()> {
        self.check_write_rate(caller.user)
    }

    /// Removes the caller's picture (nothing if there is none).
    pub async fn remove_avatar(&self, caller: Caller) -> Result<User> {
        self.check_write_rate(caller.user)?;
        let ops = vec![Op::DeleteAvatar { user: caller.user }];
        self.change_own_account(caller, ops, |user| user.details.avatar.clear()).await
    }

    /// A member's picture and its version, for the member and whoever shares a
    /// workspace with them; `not_found` for anyone else, as for a member without one.
    pub fn avatar(&self, caller: Caller, user: UserId) -> Result<(Vec<u8>, String)> {
        let not_found = || Error::new(ErrorCode::NotFound, "no such picture");
        if caller.user != user {
            let theirs = self.store().workspaces_of(user)?;
            let shared = self.store().workspaces_of(caller.user)?.iter().any(|ws| theirs.contains(ws));
            if !shared {
                return Err(not_found().into());
            }
        }
        let record = self.store().user(user)?.ok_or_else(not_found)?;
        if record.user.details.avatar.is_empty() {
            return Err(not_found().into());
        }
        let png = self.store().avatar(user)?.ok_or_else(not_found)?;
        Ok((png, record.user.details.avatar))
    }

    /// Changes the caller's own account record with `change` (and writes `ops` in
    /// the same batch), then announces it.
    async fn change_own_account(
        &self,
        caller: Caller,
        ops: Vec<Op>,
        change: impl FnOnce(&mut User),
    ) -> Result<User> {
        let user = {
            // The sign-up lock orders this read-modify-write with the other writers of
            // account records that take it.
            let _guard = self.inner.signup_lock.lock();
            let mut record = self
                .store()
                .user(caller.user)?
                .ok_or_else(|| Error::new(ErrorCode::Unauthenticated, "account no longer exists"))?;
            change(&mut record.user);
            let user = record.user.clone();
            let mut batch = confab_store::Batch::new();
            for op in ops {
                batch.push(op);
            }
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
        let mut elsewhere = Vec::new();
        for ws in self.store().workspaces_of(caller.user)? {
            // In a cluster, a workspace another node sequences is told by that node.
            if let Some(forwarder) = self.forwarder_for(ws)? {
                elsewhere.push(forwarder.user_updated(ws, caller.user));
                continue;
            }
            pending.push(self.stage_user_updated(ws, caller.user)?);
        }
        if pending.is_empty() {
            // No workspace here: the record's own write still needs a flush.
            self.inner.committer.enqueue(Vec::new()).wait().await?;
        }
        for durable in pending {
            durable.wait().await?;
        }
        for forwarded in elsewhere {
            forwarded.await?;
        }
        Ok(())
    }

    /// Logs `user.updated` for `user` in `ws` (if still a member).
    fn stage_user_updated(&self, ws: WorkspaceId, user: UserId) -> Result<crate::committer::Durable> {
        let ((), durable) = self.write(ws, |state, tx| {
            if state.role(user).is_some() {
                tx.emit(Event::UserUpdated { user });
            }
            Ok(())
        })?;
        Ok(durable)
    }

    /// Logs `user.updated` for `user` in `ws`, durably: what a node of a cluster runs
    /// for another whose member changed their profile.
    pub async fn log_user_updated(&self, ws: WorkspaceId, user: UserId) -> Result<()> {
        self.stage_user_updated(ws, user)?.wait().await
    }
}
