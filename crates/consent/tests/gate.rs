//! The gate against grants written by hand (a valid chain that bypassed the ledger's
//! checks): an older policy text, categories the purpose may not read.

use confab_consent::{
    Action, Category, ExcludedWorkspace, ExclusionReason, GENESIS_HASH, Gate, Ledger, LedgerEntry,
    LedgerStore, MemberMode, Purpose, Scope, current_policy,
};
use confab_core::ChannelKind;
use confab_test_support::consent::{
    MemoryLedgerStore, MemorySource, channel, channel_id, message, message_id, user_id, workspace_id,
};

/// Appends a grant entry built by hand (valid chain), bypassing the ledger's checks.
fn forge_grant(store: &MemoryLedgerStore, version: u32, sha: String, categories: Vec<Category>) {
    let mut entry = LedgerEntry {
        seq: 1,
        workspace: workspace_id(1),
        at: 0,
        actor: user_id(1),
        action: Action::Grant {
            purpose: Purpose::SearchRanking,
            scope: Scope::Workspace,
            categories,
            members: MemberMode::OptOut,
        },
        policy_version: version,
        policy_sha256: sha,
        prev_hash: GENESIS_HASH.to_owned(),
        hash: String::new(),
        opening: None,
        redacted: false,
    };
    entry.hash = entry.compute_hash().unwrap();
    store.append(&entry).unwrap();
}

fn source() -> MemorySource {
    let (ws, ch) = (workspace_id(1), channel_id(1));
    MemorySource {
        channels: vec![channel(ws, ch, ChannelKind::Public)],
        messages: vec![message(
            ws,
            ch,
            1,
            message_id(1),
            user_id(2),
            "hi",
            0,
            vec![("👍", vec![user_id(3)])],
        )],
        well_behaved: true,
        ..MemorySource::default()
    }
}

#[test]
fn a_grant_of_an_older_policy_text_no_longer_counts() {
    let ledger = Ledger::new(MemoryLedgerStore::new());
    let sha = current_policy(Purpose::SearchRanking).sha256;
    forge_grant(ledger.store(), 0, sha, vec![Category::Messages]);
    assert!(ledger.verify(workspace_id(1)).unwrap().is_ok());
    let snap = Gate::snapshot(&ledger, &source(), Purpose::SearchRanking, &[workspace_id(1)], 9).unwrap();
    assert!(snap.workspaces().is_empty());
    assert_eq!(
        snap.excluded()[0].reason,
        ExclusionReason::PolicyOutdated { granted_version: 0, current_version: 1 }
    );
    // Same version, other text.
    let ledger = Ledger::new(MemoryLedgerStore::new());
    forge_grant(ledger.store(), 1, "00".repeat(32), vec![Category::Messages]);
    let snap = Gate::snapshot(&ledger, &source(), Purpose::SearchRanking, &[workspace_id(1)], 9).unwrap();
    assert!(matches!(snap.excluded()[0].reason, ExclusionReason::PolicyOutdated { .. }));
}

#[test]
fn a_hand_made_grant_cannot_widen_a_purposes_categories() {
    let ledger = Ledger::new(MemoryLedgerStore::new());
    let policy = current_policy(Purpose::SearchRanking);
    let (version, sha) = (policy.version, policy.sha256);
    forge_grant(ledger.store(), version, sha, vec![Category::Reactions, Category::Messages]);
    let snap = Gate::snapshot(&ledger, &source(), Purpose::SearchRanking, &[workspace_id(1)], 9).unwrap();
    let w = snap.for_workspace(workspace_id(1)).unwrap();
    assert_eq!(w.allowed_by().categories, vec![Category::Messages]);
    assert_eq!(w.messages().len(), 1);
    assert!(w.reactions().is_empty(), "search ranking may not read reactions");
}

#[test]
fn excluded_reasons_serialise_flat() {
    let e = ExcludedWorkspace {
        workspace: workspace_id(1),
        reason: ExclusionReason::PolicyOutdated { granted_version: 1, current_version: 2 },
    };
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["reason"], "policy_outdated");
    assert_eq!(json["current_version"], 2);
    assert_eq!(json["workspace"], workspace_id(1).to_string());
}
