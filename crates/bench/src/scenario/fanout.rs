//! `fanout`: send→delivery latency from one sender to many receivers.
//!
//! - live delivery: 1 sender, 4 receivers in one channel, `--live-rate` messages/s;
//! - large fan-out: `--clients` connected clients of one workspace, `--members` of
//!   them in one channel; first messages one at a time (each must reach everyone),
//!   then `--fan-rate` messages/s for `--fan-duration` seconds.
//!
//! Each case runs against Confab and then, with the same clients, against the bare
//! baseline broadcast server, so the report can give Confab as a ratio of it. With
//! `--cluster`, both cases run on one node (sled, then PostgreSQL) and on a cluster
//! of `--nodes` nodes, the sender on the first node and the receivers spread over
//! all of them, in one run, with their ratios ([`run_cluster`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Ctx, secs};
use crate::load::{Pace, PhaseTimes, SenderPlan, Tally, run_receiver, run_sender};
use crate::report::{Latency, thousands};
use crate::{setup, wire};

/// One stretch of sending at one pace.
pub(super) struct Phase {
    pub interval: Duration,
    pub count: u64,
}

/// What the receivers saw in one phase.
pub(super) struct PhaseFigures {
    pub latency: Latency,
    pub deliveries: u64,
    pub expected: u64,
    pub per_second: f64,
    /// Messages sent and acknowledged.
    pub sent: u64,
    pub acked: u64,
    /// How the sender's connection ended, if the server ended it.
    pub sender_lost: Option<String>,
}

pub(super) struct Figures {
    pub phases: Vec<PhaseFigures>,
    pub connect_time: Duration,
    pub other_frames: u64,
    pub closed: usize,
    /// Close codes the server sent the receivers it closed (`None`: no close frame).
    pub close_codes: Vec<Option<u16>>,
}

pub async fn run(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    if ctx.o.cluster {
        return run_cluster(ctx).await;
    }
    live(ctx, false).await?;
    large(ctx, false).await
}

/// Only the baseline halves of both cases.
pub async fn run_baseline_only(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    live(ctx, true).await?;
    large(ctx, true).await
}

fn live_phases(ctx: &Ctx<'_>) -> Vec<Phase> {
    vec![Phase {
        interval: secs(1.0 / ctx.o.live_rate.max(1.0)),
        count: (ctx.o.live_rate * ctx.o.live_duration).ceil() as u64,
    }]
}

fn large_phases(ctx: &Ctx<'_>) -> Vec<Phase> {
    vec![
        Phase { interval: Duration::from_millis(200), count: 20 },
        Phase {
            interval: secs(1.0 / ctx.o.fan_rate.max(1.0)),
            count: (ctx.o.fan_rate * ctx.o.fan_duration).ceil() as u64,
        },
    ]
}

async fn live(ctx: &Ctx<'_>, baseline_only: bool) -> anyhow::Result<()> {
    let label = format!("1 sender → 4 receivers at {} msg/s", ctx.o.live_rate);
    println!("\n== fanout (live delivery): {label}");
    let r = ctx.report;
    let mut confab_p99 = None;
    if !baseline_only {
        let server = ctx.confab().await?;
        let team = setup::team(&server.base, 5).await?;
        let channel = setup::channel_with(&team, "live", &team.people).await?;
        let auths = team.people.iter().map(|p| wire::auth_frame(&p.token)).collect::<Vec<_>>();
        let f = measure(
            &server.base,
            auths[1..].to_vec(),
            4,
            auths[0].clone(),
            channel.to_string(),
            live_phases(ctx),
        )
        .await?;
        server.stop().await?;
        let p = &f.phases[0];
        let p99 = p.latency.quantile_ms(0.99);
        r.target(
            "fanout",
            &format!("live: {label}, send→delivery"),
            p.latency.summary(),
            "p99 ≤ 2 ms",
            p99 <= 2.0 && p.deliveries == p.expected,
        );
        r.info(
            "fanout",
            "live: deliveries",
            format!("{} of {} ({} /s)", p.deliveries, p.expected, thousands(p.per_second)),
        );
        confab_p99 = Some(p99);
    }
    if !ctx.o.no_baseline || baseline_only {
        let server = ctx.baseline().await?;
        let auths = (0..5).map(|_| wire::baseline_auth_frame(true)).collect::<Vec<_>>();
        let f = measure(&server.base, auths[1..].to_vec(), 4, auths[0].clone(), "c".into(), live_phases(ctx))
            .await?;
        server.stop().await?;
        let p = &f.phases[0];
        r.info("baseline", &format!("live: {label}, send→delivery"), p.latency.summary());
        if let Some(c) = confab_p99 {
            r.info(
                "fanout",
                "live: Confab / baseline p99",
                format!("{:.1}×", c / p.latency.quantile_ms(0.99).max(0.001)),
            );
        }
    }
    Ok(())
}

async fn large(ctx: &Ctx<'_>, baseline_only: bool) -> anyhow::Result<()> {
    let (clients, members) = (ctx.o.clients.max(2), ctx.o.members.clamp(2, ctx.o.clients.max(2)));
    let label = format!("{clients} clients, {members}-member channel");
    println!("\n== fanout (large): {label}, {} msg/s", ctx.o.fan_rate);
    let r = ctx.report;
    let mut confab_p99 = None;
    if !baseline_only {
        let server = ctx.confab().await?;
        let setup_started = Instant::now();
        let team = setup::team(&server.base, clients).await?;
        let channel = setup::channel_with(&team, "fan", &team.people[..members]).await?;
        println!("  set-up (sign-ups, invites, joins): {:.1} s", setup_started.elapsed().as_secs_f64());
        let auths = team.people.iter().map(|p| wire::auth_frame(&p.token)).collect::<Vec<_>>();
        let rss_before = server.rss_kib();
        let f = measure(
            &server.base,
            auths[1..].to_vec(),
            members - 1,
            auths[0].clone(),
            channel.to_string(),
            large_phases(ctx),
        )
        .await?;
        let rss_after = server.rss_kib();
        server.stop().await?;
        let one = &f.phases[0];
        r.target(
            "fanout",
            &format!("{label}: one message at a time, send→delivery"),
            one.latency.summary(),
            "p99 ≤ 100 ms",
            one.latency.quantile_ms(0.99) <= 100.0 && one.deliveries == one.expected,
        );
        let sustained = &f.phases[1];
        r.info(
            "fanout",
            &format!("{label}: {} msg/s, send→delivery", ctx.o.fan_rate),
            sustained.latency.summary(),
        );
        r.info(
            "fanout",
            &format!("{label}: deliveries"),
            format!(
                "{} of {} ({} /s)",
                sustained.deliveries,
                sustained.expected,
                thousands(sustained.per_second)
            ),
        );
        r.info(
            "fanout",
            &format!("{label}: connecting all clients"),
            format!(
                "{:.1} s; {} other frames (presence) received; {} connections closed by the server",
                f.connect_time.as_secs_f64(),
                thousands(f.other_frames as f64),
                f.closed
            ),
        );
        if let (Some(a), Some(b)) = (rss_before, rss_after) {
            r.info(
                "fanout",
                &format!("{label}: server RSS before / after connecting"),
                format!("{} / {} MiB", a / 1024, b / 1024),
            );
        }
        confab_p99 = Some(sustained.latency.quantile_ms(0.99));
    }
    if !ctx.o.no_baseline || baseline_only {
        let server = ctx.baseline().await?;
        let auths = (1..clients).map(|i| wire::baseline_auth_frame(i < members)).collect::<Vec<_>>();
        let f = measure(
            &server.base,
            auths,
            members - 1,
            wire::baseline_auth_frame(true),
            "c".into(),
            large_phases(ctx),
        )
        .await?;
        server.stop().await?;
        let sustained = &f.phases[1];
        let base_p99 = sustained.latency.quantile_ms(0.99);
        r.info("baseline", &format!("{label}: one message at a time"), f.phases[0].latency.summary());
        r.info(
            "baseline",
            &format!("{label}: {} msg/s, send→delivery", ctx.o.fan_rate),
            sustained.latency.summary(),
        );
        if let Some(c) = confab_p99 {
            let ratio = c / base_p99.max(0.001);
            r.target(
                "fanout",
                &format!("{label}: Confab / baseline p99 at {} msg/s", ctx.o.fan_rate),
                format!("{ratio:.2}×"),
                "≤ 2×",
                ratio <= 2.0,
            );
        }
    }
    Ok(())
}

/// Connects the receivers (each read from the moment it is connected), then one
/// sender, runs the phases one after the other and gathers what the receivers saw.
/// The first `in_channel` receivers are the ones messages should reach.
pub(super) async fn measure(
    base: &str,
    receiver_auths: Vec<String>,
    in_channel: usize,
    sender_auth: String,
    channel: String,
    phases: Vec<Phase>,
) -> anyhow::Result<Figures> {
    measure_on(&[base.to_string()], receiver_auths, in_channel, sender_auth, channel, phases).await
}

/// [`measure`] over several nodes: the sender on `bases[0]`, receiver `i` on
/// `bases[(i + 1) % len]` (so that with several nodes most receivers are on another
/// node than the sender).
async fn measure_on(
    bases: &[String],
    receiver_auths: Vec<String>,
    in_channel: usize,
    sender_auth: String,
    channel: String,
    phases: Vec<Phase>,
) -> anyhow::Result<Figures> {
    let base = bases.first().context("no server to measure")?.as_str();
    let times: Arc<Vec<Arc<PhaseTimes>>> = Arc::new(
        phases.iter().enumerate().map(|(i, p)| PhaseTimes::new(i as u64, p.count as usize + 1)).collect(),
    );
    let tally = Arc::new(Tally::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let total_time: f64 = phases.iter().map(|p| p.interval.as_secs_f64() * p.count as f64).sum();
    let deadline = Instant::now() + secs(total_time + 600.0);

    let connect_started = Instant::now();
    let receivers: Vec<_> = stream::iter(receiver_auths.into_iter().enumerate())
        .map(|(i, auth)| {
            let (times, tally, stop_rx) = (times.clone(), tally.clone(), stop_rx.clone());
            let node = &bases[(i + 1) % bases.len()];
            async move {
                let socket = wire::connect(node, auth).await?;
                Ok::<_, anyhow::Error>(tokio::spawn(run_receiver(socket, times, tally, stop_rx, deadline)))
            }
        })
        .buffered(32)
        .try_collect()
        .await?;
    let mut socket = Some(wire::connect(base, sender_auth).await?);
    let connect_time = connect_started.elapsed();
    println!("  {} receivers connected in {:.1} s", receivers.len(), connect_time.as_secs_f64());

    let phase_count = phases.len();
    let mut progress = Vec::new();
    for (i, phase) in phases.iter().enumerate() {
        let expected = phase.count * in_channel as u64;
        tally.reset(expected);
        let start = Instant::now();
        let plan = SenderPlan {
            channel: channel.clone(),
            pace: Pace::Every(phase.interval),
            max_messages: phase.count,
            deadline: start + phase.interval.mul_f64(phase.count as f64 * 1.5) + Duration::from_secs(2),
            drain: Duration::from_secs(30),
            times: times[i].clone(),
            record_latency: false,
            keep_acks: false,
        };
        // A sender the server closed ends the run: the phase reports what it saw.
        let Some(sender) = socket.take() else { break };
        let (sent, back) = run_sender(sender, plan).await;
        socket = back;
        let sender_lost = match (&socket, sent.close_code) {
            (Some(_), _) => None,
            (None, Some(code)) => Some(format!("closed with code {code}")),
            (None, None) if sent.stalled => Some("no answer for 10 s".into()),
            (None, None) => Some("dropped without a close frame".into()),
        };
        // With the sender gone, the receivers get 10 s for what it did send; `expected`
        // stays what the phase planned, so the phase counts as incomplete.
        let deliveries = tally.wait(Duration::from_secs(if socket.is_some() { 60 } else { 10 })).await;
        let elapsed = start.elapsed();
        println!(
            "  phase {i}: {} sent, {} acked, {deliveries}/{expected} deliveries in {:.1} s",
            sent.sent,
            sent.acked,
            elapsed.as_secs_f64()
        );
        progress.push((
            deliveries,
            expected,
            deliveries as f64 / elapsed.as_secs_f64().max(1e-3),
            (sent.sent, sent.acked, sender_lost),
        ));
    }
    let _ = stop_tx.send(true);
    let mut latency = vec![Latency::default(); phases.len()];
    let mut frames = 0;
    let mut closed = 0;
    let mut close_codes = Vec::new();
    for handle in receivers {
        let r = handle.await?;
        for (total, part) in latency.iter_mut().zip(&r.latency) {
            total.merge(part);
        }
        frames += r.frames;
        closed += usize::from(r.closed.is_some());
        close_codes.extend(r.closed);
    }
    let delivered: u64 = progress.iter().map(|p| p.0).sum();
    let phases = latency
        .into_iter()
        .zip(progress)
        .map(|(latency, (deliveries, expected, per_second, (sent, acked, sender_lost)))| PhaseFigures {
            latency,
            deliveries,
            expected,
            per_second,
            sent,
            acked,
            sender_lost,
        })
        .collect();
    let figures =
        Figures { phases, connect_time, other_frames: frames.saturating_sub(delivered), closed, close_codes };
    if figures.phases.len() < phase_count {
        bail!("the sender's connection broke");
    }
    Ok(figures)
}

/// What `fanout --cluster` runs on.
enum Deployment {
    One(Box<super::Running>),
    Cluster(crate::cluster::Cluster),
}

impl Deployment {
    fn bases(&self) -> Vec<String> {
        match self {
            Deployment::One(server) => vec![server.base.clone()],
            Deployment::Cluster(cluster) => cluster.bases(),
        }
    }

    async fn stop(self) -> anyhow::Result<()> {
        match self {
            Deployment::One(server) => server.stop().await,
            Deployment::Cluster(cluster) => cluster.stop().await,
        }
    }
}

/// `fanout --cluster`: the live and the large case on one node on sled, one node on
/// PostgreSQL and a cluster of `--nodes` nodes, in this order, in one run. Each
/// workspace is created through the first node, which sequences it: the sender
/// posts there, and the cluster's other nodes hear each message over NATS.
async fn run_cluster(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let n = ctx.o.nodes.max(1);
    let (clients, members) = (ctx.o.clients.max(2), ctx.o.members.clamp(2, ctx.o.clients.max(2)));
    let live_label = format!("1 sender → 4 receivers at {} msg/s", ctx.o.live_rate);
    let large_label = format!("{clients} clients, {members}-member channel, {} msg/s", ctx.o.fan_rate);
    println!(
        "\n== fanout --cluster: {live_label}; {large_label}; one node on sled, one on PostgreSQL, {n} nodes \
         (receivers spread over the nodes)"
    );
    let services = ctx.services()?;
    let mut results = Vec::new();
    for label in ["one node, sled".to_string(), "one node, PostgreSQL".into(), format!("{n} nodes")] {
        println!("  -- {label}");
        let deployment = match results.len() {
            0 => Deployment::One(Box::new(ctx.fresh_confab(&[]).await?)),
            1 => Deployment::One(Box::new(
                ctx.fresh_confab(&crate::cluster::single_node_env(&services.database())).await?,
            )),
            _ => Deployment::Cluster(
                crate::cluster::Cluster::start(
                    ctx.bin()?,
                    services,
                    n,
                    crate::cluster::LeaseTiming::DEFAULT,
                    &[],
                )
                .await?,
            ),
        };
        let bases = deployment.bases();
        let team = setup::team(&bases[0], 5).await?;
        let channel = setup::channel_with(&team, "live", &team.people).await?;
        let auths = team.people.iter().map(|p| wire::auth_frame(&p.token)).collect::<Vec<_>>();
        let live = measure_on(
            &bases,
            auths[1..].to_vec(),
            4,
            auths[0].clone(),
            channel.to_string(),
            live_phases(ctx),
        )
        .await?;
        let team = setup::team(&bases[0], clients).await?;
        let channel = setup::channel_with(&team, "fan", &team.people[..members]).await?;
        let auths = team.people.iter().map(|p| wire::auth_frame(&p.token)).collect::<Vec<_>>();
        let large = measure_on(
            &bases,
            auths[1..].to_vec(),
            members - 1,
            auths[0].clone(),
            channel.to_string(),
            large_phases(ctx),
        )
        .await?;
        deployment.stop().await?;
        results.push((label, live, large));
    }

    let r = ctx.report;
    r.info(
        "fanout",
        "cluster runs: all processes on this machine's cores",
        "the cluster's overhead, not its scaling (docs/scaling.md)",
    );
    let delivered = |p: &PhaseFigures| format!("{} of {}", p.deliveries, p.expected);
    for (label, live, large) in &results {
        let (l, g) = (&live.phases[0], &large.phases[1]);
        r.info(
            "fanout",
            &format!("{label}: live, {live_label}"),
            format!("{}, {}", l.latency.summary(), delivered(l)),
        );
        r.info(
            "fanout",
            &format!("{label}: {large_label}"),
            format!("{}, {}", g.latency.summary(), delivered(g)),
        );
    }
    let (sled, pg) = (&results[0], &results[1]);
    for (label, live, large) in &results[2..] {
        let ratio = |a: &PhaseFigures, b: &PhaseFigures, q: f64| {
            a.latency.quantile_ms(q) / b.latency.quantile_ms(q).max(0.001)
        };
        r.info(
            "fanout",
            &format!("{label} / one node (sled, PostgreSQL): live p50, p99"),
            format!(
                "{:.2}×, {:.2}× (sled); {:.2}×, {:.2}× (PostgreSQL)",
                ratio(&live.phases[0], &sled.1.phases[0], 0.5),
                ratio(&live.phases[0], &sled.1.phases[0], 0.99),
                ratio(&live.phases[0], &pg.1.phases[0], 0.5),
                ratio(&live.phases[0], &pg.1.phases[0], 0.99)
            ),
        );
        r.info(
            "fanout",
            &format!("{label} / one node (sled, PostgreSQL): large p50, p99"),
            format!(
                "{:.2}×, {:.2}× (sled); {:.2}×, {:.2}× (PostgreSQL)",
                ratio(&large.phases[1], &sled.2.phases[1], 0.5),
                ratio(&large.phases[1], &sled.2.phases[1], 0.99),
                ratio(&large.phases[1], &pg.2.phases[1], 0.5),
                ratio(&large.phases[1], &pg.2.phases[1], 0.99)
            ),
        );
    }
    Ok(())
}
