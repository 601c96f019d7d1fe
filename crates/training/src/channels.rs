//! The `channel_suggestions` pipeline: learns [`ChannelWeights`] from joins.
//!
//! Per workspace, the snapshot's public-channel messages and memberships are replayed
//! in time order into a private, offline [`Recommender`] (message text is not passed:
//! channel features do not use it). Training examples mirror the task served: at a
//! few cut points before the split (the 50th…90th percentiles of the training
//! messages' times), each member who has posted gets the recommender's candidates, and
//! the channels they join within the next horizon (as long as the held-out window) are
//! the positives. A conditional logit (softmax over the candidates, one choice per
//! positive with the other positives removed; Newton's method, fixed iterations,
//! L2-shrunk towards the default weights) fits the weights so that joined channels
//! score above the others.
//!
//! Held out: joins after the split (the latest `heldout_share` of message times). At
//! the split, each member who had posted and joins channels later gets the candidates
//! ranked by the default and the trained weights: hit@5 if any later join is in the
//! top five — the simulator's channel task.
//!
//! The snapshot holds no channel metadata, so a channel's creation time is taken as its
//! first record; mentions, DMs and private channels are not in the snapshot either.

use std::collections::{BTreeMap, BTreeSet};

use confab_consent::WorkspaceSnapshot;
use confab_core::{ChannelId, ChannelKind, Millis, UserId, WorkspaceId};
use confab_recommend::{
    ChannelCandidate, ChannelFeatures, ChannelInfo, ChannelWeights, MessageEvent, Recommender,
};

use crate::config::TrainingConfig;
use crate::fit::{Choice, conditional_logit};
use crate::manifest::Evaluation;
use crate::split::{hit_at, quantise, split_time};

pub(crate) struct ChannelOutput {
    pub weights: ChannelWeights,
    pub evaluation: Evaluation,
    pub member_counts: BTreeMap<WorkspaceId, usize>,
}

/// One held-out member: their candidates at the split and which they later joined.
struct HeldOut {
    candidates: Vec<(Vec<f64>, bool)>,
}

enum Event {
    Cut,
    Channel(ChannelId),
    Join(ChannelId, UserId),
    Message(usize),
}

fn features(f: &ChannelFeatures) -> Vec<f64> {
    vec![
        quantise(f.contacts),
        quantise(f.activity),
        quantise(f.similarity),
        quantise(f.recency),
        quantise(f.popularity),
    ]
}

fn as_vector(w: &ChannelWeights) -> Vec<f64> {
    vec![w.contacts.into(), w.activity.into(), w.similarity.into(), w.recency.into(), w.popularity.into()]
}

/// Candidates in channel order, so float sums never depend on hash-map order.
fn sorted(mut candidates: Vec<ChannelCandidate>) -> Vec<ChannelCandidate> {
    candidates.sort_by_key(|c| c.channel);
    candidates
}

pub(crate) fn train(workspaces: &[&WorkspaceSnapshot], config: &TrainingConfig) -> ChannelOutput {
    let defaults = ChannelWeights::default();
    let mut choices: Vec<Choice> = Vec::new();
    let mut held_out: Vec<HeldOut> = Vec::new();
    let mut member_counts = BTreeMap::new();

    for w in workspaces {
        let ws = w.workspace();
        let Some(split) =
            split_time(w.messages().iter().map(|m| m.created_at).collect(), config.heldout_share)
        else {
            member_counts.insert(ws, 0);
            continue;
        };
        // Events in time order: channel first, then joins, then messages at one instant.
        let mut first_seen: BTreeMap<ChannelId, Millis> = BTreeMap::new();
        let mut events: Vec<(Millis, u8, usize, Event)> = Vec::new();
        for (i, m) in w.memberships().iter().enumerate() {
            let t = first_seen.entry(m.channel).or_insert(m.joined_at);
            *t = (*t).min(m.joined_at);
            events.push((m.joined_at, 1, i, Event::Join(m.channel, m.user)));
        }
        for (i, m) in w.messages().iter().enumerate() {
            let t = first_seen.entry(m.channel).or_insert(m.created_at);
            *t = (*t).min(m.created_at);
            events.push((m.created_at, 2, i, Event::Message(i)));
        }
        for (i, (&channel, &at)) in first_seen.iter().enumerate() {
            events.push((at, 0, i, Event::Channel(channel)));
        }
        let mut train_times: Vec<Millis> =
            w.messages().iter().map(|m| m.created_at).filter(|&t| t < split).collect();
        train_times.sort_unstable();
        let last = events.iter().map(|e| e.0).max().unwrap_or(split);
        let horizon = (last - split).max(1);
        if !train_times.is_empty() {
            for (i, q) in [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].into_iter().enumerate() {
                let index = ((train_times.len() as f64 * q) as usize).min(train_times.len() - 1);
                events.push((train_times[index], 0, i, Event::Cut));
            }
        }
        events.sort_by_key(|e| (e.0, e.1, e.2));
        // Every member's joins, by time, to label the cut points.
        let mut joins_of: BTreeMap<UserId, Vec<(Millis, ChannelId)>> = BTreeMap::new();
        for m in w.memberships() {
            joins_of.entry(m.user).or_default().push((m.joined_at, m.channel));
        }
        for list in joins_of.values_mut() {
            list.sort();
        }
        let authors: BTreeMap<confab_core::MessageId, UserId> =
            w.messages().iter().map(|m| (m.id, m.author)).collect();

        let r = Recommender::default();
        let mut posted: BTreeSet<UserId> = BTreeSet::new();
        let mut members: BTreeSet<UserId> = BTreeSet::new();
        let mut later_joins: BTreeMap<UserId, BTreeSet<ChannelId>> = BTreeMap::new();
        for (at, _, _, event) in &events {
            let at = *at;
            if at >= split {
                match event {
                    Event::Join(channel, user) if posted.contains(user) => {
                        later_joins.entry(*user).or_default().insert(*channel);
                    }
                    _ => {}
                }
                continue;
            }
            match event {
                Event::Cut => {
                    let until = (at + horizon).min(split);
                    for user in &posted {
                        let later: BTreeSet<ChannelId> = joins_of
                            .get(user)
                            .into_iter()
                            .flatten()
                            .filter(|(t, _)| *t >= at && *t < until)
                            .map(|(_, c)| *c)
                            .collect();
                        if later.is_empty() {
                            continue;
                        }
                        let candidates = sorted(r.channel_candidates(ws, *user, at, &defaults));
                        choices.extend(choices_at(&candidates, &later));
                    }
                }
                Event::Channel(channel) => r.on_channel(
                    ws,
                    &ChannelInfo {
                        id: *channel,
                        name: String::new(),
                        kind: ChannelKind::Public,
                        created_at: at,
                        topic: String::new(),
                    },
                ),
                Event::Join(channel, user) => {
                    members.insert(*user);
                    r.on_join(ws, *channel, *user);
                }
                Event::Message(i) => {
                    let m = &w.messages()[*i];
                    members.insert(m.author);
                    posted.insert(m.author);
                    let reply_to_author = m.thread_root.and_then(|root| authors.get(&root).copied());
                    r.on_message(
                        ws,
                        &MessageEvent {
                            channel: m.channel,
                            author: m.author,
                            text: "",
                            at,
                            mentions: &[],
                            reply_to_author: reply_to_author.filter(|a| *a != m.author),
                        },
                    );
                }
            }
        }
        for (user, joined) in &later_joins {
            let candidates = sorted(r.channel_candidates(ws, *user, split, &defaults));
            let candidates: Vec<(Vec<f64>, bool)> =
                candidates.iter().map(|c| (features(&c.features), joined.contains(&c.channel))).collect();
            held_out.push(HeldOut { candidates });
        }
        member_counts.insert(ws, members.len());
    }

    let start = as_vector(&defaults);
    let fitted = if choices.is_empty() {
        start.clone()
    } else {
        conditional_logit(&choices, &start, config.l2, config.iterations)
    };
    let weights = ChannelWeights {
        format_version: ChannelWeights::FORMAT_VERSION,
        model_id: None,
        contacts: fitted[0] as f32,
        activity: fitted[1] as f32,
        similarity: fitted[2] as f32,
        recency: fitted[3] as f32,
        popularity: fitted[4] as f32,
    };
    let evaluation = Evaluation {
        metric: "hit@5".into(),
        task: "members who posted before the split: any later join among the top 5 candidates at the split"
            .into(),
        cases: held_out.len(),
        trained: hit_rate(&held_out, &as_vector(&weights)),
        default: hit_rate(&held_out, &start),
        train_examples: choices.len(),
    };
    ChannelOutput { weights, evaluation, member_counts }
}

/// One choice per joined candidate, against the candidates not joined.
fn choices_at(candidates: &[ChannelCandidate], joined: &BTreeSet<ChannelId>) -> Vec<Choice> {
    let negatives: Vec<Vec<f64>> =
        candidates.iter().filter(|c| !joined.contains(&c.channel)).map(|c| features(&c.features)).collect();
    if negatives.is_empty() {
        return Vec::new();
    }
    candidates
        .iter()
        .filter(|c| joined.contains(&c.channel))
        .map(|c| {
            let mut options = vec![features(&c.features)];
            options.extend(negatives.iter().cloned());
            Choice { candidates: options, chosen: 0 }
        })
        .collect()
}

fn hit_rate(cases: &[HeldOut], w: &[f64]) -> f64 {
    if cases.is_empty() {
        return 0.0;
    }
    let score = |x: &[f64]| -> f64 { x.iter().zip(w).map(|(a, b)| a * b).sum() };
    let hits = cases
        .iter()
        .filter(|case| {
            let mut ranked: Vec<(usize, f64, bool)> =
                case.candidates.iter().enumerate().map(|(i, (x, joined))| (i, score(x), *joined)).collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            hit_at(&ranked, 5, |c| c.2)
        })
        .count();
    hits as f64 / cases.len() as f64
}
