//! The sled key schema: one tree, every key starts with a one-byte tag naming its
//! record kind, followed by fixed-width big-endian parts so that keys sort in the
//! order ranges need (a channel's messages by `seq`, a workspace's events by
//! `event_seq`).
//!
//! Every layout is built in one place: the constructor named after its key (e.g.
//! [`channel_by_name`]); the store never assembles a key itself. Changing a tag or a
//! layout is a schema change: bump [`SCHEMA_VERSION`] and add a migration.

use confab_core::{ChannelId, MessageId, UserId, WorkspaceId};

/// 2: read markers under [`READ_MARKER`]; `message.created` events stored by
/// reference to their message. A version-1 store is read as it is.
/// 3: direct-message channels have no [`CHANNEL_BY_NAME`] entry (a DM's name must
/// not occupy, or reveal anything through, the channel name space); invites are
/// indexed by workspace ([`INVITES_OF_WORKSPACE`]) and sessions by user
/// ([`SESSIONS_OF_USER`]); `message.updated` events are
/// stored by reference like `message.created`. Opening an older store removes the
/// DMs' name entries and builds both indexes.
/// 4: a message's text under [`MESSAGE_TEXT`], its record under [`MESSAGE`] without
/// it, so that a reaction, a thread's reply count or a deletion rewrites a few
/// hundred bytes, not up to `max_message_chars` of text (an attacker's reactions
/// on their own longest message were each a full rewrite). Records written before
/// keep their text inline and are read as they are.
/// 5: threads have members ([`THREAD_MEMBER`], [`THREADS_OF_USER`] with each
/// member's read marker in the thread), members an activity feed ([`ACTIVITY`]) and
/// their unread mentions in thread replies ([`THREAD_MENTION`]), and saved messages
/// ([`SAVED`]); channels have pinned messages ([`PIN`]). Opening an older
/// store makes the authors of every thread's root and replies its members, with
/// every reply read.
/// 6: a text longer than [`TEXT_PART_BYTES`] is stored in parts: the first under
/// [`MESSAGE_TEXT`]'s key, the others under that key and a 2-byte part number
/// ([`message_text_part`]). Texts stored whole before are read as they are. (A sled
/// page holds up to 16 keys and one larger than about 128 KiB goes to a blob file that
/// every flush must sync: 16 texts of 47 KB made an edit flood stall everyone's
/// acknowledgements; 16 parts of 4 KiB never get near it.)
///
/// Within version 6, a text of at most [`INLINE_TEXT_BYTES`] is kept in its record, as
/// before version 4 (readers of every version since read such records as they are):
/// a post then writes one key and reads none fewer, and a reaction rewrites at most
/// that much text.
pub const SCHEMA_VERSION: u32 = 6;

/// The longest text kept in its message's record rather than under [`MESSAGE_TEXT`].
pub const INLINE_TEXT_BYTES: usize = 512;

/// The size of a stored text's parts (see version 6 above).
pub const TEXT_PART_BYTES: usize = 4096;

pub const META_SCHEMA: &[u8] = b"\xF0schema_version";

pub const USER: u8 = 0x01;
pub const USER_BY_EMAIL: u8 = 0x02;
pub const USER_BY_USERNAME: u8 = 0x03;
pub const SESSION: u8 = 0x04;
/// User, token hash → `[]`: every session of a user, to sign them out everywhere.
pub const SESSIONS_OF_USER: u8 = 0x05;
/// User → their profile picture (a PNG the server made), apart from the account
/// record, which is read far more often.
pub const AVATAR: u8 = 0x06;
pub const WORKSPACE: u8 = 0x10;
pub const MEMBER: u8 = 0x11;
pub const WORKSPACES_OF_USER: u8 = 0x12;
pub const CHANNEL: u8 = 0x20;
pub const CHANNELS_OF_WORKSPACE: u8 = 0x21;
pub const CHANNEL_BY_NAME: u8 = 0x22;
pub const CHANNEL_MEMBER: u8 = 0x23;
/// A member's read marker: channel, user → `seq` (8 bytes, big-endian). Overrides the
/// membership record's `last_read_seq`.
pub const READ_MARKER: u8 = 0x24;
pub const MESSAGE: u8 = 0x30;
pub const MESSAGE_BY_ID: u8 = 0x31;
pub const MESSAGE_BY_CLIENT_ID: u8 = 0x32;
pub const THREAD_REPLY: u8 = 0x33;
pub const MENTION: u8 = 0x34;
/// Channel, `seq` → the message's text (UTF-8), apart from its record (version 4).
pub const MESSAGE_TEXT: u8 = 0x35;
/// Thread root, user → `[]`: who is in a thread (its root's author and those who
/// replied), to whom its replies are activity.
pub const THREAD_MEMBER: u8 = 0x36;
/// User, workspace, thread root → the `seq` of the newest reply the user has read
/// (8 bytes, big-endian): the threads a user is in.
pub const THREADS_OF_USER: u8 = 0x37;
/// User, workspace, message id → one byte of [`crate::Activity`] flags: mentions of
/// the user and replies in their threads, in the order of the messages' ids (time).
pub const ACTIVITY: u8 = 0x38;
/// User, workspace, channel, `seq` → the thread root (16 bytes): a thread reply
/// mentioning the user that they have not read yet.
pub const THREAD_MENTION: u8 = 0x39;
/// User, workspace, message id → when the user saved it (8 bytes, big-endian millis).
pub const SAVED: u8 = 0x3A;
/// Channel, message id → who pinned it and when (16-byte user id, 8 bytes big-endian
/// millis): a channel's pinned messages.
pub const PIN: u8 = 0x3B;
pub const EVENT: u8 = 0x40;
pub const INVITE: u8 = 0x50;
/// Workspace, invite code → `[]`.
pub const INVITES_OF_WORKSPACE: u8 = 0x51;
pub const BLOB: u8 = 0x60;

/// Builds a key from a tag and parts. Private: every layout is named once, by the
/// constructors below.
struct Key(Vec<u8>);

impl Key {
    fn new(tag: u8) -> Self {
        let mut v = Vec::with_capacity(48);
        v.push(tag);
        Key(v)
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    fn u64(self, n: u64) -> Self {
        self.bytes(&n.to_be_bytes())
    }
    fn user(self, id: UserId) -> Self {
        self.bytes(&id.to_bytes())
    }
    fn workspace(self, id: WorkspaceId) -> Self {
        self.bytes(&id.to_bytes())
    }
    fn channel(self, id: ChannelId) -> Self {
        self.bytes(&id.to_bytes())
    }
    fn message(self, id: MessageId) -> Self {
        self.bytes(&id.to_bytes())
    }
    /// Past every `seq` (8 bytes) that can follow: the end of a range over them.
    fn after_every_seq(self) -> Self {
        self.bytes(&[0xFF; 9])
    }
    fn build(self) -> Vec<u8> {
        self.0
    }
}

// One constructor per key, grouped by record kind. A `…_prefix` is the start every key
// of one owner shares (for scans); a `…_end` sorts after all of them (for ranges).

/// User → `UserRecord`.
pub fn user(id: UserId) -> Vec<u8> {
    Key::new(USER).user(id).build()
}

/// Lower-cased email → user id.
pub fn user_by_email(email: &str) -> Vec<u8> {
    Key::new(USER_BY_EMAIL).bytes(email.to_lowercase().as_bytes()).build()
}

/// Username → user id.
pub fn user_by_username(username: &str) -> Vec<u8> {
    Key::new(USER_BY_USERNAME).bytes(username.as_bytes()).build()
}

/// Token hash → `Session`.
pub fn session(token_hash: &[u8]) -> Vec<u8> {
    Key::new(SESSION).bytes(token_hash).build()
}

/// User, token hash → `[]`.
pub fn session_of_user(user: UserId, token_hash: &[u8]) -> Vec<u8> {
    Key::new(SESSIONS_OF_USER).user(user).bytes(token_hash).build()
}

pub fn sessions_of_user_prefix(user: UserId) -> Vec<u8> {
    Key::new(SESSIONS_OF_USER).user(user).build()
}

/// Workspace → `Workspace`.
pub fn workspace(id: WorkspaceId) -> Vec<u8> {
    Key::new(WORKSPACE).workspace(id).build()
}

/// Workspace, user → `Member`.
pub fn member(workspace: WorkspaceId, user: UserId) -> Vec<u8> {
    Key::new(MEMBER).workspace(workspace).user(user).build()
}

pub fn members_prefix(workspace: WorkspaceId) -> Vec<u8> {
    Key::new(MEMBER).workspace(workspace).build()
}

/// User, workspace → `[]`.
pub fn workspace_of_user(user: UserId, workspace: WorkspaceId) -> Vec<u8> {
    Key::new(WORKSPACES_OF_USER).user(user).workspace(workspace).build()
}

pub fn workspaces_of_user_prefix(user: UserId) -> Vec<u8> {
    Key::new(WORKSPACES_OF_USER).user(user).build()
}

/// Channel → `Channel`.
pub fn channel(id: ChannelId) -> Vec<u8> {
    Key::new(CHANNEL).channel(id).build()
}

/// Workspace, channel → `[]`.
pub fn channel_of_workspace(workspace: WorkspaceId, channel: ChannelId) -> Vec<u8> {
    Key::new(CHANNELS_OF_WORKSPACE).workspace(workspace).channel(channel).build()
}

pub fn channels_of_workspace_prefix(workspace: WorkspaceId) -> Vec<u8> {
    Key::new(CHANNELS_OF_WORKSPACE).workspace(workspace).build()
}

/// Workspace, channel name → channel id (never a DM's name).
pub fn channel_by_name(workspace: WorkspaceId, name: &str) -> Vec<u8> {
    Key::new(CHANNEL_BY_NAME).workspace(workspace).bytes(name.as_bytes()).build()
}

/// Channel, user → `ChannelMembership`.
pub fn channel_member(channel: ChannelId, user: UserId) -> Vec<u8> {
    Key::new(CHANNEL_MEMBER).channel(channel).user(user).build()
}

pub fn channel_members_prefix(channel: ChannelId) -> Vec<u8> {
    Key::new(CHANNEL_MEMBER).channel(channel).build()
}

/// Channel, user → `seq` (see [`READ_MARKER`]).
pub fn read_marker(channel: ChannelId, user: UserId) -> Vec<u8> {
    Key::new(READ_MARKER).channel(channel).user(user).build()
}

pub fn read_markers_prefix(channel: ChannelId) -> Vec<u8> {
    Key::new(READ_MARKER).channel(channel).build()
}

/// Channel, `seq` → `Message`.
pub fn message(channel: ChannelId, seq: u64) -> Vec<u8> {
    Key::new(MESSAGE).channel(channel).u64(seq).build()
}

/// Channel, `seq` → the text of that message (absent when empty or kept in its record:
/// see [`INLINE_TEXT_BYTES`]), or its first [`TEXT_PART_BYTES`]: the key is also the prefix of the other parts' keys.
pub fn message_text(channel: ChannelId, seq: u64) -> Vec<u8> {
    Key::new(MESSAGE_TEXT).channel(channel).u64(seq).build()
}

/// Part `part` (from 1) of a long text stored in parts: sorts after the text's own key
/// and before the next message's.
pub fn message_text_part(channel: ChannelId, seq: u64, part: u16) -> Vec<u8> {
    let mut key = message_text(channel, seq);
    key.extend_from_slice(&part.to_be_bytes());
    key
}

pub fn messages_prefix(channel: ChannelId) -> Vec<u8> {
    Key::new(MESSAGE).channel(channel).build()
}

pub fn messages_end(channel: ChannelId) -> Vec<u8> {
    Key::new(MESSAGE).channel(channel).after_every_seq().build()
}

/// Message id → its channel and `seq` (16 + 8 bytes).
pub fn message_by_id(id: MessageId) -> Vec<u8> {
    Key::new(MESSAGE_BY_ID).message(id).build()
}

/// Channel, author, client message id → message id.
pub fn message_by_client_id(channel: ChannelId, author: UserId, client_msg_id: &str) -> Vec<u8> {
    Key::new(MESSAGE_BY_CLIENT_ID).channel(channel).user(author).bytes(client_msg_id.as_bytes()).build()
}

/// Thread root, reply `seq` → `[]`.
pub fn thread_reply(root: MessageId, seq: u64) -> Vec<u8> {
    Key::new(THREAD_REPLY).message(root).u64(seq).build()
}

pub fn thread_replies_prefix(root: MessageId) -> Vec<u8> {
    Key::new(THREAD_REPLY).message(root).build()
}

/// Channel, mentioned user, `seq` → `[]`.
pub fn mention(channel: ChannelId, user: UserId, seq: u64) -> Vec<u8> {
    Key::new(MENTION).channel(channel).user(user).u64(seq).build()
}

pub fn mentions_end(channel: ChannelId, user: UserId) -> Vec<u8> {
    Key::new(MENTION).channel(channel).user(user).after_every_seq().build()
}

/// Thread root, user → `[]`.
pub fn thread_member(root: MessageId, user: UserId) -> Vec<u8> {
    Key::new(THREAD_MEMBER).message(root).user(user).build()
}

pub fn thread_members_prefix(root: MessageId) -> Vec<u8> {
    Key::new(THREAD_MEMBER).message(root).build()
}

/// User, workspace, thread root → read `seq`.
pub fn thread_of_user(user: UserId, workspace: WorkspaceId, root: MessageId) -> Vec<u8> {
    Key::new(THREADS_OF_USER).user(user).workspace(workspace).message(root).build()
}

pub fn threads_of_user_prefix(user: UserId, workspace: WorkspaceId) -> Vec<u8> {
    Key::new(THREADS_OF_USER).user(user).workspace(workspace).build()
}

/// User, workspace, message id → activity flags.
pub fn activity(user: UserId, workspace: WorkspaceId, message: MessageId) -> Vec<u8> {
    Key::new(ACTIVITY).user(user).workspace(workspace).message(message).build()
}

pub fn activity_prefix(user: UserId, workspace: WorkspaceId) -> Vec<u8> {
    Key::new(ACTIVITY).user(user).workspace(workspace).build()
}

/// User, workspace, channel, `seq` → thread root.
pub fn thread_mention(user: UserId, workspace: WorkspaceId, channel: ChannelId, seq: u64) -> Vec<u8> {
    Key::new(THREAD_MENTION).user(user).workspace(workspace).channel(channel).u64(seq).build()
}

pub fn thread_mentions_prefix(user: UserId, workspace: WorkspaceId) -> Vec<u8> {
    Key::new(THREAD_MENTION).user(user).workspace(workspace).build()
}

pub fn thread_mentions_in_channel_prefix(
    user: UserId,
    workspace: WorkspaceId,
    channel: ChannelId,
) -> Vec<u8> {
    Key::new(THREAD_MENTION).user(user).workspace(workspace).channel(channel).build()
}

/// User, workspace, message id → saved at.
pub fn avatar(user: UserId) -> Vec<u8> {
    Key::new(AVATAR).user(user).build()
}

pub fn saved(user: UserId, workspace: WorkspaceId, message: MessageId) -> Vec<u8> {
    Key::new(SAVED).user(user).workspace(workspace).message(message).build()
}

pub fn saved_prefix(user: UserId, workspace: WorkspaceId) -> Vec<u8> {
    Key::new(SAVED).user(user).workspace(workspace).build()
}

/// Channel, message id → pinned by, at.
pub fn pin(channel: ChannelId, message: MessageId) -> Vec<u8> {
    Key::new(PIN).channel(channel).message(message).build()
}

pub fn pins_prefix(channel: ChannelId) -> Vec<u8> {
    Key::new(PIN).channel(channel).build()
}

/// Workspace, `event_seq` → the stored event.
pub fn event(workspace: WorkspaceId, event_seq: u64) -> Vec<u8> {
    Key::new(EVENT).workspace(workspace).u64(event_seq).build()
}

pub fn events_prefix(workspace: WorkspaceId) -> Vec<u8> {
    Key::new(EVENT).workspace(workspace).build()
}

pub fn events_end(workspace: WorkspaceId) -> Vec<u8> {
    Key::new(EVENT).workspace(workspace).after_every_seq().build()
}

/// Invite code → `Invite`.
pub fn invite(code: &[u8]) -> Vec<u8> {
    Key::new(INVITE).bytes(code).build()
}

/// Workspace, invite code → `[]`.
pub fn invite_of_workspace(workspace: WorkspaceId, code: &str) -> Vec<u8> {
    Key::new(INVITES_OF_WORKSPACE).workspace(workspace).bytes(code.as_bytes()).build()
}

pub fn invites_of_workspace_prefix(workspace: WorkspaceId) -> Vec<u8> {
    Key::new(INVITES_OF_WORKSPACE).workspace(workspace).build()
}

/// Reads a big-endian u64 at the end of a key.
pub fn trailing_u64(key: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    if key.len() >= 8 {
        buf.copy_from_slice(&key[key.len() - 8..]);
    }
    u64::from_be_bytes(buf)
}

/// Reads a 16-byte id at the end of a key.
pub fn trailing_id(key: &[u8]) -> [u8; 16] {
    let mut buf = [0u8; 16];
    if key.len() >= 16 {
        buf.copy_from_slice(&key[key.len() - 16..]);
    }
    buf
}

/// The start of a namespace's blobs: workspace, namespace, a separator.
pub fn blob_prefix(workspace: WorkspaceId, namespace: &str) -> Vec<u8> {
    Key::new(BLOB).workspace(workspace).bytes(namespace.as_bytes()).bytes(&[0]).build()
}

/// A blob: its namespace's [`blob_prefix`], then the owner's key.
pub fn blob(workspace: WorkspaceId, namespace: &str, key: &[u8]) -> Vec<u8> {
    let mut out = blob_prefix(workspace, namespace);
    out.extend_from_slice(key);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layouts are the stored format: a tag, then fixed-width big-endian parts.
    #[test]
    fn every_key_is_its_tag_then_its_parts() {
        let (ws, user) = (WorkspaceId::from_bytes([1; 16]), UserId::from_bytes([2; 16]));
        let (ch, root) = (ChannelId::from_bytes([3; 16]), MessageId::from_bytes([4; 16]));
        let key = |tag: u8, parts: &[&[u8]]| [&[tag][..], &parts.concat()].concat();
        let seq = 7u64.to_be_bytes();
        assert_eq!(user_by_email("Ada@Example.com"), key(USER_BY_EMAIL, &[b"ada@example.com"]));
        assert_eq!(session_of_user(user, b"hash"), key(SESSIONS_OF_USER, &[&[2; 16], b"hash"]));
        assert_eq!(member(ws, user), key(MEMBER, &[&[1; 16], &[2; 16]]));
        assert_eq!(workspace_of_user(user, ws), key(WORKSPACES_OF_USER, &[&[2; 16], &[1; 16]]));
        assert_eq!(channel_by_name(ws, "general"), key(CHANNEL_BY_NAME, &[&[1; 16], b"general"]));
        assert_eq!(read_marker(ch, user), key(READ_MARKER, &[&[3; 16], &[2; 16]]));
        assert_eq!(message(ch, 7), key(MESSAGE, &[&[3; 16], &seq]));
        assert_eq!(messages_end(ch), key(MESSAGE, &[&[3; 16], &[0xFF; 9]]));
        assert_eq!(
            message_by_client_id(ch, user, "c1"),
            key(MESSAGE_BY_CLIENT_ID, &[&[3; 16], &[2; 16], b"c1"])
        );
        assert_eq!(thread_reply(root, 7), key(THREAD_REPLY, &[&[4; 16], &seq]));
        assert_eq!(mention(ch, user, 7), key(MENTION, &[&[3; 16], &[2; 16], &seq]));
        assert_eq!(event(ws, 7), key(EVENT, &[&[1; 16], &seq]));
        assert_eq!(thread_member(root, user), key(THREAD_MEMBER, &[&[4; 16], &[2; 16]]));
        assert_eq!(thread_of_user(user, ws, root), key(THREADS_OF_USER, &[&[2; 16], &[1; 16], &[4; 16]]));
        assert_eq!(activity(user, ws, root), key(ACTIVITY, &[&[2; 16], &[1; 16], &[4; 16]]));
        assert_eq!(saved(user, ws, root), key(SAVED, &[&[2; 16], &[1; 16], &[4; 16]]));
        assert_eq!(pin(ch, root), key(PIN, &[&[3; 16], &[4; 16]]));
        assert_eq!(
            thread_mention(user, ws, ch, 7),
            key(THREAD_MENTION, &[&[2; 16], &[1; 16], &[3; 16], &seq])
        );
        assert_eq!(invite_of_workspace(ws, "code"), key(INVITES_OF_WORKSPACE, &[&[1; 16], b"code"]));
        assert_eq!(blob(ws, "consent", b"k"), key(BLOB, &[&[1; 16], b"consent", &[0], b"k"]));
        assert!(messages_prefix(ch) < message(ch, 0) && message(ch, u64::MAX) < messages_end(ch));
    }
}
