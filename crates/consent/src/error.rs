//! The crate's errors, in consent's terms: a change the ledger refuses (who asked,
//! what they accepted, what the purpose may read, the privacy budget), and a failure
//! of the app's storage behind [`crate::LedgerStore`] and [`crate::DataSource`].
//!
//! Which refusals a client may see and as which code, and how a storage failure is
//! answered, is decided where the app converts these (`crates/app/src/error.rs`).

use std::error::Error as StdError;

use confab_core::WorkspaceId;

use crate::vocab::{Category, Purpose};

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// Only a workspace owner grants or withdraws.
    #[error("only a workspace owner can {action} consent")]
    NotOwner { action: &'static str },
    /// A grant without `accept: true`.
    #[error("a grant needs an explicit \"accept\": true; consent is never implied")]
    NotExplicit,
    /// A grant naming another policy text than the current one.
    #[error(
        "the {purpose} policy you accepted (version {accepted_version}, sha256 {accepted_sha256}) is not \
         the current one: version {current_version}, sha256 {current_sha256}; read it again at \
         GET /api/v1/consent/policies"
    )]
    PolicyMismatch {
        purpose: Purpose,
        accepted_version: u32,
        accepted_sha256: String,
        current_version: u32,
        current_sha256: String,
    },
    /// A grant naming no category.
    #[error("categories: name at least one category")]
    NoCategories,
    /// A grant naming a category its purpose may never read.
    #[error("categories: {purpose} cannot use {category}; it may read only {}", allowed(*purpose))]
    CategoryNotAllowed { purpose: Purpose, category: Category },
    /// A purpose name that is not one of [`Purpose::ALL`].
    #[error("purpose: {0:?} is not one of search_ranking, emoji_suggestions, channel_suggestions")]
    UnknownPurpose(String),
    /// A budget spend for a purpose that is not granted (withdrawn while a run trained).
    #[error("{purpose} is not granted for workspace {workspace}; no budget can be spent")]
    NotGranted { workspace: WorkspaceId, purpose: Purpose },
    /// A spend that would take the workspace past its privacy budget.
    #[error(
        "privacy budget exceeded for {purpose} in workspace {workspace}: spent ε={spent}, this run needs \
         ε={epsilon}, cap is ε={cap}"
    )]
    BudgetExceeded { workspace: WorkspaceId, purpose: Purpose, spent: f64, epsilon: f64, cap: f64 },
    /// A spend whose ε, cap or run id is out of range.
    #[error("{field}: {rule}")]
    InvalidSpend { field: &'static str, rule: &'static str },
    /// The app's storage failed; the cause is the app's own error.
    #[error("consent storage: {0}")]
    Storage(#[from] StorageError),
    /// An entry could not be serialised for its hash (a bug: entries hold only
    /// strings and numbers).
    #[error("encoding a ledger entry: {0}")]
    Encode(#[source] serde_json::Error),
}

fn allowed(purpose: Purpose) -> String {
    purpose.allowed_categories().iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
}

/// A failure of the storage behind [`crate::LedgerStore`] or [`crate::DataSource`]:
/// the implementor's own error, kept whole so the app can answer it as it would
/// anywhere else ([`StorageError::downcast`]).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StorageError(Box<dyn StdError + Send + Sync>);

impl StorageError {
    pub fn new(cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        StorageError(cause.into())
    }

    /// The cause, if it is a `T`; else the error unchanged.
    pub fn downcast<T: StdError + 'static>(self) -> Result<T, StorageError> {
        self.0.downcast::<T>().map(|cause| *cause).map_err(StorageError)
    }
}
