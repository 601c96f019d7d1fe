//! Suggestions as use cases: emoji for `:` autocomplete and the reaction picker, and
//! public channels a member may want to join, each with why.

use confab_core::{ChannelKind, Error, Role, WorkspaceId};
use confab_recommend::{EmojiQuery, EmojiSuggestion, ScoringWeights};

use crate::error::Result;
use crate::{App, Caller, now_ms};

pub use confab_protocol::http::{ChannelSuggestion as ChannelSuggestionView, EmojiParams};

impl App {
    pub fn suggest_emoji(
        &self,
        caller: Caller,
        ws: WorkspaceId,
        params: EmojiParams,
    ) -> Result<Vec<EmojiSuggestion>> {
        self.workspace(ws)?.read().require_member(caller.user)?;
        let limit = params.limit.unwrap_or(8);
        if limit == 0 || limit > 50 {
            return Err(Error::invalid_field("limit", "1 to 50").into());
        }
        if params.prefix.as_ref().is_some_and(|p| p.chars().count() > 64) {
            return Err(Error::invalid_field("prefix", "at most 64 characters").into());
        }
        let text = params.text.as_deref().map(|t| t.chars().take(2000).collect::<String>());
        let query = EmojiQuery {
            user: caller.user,
            prefix: params.prefix.as_deref(),
            text: text.as_deref(),
            limit,
            now: now_ms(),
        };
        let model = self.served_emoji_model(ws);
        Ok(self.inner.recommender.suggest_emoji(ws, &query, &model, &ScoringWeights::default()))
    }

    pub fn suggest_channels(
        &self,
        caller: Caller,
        ws: WorkspaceId,
        limit: Option<usize>,
    ) -> Result<Vec<ChannelSuggestionView>> {
        let limit = limit.unwrap_or(5);
        if limit == 0 || limit > 50 {
            return Err(Error::invalid_field("limit", "1 to 50").into());
        }
        let state = self.workspace(ws)?;
        if state.read().require_member(caller.user)? == Role::Guest {
            // Guests join only what they are added to.
            return Ok(Vec::new());
        }
        let weights = self.served_channel_weights(ws);
        let suggestions = self.inner.recommender.suggest_channels(ws, caller.user, limit, now_ms(), &weights);
        let state = state.read();
        let mut out = Vec::with_capacity(suggestions.len());
        for s in suggestions {
            // Defence in depth: only public, open channels the caller may read and is not in.
            let Some(ch) = state.channels.get(&s.channel) else { continue };
            if ch.kind != ChannelKind::Public || ch.archived || ch.members.contains(&caller.user) {
                continue;
            }
            let Some(channel) = self.store().channel(s.channel)? else { continue };
            out.push(ChannelSuggestionView { channel, reason: s.reason, score: s.score });
        }
        Ok(out)
    }
}
