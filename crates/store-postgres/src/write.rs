//! A [`Batch`] as one transaction: each [`Op`] becomes one statement (an upsert or a
//! delete on its table), run in order on one connection, then one commit.
//!
//! Unique keys are the tables' constraints, checked by PostgreSQL as each statement
//! runs: a violation aborts the transaction, so a refused batch wrote nothing, and is
//! reported as [`StoreError::Taken`]. Checks see the batch's own earlier ops (sled
//! checks against the state before the batch; the app never writes a batch where
//! the two differ). Beyond the keys the trait names (emails, usernames, channel
//! names), PostgreSQL also refuses what would corrupt a shared log, where sled
//! would overwrite: a second message id at a channel's `seq`, a message id at two
//! places, a second message with the same idempotency key, a second event at a
//! workspace's `event_seq`. A node with a stale counter is then refused and reloads
//! its state from the store, as the app does after any refusal.

use std::collections::HashMap;

use confab_core::{ChannelKind, Event};
use confab_store::{Batch, Op, Result, StoreError};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Statement, Transaction};

use crate::codec::{Jsonb, backend, seq_param, taken};
use crate::lease::Leases;
use crate::pool::Connection;

/// How many times a batch is tried when PostgreSQL aborts it for a deadlock with a
/// concurrent batch (a retry is safe: the aborted try wrote nothing).
const TRIES: usize = 5;

/// Applies `batch` in one transaction, committed without waiting for the WAL flush
/// (the connection's `synchronous_commit` is off: see the crate docs).
///
/// With `leases` (a node of a cluster), a batch that writes a workspace's messages
/// or events commits only while this node holds that workspace's lease (see
/// [`crate::lease`]).
pub fn apply(connection: &mut Connection, batch: &Batch, leases: Option<&Leases>) -> Result<()> {
    let shared = connection.shared();
    let fences = match leases {
        Some(leases) => crate::lease::fences(leases, batch)?,
        None => Vec::new(),
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (client, statements) = connection.parts()?;
        // Checked after `parts`, which may have replaced a lost connection and so
        // stopped writes (see `pool`): no batch lands on a session opened since.
        shared.check_running()?;
        let mut tx = client.transaction().map_err(backend)?;
        if let Some(leases) = leases
            && let Err(e) =
                fences.iter().try_for_each(|fence| crate::lease::check_fence(&mut tx, leases, *fence))
        {
            drop(tx);
            return Err(e);
        }
        if let Err(e) = batch.ops.iter().try_for_each(|op| stage(&mut tx, statements, op)) {
            // Dropping the transaction rolls it back: nothing of the batch is visible.
            drop(tx);
            if attempt < TRIES && is_retryable(&e) {
                continue;
            }
            return Err(e);
        }
        return tx.commit().map_err(|e| {
            // Whether the commit happened is unknown: stop, as sled does after a write
            // failed half-way.
            let error = backend(e);
            shared.stop(&error);
            error
        });
    }
}

/// A deadlock with a concurrent batch (or a serialization failure): PostgreSQL
/// aborted this one and the next try may succeed.
fn is_retryable(error: &StoreError) -> bool {
    let StoreError::Backend(error) = error else { return false };
    let code = error.downcast_ref::<postgres::Error>().and_then(|e| e.code());
    code == Some(&SqlState::T_R_DEADLOCK_DETECTED) || code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
}

/// Runs one statement of the batch: a unique violation is [`StoreError::Taken`].
fn exec(
    tx: &mut Transaction<'_>,
    statements: &mut HashMap<&'static str, Statement>,
    sql: &'static str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64> {
    let statement = Connection::prepare_in(statements, tx, sql)?;
    tx.execute(&statement, params).map_err(|e| taken(&e).unwrap_or_else(|| backend(e)))
}

/// The stored name of a channel kind (the `kind` column's values).
fn kind_name(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Public => "public",
        ChannelKind::Private => "private",
        ChannelKind::Dm => "dm",
    }
}

fn stage(tx: &mut Transaction<'_>, statements: &mut HashMap<&'static str, Statement>, op: &Op) -> Result<()> {
    let mut run = |sql: &'static str, params: &[&(dyn ToSql + Sync)]| exec(tx, statements, sql, params);
    match op {
        Op::PutUser(record) => {
            let user = &record.user;
            run(
                "INSERT INTO users (id, email_lower, username, record) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET email_lower = EXCLUDED.email_lower,
                     username = EXCLUDED.username, record = EXCLUDED.record",
                &[&user.id.to_string(), &user.email.to_lowercase(), &user.username, &Jsonb::encode(record)?],
            )?;
        }
        Op::PutSession { token_hash, session } => {
            run(
                "INSERT INTO sessions (token_hash, user_id, expires_at, record) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (token_hash) DO UPDATE SET user_id = EXCLUDED.user_id,
                     expires_at = EXCLUDED.expires_at, record = EXCLUDED.record",
                &[&&token_hash[..], &session.user.to_string(), &session.expires_at, &Jsonb::encode(session)?],
            )?;
        }
        Op::DeleteSession { token_hash } => {
            run("DELETE FROM sessions WHERE token_hash = $1", &[&&token_hash[..]])?;
        }
        Op::PutWorkspace(workspace) => {
            run(
                "INSERT INTO workspaces (id, record) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
                &[&workspace.id.to_string(), &Jsonb::encode(workspace)?],
            )?;
        }
        Op::PutMember(member) => {
            run(
                "INSERT INTO members (workspace, user_id, record) VALUES ($1, $2, $3)
                 ON CONFLICT (workspace, user_id) DO UPDATE SET record = EXCLUDED.record",
                &[&member.workspace.to_string(), &member.user.to_string(), &Jsonb::encode(member)?],
            )?;
        }
        Op::DeleteMember { workspace, user } => {
            run(
                "DELETE FROM members WHERE workspace = $1 AND user_id = $2",
                &[&workspace.to_string(), &user.to_string()],
            )?;
        }
        Op::PutChannel(channel) => {
            run(
                "INSERT INTO channels (id, workspace, name, kind, record) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO UPDATE SET workspace = EXCLUDED.workspace, name = EXCLUDED.name,
                     kind = EXCLUDED.kind, record = EXCLUDED.record",
                &[
                    &channel.id.to_string(),
                    &channel.workspace.to_string(),
                    &channel.name,
                    &kind_name(channel.kind),
                    &Jsonb::encode(channel)?,
                ],
            )?;
        }
        Op::PutChannelMember { channel, user, membership } => {
            run(
                "INSERT INTO channel_members (channel, user_id, record) VALUES ($1, $2, $3)
                 ON CONFLICT (channel, user_id) DO UPDATE SET record = EXCLUDED.record",
                &[&channel.to_string(), &user.to_string(), &Jsonb::encode(membership)?],
            )?;
        }
        Op::DeleteChannelMember { channel, user } => {
            run(
                "WITH marker AS (DELETE FROM read_markers WHERE channel = $1 AND user_id = $2)
                 DELETE FROM channel_members WHERE channel = $1 AND user_id = $2",
                &[&channel.to_string(), &user.to_string()],
            )?;
        }
        Op::SetReadMarker { channel, user, seq } => {
            run(
                "INSERT INTO read_markers (channel, user_id, seq) VALUES ($1, $2, $3)
                 ON CONFLICT (channel, user_id) DO UPDATE SET seq = EXCLUDED.seq",
                &[&channel.to_string(), &user.to_string(), &seq_param(*seq)?],
            )?;
        }
        Op::PutMessage(message) => {
            let mut record = message.clone();
            let text = std::mem::take(&mut record.text);
            // The text is assigned only when it changed, so that an unchanged long
            // text keeps its out-of-line (TOAST) copy instead of being written again.
            // A message at this place with another id is refused (no row updated).
            let written = run(
                "INSERT INTO messages (channel, seq, id, workspace, author, thread_root, client_msg_id, text, record)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (channel, seq) DO UPDATE SET workspace = EXCLUDED.workspace,
                     author = EXCLUDED.author, thread_root = EXCLUDED.thread_root,
                     client_msg_id = EXCLUDED.client_msg_id,
                     text = CASE WHEN messages.text = EXCLUDED.text THEN messages.text ELSE EXCLUDED.text END,
                     record = EXCLUDED.record
                 WHERE messages.id = EXCLUDED.id",
                &[
                    &message.channel.to_string(),
                    &seq_param(message.seq)?,
                    &message.id.to_string(),
                    &message.workspace.to_string(),
                    &message.author.to_string(),
                    &message.thread_root.map(|root| root.to_string()),
                    &message.client_msg_id,
                    &text,
                    &Jsonb::encode(&record)?,
                ],
            )?;
            if written == 0 {
                return Err(StoreError::Taken("message seq"));
            }
        }
        Op::PutMention { channel, user, seq } => {
            run(
                "INSERT INTO mentions (channel, user_id, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&channel.to_string(), &user.to_string(), &seq_param(*seq)?],
            )?;
        }
        Op::DeleteMention { channel, user, seq } => {
            run(
                "DELETE FROM mentions WHERE channel = $1 AND user_id = $2 AND seq = $3",
                &[&channel.to_string(), &user.to_string(), &seq_param(*seq)?],
            )?;
        }
        Op::PutThreadMember { workspace, root, user, read_seq } => {
            run(
                "WITH member AS (
                     INSERT INTO thread_members (root, user_id) VALUES ($2, $3) ON CONFLICT DO NOTHING
                 )
                 INSERT INTO user_threads (user_id, workspace, root, read_seq) VALUES ($3, $1, $2, $4)
                 ON CONFLICT (user_id, workspace, root) DO UPDATE SET read_seq = EXCLUDED.read_seq",
                &[&workspace.to_string(), &root.to_string(), &user.to_string(), &seq_param(*read_seq)?],
            )?;
        }
        Op::PutActivity { workspace, user, message, activity } => {
            run(
                "INSERT INTO activity (user_id, workspace, message, flags) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, workspace, message) DO UPDATE SET flags = EXCLUDED.flags",
                &[
                    &user.to_string(),
                    &workspace.to_string(),
                    &message.to_string(),
                    &i16::from(activity.to_byte()),
                ],
            )?;
        }
        Op::DeleteActivity { workspace, user, message } => {
            run(
                "DELETE FROM activity WHERE user_id = $1 AND workspace = $2 AND message = $3",
                &[&user.to_string(), &workspace.to_string(), &message.to_string()],
            )?;
        }
        Op::PutThreadMention { workspace, user, channel, seq, root } => {
            run(
                "INSERT INTO thread_mentions (user_id, workspace, channel, seq, root) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (user_id, workspace, channel, seq) DO UPDATE SET root = EXCLUDED.root",
                &[
                    &user.to_string(),
                    &workspace.to_string(),
                    &channel.to_string(),
                    &seq_param(*seq)?,
                    &root.to_string(),
                ],
            )?;
        }
        Op::DeleteThreadMention { workspace, user, channel, seq } => {
            run(
                "DELETE FROM thread_mentions WHERE user_id = $1 AND workspace = $2 AND channel = $3 AND seq = $4",
                &[&user.to_string(), &workspace.to_string(), &channel.to_string(), &seq_param(*seq)?],
            )?;
        }
        Op::PutAvatar { user, png } => {
            run(
                "INSERT INTO avatars (user_id, png) VALUES ($1, $2)
                 ON CONFLICT (user_id) DO UPDATE SET png = EXCLUDED.png",
                &[&user.to_string(), png],
            )?;
        }
        Op::DeleteAvatar { user } => {
            run("DELETE FROM avatars WHERE user_id = $1", &[&user.to_string()])?;
        }
        Op::PutSaved { workspace, user, message, at } => {
            run(
                "INSERT INTO saved (user_id, workspace, message, at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, workspace, message) DO UPDATE SET at = EXCLUDED.at",
                &[&user.to_string(), &workspace.to_string(), &message.to_string(), at],
            )?;
        }
        Op::DeleteSaved { workspace, user, message } => {
            run(
                "DELETE FROM saved WHERE user_id = $1 AND workspace = $2 AND message = $3",
                &[&user.to_string(), &workspace.to_string(), &message.to_string()],
            )?;
        }
        Op::PutPin { channel, message, by, at } => {
            run(
                "INSERT INTO pins (channel, message, pinned_by, at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (channel, message) DO UPDATE SET pinned_by = EXCLUDED.pinned_by, at = EXCLUDED.at",
                &[&channel.to_string(), &message.to_string(), &by.to_string(), at],
            )?;
        }
        Op::DeletePin { channel, message } => {
            run(
                "DELETE FROM pins WHERE channel = $1 AND message = $2",
                &[&channel.to_string(), &message.to_string()],
            )?;
        }
        Op::ForgetPersonalState { workspace, user, blob_namespaces } => {
            // The blobs a user owns in a namespace are those whose key starts with
            // their id's 16 bytes.
            run(
                "WITH threads AS (
                     DELETE FROM user_threads WHERE user_id = $1 AND workspace = $2 RETURNING root
                 ), thread_membership AS (
                     DELETE FROM thread_members WHERE user_id = $1 AND root IN (SELECT root FROM threads)
                 ), their_activity AS (
                     DELETE FROM activity WHERE user_id = $1 AND workspace = $2
                 ), their_thread_mentions AS (
                     DELETE FROM thread_mentions WHERE user_id = $1 AND workspace = $2
                 ), their_saved AS (
                     DELETE FROM saved WHERE user_id = $1 AND workspace = $2
                 )
                 DELETE FROM blobs WHERE workspace = $2 AND namespace = ANY($3)
                     AND substring(key FROM 1 FOR 16) = $4",
                &[
                    &user.to_string(),
                    &workspace.to_string(),
                    &blob_namespaces.to_vec(),
                    &&user.to_bytes()[..],
                ],
            )?;
        }
        Op::AppendEvent(record) => {
            // A message's creation or edit names the message (written in the same
            // batch) rather than copying it: see the `events` table.
            let by_reference = match &record.event {
                Event::MessageCreated { message } | Event::MessageUpdated { message } => {
                    Some((message.channel.to_string(), seq_param(message.seq)?))
                }
                _ => None,
            };
            let event = match by_reference {
                Some(_) => None,
                None => Some(Jsonb::encode(&record.event)?),
            };
            let (message_channel, message_seq) = by_reference.unzip();
            run(
                "INSERT INTO events (workspace, event_seq, at, kind, event, message_channel, message_seq)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &record.workspace.to_string(),
                    &seq_param(record.event_seq)?,
                    &record.at,
                    &record.event.kind(),
                    &event,
                    &message_channel,
                    &message_seq,
                ],
            )?;
        }
        Op::PruneEvents { workspace, before } => {
            let before = i64::try_from(*before).unwrap_or(i64::MAX);
            run(
                "DELETE FROM events WHERE workspace = $1 AND event_seq < $2",
                &[&workspace.to_string(), &before],
            )?;
        }
        Op::PutInvite(invite) => {
            run(
                "INSERT INTO invites (code, workspace, record) VALUES ($1, $2, $3)
                 ON CONFLICT (code) DO UPDATE SET workspace = EXCLUDED.workspace, record = EXCLUDED.record",
                &[&invite.code, &invite.workspace.to_string(), &Jsonb::encode(invite)?],
            )?;
        }
        Op::DeleteInvite { code } => {
            run("DELETE FROM invites WHERE code = $1", &[code])?;
        }
        Op::PutBlob { workspace, namespace, key, value } => {
            run(
                "INSERT INTO blobs (workspace, namespace, key, value) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (workspace, namespace, key) DO UPDATE SET value = EXCLUDED.value",
                &[&workspace.to_string(), namespace, key, value],
            )?;
        }
        Op::DeleteBlob { workspace, namespace, key } => {
            run(
                "DELETE FROM blobs WHERE workspace = $1 AND namespace = $2 AND key = $3",
                &[&workspace.to_string(), namespace, key],
            )?;
        }
        Op::AppendConsent { workspace, namespace, key, value } => {
            // No upsert: an entry already at this place is refused (`blobs_pkey`),
            // so two nodes can never both append at one place of a chain.
            run(
                "WITH generation AS (
                     UPDATE consent_generation SET generation = generation + 1 WHERE id = 1
                 )
                 INSERT INTO blobs (workspace, namespace, key, value) VALUES ($1, $2, $3, $4)",
                &[&workspace.to_string(), namespace, key, value],
            )?;
        }
    }
    Ok(())
}
