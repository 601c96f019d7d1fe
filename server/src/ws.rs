//! The WebSocket endpoint (`GET /api/v1/ws`): the framing of design.md section 5.
//!
//! Each connection runs two tasks. The reader authenticates the first frame, replays
//! what a resuming client missed, then handles client frames (`send`, `typing`,
//! `presence`, `ping`) with several sends in flight at once. The writer drains the
//! connection's replies first, then its hub queue, dropping live events the replay
//! already covered. When the hub marks the connection lagging, the writer closes it
//! with [`CLOSE_RESUME`] so the client reconnects and resumes from the log.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use confab_app::hub::{Outbound, Subscription};
use confab_app::{App, Caller, PostMessage, Replay};
use confab_core::{ChannelId, Error, ErrorCode, MessageId, WorkspaceId};
use futures_util::SinkExt;
use futures_util::stream::{FuturesUnordered, SplitSink, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{Notify, mpsc};

/// Close code telling the client to reconnect and resume from its last `event_seq`.
pub const CLOSE_RESUME: u16 = 4000;
/// Close code for a connection that did not authenticate.
pub const CLOSE_UNAUTHENTICATED: u16 = 4001;
/// Close code for a peer that stopped answering pings.
pub const CLOSE_TIMEOUT: u16 = 4002;

pub async fn upgrade(State(app): State<App>, ws: WebSocketUpgrade) -> Response {
    let max = app.config().limits.max_frame_bytes;
    // Small buffers keep idle connections cheap; writes go straight to the socket.
    ws.read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| connection(app, socket))
}

#[derive(Deserialize)]
struct Envelope {
    r#type: String,
    #[serde(default)]
    req: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFrame {
    #[allow(dead_code)]
    r#type: String,
    token: String,
    #[serde(default)]
    resume: Vec<ResumeFrom>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResumeFrom {
    workspace: WorkspaceId,
    after: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendFrame {
    #[allow(dead_code)]
    r#type: String,
    req: String,
    channel: ChannelId,
    text: String,
    #[serde(default)]
    thread_root: Option<MessageId>,
    #[serde(default)]
    client_msg_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypingFrame {
    #[allow(dead_code)]
    r#type: String,
    channel: ChannelId,
    #[serde(default)]
    thread_root: Option<MessageId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresenceFrame {
    #[allow(dead_code)]
    r#type: String,
    status: PresenceStatus,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum PresenceStatus {
    Online,
    Away,
}

/// `{"type":"ack","req":…,"message":…}`, serialised straight from the message.
fn ack_frame(req: &str, message: &confab_core::Message) -> Message {
    #[derive(serde::Serialize)]
    struct Ack<'a> {
        r#type: &'static str,
        req: &'a str,
        message: &'a confab_core::Message,
    }
    let bytes = serde_json::to_string(&Ack { r#type: "ack", req, message }).unwrap_or_default();
    Message::Text(Utf8Bytes::from(bytes))
}

fn text(value: serde_json::Value) -> Message {
    Message::Text(Utf8Bytes::from(value.to_string()))
}

fn error_frame(req: Option<serde_json::Value>, error: &Error) -> Message {
    let mut frame = json!({ "type": "error", "error": { "code": error.code, "message": error.message } });
    if let Some(req) = req {
        frame["req"] = req;
    }
    text(frame)
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
}

/// Parses a JSON frame into `T`, answering bad shapes with `invalid_request`.
fn parse<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, Error> {
    serde_json::from_str(raw).map_err(|e| Error::new(ErrorCode::InvalidRequest, format!("bad frame: {e}")))
}

async fn connection(app: App, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let ws_config = app.config().websocket.clone();

    // 1. The first frame must be `auth`.
    let first = tokio::time::timeout(Duration::from_secs(ws_config.auth_timeout_secs), stream.next()).await;
    let raw = match first {
        Ok(Some(Ok(Message::Text(raw)))) => raw,
        Ok(Some(Ok(_))) => {
            let e = Error::new(ErrorCode::NotAuthenticatedYet, "the first frame must be a text `auth` frame");
            let _ = sink.send(error_frame(None, &e)).await;
            let _ = sink.send(close(CLOSE_UNAUTHENTICATED, "authenticate first")).await;
            return;
        }
        Ok(_) => return,
        Err(_) => {
            let _ = sink.send(close(CLOSE_UNAUTHENTICATED, "no auth frame in time")).await;
            return;
        }
    };
    let auth = match parse::<Envelope>(&raw) {
        Ok(env) if env.r#type == "auth" => {
            parse::<AuthFrame>(&raw).and_then(|a| Ok((app.authenticate(&a.token)?, a)))
        }
        Ok(_) => Err(Error::new(ErrorCode::NotAuthenticatedYet, "the first frame must be `auth`")),
        Err(e) => Err(e),
    };
    let (caller, auth) = match auth {
        Ok(ok) => ok,
        Err(e) => {
            let _ = sink.send(error_frame(None, &e)).await;
            let _ = sink.send(close(CLOSE_UNAUTHENTICATED, "authentication failed")).await;
            return;
        }
    };

    // 2. Register with the hub, say hello, replay what a resuming client missed.
    let (hello, subscription) = match app.connect(caller) {
        Ok(ok) => ok,
        Err(e) => {
            let _ = sink.send(error_frame(None, &e)).await;
            return;
        }
    };
    let Subscription { id: conn, events, lagged } = subscription;
    let (direct, direct_rx) = mpsc::unbounded_channel::<Message>();
    let mut watermarks: HashMap<WorkspaceId, u64> = HashMap::new();
    for w in &hello.workspaces {
        watermarks.insert(w.id, w.event_seq);
    }
    // The hello and the replay go out before anything live, in order; live events
    // meanwhile wait in the connection's hub queue.
    let mut opening =
        vec![text(json!({ "type": "hello", "user": hello.user, "workspaces": hello.workspaces }))];
    for resume in auth.resume {
        let upto = watermarks.get(&resume.workspace).copied();
        let replay = match upto {
            Some(upto) => app.replay(caller, resume.workspace, resume.after, upto),
            None => Err(Error::new(ErrorCode::WorkspaceNotFound, "no such workspace")),
        };
        match replay {
            Ok(Replay::Events(frames)) => {
                opening.extend(
                    frames.into_iter().filter_map(|f| Utf8Bytes::try_from(f).ok()).map(Message::Text),
                );
            }
            Ok(Replay::Resync) => {
                opening.push(text(json!({ "type": "resync", "workspace": resume.workspace })))
            }
            Err(e) => opening.push(error_frame(None, &e)),
        }
    }
    for frame in opening {
        if sink.send(frame).await.is_err() {
            app.disconnect(caller, conn);
            return;
        }
    }
    let close_timeout = Duration::from_secs(ws_config.close_timeout_secs.max(1));
    let writer = tokio::spawn(write_loop(sink, events, direct_rx, lagged, watermarks, close_timeout));

    // 3. Handle client frames until the peer or the writer goes away.
    read_loop(&app, caller, conn, &mut stream, &direct, &ws_config).await;
    app.disconnect(caller, conn);
    drop(direct);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

async fn read_loop(
    app: &App,
    caller: Caller,
    conn: u64,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    direct: &mpsc::UnboundedSender<Message>,
    config: &confab_app::config::WebSocketConfig,
) {
    let limits = &app.config().limits;
    let frame_limiter = DefaultDirectRateLimiter::direct(
        Quota::per_second(NonZeroU32::new(limits.frames_per_second.max(1)).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(limits.frame_burst.max(1)).unwrap_or(NonZeroU32::MIN)),
    );
    let mut inflight = FuturesUnordered::new();
    let ping_every = Duration::from_secs(config.ping_interval_secs.max(1));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let mut last_heard = Instant::now();
    let mut last_active = Instant::now();
    let mut away = false;
    let mut last_rate_error: Option<Instant> = None;
    loop {
        let can_read = inflight.len() < config.max_inflight_sends.max(1);
        tokio::select! {
            incoming = stream.next(), if can_read => {
                let Some(Ok(message)) = incoming else { return };
                last_heard = Instant::now();
                let raw = match message {
                    Message::Text(raw) => raw,
                    Message::Binary(_) => {
                        let e = Error::new(ErrorCode::InvalidRequest, "frames are JSON text, not binary");
                        let _ = direct.send(error_frame(None, &e));
                        continue;
                    }
                    Message::Close(_) => return,
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                if frame_limiter.check().is_err() {
                    // One error a second at most, so a flood is not echoed back.
                    if last_rate_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        last_rate_error = Some(Instant::now());
                        let _ = direct.send(error_frame(None, &Error::rate_limited(1)));
                    }
                    continue;
                }
                let envelope = match parse::<Envelope>(&raw) {
                    Ok(env) => env,
                    Err(e) => {
                        let _ = direct.send(error_frame(None, &e));
                        continue;
                    }
                };
                // `req` is echoed back: hold it to the documented shape.
                let req_ok = match &envelope.req {
                    None => true,
                    Some(serde_json::Value::String(r)) => app.limits_check_client_id("req", r).is_ok(),
                    Some(serde_json::Value::Number(_)) => true,
                    Some(_) => false,
                };
                if !req_ok {
                    let e = Error::invalid_field("req", "1 to 64 printable ASCII characters, or a number");
                    let _ = direct.send(error_frame(None, &e));
                    continue;
                }
                if envelope.r#type != "ping" {
                    last_active = Instant::now();
                    if away {
                        away = false;
                        app.set_away(caller, conn, false);
                    }
                }
                match envelope.r#type.as_str() {
                    "send" => match parse::<SendFrame>(&raw) {
                        Ok(frame) => {
                            let app = app.clone();
                            inflight.push(async move {
                                let req = frame.req.clone();
                                let post = PostMessage {
                                    text: frame.text,
                                    thread_root: frame.thread_root,
                                    client_msg_id: frame.client_msg_id,
                                };
                                (req, app.post_message(caller, frame.channel, post).await)
                            });
                        }
                        Err(e) => {
                            let _ = direct.send(error_frame(envelope.req, &e));
                        }
                    },
                    "typing" => {
                        let result = parse::<TypingFrame>(&raw).and_then(|f| app.typing(caller, f.channel, f.thread_root));
                        if let Err(e) = result {
                            let _ = direct.send(error_frame(envelope.req, &e));
                        }
                    }
                    "presence" => match parse::<PresenceFrame>(&raw) {
                        Ok(frame) => {
                            away = frame.status == PresenceStatus::Away;
                            app.set_away(caller, conn, away);
                        }
                        Err(e) => {
                            let _ = direct.send(error_frame(envelope.req, &e));
                        }
                    },
                    "ping" => {
                        let mut pong = json!({ "type": "pong" });
                        if let Some(req) = envelope.req {
                            pong["req"] = req;
                        }
                        let _ = direct.send(text(pong));
                    }
                    "auth" => {
                        let e = Error::new(ErrorCode::InvalidRequest, "already authenticated");
                        let _ = direct.send(error_frame(envelope.req, &e));
                    }
                    other => {
                        let e = Error::new(ErrorCode::UnknownFrame, format!("unknown frame type {other:?}"));
                        let _ = direct.send(error_frame(envelope.req, &e));
                    }
                }
            }
            Some((req, result)) = inflight.next(), if !inflight.is_empty() => {
                let frame = match result {
                    Ok(message) => ack_frame(&req, &message),
                    Err(e) => error_frame(Some(serde_json::Value::String(req)), &e),
                };
                if direct.send(frame).is_err() {
                    return;
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > ping_every * 3 {
                    let _ = direct.send(close(CLOSE_TIMEOUT, "no answer to pings"));
                    return;
                }
                if !away && last_active.elapsed() > Duration::from_secs(config.away_after_secs.max(1)) {
                    away = true;
                    app.set_away(caller, conn, true);
                }
                if direct.send(Message::Ping(Default::default())).is_err() {
                    return;
                }
            }
            () = direct.closed() => return,
        }
    }
}

type Sink = SplitSink<WebSocket, Message>;

/// Whether the hub has already signalled lag (consumes the signal).
fn lagged_now(lagged: &Notify) -> bool {
    use std::future::Future;
    let notified = lagged.notified();
    let mut notified = std::pin::pin!(notified);
    let waker = futures_util::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    notified.as_mut().poll(&mut cx).is_ready()
}

async fn write_loop(
    mut sink: Sink,
    mut events: mpsc::Receiver<std::sync::Arc<Outbound>>,
    mut direct: mpsc::UnboundedReceiver<Message>,
    lagged: Arc<Notify>,
    mut watermarks: HashMap<WorkspaceId, u64>,
    close_timeout: Duration,
) {
    let resume = close(CLOSE_RESUME, "too far behind: resume");
    loop {
        // The lag signal first; then replies and events fairly, so that a client with
        // many sends in flight does not starve its own event queue into overflowing.
        if lagged_now(&lagged) {
            let _ = tokio::time::timeout(close_timeout, sink.send(resume)).await;
            break;
        }
        let message = tokio::select! {
            () = lagged.notified() => {
                // The close frame queues behind what the socket already holds: a slow
                // client that reads again soon still learns to resume.
                let _ = tokio::time::timeout(close_timeout, sink.send(resume)).await;
                break;
            }
            m = direct.recv() => match m {
                Some(m) => m,
                None => break,
            },
            e = events.recv() => match e {
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
                None => break,
            },
        };
        let is_close = matches!(message, Message::Close(_));
        tokio::select! {
            biased;
            () = lagged.notified() => {
                let _ = tokio::time::timeout(close_timeout, sink.send(resume)).await;
                break;
            }
            sent = sink.send(message) => {
                if sent.is_err() || is_close {
                    break;
                }
            }
        }
    }
    let _ = sink.close().await;
}
