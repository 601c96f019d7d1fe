//! The in-memory picture of each workspace that authorisation and fan-out consult on
//! every request and every event: who is a member with which role, which channels
//! exist, who is in each, and the next sequence numbers.
//!
//! A workspace is loaded from the store the first time it is touched and then kept
//! current by the write paths, which change it under the workspace's write lock in
//! the same step as they apply their batch. Counters are derived from the stored data
//! when loading, so a restart picks up exactly where durable data ends.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use confab_core::event::Audience;
use confab_core::{ChannelId, ChannelKind, Error, ErrorCode, Event, Role, UserId, WorkspaceId};
use confab_store::Store;
use parking_lot::RwLock;

use crate::error::{AppError, Result};

#[derive(Clone, Debug)]
pub struct ChannelState {
    pub name: String,
    pub kind: ChannelKind,
    pub archived: bool,
    pub members: HashSet<UserId>,
    /// `seq` of the newest message.
    pub last_seq: u64,
    /// Who created it (for the per-member channel quota).
    pub created_by: UserId,
}

#[derive(Debug)]
pub struct WorkspaceState {
    pub id: WorkspaceId,
    pub members: HashMap<UserId, Role>,
    pub channels: HashMap<ChannelId, ChannelState>,
    /// Each direct-message channel by its members (sorted): a DM is found by who is in
    /// it, never by a name, so no channel name can block or reveal one.
    pub dms: HashMap<Vec<UserId>, ChannelId>,
    /// The newest logged event.
    pub last_event_seq: u64,
    /// The oldest event still in the log (0 if the log is empty).
    pub first_event_seq: u64,
}

impl WorkspaceState {
    pub fn role(&self, user: UserId) -> Option<Role> {
        self.members.get(&user).copied()
    }

    /// The caller's role, or `workspace_not_found` for non-members: a workspace one
    /// is not in does not exist as far as one can tell.
    pub fn require_member(&self, user: UserId) -> Result<Role> {
        self.role(user)
            .ok_or_else(|| Error::new(ErrorCode::WorkspaceNotFound, "no such workspace"))
            .map_err(AppError::from)
    }

    /// Whether `user` may read `channel`: members of the channel always; for public
    /// channels, every non-guest member of the workspace.
    pub fn can_read(&self, user: UserId, channel: ChannelId) -> bool {
        let Some(role) = self.role(user) else { return false };
        let Some(ch) = self.channels.get(&channel) else { return false };
        ch.members.contains(&user) || (ch.kind == ChannelKind::Public && role != Role::Guest)
    }

    /// The caller's role, for a request that addressed a channel: non-members of the
    /// workspace learn only that the channel does not exist.
    pub fn member_via_channel(&self, user: UserId) -> Result<Role> {
        self.role(user)
            .ok_or_else(|| Error::new(ErrorCode::ChannelNotFound, "no such channel"))
            .map_err(AppError::from)
    }

    /// The channel if the caller may read it, else `channel_not_found` (never
    /// `forbidden`, which would confirm that a private channel exists).
    pub fn readable_channel(&self, user: UserId, channel: ChannelId) -> Result<&ChannelState> {
        if self.can_read(user, channel)
            && let Some(ch) = self.channels.get(&channel)
        {
            return Ok(ch);
        }
        Err(Error::new(ErrorCode::ChannelNotFound, "no such channel").into())
    }

    /// Whether a channel other than `except` (and other than a DM, whose name is not
    /// in the channel name space) already has `name`.
    pub fn channel_name_taken(&self, name: &str, except: Option<ChannelId>) -> bool {
        self.channels.iter().any(|(id, c)| Some(*id) != except && c.kind != ChannelKind::Dm && c.name == name)
    }

    pub fn readable_channels(&self, user: UserId) -> Vec<ChannelId> {
        self.channels.keys().copied().filter(|&c| self.can_read(user, c)).collect()
    }

    /// Everyone who may receive `event`, when that is some of one channel's members
    /// ([`WorkspaceState::may_receive`] still decides for each); `None` when the
    /// audience is wider or not a channel's.
    pub fn channel_recipients(&self, event: &Event) -> Option<&HashSet<UserId>> {
        match event {
            // Also those who may read the channel, or the member who left it.
            Event::ChannelCreated { .. } | Event::ChannelUpdated { .. } | Event::MemberLeft { .. } => None,
            _ => match event.audience() {
                Audience::Channel(channel) => self.channels.get(&channel).map(|c| &c.members),
                Audience::Workspace | Audience::User(_) => None,
            },
        }
    }

    /// Whether `user` receives `event` live or on replay. Channel events go to the
    /// channel's members (plus, for a public channel's creation or update, everyone who
    /// may read it); a member leaving a channel, or removed from the workspace, is
    /// told so themselves.
    pub fn may_receive(&self, user: UserId, event: &Event) -> bool {
        // A member removed from the workspace is told so, though no longer a member.
        if let Event::MemberLeft { channel: None, user: left } = event
            && *left == user
        {
            return true;
        }
        if !self.members.contains_key(&user) {
            return false;
        }
        match event.audience() {
            Audience::Workspace => true,
            Audience::User(u) => u == user,
            Audience::Channel(channel) => match event {
                Event::ChannelCreated { .. } | Event::ChannelUpdated { .. } => self.can_read(user, channel),
                Event::MemberLeft { user: left, .. } if *left == user => true,
                _ => self.channels.get(&channel).is_some_and(|c| c.members.contains(&user)),
            },
        }
    }
}

/// Every loaded workspace.
#[derive(Default)]
pub struct Directory {
    workspaces: RwLock<HashMap<WorkspaceId, Arc<RwLock<WorkspaceState>>>>,
    /// The workspace of each channel looked up so far (a channel never moves), so
    /// that a request naming a channel does not read and decode the channel record.
    channel_owners: RwLock<HashMap<ChannelId, WorkspaceId>>,
}

impl Directory {
    /// The workspace's state, loading it from the store on first use; `None` if the
    /// workspace does not exist.
    pub fn get(&self, store: &dyn Store, id: WorkspaceId) -> Result<Option<Arc<RwLock<WorkspaceState>>>> {
        if let Some(ws) = self.workspaces.read().get(&id) {
            return Ok(Some(ws.clone()));
        }
        let Some(state) = load(store, id)? else { return Ok(None) };
        let mut all = self.workspaces.write();
        Ok(Some(all.entry(id).or_insert_with(|| Arc::new(RwLock::new(state))).clone()))
    }

    /// The workspace's state if it is in memory, without loading it.
    pub fn loaded(&self, id: WorkspaceId) -> Option<Arc<RwLock<WorkspaceState>>> {
        self.workspaces.read().get(&id).cloned()
    }

    /// Like [`Directory::get`], answering `workspace_not_found` if it does not exist.
    pub fn require(&self, store: &dyn Store, id: WorkspaceId) -> Result<Arc<RwLock<WorkspaceState>>> {
        self.get(store, id)?
            .ok_or_else(|| Error::new(ErrorCode::WorkspaceNotFound, "no such workspace").into())
    }

    /// Registers a workspace created in memory and in the store at the same time.
    pub fn insert(&self, state: WorkspaceState) -> Arc<RwLock<WorkspaceState>> {
        let id = state.id;
        let state = Arc::new(RwLock::new(state));
        self.workspaces.write().insert(id, state.clone());
        state
    }

    /// The workspace `channel` belongs to; `None` if there is no such channel.
    pub fn channel_owner(&self, store: &dyn Store, channel: ChannelId) -> Result<Option<WorkspaceId>> {
        if let Some(ws) = self.channel_owners.read().get(&channel) {
            return Ok(Some(*ws));
        }
        let Some(record) = store.channel(channel)? else { return Ok(None) };
        self.channel_owners.write().insert(channel, record.workspace);
        Ok(Some(record.workspace))
    }
}

/// Reads a workspace's state from the store; `None` if it does not exist.
pub(crate) fn load(store: &dyn Store, id: WorkspaceId) -> Result<Option<WorkspaceState>> {
    if store.workspace(id)?.is_none() {
        return Ok(None);
    }
    let members = store.members(id)?.into_iter().map(|m| (m.user, m.role)).collect();
    let mut channels = HashMap::new();
    let mut dms = HashMap::new();
    for channel in store.channels(id)? {
        let members: HashSet<UserId> =
            store.channel_members(channel.id)?.into_iter().map(|(u, _)| u).collect();
        if channel.kind == ChannelKind::Dm {
            dms.insert(dm_key(&members), channel.id);
        }
        let last_seq = store.last_seq(channel.id)?;
        channels.insert(
            channel.id,
            ChannelState {
                name: channel.name,
                kind: channel.kind,
                archived: channel.archived,
                members,
                last_seq,
                created_by: channel.created_by,
            },
        );
    }
    let (first_event_seq, last_event_seq) = store.event_bounds(id)?.unwrap_or((0, 0));
    Ok(Some(WorkspaceState { id, members, channels, dms, last_event_seq, first_event_seq }))
}

/// The key of a DM in [`WorkspaceState::dms`]: its members, sorted.
pub fn dm_key<'a>(members: impl IntoIterator<Item = &'a UserId>) -> Vec<UserId> {
    let mut key: Vec<UserId> = members.into_iter().copied().collect();
    key.sort();
    key.dedup();
    key
}
