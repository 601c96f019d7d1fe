//! The live side of a WebSocket connection: registering with the hub, the `hello`,
//! replaying missed events from the log, typing and presence.
//!
//! A connection registers with the hub *before* reading how far each workspace's log
//! goes, so no event falls between the replay and the live stream; the connection
//! then drops live events at or below what it has already been sent.

use bytes::Bytes;
use confab_core::{ChannelId, Error, ErrorCode, Event, MessageId, Presence, UserId, WorkspaceId};
use serde::Serialize;

use crate::hub::{ConnId, Subscription, event_frame};
use crate::{App, Caller, internal};

/// Most events replayed for one workspace on resume; a client further behind than
/// this is told to resync.
const MAX_REPLAY: usize = 10_000;

#[derive(Clone, Debug, Serialize)]
pub struct HelloWorkspace {
    pub id: WorkspaceId,
    pub event_seq: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Hello {
    pub user: confab_core::User,
    pub workspaces: Vec<HelloWorkspace>,
}

/// What a resuming client gets for one workspace.
pub enum Replay {
    /// The frames it missed, oldest first.
    Events(Vec<Bytes>),
    /// It asked for events the log no longer keeps: refetch over HTTP.
    Resync,
}

impl App {
    /// Registers a new connection and says hello.
    pub fn connect(&self, caller: Caller) -> Result<(Hello, Subscription), Error> {
        let user = self.me(caller)?;
        let workspace_ids = self.store().workspaces_of(caller.user).map_err(internal)?;
        let (subscription, came_online) = self.hub().connect(caller.user, &workspace_ids);
        let mut workspaces = Vec::with_capacity(workspace_ids.len());
        for id in &workspace_ids {
            let state = self.workspace(*id)?;
            workspaces.push(HelloWorkspace { id: *id, event_seq: state.read().last_event_seq });
        }
        if came_online {
            self.broadcast_presence(caller.user, Presence::Online, &workspace_ids);
        }
        metrics::gauge!("confab_ws_connections").increment(1.0);
        Ok((Hello { user, workspaces }, subscription))
    }

    pub fn disconnect(&self, caller: Caller, conn: ConnId) {
        metrics::gauge!("confab_ws_connections").decrement(1.0);
        if let Some(presence) = self.hub().disconnect(caller.user, conn)
            && let Ok(workspaces) = self.store().workspaces_of(caller.user)
        {
            self.broadcast_presence(caller.user, presence, &workspaces);
        }
    }

    /// The events of `ws` after `after` up to `upto` that the caller may see.
    pub fn replay(&self, caller: Caller, ws: WorkspaceId, after: u64, upto: u64) -> Result<Replay, Error> {
        let state = self.workspace(ws)?;
        let first = {
            let state = state.read();
            state.require_member(caller.user)?;
            state.first_event_seq
        };
        if after >= upto {
            return Ok(Replay::Events(Vec::new()));
        }
        if (first > 0 && after + 1 < first) || upto - after > MAX_REPLAY as u64 {
            return Ok(Replay::Resync);
        }
        let records = self.store().events(ws, after, (upto - after) as usize).map_err(internal)?;
        let state = state.read();
        Ok(Replay::Events(
            records
                .iter()
                .filter(|r| r.event_seq <= upto && state.may_receive(caller.user, &r.event))
                .map(|r| event_frame(r, false))
                .collect(),
        ))
    }

    /// Tells the channel's other members the caller is typing.
    pub fn typing(
        &self,
        caller: Caller,
        channel: ChannelId,
        thread_root: Option<MessageId>,
    ) -> Result<(), Error> {
        let ws = self.channel_workspace(channel)?;
        {
            let state = self.workspace(ws)?;
            let state = state.read();
            let ch = state.readable_channel(caller.user, channel)?;
            if !ch.members.contains(&caller.user) {
                return Err(Error::new(ErrorCode::Forbidden, "join the channel first"));
            }
        }
        self.publish_ephemeral(ws, Event::Typing { channel, user: caller.user, thread_root });
        Ok(())
    }

    /// Marks one connection away or back; tells the workspaces if the user's presence
    /// changed.
    pub fn set_away(&self, caller: Caller, conn: ConnId, away: bool) {
        if let Some(presence) = self.hub().set_away(caller.user, conn, away)
            && let Ok(workspaces) = self.store().workspaces_of(caller.user)
        {
            self.broadcast_presence(caller.user, presence, &workspaces);
        }
    }

    /// The presence of each member of a workspace the caller is in.
    pub fn presences(&self, caller: Caller, ws: WorkspaceId) -> Result<Vec<(UserId, Presence)>, Error> {
        let state = self.workspace(ws)?;
        let state = state.read();
        state.require_member(caller.user)?;
        Ok(state.members.keys().map(|u| (*u, self.hub().presence(*u))).collect())
    }

    /// Tells the people a user has DMs with (and the user's own other connections)
    /// that their presence changed. Everyone else can ask
    /// `GET /workspaces/{ws}/presence` when they need it.
    fn broadcast_presence(&self, user: UserId, status: Presence, workspaces: &[WorkspaceId]) {
        for ws in workspaces {
            let Ok(state) = self.workspace(*ws) else { continue };
            let state = state.read();
            let mut audience: std::collections::HashSet<UserId> = state
                .channels
                .values()
                .filter(|c| c.kind == confab_core::ChannelKind::Dm && c.members.contains(&user))
                .flat_map(|c| c.members.iter().copied())
                .collect();
            audience.insert(user);
            let record = confab_core::EventRecord {
                workspace: *ws,
                event_seq: state.last_event_seq,
                at: crate::now_ms(),
                event: Event::Presence { user, status },
            };
            self.hub().publish_to_users(&record, &audience);
        }
    }
}
