//! The WebSocket frames of `GET /api/v1/ws` (docs/api.md, "WebSocket"): every frame
//! is a JSON object whose `type` names its variant.
//!
//! [`ClientFrame`] is what a client sends and the server parses, once, straight into
//! the variant. [`ServerFrame`] is what the server sends and a client reads. The
//! server's two hottest frames, an event fanned out to every connection and the ack
//! of a send, are written from borrowed records by [`encode_event`] and
//! [`encode_ack`], which write exactly what [`ServerFrame::Event`] and
//! [`ServerFrame::Ack`] read (the tests below check it).

use confab_core::{ChannelId, Event, Message, MessageId, User, WorkspaceId};
use serde::{Deserialize, Serialize};

/// A frame from the client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// The first frame of a connection, and only the first.
    Auth(AuthFrame),
    /// Posts a message; answered by an `ack` or an `error` with the same `req`.
    Send(SendFrame),
    /// The caller is typing in a channel (or a thread of it).
    Typing(TypingFrame),
    /// The caller's client says it is away or back.
    Presence(PresenceFrame),
    /// Answered by a `pong` echoing `req`.
    Ping(PingFrame),
}

impl ClientFrame {
    /// Every `type` a client frame may have.
    pub const TYPES: [&'static str; 5] = ["auth", "send", "typing", "presence", "ping"];

    /// The frame's `type` tag.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientFrame::Auth(_) => "auth",
            ClientFrame::Send(_) => "send",
            ClientFrame::Typing(_) => "typing",
            ClientFrame::Presence(_) => "presence",
            ClientFrame::Ping(_) => "ping",
        }
    }

    /// The `req` the client asked to have echoed back, if any.
    pub fn req(&self) -> Option<Req> {
        match self {
            ClientFrame::Send(f) => Some(Req::Text(f.req.clone())),
            ClientFrame::Ping(f) => f.req.clone(),
            ClientFrame::Auth(_) | ClientFrame::Typing(_) | ClientFrame::Presence(_) => None,
        }
    }
}

/// `{"type":"auth","token":…,"resume":[{"workspace":…,"after":EVENT_SEQ}]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFrame {
    pub token: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resume: Vec<ResumeFrom>,
}

/// Replay the events of `workspace` after `after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeFrom {
    pub workspace: WorkspaceId,
    pub after: u64,
}

/// `{"type":"send","req":…,"channel":…,"text":…,"thread_root"?,"client_msg_id"?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendFrame {
    pub req: String,
    pub channel: ChannelId,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_root: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
}

/// `{"type":"typing","channel":…,"thread_root"?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypingFrame {
    pub channel: ChannelId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_root: Option<MessageId>,
}

/// `{"type":"presence","status":"away"|"online"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceFrame {
    pub status: PresenceStatus,
}

/// What a client may say about its own presence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    Online,
    Away,
}

/// `{"type":"ping","req"?}`. Other fields are ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PingFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req: Option<Req>,
}

/// A request id a client chose, echoed back in the answer: a string (1 to 64
/// printable ASCII characters, checked by the server) or a number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Req {
    Text(String),
    Number(serde_json::Number),
}

impl From<&str> for Req {
    fn from(s: &str) -> Self {
        Req::Text(s.to_string())
    }
}

/// One workspace of the `hello`: how far its event log goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloWorkspace {
    pub id: WorkspaceId,
    pub event_seq: u64,
}

/// A frame from the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The answer to `auth`: who the caller is, and each workspace's `event_seq`.
    Hello { user: User, workspaces: Vec<HelloWorkspace> },
    /// An event of a workspace. Ephemeral events (`typing`, `presence`) carry the
    /// workspace's current `event_seq` and must not advance a resume point.
    Event {
        workspace: WorkspaceId,
        event_seq: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ephemeral: bool,
        event: Event,
    },
    /// A `send` is durable.
    Ack { req: String, message: Message },
    /// A frame was refused; `req` is the frame's own when it had a usable one.
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<Req>,
        error: confab_core::Error,
    },
    /// The answer to `ping`.
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<Req>,
    },
    /// The log no longer holds what the client asked to resume from (or the replay
    /// went over its budget): refetch the workspace over HTTP.
    Resync { workspace: WorkspaceId },
    /// Not a frame: the connection ended, with the server's close code if it sent
    /// one. Never on the wire; the Rust client reports the end of a connection with
    /// it.
    #[serde(skip)]
    Closed { code: Option<u16>, reason: String },
}

impl ServerFrame {
    /// Every `type` a server frame may have.
    pub const TYPES: [&'static str; 6] = ["hello", "event", "ack", "error", "pong", "resync"];

    /// An `error` frame answering `req`. Only the code and the message go on the
    /// wire.
    pub fn error(req: Option<Req>, error: confab_core::Error) -> ServerFrame {
        ServerFrame::Error { req, error: confab_core::Error { retry_after: None, ..error } }
    }
}

/// The `event` frame of [`ServerFrame::Event`], from a borrowed event.
pub fn encode_event(
    workspace: WorkspaceId,
    event_seq: u64,
    ephemeral: bool,
    event: &Event,
) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Borrowed::Event { workspace, event_seq, ephemeral, event })
}

/// The `ack` frame of [`ServerFrame::Ack`], from a borrowed message.
pub fn encode_ack(req: &str, message: &Message) -> serde_json::Result<String> {
    serde_json::to_string(&Borrowed::Ack { req, message })
}

/// The variants of [`ServerFrame`] the server writes from borrowed records; the
/// tests check they read back as the owned frame.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Borrowed<'a> {
    Event {
        workspace: WorkspaceId,
        event_seq: u64,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        ephemeral: bool,
        event: &'a Event,
    },
    Ack {
        req: &'a str,
        message: &'a Message,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        serde_json::from_value(serde_json::json!({
            "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "workspace": "01ARZ3NDEKTSV4RRFFQ69G5FAW",
            "channel": "01ARZ3NDEKTSV4RRFFQ69G5FAX", "seq": 3, "author": "01ARZ3NDEKTSV4RRFFQ69G5FAY",
            "text": "hi", "created_at": 5, "deleted": false, "reply_count": 0, "reactions": [], "mentions": []
        }))
        .expect("a message")
    }

    #[test]
    fn borrowed_frames_read_back_as_server_frames() {
        let message = message();
        let ack: ServerFrame = serde_json::from_str(&encode_ack("r1", &message).unwrap()).unwrap();
        assert_eq!(ack, ServerFrame::Ack { req: "r1".into(), message: message.clone() });
        let event = Event::MessageCreated { message: message.clone() };
        for ephemeral in [false, true] {
            let bytes = encode_event(message.workspace, 9, ephemeral, &event).unwrap();
            let frame: ServerFrame = serde_json::from_slice(&bytes).unwrap();
            let owned = ServerFrame::Event {
                workspace: message.workspace,
                event_seq: 9,
                ephemeral,
                event: event.clone(),
            };
            assert_eq!(frame, owned);
            assert_eq!(serde_json::to_vec(&owned).unwrap(), bytes, "the same bytes either way");
        }
    }

    #[test]
    fn client_frames_keep_their_shapes() {
        let ping: ClientFrame = serde_json::from_str(r#"{"type":"ping","req":7,"extra":1}"#).unwrap();
        assert_eq!(ping.req(), Some(Req::Number(7.into())));
        let send = r#"{"type":"send","req":"a","channel":"01ARZ3NDEKTSV4RRFFQ69G5FAV","text":"x"}"#;
        let frame: ClientFrame = serde_json::from_str(send).unwrap();
        assert_eq!(frame.type_name(), "send");
        assert_eq!(serde_json::to_string(&frame).unwrap(), send, "written as read");
        // Unknown fields are refused (except in `ping`), and so is `req` on `typing`.
        for bad in [
            r#"{"type":"send","req":"a","channel":"01ARZ3NDEKTSV4RRFFQ69G5FAV","text":"x","z":1}"#,
            r#"{"type":"typing","req":"a","channel":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}"#,
            r#"{"type":"ping","req":{}}"#,
            r#"{"type":"auth"}"#,
        ] {
            assert!(serde_json::from_str::<ClientFrame>(bad).is_err(), "{bad}");
        }
    }

    /// The tags serde knows, from its own error for an unknown one.
    fn tags<T: serde::de::DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
        let error = serde_json::from_str::<T>(r#"{"type":"?"}"#).unwrap_err().to_string();
        let list = error.split("expected one of ").nth(1).expect("serde lists the variants");
        list.split(',')
            .map(|t| t.trim().trim_matches(|c: char| c == '`' || !c.is_ascii_graphic()))
            .map(|t| t.split('`').next().unwrap_or(t).to_string())
            .collect()
    }

    #[test]
    fn types_lists_every_client_frame() {
        assert_eq!(tags::<ClientFrame>(), ClientFrame::TYPES);
        assert_eq!(tags::<ServerFrame>(), ServerFrame::TYPES);
    }

    #[test]
    fn an_error_frame_carries_code_and_message_only() {
        let frame = ServerFrame::error(Some("r".into()), confab_core::Error::rate_limited(3));
        let value = serde_json::to_value(&frame).unwrap();
        assert_eq!(value["error"].as_object().unwrap().len(), 2, "{value}");
        assert_eq!(value["req"], "r");
        assert!(serde_json::to_string(&ServerFrame::Closed { code: None, reason: String::new() }).is_err());
    }
}
