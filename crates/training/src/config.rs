//! Training settings ([`TrainingConfig`]): thresholds, privacy parameters and the
//! fixed optimiser schedule.

use serde::{Deserialize, Serialize};

use crate::error::TrainingError;

/// What a run may learn and how. Every field has a safe default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingConfig {
    /// A word enters an emoji model only if at least this many distinct members wrote
    /// (reacted-to) messages containing it.
    pub min_users_per_word: usize,
    /// For the shared (instance-wide) model: a word must also come from at least this
    /// many workspaces, and the model is built only from at least this many.
    pub min_workspaces_shared: usize,
    /// ε of the discrete Laplace noise on each released count (sensitivity 1). Spent
    /// per model a workspace contributes to.
    pub epsilon: f64,
    /// The privacy budget cap per workspace and purpose, over the ledger's history.
    pub epsilon_cap: f64,
    /// How many (word, emoji) counts one member may add to (their most frequent ones);
    /// bounds a member's total privacy loss per model at `epsilon × this`.
    pub max_counts_per_user: usize,
    /// Emoji kept per word in an emoji model (the best by weight).
    pub max_emoji_per_word: usize,
    /// Share of the most recent data held out for evaluation (time-based split).
    pub heldout_share: f64,
    /// Newton iterations of the logistic fits (fixed, for determinism).
    pub iterations: usize,
    /// L2 regularisation of the logistic fits, per example.
    pub l2: f64,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            min_users_per_word: 5,
            min_workspaces_shared: 2,
            epsilon: 1.0,
            epsilon_cap: 10.0,
            max_counts_per_user: 64,
            max_emoji_per_word: 8,
            heldout_share: 0.2,
            iterations: 25,
            l2: 1e-3,
        }
    }
}

impl TrainingConfig {
    /// Refuses settings that would weaken a guarantee or break a pipeline.
    pub fn validate(&self) -> Result<(), TrainingError> {
        let bad = |what: &str| Err(TrainingError::Config(what.to_owned()));
        if self.min_users_per_word < 2 {
            return bad("min_users_per_word must be at least 2");
        }
        if self.min_workspaces_shared < 2 {
            return bad("min_workspaces_shared must be at least 2");
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0 && self.epsilon <= 20.0) {
            return bad("epsilon must be in (0, 20]");
        }
        if !(self.epsilon_cap.is_finite() && self.epsilon_cap >= 0.0) {
            return bad("epsilon_cap must be a non-negative number");
        }
        if self.max_counts_per_user == 0 || self.max_emoji_per_word == 0 || self.max_emoji_per_word > 64 {
            return bad("max_counts_per_user must be positive and max_emoji_per_word in 1..=64");
        }
        if !(self.heldout_share > 0.0 && self.heldout_share < 1.0) {
            return bad("heldout_share must be in (0, 1)");
        }
        if self.iterations == 0 || self.iterations > 1000 || !(self.l2.is_finite() && self.l2 >= 0.0) {
            return bad("iterations must be in 1..=1000 and l2 non-negative");
        }
        Ok(())
    }
}
