//! Training runs and serving their models.
//!
//! Which model serves which workspace: for each (workspace, purpose), the newest
//! servable model that workspace may use — its own `workspace`-scoped model, else the
//! shared one — from the registry in `<data-dir>/models` (`<[cluster] blobs>/models`
//! on a cluster), and only one that every contributing workspace's *current* consent
//! still covers (the registry checks the ledger); with none, the hand-set defaults and the workspace's own live
//! statistics. The choice is cached per consent generation
//! ([`Ledger::generation`]), which every request that serves a model reads first: any
//! consent change makes the very next request check again. In a cluster the
//! generation is one row of the shared database that every node's ledger appends
//! move in their own transaction, so a withdrawal on any node has moved it by the
//! time its call returns, and no node serves a model it lapsed after that. This
//! costs one read of one row per request that serves a model (a search, a
//! suggestion), and one more when the choice is made again.
//!
//! On a cluster the registry is in the shared files directory, so a model trained
//! on one node is served by every node. A consent change another node sequenced
//! retires the models it lapsed here as on that node
//! ([`App::sweep_lapsed_models_soon`]): when its `consent.changed` event arrives
//! from the bus, and in any case when serving first sees the generation past the
//! one this node's last sweep started at (the bus may lose an event; the database
//! does not).
//!
//! Scheduled runs fall on fixed times (multiples of `training.schedule_hours` since
//! the Unix epoch), and on a cluster only the node holding the schedule's lease runs
//! them ([`App::start_training_schedule`]): a run spends ε once, not once per node.
//!
//! After every consent change the models it lapsed are retired at once and their
//! slots queued for a rebuild, coalesced to one per slot per
//! `training.rebuild_interval_secs`. A member's key changes are rate-limited
//! (`training.member_key_changes_per_hour`, leaving always allowed), so a member
//! cannot spend the workspace's privacy budget by toggling: see `docs/consent.md`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use confab_consent::{ConsentError, Gate, Ledger, Purpose, Scope};
use confab_core::{Error, ErrorCode, Role, UserId, WorkspaceId};
use confab_recommend::{ChannelWeights, EmojiAssociationModel};
use confab_search::RankingWeights;
use confab_training::{
    Manifest, ModelRegistry, NoiseSource, PlannedModel, Rebuild, Retired, Retirement, TrainingError,
};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use crate::consent::{StoreLedger, StoreSource};
use crate::error::{AppError, Result};
use crate::lifecycle::{OnProgress, Progress};
use crate::{App, Caller, now_ms};

/// A model's weights, parsed once.
#[derive(Clone)]
enum Weights {
    Ranking(Arc<RankingWeights>),
    Emoji(Arc<EmojiAssociationModel>),
    Channels(Arc<ChannelWeights>),
}

/// A model being served: its id and its parsed weights.
#[derive(Clone)]
struct ServedModel {
    id: String,
    weights: Weights,
}

/// What is served per (workspace, purpose), valid only for the consent generation it
/// was computed at: any consent change makes every entry stale.
#[derive(Default)]
struct ServedCache {
    generation: u64,
    served: HashMap<(WorkspaceId, Purpose), Option<ServedModel>>,
}

/// One model slot's rebuilds: when the last one started and whether one is queued.
#[derive(Default)]
struct RebuildSlot {
    last_started: Option<Instant>,
    queued: bool,
}

/// The serving side of the registry, and the state that keeps members' key changes
/// from spending the workspace's privacy budget: the rebuild queue (at most one
/// rebuild per model slot per `training.rebuild_interval_secs`) and each member's
/// recent key changes (`training.member_key_changes_per_hour`).
pub(crate) struct Serving {
    pub registry: ModelRegistry,
    cache: RwLock<ServedCache>,
    builtin_emoji: Arc<EmojiAssociationModel>,
    rebuilds: Mutex<HashMap<(Purpose, Option<WorkspaceId>), RebuildSlot>>,
    key_changes: Mutex<HashMap<(WorkspaceId, UserId), VecDeque<Instant>>>,
    /// A retirement sweep is queued and has not started yet: more changes meanwhile
    /// add nothing (the sweep reads the ledger when it starts).
    sweep_queued: AtomicBool,
    /// The consent generation the newest retirement sweep started at: serving a
    /// newer one queues a sweep.
    swept_generation: AtomicU64,
    /// Held by every retirement sweep: two sweeps retiring one model at once would
    /// race on its tombstone's temporary file, and one would fail.
    sweeping: Mutex<()>,
}

impl Serving {
    pub fn new(registry: ModelRegistry) -> Self {
        Serving {
            registry,
            cache: RwLock::default(),
            builtin_emoji: Arc::new(EmojiAssociationModel::builtin().clone()),
            rebuilds: Mutex::default(),
            key_changes: Mutex::default(),
            sweep_queued: AtomicBool::new(false),
            swept_generation: AtomicU64::new(0),
            sweeping: Mutex::new(()),
        }
    }

    fn invalidate(&self) {
        self.cache.write().served.clear();
    }

    /// [`ModelRegistry::retire_uncovered`], one sweep at a time.
    fn retire_uncovered(&self, ledger: &Ledger<StoreLedger>) -> Result<Retired, TrainingError> {
        let _one_at_a_time = self.sweeping.lock();
        self.registry.retire_uncovered(ledger, now_ms())
    }

    /// The model `ws` is served for `purpose`: only one every contributor's current
    /// consent covers (the registry checks the ledger), cached until the consent
    /// generation next moves. The generation is read first, every time: a consent
    /// change whose call returned before this one began, on any node, is seen. If it
    /// cannot be read, nothing trained is served. Returns the generation read too.
    fn model(
        &self,
        ledger: &Ledger<StoreLedger>,
        ws: WorkspaceId,
        purpose: Purpose,
    ) -> (Option<u64>, Option<ServedModel>) {
        let generation = match ledger.generation() {
            Ok(generation) => generation,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the consent generation; serving defaults");
                return (None, None);
            }
        };
        {
            let cache = self.cache.read();
            if let Some(hit) = cache.served.get(&(ws, purpose)).filter(|_| cache.generation == generation) {
                return (Some(generation), hit.clone());
            }
        }
        let loaded = match self.registry.servable_for(ws, purpose, ledger) {
            Ok(Some(model)) => match parse(purpose, &model.artifact) {
                Ok(weights) => Some(ServedModel { id: model.manifest.id, weights }),
                Err(e) => {
                    tracing::error!(error = %e, model = model.manifest.id, "serving defaults");
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the model registry; serving defaults");
                None
            }
        };
        // Cache only if no consent change landed meanwhile (else the next call checks
        // again). Generations only grow, so a cache of a newer one is kept as it is.
        let mut cache = self.cache.write();
        if ledger.generation().is_ok_and(|now| now == generation) && cache.generation <= generation {
            if cache.generation != generation {
                cache.served.clear();
                cache.generation = generation;
            }
            cache.served.insert((ws, purpose), loaded.clone());
        }
        (Some(generation), loaded)
    }

    /// Counts a member's key change against `per_hour`, refusing it with
    /// `rate_limited` past the limit. An exclusion of a member who is included now is
    /// always let through (leaving is never refused) but still counted, so what is
    /// limited is how often a member can come back in, and with it how often their
    /// toggling can retire models.
    fn count_key_change(
        &self,
        ws: WorkspaceId,
        user: UserId,
        per_hour: u32,
        always_allowed: bool,
    ) -> Result<()> {
        let now = Instant::now();
        let hour = Duration::from_secs(3600);
        let mut changes = self.key_changes.lock();
        changes.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < hour));
        let recent = changes.entry((ws, user)).or_default();
        while recent.front().is_some_and(|t| now.duration_since(*t) >= hour) {
            recent.pop_front();
        }
        if !always_allowed && recent.len() >= per_hour as usize {
            let wait = recent.front().map_or(hour, |t| hour.saturating_sub(now.duration_since(*t)));
            return Err(Error::rate_limited(wait.as_secs().max(1)).into());
        }
        recent.push_back(now);
        Ok(())
    }
}

/// A stored model's weights. They come from the registry on disk, never from a
/// client, so a refusal is a server failure.
fn parse(purpose: Purpose, artifact: &[u8]) -> Result<Weights> {
    Ok(match purpose {
        Purpose::SearchRanking => {
            let text =
                std::str::from_utf8(artifact).map_err(|e| AppError::other("stored ranking weights", e))?;
            let weights =
                RankingWeights::from_json(text).map_err(|e| AppError::other("stored ranking weights", e))?;
            Weights::Ranking(Arc::new(weights))
        }
        Purpose::EmojiSuggestions => Weights::Emoji(Arc::new(EmojiAssociationModel::from_json(artifact)?)),
        Purpose::ChannelSuggestions => Weights::Channels(Arc::new(ChannelWeights::from_json(artifact)?)),
    })
}

/// What one training run did for one purpose.
#[derive(Clone, Debug, Serialize)]
pub struct TrainOutcome {
    pub purpose: Purpose,
    /// `--dry-run`: who would be included or excluded, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<confab_training::Report>,
    /// The models saved (with their manifests), servable or not.
    pub models: Vec<Manifest>,
    /// Models saved retired because consent changed while they trained (ids).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lapsed: Vec<String>,
    /// Why the run did not happen, e.g. the privacy budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl TrainOutcome {
    fn empty(purpose: Purpose) -> Self {
        TrainOutcome { purpose, plan: None, models: Vec::new(), lapsed: Vec::new(), refused: None }
    }
}

/// A model as an owner or admin of one workspace sees it: its manifest with only
/// their own workspace's contribution; the other workspaces of a shared model are a
/// count, never named, with nothing of theirs (member counts, ledger hashes).
#[derive(Clone, Debug, Serialize)]
pub struct ModelView {
    pub manifest: Manifest,
    /// How many other workspaces' data the model holds.
    pub other_contributors: usize,
    pub retired: Option<Retirement>,
    /// Whether this workspace is served this model now: not retired, better than the
    /// default, every contributor's consent still covering it, and the newest such
    /// model of its purpose (its own model before the shared one).
    pub served: bool,
}

/// The actor recorded in the ledger for runs the server starts by itself (the nil id,
/// which no account has).
pub fn scheduler() -> UserId {
    UserId::from_ulid(ulid::Ulid::nil())
}

/// How often a node checks whether it runs the training schedule (in a cluster, one
/// node at a time does: see [`App::start_training_schedule`]).
const SCHEDULE_CHECK: Duration = Duration::from_secs(2);

/// The first scheduled run after `now`: runs fall on the multiples of `period_ms`
/// since the Unix epoch (each midnight UTC for 24 hours), so that every node of a
/// cluster agrees on when one is due, and a restart does not postpone it.
fn next_training_slot(now: confab_core::Millis, period_ms: u64) -> confab_core::Millis {
    let period = i64::try_from(period_ms).unwrap_or(i64::MAX).max(1);
    (now.div_euclid(period) + 1).saturating_mul(period)
}

/// Which model slots a run builds.
#[derive(Clone, Copy, Debug)]
enum Slots {
    /// Every model the snapshot allows (scheduled and requested runs).
    All,
    /// One workspace's own model (a rebuild).
    Own(WorkspaceId),
    /// The shared model only (a rebuild).
    Shared,
}

impl Slots {
    fn of(rebuild: &Rebuild) -> Self {
        match (rebuild.scope, rebuild.workspace) {
            (Scope::Workspace, Some(ws)) => Slots::Own(ws),
            _ => Slots::Shared,
        }
    }

    fn wants(self, plan: &PlannedModel) -> bool {
        match self {
            Slots::All => true,
            Slots::Own(ws) => plan.scope == Scope::Workspace && plan.workspace == Some(ws),
            Slots::Shared => plan.scope == Scope::Shared,
        }
    }
}

impl App {
    /// The model `ws` is served for `purpose` now (see [`Serving::model`]). A
    /// generation past this node's last retirement sweep means a consent change this
    /// node has not swept for (another node's): a sweep is queued.
    fn served_model(&self, ws: WorkspaceId, purpose: Purpose) -> Option<ServedModel> {
        let serving = &self.inner.serving;
        let (generation, model) = serving.model(&self.inner.ledger, ws, purpose);
        if generation.is_some_and(|g| g > serving.swept_generation.load(Ordering::Acquire)) {
            self.sweep_lapsed_models_soon();
        }
        model
    }

    fn served(&self, ws: WorkspaceId, purpose: Purpose) -> Option<Weights> {
        self.served_model(ws, purpose).map(|model| model.weights)
    }

    /// The id of the model `ws` is served for `purpose` now, by the very look-up
    /// serving makes (so `GET …/models` reports what suggestions and search use).
    fn served_model_id(&self, ws: WorkspaceId, purpose: Purpose) -> Option<String> {
        self.served_model(ws, purpose).map(|model| model.id)
    }

    pub(crate) fn served_ranking_weights(&self, ws: WorkspaceId) -> Option<RankingWeights> {
        match self.served(ws, Purpose::SearchRanking) {
            Some(Weights::Ranking(w)) => Some((*w).clone()),
            _ => None,
        }
    }

    pub(crate) fn served_emoji_model(&self, ws: WorkspaceId) -> Arc<EmojiAssociationModel> {
        match self.served(ws, Purpose::EmojiSuggestions) {
            Some(Weights::Emoji(m)) => m,
            _ => self.inner.serving.builtin_emoji.clone(),
        }
    }

    pub(crate) fn served_channel_weights(&self, ws: WorkspaceId) -> ChannelWeights {
        match self.served(ws, Purpose::ChannelSuggestions) {
            Some(Weights::Channels(w)) => (*w).clone(),
            _ => ChannelWeights::default(),
        }
    }

    /// After any consent change (a grant, a re-grant, a withdrawal, a member's key):
    /// every model that used something no longer consented to is retired now, and a
    /// rebuild of each such slot is queued (coalesced, see [`App::queue_rebuild`]).
    /// Serving had already stopped using them: the registry checks current consent on
    /// every look-up. A failure is returned, not just logged; the sweep is idempotent
    /// and runs again at the next change or run.
    pub(crate) fn retire_lapsed_models(&self) -> Result<()> {
        let generation = self.inner.ledger.generation();
        let retired = self.inner.serving.retire_uncovered(&self.inner.ledger);
        self.inner.serving.invalidate();
        // Swept up to here, even on a failure: serving does not queue sweep after
        // sweep while the registry fails; the next change or run tries again.
        if let Ok(generation) = generation {
            self.inner.serving.swept_generation.fetch_max(generation, Ordering::AcqRel);
        }
        // The caller is told what holds (the change, and that nothing lapsed is served)
        // and not the cause, which is logged here: a client never sees a cause.
        let retired = retired.map_err(|e| {
            tracing::error!(error = %e, "retiring models after a consent change failed");
            Error::new(
                ErrorCode::Internal,
                "the consent change is recorded and no model it no longer covers is served, \
                 but retiring them failed; it is retried at the next change or run",
            )
        })?;
        if !retired.models.is_empty() {
            tracing::info!(models = ?retired.models, "models retired after a consent change");
        }
        for slot in retired.rebuild {
            self.queue_rebuild(slot);
        }
        Ok(())
    }

    /// A consent change another node sequenced (its `consent.changed` event came
    /// from the bus, or serving saw the generation move): the models it lapsed here
    /// are retired and their rebuilds queued, as on that node. Serving stopped using
    /// them already (the generation moved); this brings the registry's records in
    /// line. The sweep runs on a blocking thread, and sweeps asked for while one
    /// waits to start are one.
    pub(crate) fn sweep_lapsed_models_soon(&self) {
        let sweep = |app: &App| {
            app.inner.serving.sweep_queued.store(false, Ordering::Release);
            if let Err(e) = app.retire_lapsed_models() {
                e.log();
            }
        };
        if self.inner.serving.sweep_queued.swap(true, Ordering::AcqRel) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let app = self.clone();
                runtime.spawn_blocking(move || sweep(&app));
            }
            Err(_) => sweep(self),
        }
    }

    /// Queues a rebuild of one model slot (a purpose and a workspace's own model, or
    /// the shared one). Rebuilds are coalesced: while one is queued, more requests for
    /// the slot add nothing, and a slot is rebuilt at most once per
    /// `training.rebuild_interval_secs`. Each rebuild trains only that slot, so it
    /// spends ε only on the workspaces that slot reads.
    fn queue_rebuild(&self, slot: Rebuild) {
        let interval = Duration::from_secs(self.config().training.rebuild_interval_secs);
        let delay = {
            let mut slots = self.inner.serving.rebuilds.lock();
            let state = slots.entry((slot.purpose, slot.workspace)).or_default();
            if state.queued {
                return;
            }
            state.queued = true;
            state
                .last_started
                .map_or(Duration::ZERO, |last| (last + interval).saturating_duration_since(Instant::now()))
        };
        let app = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(state) = app.inner.serving.rebuilds.lock().get_mut(&(slot.purpose, slot.workspace)) {
                state.queued = false;
                state.last_started = Some(Instant::now());
            }
            let run = app.run_slots(scheduler(), slot.purpose, Slots::of(&slot), NoiseSource::Os, None).await;
            if let Err(e) = run {
                tracing::error!(error = %e, "rebuilding a retired model failed");
            }
        });
    }

    /// Runs every purpose's pipeline at each multiple of `training.schedule_hours`
    /// since the Unix epoch (if not 0). In a cluster only the node that holds the
    /// schedule's lease runs it ([`App::runs_training_schedule`]), so that a run
    /// spends each workspace's ε once, not once per node; the lease moves to another
    /// node when its holder dies, and since every node agrees on when a run is due,
    /// the move never runs a slot twice. (A holder that dies less than the lease's
    /// lifetime before a slot makes the cluster skip that one slot.) The gauge
    /// `confab_training_schedule_held` says which node it is.
    pub(crate) fn start_training_schedule(&self) {
        let hours = self.config().training.schedule_hours;
        if hours == 0 {
            return;
        }
        let period_ms = hours.saturating_mul(3_600_000);
        let app = self.clone();
        // Not held until the first check says so: a node whose first check is slow
        // reports 0, not nothing.
        metrics::gauge!("confab_training_schedule_held").set(0.0);
        tokio::spawn(async move {
            let mut due = next_training_slot(now_ms(), period_ms);
            let mut checks = tokio::time::interval(SCHEDULE_CHECK);
            loop {
                checks.tick().await;
                let mine = {
                    let app = app.clone();
                    tokio::task::spawn_blocking(move || app.runs_training_schedule()).await.unwrap_or(false)
                };
                metrics::gauge!("confab_training_schedule_held").set(if mine { 1.0 } else { 0.0 });
                let now = now_ms();
                if now < due {
                    continue;
                }
                due = next_training_slot(now, period_ms);
                if !mine {
                    continue;
                }
                let run = app.run_training(scheduler(), &Purpose::ALL, false, NoiseSource::Os);
                if let Err(e) = run.await {
                    tracing::error!(error = %e, "scheduled training failed");
                }
            }
        });
    }

    /// `POST /admin/train`: the instance admin runs training now.
    pub async fn train(
        &self,
        caller: Caller,
        purpose: Option<&str>,
        dry_run: bool,
    ) -> Result<Vec<TrainOutcome>> {
        if !caller.instance_admin {
            return Err(Error::forbidden("only the instance admin runs training").into());
        }
        let purposes = match purpose {
            Some(p) => vec![p.parse::<Purpose>()?],
            None => Purpose::ALL.to_vec(),
        };
        self.run_training(caller.user, &purposes, dry_run, NoiseSource::Os).await
    }

    /// Runs the pipelines of `purposes` over a snapshot of every workspace taken now
    /// through the consent gate, within each workspace's privacy budget, and saves
    /// the models — under the ledger's append lock, each retired from the start if
    /// consent changed while it trained.
    pub async fn run_training(
        &self,
        actor: UserId,
        purposes: &[Purpose],
        dry_run: bool,
        noise: NoiseSource,
    ) -> Result<Vec<TrainOutcome>> {
        self.run_training_with_progress(actor, purposes, dry_run, noise, Box::new(|_| {})).await
    }

    /// [`App::run_training`], telling `progress` the messages the gate has read of
    /// the public channels' total for every purpose (`confab train`'s bar). A
    /// workspace the gate leaves out is read not at all: its share counts as done
    /// when its purpose's run ends.
    pub async fn run_training_with_progress(
        &self,
        actor: UserId,
        purposes: &[Purpose],
        dry_run: bool,
        noise: NoiseSource,
        progress: OnProgress,
    ) -> Result<Vec<TrainOutcome>> {
        let per_purpose = {
            let app = self.clone();
            tokio::task::spawn_blocking(move || app.public_messages()).await??
        };
        let counter = Arc::new(Mutex::new((
            Progress { done: 0, total: per_purpose * purposes.len() as u64 },
            progress,
        )));
        let report = |set: &dyn Fn(&mut Progress)| {
            let mut counter = counter.lock();
            let (progress, tell) = &mut *counter;
            set(progress);
            progress.done = progress.done.min(progress.total);
            tell(*progress);
        };
        report(&|_| {});
        let on_read: Arc<dyn Fn(u64) + Send + Sync> = {
            let counter = counter.clone();
            Arc::new(move |messages| {
                let mut counter = counter.lock();
                let (progress, tell) = &mut *counter;
                progress.done = (progress.done + messages).min(progress.total);
                tell(*progress);
            })
        };
        let mut out = Vec::new();
        for (i, &purpose) in purposes.iter().enumerate() {
            if dry_run {
                let (app, on_read) = (self.clone(), on_read.clone());
                let plan = tokio::task::spawn_blocking(move || {
                    let config = app.config().training.pipeline_config();
                    let workspaces = app.store().workspace_ids()?;
                    let source = StoreSource { on_read: Some(on_read), ..app.data_source() };
                    let snapshot =
                        Gate::snapshot(&app.inner.ledger, &source, purpose, &workspaces, now_ms())?;
                    Ok::<_, AppError>(confab_training::dry_run(&snapshot, &config))
                })
                .await??;
                out.push(TrainOutcome { plan: Some(plan), ..TrainOutcome::empty(purpose) });
            } else {
                out.push(self.run_slots(actor, purpose, Slots::All, noise, Some(on_read.clone())).await?);
            }
            report(&|p| p.done = p.done.max(per_purpose * (i as u64 + 1)));
        }
        Ok(out)
    }

    /// How many messages the public channels of every workspace hold at most (their
    /// last `seq`s together): what a run of one purpose reads if all consent.
    fn public_messages(&self) -> Result<u64> {
        let mut total = 0;
        for ws in self.store().workspace_ids()? {
            for channel in self.store().channels(ws)?.iter().filter(|c| c.is_public()) {
                total += self.store().last_seq(channel.id)?;
            }
        }
        Ok(total)
    }

    /// One run of `purpose` building `slots`.
    async fn run_slots(
        &self,
        actor: UserId,
        purpose: Purpose,
        slots: Slots,
        noise: NoiseSource,
        on_read: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    ) -> Result<TrainOutcome> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            // Retry any retirement a failed sweep left undone.
            if let Err(e) = app.inner.serving.retire_uncovered(&app.inner.ledger) {
                tracing::error!(error = %e, "retiring lapsed models before a run failed");
            }
            let config = app.config().training.pipeline_config();
            let workspaces = match slots {
                Slots::Own(ws) => vec![ws],
                Slots::All | Slots::Shared => app.store().workspace_ids()?,
            };
            let source = StoreSource { on_read, ..app.data_source() };
            let now = now_ms();
            let snapshot = Gate::snapshot(&app.inner.ledger, &source, purpose, &workspaces, now)?;
            if snapshot.workspaces().is_empty() {
                return Ok(TrainOutcome::empty(purpose));
            }
            let only = |plan: &PlannedModel| slots.wants(plan);
            let trained = confab_training::train_within_budget_only(
                &app.inner.ledger,
                actor,
                purpose,
                &snapshot,
                &config,
                noise,
                now,
                &only,
            );
            match trained {
                Ok(models) => {
                    let before = app.inner.ledger.generation().ok();
                    let saved = app.inner.serving.registry.save_run(&models, &app.inner.ledger, now_ms());
                    app.inner.serving.invalidate();
                    // This node's append lock does not hold off another node's change:
                    // one that landed while the models were saved may have lapsed one
                    // saved servable (never served: serving checks), so sweep again.
                    if (before.is_none() || before != app.inner.ledger.generation().ok())
                        && let Err(e) = app.retire_lapsed_models()
                    {
                        e.log();
                    }
                    let saved = saved?;
                    let lapsed = models
                        .iter()
                        .zip(&saved)
                        .filter(|(_, retired)| retired.is_some())
                        .map(|(m, _)| m.manifest.id.clone())
                        .collect();
                    let models = models.into_iter().map(|m| m.manifest).collect();
                    Ok(TrainOutcome { models, lapsed, ..TrainOutcome::empty(purpose) })
                }
                Err(TrainingError::BudgetExceeded(why)) => {
                    Ok(TrainOutcome { refused: Some(why), ..TrainOutcome::empty(purpose) })
                }
                // Recording the spend found the purpose withdrawn meanwhile: the
                // models are dropped, nothing is saved.
                Err(TrainingError::Consent(e @ ConsentError::NotGranted { .. })) => {
                    let why = format!("consent changed while the run trained; nothing was saved ({e})");
                    Ok(TrainOutcome { refused: Some(why), ..TrainOutcome::empty(purpose) })
                }
                Err(e) => Err(AppError::from(e)),
            }
        })
        .await?
    }

    /// The models that include this workspace or may serve it (owners and admins),
    /// each showing only this workspace's contribution: other workspaces are a count.
    pub fn models(&self, caller: Caller, ws: WorkspaceId) -> Result<Vec<ModelView>> {
        let role = self.workspace(ws)?.read().require_member(caller.user)?;
        if !matches!(role, Role::Owner | Role::Admin) {
            return Err(Error::forbidden("owners and admins see the workspace's models").into());
        }
        let served: std::collections::HashSet<String> =
            Purpose::ALL.into_iter().filter_map(|purpose| self.served_model_id(ws, purpose)).collect();
        Ok(self
            .model_records(Some(ws))?
            .into_iter()
            .map(|record| {
                let mut manifest = record.manifest;
                let total = manifest.contributors.len();
                manifest.contributors.retain(|c| c.workspace == ws);
                let other_contributors = total - manifest.contributors.len();
                // A retirement caused by another workspace names it: say only why.
                let retired = record.retired.map(|r| match other_contributors {
                    0 => r,
                    _ => Retirement { at: r.at, reason: "consent no longer covers this model".to_owned() },
                });
                let served = served.contains(&manifest.id);
                ModelView { manifest, other_contributors, retired, served }
            })
            .collect())
    }

    /// Every model in the registry, or those concerning one workspace (the operator's
    /// view: everything, for `confab models`).
    pub fn model_records(&self, ws: Option<WorkspaceId>) -> Result<Vec<confab_training::ModelRecord>> {
        let all = self.inner.serving.registry.list()?;
        Ok(all
            .into_iter()
            .filter(|r| ws.is_none_or(|ws| r.manifest.includes(ws) || r.manifest.scope == Scope::Shared))
            .collect())
    }

    /// One model by id (`confab models show`). An id that is not one a run makes is
    /// simply not found; a record that cannot be read is the server's failure.
    pub fn model_record(&self, id: &str) -> Result<confab_training::ModelRecord> {
        let not_found = || AppError::from(Error::new(ErrorCode::NotFound, format!("no model {id}")));
        match self.inner.serving.registry.get(id) {
            Ok(Some(record)) => Ok(record),
            Ok(None) | Err(TrainingError::InvalidId(_)) => Err(not_found()),
            Err(e) => Err(e.into()),
        }
    }

    /// Counts a member's key change against the rate limit (see
    /// [`Serving::count_key_change`]).
    pub(crate) fn count_key_change(&self, ws: WorkspaceId, user: UserId, leaving: bool) -> Result<()> {
        let per_hour = self.config().training.member_key_changes_per_hour;
        self.inner.serving.count_key_change(ws, user, per_hour, leaving)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: u64 = 24 * 3_600_000;

    #[test]
    fn scheduled_runs_fall_on_the_multiples_of_the_period_since_the_epoch() {
        // 2026-12-03 12:14:56 UTC: the next daily run is at midnight UTC.
        let now = 1_796_300_096_000;
        let next = next_training_slot(now, DAY_MS);
        assert_eq!(next, 1_796_342_400_000);
        assert_eq!(next % DAY_MS as i64, 0);
        // A run due exactly now is the one after (it was just run or just skipped).
        assert_eq!(next_training_slot(next, DAY_MS), next + DAY_MS as i64);
        // Every six hours: 18:00 UTC.
        assert_eq!(next_training_slot(now, DAY_MS / 4), 1_796_320_800_000);
        // Nodes that start at different moments agree on the next run.
        assert_eq!(next_training_slot(now + 3_600_000, DAY_MS), next);
    }
}
