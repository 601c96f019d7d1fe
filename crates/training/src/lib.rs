//! Consent-gated training for Confab: pipelines that learn search ranking, emoji and
//! channel suggestion weights from exactly the data the consent ledger allows, and
//! record in a manifest whose data made each model.
//!
//! # What a pipeline reads
//!
//! Only a [`confab_consent::Snapshot`], which only `confab_consent::Gate::snapshot` can
//! build from the ledger's current grants: public-channel records of workspaces whose
//! owner granted the purpose (under the current policy, with a verifying ledger), only
//! the categories granted, nothing by an excluded member, nothing after the cut-off.
//! This crate does not depend on the store, the app or the server (a unit test reads
//! this crate's `Cargo.toml` to keep it so), and keeps no copy of any snapshot.
//!
//! | purpose | reads | learns | artifact |
//! |---|---|---|---|
//! | `emoji_suggestions` | message text, reactions | noised, k-thresholded word → emoji co-occurrence | `EmojiAssociationModel` |
//! | `channel_suggestions` | messages (who posted where, when; not text), memberships | weights of the five channel features, from joins | `ChannelWeights` |
//! | `search_ranking` | search interactions (features and clicks, no query text) | logistic regression on clicks | `RankingWeights` |
//!
//! Each run builds one model per included workspace (`workspace` scope: trained on and
//! served to that workspace only) and one instance-wide model from the workspaces that
//! granted `shared` (only with at least `min_workspaces_shared` of them).
//!
//! # What a model can and cannot contain
//!
//! * Channel and search models are a handful of floats: no text, no ids, no per-member
//!   value. They carry no noise (ε = 0 in their manifests).
//! * Emoji models contain words, but only words that at least `min_users_per_word` (k,
//!   default 5) distinct members wrote in reacted messages — and, for the shared model,
//!   that come from at least two workspaces — so a string one person wrote never
//!   enters. Each (word, emoji) count is clipped to 1 per reacting member (at most
//!   `max_counts_per_user` counts per member) and noised with the discrete Laplace
//!   mechanism at `α = exp(−ε)` from the OS's secure randomness; the noise is never
//!   stored. ε is per released count: a member's total loss in one model is at most
//!   `max_counts_per_user × ε`, and the word threshold itself is on exact author counts
//!   (it is what keeps rare strings out, not part of the ε accounting).
//! * No model contains message text beyond such words, query text (never logged),
//!   member ids or private-channel data.
//!
//! # The manifest
//!
//! Every model has a [`Manifest`]: id, purpose, scope (and workspace), created_at,
//! code version, each contributing workspace with the ledger entry (seq and hash) that
//! allowed it and its member count, data cut-off, ε and the sensitivity assumption,
//! the held-out evaluation against the default (emoji and channels: hit@5; search:
//! NDCG@10; time-based split), and the artifact's SHA-256. A model that does not beat
//! the default on held-out data is not servable. The artifact is the model evaluated:
//! trained on the split before the held-out part.
//!
//! # Using it
//!
//! * [`train`] / [`train_within_budget`] (checks `Ledger::can_spend` for every workspace
//!   first, refuses with [`TrainingError::BudgetExceeded`], records the spend after).
//! * [`dry_run`]: which workspaces a run would include or leave out, and why.
//! * [`ModelRegistry`]: `save`, `save_run` (a run's models, retired from the start if
//!   consent changed while they trained), `list`, `get`, `servable_for` (only models
//!   every contributor's current consent still covers), `retire_uncovered` (after any
//!   consent change), `retire_including` (withdrawal), `retire_including_member`,
//!   `forget_workspace`.
//!
//! Consented simulated instances for tests and evaluations are test support, in
//! `confab-test-support` (`training`).

pub mod budget;
mod channels;
pub mod config;
mod emoji;
pub mod error;
mod fit;
pub mod manifest;
pub mod noise;
mod ranking;
pub mod registry;
pub mod runner;
mod split;

pub use budget::{BudgetPlan, run_id, train_within_budget, train_within_budget_only};
pub use config::TrainingConfig;
pub use error::TrainingError;
pub use manifest::{CODE_VERSION, Contributor, Evaluation, Manifest, Privacy, TrainedModel};
pub use noise::NoiseSource;
pub use registry::{ModelRecord, ModelRegistry, Rebuild, Retired, Retirement, ServableModel};
pub use runner::{
    IncludedWorkspace, PlannedModel, Report, dry_run, epsilon_per_model, planned_models, train, train_only,
};

#[cfg(test)]
mod tests {
    /// Training sees data only through the consent gate: it must never depend on the
    /// store, the app or the server.
    #[test]
    fn depends_on_no_crate_that_holds_data_outside_the_gate() {
        let manifest = include_str!("../Cargo.toml");
        let deps: Vec<&str> = manifest
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['=', ' ', '.']).next())
            .collect();
        for forbidden in ["confab-store", "confab-app", "confab-server", "confab-client"] {
            assert!(!deps.contains(&forbidden), "{forbidden} must not be a dependency of confab-training");
        }
        assert!(deps.contains(&"confab-consent"), "the gate is the way in");
    }
}
