//! The data lifecycle an operator is answerable for: accounts as the operator manages
//! them ([`accounts`]: `confab user …`, disabling, one-time password-reset links), and
//! erasure that reaches the models too ([`erasure`]).
//!
//! Its settings are the `[lifecycle]` section ([`LifecycleConfig`]); its state is one
//! [`Lifecycle`] per app, holding the key that signs password-reset links.

pub mod accounts;
pub mod erasure;
mod reset;

use std::path::Path;

use serde::Deserialize;

pub use accounts::{AccountView, CreateAccount};
pub use erasure::{DeleteAccount, ErasedMessages, ErasurePolicy, ErasureReport};
pub use reset::{PasswordReset, ResetPassword};

/// `[lifecycle]`: password resets (and, later, retention and erasure).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// Seconds a password-reset link (`confab user reset-password`) stays valid.
    pub password_reset_ttl_secs: u64,
    /// The address members reach the server at (e.g. `https://chat.example.com`),
    /// for the links operator commands print; empty: `http://` and `server.listen`.
    pub public_url: String,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig { password_reset_ttl_secs: 24 * 3600, public_url: String::new() }
    }
}

/// Per-app lifecycle state.
pub(crate) struct Lifecycle {
    reset_key: reset::ResetKey,
}

impl Lifecycle {
    /// Loads (or creates, on a fresh data dir) the key in `<data_dir>/secret.key`.
    pub(crate) fn open(data_dir: &Path) -> Result<Lifecycle, String> {
        Ok(Lifecycle { reset_key: reset::ResetKey::open(&data_dir.join(reset::KEY_FILE))? })
    }
}
