//! The `files` category: a file reaches a snapshot only under a grant that names it,
//! only when attached to a message the gate admitted, and with no more text than the
//! policy promises.

use confab_consent::{Category, ConsentError, FILE_TEXT_MAX_BYTES, Gate, Ledger, MemberMode, Purpose, Scope};
use confab_core::{ChannelKind, Millis, Role, UserId, WorkspaceId};
use confab_test_support::consent::{
    MemoryLedgerStore, MemorySource, channel, channel_id, file_id, grant_request, message, message_id,
    text_file, user_id, workspace_id,
};

const NOW: Millis = 1_000;
const PRIVATE_FILE: &str = "private-canary-4b1d";
const STRAY_FILE: &str = "stray-canary-90ce";

fn owner() -> UserId {
    user_id(1)
}

/// One workspace: alice's message in a public channel carries a text file; bob's
/// message in a private channel carries another. The source is careless: it hands
/// the gate every file it holds for any message, and a stray file that names alice's
/// message although the message does not name it.
fn world() -> (MemorySource, WorkspaceId) {
    let ws = workspace_id(1);
    let (public, private) = (channel_id(1), channel_id(2));
    let (alice, bob) = (user_id(10), user_id(11));
    let mut in_public =
        message(ws, public, 1, message_id(1), alice, "notes attached", 10, vec![("📝", vec![bob])]);
    in_public.files = vec![file_id(1)];
    let mut in_private =
        message(ws, private, 1, message_id(2), bob, "secret notes", 20, vec![("🔒", vec![alice])]);
    in_private.files = vec![file_id(2)];
    let source = MemorySource {
        channels: vec![channel(ws, public, ChannelKind::Public), channel(ws, private, ChannelKind::Private)],
        messages: vec![in_public, in_private],
        files: vec![
            text_file(file_id(1), message_id(1), "alice-plan.txt", "the roadmap for spring"),
            text_file(file_id(2), message_id(2), PRIVATE_FILE, PRIVATE_FILE),
            text_file(file_id(3), message_id(1), STRAY_FILE, STRAY_FILE),
        ],
        ..MemorySource::default()
    };
    (source, ws)
}

fn grant(ledger: &Ledger<MemoryLedgerStore>, ws: WorkspaceId, categories: &[Category], mode: MemberMode) {
    let request = grant_request(Purpose::EmojiSuggestions, Scope::Workspace, categories, mode);
    ledger.grant(ws, owner(), Role::Owner, request, 1).expect("grant");
}

#[test]
fn without_the_category_no_file_is_read() {
    let (source, ws) = world();
    let ledger = Ledger::new(MemoryLedgerStore::new());
    grant(&ledger, ws, &[Category::Messages, Category::Reactions], MemberMode::OptOut);
    let snap = Gate::snapshot(&ledger, &source, Purpose::EmojiSuggestions, &[ws], NOW).unwrap();
    let w = snap.for_workspace(ws).unwrap();
    assert!(w.files().is_empty());
    assert_eq!(w.messages().len(), 1, "the message itself is read");
    let json = serde_json::to_string(&snap).unwrap();
    for secret in ["alice-plan", "roadmap", PRIVATE_FILE, STRAY_FILE, &file_id(1).to_string()] {
        assert!(!json.contains(secret), "{secret} in {json}");
    }
}

#[test]
fn with_the_category_only_the_files_of_admitted_messages_are_read() {
    let (source, ws) = world();
    let ledger = Ledger::new(MemoryLedgerStore::new());
    grant(&ledger, ws, &[Category::Messages, Category::Reactions, Category::Files], MemberMode::OptOut);
    let snap = Gate::snapshot(&ledger, &source, Purpose::EmojiSuggestions, &[ws], NOW).unwrap();
    let w = snap.for_workspace(ws).unwrap();
    let files: Vec<(&str, Option<&str>)> =
        w.files().iter().map(|f| (f.name.as_str(), f.text.as_deref())).collect();
    assert_eq!(files, [("alice-plan.txt", Some("the roadmap for spring"))]);
    let f = &w.files()[0];
    assert_eq!((f.message, f.author, f.channel, f.seq), (message_id(1), user_id(10), channel_id(1), 1));
    assert_eq!(w.record_count(), 3, "a message, a reaction and a file");
    let json = serde_json::to_string(&snap).unwrap();
    assert!(!json.contains(PRIVATE_FILE), "a private channel's file: {json}");
    assert!(!json.contains(STRAY_FILE), "a file the message does not name: {json}");
}

#[test]
fn files_alone_read_no_message_text() {
    let (source, ws) = world();
    let ledger = Ledger::new(MemoryLedgerStore::new());
    grant(&ledger, ws, &[Category::Files], MemberMode::OptOut);
    let snap = Gate::snapshot(&ledger, &source, Purpose::EmojiSuggestions, &[ws], NOW).unwrap();
    let w = snap.for_workspace(ws).unwrap();
    assert_eq!(w.files().len(), 1);
    assert!(w.messages().is_empty() && w.reactions().is_empty());
    assert!(!serde_json::to_string(&snap).unwrap().contains("notes attached"));
}

#[test]
fn a_files_text_is_cut_to_what_the_policy_promises() {
    let (mut source, ws) = world();
    // Multi-byte characters straddle the bound: the cut lands on a character boundary.
    source.files[0].text = Some("é".repeat(FILE_TEXT_MAX_BYTES));
    let ledger = Ledger::new(MemoryLedgerStore::new());
    grant(&ledger, ws, &[Category::Files], MemberMode::OptOut);
    let snap = Gate::snapshot(&ledger, &source, Purpose::EmojiSuggestions, &[ws], NOW).unwrap();
    let text = snap.for_workspace(ws).unwrap().files()[0].text.clone().unwrap();
    assert!(text.len() <= FILE_TEXT_MAX_BYTES && text.len() > FILE_TEXT_MAX_BYTES - 4, "{}", text.len());
    assert!(text.chars().all(|c| c == 'é'));
}

#[test]
fn an_excluded_members_files_are_not_read_and_a_member_sees_only_their_own() {
    let (mut source, ws) = world();
    let (alice, bob) = (user_id(10), user_id(11));
    let mut bobs = message(ws, channel_id(1), 2, message_id(3), bob, "mine too", 30, vec![]);
    bobs.files = vec![file_id(4)];
    source.messages.push(bobs);
    source.files.push(text_file(file_id(4), message_id(3), "bob-list.txt", "groceries"));
    let ledger = Ledger::new(MemoryLedgerStore::new());
    grant(&ledger, ws, &[Category::Messages, Category::Files], MemberMode::OptOut);

    let preview = Gate::preview(&ledger, &source, ws, Purpose::EmojiSuggestions, NOW).unwrap();
    assert_eq!(preview.for_workspace(ws).unwrap().files().len(), 2);
    let bobs_view = preview.only_member(bob);
    let names: Vec<&str> =
        bobs_view.for_workspace(ws).unwrap().files().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["bob-list.txt"], "bob's preview shows his file and not alice's");

    ledger.set_member(ws, alice, Purpose::EmojiSuggestions, false, 2).expect("alice excludes herself");
    let snap = Gate::snapshot(&ledger, &source, Purpose::EmojiSuggestions, &[ws], NOW).unwrap();
    let names: Vec<&str> = snap.for_workspace(ws).unwrap().files().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["bob-list.txt"], "an excluded member's files are not read");
}

#[test]
fn only_a_purpose_whose_policy_names_files_may_be_granted_them() {
    let (_, ws) = world();
    let ledger = Ledger::new(MemoryLedgerStore::new());
    for purpose in [Purpose::SearchRanking, Purpose::ChannelSuggestions] {
        let request = grant_request(
            purpose,
            Scope::Workspace,
            &[Category::Messages, Category::Files],
            MemberMode::OptOut,
        );
        let refused = ledger.grant(ws, owner(), Role::Owner, request, 1);
        assert!(
            matches!(refused, Err(ConsentError::CategoryNotAllowed { category: Category::Files, .. })),
            "{purpose}: {refused:?}"
        );
    }
    let policy = confab_consent::current_policy(Purpose::EmojiSuggestions);
    assert!(policy.text.contains("`files`") && policy.version >= 2, "the policy names files");
}
