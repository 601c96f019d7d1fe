//! What is a member's own in a workspace and nobody else sees: the messages they
//! saved for later, and how each channel notifies them (every new message, mentions
//! only, or nothing; the web client's desktop notifications follow it).
//!
//! Saving needs the right to read the message; the saved list shows only what the
//! member may read *now* (a private channel they left drops out) and leaves
//! deleted messages out. Erasure forgets both ([`PERSONAL_BLOBS`]).

use confab_core::{ChannelId, ChannelKind, MessageId, NotifyLevel, UserId, WorkspaceId};
use confab_store::Op;

use crate::error::Result;
use crate::threads::MAX_PAGE;
use crate::{App, Caller};

pub use confab_protocol::http::{NotifyBody, SavedItem, SavedPage, SavedQuery};

/// Blob namespace of notification levels: member id, channel id → one byte.
const NOTIFY: &str = "notify";

/// The blob namespaces keyed by member id first, which erasure forgets.
pub(crate) const PERSONAL_BLOBS: &[&str] = &[NOTIFY];

fn notify_key(user: UserId, channel: ChannelId) -> Vec<u8> {
    [user.to_bytes(), channel.to_bytes()].concat()
}

impl App {
    /// Saves a message the caller may read; saving it again changes nothing.
    pub async fn save_message(&self, caller: Caller, id: MessageId) -> Result<()> {
        self.set_saved(caller, id, true).await
    }

    /// Takes a message out of the caller's saved ones (nothing if it was not).
    pub async fn unsave_message(&self, caller: Caller, id: MessageId) -> Result<()> {
        self.set_saved(caller, id, false).await
    }

    async fn set_saved(&self, caller: Caller, id: MessageId, saved: bool) -> Result<()> {
        let message = self.message(caller, id)?;
        let (ws, user) = (message.workspace, caller.user);
        let ((), durable) = self.write_as(caller, ws, |state, tx| {
            state.readable_channel(user, message.channel)?;
            tx.op(match saved {
                true => Op::PutSaved { workspace: ws, user, message: id, at: tx.now },
                false => Op::DeleteSaved { workspace: ws, user, message: id },
            });
            Ok(())
        })?;
        durable.wait().await
    }

    /// The caller's saved messages that they may read now, the most recently saved first.
    pub fn saved(&self, caller: Caller, ws: WorkspaceId, query: SavedQuery) -> Result<SavedPage> {
        let limit = query.limit.unwrap_or(30);
        if limit == 0 || limit > MAX_PAGE {
            return Err(confab_core::Error::invalid_field("limit", format!("1 to {MAX_PAGE}")).into());
        }
        let state = self.workspace(ws)?;
        state.read().require_member(caller.user)?;
        let mut saved = self.store().saved(caller.user, ws)?;
        saved.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        let mut items = Vec::new();
        for (id, saved_at) in saved {
            let Some(message) = self.store().message(id)? else { continue };
            if !message.deleted && state.read().can_read(caller.user, message.channel) {
                items.push(SavedItem { message, saved_at });
            }
        }
        let total = items.len();
        let items = items.into_iter().skip(query.offset.unwrap_or(0)).take(limit).collect();
        Ok(SavedPage { items, total })
    }

    /// Sets which new messages of a channel the caller may read notify them.
    pub async fn set_notify_level(
        &self,
        caller: Caller,
        channel: ChannelId,
        level: NotifyLevel,
    ) -> Result<NotifyLevel> {
        let ws = self.channel_workspace(channel)?;
        let ((), durable) = self.write_as(caller, ws, |state, tx| {
            state.readable_channel(caller.user, channel)?;
            let key = notify_key(caller.user, channel);
            tx.op(Op::PutBlob { workspace: ws, namespace: NOTIFY, key, value: vec![level.to_byte()] });
            Ok(())
        })?;
        durable.wait().await?;
        Ok(level)
    }

    /// The caller's notification level in a channel: what they chose, or the default
    /// of its kind.
    pub(crate) fn notify_level(
        &self,
        ws: WorkspaceId,
        user: UserId,
        channel: ChannelId,
        kind: ChannelKind,
    ) -> Result<NotifyLevel> {
        let chosen = self.store().blob(ws, NOTIFY, &notify_key(user, channel))?;
        Ok(chosen
            .and_then(|v| v.first().copied())
            .and_then(NotifyLevel::from_byte)
            .unwrap_or_else(|| NotifyLevel::default_for(kind)))
    }
}
