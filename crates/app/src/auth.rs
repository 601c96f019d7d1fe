//! Accounts and sessions: sign-up, log-in with throttling, log-out, and turning a
//! bearer token into a [`Caller`].
//!
//! Passwords are hashed with argon2id off the async runtime, at most
//! `max_concurrent_hashes` log-ins and `max_concurrent_signup_hashes` sign-ups at a
//! time, from separate permits (a queue of sign-ups never delays a log-in), on
//! dedicated lower-priority threads ([`crate::background`]). A log-in for an email
//! with no account computes no hash: it holds a log-in permit for as long as a recent
//! real log-in's hash took ([`HashTimes`]), so its answer takes as long as a wrong
//! password's without costing the CPU, and a flood of made-up emails costs nothing
//! but timers. A session
//! token is 256 random bits shown to the client once; the store keeps only its
//! SHA-256. An expired session is deleted when it is next presented.
//!
//! Throttling follows OWASP's guidance (see docs/security.md):
//! - failed log-ins are counted per (account, address) pair: past
//!   `login_failures_per_pair`, that pair waits, twice as long after each further
//!   failure (up to `login_backoff_max_secs`) — so a stranger guessing a password
//!   locks out only themselves;
//! - per address (`login_failures_per_address`; IPv6 by /64), against one address
//!   spraying many accounts;
//! - per account over all addresses (`login_failures_per_account`), against
//!   distributed guessing — but an address the account has signed up or logged in
//!   from before is exempt, so the owner still gets in from their own address;
//! - sign-ups per address (`signups_per_address`).
//!
//! Accounts are keyed by a hash of the email, never the string a client sent, and
//! every map is pruned as it goes and capped at `throttle_max_entries`.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use confab_core::{Error, ErrorCode, User, UserId, validate};
use confab_store::{Batch, Op, Session, UserRecord};
use parking_lot::Mutex;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::background::{BackgroundPool, HASH_MEMORY_KEPT_IDLE};
use crate::config::{AuthConfig, SignupMode};
use crate::error::{AppError, Result};
use crate::passwords;
use crate::{App, new_ulid, now_ms};

/// Who is making a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: UserId,
    pub instance_admin: bool,
}

pub use confab_protocol::http::SignupRequest;

/// A new session.
#[derive(Clone, Debug)]
pub struct AuthOutcome {
    pub user: User,
    pub token: String,
}

/// An account in the throttle maps: the first half of the email's SHA-256.
type AccountKey = [u8; 16];

fn account_key(email: &str) -> AccountKey {
    let digest = Sha256::digest(email.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// The address a throttle counts: IPv4 as is, IPv6 by its /64 (one host's share).
fn address_key(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

#[derive(Clone, Copy, Debug)]
struct Strikes {
    /// Strikes not yet forgiven (one is forgiven per refill period).
    count: u32,
    /// When the last one happened (ms).
    last: i64,
    /// Refused until then (ms).
    blocked_until: i64,
}

/// Counts strikes per key with a burst, a refill, and exponential back-off past the
/// burst; prunes itself and holds at most `cap` keys.
struct Throttle<K> {
    burst: u32,
    refill_ms: i64,
    max_backoff_ms: i64,
    cap: usize,
    entries: HashMap<K, Strikes>,
    last_prune: i64,
}

impl<K: Hash + Eq + Copy> Throttle<K> {
    fn new(burst: u32, refill_ms: i64, max_backoff_ms: i64, cap: usize) -> Self {
        Throttle {
            burst: burst.max(1),
            refill_ms: refill_ms.max(1),
            max_backoff_ms: max_backoff_ms.max(1000),
            cap: cap.max(16),
            entries: HashMap::new(),
            last_prune: 0,
        }
    }

    /// Seconds `key` must still wait, if any.
    fn blocked(&self, key: &K, now: i64) -> Option<u64> {
        let left = self.entries.get(key)?.blocked_until - now;
        (left > 0).then(|| (left as u64).div_ceil(1000))
    }

    /// Strikes left after forgiving one per refill period since the last.
    fn current(refill_ms: i64, s: &Strikes, now: i64) -> u32 {
        let forgiven = ((now - s.last).max(0) / refill_ms).min(i64::from(u32::MAX)) as u32;
        s.count.saturating_sub(forgiven)
    }

    /// Counts one strike; returns the seconds to wait if `key` is now blocked.
    fn strike(&mut self, key: K, now: i64) -> Option<u64> {
        self.prune(now);
        let previous = self.entries.get(&key).map_or(0, |s| Self::current(self.refill_ms, s, now));
        let count = previous.saturating_add(1);
        let blocked_until = if count > self.burst {
            // One refill period, then twice as long after each further strike.
            let doublings = (count - self.burst - 1).min(30);
            let wait = self.refill_ms.saturating_mul(1i64 << doublings).min(self.max_backoff_ms);
            now + wait.max(1000)
        } else {
            0
        };
        self.entries.insert(key, Strikes { count, last: now, blocked_until });
        self.blocked(&key, now)
    }

    fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Drops forgiven keys once a minute, and the oldest tenth when at the cap.
    fn prune(&mut self, now: i64) {
        let refill = self.refill_ms;
        if now - self.last_prune >= 60_000 || self.entries.len() >= self.cap {
            self.last_prune = now;
            self.entries.retain(|_, s| s.blocked_until > now || Self::current(refill, s, now) > 0);
        }
        if self.entries.len() >= self.cap {
            let mut lasts: Vec<i64> = self.entries.values().map(|s| s.last).collect();
            let nth = lasts.len() / 10;
            let (_, cutoff, _) = lasts.select_nth_unstable(nth);
            let cutoff = *cutoff;
            self.entries.retain(|_, s| s.last > cutoff);
        }
    }
}

/// Addresses each account has signed up or logged in from lately: exempt from the
/// account-wide throttle. Capped; the oldest go first.
struct KnownAddresses {
    ttl_ms: i64,
    cap: usize,
    entries: HashMap<(AccountKey, IpAddr), i64>,
}

impl KnownAddresses {
    fn contains(&self, key: &(AccountKey, IpAddr), now: i64) -> bool {
        self.entries.get(key).is_some_and(|at| now - at < self.ttl_ms)
    }

    fn insert(&mut self, key: (AccountKey, IpAddr), now: i64) {
        if self.entries.len() >= self.cap {
            let ttl = self.ttl_ms;
            self.entries.retain(|_, at| now - *at < ttl);
        }
        if self.entries.len() >= self.cap {
            let mut ats: Vec<i64> = self.entries.values().copied().collect();
            let nth = ats.len() / 10;
            let (_, cutoff, _) = ats.select_nth_unstable(nth);
            let cutoff = *cutoff;
            self.entries.retain(|_, at| *at > cutoff);
        }
        self.entries.insert(key, now);
    }
}

struct Throttles {
    pairs: Throttle<(AccountKey, IpAddr)>,
    addresses: Throttle<IpAddr>,
    accounts: Throttle<AccountKey>,
    known: KnownAddresses,
    signups: Throttle<IpAddr>,
}

pub(crate) struct AuthState {
    hasher: Argon2<'static>,
    /// Permits for log-in hashes.
    hashing: Arc<Semaphore>,
    /// Separate permits for sign-up hashes, so a log-in never queues behind them.
    signup_hashing: Arc<Semaphore>,
    /// The threads log-in hashes run on, one per log-in permit.
    login_hashers: BackgroundPool,
    /// The threads sign-up (and password change) hashes run on, one per permit.
    signup_hashers: BackgroundPool,
    /// How long recent log-in hashes took, for log-ins to unknown emails.
    hash_times: HashTimes,
    session_ttl_ms: i64,
    throttles: Mutex<Throttles>,
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
        let refill_ms = i64::from(config.login_failure_refill_secs.max(1)) * 1000;
        let backoff_ms = i64::from(config.login_backoff_max_secs.max(1)) * 1000;
        let signup_refill_ms = i64::from(config.signup_refill_secs.max(1)) * 1000;
        let cap = config.throttle_max_entries.max(16);
        let session_ttl_ms = i64::from(config.session_ttl_days.max(1)) * 86_400_000;
        AuthState {
            hasher: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            hashing: Arc::new(Semaphore::new(config.max_concurrent_hashes.max(1))),
            signup_hashing: Arc::new(Semaphore::new(config.max_concurrent_signup_hashes.max(1))),
            login_hashers: BackgroundPool::with_idle_hook(
                "confab-login-hash",
                config.max_concurrent_hashes,
                config.hash_nice,
                HASH_MEMORY_KEPT_IDLE,
                passwords::release_working_memory,
            ),
            signup_hashers: BackgroundPool::with_idle_hook(
                "confab-signup-hash",
                config.max_concurrent_signup_hashes,
                config.hash_nice,
                HASH_MEMORY_KEPT_IDLE,
                passwords::release_working_memory,
            ),
            hash_times: HashTimes::default(),
            session_ttl_ms,
            throttles: Mutex::new(Throttles {
                pairs: Throttle::new(config.login_failures_per_pair, refill_ms, backoff_ms, cap),
                addresses: Throttle::new(config.login_failures_per_address, refill_ms, backoff_ms, cap),
                accounts: Throttle::new(config.login_failures_per_account, refill_ms, backoff_ms, cap),
                known: KnownAddresses { ttl_ms: session_ttl_ms, cap, entries: HashMap::new() },
                signups: Throttle::new(config.signups_per_address, signup_refill_ms, signup_refill_ms, cap),
            }),
        }
    }

    pub(crate) fn address_blocked(&self, addr: IpAddr) -> Option<u64> {
        self.throttles.lock().addresses.blocked(&address_key(addr), now_ms())
    }

    /// Seconds a log-in to `account` from `addr` must wait before its password is
    /// even checked.
    fn login_blocked(&self, account: AccountKey, addr: Option<IpAddr>) -> Option<u64> {
        let now = now_ms();
        let t = self.throttles.lock();
        let Some(addr) = addr.map(address_key) else {
            return t.accounts.blocked(&account, now);
        };
        let pair = (account, addr);
        let account_wide =
            if t.known.contains(&pair, now) { None } else { t.accounts.blocked(&account, now) };
        [t.pairs.blocked(&pair, now), t.addresses.blocked(&addr, now), account_wide]
            .into_iter()
            .flatten()
            .max()
    }

    /// Records a failed log-in; returns how many seconds the caller must now wait,
    /// if it is blocked.
    fn record_failure(&self, account: AccountKey, addr: Option<IpAddr>) -> Option<u64> {
        let now = now_ms();
        let mut t = self.throttles.lock();
        let account_wide = t.accounts.strike(account, now);
        let Some(addr) = addr.map(address_key) else { return account_wide };
        let pair = (account, addr);
        let account_wide = if t.known.contains(&pair, now) { None } else { account_wide };
        let waits = [t.pairs.strike(pair, now), t.addresses.strike(addr, now), account_wide];
        waits.into_iter().flatten().max()
    }

    /// A successful sign-up or log-in: the pair's failures are forgotten and the
    /// address is known to the account from now on.
    fn record_success(&self, account: AccountKey, addr: Option<IpAddr>) {
        let Some(addr) = addr.map(address_key) else { return };
        let mut t = self.throttles.lock();
        t.pairs.forget(&(account, addr));
        t.known.insert((account, addr), now_ms());
    }

    /// A log-in's outcome on another node of the cluster, counted as if it had
    /// happened here.
    pub(crate) fn count_log_in(&self, account: AccountKey, addr: Option<IpAddr>, ok: bool) {
        match ok {
            true => self.record_success(account, addr),
            false => drop(self.record_failure(account, addr)),
        }
    }

    /// Counts a sign-up attempt from `addr`; the seconds to wait if over the limit.
    fn signup_attempt(&self, addr: IpAddr) -> Option<u64> {
        let now = now_ms();
        let mut t = self.throttles.lock();
        let key = address_key(addr);
        if let Some(secs) = t.signups.blocked(&key, now) {
            return Some(secs);
        }
        t.signups.strike(key, now)
    }
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
/// A username made from `text` (a display name, a Slack handle): lowercase ASCII
/// letters, digits and `_.-`, other characters as `-`, no leading punctuation, at most
/// 28 characters; `prefix` goes in front of one shorter than 2.
pub(crate) fn username_base(text: &str, prefix: &str) -> String {
    let mut base: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' })
        .collect();
    while base.starts_with(['_', '.', '-']) {
        base.remove(0);
    }
    base.truncate(28);
    if base.len() < 2 {
        base = format!("{prefix}{base}");
    }
    base
}

impl App {
    /// `base`, else `base2`, `base3`, …: the first username no account has and
    /// `taken` does not name. Callers hold `signup_lock` so that it stays free.
    pub(crate) fn first_free_username(&self, base: &str, taken: impl Fn(&str) -> bool) -> Result<String> {
        let mut candidate = base.to_string();
        let mut n = 1;
        while taken(&candidate) || self.store().user_by_username(&candidate)?.is_some() {
            n += 1;
            candidate = format!("{base}{n}");
        }
        Ok(candidate)
    }
}

pub(crate) fn username_from_email(email: &str) -> String {
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
    pub async fn signup(&self, req: SignupRequest) -> Result<AuthOutcome> {
        self.signup_from(req, None).await
    }

    /// Signs up a client at `addr` (throttled per address, `auth.signups_per_address`).
    pub async fn signup_from(&self, req: SignupRequest, addr: Option<IpAddr>) -> Result<AuthOutcome> {
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
                return Err(
                    Error::new(ErrorCode::SignupClosed, "sign-up needs an invite on this server").into()
                );
            }
            (SignupMode::Open, None) => None,
        };
        if let Some(secs) = addr.and_then(|a| self.inner.auth.signup_attempt(a)) {
            return Err(Error::rate_limited(secs).into());
        }
        if self.store().user_by_email(&email)?.is_some() {
            return Err(Error::new(ErrorCode::EmailTaken, "an account with this email exists").into());
        }
        let account = account_key(&email);
        let password_hash = self.hash_password(req.password).await?;
        let now = now_ms();
        let token = new_token();
        let user = {
            let _guard = self.inner.signup_lock.lock();
            let store = self.store();
            if store.user_by_email(&email)?.is_some() {
                return Err(Error::new(ErrorCode::EmailTaken, "an account with this email exists").into());
            }
            let username = match explicit_username {
                Some(u) if store.user_by_username(&u)?.is_some() => {
                    return Err(Error::new(ErrorCode::NameTaken, "this username is taken").into());
                }
                Some(u) => u,
                None => self.first_free_username(&username_from_email(&email), |_| false)?,
            };
            let user = User {
                id: UserId::from_ulid(new_ulid()),
                email,
                username,
                display_name,
                instance_admin: store.user_count()? == 0,
                created_at: now,
                details: Default::default(),
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
                    AppError::from(Error::new(ErrorCode::NameTaken, format!("{what} is taken")))
                }
                e => AppError::from(e),
            })?;
            user
        };
        self.inner.committer.enqueue(Vec::new()).wait().await?;
        self.inner.auth.record_success(account, addr);
        if let Some(invite) = invite {
            let caller = Caller { user: user.id, instance_admin: user.instance_admin };
            self.accept_invite(caller, &invite.code).await?;
        }
        Ok(AuthOutcome { user, token })
    }

    pub async fn login(&self, email: &str, password: &str, addr: Option<IpAddr>) -> Result<AuthOutcome> {
        let email = email.trim().to_lowercase();
        let auth = &self.inner.auth;
        // The throttles key on a hash: an email of any length costs 16 bytes.
        let account = account_key(&email);
        if let Some(secs) = auth.login_blocked(account, addr) {
            return Err(Error::rate_limited(secs).into());
        }
        let record = self.store().user_by_email(&email)?;
        // Verify against a real hash even for unknown emails, so timing does not tell
        // which emails have accounts.
        let stored_hash = record.as_ref().map(|r| r.unlocked_hash().to_string());
        let ok = self.verify_password(password.to_string(), stored_hash).await?;
        let Some(record) = record.filter(|_| ok) else {
            self.relay_log_in(account, addr, false);
            if let Some(secs) = auth.record_failure(account, addr) {
                return Err(Error::rate_limited(secs).into());
            }
            return Err(Error::new(ErrorCode::InvalidCredentials, "wrong email or password").into());
        };
        auth.record_success(account, addr);
        self.relay_log_in(account, addr, true);
        if record.is_disabled() {
            return Err(Error::new(ErrorCode::Forbidden, "this account is disabled").into());
        }
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

    /// The caller a bearer token stands for, or `unauthenticated`.
    pub fn authenticate(&self, token: &str) -> Result<Caller> {
        self.authenticate_session(token).map(|grant| grant.caller)
    }

    pub fn me(&self, caller: Caller) -> Result<User> {
        self.store()
            .user(caller.user)?
            .map(|r| r.user)
            .ok_or_else(|| Error::new(ErrorCode::Unauthenticated, "account no longer exists"))
            .map_err(AppError::from)
    }

    /// Hashes a new password (a change), with the sign-ups' permits so that log-ins
    /// never queue behind it.
    pub(crate) async fn hash_new_password(&self, password: String) -> Result<String> {
        self.hash_password(password).await
    }

    /// Hashes a password with the sign-ups' permits, on their hashing threads.
    async fn hash_password(&self, password: String) -> Result<String> {
        let auth = &self.inner.auth;
        let _permit = auth
            .signup_hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AppError::other("password hashing", e))?;
        let hasher = auth.hasher.clone();
        auth.signup_hashers
            .run(move || passwords::hash(&hasher, password.as_bytes()))
            .await?
            .map_err(|e| AppError::other("password hashing", e))
            .inspect(|_| {
                metrics::counter!("confab_password_hashes_total", "purpose" => "new password").increment(1)
            })
    }

    /// Checks `password` against the `stored` hash, with a log-in permit. Without a
    /// stored hash (no such account) nothing is computed: the permit is held for as
    /// long as a recent real check took, so both answers take as long.
    pub(crate) async fn verify_password(&self, password: String, stored: Option<String>) -> Result<bool> {
        let auth = &self.inner.auth;
        let _permit =
            auth.hashing.clone().acquire_owned().await.map_err(|e| AppError::other("password hashing", e))?;
        if stored.is_none()
            && let Some(took) = auth.hash_times.sample()
        {
            metrics::counter!("confab_login_decoys_total").increment(1);
            tokio::time::sleep(took).await;
            return Ok(false);
        }
        let hasher = auth.hasher.clone();
        let (ok, took) = auth
            .login_hashers
            .run(move || {
                let started = Instant::now();
                let ok = match stored {
                    Some(hash) => passwords::verify(password.as_bytes(), &hash),
                    // Only until a first real check has been timed.
                    None => {
                        let _ = passwords::hash(&hasher, password.as_bytes());
                        false
                    }
                };
                (ok, started.elapsed())
            })
            .await?;
        auth.hash_times.record(took);
        metrics::counter!("confab_password_hashes_total", "purpose" => "log-in").increment(1);
        Ok(ok)
    }
}

/// The durations of the last [`HashTimes::KEPT`] log-in hashes, as they ran (on a
/// busy machine they take longer, and so does a decoy drawn from them).
#[derive(Default)]
struct HashTimes {
    recent: Mutex<VecDeque<Duration>>,
}

impl HashTimes {
    const KEPT: usize = 32;

    fn record(&self, took: Duration) {
        let mut recent = self.recent.lock();
        if recent.len() == Self::KEPT {
            recent.pop_front();
        }
        recent.push_back(took);
    }

    /// One of the recent durations, at random; `None` before any hash was timed.
    fn sample(&self) -> Option<Duration> {
        let recent = self.recent.lock();
        if recent.is_empty() {
            return None;
        }
        recent.get(rand::rng().random_range(0..recent.len())).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoy_durations_are_drawn_from_the_last_real_hashes() {
        let times = HashTimes::default();
        assert_eq!(times.sample(), None, "nothing to imitate before a first hash");
        for ms in 0..(HashTimes::KEPT as u64 + 8) {
            times.record(Duration::from_millis(ms));
        }
        let oldest_kept = Duration::from_millis(8);
        for _ in 0..200 {
            let d = times.sample().expect("a duration");
            assert!(d >= oldest_kept, "{d:?} was dropped from the recent ones");
        }
    }

    #[test]
    fn a_throttle_backs_off_exponentially_and_forgives_with_time() {
        let mut t: Throttle<u8> = Throttle::new(2, 1000, 8000, 100);
        assert_eq!(t.strike(1, 0), None);
        assert_eq!(t.strike(1, 0), None);
        assert_eq!(t.strike(1, 0), Some(1), "past the burst: one refill period");
        assert_eq!(t.strike(1, 0), Some(2), "then twice as long");
        assert_eq!(t.strike(1, 0), Some(4));
        assert_eq!(t.strike(1, 0), Some(8));
        assert_eq!(t.strike(1, 0), Some(8), "up to the maximum");
        assert_eq!(t.blocked(&2, 0), None, "other keys are not affected");
        // Long after, every strike is forgiven and the key is pruned.
        t.prune(1_000_000);
        assert!(t.entries.is_empty());
    }

    #[test]
    fn throttle_maps_stay_within_their_cap() {
        let mut t: Throttle<u32> = Throttle::new(5, 60_000, 900_000, 1000);
        for key in 0..100_000u32 {
            t.strike(key, i64::from(key));
            assert!(t.entries.len() <= 1000);
        }
        let mut known = KnownAddresses { ttl_ms: i64::MAX, cap: 1000, entries: HashMap::new() };
        for n in 0..100_000u32 {
            known.insert((account_key(&n.to_string()), IpAddr::from([127, 0, 0, 1])), i64::from(n));
            assert!(known.entries.len() <= 1000);
        }
    }

    #[test]
    fn throttle_keys_do_not_hold_what_the_client_sent() {
        // A 256 KB "email" costs a 16-byte key.
        let key = account_key(&"x".repeat(256 * 1024));
        assert_eq!(std::mem::size_of_val(&key), 16);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let same_host: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        assert_eq!(address_key(v6), address_key(same_host), "IPv6 is counted by /64");
    }
}
