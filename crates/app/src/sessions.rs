//! Ending sessions: signing out, signing out everywhere, changing one's password,
//! and sweeping expired sessions away.
//!
//! A session ends for its open WebSockets too, not only for the next HTTP request:
//! ending one tells the hub, which signals every connection that authenticated with
//! it, and the connection closes with code 4001. A connection also closes by itself
//! when its session expires ([`SessionGrant::expires_at`]).

use confab_core::{Error, ErrorCode, Millis, UserId};
use confab_store::{Batch, Op, UserRecord};

use crate::auth::hash_token;
use crate::error::Result;
use crate::hub::SessionHash;
use crate::{App, Caller, now_ms};

/// Expired sessions deleted per sweep batch.
const SWEEP_BATCH: usize = 500;

/// What authenticating a connection yields: who it is, and the session it holds.
#[derive(Clone, Copy, Debug)]
pub struct SessionGrant {
    pub caller: Caller,
    pub token_hash: SessionHash,
    pub expires_at: Millis,
}

pub use confab_protocol::http::ChangePassword;

impl App {
    /// The session a bearer token stands for, or `unauthenticated`. An expired one
    /// is refused and deleted, off the caller's path.
    pub fn authenticate_session(&self, token: &str) -> Result<SessionGrant> {
        let unauthenticated =
            || Error::new(ErrorCode::Unauthenticated, "missing, invalid or expired session token");
        if token.is_empty() || token.len() > 128 {
            return Err(unauthenticated().into());
        }
        let token_hash = hash_token(token);
        let session = self.store().session(&token_hash)?.ok_or_else(unauthenticated)?;
        if session.expires_at <= now_ms() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let app = self.clone();
                runtime.spawn(async move {
                    let mut batch = Batch::new();
                    batch.push(Op::DeleteSession { token_hash });
                    if let Err(e) = app.write_global(batch).await {
                        tracing::warn!(error = %e, "deleting an expired session failed");
                    }
                });
            }
            return Err(unauthenticated().into());
        }
        let record = self.store().user(session.user)?.ok_or_else(unauthenticated)?;
        if record.is_disabled() {
            // A session that raced `confab user disable` ends here.
            return Err(unauthenticated().into());
        }
        let caller = Caller { user: record.user.id, instance_admin: record.user.instance_admin };
        Ok(SessionGrant { caller, token_hash, expires_at: session.expires_at })
    }

    /// Whether the session of `token_hash` still lets its connections in: it
    /// exists, has not expired, and its account is not disabled. A node of a cluster
    /// asks this of its open connections now and then, in case it missed another
    /// node's word that the session ended (see `ws.rs`).
    pub fn session_is_current(&self, token_hash: &SessionHash) -> Result<bool> {
        let Some(session) = self.store().session(token_hash)? else { return Ok(false) };
        if session.expires_at <= now_ms() {
            return Ok(false);
        }
        Ok(self.store().user(session.user)?.is_some_and(|record| !record.is_disabled()))
    }

    /// Whether this node's connections should check their sessions now and then
    /// ([`App::session_is_current`]): only a node of a cluster, where another node
    /// can end a session; on one node, every ending reaches the hub directly.
    pub fn sessions_end_elsewhere(&self) -> bool {
        self.in_cluster()
    }

    /// Ends the session of `token` and closes its WebSockets.
    pub async fn logout(&self, token: &str) -> Result<()> {
        let token_hash = hash_token(token);
        let user = self.store().session(&token_hash)?.map(|s| s.user);
        let mut batch = Batch::new();
        batch.push(Op::DeleteSession { token_hash });
        self.write_global(batch).await?;
        if let Some(user) = user {
            self.hub().revoke_sessions(user, |s| *s == token_hash);
            self.relay_sessions_ended(user, vec![token_hash]);
        }
        Ok(())
    }

    /// Ends every session of the caller, this one included, and closes every one of
    /// their WebSockets. Returns how many sessions ended.
    pub async fn logout_all(&self, caller: Caller) -> Result<usize> {
        self.end_sessions(caller.user, None).await
    }

    /// Changes the caller's password after checking the current one, and ends every
    /// other session of theirs (the one making the change stays signed in).
    pub async fn change_password(&self, caller: Caller, token: &str, req: ChangePassword) -> Result<()> {
        self.limits().password(&req.new_password)?;
        // Each try costs a hash: count it, so a stolen session cannot guess freely.
        self.check_write_rate(caller.user)?;
        let record = self.store().user(caller.user)?.ok_or_else(Error::internal)?;
        if !self.verify_password(req.current_password, Some(record.password_hash.clone())).await? {
            return Err(Error::new(ErrorCode::InvalidCredentials, "the current password is wrong").into());
        }
        let password_hash = self.hash_new_password(req.new_password).await?;
        let mut batch = Batch::new();
        batch.push(Op::PutUser(UserRecord { user: record.user, password_hash }));
        self.write_global(batch).await?;
        self.end_sessions(caller.user, Some(hash_token(token))).await?;
        Ok(())
    }

    /// Deletes every session of `user` but `keep`, then closes their WebSockets.
    pub(crate) async fn end_sessions(&self, user: UserId, keep: Option<SessionHash>) -> Result<usize> {
        let ended: Vec<SessionHash> = self
            .store()
            .sessions_of(user)?
            .into_iter()
            .map(|(hash, _)| hash)
            .filter(|hash| Some(*hash) != keep)
            .collect();
        let mut batch = Batch::new();
        for token_hash in &ended {
            batch.push(Op::DeleteSession { token_hash: *token_hash });
        }
        if !batch.is_empty() {
            self.write_global(batch).await?;
        }
        self.hub().revoke_sessions(user, |s| Some(*s) != keep);
        self.relay_sessions_ended(user, ended.clone());
        Ok(ended.len())
    }

    /// Deletes every session expired by now; returns how many.
    pub async fn sweep_expired_sessions(&self) -> Result<usize> {
        let mut swept = 0;
        loop {
            let expired = self.store().expired_sessions(now_ms(), SWEEP_BATCH)?;
            if expired.is_empty() {
                return Ok(swept);
            }
            let mut batch = Batch::new();
            for token_hash in &expired {
                batch.push(Op::DeleteSession { token_hash: *token_hash });
            }
            self.write_global(batch).await?;
            swept += expired.len();
            if expired.len() < SWEEP_BATCH {
                return Ok(swept);
            }
        }
    }
}
