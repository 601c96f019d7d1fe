//! The scenarios, one module each, and what they share: the run context, starting a
//! server under test, opening many connections, and the sled ceiling.

pub mod crash;
pub mod fanout;
pub mod files;
pub mod hostile;
pub mod idle;
pub mod ingest;
pub mod services;
pub mod startup;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::Options;
use crate::cluster::Services;
use crate::report::{Report, thousands};
use crate::server::{ServerProcess, default_confab_bin};
use crate::wire::{self, Socket};

/// How many WebSocket connections are opened at once.
const CONNECT_CONCURRENCY: usize = 32;

/// What every scenario gets.
pub struct Ctx<'a> {
    pub o: Options,
    pub report: &'a Report,
    /// The confab binary (unset when `--url` is given and no binary is around).
    bin: Option<PathBuf>,
    /// PostgreSQL and NATS, started by the first scenario that needs them.
    services: OnceLock<Services>,
}

impl<'a> Ctx<'a> {
    pub fn new(o: Options, report: &'a Report) -> anyhow::Result<Self> {
        let bin = match (&o.url, default_confab_bin(o.server_bin.as_deref())) {
            (_, Ok(bin)) => Some(bin),
            (Some(_), Err(_)) => None,
            (None, Err(e)) => return Err(e),
        };
        Ok(Ctx { o, report, bin, services: OnceLock::new() })
    }

    /// The throwaway PostgreSQL and nats-server of this run, started on first use.
    pub fn services(&self) -> anyhow::Result<&Services> {
        if let Some(services) = self.services.get() {
            return Ok(services);
        }
        let started = Services::start()?;
        Ok(self.services.get_or_init(move || started))
    }

    pub fn bin(&self) -> anyhow::Result<&std::path::Path> {
        self.bin.as_deref().context("this scenario starts its own server: pass --server-bin")
    }

    /// A confab to measure: the `--url` one, or a fresh one on a temporary data dir.
    pub async fn confab(&self) -> anyhow::Result<Running> {
        if let Some(url) = &self.o.url {
            return Ok(Running {
                process: None,
                base: url.trim_end_matches('/').to_string(),
                pid: self.o.pid,
                _dir: None,
            });
        }
        self.fresh_confab(&[]).await
    }

    /// A fresh confab on a temporary data dir, with `extra_env` on top of the bench's
    /// settings ([`crate::server::confab_env`]).
    pub async fn fresh_confab(&self, extra_env: &[(String, String)]) -> anyhow::Result<Running> {
        let dir = tempfile::Builder::new().prefix("confab-bench-").tempdir()?;
        let process = ServerProcess::start_confab(self.bin()?, dir.path(), extra_env).await?;
        println!("  started confab pid {} at {}", process.pid, process.base);
        Ok(Running {
            base: process.base.clone(),
            pid: Some(process.pid),
            process: Some(process),
            _dir: Some(dir),
        })
    }

    /// A fresh baseline server.
    pub async fn baseline(&self) -> anyhow::Result<Running> {
        let process = ServerProcess::start_baseline(true).await?;
        Ok(Running { base: process.base.clone(), pid: Some(process.pid), process: Some(process), _dir: None })
    }
}

/// A server under test; stopped (and its data dir removed) by [`Running::stop`].
pub struct Running {
    pub process: Option<ServerProcess>,
    pub base: String,
    pub pid: Option<u32>,
    _dir: Option<tempfile::TempDir>,
}

impl Running {
    pub fn rss_kib(&self) -> Option<u64> {
        self.pid.and_then(|pid| crate::server::rss_kib(pid).ok())
    }

    /// The data dir, when the bench started this server.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self._dir.as_ref().map(|d| d.path())
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        if let Some(p) = self.process {
            p.stop().await?;
        }
        Ok(())
    }
}

/// Opens one authenticated connection per `(base, auth frame)`, a few at a time, in
/// order.
pub async fn connect_each(targets: Vec<(String, String)>) -> anyhow::Result<Vec<Socket>> {
    stream::iter(targets)
        .map(|(base, frame)| async move { wire::connect(&base, frame).await })
        .buffered(CONNECT_CONCURRENCY)
        .try_collect()
        .await
}

/// Opens one authenticated connection per auth frame, a few at a time, in order.
pub async fn connect_all(base: &str, auth_frames: Vec<String>) -> anyhow::Result<Vec<Socket>> {
    stream::iter(auth_frames)
        .map(|frame| wire::connect(base, frame))
        .buffered(CONNECT_CONCURRENCY)
        .try_collect()
        .await
}

/// Seconds as a `Duration`.
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// The `baseline` scenario: the bare transport on its own, and sled's ceiling.
pub async fn baseline_only(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    ingest::run_baseline(ctx).await?;
    fanout::run_baseline_only(ctx).await?;
    idle::run_baseline_only(ctx).await?;
    sled(ctx).await?;
    store(ctx).await.map(drop)
}

/// sled's raw group-committed durable write rate.
pub async fn sled(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    println!("\n== sled ceiling: {} writers, 200-byte values, group commit", ctx.o.sled_writers);
    let (writers, total) = (ctx.o.sled_writers, ctx.o.sled_writes);
    let c = tokio::task::spawn_blocking(move || {
        crate::baseline::sled_ceiling(writers, total, Duration::from_secs(60))
    })
    .await??;
    let rate = c.writes as f64 / c.elapsed.as_secs_f64();
    ctx.report.info(
        "baseline",
        &format!("sled raw durable 200-byte writes/s ({writers} writers, group commit)"),
        format!(
            "{} ({} flushes, {:.0} writes/flush)",
            thousands(rate),
            thousands(c.flushes as f64),
            c.writes as f64 / c.flushes.max(1) as f64
        ),
    );
    Ok(())
}

/// Confab's store alone, posting as the server does, group-committed: the ceiling of
/// durable ingest without network, JSON or the app. Returns the posts/s.
pub async fn store(ctx: &Ctx<'_>) -> anyhow::Result<f64> {
    let (writers, window, total) = (ctx.o.senders, ctx.o.window, ctx.o.sled_writes);
    println!("\n== store ceiling: {writers} writers × window {window}, a channel each, group commit");
    let c = tokio::task::spawn_blocking(move || {
        crate::baseline::store_ceiling(writers, window, total, Duration::from_secs(60))
    })
    .await??;
    let rate = c.posts as f64 / c.elapsed.as_secs_f64();
    ctx.report.info(
        "baseline",
        &format!("store alone: durable posts/s ({writers} writers × window {window}, group commit)"),
        format!(
            "{} ({:.0} posts/flush; {:.1} µs of CPU per post)",
            thousands(rate),
            c.posts as f64 / c.flushes.max(1) as f64,
            c.cpu.as_secs_f64() * 1e6 / c.posts.max(1) as f64
        ),
    );
    Ok(rate)
}
