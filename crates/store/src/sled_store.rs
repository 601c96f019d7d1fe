//! The embedded backend: every record in one sled tree (see [`crate::keys`]), written
//! in atomic batches through a one-key journal (see [`crate::journal`]).
//!
//! Durability: sled writes a value (or a page rewrite) larger than about 128 KiB to
//! a file of its own under `blobs/` and never syncs it, while its log, which points
//! at the file, is synced. [`SledStore::flush`] therefore syncs every blob file and
//! the blob directory before it syncs the log, so nothing acknowledged depends on
//! bytes that a power loss can take.
//!
//! Fail-stop: once a batch failed half-way through being written, or a flush failed,
//! what is visible may not be what is durable. The store then refuses every later
//! `apply` and `flush` with [`StoreError::Stopped`]; restarting the process reopens
//! it from what is durable (completing the journal's batch).

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use confab_core::{
    Channel, ChannelId, ChannelKind, ChannelMembership, Event, EventRecord, Invite, Member, Message,
    MessageId, Millis, UserId, Workspace, WorkspaceId,
};
use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::journal::{JOURNAL_KEY, Writes};
use crate::keys;
use crate::{
    Activity, Batch, Direction, Op, Pin, Result, Session, SnapshotStats, Store, StoreError, UserRecord,
};

pub(crate) mod export;
mod snapshot;

/// Settings of the sled backend.
#[derive(Clone, Debug)]
pub struct SledConfig {
    /// Page cache size in bytes.
    pub cache_capacity: u64,
}

impl Default for SledConfig {
    fn default() -> Self {
        SledConfig { cache_capacity: 256 * 1024 * 1024 }
    }
}

pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
    /// Serialises `apply`, so that unique-key checks and the writes they guard are
    /// one step, and so that batches reach sled's log one after another (which
    /// their atomicity rests on: see [`crate::journal`]). Applying is in-memory and
    /// short; durability is `flush`'s job.
    apply_lock: Mutex<()>,
    /// A batch's writes reach sled one key at a time. Reads of a value spread over
    /// several keys (a long text's parts) hold this for reading, and `apply` holds it
    /// for writing while it writes a batch that changes such a value's parts past
    /// the first, so such a read sees one version whole, never the parts of two. A
    /// batch that changes only first parts (every short text) changes one key per
    /// value, which sled makes atomic, and does not wait for readers of long texts.
    multi_key_values: RwLock<()>,
    blobs: BlobSync,
    /// Set once a write failed half-way; see the module docs.
    stopped: AtomicBool,
    /// While a snapshot is copied, `apply` notes the keys it writes in
    /// `snapshot_dirty` (see [`snapshot`]). Both change only under `apply_lock`.
    snapshot_tracking: AtomicBool,
    snapshot_dirty: Mutex<HashSet<sled::IVec>>,
    /// [`Store::consent_generation`]: only this process opens the store (sled's
    /// lock), so a count kept in memory since it opened is enough.
    consent_generation: AtomicU64,
}

/// Syncs the files sled writes under `blobs/` (see the module docs).
struct BlobSync {
    dir: PathBuf,
    /// Blob files synced so far that still exist.
    synced: Mutex<HashSet<OsString>>,
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(StoreError::Io)
}

impl BlobSync {
    /// Syncs every blob file not synced yet, then the directory that names them.
    fn sync(&self) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut synced = self.synced.lock();
        let mut present = HashSet::with_capacity(synced.len());
        let mut any_new = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                // sled may remove a blob it no longer needs at any time.
                match std::fs::File::open(entry.path()) {
                    Ok(file) => file.sync_all()?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                any_new = true;
            }
            present.insert(name);
        }
        if any_new {
            std::fs::File::open(&self.dir)?.sync_all()?;
        }
        *synced = present;
        Ok(())
    }
}

/// How the event log stores an event. A `message.created` event names the message
/// record written in the same batch instead of holding a second copy of the message:
/// the message is most of the event, and posting is the hot write path.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StoredEvent {
    MessageCreated {
        at: Millis,
        #[serde(rename = "message_created_in")]
        channel: ChannelId,
        seq: u64,
    },
    /// An edit (or a thread's new reply count): by reference too, so that editing a
    /// large message does not store it twice per edit.
    MessageUpdated {
        at: Millis,
        #[serde(rename = "message_updated_in")]
        channel: ChannelId,
        seq: u64,
    },
    /// Every other event, and every event of a version-1 store.
    Full(Box<EventRecord>),
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(StoreError::Encode)
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt { key: format!("{key:02x?}"), source })
}

/// Messages after a read marker that [`Store::unread_count`] reads to tell thread
/// replies apart; later ones are counted without being read.
const UNREAD_COUNTED_EXACTLY: usize = 1_000;

/// How long [`SledStore::open`] waits for the directory's lock.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens the database, waiting up to [`LOCK_WAIT`] while its lock is taken.
///
/// sled 0.34 releases a closed database's file lock from a background thread, a
/// moment after the last handle is dropped (spacejam/sled#1234), so a store closed
/// and reopened in one process (restore, tests) can find its own lock still held.
/// A lock held by another running server is held far longer than the wait, and
/// still fails.
fn open_waiting_for_lock(config: &sled::Config) -> sled::Result<sled::Db> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match config.open() {
            Err(sled::Error::Io(e)) if is_lock_taken(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// sled reports a taken lock only as text: "could not acquire lock on …: Os { …
/// WouldBlock … }".
fn is_lock_taken(error: &std::io::Error) -> bool {
    let message = error.to_string();
    message.starts_with("could not acquire lock") && message.contains("WouldBlock")
}

impl SledStore {
    /// Opens the bare sled database of a store in `dir`, waiting for its lock as
    /// [`SledStore::open`] does: for tests and tools that inspect or alter the
    /// records below the store.
    pub fn open_raw(dir: &Path) -> sled::Result<sled::Db> {
        open_waiting_for_lock(&sled::Config::new().path(dir))
    }

    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path, config: &SledConfig) -> Result<Self> {
        let db = open_waiting_for_lock(
            &sled::Config::new()
                .path(dir)
                .cache_capacity(config.cache_capacity)
                .mode(sled::Mode::HighThroughput),
        )?;
        let tree = db.open_tree("confab")?;
        match tree.get(keys::META_SCHEMA)? {
            None => {
                tree.insert(keys::META_SCHEMA, &keys::SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
            }
            Some(v) => {
                let found = u32::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 4]));
                if !(1..=keys::SCHEMA_VERSION).contains(&found) {
                    return Err(StoreError::SchemaVersion { found, expected: keys::SCHEMA_VERSION });
                }
            }
        }
        // Complete the batch a crash may have cut short (see crate::journal).
        if let Some(journal) = tree.get(JOURNAL_KEY)? {
            let writes = Writes::decode(&journal).ok_or(StoreError::CorruptJournal)?;
            writes.apply(&tree)?;
            db.flush()?;
        }
        let store = SledStore {
            blobs: BlobSync { dir: dir.join("blobs"), synced: Mutex::new(HashSet::new()) },
            db,
            tree,
            apply_lock: Mutex::new(()),
            multi_key_values: RwLock::new(()),
            stopped: AtomicBool::new(false),
            snapshot_tracking: AtomicBool::new(false),
            consent_generation: AtomicU64::new(0),
            snapshot_dirty: Mutex::new(HashSet::new()),
        };
        store.upgrade()?;
        // The files sled created on first open are named by directory entries that a
        // power loss could take with them: sync the directories once.
        sync_dir(dir)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(store)
    }

    /// Brings an older store to [`keys::SCHEMA_VERSION`]: version 1 records read as
    /// they are; versions 1 and 2 lose the name entries of direct-message channels
    /// and gain the indexes of invites by workspace and sessions by user; messages
    /// of versions before 4 keep their text inline.
    fn upgrade(&self) -> Result<()> {
        let found = match self.tree.get(keys::META_SCHEMA)? {
            Some(v) => u32::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 4])),
            None => 0,
        };
        if found == keys::SCHEMA_VERSION {
            return Ok(());
        }
        let mut writes = Writes::default();
        if found < 3 {
            self.stage_upgrade_to_3(&mut writes)?;
        }
        // Version 4 needs no rewrite: records with their text inline read as before.
        if found < 5 {
            self.stage_upgrade_to_5(&mut writes)?;
        }
        writes.insert(keys::META_SCHEMA, &keys::SCHEMA_VERSION.to_be_bytes());
        writes.apply_journaled(&self.tree)?;
        self.flush()
    }

    fn stage_upgrade_to_3(&self, writes: &mut Writes) -> Result<()> {
        for channel in self.scan::<Channel>(&[keys::CHANNEL])? {
            if channel.kind != ChannelKind::Dm {
                continue;
            }
            let name_key = keys::channel_by_name(channel.workspace, &channel.name);
            if self.tree.get(&name_key)?.is_some_and(|owner| owner.as_ref() == channel.id.to_bytes()) {
                writes.remove(name_key);
            }
        }
        for kv in self.tree.scan_prefix([keys::SESSION]) {
            let (key, value) = kv?;
            let session: Session = decode(&key, &value)?;
            writes.insert(keys::session_of_user(session.user, &key[1..]), &[]);
        }
        for invite in self.scan::<Invite>(&[keys::INVITE])? {
            writes.insert(keys::invite_of_workspace(invite.workspace, &invite.code), &[]);
        }
        Ok(())
    }

    /// Version 5: every thread's members are the authors of its root and its
    /// replies, each with every reply read.
    fn stage_upgrade_to_5(&self, writes: &mut Writes) -> Result<()> {
        let mut replies_by_root: std::collections::BTreeMap<[u8; 16], Vec<u64>> = Default::default();
        for key in self.tree.scan_prefix([keys::THREAD_REPLY]).keys() {
            let key = key?;
            let mut root = [0u8; 16];
            root.copy_from_slice(&key[1..17]);
            replies_by_root.entry(root).or_default().push(keys::trailing_u64(&key));
        }
        for (root, seqs) in replies_by_root {
            let Some(root) = self.message(MessageId::from_bytes(root))? else { continue };
            let newest = seqs.iter().copied().max().unwrap_or(0);
            let mut authors = HashSet::from([root.author]);
            for seq in seqs {
                if let Some(reply) = self.message_at(root.channel, seq)? {
                    authors.insert(reply.author);
                }
            }
            for user in authors {
                let op =
                    Op::PutThreadMember { workspace: root.workspace, root: root.id, user, read_seq: newest };
                self.translate(op, writes)?;
            }
        }
        Ok(())
    }

    /// Stages a message's text under its own keys, in parts of
    /// [`keys::TEXT_PART_BYTES`], writing only the parts that change: a reaction, a
    /// reply count or a read of the record must not rewrite a long text. Parts past
    /// the new text's end are removed (all of them for an empty `text`). Changing any
    /// part past the first marks the batch as one that readers must not see
    /// half-applied.
    fn stage_message_text(&self, channel: ChannelId, seq: u64, text: String, out: &mut Writes) -> Result<()> {
        let parts: Vec<&[u8]> = text.as_bytes().chunks(keys::TEXT_PART_BYTES).collect();
        // Parts are contiguous: past a part that was not stored, none was.
        let mut previous_stored = true;
        for part in 0.. {
            if part >= parts.len() && !previous_stored {
                break;
            }
            let key = match u16::try_from(part) {
                Ok(0) => keys::message_text(channel, seq),
                Ok(n) => keys::message_text_part(channel, seq, n),
                Err(_) => return Err(StoreError::TextTooLong { bytes: text.len() }),
            };
            let current = match out.staged(&key) {
                Some(staged) => staged.cloned(),
                None => self.tree.get(&key)?,
            };
            previous_stored = current.is_some();
            let changed = match parts.get(part) {
                Some(&bytes) if current.as_deref() != Some(bytes) => {
                    out.insert(key, bytes);
                    true
                }
                Some(_) => false,
                None if current.is_some() => {
                    out.remove(key);
                    true
                }
                // Parts are contiguous: past the last one there is nothing left.
                None => break,
            };
            if changed && part > 0 {
                out.touch_multi_key_value();
            }
        }
        Ok(())
    }

    /// A message's text stored under its own keys: the concatenation of its parts
    /// (one, for a text stored whole), or `None` if it has none.
    fn stored_text(&self, channel: ChannelId, seq: u64, key: &[u8]) -> Result<Option<String>> {
        let mut bytes = Vec::new();
        let mut found = false;
        let _whole = self.multi_key_values.read();
        for part in self.tree.scan_prefix(keys::message_text(channel, seq)).values() {
            bytes.extend_from_slice(&part?);
            found = true;
        }
        if !found {
            return Ok(None);
        }
        let text =
            String::from_utf8(bytes).map_err(|_| StoreError::CorruptText { key: format!("{key:02x?}") })?;
        Ok(Some(text))
    }

    /// A message record read from `key` with its text: inline in the record (a short
    /// text, or any text written before schema version 4), or from its own keys.
    fn with_text(&self, key: &[u8], value: &[u8]) -> Result<Message> {
        let message = self.with_stored_text(key, decode(key, value)?)?;
        if !message.text.is_empty() || message.deleted {
            return Ok(message);
        }
        // No text anywhere: the message has none, or an edit to a short text replaced
        // this record and then removed the text apart since the record was read. The
        // edit's record preceded the removal, so it is there now. (A deleted message
        // is never edited again.)
        match self.tree.get(key)? {
            Some(now) if now != value => self.with_stored_text(key, decode(key, &now)?),
            _ => Ok(message),
        }
    }

    /// `message` with its text read from its own keys, if its record holds none.
    fn with_stored_text(&self, key: &[u8], mut message: Message) -> Result<Message> {
        if message.text.is_empty()
            && let Some(text) = self.stored_text(message.channel, message.seq, key)?
        {
            message.text = text;
        }
        Ok(message)
    }

    /// The message an event logged by reference names.
    fn logged_message(&self, channel: ChannelId, seq: u64, event_seq: u64) -> Result<Message> {
        self.message_at(channel, seq)?.ok_or_else(|| StoreError::Missing {
            what: format!("message {seq} of channel {channel} logged by event {event_seq}"),
        })
    }

    fn check_running(&self) -> Result<()> {
        match self.stopped.load(Ordering::Acquire) {
            true => Err(StoreError::Stopped),
            false => Ok(()),
        }
    }

    fn stop(&self, cause: &dyn std::fmt::Display) {
        tracing::error!(error = %cause, "a store write failed: refusing writes until the process restarts");
        self.stopped.store(true, Ordering::Release);
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.tree.get(key)? {
            Some(v) => decode(key, &v).map(Some),
            None => Ok(None),
        }
    }

    fn scan<T: DeserializeOwned>(&self, prefix: &[u8]) -> Result<Vec<T>> {
        self.tree
            .scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
            .collect()
    }

    fn scan_ids(&self, prefix: &[u8]) -> Result<Vec<[u8; 16]>> {
        self.tree.scan_prefix(prefix).keys().map(|k| Ok(keys::trailing_id(&k?))).collect()
    }

    /// Adds the sled writes of one op to `out`, checking unique keys against the
    /// stored state.
    fn translate(&self, op: Op, out: &mut Writes) -> Result<()> {
        match op {
            Op::PutUser(record) => {
                let id = record.user.id;
                let email_key = keys::user_by_email(&record.user.email);
                let name_key = keys::user_by_username(&record.user.username);
                for (key, what) in [(&email_key, "email"), (&name_key, "username")] {
                    if let Some(owner) = self.tree.get(key)?
                        && owner.as_ref() != id.to_bytes()
                    {
                        return Err(StoreError::Taken(what));
                    }
                }
                let user_key = keys::user(id);
                if let Some(old) = self.get::<UserRecord>(&user_key)? {
                    out.remove(keys::user_by_email(&old.user.email));
                    out.remove(keys::user_by_username(&old.user.username));
                }
                out.insert(email_key, &id.to_bytes());
                out.insert(name_key, &id.to_bytes());
                out.insert(user_key, encode(&record)?);
            }
            Op::PutSession { token_hash, session } => {
                out.insert(keys::session_of_user(session.user, &token_hash), &[]);
                out.insert(keys::session(&token_hash), encode(&session)?);
            }
            Op::DeleteSession { token_hash } => {
                let key = keys::session(&token_hash);
                if let Some(session) = self.get::<Session>(&key)? {
                    out.remove(keys::session_of_user(session.user, &token_hash));
                }
                out.remove(key);
            }
            Op::PutWorkspace(ws) => {
                out.insert(keys::workspace(ws.id), encode(&ws)?);
            }
            Op::PutMember(member) => {
                out.insert(keys::member(member.workspace, member.user), encode(&member)?);
                out.insert(keys::workspace_of_user(member.user, member.workspace), &[]);
            }
            Op::DeleteMember { workspace, user } => {
                out.remove(keys::member(workspace, user));
                out.remove(keys::workspace_of_user(user, workspace));
            }
            Op::PutChannel(channel) => {
                // A DM's name is not in the channel name space: it can neither be
                // squatted by a channel nor be probed for through one.
                let has_name = channel.kind != ChannelKind::Dm;
                let name_key = keys::channel_by_name(channel.workspace, &channel.name);
                if has_name
                    && let Some(owner) = self.tree.get(&name_key)?
                    && owner.as_ref() != channel.id.to_bytes()
                {
                    return Err(StoreError::Taken("channel name"));
                }
                let key = keys::channel(channel.id);
                if let Some(old) = self.get::<Channel>(&key)?
                    && old.name != channel.name
                    && old.kind != ChannelKind::Dm
                {
                    out.remove(keys::channel_by_name(old.workspace, &old.name));
                }
                if has_name {
                    out.insert(name_key, &channel.id.to_bytes());
                }
                out.insert(keys::channel_of_workspace(channel.workspace, channel.id), &[]);
                out.insert(key, encode(&channel)?);
            }
            Op::PutChannelMember { channel, user, membership } => {
                out.insert(keys::channel_member(channel, user), encode(&membership)?);
            }
            Op::DeleteChannelMember { channel, user } => {
                out.remove(keys::channel_member(channel, user));
                out.remove(keys::read_marker(channel, user));
            }
            Op::SetReadMarker { channel, user, seq } => {
                out.insert(keys::read_marker(channel, user), &seq.to_be_bytes());
            }
            Op::PutMessage(message) => {
                let mut position = message.channel.to_bytes().to_vec();
                position.extend_from_slice(&message.seq.to_be_bytes());
                out.insert(keys::message_by_id(message.id), position);
                if let Some(client_id) = &message.client_msg_id {
                    out.insert(
                        keys::message_by_client_id(message.channel, message.author, client_id),
                        &message.id.to_bytes(),
                    );
                }
                if let Some(root) = message.thread_root {
                    out.insert(keys::thread_reply(root, message.seq), &[]);
                }
                let mut record = message;
                let (channel, seq) = (record.channel, record.seq);
                if (1..=keys::INLINE_TEXT_BYTES).contains(&record.text.len()) {
                    // A short text stays in the record: no key of its own to write.
                    // The record goes first, then any text stored apart goes: a
                    // reader who finds no text apart reads the record again and finds
                    // this one (see `with_text`).
                    out.insert(keys::message(channel, seq), encode(&record)?);
                    self.stage_message_text(channel, seq, String::new(), out)?;
                } else {
                    // The parts go first: a reader of the record before this one
                    // (which may hold a short text) reads that version whole.
                    let text = std::mem::take(&mut record.text);
                    self.stage_message_text(channel, seq, text, out)?;
                    out.insert(keys::message(channel, seq), encode(&record)?);
                }
            }
            Op::PutMention { channel, user, seq } => {
                out.insert(keys::mention(channel, user, seq), &[]);
            }
            Op::DeleteMention { channel, user, seq } => {
                out.remove(keys::mention(channel, user, seq));
            }
            Op::PutThreadMember { workspace, root, user, read_seq } => {
                out.insert(keys::thread_member(root, user), &[]);
                out.insert(keys::thread_of_user(user, workspace, root), &read_seq.to_be_bytes());
            }
            Op::PutActivity { workspace, user, message, activity } => {
                out.insert(keys::activity(user, workspace, message), &[activity.to_byte()]);
            }
            Op::DeleteActivity { workspace, user, message } => {
                out.remove(keys::activity(user, workspace, message));
            }
            Op::PutThreadMention { workspace, user, channel, seq, root } => {
                out.insert(keys::thread_mention(user, workspace, channel, seq), &root.to_bytes());
            }
            Op::DeleteThreadMention { workspace, user, channel, seq } => {
                out.remove(keys::thread_mention(user, workspace, channel, seq));
            }
            Op::PutAvatar { user, png } => {
                out.insert(keys::avatar(user), png);
            }
            Op::DeleteAvatar { user } => {
                out.remove(keys::avatar(user));
            }
            Op::PutSaved { workspace, user, message, at } => {
                out.insert(keys::saved(user, workspace, message), &at.to_be_bytes());
            }
            Op::DeleteSaved { workspace, user, message } => {
                out.remove(keys::saved(user, workspace, message));
            }
            Op::PutPin { channel, message, by, at } => {
                out.insert(keys::pin(channel, message), [&by.to_bytes()[..], &at.to_be_bytes()].concat());
            }
            Op::DeletePin { channel, message } => {
                out.remove(keys::pin(channel, message));
            }
            Op::ForgetPersonalState { workspace, user, blob_namespaces } => {
                for key in self.tree.scan_prefix(keys::threads_of_user_prefix(user, workspace)).keys() {
                    let key = key?;
                    out.remove(keys::thread_member(MessageId::from_bytes(keys::trailing_id(&key)), user));
                    out.remove(key);
                }
                let mut prefixes = vec![
                    keys::activity_prefix(user, workspace),
                    keys::thread_mentions_prefix(user, workspace),
                    keys::saved_prefix(user, workspace),
                ];
                prefixes.extend(blob_namespaces.iter().map(|ns| keys::blob(workspace, ns, &user.to_bytes())));
                for prefix in prefixes {
                    for key in self.tree.scan_prefix(prefix).keys() {
                        out.remove(key?);
                    }
                }
            }
            Op::AppendEvent(record) => {
                let key = keys::event(record.workspace, record.event_seq);
                let value = match &record.event {
                    Event::MessageCreated { message } => encode(&StoredEvent::MessageCreated {
                        at: record.at,
                        channel: message.channel,
                        seq: message.seq,
                    })?,
                    Event::MessageUpdated { message } => encode(&StoredEvent::MessageUpdated {
                        at: record.at,
                        channel: message.channel,
                        seq: message.seq,
                    })?,
                    _ => encode(&record)?,
                };
                out.insert(key, value);
            }
            Op::PruneEvents { workspace, before } => {
                let start = keys::event(workspace, 0);
                let end = keys::event(workspace, before);
                for key in self.tree.range(start..end).keys() {
                    out.remove(key?);
                }
            }
            Op::PutInvite(invite) => {
                out.insert(keys::invite_of_workspace(invite.workspace, &invite.code), &[]);
                out.insert(keys::invite(invite.code.as_bytes()), encode(&invite)?);
            }
            Op::DeleteInvite { code } => {
                let key = keys::invite(code.as_bytes());
                if let Some(invite) = self.get::<Invite>(&key)? {
                    out.remove(keys::invite_of_workspace(invite.workspace, &code));
                    out.remove(key);
                }
            }
            Op::PutBlob { workspace, namespace, key, value } => {
                out.insert(keys::blob(workspace, namespace, &key), value);
            }
            Op::DeleteBlob { workspace, namespace, key } => {
                out.remove(keys::blob(workspace, namespace, &key));
            }
            Op::AppendConsent { workspace, namespace, key, value } => {
                let key = keys::blob(workspace, namespace, &key);
                if self.tree.get(&key)?.is_some() {
                    return Err(StoreError::Taken("consent ledger entry"));
                }
                out.insert(key, value);
            }
        }
        Ok(())
    }
}

impl Store for SledStore {
    fn apply(&self, batch: Batch) -> Result<()> {
        let _guard = self.apply_lock.lock();
        self.check_running()?;
        let mut writes = Writes::default();
        let consent_appends = batch.ops.iter().filter(|op| matches!(op, Op::AppendConsent { .. })).count();
        // A refusal here (a unique key taken, a corrupt record) has written nothing.
        for op in batch.ops {
            self.translate(op, &mut writes)?;
        }
        if !writes.is_empty()
            && let Err(e) = {
                let _writing = writes.touches_multi_key_value().then(|| self.multi_key_values.write());
                writes.apply_journaled(&self.tree)
            }
        {
            self.stop(&e);
            return Err(e.into());
        }
        if self.snapshot_tracking.load(Ordering::Acquire) {
            self.snapshot_dirty.lock().extend(writes.keys().cloned());
        }
        self.consent_generation.fetch_add(consent_appends as u64, Ordering::SeqCst);
        Ok(())
    }

    fn snapshot_to(&self, dest: &Path, progress: &mut dyn FnMut(u64)) -> Result<SnapshotStats> {
        SledStore::snapshot_to(self, dest, progress)
    }

    fn flush(&self) -> Result<()> {
        self.check_running()?;
        let synced =
            self.blobs.sync().map_err(StoreError::Io).and_then(|()| Ok(self.db.flush().map(drop)?));
        if let Err(e) = &synced {
            self.stop(e);
        }
        synced
    }

    fn user(&self, id: UserId) -> Result<Option<UserRecord>> {
        self.get(&keys::user(id))
    }

    fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        match self.tree.get(keys::user_by_email(email))? {
            Some(id) => self.user(UserId::from_bytes(keys::trailing_id(&id))),
            None => Ok(None),
        }
    }

    fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        match self.tree.get(keys::user_by_username(username))? {
            Some(id) => self.user(UserId::from_bytes(keys::trailing_id(&id))),
            None => Ok(None),
        }
    }

    fn user_count(&self) -> Result<u64> {
        Ok(self.tree.scan_prefix([keys::USER]).keys().count() as u64)
    }

    fn users(&self) -> Result<Vec<UserRecord>> {
        self.scan(&[keys::USER])
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>> {
        self.get(&keys::session(token_hash))
    }

    fn sessions_of(&self, user: UserId) -> Result<Vec<([u8; 32], Session)>> {
        let prefix = keys::sessions_of_user_prefix(user);
        let mut out = Vec::new();
        for key in self.tree.scan_prefix(&prefix).keys() {
            let key = key?;
            let Ok(token_hash) = <[u8; 32]>::try_from(&key[prefix.len()..]) else { continue };
            if let Some(session) = self.session(&token_hash)? {
                out.push((token_hash, session));
            }
        }
        Ok(out)
    }

    fn expired_sessions(&self, now: Millis, limit: usize) -> Result<Vec<[u8; 32]>> {
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix([keys::SESSION]) {
            let (key, value) = kv?;
            let session: Session = decode(&key, &value)?;
            if session.expires_at <= now
                && let Ok(token_hash) = <[u8; 32]>::try_from(&key[1..])
            {
                out.push(token_hash);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>> {
        self.get(&keys::workspace(id))
    }

    fn workspace_ids(&self) -> Result<Vec<WorkspaceId>> {
        Ok(self.scan_ids(&[keys::WORKSPACE])?.into_iter().map(WorkspaceId::from_bytes).collect())
    }

    fn workspaces_of(&self, user: UserId) -> Result<Vec<WorkspaceId>> {
        let prefix = keys::workspaces_of_user_prefix(user);
        Ok(self.scan_ids(&prefix)?.into_iter().map(WorkspaceId::from_bytes).collect())
    }

    fn member(&self, workspace: WorkspaceId, user: UserId) -> Result<Option<Member>> {
        self.get(&keys::member(workspace, user))
    }

    fn members(&self, workspace: WorkspaceId) -> Result<Vec<Member>> {
        self.scan(&keys::members_prefix(workspace))
    }

    fn channel(&self, id: ChannelId) -> Result<Option<Channel>> {
        self.get(&keys::channel(id))
    }

    fn channels(&self, workspace: WorkspaceId) -> Result<Vec<Channel>> {
        let prefix = keys::channels_of_workspace_prefix(workspace);
        let mut out = Vec::new();
        for id in self.scan_ids(&prefix)? {
            if let Some(channel) = self.channel(ChannelId::from_bytes(id))? {
                out.push(channel);
            }
        }
        Ok(out)
    }

    fn channel_by_name(&self, workspace: WorkspaceId, name: &str) -> Result<Option<ChannelId>> {
        let key = keys::channel_by_name(workspace, name);
        Ok(self.tree.get(key)?.map(|id| ChannelId::from_bytes(keys::trailing_id(&id))))
    }

    fn channel_member(&self, channel: ChannelId, user: UserId) -> Result<Option<ChannelMembership>> {
        let Some(mut membership) = self.get::<ChannelMembership>(&keys::channel_member(channel, user))?
        else {
            return Ok(None);
        };
        if let Some(marker) = self.tree.get(keys::read_marker(channel, user))? {
            membership.last_read_seq = keys::trailing_u64(&marker);
        }
        Ok(Some(membership))
    }

    fn channel_members(&self, channel: ChannelId) -> Result<Vec<(UserId, ChannelMembership)>> {
        // The read markers override the records' `last_read_seq`, as in
        // `channel_member`: one scan of the channel's markers, not a read per member.
        let mut markers = HashMap::new();
        for kv in self.tree.scan_prefix(keys::read_markers_prefix(channel)) {
            let (k, v) = kv?;
            markers.insert(keys::trailing_id(&k), keys::trailing_u64(&v));
        }
        self.tree
            .scan_prefix(keys::channel_members_prefix(channel))
            .map(|kv| {
                let (k, v) = kv?;
                let user = keys::trailing_id(&k);
                let mut membership: ChannelMembership = decode(&k, &v)?;
                if let Some(&seq) = markers.get(&user) {
                    membership.last_read_seq = seq;
                }
                Ok((UserId::from_bytes(user), membership))
            })
            .collect()
    }

    fn message(&self, id: MessageId) -> Result<Option<Message>> {
        let Some(position) = self.tree.get(keys::message_by_id(id))? else {
            return Ok(None);
        };
        let mut channel = [0u8; 16];
        channel.copy_from_slice(&position[..16.min(position.len())]);
        self.message_at(ChannelId::from_bytes(channel), keys::trailing_u64(&position))
    }

    fn message_at(&self, channel: ChannelId, seq: u64) -> Result<Option<Message>> {
        let key = keys::message(channel, seq);
        self.tree.get(&key)?.map(|value| self.with_text(&key, &value)).transpose()
    }

    fn messages(&self, channel: ChannelId, direction: Direction, limit: usize) -> Result<Vec<Message>> {
        let key = |seq: u64| keys::message(channel, seq);
        let decode_kv = |kv: sled::Result<(sled::IVec, sled::IVec)>| -> Result<Message> {
            let (k, v) = kv?;
            self.with_text(&k, &v)
        };
        match direction {
            Direction::Backward { before } => {
                let end = key(before.unwrap_or(u64::MAX));
                self.tree.range(key(0)..end).rev().take(limit).map(decode_kv).collect()
            }
            Direction::Forward { after } => {
                let Some(start) = after.checked_add(1) else { return Ok(Vec::new()) };
                let end = keys::messages_end(channel);
                self.tree.range(key(start)..end).take(limit).map(decode_kv).collect()
            }
        }
    }

    fn thread_replies(&self, root: MessageId, limit: usize) -> Result<Vec<Message>> {
        let Some(root_message) = self.message(root)? else { return Ok(Vec::new()) };
        let prefix = keys::thread_replies_prefix(root);
        let mut out = Vec::new();
        for key in self.tree.scan_prefix(&prefix).keys().take(limit) {
            if let Some(m) = self.message_at(root_message.channel, keys::trailing_u64(&key?))? {
                out.push(m);
            }
        }
        Ok(out)
    }

    fn last_seq(&self, channel: ChannelId) -> Result<u64> {
        let prefix = keys::messages_prefix(channel);
        Ok(self
            .tree
            .scan_prefix(&prefix)
            .keys()
            .next_back()
            .transpose()?
            .map_or(0, |k| keys::trailing_u64(&k)))
    }

    fn message_by_client_id(
        &self,
        channel: ChannelId,
        author: UserId,
        client_msg_id: &str,
    ) -> Result<Option<MessageId>> {
        let key = keys::message_by_client_id(channel, author, client_msg_id);
        Ok(self.tree.get(key)?.map(|id| MessageId::from_bytes(keys::trailing_id(&id))))
    }

    fn mention_count(&self, channel: ChannelId, user: UserId, after_seq: u64) -> Result<u64> {
        let start = keys::mention(channel, user, after_seq.saturating_add(1));
        let end = keys::mentions_end(channel, user);
        Ok(self.tree.range(start..end).keys().count() as u64)
    }

    fn unread_count(&self, channel: ChannelId, after_seq: u64) -> Result<u64> {
        /// What counting needs of a message record (the rest is skipped unread).
        #[derive(Deserialize)]
        struct Head {
            #[serde(default)]
            thread_root: Option<MessageId>,
        }
        let Some(start) = after_seq.checked_add(1) else { return Ok(0) };
        let mut count = 0;
        let mut records = self.tree.range(keys::message(channel, start)..keys::messages_end(channel));
        for kv in records.by_ref().take(UNREAD_COUNTED_EXACTLY) {
            let (key, value) = kv?;
            count += u64::from(decode::<Head>(&key, &value)?.thread_root.is_none());
        }
        // Past the bound, messages are counted without reading them, replies included:
        // listing channels must not decode a long backlog on every call.
        let rest = match records.next_back() {
            Some(last) => {
                keys::trailing_u64(&last?.0).saturating_sub(after_seq + UNREAD_COUNTED_EXACTLY as u64)
            }
            None => 0,
        };
        Ok(count + rest)
    }

    fn thread_reply_seqs(&self, root: MessageId) -> Result<Vec<u64>> {
        let prefix = keys::thread_replies_prefix(root);
        self.tree.scan_prefix(&prefix).keys().map(|k| Ok(keys::trailing_u64(&k?))).collect()
    }

    fn thread_members(&self, root: MessageId) -> Result<Vec<UserId>> {
        let prefix = keys::thread_members_prefix(root);
        Ok(self.scan_ids(&prefix)?.into_iter().map(UserId::from_bytes).collect())
    }

    fn threads_of(&self, user: UserId, workspace: WorkspaceId) -> Result<Vec<(MessageId, u64)>> {
        let prefix = keys::threads_of_user_prefix(user, workspace);
        self.tree
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((MessageId::from_bytes(keys::trailing_id(&k)), keys::trailing_u64(&v)))
            })
            .collect()
    }

    fn thread_read_marker(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        root: MessageId,
    ) -> Result<Option<u64>> {
        Ok(self.tree.get(keys::thread_of_user(user, workspace, root))?.map(|v| keys::trailing_u64(&v)))
    }

    fn activity(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<(MessageId, Activity)>> {
        let start = keys::activity_prefix(user, workspace);
        let end = match before {
            Some(id) => keys::activity(user, workspace, id),
            None => keys::activity(user, workspace, MessageId::from_bytes([0xFF; 16])),
        };
        self.tree
            .range(start..end)
            .rev()
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                let flags = v.first().copied().unwrap_or(0);
                Ok((MessageId::from_bytes(keys::trailing_id(&k)), Activity::from_byte(flags)))
            })
            .collect()
    }

    fn avatar(&self, user: UserId) -> Result<Option<Vec<u8>>> {
        Ok(self.tree.get(keys::avatar(user))?.map(|v| v.to_vec()))
    }

    fn saved(&self, user: UserId, workspace: WorkspaceId) -> Result<Vec<(MessageId, Millis)>> {
        let prefix = keys::saved_prefix(user, workspace);
        self.tree
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((MessageId::from_bytes(keys::trailing_id(&k)), keys::trailing_u64(&v) as Millis))
            })
            .collect()
    }

    fn pins(&self, channel: ChannelId) -> Result<Vec<Pin>> {
        self.tree
            .scan_prefix(keys::pins_prefix(channel))
            .map(|kv| {
                let (k, v) = kv?;
                let corrupt = || StoreError::CorruptText { key: format!("pin/{channel}") };
                let by: [u8; 16] = v.get(..16).and_then(|b| b.try_into().ok()).ok_or_else(corrupt)?;
                let at: [u8; 8] = v.get(16..24).and_then(|b| b.try_into().ok()).ok_or_else(corrupt)?;
                Ok(Pin {
                    message: MessageId::from_bytes(keys::trailing_id(&k)),
                    by: UserId::from_bytes(by),
                    at: Millis::from_be_bytes(at),
                })
            })
            .collect()
    }

    fn thread_mentions(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        channel: ChannelId,
    ) -> Result<Vec<(u64, MessageId)>> {
        let prefix = keys::thread_mentions_in_channel_prefix(user, workspace, channel);
        self.tree
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((keys::trailing_u64(&k), MessageId::from_bytes(keys::trailing_id(&v))))
            })
            .collect()
    }

    fn events(&self, workspace: WorkspaceId, after: u64, limit: usize) -> Result<Vec<EventRecord>> {
        let Some(start) = after.checked_add(1) else { return Ok(Vec::new()) };
        let start = keys::event(workspace, start);
        let end = keys::events_end(workspace);
        self.tree
            .range(start..end)
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                let (workspace, event_seq) = (workspace, keys::trailing_u64(&k));
                match decode::<StoredEvent>(&k, &v)? {
                    StoredEvent::Full(record) => Ok(*record),
                    StoredEvent::MessageCreated { at, channel, seq } => {
                        let message = self.logged_message(channel, seq, event_seq)?;
                        Ok(EventRecord { workspace, event_seq, at, event: Event::MessageCreated { message } })
                    }
                    StoredEvent::MessageUpdated { at, channel, seq } => {
                        let message = self.logged_message(channel, seq, event_seq)?;
                        Ok(EventRecord { workspace, event_seq, at, event: Event::MessageUpdated { message } })
                    }
                }
            })
            .collect()
    }

    fn event_bounds(&self, workspace: WorkspaceId) -> Result<Option<(u64, u64)>> {
        let prefix = keys::events_prefix(workspace);
        let mut keys_iter = self.tree.scan_prefix(&prefix).keys();
        let Some(first) = keys_iter.next().transpose()? else { return Ok(None) };
        let last = keys_iter.next_back().transpose()?.unwrap_or_else(|| first.clone());
        Ok(Some((keys::trailing_u64(&first), keys::trailing_u64(&last))))
    }

    fn invite(&self, code: &str) -> Result<Option<Invite>> {
        self.get(&keys::invite(code.as_bytes()))
    }

    fn invites(&self, workspace: WorkspaceId) -> Result<Vec<Invite>> {
        let prefix = keys::invites_of_workspace_prefix(workspace);
        let mut out = Vec::new();
        for key in self.tree.scan_prefix(&prefix).keys() {
            let key = key?;
            let code = &key[prefix.len()..];
            if let Some(invite) = self.get(&keys::invite(code))? {
                out.push(invite);
            }
        }
        Ok(out)
    }

    fn blob(&self, workspace: WorkspaceId, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tree.get(keys::blob(workspace, namespace, key))?.map(|v| v.to_vec()))
    }

    fn blobs(&self, workspace: WorkspaceId, namespace: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let prefix = keys::blob_prefix(workspace, namespace);
        self.tree
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k[prefix.len()..].to_vec(), v.to_vec()))
            })
            .collect()
    }

    fn blob_keys(&self, workspace: WorkspaceId, namespace: &str) -> Result<Vec<Vec<u8>>> {
        let prefix = keys::blob_prefix(workspace, namespace);
        self.tree.scan_prefix(&prefix).keys().map(|k| Ok(k?[prefix.len()..].to_vec())).collect()
    }

    fn consent_generation(&self) -> Result<u64> {
        Ok(self.consent_generation.load(Ordering::SeqCst))
    }

    fn scan_messages(&self, workspace: WorkspaceId, visit: &mut dyn FnMut(Message) -> bool) -> Result<()> {
        for channel in self.channels(workspace)? {
            let prefix = keys::messages_prefix(channel.id);
            for kv in self.tree.scan_prefix(&prefix) {
                let (k, v) = kv?;
                if !visit(self.with_text(&k, &v)?) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use confab_core::{ChannelId, ChannelMembership, MessageId, UserId, WorkspaceId};

    use super::*;

    /// A crash between a batch's journal record and the end of its writes: opening
    /// the store finishes the batch.
    #[test]
    fn opening_completes_a_batch_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let (channel, user) = (ChannelId::from_ulid(ulid::Ulid::new()), UserId::from_ulid(ulid::Ulid::new()));
        let membership = ChannelMembership { joined_at: 1, last_read_seq: 0 };
        {
            let store = SledStore::open(dir.path(), &Default::default()).unwrap();
            let mut writes = Writes::default();
            store
                .translate(
                    Op::PutChannelMember { channel, user, membership: membership.clone() },
                    &mut writes,
                )
                .unwrap();
            store.translate(Op::SetReadMarker { channel, user, seq: 9 }, &mut writes).unwrap();
            // The journal and the first write reach the log; the marker does not.
            store.tree.insert(JOURNAL_KEY, writes.encode()).unwrap();
            let (key, value) = &writes.entries()[0];
            store.tree.insert(key, value.clone().unwrap()).unwrap();
            store.db.flush().unwrap();
            assert_eq!(store.channel_member(channel, user).unwrap(), Some(membership.clone()));
        }
        let store = SledStore::open(dir.path(), &Default::default()).unwrap();
        let recovered = store.channel_member(channel, user).unwrap().unwrap();
        assert_eq!((recovered.joined_at, recovered.last_read_seq), (1, 9));
    }

    /// A change to a message's record alone (a reaction, a reply count) writes the
    /// record, not the text: a member's reactions on their own longest message cost
    /// a few hundred bytes each, in the log and in the journal.
    #[test]
    fn a_reaction_does_not_rewrite_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), &Default::default()).unwrap();
        let author = UserId::from_ulid(ulid::Ulid::new());
        let mut message: Message = serde_json::from_value(serde_json::json!({
            "id": MessageId::from_ulid(ulid::Ulid::new()),
            "workspace": WorkspaceId::from_ulid(ulid::Ulid::new()),
            "channel": ChannelId::from_ulid(ulid::Ulid::new()),
            "seq": 1, "author": author, "text": "x".repeat(40_000), "created_at": 1,
        }))
        .unwrap();
        let mut posted = Writes::default();
        store.translate(Op::PutMessage(message.clone()), &mut posted).unwrap();
        assert!(posted.encode().len() > 40_000);
        posted.apply(&store.tree).unwrap();

        message.reactions.push(confab_core::Reaction { emoji: "👍".into(), users: vec![author] });
        let mut reacted = Writes::default();
        store.translate(Op::PutMessage(message.clone()), &mut reacted).unwrap();
        assert!(reacted.encode().len() < 1_000, "{} bytes", reacted.encode().len());
        reacted.apply(&store.tree).unwrap();
        assert_eq!(store.message(message.id).unwrap(), Some(message));
    }

    /// Long texts are stored in parts small enough that no sled page of texts grows
    /// past the size sled writes to a blob file (which every flush must then sync):
    /// with whole 47 KB texts, a page of 16 of them did, in every edit flood.
    #[test]
    fn long_texts_are_stored_in_parts_and_no_page_becomes_a_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), &Default::default()).unwrap();
        let (ws, channel) =
            (WorkspaceId::from_ulid(ulid::Ulid::new()), ChannelId::from_ulid(ulid::Ulid::new()));
        let author = UserId::from_ulid(ulid::Ulid::new());
        let message = |seq: u64, text: String| -> Message {
            serde_json::from_value(serde_json::json!({
                "id": MessageId::from_ulid(ulid::Ulid::from_parts(seq, 1)), "workspace": ws,
                "channel": channel, "seq": seq, "author": author, "text": text, "created_at": 1,
            }))
            .unwrap()
        };
        // 40 texts of 47 KB, each with a 2-byte character across every part boundary.
        let long = |n: u64| format!("{n:>5}{}", "é".repeat(23_500));
        for seq in 1..=40 {
            let mut writes = Writes::default();
            store.translate(Op::PutMessage(message(seq, long(seq))), &mut writes).unwrap();
            writes.apply_journaled(&store.tree).unwrap();
            // Edited twice, as a flood would: each edit rewrites the parts.
            for _ in 0..2 {
                let mut writes = Writes::default();
                store.translate(Op::PutMessage(message(seq, long(seq + 1000))), &mut writes).unwrap();
                writes.apply_journaled(&store.tree).unwrap();
            }
            store.flush().unwrap();
        }
        let blobs = std::fs::read_dir(dir.path().join("blobs")).map(|d| d.count()).unwrap_or(0);
        assert_eq!(blobs, 0, "sled wrote pages of texts to blob files");
        for part in store.tree.scan_prefix([keys::MESSAGE_TEXT]).values() {
            assert!(part.unwrap().len() <= keys::TEXT_PART_BYTES);
        }
        for seq in 1..=40 {
            assert_eq!(store.message_at(channel, seq).unwrap().unwrap().text, long(seq + 1000));
        }

        // A shorter text leaves no part of the longer one behind; no text, no part.
        let mut writes = Writes::default();
        store.translate(Op::PutMessage(message(7, "short now".into())), &mut writes).unwrap();
        store.translate(Op::PutMessage(message(8, String::new())), &mut writes).unwrap();
        writes.apply_journaled(&store.tree).unwrap();
        assert_eq!(store.message_at(channel, 7).unwrap().unwrap().text, "short now");
        assert_eq!(store.tree.scan_prefix(keys::message_text(channel, 7)).count(), 0, "kept in its record");
        assert_eq!(store.tree.scan_prefix(keys::message_text(channel, 8)).count(), 0);
        assert_eq!(store.message_at(channel, 9).unwrap().unwrap().text, long(1009), "its neighbour is whole");
    }

    /// A short text is kept in its message's record: a post writes no key for it and
    /// reads none. An edit between short and long moves it, and a reader holding the
    /// record from before an edit to a short text still finds the text.
    #[test]
    fn a_short_text_is_kept_in_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), &Default::default()).unwrap();
        let channel = ChannelId::from_ulid(ulid::Ulid::new());
        let message = |text: String| -> Message {
            serde_json::from_value(serde_json::json!({
                "id": MessageId::from_ulid(ulid::Ulid::from_parts(1, 1)),
                "workspace": WorkspaceId::from_ulid(ulid::Ulid::new()), "channel": channel, "seq": 1,
                "author": UserId::from_ulid(ulid::Ulid::new()), "text": text, "created_at": 1,
            }))
            .unwrap()
        };
        let put = |text: &str| {
            let mut writes = Writes::default();
            store.translate(Op::PutMessage(message(text.into())), &mut writes).unwrap();
            writes.apply_journaled(&store.tree).unwrap();
            writes
        };
        let parts = || store.tree.scan_prefix(keys::message_text(channel, 1)).count();
        let key = keys::message(channel, 1);

        let posted = put("hello");
        assert!(posted.staged(&keys::message_text(channel, 1)).is_none(), "a post writes no text key");
        assert_eq!((store.message_at(channel, 1).unwrap().unwrap().text, parts()), ("hello".into(), 0));

        let long = "é".repeat(5_000);
        put(&long);
        let long_record = store.tree.get(&key).unwrap().unwrap();
        assert_eq!((store.message_at(channel, 1).unwrap().unwrap().text, parts()), (long.clone(), 3));

        // Read the record, then let an edit to a short text land before the text is.
        put("short again");
        assert_eq!(parts(), 0, "no part of the long text is left");
        assert_eq!(store.with_text(&key, &long_record).unwrap().text, "short again");
        assert_eq!(store.message_at(channel, 1).unwrap().unwrap().text, "short again");

        put("");
        assert_eq!((store.message_at(channel, 1).unwrap().unwrap().text, parts()), (String::new(), 0));
    }

    /// A text in parts is read whole while it is edited: never some parts of one
    /// version and some of another (which the hostile bench met as "message text is
    /// not UTF-8", and which would otherwise be a silently garbled text).
    #[test]
    fn a_text_in_parts_is_never_read_half_edited() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(SledStore::open(dir.path(), &Default::default()).unwrap());
        let (ws, channel) =
            (WorkspaceId::from_ulid(ulid::Ulid::new()), ChannelId::from_ulid(ulid::Ulid::new()));
        // Versions of the same length that differ in every part, each part ending
        // inside a 2-byte character; one that differs from the first in its first
        // part only (an edit that changes one key, written without the lock); and a
        // short one (an edit that removes parts).
        let long = |first: char, rest: &str| format!("{first}{}", rest.repeat(20_000));
        let versions = [long('a', "é"), long('b', "è"), long('c', "è"), "short".to_string()];
        let message = |text: &str| {
            let mut message = crate::conformance::message(ws, channel, 1, text);
            message.id = MessageId::from_ulid(ulid::Ulid::from_parts(1, 1));
            message
        };
        store.apply(Batch { ops: vec![Op::PutMessage(message(&versions[0]))] }).unwrap();
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let reader = {
            let (store, done, versions) = (store.clone(), done.clone(), versions.clone());
            std::thread::spawn(move || {
                let mut reads = 0u32;
                while !done.load(Ordering::Relaxed) || reads < 100 {
                    let text = store.message_at(channel, 1).expect("readable").expect("present").text;
                    assert!(versions.contains(&text), "a torn text of {} bytes", text.len());
                    reads += 1;
                }
            })
        };
        for i in 0..400 {
            let text = &versions[(i + 1) % versions.len()];
            store.apply(Batch { ops: vec![Op::PutMessage(message(text))] }).unwrap();
        }
        done.store(true, Ordering::Relaxed);
        reader.join().expect("every read was one whole version");
    }

    /// A database closed a moment ago may still hold its lock (sled releases it
    /// from a background thread): opening waits for it rather than failing.
    #[test]
    fn opening_waits_for_a_lock_about_to_be_released() {
        let dir = tempfile::tempdir().unwrap();
        let holder = sled::open(dir.path()).unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(holder);
        });
        SledStore::open(dir.path(), &Default::default()).unwrap();
        release.join().unwrap();
    }

    /// A lock held for longer than the wait (another server on the same data dir)
    /// is still an error.
    #[test]
    fn opening_a_database_held_open_fails() {
        let dir = tempfile::tempdir().unwrap();
        let _holder = sled::open(dir.path()).unwrap();
        let started = Instant::now();
        let error = SledStore::open(dir.path(), &Default::default()).err().expect("the lock is held");
        assert!(error.to_string().contains("lock"), "{error}");
        assert!(started.elapsed() >= LOCK_WAIT);
    }
}
