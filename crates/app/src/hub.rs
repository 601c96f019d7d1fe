//! The fan-out hub: delivers each event to every live connection allowed to see it.
//!
//! Each connection has a bounded queue. Publishing never waits: an event is serialised
//! once into a shared frame, and each receiver's queue gets a cheap clone of it. A
//! connection whose queue is full is marked lagging and its owner closes it with the
//! resume close code, so one stuck client never slows the others. No lock is held
//! across an await: publishing is synchronous and takes only read locks.
//!
//! The hub also derives presence from connections: a user is online while any of
//! their connections is active, away when all of them report away, offline when none
//! is left.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use confab_core::{EventRecord, Presence, UserId, WorkspaceId};
use confab_protocol::ws::encode_event;
use parking_lot::RwLock;
use tokio::sync::{Notify, mpsc};

use crate::directory::WorkspaceState;

pub type ConnId = u64;

/// A frame queued for a connection.
#[derive(Clone, Debug)]
pub struct Outbound {
    pub workspace: WorkspaceId,
    /// The event's `event_seq`; for ephemeral events, the workspace's newest logged
    /// seq at the time (they do not advance it).
    pub event_seq: u64,
    pub ephemeral: bool,
    /// The serialised `{"type":"event",...}` frame, shared by all receivers.
    pub frame: Bytes,
}

/// The receiving end a connection reads its events from.
pub struct Subscription {
    pub id: ConnId,
    pub events: mpsc::Receiver<Arc<Outbound>>,
    /// Fires once the connection has fallen too far behind and must be closed.
    pub lagged: Arc<Notify>,
    /// Fires once the session the connection authenticated with has ended (signed
    /// out, signed out everywhere, password changed): the connection must close.
    pub revoked: Arc<Notify>,
}

/// SHA-256 of a session token: how the hub knows which session a connection uses.
pub type SessionHash = [u8; 32];

/// One connection, as both of the hub's indexes hold it: behind one `Arc`, so that
/// an idle connection costs one allocation here and an 8-byte slot in each index.
struct Subscriber {
    user: UserId,
    session: SessionHash,
    revoked: Arc<Notify>,
    /// Frames are queued behind an `Arc`: a queue allocates its slots 32 at a time
    /// up front, so a small slot keeps an idle connection small.
    tx: mpsc::Sender<Arc<Outbound>>,
    lagging: AtomicBool,
    lagged: Arc<Notify>,
    away: AtomicBool,
}

/// A user's connections, each with the workspaces whose events it receives.
type UserConnections = HashMap<ConnId, (Arc<Subscriber>, Vec<WorkspaceId>)>;

#[derive(Default)]
struct HubInner {
    by_workspace: HashMap<WorkspaceId, HashMap<ConnId, Arc<Subscriber>>>,
    by_user: HashMap<UserId, UserConnections>,
}

pub struct Hub {
    inner: RwLock<HubInner>,
    next_id: AtomicU64,
    queue_frames: usize,
}

/// Serialises an event as the frame every receiver gets (`ServerFrame::Event` of
/// `confab_protocol::ws`).
pub fn event_frame(record: &EventRecord, ephemeral: bool) -> Bytes {
    let frame = encode_event(record.workspace, record.event_seq, ephemeral, &record.event);
    Bytes::from(frame.unwrap_or_default())
}

impl Hub {
    pub fn new(queue_frames: usize) -> Self {
        Hub { inner: RwLock::default(), next_id: AtomicU64::new(1), queue_frames: queue_frames.max(1) }
    }

    /// Registers a connection of `user` receiving the events of `workspaces`.
    /// Returns the subscription and whether the user just came online.
    pub fn connect(
        &self,
        user: UserId,
        session: SessionHash,
        workspaces: &[WorkspaceId],
    ) -> (Subscription, bool) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.queue_frames);
        let lagged = Arc::new(Notify::new());
        let revoked = Arc::new(Notify::new());
        let sub = Arc::new(Subscriber {
            user,
            session,
            revoked: revoked.clone(),
            tx,
            lagging: AtomicBool::new(false),
            lagged: lagged.clone(),
            away: AtomicBool::new(false),
        });
        let mut inner = self.inner.write();
        for ws in workspaces {
            inner.by_workspace.entry(*ws).or_default().insert(id, sub.clone());
        }
        let conns = inner.by_user.entry(user).or_default();
        let came_online = conns.is_empty();
        conns.insert(id, (sub, workspaces.to_vec()));
        (Subscription { id, events: rx, lagged, revoked }, came_online)
    }

    /// Tells every connection of `user` whose session `ended` says has ended to
    /// close. Returns how many were told.
    pub fn revoke_sessions(&self, user: UserId, ended: impl Fn(&SessionHash) -> bool) -> usize {
        let inner = self.inner.read();
        let Some(conns) = inner.by_user.get(&user) else { return 0 };
        let mut told = 0;
        for (sub, _) in conns.values() {
            if ended(&sub.session) {
                // notify_one keeps the signal for a connection not yet waiting on it.
                sub.revoked.notify_one();
                told += 1;
            }
        }
        told
    }

    /// Removes a connection. Returns the user's presence before and after if it
    /// changed (offline, or away when the connections left are all away).
    pub fn disconnect(&self, user: UserId, id: ConnId) -> Option<(Presence, Presence)> {
        let mut inner = self.inner.write();
        let conns = inner.by_user.get_mut(&user)?;
        let before = presence_of(conns.values().map(|(s, _)| s));
        let (_, workspaces) = conns.remove(&id)?;
        let after = presence_of(conns.values().map(|(s, _)| s));
        if conns.is_empty() {
            inner.by_user.remove(&user);
        }
        for ws in workspaces {
            if let Some(subs) = inner.by_workspace.get_mut(&ws) {
                subs.remove(&id);
                if subs.is_empty() {
                    inner.by_workspace.remove(&ws);
                }
            }
        }
        (before != after).then_some((before, after))
    }

    /// Starts delivering a workspace's events to every connection of a user who just
    /// joined it.
    pub fn add_workspace(&self, user: UserId, ws: WorkspaceId) {
        let mut inner = self.inner.write();
        let HubInner { by_workspace, by_user } = &mut *inner;
        if let Some(conns) = by_user.get_mut(&user) {
            for (id, (sub, workspaces)) in conns.iter_mut() {
                if !workspaces.contains(&ws) {
                    workspaces.push(ws);
                    by_workspace.entry(ws).or_default().insert(*id, sub.clone());
                }
            }
        }
    }

    /// Stops delivering a workspace's events to a user who left it.
    pub fn remove_workspace(&self, user: UserId, ws: WorkspaceId) {
        let mut inner = self.inner.write();
        let HubInner { by_workspace, by_user } = &mut *inner;
        if let Some(conns) = by_user.get_mut(&user) {
            for (id, (_, workspaces)) in conns.iter_mut() {
                workspaces.retain(|w| *w != ws);
                if let Some(subs) = by_workspace.get_mut(&ws) {
                    subs.remove(id);
                }
            }
        }
    }

    /// Marks one connection away or active; returns the user's presence before and
    /// after if it changed.
    pub fn set_away(&self, user: UserId, id: ConnId, away: bool) -> Option<(Presence, Presence)> {
        let inner = self.inner.read();
        let conns = inner.by_user.get(&user)?;
        let before = presence_of(conns.values().map(|(s, _)| s));
        conns.get(&id)?.0.away.store(away, Ordering::Relaxed);
        let after = presence_of(conns.values().map(|(s, _)| s));
        (before != after).then_some((before, after))
    }

    /// Every user connected to this node: their presence here and the workspaces
    /// their connections receive.
    pub fn local_presences(&self) -> Vec<(UserId, Presence, Vec<WorkspaceId>)> {
        let inner = self.inner.read();
        inner
            .by_user
            .iter()
            .map(|(user, conns)| {
                let mut workspaces: Vec<WorkspaceId> =
                    conns.values().flat_map(|(_, ws)| ws.iter().copied()).collect();
                workspaces.sort_unstable();
                workspaces.dedup();
                (*user, presence_of(conns.values().map(|(s, _)| s)), workspaces)
            })
            .collect()
    }

    pub fn presence(&self, user: UserId) -> Presence {
        let inner = self.inner.read();
        inner.by_user.get(&user).map_or(Presence::Offline, |c| presence_of(c.values().map(|(s, _)| s)))
    }

    /// How many connections are open.
    pub fn connection_count(&self) -> usize {
        self.inner.read().by_user.values().map(HashMap::len).sum()
    }

    /// Delivers an ephemeral event only to the connections of `users` that receive
    /// this workspace's events (presence goes to the people one has DMs with, not to
    /// the whole workspace: telling N members about N arrivals would be N² frames).
    pub fn publish_to_users(&self, record: &EventRecord, users: &std::collections::HashSet<UserId>) {
        let inner = self.inner.read();
        let Some(subs) = inner.by_workspace.get(&record.workspace) else { return };
        let frame = outbound(record, true);
        for sub in inner.connections_of(subs, users) {
            if !sub.lagging.load(Ordering::Relaxed) {
                sub.offer(frame.clone());
            }
        }
    }

    /// Delivers an event to every connection of its workspace whose user may receive
    /// it. `state` is the workspace's current directory entry.
    ///
    /// An event for one channel's members visits those members' connections, not every
    /// connection of the workspace: in a 1,000-member workspace a message in a channel of
    /// 200 was 1,000 checks, on the flusher's thread, ahead of every later delivery.
    pub fn publish(&self, state: &WorkspaceState, record: &EventRecord, ephemeral: bool) {
        let inner = self.inner.read();
        let Some(subs) = inner.by_workspace.get(&record.workspace) else { return };
        let mut frame: Option<Arc<Outbound>> = None;
        let deliver = |sub: &Arc<Subscriber>| {
            if !sub.lagging.load(Ordering::Relaxed) && state.may_receive(sub.user, &record.event) {
                sub.offer(frame.get_or_insert_with(|| outbound(record, ephemeral)).clone());
            }
        };
        match state.channel_recipients(&record.event) {
            Some(members) if members.len() < subs.len() => {
                inner.connections_of(subs, members).for_each(deliver)
            }
            _ => subs.values().for_each(deliver),
        }
    }
}

impl HubInner {
    /// The connections of `users` among `subs`, the connections that receive one
    /// workspace's events.
    fn connections_of<'a>(
        &'a self,
        subs: &'a HashMap<ConnId, Arc<Subscriber>>,
        users: impl IntoIterator<Item = &'a UserId> + 'a,
    ) -> impl Iterator<Item = &'a Arc<Subscriber>> + 'a {
        users
            .into_iter()
            .filter_map(|user| self.by_user.get(user))
            .flat_map(|conns| conns.keys())
            .filter_map(|id| subs.get(id))
    }
}

impl Subscriber {
    /// Queues a frame; a full (or closing) queue marks the connection lagging: it
    /// must resume from the log.
    fn offer(&self, frame: Arc<Outbound>) {
        if self.tx.try_send(frame).is_err() {
            self.lagging.store(true, Ordering::Relaxed);
            self.lagged.notify_one();
            metrics::counter!("confab_ws_lagged_total").increment(1);
        }
    }
}

/// An event's frame, shared by every connection it goes to.
fn outbound(record: &EventRecord, ephemeral: bool) -> Arc<Outbound> {
    Arc::new(Outbound {
        workspace: record.workspace,
        event_seq: record.event_seq,
        ephemeral,
        frame: event_frame(record, ephemeral),
    })
}

fn presence_of<'a>(mut conns: impl Iterator<Item = &'a Arc<Subscriber>>) -> Presence {
    let mut any = false;
    let all_away = conns.all(|s| {
        any = true;
        s.away.load(Ordering::Relaxed)
    });
    match (any, all_away) {
        (false, _) => Presence::Offline,
        (true, true) => Presence::Away,
        (true, false) => Presence::Online,
    }
}
