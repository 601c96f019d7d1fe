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

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::Context;
use confab_client::Client;
use confab_core::{ChannelId, Message};
use rand::Rng;
use tokio::time::Instant;

use super::{Ctx, connect_all};
use crate::load::{Pace, PhaseTimes, SenderPlan, run_sender};
use crate::report::thousands;
use crate::server::ServerProcess;
use crate::{setup, wire};

const WINDOW: usize = 32;

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
    // Send order is marker order; their seqs must increase with it.
    let mut in_send_order: Vec<(u64, u64)> =
        acked.iter().filter_map(|a| Some((a.marker.trim_start_matches('m').parse().ok()?, a.seq))).collect();
    in_send_order.sort_unstable();
    tally.out_of_order += in_send_order.windows(2).filter(|w| w[1].1 <= w[0].1).count() as u64;
}
