//! Erasure reaches the models: erasing a member retires at once every model that
//! used their data, and the rebuild is byte-identical to the model trained before
//! they ever joined — exact unlearning, checked in-process over the real store, index
//! and model registry. Their messages, reactions, mentions, memberships, sessions and
//! search entries go too.

use std::sync::Arc;

use confab_app::consent::StoreLedger;
use confab_app::lifecycle::{ErasedMessages, ErasurePolicy};
use confab_app::{App, Caller, CreateChannel, PostMessage};
use confab_consent::{Ledger, Purpose};
use confab_core::{ChannelId, WorkspaceId};
use confab_store::{Direction, Store};
use confab_training::{ModelRegistry, NoiseSource};

use crate::support::hits;

const SEED: u64 = 7;

async fn post(app: &App, author: Caller, channel: ChannelId, text: &str) -> confab_core::Message {
    let post = PostMessage { text: text.to_string(), thread_root: None, client_msg_id: None };
    app.post_message(author, channel, post).await.unwrap()
}

/// Trains the emoji models with seeded noise; the id and artifact of `ws`'s own model.
async fn train(app: &App, dir: &std::path::Path, ws: WorkspaceId) -> (String, Vec<u8>) {
    let runs = app
        .run_training(
            confab_app::models::scheduler(),
            &[Purpose::EmojiSuggestions],
            false,
            NoiseSource::Seeded(SEED),
        )
        .await
        .unwrap();
    let manifest = runs[0].models.iter().find(|m| m.workspace == Some(ws)).expect("a model of the workspace");
    let registry = ModelRegistry::open(dir.join("models")).unwrap();
    let artifact = registry.artifact(&manifest.id).unwrap().expect("its artifact");
    (manifest.id.clone(), without_own_id(&artifact, &manifest.id))
}

/// The artifact's bytes with its own model id (which names the time it was trained)
/// blanked: what remains is everything it learned.
fn without_own_id(artifact: &[u8], id: &str) -> Vec<u8> {
    let text = String::from_utf8(artifact.to_vec()).expect("a JSON artifact");
    assert_eq!(text.matches(id).count(), 1, "the artifact names its id once: {text}");
    text.replace(id, "").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_retires_the_models_and_the_rebuild_is_the_model_trained_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = crate::support::sled_store(dir.path());
    let mut config = crate::support::config();
    config.training.min_users_per_word = 2;
    config.training.epsilon_cap = 1000.0;
    let app = crate::support::open(store.clone(), config, dir.path());
    let mut people = Vec::new();
    for i in 0..4 {
        people.push(crate::support::person(&app, i).await.0);
    }
    let (ada, others, bob) = (people[0], [people[1], people[2]], people[3]);
    let ws = app.create_workspace(ada, "Erasure").await.unwrap().workspace.id;
    let invite = app.create_invite(ada, ws, Default::default()).await.unwrap();
    for caller in others {
        app.accept_invite(caller, &invite.code).await.unwrap();
    }
    let general =
        app.list_channels(ada, ws).unwrap().into_iter().find(|c| c.channel.name == "general").unwrap();
    let general = general.channel.id;
    app.change_consent(ada, ws, "emoji_suggestions", crate::support::emoji_grant()).await.unwrap();

    // Before bob: a world he never was part of.
    let mut earlier = Vec::new();
    for round in 0..8 {
        for (i, author) in [ada, others[0], others[1]].into_iter().enumerate() {
            let m = post(&app, author, general, &format!("deploy pizza party {round} {i}")).await;
            for reactor in [ada, others[0], others[1]].into_iter().filter(|r| r.user != author.user) {
                app.add_reaction(reactor, m.id, "tada").await.unwrap();
            }
            earlier.push(m.id);
        }
    }
    let (_, without_bob) = train(&app, dir.path(), ws).await;

    // Bob joins, writes, reacts, is mentioned (in a private channel, which training
    // never reads), and searches.
    app.accept_invite(bob, &invite.code).await.unwrap();
    let bob_token = app.login("person3@example.com", "a long enough password", None).await.unwrap().token;
    for round in 0..8 {
        let m = post(&app, bob, general, &format!("deploy pizza zeppelin {round}")).await;
        for reactor in [ada, others[0]] {
            app.add_reaction(reactor, m.id, "rocket").await.unwrap();
        }
    }
    for id in &earlier[..6] {
        app.add_reaction(bob, *id, "rocket").await.unwrap();
    }
    let private = CreateChannel { name: "secret".into(), private: true, topic: String::new() };
    let private = app.create_channel(ada, ws, private).await.unwrap().id;
    app.add_channel_member(ada, private, bob.user).await.unwrap();
    let mention = post(&app, ada, private, "thanks @person3 for the zeppelin").await;
    assert_eq!(mention.mentions, vec![bob.user]);
    assert_eq!(hits(&app, bob, ws, "zeppelin", 9).await, 9, "the index has bob's messages");
    let (with_bob_id, with_bob) = train(&app, dir.path(), ws).await;
    assert_ne!(with_bob, without_bob, "bob's data is in the model");

    // Erase bob, keeping messages nowhere (the default policy is delete).
    assert_eq!(app.erasure_policy(ada, ws).unwrap(), ErasurePolicy { messages: ErasedMessages::Delete });
    let report = app.erase_account("person3@example.com").await.unwrap();
    assert_eq!((report.workspaces, report.messages_deleted, report.reactions_removed), (1, 8, 6));
    assert_eq!(report.mentions_rewritten, 1);

    // The model that held his data is retired at once: not served, artifact gone.
    let registry = ModelRegistry::open(dir.path().join("models")).unwrap();
    let record = registry.list().unwrap().into_iter().find(|r| r.manifest.id == with_bob_id).unwrap();
    assert!(record.retired.is_some(), "retired before the erasure returned");
    assert_eq!(registry.artifact(&with_bob_id).unwrap(), None);
    let ledger = Ledger::new(StoreLedger { store: store.clone() });
    assert!(ledger.verify(ws).unwrap().first_bad.is_none(), "the ledger verifies");
    let state = ledger.state(ws).unwrap();
    for purpose in Purpose::ALL {
        assert!(!state.member_included(purpose, bob.user), "{purpose}: bob is excluded in the ledger");
    }
    if let Some(served) = registry.servable_for(ws, Purpose::EmojiSuggestions, &ledger).unwrap() {
        assert_ne!(served.manifest.id, with_bob_id);
    }

    // Exact unlearning: the rebuild is byte-identical (but for its own id) to the model
    // of the world before bob joined.
    let (_, rebuilt) = train(&app, dir.path(), ws).await;
    assert_eq!(rebuilt, without_bob, "the rebuilt model is the model trained without him");

    // Everything else of his is gone.
    assert!(app.authenticate(&bob_token).is_err(), "his sessions ended");
    assert!(store.user_by_email("person3@example.com").unwrap().is_none(), "his email is gone");
    let tombstone = store.user(bob.user).unwrap().unwrap();
    assert_eq!(tombstone.user.display_name, "deleted user");
    assert!(app.login("person3@example.com", "a long enough password", None).await.is_err());
    assert!(store.member(ws, bob.user).unwrap().is_none());
    assert!(store.channel_member(general, bob.user).unwrap().is_none(), "membership and read marker");
    let stored = |channel| store.messages(channel, Direction::Forward { after: 0 }, 10_000).unwrap();
    for m in stored(general).into_iter().chain(stored(private)) {
        assert!(m.author != bob.user || (m.deleted && m.text.is_empty()), "{m:?}");
        assert!(m.reactions.iter().all(|r| !r.users.contains(&bob.user)), "{m:?}");
        assert!(!m.mentions.contains(&bob.user) && !m.text.contains("person3"), "{m:?}");
    }
    let rewritten = store.message(mention.id).unwrap().unwrap();
    assert_eq!(rewritten.text, "thanks @deleted-user for the zeppelin");
    assert_eq!(hits(&app, ada, ws, "zeppelin", 1).await, 1, "search finds only the rewritten mention");
    assert_eq!(hits(&app, ada, ws, "person3", 0).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_message_is_attributed_to_a_deleted_user_and_the_last_owner_must_hand_over() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = crate::support::sled_store(dir.path());
    let app = crate::support::open(store.clone(), crate::support::config(), dir.path());
    let (ada, _) = crate::support::person(&app, 0).await;
    let (bob, _) = crate::support::person(&app, 1).await;
    let ws = app.create_workspace(ada, "Keep").await.unwrap().workspace.id;
    let invite = app.create_invite(ada, ws, Default::default()).await.unwrap();
    app.accept_invite(bob, &invite.code).await.unwrap();
    let general =
        app.list_channels(ada, ws).unwrap().into_iter().find(|c| c.channel.name == "general").unwrap();
    let policy = ErasurePolicy { messages: ErasedMessages::Keep };
    assert!(app.set_erasure_policy(bob, ws, policy).await.is_err(), "members do not set it");
    app.set_erasure_policy(ada, ws, policy).await.unwrap();
    let kept = post(&app, bob, general.channel.id, "a message worth keeping").await;

    let refused = app.erase_account("person0@example.com").await.unwrap_err();
    assert_eq!(refused.code(), confab_core::ErrorCode::LastOwner, "the last owner hands over first");

    let report = app.erase_account("person1@example.com").await.unwrap();
    assert_eq!((report.messages_kept, report.messages_deleted), (1, 0));
    let message = store.message(kept.id).unwrap().unwrap();
    assert_eq!(message.text, "a message worth keeping");
    let author = store.user(message.author).unwrap().unwrap();
    assert_eq!(author.user.display_name, "deleted user");
    assert!(!author.user.email.contains("person1"));
    // Erasing again finds nothing left to do.
    assert!(app.erase_account("person1@example.com").await.is_err(), "the email is gone");
}
