//! The promise that no model is served past its consent, checked in-process against
//! the real sled store and model registry while consent changes race training runs.
//!
//! Owners grant, re-grant narrower, withdraw and members toggle their keys while
//! training runs are in flight. After every round, read back from the registry and
//! the ledger: every model that is not retired is covered by every contributor's
//! *current* consent (and so is anything the registry would serve).

use std::sync::Arc;
use std::time::Duration;

use confab_app::consent::{ConsentChangeRequest, StoreLedger};
use confab_app::{App, Caller, PostMessage};
use confab_consent::{Category, Ledger, MemberMode, Purpose, Scope};
use confab_core::WorkspaceId;
use confab_store::Store;
use confab_training::{ModelRegistry, NoiseSource};

struct World {
    _dir: tempfile::TempDir,
    dir: std::path::PathBuf,
    store: Arc<dyn Store>,
    app: App,
    ws: WorkspaceId,
    people: Vec<Caller>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = crate::support::sled_store(dir.path());
    let mut config = crate::support::config();
    config.training.min_users_per_word = 2;
    config.training.epsilon_cap = 1000.0;
    config.training.member_key_changes_per_hour = 1000;
    let app = crate::support::open(store.clone(), config, dir.path());
    let mut people = Vec::new();
    for i in 0..4 {
        people.push(crate::support::person(&app, i).await.0);
    }
    let owner = people[0];
    let ws = crate::support::workspace_with(&app, owner, "Races", &people[1..]).await;
    let general = app
        .list_channels(owner, ws)
        .unwrap()
        .into_iter()
        .find(|c| c.channel.name == "general")
        .unwrap()
        .channel
        .id;
    // Enough reacted messages by enough members for an emoji model, and enough of
    // them that a run takes a while.
    for round in 0..25 {
        for (i, author) in people.iter().enumerate() {
            let text = format!("deploy pizza party {round} {i}");
            let post = PostMessage { text, thread_root: None, client_msg_id: None };
            let m = app.post_message(*author, general, post).await.unwrap();
            for reactor in people.iter().filter(|r| r.user != author.user) {
                app.add_reaction(*reactor, m.id, "tada").await.unwrap();
            }
        }
    }
    let dir_path = dir.path().to_path_buf();
    World { _dir: dir, dir: dir_path, store, app, ws, people }
}

fn grant(scope: Scope, categories: &[Category], members: MemberMode) -> ConsentChangeRequest {
    let policy = confab_consent::current_policy(Purpose::EmojiSuggestions);
    ConsentChangeRequest {
        granted: true,
        scope: Some(scope),
        categories: Some(categories.to_vec()),
        members: Some(members),
        policy_version: Some(policy.version),
        policy_sha256: Some(policy.sha256),
        accept: Some(true),
    }
}

fn withdraw() -> ConsentChangeRequest {
    ConsentChangeRequest::withdrawal()
}

/// Every model not retired is covered by its contributors' current consent; returns
/// how many are live.
fn assert_no_model_outlives_its_consent(w: &World, round: usize) -> usize {
    let ledger = Ledger::new(StoreLedger { store: w.store.clone() });
    let registry = ModelRegistry::open(w.dir.join("models")).unwrap();
    let mut live = 0;
    for record in registry.list().unwrap() {
        if record.retired.is_some() {
            continue;
        }
        let coverage = record.manifest.coverage(&ledger).unwrap();
        assert!(
            coverage.is_covered(),
            "round {round}: model {} is not retired but its consent lapsed: {coverage:?}",
            record.manifest.id
        );
        live += 1;
    }
    if let Some(served) = registry.servable_for(w.ws, Purpose::EmojiSuggestions, &ledger).unwrap() {
        assert!(served.manifest.coverage(&ledger).unwrap().is_covered());
    }
    live
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consent_changes_racing_training_runs_never_leave_a_model_past_its_consent() {
    let w = world().await;
    let owner = w.people[0];
    let all = [Category::Messages, Category::Reactions];
    let mut live_models = 0;
    for round in 0..32usize {
        w.app
            .change_consent(
                owner,
                w.ws,
                "emoji_suggestions",
                grant(Scope::Workspace, &all, MemberMode::OptOut),
            )
            .await
            .unwrap();
        let run = {
            let app = w.app.clone();
            tokio::spawn(async move {
                app.run_training(
                    confab_app::models::scheduler(),
                    &[Purpose::EmojiSuggestions],
                    false,
                    NoiseSource::Os,
                )
                .await
            })
        };
        // Land the narrowing at a different moment of the run each round.
        tokio::time::sleep(Duration::from_millis((round as u64 * 5) % 32)).await;
        match round % 4 {
            0 => {
                w.app.change_consent(owner, w.ws, "emoji_suggestions", withdraw()).await.unwrap();
            }
            1 => {
                let narrower = grant(Scope::Workspace, &[Category::Messages], MemberMode::OptOut);
                w.app.change_consent(owner, w.ws, "emoji_suggestions", narrower).await.unwrap();
            }
            2 => {
                let opt_in = grant(Scope::Workspace, &all, MemberMode::OptIn);
                w.app.change_consent(owner, w.ws, "emoji_suggestions", opt_in).await.unwrap();
            }
            _ => {
                let member = w.people[1 + round % 3];
                w.app.set_own_consent(member, w.ws, "emoji_suggestions", false).await.unwrap();
                w.app.set_own_consent(member, w.ws, "emoji_suggestions", true).await.unwrap();
            }
        }
        run.await.unwrap().unwrap();
        live_models += assert_no_model_outlives_its_consent(&w, round);
    }
    // The check can see a live model: without any narrowing, a run's model stays.
    w.app
        .change_consent(owner, w.ws, "emoji_suggestions", grant(Scope::Workspace, &all, MemberMode::OptOut))
        .await
        .unwrap();
    w.app
        .run_training(confab_app::models::scheduler(), &[Purpose::EmojiSuggestions], false, NoiseSource::Os)
        .await
        .unwrap();
    live_models += assert_no_model_outlives_its_consent(&w, 99);
    assert!(live_models > 0, "no model was ever live: the check saw nothing");
}

/// A retirement that fails is reported to the caller, not just logged, and the model
/// is not served meanwhile; the next change retries the sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_retirement_is_reported_and_the_model_is_still_not_served() {
    let w = world().await;
    let owner = w.people[0];
    let all = [Category::Messages, Category::Reactions];
    w.app
        .change_consent(owner, w.ws, "emoji_suggestions", grant(Scope::Workspace, &all, MemberMode::OptOut))
        .await
        .unwrap();
    let runs = w
        .app
        .run_training(confab_app::models::scheduler(), &[Purpose::EmojiSuggestions], false, NoiseSource::Os)
        .await
        .unwrap();
    let id = runs[0].models[0].id.clone();
    let ledger = Ledger::new(StoreLedger { store: w.store.clone() });
    let registry = ModelRegistry::open(w.dir.join("models")).unwrap();
    let record = registry.get(&id).unwrap().unwrap();
    assert!(record.retired.is_none() && record.manifest.coverage(&ledger).unwrap().is_covered());
    // Make the tombstone impossible to write: a directory (not empty) in its place.
    let blocker = w.dir.join("models").join(&id).join("retired.json");
    std::fs::create_dir_all(blocker.join("x")).unwrap();

    let err = w.app.change_consent(owner, w.ws, "emoji_suggestions", withdraw()).await.unwrap_err();
    assert!(err.to_client().message.contains("retiring them failed"), "{err:?}");
    // The withdrawal itself is recorded, and nothing serves the model.
    let state = w.app.admin_consent_state(w.ws).unwrap();
    assert!(!state.purpose(Purpose::EmojiSuggestions).granted);
    assert!(!record.manifest.coverage(&ledger).unwrap().is_covered());
    assert_eq!(registry.servable_for(w.ws, Purpose::EmojiSuggestions, &ledger).unwrap(), None);
    assert!(registry.get(&id).unwrap().unwrap().retired.is_none(), "the failure was real");

    // Once the disk is fixed, the next change retires it.
    std::fs::remove_dir_all(&blocker).unwrap();
    w.app.set_own_consent(w.people[1], w.ws, "emoji_suggestions", false).await.unwrap();
    assert!(registry.get(&id).unwrap().unwrap().retired.is_some());
}
