//! Operator use cases, for the `confab` command line on the server's machine (its
//! access to the data dir already gives it everything): consent status, history,
//! verification and export of any workspace, acting as a named owner, re-indexing.

use confab_consent::{LedgerExport, VerifyReport};
use confab_core::{Error, ErrorCode, WorkspaceId};

use crate::{App, Caller, internal};

impl App {
    /// The caller an operator acts as, by email.
    pub fn caller_by_email(&self, email: &str) -> Result<Caller, Error> {
        let record =
            self.store().user_by_email(email).map_err(internal)?.ok_or_else(|| {
                Error::new(ErrorCode::UserNotFound, format!("no account with email {email}"))
            })?;
        Ok(Caller { user: record.user.id, instance_admin: record.user.instance_admin })
    }

    pub fn admin_consent_verify(&self, ws: WorkspaceId) -> Result<VerifyReport, Error> {
        self.workspace(ws)?;
        self.inner.ledger.verify(ws)
    }

    pub fn admin_consent_export(&self, ws: WorkspaceId) -> Result<LedgerExport, Error> {
        self.workspace(ws)?;
        self.inner.ledger.export(ws)
    }

    pub fn admin_consent_state(&self, ws: WorkspaceId) -> Result<confab_consent::ConsentState, Error> {
        self.workspace(ws)?;
        self.inner.ledger.state(ws)
    }

    /// Rebuilds the search index of one workspace, or of all, from the store.
    pub async fn reindex(&self, ws: Option<WorkspaceId>) -> Result<usize, Error> {
        let workspaces = match ws {
            Some(ws) => {
                self.workspace(ws)?;
                vec![ws]
            }
            None => self.store().workspace_ids().map_err(internal)?,
        };
        let derived = self.inner.derived.clone();
        tokio::task::spawn_blocking(move || derived.reindex(&workspaces))
            .await
            .map_err(internal)?
            .map_err(internal)
    }
}
