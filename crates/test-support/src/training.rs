//! Simulated, consented instances for the training crate's tests, its `train_eval`
//! example and published evaluations: the [simulator](crate::simulate)'s seeded
//! workspaces (real corpus text, senders and times, planted preferences) turned into a
//! [`MemorySource`], plus seeded search click logs with a planted preference. Never
//! used for real data.
//!
//! Click model ([`add_click_logs`]): each searcher has three frequent authors. A search
//! at time `t` shows ten earlier public messages (about a third by the searcher's
//! frequent authors) with features in search's [`FeatureVector`] vocabulary; each result
//! is clicked with probability `σ(−3.5 + 0.8·text + 2.5·author_affinity + 2·recency)`:
//! searchers click recent messages from the people they talk to, whatever the text
//! score says — a preference the hand-set defaults (text first) underrate.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::consent::{MemorySource, channel, grant_request, message, message_id, user_id};
use crate::rng::Rng;
use crate::simulate::{SimEvent, SimWorkspace};
use confab_consent::{
    ConsentChange, Ledger, LedgerStore, MemberMode, MembershipRecord, Purpose, Scope, SearchInteraction,
};
use confab_core::{ChannelId, ChannelKind, Millis, Role, UserId, WorkspaceId};
use confab_search::ranking::FeatureVector;

/// The owner id the helpers grant with.
pub fn owner() -> UserId {
    user_id(0)
}

/// Every simulated workspace's channels (DMs and private ones too: the gate must drop
/// them), messages with their reactions, and memberships.
pub fn source_from_simulation(sims: &[SimWorkspace]) -> MemorySource {
    let mut source = MemorySource { well_behaved: true, ..MemorySource::default() };
    let mut next_message = 1u64;
    for sim in sims {
        let ws = sim.id;
        let mut seq: HashMap<ChannelId, u64> = HashMap::new();
        // channel → indices into source.messages, with the text's Arc for matching.
        let mut posted: HashMap<ChannelId, Vec<(usize, Arc<str>)>> = HashMap::new();
        for e in &sim.events {
            match &e.event {
                SimEvent::Channel(info) => {
                    let mut c = channel(ws, info.id, info.kind);
                    c.name = info.name.clone();
                    c.created_at = info.created_at;
                    source.channels.push(c);
                }
                SimEvent::Join { channel, user } => source
                    .memberships
                    .push((ws, MembershipRecord { channel: *channel, user: *user, joined_at: e.at })),
                SimEvent::Message { channel, author, text, mentions, .. } => {
                    let s = seq.entry(*channel).or_insert(0);
                    *s += 1;
                    let mut m =
                        message(ws, *channel, *s, message_id(next_message), *author, text, e.at, Vec::new());
                    m.mentions = mentions.clone();
                    next_message += 1;
                    posted.entry(*channel).or_default().push((source.messages.len(), text.clone()));
                    source.messages.push(m);
                }
                SimEvent::Reaction { channel, message_author, message_text, user, emoji } => {
                    let Some(list) = posted.get(channel) else { continue };
                    let found = list.iter().rev().find(|(i, text)| {
                        source.messages[*i].author == *message_author && Arc::ptr_eq(text, message_text)
                    });
                    let Some(&(i, _)) = found else { continue };
                    let reactions = &mut source.messages[i].reactions;
                    match reactions.iter_mut().find(|r| r.emoji == *emoji) {
                        Some(r) if !r.users.contains(user) => r.users.push(*user),
                        Some(_) => {}
                        None => reactions
                            .push(confab_core::Reaction { emoji: (*emoji).to_owned(), users: vec![*user] }),
                    }
                }
            }
        }
    }
    source
}

/// Settings of the click-log generator.
#[derive(Clone, Debug)]
pub struct ClickConfig {
    pub seed: u64,
    /// Searches per workspace.
    pub searches: usize,
    /// Results shown per search.
    pub results: usize,
}

impl Default for ClickConfig {
    fn default() -> Self {
        ClickConfig { seed: 11, searches: 400, results: 10 }
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Adds seeded search impressions and clicks over each workspace's public messages
/// already in `source` (see the module doc for the planted preference).
pub fn add_click_logs(source: &mut MemorySource, config: &ClickConfig) {
    let mut rng = Rng::new(config.seed);
    let public: std::collections::HashSet<ChannelId> =
        source.channels.iter().filter(|c| c.kind == ChannelKind::Public).map(|c| c.id).collect();
    let mut by_ws: BTreeMap<WorkspaceId, Vec<usize>> = BTreeMap::new();
    for (i, m) in source.messages.iter().enumerate() {
        if public.contains(&m.channel) {
            by_ws.entry(m.workspace).or_default().push(i);
        }
    }
    let mut next_query = 0u64;
    for (ws, mut indices) in by_ws {
        indices.sort_by_key(|&i| (source.messages[i].created_at, i));
        let mut authors: Vec<UserId> = indices.iter().map(|&i| source.messages[i].author).collect();
        authors.sort();
        authors.dedup();
        if authors.len() < 4 || indices.len() < 50 {
            continue;
        }
        let mut by_author: HashMap<UserId, Vec<usize>> = HashMap::new();
        for (pos, &i) in indices.iter().enumerate() {
            by_author.entry(source.messages[i].author).or_default().push(pos);
        }
        let favourites: HashMap<UserId, Vec<UserId>> = authors
            .iter()
            .map(|&u| (u, (0..3).map(|_| authors[rng.below(authors.len())]).filter(|a| *a != u).collect()))
            .collect();
        let mut logs = Vec::new();
        for _ in 0..config.searches {
            // A searcher and a time in the latter 90% of the workspace's history.
            let upto = indices.len() / 10 + rng.below(indices.len() - indices.len() / 10);
            let searcher = authors[rng.below(authors.len())];
            let at = source.messages[indices[upto]].created_at + 1;
            let favs = &favourites[&searcher];
            next_query += 1;
            let query_id = format!("q{next_query}");
            let mut shown: Vec<usize> = Vec::new();
            for _ in 0..config.results * 3 {
                if shown.len() >= config.results {
                    break;
                }
                let from_fav = !favs.is_empty() && rng.chance(0.35);
                let pos = if from_fav {
                    let list = &by_author[&favs[rng.below(favs.len())]];
                    let earlier: Vec<usize> = list.iter().copied().filter(|&p| p < upto).collect();
                    if earlier.is_empty() { continue } else { earlier[rng.below(earlier.len())] }
                } else {
                    rng.below(upto.max(1))
                };
                if !shown.contains(&pos) {
                    shown.push(pos);
                }
            }
            for (rank, &pos) in shown.iter().enumerate() {
                let m = &source.messages[indices[pos]];
                let is_fav = favs.contains(&m.author);
                let text = if rank == 0 { 1.0 } else { 0.2 + 0.8 * rng.unit() };
                let fv = FeatureVector {
                    text: text as f32,
                    phrase: f32::from(u8::from(rng.chance(0.15))),
                    recency: FeatureVector::recency_of(m.created_at, at),
                    reactions: FeatureVector::count_feature(
                        m.reactions.iter().map(|r| r.users.len() as u64).sum(),
                    ),
                    thread: 0.0,
                    channel_affinity: (0.5 * rng.unit()) as f32,
                    author_affinity: if is_fav {
                        (0.7 + 0.3 * rng.unit()) as f32
                    } else {
                        (0.2 * rng.unit()) as f32
                    },
                };
                let p = sigmoid(
                    -3.5 + 0.8 * f64::from(fv.text)
                        + 2.5 * f64::from(fv.author_affinity)
                        + 2.0 * f64::from(fv.recency),
                );
                let features = match serde_json::to_value(fv) {
                    Ok(serde_json::Value::Object(map)) => {
                        map.into_iter().filter_map(|(k, v)| Some((k, v.as_f64()?))).collect()
                    }
                    _ => BTreeMap::new(),
                };
                logs.push((
                    ws,
                    SearchInteraction {
                        user: searcher,
                        at,
                        query_id: query_id.clone(),
                        message: m.id,
                        channel: m.channel,
                        author: m.author,
                        features,
                        clicked: rng.chance(p),
                    },
                ));
            }
        }
        source.search_interactions.extend(logs);
    }
}

/// Grants `purpose` (every category it may read, members `opt_out`) for `ws` as its
/// owner, accepting the current policy.
pub fn grant<S: LedgerStore>(
    ledger: &Ledger<S>,
    ws: WorkspaceId,
    purpose: Purpose,
    scope: Scope,
    now: Millis,
) -> Result<ConsentChange, confab_consent::ConsentError> {
    let request = grant_request(purpose, scope, purpose.allowed_categories(), MemberMode::OptOut);
    ledger.grant(ws, owner(), Role::Owner, request, now)
}
