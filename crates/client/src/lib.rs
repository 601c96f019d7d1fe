//! A typed async client for Confab: the HTTP API ([`Client`]) and the WebSocket
//! protocol ([`Live`]). The tests, the bench tool and the command line use it, and so
//! can anyone scripting Confab — for instance a developer testing a consent flow.
//!
//! ```no_run
//! # async fn demo() -> Result<(), confab_client::ClientError> {
//! let client = confab_client::Client::new("http://127.0.0.1:8080");
//! let session = client.signup("ada@example.com", "a long password", "Ada").await?;
//! let ada = client.with_token(&session.token);
//! let ws = ada.create_workspace("Analytical Engines").await?;
//! let general = ada.channels(ws.workspace.id).await?.remove(0);
//! ada.post(general.channel.id, "hello").await?;
//! # Ok(()) }
//! ```

mod live;

use confab_core::{
    Channel, ChannelId, ChannelView, FileId, Invite, MemberView, Message, MessageId, Role, Thread, User,
    UserId, WorkspaceId, WorkspaceView,
};
use confab_protocol::http;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use confab_protocol::http::{CreateInvite, Session, SignupRequest, UpdateChannel, UpdateProfile};
pub use confab_protocol::ws::{ClientFrame, HelloWorkspace, Req, ServerFrame};
pub use live::Live;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{status}: {error}")]
    Api { status: u16, error: confab_core::Error },
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server said something this client does not understand.
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

impl ClientError {
    /// The API error code, if the server answered with one.
    pub fn code(&self) -> Option<confab_core::ErrorCode> {
        match self {
            ClientError::Api { error, .. } => Some(error.code),
            _ => None,
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Options of a post: the fields of [`http::PostMessage`] besides its text.
#[derive(Clone, Debug, Default)]
pub struct PostOptions {
    pub thread_root: Option<MessageId>,
    pub client_msg_id: Option<String>,
}

/// A client for one server, optionally logged in.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str) -> Client {
        Client { http: reqwest::Client::new(), base: base_url.trim_end_matches('/').to_string(), token: None }
    }

    /// The same client acting with a session token.
    pub fn with_token(&self, token: &str) -> Client {
        Client { token: Some(token.to_string()), ..self.clone() }
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends any request to `/api/v1{path}` and returns the status and JSON body
    /// (`Value::Null` for an empty body), whatever the status. For tests of the
    /// API's edges.
    pub async fn raw(&self, method: Method, path: &str, body: Option<&str>) -> Result<(StatusCode, Value)> {
        let mut request = self.http.request(method, format!("{}/api/v1{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok((status, value))
    }

    /// Uploads a file to a channel as a multipart body (`file`, and `text` if not
    /// empty): the message posted with it.
    pub async fn upload(
        &self,
        channel: ChannelId,
        name: &str,
        content: &[u8],
        text: &str,
    ) -> Result<http::FilePosted> {
        self.upload_to(channel, None, name, content, text).await
    }

    /// Uploads a file as [`Client::upload`] does, as a reply in `thread_root`'s thread
    /// if given.
    pub async fn upload_to(
        &self,
        channel: ChannelId,
        thread_root: Option<MessageId>,
        name: &str,
        content: &[u8],
        text: &str,
    ) -> Result<http::FilePosted> {
        self.upload_files(channel, thread_root, &[(name, content)], text).await
    }

    /// Uploads several files (name, content) as one message.
    pub async fn upload_files(
        &self,
        channel: ChannelId,
        thread_root: Option<MessageId>,
        files: &[(&str, &[u8])],
        text: &str,
    ) -> Result<http::FilePosted> {
        let (content_type, body) = multipart_files_body(files, text);
        let query = thread_root.map(|root| format!("?thread_root={root}")).unwrap_or_default();
        let mut request = self.http.post(format!("{}/api/v1/channels/{channel}/files{query}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.header("content-type", content_type).body(body).send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        answer(status, &bytes)
    }

    /// Downloads a file (`GET /files/{id}`, or its thumbnail): the response's
    /// headers and bytes.
    pub async fn download(
        &self,
        file: FileId,
        thumbnail: bool,
    ) -> Result<(reqwest::header::HeaderMap, Vec<u8>)> {
        let suffix = if thumbnail { "/thumb" } else { "" };
        let mut request = self.http.get(format!("{}/api/v1/files/{file}{suffix}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.bytes().await?;
        if !status.is_success() {
            return Err(answer::<()>(status, &bytes)
                .err()
                .unwrap_or(ClientError::Protocol(format!("{status}"))));
        }
        Ok((headers, bytes.to_vec()))
    }

    async fn call<T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<Value>) -> Result<T> {
        let mut request = self.http.request(method, format!("{}/api/v1{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            let error = serde_json::from_slice::<http::ErrorBody>(&bytes).map(|b| b.error).map_err(|_| {
                ClientError::Protocol(format!(
                    "{status} without an error body: {}",
                    String::from_utf8_lossy(&bytes)
                ))
            })?;
            return Err(ClientError::Api { status: status.as_u16(), error });
        }
        let bytes = if bytes.is_empty() { &b"null"[..] } else { &bytes[..] };
        serde_json::from_slice(bytes).map_err(|e| ClientError::Protocol(format!("unexpected body: {e}")))
    }

    pub async fn signup(&self, email: &str, password: &str, display_name: &str) -> Result<Session> {
        self.signup_with(&SignupRequest {
            email: email.to_string(),
            password: password.to_string(),
            display_name: display_name.to_string(),
            username: None,
            invite: None,
        })
        .await
    }

    /// Sign-up with every field given explicitly (username, invite).
    pub async fn signup_with(&self, request: &SignupRequest) -> Result<Session> {
        self.call(Method::POST, "/auth/signup", Some(body(request)?)).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<Session> {
        let request = http::LoginRequest { email: email.to_string(), password: password.to_string() };
        self.call(Method::POST, "/auth/login", Some(body(&request)?)).await
    }

    pub async fn logout(&self) -> Result<()> {
        self.call::<Value>(Method::POST, "/auth/logout", None).await.map(drop)
    }

    pub async fn me(&self) -> Result<User> {
        self.call(Method::GET, "/me", None).await
    }

    /// `PATCH /me`: changes the fields given of one's own profile.
    pub async fn update_profile(&self, req: &UpdateProfile) -> Result<User> {
        self.call(Method::PATCH, "/me", Some(body(req)?)).await
    }

    pub async fn create_workspace(&self, name: &str) -> Result<WorkspaceView> {
        self.call(Method::POST, "/workspaces", Some(body(&http::NameBody { name: name.to_string() })?)).await
    }

    pub async fn workspaces(&self) -> Result<Vec<WorkspaceView>> {
        Ok(self.call::<http::Workspaces>(Method::GET, "/workspaces", None).await?.workspaces)
    }

    /// Creates an invite (`CreateInvite::default()` for the server's defaults).
    pub async fn create_invite(&self, ws: WorkspaceId, options: &CreateInvite) -> Result<Invite> {
        self.call(Method::POST, &format!("/workspaces/{ws}/invites"), Some(body(options)?)).await
    }

    pub async fn accept_invite(&self, code: &str) -> Result<WorkspaceView> {
        self.call(Method::POST, &format!("/invites/{code}/accept"), None).await
    }

    pub async fn members(&self, ws: WorkspaceId) -> Result<Vec<MemberView>> {
        Ok(self.call::<http::Members>(Method::GET, &format!("/workspaces/{ws}/members"), None).await?.members)
    }

    pub async fn set_role(&self, ws: WorkspaceId, user: UserId, role: Role) -> Result<MemberView> {
        let path = format!("/workspaces/{ws}/members/{user}");
        self.call(Method::PATCH, &path, Some(body(&http::RoleBody { role })?)).await
    }

    pub async fn channels(&self, ws: WorkspaceId) -> Result<Vec<ChannelView>> {
        Ok(self
            .call::<http::Channels>(Method::GET, &format!("/workspaces/{ws}/channels"), None)
            .await?
            .channels)
    }

    /// The channel of `ws` named `name` in the caller's list.
    pub async fn channel_named(&self, ws: WorkspaceId, name: &str) -> Result<ChannelView> {
        self.channels(ws)
            .await?
            .into_iter()
            .find(|c| c.channel.name == name)
            .ok_or_else(|| ClientError::Protocol(format!("no channel #{name} in the list")))
    }

    pub async fn create_channel(&self, ws: WorkspaceId, name: &str, private: bool) -> Result<Channel> {
        let request = http::CreateChannel { name: name.to_string(), private, topic: String::new() };
        self.call(Method::POST, &format!("/workspaces/{ws}/channels"), Some(body(&request)?)).await
    }

    /// Changes the fields `changes` gives of a channel (name, topic, archived).
    pub async fn update_channel(&self, channel: ChannelId, changes: &UpdateChannel) -> Result<Channel> {
        self.call(Method::PATCH, &format!("/channels/{channel}"), Some(body(changes)?)).await
    }

    pub async fn join(&self, channel: ChannelId) -> Result<Channel> {
        self.call(Method::POST, &format!("/channels/{channel}/join"), None).await
    }

    pub async fn leave(&self, channel: ChannelId) -> Result<()> {
        self.call::<Value>(Method::POST, &format!("/channels/{channel}/leave"), None).await.map(drop)
    }

    pub async fn add_member(&self, channel: ChannelId, user: UserId) -> Result<()> {
        let request = body(&http::UserBody { user })?;
        self.call::<Value>(Method::POST, &format!("/channels/{channel}/members"), Some(request))
            .await
            .map(drop)
    }

    pub async fn open_dm(&self, ws: WorkspaceId, users: &[UserId]) -> Result<Channel> {
        let request = http::DmRequest { users: users.to_vec() };
        self.call(Method::POST, &format!("/workspaces/{ws}/dms"), Some(body(&request)?)).await
    }

    pub async fn post(&self, channel: ChannelId, text: &str) -> Result<Message> {
        self.post_with(channel, text, PostOptions::default()).await
    }

    pub async fn post_with(&self, channel: ChannelId, text: &str, options: PostOptions) -> Result<Message> {
        let PostOptions { thread_root, client_msg_id } = options;
        let request = http::PostMessage { text: text.to_string(), thread_root, client_msg_id };
        self.call(Method::POST, &format!("/channels/{channel}/messages"), Some(body(&request)?)).await
    }

    /// A page of history: `before`/`after` are `seq`s (newest first unless `after`).
    pub async fn history(
        &self,
        channel: ChannelId,
        before: Option<u64>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let mut query = format!("?limit={limit}");
        if let Some(b) = before {
            query.push_str(&format!("&before={b}"));
        }
        if let Some(a) = after {
            query.push_str(&format!("&after={a}"));
        }
        Ok(self
            .call::<http::Messages>(Method::GET, &format!("/channels/{channel}/messages{query}"), None)
            .await?
            .messages)
    }

    pub async fn message(&self, id: MessageId) -> Result<Message> {
        self.call(Method::GET, &format!("/messages/{id}"), None).await
    }

    pub async fn thread(&self, root: MessageId) -> Result<Thread> {
        self.call(Method::GET, &format!("/messages/{root}/thread"), None).await
    }

    pub async fn edit(&self, id: MessageId, text: &str) -> Result<Message> {
        let request = http::TextBody { text: text.to_string() };
        self.call(Method::PATCH, &format!("/messages/{id}"), Some(body(&request)?)).await
    }

    pub async fn delete(&self, id: MessageId) -> Result<()> {
        self.call::<Value>(Method::DELETE, &format!("/messages/{id}"), None).await.map(drop)
    }

    pub async fn react(&self, id: MessageId, emoji: &str) -> Result<Message> {
        self.call(Method::PUT, &format!("/messages/{id}/reactions/{}", encode_segment(emoji)), None).await
    }

    pub async fn unreact(&self, id: MessageId, emoji: &str) -> Result<Message> {
        self.call(Method::DELETE, &format!("/messages/{id}/reactions/{}", encode_segment(emoji)), None).await
    }

    pub async fn mark_read(&self, channel: ChannelId, seq: u64) -> Result<u64> {
        let path = format!("/channels/{channel}/read");
        Ok(self
            .call::<http::ReadMarker>(Method::POST, &path, Some(body(&http::ReadMarker { seq })?))
            .await?
            .seq)
    }

    /// Moves the caller's read marker in the thread of `root`.
    pub async fn mark_thread_read(&self, root: MessageId, seq: u64) -> Result<u64> {
        let path = format!("/messages/{root}/thread/read");
        Ok(self
            .call::<http::ReadMarker>(Method::POST, &path, Some(body(&http::ReadMarker { seq })?))
            .await?
            .seq)
    }

    /// The threads the caller is in, the most recently active first.
    pub async fn threads(&self, ws: WorkspaceId, limit: usize, offset: usize) -> Result<http::Threads> {
        self.call(Method::GET, &format!("/workspaces/{ws}/threads?limit={limit}&offset={offset}"), None).await
    }

    /// The caller's activity, newest first, older than `before` if given.
    pub async fn activity(
        &self,
        ws: WorkspaceId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<http::ActivityPage> {
        let before = before.map(|id| format!("&before={id}")).unwrap_or_default();
        self.call(Method::GET, &format!("/workspaces/{ws}/activity?limit={limit}{before}"), None).await
    }

    /// Saves a message for later (`save`), or takes it out of the saved ones.
    pub async fn set_saved(&self, message: MessageId, save: bool) -> Result<()> {
        let method = if save { Method::PUT } else { Method::DELETE };
        self.call::<Value>(method, &format!("/messages/{message}/saved"), None).await.map(drop)
    }

    /// The caller's saved messages, the most recently saved first.
    pub async fn saved(&self, ws: WorkspaceId, limit: usize, offset: usize) -> Result<http::SavedPage> {
        self.call(Method::GET, &format!("/workspaces/{ws}/saved?limit={limit}&offset={offset}"), None).await
    }

    /// Which new messages of a channel notify the caller.
    pub async fn set_notify(
        &self,
        channel: ChannelId,
        level: confab_core::NotifyLevel,
    ) -> Result<confab_core::NotifyLevel> {
        let request = body(&http::NotifyBody { level })?;
        let answer: http::NotifyBody =
            self.call(Method::PUT, &format!("/channels/{channel}/notifications"), Some(request)).await?;
        Ok(answer.level)
    }

    /// Opens the WebSocket, authenticates, and resumes each `(workspace, after)`.
    pub async fn connect(&self, resume: &[(WorkspaceId, u64)]) -> Result<Live> {
        let token = self.token.as_deref().ok_or_else(|| ClientError::Protocol("log in first".into()))?;
        Live::connect(&self.base, token, resume).await
    }
}

/// A request body as JSON.
fn body<T: Serialize>(request: &T) -> Result<Value> {
    serde_json::to_value(request).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Percent-encodes a path segment (emoji are multi-byte UTF-8).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `multipart/form-data` body with a `file` part and, if not empty, a `text` part:
/// its content type and bytes.
pub fn multipart_body(name: &str, content: &[u8], text: &str) -> (String, Vec<u8>) {
    multipart_files_body(&[(name, content)], text)
}

/// [`multipart_body`] with several `file` parts, in order.
pub fn multipart_files_body(files: &[(&str, &[u8])], text: &str) -> (String, Vec<u8>) {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let size: usize = files.iter().map(|(_, content)| content.len()).sum();
    let boundary = format!("confab-boundary-{nanos:x}-{size:x}");
    let mut body = Vec::with_capacity(size + 512 * (files.len() + 1));
    if !text.is_empty() {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n{text}\r\n")
                .as_bytes(),
        );
    }
    for (name, content) in files {
        let name = name.replace(['"', '\r', '\n'], "_");
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A JSON answer, or the API error it carries.
fn answer<T: DeserializeOwned>(status: StatusCode, bytes: &[u8]) -> Result<T> {
    if !status.is_success() {
        let error = serde_json::from_slice::<http::ErrorBody>(bytes).map(|b| b.error).map_err(|_| {
            ClientError::Protocol(format!(
                "{status} without an error body: {}",
                String::from_utf8_lossy(bytes)
            ))
        })?;
        return Err(ClientError::Api { status: status.as_u16(), error });
    }
    serde_json::from_slice(bytes).map_err(|e| ClientError::Protocol(format!("unexpected body: {e}")))
}
