//! What a ledger entry records: the [`Action`], the [`LedgerEntry`] that chains it,
//! and the [`KeyOpening`] of a sealed member key.

use confab_core::{Millis, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

use crate::vocab::{Category, MemberMode, Purpose, Scope};

/// `prev_hash` of a workspace's first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a ledger entry records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// An owner allowed `purpose` to read `categories` of the workspace.
    Grant { purpose: Purpose, scope: Scope, categories: Vec<Category>, members: MemberMode },
    /// An owner withdrew the grant for `purpose`.
    Withdraw { purpose: Purpose },
    /// A member set their own key for `purpose`.
    ///
    /// Entries written since keys became private carry only a `commitment`: the
    /// SHA-256 of the member, their choice and a random nonce (the entry's
    /// [`KeyOpening`], which the hash does not cover). Showing the entry without its
    /// opening hides who chose what, yet the chain still verifies, and nobody can
    /// recover the member by trying ids. Older entries name `user` and `included`
    /// directly (the actor is then the member too).
    MemberSet {
        purpose: Purpose,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<UserId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        included: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commitment: Option<String>,
    },
    /// A training run spent `epsilon` of the workspace's privacy budget for `purpose`.
    BudgetSpent { purpose: Purpose, epsilon: f64, run_id: String },
}

impl Action {
    pub fn purpose(&self) -> Purpose {
        match self {
            Action::Grant { purpose, .. }
            | Action::Withdraw { purpose }
            | Action::MemberSet { purpose, .. }
            | Action::BudgetSpent { purpose, .. } => *purpose,
        }
    }
}

/// One link of a workspace's chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// 1-based, gapless per workspace.
    pub seq: u64,
    pub workspace: WorkspaceId,
    pub at: Millis,
    pub actor: UserId,
    pub action: Action,
    /// The current policy of the action's purpose when the entry was appended (for a
    /// grant: the one the owner accepted).
    pub policy_version: u32,
    pub policy_sha256: String,
    pub prev_hash: String,
    /// Hex SHA-256 of the canonical JSON of every other field (but `opening` and
    /// `redacted`).
    pub hash: String,
    /// For a sealed member key: who chose what, committed to by the action's
    /// `commitment`. Only the member themselves (and the operator) are shown it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening: Option<KeyOpening>,
    /// Set on an older (unsealed) member-key entry shown to someone else: its member
    /// and choice are blanked, so its hash can no longer be recomputed; its links are
    /// still checked. Never set on a stored entry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

/// What a sealed member-key entry commits to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyOpening {
    pub user: UserId,
    pub included: bool,
    /// 32 hex digits of OS randomness: makes the commitment impossible to brute-force
    /// from the (public) member ids.
    pub nonce: String,
}

/// The actor recorded on a sealed member-key entry (the nil id, which no account
/// has): the member is only in the opening.
pub fn sealed_actor() -> UserId {
    UserId::from_bytes([0; 16])
}

impl LedgerEntry {
    /// For a member-key entry: whose key and which choice, if known (opened or an
    /// older unsealed entry). `None` for other entries and for redacted ones.
    pub fn member_key(&self) -> Option<(Purpose, UserId, bool)> {
        match &self.action {
            Action::MemberSet { purpose, user: Some(user), included: Some(included), .. } => {
                Some((*purpose, *user, *included))
            }
            Action::MemberSet { purpose, commitment: Some(c), .. } => self
                .opening
                .as_ref()
                .filter(|o| o.commitment(self.workspace, *purpose) == *c)
                .map(|o| (*purpose, o.user, o.included)),
            _ => None,
        }
    }

    /// Whether this is a member-key entry.
    pub fn is_member_key(&self) -> bool {
        matches!(self.action, Action::MemberSet { .. })
    }

    /// The entry as someone other than its member may see it: a sealed key without
    /// its opening (still verifiable), an older one blanked and marked `redacted`.
    pub fn redacted(&self) -> LedgerEntry {
        let mut out = self.clone();
        out.opening = None;
        if let Action::MemberSet { purpose, user: Some(_), .. } = &self.action {
            out.action =
                Action::MemberSet { purpose: *purpose, user: None, included: None, commitment: None };
            out.actor = sealed_actor();
            out.redacted = true;
        }
        out
    }
}
