//! One-time password-reset links, for an instance without a mail server: the
//! operator runs `confab user reset-password EMAIL` and hands the printed link to the
//! member, who sets a new password with it (`POST /auth/reset_password`).
//!
//! A token is the account id and an expiry, signed with HMAC-SHA256 under a key
//! kept in the data dir. The signature also covers the account's current password
//! hash (as Django's reset tokens do), so a token stops working the moment it is
//! used, or the password changes, or the account is disabled, enabled or erased —
//! one-time without storing anything. A forged or altered token costs the server one
//! HMAC, never a password hash.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use confab_core::{Error, ErrorCode, Millis, UserId};
use confab_store::{Batch, Op, UserRecord};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{AppError, Result};
use crate::{App, now_ms};

/// The key's file in the data dir.
pub(crate) const KEY_FILE: &str = "secret.key";

const DOMAIN: &[u8] = b"confab password reset v1";
/// Account id (16 bytes), expiry (8), signature (32).
const TOKEN_BYTES: usize = 16 + 8 + 32;

type HmacSha256 = Hmac<Sha256>;

/// The HMAC key of reset links: 32 random bytes, created owner-only on first use.
pub(crate) struct ResetKey([u8; 32]);

impl ResetKey {
    pub(crate) fn open(path: &Path) -> Result<ResetKey, String> {
        let describe = |e: std::io::Error| format!("{}: {e}", path.display());
        match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; 32] =
                    bytes.try_into().map_err(|_| format!("{}: not a 32-byte key", path.display()))?;
                Ok(ResetKey(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(describe)?;
                file.write_all(&key).and_then(|()| file.sync_all()).map_err(describe)?;
                Ok(ResetKey(key))
            }
            Err(e) => Err(describe(e)),
        }
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
        let signature = self.inner.lifecycle.reset_key.mac(&token, &record).finalize().into_bytes();
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
        let key = &self.inner.lifecycle.reset_key;
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
