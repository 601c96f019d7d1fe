//! The data lifecycle an operator is answerable for: accounts as the operator manages
//! them ([`accounts`]: `confab user …`, disabling, one-time password-reset links), and
//! erasure that reaches the models too ([`erasure`]), retention ([`retention`]),
//! online backups ([`backup`]), the personal data export ([`export`]) and the
//! workspace export in Slack's layout ([`workspace_export`]).
//!
//! Its settings are the `[lifecycle]` section ([`LifecycleConfig`]); its state is one
//! [`Lifecycle`] per app, holding the key that signs password-reset links.

pub mod accounts;
pub mod backup;
pub mod erasure;
pub mod export;
mod reset;
pub mod retention;
pub mod workspace_export;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use accounts::{AccountView, CreateAccount};
pub use backup::BackupReport;
pub use erasure::{DeleteAccount, ErasedMessages, ErasurePolicy, ErasureReport};
pub use export::PersonalExport;
pub use reset::{PasswordReset, ResetPassword};
pub use retention::{ChannelRetention, RetentionPolicy, RetentionReport, SetRetention};
pub use workspace_export::{WorkspaceExport, WorkspaceExportReport};

/// How far a long operator command got: `done` of `total` units (messages, store
/// keys); `total` is 0 when it is not known in advance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// Called as a long command goes on (from a blocking thread).
pub type OnProgress = Box<dyn FnMut(Progress) + Send>;

/// `[lifecycle]`: password-reset links and the retention task.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// Seconds a password-reset link (`confab user reset-password`) stays valid.
    pub password_reset_ttl_secs: u64,
    /// The address members reach the server at (e.g. `https://chat.example.com`),
    /// for the links operator commands print; empty: `http://` and `server.listen`.
    pub public_url: String,
    /// Seconds between two passes of the retention task (0: never).
    pub retention_period_secs: u64,
    /// Messages one retention step reads and deletes at most.
    pub retention_batch: usize,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            password_reset_ttl_secs: 24 * 3600,
            public_url: String::new(),
            retention_period_secs: 3600,
            retention_batch: 500,
        }
    }
}

/// Per-app lifecycle state.
pub(crate) struct Lifecycle {
    data_dir: std::path::PathBuf,
    retention_cursors: retention::RetentionCursors,
    /// Personal exports running ([`export::CONCURRENT_EXPORTS`] at most).
    exports: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Lifecycle {
    /// Makes sure the store holds the password-reset key (see [`reset`]).
    pub(crate) fn open(store: &dyn confab_store::Store, data_dir: &Path) -> Result<Lifecycle, String> {
        reset::ResetKey::ensure(store, data_dir)?;
        Ok(Lifecycle {
            data_dir: data_dir.to_path_buf(),
            retention_cursors: Default::default(),
            exports: export::exports(),
        })
    }
}
