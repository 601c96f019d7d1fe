//! `confab import slack`: maps a Slack export (read by `confab-slack-export`) into a
//! workspace through the app's own write path, in bulk.
//!
//! What it does, in order:
//! 1. **Users** match existing accounts by email (they keep their passwords); the
//!    others become new accounts without a usable password, each with a one-time
//!    sign-in link: a password-reset token ([`App::password_reset_token`]) whose link
//!    the operator hands over. Bots (users.json's `is_bot` or `is_app_user`,
//!    Slackbot, and integrations whose messages name only a `bot_id`) become bot
//!    accounts of this workspace, remembered per workspace: their email is their own
//!    id at `bots.invalid`, which marks a bot ([`crate::slack_bots`]) and which nobody
//!    signing up can take. People without an email get an address under
//!    `slack-import.invalid` and never abort the run.
//! 2. **The workspace** named `--workspace` is reused, or created with Slack's primary
//!    owner as its owner. Every user not deleted in Slack becomes a member (Slack
//!    owners and admins as admins).
//! 3. **Each conversation** becomes a channel (Slack's `is_general` merges into
//!    `#general`; a public or private channel of the same name and kind is reused) or
//!    a DM of its members (mpims too). Its history is written in `ts` order, in
//!    batches of [`BATCH_MESSAGES`] under the workspace's write lock: threads, edits,
//!    reactions, files as links, converted markup, `ts` kept as `created_at`.
//!    `channel_join`/`channel_leave` set when a member joined. Members' read markers
//!    end at the newest message, so history arrives read.
//! 4. **Derived data**: the workspace's search index and suggestion statistics are
//!    rebuilt from the store at the end. The consent ledger is not touched: importing
//!    is not consent.
//!
//! **Idempotent**: conversations and users are remembered per workspace (blob
//! namespace [`NAMESPACE`]), and every message carries its [`MessageKey`] (derived from
//! the Slack channel id and `ts`) as its `client_msg_id`; a re-run skips every key
//! the channel already holds, so re-importing adds nothing and a later, larger export
//! completes an earlier one (its new messages are appended after the old ones).
//!
//! **Atomic per conversation** as far as reading goes: a conversation with a
//! malformed day file imports nothing (the file and line are in the summary) and the
//! run goes on. A crash in the middle of a conversation leaves a prefix of its
//! history, which a re-run completes.
//!
//! Imported history is not streamed to connected clients message by message (the
//! log would flood every socket with years of history): new channels and members are
//! announced as events, and clients read the history over HTTP.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use confab_core::{
    Channel, ChannelId, ChannelKind, ChannelMembership, Error, ErrorCode, Event, Member, Message, MessageId,
    Millis, Reaction, Role, User, UserId, Workspace, WorkspaceId, emoji, mention, validate,
};
use confab_slack_export::{
    Author, Conversation, ConversationId, ConversationKind, Entry, Export, MembershipChange, MessageKey,
    MessageKind, Resolver, SlackUserId,
};
use confab_store::{Activity, Batch, Direction, Op, UserRecord};
use serde::{Deserialize, Serialize};

use crate::committer::Durable;
use crate::directory::{WorkspaceState, dm_key};
use crate::error::Result;
use crate::workspaces::DEFAULT_CHANNEL;
use crate::{App, Tx, new_ulid, now_ms};

/// Blob namespace of what an import remembers per workspace: `conv:<Slack id>` → the
/// channel id, `user:<Slack id>` → the user id.
pub const NAMESPACE: &str = "slack_import";

/// Messages per batch: a batch is applied under the workspace's write lock, so
/// writers of the same workspace wait at most one batch.
pub const BATCH_MESSAGES: usize = 500;

/// Messages written between two waits for durability.
const WAIT_EVERY: u64 = 50_000;

/// Bytes of a batch before it is cut early (large records make large journal entries).
const BATCH_BYTES: usize = 96 * 1024;

/// Where a new account's placeholder email lives (a reserved TLD: never delivered).
const PLACEHOLDER_DOMAIN: &str = "slack-import.invalid";

/// The password hash of an imported account: no password verifies against it (it
/// is not a PHC string), until its owner sets one with a one-time link.
const NO_PASSWORD: &str = "slack-import:no-password";

/// Most mentions resolved per message (as for a post).
const MAX_MENTIONS: usize = 50;

/// `[slack]`: importing Slack exports, bots and incoming webhooks.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackConfig {
    /// Bots one workspace may have at most.
    pub max_bots_per_workspace: usize,
    /// Incoming webhooks one workspace may have at most.
    pub max_webhooks_per_workspace: usize,
    /// Posts one incoming webhook may make per minute (sustained) and in a burst.
    pub webhook_posts_per_minute: u32,
    pub webhook_burst: u32,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            max_bots_per_workspace: 50,
            max_webhooks_per_workspace: 100,
            webhook_posts_per_minute: 60,
            webhook_burst: 20,
        }
    }
}

/// What to import.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SlackImport {
    /// The export zip, as a path the importing process can read.
    pub path: PathBuf,
    /// The workspace's exact name: created, or reused on a re-run.
    pub workspace: String,
    /// Read and report; write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// How far an import is: day files read of all, messages written so far.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct ImportProgress {
    pub files_done: u64,
    pub files_total: u64,
    pub messages: u64,
}

/// An account the import created for a person (not a bot), who signs in first with
/// a one-time link that sets their password.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewAccount {
    pub slack_id: String,
    pub username: String,
    pub email: String,
    /// A one-time password-reset token (`lifecycle.password_reset_ttl_secs`): the
    /// operator hands its link to the person, who sets a password and signs in.
    pub sign_in_token: String,
    pub sign_in_expires_at: Millis,
}

/// What an import did (or, for a dry run, what it read).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ImportSummary {
    pub workspace: Option<WorkspaceId>,
    pub workspace_name: String,
    pub dry_run: bool,
    pub workspace_created: bool,
    pub users_created: u64,
    pub users_linked: u64,
    /// Users an earlier run of this import created or linked.
    pub users_known: u64,
    pub members_added: u64,
    pub channels_created: u64,
    pub channels_reused: u64,
    pub dms_created: u64,
    pub dms_reused: u64,
    pub messages_imported: u64,
    /// Messages whose key the channel already held (an earlier run imported them).
    pub messages_already_imported: u64,
    pub replies: u64,
    pub edited: u64,
    pub reactions: u64,
    pub files: u64,
    pub membership_changes: u64,
    /// Conversations left out whole, each with the malformed file (and line) why.
    pub conversations_skipped: Vec<String>,
    /// Other things left out, by why.
    pub skipped: BTreeMap<String, u64>,
    /// People whose accounts this run created: each needs a sign-in link.
    pub new_accounts: Vec<NewAccount>,
    /// The dry run's report (counts per kind, unmapped users, unknown subtypes, what
    /// is skipped and why).
    pub report: Option<String>,
    pub elapsed_ms: u64,
}

impl ImportSummary {
    fn skip(&mut self, why: &str) {
        *self.skipped.entry(why.to_string()).or_default() += 1;
    }
}

/// Slack ids to Confab names, for markup conversion.
struct Names {
    users: HashMap<SlackUserId, (UserId, String)>,
    channels: HashMap<ConversationId, String>,
    /// Integrations' posts without a user: by `bot_id` (else their username).
    bots: HashMap<String, UserId>,
}

/// Which account a bot message without a user goes to.
fn bot_key(author: &Author) -> Option<String> {
    match author {
        Author::Bot { user: None, bot_id, username } => {
            bot_id.clone().or_else(|| username.clone()).filter(|k| !k.is_empty())
        }
        _ => None,
    }
}

impl Resolver for Names {
    fn username(&self, user: &SlackUserId) -> Option<String> {
        self.users.get(user).map(|(_, name)| name.clone())
    }

    fn channel(&self, channel: &ConversationId) -> Option<String> {
        self.channels.get(channel).cloned()
    }
}

/// A channel's existing imported keys, for skipping on a re-run.
struct Existing {
    keys: HashMap<String, MessageId>,
}

impl App {
    /// Imports a Slack export (see the module docs). Runs on a blocking thread;
    /// `progress` is called after each conversation.
    pub async fn import_slack(
        &self,
        request: SlackImport,
        progress: Box<dyn Fn(ImportProgress) + Send>,
    ) -> Result<ImportSummary> {
        let app = self.clone();
        let handle = tokio::runtime::Handle::current();
        let summary =
            tokio::task::spawn_blocking(move || app.import_blocking(&handle, request, &*progress)).await??;
        if let Some(ws) = summary.workspace.filter(|_| !summary.dry_run) {
            self.rebuild_derived(ws).await?;
        }
        Ok(summary)
    }

    /// Rebuilds one workspace's search index and suggestion statistics from the store.
    async fn rebuild_derived(&self, ws: WorkspaceId) -> Result<()> {
        self.reindex(Some(ws), Box::new(|_| {})).await?;
        self.rebuild_suggestions(ws).await
    }

    fn import_blocking(
        &self,
        rt: &tokio::runtime::Handle,
        request: SlackImport,
        progress: &dyn Fn(ImportProgress),
    ) -> Result<ImportSummary> {
        let started = std::time::Instant::now();
        let name = self.limits().workspace_name(&request.workspace)?.to_string();
        let export = Export::open(&request.path).map_err(|e| Error::invalid_field("path", e.to_string()))?;
        let mut summary =
            ImportSummary { workspace_name: name.clone(), dry_run: request.dry_run, ..Default::default() };
        let existing_ws = self.workspace_by_name(&name)?;
        summary.workspace = existing_ws;
        if request.dry_run {
            let names = Names {
                users: export
                    .users()
                    .iter()
                    .map(|u| (u.id.clone(), (UserId::from_ulid(ulid::Ulid::nil()), u.name.clone())))
                    .collect(),
                channels: HashMap::new(),
                bots: HashMap::new(),
            };
            summary.report = Some(export.dry_run(&names).to_string());
            summary.elapsed_ms = started.elapsed().as_millis() as u64;
            return Ok(summary);
        }

        // 1. Users.
        let remembered = match existing_ws {
            Some(ws) => self.remembered(ws)?,
            None => HashMap::new(),
        };
        let mut users: HashMap<SlackUserId, (UserId, String)> = HashMap::new();
        let mut new_records = Vec::new();
        let mut taken_names: HashSet<String> = HashSet::new();
        for u in export.users() {
            let remembered_user = remembered
                .get(&format!("user:{}", u.id))
                .and_then(|id| id.parse::<UserId>().ok())
                .map(|id| self.store().user(id))
                .transpose()?
                .flatten();
            if let Some(record) = remembered_user {
                summary.users_known += 1;
                users.insert(u.id.clone(), (record.user.id, record.user.username));
                continue;
            }
            let id = UserId::from_ulid(new_ulid());
            let is_bot = u.is_bot || u.is_app_user;
            // A bot is never linked to an account by email: it is this workspace's own.
            let email = match u.email.as_deref().map(|e| e.trim().to_lowercase()) {
                _ if is_bot => crate::slack_bots::bot_email(id),
                Some(email) if validate::email(&email).is_ok() => email,
                _ => placeholder_email(u.id.as_str()),
            };
            if !is_bot && let Some(record) = self.store().user_by_email(&email)? {
                summary.users_linked += 1;
                users.insert(u.id.clone(), (record.user.id, record.user.username));
                continue;
            }
            let username = self.free_username(&u.name, &mut taken_names)?;
            let display = self
                .limits()
                .display_name(u.shown_name())
                .map(str::to_string)
                .unwrap_or_else(|_| username.clone());
            let user = User {
                id,
                email,
                username: username.clone(),
                display_name: display,
                instance_admin: false,
                created_at: now_ms(),
                details: Default::default(),
            };
            users.insert(u.id.clone(), (user.id, username));
            summary.users_created += 1;
            // Not usable: no password verifies against it.
            new_records.push((u, UserRecord { user, password_hash: NO_PASSWORD.to_string() }));
        }
        for chunk in new_records.chunks(1000) {
            let mut batch = Batch::new();
            for (_, record) in chunk {
                batch.push(Op::PutUser(record.clone()));
            }
            rt.block_on(self.write_global(batch))?;
        }

        // 2. The workspace and its members.
        let owner_slack = export
            .users()
            .iter()
            .filter(|u| !u.deleted && !u.is_bot && !u.is_app_user)
            .max_by_key(|u| (u.is_owner, u.is_admin))
            .ok_or_else(|| {
                Error::invalid_field("path", "the export has no users who could own a workspace")
            })?;
        let owner = users[&owner_slack.id].0;
        let ws = match existing_ws {
            Some(ws) => ws,
            None => {
                summary.workspace_created = true;
                rt.block_on(self.create_import_workspace(owner, name))?
            }
        };
        summary.workspace = Some(ws);
        let ((), durable) = self.write(ws, |state, tx| {
            for u in export.users() {
                let (id, _) = users[&u.id];
                tx.op(remember(ws, &format!("user:{}", u.id), &id.to_string()));
                // Deleted Slack users become members too, so their history shows who
                // wrote it; they get no sign-in link.
                if state.role(id).is_some() {
                    continue;
                }
                let role = if u.is_owner || u.is_admin { Role::Admin } else { Role::Member };
                tx.op(Op::PutMember(Member { workspace: ws, user: id, role, joined_at: tx.now }));
                tx.emit(Event::MemberJoined { channel: None, user: id });
                state.members.insert(id, role);
                summary.members_added += 1;
            }
            for (u, record) in &new_records {
                // People get a sign-in link; bots, Slackbot and deleted users do not.
                if !(u.deleted
                    || u.is_bot
                    || u.is_app_user
                    || record.user.email.ends_with(PLACEHOLDER_DOMAIN))
                {
                    summary.new_accounts.push(NewAccount {
                        slack_id: u.id.to_string(),
                        username: record.user.username.clone(),
                        email: record.user.email.clone(),
                        sign_in_token: String::new(),
                        sign_in_expires_at: 0,
                    });
                }
            }
            Ok(())
        })?;
        rt.block_on(durable.wait())?;
        // One-time sign-in links: the password-reset tokens of the new accounts.
        for account in &mut summary.new_accounts {
            let reset = self.password_reset_token(&account.email)?;
            account.sign_in_token = reset.token;
            account.sign_in_expires_at = reset.expires_at;
        }
        for (id, _) in users.values() {
            self.hub().add_workspace(*id, ws);
        }

        // 3. Conversations.
        // Bot ids of users.json's bot users: their bot_messages are theirs.
        let bots = export
            .users()
            .iter()
            .filter_map(|u| Some((u.bot_id.clone()?, names_user(&users, &u.id)?)))
            .collect();
        let mut names = Names { users, channels: HashMap::new(), bots };
        let remembered = self.remembered(ws)?;
        let mut plan = Vec::new();
        let state = self.workspace(ws)?;
        for conversation in export.conversations() {
            let target = {
                let state = state.read();
                self.conversation_target(&state, &remembered, conversation, &names)
            };
            if let Target::Channel { name, .. } = &target {
                names.channels.insert(conversation.id.clone(), name.clone());
            }
            plan.push((conversation, target));
        }
        let files_total: u64 = export.conversations().iter().map(|c| c.day_files.len() as u64).sum();
        let mut done = ImportProgress { files_total, ..Default::default() };
        // Writes are applied at once and flushed together by the committer; the run
        // waits for their durability every WAIT_EVERY messages and at the end, not per
        // conversation (thousands of DMs would each cost a flush).
        let mut pending: Vec<Durable> = Vec::new();
        let mut waited_at = 0;
        for (conversation, target) in plan {
            done.files_done += conversation.day_files.len() as u64;
            let entries = match export.messages(conversation, &names) {
                Ok(messages) => messages.collect::<Vec<_>>(),
                Err(malformed) => {
                    summary
                        .conversations_skipped
                        .push(format!("{} ({}): {malformed}", conversation.name, conversation.id));
                    progress(done);
                    continue;
                }
            };
            self.ensure_bots(rt, ws, &entries, &mut names, &mut taken_names, &mut summary, &mut pending)?;
            self.import_conversation(ws, conversation, target, entries, &names, &mut summary, &mut pending)?;
            done.messages = summary.messages_imported;
            if summary.messages_imported - waited_at >= WAIT_EVERY {
                waited_at = summary.messages_imported;
                for durable in pending.drain(..) {
                    rt.block_on(durable.wait())?;
                }
            }
            progress(done);
        }
        for durable in pending {
            rt.block_on(durable.wait())?;
        }
        summary.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(summary)
    }

    /// Creates (or finds from an earlier run) an account for each integration whose
    /// posts in `entries` name no user, and makes it a member of the workspace.
    #[allow(clippy::too_many_arguments)]
    fn ensure_bots(
        &self,
        rt: &tokio::runtime::Handle,
        ws: WorkspaceId,
        entries: &[Entry],
        names: &mut Names,
        taken: &mut HashSet<String>,
        summary: &mut ImportSummary,
        pending: &mut Vec<Durable>,
    ) -> Result<()> {
        let mut wanted: Vec<(String, String)> = Vec::new();
        for entry in entries {
            let Entry::Message(m) = entry else { continue };
            if let Some(key) = bot_key(&m.author)
                && !names.bots.contains_key(&key)
                && !wanted.iter().any(|(k, _)| *k == key)
            {
                let Author::Bot { username, .. } = &m.author else { continue };
                wanted.push((key.clone(), username.clone().unwrap_or(key)));
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new();
        let mut created = Vec::new();
        for (key, name) in wanted {
            let remembered = self
                .store()
                .blob(ws, NAMESPACE, format!("bot:{key}").as_bytes())?
                .and_then(|id| String::from_utf8(id).ok()?.parse::<UserId>().ok());
            // Before bots were remembered, an earlier run found its account by this.
            let legacy = placeholder_email(&format!("bot-{key}"));
            let earlier = match remembered {
                Some(id) => Some(id),
                None => self.store().user_by_email(&legacy)?.map(|r| r.user.id),
            };
            let id = match earlier {
                Some(id) => id,
                None => {
                    let id = UserId::from_ulid(new_ulid());
                    let email = crate::slack_bots::bot_email(id);
                    let username = self.free_username(&name, taken)?;
                    let display_name = self
                        .limits()
                        .display_name(&name)
                        .map(str::to_string)
                        .unwrap_or_else(|_| username.clone());
                    let user = User {
                        id,
                        email,
                        username,
                        display_name,
                        instance_admin: false,
                        created_at: now_ms(),
                        details: Default::default(),
                    };
                    summary.users_created += 1;
                    let id = user.id;
                    batch.push(Op::PutUser(UserRecord { user, password_hash: NO_PASSWORD.to_string() }));
                    id
                }
            };
            names.bots.insert(key.clone(), id);
            created.push((key, id));
        }
        if !batch.is_empty() {
            rt.block_on(self.write_global(batch))?;
        }
        let ((), durable) = self.write(ws, |state, tx| {
            for (key, id) in &created {
                tx.op(remember(ws, &format!("bot:{key}"), &id.to_string()));
                if state.role(*id).is_none() {
                    tx.op(Op::PutMember(Member {
                        workspace: ws,
                        user: *id,
                        role: Role::Member,
                        joined_at: tx.now,
                    }));
                    tx.emit(Event::MemberJoined { channel: None, user: *id });
                    state.members.insert(*id, Role::Member);
                    summary.members_added += 1;
                }
            }
            Ok(())
        })?;
        pending.push(durable);
        for (_, id) in created {
            self.hub().add_workspace(id, ws);
        }
        Ok(())
    }

    /// The workspace with exactly this name, if any.
    fn workspace_by_name(&self, name: &str) -> Result<Option<WorkspaceId>> {
        for id in self.store().workspace_ids()? {
            if self.store().workspace(id)?.is_some_and(|w| w.name == name) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    fn remembered(&self, ws: WorkspaceId) -> Result<HashMap<String, String>> {
        Ok(self
            .store()
            .blobs(ws, NAMESPACE)?
            .into_iter()
            .filter_map(|(k, v)| Some((String::from_utf8(k).ok()?, String::from_utf8(v).ok()?)))
            .collect())
    }

    /// A username from a Slack handle that no account has yet.
    fn free_username(&self, handle: &str, taken: &mut HashSet<String>) -> Result<String> {
        let base = crate::auth::username_base(handle, "user");
        let candidate = self.first_free_username(&base, |name| taken.contains(name))?;
        taken.insert(candidate.clone());
        Ok(candidate)
    }

    async fn create_import_workspace(&self, owner: UserId, name: String) -> Result<WorkspaceId> {
        let now = now_ms();
        let workspace =
            Workspace { id: WorkspaceId::from_ulid(new_ulid()), name, created_by: owner, created_at: now };
        let general = Channel {
            id: ChannelId::from_ulid(new_ulid()),
            workspace: workspace.id,
            name: DEFAULT_CHANNEL.to_string(),
            kind: ChannelKind::Public,
            topic: String::new(),
            archived: false,
            created_by: owner,
            created_at: now,
        };
        let mut state = WorkspaceState {
            id: workspace.id,
            members: HashMap::from([(owner, Role::Owner)]),
            channels: HashMap::new(),
            dms: HashMap::new(),
            last_event_seq: 0,
            first_event_seq: 0,
        };
        let mut tx =
            Tx { workspace: workspace.id, now, next_event_seq: 0, batch: Batch::new(), events: Vec::new() };
        tx.op(Op::PutWorkspace(workspace.clone()));
        tx.op(Op::PutMember(Member {
            workspace: workspace.id,
            user: owner,
            role: Role::Owner,
            joined_at: now,
        }));
        tx.emit(Event::MemberJoined { channel: None, user: owner });
        Self::stage_new_channel(&mut state, &mut tx, &general, &[owner]);
        self.hold_lease(&mut state)?;
        let durable = self.finish(&mut state, tx)?;
        self.inner.directory.insert(state);
        self.hub().add_workspace(owner, workspace.id);
        durable.wait().await?;
        Ok(workspace.id)
    }

    /// Where a conversation goes: a channel (existing or to create) or a DM.
    fn conversation_target(
        &self,
        state: &WorkspaceState,
        remembered: &HashMap<String, String>,
        conversation: &Conversation,
        names: &Names,
    ) -> Target {
        let known = remembered
            .get(&format!("conv:{}", conversation.id))
            .and_then(|id| id.parse::<ChannelId>().ok())
            .filter(|id| state.channels.contains_key(id));
        let members: Vec<UserId> = conversation
            .members
            .iter()
            .filter_map(|m| names.users.get(m).map(|(id, _)| *id))
            .filter(|id| state.role(*id).is_some())
            .collect();
        match conversation.kind {
            ConversationKind::Dm | ConversationKind::Mpim => {
                let key = dm_key(&members);
                let existing = known.or_else(|| state.dms.get(&key).copied());
                Target::Dm { existing, members: key }
            }
            kind @ (ConversationKind::Public | ConversationKind::Private) => {
                let kind =
                    if kind == ConversationKind::Public { ChannelKind::Public } else { ChannelKind::Private };
                let wanted = if conversation.is_general {
                    DEFAULT_CHANNEL.to_string()
                } else {
                    channel_name(&conversation.name, conversation.id.as_str())
                };
                if let Some(id) = known {
                    let name = state.channels.get(&id).map(|c| c.name.clone()).unwrap_or(wanted);
                    return Target::Channel { existing: Some(id), name, kind, members };
                }
                // Reuse a channel of the same name only if it is of the same kind: a
                // private channel's history never lands in a public one.
                let mut name = wanted.clone();
                let mut n = 1;
                loop {
                    let same =
                        state.channels.iter().find(|(_, c)| c.kind != ChannelKind::Dm && c.name == name);
                    match same {
                        None => return Target::Channel { existing: None, name, kind, members },
                        Some((id, c)) if c.kind == kind => {
                            return Target::Channel { existing: Some(*id), name, kind, members };
                        }
                        Some(_) => {
                            n += 1;
                            let suffix = format!("-{n}");
                            name = format!("{}{suffix}", truncate_to(&wanted, 80 - suffix.len()));
                        }
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn import_conversation(
        &self,
        ws: WorkspaceId,
        conversation: &Conversation,
        target: Target,
        entries: Vec<Entry>,
        names: &Names,
        summary: &mut ImportSummary,
        pending: &mut Vec<Durable>,
    ) -> Result<()> {
        let topic = self.slack_topic(conversation, names);
        let creator = conversation.creator.as_ref().and_then(|c| names.users.get(c)).map(|(id, _)| *id);
        // The channel.
        let (channel, members, created) = match target {
            Target::Channel { existing: Some(id), members, .. } => {
                summary.channels_reused += 1;
                (id, members, false)
            }
            Target::Dm { existing: Some(id), members } => {
                summary.dms_reused += 1;
                (id, members, false)
            }
            Target::Channel { existing: None, name, kind, members } => {
                summary.channels_created += 1;
                let id = ChannelId::from_ulid(new_ulid());
                let owner =
                    creator.or(members.first().copied()).unwrap_or(UserId::from_ulid(ulid::Ulid::nil()));
                let channel = Channel {
                    id,
                    workspace: ws,
                    name,
                    kind,
                    topic: topic.clone(),
                    archived: false,
                    created_by: owner,
                    created_at: conversation.created_ms.unwrap_or_else(now_ms),
                };
                self.stage_import_channel(ws, conversation, channel, pending)?;
                (id, members, true)
            }
            Target::Dm { existing: None, members } => {
                if members.is_empty() {
                    summary.skip("DM or group DM without a member in the workspace");
                    return Ok(());
                }
                summary.dms_created += 1;
                let id = ChannelId::from_ulid(new_ulid());
                let channel = Channel {
                    id,
                    workspace: ws,
                    name: format!("dm-{}", id.to_string().to_lowercase()),
                    kind: ChannelKind::Dm,
                    topic: String::new(),
                    archived: false,
                    created_by: members[0],
                    created_at: conversation.created_ms.unwrap_or_else(now_ms),
                };
                self.stage_import_channel(ws, conversation, channel, pending)?;
                (id, members, true)
            }
        };

        // When each member last joined, from the membership history.
        let mut joined_at: HashMap<UserId, Millis> = HashMap::new();
        for entry in &entries {
            if let Entry::Membership(m) = entry {
                summary.membership_changes += 1;
                if m.change == MembershipChange::Joined
                    && let Some((id, _)) = names.users.get(&m.user)
                {
                    joined_at.insert(*id, m.ts_ms);
                }
            }
        }
        let ((), durable) = self.write(ws, |state, tx| {
            for user in &members {
                let Some(ch) = state.channels.get_mut(&channel) else { break };
                if ch.members.insert(*user) {
                    let joined = joined_at.get(user).copied().or(conversation.created_ms).unwrap_or(tx.now);
                    let membership = ChannelMembership { joined_at: joined, last_read_seq: ch.last_seq };
                    tx.op(Op::PutChannelMember { channel, user: *user, membership });
                    tx.emit(Event::MemberJoined { channel: Some(channel), user: *user });
                }
            }
            Ok(())
        })?;
        pending.push(durable);

        // What an earlier run wrote into this channel.
        let existing = if created { Existing { keys: HashMap::new() } } else { self.existing_keys(channel)? };
        let messages = self.build_messages(ws, channel, entries, names, &existing, summary)?;

        // Write in batches, each moved into its write (no copy of a message); the
        // caller waits for durability.
        let total = messages.len() as u64;
        let mut last = None;
        let mut activity = ImportedActivity::default();
        let mut rest = messages.into_iter().peekable();
        while rest.peek().is_some() {
            let mut chunk = Vec::with_capacity(BATCH_MESSAGES);
            let mut bytes = 0;
            while chunk.len() < BATCH_MESSAGES && bytes < BATCH_BYTES {
                let Some(m) = rest.next() else { break };
                bytes += m.message.text.len() + 300;
                chunk.push(m);
            }
            let activity = &mut activity;
            let ((), durable) = self.write(ws, move |state, tx| {
                let Some(ch) = state.channels.get_mut(&channel) else {
                    return Err(Error::new(ErrorCode::ChannelNotFound, "the channel is gone").into());
                };
                let base = ch.last_seq;
                ch.last_seq = base + chunk.len() as u64;
                for (i, Staged { mut message, updated_root }) in chunk.into_iter().enumerate() {
                    message.seq = base + 1 + i as u64;
                    activity.stage(self, state, tx, &message)?;
                    tx.op(Op::PutMessage(message));
                    if let Some(root) = updated_root {
                        tx.op(Op::PutMessage(root));
                    }
                }
                activity.stage_threads_read(tx);
                Ok(())
            })?;
            last = Some(durable);
        }
        summary.messages_imported += total;
        // History arrives read; an archived Slack channel ends archived.
        let ((), durable) = self.write(ws, |state, tx| {
            let Some(ch) = state.channels.get_mut(&channel) else { return Ok(()) };
            for user in ch.members.iter() {
                tx.op(Op::SetReadMarker { channel, user: *user, seq: ch.last_seq });
            }
            if ch.kind == ChannelKind::Dm {
                return Ok(());
            }
            // A channel reused (Confab's #general) takes Slack's topic if it has none.
            let mut record = self.store().channel(channel)?.ok_or_else(Error::internal)?;
            let archive = created && conversation.archived;
            let set_topic = record.topic.is_empty() && !topic.is_empty();
            if archive || set_topic {
                ch.archived |= archive;
                record.archived |= archive;
                if set_topic {
                    record.topic = topic.clone();
                }
                tx.op(Op::PutChannel(record.clone()));
                tx.emit(Event::ChannelUpdated { channel: record });
            }
            Ok(())
        })?;
        pending.extend(last);
        pending.push(durable);
        Ok(())
    }

    /// A conversation's topic (else its purpose) as Confab text, within limits.
    fn slack_topic(&self, conversation: &Conversation, names: &Names) -> String {
        let topic =
            conversation.topic.as_deref().filter(|t| !t.is_empty()).or(conversation.purpose.as_deref());
        let topic = confab_slack_export::convert_markup(topic.unwrap_or(""), names);
        truncate_to(topic.trim(), self.limits().max_topic_chars).to_string()
    }

    /// Creates a channel for a conversation and remembers it.
    fn stage_import_channel(
        &self,
        ws: WorkspaceId,
        conversation: &Conversation,
        channel: Channel,
        pending: &mut Vec<Durable>,
    ) -> Result<()> {
        let ((), durable) = self.write(ws, |state, tx| {
            Self::stage_new_channel(state, tx, &channel, &[]);
            tx.op(remember(ws, &format!("conv:{}", conversation.id), &channel.id.to_string()));
            Ok(())
        })?;
        pending.push(durable);
        Ok(())
    }

    /// The Slack keys a channel holds already, with their message ids.
    fn existing_keys(&self, channel: ChannelId) -> Result<Existing> {
        let mut keys = HashMap::new();
        let mut after = 0;
        loop {
            let page = self.store().messages(channel, Direction::Forward { after }, 1000)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for m in page {
                if let Some(key) = m.client_msg_id.filter(|k| k.starts_with("slack:")) {
                    keys.insert(key, m.id);
                }
            }
        }
        Ok(Existing { keys })
    }

    /// Turns a conversation's entries into messages (without `seq`), skipping those
    /// an earlier run imported, with thread roots' reply counts updated.
    fn build_messages(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        entries: Vec<Entry>,
        names: &Names,
        existing: &Existing,
        summary: &mut ImportSummary,
    ) -> Result<Vec<Staged>> {
        let usernames: HashMap<&str, UserId> =
            names.users.values().map(|(id, name)| (name.as_str(), *id)).collect();
        let state = self.workspace(ws)?;
        let state = state.read();
        let max_chars = self.config().limits.max_message_chars;
        let mut out: Vec<Staged> = Vec::with_capacity(entries.len());
        let mut index: HashMap<MessageKey, usize> = HashMap::new();
        let mut earlier_roots: HashMap<MessageId, Message> = HashMap::new();
        for entry in entries {
            let Entry::Message(m) = entry else { continue };
            if existing.keys.contains_key(m.key.as_str()) {
                summary.messages_already_imported += 1;
                continue;
            }
            let author = match m.author.user().and_then(|u| names.users.get(u)).map(|(id, _)| *id) {
                Some(id) => id,
                None if let Some(bot) = bot_key(&m.author).and_then(|k| names.bots.get(&k)) => *bot,
                None => {
                    summary.skip("message by a user not in users.json");
                    continue;
                }
            };
            let mut text = match m.kind {
                MessageKind::Me => format!("_{}_", m.text),
                _ => m.text.clone(),
            };
            for file in &m.files {
                summary.files += 1;
                if !text.is_empty() {
                    text.push('\n');
                }
                match file.link() {
                    Some(link) => text.push_str(&format!("📎 {} ({link})", file.name)),
                    None => text.push_str(&format!("📎 {}", file.name)),
                }
            }
            let mut text = emoji::expand_shortcodes(text.trim());
            if text.is_empty() {
                summary.skip("message without text or files");
                continue;
            }
            if text.chars().count() > max_chars {
                text = text.chars().take(max_chars).collect();
                summary.skip("message text cut to limits.max_message_chars (message kept)");
            }
            let mut mentions: Vec<UserId> = mention::mentioned_usernames_up_to(&text, MAX_MENTIONS)
                .iter()
                .filter_map(|n| usernames.get(n.as_str()).copied())
                .filter(|u| *u != author && state.can_read(*u, channel))
                .collect();
            mentions.sort();
            mentions.dedup();
            let mut reactions: Vec<Reaction> = Vec::new();
            for r in &m.reactions {
                let Some(emoji) = r.emoji else {
                    summary.skip("reaction with a custom emoji");
                    continue;
                };
                let users: Vec<UserId> =
                    r.users.iter().filter_map(|u| names.users.get(u).map(|(id, _)| *id)).collect();
                if users.is_empty() {
                    continue;
                }
                summary.reactions += 1;
                match reactions.iter_mut().find(|x| x.emoji == emoji) {
                    Some(x) => x.users.extend(users),
                    None => reactions.push(Reaction { emoji: emoji.to_string(), users }),
                }
            }
            for r in &mut reactions {
                r.users.sort();
                r.users.dedup();
            }
            // A reply's root: in this run, or an earlier one; else the reply stands alone.
            let mut thread_root = None;
            let mut updated_root = None;
            if let Some(root_key) = &m.thread_key {
                if let Some(&i) = index.get(root_key) {
                    let root = &mut out[i].message;
                    root.reply_count += 1;
                    root.last_reply_at = Some(m.ts_ms);
                    thread_root = Some(root.id);
                } else if let Some(&id) = existing.keys.get(root_key.as_str()) {
                    let root = match earlier_roots.remove(&id) {
                        Some(root) => Some(root),
                        None => self.store().message(id)?,
                    };
                    if let Some(mut root) = root {
                        root.reply_count += 1;
                        root.last_reply_at = Some(m.ts_ms);
                        thread_root = Some(id);
                        earlier_roots.insert(id, root.clone());
                        updated_root = Some(root);
                    }
                } else {
                    summary.skip("thread reply whose root is not in the export (kept as a message)");
                }
                if thread_root.is_some() {
                    summary.replies += 1;
                }
            }
            summary.edited += u64::from(m.edited.is_some());
            let id =
                MessageId::from_ulid(ulid::Ulid::from_parts(m.ts_ms.max(0) as u64, rand::random::<u128>()));
            index.insert(m.key.clone(), out.len());
            out.push(Staged {
                message: Message {
                    id,
                    workspace: ws,
                    channel,
                    seq: 0,
                    author,
                    text,
                    created_at: m.ts_ms,
                    edited_at: m.edited.as_ref().map(|e| e.ts_ms.unwrap_or(m.ts_ms)),
                    deleted: false,
                    thread_root,
                    reply_count: 0,
                    last_reply_at: None,
                    reactions,
                    mentions,
                    client_msg_id: Some(m.key.as_str().to_string()),
                    files: Vec::new(),
                },
                updated_root,
            });
        }
        // An earlier root updated by several replies is written once, last.
        let mut seen = HashSet::new();
        for staged in out.iter_mut().rev() {
            if let Some(root) = &staged.updated_root
                && !seen.insert(root.id)
            {
                staged.updated_root = None;
            }
        }
        for staged in out.iter_mut() {
            if let Some(root) = &mut staged.updated_root
                && let Some(latest) = earlier_roots.get(&root.id)
            {
                *root = latest.clone();
            }
        }
        Ok(out)
    }
}

/// The activity imported messages leave, staged as posting stages it
/// ([`crate::threads`]) but read: a top-level message is activity of whom it
/// mentions, a reply of the other members of its thread (its root's author and
/// everyone who replied) and of whom it mentions. Imported history must not flood
/// anyone's unread counts, and read is decided by read markers: the channel's (set to
/// its newest message once the conversation is written) for a top-level message,
/// the thread's for a reply, which each member of a thread gets at its newest reply
/// (in the batch that writes it). A mention in a reply stages no unread thread
/// mention. So the activity feed and the threads list show imported history, read.
#[derive(Default)]
struct ImportedActivity {
    /// Each thread replied in so far: its members and its newest reply's `seq`.
    threads: HashMap<MessageId, (Vec<UserId>, u64)>,
    /// The authors of this conversation's thread roots written so far.
    root_authors: HashMap<MessageId, UserId>,
    /// Threads replied in since their members' read markers were last staged.
    unstaged: HashSet<MessageId>,
}

impl ImportedActivity {
    /// Stages the activity of one message (with its `seq`).
    fn stage(&mut self, app: &App, state: &WorkspaceState, tx: &mut Tx, message: &Message) -> Result<()> {
        let Some(root) = message.thread_root else {
            if message.reply_count > 0 {
                self.root_authors.insert(message.id, message.author);
            }
            App::stage_mention_activity(tx, message, &message.mentions);
            return Ok(());
        };
        let (members, newest) = match self.threads.entry(root) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let mut members = app.store().thread_members(root)?;
                // A root of this run, or of an earlier one.
                let root_author = match self.root_authors.get(&root) {
                    Some(author) => Some(*author),
                    None => app.store().message(root)?.map(|m| m.author),
                };
                if let Some(author) = root_author.filter(|a| !members.contains(a)) {
                    members.push(author);
                }
                e.insert((members, 0))
            }
        };
        let (ws, channel, author) = (message.workspace, message.channel, message.author);
        let mut told = HashSet::new();
        for user in members.iter().filter(|u| **u != author && state.can_read(**u, channel)) {
            let activity = Activity { mention: message.mentions.contains(user), reply: true };
            tx.op(Op::PutActivity { workspace: ws, user: *user, message: message.id, activity });
            told.insert(*user);
        }
        for user in message.mentions.iter().filter(|u| !told.contains(*u)) {
            let activity = Activity { mention: true, reply: false };
            tx.op(Op::PutActivity { workspace: ws, user: *user, message: message.id, activity });
        }
        if !members.contains(&author) {
            members.push(author);
        }
        *newest = message.seq;
        self.unstaged.insert(root);
        Ok(())
    }

    /// Every member of each thread replied in since the last call has read it up to
    /// its newest reply.
    fn stage_threads_read(&mut self, tx: &mut Tx) {
        for root in self.unstaged.drain() {
            let Some((members, newest)) = self.threads.get(&root) else { continue };
            for user in members {
                let (workspace, user, read_seq) = (tx.workspace, *user, *newest);
                tx.op(Op::PutThreadMember { workspace, root, user, read_seq });
            }
        }
    }
}

/// Where one conversation goes.
enum Target {
    Channel { existing: Option<ChannelId>, name: String, kind: ChannelKind, members: Vec<UserId> },
    Dm { existing: Option<ChannelId>, members: Vec<UserId> },
}

/// A message ready to write, and the earlier run's thread root it updates.
struct Staged {
    message: Message,
    updated_root: Option<Message>,
}

fn names_user(users: &HashMap<SlackUserId, (UserId, String)>, id: &SlackUserId) -> Option<UserId> {
    users.get(id).map(|(id, _)| *id)
}

fn remember(ws: WorkspaceId, key: &str, value: &str) -> Op {
    Op::PutBlob {
        workspace: ws,
        namespace: NAMESPACE,
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }
}

fn placeholder_email(slack_id: &str) -> String {
    let local: String =
        slack_id.to_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).take(60).collect();
    format!("{local}@{PLACEHOLDER_DOMAIN}")
}

/// A Confab channel name for a Slack one: `[a-z0-9_-]{1,80}`.
fn channel_name(name: &str, id: &str) -> String {
    let mut out: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' { c } else { '-' })
        .collect();
    if out.trim_matches('-').is_empty() {
        out = id.to_lowercase();
    }
    truncate_to(&out, 80).to_string()
}

fn truncate_to(s: &str, max_bytes: usize) -> &str {
    let mut end = s.len().min(max_bytes);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_fit_confab_rules() {
        assert_eq!(channel_name("general", "C1"), "general");
        assert_eq!(channel_name("Dev Ops!", "C1"), "dev-ops-");
        assert_eq!(channel_name("日本", "C1X"), "c1x");
        let long = channel_name(&"a".repeat(100), "C1");
        assert_eq!(long.len(), 80);
        for name in ["general", "Dev Ops!", "日本"] {
            assert!(validate::channel_name(&channel_name(name, "C1")).is_ok(), "{name}");
        }
    }

    #[test]
    fn placeholder_emails_validate_and_differ() {
        let a = placeholder_email("USLACKBOT");
        assert!(validate::email(&a).is_ok(), "{a}");
        assert_ne!(a, placeholder_email("UBOT"));
    }
}
