//! Support for Confab's end-to-end tests: [`TestServer`] runs the real `confab`
//! server as a child process on an ephemeral port with its own data dir, and can
//! stop, kill -9 and restart it on the same data.
//!
//! The child is the test binary itself, re-executed with `CONFAB_E2E_SERVER=1`; its
//! `main` then runs the server's command line (see [`run_as_server_if_asked`]). That
//! keeps the tests to one binary and needs no separately built `confab`.
//!
//! # Two modes: sled and PostgreSQL
//!
//! `CONFAB_E2E_STORE` chooses the store every server of the run uses ([`store_mode`]):
//! `sled` (the default) in its data dir, or `postgres`. In the PostgreSQL mode the
//! run starts one throwaway PostgreSQL server (`confab_test_support::postgres`), and
//! each [`TestServer`] gets a database of its own (`CONFAB_CLUSTER_STORE`), kept
//! across its restarts, so tests stay independent. Without PostgreSQL installed that
//! mode fails, saying what to install, unless `CONFAB_SKIP_POSTGRES=1`.
//!
//! With `CONFAB_E2E_BUS=1` as well ([`bus_mode`]), every server of the PostgreSQL
//! mode is a node of a cluster of its own on the run's throwaway `nats-server`
//! (`[cluster] bus`): the whole suite then runs through the cluster's write path
//! (leases, fencing, publishing on the bus), which must behave as a single node.
//!
//! # Three nodes
//!
//! In the bus mode with `CONFAB_E2E_NODES=N`, each [`TestServer`] is a cluster of
//! [`nodes`] nodes: one database, one cluster name on the run's
//! NATS, a data dir per node. [`TestServer::url`] is the first node; every
//! [`TestServer::client`] and [`TestServer::user`] takes the next node in turn, so
//! the users of a test sit on different nodes and the whole suite checks that a
//! cluster behaves as one server. Stopping, killing or restarting the server does it
//! to every node.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use confab_client::{Client, CreateInvite, Session, SignupRequest};
use confab_store_postgres::PgConfig;

const SERVER_ENV: &str = "CONFAB_E2E_SERVER";

/// The variable that chooses the store of the run's servers.
pub const STORE_ENV: &str = "CONFAB_E2E_STORE";

/// Where the run's servers keep their store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    /// sled, in each server's data dir.
    Sled,
    /// PostgreSQL: a database per server on the run's throwaway PostgreSQL server.
    Postgres,
}

/// The store of this run, from `CONFAB_E2E_STORE` (`sled` when unset). Panics on
/// another value rather than testing something other than what was asked.
pub fn store_mode() -> StoreMode {
    match std::env::var(STORE_ENV).as_deref() {
        Err(_) | Ok("") | Ok("sled") => StoreMode::Sled,
        Ok("postgres") => StoreMode::Postgres,
        Ok(other) => panic!("{STORE_ENV}={other:?}: expected sled or postgres"),
    }
}

/// The variable that makes every PostgreSQL server of the run a node of a cluster.
pub const BUS_ENV: &str = "CONFAB_E2E_BUS";

/// Whether every server of this run is a node of a cluster of its own (the
/// PostgreSQL mode with `CONFAB_E2E_BUS=1`): see the crate doc.
pub fn bus_mode() -> bool {
    store_mode() == StoreMode::Postgres && std::env::var(BUS_ENV).is_ok_and(|v| v == "1")
}

/// The run's NATS server in the bus mode (started on first use); `None` when the run
/// skips NATS (`CONFAB_SKIP_NATS=1`).
pub fn nats() -> Option<&'static confab_test_support::nats::TestNats> {
    confab_test_support::nats::shared()
}

/// The run's PostgreSQL server (started on first use), in the PostgreSQL mode; `None`
/// when the run skips PostgreSQL (`CONFAB_SKIP_POSTGRES=1`). Panics, saying what to
/// install, when PostgreSQL cannot be started.
pub fn postgres() -> Option<&'static confab_test_support::postgres::TestCluster> {
    confab_test_support::postgres::shared()
}

/// `CONFAB_CLUSTER_STORE` for a new server: a fresh database in the PostgreSQL mode.
fn store_env() -> Vec<(String, String)> {
    match store_mode() {
        StoreMode::Sled => Vec::new(),
        StoreMode::Postgres => {
            let cluster = postgres().expect("the PostgreSQL mode is skipped before any test starts");
            let mut env = vec![("CONFAB_CLUSTER_STORE".into(), cluster.database())];
            if let Some(nats) = nats().filter(|_| bus_mode()) {
                // A cluster of its own: the servers of a run do not hear each other.
                static SERVERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                env.push(("CONFAB_CLUSTER_BUS".into(), nats.url()));
                env.push(("CONFAB_CLUSTER_NAME".into(), format!("e2e-{}-{n}", std::process::id())));
            }
            env
        }
    }
}

/// The variable that sets how many nodes each server of the bus mode has.
pub const NODES_ENV: &str = "CONFAB_E2E_NODES";

/// How many nodes each server of this run has: 1 outside the bus mode, else
/// `CONFAB_E2E_NODES` (1 when unset).
pub fn nodes() -> usize {
    if !bus_mode() {
        return 1;
    }
    match std::env::var(NODES_ENV) {
        Err(_) => 1,
        Ok(n) => n
            .parse()
            .ok()
            .filter(|n| (1..=26).contains(n))
            .unwrap_or_else(|| panic!("{NODES_ENV}={n:?}: expected a number of nodes from 1 to 26")),
    }
}

/// In the child process, runs the server and exits; in the test runner, returns.
pub fn run_as_server_if_asked() {
    if std::env::var_os(SERVER_ENV).is_none() {
        return;
    }
    let args = std::env::args_os().take(1).chain(std::env::args_os().skip_while(|a| a != "--").skip(1));
    let code = match confab_server::cli::main_with_args(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("confab: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

/// A confab server process for one test (in the bus mode, the first node of a
/// cluster of [`nodes`]: see the crate doc).
pub struct TestServer {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    env: Vec<(String, String)>,
    /// The cluster's other nodes, with the same settings but their node name.
    peers: Vec<Peer>,
    /// Which node the next [`TestServer::client`] talks to.
    next_node: std::sync::atomic::AtomicUsize,
}

/// Another node of a [`TestServer`]'s cluster.
struct Peer {
    child: Option<Child>,
    url: String,
    dir: tempfile::TempDir,
}

/// Settings every test server gets: cheap password hashing (the real cost is a
/// configuration choice, not what these tests check).
fn base_env() -> Vec<(String, String)> {
    vec![
        ("CONFAB_AUTH_ARGON2_MEMORY_KIB".into(), "256".into()),
        ("CONFAB_AUTH_ARGON2_ITERATIONS".into(), "1".into()),
        // Many test servers run at once: none takes the default metrics port.
        ("CONFAB_SERVER_METRICS_LISTEN".into(), "off".into()),
    ]
}

impl TestServer {
    /// A server on a fresh data dir.
    pub fn start() -> TestServer {
        Self::start_with(&[])
    }

    /// A server on a fresh data dir (and, in the PostgreSQL mode, a fresh database)
    /// with extra `CONFAB_*` settings, which win over the run's.
    pub fn start_with(env: &[(&str, &str)]) -> TestServer {
        let mut server = TestServer::prepare(env, false);
        server.spawn();
        server
    }

    /// A server whose data dir does not exist yet (the server creates it), with extra
    /// `CONFAB_*` settings.
    pub fn start_creating_data_dir(env: &[(&str, &str)]) -> TestServer {
        let mut server = TestServer::prepare(env, true);
        server.spawn();
        server
    }

    /// A server on a fresh data dir with its store on sled, whatever the run's mode
    /// (`confab migrate` starts from one).
    pub fn start_on_sled(env: &[(&str, &str)]) -> TestServer {
        let mut server = TestServer::prepare(env, false);
        // No [cluster] at all (in the bus mode, the run gives it a bus too).
        server.env.retain(|(k, _)| !k.starts_with("CONFAB_CLUSTER_"));
        server.peers.clear();
        server.spawn();
        server
    }

    /// Moves the store to the PostgreSQL database at `url` from the next start on
    /// ([`TestServer::restart`]), with the same data dir.
    pub fn use_database(&mut self, url: &str) {
        self.env.retain(|(k, _)| k != "CONFAB_CLUSTER_STORE");
        self.env.push(("CONFAB_CLUSTER_STORE".into(), url.into()));
    }

    /// A server not started yet: its data dir, its store and its settings.
    fn prepare(env: &[(&str, &str)], data_dir_absent: bool) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = match data_dir_absent {
            true => temp.path().join("data"),
            false => temp.path().to_path_buf(),
        };
        let mut all = base_env();
        all.extend(store_env());
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let setting = |key: &str| all.iter().any(|(k, _)| k == key);
        if setting("CONFAB_CLUSTER_BUS") && !setting("CONFAB_CLUSTER_BLOBS") {
            // A node of a cluster keeps file contents in a directory the nodes share
            // (which must exist): this one's, unless the test names another.
            let blobs = temp.path().join("shared-files");
            std::fs::create_dir(&blobs).expect("the shared files directory");
            all.push(("CONFAB_CLUSTER_BLOBS".into(), blobs.display().to_string()));
        }
        // A test that names its node builds its own cluster (tests/e2e/cluster.rs).
        let own_cluster = env.iter().any(|(k, _)| *k == "CONFAB_CLUSTER_NODE");
        let peers = match all.iter().any(|(k, _)| k == "CONFAB_CLUSTER_BUS") && !own_cluster {
            true => (1..nodes())
                .map(|_| Peer {
                    child: None,
                    url: String::new(),
                    dir: tempfile::tempdir().expect("temp dir"),
                })
                .collect(),
            false => Vec::new(),
        };
        TestServer {
            child: None,
            url: String::new(),
            dir,
            _temp: Some(temp),
            env: all,
            peers,
            next_node: Default::default(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Where this server keeps the contents of uploaded files: the cluster's shared
    /// directory (`CONFAB_CLUSTER_BLOBS`) if it has one, else `<data-dir>/files`.
    pub fn files_dir(&self) -> PathBuf {
        match self.env.iter().rev().find(|(k, _)| k == "CONFAB_CLUSTER_BLOBS") {
            Some((_, dir)) => PathBuf::from(dir),
            None => self.dir.join("files"),
        }
    }

    /// Where this server keeps its trained models: beside the cluster's shared files
    /// (`CONFAB_CLUSTER_BLOBS`) if it has them, else `<data-dir>/models`.
    pub fn models_dir(&self) -> PathBuf {
        match self.env.iter().rev().find(|(k, _)| k == "CONFAB_CLUSTER_BLOBS") {
            Some((_, dir)) => PathBuf::from(dir).join("models"),
            None => self.dir.join("models"),
        }
    }

    /// The PostgreSQL URL of this server's store (`None` for sled).
    pub fn store_url(&self) -> Option<&str> {
        self.env.iter().rev().find(|(k, _)| k == "CONFAB_CLUSTER_STORE").map(|(_, v)| v.as_str())
    }

    /// Opens this server's store directly, as the server would (which must be
    /// stopped): to look below the API, or change what is stored behind its back.
    pub fn open_store(&self) -> Box<dyn confab_store::Store> {
        match self.store_url() {
            Some(url) => {
                let config = PgConfig { exclusive: true, ..PgConfig::new(url) };
                Box::new(confab_store_postgres::PgStore::open(&config).expect("open the PostgreSQL store"))
            }
            None => Box::new(
                confab_store::SledStore::open(&self.dir.join("store"), &Default::default())
                    .expect("open the sled store"),
            ),
        }
    }

    /// `confab ARGS` as this server's own process would run it (its settings and
    /// store), without `--data-dir`: the caller adds what it needs.
    pub fn command(&self) -> Command {
        let exe = std::env::current_exe().expect("test binary path");
        let mut command = Command::new(exe);
        command.env(SERVER_ENV, "1").arg("--");
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }

    /// Starts every node: the first, then the others (which find the schema made).
    fn spawn(&mut self) {
        let (child, url) = self.spawn_node(None, &self.dir);
        (self.child, self.url) = (Some(child), url);
        for i in 0..self.peers.len() {
            let name = ((b'b' + i as u8) as char).to_string();
            let (child, url) = self.spawn_node(Some(&name), self.peers[i].dir.path());
            (self.peers[i].child, self.peers[i].url) = (Some(child), url);
        }
    }

    /// Starts one node on `dir`: the first (`node` `None`, named `a` when it has
    /// peers) or the peer named `node`. Returns it and its URL once it listens.
    fn spawn_node(&self, node: Option<&str>, dir: &Path) -> (Child, String) {
        let mut command = self.command();
        match node {
            Some(name) => command.env("CONFAB_CLUSTER_NODE", name),
            None if !self.peers.is_empty() => command.env("CONFAB_CLUSTER_NODE", "a"),
            None => &mut command,
        };
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("spawn the server");
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_string();
                    let _ = tx.send(addr);
                }
                if std::env::var_os("CONFAB_E2E_SHOW_SERVER_LOG").is_some() {
                    println!("[server] {line}");
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(60)).expect("the server did not say where it listens");
        (child, format!("http://{addr}"))
    }

    /// Every node's process, the first first.
    fn children(&mut self) -> impl Iterator<Item = &mut Option<Child>> {
        std::iter::once(&mut self.child).chain(self.peers.iter_mut().map(|peer| &mut peer.child))
    }

    /// Kills the process (every node) without warning (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        for child in self.children() {
            if let Some(mut child) = child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Stops the process (every node) gracefully (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        let mut stopping: Vec<Child> = self.children().filter_map(Option::take).collect();
        for child in &stopping {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        }
        for child in &mut stopping {
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data dir (after `stop` or `kill`).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Runs a `confab` subcommand on this server's data dir (through the admin socket
    /// while the server runs) and returns its output.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.command()
            .args(args)
            .arg("--data-dir")
            .arg(&self.dir)
            .output()
            .expect("run the confab command line")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A client of the server: of its next node in turn, in the bus mode.
    pub fn client(&self) -> Client {
        Client::new(self.next_url())
    }

    /// The URL of the next node in turn (always the first outside the bus mode).
    pub fn next_url(&self) -> &str {
        let n = self.next_node.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % (1 + self.peers.len());
        match n {
            0 => &self.url,
            n => &self.peers[n - 1].url,
        }
    }

    /// Every node's URL, the first first.
    pub fn node_urls(&self) -> Vec<&str> {
        std::iter::once(self.url.as_str()).chain(self.peers.iter().map(|peer| peer.url.as_str())).collect()
    }

    /// Signs up a user named `name` (email `name@example.com`) and returns a client
    /// acting as them.
    pub async fn user(&self, name: &str) -> (Client, Session) {
        let node = Client::new(self.next_url());
        let session = node
            .signup_with(&SignupRequest {
                email: format!("{name}@example.com"),
                password: "correct horse battery".into(),
                display_name: name.into(),
                username: Some(name.into()),
                invite: None,
            })
            .await
            .expect("sign-up");
        (node.with_token(&session.token), session)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Invites `member` into `ws` on behalf of `inviter` (an ordinary member invite) and
/// accepts it.
pub async fn join(inviter: &Client, ws: confab_core::WorkspaceId, member: &Client) {
    let invite = inviter.create_invite(ws, &CreateInvite::default()).await.expect("create an invite");
    member.accept_invite(&invite.code).await.expect("accept the invite");
}

/// A new workspace of `owner` and the id of its `#general` channel.
pub async fn workspace(owner: &Client, name: &str) -> (confab_core::WorkspaceId, confab_core::ChannelId) {
    let ws = owner.create_workspace(name).await.expect("create a workspace").workspace.id;
    let general = owner.channel_named(ws, "general").await.expect("#general").channel.id;
    (ws, general)
}

/// The routes the server registers, as (method, path template), read from the
/// router's source (`server/src/api.rs`, `server/src/lib.rs`), so that a new route
/// cannot be added without a row in the authorisation table (`e2e/authz.rs`) and in
/// docs/api.md (`e2e/docs.rs`).
pub fn registered_routes() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut routes = Vec::new();
    for file in ["server/src/api.rs", "server/src/lib.rs"] {
        let source = std::fs::read_to_string(root.join(file)).expect("router source");
        for line in source.lines().map(str::trim).filter(|l| l.starts_with(".route(\"/")) {
            let path = line.split('"').nth(1).expect("a quoted path").to_string();
            if path == "/" || path.starts_with("/{*") {
                continue; // the web client's pages, not the API
            }
            let handlers = line.split_once(',').map_or("", |(_, h)| h);
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = handlers.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0 || !handlers[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if called {
                    routes.push((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    assert!(routes.len() > 40, "the router source was read: {routes:?}");
    routes
}
