//! A channel's pinned messages: what its members keep at hand (a decision, a link,
//! the rules). Whoever may post in a channel (a member of it, not archived) pins and
//! unpins any of its messages, up to `limits.max_pins_per_channel` at once; whoever
//! may read it lists them. Pins are channel events (`message.pinned`,
//! `message.unpinned`), delivered like the channel's messages; deleting a message
//! unpins it in the same batch (`messages::stage_tombstone`, which every deletion
//! goes through: the author's, an admin's, retention's and erasure's), and clients
//! drop the pin on `message.deleted`.

use confab_core::{ChannelId, Error, ErrorCode, Event, MessageId};
use confab_store::Op;

use crate::error::Result;
use crate::{App, Caller};

pub use confab_protocol::http::{PinnedMessage, Pins};

impl App {
    /// Pins a message to its channel; pinning a pinned message changes nothing.
    pub async fn pin_message(&self, caller: Caller, id: MessageId) -> Result<()> {
        self.set_pinned(caller, id, true).await
    }

    /// Unpins a message; unpinning one that is not pinned changes nothing.
    pub async fn unpin_message(&self, caller: Caller, id: MessageId) -> Result<()> {
        self.set_pinned(caller, id, false).await
    }

    async fn set_pinned(&self, caller: Caller, id: MessageId, pinned: bool) -> Result<()> {
        let ws = self.message(caller, id)?.workspace;
        let max = self.config().limits.max_pins_per_channel;
        let ((), durable) = self.write_as(caller, ws, |state, tx| {
            // Re-read under the lock: readable, not deleted, channel not archived.
            let message = self.writable_message(state, caller, id)?;
            let channel = message.channel;
            if !state.channels.get(&channel).is_some_and(|c| c.members.contains(&caller.user)) {
                return Err(Error::forbidden("join the channel to pin or unpin its messages").into());
            }
            let pins = self.store().pins(channel)?;
            let is_pinned = pins.iter().any(|p| p.message == id);
            match (pinned, is_pinned) {
                (true, true) | (false, false) => {}
                (true, false) => {
                    if pins.len() >= max {
                        return Err(Error::new(
                            ErrorCode::QuotaExceeded,
                            format!("a channel holds at most {max} pinned messages: unpin one first"),
                        )
                        .into());
                    }
                    tx.op(Op::PutPin { channel, message: id, by: caller.user, at: tx.now });
                    tx.emit(Event::MessagePinned { channel, message_id: id, by: caller.user });
                }
                (false, true) => {
                    tx.op(Op::DeletePin { channel, message: id });
                    tx.emit(Event::MessageUnpinned { channel, message_id: id, by: caller.user });
                }
            }
            Ok(())
        })?;
        durable.wait().await
    }

    /// The channel's pinned messages, the most recently pinned first (whoever may
    /// read the channel).
    pub fn pins(&self, caller: Caller, channel: ChannelId) -> Result<Pins> {
        let ws = self.channel_workspace(channel)?;
        self.workspace(ws)?.read().readable_channel(caller.user, channel)?;
        let mut pins = self.store().pins(channel)?;
        pins.sort_by(|a, b| b.at.cmp(&a.at).then(b.message.cmp(&a.message)));
        let mut out = Vec::with_capacity(pins.len());
        for pin in pins {
            // A deletion unpins in its own batch; a husk is never shown all the same.
            let Some(message) = self.store().message(pin.message)?.filter(|m| !m.deleted) else { continue };
            out.push(PinnedMessage { message, pinned_by: pin.by, pinned_at: pin.at });
        }
        Ok(Pins { pins: out })
    }
}
