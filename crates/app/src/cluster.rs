//! What the app does as one node of a cluster (docs/cluster.md): several nodes share
//! one store, and each workspace is sequenced by the node holding its write lease.
//!
//! The app knows neither the bus nor how leases are kept: the server gives it
//! [`WriteLeases`] (the store's leases) and a [`Forwarder`] (the bus), and takes the
//! durable events the committer hands out for the other nodes
//! ([`App::join_cluster`]). A single node (sled, or PostgreSQL without a bus) never
//! calls it: the hooks stay empty, and the write path's only extra work is one
//! check of an empty `OnceLock`.
//!
//! * **Writes.** Before a write builds its batch, under the workspace's write lock,
//!   the node makes sure it holds the workspace's lease ([`App::write`]): held, it
//!   goes on; just taken, it first reloads the workspace from the store (another
//!   node may have written since this node last sequenced it) and hands its own
//!   connections the events they missed; held elsewhere, the write answers
//!   `unavailable` (the server forwards such writes before they get here).
//! * **Events of other nodes** ([`App::deliver_from_peer`]): the server's bus task
//!   passes them in `event_seq` order, each once. They update this node's copy of
//!   the workspace (counters; members and channels are reloaded from the store when
//!   an event changes them), go to this node's connections through the hub, and to
//!   its search index and suggestions. A `consent.changed` among them retires the
//!   models it lapsed in this node's registry, as on the node that sequenced it
//!   (serving had already stopped using them, and would have asked for the sweep
//!   itself: `models.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::Poll;

use confab_core::{ChannelId, Error, ErrorCode, Event, EventRecord, Message, WorkspaceId};
use confab_store::StoreError;
use tokio::sync::mpsc;

use crate::directory::{self, WorkspaceState};
use crate::error::{AppError, Result};
use crate::{App, Caller, PostMessage};

/// Where a workspace's write lease is, as [`WriteLeases::take`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lease {
    /// This node held it already.
    Held,
    /// This node has just taken it: its memory of the workspace may be stale.
    Taken,
    /// Another node holds it.
    Elsewhere,
}

/// The store's write leases, one per workspace (see `confab_store_postgres::lease`).
pub trait WriteLeases: Send + Sync {
    /// Whether this node holds `workspace`'s lease now, without a round trip.
    fn holds(&self, workspace: WorkspaceId) -> bool;
    /// Takes `workspace`'s lease unless another node holds it.
    fn take(&self, workspace: WorkspaceId) -> std::result::Result<Lease, StoreError>;
    /// Gives up every lease this node holds (it stops, or a command is done).
    fn release_all(&self);
}

/// A future the forwarder answers with.
pub type Forwarded<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

/// Sends a write to the node that holds its workspace's lease.
pub trait Forwarder: Send + Sync {
    /// Posts a message there as `caller` (a WebSocket `send`).
    fn post(
        &self,
        workspace: WorkspaceId,
        caller: Caller,
        channel: ChannelId,
        req: PostMessage,
    ) -> Forwarded<Message>;
    /// Posts there, as `caller`, a message with the files this node received and
    /// handed off through the shared directory (`App::post_handed_off`).
    fn post_files(
        &self,
        workspace: WorkspaceId,
        caller: Caller,
        channel: ChannelId,
        files: Vec<crate::files::HandedOff>,
        text: String,
        thread_root: Option<confab_core::MessageId>,
    ) -> Forwarded<(Vec<confab_core::FileInfo>, Message)>;
    /// Logs `user.updated` there (`App::log_user_updated`): a member changed their
    /// profile through a node that does not sequence this workspace of theirs.
    fn user_updated(&self, workspace: WorkspaceId, user: confab_core::UserId) -> Forwarded<()>;
    /// Erases a member's data from the workspace there (`App::erase_member_here`):
    /// their account is being erased through a node that does not sequence it.
    fn erase_member(
        &self,
        workspace: WorkspaceId,
        user: confab_core::UserId,
    ) -> Forwarded<crate::lifecycle::ErasureReport>;
}

/// The cluster's hooks; empty on a single node.
#[derive(Default)]
pub struct ClusterHooks {
    leases: OnceLock<Arc<dyn WriteLeases>>,
    forwarder: OnceLock<Arc<dyn Forwarder>>,
    /// Where the committer hands each durable batch's events for the other nodes.
    pub(crate) peers: OnceLock<mpsc::Sender<Vec<EventRecord>>>,
    /// Typing and presence to and from the other nodes.
    pub(crate) relay: crate::relay::Relay,
}

/// The reason `Taken` a store gives a batch refused for want of its workspace's
/// lease (`confab_store_postgres::LEASE_TAKEN`).
const LEASE_TAKEN: &str = "workspace lease";

/// Whether a refused batch was refused because this node lost the lease.
pub(crate) fn lease_lost(error: &StoreError) -> bool {
    matches!(error, StoreError::Taken(what) if *what == LEASE_TAKEN)
}

/// The lease of the training schedule (see [`App::runs_training_schedule`]): a ULID
/// of time 0, which no workspace has (theirs are made from the clock).
pub fn training_schedule_lease() -> WorkspaceId {
    let mut bytes = [0; 16];
    bytes[15] = 1;
    WorkspaceId::from_bytes(bytes)
}

/// The answer to a write this node may not sequence.
pub(crate) fn elsewhere() -> Error {
    Error::new(
        ErrorCode::Unavailable,
        "this workspace is served by another node of the cluster right now; try again",
    )
}

/// Durable batches waiting to be published for the other nodes. While NATS is slow or
/// away the publisher waits, and a batch that finds the queue full is not published:
/// the other nodes find the gap and read it from the event log, as after any loss on
/// the bus. (Unbounded, the queue grew with every write for as long as NATS was away.)
pub const PUBLISH_QUEUE_BATCHES: usize = 1024;

impl App {
    /// Makes this app one node of a cluster: writes take `leases` first, WebSocket
    /// sends to workspaces held elsewhere go through `forwarder` (if any), and the
    /// returned channel yields each durable batch's events, to publish for the other
    /// nodes. Call once, before serving.
    pub fn join_cluster(
        &self,
        leases: Arc<dyn WriteLeases>,
        forwarder: Option<Arc<dyn Forwarder>>,
    ) -> mpsc::Receiver<Vec<EventRecord>> {
        let hooks = &self.inner.cluster;
        let (tx, rx) = mpsc::channel(PUBLISH_QUEUE_BATCHES);
        let _ = hooks.leases.set(leases);
        if let Some(forwarder) = forwarder {
            let _ = hooks.forwarder.set(forwarder);
        }
        let _ = hooks.peers.set(tx);
        rx
    }

    /// Gives up this node's write leases, so that other nodes take its workspaces at
    /// once: call it when the node stops serving, or a command is done (after its
    /// writes are durable). Nothing on a single node.
    pub fn leave_cluster(&self) {
        if let Some(leases) = self.inner.cluster.leases.get() {
            leases.release_all();
        }
    }

    /// Whether this app is a node of a cluster (or a command beside one).
    pub(crate) fn in_cluster(&self) -> bool {
        self.inner.cluster.leases.get().is_some()
    }

    /// Whether this node sequences `ws`'s writes now, taking the lease if nobody
    /// holds it. A workspace that does not exist is this node's to answer (with
    /// `workspace_not_found`). Always true on a single node.
    pub fn serves_workspace(&self, ws: WorkspaceId) -> Result<bool> {
        let Some(leases) = self.inner.cluster.leases.get() else { return Ok(true) };
        if leases.holds(ws) {
            return Ok(true);
        }
        let Some(state) = self.inner.directory.get(self.store().as_ref(), ws)? else { return Ok(true) };
        let mut state = state.write();
        match self.hold_lease(&mut state) {
            Ok(()) => Ok(true),
            Err(AppError::Client(e)) if e.code == ErrorCode::Unavailable => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether this node runs the training schedule now, taking the schedule's
    /// lease if nobody holds it. Always true on a single node. The lease is a row of
    /// the workspace lease table under an id no workspace has
    /// ([`training_schedule_lease`]), renewed with this node's other leases: one
    /// node of a cluster at a time holds it, and another takes it once it lapses.
    pub(crate) fn runs_training_schedule(&self) -> bool {
        let Some(leases) = self.inner.cluster.leases.get() else { return true };
        let id = training_schedule_lease();
        if leases.holds(id) {
            return true;
        }
        match leases.take(id) {
            Ok(Lease::Held | Lease::Taken) => true,
            Ok(Lease::Elsewhere) => false,
            Err(e) => {
                tracing::warn!(error = %e, "could not look up the training schedule's lease");
                false
            }
        }
    }

    /// Under the workspace's write lock: makes sure this node holds its lease
    /// before it sequences a write (see the module doc).
    pub(crate) fn hold_lease(&self, state: &mut WorkspaceState) -> Result<()> {
        let Some(leases) = self.inner.cluster.leases.get() else { return Ok(()) };
        if leases.holds(state.id) {
            return Ok(());
        }
        // A failed look-up is this write's failure, not the store's: writes go on.
        match leases.take(state.id).map_err(AppError::Store)? {
            Lease::Held => Ok(()),
            Lease::Elsewhere => Err(elsewhere().into()),
            Lease::Taken => {
                let delivered = state.last_event_seq;
                if let Some(fresh) = directory::load(self.store().as_ref(), state.id)? {
                    *state = fresh;
                }
                self.deliver_from_log(state, delivered)?;
                Ok(())
            }
        }
    }

    /// Hands this node's connections (and its derived data) the events another
    /// node logged after `delivered`, up to `state`'s newest.
    fn deliver_from_log(&self, state: &WorkspaceState, mut delivered: u64) -> Result<()> {
        while delivered < state.last_event_seq {
            let page = self.store().events(state.id, delivered, 256)?;
            let Some(last) = page.last() else { break };
            delivered = last.event_seq;
            for record in &page {
                self.hub().publish(state, record, false);
            }
            let _ = self.inner.derived_tx.send(page);
        }
        Ok(())
    }

    /// The forwarder to use for a write to `ws`, if another node sequences it now.
    pub(crate) fn forwarder_for(&self, ws: WorkspaceId) -> Result<Option<Arc<dyn Forwarder>>> {
        match self.inner.cluster.forwarder.get() {
            Some(forwarder) if !self.serves_workspace(ws)? => Ok(Some(forwarder.clone())),
            _ => Ok(None),
        }
    }

    /// The WebSocket's `send`: posted here if this node sequences the channel's
    /// workspace, else forwarded to the node that does (a cluster with a bus).
    ///
    /// `in_order` is the connection's: on a node of a cluster every send takes its
    /// turn there, in send order, and decides in its turn where it goes. A forwarded
    /// send keeps the turn until it is answered (several in flight would race over
    /// the bus); a send posted here keeps it only until it is sequenced, so that the
    /// sends posted here are still several in flight at once, in order of their
    /// `seq`. Deciding before the turn let a send that found the lease here, just
    /// after this node took it over from a dead holder, be stored before the earlier
    /// sends still queued to be forwarded. Call it in send order: the turn is taken
    /// before the first await.
    pub async fn post_message_anywhere(
        &self,
        caller: Caller,
        channel: ChannelId,
        req: PostMessage,
        in_order: &tokio::sync::Mutex<()>,
    ) -> Result<Message> {
        if self.inner.cluster.forwarder.get().is_none() {
            return self.post_message(caller, channel, req).await;
        }
        let ws = self.channel_workspace(channel)?;
        let turn = in_order.lock().await;
        if let Some(forwarder) = self.forwarder_for(ws)? {
            return forwarder.post(ws, caller, channel, req).await;
        }
        // The post's first poll sequences it: everything before the store's apply
        // (under the workspace's write lock) runs without awaiting. Only the wait for
        // durability comes after, and the next send need not wait for that.
        let mut post = std::pin::pin!(self.post_message(caller, channel, req));
        if let Poll::Ready(posted) = std::future::poll_fn(|cx| Poll::Ready(post.as_mut().poll(cx))).await {
            return posted;
        }
        drop(turn);
        post.await
    }

    /// The workspace of a channel, if there is such a channel.
    pub fn workspace_of_channel(&self, channel: ChannelId) -> Option<WorkspaceId> {
        self.channel_workspace(channel).ok()
    }

    /// The workspace of a message, if there is such a message.
    pub fn workspace_of_message(&self, message: confab_core::MessageId) -> Option<WorkspaceId> {
        self.store().message(message).ok().flatten().map(|m| m.workspace)
    }

    /// The newest event this node has delivered for `ws`, if it holds `ws` in memory
    /// (where the bus task's reordering starts and resumes).
    pub fn delivered(&self, ws: WorkspaceId) -> Option<u64> {
        self.inner.directory.loaded(ws).map(|state| state.read().last_event_seq)
    }

    /// Before a read of `ws` on a node that does not sequence it: delivers what the
    /// event log holds past what this node has, so that a client reads what any
    /// node acknowledged before (its own write through another node, an admin's
    /// change), not only what the bus has brought so far. One read of the log,
    /// usually empty; nothing on the node that holds the lease, or on one node.
    pub fn catch_up_for_read(&self, ws: WorkspaceId) -> Result<()> {
        let Some(leases) = self.inner.cluster.leases.get() else { return Ok(()) };
        if leases.holds(ws) {
            return Ok(());
        }
        // A workspace this node does not hold in memory is read from the store.
        let Some(state) = self.inner.directory.loaded(ws) else { return Ok(()) };
        loop {
            let delivered = state.read().last_event_seq;
            let page = self.store().events(ws, delivered, 256)?;
            let full = page.len() == 256;
            self.deliver_from_peer(page);
            if !full {
                return Ok(());
            }
        }
    }

    /// An event another node logged, in `event_seq` order, each once (see the
    /// module doc). Events this node already has are dropped.
    pub fn deliver_from_peer(&self, records: Vec<EventRecord>) {
        // A consent change retires the models it lapsed here too, whether or not
        // this node holds the workspace in memory (a repeat retires nothing more).
        if records.iter().any(|r| matches!(r.event, Event::ConsentChanged { .. })) {
            self.sweep_lapsed_models_soon();
        }
        let Some(first) = records.first() else { return };
        let Some(state) = self.inner.directory.loaded(first.workspace) else { return };
        let mut state = state.write();
        let mut delivered = Vec::with_capacity(records.len());
        for record in records {
            if record.workspace != state.id || record.event_seq <= state.last_event_seq {
                continue;
            }
            if let Err(e) = self.follow(&mut state, &record) {
                e.log();
            }
            state.last_event_seq = record.event_seq;
            self.hub().publish(&state, &record, false);
            match &record.event {
                Event::MemberJoined { channel: None, user } => self.hub().add_workspace(*user, state.id),
                Event::MemberLeft { channel: None, user } => self.hub().remove_workspace(*user, state.id),
                _ => {}
            }
            delivered.push(record);
        }
        if !delivered.is_empty() {
            let _ = self.inner.derived_tx.send(delivered);
        }
    }

    /// Brings this node's copy of a workspace it does not sequence up to `record`.
    fn follow(&self, state: &mut WorkspaceState, record: &EventRecord) -> Result<()> {
        match &record.event {
            Event::MessageCreated { message } => {
                if let Some(channel) = state.channels.get_mut(&message.channel) {
                    channel.last_seq = channel.last_seq.max(message.seq);
                }
            }
            Event::ChannelCreated { .. }
            | Event::ChannelUpdated { .. }
            | Event::MemberJoined { .. }
            | Event::MemberLeft { .. }
            | Event::MemberUpdated { .. }
            | Event::WorkspaceUpdated { .. } => {
                // Who is in what: read again (the store may already be further on,
                // which only makes the checks more current). The counters stay this
                // node's: what it has delivered.
                if let Some(fresh) = directory::load(self.store().as_ref(), state.id)? {
                    let (last_event_seq, channels) =
                        (state.last_event_seq, std::mem::take(&mut state.channels));
                    *state = WorkspaceState { last_event_seq, ..fresh };
                    for (id, channel) in channels {
                        if let Some(fresh) = state.channels.get_mut(&id) {
                            fresh.last_seq = fresh.last_seq.max(channel.last_seq);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
