//! The yardsticks Confab is compared with:
//!
//! - a bare tokio-tungstenite server (`confab-bench serve-baseline`): no auth, no
//!   storage, no JSON. It answers the first frame with a `hello`; every later text
//!   frame is echoed to its sender as an "ack" and, if the sender joined the room
//!   (`"room":"fan"` in its first frame), broadcast to every room member — through the
//!   same per-connection queue + writer task shape Confab uses, with the same 4 KiB
//!   read buffer and unbuffered writes;
//! - sled on its own: how many 200-byte writes per second become durable when many
//!   writers share each flush (group commit), the ceiling for durable ingest.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

    struct Gate {
        started: AtomicU64,
        done: Mutex<u64>,
        flushed: Condvar,
        stop: AtomicBool,
        writes: AtomicU64,
    }
    let gate = Arc::new(Gate {
        started: AtomicU64::new(0),
        done: Mutex::new(0),
        flushed: Condvar::new(),
        stop: AtomicBool::new(false),
        writes: AtomicU64::new(0),
    });
    let began = Instant::now();
    let deadline = began + max_time;

    let flusher = {
        let (db, gate) = (db.clone(), gate.clone());
        std::thread::spawn(move || -> anyhow::Result<u64> {
            let mut flushes = 0;
            while !gate.stop.load(Ordering::SeqCst) {
                let generation = gate.started.fetch_add(1, Ordering::SeqCst) + 1;
                db.flush()?;
                flushes += 1;
                let mut done = gate.done.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                *done = generation;
                gate.flushed.notify_all();
            }
            Ok(flushes)
        })
    };
    let value = [0x5a_u8; 200];
    let threads: Vec<_> = (0..writers.max(1))
        .map(|w| {
            let (tree, gate) = (tree.clone(), gate.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut n = 0u64;
                loop {
                    let total_so_far = gate.writes.fetch_add(1, Ordering::SeqCst);
                    if total_so_far >= total || Instant::now() >= deadline {
                        break;
                    }
                    let mut key = [0u8; 16];
                    key[..8].copy_from_slice(&(w as u64).to_be_bytes());
                    key[8..].copy_from_slice(&n.to_be_bytes());
                    tree.insert(key, &value[..])?;
                    n += 1;
                    let after = gate.started.load(Ordering::SeqCst) + 1;
                    let mut done = gate.done.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                    while *done < after {
                        done = gate.flushed.wait(done).map_err(|_| anyhow::anyhow!("poisoned"))?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
    }
    let elapsed = began.elapsed();
    gate.stop.store(true, Ordering::SeqCst);
    let flushes = flusher.join().map_err(|_| anyhow::anyhow!("flusher panicked"))??;
    let writes = tree.len() as u64;
    Ok(SledCeiling { writes, flushes, elapsed })
}
