//! Work that must not take the cores from the chat, on a few dedicated threads at a
//! lower CPU priority: password hashing (`auth`) and derived data (`derived`: the
//! search index and the suggestion statistics).
//!
//! An argon2id hash is expensive on purpose: tens of milliseconds of CPU and
//! `auth.argon2_memory_kib` of memory each. Log-in and sign-up floods are answered
//! by the throttles, but every attempt they admit still costs a hash. On tokio's
//! blocking pool those hashes competed with the chat's own threads on equal terms, so
//! on a two-core machine a flood of wrong passwords took the cores that deliver
//! messages. Here each permit has its own thread, and the threads run at
//! `auth.hash_nice` (default 10): when the CPU is contended the chat's threads win,
//! when it is idle a log-in takes as long as ever.
//!
//! The permits (the semaphores in `auth`) bound how many jobs are queued, so each pool
//! never holds more jobs than it has threads.
//!
//! A pool may run a hook on each thread once it has been idle for a while
//! ([`BackgroundPool::with_idle_hook`]): the hashing threads keep argon2's working
//! memory from one hash to the next (`passwords`), and hand it back when no hash has
//! come for [`HASH_MEMORY_KEPT_IDLE`], so an idle server does not hold 19 MiB per
//! hashing thread for hashes it computed hours ago.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use tokio::sync::oneshot;

use crate::{AppError, Result};

type Job = Box<dyn FnOnce() + Send>;

/// How long a hashing thread keeps argon2's working memory after its last hash.
/// Under a log-in flood hashes follow each other well within it, so the memory is
/// mapped once per flood rather than once per hash.
pub(crate) const HASH_MEMORY_KEPT_IDLE: Duration = Duration::from_secs(30);

/// A fixed set of threads that run jobs at a lower priority.
pub(crate) struct BackgroundPool {
    jobs: Sender<Job>,
}

/// What a pool's thread does once it has had no job for a while.
#[derive(Clone, Copy)]
struct IdleHook {
    after: Duration,
    run: fn(),
}

impl BackgroundPool {
    /// Starts `threads` threads named `name`, each at nice value `nice` (Linux; where
    /// the priority cannot be lowered the threads run at the default one). The threads
    /// end when the pool is dropped.
    pub(crate) fn new(name: &str, threads: usize, nice: i32) -> BackgroundPool {
        Self::start(name, threads, nice, None)
    }

    /// As [`BackgroundPool::new`], and each thread runs `hook` once it has had no job
    /// for `idle` since its last one (once per idle spell, not again until it has run
    /// another job).
    pub(crate) fn with_idle_hook(
        name: &str,
        threads: usize,
        nice: i32,
        idle: Duration,
        hook: fn(),
    ) -> BackgroundPool {
        Self::start(name, threads, nice, Some(IdleHook { after: idle, run: hook }))
    }

    fn start(name: &str, threads: usize, nice: i32, idle: Option<IdleHook>) -> BackgroundPool {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || {
                lower_priority(nice);
                run_jobs(&queue, idle);
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, name, "could not start a background thread");
            }
        }
        BackgroundPool { jobs }
    }

    /// Runs `work` on one of the pool's threads and returns its result.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.send(job).map_err(|e| AppError::other("a background job", e))?;
        result.await.map_err(|e| AppError::other("a background job", e))
    }
}

/// A pool thread's loop: runs jobs until the pool is dropped, and the idle hook after
/// each idle spell.
fn run_jobs(queue: &Receiver<Job>, idle: Option<IdleHook>) {
    // Nothing to hand back before the first job.
    let mut hook_due = false;
    loop {
        let job = match idle.filter(|_| hook_due) {
            Some(hook) => match queue.recv_timeout(hook.after) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    (hook.run)();
                    hook_due = false;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        job();
        hook_due = true;
    }
}

#[cfg(target_os = "linux")]
pub(crate) fn lower_priority(nice: i32) {
    // On Linux the nice value is per thread: this lowers only the calling thread, and
    // the threads it starts from then on.
    if nice > 0
        && let Err(e) = rustix::process::setpriority_process(None, nice)
    {
        tracing::warn!(error = %e, nice, "could not lower a background thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn lower_priority(_nice: i32) {}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Condvar, Mutex};

    use super::*;

    /// Names of the threads the idle hook ran on, in order.
    static IDLE_RUNS: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static IDLE_RAN: Condvar = Condvar::new();

    fn record_idle() {
        let name = std::thread::current().name().unwrap_or_default().to_owned();
        IDLE_RUNS.lock().unwrap().push(name);
        IDLE_RAN.notify_all();
    }

    /// Waits (at most 10 s) until the hook has run `n` times; returns the runs.
    fn wait_for_idle_runs(n: usize) -> Vec<String> {
        let runs = IDLE_RUNS.lock().unwrap();
        let (runs, _) =
            IDLE_RAN.wait_timeout_while(runs, Duration::from_secs(10), |runs| runs.len() < n).unwrap();
        runs.clone()
    }

    #[tokio::test]
    async fn the_idle_hook_runs_on_the_thread_once_per_idle_spell() {
        let idle = Duration::from_millis(20);
        let pool = BackgroundPool::with_idle_hook("test-idle", 1, 0, idle, record_idle);
        // Before any job there is nothing to hand back.
        std::thread::sleep(idle * 5);
        assert!(IDLE_RUNS.lock().unwrap().is_empty(), "no hook before the first job");
        pool.run(|| ()).await.expect("the job runs");
        assert_eq!(wait_for_idle_runs(1), ["test-idle-0"], "on the pool's thread, after the job");
        // Idle on: the hook does not run again until another job has run.
        std::thread::sleep(idle * 5);
        assert_eq!(IDLE_RUNS.lock().unwrap().len(), 1, "once per idle spell");
        pool.run(|| ()).await.expect("the job runs");
        assert_eq!(wait_for_idle_runs(2).len(), 2, "again after the next job");
    }

    #[tokio::test]
    async fn jobs_run_on_the_pools_threads_at_the_lower_priority() {
        let pool = BackgroundPool::new("test-hash", 2, 7);
        let (name, nice) = pool
            .run(|| {
                let name = std::thread::current().name().map(str::to_owned);
                (name, rustix::process::getpriority_process(None).ok())
            })
            .await
            .expect("the job runs");
        assert!(name.is_some_and(|n| n.starts_with("test-hash-")), "on a pool thread");
        if cfg!(target_os = "linux") {
            assert_eq!(nice, Some(7), "at the configured nice value");
        }
        // More jobs at once than threads: every one runs, none is lost.
        let pool = Arc::new(pool);
        let waits: Vec<_> = (0..8)
            .map(|i| {
                let pool = Arc::clone(&pool);
                tokio::spawn(async move { pool.run(move || i * 2).await })
            })
            .collect();
        let mut results = Vec::new();
        for wait in waits {
            results.push(wait.await.expect("task").expect("job result"));
        }
        assert_eq!(results, (0..8).map(|i| i * 2).collect::<Vec<_>>());
    }
}
