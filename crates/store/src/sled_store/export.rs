//! A streaming export of the sled store as typed store operations
//! ([`SledStore::export`]), for `confab migrate --to postgres://…`.
//!
//! The [`crate::Store`] trait's reads cannot list everything a store holds (they
//! name no blob namespaces, and count mention rows without listing them), so a copy
//! made through them would drop data without a word. The export walks sled's own
//! keys instead ([`crate::keys`] is the schema), in key order, and turns each
//! record into the [`Op`] that writes it: applying the batches it hands out to an
//! empty store of any backend reproduces every record, ids, `seq`, `event_seq` and
//! timestamps included.
//!
//! Every key tag is handled: a record is exported, or it is skipped because the op
//! of another record writes it again (an index, a message's text), or it is not
//! data (the schema version, the journal). A key the export does not know fails it
//! ([`StoreError::Unexportable`]), as does a key of the wrong length or a record
//! whose key and contents disagree.
//!
//! Memory: the export holds one chunk of operations, handed to the caller once its
//! records' stored size reaches `chunk_bytes`, plus one record; never the store.
//! Writes to the store wait for the export (it holds the apply lock), so the batches
//! are one consistent moment of the store. sled itself keeps something of every
//! page read until the database is closed, whatever its cache size (measured: a
//! pass over 200 MB of records left 150 MB resident with an 8 MiB cache; see
//! spacejam/sled#1036). [`SledStore::export_dir`] therefore reads a closed store
//! part by part, opening it for each part of [`ExportOptions::part_bytes`] and
//! closing it after, which bounds that too.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;

use confab_core::{ChannelId, Event, EventRecord, MessageId, UserId, WorkspaceId};
use serde::Serialize;

use super::{SledStore, StoredEvent, decode};
use crate::journal::JOURNAL_KEY;
use crate::keys;
use crate::{Activity, Batch, Op, RecordCounts, RecordKind, Result, SledConfig, StoreError};

/// How far an export has got, given to its sink with every batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExportProgress {
    /// Keys read so far (exported or skipped).
    pub keys_read: u64,
    /// Keys in the store when the export began.
    pub keys_total: u64,
}

/// What an export did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExportStats {
    /// Records exported, by kind (every kind present, zeros too).
    pub records: RecordCounts,
    /// Keys read.
    pub keys: u64,
    /// Keys skipped: indexes and texts that their record's op writes again, the
    /// schema version and the journal.
    pub skipped_keys: u64,
    /// Batches handed to the sink.
    pub batches: u64,
}

/// How [`SledStore::export_dir`] bounds its memory.
#[derive(Clone, Copy, Debug)]
pub struct ExportOptions {
    /// The records per batch handed to the sink, by their size in the store.
    pub chunk_bytes: usize,
    /// The records (keys and values) read before the store is closed and opened
    /// again, which frees what sled keeps of every page read.
    pub part_bytes: u64,
    /// The keys read before the store is closed and opened again.
    pub part_keys: u64,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions { chunk_bytes: 4 << 20, part_bytes: 32 << 20, part_keys: 50_000 }
    }
}

/// The state of one export across the parts it is read in.
struct ExportRun<'a> {
    stats: ExportStats,
    keys_total: u64,
    chunk_bytes: usize,
    batch: Batch,
    batch_bytes: usize,
    sink: &'a mut dyn FnMut(Batch, ExportProgress) -> Result<()>,
}

impl<'a> ExportRun<'a> {
    fn new(
        keys_total: u64,
        chunk_bytes: usize,
        sink: &'a mut dyn FnMut(Batch, ExportProgress) -> Result<()>,
    ) -> Self {
        let records = RecordKind::ALL.iter().map(|&kind| (kind, 0)).collect();
        ExportRun {
            stats: ExportStats { records, ..ExportStats::default() },
            keys_total,
            chunk_bytes,
            batch: Batch::new(),
            batch_bytes: 0,
            sink,
        }
    }

    fn deliver(&mut self) -> Result<()> {
        self.stats.batches += 1;
        self.batch_bytes = 0;
        let progress = ExportProgress { keys_read: self.stats.keys, keys_total: self.keys_total };
        (self.sink)(std::mem::take(&mut self.batch), progress)
    }

    fn finish(mut self) -> Result<ExportStats> {
        if !self.batch.is_empty() {
            self.deliver()?;
        }
        Ok(self.stats)
    }
}

/// Where a part of an export starts: after the last key of the part before.
type After = Option<sled::IVec>;

impl SledStore {
    /// Hands every record of the store to `sink` as operations, in batches whose
    /// records take about `chunk_bytes` in the store (at least one record each), in
    /// key order: a message before the events that name it. Writes to this store
    /// wait until the export returns, so `sink` must not write to it. An error of
    /// `sink` ends the export with that error.
    ///
    /// sled keeps something of every page it reads until the database is closed
    /// (spacejam/sled#1036), so this one pass over an open store takes memory that
    /// grows with the store; [`SledStore::export_dir`] does not.
    pub fn export(
        &self,
        chunk_bytes: usize,
        sink: &mut dyn FnMut(Batch, ExportProgress) -> Result<()>,
    ) -> Result<ExportStats> {
        let mut run = ExportRun::new(self.tree.len() as u64, chunk_bytes, sink);
        self.export_part(None, u64::MAX, u64::MAX, &mut run)?;
        run.finish()
    }

    /// [`SledStore::export`] of the store in `dir`, in bounded memory: the store is
    /// opened, read for a part of at most `part_bytes` or `part_keys`, and closed
    /// again, part after part (a count of its keys first, for the progress, the same
    /// way). Nothing else may open the store meanwhile: a process that takes its
    /// lock between two parts makes the next open, and so the export, fail.
    pub fn export_dir(
        dir: &Path,
        config: &SledConfig,
        options: ExportOptions,
        sink: &mut dyn FnMut(Batch, ExportProgress) -> Result<()>,
    ) -> Result<ExportStats> {
        let mut keys_total = 0;
        let mut after: After = None;
        loop {
            let store = SledStore::open(dir, config)?;
            let (keys, last) = store.count_part(after, options)?;
            keys_total += keys;
            match last {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        let mut run = ExportRun::new(keys_total, options.chunk_bytes, sink);
        let mut after: After = None;
        loop {
            let store = SledStore::open(dir, config)?;
            match store.export_part(after, options.part_bytes, options.part_keys, &mut run)? {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        run.finish()
    }

    /// The keys after `after`, up to a part's bounds: how many, and the last one if
    /// the part ended before the store did.
    fn count_part(&self, after: After, options: ExportOptions) -> Result<(u64, After)> {
        let (mut keys, mut bytes) = (0, 0);
        for kv in self.tree.range(part_range(after)) {
            let (key, value) = kv?;
            keys += 1;
            bytes += (key.len() + value.len()) as u64;
            if keys >= options.part_keys || bytes >= options.part_bytes {
                return Ok((keys, Some(key)));
            }
        }
        Ok((keys, None))
    }

    /// Exports the keys after `after` into `run`, up to `part_bytes` of records or
    /// `part_keys` keys; the last key read if the part ended before the store did.
    /// Writes wait meanwhile.
    fn export_part(
        &self,
        after: After,
        part_bytes: u64,
        part_keys: u64,
        run: &mut ExportRun<'_>,
    ) -> Result<After> {
        let _no_writes = self.apply_lock.lock();
        let (mut keys, mut bytes) = (0, 0);
        for kv in self.tree.range(part_range(after)) {
            let (key, value) = kv?;
            run.stats.keys += 1;
            keys += 1;
            bytes += (key.len() + value.len()) as u64;
            match self.export_record(&key, &value)? {
                None => run.stats.skipped_keys += 1,
                Some(record) => {
                    *run.stats.records.entry(record.kind).or_default() += 1;
                    run.batch.push(record.op);
                    run.batch_bytes += key.len() + value.len() + record.extra_bytes;
                    if run.batch_bytes >= run.chunk_bytes {
                        run.deliver()?;
                    }
                }
            }
            if keys >= part_keys || bytes >= part_bytes {
                return Ok(Some(key));
            }
        }
        Ok(None)
    }

    /// The op that writes the record under `key` again, or `None` for a key that is
    /// not a record of its own (each arm says why).
    fn export_record(&self, key: &[u8], value: &[u8]) -> Result<Option<Exported>> {
        let mut parts = KeyParts { key, rest: key.get(1..).unwrap_or_default() };
        let (kind, op, extra_bytes) = match key.first().copied() {
            Some(keys::USER) => {
                parts.user()?;
                parts.end()?;
                (RecordKind::User, Op::PutUser(decode(key, value)?), 0)
            }
            // Indexes of the user record, which `PutUser` writes.
            Some(keys::USER_BY_EMAIL | keys::USER_BY_USERNAME) => return Ok(None),
            Some(keys::SESSION) => {
                let token_hash = parts.take::<32>()?;
                parts.end()?;
                (RecordKind::Session, Op::PutSession { token_hash, session: decode(key, value)? }, 0)
            }
            // The index of sessions by user, which `PutSession` writes.
            Some(keys::SESSIONS_OF_USER) => return Ok(None),
            Some(keys::AVATAR) => {
                let user = parts.user()?;
                parts.end()?;
                (RecordKind::Avatar, Op::PutAvatar { user, png: value.to_vec() }, 0)
            }
            Some(keys::WORKSPACE) => {
                parts.workspace()?;
                parts.end()?;
                (RecordKind::Workspace, Op::PutWorkspace(decode(key, value)?), 0)
            }
            Some(keys::MEMBER) => {
                parts.workspace()?;
                parts.user()?;
                parts.end()?;
                (RecordKind::Member, Op::PutMember(decode(key, value)?), 0)
            }
            // The index of workspaces by member, which `PutMember` writes.
            Some(keys::WORKSPACES_OF_USER) => return Ok(None),
            Some(keys::CHANNEL) => {
                parts.channel()?;
                parts.end()?;
                (RecordKind::Channel, Op::PutChannel(decode(key, value)?), 0)
            }
            // Indexes of the channel record, which `PutChannel` writes.
            Some(keys::CHANNELS_OF_WORKSPACE | keys::CHANNEL_BY_NAME) => return Ok(None),
            Some(keys::CHANNEL_MEMBER) => {
                let (channel, user) = (parts.channel()?, parts.user()?);
                parts.end()?;
                let membership = decode(key, value)?;
                (RecordKind::ChannelMember, Op::PutChannelMember { channel, user, membership }, 0)
            }
            Some(keys::READ_MARKER) => {
                let (channel, user) = (parts.channel()?, parts.user()?);
                parts.end()?;
                let seq = value_u64(key, value)?;
                (RecordKind::ReadMarker, Op::SetReadMarker { channel, user, seq }, 0)
            }
            Some(keys::MESSAGE) => {
                let (channel, seq) = (parts.channel()?, parts.u64()?);
                parts.end()?;
                let message = self.with_text(key, value)?;
                if (message.channel, message.seq) != (channel, seq) {
                    return Err(unexportable(key, "the message record names another channel or seq"));
                }
                let text_bytes = message.text.len();
                (RecordKind::Message, Op::PutMessage(message), text_bytes)
            }
            // The message's indexes (by id, by idempotency key, in its thread) and its
            // text, which `PutMessage` of its record writes.
            Some(
                keys::MESSAGE_BY_ID | keys::MESSAGE_BY_CLIENT_ID | keys::THREAD_REPLY | keys::MESSAGE_TEXT,
            ) => {
                return Ok(None);
            }
            Some(keys::MENTION) => {
                let (channel, user, seq) = (parts.channel()?, parts.user()?, parts.u64()?);
                parts.end()?;
                (RecordKind::Mention, Op::PutMention { channel, user, seq }, 0)
            }
            // The thread's side of a thread membership, which `PutThreadMember` of its
            // user's side (below) writes.
            Some(keys::THREAD_MEMBER) => return Ok(None),
            Some(keys::THREADS_OF_USER) => {
                let (user, workspace, root) = (parts.user()?, parts.workspace()?, parts.message()?);
                parts.end()?;
                let read_seq = value_u64(key, value)?;
                (RecordKind::ThreadMember, Op::PutThreadMember { workspace, root, user, read_seq }, 0)
            }
            Some(keys::ACTIVITY) => {
                let (user, workspace, message) = (parts.user()?, parts.workspace()?, parts.message()?);
                parts.end()?;
                let activity = match value {
                    &[byte] if Activity::from_byte(byte).to_byte() == byte => Activity::from_byte(byte),
                    _ => return Err(unexportable(key, "activity flags are not one known byte")),
                };
                (RecordKind::Activity, Op::PutActivity { workspace, user, message, activity }, 0)
            }
            Some(keys::THREAD_MENTION) => {
                let (user, workspace, channel, seq) =
                    (parts.user()?, parts.workspace()?, parts.channel()?, parts.u64()?);
                parts.end()?;
                let root = MessageId::from_bytes(
                    value.try_into().map_err(|_| unexportable(key, "the thread root is not 16 bytes"))?,
                );
                (RecordKind::ThreadMention, Op::PutThreadMention { workspace, user, channel, seq, root }, 0)
            }
            Some(keys::SAVED) => {
                let (user, workspace, message) = (parts.user()?, parts.workspace()?, parts.message()?);
                parts.end()?;
                let at = value_u64(key, value)? as confab_core::Millis;
                (RecordKind::Saved, Op::PutSaved { workspace, user, message, at }, 0)
            }
            Some(keys::PIN) => {
                let (channel, message) = (parts.channel()?, parts.message()?);
                parts.end()?;
                let (by, at) = match value.split_at_checked(16) {
                    Some((by, at)) if at.len() == 8 => (
                        UserId::from_bytes(by.try_into().expect("16 bytes")),
                        confab_core::Millis::from_be_bytes(at.try_into().expect("8 bytes")),
                    ),
                    _ => return Err(unexportable(key, "a pin is not a user id and a time")),
                };
                (RecordKind::Pin, Op::PutPin { channel, message, by, at }, 0)
            }
            Some(keys::EVENT) => {
                let (workspace, event_seq) = (parts.workspace()?, parts.u64()?);
                parts.end()?;
                let (record, extra) = self.export_event(key, value, workspace, event_seq)?;
                (RecordKind::Event, Op::AppendEvent(record), extra)
            }
            Some(keys::INVITE) => {
                let invite: confab_core::Invite = decode(key, value)?;
                if invite.code.as_bytes() != parts.rest {
                    return Err(unexportable(key, "the invite record names another code"));
                }
                (RecordKind::Invite, Op::PutInvite(invite), 0)
            }
            // The index of invites by workspace, which `PutInvite` writes.
            Some(keys::INVITES_OF_WORKSPACE) => return Ok(None),
            Some(keys::BLOB) => {
                let workspace = parts.workspace()?;
                let Some(end) = parts.rest.iter().position(|&b| b == 0) else {
                    return Err(unexportable(key, "a blob key without its namespace's end"));
                };
                let namespace = std::str::from_utf8(&parts.rest[..end])
                    .map_err(|_| unexportable(key, "a blob namespace that is not UTF-8"))?;
                let (namespace, blob_key) = (static_namespace(namespace), parts.rest[end + 1..].to_vec());
                (
                    RecordKind::Blob,
                    Op::PutBlob { workspace, namespace, key: blob_key, value: value.to_vec() },
                    0,
                )
            }
            // The schema version: the target store writes its own.
            _ if key == keys::META_SCHEMA => return Ok(None),
            // The last batch, kept to complete it after a crash: opening the store
            // completed it, and every write it names is exported as a record.
            _ if key == JOURNAL_KEY => return Ok(None),
            _ => return Err(unexportable(key, "a key tag the export does not know")),
        };
        Ok(Some(Exported { kind, op, extra_bytes }))
    }

    /// An event as it was logged: a `message.created` or `message.updated` stored by
    /// reference names its message again (both stores log it by reference too), with
    /// the bytes of the message read for it.
    fn export_event(
        &self,
        key: &[u8],
        value: &[u8],
        workspace: WorkspaceId,
        event_seq: u64,
    ) -> Result<(EventRecord, usize)> {
        let (at, event) = match decode::<StoredEvent>(key, value)? {
            StoredEvent::Full(record) => {
                if (record.workspace, record.event_seq) != (workspace, event_seq) {
                    return Err(unexportable(key, "the event names another workspace or event_seq"));
                }
                return Ok((*record, 0));
            }
            StoredEvent::MessageCreated { at, channel, seq } => {
                (at, Event::MessageCreated { message: self.logged_message(channel, seq, event_seq)? })
            }
            StoredEvent::MessageUpdated { at, channel, seq } => {
                (at, Event::MessageUpdated { message: self.logged_message(channel, seq, event_seq)? })
            }
        };
        let extra = match &event {
            Event::MessageCreated { message } | Event::MessageUpdated { message } => message.text.len() + 256,
            _ => 0,
        };
        Ok((EventRecord { workspace, event_seq, at, event }, extra))
    }
}

/// One exported record: its kind, the op that writes it, and bytes it holds beyond
/// its key and value (a message's text, stored under other keys).
struct Exported {
    kind: RecordKind,
    op: Op,
    extra_bytes: usize,
}

/// The parts of a key after its tag, taken in order; a key too short or too long is
/// refused.
struct KeyParts<'a> {
    key: &'a [u8],
    rest: &'a [u8],
}

impl KeyParts<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let Some((head, rest)) = self.rest.split_first_chunk::<N>() else {
            return Err(unexportable(self.key, "the key is shorter than its layout"));
        };
        self.rest = rest;
        Ok(*head)
    }

    fn u64(&mut self) -> Result<u64> {
        self.take::<8>().map(u64::from_be_bytes)
    }

    fn user(&mut self) -> Result<UserId> {
        self.take().map(UserId::from_bytes)
    }

    fn workspace(&mut self) -> Result<WorkspaceId> {
        self.take().map(WorkspaceId::from_bytes)
    }

    fn channel(&mut self) -> Result<ChannelId> {
        self.take().map(ChannelId::from_bytes)
    }

    fn message(&mut self) -> Result<MessageId> {
        self.take().map(MessageId::from_bytes)
    }

    fn end(&self) -> Result<()> {
        match self.rest.is_empty() {
            true => Ok(()),
            false => Err(unexportable(self.key, "the key is longer than its layout")),
        }
    }
}

/// The keys after `after` (all of them for `None`).
fn part_range(after: After) -> (Bound<sled::IVec>, Bound<sled::IVec>) {
    (after.map_or(Bound::Unbounded, Bound::Excluded), Bound::Unbounded)
}

/// A value that is one big-endian `u64` (a `seq`, a time).
fn value_u64(key: &[u8], value: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = value.try_into().map_err(|_| unexportable(key, "the value is not 8 bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

fn unexportable(key: &[u8], why: &str) -> StoreError {
    StoreError::Unexportable { key: format!("{key:02x?}"), why: why.to_string() }
}

/// `Op::PutBlob` names its namespace with a `&'static str`, as the crates that own
/// namespaces write them. A namespace read from the store is kept for the life of
/// the process, once per distinct name: a store holds a handful.
fn static_namespace(name: &str) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(&known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::conformance::{ScratchDir, export_into, fill_with_every_kind_of_record};
    use crate::{SledConfig, Store};

    /// Every key tag `keys.rs` declares (`pub const NAME: u8 = 0x..;`), read from its
    /// source, so that a tag added there without a test here fails.
    fn declared_tags() -> BTreeMap<u8, &'static str> {
        let mut tags = BTreeMap::new();
        for line in include_str!("../keys.rs").lines() {
            let Some(rest) = line.strip_prefix("pub const ") else { continue };
            let Some((name, value)) = rest.split_once(": u8 = 0x") else { continue };
            let value = u8::from_str_radix(value.trim_end_matches(';'), 16).expect("a hex tag");
            assert!(tags.insert(value, name).is_none(), "tag {value:#04x} declared twice");
        }
        assert!(tags.len() > 20, "keys.rs no longer declares its tags as this test reads them");
        tags
    }

    /// The store's keys, minus what is not data: the schema version and the journal.
    fn data_keys(store: &SledStore) -> Vec<(sled::IVec, sled::IVec)> {
        store
            .tree
            .iter()
            .map(|kv| kv.unwrap())
            .filter(|(key, _)| key.as_ref() != keys::META_SCHEMA && key.as_ref() != JOURNAL_KEY)
            .collect()
    }

    /// The export of a store holding every key tag, applied to an empty sled store,
    /// gives back the same keys with the same bytes: no key is dropped, and every
    /// index and text the export skips is written again by its record's op. (Skip one
    /// tag's records in `export_record`, and this fails.)
    #[test]
    fn an_export_applied_to_an_empty_sled_store_gives_back_every_key_byte_for_byte() {
        let (source_dir, target_dir) = (ScratchDir::new("export-bytes-a"), ScratchDir::new("export-bytes-b"));
        let source = SledStore::open(&source_dir.0, &SledConfig::default()).unwrap();
        fill_with_every_kind_of_record(&source);
        let held: BTreeSet<u8> = data_keys(&source).iter().map(|(key, _)| key[0]).collect();
        for (tag, name) in declared_tags() {
            assert!(
                held.contains(&tag),
                "the fixture writes no key tagged {name}: it cannot prove it is copied"
            );
        }

        let target = SledStore::open(&target_dir.0, &SledConfig::default()).unwrap();
        let stats = export_into(&source, &target, 1_000);
        let (expected, copied) = (data_keys(&source), data_keys(&target));
        for ((key, value), (copied_key, copied_value)) in expected.iter().zip(&copied) {
            assert_eq!((copied_key, copied_value), (key, value), "key {key:02x?}");
        }
        assert_eq!(copied.len(), expected.len());
        let exported: u64 = stats.records.values().sum();
        assert_eq!(stats.keys, exported + stats.skipped_keys);
        assert_eq!(stats.keys, source.tree.len() as u64);
    }

    /// Read part by part from a closed store, opened again for every part (as
    /// `confab migrate` reads it, in bounded memory), the export neither loses nor
    /// repeats a key where one part ends and the next begins, and counts the keys
    /// for its progress first.
    #[test]
    fn an_export_read_in_parts_gives_back_every_key_byte_for_byte() {
        let (source_dir, target_dir) = (ScratchDir::new("export-parts-a"), ScratchDir::new("export-parts-b"));
        let (expected, keys_total) = {
            let source = SledStore::open(&source_dir.0, &SledConfig::default()).unwrap();
            fill_with_every_kind_of_record(&source);
            (data_keys(&source), source.tree.len() as u64)
        };
        let target = SledStore::open(&target_dir.0, &SledConfig::default()).unwrap();
        let options = ExportOptions { chunk_bytes: 1_000, part_bytes: 5_000, part_keys: 7 };
        let mut progress = Vec::new();
        let stats =
            SledStore::export_dir(&source_dir.0, &SledConfig::default(), options, &mut |batch, at| {
                progress.push(at);
                target.apply(batch)
            })
            .unwrap();
        target.flush().unwrap();
        let copied = data_keys(&target);
        for ((key, value), (copied_key, copied_value)) in expected.iter().zip(&copied) {
            assert_eq!((copied_key, copied_value), (key, value), "key {key:02x?}");
        }
        assert_eq!(copied.len(), expected.len());
        assert_eq!(stats.keys, keys_total);
        assert!(progress.iter().all(|at| at.keys_total == keys_total), "{progress:?}");
        assert_eq!(progress.last().unwrap().keys_read, keys_total);
    }

    /// Batches stay near the chunk size, each holds at least one record, and the
    /// sink hears how far the export got.
    #[test]
    fn batches_are_bounded_by_the_chunk_size_and_report_progress() {
        let dir = ScratchDir::new("export-chunks");
        let store = SledStore::open(&dir.0, &SledConfig::default()).unwrap();
        let ws = WorkspaceId::from_bytes([1; 16]);
        let mut batch = Batch::new();
        for i in 0u32..2_000 {
            let key = i.to_be_bytes().to_vec();
            batch.push(Op::PutBlob { workspace: ws, namespace: "n", key, value: vec![7; 100] });
        }
        store.apply(batch).unwrap();
        let mut seen = Vec::new();
        let stats = store
            .export(10_000, &mut |batch, progress| {
                seen.push((batch.ops.len(), progress));
                Ok(())
            })
            .unwrap();
        assert_eq!(stats.records[&RecordKind::Blob], 2_000);
        assert_eq!(stats.batches as usize, seen.len());
        // A blob takes 1 + 16 + 2 + 4 key bytes and 100 value bytes: 82 fill a chunk.
        assert!(seen[..seen.len() - 1].iter().all(|(ops, _)| *ops == 82), "{seen:?}");
        let keys_read: Vec<u64> = seen.iter().map(|(_, p)| p.keys_read).collect();
        assert!(keys_read.is_sorted() && seen.iter().all(|(_, p)| p.keys_total == stats.keys));
        assert_eq!(seen.last().unwrap().1.keys_read, stats.keys);
    }

    /// A key the export does not know fails it, naming the key, rather than being
    /// left out of the copy; so does a known key of the wrong length.
    #[test]
    fn an_unknown_or_malformed_key_fails_the_export() {
        let dir = ScratchDir::new("export-unknown");
        let store = SledStore::open(&dir.0, &SledConfig::default()).unwrap();
        let unused = (0..=u8::MAX).find(|tag| !declared_tags().contains_key(tag) && *tag < 0xF0).unwrap();
        for key in [
            vec![unused, 1, 2, 3],
            vec![keys::MENTION, 1, 2, 3],
            [&keys::user(UserId::from_bytes([3; 16]))[..], &[0]].concat(),
        ] {
            store.tree.insert(&key, b"{}".as_slice()).unwrap();
            let error = store.export(1 << 20, &mut |_, _| Ok(())).expect_err("refused");
            assert!(
                matches!(&error, StoreError::Unexportable { key: shown, .. } if *shown == format!("{key:02x?}")),
                "{error}"
            );
            store.tree.remove(&key).unwrap();
        }
        store.export(1 << 20, &mut |_, _| Ok(())).unwrap();
    }

    /// A message record whose key says another place than its contents is refused:
    /// applied, it would land elsewhere.
    #[test]
    fn a_message_stored_under_another_seq_fails_the_export() {
        let dir = ScratchDir::new("export-misplaced");
        let store = SledStore::open(&dir.0, &SledConfig::default()).unwrap();
        let (ws, ch) = (WorkspaceId::from_bytes([1; 16]), ChannelId::from_bytes([2; 16]));
        let message = crate::conformance::message(ws, ch, 3, "");
        store.tree.insert(keys::message(ch, 4), serde_json::to_vec(&message).unwrap()).unwrap();
        let error = store.export(1 << 20, &mut |_, _| Ok(())).expect_err("refused");
        assert!(error.to_string().contains("another channel or seq"), "{error}");
    }
}
