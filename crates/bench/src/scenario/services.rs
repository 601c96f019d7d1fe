//! `services`: what a cluster stands on, measured on its own (docs/scaling.md builds
//! the capacity model from these figures):
//!
//! 1. PostgreSQL's synchronous commits per second: one and `--pg-clients`
//!    connections, each committing one-row `INSERT` transactions back to back with
//!    `synchronous_commit = on` (each commit waits for its WAL flush; PostgreSQL
//!    flushes the commits that wait together once);
//! 2. the batches a node's store commits: `PgStore` applying the batch a post writes
//!    (asynchronous commit) with the committer's group commit (one synchronous flush
//!    for every batch applied before it), as `--senders` writers × `--window`, and as
//!    one writer waiting for each post's flush;
//! 3. NATS's messages per second as the nodes use it: one `NatsBus` publishing
//!    `--nats-messages` events of the size a post's `message.created` event has,
//!    spread over 1,000 workspaces' subjects, each delivered to `--nats-subscribers`
//!    other connections (the other nodes).
//!
//! PostgreSQL (`fsync = on`) and nats-server run on this machine, sharing its cores
//! and disk with the bench.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use confab_bus::{Bus, BusEvent, Delivery, NatsBus, NatsConfig};
use confab_core::{ChannelId, UserId, WorkspaceId};
use futures_util::StreamExt;

use super::{Ctx, secs};
use crate::report::thousands;

/// Workspaces whose subjects the NATS run publishes on.
const NATS_WORKSPACES: usize = 1000;
/// How far the publisher may run ahead of the slowest subscriber (a subscription
/// holds 65,536 messages before NATS's client drops them).
const NATS_AHEAD: u64 = 20_000;

pub async fn run(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    println!("\n== services: PostgreSQL commits/s, PgStore post batches/s, NATS messages/s");
    let services = ctx.services()?;
    let r = ctx.report;
    let duration = secs(ctx.o.duration);

    // 1. Small synchronous commits.
    let database = services.database();
    for clients in [1, ctx.o.pg_clients.max(1)] {
        let url = database.clone();
        let rate = tokio::task::spawn_blocking(move || sync_commits(&url, clients, duration)).await??;
        r.info(
            "services",
            &format!("PostgreSQL: synchronous one-row commits/s, {clients} connection(s)"),
            thousands(rate),
        );
    }

    // 2. The store's post batches, group-committed as a node does.
    let cases = [(ctx.o.senders.max(1), ctx.o.window.max(1)), (1, 1)];
    for (writers, window) in cases {
        let config = confab_store_postgres::PgConfig {
            connections: 8,
            ..confab_store_postgres::PgConfig::new(services.database())
        };
        let pg_data = services.pg_data().to_path_buf();
        let (c, pg_ticks) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let store = Arc::new(confab_store_postgres::PgStore::open(&config)?);
            // PostgreSQL's processes while the store's connections are open.
            let pids = crate::cluster::postgres_pids(&pg_data);
            let before = crate::cluster::cpu_ticks_of(&pids);
            let c = crate::baseline::store_ceiling_on(store, writers, window, u64::MAX, duration)?;
            Ok((c, crate::cluster::cpu_ticks_of(&pids).saturating_sub(before)))
        })
        .await??;
        let seconds = c.elapsed.as_secs_f64().max(1e-3);
        r.info(
            "services",
            &format!("PgStore: durable posts/s ({writers} writers × window {window}, group commit)"),
            format!(
                "{} ({} synchronous flushes/s, {:.1} posts per flush; per post, {:.0} µs of PostgreSQL's \
                 CPU and {:.0} µs of the store's)",
                thousands(c.posts as f64 / seconds),
                thousands(c.flushes as f64 / seconds),
                c.posts as f64 / c.flushes.max(1) as f64,
                pg_ticks as f64 * 10_000.0 / c.posts.max(1) as f64,
                c.cpu.as_secs_f64() * 1e6 / c.posts.max(1) as f64
            ),
        );
    }

    // 3. NATS.
    let n = nats(&services.nats.url(), ctx.o.nats_messages.max(1), ctx.o.nats_subscribers.max(1)).await?;
    r.info(
        "services",
        &format!(
            "NATS: {}-byte events published and delivered to {} subscribers",
            n.payload_bytes, n.subscribers
        ),
        format!(
            "{} msgs/s published ({} deliveries/s); {} of {} delivered, {} losses",
            thousands(n.published as f64 / n.elapsed.as_secs_f64().max(1e-3)),
            thousands(n.delivered as f64 / n.elapsed.as_secs_f64().max(1e-3)),
            thousands(n.delivered as f64),
            thousands((n.published * n.subscribers as u64) as f64),
            n.losses
        ),
    );
    Ok(())
}

/// `clients` connections committing one-row transactions (synchronous commit) for
/// `duration`; commits per second. Runs on threads of its own (the synchronous client
/// must not run on a runtime's thread).
fn sync_commits(url: &str, clients: usize, duration: Duration) -> anyhow::Result<f64> {
    let mut setup = postgres::Client::connect(url, postgres::NoTls)?;
    setup.batch_execute(
        "CREATE TABLE IF NOT EXISTS bench_commits (client int NOT NULL, n bigint NOT NULL, \
         at timestamptz NOT NULL DEFAULT now())",
    )?;
    let committed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let (url, committed) = (url.to_string(), committed.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut db = postgres::Client::connect(&url, postgres::NoTls)?;
                db.batch_execute("SET synchronous_commit = on")?;
                let insert = db.prepare("INSERT INTO bench_commits (client, n) VALUES ($1, $2)")?;
                let client = i32::try_from(client)?;
                let mut n = 0_i64;
                while start.elapsed() < duration {
                    n += 1;
                    db.execute(&insert, &[&client, &n])?;
                    committed.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| anyhow::anyhow!("a committing thread panicked"))??;
    }
    Ok(committed.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

struct NatsFigures {
    payload_bytes: usize,
    subscribers: usize,
    published: u64,
    delivered: u64,
    losses: u64,
    elapsed: Duration,
}

/// Publishes `messages` event-sized messages on one connection and counts them at
/// `subscribers` others, until every subscriber has them all (or a minute passed).
async fn nats(url: &str, messages: u64, subscribers: usize) -> anyhow::Result<NatsFigures> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let cluster = format!("benchsvc{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let connect = |node: String| {
        let mut config = NatsConfig::new(url, cluster.clone());
        config.node_name = node;
        NatsBus::connect(config)
    };
    let publisher = connect("publisher".into()).await.context("connecting to NATS")?;
    let received: Arc<Vec<AtomicU64>> = Arc::new((0..subscribers).map(|_| AtomicU64::new(0)).collect());
    let losses = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..subscribers {
        let bus = connect(format!("subscriber-{i}")).await?;
        let mut deliveries = bus.subscribe().await?;
        let (received, losses, stop) = (received.clone(), losses.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let _bus = bus;
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(200), deliveries.next()).await {
                    Ok(Some(Delivery::Event(_))) => {
                        received[i].fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Some(Delivery::Lost(_) | Delivery::Disconnected)) => {
                        losses.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
        }));
    }
    let workspaces: Vec<WorkspaceId> =
        (0..NATS_WORKSPACES).map(|_| WorkspaceId::from_bytes(rand::random())).collect();
    // A post's event as a node publishes it: the `EventRecord`'s JSON.
    let sample = crate::baseline::post_batch(
        workspaces[0],
        ChannelId::from_bytes(rand::random()),
        UserId::from_bytes(rand::random()),
        123_456,
        1_234_567,
    );
    let payload = sample
        .ops
        .iter()
        .find_map(|op| match op {
            confab_store::Op::AppendEvent(record) => serde_json::to_vec(record).ok(),
            _ => None,
        })
        .map(Bytes::from)
        .context("the post batch has its event")?;
    let slowest = || received.iter().map(|r| r.load(Ordering::Relaxed)).min().unwrap_or(0);
    let start = Instant::now();
    for i in 0..messages {
        if i % 1000 == 0 {
            while i.saturating_sub(slowest()) > NATS_AHEAD && start.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let workspace = workspaces[i as usize % NATS_WORKSPACES];
        let event =
            BusEvent { workspace, event_seq: i / NATS_WORKSPACES as u64 + 1, payload: payload.clone() };
        publisher.publish(event).await?;
    }
    publisher.flush().await?;
    let deadline = start + Duration::from_secs(60);
    while slowest() < messages && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    Ok(NatsFigures {
        payload_bytes: payload.len(),
        subscribers,
        published: messages,
        delivered: received.iter().map(|r| r.load(Ordering::Relaxed)).sum(),
        losses: losses.load(Ordering::Relaxed),
        elapsed,
    })
}
