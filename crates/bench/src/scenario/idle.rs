//! `idle`: the server's resident memory with `--connections` idle authenticated
//! WebSocket connections, each user online in a workspace of `--workspace-size`
//! people. The clients keep reading (so pings are answered) but send nothing.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Ctx, Running};
use crate::load::{Tally, run_receiver};
use crate::{setup, wire};

/// Target: 10,000 connections in this much resident memory.
const TARGET_MIB: f64 = 160.0;
const TARGET_CONNECTIONS: f64 = 10_000.0;

pub async fn run(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let n = ctx.o.connections.max(1);
    let size = ctx.o.workspace_size.clamp(1, n);
    println!("\n== idle: {n} connections, workspaces of {size}");
    let server = ctx.confab().await?;
    let started = Instant::now();
    let mut auths = Vec::with_capacity(n);
    while auths.len() < n {
        let team = setup::team(&server.base, size.min(n - auths.len())).await?;
        auths.extend(team.people.iter().map(|p| wire::auth_frame(&p.token)));
    }
    println!("  signed up {n} users in {:.1} s", started.elapsed().as_secs_f64());
    let (before, after, connect_time) = hold(&server, auths).await?;
    server.stop().await?;
    let r = ctx.report;
    let Some((before, after)) = before.zip(after) else {
        r.info("idle", "server RSS", "unknown (no PID: pass --pid with --url)");
        return Ok(());
    };
    let per_conn = after.saturating_sub(before) as f64 / n as f64;
    let projected_mib = (before as f64 + per_conn * TARGET_CONNECTIONS) / 1024.0;
    r.info("idle", &format!("{n} connections: connect time"), format!("{:.1} s", connect_time.as_secs_f64()));
    r.info(
        "idle",
        &format!("server RSS before / with {n} connections"),
        format!("{:.1} / {:.1} MiB", before as f64 / 1024.0, after as f64 / 1024.0),
    );
    r.info("idle", "RSS per idle connection", format!("{per_conn:.1} KiB"));
    let metric = if n as f64 >= TARGET_CONNECTIONS {
        format!("RSS with {n} idle connections")
    } else {
        format!("RSS projected to 10,000 connections (from {n})")
    };
    r.target(
        "idle",
        &metric,
        format!(
            "{:.1} MiB",
            if n as f64 >= TARGET_CONNECTIONS { after as f64 / 1024.0 } else { projected_mib }
        ),
        "≤ 160 MiB at 10,000",
        projected_mib <= TARGET_MIB || after as f64 / 1024.0 <= TARGET_MIB && n as f64 >= TARGET_CONNECTIONS,
    );
    if !ctx.o.no_baseline {
        let b = run_baseline_only(ctx).await?;
        if let Some(b) = b {
            r.info("idle", "Confab / baseline RSS per connection", format!("{:.2}×", per_conn / b.max(0.01)));
        }
    }
    Ok(())
}

/// The same number of idle connections on the baseline server; returns KiB per
/// connection.
pub async fn run_baseline_only(ctx: &Ctx<'_>) -> anyhow::Result<Option<f64>> {
    let n = ctx.o.connections.max(1);
    let server = ctx.baseline().await?;
    let auths = (0..n).map(|_| wire::baseline_auth_frame(false)).collect();
    let (before, after, _) = hold(&server, auths).await?;
    server.stop().await?;
    let Some((before, after)) = before.zip(after) else { return Ok(None) };
    let per_conn = after.saturating_sub(before) as f64 / n as f64;
    ctx.report.info(
        "baseline",
        &format!("idle: RSS before / with {n} connections"),
        format!("{:.1} / {:.1} MiB ({per_conn:.1} KiB each)", before as f64 / 1024.0, after as f64 / 1024.0),
    );
    Ok(Some(per_conn))
}

/// How long to wait before reading RSS: longer than the server takes to return freed
/// memory to the system once it writes nothing (two of the 10 s ticks of
/// `return_freed_memory` in `server/src/lib.rs`).
const SETTLE: Duration = Duration::from_secs(22);

/// Opens and holds the connections; returns the server's RSS (KiB) before and with
/// them, and how long connecting took.
async fn hold(server: &Running, auths: Vec<String>) -> anyhow::Result<(Option<u64>, Option<u64>, Duration)> {
    // The server hands freed memory back once quiet: read its settled size.
    tokio::time::sleep(SETTLE).await;
    let before = server.rss_kib();
    let tally = Arc::new(Tally::default());
    let times = Arc::new(Vec::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let deadline = Instant::now() + Duration::from_secs(3600);
    let started = Instant::now();
    let base = server.base.as_str();
    let receivers: Vec<_> = stream::iter(auths)
        .map(|auth| {
            let (times, tally, stop_rx) = (times.clone(), tally.clone(), stop_rx.clone());
            async move {
                let socket = wire::connect(base, auth).await?;
                Ok::<_, anyhow::Error>(tokio::spawn(run_receiver(socket, times, tally, stop_rx, deadline)))
            }
        })
        .buffered(64)
        .try_collect()
        .await?;
    let connect_time = started.elapsed();
    // Let presence frames and allocator caches settle before reading RSS.
    tokio::time::sleep(SETTLE).await;
    let after = server.rss_kib();
    let _ = stop_tx.send(true);
    let mut closed = 0;
    for r in receivers {
        closed += usize::from(r.await?.closed.is_some());
    }
    if closed > 0 {
        println!("  {closed} connections were closed by the server while idle");
    }
    Ok((before, after, connect_time))
}
