//! Whether consent given then still covers a model now.
//!
//! A model records, per contributing workspace, the grant that let its data in and
//! the ledger head at the snapshot ([`GrantRef`]). [`Ledger::coverage`] walks every
//! entry appended since that head and answers [`Coverage::Lapsed`] as soon as one
//! removed something the model used:
//!
//! - a withdrawal of the purpose;
//! - a re-grant that narrows the scope (`shared` → `workspace`, for a shared model),
//!   drops a category the model read, names another policy version, turns
//!   `opt_out` into `opt_in`, or (under `opt_in`) asks members who had opted in to
//!   answer again;
//! - a member whose data was in the snapshot excluding themselves;
//! - and, checked on the current state: the purpose not granted now, its policy text
//!   changed since, or a ledger that no longer verifies or no longer holds the grant
//!   the model names.
//!
//! A change that only adds (a broader re-grant, a member opting in) leaves a model
//! covered. The registry serves a model only while every contributor is
//! [`Coverage::Covered`], a run saves a model retired unless it is, and every consent
//! change retires the models that lapsed; all three use this one function.

use confab_core::WorkspaceId;

use crate::error::StorageError;
use crate::gate::GrantRef;
use crate::ledger::{Action, Ledger, LedgerStore, fold, verify_entries};
use crate::policy::current_version_and_hash;
use crate::vocab::{MemberMode, Purpose, Scope};

/// Whether a workspace's current consent still covers a model's use of its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coverage {
    Covered,
    /// The first change that removed something the model used, in words.
    Lapsed(String),
}

impl Coverage {
    pub fn is_covered(&self) -> bool {
        matches!(self, Coverage::Covered)
    }
}

impl<S: LedgerStore> Ledger<S> {
    /// Whether `ws`'s consent now still covers a `model_scope` model of `purpose`
    /// that read its data under `used` (see the module docs).
    pub fn coverage(
        &self,
        ws: WorkspaceId,
        purpose: Purpose,
        model_scope: Scope,
        used: &GrantRef,
    ) -> Result<Coverage, StorageError> {
        let entries = self.store().entries(ws)?;
        Ok(coverage_of(ws, &entries, purpose, model_scope, used))
    }
}

fn lapsed(why: impl Into<String>) -> Coverage {
    Coverage::Lapsed(why.into())
}

/// [`Ledger::coverage`] over a workspace's entries.
pub fn coverage_of(
    ws: WorkspaceId,
    entries: &[crate::ledger::LedgerEntry],
    purpose: Purpose,
    model_scope: Scope,
    used: &GrantRef,
) -> Coverage {
    if let Some((seq, why)) = verify_entries(ws, entries).first_bad {
        return lapsed(format!("the ledger of workspace {ws} does not verify at seq {seq}: {why}"));
    }
    let head = usize::try_from(used.head_seq).unwrap_or(usize::MAX);
    if used.head_seq == 0 || head > entries.len() {
        return lapsed(format!("the ledger of workspace {ws} does not reach the model's snapshot"));
    }
    let grant_matches = usize::try_from(used.entry_seq)
        .ok()
        .and_then(|seq| seq.checked_sub(1))
        .and_then(|i| entries.get(i))
        .is_some_and(|e| e.hash == used.entry_hash && matches!(e.action, Action::Grant { .. }));
    if !grant_matches || used.entry_seq > used.head_seq {
        return lapsed(format!("the grant the model names is not in the ledger of workspace {ws}"));
    }
    let then = fold(ws, &entries[..head]);
    let was_in = |user| then.member_included(purpose, user);
    let opted_in_then = then.members.iter().any(|k| k.purpose == purpose && was_in(k.user));
    for e in &entries[head..] {
        if e.action.purpose() != purpose {
            continue;
        }
        let at = e.seq;
        match &e.action {
            Action::Withdraw { .. } => return lapsed(format!("{purpose} was withdrawn (entry {at})")),
            Action::Grant { scope, categories, members, .. } => {
                if model_scope == Scope::Shared && *scope == Scope::Workspace {
                    return lapsed(format!("the scope was narrowed to workspace (entry {at})"));
                }
                if let Some(c) = used.categories.iter().find(|c| !categories.contains(c)) {
                    return lapsed(format!("category {c} was removed (entry {at})"));
                }
                if e.policy_version != used.policy_version {
                    return lapsed(format!(
                        "the grant now accepts policy version {} (entry {at})",
                        e.policy_version
                    ));
                }
                if used.members == MemberMode::OptOut && *members == MemberMode::OptIn {
                    return lapsed(format!("members changed from opt_out to opt_in (entry {at})"));
                }
                if *members == MemberMode::OptIn && opted_in_then {
                    return lapsed(format!("a new opt_in grant asks members to opt in again (entry {at})"));
                }
            }
            Action::MemberSet { .. } => match e.member_key() {
                Some((_, user, false)) if was_in(user) => {
                    return lapsed(format!("a member excluded themselves (entry {at})"));
                }
                Some(_) => {}
                None => return lapsed(format!("a member key cannot be read (entry {at})")),
            },
            Action::BudgetSpent { .. } => {}
        }
    }
    let now = fold(ws, entries);
    let p = now.purpose(purpose);
    if !p.granted {
        return lapsed(format!("{purpose} is not granted"));
    }
    let (version, sha) = current_version_and_hash(purpose);
    if p.policy_version != Some(version) || p.policy_sha256.as_deref() != Some(sha.as_str()) {
        return lapsed(format!("the {purpose} policy changed since it was accepted"));
    }
    if p.policy_version != Some(used.policy_version) {
        return lapsed(format!("the model was trained under policy version {}", used.policy_version));
    }
    Coverage::Covered
}
