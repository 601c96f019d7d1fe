//! Running a search: compiling a parsed query into a tantivy query with the tenant and
//! permission filters, retrieving candidates, re-ranking them with the linear model,
//! and building hits with snippets.
//!
//! Ranking is two-stage. Tantivy retrieves the top [`RERANK_POOL`] matches by BM25
//! (ties to the newer message), with every filter applied inside the query; those
//! candidates are then scored by [`ranking::score`](crate::ranking::score) on their
//! full [`FeatureVector`]. The pool keeps latency flat on large indexes; the cost is
//! that a message outside the best 200 text matches cannot be lifted into the results
//! by recency or affinity. Queries with no free text (operators only) take the
//! newest matches as candidates instead.

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::sync::atomic::Ordering;

use confab_core::{ChannelId, Error, ErrorCode, MessageId, Millis, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, TopDocs};
use tantivy::columnar::Column;
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, EnableScoring, Explanation, Occur, PhraseQuery, Query, RangeQuery, Scorer,
    TermQuery, TermSetQuery, Weight,
};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{
    DocAddress, DocId, DocSet, Order, Score, Searcher, SeekDangerResult, SegmentReader, TantivyDocument, Term,
};

use crate::index::{Fields, REACTIONS, REPLIES, SearchIndex, TIMESTAMP, join_id};
use crate::query::{self, ClauseKind, HasKind, ParsedQuery, QueryError};
use crate::ranking::{self, Affinity, FeatureVector, RankingWeights};
use crate::snippet::{HighlightTerms, SnippetPart, build_snippet};
use crate::tokenizer::{self, analyze, is_compound_whole};

/// Candidates re-ranked by the linear model; a page that goes deeper gets the
/// candidates past them in retrieval order (text score, or time).
pub const RERANK_POOL: usize = 200;
/// Deepest result reachable by pagination (`offset + limit`).
pub const MAX_RESULT_WINDOW: usize = 1_000;
/// Largest page.
pub const MAX_LIMIT: usize = 100;

/// Turns the names written in `from:` and `in:` into ids, within the searcher's
/// workspace. Names arrive without `@`/`#` and lower-cased.
///
/// An unknown name is not an error: a positive `from:@nobody` matches nothing (the
/// answer is "no results", just as for a word nobody wrote), and a negative one
/// excludes nothing.
pub trait Resolver {
    fn user_by_username(&self, username: &str) -> Option<UserId>;
    fn channel_by_name(&self, name: &str) -> Option<ChannelId>;
}

/// A [`Resolver`] over two maps, for callers that already hold the names.
#[derive(Clone, Debug, Default)]
pub struct NameMap {
    pub users: HashMap<String, UserId>,
    pub channels: HashMap<String, ChannelId>,
}

impl Resolver for NameMap {
    fn user_by_username(&self, username: &str) -> Option<UserId> {
        self.users.get(username).copied()
    }

    fn channel_by_name(&self, name: &str) -> Option<ChannelId> {
        self.channels.get(name).copied()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// The linear model over text relevance and the other features.
    #[default]
    Relevance,
    /// Newest first.
    Recent,
}

/// One search, as the app builds it for the signed-in user.
pub struct SearchRequest<'a> {
    /// The tenant: only its messages can be returned.
    pub workspace: WorkspaceId,
    /// The channels the searcher may read right now (computed by the caller at search
    /// time). Only messages of these channels can be returned.
    pub readable_channels: &'a [ChannelId],
    pub query: &'a str,
    pub resolver: &'a dyn Resolver,
    pub sort: SortOrder,
    /// Page size, at most [`MAX_LIMIT`].
    pub limit: usize,
    pub offset: usize,
    pub affinity: &'a Affinity,
    /// The ranking model for this workspace (default or trained).
    pub weights: &'a RankingWeights,
    /// "Now" for the recency feature (milliseconds since the epoch).
    pub now: Millis,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// How many messages match (all of them, not only this page).
    pub total: usize,
    pub hits: Vec<SearchHit>,
    /// The results may be incomplete: the index is catching up with recent changes,
    /// or the page reached past [`MAX_RESULT_WINDOW`] and was cut.
    pub partial: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub message_id: MessageId,
    pub channel: ChannelId,
    pub author: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_root: Option<MessageId>,
    pub timestamp: Millis,
    /// The linear model's score (the ranking key for `Relevance`).
    pub score: f32,
    /// The features the score was computed from.
    pub features: FeatureVector,
    /// The features to log with clicks for training: `features` with the affinities
    /// of the loggable tier only (nothing derived from DMs or private channels).
    pub logged_features: FeatureVector,
    pub snippet: Vec<SnippetPart>,
}

/// A compiled query: the tantivy clauses plus what re-ranking and snippets need.
struct Compiled {
    clauses: Vec<(Occur, Box<dyn Query>)>,
    /// Some clause contributes a text score.
    has_text: bool,
    /// Some positive clause can never match (an unknown `from:`/`in:` name).
    matches_nothing: bool,
    /// The query has a positive quoted phrase.
    has_phrase: bool,
    /// Parts of the positive free words, in order, for the phrase feature.
    word_parts: Vec<Term>,
    highlight: HighlightTerms,
}

impl SearchIndex {
    /// Searches the messages of `request.workspace` in `request.readable_channels`.
    ///
    /// Errors: [`ErrorCode::InvalidQuery`] for a malformed query (the message says
    /// where), [`ErrorCode::IndexRebuilding`] while the caller has marked the index as
    /// rebuilding, [`ErrorCode::Internal`] if the index fails (logged here).
    pub fn search(&self, request: &SearchRequest<'_>) -> Result<SearchResults, Error> {
        if self.is_rebuilding() {
            return Err(Error::new(
                ErrorCode::IndexRebuilding,
                "the search index is being rebuilt; try again in a little while",
            ));
        }
        let parsed = query::parse(request.query)?;
        let fields = self.inner.fields;
        let compiled = compile(&parsed, request.resolver, &fields)?;
        let window_wanted = request.offset.saturating_add(request.limit.min(MAX_LIMIT));
        let partial = self.inner.catching_up.load(Ordering::SeqCst) || window_wanted > MAX_RESULT_WINDOW;
        let empty = SearchResults { total: 0, hits: Vec::new(), partial };
        if compiled.matches_nothing || request.readable_channels.is_empty() {
            return Ok(empty);
        }
        self.run(request, &fields, compiled, window_wanted.min(MAX_RESULT_WINDOW), partial).map_err(|e| {
            tracing::error!(error = %e, "search failed");
            Error::internal()
        })
    }

    fn run(
        &self,
        request: &SearchRequest<'_>,
        fields: &Fields,
        compiled: Compiled,
        window: usize,
        partial: bool,
    ) -> tantivy::Result<SearchResults> {
        let searcher = self.inner.reader.searcher();
        let readable: HashSet<ChannelId> = request.readable_channels.iter().copied().collect();

        // The tenant and permission filters come first and are always present: no
        // query shape can leave them out. They score 0 so BM25 sees only the text.
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (
                Occur::Must,
                zero_score(term_query(Term::from_field_bytes(
                    fields.workspace,
                    &request.workspace.to_bytes(),
                ))),
            ),
            (
                Occur::Must,
                zero_score(Box::new(TermSetQuery::new(
                    readable.iter().map(|c| Term::from_field_bytes(fields.channel, &c.to_bytes())),
                ))),
            ),
        ];
        clauses.extend(compiled.clauses);
        let full_query = BooleanQuery::new(clauses);

        let by_text = request.sort == SortOrder::Relevance && compiled.has_text;
        let pool = if request.sort == SortOrder::Relevance { window.max(RERANK_POOL) } else { window };
        let (candidates, total): (Vec<(DocAddress, Option<Score>)>, usize) = if by_text {
            let top = TopDocs::with_limit(pool).tweak_score(|segment: &SegmentReader| {
                let timestamps = timestamp_column(segment);
                move |doc: DocId, score: Score| {
                    (score, timestamps.as_ref().and_then(|c| c.first(doc)).unwrap_or(0))
                }
            });
            let (top, total) = searcher.search(&full_query, &(top, Count))?;
            (top.into_iter().map(|((score, _), addr)| (addr, Some(score))).collect(), total)
        } else {
            let top = TopDocs::with_limit(pool).order_by_fast_field::<i64>(TIMESTAMP, Order::Desc);
            let (top, total) = searcher.search(&full_query, &(top, Count))?;
            (top.into_iter().map(|(_, addr)| (addr, None)).collect(), total)
        };

        // Text scores for candidates that were not retrieved by score.
        let text_scores: Vec<Score> = if by_text || !compiled.has_text {
            candidates.iter().map(|(_, s)| s.unwrap_or(0.0)).collect()
        } else {
            let weight = full_query.weight(EnableScoring::enabled_from_searcher(&searcher))?;
            let addrs: Vec<DocAddress> = candidates.iter().map(|(a, _)| *a).collect();
            scores_at(&searcher, weight.as_ref(), &addrs)?.into_iter().map(|s| s.unwrap_or(0.0)).collect()
        };
        let phrase_matches: Vec<bool> = if compiled.has_phrase {
            vec![true; candidates.len()]
        } else if compiled.word_parts.len() >= 2 {
            let phrase = PhraseQuery::new(compiled.word_parts.clone());
            let weight = phrase.weight(EnableScoring::disabled_from_searcher(&searcher))?;
            let addrs: Vec<DocAddress> = candidates.iter().map(|(a, _)| *a).collect();
            scores_at(&searcher, weight.as_ref(), &addrs)?.into_iter().map(|s| s.is_some()).collect()
        } else {
            vec![false; candidates.len()]
        };

        let best_text = text_scores.iter().copied().fold(0.0f32, f32::max);
        let mut columns: HashMap<u32, SegmentColumns> = HashMap::new();
        let mut ranked: Vec<(DocAddress, Row, (FeatureVector, FeatureVector), f32)> =
            Vec::with_capacity(candidates.len());
        for (k, (addr, _)) in candidates.iter().enumerate() {
            let segment_columns = match columns.entry(addr.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(SegmentColumns::load(searcher.segment_reader(addr.segment_ord))?)
                }
            };
            let row = segment_columns.row(addr.doc_id);
            // Defence in depth: the query already filtered on channel.
            if !readable.contains(&row.channel) {
                continue;
            }
            let features = FeatureVector {
                text: if best_text > 0.0 { text_scores[k] / best_text } else { 0.0 },
                phrase: if phrase_matches[k] { 1.0 } else { 0.0 },
                recency: FeatureVector::recency_of(row.timestamp, request.now),
                reactions: FeatureVector::count_feature(row.reactions),
                thread: FeatureVector::count_feature(row.replies),
                channel_affinity: request.affinity.channel(row.channel),
                author_affinity: request.affinity.author(row.author),
            };
            let score = ranking::score(&features, request.weights);
            let logged = FeatureVector {
                channel_affinity: request.affinity.loggable_channel(row.channel),
                author_affinity: request.affinity.loggable_author(row.author),
                ..features
            };
            ranked.push((*addr, row, (features, logged), score));
        }
        if request.sort == SortOrder::Relevance {
            // Only the first RERANK_POOL candidates are re-ranked; deeper ones follow in
            // retrieval order. Re-ranking the whole window instead would let a page that
            // reaches past the pool reorder the hits earlier pages showed, so paging by
            // `offset` showed some twice and others never.
            let head = ranked.len().min(RERANK_POOL);
            ranked[..head].sort_by(|a, b| b.3.total_cmp(&a.3).then(b.1.timestamp.cmp(&a.1.timestamp)));
        }

        let mut analyzer = tokenizer::index_analyzer();
        let mut hits = Vec::new();
        for (addr, row, (features, logged_features), score) in
            ranked.into_iter().skip(request.offset).take(request.limit.min(MAX_LIMIT))
        {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let text = doc.get_first(fields.text).and_then(|v| v.as_str()).unwrap_or_default();
            let stored_id = |field| doc.get_first(field).and_then(|v| v.as_bytes()?.try_into().ok());
            let Some(message_id) = stored_id(fields.message).map(MessageId::from_bytes) else {
                return Err(tantivy::TantivyError::InternalError("a document has no message id".into()));
            };
            hits.push(SearchHit {
                message_id,
                channel: row.channel,
                author: row.author,
                thread_root: stored_id(fields.thread_root).map(MessageId::from_bytes),
                timestamp: row.timestamp,
                score,
                features,
                logged_features,
                snippet: build_snippet(text, &compiled.highlight, &mut analyzer),
            });
        }
        Ok(SearchResults { total, hits, partial })
    }
}

fn timestamp_column(segment: &SegmentReader) -> Option<Column<i64>> {
    segment.fast_fields().i64(TIMESTAMP).ok()
}

/// For each address, the weight's score there, or `None` if it does not match.
/// Walks each segment's scorer forward with `seek`, so it costs a skip-list probe per
/// address rather than a full evaluation.
fn scores_at(
    searcher: &Searcher,
    weight: &dyn Weight,
    addrs: &[DocAddress],
) -> tantivy::Result<Vec<Option<Score>>> {
    let mut out = vec![None; addrs.len()];
    let mut order: Vec<usize> = (0..addrs.len()).collect();
    order.sort_by_key(|&k| (addrs[k].segment_ord, addrs[k].doc_id));
    let mut k = 0;
    while k < order.len() {
        let segment_ord = addrs[order[k]].segment_ord;
        let mut scorer = weight.scorer(searcher.segment_reader(segment_ord), 1.0)?;
        while k < order.len() && addrs[order[k]].segment_ord == segment_ord {
            let doc = addrs[order[k]].doc_id;
            let at = if scorer.doc() < doc { scorer.seek(doc) } else { scorer.doc() };
            if at == doc {
                out[order[k]] = Some(scorer.score());
            }
            k += 1;
        }
    }
    Ok(out)
}

/// What re-ranking and hits read from the fast columns.
struct Row {
    channel: ChannelId,
    author: UserId,
    timestamp: Millis,
    reactions: u64,
    replies: u64,
}

struct SegmentColumns {
    ids: [Column<u64>; 4],
    timestamp: Column<i64>,
    reactions: Column<u64>,
    replies: Column<u64>,
}

impl SegmentColumns {
    fn load(segment: &SegmentReader) -> tantivy::Result<Self> {
        let ff = segment.fast_fields();
        let names = ["channel_hi", "channel_lo", "author_hi", "author_lo"];
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            ids.push(ff.u64(name)?);
        }
        let ids: [Column<u64>; 4] =
            ids.try_into().map_err(|_| tantivy::TantivyError::InternalError("id columns missing".into()))?;
        Ok(SegmentColumns {
            ids,
            timestamp: ff.i64(TIMESTAMP)?,
            reactions: ff.u64(REACTIONS)?,
            replies: ff.u64(REPLIES)?,
        })
    }

    fn row(&self, doc: DocId) -> Row {
        let v = |k: usize| self.ids[k].first(doc).unwrap_or(0);
        Row {
            channel: ChannelId::from_bytes(join_id(v(0), v(1))),
            author: UserId::from_bytes(join_id(v(2), v(3))),
            timestamp: self.timestamp.first(doc).unwrap_or(0),
            reactions: self.reactions.first(doc).unwrap_or(0),
            replies: self.replies.first(doc).unwrap_or(0),
        }
    }
}

/// Wraps a query used as an exclusion (`Occur::MustNot`).
///
/// Tantivy 0.27's exclusion probes the excluded scorer with `seek_danger` at the
/// candidate document, which can lie *before* the scorer's current document (e.g. at
/// the start of a segment). The default `seek_danger` answers that correctly, but the
/// phrase scorer debug-asserts against it (a panic in debug builds). This wrapper
/// answers such probes itself: a document before the scorer's position is not in it.
#[derive(Debug)]
struct ExclusionQuery(Box<dyn Query>);

impl Clone for ExclusionQuery {
    fn clone(&self) -> Self {
        ExclusionQuery(self.0.box_clone())
    }
}

impl Query for ExclusionQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ExclusionWeight(self.0.weight(scoring)?)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.0.query_terms(visitor);
    }
}

struct ExclusionWeight(Box<dyn Weight>);

impl Weight for ExclusionWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(ForwardOnlyScorer(self.0.scorer(reader, boost)?)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.0.explain(reader, doc)
    }
}

struct ForwardOnlyScorer(Box<dyn Scorer>);

impl DocSet for ForwardOnlyScorer {
    fn advance(&mut self) -> DocId {
        self.0.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let doc = self.0.doc();
        if target <= doc { doc } else { self.0.seek(target) }
    }

    fn seek_danger(&mut self, target: DocId) -> SeekDangerResult {
        let doc = self.0.doc();
        match target.cmp(&doc) {
            std::cmp::Ordering::Less => SeekDangerResult::SeekLowerBound(doc),
            std::cmp::Ordering::Equal => SeekDangerResult::Found,
            std::cmp::Ordering::Greater => self.0.seek_danger(target),
        }
    }

    fn doc(&self) -> DocId {
        self.0.doc()
    }

    fn size_hint(&self) -> u32 {
        self.0.size_hint()
    }

    fn cost(&self) -> u64 {
        self.0.cost()
    }
}

impl Scorer for ForwardOnlyScorer {
    fn score(&mut self) -> Score {
        self.0.score()
    }
}

fn exclusion(query: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ExclusionQuery(query))
}

fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}

fn zero_score(query: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(query, 0.0))
}

/// Midnight UTC of `date`, in milliseconds.
fn day_start(date: time::Date) -> Millis {
    date.midnight().assume_utc().unix_timestamp() * 1000
}

fn day_end(date: time::Date) -> Millis {
    date.next_day().map_or(Millis::MAX, day_start)
}

fn timestamp_range(fields: &Fields, from: Bound<Millis>, to: Bound<Millis>) -> Box<dyn Query> {
    let term = |ms| Term::from_field_i64(fields.timestamp, ms);
    Box::new(RangeQuery::new(from.map(term), to.map(term)))
}

/// Compiles parsed clauses into tantivy clauses (without the tenant and permission
/// filters, which `run` adds unconditionally): [`plan`], then [`convert_to_query`].
fn compile(parsed: &ParsedQuery, resolver: &dyn Resolver, fields: &Fields) -> Result<Compiled, QueryError> {
    Ok(convert_to_query(&plan(parsed, resolver)?, fields))
}

/// A query's logical plan: each clause with its names resolved and its words analysed,
/// in query order, before any tantivy query exists. Tests pin it through `Debug`.
#[derive(Debug, Default, PartialEq)]
struct Plan {
    clauses: Vec<Planned>,
    /// The positive `from:` names, resolved (`None`: nobody has it); a match needs any one.
    authors: Vec<Option<UserId>>,
    /// The positive `in:` names, likewise.
    channels: Vec<Option<ChannelId>>,
}

/// One clause of the plan: excluded when `negated`, else required.
#[derive(Debug, PartialEq)]
struct Planned {
    negated: bool,
    node: Node,
}

#[derive(Debug, PartialEq)]
enum Node {
    /// Any of the forms a matching document may hold (see `tokenizer`): the word as
    /// written, and for a simple word its stem as a marked stem and as a word. A
    /// document with the exact form also holds its marked stem, so it matches twice and
    /// scores higher. `parts`: its tokens but compound wholes, for the phrase feature.
    Word {
        forms: Vec<String>,
        parts: Vec<String>,
    },
    /// Tokens at their offsets from the first (compound wholes left out).
    Phrase(Vec<(usize, String)>),
    /// A negated `from:` of a known name (positive ones are [`Plan::authors`]).
    Author(UserId),
    /// A negated `in:` of a known name.
    Channel(ChannelId),
    /// Sent within these bounds (milliseconds, UTC days).
    Time(Bound<Millis>, Bound<Millis>),
    HasReaction,
    HasLink,
    HasMention,
    HasFile,
    HasImage,
    InThread,
}

/// Resolves and analyses every clause. Fails when nothing positive is left to search.
fn plan(parsed: &ParsedQuery, resolver: &dyn Resolver) -> Result<Plan, QueryError> {
    let mut exact = tokenizer::exact_analyzer();
    let mut plan = Plan::default();
    let mut positive_clauses = 0usize;
    let mut first_unsearchable: Option<(usize, String)> = None;
    for clause in &parsed.clauses {
        let node = match &clause.kind {
            ClauseKind::Word(word) => match plan_word(&mut exact, word) {
                Some(node) => node,
                None => {
                    first_unsearchable.get_or_insert((clause.position, word.clone()));
                    continue;
                }
            },
            ClauseKind::Phrase(phrase) => match plan_phrase(&mut exact, phrase) {
                Some(node) => node,
                None => {
                    first_unsearchable.get_or_insert((clause.position, format!("\"{phrase}\"")));
                    continue;
                }
            },
            ClauseKind::From(name) => {
                let id = resolver.user_by_username(name);
                if !clause.negated {
                    plan.authors.push(id);
                    positive_clauses += 1;
                    continue;
                }
                // A negated unknown name excludes nothing.
                let Some(id) = id else { continue };
                Node::Author(id)
            }
            ClauseKind::In(name) => {
                let id = resolver.channel_by_name(name);
                if !clause.negated {
                    plan.channels.push(id);
                    positive_clauses += 1;
                    continue;
                }
                let Some(id) = id else { continue };
                Node::Channel(id)
            }
            ClauseKind::Before(date) => Node::Time(Bound::Unbounded, Bound::Excluded(day_start(*date))),
            ClauseKind::After(date) => Node::Time(Bound::Included(day_end(*date)), Bound::Unbounded),
            ClauseKind::On(date) => {
                Node::Time(Bound::Included(day_start(*date)), Bound::Excluded(day_end(*date)))
            }
            ClauseKind::Has(HasKind::Reaction) => Node::HasReaction,
            ClauseKind::Has(HasKind::Link) => Node::HasLink,
            ClauseKind::Has(HasKind::Mention) => Node::HasMention,
            ClauseKind::Has(HasKind::File) => Node::HasFile,
            ClauseKind::Has(HasKind::Image) => Node::HasImage,
            ClauseKind::IsThread => Node::InThread,
        };
        positive_clauses += usize::from(!clause.negated);
        plan.clauses.push(Planned { negated: clause.negated, node });
    }
    if positive_clauses == 0 {
        let (position, token) = first_unsearchable.unwrap_or_default();
        return Err(QueryError::new(
            position,
            token,
            "nothing searchable here: words need letters or digits",
        ));
    }
    Ok(plan)
}

/// A free word's forms, or `None` if it has no letters or digits.
fn plan_word(exact: &mut tantivy::tokenizer::TextAnalyzer, word: &str) -> Option<Node> {
    let tokens = analyze(exact, word);
    let main = tokens.first()?;
    let mut forms = vec![main.text.clone()];
    if !is_compound_whole(main) {
        let stem = tokenizer::stem(&main.text);
        forms.push(tokenizer::marked(&stem));
        if stem != main.text {
            forms.push(stem);
        }
    }
    let parts = tokens.iter().filter(|t| !is_compound_whole(t)).map(|t| t.text.clone()).collect();
    Some(Node::Word { forms, parts })
}

/// A quoted phrase's tokens at their offsets, or `None` if it has none.
fn plan_phrase(exact: &mut tantivy::tokenizer::TextAnalyzer, phrase: &str) -> Option<Node> {
    let tokens: Vec<_> = analyze(exact, phrase).into_iter().filter(|t| !is_compound_whole(t)).collect();
    let first = tokens.first()?.position;
    Some(Node::Phrase(tokens.into_iter().map(|t| (t.position - first, t.text)).collect()))
}

/// Builds the tantivy clauses of a plan, and what re-ranking and snippets need.
fn convert_to_query(plan: &Plan, fields: &Fields) -> Compiled {
    let mut out = Compiled {
        clauses: Vec::new(),
        has_text: false,
        matches_nothing: false,
        has_phrase: false,
        word_parts: Vec::new(),
        highlight: HighlightTerms::default(),
    };
    for Planned { negated, node } in &plan.clauses {
        let query = node_query(node, *negated, fields);
        out.clauses.push(if *negated { (Occur::MustNot, exclusion(query)) } else { (Occur::Must, query) });
        match node {
            Node::Word { forms, parts } if !negated => {
                out.has_text = true;
                out.word_parts.extend(parts.iter().map(|p| Term::from_field_text(fields.text, p)));
                out.highlight.extend(forms.iter().cloned());
            }
            Node::Phrase(tokens) if !negated => {
                out.has_text = true;
                out.has_phrase = true;
                out.highlight.extend(tokens.iter().map(|(_, t)| t.clone()));
            }
            _ => {}
        }
    }
    // Several `from:` (or `in:`) mean any of them; unknown names match nothing.
    let authors = plan.authors.iter().map(|a| a.map(|id| id.to_bytes())).collect::<Vec<_>>();
    let channels = plan.channels.iter().map(|c| c.map(|id| id.to_bytes())).collect::<Vec<_>>();
    for (ids, field) in [(authors, fields.author), (channels, fields.channel)] {
        if ids.is_empty() {
            continue;
        }
        let known: Vec<Term> =
            ids.iter().flatten().map(|bytes| Term::from_field_bytes(field, bytes)).collect();
        if known.is_empty() {
            out.matches_nothing = true;
        } else {
            out.clauses.push((Occur::Must, zero_score(Box::new(TermSetQuery::new(known)))));
        }
    }
    out
}

/// One plan node as a tantivy query. Words and phrases score, in the message's text
/// or in its files' text; a required filter scores 0 so that BM25 sees only the text.
fn node_query(node: &Node, negated: bool, fields: &Fields) -> Box<dyn Query> {
    let filter = |query: Box<dyn Query>| if negated { query } else { zero_score(query) };
    let searched = [fields.text, fields.file_text];
    match node {
        Node::Word { forms, .. } => {
            let record = if negated { IndexRecordOption::Basic } else { IndexRecordOption::WithFreqs };
            let term = |field, form: &String| -> Box<dyn Query> {
                Box::new(TermQuery::new(Term::from_field_text(field, form), record))
            };
            Box::new(BooleanQuery::new(
                searched
                    .iter()
                    .flat_map(|field| forms.iter().map(|form| (Occur::Should, term(*field, form))))
                    .collect(),
            ))
        }
        Node::Phrase(tokens) => Box::new(BooleanQuery::new(
            searched.iter().map(|field| (Occur::Should, phrase_query(*field, tokens))).collect(),
        )),
        Node::Author(id) => filter(term_query(Term::from_field_bytes(fields.author, &id.to_bytes()))),
        Node::Channel(id) => filter(term_query(Term::from_field_bytes(fields.channel, &id.to_bytes()))),
        Node::Time(from, to) => filter(timestamp_range(fields, *from, *to)),
        Node::HasReaction => filter(Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_u64(fields.reactions, 1)),
            Bound::Unbounded,
        ))),
        Node::HasLink => filter(term_query(Term::from_field_bool(fields.has_link, true))),
        Node::HasMention => filter(term_query(Term::from_field_bool(fields.has_mention, true))),
        Node::HasFile => filter(term_query(Term::from_field_bool(fields.has_file, true))),
        Node::HasImage => filter(term_query(Term::from_field_bool(fields.has_image, true))),
        Node::InThread => filter(term_query(Term::from_field_bool(fields.in_thread, true))),
    }
}

/// A phrase's tokens at their offsets in one field (a single token is a term query).
fn phrase_query(field: tantivy::schema::Field, tokens: &[(usize, String)]) -> Box<dyn Query> {
    let term = |t: &str| Term::from_field_text(field, t);
    match tokens {
        [(_, only)] => Box::new(TermQuery::new(term(only), IndexRecordOption::WithFreqs)),
        _ => Box::new(PhraseQuery::new_with_offset(tokens.iter().map(|(o, t)| (*o, term(t))).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of `q`, one `Debug` line per clause, then the `from:` and `in:` lists.
    fn plan_of(q: &str) -> Result<Vec<String>, QueryError> {
        let names = NameMap {
            users: HashMap::from([("ada".to_owned(), UserId::from_bytes([1; 16]))]),
            channels: HashMap::from([("general".to_owned(), ChannelId::from_bytes([2; 16]))]),
        };
        let plan = plan(&query::parse(q).expect("parses"), &names)?;
        let mut lines: Vec<String> = plan.clauses.iter().map(|c| format!("{c:?}")).collect();
        lines.push(format!("authors: {:?}", plan.authors));
        lines.push(format!("channels: {:?}", plan.channels));
        Ok(lines)
    }

    #[test]
    fn a_plan_resolves_names_and_analyses_words_in_query_order() {
        let plan =
            plan_of(r#"Running "big deal" -spam from:ada -in:general in:nowhere has:reaction is:thread"#);
        assert_eq!(
            plan.expect("plan"),
            [
                r#"Planned { negated: false, node: Word { forms: ["running", "\u{1}run", "run"], parts: ["running"] } }"#,
                r#"Planned { negated: false, node: Phrase([(0, "big"), (1, "deal")]) }"#,
                r#"Planned { negated: true, node: Word { forms: ["spam", "\u{1}spam"], parts: ["spam"] } }"#,
                r#"Planned { negated: true, node: Channel(ChannelId(02081040G2081040G2081040G2)) }"#,
                r#"Planned { negated: false, node: HasReaction }"#,
                r#"Planned { negated: false, node: InThread }"#,
                r#"authors: [Some(UserId(01040G2081040G2081040G2081))]"#,
                r#"channels: [None]"#,
            ]
        );
    }

    #[test]
    fn a_plan_bounds_dates_by_utc_days_and_drops_unknown_exclusions() {
        let plan =
            plan_of("on:2024-03-05 -before:2024-01-01 after:1970-01-01 -from:nobody has:link -has:mention");
        assert_eq!(
            plan.expect("plan"),
            [
                "Planned { negated: false, node: Time(Included(1709596800000), Excluded(1709683200000)) }",
                "Planned { negated: true, node: Time(Unbounded, Excluded(1704067200000)) }",
                "Planned { negated: false, node: Time(Included(86400000), Unbounded) }",
                "Planned { negated: false, node: HasLink }",
                "Planned { negated: true, node: HasMention }",
                "authors: []",
                "channels: []",
            ]
        );
    }

    #[test]
    fn a_plan_needs_something_positive_to_search() {
        let err = plan_of("-hello ?!").unwrap_err();
        assert_eq!((err.position, err.token.as_str()), (7, "?!"));
        let err = plan_of(r#""?!" -hello"#).unwrap_err();
        assert_eq!((err.position, err.token.as_str()), (0, r#""?!""#));
    }
}
