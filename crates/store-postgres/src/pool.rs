//! The store's connections, each owned by a thread of its own, and the queue that
//! hands them work.
//!
//! The synchronous `postgres` client runs every call on a small tokio runtime of its
//! own (`block_on`), which panics on a thread that is already inside a runtime — and
//! the [`confab_store::Store`] trait is called from the app's tokio workers. So no
//! caller ever touches a client: a call is a job (a closure over a [`Connection`])
//! sent to one shared queue, which the first idle connection thread takes; the
//! caller blocks on a one-slot channel for the answer, as it would block on sled's
//! I/O. A job is the unit of atomicity: an `apply` is one job holding its whole
//! transaction on one connection.
//!
//! A connection that is lost (the server restarted, an administrator ended the
//! backend, the network dropped) is replaced on its next use, so reads go on; but
//! a lost connection may mean a server crash that took batches applied and not yet
//! flushed with it, so it also stops the store's writes (see the crate docs).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use confab_store::{Result, StoreError};
use postgres::{Client, GenericClient, NoTls, Statement};

use crate::codec::{backend, backend_message};

/// What the store's threads share: whether writes have stopped.
#[derive(Default)]
pub struct Shared {
    stopped: AtomicBool,
}

impl Shared {
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub fn stop(&self, cause: &dyn std::fmt::Display) {
        if !self.stopped.swap(true, Ordering::AcqRel) {
            tracing::error!(error = %cause, "PostgreSQL store: refusing writes until the process restarts");
        }
    }

    /// `Err(Stopped)` once writes have stopped.
    pub fn check_running(&self) -> Result<()> {
        match self.is_stopped() {
            true => Err(StoreError::Stopped),
            false => Ok(()),
        }
    }
}

/// One connection, owned by one thread, with the statements prepared on it.
pub struct Connection {
    config: postgres::Config,
    client: Option<Client>,
    statements: HashMap<&'static str, Statement>,
    shared: Arc<Shared>,
}

impl Connection {
    /// The client, connected again if the last one was lost (which stops writes).
    pub fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.lose("the connection to PostgreSQL closed");
        }
        if self.client.is_none() {
            self.client = Some(self.config.connect(NoTls).map_err(backend)?);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// The statement for `sql`, prepared on this connection once.
    pub fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client()?.prepare(sql).map_err(backend)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    /// [`Connection::statement`] inside an open transaction (`client` borrows the
    /// connection's client, so the cache is passed apart).
    pub fn prepare_in(
        statements: &mut HashMap<&'static str, Statement>,
        client: &mut impl GenericClient,
        sql: &'static str,
    ) -> Result<Statement> {
        if let Some(statement) = statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql).map_err(backend)?;
        statements.insert(sql, statement.clone());
        Ok(statement)
    }

    /// The client and the statement cache at once, for a transaction.
    pub fn parts(&mut self) -> Result<(&mut Client, &mut HashMap<&'static str, Statement>)> {
        self.client()?;
        Ok((self.client.as_mut().expect("connected above"), &mut self.statements))
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Drops a lost connection: what it applied and did not flush may be gone with
    /// the server, so writes stop.
    fn lose(&mut self, cause: &str) {
        self.client = None;
        self.statements.clear();
        self.shared.stop(&cause);
    }

    /// Runs a read, and runs it again on a new connection if this one turns out to
    /// be lost: a read changes nothing, so a second try is safe, and the caller sees
    /// an error only when the server cannot be reached at all.
    pub fn read<T>(&mut self, read: impl Fn(&mut Connection) -> Result<T>) -> Result<T> {
        match read(self) {
            Err(error) if self.was_lost(&error) => {
                self.lose("the connection to PostgreSQL was lost");
                read(self)
            }
            outcome => outcome,
        }
    }

    /// Whether `error` (or the state of the client after it) means this connection
    /// is gone.
    fn was_lost(&self, error: &StoreError) -> bool {
        let lost_by_error = match error {
            StoreError::Backend(error) => {
                error.downcast_ref::<postgres::Error>().is_some_and(is_connection_lost)
            }
            _ => false,
        };
        lost_by_error || self.client.as_ref().is_some_and(|c| c.is_closed())
    }

    /// After a job: notes a connection lost during it, before its caller hears of
    /// the outcome.
    fn after_job<T>(&mut self, outcome: &Result<T>) {
        let lost = match outcome {
            Err(error) => self.was_lost(error),
            Ok(_) => self.client.as_ref().is_some_and(|c| c.is_closed()),
        };
        if lost {
            self.lose("the connection to PostgreSQL was lost");
        }
    }
}

/// Whether an error means the connection is gone (as opposed to the server refusing
/// one statement): closed, an I/O failure, or a FATAL error that ends the session.
fn is_connection_lost(error: &postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(db) = error.as_db_error() {
        return matches!(db.severity(), "FATAL" | "PANIC");
    }
    std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>())
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The connection threads and their queue.
pub struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `size` threads, each connected before this returns (so a wrong address
    /// or credential fails here, not on first use).
    pub fn start(config: &postgres::Config, size: usize, shared: Arc<Shared>) -> Result<Pool> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let (ready_tx, ready) = mpsc::channel();
        let mut threads = Vec::with_capacity(size);
        for n in 0..size.max(1) {
            let (queue, ready_tx, shared) = (queue.clone(), ready_tx.clone(), shared.clone());
            let config = config.clone();
            let thread = std::thread::Builder::new().name(format!("confab-pg-{n}")).spawn(move || {
                let client = match config.connect(NoTls) {
                    Ok(client) => client,
                    Err(e) => {
                        let _ = ready_tx.send(Err(backend(e)));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let mut connection =
                    Connection { config, client: Some(client), statements: HashMap::new(), shared };
                loop {
                    // The lock is held only while waiting: the first idle thread takes
                    // the next job.
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(&mut connection),
                        Err(_) => return, // the store was dropped
                    }
                }
            });
            threads.push(thread.map_err(StoreError::Io)?);
        }
        drop(ready_tx);
        let pool = Pool { jobs: Some(jobs), threads };
        for _ in 0..pool.threads.len() {
            ready
                .recv()
                .map_err(|_| backend_message("a connection thread ended while connecting".into()))??;
        }
        Ok(pool)
    }

    /// Runs `job` on the first idle connection and waits for its answer.
    pub fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (answer, outcome) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |connection| {
            let result = job(connection);
            connection.after_job(&result);
            let _ = answer.send(result);
        });
        let jobs = self.jobs.as_ref().ok_or_else(|| backend_message("the store is closed".into()))?;
        jobs.send(job).map_err(|_| backend_message("the store's connection threads have ended".into()))?;
        outcome.recv().map_err(|_| backend_message("a connection thread ended during a job".into()))?
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue ends every thread once it finishes its job.
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
