//! The [`Ledger`]: who may append what, and appends one at a time so two changes
//! never chain off the same entry.

use std::sync::atomic::{AtomicU64, Ordering};

use confab_core::{Event, Millis, Role, UserId, WorkspaceId};
use parking_lot::{Mutex, MutexGuard};
use serde::{Deserialize, Serialize};

use super::LedgerStore;
use super::entry::{Action, GENESIS_HASH, KeyOpening, LedgerEntry, sealed_actor};
use super::fold::{ConsentState, fold, normalise};
use super::verify::{LedgerExport, VerifyReport, verify_entries};
use crate::error::{ConsentError, StorageError};
use crate::policy::current_version_and_hash;
use crate::vocab::{Category, MemberMode, Purpose, Scope};

/// An owner's request to grant a purpose, as sent by `PUT /workspaces/{ws}/consent/{purpose}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRequest {
    pub purpose: Purpose,
    pub scope: Scope,
    pub categories: Vec<Category>,
    pub members: MemberMode,
    /// The policy version and hash of the text the owner was shown.
    pub policy_version: u32,
    pub policy_sha256: String,
    /// Must be `Some(true)`: consent is never implied.
    #[serde(default)]
    pub accept: Option<bool>,
}

/// A change the app announces as a `consent.changed` event.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsentChange {
    /// The appended entry.
    pub entry: LedgerEntry,
    pub purpose: Purpose,
    /// Whether `purpose` is granted for the workspace after the change (a member's
    /// key change leaves it as it was).
    pub granted: bool,
    pub actor: UserId,
    /// A member's own key: announced only to that member.
    pub personal: bool,
}

impl ConsentChange {
    pub fn entry_hash(&self) -> &str {
        &self.entry.hash
    }

    /// The `consent.changed` event payload.
    pub fn to_event(&self) -> Event {
        Event::ConsentChanged {
            purpose: self.purpose.as_str().to_owned(),
            granted: self.granted,
            by: self.actor,
            entry_hash: self.entry.hash.clone(),
            personal: self.personal,
        }
    }
}

/// The consent ledger over an app-provided store.
///
/// Appends are serialised by one mutex, so use one `Ledger` per store in a process.
/// Consent changes are rare; one lock for all workspaces costs nothing.
pub struct Ledger<S> {
    store: S,
    append_lock: Mutex<()>,
    /// Bumped after every append this `Ledger` makes: its [`Ledger::generation`]
    /// over a store that keeps none (one process).
    generation: AtomicU64,
}

/// A workspace's entries as read under the append lock, which it holds: the only way
/// to append ([`Ledger::append_after`] takes it), so every append chains off the
/// current last entry.
struct Tail<'a> {
    _lock: MutexGuard<'a, ()>,
    ws: WorkspaceId,
    entries: Vec<LedgerEntry>,
}

impl<S: LedgerStore> Ledger<S> {
    pub fn new(store: S) -> Self {
        Ledger { store, append_lock: Mutex::new(()), generation: AtomicU64::new(0) }
    }

    /// A number that moves with every consent change: a cache of anything derived
    /// from consent (which model serves a workspace) is valid only while this has not
    /// moved. The store's own ([`LedgerStore::generation`]) where it keeps one, which
    /// counts every writer's appends (every node of a cluster); else how many entries
    /// this `Ledger` has appended since it was opened. A change whose append returned
    /// before this is called has moved it, wherever it was appended.
    pub fn generation(&self) -> Result<u64, StorageError> {
        match self.store.generation()? {
            Some(generation) => Ok(generation),
            None => Ok(self.generation.load(Ordering::SeqCst)),
        }
    }

    /// Runs `f` holding the append lock: no consent change can be appended until it
    /// returns, so what `f` reads of the ledger (through [`Ledger::store`],
    /// [`Ledger::state`] or [`Ledger::coverage`], which do not take the lock) stays
    /// current while it acts on it. A training run saves its models this way. `f`
    /// must not append.
    pub fn while_unchanged<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.append_lock.lock();
        f()
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Grants `req.purpose`. Only an owner may; the request must say `accept: true`
    /// and name the current policy's version and hash; every category must be one the
    /// purpose may read.
    pub fn grant(
        &self,
        ws: WorkspaceId,
        actor: UserId,
        actor_role: Role,
        req: GrantRequest,
        now: Millis,
    ) -> Result<ConsentChange, ConsentError> {
        require_owner(actor_role, "grant")?;
        if req.accept != Some(true) {
            return Err(ConsentError::NotExplicit);
        }
        let (version, sha) = current_version_and_hash(req.purpose);
        if req.policy_version != version || req.policy_sha256 != sha {
            return Err(ConsentError::PolicyMismatch {
                purpose: req.purpose,
                accepted_version: req.policy_version,
                accepted_sha256: req.policy_sha256,
                current_version: version,
                current_sha256: sha,
            });
        }
        if req.categories.is_empty() {
            return Err(ConsentError::NoCategories);
        }
        if let Some(&category) = req.categories.iter().find(|c| !req.purpose.may_read(**c)) {
            return Err(ConsentError::CategoryNotAllowed { purpose: req.purpose, category });
        }
        let action = Action::Grant {
            purpose: req.purpose,
            scope: req.scope,
            categories: normalise(&req.categories),
            members: req.members,
        };
        let entry = self.append_after(self.tail(ws)?, actor, action, now, None)?;
        Ok(ConsentChange { entry, purpose: req.purpose, granted: true, actor, personal: false })
    }

    /// Withdraws `purpose`, owner only. Withdrawing a purpose that is not granted is
    /// a successful no-op: it returns `Ok(None)` and appends nothing (there is no
    /// change to announce). A `Some` change always carries a new entry.
    pub fn withdraw(
        &self,
        ws: WorkspaceId,
        actor: UserId,
        actor_role: Role,
        purpose: Purpose,
        now: Millis,
    ) -> Result<Option<ConsentChange>, ConsentError> {
        require_owner(actor_role, "withdraw")?;
        let tail = self.tail(ws)?;
        if !fold(ws, &tail.entries).purpose(purpose).granted {
            return Ok(None);
        }
        let entry = self.append_after(tail, actor, Action::Withdraw { purpose }, now, None)?;
        Ok(Some(ConsentChange { entry, purpose, granted: false, actor, personal: false }))
    }

    /// Sets `user`'s own key for `purpose`. The app checks that `user` is a member of
    /// `ws` and is the caller: nobody sets another member's key.
    pub fn set_member(
        &self,
        ws: WorkspaceId,
        user: UserId,
        purpose: Purpose,
        included: bool,
        now: Millis,
    ) -> Result<ConsentChange, ConsentError> {
        let opening = KeyOpening { user, included, nonce: hex::encode(rand::random::<[u8; 16]>()) };
        let commitment = opening.commitment(ws, purpose);
        let action = Action::MemberSet { purpose, user: None, included: None, commitment: Some(commitment) };
        let tail = self.tail(ws)?;
        let granted = fold(ws, &tail.entries).purpose(purpose).granted;
        let entry = self.append_after(tail, sealed_actor(), action, now, Some(opening))?;
        Ok(ConsentChange { entry, purpose, granted, actor: user, personal: true })
    }

    /// The workspace's current consent, folded from its entries.
    pub fn state(&self, ws: WorkspaceId) -> Result<ConsentState, StorageError> {
        Ok(fold(ws, &self.store.entries(ws)?))
    }

    /// Recomputes the workspace's chain.
    pub fn verify(&self, ws: WorkspaceId) -> Result<VerifyReport, StorageError> {
        Ok(verify_entries(ws, &self.store.entries(ws)?))
    }

    /// Every entry plus the verification of the chain.
    pub fn export(&self, ws: WorkspaceId) -> Result<LedgerExport, StorageError> {
        let entries = self.store.entries(ws)?;
        let verification = verify_entries(ws, &entries);
        Ok(LedgerExport { workspace: ws, entries, verification })
    }

    /// The privacy budget (ε) spent on the workspace for `purpose`, over its whole
    /// history (withdrawing and granting again does not reset it).
    pub fn epsilon_spent(&self, ws: WorkspaceId, purpose: Purpose) -> Result<f64, StorageError> {
        Ok(epsilon_in(&self.store.entries(ws)?, purpose))
    }

    /// Refuses ([`ConsentError::BudgetExceeded`]) a run that would take the
    /// workspace's spend for `purpose` past `cap`.
    pub fn can_spend(
        &self,
        ws: WorkspaceId,
        purpose: Purpose,
        epsilon: f64,
        cap: f64,
    ) -> Result<(), ConsentError> {
        check_budget(ws, purpose, epsilon_in(&self.store.entries(ws)?, purpose), epsilon, cap)
    }

    /// Records that run `run_id` spent `epsilon` on the workspace for `purpose`,
    /// checking the cap under the append lock so concurrent runs cannot overshoot it.
    /// `actor` is whoever started the run. The purpose must be granted.
    #[allow(clippy::too_many_arguments)]
    pub fn spend(
        &self,
        ws: WorkspaceId,
        actor: UserId,
        purpose: Purpose,
        epsilon: f64,
        cap: f64,
        run_id: &str,
        now: Millis,
    ) -> Result<LedgerEntry, ConsentError> {
        if run_id.is_empty() {
            return Err(ConsentError::InvalidSpend { field: "run_id", rule: "must not be empty" });
        }
        let action = Action::BudgetSpent { purpose, epsilon, run_id: run_id.to_owned() };
        let check = |state: &ConsentState, entries: &[LedgerEntry]| {
            if !state.purpose(purpose).granted {
                return Err(ConsentError::NotGranted { workspace: ws, purpose });
            }
            check_budget(ws, purpose, epsilon_in(entries, purpose), epsilon, cap)
        };
        let tail = self.tail(ws)?;
        check(&fold(ws, &tail.entries), &tail.entries)?;
        self.append_after(tail, actor, action, now, None)
    }

    /// Takes the append lock and reads the workspace's entries under it.
    fn tail(&self, ws: WorkspaceId) -> Result<Tail<'_>, StorageError> {
        let lock = self.append_lock.lock();
        let entries = self.store.entries(ws)?;
        Ok(Tail { _lock: lock, ws, entries })
    }

    /// Builds and stores the entry after `tail`'s last, then releases the lock: one
    /// append per [`Tail`], so no two entries can chain off the same one.
    fn append_after(
        &self,
        tail: Tail<'_>,
        actor: UserId,
        action: Action,
        now: Millis,
        opening: Option<KeyOpening>,
    ) -> Result<LedgerEntry, ConsentError> {
        let ws = tail.ws;
        let (seq, prev_hash) = match tail.entries.last() {
            Some(last) => (last.seq + 1, last.hash.clone()),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let (policy_version, policy_sha256) = current_version_and_hash(action.purpose());
        let mut entry = LedgerEntry {
            seq,
            workspace: ws,
            at: now,
            actor,
            action,
            policy_version,
            policy_sha256,
            prev_hash,
            hash: String::new(),
            opening,
            redacted: false,
        };
        entry.hash = entry.compute_hash().map_err(ConsentError::Encode)?;
        self.store.append(&entry)?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(entry)
    }
}

fn require_owner(role: Role, action: &'static str) -> Result<(), ConsentError> {
    if role == Role::Owner { Ok(()) } else { Err(ConsentError::NotOwner { action }) }
}

fn epsilon_in(entries: &[LedgerEntry], purpose: Purpose) -> f64 {
    entries
        .iter()
        .filter_map(|e| match &e.action {
            Action::BudgetSpent { purpose: p, epsilon, .. } if *p == purpose => Some(*epsilon),
            _ => None,
        })
        .sum()
}

fn check_budget(
    workspace: WorkspaceId,
    purpose: Purpose,
    spent: f64,
    epsilon: f64,
    cap: f64,
) -> Result<(), ConsentError> {
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(ConsentError::InvalidSpend {
            field: "epsilon",
            rule: "must be a positive finite number",
        });
    }
    if !(cap.is_finite() && cap >= 0.0) {
        return Err(ConsentError::InvalidSpend {
            field: "cap",
            rule: "must be a non-negative finite number",
        });
    }
    if spent + epsilon > cap {
        return Err(ConsentError::BudgetExceeded { workspace, purpose, spent, epsilon, cap });
    }
    Ok(())
}
