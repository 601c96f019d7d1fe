//! `confab-bench`: measures a real `confab` server against the performance targets of
//! the design (durable ingest, live delivery, fan-out, idle connections, start-up,
//! crash safety, file uploads) and against a bare tokio-tungstenite baseline, over
//! loopback. With `--cluster`, ingest, fan-out and crash also run on several nodes
//! sharing a throwaway PostgreSQL and `nats-server` (`cluster`), next to one node in
//! the same run; `services` measures PostgreSQL and NATS alone.
//!
//! Each scenario starts its own server on a fresh temporary data dir (or uses `--url`
//! where it can), populates it over HTTP, drives it over WebSockets, and adds rows to
//! one results table printed at the end. See docs/benchmarks.md.

mod baseline;
mod cluster;
mod load;
mod peer;
mod report;
mod scenario;
mod server;
mod setup;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

use crate::report::Report;

#[derive(Debug, Parser)]
#[command(name = "confab-bench", about = "Benchmarks a real confab server over loopback")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    #[command(flatten)]
    options: Options,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Durable ingest: many senders posting over WebSockets (send→ack).
    Ingest,
    /// Live delivery and fan-out: send→delivery latency across receivers.
    Fanout,
    /// Resident memory per idle authenticated connection.
    Idle,
    /// Start-up time with many messages stored.
    Startup,
    /// The bare transport baseline and sled's raw durable write rate.
    Baseline,
    /// kill -9 under load, restart, check every acknowledged message.
    Crash,
    /// Live delivery with and without hostile clients (issue 12): latency, memory, disk.
    Hostile,
    /// Upload throughput of 1 MiB files against the disk's fsynced write rate.
    Files,
    /// What a cluster stands on: PostgreSQL's synchronous commits/s (small
    /// transactions, and the post batches the nodes' store commits) and NATS's
    /// event-sized messages/s (publish and delivery to every other node).
    Services,
    /// Every scenario above but `services`, one after the other (on one node).
    All,
    /// Confab next to a running Synapse (Matrix) homeserver, same driver and run (not
    /// part of `all`: start Synapse with scripts/peer-synapse.sh first).
    Peer(peer::PeerArgs),
    /// Runs the bare baseline server (used by the bench itself).
    #[command(hide = true)]
    ServeBaseline {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Leave Nagle's algorithm on.
        #[arg(long)]
        nagle: bool,
    },
}

/// Every knob; defaults finish in a few minutes on a 2-core machine.
#[derive(Debug, Args, Clone)]
pub struct Options {
    /// The confab binary (default: `confab` next to this executable).
    #[arg(long, global = true, value_name = "PATH")]
    pub server_bin: Option<PathBuf>,
    /// Use an already running server instead of starting one (ingest, fanout, idle).
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// The PID of the `--url` server, to read its memory.
    #[arg(long, global = true)]
    pub pid: Option<u32>,
    /// Skip the baseline comparisons.
    #[arg(long, global = true)]
    pub no_baseline: bool,

    /// Ingest, fanout, crash: run on a cluster (a throwaway PostgreSQL and
    /// nats-server, `--nodes` nodes) next to one node on sled and one on PostgreSQL,
    /// in the same run. On one machine this shows the cluster's overhead, not scaling.
    #[arg(long, global = true)]
    pub cluster: bool,
    /// Cluster: nodes.
    #[arg(long, global = true, default_value_t = 3)]
    pub nodes: usize,
    /// Crash --cluster: a write lease's life without renewal, in ms (how long the
    /// killed node's workspace waits before another node takes it over).
    #[arg(long, global = true, default_value_t = 1500)]
    pub lease_ttl_ms: u64,
    /// Services: connections committing small transactions at once (also runs 1).
    #[arg(long, global = true, default_value_t = 16)]
    pub pg_clients: usize,
    /// Services: event-sized messages to publish on NATS.
    #[arg(long, global = true, default_value_t = 200_000)]
    pub nats_messages: u64,
    /// Services: subscribers each message is delivered to (the other nodes).
    #[arg(long, global = true, default_value_t = 2)]
    pub nats_subscribers: usize,

    /// Ingest: sender connections for the throughput run.
    #[arg(long, global = true, default_value_t = 32)]
    pub senders: usize,
    /// Ingest: sends each sender keeps awaiting their ack.
    #[arg(long, global = true, default_value_t = 64)]
    pub window: usize,
    /// Ingest: seconds of the throughput run.
    #[arg(long, global = true, default_value_t = 10.0)]
    pub duration: f64,
    /// Ingest: offered rate (messages/s) of the latency run.
    #[arg(long, global = true, default_value_t = 2000.0)]
    pub rate: f64,
    /// Ingest: sender connections sharing the offered rate.
    #[arg(long, global = true, default_value_t = 8)]
    pub rate_senders: usize,
    /// Ingest: seconds of the latency run.
    #[arg(long, global = true, default_value_t = 10.0)]
    pub rate_duration: f64,

    /// Fan-out: connected clients in the large case.
    #[arg(long, global = true, default_value_t = 1000)]
    pub clients: usize,
    /// Fan-out: members of the channel in the large case (sender included).
    #[arg(long, global = true, default_value_t = 200)]
    pub members: usize,
    /// Fan-out: messages/s into the channel in the large case.
    #[arg(long, global = true, default_value_t = 100.0)]
    pub fan_rate: f64,
    /// Fan-out: seconds of the sustained large case.
    #[arg(long, global = true, default_value_t = 10.0)]
    pub fan_duration: f64,
    /// Live delivery: messages/s from the one sender to its 4 receivers.
    #[arg(long, global = true, default_value_t = 1000.0)]
    pub live_rate: f64,
    /// Live delivery: seconds.
    #[arg(long, global = true, default_value_t = 5.0)]
    pub live_duration: f64,

    /// Idle: connections to open.
    #[arg(long, global = true, default_value_t = 2000)]
    pub connections: usize,
    /// Idle: people per workspace (each connection's user is online in one workspace
    /// of this size).
    #[arg(long, global = true, default_value_t = 100)]
    pub workspace_size: usize,

    /// Start-up: messages to store before restarting.
    #[arg(long, global = true, default_value_t = 100_000)]
    pub messages: u64,
    /// Start-up: how many timed starts.
    #[arg(long, global = true, default_value_t = 3)]
    pub starts: usize,

    /// Crash: kill/restart/verify runs.
    #[arg(long, global = true, default_value_t = 20)]
    pub runs: usize,
    /// Crash: sender connections (each posting into its own channel).
    #[arg(long, global = true, default_value_t = 4)]
    pub crash_senders: usize,

    /// Hostile: seconds of each measured phase (without, then with attackers).
    #[arg(long, global = true, default_value_t = 20.0)]
    pub hostile_duration: f64,
    /// Hostile: seconds the attacks run before the measured load starts.
    #[arg(long, global = true, default_value_t = 3.0)]
    pub attack_warmup: f64,
    /// Hostile: attacker accounts (members of the busy workspace and channel).
    #[arg(long, global = true, default_value_t = 4)]
    pub attackers: usize,
    /// Hostile: client addresses the log-in and sign-up floods come from (named in
    /// X-Forwarded-For; the server trusts loopback as its proxy), at most 250.
    #[arg(long, global = true, default_value_t = 16)]
    pub attack_addresses: usize,
    /// Hostile: nice value of the attackers' own threads (0-19). The attackers stand
    /// for clients on other machines; at 19 their client-side work (building bodies,
    /// reading replies) takes the shared cores only when the server leaves them idle.
    /// 0 runs them at the server's priority.
    #[arg(long, global = true, default_value_t = 19)]
    pub attacker_nice: i32,
    /// Hostile: sockets flooding resume lists at once.
    #[arg(long, global = true, default_value_t = 8)]
    pub resume_sockets: usize,
    /// Hostile: subscribers of the busy channel that never read.
    #[arg(long, global = true, default_value_t = 16)]
    pub stalled_sockets: usize,
    /// Hostile: sockets sending frames answered by errors, never reading.
    #[arg(long, global = true, default_value_t = 4)]
    pub error_sockets: usize,
    /// Hostile: edits/s and reactions/s each attacker account attempts.
    #[arg(long, global = true, default_value_t = 50.0)]
    pub write_flood_rate: f64,
    /// Hostile: failed log-ins/s (half for the sender's email, half unknown emails).
    #[arg(long, global = true, default_value_t = 100.0)]
    pub login_flood_rate: f64,
    /// Hostile: sign-ups/s.
    #[arg(long, global = true, default_value_t = 10.0)]
    pub signup_flood_rate: f64,

    /// Files: 1 MiB files to upload in all (and to write for the disk's reference).
    #[arg(long, global = true, default_value_t = 1024)]
    pub upload_files: usize,
    /// Files: concurrent uploaders.
    #[arg(long, global = true, default_value_t = 8)]
    pub uploaders: usize,

    /// Sled ceiling: writer threads sharing each flush.
    #[arg(long, global = true, default_value_t = 64)]
    pub sled_writers: usize,
    /// Sled ceiling: writes to make durable.
    #[arg(long, global = true, default_value_t = 200_000)]
    pub sled_writes: u64,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("confab-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("confab-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Scenario::ServeBaseline { listen, nagle } = cli.scenario {
        return baseline::serve(listen, !nagle).await;
    }
    let report = Report::default();
    let o = &cli.options;
    let started = Instant::now();
    let ctx = scenario::Ctx::new(o.clone(), &report)?;
    match cli.scenario {
        Scenario::Ingest => scenario::ingest::run(&ctx).await?,
        Scenario::Fanout => scenario::fanout::run(&ctx).await?,
        Scenario::Idle => scenario::idle::run(&ctx).await?,
        Scenario::Startup => scenario::startup::run(&ctx).await?,
        Scenario::Baseline => scenario::baseline_only(&ctx).await?,
        Scenario::Crash => scenario::crash::run(&ctx).await?,
        Scenario::Hostile => scenario::hostile::run(&ctx).await?,
        Scenario::Files => scenario::files::run(&ctx).await?,
        Scenario::Services => scenario::services::run(&ctx).await?,
        Scenario::All => {
            scenario::ingest::run(&ctx).await?;
            scenario::fanout::run(&ctx).await?;
            scenario::idle::run(&ctx).await?;
            scenario::startup::run(&ctx).await?;
            scenario::crash::run(&ctx).await?;
            scenario::hostile::run(&ctx).await?;
            scenario::files::run(&ctx).await?;
            scenario::sled(&ctx).await?;
            scenario::store(&ctx).await?;
        }
        Scenario::Peer(args) => peer::run(&ctx, &args).await?,
        Scenario::ServeBaseline { .. } => unreachable!("handled above"),
    }
    println!("\n{}", report.table());
    println!("total bench time: {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
