//! The data lifecycle at the edge: the operator's `confab user …` commands (parsed
//! here, run by [`execute_user`] through the admin socket or on the data dir, like
//! every operator command in [`crate::admin`]) and the HTTP routes of the lifecycle
//! (`POST /auth/reset_password`, which the one-time link's page calls; `DELETE /me`;
//! `GET /me/export`;
//! `GET/PUT /workspaces/{ws}/erasure`; `GET/PUT /workspaces/{ws}/retention` and
//! `GET/PUT/DELETE /channels/{ch}/retention`), registered in [`crate::router`].

use std::io::Read;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use clap::Subcommand;
use confab_app::App;
use confab_app::lifecycle::{
    ChannelRetention, CreateAccount, DeleteAccount, ErasurePolicy, ErasureReport, ResetPassword,
    RetentionPolicy, SetRetention,
};
use confab_core::Error;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;
use crate::error::ApiResult;
use crate::extract::{Auth, Body, Path, id};

/// `confab user …`: accounts, by email.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Every account, with whether it is disabled and how many workspaces it is in.
    List,
    /// Creates an account (whatever `auth.signup` says). The password comes from
    /// `--password` or, without it, from standard input.
    Create {
        email: String,
        #[arg(long)]
        password: Option<String>,
        /// Display name (default: the email's local part).
        #[arg(long)]
        name: Option<String>,
    },
    /// Disables an account: its sessions end and its WebSockets close at once, and
    /// log-in is refused until it is enabled.
    Disable { email: String },
    /// Enables a disabled account again, with the password it had.
    Enable { email: String },
    /// Prints a one-time link that sets a new password, valid for
    /// `lifecycle.password_reset_ttl_secs`.
    ResetPassword { email: String },
    /// Makes the account an instance admin.
    MakeAdmin { email: String },
    /// Erases the account: its sessions end, the consent ledger excludes it, every
    /// model that used its data is retired and rebuilt without it, and its messages
    /// are deleted or kept as "deleted user" as each workspace's erasure policy says.
    Delete {
        email: String,
        /// Confirms: an erasure cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

/// `confab export …`.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// A workspace as a Slack export zip (what `confab import slack` reads), with its
    /// consent ledger and the manifests of the models its data went into.
    Workspace {
        workspace: confab_core::WorkspaceId,
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
}

/// A user command as sent over the admin socket.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum UserRequest {
    List,
    Create(CreateAccount),
    Disable { email: String },
    Enable { email: String },
    ResetPassword { email: String },
    MakeAdmin { email: String },
    Delete { email: String },
}

impl UserCommand {
    /// The request to send; `create` without `--password` reads it from standard input.
    pub fn request(self) -> anyhow::Result<UserRequest> {
        Ok(match self {
            UserCommand::List => UserRequest::List,
            UserCommand::Create { email, password, name } => {
                let password = match password {
                    Some(p) => p,
                    None => {
                        let mut text = String::new();
                        std::io::stdin().take(4096).read_to_string(&mut text)?;
                        text.trim_end_matches(['\r', '\n']).to_string()
                    }
                };
                UserRequest::Create(CreateAccount { email, password, display_name: name })
            }
            UserCommand::Disable { email } => UserRequest::Disable { email },
            UserCommand::Enable { email } => UserRequest::Enable { email },
            UserCommand::ResetPassword { email } => UserRequest::ResetPassword { email },
            UserCommand::MakeAdmin { email } => UserRequest::MakeAdmin { email },
            UserCommand::Delete { yes: false, email } => {
                anyhow::bail!("erasing {email} cannot be undone: add --yes to do it")
            }
            UserCommand::Delete { yes: true, email } => UserRequest::Delete { email },
        })
    }
}

/// Runs a user command against the app.
pub async fn execute_user(app: &App, request: UserRequest) -> Result<Value, Error> {
    let as_json = |v: Result<Value, serde_json::Error>| v.map_err(|_| Error::internal());
    let client = |e: confab_app::AppError| {
        e.log();
        e.to_client()
    };
    match request {
        UserRequest::List => as_json(serde_json::to_value(app.accounts().map_err(client)?)),
        UserRequest::Create(req) => {
            as_json(serde_json::to_value(app.create_account(req).await.map_err(client)?))
        }
        UserRequest::Disable { email } => {
            as_json(serde_json::to_value(app.set_account_disabled(&email, true).await.map_err(client)?))
        }
        UserRequest::Enable { email } => {
            as_json(serde_json::to_value(app.set_account_disabled(&email, false).await.map_err(client)?))
        }
        UserRequest::MakeAdmin { email } => {
            as_json(serde_json::to_value(app.make_instance_admin(&email).await.map_err(client)?))
        }
        UserRequest::Delete { email } => {
            as_json(serde_json::to_value(app.erase_account(&email).await.map_err(client)?))
        }
        UserRequest::ResetPassword { email } => {
            as_json(serde_json::to_value(app.password_reset_token(&email).map_err(client)?))
        }
    }
}

/// The link a reset token is handed over as: the web client's reset page, with the
/// token in the fragment so that it never reaches a server log or a `Referer`.
pub fn reset_link(config: &Config, token: &str) -> String {
    let base = match config.app.lifecycle.public_url.trim_end_matches('/') {
        "" => format!("http://{}", config.server.listen),
        url => url.to_string(),
    };
    format!("{base}/reset.html#token={token}")
}

/// `DELETE /me {password}`: the caller erases their own account.
pub async fn delete_me(
    State(app): State<App>,
    auth: Auth,
    Body(req): Body<DeleteAccount>,
) -> ApiResult<Json<ErasureReport>> {
    Ok(Json(app.delete_own_account(auth.caller, req).await?))
}

/// `GET /me/export`: the caller's personal data export, a zip streamed as it is
/// written (see `confab_app::lifecycle::export`).
pub async fn export_me(State(app): State<App>, auth: Auth) -> ApiResult<axum::response::Response> {
    let export = app.personal_export(auth.caller)?;
    Ok(stream_zip("confab-export.zip", move |out| export.write_to(out)))
}

/// `GET /workspaces/{ws}/export`: the workspace as a Slack-export-shaped zip, as
/// `confab export workspace` writes it, for its owners; streamed as it is written.
pub async fn export_workspace(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
) -> ApiResult<axum::response::Response> {
    let export = app.owner_workspace_export(auth.caller, id(&ws)?)?;
    Ok(stream_zip("confab-workspace-export.zip", move |out| export.write_to(out)))
}

/// A zip download written by `write` on a blocking thread as the client reads it. A
/// reader that stalls for [`EXPORT_SEND_TIMEOUT`] ends it, so it cannot hold one of
/// the few export slots. A failure half-way is logged and cuts the body short, which
/// the client sees as a broken download rather than a valid, incomplete zip.
fn stream_zip(
    filename: &'static str,
    write: impl FnOnce(ChunkWriter) -> Result<(), confab_app::AppError> + Send + 'static,
) -> axum::response::Response {
    use axum::http::header;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let writer = ChunkWriter { tx: tx.clone(), runtime, buf: Vec::with_capacity(CHUNK) };
        if let Err(e) = write(writer) {
            e.log();
            let _ = tx.blocking_send(Err(std::io::Error::other("the export failed")));
        }
    });
    let chunks =
        futures_util::stream::unfold(rx, |mut rx| async { rx.recv().await.map(|chunk| (chunk, rx)) });
    let disposition = format!("attachment; filename=\"{filename}\"");
    let headers =
        [(header::CONTENT_TYPE, "application/zip".to_string()), (header::CONTENT_DISPOSITION, disposition)];
    (headers, axum::body::Body::from_stream(chunks)).into_response()
}

/// Bytes of the export sent to the client at a time.
const CHUNK: usize = 64 * 1024;
/// How long the export waits for a client to take the next chunk.
const EXPORT_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Hands what the zip writer writes to the response body, a chunk at a time.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    runtime: tokio::runtime::Handle,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        let sent = self.runtime.block_on(tokio::time::timeout(EXPORT_SEND_TIMEOUT, self.tx.send(Ok(chunk))));
        match sent {
            Ok(Ok(())) => Ok(()),
            _ => Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client stopped reading")),
        }
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for ChunkWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// `GET /workspaces/{ws}/erasure`: what happens to a member's messages when they
/// delete their account (any member may read it first).
pub async fn erasure_policy(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
) -> ApiResult<Json<ErasurePolicy>> {
    Ok(Json(app.erasure_policy(auth.caller, id(&ws)?)?))
}

/// `PUT /workspaces/{ws}/erasure {messages: "delete" | "keep"}` (owners and admins).
pub async fn set_erasure_policy(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Body(policy): Body<ErasurePolicy>,
) -> ApiResult<Json<ErasurePolicy>> {
    Ok(Json(app.set_erasure_policy(auth.caller, id(&ws)?, policy).await?))
}

/// `GET /workspaces/{ws}/retention`: `{days}` (`null`: for ever); any member.
pub async fn ws_retention(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
) -> ApiResult<Json<RetentionPolicy>> {
    Ok(Json(app.workspace_retention(auth.caller, id(&ws)?)?))
}

/// `PUT /workspaces/{ws}/retention {days}` (owners and admins).
pub async fn set_ws_retention(
    State(app): State<App>,
    auth: Auth,
    Path(ws): Path<String>,
    Body(req): Body<SetRetention>,
) -> ApiResult<Json<RetentionPolicy>> {
    Ok(Json(app.set_workspace_retention(auth.caller, id(&ws)?, req).await?))
}

/// `GET /channels/{ch}/retention`: `{days, set, effective_days}`; whoever may read
/// the channel.
pub async fn ch_retention(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
) -> ApiResult<Json<ChannelRetention>> {
    Ok(Json(app.channel_retention(auth.caller, id(&ch)?)?))
}

/// `PUT /channels/{ch}/retention {days}` (owners and admins of its workspace).
pub async fn set_ch_retention(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
    Body(req): Body<SetRetention>,
) -> ApiResult<Json<ChannelRetention>> {
    Ok(Json(app.set_channel_retention(auth.caller, id(&ch)?, req).await?))
}

/// `DELETE /channels/{ch}/retention`: the channel follows its workspace's retention
/// again (owners and admins of its workspace).
pub async fn clear_ch_retention(
    State(app): State<App>,
    auth: Auth,
    Path(ch): Path<String>,
) -> ApiResult<Json<ChannelRetention>> {
    Ok(Json(app.clear_channel_retention(auth.caller, id(&ch)?).await?))
}

/// `POST /auth/reset_password {token, new_password}`: the one-time link's page sets
/// the new password with it.
pub async fn reset_password(State(app): State<App>, Body(req): Body<ResetPassword>) -> ApiResult<StatusCode> {
    app.reset_password(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `confab restore DIR --data-dir NEW`: copies a backup (`confab backup --out DIR`)
/// into a new data dir (absent or empty, created owner-only), then opens the
/// restored store and verifies every workspace's consent ledger. The search index is
/// not in a backup: the first server started on `NEW` rebuilds it.
pub fn restore(backup: &std::path::Path, data_dir: &std::path::Path) -> anyhow::Result<Value> {
    use anyhow::Context;
    use confab_app::lifecycle::backup::{BACKUP_FORMAT, copy_tree, require_empty, tree_size};
    use confab_store::Store;
    let manifest = std::fs::read(backup.join("backup.json"))
        .with_context(|| format!("{} holds no backup.json: not a confab backup", backup.display()))?;
    let manifest: confab_app::lifecycle::BackupReport = serde_json::from_slice(&manifest)?;
    anyhow::ensure!(manifest.format == BACKUP_FORMAT, "unknown backup format {:?}", manifest.format);
    require_empty(data_dir).context("restore into a new or empty data dir")?;
    crate::secure_data_dir(data_dir)?;
    let has_models = backup.join("models").exists();
    let total =
        tree_size(&backup.join("store"))? + if has_models { tree_size(&backup.join("models"))? } else { 0 };
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} (ETA {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut copied = |bytes| bar.inc(bytes);
    copy_tree(&backup.join("store"), &data_dir.join("store"), &mut copied).context("copying the store")?;
    if has_models {
        copy_tree(&backup.join("models"), &data_dir.join("models"), &mut copied)
            .context("copying the models")?;
    }
    if backup.join("files").exists() {
        copy_tree(&backup.join("files"), &data_dir.join("files"), &mut copied)
            .context("copying the files")?;
    }
    bar.finish_and_clear();
    // Backups made before the reset-link key moved into the store carry it as a file.
    if backup.join("secret.key").exists() {
        std::fs::copy(backup.join("secret.key"), data_dir.join("secret.key"))
            .context("copying secret.key")?;
    }
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(confab_store::SledStore::open(&data_dir.join("store"), &Default::default())?);
    let ledger = confab_consent::Ledger::new(confab_app::consent::StoreLedger { store: store.clone() });
    let workspaces = store.workspace_ids()?;
    for ws in &workspaces {
        let report = ledger.verify(*ws)?;
        anyhow::ensure!(report.first_bad.is_none(), "the consent ledger of workspace {ws} does not verify");
    }
    store.flush()?;
    Ok(serde_json::json!({
        "restored_into": data_dir,
        "workspaces": workspaces.len(),
        "ledgers_verified": workspaces.len(),
        "backup": manifest,
    }))
}
