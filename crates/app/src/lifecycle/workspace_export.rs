//! `confab export workspace WS --out FILE.zip`: a workspace in the layout of a
//! Slack export (written by `confab_slack_export::write`), so that `confab import
//! slack` — or any tool that reads Slack exports — takes it back: members, public and
//! private channels, DMs, every message not deleted with its thread, edit and
//! reactions. Two files of Confab's own sit at the top level, where readers of Slack
//! exports look for nothing: `confab_consent_ledger.json` (the workspace's ledger
//! with its verification) and `confab_model_manifests.json` (the manifests of every
//! model its data went into).
//!
//! Written as it is read: one day of one channel is in memory at a time, plus the
//! `ts` of each thread root of the channel being written. An owner downloads the
//! same zip over HTTP ([`App::owner_workspace_export`]), streamed as it is written.

use std::collections::{BTreeSet, HashMap};
use std::io::{Seek, Write};
use std::path::PathBuf;

use confab_core::{ChannelKind, Error, Message, MessageId, Millis, Role, UserId, WorkspaceId};
use confab_slack_export::write::{
    ConversationOut, DirectoryFile, EditedOut, ExportWriter, MessageOut, ProfileOut, ReactionOut, TextOut,
    UserOut, escape,
};
use confab_store::Direction;
use serde::Serialize;
use tokio::sync::OwnedSemaphorePermit;

use super::{OnProgress, Progress};
use crate::error::{AppError, Result};
use crate::{App, Caller};

const PAGE: usize = 1000;

/// What `confab export workspace` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct WorkspaceExportReport {
    pub workspace: WorkspaceId,
    pub out: PathBuf,
    pub users: usize,
    pub conversations: usize,
    pub messages: u64,
    pub day_files: u64,
    pub bytes: u64,
}

/// A message's Slack `ts`: seconds and microseconds of its time, with the channel's
/// `seq` in the sub-millisecond digits so that it is unique per channel.
fn ts(m: &Message) -> String {
    let micros = m.created_at.rem_euclid(1000) * 1000 + (m.seq % 1000) as i64;
    format!("{}.{micros:06}", m.created_at.div_euclid(1000))
}

fn ts_of(at: Millis) -> String {
    format!("{}.{:06}", at.div_euclid(1000), at.rem_euclid(1000) * 1000)
}

/// `YYYY-MM-DD` (UTC) of a time (Howard Hinnant's `civil_from_days`).
fn day(at: Millis) -> String {
    let z = at.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn out_message(m: &Message, roots: &HashMap<MessageId, (String, UserId)>) -> MessageOut {
    let (thread_ts, parent_user_id) = match m.thread_root.and_then(|r| roots.get(&r)) {
        Some((root_ts, root_author)) => (Some(root_ts.clone()), Some(root_author.to_string())),
        None if m.reply_count > 0 => (Some(ts(m)), None),
        None => (None, None),
    };
    MessageOut {
        kind: "message",
        ts: ts(m),
        user: m.author.to_string(),
        text: escape(&m.text),
        thread_ts,
        parent_user_id,
        edited: m.edited_at.map(|at| EditedOut { user: m.author.to_string(), ts: ts_of(at) }),
        reactions: m
            .reactions
            .iter()
            .filter_map(|r| {
                let name = emojis::get(&r.emoji)?.shortcode()?.to_string();
                let users: Vec<String> = r.users.iter().map(UserId::to_string).collect();
                Some(ReactionOut { name, count: users.len() as u32, users })
            })
            .collect(),
    }
}

impl App {
    /// Writes workspace `ws` to `out` (a new file) as a Slack export. `progress` is
    /// told the messages read so far, of at most the channels' last `seq`s together.
    pub async fn export_workspace(
        &self,
        ws: WorkspaceId,
        out: PathBuf,
        progress: OnProgress,
    ) -> Result<WorkspaceExportReport> {
        self.workspace(ws)?;
        if !out.is_absolute() {
            return Err(Error::invalid_field("out", "must be an absolute path").into());
        }
        let app = self.clone();
        tokio::task::spawn_blocking(move || app.export_workspace_blocking(ws, out, progress)).await?
    }

    fn export_workspace_blocking(
        &self,
        ws: WorkspaceId,
        out: PathBuf,
        progress: OnProgress,
    ) -> Result<WorkspaceExportReport> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&out)
            .map_err(|e| Error::invalid_field("out", e.to_string()))?;
        let mut zip = ExportWriter::new(std::io::BufWriter::new(file));
        let counts = self.write_workspace(ws, &mut zip, progress)?;
        zip.finish().map_err(export_io)?;
        let bytes = std::fs::metadata(&out).map_err(export_io)?.len();
        let ExportCounts { users, conversations, messages, day_files } = counts;
        Ok(WorkspaceExportReport { workspace: ws, out, users, conversations, messages, day_files, bytes })
    }

    /// Starts streaming workspace `ws` to one of its owners (`GET
    /// /workspaces/{ws}/export`), or `rate_limited` if too many exports run.
    pub fn owner_workspace_export(&self, caller: Caller, ws: WorkspaceId) -> Result<WorkspaceExport> {
        let role = self.workspace(ws)?.read().require_member(caller.user)?;
        if role != Role::Owner {
            return Err(Error::forbidden("only an owner of the workspace exports it").into());
        }
        self.check_write_rate(caller.user)?;
        let permit =
            self.inner.lifecycle.exports.clone().try_acquire_owned().map_err(|_| Error::rate_limited(5))?;
        Ok(WorkspaceExport { app: self.clone(), ws, _permit: permit })
    }

    /// Writes every part of the export but the end of the zip.
    fn write_workspace<W: Write + Seek>(
        &self,
        ws: WorkspaceId,
        zip: &mut ExportWriter<W>,
        mut progress: OnProgress,
    ) -> Result<ExportCounts> {
        let io = export_io;
        let store = self.store();
        let channels = store.channels(ws)?;
        let mut read = Progress { done: 0, total: 0 };
        for channel in &channels {
            read.total += store.last_seq(channel.id)?;
        }
        progress(read);
        let members = store.members(ws)?;
        let mut authors: BTreeSet<UserId> = members.iter().map(|m| m.user).collect();
        let (mut messages, mut day_files) = (0u64, 0u64);
        let mut lists: HashMap<&'static str, (DirectoryFile, Vec<ConversationOut>)> = HashMap::new();
        for channel in channels {
            let member_ids: Vec<UserId> =
                store.channel_members(channel.id)?.into_iter().map(|(u, _)| u).collect();
            let (file, key, name) = match channel.kind {
                ChannelKind::Public => (DirectoryFile::Channels, "channels", Some(channel.name.clone())),
                ChannelKind::Private => (DirectoryFile::Groups, "groups", Some(channel.name.clone())),
                ChannelKind::Dm if member_ids.len() <= 2 => (DirectoryFile::Dms, "dms", None),
                ChannelKind::Dm => (DirectoryFile::Mpims, "mpims", None),
            };
            let folder = name.clone().unwrap_or_else(|| channel.id.to_string());
            lists.entry(key).or_insert_with(|| (file, Vec::new())).1.push(ConversationOut {
                id: channel.id.to_string(),
                is_general: channel.kind == ChannelKind::Public && channel.name == "general",
                name,
                created: channel.created_at.div_euclid(1000),
                creator: channel.created_by.to_string(),
                is_archived: channel.archived,
                members: member_ids.iter().map(UserId::to_string).collect(),
                topic: TextOut { value: channel.topic.clone() },
                purpose: TextOut::default(),
            });
            let mut roots: HashMap<MessageId, (String, UserId)> = HashMap::new();
            let (mut current_day, mut today) = (String::new(), Vec::new());
            let mut after = 0;
            loop {
                let page = store.messages(channel.id, Direction::Forward { after }, PAGE)?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                read.done += page.len() as u64;
                progress(read);
                for m in page.iter().filter(|m| !m.deleted) {
                    if m.reply_count > 0 {
                        roots.insert(m.id, (ts(m), m.author));
                    }
                    authors.insert(m.author);
                    let date = day(m.created_at);
                    if date != current_day && !today.is_empty() {
                        zip.day(&folder, &current_day, &today).map_err(io)?;
                        day_files += 1;
                        today.clear();
                    }
                    current_day = date;
                    today.push(out_message(m, &roots));
                    messages += 1;
                }
                if page.len() < PAGE {
                    break;
                }
            }
            if !today.is_empty() {
                zip.day(&folder, &current_day, &today).map_err(io)?;
                day_files += 1;
            }
        }
        // channels.json is required, even when empty.
        lists.entry("channels").or_insert_with(|| (DirectoryFile::Channels, Vec::new()));
        let conversations = lists.values().map(|(_, l)| l.len()).sum();
        for (file, list) in lists.into_values() {
            zip.conversations(file, &list).map_err(io)?;
        }
        let roles: HashMap<UserId, Role> = members.iter().map(|m| (m.user, m.role)).collect();
        let mut users = Vec::new();
        for id in &authors {
            let Some(record) = store.user(*id)? else { continue };
            let u = record.user;
            let role = roles.get(id).copied();
            // A bot's email is its own id's on this server: meaningless anywhere else.
            let is_bot = crate::slack_bots::is_bot_account(&u);
            let erased = record.password_hash.eq(confab_store::UserRecord::ERASED);
            users.push(UserOut {
                id: u.id.to_string(),
                name: u.username.clone(),
                real_name: u.display_name.clone(),
                deleted: role.is_none(),
                is_admin: role.is_some_and(Role::is_admin),
                is_owner: role == Some(Role::Owner),
                is_bot,
                profile: ProfileOut {
                    email: (!erased && !is_bot).then_some(u.email),
                    real_name: u.display_name.clone(),
                    display_name: u.username,
                },
            });
        }
        zip.users(&users).map_err(io)?;
        zip.json("confab_consent_ledger.json", &self.inner.ledger.export(ws)?).map_err(io)?;
        let manifests: Vec<_> = self
            .inner
            .serving
            .registry
            .list()
            .map_err(|e| AppError::other("reading the model registry", e))?
            .into_iter()
            .filter(|r| r.manifest.includes(ws))
            .map(|r| r.manifest)
            .collect();
        zip.json("confab_model_manifests.json", &manifests).map_err(io)?;
        Ok(ExportCounts { users: users.len(), conversations, messages, day_files })
    }
}

fn export_io(e: std::io::Error) -> AppError {
    AppError::other("writing the workspace export", e)
}

struct ExportCounts {
    users: usize,
    conversations: usize,
    messages: u64,
    day_files: u64,
}

/// A workspace export on its way to an owner: it holds one of the few export slots
/// until it is written or dropped.
pub struct WorkspaceExport {
    app: App,
    ws: WorkspaceId,
    _permit: OwnedSemaphorePermit,
}

impl WorkspaceExport {
    /// Writes the zip to `out` as it is read from the store (blocking: run it off the
    /// async runtime).
    pub fn write_to<W: Write>(self, out: W) -> Result<()> {
        let mut zip = ExportWriter::new_stream(out);
        self.app.write_workspace(self.ws, &mut zip, Box::new(|_| {}))?;
        zip.finish().map_err(export_io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_timestamps_are_slacks() {
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(day(1_796_205_684_125), "2026-12-02");
        assert_eq!(day(951_782_400_000), "2000-02-29");
        assert_eq!(ts_of(1_500_000_000_123), "1500000000.123000");
    }
}
