//! What a member should not miss: the threads they are in, their activity (mentions
//! of them and replies in their threads) and their read markers in threads.
//!
//! A thread's members are the author of its root and everyone who replied; being
//! mentioned does not make one a member (the mention is activity of its own), so
//! that nobody can make a reply fan out to people who never took part. Posting
//! stages the activity of a message in the same batch as the message
//! ([`App::stage_mention_activity`], [`App::stage_reply_activity`]); reading filters
//! it by what the caller may read *now*, so a private channel they left, or were
//! never in, never shows.
//!
//! A mention in a thread reply stays unread until the thread is read
//! ([`App::mark_thread_read`]): reading the channel, whose replies share its `seq`
//! numbering, does not read its threads.

use std::collections::{HashMap, HashSet};

use confab_core::{ChannelId, Error, Event, Message, MessageId, UserId, WorkspaceId};
use confab_store::{Activity, Op};

use crate::directory::WorkspaceState;
use crate::error::Result;
use crate::{App, Caller, Tx};

pub use confab_protocol::http::{
    ActivityItem, ActivityPage, ActivityQuery, ThreadSummary, Threads, ThreadsQuery,
};

/// Largest page of activity or threads.
pub const MAX_PAGE: usize = 100;

/// Newest replies shown with each thread.
const LATEST_REPLIES: usize = 3;

/// Stored activity entries one activity request reads at most before it answers
/// with what it found (and where to go on): entries of channels the caller can no
/// longer read are skipped, and must not make a request unbounded.
const MAX_ACTIVITY_SCAN: usize = 1_000;

fn page_limit(limit: Option<usize>, default: usize) -> Result<usize> {
    let limit = limit.unwrap_or(default);
    if limit == 0 || limit > MAX_PAGE {
        return Err(Error::invalid_field("limit", format!("1 to {MAX_PAGE}")).into());
    }
    Ok(limit)
}

impl App {
    /// Stages the activity of a top-level message that mentions `mentions`.
    pub(crate) fn stage_mention_activity(tx: &mut Tx, message: &Message, mentions: &[UserId]) {
        for user in mentions {
            tx.op(Op::PutMention { channel: message.channel, user: *user, seq: message.seq });
            let activity = Activity { mention: true, reply: false };
            tx.op(Op::PutActivity {
                workspace: message.workspace,
                user: *user,
                message: message.id,
                activity,
            });
        }
    }

    /// Stages a reply's effects on its thread: its author (and the root's) become
    /// members, the author has read the thread up to the reply (and its mentions of
    /// them), every other member
    /// who may read the channel gets it as activity, and each mentioned member gets
    /// an unread thread mention.
    pub(crate) fn stage_reply_activity(
        &self,
        state: &WorkspaceState,
        tx: &mut Tx,
        reply: &Message,
        root: &Message,
        mentions: &[UserId],
    ) -> Result<()> {
        let (ws, channel, author) = (reply.workspace, reply.channel, reply.author);
        let mut members = self.store().thread_members(root.id)?;
        if root.author != author && !members.contains(&root.author) {
            tx.op(Op::PutThreadMember { workspace: ws, root: root.id, user: root.author, read_seq: 0 });
            members.push(root.author);
        }
        // The author has read the thread up to their reply, its mentions of them too.
        tx.op(Op::PutThreadMember { workspace: ws, root: root.id, user: author, read_seq: reply.seq });
        for (seq, _) in
            self.store().thread_mentions(author, ws, channel)?.into_iter().filter(|(_, r)| *r == root.id)
        {
            tx.op(Op::DeleteThreadMention { workspace: ws, user: author, channel, seq });
        }
        let mut told = HashSet::new();
        for user in members.into_iter().filter(|u| *u != author && state.can_read(*u, channel)) {
            let activity = Activity { mention: mentions.contains(&user), reply: true };
            tx.op(Op::PutActivity { workspace: ws, user, message: reply.id, activity });
            told.insert(user);
        }
        for user in mentions {
            let (user, seq) = (*user, reply.seq);
            tx.op(Op::PutThreadMention { workspace: ws, user, channel, seq, root: root.id });
            if !told.contains(&user) {
                let activity = Activity { mention: true, reply: false };
                tx.op(Op::PutActivity { workspace: ws, user, message: reply.id, activity });
            }
        }
        Ok(())
    }

    /// Unstages the unread mentions of a message that is deleted, and takes it out of
    /// the activity of those it was staged for (the mentioned, and for a reply its
    /// thread's members): deletion, retention and erasure leave no entry behind.
    pub(crate) fn stage_mentions_gone(&self, tx: &mut Tx, message: &Message) -> Result<()> {
        let (workspace, channel, seq) = (message.workspace, message.channel, message.seq);
        let mut told: HashSet<UserId> = message.mentions.iter().copied().collect();
        for user in &message.mentions {
            let user = *user;
            match message.thread_root {
                Some(_) => tx.op(Op::DeleteThreadMention { workspace, user, channel, seq }),
                None => tx.op(Op::DeleteMention { channel, user, seq }),
            }
        }
        if let Some(root) = message.thread_root {
            told.extend(self.store().thread_members(root)?);
        }
        for user in told {
            tx.op(Op::DeleteActivity { workspace, user, message: message.id });
        }
        Ok(())
    }

    /// The root of the thread `id` belongs to (or is), if the caller may read it.
    fn readable_thread_root(&self, caller: Caller, id: MessageId) -> Result<Message> {
        let message = self.message(caller, id)?;
        match message.thread_root {
            Some(top) => self.message(caller, top),
            None => Ok(message),
        }
    }

    /// Moves the caller's read marker in a thread (backwards too: "mark as unread"),
    /// never beyond its newest reply. Their mentions in replies up to it are read;
    /// those after it are unread again.
    pub async fn mark_thread_read(&self, caller: Caller, root: MessageId, seq: u64) -> Result<u64> {
        let root = self.readable_thread_root(caller, root)?;
        let (ws, channel, user) = (root.workspace, root.channel, caller.user);
        let (seq, durable) = self.write_as(caller, ws, |state, tx| {
            state.readable_channel(user, channel)?;
            let replies = self.store().thread_reply_seqs(root.id)?;
            let seq = seq.min(replies.last().copied().unwrap_or(0));
            if self.store().thread_read_marker(user, ws, root.id)?.is_some() {
                tx.op(Op::PutThreadMember { workspace: ws, root: root.id, user, read_seq: seq });
            }
            let unread = self.store().thread_mentions(user, ws, channel)?;
            for (at, _) in unread.iter().filter(|(at, r)| *r == root.id && *at <= seq) {
                tx.op(Op::DeleteThreadMention { workspace: ws, user, channel, seq: *at });
            }
            for at in replies.into_iter().filter(|at| *at > seq && !unread.contains(&(*at, root.id))) {
                let reply = self.store().message_at(channel, at)?;
                if reply.is_some_and(|r| !r.deleted && r.mentions.contains(&user)) {
                    tx.op(Op::PutThreadMention { workspace: ws, user, channel, seq: at, root: root.id });
                }
            }
            tx.emit(Event::ReadUpdated { channel, user, seq, thread_root: Some(root.id) });
            Ok(seq)
        })?;
        durable.wait().await?;
        Ok(seq)
    }

    /// The threads the caller is in that they may still read, the most recently
    /// active first.
    pub fn threads(&self, caller: Caller, ws: WorkspaceId, query: ThreadsQuery) -> Result<Threads> {
        let limit = page_limit(query.limit, 20)?;
        let state = self.workspace(ws)?;
        state.read().require_member(caller.user)?;
        let store = self.store();
        let mut roots = Vec::new();
        for (id, last_read_seq) in store.threads_of(caller.user, ws)? {
            if let Some(root) = store.message(id)? {
                roots.push((root, last_read_seq));
            }
        }
        {
            let state = state.read();
            roots.retain(|(root, _)| state.can_read(caller.user, root.channel));
        }
        let active_at = |m: &Message| m.last_reply_at.unwrap_or(m.created_at);
        roots.sort_by(|(a, _), (b, _)| active_at(b).cmp(&active_at(a)).then(b.id.cmp(&a.id)));
        let total = roots.len();
        let mut mentions: HashMap<ChannelId, Vec<(u64, MessageId)>> = HashMap::new();
        let mut threads = Vec::new();
        for (root, last_read_seq) in roots.into_iter().skip(query.offset.unwrap_or(0)).take(limit) {
            let seqs = store.thread_reply_seqs(root.id)?;
            let unread_replies = seqs.iter().filter(|s| **s > last_read_seq).count() as u64;
            let mut latest_replies = Vec::new();
            for seq in &seqs[seqs.len().saturating_sub(LATEST_REPLIES)..] {
                latest_replies.extend(store.message_at(root.channel, *seq)?);
            }
            let in_channel = match mentions.entry(root.channel) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(store.thread_mentions(caller.user, ws, root.channel)?)
                }
            };
            let unread_mentions = in_channel.iter().filter(|(_, r)| *r == root.id).count() as u64;
            threads.push(ThreadSummary {
                root,
                latest_replies,
                last_read_seq,
                unread_replies,
                unread_mentions,
            });
        }
        Ok(Threads { threads, total })
    }

    /// The caller's activity, newest first: messages that mention them and replies
    /// in threads they are in, in channels they may read now.
    pub fn activity(&self, caller: Caller, ws: WorkspaceId, query: ActivityQuery) -> Result<ActivityPage> {
        let limit = page_limit(query.limit, 30)?;
        let state = self.workspace(ws)?;
        state.read().require_member(caller.user)?;
        let store = self.store();
        let mut items = Vec::new();
        let (mut cursor, mut scanned) = (query.before, 0);
        loop {
            let chunk = limit.min(MAX_ACTIVITY_SCAN - scanned).max(1);
            let entries = store.activity(caller.user, ws, cursor, chunk)?;
            scanned += entries.len();
            for (id, activity) in &entries {
                cursor = Some(*id);
                let Some(message) = store.message(*id)? else { continue };
                if message.deleted || !state.read().can_read(caller.user, message.channel) {
                    continue;
                }
                let unread = self.activity_unread(caller.user, &message, *activity)?;
                items.push(ActivityItem {
                    message,
                    mention: activity.mention,
                    reply: activity.reply,
                    unread,
                });
                if items.len() == limit {
                    return Ok(ActivityPage { items, next: cursor });
                }
            }
            if entries.len() < chunk {
                return Ok(ActivityPage { items, next: None });
            }
            if scanned >= MAX_ACTIVITY_SCAN {
                return Ok(ActivityPage { items, next: cursor });
            }
        }
    }

    /// Whether `user` has read a message of their activity: a thread reply by their
    /// read marker in the thread (or, for a thread they are not in, by whether its
    /// mention is still unread), any other message by their read marker in its
    /// channel.
    fn activity_unread(&self, user: UserId, message: &Message, activity: Activity) -> Result<bool> {
        let store = self.store();
        let (ws, channel, seq) = (message.workspace, message.channel, message.seq);
        Ok(match message.thread_root {
            Some(root) => {
                let mention_unread =
                    activity.mention && store.thread_mentions(user, ws, channel)?.contains(&(seq, root));
                let reply_unread = activity.reply
                    && store.thread_read_marker(user, ws, root)?.is_some_and(|read| read < seq);
                mention_unread || reply_unread
            }
            None => store.channel_member(channel, user)?.is_some_and(|m| m.last_read_seq < seq),
        })
    }
}
