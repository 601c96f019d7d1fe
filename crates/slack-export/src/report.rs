//! What an export holds and what reading it had to leave out: what `--dry-run` prints.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::model::SlackUserId;

/// Counts per kind, unmapped users, unknown subtypes, and what was skipped and why.
///
/// [`crate::Export::report`] covers the directory files; each conversation's
/// [`crate::Messages::report`] covers its history (complete once iterated). Add them
/// up with [`Report::merge`]; [`crate::Export::dry_run`] does all of it. `Display`
/// prints the summary, one count a line after its word (`users`, `channels`,
/// `messages`, …).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Entries of `users.json`, of which bots (Slackbot included), deleted.
    pub users: u64,
    pub bots: u64,
    pub deleted_users: u64,
    /// Users without an email (bots, Slackbot, apps): created as new accounts.
    pub users_without_email: BTreeSet<SlackUserId>,
    /// Conversations by kind, and of them archived.
    pub public_channels: u64,
    pub private_channels: u64,
    pub dms: u64,
    pub mpims: u64,
    pub archived: u64,
    /// Messages yielded (every kind), of which thread replies, edited, bot messages.
    pub messages: u64,
    pub replies: u64,
    pub edited: u64,
    pub bot_messages: u64,
    /// Reactions (one per emoji per message) and their users, files.
    pub reactions: u64,
    pub reaction_users: u64,
    pub files: u64,
    pub joins: u64,
    pub leaves: u64,
    /// Entries of `integration_logs.json`.
    pub integration_logs: u64,
    /// User ids a message, reaction, edit, membership or mention names that are not
    /// in `users.json` or that the resolver did not map.
    pub unmapped_users: BTreeSet<SlackUserId>,
    /// Subtypes that carry no content Confab imports, and how many messages had them.
    pub unknown_subtypes: BTreeMap<String, u64>,
    /// Other things left out, by why (`"message without ts that parses"`, …).
    pub skipped: BTreeMap<String, u64>,
    /// Files that could not be read, each naming its file (and line and column).
    pub malformed_files: Vec<String>,
}

impl Report {
    pub(crate) fn skip(&mut self, why: impl Into<String>) {
        *self.skipped.entry(why.into()).or_default() += 1;
    }

    /// Adds `other`'s counts and lists to this one.
    pub fn merge(&mut self, other: &Report) {
        let Report {
            users,
            bots,
            deleted_users,
            users_without_email,
            public_channels,
            private_channels,
            dms,
            mpims,
            archived,
            messages,
            replies,
            edited,
            bot_messages,
            reactions,
            reaction_users,
            files,
            joins,
            leaves,
            integration_logs,
            unmapped_users,
            unknown_subtypes,
            skipped,
            malformed_files,
        } = other;
        self.users += users;
        self.bots += bots;
        self.deleted_users += deleted_users;
        self.users_without_email.extend(users_without_email.iter().cloned());
        self.public_channels += public_channels;
        self.private_channels += private_channels;
        self.dms += dms;
        self.mpims += mpims;
        self.archived += archived;
        self.messages += messages;
        self.replies += replies;
        self.edited += edited;
        self.bot_messages += bot_messages;
        self.reactions += reactions;
        self.reaction_users += reaction_users;
        self.files += files;
        self.joins += joins;
        self.leaves += leaves;
        self.integration_logs += integration_logs;
        self.unmapped_users.extend(unmapped_users.iter().cloned());
        for (k, n) in unknown_subtypes {
            *self.unknown_subtypes.entry(k.clone()).or_default() += n;
        }
        for (k, n) in skipped {
            *self.skipped.entry(k.clone()).or_default() += n;
        }
        self.malformed_files.extend(malformed_files.iter().cloned());
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids = |set: &BTreeSet<SlackUserId>| set.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", ");
        writeln!(
            f,
            "users {} ({} bots, {} deleted, {} without email)",
            self.users,
            self.bots,
            self.deleted_users,
            self.users_without_email.len()
        )?;
        writeln!(
            f,
            "channels {} ({} public, {} private, {} archived)",
            self.public_channels + self.private_channels,
            self.public_channels,
            self.private_channels,
            self.archived
        )?;
        writeln!(f, "dms {}", self.dms)?;
        writeln!(f, "mpims {}", self.mpims)?;
        writeln!(
            f,
            "messages {} ({} thread replies, {} edited, {} bot messages)",
            self.messages, self.replies, self.edited, self.bot_messages
        )?;
        writeln!(f, "reactions {} (by {} users)", self.reactions, self.reaction_users)?;
        writeln!(f, "files {}", self.files)?;
        writeln!(
            f,
            "membership changes {} ({} joins, {} leaves)",
            self.joins + self.leaves,
            self.joins,
            self.leaves
        )?;
        writeln!(f, "integration logs {}", self.integration_logs)?;
        if !self.users_without_email.is_empty() {
            writeln!(f, "users without email: {}", ids(&self.users_without_email))?;
        }
        writeln!(f, "unmapped users {}", self.unmapped_users.len())?;
        if !self.unmapped_users.is_empty() {
            writeln!(f, "  {}", ids(&self.unmapped_users))?;
        }
        writeln!(f, "unknown subtypes {}", self.unknown_subtypes.values().sum::<u64>())?;
        for (subtype, n) in &self.unknown_subtypes {
            writeln!(f, "  {subtype} {n}")?;
        }
        writeln!(f, "skipped {}", self.skipped.values().sum::<u64>())?;
        for (why, n) in &self.skipped {
            writeln!(f, "  {why} {n}")?;
        }
        writeln!(f, "malformed files {}", self.malformed_files.len())?;
        for file in &self.malformed_files {
            writeln!(f, "  {file}")?;
        }
        Ok(())
    }
}
