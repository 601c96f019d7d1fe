//! Retention: keep messages for ever, or delete those older than N days, per
//! workspace (`PUT/GET /workspaces/{ws}/retention`) and per channel (`PUT/GET
//! /channels/{ch}/retention`, which overrides the workspace's), set by owners and
//! admins.
//!
//! A background task ([`App::start_retention`], every
//! `lifecycle.retention_period_secs`) deletes expired messages in batches of
//! `lifecycle.retention_batch`, each one workspace write under its lock, like a
//! deletion by their author: the text, files, reactions and mentions go, a
//! `message.deleted` event is logged, and the search index drops them through it.
//! The suggestion statistics of a workspace that lost messages are rebuilt from
//! the store. The record's husk (id, author, times, `seq`) stays, so that every
//! channel's `seq` stays gapless for resuming clients.
//!
//! Training reads through the consent gate, which skips deleted messages and, from
//! the [`crate::consent::StoreSource`], anything past a channel's cut-off even before
//! the task has deleted it; the manifest of each model records its workspace's
//! retention cut-off. The scheduled run retrains every model, so a model trained on
//! data that has since expired is rebuilt without it at the next run.

use std::collections::HashMap;

use confab_core::{ChannelId, Error, Millis, WorkspaceId};
use confab_store::{Direction, Op, Store};
use serde::{Deserialize, Serialize};

use super::erasure::SETTINGS;
use crate::error::Result;
use crate::{App, Caller, now_ms};

const WORKSPACE_KEY: &[u8] = b"retention";
/// Longest retention one can set: 100 years.
const MAX_DAYS: i64 = 36_500;
const DAY_MS: Millis = 86_400_000;

/// A retention policy: `days: null` keeps messages for ever.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    pub days: Option<u32>,
}

/// `PUT …/retention`: `{"days": N}` (1 to 36 500) or `{"days": null}`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRetention {
    pub days: Option<i64>,
}

/// A channel's retention: its own policy if it has one, and the policy in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ChannelRetention {
    /// The channel's own policy (`null`: for ever, or not set: see `set`).
    pub days: Option<u32>,
    /// Whether the channel has its own policy; if not, the workspace's applies.
    pub set: bool,
    /// The days in force for the channel, whichever policy sets them.
    pub effective_days: Option<u32>,
}

/// What one enforcement pass deleted.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RetentionReport {
    pub messages_deleted: usize,
    pub workspaces: usize,
}

fn channel_key(channel: ChannelId) -> Vec<u8> {
    let mut key = b"retention/".to_vec();
    key.extend_from_slice(&channel.to_bytes());
    key
}

impl SetRetention {
    fn validate(self) -> Result<RetentionPolicy> {
        match self.days {
            None => Ok(RetentionPolicy { days: None }),
            Some(days) if (1..=MAX_DAYS).contains(&days) => Ok(RetentionPolicy { days: Some(days as u32) }),
            Some(_) => {
                Err(Error::invalid_field("days", format!("must be null (for ever) or 1 to {MAX_DAYS}"))
                    .into())
            }
        }
    }
}

/// The moment before which messages have expired under `days`, at `now`.
fn cutoff(days: Option<u32>, now: Millis) -> Option<Millis> {
    days.map(|d| now.saturating_sub(Millis::from(d) * DAY_MS))
}

fn stored_policy(store: &dyn Store, ws: WorkspaceId, key: &[u8]) -> Result<Option<RetentionPolicy>> {
    match store.blob(ws, SETTINGS, key)? {
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        None => Ok(None),
    }
}

fn channel_policy(store: &dyn Store, ws: WorkspaceId, channel: ChannelId) -> Result<ChannelRetention> {
    let own = stored_policy(store, ws, &channel_key(channel))?;
    let effective = match own {
        Some(policy) => policy,
        None => stored_policy(store, ws, WORKSPACE_KEY)?.unwrap_or_default(),
    };
    Ok(ChannelRetention {
        days: own.and_then(|p| p.days),
        set: own.is_some(),
        effective_days: effective.days,
    })
}

/// The moment before which the channel's messages have expired at `now`, if its
/// retention is not for ever.
pub(crate) fn channel_cutoff(
    store: &dyn Store,
    ws: WorkspaceId,
    channel: ChannelId,
    now: Millis,
) -> Result<Option<Millis>> {
    Ok(cutoff(channel_policy(store, ws, channel)?.effective_days, now))
}

/// The workspace's own retention cut-off at `now` (recorded in manifests).
pub(crate) fn workspace_cutoff(store: &dyn Store, ws: WorkspaceId, now: Millis) -> Result<Option<Millis>> {
    Ok(cutoff(stored_policy(store, ws, WORKSPACE_KEY)?.unwrap_or_default().days, now))
}

impl App {
    /// The workspace's retention (any member reads it).
    pub fn workspace_retention(&self, caller: Caller, ws: WorkspaceId) -> Result<RetentionPolicy> {
        self.workspace(ws)?.read().require_member(caller.user)?;
        Ok(stored_policy(self.store().as_ref(), ws, WORKSPACE_KEY)?.unwrap_or_default())
    }

    /// Sets the workspace's retention (owners and admins).
    pub async fn set_workspace_retention(
        &self,
        caller: Caller,
        ws: WorkspaceId,
        req: SetRetention,
    ) -> Result<RetentionPolicy> {
        self.put_policy(caller, ws, None, req).await
    }

    /// The channel's retention (whoever may read the channel).
    pub fn channel_retention(&self, caller: Caller, channel: ChannelId) -> Result<ChannelRetention> {
        let ws = self.channel_workspace(channel)?;
        self.workspace(ws)?.read().readable_channel(caller.user, channel)?;
        channel_policy(self.store().as_ref(), ws, channel)
    }

    /// Sets the channel's own retention (owners and admins of its workspace).
    pub async fn set_channel_retention(
        &self,
        caller: Caller,
        channel: ChannelId,
        req: SetRetention,
    ) -> Result<ChannelRetention> {
        let ws = self.channel_workspace(channel)?;
        self.put_policy(caller, ws, Some(channel), req).await?;
        channel_policy(self.store().as_ref(), ws, channel)
    }

    /// Drops the channel's own retention: the workspace's applies to it again
    /// (owners and admins of its workspace).
    pub async fn clear_channel_retention(
        &self,
        caller: Caller,
        channel: ChannelId,
    ) -> Result<ChannelRetention> {
        let ws = self.channel_workspace(channel)?;
        let ((), durable) = self.write_as(caller, ws, |state, tx| {
            state.readable_channel(caller.user, channel)?;
            if !state.require_member(caller.user)?.is_admin() {
                return Err(Error::forbidden("only owners and admins set retention").into());
            }
            tx.op(Op::DeleteBlob { workspace: ws, namespace: SETTINGS, key: channel_key(channel) });
            Ok(())
        })?;
        durable.wait().await?;
        channel_policy(self.store().as_ref(), ws, channel)
    }

    async fn put_policy(
        &self,
        caller: Caller,
        ws: WorkspaceId,
        channel: Option<ChannelId>,
        req: SetRetention,
    ) -> Result<RetentionPolicy> {
        let policy = req.validate()?;
        let value = serde_json::to_vec(&policy)?;
        let ((), durable) = self.write_as(caller, ws, |state, tx| {
            let role = match channel {
                Some(channel) => {
                    state.readable_channel(caller.user, channel)?;
                    state.require_member(caller.user)?
                }
                None => state.require_member(caller.user)?,
            };
            if !role.is_admin() {
                return Err(Error::forbidden("only owners and admins set retention").into());
            }
            let key = channel.map_or_else(|| WORKSPACE_KEY.to_vec(), channel_key);
            tx.op(Op::PutBlob { workspace: ws, namespace: SETTINGS, key, value });
            Ok(())
        })?;
        durable.wait().await?;
        Ok(policy)
    }

    /// Runs [`App::enforce_retention`] every `lifecycle.retention_period_secs` (not
    /// if 0).
    pub(crate) fn start_retention(&self) {
        let secs = self.config().lifecycle.retention_period_secs;
        if secs == 0 {
            return;
        }
        let app = self.clone();
        tokio::spawn(async move {
            let period = std::time::Duration::from_secs(secs);
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                ticks.tick().await;
                match app.enforce_retention(now_ms()).await {
                    Ok(r) if r.messages_deleted > 0 => {
                        tracing::info!(messages = r.messages_deleted, "retention deleted expired messages")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "enforcing retention failed; retried next round"),
                }
            }
        });
    }

    /// Deletes every message that has expired at `now` under its channel's retention,
    /// in bounded batches, and rebuilds the suggestion statistics of each workspace
    /// that lost some.
    pub async fn enforce_retention(&self, now: Millis) -> Result<RetentionReport> {
        let batch = self.config().lifecycle.retention_batch.max(1);
        let mut report = RetentionReport::default();
        for ws in self.store().workspace_ids()? {
            let mut deleted_here = 0;
            for channel in self.store().channels(ws)? {
                let Some(cutoff) = channel_cutoff(self.store().as_ref(), ws, channel.id, now)? else {
                    continue;
                };
                deleted_here += self.expire_channel(ws, channel.id, cutoff, batch).await?;
            }
            if deleted_here > 0 {
                report.messages_deleted += deleted_here;
                report.workspaces += 1;
                self.rebuild_suggestions(ws).await?;
            }
        }
        Ok(report)
    }

    /// Deletes the channel's messages created before `cutoff`, oldest first, `batch`
    /// at a time. Messages are in `seq` order, which is time order, so the scan stops
    /// at the first one inside the retention; where it starts is remembered.
    async fn expire_channel(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        cutoff: Millis,
        batch: usize,
    ) -> Result<usize> {
        let mut deleted = 0;
        let mut after = self.inner.lifecycle.retention_cursors.lock().get(&channel).copied().unwrap_or(0);
        loop {
            let page = self.store().messages(channel, Direction::Forward { after }, batch)?;
            let expired: Vec<u64> =
                page.iter().take_while(|m| m.created_at < cutoff).map(|m| m.seq).collect();
            let done = expired.len() < page.len() || page.len() < batch;
            let live: Vec<u64> =
                page.iter().filter(|m| m.created_at < cutoff && !m.deleted).map(|m| m.seq).collect();
            let mut pending = live;
            while !pending.is_empty() {
                let ((n, unused, later), durable) = self.write(ws, |_, tx| {
                    let (mut n, mut unused, mut later) = (0, Vec::new(), Vec::new());
                    let mut files_staged = false;
                    for seq in std::mem::take(&mut pending) {
                        let Some(mut m) = self.store().message_at(channel, seq)? else { continue };
                        if m.deleted {
                            continue;
                        }
                        // Its files go with it, as when its author deletes it: one message
                        // with files per batch, as the file counts are read from the store.
                        if !m.files.is_empty() {
                            if files_staged {
                                later.push(seq);
                                continue;
                            }
                            files_staged = true;
                            unused.extend(self.stage_file_deletions(tx, &m)?);
                            m.files.clear();
                        }
                        crate::messages::stage_tombstone(self, tx, m)?;
                        n += 1;
                    }
                    Ok((n, unused, later))
                })?;
                durable.wait().await?;
                self.remove_contents(ws, unused)?;
                deleted += n;
                pending = later;
            }
            if let Some(&last) = expired.last() {
                after = last;
                self.inner.lifecycle.retention_cursors.lock().insert(channel, last);
            }
            if done {
                return Ok(deleted);
            }
            tokio::task::yield_now().await;
        }
    }
}

/// Per-channel scan positions of the retention task: below them everything has
/// expired and been deleted. In memory; a restart scans from the start once.
#[derive(Default)]
pub(crate) struct RetentionCursors(parking_lot::Mutex<HashMap<ChannelId, u64>>);

impl RetentionCursors {
    fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<ChannelId, u64>> {
        self.0.lock()
    }
}
