//! `confab import slack FILE.zip --workspace NAME [--dry-run] [--json]`: runs the
//! app's Slack import ([`confab_app::slack_import`]) on the data dir, or through a
//! running server's admin socket, with a progress bar (ETA by day files read) on
//! standard error and a summary table on standard output.
//!
//! Over the socket the server answers an import with progress lines
//! (`{"progress": {…}}`) before its usual last line (`{"ok": …}` or `{"error": …}`),
//! so the bar moves while a running server imports.

use std::path::PathBuf;

use anyhow::{Context, bail};
use confab_app::App;
use confab_app::slack_import::{ImportProgress, ImportSummary, SlackImport};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::admin::{AdminRequest, socket_path};
use crate::config::Config;

/// `confab import …`.
#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// Import a Slack export zip into a workspace (created, or reused on a re-run;
    /// re-running adds nothing).
    Slack {
        /// The export zip (Slack: Workspace settings → Import/Export Data).
        file: PathBuf,
        /// The workspace's exact name.
        #[arg(long)]
        workspace: String,
        /// Read the export and print what an import would do; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the summary as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `confab import slack`.
pub fn main(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    command: ImportCommand,
) -> anyhow::Result<()> {
    let ImportCommand::Slack { file, workspace, dry_run, json } = command;
    let path = std::fs::canonicalize(&file).with_context(|| format!("reading {}", file.display()))?;
    let request = SlackImport { path, workspace, dry_run };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} day files, {msg} (ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = runtime.block_on(run(config, request, bar.clone()))?;
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", table(&summary, config));
    }
    Ok(())
}

fn show(bar: &ProgressBar, p: ImportProgress) {
    bar.set_length(p.files_total);
    bar.set_position(p.files_done);
    bar.set_message(format!("{} messages", p.messages));
}

/// Through the running server's admin socket, or on the data dir.
async fn run(config: &Config, request: SlackImport, bar: ProgressBar) -> anyhow::Result<ImportSummary> {
    #[cfg(unix)]
    if let Ok(stream) = tokio::net::UnixStream::connect(socket_path(&config.server.data_dir)).await {
        let (read, mut write) = stream.into_split();
        let mut line = serde_json::to_string(&AdminRequest::ImportSlack(request))?;
        line.push('\n');
        write.write_all(line.as_bytes()).await?;
        let mut lines = BufReader::new(read).lines();
        while let Some(line) = lines.next_line().await? {
            let value: Value = serde_json::from_str(&line)?;
            if let Some(p) = value.get("progress") {
                show(&bar, serde_json::from_value(p.clone())?);
            } else if let Some(ok) = value.get("ok") {
                return Ok(serde_json::from_value(ok.clone())?);
            } else if let Some(e) = value.get("error") {
                bail!("{}: {}", e["code"].as_str().unwrap_or("error"), e["message"].as_str().unwrap_or(""));
            }
        }
        bail!("the server closed the admin socket");
    }
    let command = crate::open_app_for_command(config, true).await?;
    let progress_bar = bar.clone();
    let result = command.app.import_slack(request, Box::new(move |p| show(&progress_bar, p))).await;
    command.finish().await?;
    let summary = result.map_err(|e| {
        let e = e.to_client();
        anyhow::anyhow!("{}: {}", e.code, e.message)
    })?;
    Ok(summary)
}

/// Serves one import on the admin socket: progress lines, then the answer.
pub async fn serve(app: &App, request: SlackImport, write: &mut tokio::net::unix::OwnedWriteHalf) -> bool {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let import = app.import_slack(
        request,
        Box::new(move |p| {
            let _ = tx.send(p);
        }),
    );
    let answer = async {
        import.await.and_then(|s| serde_json::to_value(s).map_err(Into::into)).map_err(|e| {
            e.log();
            e.to_client()
        })
    };
    crate::admin::stream_progress(write, rx, answer).await
}

/// The summary table printed at the end.
fn table(s: &ImportSummary, config: &Config) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if let Some(report) = &s.report {
        let _ =
            writeln!(out, "Dry run of an import into workspace {:?}: nothing was written.", s.workspace_name);
        out.push_str(report);
        return out;
    }
    let ws = s.workspace.map(|w| w.to_string()).unwrap_or_default();
    let verb = if s.workspace_created { "created" } else { "reused" };
    let _ = writeln!(
        out,
        "Imported into workspace {:?} ({ws}, {verb}) in {:.1} s",
        s.workspace_name,
        s.elapsed_ms as f64 / 1000.0
    );
    let rows: [(&str, u64, String); 8] = [
        (
            "users",
            s.users_created + s.users_linked + s.users_known,
            format!(
                "{} created, {} linked by email, {} from an earlier run",
                s.users_created, s.users_linked, s.users_known
            ),
        ),
        ("members", s.members_added, "added to the workspace".into()),
        (
            "channels",
            s.channels_created + s.channels_reused,
            format!("{} created, {} reused", s.channels_created, s.channels_reused),
        ),
        (
            "dms",
            s.dms_created + s.dms_reused,
            format!("{} created, {} reused (group DMs included)", s.dms_created, s.dms_reused),
        ),
        (
            "messages",
            s.messages_imported,
            format!(
                "{} already imported before; {} thread replies, {} edited",
                s.messages_already_imported, s.replies, s.edited
            ),
        ),
        ("reactions", s.reactions, String::new()),
        ("files", s.files, "as links".into()),
        ("membership changes", s.membership_changes, "joins and leaves".into()),
    ];
    for (what, n, detail) in rows {
        let _ = writeln!(out, "  {what:<20} {n:>10}  {detail}");
    }
    let rate = s.messages_imported as f64 / (s.elapsed_ms.max(1) as f64 / 1000.0);
    let _ = writeln!(out, "  {:<20} {:>10.0}", "messages/s", rate);
    if !s.conversations_skipped.is_empty() {
        let _ = writeln!(out, "Skipped conversations (malformed files):");
        for c in &s.conversations_skipped {
            let _ = writeln!(out, "  {c}");
        }
    }
    if !s.skipped.is_empty() {
        let _ = writeln!(out, "Left out:");
        for (why, n) in &s.skipped {
            let _ = writeln!(out, "  {n:>8}  {why}");
        }
    }
    if !s.new_accounts.is_empty() {
        let _ = writeln!(
            out,
            "New accounts ({}): hand each person their one-time link, which sets a password",
            s.new_accounts.len()
        );
        for a in &s.new_accounts {
            let link = crate::lifecycle::reset_link(config, &a.sign_in_token);
            let _ = writeln!(out, "  @{} <{}>: {link}", a.username, a.email);
        }
    }
    out
}
