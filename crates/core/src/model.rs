//! The records Confab stores and serves.
//!
//! These types are both the store's values and the API's JSON bodies: one shape, so a
//! field added here shows up everywhere. Times are milliseconds since the Unix epoch
//! (UTC), which JavaScript's `Date` takes directly.

use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, FileId, MessageId, UserId, WorkspaceId};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// An account, as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    /// The handle used in `@mentions`: lower-case, unique on the server.
    pub username: String,
    pub display_name: String,
    /// The first account of a fresh server administers the instance.
    #[serde(default)]
    pub instance_admin: bool,
    pub created_at: Millis,
    /// What its owner says about themselves (`PATCH /me`); every field may be empty.
    #[serde(flatten)]
    pub details: ProfileDetails,
}

/// The parts of a profile its owner edits besides the display name: a status and a
/// time zone. An empty field is not set (and not sent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileDetails {
    /// A short status ("In a meeting"), one line.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status_text: String,
    /// One emoji, stored as the character (a shortcode is normalised).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status_emoji: String,
    /// An IANA time zone name (`Europe/Berlin`), for others to see the owner's local time.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub time_zone: String,
    /// The profile picture's version (a hash of it; `GET /users/{id}/avatar`), empty
    /// when there is none. Set only by `PUT /me/avatar`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub avatar: String,
}

/// An account as other members see it: no email.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    #[serde(flatten)]
    pub details: ProfileDetails,
}

impl From<&User> for UserProfile {
    fn from(u: &User) -> Self {
        UserProfile {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            details: u.details.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created_by: UserId,
    pub created_at: Millis,
}

/// A workspace as listed for one of its members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceView {
    #[serde(flatten)]
    pub workspace: Workspace,
    pub role: Role,
}

/// A member's role in a workspace, from most to least powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
    /// Sees only the channels they were added to; cannot create or join channels.
    Guest,
}

impl Role {
    /// Owners and admins manage members, invites and channels.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub workspace: WorkspaceId,
    pub user: UserId,
    pub role: Role,
    pub joined_at: Millis,
}

/// A member with their profile, as `GET /workspaces/{ws}/members` lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    #[serde(flatten)]
    pub profile: UserProfile,
    pub role: Role,
    pub joined_at: Millis,
    /// A bot's account (a bot's or an incoming webhook's), whose messages an app posts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_bot: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Readable and joinable by every non-guest member of the workspace.
    Public,
    /// Readable only by its members; members add others.
    Private,
    /// A direct conversation between two or more members; membership is fixed.
    Dm,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub id: ChannelId,
    pub workspace: WorkspaceId,
    /// `[a-z0-9_-]{1,80}`, unique per workspace; DMs get a generated `dm-…` name.
    pub name: String,
    pub kind: ChannelKind,
    #[serde(default)]
    pub topic: String,
    #[serde(default)]
    pub archived: bool,
    pub created_by: UserId,
    pub created_at: Millis,
}

impl Channel {
    pub fn is_public(&self) -> bool {
        self.kind == ChannelKind::Public
    }
}

/// One channel in the caller's channel list, with their unread state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelView {
    #[serde(flatten)]
    pub channel: Channel,
    /// Whether the caller is a member (a public channel can be listed without it).
    pub is_member: bool,
    /// Sequence number of the newest message.
    pub last_seq: u64,
    /// The caller's read marker.
    pub last_read_seq: u64,
    /// Messages after the read marker that are not thread replies (a reply is
    /// unread in its thread: `GET /workspaces/{ws}/threads`).
    pub unread_count: u64,
    /// Mentions of the caller not read yet: in messages after their read marker, and
    /// in thread replies they have not read (which reading the channel leaves unread).
    pub mention_count: u64,
    /// How many of those are in thread replies.
    #[serde(default)]
    pub thread_mention_count: u64,
    /// Which of the channel's new messages should notify the caller.
    #[serde(default)]
    pub notify: NotifyLevel,
    pub member_count: u64,
    /// For DMs: the other participants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dm_members: Vec<UserProfile>,
}

/// A channel member's own state in that channel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelMembership {
    pub joined_at: Millis,
    /// Messages with `seq` up to this one have been read.
    pub last_read_seq: u64,
}

/// The users who reacted to a message with one emoji.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The emoji character(s), normalised (a shortcode is stored as its emoji).
    pub emoji: String,
    pub users: Vec<UserId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub workspace: WorkspaceId,
    pub channel: ChannelId,
    /// Gapless per channel, starting at 1.
    pub seq: u64,
    pub author: UserId,
    /// Empty once deleted.
    pub text: String,
    pub created_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Millis>,
    #[serde(default)]
    pub deleted: bool,
    /// The root message of the thread this message replies in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_root: Option<MessageId>,
    /// For a thread root: how many replies it has.
    #[serde(default)]
    pub reply_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reply_at: Option<Millis>,
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// Members mentioned with `@username`.
    #[serde(default)]
    pub mentions: Vec<UserId>,
    /// The sender's idempotency key, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// The files attached to the message (`GET /files/{id}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileId>,
}

impl Message {
    pub fn reaction_count(&self) -> u32 {
        self.reactions.iter().map(|r| r.users.len() as u32).sum()
    }
}

/// An uploaded file, as a client sees it: its content is `GET /files/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub id: FileId,
    /// The name it was uploaded with, sanitised (no path, no control characters).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Sniffed from the content, never taken from the client.
    pub content_type: String,
}

/// A thread: its root and its replies, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    pub root: Message,
    pub replies: Vec<Message>,
}

/// An invite code to a workspace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub code: String,
    pub workspace: WorkspaceId,
    pub created_by: UserId,
    pub created_at: Millis,
    pub expires_at: Millis,
    /// How many times it can still be accepted in all.
    pub max_uses: u32,
    pub uses: u32,
    /// The role given on acceptance: `member` or `guest`.
    pub role: Role,
}

impl Invite {
    pub fn is_usable(&self, now: Millis) -> bool {
        now < self.expires_at && self.uses < self.max_uses
    }
}

/// Which new messages of a channel notify a member: every one, those that mention
/// them, or none. Unless they chose, a DM notifies of every message and a channel
/// of mentions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyLevel {
    All,
    #[default]
    Mentions,
    Mute,
}

impl NotifyLevel {
    /// What a member who never chose gets in a channel of `kind`.
    pub fn default_for(kind: ChannelKind) -> NotifyLevel {
        match kind {
            ChannelKind::Dm => NotifyLevel::All,
            ChannelKind::Public | ChannelKind::Private => NotifyLevel::Mentions,
        }
    }

    pub fn to_byte(self) -> u8 {
        match self {
            NotifyLevel::All => 1,
            NotifyLevel::Mentions => 2,
            NotifyLevel::Mute => 3,
        }
    }

    pub fn from_byte(byte: u8) -> Option<NotifyLevel> {
        match byte {
            1 => Some(NotifyLevel::All),
            2 => Some(NotifyLevel::Mentions),
            3 => Some(NotifyLevel::Mute),
            _ => None,
        }
    }
}

/// Presence of a user, derived from their live connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Away,
    Offline,
}
