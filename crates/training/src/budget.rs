//! The privacy budget: a run is refused before it starts if it would take any
//! workspace past the configured cap for the purpose, and what it spent is recorded in
//! each workspace's consent ledger (`budget_spent` entries) after it succeeds.
//!
//! [`train_within_budget`] does all three steps; [`BudgetPlan`] exposes them for a
//! caller that saves models in between.

use std::collections::BTreeMap;

use confab_consent::{ConsentError, Ledger, LedgerEntry, LedgerStore, Purpose, Snapshot};
use confab_core::{Millis, UserId, WorkspaceId};

use crate::config::TrainingConfig;
use crate::error::TrainingError;
use crate::manifest::{TrainedModel, sha256_hex};
use crate::noise::NoiseSource;
use crate::runner::{PlannedModel, epsilon_per_model, planned_models, train_only};

/// ε a run spends per workspace.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetPlan {
    pub purpose: Purpose,
    /// Only workspaces the run spends on (ε > 0).
    pub per_workspace: BTreeMap<WorkspaceId, f64>,
    pub cap: f64,
}

impl BudgetPlan {
    /// What a run over `snapshot` would spend: ε for every model that reads a
    /// workspace (its own model, and the shared one if it granted `shared`).
    pub fn for_run(snapshot: &Snapshot, config: &TrainingConfig) -> Self {
        Self::for_models(snapshot, config, &|_| true)
    }

    /// [`BudgetPlan::for_run`] for the planned models `only` accepts.
    pub fn for_models(
        snapshot: &Snapshot,
        config: &TrainingConfig,
        only: &dyn Fn(&PlannedModel) -> bool,
    ) -> Self {
        let per_model = epsilon_per_model(snapshot.purpose(), config);
        let mut per_workspace = BTreeMap::new();
        if per_model > 0.0 {
            for model in planned_models(snapshot, config).into_iter().filter(|m| only(m)) {
                for ws in model.reads {
                    *per_workspace.entry(ws).or_insert(0.0) += per_model;
                }
            }
        }
        BudgetPlan { purpose: snapshot.purpose(), per_workspace, cap: config.epsilon_cap }
    }

    /// What trained models actually spent, from their manifests.
    pub fn spent_by(purpose: Purpose, models: &[TrainedModel], cap: f64) -> Self {
        let mut per_workspace = BTreeMap::new();
        for m in models.iter().filter(|m| m.manifest.privacy.epsilon > 0.0) {
            for c in &m.manifest.contributors {
                *per_workspace.entry(c.workspace).or_insert(0.0) += m.manifest.privacy.epsilon;
            }
        }
        BudgetPlan { purpose, per_workspace, cap }
    }

    /// Refuses the run if any workspace would pass the cap, naming it and the numbers.
    pub fn check<S: LedgerStore>(&self, ledger: &Ledger<S>) -> Result<(), TrainingError> {
        for (&ws, &epsilon) in &self.per_workspace {
            ledger.can_spend(ws, self.purpose, epsilon, self.cap).map_err(|e| refusal(e, self))?;
        }
        Ok(())
    }

    /// Appends one `budget_spent` entry per workspace. Fails (and the caller must drop
    /// the models) if a workspace withdrew meanwhile or the cap was reached by a
    /// concurrent run.
    pub fn record<S: LedgerStore>(
        &self,
        ledger: &Ledger<S>,
        actor: UserId,
        run_id: &str,
        now: Millis,
    ) -> Result<Vec<LedgerEntry>, TrainingError> {
        self.per_workspace
            .iter()
            .map(|(&ws, &epsilon)| {
                ledger
                    .spend(ws, actor, self.purpose, epsilon, self.cap, run_id, now)
                    .map_err(|e| refusal(e, self))
            })
            .collect()
    }
}

fn refusal(e: ConsentError, plan: &BudgetPlan) -> TrainingError {
    match e {
        ConsentError::BudgetExceeded { .. } => TrainingError::BudgetExceeded(format!(
            "{e}; no model was trained for {} (raise `epsilon_cap`, lower `epsilon`, or wait for a new grant policy)",
            plan.purpose
        )),
        e => TrainingError::Consent(e),
    }
}

/// A run's id for the ledger: a hash of its models' ids.
pub fn run_id(models: &[TrainedModel]) -> String {
    let ids: Vec<&str> = models.iter().map(|m| m.manifest.id.as_str()).collect();
    format!("run-{}", &sha256_hex(ids.join(",").as_bytes())[..16])
}

/// Checks the budget, trains, and records the spend. On any refusal nothing is
/// returned and (before training) nothing is spent.
pub fn train_within_budget<S: LedgerStore>(
    ledger: &Ledger<S>,
    actor: UserId,
    purpose: Purpose,
    snapshot: &Snapshot,
    config: &TrainingConfig,
    noise: NoiseSource,
    now: Millis,
) -> Result<Vec<TrainedModel>, TrainingError> {
    train_within_budget_only(ledger, actor, purpose, snapshot, config, noise, now, &|_| true)
}

/// [`train_within_budget`] building (and spending on) only the planned models `only`
/// accepts: how a rebuild after a narrowing retrains just the retired slots.
#[allow(clippy::too_many_arguments)]
pub fn train_within_budget_only<S: LedgerStore>(
    ledger: &Ledger<S>,
    actor: UserId,
    purpose: Purpose,
    snapshot: &Snapshot,
    config: &TrainingConfig,
    noise: NoiseSource,
    now: Millis,
    only: &dyn Fn(&PlannedModel) -> bool,
) -> Result<Vec<TrainedModel>, TrainingError> {
    config.validate()?;
    BudgetPlan::for_models(snapshot, config, only).check(ledger)?;
    let models = train_only(purpose, snapshot, config, noise, now, only)?;
    BudgetPlan::spent_by(purpose, &models, config.epsilon_cap).record(
        ledger,
        actor,
        &run_id(&models),
        now,
    )?;
    Ok(models)
}
