//! `confab-bench peer`: Confab next to a real peer, a Synapse (Matrix) homeserver,
//! measured in one run by one driver, so the two sets of figures share a machine, a
//! load and a method.
//!
//! On each server: one sender and four receivers in one room (a Matrix room, a Confab
//! channel). The sender posts over HTTP (`PUT …/send/m.room.message/{txn}`,
//! `POST /api/v1/channels/{ch}/messages`); the receivers read on the connection a
//! client of that server lives on (a `/sync` long-poll loop, a WebSocket). Every body
//! is `bench <stretch> <seq> <µs>`: the instant its send started on the run's clock,
//! so a receiver knows the delivery latency from the text alone.
//!
//! The run, each part `--peer-duration` seconds:
//! 1. Synapse, closed loop: the next post as soon as the last is answered;
//! 2. Synapse, open loop, starting at the closed loop's rate and stepping up by
//!    `--peer-step` while it keeps up (see [`Stretch::shortfall`]); the last rate it
//!    kept up with is *the highest rate Synapse sustains*;
//! 3. Confab, closed loop (its own maximum with the same driver);
//! 4. Confab, open loop at Synapse's highest sustained rate.
//!
//! The bench starts Confab itself (as every scenario does) but never Synapse: that
//! is `scripts/peer-synapse.sh`, documented in docs/benchmarks.md.

mod synapse;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Args;
use confab_client::{Client, Live, ServerFrame};
use confab_core::{ChannelId, Event};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use self::synapse::{Account, SYNC_TIMEOUT_MS, Synapse, room_sync};
use crate::report::{Latency, thousands};
use crate::scenario::{Ctx, Running, secs};
use crate::server::wait_until_quiet;
use crate::setup;

/// The flags of `confab-bench peer`.
#[derive(Debug, Args, Clone)]
pub struct PeerArgs {
    /// The Synapse to measure. The bench starts nothing there: run
    /// `scripts/peer-synapse.sh DIR` first.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8008")]
    pub synapse_url: String,
    /// The file holding that Synapse's registration shared secret (the script writes
    /// DIR/registration_shared_secret); the bench registers its accounts with it.
    #[arg(long, value_name = "PATH")]
    pub synapse_secret_file: PathBuf,
    /// Seconds of each measured stretch: each closed loop, each step of the ramp, and
    /// Confab at Synapse's rate.
    #[arg(long, default_value_t = 10.0)]
    pub peer_duration: f64,
    /// Each step of the ramp offers this many times the rate of the one before.
    #[arg(long, default_value_t = 1.25)]
    pub peer_step: f64,
    /// The most steps the ramp takes (up, or down if the first one is not kept up with).
    #[arg(long, default_value_t = 12)]
    pub peer_steps: usize,
}

/// Receivers per server, besides the sender.
const RECEIVERS: usize = 4;
/// A server keeps up with an offered rate if it answers and delivers at this share of
/// it or more.
const KEPT_UP: f64 = 0.95;
/// How long after a stretch's last answer its deliveries may still arrive.
const DRAIN: Duration = Duration::from_secs(10);
/// An open-loop sender with this many posts unanswered is not being kept up with.
const MAX_IN_FLIGHT: usize = 256;
/// No post waits longer than this for its answer.
const POST_TIMEOUT: Duration = Duration::from_secs(60);
/// A closed loop stops after this many failed posts (something is wrong, not slow).
const MAX_FAILURES: u64 = 20;
/// The pause between two stretches, for the last one's stragglers to settle.
const PAUSE: Duration = Duration::from_secs(2);

pub async fn run(ctx: &Ctx<'_>, args: &PeerArgs) -> anyhow::Result<()> {
    let secret = std::fs::read_to_string(&args.synapse_secret_file)
        .with_context(|| format!("reading --synapse-secret-file {}", args.synapse_secret_file.display()))?;
    let secret = secret.trim();
    let synapse = Synapse::connect(&args.synapse_url).await?;
    let version = synapse.server_version().await.unwrap_or_else(|| "(version not given)".into());
    let duration = secs(args.peer_duration.max(1.0));
    let step = args.peer_step.max(1.01);
    println!(
        "\n== peer: Synapse {version} at {} and Confab, 1 sender → {RECEIVERS} receivers",
        args.synapse_url
    );
    println!("  load average at the start: {}", load_average());
    let clock = Clock(Instant::now());

    // Confab first comes up (and is checked) before Synapse is measured; it idles
    // until its turn.
    let confab = ctx.confab().await?;
    let mut synapse_side = synapse_side(&synapse, secret, clock).await?;
    let mut confab_side = confab_side(&confab.base, clock).await?;

    println!("  Synapse, closed loop:");
    let synapse_closed = synapse_side.run(Pace::ClosedLoop, duration, clock).await;
    let start_rate = (synapse_closed.answered_per_second() * 10.0).floor() / 10.0;
    if synapse_closed.acked() == 0 || start_rate <= 0.0 {
        bail!("Synapse answered no post: {}", synapse_closed.failures());
    }
    println!("  Synapse, open loop, from {start_rate} msg/s by ×{step} while it keeps up:");
    let ramp = ramp(&mut synapse_side, start_rate, step, args.peer_steps.max(1), duration, clock).await;
    synapse_side.stop();
    let Some(synapse_rate) = ramp.sustained else {
        bail!(
            "Synapse kept up with none of the rates offered; {}",
            ramp.short_above.map_or(String::new(), |(_, w)| w)
        );
    };
    let Pace::Rate(rate) = synapse_rate.pace else { unreachable!("the ramp runs at a rate") };
    match &ramp.short_above {
        Some((r, why)) if *r > rate => {
            println!("  highest rate Synapse sustains: {rate} msg/s ({r} msg/s: {why})")
        }
        _ => println!("  highest rate Synapse sustains: {rate} msg/s (the ramp stopped there)"),
    }

    settle(&confab).await;
    println!("  Confab, closed loop:");
    let confab_closed = confab_side.run(Pace::ClosedLoop, duration, clock).await;
    settle(&confab).await;
    println!("  Confab at {rate} msg/s:");
    let confab_rate = confab_side.run(Pace::Rate(rate), duration, clock).await;
    if let Some(why) = confab_rate.shortfall() {
        println!("    Confab did not keep up with {rate} msg/s: {why}");
    }
    confab_side.stop();
    confab.stop().await?;
    println!("  load average at the end: {}", load_average());

    let table = side_by_side(
        &version,
        args.peer_duration,
        [&synapse_closed, &confab_closed],
        [&synapse_rate, &confab_rate],
    );
    println!("\n{table}\n\n{}", ramp.rows.join("\n"));
    let r = ctx.report;
    r.info("peer", "Synapse version", version);
    for (label, s) in [
        ("Synapse closed loop", &synapse_closed),
        ("Confab closed loop", &confab_closed),
        ("Synapse at its highest sustained rate", &synapse_rate),
        ("Confab at Synapse's highest sustained rate", &confab_rate),
    ] {
        r.info("peer", &format!("{label}: msg/s answered"), format!("{:.1}", s.answered_per_second()));
        r.info("peer", &format!("{label}: send"), s.send_latency().summary());
        r.info("peer", &format!("{label}: delivery"), s.delivery_latency().summary());
    }
    Ok(())
}

/// What the ramp found.
struct Ramp {
    /// The stretch at the highest rate the server kept up with.
    sustained: Option<Stretch>,
    /// The lowest rate above it that the server did not keep up with, and why.
    short_above: Option<(f64, String)>,
    /// The Markdown table of every step.
    rows: Vec<String>,
}

/// Offers `start` msg/s, then `step` times more after each stretch the server keeps
/// up with (or `step` times less while it does not), at most `steps` times.
async fn ramp(
    side: &mut Side,
    start: f64,
    step: f64,
    steps: usize,
    duration: Duration,
    clock: Clock,
) -> Ramp {
    let mut found = Ramp {
        sustained: None,
        short_above: None,
        rows: vec![
            "| Synapse, offered msg/s | answered msg/s | send p50 / p99 ms | delivery p50 / p99 ms | delivery p50, first → last quarter | kept up |"
                .to_string(),
            "|---|---|---|---|---|---|".to_string(),
        ],
    };
    let mut rate = start;
    let mut going_down = false;
    for _ in 0..steps {
        tokio::time::sleep(PAUSE).await;
        let s = side.run(Pace::Rate(rate), duration, clock).await;
        let shortfall = s.shortfall();
        found.rows.push(s.ramp_row(shortfall.as_deref()));
        match shortfall {
            None => {
                found.sustained = Some(s);
                if going_down {
                    break;
                }
                rate = (rate * step * 10.0).round() / 10.0;
            }
            Some(why) => {
                println!("    not kept up with at {rate} msg/s: {why}");
                // Up, the ramp stops at the first; down, the last is the lowest.
                found.short_above = Some((rate, why));
                if found.sustained.is_some() {
                    break;
                }
                going_down = true;
                rate = (rate / step * 10.0).round() / 10.0;
                if rate < 0.1 {
                    break;
                }
            }
        }
    }
    found
}

/// Waits for the Confab the bench started to finish the background work of what came
/// before (the search index merges the segments a closed loop's thousands of messages
/// left), so it is not measured in the next stretch. Synapse, which the bench did not
/// start, gets [`PAUSE`].
async fn settle(confab: &Running) {
    tokio::time::sleep(PAUSE).await;
    if let Some(pid) = confab.pid {
        let waited = wait_until_quiet(pid, Duration::from_secs(60)).await;
        println!("  (Confab quiet after {:.1} s more)", waited.as_secs_f64());
    }
}

/// The run's clock: microseconds since the run started, shared by the sender that
/// writes them into a message and the receivers that read them back.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now_us(self) -> u64 {
        u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// What every message says: its stretch, its number in it, and when its send started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Marker {
    stretch: u32,
    seq: u64,
    sent_us: u64,
}

impl Marker {
    fn text(self) -> String {
        format!("bench {} {} {}", self.stretch, self.seq, self.sent_us)
    }

    fn parse(text: &str) -> Option<Marker> {
        let mut parts = text.strip_prefix("bench ")?.split(' ');
        let marker = Marker {
            stretch: parts.next()?.parse().ok()?,
            seq: parts.next()?.parse().ok()?,
            sent_us: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(marker)
    }
}

/// One message seen by one receiver.
#[derive(Clone, Copy, Debug)]
struct Delivery {
    seq: u64,
    latency_us: u64,
    at_us: u64,
}

/// What the receivers of one server have seen, by stretch.
#[derive(Default)]
struct Deliveries {
    seen: Mutex<HashMap<u32, Vec<Delivery>>>,
    /// `/sync` answers that left events out.
    gaps: AtomicU64,
    /// Why a receiver stopped, if one did.
    failure: Mutex<Option<String>>,
}

impl Deliveries {
    fn record(&self, clock: Clock, text: &str) {
        let Some(m) = Marker::parse(text) else { return };
        let now = clock.now_us();
        let delivery = Delivery { seq: m.seq, latency_us: now.saturating_sub(m.sent_us), at_us: now };
        if let Ok(mut seen) = self.seen.lock() {
            seen.entry(m.stretch).or_default().push(delivery);
        }
    }

    fn count(&self, stretch: u32) -> usize {
        self.seen.lock().map_or(0, |seen| seen.get(&stretch).map_or(0, Vec::len))
    }

    fn take(&self, stretch: u32) -> Vec<Delivery> {
        self.seen.lock().map(|mut seen| seen.remove(&stretch).unwrap_or_default()).unwrap_or_default()
    }

    fn fail(&self, why: String) {
        if let Ok(mut failure) = self.failure.lock() {
            failure.get_or_insert(why);
        }
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

/// Where the sender posts.
#[derive(Clone)]
enum Sender {
    Synapse { server: Synapse, account: Account, room: String },
    Confab { client: Client, channel: ChannelId },
}

impl Sender {
    async fn post(&self, marker: Marker) -> anyhow::Result<()> {
        let text = marker.text();
        let post = async {
            match self {
                Sender::Synapse { server, account, room } => {
                    let txn = format!("{}.{}", marker.stretch, marker.seq);
                    server.send(account, room, &txn, &text).await
                }
                Sender::Confab { client, channel } => {
                    client.post(*channel, &text).await.map(drop).map_err(Into::into)
                }
            }
        };
        tokio::time::timeout(POST_TIMEOUT, post).await.context("no answer within 60 s")?
    }
}

/// One server under test: its sender and its live receivers.
struct Side {
    sender: Sender,
    /// The number of the next stretch (what its messages' markers carry).
    next_stretch: u32,
    deliveries: Arc<Deliveries>,
    receivers: Vec<JoinHandle<()>>,
}

/// How the sender paces itself.
#[derive(Clone, Copy, Debug)]
enum Pace {
    /// The next post as soon as the last one is answered.
    ClosedLoop,
    /// Posts at this many per second, whatever the answers (open loop).
    Rate(f64),
}

/// One answered post.
#[derive(Clone, Copy, Debug)]
struct Sent {
    seq: u64,
    started_us: u64,
    latency_us: u64,
}

/// What one stretch of sending measured.
struct Stretch {
    pace: Pace,
    sent: Vec<Sent>,
    failed: u64,
    first_failure: Option<String>,
    /// The open-loop sender found [`MAX_IN_FLIGHT`] posts unanswered.
    blocked: bool,
    deliveries: Vec<Delivery>,
    gaps: u64,
    receiver_failure: Option<String>,
}

impl Side {
    /// Sends for `duration` at `pace`, then waits up to [`DRAIN`] for every answered
    /// post to reach every receiver.
    async fn run(&mut self, pace: Pace, duration: Duration, clock: Clock) -> Stretch {
        let stretch = self.next_stretch;
        self.next_stretch += 1;
        let gaps_before = self.deliveries.gaps.load(Ordering::Relaxed);
        let posts = match pace {
            Pace::ClosedLoop => closed_loop(&self.sender, stretch, duration, clock).await,
            Pace::Rate(rate) => open_loop(&self.sender, stretch, rate, duration, clock).await,
        };
        let expected = posts.sent.len() * RECEIVERS;
        let drain_until = Instant::now() + DRAIN;
        while self.deliveries.count(stretch) < expected
            && Instant::now() < drain_until
            && self.deliveries.failure().is_none()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let s = Stretch {
            pace,
            sent: posts.sent,
            failed: posts.failed,
            first_failure: posts.first_failure,
            blocked: posts.blocked,
            deliveries: self.deliveries.take(stretch),
            gaps: self.deliveries.gaps.load(Ordering::Relaxed) - gaps_before,
            receiver_failure: self.deliveries.failure(),
        };
        println!("    {}", s.line());
        s
    }

    fn stop(&mut self) {
        for r in self.receivers.drain(..) {
            r.abort();
        }
    }
}

/// What a sender did.
#[derive(Default)]
struct Posts {
    sent: Vec<Sent>,
    failed: u64,
    first_failure: Option<String>,
    blocked: bool,
}

impl Posts {
    fn record(&mut self, seq: u64, started_us: u64, answered_us: u64, result: anyhow::Result<()>) {
        match result {
            Ok(()) => {
                self.sent.push(Sent { seq, started_us, latency_us: answered_us.saturating_sub(started_us) })
            }
            Err(e) => {
                self.failed += 1;
                self.first_failure.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
}

async fn closed_loop(sender: &Sender, stretch: u32, duration: Duration, clock: Clock) -> Posts {
    let mut posts = Posts::default();
    let end = Instant::now() + duration;
    let mut seq = 0;
    while Instant::now() < end && posts.failed < MAX_FAILURES {
        let marker = Marker { stretch, seq, sent_us: clock.now_us() };
        let result = sender.post(marker).await;
        posts.record(seq, marker.sent_us, clock.now_us(), result);
        seq += 1;
    }
    posts
}

async fn open_loop(sender: &Sender, stretch: u32, rate: f64, duration: Duration, clock: Clock) -> Posts {
    let mut posts = Posts::default();
    let count = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let interval = secs(1.0 / rate);
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    for seq in 0..count {
        tokio::time::sleep_until(start + interval.mul_f64(seq as f64)).await;
        let permit = match in_flight.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                posts.blocked = true;
                break;
            }
        };
        let sender = sender.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let marker = Marker { stretch, seq, sent_us: clock.now_us() };
            let result = sender.post(marker).await;
            (marker, clock.now_us(), result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((marker, answered_us, result)) => {
                posts.record(marker.seq, marker.sent_us, answered_us, result)
            }
            Err(e) => posts.record(0, 0, 0, Err(e.into())),
        }
    }
    posts
}

impl Stretch {
    fn acked(&self) -> usize {
        self.sent.len()
    }

    /// How many messages the stretch numbered (answered or not).
    fn count(&self) -> u64 {
        self.sent.iter().map(|s| s.seq + 1).max().unwrap_or(0)
    }

    /// Answers per second while they came, from the first to the last. A server
    /// keeping up answers at the offered rate whatever its latency; one falling
    /// behind answers at its own pace, and its last answers come late.
    fn answered_per_second(&self) -> f64 {
        span_rate(self.sent.iter().map(|s| s.started_us + s.latency_us), 1)
    }

    /// Messages per second reaching the receivers, from the first delivery to the last.
    fn delivered_per_second(&self) -> f64 {
        span_rate(self.deliveries.iter().map(|d| d.at_us), RECEIVERS)
    }

    fn send_latency(&self) -> Latency {
        let mut l = Latency::default();
        self.sent.iter().for_each(|s| l.record_us(s.latency_us));
        l
    }

    fn delivery_latency(&self) -> Latency {
        let mut l = Latency::default();
        self.deliveries.iter().for_each(|d| l.record_us(d.latency_us));
        l
    }

    fn failures(&self) -> String {
        match &self.first_failure {
            Some(first) => format!("{} failed, the first with: {first}", self.failed),
            None => "none failed".into(),
        }
    }

    /// Why the server did not keep up with this stretch's offered rate, or `None` if
    /// it did: every post answered without error, answers at ≥ [`KEPT_UP`] of the
    /// offered rate, every delivery within [`DRAIN`], no gap in a receiver's
    /// timeline, and neither latency climbing through the stretch by more than
    /// 1 − [`KEPT_UP`] of the time it took (see [`growth`]). A backlog that grows
    /// more slowly than that still grows without bound, but a 10 s stretch cannot
    /// tell it from the jitter of the answers.
    fn shortfall(&self) -> Option<String> {
        let Pace::Rate(offered) = self.pace else { return None };
        if self.failed > 0 {
            return Some(format!("posts failed: {}", self.failures()));
        }
        if self.blocked {
            return Some(format!("{MAX_IN_FLIGHT} posts were waiting for their answer at once"));
        }
        if let Some(why) = &self.receiver_failure {
            return Some(format!("a receiver stopped: {why}"));
        }
        let answered = self.answered_per_second();
        if answered < KEPT_UP * offered {
            return Some(format!("answered {answered:.1} msg/s of {offered} offered"));
        }
        let expected = self.sent.len() * RECEIVERS;
        if self.deliveries.len() < expected {
            return Some(format!(
                "{} of {expected} deliveries within {} s of the last answer",
                self.deliveries.len(),
                DRAIN.as_secs()
            ));
        }
        if self.gaps > 0 {
            return Some(format!("{} sync answers left messages out", self.gaps));
        }
        let (count, interval_ms) = (self.count(), 1000.0 / offered);
        let sends = self.sent.iter().map(|s| (s.seq, s.latency_us));
        if let Some((first, last)) = growth(sends, count, interval_ms) {
            return Some(format!(
                "send latency grew from p50 {first:.1} ms (first quarter) to {last:.1} ms (last)"
            ));
        }
        let deliveries = self.deliveries.iter().map(|d| (d.seq, d.latency_us));
        if let Some((first, last)) = growth(deliveries, count, interval_ms) {
            return Some(format!(
                "delivery latency grew from p50 {first:.1} ms (first quarter) to {last:.1} ms (last)"
            ));
        }
        None
    }

    /// This stretch as a row of the ramp's table.
    fn ramp_row(&self, shortfall: Option<&str>) -> String {
        let (send, delivery) = (self.send_latency(), self.delivery_latency());
        let quarters = quarters(self.deliveries.iter().map(|d| (d.seq, d.latency_us)), self.count())
            .map_or("–".to_string(), |(first, last)| format!("{first:.1} → {last:.1}"));
        format!(
            "| {} | {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {quarters} | {} |",
            match self.pace {
                Pace::Rate(r) => r.to_string(),
                Pace::ClosedLoop => "closed loop".into(),
            },
            self.answered_per_second(),
            send.quantile_ms(0.5),
            send.quantile_ms(0.99),
            delivery.quantile_ms(0.5),
            delivery.quantile_ms(0.99),
            shortfall.map_or("yes".to_string(), |why| format!("no: {why}"))
        )
    }

    /// One line for the progress output.
    fn line(&self) -> String {
        let pace = match self.pace {
            Pace::ClosedLoop => "closed loop".to_string(),
            Pace::Rate(r) => format!("{r} msg/s offered"),
        };
        format!(
            "{pace}: {} answered ({:.1}/s), {} failed; {} of {} deliveries ({:.1} msg/s); send p50 {:.1} ms, delivery p50 {:.1} / p99 {:.1} ms",
            self.acked(),
            self.answered_per_second(),
            self.failed,
            self.deliveries.len(),
            self.acked() * RECEIVERS,
            self.delivered_per_second(),
            self.send_latency().quantile_ms(0.5),
            self.delivery_latency().quantile_ms(0.5),
            self.delivery_latency().quantile_ms(0.99),
        )
    }
}

/// Events per second over the span of their instants (µs), counting every `per` of
/// them as one (one message delivered to each of `per` receivers).
fn span_rate(instants: impl Iterator<Item = u64>, per: usize) -> f64 {
    let (mut n, mut first, mut last) = (0usize, u64::MAX, 0u64);
    for t in instants {
        n += 1;
        first = first.min(t);
        last = last.max(t);
    }
    let messages = n as f64 / per.max(1) as f64;
    if messages < 2.0 || last <= first { 0.0 } else { (messages - 1.0) / ((last - first) as f64 / 1e6) }
}

/// The median latency (ms) of the first and of the last quarter of a stretch of
/// `count` messages (by message number), if it has enough of them to tell.
fn quarters(samples: impl Iterator<Item = (u64, u64)>, count: u64) -> Option<(f64, f64)> {
    if count < 8 {
        return None;
    }
    let quarter = count / 4;
    let (mut first, mut last) = (Vec::new(), Vec::new());
    for (seq, us) in samples {
        if seq < quarter {
            first.push(us);
        } else if seq >= count - quarter {
            last.push(us);
        }
    }
    Some((median_ms(&mut first)?, median_ms(&mut last)?))
}

/// Whether a latency climbs through a stretch of `count` messages sent `interval_ms`
/// apart: from the first quarter's median to the last's by more than 1 − [`KEPT_UP`]
/// of the time between them. A server that keeps up has the same latency at the end
/// as at the start (it may step up once, when requests start to overlap and queue);
/// one that falls behind adds its backlog to every later message, so its latency
/// climbs by the share of the time it is short of. Returns both medians (ms).
fn growth(samples: impl Iterator<Item = (u64, u64)>, count: u64, interval_ms: f64) -> Option<(f64, f64)> {
    // The quarters' middles are three quarters of the stretch apart.
    let between_ms = 0.75 * count as f64 * interval_ms;
    quarters(samples, count).filter(|&(first, last)| last - first > (1.0 - KEPT_UP) * between_ms)
}

fn median_ms(us: &mut [u64]) -> Option<f64> {
    us.sort_unstable();
    us.get(us.len() / 2).map(|&m| m as f64 / 1000.0)
}

/// Registers a sender and the receivers on Synapse, puts them in a fresh room, and
/// starts each receiver's `/sync` loop after its initial sync.
async fn synapse_side(server: &Synapse, secret: &str, clock: Clock) -> anyhow::Result<Side> {
    let tag = format!(
        "{:x}{:x}",
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        std::process::id()
    );
    let mut accounts = Vec::new();
    for i in 0..=RECEIVERS {
        accounts.push(server.register(secret, &format!("bench-{tag}-{i}"), "bench password").await?);
    }
    let sender = accounts.remove(0);
    let room = server.create_room(&sender, &format!("bench {tag}")).await.context("creating the room")?;
    let deliveries = Arc::new(Deliveries::default());
    let mut receivers = Vec::new();
    for account in accounts {
        server
            .join(&account, &room)
            .await
            .with_context(|| format!("{} joining the room", account.user_id))?;
        let filter = server.sync_filter(&account).await.context("uploading a sync filter")?;
        let initial = server.sync(&account, &filter, None, 0).await.context("the initial sync")?;
        let (_, since) = room_sync(&initial, &room);
        let since = since.context("no next_batch in the initial sync")?;
        let (server, room, deliveries) = (server.clone(), room.clone(), deliveries.clone());
        receivers.push(tokio::spawn(async move {
            let mut since = since;
            loop {
                let answer = server.sync(&account, &filter, Some(&since), SYNC_TIMEOUT_MS).await;
                let (room_sync, next) = match answer {
                    Ok(sync) => room_sync(&sync, &room),
                    Err(e) => return deliveries.fail(format!("/sync: {e:#}")),
                };
                if room_sync.limited {
                    deliveries.gaps.fetch_add(1, Ordering::Relaxed);
                }
                for body in &room_sync.bodies {
                    deliveries.record(clock, body);
                }
                match next {
                    Some(next) => since = next,
                    None => return deliveries.fail("a /sync answer without next_batch".into()),
                }
            }
        }));
    }
    let sender = Sender::Synapse { server: server.clone(), account: sender, room };
    Ok(Side { sender, next_stretch: 0, deliveries, receivers })
}

/// Signs up a sender and the receivers on Confab, puts them in a fresh channel, and
/// connects each receiver's WebSocket.
async fn confab_side(base: &str, clock: Clock) -> anyhow::Result<Side> {
    let team = setup::team(base, RECEIVERS + 1).await?;
    let channel = setup::channel_with(&team, "peer", &team.people).await?;
    let deliveries = Arc::new(Deliveries::default());
    let mut receivers = Vec::new();
    for person in &team.people[1..] {
        let mut live: Live = person.client.connect(&[]).await.context("connecting a receiver")?;
        let deliveries = deliveries.clone();
        receivers.push(tokio::spawn(async move {
            loop {
                match live.next(Duration::from_secs(3600)).await {
                    Ok(ServerFrame::Event { event: Event::MessageCreated { message }, .. }) => {
                        deliveries.record(clock, &message.text);
                    }
                    Ok(ServerFrame::Closed { code, reason }) => {
                        return deliveries.fail(format!("the server closed a receiver ({code:?} {reason})"));
                    }
                    Ok(_) => {}
                    Err(e) => return deliveries.fail(format!("a receiver: {e}")),
                }
            }
        }));
    }
    let sender = Sender::Confab { client: team.people[0].client.clone(), channel };
    Ok(Side { sender, next_stretch: 0, deliveries, receivers })
}

/// The Markdown table of both servers' figures side by side: send is a post's request
/// → answer, delivery its send's start → each receiver reading it.
fn side_by_side(version: &str, duration: f64, closed: [&Stretch; 2], at_rate: [&Stretch; 2]) -> String {
    let rate = match at_rate[0].pace {
        Pace::Rate(r) => r,
        Pace::ClosedLoop => at_rate[0].answered_per_second(),
    };
    let mut rows = vec![
        format!(
            "| 1 sender → {RECEIVERS} receivers, {duration} s each | Synapse {version} | Confab | Confab / Synapse |"
        ),
        "|---|---|---|---|".to_string(),
    ];
    for (label, [s, c]) in [
        ("closed loop".to_string(), closed),
        (format!("at {rate} msg/s (Synapse's highest sustained)"), at_rate),
    ] {
        rows.push(format!(
            "| {label}: msg/s answered / delivered | {:.1} / {:.1} | {} / {} | {} |",
            s.answered_per_second(),
            s.delivered_per_second(),
            thousands(c.answered_per_second()),
            thousands(c.delivered_per_second()),
            ratio(c.answered_per_second(), s.answered_per_second())
        ));
        for (what, ls, lc) in [
            ("send", s.send_latency(), c.send_latency()),
            ("delivery", s.delivery_latency(), c.delivery_latency()),
        ] {
            rows.push(format!(
                "| {label}: {what} p50 / p99 ms | {:.1} / {:.1} | {:.2} / {:.2} | {} / {} |",
                ls.quantile_ms(0.5),
                ls.quantile_ms(0.99),
                lc.quantile_ms(0.5),
                lc.quantile_ms(0.99),
                ratio(lc.quantile_ms(0.5), ls.quantile_ms(0.5)),
                ratio(lc.quantile_ms(0.99), ls.quantile_ms(0.99))
            ));
        }
        rows.push(format!(
            "| {label}: deliveries | {} of {} | {} of {} | |",
            thousands(s.deliveries.len() as f64),
            thousands((s.acked() * RECEIVERS) as f64),
            thousands(c.deliveries.len() as f64),
            thousands((c.acked() * RECEIVERS) as f64)
        ));
    }
    rows.join("\n")
}

/// `a / b` as `0.012×` or `79×`.
fn ratio(a: f64, b: f64) -> String {
    if b <= 0.0 {
        return "–".into();
    }
    let r = a / b;
    if r >= 10.0 {
        format!("{r:.0}×")
    } else if r >= 0.1 {
        format!("{r:.2}×")
    } else {
        format!("{r:.3}×")
    }
}

/// The 1, 5 and 15 minute load averages, as `uptime` shows them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_survives_the_round_trip_and_nothing_else_parses() {
        let m = Marker { stretch: 3, seq: 41, sent_us: 1_234_567 };
        assert_eq!(m.text(), "bench 3 41 1234567");
        assert_eq!(Marker::parse(&m.text()), Some(m));
        assert_eq!(Marker::parse("bench 3 41"), None);
        assert_eq!(Marker::parse("bench 3 41 5 extra"), None);
        assert_eq!(Marker::parse("hello"), None);
        assert_eq!(Marker::parse("bench x 41 5"), None);
    }

    #[test]
    fn growth_is_a_latency_that_climbs_through_the_stretch() {
        // 40 messages 100 ms apart: the quarters' middles are 3 s apart, and a server
        // 5% short of the rate would add 150 ms over them.
        let flat = (0..40).map(|seq| (seq, 100_000 + (seq % 3) * 10_000));
        assert_eq!(growth(flat, 40, 100.0), None);
        // Each message waits 20 ms longer than the one before: 20% short.
        let climbing = (0..40).map(|seq| (seq, 100_000 + seq * 20_000));
        // Medians of messages 0–9 and 30–39: those of messages 5 and 35.
        assert_eq!(growth(climbing, 40, 100.0), Some((200.0, 800.0)));
        // One step from 40 to 160 ms when requests start to queue, then flat: kept up.
        let step = (0..40).map(|seq| (seq, if seq < 8 { 40_000 } else { 160_000 }));
        assert_eq!(quarters(step.clone(), 40), Some((40.0, 160.0)));
        assert_eq!(growth(step, 40, 100.0), None);
        // Too few messages to tell.
        assert_eq!(growth((0..4).map(|seq| (seq, seq * 1_000_000)), 4, 100.0), None);
    }

    #[test]
    fn a_stretch_falls_short_when_answers_lag_or_deliveries_are_missing() {
        let sent: Vec<Sent> =
            (0..100).map(|seq| Sent { seq, started_us: seq * 100_000, latency_us: 50_000 }).collect();
        let deliveries = |n: u64| {
            (0..n)
                .flat_map(|seq| {
                    (0..RECEIVERS as u64).map(move |_| Delivery {
                        seq,
                        latency_us: 80_000,
                        at_us: seq * 100_000 + 80_000,
                    })
                })
                .collect::<Vec<_>>()
        };
        let stretch = |rate: f64, delivered: u64| Stretch {
            pace: Pace::Rate(rate),
            sent: sent.clone(),
            failed: 0,
            first_failure: None,
            blocked: false,
            deliveries: deliveries(delivered),
            gaps: 0,
            receiver_failure: None,
        };
        // 100 posts answered 0.1 s apart: 10 msg/s kept up with.
        assert_eq!(stretch(10.0, 100).shortfall(), None);
        // The same answers against 20 msg/s offered: half the rate.
        assert!(stretch(20.0, 100).shortfall().is_some_and(|w| w.contains("answered")));
        // A message that never reached the receivers.
        assert!(stretch(10.0, 99).shortfall().is_some_and(|w| w.contains("deliveries")));
        // A closed loop has no rate to fall short of.
        let closed = Stretch { pace: Pace::ClosedLoop, ..stretch(10.0, 0) };
        assert_eq!(closed.shortfall(), None);
    }

    #[test]
    fn rates_count_over_the_span_of_the_answers() {
        // 11 answers 0.1 s apart, however late the first came: 10 a second.
        let answers = (0..11).map(|i| 5_000_000 + i * 100_000);
        assert!((span_rate(answers, 1) - 10.0).abs() < 1e-9);
        // 4 receivers each seeing 11 messages over the same second.
        let deliveries = (0..11).flat_map(|i| [i * 100_000; RECEIVERS]);
        assert!((span_rate(deliveries, RECEIVERS) - 10.0).abs() < 1e-9);
        assert_eq!(span_rate([7].into_iter(), 1), 0.0);
    }

    #[test]
    fn ratios_keep_two_significant_figures() {
        assert_eq!(ratio(1.0, 100.0), "0.010×");
        assert_eq!(ratio(50.0, 100.0), "0.50×");
        assert_eq!(ratio(1234.0, 13.0), "95×");
        assert_eq!(ratio(1.0, 0.0), "–");
    }
}
