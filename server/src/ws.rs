//! The WebSocket endpoint (`GET /api/v1/ws`): the framing of design.md section 5.
//! The frames are the types of `confab_protocol::ws`: each client frame is parsed
//! once, straight into a [`ClientFrame`]; only a refused one is read again, leniently,
//! to say why and echo its `req` ([`RefusedFrame`]).
//!
//! Each connection runs two tasks. The reader authenticates the first frame, replays
//! what a resuming client missed, then handles client frames (`send`, `typing`,
//! `presence`, `ping`) with several sends in flight at once. The writer drains the
//! connection's replies first, then its hub queue, dropping live events the replay
//! already covered. When the hub marks the connection lagging, the writer closes it
//! with [`CLOSE_RESUME`] so the client reconnects and resumes from the log.
//!
//! Bounds (see docs/security.md): the replay streams page by page within
//! `websocket.replay_budget_bytes`; replies wait in a queue of
//! `websocket.direct_queue_frames` (full: closed with [`CLOSE_RESUME`]); a write that
//! makes no progress for `websocket.write_timeout_secs` drops the connection; only a
//! pong answering one of the server's own pings proves the peer is alive, so a client
//! that sends but never reads is closed with [`CLOSE_TIMEOUT`]; input echoed in errors
//! is cut to a few dozen characters.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use confab_app::AppError;
use confab_app::hub::{Outbound, Subscription};
use confab_app::{App, Caller, PostMessage, Replay};
use confab_core::{Error, ErrorCode, WorkspaceId};
use confab_protocol::ws::{
    ClientFrame, PingFrame, PresenceStatus, Req, ResumeFrom, SendFrame, ServerFrame, encode_ack,
};
use futures_util::SinkExt;
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, SplitSink, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota};
use serde::Deserialize;
use tokio::sync::{Notify, mpsc};

/// Close code telling the client to reconnect and resume from its last `event_seq`.
pub const CLOSE_RESUME: u16 = 4000;
/// Close code for a connection that did not authenticate.
pub const CLOSE_UNAUTHENTICATED: u16 = 4001;
/// Close code for a peer that stopped answering pings.
pub const CLOSE_TIMEOUT: u16 = 4002;

/// Most characters of a client's input (a frame `type`, a parse error) echoed back.
const ECHO_CHARS: usize = 48;
/// Longest parse error message sent back, in characters.
const PARSE_ERROR_CHARS: usize = 160;

pub async fn upgrade(State(app): State<App>, ws: WebSocketUpgrade) -> Response {
    let max = app.config().limits.max_frame_bytes;
    // Small buffers keep idle connections cheap; writes go straight to the socket.
    ws.read_buffer_size(app.config().websocket.read_buffer_bytes)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| connection(app, socket))
}

/// What the server can still tell of a frame that is not a [`ClientFrame`]: its
/// `type` and `req`, read leniently to explain the refusal. Only a refused frame is
/// read this way; a good one is parsed once, straight into its variant.
#[derive(Deserialize)]
struct RefusedFrame {
    r#type: String,
    #[serde(default)]
    req: Option<serde_json::Value>,
}

impl RefusedFrame {
    fn read(raw: &str) -> Option<RefusedFrame> {
        serde_json::from_str(raw).ok()
    }

    /// The `req` to echo, if it has the documented shape (checked by the caller).
    fn req(&self) -> Option<Req> {
        match &self.req {
            Some(serde_json::Value::String(r)) => Some(Req::Text(r.clone())),
            Some(serde_json::Value::Number(n)) => Some(Req::Number(n.clone())),
            _ => None,
        }
    }
}

/// The `ack` of a send, serialised straight from the message.
fn ack_frame(req: &str, message: &confab_core::Message) -> Message {
    match encode_ack(req, message) {
        Ok(text) => Message::Text(Utf8Bytes::from(text)),
        Err(e) => error_frame(Some(Req::from(req)), AppError::from(e)),
    }
}

/// A frame as a text message.
fn text(frame: &ServerFrame) -> Message {
    match serde_json::to_string(frame) {
        Ok(text) => Message::Text(Utf8Bytes::from(text)),
        Err(e) => {
            AppError::from(e).log();
            Message::Text(Utf8Bytes::from_static(UNENCODABLE))
        }
    }
}

/// Sent instead of a frame that could not be encoded (its cause is logged).
const UNENCODABLE: &str = r#"{"type":"error","error":{"code":"internal","message":"internal error; the server log has the cause"}}"#;

/// An `error` frame; a server failure's cause is logged here, once.
fn error_frame(req: Option<Req>, error: impl Into<AppError>) -> Message {
    let error: AppError = error.into();
    error.log();
    text(&ServerFrame::error(req, error.to_client()))
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
}

/// The answer to a frame that is not JSON of a known shape. serde's message may
/// quote the input: it is cut short.
fn bad_frame(e: &serde_json::Error) -> Error {
    Error::new(ErrorCode::InvalidRequest, format!("bad frame: {}", clip(&e.to_string(), PARSE_ERROR_CHARS)))
}

/// At most `max` characters of `s`, with `…` when cut.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_string(),
    }
}

/// Sends one message, giving up after `timeout` without progress.
async fn send_timed(sink: &mut Sink, message: Message, timeout: Duration) -> bool {
    matches!(tokio::time::timeout(timeout, sink.send(message)).await, Ok(Ok(())))
}

/// The replies of a connection (acks, errors, pongs, pings) on their way to the
/// writer, in a bounded queue: when it is full the client is not reading, and the
/// writer is told to close with the resume code.
struct Replies {
    /// Boxed: a queue's first block of slots is allocated with it, and a boxed slot
    /// is 8 bytes where a `Message` is 48, on every idle connection.
    tx: mpsc::Sender<Box<Message>>,
    lagged: Arc<Notify>,
}

impl Replies {
    /// Queues a reply; false if the connection is done (queue full or writer gone).
    fn send(&self, message: Message) -> bool {
        match self.tx.try_send(Box::new(message)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("confab_ws_reply_queue_full_total").increment(1);
                self.lagged.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// One connection's task. What its futures hold is most of what an idle connection
/// costs (measured with `size_of_val`):
/// - the steps that run once (the `auth` frame, the hello, the replay) run in a boxed
///   future of their own, freed before the read loop starts: what stays is the read
///   loop's state (1.2 KB), not the largest state any step needed (2.1 KB);
/// - that state is boxed too, from a plain function: axum's upgrade task holds the
///   future it is given inline for the connection's life, and an `async fn` kept room
///   for its arguments (the socket) beside its later steps' state (3 KB in all; now
///   160 bytes).
fn connection(app: App, socket: WebSocket) -> impl Future<Output = ()> {
    let open = Box::pin(open(app, socket));
    async move {
        if let Some(open) = open.await {
            Box::pin(serve(open)).await;
        }
    }
}

/// An authenticated connection, registered with the hub, its writer running.
struct OpenConnection {
    app: App,
    caller: Caller,
    conn: u64,
    stream: futures_util::stream::SplitStream<WebSocket>,
    direct: Replies,
    writer: tokio::task::JoinHandle<bool>,
    session_end: SessionEnd,
}

/// Authenticates the peer, registers with the hub, says hello, replays what a
/// resuming client missed and starts the writer; `None` if the connection ended.
async fn open(app: App, socket: WebSocket) -> Option<OpenConnection> {
    let (mut sink, mut stream) = socket.split();
    let ws_config = &app.config().websocket;

    // 1. The first frame must be `auth`.
    let first = tokio::time::timeout(Duration::from_secs(ws_config.auth_timeout_secs), stream.next()).await;
    let raw = match first {
        Ok(Some(Ok(Message::Text(raw)))) => raw,
        Ok(Some(Ok(_))) => {
            let e = Error::new(ErrorCode::NotAuthenticatedYet, "the first frame must be a text `auth` frame");
            let _ = sink.send(error_frame(None, e)).await;
            let _ = sink.send(close(CLOSE_UNAUTHENTICATED, "authenticate first")).await;
            return None;
        }
        Ok(_) => return None,
        Err(_) => {
            let _ = sink.send(close(CLOSE_UNAUTHENTICATED, "no auth frame in time")).await;
            return None;
        }
    };
    let auth = match serde_json::from_str::<ClientFrame>(&raw) {
        Ok(ClientFrame::Auth(auth)) => app.authenticate_session(&auth.token).map(|session| (session, auth)),
        Ok(_) => Err(not_authenticated_yet().into()),
        Err(e) => match RefusedFrame::read(&raw) {
            Some(frame) if frame.r#type != "auth" => Err(not_authenticated_yet().into()),
            _ => Err(bad_frame(&e).into()),
        },
    };
    let (session, auth) = match auth {
        Ok(ok) => ok,
        Err(e) => {
            let _ = sink.send(error_frame(None, e)).await;
            let _ = sink.send(close(CLOSE_UNAUTHENTICATED, "authentication failed")).await;
            return None;
        }
    };

    // 2. Register with the hub, say hello, replay what a resuming client missed.
    let caller = session.caller;
    let (hello, subscription) = match app.connect(&session) {
        Ok(ok) => ok,
        Err(e) => {
            let _ = sink.send(error_frame(None, e)).await;
            return None;
        }
    };
    let Subscription { id: conn, events, lagged, revoked } = subscription;
    // Room for the ack of every send in flight on top of the other replies: a client
    // that reads is never closed because its acks arrived together.
    let reply_slots = ws_config.direct_queue_frames.max(1) + ws_config.max_inflight_sends.max(1);
    let (direct, direct_rx) = mpsc::channel::<Box<Message>>(reply_slots);
    let write_timeout = Duration::from_secs(ws_config.write_timeout_secs.max(1));
    let mut watermarks: HashMap<WorkspaceId, u64> = HashMap::new();
    for w in &hello.workspaces {
        watermarks.insert(w.id, w.event_seq);
    }
    // The hello and the replay go out before anything live, in order; live events
    // meanwhile wait in the connection's hub queue.
    let hello = text(&ServerFrame::Hello { user: hello.user, workspaces: hello.workspaces });
    let replayed = match send_timed(&mut sink, hello, write_timeout).await {
        true => replay(&app, caller, auth.resume, &mut watermarks, &mut sink, ws_config).await,
        false => false,
    };
    if !replayed {
        app.disconnect(caller, conn);
        return None;
    }
    let close_timeout = Duration::from_secs(ws_config.close_timeout_secs.max(1));
    let direct = Replies { tx: direct, lagged: lagged.clone() };
    let timeouts = WriteTimeouts { close: close_timeout, write: write_timeout };
    let writer = tokio::spawn(write_loop(sink, events, direct_rx, lagged, watermarks, timeouts));
    let session_end = SessionEnd { revoked, expires_at: session.expires_at, token_hash: session.token_hash };
    Some(OpenConnection { app, caller, conn, stream, direct, writer, session_end })
}

/// 3. Handles client frames until the peer or the writer goes away, then closes.
async fn serve(open: OpenConnection) {
    let OpenConnection { app, caller, conn, mut stream, direct, writer, session_end } = open;
    let ws_config = &app.config().websocket;
    read_loop(&app, caller, conn, &mut stream, &direct, ws_config, session_end).await;
    app.disconnect(caller, conn);
    drop(direct);
    // Keep reading, and discarding, until the writer is done and the peer has closed
    // (at most close_timeout_secs): a socket closed with the peer's frames still unread
    // in its buffer is reset, and a reset makes the peer's kernel discard what it had
    // not read yet — our close frame with its code among it.
    // Not after a write that timed out: that peer is dropped at once.
    let close_timeout = Duration::from_secs(ws_config.close_timeout_secs.max(1));
    let drain = async { while let Some(Ok(_)) = stream.next().await {} };
    let _ = tokio::time::timeout(close_timeout, async {
        if writer.await.unwrap_or(false) {
            drain.await;
        }
    })
    .await;
}

/// Replays what a resuming client missed, straight to the socket: each of the user's
/// workspaces at most once (from the earliest `after` named for it), a page of the
/// log at a time, within `websocket.replay_budget_bytes` for the whole connection. A
/// workspace whose replay would go past the budget gets `resync` instead of the rest.
/// Returns whether the socket is still usable.
async fn replay(
    app: &App,
    caller: Caller,
    resume: Vec<ResumeFrom>,
    watermarks: &mut HashMap<WorkspaceId, u64>,
    sink: &mut Sink,
    config: &confab_app::config::WebSocketConfig,
) -> bool {
    let write_timeout = Duration::from_secs(config.write_timeout_secs.max(1));
    // Deduplicate and keep only the user's workspaces: the list is never longer than
    // the `hello`, however long the frame was.
    let mut wanted: Vec<(WorkspaceId, u64)> = Vec::new();
    let mut index: HashMap<WorkspaceId, usize> = HashMap::new();
    let mut unknown = 0usize;
    for r in resume {
        if !watermarks.contains_key(&r.workspace) {
            unknown += 1;
            continue;
        }
        match index.get(&r.workspace) {
            Some(&i) => wanted[i].1 = wanted[i].1.min(r.after),
            None => {
                index.insert(r.workspace, wanted.len());
                wanted.push((r.workspace, r.after));
            }
        }
    }
    drop(index);
    if unknown > 0 {
        let e = Error::new(
            ErrorCode::WorkspaceNotFound,
            format!("{unknown} resume entries name workspaces you are not a member of"),
        );
        if !send_timed(sink, error_frame(None, e), write_timeout).await {
            return false;
        }
    }
    let mut budget = config.replay_budget_bytes;
    for (ws, after) in wanted {
        let upto = watermarks.get(&ws).copied().unwrap_or(0);
        // A client resuming from further on than this node has delivered (it was on
        // the node that sequences the workspace, and this one has not heard all of
        // it yet) has what lies between: those events, when they reach this node,
        // are not sent again.
        if after > upto {
            watermarks.insert(ws, after);
        }
        let mut cursor = match app.replay(caller, ws, after, upto) {
            Ok(Replay::Events(cursor)) => cursor,
            Ok(Replay::Resync) => {
                if !send_timed(sink, resync_frame(ws), write_timeout).await {
                    return false;
                }
                continue;
            }
            Err(e) => {
                if !send_timed(sink, error_frame(None, e), write_timeout).await {
                    return false;
                }
                continue;
            }
        };
        'pages: while !cursor.is_done() {
            let page = match app.replay_page(&mut cursor) {
                Ok(page) => page,
                Err(e) => {
                    if !send_timed(sink, error_frame(None, e), write_timeout).await {
                        return false;
                    }
                    break 'pages;
                }
            };
            for frame in page {
                if frame.len() > budget {
                    // Over budget: the client refetches this workspace over HTTP; the
                    // events it was already sent are harmless before a resync.
                    budget = 0;
                    metrics::counter!("confab_ws_replay_over_budget_total").increment(1);
                    if !send_timed(sink, resync_frame(ws), write_timeout).await {
                        return false;
                    }
                    break 'pages;
                }
                budget -= frame.len();
                let Ok(frame) = Utf8Bytes::try_from(frame) else { continue };
                if !send_timed(sink, Message::Text(frame), write_timeout).await {
                    return false;
                }
            }
        }
    }
    true
}

fn resync_frame(workspace: WorkspaceId) -> Message {
    text(&ServerFrame::Resync { workspace })
}

fn bad_req() -> Error {
    Error::invalid_field("req", "1 to 64 printable ASCII characters, or a number")
}

fn already_authenticated() -> Error {
    Error::new(ErrorCode::InvalidRequest, "already authenticated")
}

fn not_authenticated_yet() -> Error {
    Error::new(ErrorCode::NotAuthenticatedYet, "the first frame must be `auth`")
}

/// What ends a connection's session: the hub's signal that it was signed out (or
/// signed out everywhere, or its password changed), or its expiry.
struct SessionEnd {
    revoked: Arc<Notify>,
    expires_at: confab_core::Millis,
    token_hash: confab_app::hub::SessionHash,
}

impl SessionEnd {
    /// Whether the session still stands, as the store says. Asked at every ping on
    /// a node of a cluster: the word that another node ended it travels on a lossy
    /// bus, and this bounds what a lost one costs to a ping interval. A failed read
    /// is not an ending.
    fn still_current(&self, app: &App) -> bool {
        !app.sessions_end_elsewhere() || app.session_is_current(&self.token_hash).unwrap_or(true)
    }

    /// When the session expires, as a deadline of the runtime's clock.
    fn deadline(&self) -> tokio::time::Instant {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let left = u64::try_from(self.expires_at.saturating_sub(now_ms)).unwrap_or(0);
        // Far-off expiries are capped so the deadline cannot overflow the clock.
        tokio::time::Instant::now() + Duration::from_millis(left.min(u64::from(u32::MAX)))
    }
}

/// A `send` frame, posted: resolves to its `req` and the post's outcome.
async fn post(
    app: App,
    caller: Caller,
    frame: SendFrame,
    in_order: Arc<tokio::sync::Mutex<()>>,
) -> (String, Result<confab_core::Message, AppError>) {
    let post =
        PostMessage { text: frame.text, thread_root: frame.thread_root, client_msg_id: frame.client_msg_id };
    // On a node of a cluster, each send takes the connection's turn, in send order,
    // and goes where its workspace is sequenced then.
    (frame.req, app.post_message_anywhere(caller, frame.channel, post, &in_order).await)
}

/// Reads the peer's frames until it leaves, its session ends or the writer stops.
async fn read_loop(
    app: &App,
    caller: Caller,
    conn: u64,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    direct: &Replies,
    config: &confab_app::config::WebSocketConfig,
    session_end: SessionEnd,
) {
    let expiry = tokio::time::sleep_until(session_end.deadline());
    tokio::pin!(expiry);
    let ping_every = Duration::from_secs(config.ping_interval_secs.max(1));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let mut connection = Connection::new(app, caller, conn, direct, config);
    // Boxed: a `FuturesUnordered` allocates with itself an empty slot the size of
    // one of its futures, and a send's future is 2.5 KB: that was on every connection
    // for its whole life. FuturesUnordered polls new futures in the order they were
    // pushed, so on a node of a cluster sends queue for their turn in send order.
    let mut inflight: FuturesUnordered<BoxFuture<'static, (String, Result<confab_core::Message, AppError>)>> =
        FuturesUnordered::new();
    let forwarded_in_order = Arc::new(tokio::sync::Mutex::new(()));
    loop {
        let can_read = inflight.len() < config.max_inflight_sends.max(1);
        let flow = tokio::select! {
            incoming = stream.next(), if can_read => match incoming {
                Some(Ok(message)) => {
                    let flow = connection.on_message(message);
                    if let Some(frame) = connection.to_post.take() {
                        inflight.push(Box::pin(post(app.clone(), caller, frame, forwarded_in_order.clone())));
                    }
                    flow
                }
                _ => ControlFlow::Break(()),
            },
            Some((req, result)) = inflight.next(), if !inflight.is_empty() => connection.on_sent(req, result),
            _ = ping.tick() => match session_end.still_current(app) {
                true => connection.on_tick(ping_every),
                false => connection.close(CLOSE_UNAUTHENTICATED, "signed out"),
            },
            () = session_end.revoked.notified() => connection.close(CLOSE_UNAUTHENTICATED, "signed out"),
            () = &mut expiry => connection.close(CLOSE_UNAUTHENTICATED, "session expired"),
            () = direct.tx.closed() => ControlFlow::Break(()),
        };
        if flow.is_break() {
            return;
        }
    }
}

/// What the reader of one connection keeps while it lives, with a method per kind of
/// input. Each returns whether to go on.
struct Connection<'a> {
    app: &'a App,
    caller: Caller,
    conn: u64,
    direct: &'a Replies,
    config: &'a confab_app::config::WebSocketConfig,
    frame_limiter: DefaultDirectRateLimiter,
    /// Only a pong carrying one of our recent ping payloads counts as hearing from
    /// the peer: frames it sends prove nothing about whether it reads.
    pings: PingPayloads,
    last_heard: Instant,
    last_active: Instant,
    away: bool,
    last_rate_error: Option<Instant>,
    /// A `send` frame just read, for the loop to post.
    to_post: Option<SendFrame>,
}

impl<'a> Connection<'a> {
    fn new(
        app: &'a App,
        caller: Caller,
        conn: u64,
        direct: &'a Replies,
        config: &'a confab_app::config::WebSocketConfig,
    ) -> Self {
        let limits = &app.config().limits;
        let frame_limiter = DefaultDirectRateLimiter::direct(
            Quota::per_second(NonZeroU32::new(limits.frames_per_second.max(1)).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(limits.frame_burst.max(1)).unwrap_or(NonZeroU32::MIN)),
        );
        Connection {
            app,
            caller,
            conn,
            direct,
            config,
            frame_limiter,
            pings: PingPayloads::new(conn),
            last_heard: Instant::now(),
            last_active: Instant::now(),
            away: false,
            last_rate_error: None,
            to_post: None,
        }
    }

    /// Queues a reply; stops if the connection is done.
    fn reply(&self, frame: Message) -> ControlFlow<()> {
        match self.direct.send(frame) {
            true => ControlFlow::Continue(()),
            false => ControlFlow::Break(()),
        }
    }

    fn close(&self, code: u16, reason: &'static str) -> ControlFlow<()> {
        let _ = self.direct.send(close(code, reason));
        ControlFlow::Break(())
    }

    /// One WebSocket message from the peer.
    fn on_message(&mut self, message: Message) -> ControlFlow<()> {
        match message {
            Message::Text(raw) => self.on_frame(&raw),
            Message::Binary(_) => {
                let e = Error::new(ErrorCode::InvalidRequest, "frames are JSON text, not binary");
                self.reply(error_frame(None, e))
            }
            Message::Close(_) => ControlFlow::Break(()),
            Message::Pong(payload) => {
                if self.pings.answers(&payload) {
                    self.last_heard = Instant::now();
                }
                ControlFlow::Continue(())
            }
            Message::Ping(_) => ControlFlow::Continue(()),
        }
    }

    /// One JSON frame: rate-checked, parsed into a [`ClientFrame`], its `req`
    /// checked, then handled by type.
    fn on_frame(&mut self, raw: &str) -> ControlFlow<()> {
        if self.frame_limiter.check().is_err() {
            // One error a second at most, so a flood is not echoed back.
            if self.last_rate_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                self.last_rate_error = Some(Instant::now());
                return self.reply(error_frame(None, Error::rate_limited(1)));
            }
            return ControlFlow::Continue(());
        }
        let frame = match serde_json::from_str::<ClientFrame>(raw) {
            Ok(frame) => frame,
            Err(e) => return self.on_refused(raw, &e),
        };
        // `req` is echoed back: hold it to the documented shape.
        let req = match &frame {
            ClientFrame::Send(f) => Some(f.req.as_str()),
            ClientFrame::Ping(PingFrame { req: Some(Req::Text(r)) }) => Some(r.as_str()),
            _ => None,
        };
        if req.is_some_and(|r| self.app.limits_check_client_id("req", r).is_err()) {
            return self.reply(error_frame(None, bad_req()));
        }
        if !matches!(frame, ClientFrame::Ping(_)) {
            self.heard_from_user();
        }
        let (app, caller) = (self.app, self.caller);
        match frame {
            ClientFrame::Send(frame) => {
                self.to_post = Some(frame);
                ControlFlow::Continue(())
            }
            ClientFrame::Typing(frame) => match app.typing(caller, frame.channel, frame.thread_root) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => self.reply(error_frame(None, e)),
            },
            ClientFrame::Presence(frame) => {
                self.away = frame.status == PresenceStatus::Away;
                app.set_away(caller, self.conn, self.away);
                ControlFlow::Continue(())
            }
            ClientFrame::Ping(PingFrame { req }) => self.reply(text(&ServerFrame::Pong { req })),
            ClientFrame::Auth(_) => self.reply(error_frame(None, already_authenticated())),
        }
    }

    /// A frame that is not a [`ClientFrame`]: says why, echoing its `req` if it has
    /// a usable one, as it would for a good frame of its type.
    fn on_refused(&mut self, raw: &str, error: &serde_json::Error) -> ControlFlow<()> {
        let Some(frame) = RefusedFrame::read(raw) else {
            return self.reply(error_frame(None, bad_frame(error)));
        };
        let req_ok = match &frame.req {
            None | Some(serde_json::Value::Number(_)) => true,
            Some(serde_json::Value::String(r)) => self.app.limits_check_client_id("req", r).is_ok(),
            Some(_) => false,
        };
        if !req_ok {
            return self.reply(error_frame(None, bad_req()));
        }
        if frame.r#type != "ping" {
            self.heard_from_user();
        }
        let e = match frame.r#type.as_str() {
            "auth" => already_authenticated(),
            known if ClientFrame::TYPES.contains(&known) => bad_frame(error),
            other => Error::new(
                ErrorCode::UnknownFrame,
                format!("unknown frame type {:?}", clip(other, ECHO_CHARS)),
            ),
        };
        self.reply(error_frame(frame.req(), e))
    }

    /// A frame other than `ping` arrived: the user is active, so no longer away.
    fn heard_from_user(&mut self) {
        self.last_active = Instant::now();
        if self.away {
            self.away = false;
            self.app.set_away(self.caller, self.conn, false);
        }
    }

    /// A send finished: its `ack` or its error.
    fn on_sent(&self, req: String, result: Result<confab_core::Message, AppError>) -> ControlFlow<()> {
        let frame = match result {
            Ok(message) => ack_frame(&req, &message),
            Err(e) => error_frame(Some(Req::Text(req)), e),
        };
        self.reply(frame)
    }

    /// The ping interval: close a peer that stopped answering, mark an idle one
    /// away, ping again.
    fn on_tick(&mut self, ping_every: Duration) -> ControlFlow<()> {
        if self.last_heard.elapsed() > ping_every.saturating_mul(3) {
            return self.close(CLOSE_TIMEOUT, "no answer to pings");
        }
        if !self.away && self.last_active.elapsed() > Duration::from_secs(self.config.away_after_secs.max(1))
        {
            self.away = true;
            self.app.set_away(self.caller, self.conn, true);
        }
        self.reply(Message::Ping(self.pings.next()))
    }
}

type Sink = SplitSink<WebSocket, Message>;

/// The payloads of a connection's pings: a per-connection secret plus a counter, so
/// a pong proves the peer read one of the last few pings.
struct PingPayloads {
    secret: u64,
    sent: std::cell::Cell<u64>,
}

impl PingPayloads {
    /// Pings whose pong still counts (the peer may answer a little late).
    const WINDOW: u64 = 3;

    fn new(conn: u64) -> Self {
        use std::hash::BuildHasher;
        let secret = std::collections::hash_map::RandomState::new().hash_one(conn);
        PingPayloads { secret, sent: std::cell::Cell::new(0) }
    }

    fn next(&self) -> axum::body::Bytes {
        let n = self.sent.get() + 1;
        self.sent.set(n);
        axum::body::Bytes::copy_from_slice(&(n ^ self.secret).to_be_bytes())
    }

    fn answers(&self, payload: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 8]>::try_from(payload) else { return false };
        let n = u64::from_be_bytes(bytes) ^ self.secret;
        let sent = self.sent.get();
        n >= 1 && n <= sent && sent - n < Self::WINDOW
    }
}

/// How long the writer waits on the socket.
struct WriteTimeouts {
    /// For the close frame of a lagging connection.
    close: Duration,
    /// For any other write to make progress.
    write: Duration,
}

/// Writes replies and events to the socket until the connection ends. Returns
/// whether it ended with a close (the peer may still answer it), not a stuck write.
async fn write_loop(
    mut sink: Sink,
    mut events: mpsc::Receiver<std::sync::Arc<Outbound>>,
    mut direct: mpsc::Receiver<Box<Message>>,
    lagged: Arc<Notify>,
    mut watermarks: HashMap<WorkspaceId, u64>,
    timeouts: WriteTimeouts,
) -> bool {
    let close_timeout = timeouts.close;
    let resume = close(CLOSE_RESUME, "too far behind: resume");
    // The hub drops the event queue when the reader ends the connection; a close
    // frame the reader queued must still go out, so replies drain until they end.
    let mut events_open = true;
    // One wait on the lag signal for the connection's life, registered once: a fresh
    // `notified()` for each of three looks per frame took the signal's lock six times.
    let lag = lagged.notified();
    let mut lag = std::pin::pin!(lag);
    lag.as_mut().enable();
    loop {
        // The lag signal, replies and events in random order: a client with many
        // sends in flight does not starve its own event queue into overflowing, and a
        // signalled lag is taken within a frame or two.
        let message = tokio::select! {
            () = &mut lag => {
                // The close frame queues behind what the socket already holds: a slow
                // client that reads again soon still learns to resume.
                let _ = tokio::time::timeout(close_timeout, sink.send(resume)).await;
                break;
            }
            m = direct.recv() => match m {
                Some(m) => *m,
                None => break,
            },
            e = events.recv(), if events_open => match e {
                Some(out) => {
                    if !out.ephemeral {
                        let seen = watermarks.entry(out.workspace).or_insert(0);
                        if out.event_seq <= *seen {
                            continue;
                        }
                        *seen = out.event_seq;
                    }
                    match Utf8Bytes::try_from(out.frame.clone()) {
                        Ok(t) => Message::Text(t),
                        Err(_) => continue,
                    }
                }
                None => {
                    events_open = false;
                    continue;
                }
            },
        };
        let is_close = matches!(message, Message::Close(_));
        // The write first: most finish at once, and the lag signal only matters to a
        // write the client is not reading.
        tokio::select! {
            biased;
            sent = tokio::time::timeout(timeouts.write, sink.send(message)) => {
                match sent {
                    Ok(Ok(())) if !is_close => {}
                    Ok(Ok(())) | Ok(Err(_)) => break,
                    Err(_) => {
                        // No progress for write_timeout_secs: drop the connection
                        // without waiting for a close handshake it would not read.
                        metrics::counter!("confab_ws_write_timeouts_total").increment(1);
                        return false;
                    }
                }
            }
            () = &mut lag => {
                let _ = tokio::time::timeout(close_timeout, sink.send(resume)).await;
                break;
            }
        }
    }
    let _ = sink.close().await;
    true
}
