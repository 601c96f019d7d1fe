//! Messages: posting (idempotent with `client_msg_id`), history, threads, edits,
//! deletes, reactions, mentions and read markers. What a post means for the threads
//! and activity of others is staged by `threads`.

use confab_core::{
    ChannelId, Error, ErrorCode, Event, Message, MessageId, Reaction, Thread, UserId, emoji, mention,
    validate,
};
use confab_store::{Direction, Op};

use crate::directory::WorkspaceState;
use crate::error::{AppError, Result};
use crate::{App, Caller, Tx, new_ulid};

/// Largest page of history.
pub const MAX_PAGE: usize = 200;

/// Most `@mentions` of one message that are resolved and counted.
const MAX_MENTIONS: usize = 50;

pub use confab_protocol::http::{HistoryQuery, PostMessage};

fn message_not_found() -> Error {
    Error::new(ErrorCode::MessageNotFound, "no such message")
}

#[derive(Clone, Copy)]
enum ReactionChange {
    Add,
    Remove,
}

/// What a post came to. Not boxed: it lives for one post, on the hot path.
#[allow(clippy::large_enum_variant)]
enum Posted {
    New(Message),
    /// An earlier post with the same idempotency key made this message.
    Earlier(MessageId),
}

/// Empties a message into its tombstone and stages it with `message.deleted`; its
/// files must already be staged for deletion ([`App::stage_file_deletions`]).
pub(crate) fn stage_tombstone(app: &App, tx: &mut Tx, mut message: Message) -> Result<()> {
    app.stage_mentions_gone(tx, &message)?;
    // Unpinned with it: clients drop the pin on `message.deleted`.
    tx.op(Op::DeletePin { channel: message.channel, message: message.id });
    message.files.clear();
    message.deleted = true;
    message.text.clear();
    message.reactions.clear();
    message.mentions.clear();
    message.edited_at = Some(tx.now);
    tx.op(Op::PutMessage(message.clone()));
    tx.emit(Event::MessageDeleted {
        channel: message.channel,
        message_id: message.id,
        seq: message.seq,
        thread_root: message.thread_root,
    });
    Ok(())
}

impl App {
    /// Posts a message. A retry with the same `client_msg_id` (same author and
    /// channel) returns the message the first attempt created.
    pub async fn post_message(
        &self,
        caller: Caller,
        channel: ChannelId,
        req: PostMessage,
    ) -> Result<Message> {
        self.post_message_with(caller, channel, req, Vec::new()).await
    }

    /// Posts a message, with uploaded files if given (then the text may be empty).
    pub(crate) async fn post_message_with(
        &self,
        caller: Caller,
        channel: ChannelId,
        req: PostMessage,
        attachments: Vec<crate::files::Attachment>,
    ) -> Result<Message> {
        let text = match (attachments.is_empty(), req.text.trim().is_empty()) {
            (false, true) => String::new(),
            _ => emoji::expand_shortcodes(self.limits().message_text(&req.text)?),
        };
        if let Some(id) = &req.client_msg_id {
            self.limits().client_id("client_msg_id", id)?;
        }
        let ws = self.channel_workspace(channel)?;
        // The rate first: a sender over it costs no mention parsing or look-ups.
        self.check_message_rate(caller.user)?;
        self.check_text_rate(caller.user, text.len())?;
        // Resolve mentions before taking the lock: it reads the store.
        let mut mentioned: Vec<UserId> = Vec::new();
        // Parsing stops at MAX_MENTIONS names; only those that can be usernames are
        // looked up.
        let names = mention::mentioned_usernames_up_to(&text, MAX_MENTIONS)
            .into_iter()
            .filter(|n| validate::username(n).is_ok());
        for name in names {
            if let Some(user) = self.store().user_by_username(&name)? {
                mentioned.push(user.user.id);
            }
        }
        let ((message, placed), durable) = self.write(ws, |state, tx| {
            let ch = state.readable_channel(caller.user, channel)?;
            if !ch.members.contains(&caller.user) {
                return Err(Error::forbidden("join the channel to post in it").into());
            }
            if ch.archived {
                return Err(Error::new(ErrorCode::ChannelArchived, "the channel is archived").into());
            }
            if let Some(client_id) = &req.client_msg_id {
                let earlier = self.store().message_by_client_id(channel, caller.user, client_id)?;
                if let Some(id) = earlier {
                    return Ok((Posted::Earlier(id), Vec::new()));
                }
            }
            let root = match req.thread_root {
                None => None,
                Some(root_id) => {
                    let root = self.store().message(root_id)?.filter(|m| m.channel == channel);
                    let mut root = root.ok_or_else(|| {
                        Error::invalid_field("thread_root", "no such message in this channel")
                    })?;
                    if let Some(top) = root.thread_root {
                        // Replies to a reply go to the thread's root.
                        root = self.store().message(top)?.ok_or_else(message_not_found)?;
                    }
                    if root.deleted {
                        return Err(Error::invalid_field("thread_root", "the message was deleted").into());
                    }
                    Some(root)
                }
            };
            let mentions: Vec<UserId> = mentioned
                .iter()
                .copied()
                .filter(|u| *u != caller.user && state.can_read(*u, channel))
                .collect();
            let seq = ch.last_seq + 1;
            let mut message = Message {
                id: MessageId::from_ulid(new_ulid()),
                workspace: ws,
                channel,
                seq,
                author: caller.user,
                text,
                created_at: tx.now,
                edited_at: None,
                deleted: false,
                thread_root: root.as_ref().map(|r| r.id),
                reply_count: 0,
                last_reply_at: None,
                reactions: Vec::new(),
                mentions: mentions.clone(),
                client_msg_id: req.client_msg_id.clone(),
                files: Vec::new(),
            };
            // Last, as it places the files' contents: nothing after it fails.
            message.files = attachments.iter().map(|a| a.id()).collect();
            let placed = self.stage_attachments(tx, &message, attachments)?;
            tx.op(Op::PutMessage(message.clone()));
            match &root {
                Some(root) => self.stage_reply_activity(state, tx, &message, root, &mentions)?,
                None => Self::stage_mention_activity(tx, &message, &mentions),
            }
            // The author has read their own message.
            tx.op(Op::SetReadMarker { channel, user: caller.user, seq });
            tx.emit(Event::MessageCreated { message: message.clone() });
            if let Some(mut root) = root {
                root.reply_count += 1;
                root.last_reply_at = Some(tx.now);
                tx.op(Op::PutMessage(root.clone()));
                tx.emit(Event::MessageUpdated { message: root });
            }
            if let Some(ch) = state.channels.get_mut(&channel) {
                ch.last_seq = seq;
            }
            Ok((Posted::New(message), placed))
        })?;
        for hash in placed {
            self.sync_content(ws, hash).await?;
        }
        durable.wait().await?;
        match message {
            Posted::New(message) => {
                metrics::counter!("confab_messages_posted_total").increment(1);
                Ok(message)
            }
            Posted::Earlier(earlier) => {
                self.store().message(earlier)?.ok_or_else(Error::internal).map_err(AppError::from)
            }
        }
    }

    /// A page of a channel's history: newest first, or oldest first with `after`.
    pub fn history(&self, caller: Caller, channel: ChannelId, query: HistoryQuery) -> Result<Vec<Message>> {
        let ws = self.channel_workspace(channel)?;
        self.workspace(ws)?.read().readable_channel(caller.user, channel)?;
        let limit = query.limit.unwrap_or(50);
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::invalid_field("limit", format!("1 to {MAX_PAGE}")).into());
        }
        let direction = match (query.before, query.after) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid_field("before", "give before or after, not both").into());
            }
            (before, None) => Direction::Backward { before },
            (None, Some(after)) => Direction::Forward { after },
        };
        self.store().messages(channel, direction, limit).map_err(AppError::from)
    }

    /// A message the caller may read, with its workspace state.
    fn readable_message(&self, caller: Caller, id: MessageId) -> Result<Message> {
        let message = self.store().message(id)?.ok_or_else(message_not_found)?;
        let state = self.workspace(message.workspace)?;
        if !state.read().can_read(caller.user, message.channel) {
            return Err(message_not_found().into());
        }
        Ok(message)
    }

    pub fn message(&self, caller: Caller, id: MessageId) -> Result<Message> {
        self.readable_message(caller, id)
    }

    pub fn thread(&self, caller: Caller, root: MessageId) -> Result<Thread> {
        let mut root = self.readable_message(caller, root)?;
        if let Some(top) = root.thread_root {
            root = self.readable_message(caller, top)?;
        }
        let replies = self.store().thread_replies(root.id, 1000)?;
        Ok(Thread { root, replies })
    }

    /// Re-reads a message under its workspace lock and checks the caller may write it.
    pub(crate) fn writable_message(
        &self,
        state: &WorkspaceState,
        caller: Caller,
        id: MessageId,
    ) -> Result<Message> {
        let message = self.store().message(id)?.ok_or_else(message_not_found)?;
        let ch = state.readable_channel(caller.user, message.channel).map_err(|_| message_not_found())?;
        if message.deleted {
            return Err(message_not_found().into());
        }
        if ch.archived {
            return Err(Error::new(ErrorCode::ChannelArchived, "the channel is archived").into());
        }
        Ok(message)
    }

    pub async fn edit_message(&self, caller: Caller, id: MessageId, text: &str) -> Result<Message> {
        let text = emoji::expand_shortcodes(self.limits().message_text(text)?);
        let ws = self.readable_message(caller, id)?.workspace;
        self.check_text_rate(caller.user, text.len())?;
        let (message, durable) = self.write_as(caller, ws, |state, tx| {
            let mut message = self.writable_message(state, caller, id)?;
            if message.author != caller.user {
                return Err(Error::forbidden("only the author edits a message").into());
            }
            message.text = text;
            message.edited_at = Some(tx.now);
            tx.op(Op::PutMessage(message.clone()));
            tx.emit(Event::MessageUpdated { message: message.clone() });
            Ok(message)
        })?;
        durable.wait().await?;
        Ok(message)
    }

    /// Deletes a message; deleting it again changes nothing.
    pub async fn delete_message(&self, caller: Caller, id: MessageId) -> Result<()> {
        let message = self.readable_message(caller, id)?;
        if message.deleted {
            return Ok(());
        }
        let (unused, durable) = self.write_as(caller, message.workspace, |state, tx| {
            let message = self.writable_message(state, caller, id)?;
            let is_admin = state.role(caller.user).is_some_and(|r| r.is_admin());
            if message.author != caller.user && !is_admin {
                return Err(Error::forbidden("only the author or an admin deletes a message").into());
            }
            let unused = self.stage_file_deletions(tx, &message)?;
            stage_tombstone(self, tx, message)?;
            Ok(unused)
        })?;
        durable.wait().await?;
        self.remove_contents(message.workspace, unused).map(drop)
    }

    /// Adds the caller's reaction; reacting twice with the same emoji changes nothing.
    pub async fn add_reaction(&self, caller: Caller, id: MessageId, emoji: &str) -> Result<Message> {
        self.react(caller, id, emoji, ReactionChange::Add).await
    }

    /// Removes the caller's reaction; removing one never made changes nothing.
    pub async fn remove_reaction(&self, caller: Caller, id: MessageId, emoji: &str) -> Result<Message> {
        self.react(caller, id, emoji, ReactionChange::Remove).await
    }

    async fn react(
        &self,
        caller: Caller,
        id: MessageId,
        emoji_input: &str,
        change: ReactionChange,
    ) -> Result<Message> {
        let emoji = emoji::normalize(emoji_input)
            .ok_or_else(|| {
                Error::invalid_field("emoji", format!("{emoji_input:?} is not an emoji or shortcode"))
            })?
            .to_string();
        let ws = self.readable_message(caller, id)?.workspace;
        let (message, durable) = self.write_as(caller, ws, |state, tx| {
            let mut message = self.writable_message(state, caller, id)?;
            if state.role(caller.user) == Some(confab_core::Role::Guest)
                && !state.channels.get(&message.channel).is_some_and(|c| c.members.contains(&caller.user))
            {
                return Err(message_not_found().into());
            }
            let pos = message.reactions.iter().position(|r| r.emoji == emoji);
            let changed = match (change, pos) {
                (ReactionChange::Add, Some(i)) if message.reactions[i].users.contains(&caller.user) => false,
                (ReactionChange::Add, Some(i)) => {
                    message.reactions[i].users.push(caller.user);
                    true
                }
                (ReactionChange::Add, None) => {
                    message.reactions.push(Reaction { emoji: emoji.clone(), users: vec![caller.user] });
                    true
                }
                (ReactionChange::Remove, Some(i)) => {
                    let before = message.reactions[i].users.len();
                    message.reactions[i].users.retain(|u| *u != caller.user);
                    let changed = message.reactions[i].users.len() != before;
                    if message.reactions[i].users.is_empty() {
                        message.reactions.remove(i);
                    }
                    changed
                }
                (ReactionChange::Remove, None) => false,
            };
            if changed {
                tx.op(Op::PutMessage(message.clone()));
                let (channel, message_id, user) = (message.channel, message.id, caller.user);
                tx.emit(match change {
                    ReactionChange::Add => {
                        Event::ReactionAdded { channel, message_id, emoji: emoji.clone(), user }
                    }
                    ReactionChange::Remove => {
                        Event::ReactionRemoved { channel, message_id, emoji: emoji.clone(), user }
                    }
                });
            }
            Ok(message)
        })?;
        durable.wait().await?;
        Ok(message)
    }

    /// Moves the caller's read marker, backwards too ("mark as unread"), never beyond
    /// the newest message.
    pub async fn mark_read(&self, caller: Caller, channel: ChannelId, seq: u64) -> Result<u64> {
        let ws = self.channel_workspace(channel)?;
        let (seq, durable) = self.write_as(caller, ws, |state, tx| {
            let ch = state.readable_channel(caller.user, channel)?;
            if !ch.members.contains(&caller.user) {
                return Err(Error::forbidden("join the channel to track what you have read").into());
            }
            let seq = seq.min(ch.last_seq);
            tx.op(Op::SetReadMarker { channel, user: caller.user, seq });
            tx.emit(Event::ReadUpdated { channel, user: caller.user, seq, thread_root: None });
            Ok(seq)
        })?;
        durable.wait().await?;
        Ok(seq)
    }
}
