//! The app's error: what went wrong, with its cause, until the edge decides what the
//! client sees.
//!
//! [`AppError::Client`] carries an error meant for the caller (a bad field, a
//! missing channel, a rate limit): it is shown as it is. Every other variant is a
//! failure of the server, kept with its cause: the client sees only `internal` (or
//! `unavailable` once writes have stopped), and the HTTP and WebSocket responders
//! log the cause, once, where they answer ([`AppError::log`]). Nothing in between
//! logs and throws the cause away.

use confab_consent::{ConsentError, StorageError};
use confab_core::{Error, ErrorCode};
use confab_recommend::ModelError;
use confab_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An answer for the caller, shown as it is.
    #[error(transparent)]
    Client(#[from] Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A store write failed in a way that stopped writes (fail-stop): `unavailable`.
    #[error("writes stopped: {0}")]
    WritesStopped(StoreError),
    #[error("encoding: {0}")]
    Encoding(#[from] serde_json::Error),
    #[error("training: {0}")]
    Training(#[from] confab_training::TrainingError),
    /// The consent ledger failed (not a refusal: those are [`AppError::Client`]).
    #[error("consent: {0}")]
    Consent(ConsentError),
    /// A stored model's weights do not parse or validate.
    #[error("stored model: {0}")]
    Model(#[from] ModelError),
    #[error("background task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Anything else, with what was being done.
    #[error("{context}: {cause}")]
    Other { context: &'static str, cause: String },
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl AppError {
    /// A failure of the server with a cause of no more specific type.
    pub fn other(context: &'static str, cause: impl std::fmt::Display) -> Self {
        AppError::Other { context, cause: cause.to_string() }
    }

    /// What the client is told.
    pub fn to_client(&self) -> Error {
        match self {
            AppError::Client(e) => e.clone(),
            AppError::Store(StoreError::Stopped) | AppError::WritesStopped(_) => Error::unavailable(),
            _ => Error::internal(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Client(e) => e.code,
            AppError::Store(StoreError::Stopped) | AppError::WritesStopped(_) => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        }
    }

    /// Logs the cause of a server failure (a client error is not a failure: nothing
    /// is logged). Call once, where the error is answered.
    pub fn log(&self) {
        if !matches!(self, AppError::Client(_)) {
            tracing::error!(error = %self, "request failed");
        }
    }
}

impl From<ConsentError> for AppError {
    /// Where consent's errors get their codes: a change the ledger refuses is the
    /// caller's to fix and answered as it is; a failure of storage or encoding is the
    /// server's.
    fn from(e: ConsentError) -> Self {
        let code = match &e {
            ConsentError::NotOwner { .. } | ConsentError::NotGranted { .. } => ErrorCode::Forbidden,
            ConsentError::NotExplicit => ErrorCode::ConsentNotExplicit,
            ConsentError::PolicyMismatch { .. } => ErrorCode::PolicyMismatch,
            ConsentError::NoCategories
            | ConsentError::CategoryNotAllowed { .. }
            | ConsentError::UnknownPurpose(_)
            | ConsentError::InvalidSpend { .. } => ErrorCode::InvalidField,
            ConsentError::BudgetExceeded { .. } => ErrorCode::Conflict,
            ConsentError::Storage(_) | ConsentError::Encode(_) => return AppError::consent_failure(e),
        };
        AppError::Client(Error::new(code, e.to_string()))
    }
}

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        AppError::consent_failure(ConsentError::Storage(e))
    }
}

impl AppError {
    /// A consent failure, answered as its cause would be anywhere else: the app's own
    /// error behind the ledger's storage (a stopped store is `unavailable`) comes back
    /// as it was.
    fn consent_failure(e: ConsentError) -> Self {
        match e {
            ConsentError::Storage(storage) => match storage.downcast::<AppError>() {
                Ok(app) => app,
                Err(other) => AppError::Consent(ConsentError::Storage(other)),
            },
            e => AppError::Consent(e),
        }
    }
}

impl From<AppError> for Error {
    /// The client's view; the cause is dropped, so log it first ([`AppError::log`]).
    fn from(e: AppError) -> Self {
        e.to_client()
    }
}
