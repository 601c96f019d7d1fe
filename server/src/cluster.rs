//! A node of a cluster: several nodes on one PostgreSQL database, talking over NATS
//! (`[cluster] bus`; docs/cluster.md).
//!
//! Each workspace is sequenced by the node holding its write lease in the store
//! (`confab_store_postgres::lease`). This module wires the rest:
//!
//! * **Forwarding.** A write (any method but `GET`/`HEAD`/`OPTIONS`) whose path names
//!   a workspace, a channel, a message, an invite or a webhook's workspace is
//!   forwarded whole — method, path and query, headers, body, and the client's
//!   address — to the lease holder (and so is a call of a writing method of Slack's
//!   API, `/api/slack/…`, whose workspace is its channel's or its caller's) over the bus's request/reply
//!   (`confab.<cluster>.ws.<workspace>.requests`), when another node holds the
//!   lease; if nobody does, this node takes it. The holder runs the request through
//!   its own router, in-process ([`tower::ServiceExt::oneshot`]), and answers with
//!   the status, headers and body. A WebSocket `send` is forwarded as the post it
//!   is, with the caller, and the holder runs `App::post_message` as its own
//!   WebSocket does; a profile change has each holder of the member's workspaces
//!   log its `user.updated`, and an account's erasure has each of them erase the
//!   member's data there ([`confab_app::cluster::Forwarder`]). An upload
//!   (`POST /channels/{ch}/files`) is not forwarded whole: the node that receives
//!   it streams it into the directory the nodes share, hands it off there, and
//!   forwards only the files' records (`App::post_files`), so that its size is
//!   `files.max_bytes`'s business, not the bus's. Bounds: bodies of at most
//!   `cluster.forward_max_bytes` (else `413`), `cluster.forward_concurrency`
//!   requests forwarded and served at once, and `cluster.forward_timeout_ms` for
//!   the answer (else `503 unavailable`). Reads are served by any node from the
//!   shared store.
//! * **Fan-out.** The committer hands each durable batch's events to a task that
//!   publishes them on the workspace's subject; every node reads every workspace's
//!   subject, puts what it hears through [`Reorders`] (in `event_seq` order, each
//!   once, gaps filled from the store's event log) and hands it to the app
//!   (`App::deliver_from_peer`), which updates its copy of the workspace and its
//!   connections. A loss the bus reports (`Delivery::Lost`) makes every workspace
//!   read the log after what it delivered.
//!
//! * **Typing and presence** ([`confab_app::relay`]): what a node's connections say
//!   goes out on the cluster's ephemeral subject, with a heartbeat; every node
//!   delivers what it hears to its own connections. Lossy and bounded: a queue that
//!   is never waited on, and at most `cluster.relay_typing_per_sec` typing
//!   indicators published, and as many delivered, per second per node.
//!
//! The bus is trusted like the database: a forwarded request names its caller, so
//! NATS must be reachable by the cluster's nodes only.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use confab_app::cluster::{Forwarded, Forwarder, Lease, WriteLeases};
use confab_app::files::HandedOff;
use confab_app::lifecycle::ErasureReport;
use confab_app::relay::Ephemeral;
use confab_app::{App, AppError, Caller, PostMessage};
use confab_bus::{Bus, BusError, BusEvent, Delivery, NatsBus, NatsConfig, ReorderConfig, Reorders};
use confab_core::{
    ChannelId, Error, ErrorCode, EventRecord, FileInfo, Message, MessageId, UserId, WorkspaceId,
};
use confab_protocol::http::BusHealth;
use confab_store::{Store, StoreError};
use confab_store_postgres::{LeaseOutcome, PgStore};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};
use tower::ServiceExt;

use crate::config::ClusterSection;
use crate::error::ApiError;

/// The header a forwarded request carries (the forwarding node's name): the holder
/// serves it here, whatever its lease says by then, and never forwards it again.
pub const FORWARDED_HEADER: &str = "x-confab-forwarded-by";

/// How long a node waits for another to erase a member's data from a workspace it
/// sequences (at least `forward_timeout_ms`).
const ERASE_TIMEOUT: Duration = Duration::from_secs(600);

/// Events read from the log per catch-up read.
const CATCH_UP_PAGE: usize = 512;

/// How often the bus task looks for catch-ups that are due, and a serving task
/// checks that its node still holds the lease.
const TICK: Duration = Duration::from_millis(100);

/// One node of the cluster: what forwarding, serving and fan-out share.
pub struct Node {
    app: App,
    store: Arc<PgStore>,
    bus: Arc<NatsBus>,
    config: ClusterSection,
    /// Requests forwarded or served at once.
    slots: Arc<Semaphore>,
    /// The workspaces whose requests this node serves now.
    serving: Mutex<HashSet<WorkspaceId>>,
    /// The whole router, for the requests this node serves for others.
    router: OnceLock<axum::Router>,
    /// The bus connection as `/healthz` reports it: connected or not, since when
    /// (kept by [`watch`], so that a health check never waits on the bus).
    bus_health: Mutex<BusHealth>,
    /// The longest delay, in ms, of an event this node delivered from another node
    /// since [`watch`] last looked (see [`Node::note_delivered`]).
    bus_lag_ms: AtomicU64,
}

/// The store's leases as the app sees them; a lease just taken starts serving its
/// workspace's forwarded requests.
struct StoreLeases {
    store: Arc<PgStore>,
    taken: Option<mpsc::UnboundedSender<WorkspaceId>>,
}

impl WriteLeases for StoreLeases {
    fn holds(&self, workspace: WorkspaceId) -> bool {
        self.store.holds_lease(workspace)
    }

    fn take(&self, workspace: WorkspaceId) -> Result<Lease, StoreError> {
        Ok(match self.store.take_lease(workspace)? {
            LeaseOutcome::Held => Lease::Held,
            LeaseOutcome::Taken => {
                if let Some(taken) = &self.taken {
                    let _ = taken.send(workspace);
                }
                Lease::Taken
            }
            LeaseOutcome::Elsewhere { .. } => Lease::Elsewhere,
        })
    }

    fn release_all(&self) {
        self.store.release_leases();
    }
}

/// An operator command's link to the cluster's bus (see [`join_for_command`]).
pub struct CommandBus {
    stop: tokio::sync::oneshot::Sender<()>,
    publisher: tokio::task::JoinHandle<()>,
}

impl CommandBus {
    /// Publishes what the command wrote that is still queued, and waits until NATS
    /// has it. Call once the command's writes are durable.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.publisher.await;
    }
}

/// Makes an operator command's app take leases like a node (its writes are fenced
/// like any node's). With the bus reachable, the command also forwards what a node
/// would forward (an account's erasure in a workspace another node sequences) and
/// publishes the events it writes, so that the nodes' clients see them live; it
/// serves nothing. Without it, the command writes only the workspaces whose lease
/// is free, and the nodes' clients see its writes on their next read of the log.
pub async fn join_for_command(app: &App, store: Arc<PgStore>, config: &ClusterSection) -> Option<CommandBus> {
    let leases = Arc::new(StoreLeases { store: store.clone(), taken: None });
    let url = config.bus.clone().unwrap_or_default();
    let nats = NatsConfig {
        node_name: format!("{}-command", config.node),
        ..NatsConfig::new(url.clone(), config.name.clone())
    };
    let bus = match NatsBus::connect(nats).await {
        Ok(bus) => Arc::new(bus),
        Err(e) => {
            tracing::warn!(error = %e, bus = %url, "the bus is unreachable: this command neither forwards nor publishes");
            drop(app.join_cluster(leases, None));
            return None;
        }
    };
    let node = Node::new(app, store, bus.clone(), config);
    let durable = app.join_cluster(leases, Some(Arc::new(AppForwarder(node))));
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let publisher = tokio::spawn(publish_until(bus, durable, stopped));
    Some(CommandBus { stop, publisher })
}

/// Connects to the bus and makes `app` a node of the cluster: leases, forwarding,
/// fan-out. Call [`Node::serve_with`] once the router exists.
pub async fn join(app: &App, store: Arc<PgStore>, config: &ClusterSection) -> anyhow::Result<Arc<Node>> {
    let url = config.bus.clone().unwrap_or_default();
    let nats =
        NatsConfig { node_name: config.node.clone(), ..NatsConfig::new(url.clone(), config.name.clone()) };
    let bus =
        NatsBus::connect(nats).await.map_err(|e| anyhow::anyhow!("connecting to the bus at {url}: {e}"))?;
    let bus = Arc::new(bus);
    let node = Node::new(app, store.clone(), bus.clone(), config);
    let (taken_tx, taken) = mpsc::unbounded_channel();
    let durable = app.join_cluster(
        Arc::new(StoreLeases { store, taken: Some(taken_tx) }),
        Some(Arc::new(AppForwarder(node.clone()))),
    );
    let deliveries = bus.subscribe().await.map_err(|e| anyhow::anyhow!("subscribing on the bus: {e}"))?;
    tokio::spawn(publish(bus.clone(), durable));
    tokio::spawn(follow(node.clone(), deliveries));
    tokio::spawn(serve_taken(node.clone(), taken));
    let ephemeral =
        bus.subscribe_ephemeral().await.map_err(|e| anyhow::anyhow!("subscribing on the bus: {e}"))?;
    // A restarted node is a new one to the others: what its previous process said
    // of its users expires with that process.
    let origin = format!("{}/{:x}", config.node, process_nonce());
    let outbox = app.relay_ephemeral(RELAY_QUEUE);
    tokio::spawn(relay_out(node.clone(), outbox, origin.clone()));
    tokio::spawn(relay_in(node.clone(), ephemeral, origin));
    tokio::spawn(watch(node.clone()));
    tracing::info!(bus = %url, node = %config.node, cluster = %config.name, "joined the cluster");
    Ok(node)
}

/// How often [`watch`] looks at the bus connection and the leases held.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// How long `confab_cluster_bus_lag_seconds` keeps the longest delay it saw: longer
/// than a scrape interval, so that a scrape does not miss a late burst.
const BUS_LAG_WINDOW: Duration = Duration::from_secs(30);

fn now_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since_epoch.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Keeps the node's bus state for `/healthz` (with the time of each change) and
/// the gauges `confab_cluster_bus_connected`, `confab_cluster_leases_held` and
/// `confab_cluster_bus_lag_seconds` (the longest delay of an event delivered here
/// from another node within the last [`BUS_LAG_WINDOW`], 0 if none was).
async fn watch(node: Arc<Node>) {
    let mut ticks = tokio::time::interval(WATCH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let window = usize::try_from(BUS_LAG_WINDOW.as_millis() / WATCH_EVERY.as_millis()).unwrap_or(1);
    let mut lags: VecDeque<u64> = VecDeque::with_capacity(window + 1);
    loop {
        ticks.tick().await;
        lags.push_back(node.bus_lag_ms.swap(0, Ordering::Relaxed));
        if lags.len() > window {
            lags.pop_front();
        }
        let lag_ms = lags.iter().copied().max().unwrap_or(0);
        metrics::gauge!("confab_cluster_bus_lag_seconds").set(lag_ms as f64 / 1000.0);
        let connected = node.bus.is_connected();
        {
            let mut health = node.bus_health.lock().unwrap_or_else(|e| e.into_inner());
            if health.connected != connected {
                *health = BusHealth { connected, since: now_millis() };
            }
        }
        metrics::gauge!("confab_cluster_bus_connected").set(if connected { 1.0 } else { 0.0 });
        // Workspaces' leases: the training schedule's is not one.
        let schedule = usize::from(node.store.holds_lease(confab_app::cluster::training_schedule_lease()));
        let held = node.store.leases_held().saturating_sub(schedule);
        metrics::gauge!("confab_cluster_leases_held").set(held as f64);
    }
}

impl Node {
    fn new(app: &App, store: Arc<PgStore>, bus: Arc<NatsBus>, config: &ClusterSection) -> Arc<Node> {
        let bus_health = Mutex::new(BusHealth { connected: bus.is_connected(), since: now_millis() });
        Arc::new(Node {
            app: app.clone(),
            store,
            bus,
            config: config.clone(),
            slots: Arc::new(Semaphore::new(usize::try_from(config.forward_concurrency).unwrap_or(256))),
            serving: Mutex::new(HashSet::new()),
            router: OnceLock::new(),
            bus_health,
            bus_lag_ms: AtomicU64::new(0),
        })
    }

    /// Notes how late `records` (events of other nodes, about to be delivered here)
    /// arrive: the time since their writer sequenced them (`at`). Nodes' clocks are
    /// assumed to agree (NTP) to well under the delays this is for.
    fn note_delivered(&self, records: &[EventRecord]) {
        let Some(oldest) = records.iter().map(|r| r.at).min() else { return };
        let lag = u64::try_from(now_millis().saturating_sub(oldest)).unwrap_or(0);
        self.bus_lag_ms.fetch_max(lag, Ordering::Relaxed);
    }

    /// The bus connection as `/healthz` reports it (no wait: kept by [`watch`]).
    pub fn bus_health(&self) -> BusHealth {
        *self.bus_health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The router that serves forwarded requests (the node's own, whole).
    pub fn serve_with(&self, router: axum::Router) {
        let _ = self.router.set(router);
    }

    fn forward_timeout(&self) -> Duration {
        Duration::from_millis(self.config.forward_timeout_ms)
    }

    fn max_bytes(&self) -> usize {
        usize::try_from(self.config.forward_max_bytes).unwrap_or(usize::MAX)
    }

    /// The workspace a write's path names, if it is one that is forwarded.
    fn workspace_of(&self, path: &str, headers: &axum::http::HeaderMap) -> Option<WorkspaceId> {
        let mut parts = path.strip_prefix("/api/v1/")?.split('/');
        let (kind, id) = (parts.next()?, parts.next()?);
        match kind {
            "workspaces" | "hooks" => id.parse().ok(),
            "channels" => self.app.workspace_of_channel(id.parse().ok()?),
            "messages" => self.app.workspace_of_message(id.parse().ok()?),
            "invites" => self.store.invite(id).ok().flatten().map(|invite| invite.workspace),
            // Files are kept per workspace and found through the caller's
            // workspaces (as the handler finds them): no caller, nothing to forward,
            // and the handler answers as it should. Whether they may read it is the
            // handler's question, asked once this node's copy of the workspace is
            // current (or by the holder).
            "files" => {
                let token = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
                let caller = self.app.authenticate(token.strip_prefix("Bearer ")?.trim()).ok()?;
                self.app.workspace_of_file(caller, id.parse().ok()?)
            }
            _ => None,
        }
    }

    /// Sends `payload` to `ws`'s lease holder. `Ok(None)`: this node holds the lease
    /// now (it was free), so the caller serves the request itself.
    async fn request(&self, ws: WorkspaceId, payload: Bytes) -> Result<Option<Bytes>, Error> {
        self.request_within(ws, payload, self.forward_timeout()).await
    }

    /// [`Node::request`], waiting at most `timeout` for the answer.
    async fn request_within(
        &self,
        ws: WorkspaceId,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Option<Bytes>, Error> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(no_answer());
            }
            match self.bus.request(ws, payload.clone(), left).await {
                Ok(answer) => return Ok(Some(answer)),
                // The holder has not subscribed yet, or it died and its lease has
                // not expired: look again, and take the lease once it is free.
                Err(BusError::NoResponder(_)) => {
                    tokio::time::sleep(pause.min(left)).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                    let app = self.app.clone();
                    let local = tokio::task::spawn_blocking(move || app.serves_workspace(ws)).await;
                    if let Ok(Ok(true)) = local {
                        return Ok(None);
                    }
                }
                Err(BusError::Timeout(..)) => return Err(no_answer()),
                Err(e) => {
                    tracing::warn!(error = %e, %ws, "forwarding a request failed");
                    return Err(no_answer());
                }
            }
        }
    }

    /// Runs a request for `ws` another node forwarded and encodes the answer.
    async fn execute(&self, ws: WorkspaceId, payload: Bytes) -> Bytes {
        let answer = match decode::<Envelope>(&payload) {
            Some((Envelope::Http(head), body)) => self.execute_http(head, body).await,
            Some((Envelope::Post { user, instance_admin, channel, post }, _)) => {
                let caller = Caller { user, instance_admin };
                let posted = self.app.post_message(caller, channel, post).await.map_err(|e| {
                    e.log();
                    e.to_client()
                });
                (Answer::Posted(Box::new(posted)), Bytes::new())
            }
            Some((Envelope::PostFiles { user, instance_admin, channel, files, text, thread_root }, _)) => {
                let caller = Caller { user, instance_admin };
                let posted =
                    self.app.post_handed_off(caller, channel, files, text, thread_root).await.map_err(|e| {
                        e.log();
                        e.to_client()
                    });
                (Answer::FilesPosted(Box::new(posted)), Bytes::new())
            }
            Some((Envelope::EraseMember { user }, _)) => {
                let erased = self.app.erase_member_here(ws, user).await.map_err(|e| {
                    e.log();
                    e.to_client()
                });
                (Answer::Erased(Box::new(erased)), Bytes::new())
            }
            Some((Envelope::UserUpdated { user }, _)) => {
                let logged = self.app.log_user_updated(ws, user).await.map_err(|e| {
                    e.log();
                    e.to_client()
                });
                (Answer::Done(logged), Bytes::new())
            }
            None => {
                tracing::warn!("dropped a forwarded request that did not parse");
                let e = Error::new(ErrorCode::InvalidRequest, "malformed forwarded request");
                (Answer::Posted(Box::new(Err(e))), Bytes::new())
            }
        };
        encode(&answer.0, &answer.1)
    }

    async fn execute_http(&self, head: HttpHead, body: Bytes) -> (Answer, Bytes) {
        let Some(router) = self.router.get().cloned() else {
            return http_error(Error::new(ErrorCode::Unavailable, "this node is starting"));
        };
        let mut request = Request::new(Body::from(body));
        let (Ok(method), Ok(uri)) = (head.method.parse::<Method>(), head.uri.parse::<axum::http::Uri>())
        else {
            return http_error(Error::new(ErrorCode::InvalidRequest, "malformed forwarded request"));
        };
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        for (name, value) in head.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                request.headers_mut().append(name, value);
            }
        }
        request.headers_mut().insert(
            HeaderName::from_static(FORWARDED_HEADER),
            HeaderValue::from_str(&self.config.node).unwrap_or(HeaderValue::from_static("node")),
        );
        request.extensions_mut().insert(ConnectInfo(head.peer));
        let response = match router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let Ok(body) = axum::body::to_bytes(body, self.max_bytes()).await else {
            return http_error(Error::new(ErrorCode::Unavailable, "the answer is too large to forward"));
        };
        let headers = copied_headers(&parts.headers);
        (Answer::Http { status: parts.status.as_u16(), headers }, body)
    }
}

/// The answer to a request the holder did not answer in time.
fn no_answer() -> Error {
    Error::new(
        ErrorCode::Unavailable,
        "the node serving this workspace did not answer; try again (forward_timeout)",
    )
}

fn http_error(error: Error) -> (Answer, Bytes) {
    let status = error.code.http_status();
    let body = serde_json::to_vec(&confab_protocol::http::ErrorBody { error }).unwrap_or_default();
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    (Answer::Http { status, headers }, Bytes::from(body))
}

/// Headers worth carrying across: all but those of one connection.
fn copied_headers(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    const HOP: &[&str] = &["connection", "content-length", "transfer-encoding", "keep-alive", "upgrade"];
    headers
        .iter()
        .filter(|(name, _)| !HOP.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
        .collect()
}

/// What goes to the holder: a request's head (its body follows the envelope), or
/// a WebSocket `send`.
#[derive(Serialize, Deserialize)]
enum Envelope {
    Http(HttpHead),
    Post {
        user: UserId,
        instance_admin: bool,
        channel: ChannelId,
        post: PostMessage,
    },
    /// An upload received by another node, whose files wait in the shared
    /// directory: post them (`App::post_handed_off`).
    PostFiles {
        user: UserId,
        instance_admin: bool,
        channel: ChannelId,
        files: Vec<HandedOff>,
        text: String,
        thread_root: Option<MessageId>,
    },
    /// A member changed their profile through another node: log `user.updated`.
    UserUpdated {
        user: UserId,
    },
    /// A member's account is being erased through another node: erase their data
    /// from the workspace.
    EraseMember {
        user: UserId,
    },
}

#[derive(Serialize, Deserialize)]
struct HttpHead {
    method: String,
    /// Path and query.
    uri: String,
    headers: Vec<(String, String)>,
    /// The client's address, as the forwarding node saw it.
    peer: SocketAddr,
}

/// What comes back: a response's head (its body follows), or a post's outcome.
#[derive(Serialize, Deserialize)]
enum Answer {
    Http { status: u16, headers: Vec<(String, String)> },
    Posted(Box<Result<Message, Error>>),
    FilesPosted(Box<Result<(Vec<FileInfo>, Message), Error>>),
    Done(Result<(), Error>),
    Erased(Box<Result<ErasureReport, Error>>),
}

/// `[head length: u32, big-endian][head as JSON][body]`.
fn encode<T: Serialize>(head: &T, body: &[u8]) -> Bytes {
    let head = serde_json::to_vec(head).unwrap_or_default();
    let mut out = BytesMut::with_capacity(4 + head.len() + body.len());
    out.put_u32(u32::try_from(head.len()).unwrap_or(u32::MAX));
    out.put_slice(&head);
    out.put_slice(body);
    out.freeze()
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Option<(T, Bytes)> {
    let len = usize::try_from(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?)).ok()?;
    let head = bytes.get(4..4 + len)?;
    Some((serde_json::from_slice(head).ok()?, bytes.slice(4 + len..)))
}

/// The forwarding layer on the node's router (see the module doc).
pub async fn forward(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    if request.headers().contains_key(FORWARDED_HEADER) {
        return next.run(request).await;
    }
    // Slack's API names its method in the path and its workspace in its arguments,
    // and writes over `GET` too.
    if let Some(method) = request.uri().path().strip_prefix("/api/slack/") {
        if !crate::slack::api::WRITES.contains(&method) {
            return next.run(request).await;
        }
        let method = method.to_string();
        // The body is read before a forwarding slot is taken: a slow client holds
        // its own connection only, never a slot other writes wait for.
        let (parts, body) = request.into_parts();
        let body = match read_body(&node, body).await {
            Ok(body) => body,
            Err(too_large) => return too_large,
        };
        let ws =
            crate::slack::api::write_workspace(&node.app, &method, parts.uri.query(), &parts.headers, &body);
        let elsewhere = ws.filter(|ws| matches!(node.app.serves_workspace(*ws), Ok(false)));
        let Some(ws) = elsewhere else {
            return next.run(Request::from_parts(parts, Body::from(body))).await;
        };
        let Ok(_slot) = node.slots.clone().acquire_owned().await else {
            return ApiError::from(no_answer()).into_response();
        };
        return send_to_holder(&node, ws, parts, body, next).await;
    }
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        // A read sees what any node acknowledged before it (see `catch_up_for_read`);
        // a file's too, whose reader may just have been added to its channel.
        let path = request.uri().path();
        if let Some(ws) = node.workspace_of(path, request.headers())
            && let Err(e) = node.app.catch_up_for_read(ws)
        {
            e.log();
        }
        return next.run(request).await;
    }
    if *request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    if is_upload(request.method(), request.uri().path()) {
        // Received here whichever node sequences the workspace: the content goes to
        // the shared directory and only the records are forwarded (`App::post_files`).
        // What this node checks before it reads the body (membership, the quota)
        // sees what any node acknowledged, as a read does.
        if let Some(ws) = node.workspace_of(request.uri().path(), request.headers())
            && let Err(e) = node.app.catch_up_for_read(ws)
        {
            e.log();
        }
        return next.run(request).await;
    }
    let Some(ws) = node.workspace_of(request.uri().path(), request.headers()) else {
        return next.run(request).await;
    };
    match node.app.serves_workspace(ws) {
        Ok(false) => {}
        // Here, or a failure the handler will meet and answer as it should.
        Ok(true) | Err(_) => return next.run(request).await,
    }
    let Ok(_slot) = node.slots.clone().acquire_owned().await else {
        return ApiError::from(no_answer()).into_response();
    };
    let (parts, body) = request.into_parts();
    let body = match read_body(&node, body).await {
        Ok(body) => body,
        Err(too_large) => return too_large,
    };
    send_to_holder(&node, ws, parts, body, next).await
}

/// Whether a request is an upload (`POST /api/v1/channels/{ch}/files`).
fn is_upload(method: &Method, path: &str) -> bool {
    let parts: Option<Vec<&str>> = path.strip_prefix("/api/v1/").map(|p| p.split('/').collect());
    *method == Method::POST && matches!(parts.as_deref(), Some(["channels", _, "files"]))
}

/// A request's body, up to what may be forwarded (else the `413` to answer).
async fn read_body(node: &Node, body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, node.max_bytes()).await.map_err(|_| {
        let e = Error::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "a request to a workspace served by another node carries at most {} bytes",
                node.max_bytes()
            ),
        );
        ApiError::from(e).into_response()
    })
}

/// Sends a request to `ws`'s lease holder (the caller holds a slot) and answers
/// with what it answered; runs it here if the lease came to this node meanwhile.
async fn send_to_holder(
    node: &Node,
    ws: WorkspaceId,
    parts: axum::http::request::Parts,
    body: Bytes,
    next: Next,
) -> Response {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
    let uri = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_string(), |pq| pq.to_string());
    let head =
        HttpHead { method: parts.method.to_string(), uri, headers: copied_headers(&parts.headers), peer };
    let forwarded = node.request(ws, encode(&Envelope::Http(head), &body)).await;
    count_forwarded(&forwarded);
    match forwarded {
        Ok(Some(answer)) => match decode::<Answer>(&answer) {
            Some((Answer::Http { status, headers }, body)) => {
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                for (name, value) in headers {
                    if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value))
                    {
                        response.headers_mut().append(name, value);
                    }
                }
                response
            }
            _ => ApiError::from(no_answer()).into_response(),
        },
        // The lease came to this node meanwhile: serve it here.
        Ok(None) => next.run(Request::from_parts(parts, Body::from(body))).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Counts a forwarded request's outcome: answered by the holder, served here after
/// all, or failed (503).
fn count_forwarded<T>(outcome: &Result<Option<T>, Error>) {
    let outcome = match outcome {
        Ok(Some(_)) => "answered",
        Ok(None) => "taken_over",
        Err(_) => "failed",
    };
    metrics::counter!("confab_cluster_forwarded_total", "outcome" => outcome).increment(1);
}

/// The app's writes to workspaces held elsewhere that are not HTTP requests naming
/// them: WebSocket sends, and profile changes announced in each of a member's
/// workspaces.
struct AppForwarder(Arc<Node>);

impl Forwarder for AppForwarder {
    fn user_updated(&self, ws: WorkspaceId, user: UserId) -> Forwarded<()> {
        let node = self.0.clone();
        Box::pin(async move {
            let _slot =
                node.slots.clone().acquire_owned().await.map_err(|_| AppError::Client(no_answer()))?;
            let forwarded = node.request(ws, encode(&Envelope::UserUpdated { user }, &[])).await;
            count_forwarded(&forwarded);
            match forwarded.map_err(AppError::Client)? {
                Some(answer) => match decode::<Answer>(&answer) {
                    Some((Answer::Done(done), _)) => done.map_err(AppError::Client),
                    _ => Err(AppError::Client(no_answer())),
                },
                None => node.app.log_user_updated(ws, user).await,
            }
        })
    }

    fn post_files(
        &self,
        ws: WorkspaceId,
        caller: Caller,
        channel: ChannelId,
        files: Vec<HandedOff>,
        text: String,
        thread_root: Option<MessageId>,
    ) -> Forwarded<(Vec<FileInfo>, Message)> {
        let node = self.0.clone();
        Box::pin(async move {
            let _slot =
                node.slots.clone().acquire_owned().await.map_err(|_| AppError::Client(no_answer()))?;
            let envelope = Envelope::PostFiles {
                user: caller.user,
                instance_admin: caller.instance_admin,
                channel,
                files: files.clone(),
                text: text.clone(),
                thread_root,
            };
            let forwarded = node.request(ws, encode(&envelope, &[])).await;
            count_forwarded(&forwarded);
            match forwarded.map_err(AppError::Client)? {
                Some(answer) => match decode::<Answer>(&answer) {
                    Some((Answer::FilesPosted(posted), _)) => (*posted).map_err(AppError::Client),
                    _ => Err(AppError::Client(no_answer())),
                },
                // The lease came here meanwhile: take the handoffs back and post here.
                None => node.app.post_handed_off(caller, channel, files, text, thread_root).await,
            }
        })
    }

    fn erase_member(&self, ws: WorkspaceId, user: UserId) -> Forwarded<ErasureReport> {
        let node = self.0.clone();
        Box::pin(async move {
            let _slot =
                node.slots.clone().acquire_owned().await.map_err(|_| AppError::Client(no_answer()))?;
            // A workspace's erasure rewrites every message of the member's: it may take
            // far longer than a forwarded request usually does.
            let timeout = node.forward_timeout().max(ERASE_TIMEOUT);
            let envelope = encode(&Envelope::EraseMember { user }, &[]);
            let forwarded = node.request_within(ws, envelope, timeout).await;
            count_forwarded(&forwarded);
            match forwarded.map_err(AppError::Client)? {
                Some(answer) => match decode::<Answer>(&answer) {
                    Some((Answer::Erased(erased), _)) => (*erased).map_err(AppError::Client),
                    _ => Err(AppError::Client(no_answer())),
                },
                None => node.app.erase_member_here(ws, user).await,
            }
        })
    }

    fn post(
        &self,
        ws: WorkspaceId,
        caller: Caller,
        channel: ChannelId,
        post: PostMessage,
    ) -> Forwarded<Message> {
        let node = self.0.clone();
        Box::pin(async move {
            let _slot =
                node.slots.clone().acquire_owned().await.map_err(|_| AppError::Client(no_answer()))?;
            let envelope = Envelope::Post {
                user: caller.user,
                instance_admin: caller.instance_admin,
                channel,
                post: post.clone(),
            };
            let forwarded = node.request(ws, encode(&envelope, &[])).await;
            count_forwarded(&forwarded);
            match forwarded.map_err(AppError::Client)? {
                Some(answer) => match decode::<Answer>(&answer) {
                    Some((Answer::Posted(posted), _)) => (*posted).map_err(AppError::Client),
                    _ => Err(AppError::Client(no_answer())),
                },
                None => node.app.post_message(caller, channel, post).await,
            }
        })
    }
}

/// Starts serving the forwarded requests of each workspace whose lease this node
/// takes.
async fn serve_taken(node: Arc<Node>, mut taken: mpsc::UnboundedReceiver<WorkspaceId>) {
    while let Some(ws) = taken.recv().await {
        let fresh = node.serving.lock().unwrap_or_else(|e| e.into_inner()).insert(ws);
        if fresh {
            tokio::spawn(serve_workspace(node.clone(), ws));
        }
    }
}

/// Serves `ws`'s forwarded requests while this node holds its lease. A failure to
/// subscribe (NATS unreachable) is retried while the lease is held: the other nodes
/// would otherwise get no answer for as long as this node renews it.
async fn serve_workspace(node: Arc<Node>, ws: WorkspaceId) {
    let mut retry = Duration::from_millis(100);
    while node.store.holds_lease(ws) {
        let mut requests = match node.bus.serve(ws).await {
            Ok(requests) => requests,
            Err(e) => {
                tracing::warn!(error = %e, %ws, "cannot serve the workspace's forwarded requests yet");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        let mut check = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                request = requests.next() => {
                    let Some(request) = request else { break };
                    let Ok(slot) = node.slots.clone().acquire_owned().await else { break };
                    let node = node.clone();
                    metrics::counter!("confab_cluster_served_total").increment(1);
                    tokio::spawn(async move {
                        let answer = node.execute(request.workspace, request.payload.clone()).await;
                        if let Err(e) = request.reply(answer).await {
                            tracing::warn!(error = %e, "answering a forwarded request failed");
                        }
                        drop(slot);
                    });
                }
                _ = check.tick() => if !node.store.holds_lease(ws) { break },
            }
        }
    }
    node.serving.lock().unwrap_or_else(|e| e.into_inner()).remove(&ws);
}

/// Publishes each durable batch's events for the other nodes, in order.
async fn publish(bus: Arc<NatsBus>, mut durable: mpsc::Receiver<Vec<EventRecord>>) {
    while let Some(events) = durable.recv().await {
        publish_batch(&bus, events).await;
    }
}

/// [`publish`] until `stop`, then what is still queued, and waits until NATS has
/// it (an operator command, before it exits).
async fn publish_until(
    bus: Arc<NatsBus>,
    mut durable: mpsc::Receiver<Vec<EventRecord>>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            biased;
            events = durable.recv() => match events {
                Some(events) => publish_batch(&bus, events).await,
                None => break,
            },
            _ = &mut stop => break,
        }
    }
    while let Ok(events) = durable.try_recv() {
        publish_batch(&bus, events).await;
    }
    if let Err(e) = bus.flush().await {
        tracing::warn!(error = %e, "the command's events may not have reached the bus");
    }
}

async fn publish_batch(bus: &NatsBus, events: Vec<EventRecord>) {
    for record in events {
        let payload = match serde_json::to_vec(&record) {
            Ok(payload) => Bytes::from(payload),
            Err(e) => {
                tracing::error!(error = %e, "an event could not be encoded for the bus");
                continue;
            }
        };
        let event = BusEvent { workspace: record.workspace, event_seq: record.event_seq, payload };
        metrics::counter!("confab_cluster_published_total").increment(1);
        if let Err(e) = bus.publish(event).await {
            // The other nodes find the gap and read the log.
            tracing::warn!(error = %e, "publishing an event on the bus failed");
        }
    }
}

/// Reads every workspace's events from the bus and delivers them to this node's
/// app, in order, each once, filling gaps from the event log.
async fn follow(node: Arc<Node>, mut deliveries: confab_bus::Deliveries) {
    let mut reorders: Reorders<WorkspaceId, EventRecord> = Reorders::new(ReorderConfig::default());
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            delivery = deliveries.next() => match delivery {
                Some(Delivery::Event(event)) => {
                    let Some(delivered) = node.app.delivered(event.workspace) else { continue };
                    let Ok(record) = serde_json::from_slice::<EventRecord>(&event.payload) else {
                        tracing::warn!(workspace = %event.workspace, "dropped an event from the bus that did not parse");
                        continue;
                    };
                    let reorder = reorders.workspace(event.workspace, || delivered);
                    // What this node delivered by itself (its own writes, a reload).
                    reorder.skip_to(delivered);
                    reorder.offer(event.event_seq, record, Instant::now());
                    let ready: Vec<EventRecord> = reorder.ready().map(|(_, record)| record).collect();
                    node.note_delivered(&ready);
                    node.app.deliver_from_peer(ready);
                }
                Some(Delivery::Lost(reason)) => {
                    metrics::counter!("confab_cluster_bus_losses_total").increment(1);
                    tracing::warn!(?reason, "the bus may have lost events: reading the log");
                    reorders.connection_lost();
                }
                Some(Delivery::Disconnected) => {}
                None => {
                    tracing::error!("the bus subscription ended: this node no longer hears the others");
                    return;
                }
            },
            _ = tick.tick() => catch_up(&node, &mut reorders).await,
        }
    }
}

/// Reads from the log what [`Reorders`] says is missing.
async fn catch_up(node: &Node, reorders: &mut Reorders<WorkspaceId, EventRecord>) {
    for (ws, asked) in reorders.take_catch_ups(Instant::now()) {
        let Some(reorder) = reorders.get_mut(&ws) else { continue };
        let want = match asked.through {
            Some(through) => {
                usize::try_from(through - asked.after).unwrap_or(CATCH_UP_PAGE).min(CATCH_UP_PAGE)
            }
            None => CATCH_UP_PAGE,
        };
        metrics::counter!("confab_cluster_catch_up_reads_total").increment(1);
        let store = node.app.store().clone();
        let read = tokio::task::spawn_blocking(move || store.events(ws, asked.after, want)).await;
        match read {
            Ok(Ok(events)) => {
                // The log was pruned past what this node delivered: what is gone is
                // gone (its clients resync when they resume), the rest follows.
                if let Some(first) = events.first()
                    && first.event_seq > asked.after + 1
                {
                    reorder.skip_to(first.event_seq - 1);
                }
                let reached_end =
                    events.len() < want || asked.through.is_some_and(|t| t - asked.after <= want as u64);
                let found = events.into_iter().map(|record| (record.event_seq, record));
                reorder.fill(asked, found, reached_end, Instant::now());
                if let Some(delivered) = node.app.delivered(ws) {
                    reorder.skip_to(delivered);
                }
                let ready: Vec<EventRecord> = reorder.ready().map(|(_, record)| record).collect();
                node.note_delivered(&ready);
                node.app.deliver_from_peer(ready);
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, %ws, "reading the event log to catch up failed");
                reorder.read_failed(asked);
            }
            Err(e) => {
                tracing::warn!(error = %e, "the event log read panicked");
                reorder.read_failed(asked);
            }
        }
    }
}

/// Ephemeral messages waiting for the relay task; more are dropped.
const RELAY_QUEUE: usize = 4096;

/// How often a node says it is alive on the ephemeral subject.
const ALIVE_EVERY: Duration = Duration::from_secs(2);

/// How long a node may stay silent before what it said of its users' presence is
/// forgotten.
const PEER_SILENCE: Duration = Duration::from_secs(7);

/// An ephemeral message on the bus: who sent it (the node's name and a per-process
/// nonce) and what it says.
#[derive(Serialize, Deserialize)]
struct EphemeralEnvelope {
    from: String,
    message: Ephemeral,
}

/// A number that differs between two processes of one node.
fn process_nonce() -> u64 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// At most `per_sec` takes in any second (a fixed window: a burst at a window's
/// edge may pass twice as many, which is fine for a cap on lossy traffic).
struct Budget {
    per_sec: u64,
    window: Instant,
    used: u64,
}

impl Budget {
    fn new(per_sec: u64) -> Self {
        Budget { per_sec, window: Instant::now(), used: 0 }
    }

    fn take(&mut self) -> bool {
        if self.window.elapsed() >= Duration::from_secs(1) {
            self.window = Instant::now();
            self.used = 0;
        }
        self.used += 1;
        self.used <= self.per_sec
    }
}

async fn publish_ephemeral(bus: &NatsBus, from: &str, message: Ephemeral) {
    let envelope = EphemeralEnvelope { from: from.to_string(), message };
    let Ok(payload) = serde_json::to_vec(&envelope) else { return };
    match bus.publish_ephemeral(Bytes::from(payload)).await {
        Ok(()) => metrics::counter!("confab_cluster_ephemeral_published_total").increment(1),
        Err(e) => tracing::debug!(error = %e, "publishing an ephemeral message failed"),
    }
}

/// Publishes this node's typing and presence for the others, and that it is alive.
async fn relay_out(node: Arc<Node>, mut outbox: mpsc::Receiver<Ephemeral>, origin: String) {
    let mut typing = Budget::new(node.config.relay_typing_per_sec);
    let mut alive = tokio::time::interval(ALIVE_EVERY);
    loop {
        tokio::select! {
            message = outbox.recv() => {
                let Some(message) = message else { return };
                if matches!(message, Ephemeral::Typing { .. }) && !typing.take() {
                    metrics::counter!("confab_cluster_ephemeral_dropped_total", "reason" => "cap").increment(1);
                    continue;
                }
                publish_ephemeral(&node.bus, &origin, message).await;
            }
            _ = alive.tick() => publish_ephemeral(&node.bus, &origin, Ephemeral::Alive).await,
        }
    }
}

/// Delivers the other nodes' typing and presence to this node's connections, and
/// forgets what silent nodes said.
async fn relay_in(node: Arc<Node>, mut messages: confab_bus::EphemeralMessages, origin: String) {
    let mut typing = Budget::new(node.config.relay_typing_per_sec);
    let mut sweep = tokio::time::interval(ALIVE_EVERY);
    loop {
        tokio::select! {
            payload = messages.next() => {
                let Some(payload) = payload else {
                    tracing::error!("the bus's ephemeral subscription ended: no typing or presence from other nodes");
                    return;
                };
                let Ok(envelope) = serde_json::from_slice::<EphemeralEnvelope>(&payload) else {
                    tracing::warn!("dropped an ephemeral message from the bus that did not parse");
                    continue;
                };
                if envelope.from == origin {
                    continue;
                }
                if matches!(envelope.message, Ephemeral::Typing { .. }) && !typing.take() {
                    metrics::counter!("confab_cluster_ephemeral_dropped_total", "reason" => "cap").increment(1);
                    continue;
                }
                metrics::counter!("confab_cluster_ephemeral_received_total").increment(1);
                if node.app.deliver_ephemeral_from_peer(&envelope.from, envelope.message) {
                    // A node this one did not know: tell everyone who is here.
                    let (node, origin) = (node.clone(), origin.clone());
                    tokio::spawn(async move {
                        for message in node.app.local_presences() {
                            publish_ephemeral(&node.bus, &origin, message).await;
                        }
                    });
                }
            }
            _ = sweep.tick() => node.app.forget_silent_peers(PEER_SILENCE),
        }
    }
}
