//! Coverage against a model's grant reference that the ledger does not hold, and a
//! ledger that no longer verifies.

use confab_consent::{Category, Coverage, GrantRef, Ledger, MemberMode, Purpose, Scope};
use confab_core::Role;
use confab_test_support::consent::{MemoryLedgerStore, grant_request, user_id, workspace_id};

fn granted() -> (Ledger<MemoryLedgerStore>, GrantRef) {
    let l = Ledger::new(MemoryLedgerStore::new());
    let req = grant_request(Purpose::SearchRanking, Scope::Shared, &[Category::Messages], MemberMode::OptOut);
    let change = l.grant(workspace_id(1), user_id(1), Role::Owner, req, 1).unwrap();
    let used = GrantRef {
        entry_seq: 1,
        entry_hash: change.entry.hash,
        scope: Scope::Shared,
        categories: vec![Category::Messages],
        members: MemberMode::OptOut,
        policy_version: change.entry.policy_version,
        head_seq: 1,
    };
    (l, used)
}

fn check(l: &Ledger<MemoryLedgerStore>, used: &GrantRef) -> Coverage {
    l.coverage(workspace_id(1), Purpose::SearchRanking, Scope::Shared, used).unwrap()
}

#[test]
fn a_model_of_another_policy_version_or_an_unknown_grant_is_not_covered() {
    let (l, used) = granted();
    assert_eq!(check(&l, &used), Coverage::Covered);
    let other_version = GrantRef { policy_version: used.policy_version + 1, ..used.clone() };
    assert!(!check(&l, &other_version).is_covered());
    let other_grant = GrantRef { entry_hash: "00".repeat(32), ..used.clone() };
    assert!(!check(&l, &other_grant).is_covered());
    // A snapshot the ledger does not reach (entries cut off its end).
    let beyond = GrantRef { head_seq: 5, ..used.clone() };
    assert!(!check(&l, &beyond).is_covered());
    let no_head = GrantRef { head_seq: 0, ..used };
    assert!(!check(&l, &no_head).is_covered());
}

#[test]
fn a_ledger_that_does_not_verify_covers_nothing() {
    let (l, used) = granted();
    l.store().tamper(workspace_id(1), |e| e[0].at += 1);
    assert!(!check(&l, &used).is_covered());
}
