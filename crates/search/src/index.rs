//! The index itself: schema, opening (with corruption detection), updates, commits
//! and the background committer.
//!
//! There is one [`SearchIndex`] per server, holding one tantivy `IndexWriter`. Every
//! document carries its workspace id; the query side (`search.rs`) always filters on
//! it. The index is derived data: the store is the truth, and a missing, corrupt or
//! outdated index is recreated empty and rebuilt from the store by the caller.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use confab_core::{ChannelId, Message, MessageId, Millis, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::indexer::IndexWriterOptions;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term};

use crate::tokenizer;

/// Bumped whenever the schema or the analyzers change: an index written by another
/// version is recreated (and rebuilt by the caller) rather than misread.
/// Version 5: `has_link` is decided by `text_has_link`'s link detection (was a
/// substring test), so an older index's flags are rebuilt.
pub const SCHEMA_VERSION: u32 = 5;

/// How far the caller's event stream has been indexed: per workspace, the last
/// `event_seq` whose effect has been handed to this index. Opaque to this crate; it is
/// stored with every commit and handed back by [`SearchIndex::indexed_cursor`].
pub type IndexCursor = BTreeMap<WorkspaceId, u64>;

/// One message as the index sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDoc {
    pub id: MessageId,
    pub workspace: WorkspaceId,
    pub channel: ChannelId,
    pub author: UserId,
    pub thread_root: Option<MessageId>,
    pub created_at: Millis,
    pub text: String,
    pub reaction_count: u32,
    pub reply_count: u32,
    pub has_link: bool,
    pub has_mention: bool,
    /// Whether the message has files (`has:file`) and a raster image among them
    /// (`has:image`).
    #[serde(default)]
    pub has_file: bool,
    #[serde(default)]
    pub has_image: bool,
    /// The names of its files, searchable like its text (the caller looks them up:
    /// a message holds only its files' ids).
    #[serde(default)]
    pub file_names: Vec<String>,
    /// The text of its text-like files, searchable like its text but neither stored
    /// nor shown in snippets (the caller reads it: the index keeps no file contents).
    #[serde(default)]
    pub file_texts: Vec<String>,
}

impl IndexDoc {
    /// The index form of a stored message, or `None` for a deleted one (which the
    /// caller removes with [`SearchIndex::delete_message`]).
    pub fn from_message(message: &Message) -> Option<IndexDoc> {
        if message.deleted {
            return None;
        }
        Some(IndexDoc {
            id: message.id,
            workspace: message.workspace,
            channel: message.channel,
            author: message.author,
            thread_root: message.thread_root,
            created_at: message.created_at,
            text: message.text.clone(),
            reaction_count: message.reaction_count(),
            reply_count: message.reply_count,
            has_link: text_has_link(&message.text),
            has_mention: !message.mentions.is_empty(),
            has_file: !message.files.is_empty(),
            has_image: false,
            file_names: Vec::new(),
            file_texts: Vec::new(),
        })
    }
}

/// Whether the text holds a link, as the web client renders one (`markdown.js`): an
/// `http(s)://` URL, a bare `www.` host, or a `mailto:` address. `linkify` finds where
/// each candidate starts and ends, so `Awwww.` or `10:30` are not links; only
/// these schemes count because the client links nothing else (`ftp://` stays text).
pub fn text_has_link(text: &str) -> bool {
    // Scheme optional, so that `www.example.com` is found; the filter below drops the
    // other scheme-less hosts (`node.js`), which the client does not link either.
    static FINDER: std::sync::OnceLock<linkify::LinkFinder> = std::sync::OnceLock::new();
    let finder = FINDER.get_or_init(|| {
        let mut finder = linkify::LinkFinder::new();
        finder.url_must_have_scheme(false);
        finder
    });
    finder.links(text).any(|link| {
        let found = link.as_str();
        match link.kind() {
            linkify::LinkKind::Email => text[..link.start()].to_ascii_lowercase().ends_with("mailto:"),
            _ => ["http://", "https://", "www."].iter().any(|prefix| starts_with_ignore_case(found, prefix)),
        }
    })
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Run at the start of each thread the index starts (its writer's, its committer):
/// the server lowers their CPU priority there, so that indexing never takes the
/// cores from acknowledging and delivering messages.
#[derive(Clone)]
pub struct ThreadStart(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for ThreadStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThreadStart")
    }
}

/// Tuning of the index.
#[derive(Clone, Debug)]
pub struct SearchConfig {
    /// Memory the writer buffers before it flushes a segment, over all its threads.
    /// Tantivy needs at least 15 MB per thread; less is raised to that.
    pub writer_memory_bytes: usize,
    /// Indexing threads of the writer (the server passes `search.indexing_threads`).
    pub indexing_threads: usize,
    /// How often the background committer commits when there are uncommitted changes;
    /// `None` disables it (the caller then calls [`SearchIndex::commit_if_dirty`] on a
    /// timer). This bounds how long a new message takes to become searchable. Each
    /// commit writes a segment that is merged again later, so a shorter interval costs
    /// the threads that acknowledge writes more (the server passes
    /// `search.commit_interval_ms`).
    pub commit_interval: Option<Duration>,
    /// Run first on every thread the index starts; see [`ThreadStart`].
    pub thread_start: Option<ThreadStart>,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            writer_memory_bytes: 128 << 20,
            indexing_threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(2)),
            commit_interval: Some(Duration::from_millis(500)),
            thread_start: None,
        }
    }
}

/// Smallest per-thread writer budget tantivy accepts.
const MIN_MEMORY_PER_THREAD: usize = 15_000_000;

/// What [`SearchIndex::open`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenOutcome {
    /// There was no index: it is empty; rebuild it from the store.
    Fresh,
    /// A valid index: catch up from `cursor` (events after it may be missing).
    Existing { cursor: IndexCursor },
    /// The index was unreadable or from another schema version and has been
    /// recreated empty; rebuild it from the store.
    Recreated { reason: String },
}

/// Errors of opening and updating the index. Their causes are internal: the app logs
/// them and shows clients only `ErrorCode::Internal`.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index I/O error at {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("search index error: {0}")]
    Tantivy(#[from] TantivyError),
    #[error("search index is locked by another writer: {0}")]
    Locked(String),
}

impl From<IndexError> for confab_core::Error {
    fn from(_: IndexError) -> Self {
        confab_core::Error::internal()
    }
}

/// The schema's fields.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields {
    pub message: Field,
    pub workspace: Field,
    pub channel: Field,
    pub author: Field,
    pub channel_hi: Field,
    pub channel_lo: Field,
    pub author_hi: Field,
    pub author_lo: Field,
    /// The thread root's id, stored only.
    pub thread_root: Field,
    pub timestamp: Field,
    pub reactions: Field,
    pub replies: Field,
    pub has_link: Field,
    pub has_mention: Field,
    pub has_file: Field,
    pub has_image: Field,
    pub in_thread: Field,
    /// The text: exact forms with positions plus marked stems (see `tokenizer`);
    /// stored, as the snippet source.
    pub text: Field,
    /// The text of the message's files, analysed like `text` but not stored: up to
    /// `files.index_text_max_bytes` per file would bloat the document store that every
    /// hit's snippet is read from.
    pub file_text: Field,
}

pub(crate) const TIMESTAMP: &str = "timestamp";
pub(crate) const REACTIONS: &str = "reactions";
pub(crate) const REPLIES: &str = "replies";

fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Ids used as filters are indexed 16-byte terms. Channel and author, which every
    // re-ranked candidate needs, are also pairs of u64 fast fields (a column read is far
    // cheaper than a stored-document fetch); the message id and thread root are only
    // needed for the returned page, so they are stored.
    let message = b.add_bytes_field("message", INDEXED | STORED);
    let workspace = b.add_bytes_field("workspace", INDEXED);
    let channel = b.add_bytes_field("channel", INDEXED);
    let author = b.add_bytes_field("author", INDEXED);
    let channel_hi = b.add_u64_field("channel_hi", FAST);
    let channel_lo = b.add_u64_field("channel_lo", FAST);
    let author_hi = b.add_u64_field("author_hi", FAST);
    let author_lo = b.add_u64_field("author_lo", FAST);
    let thread_root = b.add_bytes_field("thread_root", STORED);
    // Range filters (dates, has:reaction) run on the fast columns.
    let timestamp = b.add_i64_field(TIMESTAMP, FAST);
    let reactions = b.add_u64_field(REACTIONS, FAST);
    let replies = b.add_u64_field(REPLIES, FAST);
    let has_link = b.add_bool_field("has_link", INDEXED);
    let has_mention = b.add_bool_field("has_mention", INDEXED);
    let has_file = b.add_bool_field("has_file", INDEXED);
    let has_image = b.add_bool_field("has_image", INDEXED);
    let in_thread = b.add_bool_field("in_thread", INDEXED);
    let analysed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(tokenizer::INDEX_ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let text = b.add_text_field("text", analysed.clone().set_stored());
    let file_text = b.add_text_field("file_text", analysed);
    let fields = Fields {
        message,
        workspace,
        channel,
        author,
        channel_hi,
        channel_lo,
        author_hi,
        author_lo,
        thread_root,
        timestamp,
        reactions,
        replies,
        has_link,
        has_mention,
        has_file,
        has_image,
        in_thread,
        text,
        file_text,
    };
    (b.build(), fields)
}

pub(crate) fn split_id(bytes: [u8; 16]) -> (u64, u64) {
    let n = u128::from_be_bytes(bytes);
    ((n >> 64) as u64, n as u64)
}

pub(crate) fn join_id(hi: u64, lo: u64) -> [u8; 16] {
    ((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes()
}

/// The JSON stored as each commit's payload.
#[derive(Serialize, Deserialize)]
struct CommitPayload {
    schema_version: u32,
    cursor: IndexCursor,
}

/// State shared with the background committer.
pub(crate) struct Inner {
    pub fields: Fields,
    /// Adds and deletes take the read side (tantivy's writer takes `&self` for them);
    /// a commit takes the write side, so nothing is added mid-commit.
    writer: RwLock<IndexWriter>,
    pub reader: IndexReader,
    /// Changes were made since the last commit.
    dirty: AtomicBool,
    pub rebuilding: AtomicBool,
    pub catching_up: AtomicBool,
    /// The cursor the next commit stores.
    pending_cursor: Mutex<IndexCursor>,
    committed_cursor: Mutex<IndexCursor>,
}

/// The server's message index. Cheap to share behind an `Arc`; all methods take
/// `&self`.
pub struct SearchIndex {
    pub(crate) inner: Arc<Inner>,
    /// Dropping this stops the committer thread.
    stop_committer: Option<mpsc::Sender<()>>,
    committer: Option<JoinHandle<()>>,
}

impl SearchIndex {
    /// Opens the index kept under `dir` (in its `tantivy/` subdirectory, which this
    /// crate owns and wipes when it must recreate the index), creating or recreating
    /// it as needed. See [`OpenOutcome`] for what the caller does next.
    pub fn open(dir: &Path, config: SearchConfig) -> Result<(SearchIndex, OpenOutcome), IndexError> {
        let path = dir.join("tantivy");
        let io_err = |source| IndexError::Io { path: path.clone(), source };
        let has_files = match std::fs::read_dir(&path) {
            Ok(mut entries) => entries.next().is_some(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_err(e)),
        };
        if has_files {
            match open_existing(&path, &config) {
                Ok((index, cursor)) => return Ok((index, OpenOutcome::Existing { cursor })),
                Err(OpenFailure::Fatal(e)) => return Err(e),
                Err(OpenFailure::Unusable(reason)) => {
                    std::fs::remove_dir_all(&path).map_err(io_err)?;
                    std::fs::create_dir_all(&path).map_err(io_err)?;
                    let index = create(Some(&path), &config)?;
                    return Ok((index, OpenOutcome::Recreated { reason }));
                }
            }
        }
        std::fs::create_dir_all(&path).map_err(io_err)?;
        Ok((create(Some(&path), &config)?, OpenOutcome::Fresh))
    }

    /// An empty index in memory: the same code path as [`SearchIndex::open`], for
    /// tests and tools.
    pub fn open_in_ram(config: SearchConfig) -> Result<SearchIndex, IndexError> {
        create(None, &config)
    }

    fn start(
        index: Index,
        fields: Fields,
        cursor: IndexCursor,
        config: &SearchConfig,
    ) -> Result<SearchIndex, IndexError> {
        let threads = config.indexing_threads.max(1);
        let per_thread = (config.writer_memory_bytes / threads).max(MIN_MEMORY_PER_THREAD);
        let options = IndexWriterOptions::builder()
            .num_worker_threads(threads)
            .memory_budget_per_thread(per_thread)
            .build();
        // Created on a thread of its own: the writer's threads (indexing, merging) start
        // from it and inherit what `thread_start` sets. Its later indexing threads start
        // from the thread that commits, the committer, which runs it too.
        let thread_start = config.thread_start.clone();
        let created = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    if let Some(start) = &thread_start {
                        (start.0)();
                    }
                    index.writer_with_options(options)
                })
                .join()
        });
        let created = created.map_err(|_| IndexError::Io {
            path: PathBuf::from("<index writer>"),
            source: std::io::Error::other("panicked"),
        })?;
        let writer = created.map_err(|e| match e {
            TantivyError::LockFailure(err, _) => IndexError::Locked(err.to_string()),
            other => IndexError::Tantivy(other),
        })?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let inner = Arc::new(Inner {
            fields,
            writer: RwLock::new(writer),
            reader,
            dirty: AtomicBool::new(false),
            rebuilding: AtomicBool::new(false),
            catching_up: AtomicBool::new(false),
            pending_cursor: Mutex::new(cursor.clone()),
            committed_cursor: Mutex::new(cursor),
        });
        let mut search_index = SearchIndex { inner, stop_committer: None, committer: None };
        if let Some(interval) = config.commit_interval {
            let (stop, stopped) = mpsc::channel();
            let weak = Arc::downgrade(&search_index.inner);
            let thread_start = config.thread_start.clone();
            let handle = std::thread::Builder::new()
                .name("search-committer".into())
                .spawn(move || {
                    if let Some(start) = thread_start {
                        (start.0)();
                    }
                    run_committer(weak, stopped, interval)
                })
                .map_err(|source| IndexError::Io { path: PathBuf::from("<committer thread>"), source })?;
            search_index.stop_committer = Some(stop);
            search_index.committer = Some(handle);
        }
        Ok(search_index)
    }

    /// Upserts messages: each replaces any indexed document with the same id.
    pub fn index_messages(&self, docs: &[IndexDoc]) -> Result<(), IndexError> {
        let writer = self.inner.writer_read();
        for doc in docs {
            writer.delete_term(Term::from_field_bytes(self.inner.fields.message, &doc.id.to_bytes()));
            writer.add_document(self.inner.document(doc))?;
        }
        self.inner.mark_dirty(!docs.is_empty());
        Ok(())
    }

    /// Adds messages without first deleting older versions, for (re)building: use it
    /// only when none of these messages is in the index (after a `Fresh` or
    /// `Recreated` open, or after [`SearchIndex::delete_workspace`]), else a message
    /// would be found twice. Skips the per-message delete, which is most of the cost
    /// of an upsert. Returns how many documents were added.
    pub fn bulk_add(&self, docs: impl IntoIterator<Item = IndexDoc>) -> Result<usize, IndexError> {
        let writer = self.inner.writer_read();
        let mut added = 0;
        for doc in docs {
            writer.add_document(self.inner.document(&doc))?;
            added += 1;
        }
        self.inner.mark_dirty(added > 0);
        Ok(added)
    }

    /// Re-indexes a message whose reaction or reply count changed. The caller passes
    /// the whole document again (a document cannot be patched in place in tantivy).
    pub fn update_counts(&self, doc: &IndexDoc) -> Result<(), IndexError> {
        self.index_messages(std::slice::from_ref(doc))
    }

    pub fn delete_message(&self, id: MessageId) -> Result<(), IndexError> {
        self.inner
            .writer_read()
            .delete_term(Term::from_field_bytes(self.inner.fields.message, &id.to_bytes()));
        self.inner.mark_dirty(true);
        Ok(())
    }

    /// Removes every message of a workspace.
    pub fn delete_workspace(&self, workspace: WorkspaceId) -> Result<(), IndexError> {
        self.inner
            .writer_read()
            .delete_term(Term::from_field_bytes(self.inner.fields.workspace, &workspace.to_bytes()));
        self.inner.mark_dirty(true);
        Ok(())
    }

    /// Records how far the caller has handed events to the index; the next commit
    /// (explicit or background) stores it. Call it only after the changes up to
    /// `cursor` have been passed to the update methods.
    pub fn advance_cursor(&self, cursor: IndexCursor) {
        *lock(&self.inner.pending_cursor) = cursor;
        self.inner.mark_dirty(true);
    }

    /// Records `cursor` and commits now: every change made so far becomes durable
    /// and searchable before this returns.
    pub fn commit(&self, cursor: IndexCursor) -> Result<(), IndexError> {
        *lock(&self.inner.pending_cursor) = cursor;
        self.inner.commit()
    }

    /// Commits if anything changed since the last commit; returns whether it did.
    /// The background committer calls this; so may a caller that disabled it.
    pub fn commit_if_dirty(&self) -> Result<bool, IndexError> {
        self.inner.commit_if_dirty()
    }

    /// The cursor of the last commit.
    pub fn indexed_cursor(&self) -> IndexCursor {
        lock(&self.inner.committed_cursor).clone()
    }

    /// While set, [`SearchIndex::search`](crate::SearchIndex::search) answers
    /// `ErrorCode::IndexRebuilding`. The caller sets it during a rebuild from the
    /// store and clears it after the final commit.
    pub fn set_rebuilding(&self, rebuilding: bool) {
        self.inner.rebuilding.store(rebuilding, Ordering::SeqCst);
    }

    pub fn is_rebuilding(&self) -> bool {
        self.inner.rebuilding.load(Ordering::SeqCst)
    }

    /// While set, search results carry `partial: true`: the caller is replaying the
    /// events after the stored cursor, so recent changes may be missing.
    pub fn set_catching_up(&self, catching_up: bool) {
        self.inner.catching_up.store(catching_up, Ordering::SeqCst);
    }

    /// Number of searchable documents (as of the last commit).
    pub fn num_docs(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }
}

impl Drop for SearchIndex {
    fn drop(&mut self) {
        // Closing the channel wakes the committer, which then exits.
        drop(self.stop_committer.take());
        if let Some(handle) = self.committer.take() {
            let _ = handle.join();
        }
        if let Err(e) = self.inner.commit_if_dirty() {
            tracing::warn!(error = %e, "final search index commit failed; the next open catches up from the last cursor");
        }
    }
}

impl Inner {
    fn writer_read(&self) -> RwLockReadGuard<'_, IndexWriter> {
        // A panic while holding the lock leaves the writer itself consistent.
        self.writer.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn mark_dirty(&self, changed: bool) {
        if changed {
            self.dirty.store(true, Ordering::SeqCst);
        }
    }

    fn commit_if_dirty(&self) -> Result<bool, IndexError> {
        if !self.dirty.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.commit()?;
        Ok(true)
    }

    fn commit(&self) -> Result<(), IndexError> {
        let mut writer = self.writer.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Cleared under the write lock: changes made after it wait for this commit and
        // then set it again.
        self.dirty.store(false, Ordering::SeqCst);
        let cursor = lock(&self.pending_cursor).clone();
        let result = commit_with_payload(&mut writer, &cursor);
        drop(writer);
        if let Err(e) = result {
            self.dirty.store(true, Ordering::SeqCst);
            return Err(e);
        }
        *lock(&self.committed_cursor) = cursor;
        self.reader.reload()?;
        Ok(())
    }

    fn document(&self, doc: &IndexDoc) -> TantivyDocument {
        let f = &self.fields;
        let mut d = TantivyDocument::new();
        let message = doc.id.to_bytes();
        let channel = doc.channel.to_bytes();
        let author = doc.author.to_bytes();
        d.add_bytes(f.message, &message);
        d.add_bytes(f.workspace, &doc.workspace.to_bytes());
        d.add_bytes(f.channel, &channel);
        d.add_bytes(f.author, &author);
        for (bytes, hi, lo) in [(channel, f.channel_hi, f.channel_lo), (author, f.author_hi, f.author_lo)] {
            let (h, l) = split_id(bytes);
            d.add_u64(hi, h);
            d.add_u64(lo, l);
        }
        if let Some(root) = doc.thread_root {
            d.add_bytes(f.thread_root, &root.to_bytes());
        }
        d.add_i64(f.timestamp, doc.created_at);
        d.add_u64(f.reactions, u64::from(doc.reaction_count));
        d.add_u64(f.replies, u64::from(doc.reply_count));
        d.add_bool(f.has_link, doc.has_link);
        d.add_bool(f.has_mention, doc.has_mention);
        d.add_bool(f.has_file, doc.has_file);
        d.add_bool(f.has_image, doc.has_image);
        d.add_bool(f.in_thread, doc.thread_root.is_some() || doc.reply_count > 0);
        d.add_text(f.text, &doc.text);
        // File names are further values of the text: found by the same words, never
        // part of a phrase across values, and not shown in the snippet (its first value).
        for name in &doc.file_names {
            d.add_text(f.text, name);
        }
        for text in &doc.file_texts {
            d.add_text(f.file_text, text);
        }
        d
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn commit_with_payload(writer: &mut IndexWriter, cursor: &IndexCursor) -> Result<(), IndexError> {
    let payload = CommitPayload { schema_version: SCHEMA_VERSION, cursor: cursor.clone() };
    let json = serde_json::to_string(&payload)
        .map_err(|e| IndexError::Tantivy(TantivyError::InternalError(e.to_string())))?;
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&json);
    prepared.commit()?;
    Ok(())
}

/// Creates an empty index (in `path`, or in RAM) and commits an empty cursor, so a
/// later open finds a valid payload.
fn create(path: Option<&Path>, config: &SearchConfig) -> Result<SearchIndex, IndexError> {
    let (schema, fields) = build_schema();
    let index = match path {
        Some(path) => Index::create_in_dir(path, schema)?,
        None => Index::create_in_ram(schema),
    };
    tokenizer::register(index.tokenizers());
    let search_index = SearchIndex::start(index, fields, IndexCursor::new(), config)?;
    search_index.inner.commit()?;
    Ok(search_index)
}

enum OpenFailure {
    /// The index cannot be used: recreate it.
    Unusable(String),
    /// Something outside the index is wrong (e.g. another writer holds the lock).
    Fatal(IndexError),
}

fn open_existing(path: &Path, config: &SearchConfig) -> Result<(SearchIndex, IndexCursor), OpenFailure> {
    let unusable = |what: &str, e: &dyn std::fmt::Display| OpenFailure::Unusable(format!("{what}: {e}"));
    let directory = MmapDirectory::open(path).map_err(|e| unusable("cannot open the index directory", &e))?;
    let index = Index::open(directory).map_err(|e| unusable("cannot open the index", &e))?;
    let (schema, fields) = build_schema();
    if index.schema() != schema {
        return Err(OpenFailure::Unusable("the index has another schema".into()));
    }
    tokenizer::register(index.tokenizers());
    let metas = index.load_metas().map_err(|e| unusable("cannot read the index metadata", &e))?;
    let payload: CommitPayload = metas
        .payload
        .as_deref()
        .ok_or_else(|| OpenFailure::Unusable("the last commit has no cursor".into()))
        .and_then(|json| {
            serde_json::from_str(json).map_err(|e| unusable("the commit cursor is unreadable", &e))
        })?;
    if payload.schema_version != SCHEMA_VERSION {
        return Err(OpenFailure::Unusable(format!(
            "the index has schema version {}, this build uses {SCHEMA_VERSION}",
            payload.schema_version
        )));
    }
    // Opening a reader opens every segment's files: missing or truncated ones show here.
    let probe = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into();
    let probe: IndexReader = probe.map_err(|e| unusable("cannot read the index segments", &e))?;
    verify_segments(&probe).map_err(|e| unusable("an index segment is damaged", &e))?;
    drop(probe);
    match SearchIndex::start(index, fields, payload.cursor.clone(), config) {
        Ok(search_index) => Ok((search_index, payload.cursor)),
        Err(e @ IndexError::Locked(_)) => Err(OpenFailure::Fatal(e)),
        Err(e) => Err(unusable("cannot open the index writer", &e)),
    }
}

/// Touches every segment's term dictionaries and stored-document store, so damage
/// surfaces at open time rather than at the first search.
fn verify_segments(reader: &IndexReader) -> tantivy::Result<()> {
    let searcher = reader.searcher();
    let schema = searcher.schema().clone();
    for segment in searcher.segment_readers() {
        for (field, entry) in schema.fields() {
            if entry.is_indexed() {
                segment.inverted_index(field)?;
            }
        }
        segment.get_store_reader(1)?;
    }
    Ok(())
}

fn run_committer(inner: Weak<Inner>, stopped: mpsc::Receiver<()>, interval: Duration) {
    loop {
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = inner.commit_if_dirty() {
            tracing::error!(error = %e, "background search index commit failed; will retry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_and_join() {
        let id = MessageId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap();
        let (hi, lo) = split_id(id.to_bytes());
        assert_eq!(MessageId::from_bytes(join_id(hi, lo)), id);
    }

    #[test]
    fn links_are_detected() {
        assert!(text_has_link("see https://example.com"));
        assert!(text_has_link("(HTTP://example.com/a_(b))."));
        assert!(text_has_link("WWW.example.com"));
        assert!(text_has_link("read [the guide](https://example.com/guide)"));
        assert!(text_has_link("[mail us](mailto:team@example.com)"));
        assert!(!text_has_link("no link here: 10:30"));
    }

    #[test]
    fn words_that_merely_contain_link_fragments_are_not_links() {
        // Each of these matched the substring test this replaced.
        assert!(!text_has_link("Awwww."));
        assert!(!text_has_link("Awwww.hmm that is sweet"));
        assert!(!text_has_link("the string \"https://\" alone"));
        assert!(!text_has_link("node.js and www."));
        assert!(!text_has_link("write to team@example.com"));
        assert!(!text_has_link("ftp://example.com/file"));
    }
}
