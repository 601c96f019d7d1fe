//! `confab migrate --to postgres://…`: copies the sled store of a data dir into an
//! empty PostgreSQL database, so that a node run on sled can move to the PostgreSQL
//! store (docs/cluster.md).
//!
//! The copy is the sled store's export ([`SledStore::export_dir`]): every record as
//! the store operation that writes it, in chunks applied to PostgreSQL as they come.
//! Memory is bounded whatever the size of the store: by the chunk ([`EXPORT`]'s
//! `chunk_bytes` of records, held as operations while one transaction writes them),
//! and by what sled keeps of the pages it reads, which the export frees by closing
//! and opening the store again after every part of `part_bytes` or `part_keys`.
//!
//! What it refuses, before writing anything:
//! - a data dir a running node serves: sled's own lock on `<data-dir>/store`;
//! - a database a node serves: the PostgreSQL store's node lock, which the copy
//!   also holds until it ends, so no node starts on the database half-copied; and
//!   any node or operator command connected to it (a node with a bus takes no node
//!   lock), seen by the `application_name` of its sessions, which the copy's own
//!   do not share;
//! - a database that holds any record already: the copy neither merges nor
//!   overwrites.
//!
//! At the end it counts each kind of record in PostgreSQL and compares with what the
//! export counted: any difference fails the command.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use confab_store::{ExportOptions, RecordCounts, RecordKind, SledConfig, SledStore, Store, StoreError};
use confab_store_postgres::{NodeLockHeld, PgConfig, PgStore, redact_password};
use serde::Serialize;

use crate::config::Config;

/// The records handed to PostgreSQL per transaction (by their size in sled), and
/// the parts the store is read in, each with the store opened anew.
pub const EXPORT: ExportOptions =
    ExportOptions { chunk_bytes: 4 * 1024 * 1024, part_bytes: 32 * 1024 * 1024, part_keys: 50_000 };
/// sled's page cache while the store is read, once, in key order.
pub const SOURCE_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// What the command prints when the copy is done and checked.
#[derive(Debug, Serialize)]
pub struct MigrateReport {
    /// The database, without its password.
    pub database: String,
    /// Per kind of record: exported from sled, and counted in PostgreSQL after.
    pub records: Vec<KindReport>,
    pub keys_read: u64,
    pub batches: u64,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct KindReport {
    pub kind: RecordKind,
    pub exported: u64,
    pub in_postgres: u64,
}

/// Copies `<data-dir>/store` into the database at `url` with a progress bar on
/// standard error, prints the report as JSON, and fails if PostgreSQL's counts are
/// not the export's.
pub fn run(config: &Config, url: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let data_dir = &config.server.data_dir;
    let store_dir = data_dir.join("store");
    // Opened once to check it, then read part by part by the export.
    drop(open_source(&store_dir)?);
    let database = redact_password(url);
    let target = open_target(url, &database)?;

    let connected = target.node_sessions()?;
    anyhow::ensure!(
        connected == 0,
        "a confab node or operator command is connected to {database} ({connected} sessions); stop it \
         before copying into this database"
    );
    let held = target.record_counts()?;
    let nonempty: Vec<String> = held
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(kind, count)| format!("{count} {}", kind.name()))
        .collect();
    anyhow::ensure!(
        nonempty.is_empty(),
        "the database at {database} already holds records ({}); confab migrate copies into an empty \
         database only",
        nonempty.join(", ")
    );

    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} store keys copied (ETA {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let source = SledConfig { cache_capacity: SOURCE_CACHE_BYTES };
    let exported = SledStore::export_dir(&store_dir, &source, EXPORT, &mut |batch, progress| {
        target.apply(batch)?;
        bar.set_length(progress.keys_total);
        bar.set_position(progress.keys_read);
        Ok(())
    });
    bar.finish_and_clear();
    let stats = exported.with_context(|| format!("copying {} to {database}", store_dir.display()))?;
    target.flush().context("making the copy durable")?;

    let landed = target.record_counts()?;
    let report = MigrateReport {
        database,
        records: RecordKind::ALL
            .iter()
            .map(|&kind| KindReport {
                kind,
                exported: count(&stats.records, kind),
                in_postgres: count(&landed, kind),
            })
            .collect(),
        keys_read: stats.keys,
        batches: stats.batches,
        seconds: started.elapsed().as_secs_f64(),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    let differ: Vec<String> = report
        .records
        .iter()
        .filter(|r| r.exported != r.in_postgres)
        .map(|r| format!("{}: {} exported, {} in PostgreSQL", r.kind.name(), r.exported, r.in_postgres))
        .collect();
    anyhow::ensure!(differ.is_empty(), "the copy does not match the export: {}", differ.join("; "));
    eprintln!(
        "copied and checked. Run the node on PostgreSQL with this data dir ({}): set [cluster] store (or \
         CONFAB_CLUSTER_STORE) to the database. The sled store in {} is left as it was; do not serve it \
         again once the node on PostgreSQL has taken writes.",
        data_dir.display(),
        store_dir.display()
    );
    Ok(())
}

fn count(counts: &RecordCounts, kind: RecordKind) -> u64 {
    counts.get(&kind).copied().unwrap_or(0)
}

/// The data dir's sled store, opened as a node opens it, so that sled's lock refuses
/// a store a running node serves. A data dir without one is refused, rather than
/// copied as an empty store.
fn open_source(store_dir: &Path) -> anyhow::Result<SledStore> {
    anyhow::ensure!(
        store_dir.join("db").exists() || store_dir.join("conf").exists(),
        "there is no sled store in {} to copy (is --data-dir right?)",
        store_dir.display()
    );
    SledStore::open(store_dir, &SledConfig { cache_capacity: SOURCE_CACHE_BYTES }).with_context(|| {
        format!(
            "opening the sled store in {} (is a confab node serving this data dir? stop it first)",
            store_dir.display()
        )
    })
}

/// The database, held with the node lock for the length of the copy: a node serving
/// it is refused, and none can start on it until the copy ends.
fn open_target(url: &str, database: &str) -> anyhow::Result<PgStore> {
    let config = PgConfig {
        connections: 2,
        exclusive: true,
        application_name: "confab migrate",
        ..PgConfig::new(url)
    };
    match PgStore::open(&config) {
        Ok(store) => Ok(store),
        Err(StoreError::Backend(cause)) if cause.is::<NodeLockHeld>() => {
            anyhow::bail!("{cause} at {database}; stop it before copying into this database")
        }
        Err(e) => {
            Err(anyhow::anyhow!(e)).with_context(|| format!("opening the store on PostgreSQL at {database}"))
        }
    }
}
