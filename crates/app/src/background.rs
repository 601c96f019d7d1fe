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

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::{AppError, Result};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads that run jobs at a lower priority.
pub(crate) struct BackgroundPool {
    jobs: mpsc::Sender<Job>,
}

impl BackgroundPool {
    /// Starts `threads` threads named `name`, each at nice value `nice` (Linux; where
    /// the priority cannot be lowered the threads run at the default one). The threads
    /// end when the pool is dropped.
    pub(crate) fn new(name: &str, threads: usize, nice: i32) -> BackgroundPool {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || {
                lower_priority(nice);
                loop {
                    // The lock is held only while waiting for the next job, never while one runs.
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
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
    use super::*;

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
