//! Accounts as the operator manages them from the server's machine (`confab user
//! list|create|disable|enable|make-admin`): no caller, because access to the data
//! dir or the admin socket already gives the operator everything.
//!
//! Disabling an account ends every session it has and closes its WebSockets (code
//! 4001) before the call returns; from then on log-in is refused, and a session that
//! raced the disabling is refused when presented (`App::authenticate_session`).
//! Enabling gives back the password the account had.

use confab_core::{Error, ErrorCode, User, UserId, validate};
use confab_store::{Batch, Op, UserRecord};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Result};
use crate::{App, new_ulid, now_ms};

/// An account as `confab user list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct AccountView {
    #[serde(flatten)]
    pub user: User,
    pub disabled: bool,
    /// Workspaces the account is a member of.
    pub workspaces: usize,
}

/// `confab user create`.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    pub email: String,
    pub password: String,
    /// Defaults to the email's local part.
    #[serde(default)]
    pub display_name: Option<String>,
}

impl std::fmt::Debug for CreateAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateAccount").field("email", &self.email).finish_non_exhaustive()
    }
}

impl App {
    /// The account with this email, or `user_not_found`.
    pub(crate) fn account_by_email(&self, email: &str) -> Result<UserRecord> {
        let email = email.trim().to_lowercase();
        self.store()
            .user_by_email(&email)?
            .ok_or_else(|| Error::new(ErrorCode::UserNotFound, format!("no account with email {email}")))
            .map_err(AppError::from)
    }

    fn account_view(&self, record: UserRecord) -> Result<AccountView> {
        let workspaces = self.store().workspaces_of(record.user.id)?.len();
        Ok(AccountView { disabled: record.is_disabled(), user: record.user, workspaces })
    }

    /// Every account, in id order (the order they were created in).
    pub fn accounts(&self) -> Result<Vec<AccountView>> {
        self.store().users()?.into_iter().map(|r| self.account_view(r)).collect()
    }

    /// Creates an account with a password, whatever `auth.signup` says; the first
    /// account of a server administers the instance, as with sign-up.
    pub async fn create_account(&self, req: CreateAccount) -> Result<AccountView> {
        let email = req.email.trim().to_lowercase();
        validate::email(&email)?;
        self.limits().password(&req.password)?;
        let local = email.split('@').next().unwrap_or_default().to_string();
        let display_name =
            self.limits().display_name(req.display_name.as_deref().unwrap_or(&local))?.to_string();
        if self.store().user_by_email(&email)?.is_some() {
            return Err(Error::new(ErrorCode::EmailTaken, "an account with this email exists").into());
        }
        let password_hash = self.hash_new_password(req.password).await?;
        let record = {
            let _guard = self.inner.signup_lock.lock();
            let store = self.store();
            if store.user_by_email(&email)?.is_some() {
                return Err(Error::new(ErrorCode::EmailTaken, "an account with this email exists").into());
            }
            let username = self.first_free_username(&crate::auth::username_from_email(&email), |_| false)?;
            let user = User {
                id: UserId::from_ulid(new_ulid()),
                email,
                username,
                display_name,
                instance_admin: store.user_count()? == 0,
                created_at: now_ms(),
                details: Default::default(),
            };
            let record = UserRecord { user, password_hash };
            let mut batch = Batch::new();
            batch.push(Op::PutUser(record.clone()));
            self.store().apply(batch).map_err(|e| self.store_write_failed(e))?;
            record
        };
        self.inner.committer.enqueue(Vec::new()).wait().await?;
        self.account_view(record)
    }

    /// Disables (`true`) or enables the account. Disabling ends its sessions and
    /// closes its sockets before returning.
    pub async fn set_account_disabled(&self, email: &str, disabled: bool) -> Result<AccountView> {
        let record = self.account_by_email(email)?;
        let user = record.user.id;
        if record.is_erased() {
            return Err(Error::new(ErrorCode::UserNotFound, "the account was erased").into());
        }
        if record.is_disabled() != disabled {
            let mut batch = Batch::new();
            batch.push(Op::PutUser(record.with_disabled(disabled)));
            self.write_global(batch).await?;
        }
        if disabled {
            self.end_sessions(user, None).await?;
        }
        self.account_view(self.store().user(user)?.ok_or_else(Error::internal)?)
    }

    /// Makes the account an instance admin.
    pub async fn make_instance_admin(&self, email: &str) -> Result<AccountView> {
        let mut record = self.account_by_email(email)?;
        if !record.user.instance_admin {
            record.user.instance_admin = true;
            let mut batch = Batch::new();
            batch.push(Op::PutUser(record.clone()));
            self.write_global(batch).await?;
        }
        self.account_view(record)
    }
}
