//! Confab's message search: one full-text index for the whole server.
//!
//! # API
//!
//! - [`SearchIndex::open`]`(dir, `[`SearchConfig`]`)` opens or creates the index and
//!   says what it found ([`OpenOutcome`]): `Fresh` or `Recreated { reason }` (missing,
//!   corrupt or outdated index, now empty) mean "rebuild from the store";
//!   `Existing { cursor }` means "replay your events after `cursor`".
//! - Updates: [`SearchIndex::index_messages`] (upsert by message id),
//!   [`SearchIndex::bulk_add`] (fast path for rebuilds), [`SearchIndex::update_counts`],
//!   [`SearchIndex::delete_message`], [`SearchIndex::delete_workspace`].
//! - Progress: [`SearchIndex::advance_cursor`] / [`SearchIndex::commit`] store the
//!   caller's opaque [`IndexCursor`] in the commit; [`SearchIndex::indexed_cursor`]
//!   reads it back.
//! - [`SearchIndex::search`]`(&`[`SearchRequest`]`)` answers [`SearchResults`] or a
//!   [`confab_core::Error`] (`InvalidQuery`, `IndexRebuilding`, `Internal`).
//! - Ranking: [`RankingWeights`] (versioned, serde), [`FeatureVector`], and the pure
//!   [`ranking::score`].
//!
//! # Invariants
//!
//! - **One index, one writer.** Every document carries its workspace id. There is one
//!   tantivy `IndexWriter` per process (tantivy's directory lock enforces it).
//! - **Tenant and permission filters live here.** A [`SearchRequest`] cannot be built
//!   without a typed [`WorkspaceId`](confab_core::WorkspaceId) and the channels the
//!   searcher may read; `search` always adds both as filters to the tantivy query (and
//!   re-checks each hit's channel), so no caller can forget them. An empty readable
//!   set returns nothing.
//! - **The index is derived data.** The store is the source of truth. Losing or
//!   corrupting the index loses nothing: `open` recreates it and the caller rebuilds it
//!   (marking it with [`SearchIndex::set_rebuilding`] meanwhile, during which `search`
//!   answers `IndexRebuilding`).
//! - **Lag.** A change is searchable after the next commit: the background committer
//!   (every [`SearchConfig::commit_interval`], 500 ms by default) commits and reloads
//!   when anything changed, so a new message is searchable within ~0.5 s plus commit
//!   time. After a crash, the index holds at least everything up to the stored cursor;
//!   replaying events after it (upserts and deletes are idempotent) closes the gap.

pub mod index;
pub mod query;
pub mod ranking;
pub mod search;
pub mod snippet;
pub mod tokenizer;

pub use index::{
    IndexCursor, IndexDoc, IndexError, OpenOutcome, SearchConfig, SearchIndex, ThreadStart, text_has_link,
};
pub use query::{ParsedQuery, QueryError};
pub use ranking::{Affinity, FeatureVector, PrivateAffinity, RankingWeights, WeightsError};
pub use search::{NameMap, Resolver, SearchHit, SearchRequest, SearchResults, SortOrder};
pub use snippet::SnippetPart;
