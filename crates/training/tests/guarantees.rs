//! The guarantees of consent-gated training, each as a test that could fail:
//! non-interference, canaries, rarity, withdrawal with exact unlearning, isolation,
//! the gate as a type, the privacy budget, and that learning beats the defaults.
//!
//! One integration-test binary (one link step).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use confab_consent::{
    Category, ExclusionReason, Gate, Ledger, MemberMode, MembershipRecord, Purpose, Scope, SearchInteraction,
    Snapshot,
};
use confab_core::{ChannelKind, Millis, Role, UserId, WorkspaceId};
use confab_recommend::{ChannelWeights, EmojiAssociationModel};
use confab_search::ranking::RankingWeights;
use confab_test_support::consent::{
    MemoryLedgerStore, MemorySource, channel, channel_id, file_id, grant_request, message, message_id,
    text_file, user_id, workspace_id,
};
use confab_test_support::training::{self as simulated, ClickConfig};
use confab_training::{
    BudgetPlan, ModelRegistry, NoiseSource, TrainedModel, TrainingConfig, TrainingError, dry_run, train,
    train_within_budget,
};

const HOUR: Millis = 60 * 60 * 1000;
const DAY: Millis = 24 * HOUR;
const T0: Millis = 1_700_000_000_000;
const NOW: Millis = T0 + 60 * DAY;
const SEED: NoiseSource = NoiseSource::Seeded(42);

const A: u64 = 1;
const B: u64 = 2;
const C: u64 = 3;
const D: u64 = 4;

const CANARY_OPTED_OUT: &str = "zqxcanarybeta";
const CANARY_PRIVATE: &str = "zqxcanaryalpha";
const RARE_WORD: &str = "raremonkeyword";
const ONLY_IN_A: &str = "onlyinaword";

/// Words that go with an emoji in every fixture workspace.
const SIGNALS: [(&str, &str); 6] = [
    ("deploy", "🚀"),
    ("outage", "🔥"),
    ("merged", "🎉"),
    ("friday", "🍻"),
    ("standup", "☕"),
    ("review", "👀"),
];
const FILLER: [&str; 10] =
    ["today", "team", "meeting", "plan", "update", "ticket", "design", "client", "report", "call"];

/// A tiny deterministic generator, one per workspace so a workspace's data does not
/// depend on which others exist.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn ws(n: u64) -> WorkspaceId {
    workspace_id(n)
}

fn member(w: u64, i: u64) -> UserId {
    user_id(w * 100 + i)
}

/// Workspace `w`'s data: ten members, a public `general` and `dev` channel, a private
/// channel, 240 reacted messages over 40 days, memberships and search logs. Workspace A
/// also has a word only it uses (six authors), a word too rare to learn (three authors)
/// and a canary in its private channel; workspace B a canary everyone there uses.
fn add_workspace(source: &mut MemorySource, w: u64) {
    let wid = ws(w);
    let mut rng = Lcg(w);
    let general = channel_id(w * 10 + 1);
    let dev = channel_id(w * 10 + 3);
    let private = channel_id(w * 10 + 2);
    for (c, kind) in
        [(general, ChannelKind::Public), (dev, ChannelKind::Public), (private, ChannelKind::Private)]
    {
        let mut ch = channel(wid, c, kind);
        ch.created_at = T0 - DAY;
        source.channels.push(ch);
    }
    let users: Vec<UserId> = (0..10).map(|i| member(w, i)).collect();
    let dev_joined: Vec<Millis> = (0..10).map(|i| T0 + (i as Millis) * 4 * DAY + 1).collect();
    for (i, &u) in users.iter().enumerate() {
        source.memberships.push((wid, MembershipRecord { channel: general, user: u, joined_at: T0 - 1 }));
        source.memberships.push((wid, MembershipRecord { channel: dev, user: u, joined_at: dev_joined[i] }));
        source.memberships.push((wid, MembershipRecord { channel: private, user: u, joined_at: T0 - 1 }));
    }
    let mut poster = Poster { wid, seq: BTreeMap::new(), next: w * 1_000_000 };
    for n in 0..240u64 {
        let at = T0 + (n as Millis) * 4 * HOUR;
        let a = (n % 10) as usize;
        let (word, emoji) = SIGNALS[(n % 6) as usize];
        let text = format!("{word} {} {}", FILLER[rng.below(10) as usize], FILLER[rng.below(10) as usize]);
        let c = if at > dev_joined[a] && rng.below(2) == 0 { dev } else { general };
        let emoji = if rng.below(10) < 8 { emoji } else { "👍" };
        let by = vec![users[(a + 1) % 10], users[(a + 3) % 10]];
        poster.post(source, c, users[a], &text, at, (emoji, by));
    }
    // `word` written by the first `authors` members, four times each, always reacted to.
    let mut extra = |source: &mut MemorySource, word: &str, authors: usize, c, emoji: &str| {
        for round in 0..4u64 {
            for (i, &u) in users.iter().enumerate().take(authors) {
                let at = T0 + (round as Millis) * 7 * DAY + (i as Millis) * HOUR + 30 * 60 * 1000;
                let by = vec![users[(i + 5) % 10], users[(i + 7) % 10]];
                poster.post(source, c, u, &format!("{word} today"), at, (emoji, by));
            }
        }
    };
    if w == A {
        extra(source, ONLY_IN_A, 6, general, "🦄");
        extra(source, RARE_WORD, 3, general, "🐒");
        extra(source, CANARY_PRIVATE, 10, private, "🐤");
    }
    if w == B {
        extra(source, CANARY_OPTED_OUT, 10, general, "🐤");
    }
    // Search logs: searchers click messages by the next member over.
    let public: Vec<(usize, &confab_core::Message)> = source
        .messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.workspace == wid && m.channel != private)
        .collect();
    let mut logs = Vec::new();
    for q in 0..120u64 {
        let searcher = users[(q % 10) as usize];
        let favourite = users[((q + 1) % 10) as usize];
        let at = T0 + 5 * DAY + (q as Millis) * 8 * HOUR;
        for r in 0..6u64 {
            let (_, m) = public[rng.below(public.len() as u64) as usize];
            let fav = m.author == favourite;
            let mut features = BTreeMap::new();
            features.insert("text".to_owned(), if r == 0 { 1.0 } else { rng.below(100) as f64 / 100.0 });
            features.insert("author_affinity".to_owned(), if fav { 0.9 } else { 0.1 });
            features.insert("recency".to_owned(), rng.below(100) as f64 / 100.0);
            logs.push((
                wid,
                SearchInteraction {
                    user: searcher,
                    at,
                    query_id: format!("{w}-{q}"),
                    message: m.id,
                    channel: m.channel,
                    author: m.author,
                    features,
                    clicked: fav || rng.below(10) == 0,
                },
            ));
        }
    }
    source.search_interactions.extend(logs);
}

/// Appends messages to one workspace with per-channel seqs and stable ids.
struct Poster {
    wid: WorkspaceId,
    seq: BTreeMap<confab_core::ChannelId, u64>,
    next: u64,
}

impl Poster {
    fn post(
        &mut self,
        source: &mut MemorySource,
        c: confab_core::ChannelId,
        author: UserId,
        text: &str,
        at: Millis,
        (emoji, by): (&str, Vec<UserId>),
    ) {
        let s = self.seq.entry(c).or_insert(0);
        *s += 1;
        self.next += 1;
        let reactions = if by.is_empty() { Vec::new() } else { vec![(emoji, by)] };
        source.messages.push(message(self.wid, c, *s, message_id(self.next), author, text, at, reactions));
    }
}

fn fixture(workspaces: &[u64]) -> MemorySource {
    let mut source = MemorySource { well_behaved: true, ..MemorySource::default() };
    for &w in workspaces {
        add_workspace(&mut source, w);
    }
    source
}

/// The source as it would be had `user` never existed in `w`.
fn delete_member(source: &MemorySource, user: UserId) -> MemorySource {
    let mut out = source.clone();
    out.messages.retain(|m| m.author != user);
    for m in &mut out.messages {
        for r in &mut m.reactions {
            r.users.retain(|u| *u != user);
        }
        m.reactions.retain(|r| !r.users.is_empty());
    }
    out.memberships.retain(|(_, m)| m.user != user);
    out.search_interactions.retain(|(_, s)| s.user != user && s.author != user);
    out
}

fn ledger_with(grants: &[(u64, Scope)], purposes: &[Purpose]) -> Ledger<MemoryLedgerStore> {
    let ledger = Ledger::new(MemoryLedgerStore::new());
    for &(w, scope) in grants {
        for &p in purposes {
            simulated::grant(&ledger, ws(w), p, scope, T0 - 2 * DAY).expect("grant");
        }
    }
    ledger
}

fn snapshot(
    ledger: &Ledger<MemoryLedgerStore>,
    source: &MemorySource,
    purpose: Purpose,
    workspaces: &[u64],
) -> Snapshot {
    let ids: Vec<WorkspaceId> = workspaces.iter().map(|&w| ws(w)).collect();
    Gate::snapshot(ledger, source, purpose, &ids, NOW).expect("snapshot")
}

fn config() -> TrainingConfig {
    TrainingConfig::default()
}

fn shared_model(models: &[TrainedModel]) -> &TrainedModel {
    models.iter().find(|m| m.manifest.scope == Scope::Shared).expect("a shared model")
}

fn own_model(models: &[TrainedModel], w: u64) -> &TrainedModel {
    models.iter().find(|m| m.manifest.workspace == Some(ws(w))).expect("the workspace's model")
}

fn emoji_words(model: &TrainedModel) -> Vec<String> {
    let m = EmojiAssociationModel::from_json(&model.artifact).expect("a valid emoji model");
    m.weights.keys().cloned().collect()
}

/// A fresh directory under the system temp dir, removed by the guard.
struct TempDir(PathBuf);
impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("confab-training-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            all_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

// ---------------------------------------------------------------------------------
// Non-interference
// ---------------------------------------------------------------------------------

#[test]
fn a_workspace_that_did_not_opt_in_changes_no_bit_of_any_model() {
    let grants = [(A, Scope::Shared), (C, Scope::Shared), (D, Scope::Workspace)];
    let with_b = fixture(&[A, B, C, D]);
    let without_b = fixture(&[A, C, D]);
    for purpose in Purpose::ALL {
        let ledger = ledger_with(&grants, &[purpose]);
        let snap_with = snapshot(&ledger, &with_b, purpose, &[A, B, C, D]);
        let snap_without = snapshot(&ledger, &without_b, purpose, &[A, C, D]);
        assert_eq!(snap_with.excluded().len(), 1, "B was asked for and left out");
        let trained_with = train(purpose, &snap_with, &config(), SEED, NOW).expect("train");
        let trained_without = train(purpose, &snap_without, &config(), SEED, NOW).expect("train");
        assert_eq!(trained_with.len(), 4, "{purpose}: A, C, D and the shared model");
        assert_eq!(trained_with, trained_without, "{purpose}: artifacts and manifests are byte-identical");
        for m in &trained_with {
            assert!(!m.manifest.includes(ws(B)));
        }
    }
}

#[test]
fn an_excluded_member_is_indistinguishable_from_a_deleted_one() {
    let leaver = member(A, 4);
    let full = fixture(&[A, C]);
    let deleted = delete_member(&full, leaver);
    assert!(deleted.messages.len() < full.messages.len(), "the member had data");
    for purpose in Purpose::ALL {
        let excluded = ledger_with(&[(A, Scope::Shared), (C, Scope::Shared)], &[purpose]);
        excluded.set_member(ws(A), leaver, purpose, false, T0).expect("member key");
        let plain = ledger_with(&[(A, Scope::Shared), (C, Scope::Shared)], &[purpose]);
        // The same number of ledger entries (manifests record the ledger's head), the
        // key set by someone who has no data.
        plain.set_member(ws(A), member(A, 99), purpose, false, T0).expect("member key");
        let with_exclusion =
            train(purpose, &snapshot(&excluded, &full, purpose, &[A, C]), &config(), SEED, NOW)
                .expect("train");
        let with_deletion =
            train(purpose, &snapshot(&plain, &deleted, purpose, &[A, C]), &config(), SEED, NOW)
                .expect("train");
        assert_eq!(with_exclusion, with_deletion, "{purpose}");
        // And the member's data did matter: with them in, A's model differs.
        let with_member =
            train(purpose, &snapshot(&plain, &full, purpose, &[A, C]), &config(), SEED, NOW).expect("train");
        assert_ne!(own_model(&with_member, A), own_model(&with_exclusion, A), "{purpose}");
    }
}

// ---------------------------------------------------------------------------------
// Canaries
// ---------------------------------------------------------------------------------

#[test]
fn canaries_appear_in_no_artifact_manifest_registry_file_snapshot_or_report() {
    let source = fixture(&[A, B, C]);
    let planted = |canary: &str| source.messages.iter().filter(|m| m.text.contains(canary)).count();
    assert!(planted(CANARY_OPTED_OUT) >= 40 && planted(CANARY_PRIVATE) >= 40, "canaries are planted, widely");
    let dir = TempDir::new("canary");
    let registry = ModelRegistry::open(dir.0.join("models")).expect("registry");
    let ledger = ledger_with(&[(A, Scope::Shared), (C, Scope::Shared)], &Purpose::ALL);
    let mut texts: Vec<String> = Vec::new();
    let mut saw_signal_word = false;
    for purpose in Purpose::ALL {
        let snap = snapshot(&ledger, &source, purpose, &[A, B, C]);
        texts.push(serde_json::to_string(&snap).expect("snapshot json"));
        texts.push(serde_json::to_string(&dry_run(&snap, &config())).expect("report json"));
        let models = train(purpose, &snap, &config(), NoiseSource::Os, NOW).expect("train");
        for m in &models {
            registry.save(m).expect("save");
            texts.push(String::from_utf8(m.artifact.clone()).expect("utf-8"));
            texts.push(serde_json::to_string(&m.manifest).expect("manifest json"));
            saw_signal_word |= String::from_utf8_lossy(&m.artifact).contains("deploy");
        }
        // Retiring writes a tombstone through a temp file: include those files too.
        registry.retire_including(ws(C), purpose, NOW).expect("retire");
    }
    assert!(saw_signal_word, "the check can see words: shared words do reach artifacts");
    let mut files = Vec::new();
    all_files(registry.root(), &mut files);
    assert!(files.len() >= 9, "manifests, artifacts and tombstones: {}", files.len());
    for f in &files {
        texts.push(String::from_utf8_lossy(&std::fs::read(f).expect("read")).into_owned());
    }
    for text in &texts {
        assert!(!text.contains(CANARY_OPTED_OUT), "opted-out canary leaked");
        assert!(!text.contains(CANARY_PRIVATE), "private-channel canary leaked");
    }
    // This crate logs nothing: there is no log to leak into (no logging dependency).
    let manifest = include_str!("../Cargo.toml");
    assert!(!manifest.contains("tracing") && !manifest.contains("log ="));
}

// ---------------------------------------------------------------------------------
// Rarity
// ---------------------------------------------------------------------------------

#[test]
fn rare_words_never_enter_and_shared_words_need_two_workspaces() {
    let source = fixture(&[A, C]);
    let ledger = ledger_with(&[(A, Scope::Shared), (C, Scope::Shared)], &[Purpose::EmojiSuggestions]);
    let snap = snapshot(&ledger, &source, Purpose::EmojiSuggestions, &[A, C]);
    // A generous ε makes the noise small: the threshold alone must keep the rare word out.
    let generous = TrainingConfig { epsilon: 8.0, ..config() };
    for seed in 0..5 {
        let models = train(Purpose::EmojiSuggestions, &snap, &generous, NoiseSource::Seeded(seed), NOW)
            .expect("train");
        let own = emoji_words(own_model(&models, A));
        let shared = emoji_words(shared_model(&models));
        assert!(own.contains(&ONLY_IN_A.to_owned()), "six authors in A: learnable for A's own model");
        assert!(!own.contains(&RARE_WORD.to_owned()), "three authors (< k = 5): never");
        assert!(!shared.contains(&RARE_WORD.to_owned()));
        assert!(!shared.contains(&ONLY_IN_A.to_owned()), "one workspace only: not in the shared model");
        assert!(shared.contains(&"deploy".to_owned()), "a word of both workspaces is learned");
        assert_eq!(shared_model(&models).manifest.privacy.min_workspaces_per_word, Some(2));
    }
    // With k raised above six authors, A's own word goes too.
    let strict = TrainingConfig { min_users_per_word: 7, ..generous };
    let models = train(Purpose::EmojiSuggestions, &snap, &strict, SEED, NOW).expect("train");
    assert!(!emoji_words(own_model(&models, A)).contains(&ONLY_IN_A.to_owned()));
}

// ---------------------------------------------------------------------------------
// Withdrawal, exact unlearning and isolation
// ---------------------------------------------------------------------------------

#[test]
fn withdrawal_stops_serving_at_once_and_the_rebuild_is_exact_unlearning() {
    let purpose = Purpose::EmojiSuggestions;
    let source = fixture(&[A, C, D]);
    let everyone = [(A, Scope::Shared), (C, Scope::Shared), (D, Scope::Shared)];
    let ledger = ledger_with(&everyone, &[purpose]);
    let dir = TempDir::new("withdrawal");
    let registry = ModelRegistry::open(dir.0.join("models")).expect("registry");

    let models = train(purpose, &snapshot(&ledger, &source, purpose, &[A, C, D]), &config(), SEED, NOW)
        .expect("train");
    for m in &models {
        assert!(m.manifest.servable, "{}: {:?}", m.manifest.id, m.manifest.evaluation);
        registry.save(m).expect("save");
    }
    let own_a = own_model(&models, A).manifest.id.clone();
    let shared = shared_model(&models).manifest.id.clone();
    let served = registry.servable_for(ws(A), purpose, &ledger).expect("read").expect("a model for A");
    assert_eq!(served.manifest.id, own_a, "A's own model first");
    assert_eq!(served.artifact, own_model(&models, A).artifact);

    // Withdraw: the ledger first, then the registry.
    ledger.withdraw(ws(A), simulated::owner(), Role::Owner, purpose, NOW + 1).expect("withdraw");
    let retired = registry.retire_including(ws(A), purpose, NOW + 1).expect("retire");
    let mut expected = vec![own_a.clone(), shared.clone()];
    expected.sort();
    let mut got = retired.models.clone();
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(retired.rebuild.len(), 1);
    assert_eq!(retired.rebuild[0].scope, Scope::Shared);
    assert_eq!(
        registry.servable_for(ws(A), purpose, &ledger).expect("read"),
        None,
        "nothing with A's data is served"
    );
    assert_eq!(registry.artifact(&shared).expect("read"), None, "the artifact is gone");
    let c_served =
        registry.servable_for(ws(C), purpose, &ledger).expect("read").expect("C keeps its own model");
    assert_eq!(c_served.manifest.workspace, Some(ws(C)));

    // Rebuild from a fresh snapshot: A is out, with the withdrawal as the reason.
    let later = NOW + DAY;
    let snap = Gate::snapshot(&ledger, &source, purpose, &[ws(A), ws(C), ws(D)], NOW).expect("snapshot");
    assert!(matches!(snap.excluded()[0].reason, ExclusionReason::Withdrawn { .. }));
    let rebuilt = train(purpose, &snap, &config(), SEED, later).expect("rebuild");
    let rebuilt_shared = shared_model(&rebuilt);
    assert!(!rebuilt_shared.manifest.includes(ws(A)));
    assert_eq!(rebuilt_shared.manifest.contributors.len(), 2);
    registry.save(rebuilt_shared).expect("save");
    assert_eq!(
        registry.servable_for(ws(A), purpose, &ledger).expect("read").map(|m| m.manifest.id),
        Some(rebuilt_shared.manifest.id.clone()),
        "A is served the shared model again, now without its data"
    );

    // Exact unlearning: identical to a model trained as if A had never granted.
    let never = ledger_with(&[(C, Scope::Shared), (D, Scope::Shared)], &[purpose]);
    let scratch =
        train(purpose, &snapshot(&never, &source, purpose, &[C, D]), &config(), SEED, later).expect("train");
    assert_eq!(shared_model(&scratch), rebuilt_shared, "byte-identical artifact and manifest");
}

/// Trains and saves the emoji models of A, C and D, all granted `shared`, `opt_out`.
fn three_shared(
    name: &str,
) -> (MemorySource, Ledger<MemoryLedgerStore>, TempDir, ModelRegistry, Vec<TrainedModel>) {
    let purpose = Purpose::EmojiSuggestions;
    let source = fixture(&[A, C, D]);
    let ledger = ledger_with(&[(A, Scope::Shared), (C, Scope::Shared), (D, Scope::Shared)], &[purpose]);
    let dir = TempDir::new(name);
    let registry = ModelRegistry::open(dir.0.join("models")).expect("registry");
    let models = train(purpose, &snapshot(&ledger, &source, purpose, &[A, C, D]), &config(), SEED, NOW)
        .expect("train");
    for m in &models {
        assert!(m.manifest.servable);
        registry.save(m).expect("save");
    }
    (source, ledger, dir, registry, models)
}

/// A workspace with no model of its own: it is served the shared one, if any.
const E: u64 = 5;

fn regrant(ledger: &Ledger<MemoryLedgerStore>, scope: Scope, categories: &[Category], members: MemberMode) {
    let req = grant_request(Purpose::EmojiSuggestions, scope, categories, members);
    ledger.grant(ws(A), simulated::owner(), Role::Owner, req, NOW + 1).expect("re-grant");
}

fn served_id(registry: &ModelRegistry, w: u64, ledger: &Ledger<MemoryLedgerStore>) -> Option<String> {
    registry.servable_for(ws(w), Purpose::EmojiSuggestions, ledger).expect("read").map(|m| m.manifest.id)
}

#[test]
fn narrowing_a_grant_retires_exactly_the_models_that_used_what_was_removed() {
    // What `ledger_with` grants: every category the purpose may read.
    let all = Purpose::EmojiSuggestions.allowed_categories();
    // Scope shared → workspace: the shared model goes, A's own model stays.
    let (_, ledger, _dir, registry, models) = three_shared("narrow-scope");
    let (shared, own_a) =
        (shared_model(&models).manifest.id.clone(), own_model(&models, A).manifest.id.clone());
    assert_eq!(served_id(&registry, E, &ledger), Some(shared.clone()));
    regrant(&ledger, Scope::Workspace, all, MemberMode::OptOut);
    // Served no more at once, before any file changes (the serve-time check) ...
    assert_eq!(served_id(&registry, E, &ledger), None, "the shared model with A's data is still served");
    assert_eq!(served_id(&registry, A, &ledger), Some(own_a.clone()));
    // ... and the sweep retires it and asks for the shared slot to be rebuilt.
    let retired = registry.retire_uncovered(&ledger, NOW + 2).expect("sweep");
    assert_eq!(retired.models, vec![shared.clone()]);
    assert_eq!(retired.rebuild.len(), 1);
    assert_eq!(retired.rebuild[0].scope, Scope::Shared);
    assert!(registry.get(&shared).expect("read").expect("kept").retired.is_some());
    assert!(registry.retire_uncovered(&ledger, NOW + 3).expect("sweep").models.is_empty(), "idempotent");

    // A category dropped: every model that read A goes (A's own and the shared one).
    let (_, ledger, _dir, registry, models) = three_shared("narrow-categories");
    regrant(&ledger, Scope::Shared, &[Category::Messages], MemberMode::OptOut);
    let mut retired = registry.retire_uncovered(&ledger, NOW + 2).expect("sweep").models;
    retired.sort();
    let mut expected =
        vec![shared_model(&models).manifest.id.clone(), own_model(&models, A).manifest.id.clone()];
    expected.sort();
    assert_eq!(retired, expected);
    assert_eq!(served_id(&registry, C, &ledger), Some(own_model(&models, C).manifest.id.clone()));

    // Members opt_out → opt_in: members who never answered are out now.
    let (_, ledger, _dir, registry, models) = three_shared("narrow-members");
    regrant(&ledger, Scope::Shared, all, MemberMode::OptIn);
    assert_eq!(registry.retire_uncovered(&ledger, NOW + 2).expect("sweep").models.len(), 2);
    assert_eq!(served_id(&registry, A, &ledger), None);
    assert_eq!(served_id(&registry, D, &ledger), Some(own_model(&models, D).manifest.id.clone()));

    // A broader re-grant removes nothing: nothing is retired.
    let source = fixture(&[A]);
    let ledger = Ledger::new(MemoryLedgerStore::new());
    let narrow = grant_request(
        Purpose::EmojiSuggestions,
        Scope::Workspace,
        &[Category::Reactions, Category::Messages],
        MemberMode::OptOut,
    );
    ledger.grant(ws(A), simulated::owner(), Role::Owner, narrow, T0).expect("grant");
    let dir = TempDir::new("broaden");
    let registry = ModelRegistry::open(dir.0.join("models")).expect("registry");
    let models = train(
        Purpose::EmojiSuggestions,
        &snapshot(&ledger, &source, Purpose::EmojiSuggestions, &[A]),
        &config(),
        SEED,
        NOW,
    )
    .expect("train");
    registry.save(&models[0]).expect("save");
    regrant(&ledger, Scope::Shared, all, MemberMode::OptOut);
    assert!(registry.retire_uncovered(&ledger, NOW + 2).expect("sweep").models.is_empty());
    assert_eq!(served_id(&registry, A, &ledger), Some(models[0].manifest.id.clone()));
}

#[test]
fn a_members_exclusion_lapses_models_that_held_their_data_only() {
    let (_, ledger, _dir, registry, models) = three_shared("member-exclusion");
    // Included under opt_out, so in the snapshot: excluding themselves lapses A's models.
    ledger.set_member(ws(A), member(A, 3), Purpose::EmojiSuggestions, false, NOW + 1).expect("key");
    assert_eq!(served_id(&registry, A, &ledger), None, "A's models still served after an exclusion");
    assert_eq!(served_id(&registry, E, &ledger), None, "the shared model still served after an exclusion");
    assert_eq!(served_id(&registry, C, &ledger), Some(own_model(&models, C).manifest.id.clone()));
    assert_eq!(registry.retire_uncovered(&ledger, NOW + 2).expect("sweep").models.len(), 2);
    // Opting in again (a broadening) does not bring the retired models back.
    ledger.set_member(ws(A), member(A, 3), Purpose::EmojiSuggestions, true, NOW + 3).expect("key");
    assert_eq!(served_id(&registry, A, &ledger), None);
    // Under opt_in, a member who never opted in was not in the data: their exclusion
    // lapses nothing.
    let source = fixture(&[A]);
    let ledger = Ledger::new(MemoryLedgerStore::new());
    let req = grant_request(
        Purpose::EmojiSuggestions,
        Scope::Workspace,
        &[Category::Reactions, Category::Messages],
        MemberMode::OptIn,
    );
    ledger.grant(ws(A), simulated::owner(), Role::Owner, req, T0).expect("grant");
    for i in 0..10 {
        ledger.set_member(ws(A), member(A, i), Purpose::EmojiSuggestions, i != 9, T0 + 1).expect("key");
    }
    let dir = TempDir::new("member-never-in");
    let registry = ModelRegistry::open(dir.0.join("models")).expect("registry");
    let models = train(
        Purpose::EmojiSuggestions,
        &snapshot(&ledger, &source, Purpose::EmojiSuggestions, &[A]),
        &config(),
        SEED,
        NOW,
    )
    .expect("train");
    registry.save(&models[0]).expect("save");
    ledger.set_member(ws(A), member(A, 9), Purpose::EmojiSuggestions, false, NOW + 1).expect("key");
    assert!(registry.retire_uncovered(&ledger, NOW + 2).expect("sweep").models.is_empty());
    ledger.set_member(ws(A), member(A, 2), Purpose::EmojiSuggestions, false, NOW + 3).expect("key");
    assert_eq!(registry.retire_uncovered(&ledger, NOW + 4).expect("sweep").models.len(), 1);
}

#[test]
fn a_run_that_races_a_withdrawal_saves_its_models_retired() {
    let purpose = Purpose::EmojiSuggestions;
    let source = fixture(&[A, C, D]);
    let ledger = ledger_with(&[(A, Scope::Shared), (C, Scope::Shared), (D, Scope::Shared)], &[purpose]);
    let dir = TempDir::new("race");
    let registry = ModelRegistry::open(dir.0.join("models")).expect("registry");
    let snap = snapshot(&ledger, &source, purpose, &[A, C, D]);
    let models = train(purpose, &snap, &config(), SEED, NOW).expect("train");
    // The withdrawal lands after the snapshot, before the save.
    ledger.withdraw(ws(A), simulated::owner(), Role::Owner, purpose, NOW + 1).expect("withdraw");
    let saved = registry.save_run(&models, &ledger, NOW + 2).expect("save");
    for (m, retired) in models.iter().zip(&saved) {
        let record = registry.get(&m.manifest.id).expect("read").expect("saved for audit");
        assert_eq!(record.retired.is_some(), m.manifest.includes(ws(A)), "{}", m.manifest.id);
        assert_eq!(retired.is_some(), m.manifest.includes(ws(A)));
        if m.manifest.includes(ws(A)) {
            assert_eq!(registry.artifact(&m.manifest.id).expect("read"), None, "no artifact written");
        }
    }
    assert_eq!(served_id(&registry, A, &ledger), None);
    assert_eq!(served_id(&registry, E, &ledger), None, "the shared model read A");
    assert_eq!(served_id(&registry, C, &ledger), Some(own_model(&models, C).manifest.id.clone()));
}

#[test]
fn a_model_whose_retirement_was_lost_is_not_served() {
    // The ledger says withdrawn; the registry's files never heard of it (a crash or a
    // failed retirement). Serving reads the ledger, not the files.
    let (_, ledger, dir, registry, models) = three_shared("lost-retirement");
    ledger
        .withdraw(ws(A), simulated::owner(), Role::Owner, Purpose::EmojiSuggestions, NOW + 1)
        .expect("withdraw");
    assert!(registry.list().expect("list").iter().all(|r| r.retired.is_none()));
    assert_eq!(served_id(&registry, A, &ledger), None);
    assert_eq!(served_id(&registry, E, &ledger), None);
    assert_eq!(served_id(&registry, D, &ledger), Some(own_model(&models, D).manifest.id.clone()));
    // A registry reopened (after a restart) is checked the same way.
    let reopened = ModelRegistry::open(dir.0.join("models")).expect("reopen");
    assert_eq!(served_id(&reopened, E, &ledger), None);
    // A manifest written before coverage was recorded is never served.
    let mut old = own_model(&models, D).clone();
    old.manifest.contributors[0].ledger_head_seq = 0;
    assert!(!old.manifest.coverage(&ledger).expect("coverage").is_covered());
}

#[test]
fn a_workspace_model_is_never_served_to_another_workspace() {
    let purpose = Purpose::ChannelSuggestions;
    let source = fixture(&[A, C]);
    let ledger = ledger_with(&[(A, Scope::Workspace)], &[purpose]);
    let dir = TempDir::new("isolation");
    let registry = ModelRegistry::open(dir.0.join("models")).expect("registry");
    let models =
        train(purpose, &snapshot(&ledger, &source, purpose, &[A, C]), &config(), SEED, NOW).expect("train");
    assert_eq!(models.len(), 1, "only A's own model: one shared workspace is not enough for a shared one");
    let mut model = models[0].clone();
    model.manifest.servable = true; // serve it whatever its metrics, to test the rule
    registry.save(&model).expect("save");
    assert!(registry.servable_for(ws(A), purpose, &ledger).expect("read").is_some());
    assert_eq!(registry.servable_for(ws(C), purpose, &ledger).expect("read"), None);
    // A member exclusion in A retires A's model and asks for it to be rebuilt.
    let retired = registry.retire_including_member(ws(A), purpose, NOW).expect("retire");
    assert_eq!(retired.models, vec![model.manifest.id.clone()]);
    assert_eq!(retired.rebuild[0].workspace, Some(ws(A)));
    assert_eq!(registry.servable_for(ws(A), purpose, &ledger).expect("read"), None);
    let record = registry.get(&model.manifest.id).expect("read").expect("kept for audit");
    assert!(record.retired.is_some() && !record.is_served());
}

#[test]
fn the_registry_refuses_tampered_artifacts_and_bad_ids() {
    let purpose = Purpose::SearchRanking;
    let source = fixture(&[A]);
    let ledger = ledger_with(&[(A, Scope::Workspace)], &[purpose]);
    let dir = TempDir::new("tamper");
    let registry = ModelRegistry::open(dir.0.join("models")).expect("registry");
    let models =
        train(purpose, &snapshot(&ledger, &source, purpose, &[A]), &config(), SEED, NOW).expect("train");
    let mut model = models[0].clone();
    model.manifest.servable = true;
    registry.save(&model).expect("save");
    registry.save(&model).expect("saving the same model again is fine");
    assert_eq!(registry.list().expect("list").len(), 1);
    std::fs::write(registry.root().join(&model.manifest.id).join("artifact.json"), b"{}").expect("tamper");
    assert!(matches!(registry.servable_for(ws(A), purpose, &ledger), Err(TrainingError::Corrupt(_))));
    assert!(matches!(registry.get("../etc"), Err(TrainingError::InvalidId(_))));
    let mut forged = model.clone();
    forged.artifact.push(b' ');
    assert!(matches!(registry.save(&forged), Err(TrainingError::Corrupt(_))), "hash mismatch refused");
}

// ---------------------------------------------------------------------------------
// The gate is a type
// ---------------------------------------------------------------------------------

#[test]
fn training_code_cannot_forge_a_snapshot() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

#[test]
fn a_snapshot_for_another_purpose_is_refused() {
    let source = fixture(&[A]);
    let ledger = ledger_with(&[(A, Scope::Workspace)], &Purpose::ALL);
    let snap = snapshot(&ledger, &source, Purpose::SearchRanking, &[A]);
    let err = train(Purpose::EmojiSuggestions, &snap, &config(), SEED, NOW).expect_err("mismatch");
    assert!(matches!(err, TrainingError::PurposeMismatch { .. }));
}

// ---------------------------------------------------------------------------------
// Privacy budget
// ---------------------------------------------------------------------------------

#[test]
fn a_run_past_the_budget_cap_is_refused_before_training() {
    let purpose = Purpose::EmojiSuggestions;
    let source = fixture(&[A, C]);
    let ledger = ledger_with(&[(A, Scope::Workspace), (C, Scope::Shared)], &[purpose]);
    let capped = TrainingConfig { epsilon: 1.0, epsilon_cap: 1.5, ..config() };
    let snap = snapshot(&ledger, &source, purpose, &[A, C]);
    assert_eq!(BudgetPlan::for_run(&snap, &capped).per_workspace.values().sum::<f64>(), 2.0);
    let actor = simulated::owner();
    let models =
        train_within_budget(&ledger, actor, purpose, &snap, &capped, SEED, NOW).expect("first run fits");
    assert_eq!(models.len(), 2);
    assert_eq!(ledger.epsilon_spent(ws(A), purpose).expect("spent"), 1.0);
    assert_eq!(ledger.epsilon_spent(ws(C), purpose).expect("spent"), 1.0);

    let err = train_within_budget(&ledger, actor, purpose, &snap, &capped, SEED, NOW + 1)
        .expect_err("over the cap");
    let message = err.to_string();
    assert!(matches!(err, TrainingError::BudgetExceeded(_)), "{message}");
    assert!(message.contains("privacy budget exceeded") && message.contains("cap is ε=1.5"), "{message}");
    assert_eq!(ledger.epsilon_spent(ws(A), purpose).expect("spent"), 1.0, "a refused run spends nothing");

    // Shared scope costs twice (own model and shared model): refused up front.
    let ledger = ledger_with(&[(A, Scope::Shared), (C, Scope::Shared)], &[purpose]);
    let snap = snapshot(&ledger, &source, purpose, &[A, C]);
    let err = train_within_budget(&ledger, actor, purpose, &snap, &capped, SEED, NOW).expect_err("2ε > 1.5");
    assert!(matches!(err, TrainingError::BudgetExceeded(_)));
    assert_eq!(ledger.epsilon_spent(ws(A), purpose).expect("spent"), 0.0);
}

// ---------------------------------------------------------------------------------
// Dry run
// ---------------------------------------------------------------------------------

#[test]
fn a_dry_run_says_who_is_in_who_is_out_and_why() {
    let source = fixture(&[A, B, C]);
    let purpose = Purpose::EmojiSuggestions;
    let ledger = ledger_with(&[(A, Scope::Shared), (C, Scope::Workspace)], &[purpose]);
    let report = dry_run(&snapshot(&ledger, &source, purpose, &[A, B, C]), &config());
    let included: Vec<WorkspaceId> = report.included.iter().map(|w| w.workspace).collect();
    assert_eq!(included, vec![ws(A), ws(C)]);
    assert_eq!(report.excluded.len(), 1);
    assert_eq!(
        (report.excluded[0].workspace, &report.excluded[0].reason),
        (ws(B), &ExclusionReason::NotGranted)
    );
    assert_eq!(report.excluded_from_shared[0].workspace, ws(C));
    assert_eq!(report.excluded_from_shared[0].reason, ExclusionReason::WorkspaceScopeOnly);
    assert_eq!(report.models.len(), 2, "A's and C's own models, no shared one");
    assert!(report.shared_model_note.as_deref().unwrap_or("").contains("at least 2"));
    assert!(report.included[0].records[&confab_consent::Category::Reactions] > 0);
    assert_eq!(report.included[0].epsilon, 1.0);
}

// ---------------------------------------------------------------------------------
// Learning works: trained models beat the defaults on held-out data
// ---------------------------------------------------------------------------------

/// Small simulated workspaces from the real corpus, every purpose granted `shared`.
fn simulated_instance() -> (Ledger<MemoryLedgerStore>, MemorySource, Vec<WorkspaceId>) {
    use confab_test_support::corpus::load_corpus;
    use confab_test_support::simulate::{SimConfig, simulate};
    let corpus_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus/chitchat-dataset.json.gz");
    let corpus = load_corpus(Path::new(corpus_path)).expect("corpus");
    let sims = simulate(&corpus[..900], &SimConfig { seed: 7, workspaces: 2, ..SimConfig::default() });
    let mut source = simulated::source_from_simulation(&sims);
    simulated::add_click_logs(&mut source, &ClickConfig { searches: 300, ..ClickConfig::default() });
    let ledger = Ledger::new(MemoryLedgerStore::new());
    let ids: Vec<WorkspaceId> = sims.iter().map(|s| s.id).collect();
    for &w in &ids {
        for p in Purpose::ALL {
            simulated::grant(&ledger, w, p, Scope::Shared, 0).expect("grant");
        }
    }
    (ledger, source, ids)
}

#[test]
fn trained_models_beat_the_defaults_on_held_out_data() {
    let (ledger, source, ids) = simulated_instance();
    let now = source.messages.iter().map(|m| m.created_at).max().unwrap_or(0) + 1;
    for purpose in Purpose::ALL {
        let snap = Gate::snapshot(&ledger, &source, purpose, &ids, now).expect("snapshot");
        let models = train(purpose, &snap, &config(), SEED, now).expect("train");
        assert_eq!(models.len(), ids.len() + 1);
        for m in &models {
            let e = &m.manifest.evaluation;
            assert!(e.cases >= 20, "{purpose} {:?}: {e:?}", m.manifest.scope);
            assert_eq!(
                m.manifest.servable,
                e.trained > e.default,
                "servable exactly when it beats the default"
            );
            // The simulator's channel defaults were tuned by hand on this planted model;
            // trained channel weights only tie with them there (see the README), so
            // channels are shown learning on a planted preference below.
            if purpose != Purpose::ChannelSuggestions {
                assert!(e.trained > e.default + 0.05, "{purpose} {:?}: {e:?}", m.manifest.scope);
                assert!(m.manifest.servable);
            }
        }
        // The artifacts load in the formats serving reads.
        for m in &models {
            match purpose {
                Purpose::EmojiSuggestions => {
                    drop(EmojiAssociationModel::from_json(&m.artifact).expect("emoji"))
                }
                Purpose::ChannelSuggestions => {
                    drop(ChannelWeights::from_json(&m.artifact).expect("channels"))
                }
                Purpose::SearchRanking => {
                    let text = std::str::from_utf8(&m.artifact).expect("utf-8");
                    drop(RankingWeights::from_json(text).expect("ranking"));
                }
            }
        }
    }
}

/// Workspace `w` where members join new channels: 40 members post in `general`; a new
/// public channel opens every other day (its creator in it); members who have posted
/// join channels with probability halving every three days of the channel's age. Old
/// channels still grow biggest, so the defaults (which weigh member overlap and size
/// and barely weigh novelty) underrate what members actually join.
fn novelty_workspace(source: &mut MemorySource, w: u64) {
    let wid = ws(w);
    let mut rng = Lcg(w * 7919);
    let general = channel_id(w * 100);
    let users: Vec<UserId> = (0..40).map(|i| member(w, i)).collect();
    let opened: Vec<(confab_core::ChannelId, Millis)> =
        (1..=30).map(|j| (channel_id(w * 100 + j), T0 + (j as Millis) * 2 * DAY)).collect();
    let mut ch = channel(wid, general, ChannelKind::Public);
    ch.created_at = T0 - DAY;
    source.channels.push(ch);
    let mut members: Vec<Vec<UserId>> = Vec::new();
    for (j, &(c, at)) in opened.iter().enumerate() {
        let mut ch = channel(wid, c, ChannelKind::Public);
        ch.created_at = at;
        source.channels.push(ch);
        let creator = users[(j * 7) % 40];
        source.memberships.push((wid, MembershipRecord { channel: c, user: creator, joined_at: at }));
        members.push(vec![creator]);
    }
    let mut seq = 0u64;
    for (i, &u) in users.iter().enumerate() {
        source.memberships.push((wid, MembershipRecord { channel: general, user: u, joined_at: T0 - 1 }));
        for d in 0..8u64 {
            seq += 1;
            let at = T0 + (i as Millis) * HOUR + (d as Millis) * 8 * DAY;
            source.messages.push(message(
                wid,
                general,
                seq,
                message_id(w * 1_000_000 + seq),
                u,
                "hello",
                at,
                Vec::new(),
            ));
        }
    }
    for step in 0..400u64 {
        let at = T0 + 2 * DAY + (step as Millis) * 3 * HOUR;
        let u = users[rng.below(40) as usize];
        let weights: Vec<u64> = opened
            .iter()
            .zip(&members)
            .map(|(&(_, born), m)| {
                if born >= at || m.contains(&u) {
                    0
                } else {
                    (1000.0 * 0.5f64.powf((at - born) as f64 / (3 * DAY) as f64)) as u64 + 1
                }
            })
            .collect();
        let total: u64 = weights.iter().sum();
        if total == 0 {
            continue;
        }
        let mut pick = rng.below(total);
        let Some(j) = weights.iter().position(|&x| {
            if pick < x {
                true
            } else {
                pick -= x;
                false
            }
        }) else {
            continue;
        };
        members[j].push(u);
        source.memberships.push((wid, MembershipRecord { channel: opened[j].0, user: u, joined_at: at }));
    }
}

#[test]
fn channel_weights_learn_a_preference_the_defaults_underrate() {
    let purpose = Purpose::ChannelSuggestions;
    let mut source = MemorySource { well_behaved: true, ..MemorySource::default() };
    novelty_workspace(&mut source, A);
    novelty_workspace(&mut source, C);
    let ledger = ledger_with(&[(A, Scope::Shared), (C, Scope::Shared)], &[purpose]);
    let models =
        train(purpose, &snapshot(&ledger, &source, purpose, &[A, C]), &config(), SEED, NOW).expect("train");
    assert_eq!(models.len(), 3);
    for m in &models {
        let e = &m.manifest.evaluation;
        assert!(e.cases >= 10 && e.train_examples >= 50, "{e:?}");
        assert!(e.trained > e.default + 0.3, "{:?}: {e:?}", m.manifest.scope);
        assert!(m.manifest.servable);
        let w = ChannelWeights::from_json(&m.artifact).expect("weights");
        assert!(w.recency > ChannelWeights::default().recency, "{w:?}");
    }
}

// ---------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------

const FILE_WORD: &str = "zqxfileword";

/// `fixture(&[A])` with a text file holding [`FILE_WORD`] on every public message.
fn fixture_with_files() -> MemorySource {
    let mut source = fixture(&[A]);
    let private = channel_id(A * 10 + 2);
    for (n, m) in source.messages.iter_mut().enumerate().filter(|(_, m)| m.channel != private) {
        let id = file_id(n as u64 + 1);
        m.files = vec![id];
        source.files.push(text_file(id, m.id, "notes.txt", &format!("{FILE_WORD} appendix")));
    }
    source
}

fn emoji_grant(categories: &[Category]) -> Ledger<MemoryLedgerStore> {
    let ledger = Ledger::new(MemoryLedgerStore::new());
    let request = grant_request(Purpose::EmojiSuggestions, Scope::Workspace, categories, MemberMode::OptOut);
    ledger.grant(ws(A), user_id(1), Role::Owner, request, T0 - 2 * DAY).expect("grant");
    ledger
}

/// Files are learned from only under a grant naming `files`; without it, a model is
/// byte-identical to one trained where no file was ever uploaded.
#[test]
fn files_shape_a_model_only_when_granted() {
    let with_files = fixture_with_files();
    let no_files = fixture(&[A]);
    let train_on = |ledger: &Ledger<MemoryLedgerStore>, source: &MemorySource| {
        let snap = snapshot(ledger, source, Purpose::EmojiSuggestions, &[A]);
        train(Purpose::EmojiSuggestions, &snap, &config(), SEED, NOW).expect("train")
    };

    let without_category = emoji_grant(&[Category::Messages, Category::Reactions]);
    assert_eq!(
        train_on(&without_category, &with_files),
        train_on(&without_category, &no_files),
        "files changed a model whose grant does not name them"
    );

    let with_category = emoji_grant(&[Category::Messages, Category::Reactions, Category::Files]);
    let trained = train_on(&with_category, &with_files);
    assert!(emoji_words(own_model(&trained, A)).iter().any(|w| w == FILE_WORD), "the files' word is learned");
    assert!(!emoji_words(own_model(&train_on(&with_category, &no_files), A)).iter().any(|w| w == FILE_WORD));
}
