//! The WebSocket side of the client: one authenticated connection, the frames of
//! `confab_protocol::ws`, and helpers to wait for a frame.

use std::time::Duration;

use confab_core::{ChannelId, Event, User, WorkspaceId};
use confab_protocol::ws::{AuthFrame, ClientFrame, HelloWorkspace, ResumeFrom, SendFrame, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{ClientError, Result};

/// One live connection.
pub struct Live {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub user: User,
    pub workspaces: Vec<HelloWorkspace>,
    /// Frames read while waiting for something else, delivered next.
    backlog: std::collections::VecDeque<ServerFrame>,
}

impl Live {
    pub(crate) async fn connect(base: &str, token: &str, resume: &[(WorkspaceId, u64)]) -> Result<Live> {
        let (socket, _) = Self::open(base).await?;
        let mut live =
            Live { socket, user: placeholder_user(), workspaces: Vec::new(), backlog: Default::default() };
        let resume = resume.iter().map(|&(workspace, after)| ResumeFrom { workspace, after }).collect();
        live.send_frame(&ClientFrame::Auth(AuthFrame { token: token.to_string(), resume })).await?;
        match live.next(Duration::from_secs(10)).await? {
            ServerFrame::Hello { user, workspaces } => {
                live.user = user;
                live.workspaces = workspaces;
                Ok(live)
            }
            ServerFrame::Error { error, .. } => Err(ClientError::Api { status: 401, error }),
            other => Err(ClientError::Protocol(format!("expected hello, got {other:?}"))),
        }
    }

    /// Opens an unauthenticated socket (for tests of what the server does before
    /// `auth`).
    pub async fn open(
        base: &str,
    ) -> Result<(
        WebSocketStream<MaybeTlsStream<TcpStream>>,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    )> {
        let url = format!("{}/api/v1/ws", base.replacen("http", "ws", 1));
        Ok(tokio_tungstenite::connect_async(url).await?)
    }

    /// Sends any JSON as a text frame (for tests of what the server refuses).
    pub async fn send_json(&mut self, value: &Value) -> Result<()> {
        self.socket.send(Message::text(value.to_string())).await?;
        Ok(())
    }

    /// Sends a client frame.
    pub async fn send_frame(&mut self, frame: &ClientFrame) -> Result<()> {
        let text = serde_json::to_string(frame).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.socket.send(Message::text(text)).await?;
        Ok(())
    }

    /// Sends a raw WebSocket message.
    pub async fn send_raw(&mut self, message: Message) -> Result<()> {
        self.socket.send(message).await?;
        Ok(())
    }

    /// Sends a `send` frame; the answer is an `Ack` or `Error` with the same `req`.
    pub async fn send_message(&mut self, req: &str, channel: ChannelId, text: &str) -> Result<()> {
        let frame = SendFrame {
            req: req.to_string(),
            channel,
            text: text.to_string(),
            thread_root: None,
            client_msg_id: None,
        };
        self.send_frame(&ClientFrame::Send(frame)).await
    }

    /// The next frame, waiting at most `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Result<ServerFrame> {
        if let Some(frame) = self.backlog.pop_front() {
            return Ok(frame);
        }
        loop {
            let message = tokio::time::timeout(timeout, self.socket.next())
                .await
                .map_err(|_| ClientError::Timeout("a frame".into()))?;
            match message {
                None => return Ok(ServerFrame::Closed { code: None, reason: String::new() }),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text)
                        .map_err(|e| ClientError::Protocol(format!("bad frame {text}: {e}")));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Ok(ServerFrame::Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits for the first frame matching `pred`, keeping the others for later.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        what: &str,
        mut pred: impl FnMut(&ServerFrame) -> bool,
    ) -> Result<ServerFrame> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut skipped = Vec::new();
        let found = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = match self.next(left).await {
                Ok(f) => f,
                Err(ClientError::Timeout(_)) => {
                    self.backlog.extend(skipped);
                    return Err(ClientError::Timeout(what.to_string()));
                }
                Err(e) => return Err(e),
            };
            if pred(&frame) {
                break frame;
            }
            if matches!(frame, ServerFrame::Closed { .. }) {
                return Err(ClientError::Protocol(format!(
                    "connection closed while waiting for {what}: {frame:?}"
                )));
            }
            skipped.push(frame);
        };
        for f in skipped.into_iter().rev() {
            self.backlog.push_front(f);
        }
        Ok(found)
    }

    /// Waits for the next durable event of kind `kind`.
    pub async fn wait_event(&mut self, timeout: Duration, kind: &str) -> Result<(u64, Event)> {
        match self
            .wait_for(
                timeout,
                kind,
                |f| matches!(f, ServerFrame::Event { event, .. } if event.kind() == kind),
            )
            .await?
        {
            ServerFrame::Event { event_seq, event, .. } => Ok((event_seq, event)),
            _ => Err(ClientError::Protocol("unreachable".into())),
        }
    }

    pub async fn close(mut self) -> Result<()> {
        self.socket.close(None).await?;
        Ok(())
    }
}

fn placeholder_user() -> User {
    User {
        id: confab_core::UserId::from_ulid(Default::default()),
        email: String::new(),
        username: String::new(),
        display_name: String::new(),
        instance_admin: false,
        created_at: 0,
        details: Default::default(),
    }
}
