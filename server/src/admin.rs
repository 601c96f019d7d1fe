//! Operator commands (`confab consent …`, `confab reindex`) and how they reach the
//! data: sled lets one process open a data dir, so while a server runs on it, a
//! command is sent over the server's local admin socket (`<data-dir>/admin.sock`,
//! owner-only permissions; JSON lines); otherwise the command opens the data dir
//! itself. Both paths run the same [`execute`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use confab_app::App;
use confab_app::consent::ConsentChangeRequest;
use confab_core::{Error, WorkspaceId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::config::Config;

/// One operator command.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum AdminRequest {
    ConsentPolicies,
    ConsentStatus { workspace: WorkspaceId },
    ConsentGrant { workspace: WorkspaceId, purpose: String, owner_email: String, grant: ConsentChangeRequest },
    ConsentWithdraw { workspace: WorkspaceId, purpose: String, owner_email: String },
    ConsentHistory { workspace: WorkspaceId },
    ConsentVerify { workspace: WorkspaceId },
    ConsentExport { workspace: WorkspaceId },
    Reindex { workspace: Option<WorkspaceId> },
    Train { purpose: Option<String>, dry_run: bool },
    ModelsList { workspace: Option<WorkspaceId> },
    ModelsShow { id: String },
    ImportSlack(confab_app::slack_import::SlackImport),
    User(crate::lifecycle::UserRequest),
    Backup { out: PathBuf },
    ExportWorkspace { workspace: WorkspaceId, out: PathBuf },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AdminResponse {
    Ok(Value),
    Error(Error),
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// Runs a command against the app.
pub async fn execute(app: &App, request: AdminRequest) -> Result<Value, Error> {
    let as_json = |v: Result<Value, serde_json::Error>| v.map_err(|_| Error::internal());
    match request {
        AdminRequest::ConsentPolicies => as_json(serde_json::to_value(app.consent_policies())),
        AdminRequest::ConsentStatus { workspace } => {
            as_json(serde_json::to_value(app.admin_consent_state(workspace)?))
        }
        AdminRequest::ConsentGrant { workspace, purpose, owner_email, grant } => {
            let caller = app.caller_by_email(&owner_email)?;
            as_json(serde_json::to_value(app.change_consent(caller, workspace, &purpose, grant).await?))
        }
        AdminRequest::ConsentWithdraw { workspace, purpose, owner_email } => {
            let caller = app.caller_by_email(&owner_email)?;
            let withdraw = ConsentChangeRequest::withdrawal();
            as_json(serde_json::to_value(app.change_consent(caller, workspace, &purpose, withdraw).await?))
        }
        AdminRequest::ConsentHistory { workspace } | AdminRequest::ConsentExport { workspace } => {
            as_json(serde_json::to_value(app.admin_consent_export(workspace)?))
        }
        AdminRequest::ConsentVerify { workspace } => {
            as_json(serde_json::to_value(app.admin_consent_verify(workspace)?))
        }
        AdminRequest::Reindex { workspace } => Ok(json!({ "documents": app.reindex(workspace).await? })),
        AdminRequest::Train { purpose, dry_run } => {
            let purposes = match purpose {
                Some(p) => vec![p.parse()?],
                None => confab_consent::Purpose::ALL.to_vec(),
            };
            let runs = app
                .run_training(
                    confab_app::models::scheduler(),
                    &purposes,
                    dry_run,
                    confab_training::NoiseSource::Os,
                )
                .await?;
            as_json(serde_json::to_value(runs))
        }
        AdminRequest::ModelsList { workspace } => {
            as_json(serde_json::to_value(app.model_records(workspace)?))
        }
        AdminRequest::ModelsShow { id } => as_json(serde_json::to_value(app.model_record(&id)?)),
        AdminRequest::ImportSlack(import) => {
            as_json(serde_json::to_value(app.import_slack(import, Box::new(|_| {})).await?))
        }
        AdminRequest::User(request) => crate::lifecycle::execute_user(app, request).await,
        AdminRequest::ExportWorkspace { workspace, out } => {
            let report = app.export_workspace(workspace, out).await.map_err(|e| {
                e.log();
                e.to_client()
            })?;
            as_json(serde_json::to_value(report))
        }
        AdminRequest::Backup { out } => {
            let report = app.backup(out, Box::new(|_| {})).await.map_err(|e| {
                e.log();
                e.to_client()
            })?;
            as_json(serde_json::to_value(report))
        }
    }
}

/// Serves the admin socket until the process ends.
#[cfg(unix)]
pub async fn serve_socket(app: App, data_dir: PathBuf) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(&data_dir);
    let _ = std::fs::remove_file(&path);
    let listener =
        tokio::net::UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    loop {
        let (stream, _) = listener.accept().await?;
        let app = app.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let response = match serde_json::from_str::<AdminRequest>(&line) {
                    // An import streams its progress before its answer.
                    Ok(AdminRequest::ImportSlack(import)) => {
                        if !crate::slack::import::serve(&app, import, &mut write).await {
                            break;
                        }
                        continue;
                    }
                    // So does a backup.
                    Ok(AdminRequest::Backup { out }) => {
                        if !crate::lifecycle::serve_backup(&app, out, &mut write).await {
                            break;
                        }
                        continue;
                    }
                    Ok(request) => match execute(&app, request).await {
                        Ok(v) => AdminResponse::Ok(v),
                        Err(e) => AdminResponse::Error(e),
                    },
                    Err(e) => AdminResponse::Error(Error::new(
                        confab_core::ErrorCode::InvalidRequest,
                        e.to_string(),
                    )),
                };
                let mut text = serde_json::to_string(&response).unwrap_or_default();
                text.push('\n');
                if write.write_all(text.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// Runs a command from the command line: through a running server's socket, or by
/// opening the data dir.
pub async fn run(config: &Config, request: AdminRequest) -> anyhow::Result<Value> {
    let path = socket_path(&config.server.data_dir);
    #[cfg(unix)]
    if let Ok(stream) = tokio::net::UnixStream::connect(&path).await {
        let (read, mut write) = stream.into_split();
        let mut line = serde_json::to_string(&request)?;
        line.push('\n');
        write.write_all(line.as_bytes()).await?;
        let mut lines = BufReader::new(read).lines();
        let answer = lines.next_line().await?.context("the server closed the admin socket")?;
        return match serde_json::from_str::<AdminResponse>(&answer)? {
            AdminResponse::Ok(v) => Ok(v),
            AdminResponse::Error(e) => bail!("{}: {}", e.code, e.message),
        };
    }
    let (app, store) = crate::open_app(config).await?;
    let result = execute(&app, request).await;
    let flush_store: Arc<dyn confab_store::Store> = store;
    tokio::task::spawn_blocking(move || flush_store.flush()).await??;
    result.map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
}
