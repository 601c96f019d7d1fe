//! Periodic upkeep that keeps what only grows bounded: expired sessions are deleted,
//! every workspace's search log is pruned to its configured age and size, and file
//! contents that no file names are removed after `files.orphan_ttl_secs`.

use std::time::Duration;

use crate::App;

impl App {
    /// Runs [`App::housekeeping`] every `period`, and sweeps orphan file contents
    /// once at start (a crash is what leaves them).
    pub(crate) fn start_housekeeping(&self, period: Duration) {
        let app = self.clone();
        tokio::spawn(async move {
            for ws in app.store().workspace_ids().unwrap_or_default() {
                if let Err(e) = app.sweep_orphan_files(ws).await {
                    tracing::warn!(error = %e, workspace = %ws, "sweeping orphan files failed");
                }
            }
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                ticks.tick().await;
                app.housekeeping().await;
            }
        });
    }

    /// One round of upkeep; failures are logged and retried next round.
    pub async fn housekeeping(&self) {
        match self.sweep_expired_sessions().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "deleted expired sessions"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired sessions failed"),
        }
        let workspaces = match self.store().workspace_ids() {
            Ok(ids) => ids,
            Err(e) => return tracing::warn!(error = %e, "listing workspaces for upkeep failed"),
        };
        for ws in workspaces {
            if let Err(e) = self.prune_search_log(ws).await {
                tracing::warn!(error = %e, workspace = %ws, "pruning the search log failed");
            }
            match self.sweep_orphan_files(ws).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(contents = n, workspace = %ws, "removed orphan file contents"),
                Err(e) => tracing::warn!(error = %e, workspace = %ws, "sweeping orphan files failed"),
            }
        }
    }
}
