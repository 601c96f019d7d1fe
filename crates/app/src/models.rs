//! Which model serves which workspace. With no trained model a workspace is served by
//! the hand-set defaults and its own live statistics.

use confab_consent::Purpose;
use confab_core::WorkspaceId;
use confab_recommend::{ChannelWeights, EmojiAssociationModel};
use confab_search::RankingWeights;

use crate::App;

impl App {
    pub(crate) fn served_ranking_weights(&self, _ws: WorkspaceId) -> Option<RankingWeights> {
        None
    }

    pub(crate) fn served_emoji_model(&self, _ws: WorkspaceId) -> &EmojiAssociationModel {
        EmojiAssociationModel::builtin()
    }

    pub(crate) fn served_channel_weights(&self, _ws: WorkspaceId) -> ChannelWeights {
        ChannelWeights::default()
    }

    /// After a withdrawal or a member's exclusion: stop serving every model that
    /// learned from this workspace for this purpose.
    pub(crate) fn on_consent_narrowed(&self, ws: WorkspaceId, purpose: Purpose) {
        tracing::info!(workspace = %ws, purpose = purpose.as_str(), "consent narrowed");
    }
}
