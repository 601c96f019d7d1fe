//! The live side of a WebSocket connection: registering with the hub, the `hello`,
//! replaying missed events from the log, typing and presence (and across the nodes
//! of a cluster: [`crate::relay`]).
//!
//! A connection registers with the hub *before* reading how far each workspace's log
//! goes, so no event falls between the replay and the live stream; the connection
//! then drops live events at or below what it has already been sent.
//!
//! A replay is read from the log a page at a time ([`ReplayCursor`]), so a resuming
//! connection holds one page of frames, not everything it missed; the caller decides
//! how many bytes it is willing to send and answers `resync` past that.

use bytes::Bytes;
use confab_core::{ChannelId, Error, ErrorCode, Event, MessageId, Presence, UserId, WorkspaceId};
use serde::Serialize;

use crate::error::Result;
use crate::hub::{ConnId, Subscription, event_frame};
use crate::{App, Caller, SessionGrant};

/// Most events replayed for one workspace on resume; a client further behind than
/// this is told to resync.
const MAX_REPLAY: usize = 10_000;

pub use confab_protocol::ws::HelloWorkspace;

#[derive(Clone, Debug, Serialize)]
pub struct Hello {
    pub user: confab_core::User,
    pub workspaces: Vec<HelloWorkspace>,
}

/// Events read from the log per page of a replay.
const REPLAY_PAGE: usize = 64;

/// What a resuming client gets for one workspace.
pub enum Replay {
    /// The events it missed, read page by page with [`App::replay_page`].
    Events(ReplayCursor),
    /// It asked for events the log no longer keeps: refetch over HTTP.
    Resync,
}

/// Where a replay of one workspace has got to: the next page starts after `after`
/// and the replay ends at `upto` (the workspace's `event_seq` in the `hello`).
#[derive(Clone, Copy, Debug)]
pub struct ReplayCursor {
    caller: Caller,
    workspace: WorkspaceId,
    after: u64,
    upto: u64,
}

impl ReplayCursor {
    /// Whether every event up to `upto` has been read.
    pub fn is_done(&self) -> bool {
        self.after >= self.upto
    }

    pub fn workspace(&self) -> WorkspaceId {
        self.workspace
    }
}

impl App {
    /// Registers a new connection of a session and says hello.
    pub fn connect(&self, session: &SessionGrant) -> Result<(Hello, Subscription)> {
        let caller = session.caller;
        let user = self.me(caller)?;
        let workspace_ids = self.store().workspaces_of(caller.user)?;
        let (subscription, came_online) = self.hub().connect(caller.user, session.token_hash, &workspace_ids);
        // A sign-out that landed between authenticating and registering found no
        // connection to close: check again now that the hub knows this one.
        if self.store().session(&session.token_hash)?.is_none() {
            subscription.revoked.notify_one();
        }
        let mut workspaces = Vec::with_capacity(workspace_ids.len());
        for id in &workspace_ids {
            let state = self.workspace(*id)?;
            workspaces.push(HelloWorkspace { id: *id, event_seq: state.read().last_event_seq });
        }
        if came_online {
            self.local_presence_changed(caller.user, Presence::Offline, Presence::Online, &workspace_ids);
        }
        metrics::gauge!("confab_ws_connections").increment(1.0);
        Ok((Hello { user, workspaces }, subscription))
    }

    pub fn disconnect(&self, caller: Caller, conn: ConnId) {
        metrics::gauge!("confab_ws_connections").decrement(1.0);
        if let Some((before, after)) = self.hub().disconnect(caller.user, conn)
            && let Ok(workspaces) = self.store().workspaces_of(caller.user)
        {
            self.local_presence_changed(caller.user, before, after, &workspaces);
        }
    }

    /// Starts replaying the events of `ws` after `after` up to `upto` that the caller
    /// may see, or answers `Resync` if the log no longer holds them (or they are more
    /// than a replay serves). Nothing is read yet: see [`App::replay_page`].
    pub fn replay(&self, caller: Caller, ws: WorkspaceId, after: u64, upto: u64) -> Result<Replay> {
        let state = self.workspace(ws)?;
        let first = {
            let state = state.read();
            state.require_member(caller.user)?;
            state.first_event_seq
        };
        // In a cluster, the node sequencing the workspace prunes its log: this node's
        // memory of where the log starts may be behind.
        let first = match self.in_cluster() {
            true => self.store().event_bounds(ws)?.map_or(first, |(first, _)| first),
            false => first,
        };
        let cursor = ReplayCursor { caller, workspace: ws, after: after.min(upto), upto };
        if after >= upto {
            return Ok(Replay::Events(cursor));
        }
        if (first > 0 && after + 1 < first) || upto - after > MAX_REPLAY as u64 {
            return Ok(Replay::Resync);
        }
        Ok(Replay::Events(cursor))
    }

    /// The next page of a replay: the frames of up to a page of events the caller may
    /// see, oldest first, advancing the cursor. An empty page with the cursor not
    /// done cannot happen: the cursor then jumps to `upto`.
    pub fn replay_page(&self, cursor: &mut ReplayCursor) -> Result<Vec<Bytes>> {
        if cursor.is_done() {
            return Ok(Vec::new());
        }
        let want = (cursor.upto - cursor.after).min(REPLAY_PAGE as u64) as usize;
        let records = self.store().events(cursor.workspace, cursor.after, want)?;
        let state = self.workspace(cursor.workspace)?;
        let state = state.read();
        // A member removed meanwhile gets nothing more.
        state.require_member(cursor.caller.user)?;
        cursor.after = match records.last() {
            Some(last) if records.len() == want => last.event_seq.min(cursor.upto),
            // The log ends before `upto` (or holds a gap): nothing more to read.
            _ => cursor.upto,
        };
        Ok(records
            .iter()
            .filter(|r| r.event_seq <= cursor.upto && state.may_receive(cursor.caller.user, &r.event))
            .map(|r| event_frame(r, false))
            .collect())
    }

    /// Tells the channel's other members the caller is typing.
    pub fn typing(&self, caller: Caller, channel: ChannelId, thread_root: Option<MessageId>) -> Result<()> {
        let ws = self.channel_workspace(channel)?;
        {
            let state = self.workspace(ws)?;
            let state = state.read();
            let ch = state.readable_channel(caller.user, channel)?;
            if !ch.members.contains(&caller.user) {
                return Err(Error::new(ErrorCode::Forbidden, "join the channel first").into());
            }
        }
        self.publish_ephemeral(ws, Event::Typing { channel, user: caller.user, thread_root });
        self.relay_typing(ws, channel, caller.user, thread_root);
        Ok(())
    }

    /// Marks one connection away or back; tells the workspaces if the user's presence
    /// changed.
    pub fn set_away(&self, caller: Caller, conn: ConnId, away: bool) {
        if let Some((before, after)) = self.hub().set_away(caller.user, conn, away)
            && let Ok(workspaces) = self.store().workspaces_of(caller.user)
        {
            self.local_presence_changed(caller.user, before, after, &workspaces);
        }
    }

    /// The presence of each member of a workspace the caller is in.
    pub fn presences(&self, caller: Caller, ws: WorkspaceId) -> Result<Vec<(UserId, Presence)>> {
        let state = self.workspace(ws)?;
        let state = state.read();
        state.require_member(caller.user)?;
        Ok(state.members.keys().map(|u| (*u, self.presence_of(*u))).collect())
    }
}
