//! Sessions that expire are deleted when presented, not kept forever.

use std::sync::Arc;
use std::time::Duration;

use confab_core::UserId;
use confab_store::{Batch, Op, Session, SledStore, Store};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn an_expired_session_is_deleted_when_presented() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(&dir.path().join("store"), &Default::default()).unwrap());
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
