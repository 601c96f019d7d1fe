//! The sled key schema: one tree, every key starts with a one-byte tag naming its
//! record kind, followed by fixed-width big-endian parts so that keys sort in the
//! order ranges need (a channel's messages by `seq`, a workspace's events by
//! `event_seq`).
//!
//! Changing a tag or a layout is a schema change: bump [`SCHEMA_VERSION`] and add a
//! migration.

use confab_core::{ChannelId, MessageId, UserId, WorkspaceId};

/// 2: read markers under [`READ_MARKER`]; `message.created` events stored by
/// reference to their message. A version-1 store is read as it is.
/// 3: direct-message channels have no [`CHANNEL_BY_NAME`] entry (a DM's name must
/// not occupy, or reveal anything through, the channel name space); invites are
/// indexed by workspace ([`INVITES_OF_WORKSPACE`]) and sessions by user
/// ([`SESSIONS_OF_USER`]); `message.updated` events are
/// stored by reference like `message.created`. Opening an older store removes the
/// DMs' name entries and builds both indexes.
pub const SCHEMA_VERSION: u32 = 3;

pub const META_SCHEMA: &[u8] = b"\xF0schema_version";

pub const USER: u8 = 0x01;
pub const USER_BY_EMAIL: u8 = 0x02;
pub const USER_BY_USERNAME: u8 = 0x03;
pub const SESSION: u8 = 0x04;
/// User, token hash → `[]`: every session of a user, to sign them out everywhere.
pub const SESSIONS_OF_USER: u8 = 0x05;
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
pub const EVENT: u8 = 0x40;
pub const INVITE: u8 = 0x50;
/// Workspace, invite code → `[]`.
pub const INVITES_OF_WORKSPACE: u8 = 0x51;
pub const BLOB: u8 = 0x60;

/// Builds a key from a tag and parts.
pub struct Key(Vec<u8>);

impl Key {
    pub fn new(tag: u8) -> Self {
        let mut v = Vec::with_capacity(48);
        v.push(tag);
        Key(v)
    }
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    pub fn u64(self, n: u64) -> Self {
        self.bytes(&n.to_be_bytes())
    }
    pub fn user(self, id: UserId) -> Self {
        self.bytes(&id.to_bytes())
    }
    pub fn workspace(self, id: WorkspaceId) -> Self {
        self.bytes(&id.to_bytes())
    }
    pub fn channel(self, id: ChannelId) -> Self {
        self.bytes(&id.to_bytes())
    }
    pub fn message(self, id: MessageId) -> Self {
        self.bytes(&id.to_bytes())
    }
    pub fn build(self) -> Vec<u8> {
        self.0
    }
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

/// The key of a blob: workspace, namespace, a separator, then the owner's key.
pub fn blob_prefix(workspace: WorkspaceId, namespace: &str) -> Vec<u8> {
    Key::new(BLOB).workspace(workspace).bytes(namespace.as_bytes()).bytes(&[0]).build()
}
