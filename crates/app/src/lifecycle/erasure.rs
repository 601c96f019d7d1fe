//! Erasure (GDPR Art. 17): a member deletes their own account (`DELETE /me` with
//! their password) or the operator does (`confab user delete EMAIL --yes`).
//!
//! In order, so that nothing of theirs is served or learned from once it starts:
//! 1. the account is locked and every session and socket of it ends;
//! 2. in every workspace they belong to, the consent ledger records their
//!    exclusion from every purpose (a member key, as their own opt-out would be), and
//!    every model that used their data is retired at once and its rebuild queued —
//!    the same path, and so the same exact unlearning, as a withdrawal
//!    (`App::retire_lapsed_models`); the exclusion stays in force whatever is granted
//!    later;
//! 3. their messages are deleted, or kept and shown as "deleted user", as each
//!    workspace's erasure policy says (`GET/PUT /workspaces/{ws}/erasure`); their
//!    reactions go, and mentions of them in others' messages are rewritten to
//!    `@deleted-user`; the search index follows through the logged events;
//! 4. their channel and workspace memberships (with their read markers), their
//!    threads, activity, unread thread mentions, saved messages and notification
//!    settings, their searches and the search results of theirs in the search log
//!    go, and each workspace's suggestion statistics are rebuilt without them;
//! 5. the account becomes a tombstone: the id stays (so kept messages have an
//!    author), nothing else of them does — email, name and password hash are gone.
//!
//! Messages are rewritten in batches of [`BATCH`], each under the workspace's write
//! lock and re-read under it, so concurrent reactions or edits are not lost. In a
//! cluster, steps 3 and 4 of a workspace run on the node that sequences it
//! ([`App::erase_member_here`], through the cluster's forwarder).
//!
//! Honest limits: a DM keeps its member list (DMs are found by their members), so
//! the deleted user's read position in a DM stays; a workspace whose last owner
//! they are, with other members, must get another owner first (`last_owner`).

use std::collections::HashMap;

use confab_consent::Purpose;
use confab_core::{ChannelKind, Error, ErrorCode, Event, Message, Role, User, UserId, WorkspaceId};
use confab_store::{Batch, Direction, Op, UserRecord};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::search::SEARCH_LOG;
use crate::{App, Caller, now_ms};

/// Messages rewritten per batch (one workspace write each).
const BATCH: usize = 200;
/// The store namespace of a workspace's lifecycle settings.
pub(crate) const SETTINGS: &str = "lifecycle";
const ERASURE_KEY: &[u8] = b"erasure";
/// What a mention of an erased account becomes.
pub const DELETED_MENTION: &str = "@deleted-user";

/// What happens to an erased member's messages in a workspace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasedMessages {
    /// Deleted, like a message its author deletes.
    #[default]
    Delete,
    /// Kept, attributed to "deleted user".
    Keep,
}

/// `GET/PUT /workspaces/{ws}/erasure`: the workspace's erasure policy, which every
/// member can read before deleting their account; owners and admins set it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasurePolicy {
    pub messages: ErasedMessages,
}

/// `DELETE /me`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    pub password: String,
}

impl std::fmt::Debug for DeleteAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeleteAccount { .. }")
    }
}

/// What an erasure did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ErasureReport {
    pub user: Option<UserId>,
    pub workspaces: usize,
    pub messages_deleted: usize,
    pub messages_kept: usize,
    pub mentions_rewritten: usize,
    pub reactions_removed: usize,
    pub search_log_entries_removed: usize,
}

impl App {
    /// The workspace's erasure policy (any member).
    pub fn erasure_policy(&self, caller: Caller, ws: WorkspaceId) -> Result<ErasurePolicy> {
        self.workspace(ws)?.read().require_member(caller.user)?;
        self.erasure_policy_of(ws)
    }

    fn erasure_policy_of(&self, ws: WorkspaceId) -> Result<ErasurePolicy> {
        match self.store().blob(ws, SETTINGS, ERASURE_KEY)? {
            Some(bytes) => Ok(serde_json::from_slice(&bytes)?),
            None => Ok(ErasurePolicy::default()),
        }
    }

    /// Sets the workspace's erasure policy (owners and admins).
    pub async fn set_erasure_policy(
        &self,
        caller: Caller,
        ws: WorkspaceId,
        policy: ErasurePolicy,
    ) -> Result<ErasurePolicy> {
        let value = serde_json::to_vec(&policy)?;
        let ((), durable) = self.write_as(caller, ws, |state, tx| {
            if !state.require_member(caller.user)?.is_admin() {
                return Err(Error::forbidden("only owners and admins set the erasure policy").into());
            }
            tx.op(Op::PutBlob { workspace: ws, namespace: SETTINGS, key: ERASURE_KEY.to_vec(), value });
            Ok(())
        })?;
        durable.wait().await?;
        Ok(policy)
    }

    /// `DELETE /me`: the caller erases their own account, confirming with their
    /// password.
    pub async fn delete_own_account(&self, caller: Caller, req: DeleteAccount) -> Result<ErasureReport> {
        // Each try costs a hash: count it, so a stolen session cannot guess freely.
        self.check_write_rate(caller.user)?;
        let record = self.store().user(caller.user)?.ok_or_else(Error::internal)?;
        if !self.verify_password(req.password, Some(record.unlocked_hash().to_string())).await? {
            return Err(Error::new(ErrorCode::InvalidCredentials, "the password is wrong").into());
        }
        self.erase(record).await
    }

    /// `confab user delete EMAIL --yes`.
    pub async fn erase_account(&self, email: &str) -> Result<ErasureReport> {
        let record = self.account_by_email(email)?;
        self.erase(record).await
    }

    async fn erase(&self, record: UserRecord) -> Result<ErasureReport> {
        let user = record.user.id;
        let mut report = ErasureReport { user: Some(user), ..Default::default() };
        // Idempotent: a run cut short is finished by running it again (a workspace is
        // left only once it is done).
        let workspaces = self.store().workspaces_of(user)?;
        for ws in &workspaces {
            let state = self.workspace(*ws)?;
            let state = state.read();
            let owners = state.members.values().filter(|r| **r == Role::Owner).count();
            if state.role(user) == Some(Role::Owner) && owners == 1 && state.members.len() > 1 {
                return Err(Error::new(
                    ErrorCode::LastOwner,
                    format!(
                        "the account is the last owner of workspace {ws}: make another member owner first"
                    ),
                )
                .into());
            }
        }
        // 1. Nothing more from them.
        let mut batch = Batch::new();
        batch.push(Op::PutUser(record.clone().with_disabled(true)));
        self.write_global(batch).await?;
        self.end_sessions(user, None).await?;
        // 2. The ledger and the models, before any data moves.
        let now = now_ms();
        for ws in &workspaces {
            for purpose in Purpose::ALL {
                self.inner.ledger.set_member(*ws, user, purpose, false, now)?;
            }
        }
        let retired = self.retire_lapsed_models();
        // 3 and 4, one workspace at a time; in a cluster, each by the node that
        // sequences it.
        for ws in &workspaces {
            match self.forwarder_for(*ws)? {
                Some(forwarder) => report.add(&forwarder.erase_member(*ws, user).await?),
                None => self.erase_from_workspace(*ws, &record.user, &mut report).await?,
            }
            report.workspaces += 1;
        }
        // 5. The tombstone; then the suggestion statistics, rebuilt without the
        // messages a tombstone wrote (kept ones included).
        let mut batch = Batch::new();
        batch.push(Op::PutUser(tombstone(&record.user)));
        batch.push(Op::DeleteAvatar { user: record.user.id });
        self.write_global(batch).await?;
        for ws in workspaces {
            self.rebuild_suggestions(ws).await?;
        }
        retired?;
        tracing::info!(user = %user, ?report, "account erased");
        Ok(report)
    }

    /// Steps 3 and 4 of an erasure for one workspace: what a node of a cluster runs
    /// for another on which the erasure runs (the account is locked already).
    pub async fn erase_member_here(&self, ws: WorkspaceId, user: UserId) -> Result<ErasureReport> {
        let record =
            self.store().user(user)?.ok_or_else(|| Error::new(ErrorCode::UserNotFound, "no such user"))?;
        if !record.is_disabled() {
            return Err(Error::new(ErrorCode::InvalidRequest, "the account is not being erased").into());
        }
        let mut report = ErasureReport::default();
        self.erase_from_workspace(ws, &record.user, &mut report).await?;
        Ok(report)
    }

    async fn erase_from_workspace(
        &self,
        ws: WorkspaceId,
        user: &User,
        report: &mut ErasureReport,
    ) -> Result<()> {
        let policy = self.erasure_policy_of(ws)?.messages;
        for channel in self.store().channels(ws)? {
            let mut after = 0;
            loop {
                let page = self.store().messages(channel.id, Direction::Forward { after }, BATCH)?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                let seqs: Vec<u64> = page.iter().filter(|m| touches(m, user.id)).map(|m| m.seq).collect();
                let mut pending = seqs;
                while !pending.is_empty() {
                    let ((counts, unused, later), durable) = self.write(ws, |_, tx| {
                        let (mut counts, mut unused, mut later) =
                            (ErasureReport::default(), Vec::new(), Vec::new());
                        let mut files_staged = false;
                        for seq in std::mem::take(&mut pending) {
                            let Some(mut message) = self.store().message_at(channel.id, seq)? else {
                                continue;
                            };
                            let deleting = policy == ErasedMessages::Delete && message.author == user.id;
                            if deleting && !message.deleted && !message.files.is_empty() {
                                // Their files go with the message, as when they delete it: one
                                // message with files per batch (file counts are read from the
                                // store).
                                if files_staged {
                                    later.push(seq);
                                    continue;
                                }
                                files_staged = true;
                                unused.extend(self.stage_file_deletions(tx, &message)?);
                                message.files.clear();
                            }
                            if message.author == user.id
                                && policy == ErasedMessages::Delete
                                && !message.deleted
                            {
                                self.stage_mentions_gone(tx, &message)?;
                            }
                            let events = scrub(&mut message, user, policy, tx.now, &mut counts);
                            if message.deleted {
                                // Deleted as its author would: unpinned with it.
                                tx.op(Op::DeletePin { channel: message.channel, message: message.id });
                            }
                            if !events.is_empty() {
                                tx.op(Op::PutMessage(message));
                                events.into_iter().for_each(|e| tx.emit(e));
                            }
                        }
                        Ok((counts, unused, later))
                    })?;
                    durable.wait().await?;
                    self.remove_contents(ws, unused)?;
                    pending = later;
                    report.messages_deleted += counts.messages_deleted;
                    report.messages_kept += counts.messages_kept;
                    report.mentions_rewritten += counts.mentions_rewritten;
                    report.reactions_removed += counts.reactions_removed;
                }
                if page.len() < BATCH {
                    break;
                }
            }
        }
        // Memberships and read markers (DMs keep their members: see the module docs).
        let ((), durable) = self.write(ws, |state, tx| {
            let channels: Vec<_> = state
                .channels
                .iter()
                .filter(|(_, c)| c.kind != ChannelKind::Dm && c.members.contains(&user.id))
                .map(|(id, _)| *id)
                .collect();
            for channel in channels {
                Self::stage_channel_leave(state, tx, channel, user.id);
            }
            let blob_namespaces = crate::personal::PERSONAL_BLOBS;
            tx.op(Op::ForgetPersonalState { workspace: ws, user: user.id, blob_namespaces });
            if state.members.remove(&user.id).is_some() {
                tx.op(Op::DeleteMember { workspace: ws, user: user.id });
                tx.emit(Event::MemberLeft { channel: None, user: user.id });
            }
            Ok(())
        })?;
        durable.wait().await?;
        self.hub().remove_workspace(user.id, ws);
        report.search_log_entries_removed += self.erase_from_search_log(ws, user.id).await?;
        Ok(())
    }

    /// Drops their searches, and the results of theirs that others' searches showed.
    async fn erase_from_search_log(&self, ws: WorkspaceId, user: UserId) -> Result<usize> {
        let mut removed = 0;
        let mut batch = Batch::new();
        for (key, value) in self.store().blobs(ws, SEARCH_LOG)? {
            let mut log: Vec<confab_consent::SearchInteraction> = serde_json::from_slice(&value)?;
            let before = log.len();
            log.retain(|e| e.user != user && e.author != user);
            if log.len() == before {
                continue;
            }
            removed += before - log.len();
            batch.push(match log.is_empty() {
                true => Op::DeleteBlob { workspace: ws, namespace: SEARCH_LOG, key },
                false => Op::PutBlob {
                    workspace: ws,
                    namespace: SEARCH_LOG,
                    key,
                    value: serde_json::to_vec(&log)?,
                },
            });
            if batch.ops.len() >= BATCH {
                self.write_global(std::mem::take(&mut batch)).await?;
            }
        }
        if !batch.is_empty() {
            self.write_global(batch).await?;
        }
        Ok(removed)
    }
}

impl ErasureReport {
    /// Adds what another workspace's erasure did.
    fn add(&mut self, other: &ErasureReport) {
        self.messages_deleted += other.messages_deleted;
        self.messages_kept += other.messages_kept;
        self.mentions_rewritten += other.mentions_rewritten;
        self.reactions_removed += other.reactions_removed;
        self.search_log_entries_removed += other.search_log_entries_removed;
    }
}

/// Whether erasing `user` changes this message.
fn touches(m: &Message, user: UserId) -> bool {
    m.author == user || m.mentions.contains(&user) || m.reactions.iter().any(|r| r.users.contains(&user))
}

/// Removes `user` from one message as `policy` says; the events to log.
fn scrub(
    m: &mut Message,
    user: &User,
    policy: ErasedMessages,
    now: i64,
    counts: &mut ErasureReport,
) -> Vec<Event> {
    let mut events = Vec::new();
    if m.author == user.id && !m.deleted {
        match policy {
            ErasedMessages::Delete => {
                m.deleted = true;
                m.text.clear();
                m.reactions.clear();
                m.mentions.clear();
                m.edited_at = Some(now);
                counts.messages_deleted += 1;
                return vec![Event::MessageDeleted {
                    channel: m.channel,
                    message_id: m.id,
                    seq: m.seq,
                    thread_root: m.thread_root,
                }];
            }
            ErasedMessages::Keep => counts.messages_kept += 1,
        }
    }
    for reaction in &mut m.reactions {
        if let Some(i) = reaction.users.iter().position(|u| *u == user.id) {
            reaction.users.remove(i);
            counts.reactions_removed += 1;
            events.push(Event::ReactionRemoved {
                channel: m.channel,
                message_id: m.id,
                emoji: reaction.emoji.clone(),
                user: user.id,
            });
        }
    }
    m.reactions.retain(|r| !r.users.is_empty());
    if let Some(i) = m.mentions.iter().position(|u| *u == user.id) {
        m.mentions.remove(i);
        m.text = rewrite_mentions(&m.text, &user.username);
        counts.mentions_rewritten += 1;
        events.push(Event::MessageUpdated { message: m.clone() });
    }
    events
}

/// `text` with every `@username` mention (as `confab_core::mention` finds them)
/// replaced by [`DELETED_MENTION`].
fn rewrite_mentions(text: &str, username: &str) -> String {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let mut out = String::with_capacity(text.len());
    let mut prev: Option<char> = None;
    let mut rest = text.char_indices().peekable();
    let mut copied = 0;
    while let Some((i, c)) = rest.next() {
        if c == '@' && !prev.is_some_and(|p| p.is_alphanumeric() || is_name_char(p)) {
            let start = i + 1;
            let mut end = start;
            while let Some(&(j, d)) = rest.peek() {
                if !is_name_char(d) {
                    break;
                }
                end = j + d.len_utf8();
                prev = Some(d);
                rest.next();
            }
            let name = text[start..end].trim_end_matches('.');
            if !name.is_empty() && name.eq_ignore_ascii_case(username) {
                out.push_str(&text[copied..i]);
                out.push_str(DELETED_MENTION);
                copied = start + name.len();
            }
            if end == start {
                prev = Some(c);
            }
            continue;
        }
        prev = Some(c);
    }
    out.push_str(&text[copied..]);
    out
}

/// What is left of an erased account: its id, so that kept messages have an author.
fn tombstone(user: &User) -> UserRecord {
    let id = user.id.to_string().to_ascii_lowercase();
    let user = User {
        id: user.id,
        email: format!("erased-{id}@erased.invalid"),
        username: format!("deleted-{id}"),
        display_name: "deleted user".to_string(),
        instance_admin: false,
        created_at: user.created_at,
        details: Default::default(),
    };
    UserRecord { user, password_hash: UserRecord::ERASED.to_string() }
}

/// The erased accounts among `authors`, for rebuilding derived data without them.
pub(crate) fn erased_among(
    store: &dyn confab_store::Store,
    authors: impl IntoIterator<Item = UserId>,
) -> HashMap<UserId, bool> {
    authors.into_iter().map(|a| (a, store.user(a).ok().flatten().is_some_and(|r| r.is_erased()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_of_the_erased_name_are_rewritten_and_nothing_else() {
        assert_eq!(rewrite_mentions("hi @bob and @bobby.", "bob"), "hi @deleted-user and @bobby.");
        assert_eq!(
            rewrite_mentions("thanks @Bob. mail bob@example.com", "bob"),
            "thanks @deleted-user. mail bob@example.com"
        );
        assert_eq!(rewrite_mentions("@bob,@bob @@bob", "bob"), "@deleted-user,@deleted-user @@deleted-user");
        assert_eq!(rewrite_mentions("ünï @bob", "bob"), "ünï @deleted-user");
        assert_eq!(rewrite_mentions("no mention", "bob"), "no mention");
        assert_eq!(rewrite_mentions("@bob-x @bo", "bob"), "@bob-x @bo");
    }
}
