//! `hostile`: the legitimate users' live delivery (1 sender → 4 receivers in one
//! channel at `--live-rate` msg/s, as in `fanout`) measured twice on one server:
//! without attackers, then while attackers
//!
//! - flood resume lists: `auth` frames whose `resume` names the busy workspace
//!   2,000 times, the attacker's own workspaces, and 500 workspaces that do not
//!   exist, alternately from `after: 0` and from 9,000 events before the head (the
//!   most the server replays rather than answering `resync` at once); the socket is
//!   not read for 3 s, then read for up to 3 s to see what the server sent;
//! - keep sockets open that never read: subscribers of the busy workspace (members
//!   of the busy channel), and sockets that send frames answered by errors (unknown
//!   types, broken JSON, binary, `send` to a channel that does not exist) without
//!   reading the replies. Their receive buffer is 4 KiB, so the server's writes
//!   back up quickly;
//! - flood edits (`PATCH /messages/{id}` with `limits.max_message_chars` of text) and
//!   reactions (`PUT`/`DELETE /messages/{id}/reactions/{emoji}`) on their own
//!   messages in the busy channel, so every accepted one is delivered to the
//!   legitimate receivers too;
//! - flood log-ins (wrong passwords for the sender's email, and unknown emails) and
//!   sign-ups from `--attack-addresses` client addresses.
//!
//! The server runs with the limits of `config/default.toml` (stated in [`LIMITS`]),
//! real password hashing, and two changes: the message and frame rates are raised to
//! twice `--live-rate` so the one legitimate sender can post at that rate, and
//! `server.trusted_proxies = ["127.0.0.1"]` — the server sits behind a local reverse
//! proxy — so the attackers can name their client address in `X-Forwarded-For`
//! (loopback offers only one real address). The legitimate users send no
//! `X-Forwarded-For`: their address is 127.0.0.1, the one they signed up from.
//!
//! Reported: the legitimate send→delivery latency in both phases and its ratio, the
//! server's peak RSS in each phase (`/proc/PID/status` VmRSS sampled every 100 ms,
//! and VmHWM after resetting it) and what the attack adds to it beyond the configured
//! password-hashing memory, the store's growth (its records, keys and values, read
//! from a backup after each phase) in both phases next to what the limits admit, the
//! data dir's growth, a log-in of the legitimate user
//! every 2 s, and how every attack was answered (HTTP statuses, close codes, and the
//! server's own counters from its metrics listener).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use confab_core::{ChannelId, WorkspaceId};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, client_async_with_config};

use super::fanout::{Phase, measure};
use super::{Ctx, Running, secs};
use crate::report::{Latency, thousands};
use crate::server::{dir_size, peak_rss_kib, reset_peak_rss, rss_kib, wait_until_quiet};
use crate::wire::{self, Socket};
use crate::{Options, setup};

/// The limits the attacks run into: `config/default.toml`'s values, passed to the
/// server explicitly so that the report can put its figures next to them.
struct Limits {
    argon2_memory_kib: u64,
    login_hashes: u64,
    signup_hashes: u64,
    max_message_chars: usize,
    writes_per_second: u64,
    write_burst: u64,
    text_bytes_per_second: u64,
    text_burst_bytes: u64,
    signups_per_address: u64,
    signup_refill_secs: u64,
    queue_frames: u64,
    direct_queue_frames: u64,
    replay_budget_bytes: u64,
    write_timeout_secs: u64,
    close_timeout_secs: u64,
}

const LIMITS: Limits = Limits {
    argon2_memory_kib: 19_456,
    login_hashes: 2,
    signup_hashes: 1,
    max_message_chars: 40_000,
    writes_per_second: 10,
    write_burst: 100,
    text_bytes_per_second: 32 * 1024,
    text_burst_bytes: 512 * 1024,
    signups_per_address: 10,
    signup_refill_secs: 60,
    queue_frames: 1024,
    direct_queue_frames: 256,
    replay_budget_bytes: 8 * 1024 * 1024,
    write_timeout_secs: 30,
    close_timeout_secs: 10,
};

/// Target: the legitimate p99 with attackers within this factor of the p99 without.
const TARGET_RATIO: f64 = 2.0;
/// Target: the server's peak RSS with attackers above its peak without them (the same
/// legitimate load), beyond the memory of the configured concurrent password hashes.
const TARGET_RSS_MIB: f64 = 64.0;
/// The attackers' sockets get a receive buffer this small (the kernel doubles it).
const ATTACK_RCVBUF: u32 = 4096;
/// The legitimate users' password (`setup`).
const PASSWORD: &str = "bench password";
/// How long a resume attacker leaves its socket unread, then how long it reads.
const RESUME_HOLD: Duration = Duration::from_secs(3);
const DRAIN: Duration = Duration::from_secs(3);
/// Frames per second each error-flooding socket sends.
const ERROR_FRAME_RATE: f64 = 1000.0;
/// An error-flooding socket reconnects after this long, or when a write stalls this long.
const ERROR_SOCKET_LIFE: Duration = Duration::from_secs(15);
const WRITE_STALL: Duration = Duration::from_secs(2);
/// Requests of one HTTP flood in flight at once; ticks past it are counted, not sent.
const MAX_IN_FLIGHT: usize = 16;
/// Reactions the attackers cycle through (shortcodes, so the path needs no escaping).
const EMOJI: [&str; 10] =
    ["thumbsup", "tada", "heart", "smile", "rocket", "eyes", "fire", "clap", "wave", "star"];

fn server_env(o: &Options) -> Vec<(String, String)> {
    let legit = ((o.live_rate * 2.0).ceil() as u64).max(100).to_string();
    let l = &LIMITS;
    [
        // Real password hashing (config/default.toml), not the bench's cheap one.
        ("CONFAB_AUTH_ARGON2_MEMORY_KIB", l.argon2_memory_kib.to_string()),
        ("CONFAB_AUTH_ARGON2_ITERATIONS", "2".into()),
        ("CONFAB_AUTH_MAX_CONCURRENT_HASHES", l.login_hashes.to_string()),
        ("CONFAB_AUTH_MAX_CONCURRENT_SIGNUP_HASHES", l.signup_hashes.to_string()),
        // What the one legitimate sender needs to post at --live-rate over one socket.
        ("CONFAB_LIMITS_MESSAGES_PER_SECOND", legit.clone()),
        ("CONFAB_LIMITS_MESSAGE_BURST", legit.clone()),
        ("CONFAB_LIMITS_FRAMES_PER_SECOND", legit.clone()),
        ("CONFAB_LIMITS_FRAME_BURST", legit),
        ("CONFAB_LIMITS_INVITE_MAX_USES", "1000".into()),
        // The defaults the attacks run into, stated.
        ("CONFAB_LIMITS_MAX_MESSAGE_CHARS", l.max_message_chars.to_string()),
        ("CONFAB_LIMITS_WRITES_PER_SECOND", l.writes_per_second.to_string()),
        ("CONFAB_LIMITS_WRITE_BURST", l.write_burst.to_string()),
        ("CONFAB_LIMITS_TEXT_BYTES_PER_SECOND", l.text_bytes_per_second.to_string()),
        ("CONFAB_LIMITS_TEXT_BURST_BYTES", l.text_burst_bytes.to_string()),
        ("CONFAB_AUTH_SIGNUPS_PER_ADDRESS", l.signups_per_address.to_string()),
        ("CONFAB_AUTH_SIGNUP_REFILL_SECS", l.signup_refill_secs.to_string()),
        ("CONFAB_WEBSOCKET_QUEUE_FRAMES", l.queue_frames.to_string()),
        ("CONFAB_WEBSOCKET_DIRECT_QUEUE_FRAMES", l.direct_queue_frames.to_string()),
        ("CONFAB_WEBSOCKET_REPLAY_BUDGET_BYTES", l.replay_budget_bytes.to_string()),
        ("CONFAB_WEBSOCKET_WRITE_TIMEOUT_SECS", l.write_timeout_secs.to_string()),
        ("CONFAB_WEBSOCKET_CLOSE_TIMEOUT_SECS", l.close_timeout_secs.to_string()),
        // Behind a local reverse proxy; metrics on a port of their own.
        ("CONFAB_SERVER_TRUSTED_PROXIES", "127.0.0.1".into()),
        ("CONFAB_SERVER_METRICS_LISTEN", "127.0.0.1:0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Outcomes of the attacks, counted per kind of attack.
#[derive(Default)]
struct Answers(Mutex<BTreeMap<&'static str, BTreeMap<String, u64>>>);

impl Answers {
    fn add_n(&self, what: &'static str, outcome: impl Into<String>, n: u64) {
        if n == 0 {
            return;
        }
        if let Ok(mut m) = self.0.lock() {
            *m.entry(what).or_default().entry(outcome.into()).or_default() += n;
        }
    }

    fn add(&self, what: &'static str, outcome: impl Into<String>) {
        self.add_n(what, outcome, 1);
    }

    fn get(&self, what: &str, outcome: &str) -> u64 {
        self.0.lock().ok().and_then(|m| m.get(what).and_then(|o| o.get(outcome).copied())).unwrap_or(0)
    }

    /// How many requests of any kind were answered with a server error (5xx).
    fn server_errors(&self) -> u64 {
        let Ok(m) = self.0.lock() else { return 0 };
        m.values()
            .flat_map(|outcomes| outcomes.iter())
            .filter(|(o, _)| o.starts_with('5'))
            .map(|(_, n)| n)
            .sum()
    }

    /// `kind → "outcome ×n, …"`, most frequent first.
    fn lines(&self) -> Vec<(&'static str, String)> {
        let Ok(m) = self.0.lock() else { return Vec::new() };
        m.iter()
            .map(|(what, outcomes)| {
                let mut v: Vec<_> = outcomes.iter().collect();
                v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let text =
                    v.iter().map(|(o, n)| format!("{o} ×{}", thousands(**n as f64))).collect::<Vec<_>>();
                (*what, text.join(", "))
            })
            .collect()
    }
}

/// An attacker account: a member of the busy workspace and channel, with a message
/// of its own there, and a few workspaces of its own.
struct Attacker {
    token: String,
    message: String,
    workspaces: Vec<WorkspaceId>,
}

/// Everything the attack tasks share.
struct Target {
    base: String,
    http: reqwest::Client,
    workspace: WorkspaceId,
    attackers: Vec<Attacker>,
    /// The legitimate sender's email, for the wrong-password flood.
    victim_email: String,
    /// The busy workspace's `event_seq`, as the last hello told it.
    head: AtomicU64,
    answers: Answers,
    tag: String,
}

/// What one phase measured.
struct PhaseResult {
    latency: Latency,
    deliveries: u64,
    expected: u64,
    peak_kib: Option<u64>,
    /// `/proc/PID/status` at the sampled peak.
    peak_detail: String,
    store_growth: u64,
    /// The growth of each top-level entry of the data dir (`store`, `index`, …).
    growth_by_part: BTreeMap<String, u64>,
    secs: f64,
    login: Latency,
    login_outcomes: BTreeMap<String, u64>,
    /// Sent and acknowledged by the legitimate sender, and how the server ended its
    /// connection (if it did).
    sent: u64,
    acked: u64,
    sender_lost: Option<String>,
    /// Close codes of the legitimate receivers the server closed.
    receivers_closed: Vec<Option<u16>>,
}

pub async fn run(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let o = &ctx.o;
    let label = format!("1 sender → 4 receivers at {} msg/s", o.live_rate);
    println!(
        "\n== hostile: {label}, {} s without and {} s with attackers ({} accounts, {} addresses)",
        o.hostile_duration, o.hostile_duration, o.attackers, o.attack_addresses
    );
    let server = ctx.fresh_confab(&server_env(o)).await?;
    let result = run_on(ctx, &server, &label).await;
    server.stop().await?;
    result
}

async fn run_on(ctx: &Ctx<'_>, server: &Running, label: &str) -> anyhow::Result<()> {
    let o = &ctx.o;
    let r = ctx.report;
    let pid = server.pid.context("the hostile scenario needs the server's PID")?;
    let dir = server.data_dir().context("the hostile scenario needs the server's data dir")?.to_path_buf();
    let started = Instant::now();

    // The legitimate team (from 127.0.0.1, within its sign-up allowance) and the attackers.
    let team = setup::team(&server.base, 5).await?;
    let channel = setup::channel_with(&team, "live", &team.people).await?;
    let owner = &team.people[0];
    let victim_email = owner.client.me().await.context("GET /me")?.email;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let tag = format!("{:x}", rand::rng().random::<u32>());
    let invite =
        owner.client.create_invite(team.workspace, &setup::invite_for(1000)).await.context("invite")?;
    let mut attackers = Vec::new();
    for i in 0..o.attackers.max(1) {
        attackers.push(enlist(&server.base, &http, &tag, i, &invite.code, channel).await?);
    }
    println!(
        "  set-up: 5 users, {} attacker accounts in {:.1} s",
        attackers.len(),
        started.elapsed().as_secs_f64()
    );
    let auths: Vec<String> = team.people.iter().map(|p| wire::auth_frame(&p.token)).collect();
    let target = Arc::new(Target {
        base: server.base.clone(),
        http,
        workspace: team.workspace,
        attackers,
        victim_email,
        head: AtomicU64::new(0),
        answers: Answers::default(),
        tag,
    });

    // Phase 1: no attackers.
    let bin = ctx.bin()?;
    let records_at_start = record_bytes(bin, &dir).await?;
    let idle_kib = settle(pid).await;
    println!("  settled RSS before the first phase: {:.1} MiB", idle_kib as f64 / 1024.0);
    let quiet = run_phase(ctx, &target, &auths, channel, &dir, pid, false).await?;
    let records_after_quiet = record_bytes(bin, &dir).await?;
    // Phase 2: the same, with attackers.
    let before_attack_kib = settle(pid).await;
    println!("  settled RSS before the attack: {:.1} MiB", before_attack_kib as f64 / 1024.0);
    let metrics_before = scrape_metrics(server).await;
    let attacked = run_phase(ctx, &target, &auths, channel, &dir, pid, true).await?;
    let metrics_after = scrape_metrics(server).await;
    let records_after_attack = record_bytes(bin, &dir).await?;
    let records_quiet = records_after_quiet.saturating_sub(records_at_start);
    let records_attacked = records_after_attack.saturating_sub(records_after_quiet);

    // Latency.
    for (name, p) in [("without attackers", &quiet), ("with attackers", &attacked)] {
        r.info("hostile", &format!("{name}: {label}, send→delivery"), p.latency.summary());
        let closed = p
            .receivers_closed
            .iter()
            .map(|c| c.map_or("without a close frame".to_string(), |c| format!("code {c}")))
            .collect::<Vec<_>>();
        r.info(
            "hostile",
            &format!("{name}: sent / acked / deliveries"),
            format!(
                "{} / {} / {} of {}{}{}",
                thousands(p.sent as f64),
                thousands(p.acked as f64),
                thousands(p.deliveries as f64),
                thousands(p.expected as f64),
                p.sender_lost
                    .as_ref()
                    .map(|l| format!("; the sender's connection was {l}"))
                    .unwrap_or_default(),
                if closed.is_empty() {
                    String::new()
                } else {
                    format!("; receivers closed: {}", closed.join(", "))
                }
            ),
        );
    }
    let (q50, q99) = (quiet.latency.quantile_ms(0.5), quiet.latency.quantile_ms(0.99));
    let (a50, a99) = (attacked.latency.quantile_ms(0.5), attacked.latency.quantile_ms(0.99));
    let ratio99 = a99 / q99.max(0.001);
    r.target(
        "hostile",
        "with / without attackers: send→delivery p50, p99",
        format!(
            "p50 {:.2}× ({q50:.2} → {a50:.2} ms), p99 {ratio99:.2}× ({q99:.2} → {a99:.2} ms)",
            a50 / q50.max(0.001)
        ),
        "p99 ≤ 2×",
        ratio99 <= TARGET_RATIO
            && attacked.sender_lost.is_none()
            && attacked.receivers_closed.is_empty()
            && attacked.deliveries == attacked.expected,
    );

    // Memory.
    let mib = |kib: u64| kib as f64 / 1024.0;
    r.info(
        "hostile",
        "server RSS: settled before phase 1 / before the attack",
        format!("{:.1} / {:.1} MiB", mib(idle_kib), mib(before_attack_kib)),
    );
    if let Some(peak) = quiet.peak_kib {
        r.info(
            "hostile",
            "without attackers: peak RSS above the settled size",
            format!(
                "{:.1} MiB (peak {:.1}; {})",
                mib(peak.saturating_sub(idle_kib)),
                mib(peak),
                quiet.peak_detail
            ),
        );
    }
    if let Some(peak) = attacked.peak_kib {
        r.info(
            "hostile",
            "with attackers: peak RSS above the settled size before the attack",
            format!(
                "{:.1} MiB (peak {:.1}; {})",
                mib(peak.saturating_sub(before_attack_kib)),
                mib(peak),
                attacked.peak_detail
            ),
        );
    }
    if let (Some(quiet_peak), Some(attacked_peak)) = (quiet.peak_kib, attacked.peak_kib) {
        // What the attack adds: both phases carry the same legitimate load, whose own
        // growth (sled's page cache filling, the index writer's buffers) is not the
        // attack's. Password hashes hold `argon2_memory_kib` each while they run, up to
        // the configured number at once: memory the server spends on any log-in and
        // sign-up load, bounded by configuration, and stated apart.
        let added = mib(attacked_peak.saturating_sub(quiet_peak));
        let hashing = mib(LIMITS.argon2_memory_kib * (LIMITS.login_hashes + LIMITS.signup_hashes));
        r.target(
            "hostile",
            "with attackers: peak RSS above the peak without them, beyond the configured hashing memory",
            format!(
                "{:.1} MiB ({added:.1} MiB added, of which up to {hashing:.1} MiB is argon2_memory_kib × {} concurrent hashes)",
                (added - hashing).max(0.0),
                LIMITS.login_hashes + LIMITS.signup_hashes
            ),
            "≤ 64 MiB",
            added - hashing <= TARGET_RSS_MIB,
        );
    }

    // Disk.
    let a = &target.answers;
    let accounts = target.attackers.len() as u64;
    let attack_secs = attacked.secs;
    let l = &LIMITS;
    let writes_allowed =
        accounts * (l.write_burst + (l.writes_per_second as f64 * attack_secs).ceil() as u64);
    let edit_bytes = edit_text(0, l.max_message_chars).len() as u64;
    // Edits also draw on the per-account text allowance.
    let text_allowed =
        accounts * (l.text_burst_bytes + (l.text_bytes_per_second as f64 * attack_secs).ceil() as u64);
    let edits_allowed = writes_allowed.min(text_allowed / edit_bytes + accounts);
    let addresses = o.attack_addresses.clamp(1, 250) as u64;
    let signups_allowed =
        addresses * (l.signups_per_address + (attack_secs / l.signup_refill_secs as f64).floor() as u64);
    let edits_ok = a.get("edit (PATCH, max_message_chars of text)", "200");
    let reactions_ok = a.get("reaction (PUT/DELETE)", "200");
    let signups_ok = a.get("sign-up", "201");
    let mb = |b: u64| b as f64 / 1_000_000.0;
    r.info(
        "hostile",
        "store growth without / with attackers",
        format!(
            "{:.1} / {:.1} MB over {:.0} / {:.0} s (until the last attack request was answered)",
            mb(quiet.store_growth),
            mb(attacked.store_growth),
            quiet.secs,
            attacked.secs
        ),
    );
    let parts = attacked
        .growth_by_part
        .iter()
        .filter(|(_, bytes)| **bytes > 0)
        .map(|(part, bytes)| {
            let quiet_bytes = quiet.growth_by_part.get(part).copied().unwrap_or(0);
            format!("{part} {:.1} / {:.1}", mb(quiet_bytes), mb(*bytes))
        })
        .collect::<Vec<_>>();
    r.info("hostile", "data dir growth by part without / with attackers (MB)", parts.join(", "));
    // The store is measured by its records, keys and values (from a backup): that is
    // what the limits bound. sled's log keeps old versions of pages until it reclaims
    // their segments, so the data dir grows by a multiple of it, and by how much
    // depends on when segments are reclaimed; the ratio is shown for both phases.
    let amplification = |disk: u64, records: u64| disk as f64 / records.max(1) as f64;
    r.info(
        "hostile",
        "store records written without / with attackers (keys and values, from a backup)",
        format!(
            "{:.1} / {:.1} MB; the data dir grew {:.1}× / {:.1}× that",
            mb(records_quiet),
            mb(records_attacked),
            amplification(quiet.store_growth, records_quiet),
            amplification(attacked.store_growth, records_attacked)
        ),
    );
    // The legitimate messages' share of the attack phase's records, at the first
    // phase's bytes per message.
    let per_message = records_quiet as f64 / quiet.sent.max(1) as f64;
    let extra = records_attacked.saturating_sub((per_message * attacked.sent as f64) as u64);
    // What the limits admit: the edits of the longest text the write and text
    // allowances let through, every other allowed write a reaction (well under 1 KB
    // each), plus the sign-ups the per-address allowance lets through.
    let bound = edits_allowed * edit_bytes + writes_allowed * 1024 + signups_allowed * 4096;
    r.target(
        "hostile",
        "store records added by the attack (minus the legitimate messages) vs what the limits admit",
        format!(
            "{:.1} MB; admitted: {} of ≤ {} writes ({} of ≤ {} edits of {:.0} KB, {} reactions), {} of ≤ {} sign-ups: ≤ {:.1} MB",
            mb(extra),
            thousands((edits_ok + reactions_ok) as f64),
            thousands(writes_allowed as f64),
            thousands(edits_ok as f64),
            thousands(edits_allowed as f64),
            edit_bytes as f64 / 1000.0,
            thousands(reactions_ok as f64),
            thousands(signups_ok as f64),
            thousands(signups_allowed as f64),
            mb(bound)
        ),
        "within the limits",
        edits_ok + reactions_ok <= writes_allowed && edits_ok <= edits_allowed && signups_ok <= signups_allowed && extra <= bound,
    );

    // The legitimate user's log-ins.
    for (name, p) in [("without attackers", &quiet), ("with attackers", &attacked)] {
        let outcomes = p.login_outcomes.iter().map(|(k, v)| format!("{k} ×{v}")).collect::<Vec<_>>();
        r.info(
            "hostile",
            &format!("{name}: the sender's own log-in every 2 s"),
            format!("{} [{}]", p.login.summary(), outcomes.join(", ")),
        );
    }
    // An attack is refused (429, 4xx), never a failure of the server's own.
    let server_errors = a.server_errors();
    r.target(
        "hostile",
        "attack requests the server failed (5xx)",
        thousands(server_errors as f64),
        "0",
        server_errors == 0,
    );
    // How the attackers were answered.
    for (what, text) in a.lines() {
        r.info("hostile", &format!("attack: {what}"), text);
    }
    if let (Some(before), Some(after)) = (metrics_before, metrics_after) {
        let mut parts = Vec::new();
        for (name, value) in &after {
            let delta = value - before.get(name).copied().unwrap_or(0.0);
            parts.push(format!("{} +{}", name.trim_start_matches("confab_"), thousands(delta)));
        }
        r.info("hostile", "server counters during the attack", parts.join(", "));
    }
    println!("  hostile total {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Waits until the server is quiet and has handed freed memory back (it does every
/// 10 s); returns its RSS in KiB.
async fn settle(pid: u32) -> u64 {
    wait_until_quiet(pid, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    rss_kib(pid).unwrap_or(0)
}

/// One measured phase: the live-delivery load, the RSS sampler, the log-in probe and,
/// if `attack`, every attacker (started 3 s before the load and stopped after it).
async fn run_phase(
    ctx: &Ctx<'_>,
    target: &Arc<Target>,
    auths: &[String],
    channel: ChannelId,
    dir: &std::path::Path,
    pid: u32,
    attack: bool,
) -> anyhow::Result<PhaseResult> {
    let o = &ctx.o;
    println!("  -- phase {}", if attack { "with attackers" } else { "without attackers" });
    let hwm_ok = reset_peak_rss(pid).is_ok();
    let store_before = dir_size(dir);
    let parts_before = part_sizes(dir);
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(sample_rss(pid, stop_rx.clone()));
    let probe = tokio::spawn(login_probe(target.clone(), stop_rx.clone()));
    let started = Instant::now();
    let attackers_runtime = if attack { Some(attacker_runtime(o.attacker_nice)?) } else { None };
    let attack_tasks = if let Some(runtime) = &attackers_runtime {
        let tasks = start_attacks(o, target, stop_rx.clone(), runtime.handle());
        tokio::time::sleep(secs(o.attack_warmup)).await;
        tasks
    } else {
        JoinSet::new()
    };
    let phases = vec![Phase {
        interval: secs(1.0 / o.live_rate.max(1.0)),
        count: (o.live_rate * o.hostile_duration).ceil() as u64,
    }];
    let f =
        measure(&target.base, auths[1..].to_vec(), 4, auths[0].clone(), channel.to_string(), phases).await;
    let _ = stop_tx.send(true);
    let mut attack_tasks = attack_tasks;
    let joined = tokio::time::timeout(Duration::from_secs(60), async {
        while attack_tasks.join_next().await.is_some() {}
    })
    .await;
    if joined.is_err() {
        println!("  some attack tasks did not stop within 60 s; aborting them");
        attack_tasks.abort_all();
    }
    if let Some(runtime) = attackers_runtime {
        runtime.shutdown_background();
    }
    // Until the last attack request was answered: the limits count admissions, and
    // requests sent before the stop may be admitted after it.
    let secs_run = started.elapsed().as_secs_f64();
    let store_after = dir_size(dir);
    let parts_after = part_sizes(dir);
    let (sampled, peak_detail) = sampler.await.unwrap_or_default();
    let hwm = if hwm_ok { peak_rss_kib(pid).ok() } else { None };
    let (login, login_outcomes) = probe.await.unwrap_or_default();
    let f = f?;
    let receivers_closed = f.close_codes;
    let p = f.phases.into_iter().next().context("no phase measured")?;
    println!(
        "  {} of {} deliveries; store {:.1} → {:.1} MB; peak RSS sampled {:?} KiB ({peak_detail}), VmHWM {:?} KiB",
        p.deliveries,
        p.expected,
        store_before as f64 / 1e6,
        store_after as f64 / 1e6,
        sampled,
        hwm
    );
    Ok(PhaseResult {
        latency: p.latency,
        deliveries: p.deliveries,
        expected: p.expected,
        peak_kib: sampled.max(hwm),
        peak_detail,
        store_growth: store_after.saturating_sub(store_before),
        growth_by_part: parts_after
            .into_iter()
            .map(|(part, after)| {
                let before = parts_before.get(&part).copied().unwrap_or(0);
                (part, after.saturating_sub(before))
            })
            .collect(),
        secs: secs_run,
        login,
        login_outcomes,
        sent: p.sent,
        acked: p.acked,
        sender_lost: p.sender_lost,
        receivers_closed,
    })
}

/// The size of each top-level entry of `dir` (the store, the index, files, …).
fn part_sizes(dir: &std::path::Path) -> BTreeMap<String, u64> {
    let Ok(entries) = std::fs::read_dir(dir) else { return BTreeMap::new() };
    entries
        .flatten()
        .map(|e| {
            let size = match e.metadata() {
                Ok(m) if m.is_dir() => dir_size(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            };
            (e.file_name().to_string_lossy().into_owned(), size)
        })
        .collect()
}

/// The highest VmRSS seen, sampled every 100 ms until `stop`, with the
/// `RssAnon` / `RssFile` / `Threads` lines of `/proc/PID/status` at that moment.
async fn sample_rss(pid: u32, mut stop: watch::Receiver<bool>) -> (Option<u64>, String) {
    let mut peak = None;
    let mut detail = String::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while !*stop.borrow() {
        tokio::select! {
            _ = tick.tick() => {
                if let Ok(kib) = rss_kib(pid)
                    && Some(kib) > peak
                {
                    peak = Some(kib);
                    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                        detail = status
                            .lines()
                            .filter(|l| ["RssAnon:", "RssFile:", "Threads:"].iter().any(|f| l.starts_with(f)))
                            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                            .collect::<Vec<_>>()
                            .join(", ");
                    }
                }
            }
            _ = stop.changed() => {}
        }
    }
    (peak, detail)
}

/// The legitimate sender logs in with the right password from its own address every
/// 2 s: how long it takes and what it gets.
async fn login_probe(
    target: Arc<Target>,
    mut stop: watch::Receiver<bool>,
) -> (Latency, BTreeMap<String, u64>) {
    let mut latency = Latency::default();
    let mut outcomes = BTreeMap::new();
    let body = json!({ "email": target.victim_email, "password": PASSWORD }).to_string();
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.tick().await;
    while !*stop.borrow() {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => continue,
        }
        let t = Instant::now();
        let outcome = http(&target, Method::POST, "/auth/login", None, None, Some(body.clone())).await;
        latency.record_us(t.elapsed().as_micros() as u64);
        *outcomes.entry(outcome).or_default() += 1;
    }
    (latency, outcomes)
}

/// One HTTP request to `/api/v1{path}`; its status (or what went wrong).
async fn http(
    t: &Target,
    method: Method,
    path: &str,
    token: Option<&str>,
    forwarded_for: Option<&str>,
    body: Option<String>,
) -> String {
    let mut request = t.http.request(method, format!("{}/api/v1{path}", t.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            status.to_string()
        }
        Err(e) if e.is_timeout() => "timed out".into(),
        Err(_) => "connection error".into(),
    }
}

/// Signs an attacker up (from its own forwarded address), into the busy workspace and
/// channel, with a message there and two workspaces of its own.
async fn enlist(
    base: &str,
    http: &reqwest::Client,
    tag: &str,
    i: usize,
    invite: &str,
    channel: ChannelId,
) -> anyhow::Result<Attacker> {
    let body = json!({
        "email": format!("attacker-{tag}-{i}@bench.test"),
        "password": "attacker password",
        "display_name": format!("Attacker {i}"),
        "username": format!("x{tag}-{i}"),
    });
    let response = http
        .post(format!("{base}/api/v1/auth/signup"))
        .header("x-forwarded-for", format!("198.51.100.{}", i % 250 + 1))
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let session: Value = response.json().await?;
    let token = session["token"].as_str().with_context(|| format!("attacker sign-up: {status} {session}"))?;
    let client = confab_client::Client::new(base).with_token(token);
    client.accept_invite(invite).await.context("attacker accepts the invite")?;
    client.join(channel).await.context("attacker joins the channel")?;
    let message = client.post(channel, "x attacker's message").await.context("attacker posts")?;
    let mut workspaces = Vec::new();
    for w in 0..2 {
        workspaces.push(client.create_workspace(&format!("Attack {tag} {i} {w}")).await?.workspace.id);
    }
    Ok(Attacker { token: token.to_string(), message: message.id.to_string(), workspaces })
}

/// The attackers' own runtime: two threads at nice value `nice`, so that the
/// attackers' client-side work competes with the server only as much as `nice` says.
fn attacker_runtime(nice: i32) -> anyhow::Result<tokio::runtime::Runtime> {
    let nice = nice.clamp(0, 19);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("attacker")
        .enable_all()
        .on_thread_start(move || {
            // Linux: the nice value is per thread, so only the attackers' threads yield.
            let _ = rustix::process::setpriority_process(None, nice);
        })
        .build()
        .context("the attackers' runtime")
}

/// What the store's records take (keys and values), from a backup of the running
/// server through its admin socket (`confab backup`, whose report says so): the
/// data dir's size also counts the old page versions sled has not reclaimed yet.
async fn record_bytes(bin: &std::path::Path, data_dir: &std::path::Path) -> anyhow::Result<u64> {
    let (bin, data_dir) = (bin.to_path_buf(), data_dir.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let out = tempfile::tempdir()?;
        let output = std::process::Command::new(&bin)
            .arg("backup")
            .arg("--out")
            .arg(out.path().join("backup"))
            .arg("--data-dir")
            .arg(&data_dir)
            .output()
            .context("running confab backup")?;
        anyhow::ensure!(
            output.status.success(),
            "confab backup failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).context("confab backup's report")?;
        report["store_record_bytes"].as_u64().context("confab backup's report has no store_record_bytes")
    })
    .await?
}

/// Starts every attack on `runtime` (see [`attacker_runtime`]).
fn start_attacks(
    o: &Options,
    t: &Arc<Target>,
    stop: watch::Receiver<bool>,
    runtime: &tokio::runtime::Handle,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    let n = t.attackers.len();
    for i in 0..o.resume_sockets {
        set.spawn_on(resume_flood(t.clone(), i % n, i, stop.clone()), runtime);
    }
    for i in 0..o.stalled_sockets {
        set.spawn_on(stalled_subscriber(t.clone(), i % n, stop.clone()), runtime);
    }
    for i in 0..o.error_sockets {
        set.spawn_on(error_flood(t.clone(), i % n, stop.clone()), runtime);
    }
    let rate = o.write_flood_rate;
    for i in 0..n {
        let (tt, st) = (t.clone(), stop.clone());
        set.spawn_on(
            paced("edit (PATCH, max_message_chars of text)", tt.clone(), rate, st, move |k| {
                let tt = tt.clone();
                async move {
                    let a = &tt.attackers[i];
                    let body = json!({ "text": edit_text(k, LIMITS.max_message_chars) }).to_string();
                    let path = format!("/messages/{}", a.message);
                    http(&tt, Method::PATCH, &path, Some(&a.token), None, Some(body)).await
                }
            }),
            runtime,
        );
        let (tt, st) = (t.clone(), stop.clone());
        set.spawn_on(
            paced("reaction (PUT/DELETE)", tt.clone(), rate, st, move |k| {
                let tt = tt.clone();
                async move {
                    let a = &tt.attackers[i];
                    let path = format!(
                        "/messages/{}/reactions/{}",
                        a.message,
                        EMOJI[(k / 2) as usize % EMOJI.len()]
                    );
                    let method = if k.is_multiple_of(2) { Method::PUT } else { Method::DELETE };
                    http(&tt, method, &path, Some(&a.token), None, None).await
                }
            }),
            runtime,
        );
    }
    let addresses = o.attack_addresses.clamp(1, 250) as u64;
    let (tt, st) = (t.clone(), stop.clone());
    set.spawn_on(
        paced(
            "log-in: wrong password, the sender's email",
            tt.clone(),
            o.login_flood_rate / 2.0,
            st,
            move |k| {
                let tt = tt.clone();
                async move {
                    let body =
                        json!({ "email": tt.victim_email, "password": format!("guess {k}") }).to_string();
                    let xff = format!("203.0.113.{}", k % addresses + 1);
                    http(&tt, Method::POST, "/auth/login", None, Some(&xff), Some(body)).await
                }
            },
        ),
        runtime,
    );
    let (tt, st) = (t.clone(), stop.clone());
    set.spawn_on(
        paced("log-in: unknown emails", tt.clone(), o.login_flood_rate / 2.0, st, move |k| {
            let tt = tt.clone();
            async move {
                let body =
                    json!({ "email": format!("nobody-{k}@bench.test"), "password": "guess" }).to_string();
                let xff = format!("203.0.113.{}", (k + 7) % addresses + 1);
                http(&tt, Method::POST, "/auth/login", None, Some(&xff), Some(body)).await
            }
        }),
        runtime,
    );
    let (tt, st) = (t.clone(), stop);
    set.spawn_on(
        paced("sign-up", tt.clone(), o.signup_flood_rate, st, move |k| {
            let tt = tt.clone();
            async move {
                let body = json!({
                    "email": format!("flood-{}-{k}@bench.test", tt.tag),
                    "password": "flood password",
                    "display_name": "Flood",
                    "username": format!("f{}-{k}", tt.tag),
                })
                .to_string();
                let xff = format!("203.0.113.{}", k % addresses + 1);
                http(&tt, Method::POST, "/auth/signup", None, Some(&xff), Some(body)).await
            }
        }),
        runtime,
    );
    set
}

/// A text of exactly `chars` characters, different for each `k`: words and emoji
/// (4 bytes each in UTF-8), never starting with the bench's `m<ID>` marker.
fn edit_text(k: u64, chars: usize) -> String {
    let head = format!("x{k:014} ");
    let mut text = head.clone();
    let mut n = head.chars().count();
    let words = ["lorem", "ipsum", "dolor", "sit", "amet", "🙂", "🚀"];
    let mut i = k as usize;
    while n < chars {
        let w = words[i % words.len()];
        i = i.wrapping_mul(31).wrapping_add(7);
        for c in w.chars().chain(std::iter::once(' ')) {
            if n == chars {
                break;
            }
            text.push(c);
            n += 1;
        }
    }
    text
}

/// Calls `f(k)` `rate` times a second until `stop`, at most [`MAX_IN_FLIGHT`] at once
/// (a tick that finds them all busy is counted as not sent); counts the outcomes.
async fn paced<F, Fut>(what: &'static str, t: Arc<Target>, rate: f64, mut stop: watch::Receiver<bool>, f: F)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = String> + Send + 'static,
{
    if rate <= 0.0 {
        return;
    }
    let interval = secs(1.0 / rate);
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut running = JoinSet::new();
    let start = Instant::now();
    let mut k = 0u64;
    while !*stop.borrow() {
        tokio::select! {
            _ = tokio::time::sleep_until(start + interval.mul_f64(k as f64)) => {}
            _ = stop.changed() => continue,
        }
        while running.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            t.answers.add(what, format!("not sent ({MAX_IN_FLIGHT} in flight)"));
            k += 1;
            continue;
        };
        let fut = f(k);
        let tt = t.clone();
        running.spawn(async move {
            let outcome = fut.await;
            tt.answers.add(what, outcome);
            drop(permit);
        });
        k += 1;
    }
    while running.join_next().await.is_some() {}
}

/// A WebSocket to `base` whose receive buffer is tiny, authenticated by sending
/// `auth` (without waiting for the hello: an attacker need not read it).
async fn attack_socket(base: &str, auth: String) -> anyhow::Result<Socket> {
    let addr: SocketAddr = base.trim_start_matches("http://").parse()?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(ATTACK_RCVBUF)?;
    let tcp = socket.connect(addr).await?;
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default().write_buffer_size(0).max_frame_size(None).max_message_size(None);
    let url = format!("ws://{addr}/api/v1/ws");
    let (mut ws, _) = client_async_with_config(url, MaybeTlsStream::Plain(tcp), Some(config)).await?;
    ws.send(Message::text(auth)).await?;
    Ok(ws)
}

/// What a socket had waiting for it, read after the attack.
#[derive(Default)]
struct Drained {
    events: u64,
    resyncs: u64,
    errors: u64,
    hello: Option<String>,
    end: String,
}

/// Reads `socket` for up to `within`: what the server had sent, and how it ended.
async fn drain(socket: &mut Socket, within: Duration) -> Drained {
    let deadline = Instant::now() + within;
    let mut d = Drained::default();
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => {
                d.end = "still open".into();
                break;
            }
            Ok(Some(Ok(Message::Text(t)))) => match wire::classify(&t) {
                wire::Kind::Event => d.events += 1,
                wire::Kind::Error => d.errors += 1,
                _ if t.contains(r#""type":"resync""#) => d.resyncs += 1,
                _ if t.contains(r#""type":"hello""#) => d.hello = Some(t.to_string()),
                _ => {}
            },
            Ok(Some(Ok(Message::Close(c)))) => {
                d.end = match c {
                    Some(c) => format!("closed {}", u16::from(c.code)),
                    None => "closed (no code)".into(),
                };
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(None) | Ok(Some(Err(tungstenite::Error::Protocol(_)))) => {
                d.end = "dropped without a close frame".into();
                break;
            }
            Ok(Some(Err(tungstenite::Error::Io(e)))) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                d.end = "reset".into();
                break;
            }
            Ok(Some(Err(_))) => {
                d.end = "dropped (other error)".into();
                break;
            }
        }
    }
    d
}

/// A random string shaped like a ULID (26 Crockford base-32 characters).
fn random_ulid() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::rng();
    let first = ALPHABET[rng.random_range(0..8)] as char;
    std::iter::once(first).chain((0..25).map(|_| ALPHABET[rng.random_range(0..32)] as char)).collect()
}

/// Connects with a resume list that names the busy workspace 2,000 times, the
/// attacker's own workspaces 50 times each and 500 workspaces that do not exist;
/// leaves the socket unread for [`RESUME_HOLD`], then reads it for [`DRAIN`]; again.
async fn resume_flood(t: Arc<Target>, who: usize, i: usize, stop: watch::Receiver<bool>) {
    const WHAT: &str = "resume flood (never read for 3 s, then read 3 s)";
    let a = &t.attackers[who];
    let mut round = i as u64;
    while !*stop.borrow() {
        // Alternately from the very start and from as far back as the server replays.
        let head = t.head.load(Ordering::Relaxed);
        let after = if round.is_multiple_of(2) { 0 } else { head.saturating_sub(9_000) };
        round += 1;
        let mut resume = Vec::with_capacity(3_000);
        resume.extend((0..2_000).map(|_| json!({ "workspace": t.workspace, "after": after })));
        for w in &a.workspaces {
            resume.extend((0..50).map(|_| json!({ "workspace": w, "after": 0 })));
        }
        resume.extend((0..500).map(|_| json!({ "workspace": random_ulid(), "after": 0 })));
        let auth = json!({ "type": "auth", "token": a.token, "resume": resume }).to_string();
        let mut socket = match attack_socket(&t.base, auth).await {
            Ok(s) => s,
            Err(_) => {
                t.answers.add(WHAT, "connect failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        tokio::time::sleep(RESUME_HOLD).await;
        let d = drain(&mut socket, DRAIN).await;
        if let Some(hello) = &d.hello
            && let Some(seq) = event_seq_of(hello, t.workspace)
        {
            t.head.store(seq, Ordering::Relaxed);
        }
        t.answers
            .add(WHAT, format!("connections ({})", if d.end == "still open" { "left open" } else { &d.end }));
        t.answers.add_n(WHAT, "replayed events read", d.events);
        t.answers.add_n(WHAT, "resync frames", d.resyncs);
        t.answers.add_n(WHAT, "error frames", d.errors);
        drop(socket);
    }
}

/// The `event_seq` the hello gives for `ws`.
fn event_seq_of(hello: &str, ws: WorkspaceId) -> Option<u64> {
    let v: Value = serde_json::from_str(hello).ok()?;
    let id = ws.to_string();
    v["workspaces"].as_array()?.iter().find(|w| w["id"].as_str() == Some(id.as_str()))?["event_seq"].as_u64()
}

/// Subscribes to the busy workspace (a member of the busy channel) and never reads
/// until the phase ends; then reads for [`DRAIN`] to see how the server ended it.
async fn stalled_subscriber(t: Arc<Target>, who: usize, mut stop: watch::Receiver<bool>) {
    const WHAT: &str = "never-reading subscriber of the busy channel";
    let auth = wire::auth_frame(&t.attackers[who].token);
    let mut socket = match attack_socket(&t.base, auth).await {
        Ok(s) => s,
        Err(_) => {
            t.answers.add(WHAT, "connect failed");
            return;
        }
    };
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            break;
        }
    }
    let d = drain(&mut socket, DRAIN).await;
    t.answers.add(WHAT, d.end);
}

/// Sends frames that are answered with errors, [`ERROR_FRAME_RATE`] a second, never
/// reading the replies; reconnects when a write stalls (the server stopped reading)
/// or after [`ERROR_SOCKET_LIFE`].
async fn error_flood(t: Arc<Target>, who: usize, stop: watch::Receiver<bool>) {
    const WHAT: &str = "error-reply flood, never reading";
    let long_type = "z".repeat(4096);
    let garbage = format!("{{\"type\":\"send\",\"text\":\"{}", "y".repeat(32 * 1024));
    while !*stop.borrow() {
        let mut socket = match attack_socket(&t.base, wire::auth_frame(&t.attackers[who].token)).await {
            Ok(s) => s,
            Err(_) => {
                t.answers.add(WHAT, "connect failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let born = Instant::now();
        let interval = secs(1.0 / ERROR_FRAME_RATE);
        let mut k = 0u64;
        let mut stalled = false;
        while !*stop.borrow() && born.elapsed() < ERROR_SOCKET_LIFE {
            tokio::time::sleep_until(born + interval.mul_f64(k as f64)).await;
            let frame = match k % 10 {
                0 => Message::text(garbage.clone()),
                1 => Message::binary(vec![0u8; 1024]),
                2 => Message::text(format!(
                    r#"{{"type":"send","req":"{k}","channel":"{}","text":"x"}}"#,
                    random_ulid()
                )),
                3..=5 => Message::text(format!(r#"{{"type":"{long_type}{k}"}}"#)),
                _ => Message::text(format!(r#"{{"type":"nope{k}","#)),
            };
            match tokio::time::timeout(WRITE_STALL, socket.send(frame)).await {
                Ok(Ok(())) => k += 1,
                Ok(Err(_)) => break,
                Err(_) => {
                    stalled = true;
                    break;
                }
            }
        }
        t.answers.add_n(WHAT, "frames sent", k);
        let d = drain(&mut socket, DRAIN).await;
        t.answers.add_n(WHAT, "error replies read afterwards", d.errors);
        let end = if stalled { format!("writes stalled, then {}", d.end) } else { d.end };
        t.answers.add(WHAT, format!("connections ({end})"));
    }
}

/// The server's own counters (`confab_ws_*`), if it serves metrics.
async fn scrape_metrics(server: &Running) -> Option<BTreeMap<String, f64>> {
    let url = server.process.as_ref()?.metrics.get()?.clone();
    let body = reqwest::get(url).await.ok()?.text().await.ok()?;
    let mut out = BTreeMap::new();
    for name in [
        "confab_ws_lagged_total",
        "confab_ws_reply_queue_full_total",
        "confab_ws_write_timeouts_total",
        "confab_ws_replay_over_budget_total",
    ] {
        let value = body
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .sum::<f64>();
        out.insert(name.to_string(), value);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_texts_are_exactly_as_long_as_asked_and_carry_no_marker() {
        for k in [0, 1, 12345] {
            let t = edit_text(k, 40_000);
            assert_eq!(t.chars().count(), 40_000);
            assert!(t.starts_with('x'));
            assert_eq!(wire::marker(&format!(r#""text":"{t}""#)), None);
        }
        assert_ne!(edit_text(1, 100), edit_text(2, 100));
    }

    #[test]
    fn answers_are_grouped_most_frequent_first() {
        let a = Answers::default();
        a.add("edit", "200");
        a.add_n("edit", "429", 5);
        a.add_n("edit", "500", 0);
        assert_eq!(a.get("edit", "429"), 5);
        assert_eq!(a.lines(), vec![("edit", "429 ×5, 200 ×1".to_string())]);
        assert_eq!(a.server_errors(), 0, "429s are refusals, not failures");
        a.add_n("reaction", "500", 2);
        a.add("edit", "503");
        assert_eq!(a.server_errors(), 3);
    }

    #[test]
    fn random_ulids_are_shaped_like_ulids() {
        let id = random_ulid();
        assert_eq!(id.len(), 26);
        assert!(id.parse::<WorkspaceId>().is_ok(), "{id}");
    }
}
