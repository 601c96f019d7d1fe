//! The load generators shared by the scenarios: a *sender* (one connection posting
//! `send` frames, closed-loop with a window of sends in flight or open-loop at a fixed
//! rate, and reading its acks) and a *receiver* (one connection counting the message
//! deliveries it gets and their latency). Both work against Confab and against the
//! baseline server, and every loop is bounded by a message count and a deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::report::Latency;
use crate::wire::{Kind, Socket, classify, marker, send_frame};

/// Marker ids of different phases live in different 2^32 ranges.
pub const PHASE_BITS: u32 = 32;

/// Send instants of one phase's messages (ids `phase << 32 ..`).
pub struct PhaseTimes {
    pub phase: u64,
    times: crate::wire::SentTimes,
    next: AtomicU64,
}

impl PhaseTimes {
    pub fn new(phase: u64, capacity: usize) -> Arc<Self> {
        Arc::new(PhaseTimes { phase, times: crate::wire::SentTimes::new(capacity), next: AtomicU64::new(0) })
    }

    /// A fresh marker id, or `None` once the phase's table is full.
    fn next_id(&self) -> Option<u64> {
        let local = self.next.fetch_add(1, Ordering::Relaxed);
        ((local as usize) < self.times.capacity()).then_some((self.phase << PHASE_BITS) | local)
    }

    fn mark(&self, id: u64) {
        self.times.mark(id & ((1 << PHASE_BITS) - 1));
    }

    fn since_us(&self, id: u64) -> Option<u64> {
        (id >> PHASE_BITS == self.phase).then(|| self.times.since_us(id & ((1 << PHASE_BITS) - 1))).flatten()
    }
}

/// How a sender paces itself.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// Keep this many sends awaiting their ack.
    Window(usize),
    /// One send every `interval`, regardless of acks (open loop).
    Every(Duration),
}

/// What one sender does.
pub struct SenderPlan {
    pub channel: String,
    pub pace: Pace,
    pub max_messages: u64,
    /// No new sends after this; acks are awaited until `deadline + drain`.
    pub deadline: Instant,
    pub drain: Duration,
    pub times: Arc<PhaseTimes>,
    /// Record send→ack latency.
    pub record_latency: bool,
    /// Keep every ack frame (the crash test parses them).
    pub keep_acks: bool,
}

/// What one sender saw.
#[derive(Default)]
pub struct SenderResult {
    pub sent: u64,
    pub acked: u64,
    pub errors: u64,
    pub latency: Latency,
    pub acks: Vec<String>,
    pub first_error: Option<String>,
    /// When the last ack arrived.
    pub last_ack: Option<Instant>,
    /// Whether the connection broke before every ack arrived.
    pub broken: bool,
    /// The close code, if the server closed the connection with one.
    pub close_code: Option<u16>,
    /// Whether the server went silent with sends unanswered (for [`STALL`]).
    pub stalled: bool,
}

/// A sender whose server says nothing for this long while sends await their ack
/// gives up on them.
pub const STALL: Duration = Duration::from_secs(10);

/// Runs one sender over `socket` until its plan is done; returns the socket if it is
/// still usable.
pub async fn run_sender(socket: Socket, plan: SenderPlan) -> (SenderResult, Option<Socket>) {
    let (mut sink, mut stream) = socket.split();
    let window = match plan.pace {
        Pace::Window(w) => w.max(1),
        Pace::Every(_) => Semaphore::MAX_PERMITS,
    };
    let windowed = matches!(plan.pace, Pace::Window(_));
    let permits = Semaphore::new(window);
    let (sent_tx, mut sent_rx) = watch::channel::<Option<u64>>(None);
    let plan = &plan;
    let permits = &permits;

    let writer = async {
        let start = Instant::now();
        let mut n = 0u64;
        let mut failed = false;
        while n < plan.max_messages && Instant::now() < plan.deadline {
            match plan.pace {
                Pace::Window(_) => {
                    let Ok(Ok(permit)) = tokio::time::timeout_at(plan.deadline, permits.acquire()).await
                    else {
                        break;
                    };
                    permit.forget();
                }
                Pace::Every(interval) => {
                    let at = start + interval.mul_f64(n as f64);
                    if at >= plan.deadline {
                        break;
                    }
                    tokio::time::sleep_until(at).await;
                }
            }
            let Some(id) = plan.times.next_id() else { break };
            plan.times.mark(id);
            if sink.send(Message::text(send_frame(&plan.channel, id))).await.is_err() {
                failed = true;
                break;
            }
            n += 1;
        }
        let _ = sent_tx.send(Some(n));
        (sink, failed)
    };

    let reader = async {
        let mut result = SenderResult::default();
        let hard_stop = plan.deadline + plan.drain;
        loop {
            let target = *sent_rx.borrow();
            if target.is_some_and(|t| result.acked + result.errors >= t) {
                break;
            }
            let wake = hard_stop.min(Instant::now() + STALL);
            let frame = tokio::select! {
                f = tokio::time::timeout_at(wake, stream.next()) => match f {
                    Ok(f) => f,
                    Err(_) if wake < hard_stop => {
                        result.stalled = true;
                        break;
                    }
                    Err(_) => break,
                },
                changed = sent_rx.changed(), if target.is_none() => {
                    if changed.is_err() { break }
                    continue;
                }
            };
            match frame {
                Some(Ok(Message::Text(t))) => match classify(&t) {
                    Kind::Ack => {
                        result.acked += 1;
                        result.last_ack = Some(Instant::now());
                        if windowed {
                            permits.add_permits(1);
                        }
                        if plan.record_latency
                            && let Some(us) = marker(&t).and_then(|id| plan.times.since_us(id))
                        {
                            result.latency.record_us(us);
                        }
                        if plan.keep_acks {
                            result.acks.push(t.to_string());
                        }
                    }
                    Kind::Error => {
                        result.errors += 1;
                        if windowed {
                            permits.add_permits(1);
                        }
                        result.first_error.get_or_insert_with(|| t.to_string());
                    }
                    Kind::Event | Kind::Other => {}
                },
                Some(Ok(Message::Close(c))) => {
                    result.broken = true;
                    result.close_code = c.map(|c| u16::from(c.code));
                    break;
                }
                None | Some(Err(_)) => {
                    result.broken = true;
                    break;
                }
                Some(Ok(_)) => {}
            }
        }
        (result, stream)
    };

    let ((sink, failed), (mut result, stream)) = tokio::join!(writer, reader);
    if result.broken || result.stalled {
        eprintln!(
            "  a sender {}: sent {}, acked {}{}",
            if result.stalled { "stalled (no answer for 10 s)" } else { "lost its connection" },
            sent_rx.borrow().unwrap_or(0),
            result.acked,
            result.close_code.map(|c| format!(" (close code {c})")).unwrap_or_default()
        );
    }
    result.sent = sent_rx.borrow().unwrap_or(0);
    result.sent = result.sent.max(result.acked + result.errors);
    result.broken |= failed;
    let socket = if result.broken || result.stalled { None } else { sink.reunite(stream).ok() };
    (result, socket)
}

/// Deliveries counted across receivers, with a wake-up when a goal is reached.
#[derive(Default)]
pub struct Tally {
    count: AtomicU64,
    goal: AtomicU64,
    reached: Notify,
}

impl Tally {
    /// Starts counting towards `goal` from zero.
    pub fn reset(&self, goal: u64) {
        self.count.store(0, Ordering::SeqCst);
        self.goal.store(goal, Ordering::SeqCst);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    fn add(&self) {
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.goal.load(Ordering::SeqCst) {
            self.reached.notify_waiters();
        }
    }

    /// Waits until the goal is reached or `timeout` passes; returns the count.
    pub async fn wait(&self, timeout: Duration) -> u64 {
        let reached = self.reached.notified();
        tokio::pin!(reached);
        reached.as_mut().enable();
        if self.count() < self.goal.load(Ordering::SeqCst) {
            let _ = tokio::time::timeout(timeout, reached).await;
        }
        self.count()
    }
}

/// What one receiver saw.
pub struct ReceiverResult {
    /// Delivery latency per phase.
    pub latency: Vec<Latency>,
    pub frames: u64,
    /// The close code, if the server closed the connection.
    pub closed: Option<Option<u16>>,
}

/// Reads `socket` until `stop` turns true: every message delivery whose marker belongs
/// to one of `phases` is timed and counted in `tally`; everything else (presence,
/// pings) is just read.
pub async fn run_receiver(
    socket: Socket,
    phases: Arc<Vec<Arc<PhaseTimes>>>,
    tally: Arc<Tally>,
    mut stop: watch::Receiver<bool>,
    deadline: Instant,
) -> ReceiverResult {
    let (_sink, mut stream) = socket.split();
    let mut result =
        ReceiverResult { latency: vec![Latency::default(); phases.len()], frames: 0, closed: None };
    loop {
        if *stop.borrow() {
            break;
        }
        let frame = tokio::select! {
            f = tokio::time::timeout_at(deadline, stream.next()) => match f {
                Ok(f) => f,
                Err(_) => break,
            },
            _ = stop.changed() => continue,
        };
        match frame {
            Some(Ok(Message::Text(t))) => {
                result.frames += 1;
                if classify(&t) == Kind::Event
                    && let Some(id) = marker(&t)
                    && let Some(p) = phases.get((id >> PHASE_BITS) as usize)
                    && let Some(us) = p.since_us(id)
                {
                    result.latency[p.phase as usize].record_us(us);
                    tally.add();
                }
            }
            Some(Ok(Message::Close(c))) => {
                result.closed = Some(c.map(|c| u16::from(c.code)));
                break;
            }
            None | Some(Err(_)) => {
                result.closed = Some(None);
                break;
            }
            Some(Ok(_)) => {}
        }
    }
    result
}
