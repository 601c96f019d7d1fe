//! Relevance ranking: the features of a (query, message) pair and the linear model
//! that turns them into a score.
//!
//! Every feature is scaled to `[0, 1]` so that weights are comparable and a logistic
//! regression trained on click logs (the consent-gated training crate) can produce a
//! [`RankingWeights`] directly: its score is the model's logit, and ordering by the
//! logit is ordering by the predicted click probability. The app logs the
//! [`FeatureVector`] of each shown hit with the click outcome; those rows are the
//! training examples.
//!
//! The weights live in exactly one place, [`RankingWeights`]; [`score`] is the only
//! function that combines features.

use std::collections::HashMap;

use confab_core::{ChannelId, Millis, UserId};
use serde::{Deserialize, Serialize};

/// The searcher's affinities, given by the caller, each in `[0, 1]` (values outside
/// are clamped): how much they engage with a channel (e.g. their share of recent
/// reads or posts there) and with an author (e.g. how often they talk).
///
/// Two tiers. `channels` and `authors` come from what the workspace may know (public
/// channels); `private` comes from DMs and private channels. Both rank the searcher's
/// results, but only the first tier enters [`crate::SearchHit::logged_features`],
/// the features the app logs for training: who has DMs with whom never reaches a
/// log, a consent preview or a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Affinity {
    #[serde(default)]
    pub channels: HashMap<ChannelId, f32>,
    #[serde(default)]
    pub authors: HashMap<UserId, f32>,
    /// Affinities derived from DMs and private channels: ranking only, never logged.
    #[serde(default)]
    pub private: PrivateAffinity,
}

/// Affinities derived from DMs and private channels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PrivateAffinity {
    #[serde(default)]
    pub channels: HashMap<ChannelId, f32>,
    #[serde(default)]
    pub authors: HashMap<UserId, f32>,
}

impl Affinity {
    /// For ranking: the stronger of both tiers.
    pub fn channel(&self, channel: ChannelId) -> f32 {
        self.loggable_channel(channel)
            .max(self.private.channels.get(&channel).copied().map_or(0.0, clamp_unit))
    }

    /// For ranking: the stronger of both tiers.
    pub fn author(&self, author: UserId) -> f32 {
        self.loggable_author(author).max(self.private.authors.get(&author).copied().map_or(0.0, clamp_unit))
    }

    /// The first tier only: what may be logged.
    pub fn loggable_channel(&self, channel: ChannelId) -> f32 {
        self.channels.get(&channel).copied().map_or(0.0, clamp_unit)
    }

    /// The first tier only: what may be logged.
    pub fn loggable_author(&self, author: UserId) -> f32 {
        self.authors.get(&author).copied().map_or(0.0, clamp_unit)
    }
}

/// The features of one hit, each in `[0, 1]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureVector {
    /// BM25 text score relative to the best candidate of this search (1 = best).
    pub text: f32,
    /// 1 when the query's words appear as an exact phrase (or the query has a quoted
    /// phrase, which every hit then contains), else 0.
    pub phrase: f32,
    /// `0.5 ^ (age / half-life)`: 1 for a message posted now.
    pub recency: f32,
    /// Reactions on the message, log-scaled: `ln(1+n) / ln(1+SATURATION)`, capped at 1.
    pub reactions: f32,
    /// Replies in the thread the message roots, log-scaled like reactions.
    pub thread: f32,
    /// The searcher's affinity to the message's channel.
    pub channel_affinity: f32,
    /// The searcher's affinity to the message's author.
    pub author_affinity: f32,
}

/// Days after which a message's recency feature halves.
pub const RECENCY_HALF_LIFE_DAYS: f32 = 30.0;
/// Count at which the reaction and thread features reach 1.
pub const COUNT_SATURATION: f32 = 20.0;

const MILLIS_PER_DAY: f32 = 86_400_000.0;

impl FeatureVector {
    /// Recency feature of a message created at `created_at`, seen at `now`.
    pub fn recency_of(created_at: Millis, now: Millis) -> f32 {
        let age_days = (now.saturating_sub(created_at)).max(0) as f32 / MILLIS_PER_DAY;
        0.5f32.powf(age_days / RECENCY_HALF_LIFE_DAYS)
    }

    /// Log-scaled count feature (reactions, replies).
    pub fn count_feature(count: u64) -> f32 {
        clamp_unit((1.0 + count as f32).ln() / (1.0 + COUNT_SATURATION).ln())
    }
}

/// The only version of [`RankingWeights`] this code reads and writes.
pub const RANKING_WEIGHTS_FORMAT: u32 = 1;

/// Weights of the linear ranking model: `score = bias + Σ weight·feature`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankingWeights {
    pub format_version: u32,
    /// Which trained model produced these weights; `None` for the hand-set default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    pub bias: f32,
    pub text: f32,
    pub phrase: f32,
    pub recency: f32,
    pub reactions: f32,
    pub thread: f32,
    pub channel_affinity: f32,
    pub author_affinity: f32,
}

impl Default for RankingWeights {
    /// Hand-set weights: text relevance dominates; an exact phrase, freshness and the
    /// searcher's own channels and contacts each can lift a hit past a somewhat better
    /// text match; reactions and thread size are tie-breakers.
    fn default() -> Self {
        RankingWeights {
            format_version: RANKING_WEIGHTS_FORMAT,
            model_id: None,
            bias: 0.0,
            text: 4.0,
            phrase: 1.0,
            recency: 1.5,
            reactions: 0.5,
            thread: 0.5,
            channel_affinity: 1.0,
            author_affinity: 0.75,
        }
    }
}

/// Why weights could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("ranking weights are not valid JSON of the expected shape: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error(
        "ranking weights format version {found} is not supported (this build reads {RANKING_WEIGHTS_FORMAT})"
    )]
    UnsupportedVersion { found: u64 },
    #[error("ranking weight `{0}` is not a finite number")]
    NotFinite(&'static str),
}

impl RankingWeights {
    /// Parses weights, rejecting other format versions, unknown fields and
    /// non-finite numbers.
    pub fn from_json(json: &str) -> Result<Self, WeightsError> {
        let value: serde_json::Value = serde_json::from_str(json)?;
        let found = value.get("format_version").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if found != u64::from(RANKING_WEIGHTS_FORMAT) {
            return Err(WeightsError::UnsupportedVersion { found });
        }
        let weights: RankingWeights = serde_json::from_value(value)?;
        for (name, w) in weights.named() {
            if !w.is_finite() {
                return Err(WeightsError::NotFinite(name));
            }
        }
        Ok(weights)
    }

    pub fn to_json(&self) -> String {
        // Serialising a struct of numbers and strings cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    fn named(&self) -> [(&'static str, f32); 8] {
        [
            ("bias", self.bias),
            ("text", self.text),
            ("phrase", self.phrase),
            ("recency", self.recency),
            ("reactions", self.reactions),
            ("thread", self.thread),
            ("channel_affinity", self.channel_affinity),
            ("author_affinity", self.author_affinity),
        ]
    }
}

/// The linear model: `bias + Σ weight·feature`. Pure; the only place features meet
/// weights.
pub fn score(features: &FeatureVector, weights: &RankingWeights) -> f32 {
    weights.bias
        + weights.text * features.text
        + weights.phrase * features.phrase
        + weights.recency * features.recency
        + weights.reactions * features.reactions
        + weights.thread * features.thread
        + weights.channel_affinity * features.channel_affinity
        + weights.author_affinity * features.author_affinity
}

fn clamp_unit(x: f32) -> f32 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_round_trip_and_reject_other_versions() {
        let weights = RankingWeights { model_id: Some("lr-2024-05".into()), ..RankingWeights::default() };
        let back = RankingWeights::from_json(&weights.to_json()).unwrap();
        assert_eq!(back, weights);

        let v2 = weights.to_json().replace("\"format_version\": 1", "\"format_version\": 2");
        assert!(matches!(RankingWeights::from_json(&v2), Err(WeightsError::UnsupportedVersion { found: 2 })));
        let unknown = weights.to_json().replace("\"bias\"", "\"novelty\": 1.0, \"bias\"");
        assert!(matches!(RankingWeights::from_json(&unknown), Err(WeightsError::Malformed(_))));
        assert!(RankingWeights::from_json("{}").is_err());
    }

    #[test]
    fn score_is_linear_in_each_feature() {
        let w = RankingWeights { bias: 0.5, ..RankingWeights::default() };
        let zero = FeatureVector::default();
        assert_eq!(score(&zero, &w), 0.5);
        let with_text = FeatureVector { text: 1.0, ..zero };
        assert_eq!(score(&with_text, &w), 0.5 + w.text);
        let with_author = FeatureVector { author_affinity: 0.5, ..zero };
        assert_eq!(score(&with_author, &w), 0.5 + 0.5 * w.author_affinity);
    }

    #[test]
    fn feature_transforms_stay_in_unit_range_and_are_monotonic() {
        let day = 86_400_000;
        assert_eq!(FeatureVector::recency_of(10 * day, 10 * day), 1.0);
        assert!((FeatureVector::recency_of(0, 30 * day) - 0.5).abs() < 1e-6);
        assert_eq!(FeatureVector::recency_of(day * 2, day), 1.0, "future messages count as new");
        assert_eq!(FeatureVector::count_feature(0), 0.0);
        assert!(FeatureVector::count_feature(3) < FeatureVector::count_feature(4));
        assert_eq!(FeatureVector::count_feature(1_000_000), 1.0);
        let affinity = Affinity::default();
        assert_eq!(affinity.channel(ulid_for_test()), 0.0);
    }

    fn ulid_for_test() -> ChannelId {
        ChannelId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap()
    }
}
