//! Current consent, folded from a workspace's entries: it is never stored.

use std::collections::BTreeMap;

use confab_core::{Millis, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

use super::entry::{Action, LedgerEntry};
use crate::vocab::{Category, MemberMode, Purpose, Scope};

/// One purpose's current consent in a workspace. The `Option`s are `None` when the
/// purpose is not granted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurposeState {
    pub purpose: Purpose,
    pub granted: bool,
    pub scope: Option<Scope>,
    /// Sorted, without duplicates; empty when not granted.
    pub categories: Vec<Category>,
    pub members: Option<MemberMode>,
    pub policy_version: Option<u32>,
    pub policy_sha256: Option<String>,
    pub granted_by: Option<UserId>,
    pub granted_at: Option<Millis>,
    /// The entry that set the current state: the grant while granted, the withdrawal
    /// after one, `None` if the purpose was never granted.
    pub entry_seq: Option<u64>,
    pub entry_hash: Option<String>,
}

/// A member's own key for one purpose: their latest choice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberKey {
    pub purpose: Purpose,
    pub user: UserId,
    pub included: bool,
    pub at: Millis,
    pub entry_seq: u64,
}

/// A workspace's consent, derived from its ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentState {
    pub workspace: WorkspaceId,
    /// One per purpose, in [`Purpose::ALL`] order (so none can be missing).
    pub purposes: [PurposeState; Purpose::COUNT],
    /// Every member's latest key per purpose, sorted by (purpose, user). Only show a
    /// member their own: who excluded themselves is their business.
    pub members: Vec<MemberKey>,
    /// Seq and hash of the newest entry, if any.
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
}

impl ConsentState {
    /// The state of `purpose` (always present).
    pub fn purpose(&self, purpose: Purpose) -> &PurposeState {
        &self.purposes[purpose.index()]
    }

    pub fn member_key(&self, purpose: Purpose, user: UserId) -> Option<&MemberKey> {
        self.members.iter().find(|k| k.purpose == purpose && k.user == user)
    }

    /// One member's keys, for `GET /workspaces/{ws}/consent`.
    pub fn keys_of(&self, user: UserId) -> Vec<&MemberKey> {
        self.members.iter().filter(|k| k.user == user).collect()
    }

    /// Whether `user`'s data may be read for `purpose` now.
    ///
    /// False unless the purpose is granted. A member's latest `included: false`
    /// always excludes them. Under `opt_out` everyone else is in. Under `opt_in` a
    /// member is in only with an `included: true` given after the current grant: an
    /// opt-in answers the grant in force, so a re-grant (new scope or categories)
    /// asks again.
    pub fn member_included(&self, purpose: Purpose, user: UserId) -> bool {
        let grant = self.purpose(purpose);
        if !grant.granted {
            return false;
        }
        let key = self.member_key(purpose, user);
        match (grant.members, key) {
            (_, Some(k)) if !k.included => false,
            (Some(MemberMode::OptOut), _) => true,
            (Some(MemberMode::OptIn), Some(k)) => grant.entry_seq.is_some_and(|g| k.entry_seq > g),
            _ => false,
        }
    }
}

impl PurposeState {
    const fn never_granted(purpose: Purpose) -> Self {
        PurposeState {
            purpose,
            granted: false,
            scope: None,
            categories: Vec::new(),
            members: None,
            policy_version: None,
            policy_sha256: None,
            granted_by: None,
            granted_at: None,
            entry_seq: None,
            entry_hash: None,
        }
    }
}

/// Free-function form of [`ConsentState::member_included`].
pub fn member_included(state: &ConsentState, purpose: Purpose, user: UserId) -> bool {
    state.member_included(purpose, user)
}

/// Folds a workspace's entries into its current consent. Does not verify the chain.
pub fn fold(ws: WorkspaceId, entries: &[LedgerEntry]) -> ConsentState {
    // One slot per purpose, found by the purpose itself: every purpose has one.
    let mut purposes: [PurposeState; Purpose::COUNT] = Purpose::ALL.map(PurposeState::never_granted);
    let mut members: BTreeMap<(Purpose, UserId), MemberKey> = BTreeMap::new();
    for e in entries {
        let slot = &mut purposes[e.action.purpose().index()];
        match &e.action {
            Action::Grant { purpose, scope, categories, members: mode } => {
                *slot = PurposeState {
                    purpose: *purpose,
                    granted: true,
                    scope: Some(*scope),
                    categories: normalise(categories),
                    members: Some(*mode),
                    policy_version: Some(e.policy_version),
                    policy_sha256: Some(e.policy_sha256.clone()),
                    granted_by: Some(e.actor),
                    granted_at: Some(e.at),
                    entry_seq: Some(e.seq),
                    entry_hash: Some(e.hash.clone()),
                };
            }
            Action::Withdraw { purpose } => {
                *slot = PurposeState {
                    entry_seq: Some(e.seq),
                    entry_hash: Some(e.hash.clone()),
                    ..PurposeState::never_granted(*purpose)
                };
            }
            Action::MemberSet { .. } => {
                // A key whose opening is missing or does not match its commitment
                // counts for nobody; verification reports it.
                if let Some((purpose, user, included)) = e.member_key() {
                    members.insert(
                        (purpose, user),
                        MemberKey { purpose, user, included, at: e.at, entry_seq: e.seq },
                    );
                }
            }
            Action::BudgetSpent { .. } => {}
        }
    }
    let head = entries.last();
    ConsentState {
        workspace: ws,
        purposes,
        members: members.into_values().collect(),
        head_seq: head.map(|e| e.seq),
        head_hash: head.map(|e| e.hash.clone()),
    }
}

pub(super) fn normalise(categories: &[Category]) -> Vec<Category> {
    let mut out = categories.to_vec();
    out.sort();
    out.dedup();
    out
}
