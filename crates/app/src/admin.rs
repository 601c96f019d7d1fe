//! Operator use cases, for the `confab` command line on the server's machine (its
//! access to the data dir already gives it everything): consent status, history,
//! verification and export of any workspace, acting as a named owner, re-indexing.

use confab_consent::{LedgerExport, VerifyReport};
use confab_core::{Error, ErrorCode, WorkspaceId};

use crate::error::{AppError, Result};
use crate::lifecycle::OnProgress;
use crate::{App, Caller};

impl App {
    /// The caller an operator acts as, by email.
    pub fn caller_by_email(&self, email: &str) -> Result<Caller> {
        let record = self
            .store()
            .user_by_email(email)?
            .ok_or_else(|| Error::new(ErrorCode::UserNotFound, format!("no account with email {email}")))?;
        Ok(Caller { user: record.user.id, instance_admin: record.user.instance_admin })
    }

    pub fn admin_consent_verify(&self, ws: WorkspaceId) -> Result<VerifyReport> {
        self.workspace(ws)?;
        self.inner.ledger.verify(ws).map_err(AppError::from)
    }

    pub fn admin_consent_export(&self, ws: WorkspaceId) -> Result<LedgerExport> {
        self.workspace(ws)?;
        self.inner.ledger.export(ws).map_err(AppError::from)
    }

    pub fn admin_consent_state(&self, ws: WorkspaceId) -> Result<confab_consent::ConsentState> {
        self.workspace(ws)?;
        self.inner.ledger.state(ws).map_err(AppError::from)
    }

    /// Rebuilds the search index of one workspace, or of all, from the store, telling
    /// `progress` the messages read of the channels' total (an ETA for the operator).
    pub async fn reindex(&self, ws: Option<WorkspaceId>, mut progress: OnProgress) -> Result<usize> {
        let workspaces = match ws {
            Some(ws) => {
                self.workspace(ws)?;
                vec![ws]
            }
            None => self.store().workspace_ids()?,
        };
        let derived = self.inner.derived.clone();
        tokio::task::spawn_blocking(move || derived.reindex(&workspaces, &mut progress))
            .await?
            .map_err(|e| AppError::other("reindexing", e))
    }

    /// Rebuilds a workspace's suggestion statistics from the store after a bulk
    /// change (an import, an erasure, a retention pass), in a server only: they live
    /// in memory, so an operator command's would go with it, after holding the
    /// workspace's messages in memory for nothing.
    pub(crate) async fn rebuild_suggestions(&self, ws: WorkspaceId) -> Result<()> {
        if !self.serves() {
            return Ok(());
        }
        let derived = self.inner.derived.clone();
        tokio::task::spawn_blocking(move || derived.rebuild_recommender(ws))
            .await?
            .map_err(|e| AppError::other("rebuilding suggestion statistics", e))
    }
}
