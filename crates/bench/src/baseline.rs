//! The yardsticks Confab is compared with:
//!
//! - a bare tokio-tungstenite server (`confab-bench serve-baseline`): no auth, no
//!   storage, no JSON. It answers the first frame with a `hello`; every later text
//!   frame is echoed to its sender as an "ack" and, if the sender joined the room
//!   (`"room":"fan"` in its first frame), broadcast to every room member — through the
//!   same per-connection queue + writer task shape Confab uses, with the same 4 KiB
//!   read buffer and unbuffered writes;
//! - sled on its own: how many 200-byte writes per second become durable when many
//!   writers share each flush (group commit);
//! - Confab's store on its own (`SledStore`), writing exactly what a post writes (the
//!   message, the author's read marker, the `message.created` event) with the same
//!   group commit: the ceiling for durable ingest, with no network, JSON or app.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

type Room = Arc<RwLock<HashMap<u64, mpsc::Sender<Message>>>>;

/// Frames queued per connection before broadcasts to it are dropped.
const QUEUE_FRAMES: usize = 1024;

/// Runs the baseline server until the process is killed.
pub async fn serve(listen: SocketAddr, nodelay: bool) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("baseline listening on http://{}", listener.local_addr()?);
    let room: Room = Arc::default();
    let mut next_id = 0u64;
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(nodelay);
        next_id += 1;
        tokio::spawn(connection(tcp, room.clone(), next_id));
    }
}

async fn connection(tcp: TcpStream, room: Room, id: u64) {
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else { return };
    let (mut sink, mut stream) = ws.split();
    let in_room = match stream.next().await {
        Some(Ok(Message::Text(t))) => t.contains(r#""room":"fan""#),
        _ => return,
    };
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE_FRAMES);
    let _ = tx.try_send(Message::text(r#"{"type":"hello"}"#));
    if in_room && let Ok(mut r) = room.write() {
        r.insert(id, tx.clone());
    }
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else { continue };
        let _ = tx.try_send(Message::text(format!(r#"{{"type":"ack"}}{text}"#)));
        if in_room {
            let event = Utf8Bytes::from(format!(r#"{{"type":"event"}}{text}"#));
            if let Ok(r) = room.read() {
                for member in r.values() {
                    let _ = member.try_send(Message::Text(event.clone()));
                }
            }
        }
    }
    if let Ok(mut r) = room.write() {
        r.remove(&id);
    }
    drop(tx);
    writer.abort();
}

/// Group commit as the server's committer does it: writers apply, then wait for a
/// flush that began after their apply; one flusher thread flushes whenever something
/// was applied since its last flush, and sleeps otherwise.
struct GroupCommit {
    state: Mutex<CommitState>,
    /// Wakes the flusher (something applied, or stop).
    applied: Condvar,
    /// Wakes the writers (a flush ended).
    flushed: Condvar,
}

#[derive(Default)]
struct CommitState {
    /// Writes applied so far, and of them, those the flush in progress or an earlier
    /// one covers.
    applied: u64,
    covered: u64,
    /// Flushes started and ended (generation numbers).
    started: u64,
    ended: u64,
    stop: bool,
}

impl GroupCommit {
    fn new() -> Arc<GroupCommit> {
        Arc::new(GroupCommit { state: Mutex::default(), applied: Condvar::new(), flushed: Condvar::new() })
    }

    fn lock(&self) -> anyhow::Result<std::sync::MutexGuard<'_, CommitState>> {
        self.state.lock().map_err(|_| anyhow::anyhow!("poisoned"))
    }

    /// Notes `writes` applied writes and waits until they are durable.
    fn wait_durable(&self, writes: u64) -> anyhow::Result<()> {
        let mut state = self.lock()?;
        state.applied += writes;
        // The next flush to start began after these writes were applied.
        let needed = state.started + 1;
        self.applied.notify_one();
        while state.ended < needed {
            state = self.flushed.wait(state).map_err(|_| anyhow::anyhow!("poisoned"))?;
        }
        Ok(())
    }

    /// Runs the flusher until [`GroupCommit::finish`]; returns the number of flushes.
    fn run_flusher(&self, flush: impl Fn() -> anyhow::Result<()>) -> anyhow::Result<u64> {
        let mut flushes = 0;
        loop {
            let generation = {
                let mut state = self.lock()?;
                while state.applied == state.covered && !state.stop {
                    state = self.applied.wait(state).map_err(|_| anyhow::anyhow!("poisoned"))?;
                }
                if state.stop {
                    return Ok(flushes);
                }
                state.covered = state.applied;
                state.started += 1;
                state.started
            };
            flush()?;
            flushes += 1;
            self.lock()?.ended = generation;
            self.flushed.notify_all();
        }
    }

    /// Waits for the writers, then stops the flusher: how long the writers took since
    /// `began`, and how many flushes there were.
    fn finish(
        &self,
        writers: Vec<std::thread::JoinHandle<anyhow::Result<()>>>,
        flusher: std::thread::JoinHandle<anyhow::Result<u64>>,
        began: Instant,
    ) -> anyhow::Result<(Duration, u64)> {
        for writer in writers {
            writer.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
        }
        let elapsed = began.elapsed();
        self.lock()?.stop = true;
        self.applied.notify_one();
        let flushes = flusher.join().map_err(|_| anyhow::anyhow!("flusher panicked"))??;
        Ok((elapsed, flushes))
    }
}

/// What the raw sled measurement found.
pub struct SledCeiling {
    pub writes: u64,
    pub flushes: u64,
    pub elapsed: Duration,
}

/// `writers` threads each insert a 200-byte value, then wait for a flush that began
/// after the insert (group commit, as Confab's committer does), until `total` writes
/// are durable or `max_time` passes.
pub fn sled_ceiling(writers: usize, total: u64, max_time: Duration) -> anyhow::Result<SledCeiling> {
    let dir = tempfile::tempdir()?;
    let db = sled::Config::new().path(dir.path()).mode(sled::Mode::HighThroughput).open()?;
    let tree = db.open_tree("ceiling")?;
    let commit = GroupCommit::new();
    let flusher = {
        let (db, commit) = (db.clone(), commit.clone());
        std::thread::spawn(move || commit.run_flusher(|| Ok(db.flush().map(drop)?)))
    };
    let began = Instant::now();
    let deadline = began + max_time;
    let written = Arc::new(AtomicU64::new(0));
    let value = [0x5a_u8; 200];
    let threads: Vec<_> = (0..writers.max(1))
        .map(|w| {
            let (tree, commit, written) = (tree.clone(), commit.clone(), written.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                for n in 0u64.. {
                    if written.fetch_add(1, Ordering::SeqCst) >= total || Instant::now() >= deadline {
                        break;
                    }
                    let mut key = [0u8; 16];
                    key[..8].copy_from_slice(&(w as u64).to_be_bytes());
                    key[8..].copy_from_slice(&n.to_be_bytes());
                    tree.insert(key, &value[..])?;
                    commit.wait_durable(1)?;
                }
                Ok(())
            })
        })
        .collect();
    let (elapsed, flushes) = commit.finish(threads, flusher, began)?;
    let writes = tree.len() as u64;
    Ok(SledCeiling { writes, flushes, elapsed })
}

/// What the store-alone measurement found.
pub struct StoreCeiling {
    pub posts: u64,
    pub flushes: u64,
    pub elapsed: Duration,
    /// CPU time of this process (every thread) during the run.
    pub cpu: Duration,
}

/// This process's CPU time so far (user and system), from `/proc/self/stat`.
fn process_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The fields after the command, which is in parentheses and may hold spaces:
    // utime and stime are the 12th and 13th of them.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> { Ok(fields.get(i).copied().unwrap_or("").parse()?) };
    let ticks_per_second = rustix::param::clock_ticks_per_second();
    Ok(Duration::from_secs_f64((ticks(11)? + ticks(12)?) as f64 / ticks_per_second as f64))
}

/// `writers` threads each post into a channel of their own in one workspace, through
/// `SledStore::apply` with the operations the server's post writes, `window` posts at
/// a time (as a sender keeps `window` sends awaiting their ack), each time waiting for
/// a flush that began after them (group commit, as the server's committer does),
/// until `total` posts are durable or `max_time` passes.
pub fn store_ceiling(
    writers: usize,
    window: usize,
    total: u64,
    max_time: Duration,
) -> anyhow::Result<StoreCeiling> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(confab_store::SledStore::open(dir.path(), &Default::default())?);
    store_ceiling_on(store, writers, window, total, max_time)
}

/// A post's batch as the server writes it: the message, the author's read marker and
/// the `message.created` event.
pub fn post_batch(
    workspace: confab_core::WorkspaceId,
    channel: confab_core::ChannelId,
    author: confab_core::UserId,
    seq: u64,
    event_seq: u64,
) -> confab_store::Batch {
    use confab_core::{Event, EventRecord, Message, MessageId};
    use confab_store::{Batch, Op};
    let message = Message {
        id: MessageId::from_bytes(rand::random()),
        workspace,
        channel,
        seq,
        author,
        text: format!("m{seq}"),
        created_at: 1_700_000_000_000,
        edited_at: None,
        deleted: false,
        thread_root: None,
        reply_count: 0,
        last_reply_at: None,
        reactions: Vec::new(),
        mentions: Vec::new(),
        client_msg_id: None,
        files: Vec::new(),
    };
    let event = EventRecord {
        workspace,
        event_seq,
        at: message.created_at,
        event: Event::MessageCreated { message: message.clone() },
    };
    Batch {
        ops: vec![
            Op::PutMessage(message),
            Op::SetReadMarker { channel, user: author, seq },
            Op::AppendEvent(event),
        ],
    }
}

/// [`store_ceiling`] on any store (the PostgreSQL one for `services`).
pub fn store_ceiling_on(
    store: Arc<dyn confab_store::Store>,
    writers: usize,
    window: usize,
    total: u64,
    max_time: Duration,
) -> anyhow::Result<StoreCeiling> {
    use confab_core::{ChannelId, UserId, WorkspaceId};

    let workspace = WorkspaceId::from_bytes(rand::random());
    let (event_seq, posted) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let commit = GroupCommit::new();
    let flusher = {
        let (store, commit) = (store.clone(), commit.clone());
        std::thread::spawn(move || commit.run_flusher(|| Ok(store.flush()?)))
    };
    let cpu_before = process_cpu()?;
    let began = Instant::now();
    let deadline = began + max_time;
    let threads: Vec<_> = (0..writers.max(1))
        .map(|_| {
            let (store, event_seq, posted, commit) =
                (store.clone(), event_seq.clone(), posted.clone(), commit.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let (channel, author) =
                    (ChannelId::from_bytes(rand::random()), UserId::from_bytes(rand::random()));
                let mut seq = 0;
                loop {
                    let mut applied = 0;
                    while applied < window as u64 {
                        if posted.fetch_add(1, Ordering::SeqCst) >= total || Instant::now() >= deadline {
                            break;
                        }
                        seq += 1;
                        let event_seq = event_seq.fetch_add(1, Ordering::SeqCst) + 1;
                        store.apply(post_batch(workspace, channel, author, seq, event_seq))?;
                        applied += 1;
                    }
                    if applied == 0 {
                        return Ok(());
                    }
                    commit.wait_durable(applied)?;
                }
            })
        })
        .collect();
    let (elapsed, flushes) = commit.finish(threads, flusher, began)?;
    let cpu = process_cpu()?.saturating_sub(cpu_before);
    Ok(StoreCeiling { posts: event_seq.load(Ordering::SeqCst), flushes, elapsed, cpu })
}
