//! The weights formats: what a trained model hands to serving, and the defaults used
//! when there is none.
//!
//! * [`EmojiAssociationModel`] (format 1): word → emoji weights, words being tokens of
//!   [`crate::text::tokenize`] (tokenizer version 1). The built-in default is derived from
//!   the catalogue's names and keywords; a consent-gated training crate produces trained
//!   ones.
//! * [`ChannelWeights`] (format 1): the linear blend of channel-suggestion features.
//! * [`ScoringWeights`]: the linear blend of emoji-suggestion features (plain config).
//!
//! Models arrive as JSON and must pass `validate` before use: an unknown format version,
//! an emoji not in the catalogue or a non-finite weight is refused, never half-used.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::catalogue::{EmojiId, catalogue};
use crate::error::{Format, ModelError};
use crate::text;

/// Words that map to more emoji than this in the catalogue say nothing (`face`, `hand`).
const MAX_EMOJI_PER_DEFAULT_WORD: usize = 24;
/// Upper bounds that keep a hostile or broken model file from exhausting memory.
const MAX_MODEL_WORDS: usize = 500_000;
const MAX_EMOJI_PER_WORD: usize = 64;

/// Word → emoji association weights, versioned.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmojiAssociationModel {
    /// Must be [`EmojiAssociationModel::FORMAT_VERSION`].
    pub format_version: u32,
    /// The training run's manifest id; `None` for the built-in default.
    #[serde(default)]
    pub model_id: Option<String>,
    /// Token (see [`crate::text::tokenize`]) → `(emoji, weight)`, weights in `[0, 1]`.
    pub weights: BTreeMap<String, Vec<(String, f32)>>,
    /// The same weights resolved to catalogue ids, built by `validate`/`compiled`.
    #[serde(skip)]
    compiled: OnceLock<HashMap<String, Vec<(EmojiId, f32)>>>,
}

impl EmojiAssociationModel {
    pub const FORMAT_VERSION: u32 = 1;

    /// A model from its parts; call [`validate`](Self::validate) before serving it.
    pub fn new(model_id: Option<String>, weights: BTreeMap<String, Vec<(String, f32)>>) -> Self {
        EmojiAssociationModel {
            format_version: Self::FORMAT_VERSION,
            model_id,
            weights,
            compiled: OnceLock::new(),
        }
    }

    /// The built-in default derived from the catalogue: each name, shortcode and
    /// keyword token maps to the emoji carrying it, weighted `1 / sqrt(n)` where `n` is
    /// how many emoji carry that token (so `pizza` → 🍕 at 1.0, `party` → 🎉 🥳 at 0.71),
    /// doubled for a token that is the whole name. Group words are left out: they
    /// name hundreds of emoji.
    pub fn builtin() -> &'static EmojiAssociationModel {
        static BUILTIN: OnceLock<EmojiAssociationModel> = OnceLock::new();
        BUILTIN.get_or_init(build_builtin)
    }

    /// Parses and validates a model file.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let model: Self = serde_json::from_slice(bytes)
            .map_err(|source| ModelError::Malformed { format: Format::EmojiModel, source })?;
        model.validate()?;
        Ok(model)
    }

    pub fn to_json(&self) -> Result<Vec<u8>, ModelError> {
        serde_json::to_vec(self).map_err(|source| ModelError::Encode { format: Format::EmojiModel, source })
    }

    /// Checks the version, the emoji and the weights, and prepares the model for
    /// serving. Unknown versions are refused rather than guessed at.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.format_version != Self::FORMAT_VERSION {
            return Err(ModelError::UnsupportedVersion {
                format: Format::EmojiModel,
                found: self.format_version,
                expected: Self::FORMAT_VERSION,
            });
        }
        if self.weights.len() > MAX_MODEL_WORDS {
            return Err(ModelError::TooManyWords { found: self.weights.len(), limit: MAX_MODEL_WORDS });
        }
        let cat = catalogue();
        let mut compiled = HashMap::with_capacity(self.weights.len());
        for (word, list) in &self.weights {
            if word.is_empty() || word.chars().any(|c| !c.is_alphanumeric() || c.is_uppercase()) {
                return Err(ModelError::NotAToken { word: word.clone() });
            }
            if list.len() > MAX_EMOJI_PER_WORD {
                return Err(ModelError::TooManyEmoji {
                    word: word.clone(),
                    found: list.len(),
                    limit: MAX_EMOJI_PER_WORD,
                });
            }
            let mut ids = Vec::with_capacity(list.len());
            for (emoji, weight) in list {
                let id = cat
                    .id_of(emoji)
                    .ok_or_else(|| ModelError::UnknownEmoji { word: word.clone(), emoji: emoji.clone() })?;
                if !weight.is_finite() || !(0.0..=1.0).contains(weight) {
                    return Err(ModelError::WeightOutOfRange { word: word.clone(), weight: *weight });
                }
                ids.push((id, *weight));
            }
            compiled.insert(word.clone(), ids);
        }
        // A concurrent validate may have won the race; both built the same map.
        let _ = self.compiled.set(compiled);
        Ok(())
    }

    /// The weights keyed for serving. A model that was never validated is compiled
    /// here, skipping entries that `validate` would refuse.
    pub(crate) fn compiled(&self) -> &HashMap<String, Vec<(EmojiId, f32)>> {
        self.compiled.get_or_init(|| {
            let cat = catalogue();
            self.weights
                .iter()
                .map(|(word, list)| {
                    let ids = list
                        .iter()
                        .filter(|(_, w)| w.is_finite() && (0.0..=1.0).contains(w))
                        .filter_map(|(e, w)| Some((cat.id_of(e)?, *w)))
                        .collect();
                    (word.clone(), ids)
                })
                .collect()
        })
    }
}

impl PartialEq for EmojiAssociationModel {
    /// Equal when the serialised parts are; whether either was validated is irrelevant.
    fn eq(&self, other: &Self) -> bool {
        self.format_version == other.format_version
            && self.model_id == other.model_id
            && self.weights == other.weights
    }
}

fn build_builtin() -> EmojiAssociationModel {
    let cat = catalogue();
    // token → [(base emoji, whole-name?)]
    let mut carriers: BTreeMap<String, Vec<(EmojiId, bool)>> = BTreeMap::new();
    for entry in cat.entries() {
        let name_tokens = text::tokenize(entry.name);
        let whole_name = name_tokens.len() == 1;
        let mut tokens = name_tokens;
        for code in &entry.shortcodes {
            tokens.extend(text::tokenize(&code.replace(['_', '-'], " ")));
        }
        tokens.sort();
        tokens.dedup();
        for token in tokens {
            if token.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            carriers.entry(token).or_default().push((entry.id, whole_name));
        }
    }
    let mut weights = BTreeMap::new();
    for (token, list) in carriers {
        if list.len() > MAX_EMOJI_PER_DEFAULT_WORD {
            continue;
        }
        let base = 1.0 / (list.len() as f32).sqrt();
        let emoji = list
            .iter()
            .map(|&(id, whole)| {
                let w = if whole { base * 2.0 } else { base };
                (cat.as_str(id).to_string(), w.min(1.0) * 0.5)
            })
            .collect();
        weights.insert(token, emoji);
    }
    EmojiAssociationModel::new(Some("builtin-catalogue-1".to_string()), weights)
}

/// The linear blend behind emoji suggestions. Every feature is in `[0, 1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoringWeights {
    /// The user's own frecency, relative to their favourite.
    pub user_frecency: f32,
    /// Workspace-wide frecency, relative to the workspace's favourite.
    pub workspace_popularity: f32,
    /// How well the typed prefix matches (exact shortcode best); prefix requests only.
    pub prefix_match: f32,
    /// The association model's score for the words of the text.
    pub text_model: f32,
    /// The workspace's own learned word → reaction lift (public channels only).
    pub text_local: f32,
    /// The configured cold-start reactions (`RecommendConfig::default_reactions`).
    pub default_prior: f32,
}

/// Defaults tuned by hand on the simulator with seed 3, so the reported evaluation
/// (seed 7) is not the data they were picked on.
impl Default for ScoringWeights {
    fn default() -> Self {
        ScoringWeights {
            user_frecency: 0.8,
            workspace_popularity: 0.45,
            prefix_match: 1.0,
            text_model: 0.5,
            text_local: 2.0,
            default_prior: 0.05,
        }
    }
}

/// The features of one candidate channel for one member, each in `[0, 1]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelFeatures {
    /// Share of the member's top contacts' interaction weight that is in the channel.
    pub contacts: f32,
    /// Recent message volume, log-scaled against the most active public channel.
    pub activity: f32,
    /// Highest member-overlap (Jaccard) with one of the member's own channels.
    pub similarity: f32,
    /// How new the channel is (1 when just created, halving every half-life).
    pub recency: f32,
    /// Member count, log-scaled against the largest public channel.
    pub popularity: f32,
}

/// Linear weights for channel suggestions, versioned so trained weights can replace
/// the defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelWeights {
    /// Must be [`ChannelWeights::FORMAT_VERSION`].
    pub format_version: u32,
    /// The training run's manifest id; `None` for the defaults.
    #[serde(default)]
    pub model_id: Option<String>,
    pub contacts: f32,
    pub activity: f32,
    pub similarity: f32,
    pub recency: f32,
    pub popularity: f32,
}

/// Defaults tuned like [`ScoringWeights`]'s (simulator seed 3).
impl Default for ChannelWeights {
    fn default() -> Self {
        ChannelWeights {
            format_version: Self::FORMAT_VERSION,
            model_id: None,
            contacts: 1.0,
            activity: 0.15,
            // Jaccard values are small (0.1–0.4 for related teams), hence the scale.
            similarity: 2.0,
            recency: 0.1,
            popularity: 0.15,
        }
    }
}

impl ChannelWeights {
    pub const FORMAT_VERSION: u32 = 1;

    /// Parses and validates trained weights.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let weights: Self = serde_json::from_slice(bytes)
            .map_err(|source| ModelError::Malformed { format: Format::ChannelWeights, source })?;
        weights.validate()?;
        Ok(weights)
    }

    /// Refuses unknown versions and non-finite weights.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.format_version != Self::FORMAT_VERSION {
            return Err(ModelError::UnsupportedVersion {
                format: Format::ChannelWeights,
                found: self.format_version,
                expected: Self::FORMAT_VERSION,
            });
        }
        let named = [
            ("contacts", self.contacts),
            ("activity", self.activity),
            ("similarity", self.similarity),
            ("recency", self.recency),
            ("popularity", self.popularity),
        ];
        match named.into_iter().find(|(_, w)| !w.is_finite()) {
            Some((feature, _)) => Err(ModelError::NotFinite { feature }),
            None => Ok(()),
        }
    }

    /// Each feature's weighted contribution, in the order of [`ChannelFeatures`].
    pub fn contributions(&self, f: &ChannelFeatures) -> [f32; 5] {
        [
            self.contacts * f.contacts,
            self.activity * f.activity,
            self.similarity * f.similarity,
            self.recency * f.recency,
            self.popularity * f.popularity,
        ]
    }

    pub fn score(&self, f: &ChannelFeatures) -> f32 {
        self.contributions(f).iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_model_maps_words_to_named_emoji() {
        let model = EmojiAssociationModel::builtin();
        model.validate().expect("builtin validates");
        let party: Vec<&str> = model.weights["party"].iter().map(|(e, _)| e.as_str()).collect();
        assert!(party.contains(&"🎉") && party.contains(&"🥳"), "{party:?}");
        let pizza = &model.weights["pizza"];
        assert_eq!(pizza[0].0, "🍕");
        assert!(!model.weights.contains_key("face"), "too common to mean anything");
    }

    #[test]
    fn models_with_unknown_versions_or_bad_entries_are_refused() {
        let ok = r#"{"format_version":1,"model_id":"m1","weights":{"ship":[["🚀",0.9]]}}"#;
        let model = EmojiAssociationModel::from_json(ok.as_bytes()).expect("valid");
        assert_eq!(model.model_id.as_deref(), Some("m1"));
        type Expected = fn(&ModelError) -> bool;
        let refusals: [(&str, Expected); 6] = [
            (r#"{"format_version":2,"weights":{}}"#, |e| {
                matches!(
                    e,
                    ModelError::UnsupportedVersion { format: Format::EmojiModel, found: 2, expected: 1 }
                )
            }),
            (
                r#"{"format_version":1,"weights":{"ship":[["notanemoji",0.9]]}}"#,
                |e| matches!(e, ModelError::UnknownEmoji { emoji, .. } if emoji == "notanemoji"),
            ),
            (
                r#"{"format_version":1,"weights":{"Ship":[["🚀",0.9]]}}"#,
                |e| matches!(e, ModelError::NotAToken { word } if word == "Ship"),
            ),
            (
                r#"{"format_version":1,"weights":{"ship":[["🚀",7.0]]}}"#,
                |e| matches!(e, ModelError::WeightOutOfRange { weight, .. } if *weight == 7.0),
            ),
            (r#"{"weights":{}}"#, |e| matches!(e, ModelError::Malformed { format: Format::EmojiModel, .. })),
            ("not json", |e| matches!(e, ModelError::Malformed { format: Format::EmojiModel, .. })),
        ];
        for (json, expected) in refusals {
            let err = EmojiAssociationModel::from_json(json.as_bytes()).expect_err(json);
            assert!(expected(&err), "{json}: {err:?}");
        }
        let json = model.to_json().expect("serialises");
        assert_eq!(EmojiAssociationModel::from_json(&json).expect("round trip"), model);
    }

    #[test]
    fn channel_weights_are_versioned() {
        let json = serde_json::to_vec(&ChannelWeights::default()).expect("json");
        assert_eq!(ChannelWeights::from_json(&json).expect("ok"), ChannelWeights::default());
        let future =
            br#"{"format_version":9,"contacts":1,"activity":1,"similarity":1,"recency":1,"popularity":1}"#;
        assert!(matches!(
            ChannelWeights::from_json(future),
            Err(ModelError::UnsupportedVersion { format: Format::ChannelWeights, found: 9, expected: 1 })
        ));
        let infinite = ChannelWeights { recency: f32::INFINITY, ..ChannelWeights::default() };
        assert!(matches!(infinite.validate(), Err(ModelError::NotFinite { feature: "recency" })));
    }
}
