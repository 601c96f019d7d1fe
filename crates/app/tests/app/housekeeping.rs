//! What only grows is bounded: the search log is pruned to `search.log_max_queries`
//! (and by age), and expired sessions are swept away, against the real sled store
//! and tantivy index.

use std::sync::Arc;

use confab_app::search::SearchParams;
use confab_app::{App, AppConfig};
use confab_store::{Batch, Op, Session, SledStore, Store};

async fn app_with(config: AppConfig) -> (tempfile::TempDir, Arc<SledStore>, App) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::support::sled_store(dir.path());
    let app = crate::support::open(store.clone(), config, dir.path());
    (dir, store, app)
}

fn config() -> AppConfig {
    let mut config = crate::support::config();
    config.limits.searches_per_second = 1_000;
    config.limits.search_burst = 1_000;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_log_keeps_at_most_its_configured_number_of_searches() {
    let mut config = config();
    config.search.log_max_queries = 3;
    let (_dir, store, app) = app_with(config).await;
    let (ada, ws) = crate::support::searchable_post(&app, "the analytical engine", "engine").await;
    let search =
        || app.search(ada, ws, SearchParams { q: "engine".into(), limit: None, offset: None, sort: None });
    for _ in 0..9 {
        search().unwrap();
    }
    let logged = |store: &SledStore| store.blobs(ws, "search_log").unwrap();
    assert!(logged(&store).len() >= 10, "every search with hits was logged");
    let newest = logged(&store).last().unwrap().0.clone();
    let before = logged(&store).len();
    assert_eq!(app.prune_search_log(ws).await.unwrap(), before - 3);
    let kept = logged(&store);
    assert_eq!(kept.len(), 3);
    assert_eq!(kept.last().unwrap().0, newest, "the newest searches are kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_are_swept_and_live_ones_kept() {
    let (_dir, store, app) = app_with(config()).await;
    let user = confab_core::UserId::from_ulid(ulid::Ulid::new());
    let mut batch = Batch::new();
    for (n, expires_at) in [(1u8, 1), (2, 2), (3, i64::MAX)] {
        batch.push(Op::PutSession {
            token_hash: [n; 32],
            session: Session { user, created_at: 0, expires_at },
        });
    }
    store.apply(batch).unwrap();
    assert_eq!(app.sweep_expired_sessions().await.unwrap(), 2);
    let left: Vec<[u8; 32]> = store.sessions_of(user).unwrap().into_iter().map(|(h, _)| h).collect();
    assert_eq!(left, vec![[3; 32]]);
}

/// The server gives freed memory back only after a tick with no write in it
/// (`return_freed_memory`): every write has moved `App::write_activity` by the time
/// it returns, so a tick never takes a writing server for a quiet one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_has_moved_the_write_activity_when_it_returns() {
    let (_dir, _store, app) = app_with(config()).await;
    let (ada, _) = crate::support::person(&app, 0).await;
    let ws = app.create_workspace(ada, "W").await.unwrap().workspace.id;
    let general = app.list_channels(ada, ws).unwrap()[0].channel.id;
    for i in 0..20 {
        let before = app.write_activity();
        let text = confab_app::PostMessage { text: format!("m{i}"), thread_root: None, client_msg_id: None };
        app.post_message(ada, general, text).await.unwrap();
        assert!(app.write_activity() > before, "post {i} returned before the activity moved");
    }
}

/// The event log is pruned past `events.retention` a few events at a time: the
/// removals run inside the write that carries them, and one that removed thousands
/// held every acknowledgement behind it for tens of milliseconds (issue 18).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_log_is_pruned_a_small_step_per_write() {
    let mut config = config();
    config.events.retention = 1_000;
    let (_dir, store, app) = app_with(config).await;
    let (ada, _) = crate::support::person(&app, 0).await;
    let ws = app.create_workspace(ada, "W").await.unwrap().workspace.id;
    let general = app.list_channels(ada, ws).unwrap()[0].channel.id;
    let step = confab_app::MAX_PRUNE_STEP;
    let mut first_before = store.event_bounds(ws).unwrap().unwrap().0;
    let mut pruned = 0;
    for i in 0..1_200 {
        let text = confab_app::PostMessage { text: format!("m{i}"), thread_root: None, client_msg_id: None };
        app.post_message(ada, general, text).await.unwrap();
        let (first, last) = store.event_bounds(ws).unwrap().unwrap();
        assert!(first - first_before <= step, "post {i} pruned {} events at once", first - first_before);
        assert!(last - first < 1_000 + step + 1, "post {i} left {} events in the log", last - first + 1);
        pruned += first - first_before;
        first_before = first;
    }
    assert!(pruned >= 150, "the log was pruned as it grew ({pruned} events)");
}
