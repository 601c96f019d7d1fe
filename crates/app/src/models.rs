//! Training runs and serving their models.
//!
//! Which model serves which workspace: for each (workspace, purpose), the newest
//! servable model that workspace may use — its own `workspace`-scoped model, else the
//! shared one — from the registry in `<data-dir>/models`; with none, the hand-set
//! defaults and the workspace's own live statistics. The choice is cached and the
//! cache is dropped whenever a run saves models or a withdrawal retires some, so the
//! very next request after a withdrawal no longer uses a retired model.

use std::collections::HashMap;
use std::sync::Arc;

use confab_consent::{Gate, Purpose};
use confab_core::{Error, ErrorCode, Role, UserId, WorkspaceId};
use confab_recommend::{ChannelWeights, EmojiAssociationModel};
use confab_search::RankingWeights;
use confab_training::{Manifest, ModelRegistry, NoiseSource};
use parking_lot::RwLock;
use serde::Serialize;

use crate::consent::StoreSource;
use crate::{App, Caller, internal, now_ms};

/// A model's weights, parsed once.
#[derive(Clone)]
enum Weights {
    Ranking(Arc<RankingWeights>),
    Emoji(Arc<EmojiAssociationModel>),
    Channels(Arc<ChannelWeights>),
}

/// The serving side of the registry.
pub(crate) struct Serving {
    pub registry: ModelRegistry,
    cache: RwLock<HashMap<(WorkspaceId, Purpose), Option<Weights>>>,
    builtin_emoji: Arc<EmojiAssociationModel>,
}

impl Serving {
    pub fn new(registry: ModelRegistry) -> Self {
        Serving {
            registry,
            cache: RwLock::default(),
            builtin_emoji: Arc::new(EmojiAssociationModel::builtin().clone()),
        }
    }

    fn invalidate(&self) {
        self.cache.write().clear();
    }

    fn weights(&self, ws: WorkspaceId, purpose: Purpose) -> Option<Weights> {
        if let Some(hit) = self.cache.read().get(&(ws, purpose)) {
            return hit.clone();
        }
        let loaded = match self.registry.servable_for(ws, purpose) {
            Ok(Some(model)) => parse(purpose, &model.artifact),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the model registry; serving defaults");
                None
            }
        };
        self.cache.write().insert((ws, purpose), loaded.clone());
        loaded
    }
}

fn parse(purpose: Purpose, artifact: &[u8]) -> Option<Weights> {
    let parsed = match purpose {
        Purpose::SearchRanking => std::str::from_utf8(artifact)
            .ok()
            .and_then(|text| RankingWeights::from_json(text).ok())
            .map(|w| Weights::Ranking(Arc::new(w))),
        Purpose::EmojiSuggestions => {
            EmojiAssociationModel::from_json(artifact).ok().map(|m| Weights::Emoji(Arc::new(m)))
        }
        Purpose::ChannelSuggestions => {
            ChannelWeights::from_json(artifact).ok().map(|w| Weights::Channels(Arc::new(w)))
        }
    };
    if parsed.is_none() {
        tracing::error!(purpose = purpose.as_str(), "a stored model does not parse; serving defaults");
    }
    parsed
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
    /// Why the run did not happen, e.g. the privacy budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// The actor recorded in the ledger for runs the server starts by itself (the nil id,
/// which no account has).
pub fn scheduler() -> UserId {
    UserId::from_ulid(ulid::Ulid::nil())
}

impl App {
    pub(crate) fn served_ranking_weights(&self, ws: WorkspaceId) -> Option<RankingWeights> {
        match self.inner.serving.weights(ws, Purpose::SearchRanking) {
            Some(Weights::Ranking(w)) => Some((*w).clone()),
            _ => None,
        }
    }

    pub(crate) fn served_emoji_model(&self, ws: WorkspaceId) -> Arc<EmojiAssociationModel> {
        match self.inner.serving.weights(ws, Purpose::EmojiSuggestions) {
            Some(Weights::Emoji(m)) => m,
            _ => self.inner.serving.builtin_emoji.clone(),
        }
    }

    pub(crate) fn served_channel_weights(&self, ws: WorkspaceId) -> ChannelWeights {
        match self.inner.serving.weights(ws, Purpose::ChannelSuggestions) {
            Some(Weights::Channels(w)) => (*w).clone(),
            _ => ChannelWeights::default(),
        }
    }

    /// After a withdrawal (or a member's exclusion): every model that learned from this
    /// workspace for this purpose stops being served now, and a rebuild without it is
    /// queued. Nothing of the workspace is cached for training, so nothing else is left
    /// to delete.
    pub(crate) fn on_consent_narrowed(&self, ws: WorkspaceId, purpose: Purpose, member: bool) {
        let registry = &self.inner.serving.registry;
        let retired = match member {
            false => registry.retire_including(ws, purpose, now_ms()),
            true => registry.retire_including_member(ws, purpose, now_ms()),
        };
        self.inner.serving.invalidate();
        match retired {
            Ok(retired) if !retired.rebuild.is_empty() => {
                tracing::info!(models = ?retired.models, "models retired after a withdrawal; rebuilding");
                let app = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = app.run_training(scheduler(), &[purpose], false, NoiseSource::Os).await {
                        tracing::error!(error = %e, "rebuilding after a withdrawal failed");
                    }
                });
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "retiring models after a withdrawal failed"),
        }
    }

    /// `POST /admin/train`: the instance admin runs training now.
    pub async fn train(
        &self,
        caller: Caller,
        purpose: Option<&str>,
        dry_run: bool,
    ) -> Result<Vec<TrainOutcome>, Error> {
        if !caller.instance_admin {
            return Err(Error::forbidden("only the instance admin runs training"));
        }
        let purposes = match purpose {
            Some(p) => vec![p.parse::<Purpose>()?],
            None => Purpose::ALL.to_vec(),
        };
        self.run_training(caller.user, &purposes, dry_run, NoiseSource::Os).await
    }

    /// Runs the pipelines of `purposes` over a snapshot of every workspace taken now
    /// through the consent gate, within each workspace's privacy budget, and saves
    /// the models.
    pub async fn run_training(
        &self,
        actor: UserId,
        purposes: &[Purpose],
        dry_run: bool,
        noise: NoiseSource,
    ) -> Result<Vec<TrainOutcome>, Error> {
        let app = self.clone();
        let purposes = purposes.to_vec();
        tokio::task::spawn_blocking(move || {
            let config = app.config().training.pipeline_config();
            let workspaces = app.store().workspace_ids().map_err(internal)?;
            let source = StoreSource { store: app.store().clone() };
            let mut out = Vec::new();
            for purpose in purposes {
                let now = now_ms();
                let snapshot = Gate::snapshot(&app.inner.ledger, &source, purpose, &workspaces, now)?;
                if dry_run {
                    let plan = confab_training::dry_run(&snapshot, &config);
                    out.push(TrainOutcome { purpose, plan: Some(plan), models: Vec::new(), refused: None });
                    continue;
                }
                if snapshot.workspaces().is_empty() {
                    out.push(TrainOutcome { purpose, plan: None, models: Vec::new(), refused: None });
                    continue;
                }
                let trained = confab_training::train_within_budget(
                    &app.inner.ledger,
                    actor,
                    purpose,
                    &snapshot,
                    &config,
                    noise,
                    now,
                );
                match trained {
                    Ok(models) => {
                        for model in &models {
                            app.inner.serving.registry.save(model).map_err(internal)?;
                        }
                        app.inner.serving.invalidate();
                        let models = models.into_iter().map(|m| m.manifest).collect();
                        out.push(TrainOutcome { purpose, plan: None, models, refused: None });
                    }
                    Err(confab_training::TrainingError::BudgetExceeded(why)) => {
                        out.push(TrainOutcome {
                            purpose,
                            plan: None,
                            models: Vec::new(),
                            refused: Some(why),
                        });
                    }
                    Err(e) => return Err(internal(e)),
                }
            }
            Ok(out)
        })
        .await
        .map_err(internal)?
    }

    /// The models that include this workspace or may serve it, with their manifests
    /// (owners and admins).
    pub fn models(
        &self,
        caller: Caller,
        ws: WorkspaceId,
    ) -> Result<Vec<confab_training::ModelRecord>, Error> {
        let role = self.workspace(ws)?.read().require_member(caller.user)?;
        if !matches!(role, Role::Owner | Role::Admin) {
            return Err(Error::forbidden("owners and admins see the workspace's models"));
        }
        self.model_records(Some(ws))
    }

    /// Every model in the registry, or those concerning one workspace.
    pub fn model_records(&self, ws: Option<WorkspaceId>) -> Result<Vec<confab_training::ModelRecord>, Error> {
        let all = self.inner.serving.registry.list().map_err(internal)?;
        Ok(all
            .into_iter()
            .filter(|r| {
                ws.is_none_or(|ws| {
                    r.manifest.includes(ws) || r.manifest.scope == confab_consent::Scope::Shared
                })
            })
            .collect())
    }

    pub fn model_record(&self, id: &str) -> Result<confab_training::ModelRecord, Error> {
        self.inner
            .serving
            .registry
            .get(id)
            .map_err(|e| Error::new(ErrorCode::NotFound, e.to_string()))?
            .ok_or_else(|| Error::new(ErrorCode::NotFound, format!("no model {id}")))
    }
}
