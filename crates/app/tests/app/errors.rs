//! Where an error gets its code: a file or record on disk that cannot be read is the
//! server's failure (`internal`, HTTP 500, its cause kept for the one log line the
//! responder writes and never shown), a request the caller got wrong is theirs (a
//! 4xx with a stable code).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use confab_app::consent::ConsentChangeRequest;
use confab_app::{App, AppError, Caller};
use confab_consent::{Category, Purpose};
use confab_core::{Error, ErrorCode, WorkspaceId};
use confab_store::{Batch, Op, SledStore, Store};

struct World {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    store: Arc<dyn Store>,
    app: App,
    /// The instance admin, owner of `ws`.
    owner: Caller,
    member: Caller,
    ws: WorkspaceId,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(&dir.path().join("store"), &Default::default()).unwrap());
    let app = crate::support::open(store.clone(), crate::support::config(), dir.path());
    let owner = crate::support::person(&app, 0).await.0;
    let member = crate::support::person(&app, 1).await.0;
    let ws = crate::support::workspace_with(&app, owner, "Errors", &[member]).await;
    let path = dir.path().to_path_buf();
    World { _dir: dir, dir: path, store, app, owner, member, ws }
}

/// A model directory, named as runs name them, whose manifest is cut off mid-way.
fn corrupt_model(data_dir: &Path) -> String {
    let id = "emoji-suggestions-ws-1700000000000-0123456789abcdef".to_owned();
    let model = data_dir.join("models").join(&id);
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("manifest.json"), br#"{"id": "emoji-sugg"#).unwrap();
    id
}

/// A grant of emoji suggestions accepting the current policy, with `edit` applied.
fn grant(edit: impl FnOnce(&mut ConsentChangeRequest)) -> ConsentChangeRequest {
    let mut req = crate::support::emoji_grant();
    edit(&mut req);
    req
}

/// The server's failure: `internal` with the generic message, and the cause (naming
/// `cause`) still in the error the responder logs.
fn assert_internal(err: &AppError, cause: &str) {
    assert!(!matches!(err, AppError::Client(_)), "the cause must reach the responder's log: {err:?}");
    assert_eq!(err.code(), ErrorCode::Internal, "{err:?}");
    assert_eq!(err.code().http_status(), 500);
    assert_eq!(err.to_client(), Error::internal(), "a client never sees the cause: {err:?}");
    assert!(err.to_string().contains(cause), "the logged cause should name {cause:?}: {err}");
}

/// The caller's mistake, answered as it is with a stable 4xx code.
fn assert_client(err: &AppError, code: ErrorCode) {
    assert!(matches!(err, AppError::Client(_)), "{err:?}");
    assert_eq!(err.code(), code, "{err:?}");
    assert!((400..500).contains(&code.http_status()), "{code}");
}

/// A model manifest on disk that does not parse is `internal` wherever it is read,
/// never the caller's mistake: `confab models show` answered `not_found` with the
/// parse error in its message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_model_file_is_the_servers_failure_not_the_callers() {
    let w = world().await;
    let id = corrupt_model(&w.dir);

    assert_internal(&w.app.model_record(&id).unwrap_err(), "manifest");
    assert_internal(&w.app.model_records(Some(w.ws)).unwrap_err(), "manifest");
    assert_internal(&w.app.models(w.owner, w.ws).unwrap_err(), "manifest");

    // An id the caller made up is still theirs: not found.
    for made_up in ["emoji-suggestions-ws-1-ffffffffffffffff", "../../etc/passwd", ""] {
        assert_client(&w.app.model_record(made_up).unwrap_err(), ErrorCode::NotFound);
    }
}

/// A consent change records the change, then retires the models it lapsed; reading
/// a corrupt manifest fails that sweep. The owner is told the change holds and the
/// sweep failed, not the parse error or the file it is in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_change_meeting_a_corrupt_model_answers_internal_without_the_cause() {
    let w = world().await;
    let id = corrupt_model(&w.dir);

    let err = w.app.change_consent(w.owner, w.ws, "emoji_suggestions", grant(|_| {})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Internal, "{err:?}");
    let message = err.to_client().message;
    assert!(message.contains("the consent change is recorded") && message.contains("retiring them failed"));
    for cause in [id.as_str(), "manifest", "EOF", "models/"] {
        assert!(!message.contains(cause), "the client is shown the cause ({cause:?}): {message}");
    }
    let state = w.app.admin_consent_state(w.ws).unwrap();
    assert!(state.purpose(Purpose::EmojiSuggestions).granted, "the grant itself is recorded");
}

/// A consent ledger record in the store that does not parse is `internal`, with the
/// store's own error (naming the record) as its cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_consent_record_is_the_servers_failure() {
    let w = world().await;
    let mut batch = Batch::new();
    batch.push(Op::PutBlob {
        workspace: w.ws,
        namespace: "consent_ledger",
        key: 1u64.to_be_bytes().to_vec(),
        value: b"{\"seq\": 1, \"workspace\"".to_vec(),
    });
    w.store.apply(batch).unwrap();

    assert_internal(&w.app.consent(w.owner, w.ws).unwrap_err(), "corrupt record under consent_ledger/");
    assert_internal(&w.app.consent_history(w.member, w.ws).unwrap_err(), "consent_ledger/");
    assert_internal(
        &w.app.consent_preview(w.owner, w.ws, "emoji_suggestions").unwrap_err(),
        "consent_ledger/",
    );
    let change = w.app.change_consent(w.owner, w.ws, "emoji_suggestions", grant(|_| {})).await;
    assert_internal(&change.unwrap_err(), "consent_ledger/");
    let own = w.app.set_own_consent(w.member, w.ws, "emoji_suggestions", false).await;
    assert_internal(&own.unwrap_err(), "consent_ledger/");
}

/// What a caller sends wrong to the same use cases is theirs to fix, each with its
/// stable code, and nothing is appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_consent_request_is_the_callers_with_a_stable_code() {
    let w = world().await;
    let change = |caller: Caller, purpose: &'static str, req: ConsentChangeRequest| {
        let app = w.app.clone();
        async move { app.change_consent(caller, w.ws, purpose, req).await.unwrap_err() }
    };
    let stale = Some("0".repeat(64));
    let refused = [
        (
            change(w.owner, "emoji_suggestions", grant(|r| r.accept = None)).await,
            ErrorCode::ConsentNotExplicit,
        ),
        (
            change(w.owner, "emoji_suggestions", grant(|r| r.accept = Some(false))).await,
            ErrorCode::ConsentNotExplicit,
        ),
        (
            change(w.owner, "emoji_suggestions", grant(|r| r.policy_sha256 = stale)).await,
            ErrorCode::PolicyMismatch,
        ),
        (
            change(w.owner, "emoji_suggestions", grant(|r| r.categories = Some(vec![]))).await,
            ErrorCode::InvalidField,
        ),
        (
            change(w.owner, "emoji_suggestions", grant(|r| r.categories = Some(vec![Category::Memberships])))
                .await,
            ErrorCode::InvalidField,
        ),
        (change(w.owner, "emoji_suggestions", grant(|r| r.scope = None)).await, ErrorCode::InvalidField),
        (change(w.member, "emoji_suggestions", grant(|_| {})).await, ErrorCode::Forbidden),
        (change(w.owner, "mind_reading", grant(|_| {})).await, ErrorCode::NotFound),
    ];
    for (err, code) in &refused {
        assert_client(err, *code);
    }
    assert!(refused[4].0.to_client().message.contains("memberships"), "{:?}", refused[4].0);
    let train = w.app.train(w.owner, Some("mind_reading"), true).await.unwrap_err();
    assert_client(&train, ErrorCode::InvalidField);
    assert_eq!(w.app.admin_consent_state(w.ws).unwrap().head_seq, None, "nothing was appended");
}
