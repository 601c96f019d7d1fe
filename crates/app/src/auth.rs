//! Accounts and sessions: sign-up, log-in with throttling, log-out, and turning a
//! bearer token into a [`Caller`].
//!
//! Passwords are hashed with argon2id off the async runtime, at most
//! `max_concurrent_hashes` at a time, so a burst of log-ins cannot starve other
//! requests. A session token is 256 random bits shown to the client once; the store
//! keeps only its SHA-256.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use base64::Engine;
use confab_core::{Error, ErrorCode, User, UserId, validate};
use confab_store::{Batch, Op, Session, UserRecord};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use parking_lot::Mutex;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::config::{AuthConfig, SignupMode};
use crate::{App, internal, new_ulid, now_ms};

/// Who is making a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: UserId,
    pub instance_admin: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    pub display_name: String,
    /// The `@handle`; derived from the email if absent.
    #[serde(default)]
    pub username: Option<String>,
    /// Required when sign-up is `invite_only`: the invite is accepted on sign-up.
    #[serde(default)]
    pub invite: Option<String>,
}

/// A new session.
#[derive(Clone, Debug)]
pub struct AuthOutcome {
    pub user: User,
    pub token: String,
}

pub(crate) struct AuthState {
    hasher: Argon2<'static>,
    hashing: Arc<Semaphore>,
    session_ttl_ms: i64,
    failures_by_account: DefaultKeyedRateLimiter<String>,
    failures_by_address: DefaultKeyedRateLimiter<IpAddr>,
    /// Until when (ms) a key is refused without checking the password.
    blocked_accounts: Mutex<std::collections::HashMap<String, i64>>,
    blocked_addresses: Mutex<std::collections::HashMap<IpAddr, i64>>,
}

impl AuthState {
    pub(crate) fn new(config: &AuthConfig) -> Self {
        let params = Params::new(
            config.argon2_memory_kib.max(8),
            config.argon2_iterations.max(1),
            config.argon2_parallelism.max(1),
            None,
        )
        .unwrap_or_default();
        let refill = Duration::from_secs(u64::from(config.login_failure_refill_secs.max(1)));
        let quota = |burst: u32| {
            Quota::with_period(refill)
                .unwrap_or_else(|| Quota::per_minute(crate::nonzero(1)))
                .allow_burst(crate::nonzero(burst))
        };
        AuthState {
            hasher: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            hashing: Arc::new(Semaphore::new(config.max_concurrent_hashes.max(1))),
            session_ttl_ms: i64::from(config.session_ttl_days.max(1)) * 86_400_000,
            failures_by_account: DefaultKeyedRateLimiter::keyed(quota(config.login_failures_per_account)),
            failures_by_address: DefaultKeyedRateLimiter::keyed(quota(config.login_failures_per_address)),
            blocked_accounts: Mutex::default(),
            blocked_addresses: Mutex::default(),
        }
    }

    pub(crate) fn address_blocked(&self, addr: IpAddr) -> Option<u64> {
        remaining(&self.blocked_addresses.lock(), &addr)
    }

    /// Records a failed log-in. Once the account's or the address's allowance is
    /// spent, blocks it and returns how many seconds the caller must wait.
    fn record_failure(&self, email: &str, addr: Option<IpAddr>) -> Option<u64> {
        let now = now_ms();
        let clock = DefaultClock::default();
        let mut blocked_for: Option<i64> = None;
        if let Err(not_until) = self.failures_by_account.check_key(&email.to_string()) {
            let wait = (not_until.wait_time_from(clock.now()).as_millis() as i64).max(1000);
            self.blocked_accounts.lock().insert(email.to_string(), now + wait);
            blocked_for = Some(wait);
        }
        if let Some(addr) = addr
            && let Err(not_until) = self.failures_by_address.check_key(&addr)
        {
            let wait = (not_until.wait_time_from(clock.now()).as_millis() as i64).max(1000);
            self.blocked_addresses.lock().insert(addr, now + wait);
            blocked_for = Some(blocked_for.map_or(wait, |w| w.max(wait)));
        }
        blocked_for.map(|ms| (ms as u64).div_ceil(1000))
    }
}

/// Seconds left on a block, if any.
fn remaining<K: std::hash::Hash + Eq>(blocked: &std::collections::HashMap<K, i64>, key: &K) -> Option<u64> {
    let until = *blocked.get(key)?;
    let left = until - now_ms();
    (left > 0).then(|| (left as u64).div_ceil(1000))
}

pub(crate) fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A username from the email's local part: lower-cased, only allowed characters.
fn username_from_email(email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default().to_ascii_lowercase();
    let mut name: String = local
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(*c))
        .collect();
    while name.starts_with(['_', '.', '-']) {
        name.remove(0);
    }
    name.truncate(28);
    if name.len() < 2 {
        name = format!("user{name}");
    }
    name
}

impl App {
    pub async fn signup(&self, req: SignupRequest) -> Result<AuthOutcome, Error> {
        let limits = self.limits();
        let email = req.email.trim().to_lowercase();
        validate::email(&email)?;
        limits.password(&req.password)?;
        let display_name = limits.display_name(&req.display_name)?.to_string();
        let explicit_username = match &req.username {
            Some(u) => {
                validate::username(u)?;
                Some(u.clone())
            }
            None => None,
        };
        let invite = match (self.config().auth.signup, &req.invite) {
            (_, Some(code)) => Some(self.usable_invite(code)?),
            (SignupMode::InviteOnly, None) => {
                return Err(Error::new(ErrorCode::SignupClosed, "sign-up needs an invite on this server"));
            }
            (SignupMode::Open, None) => None,
        };
        if self.store().user_by_email(&email).map_err(internal)?.is_some() {
            return Err(Error::new(ErrorCode::EmailTaken, "an account with this email exists"));
        }
        let password_hash = self.hash_password(req.password).await?;
        let now = now_ms();
        let token = new_token();
        let user = {
            let _guard = self.inner.signup_lock.lock();
            let store = self.store();
            if store.user_by_email(&email).map_err(internal)?.is_some() {
                return Err(Error::new(ErrorCode::EmailTaken, "an account with this email exists"));
            }
            let username = match explicit_username {
                Some(u) if store.user_by_username(&u).map_err(internal)?.is_some() => {
                    return Err(Error::new(ErrorCode::NameTaken, "this username is taken"));
                }
                Some(u) => u,
                None => {
                    let base = username_from_email(&email);
                    let mut candidate = base.clone();
                    let mut n = 1;
                    while store.user_by_username(&candidate).map_err(internal)?.is_some() {
                        n += 1;
                        candidate = format!("{base}{n}");
                    }
                    candidate
                }
            };
            let user = User {
                id: UserId::from_ulid(new_ulid()),
                email,
                username,
                display_name,
                instance_admin: store.user_count().map_err(internal)? == 0,
                created_at: now,
            };
            let mut batch = Batch::new();
            batch.push(Op::PutUser(UserRecord { user: user.clone(), password_hash }));
            batch.push(Op::PutSession {
                token_hash: hash_token(&token),
                session: Session {
                    user: user.id,
                    created_at: now,
                    expires_at: now + self.inner.auth.session_ttl_ms,
                },
            });
            self.store().apply(batch).map_err(|e| match e {
                confab_store::StoreError::Taken(what) => {
                    Error::new(ErrorCode::NameTaken, format!("{what} is taken"))
                }
                e => internal(e),
            })?;
            user
        };
        self.inner.committer.enqueue(Vec::new()).wait().await?;
        if let Some(invite) = invite {
            let caller = Caller { user: user.id, instance_admin: user.instance_admin };
            self.accept_invite(caller, &invite.code).await?;
        }
        Ok(AuthOutcome { user, token })
    }

    pub async fn login(
        &self,
        email: &str,
        password: &str,
        addr: Option<IpAddr>,
    ) -> Result<AuthOutcome, Error> {
        let email = email.trim().to_lowercase();
        let auth = &self.inner.auth;
        let blocked = remaining(&auth.blocked_accounts.lock(), &email)
            .or_else(|| addr.and_then(|a| remaining(&auth.blocked_addresses.lock(), &a)));
        if let Some(secs) = blocked {
            return Err(Error::rate_limited(secs));
        }
        let record = self.store().user_by_email(&email).map_err(internal)?;
        // Verify against a real hash even for unknown emails, so timing does not tell
        // which emails have accounts.
        let stored_hash = record.as_ref().map(|r| r.password_hash.clone());
        let ok = self.verify_password(password.to_string(), stored_hash).await?;
        let Some(record) = record.filter(|_| ok) else {
            if let Some(secs) = auth.record_failure(&email, addr) {
                return Err(Error::rate_limited(secs));
            }
            return Err(Error::new(ErrorCode::InvalidCredentials, "wrong email or password"));
        };
        let token = new_token();
        let now = now_ms();
        let mut batch = Batch::new();
        batch.push(Op::PutSession {
            token_hash: hash_token(&token),
            session: Session { user: record.user.id, created_at: now, expires_at: now + auth.session_ttl_ms },
        });
        self.write_global(batch).await?;
        Ok(AuthOutcome { user: record.user, token })
    }

    pub async fn logout(&self, token: &str) -> Result<(), Error> {
        let mut batch = Batch::new();
        batch.push(Op::DeleteSession { token_hash: hash_token(token) });
        self.write_global(batch).await
    }

    /// The caller a bearer token stands for, or `unauthenticated`.
    pub fn authenticate(&self, token: &str) -> Result<Caller, Error> {
        let unauthenticated =
            || Error::new(ErrorCode::Unauthenticated, "missing, invalid or expired session token");
        if token.is_empty() || token.len() > 128 {
            return Err(unauthenticated());
        }
        let session =
            self.store().session(&hash_token(token)).map_err(internal)?.ok_or_else(unauthenticated)?;
        if session.expires_at <= now_ms() {
            return Err(unauthenticated());
        }
        let record = self.store().user(session.user).map_err(internal)?.ok_or_else(unauthenticated)?;
        Ok(Caller { user: record.user.id, instance_admin: record.user.instance_admin })
    }

    pub fn me(&self, caller: Caller) -> Result<User, Error> {
        self.store()
            .user(caller.user)
            .map_err(internal)?
            .map(|r| r.user)
            .ok_or_else(|| Error::new(ErrorCode::Unauthenticated, "account no longer exists"))
    }

    async fn hash_password(&self, password: String) -> Result<String, Error> {
        let _permit = self.inner.auth.hashing.clone().acquire_owned().await.map_err(internal)?;
        let hasher = self.inner.auth.hasher.clone();
        tokio::task::spawn_blocking(move || {
            PasswordHasher::<PasswordHash>::hash_password(&hasher, password.as_bytes()).map(|h| h.to_string())
        })
        .await
        .map_err(internal)?
        .map_err(internal)
    }

    async fn verify_password(&self, password: String, stored: Option<String>) -> Result<bool, Error> {
        let _permit = self.inner.auth.hashing.clone().acquire_owned().await.map_err(internal)?;
        let hasher = self.inner.auth.hasher.clone();
        tokio::task::spawn_blocking(move || match stored {
            Some(hash) => {
                PasswordVerifier::<str>::verify_password(&hasher, password.as_bytes(), &hash).is_ok()
            }
            None => {
                let _ = PasswordHasher::<PasswordHash>::hash_password(&hasher, password.as_bytes());
                false
            }
        })
        .await
        .map_err(internal)
    }
}
