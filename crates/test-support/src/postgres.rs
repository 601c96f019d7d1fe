//! A throwaway PostgreSQL server for a test binary, started by the tests themselves:
//! the PostgreSQL store's tests (`crates/store-postgres/tests`) and the end-to-end
//! suite in its PostgreSQL mode (`tests/e2e`) both use it. Behind the `postgres`
//! feature, so that nothing else links a PostgreSQL client for it.
//!
//! The first test that asks starts one server for the whole binary ([`shared`]):
//! `initdb` in a temporary directory, then `pg_ctl start` on a free loopback port with
//! its unix socket in that directory and `fsync=on` (durability is what the store is
//! tested for). Each test gets a database of its own ([`TestCluster::database`]), so
//! tests stay independent and run in parallel. The binaries are found on `PATH` or
//! under Debian's `/usr/lib/postgresql/*/bin`. `initdb` refuses to run as root, so as
//! root everything runs as the `postgres` user (`runuser`), which owns the directory.
//!
//! A test binary never runs destructors of statics, so the server is stopped by a
//! watchdog: a shell, started with the server, that waits for its standard input
//! (a pipe from this process) to close — which happens however this process ends —
//! then stops the server and removes the directory.
//!
//! Without PostgreSQL the tests fail and say what to install, unless
//! `CONFAB_SKIP_POSTGRES=1` is set: a run that did not test PostgreSQL must say so.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Set to `1` to skip the PostgreSQL tests on a machine without PostgreSQL.
pub const SKIP_VARIABLE: &str = "CONFAB_SKIP_POSTGRES";

/// The superuser `initdb` creates (trusted on loopback and the socket).
const SUPERUSER: &str = "confab";

/// A running server and what stops it.
pub struct TestCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    run_as_postgres: bool,
    /// Closed when this process exits, which makes the watchdog stop the server.
    _watchdog: Mutex<ChildStdin>,
}

/// The server shared by this test binary, started on first use; `None` when the run
/// skips PostgreSQL. Panics, saying why, when PostgreSQL cannot be started.
pub fn shared() -> Option<&'static TestCluster> {
    static SHARED: OnceLock<Result<TestCluster, String>> = OnceLock::new();
    crate::service::shared(&SHARED, || TestCluster::start(&[]), SKIP_VARIABLE, "PostgreSQL")
}

/// Whether this run skips PostgreSQL (and says so once per test).
pub fn skipped() -> bool {
    crate::service::skipped(SKIP_VARIABLE, "PostgreSQL")
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
fn find_binaries() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("initdb"))
        .find(|initdb| initdb.is_file());
    if let Some(initdb) = on_path {
        // Debian links the tools from elsewhere: the server binary is beside the target.
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        if let Some(dir) = real.parent().filter(|dir| dir.join("pg_ctl").is_file()) {
            return Ok(dir.to_path_buf());
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        format!(
            "PostgreSQL is not installed: no initdb on PATH or under /usr/lib/postgresql/*/bin. Install \
             it (Debian: apt-get install postgresql) or set {SKIP_VARIABLE}=1 to skip these tests."
        )
    })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The `postgres` user's uid and gid.
fn postgres_user() -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out =
            Command::new("id").args([flag, "postgres"]).output().map_err(|e| format!("running id: {e}"))?;
        String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| {
            "running as root, the tests start PostgreSQL as the postgres user, and there is none \
             (Debian's postgresql package creates it)"
                .to_string()
        })
    };
    Ok((id("-u")?, id("-g")?))
}

impl TestCluster {
    /// Starts a server of its own, with `settings` (`name=value`) added to the defaults.
    pub fn start(settings: &[&str]) -> Result<TestCluster, String> {
        let bin = find_binaries()?;
        let run_as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("confab-pg-")
            .tempdir()
            .map_err(|e| format!("creating a temporary directory: {e}"))?
            .keep();
        if run_as_postgres {
            let (uid, gid) = postgres_user()?;
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("giving {} to the postgres user: {e}", dir.display()))?;
        }
        let watchdog = spawn_watchdog(&bin, &dir, run_as_postgres)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let cluster = TestCluster { bin, dir, port, run_as_postgres, _watchdog: Mutex::new(watchdog) };
        let data = cluster.data_dir();
        cluster.tool(
            "initdb",
            &["-D", path_str(&data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
        )?;
        let mut conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\nfsync = on\n\
             max_connections = 300\n",
            cluster.port,
            path_str(&cluster.dir)
        );
        for setting in settings {
            conf.push_str(setting);
            conf.push('\n');
        }
        let conf_path = data.join("postgresql.conf");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&conf_path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, conf.as_bytes()))
            .map_err(|e| format!("writing {}: {e}", conf_path.display()))?;
        cluster.start_server()?;
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Runs one of PostgreSQL's tools (as the postgres user when this is root); its
    /// output goes to a file, read back into the error if it fails.
    fn tool(&self, name: &str, args: &[&str]) -> Result<(), String> {
        let out_path = self.dir.join(format!("{name}.out"));
        let out =
            std::fs::File::create(&out_path).map_err(|e| format!("creating {}: {e}", out_path.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let program = self.bin.join(name);
        let mut command = match self.run_as_postgres {
            true => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&program);
                c
            }
            false => Command::new(&program),
        };
        let status = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| format!("running {}: {e}", program.display()))?;
        if status.success() {
            return Ok(());
        }
        let output = std::fs::read_to_string(&out_path).unwrap_or_default();
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        Err(format!("{name} {args:?} failed ({status}):\n{output}\nserver log:\n{log}"))
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_server(&self) -> Result<(), String> {
        let (data, log) = (self.data_dir(), self.dir.join("server.log"));
        self.tool("pg_ctl", &["-D", path_str(&data), "-l", path_str(&log), "-w", "-t", "60", "start"])
    }

    /// Kills the server as a crash would (an immediate shutdown: no checkpoint, no
    /// WAL flush), and starts it again: it recovers from its WAL.
    pub fn crash_and_restart(&self) -> Result<(), String> {
        self.tool("pg_ctl", &["-D", path_str(&self.data_dir()), "-m", "immediate", "-w", "stop"])?;
        self.start_server()
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// A connection to `database`, for creating databases and looking below the
    /// store. Not on a tokio thread: see [`TestCluster::database`].
    pub fn admin(&self, database: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(database), postgres::NoTls).expect("connect to the test server")
    }

    /// A new, empty database; its URL. Callable from async code too: the
    /// synchronous client runs on a thread of its own (it would panic on a thread
    /// inside a tokio runtime).
    pub fn database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let name = format!("test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    self.admin("postgres")
                        .batch_execute(&format!("CREATE DATABASE {name}"))
                        .expect("create a test database")
                })
                .join()
                .expect("creating a test database panicked")
        });
        self.url(&name)
    }
}

/// The shell that stops the server and removes its directory once this process's
/// end of its standard input closes. The stop is immediate: a checkpoint of data
/// about to be deleted would only cost time. It runs as this user (only `pg_ctl` runs as the
/// postgres user), so nothing but a plain shell waits for the whole run.
fn spawn_watchdog(bin: &Path, dir: &Path, run_as_postgres: bool) -> Result<ChildStdin, String> {
    let stop = match run_as_postgres {
        true => r#"runuser -u postgres -- "$0" -D "$1/data" -m immediate -w stop"#,
        false => r#""$0" -D "$1/data" -m immediate -w stop"#,
    };
    let script = format!(r#"read _ || true; {stop} >/dev/null 2>&1; rm -rf "$1""#);
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .arg(bin.join("pg_ctl"))
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the watchdog shell: {e}"))?;
    child.stdin.take().ok_or_else(|| "the watchdog has no standard input".to_string())
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}
