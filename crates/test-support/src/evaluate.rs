//! Offline evaluation of the suggestions on simulated workspaces: hit@1, hit@5 and MRR
//! of confab's defaults against baselines.
//!
//! # Tasks
//!
//! The split is the 80th percentile of message times. Statistics are fed the train
//! events only, then: **reaction picker** — for each held-out reaction, suggest for
//! the reactor given the message text, and find the reacted emoji; **`:` completion**
//! — the same reaction, typed as `:` plus the first two letters of its shortcode;
//! **channels** — for each member active before the split who joins public channels
//! after it, suggest channels at the split and find any of those joins.

use std::collections::{BTreeMap, HashMap, HashSet};

use confab_core::{ChannelId, ChannelKind, UserId};
use confab_recommend::catalogue::{EmojiId, catalogue};
use confab_recommend::{ChannelWeights, EmojiAssociationModel, EmojiQuery, Recommender, ScoringWeights};

use crate::rng::Rng;
use crate::simulate::{SimEvent, SimWorkspace};

/// Ranks beyond this count as misses.
const RANK_DEPTH: usize = 20;

/// hit@1, hit@5 and MRR of one method on one task.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    pub cases: usize,
    pub hit1: f64,
    pub hit5: f64,
    pub mrr: f64,
}

impl Metrics {
    /// Records the 1-based rank of the first correct answer (`None`: not in the list).
    fn record(&mut self, rank: Option<usize>) {
        self.cases += 1;
        if let Some(r) = rank.filter(|&r| r <= RANK_DEPTH) {
            self.hit1 += f64::from(r == 1);
            self.hit5 += f64::from(r <= 5);
            self.mrr += 1.0 / r as f64;
        }
    }

    fn finish(mut self) -> Self {
        if self.cases > 0 {
            let n = self.cases as f64;
            self.hit1 /= n;
            self.hit5 /= n;
            self.mrr /= n;
        }
        self
    }
}

/// One line of the evaluation table.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalRow {
    pub task: &'static str,
    pub method: &'static str,
    pub metrics: Metrics,
}

/// The evaluation of one run.
#[derive(Clone, Debug, Default)]
pub struct EvalReport {
    pub rows: Vec<EvalRow>,
    /// Channel suggestions that were not public, or whose reason named a non-public
    /// channel: must be 0.
    pub privacy_violations: usize,
    pub workspaces: usize,
    pub members: usize,
    pub train_events: usize,
    pub heldout_events: usize,
}

impl EvalReport {
    pub fn row(&self, task: &str, method: &str) -> Option<&Metrics> {
        self.rows.iter().find(|r| r.task == task && r.method == method).map(|r| &r.metrics)
    }

    /// A Markdown table.
    pub fn table(&self) -> String {
        let mut out =
            String::from("| task | method | cases | hit@1 | hit@5 | MRR |\n|---|---|---:|---:|---:|---:|\n");
        for r in &self.rows {
            let m = &r.metrics;
            out.push_str(&format!(
                "| {} | {} | {} | {:.3} | {:.3} | {:.3} |\n",
                r.task, r.method, m.cases, m.hit1, m.hit5, m.mrr
            ));
        }
        out
    }
}

pub const TASK_PICKER: &str = "reaction picker (text)";
pub const TASK_PREFIX: &str = "`:` completion (2 letters)";
pub const TASK_CHANNELS: &str = "channel joins";
pub const METHOD_DEFAULT: &str = "confab defaults";
pub const METHOD_POPULAR: &str = "global popularity";
pub const METHOD_RANDOM: &str = "random";
pub const METHOD_ALPHA: &str = "alphabetical";

fn rank_of<T: PartialEq>(list: &[T], truth: &T) -> Option<usize> {
    list.iter().position(|x| x == truth).map(|i| i + 1)
}

/// Trains on each workspace's events before its split and scores the held-out tasks.
pub fn evaluate(
    workspaces: &[SimWorkspace],
    model: &EmojiAssociationModel,
    scoring: &ScoringWeights,
    channel_weights: &ChannelWeights,
    seed: u64,
) -> EvalReport {
    let cat = catalogue();
    let mut rng = Rng::new(seed ^ 0xE7A1);
    let mut report = EvalReport { workspaces: workspaces.len(), ..EvalReport::default() };
    let mut metrics: BTreeMap<(usize, usize), Metrics> = BTreeMap::new();
    let tasks = [TASK_PICKER, TASK_PREFIX, TASK_CHANNELS];
    let methods = [METHOD_DEFAULT, METHOD_POPULAR, METHOD_RANDOM, METHOD_ALPHA];
    let mut record = |task: usize, method: usize, rank: Option<usize>| {
        metrics.entry((task, method)).or_default().record(rank);
    };

    for w in workspaces {
        report.members += w.members;
        let r = Recommender::default();
        w.replay(&r, w.split_at);
        let (train, heldout) = w.events.split_at(w.events.partition_point(|e| e.at < w.split_at));
        report.train_events += train.len();
        report.heldout_events += heldout.len();

        // Baseline state from the train events.
        let mut counts: HashMap<&'static str, usize> = HashMap::new();
        let mut members_of: HashMap<ChannelId, HashSet<UserId>> = HashMap::new();
        for e in train {
            match &e.event {
                SimEvent::Reaction { emoji, .. } => *counts.entry(*emoji).or_default() += 1,
                SimEvent::Join { channel, user } => {
                    members_of.entry(*channel).or_default().insert(*user);
                }
                _ => {}
            }
        }
        let mut popular: Vec<&'static str> = counts.keys().copied().collect();
        popular.sort_by(|a, b| counts[b].cmp(&counts[a]).then(a.cmp(b)));
        let base_count = |id: EmojiId| -> usize {
            counts
                .iter()
                .filter(|(e, _)| cat.id_of(e).map(|x| cat.base_of(x)) == Some(id))
                .map(|(_, n)| n)
                .sum()
        };
        let mut base_counts: HashMap<EmojiId, usize> = HashMap::new();

        for e in heldout {
            let SimEvent::Reaction { message_text, user, emoji, .. } = &e.event else {
                continue;
            };
            let query = EmojiQuery {
                user: *user,
                prefix: None,
                text: Some(message_text),
                limit: RANK_DEPTH,
                now: e.at,
            };
            let answer: Vec<String> =
                r.suggest_emoji(w.id, &query, model, scoring).into_iter().map(|s| s.emoji).collect();
            record(0, 0, rank_of(&answer, &(*emoji).to_string()));
            record(0, 1, rank_of(&popular[..popular.len().min(RANK_DEPTH)], emoji));
            let mut shuffled = popular.clone();
            rng.shuffle(&mut shuffled);
            record(0, 2, rank_of(&shuffled[..shuffled.len().min(RANK_DEPTH)], emoji));

            let Some(id) = cat.id_of(emoji) else { continue };
            let Some(code) = cat.entry(id).shortcodes.first() else {
                continue;
            };
            let prefix: String = code.chars().take(2).collect();
            let query =
                EmojiQuery { user: *user, prefix: Some(&prefix), text: None, limit: RANK_DEPTH, now: e.at };
            let answer: Vec<String> =
                r.suggest_emoji(w.id, &query, model, scoring).into_iter().map(|s| s.emoji).collect();
            record(1, 0, rank_of(&answer, &(*emoji).to_string()));
            let mut matches: Vec<EmojiId> =
                cat.prefix_matches(&prefix).into_iter().map(|(id, _)| id).collect();
            matches.sort();
            for &m in &matches {
                base_counts.entry(m).or_insert_with(|| base_count(m));
            }
            let by_popularity = {
                let mut v = matches.clone();
                v.sort_by(|a, b| base_counts[b].cmp(&base_counts[a]).then(a.cmp(b)));
                v
            };
            let by_alpha = {
                let mut v = matches.clone();
                v.sort_by_key(|&m| {
                    (cat.entry(m).shortcodes.first().copied().unwrap_or(cat.entry(m).name), m)
                });
                v
            };
            let mut random = matches.clone();
            rng.shuffle(&mut random);
            // Baselines show the base emoji: they know nothing of anyone's skin tone.
            for (method, list) in [(1, by_popularity), (2, random), (3, by_alpha)] {
                let shown: Vec<&str> = list.iter().take(RANK_DEPTH).map(|&m| cat.as_str(m)).collect();
                record(1, method, rank_of(&shown, emoji));
            }
        }

        // Channel joins after the split, per member who was active before it.
        let active: HashSet<UserId> = train
            .iter()
            .filter_map(|e| match &e.event {
                SimEvent::Message { author, .. } => Some(*author),
                _ => None,
            })
            .collect();
        let mut future: BTreeMap<UserId, HashSet<ChannelId>> = BTreeMap::new();
        for e in heldout {
            if let SimEvent::Join { channel, user } = &e.event {
                let public = w.channels.get(channel).is_some_and(|c| c.kind == ChannelKind::Public);
                if public && active.contains(user) {
                    future.entry(*user).or_default().insert(*channel);
                }
            }
        }
        let mut public: Vec<ChannelId> =
            w.channels.values().filter(|c| c.kind == ChannelKind::Public).map(|c| c.id).collect();
        public.sort();
        let size = |c: &ChannelId| members_of.get(c).map_or(0, HashSet::len);
        for (user, truth) in &future {
            let suggested = r.suggest_channels(w.id, *user, RANK_DEPTH, w.split_at, channel_weights);
            for s in &suggested {
                let kind = w.channels.get(&s.channel).map(|c| c.kind);
                let named_private = w
                    .channels
                    .values()
                    .filter(|c| c.kind != ChannelKind::Public)
                    .any(|c| s.reason.contains(&format!("#{}", c.name)));
                if kind != Some(ChannelKind::Public) || named_private {
                    report.privacy_violations += 1;
                }
            }
            let first_hit = |list: &[ChannelId]| list.iter().position(|c| truth.contains(c)).map(|i| i + 1);
            let ids: Vec<ChannelId> = suggested.iter().map(|s| s.channel).collect();
            record(2, 0, first_hit(&ids));
            let mut eligible: Vec<ChannelId> = public
                .iter()
                .copied()
                .filter(|c| !members_of.get(c).is_some_and(|m| m.contains(user)))
                .collect();
            let mut by_size = eligible.clone();
            by_size.sort_by(|a, b| size(b).cmp(&size(a)).then(a.cmp(b)));
            by_size.truncate(RANK_DEPTH);
            record(2, 1, first_hit(&by_size));
            rng.shuffle(&mut eligible);
            eligible.truncate(RANK_DEPTH);
            record(2, 2, first_hit(&eligible));
        }
    }
    report.rows = metrics
        .into_iter()
        .map(|((t, m), metrics)| EvalRow { task: tasks[t], method: methods[m], metrics: metrics.finish() })
        .collect();
    report
}
