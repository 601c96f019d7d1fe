//! The consent gate's guarantees, through the public API the app and training use:
//! what a snapshot may never hold, preview = snapshot, canaries, and a property test
//! over random ledgers and data against an independent model of the rules.

use std::collections::{BTreeMap, BTreeSet};

use confab_consent::{
    Category, ExclusionReason, Gate, Ledger, MemberMode, MembershipRecord, Purpose, Scope, SearchInteraction,
    Snapshot,
};
use confab_core::{ChannelId, ChannelKind, Role, UserId, WorkspaceId};
use confab_test_support::consent::{
    MemoryLedgerStore, MemorySource, channel, channel_id, grant_request, message, message_id, user_id,
    workspace_id,
};
use proptest::prelude::*;

const NOW: i64 = 1_000;
/// When every membership in the property test was made.
const JOINED_AT: i64 = 1;
const CANARY: &str = "canary-7f3a9c-do-not-train";

fn ledger() -> Ledger<MemoryLedgerStore> {
    Ledger::new(MemoryLedgerStore::new())
}

fn owner() -> UserId {
    user_id(1)
}

fn search(user: UserId, ch: ChannelId, author: UserId, at: i64, clicked: bool) -> SearchInteraction {
    SearchInteraction {
        user,
        at,
        query_id: format!("q{at}"),
        message: message_id(at as u64),
        channel: ch,
        author,
        features: BTreeMap::from([("bm25".to_owned(), 1.5), ("age_days".to_owned(), 3.0)]),
        clicked,
    }
}

/// Two workspaces. ws1 has a public, a private and a DM channel; ws2 one public
/// channel and no grant. The canary is planted in ws1's private channel and DM and
/// everywhere in ws2. The source is careless: it returns everything it holds.
fn world() -> (MemorySource, WorkspaceId, WorkspaceId) {
    let (ws1, ws2) = (workspace_id(1), workspace_id(2));
    let (public, private, dm, other) = (channel_id(1), channel_id(2), channel_id(3), channel_id(4));
    let (alice, bob) = (user_id(10), user_id(11));
    let mut src = MemorySource {
        channels: vec![
            channel(ws1, public, ChannelKind::Public),
            channel(ws1, private, ChannelKind::Private),
            channel(ws1, dm, ChannelKind::Dm),
            channel(ws2, other, ChannelKind::Public),
        ],
        ..MemorySource::default()
    };
    let msgs = [
        (ws1, public, 1, alice, "hello team :tada:", 10, vec![("🎉", vec![bob, alice])]),
        (ws1, public, 2, bob, "lunch?", 20, vec![("🍕", vec![alice])]),
        (ws1, private, 1, alice, CANARY, 30, vec![("🔒", vec![bob])]),
        (ws1, dm, 1, bob, CANARY, 40, vec![]),
        (ws2, other, 1, user_id(20), CANARY, 50, vec![("👀", vec![user_id(21)])]),
    ];
    for (i, (ws, ch, seq, author, text, at, reactions)) in msgs.into_iter().enumerate() {
        src.messages.push(message(ws, ch, seq, message_id(100 + i as u64), author, text, at, reactions));
    }
    for (ws, ch, user) in [
        (ws1, public, alice),
        (ws1, public, bob),
        (ws1, private, alice),
        (ws1, dm, bob),
        (ws2, other, user_id(20)),
    ] {
        src.memberships.push((ws, MembershipRecord { channel: ch, user, joined_at: 5 }));
    }
    src.search_interactions = vec![
        (ws1, search(alice, public, bob, 60, true)),
        (ws1, search(bob, private, alice, 61, true)),
        (ws1, search(bob, dm, bob, 62, false)),
        (ws2, search(user_id(20), other, user_id(20), 63, true)),
    ];
    (src, ws1, ws2)
}

fn grant(
    l: &Ledger<MemoryLedgerStore>,
    ws: WorkspaceId,
    purpose: Purpose,
    scope: Scope,
    categories: &[Category],
    mode: MemberMode,
) {
    l.grant(ws, owner(), Role::Owner, grant_request(purpose, scope, categories, mode), 1).unwrap();
}

fn all_categories(purpose: Purpose) -> Vec<Category> {
    purpose.allowed_categories().to_vec()
}

#[test]
fn with_no_grant_a_snapshot_is_empty() {
    let (src, ws1, ws2) = world();
    let l = ledger();
    for purpose in Purpose::ALL {
        let snap = Gate::snapshot(&l, &src, purpose, &[ws1, ws2, ws1], NOW).unwrap();
        assert!(snap.workspaces().is_empty());
        assert_eq!(snap.record_count(), 0);
        assert_eq!(snap.excluded().len(), 2);
        assert!(snap.excluded().iter().all(|e| e.reason == ExclusionReason::NotGranted));
    }
}

#[test]
fn canaries_in_private_channels_dms_and_other_workspaces_never_appear() {
    let (src, ws1, ws2) = world();
    let l = ledger();
    for purpose in Purpose::ALL {
        grant(&l, ws1, purpose, Scope::Shared, &all_categories(purpose), MemberMode::OptOut);
    }
    for purpose in Purpose::ALL {
        let snap = Gate::snapshot(&l, &src, purpose, &[ws1, ws2], NOW).unwrap();
        let json = serde_json::to_string(&snap).unwrap();
        assert!(!json.contains(CANARY), "{purpose}: {json}");
        for secret in [channel_id(2), channel_id(3), channel_id(4)] {
            assert!(!json.contains(&secret.to_string()), "{purpose} leaks channel {secret}");
        }
        assert!(!json.contains(&user_id(20).to_string()) && !json.contains(&user_id(21).to_string()));
        assert!(snap.record_count() > 0, "{purpose}: the public channel is read");
        assert_eq!(snap.workspaces().len(), 1);
        assert_eq!(snap.excluded()[0].workspace, ws2);
    }
}

#[test]
fn a_snapshot_holds_exactly_the_granted_public_records() {
    let (src, ws1, _) = world();
    let l = ledger();
    grant(
        &l,
        ws1,
        Purpose::EmojiSuggestions,
        Scope::Workspace,
        &[Category::Messages, Category::Reactions],
        MemberMode::OptOut,
    );
    let snap = Gate::snapshot(&l, &src, Purpose::EmojiSuggestions, &[ws1], NOW).unwrap();
    let w = snap.for_workspace(ws1).unwrap();
    let texts: Vec<&str> = w.messages().iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hello team :tada:", "lunch?"]);
    let reactions: Vec<(&str, usize)> =
        w.reactions().iter().map(|r| (r.emoji.as_str(), r.users.len())).collect();
    assert_eq!(reactions, [("🎉", 2), ("🍕", 1)]);
    assert!(w.memberships().is_empty() && w.search_interactions().is_empty());
    assert_eq!(w.scope(), Scope::Workspace);
    let state = l.state(ws1).unwrap();
    let grant = state.purpose(Purpose::EmojiSuggestions);
    assert_eq!(Some(w.allowed_by().entry_seq), grant.entry_seq);
    assert_eq!(Some(&w.allowed_by().entry_hash), grant.entry_hash.as_ref());
    assert_eq!(snap.taken_at(), NOW);
    assert_eq!(snap.purpose(), Purpose::EmojiSuggestions);
}

#[test]
fn only_the_granted_categories_are_read() {
    let (src, ws1, _) = world();
    let l = ledger();
    grant(&l, ws1, Purpose::EmojiSuggestions, Scope::Workspace, &[Category::Reactions], MemberMode::OptOut);
    grant(
        &l,
        ws1,
        Purpose::ChannelSuggestions,
        Scope::Workspace,
        &[Category::Memberships],
        MemberMode::OptOut,
    );
    grant(
        &l,
        ws1,
        Purpose::SearchRanking,
        Scope::Workspace,
        &[Category::SearchInteractions],
        MemberMode::OptOut,
    );

    let emoji = Gate::snapshot(&l, &src, Purpose::EmojiSuggestions, &[ws1], NOW).unwrap();
    let w = emoji.for_workspace(ws1).unwrap();
    assert!(w.messages().is_empty(), "no message text without `messages`");
    assert_eq!(w.reactions().len(), 2);
    assert!(!serde_json::to_string(&emoji).unwrap().contains("lunch"));

    let channels = Gate::snapshot(&l, &src, Purpose::ChannelSuggestions, &[ws1], NOW).unwrap();
    let w = channels.for_workspace(ws1).unwrap();
    assert!(w.messages().is_empty() && w.reactions().is_empty());
    let members: Vec<(ChannelId, UserId)> = w.memberships().iter().map(|m| (m.channel, m.user)).collect();
    assert_eq!(members, [(channel_id(1), user_id(10)), (channel_id(1), user_id(11))]);

    let search = Gate::snapshot(&l, &src, Purpose::SearchRanking, &[ws1], NOW).unwrap();
    let w = search.for_workspace(ws1).unwrap();
    assert!(w.messages().is_empty());
    assert_eq!(w.search_interactions().len(), 1);
    assert_eq!(w.search_interactions()[0].channel, channel_id(1));
}

#[test]
fn excluded_members_records_and_behaviour_are_dropped() {
    let (src, ws1, _) = world();
    let (alice, bob) = (user_id(10), user_id(11));
    let l = ledger();
    grant(
        &l,
        ws1,
        Purpose::EmojiSuggestions,
        Scope::Workspace,
        &[Category::Messages, Category::Reactions],
        MemberMode::OptOut,
    );
    l.set_member(ws1, bob, Purpose::EmojiSuggestions, false, 2).unwrap();
    let snap = Gate::snapshot(&l, &src, Purpose::EmojiSuggestions, &[ws1], NOW).unwrap();
    let w = snap.for_workspace(ws1).unwrap();
    assert!(w.messages().iter().all(|m| m.author == alice));
    assert_eq!(w.messages().len(), 1);
    // Bob's reaction to Alice's message is gone; the reaction on Bob's message too.
    assert_eq!(w.reactions().len(), 1);
    assert_eq!(w.reactions()[0].users, [alice]);
    assert!(!serde_json::to_string(&snap).unwrap().contains(&bob.to_string()));

    // Under opt_in, only those who said yes after the grant are read.
    let l = ledger();
    grant(
        &l,
        ws1,
        Purpose::ChannelSuggestions,
        Scope::Workspace,
        &all_categories(Purpose::ChannelSuggestions),
        MemberMode::OptIn,
    );
    let snap = Gate::snapshot(&l, &src, Purpose::ChannelSuggestions, &[ws1], NOW).unwrap();
    assert_eq!(snap.for_workspace(ws1).unwrap().record_count(), 0);
    l.set_member(ws1, alice, Purpose::ChannelSuggestions, true, 2).unwrap();
    let snap = Gate::snapshot(&l, &src, Purpose::ChannelSuggestions, &[ws1], NOW).unwrap();
    let w = snap.for_workspace(ws1).unwrap();
    assert_eq!(w.memberships().len(), 1);
    assert!(w.memberships().iter().chain([]).all(|m| m.user == alice));
    assert!(w.messages().iter().all(|m| m.author == alice));
}

#[test]
fn withdrawal_takes_effect_at_once_even_for_an_old_cut_off() {
    let (src, ws1, _) = world();
    let l = ledger();
    grant(&l, ws1, Purpose::EmojiSuggestions, Scope::Shared, &[Category::Messages], MemberMode::OptOut);
    assert_eq!(
        Gate::snapshot(&l, &src, Purpose::EmojiSuggestions, &[ws1], NOW).unwrap().workspaces().len(),
        1
    );
    let change = l.withdraw(ws1, owner(), Role::Owner, Purpose::EmojiSuggestions, NOW + 5).unwrap().unwrap();
    let snap = Gate::snapshot(&l, &src, Purpose::EmojiSuggestions, &[ws1], NOW).unwrap();
    assert!(snap.workspaces().is_empty());
    assert_eq!(
        snap.excluded()[0].reason,
        ExclusionReason::Withdrawn { entry_seq: change.entry.seq, entry_hash: change.entry.hash }
    );
}

#[test]
fn a_tampered_ledger_lets_nothing_through() {
    let (src, ws1, _) = world();
    let l = ledger();
    grant(&l, ws1, Purpose::EmojiSuggestions, Scope::Workspace, &[Category::Messages], MemberMode::OptIn);
    // Someone edits the stored grant to opt_out, to include members who never said yes.
    l.store().tamper(ws1, |e| {
        if let confab_consent::Action::Grant { members, .. } = &mut e[0].action {
            *members = MemberMode::OptOut;
        }
    });
    let snap = Gate::snapshot(&l, &src, Purpose::EmojiSuggestions, &[ws1], NOW).unwrap();
    assert!(snap.workspaces().is_empty());
    assert!(matches!(snap.excluded()[0].reason, ExclusionReason::LedgerInvalid { seq: 1, .. }));
}

#[test]
fn the_cut_off_and_deletions_are_respected() {
    let (mut src, ws1, _) = world();
    src.messages[1].deleted = true;
    let l = ledger();
    grant(
        &l,
        ws1,
        Purpose::EmojiSuggestions,
        Scope::Workspace,
        &[Category::Messages, Category::Reactions],
        MemberMode::OptOut,
    );
    let snap = Gate::snapshot(&l, &src, Purpose::EmojiSuggestions, &[ws1], 15).unwrap();
    let w = snap.for_workspace(ws1).unwrap();
    assert_eq!(w.messages().len(), 1);
    assert_eq!(w.messages()[0].created_at, 10);
    let snap = Gate::snapshot(&l, &src, Purpose::EmojiSuggestions, &[ws1], 5).unwrap();
    assert_eq!(snap.record_count(), 0);
    let snap = Gate::snapshot(&l, &src, Purpose::EmojiSuggestions, &[ws1], NOW).unwrap();
    assert!(snap.for_workspace(ws1).unwrap().messages().iter().all(|m| m.text != "lunch?"));
}

#[test]
fn shared_view_holds_only_shared_scope_workspaces() {
    let (mut src, ws1, ws2) = world();
    // Make ws2's channel data ordinary so it can be granted too.
    src.messages[4].text = "ws2 public".into();
    let l = ledger();
    grant(&l, ws1, Purpose::EmojiSuggestions, Scope::Workspace, &[Category::Messages], MemberMode::OptOut);
    grant(&l, ws2, Purpose::EmojiSuggestions, Scope::Shared, &[Category::Messages], MemberMode::OptOut);
    let snap = Gate::snapshot(&l, &src, Purpose::EmojiSuggestions, &[ws2, ws1], NOW).unwrap();
    let ids: Vec<WorkspaceId> = snap.workspaces().iter().map(|w| w.workspace()).collect();
    assert_eq!(ids, [ws1, ws2], "sorted by workspace");
    let shared = snap.shared_view();
    assert_eq!(shared.workspaces().len(), 1);
    assert_eq!(shared.workspaces()[0].workspace(), ws2);
    assert_eq!(shared.excluded()[0].workspace, ws1);
    assert_eq!(shared.excluded()[0].reason, ExclusionReason::WorkspaceScopeOnly);
    assert!(!serde_json::to_string(&shared).unwrap().contains("hello team"));
}

#[test]
fn the_order_of_the_source_does_not_matter() {
    let (src, ws1, _) = world();
    let l = ledger();
    for purpose in Purpose::ALL {
        grant(&l, ws1, purpose, Scope::Workspace, &all_categories(purpose), MemberMode::OptOut);
    }
    let mut reversed = src.clone();
    reversed.channels.reverse();
    reversed.messages.reverse();
    reversed.memberships.reverse();
    reversed.search_interactions.reverse();
    for m in &mut reversed.messages {
        for r in &mut m.reactions {
            r.users.reverse();
        }
    }
    for purpose in Purpose::ALL {
        let a = Gate::snapshot(&l, &src, purpose, &[ws1], NOW).unwrap();
        let b = Gate::snapshot(&l, &reversed, purpose, &[ws1], NOW).unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    }
}

// ---------------------------------------------------------------------------------
// A member's key is theirs (issue 11, defect 6)
// ---------------------------------------------------------------------------------

/// A ledger with a grant, two members' keys and a withdrawal.
fn ledger_with_keys() -> (Ledger<MemoryLedgerStore>, WorkspaceId, UserId, UserId) {
    let l = ledger();
    let ws = workspace_id(1);
    let (bob, carol) = (user_id(20), user_id(30));
    grant(
        &l,
        ws,
        Purpose::EmojiSuggestions,
        Scope::Workspace,
        &all_categories(Purpose::EmojiSuggestions),
        MemberMode::OptOut,
    );
    l.set_member(ws, bob, Purpose::EmojiSuggestions, false, 2).unwrap();
    l.set_member(ws, carol, Purpose::EmojiSuggestions, true, 3).unwrap();
    l.withdraw(ws, owner(), Role::Owner, Purpose::EmojiSuggestions, 4).unwrap();
    (l, ws, bob, carol)
}

#[test]
fn a_history_shown_to_others_hides_each_members_key_and_still_verifies() {
    let (l, ws, bob, carol) = ledger_with_keys();
    let full = l.export(ws).unwrap();
    assert!(full.verification.is_ok());
    let shown = full.clone().shown_to(carol);
    let text = serde_json::to_string(&shown).unwrap();
    assert!(!text.contains(&bob.to_string()), "Carol sees Bob's key: {text}");
    // Carol's own entry keeps its opening; Bob's has none and names nobody.
    let keys: Vec<_> = shown.entries.iter().filter(|e| e.is_member_key()).collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys.iter().filter(|e| e.opening.is_some()).count(), 1);
    assert!(keys.iter().all(|e| e.actor == confab_consent::sealed_actor()));
    assert!(shown.entries.iter().any(|e| e.member_key() == Some((Purpose::EmojiSuggestions, carol, true))));
    // Every hash is kept and recomputes: the whole chain verifies as shown ...
    assert!(confab_consent::verify_shown(ws, &shown.entries).is_ok());
    for (a, b) in full.entries.iter().zip(&shown.entries) {
        assert_eq!(a.hash, b.hash);
    }
    // ... but not as a stored ledger (an opening is missing), and tampering with what
    // is shown is still caught.
    assert!(!confab_consent::verify_entries(ws, &shown.entries).is_ok());
    let mut forged = shown.entries.clone();
    if let confab_consent::Action::MemberSet { commitment, .. } = &mut forged[1].action {
        *commitment = Some("00".repeat(32));
    }
    assert_eq!(confab_consent::verify_shown(ws, &forged).first_bad.map(|(seq, _)| seq), Some(2));
    // The operator's verification checks the openings against their commitments.
    l.store().tamper(ws, |e| e[1].opening.as_mut().unwrap().included = true);
    let report = l.verify(ws).unwrap();
    assert_eq!(report.first_bad.map(|(seq, _)| seq), Some(2), "an opening edited behind the ledger");
}

#[test]
fn a_sealed_key_cannot_be_opened_by_trying_every_member() {
    // Member ids are public and an entry's other fields are shown: if the hash covered
    // the member directly, anyone could find them by trying each id. The commitment
    // has a random nonce, so trying every member and both choices finds nothing.
    let (l, ws, bob, carol) = ledger_with_keys();
    let shown = l.export(ws).unwrap().shown_to(owner());
    let sealed = &shown.entries[1];
    let confab_consent::Action::MemberSet { commitment: Some(commitment), .. } = &sealed.action else {
        panic!("not sealed: {sealed:?}");
    };
    for user in [bob, carol, owner(), user_id(21)] {
        for included in [true, false] {
            for nonce in ["", "0", &"0".repeat(32)] {
                let guess = confab_consent::KeyOpening { user, included, nonce: nonce.to_owned() };
                assert_ne!(&guess.commitment(ws, Purpose::EmojiSuggestions), commitment);
            }
        }
    }
    // And two identical choices do not look alike.
    let l2 = ledger();
    l2.set_member(ws, bob, Purpose::EmojiSuggestions, false, 2).unwrap();
    l2.set_member(ws, bob, Purpose::EmojiSuggestions, false, 2).unwrap();
    let e = l2.export(ws).unwrap().entries;
    assert_ne!(e[0].action, e[1].action);
}

#[test]
fn a_key_change_is_announced_to_the_member_alone() {
    let (l, ws, bob, _) = ledger_with_keys();
    let change = l.set_member(ws, bob, Purpose::EmojiSuggestions, true, 9).unwrap();
    let event = change.to_event();
    assert_eq!(event.audience(), confab_core::event::Audience::User(bob));
    let req = grant_request(
        Purpose::EmojiSuggestions,
        Scope::Workspace,
        &all_categories(Purpose::EmojiSuggestions),
        MemberMode::OptOut,
    );
    let change = l.grant(ws, owner(), Role::Owner, req, 10).unwrap();
    assert_eq!(change.to_event().audience(), confab_core::event::Audience::Workspace);
}

#[test]
fn preview_is_the_snapshot_restricted_to_one_workspace() {
    let (mut src, ws1, ws2) = world();
    src.messages[4].text = "ws2 public".into();
    let l = ledger();
    for purpose in Purpose::ALL {
        grant(&l, ws1, purpose, Scope::Workspace, &all_categories(purpose), MemberMode::OptOut);
        grant(&l, ws2, purpose, Scope::Shared, &all_categories(purpose), MemberMode::OptOut);
    }
    for purpose in Purpose::ALL {
        let all = Gate::snapshot(&l, &src, purpose, &[ws1, ws2], NOW).unwrap();
        for ws in [ws1, ws2] {
            let preview = Gate::preview(&l, &src, ws, purpose, NOW).unwrap();
            assert_eq!(preview.workspaces().len(), 1);
            assert_eq!(preview.for_workspace(ws), all.for_workspace(ws));
        }
    }
}

/// A member's preview is their own part of the workspace's: their messages, their
/// reactions (naming only them), their memberships and searches; nothing of the other
/// member's, whose text is never in it.
#[test]
fn a_members_view_holds_only_their_own_records() {
    let (src, ws1, _) = world();
    let (alice, bob) = (user_id(10), user_id(11));
    let l = ledger();
    for purpose in Purpose::ALL {
        grant(&l, ws1, purpose, Scope::Workspace, &all_categories(purpose), MemberMode::OptOut);
    }
    for purpose in Purpose::ALL {
        let preview = Gate::preview(&l, &src, ws1, purpose, NOW).unwrap();
        let whole = preview.for_workspace(ws1).unwrap();
        let mine = preview.only_member(bob);
        let mine = mine.for_workspace(ws1).unwrap();
        assert!(mine.messages().iter().all(|m| m.author == bob));
        assert_eq!(mine.messages().len(), whole.messages().iter().filter(|m| m.author == bob).count());
        let json = serde_json::to_string(&preview.only_member(bob)).unwrap();
        assert!(!json.contains("hello team"), "alice's text in bob's view: {json}");
        assert!(mine.reactions().iter().all(|r| r.users == [bob]));
        assert_eq!(
            mine.reactions().len(),
            whole.reactions().iter().filter(|r| r.users.contains(&bob)).count()
        );
        assert!(mine.memberships().iter().all(|m| m.user == bob));
        assert!(mine.search_interactions().iter().all(|s| s.user == bob));
        assert!(!json.contains(&alice.to_string()) || purpose == Purpose::SearchRanking, "{json}");
        assert_eq!(mine.allowed_by(), whole.allowed_by());
    }
    // Bob's own messages are in his view when a purpose reads messages.
    let emoji = Gate::preview(&l, &src, ws1, Purpose::EmojiSuggestions, NOW).unwrap().only_member(bob);
    assert!(serde_json::to_string(&emoji).unwrap().contains("lunch?"));
}

// ---- Property test: random ledgers and data against an independent model ----

/// One thing that happens to the ledger.
#[derive(Clone, Debug)]
enum Op {
    Grant { ws: u64, purpose: usize, scope: bool, categories: u8, opt_in: bool },
    Withdraw { ws: u64, purpose: usize },
    Member { ws: u64, purpose: usize, user: u64, included: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3u64, 0..3usize, any::<bool>(), 1..4u8, any::<bool>()).prop_map(
            |(ws, purpose, scope, categories, opt_in)| Op::Grant { ws, purpose, scope, categories, opt_in }
        ),
        (0..3u64, 0..3usize).prop_map(|(ws, purpose)| Op::Withdraw { ws, purpose }),
        (0..3u64, 0..3usize, 0..4u64, any::<bool>())
            .prop_map(|(ws, purpose, user, included)| { Op::Member { ws, purpose, user, included } }),
    ]
}

/// A record in the world, tagged so we can compute what should be read.
#[derive(Clone, Debug)]
struct Msg {
    ws: u64,
    ch: u64,
    author: u64,
    reactors: Vec<u64>,
    at: i64,
}

fn kind_of(ch: u64) -> ChannelKind {
    [ChannelKind::Public, ChannelKind::Private, ChannelKind::Dm][(ch % 3) as usize]
}

/// Channel `ch` of workspace `ws` (3 per workspace, kinds by `ch`).
fn ch_id(ws: u64, ch: u64) -> ChannelId {
    channel_id(ws * 10 + ch)
}

fn build_source(msgs: &[Msg], joins: &[(u64, u64, u64)], searches: &[(u64, u64, u64, u64)]) -> MemorySource {
    let mut src = MemorySource::default();
    for ws in 0..3 {
        for ch in 0..3 {
            src.channels.push(channel(workspace_id(ws), ch_id(ws, ch), kind_of(ch)));
        }
    }
    for (i, m) in msgs.iter().enumerate() {
        let text = format!("m{i} ws{} ch{} by{}", m.ws, m.ch, m.author);
        let reactors = m.reactors.iter().map(|u| user_id(*u)).collect();
        src.messages.push(message(
            workspace_id(m.ws),
            ch_id(m.ws, m.ch),
            i as u64 + 1,
            message_id(i as u64),
            user_id(m.author),
            &text,
            m.at,
            vec![("👍", reactors)],
        ));
    }
    for &(ws, ch, user) in joins {
        src.memberships.push((
            workspace_id(ws),
            MembershipRecord { channel: ch_id(ws, ch), user: user_id(user), joined_at: 1 },
        ));
    }
    for (i, &(ws, ch, user, author)) in searches.iter().enumerate() {
        src.search_interactions.push((
            workspace_id(ws),
            search(user_id(user), ch_id(ws, ch), user_id(author), i as i64, i % 2 == 0),
        ));
    }
    src
}

/// The rules, restated from the design without the crate's code: per (ws, purpose)
/// the grant in force and who is included.
#[derive(Default)]
struct Model {
    /// (ws, purpose) -> (categories, opt_in, op index of the grant).
    grants: BTreeMap<(u64, usize), (BTreeSet<Category>, bool, usize)>,
    /// (ws, purpose, user) -> (included, op index).
    keys: BTreeMap<(u64, usize, u64), (bool, usize)>,
}

fn categories_from(purpose: Purpose, mask: u8) -> Vec<Category> {
    let allowed = purpose.allowed_categories();
    (0..allowed.len()).filter(|i| mask & (1 << i) != 0).map(|i| allowed[i]).collect()
}

impl Model {
    fn included(&self, ws: u64, p: usize, user: u64) -> bool {
        let Some((_, opt_in, granted_at)) = self.grants.get(&(ws, p)) else {
            return false;
        };
        match self.keys.get(&(ws, p, user)) {
            Some((false, _)) => false,
            Some((true, at)) => !opt_in || at > granted_at,
            None => !opt_in,
        }
    }
    fn reads(&self, ws: u64, p: usize, c: Category) -> bool {
        self.grants.get(&(ws, p)).is_some_and(|(cats, _, _)| cats.contains(&c))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn snapshots_hold_exactly_what_consent_allows(
        ops in prop::collection::vec(op(), 0..20),
        msgs in prop::collection::vec(
            (0..3u64, 0..3u64, 0..4u64, prop::collection::vec(0..4u64, 0..3), 0..20i64)
                .prop_map(|(ws, ch, author, reactors, at)| Msg { ws, ch, author, reactors, at }),
            0..24,
        ),
        joins in prop::collection::vec((0..3u64, 0..3u64, 0..4u64), 0..12),
        searches in prop::collection::vec((0..3u64, 0..3u64, 0..4u64, 0..4u64), 0..12),
        cut_off in 0..25i64,
    ) {
        check_snapshots(&ops, &msgs, &joins, &searches, cut_off)?;
    }
}

/// The property: for random ledger operations and data, each purpose's snapshot
/// holds exactly the records the model says consent allows, and preview agrees.
fn check_snapshots(
    ops: &[Op],
    msgs: &[Msg],
    joins: &[(u64, u64, u64)],
    searches: &[(u64, u64, u64, u64)],
    cut_off: i64,
) -> Result<(), TestCaseError> {
    let l = ledger();
    let mut model = Model::default();
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Grant { ws, purpose, scope, categories, opt_in } => {
                let p = Purpose::ALL[purpose];
                let cats = categories_from(p, categories);
                let scope = if scope { Scope::Shared } else { Scope::Workspace };
                let mode = if opt_in { MemberMode::OptIn } else { MemberMode::OptOut };
                let result = l.grant(
                    workspace_id(ws),
                    owner(),
                    Role::Owner,
                    grant_request(p, scope, &cats, mode),
                    i as i64,
                );
                if cats.is_empty() {
                    prop_assert!(result.is_err());
                } else {
                    result.unwrap();
                    model.grants.insert((ws, purpose), (cats.into_iter().collect(), opt_in, i));
                }
            }
            Op::Withdraw { ws, purpose } => {
                let change = l
                    .withdraw(workspace_id(ws), owner(), Role::Owner, Purpose::ALL[purpose], i as i64)
                    .unwrap();
                prop_assert_eq!(change.is_some(), model.grants.remove(&(ws, purpose)).is_some());
            }
            Op::Member { ws, purpose, user, included } => {
                l.set_member(workspace_id(ws), user_id(user), Purpose::ALL[purpose], included, i as i64)
                    .unwrap();
                model.keys.insert((ws, purpose, user), (included, i));
            }
        }
    }
    let src = build_source(msgs, joins, searches);
    let all_ws: Vec<WorkspaceId> = (0..3).map(workspace_id).collect();
    for (p_idx, purpose) in Purpose::ALL.into_iter().enumerate() {
        let snap: Snapshot = Gate::snapshot(&l, &src, purpose, &all_ws, cut_off).unwrap();
        let included_ws: BTreeSet<u64> =
            (0..3).filter(|ws| model.grants.contains_key(&(*ws, p_idx))).collect();
        let got_ws: BTreeSet<u64> =
            (0..3).filter(|ws| snap.for_workspace(workspace_id(*ws)).is_some()).collect();
        prop_assert_eq!(&got_ws, &included_ws);
        prop_assert_eq!(snap.excluded().len(), 3 - included_ws.len());

        for ws in 0..3u64 {
            let public = |ch: u64| kind_of(ch) == ChannelKind::Public;
            let inc = |u: u64| model.included(ws, p_idx, u);
            // Expected records, computed from the model.
            let mut want_msgs = Vec::new();
            let mut want_reactions = Vec::new();
            for (i, m) in msgs.iter().enumerate() {
                if m.ws != ws || !public(m.ch) || m.at > cut_off || !inc(m.author) {
                    continue;
                }
                if model.reads(ws, p_idx, Category::Messages) {
                    want_msgs.push(message_id(i as u64));
                }
                let users: BTreeSet<UserId> =
                    m.reactors.iter().filter(|u| inc(**u)).map(|u| user_id(*u)).collect();
                if model.reads(ws, p_idx, Category::Reactions) && !users.is_empty() {
                    want_reactions.push((message_id(i as u64), users.into_iter().collect::<Vec<_>>()));
                }
            }
            let mut want_joins: Vec<(ChannelId, UserId)> = joins
                .iter()
                .filter(|(w, ch, u)| {
                    *w == ws
                        && JOINED_AT <= cut_off
                        && public(*ch)
                        && inc(*u)
                        && model.reads(ws, p_idx, Category::Memberships)
                })
                .map(|(w, ch, u)| (ch_id(*w, *ch), user_id(*u)))
                .collect();
            want_joins.sort();
            want_joins.dedup();
            let want_searches = searches
                .iter()
                .enumerate()
                .filter(|(i, (w, ch, u, a))| {
                    *w == ws
                        && public(*ch)
                        && inc(*u)
                        && inc(*a)
                        && (*i as i64) <= cut_off
                        && model.reads(ws, p_idx, Category::SearchInteractions)
                })
                .count();

            let Some(w) = snap.for_workspace(workspace_id(ws)) else {
                prop_assert!(
                    want_msgs.is_empty()
                        && want_reactions.is_empty()
                        && want_joins.is_empty()
                        && want_searches == 0
                );
                continue;
            };
            let mut got_msgs: Vec<_> = w.messages().iter().map(|m| m.id).collect();
            got_msgs.sort();
            want_msgs.sort();
            prop_assert_eq!(got_msgs, want_msgs);
            let mut got_reactions: Vec<_> =
                w.reactions().iter().map(|r| (r.message, r.users.clone())).collect();
            got_reactions.sort();
            want_reactions.sort();
            prop_assert_eq!(got_reactions, want_reactions);
            let got_joins: Vec<_> = w.memberships().iter().map(|m| (m.channel, m.user)).collect();
            prop_assert_eq!(got_joins, want_joins);
            prop_assert_eq!(w.search_interactions().len(), want_searches);
            // Nothing from another workspace, a private channel or a DM, by construction of ids.
            for m in w.messages() {
                prop_assert!(m.channel == ch_id(ws, 0));
            }
            // Preview serves the same records.
            let preview = Gate::preview(&l, &src, workspace_id(ws), purpose, cut_off).unwrap();
            prop_assert_eq!(preview.for_workspace(workspace_id(ws)), Some(w));
        }
        // Every workspace's chain verifies.
        for ws in &all_ws {
            prop_assert!(l.verify(*ws).unwrap().is_ok());
        }
    }
    Ok(())
}
