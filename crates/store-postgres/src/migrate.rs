//! The schema: SQL files checked in under `migrations/`, applied in order when a store
//! opens and recorded in `schema_migrations`.
//!
//! Several nodes may start at the same moment against one empty database. Each takes
//! the same session-level advisory lock before it reads the schema version, so one
//! node migrates while the others wait, then find the work done. Each migration runs
//! in its own transaction with its row in `schema_migrations`: a node killed half-way
//! leaves the schema at the previous version, and its lock goes with its session.

use confab_store::{Result, StoreError};
use postgres::Client;

use crate::codec::backend;

/// One schema change: its version (from 1, with no gaps) and its SQL.
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, oldest first. Add a file and a line here for a schema change;
/// never edit one that has shipped.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "0001_init", sql: include_str!("../migrations/0001_init.sql") },
    Migration {
        version: 2,
        name: "0002_workspace_leases",
        sql: include_str!("../migrations/0002_workspace_leases.sql"),
    },
    Migration {
        version: 3,
        name: "0003_consent_generation",
        sql: include_str!("../migrations/0003_consent_generation.sql"),
    },
];

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// The advisory lock key migrations take: "confab" in ASCII, so it is recognisable in
/// `pg_locks` and unlikely to collide with another application's key.
pub const MIGRATION_LOCK: i64 = 0x636f_6e66_6162;

/// Brings the database to [`SCHEMA_VERSION`], or refuses one a newer build wrote.
/// Returns the versions this call applied.
pub fn migrate(client: &mut Client) -> Result<Vec<u32>> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).map_err(backend)?;
    let applied = migrate_locked(client);
    // On an error the session ends with the client, which releases the lock anyway.
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).map_err(backend)?;
    applied
}

fn migrate_locked(client: &mut Client) -> Result<Vec<u32>> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .map_err(backend)?;
    let found: i32 = client
        .query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])
        .map_err(backend)?
        .get(0);
    let found = u32::try_from(found).unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaVersion { found, expected: SCHEMA_VERSION });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        let mut tx = client.transaction().map_err(backend)?;
        tx.batch_execute(migration.sql).map_err(backend)?;
        let version = i32::try_from(migration.version).expect("a small version number");
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&version, &migration.name],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        tracing::info!(version = migration.version, name = migration.name, "PostgreSQL schema migrated");
        applied.push(migration.version);
    }
    Ok(applied)
}
