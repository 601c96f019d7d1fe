//! Uploads handed off between nodes of a cluster (`App::post_handed_off`): another
//! node received the bytes and left them in the shared directory; the node that
//! sequences the workspace posts them from a record. A record is trusted no further
//! than the content it names: the content is taken from the channel's own
//! workspace only, once, hashed again, and checked as an upload received here;
//! whatever is refused is deleted.

use std::path::Path;
use std::sync::Arc;

use confab_app::files::{HandedOff, SharedFiles};
use confab_app::{App, Caller};
use confab_core::{ChannelId, ErrorCode, FileId, WorkspaceId};
use confab_store::blobs::hex;
use confab_store::{BlobStore, LocalBlobs, Store};

/// The node sequencing the workspaces ("a", the app) and the node that received
/// the uploads ("b"), sharing `dir/shared`.
struct Nodes {
    _dir: tempfile::TempDir,
    shared: std::path::PathBuf,
    app: App,
    receiver: LocalBlobs,
}

fn nodes(quota: u64) -> Nodes {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let mut config = crate::support::config();
    config.files.workspace_quota_bytes = quota;
    config.shared_files = Some(SharedFiles { dir: shared.clone(), node: "a".into() });
    let store: Arc<dyn Store> = crate::support::sled_store(dir.path());
    let app = crate::support::open(store, config, dir.path());
    let receiver = LocalBlobs::open_shared(&shared, "b").unwrap();
    Nodes { _dir: dir, shared, app, receiver }
}

/// What node "b" forwards after receiving `bytes` for `ws`.
fn hand_off(receiver: &LocalBlobs, ws: WorkspaceId, bytes: &[u8]) -> HandedOff {
    let mut staging = receiver.stage().unwrap();
    staging.write(bytes).unwrap();
    let sealed = staging.seal().unwrap();
    let record = HandedOff {
        file: FileId::from_ulid(ulid::Ulid::new()),
        name: "notes.txt".into(),
        hash: hex(&sealed.hash),
        size: sealed.size,
    };
    receiver.hand_off(ws, record.file, sealed).unwrap();
    record
}

async fn workspace(app: &App, owner: Caller, name: &str) -> (WorkspaceId, ChannelId) {
    let ws = app.create_workspace(owner, name).await.unwrap().workspace.id;
    let general = app.list_channels(owner, ws).unwrap().into_iter().find(|c| c.channel.name == "general");
    (ws, general.unwrap().channel.id)
}

/// Files anywhere under `dir` (contents, staging, handoffs).
fn files_under(dir: &Path) -> usize {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    entries.map(|e| if e.path().is_dir() { files_under(&e.path()) } else { 1 }).sum()
}

fn code(result: confab_app::Result<impl std::fmt::Debug>) -> Option<ErrorCode> {
    match result {
        Err(confab_app::AppError::Client(e)) => Some(e.code),
        Err(_) => Some(ErrorCode::Internal),
        Ok(posted) => panic!("expected a refusal, got {posted:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handed_off_upload_is_posted_once_from_its_own_workspace_and_refusals_leave_nothing() {
    let Nodes { _dir, shared, app, receiver } = nodes(1000);
    let (ada, _) = crate::support::person(&app, 0).await;
    let (eve, _) = crate::support::person(&app, 1).await;
    let (ws, general) = workspace(&app, ada, "A").await;
    let (eves_ws, eves_general) = workspace(&app, eve, "E").await;

    // Posted as if uploaded here: the content placed at its address, the handoff taken.
    let record = hand_off(&receiver, ws, b"field notes");
    let (files, message) =
        app.post_handed_off(ada, general, vec![record.clone()], "attached".into(), None).await.unwrap();
    assert_eq!(message.files, vec![record.file]);
    assert_eq!((files[0].id, files[0].size), (record.file, 11));
    assert_eq!(files[0].content_type, "text/plain; charset=utf-8", "sniffed by the holder");
    let (_, mut content) = app.open_file(ada, record.file).unwrap();
    let mut read = String::new();
    std::io::Read::read_to_string(&mut content, &mut read).unwrap();
    assert_eq!(read, "field notes");
    let stored = files_under(&shared);

    // The same record again (a replay) finds nothing to take.
    let replay = app.post_handed_off(ada, general, vec![record], String::new(), None).await;
    assert_eq!(code(replay), Some(ErrorCode::Internal));

    // A record whose hash is not its content's: refused, and the content deleted.
    let mut lying = hand_off(&receiver, ws, b"not what the record says");
    lying.hash = hex(&[7; 32]);
    assert_eq!(
        code(app.post_handed_off(ada, general, vec![lying], String::new(), None).await),
        Some(ErrorCode::Internal)
    );

    // Eve posting in her workspace cannot take an upload handed off for Ada's.
    let adas = hand_off(&receiver, ws, b"ada's upload in flight");
    let stolen = app.post_handed_off(eve, eves_general, vec![adas.clone()], String::new(), None).await;
    assert_eq!(code(stolen), Some(ErrorCode::Internal));
    receiver.claim(ws, adas.file).expect("still there for Ada's holder");

    // Nor post into a channel she may not read, with her own upload.
    let eves = hand_off(&receiver, ws, b"eve's upload");
    let intruding = app.post_handed_off(eve, general, vec![eves], String::new(), None).await;
    assert!(matches!(code(intruding), Some(ErrorCode::ChannelNotFound | ErrorCode::Forbidden)));

    // Past the workspace's quota (1,000 bytes): refused by the holder, deleted.
    let big = hand_off(&receiver, ws, &[1; 1000]);
    let over = app.post_handed_off(ada, general, vec![big], String::new(), None).await;
    assert_eq!(code(over), Some(ErrorCode::QuotaExceeded));
    // Several files refused together: none is left behind.
    let (one, two) = (hand_off(&receiver, ws, b"one"), hand_off(&receiver, ws, b"two"));
    let mut missing = hand_off(&receiver, eves_ws, b"elsewhere");
    missing.name = "missing".into();
    let partly = app.post_handed_off(ada, general, vec![one, missing, two], String::new(), None).await;
    assert_eq!(code(partly), Some(ErrorCode::Internal));

    // Only what was posted stays, and Eve's workspace's own handoff.
    assert_eq!(files_under(&shared), stored + 1, "refused uploads left nothing");
}
