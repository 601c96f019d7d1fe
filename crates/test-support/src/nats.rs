//! A throwaway NATS server for a test binary, started by the tests themselves: the
//! bus's tests (`crates/bus/tests`) use it. Behind the `nats` feature.
//!
//! [`shared`] starts one server for the whole binary on first use;
//! [`TestNats::start`] starts one of a test's own, for a test that stops or
//! restarts it. Each is `nats-server` (Debian's `nats-server` package; found on
//! `PATH` or in `/usr/sbin`, `/usr/bin`) listening on a loopback port it chooses, with
//! its pid file and log in a temporary directory. An owned server is stopped when
//! dropped. A test binary never runs destructors of statics, so, as for
//! [`crate::postgres`], a watchdog shell waits for its standard input (a pipe from
//! this process) to close, however this process ends, then kills the server named
//! by the pid file and removes the directory.
//!
//! Without `nats-server` the tests fail and say what to install, unless
//! `CONFAB_SKIP_NATS=1` is set: a run that did not test NATS must say so.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Set to `1` to skip the NATS tests on a machine without `nats-server`.
pub const SKIP_VARIABLE: &str = "CONFAB_SKIP_NATS";

/// A running `nats-server` and what stops it.
pub struct TestNats {
    bin: PathBuf,
    dir: PathBuf,
    server: Mutex<Server>,
    /// Closed when this value is dropped or this process exits, which makes the
    /// watchdog kill the server.
    _watchdog: Mutex<ChildStdin>,
}

struct Server {
    child: Option<Child>,
    /// Chosen by the server at its first start, kept for restarts.
    port: Option<u16>,
}

/// The server shared by this test binary, started on first use; `None` when the run
/// skips NATS. Panics, saying why, when it cannot be started.
pub fn shared() -> Option<&'static TestNats> {
    static SHARED: OnceLock<Result<TestNats, String>> = OnceLock::new();
    crate::service::shared(&SHARED, TestNats::start, SKIP_VARIABLE, "NATS")
}

/// Whether this run skips NATS (and says so once per test).
pub fn skipped() -> bool {
    crate::service::skipped(SKIP_VARIABLE, "NATS")
}

fn find_binary() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    path.into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("nats-server"))
        .find(|bin| bin.is_file())
        .ok_or_else(|| {
            format!(
                "nats-server is not installed: not on PATH, nor in /usr/sbin or /usr/bin. Install it \
                 (Debian: apt-get install nats-server) or set {SKIP_VARIABLE}=1 to skip these tests."
            )
        })
}

impl TestNats {
    /// Starts a server of its own; it stops when the value is dropped.
    pub fn start() -> Result<TestNats, String> {
        let bin = find_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("confab-nats-")
            .tempdir()
            .map_err(|e| format!("creating a temporary directory: {e}"))?
            .keep();
        let watchdog = spawn_watchdog(&dir)?;
        let nats = TestNats {
            bin,
            dir,
            server: Mutex::new(Server { child: None, port: None }),
            _watchdog: Mutex::new(watchdog),
        };
        nats.start_server()?;
        Ok(nats)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        let port = self.server.lock().unwrap_or_else(|e| e.into_inner()).port.unwrap_or_default();
        format!("nats://127.0.0.1:{port}")
    }

    /// Starts the server (again, on the port it had) and waits until it is ready.
    /// The first start lets the server choose a free port itself (`-p -1`), read
    /// back from its log: choosing one here and passing it on would race with
    /// other servers starting at the same time.
    pub fn start_server(&self) -> Result<(), String> {
        let mut server = self.server.lock().unwrap_or_else(|e| e.into_inner());
        if server.child.is_some() {
            return Err("the NATS server is already running".into());
        }
        let log_path = self.dir.join("server.log");
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let port = server.port.map_or("-1".to_string(), |port| port.to_string());
        let mut child = Command::new(&self.bin)
            .args(["-a", "127.0.0.1", "-p", &port, "-P"])
            .arg(self.dir.join("nats.pid"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.bin.display()))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if log.contains("Server is ready") {
                let listening = log
                    .lines()
                    .find_map(|line| line.split_once("Listening for client connections on 127.0.0.1:"))
                    .and_then(|(_, port)| port.trim().parse::<u16>().ok());
                let Some(listening) = listening else {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("nats-server did not say its port:\n{log}"));
                };
                server.port = Some(listening);
                server.child = Some(child);
                return Ok(());
            }
            let exited = child.try_wait().map_err(|e| e.to_string())?;
            if exited.is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("nats-server did not start on port {port} ({exited:?}):\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server at once (SIGKILL: clients see their connections drop).
    pub fn stop_server(&self) {
        let mut server = self.server.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = server.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(self.dir.join("nats.pid"));
        }
    }

    /// Stops the server and starts it again on the same port.
    pub fn restart(&self) -> Result<(), String> {
        self.stop_server();
        self.start_server()
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        // The watchdog then removes the directory (and finds no server to kill).
        self.stop_server();
    }
}

/// The shell that kills the server named by the pid file and removes the directory
/// once this process's end of its standard input closes.
fn spawn_watchdog(dir: &Path) -> Result<ChildStdin, String> {
    let script =
        r#"read _ || true; [ -f "$0/nats.pid" ] && kill -9 "$(cat "$0/nats.pid")" 2>/dev/null; rm -rf "$0""#;
    let mut child = Command::new("sh")
        .args(["-c", script])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the watchdog shell: {e}"))?;
    child.stdin.take().ok_or_else(|| "the watchdog has no standard input".to_string())
}
