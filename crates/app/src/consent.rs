//! Consent as use cases: the policies, each workspace's state and history, grants and
//! withdrawals (owners only), each member's own key, and the preview of exactly what
//! a training run would read — served by the consent gate itself.
//!
//! A member's key is theirs: the state shows each member only their own keys (owners
//! and admins also get counts), the history shows other members' key entries sealed
//! (a commitment that still verifies, without who or which way), and the
//! `consent.changed` event of a key change goes only to that member. Every change is
//! followed by retiring the models it lapsed (`models.rs`).
//!
//! The ledger is kept in the store with its workspace ([`StoreLedger`]); the gate
//! reads workspace data through [`StoreSource`]. Every change is also logged as a
//! `consent.changed` event.

use std::sync::Arc;

use confab_consent::{
    ConsentChange, DataSource, FileData, Gate, GrantRequest, LedgerEntry, LedgerExport, LedgerStore,
    MembershipRecord, Policy, Purpose, PurposeState, SearchInteraction, Snapshot, StorageError,
};
use confab_core::{Channel, ChannelId, ChannelKind, Error, ErrorCode, Message, Role, WorkspaceId};
use confab_store::{Batch, BlobStore, Op, Store, StoreError};
use serde::Serialize;

use crate::error::{AppError, Result};
use crate::search::SEARCH_LOG;
use crate::{App, Caller, now_ms};

/// The store namespace of a workspace's ledger entries, keyed by big-endian `seq`.
const LEDGER: &str = "consent_ledger";

/// The consent ledger's storage: entries are blobs of their workspace, flushed before
/// `append` returns. Each append moves the store's consent generation in the same
/// write ([`Op::AppendConsent`]), which is the ledger's generation: on PostgreSQL one
/// row every node of a cluster reads, so a change any node appends reaches what
/// every node serves.
pub struct StoreLedger {
    pub store: Arc<dyn Store>,
}

impl LedgerStore for StoreLedger {
    fn append(&self, entry: &LedgerEntry) -> Result<(), StorageError> {
        let value = serde_json::to_vec(entry).map_err(|e| storage(StoreError::Encode(e)))?;
        let mut batch = Batch::new();
        batch.push(Op::AppendConsent {
            workspace: entry.workspace,
            namespace: LEDGER,
            key: entry.seq.to_be_bytes().to_vec(),
            value,
        });
        self.store.apply(batch).map_err(storage)?;
        self.store.flush().map_err(storage)
    }

    fn entries(&self, ws: WorkspaceId) -> Result<Vec<LedgerEntry>, StorageError> {
        self.store
            .blobs(ws, LEDGER)
            .map_err(storage)?
            .into_iter()
            .map(|(key, v)| serde_json::from_slice(&v).map_err(|e| corrupt(ws, LEDGER, &key, e)))
            .collect()
    }

    fn generation(&self) -> Result<Option<u64>, StorageError> {
        self.store.consent_generation().map(Some).map_err(storage)
    }
}

/// Read access to a workspace's data for the consent gate. It hands over what it is
/// asked for; the gate itself filters by consent, channel kind and member keys.
pub struct StoreSource {
    pub store: Arc<dyn Store>,
    /// Where files' contents are, for the text of text-like files under `files`.
    pub blobs: Arc<dyn BlobStore>,
    /// Told how many messages each page read held (a training run's progress).
    pub on_read: Option<Arc<dyn Fn(u64) + Send + Sync>>,
}

impl StoreSource {
    pub fn new(store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>) -> Self {
        StoreSource { store, blobs, on_read: None }
    }
}

impl DataSource for StoreSource {
    fn public_channels(&self, ws: WorkspaceId) -> Result<Vec<Channel>, StorageError> {
        Ok(self
            .store
            .channels(ws)
            .map_err(storage)?
            .into_iter()
            .filter(|c| c.kind == ChannelKind::Public)
            .collect())
    }

    fn messages(&self, ws: WorkspaceId, channel: ChannelId) -> Result<Vec<Message>, StorageError> {
        // A channel's retention may be shorter than its workspace's: nothing past it.
        let cutoff = crate::lifecycle::retention::channel_cutoff(self.store.as_ref(), ws, channel, now_ms())
            .map_err(storage)?;
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .store
                .messages(channel, confab_store::Direction::Forward { after }, 1000)
                .map_err(storage)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            if let Some(on_read) = &self.on_read {
                on_read(page.len() as u64);
            }
            out.extend(
                page.into_iter().filter(|m| m.workspace == ws && cutoff.is_none_or(|c| m.created_at >= c)),
            );
        }
        Ok(out)
    }

    fn retention_cutoff(&self, ws: WorkspaceId) -> Result<Option<confab_core::Millis>, StorageError> {
        crate::lifecycle::retention::workspace_cutoff(self.store.as_ref(), ws, now_ms()).map_err(storage)
    }

    fn memberships(&self, ws: WorkspaceId) -> Result<Vec<MembershipRecord>, StorageError> {
        let mut out = Vec::new();
        for channel in self.public_channels(ws)? {
            for (user, membership) in self.store.channel_members(channel.id).map_err(storage)? {
                out.push(MembershipRecord { channel: channel.id, user, joined_at: membership.joined_at });
            }
        }
        Ok(out)
    }

    fn search_interactions(&self, ws: WorkspaceId) -> Result<Vec<SearchInteraction>, StorageError> {
        let mut out = Vec::new();
        for (key, value) in self.store.blobs(ws, SEARCH_LOG).map_err(storage)? {
            let log: Vec<SearchInteraction> =
                serde_json::from_slice(&value).map_err(|e| corrupt(ws, SEARCH_LOG, &key, e))?;
            out.extend(log);
        }
        Ok(out)
    }

    fn message_files(&self, message: &Message) -> Result<Vec<FileData>, StorageError> {
        crate::files::training_files(self.store.as_ref(), self.blobs.as_ref(), message).map_err(storage)
    }
}

/// A failure behind the consent crate's storage traits, carried through it as the
/// app's own error: `From<StorageError> for AppError` takes it back out, so it is
/// answered (and logged, once) as it would be anywhere else.
fn storage(e: impl Into<AppError>) -> StorageError {
    StorageError::new(e.into())
}

/// A stored blob of `namespace` that does not parse: a corrupt record on disk.
fn corrupt(ws: WorkspaceId, namespace: &str, key: &[u8], source: serde_json::Error) -> StorageError {
    let key = format!("{namespace}/{ws}/{}", hex_key(key));
    storage(StoreError::Corrupt { key, source })
}

fn hex_key(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// A workspace's consent as one member sees it: every purpose's grant, the caller's
/// own keys, and (owners and admins only) how many members chose what. Nobody is
/// shown another member's key.
#[derive(Clone, Debug, Serialize)]
pub struct ConsentView {
    pub workspace: WorkspaceId,
    /// One per purpose.
    pub purposes: Vec<PurposeState>,
    /// Seq and hash of the ledger's newest entry, if any.
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
    /// The caller's role, so a client can tell whether it may change consent.
    pub role: Role,
    /// The caller's own key per purpose: whether their data would be included.
    pub me: Vec<MemberConsent>,
    /// Owners and admins: per purpose, how many members set their key each way.
    /// Counts only, never who.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_counts: Option<Vec<MemberCounts>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MemberConsent {
    pub purpose: Purpose,
    pub included: bool,
    /// Whether the member has set their key at all (else `included` is the default
    /// of the grant's member mode).
    pub chosen: bool,
}

/// How many members' latest key for a purpose says in, and out.
#[derive(Clone, Debug, Serialize)]
pub struct MemberCounts {
    pub purpose: Purpose,
    pub opted_in: usize,
    pub opted_out: usize,
}

/// `PUT /workspaces/{ws}/consent/{purpose}`: a grant (`granted: true` plus the grant's
/// terms) or a withdrawal (`granted: false`).
pub type ConsentChangeRequest = confab_protocol::http::ConsentChange<
    confab_consent::Scope,
    confab_consent::Category,
    confab_consent::MemberMode,
>;

fn parse_purpose(text: &str) -> Result<Purpose> {
    text.parse::<Purpose>()
        .map_err(|_| Error::new(ErrorCode::NotFound, format!("no consent purpose {text:?}")))
        .map_err(AppError::from)
}

impl App {
    pub fn consent_policies(&self) -> Vec<Policy> {
        confab_consent::policies()
    }

    pub fn consent(&self, caller: Caller, ws: WorkspaceId) -> Result<ConsentView> {
        let role = self.workspace(ws)?.read().require_member(caller.user)?;
        let state = self.inner.ledger.state(ws)?;
        let me = Purpose::ALL
            .iter()
            .map(|p| MemberConsent {
                purpose: *p,
                included: state.member_included(*p, caller.user),
                chosen: state.member_key(*p, caller.user).is_some(),
            })
            .collect();
        let member_counts = role.is_admin().then(|| {
            Purpose::ALL
                .iter()
                .map(|p| {
                    let keys = state.members.iter().filter(|k| k.purpose == *p);
                    let (opted_in, opted_out) =
                        keys.fold((0, 0), |(i, o), k| if k.included { (i + 1, o) } else { (i, o + 1) });
                    MemberCounts { purpose: *p, opted_in, opted_out }
                })
                .collect()
        });
        Ok(ConsentView {
            workspace: state.workspace,
            purposes: state.purposes.into(),
            head_seq: state.head_seq,
            head_hash: state.head_hash,
            role,
            me,
            member_counts,
        })
    }

    /// Grants or withdraws a purpose for the workspace (owners only). Whatever the
    /// change removed (the grant itself, scope, categories, member mode, policy
    /// version), every model that used it is retired before this returns.
    pub async fn change_consent(
        &self,
        caller: Caller,
        ws: WorkspaceId,
        purpose: &str,
        req: ConsentChangeRequest,
    ) -> Result<ConsentView> {
        let purpose = parse_purpose(purpose)?;
        let role = self.workspace(ws)?.read().require_member(caller.user)?;
        let now = now_ms();
        let change = if req.granted {
            let missing = |f: &str| Error::invalid_field(f, "required for a grant");
            let grant = GrantRequest {
                purpose,
                scope: req.scope.ok_or_else(|| missing("scope"))?,
                categories: req.categories.ok_or_else(|| missing("categories"))?,
                members: req.members.ok_or_else(|| missing("members"))?,
                policy_version: req.policy_version.ok_or_else(|| missing("policy_version"))?,
                policy_sha256: req.policy_sha256.ok_or_else(|| missing("policy_sha256"))?,
                accept: req.accept,
            };
            Some(self.inner.ledger.grant(ws, caller.user, role, grant, now)?)
        } else {
            self.inner.ledger.withdraw(ws, caller.user, role, purpose, now)?
        };
        let retired = self.retire_lapsed_models();
        if let Some(change) = change {
            self.announce_consent(ws, &change).await?;
        }
        retired?;
        self.consent(caller, ws)
    }

    /// A member's own key: include or exclude their data for one purpose. An
    /// exclusion retires every model that held their data before this returns
    /// (serving falls back to the defaults); the rebuild is queued and coalesced.
    /// Key changes are rate-limited, but leaving is always accepted.
    pub async fn set_own_consent(
        &self,
        caller: Caller,
        ws: WorkspaceId,
        purpose: &str,
        included: bool,
    ) -> Result<ConsentView> {
        let purpose = parse_purpose(purpose)?;
        self.workspace(ws)?.read().require_member(caller.user)?;
        let leaving = !included && self.inner.ledger.state(ws)?.member_included(purpose, caller.user);
        self.count_key_change(ws, caller.user, leaving)?;
        let change = self.inner.ledger.set_member(ws, caller.user, purpose, included, now_ms())?;
        let retired = self.retire_lapsed_models();
        self.announce_consent(ws, &change).await?;
        retired?;
        self.consent(caller, ws)
    }

    /// The workspace's ledger as the caller may see it: every entry, but other
    /// members' keys without who or which way (their hashes still verify).
    pub fn consent_history(&self, caller: Caller, ws: WorkspaceId) -> Result<LedgerExport> {
        self.workspace(ws)?.read().require_member(caller.user)?;
        Ok(self.inner.ledger.export(ws)?.shown_to(caller.user))
    }

    /// The gate's view of this server's data (see [`StoreSource`]).
    pub(crate) fn data_source(&self) -> StoreSource {
        StoreSource::new(self.store().clone(), self.inner.files.blobs.clone())
    }

    /// Exactly the records a training run for `purpose` would read from this
    /// workspace now: all of them for owners and admins; for any other member, only
    /// their own (what they wrote, their reactions, memberships and searches), so a
    /// member sees what of theirs would be shared and nothing of anyone else's.
    pub fn consent_preview(&self, caller: Caller, ws: WorkspaceId, purpose: &str) -> Result<Snapshot> {
        let purpose = parse_purpose(purpose)?;
        let role = self.workspace(ws)?.read().require_member(caller.user)?;
        let source = self.data_source();
        let preview = Gate::preview(&self.inner.ledger, &source, ws, purpose, now_ms())?;
        Ok(if role.is_admin() { preview } else { preview.only_member(caller.user) })
    }

    /// Logs the change as a `consent.changed` event: to the whole workspace for a
    /// grant or withdrawal, only to the member for their own key.
    async fn announce_consent(&self, ws: WorkspaceId, change: &ConsentChange) -> Result<()> {
        let event = change.to_event();
        let ((), durable) = self.write(ws, |_, tx| {
            tx.emit(event);
            Ok(())
        })?;
        durable.wait().await
    }
}
