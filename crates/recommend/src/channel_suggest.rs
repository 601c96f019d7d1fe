//! Channel suggestions: public, non-archived channels a member is not in, ranked by
//! their contacts' presence, activity, member overlap with their own channels, novelty
//! and size, each with a one-phrase reason.
//!
//! Cost per request is bounded, not proportional to the workspace: candidates come
//! from the member's top contacts' channels plus the most active and newest public
//! channels (one pass over the channel list, no member sets); member overlap uses
//! 64-slot MinHash signatures and is computed only for the best pre-scored candidates.
//!
//! Privacy: only public channels are ever candidates, and a reason names a channel only
//! if it is public. Private channels and DMs still count as places where a member meets
//! their contacts, because contacts are the member's own.

use std::collections::HashMap;

use confab_core::{ChannelId, ChannelKind, Millis, UserId};
use serde::{Deserialize, Serialize};

use crate::model::{ChannelFeatures, ChannelWeights};
use crate::stats::{RecommendConfig, WorkspaceStats, decay, minhash_jaccard};

/// Most active and newest public channels added as candidates for everyone.
const GLOBAL_CANDIDATES: usize = 16;
/// Pre-scored candidates that get the (costlier) overlap feature.
const MIN_SIMILARITY_CANDIDATES: usize = 48;
/// Own channels compared against for overlap (the most active ones).
const MAX_OWN_CHANNELS: usize = 48;
const WEEK_MS: Millis = 7 * 24 * 60 * 60 * 1000;

/// One suggested channel, best first in the answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelSuggestion {
    pub channel: ChannelId,
    pub score: f32,
    /// Why, in one short phrase: "5 people you talk to are here", "active this week",
    /// "similar to #design".
    pub reason: String,
}

/// A candidate with its features, for suggestion and for learning weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelCandidate {
    pub channel: ChannelId,
    pub features: ChannelFeatures,
    /// How many of the member's top contacts are in it.
    pub contacts_here: u32,
    /// The member's own PUBLIC channel whose members overlap most with it, if any.
    pub similar_to: Option<ChannelId>,
}

#[derive(Default)]
struct Partial {
    contact_weight: f32,
    contacts_here: u32,
}

/// Candidates with all features; `similarity` is filled for the best
/// `max(4 × limit, 48)` by the other features and left 0 for the rest.
pub(crate) fn candidates(
    stats: &WorkspaceStats,
    config: &RecommendConfig,
    user: UserId,
    now: Millis,
    weights: &ChannelWeights,
    limit: usize,
) -> Vec<ChannelCandidate> {
    let u = stats.user(user);
    let is_member = |c: u32| u.is_some_and(|u| stats.channels[c as usize].members.contains(&u));
    let eligible = |c: u32| stats.channels[c as usize].is_suggestable() && !is_member(c);

    // One pass over channels: normalisers and the global candidates.
    let mut max_activity = 0.0f32;
    let mut max_members = 0usize;
    let mut active: Vec<(u32, f32)> = Vec::new();
    let mut newest: Vec<(u32, Millis)> = Vec::new();
    for (c, channel) in stats.channels.iter().enumerate() {
        if !channel.is_suggestable() {
            continue;
        }
        let a = channel.activity.value(now, config.channel_activity_half_life_ms);
        max_activity = max_activity.max(a);
        max_members = max_members.max(channel.members.len());
        if eligible(c as u32) {
            active.push((c as u32, a));
            newest.push((c as u32, channel.created_at));
        }
    }
    let mut partial: HashMap<u32, Partial> = HashMap::new();
    keep_top(&mut active, GLOBAL_CANDIDATES, |a, b| b.1.total_cmp(&a.1));
    keep_top(&mut newest, GLOBAL_CANDIDATES / 2, |a, b| b.1.cmp(&a.1));
    for c in active.iter().map(|x| x.0).chain(newest.iter().map(|x| x.0)) {
        partial.entry(c).or_default();
    }

    // The member's strongest contacts, and the channels they are in.
    let mut contact_total = 0.0f32;
    if let Some(u) = u {
        let mut contacts: Vec<(u32, f32)> = stats.users[u as usize]
            .contacts
            .iter()
            .map(|(&c, f)| (c, f.value(now, config.contact_half_life_ms)))
            .filter(|x| x.1 > 0.0)
            .collect();
        keep_top(&mut contacts, config.contact_top_k, |a, b| b.1.total_cmp(&a.1));
        for (contact, weight) in contacts {
            contact_total += weight;
            for &c in &stats.users[contact as usize].channels {
                if eligible(c) {
                    let p = partial.entry(c).or_default();
                    p.contact_weight += weight;
                    p.contacts_here += 1;
                }
            }
        }
    }

    let log_scale = |x: f32, max: f32| {
        if max > 0.0 { (1.0 + x).ln() / (1.0 + max).ln() } else { 0.0 }
    };
    let mut out: Vec<(u32, ChannelCandidate)> = partial
        .into_iter()
        .map(|(c, p)| {
            let channel = &stats.channels[c as usize];
            let features = ChannelFeatures {
                contacts: if contact_total > 0.0 { p.contact_weight / contact_total } else { 0.0 },
                activity: log_scale(
                    channel.activity.value(now, config.channel_activity_half_life_ms),
                    max_activity,
                ),
                similarity: 0.0,
                recency: decay(now - channel.created_at, config.new_channel_half_life_ms),
                popularity: log_scale(channel.members.len() as f32, max_members as f32),
            };
            let candidate = ChannelCandidate {
                channel: channel.id,
                features,
                contacts_here: p.contacts_here,
                similar_to: None,
            };
            (c, candidate)
        })
        .collect();

    // Member overlap for the most promising candidates only.
    let own: Vec<u32> = u.map_or_else(Vec::new, |u| {
        let mut own: Vec<(u32, f32)> = stats.users[u as usize]
            .channels
            .iter()
            .filter(|&&c| stats.channels[c as usize].kind != ChannelKind::Dm)
            .map(|&c| {
                (c, stats.channels[c as usize].activity.value(now, config.channel_activity_half_life_ms))
            })
            .collect();
        keep_top(&mut own, MAX_OWN_CHANNELS, |a, b| b.1.total_cmp(&a.1));
        own.into_iter().map(|x| x.0).collect()
    });
    let by_score = |a: &(u32, ChannelCandidate), b: &(u32, ChannelCandidate)| {
        weights
            .score(&b.1.features)
            .total_cmp(&weights.score(&a.1.features))
            .then(a.1.channel.cmp(&b.1.channel))
    };
    let with_overlap = (limit * 4).max(MIN_SIMILARITY_CANDIDATES).min(out.len());
    if with_overlap < out.len() {
        out.select_nth_unstable_by(with_overlap, by_score);
    }
    for (c, candidate) in out.iter_mut().take(with_overlap) {
        let signature = &stats.channels[*c as usize].minhash;
        let mut best = 0.0f32;
        let mut best_public: Option<(u32, f32)> = None;
        for &o in &own {
            let j = minhash_jaccard(signature, &stats.channels[o as usize].minhash);
            best = best.max(j);
            if stats.channels[o as usize].kind == ChannelKind::Public
                && best_public.is_none_or(|(_, bj)| j > bj)
            {
                best_public = Some((o, j));
            }
        }
        candidate.features.similarity = best;
        candidate.similar_to =
            best_public.filter(|&(_, j)| j > 0.0).map(|(o, _)| stats.channels[o as usize].id);
    }
    out.into_iter().map(|(_, candidate)| candidate).collect()
}

/// Keeps the `k` best items (unordered) by `order` (best first).
fn keep_top<T>(items: &mut Vec<T>, k: usize, order: impl FnMut(&T, &T) -> std::cmp::Ordering) {
    if k == 0 {
        items.clear();
    } else if items.len() > k {
        items.select_nth_unstable_by(k - 1, order);
        items.truncate(k);
    }
}

pub(crate) fn suggest(
    stats: &WorkspaceStats,
    config: &RecommendConfig,
    user: UserId,
    limit: usize,
    now: Millis,
    weights: &ChannelWeights,
) -> Vec<ChannelSuggestion> {
    if limit == 0 {
        return Vec::new();
    }
    let mut scored: Vec<(f32, ChannelCandidate)> = candidates(stats, config, user, now, weights, limit)
        .into_iter()
        .map(|c| (weights.score(&c.features), c))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.channel.cmp(&b.1.channel)));
    scored.truncate(limit);
    scored
        .into_iter()
        .map(|(score, candidate)| ChannelSuggestion {
            channel: candidate.channel,
            score,
            reason: reason(stats, config, &candidate, weights, now),
        })
        .collect()
}

/// The phrase for the feature that contributed most. Names only public channels.
fn reason(
    stats: &WorkspaceStats,
    config: &RecommendConfig,
    candidate: &ChannelCandidate,
    weights: &ChannelWeights,
    now: Millis,
) -> String {
    let contributions = weights.contributions(&candidate.features);
    let (best, value) = contributions
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .unwrap_or((4, 0.0));
    let channel = stats.channel_index.get(&candidate.channel).map(|&c| &stats.channels[c as usize]);
    if value <= 0.0 {
        return "popular in this workspace".to_string();
    }
    match best {
        0 => match candidate.contacts_here {
            1 => "1 person you talk to is here".to_string(),
            n => format!("{n} people you talk to are here"),
        },
        1 => {
            // Decayed message count: about a week's worth at the default half-life.
            let recent = channel.map_or(0.0, |c| c.activity.value(now, config.channel_activity_half_life_ms));
            if recent >= 3.0 { "active this week" } else { "active recently" }.to_string()
        }
        2 => match candidate
            .similar_to
            .and_then(|id| stats.channel_index.get(&id))
            .map(|&o| &stats.channels[o as usize])
        {
            Some(similar) if similar.kind == ChannelKind::Public && !similar.name.is_empty() => {
                format!("similar to #{}", similar.name)
            }
            _ => "similar to your channels".to_string(),
        },
        3 => match channel {
            Some(c) if now - c.created_at <= WEEK_MS => "new this week".to_string(),
            _ => "new channel".to_string(),
        },
        _ => {
            let members = channel.map_or(0, |c| c.members.len());
            format!("{members} members")
        }
    }
}
