//! Persistence for Confab: the [`Store`] trait the app writes and reads through, and
//! its embedded implementation on sled ([`SledStore`]).
//!
//! The trait is shaped around the domain, not around keys: a write is a [`Batch`] of
//! typed [`Op`]s applied atomically, and reads are typed look-ups and ranges. A
//! backend keeps its own secondary indexes (email → user, channel name → channel,
//! message id → position, idempotency keys) inside the same atomic write, so the app
//! never sees them. That is what lets PostgreSQL replace sled later without touching
//! `app`.
//!
//! Durability is split in two on purpose: [`Store::apply`] makes a batch visible at
//! once, and [`Store::flush`] makes everything applied so far durable. The app runs a
//! single flusher for all writers (group commit) and acknowledges a write only after
//! a flush that began after its `apply`.
//!
//! Honest limits: a crash loses batches applied but not yet flushed, which were never
//! acknowledged; counters (`seq`, `event_seq`) are derived from the stored data at
//! start-up rather than stored separately, so they cannot disagree with it.

pub mod blobs;
#[cfg(feature = "conformance")]
pub mod conformance;
mod journal;
mod keys;
mod sled_store;

pub use blobs::{BlobStore, LocalBlobs};
pub use keys::SCHEMA_VERSION;
pub use sled_store::export::{ExportOptions, ExportProgress, ExportStats};
pub use sled_store::{SledConfig, SledStore};

use confab_core::{
    Channel, ChannelId, ChannelMembership, EventRecord, Invite, Member, Message, MessageId, Millis, User,
    UserId, Workspace, WorkspaceId,
};
use serde::{Deserialize, Serialize};

/// A storage failure. These are internal: the app logs them and answers `internal`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage engine: {0}")]
    Engine(#[from] sled::Error),
    /// A failure of a backend other than sled (PostgreSQL: a lost connection, an
    /// error the server answered), kept with its source.
    #[error("storage backend: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    #[error("corrupt record under {key}: {source}")]
    Corrupt { key: String, source: serde_json::Error },
    #[error("message text under {key} is not UTF-8")]
    CorruptText { key: String },
    /// More parts than a part number holds (the app's text limits stay far below).
    #[error("a message text of {bytes} bytes is too long to store")]
    TextTooLong { bytes: usize },
    #[error("encoding a record: {0}")]
    Encode(serde_json::Error),
    #[error("data dir was written by schema version {found}, this build reads {expected}")]
    SchemaVersion { found: u32, expected: u32 },
    #[error("unique key already taken: {0}")]
    Taken(&'static str),
    #[error("the journal of the last batch is damaged")]
    CorruptJournal,
    #[error("missing record: {what}")]
    Missing { what: String },
    #[error("file system: {0}")]
    Io(#[from] std::io::Error),
    /// A stored key or value the export ([`SledStore::export`]) cannot turn into
    /// store operations: an unknown key tag, a key of the wrong length, a record
    /// whose key and contents disagree. Refused rather than skipped, so that a copy
    /// never drops data without a word.
    #[error("cannot export the record under {key}: {why}")]
    Unexportable { key: String, why: String },
    /// An earlier write failed half-way: the store refuses writes until reopened.
    #[error("the store stopped after a failed write; restart to recover")]
    Stopped,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An account with its credential.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserRecord {
    pub user: User,
    /// PHC string (argon2id).
    pub password_hash: String,
}

impl UserRecord {
    /// What a disabled account's `password_hash` starts with. As `passwd -l` locks a
    /// Unix account by prefixing its hash in `/etc/shadow`, no password verifies
    /// against a prefixed hash, and enabling the account removes the prefix, which
    /// gives back the password it had.
    pub const DISABLED_MARK: char = '!';

    /// Whether an operator disabled the account (`confab user disable`).
    pub fn is_disabled(&self) -> bool {
        self.password_hash.starts_with(Self::DISABLED_MARK)
    }

    /// The hash a password is checked against, whether the account is disabled or not.
    pub fn unlocked_hash(&self) -> &str {
        self.password_hash.trim_start_matches(Self::DISABLED_MARK)
    }

    /// The `password_hash` of an erased account's tombstone: disabled, and no
    /// password at all behind the mark.
    pub const ERASED: &str = "!erased";

    /// Whether the account was erased (only its id is left).
    pub fn is_erased(&self) -> bool {
        self.password_hash == Self::ERASED
    }

    /// The record disabled (`true`) or enabled again.
    pub fn with_disabled(self, disabled: bool) -> UserRecord {
        let hash = self.unlocked_hash().to_string();
        let password_hash = if disabled { format!("{}{hash}", Self::DISABLED_MARK) } else { hash };
        UserRecord { password_hash, ..self }
    }
}

/// A log-in session; only the SHA-256 of its token is stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    pub user: UserId,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// One change in an atomic [`Batch`].
#[derive(Clone, Debug)]
pub enum Op {
    /// Creates or replaces a user; fails the batch with [`StoreError::Taken`] if the
    /// email or username belongs to another user.
    PutUser(UserRecord),
    PutSession {
        token_hash: [u8; 32],
        session: Session,
    },
    DeleteSession {
        token_hash: [u8; 32],
    },
    PutWorkspace(Workspace),
    PutMember(Member),
    DeleteMember {
        workspace: WorkspaceId,
        user: UserId,
    },
    /// Creates or replaces a channel; fails with `Taken` if another channel of the
    /// workspace has the name.
    PutChannel(Channel),
    PutChannelMember {
        channel: ChannelId,
        user: UserId,
        membership: ChannelMembership,
    },
    /// Removes the membership and its read marker.
    DeleteChannelMember {
        channel: ChannelId,
        user: UserId,
    },
    /// Moves a member's read marker (the `last_read_seq` that
    /// [`Store::channel_member`] reports) without reading or rewriting the
    /// membership: posting moves the author's marker, so this is on the hot path.
    SetReadMarker {
        channel: ChannelId,
        user: UserId,
        seq: u64,
    },
    /// Creates or replaces a message (its `seq` fixes its place in the channel).
    PutMessage(Message),
    /// Records that `user` is mentioned by the message at `seq` of `channel`.
    PutMention {
        channel: ChannelId,
        user: UserId,
        seq: u64,
    },
    /// The message at `seq` no longer mentions `user` (it was deleted).
    DeleteMention {
        channel: ChannelId,
        user: UserId,
        seq: u64,
    },
    /// Makes `user` a member of the thread of `root` (or keeps them one) with their
    /// read marker in it at `read_seq`.
    PutThreadMember {
        workspace: WorkspaceId,
        root: MessageId,
        user: UserId,
        read_seq: u64,
    },
    /// Records that `message` is activity of `user` (see [`Store::activity`]).
    PutActivity {
        workspace: WorkspaceId,
        user: UserId,
        message: MessageId,
        activity: Activity,
    },
    /// Removes `message` from `user`'s activity (the message is deleted).
    DeleteActivity {
        workspace: WorkspaceId,
        user: UserId,
        message: MessageId,
    },
    /// Records an unread mention of `user` by the reply at `seq` in the thread of `root`.
    PutThreadMention {
        workspace: WorkspaceId,
        user: UserId,
        channel: ChannelId,
        seq: u64,
        root: MessageId,
    },
    /// The mention is read (nothing if there is none).
    DeleteThreadMention {
        workspace: WorkspaceId,
        user: UserId,
        channel: ChannelId,
        seq: u64,
    },
    /// Sets `user`'s profile picture (a PNG).
    PutAvatar {
        user: UserId,
        png: Vec<u8>,
    },
    /// Removes it (nothing if there is none).
    DeleteAvatar {
        user: UserId,
    },
    /// `user` saved `message` at `at` (for later).
    PutSaved {
        workspace: WorkspaceId,
        user: UserId,
        message: MessageId,
        at: Millis,
    },
    /// No longer saved (nothing if it was not).
    DeleteSaved {
        workspace: WorkspaceId,
        user: UserId,
        message: MessageId,
    },
    /// `message` is pinned in `channel` by `by` at `at` (again: the newer pin counts).
    PutPin {
        channel: ChannelId,
        message: MessageId,
        by: UserId,
        at: Millis,
    },
    /// No longer pinned (nothing if it was not).
    DeletePin {
        channel: ChannelId,
        message: MessageId,
    },
    /// Forgets what is only a user's own in a workspace: their threads, activity,
    /// unread thread mentions, saved messages, and the blobs of `blob_namespaces`
    /// whose key starts with their id (their account is erased).
    ForgetPersonalState {
        workspace: WorkspaceId,
        user: UserId,
        blob_namespaces: &'static [&'static str],
    },
    /// Logs an event. A `message.created` or `message.updated` event is logged by
    /// reference to the message record (which must be written in the same batch):
    /// reading the log back gives the message as it is stored then, e.g. edited or
    /// deleted since.
    AppendEvent(EventRecord),
    /// Drops the workspace's events with `event_seq < before`.
    PruneEvents {
        workspace: WorkspaceId,
        before: u64,
    },
    PutInvite(Invite),
    /// Revokes an invite (nothing if there is none).
    DeleteInvite {
        code: String,
    },
    /// A value another crate owns (consent ledger, suggestion statistics, search
    /// interactions), kept with its workspace and deleted with it.
    PutBlob {
        workspace: WorkspaceId,
        namespace: &'static str,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    DeleteBlob {
        workspace: WorkspaceId,
        namespace: &'static str,
        key: Vec<u8>,
    },
    /// Appends one entry to a workspace's consent ledger: a blob of `namespace` under
    /// `key` that must not exist yet (else [`StoreError::Taken`], so that two writers
    /// can never put two entries at one place of a chain), and, in the same atomic
    /// write, a move of the store's consent generation
    /// ([`Store::consent_generation`]).
    AppendConsent {
        workspace: WorkspaceId,
        namespace: &'static str,
        key: Vec<u8>,
        value: Vec<u8>,
    },
}

/// A pinned message of a channel: which, who pinned it and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pin {
    pub message: MessageId,
    pub by: UserId,
    pub at: Millis,
}

/// Why a message is in someone's activity: it mentions them, it replies in a thread
/// they are in, or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    pub mention: bool,
    pub reply: bool,
}

impl Activity {
    /// The stored byte: bit 0 a mention, bit 1 a reply.
    pub fn to_byte(self) -> u8 {
        u8::from(self.mention) | (u8::from(self.reply) << 1)
    }

    pub fn from_byte(byte: u8) -> Activity {
        Activity { mention: byte & 1 != 0, reply: byte & 2 != 0 }
    }
}

/// Changes applied all together or not at all.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub ops: Vec<Op>,
}

impl Batch {
    pub fn new() -> Self {
        Batch::default()
    }

    pub fn push(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// What a consistent copy of the store ([`Store::snapshot_to`]) did.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct SnapshotStats {
    /// Keys copied.
    pub keys: u64,
    /// Keys written while they were copied, copied again under the apply lock.
    pub rewritten: u64,
    /// How long writes waited for that second phase.
    pub barrier_micros: u64,
    /// The copy's size on disk.
    pub bytes: u64,
    /// The bytes of the records copied, keys and values: what the store holds, apart
    /// from how its engine lays them out on disk (sled's log keeps old versions of
    /// pages until it reclaims their segments, so `bytes` is a multiple of this).
    pub record_bytes: u64,
}

/// The kinds of records a store holds, as [`SledStore::export`] counts them and a
/// backend's tables hold them (PostgreSQL: one table each). Indexes a backend keeps
/// beside a record (an email → user entry, a message's text or id) are part of
/// their record's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    User,
    Session,
    Avatar,
    Workspace,
    Member,
    Channel,
    ChannelMember,
    ReadMarker,
    Message,
    Mention,
    /// A member of a thread with their read marker in it ([`Op::PutThreadMember`]).
    ThreadMember,
    Activity,
    ThreadMention,
    Saved,
    Pin,
    Event,
    Invite,
    Blob,
}

impl RecordKind {
    pub const ALL: [RecordKind; 18] = [
        RecordKind::User,
        RecordKind::Session,
        RecordKind::Avatar,
        RecordKind::Workspace,
        RecordKind::Member,
        RecordKind::Channel,
        RecordKind::ChannelMember,
        RecordKind::ReadMarker,
        RecordKind::Message,
        RecordKind::Mention,
        RecordKind::ThreadMember,
        RecordKind::Activity,
        RecordKind::ThreadMention,
        RecordKind::Saved,
        RecordKind::Pin,
        RecordKind::Event,
        RecordKind::Invite,
        RecordKind::Blob,
    ];

    /// The snake_case name (as serialised), for reports.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::User => "user",
            RecordKind::Session => "session",
            RecordKind::Avatar => "avatar",
            RecordKind::Workspace => "workspace",
            RecordKind::Member => "member",
            RecordKind::Channel => "channel",
            RecordKind::ChannelMember => "channel_member",
            RecordKind::ReadMarker => "read_marker",
            RecordKind::Message => "message",
            RecordKind::Mention => "mention",
            RecordKind::ThreadMember => "thread_member",
            RecordKind::Activity => "activity",
            RecordKind::ThreadMention => "thread_mention",
            RecordKind::Saved => "saved",
            RecordKind::Pin => "pin",
            RecordKind::Event => "event",
            RecordKind::Invite => "invite",
            RecordKind::Blob => "blob",
        }
    }
}

/// How many records of each kind a store holds (every kind present, zeros too).
pub type RecordCounts = std::collections::BTreeMap<RecordKind, u64>;

/// Which end of a channel's history to read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Newest first, starting below `before` (exclusive) if given.
    Backward { before: Option<u64> },
    /// Oldest first, starting above `after` (exclusive).
    Forward { after: u64 },
}

/// Everything Confab stores. Reads see every applied batch; see the crate docs for
/// what is durable when.
pub trait Store: Send + Sync + 'static {
    /// Applies a batch atomically and makes it visible to reads. On an error nothing
    /// of the batch is visible, or — if it failed half-way — the store has stopped
    /// and refuses every later write with [`StoreError::Stopped`].
    fn apply(&self, batch: Batch) -> Result<()>;
    /// Makes every batch applied before this call durable. Blocking: run it off the
    /// async runtime. A failed flush stops the store like a failed apply.
    fn flush(&self) -> Result<()>;
    /// Whether the store has stopped taking writes for a cause no `apply` or `flush`
    /// has reported yet: PostgreSQL's store stops after losing a connection, even a
    /// read's (see `confab-store-postgres`). `/healthz` reports it. sled stops only on
    /// a failed write, which its caller sees.
    fn writes_stopped(&self) -> bool {
        false
    }

    /// Copies the store as of one moment into a new database in `dest`, while writes
    /// go on: they wait only for a short second phase (`confab backup`). `progress`
    /// is told how many keys are copied so far. A backend that cannot says so.
    fn snapshot_to(&self, dest: &std::path::Path, progress: &mut dyn FnMut(u64)) -> Result<SnapshotStats> {
        let _ = (dest, progress);
        Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this store cannot be copied online",
        )))
    }

    fn user(&self, id: UserId) -> Result<Option<UserRecord>>;
    /// `user`'s profile picture ([`Op::PutAvatar`]).
    fn avatar(&self, user: UserId) -> Result<Option<Vec<u8>>>;
    fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>>;
    fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>>;
    fn user_count(&self) -> Result<u64>;
    /// Every account, in id order (for the operator's `confab user list`).
    fn users(&self) -> Result<Vec<UserRecord>>;
    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>>;
    /// Every session of a user, with its token hash.
    fn sessions_of(&self, user: UserId) -> Result<Vec<([u8; 32], Session)>>;
    /// Token hashes of sessions expired by `now`, at most `limit` of them.
    fn expired_sessions(&self, now: Millis, limit: usize) -> Result<Vec<[u8; 32]>>;

    fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>>;
    fn workspace_ids(&self) -> Result<Vec<WorkspaceId>>;
    fn workspaces_of(&self, user: UserId) -> Result<Vec<WorkspaceId>>;
    fn member(&self, workspace: WorkspaceId, user: UserId) -> Result<Option<Member>>;
    fn members(&self, workspace: WorkspaceId) -> Result<Vec<Member>>;

    fn channel(&self, id: ChannelId) -> Result<Option<Channel>>;
    fn channels(&self, workspace: WorkspaceId) -> Result<Vec<Channel>>;
    fn channel_by_name(&self, workspace: WorkspaceId, name: &str) -> Result<Option<ChannelId>>;
    fn channel_member(&self, channel: ChannelId, user: UserId) -> Result<Option<ChannelMembership>>;
    /// Every membership of the channel, by user id, each with its read marker as
    /// [`Store::channel_member`] reports it.
    fn channel_members(&self, channel: ChannelId) -> Result<Vec<(UserId, ChannelMembership)>>;

    fn message(&self, id: MessageId) -> Result<Option<Message>>;
    fn message_at(&self, channel: ChannelId, seq: u64) -> Result<Option<Message>>;
    fn messages(&self, channel: ChannelId, direction: Direction, limit: usize) -> Result<Vec<Message>>;
    /// Replies of a thread, oldest first.
    fn thread_replies(&self, root: MessageId, limit: usize) -> Result<Vec<Message>>;
    /// The `seq` of the channel's newest message (0 if none).
    fn last_seq(&self, channel: ChannelId) -> Result<u64>;
    /// The message an earlier post with this idempotency key created.
    fn message_by_client_id(
        &self,
        channel: ChannelId,
        author: UserId,
        client_msg_id: &str,
    ) -> Result<Option<MessageId>>;
    /// How many messages after `after_seq` mention `user`.
    fn mention_count(&self, channel: ChannelId, user: UserId, after_seq: u64) -> Result<u64>;
    /// How many messages of `channel` after `after_seq` are not thread replies: a
    /// channel's unread count for a read marker at `after_seq` (replies are unread in
    /// their thread). Reads the records of the first 1,000 such messages; any later
    /// ones count without being read, replies included, so a long backlog costs the
    /// same as one of 1,000.
    fn unread_count(&self, channel: ChannelId, after_seq: u64) -> Result<u64>;
    /// The `seq` of every reply of a thread, oldest first.
    fn thread_reply_seqs(&self, root: MessageId) -> Result<Vec<u64>>;
    /// The members of a thread ([`Op::PutThreadMember`]).
    fn thread_members(&self, root: MessageId) -> Result<Vec<UserId>>;
    /// The threads `user` is in, each with their read marker in it.
    fn threads_of(&self, user: UserId, workspace: WorkspaceId) -> Result<Vec<(MessageId, u64)>>;
    /// `user`'s read marker in the thread of `root`, if they are in it.
    fn thread_read_marker(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        root: MessageId,
    ) -> Result<Option<u64>>;
    /// `user`'s activity, newest first, below the message id `before` if given.
    fn activity(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<(MessageId, Activity)>>;
    /// The messages `user` saved, each with when, in message id order.
    fn saved(&self, user: UserId, workspace: WorkspaceId) -> Result<Vec<(MessageId, Millis)>>;
    /// The messages pinned in `channel`, in message id order.
    fn pins(&self, channel: ChannelId) -> Result<Vec<Pin>>;
    /// `user`'s unread mentions in thread replies of `channel`: each reply's `seq`
    /// and its thread's root.
    fn thread_mentions(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        channel: ChannelId,
    ) -> Result<Vec<(u64, MessageId)>>;

    /// Events with `event_seq > after`, oldest first.
    fn events(&self, workspace: WorkspaceId, after: u64, limit: usize) -> Result<Vec<EventRecord>>;
    /// `(oldest retained, newest)` event seqs, or `None` if the log is empty.
    fn event_bounds(&self, workspace: WorkspaceId) -> Result<Option<(u64, u64)>>;

    fn invite(&self, code: &str) -> Result<Option<Invite>>;
    /// Every invite of a workspace, used up and expired ones included.
    fn invites(&self, workspace: WorkspaceId) -> Result<Vec<Invite>>;

    fn blob(&self, workspace: WorkspaceId, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Every `(key, value)` of a namespace, in key order.
    fn blobs(&self, workspace: WorkspaceId, namespace: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Every key of a namespace, in order, without copying the values.
    fn blob_keys(&self, workspace: WorkspaceId, namespace: &str) -> Result<Vec<Vec<u8>>>;

    /// Every message of every channel of a workspace in (channel, seq) order; for
    /// rebuilding derived data. Stops early when `visit` returns false.
    fn scan_messages(&self, workspace: WorkspaceId, visit: &mut dyn FnMut(Message) -> bool) -> Result<()>;

    /// A number that moves with every [`Op::AppendConsent`] this store commits, and
    /// never goes back while the store is open: anything derived from consent and
    /// cached (which model serves a workspace) is stale once it has moved. On a store
    /// several nodes share it counts every node's appends, and a read that starts
    /// after an append's `apply` returned, on any node, sees that append's move.
    fn consent_generation(&self) -> Result<u64>;
}
