//! What the `--cluster` scenarios and `services` run on: a throwaway PostgreSQL
//! server and `nats-server` (the ones the tests use, from `confab-test-support`:
//! `initdb`/`pg_ctl` with `fsync=on` in a temporary directory, and `nats-server` on a
//! loopback port), started once per bench run, and nodes of a cluster on them: `confab
//! serve` processes with `[cluster] store` and `bus` set from the environment, each on
//! a data dir of its own, all on one fresh database and one cluster name.
//!
//! Everything runs on this machine, over loopback: a cluster here shares the same
//! cores as one node does, so it measures what the cluster costs, not what it scales
//! to (docs/scaling.md turns the figures into a capacity model).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use confab_test_support::nats::TestNats;
use confab_test_support::postgres::TestCluster;

use crate::server::ServerProcess;

/// PostgreSQL and NATS, for as long as the bench runs (each stops itself when the
/// bench exits, however it exits).
pub struct Services {
    pub pg: TestCluster,
    pub nats: TestNats,
    /// PostgreSQL's data directory, where its `postmaster.pid` is.
    pg_data: PathBuf,
}

impl Services {
    /// Starts both; fails, saying what to install, when either is missing.
    pub fn start() -> anyhow::Result<Services> {
        println!("  starting a throwaway PostgreSQL (fsync on) and nats-server");
        let pg = TestCluster::start(&[]).map_err(|e| anyhow::anyhow!("PostgreSQL: {e}"))?;
        let nats = TestNats::start().map_err(|e| anyhow::anyhow!("NATS: {e}"))?;
        let url = pg.url("postgres");
        // The synchronous client must not run on a thread of the bench's runtime.
        let pg_data = std::thread::spawn(move || -> anyhow::Result<PathBuf> {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            let row = client.query_one("SHOW data_directory", &[])?;
            Ok(PathBuf::from(row.get::<_, String>(0)))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("reading PostgreSQL's data directory panicked"))??;
        Ok(Services { pg, nats, pg_data })
    }

    /// PostgreSQL's data directory.
    pub fn pg_data(&self) -> &Path {
        &self.pg_data
    }

    /// The PostgreSQL server's processes now (backends come and go with connections).
    pub fn postgres_pids(&self) -> Vec<u32> {
        postgres_pids(&self.pg_data)
    }

    /// A new, empty database; its URL.
    pub fn database(&self) -> String {
        self.pg.database()
    }
}

/// The settings of a node on PostgreSQL without a bus (one node per database).
pub fn single_node_env(database: &str) -> Vec<(String, String)> {
    vec![("CONFAB_CLUSTER_STORE".into(), database.into())]
}

/// Write-lease timing of the bench's clusters.
#[derive(Clone, Copy, Debug)]
pub struct LeaseTiming {
    pub ttl_ms: u64,
    pub renew_ms: u64,
}

impl LeaseTiming {
    /// The defaults of config/default.toml.
    pub const DEFAULT: LeaseTiming = LeaseTiming { ttl_ms: 5000, renew_ms: 1000 };
}

/// One node of a cluster; `process` is `None` once it was killed.
pub struct Node {
    pub base: String,
    pub pid: u32,
    process: Option<ServerProcess>,
    _dir: tempfile::TempDir,
}

/// Nodes of one cluster: one database, one NATS, a cluster name of their own.
pub struct Cluster {
    pub nodes: Vec<Node>,
    /// The directory the nodes share for files and models (`[cluster] blobs`).
    _shared: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` nodes, one after the other (the first one migrates the schema).
    pub async fn start(
        bin: &Path,
        services: &Services,
        n: usize,
        leases: LeaseTiming,
        extra_env: &[(String, String)],
    ) -> anyhow::Result<Cluster> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("bench{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let database = services.database();
        let shared = tempfile::Builder::new().prefix("confab-bench-shared-").tempdir()?;
        let mut nodes = Vec::new();
        for i in 0..n.max(1) {
            let node = format!("node-{}", i + 1);
            let mut env = single_node_env(&database);
            env.extend([
                ("CONFAB_CLUSTER_BUS".to_string(), services.nats.url()),
                ("CONFAB_CLUSTER_NAME".to_string(), name.clone()),
                ("CONFAB_CLUSTER_NODE".to_string(), node.clone()),
                ("CONFAB_CLUSTER_LEASE_TTL_MS".to_string(), leases.ttl_ms.to_string()),
                ("CONFAB_CLUSTER_LEASE_RENEW_MS".to_string(), leases.renew_ms.to_string()),
                ("CONFAB_CLUSTER_BLOBS".to_string(), shared.path().display().to_string()),
            ]);
            // Each node its own metrics port (the default one is taken by the first).
            env.push(("CONFAB_SERVER_METRICS_LISTEN".to_string(), "127.0.0.1:0".to_string()));
            env.extend(extra_env.iter().cloned());
            let dir = tempfile::Builder::new().prefix("confab-bench-node-").tempdir()?;
            let process = ServerProcess::start_confab(bin, dir.path(), &env)
                .await
                .with_context(|| format!("starting {node}"))?;
            println!("  started {node} pid {} at {}", process.pid, process.base);
            nodes.push(Node {
                base: process.base.clone(),
                pid: process.pid,
                process: Some(process),
                _dir: dir,
            });
        }
        Ok(Cluster { nodes, _shared: shared })
    }

    pub fn bases(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.base.clone()).collect()
    }

    /// The pids of the nodes still running.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter(|n| n.process.is_some()).map(|n| n.pid).collect()
    }

    /// `kill -9` of node `i`.
    pub async fn kill9(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(process) = self.nodes.get_mut(i).and_then(|n| n.process.take()) {
            process.kill9().await?;
        }
        Ok(())
    }

    /// Stops every node still running (SIGTERM: they release their leases).
    pub async fn stop(self) -> anyhow::Result<()> {
        for node in self.nodes {
            if let Some(process) = node.process {
                process.stop().await?;
            }
        }
        Ok(())
    }
}

/// CPU time (clock ticks) the given processes have used so far; a process that is
/// gone counts 0.
pub fn cpu_ticks_of(pids: &[u32]) -> u64 {
    pids.iter().map(|&pid| crate::server::cpu_ticks(pid).unwrap_or(0)).sum()
}

/// The PostgreSQL server's processes (the postmaster and its children: backends,
/// WAL writer, checkpointer), found from the `postmaster.pid` in its data directory.
pub fn postgres_pids(data_directory: &Path) -> Vec<u32> {
    let Ok(pid_file) = std::fs::read_to_string(data_directory.join("postmaster.pid")) else {
        return Vec::new();
    };
    let Some(postmaster) = pid_file.lines().next().and_then(|l| l.trim().parse::<u32>().ok()) else {
        return Vec::new();
    };
    let mut pids = vec![postmaster];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if parent.and_then(|p| p.parse::<u32>().ok()) == Some(postmaster) {
            pids.push(pid);
        }
    }
    pids
}
