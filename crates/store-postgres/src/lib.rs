//! Confab's store on PostgreSQL ([`PgStore`]): the [`confab_store::Store`] trait over
//! real tables, so that several identical nodes can share one database.
//!
//! # Schema
//!
//! One table per kind of record (`migrations/0001_init.sql`): keys and unique keys
//! are columns and constraints, the rest of a record is the JSON of core's serde
//! types in a `jsonb` column. The store applies the migration files at open under an
//! advisory lock, so that nodes started at the same moment do not race (see
//! [`migrate`]), and refuses a database a newer build migrated
//! ([`confab_store::StoreError::SchemaVersion`]). Tables are created in the
//! connection's `search_path` (normally `public`).
//!
//! # Threads
//!
//! The trait is synchronous and the app calls it from tokio's worker threads, where
//! the synchronous `postgres` client must not run (it drives a runtime of its own and
//! would panic inside another). The store therefore owns its connections, each on a
//! thread of its own, and a call hands its work to the first idle one and blocks for
//! the answer ([`pool`]). That keeps the trait and its callers as they are: a read
//! blocks its caller for one round trip, as a sled read blocks for its I/O. A pool of
//! `tokio-postgres` clients on a private runtime would need the same hand-off (a
//! synchronous caller cannot `block_on` it either) plus a runtime to own; threads
//! owning plain clients are the smaller design.
//!
//! # Durability: `apply` and `flush`
//!
//! The trait splits durability in two: [`Store::apply`](confab_store::Store::apply)
//! makes a batch visible atomically, [`Store::flush`](confab_store::Store::flush)
//! makes every batch applied so far durable. Mapped onto PostgreSQL:
//!
//! - **`apply`** is one transaction committed with `synchronous_commit` off (the
//!   connections start with it off). PostgreSQL then "returns success as soon as the
//!   transaction is logically completed, before the WAL records it generated have
//!   actually made their way to disk" (manual, *Asynchronous Commit*): the batch is
//!   visible to every later statement on every connection, and not yet durable.
//! - **`flush`** is one tiny transaction committed with `SET LOCAL synchronous_commit
//!   = on` (the mode "depends on the value of `synchronous_commit` when transaction
//!   commit begins"). Its commit waits for the WAL to be flushed up to its commit
//!   record (`XLogFlush`); the WAL is one sequence (an LSN grows "monotonically with
//!   each new record") flushed as a prefix, and the commit record of every batch
//!   whose `apply` returned before `flush` was called precedes it. So one flush makes
//!   them all durable — PostgreSQL's own group commit does the rest when several
//!   nodes flush at once. Recovery replays the WAL "up to the last record that was
//!   flushed", in commit order, so a crash loses a suffix of unflushed batches, never
//!   an earlier one with a later one kept.
//! - The flush transaction must write something: PostgreSQL commits a transaction
//!   that wrote no WAL without flushing, whatever `synchronous_commit` says
//!   (`RecordTransactionCommit` flushes only when the transaction wrote WAL and has a
//!   transaction id). It bumps this store's row of `flush_marks`, one row per open
//!   store, so that nodes flushing at once do not queue on one row lock.
//! - Without a flush, PostgreSQL's WAL writer still makes asynchronous commits
//!   durable within three times `wal_writer_delay` (600 ms by default); the app never
//!   acknowledges a write before its flush, so that only bounds what a crash can take.
//!
//! # Failures: fail-stop like sled
//!
//! A batch PostgreSQL refuses (a unique key taken: [`write`]) rolled back whole and
//! answers [`StoreError::Taken`](confab_store::StoreError::Taken); the store goes on.
//! A failed flush, a commit whose outcome is unknown, or a lost connection stops the
//! store's writes: `apply` and `flush` answer `Stopped` until the process restarts.
//! A lost connection counts because it may mean the server crashed and restarted,
//! taking applied but unflushed batches with it while this node's memory still holds
//! them; restarting the node reloads what the database holds. Reads go on over new
//! connections.
//!
//! # Several nodes: a write lease per workspace
//!
//! A node keeps each workspace's counters and memberships in memory and sequences
//! its writes alone, so two nodes must never sequence one workspace at once. A
//! store opened with [`PgConfig::leases`] (a node of a cluster with a bus) holds
//! per-workspace write leases ([`lease`]): the app takes a workspace's lease
//! ([`PgStore::take_lease`]) before it writes there, and every batch that writes a
//! workspace's messages or events checks the lease in its own transaction, so a node
//! that lost it cannot commit (fencing).
//!
//! A store opened with [`PgConfig::exclusive`] instead (a node without a bus) first
//! takes a session-level advisory lock and holds it for its life; a second one is
//! refused with [`NodeLockHeld`] before it touches anything ([`node_lock`]).
//!
//! # Backups
//!
//! `confab backup` copies a sled store; a PostgreSQL store answers
//! [`Store::snapshot_to`](confab_store::Store::snapshot_to) with an error telling the
//! operator to use PostgreSQL's tools (`pg_dump`, or `pg_basebackup` with WAL
//! archiving), which copy a live database consistently.

mod codec;
mod counts;
pub mod lease;
pub mod migrate;
pub mod node_lock;
mod pool;
mod store;
mod write;

use std::str::FromStr;
use std::sync::Arc;

use confab_store::Result;
use postgres::NoTls;

pub use lease::{LEASE_TAKEN, LeaseConfig, LeaseOutcome};
pub use migrate::SCHEMA_VERSION;
pub use node_lock::NodeLockHeld;

use crate::codec::{backend, backend_message};
use crate::lease::{Leases, Renewal};
use crate::node_lock::NodeLock;
use crate::pool::{Pool, Shared};

/// Where the database is and how many connections the store keeps.
#[derive(Clone)]
pub struct PgConfig {
    /// `postgres://USER@HOST:PORT/DB` (`postgresql://` too), or libpq's
    /// `key=value` form. A password, if any, is part of it; TLS is not supported.
    pub url: String,
    /// Connections (each on its own thread). Reads and batches run on any of them.
    pub connections: usize,
    /// Whether this store must be the only one open on the database: it takes the
    /// node lock ([`node_lock`]) before anything else, and a second exclusive store
    /// is refused with [`NodeLockHeld`]. A server sets it until nodes coordinate over
    /// a bus; stores that are not exclusive (tests of several nodes) ignore the lock.
    pub exclusive: bool,
    /// A node of a cluster: write leases per workspace ([`lease`]) under this
    /// node's name. Without them, batches are not fenced (one node per database,
    /// or a test of the store alone).
    pub leases: Option<LeaseConfig>,
    /// The `application_name` of the store's sessions, by which PostgreSQL shows
    /// who is connected: [`PgConfig::NODE`] for nodes and operator commands.
    pub application_name: &'static str,
}

impl PgConfig {
    /// The `application_name` of a node's (or an operator command's) sessions.
    pub const NODE: &'static str = "confab";

    pub fn new(url: impl Into<String>) -> PgConfig {
        PgConfig {
            url: url.into(),
            connections: 4,
            exclusive: false,
            leases: None,
            application_name: PgConfig::NODE,
        }
    }
}

impl std::fmt::Debug for PgConfig {
    /// Without the password a URL may hold.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &redact_password(&self.url))
            .field("connections", &self.connections)
            .field("exclusive", &self.exclusive)
            .field("leases", &self.leases)
            .field("application_name", &self.application_name)
            .finish()
    }
}

/// `url` with the password of a `postgres://user:password@host` URL replaced by `***`
/// (libpq's `key=value` form is returned as it is, but for a `password=` value).
pub fn redact_password(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
        let authority = match authority.rsplit_once('@') {
            Some((credentials, host)) => match credentials.split_once(':') {
                Some((user, _)) => format!("{user}:***@{host}"),
                None => authority.to_string(),
            },
            None => authority.to_string(),
        };
        return match path {
            Some(path) => format!("{scheme}://{authority}/{path}"),
            None => format!("{scheme}://{authority}"),
        };
    }
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The [`confab_store::Store`] on PostgreSQL (see the crate docs).
pub struct PgStore {
    pool: Pool,
    shared: Arc<Shared>,
    /// This store's row of `flush_marks`, rewritten by every flush.
    flush_mark: i64,
    /// Held for the store's life when it is exclusive.
    _node_lock: Option<NodeLock>,
    /// The write leases this node holds, when it is a node of a cluster.
    leases: Option<Arc<Leases>>,
    /// Renews them; dropped with the store, which releases them.
    _renewal: Option<Renewal>,
}

impl PgStore {
    /// Connects, takes the node lock if the store is exclusive, brings the schema up
    /// to date (waiting for another node doing the same) and starts the connection
    /// threads. Safe to call on a tokio thread: the work runs on threads of the
    /// store's own.
    pub fn open(config: &PgConfig) -> Result<PgStore> {
        let mut client_config = postgres::Config::from_str(&config.url)
            .map_err(|e| backend_message(format!("the PostgreSQL address is not valid: {e}")))?;
        client_config.application_name(config.application_name);
        let shared = Arc::new(Shared::default());
        let node_lock = match config.exclusive {
            true => Some(NodeLock::take(&client_config, shared.clone())?),
            false => None,
        };
        let setup = client_config.clone();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let mut client = setup.connect(NoTls).map_err(backend)?;
                    migrate::migrate(&mut client)
                })
                .join()
                .map_err(|_| backend_message("migrating the schema panicked".into()))?
        })?;

        // Batches commit asynchronously; a flush commits synchronously (crate docs).
        let options = match client_config.get_options() {
            Some(options) => format!("{options} -c synchronous_commit=off"),
            None => "-c synchronous_commit=off".to_string(),
        };
        client_config.options(&options);
        let pool = Pool::start(&client_config, config.connections, shared.clone())?;
        let flush_mark = pool.run(|connection| {
            let row = connection
                .client()?
                .query_one("INSERT INTO flush_marks DEFAULT VALUES RETURNING id", &[])
                .map_err(backend)?;
            codec::get::<i64>(&row, 0)
        })?;
        let leases = config.leases.clone().map(Leases::new);
        let renewal = match &leases {
            Some(leases) => Some(Renewal::start(&client_config, leases.clone())?),
            None => None,
        };
        Ok(PgStore { pool, shared, flush_mark, _node_lock: node_lock, leases, _renewal: renewal })
    }

    /// Takes `workspace`'s write lease for this node, unless another node holds it
    /// (see [`lease`]). [`LeaseOutcome::Held`] costs no round trip. Answers an
    /// error for a store opened without [`PgConfig::leases`].
    pub fn take_lease(&self, workspace: confab_core::WorkspaceId) -> Result<LeaseOutcome> {
        let leases =
            self.leases.as_ref().ok_or_else(|| backend_message("this store holds no leases".into()))?;
        leases.take(&self.pool, workspace)
    }

    /// Gives up every lease this node holds, so that other nodes take those
    /// workspaces at once: a node that stops cleanly, or an operator command that is
    /// done. Writes to them then answer as writes to another node's workspace.
    pub fn release_leases(&self) {
        if let Some(leases) = &self.leases {
            leases.release_on(&self.pool);
        }
    }

    /// Whether this node holds `workspace`'s lease now (no round trip).
    pub fn holds_lease(&self, workspace: confab_core::WorkspaceId) -> bool {
        self.leases.as_ref().is_some_and(|leases| leases.holds(workspace))
    }

    /// How many workspaces' leases this node holds now (no round trip).
    pub fn leases_held(&self) -> usize {
        self.leases.as_ref().map_or(0, |leases| leases.count_held())
    }

    /// This node's name in the lease table, if it holds leases.
    pub fn lease_holder_name(&self) -> Option<&str> {
        self.leases.as_ref().map(|leases| leases.node())
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // The row has no use once this store is gone (a node that was killed leaves
        // its row behind: three columns, harmless).
        let mark = self.flush_mark;
        let _ = self.pool.run(move |connection| {
            connection.client()?.execute("DELETE FROM flush_marks WHERE id = $1", &[&mark]).map_err(backend)
        });
    }
}
