//! The promise that no acknowledged message is lost, checked in-process against the
//! real sled store under races and injected store failures.
//!
//! Many tasks post, edit, react, join and leave channels and open DMs in one
//! workspace at once, while the store refuses some batches (as it does when a unique
//! key is taken). Afterwards, read back from the store:
//! - every acknowledged message is in its channel's history exactly once, at the
//!   `seq` it was acknowledged with;
//! - `seq` is gapless per channel and `event_seq` gapless and unique per workspace;
//! - the app's in-memory membership (what authorisation and fan-out use) equals the
//!   stored membership.
//!
//! A second test injects a failed flush: the write it belonged to is not
//! acknowledged, and every later write answers `unavailable` (fail-stop).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use confab_app::{App, Caller, CreateChannel, PostMessage};
use confab_core::{
    Channel, ChannelId, ChannelMembership, ErrorCode, EventRecord, Invite, Member, Message, MessageId,
    Millis, User, UserId, Workspace, WorkspaceId,
};
use confab_store::{Batch, Direction, Result, Session, SledStore, Store, StoreError, UserRecord};

/// The real sled store, refusing every `refuse_every`-th batch (0: none) the way it
/// refuses a batch whose unique key is taken, failing the next flush on demand, and
/// refusing every write once `stopped`, as a store that stopped itself does.
struct FaultyStore {
    inner: SledStore,
    refuse_every: AtomicU64,
    applies: AtomicU64,
    fail_next_flush: AtomicBool,
    stopped: AtomicBool,
}

impl Store for FaultyStore {
    fn apply(&self, batch: Batch) -> Result<()> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(StoreError::Stopped);
        }
        let n = self.applies.fetch_add(1, Ordering::Relaxed) + 1;
        let every = self.refuse_every.load(Ordering::Relaxed);
        if every != 0 && n.is_multiple_of(every) {
            return Err(StoreError::Taken("injected refusal"));
        }
        self.inner.apply(batch)
    }
    fn flush(&self) -> Result<()> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(StoreError::Stopped);
        }
        if self.fail_next_flush.swap(false, Ordering::AcqRel) {
            return Err(StoreError::Io(std::io::Error::other("injected flush failure")));
        }
        self.inner.flush()
    }
    fn consent_generation(&self) -> Result<u64> {
        self.inner.consent_generation()
    }
    fn user(&self, id: UserId) -> Result<Option<UserRecord>> {
        self.inner.user(id)
    }
    fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        self.inner.user_by_email(email)
    }
    fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        self.inner.user_by_username(username)
    }
    fn user_count(&self) -> Result<u64> {
        self.inner.user_count()
    }
    fn users(&self) -> Result<Vec<UserRecord>> {
        self.inner.users()
    }
    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>> {
        self.inner.session(token_hash)
    }
    fn sessions_of(&self, user: UserId) -> Result<Vec<([u8; 32], Session)>> {
        self.inner.sessions_of(user)
    }
    fn expired_sessions(&self, now: Millis, limit: usize) -> Result<Vec<[u8; 32]>> {
        self.inner.expired_sessions(now, limit)
    }
    fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>> {
        self.inner.workspace(id)
    }
    fn workspace_ids(&self) -> Result<Vec<WorkspaceId>> {
        self.inner.workspace_ids()
    }
    fn workspaces_of(&self, user: UserId) -> Result<Vec<WorkspaceId>> {
        self.inner.workspaces_of(user)
    }
    fn member(&self, workspace: WorkspaceId, user: UserId) -> Result<Option<Member>> {
        self.inner.member(workspace, user)
    }
    fn members(&self, workspace: WorkspaceId) -> Result<Vec<Member>> {
        self.inner.members(workspace)
    }
    fn channel(&self, id: ChannelId) -> Result<Option<Channel>> {
        self.inner.channel(id)
    }
    fn channels(&self, workspace: WorkspaceId) -> Result<Vec<Channel>> {
        self.inner.channels(workspace)
    }
    fn channel_by_name(&self, workspace: WorkspaceId, name: &str) -> Result<Option<ChannelId>> {
        self.inner.channel_by_name(workspace, name)
    }
    fn channel_member(&self, channel: ChannelId, user: UserId) -> Result<Option<ChannelMembership>> {
        self.inner.channel_member(channel, user)
    }
    fn channel_members(&self, channel: ChannelId) -> Result<Vec<(UserId, ChannelMembership)>> {
        self.inner.channel_members(channel)
    }
    fn message(&self, id: MessageId) -> Result<Option<Message>> {
        self.inner.message(id)
    }
    fn message_at(&self, channel: ChannelId, seq: u64) -> Result<Option<Message>> {
        self.inner.message_at(channel, seq)
    }
    fn messages(&self, channel: ChannelId, direction: Direction, limit: usize) -> Result<Vec<Message>> {
        self.inner.messages(channel, direction, limit)
    }
    fn thread_replies(&self, root: MessageId, limit: usize) -> Result<Vec<Message>> {
        self.inner.thread_replies(root, limit)
    }
    fn last_seq(&self, channel: ChannelId) -> Result<u64> {
        self.inner.last_seq(channel)
    }
    fn message_by_client_id(
        &self,
        channel: ChannelId,
        author: UserId,
        client_msg_id: &str,
    ) -> Result<Option<MessageId>> {
        self.inner.message_by_client_id(channel, author, client_msg_id)
    }
    fn mention_count(&self, channel: ChannelId, user: UserId, after_seq: u64) -> Result<u64> {
        self.inner.mention_count(channel, user, after_seq)
    }
    fn unread_count(&self, channel: ChannelId, after_seq: u64) -> Result<u64> {
        self.inner.unread_count(channel, after_seq)
    }
    fn thread_reply_seqs(&self, root: MessageId) -> Result<Vec<u64>> {
        self.inner.thread_reply_seqs(root)
    }
    fn thread_members(&self, root: MessageId) -> Result<Vec<UserId>> {
        self.inner.thread_members(root)
    }
    fn threads_of(&self, user: UserId, workspace: WorkspaceId) -> Result<Vec<(MessageId, u64)>> {
        self.inner.threads_of(user, workspace)
    }
    fn thread_read_marker(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        root: MessageId,
    ) -> Result<Option<u64>> {
        self.inner.thread_read_marker(user, workspace, root)
    }
    fn activity(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<(MessageId, confab_store::Activity)>> {
        self.inner.activity(user, workspace, before, limit)
    }
    fn avatar(&self, user: UserId) -> Result<Option<Vec<u8>>> {
        self.inner.avatar(user)
    }
    fn saved(&self, user: UserId, workspace: WorkspaceId) -> Result<Vec<(MessageId, confab_core::Millis)>> {
        self.inner.saved(user, workspace)
    }
    fn pins(&self, channel: ChannelId) -> Result<Vec<confab_store::Pin>> {
        self.inner.pins(channel)
    }
    fn thread_mentions(
        &self,
        user: UserId,
        workspace: WorkspaceId,
        channel: ChannelId,
    ) -> Result<Vec<(u64, MessageId)>> {
        self.inner.thread_mentions(user, workspace, channel)
    }
    fn events(&self, workspace: WorkspaceId, after: u64, limit: usize) -> Result<Vec<EventRecord>> {
        self.inner.events(workspace, after, limit)
    }
    fn event_bounds(&self, workspace: WorkspaceId) -> Result<Option<(u64, u64)>> {
        self.inner.event_bounds(workspace)
    }
    fn invite(&self, code: &str) -> Result<Option<Invite>> {
        self.inner.invite(code)
    }
    fn invites(&self, workspace: WorkspaceId) -> Result<Vec<Invite>> {
        self.inner.invites(workspace)
    }
    fn blob(&self, workspace: WorkspaceId, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.blob(workspace, namespace, key)
    }
    fn blobs(&self, workspace: WorkspaceId, namespace: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.blobs(workspace, namespace)
    }
    fn blob_keys(&self, workspace: WorkspaceId, namespace: &str) -> Result<Vec<Vec<u8>>> {
        self.inner.blob_keys(workspace, namespace)
    }
    fn scan_messages(&self, workspace: WorkspaceId, visit: &mut dyn FnMut(Message) -> bool) -> Result<()> {
        self.inner.scan_messages(workspace, visit)
    }
}

struct World {
    _dir: tempfile::TempDir,
    store: Arc<FaultyStore>,
    app: App,
    ws: WorkspaceId,
    general: ChannelId,
    random: ChannelId,
    people: Vec<(Caller, User)>,
}

/// An app over a faulty store, a workspace with #general and #random, and `n` members.
async fn world(n: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FaultyStore {
        inner: SledStore::open(&dir.path().join("store"), &Default::default()).unwrap(),
        refuse_every: AtomicU64::new(0),
        applies: AtomicU64::new(0),
        fail_next_flush: AtomicBool::new(false),
        stopped: AtomicBool::new(false),
    });
    let app = crate::support::open(store.clone(), crate::support::config(), dir.path());
    let mut people = Vec::new();
    for i in 0..n {
        people.push(crate::support::person(&app, i).await);
    }
    let owner = people[0].0;
    let ws = app.create_workspace(owner, "Integrity").await.unwrap().workspace.id;
    let invite = app.create_invite(owner, ws, Default::default()).await.unwrap();
    for (caller, _) in &people[1..] {
        app.accept_invite(*caller, &invite.code).await.unwrap();
    }
    let channels = app.list_channels(owner, ws).unwrap();
    let general = channels.iter().find(|c| c.channel.name == "general").unwrap().channel.id;
    let random = app
        .create_channel(
            owner,
            ws,
            CreateChannel { name: "random".into(), private: false, topic: String::new() },
        )
        .await
        .unwrap()
        .id;
    World { _dir: dir, store, app, ws, general, random, people }
}

fn post(text: String) -> PostMessage {
    PostMessage { text, thread_root: None, client_msg_id: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_acknowledged_write_is_lost_under_races_and_refused_batches() {
    let w = world(5).await;
    w.store.refuse_every.store(7, Ordering::Relaxed);
    let mut tasks = tokio::task::JoinSet::new();
    // Three posters into #general, one into #random; each keeps what was acknowledged.
    for (i, (caller, _)) in w.people.iter().take(4).enumerate() {
        let (app, caller) = (w.app.clone(), *caller);
        let channel = if i == 3 { w.random } else { w.general };
        if i == 3 {
            // Posting in #random needs membership; retry past refusals.
            while app.join_channel(caller, channel).await.is_err() {}
        }
        tasks.spawn(async move {
            let mut acked = Vec::new();
            for n in 0..150 {
                if let Ok(message) = app.post_message(caller, channel, post(format!("{i}:{n}"))).await {
                    acked.push(message.clone());
                    if n % 10 == 0 {
                        let _ = app.edit_message(caller, message.id, &format!("{i}:{n} edited")).await;
                        let _ = app.add_reaction(caller, message.id, "tada").await;
                    }
                }
                tokio::task::yield_now().await;
            }
            acked
        });
    }
    // One member joins and leaves #random and opens DMs over and over.
    let (app, caller) = (w.app.clone(), w.people[4].0);
    let others: Vec<UserId> = w.people.iter().map(|(_, u)| u.id).filter(|u| *u != caller.user).collect();
    let (random, ws) = (w.random, w.ws);
    tasks.spawn(async move {
        for n in 0..120 {
            let _ = match n % 3 {
                0 => app.join_channel(caller, random).await.map(drop),
                1 => app.leave_channel(caller, random).await,
                _ => app.open_dm(caller, ws, &[others[n % others.len()]]).await.map(drop),
            };
            tokio::task::yield_now().await;
        }
        Vec::new()
    });
    let mut acked: Vec<Message> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        acked.extend(done.unwrap());
    }
    w.store.refuse_every.store(0, Ordering::Relaxed);
    assert!(w.store.applies.load(Ordering::Relaxed) > 500, "the test exercised the store");
    assert!(acked.len() > 400, "most posts were acknowledged: {}", acked.len());

    // Every acknowledged message is in history exactly once, where it was acknowledged.
    let mut by_channel: HashMap<ChannelId, BTreeMap<u64, MessageId>> = HashMap::new();
    for message in &acked {
        let previous = by_channel.entry(message.channel).or_default().insert(message.seq, message.id);
        assert_eq!(previous, None, "two acknowledged messages share seq {}", message.seq);
    }
    for (channel, acked_seqs) in &by_channel {
        let stored = w.store.messages(*channel, Direction::Forward { after: 0 }, 100_000).unwrap();
        let seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
        let gapless: Vec<u64> = (1..=stored.len() as u64).collect();
        assert_eq!(seqs, gapless, "seq is gapless in the channel");
        let ids: HashMap<u64, MessageId> = stored.iter().map(|m| (m.seq, m.id)).collect();
        for (seq, id) in acked_seqs {
            assert_eq!(ids.get(seq), Some(id), "the acknowledged message at seq {seq} is the stored one");
        }
        let stored_ids: HashSet<MessageId> = stored.iter().map(|m| m.id).collect();
        assert_eq!(stored_ids.len(), stored.len(), "no message is stored twice");
    }

    // event_seq is unique and gapless.
    let events = w.store.events(w.ws, 0, 1_000_000).unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.event_seq).collect();
    let first = seqs[0];
    assert_eq!(seqs, (first..first + seqs.len() as u64).collect::<Vec<_>>(), "event_seq is gapless");

    // What the app holds in memory is what the store holds.
    for (caller, _) in &w.people {
        for view in w.app.list_channels(*caller, w.ws).unwrap() {
            let stored: HashSet<UserId> =
                w.store.channel_members(view.channel.id).unwrap().into_iter().map(|(u, _)| u).collect();
            assert_eq!(view.member_count, stored.len() as u64, "members of #{}", view.channel.name);
            assert_eq!(view.is_member, stored.contains(&caller.user), "membership of #{}", view.channel.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_acknowledges_nothing_and_stops_every_later_write() {
    let w = world(2).await;
    let (alice, bob) = (w.people[0].0, w.people[1].0);
    let before = w.app.post_message(alice, w.general, post("durable".into())).await.unwrap();
    w.store.fail_next_flush.store(true, Ordering::Release);
    let failed = w.app.post_message(alice, w.general, post("not durable".into())).await.unwrap_err();
    assert_eq!(failed.code(), ErrorCode::Unavailable);
    // Later writes, of anyone and of any kind, are refused though the store would work.
    let later = w.app.post_message(bob, w.general, post("after".into())).await.unwrap_err();
    assert_eq!(later.code(), ErrorCode::Unavailable);
    let join = w.app.join_channel(bob, w.random).await.unwrap_err();
    assert_eq!(join.code(), ErrorCode::Unavailable);
    assert!(w.app.writes_stopped());
    // Reads go on.
    assert_eq!(w.app.message(alice, before.id).unwrap().text, "durable");
}

/// A consent change to a store that stopped after a failed write is refused as every
/// other write then is, `unavailable`, not as an `internal` error: the consent
/// ledger's storage failure reaches the responder as the store's own error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_change_to_a_stopped_store_answers_unavailable() {
    let w = world(2).await;
    let member = w.people[1].0;
    w.store.stopped.store(true, Ordering::Release);
    let err = w.app.set_own_consent(member, w.ws, "emoji_suggestions", false).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err:?}");
    assert!(matches!(err, confab_app::AppError::Store(StoreError::Stopped)), "{err:?}");
}

/// A public channel named like a DM neither blocks the DM nor learns about it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_name_cannot_block_or_reveal_a_direct_message() {
    let w = world(3).await;
    let (alice, bob, mallory) = (w.people[0].clone(), w.people[1].clone(), w.people[2].0);
    let dm = w.app.open_dm(alice.0, w.ws, &[bob.1.id]).await.unwrap();
    // The DM's own name is free for a channel, and creating it says nothing about the DM.
    let squat = CreateChannel { name: dm.name.clone(), private: false, topic: String::new() };
    w.app.create_channel(mallory, w.ws, squat).await.unwrap();
    // A second DM, between other people, opens although channels exist with any name.
    let other = w.app.open_dm(mallory, w.ws, &[bob.1.id]).await.unwrap();
    assert_ne!(other.id, dm.id);
    // The first pair gets their DM back, from either side.
    assert_eq!(w.app.open_dm(bob.0, w.ws, &[alice.1.id]).await.unwrap().id, dm.id);
}
