//! The ledger: who may grant and withdraw, what a grant must say, members' keys under
//! `opt_in` and `opt_out`, the chain and its verification, the history as exported and
//! shown, the privacy budget, and concurrent appends.

use confab_consent::{
    Action, Category, ConsentChange, ConsentError, GENESIS_HASH, GrantRequest, Ledger, LedgerEntry,
    LedgerStore, MemberMode, Purpose, Scope, current_policy, member_included, sealed_actor, verify_entries,
    verify_shown,
};
use confab_core::{Millis, Role, UserId};
use confab_test_support::consent::{MemoryLedgerStore, grant_request, user_id, workspace_id};

const ALL_SEARCH: &[Category] = &[Category::SearchInteractions, Category::Messages];

fn ledger() -> Ledger<MemoryLedgerStore> {
    Ledger::new(MemoryLedgerStore::new())
}

fn owner() -> UserId {
    user_id(1)
}

fn grant(l: &Ledger<MemoryLedgerStore>, mode: MemberMode, at: Millis) -> ConsentChange {
    let req = grant_request(Purpose::SearchRanking, Scope::Workspace, ALL_SEARCH, mode);
    l.grant(workspace_id(1), owner(), Role::Owner, req, at).unwrap()
}

#[test]
fn default_state_grants_nothing() {
    let l = ledger();
    let state = l.state(workspace_id(1)).unwrap();
    assert_eq!(state.purposes.len(), 3);
    for p in Purpose::ALL {
        let s = state.purpose(p);
        assert!(!s.granted && s.scope.is_none() && s.categories.is_empty());
        assert!(!state.member_included(p, owner()));
    }
    assert!(state.members.is_empty() && state.head_hash.is_none());
    assert_eq!(l.verify(workspace_id(1)).unwrap().entries, 0);
}

#[test]
fn only_owners_grant_and_withdraw() {
    let l = ledger();
    let ws = workspace_id(1);
    for role in [Role::Admin, Role::Member, Role::Guest] {
        let req = grant_request(Purpose::SearchRanking, Scope::Workspace, ALL_SEARCH, MemberMode::OptIn);
        let err = l.grant(ws, user_id(2), role, req, 1).unwrap_err();
        assert!(matches!(err, ConsentError::NotOwner { action: "grant" }), "{role:?}: {err:?}");
    }
    assert!(l.store().entries(ws).unwrap().is_empty());
    grant(&l, MemberMode::OptIn, 1);
    for role in [Role::Admin, Role::Member, Role::Guest] {
        let err = l.withdraw(ws, user_id(2), role, Purpose::SearchRanking, 2).unwrap_err();
        assert!(matches!(err, ConsentError::NotOwner { action: "withdraw" }), "{role:?}: {err:?}");
    }
    assert!(l.state(ws).unwrap().purpose(Purpose::SearchRanking).granted);
}

#[test]
fn a_grant_must_be_explicit() {
    let l = ledger();
    for accept in [None, Some(false)] {
        let mut req = grant_request(
            Purpose::EmojiSuggestions,
            Scope::Workspace,
            &[Category::Messages],
            MemberMode::OptIn,
        );
        req.accept = accept;
        let err = l.grant(workspace_id(1), owner(), Role::Owner, req, 1).unwrap_err();
        assert!(matches!(err, ConsentError::NotExplicit), "{err:?}");
    }
    // And the JSON body without `accept` deserialises to `None`.
    let body = serde_json::json!({
        "purpose": "emoji_suggestions", "scope": "workspace", "categories": ["messages"],
        "members": "opt_in", "policy_version": 1, "policy_sha256": "x"
    });
    assert_eq!(serde_json::from_value::<GrantRequest>(body).unwrap().accept, None);
    assert!(!l.state(workspace_id(1)).unwrap().purpose(Purpose::EmojiSuggestions).granted);
}

#[test]
fn a_stale_policy_is_refused_naming_the_current_version() {
    let l = ledger();
    let current = current_policy(Purpose::ChannelSuggestions);
    let fresh = || {
        grant_request(
            Purpose::ChannelSuggestions,
            Scope::Shared,
            &[Category::Memberships],
            MemberMode::OptOut,
        )
    };
    let mut old_version = fresh();
    old_version.policy_version = 0;
    let mut other_hash = fresh();
    other_hash.policy_sha256 = current_policy(Purpose::SearchRanking).sha256;
    let mut upper_hash = fresh();
    upper_hash.policy_sha256 = current.sha256.to_uppercase();
    for req in [old_version, other_hash, upper_hash] {
        let err = l.grant(workspace_id(1), owner(), Role::Owner, req, 1).unwrap_err();
        assert!(matches!(err, ConsentError::PolicyMismatch { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&format!("version {}", current.version)), "{message}");
        assert!(message.contains(&current.sha256));
    }
    assert!(l.store().entries(workspace_id(1)).unwrap().is_empty());
}

#[test]
fn a_grant_may_name_only_its_purposes_categories() {
    let l = ledger();
    let ws = workspace_id(1);
    let bad = grant_request(
        Purpose::SearchRanking,
        Scope::Workspace,
        &[Category::Messages, Category::Reactions],
        MemberMode::OptIn,
    );
    let err = l.grant(ws, owner(), Role::Owner, bad, 1).unwrap_err();
    assert!(matches!(err, ConsentError::CategoryNotAllowed { category: Category::Reactions, .. }), "{err:?}");
    assert!(err.to_string().contains("reactions"), "{err}");
    let empty = grant_request(Purpose::SearchRanking, Scope::Workspace, &[], MemberMode::OptIn);
    let err = l.grant(ws, owner(), Role::Owner, empty, 1).unwrap_err();
    assert!(matches!(err, ConsentError::NoCategories), "{err:?}");
    // Duplicates and order are normalised.
    let dup = grant_request(
        Purpose::SearchRanking,
        Scope::Workspace,
        &[Category::SearchInteractions, Category::Messages, Category::Messages],
        MemberMode::OptIn,
    );
    let change = l.grant(ws, owner(), Role::Owner, dup, 1).unwrap();
    assert_eq!(
        l.state(ws).unwrap().purpose(Purpose::SearchRanking).categories,
        vec![Category::Messages, Category::SearchInteractions]
    );
    assert!(matches!(&change.entry.action, Action::Grant { categories, .. } if categories.len() == 2));
}

#[test]
fn grant_and_withdraw_chain_and_fold() {
    let l = ledger();
    let ws = workspace_id(1);
    let g = grant(&l, MemberMode::OptIn, 10);
    assert_eq!(g.entry.seq, 1);
    assert_eq!(g.entry.prev_hash, GENESIS_HASH);
    assert_eq!(g.entry.hash, g.entry.compute_hash().unwrap());
    assert!(g.granted);
    let event = serde_json::to_value(g.to_event()).unwrap();
    assert_eq!(event["kind"], "consent.changed");
    assert_eq!(event["purpose"], "search_ranking");
    assert_eq!(event["entry_hash"], g.entry.hash.as_str());

    let state = l.state(ws).unwrap();
    let s = state.purpose(Purpose::SearchRanking);
    assert!(s.granted);
    assert_eq!(s.scope, Some(Scope::Workspace));
    assert_eq!(s.granted_by, Some(owner()));
    assert_eq!(s.granted_at, Some(10));
    assert_eq!((s.entry_seq, s.entry_hash.as_deref()), (Some(1), Some(g.entry.hash.as_str())));
    assert!(!state.purpose(Purpose::EmojiSuggestions).granted);

    let w = l.withdraw(ws, owner(), Role::Owner, Purpose::SearchRanking, 20).unwrap().unwrap();
    assert_eq!((w.entry.seq, w.granted), (2, false));
    assert_eq!(w.entry.prev_hash, g.entry.hash);
    let s = l.state(ws).unwrap().purpose(Purpose::SearchRanking).clone();
    assert!(!s.granted && s.scope.is_none() && s.granted_by.is_none());
    assert_eq!(s.entry_seq, Some(2));

    // Withdrawing again (or a purpose never granted) is a no-op without an entry.
    assert!(l.withdraw(ws, owner(), Role::Owner, Purpose::SearchRanking, 30).unwrap().is_none());
    assert!(l.withdraw(ws, owner(), Role::Owner, Purpose::EmojiSuggestions, 30).unwrap().is_none());
    assert_eq!(l.store().entries(ws).unwrap().len(), 2);
    assert!(l.verify(ws).unwrap().is_ok());
    // Another workspace's chain is independent.
    assert!(l.state(workspace_id(2)).unwrap().head_seq.is_none());
}

#[test]
fn opt_in_members_are_out_until_they_opt_in_to_the_grant_in_force() {
    let l = ledger();
    let ws = workspace_id(1);
    let (alice, bob, carol) = (user_id(10), user_id(11), user_id(12));
    // Before any grant, even an opt-in includes nobody.
    l.set_member(ws, carol, Purpose::SearchRanking, true, 1).unwrap();
    assert!(!l.state(ws).unwrap().member_included(Purpose::SearchRanking, carol));

    grant(&l, MemberMode::OptIn, 2);
    let change = l.set_member(ws, alice, Purpose::SearchRanking, true, 3).unwrap();
    assert!(change.granted && change.actor == alice);
    let state = l.state(ws).unwrap();
    assert!(state.member_included(Purpose::SearchRanking, alice));
    assert!(!state.member_included(Purpose::SearchRanking, bob), "silence is not a yes");
    assert!(!state.member_included(Purpose::SearchRanking, carol), "a yes before the grant");
    assert!(!member_included(&state, Purpose::EmojiSuggestions, alice), "other purpose");
    assert_eq!(state.keys_of(alice).len(), 1);

    // A re-grant asks again.
    grant(&l, MemberMode::OptIn, 4);
    assert!(!l.state(ws).unwrap().member_included(Purpose::SearchRanking, alice));
    l.set_member(ws, alice, Purpose::SearchRanking, true, 5).unwrap();
    l.set_member(ws, alice, Purpose::SearchRanking, false, 6).unwrap();
    assert!(!l.state(ws).unwrap().member_included(Purpose::SearchRanking, alice));
}

#[test]
fn opt_out_members_are_in_until_they_exclude_themselves() {
    let l = ledger();
    let ws = workspace_id(1);
    let (alice, bob) = (user_id(10), user_id(11));
    // An exclusion made before the grant still holds after it.
    l.set_member(ws, bob, Purpose::SearchRanking, false, 1).unwrap();
    grant(&l, MemberMode::OptOut, 2);
    let state = l.state(ws).unwrap();
    assert!(state.member_included(Purpose::SearchRanking, alice));
    assert!(!state.member_included(Purpose::SearchRanking, bob));
    l.set_member(ws, alice, Purpose::SearchRanking, false, 3).unwrap();
    l.set_member(ws, bob, Purpose::SearchRanking, true, 4).unwrap();
    let state = l.state(ws).unwrap();
    assert!(!state.member_included(Purpose::SearchRanking, alice));
    assert!(state.member_included(Purpose::SearchRanking, bob));
    // Withdrawal excludes everyone.
    l.withdraw(ws, owner(), Role::Owner, Purpose::SearchRanking, 5).unwrap();
    assert!(!l.state(ws).unwrap().member_included(Purpose::SearchRanking, bob));
}

/// A ledger with five entries in workspace 1.
fn five_entries() -> Ledger<MemoryLedgerStore> {
    let l = ledger();
    let ws = workspace_id(1);
    grant(&l, MemberMode::OptOut, 1);
    l.set_member(ws, user_id(10), Purpose::SearchRanking, false, 2).unwrap();
    l.spend(ws, owner(), Purpose::SearchRanking, 0.5, 10.0, "run-1", 3).unwrap();
    l.set_member(ws, user_id(11), Purpose::SearchRanking, false, 4).unwrap();
    l.withdraw(ws, owner(), Role::Owner, Purpose::SearchRanking, 5).unwrap();
    assert!(l.verify(ws).unwrap().is_ok());
    l
}

fn first_bad(l: &Ledger<MemoryLedgerStore>) -> (u64, String) {
    l.verify(workspace_id(1)).unwrap().first_bad.expect("tampering goes unnoticed")
}

#[test]
fn verify_catches_an_edited_field() {
    let l = five_entries();
    l.store().tamper(workspace_id(1), |e| {
        e[2].action =
            Action::BudgetSpent { purpose: Purpose::SearchRanking, epsilon: 0.1, run_id: "run-1".into() };
    });
    let (seq, reason) = first_bad(&l);
    assert_eq!(seq, 3);
    assert!(reason.contains("content"), "{reason}");

    let l = five_entries();
    l.store().tamper(workspace_id(1), |e| e[1].at += 1);
    assert_eq!(first_bad(&l).0, 2);

    let l = five_entries();
    l.store().tamper(workspace_id(1), |e| e[0].actor = user_id(99));
    assert_eq!(first_bad(&l).0, 1);
}

#[test]
fn verify_catches_a_rehashed_entry_by_its_successor() {
    // Rewriting an entry and recomputing its hash breaks the next link.
    let l = five_entries();
    l.store().tamper(workspace_id(1), |e| {
        e[1].opening.as_mut().unwrap().included = true;
        let commitment = e[1].opening.as_ref().unwrap().commitment(e[1].workspace, Purpose::SearchRanking);
        e[1].action = Action::MemberSet {
            purpose: Purpose::SearchRanking,
            user: None,
            included: None,
            commitment: Some(commitment),
        };
        e[1].hash = e[1].compute_hash().unwrap();
    });
    let (seq, reason) = first_bad(&l);
    assert_eq!(seq, 3);
    assert!(reason.contains("prev_hash"), "{reason}");
    // A hash edited alone is caught at its own entry.
    let l = five_entries();
    l.store().tamper(workspace_id(1), |e| e[3].hash = "ab".repeat(32));
    assert_eq!(first_bad(&l).0, 4);
}

#[test]
fn verify_catches_dropped_and_reordered_entries() {
    let l = five_entries();
    l.store().tamper(workspace_id(1), |e| {
        e.remove(1);
    });
    let (seq, reason) = first_bad(&l);
    assert_eq!(seq, 2);
    assert!(reason.contains("found seq 3"), "{reason}");

    let l = five_entries();
    l.store().tamper(workspace_id(1), |e| e.swap(2, 3));
    assert_eq!(first_bad(&l).0, 3);

    // Renumbering after a drop still breaks the prev link.
    let l = five_entries();
    l.store().tamper(workspace_id(1), |e| {
        e.remove(0);
        for (i, entry) in e.iter_mut().enumerate() {
            entry.seq = i as u64 + 1;
        }
    });
    assert_eq!(first_bad(&l).0, 1);

    // Truncating the tail is visible only as a different head.
    let l = five_entries();
    let head = l.verify(workspace_id(1)).unwrap().head_hash;
    l.store().tamper(workspace_id(1), |e| {
        e.pop();
    });
    let report = l.verify(workspace_id(1)).unwrap();
    assert!(report.is_ok());
    assert_ne!(report.head_hash, head);
}

#[test]
fn export_carries_entries_and_verification() {
    let l = five_entries();
    let export = serde_json::to_value(l.export(workspace_id(1)).unwrap()).unwrap();
    assert_eq!(export["entries"].as_array().unwrap().len(), 5);
    assert_eq!(export["verification"]["first_bad"], serde_json::Value::Null);
    assert_eq!(export["entries"][2]["action"]["type"], "budget_spent");
    assert_eq!(export["entries"][0]["action"]["members"], "opt_out");
    // Entries round-trip through JSON (as a store would keep them) with their hash.
    let entries: Vec<LedgerEntry> = serde_json::from_value(export["entries"].clone()).unwrap();
    assert!(verify_entries(workspace_id(1), &entries).is_ok());
}

#[test]
fn an_older_unsealed_key_entry_still_verifies_folds_and_redacts() {
    // A `member_set` entry as written before keys were sealed: user and choice in
    // the action, the member as actor, no commitment.
    let l = ledger();
    let ws = workspace_id(1);
    grant(&l, MemberMode::OptOut, 1);
    let entries = l.store().entries(ws).unwrap();
    let mut legacy = LedgerEntry {
        seq: 2,
        workspace: ws,
        at: 2,
        actor: user_id(10),
        action: Action::MemberSet {
            purpose: Purpose::SearchRanking,
            user: Some(user_id(10)),
            included: Some(false),
            commitment: None,
        },
        policy_version: entries[0].policy_version,
        policy_sha256: entries[0].policy_sha256.clone(),
        prev_hash: entries[0].hash.clone(),
        hash: String::new(),
        opening: None,
        redacted: false,
    };
    legacy.hash = legacy.compute_hash().unwrap();
    let json = serde_json::to_value(&legacy).unwrap();
    assert_eq!(
        json["action"],
        serde_json::json!({"type": "member_set", "purpose": "search_ranking", "user": user_id(10), "included": false})
    );
    l.store().append(&legacy).unwrap();
    assert!(l.verify(ws).unwrap().is_ok());
    assert!(!l.state(ws).unwrap().member_included(Purpose::SearchRanking, user_id(10)));
    let shown = l.export(ws).unwrap().shown_to(user_id(11));
    assert!(shown.entries[1].redacted && shown.entries[1].actor == sealed_actor());
    assert!(!serde_json::to_string(&shown).unwrap().contains(&user_id(10).to_string()));
    assert!(verify_shown(ws, &shown.entries).is_ok());
    assert!(!verify_entries(ws, &shown.entries).is_ok(), "a stored entry may not be redacted");
    // Its own member sees it as it is.
    assert!(!l.export(ws).unwrap().shown_to(user_id(10)).entries[1].redacted);
}

#[test]
fn the_budget_cap_refuses_overspending() {
    let l = ledger();
    let ws = workspace_id(1);
    let spend = |eps: f64, run: &str| l.spend(ws, owner(), Purpose::SearchRanking, eps, 1.0, run, 5);
    assert!(matches!(spend(0.1, "r0"), Err(ConsentError::NotGranted { .. })), "not granted");
    grant(&l, MemberMode::OptIn, 1);
    spend(0.4, "r1").unwrap();
    spend(0.4, "r2").unwrap();
    assert!((l.epsilon_spent(ws, Purpose::SearchRanking).unwrap() - 0.8).abs() < 1e-12);
    assert_eq!(l.epsilon_spent(ws, Purpose::EmojiSuggestions).unwrap(), 0.0);
    l.can_spend(ws, Purpose::SearchRanking, 0.2, 1.0).unwrap();
    let err = l.can_spend(ws, Purpose::SearchRanking, 0.3, 1.0).unwrap_err();
    assert!(matches!(err, ConsentError::BudgetExceeded { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("budget exceeded") && message.contains("cap"), "{message}");
    assert!(matches!(spend(0.3, "r3"), Err(ConsentError::BudgetExceeded { .. })));
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(spend(bad, "r4"), Err(ConsentError::InvalidSpend { field: "epsilon", .. })));
    }
    assert!(matches!(spend(0.1, ""), Err(ConsentError::InvalidSpend { field: "run_id", .. })));
    assert_eq!(l.store().entries(ws).unwrap().len(), 3);
}

#[test]
fn concurrent_appends_never_fork_the_chain() {
    let l = std::sync::Arc::new(ledger());
    let ws = workspace_id(1);
    grant(&l, MemberMode::OptOut, 0);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let l = l.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    l.set_member(ws, user_id(100 + t), Purpose::SearchRanking, i % 2 == 0, i).unwrap();
                    let req = grant_request(
                        Purpose::EmojiSuggestions,
                        Scope::Workspace,
                        &[Category::Reactions],
                        MemberMode::OptIn,
                    );
                    l.grant(ws, owner(), Role::Owner, req, i).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = l.verify(ws).unwrap();
    assert_eq!(report.entries, 201);
    assert!(report.is_ok(), "{:?}", report.first_bad);
}

/// One store two `Ledger`s share, as the nodes of a cluster share one database: it
/// keeps a generation of its own, moved by every append whichever ledger made it.
#[derive(Default)]
struct SharedStore {
    inner: MemoryLedgerStore,
    generation: std::sync::atomic::AtomicU64,
}

impl LedgerStore for SharedStore {
    fn append(&self, entry: &LedgerEntry) -> Result<(), confab_consent::StorageError> {
        self.inner.append(entry)?;
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
    fn entries(
        &self,
        ws: confab_core::WorkspaceId,
    ) -> Result<Vec<LedgerEntry>, confab_consent::StorageError> {
        self.inner.entries(ws)
    }
    fn generation(&self) -> Result<Option<u64>, confab_consent::StorageError> {
        Ok(Some(self.generation.load(std::sync::atomic::Ordering::SeqCst)))
    }
}

#[test]
fn the_generation_moves_with_every_change_whoever_appended_it() {
    // A store that keeps none: the ledger counts its own appends.
    let l = ledger();
    assert_eq!(l.generation().unwrap(), 0);
    grant(&l, MemberMode::OptOut, 1);
    assert_eq!(l.generation().unwrap(), 1);
    assert!(l.withdraw(workspace_id(1), owner(), Role::Owner, Purpose::SearchRanking, 2).unwrap().is_some());
    assert_eq!(l.generation().unwrap(), 2);
    // A refused change and a withdrawal of nothing append nothing, and move nothing.
    assert!(l.withdraw(workspace_id(1), owner(), Role::Owner, Purpose::SearchRanking, 3).unwrap().is_none());
    assert_eq!(l.generation().unwrap(), 2);

    // Two ledgers on one shared store (two nodes): a change through one moves the
    // generation the other reads, though the other appended nothing.
    let store = std::sync::Arc::new(SharedStore::default());
    let (on_a, on_b) = (Ledger::new(store.clone()), Ledger::new(store.clone()));
    let before = on_b.generation().unwrap();
    let req = grant_request(Purpose::SearchRanking, Scope::Workspace, ALL_SEARCH, MemberMode::OptOut);
    on_a.grant(workspace_id(1), owner(), Role::Owner, req, 1).unwrap();
    let granted = on_b.generation().unwrap();
    assert!(granted > before, "B sees A's grant");
    on_a.withdraw(workspace_id(1), owner(), Role::Owner, Purpose::SearchRanking, 2).unwrap();
    assert!(on_b.generation().unwrap() > granted, "and A's withdrawal");
    assert_eq!(on_a.generation().unwrap(), on_b.generation().unwrap());
}
