//! Operator commands (`confab consent …`, `confab reindex`) and how they reach the
//! data: sled lets one process open a data dir, so while a server runs on it, a
//! command is sent over the server's local admin socket (`<data-dir>/admin.sock`,
//! owner-only permissions; JSON lines); otherwise the command opens the data dir
//! itself, and only what it reads (`App::open_for_command`: no catch-up of the
//! search index and suggestions, no schedules). Both paths run the same [`execute`].

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use confab_app::consent::ConsentChangeRequest;
use confab_app::lifecycle::{OnProgress, Progress};
use confab_app::{App, AppError};
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

impl AdminRequest {
    /// Whether the command streams its progress before its answer.
    fn reports_progress(&self) -> bool {
        matches!(
            self,
            AdminRequest::Backup { .. }
                | AdminRequest::ExportWorkspace { .. }
                | AdminRequest::Reindex { .. }
                | AdminRequest::Train { .. }
        )
    }

    /// Whether the command, run on a data dir no server holds, needs the search
    /// index on disk: only those that rebuild it. The others open neither it nor
    /// anything else only a server needs (`App::open_for_command`).
    fn needs_search_index(&self) -> bool {
        matches!(self, AdminRequest::Reindex { .. } | AdminRequest::ImportSlack(_))
    }
}

/// A line the admin socket sends while a long command runs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgressLine {
    progress: Progress,
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

/// Runs a command against the app. As for an HTTP request, the cause of a failure is
/// logged here, once, and the operator is answered what a client would be.
pub async fn execute(app: &App, request: AdminRequest) -> Result<Value, Error> {
    execute_with_progress(app, request, Box::new(|_| {})).await
}

/// [`execute`], telling `progress` how a long command (a backup, an export) goes.
async fn execute_with_progress(
    app: &App,
    request: AdminRequest,
    progress: OnProgress,
) -> Result<Value, Error> {
    execute_app(app, request, progress).await.map_err(|e| {
        e.log();
        e.to_client()
    })
}

async fn execute_app(app: &App, request: AdminRequest, progress: OnProgress) -> Result<Value, AppError> {
    let as_json = |v: Result<Value, serde_json::Error>| v.map_err(AppError::from);
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
        AdminRequest::Reindex { workspace } => {
            Ok(json!({ "documents": app.reindex(workspace, progress).await? }))
        }
        AdminRequest::Train { purpose, dry_run } => {
            let purposes = match purpose {
                Some(p) => vec![p.parse().map_err(AppError::from)?],
                None => confab_consent::Purpose::ALL.to_vec(),
            };
            let runs = app
                .run_training_with_progress(
                    confab_app::models::scheduler(),
                    &purposes,
                    dry_run,
                    confab_training::NoiseSource::Os,
                    progress,
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
        // Answered as it is: `execute_user` logs its own failures.
        AdminRequest::User(request) => Ok(crate::lifecycle::execute_user(app, request).await?),
        AdminRequest::ExportWorkspace { workspace, out } => {
            as_json(serde_json::to_value(app.export_workspace(workspace, out, progress).await?))
        }
        AdminRequest::Backup { out } => as_json(serde_json::to_value(app.backup(out, progress).await?)),
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
                    // So do a backup and an export.
                    Ok(request) if request.reports_progress() => {
                        if !serve_with_progress(&app, request, &mut write).await {
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

/// Serves a long command on the admin socket: `{"progress": {"done", "total"}}` lines
/// while it runs, then its answer. `false` if the operator's end is gone.
#[cfg(unix)]
async fn serve_with_progress(
    app: &App,
    request: AdminRequest,
    write: &mut tokio::net::unix::OwnedWriteHalf,
) -> bool {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let on_progress: OnProgress = Box::new(move |p| {
        let _ = tx.send(p);
    });
    stream_progress(write, rx, execute_with_progress(app, request, on_progress)).await
}

/// Writes a `{"progress": …}` line for each report of `progress` while `command`
/// runs, then its answer (`{"ok": …}` or `{"error": …}`). `false` if the operator's
/// end is gone.
#[cfg(unix)]
pub async fn stream_progress<P: Serialize>(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    mut progress: tokio::sync::mpsc::UnboundedReceiver<P>,
    command: impl std::future::Future<Output = Result<Value, Error>>,
) -> bool {
    tokio::pin!(command);
    let answer = loop {
        tokio::select! {
            // Progress first, so that what a command reported before it ended is sent
            // before its answer.
            biased;
            Some(p) = progress.recv() => write_progress(write, p).await,
            result = &mut command => break result,
        }
    };
    while let Ok(p) = progress.try_recv() {
        write_progress(write, p).await;
    }
    let answer = match answer {
        Ok(v) => AdminResponse::Ok(v),
        Err(e) => AdminResponse::Error(e),
    };
    let mut line = serde_json::to_string(&answer).unwrap_or_default();
    line.push('\n');
    write.write_all(line.as_bytes()).await.is_ok()
}

#[cfg(unix)]
async fn write_progress<P: Serialize>(write: &mut tokio::net::unix::OwnedWriteHalf, progress: P) {
    let line = format!("{}\n", json!({ "progress": progress }));
    // The operator went away: the command goes on, unwatched.
    let _ = write.write_all(line.as_bytes()).await;
}

/// Runs a long command from the command line with a progress bar on standard error
/// (an ETA where the total is known), then prints its answer.
pub fn run_with_bar(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    request: AdminRequest,
) -> anyhow::Result<()> {
    let (template, unit) = match &request {
        AdminRequest::Backup { .. } => ("{spinner} [{elapsed_precise}] {pos} {msg}", "store keys copied"),
        _ => ("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} (ETA {eta})", "messages"),
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(unit);
    let shown = bar.clone();
    let show = move |p: Progress| {
        if p.total > 0 {
            shown.set_length(p.total);
        }
        shown.set_position(p.done);
    };
    let answer = runtime.block_on(run_with_progress(config, request, Box::new(show)));
    bar.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&answer?)?);
    Ok(())
}

/// Runs a command from the command line: through a running server's socket, or by
/// opening the data dir.
pub async fn run(config: &Config, request: AdminRequest) -> anyhow::Result<Value> {
    run_with_progress(config, request, Box::new(|_| {})).await
}

/// [`run`], telling `progress` how a long command goes (wherever it runs).
async fn run_with_progress(
    config: &Config,
    request: AdminRequest,
    mut progress: OnProgress,
) -> anyhow::Result<Value> {
    let path = socket_path(&config.server.data_dir);
    #[cfg(unix)]
    if let Ok(stream) = tokio::net::UnixStream::connect(&path).await {
        let (read, mut write) = stream.into_split();
        let mut line = serde_json::to_string(&request)?;
        line.push('\n');
        write.write_all(line.as_bytes()).await?;
        let mut lines = BufReader::new(read).lines();
        loop {
            let answer = lines.next_line().await?.context("the server closed the admin socket")?;
            if let Ok(ProgressLine { progress: p }) = serde_json::from_str::<ProgressLine>(&answer) {
                progress(p);
                continue;
            }
            return match serde_json::from_str::<AdminResponse>(&answer)? {
                AdminResponse::Ok(v) => Ok(v),
                AdminResponse::Error(e) => bail!("{}: {}", e.code, e.message),
            };
        }
    }
    let command = crate::open_app_for_command(config, request.needs_search_index()).await?;
    let result = execute_with_progress(&command.app, request, progress).await;
    command.finish().await?;
    result.map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
}
