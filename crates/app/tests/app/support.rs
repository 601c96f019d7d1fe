//! What every `App`-level test starts from.

use std::path::Path;
use std::sync::Arc;

use confab_app::consent::ConsentChangeRequest;
use confab_app::search::SearchParams;
use confab_app::{App, AppConfig, AuthOutcome, Caller, PostMessage, SignupRequest};
use confab_consent::{Category, MemberMode, Purpose, Scope};
use confab_core::{User, WorkspaceId};
use confab_store::{SledStore, Store};

/// Defaults, but fast to run: no training schedule, cheap password hashing and no
/// practical limit on posting, other writes or searching.
pub fn config() -> AppConfig {
    let mut config = AppConfig::default();
    config.training.schedule_hours = 0;
    config.limits.messages_per_second = 1_000_000;
    config.limits.message_burst = 1_000_000;
    config.limits.writes_per_second = 1_000_000;
    config.limits.write_burst = 1_000_000;
    config.limits.searches_per_second = 1_000_000;
    config.limits.search_burst = 1_000_000;
    config.auth.argon2_memory_kib = 256;
    config.auth.argon2_iterations = 1;
    config
}

/// A sled store in `dir/store`.
pub fn sled_store(dir: &Path) -> Arc<SledStore> {
    Arc::new(SledStore::open(&dir.join("store"), &Default::default()).expect("open the store"))
}

/// An app over `store` with its derived data in `dir`.
pub fn open(store: Arc<dyn Store>, config: AppConfig, dir: &Path) -> App {
    App::open(store, config, dir).expect("open the app")
}

/// Signs up `person{i}@example.com`.
pub async fn sign_up(app: &App, i: usize) -> AuthOutcome {
    app.signup(SignupRequest {
        email: format!("person{i}@example.com"),
        password: "a long enough password".into(),
        display_name: format!("Person {i}"),
        username: None,
        invite: None,
    })
    .await
    .expect("sign up")
}

/// A workspace of `owner`'s named `name`, which `members` join through one invite.
pub async fn workspace_with(app: &App, owner: Caller, name: &str, members: &[Caller]) -> WorkspaceId {
    let ws = app.create_workspace(owner, name).await.expect("a workspace").workspace.id;
    let invite = app.create_invite(owner, ws, Default::default()).await.expect("an invite");
    for &member in members {
        app.accept_invite(member, &invite.code).await.expect("join");
    }
    ws
}

/// Signs up `person{i}@example.com` and returns them as a caller.
pub async fn person(app: &App, i: usize) -> (Caller, User) {
    let outcome = sign_up(app, i).await;
    (app.authenticate(&outcome.token).expect("authenticate"), outcome.user)
}

/// Signs up a person who creates a workspace and posts `text` in its #general, and
/// waits (up to 10 s) until `query` finds it: the derived-data task has run.
/// The hits of `q` once they are `expect` (indexing is asynchronous), or what they are
/// after 60 s: a loaded machine (CI on 2 cores) took longer than the 5 s this once
/// waited.
pub async fn hits(app: &App, caller: Caller, ws: WorkspaceId, q: &str, expect: usize) -> usize {
    let params = || SearchParams { q: q.to_string(), limit: None, offset: None, sort: None };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let found = app.search(caller, ws, params()).map(|a| a.total).unwrap_or(usize::MAX);
        if found == expect || tokio::time::Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

pub async fn searchable_post(app: &App, text: &str, query: &str) -> (Caller, WorkspaceId) {
    let (ada, _) = person(app, 0).await;
    let ws = app.create_workspace(ada, "Engines").await.expect("a workspace").workspace.id;
    let general = app.list_channels(ada, ws).expect("channels")[0].channel.id;
    let post = PostMessage { text: text.into(), thread_root: None, client_msg_id: None };
    app.post_message(ada, general, post).await.expect("post");
    let params = || SearchParams { q: query.into(), limit: None, offset: None, sort: None };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while app.search(ada, ws, params()).map(|a| a.hits.is_empty()).unwrap_or(true) {
        assert!(tokio::time::Instant::now() < deadline, "the message became searchable");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (ada, ws)
}

/// A grant of emoji suggestions (messages and reactions, members in until they leave)
/// accepting the current policy.
pub fn emoji_grant() -> ConsentChangeRequest {
    let policy = confab_consent::current_policy(Purpose::EmojiSuggestions);
    ConsentChangeRequest {
        granted: true,
        scope: Some(Scope::Workspace),
        categories: Some(vec![Category::Messages, Category::Reactions]),
        members: Some(MemberMode::OptOut),
        policy_version: Some(policy.version),
        policy_sha256: Some(policy.sha256),
        accept: Some(true),
    }
}
