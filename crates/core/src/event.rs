//! Events: every change a member can see, in the order it happened.
//!
//! Durable events are numbered per workspace (`event_seq`) and kept in the
//! workspace's event log, from which a reconnecting client resumes. `typing` and
//! `presence` are ephemeral: they are delivered live and never logged, so they do not
//! advance `event_seq`.

use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, MessageId, UserId, WorkspaceId};
use crate::model::{Channel, Message, Millis, Presence, Role};

/// The payload of an event frame: `{"kind": "message.created", ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Event {
    #[serde(rename = "message.created")]
    MessageCreated { message: Message },
    #[serde(rename = "message.updated")]
    MessageUpdated { message: Message },
    #[serde(rename = "message.deleted")]
    MessageDeleted {
        channel: ChannelId,
        message_id: MessageId,
        seq: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_root: Option<MessageId>,
    },
    #[serde(rename = "reaction.added")]
    ReactionAdded { channel: ChannelId, message_id: MessageId, emoji: String, user: UserId },
    #[serde(rename = "reaction.removed")]
    ReactionRemoved { channel: ChannelId, message_id: MessageId, emoji: String, user: UserId },
    /// A message was pinned to its channel (`by` pinned it).
    #[serde(rename = "message.pinned")]
    MessagePinned { channel: ChannelId, message_id: MessageId, by: UserId },
    /// A message was unpinned: by `by`, or by its deletion (`by` deleted it).
    #[serde(rename = "message.unpinned")]
    MessageUnpinned { channel: ChannelId, message_id: MessageId, by: UserId },
    #[serde(rename = "channel.created")]
    ChannelCreated { channel: Channel },
    #[serde(rename = "channel.updated")]
    ChannelUpdated { channel: Channel },
    /// A user joined the workspace (`channel` absent) or a channel.
    #[serde(rename = "member.joined")]
    MemberJoined {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<ChannelId>,
        user: UserId,
    },
    /// A user left (or was removed from) the workspace or a channel.
    #[serde(rename = "member.left")]
    MemberLeft {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<ChannelId>,
        user: UserId,
    },
    /// The workspace was renamed.
    #[serde(rename = "workspace.updated")]
    WorkspaceUpdated { workspace: crate::model::Workspace },
    /// A member's role changed.
    #[serde(rename = "member.updated")]
    MemberUpdated { user: UserId, role: Role },
    /// A member changed their profile (display name, status, time zone): clients
    /// fetch it again. The event names only who, so the log keeps no copy of a
    /// profile its owner may change or erase.
    #[serde(rename = "user.updated")]
    UserUpdated { user: UserId },
    /// The reader's own read marker moved (sent only to that user): in the channel,
    /// or in the thread of `thread_root`.
    #[serde(rename = "read.updated")]
    ReadUpdated {
        channel: ChannelId,
        user: UserId,
        seq: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_root: Option<MessageId>,
    },
    #[serde(rename = "typing")]
    Typing {
        channel: ChannelId,
        user: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_root: Option<MessageId>,
    },
    #[serde(rename = "presence")]
    Presence { user: UserId, status: Presence },
    /// The workspace's consent changed (a grant, a withdrawal or a member's own key).
    #[serde(rename = "consent.changed")]
    ConsentChanged {
        purpose: String,
        granted: bool,
        by: UserId,
        /// The ledger entry that records the change.
        entry_hash: String,
        /// A member's own key change: sent only to that member (`by`), so nobody
        /// else learns who chose what.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        personal: bool,
    },
}

/// Who may receive an event, decided from its content alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Every member of the workspace.
    Workspace,
    /// Whoever may read this channel.
    Channel(ChannelId),
    /// Only this user.
    User(UserId),
}

impl Event {
    /// The event's name on the wire, e.g. `message.created`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::MessageCreated { .. } => "message.created",
            Event::MessageUpdated { .. } => "message.updated",
            Event::MessageDeleted { .. } => "message.deleted",
            Event::ReactionAdded { .. } => "reaction.added",
            Event::ReactionRemoved { .. } => "reaction.removed",
            Event::MessagePinned { .. } => "message.pinned",
            Event::MessageUnpinned { .. } => "message.unpinned",
            Event::ChannelCreated { .. } => "channel.created",
            Event::ChannelUpdated { .. } => "channel.updated",
            Event::MemberJoined { .. } => "member.joined",
            Event::MemberLeft { .. } => "member.left",
            Event::MemberUpdated { .. } => "member.updated",
            Event::UserUpdated { .. } => "user.updated",
            Event::WorkspaceUpdated { .. } => "workspace.updated",
            Event::ReadUpdated { .. } => "read.updated",
            Event::Typing { .. } => "typing",
            Event::Presence { .. } => "presence",
            Event::ConsentChanged { .. } => "consent.changed",
        }
    }

    /// Ephemeral events are delivered live only and never enter the event log.
    pub fn is_ephemeral(&self) -> bool {
        matches!(self, Event::Typing { .. } | Event::Presence { .. })
    }

    pub fn audience(&self) -> Audience {
        match self {
            Event::MessageCreated { message } | Event::MessageUpdated { message } => {
                Audience::Channel(message.channel)
            }
            Event::MessageDeleted { channel, .. }
            | Event::ReactionAdded { channel, .. }
            | Event::ReactionRemoved { channel, .. }
            | Event::MessagePinned { channel, .. }
            | Event::MessageUnpinned { channel, .. }
            | Event::Typing { channel, .. } => Audience::Channel(*channel),
            Event::ChannelCreated { channel } | Event::ChannelUpdated { channel } => {
                Audience::Channel(channel.id)
            }
            Event::MemberJoined { channel, .. } | Event::MemberLeft { channel, .. } => {
                channel.map_or(Audience::Workspace, Audience::Channel)
            }
            Event::ReadUpdated { user, .. } | Event::ConsentChanged { personal: true, by: user, .. } => {
                Audience::User(*user)
            }
            Event::MemberUpdated { .. }
            | Event::UserUpdated { .. }
            | Event::WorkspaceUpdated { .. }
            | Event::Presence { .. }
            | Event::ConsentChanged { .. } => Audience::Workspace,
        }
    }
}

/// A logged event: its place in the workspace's log and when it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub workspace: WorkspaceId,
    pub event_seq: u64,
    pub at: Millis,
    pub event: Event,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_matches_the_serde_tag() {
        let user = UserId::from_ulid(ulid::Ulid::from_parts(1, 1));
        let channel = ChannelId::from_ulid(ulid::Ulid::from_parts(1, 2));
        let events = [
            Event::MemberJoined { channel: None, user },
            Event::UserUpdated { user },
            Event::ReadUpdated { channel, user, seq: 3, thread_root: None },
            Event::ReadUpdated {
                channel,
                user,
                seq: 3,
                thread_root: Some(MessageId::from_ulid(ulid::Ulid::from_parts(1, 3))),
            },
            Event::Typing { channel, user, thread_root: None },
            Event::MessagePinned {
                channel,
                message_id: MessageId::from_ulid(ulid::Ulid::from_parts(1, 4)),
                by: user,
            },
            Event::MessageUnpinned {
                channel,
                message_id: MessageId::from_ulid(ulid::Ulid::from_parts(1, 4)),
                by: user,
            },
            Event::Presence { user, status: Presence::Away },
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["kind"], event.kind());
            assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
        }
    }
}
