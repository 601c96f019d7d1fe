//! `crash`: crash safety under load. Each of `--runs` runs starts a server on a fresh
//! data dir, has `--crash-senders` connections post as fast as acks allow (each into
//! its own channel), `kill -9`s the server at a random moment, restarts it on the same
//! data dir and checks, channel by channel over HTTP, that
//!
//! - every acknowledged message is stored, once, at the `seq` its ack gave;
//! - `seq`s run 1, 2, 3, … with no gap;
//! - acknowledged messages are stored in the order they were sent.
//!
//! Messages sent but not acknowledged before the kill may or may not be there; they
//! are counted, not judged.
//!
//! With `--cluster` ([`run_cluster`]), each run starts `--nodes` nodes on a fresh
//! database, has the senders post through every node (the workspace sequenced by the
//! first), `kill -9`s that first node at a random moment, and lets every client go
//! on through the others: a sender whose node died reconnects to the next node and
//! keeps posting, and a follower that was reading the workspace's events on the dead
//! node resumes on another one from its last `event_seq`. Then, through a survivor,
//! the same checks, plus the follower's: it saw every stored message once, in
//! `event_seq` order, across the two connections.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use confab_client::{Client, ClientError, ServerFrame};
use confab_core::{ChannelId, Event, Message, WorkspaceId};
use rand::Rng;
use tokio::time::Instant;

use super::{Ctx, connect_all};
use crate::load::{Pace, PhaseTimes, SenderPlan, run_sender};
use crate::report::thousands;
use crate::server::ServerProcess;
use crate::{setup, wire};

const WINDOW: usize = 32;

/// `crash --cluster`: how long a forwarded send waits for the node it went to.
const FORWARD_TIMEOUT_MS: u64 = 3000;

/// What one run found.
#[derive(Default, Debug)]
struct Tally {
    acked: u64,
    lost: u64,
    wrong_seq: u64,
    duplicates: u64,
    gaps: u64,
    out_of_order: u64,
    unacked_present: u64,
}

pub async fn run(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    if ctx.o.cluster {
        return run_cluster(ctx).await;
    }
    let runs = ctx.o.runs.max(1);
    println!("\n== crash: {runs} runs of kill -9 under load with {} senders", ctx.o.crash_senders);
    let mut total = Tally::default();
    let mut failed_runs = 0;
    for run in 1..=runs {
        let t = one_run(ctx).await.with_context(|| format!("crash run {run}"))?;
        let bad = t.lost + t.wrong_seq + t.duplicates + t.gaps + t.out_of_order;
        println!("  run {run:>2}: {t:?}{}", if bad > 0 { "  <-- FAILED" } else { "" });
        failed_runs += usize::from(bad > 0);
        total.acked += t.acked;
        total.lost += t.lost;
        total.wrong_seq += t.wrong_seq;
        total.duplicates += t.duplicates;
        total.gaps += t.gaps;
        total.out_of_order += t.out_of_order;
        total.unacked_present += t.unacked_present;
    }
    let r = ctx.report;
    r.info(
        "crash",
        "runs (kill -9 at a random moment under load)",
        format!("{runs}, {failed_runs} with a violation"),
    );
    r.info("crash", "acknowledged messages checked", thousands(total.acked as f64));
    r.target("crash", "acknowledged messages lost", total.lost.to_string(), "0", total.lost == 0);
    r.target(
        "crash",
        "wrong seq / duplicates / seq gaps / out of order",
        format!("{} / {} / {} / {}", total.wrong_seq, total.duplicates, total.gaps, total.out_of_order),
        "0 / 0 / 0 / 0",
        total.wrong_seq + total.duplicates + total.gaps + total.out_of_order == 0,
    );
    r.info("crash", "sent, not acknowledged, but stored", thousands(total.unacked_present as f64));
    Ok(())
}

/// An acknowledged message: where the ack said it is.
struct Acked {
    marker: String,
    id: String,
    seq: u64,
}

fn parse_ack(frame: &str) -> Option<Acked> {
    let v: serde_json::Value = serde_json::from_str(frame).ok()?;
    let m = v.get("message")?;
    Some(Acked {
        marker: m.get("text")?.as_str()?.to_string(),
        id: m.get("id")?.as_str()?.to_string(),
        seq: m.get("seq")?.as_u64()?,
    })
}

async fn one_run(ctx: &Ctx<'_>) -> anyhow::Result<Tally> {
    let bin = ctx.bin()?;
    let dir = tempfile::Builder::new().prefix("confab-bench-crash-").tempdir()?;
    let server = ServerProcess::start_confab(bin, dir.path(), &[]).await?;
    let team = setup::team(&server.base, ctx.o.crash_senders.max(1)).await?;
    let channels = setup::own_channels(&team, &team.people, "crash").await?;
    let sockets =
        connect_all(&server.base, team.people.iter().map(|p| wire::auth_frame(&p.token)).collect()).await?;
    let kill_after = Duration::from_millis(rand::rng().random_range(300..2500));
    let times = PhaseTimes::new(0, 2_000_000);
    let start = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .zip(&channels)
        .map(|(socket, channel)| {
            let plan = SenderPlan {
                channel: channel.to_string(),
                pace: Pace::Window(WINDOW),
                max_messages: 400_000,
                deadline: start + Duration::from_secs(60),
                drain: Duration::from_secs(5),
                times: times.clone(),
                record_latency: false,
                keep_acks: true,
            };
            tokio::spawn(run_sender(socket, plan))
        })
        .collect();
    tokio::time::sleep(kill_after).await;
    server.kill9().await?;
    let mut acked_by_channel = Vec::new();
    for t in tasks {
        let (result, _) = t.await?;
        acked_by_channel.push(result.acks.iter().filter_map(|a| parse_ack(a)).collect::<Vec<_>>());
    }

    let server = ServerProcess::start_confab(bin, dir.path(), &[]).await?;
    let mut tally = Tally::default();
    for ((channel, acked), person) in channels.iter().zip(acked_by_channel).zip(&team.people) {
        let client = Client::new(&server.base).with_token(&person.token);
        let stored = all_messages(&client, *channel).await?;
        check(&acked, &stored, &mut tally);
    }
    server.stop().await?;
    Ok(tally)
}

/// Every message of a channel, oldest first.
async fn all_messages(client: &Client, channel: ChannelId) -> anyhow::Result<Vec<Message>> {
    let mut out: Vec<Message> = Vec::new();
    loop {
        let after = out.last().map_or(0, |m| m.seq);
        let page = client.history(channel, None, Some(after), 200).await?;
        if page.is_empty() {
            return Ok(out);
        }
        out.extend(page);
    }
}

fn check(acked: &[Acked], stored: &[Message], tally: &mut Tally) {
    tally.acked += acked.len() as u64;
    for (i, m) in stored.iter().enumerate() {
        if m.seq != i as u64 + 1 {
            tally.gaps += 1;
        }
    }
    let mut by_id: HashMap<String, &Message> = HashMap::new();
    let mut markers = HashSet::new();
    for m in stored {
        if by_id.insert(m.id.to_string(), m).is_some() || !markers.insert(m.text.as_str()) {
            tally.duplicates += 1;
        }
    }
    let mut found = 0;
    for a in acked {
        match by_id.get(a.id.as_str()) {
            None => tally.lost += 1,
            Some(m) => {
                found += 1;
                if m.seq != a.seq || m.text != a.marker {
                    tally.wrong_seq += 1;
                }
            }
        }
    }
    tally.unacked_present += (stored.len() as u64).saturating_sub(found);
    tally.out_of_order += out_of_order(acked);
}

/// Acknowledged messages whose `seq` is not above that of the one sent before them
/// (send order is marker order).
fn out_of_order(acked: &[Acked]) -> u64 {
    let mut in_send_order: Vec<(u64, u64)> =
        acked.iter().filter_map(|a| Some((a.marker.trim_start_matches('m').parse().ok()?, a.seq))).collect();
    in_send_order.sort_unstable();
    in_send_order.windows(2).filter(|w| w[1].1 <= w[0].1).count() as u64
}

/// What the follower of a cluster run saw, against what is stored.
#[derive(Default, Debug)]
struct FollowerTally {
    /// Stored messages it never got.
    missing: u64,
    /// Messages it got twice.
    duplicates: u64,
    /// Events whose `event_seq` was not above the one before.
    out_of_order: u64,
    /// Connections it resumed on another node.
    resumes: u64,
}

/// A cluster run's findings.
#[derive(Default, Debug)]
struct ClusterTally {
    stored: Tally,
    follower: FollowerTally,
    /// Sender connections lost (with their node) and opened again on another.
    reconnects: u64,
    /// Sends answered by an error (a write during the takeover: allowed, not acked).
    errors: u64,
    /// Acknowledged messages of one connection stored in another order than sent,
    /// on connections to the first node (which sequenced the workspace until it was
    /// killed) and on connections to the others (forwarded, or after the takeover).
    out_of_order_direct: u64,
    out_of_order_forwarded: u64,
}

/// `crash --cluster`: `--runs` runs of [`one_cluster_run`].
async fn run_cluster(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let runs = ctx.o.runs.max(1);
    let nodes = ctx.o.nodes.max(2);
    println!(
        "\n== crash --cluster: {runs} runs of kill -9 of the workspace's node of {nodes} under load with {} \
         senders (lease {} ms)",
        ctx.o.crash_senders, ctx.o.lease_ttl_ms
    );
    let services = ctx.services()?;
    let mut total = ClusterTally::default();
    let mut failed_runs = 0;
    for run in 1..=runs {
        let t = one_cluster_run(ctx, services, nodes).await.with_context(|| format!("crash run {run}"))?;
        let s = &t.stored;
        let f = &t.follower;
        let bad = s.lost
            + s.wrong_seq
            + s.duplicates
            + s.gaps
            + s.out_of_order
            + f.missing
            + f.duplicates
            + f.out_of_order;
        println!("  run {run:>2}: {t:?}{}", if bad > 0 { "  <-- FAILED" } else { "" });
        failed_runs += usize::from(bad > 0);
        let (a, b) = (&mut total.stored, &t.stored);
        a.acked += b.acked;
        a.lost += b.lost;
        a.wrong_seq += b.wrong_seq;
        a.duplicates += b.duplicates;
        a.gaps += b.gaps;
        a.out_of_order += b.out_of_order;
        a.unacked_present += b.unacked_present;
        total.follower.missing += f.missing;
        total.follower.duplicates += f.duplicates;
        total.follower.out_of_order += f.out_of_order;
        total.follower.resumes += f.resumes;
        total.reconnects += t.reconnects;
        total.errors += t.errors;
        total.out_of_order_direct += t.out_of_order_direct;
        total.out_of_order_forwarded += t.out_of_order_forwarded;
    }
    let r = ctx.report;
    let s = &total.stored;
    r.info(
        "crash",
        &format!("cluster of {nodes}: runs (kill -9 of the workspace's node under load)"),
        format!("{runs}, {failed_runs} with a violation"),
    );
    r.info("crash", "cluster: acknowledged messages checked", thousands(s.acked as f64));
    r.target("crash", "cluster: acknowledged messages lost", s.lost.to_string(), "0", s.lost == 0);
    r.target(
        "crash",
        "cluster: wrong seq / duplicates / seq gaps",
        format!("{} / {} / {}", s.wrong_seq, s.duplicates, s.gaps),
        "0 / 0 / 0",
        s.wrong_seq + s.duplicates + s.gaps == 0,
    );
    r.target(
        "crash",
        "cluster: one connection's acked messages stored out of send order: to the sequencing node / \
         through another",
        format!("{} / {}", total.out_of_order_direct, total.out_of_order_forwarded),
        "0 / 0",
        total.out_of_order_direct + total.out_of_order_forwarded == 0,
    );
    let f = &total.follower;
    r.target(
        "crash",
        "cluster: follower resumed on another node: missing / duplicated / out of order",
        format!("{} / {} / {} ({} resumes)", f.missing, f.duplicates, f.out_of_order, f.resumes),
        "0 / 0 / 0",
        f.missing + f.duplicates + f.out_of_order == 0,
    );
    r.info(
        "crash",
        "cluster: sender reconnections to another node; error answers during the takeover",
        format!("{}; {}", total.reconnects, total.errors),
    );
    r.info("crash", "cluster: sent, not acknowledged, but stored", thousands(s.unacked_present as f64));
    Ok(())
}

/// One run: see the module doc.
async fn one_cluster_run(
    ctx: &Ctx<'_>,
    services: &crate::cluster::Services,
    nodes: usize,
) -> anyhow::Result<ClusterTally> {
    let ttl = ctx.o.lease_ttl_ms.max(100);
    let leases = crate::cluster::LeaseTiming { ttl_ms: ttl, renew_ms: (ttl / 5).max(20) };
    // A forwarded send the dead node never answers fails after this, before a
    // sender gives up on a silent connection (`load::STALL`).
    let env = [("CONFAB_CLUSTER_FORWARD_TIMEOUT_MS".to_string(), FORWARD_TIMEOUT_MS.to_string())];
    let mut cluster = crate::cluster::Cluster::start(ctx.bin()?, services, nodes, leases, &env).await?;
    let bases = cluster.bases();
    let senders = ctx.o.crash_senders.max(1);
    // Created through the first node, which sequences the workspace until it dies.
    let team = setup::team(&bases[0], senders + 1).await?;
    let (writers, follower) = (&team.people[..senders], &team.people[senders]);
    let channels = setup::own_channels(&team, writers, "crash").await?;
    for channel in &channels {
        follower.client.join(*channel).await.context("the follower joins a channel")?;
    }

    let seen = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let follower_task = tokio::spawn(follow(
        bases.clone(),
        follower.token.clone(),
        team.workspace,
        seen.clone(),
        stop.clone(),
    ));
    // Let the follower connect before the load starts.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let kill_after = Duration::from_millis(rand::rng().random_range(300..2500));
    // Long enough for the sends forwarded to the dead node to time out, the
    // takeover, and writes after it.
    let deadline = Instant::now()
        + kill_after
        + Duration::from_millis(ttl.max(FORWARD_TIMEOUT_MS))
        + Duration::from_secs(4);
    let times = PhaseTimes::new(0, 2_000_000);
    let tasks: Vec<_> = writers
        .iter()
        .zip(&channels)
        .enumerate()
        .map(|(i, (person, channel))| {
            let plan = KeepPosting {
                bases: bases.clone(),
                first_node: i % bases.len(),
                auth: wire::auth_frame(&person.token),
                channel: channel.to_string(),
                deadline,
                times: times.clone(),
            };
            tokio::spawn(keep_posting(plan))
        })
        .collect();
    tokio::time::sleep(kill_after).await;
    cluster.kill9(0).await?;
    let mut tally = ClusterTally::default();
    let mut acked_by_channel = Vec::new();
    for t in tasks {
        let (segments, reconnects, errors) = t.await??;
        tally.reconnects += reconnects;
        tally.errors += errors;
        // Order within one connection: sends to the node that sequenced the
        // workspace, and sends another node forwarded.
        for segment in &segments {
            let inversions = out_of_order(&segment.acks);
            match segment.node {
                0 => tally.out_of_order_direct += inversions,
                _ => tally.out_of_order_forwarded += inversions,
            }
        }
        acked_by_channel.push(segments.into_iter().flat_map(|s| s.acks).collect::<Vec<_>>());
    }

    // Through a survivor: every channel's history.
    let survivor = &bases[1];
    let mut stored_ids = Vec::new();
    for ((channel, acked), person) in channels.iter().zip(acked_by_channel).zip(writers) {
        let client = Client::new(survivor).with_token(&person.token);
        let stored = all_messages(&client, *channel).await?;
        check(&acked, &stored, &mut tally.stored);
        stored_ids.extend(stored.iter().map(|m| m.id.to_string()));
    }
    // The follower: every stored message, once, in event_seq order.
    let wait_until = Instant::now() + Duration::from_secs(15);
    while seen.lock().map(|s| s.len()).unwrap_or(0) < stored_ids.len() && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    tally.follower.resumes = follower_task.await??;
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    tally.follower.out_of_order = seen.windows(2).filter(|w| w[1].0 <= w[0].0).count() as u64;
    let mut got = HashSet::new();
    for (_, id) in &seen {
        if !got.insert(id.as_str()) {
            tally.follower.duplicates += 1;
        }
    }
    tally.follower.missing = stored_ids.iter().filter(|id| !got.contains(id.as_str())).count() as u64;
    cluster.stop().await?;
    Ok(tally)
}

/// A sender of a cluster run: posts through its node, and through the next one
/// whenever its connection is lost.
struct KeepPosting {
    bases: Vec<String>,
    first_node: usize,
    auth: String,
    channel: String,
    deadline: Instant,
    times: Arc<PhaseTimes>,
}

/// What one connection of a [`KeepPosting`] got acknowledged, and through which
/// node.
struct Segment {
    node: usize,
    acks: Vec<Acked>,
}

/// Runs a [`KeepPosting`] until its deadline; returns its acks per connection, how
/// often it reconnected, and the error answers it got.
async fn keep_posting(plan: KeepPosting) -> anyhow::Result<(Vec<Segment>, u64, u64)> {
    let mut node = plan.first_node;
    let (mut segments, mut reconnects, mut errors) = (Vec::new(), 0, 0);
    while Instant::now() < plan.deadline {
        let socket = match wire::connect(&plan.bases[node], plan.auth.clone()).await {
            Ok(socket) => socket,
            Err(_) => {
                node = (node + 1) % plan.bases.len();
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let sender = SenderPlan {
            channel: plan.channel.clone(),
            pace: Pace::Window(WINDOW),
            max_messages: 400_000,
            deadline: plan.deadline,
            drain: Duration::from_secs(10),
            times: plan.times.clone(),
            record_latency: false,
            keep_acks: true,
        };
        let (result, _) = run_sender(socket, sender).await;
        segments.push(Segment { node, acks: result.acks.iter().filter_map(|a| parse_ack(a)).collect() });
        errors += result.errors;
        if !(result.broken || result.stalled) {
            break;
        }
        reconnects += 1;
        node = (node + 1) % plan.bases.len();
    }
    Ok((segments, reconnects, errors))
}

/// Reads the workspace's events from the first node, and after a lost connection
/// from the next one, resuming after the last `event_seq` it saw, until `stop`;
/// records every `message.created` as `(event_seq, message id)`. Returns how often it
/// resumed.
async fn follow(
    bases: Vec<String>,
    token: String,
    workspace: WorkspaceId,
    seen: Arc<Mutex<Vec<(u64, String)>>>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<u64> {
    let mut node = 0;
    let mut last = None;
    let mut resumes = 0;
    while !stop.load(Ordering::Relaxed) {
        let resume: Vec<(WorkspaceId, u64)> = last.map(|after| (workspace, after)).into_iter().collect();
        let client = Client::new(&bases[node]).with_token(&token);
        let mut live = match client.connect(&resume).await {
            Ok(live) => live,
            Err(_) => {
                node = (node + 1) % bases.len();
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        match last {
            Some(_) => resumes += 1,
            // The first connection starts from the workspace's event_seq at hello.
            None => last = live.workspaces.iter().find(|w| w.id == workspace).map(|w| w.event_seq),
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(resumes);
            }
            match live.next(Duration::from_millis(200)).await {
                Ok(ServerFrame::Event { event_seq, ephemeral: false, event, .. }) => {
                    last = Some(event_seq);
                    if let Event::MessageCreated { message } = event
                        && let Ok(mut seen) = seen.lock()
                    {
                        seen.push((event_seq, message.id.to_string()));
                    }
                }
                Ok(ServerFrame::Closed { .. }) | Err(ClientError::WebSocket(_)) => break,
                Ok(_) | Err(_) => {}
            }
        }
        node = (node + 1) % bases.len();
    }
    Ok(resumes)
}
