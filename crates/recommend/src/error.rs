//! The crate's error: why a model, a set of weights or exported statistics were
//! refused, in this crate's terms.
//!
//! Whether the bytes came from a client or from a file on disk (and so whether a
//! client sees `invalid_request` or `internal`) is not known here: the caller decides
//! that where it converts the error (`crates/app/src/error.rs`).

use std::fmt;

/// Which of the crate's serialised formats an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// [`crate::EmojiAssociationModel`].
    EmojiModel,
    /// [`crate::ChannelWeights`].
    ChannelWeights,
    /// A workspace's exported statistics ([`crate::Snapshot`]).
    Statistics,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::EmojiModel => "emoji model",
            Format::ChannelWeights => "channel weights",
            Format::Statistics => "recommender statistics",
        })
    }
}

/// Why bytes were refused as a model, weights or statistics, or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Not JSON, or not of the format's shape.
    #[error("{format} is not valid JSON of the expected shape: {source}")]
    Malformed {
        format: Format,
        #[source]
        source: serde_json::Error,
    },
    /// A format version this build does not read: refused rather than guessed at.
    #[error("{format} format {found} is not supported (expected {expected})")]
    UnsupportedVersion { format: Format, found: u32, expected: u32 },
    /// More words than a model may hold (a bound against exhausting memory).
    #[error("emoji model: {found} words, more than the {limit} a model may hold")]
    TooManyWords { found: usize, limit: usize },
    /// More emoji for one word than a model may hold.
    #[error("emoji model: {word:?} has {found} emoji, more than the {limit} a word may have")]
    TooManyEmoji { word: String, found: usize, limit: usize },
    /// A key that `text::tokenize` would never produce (empty, uppercase, punctuation).
    #[error("emoji model: {word:?} is not a token")]
    NotAToken { word: String },
    /// An emoji the catalogue does not know.
    #[error("emoji model: {emoji:?} (for {word:?}) is not an emoji")]
    UnknownEmoji { word: String, emoji: String },
    /// An emoji weight outside `[0, 1]` (or not a number).
    #[error("emoji model: weight {weight} for {word:?} is outside [0, 1]")]
    WeightOutOfRange { word: String, weight: f32 },
    /// A channel weight that is infinite or not a number.
    #[error("channel weights: {feature} is not a finite number")]
    NotFinite { feature: &'static str },
    /// Serialising failed (a bug: these formats hold only strings and numbers).
    #[error("encoding {format}: {source}")]
    Encode {
        format: Format,
        #[source]
        source: serde_json::Error,
    },
}
