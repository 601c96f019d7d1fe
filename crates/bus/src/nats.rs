//! The bus over NATS (core NATS, no JetStream), through `async-nats`.
//!
//! Core NATS delivers at most once: what is published while a node is disconnected,
//! or while its subscription is too far behind, is gone. That is acceptable because
//! the store's event log holds every event, and because this bus never hides a
//! loss. The client's connection events go to a watcher task, which tells every
//! subscription:
//!
//! * the connection dropped: [`Delivery::Disconnected`];
//! * it came back: after one round trip to the server (so that the server has the
//!   subscriptions again, which the client re-sends after reconnecting),
//!   [`Delivery::Lost`]`(Reconnected)`; a log read started after it overlaps what
//!   the bus delivers next;
//! * the client dropped messages for a slow subscription:
//!   [`Delivery::Lost`]`(FellBehind)`.
//!
//! The client reconnects forever, with a short backoff; [`Bus::is_connected`] says
//! whether it is connected now. Connections use `no_echo`: a node does not
//! receive what it published (it delivers its own writes itself).

use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{ConnectOptions, Event, HeaderMap, Message, RequestErrorKind};
use bytes::Bytes;
use confab_core::WorkspaceId;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt, stream};
use tokio::sync::{broadcast, mpsc};

use crate::subject::{EVENT_SEQ_HEADER, Subjects, WORKSPACE_HEADER};
use crate::{
    Bus, BusError, BusEvent, BusStats, Counters, Deliveries, Delivery, EphemeralMessages, LossReason, Reply,
    Request, Requests,
};

/// How to reach NATS.
#[derive(Clone, Debug)]
pub struct NatsConfig {
    /// `nats://host:port` (several, comma-separated, for a NATS cluster).
    pub url: String,
    /// The Confab cluster's name, the subjects' second token (see [`crate::subject`]).
    pub cluster: String,
    /// This node's name, as NATS's monitoring shows the connection.
    pub node_name: String,
    /// Messages a subscription may fall behind before the client drops them (and
    /// the subscription reports [`LossReason::FellBehind`]).
    pub subscription_capacity: usize,
    /// How often the client pings the server: how soon a silent connection loss is
    /// noticed.
    pub ping_interval: Duration,
    pub connect_timeout: Duration,
    /// The longest wait between two reconnection attempts.
    pub max_reconnect_delay: Duration,
}

impl NatsConfig {
    pub fn new(url: impl Into<String>, cluster: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            cluster: cluster.into(),
            node_name: "confab".into(),
            subscription_capacity: 65_536,
            ping_interval: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_reconnect_delay: Duration::from_secs(2),
        }
    }
}

/// How long a round trip to the server may take (see [`round_trip`]).
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(10);

/// A change of the connection, told to every subscription.
#[derive(Clone, Copy, Debug)]
enum Link {
    Down,
    Lost(LossReason),
}

/// A node's connection to NATS; see the module doc.
pub struct NatsBus {
    client: async_nats::Client,
    subjects: Subjects,
    counters: Arc<Counters>,
    link: broadcast::Sender<Link>,
    watcher: tokio::task::JoinHandle<()>,
}

impl NatsBus {
    /// Connects, or fails if NATS cannot be reached now (a node should not start
    /// without its bus); later losses are reconnected.
    pub async fn connect(config: NatsConfig) -> Result<NatsBus, BusError> {
        let subjects = Subjects::new(&config.cluster)?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let max_delay = config.max_reconnect_delay;
        let options = ConnectOptions::new()
            .name(&config.node_name)
            .no_echo()
            .subscription_capacity(config.subscription_capacity.max(1))
            .ping_interval(config.ping_interval)
            .connection_timeout(config.connect_timeout)
            .max_reconnects(None)
            .reconnect_delay_callback(move |attempts| {
                Duration::from_millis(50 * attempts.min(1000) as u64).min(max_delay)
            })
            .event_callback(move |event| {
                let _ = events_tx.send(event);
                async {}
            });
        let client =
            options.connect(config.url.as_str()).await.map_err(|e| BusError::Connect(e.to_string()))?;
        let counters = Arc::new(Counters::default());
        let (link, _) = broadcast::channel(64);
        let watcher = tokio::spawn(watch(events_rx, client.clone(), link.clone(), counters.clone()));
        Ok(NatsBus { client, subjects, counters, link, watcher })
    }

    /// Waits until everything published so far is written to the server's socket.
    pub async fn flush(&self) -> Result<(), BusError> {
        self.client.flush().await.map_err(|e| BusError::Publish(e.to_string()))
    }

    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }
}

impl Drop for NatsBus {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// Turns the client's connection events into [`Link`] changes for subscriptions.
async fn watch(
    mut events: mpsc::UnboundedReceiver<Event>,
    client: async_nats::Client,
    link: broadcast::Sender<Link>,
    counters: Arc<Counters>,
) {
    let mut connected_before = false;
    while let Some(event) = events.recv().await {
        match event {
            Event::Connected if !connected_before => connected_before = true,
            Event::Connected => {
                Counters::add(&counters.reconnects);
                // The client re-sends its subscriptions right after this event, before
                // it reads our request; once the request is answered the server has
                // them, and a log read started now overlaps what the bus delivers next.
                if let Err(e) = round_trip(&client, ROUND_TRIP_TIMEOUT).await {
                    tracing::warn!(error = %e, "NATS round trip after reconnecting failed");
                }
                tracing::info!("NATS connection is back; subscriptions may have missed events");
                let _ = link.send(Link::Lost(LossReason::Reconnected));
            }
            Event::Disconnected => {
                tracing::warn!("NATS connection lost; reconnecting");
                let _ = link.send(Link::Down);
            }
            Event::SlowConsumer(sid) => {
                tracing::warn!(sid, "a NATS subscription fell behind and missed messages");
                let _ = link.send(Link::Lost(LossReason::FellBehind));
            }
            other => tracing::warn!(event = %other, "NATS"),
        }
    }
}

/// One round trip to the server, after which it has processed everything this
/// client sent before (subscriptions included). `async-nats` has no ping (its
/// `flush` only writes to the socket), so this is a request on a fresh inbox that
/// nobody serves: the server answers "no responders" itself.
async fn round_trip(client: &async_nats::Client, timeout: Duration) -> Result<(), String> {
    let request = async_nats::Request::new().timeout(Some(timeout));
    match client.send_request(client.new_inbox(), request).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == RequestErrorKind::NoResponders => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Reads an event's envelope (see [`crate::subject`]).
fn decode_event(message: Message) -> Option<BusEvent> {
    let headers = message.headers.as_ref()?;
    let workspace = headers.get(WORKSPACE_HEADER)?.as_str().parse().ok()?;
    let event_seq = headers.get(EVENT_SEQ_HEADER)?.as_str().parse().ok()?;
    Some(BusEvent { workspace, event_seq, payload: message.payload })
}

fn workspace_header(workspace: WorkspaceId) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(WORKSPACE_HEADER, workspace.to_string());
    headers
}

impl Bus for NatsBus {
    fn publish(&self, event: BusEvent) -> BoxFuture<'_, Result<(), BusError>> {
        async move {
            let mut headers = workspace_header(event.workspace);
            headers.insert(EVENT_SEQ_HEADER, event.event_seq.to_string());
            let subject = self.subjects.events(event.workspace);
            self.client
                .publish_with_headers(subject, headers, event.payload)
                .await
                .map_err(|e| BusError::Publish(e.to_string()))?;
            Counters::add(&self.counters.published);
            Ok(())
        }
        .boxed()
    }

    fn subscribe(&self) -> BoxFuture<'_, Result<Deliveries, BusError>> {
        async move {
            let link = self.link.subscribe();
            let messages = self
                .client
                .subscribe(self.subjects.all_events())
                .await
                .map_err(|e| BusError::Subscribe(e.to_string()))?;
            // Events published after this returns are delivered.
            round_trip(&self.client, ROUND_TRIP_TIMEOUT).await.map_err(BusError::Subscribe)?;
            let state = (messages, link, self.counters.clone());
            let deliveries = stream::unfold(state, |(mut messages, mut link, counters)| async move {
                loop {
                    let delivery = tokio::select! {
                        // Changes first: a loss is reported as soon as it is known.
                        biased;
                        change = link.recv() => match change {
                            Ok(Link::Down) => Delivery::Disconnected,
                            Ok(Link::Lost(reason)) => {
                                Counters::add(&counters.losses);
                                Delivery::Lost(reason)
                            }
                            // Missed changes may have been losses.
                            Err(broadcast::error::RecvError::Lagged(_)) => {
                                Counters::add(&counters.losses);
                                Delivery::Lost(LossReason::Reconnected)
                            }
                            // The bus was dropped.
                            Err(broadcast::error::RecvError::Closed) => return None,
                        },
                        message = messages.next() => match message.map(decode_event) {
                            // The client closed for good.
                            None => return None,
                            Some(Some(event)) => {
                                Counters::add(&counters.received);
                                Delivery::Event(event)
                            }
                            Some(None) => {
                                Counters::add(&counters.malformed);
                                tracing::warn!("dropped a bus message without a valid envelope");
                                continue;
                            }
                        },
                    };
                    return Some((delivery, (messages, link, counters)));
                }
            });
            Ok(deliveries.boxed())
        }
        .boxed()
    }

    fn request(
        &self,
        workspace: WorkspaceId,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Bytes, BusError>> {
        async move {
            let request = async_nats::Request::new()
                .payload(payload)
                .headers(workspace_header(workspace))
                .timeout(Some(timeout));
            let answer = self.client.send_request(self.subjects.requests(workspace), request).await;
            match answer {
                Ok(message) => Ok(message.payload),
                Err(e) => Err(match e.kind() {
                    RequestErrorKind::TimedOut => BusError::Timeout(workspace, timeout),
                    RequestErrorKind::NoResponders => BusError::NoResponder(workspace),
                    _ => BusError::Request(e.to_string()),
                }),
            }
        }
        .boxed()
    }

    fn serve(&self, workspace: WorkspaceId) -> BoxFuture<'_, Result<Requests, BusError>> {
        async move {
            let messages = self
                .client
                .subscribe(self.subjects.requests(workspace))
                .await
                .map_err(|e| BusError::Subscribe(e.to_string()))?;
            round_trip(&self.client, ROUND_TRIP_TIMEOUT).await.map_err(BusError::Subscribe)?;
            let client = self.client.clone();
            let counters = self.counters.clone();
            let requests = messages.filter_map(move |message| {
                let request = match message.reply {
                    Some(subject) => Some(Request {
                        workspace,
                        payload: message.payload,
                        reply: Reply::Nats { client: client.clone(), subject },
                    }),
                    None => {
                        Counters::add(&counters.malformed);
                        tracing::warn!(%workspace, "dropped a request without a reply subject");
                        None
                    }
                };
                futures_util::future::ready(request)
            });
            Ok(requests.boxed())
        }
        .boxed()
    }

    fn publish_ephemeral(&self, payload: Bytes) -> BoxFuture<'_, Result<(), BusError>> {
        async move {
            self.client
                .publish(self.subjects.ephemeral(), payload)
                .await
                .map_err(|e| BusError::Publish(e.to_string()))
        }
        .boxed()
    }

    fn subscribe_ephemeral(&self) -> BoxFuture<'_, Result<EphemeralMessages, BusError>> {
        async move {
            let messages = self
                .client
                .subscribe(self.subjects.ephemeral())
                .await
                .map_err(|e| BusError::Subscribe(e.to_string()))?;
            round_trip(&self.client, ROUND_TRIP_TIMEOUT).await.map_err(BusError::Subscribe)?;
            Ok(messages.map(|message| message.payload).boxed())
        }
        .boxed()
    }

    fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    fn stats(&self) -> BusStats {
        self.counters.snapshot()
    }
}
