//! Consent as use cases: the policies, each workspace's state and history, grants and
//! withdrawals (owners only), each member's own key, and the preview of exactly what
//! a training run would read — served by the consent gate itself.
//!
//! The ledger is kept in the store with its workspace ([`StoreLedger`]); the gate
//! reads workspace data through [`StoreSource`]. Every change is also logged as a
//! `consent.changed` event.

use std::sync::Arc;

use confab_consent::{
    ConsentChange, ConsentState, DataSource, Gate, GrantRequest, LedgerEntry, LedgerExport, LedgerStore,
    MembershipRecord, Policy, Purpose, SearchInteraction, Snapshot,
};
use confab_core::{Channel, ChannelId, ChannelKind, Error, ErrorCode, Message, Role, WorkspaceId};
use confab_store::{Batch, Op, Store};
use serde::{Deserialize, Serialize};

use crate::search::SEARCH_LOG;
use crate::{App, Caller, internal, now_ms};

/// The store namespace of a workspace's ledger entries, keyed by big-endian `seq`.
const LEDGER: &str = "consent_ledger";

/// The consent ledger's storage: entries are blobs of their workspace, flushed before
/// `append` returns.
pub struct StoreLedger {
    pub store: Arc<dyn Store>,
}

impl LedgerStore for StoreLedger {
    fn append(&self, entry: &LedgerEntry) -> Result<(), Error> {
        let value = serde_json::to_vec(entry).map_err(internal)?;
        let mut batch = Batch::new();
        batch.push(Op::PutBlob {
            workspace: entry.workspace,
            namespace: LEDGER,
            key: entry.seq.to_be_bytes().to_vec(),
            value,
        });
        self.store.apply(batch).map_err(internal)?;
        self.store.flush().map_err(internal)
    }

    fn entries(&self, ws: WorkspaceId) -> Result<Vec<LedgerEntry>, Error> {
        self.store
            .blobs(ws, LEDGER)
            .map_err(internal)?
            .into_iter()
            .map(|(_, v)| serde_json::from_slice(&v).map_err(internal))
            .collect()
    }
}

/// Read access to a workspace's data for the consent gate. It hands over what it is
/// asked for; the gate itself filters by consent, channel kind and member keys.
pub struct StoreSource {
    pub store: Arc<dyn Store>,
}

impl DataSource for StoreSource {
    fn public_channels(&self, ws: WorkspaceId) -> Result<Vec<Channel>, Error> {
        Ok(self
            .store
            .channels(ws)
            .map_err(internal)?
            .into_iter()
            .filter(|c| c.kind == ChannelKind::Public)
            .collect())
    }

    fn messages(&self, ws: WorkspaceId, channel: ChannelId) -> Result<Vec<Message>, Error> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .store
                .messages(channel, confab_store::Direction::Forward { after }, 1000)
                .map_err(internal)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            out.extend(page.into_iter().filter(|m| m.workspace == ws));
        }
        Ok(out)
    }

    fn memberships(&self, ws: WorkspaceId) -> Result<Vec<MembershipRecord>, Error> {
        let mut out = Vec::new();
        for channel in self.public_channels(ws)? {
            for (user, membership) in self.store.channel_members(channel.id).map_err(internal)? {
                out.push(MembershipRecord { channel: channel.id, user, joined_at: membership.joined_at });
            }
        }
        Ok(out)
    }

    fn search_interactions(&self, ws: WorkspaceId) -> Result<Vec<SearchInteraction>, Error> {
        let mut out = Vec::new();
        for (_, value) in self.store.blobs(ws, SEARCH_LOG).map_err(internal)? {
            let log: Vec<SearchInteraction> = serde_json::from_slice(&value).map_err(internal)?;
            out.extend(log);
        }
        Ok(out)
    }
}

/// A workspace's consent as its members see it.
#[derive(Clone, Debug, Serialize)]
pub struct ConsentView {
    #[serde(flatten)]
    pub state: ConsentState,
    /// The caller's role, so a client can tell whether it may change consent.
    pub role: Role,
    /// The caller's own key per purpose: whether their data would be included.
    pub me: Vec<MemberConsent>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MemberConsent {
    pub purpose: Purpose,
    pub included: bool,
    /// Whether the member has set their key at all (else `included` is the default
    /// of the grant's member mode).
    pub chosen: bool,
}

/// `PUT /workspaces/{ws}/consent/{purpose}`: a grant (`granted: true` plus the grant's
/// terms) or a withdrawal (`granted: false`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentChangeRequest {
    pub granted: bool,
    #[serde(default)]
    pub scope: Option<confab_consent::Scope>,
    #[serde(default)]
    pub categories: Option<Vec<confab_consent::Category>>,
    #[serde(default)]
    pub members: Option<confab_consent::MemberMode>,
    #[serde(default)]
    pub policy_version: Option<u32>,
    #[serde(default)]
    pub policy_sha256: Option<String>,
    #[serde(default)]
    pub accept: Option<bool>,
}

fn parse_purpose(text: &str) -> Result<Purpose, Error> {
    text.parse::<Purpose>()
        .map_err(|_| Error::new(ErrorCode::NotFound, format!("no consent purpose {text:?}")))
}

impl App {
    pub fn consent_policies(&self) -> Vec<Policy> {
        confab_consent::policies()
    }

    pub fn consent(&self, caller: Caller, ws: WorkspaceId) -> Result<ConsentView, Error> {
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
        Ok(ConsentView { state, role, me })
    }

    /// Grants or withdraws a purpose for the workspace (owners only).
    pub async fn change_consent(
        &self,
        caller: Caller,
        ws: WorkspaceId,
        purpose: &str,
        req: ConsentChangeRequest,
    ) -> Result<ConsentView, Error> {
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
            let change = self.inner.ledger.withdraw(ws, caller.user, role, purpose, now)?;
            if change.is_some() {
                self.on_consent_narrowed(ws, purpose, false);
            }
            change
        };
        if let Some(change) = change {
            self.announce_consent(ws, &change).await?;
        }
        self.consent(caller, ws)
    }

    /// A member's own key: include or exclude their data for one purpose.
    pub async fn set_own_consent(
        &self,
        caller: Caller,
        ws: WorkspaceId,
        purpose: &str,
        included: bool,
    ) -> Result<ConsentView, Error> {
        let purpose = parse_purpose(purpose)?;
        self.workspace(ws)?.read().require_member(caller.user)?;
        let change = self.inner.ledger.set_member(ws, caller.user, purpose, included, now_ms())?;
        if !included {
            self.on_consent_narrowed(ws, purpose, true);
        }
        self.announce_consent(ws, &change).await?;
        self.consent(caller, ws)
    }

    pub fn consent_history(&self, caller: Caller, ws: WorkspaceId) -> Result<LedgerExport, Error> {
        self.workspace(ws)?.read().require_member(caller.user)?;
        self.inner.ledger.export(ws)
    }

    /// Exactly the records a training run for `purpose` would read from this
    /// workspace now (owners and admins).
    pub fn consent_preview(&self, caller: Caller, ws: WorkspaceId, purpose: &str) -> Result<Snapshot, Error> {
        let purpose = parse_purpose(purpose)?;
        let role = self.workspace(ws)?.read().require_member(caller.user)?;
        if !role.is_admin() {
            return Err(Error::forbidden("owners and admins preview what training would read"));
        }
        let source = StoreSource { store: self.store().clone() };
        Gate::preview(&self.inner.ledger, &source, ws, purpose, now_ms())
    }

    async fn announce_consent(&self, ws: WorkspaceId, change: &ConsentChange) -> Result<(), Error> {
        let event = change.to_event();
        let ((), durable) = self.write(ws, |_, tx| {
            tx.emit(event);
            Ok(())
        })?;
        durable.wait().await
    }
}
