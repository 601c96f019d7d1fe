//! Running the pipelines: [`train`] builds one model per included workspace
//! (`workspace` scope) and one instance-wide model from the `shared` grants, each with
//! its manifest; [`dry_run`] says, without reading any record's content, which
//! workspaces a run would include or leave out and why.

use std::collections::BTreeMap;

use confab_consent::{Category, ExcludedWorkspace, MemberMode, Purpose, Scope, Snapshot, WorkspaceSnapshot};
use confab_core::{Millis, WorkspaceId};
use confab_recommend::{ChannelWeights, EmojiAssociationModel};
use confab_search::ranking::RankingWeights;
use serde::Serialize;

use crate::config::TrainingConfig;
use crate::error::TrainingError;
use crate::manifest::{
    CODE_VERSION, Contributor, Evaluation, Manifest, Privacy, TrainedModel, model_id, model_key, sha256_hex,
};
use crate::noise::NoiseSource;
use crate::{channels, emoji, ranking};

/// A model a run will build: its scope and the workspaces whose data it reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedModel {
    pub scope: Scope,
    /// For `workspace` scope: the one workspace it is trained on and served to.
    pub workspace: Option<WorkspaceId>,
    pub reads: Vec<WorkspaceId>,
}

/// The models a run over `snapshot` builds: one per included workspace, plus the
/// shared one when at least `min_workspaces_shared` workspaces granted `shared`.
pub fn planned_models(snapshot: &Snapshot, config: &TrainingConfig) -> Vec<PlannedModel> {
    let mut plan: Vec<PlannedModel> = snapshot
        .workspaces()
        .iter()
        .map(|w| PlannedModel {
            scope: Scope::Workspace,
            workspace: Some(w.workspace()),
            reads: vec![w.workspace()],
        })
        .collect();
    let shared: Vec<WorkspaceId> =
        snapshot.shared_view().workspaces().iter().map(|w| w.workspace()).collect();
    if shared.len() >= config.min_workspaces_shared {
        plan.push(PlannedModel { scope: Scope::Shared, workspace: None, reads: shared });
    }
    plan
}

/// ε a model of `purpose` spends on each workspace it reads.
pub fn epsilon_per_model(purpose: Purpose, config: &TrainingConfig) -> f64 {
    match purpose {
        Purpose::EmojiSuggestions => config.epsilon,
        Purpose::SearchRanking | Purpose::ChannelSuggestions => 0.0,
    }
}

/// Trains every model the snapshot allows for `purpose`. The snapshot must have been
/// taken for that purpose. `now` becomes each model's `created_at`. Deterministic for
/// a [`NoiseSource::Seeded`] source; nothing is written anywhere (save the models with
/// a [`crate::ModelRegistry`]).
pub fn train(
    purpose: Purpose,
    snapshot: &Snapshot,
    config: &TrainingConfig,
    noise: NoiseSource,
    now: Millis,
) -> Result<Vec<TrainedModel>, TrainingError> {
    train_only(purpose, snapshot, config, noise, now, &|_| true)
}

/// [`train`], building only the planned models `only` accepts (a rebuild of some
/// model slots, which spends nothing on the others).
pub fn train_only(
    purpose: Purpose,
    snapshot: &Snapshot,
    config: &TrainingConfig,
    noise: NoiseSource,
    now: Millis,
    only: &dyn Fn(&PlannedModel) -> bool,
) -> Result<Vec<TrainedModel>, TrainingError> {
    config.validate()?;
    if snapshot.purpose() != purpose {
        return Err(TrainingError::PurposeMismatch { expected: purpose, found: snapshot.purpose() });
    }
    let shared_view = snapshot.shared_view();
    let mut models = Vec::new();
    for plan in planned_models(snapshot, config).into_iter().filter(|p| only(p)) {
        let source = if plan.scope == Scope::Shared { &shared_view } else { snapshot };
        let data: Vec<&WorkspaceSnapshot> =
            plan.reads.iter().filter_map(|ws| source.for_workspace(*ws)).collect();
        models.push(train_one(purpose, &plan, &data, snapshot.taken_at(), config, noise, now)?);
    }
    Ok(models)
}

/// The weights of one model, in the format serving reads.
enum Weights {
    Emoji(EmojiAssociationModel),
    Channels(ChannelWeights),
    Ranking(RankingWeights),
}

impl Weights {
    fn format(&self) -> &'static str {
        match self {
            Weights::Emoji(_) => "emoji_association_model/1",
            Weights::Channels(_) => "channel_weights/1",
            Weights::Ranking(_) => "ranking_weights/1",
        }
    }

    /// The artifact bytes with `model_id` set, checked by the format's own parser.
    fn serialise_with_id(&mut self, id: Option<String>) -> Result<Vec<u8>, TrainingError> {
        let invalid = |e: String| TrainingError::InvalidArtifact(e);
        let bytes = match self {
            Weights::Emoji(m) => {
                m.model_id = id;
                let bytes = serde_json::to_vec(m).map_err(|e| invalid(e.to_string()))?;
                EmojiAssociationModel::from_json(&bytes)?;
                bytes
            }
            Weights::Channels(w) => {
                w.model_id = id;
                let bytes = serde_json::to_vec(w).map_err(|e| invalid(e.to_string()))?;
                ChannelWeights::from_json(&bytes)?;
                bytes
            }
            Weights::Ranking(w) => {
                w.model_id = id;
                let bytes = serde_json::to_vec(w).map_err(|e| invalid(e.to_string()))?;
                let text = String::from_utf8(bytes.clone()).map_err(|e| invalid(e.to_string()))?;
                RankingWeights::from_json(&text).map_err(|e| invalid(e.to_string()))?;
                bytes
            }
        };
        Ok(bytes)
    }
}

/// The manifest fields the id is derived from.
#[derive(Serialize)]
struct Identity<'a> {
    purpose: Purpose,
    scope: Scope,
    workspace: Option<WorkspaceId>,
    created_at: Millis,
    code_version: &'a str,
    contributors: &'a [Contributor],
    data_cutoff: Millis,
    privacy: &'a Privacy,
    evaluation: &'a Evaluation,
}

fn no_noise_privacy(what: &str) -> Privacy {
    Privacy {
        epsilon: 0.0,
        mechanism: "none".into(),
        sensitivity: format!(
            "no noise: the model is {what} fitted to many members' aggregate behaviour; \
             it holds no text, no ids and no per-member value"
        ),
        min_users_per_word: None,
        min_workspaces_per_word: None,
        noise: String::new(),
    }
}

fn train_one(
    purpose: Purpose,
    plan: &PlannedModel,
    data: &[&WorkspaceSnapshot],
    data_cutoff: Millis,
    config: &TrainingConfig,
    noise: NoiseSource,
    now: Millis,
) -> Result<TrainedModel, TrainingError> {
    let key = model_key(purpose, plan.scope, plan.workspace);
    let shared = plan.scope == Scope::Shared;
    let (mut weights, evaluation, member_counts, mut privacy) = match purpose {
        Purpose::EmojiSuggestions => {
            let mut rng = noise.generator(&key);
            let out = emoji::train(data, shared, config, &mut rng)?;
            (Weights::Emoji(out.model), out.evaluation, out.member_counts, out.privacy)
        }
        Purpose::ChannelSuggestions => {
            let out = channels::train(data, config);
            let privacy = no_noise_privacy("five channel-feature weights");
            (Weights::Channels(out.weights), out.evaluation, out.member_counts, privacy)
        }
        Purpose::SearchRanking => {
            let out = ranking::train(data, config)?;
            let privacy = no_noise_privacy("a bias and one weight per ranking feature");
            (Weights::Ranking(out.weights), out.evaluation, out.member_counts, privacy)
        }
    };
    privacy.noise = if privacy.epsilon > 0.0 { noise.describe().to_owned() } else { "none".to_owned() };
    let contributors: Vec<Contributor> = data
        .iter()
        .map(|w| Contributor::of(w, member_counts.get(&w.workspace()).copied().unwrap_or(0)))
        .collect();
    let identity = Identity {
        purpose,
        scope: plan.scope,
        workspace: plan.workspace,
        created_at: now,
        code_version: CODE_VERSION,
        contributors: &contributors,
        data_cutoff,
        privacy: &privacy,
        evaluation: &evaluation,
    };
    let identity =
        serde_json::to_vec(&identity).map_err(|e| TrainingError::InvalidArtifact(e.to_string()))?;
    let without_id = weights.serialise_with_id(None)?;
    let id = model_id(purpose, plan.scope, now, &identity, &without_id);
    let artifact = weights.serialise_with_id(Some(id.clone()))?;
    let manifest = Manifest {
        id,
        purpose,
        scope: plan.scope,
        workspace: plan.workspace,
        created_at: now,
        code_version: CODE_VERSION.to_owned(),
        artifact_format: weights.format().to_owned(),
        contributors,
        data_cutoff,
        privacy,
        servable: evaluation.beats_default(),
        evaluation,
        artifact_sha256: sha256_hex(&artifact),
    };
    Ok(TrainedModel { manifest, artifact })
}

/// An included workspace, as a dry run reports it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IncludedWorkspace {
    pub workspace: WorkspaceId,
    pub scope: Scope,
    pub entry_seq: u64,
    pub entry_hash: String,
    pub categories: Vec<Category>,
    pub members: MemberMode,
    /// How many records of each category the run would read.
    pub records: BTreeMap<Category, usize>,
    /// ε the run would spend on it.
    pub epsilon: f64,
}

/// What a run would do, without training: who is in, who is out and why, and the
/// models it would build. Counts only: no record content.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub purpose: Purpose,
    pub data_cutoff: Millis,
    pub included: Vec<IncludedWorkspace>,
    /// The snapshot's exclusions plus the `workspace`-only grants left out of the shared
    /// model (reason `workspace_scope_only`).
    pub excluded: Vec<ExcludedWorkspace>,
    pub excluded_from_shared: Vec<ExcludedWorkspace>,
    pub models: Vec<PlannedModel>,
    /// Why no shared model would be built, if none would.
    pub shared_model_note: Option<String>,
}

/// Lists which workspaces a run over `snapshot` would include or exclude, and why.
pub fn dry_run(snapshot: &Snapshot, config: &TrainingConfig) -> Report {
    let models = planned_models(snapshot, config);
    let per_model = epsilon_per_model(snapshot.purpose(), config);
    let included = snapshot
        .workspaces()
        .iter()
        .map(|w| {
            let g = w.allowed_by();
            let records = BTreeMap::from([
                (Category::Messages, w.messages().len()),
                (Category::Reactions, w.reactions().len()),
                (Category::Memberships, w.memberships().len()),
                (Category::SearchInteractions, w.search_interactions().len()),
                (Category::Files, w.files().len()),
            ]);
            let models_reading = models.iter().filter(|m| m.reads.contains(&w.workspace())).count();
            IncludedWorkspace {
                workspace: w.workspace(),
                scope: g.scope,
                entry_seq: g.entry_seq,
                entry_hash: g.entry_hash.clone(),
                categories: g.categories.clone(),
                members: g.members,
                records: records.into_iter().filter(|(c, _)| g.categories.contains(c)).collect(),
                epsilon: per_model * models_reading as f64,
            }
        })
        .collect();
    let shared = snapshot.shared_view();
    let excluded_from_shared =
        shared.excluded().iter().filter(|e| !snapshot.excluded().contains(e)).cloned().collect();
    let shared_model_note = (!models.iter().any(|m| m.scope == Scope::Shared)).then(|| {
        format!(
            "no shared model: {} workspace(s) granted `shared`, at least {} are needed",
            shared.workspaces().len(),
            config.min_workspaces_shared
        )
    });
    Report {
        purpose: snapshot.purpose(),
        data_cutoff: snapshot.taken_at(),
        included,
        excluded: snapshot.excluded().to_vec(),
        excluded_from_shared,
        models,
        shared_model_note,
    }
}
