//! Derived data: the search index and the suggestion statistics, both computed from
//! the store and kept current from the stream of committed events.
//!
//! The committer hands every durable batch of events to one task here, which applies
//! them to the index and the recommender off the write path. At start-up the task
//! first catches up: the recommender is rebuilt from the stored messages, and the
//! index either replays the events after the cursor it committed last or, if it was
//! missing or corrupt, is rebuilt from the store (search answers `index_rebuilding`
//! meanwhile). Events that arrive during the catch-up wait in the queue; applying
//! them again is harmless because index updates are upserts.
//!
//! A reaction changes only its message's counts in the index, but tantivy can only
//! replace a whole document, text and files' text included. So reactions mark their
//! message ([`PendingCounts`]), and marked messages are re-indexed once every
//! [`COUNT_REFRESH`]: a flood of reactions on a long message costs one re-index a
//! second, not one per reaction. The index's cursor stays before a marked message's
//! first reaction until it is re-indexed, so a restart replays it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab_core::{Event, EventRecord, Message, MessageId, WorkspaceId};
use confab_recommend::{ChannelInfo, MessageEvent, ReactionEvent, Recommender};
use confab_search::{IndexCursor, IndexDoc, OpenOutcome, SearchIndex};
use confab_store::Store;
use tokio::sync::mpsc;

use crate::lifecycle::Progress;

/// Largest number of events replayed per workspace before rebuilding it instead.
const REPLAY_LIMIT: usize = 100_000;

/// Bytes of text (messages and files) a rebuild collects before handing them to the
/// index: the text of files makes a workspace's documents far larger than its messages.
const REBUILD_BATCH_BYTES: usize = 32 << 20;

/// Documents a rebuild collects at most before handing them to the index: short
/// messages never reach [`REBUILD_BATCH_BYTES`], and each document costs far more
/// than its text (ids, names, counts).
const REBUILD_BATCH_DOCS: usize = 5_000;

/// The documents of a rebuild on their way to the index: full at
/// [`REBUILD_BATCH_DOCS`] documents or [`REBUILD_BATCH_BYTES`] of text, whichever
/// comes first, so a rebuild holds a bounded part of a workspace at a time.
#[derive(Default)]
struct RebuildBatch {
    docs: Vec<IndexDoc>,
    bytes: usize,
}

impl RebuildBatch {
    /// Adds a document; true when the batch is full and should be handed over.
    fn push(&mut self, doc: IndexDoc) -> bool {
        self.bytes += doc.text.len() + doc.file_texts.iter().map(String::len).sum::<usize>();
        self.docs.push(doc);
        self.docs.len() >= REBUILD_BATCH_DOCS || self.bytes >= REBUILD_BATCH_BYTES
    }

    fn take(&mut self) -> Vec<IndexDoc> {
        self.bytes = 0;
        std::mem::take(&mut self.docs)
    }
}

pub(crate) struct Derived {
    pub store: Arc<dyn Store>,
    pub recommender: Arc<Recommender>,
    pub search: Arc<SearchIndex>,
    pub files: crate::files::FileIndexing,
    pub pending_counts: Mutex<PendingCounts>,
    /// The thread that applies events, at `search.background_nice`: index updates and
    /// store look-ups block, and must not take the cores from the write path.
    pub pool: crate::background::BackgroundPool,
}

/// How long a reaction may wait before its message's counts are re-indexed.
const COUNT_REFRESH: Duration = Duration::from_secs(1);

/// Messages whose reaction counts changed since they were last indexed.
#[derive(Default)]
pub(crate) struct PendingCounts {
    /// Message → its workspace and the `event_seq` of its first reaction not indexed.
    messages: HashMap<MessageId, (WorkspaceId, u64)>,
    /// The newest event handed over, per workspace.
    seen: IndexCursor,
    /// When the oldest marked message was marked.
    since: Option<Instant>,
}

impl PendingCounts {
    fn mark(&mut self, ws: WorkspaceId, message: MessageId, event_seq: u64) {
        self.messages.entry(message).or_insert((ws, event_seq));
        self.since.get_or_insert_with(Instant::now);
    }

    /// The message was (re-)indexed whole or deleted: nothing of it is pending.
    fn settled(&mut self, message: MessageId) {
        self.messages.remove(&message);
    }

    fn due(&self) -> bool {
        self.since.is_some_and(|since| since.elapsed() >= COUNT_REFRESH)
    }

    fn take(&mut self) -> Vec<MessageId> {
        self.since = None;
        self.messages.drain().map(|(id, _)| id).collect()
    }

    /// How far the index has applied every event: what was seen, but before the first
    /// reaction of each marked message.
    fn cursor(&self) -> IndexCursor {
        let mut cursor = self.seen.clone();
        for &(ws, first) in self.messages.values() {
            let at = cursor.entry(ws).or_insert(0);
            *at = (*at).min(first.saturating_sub(1));
        }
        cursor
    }
}

pub(crate) fn start(
    derived: Arc<Derived>,
    outcome: OpenOutcome,
    mut rx: mpsc::UnboundedReceiver<Vec<EventRecord>>,
) {
    if !matches!(outcome, OpenOutcome::Existing { .. }) {
        derived.search.set_rebuilding(true);
    } else {
        derived.search.set_catching_up(true);
    }
    tokio::spawn(async move {
        let catch_up = derived.clone();
        let caught_up = derived.pool.run(move || catch_up.catch_up(outcome)).await;
        // What the catch-up already covered: queued events up to here are skipped, so
        // nothing is counted twice.
        let covered = match caught_up {
            Ok(Ok(cursor)) => cursor,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "catching up derived data failed");
                IndexCursor::new()
            }
            Err(e) => {
                tracing::error!(error = %e, "catching up derived data did not finish");
                IndexCursor::new()
            }
        };
        derived.search.set_rebuilding(false);
        derived.search.set_catching_up(false);
        loop {
            let applying = derived.clone();
            // On the pool's low-priority thread, off the async workers.
            let applied = match tokio::time::timeout(COUNT_REFRESH, rx.recv()).await {
                Ok(Some(mut events)) => {
                    events.retain(|e| covered.get(&e.workspace).is_none_or(|done| e.event_seq > *done));
                    derived.pool.run(move || applying.apply_all(&events)).await
                }
                Ok(None) => break,
                // Quiet: re-index what reactions marked, if anything.
                Err(_) => derived.pool.run(move || applying.refresh_counts(false)).await,
            };
            if let Err(e) = applied {
                tracing::error!(error = %e, "applying events to derived data failed");
            }
        }
    });
}

impl Derived {
    fn catch_up(&self, outcome: OpenOutcome) -> Result<IndexCursor, String> {
        let workspaces = self.store.workspace_ids().map_err(|e| e.to_string())?;
        let mut cursor: IndexCursor = match &outcome {
            OpenOutcome::Existing { cursor } => cursor.clone(),
            _ => IndexCursor::new(),
        };
        for ws in &workspaces {
            self.rebuild_recommender(*ws)?;
            let newest = self.store.event_bounds(*ws).map_err(|e| e.to_string())?.map_or(0, |(_, last)| last);
            let done = cursor.get(ws).copied();
            let replayed = match done {
                Some(after) if after >= newest => true,
                Some(after) => self.replay(*ws, after, newest)?,
                None => false,
            };
            if !replayed {
                self.rebuild_index(*ws, &mut |_| {})?;
            }
            cursor.insert(*ws, newest);
        }
        self.search.commit(cursor.clone()).map_err(|e| e.to_string())?;
        tracing::info!(
            workspaces = workspaces.len(),
            documents = self.search.num_docs(),
            "search index and suggestions are current"
        );
        Ok(cursor)
    }

    /// Replays a workspace's logged events after `after`; false if the log no longer
    /// holds them all (then the workspace is rebuilt instead).
    fn replay(&self, ws: WorkspaceId, after: u64, newest: u64) -> Result<bool, String> {
        if newest - after > REPLAY_LIMIT as u64 {
            return Ok(false);
        }
        let events = self.store.events(ws, after, REPLAY_LIMIT).map_err(|e| e.to_string())?;
        if events.first().is_some_and(|e| e.event_seq != after + 1) {
            return Ok(false);
        }
        let mut pending = PendingCounts::default();
        for record in &events {
            self.apply_to_index(record, &mut pending);
        }
        // The catch-up commits its cursor next: nothing is left pending.
        self.reindex_counts(pending.take());
        Ok(true)
    }

    /// Rebuilds these workspaces' part of the index from the store and commits.
    /// Returns how many documents the index holds afterwards. `progress` is told the
    /// messages read, of the channels' last `seq`s together.
    pub(crate) fn reindex(
        &self,
        workspaces: &[WorkspaceId],
        progress: &mut dyn FnMut(Progress),
    ) -> Result<usize, String> {
        let mut read = Progress::default();
        for ws in workspaces {
            for channel in self.store.channels(*ws).map_err(|e| e.to_string())? {
                read.total += self.store.last_seq(channel.id).map_err(|e| e.to_string())?;
            }
        }
        progress(read);
        let mut cursor = self.search.indexed_cursor();
        for ws in workspaces {
            // The log position first: events after it are applied again, harmlessly.
            let newest = self.store.event_bounds(*ws).map_err(|e| e.to_string())?.map_or(0, |(_, last)| last);
            self.rebuild_index(*ws, &mut |messages| {
                read.done += messages;
                progress(read);
            })?;
            cursor.insert(*ws, newest);
        }
        self.search.commit(cursor).map_err(|e| e.to_string())?;
        Ok(self.search.num_docs() as usize)
    }

    /// Re-adds a workspace's messages to the index, a bounded batch at a time
    /// ([`RebuildBatch`]); `read` is told how many messages each batch read.
    fn rebuild_index(&self, ws: WorkspaceId, read: &mut dyn FnMut(u64)) -> Result<(), String> {
        self.search.delete_workspace(ws).map_err(|e| e.to_string())?;
        let (mut batch, mut messages, mut failed) = (RebuildBatch::default(), 0, None);
        self.store
            .scan_messages(ws, &mut |m| {
                messages += 1;
                let Some(doc) = self.files.index_doc(&m) else { return true };
                if batch.push(doc) {
                    failed = self.search.bulk_add(batch.take()).err();
                    read(std::mem::take(&mut messages));
                }
                failed.is_none()
            })
            .map_err(|e| e.to_string())?;
        if let Some(e) = failed {
            return Err(e.to_string());
        }
        self.search.bulk_add(batch.take()).map_err(|e| e.to_string())?;
        read(messages);
        Ok(())
    }

    /// Feeds a workspace's channels, memberships and messages (oldest first) to the
    /// recommender, which keeps statistics in memory only.
    pub(crate) fn rebuild_recommender(&self, ws: WorkspaceId) -> Result<(), String> {
        let store = &self.store;
        self.recommender.forget_workspace(ws);
        for channel in store.channels(ws).map_err(|e| e.to_string())? {
            self.recommender.on_channel(ws, &channel_info(&channel));
            if channel.archived {
                self.recommender.on_channel_archived(ws, channel.id, true);
            }
            for (user, _) in store.channel_members(channel.id).map_err(|e| e.to_string())? {
                self.recommender.on_join(ws, channel.id, user);
            }
        }
        let mut messages: Vec<Message> = Vec::new();
        store
            .scan_messages(ws, &mut |m| {
                if !m.deleted {
                    messages.push(m);
                }
                true
            })
            .map_err(|e| e.to_string())?;
        // Messages an erased account's tombstone still authors (kept by the workspace's
        // erasure policy) teach the suggestions nothing.
        let erased =
            crate::lifecycle::erasure::erased_among(store.as_ref(), messages.iter().map(|m| m.author));
        messages.retain(|m| !erased.get(&m.author).copied().unwrap_or(false));
        messages.sort_by_key(|m| (m.created_at, m.id));
        let authors: std::collections::HashMap<_, _> = messages.iter().map(|m| (m.id, m.author)).collect();
        for m in &messages {
            let reply_to_author = m.thread_root.and_then(|root| authors.get(&root).copied());
            self.recommender.on_message(ws, &message_event(m, reply_to_author));
            for reaction in &m.reactions {
                for user in &reaction.users {
                    self.recommender.on_reaction(
                        ws,
                        &ReactionEvent {
                            channel: m.channel,
                            message_author: m.author,
                            message_text: &m.text,
                            user: *user,
                            emoji: &reaction.emoji,
                            at: m.created_at,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    fn apply_all(&self, events: &[EventRecord]) {
        {
            let mut pending = self.pending();
            if pending.seen.is_empty() {
                pending.seen = self.search.indexed_cursor();
            }
            for record in events {
                self.apply_to_index(record, &mut pending);
                self.apply_to_recommender(record);
                pending.seen.insert(record.workspace, record.event_seq);
            }
        }
        self.refresh_counts(true);
        if let Some(last) = events.last() {
            // How far the index and suggestions trail the log (plus up to one commit
            // interval before the index shows it).
            let lag_ms = crate::now_ms().saturating_sub(last.at).max(0);
            metrics::histogram!("confab_derived_lag_seconds").record(lag_ms as f64 / 1000.0);
        }
    }

    fn message(&self, id: confab_core::MessageId) -> Option<Message> {
        self.store.message(id).ok().flatten()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, PendingCounts> {
        self.pending_counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Re-indexes the messages reactions marked (only once [`COUNT_REFRESH`] has
    /// passed, if `when_due`), then hands the index its cursor; the background
    /// committer stores it with its next commit.
    fn refresh_counts(&self, when_due: bool) {
        let mut pending = self.pending();
        if !when_due || pending.due() {
            self.reindex_counts(pending.take());
        }
        if !pending.seen.is_empty() {
            self.search.advance_cursor(pending.cursor());
        }
    }

    /// Re-indexes these messages as they are now (their counts changed).
    fn reindex_counts(&self, messages: Vec<MessageId>) {
        for id in messages {
            let doc = self.message(id).as_ref().and_then(|m| self.files.index_doc(m));
            if let Some(Err(e)) = doc.map(|doc| self.search.update_counts(&doc)) {
                tracing::error!(error = %e, message = %id, "re-indexing a message's counts failed");
            }
        }
    }

    fn apply_to_index(&self, record: &EventRecord, pending: &mut PendingCounts) {
        let result = match &record.event {
            Event::MessageCreated { message } | Event::MessageUpdated { message } => {
                pending.settled(message.id);
                match self.files.index_doc(message) {
                    Some(doc) => self.search.index_messages(&[doc]),
                    None => self.search.delete_message(message.id),
                }
            }
            Event::MessageDeleted { message_id, .. } => {
                pending.settled(*message_id);
                self.search.delete_message(*message_id)
            }
            Event::ReactionAdded { message_id, .. } | Event::ReactionRemoved { message_id, .. } => {
                pending.mark(record.workspace, *message_id, record.event_seq);
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, event_seq = record.event_seq, "indexing an event failed");
        }
    }

    fn apply_to_recommender(&self, record: &EventRecord) {
        let ws = record.workspace;
        let r = &self.recommender;
        match &record.event {
            Event::ChannelCreated { channel } | Event::ChannelUpdated { channel } => {
                r.on_channel(ws, &channel_info(channel));
                r.on_channel_archived(ws, channel.id, channel.archived);
            }
            Event::MemberJoined { channel: Some(channel), user } => r.on_join(ws, *channel, *user),
            Event::MemberLeft { channel: Some(channel), user } => r.on_leave(ws, *channel, *user),
            Event::MessageCreated { message } => {
                let reply_to_author =
                    message.thread_root.and_then(|root| self.message(root)).map(|m| m.author);
                r.on_message(ws, &message_event(message, reply_to_author));
            }
            Event::ReactionAdded { channel, message_id, emoji, user }
            | Event::ReactionRemoved { channel, message_id, emoji, user } => {
                let Some(message) = self.message(*message_id) else { return };
                let reaction = ReactionEvent {
                    channel: *channel,
                    message_author: message.author,
                    message_text: &message.text,
                    user: *user,
                    emoji,
                    at: record.at,
                };
                match record.event {
                    Event::ReactionAdded { .. } => r.on_reaction(ws, &reaction),
                    _ => r.on_reaction_removed(ws, &reaction),
                }
            }
            _ => {}
        }
    }
}

fn channel_info(channel: &confab_core::Channel) -> ChannelInfo {
    ChannelInfo {
        id: channel.id,
        name: channel.name.clone(),
        kind: channel.kind,
        created_at: channel.created_at,
        topic: channel.topic.clone(),
    }
}

fn message_event(m: &Message, reply_to_author: Option<confab_core::UserId>) -> MessageEvent<'_> {
    MessageEvent {
        channel: m.channel,
        author: m.author,
        text: &m.text,
        at: m.created_at,
        mentions: &m.mentions,
        reply_to_author,
    }
}

#[cfg(test)]
mod tests {
    use confab_core::{ChannelId, MessageId, UserId, WorkspaceId};

    use super::*;

    fn doc(text: &str) -> IndexDoc {
        let id = ulid::Ulid::new;
        IndexDoc::from_message(&Message {
            id: MessageId::from_ulid(id()),
            workspace: WorkspaceId::from_ulid(id()),
            channel: ChannelId::from_ulid(id()),
            seq: 1,
            author: UserId::from_ulid(id()),
            text: text.to_string(),
            created_at: 0,
            edited_at: None,
            deleted: false,
            thread_root: None,
            reply_count: 0,
            last_reply_at: None,
            reactions: Vec::new(),
            mentions: Vec::new(),
            client_msg_id: None,
            files: Vec::new(),
        })
        .unwrap()
    }

    /// A rebuild hands short messages over by the thousand, not once a whole
    /// workspace's text reaches the byte bound (a million one-line messages made one
    /// batch of every document).
    #[test]
    fn a_rebuild_batch_is_bounded_in_documents_and_in_bytes() {
        let mut batch = RebuildBatch::default();
        let full_at = (1..=REBUILD_BATCH_DOCS + 1).find(|_| batch.push(doc("a short message")));
        assert_eq!(full_at, Some(REBUILD_BATCH_DOCS));
        assert_eq!(batch.take().len(), REBUILD_BATCH_DOCS);
        assert!(!batch.push(doc("one more")), "taking empties the batch");
        assert_eq!(batch.take().len(), 1);
        let mut large = doc("");
        large.file_texts.push("x".repeat(REBUILD_BATCH_BYTES));
        assert!(batch.push(large), "one large file's text fills a batch by itself");
    }

    /// Reactions mark their message once, however many; the cursor stays before the
    /// first until it is re-indexed, and a whole re-index (an edit) settles it.
    #[test]
    fn reactions_coalesce_and_hold_the_cursor_back() {
        let ws = WorkspaceId::from_ulid(ulid::Ulid::new());
        let (hot, other) = (MessageId::from_ulid(ulid::Ulid::new()), MessageId::from_ulid(ulid::Ulid::new()));
        let mut pending = PendingCounts::default();
        pending.seen.insert(ws, 10);
        for seq in 11..=110 {
            pending.mark(ws, hot, seq);
            pending.seen.insert(ws, seq);
        }
        pending.mark(ws, other, 111);
        pending.seen.insert(ws, 111);
        assert_eq!(pending.messages.len(), 2, "a hundred reactions, one message to re-index");
        assert_eq!(pending.cursor()[&ws], 10, "not past the first reaction not indexed");
        assert!(!pending.due(), "not before COUNT_REFRESH");

        pending.settled(hot);
        assert_eq!(pending.cursor()[&ws], 110, "the edit re-indexed it whole");
        assert_eq!(pending.take(), vec![other]);
        assert_eq!(pending.cursor()[&ws], 111);
        assert!(!pending.due());
    }
}
