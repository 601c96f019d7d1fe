//! The bodies of the HTTP API under `/api/v1` (docs/api.md, "Endpoints"): what each
//! route reads (request bodies and query strings, which refuse unknown fields) and
//! what it answers. Routes whose answer is a record of `confab_core` (`Message`,
//! `Channel`, `User`, …) answer it as it is and have no type here.

use confab_core::{
    ChannelView, FileInfo, Invite, MemberView, Message, MessageId, Millis, Presence, Role, User, UserId,
    UserProfile, WorkspaceId, WorkspaceView,
};
use serde::{Deserialize, Serialize};

/// Every error answer: `{"error": {"code", "message"}}`, with the HTTP status of the
/// code. A rate limit's wait goes in the `Retry-After` header, not in the body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: confab_core::Error,
}

impl ErrorBody {
    /// The body of an error answer: its code and message only.
    pub fn new(error: confab_core::Error) -> ErrorBody {
        ErrorBody { error: confab_core::Error { retry_after: None, ..error } }
    }
}

// ---------------------------------------------------------------------------------
// Accounts and sessions.

/// `POST /auth/signup`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    pub display_name: String,
    /// The `@handle`; derived from the email if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Required when sign-up is `invite_only`: the invite is accepted on sign-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

/// `POST /auth/login`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").field("email", &self.email).finish_non_exhaustive()
    }
}

/// The answer to sign-up and log-in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    pub user: User,
    pub token: String,
}

/// `POST /auth/password`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

impl std::fmt::Debug for ChangePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePassword { .. }")
    }
}

/// `PATCH /me`: the fields to change of the caller's own profile; an absent field
/// stays, an empty status or time zone clears it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// One line, at most 100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    /// One emoji, as the character or a `:shortcode:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_emoji: Option<String>,
    /// An IANA time zone name (`Europe/Berlin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// The answer to `POST /auth/logout_all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsEnded {
    pub sessions_ended: usize,
}

// ---------------------------------------------------------------------------------
// Workspaces, invites, members.

/// `POST /workspaces` and `PATCH /workspaces/{ws}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    pub name: String,
}

/// The answer to `GET /workspaces`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Workspaces {
    pub workspaces: Vec<WorkspaceView>,
}

/// `POST /workspaces/{ws}/invites` (the body is optional).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInvite {
    /// How many people may use it (default 1 for a guest invite, 50 otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
    /// Hours until it expires (default 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_hours: Option<u32>,
    /// `member` (default) or `guest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// The answer to `GET /workspaces/{ws}/invites`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Invites {
    pub invites: Vec<Invite>,
}

/// The answer to `GET /invites/{code}`: where an invite leads, before accepting.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvitePreview {
    pub workspace: WorkspaceRef,
    pub role: Role,
    pub expires_at: Millis,
}

/// A workspace named, without the rest of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkspaceRef {
    pub id: WorkspaceId,
    pub name: String,
}

/// The answer to `GET /workspaces/{ws}/members`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Members {
    pub members: Vec<MemberView>,
}

/// `PATCH /workspaces/{ws}/members/{user}`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    pub role: Role,
}

/// One entry of `GET /workspaces/{ws}/presence`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceEntry {
    pub user: UserId,
    pub status: Presence,
}

/// The answer to `GET /workspaces/{ws}/presence`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PresenceList {
    pub presence: Vec<PresenceEntry>,
}

// ---------------------------------------------------------------------------------
// Channels.

/// The answer to `GET /workspaces/{ws}/channels`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Channels {
    pub channels: Vec<ChannelView>,
}

/// `POST /workspaces/{ws}/channels`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    pub name: String,
    #[serde(default)]
    pub private: bool,
    #[serde(default)]
    pub topic: String,
}

/// `PATCH /channels/{ch}`: each field given is changed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
}

/// `POST /workspaces/{ws}/dms`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DmRequest {
    pub users: Vec<UserId>,
}

/// `POST /channels/{ch}/members`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    pub user: UserId,
}

/// A member of a channel, as its member list shows them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChannelMemberView {
    #[serde(flatten)]
    pub profile: UserProfile,
    pub joined_at: Millis,
}

/// The answer to `GET /channels/{ch}/members`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChannelMembers {
    pub members: Vec<ChannelMemberView>,
}

// ---------------------------------------------------------------------------------
// Messages.

/// `POST /channels/{ch}/messages`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_root: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
}

/// The query string of `GET /channels/{ch}/messages`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Messages with `seq` below this one, newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// Messages with `seq` above this one, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// The answer to `GET /channels/{ch}/messages`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Messages {
    pub messages: Vec<Message>,
}

/// `PATCH /messages/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextBody {
    pub text: String,
}

/// `POST /channels/{ch}/read` and `POST /messages/{id}/thread/read`, and their
/// answer: the caller's read marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadMarker {
    pub seq: u64,
}

/// The query string of `GET /workspaces/{ws}/activity`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    /// Activity older than this message (the `next` of the previous page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// One message of the caller's activity: why it is there, and whether they have
/// read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityItem {
    pub message: Message,
    /// It mentions the caller.
    pub mention: bool,
    /// It replies in a thread the caller is in.
    pub reply: bool,
    pub unread: bool,
}

/// The answer to `GET /workspaces/{ws}/activity`: newest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActivityPage {
    pub items: Vec<ActivityItem>,
    /// Pass as `before` for older activity; absent at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<MessageId>,
}

/// The query string of `GET /workspaces/{ws}/threads`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
}

/// A thread the caller is in, with what they have not read of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadSummary {
    pub root: Message,
    /// Its newest replies (at most 3), oldest first.
    pub latest_replies: Vec<Message>,
    /// The caller's read marker in the thread: replies up to this `seq` are read.
    pub last_read_seq: u64,
    pub unread_replies: u64,
    /// Unread replies that mention the caller.
    pub unread_mentions: u64,
}

/// The answer to `GET /workspaces/{ws}/threads`: the newest activity first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Threads {
    pub threads: Vec<ThreadSummary>,
    /// How many threads the caller is in (for paging with `offset`).
    pub total: usize,
}

/// The query string of `GET /workspaces/{ws}/saved`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
}

/// A message the caller saved, and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedItem {
    pub message: Message,
    pub saved_at: Millis,
}

/// The answer to `GET /workspaces/{ws}/saved`: the most recently saved first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedPage {
    pub items: Vec<SavedItem>,
    /// How many saved messages the caller may read (for paging with `offset`).
    pub total: usize,
}

/// A message pinned to its channel, who pinned it and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PinnedMessage {
    pub message: Message,
    pub pinned_by: UserId,
    pub pinned_at: Millis,
}

/// The answer to `GET /channels/{ch}/pins`: the most recently pinned first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pins {
    pub pins: Vec<PinnedMessage>,
}

/// `PUT /channels/{ch}/notifications`, and its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyBody {
    pub level: confab_core::NotifyLevel,
}

// ---------------------------------------------------------------------------------
// Search and suggestions.

/// The query string of `GET /workspaces/{ws}/search`; `S` is the sort order
/// (`relevance` or `recent`, the search crate's `SortOrder`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams<S> {
    pub q: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub sort: Option<S>,
}

/// The answer to `GET /workspaces/{ws}/search`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchAnswer<H> {
    /// Report clicks with this id.
    pub query_id: String,
    pub total: usize,
    pub partial: bool,
    pub hits: Vec<H>,
}

/// One search hit; `P` is a part of its snippet (`{text, highlight}`, the search
/// crate's `SnippetPart`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchHit<P> {
    pub message: Message,
    pub channel: ChannelRef,
    pub author: UserProfile,
    /// The matched text with highlighted parts; render the parts as text.
    pub snippet: Vec<P>,
    pub score: f32,
    /// For a reply: the thread's root message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_root: Option<Message>,
}

/// A channel named, without the rest of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChannelRef {
    pub id: confab_core::ChannelId,
    pub name: String,
    pub kind: confab_core::ChannelKind,
}

/// `POST /workspaces/{ws}/search/clicks`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchClick {
    pub query_id: String,
    pub message: MessageId,
}

/// The query string of `GET /workspaces/{ws}/emoji/suggest`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmojiParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// The query string of `GET /workspaces/{ws}/channels/suggested`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// The answer to both suggestion routes: emoji suggestions, or channel suggestions
/// ([`ChannelSuggestion`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Suggestions<T> {
    pub suggestions: Vec<T>,
}

/// A public channel the caller is not in, with why they may want it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChannelSuggestion {
    pub channel: confab_core::Channel,
    pub reason: String,
    pub score: f32,
}

// ---------------------------------------------------------------------------------
// Features, consent, models.

/// The answer to `GET /features`: what this server offers, so that a client shows
/// or hides whole features without probing routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Features {
    pub search: bool,
    pub emoji_suggest: bool,
    pub channel_suggest: bool,
    pub consent: bool,
    /// The longest message text the server takes, in characters (Unicode scalar
    /// values, counted after trimming), so a client can warn before sending.
    pub max_message_chars: usize,
}

/// The answer to `GET /healthz`: whether this node can serve, for a supervisor or a
/// load balancer. `200` with `status: "ok"`, or `503` with `status: "unavailable"`
/// when the store did not answer a read or writes have stopped after a storage
/// failure (fail-stop: restart the process). No cause is given: the log has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    /// Where the store is: `sled` (the data dir) or `postgres`.
    pub store: StoreBackend,
    /// Whether the store answered a read just now.
    pub store_reads: bool,
    /// Whether writes have stopped after a storage failure.
    pub writes_stopped: bool,
    /// A node of a cluster: its connection to the bus. Absent on a single node. A
    /// lost bus does not make the status `unavailable` (see [`BusHealth`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<BusHealth>,
}

/// A node's connection to the cluster's bus, in `/healthz`. Without it the node
/// still serves reads and the writes of the workspaces it sequences, and the client
/// reconnects by itself: restarting the node would not bring NATS back, so it is
/// reported, not counted against the node's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusHealth {
    /// Whether the node is connected to NATS now.
    pub connected: bool,
    /// Since when (milliseconds since the epoch): the last change, or the node's start.
    pub since: Millis,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Unavailable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    Sled,
    Postgres,
}

/// The answer to `GET /consent/policies`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Policies<P> {
    pub policies: Vec<P>,
}

/// One policy of `GET /consent/policies`: the policy's own fields, and the data
/// categories its purpose may read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PolicyWithCategories<P, C> {
    #[serde(flatten)]
    pub policy: P,
    pub categories: Vec<C>,
}

/// The query string of `GET /workspaces/{ws}/consent/preview`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeParams {
    pub purpose: String,
}

/// `PUT /workspaces/{ws}/consent/{purpose}`: a grant (`granted: true` with the
/// grant's terms and an explicit `accept: true`) or a withdrawal (`granted: false`).
/// `S`, `C` and `M` are the consent crate's scope, category and member mode.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange<S, C, M> {
    pub granted: bool,
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub scope: Option<S>,
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<C>>,
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub members: Option<M>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<bool>,
}

impl<S, C, M> ConsentChange<S, C, M> {
    /// A withdrawal: `granted: false` and nothing else.
    pub fn withdrawal() -> Self {
        ConsentChange {
            granted: false,
            scope: None,
            categories: None,
            members: None,
            policy_version: None,
            policy_sha256: None,
            accept: None,
        }
    }
}

/// `PUT /workspaces/{ws}/consent/{purpose}/me`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncludedBody {
    pub included: bool,
}

/// The answer to `GET /workspaces/{ws}/models`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Models<M> {
    pub models: Vec<M>,
}

/// `POST /admin/train` (the body is optional).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// The answer to `POST /admin/train`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Runs<R> {
    pub runs: Vec<R>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_carries_code_and_message_only() {
        let body = serde_json::to_value(ErrorBody::new(confab_core::Error::rate_limited(2))).unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
        assert_eq!(body["error"].as_object().unwrap().len(), 2, "the wait is a header: {body}");
    }

    #[test]
    fn request_bodies_refuse_unknown_fields() {
        let post = serde_json::from_str::<PostMessage>(r#"{"text":"hi","client_msg_id":"c1"}"#).unwrap();
        assert_eq!(post.client_msg_id.as_deref(), Some("c1"));
        assert!(serde_json::from_str::<PostMessage>(r#"{"text":"hi","txet":"x"}"#).is_err());
        assert!(serde_json::from_str::<ReadMarker>(r#"{"seq":1,"extra":true}"#).is_err());
        // An optional body's absent fields are absent on the wire too.
        assert_eq!(serde_json::to_string(&CreateInvite::default()).unwrap(), "{}");
    }
}

// ---------------------------------------------------------------------------------
// Files.

/// `POST /channels/{ch}/files`: the file and the message posted with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilePosted {
    /// The first file (the only one of most uploads).
    pub file: FileInfo,
    /// Every file of the message, in the order they were sent.
    #[serde(default)]
    pub files: Vec<FileInfo>,
    pub message: Message,
}
