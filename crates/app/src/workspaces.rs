//! Workspaces, their members and roles, and invites.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use confab_core::{
    Channel, ChannelId, ChannelKind, ChannelMembership, Error, ErrorCode, Event, Invite, Member, MemberView,
    Role, UserId, UserProfile, Workspace, WorkspaceId, WorkspaceView,
};
use confab_store::Op;
use rand::RngCore;

use crate::directory::{ChannelState, WorkspaceState};
use crate::error::Result;
use crate::{App, Caller, Tx, new_ulid, now_ms};

/// The channel every new workspace starts with and every new member joins.
pub const DEFAULT_CHANNEL: &str = "general";

pub use confab_protocol::http::{CreateInvite, InvitePreview, WorkspaceRef};

impl App {
    /// Stages `user` joining the workspace with `role`: the member record, the
    /// `member.joined` event and the in-memory membership, in one transaction.
    pub(crate) fn stage_member_joined(state: &mut WorkspaceState, tx: &mut Tx, user: UserId, role: Role) {
        tx.op(Op::PutMember(Member { workspace: tx.workspace, user, role, joined_at: tx.now }));
        tx.emit(Event::MemberJoined { channel: None, user });
        state.members.insert(user, role);
    }

    pub async fn create_workspace(&self, caller: Caller, name: &str) -> Result<WorkspaceView> {
        let name = self.limits().workspace_name(name)?.to_string();
        self.check_write_rate(caller.user)?;
        let max_owned = self.config().limits.max_workspaces_per_user;
        if self.owned_workspaces(caller.user)? >= max_owned {
            return Err(Error::new(
                ErrorCode::QuotaExceeded,
                format!("one account owns at most {max_owned} workspaces"),
            )
            .into());
        }
        let now = now_ms();
        let workspace = Workspace {
            id: WorkspaceId::from_ulid(new_ulid()),
            name,
            created_by: caller.user,
            created_at: now,
        };
        let general = Channel {
            id: ChannelId::from_ulid(new_ulid()),
            workspace: workspace.id,
            name: DEFAULT_CHANNEL.to_string(),
            kind: ChannelKind::Public,
            topic: "Everyone in the workspace".to_string(),
            archived: false,
            created_by: caller.user,
            created_at: now,
        };
        let mut state = WorkspaceState {
            id: workspace.id,
            members: HashMap::from([(caller.user, Role::Owner)]),
            channels: HashMap::from([(
                general.id,
                ChannelState {
                    name: general.name.clone(),
                    kind: general.kind,
                    archived: false,
                    members: HashSet::from([caller.user]),
                    last_seq: 0,
                    created_by: caller.user,
                },
            )]),
            dms: HashMap::new(),
            last_event_seq: 0,
            first_event_seq: 0,
        };
        let mut tx = Tx {
            workspace: workspace.id,
            now,
            next_event_seq: 0,
            batch: Default::default(),
            events: Vec::new(),
        };
        tx.op(Op::PutWorkspace(workspace.clone()));
        tx.op(Op::PutMember(Member {
            workspace: workspace.id,
            user: caller.user,
            role: Role::Owner,
            joined_at: now,
        }));
        tx.op(Op::PutChannel(general.clone()));
        tx.op(Op::PutChannelMember {
            channel: general.id,
            user: caller.user,
            membership: ChannelMembership { joined_at: now, last_read_seq: 0 },
        });
        tx.emit(Event::MemberJoined { channel: None, user: caller.user });
        let general_id = general.id;
        tx.emit(Event::ChannelCreated { channel: general });
        tx.emit(Event::MemberJoined { channel: Some(general_id), user: caller.user });
        // In a cluster, the node that creates a workspace sequences it first.
        self.hold_lease(&mut state)?;
        let durable = self.finish(&mut state, tx)?;
        self.inner.directory.insert(state);
        self.hub().add_workspace(caller.user, workspace.id);
        durable.wait().await?;
        Ok(WorkspaceView { workspace, role: Role::Owner })
    }

    pub fn list_workspaces(&self, caller: Caller) -> Result<Vec<WorkspaceView>> {
        let mut out = Vec::new();
        for id in self.store().workspaces_of(caller.user)? {
            let (Some(workspace), Some(member)) =
                (self.store().workspace(id)?, self.store().member(id, caller.user)?)
            else {
                continue;
            };
            out.push(WorkspaceView { workspace, role: member.role });
        }
        Ok(out)
    }

    pub fn members(&self, caller: Caller, ws: WorkspaceId) -> Result<Vec<MemberView>> {
        self.workspace(ws)?.read().require_member(caller.user)?;
        let mut out = Vec::new();
        for member in self.store().members(ws)? {
            if let Some(record) = self.store().user(member.user)? {
                out.push(MemberView {
                    profile: UserProfile::from(&record.user),
                    role: member.role,
                    joined_at: member.joined_at,
                    is_bot: crate::slack_bots::is_bot_account(&record.user),
                });
            }
        }
        Ok(out)
    }

    pub async fn set_role(
        &self,
        caller: Caller,
        ws: WorkspaceId,
        target: UserId,
        role: Role,
    ) -> Result<MemberView> {
        let (member, durable) = self.write_as(caller, ws, |state, tx| {
            let caller_role = state.require_member(caller.user)?;
            let current =
                state.role(target).ok_or_else(|| Error::new(ErrorCode::UserNotFound, "no such member"))?;
            if !caller_role.is_admin() {
                return Err(Error::forbidden("only owners and admins change roles").into());
            }
            if (current == Role::Owner || role == Role::Owner) && caller_role != Role::Owner {
                return Err(Error::forbidden("only owners make or unmake owners").into());
            }
            if current == Role::Owner && role != Role::Owner {
                let owners = state.members.values().filter(|r| **r == Role::Owner).count();
                if owners <= 1 {
                    return Err(Error::new(ErrorCode::LastOwner, "the last owner cannot be demoted").into());
                }
            }
            let mut member = self
                .store()
                .member(ws, target)?
                .ok_or_else(|| Error::new(ErrorCode::UserNotFound, "no such member"))?;
            member.role = role;
            tx.op(Op::PutMember(member.clone()));
            tx.emit(Event::MemberUpdated { user: target, role });
            if role == Role::Guest && current != Role::Guest {
                // A guest is in the channels someone added them to, not in every public
                // one: demotion takes them out of the public channels; private channels
                // and DMs, joined by invitation, stay.
                let public: Vec<ChannelId> = state
                    .channels
                    .iter()
                    .filter(|(_, c)| c.kind == ChannelKind::Public && c.members.contains(&target))
                    .map(|(id, _)| *id)
                    .collect();
                for channel in public {
                    Self::stage_channel_leave(state, tx, channel, target);
                }
            }
            state.members.insert(target, role);
            Ok(member)
        })?;
        durable.wait().await?;
        let record = self.store().user(target)?.ok_or_else(Error::internal)?;
        Ok(MemberView {
            profile: UserProfile::from(&record.user),
            role: member.role,
            joined_at: member.joined_at,
            is_bot: crate::slack_bots::is_bot_account(&record.user),
        })
    }

    pub async fn create_invite(&self, caller: Caller, ws: WorkspaceId, req: CreateInvite) -> Result<Invite> {
        let limits = &self.config().limits;
        let role = req.role.unwrap_or(Role::Member);
        if !matches!(role, Role::Member | Role::Guest) {
            return Err(Error::invalid_field("role", "an invite gives the role member or guest").into());
        }
        let max_uses = req.max_uses.unwrap_or(if role == Role::Guest { 1 } else { 50 });
        if max_uses == 0 || max_uses > limits.invite_max_uses {
            return Err(Error::invalid_field("max_uses", format!("1 to {}", limits.invite_max_uses)).into());
        }
        let hours = req.expires_in_hours.unwrap_or(24 * 7);
        if hours == 0 || hours > limits.invite_max_days * 24 {
            return Err(Error::invalid_field(
                "expires_in_hours",
                format!("1 to {}", limits.invite_max_days * 24),
            )
            .into());
        }
        let (invite, durable) = self.write_as(caller, ws, |state, tx| {
            let caller_role = state.require_member(caller.user)?;
            if caller_role == Role::Guest || (role == Role::Guest && !caller_role.is_admin()) {
                return Err(Error::forbidden("guests cannot invite, and only admins invite guests").into());
            }
            let mut code = [0u8; 16];
            rand::rng().fill_bytes(&mut code);
            let invite = Invite {
                code: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(code),
                workspace: ws,
                created_by: caller.user,
                created_at: tx.now,
                expires_at: tx.now + i64::from(hours) * 3_600_000,
                max_uses,
                uses: 0,
                role,
            };
            tx.op(Op::PutInvite(invite.clone()));
            Ok(invite)
        })?;
        durable.wait().await?;
        Ok(invite)
    }

    pub(crate) fn usable_invite(&self, code: &str) -> Result<Invite> {
        let invite = if code.is_empty() || code.len() > 64 { None } else { self.store().invite(code)? };
        let invite = invite.ok_or_else(|| Error::new(ErrorCode::InviteNotFound, "no such invite"))?;
        if !invite.is_usable(now_ms()) {
            return Err(
                Error::new(ErrorCode::InviteExpired, "this invite has expired or has been used up").into()
            );
        }
        Ok(invite)
    }

    /// Joins the invite's workspace (and its default channel). Accepting an invite
    /// to a workspace one is already in changes nothing.
    pub async fn accept_invite(&self, caller: Caller, code: &str) -> Result<WorkspaceView> {
        let invite = self.usable_invite(code)?;
        let ws = invite.workspace;
        let (role, durable) = self.write_as(caller, ws, |state, tx| {
            if let Some(role) = state.role(caller.user) {
                return Ok(role);
            }
            // Re-read under the lock: another acceptance may have used the last use.
            let mut invite = self.usable_invite(code)?;
            invite.uses += 1;
            tx.op(Op::PutInvite(invite.clone()));
            Self::stage_member_joined(state, tx, caller.user, invite.role);
            if invite.role != Role::Guest {
                let general = state
                    .channels
                    .iter()
                    .find(|(_, c)| c.name == DEFAULT_CHANNEL && !c.archived)
                    .map(|(id, _)| *id);
                if let Some(general) = general {
                    Self::stage_channel_join(state, tx, general, caller.user);
                }
            }
            Ok(invite.role)
        })?;
        self.hub().add_workspace(caller.user, ws);
        durable.wait().await?;
        let workspace = self.store().workspace(ws)?.ok_or_else(Error::internal)?;
        Ok(WorkspaceView { workspace, role })
    }

    /// How many workspaces `user` owns.
    fn owned_workspaces(&self, user: UserId) -> Result<usize> {
        let mut owned = 0;
        for ws in self.store().workspaces_of(user)? {
            if self.store().member(ws, user)?.is_some_and(|m| m.role == Role::Owner) {
                owned += 1;
            }
        }
        Ok(owned)
    }

    /// Removes `target` from the workspace: their membership and their channel
    /// memberships go in one write, their live connections stop receiving the
    /// workspace's events at once, and they are sent `member.left` (without a
    /// channel) so their client drops the workspace. Owners and admins remove
    /// members (only owners remove owners, never the last one); anyone may remove
    /// themselves, which is leaving. DM memberships are kept, inert: a DM is
    /// identified by its members, and it comes back if they are invited again.
    pub async fn remove_member(&self, caller: Caller, ws: WorkspaceId, target: UserId) -> Result<()> {
        let ((), durable) = self.write_as(caller, ws, |state, tx| {
            let caller_role = state.require_member(caller.user)?;
            let current =
                state.role(target).ok_or_else(|| Error::new(ErrorCode::UserNotFound, "no such member"))?;
            if target != caller.user && !caller_role.is_admin() {
                return Err(Error::forbidden("only owners and admins remove members").into());
            }
            if current == Role::Owner {
                if target != caller.user && caller_role != Role::Owner {
                    return Err(Error::forbidden("only owners remove owners").into());
                }
                if state.members.values().filter(|r| **r == Role::Owner).count() <= 1 {
                    return Err(Error::new(
                        ErrorCode::LastOwner,
                        "the last owner cannot leave or be removed",
                    )
                    .into());
                }
            }
            let channels: Vec<ChannelId> = state
                .channels
                .iter()
                .filter(|(_, c)| c.kind != ChannelKind::Dm && c.members.contains(&target))
                .map(|(id, _)| *id)
                .collect();
            for channel in channels {
                Self::stage_channel_leave(state, tx, channel, target);
            }
            tx.op(Op::DeleteMember { workspace: ws, user: target });
            tx.emit(Event::MemberLeft { channel: None, user: target });
            state.members.remove(&target);
            Ok(())
        })?;
        durable.wait().await?;
        self.hub().remove_workspace(target, ws);
        Ok(())
    }

    /// Renames the workspace (owners and admins); members are told by
    /// `workspace.updated`.
    pub async fn rename_workspace(&self, caller: Caller, ws: WorkspaceId, name: &str) -> Result<Workspace> {
        let name = self.limits().workspace_name(name)?.to_string();
        let (workspace, durable) = self.write_as(caller, ws, |state, tx| {
            if !state.require_member(caller.user)?.is_admin() {
                return Err(Error::forbidden("only owners and admins rename the workspace").into());
            }
            let mut workspace = self.store().workspace(ws)?.ok_or_else(Error::internal)?;
            workspace.name = name;
            tx.op(Op::PutWorkspace(workspace.clone()));
            tx.emit(Event::WorkspaceUpdated { workspace: workspace.clone() });
            Ok(workspace)
        })?;
        durable.wait().await?;
        Ok(workspace)
    }

    /// What an invite leads to, for whoever holds its code: the workspace's name and
    /// the role it gives, so a client can ask before joining. Holding the code is
    /// what lets one see this, as it is what lets one join.
    pub fn invite_preview(&self, code: &str) -> Result<InvitePreview> {
        let invite = self.usable_invite(code)?;
        let workspace = self.store().workspace(invite.workspace)?.ok_or_else(Error::internal)?;
        Ok(InvitePreview {
            workspace: WorkspaceRef { id: workspace.id, name: workspace.name },
            role: invite.role,
            expires_at: invite.expires_at,
        })
    }

    /// The workspace's invites: all of them for owners and admins, one's own for
    /// members (an invite code is a key to the workspace).
    pub fn invites(&self, caller: Caller, ws: WorkspaceId) -> Result<Vec<Invite>> {
        let role = self.workspace(ws)?.read().require_member(caller.user)?;
        if role == Role::Guest {
            return Err(Error::forbidden("guests cannot invite").into());
        }
        let mut invites = self.store().invites(ws)?;
        invites.retain(|i| role.is_admin() || i.created_by == caller.user);
        invites.sort_by_key(|i| std::cmp::Reverse(i.created_at));
        Ok(invites)
    }

    /// Revokes an invite: owners and admins any of the workspace's, members their
    /// own. An invite one may not see answers `invite_not_found`.
    pub async fn revoke_invite(&self, caller: Caller, ws: WorkspaceId, code: &str) -> Result<()> {
        let ((), durable) = self.write_as(caller, ws, |state, tx| {
            let role = state.require_member(caller.user)?;
            let invite = match code.is_empty() || code.len() > 64 {
                true => None,
                false => self.store().invite(code)?,
            };
            let invite = invite
                .filter(|i| i.workspace == ws && (role.is_admin() || i.created_by == caller.user))
                .ok_or_else(|| Error::new(ErrorCode::InviteNotFound, "no such invite"))?;
            tx.op(Op::DeleteInvite { code: invite.code });
            Ok(())
        })?;
        durable.wait().await
    }

    /// Stages `user` leaving `channel`: the membership record, the event and the
    /// in-memory state.
    pub(crate) fn stage_channel_leave(
        state: &mut WorkspaceState,
        tx: &mut Tx,
        channel: ChannelId,
        user: UserId,
    ) {
        let Some(ch) = state.channels.get_mut(&channel) else { return };
        if !ch.members.remove(&user) {
            return;
        }
        tx.op(Op::DeleteChannelMember { channel, user });
        tx.emit(Event::MemberLeft { channel: Some(channel), user });
    }

    /// Stages `user` joining `channel`: the membership record, the event and the
    /// in-memory state.
    pub(crate) fn stage_channel_join(
        state: &mut WorkspaceState,
        tx: &mut Tx,
        channel: ChannelId,
        user: UserId,
    ) {
        let Some(ch) = state.channels.get_mut(&channel) else { return };
        if !ch.members.insert(user) {
            return;
        }
        // New members start with everything before their arrival read.
        let membership = ChannelMembership { joined_at: tx.now, last_read_seq: ch.last_seq };
        tx.op(Op::PutChannelMember { channel, user, membership });
        tx.emit(Event::MemberJoined { channel: Some(channel), user });
    }
}
