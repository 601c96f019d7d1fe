//! Per-workspace write leases: which node of a cluster sequences each workspace's
//! writes, so that `seq` per channel and `event_seq` per workspace stay gapless,
//! unique and in commit order while several nodes share the database.
//!
//! A node keeps a workspace's counters and memberships in memory and sequences its
//! writes alone; only the node holding the workspace's lease may do that. The
//! lease is a row of `workspace_leases` (`migrations/0002_workspace_leases.sql`):
//! the holder's name, an `epoch` that grows each time the lease is taken, and an
//! expiry that the holder renews.
//!
//! **Why a table with an expiry, not advisory locks.** An advisory lock lives in
//! one session, and the store's batches commit on other sessions (its pool): a
//! batch could not check, inside its own transaction, that the lock is still held,
//! and a holder whose lock session dropped could go on committing on the others
//! until it noticed. A row can be checked and locked by the batch itself: every
//! batch that writes a workspace's messages or events reads the lease row `FOR
//! SHARE` and commits only if it still names this node at the epoch the node took
//! (fencing). A taker's `UPDATE` waits for such a batch to commit, and a batch that
//! starts after the takeover finds another holder or epoch and is refused
//! ([`StoreError::Taken`]`("workspace lease")`), writing nothing. The price is that
//! a killed holder's lease is free only once it expires (`ttl`, seconds), where an
//! advisory lock would go with the connection at once.
//!
//! **Timing.** A holder renews all its leases every `renew_every` on a connection
//! of its own (a busy pool does not delay it). It counts a lease as its own only
//! until `ttl` minus a margin after the renewal was *sent*, by its own clock, while
//! PostgreSQL counts `ttl` from when it *ran* it: a holder that cannot renew (the
//! database is unreachable, the node is paused) stops using the lease before the
//! database lets anyone else take it, and the fencing check catches what the clocks
//! would not. A lease that lapsed is taken again with a new epoch, never resumed:
//! the app reloads the workspace from the store each time it takes a lease
//! ([`LeaseOutcome::Taken`]).

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use confab_core::WorkspaceId;
use confab_store::{Result, StoreError};
use postgres::NoTls;

use crate::codec::{backend, get};
use crate::pool::Pool;

/// The node's name in the lease table and how long its leases last.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// This node: its name, made unique per process (`name/pid/start`, see
    /// [`LeaseConfig::new`]). A process of the same `name` takes the leases of a
    /// previous one at once, without waiting for them to expire: a node restarted
    /// after a crash gets its workspaces back (and fencing stops the previous one,
    /// should it still run). Node names must therefore be unique in a cluster.
    pub node: String,
    /// How long a lease lasts without renewal: how long a killed holder's
    /// workspaces wait before another node takes them.
    pub ttl: Duration,
    /// How often the holder renews its leases (well under `ttl`).
    pub renew_every: Duration,
}

impl LeaseConfig {
    /// Leases of the node `name`, for this process: a restarted node is another
    /// holder, so that it never mistakes its previous life's leases for its own.
    pub fn new(name: &str, ttl: Duration, renew_every: Duration) -> LeaseConfig {
        let started =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        LeaseConfig { node: format!("{name}/{}/{started:x}", std::process::id()), ttl, renew_every }
    }

    /// How long before the database's expiry the holder stops counting on a lease.
    fn margin(&self) -> Duration {
        (self.ttl / 5).max(Duration::from_millis(100)).min(self.ttl / 2)
    }
}

/// What [`crate::PgStore::take_lease`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// This node held the lease already: its memory of the workspace is current.
    Held,
    /// This node has just taken the lease (it was free, or it had lapsed): reload
    /// the workspace's counters and state from the store before sequencing.
    Taken,
    /// Another node holds it (its name, as in the lease table).
    Elsewhere { holder: String },
}

/// A lease this node holds: its epoch, and until when the node counts on it.
#[derive(Clone, Copy, Debug)]
struct Held {
    epoch: i64,
    valid_until: Instant,
}

/// The leases this node holds, shared by the store (fencing), the renewal thread
/// and the app (through [`crate::PgStore::take_lease`]).
pub struct Leases {
    config: LeaseConfig,
    held: Mutex<HashMap<WorkspaceId, Held>>,
    /// Workspaces another node was found holding, until when that answer is reused:
    /// a node forwarding a stream of writes asks the database at most every
    /// [`ELSEWHERE_REUSED_FOR`] per workspace.
    elsewhere: Mutex<HashMap<WorkspaceId, (Instant, String)>>,
}

/// How long "another node holds it" is believed without asking again (never past
/// the lease's own expiry).
const ELSEWHERE_REUSED_FOR: Duration = Duration::from_millis(250);

impl Leases {
    pub(crate) fn new(config: LeaseConfig) -> Arc<Leases> {
        Arc::new(Leases { config, held: Mutex::new(HashMap::new()), elsewhere: Mutex::new(HashMap::new()) })
    }

    pub fn node(&self) -> &str {
        &self.config.node
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<WorkspaceId, Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The epoch of `workspace`'s lease if this node may count on it now.
    pub(crate) fn epoch(&self, workspace: WorkspaceId) -> Option<i64> {
        let held = self.held();
        held.get(&workspace).filter(|h| h.valid_until > Instant::now()).map(|h| h.epoch)
    }

    /// Whether this node holds `workspace`'s lease now (no round trip).
    pub fn holds(&self, workspace: WorkspaceId) -> bool {
        self.epoch(workspace).is_some()
    }

    /// Forgets a lease the database says is no longer this node's.
    pub(crate) fn forget(&self, workspace: WorkspaceId) {
        self.held().remove(&workspace);
    }

    /// Takes `workspace`'s lease if it is free or lapsed (one round trip on the
    /// pool), unless this node already counts on it.
    pub(crate) fn take(&self, pool: &Pool, workspace: WorkspaceId) -> Result<LeaseOutcome> {
        if self.holds(workspace) {
            return Ok(LeaseOutcome::Held);
        }
        {
            let mut elsewhere = self.elsewhere.lock().unwrap_or_else(|e| e.into_inner());
            match elsewhere.get(&workspace) {
                Some((until, holder)) if *until > Instant::now() => {
                    return Ok(LeaseOutcome::Elsewhere { holder: holder.clone() });
                }
                Some(_) => {
                    elsewhere.remove(&workspace);
                }
                None => {}
            }
        }
        let (node, ttl_ms) = (self.config.node.clone(), duration_ms(self.config.ttl));
        let sent = Instant::now();
        let (epoch, holder) = pool.run(move |connection| {
            let client = connection.client()?;
            let taken = client
                .query_opt(
                    "INSERT INTO workspace_leases (workspace, holder, epoch, expires_at)
                     VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 millisecond')
                     ON CONFLICT (workspace) DO UPDATE SET holder = EXCLUDED.holder,
                         epoch = workspace_leases.epoch + 1, expires_at = EXCLUDED.expires_at
                     WHERE workspace_leases.expires_at <= clock_timestamp()
                        OR split_part(workspace_leases.holder, '/', 1) = split_part($2, '/', 1)
                     RETURNING epoch",
                    &[&workspace.to_string(), &node, &ttl_ms],
                )
                .map_err(backend)?;
            if let Some(row) = taken {
                return Ok((Some(get::<i64>(&row, 0)?), None));
            }
            let holder = client
                .query_opt(
                    "SELECT holder, greatest(0, extract(epoch FROM expires_at - clock_timestamp()) * 1000)::float8
                     FROM workspace_leases WHERE workspace = $1",
                    &[&workspace.to_string()],
                )
                .map_err(backend)?
                .map(|row| Ok::<_, StoreError>((get::<String>(&row, 0)?, get::<f64>(&row, 1)?)))
                .transpose()?;
            Ok((None, holder))
        })?;
        match epoch {
            Some(epoch) => {
                let valid_until = sent + self.config.ttl - self.config.margin();
                self.held().insert(workspace, Held { epoch, valid_until });
                tracing::info!(%workspace, epoch, "took the workspace's write lease");
                Ok(LeaseOutcome::Taken)
            }
            None => {
                // (No row: taken and released between the two statements.)
                let (holder, left_ms) = holder.unwrap_or_default();
                let left = Duration::from_secs_f64(left_ms.max(0.0) / 1000.0).min(ELSEWHERE_REUSED_FOR);
                let mut elsewhere = self.elsewhere.lock().unwrap_or_else(|e| e.into_inner());
                elsewhere.insert(workspace, (sent + left, holder.clone()));
                Ok(LeaseOutcome::Elsewhere { holder })
            }
        }
    }

    /// How many leases this node counts as its own now.
    pub(crate) fn count_held(&self) -> usize {
        let now = Instant::now();
        self.held().values().filter(|h| h.valid_until > now).count()
    }

    /// Renews every lease this node holds; those the database no longer gives it
    /// are forgotten (and logged).
    fn renew(&self, client: &mut postgres::Client) -> Result<()> {
        let held: Vec<(WorkspaceId, Held)> = self.held().iter().map(|(w, h)| (*w, *h)).collect();
        if held.is_empty() {
            return Ok(());
        }
        let workspaces: Vec<String> = held.iter().map(|(w, _)| w.to_string()).collect();
        let epochs: Vec<i64> = held.iter().map(|(_, h)| h.epoch).collect();
        let sent = Instant::now();
        let rows = client
            .query(
                "UPDATE workspace_leases l SET expires_at = clock_timestamp() + $4 * interval '1 millisecond'
                 FROM unnest($2::text[], $3::bigint[]) AS h(workspace, epoch)
                 WHERE l.workspace = h.workspace AND l.epoch = h.epoch AND l.holder = $1
                   AND l.expires_at > clock_timestamp()
                 RETURNING l.workspace",
                &[&self.config.node, &workspaces, &epochs, &duration_ms(self.config.ttl)],
            )
            .map_err(backend)?;
        let renewed: std::collections::HashSet<String> =
            rows.iter().filter_map(|row| get::<String>(row, 0).ok()).collect();
        let valid_until = sent + self.config.ttl - self.config.margin();
        let mut now_held = self.held();
        for (workspace, before) in held {
            let Some(current) = now_held.get_mut(&workspace) else { continue };
            if current.epoch != before.epoch {
                continue; // taken again meanwhile: that take set its own deadline
            }
            if renewed.contains(&workspace.to_string()) {
                current.valid_until = valid_until;
            } else {
                now_held.remove(&workspace);
                tracing::warn!(%workspace, "lost the workspace's write lease (it lapsed or was taken)");
            }
        }
        Ok(())
    }

    /// Gives every lease of this node up, so that other nodes take them at once
    /// (a clean stop), rather than after they expire.
    fn release(&self, client: &mut impl postgres::GenericClient) {
        self.held().clear();
        if let Err(e) = client.execute(
            "UPDATE workspace_leases SET expires_at = clock_timestamp() WHERE holder = $1",
            &[&self.config.node],
        ) {
            tracing::warn!(error = %e, "could not release this node's workspace leases; they will expire");
        }
    }

    /// [`Leases::release`] on a connection of the pool.
    pub(crate) fn release_on(self: &Arc<Self>, pool: &Pool) {
        let leases = self.clone();
        let released = pool.run(move |connection| {
            leases.release(connection.client()?);
            Ok(())
        });
        if let Err(e) = released {
            tracing::warn!(error = %e, "could not release this node's workspace leases; they will expire");
        }
    }
}

/// The workspaces whose sequencing a batch writes (their messages or events), each
/// with the epoch of this node's lease on it; `Taken("workspace lease")` for a
/// workspace whose lease this node cannot count on now. The batch then checks each
/// in its transaction ([`check_fence`]).
pub(crate) fn fences(leases: &Leases, batch: &confab_store::Batch) -> Result<Vec<(WorkspaceId, i64)>> {
    let mut fences: Vec<(WorkspaceId, i64)> = Vec::new();
    for op in &batch.ops {
        let workspace = match op {
            confab_store::Op::AppendEvent(record) => record.workspace,
            confab_store::Op::PutMessage(message) => message.workspace,
            _ => continue,
        };
        if fences.iter().any(|(w, _)| *w == workspace) {
            continue;
        }
        let epoch = leases.epoch(workspace).ok_or(StoreError::Taken(LEASE_TAKEN))?;
        fences.push((workspace, epoch));
    }
    Ok(fences)
}

/// What a batch refused for want of its workspace's lease answers
/// ([`StoreError::Taken`]): the app reloads the workspace, as after any refusal.
pub const LEASE_TAKEN: &str = "workspace lease";

/// Inside a batch's transaction: whether the lease row still names this node at
/// `epoch`, unexpired, locking it until the commit (a taker waits for it).
pub(crate) fn check_fence(
    tx: &mut postgres::Transaction<'_>,
    leases: &Leases,
    (workspace, epoch): (WorkspaceId, i64),
) -> Result<()> {
    let held = tx
        .query_opt(
            "SELECT 1 FROM workspace_leases WHERE workspace = $1 AND holder = $2 AND epoch = $3
               AND expires_at > clock_timestamp() FOR SHARE",
            &[&workspace.to_string(), &leases.config.node, &epoch],
        )
        .map_err(backend)?;
    match held {
        Some(_) => Ok(()),
        None => {
            leases.forget(workspace);
            tracing::warn!(%workspace, "a batch found this node's write lease gone; refused");
            Err(StoreError::Taken(LEASE_TAKEN))
        }
    }
}

fn duration_ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The thread renewing a node's leases on a connection of its own; dropping it
/// releases them.
pub struct Renewal {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Renewal {
    pub(crate) fn start(config: &postgres::Config, leases: Arc<Leases>) -> Result<Renewal> {
        let (stop, stopped) = mpsc::channel::<()>();
        let config = config.clone();
        let every = leases.config.renew_every;
        let thread = std::thread::Builder::new()
            .name("confab-pg-leases".into())
            .spawn(move || {
                let mut client: Option<postgres::Client> = None;
                loop {
                    match stopped.recv_timeout(every) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => {
                            let open =
                                client.filter(|c| !c.is_closed()).or_else(|| config.connect(NoTls).ok());
                            if let Some(mut client) = open {
                                leases.release(&mut client);
                            }
                            return;
                        }
                    }
                    if client.as_ref().is_none_or(|c| c.is_closed()) {
                        client = config
                            .connect(NoTls)
                            .map_err(|e| tracing::warn!(error = %e, "lease renewal: cannot connect"))
                            .ok();
                    }
                    let Some(connected) = client.as_mut() else { continue };
                    if let Err(e) = leases.renew(connected) {
                        // Leases not renewed lapse by themselves, here first.
                        tracing::warn!(error = %e, "renewing the workspace leases failed");
                        client = None;
                    }
                }
            })
            .map_err(StoreError::Io)?;
        Ok(Renewal { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
