//! The personal data export (GDPR Art. 15 and 20), `GET /me/export`: a zip of
//! everything Confab holds about the caller, written as it is read so that memory
//! stays flat however much they wrote.
//!
//! It holds `account.json`, `memberships.json` (workspaces and channels),
//! `messages.jsonl` (every message they wrote and did not delete, one per line),
//! `reactions.json`, `read_markers.json`, `consent.json` (their own keys per
//! workspace and purpose) and `models.json`: the models trained while their
//! workspace's consent included them, from the manifests — the models their data
//! may have gone into — and `avatar.png`, their picture, if they have one. At most
//! [`CONCURRENT_EXPORTS`] run at once, and each counts against the caller's write rate.

use std::io::Write;
use std::sync::Arc;

use confab_consent::Purpose;
use confab_core::{ChannelId, Error, ErrorCode, Message, Millis, Role, WorkspaceId};
use confab_store::Direction;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zip::write::SimpleFileOptions;

use crate::error::{AppError, Result};
use crate::{App, Caller};

/// Personal exports that may run at once on a server.
pub const CONCURRENT_EXPORTS: usize = 2;
/// Messages read per store page.
const PAGE: usize = 500;

/// An export that may start: write it with [`PersonalExport::write_to`].
pub struct PersonalExport {
    app: App,
    caller: Caller,
    _permit: OwnedSemaphorePermit,
}

#[derive(Serialize)]
struct WorkspaceMembership {
    workspace: WorkspaceId,
    name: String,
    role: Role,
    joined_at: Millis,
}

#[derive(Serialize)]
struct ChannelMembership {
    workspace: WorkspaceId,
    channel: ChannelId,
    name: String,
    joined_at: Millis,
    last_read_seq: u64,
}

#[derive(Serialize)]
struct ReactionRecord {
    workspace: WorkspaceId,
    channel: ChannelId,
    message: confab_core::MessageId,
    emoji: String,
}

#[derive(Serialize)]
struct ConsentKeys {
    workspace: WorkspaceId,
    keys: Vec<confab_consent::MemberKey>,
}

#[derive(Serialize)]
struct ModelRecordView {
    id: String,
    purpose: Purpose,
    scope: confab_consent::Scope,
    created_at: Millis,
    /// Your workspaces among its contributors.
    workspaces: Vec<WorkspaceId>,
    served: bool,
}

pub(crate) fn exports() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(CONCURRENT_EXPORTS))
}

impl App {
    /// Starts the caller's personal export, or `rate_limited` if too many run.
    pub fn personal_export(&self, caller: Caller) -> Result<PersonalExport> {
        self.check_write_rate(caller.user)?;
        let permit =
            self.inner.lifecycle.exports.clone().try_acquire_owned().map_err(|_| Error::rate_limited(5))?;
        Ok(PersonalExport { app: self.clone(), caller, _permit: permit })
    }
}

impl PersonalExport {
    /// Writes the zip to `out` (blocking: run it off the async runtime).
    pub fn write_to<W: Write>(self, out: W) -> Result<()> {
        let (app, user) = (&self.app, self.caller.user);
        let store = app.store();
        let io = |e: zip::result::ZipError| AppError::other("writing the export", e);
        let mut zip = zip::ZipWriter::new_stream(out);
        let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let put = |zip: &mut zip::ZipWriter<_>, name: &str, bytes: &[u8]| -> Result<()> {
            zip.start_file(name, options).map_err(io)?;
            zip.write_all(bytes).map_err(|e| AppError::other("writing the export", e))
        };
        let account =
            store.user(user)?.ok_or_else(|| Error::new(ErrorCode::Unauthenticated, "no account"))?;
        put(&mut zip, "account.json", &serde_json::to_vec_pretty(&account.user)?)?;
        if let Some(png) = store.avatar(user)? {
            put(&mut zip, "avatar.png", &png)?;
        }

        let mut workspaces = Vec::new();
        let mut channels = Vec::new();
        let mut markers = Vec::new();
        let mut reactions = Vec::new();
        let mut consent = Vec::new();
        zip.start_file("messages.jsonl", options).map_err(io)?;
        for ws in store.workspaces_of(user)? {
            let Some(member) = store.member(ws, user)? else { continue };
            let name = store.workspace(ws)?.map(|w| w.name).unwrap_or_default();
            workspaces.push(WorkspaceMembership {
                workspace: ws,
                name,
                role: member.role,
                joined_at: member.joined_at,
            });
            for channel in store.channels(ws)? {
                if let Some(m) = store.channel_member(channel.id, user)? {
                    channels.push(ChannelMembership {
                        workspace: ws,
                        channel: channel.id,
                        name: channel.name.clone(),
                        joined_at: m.joined_at,
                        last_read_seq: m.last_read_seq,
                    });
                    markers.push(serde_json::json!({
                        "workspace": ws, "channel": channel.id, "last_read_seq": m.last_read_seq,
                    }));
                }
                let mut after = 0;
                loop {
                    let page: Vec<Message> =
                        store.messages(channel.id, Direction::Forward { after }, PAGE)?;
                    let Some(last) = page.last() else { break };
                    after = last.seq;
                    for m in &page {
                        for r in m.reactions.iter().filter(|r| r.users.contains(&user)) {
                            reactions.push(ReactionRecord {
                                workspace: ws,
                                channel: channel.id,
                                message: m.id,
                                emoji: r.emoji.clone(),
                            });
                        }
                        if m.author == user && !m.deleted {
                            let mut line = serde_json::to_vec(m)?;
                            line.push(b'\n');
                            zip.write_all(&line).map_err(|e| AppError::other("writing the export", e))?;
                        }
                    }
                    if page.len() < PAGE {
                        break;
                    }
                }
            }
            let state = app.inner.ledger.state(ws)?;
            consent.push(ConsentKeys {
                workspace: ws,
                keys: state.keys_of(user).into_iter().cloned().collect(),
            });
        }
        let memberships = serde_json::json!({ "workspaces": workspaces, "channels": channels });
        put(&mut zip, "memberships.json", &serde_json::to_vec_pretty(&memberships)?)?;
        put(&mut zip, "reactions.json", &serde_json::to_vec_pretty(&reactions)?)?;
        put(&mut zip, "read_markers.json", &serde_json::to_vec_pretty(&markers)?)?;
        put(&mut zip, "consent.json", &serde_json::to_vec_pretty(&consent)?)?;
        let models = self.models_with_their_data(workspaces.iter().map(|w| w.workspace).collect())?;
        put(&mut zip, "models.json", &serde_json::to_vec_pretty(&models)?)?;
        zip.finish().map_err(io)?;
        Ok(())
    }

    /// The models trained while one of the caller's workspaces contributed with
    /// consent that included them (their ledger as of the model's snapshot).
    fn models_with_their_data(&self, workspaces: Vec<WorkspaceId>) -> Result<Vec<ModelRecordView>> {
        let app = &self.app;
        let records = app
            .inner
            .serving
            .registry
            .list()
            .map_err(|e| AppError::other("reading the model registry", e))?;
        let mut ledgers = std::collections::HashMap::new();
        for ws in &workspaces {
            ledgers.insert(*ws, app.inner.ledger.export(*ws)?.entries);
        }
        let mut out = Vec::new();
        for record in records {
            let m = &record.manifest;
            let theirs: Vec<WorkspaceId> = m
                .contributors
                .iter()
                .filter(|c| {
                    ledgers.get(&c.workspace).is_some_and(|entries| {
                        let upto = entries.iter().take_while(|e| e.seq <= c.ledger_head_seq).count();
                        let state = confab_consent::ledger::fold(c.workspace, &entries[..upto]);
                        state.member_included(m.purpose, self.caller.user)
                    })
                })
                .map(|c| c.workspace)
                .collect();
            if !theirs.is_empty() {
                out.push(ModelRecordView {
                    id: m.id.clone(),
                    purpose: m.purpose,
                    scope: m.scope,
                    created_at: m.created_at,
                    workspaces: theirs,
                    served: record.is_served(),
                });
            }
        }
        Ok(out)
    }
}
