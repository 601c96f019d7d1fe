//! Typing and presence across the nodes of a cluster (docs/cluster.md).
//!
//! Neither is in the event log: they are not ordered by `event_seq`, never replayed
//! on resume, and a lost one is not read back. A node hands what its own connections
//! say ([`Ephemeral`]) to the server's relay task ([`App::relay_ephemeral`]), which
//! publishes it on the bus; every other node delivers it to its own connections
//! under the same rules as on one node ([`App::deliver_ephemeral_from_peer`]): a
//! typing indicator to the channel's members, as this node knows them; a presence
//! change to the user's DM partners in the workspaces this node knows them to be a
//! member of, and to the user's own connections.
//!
//! **Presence is a union.** Each node knows the presence its own connections give a
//! user (the hub), and what every other node last said of theirs. A user is online
//! if any node says so, away if every node that has them says away, offline if none
//! has them. A change is announced to clients only when the union changes, so a user
//! moving from one node to another does not flicker offline. Each node publishes the
//! presence of its own connections, never the union (which would echo forever).
//!
//! **What another node said expires.** A node that stops (killed, or cut off from
//! the bus) stops saying it is alive ([`Ephemeral::Alive`], every few seconds): once
//! it has been silent for the server's limit, everything it said is forgotten
//! ([`App::forget_silent_peers`]), and its users turn offline unless another node
//! has them. Nodes are named with a per-process suffix, so a restarted node is a
//! new one. When a node hears one it does not know (new, or back after a silence),
//! it publishes the presence of all its own connections once
//! ([`App::local_presences`]), so that the newcomer (which knows nothing yet) and
//! everyone else agree again.
//!
//! Bounds: the queue to the relay task is bounded and never waited on (a full one
//! drops, counted in `confab_cluster_ephemeral_dropped_total`), the server caps
//! what it relays per second, and what is kept per other node is one entry per user
//! connected there.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use confab_core::{ChannelId, ChannelKind, Event, EventRecord, MessageId, Presence, UserId, WorkspaceId};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::App;
use crate::hub::SessionHash;

/// What one node tells the others that is not in the event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ephemeral {
    /// A member is typing in a channel (the node it is connected to checked that
    /// they are a member).
    Typing { workspace: WorkspaceId, channel: ChannelId, user: UserId, thread_root: Option<MessageId> },
    /// `user`'s presence as the sending node's own connections give it, and the
    /// workspaces they are a member of.
    Presence { user: UserId, status: Presence, workspaces: Vec<WorkspaceId> },
    /// The sending node is alive (sent every few seconds).
    Alive,
    /// Sessions of `user` ended (signed out, signed out everywhere, password changed
    /// or reset, account disabled or erased): every node closes their connections.
    /// The word may be lost; each node also checks its connections' sessions in the
    /// store at every ping (`ws.rs`), which bounds a loss to a ping interval.
    SessionsEnded { user: UserId, sessions: Vec<SessionHash> },
    /// A log-in failed or succeeded on the sending node: every node counts it in its
    /// throttles as its own (`auth.rs`), so that spreading guesses over the nodes
    /// buys no more of them. `account` is the throttles' key (a hash of the email).
    LogIn { account: [u8; 16], addr: Option<std::net::IpAddr>, ok: bool },
}

/// What the relay remembers of other nodes; empty on a single node.
#[derive(Default)]
pub(crate) struct Relay {
    outbox: OnceLock<mpsc::Sender<Ephemeral>>,
    peers: Mutex<HashMap<String, Peer>>,
}

/// One other node: when it was last heard, and the presence it gave its users.
struct Peer {
    heard: Instant,
    users: HashMap<UserId, (Presence, Vec<WorkspaceId>)>,
}

/// The union of two nodes' presence for one user.
fn union(a: Presence, b: Presence) -> Presence {
    match (a, b) {
        (Presence::Online, _) | (_, Presence::Online) => Presence::Online,
        (Presence::Away, _) | (_, Presence::Away) => Presence::Away,
        _ => Presence::Offline,
    }
}

impl Relay {
    /// What the other nodes say of `user`, united.
    fn peers_presence(&self, user: UserId) -> Presence {
        let peers = self.peers.lock();
        peers
            .values()
            .filter_map(|p| p.users.get(&user).map(|(status, _)| *status))
            .fold(Presence::Offline, union)
    }
}

impl App {
    /// Makes this node relay its typing and presence to the others: the returned
    /// channel (of at most `capacity` messages, never waited on) yields what to
    /// publish. Call once, when joining a cluster with a bus.
    pub fn relay_ephemeral(&self, capacity: usize) -> mpsc::Receiver<Ephemeral> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let _ = self.relay().outbox.set(tx);
        rx
    }

    fn relay(&self) -> &Relay {
        &self.inner.cluster.relay
    }

    /// Hands `message` to the relay task, if this node has one; drops it when the
    /// queue is full (a slow bus never holds up a connection).
    fn relay_out(&self, message: Ephemeral) {
        let Some(outbox) = self.relay().outbox.get() else { return };
        if outbox.try_send(message).is_err() {
            metrics::counter!("confab_cluster_ephemeral_dropped_total", "reason" => "queue_full")
                .increment(1);
        }
    }

    /// A user's presence across the cluster: what this node's connections say, united
    /// with what the other nodes say.
    pub(crate) fn presence_of(&self, user: UserId) -> Presence {
        union(self.hub().presence(user), self.relay().peers_presence(user))
    }

    /// This node's connections changed `user`'s presence from `before` to `after`:
    /// tells the clients if the union changed, and the other nodes in any case.
    pub(crate) fn local_presence_changed(
        &self,
        user: UserId,
        before: Presence,
        after: Presence,
        workspaces: &[WorkspaceId],
    ) {
        let elsewhere = self.relay().peers_presence(user);
        let now = union(after, elsewhere);
        if union(before, elsewhere) != now {
            self.broadcast_presence(user, now, workspaces, false);
        }
        self.relay_out(Ephemeral::Presence { user, status: after, workspaces: workspaces.to_vec() });
    }

    /// This node's connection says `user` is typing in `channel`: tells the others.
    pub(crate) fn relay_typing(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        user: UserId,
        thread_root: Option<MessageId>,
    ) {
        self.relay_out(Ephemeral::Typing { workspace, channel, user, thread_root });
    }

    /// Sessions of `user` ended here: tells the other nodes, which close their
    /// connections.
    pub(crate) fn relay_sessions_ended(&self, user: UserId, sessions: Vec<SessionHash>) {
        if !sessions.is_empty() {
            self.relay_out(Ephemeral::SessionsEnded { user, sessions });
        }
    }

    /// A log-in's outcome here, for the other nodes' throttles.
    pub(crate) fn relay_log_in(&self, account: [u8; 16], addr: Option<std::net::IpAddr>, ok: bool) {
        self.relay_out(Ephemeral::LogIn { account, addr, ok });
    }

    /// Delivers what node `from` said to this node's connections (see the module
    /// doc). Returns true when `from` is a node this one did not know: the caller then
    /// publishes [`App::local_presences`], so that they agree again.
    pub fn deliver_ephemeral_from_peer(&self, from: &str, message: Ephemeral) -> bool {
        let new_peer = {
            let mut peers = self.relay().peers.lock();
            match peers.get_mut(from) {
                Some(peer) => {
                    peer.heard = Instant::now();
                    false
                }
                None => {
                    let peer = Peer { heard: Instant::now(), users: HashMap::new() };
                    peers.insert(from.to_string(), peer);
                    true
                }
            }
        };
        match message {
            Ephemeral::Alive => {}
            Ephemeral::SessionsEnded { user, sessions } => {
                self.hub().revoke_sessions(user, |s| sessions.contains(s));
            }
            Ephemeral::LogIn { account, addr, ok } => self.inner.auth.count_log_in(account, addr, ok),
            Ephemeral::Typing { workspace, channel, user, thread_root } => {
                let Some(state) = self.inner.directory.loaded(workspace) else { return new_peer };
                let state = state.read();
                // Only a member of the channel, as this node knows it, is shown typing.
                if !state.channels.get(&channel).is_some_and(|c| c.members.contains(&user)) {
                    return new_peer;
                }
                let record = EventRecord {
                    workspace,
                    event_seq: state.last_event_seq,
                    at: crate::now_ms(),
                    event: Event::Typing { channel, user, thread_root },
                };
                self.hub().publish(&state, &record, true);
            }
            Ephemeral::Presence { user, status, workspaces } => {
                let before = self.presence_of(user);
                {
                    let mut peers = self.relay().peers.lock();
                    if let Some(peer) = peers.get_mut(from) {
                        match status {
                            Presence::Offline => peer.users.remove(&user),
                            _ => peer.users.insert(user, (status, workspaces.clone())),
                        };
                    }
                }
                let after = self.presence_of(user);
                if before != after {
                    self.broadcast_presence(user, after, &workspaces, true);
                }
            }
        }
        new_peer
    }

    /// Forgets what the nodes silent for longer than `silence` said: their users turn
    /// offline (and the clients are told) unless another node has them.
    pub fn forget_silent_peers(&self, silence: Duration) {
        let gone: Vec<Peer> = {
            let mut peers = self.relay().peers.lock();
            let silent: Vec<String> =
                peers.iter().filter(|(_, p)| p.heard.elapsed() > silence).map(|(n, _)| n.clone()).collect();
            silent.iter().filter_map(|name| peers.remove(name)).collect()
        };
        for peer in gone {
            for (user, (status, workspaces)) in peer.users {
                let now = self.presence_of(user);
                if union(status, now) != now {
                    self.broadcast_presence(user, now, &workspaces, true);
                }
            }
        }
    }

    /// The presence this node's own connections give each user connected here (all
    /// of it, for a node that just appeared).
    pub fn local_presences(&self) -> Vec<Ephemeral> {
        self.hub()
            .local_presences()
            .into_iter()
            .map(|(user, status, workspaces)| Ephemeral::Presence { user, status, workspaces })
            .collect()
    }

    /// Tells the people a user has DMs with (and the user's own connections) that
    /// their presence is now `status`, in each workspace of `workspaces` they are a
    /// member of. Everyone else can ask `GET /workspaces/{ws}/presence` when they
    /// need it. `loaded_only`: skip workspaces this node does not hold in memory (no
    /// connection of it receives them), as for what another node said.
    pub(crate) fn broadcast_presence(
        &self,
        user: UserId,
        status: Presence,
        workspaces: &[WorkspaceId],
        loaded_only: bool,
    ) {
        for ws in workspaces {
            let state = match loaded_only {
                true => self.inner.directory.loaded(*ws),
                false => self.workspace(*ws).ok(),
            };
            let Some(state) = state else { continue };
            let state = state.read();
            if !state.members.contains_key(&user) {
                continue;
            }
            let mut audience: HashSet<UserId> = state
                .channels
                .values()
                .filter(|c| c.kind == ChannelKind::Dm && c.members.contains(&user))
                .flat_map(|c| c.members.iter().copied())
                .collect();
            audience.insert(user);
            let record = EventRecord {
                workspace: *ws,
                event_seq: state.last_event_seq,
                at: crate::now_ms(),
                event: Event::Presence { user, status },
            };
            self.hub().publish_to_users(&record, &audience);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_is_the_union_of_the_nodes() {
        use Presence::*;
        for (a, b, both) in [
            (Offline, Offline, Offline),
            (Offline, Away, Away),
            (Away, Away, Away),
            (Away, Online, Online),
            (Offline, Online, Online),
        ] {
            assert_eq!(union(a, b), both);
            assert_eq!(union(b, a), both);
        }
    }
}
