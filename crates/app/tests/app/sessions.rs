//! Sessions that expire are deleted when presented, not kept forever.

use std::sync::Arc;
use std::time::Duration;

use confab_core::UserId;
use confab_store::{Batch, Op, Session, Store};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn an_expired_session_is_deleted_when_presented() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = crate::support::sled_store(dir.path());
    let app = crate::support::open(store.clone(), crate::support::config(), dir.path());

    let token = "an-expired-session-token";
    let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let mut batch = Batch::new();
    let user = UserId::from_ulid(ulid::Ulid::new());
    batch.push(Op::PutSession { token_hash, session: Session { user, created_at: 1, expires_at: 2 } });
    store.apply(batch).unwrap();
    assert!(store.session(&token_hash).unwrap().is_some());

    assert!(app.authenticate(token).is_err(), "an expired session is refused");
    let mut deleted = false;
    for _ in 0..50 {
        if store.session(&token_hash).unwrap().is_none() {
            deleted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(deleted, "the expired session is deleted from the store");
}

/// A sign-out that lands between a socket's authentication and its registration with
/// the hub still closes it: the connection is told at once.
#[tokio::test]
async fn a_sign_out_between_authenticating_and_connecting_still_ends_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = crate::support::sled_store(dir.path());
    let app = crate::support::open(store, crate::support::config(), dir.path());
    let outcome = app
        .signup(confab_app::SignupRequest {
            email: "ada@example.com".into(),
            password: "a long enough password".into(),
            display_name: "Ada".into(),
            username: None,
            invite: None,
        })
        .await
        .unwrap();
    let grant = app.authenticate_session(&outcome.token).unwrap();
    app.logout(&outcome.token).await.unwrap();
    let (_, subscription) = app.connect(&grant).unwrap();
    let told = tokio::time::timeout(Duration::from_secs(1), subscription.revoked.notified()).await;
    assert!(told.is_ok(), "the connection of an ended session is told to close");
}
