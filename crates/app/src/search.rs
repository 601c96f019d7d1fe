//! Search as a use case: who may search what, the searcher's affinities for ranking,
//! the answer's shape, and the impression/click log that training may later learn
//! from (only with the workspace's consent for `search_interactions`). The log holds
//! the hit's `logged_features`: affinities derived from DMs and private channels rank
//! results but are never logged, so the log (and any preview or snapshot of it)
//! cannot tell who has DMs with whom.

use std::collections::BTreeMap;

use confab_consent::SearchInteraction;
use confab_core::{ChannelId, ChannelKind, Error, ErrorCode, UserId, UserProfile, WorkspaceId};
use confab_search::{Affinity, RankingWeights, Resolver, SearchRequest, SnippetPart, SortOrder};
use confab_store::{Batch, Op};

use crate::error::Result;
use crate::{App, Caller, new_ulid, now_ms};

/// The store namespace of logged search impressions, keyed by query id.
pub(crate) const SEARCH_LOG: &str = "search_log";

pub use confab_protocol::http::{ChannelRef, SearchClick};

/// The query string of a search (`confab_protocol::http::SearchParams`).
pub type SearchParams = confab_protocol::http::SearchParams<SortOrder>;
/// One hit of an answer (`confab_protocol::http::SearchHit`).
pub type SearchHitView = confab_protocol::http::SearchHit<SnippetPart>;
/// The answer to a search (`confab_protocol::http::SearchAnswer`).
pub type SearchAnswer = confab_protocol::http::SearchAnswer<SearchHitView>;

/// Resolves `from:@name` and `in:#name` within one workspace.
struct WorkspaceNames<'a> {
    app: &'a App,
    workspace: WorkspaceId,
}

impl Resolver for WorkspaceNames<'_> {
    fn user_by_username(&self, username: &str) -> Option<UserId> {
        let user = self.app.store().user_by_username(username).ok().flatten()?.user.id;
        // Only members of this workspace: one look-up per `from:` name, rather than a
        // copy of the member list per search.
        self.app.store().member(self.workspace, user).ok().flatten().map(|m| m.user)
    }

    fn channel_by_name(&self, name: &str) -> Option<ChannelId> {
        self.app.store().channel_by_name(self.workspace, name).ok().flatten()
    }
}

impl App {
    /// The ranking weights for a workspace: a trained model it may use, else the
    /// hand-set defaults.
    fn ranking_weights(&self, ws: WorkspaceId) -> RankingWeights {
        self.served_ranking_weights(ws).unwrap_or_default()
    }

    pub fn search(&self, caller: Caller, ws: WorkspaceId, params: SearchParams) -> Result<SearchAnswer> {
        self.check_search_rate(caller.user)?;
        let limit = params.limit.unwrap_or(20);
        if limit == 0 || limit > 100 {
            return Err(Error::invalid_field("limit", "1 to 100").into());
        }
        let offset = params.offset.unwrap_or(0);
        if offset > 1000 {
            return Err(Error::invalid_field("offset", "at most 1000").into());
        }
        if params.q.chars().count() > 1000 {
            return Err(
                Error::new(ErrorCode::InvalidQuery, "the query is longer than 1000 characters").into()
            );
        }
        let state = self.workspace(ws)?;
        let (readable, affinity) = {
            let state = state.read();
            state.require_member(caller.user)?;
            // Computed now, at search time: leaving a channel hides it at once.
            let readable = state.readable_channels(caller.user);
            // Public memberships are known to the workspace: they may be logged. What
            // comes from DMs and private channels goes in the private tier, which ranks
            // the caller's results but never enters the impression log.
            let mut affinity = Affinity::default();
            for (id, ch) in &state.channels {
                if ch.members.contains(&caller.user) {
                    match ch.kind {
                        ChannelKind::Public => {
                            affinity.channels.insert(*id, 0.5);
                        }
                        ChannelKind::Private | ChannelKind::Dm => {
                            affinity.private.channels.insert(*id, 1.0);
                        }
                    }
                    if ch.kind == ChannelKind::Dm {
                        for other in ch.members.iter().filter(|u| **u != caller.user) {
                            affinity.private.authors.insert(*other, 1.0);
                        }
                    }
                }
            }
            (readable, affinity)
        };
        let resolver = WorkspaceNames { app: self, workspace: ws };
        let weights = self.ranking_weights(ws);
        let results = self.inner.search.search(&SearchRequest {
            workspace: ws,
            readable_channels: &readable,
            query: &params.q,
            resolver: &resolver,
            sort: params.sort.unwrap_or_default(),
            limit,
            offset,
            affinity: &affinity,
            weights: &weights,
            now: now_ms(),
        })?;
        let query_id = new_ulid().to_string();
        let store = self.store();
        let mut hits = Vec::with_capacity(results.hits.len());
        let mut log = Vec::with_capacity(results.hits.len());
        for hit in results.hits {
            // The index may lag a delete by a moment: show only what the store has.
            let Some(message) = store.message(hit.message_id)? else { continue };
            if message.deleted || message.workspace != ws || !readable.contains(&message.channel) {
                continue;
            }
            let Some(channel) = store.channel(message.channel)? else { continue };
            let Some(author) = store.user(message.author)? else { continue };
            let thread_root = match message.thread_root {
                Some(root) => store.message(root)?,
                None => None,
            };
            log.push(SearchInteraction {
                user: caller.user,
                at: now_ms(),
                query_id: query_id.clone(),
                message: message.id,
                channel: message.channel,
                author: message.author,
                features: feature_map(&hit.logged_features),
                clicked: false,
            });
            hits.push(SearchHitView {
                channel: ChannelRef { id: channel.id, name: channel.name, kind: channel.kind },
                author: UserProfile::from(&author.user),
                message,
                snippet: hit.snippet,
                score: hit.score,
                thread_root,
            });
        }
        if !log.is_empty() && self.config().search.log_max_queries > 0 {
            let value = serde_json::to_vec(&log)?;
            let mut batch = Batch::new();
            batch.push(Op::PutBlob {
                workspace: ws,
                namespace: SEARCH_LOG,
                key: query_id.as_bytes().to_vec(),
                value,
            });
            // An impression log is best-effort: it is flushed with the next write.
            store.apply(batch)?;
            self.note_search_logged(ws);
        }
        Ok(SearchAnswer { query_id, total: results.total, partial: results.partial, hits })
    }

    /// Records that the caller opened a result of one of their own searches.
    pub async fn search_click(&self, caller: Caller, ws: WorkspaceId, click: SearchClick) -> Result<()> {
        self.check_write_rate(caller.user)?;
        self.workspace(ws)?.read().require_member(caller.user)?;
        let unknown = || Error::new(ErrorCode::NotFound, "no such search result");
        if click.query_id.len() > 64 {
            return Err(unknown().into());
        }
        let raw = self.store().blob(ws, SEARCH_LOG, click.query_id.as_bytes())?.ok_or_else(unknown)?;
        let mut log: Vec<SearchInteraction> = serde_json::from_slice(&raw)?;
        let Some(entry) = log.iter_mut().find(|e| e.message == click.message && e.user == caller.user) else {
            return Err(unknown().into());
        };
        entry.clicked = true;
        let value = serde_json::to_vec(&log)?;
        let mut batch = Batch::new();
        batch.push(Op::PutBlob {
            workspace: ws,
            namespace: SEARCH_LOG,
            key: click.query_id.into_bytes(),
            value,
        });
        self.write_global(batch).await
    }
}

/// Log entries deleted per batch when pruning (keeps each batch small).
const PRUNE_BATCH: usize = 1_000;

impl App {
    /// Counts a logged search; every [`SearchLogPruning::EVERY`]-th one prunes its
    /// workspace's log in the background, so the log stays near its bound between
    /// the periodic sweeps.
    fn note_search_logged(&self, ws: WorkspaceId) {
        if self.inner.search_log_pruning.note() {
            let app = self.clone();
            tokio::spawn(async move {
                if let Err(e) = app.prune_search_log(ws).await {
                    tracing::warn!(error = %e, "pruning the search log failed");
                }
            });
        }
    }

    /// Deletes a workspace's logged searches older than `search.log_max_age_days`,
    /// then the oldest past `search.log_max_queries`. Returns how many went.
    pub async fn prune_search_log(&self, ws: WorkspaceId) -> Result<usize> {
        let config = &self.config().search;
        let oldest_kept = now_ms() - i64::from(config.log_max_age_days) * 86_400_000;
        // Keys are query ids, ULIDs: in time order, with their time inside.
        let keys = self.store().blob_keys(ws, SEARCH_LOG)?;
        let too_many = keys.len().saturating_sub(config.log_max_queries);
        let expired = keys.iter().take_while(|k| logged_at(k).is_none_or(|at| at < oldest_kept)).count();
        let doomed = &keys[..too_many.max(expired)];
        for chunk in doomed.chunks(PRUNE_BATCH) {
            let mut batch = Batch::new();
            for key in chunk {
                batch.push(Op::DeleteBlob { workspace: ws, namespace: SEARCH_LOG, key: key.clone() });
            }
            self.write_global(batch).await?;
        }
        Ok(doomed.len())
    }
}

/// When a logged search ran, from its query id; `None` for a key that is not one.
fn logged_at(key: &[u8]) -> Option<i64> {
    let id = std::str::from_utf8(key).ok()?.parse::<ulid::Ulid>().ok()?;
    i64::try_from(id.timestamp_ms()).ok()
}

/// Counts logged searches to decide when one triggers a prune.
#[derive(Default)]
pub(crate) struct SearchLogPruning {
    logged: std::sync::atomic::AtomicU64,
}

impl SearchLogPruning {
    const EVERY: u64 = 256;

    /// Counts one; true when this one should prune.
    fn note(&self) -> bool {
        let n = self.logged.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        n.is_multiple_of(Self::EVERY)
    }
}

fn feature_map(features: &confab_search::FeatureVector) -> BTreeMap<String, f64> {
    match serde_json::to_value(features) {
        Ok(serde_json::Value::Object(map)) => {
            map.into_iter().filter_map(|(k, v)| v.as_f64().map(|f| (k, f))).collect()
        }
        _ => BTreeMap::new(),
    }
}
