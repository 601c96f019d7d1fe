//! One-time password-reset links, for an instance without a mail server: the
//! operator runs `confab user reset-password EMAIL` and hands the printed link to the
//! member, who sets a new password with it (`POST /auth/reset_password`).
//!
//! A token is the account id and an expiry, signed with HMAC-SHA256 under a key
//! kept in the store, so that every node of a cluster signs and checks links with
//! the same key (a link printed by one node works on any). The signature also covers the account's current password
//! hash (as Django's reset tokens do), so a token stops working the moment it is
//! used, or the password changes, or the account is disabled, enabled or erased —
//! one-time without storing anything. A forged or altered token costs the server one
//! HMAC, never a password hash.

use std::path::Path;

use base64::Engine;
use confab_core::{Error, ErrorCode, Millis, UserId, WorkspaceId};
use confab_store::{Batch, Op, Store, UserRecord};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{AppError, Result};
use crate::{App, now_ms};

/// Where data dirs made before the key moved into the store kept it: read once,
/// when the store has no key yet, so that links printed before an upgrade still work.
pub(crate) const KEY_FILE: &str = "secret.key";

/// Where the store keeps the key: a blob of no workspace (the all-zero id, which no
/// workspace has).
const KEY_NAMESPACE: &str = "server";
const KEY_NAME: &[u8] = b"password_reset_key";

fn key_owner() -> WorkspaceId {
    WorkspaceId::from_bytes([0; 16])
}

const DOMAIN: &[u8] = b"confab password reset v1";
/// Account id (16 bytes), expiry (8), signature (32).
const TOKEN_BYTES: usize = 16 + 8 + 32;

type HmacSha256 = Hmac<Sha256>;

/// The HMAC key of reset links: 32 random bytes, in the store.
pub(crate) struct ResetKey([u8; 32]);

impl ResetKey {
    /// Makes sure the store holds a key: the data dir's old key file if there is
    /// one, else 32 random bytes. Two nodes of a new cluster starting at once may
    /// both write one; the last write wins, and since every use reads the key from
    /// the store ([`ResetKey::current`]), all nodes then agree.
    pub(crate) fn ensure(store: &dyn Store, data_dir: &Path) -> Result<(), String> {
        let describe = |e: confab_store::StoreError| format!("the password-reset key in the store: {e}");
        if ResetKey::current(store).map_err(describe)?.is_some() {
            return Ok(());
        }
        let path = data_dir.join(KEY_FILE);
        let key: [u8; 32] = match std::fs::read(&path) {
            Ok(bytes) => bytes.try_into().map_err(|_| format!("{}: not a 32-byte key", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => rand::random(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let mut batch = Batch::new();
        batch.push(Op::PutBlob {
            workspace: key_owner(),
            namespace: KEY_NAMESPACE,
            key: KEY_NAME.to_vec(),
            value: key.to_vec(),
        });
        store.apply(batch).and_then(|()| store.flush()).map_err(describe)
    }

    /// The key the store holds now (`None` only before [`ResetKey::ensure`]).
    fn current(store: &dyn Store) -> confab_store::Result<Option<ResetKey>> {
        let value = store.blob(key_owner(), KEY_NAMESPACE, KEY_NAME)?;
        // A value of another length is not a key this code wrote: no link verifies.
        Ok(value.and_then(|v| <[u8; 32]>::try_from(v).ok()).map(ResetKey))
    }

    fn mac(&self, payload: &[u8], record: &UserRecord) -> HmacSha256 {
        // A 32-byte key is always a valid HMAC key.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(DOMAIN);
        mac.update(payload);
        mac.update(record.password_hash.as_bytes());
        mac.update(record.user.email.as_bytes());
        mac
    }
}

/// A reset link's token, for the operator to hand over.
#[derive(Clone, Debug, Serialize)]
pub struct PasswordReset {
    pub user: UserId,
    pub email: String,
    pub token: String,
    pub expires_at: Millis,
}

/// `POST /auth/reset_password`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    pub token: String,
    pub new_password: String,
}

impl std::fmt::Debug for ResetPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetPassword { .. }")
    }
}

fn invalid_token() -> AppError {
    Error::new(ErrorCode::InvalidCredentials, "this reset link is invalid, used or expired").into()
}

impl App {
    /// A one-time reset token for the account, valid for
    /// `lifecycle.password_reset_ttl_secs`. A disabled account gets none.
    pub fn password_reset_token(&self, email: &str) -> Result<PasswordReset> {
        let record = self.account_by_email(email)?;
        if record.is_disabled() {
            return Err(Error::forbidden("the account is disabled: enable it first").into());
        }
        let ttl_ms = self.config().lifecycle.password_reset_ttl_secs.saturating_mul(1000);
        let expires_at = now_ms().saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
        let mut token = Vec::with_capacity(TOKEN_BYTES);
        token.extend_from_slice(&record.user.id.to_bytes());
        token.extend_from_slice(&expires_at.to_be_bytes());
        let key = ResetKey::current(self.store().as_ref())?.ok_or_else(Error::internal)?;
        let signature = key.mac(&token, &record).finalize().into_bytes();
        token.extend_from_slice(&signature);
        Ok(PasswordReset {
            user: record.user.id,
            email: record.user.email,
            token: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token),
            expires_at,
        })
    }

    /// Sets a new password with a reset token, which is then spent, and ends every
    /// session of the account.
    pub async fn reset_password(&self, req: ResetPassword) -> Result<()> {
        if req.token.len() > 128 {
            return Err(invalid_token());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&req.token)
            .map_err(|_| invalid_token())?;
        if bytes.len() != TOKEN_BYTES {
            return Err(invalid_token());
        }
        let (payload, signature) = bytes.split_at(24);
        let user = UserId::from_bytes(payload[..16].try_into().map_err(|_| invalid_token())?);
        let expires_at = Millis::from_be_bytes(payload[16..24].try_into().map_err(|_| invalid_token())?);
        if expires_at <= now_ms() {
            return Err(invalid_token());
        }
        let record = self.store().user(user)?.ok_or_else(invalid_token)?;
        let key = ResetKey::current(self.store().as_ref())?.ok_or_else(invalid_token)?;
        key.mac(payload, &record).verify_slice(signature).map_err(|_| invalid_token())?;
        self.limits().password(&req.new_password)?;
        let password_hash = self.hash_new_password(req.new_password).await?;
        // Hashing took a while: the account must still be as the token was made for.
        let current = self.store().user(user)?.ok_or_else(invalid_token)?;
        if current.password_hash != record.password_hash || current.user.email != record.user.email {
            return Err(invalid_token());
        }
        let mut batch = Batch::new();
        batch.push(Op::PutUser(UserRecord { user: current.user, password_hash }));
        self.write_global(batch).await?;
        self.end_sessions(user, None).await?;
        Ok(())
    }
}
