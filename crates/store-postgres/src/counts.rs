//! How many records of each kind the database holds ([`PgStore::record_counts`]):
//! `confab migrate` refuses a database that holds any, and checks what it copied
//! against what the sled export counted. It also refuses a database a node or an
//! operator command is connected to ([`PgStore::node_sessions`]).

use confab_store::{RecordCounts, RecordKind, Result};

use crate::codec::{backend, get};
use crate::{PgConfig, PgStore};

/// The table that holds each kind's records, one row per record. A thread's
/// members are counted by their side of it (`user_threads`, which holds each
/// member's read marker); `thread_members` is the thread's side of the same rows.
fn table(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::User => "users",
        RecordKind::Session => "sessions",
        RecordKind::Avatar => "avatars",
        RecordKind::Workspace => "workspaces",
        RecordKind::Member => "members",
        RecordKind::Channel => "channels",
        RecordKind::ChannelMember => "channel_members",
        RecordKind::ReadMarker => "read_markers",
        RecordKind::Message => "messages",
        RecordKind::Mention => "mentions",
        RecordKind::ThreadMember => "user_threads",
        RecordKind::Activity => "activity",
        RecordKind::ThreadMention => "thread_mentions",
        RecordKind::Saved => "saved",
        RecordKind::Pin => "pins",
        RecordKind::Event => "events",
        RecordKind::Invite => "invites",
        RecordKind::Blob => "blobs",
    }
}

impl PgStore {
    /// The records of each kind, counted in one statement (one snapshot of the
    /// database).
    pub fn record_counts(&self) -> Result<RecordCounts> {
        let columns: Vec<String> =
            RecordKind::ALL.iter().map(|&kind| format!("(SELECT count(*) FROM {})", table(kind))).collect();
        let sql = format!("SELECT {}", columns.join(", "));
        self.pool.run(move |connection| {
            let row = connection.client()?.query_one(sql.as_str(), &[]).map_err(backend)?;
            RecordKind::ALL
                .iter()
                .enumerate()
                .map(|(column, &kind)| Ok((kind, u64::try_from(get::<i64>(&row, column)?).unwrap_or(0))))
                .collect()
        })
    }

    /// Sessions on this database of nodes and operator commands: those whose
    /// `application_name` is [`PgConfig::NODE`]. A store opened under another name
    /// (as `confab migrate` opens its own) sees every node, those with a bus too,
    /// which take no node lock.
    pub fn node_sessions(&self) -> Result<u64> {
        self.pool.run(|connection| {
            let row = connection
                .client()?
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                     AND application_name = $1",
                    &[&PgConfig::NODE],
                )
                .map_err(backend)?;
            Ok(u64::try_from(get::<i64>(&row, 0)?).unwrap_or(0))
        })
    }
}
