//! `ingest`: durable message ingest over WebSockets. Two runs on the same server:
//!
//! 1. throughput: `--senders` connections, each posting into its own channel with
//!    `--window` sends awaiting their ack (closed loop) for `--duration` seconds; the
//!    figure is acknowledged (hence durable) messages per second;
//! 2. latency: `--rate-senders` connections sharing an offered rate of `--rate`
//!    messages/s (open loop) for `--rate-duration` seconds; the figure is the
//!    send→ack latency distribution.
//!
//! The same runs against the baseline server give the bare-transport ratio. With
//! `--cluster`, the same runs on one node (sled, then PostgreSQL) and on a cluster of
//! `--nodes` nodes, in one run, with their ratios ([`run_cluster`]).

use tokio::time::Instant;

use super::{Ctx, connect_each, secs};
use crate::cluster::LeaseTiming;
use crate::load::{Pace, PhaseTimes, SenderPlan, run_sender};
use crate::report::{Latency, thousands};
use crate::{setup, wire};

/// Message-id table size of the throughput run (caps its message count).
const MAX_THROUGHPUT_MESSAGES: usize = 4_000_000;

pub struct Figures {
    pub throughput: f64,
    /// CPU time of the servers (every node) per acknowledged message in the
    /// throughput run, in µs.
    pub cpu_us_per_message: f64,
    /// The same for PostgreSQL's processes, when there are.
    pub backend_cpu_us_per_message: f64,
    pub closed_latency: Latency,
    pub errors: u64,
    pub first_error: Option<String>,
    pub paced_rate: f64,
    pub paced_latency: Latency,
    /// Sender connections the server closed (or left unanswered) mid-run.
    pub lost_connections: usize,
}

pub async fn run(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    if ctx.o.cluster {
        return run_cluster(ctx).await;
    }
    println!(
        "\n== ingest: {} senders × window {}, then {} msg/s over {} senders",
        ctx.o.senders, ctx.o.window, ctx.o.rate, ctx.o.rate_senders
    );
    let server = ctx.confab().await?;
    let people = ctx.o.senders.max(ctx.o.rate_senders).max(1);
    let team = setup::team(&server.base, people).await?;
    let channels = setup::own_channels(&team, &team.people, "ingest").await?;
    let targets = team.people.iter().map(|p| (server.base.clone(), wire::auth_frame(&p.token))).collect();
    let channels = channels.iter().map(ToString::to_string).collect();
    let confab = measure(ctx, server.pid.as_slice(), targets, channels).await?;
    server.stop().await?;

    let r = ctx.report;
    r.target(
        "ingest",
        &format!("durable msgs/s ({} senders × window {})", ctx.o.senders, ctx.o.window),
        thousands(confab.throughput),
        "≥ 30,000",
        confab.throughput >= 30_000.0,
    );
    r.info("ingest", "send→ack under that load", confab.closed_latency.summary());
    if confab.lost_connections > 0 {
        r.info(
            "ingest",
            "sender connections closed or stalled by the server",
            format!("{} of {}", confab.lost_connections, ctx.o.senders + ctx.o.rate_senders),
        );
    }
    if confab.errors > 0 {
        r.info(
            "ingest",
            "error answers",
            format!("{} (first: {})", confab.errors, confab.first_error.unwrap_or_default()),
        );
    }
    r.info(
        "ingest",
        &format!("offered {} msg/s: achieved", ctx.o.rate),
        format!("{:.0} msg/s", confab.paced_rate),
    );
    let p99 = confab.paced_latency.quantile_ms(0.99);
    r.target(
        "ingest",
        &format!("send→ack at {} msg/s", ctx.o.rate),
        confab.paced_latency.summary(),
        "p99 ≤ 5 ms",
        p99 <= 5.0 && confab.paced_latency.count() > 0,
    );

    if !ctx.o.no_baseline {
        let base = run_baseline(ctx).await?;
        r.info(
            "ingest",
            "Confab / baseline throughput",
            format!("{:.2}×", confab.throughput / base.throughput.max(1.0)),
        );
        r.info(
            "ingest",
            &format!("Confab / baseline p99 at {} msg/s", ctx.o.rate),
            format!("{:.1}×", p99 / base.paced_latency.quantile_ms(0.99).max(0.001)),
        );
        // The store alone, writing what the posts wrote: how much of the gap to the
        // target is the storage engine's.
        let store = super::store(ctx).await?;
        r.info(
            "ingest",
            "Confab / store alone throughput",
            format!("{:.2}×", confab.throughput / store.max(1.0)),
        );
    }
    Ok(())
}

/// The same two runs against the bare baseline server.
pub async fn run_baseline(ctx: &Ctx<'_>) -> anyhow::Result<Figures> {
    let server = ctx.baseline().await?;
    let people = ctx.o.senders.max(ctx.o.rate_senders).max(1);
    let targets = (0..people).map(|_| (server.base.clone(), wire::baseline_auth_frame(false))).collect();
    let channels = (0..people).map(|i| format!("c{i}")).collect();
    let f = measure(ctx, server.pid.as_slice(), targets, channels).await?;
    server.stop().await?;
    let r = ctx.report;
    r.info(
        "baseline",
        &format!("echo msgs/s ({} senders × window {})", ctx.o.senders, ctx.o.window),
        thousands(f.throughput),
    );
    r.info("baseline", &format!("send→echo at {} msg/s", ctx.o.rate), f.paced_latency.summary());
    Ok(f)
}

/// Runs the throughput and then the latency run with the given connections (the
/// server each connects to, and its auth frame), sender `i` posting into
/// `channels[i]`; `pids` are the servers' processes, whose CPU is counted.
async fn measure(
    ctx: &Ctx<'_>,
    pids: &[u32],
    targets: Vec<(String, String)>,
    channels: Vec<String>,
) -> anyhow::Result<Figures> {
    measure_with(ctx, pids, &[], targets, channels).await
}

/// [`measure`], also counting the CPU of `backend_pids` (PostgreSQL's processes).
async fn measure_with(
    ctx: &Ctx<'_>,
    pids: &[u32],
    backend_pids: &[u32],
    targets: Vec<(String, String)>,
    channels: Vec<String>,
) -> anyhow::Result<Figures> {
    let senders = ctx.o.senders.max(1);
    let sockets = connect_each(targets.iter().take(senders).cloned().collect()).await?;
    let cpu_before = crate::cluster::cpu_ticks_of(pids);
    let backend_cpu_before = crate::cluster::cpu_ticks_of(backend_pids);

    // 1. Closed-loop throughput.
    let times = PhaseTimes::new(0, MAX_THROUGHPUT_MESSAGES);
    let start = Instant::now();
    let deadline = start + secs(ctx.o.duration);
    let tasks: Vec<_> = sockets
        .into_iter()
        .zip(channels.iter())
        .map(|(socket, channel)| {
            let plan = SenderPlan {
                channel: channel.clone(),
                pace: Pace::Window(ctx.o.window),
                max_messages: (MAX_THROUGHPUT_MESSAGES / senders) as u64,
                deadline,
                drain: secs(30.0),
                times: times.clone(),
                record_latency: true,
                keep_acks: false,
            };
            tokio::spawn(run_sender(socket, plan))
        })
        .collect();
    let mut acked = 0;
    let mut errors = 0;
    let mut first_error = None;
    let mut last_ack = start;
    let mut closed_latency = Latency::default();
    let mut reusable = Vec::new();
    let mut lost_connections = 0;
    for t in tasks {
        let (result, socket) = t.await?;
        lost_connections += usize::from(result.broken || result.stalled);
        acked += result.acked;
        errors += result.errors;
        if first_error.is_none() {
            first_error = result.first_error;
        }
        last_ack = last_ack.max(result.last_ack.unwrap_or(start));
        closed_latency.merge(&result.latency);
        reusable.extend(socket);
    }
    let throughput = acked as f64 / last_ack.duration_since(start).as_secs_f64().max(1e-3);
    // 100 clock ticks a second.
    let per_message = |ticks: u64| ticks as f64 * 10_000.0 / acked.max(1) as f64;
    let cpu_us_per_message = per_message(crate::cluster::cpu_ticks_of(pids).saturating_sub(cpu_before));
    let backend_cpu_us_per_message =
        per_message(crate::cluster::cpu_ticks_of(backend_pids).saturating_sub(backend_cpu_before));
    println!(
        "  throughput run: {acked} acked, {errors} errors, {throughput:.0} msg/s, {cpu_us_per_message:.0} µs \
         of server CPU per message"
    );

    // 2. Open-loop latency at a fixed offered rate, once the server has digested the
    // burst (indexing it, merging index segments): the target is the steady state.
    for &pid in pids {
        let waited = crate::server::wait_until_quiet(pid, secs(60.0)).await;
        println!("  server {pid} quiet again after {:.1} s", waited.as_secs_f64());
    }
    let n = ctx.o.rate_senders.max(1);
    let mut sockets: Vec<_> = reusable.into_iter().take(n).collect();
    if sockets.len() < n {
        let more = targets.iter().skip(sockets.len()).take(n - sockets.len()).cloned().collect();
        sockets.extend(connect_each(more).await?);
    }
    let total = (ctx.o.rate * ctx.o.rate_duration).ceil() as u64;
    let times = PhaseTimes::new(1, total as usize + n);
    let interval = secs(n as f64 / ctx.o.rate.max(1.0));
    let start = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .zip(channels.iter())
        .map(|(socket, channel)| {
            let plan = SenderPlan {
                channel: channel.clone(),
                pace: Pace::Every(interval),
                max_messages: total.div_ceil(n as u64),
                deadline: start + secs(ctx.o.rate_duration * 1.5 + 1.0),
                drain: secs(30.0),
                times: times.clone(),
                record_latency: true,
                keep_acks: false,
            };
            tokio::spawn(run_sender(socket, plan))
        })
        .collect();
    let mut paced_latency = Latency::default();
    let mut paced_acked = 0;
    let mut last = start;
    for t in tasks {
        let (result, _) = t.await?;
        lost_connections += usize::from(result.broken || result.stalled);
        paced_acked += result.acked;
        errors += result.errors;
        last = last.max(result.last_ack.unwrap_or(start));
        paced_latency.merge(&result.latency);
    }
    let paced_rate = paced_acked as f64 / last.duration_since(start).as_secs_f64().max(1e-3);
    println!("  latency run: {paced_acked} acked at {paced_rate:.0} msg/s: {}", paced_latency.summary());
    Ok(Figures {
        throughput,
        cpu_us_per_message,
        backend_cpu_us_per_message,
        closed_latency,
        errors,
        first_error,
        paced_rate,
        paced_latency,
        lost_connections,
    })
}

/// Where a sender of a cluster run connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// To the node that sequences its workspace (a load balancer with workspace
    /// affinity).
    Holder,
    /// To the next node, which forwards every send to the holder over NATS.
    Forwarded,
}

/// Sets up `workspaces` teams, team `i` created through node `i % nodes` (which
/// thereby holds its write lease), with the senders dealt round-robin over the teams,
/// each into a channel of their own; returns each sender's target (node, auth frame)
/// and channel, in the order the runs take them.
async fn spread_senders(
    ctx: &Ctx<'_>,
    bases: &[String],
    workspaces: usize,
    route: Route,
) -> anyhow::Result<(Vec<(String, String)>, Vec<String>)> {
    let people = ctx.o.senders.max(ctx.o.rate_senders).max(1);
    let workspaces = workspaces.clamp(1, people);
    let mut teams = Vec::new();
    for i in 0..workspaces {
        let size = (people + workspaces - 1 - i) / workspaces;
        let team = setup::team(&bases[i % bases.len()], size).await?;
        let channels = setup::own_channels(&team, &team.people, "ingest").await?;
        teams.push((team, channels));
    }
    let mut targets = Vec::new();
    let mut channels = Vec::new();
    for j in 0..people {
        let (i, k) = (j % workspaces, j / workspaces);
        let holder = i % bases.len();
        let node = match route {
            Route::Holder => holder,
            Route::Forwarded => (holder + 1) % bases.len(),
        };
        let (team, team_channels) = &teams[i];
        targets.push((bases[node].clone(), wire::auth_frame(&team.people[k].token)));
        channels.push(team_channels[k].to_string());
    }
    Ok((targets, channels))
}

/// `ingest --cluster`: the same two runs on one node on sled, one node on
/// PostgreSQL, and a cluster of `--nodes` nodes (senders on their workspace's node,
/// then every send forwarded), one after the other in this run; `--nodes`
/// workspaces in each, so that each node of the cluster sequences one.
async fn run_cluster(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let n = ctx.o.nodes.max(1);
    println!(
        "\n== ingest --cluster: {} senders × window {} over {n} workspaces, then {} msg/s over {} senders; \
         one node on sled, one on PostgreSQL, {n} nodes on PostgreSQL and NATS",
        ctx.o.senders, ctx.o.window, ctx.o.rate, ctx.o.rate_senders
    );
    let services = ctx.services()?;
    let mut results: Vec<(String, Figures)> = Vec::new();

    let one = ctx.fresh_confab(&[]).await?;
    let (targets, channels) = spread_senders(ctx, std::slice::from_ref(&one.base), n, Route::Holder).await?;
    results.push(("one node, sled".into(), measure(ctx, one.pid.as_slice(), targets, channels).await?));
    one.stop().await?;

    let one = ctx.fresh_confab(&crate::cluster::single_node_env(&services.database())).await?;
    let (targets, channels) = spread_senders(ctx, std::slice::from_ref(&one.base), n, Route::Holder).await?;
    let pg = services.postgres_pids();
    results.push((
        "one node, PostgreSQL".into(),
        measure_with(ctx, one.pid.as_slice(), &pg, targets, channels).await?,
    ));
    one.stop().await?;

    let cluster = crate::cluster::Cluster::start(ctx.bin()?, services, n, LeaseTiming::DEFAULT, &[]).await?;
    for (route, label) in [
        (Route::Holder, format!("{n} nodes, senders on their workspace's node")),
        (Route::Forwarded, format!("{n} nodes, every send forwarded")),
    ] {
        let (targets, channels) = spread_senders(ctx, &cluster.bases(), n, route).await?;
        let pg = services.postgres_pids();
        results.push((label, measure_with(ctx, &cluster.pids(), &pg, targets, channels).await?));
    }
    cluster.stop().await?;

    let r = ctx.report;
    r.info(
        "ingest",
        "cluster runs: all processes on this machine's cores",
        "the cluster's overhead, not its scaling (docs/scaling.md)",
    );
    for (label, f) in &results {
        r.info(
            "ingest",
            &format!("{label}: durable msgs/s ({} senders × window {})", ctx.o.senders, ctx.o.window),
            format!(
                "{} ({:.0} µs of Confab CPU per message{})",
                thousands(f.throughput),
                f.cpu_us_per_message,
                if f.backend_cpu_us_per_message > 0.0 {
                    format!(", {:.0} µs of PostgreSQL", f.backend_cpu_us_per_message)
                } else {
                    String::new()
                }
            ),
        );
        r.info("ingest", &format!("{label}: send→ack at {} msg/s", ctx.o.rate), f.paced_latency.summary());
        if f.errors > 0 || f.lost_connections > 0 {
            r.info(
                "ingest",
                &format!("{label}: errors, connections lost"),
                format!(
                    "{}, {} (first: {})",
                    f.errors,
                    f.lost_connections,
                    f.first_error.clone().unwrap_or_default()
                ),
            );
        }
    }
    let (sled, pg) = (&results[0].1, &results[1].1);
    for (label, f) in &results[2..] {
        r.info(
            "ingest",
            &format!("{label} / one node: throughput (sled, PostgreSQL)"),
            format!(
                "{:.2}×, {:.2}×",
                f.throughput / sled.throughput.max(1.0),
                f.throughput / pg.throughput.max(1.0)
            ),
        );
        let p50 = f.paced_latency.quantile_ms(0.5);
        let p99 = f.paced_latency.quantile_ms(0.99);
        r.info(
            "ingest",
            &format!("{label} / one node on PostgreSQL: send→ack p50, p99 at {} msg/s", ctx.o.rate),
            format!(
                "{:.2}×, {:.2}×",
                p50 / pg.paced_latency.quantile_ms(0.5).max(0.001),
                p99 / pg.paced_latency.quantile_ms(0.99).max(0.001)
            ),
        );
    }
    Ok(())
}
