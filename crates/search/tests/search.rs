//! Integration tests of `confab-search`: relevance signals, operators, updates,
//! permissions (property test), reopening and recovery from a damaged index.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use confab_core::{ChannelId, ErrorCode, MessageId, WorkspaceId};
use confab_search::{
    Affinity, IndexCursor, IndexDoc, NameMap, OpenOutcome, RankingWeights, SearchConfig, SearchIndex,
    SearchRequest, SearchResults, SortOrder,
};
use confab_test_support::search::{self as corpus, NOW, channel_id, user_id, workspace_id};
use proptest::prelude::*;

const DAY: i64 = 86_400_000;

fn test_config() -> SearchConfig {
    SearchConfig {
        writer_memory_bytes: 15_000_000,
        indexing_threads: 1,
        commit_interval: None,
        thread_start: None,
    }
}

fn ram_index() -> SearchIndex {
    SearchIndex::open_in_ram(test_config()).unwrap()
}

fn message_id(n: u64) -> MessageId {
    MessageId::from_ulid(ulid::Ulid::from_parts(4, u128::from(n)))
}

/// A message in workspace 1, posted `days_ago` before `NOW`.
fn doc(n: u64, channel: u64, author: u64, days_ago: i64, text: &str) -> IndexDoc {
    IndexDoc {
        id: message_id(n),
        workspace: workspace_id(1),
        channel: channel_id(1, channel),
        author: user_id(author),
        thread_root: None,
        created_at: NOW - days_ago * DAY,
        text: text.to_string(),
        reaction_count: 0,
        reply_count: 0,
        has_link: confab_search::text_has_link(text),
        has_mention: text.contains('@'),
        has_file: false,
        has_image: false,
        file_names: Vec::new(),
        file_texts: Vec::new(),
    }
}

fn names() -> NameMap {
    let mut names = NameMap::default();
    for k in 0..10 {
        names.users.insert(format!("user{k}"), user_id(k));
        names.channels.insert(format!("chan{k}"), channel_id(1, k));
    }
    names
}

/// A search request builder with the usual defaults: workspace 1, channels 0..10
/// readable, relevance order, default weights, no affinity.
struct Search<'a> {
    index: &'a SearchIndex,
    workspace: WorkspaceId,
    channels: Vec<ChannelId>,
    sort: SortOrder,
    affinity: Affinity,
    weights: RankingWeights,
    limit: usize,
    offset: usize,
}

impl<'a> Search<'a> {
    fn new(index: &'a SearchIndex) -> Self {
        Search {
            index,
            workspace: workspace_id(1),
            channels: (0..10).map(|c| channel_id(1, c)).collect(),
            sort: SortOrder::Relevance,
            affinity: Affinity::default(),
            weights: RankingWeights::default(),
            limit: 20,
            offset: 0,
        }
    }

    fn run(&self, query: &str) -> Result<SearchResults, confab_core::Error> {
        let names = names();
        self.index.search(&SearchRequest {
            workspace: self.workspace,
            readable_channels: &self.channels,
            query,
            resolver: &names,
            sort: self.sort,
            limit: self.limit,
            offset: self.offset,
            affinity: &self.affinity,
            weights: &self.weights,
            now: NOW,
        })
    }

    /// The message numbers of the hits, in order.
    fn ids(&self, query: &str) -> Vec<u64> {
        let results = self.run(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        results.hits.iter().map(|h| number_of(h.message_id)).collect()
    }
}

fn number_of(id: MessageId) -> u64 {
    u64::try_from(id.ulid().random()).unwrap()
}

fn indexed(docs: &[IndexDoc]) -> SearchIndex {
    let index = ram_index();
    index.index_messages(docs).unwrap();
    index.commit(IndexCursor::new()).unwrap();
    index
}

// ---------------------------------------------------------------- relevance signals

#[test]
fn recent_message_ranks_first_for_equal_text() {
    let index =
        indexed(&[doc(1, 0, 0, 90, "quarterly report draft"), doc(2, 0, 0, 1, "quarterly report draft")]);
    assert_eq!(Search::new(&index).ids("report"), [2, 1]);
    let hits = Search::new(&index).run("report").unwrap().hits;
    assert!(hits[0].features.recency > hits[1].features.recency);
    assert_eq!(hits[0].features.text, hits[1].features.text);
}

#[test]
fn the_searchers_active_channel_ranks_first() {
    let index = indexed(&[doc(1, 0, 0, 5, "lunch order thread"), doc(2, 1, 0, 5, "lunch order thread")]);
    let mut search = Search::new(&index);
    search.affinity.channels.insert(channel_id(1, 1), 1.0);
    assert_eq!(search.ids("lunch"), [2, 1]);
    search.affinity.channels = HashMap::from([(channel_id(1, 0), 0.8)]);
    assert_eq!(search.ids("lunch"), [1, 2], "the order follows the affinity, not insertion");
}

#[test]
fn a_frequent_contact_ranks_first() {
    let index =
        indexed(&[doc(1, 0, 3, 5, "standup notes attached"), doc(2, 0, 4, 5, "standup notes attached")]);
    let mut search = Search::new(&index);
    search.affinity.authors.insert(user_id(4), 0.9);
    assert_eq!(search.ids("standup notes"), [2, 1]);
    search.affinity.authors = HashMap::from([(user_id(3), 0.9)]);
    assert_eq!(search.ids("standup notes"), [1, 2]);
}

#[test]
fn an_exact_phrase_beats_scattered_words() {
    let index = indexed(&[
        doc(1, 0, 0, 3, "failed to deploy yesterday, the build"),
        doc(2, 0, 0, 3, "yesterday the deploy failed to build"),
    ]);
    let hits = Search::new(&index).run("deploy failed").unwrap().hits;
    assert_eq!(hits.iter().map(|h| number_of(h.message_id)).collect::<Vec<_>>(), [2, 1]);
    assert_eq!((hits[0].features.phrase, hits[1].features.phrase), (1.0, 0.0));
    // Without the phrase weight the two tie on text and recency.
    let mut search = Search::new(&index);
    search.weights.phrase = 0.0;
    let hits = search.run("deploy failed").unwrap().hits;
    assert!((hits[0].score - hits[1].score).abs() < 1e-4);
}

#[test]
fn reactions_and_thread_size_lift_a_hit() {
    let mut popular = doc(1, 0, 0, 5, "offsite venue ideas");
    popular.reaction_count = 9;
    let mut discussed = doc(2, 0, 0, 5, "offsite venue ideas");
    discussed.reply_count = 14;
    let plain = doc(3, 0, 0, 5, "offsite venue ideas");
    let index = indexed(&[plain, popular, discussed]);
    let ids = Search::new(&index).ids("venue");
    assert_eq!(ids.last(), Some(&3), "{ids:?}");
    let mut search = Search::new(&index);
    search.weights.thread = 0.0;
    assert_eq!(search.ids("venue")[0], 1, "reactions alone lift the popular message");
    search.weights = RankingWeights { reactions: 0.0, ..RankingWeights::default() };
    assert_eq!(search.ids("venue")[0], 2, "thread size alone lifts the discussed message");
}

#[test]
fn text_relevance_dominates_other_signals() {
    // An old message that matches both words beats a fresh one matching one word in a
    // long text.
    let index = indexed(&[
        doc(1, 0, 0, 60, "kubernetes upgrade plan"),
        doc(2, 0, 0, 0, "some kubernetes chatter about the weather and lunch and other things entirely"),
    ]);
    assert_eq!(Search::new(&index).ids("kubernetes upgrade"), [1]);
    assert_eq!(Search::new(&index).ids("kubernetes")[0], 1);
}

#[test]
fn recent_sort_orders_by_time() {
    let index =
        indexed(&[doc(1, 0, 0, 3, "alpha"), doc(2, 0, 0, 1, "alpha alpha"), doc(3, 0, 0, 2, "alpha beta")]);
    let mut search = Search::new(&index);
    search.sort = SortOrder::Recent;
    assert_eq!(search.ids("alpha"), [2, 3, 1]);
    let hits = search.run("alpha").unwrap().hits;
    assert!(hits.iter().all(|h| h.features.text > 0.0), "features are computed in recent order too");
}

// ---------------------------------------------------------------- tokenisation

#[test]
fn stemming_folding_and_code_tokens() {
    let index = indexed(&[
        doc(1, 0, 0, 1, "We are deploying the Café build"),
        doc(2, 0, 0, 1, "rename parse_query_string in src/search/query.rs"),
        doc(3, 0, 0, 1, "the SearchIndexBuilder is slow, see https://docs.example.com/search/tuning"),
        doc(4, 0, 0, 1, "we deploy on fridays"),
    ]);
    let search = Search::new(&index);
    assert_eq!(sorted(search.ids("deploys")), [1, 4], "stems match");
    assert_eq!(search.ids("deploying")[0], 1, "the exact form ranks first");
    assert_eq!(search.ids("cafe"), [1]);
    assert_eq!(search.ids("CAFÉ"), [1]);
    assert_eq!(search.ids("parse_query_string"), [2]);
    assert_eq!(search.ids("query"), [2]);
    assert_eq!(search.ids("src/search/query.rs"), [2]);
    assert_eq!(search.ids("\"search query rs\""), [2]);
    assert_eq!(search.ids("builder"), [3]);
    assert_eq!(search.ids("searchindexbuilder"), [3]);
    assert_eq!(search.ids("tuning"), [3]);
    assert_eq!(search.ids("https://docs.example.com/search/tuning"), [3]);
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

// ---------------------------------------------------------------- operators

fn operator_fixture() -> SearchIndex {
    let mut docs = vec![
        doc(1, 0, 0, 10, "release notes for version two"),
        doc(2, 1, 1, 5, "release party notes https://example.com/party"),
        doc(3, 2, 2, 1, "@user0 release checklist"),
        doc(4, 0, 1, 0, "notes without the r-word"),
    ];
    docs[0].reaction_count = 2;
    docs[1].thread_root = Some(message_id(1));
    docs[3].reply_count = 3;
    indexed(&docs)
}

#[test]
fn every_operator_filters() {
    let index = operator_fixture();
    let s = Search::new(&index);
    let q = |query: &str| sorted(s.ids(query));
    assert_eq!(q("release"), [1, 2, 3]);
    assert_eq!(q("release notes"), [1, 2], "all words must match");
    assert_eq!(q("\"release notes\""), [1]);
    assert_eq!(q("notes -release"), [4]);
    assert_eq!(q("notes -\"party notes\""), [1, 4]);
    assert_eq!(q("release from:@user1"), [2]);
    assert_eq!(q("from:user1"), [2, 4], "operators alone are a query");
    assert_eq!(q("release from:@user0 from:@user2"), [1, 3], "several from: mean any");
    assert_eq!(q("notes -from:@user1"), [1]);
    assert_eq!(q("release in:#chan1"), [2]);
    assert_eq!(q("notes -in:#chan0"), [2]);
    let day = |days_ago: i64| {
        time::OffsetDateTime::from_unix_timestamp((NOW - days_ago * DAY) / 1000).unwrap().date().to_string()
    };
    assert_eq!(q(&format!("release on:{}", day(5))), [2]);
    assert_eq!(q(&format!("release before:{}", day(5))), [1]);
    assert_eq!(q(&format!("release after:{}", day(5))), [3]);
    assert_eq!(q(&format!("notes after:{} before:{}", day(11), day(0))), [1, 2]);
    assert_eq!(q("release has:link"), [2]);
    assert_eq!(q("has:reaction"), [1]);
    assert_eq!(q("has:mention"), [3]);
    assert_eq!(q("is:thread"), [2, 4], "a reply and a root with replies");
    assert_eq!(q("notes -is:thread"), [1]);
}

#[test]
fn the_text_of_files_is_searched_like_the_text() {
    let mut with_file = doc(1, 0, 0, 1, "see the attached minutes");
    with_file.has_file = true;
    with_file.file_names = vec!["minutes.md".into()];
    with_file.file_texts = vec!["Quarterly budget review\nThe zanzibar deal is signed.".into()];
    let mut hidden = doc(2, 5, 0, 1, "private notes");
    hidden.file_texts = vec!["the zanzibar deal, privately".into()];
    let index = indexed(&[with_file, hidden, doc(3, 0, 0, 1, "zanzibar is an island")]);
    let mut s = Search::new(&index);
    s.channels = vec![channel_id(1, 0)];
    let q = |s: &Search, query: &str| sorted(s.ids(query));
    assert_eq!(q(&s, "zanzibar"), [1, 3], "found in a file, and only in readable channels");
    assert_eq!(q(&s, "\"zanzibar deal\""), [1], "phrases match inside a file's text");
    assert_eq!(q(&s, "budgets has:file"), [1], "file text is stemmed like the text");
    assert_eq!(q(&s, "attached reviewed"), [1], "words may come from the text and the file");
    assert_eq!(q(&s, "zanzibar -signed"), [3], "an excluded word in a file excludes its message");
    assert_eq!(q(&s, "\"minutes quarterly\""), Vec::<u64>::new(), "no phrase across values");
    let hit = s.run("signed").unwrap().hits.remove(0);
    let snippet: String = hit.snippet.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(snippet, "see the attached minutes", "the snippet shows the message, not the file");
    s.channels.push(channel_id(1, 5));
    assert_eq!(q(&s, "privately"), [2]);
    // A re-index without the file (it was deleted) forgets its text.
    index.index_messages(&[doc(1, 0, 0, 1, "see the attached minutes")]).unwrap();
    index.commit(IndexCursor::new()).unwrap();
    assert_eq!(q(&s, "zanzibar"), [2, 3]);
}

#[test]
fn unknown_names_match_nothing() {
    let index = operator_fixture();
    let s = Search::new(&index);
    let results = s.run("release from:@nobody").unwrap();
    assert_eq!((results.total, results.hits.len()), (0, 0));
    assert!(s.run("release in:#nowhere").unwrap().hits.is_empty());
    assert_eq!(sorted(s.ids("release -from:@nobody")), [1, 2, 3]);
}

#[test]
fn malformed_queries_are_invalid_query_errors() {
    let index = operator_fixture();
    let s = Search::new(&index);
    for (query, position) in [
        ("\"open", 0),
        ("x foo:bar", 2),
        ("x on:2024-02-30", 2),
        ("x from:", 2),
        ("-x", 0),
        ("", 0),
        ("... ---", 0),
    ] {
        let e = s.run(query).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidQuery, "{query}");
        assert!(e.message.contains(&format!("character {position}")), "{query}: {}", e.message);
    }
}

// ---------------------------------------------------------------- results

#[test]
fn hits_carry_ids_snippets_and_pages() {
    let mut docs: Vec<IndexDoc> =
        (0..30).map(|n| doc(n, n % 3, n % 4, n as i64, "weekly sync <script>agenda</script>")).collect();
    docs[7].thread_root = Some(message_id(100));
    let index = indexed(&docs);
    let mut s = Search::new(&index);
    s.sort = SortOrder::Recent;
    s.limit = 10;
    let page1 = s.run("agenda").unwrap();
    assert_eq!(page1.total, 30);
    assert!(!page1.partial);
    assert_eq!(
        page1.hits.iter().map(|h| number_of(h.message_id)).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    let hit = &page1.hits[7];
    assert_eq!(
        (hit.channel, hit.author, hit.thread_root),
        (channel_id(1, 1), user_id(3), Some(message_id(100)))
    );
    assert_eq!(hit.timestamp, NOW - 7 * DAY);
    let snippet: Vec<(&str, bool)> = hit.snippet.iter().map(|p| (p.text.as_str(), p.highlight)).collect();
    assert_eq!(snippet, [("weekly sync <script>", false), ("agenda", true), ("</script>", false)]);
    s.offset = 25;
    let last = s.run("agenda").unwrap();
    assert_eq!(last.hits.len(), 5);
    assert_eq!(number_of(last.hits[0].message_id), 25);
}

#[test]
fn paging_past_the_rerank_pool_shows_every_hit_once() {
    // The newest 300 - RERANK_POOL hits are the ones retrieval finds first; the older
    // ones have the reactions the ranking below goes by alone.
    let docs: Vec<IndexDoc> = (0..300u64)
        .map(|n| IndexDoc {
            reaction_count: if n >= confab_search::search::RERANK_POOL as u64 { 20 } else { 0 },
            ..doc(n, 0, 0, n as i64, "weekly agenda")
        })
        .collect();
    let index = indexed(&docs);
    let mut s = Search::new(&index);
    s.weights = RankingWeights {
        text: 0.0,
        phrase: 0.0,
        recency: 0.0,
        reactions: 1.0,
        thread: 0.0,
        channel_affinity: 0.0,
        author_affinity: 0.0,
        ..RankingWeights::default()
    };
    let mut shown = Vec::new();
    for offset in (0..300).step_by(20) {
        s.offset = offset;
        shown.extend(s.ids("agenda"));
    }
    let distinct: HashSet<u64> = shown.iter().copied().collect();
    assert_eq!((shown.len(), distinct.len()), (300, 300), "pages repeat or miss hits");
}

#[test]
fn rebuilding_index_answers_index_rebuilding() {
    let index = operator_fixture();
    index.set_rebuilding(true);
    assert_eq!(Search::new(&index).run("release").unwrap_err().code, ErrorCode::IndexRebuilding);
    index.set_rebuilding(false);
    assert_eq!(Search::new(&index).ids("release").len(), 3);
    index.set_catching_up(true);
    assert!(Search::new(&index).run("release").unwrap().partial);
}

// ---------------------------------------------------------------- tenancy

#[test]
fn other_workspaces_and_unreadable_channels_never_show() {
    let mut foreign = doc(9, 0, 0, 1, "secret merger plans");
    foreign.workspace = workspace_id(2);
    foreign.channel = channel_id(2, 0);
    let index =
        indexed(&[doc(1, 0, 0, 1, "merger rumours"), doc(2, 5, 0, 1, "merger plans private"), foreign]);
    let mut s = Search::new(&index);
    s.channels = vec![channel_id(1, 0), channel_id(2, 0)];
    assert_eq!(s.ids("merger"), [1], "a foreign channel id in the readable set does not leak");
    s.channels.clear();
    assert_eq!(s.run("merger").unwrap().total, 0);
    s.channels = vec![channel_id(1, 5)];
    assert_eq!(s.ids("merger in:#chan0"), Vec::<u64>::new(), "in: cannot widen the readable set");
}

// ---------------------------------------------------------------- updates

#[test]
fn edits_deletes_and_count_changes_show_after_commit() {
    let index = indexed(&[doc(1, 0, 0, 1, "draft budget"), doc(2, 0, 0, 1, "budget approved")]);
    let s = Search::new(&index);

    index.index_messages(&[doc(1, 0, 0, 1, "final budget")]).unwrap();
    index.commit(IndexCursor::new()).unwrap();
    assert_eq!(s.ids("draft"), Vec::<u64>::new(), "the old text is gone");
    assert_eq!(s.ids("final"), [1]);
    assert_eq!(s.run("budget").unwrap().total, 2, "an edit does not duplicate");

    let mut reacted = doc(2, 0, 0, 1, "budget approved");
    reacted.reaction_count = 5;
    index.update_counts(&reacted).unwrap();
    index.commit(IndexCursor::new()).unwrap();
    assert_eq!(s.ids("has:reaction"), [2]);
    let hit = s.run("approved").unwrap().hits.remove(0);
    assert!(hit.features.reactions > 0.0);

    index.delete_message(message_id(2)).unwrap();
    index.commit(IndexCursor::new()).unwrap();
    assert_eq!(s.ids("budget"), [1]);

    index.delete_workspace(workspace_id(1)).unwrap();
    index.commit(IndexCursor::new()).unwrap();
    assert_eq!(index.num_docs(), 0);
}

#[test]
fn background_committer_makes_a_message_searchable_within_a_second() {
    let config = SearchConfig { commit_interval: Some(Duration::from_millis(200)), ..test_config() };
    let index = SearchIndex::open_in_ram(config).unwrap();
    let posted = Instant::now();
    index.index_messages(&[doc(1, 0, 0, 0, "fresh news")]).unwrap();
    while Search::new(&index).ids("fresh").is_empty() {
        assert!(posted.elapsed() < Duration::from_secs(1), "not searchable within 1 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------- persistence

#[test]
fn reopen_restores_cursor_and_documents() {
    let dir = tempfile::tempdir().unwrap();
    let cursor = IndexCursor::from([(workspace_id(1), 42), (workspace_id(2), 7)]);
    {
        let (index, outcome) = SearchIndex::open(dir.path(), test_config()).unwrap();
        assert_eq!(outcome, OpenOutcome::Fresh);
        index.bulk_add([doc(1, 0, 0, 1, "persistent hello")]).unwrap();
        index.commit(cursor.clone()).unwrap();
        index.index_messages(&[doc(2, 0, 0, 1, "persistent later")]).unwrap();
        index.advance_cursor(IndexCursor::from([(workspace_id(1), 43)]));
        // Dropping commits what is pending, with the advanced cursor.
    }
    let (index, outcome) = SearchIndex::open(dir.path(), test_config()).unwrap();
    let expected = IndexCursor::from([(workspace_id(1), 43)]);
    assert_eq!(outcome, OpenOutcome::Existing { cursor: expected.clone() });
    assert_eq!(index.indexed_cursor(), expected);
    assert_eq!(sorted(Search::new(&index).ids("persistent")), [1, 2]);
    drop(index);
    let (_, outcome) = SearchIndex::open(dir.path(), test_config()).unwrap();
    assert!(matches!(outcome, OpenOutcome::Existing { .. }));
}

#[test]
fn a_second_writer_is_refused_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = SearchIndex::open(dir.path(), test_config()).unwrap();
    first.bulk_add([doc(1, 0, 0, 1, "keep me")]).unwrap();
    first.commit(IndexCursor::new()).unwrap();
    assert!(SearchIndex::open(dir.path(), test_config()).is_err());
    assert_eq!(Search::new(&first).ids("keep"), [1]);
}

fn damaged_index_is_recreated(damage: impl FnOnce(&std::path::Path)) -> String {
    let dir = tempfile::tempdir().unwrap();
    {
        let (index, _) = SearchIndex::open(dir.path(), test_config()).unwrap();
        index.bulk_add([doc(1, 0, 0, 1, "before the crash")]).unwrap();
        index.commit(IndexCursor::from([(workspace_id(1), 5)])).unwrap();
    }
    damage(&dir.path().join("tantivy"));
    let (index, outcome) = SearchIndex::open(dir.path(), test_config()).unwrap();
    let OpenOutcome::Recreated { reason } = outcome else { panic!("expected Recreated, got {outcome:?}") };
    assert_eq!(index.num_docs(), 0);
    assert_eq!(index.indexed_cursor(), IndexCursor::new());
    index.bulk_add([doc(2, 0, 0, 1, "after the rebuild")]).unwrap();
    index.commit(IndexCursor::new()).unwrap();
    assert_eq!(Search::new(&index).ids("rebuild"), [2]);
    drop(index);
    let (_, outcome) = SearchIndex::open(dir.path(), test_config()).unwrap();
    assert!(matches!(outcome, OpenOutcome::Existing { .. }), "the recreated index is valid: {outcome:?}");
    reason
}

#[test]
fn garbage_in_meta_json_is_detected() {
    let reason =
        damaged_index_is_recreated(|dir| std::fs::write(dir.join("meta.json"), b"{not json").unwrap());
    assert!(reason.contains("cannot open the index"), "{reason}");
}

#[test]
fn missing_meta_json_is_detected() {
    damaged_index_is_recreated(|dir| std::fs::remove_file(dir.join("meta.json")).unwrap());
}

#[test]
fn missing_segment_files_are_detected() {
    damaged_index_is_recreated(|dir| {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "idx" || e == "store") {
                std::fs::remove_file(path).unwrap();
            }
        }
    });
}

#[test]
fn a_cursorless_commit_is_detected() {
    let reason = damaged_index_is_recreated(|dir| {
        let meta = std::fs::read_to_string(dir.join("meta.json")).unwrap();
        let mut json: serde_json::Value = serde_json::from_str(&meta).unwrap();
        json["payload"] = serde_json::Value::Null;
        std::fs::write(dir.join("meta.json"), json.to_string()).unwrap();
    });
    assert!(reason.contains("cursor"), "{reason}");
}

// ---------------------------------------------------------------- corpus slice

struct CorpusSlice {
    index: SearchIndex,
    docs: Vec<IndexDoc>,
}

/// 12,000 corpus messages over 20 channels and 40 users, indexed once per test run.
fn corpus_slice() -> &'static CorpusSlice {
    static SLICE: OnceLock<CorpusSlice> = OnceLock::new();
    SLICE.get_or_init(|| {
        let conversations = corpus::load(&corpus::corpus_path()).expect("corpus");
        let spec = corpus::WorkspaceSpec { workspace: 1, messages: 12_000, channels: 10, users: 40, seed: 7 };
        let mut docs = Vec::new();
        corpus::generate(&conversations[..600], &spec, |d| docs.push(d));
        let index = SearchIndex::open_in_ram(SearchConfig { indexing_threads: 2, ..test_config() }).unwrap();
        index.bulk_add(docs.iter().cloned()).unwrap();
        index.commit(IndexCursor::new()).unwrap();
        CorpusSlice { index, docs }
    })
}

/// The most frequent multi-word text of the slice and the documents that have it.
fn duplicated_text(slice: &CorpusSlice) -> (String, Vec<&IndexDoc>) {
    let mut by_text: HashMap<&str, Vec<&IndexDoc>> = HashMap::new();
    for d in &slice.docs {
        if d.text.split_whitespace().count() >= 3 && !d.has_link && !d.has_mention {
            by_text.entry(d.text.as_str()).or_default().push(d);
        }
    }
    let (text, docs) = by_text.into_iter().max_by_key(|(t, d)| (d.len(), *t)).unwrap();
    (text.to_string(), docs)
}

#[test]
fn corpus_equal_texts_rank_by_recency_channel_and_contact() {
    let slice = corpus_slice();
    let (text, copies) = duplicated_text(slice);
    assert!(copies.len() >= 5, "{text:?} occurs {} times", copies.len());
    let query = format!("\"{}\"", text.to_lowercase().replace('"', ""));
    let mut s = Search::new(&slice.index);
    s.limit = 100;
    // Isolate each signal: counts on corpus copies differ, so switch those off.
    s.weights = RankingWeights { reactions: 0.0, thread: 0.0, ..RankingWeights::default() };
    let exact_copies = |results: &SearchResults| -> Vec<MessageId> {
        let ids: HashSet<MessageId> = copies.iter().map(|d| d.id).collect();
        results.hits.iter().map(|h| h.message_id).filter(|id| ids.contains(id)).collect()
    };
    let newest = copies.iter().max_by_key(|d| d.created_at).unwrap();
    let oldest = copies.iter().min_by_key(|d| d.created_at).unwrap();
    assert_eq!(exact_copies(&s.run(&query).unwrap())[0], newest.id, "recency");

    // Affinity against recency would depend on the copies' ages: compare at equal age.
    s.weights.recency = 0.0;
    s.affinity.channels.insert(oldest.channel, 1.0);
    let ranked = exact_copies(&s.run(&query).unwrap());
    let first = copies.iter().find(|d| d.id == ranked[0]).unwrap();
    assert_eq!(first.channel, oldest.channel, "channel affinity");

    s.affinity = Affinity::default();
    s.affinity.authors.insert(oldest.author, 1.0);
    let ranked = exact_copies(&s.run(&query).unwrap());
    let first = copies.iter().find(|d| d.id == ranked[0]).unwrap();
    assert_eq!(first.author, oldest.author, "author affinity");

    // An affinity from DMs or private channels ranks just the same, but never enters
    // the features that are logged for training.
    s.affinity = Affinity::default();
    s.affinity.private.authors.insert(oldest.author, 1.0);
    s.affinity.private.channels.insert(oldest.channel, 1.0);
    let results = s.run(&query).unwrap();
    let ranked = exact_copies(&results);
    let first = copies.iter().find(|d| d.id == ranked[0]).unwrap();
    assert_eq!(first.author, oldest.author, "a private affinity still ranks");
    let boosted = results.hits.iter().filter(|h| h.author == oldest.author).collect::<Vec<_>>();
    assert!(!boosted.is_empty() && boosted.iter().all(|h| h.features.author_affinity == 1.0));
    for hit in &results.hits {
        assert_eq!(hit.logged_features.author_affinity, 0.0, "a DM partner reached the logged features");
        assert_eq!(
            hit.logged_features.channel_affinity, 0.0,
            "a private channel reached the logged features"
        );
        assert_eq!(hit.logged_features.text, hit.features.text);
    }
}

#[test]
fn corpus_phrase_matches_outrank_scattered_words() {
    let slice = corpus_slice();
    let mut s = Search::new(&slice.index);
    s.limit = 100;
    // Text and phrase only, so the comparison isolates the phrase signal.
    s.weights = RankingWeights { recency: 0.0, reactions: 0.0, thread: 0.0, ..RankingWeights::default() };
    let with_phrase = s.run("favorite movie").unwrap().hits;
    let phrase_hits = with_phrase.iter().filter(|h| h.features.phrase == 1.0).count();
    let scattered_hits = with_phrase.len() - phrase_hits;
    assert!(phrase_hits >= 2 && scattered_hits >= 2, "{phrase_hits} phrase / {scattered_hits} scattered");
    let phrase_on_top = |hits: &[confab_search::SearchHit]| {
        hits.iter().take(phrase_hits).filter(|h| h.features.phrase == 1.0).count()
    };
    assert_eq!(
        phrase_on_top(&with_phrase),
        phrase_hits,
        "every phrase match ranks above every scattered one"
    );

    s.weights.phrase = 0.0;
    let without = s.run("favorite movie").unwrap().hits;
    assert!(phrase_on_top(&without) < phrase_hits, "by BM25 alone some scattered match would rank higher");
    for hit in &with_phrase {
        let text: String = hit.snippet.iter().map(|p| p.text.as_str()).collect::<String>().to_lowercase();
        assert!(text.contains("favorite") && text.contains("movie"), "{text}");
    }
}

#[test]
fn corpus_results_respect_readable_channels() {
    let slice = corpus_slice();
    let mut s = Search::new(&slice.index);
    s.channels = vec![channel_id(1, 2), channel_id(1, 5)];
    s.limit = 100;
    for query in ["hello", "how are you", "\"what do you\"", "has:link", "is:thread"] {
        let results = s.run(query).unwrap();
        let expected_max = slice.docs.iter().filter(|d| s.channels.contains(&d.channel)).count();
        assert!(results.total <= expected_max);
        assert!(results.total > 0, "{query}");
        assert!(results.hits.iter().all(|h| s.channels.contains(&h.channel)), "{query}");
    }
}

// ---------------------------------------------------------------- permission property

const VOCABULARY: &[&str] = &["apple", "kiwi", "mango", "plum", "lime", "fig"];

#[derive(Clone, Debug)]
struct World {
    /// (workspace, channel index within it, author, words)
    messages: Vec<(u64, u64, u64, Vec<usize>)>,
    /// Per searcher: workspace and readable channel indexes.
    searchers: Vec<(u64, Vec<u64>)>,
    queries: Vec<Query>,
}

#[derive(Clone, Debug)]
struct Query {
    words: Vec<usize>,
    excluded: Option<usize>,
    from: Option<u64>,
}

impl Query {
    fn text(&self) -> String {
        let mut parts: Vec<String> = self.words.iter().map(|&w| VOCABULARY[w].to_string()).collect();
        if let Some(x) = self.excluded {
            parts.push(format!("-{}", VOCABULARY[x]));
        }
        if let Some(u) = self.from {
            parts.push(format!("from:@user{u}"));
        }
        parts.join(" ")
    }

    fn matches(&self, words: &[usize], author: u64) -> bool {
        self.words.iter().all(|w| words.contains(w))
            && self.excluded.is_none_or(|x| !words.contains(&x))
            && self.from.is_none_or(|u| u == author)
    }
}

fn world() -> impl Strategy<Value = World> {
    let message = (0..3u64, 0..4u64, 0..5u64, prop::collection::vec(0..VOCABULARY.len(), 1..4));
    let searcher = (0..3u64, prop::collection::vec(0..4u64, 0..4));
    let query = (
        prop::collection::vec(0..VOCABULARY.len(), 0..3),
        prop::option::of(0..VOCABULARY.len()),
        prop::option::of(0..5u64),
    )
        .prop_filter_map("a query needs something positive", |(words, excluded, from)| {
            (!words.is_empty() || from.is_some()).then_some(Query { words, excluded, from })
        });
    (
        prop::collection::vec(message, 1..40),
        prop::collection::vec(searcher, 1..5),
        prop::collection::vec(query, 1..6),
    )
        .prop_map(|(messages, searchers, queries)| World { messages, searchers, queries })
}

fn world_docs(world: &World) -> Vec<IndexDoc> {
    world
        .messages
        .iter()
        .enumerate()
        .map(|(n, (ws, channel, author, words))| IndexDoc {
            id: message_id(n as u64),
            workspace: workspace_id(*ws),
            channel: channel_id(*ws, *channel),
            author: user_id(*author),
            thread_root: None,
            created_at: NOW - n as i64 * DAY,
            text: words.iter().map(|&w| VOCABULARY[w]).collect::<Vec<_>>().join(" "),
            reaction_count: 0,
            reply_count: 0,
            has_link: false,
            has_mention: false,
            has_file: false,
            has_image: false,
            file_names: Vec::new(),
            file_texts: Vec::new(),
        })
        .collect()
}

/// Checks every (searcher, query) pair of a world against brute force: no hit is
/// outside the searcher's workspace and readable channels, and the hits are exactly
/// the matching readable messages.
fn check_world(index: &SearchIndex, world: &World) -> Result<(), TestCaseError> {
    let docs = world_docs(world);
    for (ws, readable) in &world.searchers {
        let mut names = NameMap::default();
        for u in 0..5 {
            names.users.insert(format!("user{u}"), user_id(u));
        }
        let channels: Vec<ChannelId> = readable.iter().map(|&c| channel_id(*ws, c)).collect();
        for query in &world.queries {
            let text = query.text();
            let results = index
                .search(&SearchRequest {
                    workspace: workspace_id(*ws),
                    readable_channels: &channels,
                    query: &text,
                    resolver: &names,
                    sort: SortOrder::Relevance,
                    limit: 100,
                    offset: 0,
                    affinity: &Affinity::default(),
                    weights: &RankingWeights::default(),
                    now: NOW,
                })
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            let expected: HashSet<MessageId> = docs
                .iter()
                .zip(&world.messages)
                .filter(|(d, (_, _, author, words))| {
                    d.workspace == workspace_id(*ws)
                        && channels.contains(&d.channel)
                        && query.matches(words, *author)
                })
                .map(|(d, _)| d.id)
                .collect();
            for hit in &results.hits {
                let source = docs.iter().find(|d| d.id == hit.message_id).unwrap();
                prop_assert_eq!(
                    source.workspace,
                    workspace_id(*ws),
                    "hit from another workspace for {}",
                    text
                );
                prop_assert!(channels.contains(&hit.channel), "hit from an unreadable channel for {}", text);
            }
            let got: HashSet<MessageId> = results.hits.iter().map(|h| h.message_id).collect();
            prop_assert_eq!(&got, &expected, "query {}", text);
            prop_assert_eq!(results.total, expected.len());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A fresh index per world: covers every world shape, including tiny ones.
    #[test]
    fn searches_never_leave_the_readable_channels_of_the_workspace(world in world()) {
        let index = indexed(&world_docs(&world));
        check_world(&index, &world)?;
    }
}

/// One big random world indexed once, then thousands of random searchers and queries.
#[test]
fn thousands_of_random_searches_stay_inside_permissions() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};

    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let messages = prop::collection::vec(
        (0..3u64, 0..4u64, 0..5u64, prop::collection::vec(0..VOCABULARY.len(), 1..4)),
        600,
    )
    .new_tree(&mut runner)
    .unwrap()
    .current();
    let base = World { messages, searchers: Vec::new(), queries: Vec::new() };
    let index = indexed(&world_docs(&base));
    let cases = world();
    let mut checked = 0;
    for _ in 0..400 {
        let sample = cases.new_tree(&mut runner).unwrap().current();
        let world =
            World { messages: base.messages.clone(), searchers: sample.searchers, queries: sample.queries };
        checked += world.searchers.len() * world.queries.len();
        check_world(&index, &world).unwrap();
    }
    assert!(checked >= 2_000, "only {checked} searches");
}
