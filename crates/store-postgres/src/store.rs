//! [`Store`] over the tables of `migrations/`: `apply` and `flush` (see the crate
//! docs), and every read as one statement run on a connection thread.

use std::path::Path;

use confab_core::{
    Channel, ChannelId, ChannelMembership, Event, EventRecord, Invite, Member, Message, MessageId, Millis,
    UserId, Workspace, WorkspaceId,
};
use confab_store::{
    Activity, Batch, Direction, Pin, Result, Session, SnapshotStats, Store, StoreError, UserRecord,
};
use postgres::Row;
use postgres::types::ToSql;

use crate::PgStore;
use crate::codec::{JsonbText, after_param, backend_message, decode, get, id, limit_param, seq};

/// A statement's parameters, owned so that they can travel to a connection thread.
type Params = Vec<Box<dyn ToSql + Sync + Send>>;

macro_rules! params {
    ($($value:expr),* $(,)?) => {
        vec![$(Box::new($value) as Box<dyn ToSql + Sync + Send>),*]
    };
}

/// Messages after a read marker that [`Store::unread_count`] reads to tell thread
/// replies apart (the trait's bound); later ones are counted without being read.
const UNREAD_COUNTED_EXACTLY: i64 = 1_000;

/// Messages [`Store::scan_messages`] reads per round trip.
const SCAN_PAGE: i64 = 2_000;

impl PgStore {
    /// Runs a read on a connection thread and maps each row there.
    fn query<T: Send + 'static>(
        &self,
        sql: &'static str,
        params: Params,
        map: impl Fn(&Row) -> Result<T> + Send + 'static,
    ) -> Result<Vec<T>> {
        self.pool.run(move |connection| {
            let params: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
            let rows = connection.read(|connection| {
                let statement = connection.statement(sql)?;
                connection.client()?.query(&statement, &params).map_err(crate::codec::backend)
            })?;
            rows.iter().map(&map).collect()
        })
    }

    /// [`PgStore::query`] for at most one row.
    fn query_opt<T: Send + 'static>(
        &self,
        sql: &'static str,
        params: Params,
        map: impl Fn(&Row) -> Result<T> + Send + 'static,
    ) -> Result<Option<T>> {
        Ok(self.query(sql, params, map)?.into_iter().next())
    }

    /// A count or other non-null `bigint` that one row answers.
    fn query_count(&self, sql: &'static str, params: Params) -> Result<u64> {
        let count = self.query_opt(sql, params, |row| get::<i64>(row, 0))?.unwrap_or(0);
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

/// A message from its record (column `record`) and its text (column `record + 1`).
fn message(row: &Row, record: usize) -> Result<Message> {
    let mut message: Message = decode(row, record, &|| "a message record".to_string())?;
    message.text = get::<String>(row, record + 1)?;
    Ok(message)
}

const MESSAGE_BY_ID: &str = "SELECT record, text FROM messages WHERE id = $1";

fn token_hash(row: &Row, column: usize) -> Result<Option<[u8; 32]>> {
    Ok(<[u8; 32]>::try_from(get::<&[u8]>(row, column)?).ok())
}

impl Store for PgStore {
    fn apply(&self, batch: Batch) -> Result<()> {
        self.shared.check_running()?;
        if batch.is_empty() {
            return Ok(());
        }
        let leases = self.leases.clone();
        self.pool.run(move |connection| crate::write::apply(connection, &batch, leases.as_deref()))
    }

    fn flush(&self) -> Result<()> {
        self.shared.check_running()?;
        let mark = self.flush_mark;
        let shared = self.shared.clone();
        let flushed = self.pool.run(move |connection| {
            let client = connection.client()?;
            // A connection replaced since the store opened may have outlived a server
            // crash that lost unflushed batches: refuse rather than report them durable.
            shared.check_running()?;
            // The upsert writes WAL, so the commit waits for it to be flushed, and with
            // it every record before it: the commits of every batch applied so far.
            let sql = format!(
                "BEGIN; SET LOCAL synchronous_commit = on;
                 INSERT INTO flush_marks (id, flushes) VALUES ({mark}, 1)
                     ON CONFLICT (id) DO UPDATE SET flushes = flush_marks.flushes + 1;
                 COMMIT;"
            );
            client.batch_execute(&sql).map_err(crate::codec::backend)
        });
        if let Err(e) = &flushed {
            self.shared.stop(e);
        }
        flushed
    }

    fn writes_stopped(&self) -> bool {
        self.shared.is_stopped()
    }

    /// A PostgreSQL store is not copied by `confab backup`: its operator backs the
    /// database up with PostgreSQL's own tools.
    fn snapshot_to(&self, _dest: &Path, _progress: &mut dyn FnMut(u64)) -> Result<SnapshotStats> {
        Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "a PostgreSQL store is backed up with PostgreSQL's tools (pg_dump, or pg_basebackup with WAL \
             archiving), not with confab backup",
        )))
    }

    fn user(&self, id: UserId) -> Result<Option<UserRecord>> {
        self.query_opt("SELECT record FROM users WHERE id = $1", params![id.to_string()], move |row| {
            decode(row, 0, &|| format!("user {id}"))
        })
    }

    fn avatar(&self, user: UserId) -> Result<Option<Vec<u8>>> {
        self.query_opt("SELECT png FROM avatars WHERE user_id = $1", params![user.to_string()], |row| {
            get(row, 0)
        })
    }

    fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        self.query_opt(
            "SELECT record FROM users WHERE email_lower = $1",
            params![email.to_lowercase()],
            |row| decode(row, 0, &|| "a user found by email".to_string()),
        )
    }

    fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        self.query_opt("SELECT record FROM users WHERE username = $1", params![username.to_string()], |row| {
            decode(row, 0, &|| "a user found by username".to_string())
        })
    }

    fn user_count(&self) -> Result<u64> {
        self.query_count("SELECT count(*) FROM users", params![])
    }

    fn users(&self) -> Result<Vec<UserRecord>> {
        self.query("SELECT record FROM users ORDER BY id", params![], |row| {
            decode(row, 0, &|| "a user record".to_string())
        })
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>> {
        self.query_opt(
            "SELECT record FROM sessions WHERE token_hash = $1",
            params![token_hash.to_vec()],
            |row| decode(row, 0, &|| "a session".to_string()),
        )
    }

    fn sessions_of(&self, user: UserId) -> Result<Vec<([u8; 32], Session)>> {
        let sessions = self.query(
            "SELECT token_hash, record FROM sessions WHERE user_id = $1 ORDER BY token_hash",
            params![user.to_string()],
            move |row| {
                let session: Session = decode(row, 1, &|| format!("a session of {user}"))?;
                Ok(token_hash(row, 0)?.map(|hash| (hash, session)))
            },
        )?;
        Ok(sessions.into_iter().flatten().collect())
    }

    fn expired_sessions(&self, now: Millis, limit: usize) -> Result<Vec<[u8; 32]>> {
        let hashes = self.query(
            "SELECT token_hash FROM sessions WHERE expires_at <= $1 ORDER BY token_hash LIMIT $2",
            params![now, limit_param(limit)],
            |row| token_hash(row, 0),
        )?;
        Ok(hashes.into_iter().flatten().collect())
    }

    fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>> {
        self.query_opt("SELECT record FROM workspaces WHERE id = $1", params![id.to_string()], move |row| {
            decode(row, 0, &|| format!("workspace {id}"))
        })
    }

    fn workspace_ids(&self) -> Result<Vec<WorkspaceId>> {
        self.query("SELECT id FROM workspaces ORDER BY id", params![], |row| id(row, 0))
    }

    fn workspaces_of(&self, user: UserId) -> Result<Vec<WorkspaceId>> {
        self.query(
            "SELECT workspace FROM members WHERE user_id = $1 ORDER BY workspace",
            params![user.to_string()],
            |row| id(row, 0),
        )
    }

    fn member(&self, workspace: WorkspaceId, user: UserId) -> Result<Option<Member>> {
        self.query_opt(
            "SELECT record FROM members WHERE workspace = $1 AND user_id = $2",
            params![workspace.to_string(), user.to_string()],
            move |row| decode(row, 0, &|| format!("member {user} of {workspace}")),
        )
    }

    fn members(&self, workspace: WorkspaceId) -> Result<Vec<Member>> {
        self.query(
            "SELECT record FROM members WHERE workspace = $1 ORDER BY user_id",
            params![workspace.to_string()],
            move |row| decode(row, 0, &|| format!("a member of {workspace}")),
        )
    }

    fn channel(&self, id: ChannelId) -> Result<Option<Channel>> {
        self.query_opt("SELECT record FROM channels WHERE id = $1", params![id.to_string()], move |row| {
            decode(row, 0, &|| format!("channel {id}"))
        })
    }

    fn channels(&self, workspace: WorkspaceId) -> Result<Vec<Channel>> {
        self.query(
            "SELECT record FROM channels WHERE workspace = $1 ORDER BY id",
            params![workspace.to_string()],
            move |row| decode(row, 0, &|| format!("a channel of {workspace}")),
        )
    }

    fn channel_by_name(&self, workspace: WorkspaceId, name: &str) -> Result<Option<ChannelId>> {
        self.query_opt(
            "SELECT id FROM channels WHERE workspace = $1 AND name = $2 AND kind <> 'dm'",
            params![workspace.to_string(), name.to_string()],
            |row| id(row, 0),
        )
    }

    fn channel_member(&self, channel: ChannelId, user: UserId) -> Result<Option<ChannelMembership>> {
        self.query_opt(
            "SELECT m.record, r.seq FROM channel_members m
             LEFT JOIN read_markers r ON r.channel = m.channel AND r.user_id = m.user_id
             WHERE m.channel = $1 AND m.user_id = $2",
            params![channel.to_string(), user.to_string()],
            move |row| membership(row, &|| format!("membership of {user} in {channel}")),
        )
    }

    /// Each membership as [`Store::channel_member`] reads it, read marker included.
    fn channel_members(&self, channel: ChannelId) -> Result<Vec<(UserId, ChannelMembership)>> {
        self.query(
            "SELECT m.record, r.seq, m.user_id FROM channel_members m
             LEFT JOIN read_markers r ON r.channel = m.channel AND r.user_id = m.user_id
             WHERE m.channel = $1 ORDER BY m.user_id",
            params![channel.to_string()],
            move |row| Ok((id(row, 2)?, membership(row, &|| format!("a membership in {channel}"))?)),
        )
    }

    fn message(&self, id: MessageId) -> Result<Option<Message>> {
        self.query_opt(MESSAGE_BY_ID, params![id.to_string()], |row| message(row, 0))
    }

    fn message_at(&self, channel: ChannelId, seq: u64) -> Result<Option<Message>> {
        let Ok(seq) = i64::try_from(seq) else { return Ok(None) };
        self.query_opt(
            "SELECT record, text FROM messages WHERE channel = $1 AND seq = $2",
            params![channel.to_string(), seq],
            |row| message(row, 0),
        )
    }

    fn messages(&self, channel: ChannelId, direction: Direction, limit: usize) -> Result<Vec<Message>> {
        let (channel, limit) = (channel.to_string(), limit_param(limit));
        match direction {
            Direction::Backward { before } => match before.and_then(|before| i64::try_from(before).ok()) {
                Some(before) => self.query(
                    "SELECT record, text FROM messages WHERE channel = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
                    params![channel, before, limit],
                    |row| message(row, 0),
                ),
                None => self.query(
                    "SELECT record, text FROM messages WHERE channel = $1 ORDER BY seq DESC LIMIT $2",
                    params![channel, limit],
                    |row| message(row, 0),
                ),
            },
            Direction::Forward { after } => {
                let Some(after) = after_param(after) else { return Ok(Vec::new()) };
                self.query(
                    "SELECT record, text FROM messages WHERE channel = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    params![channel, after, limit],
                    |row| message(row, 0),
                )
            }
        }
    }

    /// Replies in the root's channel (none if the root is not stored), oldest first.
    fn thread_replies(&self, root: MessageId, limit: usize) -> Result<Vec<Message>> {
        self.query(
            "SELECT record, text FROM messages
             WHERE thread_root = $1 AND channel = (SELECT channel FROM messages WHERE id = $1)
             ORDER BY seq LIMIT $2",
            params![root.to_string(), limit_param(limit)],
            |row| message(row, 0),
        )
    }

    fn last_seq(&self, channel: ChannelId) -> Result<u64> {
        self.query_count(
            "SELECT coalesce(max(seq), 0) FROM messages WHERE channel = $1",
            params![channel.to_string()],
        )
    }

    fn message_by_client_id(
        &self,
        channel: ChannelId,
        author: UserId,
        client_msg_id: &str,
    ) -> Result<Option<MessageId>> {
        self.query_opt(
            "SELECT id FROM messages WHERE channel = $1 AND author = $2 AND client_msg_id = $3",
            params![channel.to_string(), author.to_string(), client_msg_id.to_string()],
            |row| id(row, 0),
        )
    }

    fn mention_count(&self, channel: ChannelId, user: UserId, after_seq: u64) -> Result<u64> {
        let Some(after) = after_param(after_seq) else { return Ok(0) };
        self.query_count(
            "SELECT count(*) FROM mentions WHERE channel = $1 AND user_id = $2 AND seq > $3",
            params![channel.to_string(), user.to_string(), after],
        )
    }

    /// The first [`UNREAD_COUNTED_EXACTLY`] messages after the marker are read to
    /// leave replies out; past them, the channel's newest `seq` says how many more
    /// there are (seqs are gapless), as in the sled store.
    fn unread_count(&self, channel: ChannelId, after_seq: u64) -> Result<u64> {
        let Some(after) = after_param(after_seq) else { return Ok(0) };
        self.query_count(
            "SELECT
                 (SELECT count(*) FROM (
                      SELECT thread_root FROM messages WHERE channel = $1 AND seq > $2 ORDER BY seq LIMIT $3
                  ) AS head WHERE head.thread_root IS NULL)
               + CASE WHEN EXISTS (
                      SELECT 1 FROM messages WHERE channel = $1 AND seq > $2 ORDER BY seq OFFSET $3 LIMIT 1
                  ) THEN greatest((SELECT max(seq) FROM messages WHERE channel = $1) - ($2 + $3), 0)
                  ELSE 0 END",
            params![channel.to_string(), after, UNREAD_COUNTED_EXACTLY],
        )
    }

    fn thread_reply_seqs(&self, root: MessageId) -> Result<Vec<u64>> {
        self.query(
            "SELECT seq FROM messages WHERE thread_root = $1 ORDER BY seq",
            params![root.to_string()],
            |row| seq(row, 0),
        )
    }

    fn thread_members(&self, root: MessageId) -> Result<Vec<UserId>> {
        self.query(
            "SELECT user_id FROM thread_members WHERE root = $1 ORDER BY user_id",
            params![root.to_string()],
            |row| id(row, 0),
        )
    }

    fn threads_of(&self, user: UserId, workspace: WorkspaceId) -> Result<Vec<(MessageId, u64)>> {
        self.query(
            "SELECT root, read_seq FROM user_threads WHERE user_id = $1 AND workspace = $2 ORDER BY root",
            params![user.to_string(), workspace.to_string()],
            |row| Ok((id(row, 0)?, seq(row, 1)?)),
        )
    }

    fn thread_read_marker(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        root: MessageId,
    ) -> Result<Option<u64>> {
        self.query_opt(
            "SELECT read_seq FROM user_threads WHERE user_id = $1 AND workspace = $2 AND root = $3",
            params![user.to_string(), workspace.to_string(), root.to_string()],
            |row| seq(row, 0),
        )
    }

    fn activity(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<(MessageId, Activity)>> {
        let flags = |row: &Row| Ok((id(row, 0)?, Activity::from_byte(get::<i16>(row, 1)? as u8)));
        let (user, workspace, limit) = (user.to_string(), workspace.to_string(), limit_param(limit));
        match before {
            Some(before) => self.query(
                "SELECT message, flags FROM activity WHERE user_id = $1 AND workspace = $2 AND message < $3
                 ORDER BY message DESC LIMIT $4",
                params![user, workspace, before.to_string(), limit],
                flags,
            ),
            None => self.query(
                "SELECT message, flags FROM activity WHERE user_id = $1 AND workspace = $2
                 ORDER BY message DESC LIMIT $3",
                params![user, workspace, limit],
                flags,
            ),
        }
    }

    fn saved(&self, user: UserId, workspace: WorkspaceId) -> Result<Vec<(MessageId, Millis)>> {
        self.query(
            "SELECT message, at FROM saved WHERE user_id = $1 AND workspace = $2 ORDER BY message",
            params![user.to_string(), workspace.to_string()],
            |row| Ok((id(row, 0)?, get(row, 1)?)),
        )
    }

    fn pins(&self, channel: ChannelId) -> Result<Vec<Pin>> {
        self.query(
            "SELECT message, pinned_by, at FROM pins WHERE channel = $1 ORDER BY message",
            params![channel.to_string()],
            |row| Ok(Pin { message: id(row, 0)?, by: id(row, 1)?, at: get(row, 2)? }),
        )
    }

    fn thread_mentions(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        channel: ChannelId,
    ) -> Result<Vec<(u64, MessageId)>> {
        self.query(
            "SELECT seq, root FROM thread_mentions WHERE user_id = $1 AND workspace = $2 AND channel = $3
             ORDER BY seq",
            params![user.to_string(), workspace.to_string(), channel.to_string()],
            |row| Ok((seq(row, 0)?, id(row, 1)?)),
        )
    }

    fn events(&self, workspace: WorkspaceId, after: u64, limit: usize) -> Result<Vec<EventRecord>> {
        let Some(after) = after_param(after) else { return Ok(Vec::new()) };
        self.query(
            "SELECT e.event_seq, e.at, e.kind, e.event, m.record, m.text FROM events e
             LEFT JOIN messages m ON m.channel = e.message_channel AND m.seq = e.message_seq
             WHERE e.workspace = $1 AND e.event_seq > $2 ORDER BY e.event_seq LIMIT $3",
            params![workspace.to_string(), after, limit_param(limit)],
            move |row| logged_event(row, workspace),
        )
    }

    fn event_bounds(&self, workspace: WorkspaceId) -> Result<Option<(u64, u64)>> {
        let bounds = self.query_opt(
            "SELECT min(event_seq), max(event_seq) FROM events WHERE workspace = $1",
            params![workspace.to_string()],
            |row| {
                let (first, last): (Option<i64>, Option<i64>) = (get(row, 0)?, get(row, 1)?);
                Ok(first.zip(last))
            },
        )?;
        Ok(bounds.flatten().map(|(first, last)| (first.max(0) as u64, last.max(0) as u64)))
    }

    fn invite(&self, code: &str) -> Result<Option<Invite>> {
        self.query_opt("SELECT record FROM invites WHERE code = $1", params![code.to_string()], |row| {
            decode(row, 0, &|| "an invite".to_string())
        })
    }

    fn invites(&self, workspace: WorkspaceId) -> Result<Vec<Invite>> {
        self.query(
            "SELECT record FROM invites WHERE workspace = $1 ORDER BY code",
            params![workspace.to_string()],
            move |row| decode(row, 0, &|| format!("an invite to {workspace}")),
        )
    }

    fn blob(&self, workspace: WorkspaceId, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.query_opt(
            "SELECT value FROM blobs WHERE workspace = $1 AND namespace = $2 AND key = $3",
            params![workspace.to_string(), namespace.to_string(), key.to_vec()],
            |row| get(row, 0),
        )
    }

    fn blobs(&self, workspace: WorkspaceId, namespace: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.query(
            "SELECT key, value FROM blobs WHERE workspace = $1 AND namespace = $2 ORDER BY key",
            params![workspace.to_string(), namespace.to_string()],
            |row| Ok((get(row, 0)?, get(row, 1)?)),
        )
    }

    fn blob_keys(&self, workspace: WorkspaceId, namespace: &str) -> Result<Vec<Vec<u8>>> {
        self.query(
            "SELECT key FROM blobs WHERE workspace = $1 AND namespace = $2 ORDER BY key",
            params![workspace.to_string(), namespace.to_string()],
            |row| get(row, 0),
        )
    }

    /// Reads each channel's messages a page at a time, so neither side holds a whole
    /// workspace in memory and no transaction stays open while `visit` runs.
    fn consent_generation(&self) -> Result<u64> {
        // One row by its primary key: what serving a model costs on top of its cache
        // (see `confab_app::models`).
        self.query_count("SELECT generation FROM consent_generation WHERE id = 1", params![])
    }

    fn scan_messages(&self, workspace: WorkspaceId, visit: &mut dyn FnMut(Message) -> bool) -> Result<()> {
        for channel in self.channels(workspace)? {
            let mut after = 0i64;
            loop {
                let page = self.query(
                    "SELECT record, text, seq FROM messages WHERE channel = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    params![channel.id.to_string(), after, SCAN_PAGE],
                    |row| Ok((message(row, 0)?, get::<i64>(row, 2)?)),
                )?;
                let full = page.len() as i64 == SCAN_PAGE;
                for (message, seq) in page {
                    after = seq;
                    if !visit(message) {
                        return Ok(());
                    }
                }
                if !full {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// A membership (column 0) with its read marker (column 1, if any) in effect.
fn membership(row: &Row, what: &dyn Fn() -> String) -> Result<ChannelMembership> {
    let mut membership: ChannelMembership = decode(row, 0, what)?;
    if let Some(marker) = get::<Option<i64>>(row, 1)? {
        membership.last_read_seq = u64::try_from(marker).unwrap_or(0);
    }
    Ok(membership)
}

/// An event of the log: whole, or a message's creation or edit with the message as
/// it is stored now (columns: event_seq, at, kind, event, message record, text).
fn logged_event(row: &Row, workspace: WorkspaceId) -> Result<EventRecord> {
    let (event_seq, at) = (seq(row, 0)?, get::<i64>(row, 1)?);
    let what = || format!("event {event_seq} of {workspace}");
    let event = match get::<Option<JsonbText>>(row, 3)? {
        Some(_) => decode::<Event>(row, 3, &what)?,
        None => {
            if get::<Option<JsonbText>>(row, 4)?.is_none() {
                return Err(StoreError::Missing { what: format!("the message logged by {}", what()) });
            }
            let message = message(row, 4)?;
            match get::<&str>(row, 2)? {
                "message.created" => Event::MessageCreated { message },
                "message.updated" => Event::MessageUpdated { message },
                kind => return Err(backend_message(format!("{} of kind {kind} names a message", what()))),
            }
        }
    };
    Ok(EventRecord { workspace, event_seq, at, event })
}
