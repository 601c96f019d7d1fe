//! Confab's use cases. Every request of the HTTP API and every WebSocket frame ends
//! up in one method of [`App`], which checks who may do it, validates it, writes it
//! through the store, and hands the resulting events to the hub once they are
//! durable.
//!
//! Invariants:
//! - Authorisation lives here, not in handlers: every method takes the [`Caller`]
//!   and answers `*_not_found` for anything the caller may not know exists.
//! - Writes to one workspace are serialised by that workspace's lock in the
//!   [`directory`]; the lock is never held across an await.
//! - A write is acknowledged only after the [`committer`] has flushed it.
//! - The cached [`WorkspaceState`] of a workspace is one object for the life of the
//!   process: a failed write reloads it in place under its write lock, so no writer
//!   can hold a copy whose counters are older than the store's.
//! - Fail-stop: once a store write or flush has failed, every later write answers
//!   `unavailable` (503) until the process is restarted; reads go on.

mod admin;
pub mod auth;
mod background;
mod channels;
pub mod cluster;
pub mod committer;
pub mod config;
pub mod consent;
mod derived;
pub mod directory;
pub mod error;
pub mod files;
mod housekeeping;
pub mod hub;
pub mod lifecycle;
mod live;
mod messages;
pub mod models;
mod passwords;
pub mod personal;
pub mod pins;
pub mod profile;
pub mod relay;
pub mod search;
pub mod sessions;
pub mod slack_bots;
pub mod slack_import;
pub mod suggest;
pub mod threads;
mod workspaces;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use confab_core::validate::Limits;
use confab_core::{Error, Event, EventRecord, Millis, UserId, WorkspaceId};
use confab_store::{Batch, Op, Store, StoreError};
use governor::{DefaultKeyedRateLimiter, Quota};
use parking_lot::RwLock;

pub use auth::{AuthOutcome, Caller, SignupRequest};
pub use channels::{ChannelMemberView, CreateChannel, UpdateChannel};
pub use config::AppConfig;
pub use error::{AppError, Result};
pub use live::{Hello, HelloWorkspace, Replay};
pub use messages::{HistoryQuery, PostMessage};
pub use profile::UpdateProfile;
pub use sessions::{ChangePassword, SessionGrant};
pub use workspaces::{CreateInvite, InvitePreview, WorkspaceRef};

use confab_consent::Ledger;
use confab_recommend::{RecommendConfig, Recommender};
use confab_search::{SearchConfig, SearchIndex};

use crate::committer::{Committer, Durable};
use crate::directory::{Directory, WorkspaceState};
use crate::hub::Hub;

/// How often expired sessions and old search logs are deleted.
const HOUSEKEEPING_PERIOD: std::time::Duration = std::time::Duration::from_secs(3600);

/// Most events one write prunes from the log (see [`App::finish`]). Removing an
/// event costs sled 10–20 µs of the write path's time (measured on a prune of 2,000,
/// which stalled every acknowledgement for 20–40 ms once a second at 2,000 msg/s), so
/// a step of 32 adds about 0.3–0.6 ms to the write that carries it.
pub const MAX_PRUNE_STEP: u64 = 32;

/// The application: shared by every request handler and connection.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    config: AppConfig,
    limits: Limits,
    directory: Arc<Directory>,
    hub: Arc<Hub>,
    committer: Committer,
    /// Set when a store write or flush failed: see the crate docs (fail-stop).
    writes_stopped: Arc<AtomicBool>,
    auth: auth::AuthState,
    message_limiter: DefaultKeyedRateLimiter<UserId>,
    /// Every other mutation, per user (`limits.writes_per_second`).
    write_limiter: DefaultKeyedRateLimiter<UserId>,
    /// Bytes of message text posted and edited, per user (`limits.text_bytes_per_second`).
    text_limiter: DefaultKeyedRateLimiter<UserId>,
    /// Searches, per user (`limits.searches_per_second`).
    search_limiter: DefaultKeyedRateLimiter<UserId>,
    search_log_pruning: search::SearchLogPruning,
    /// Serialises account creation (unique email and username checks).
    signup_lock: parking_lot::Mutex<()>,
    search: Arc<SearchIndex>,
    recommender: Arc<Recommender>,
    derived: Arc<derived::Derived>,
    ledger: Ledger<consent::StoreLedger>,
    serving: models::Serving,
    /// Incoming webhooks' post rates, per webhook.
    slack_hooks: slack_bots::HookLimiter,
    lifecycle: lifecycle::Lifecycle,
    files: files::Files,
    opened: Opened,
    /// What this node does as one of a cluster; empty on a single node.
    cluster: Arc<cluster::ClusterHooks>,
    /// The derived-data task's queue, for events other nodes logged.
    derived_tx: tokio::sync::mpsc::UnboundedSender<Vec<EventRecord>>,
}

/// What an app was opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opened {
    Server,
    Command { search_index: bool },
}

impl App {
    /// Builds the app over a store, with the search index in `<data_dir>/index` and
    /// trained models in `<data_dir>/models`. Must be called inside a tokio runtime: it
    /// starts the flusher, the task that keeps the index and suggestion statistics
    /// current (catching up from the store first) and the training schedule.
    pub fn open(store: Arc<dyn Store>, config: AppConfig, data_dir: &Path) -> Result<App, String> {
        Self::open_as(store, config, data_dir, Opened::Server)
    }

    /// Builds the app for one operator command run on a data dir no server holds
    /// (`confab export workspace`, `confab reindex`, …): the store, files, consent
    /// ledgers, models and the lifecycle key, without what only a serving process
    /// needs. Derived data is not caught up (the recommender's statistics live in
    /// memory only, and the next server replays the log into the index after its
    /// cursor), and no schedule starts (training, housekeeping, retention). With
    /// `search_index` false the search index on disk is not even opened; commands
    /// that rebuild it (`reindex`, `import slack`) ask for it.
    pub fn open_for_command(
        store: Arc<dyn Store>,
        config: AppConfig,
        data_dir: &Path,
        search_index: bool,
    ) -> Result<App, String> {
        Self::open_as(store, config, data_dir, Opened::Command { search_index })
    }

    fn open_as(
        store: Arc<dyn Store>,
        config: AppConfig,
        data_dir: &Path,
        opened: Opened,
    ) -> Result<App, String> {
        let index_dir = data_dir.join("index");
        // On a cluster, models live beside the shared files, so that a model trained
        // on one node is served by every node (and retired on every node at once).
        let models_dir = match &config.shared_files {
            Some(shared) => shared.dir.join("models"),
            None => data_dir.join("models"),
        };
        let registry =
            confab_training::ModelRegistry::open(models_dir).map_err(|e| format!("model registry: {e}"))?;
        let lifecycle = lifecycle::Lifecycle::open(store.as_ref(), data_dir)?;
        let blobs = match &config.shared_files {
            Some(shared) => confab_store::LocalBlobs::open_shared(&shared.dir, &shared.node)
                .map_err(|e| format!("shared file store in {}: {e}", shared.dir.display()))?,
            None => confab_store::LocalBlobs::open(data_dir.join("files"))
                .map_err(|e| format!("file store in {}: {e}", data_dir.join("files").display()))?,
        };
        let blobs: Arc<dyn confab_store::BlobStore> = Arc::new(blobs);
        let files = files::Files::new(blobs.clone(), &config.files);
        let directory = Arc::new(Directory::default());
        let hub = Arc::new(Hub::new(config.websocket.queue_frames));
        let (search, outcome) = match opened {
            Opened::Server | Opened::Command { search_index: true } => {
                let nice = config.search.background_nice;
                let thread_start =
                    confab_search::ThreadStart(Arc::new(move || background::lower_priority(nice)));
                SearchIndex::open(
                    &index_dir,
                    SearchConfig {
                        thread_start: Some(thread_start),
                        indexing_threads: config.search.indexing_threads,
                        commit_interval: Some(std::time::Duration::from_millis(
                            config.search.commit_interval_ms,
                        )),
                        ..Default::default()
                    },
                )
            }
            // Never written to disk nor searched: a stand-in the app's types need.
            Opened::Command { search_index: false } => {
                let config =
                    SearchConfig { indexing_threads: 1, commit_interval: None, ..Default::default() };
                SearchIndex::open_in_ram(config).map(|index| (index, confab_search::OpenOutcome::Fresh))
            }
        }
        .map_err(|e| format!("search index: {e}"))?;
        if let confab_search::OpenOutcome::Recreated { reason } = &outcome {
            tracing::warn!(%reason, "the search index was unusable and is rebuilt from the store");
        }
        let search = Arc::new(search);
        let recommender = Arc::new(Recommender::new(RecommendConfig::default()));
        let (derived_tx, derived_rx) = tokio::sync::mpsc::unbounded_channel();
        let derived = Arc::new(derived::Derived {
            store: store.clone(),
            recommender: recommender.clone(),
            search: search.clone(),
            files: files::FileIndexing {
                store: store.clone(),
                blobs,
                text_max_bytes: config.files.index_text_max_bytes,
            },
            pending_counts: Default::default(),
            pool: background::BackgroundPool::new("confab-derived", 1, config.search.background_nice),
        });
        match opened {
            Opened::Server => derived::start(derived.clone(), outcome, derived_rx),
            // The committer's hand-offs are dropped: see `open_for_command`.
            Opened::Command { .. } => drop(derived_rx),
        }
        let writes_stopped = Arc::new(AtomicBool::new(false));
        let cluster = Arc::new(cluster::ClusterHooks::default());
        let committer = Committer::start(
            store.clone(),
            directory.clone(),
            hub.clone(),
            derived_tx.clone(),
            writes_stopped.clone(),
            cluster.clone(),
        );
        let limits = &config.limits;
        let quota =
            |per_second: u32, burst: u32| Quota::per_second(nonzero(per_second)).allow_burst(nonzero(burst));
        let message_quota = quota(limits.messages_per_second, limits.message_burst);
        let write_quota = quota(limits.writes_per_second, limits.write_burst);
        let search_quota = quota(limits.searches_per_second, limits.search_burst);
        let text_quota = quota(limits.text_bytes_per_second, limits.text_burst_bytes);
        Ok(App {
            inner: Arc::new(Inner {
                search,
                recommender,
                derived,
                ledger: Ledger::new(consent::StoreLedger { store: store.clone() }),
                serving: models::Serving::new(registry),
                slack_hooks: slack_bots::HookLimiter::new(&config.slack),
                lifecycle,
                files,
                limits: config.limits.validation(),
                auth: auth::AuthState::new(&config.auth),
                message_limiter: DefaultKeyedRateLimiter::keyed(message_quota),
                write_limiter: DefaultKeyedRateLimiter::keyed(write_quota),
                text_limiter: DefaultKeyedRateLimiter::keyed(text_quota),
                search_limiter: DefaultKeyedRateLimiter::keyed(search_quota),
                search_log_pruning: Default::default(),
                config,
                store,
                directory,
                hub,
                committer,
                writes_stopped,
                signup_lock: parking_lot::Mutex::new(()),
                opened,
                cluster,
                derived_tx,
            }),
        })
        .inspect(|app| {
            if opened == Opened::Server {
                app.start_training_schedule();
                app.start_housekeeping(HOUSEKEEPING_PERIOD);
                app.start_retention();
            }
        })
    }

    /// Whether this app keeps the search index and suggestions current (a server),
    /// rather than running one operator command.
    pub(crate) fn serves(&self) -> bool {
        self.inner.opened == Opened::Server
    }

    pub fn config(&self) -> &AppConfig {
        &self.inner.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Checks an id a client chose (`client_msg_id`, a frame's `req`).
    pub fn limits_check_client_id(&self, field: &str, id: &str) -> Result<()> {
        self.inner.limits.client_id(field, id).map_err(AppError::from)
    }

    fn workspace(&self, id: WorkspaceId) -> Result<Arc<RwLock<WorkspaceState>>> {
        self.inner.directory.require(self.inner.store.as_ref(), id)
    }

    /// Runs a write against one workspace: `build` checks and stages changes under the
    /// workspace's write lock; the batch is applied and queued for the flusher before
    /// the lock is released. The returned future resolves once durable.
    ///
    /// `build` checks everything that can fail before it changes `state`: an error
    /// from `build` leaves the state as it is, while a failure to apply the batch
    /// reloads the state from the store (see [`App::finish`]).
    fn write<T>(
        &self,
        ws: WorkspaceId,
        build: impl FnOnce(&mut WorkspaceState, &mut Tx) -> Result<T>,
    ) -> Result<(T, Durable)> {
        self.check_writable()?;
        let state = self.workspace(ws)?;
        let mut state = state.write();
        self.hold_lease(&mut state)?;
        let mut tx = Tx {
            workspace: ws,
            now: now_ms(),
            next_event_seq: state.last_event_seq,
            batch: Batch::new(),
            events: Vec::new(),
        };
        let value = build(&mut state, &mut tx)?;
        self.finish(&mut state, tx).map(|durable| (value, durable))
    }

    /// [`App::write`] on behalf of `caller`, counted against their write rate
    /// (`limits.writes_per_second`): every mutation but posting, which has its own.
    fn write_as<T>(
        &self,
        caller: Caller,
        ws: WorkspaceId,
        build: impl FnOnce(&mut WorkspaceState, &mut Tx) -> Result<T>,
    ) -> Result<(T, Durable)> {
        self.check_write_rate(caller.user)?;
        self.write(ws, build)
    }

    /// Applies a staged transaction under the already-held workspace lock.
    fn finish(&self, state: &mut WorkspaceState, mut tx: Tx) -> Result<Durable> {
        let retention = self.inner.config.events.retention.max(1);
        let last = tx.next_event_seq;
        // Prune once the log is a step past the retention, not on every write, and at
        // most MAX_PRUNE_STEP events per write: the removals run inside the write, so
        // a write that pruned thousands made every acknowledgement behind it wait.
        let slack = (retention / 10).clamp(1, MAX_PRUNE_STEP);
        if last > state.first_event_seq + retention + slack || (state.first_event_seq == 0 && last > 0) {
            let keep_from =
                last.saturating_sub(retention).max(1).min(state.first_event_seq.max(1) + MAX_PRUNE_STEP);
            if keep_from > state.first_event_seq {
                tx.batch.push(Op::PruneEvents { workspace: tx.workspace, before: keep_from });
                state.first_event_seq = keep_from;
            }
        }
        if let Err(e) = self.inner.store.apply(tx.batch) {
            let error = match cluster::lease_lost(&e) {
                // Another node sequences the workspace now: this write never happened.
                true => AppError::Client(cluster::elsewhere()),
                false => self.store_write_failed(e),
            };
            // The state may already hold this write's changes. Reload it in place while
            // the lock is still held: the counters come back to exactly what the store
            // holds, and every other writer waits on this same lock, so none can write
            // through an older copy.
            match directory::load(self.inner.store.as_ref(), tx.workspace) {
                Ok(Some(fresh)) => *state = fresh,
                // A workspace created by this very batch: the caller drops `state`.
                Ok(None) => {}
                Err(_) => self.stop_writes(),
            }
            return Err(error);
        }
        state.last_event_seq = last;
        Ok(self.inner.committer.enqueue(tx.events))
    }

    /// Changes whenever writes are flushed: two equal readings some time apart mean
    /// the server wrote nothing in between.
    pub fn write_activity(&self) -> u64 {
        self.inner.committer.groups_flushed()
    }

    /// Applies a batch that touches no workspace (accounts, sessions) and waits until
    /// it is durable.
    async fn write_global(&self, batch: Batch) -> Result<()> {
        self.check_writable()?;
        self.inner.store.apply(batch).map_err(|e| self.store_write_failed(e))?;
        self.inner.committer.enqueue(Vec::new()).wait().await
    }

    /// `unavailable` once writes have stopped (fail-stop).
    fn check_writable(&self) -> Result<()> {
        match self.inner.writes_stopped.load(Ordering::Acquire) {
            true => Err(Error::unavailable().into()),
            false => Ok(()),
        }
    }

    fn stop_writes(&self) {
        if !self.inner.writes_stopped.swap(true, Ordering::AcqRel) {
            tracing::error!("writes stopped after a storage failure; restart the server to recover");
        }
    }

    /// The error for a failed `apply`. A batch the store refused (a unique key taken,
    /// say) wrote nothing; any other failure may have left part of it visible, so
    /// writes stop.
    fn store_write_failed(&self, e: StoreError) -> AppError {
        match e {
            StoreError::Taken(_)
            | StoreError::Corrupt { .. }
            | StoreError::CorruptText { .. }
            | StoreError::TextTooLong { .. }
            | StoreError::Missing { .. }
            | StoreError::Unexportable { .. }
            | StoreError::Encode(_) => AppError::Store(e),
            StoreError::Engine(_)
            | StoreError::Backend(_)
            | StoreError::Io(_)
            | StoreError::Stopped
            | StoreError::SchemaVersion { .. }
            | StoreError::CorruptJournal => {
                self.stop_writes();
                AppError::WritesStopped(e)
            }
        }
    }

    /// Whether writes have stopped after a storage failure (for the health check).
    pub fn writes_stopped(&self) -> bool {
        self.inner.writes_stopped.load(Ordering::Acquire)
    }

    /// Delivers an ephemeral event (typing, presence) live, without logging it.
    fn publish_ephemeral(&self, ws: WorkspaceId, event: Event) {
        let Ok(state) = self.workspace(ws) else { return };
        let state = state.read();
        let record = EventRecord { workspace: ws, event_seq: state.last_event_seq, at: now_ms(), event };
        self.inner.hub.publish(&state, &record, true);
    }

    fn check_message_rate(&self, user: UserId) -> Result<()> {
        check_rate(&self.inner.message_limiter, user)
    }

    /// Counts one mutation other than a post against `user`'s write rate.
    fn check_write_rate(&self, user: UserId) -> Result<()> {
        check_rate(&self.inner.write_limiter, user)
    }

    /// Counts `bytes` of message text (a post or an edit) against `user`'s text rate.
    fn check_text_rate(&self, user: UserId, bytes: usize) -> Result<()> {
        let Some(bytes) = u32::try_from(bytes).ok().and_then(std::num::NonZeroU32::new) else {
            return Ok(());
        };
        match self.inner.text_limiter.check_key_n(&user, bytes) {
            Ok(allowed) => allowed.map_err(|not_until| {
                let wait = not_until
                    .wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
                Error::rate_limited(wait.as_secs() + 1).into()
            }),
            // More than the whole burst at once: never allowed (the configuration check
            // keeps the burst above one message of the largest size).
            Err(_) => Err(Error::rate_limited(60).into()),
        }
    }

    /// Counts one search against `user`'s search rate.
    pub(crate) fn check_search_rate(&self, user: UserId) -> Result<()> {
        check_rate(&self.inner.search_limiter, user)
    }

    /// Whether the client address is currently throttled for log-ins.
    pub fn login_throttled(&self, addr: IpAddr) -> Option<u64> {
        self.inner.auth.address_blocked(addr)
    }
}

/// Changes staged by one write: store operations plus the events they emit.
pub(crate) struct Tx {
    workspace: WorkspaceId,
    now: Millis,
    next_event_seq: u64,
    batch: Batch,
    events: Vec<EventRecord>,
}

impl Tx {
    fn op(&mut self, op: Op) {
        self.batch.push(op);
    }

    /// Logs an event with the workspace's next `event_seq`.
    fn emit(&mut self, event: Event) {
        self.next_event_seq += 1;
        let record =
            EventRecord { workspace: self.workspace, event_seq: self.next_event_seq, at: self.now, event };
        self.batch.push(Op::AppendEvent(record.clone()));
        self.events.push(record);
    }
}

pub(crate) fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

pub(crate) fn new_ulid() -> ulid::Ulid {
    ulid::Ulid::new()
}

fn check_rate(limiter: &DefaultKeyedRateLimiter<UserId>, user: UserId) -> Result<()> {
    limiter
        .check_key(&user)
        .map_err(|not_until| {
            let wait = not_until
                .wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            Error::rate_limited(wait.as_secs() + 1)
        })
        .map_err(AppError::from)
}

fn nonzero(n: u32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(n.max(1)).unwrap_or(std::num::NonZeroU32::MIN)
}
