//! `ingest`: durable message ingest over WebSockets. Two runs on the same server:
//!
//! 1. throughput: `--senders` connections, each posting into its own channel with
//!    `--window` sends awaiting their ack (closed loop) for `--duration` seconds; the
//!    figure is acknowledged (hence durable) messages per second;
//! 2. latency: `--rate-senders` connections sharing an offered rate of `--rate`
//!    messages/s (open loop) for `--rate-duration` seconds; the figure is the
//!    send→ack latency distribution.
//!
//! The same runs against the baseline server give the bare-transport ratio.

use tokio::time::Instant;

use super::{Ctx, connect_all, secs};
use crate::load::{Pace, PhaseTimes, SenderPlan, run_sender};
use crate::report::{Latency, thousands};
use crate::{setup, wire};

/// Message-id table size of the throughput run (caps its message count).
const MAX_THROUGHPUT_MESSAGES: usize = 4_000_000;

pub struct Figures {
    pub throughput: f64,
    pub closed_latency: Latency,
    pub errors: u64,
    pub first_error: Option<String>,
    pub paced_rate: f64,
    pub paced_latency: Latency,
    /// Sender connections the server closed (or left unanswered) mid-run.
    pub lost_connections: usize,
}

pub async fn run(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    println!(
        "\n== ingest: {} senders × window {}, then {} msg/s over {} senders",
        ctx.o.senders, ctx.o.window, ctx.o.rate, ctx.o.rate_senders
    );
    let server = ctx.confab().await?;
    let people = ctx.o.senders.max(ctx.o.rate_senders).max(1);
    let team = setup::team(&server.base, people).await?;
    let channels = setup::own_channels(&team, &team.people, "ingest").await?;
    let auths = team.people.iter().map(|p| wire::auth_frame(&p.token)).collect();
    let channels = channels.iter().map(ToString::to_string).collect();
    let confab = measure(ctx, &server.base, server.pid, auths, channels).await?;
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
    let auths = (0..people).map(|_| wire::baseline_auth_frame(false)).collect();
    let channels = (0..people).map(|i| format!("c{i}")).collect();
    let f = measure(ctx, &server.base, server.pid, auths, channels).await?;
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

/// Runs the throughput and then the latency run with the given connections.
async fn measure(
    ctx: &Ctx<'_>,
    base: &str,
    pid: Option<u32>,
    auths: Vec<String>,
    channels: Vec<String>,
) -> anyhow::Result<Figures> {
    let senders = ctx.o.senders.max(1);
    let sockets = connect_all(base, auths.iter().take(senders).cloned().collect()).await?;

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
    println!("  throughput run: {acked} acked, {errors} errors, {:.0} msg/s", throughput);

    // 2. Open-loop latency at a fixed offered rate, once the server has digested the
    // burst (indexing it, merging index segments): the target is the steady state.
    if let Some(pid) = pid {
        let waited = crate::server::wait_until_quiet(pid, secs(60.0)).await;
        println!("  server quiet again after {:.1} s", waited.as_secs_f64());
    }
    let n = ctx.o.rate_senders.max(1);
    let mut sockets: Vec<_> = reusable.into_iter().take(n).collect();
    if sockets.len() < n {
        let more = auths.iter().skip(sockets.len()).take(n - sockets.len()).cloned().collect();
        sockets.extend(connect_all(base, more).await?);
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
        closed_latency,
        errors,
        first_error,
        paced_rate,
        paced_latency,
        lost_connections,
    })
}
