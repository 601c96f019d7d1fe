//! Reading the archive: the directory files at open, then one conversation's day
//! files at a time.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use serde::de::DeserializeOwned;
use zip::ZipArchive;
use zip::result::ZipError;

use crate::error::Error;
use crate::markup::{Resolver, convert};
use crate::model::{
    Author, Conversation, ConversationId, ConversationKind, Edited, Entry, FileLink, IntegrationLog,
    Membership, MembershipChange, Message, MessageKey, MessageKind, Reaction, SlackUserId, User, parse_ts,
    reaction_emoji,
};
use crate::raw::{RawConversation, RawFile, RawIntegrationLogs, RawMessage, RawUser};
use crate::report::Report;

/// An open Slack export.
///
/// [`Export::open`] reads the central directory and the directory files
/// (`users.json`, `channels.json`, and where present `groups.json`, `dms.json`,
/// `mpims.json`, `integration_logs.json`); message history is read per conversation
/// by [`Export::messages`], one conversation's day files at a time.
///
/// The archive may hold the export at its root or inside one folder.
pub struct Export<R> {
    archive: RefCell<ZipArchive<R>>,
    users: Vec<User>,
    known_users: HashSet<SlackUserId>,
    conversations: Vec<Conversation>,
    integration_logs: Vec<IntegrationLog>,
    report: Report,
}

impl Export<BufReader<File>> {
    /// Opens the export zip at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::archive(&path.display().to_string(), e))?;
        Export::from_reader(BufReader::new(file), &path.display().to_string())
    }
}

impl<R: Read + Seek> Export<R> {
    /// Reads an export zip from `reader`; `name` names the archive in errors.
    pub fn from_reader(reader: R, name: &str) -> Result<Self, Error> {
        let mut archive = ZipArchive::new(reader).map_err(|e| Error::archive(name, e))?;
        let mut report = Report::default();
        let mut names = Vec::with_capacity(archive.len());
        for name in archive.file_names() {
            match name {
                Ok(name) => names.push(name.into_owned()),
                Err(_) => report.skip("archive entry whose name does not decode"),
            }
        }
        let prefix = export_root(&names).ok_or_else(|| Error::Missing { file: "users.json".into() })?;

        let raw_users: Vec<RawUser> = read_json(&mut archive, &prefix, "users.json")?
            .ok_or_else(|| Error::Missing { file: format!("{prefix}users.json") })?;
        let mut users = Vec::with_capacity(raw_users.len());
        let mut known_users = HashSet::with_capacity(raw_users.len());
        for raw in raw_users {
            let user = user(raw);
            if !known_users.insert(user.id.clone()) {
                report.skip("user listed twice in users.json");
                continue;
            }
            report.users += 1;
            report.bots += u64::from(user.is_bot);
            report.deleted_users += u64::from(user.deleted);
            if user.email.is_none() {
                report.users_without_email.insert(user.id.clone());
            }
            users.push(user);
        }

        // Day files by folder (`general` → ["general/2017-08-28.json", …]), sorted.
        let mut folders: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for full in &names {
            let Some(path) = full.strip_prefix(prefix.as_str()) else { continue };
            let Some((folder, file)) = path.split_once('/') else { continue };
            if file.is_empty() {
                continue; // the folder's own entry
            }
            if is_day_file(file) {
                folders.entry(folder).or_default().push(full.clone());
            } else {
                report.skip("file in a conversation's folder that is not a YYYY-MM-DD.json day file");
            }
        }
        for files in folders.values_mut() {
            files.sort();
        }

        let mut conversations = Vec::new();
        let mut seen = HashSet::new();
        for (file, kind, required) in [
            ("channels.json", ConversationKind::Public, true),
            ("groups.json", ConversationKind::Private, false),
            ("mpims.json", ConversationKind::Mpim, false),
            ("dms.json", ConversationKind::Dm, false),
        ] {
            let raw: Option<Vec<RawConversation>> = read_json(&mut archive, &prefix, file)?;
            let raw = match raw {
                Some(raw) => raw,
                None if required => return Err(Error::Missing { file: format!("{prefix}{file}") }),
                None => continue,
            };
            for raw in raw {
                if !seen.insert(raw.id.clone()) {
                    report.skip(format!("conversation listed twice: {} (again in {file})", raw.id));
                    continue;
                }
                let conversation = conversation(raw, kind, &mut folders);
                match kind {
                    ConversationKind::Public => report.public_channels += 1,
                    ConversationKind::Private => report.private_channels += 1,
                    ConversationKind::Dm => report.dms += 1,
                    ConversationKind::Mpim => report.mpims += 1,
                }
                report.archived += u64::from(conversation.archived);
                for member in conversation.members.iter().chain(&conversation.creator) {
                    if !known_users.contains(member) {
                        report.unmapped_users.insert(member.clone());
                    }
                }
                conversations.push(conversation);
            }
        }
        for (folder, files) in &folders {
            report.skipped.insert(
                format!("folder {folder}/ of no conversation in channels/groups/mpims/dms.json (day files)"),
                files.len() as u64,
            );
        }

        let mut integration_logs = Vec::new();
        match read_json::<RawIntegrationLogs>(&mut archive, &prefix, "integration_logs.json") {
            Ok(None) => {}
            Ok(Some(RawIntegrationLogs::List(logs) | RawIntegrationLogs::Wrapped { logs })) => {
                integration_logs = logs.into_iter().map(integration_log).collect();
                report.integration_logs = integration_logs.len() as u64;
            }
            // Not needed to import messages: reported, not fatal.
            Err(e) => report.malformed_files.push(e.to_string()),
        }

        Ok(Export {
            archive: RefCell::new(archive),
            users,
            known_users,
            conversations,
            integration_logs,
            report,
        })
    }

    /// `users.json`, in its order.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// Every conversation: public channels, then private ones, mpims, DMs, each in
    /// its directory file's order.
    pub fn conversations(&self) -> &[Conversation] {
        &self.conversations
    }

    /// `integration_logs.json`, empty when absent.
    pub fn integration_logs(&self) -> &[IntegrationLog] {
        &self.integration_logs
    }

    /// What the directory files hold and what was left out of them.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// One conversation's history, for an importer that is atomic per conversation:
    /// an error names the first malformed day file (file, line, column), and the
    /// caller skips this conversation and goes on with the next.
    pub fn messages<'a, Q: Resolver + ?Sized>(
        &'a self,
        conversation: &Conversation,
        resolver: &'a Q,
    ) -> Result<Messages<'a, Q>, Error> {
        let mut messages = self.messages_lenient(conversation, resolver);
        if messages.malformed.is_empty() { Ok(messages) } else { Err(messages.malformed.swap_remove(0)) }
    }

    /// One conversation's history without its malformed day files: they are listed in
    /// [`Messages::malformed`] (and the report), the other days are yielded.
    ///
    /// Reads and parses every day file of the conversation now (one conversation's
    /// history is in memory at a time), sorts by `ts`, and converts each entry as the
    /// iterator reaches it.
    pub fn messages_lenient<'a, Q: Resolver + ?Sized>(
        &'a self,
        conversation: &Conversation,
        resolver: &'a Q,
    ) -> Messages<'a, Q> {
        let mut report = Report::default();
        let mut malformed = Vec::new();
        let mut raw: Vec<(i64, RawMessage)> = Vec::new();
        let mut archive = self.archive.borrow_mut();
        let mut buf = Vec::new();
        for file in &conversation.day_files {
            let day: Vec<RawMessage> = match read_entry(&mut archive, file, &mut buf)
                .and_then(|()| serde_json::from_slice(&buf).map_err(|e| Error::json(file, &e)))
            {
                Ok(day) => day,
                Err(e) => {
                    report.malformed_files.push(e.to_string());
                    malformed.push(e);
                    continue;
                }
            };
            raw.reserve(day.len());
            for message in day {
                match parse_ts(&message.ts) {
                    Some(micros) => raw.push((micros, message)),
                    None => report.skip("message whose ts does not parse"),
                }
            }
        }
        raw.sort_by_key(|(micros, _)| *micros);
        let before = raw.len();
        raw.dedup_by(|b, a| a.0 == b.0 && a.1.ts == b.1.ts);
        for _ in raw.len()..before {
            report.skip("message with the ts of another in its conversation");
        }
        Messages {
            conversation: conversation.id.clone(),
            raw: raw.into_iter(),
            resolver,
            known_users: &self.known_users,
            report,
            malformed,
        }
    }

    /// Reads the whole export as an import would, storing nothing: the directory's
    /// report plus every conversation's. A conversation with a malformed day file is
    /// left out whole (as [`Export::messages`] makes an importer do) and counted as
    /// skipped; its files are listed in `malformed_files`.
    pub fn dry_run<Q: Resolver + ?Sized>(&self, resolver: &Q) -> Report {
        let mut total = self.report.clone();
        for conversation in &self.conversations {
            let mut messages = self.messages_lenient(conversation, resolver);
            if !messages.malformed.is_empty() {
                total.malformed_files.append(&mut messages.report.malformed_files);
                total.skip("conversation with a malformed day file (not imported)");
                continue;
            }
            messages.by_ref().for_each(drop);
            total.merge(messages.report());
        }
        total
    }
}

/// One conversation's history: [`Entry`]s in `ts` order (messages and membership
/// changes). Entries Confab does not import are counted in [`Messages::report`], not
/// yielded.
pub struct Messages<'a, Q: ?Sized> {
    conversation: ConversationId,
    raw: std::vec::IntoIter<(i64, RawMessage)>,
    resolver: &'a Q,
    known_users: &'a HashSet<SlackUserId>,
    report: Report,
    malformed: Vec<Error>,
}

impl<Q: Resolver + ?Sized> Messages<'_, Q> {
    /// Day files that could not be read (always empty from [`Export::messages`]).
    pub fn malformed(&self) -> &[Error] {
        &self.malformed
    }

    /// This conversation's counts so far: complete once the iterator is exhausted.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Entries not yet yielded, an upper bound (skipped ones are in it).
    pub fn remaining(&self) -> usize {
        self.raw.len()
    }

    fn user(&mut self, id: &str) -> SlackUserId {
        let id = SlackUserId::new(id);
        if !self.known_users.contains(&id) {
            self.report.unmapped_users.insert(id.clone());
        }
        id
    }

    fn entry(&mut self, micros: i64, raw: RawMessage) -> Option<Entry> {
        if raw.kind.as_deref().is_some_and(|t| t != "message") {
            self.report.skip("entry whose type is not message");
            return None;
        }
        let ts_ms = micros.div_euclid(1000);
        let kind = match raw.subtype.as_deref() {
            None => MessageKind::Plain,
            Some("me_message") => MessageKind::Me,
            Some("thread_broadcast") => MessageKind::ThreadBroadcast,
            Some("file_share") => MessageKind::FileShare,
            Some("bot_message") => MessageKind::Bot,
            Some(change @ ("channel_join" | "group_join" | "channel_leave" | "group_leave")) => {
                let Some(user) = raw.user.as_deref() else {
                    self.report.skip(format!("{change} without user"));
                    return None;
                };
                let user = self.user(user);
                let inviter = raw.inviter.as_deref().map(|u| self.user(u));
                let change = if change.ends_with("_join") {
                    self.report.joins += 1;
                    MembershipChange::Joined
                } else {
                    self.report.leaves += 1;
                    MembershipChange::Left
                };
                return Some(Entry::Membership(Membership {
                    key: MessageKey::new(&self.conversation, &raw.ts),
                    ts: raw.ts,
                    ts_ms,
                    user,
                    change,
                    inviter,
                }));
            }
            Some(other) => {
                *self.report.unknown_subtypes.entry(other.to_owned()).or_default() += 1;
                return None;
            }
        };

        let author = match (kind, raw.user.as_deref()) {
            (MessageKind::Bot, user) => Author::Bot {
                bot_id: raw.bot_id.clone(),
                username: raw
                    .username
                    .clone()
                    .or_else(|| raw.bot_profile.as_ref().and_then(|p| p.name.clone())),
                user: user.map(|u| self.user(u)),
            },
            (_, Some(user)) => Author::User(self.user(user)),
            (_, None) if raw.bot_id.is_some() => Author::Bot {
                bot_id: raw.bot_id.clone(),
                username: raw
                    .username
                    .clone()
                    .or_else(|| raw.bot_profile.as_ref().and_then(|p| p.name.clone())),
                user: None,
            },
            (_, None) => {
                self.report.skip("message without user or bot id");
                return None;
            }
        };

        let mut files = Vec::with_capacity(raw.files.len());
        for file in raw.files.into_iter().chain(raw.file) {
            match file.mode.as_deref() {
                Some("tombstone") => self.report.skip("file deleted before the export (tombstone)"),
                Some("hidden_by_limit") => self.report.skip("file hidden by the plan's limit"),
                _ => files.push(file_link(file)),
            }
        }

        let mut text = match raw.text {
            Some(t) if !t.is_empty() => t,
            // A bot's post often has its content in attachments only.
            _ => raw
                .attachments
                .iter()
                .filter_map(|a| a.fallback.as_deref().filter(|t| !t.is_empty()).or(a.text.as_deref()))
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join("\n"),
        };
        if text.is_empty() && files.is_empty() {
            self.report.skip("message without text or files");
            return None;
        }
        if text.contains(['<', '&']) {
            let unmapped = &mut self.report.unmapped_users;
            text = convert(&text, self.resolver, &mut |id| {
                unmapped.insert(id.clone());
            });
        }

        let mut reactions = Vec::with_capacity(raw.reactions.len());
        for r in raw.reactions {
            let users: Vec<SlackUserId> = r.users.iter().map(|u| self.user(u)).collect();
            self.report.reactions += 1;
            self.report.reaction_users += users.len() as u64;
            reactions.push(Reaction {
                emoji: reaction_emoji(&r.name),
                count: r.count.unwrap_or(users.len() as u32).max(users.len() as u32),
                name: r.name,
                users,
            });
        }

        let edited = raw.edited.map(|e| {
            let ts = e.ts.unwrap_or_default();
            Edited {
                ts_ms: parse_ts(&ts).map(|m| m.div_euclid(1000)),
                ts,
                user: e.user.as_deref().map(|u| self.user(u)),
            }
        });
        let thread_key =
            raw.thread_ts.as_deref().filter(|t| *t != raw.ts).map(|t| MessageKey::new(&self.conversation, t));
        let parent_user_id = raw.parent_user_id.as_deref().map(|u| self.user(u));

        self.report.messages += 1;
        self.report.replies += u64::from(thread_key.is_some());
        self.report.edited += u64::from(edited.is_some());
        self.report.bot_messages += u64::from(matches!(author, Author::Bot { .. }));
        self.report.files += files.len() as u64;
        Some(Entry::Message(Message {
            key: MessageKey::new(&self.conversation, &raw.ts),
            ts: raw.ts,
            ts_ms,
            author,
            kind,
            text,
            thread_ts: raw.thread_ts,
            thread_key,
            parent_user_id,
            edited,
            reactions,
            files,
        }))
    }
}

impl<Q: Resolver + ?Sized> Iterator for Messages<'_, Q> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        while let Some((micros, raw)) = self.raw.next() {
            if let Some(entry) = self.entry(micros, raw) {
                return Some(entry);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.raw.len()))
    }
}

/// The folder holding `users.json` or `channels.json` (`""` at the root), the
/// shallowest if several do.
fn export_root(names: &[String]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| n.strip_suffix("users.json").or_else(|| n.strip_suffix("channels.json")))
        .filter(|p| p.is_empty() || p.ends_with('/'))
        .min_by_key(|p| p.matches('/').count())
        .map(str::to_owned)
}

/// `YYYY-MM-DD.json`.
fn is_day_file(file: &str) -> bool {
    let b = file.as_bytes();
    b.len() == 15
        && file.ends_with(".json")
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9].iter().all(|&i| b[i].is_ascii_digit())
}

/// Reads one entry into `buf`.
fn read_entry<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    name: &str,
    buf: &mut Vec<u8>,
) -> Result<(), Error> {
    buf.clear();
    let mut entry = archive.by_name(name).map_err(|e| Error::archive(name, e))?;
    buf.reserve(usize::try_from(entry.size()).unwrap_or(0));
    entry.read_to_end(buf).map_err(|e| Error::archive(name, e))?;
    Ok(())
}

/// Reads and parses a top-level file; `None` when the archive has no such file.
fn read_json<T: DeserializeOwned>(
    archive: &mut ZipArchive<impl Read + Seek>,
    prefix: &str,
    file: &str,
) -> Result<Option<T>, Error> {
    let name = format!("{prefix}{file}");
    let mut buf = Vec::new();
    match archive.by_name(&name) {
        Err(ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(Error::archive(&name, e)),
        Ok(mut entry) => {
            entry.read_to_end(&mut buf).map_err(|e| Error::archive(&name, e))?;
        }
    }
    serde_json::from_slice(&buf).map(Some).map_err(|e| Error::json(&name, &e))
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn user(raw: RawUser) -> User {
    let id = SlackUserId::new(raw.id);
    User {
        name: non_empty(raw.name).unwrap_or_else(|| id.as_str().to_owned()),
        real_name: non_empty(raw.real_name).or(non_empty(raw.profile.real_name)),
        display_name: non_empty(raw.profile.display_name),
        email: non_empty(raw.profile.email),
        is_bot: raw.is_bot || id.as_str() == "USLACKBOT",
        is_app_user: raw.is_app_user,
        deleted: raw.deleted,
        is_admin: raw.is_admin,
        is_owner: raw.is_owner,
        bot_id: non_empty(raw.profile.bot_id),
        tz: non_empty(raw.tz),
        id,
    }
}

fn conversation(
    raw: RawConversation,
    kind: ConversationKind,
    folders: &mut BTreeMap<&str, Vec<String>>,
) -> Conversation {
    let name = non_empty(raw.name).unwrap_or_else(|| raw.id.clone());
    // Channels' folders are named by the channel, DMs' by their id.
    let day_files =
        folders.remove(name.as_str()).or_else(|| folders.remove(raw.id.as_str())).unwrap_or_default();
    Conversation {
        id: ConversationId::new(raw.id),
        kind,
        name,
        topic: non_empty(raw.topic.and_then(|t| t.value)),
        purpose: non_empty(raw.purpose.and_then(|t| t.value)),
        archived: raw.is_archived,
        is_general: raw.is_general,
        members: raw.members.into_iter().map(SlackUserId::new).collect(),
        creator: non_empty(raw.creator).map(SlackUserId::new),
        created_ms: raw.created.and_then(|s| s.checked_mul(1000)),
        day_files,
    }
}

fn file_link(raw: RawFile) -> FileLink {
    let name = non_empty(raw.name)
        .or_else(|| raw.title.clone())
        .or_else(|| raw.id.clone())
        .unwrap_or_else(|| "file".to_owned());
    FileLink {
        id: raw.id,
        name,
        title: raw.title,
        url_private: raw.url_private,
        permalink: raw.permalink,
        mimetype: raw.mimetype,
        size: raw.size,
    }
}

fn integration_log(raw: crate::raw::RawIntegrationLog) -> IntegrationLog {
    let date_ms = match &raw.date {
        Some(serde_json::Value::String(s)) => s.split('.').next().and_then(|s| s.parse::<i64>().ok()),
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        _ => None,
    }
    .and_then(|s| s.checked_mul(1000));
    IntegrationLog {
        user_id: raw.user_id.map(SlackUserId::new),
        user_name: raw.user_name,
        service: raw.service_type.or(raw.app_type),
        change_type: raw.change_type,
        channel: raw.channel,
        reason: raw.reason,
        date_ms,
    }
}
