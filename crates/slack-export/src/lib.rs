//! Reads a Slack export and maps it to a model Confab imports 1:1.
//!
//! This crate is the reading-and-mapping half of `confab import slack`: it knows
//! nothing of Confab's store, app or server. It reads the standard export zip —
//! `users.json`, `channels.json`, `groups.json` (private channels), `dms.json`,
//! `mpims.json`, `integration_logs.json`, and one folder per conversation of
//! `YYYY-MM-DD.json` day files — leniently (unknown fields ignored, optional files and
//! fields may be absent) and strictly where the data is needed (a user or conversation
//! without `id`, a message without `ts`, makes its file malformed).
//!
//! ```no_run
//! use confab_slack_export::{Entry, Export, SlackUserId};
//!
//! # fn main() -> Result<(), confab_slack_export::Error> {
//! let export = Export::open("slack-export.zip")?;
//! for user in export.users() { /* match by user.email, else create */ }
//! // Slack user id → Confab username; here: Slack's own handles.
//! let names: std::collections::HashMap<SlackUserId, String> =
//!     export.users().iter().map(|u| (u.id.clone(), u.name.clone())).collect();
//! let resolve = |id: &SlackUserId| names.get(id).cloned();
//! for conversation in export.conversations() {
//!     let messages = match export.messages(conversation, &resolve) {
//!         Ok(messages) => messages,
//!         Err(malformed) => { eprintln!("skipped: {malformed}"); continue; }
//!     };
//!     for entry in messages {
//!         match entry {
//!             Entry::Message(m) => { /* m.key, m.ts_ms, m.author, m.text, m.thread_key, … */ }
//!             Entry::Membership(j) => { /* j.user joined or left at j.ts_ms */ }
//!         }
//!     }
//! }
//! print!("{}", export.dry_run(&resolve)); // what --dry-run prints
//! # Ok(()) }
//! ```
//!
//! * [`Export`]: opens the archive and reads the directory files; then per
//!   conversation, [`Export::messages`] reads that conversation's day files (only
//!   those: one conversation's history is in memory at a time) and yields its
//!   [`Entry`]s in `ts` order.
//! * The model: [`User`], [`Conversation`] ([`ConversationKind`]), [`Message`]
//!   ([`Author`], [`MessageKind`], [`Edited`], [`Reaction`], [`FileLink`]),
//!   [`Membership`], [`IntegrationLog`]. Every entry has a [`MessageKey`] derived
//!   from (conversation id, `ts`) only, for idempotent re-imports.
//! * [`convert_markup`] and [`Resolver`]: Slack markup to Confab's text (the table is
//!   in the [`markup`] module).
//! * [`Report`]: counts per kind, unmapped users, unknown subtypes, what was skipped
//!   and why, malformed files. [`Export::dry_run`] builds the whole report.
//! * [`Error`]: every error names its file; JSON errors give line and column.
//!
//! What an importer decides, not this crate: how Slack users become Confab accounts
//! (by email), Confab usernames and channel names (through the [`Resolver`]), that
//! the `is_general` channel merges into `#general`, that an mpim becomes a DM of its
//! members, and whether a conversation with a malformed day file is skipped whole
//! ([`Export::messages`]) or without that day ([`Export::messages_lenient`]).

mod error;
pub mod markup;
mod model;
mod raw;
mod reader;
mod report;
pub mod write;

pub use error::Error;
pub use markup::{Resolver, convert_markup};
pub use model::{
    Author, Conversation, ConversationId, ConversationKind, Edited, Entry, FileLink, IntegrationLog,
    Membership, MembershipChange, Message, MessageKey, MessageKind, Reaction, SlackUserId, User, parse_ts,
    reaction_emoji,
};
pub use reader::{Export, Messages};
pub use report::Report;
