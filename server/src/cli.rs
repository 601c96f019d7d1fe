//! The command line: `confab [serve]`, `confab reindex`, `confab consent …`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use confab_app::consent::ConsentChangeRequest;
use confab_core::WorkspaceId;

use crate::admin::{self, AdminRequest};
use crate::config::Config;

/// Confab: a self-hostable team chat server whose machine learning never learns from
/// a workspace that has not explicitly opted in.
#[derive(Debug, Parser)]
#[command(name = "confab", version, propagate_version = true)]
pub struct Cli {
    /// A TOML settings file (see config/default.toml for every key).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the store and index live (default ./data).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default when no subcommand is given).
    Serve,
    /// Run a server on a fresh data dir seeded with two demo workspaces from the chat
    /// corpus (default data dir: ./demo-data).
    Demo,
    /// Rebuild the search index from the store.
    Reindex {
        /// Only this workspace (default: all).
        #[arg(long)]
        workspace: Option<WorkspaceId>,
    },
    /// Inspect and change workspaces' consent to training (works on a running
    /// server's data dir through its admin socket).
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Run consent-gated training now: each purpose's pipeline reads a snapshot taken
    /// through the consent gate and saves its models with their manifests.
    Train {
        /// Only this purpose (default: all).
        #[arg(long)]
        purpose: Option<String>,
        /// Print which workspaces would be included or excluded and why; train nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Trained models and their manifests.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Import another chat's export: `confab import slack EXPORT.zip --workspace NAME`
    /// (through a running server's admin socket, or on the data dir).
    #[command(subcommand)]
    Import(crate::slack::import::ImportCommand),
    /// Accounts, by email: list, create, disable, enable, reset-password, make-admin,
    /// delete.
    #[command(subcommand)]
    User(crate::lifecycle::UserCommand),
    /// A consistent copy of a running server's data (store, consent ledgers, models;
    /// not the search index, rebuilt on restore) in DIR, absent or empty; writes wait
    /// only for a short second phase of the copy.
    Backup {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Exports a workspace (`confab export workspace WS --out FILE.zip`).
    #[command(subcommand)]
    Export(crate::lifecycle::ExportCommand),
    /// Restores a backup into a new data dir (`--data-dir`, absent or empty) and
    /// verifies every workspace's consent ledger.
    Restore {
        /// The backup (`confab backup --out DIR`).
        dir: PathBuf,
    },
    /// Copies the data dir's sled store into an empty PostgreSQL database, in bounded
    /// memory, and checks the counts of every kind of record it copied; then run the
    /// node with `[cluster] store` and the same data dir (docs/cluster.md). The node
    /// must be stopped.
    Migrate {
        /// The database: `postgres://USER[:PASSWORD]@HOST:PORT/DB`.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Every model (or those concerning one workspace), served or retired.
    List {
        #[arg(long)]
        workspace: Option<WorkspaceId>,
    },
    /// One model's manifest and state.
    Show { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Print every purpose's policy text with its version and SHA-256.
    Policies,
    /// A workspace's current grants and member keys.
    Status(WorkspaceArg),
    /// Grant a purpose, as one of the workspace's owners. Read the policy first
    /// (`confab consent policies`) and pass its hash: consent is never implied.
    Grant(GrantArgs),
    /// Withdraw a purpose, as one of the workspace's owners.
    Withdraw(WithdrawArgs),
    /// The workspace's ledger entries.
    History(WorkspaceArg),
    /// Recompute the ledger's hash chain and report the first tampered entry.
    Verify(WorkspaceArg),
    /// The ledger with its verification, as JSON for archiving.
    Export(WorkspaceArg),
}

#[derive(Debug, Args)]
pub struct WorkspaceArg {
    #[arg(long)]
    pub workspace: WorkspaceId,
}

#[derive(Debug, Args)]
pub struct GrantArgs {
    #[arg(long)]
    pub workspace: WorkspaceId,
    /// search_ranking, emoji_suggestions or channel_suggestions.
    #[arg(long)]
    pub purpose: String,
    /// The email of the owner granting.
    #[arg(long = "as", value_name = "EMAIL")]
    pub owner_email: String,
    /// workspace (a model for this workspace only) or shared (also the instance-wide model).
    #[arg(long, default_value = "workspace")]
    pub scope: String,
    /// Data categories, comma-separated (e.g. messages,reactions).
    #[arg(long, value_delimiter = ',')]
    pub categories: Vec<String>,
    /// opt_in (members are out until each says yes; recommended) or opt_out.
    #[arg(long, default_value = "opt_in")]
    pub members: String,
    /// The version of the policy you read.
    #[arg(long)]
    pub policy_version: u32,
    /// The SHA-256 of the policy text you read.
    #[arg(long)]
    pub policy_sha256: String,
    /// State that you accept the policy; without it the grant is refused.
    #[arg(long)]
    pub accept: bool,
}

#[derive(Debug, Args)]
pub struct WithdrawArgs {
    #[arg(long)]
    pub workspace: WorkspaceId,
    #[arg(long)]
    pub purpose: String,
    #[arg(long = "as", value_name = "EMAIL")]
    pub owner_email: String,
}

impl Cli {
    /// The settings: defaults, then the file, then the environment, then the flags.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.server.data_dir = dir.clone();
        }
        if let Some(listen) = self.listen {
            config.server.listen = listen;
        }
        Ok(config)
    }
}

fn json_value<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| anyhow::anyhow!("{what} {text:?} is not one of the allowed values"))
}

fn consent_request(command: ConsentCommand) -> anyhow::Result<AdminRequest> {
    Ok(match command {
        ConsentCommand::Policies => AdminRequest::ConsentPolicies,
        ConsentCommand::Status(w) => AdminRequest::ConsentStatus { workspace: w.workspace },
        ConsentCommand::History(w) => AdminRequest::ConsentHistory { workspace: w.workspace },
        ConsentCommand::Verify(w) => AdminRequest::ConsentVerify { workspace: w.workspace },
        ConsentCommand::Export(w) => AdminRequest::ConsentExport { workspace: w.workspace },
        ConsentCommand::Withdraw(a) => AdminRequest::ConsentWithdraw {
            workspace: a.workspace,
            purpose: a.purpose,
            owner_email: a.owner_email,
        },
        ConsentCommand::Grant(a) => AdminRequest::ConsentGrant {
            workspace: a.workspace,
            purpose: a.purpose,
            owner_email: a.owner_email,
            grant: ConsentChangeRequest {
                granted: true,
                scope: Some(json_value("scope", &a.scope)?),
                categories: Some(
                    a.categories.iter().map(|c| json_value("category", c)).collect::<Result<_, _>>()?,
                ),
                members: Some(json_value("members", &a.members)?),
                policy_version: Some(a.policy_version),
                policy_sha256: Some(a.policy_sha256),
                accept: Some(a.accept),
            },
        },
    })
}

/// Sets up logging (`CONFAB_LOG`, default `info`): the server logs to standard output;
/// the other commands log to standard error, keeping their output (JSON) clean.
fn init_logging(server: bool) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONFAB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if server {
        builder.with_ansi(std::io::stdout().is_terminal()).try_init()
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr).try_init()
    };
}

/// Runs the command line with the given arguments.
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> anyhow::Result<()> {
    let cli = Cli::parse_from(args);
    init_logging(matches!(cli.command, None | Some(Command::Serve) | Some(Command::Demo)));
    let config = cli.config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let request = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => return runtime.block_on(crate::serve(config)),
        #[cfg(feature = "demo")]
        Command::Demo => {
            anyhow::ensure!(
                config.cluster.is_none(),
                "confab demo seeds a fresh data dir with sled; run it without a [cluster] section"
            );
            let mut config = config;
            if cli.data_dir.is_none() {
                config.server.data_dir = PathBuf::from("./demo-data");
            }
            return runtime.block_on(crate::demo::run(config));
        }
        #[cfg(not(feature = "demo"))]
        Command::Demo => anyhow::bail!("this confab was built without the `demo` feature"),
        Command::Reindex { workspace } => {
            return admin::run_with_bar(&runtime, &config, AdminRequest::Reindex { workspace });
        }
        Command::Consent(command) => consent_request(command)?,
        Command::Train { purpose, dry_run } => {
            return admin::run_with_bar(&runtime, &config, AdminRequest::Train { purpose, dry_run });
        }
        Command::Models(ModelsCommand::List { workspace }) => AdminRequest::ModelsList { workspace },
        Command::Models(ModelsCommand::Show { id }) => AdminRequest::ModelsShow { id },
        Command::Import(command) => return crate::slack::import::main(&runtime, &config, command),
        Command::User(command) => AdminRequest::User(command.request()?),
        Command::Backup { out } => {
            anyhow::ensure!(
                config.cluster.is_none(),
                "confab backup copies a sled store, and this one is on PostgreSQL ([cluster] store): back \
                 the database up with pg_dump (or pg_basebackup with WAL archiving), and copy the data \
                 dir's models/ and files/ (docs/cluster.md)"
            );
            let request = AdminRequest::Backup { out: std::path::absolute(out)? };
            return admin::run_with_bar(&runtime, &config, request);
        }
        Command::Export(crate::lifecycle::ExportCommand::Workspace { workspace, out }) => {
            let request = AdminRequest::ExportWorkspace { workspace, out: std::path::absolute(out)? };
            return admin::run_with_bar(&runtime, &config, request);
        }
        Command::Restore { dir } => {
            anyhow::ensure!(
                config.cluster.is_none(),
                "confab restore brings back a sled store, and this one is on PostgreSQL ([cluster] store): \
                 restore the database with pg_restore, and copy models/ and files/ into the data dir \
                 (docs/cluster.md)"
            );
            anyhow::ensure!(
                cli.data_dir.is_some(),
                "name the new data dir: confab restore DIR --data-dir NEW"
            );
            let restored = crate::lifecycle::restore(&dir, &config.server.data_dir)?;
            println!("{}", serde_json::to_string_pretty(&restored)?);
            return Ok(());
        }
        Command::Migrate { to } => return crate::migrate::run(&config, &to),
    };
    let verify = matches!(request, AdminRequest::ConsentVerify { .. });
    let reset = matches!(request, AdminRequest::User(crate::lifecycle::UserRequest::ResetPassword { .. }));
    let answer = runtime.block_on(admin::run(&config, request))?;
    if reset {
        // The link alone on standard output; when it expires on standard error.
        let token = answer["token"].as_str().unwrap_or_default();
        println!("{}", crate::lifecycle::reset_link(&config, token));
        eprintln!(
            "one-time link for {}, valid until {} (ms since the epoch)",
            answer["email"], answer["expires_at"]
        );
        return Ok(());
    }
    println!("{}", serde_json::to_string_pretty(&answer)?);
    if verify && !answer["first_bad"].is_null() {
        anyhow::bail!("the consent ledger does not verify: {}", answer["first_bad"]);
    }
    Ok(())
}
