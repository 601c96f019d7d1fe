//! [`Recommender`]: the thread-safe façade the app calls: event hooks that update one
//! workspace's statistics, suggestion queries, and export/import for persistence.
//!
//! Locking: a map of workspaces behind one `RwLock`, each workspace behind its own
//! `RwLock`. Updates write-lock only their workspace, queries read-lock it, so
//! workspaces never wait on each other beyond the brief map lookup.

use std::collections::HashMap;
use std::sync::Arc;

use confab_core::{ChannelId, Millis, UserId, WorkspaceId};
use parking_lot::RwLock;

use crate::channel_suggest::{self, ChannelCandidate, ChannelSuggestion};
use crate::emoji_suggest::{self, EmojiQuery, EmojiSuggestion};
use crate::error::{Format, ModelError};
use crate::model::{ChannelWeights, EmojiAssociationModel, ScoringWeights};
use crate::stats::{ChannelInfo, MessageEvent, ReactionEvent, RecommendConfig, Snapshot, WorkspaceStats};

type Shared = Arc<RwLock<WorkspaceStats>>;

/// Live, per-workspace suggestion statistics and the queries over them.
#[derive(Debug, Default)]
pub struct Recommender {
    config: RecommendConfig,
    workspaces: RwLock<HashMap<WorkspaceId, Shared>>,
}

impl Recommender {
    pub fn new(config: RecommendConfig) -> Self {
        Recommender { config, workspaces: RwLock::new(HashMap::new()) }
    }

    pub fn config(&self) -> &RecommendConfig {
        &self.config
    }

    fn get(&self, ws: WorkspaceId) -> Option<Shared> {
        self.workspaces.read().get(&ws).cloned()
    }

    fn update(&self, ws: WorkspaceId, f: impl FnOnce(&mut WorkspaceStats, &RecommendConfig)) {
        let shared = match self.get(ws) {
            Some(shared) => shared,
            None => self.workspaces.write().entry(ws).or_default().clone(),
        };
        f(&mut shared.write(), &self.config);
    }

    /// A channel was created or renamed. Report every channel, DMs included, before
    /// its events: a channel never reported is treated as private.
    pub fn on_channel(&self, ws: WorkspaceId, info: &ChannelInfo) {
        self.update(ws, |s, _| s.on_channel(info));
    }

    /// A channel was archived (`true`) or restored (`false`); archived channels are
    /// never suggested.
    pub fn on_channel_archived(&self, ws: WorkspaceId, channel: ChannelId, archived: bool) {
        self.update(ws, |s, _| s.on_channel_archived(channel, archived));
    }

    /// A member joined a channel (DM participants too, when the DM is opened).
    pub fn on_join(&self, ws: WorkspaceId, channel: ChannelId, user: UserId) {
        self.update(ws, |s, _| s.on_join(channel, user));
    }

    pub fn on_leave(&self, ws: WorkspaceId, channel: ChannelId, user: UserId) {
        self.update(ws, |s, _| s.on_leave(channel, user));
    }

    /// A message was posted (in any channel kind: DMs count as contact).
    pub fn on_message(&self, ws: WorkspaceId, message: &MessageEvent<'_>) {
        self.update(ws, |s, cfg| s.on_message(message, cfg));
    }

    /// A reaction was added.
    pub fn on_reaction(&self, ws: WorkspaceId, reaction: &ReactionEvent<'_>) {
        self.update(ws, |s, cfg| s.on_reaction(reaction, 1.0, cfg));
    }

    /// A reaction was removed: undoes one unit as of `reaction.at` (the removal time),
    /// which exactly cancels a recent add and slightly over-corrects an old one.
    pub fn on_reaction_removed(&self, ws: WorkspaceId, reaction: &ReactionEvent<'_>) {
        self.update(ws, |s, cfg| s.on_reaction(reaction, -1.0, cfg));
    }

    /// Drops every statistic of a workspace (on deletion).
    pub fn forget_workspace(&self, ws: WorkspaceId) {
        self.workspaces.write().remove(&ws);
    }

    /// Emoji suggestions for one member. An unknown workspace still gets catalogue
    /// and model-based suggestions.
    pub fn suggest_emoji(
        &self,
        ws: WorkspaceId,
        query: &EmojiQuery<'_>,
        model: &EmojiAssociationModel,
        weights: &ScoringWeights,
    ) -> Vec<EmojiSuggestion> {
        let shared = self.get(ws);
        let guard = shared.as_ref().map(|s| s.read());
        emoji_suggest::suggest(guard.as_deref(), &self.config, query, model, weights)
    }

    /// Public, non-archived channels the member is not in, best first, each with why.
    pub fn suggest_channels(
        &self,
        ws: WorkspaceId,
        user: UserId,
        limit: usize,
        now: Millis,
        weights: &ChannelWeights,
    ) -> Vec<ChannelSuggestion> {
        let Some(shared) = self.get(ws) else {
            return Vec::new();
        };
        let stats = shared.read();
        channel_suggest::suggest(&stats, &self.config, user, limit, now, weights)
    }

    /// The candidates and their features, unranked, for learning channel weights from
    /// (consented) joins: feed a private `Recommender` the events before a join, then
    /// label the candidates.
    pub fn channel_candidates(
        &self,
        ws: WorkspaceId,
        user: UserId,
        now: Millis,
        weights: &ChannelWeights,
    ) -> Vec<ChannelCandidate> {
        let Some(shared) = self.get(ws) else {
            return Vec::new();
        };
        let stats = shared.read();
        channel_suggest::candidates(&stats, &self.config, user, now, weights, usize::MAX / 8)
    }

    /// The workspace's statistics as JSON (an empty set for an unknown workspace), to
    /// be stored with the workspace.
    pub fn export(&self, ws: WorkspaceId) -> Result<Vec<u8>, ModelError> {
        let snapshot = match self.get(ws) {
            Some(shared) => shared.read().to_snapshot(),
            None => WorkspaceStats::default().to_snapshot(),
        };
        serde_json::to_vec(&snapshot)
            .map_err(|source| ModelError::Encode { format: Format::Statistics, source })
    }

    /// Replaces the workspace's statistics with exported ones. Refuses malformed
    /// data and unknown format versions, leaving the current statistics in place.
    pub fn import(&self, ws: WorkspaceId, bytes: &[u8]) -> Result<(), ModelError> {
        let snapshot: Snapshot = serde_json::from_slice(bytes)
            .map_err(|source| ModelError::Malformed { format: Format::Statistics, source })?;
        let stats = WorkspaceStats::from_snapshot(snapshot)?;
        self.workspaces.write().insert(ws, Arc::new(RwLock::new(stats)));
        Ok(())
    }

    /// Workspaces with statistics in memory.
    pub fn workspaces(&self) -> Vec<WorkspaceId> {
        self.workspaces.read().keys().copied().collect()
    }
}
