//! Emoji suggestions for `:` autocomplete (a prefix) and the reaction picker (no
//! prefix, optionally the message's text).
//!
//! Candidates: with a prefix, only catalogue entries matching it; without one, what the
//! member uses, what the workspace uses, what the text's words point to (association
//! model, a few everyday chat words such as "hello" → 👋, and the workspace's own
//! word → reaction table) and the configured cold-start reactions. Each candidate gets features in `[0, 1]` blended by [`ScoringWeights`].
//! With a prefix, the blend orders candidates only within their match tier: an emoji
//! whose shortcode or name starts with what was typed comes before one that merely has
//! a word or keyword starting so, however often the latter is used (`:smi` offers 😄
//! `smile` before a much-used 😂).
//! Work is proportional to the candidates, never to the workspace's history.

use std::collections::HashMap;

use confab_core::{Millis, UserId};
use serde::{Deserialize, Serialize};

use crate::catalogue::{EmojiId, MatchKind, catalogue};
use crate::model::{EmojiAssociationModel, ScoringWeights};
use crate::stats::{RecommendConfig, WorkspaceStats};
use crate::text;

/// Words of catalogue names that qualify rather than name what is shown: "first" in
/// 🌓 `first quarter moon` says nothing about "Hello team, first message". Skipped in
/// the text, whatever the model.
const MODIFIER_WORDS: &[&str] = &["first", "last", "quarter", "waxing", "waning"];
/// Everyday chat words that no catalogue name carries, and the reaction each calls for:
/// a text association beside the model's, at the weight the built-in model gives a
/// word that is an emoji's whole name. Tokens as `text::tokenize` makes them.
const CHAT_WORDS: &[(&str, &str)] = &[
    ("hello", "👋"),
    ("hi", "👋"),
    ("hey", "👋"),
    ("welcome", "👋"),
    ("bye", "👋"),
    ("thank", "🙏"),
    ("congrat", "🎉"),
    ("congratulation", "🎉"),
    ("launch", "🚀"),
    ("shipped", "🚀"),
    ("lol", "😂"),
    ("haha", "😂"),
    ("agree", "👍"),
    ("done", "✅"),
];
const CHAT_WORD_WEIGHT: f32 = 0.5;

/// Prior strength (in reactions) of the base rate when estimating a word's lift.
const LIFT_PRIOR: f32 = 3.0;
/// A word must have been seen with this many reactions before its lift counts.
const MIN_WORD_SUPPORT: f32 = 2.0;

/// One emoji suggestion request.
#[derive(Clone, Copy, Debug)]
pub struct EmojiQuery<'a> {
    pub user: UserId,
    /// What follows the `:` in autocomplete (colons are ignored); `None` or empty for
    /// the reaction picker.
    pub prefix: Option<&'a str>,
    /// The message being reacted to, or the draft being typed.
    pub text: Option<&'a str>,
    pub limit: usize,
    pub now: Millis,
}

/// One suggested emoji, best first in the answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmojiSuggestion {
    /// The emoji to insert, in the member's usual skin tone where they have one.
    pub emoji: String,
    /// Its first gemoji shortcode, if it has one.
    pub shortcode: Option<String>,
    /// CLDR name, e.g. `party popper`.
    pub name: String,
    pub score: f32,
}

#[derive(Default, Clone, Copy)]
struct Features {
    /// The prefix match's tier (see [`match_tier`]); 0 without a prefix.
    tier: u8,
    prefix_match: f32,
    user: f32,
    workspace: f32,
    text_model: f32,
    text_local: f32,
    prior: f32,
}

impl Features {
    fn score(&self, w: &ScoringWeights) -> f32 {
        w.prefix_match * self.prefix_match
            + w.user_frecency * self.user
            + w.workspace_popularity * self.workspace
            + w.text_model * self.text_model
            + w.text_local * self.text_local
            + w.default_prior * self.prior
    }
}

/// Where a prefix match ranks, before any blending: 0 when the shortcode or the whole
/// name starts with the prefix, 1 when one word of the name does, 2 for a keyword.
fn match_tier(kind: MatchKind) -> u8 {
    match kind {
        MatchKind::ExactShortcode | MatchKind::Shortcode | MatchKind::Name => 0,
        MatchKind::NameWord => 1,
        MatchKind::Keyword => 2,
    }
}

/// Normalises a typed prefix: no colons, lower case, spaces as `_`.
fn normalize_prefix(prefix: &str) -> String {
    prefix.trim().trim_matches(':').to_lowercase().replace(' ', "_")
}

pub(crate) fn suggest(
    stats: Option<&WorkspaceStats>,
    config: &RecommendConfig,
    query: &EmojiQuery<'_>,
    model: &EmojiAssociationModel,
    weights: &ScoringWeights,
) -> Vec<EmojiSuggestion> {
    let cat = catalogue();
    if query.limit == 0 {
        return Vec::new();
    }
    let prefix = query.prefix.map(normalize_prefix).filter(|p| !p.is_empty());
    let mut candidates: HashMap<EmojiId, Features> = HashMap::new();
    let restricted = prefix.is_some();
    if let Some(prefix) = &prefix {
        for (id, kind) in cat.prefix_matches(prefix) {
            let features =
                Features { tier: match_tier(kind), prefix_match: kind.quality(), ..Features::default() };
            candidates.insert(id, features);
        }
        if candidates.is_empty() {
            return Vec::new();
        }
    }
    // Adds a feature to a candidate; without a prefix anything may become a candidate.
    let mut feature = |id: EmojiId, set: &dyn Fn(&mut Features)| {
        if let Some(f) = candidates.get_mut(&id) {
            set(f);
        } else if !restricted {
            let mut f = Features::default();
            set(&mut f);
            candidates.insert(id, f);
        }
    };

    // The member's own frecency, per base emoji, remembering their favourite variant.
    let user = stats.and_then(|s| s.user(query.user).map(|u| &s.users[u as usize]));
    let mut variant: HashMap<EmojiId, (EmojiId, f32)> = HashMap::new();
    let mut tone_use: HashMap<emojis::SkinTone, f32> = HashMap::new();
    if let Some(user) = user {
        let mut per_base: HashMap<EmojiId, f32> = HashMap::new();
        for (&id, f) in &user.emoji {
            let v = f.value(query.now, config.user_emoji_half_life_ms);
            if v <= 0.0 {
                continue;
            }
            let base = cat.base_of(id);
            *per_base.entry(base).or_default() += v;
            let best = variant.entry(base).or_insert((id, v));
            if v > best.1 {
                *best = (id, v);
            }
            if let Some(tone) = cat.skin_tone(id) {
                *tone_use.entry(tone).or_default() += v;
            }
        }
        let max = per_base.values().copied().fold(0.0f32, f32::max);
        if max > 0.0 {
            for (base, v) in per_base {
                feature(base, &|f| f.user = v / max);
            }
        }
    }
    // The tone the member uses most, applied to emoji they have not used yet.
    let preferred_tone = tone_use
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1).then((b.0 as u8).cmp(&(a.0 as u8))))
        .map(|(tone, _)| tone);

    if let Some(stats) = stats {
        let mut per_base: HashMap<EmojiId, f32> = HashMap::new();
        for (&id, f) in &stats.popularity {
            let v = f.value(query.now, config.workspace_emoji_half_life_ms);
            if v > 0.0 {
                *per_base.entry(cat.base_of(id)).or_default() += v;
            }
        }
        let max = per_base.values().copied().fold(0.0f32, f32::max);
        if max > 0.0 {
            for (base, v) in per_base {
                feature(base, &|f| f.workspace = v / max);
            }
        }
    }

    if let Some(text) = query.text {
        let tokens = text::tokenize(text);
        let mut model_score: HashMap<EmojiId, f32> = HashMap::new();
        let compiled = model.compiled();
        for token in tokens.iter().filter(|t| !MODIFIER_WORDS.contains(&t.as_str())) {
            if let Some(list) = compiled.get(token) {
                for &(id, w) in list {
                    *model_score.entry(cat.base_of(id)).or_default() += w;
                }
            }
            let chat = CHAT_WORDS.iter().filter(|(word, _)| word == token);
            for id in chat.filter_map(|(_, emoji)| cat.id_of(emoji)) {
                *model_score.entry(cat.base_of(id)).or_default() += CHAT_WORD_WEIGHT;
            }
        }
        for (base, v) in model_score {
            feature(base, &|f| f.text_model = v.min(1.0));
        }
        if let Some(stats) = stats {
            for (base, v) in local_lift(stats, &tokens) {
                feature(base, &|f| f.text_local = v.min(1.0));
            }
        }
    }

    for (rank, reaction) in config.default_reactions.iter().enumerate() {
        if let Some(id) = cat.id_of(reaction) {
            let prior = 1.0 - rank as f32 / (config.default_reactions.len() as f32 * 2.0);
            feature(cat.base_of(id), &|f| f.prior = prior);
        }
    }

    let mut scored: Vec<(EmojiId, u8, f32)> =
        candidates.iter().map(|(&id, f)| (id, f.tier, f.score(weights))).collect();
    let limit = query.limit.min(scored.len());
    let by_rank = |a: &(EmojiId, u8, f32), b: &(EmojiId, u8, f32)| {
        a.1.cmp(&b.1).then(b.2.total_cmp(&a.2)).then(a.0.cmp(&b.0))
    };
    if limit < scored.len() {
        scored.select_nth_unstable_by(limit, by_rank);
        scored.truncate(limit);
    }
    scored.sort_unstable_by(by_rank);
    scored
        .into_iter()
        .map(|(base, _, score)| {
            let shown = variant
                .get(&base)
                .map(|&(v, _)| v)
                .or_else(|| preferred_tone.and_then(|t| cat.with_skin_tone(base, t)))
                .unwrap_or(base);
            let entry = cat.entry(base);
            EmojiSuggestion {
                emoji: cat.as_str(shown).to_string(),
                shortcode: entry.shortcodes.first().map(|s| (*s).to_string()),
                name: entry.name.to_string(),
                score,
            }
        })
        .collect()
}

/// The workspace's own evidence that the words predict an emoji: for each word, how
/// much seeing it raises the emoji's reaction probability above its base rate, as a
/// share of the room left (`(P(e|w) − P(e)) / (1 − P(e))`, with `P(e|w)` smoothed
/// towards `P(e)`), summed over the words. Per base emoji.
fn local_lift(stats: &WorkspaceStats, tokens: &[String]) -> HashMap<EmojiId, f32> {
    let cat = catalogue();
    let mut lift: HashMap<EmojiId, f32> = HashMap::new();
    if stats.reaction_total <= 0.0 {
        return lift;
    }
    let distinct = stats.reaction_counts.len().max(1) as f32;
    for token in tokens {
        let Some(word) = stats.words.get(token) else {
            continue;
        };
        if word.total < MIN_WORD_SUPPORT {
            continue;
        }
        for &(id, count) in &word.emoji {
            let base_rate = (stats.reaction_counts.get(&id).copied().unwrap_or(0.0) + 1.0)
                / (stats.reaction_total + distinct);
            let conditional = (count + LIFT_PRIOR * base_rate) / (word.total + LIFT_PRIOR);
            let gain = (conditional - base_rate) / (1.0 - base_rate).max(1e-3);
            if gain > 0.0 {
                *lift.entry(cat.base_of(id)).or_default() += gain;
            }
        }
    }
    lift
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_words_are_tokens_and_their_emoji_are_catalogued() {
        for (word, emoji) in CHAT_WORDS {
            // As the text arrives tokenised, a word that is not its own token never matches.
            assert_eq!(text::tokenize(word), [word.to_string()], "{word}");
            assert!(catalogue().id_of(emoji).is_some(), "{emoji}");
        }
        assert_eq!(text::tokenize("Thanks! Congrats")[..], ["thank", "congrat"]);
    }
}
