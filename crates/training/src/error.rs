//! The crate's error type. Messages name workspaces, purposes and files, never any
//! text from the training data.

use std::path::PathBuf;

use confab_consent::{ConsentError, Purpose, StorageError};
use confab_recommend::ModelError;

/// Why a run, a budget check or a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainingError {
    /// The snapshot was taken for another purpose than the run asked for.
    #[error("the snapshot was taken for {found}, but the run is for {expected}")]
    PurposeMismatch { expected: Purpose, found: Purpose },
    /// The configuration is out of range.
    #[error("training configuration: {0}")]
    Config(String),
    /// A run would take a workspace past its privacy budget; nothing was trained.
    #[error("refused: {0}")]
    BudgetExceeded(String),
    /// The consent ledger refused or failed (for example a spend after a withdrawal).
    #[error("consent ledger: {0}")]
    Consent(#[from] ConsentError),
    /// The operating system's secure randomness failed; no noise, no model.
    #[error("secure randomness unavailable: {0}")]
    Randomness(String),
    /// A produced artifact failed its own format's validation (a bug, never served).
    #[error("invalid artifact: {0}")]
    InvalidArtifact(String),
    /// A produced emoji model or channel weights failed their format's validation (a
    /// bug, never served).
    #[error("invalid model: {0}")]
    InvalidModel(#[from] ModelError),
    /// A model id that is not one this crate makes (ids are `[a-z0-9_-]`).
    #[error("not a model id: {0:?}")]
    InvalidId(String),
    /// A registry file is unreadable, malformed or does not match its manifest hash.
    #[error("model registry: {0}")]
    Corrupt(String),
    #[error("model registry: {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<StorageError> for TrainingError {
    fn from(e: StorageError) -> Self {
        TrainingError::Consent(ConsentError::Storage(e))
    }
}
