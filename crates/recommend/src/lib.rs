//! Emoji and channel suggestions at serving time.
//!
//! # API
//!
//! The app owns one [`Recommender`] and calls it as things happen:
//!
//! * [`Recommender::on_channel`] ([`ChannelInfo`], every kind, DMs included, before the
//!   channel's other events), [`on_channel_archived`](Recommender::on_channel_archived),
//!   [`on_join`](Recommender::on_join) / [`on_leave`](Recommender::on_leave) (DM
//!   participants join their DM),
//!   [`on_message`](Recommender::on_message) ([`MessageEvent`]: channel, author, text,
//!   time, mentioned users, the replied-to author),
//!   [`on_reaction`](Recommender::on_reaction) /
//!   [`on_reaction_removed`](Recommender::on_reaction_removed) ([`ReactionEvent`]: the
//!   message's channel, author and text, who reacted, the emoji, time), and
//!   [`forget_workspace`](Recommender::forget_workspace) when a workspace is deleted.
//! * Queries: [`Recommender::suggest_emoji`] ([`EmojiQuery`]: a `:` prefix for
//!   autocomplete, or none for the reaction picker, optionally with the message text)
//!   and [`Recommender::suggest_channels`]. Both read only the asking workspace's
//!   statistics and cost time proportional to their candidates, not to history.
//! * Persistence: [`Recommender::export`] / [`Recommender::import`] move one workspace's
//!   statistics as versioned JSON, to store with the workspace and reload at start-up.
//!
//! # Statistics are per workspace and local
//!
//! Every counter (emoji frecency, contacts, channel activity and membership, word →
//! reaction co-occurrence) belongs to exactly one workspace, lives only in this
//! process and in that workspace's own export, and is deleted with it. Nothing of one
//! workspace is consulted when answering another. Training pipelines never read these
//! statistics: they learn only from consent-gated snapshots and hand back weights.
//!
//! # Weights formats
//!
//! * [`EmojiAssociationModel`] (`format_version` 1): `word → [(emoji, weight)]`, words
//!   being [`text::tokenize`] tokens; the built-in default
//!   ([`EmojiAssociationModel::builtin`]) is derived from the catalogue's names and
//!   shortcodes. The app picks which model a workspace may use and passes it per call.
//! * [`ChannelWeights`] (`format_version` 1): linear weights over [`ChannelFeatures`].
//! * [`ScoringWeights`]: the linear blend of emoji features (defaults included).
//!
//! Trained models are JSON; `from_json` validates them and refuses unknown versions.
//! A refusal is a [`ModelError`] saying what is wrong in this crate's terms; whether a
//! client sees it as its own mistake or as a server failure is the caller's decision.
//! The seeded offline-evaluation simulator that the `recommend_eval` example drives is
//! test support, in `confab-test-support` (`simulate`, `evaluate`).

pub mod catalogue;
pub mod channel_suggest;
pub mod emoji_suggest;
pub mod error;
pub mod model;
pub mod recommender;
pub mod stats;
pub mod text;

pub use catalogue::{Catalogue, EmojiId, catalogue};
pub use channel_suggest::{ChannelCandidate, ChannelSuggestion};
pub use emoji_suggest::{EmojiQuery, EmojiSuggestion};
pub use error::{Format, ModelError};
pub use model::{ChannelFeatures, ChannelWeights, EmojiAssociationModel, ScoringWeights};
pub use recommender::Recommender;
pub use stats::{ChannelInfo, Frecency, MessageEvent, ReactionEvent, RecommendConfig, Snapshot};
