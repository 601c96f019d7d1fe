//! The processes under test: the real `confab` binary started on a data dir with
//! bench-friendly settings, or this bench's own bare tokio-tungstenite baseline server
//! (the same executable re-run as `confab-bench serve-baseline`). Both print a line
//! containing `listening on http://ADDR` on stdout, which is how the bench learns the
//! port; the rest of their output is drained so a chatty server never blocks on a
//! full pipe.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a server gets to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Settings passed to every `confab` the bench starts: cheap password hashing for
/// fast sign-ups and rate limits far above any load the bench offers.
pub fn confab_env() -> Vec<(&'static str, String)> {
    vec![
        ("CONFAB_AUTH_ARGON2_MEMORY_KIB", "256".into()),
        ("CONFAB_AUTH_ARGON2_ITERATIONS", "1".into()),
        ("CONFAB_AUTH_MAX_CONCURRENT_HASHES", "4".into()),
        // Every account signs up from 127.0.0.1: lift the per-address allowance.
        ("CONFAB_AUTH_SIGNUPS_PER_ADDRESS", "1000000".into()),
        ("CONFAB_LIMITS_WRITES_PER_SECOND", "1000000".into()),
        ("CONFAB_LIMITS_WRITE_BURST", "1000000".into()),
        ("CONFAB_LIMITS_MESSAGES_PER_SECOND", "1000000".into()),
        ("CONFAB_LIMITS_MESSAGE_BURST", "1000000".into()),
        ("CONFAB_LIMITS_TEXT_BYTES_PER_SECOND", "1000000000".into()),
        ("CONFAB_LIMITS_TEXT_BURST_BYTES", "1000000000".into()),
        ("CONFAB_LIMITS_FRAMES_PER_SECOND", "1000000".into()),
        ("CONFAB_LIMITS_FRAME_BURST", "1000000".into()),
        ("CONFAB_LIMITS_INVITE_MAX_USES", "1000000".into()),
        ("CONFAB_LOG", "info".into()),
        ("NO_COLOR", "1".into()),
    ]
}

/// Where the `confab` binary is: the flag, else next to this executable.
pub fn default_confab_bin(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    let me = std::env::current_exe().context("locating the bench executable")?;
    let bin = me.with_file_name("confab");
    if !bin.exists() {
        bail!(
            "no confab binary at {} (build it with `cargo build --release -p confab-server` or pass --server-bin)",
            bin.display()
        );
    }
    Ok(bin)
}

/// A running server child process.
pub struct ServerProcess {
    child: Child,
    /// `http://ADDR`.
    pub base: String,
    pub pid: u32,
    /// From spawning the process to reading its listening line.
    pub time_to_listen: Duration,
    /// `http://ADDR/metrics`, once the server has said where it serves metrics.
    pub metrics: Arc<OnceLock<String>>,
}

impl ServerProcess {
    /// Starts `confab serve` on `data_dir` listening on a free loopback port.
    pub async fn start_confab(
        bin: &Path,
        data_dir: &Path,
        extra_env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let mut cmd = Command::new(bin);
        cmd.arg("serve").arg("--listen").arg("127.0.0.1:0").arg("--data-dir").arg(data_dir);
        for (k, v) in confab_env() {
            cmd.env(k, v);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Self::spawn(cmd).await.with_context(|| format!("starting {}", bin.display()))
    }

    /// Starts the bare baseline server (this executable, `serve-baseline`).
    pub async fn start_baseline(nodelay: bool) -> anyhow::Result<Self> {
        let me = std::env::current_exe()?;
        let mut cmd = Command::new(me);
        cmd.arg("serve-baseline").arg("--listen").arg("127.0.0.1:0");
        if !nodelay {
            cmd.arg("--nagle");
        }
        Self::spawn(cmd).await.context("starting the baseline server")
    }

    async fn spawn(mut cmd: Command) -> anyhow::Result<Self> {
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).stdin(Stdio::null()).kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd.spawn()?;
        let pid = child.id().context("child has no pid")?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = parse_listening(&line) {
                    return Ok(addr);
                }
            }
            bail!("the server exited before listening")
        })
        .await
        .context("the server did not report listening in time")??;
        let time_to_listen = started.elapsed();
        // Keep draining stdout; surface warnings and errors, note the metrics address.
        let metrics = Arc::new(OnceLock::new());
        let metrics_at = metrics.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("ERROR") || line.contains("WARN") {
                    eprintln!("[server {pid}] {line}");
                } else if let Some(url) = parse_metrics(&line) {
                    let _ = metrics_at.set(url);
                }
            }
        });
        Ok(ServerProcess { child, base: format!("http://{addr}"), pid, time_to_listen, metrics })
    }

    /// `kill -9`: no chance to flush or clean up.
    pub async fn kill9(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// A graceful stop (SIGTERM, the server flushes), falling back to SIGKILL.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let status = std::process::Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status()?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.is_err() {
            eprintln!("server {} ignored SIGTERM for 30 s; killing it", self.pid);
            self.child.start_kill()?;
            self.child.wait().await?;
        }
        Ok(())
    }
}

/// Finds `ADDR` in a line containing `listening on http://ADDR`.
fn parse_listening(line: &str) -> Option<SocketAddr> {
    let at = line.find("listening on http://")? + "listening on http://".len();
    let rest = &line[at..];
    let end = rest.find(|c: char| c.is_whitespace() || c == '\u{1b}').unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Finds `http://ADDR/metrics` in a line containing `metrics at http://ADDR/metrics`.
fn parse_metrics(line: &str) -> Option<String> {
    let at = line.find("metrics at http://")? + "metrics at ".len();
    let rest = &line[at..];
    let end = rest.find(|c: char| c.is_whitespace() || c == '\u{1b}').unwrap_or(rest.len());
    rest[..end].ends_with("/metrics").then(|| rest[..end].to_string())
}

/// `VmRSS` of a process, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS:")
}

/// `VmHWM` of a process (its peak resident size since start or since
/// [`reset_peak_rss`]), in KiB.
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmHWM:")
}

/// Resets a process's `VmHWM` to its current RSS (`/proc/PID/clear_refs`, value 5);
/// fails on kernels or permissions that do not allow it.
pub fn reset_peak_rss(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").context("writing /proc/PID/clear_refs")
}

fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with(field)).with_context(|| format!("no {field} line"))?;
    let kib = line.split_whitespace().nth(1).with_context(|| format!("malformed {field} line"))?;
    Ok(kib.parse()?)
}

/// CPU time (user + system) a process has used so far, in clock ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the `(comm)`, which may itself hold spaces.
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// Waits until the process is quiet — under 10% of a core for half a second — or
/// `limit` has passed; returns how long it took. Used between phases so that one
/// phase's background work (index merges, catch-up) is not measured in the next.
pub async fn wait_until_quiet(pid: u32, limit: std::time::Duration) -> std::time::Duration {
    const WINDOW: Duration = Duration::from_millis(500);
    let started = Instant::now();
    let Ok(mut last) = cpu_ticks(pid) else { return started.elapsed() };
    while started.elapsed() < limit {
        tokio::time::sleep(WINDOW).await;
        let Ok(now) = cpu_ticks(pid) else { break };
        // 100 ticks a second: 10% of a core over 0.5 s is 5 ticks.
        if now.saturating_sub(last) < 5 {
            break;
        }
        last = now;
    }
    started.elapsed()
}

/// Total size of the files under `dir`, in bytes.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_listening_line() {
        let line = "2025-01-01T00:00:00Z  INFO confab_server: confab listening on http://127.0.0.1:4567 with data in /tmp/x";
        assert_eq!(parse_listening(line), Some("127.0.0.1:4567".parse().unwrap()));
        assert_eq!(
            parse_listening("listening on http://127.0.0.1:1\u{1b}[0m"),
            Some("127.0.0.1:1".parse().unwrap())
        );
        assert_eq!(parse_listening("nothing here"), None);
        assert_eq!(
            parse_metrics("INFO confab_server: confab metrics at http://127.0.0.1:39001/metrics").as_deref(),
            Some("http://127.0.0.1:39001/metrics")
        );
        assert_eq!(parse_metrics("cannot serve metrics on 127.0.0.1:9464"), None);
    }
}
