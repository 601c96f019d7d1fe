//! The in-process bus: the single-node default, and several nodes of one test
//! process. A tokio broadcast channel carries events; a subscription that falls
//! more than the channel's capacity behind is told so ([`Delivery::Lost`]), as
//! NATS tells a slow consumer. Like [`crate::NatsBus`], a node does not receive
//! its own events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use confab_core::WorkspaceId;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt, stream};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{
    Bus, BusError, BusEvent, BusStats, Counters, Deliveries, Delivery, EphemeralMessages, LossReason, Reply,
    Request, Requests,
};

/// How many requests may wait for a serving node before a request waits too.
const REQUEST_QUEUE: usize = 64;

/// One node's handle on an in-process bus; [`LocalBus::node`] makes another node's.
/// Clones are the same node.
#[derive(Clone)]
pub struct LocalBus {
    shared: Arc<Shared>,
    node: u64,
    counters: Arc<Counters>,
}

struct Shared {
    events: broadcast::Sender<(u64, BusEvent)>,
    ephemeral: broadcast::Sender<(u64, Bytes)>,
    servers: Mutex<HashMap<WorkspaceId, mpsc::Sender<Request>>>,
    next_node: AtomicU64,
}

impl LocalBus {
    /// A bus whose subscriptions may fall `capacity` events behind before they are
    /// told of a loss.
    pub fn new(capacity: usize) -> Self {
        let shared = Arc::new(Shared {
            events: broadcast::channel(capacity.max(1)).0,
            ephemeral: broadcast::channel(capacity.max(1)).0,
            servers: Mutex::new(HashMap::new()),
            next_node: AtomicU64::new(1),
        });
        LocalBus { shared, node: 0, counters: Arc::default() }
    }

    /// Another node on the same bus.
    pub fn node(&self) -> LocalBus {
        let node = self.shared.next_node.fetch_add(1, Ordering::Relaxed);
        LocalBus { shared: self.shared.clone(), node, counters: Arc::default() }
    }

    fn server(&self, workspace: WorkspaceId) -> Option<mpsc::Sender<Request>> {
        let servers = self.shared.servers.lock().unwrap_or_else(|e| e.into_inner());
        servers.get(&workspace).filter(|tx| !tx.is_closed()).cloned()
    }
}

impl Bus for LocalBus {
    fn publish(&self, event: BusEvent) -> BoxFuture<'_, Result<(), BusError>> {
        // No subscriber is not an error: a single node has none.
        let _ = self.shared.events.send((self.node, event));
        Counters::add(&self.counters.published);
        futures_util::future::ready(Ok(())).boxed()
    }

    fn subscribe(&self) -> BoxFuture<'_, Result<Deliveries, BusError>> {
        let state = (self.shared.events.subscribe(), self.node, self.counters.clone());
        let deliveries = stream::unfold(state, |(mut rx, node, counters)| async move {
            loop {
                let delivery = match rx.recv().await {
                    Ok((from, _)) if from == node => continue,
                    Ok((_, event)) => {
                        Counters::add(&counters.received);
                        Delivery::Event(event)
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        Counters::add(&counters.losses);
                        Delivery::Lost(LossReason::FellBehind)
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                };
                return Some((delivery, (rx, node, counters)));
            }
        });
        futures_util::future::ready(Ok(deliveries.boxed())).boxed()
    }

    fn request(
        &self,
        workspace: WorkspaceId,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Bytes, BusError>> {
        async move {
            let server = self.server(workspace).ok_or(BusError::NoResponder(workspace))?;
            let (tx, rx) = oneshot::channel();
            let request = Request { workspace, payload, reply: Reply::Local(tx) };
            let answer = tokio::time::timeout(timeout, async move {
                server.send(request).await.map_err(|_| BusError::NoResponder(workspace))?;
                rx.await.map_err(|_| BusError::Request("the serving node dropped the request".into()))
            });
            answer.await.map_err(|_| BusError::Timeout(workspace, timeout))?
        }
        .boxed()
    }

    fn serve(&self, workspace: WorkspaceId) -> BoxFuture<'_, Result<Requests, BusError>> {
        let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
        self.shared.servers.lock().unwrap_or_else(|e| e.into_inner()).insert(workspace, tx);
        let requests = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
        futures_util::future::ready(Ok(requests.boxed())).boxed()
    }

    fn publish_ephemeral(&self, payload: Bytes) -> BoxFuture<'_, Result<(), BusError>> {
        let _ = self.shared.ephemeral.send((self.node, payload));
        futures_util::future::ready(Ok(())).boxed()
    }

    fn subscribe_ephemeral(&self) -> BoxFuture<'_, Result<EphemeralMessages, BusError>> {
        let state = (self.shared.ephemeral.subscribe(), self.node);
        let messages = stream::unfold(state, |(mut rx, node)| async move {
            loop {
                match rx.recv().await {
                    Ok((from, _)) if from == node => continue,
                    Ok((_, payload)) => return Some((payload, (rx, node))),
                    // Lossy by design: what fell behind is gone.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        futures_util::future::ready(Ok(messages.boxed())).boxed()
    }

    fn is_connected(&self) -> bool {
        true
    }

    fn stats(&self) -> BusStats {
        self.counters.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(n: u64) -> WorkspaceId {
        WorkspaceId::from_ulid(ulid::Ulid::from_parts(n, 0))
    }

    fn event(ws: WorkspaceId, event_seq: u64) -> BusEvent {
        BusEvent { workspace: ws, event_seq, payload: Bytes::from(format!("event {event_seq}")) }
    }

    #[tokio::test]
    async fn other_nodes_receive_events_in_order_and_the_publisher_does_not() {
        let a = LocalBus::new(16);
        let b = a.node();
        let mut at_a = a.subscribe().await.unwrap();
        let mut at_b = b.subscribe().await.unwrap();
        for seq in 1..=3 {
            a.publish(event(workspace(1), seq)).await.unwrap();
        }
        b.publish(event(workspace(2), 1)).await.unwrap();
        for seq in 1..=3 {
            assert_eq!(at_b.next().await, Some(Delivery::Event(event(workspace(1), seq))));
        }
        assert_eq!(at_a.next().await, Some(Delivery::Event(event(workspace(2), 1))), "not its own");
        assert_eq!(a.stats().published, 3);
        assert_eq!(b.stats().received, 3);
    }

    #[tokio::test]
    async fn ephemeral_messages_reach_the_other_nodes_and_a_slow_one_loses_them() {
        let a = LocalBus::new(2);
        let b = a.node();
        let mut at_a = a.subscribe_ephemeral().await.unwrap();
        let mut at_b = b.subscribe_ephemeral().await.unwrap();
        for n in 1..=5u8 {
            a.publish_ephemeral(Bytes::from(vec![n])).await.unwrap();
        }
        b.publish_ephemeral(Bytes::from_static(b"b")).await.unwrap();
        // B fell behind: the oldest are gone, silently.
        assert_eq!(at_b.next().await, Some(Bytes::from(vec![5u8])));
        assert_eq!(at_a.next().await, Some(Bytes::from_static(b"b")), "not its own");
    }

    #[tokio::test]
    async fn a_subscription_that_falls_behind_is_told() {
        let a = LocalBus::new(2);
        let b = a.node();
        let mut at_b = b.subscribe().await.unwrap();
        for seq in 1..=5 {
            a.publish(event(workspace(1), seq)).await.unwrap();
        }
        assert_eq!(at_b.next().await, Some(Delivery::Lost(LossReason::FellBehind)));
        assert_eq!(at_b.next().await, Some(Delivery::Event(event(workspace(1), 4))));
        assert_eq!(b.stats().losses, 1);
    }

    #[tokio::test]
    async fn requests_reach_the_serving_node() {
        let a = LocalBus::new(16);
        let b = a.node();
        let ws = workspace(7);
        let timeout = Duration::from_secs(5);
        assert!(matches!(
            a.request(ws, Bytes::from_static(b"x"), timeout).await,
            Err(BusError::NoResponder(_))
        ));
        let mut requests = b.serve(ws).await.unwrap();
        let server = tokio::spawn(async move {
            let request = requests.next().await.unwrap();
            assert_eq!(request.workspace, ws);
            let answer = [b"re: ".as_slice(), &request.payload].concat();
            request.reply(Bytes::from(answer)).await.unwrap();
            requests
        });
        let answer = a.request(ws, Bytes::from_static(b"post"), timeout).await.unwrap();
        assert_eq!(answer, Bytes::from_static(b"re: post"));
        let requests = server.await.unwrap();
        let quiet = a.request(ws, Bytes::from_static(b"x"), Duration::from_millis(50)).await;
        assert!(matches!(quiet, Err(BusError::Timeout(..))), "served but never answered: {quiet:?}");
        drop(requests);
        assert!(matches!(
            a.request(ws, Bytes::from_static(b"x"), timeout).await,
            Err(BusError::NoResponder(_))
        ));
    }
}
