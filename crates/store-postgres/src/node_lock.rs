//! One node per database, until nodes coordinate: a session-level advisory lock that
//! a store opened with [`PgConfig::exclusive`](crate::PgConfig::exclusive) takes
//! before it touches the schema, and holds for its life on a connection of its own.
//!
//! A Confab node keeps each workspace's state in memory (members, counters) and
//! assumes it is the only writer; a second node writing the same database would
//! assign the same `seq` twice or act on stale memberships. Until the nodes share a
//! bus that tells each of them what the others wrote, a second node is refused at
//! open with [`NodeLockHeld`], which names the holder.
//!
//! The lock is PostgreSQL's: it lives as long as the session that took it, so a node
//! that is killed releases it with its connection. The connection is owned by a
//! thread of its own (the synchronous client must not be used, nor dropped, on a
//! tokio thread), which checks it every few seconds. If it is lost, the lock may
//! already be another node's, so the store stops its writes, as for any other lost
//! connection (see the crate docs).

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use confab_store::{Result, StoreError};
use postgres::NoTls;

use crate::codec::{backend, backend_message};
use crate::pool::Shared;

/// The advisory lock key of a serving node: "confabn" in ASCII (the migration lock
/// is "confab"), recognisable in `pg_locks`.
pub const NODE_LOCK: i64 = 0x63_6f6e_6661_626e;

/// How often the holding connection is checked.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Another node holds the database: the error [`crate::PgStore::open`] returns
/// (inside [`StoreError::Backend`]) for a second exclusive store.
#[derive(Debug)]
pub struct NodeLockHeld {
    /// Who holds it, as `pg_stat_activity` shows the session: backend pid, client
    /// address and application name, when PostgreSQL lets this user see them.
    pub holder: String,
}

impl std::fmt::Display for NodeLockHeld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "another confab node is serving this database ({})", self.holder)
    }
}

impl std::error::Error for NodeLockHeld {}

/// The thread holding the lock; dropping this releases it.
pub struct NodeLock {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl NodeLock {
    /// Connects and takes the lock without waiting, or answers [`NodeLockHeld`].
    pub fn take(config: &postgres::Config, shared: Arc<Shared>) -> Result<NodeLock> {
        let (stop, stopped) = mpsc::channel::<()>();
        let (taken_tx, taken) = mpsc::channel::<Result<()>>();
        let config = config.clone();
        let thread = std::thread::Builder::new()
            .name("confab-pg-node-lock".into())
            .spawn(move || {
                let mut client = match try_lock(&config) {
                    Ok(client) => client,
                    Err(e) => {
                        let _ = taken_tx.send(Err(e));
                        return;
                    }
                };
                let _ = taken_tx.send(Ok(()));
                loop {
                    match stopped.recv_timeout(CHECK_EVERY) {
                        Err(RecvTimeoutError::Timeout) => {}
                        // The store is gone: the session (and the lock) ends with the client.
                        _ => return,
                    }
                    if client.is_closed() || client.simple_query("SELECT 1").is_err() {
                        shared.stop(&"the connection holding this node's lock on the database was lost");
                        return;
                    }
                }
            })
            .map_err(StoreError::Io)?;
        taken
            .recv()
            .map_err(|_| backend_message("the node lock's thread ended while connecting".into()))??;
        Ok(NodeLock { stop: Some(stop), thread: Some(thread) })
    }
}

/// How long a node waits for the lock before it is refused: long enough for the
/// session of a node that has just stopped (or was killed) to end, which PostgreSQL
/// notices a moment after the connection closes.
const WAIT_FOR_LOCK: Duration = Duration::from_secs(3);

fn try_lock(config: &postgres::Config) -> Result<postgres::Client> {
    let mut client = config.connect(NoTls).map_err(backend)?;
    let deadline = std::time::Instant::now() + WAIT_FOR_LOCK;
    loop {
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&NODE_LOCK])
            .map_err(backend)?
            .try_get(0)
            .map_err(backend)?;
        if taken {
            return Ok(client);
        }
        if std::time::Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // An advisory lock on a bigint key shows in `pg_locks` with the key's high 32
    // bits as `classid` and its low ones as `objid`, in its database.
    let (high, low) = (NODE_LOCK >> 32, NODE_LOCK & 0xffff_ffff);
    let holder = match client.query_opt(
        "SELECT format('backend pid %s from %s, application %L', a.pid,
                       coalesce(host(a.client_addr), 'a local socket'), a.application_name)
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1
           AND l.objid::bigint = $2 AND l.database = a.datid AND a.datname = current_database()",
        &[&high, &low],
    ) {
        Ok(Some(row)) => row.try_get::<_, String>(0).unwrap_or_else(|e| format!("unreadable: {e}")),
        Ok(None) => "its session is not visible to this user".into(),
        Err(e) => format!("its session could not be read: {e}"),
    };
    Err(StoreError::Backend(Box::new(NodeLockHeld { holder })))
}

impl Drop for NodeLock {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
