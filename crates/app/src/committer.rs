//! Group commit: one flusher makes every applied batch durable, then releases the
//! batches' events to the hub in the order they were applied, then acknowledges
//! their writers.
//!
//! A writer applies its batch and enqueues it while holding its workspace's write
//! lock, so the queue holds each workspace's events in `event_seq` order. The
//! flusher takes everything queued, flushes once for all of it, publishes, and wakes
//! the writers: many concurrent writes share one flush, and nobody — neither the
//! writer nor any other client — hears of a write before it is durable. In a
//! cluster, the other nodes hear of it next (`cluster`), after this node's hub.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use confab_core::{Error, EventRecord};
use confab_store::Store;
use tokio::sync::{mpsc, oneshot};

use crate::cluster::ClusterHooks;
use crate::directory::Directory;
use crate::hub::Hub;

struct Pending {
    events: Vec<EventRecord>,
    done: oneshot::Sender<Result<(), Error>>,
}

#[derive(Clone)]
pub struct Committer {
    queue: mpsc::UnboundedSender<Pending>,
    /// How many groups have been flushed: whether anything was written lately.
    groups_flushed: Arc<AtomicU64>,
}

/// Resolves once the write it was returned for is durable.
pub struct Durable(oneshot::Receiver<Result<(), Error>>);

impl Durable {
    pub async fn wait(self) -> crate::Result<()> {
        Ok(self.0.await.unwrap_or_else(|_| Err(Error::internal()))?)
    }
}

impl Committer {
    /// Starts the flusher on a thread of its own (see [`Flusher::run`]).
    /// Durable events are also handed to `derived` (the search index and suggestion
    /// statistics). A failed flush sets `writes_stopped` (fail-stop): what was applied
    /// may not be durable, so nothing more is acknowledged until a restart.
    pub fn start(
        store: Arc<dyn Store>,
        directory: Arc<Directory>,
        hub: Arc<Hub>,
        derived: mpsc::UnboundedSender<Vec<EventRecord>>,
        writes_stopped: Arc<AtomicBool>,
        cluster: Arc<ClusterHooks>,
    ) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let groups_flushed = Arc::new(AtomicU64::new(0));
        let flusher = Flusher {
            store,
            directory,
            hub,
            derived,
            writes_stopped,
            cluster,
            groups_flushed: groups_flushed.clone(),
        };
        // Without the thread the queue is closed, and every write answers an error.
        let spawned =
            std::thread::Builder::new().name("confab-flusher".into()).spawn(move || flusher.run(rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the flusher: writes cannot be acknowledged");
        }
        Committer { queue, groups_flushed }
    }

    /// How many groups of writes have been flushed since the start: it changes
    /// whenever anything is written.
    pub fn groups_flushed(&self) -> u64 {
        self.groups_flushed.load(Ordering::Relaxed)
    }

    /// Queues an applied batch's events. Call while still holding the workspace's
    /// write lock, right after `apply`.
    pub fn enqueue(&self, events: Vec<EventRecord>) -> Durable {
        let (done, rx) = oneshot::channel();
        if self.queue.send(Pending { events, done }).is_err() {
            tracing::error!("the flusher has stopped; writes cannot be acknowledged");
        }
        Durable(rx)
    }
}

struct Flusher {
    store: Arc<dyn Store>,
    directory: Arc<Directory>,
    hub: Arc<Hub>,
    derived: mpsc::UnboundedSender<Vec<EventRecord>>,
    writes_stopped: Arc<AtomicBool>,
    cluster: Arc<ClusterHooks>,
    groups_flushed: Arc<AtomicU64>,
}

/// The most writes one flush makes durable.
const MAX_GROUP: usize = 4096;

impl Flusher {
    /// Flushes, publishes and acknowledges until every [`Committer`] is gone.
    ///
    /// On a thread of its own, not a task: every acknowledgement and delivery waits
    /// for this loop, and a task would wait for a runtime worker twice per flush
    /// (to start the blocking flush, then to resume after it), behind whatever the
    /// workers are running.
    fn run(self, mut rx: mpsc::UnboundedReceiver<Pending>) {
        let Flusher { store, directory, hub, derived, writes_stopped, cluster, groups_flushed } = self;
        let mut group = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            group.push(first);
            while group.len() < MAX_GROUP
                && let Ok(pending) = rx.try_recv()
            {
                group.push(pending);
            }
            let started = Instant::now();
            let flushed = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.flush())) {
                // Once stopped, nothing more is acknowledged, even if a later flush works.
                Ok(Ok(())) if writes_stopped.load(Ordering::Acquire) => Err(Error::unavailable()),
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "flush failed: writes stop until a restart");
                    writes_stopped.store(true, Ordering::Release);
                    Err(Error::unavailable())
                }
                Err(_) => {
                    tracing::error!("flush panicked: writes stop until a restart");
                    writes_stopped.store(true, Ordering::Release);
                    Err(Error::unavailable())
                }
            };
            metrics::histogram!("confab_flush_seconds").record(started.elapsed().as_secs_f64());
            metrics::histogram!("confab_flush_group_size").record(group.len() as f64);
            let mut durable_events = Vec::new();
            if flushed.is_ok() {
                for pending in &mut group {
                    publish(&store, &directory, &hub, &pending.events);
                    durable_events.extend(std::mem::take(&mut pending.events));
                }
            }
            if !durable_events.is_empty() {
                // The other nodes of a cluster hear of them after this node's own
                // connections (nothing to do on a single node), and before the writers
                // are told: once a write returns, its events are queued for the bus (an
                // operator command publishes what is queued before it exits).
                if let Some(peers) = cluster.peers.get()
                    && peers.try_send(durable_events.clone()).is_err()
                {
                    // Full (see `cluster::PUBLISH_QUEUE_BATCHES`): the peers read the log.
                    metrics::counter!("confab_cluster_publish_dropped_total").increment(1);
                }
                let _ = derived.send(durable_events);
            }
            // Counted before the writers hear: a write that has returned has moved it.
            groups_flushed.fetch_add(1, Ordering::Relaxed);
            for pending in group.drain(..) {
                let _ = pending.done.send(flushed.clone());
            }
        }
    }
}

fn publish(store: &Arc<dyn Store>, directory: &Directory, hub: &Hub, events: &[EventRecord]) {
    let Some(first) = events.first() else { return };
    match directory.get(store.as_ref(), first.workspace) {
        Ok(Some(state)) => {
            let state = state.read();
            for record in events {
                hub.publish(&state, record, false);
            }
        }
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "cannot load workspace to publish its events"),
    }
}
