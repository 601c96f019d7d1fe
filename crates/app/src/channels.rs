//! Channels: create, list with unread state, update (topic, name, archive), join,
//! leave, add members, and direct-message channels.

use std::collections::HashSet;

use confab_core::{
    Channel, ChannelId, ChannelKind, ChannelView, Error, ErrorCode, Event, Role, UserId, UserProfile,
    WorkspaceId, validate,
};
use confab_store::Op;

use crate::directory::{ChannelState, WorkspaceState, dm_key};
use crate::error::{AppError, Result};
use crate::{App, Caller, Tx, new_ulid};

/// Most people in one DM, the caller included.
const MAX_DM_MEMBERS: usize = 9;

pub use confab_protocol::http::{ChannelMemberView, CreateChannel, UpdateChannel};

/// What opening a DM came to.
enum OpenedDm {
    Created(Channel),
    Existing(ChannelId),
}

fn not_found() -> Error {
    Error::new(ErrorCode::ChannelNotFound, "no such channel")
}

impl App {
    /// The workspace a channel belongs to, or `channel_not_found`.
    pub(crate) fn channel_workspace(&self, channel: ChannelId) -> Result<WorkspaceId> {
        self.inner
            .directory
            .channel_owner(self.store().as_ref(), channel)?
            .ok_or_else(not_found)
            .map_err(AppError::from)
    }

    /// The stored channel, or `channel_not_found`.
    pub(crate) fn channel_record(&self, channel: ChannelId) -> Result<Channel> {
        self.store().channel(channel)?.ok_or_else(not_found).map_err(AppError::from)
    }

    pub fn list_channels(&self, caller: Caller, ws: WorkspaceId) -> Result<Vec<ChannelView>> {
        let readable: Vec<(ChannelId, bool, u64)> = {
            let state = self.workspace(ws)?;
            let state = state.read();
            state.require_member(caller.user)?;
            state
                .channels
                .iter()
                .filter(|(id, _)| state.can_read(caller.user, **id))
                .map(|(id, c)| (*id, c.members.contains(&caller.user), c.members.len() as u64))
                .collect()
        };
        let store = self.store();
        let mut out = Vec::with_capacity(readable.len());
        for (id, is_member, member_count) in readable {
            let Some(channel) = store.channel(id)? else { continue };
            let last_seq = store.last_seq(id)?;
            let last_read_seq = match is_member {
                true => store.channel_member(id, caller.user)?.map_or(0, |m| m.last_read_seq),
                false => last_seq,
            };
            // Thread replies share the channel's `seq`s but are unread in their thread.
            let unread_count = match is_member {
                true => store.unread_count(id, last_read_seq)?,
                false => 0,
            };
            let (mention_count, thread_mention_count) = match is_member {
                true => {
                    let in_threads = store.thread_mentions(caller.user, ws, id)?.len() as u64;
                    (store.mention_count(id, caller.user, last_read_seq)? + in_threads, in_threads)
                }
                false => (0, 0),
            };
            let notify = self.notify_level(ws, caller.user, id, channel.kind)?;
            let dm_members = if channel.kind == ChannelKind::Dm {
                let mut people = Vec::new();
                for (user, _) in store.channel_members(id)? {
                    if user != caller.user
                        && let Some(r) = store.user(user)?
                    {
                        people.push(UserProfile::from(&r.user));
                    }
                }
                people
            } else {
                Vec::new()
            };
            out.push(ChannelView {
                channel,
                is_member,
                last_seq,
                last_read_seq,
                unread_count,
                mention_count,
                thread_mention_count,
                notify,
                member_count,
                dm_members,
            });
        }
        out.sort_by(|a, b| a.channel.name.cmp(&b.channel.name));
        Ok(out)
    }

    pub fn channel(&self, caller: Caller, channel: ChannelId) -> Result<Channel> {
        let ws = self.channel_workspace(channel)?;
        self.workspace(ws)?.read().readable_channel(caller.user, channel)?;
        self.channel_record(channel)
    }

    pub async fn create_channel(
        &self,
        caller: Caller,
        ws: WorkspaceId,
        req: CreateChannel,
    ) -> Result<Channel> {
        validate::channel_name(&req.name)?;
        let topic = self.limits().topic(&req.topic)?.to_string();
        let (channel, durable) = self.write_as(caller, ws, |state, tx| {
            if state.require_member(caller.user)? == Role::Guest {
                return Err(Error::forbidden("guests cannot create channels").into());
            }
            let max_created = self.config().limits.max_channels_per_user;
            if state.channels.values().filter(|c| c.created_by == caller.user).count() >= max_created {
                return Err(Error::new(
                    ErrorCode::QuotaExceeded,
                    format!("one member creates at most {max_created} channels in a workspace"),
                )
                .into());
            }
            if state.channel_name_taken(&req.name, None) {
                return Err(Error::new(ErrorCode::NameTaken, format!("#{} already exists", req.name)).into());
            }
            let kind = if req.private { ChannelKind::Private } else { ChannelKind::Public };
            let channel = Channel {
                id: ChannelId::from_ulid(new_ulid()),
                workspace: ws,
                name: req.name.clone(),
                kind,
                topic,
                archived: false,
                created_by: caller.user,
                created_at: tx.now,
            };
            Self::stage_new_channel(state, tx, &channel, &[caller.user]);
            Ok(channel)
        })?;
        durable.wait().await?;
        Ok(channel)
    }

    /// Stages a new channel with its first members.
    pub(crate) fn stage_new_channel(
        state: &mut WorkspaceState,
        tx: &mut Tx,
        channel: &Channel,
        members: &[UserId],
    ) {
        tx.op(Op::PutChannel(channel.clone()));
        if channel.kind == ChannelKind::Dm {
            state.dms.insert(dm_key(members), channel.id);
        }
        state.channels.insert(
            channel.id,
            ChannelState {
                name: channel.name.clone(),
                kind: channel.kind,
                archived: false,
                members: HashSet::new(),
                last_seq: 0,
                created_by: channel.created_by,
            },
        );
        tx.emit(Event::ChannelCreated { channel: channel.clone() });
        for user in members {
            Self::stage_channel_join(state, tx, channel.id, *user);
        }
    }

    pub async fn update_channel(
        &self,
        caller: Caller,
        channel: ChannelId,
        req: UpdateChannel,
    ) -> Result<Channel> {
        if let Some(name) = &req.name {
            validate::channel_name(name)?;
        }
        let topic = req.topic.as_deref().map(|t| self.limits().topic(t).map(str::to_string)).transpose()?;
        let ws = self.channel_workspace(channel)?;
        let (updated, durable) = self.write_as(caller, ws, |state, tx| {
            let role = state.member_via_channel(caller.user)?;
            let ch = state.readable_channel(caller.user, channel)?;
            // Read under the workspace lock, so that concurrent updates do not undo each other.
            let mut record = self.channel_record(channel)?;
            let is_member = ch.members.contains(&caller.user);
            let manages = role.is_admin() || record.created_by == caller.user;
            if !is_member && !role.is_admin() {
                return Err(Error::forbidden("join the channel to change it").into());
            }
            if record.kind == ChannelKind::Dm && (req.name.is_some() || req.archived.is_some()) {
                return Err(
                    Error::new(ErrorCode::Conflict, "direct messages cannot be renamed or archived").into()
                );
            }
            if (req.name.is_some() || req.archived.is_some()) && !manages {
                return Err(
                    Error::forbidden("only the channel's creator and admins rename or archive it").into()
                );
            }
            if ch.archived && req.archived != Some(false) {
                return Err(Error::new(ErrorCode::ChannelArchived, "the channel is archived").into());
            }
            if let Some(name) = &req.name {
                if state.channel_name_taken(name, Some(channel)) {
                    return Err(Error::new(ErrorCode::NameTaken, format!("#{name} already exists")).into());
                }
                record.name = name.clone();
            }
            if let Some(topic) = &topic {
                record.topic = topic.clone();
            }
            if let Some(archived) = req.archived {
                record.archived = archived;
            }
            if let Some(ch) = state.channels.get_mut(&channel) {
                ch.name = record.name.clone();
                ch.archived = record.archived;
            }
            tx.op(Op::PutChannel(record.clone()));
            tx.emit(Event::ChannelUpdated { channel: record.clone() });
            Ok(record)
        })?;
        durable.wait().await?;
        Ok(updated)
    }

    pub async fn join_channel(&self, caller: Caller, channel: ChannelId) -> Result<Channel> {
        let ws = self.channel_workspace(channel)?;
        let ((), durable) = self.write_as(caller, ws, |state, tx| {
            let role = state.member_via_channel(caller.user)?;
            let ch = state.readable_channel(caller.user, channel)?;
            if ch.members.contains(&caller.user) {
                return Ok(());
            }
            if ch.kind != ChannelKind::Public || role == Role::Guest {
                // A guest may read only channels they were added to, so this is unreachable
                // for them; private channels are joined by being added.
                return Err(not_found().into());
            }
            if ch.archived {
                return Err(Error::new(ErrorCode::ChannelArchived, "the channel is archived").into());
            }
            Self::stage_channel_join(state, tx, channel, caller.user);
            Ok(())
        })?;
        durable.wait().await?;
        self.channel_record(channel)
    }

    pub async fn leave_channel(&self, caller: Caller, channel: ChannelId) -> Result<()> {
        let ws = self.channel_workspace(channel)?;
        let ((), durable) = self.write_as(caller, ws, |state, tx| {
            let ch = state.readable_channel(caller.user, channel)?;
            if !ch.members.contains(&caller.user) {
                return Ok(());
            }
            if ch.kind == ChannelKind::Dm {
                return Err(Error::new(ErrorCode::Conflict, "you cannot leave a direct message").into());
            }
            Self::stage_channel_leave(state, tx, channel, caller.user);
            Ok(())
        })?;
        durable.wait().await
    }

    /// The members of a channel the caller may read, oldest first.
    pub fn channel_members(&self, caller: Caller, channel: ChannelId) -> Result<Vec<ChannelMemberView>> {
        let ws = self.channel_workspace(channel)?;
        self.workspace(ws)?.read().readable_channel(caller.user, channel)?;
        let mut out = Vec::new();
        for (user, membership) in self.store().channel_members(channel)? {
            if let Some(record) = self.store().user(user)? {
                out.push(ChannelMemberView {
                    profile: UserProfile::from(&record.user),
                    joined_at: membership.joined_at,
                });
            }
        }
        out.sort_by_key(|m| m.joined_at);
        Ok(out)
    }

    /// Takes `user` out of a channel: its creator and admins may; anyone may take
    /// themselves out (that is leaving). Not for DMs.
    pub async fn remove_channel_member(
        &self,
        caller: Caller,
        channel: ChannelId,
        user: UserId,
    ) -> Result<()> {
        if user == caller.user {
            return self.leave_channel(caller, channel).await;
        }
        let ws = self.channel_workspace(channel)?;
        let record = self.channel_record(channel)?;
        let ((), durable) = self.write_as(caller, ws, |state, tx| {
            let role = state.member_via_channel(caller.user)?;
            let ch = state.readable_channel(caller.user, channel)?;
            if ch.kind == ChannelKind::Dm {
                return Err(Error::new(ErrorCode::Conflict, "nobody is removed from a direct message").into());
            }
            if !role.is_admin() && record.created_by != caller.user {
                return Err(Error::forbidden("only the channel's creator and admins remove people").into());
            }
            if !ch.members.contains(&user) {
                return Err(Error::new(ErrorCode::UserNotFound, "not a member of the channel").into());
            }
            Self::stage_channel_leave(state, tx, channel, user);
            Ok(())
        })?;
        durable.wait().await?;
        Ok(())
    }

    pub async fn add_channel_member(&self, caller: Caller, channel: ChannelId, user: UserId) -> Result<()> {
        let ws = self.channel_workspace(channel)?;
        let ((), durable) = self.write_as(caller, ws, |state, tx| {
            let role = state.member_via_channel(caller.user)?;
            let ch = state.readable_channel(caller.user, channel)?;
            if !ch.members.contains(&caller.user) && !role.is_admin() {
                return Err(Error::forbidden("only members of the channel add people to it").into());
            }
            if ch.kind == ChannelKind::Dm {
                return Err(Error::new(ErrorCode::Conflict, "open a new direct message to add people").into());
            }
            if ch.archived {
                return Err(Error::new(ErrorCode::ChannelArchived, "the channel is archived").into());
            }
            if state.role(user).is_none() {
                return Err(Error::new(ErrorCode::UserNotFound, "no such member").into());
            }
            Self::stage_channel_join(state, tx, channel, user);
            Ok(())
        })?;
        durable.wait().await
    }

    /// Opens the DM between the caller and `users`, creating it the first time.
    pub async fn open_dm(&self, caller: Caller, ws: WorkspaceId, users: &[UserId]) -> Result<Channel> {
        let mut people: Vec<UserId> = users.iter().copied().chain([caller.user]).collect();
        people.sort();
        people.dedup();
        if people.len() < 2 || people.len() > MAX_DM_MEMBERS {
            return Err(
                Error::invalid_field("users", format!("1 to {} other members", MAX_DM_MEMBERS - 1)).into()
            );
        }
        let key = dm_key(&people);
        let (result, durable) = self.write_as(caller, ws, |state, tx| {
            state.require_member(caller.user)?;
            if people.iter().any(|p| state.role(*p).is_none()) {
                return Err(Error::new(ErrorCode::UserNotFound, "no such member").into());
            }
            // One DM per set of people, found by its members alone.
            if let Some(id) = state.dms.get(&key) {
                return Ok(OpenedDm::Existing(*id));
            }
            let id = ChannelId::from_ulid(new_ulid());
            // The name only labels the DM (clients show its members); it is outside the
            // channel name space and says nothing about who is in it.
            let name = format!("dm-{}", id.to_string().to_lowercase());
            let channel = Channel {
                id,
                workspace: ws,
                name,
                kind: ChannelKind::Dm,
                topic: String::new(),
                archived: false,
                created_by: caller.user,
                created_at: tx.now,
            };
            Self::stage_new_channel(state, tx, &channel, &people);
            Ok(OpenedDm::Created(channel))
        })?;
        durable.wait().await?;
        match result {
            OpenedDm::Created(channel) => Ok(channel),
            OpenedDm::Existing(existing) => self.channel_record(existing),
        }
    }
}
