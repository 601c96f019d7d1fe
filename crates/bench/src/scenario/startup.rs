//! `startup`: stores `--messages` messages (seeded fast by many WebSocket senders),
//! stops the server, then times `--starts` cold starts on that data dir: process
//! start → listening, → `/healthz` answering, → the first history page (which loads
//! the workspace).

use std::time::Duration;

use confab_client::Client;
use reqwest_free::healthz;
use tokio::time::Instant;

use super::{Ctx, connect_all, secs};
use crate::load::{Pace, PhaseTimes, SenderPlan, run_sender};
use crate::report::{Latency, thousands};
use crate::server::{ServerProcess, dir_size};
use crate::{setup, wire};

/// Seeding connections and their window.
const SEEDERS: usize = 16;
const SEED_WINDOW: usize = 32;

pub async fn run(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let n = ctx.o.messages;
    println!("\n== startup: {} messages stored", thousands(n as f64));
    let bin = ctx.bin()?;
    let dir = tempfile::Builder::new().prefix("confab-bench-startup-").tempdir()?;
    let server = ServerProcess::start_confab(bin, dir.path(), &[]).await?;
    let team = setup::team(&server.base, SEEDERS).await?;
    let channels = setup::own_channels(&team, &team.people, "seed").await?;
    let sockets =
        connect_all(&server.base, team.people.iter().map(|p| wire::auth_frame(&p.token)).collect()).await?;
    let times = PhaseTimes::new(0, n as usize + SEEDERS);
    let started = Instant::now();
    let per_sender = n.div_ceil(SEEDERS as u64);
    let tasks: Vec<_> = sockets
        .into_iter()
        .zip(&channels)
        .map(|(socket, channel)| {
            let plan = SenderPlan {
                channel: channel.to_string(),
                pace: Pace::Window(SEED_WINDOW),
                max_messages: per_sender,
                deadline: started + Duration::from_secs(3600),
                drain: secs(60.0),
                times: times.clone(),
                record_latency: false,
                keep_acks: false,
            };
            tokio::spawn(run_sender(socket, plan))
        })
        .collect();
    let mut acked = 0;
    for t in tasks {
        let (result, _) = t.await?;
        acked += result.acked;
    }
    let seed_time = started.elapsed();
    println!(
        "  seeded {acked} messages in {:.1} s ({:.0} msg/s)",
        seed_time.as_secs_f64(),
        acked as f64 / seed_time.as_secs_f64()
    );
    server.stop().await?;
    let bytes = dir_size(dir.path());

    let token = team.people[0].token.clone();
    let mut listen = Latency::default();
    let mut health = Latency::default();
    let mut first_page = Latency::default();
    for _ in 0..ctx.o.starts.max(1) {
        let t0 = Instant::now();
        let server = ServerProcess::start_confab(bin, dir.path(), &[]).await?;
        listen.record_us(server.time_to_listen.as_micros() as u64);
        healthz(&server.base).await?;
        health.record_us(t0.elapsed().as_micros() as u64);
        let page = Client::new(&server.base).with_token(&token).history(channels[0], None, None, 50).await?;
        first_page.record_us(t0.elapsed().as_micros() as u64);
        anyhow::ensure!(!page.is_empty(), "the first history page after restart is empty");
        server.stop().await?;
    }
    let r = ctx.report;
    let label = format!("{} messages ({:.0} MiB on disk)", thousands(acked as f64), bytes as f64 / 1048576.0);
    r.info(
        "startup",
        &format!("seeding {} messages over {SEEDERS} WebSockets", thousands(acked as f64)),
        format!(
            "{:.1} s ({} msg/s)",
            seed_time.as_secs_f64(),
            thousands(acked as f64 / seed_time.as_secs_f64())
        ),
    );
    r.info("startup", &format!("{label}: start → listening"), listen.summary());
    let target = if acked >= 1_000_000 {
        "≤ 2 s with 1,000,000 messages"
    } else {
        "≤ 2 s (target is at 1,000,000 messages)"
    };
    r.target(
        "startup",
        &format!("{label}: start → /healthz answers"),
        health.summary(),
        target,
        health.max_ms() <= 2000.0,
    );
    r.info("startup", &format!("{label}: start → first history page"), first_page.summary());
    Ok(())
}

/// A tiny HTTP/1.1 client for `/healthz`, so start-up timing does not include a
/// client library's connection set-up.
mod reqwest_free {
    use anyhow::bail;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    pub async fn healthz(base: &str) -> anyhow::Result<()> {
        let addr = base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(
                format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        let answer = String::from_utf8_lossy(&answer);
        if !answer.starts_with("HTTP/1.1 200") {
            bail!("healthz answered {}", answer.lines().next().unwrap_or_default());
        }
        Ok(())
    }
}
