//! The bus between Confab nodes: it carries each workspace's committed events from
//! the node that wrote them to every other node, and forwards a write to the node
//! that sequences its workspace.
//!
//! The server's `cluster` module uses it when `[cluster] bus` is set (docs/cluster.md).
//!
//! * [`Bus`]: what a node needs of the bus: publish a committed event, subscribe
//!   to every workspace's events, request/reply per workspace with a timeout, a
//!   health check and counters. Two implementations: [`LocalBus`] (in-process, for
//!   the single-node default and tests) and [`NatsBus`] (NATS, through
//!   `async-nats`).
//! * [`Delivery`]: what a subscription yields: an event, or word that events may
//!   have been lost (the bus never swallows a loss: the node then catches up from
//!   the store's event log).
//! * Ephemeral messages ([`Bus::publish_ephemeral`]): typing and presence, which
//!   are not in the event log. Lossy: nothing tells a subscriber what it missed,
//!   and a slow subscriber loses them rather than slowing anyone.
//! * [`subject`]: the subjects and the envelope on the wire.
//! * [`reorder`]: pure logic that turns deliveries (out of order, duplicated, with
//!   gaps) into each workspace's events in `event_seq` order, each once, and says
//!   which range of the event log to read when a gap stays open.
//!
//! **Why a trait object.** [`Bus`] is object-safe (its futures are boxed), so the
//! app can hold an `Arc<dyn Bus>` as it holds an `Arc<dyn Store>`, and tests can
//! wrap either implementation to inject failures. An enum would save one
//! allocation per call, which is nothing next to a network round trip, and would
//! close the door on such wrappers.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use confab_core::WorkspaceId;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

mod local;
mod nats;
pub mod reorder;
pub mod subject;

pub use local::LocalBus;
pub use nats::{NatsBus, NatsConfig};
pub use reorder::{CatchUp, Reorder, ReorderConfig, Reorders};

/// A committed event as the bus carries it: the workspace, its `event_seq`, and
/// the event's bytes, which the bus does not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusEvent {
    pub workspace: WorkspaceId,
    pub event_seq: u64,
    pub payload: Bytes,
}

/// What a subscription yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// An event published by another node.
    Event(BusEvent),
    /// The connection to the bus dropped. Events published from now on may not
    /// arrive; a [`Delivery::Lost`] follows once the subscription is back.
    Disconnected,
    /// Events may have been lost before this point; the subscription receives
    /// again from here. The node reads every workspace it holds from the event log
    /// after what it delivered ([`Reorders::connection_lost`]), which overlaps what
    /// the bus delivers next instead of leaving a hole.
    Lost(LossReason),
}

/// Why a subscription may have missed events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossReason {
    /// The connection to the bus dropped and came back.
    Reconnected,
    /// The subscription fell behind and the bus dropped messages for it.
    FellBehind,
}

/// A subscription to every workspace's events. The stream ends when the bus is
/// closed for good (the node must then treat every workspace as behind).
pub type Deliveries = BoxStream<'static, Delivery>;

/// A write forwarded to the node that serves its workspace; answer it with
/// [`Request::reply`].
pub struct Request {
    pub workspace: WorkspaceId,
    pub payload: Bytes,
    reply: Reply,
}

enum Reply {
    Local(tokio::sync::oneshot::Sender<Bytes>),
    Nats { client: async_nats::Client, subject: async_nats::Subject },
}

impl Request {
    /// Sends the answer to the node that asked. A requester that gave up (timed out)
    /// does not hear it; that is not an error here.
    pub async fn reply(self, payload: Bytes) -> Result<(), BusError> {
        match self.reply {
            Reply::Local(tx) => {
                let _ = tx.send(payload);
                Ok(())
            }
            Reply::Nats { client, subject } => {
                client.publish(subject, payload).await.map_err(|e| BusError::Publish(e.to_string()))
            }
        }
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("workspace", &self.workspace)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// The requests for one workspace; dropping it stops serving them.
pub type Requests = BoxStream<'static, Request>;

/// A subscription to every node's ephemeral messages (not this node's own). It
/// ends when the bus is closed for good.
pub type EphemeralMessages = BoxStream<'static, Bytes>;

/// Counters for `/metrics`; each only grows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusStats {
    /// Events published.
    pub published: u64,
    /// Events received by subscriptions.
    pub received: u64,
    /// Times the connection came back after dropping.
    pub reconnects: u64,
    /// Losses reported to subscriptions ([`Delivery::Lost`]).
    pub losses: u64,
    /// Messages dropped because their envelope did not parse.
    pub malformed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("connecting to the bus: {0}")]
    Connect(String),
    #[error("publishing on the bus: {0}")]
    Publish(String),
    #[error("subscribing on the bus: {0}")]
    Subscribe(String),
    #[error("no node serves workspace {0}")]
    NoResponder(WorkspaceId),
    #[error("the request for workspace {0} had no answer in {1:?}")]
    Timeout(WorkspaceId, Duration),
    #[error("request on the bus: {0}")]
    Request(String),
    #[error("invalid bus configuration: {0}")]
    Config(String),
}

/// What a node needs of the bus; see the crate doc.
pub trait Bus: Send + Sync {
    /// Publishes a committed event on its workspace's subject. Call it after the
    /// event is durable, in `event_seq` order per workspace. A publish that returns
    /// `Ok` may still be lost on the way; receivers find out ([`Delivery::Lost`],
    /// or a gap [`Reorder`] sees) and read the log.
    fn publish(&self, event: BusEvent) -> BoxFuture<'_, Result<(), BusError>>;

    /// Subscribes to every workspace's events published by other nodes (a node
    /// delivers its own writes itself). Events published before the returned
    /// future completes are not delivered.
    fn subscribe(&self) -> BoxFuture<'_, Result<Deliveries, BusError>>;

    /// Sends `payload` to the node serving `workspace` and waits at most `timeout`
    /// for its answer.
    fn request(
        &self,
        workspace: WorkspaceId,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Bytes, BusError>>;

    /// Serves `workspace`'s requests (while this node holds its write lease). One
    /// node serves a workspace at a time: that is the lease's job, not the bus's.
    fn serve(&self, workspace: WorkspaceId) -> BoxFuture<'_, Result<Requests, BusError>>;

    /// Publishes an ephemeral message (typing, presence) for every other node, at
    /// most once: it may be lost, and nobody is told.
    fn publish_ephemeral(&self, payload: Bytes) -> BoxFuture<'_, Result<(), BusError>>;

    /// Subscribes to the ephemeral messages of every other node.
    fn subscribe_ephemeral(&self) -> BoxFuture<'_, Result<EphemeralMessages, BusError>>;

    /// Whether the bus is connected now.
    fn is_connected(&self) -> bool;

    fn stats(&self) -> BusStats;
}

/// Counters shared by an implementation and its subscriptions.
#[derive(Default, Debug)]
struct Counters {
    published: std::sync::atomic::AtomicU64,
    received: std::sync::atomic::AtomicU64,
    reconnects: std::sync::atomic::AtomicU64,
    losses: std::sync::atomic::AtomicU64,
    malformed: std::sync::atomic::AtomicU64,
}

impl Counters {
    fn add(counter: &std::sync::atomic::AtomicU64) {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn snapshot(&self) -> BusStats {
        let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        BusStats {
            published: get(&self.published),
            received: get(&self.received),
            reconnects: get(&self.reconnects),
            losses: get(&self.losses),
            malformed: get(&self.malformed),
        }
    }
}
