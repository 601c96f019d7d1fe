//! The errors a client can see.
//!
//! [`ErrorCode`] is the API's stable vocabulary: its snake_case names are the
//! `error.code` strings of every HTTP error body and WebSocket `error` frame, so a
//! variant is never renamed once released. [`Error`] pairs a code with a human
//! message (safe to show to the caller) and, for throttling, a retry delay. Internal
//! causes (I/O, corruption) are logged where they happen and reach the client only
//! as [`ErrorCode::Internal`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request could not be understood: bad JSON, wrong shape, unknown field.
    InvalidRequest,
    /// A field has a value outside its rules (length, charset, range).
    InvalidField,
    /// An id is not well formed.
    InvalidId,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// No valid session token was presented.
    Unauthenticated,
    /// Wrong email or password.
    InvalidCredentials,
    /// The caller may see the thing but not do this to it.
    Forbidden,
    /// The thing does not exist, or the caller may not know that it exists.
    NotFound,
    WorkspaceNotFound,
    ChannelNotFound,
    MessageNotFound,
    UserNotFound,
    InviteNotFound,
    /// No such file, or the caller may not read its channel.
    FileNotFound,
    /// The invite has expired or has no uses left.
    InviteExpired,
    /// An account with this email already exists.
    EmailTaken,
    /// The name is already used in this workspace.
    NameTaken,
    /// Sign-up is closed on this server (`invite_only`).
    SignupClosed,
    /// The change would leave the workspace without an owner.
    LastOwner,
    /// The channel is archived: it can be read but not written.
    ChannelArchived,
    /// The request conflicts with the current state (e.g. joining a DM).
    Conflict,
    /// Too many requests: wait `retry_after` seconds.
    RateLimited,
    /// A per-account quota is used up (workspaces owned, channels created).
    QuotaExceeded,
    /// The search query is malformed; the message says where.
    InvalidQuery,
    /// The search index is being rebuilt from the store.
    IndexRebuilding,
    /// A consent grant without an explicit `accept: true`.
    ConsentNotExplicit,
    /// A consent grant naming a stale policy version or hash.
    PolicyMismatch,
    /// A WebSocket frame of a type the server does not know.
    UnknownFrame,
    /// A WebSocket frame sent before the `auth` frame.
    NotAuthenticatedYet,
    /// Something went wrong on the server; the log has the cause.
    Internal,
    /// A storage write failed, so the server refuses writes until it is restarted
    /// (fail-stop: nothing is acknowledged that may not be durable). Reads still work.
    Unavailable,
}

impl ErrorCode {
    /// The snake_case name used on the wire (an exhaustive match: a new variant
    /// cannot be added without its name).
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidRequest => "invalid_request",
            InvalidField => "invalid_field",
            InvalidId => "invalid_id",
            PayloadTooLarge => "payload_too_large",
            Unauthenticated => "unauthenticated",
            InvalidCredentials => "invalid_credentials",
            Forbidden => "forbidden",
            NotFound => "not_found",
            WorkspaceNotFound => "workspace_not_found",
            ChannelNotFound => "channel_not_found",
            MessageNotFound => "message_not_found",
            UserNotFound => "user_not_found",
            InviteNotFound => "invite_not_found",
            FileNotFound => "file_not_found",
            InviteExpired => "invite_expired",
            EmailTaken => "email_taken",
            NameTaken => "name_taken",
            SignupClosed => "signup_closed",
            LastOwner => "last_owner",
            ChannelArchived => "channel_archived",
            Conflict => "conflict",
            RateLimited => "rate_limited",
            QuotaExceeded => "quota_exceeded",
            InvalidQuery => "invalid_query",
            IndexRebuilding => "index_rebuilding",
            ConsentNotExplicit => "consent_not_explicit",
            PolicyMismatch => "policy_mismatch",
            UnknownFrame => "unknown_frame",
            NotAuthenticatedYet => "not_authenticated_yet",
            Internal => "internal",
            Unavailable => "unavailable",
        }
    }

    /// Every code, for tests that check each one.
    #[cfg(test)]
    const ALL: &'static [ErrorCode] = &[
        Self::InvalidRequest,
        Self::InvalidField,
        Self::InvalidId,
        Self::PayloadTooLarge,
        Self::Unauthenticated,
        Self::InvalidCredentials,
        Self::Forbidden,
        Self::NotFound,
        Self::WorkspaceNotFound,
        Self::ChannelNotFound,
        Self::MessageNotFound,
        Self::UserNotFound,
        Self::InviteNotFound,
        Self::FileNotFound,
        Self::InviteExpired,
        Self::EmailTaken,
        Self::NameTaken,
        Self::SignupClosed,
        Self::LastOwner,
        Self::ChannelArchived,
        Self::Conflict,
        Self::RateLimited,
        Self::QuotaExceeded,
        Self::InvalidQuery,
        Self::IndexRebuilding,
        Self::ConsentNotExplicit,
        Self::PolicyMismatch,
        Self::UnknownFrame,
        Self::NotAuthenticatedYet,
        Self::Internal,
        Self::Unavailable,
    ];

    /// The HTTP status that carries this code.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidRequest | InvalidField | InvalidId | InvalidQuery | UnknownFrame | ConsentNotExplicit
            | PolicyMismatch => 400,
            Unauthenticated | InvalidCredentials | NotAuthenticatedYet => 401,
            Forbidden | SignupClosed | QuotaExceeded => 403,
            NotFound | WorkspaceNotFound | ChannelNotFound | MessageNotFound | UserNotFound
            | InviteNotFound | FileNotFound => 404,
            EmailTaken | NameTaken | LastOwner | ChannelArchived | Conflict => 409,
            InviteExpired => 410,
            PayloadTooLarge => 413,
            RateLimited => 429,
            IndexRebuilding | Unavailable => 503,
            Internal => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds to wait before retrying, for [`ErrorCode::RateLimited`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into(), retry_after: None }
    }

    pub fn invalid_field(field: &str, why: impl fmt::Display) -> Self {
        Error::new(ErrorCode::InvalidField, format!("{field}: {why}"))
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Error {
            code: ErrorCode::RateLimited,
            message: format!("too many requests; retry after {retry_after_secs} s"),
            retry_after: Some(retry_after_secs.max(1)),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Forbidden, message)
    }

    pub fn internal() -> Self {
        Error::new(ErrorCode::Internal, "internal error; the server log has the cause")
    }

    pub fn unavailable() -> Self {
        Error::new(
            ErrorCode::Unavailable,
            "the server stopped accepting writes after a storage failure; it must be restarted",
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde_names() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(code.as_str()));
        }
    }

    #[test]
    fn statuses_are_client_or_server_errors() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.http_status()), "{code}");
        }
    }
}
