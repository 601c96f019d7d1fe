//! A connection's sends on a node of a cluster keep their send order across a
//! takeover: the lease moves to this node while earlier sends of the connection are
//! still being forwarded to the old holder (`App::post_message_anywhere`).
//!
//! The leases and the forwarder are stand-ins the test moves by hand; the futures
//! are polled one step at a time, so nothing here depends on timing.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use confab_app::cluster::{Forwarded, Forwarder, Lease, WriteLeases};
use confab_app::files::HandedOff;
use confab_app::lifecycle::ErasureReport;
use confab_app::{App, AppError, Caller, PostMessage};
use confab_core::{ChannelId, Error, ErrorCode, FileInfo, Message, MessageId, UserId, WorkspaceId};
use confab_store::StoreError;
use tokio::sync::oneshot;

use crate::support;

/// Leases held elsewhere until `here` is set: then this node holds them all (the
/// holder died and this node took its workspace over).
#[derive(Default)]
struct MovingLease {
    here: AtomicBool,
}

impl WriteLeases for MovingLease {
    fn holds(&self, _: WorkspaceId) -> bool {
        self.here.load(Ordering::SeqCst)
    }

    fn take(&self, _: WorkspaceId) -> Result<Lease, StoreError> {
        Ok(if self.here.load(Ordering::SeqCst) { Lease::Held } else { Lease::Elsewhere })
    }

    fn release_all(&self) {}
}

/// A forwarder whose first post waits for `release`, then fails as one to a dead
/// holder does (`unavailable` after the forward timeout); any later post is served
/// by this node, as the real forwarder does once it finds the lease its own.
#[derive(Default)]
struct StalledHolder {
    app: OnceLock<App>,
    release: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Forwarder for StalledHolder {
    fn post(
        &self,
        _: WorkspaceId,
        caller: Caller,
        channel: ChannelId,
        req: PostMessage,
    ) -> Forwarded<Message> {
        let app = self.app.get().expect("the app is set").clone();
        let gate = self.release.lock().unwrap().take();
        Box::pin(async move {
            match gate {
                Some(gate) => {
                    let _ = gate.await;
                    Err(AppError::Client(Error::new(ErrorCode::Unavailable, "the holder did not answer")))
                }
                None => app.post_message(caller, channel, req).await,
            }
        })
    }

    fn post_files(
        &self,
        _: WorkspaceId,
        _: Caller,
        _: ChannelId,
        _: Vec<HandedOff>,
        _: String,
        _: Option<MessageId>,
    ) -> Forwarded<(Vec<FileInfo>, Message)> {
        Box::pin(async { Err(AppError::Client(Error::internal())) })
    }

    fn user_updated(&self, _: WorkspaceId, _: UserId) -> Forwarded<()> {
        Box::pin(async { Ok(()) })
    }

    fn erase_member(&self, _: WorkspaceId, _: UserId) -> Forwarded<ErasureReport> {
        Box::pin(async { Err(AppError::Client(Error::internal())) })
    }
}

/// A node of a cluster on a sled store, with ada's workspace and its #general: the
/// lease is elsewhere until a test moves it here, and forwards go to `forwarder`.
struct Node {
    _dir: tempfile::TempDir,
    app: App,
    ada: Caller,
    general: ChannelId,
    leases: Arc<MovingLease>,
    forwarder: Arc<StalledHolder>,
    _published: tokio::sync::mpsc::Receiver<Vec<confab_core::EventRecord>>,
}

impl Node {
    async fn start() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let app = support::open(support::sled_store(dir.path()), support::config(), dir.path());
        let (ada, _) = support::person(&app, 0).await;
        let ws = app.create_workspace(ada, "W").await.unwrap().workspace.id;
        let general = app.list_channels(ada, ws).unwrap()[0].channel.id;
        let leases = Arc::new(MovingLease::default());
        let forwarder = Arc::new(StalledHolder::default());
        let _ = forwarder.app.set(app.clone());
        let _published = app.join_cluster(leases.clone(), Some(forwarder.clone()));
        Node { _dir: dir, app, ada, general, leases, forwarder, _published }
    }
}

/// Polls a future once, as the connection's loop does when the send arrives.
fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

fn text(t: &str) -> PostMessage {
    PostMessage { text: t.into(), thread_root: None, client_msg_id: None }
}

/// The crash bench's one out-of-order message per takeover: a send arriving after
/// the takeover was posted here at once, before the earlier sends still queued
/// behind the one the dead holder never answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_after_a_takeover_waits_for_the_sends_forwarded_before_it() {
    let node = Node::start().await;
    let (app, ada, general, leases) = (&node.app, node.ada, node.general, &node.leases);
    let (release, gate) = oneshot::channel();
    *node.forwarder.release.lock().unwrap() = Some(gate);

    // One connection's turn, as `ws.rs` keeps it.
    let in_order = tokio::sync::Mutex::new(());
    let mut first = pin!(app.post_message_anywhere(ada, general, text("first"), &in_order));
    assert!(poll_once(first.as_mut()).is_pending(), "forwarded to the holder, which does not answer");
    let mut second = pin!(app.post_message_anywhere(ada, general, text("second"), &in_order));
    assert!(poll_once(second.as_mut()).is_pending(), "waits for its turn");

    // The holder is dead; its lease expired and this node took the workspace.
    leases.here.store(true, Ordering::SeqCst);
    let mut third = pin!(app.post_message_anywhere(ada, general, text("third"), &in_order));
    let _ = poll_once(third.as_mut());

    // The first send's forward times out; the other two are served here.
    release.send(()).unwrap();
    let (first, second, third) = tokio::join!(first, second, third);
    assert_eq!(first.unwrap_err().to_client().code, ErrorCode::Unavailable);
    let (second, third) = (second.expect("second acked"), third.expect("third acked"));
    assert!(
        second.seq < third.seq,
        "acknowledged sends are stored in send order: second at seq {}, third at seq {}",
        second.seq,
        third.seq
    );
}

/// On the node that holds the lease, a connection's sends are still several in
/// flight at once: a send keeps the connection's turn until it is sequenced, not
/// until it is durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_posted_here_give_up_the_turn_once_sequenced() {
    let node = Node::start().await;
    let (app, ada, general) = (&node.app, node.ada, node.general);
    node.leases.here.store(true, Ordering::SeqCst);

    let in_order = tokio::sync::Mutex::new(());
    let mut first = pin!(app.post_message_anywhere(ada, general, text("first"), &in_order));
    let _ = poll_once(first.as_mut());
    assert!(in_order.try_lock().is_ok(), "the turn is free once the first send is sequenced");
    let mut second = pin!(app.post_message_anywhere(ada, general, text("second"), &in_order));
    let _ = poll_once(second.as_mut());
    let (first, second) = tokio::join!(first, second);
    assert_eq!((first.unwrap().seq, second.unwrap().seq), (1, 2));
}
