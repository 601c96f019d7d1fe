//! The consent gate: the only way a training pipeline gets workspace data.
//!
//! [`Gate::snapshot`] reads the ledger's current state and, through the app's
//! [`DataSource`], copies out exactly what the grants allow: only workspaces whose
//! grant for the purpose is in force under the current policy and whose chain
//! verifies, only the categories the grant names, only public channels (the gate
//! checks each channel's kind itself), only records up to the cut-off, and nothing
//! written or done by a member who is not included. The result is a [`Snapshot`],
//! which code outside this crate cannot construct or deserialise, so holding one
//! proves the data went through the gate. `consent/preview` is the same function
//! restricted to one workspace ([`Gate::preview`]).

use std::collections::{BTreeMap, BTreeSet};

use confab_core::{Channel, ChannelId, ChannelKind, FileId, Message, MessageId, Millis, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

use crate::error::StorageError;
use crate::ledger::{ConsentState, Ledger, LedgerStore, verify_entries};
use crate::policy::current_version_and_hash;
use crate::vocab::{Category, MemberMode, Purpose, Scope};

/// A channel membership, as the data source yields it and the snapshot holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipRecord {
    pub channel: ChannelId,
    pub user: UserId,
    pub joined_at: Millis,
}

/// One search result shown to a searcher, and whether they clicked it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchInteraction {
    /// The searcher.
    pub user: UserId,
    pub at: Millis,
    /// Groups the results of one search. An opaque id: never the query text.
    pub query_id: String,
    /// The result shown, its channel and its author.
    pub message: MessageId,
    pub channel: ChannelId,
    pub author: UserId,
    /// Ranking features of (query, message), by name (e.g. `bm25`, `age_days`).
    pub features: BTreeMap<String, f64>,
    pub clicked: bool,
}

/// A file attached to a message, as the data source yields it for `files`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileData {
    pub id: FileId,
    /// The message it is attached to.
    pub message: MessageId,
    pub name: String,
    /// Sniffed from the content.
    pub content_type: String,
    pub size: u64,
    /// The head of a text-like file's text (at most [`FILE_TEXT_MAX_BYTES`] are
    /// kept); `None` for any other file.
    pub text: Option<String>,
}

/// How much of a text-like file's text a snapshot holds: the policy text promises
/// "the first 16 KiB", and it bounds a run's memory whatever was uploaded.
pub const FILE_TEXT_MAX_BYTES: usize = 16 * 1024;

/// Read access to one workspace's data, implemented by the app over its store. Only
/// the gate calls it. The gate does not trust it to filter: it re-checks channel
/// kinds, workspaces, channels, deletion and authorship itself.
pub trait DataSource {
    /// The workspace's public channels.
    fn public_channels(&self, ws: WorkspaceId) -> Result<Vec<Channel>, StorageError>;
    /// The messages of one channel, in any order.
    fn messages(&self, ws: WorkspaceId, channel: ChannelId) -> Result<Vec<Message>, StorageError>;
    /// The workspace's channel memberships.
    fn memberships(&self, ws: WorkspaceId) -> Result<Vec<MembershipRecord>, StorageError>;
    /// The workspace's logged search impressions and clicks.
    fn search_interactions(&self, ws: WorkspaceId) -> Result<Vec<SearchInteraction>, StorageError>;
    /// The files attached to one message (the gate asks only for messages it has
    /// already admitted, and only when `files` is granted).
    fn message_files(&self, message: &Message) -> Result<Vec<FileData>, StorageError>;
    /// The moment before which the workspace's messages have expired under its
    /// retention policy, or `None` if it keeps them for ever: the gate reads nothing
    /// older, even before it is deleted.
    fn retention_cutoff(&self, _ws: WorkspaceId) -> Result<Option<Millis>, StorageError> {
        Ok(None)
    }
}

/// A message of a public channel, as a pipeline sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MessageRow {
    pub channel: ChannelId,
    pub seq: u64,
    pub id: MessageId,
    pub author: UserId,
    pub text: String,
    pub created_at: Millis,
    pub thread_root: Option<MessageId>,
}

/// The included members who reacted to a message with one emoji.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReactionRow {
    pub channel: ChannelId,
    /// The message's seq in its channel.
    pub seq: u64,
    pub message: MessageId,
    pub emoji: String,
    /// Sorted, never empty.
    pub users: Vec<UserId>,
}

/// A file attached to an admitted message of a public channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileRow {
    pub channel: ChannelId,
    /// The message's seq in its channel.
    pub seq: u64,
    pub message: MessageId,
    /// The message's author (who attached it).
    pub author: UserId,
    pub id: FileId,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// The head of a text-like file's text, at most [`FILE_TEXT_MAX_BYTES`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The grant that let a workspace into a snapshot: what a model manifest records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GrantRef {
    pub entry_seq: u64,
    pub entry_hash: String,
    pub scope: Scope,
    pub categories: Vec<Category>,
    pub members: MemberMode,
    pub policy_version: u32,
    /// The ledger's head when the snapshot was taken: every entry after it is a
    /// change the data did not see ([`crate::coverage`] checks them).
    pub head_seq: u64,
}

/// Why a workspace asked for is not in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ExclusionReason {
    /// No grant for the purpose was ever given.
    NotGranted,
    /// The grant was withdrawn by this entry.
    Withdrawn { entry_seq: u64, entry_hash: String },
    /// The grant accepted a policy text that has since changed: an owner must accept
    /// the current one.
    PolicyOutdated { granted_version: u32, current_version: u32 },
    /// The workspace's ledger does not verify, so its consent cannot be trusted.
    LedgerInvalid { seq: u64, detail: String },
    /// The grant's scope is `workspace`, and this is the shared (instance-wide) view.
    WorkspaceScopeOnly,
}

/// A workspace left out of a snapshot, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExcludedWorkspace {
    pub workspace: WorkspaceId,
    #[serde(flatten)]
    pub reason: ExclusionReason,
}

/// The consented data of one workspace. Records are sorted: messages, reactions and
/// files by (channel, seq), memberships by (channel, user), search interactions by
/// (time, user, query, message).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkspaceSnapshot {
    workspace: WorkspaceId,
    allowed_by: GrantRef,
    messages: Vec<MessageRow>,
    reactions: Vec<ReactionRow>,
    memberships: Vec<MembershipRecord>,
    search_interactions: Vec<SearchInteraction>,
    files: Vec<FileRow>,
    retention_cutoff: Option<Millis>,
}

impl WorkspaceSnapshot {
    pub fn workspace(&self) -> WorkspaceId {
        self.workspace
    }
    /// The ledger entry (and its terms) that allowed this workspace in.
    pub fn allowed_by(&self) -> &GrantRef {
        &self.allowed_by
    }
    pub fn scope(&self) -> Scope {
        self.allowed_by.scope
    }
    pub fn messages(&self) -> &[MessageRow] {
        &self.messages
    }
    pub fn reactions(&self) -> &[ReactionRow] {
        &self.reactions
    }
    pub fn memberships(&self) -> &[MembershipRecord] {
        &self.memberships
    }
    pub fn search_interactions(&self) -> &[SearchInteraction] {
        &self.search_interactions
    }
    pub fn files(&self) -> &[FileRow] {
        &self.files
    }
    /// The workspace's retention cut-off when the snapshot was taken: no message
    /// older than it was read (`None`: it keeps messages for ever).
    pub fn retention_cutoff(&self) -> Option<Millis> {
        self.retention_cutoff
    }
    /// How many records of all categories it holds.
    pub fn record_count(&self) -> usize {
        self.messages.len()
            + self.reactions.len()
            + self.memberships.len()
            + self.search_interactions.len()
            + self.files.len()
    }
}

/// Everything a training run may read for one purpose, taken at one instant.
///
/// Only [`Gate`] builds one; it is `Serialize` (for preview and dry runs) but
/// deliberately not `Deserialize`, so it cannot be forged from JSON either:
///
/// ```compile_fail
/// let forged: confab_consent::Snapshot = serde_json::from_str("{}").unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Snapshot {
    purpose: Purpose,
    /// The data cut-off: no record later than this is included.
    taken_at: Millis,
    /// Sorted by workspace id.
    workspaces: Vec<WorkspaceSnapshot>,
    /// Sorted by workspace id.
    excluded: Vec<ExcludedWorkspace>,
}

impl Snapshot {
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }
    pub fn taken_at(&self) -> Millis {
        self.taken_at
    }
    /// The included workspaces, sorted by id.
    pub fn workspaces(&self) -> &[WorkspaceSnapshot] {
        &self.workspaces
    }
    /// The workspaces asked for but left out, with the reason.
    pub fn excluded(&self) -> &[ExcludedWorkspace] {
        &self.excluded
    }
    pub fn for_workspace(&self, ws: WorkspaceId) -> Option<&WorkspaceSnapshot> {
        self.workspaces.iter().find(|w| w.workspace == ws)
    }
    /// The part an instance-wide model may learn from: only workspaces granted with
    /// scope `shared`; the others move to `excluded`.
    pub fn shared_view(&self) -> Snapshot {
        let (shared, local): (Vec<_>, Vec<_>) =
            self.workspaces.iter().cloned().partition(|w| w.scope() == Scope::Shared);
        let mut excluded = self.excluded.clone();
        excluded.extend(local.into_iter().map(|w| ExcludedWorkspace {
            workspace: w.workspace,
            reason: ExclusionReason::WorkspaceScopeOnly,
        }));
        excluded.sort_by_key(|e| e.workspace);
        Snapshot { purpose: self.purpose, taken_at: self.taken_at, workspaces: shared, excluded }
    }
    pub fn record_count(&self) -> usize {
        self.workspaces.iter().map(WorkspaceSnapshot::record_count).sum()
    }

    /// Only `user`'s own records: the messages they wrote, their reactions (each row
    /// naming them alone), their channel memberships and their own searches. What a
    /// member who is not an owner or admin is shown of a preview: exactly what of
    /// theirs a run would read, and nothing of anyone else's.
    pub fn only_member(&self, user: UserId) -> Snapshot {
        let workspaces = self
            .workspaces
            .iter()
            .map(|w| WorkspaceSnapshot {
                messages: w.messages.iter().filter(|m| m.author == user).cloned().collect(),
                reactions: w
                    .reactions
                    .iter()
                    .filter(|r| r.users.contains(&user))
                    .map(|r| ReactionRow { users: vec![user], ..r.clone() })
                    .collect(),
                memberships: w.memberships.iter().filter(|m| m.user == user).cloned().collect(),
                search_interactions: w
                    .search_interactions
                    .iter()
                    .filter(|s| s.user == user)
                    .cloned()
                    .collect(),
                files: w.files.iter().filter(|f| f.author == user).cloned().collect(),
                ..w.clone()
            })
            .collect();
        Snapshot {
            purpose: self.purpose,
            taken_at: self.taken_at,
            workspaces,
            excluded: self.excluded.clone(),
        }
    }
}

/// Builds snapshots. Stateless: the ledger and the data source are passed in.
pub struct Gate;

impl Gate {
    /// Takes a snapshot for `purpose` of the given workspaces (duplicates ignored)
    /// with cut-off `now`. Consent is always the ledger's current state, never its
    /// state as of `now`, so a withdrawal is respected however old the cut-off.
    pub fn snapshot<S: LedgerStore>(
        ledger: &Ledger<S>,
        source: &dyn DataSource,
        purpose: Purpose,
        workspaces: &[WorkspaceId],
        now: Millis,
    ) -> Result<Snapshot, StorageError> {
        let wanted: BTreeSet<WorkspaceId> = workspaces.iter().copied().collect();
        let mut included = Vec::new();
        let mut excluded = Vec::new();
        for ws in wanted {
            match admit(ledger, ws, purpose)? {
                Err(reason) => excluded.push(ExcludedWorkspace { workspace: ws, reason }),
                Ok((state, grant)) => {
                    included.push(collect(source, &state, purpose, ws, grant, now)?);
                }
            }
        }
        Ok(Snapshot { purpose, taken_at: now, workspaces: included, excluded })
    }

    /// Exactly the records a run for `purpose` would read from `ws` now: the same
    /// code as [`Gate::snapshot`], restricted to that workspace.
    pub fn preview<S: LedgerStore>(
        ledger: &Ledger<S>,
        source: &dyn DataSource,
        ws: WorkspaceId,
        purpose: Purpose,
        now: Millis,
    ) -> Result<Snapshot, StorageError> {
        Gate::snapshot(ledger, source, purpose, &[ws], now)
    }
}

/// Decides from the ledger alone whether `ws` may be read for `purpose`.
fn admit<S: LedgerStore>(
    ledger: &Ledger<S>,
    ws: WorkspaceId,
    purpose: Purpose,
) -> Result<Result<(ConsentState, GrantRef), ExclusionReason>, StorageError> {
    let entries = ledger.store().entries(ws)?;
    let report = verify_entries(ws, &entries);
    if let Some((seq, detail)) = report.first_bad {
        return Ok(Err(ExclusionReason::LedgerInvalid { seq, detail }));
    }
    let state = crate::ledger::fold(ws, &entries);
    let p = state.purpose(purpose);
    let (Some(entry_seq), Some(entry_hash)) = (p.entry_seq, p.entry_hash.clone()) else {
        return Ok(Err(ExclusionReason::NotGranted));
    };
    let (Some(scope), Some(members), Some(version), Some(sha), true) =
        (p.scope, p.members, p.policy_version, p.policy_sha256.as_deref(), p.granted)
    else {
        return Ok(Err(ExclusionReason::Withdrawn { entry_seq, entry_hash }));
    };
    let (current_version, current_sha) = current_version_and_hash(purpose);
    if version != current_version || sha != current_sha {
        return Ok(Err(ExclusionReason::PolicyOutdated { granted_version: version, current_version }));
    }
    // The ledger refuses such grants; re-filter so a hand-made entry cannot widen them.
    let categories: Vec<Category> = p.categories.iter().copied().filter(|c| purpose.may_read(*c)).collect();
    let head_seq = entries.last().map_or(0, |e| e.seq);
    let grant =
        GrantRef { entry_seq, entry_hash, scope, categories, members, policy_version: version, head_seq };
    Ok(Ok((state, grant)))
}

/// Copies out one admitted workspace's records, filtered and sorted.
fn collect(
    source: &dyn DataSource,
    state: &ConsentState,
    purpose: Purpose,
    ws: WorkspaceId,
    grant: GrantRef,
    now: Millis,
) -> Result<WorkspaceSnapshot, StorageError> {
    let wants = |c: Category| grant.categories.contains(&c);
    let included = |user: UserId| state.member_included(purpose, user);

    // Public channels only, checked here: the source's word is not enough.
    let public: BTreeSet<ChannelId> = if grant.categories.is_empty() {
        BTreeSet::new()
    } else {
        source
            .public_channels(ws)?
            .into_iter()
            .filter(|c| c.workspace == ws && c.kind == ChannelKind::Public && c.created_at <= now)
            .map(|c| c.id)
            .collect()
    };

    let retention_cutoff = source.retention_cutoff(ws)?;
    let mut messages = Vec::new();
    let mut reactions = Vec::new();
    let mut files = Vec::new();
    if wants(Category::Messages) || wants(Category::Reactions) || wants(Category::Files) {
        for &channel in &public {
            for m in source.messages(ws, channel)? {
                let readable = m.workspace == ws
                    && m.channel == channel
                    && !m.deleted
                    && m.created_at <= now
                    && retention_cutoff.is_none_or(|cutoff| m.created_at >= cutoff)
                    && included(m.author);
                if !readable {
                    continue;
                }
                if wants(Category::Reactions) {
                    for r in &m.reactions {
                        let users: BTreeSet<UserId> =
                            r.users.iter().copied().filter(|u| included(*u)).collect();
                        if !users.is_empty() {
                            reactions.push(ReactionRow {
                                channel,
                                seq: m.seq,
                                message: m.id,
                                emoji: r.emoji.clone(),
                                users: users.into_iter().collect(),
                            });
                        }
                    }
                }
                if wants(Category::Files) && !m.files.is_empty() {
                    files.extend(file_rows(source, &m)?);
                }
                if wants(Category::Messages) {
                    messages.push(MessageRow {
                        channel,
                        seq: m.seq,
                        id: m.id,
                        author: m.author,
                        text: m.text,
                        created_at: m.created_at,
                        thread_root: m.thread_root,
                    });
                }
            }
        }
    }
    messages.sort_by_key(|a| (a.channel, a.seq, a.id));
    // A source that yields a record twice must not double it.
    messages.dedup();
    reactions.sort_by(|a, b| {
        (a.channel, a.seq, a.message, &a.emoji).cmp(&(b.channel, b.seq, b.message, &b.emoji))
    });
    reactions.dedup();
    files.sort_by_key(|f| (f.channel, f.seq, f.id));
    files.dedup();

    let mut memberships = Vec::new();
    if wants(Category::Memberships) {
        memberships = source
            .memberships(ws)?
            .into_iter()
            .filter(|m| public.contains(&m.channel) && m.joined_at <= now && included(m.user))
            .collect();
        memberships.sort_by_key(|m| (m.channel, m.user, m.joined_at));
        memberships.dedup();
    }

    let mut search_interactions = Vec::new();
    if wants(Category::SearchInteractions) {
        search_interactions = source
            .search_interactions(ws)?
            .into_iter()
            .filter(|s| public.contains(&s.channel) && s.at <= now && included(s.user) && included(s.author))
            .collect();
        search_interactions.sort_by(|a, b| {
            (a.at, a.user, &a.query_id, a.message, a.clicked).cmp(&(
                b.at,
                b.user,
                &b.query_id,
                b.message,
                b.clicked,
            ))
        });
    }

    Ok(WorkspaceSnapshot {
        workspace: ws,
        allowed_by: grant,
        messages,
        reactions,
        memberships,
        search_interactions,
        files,
        retention_cutoff,
    })
}

/// The files of an admitted message. The source's word is checked: only files the
/// message itself names, and no more text than the policy promises.
fn file_rows(source: &dyn DataSource, m: &Message) -> Result<Vec<FileRow>, StorageError> {
    let rows = source
        .message_files(m)?
        .into_iter()
        .filter(|f| f.message == m.id && m.files.contains(&f.id))
        .map(|f| FileRow {
            channel: m.channel,
            seq: m.seq,
            message: m.id,
            author: m.author,
            id: f.id,
            name: f.name,
            content_type: f.content_type,
            size: f.size,
            text: f.text.map(|t| head(t, FILE_TEXT_MAX_BYTES)),
        })
        .collect();
    Ok(rows)
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn head(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
