//! The behaviour every [`Store`] backend must have, written once and run against each
//! (sled in this crate's tests, PostgreSQL in `confab-store-postgres`'s).
//!
//! Each case is a function taking a fresh, empty store; [`conformance_tests!`]
//! (exported at the crate root) expands to one `#[test]` per case for a backend, given
//! an expression that opens one. The suite lives here, behind the `conformance`
//! feature, because this is the one crate every backend already depends on: the
//! cases see the trait and the records, a backend's tests enable the feature as a
//! dev-dependency, and no product build compiles it. (`confab-test-support` would
//! bring the search index and the corpus tools into every backend's test build.)
//!
//! The cases pin what the trait documents: reads see every applied batch, a batch is
//! all or nothing, unique keys (emails, usernames, channel names) refuse with
//! [`StoreError::Taken`], the orders ranges promise, and how the compact forms (read
//! markers, events logged by reference) read back. They use only the trait, so a
//! backend's own storage format is its own tests' business.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use confab_core::{
    Channel, ChannelId, ChannelKind, ChannelMembership, Event, EventRecord, Invite, Member, Message,
    MessageId, Reaction, Role, User, UserId, Workspace, WorkspaceId,
};

use crate::{
    Activity, Batch, Direction, ExportStats, Op, Pin, RecordKind, Session, SledStore, Store, StoreError,
    UserRecord,
};

/// Expands to one `#[test]` per conformance case. `$open` is an expression that
/// returns `(guard, store)`: a fresh, empty store and whatever must live as long as
/// it (a temporary directory, a database). A case that must not run (the backend is
/// not available and the run says so) can be skipped by the backend's `$open`
/// returning early from the test with `return`.
#[macro_export]
macro_rules! conformance_tests {
    ($open:expr) => {
        $crate::conformance_tests!(@cases $open;
            users_are_found_by_id_email_and_username,
            an_email_or_username_of_another_user_is_taken,
            avatars_are_put_and_removed,
            sessions_are_listed_per_user_and_by_expiry,
            workspaces_and_members,
            channels_are_named_uniquely_per_workspace,
            a_direct_message_does_not_occupy_a_channel_name,
            the_read_marker_overrides_the_membership_until_the_member_leaves,
            messages_read_back_in_both_directions,
            a_message_reads_back_whole_after_edits_and_deletion,
            messages_are_found_by_client_id,
            threads_list_their_replies,
            mentions_are_counted_after_the_marker,
            unread_counts_skip_replies_and_read_at_most_a_thousand_records,
            thread_members_activity_and_thread_mentions,
            forgetting_personal_state_stays_in_its_workspace,
            saved_messages_and_pins,
            events_are_logged_in_order_and_pruned,
            logged_messages_read_back_as_stored_now,
            invites_are_listed_per_workspace_and_revoked,
            blobs_are_kept_per_namespace_in_key_order,
            consent_appends_move_the_generation_and_never_overwrite,
            scanning_visits_every_message_in_order_and_can_stop,
            a_refused_batch_writes_nothing,
            a_batch_is_visible_before_it_is_flushed,
            concurrent_batches_all_land,
            one_of_racing_claims_to_a_name_wins,
            a_sled_export_reproduces_every_record,
        );
    };
    (@cases $open:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let (_guard, store) = $open;
                $crate::conformance::$case(&store);
            }
        )*
    };
}

/// Ids that sort in the order they are made, distinct within a test binary.
fn next_id() -> [u8; 16] {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // A ULID's first 48 bits are its time: a fixed recent one, then a counter.
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&1_700_000_000_000u64.to_be_bytes()[2..]);
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    bytes
}

fn user_id() -> UserId {
    UserId::from_bytes(next_id())
}
fn workspace_id() -> WorkspaceId {
    WorkspaceId::from_bytes(next_id())
}
fn channel_id() -> ChannelId {
    ChannelId::from_bytes(next_id())
}
fn message_id() -> MessageId {
    MessageId::from_bytes(next_id())
}

fn apply(store: &dyn Store, ops: Vec<Op>) {
    store.apply(Batch { ops }).expect("apply");
    store.flush().expect("flush");
}

fn user(email: &str, username: &str) -> UserRecord {
    UserRecord {
        user: User {
            id: user_id(),
            email: email.to_string(),
            username: username.to_string(),
            display_name: format!("{username} display"),
            instance_admin: false,
            created_at: 1_700_000_000_000,
            details: Default::default(),
        },
        password_hash: "$argon2id$v=19$fake".to_string(),
    }
}

fn channel(workspace: WorkspaceId, name: &str, kind: ChannelKind) -> Channel {
    Channel {
        id: channel_id(),
        workspace,
        name: name.to_string(),
        kind,
        topic: String::new(),
        archived: false,
        created_by: user_id(),
        created_at: 1,
    }
}

/// A plain message at `seq` of `channel`, with fresh ids (a fixture backends' own
/// tests use too).
pub fn message(workspace: WorkspaceId, channel: ChannelId, seq: u64, text: &str) -> Message {
    Message {
        id: message_id(),
        workspace,
        channel,
        seq,
        author: user_id(),
        text: text.to_string(),
        created_at: 1_700_000_000_000 + seq as i64,
        edited_at: None,
        deleted: false,
        thread_root: None,
        reply_count: 0,
        last_reply_at: None,
        reactions: Vec::new(),
        mentions: Vec::new(),
        client_msg_id: None,
        files: Vec::new(),
    }
}

/// The `message.created` event of `message` at `event_seq`.
pub fn created_event(message: &Message, event_seq: u64, at: i64) -> EventRecord {
    EventRecord {
        workspace: message.workspace,
        event_seq,
        at,
        event: Event::MessageCreated { message: message.clone() },
    }
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

pub fn users_are_found_by_id_email_and_username(store: &dyn Store) {
    assert_eq!(store.user_count().unwrap(), 0);
    let ada = user("Ada@Example.com", "ada");
    let bob = user("bob@example.com", "bob");
    apply(store, vec![Op::PutUser(bob.clone()), Op::PutUser(ada.clone())]);
    assert_eq!(store.user(ada.user.id).unwrap().unwrap().user, ada.user);
    assert_eq!(store.user(user_id()).unwrap().map(|r| r.user), None);
    // Emails are found whatever their case; usernames as written.
    let by_email = store.user_by_email("ada@EXAMPLE.com").unwrap().unwrap();
    assert_eq!((by_email.user.id, by_email.password_hash.as_str()), (ada.user.id, "$argon2id$v=19$fake"));
    assert_eq!(store.user_by_username("bob").unwrap().unwrap().user.id, bob.user.id);
    assert!(store.user_by_username("nobody").unwrap().is_none());
    assert!(store.user_by_email("nobody@example.com").unwrap().is_none());
    assert_eq!(store.user_count().unwrap(), 2);
    // In id order: Ada's id is newer.
    let ids: Vec<UserId> = store.users().unwrap().into_iter().map(|r| r.user.id).collect();
    assert_eq!(ids, [ada.user.id, bob.user.id]);

    // A new email and username replace the old ones, which are free again.
    let mut renamed = ada.clone();
    renamed.user.email = "ada@lovelace.org".into();
    renamed.user.username = "countess".into();
    renamed = renamed.with_disabled(true);
    apply(store, vec![Op::PutUser(renamed.clone())]);
    assert!(store.user_by_email("ada@example.com").unwrap().is_none());
    assert!(store.user_by_username("ada").unwrap().is_none());
    let found = store.user_by_username("countess").unwrap().unwrap();
    assert!(found.is_disabled());
    assert_eq!(found.user, renamed.user);
    let taker = user("ada@example.com", "ada");
    apply(store, vec![Op::PutUser(taker.clone())]);
    assert_eq!(store.user_by_email("ada@example.com").unwrap().unwrap().user.id, taker.user.id);
    assert_eq!(store.user_count().unwrap(), 3);
}

pub fn an_email_or_username_of_another_user_is_taken(store: &dyn Store) {
    let ada = user("ada@example.com", "ada");
    apply(store, vec![Op::PutUser(ada.clone())]);
    let same_email = user("ADA@example.com", "someone");
    let same_name = user("someone@example.com", "ada");
    let ws = Workspace { id: workspace_id(), name: "w".into(), created_by: ada.user.id, created_at: 1 };
    for (record, what) in [(same_email, "email"), (same_name, "username")] {
        // The refused op comes last: nothing before it in the batch is written either.
        let batch = Batch { ops: vec![Op::PutWorkspace(ws.clone()), Op::PutUser(record.clone())] };
        match store.apply(batch) {
            Err(StoreError::Taken(_)) => {}
            other => panic!("a second user with the same {what}: {other:?}"),
        }
        assert!(store.user(record.user.id).unwrap().is_none());
        assert!(store.workspace(ws.id).unwrap().is_none(), "the batch wrote nothing");
    }
    // The owner may write their own record again with the same keys.
    let mut again = ada.clone();
    again.user.display_name = "Ada L.".into();
    apply(store, vec![Op::PutUser(again)]);
    assert_eq!(store.user_by_username("ada").unwrap().unwrap().user.display_name, "Ada L.");
    assert_eq!(store.user_count().unwrap(), 1);
}

pub fn avatars_are_put_and_removed(store: &dyn Store) {
    let (ada, bob) = (user_id(), user_id());
    let png = vec![0x89, b'P', b'N', b'G', 0, 0xFF, 1, 2, 3];
    apply(store, vec![Op::PutAvatar { user: ada, png: png.clone() }]);
    assert_eq!(store.avatar(ada).unwrap(), Some(png));
    assert_eq!(store.avatar(bob).unwrap(), None);
    apply(store, vec![Op::PutAvatar { user: ada, png: vec![7; 300_000] }]);
    assert_eq!(store.avatar(ada).unwrap(), Some(vec![7; 300_000]));
    apply(store, vec![Op::DeleteAvatar { user: ada }, Op::DeleteAvatar { user: bob }]);
    assert_eq!(store.avatar(ada).unwrap(), None);
}

pub fn sessions_are_listed_per_user_and_by_expiry(store: &dyn Store) {
    let (alice, bob) = (user_id(), user_id());
    let session = |user, expires_at| Session { user, created_at: 5, expires_at };
    apply(
        store,
        vec![
            Op::PutSession { token_hash: [2; 32], session: session(alice, 900) },
            Op::PutSession { token_hash: [1; 32], session: session(alice, 100) },
            Op::PutSession { token_hash: [3; 32], session: session(bob, 50) },
        ],
    );
    let found = store.session(&[1; 32]).unwrap().unwrap();
    assert_eq!((found.user, found.created_at, found.expires_at), (alice, 5, 100));
    assert!(store.session(&[9; 32]).unwrap().is_none());
    let hashes = |user| store.sessions_of(user).unwrap().into_iter().map(|(h, _)| h[0]).collect::<Vec<_>>();
    assert_eq!(hashes(alice), [1, 2], "in token hash order");
    assert_eq!(hashes(bob), [3]);
    assert_eq!(store.sessions_of(alice).unwrap()[1].1.expires_at, 900);
    assert_eq!(store.expired_sessions(500, 10).unwrap(), vec![[1; 32], [3; 32]]);
    assert_eq!(store.expired_sessions(500, 1).unwrap().len(), 1);
    assert_eq!(store.expired_sessions(49, 10).unwrap(), Vec::<[u8; 32]>::new());
    apply(store, vec![Op::DeleteSession { token_hash: [1; 32] }, Op::DeleteSession { token_hash: [8; 32] }]);
    assert_eq!(hashes(alice), [2]);
    assert!(store.session(&[1; 32]).unwrap().is_none());
    assert_eq!(store.expired_sessions(500, 10).unwrap(), vec![[3; 32]]);
}

pub fn workspaces_and_members(store: &dyn Store) {
    let (ada, bob) = (user_id(), user_id());
    let workspace =
        |name: &str| Workspace { id: workspace_id(), name: name.into(), created_by: ada, created_at: 3 };
    let (first, second) = (workspace("first"), workspace("second"));
    let member = |ws: &Workspace, user, role| Member { workspace: ws.id, user, role, joined_at: 4 };
    apply(
        store,
        vec![
            Op::PutWorkspace(second.clone()),
            Op::PutWorkspace(first.clone()),
            Op::PutMember(member(&first, bob, Role::Member)),
            Op::PutMember(member(&first, ada, Role::Owner)),
            Op::PutMember(member(&second, ada, Role::Guest)),
        ],
    );
    assert_eq!(store.workspace(first.id).unwrap(), Some(first.clone()));
    assert_eq!(store.workspace(workspace_id()).unwrap(), None);
    assert_eq!(store.workspace_ids().unwrap(), [first.id, second.id]);
    assert_eq!(store.workspaces_of(ada).unwrap(), [first.id, second.id]);
    assert_eq!(store.workspaces_of(bob).unwrap(), [first.id]);
    assert_eq!(store.member(first.id, ada).unwrap(), Some(member(&first, ada, Role::Owner)));
    assert_eq!(store.member(second.id, bob).unwrap(), None);
    let members = store.members(first.id).unwrap();
    assert_eq!(members, [member(&first, ada, Role::Owner), member(&first, bob, Role::Member)], "by user id");

    // Renaming and a new role replace the records; leaving removes both indexes.
    let renamed = Workspace { name: "First!".into(), ..first.clone() };
    apply(
        store,
        vec![
            Op::PutWorkspace(renamed.clone()),
            Op::PutMember(member(&first, bob, Role::Admin)),
            Op::DeleteMember { workspace: second.id, user: ada },
        ],
    );
    assert_eq!(store.workspace(first.id).unwrap(), Some(renamed));
    assert_eq!(store.member(first.id, bob).unwrap().unwrap().role, Role::Admin);
    assert_eq!(store.workspaces_of(ada).unwrap(), [first.id]);
    assert_eq!(store.members(second.id).unwrap(), []);
    apply(store, vec![Op::DeleteMember { workspace: second.id, user: bob }]);
}

pub fn channels_are_named_uniquely_per_workspace(store: &dyn Store) {
    let (ws, other) = (workspace_id(), workspace_id());
    let secret = channel(ws, "secret", ChannelKind::Private);
    let general = channel(ws, "general", ChannelKind::Public);
    let elsewhere = channel(other, "general", ChannelKind::Public);
    apply(
        store,
        vec![
            Op::PutChannel(secret.clone()),
            Op::PutChannel(general.clone()),
            Op::PutChannel(elsewhere.clone()),
        ],
    );
    assert_eq!(store.channel(general.id).unwrap(), Some(general.clone()));
    assert_eq!(store.channel(channel_id()).unwrap(), None);
    assert_eq!(store.channels(ws).unwrap(), [secret.clone(), general.clone()], "in id order");
    assert_eq!(store.channel_by_name(ws, "general").unwrap(), Some(general.id));
    assert_eq!(store.channel_by_name(other, "general").unwrap(), Some(elsewhere.id));
    assert_eq!(store.channel_by_name(ws, "General").unwrap(), None, "names are exact");

    let squatter = channel(ws, "general", ChannelKind::Private);
    let marker = user("marker@example.com", "marker");
    let batch = Batch { ops: vec![Op::PutUser(marker.clone()), Op::PutChannel(squatter.clone())] };
    assert!(matches!(store.apply(batch), Err(StoreError::Taken(_))));
    assert!(store.channel(squatter.id).unwrap().is_none());
    assert!(store.user(marker.user.id).unwrap().is_none(), "the batch wrote nothing");

    // A rename frees the old name; the channel keeps its place.
    let renamed = Channel { name: "lobby".into(), topic: "hello".into(), ..general.clone() };
    apply(store, vec![Op::PutChannel(renamed.clone())]);
    assert_eq!(store.channel_by_name(ws, "general").unwrap(), None);
    assert_eq!(store.channel_by_name(ws, "lobby").unwrap(), Some(general.id));
    apply(store, vec![Op::PutChannel(squatter.clone())]);
    assert_eq!(store.channel_by_name(ws, "general").unwrap(), Some(squatter.id));
    assert_eq!(store.channels(ws).unwrap(), [secret, renamed, squatter]);
}

/// A DM's name is outside the channel name space: a public channel of the same name
/// can exist beside it, and looking the name up finds only the channel.
pub fn a_direct_message_does_not_occupy_a_channel_name(store: &dyn Store) {
    let ws = workspace_id();
    let dm = channel(ws, "dm-0011223344556677", ChannelKind::Dm);
    let other_dm = channel(ws, "dm-0011223344556677", ChannelKind::Dm);
    let squatter = channel(ws, "dm-0011223344556677", ChannelKind::Public);
    apply(store, vec![Op::PutChannel(dm.clone()), Op::PutChannel(other_dm.clone())]);
    assert_eq!(store.channel_by_name(ws, &dm.name).unwrap(), None);
    apply(store, vec![Op::PutChannel(squatter.clone())]);
    assert_eq!(store.channel_by_name(ws, &dm.name).unwrap(), Some(squatter.id));
    assert_eq!(store.channels(ws).unwrap().len(), 3);
}

pub fn the_read_marker_overrides_the_membership_until_the_member_leaves(store: &dyn Store) {
    let channel = channel_id();
    let (user, other) = (user_id(), user_id());
    let joined = ChannelMembership { joined_at: 7, last_read_seq: 3 };
    apply(
        store,
        vec![
            Op::PutChannelMember { channel, user: other, membership: ChannelMembership::default() },
            Op::PutChannelMember { channel, user, membership: joined.clone() },
        ],
    );
    assert_eq!(store.channel_member(channel, user).unwrap(), Some(joined.clone()));
    let listed: Vec<UserId> = store.channel_members(channel).unwrap().into_iter().map(|(u, _)| u).collect();
    assert_eq!(listed, [user, other], "by user id");

    apply(store, vec![Op::SetReadMarker { channel, user, seq: 12 }]);
    let read = store.channel_member(channel, user).unwrap().unwrap();
    assert_eq!((read.joined_at, read.last_read_seq), (7, 12));
    // The listing says the same.
    let listed = store.channel_members(channel).unwrap();
    assert_eq!(listed, [(user, read.clone()), (other, ChannelMembership::default())]);
    // Marking as unread moves it back.
    apply(store, vec![Op::SetReadMarker { channel, user, seq: 4 }]);
    assert_eq!(store.channel_member(channel, user).unwrap().unwrap().last_read_seq, 4);

    // Leaving drops the marker with the membership: a later join starts afresh.
    apply(store, vec![Op::DeleteChannelMember { channel, user }]);
    assert_eq!(store.channel_member(channel, user).unwrap(), None);
    assert_eq!(store.channel_members(channel).unwrap().len(), 1);
    let rejoined = ChannelMembership { joined_at: 20, last_read_seq: 30 };
    apply(store, vec![Op::PutChannelMember { channel, user, membership: rejoined.clone() }]);
    assert_eq!(store.channel_member(channel, user).unwrap(), Some(rejoined));
    // A marker without a membership is not a membership.
    let stranger = user_id();
    apply(store, vec![Op::SetReadMarker { channel, user: stranger, seq: 1 }]);
    assert_eq!(store.channel_member(channel, stranger).unwrap(), None);
}

pub fn messages_read_back_in_both_directions(store: &dyn Store) {
    let ws = workspace_id();
    let (ch, other) = (channel_id(), channel_id());
    assert_eq!(store.last_seq(ch).unwrap(), 0);
    let history: Vec<Message> = (1..=10).map(|seq| message(ws, ch, seq, &format!("message {seq}"))).collect();
    let mut ops: Vec<Op> = history.iter().cloned().map(Op::PutMessage).collect();
    ops.push(Op::PutMessage(message(ws, other, 1, "elsewhere")));
    apply(store, ops);
    assert_eq!(store.last_seq(ch).unwrap(), 10);
    assert_eq!(store.message(history[3].id).unwrap(), Some(history[3].clone()));
    assert_eq!(store.message(message_id()).unwrap(), None);
    assert_eq!(store.message_at(ch, 5).unwrap(), Some(history[4].clone()));
    assert_eq!(store.message_at(ch, 11).unwrap(), None);
    let seqs = |messages: Vec<Message>| messages.into_iter().map(|m| m.seq).collect::<Vec<_>>();
    let read = |direction, limit| seqs(store.messages(ch, direction, limit).unwrap());
    assert_eq!(read(Direction::Backward { before: None }, 3), [10, 9, 8]);
    assert_eq!(read(Direction::Backward { before: Some(4) }, 10), [3, 2, 1]);
    assert_eq!(read(Direction::Backward { before: Some(1) }, 10), Vec::<u64>::new());
    assert_eq!(read(Direction::Forward { after: 0 }, 2), [1, 2]);
    assert_eq!(read(Direction::Forward { after: 8 }, 10), [9, 10]);
    assert_eq!(read(Direction::Forward { after: 10 }, 10), Vec::<u64>::new());
    assert_eq!(read(Direction::Forward { after: u64::MAX }, 10), Vec::<u64>::new());
    assert_eq!(read(Direction::Backward { before: Some(u64::MAX) }, 1), [10]);
    assert_eq!(read(Direction::Forward { after: 0 }, 0), Vec::<u64>::new());
    assert_eq!(store.messages(ch, Direction::Forward { after: 0 }, 100).unwrap(), history);
}

/// A message's record and its text read back as one however it is read, a long
/// text included, after a reaction, an edit and deletion.
pub fn a_message_reads_back_whole_after_edits_and_deletion(store: &dyn Store) {
    let ws = workspace_id();
    let ch = channel(ws, "general", ChannelKind::Public);
    let long = "ü😀".repeat(10_000);
    let root = message(ws, ch.id, 1, &long);
    let mut reply = message(ws, ch.id, 2, "a reply");
    reply.thread_root = Some(root.id);
    apply(
        store,
        vec![Op::PutChannel(ch.clone()), Op::PutMessage(root.clone()), Op::PutMessage(reply.clone())],
    );
    assert_eq!(store.message(root.id).unwrap().unwrap().text, long);

    let mut reacted = root.clone();
    reacted.reactions.push(Reaction { emoji: "🎉".into(), users: vec![reply.author] });
    reacted.reply_count = 1;
    reacted.last_reply_at = Some(9);
    reacted.mentions = vec![reply.author];
    apply(store, vec![Op::PutMessage(reacted.clone())]);
    assert_eq!(store.message(root.id).unwrap(), Some(reacted.clone()));
    assert_eq!(store.thread_replies(root.id, 10).unwrap(), vec![reply.clone()]);

    // One batch that edits and then puts the original back stores the original.
    let mut edited = reply.clone();
    (edited.text, edited.edited_at) = ("edited".into(), Some(10));
    apply(store, vec![Op::PutMessage(edited.clone()), Op::PutMessage(reply.clone())]);
    assert_eq!(store.message(reply.id).unwrap(), Some(reply.clone()));
    apply(store, vec![Op::PutMessage(edited.clone())]);
    assert_eq!(store.message_at(ch.id, 2).unwrap(), Some(edited.clone()));

    // Deleting empties the text for every reader.
    let mut deleted = edited.clone();
    (deleted.text, deleted.deleted) = (String::new(), true);
    let mut shortened = reacted.clone();
    shortened.text = "short now".into();
    apply(store, vec![Op::PutMessage(deleted.clone()), Op::PutMessage(shortened.clone())]);
    let history = store.messages(ch.id, Direction::Forward { after: 0 }, 10).unwrap();
    assert_eq!(history, vec![shortened, deleted]);
}

pub fn messages_are_found_by_client_id(store: &dyn Store) {
    let (ws, ch) = (workspace_id(), channel_id());
    let mut first = message(ws, ch, 1, "first");
    first.client_msg_id = Some("c-1".into());
    let mut second = message(ws, ch, 2, "second");
    second.client_msg_id = Some("c-1".into());
    let plain = message(ws, ch, 3, "no key");
    apply(store, vec![Op::PutMessage(first.clone()), Op::PutMessage(second.clone()), Op::PutMessage(plain)]);
    assert_eq!(store.message_by_client_id(ch, first.author, "c-1").unwrap(), Some(first.id));
    assert_eq!(store.message_by_client_id(ch, second.author, "c-1").unwrap(), Some(second.id), "per author");
    assert_eq!(store.message_by_client_id(ch, first.author, "c-2").unwrap(), None);
    assert_eq!(store.message_by_client_id(channel_id(), first.author, "c-1").unwrap(), None, "per channel");
    // An edit keeps the key.
    let edited = Message { text: "first, edited".into(), edited_at: Some(3), ..first.clone() };
    apply(store, vec![Op::PutMessage(edited)]);
    assert_eq!(store.message_by_client_id(ch, first.author, "c-1").unwrap(), Some(first.id));
}

pub fn threads_list_their_replies(store: &dyn Store) {
    let (ws, ch) = (workspace_id(), channel_id());
    let root = message(ws, ch, 1, "root");
    let lone = message(ws, ch, 2, "no replies");
    let replies: Vec<Message> =
        (3..=6).map(|seq| Message { thread_root: Some(root.id), ..message(ws, ch, seq, "reply") }).collect();
    let mut ops = vec![Op::PutMessage(root.clone()), Op::PutMessage(lone.clone())];
    ops.extend(replies.iter().cloned().map(Op::PutMessage));
    apply(store, ops);
    assert_eq!(store.thread_reply_seqs(root.id).unwrap(), [3, 4, 5, 6]);
    assert_eq!(store.thread_replies(root.id, 10).unwrap(), replies);
    assert_eq!(store.thread_replies(root.id, 2).unwrap(), replies[..2]);
    assert_eq!(store.thread_reply_seqs(lone.id).unwrap(), Vec::<u64>::new());
    assert_eq!(store.thread_replies(lone.id, 10).unwrap(), []);
    assert_eq!(store.thread_replies(message_id(), 10).unwrap(), []);
}

pub fn mentions_are_counted_after_the_marker(store: &dyn Store) {
    let (ch, ada, bob) = (channel_id(), user_id(), user_id());
    let mut ops: Vec<Op> =
        [2, 5, 9].into_iter().map(|seq| Op::PutMention { channel: ch, user: ada, seq }).collect();
    ops.push(Op::PutMention { channel: ch, user: bob, seq: 5 });
    ops.push(Op::PutMention { channel: channel_id(), user: ada, seq: 7 });
    apply(store, ops);
    assert_eq!(store.mention_count(ch, ada, 0).unwrap(), 3);
    assert_eq!(store.mention_count(ch, ada, 2).unwrap(), 2, "after the marker only");
    assert_eq!(store.mention_count(ch, ada, 9).unwrap(), 0);
    assert_eq!(store.mention_count(ch, ada, u64::MAX).unwrap(), 0);
    assert_eq!(store.mention_count(ch, bob, 0).unwrap(), 1);
    apply(store, vec![Op::DeleteMention { channel: ch, user: ada, seq: 5 }]);
    assert_eq!(store.mention_count(ch, ada, 2).unwrap(), 1);
}

/// Thread replies are not a channel's unread messages; past the first 1,000 after the
/// marker, messages count without being read (replies included), so a long backlog
/// costs no more to count than 1,000.
pub fn unread_counts_skip_replies_and_read_at_most_a_thousand_records(store: &dyn Store) {
    let ws = workspace_id();
    let ch = channel(ws, "general", ChannelKind::Public);
    let root = message(ws, ch.id, 1, "root");
    let mut ops = vec![Op::PutChannel(ch.clone()), Op::PutMessage(root.clone())];
    // Seqs 2..=1501: every other one a reply in root's thread.
    for seq in 2..=1501 {
        let mut m = message(ws, ch.id, seq, "x");
        if seq % 2 == 0 {
            m.thread_root = Some(root.id);
        }
        ops.push(Op::PutMessage(m));
    }
    apply(store, ops);
    assert_eq!(store.unread_count(ch.id, 1400).unwrap(), 51, "101 after the marker, 50 of them replies");
    assert_eq!(store.unread_count(ch.id, 1501).unwrap(), 0);
    assert_eq!(store.unread_count(ch.id, u64::MAX).unwrap(), 0);
    // After seq 1: 1,000 read (500 replies), the other 500 counted unread.
    assert_eq!(store.unread_count(ch.id, 1).unwrap(), 500 + 500);
    assert_eq!(store.unread_count(ch.id, 0).unwrap(), 1 + 499 + 501);
    assert_eq!(store.unread_count(channel_id(), 0).unwrap(), 0);
}

pub fn thread_members_activity_and_thread_mentions(store: &dyn Store) {
    let ws = workspace_id();
    let ch = channel(ws, "general", ChannelKind::Public);
    let root = message(ws, ch.id, 1, "root");
    let (ada, bob) = (root.author, user_id());
    let replies: Vec<Message> = (2..5)
        .map(|seq| Message { thread_root: Some(root.id), ..message(ws, ch.id, seq, "reply") })
        .collect();
    let mention = Activity { mention: true, reply: false };
    let reply = Activity { mention: false, reply: true };
    let both = Activity { mention: true, reply: true };
    let mut ops = vec![Op::PutChannel(ch.clone()), Op::PutMessage(root.clone())];
    ops.extend(replies.iter().cloned().map(Op::PutMessage));
    ops.extend([
        Op::PutThreadMember { workspace: ws, root: root.id, user: ada, read_seq: 0 },
        Op::PutThreadMember { workspace: ws, root: root.id, user: bob, read_seq: 3 },
        Op::PutActivity { workspace: ws, user: ada, message: replies[0].id, activity: reply },
        Op::PutActivity { workspace: ws, user: ada, message: replies[1].id, activity: mention },
        Op::PutActivity { workspace: ws, user: ada, message: replies[2].id, activity: reply },
        Op::PutThreadMention { workspace: ws, user: ada, channel: ch.id, seq: 4, root: root.id },
        Op::PutThreadMention { workspace: ws, user: ada, channel: ch.id, seq: 3, root: root.id },
        Op::PutThreadMention { workspace: ws, user: ada, channel: channel_id(), seq: 1, root: root.id },
    ]);
    apply(store, ops);
    assert_eq!(sorted(store.thread_members(root.id).unwrap()), sorted(vec![ada, bob]));
    assert_eq!(store.threads_of(bob, ws).unwrap(), [(root.id, 3)]);
    assert_eq!(store.thread_read_marker(bob, ws, root.id).unwrap(), Some(3));
    assert_eq!(store.thread_read_marker(bob, workspace_id(), root.id).unwrap(), None);
    assert_eq!(store.thread_read_marker(bob, ws, replies[0].id).unwrap(), None);
    // Reading the thread moves the marker; the member stays one.
    apply(store, vec![Op::PutThreadMember { workspace: ws, root: root.id, user: bob, read_seq: 4 }]);
    assert_eq!(store.threads_of(bob, ws).unwrap(), [(root.id, 4)]);
    assert_eq!(store.thread_members(root.id).unwrap().len(), 2);

    // Activity: newest first, paged by message id, flags as written (again: replaced).
    let newest_first: Vec<MessageId> = replies.iter().rev().map(|m| m.id).collect();
    let all = store.activity(ada, ws, None, 10).unwrap();
    assert_eq!(all.iter().map(|(id, _)| *id).collect::<Vec<_>>(), newest_first);
    assert_eq!(all[1].1, mention);
    assert_eq!(store.activity(ada, ws, Some(replies[2].id), 1).unwrap(), [(replies[1].id, mention)]);
    assert_eq!(store.activity(ada, ws, Some(replies[0].id), 10).unwrap(), []);
    assert_eq!(store.activity(bob, ws, None, 10).unwrap(), []);
    apply(
        store,
        vec![
            Op::PutActivity { workspace: ws, user: ada, message: replies[1].id, activity: both },
            Op::DeleteActivity { workspace: ws, user: ada, message: replies[2].id },
        ],
    );
    assert_eq!(store.activity(ada, ws, None, 10).unwrap(), [(replies[1].id, both), (replies[0].id, reply)]);

    // Unread thread mentions of a channel, by seq; reading one removes it.
    assert_eq!(store.thread_mentions(ada, ws, ch.id).unwrap(), [(3, root.id), (4, root.id)]);
    apply(
        store,
        vec![
            Op::DeleteThreadMention { workspace: ws, user: ada, channel: ch.id, seq: 3 },
            Op::DeleteThreadMention { workspace: ws, user: ada, channel: ch.id, seq: 99 },
        ],
    );
    assert_eq!(store.thread_mentions(ada, ws, ch.id).unwrap(), [(4, root.id)]);
    assert_eq!(store.thread_mentions(bob, ws, ch.id).unwrap(), []);
}

/// Erasing a member forgets their threads, activity, thread mentions, saved
/// messages and the blobs named, in that workspace only, and nobody else's.
pub fn forgetting_personal_state_stays_in_its_workspace(store: &dyn Store) {
    let (ws, other_ws) = (workspace_id(), workspace_id());
    let (ch, other_ch) = (channel_id(), channel_id());
    let (root, other_root, ada, bob) = (message_id(), message_id(), user_id(), user_id());
    let mention = Activity { mention: true, reply: false };
    let blob_key = |user: UserId, suffix: &[u8]| [&user.to_bytes()[..], suffix].concat();
    let mut ops = Vec::new();
    for (ws, ch, root) in [(ws, ch, root), (other_ws, other_ch, other_root)] {
        for user in [ada, bob] {
            ops.extend([
                Op::PutThreadMember { workspace: ws, root, user, read_seq: 1 },
                Op::PutActivity { workspace: ws, user, message: root, activity: mention },
                Op::PutThreadMention { workspace: ws, user, channel: ch, seq: 2, root },
                Op::PutSaved { workspace: ws, user, message: root, at: 42 },
                Op::PutBlob { workspace: ws, namespace: "prefs", key: blob_key(user, b"x"), value: vec![1] },
                Op::PutBlob { workspace: ws, namespace: "kept", key: blob_key(user, b"y"), value: vec![2] },
            ]);
        }
    }
    apply(store, ops);
    apply(store, vec![Op::ForgetPersonalState { workspace: ws, user: ada, blob_namespaces: &["prefs"] }]);
    assert_eq!(store.threads_of(ada, ws).unwrap(), []);
    assert_eq!(store.thread_read_marker(ada, ws, root).unwrap(), None);
    assert_eq!(store.thread_members(root).unwrap(), [bob]);
    assert_eq!(store.activity(ada, ws, None, 10).unwrap(), []);
    assert_eq!(store.thread_mentions(ada, ws, ch).unwrap(), []);
    assert_eq!(store.saved(ada, ws).unwrap(), []);
    assert_eq!(store.blob_keys(ws, "prefs").unwrap(), [blob_key(bob, b"x")]);
    assert_eq!(store.blob_keys(ws, "kept").unwrap().len(), 2, "namespaces not named stay");
    // Bob's, and Ada's in the other workspace, stay.
    assert_eq!(store.threads_of(bob, ws).unwrap(), [(root, 1)]);
    assert_eq!(store.saved(bob, ws).unwrap(), [(root, 42)]);
    assert_eq!(store.activity(bob, ws, None, 10).unwrap().len(), 1);
    assert_eq!(store.threads_of(ada, other_ws).unwrap(), [(other_root, 1)]);
    assert_eq!(sorted(store.thread_members(other_root).unwrap()), sorted(vec![ada, bob]));
    assert_eq!(store.activity(ada, other_ws, None, 10).unwrap().len(), 1);
    assert_eq!(store.thread_mentions(ada, other_ws, other_ch).unwrap(), [(2, other_root)]);
    assert_eq!(store.saved(ada, other_ws).unwrap(), [(other_root, 42)]);
    assert_eq!(store.blob_keys(other_ws, "prefs").unwrap().len(), 2);
}

pub fn saved_messages_and_pins(store: &dyn Store) {
    let (ws, ch, ada, bob) = (workspace_id(), channel_id(), user_id(), user_id());
    let (first, second) = (message_id(), message_id());
    apply(
        store,
        vec![
            Op::PutSaved { workspace: ws, user: ada, message: second, at: 20 },
            Op::PutSaved { workspace: ws, user: ada, message: first, at: 30 },
            Op::PutSaved { workspace: ws, user: bob, message: first, at: 40 },
        ],
    );
    assert_eq!(store.saved(ada, ws).unwrap(), [(first, 30), (second, 20)], "in message id order");
    apply(
        store,
        vec![
            Op::PutSaved { workspace: ws, user: ada, message: second, at: 50 },
            Op::DeleteSaved { workspace: ws, user: ada, message: first },
            Op::DeleteSaved { workspace: ws, user: ada, message: message_id() },
        ],
    );
    assert_eq!(store.saved(ada, ws).unwrap(), [(second, 50)]);
    assert_eq!(store.saved(bob, ws).unwrap(), [(first, 40)]);
    assert_eq!(store.saved(ada, workspace_id()).unwrap(), []);

    // A channel's pins: who and when, in message id order; pinning again keeps one.
    apply(
        store,
        vec![
            Op::PutPin { channel: ch, message: second, by: bob, at: 7 },
            Op::PutPin { channel: ch, message: first, by: ada, at: 5 },
            Op::PutPin { channel: ch, message: first, by: bob, at: 6 },
            Op::PutPin { channel: channel_id(), message: first, by: ada, at: 1 },
        ],
    );
    let pin = |message, by, at| Pin { message, by, at };
    assert_eq!(store.pins(ch).unwrap(), [pin(first, bob, 6), pin(second, bob, 7)]);
    apply(
        store,
        vec![
            Op::DeletePin { channel: ch, message: first },
            Op::DeletePin { channel: ch, message: message_id() },
        ],
    );
    assert_eq!(store.pins(ch).unwrap(), [pin(second, bob, 7)]);
}

pub fn events_are_logged_in_order_and_pruned(store: &dyn Store) {
    let (ws, other) = (workspace_id(), workspace_id());
    assert_eq!(store.event_bounds(ws).unwrap(), None);
    assert_eq!(store.events(ws, 0, 10).unwrap(), []);
    let user = user_id();
    let event = |workspace, event_seq: u64| EventRecord {
        workspace,
        event_seq,
        at: 1_000 + event_seq as i64,
        event: Event::MemberJoined { channel: None, user },
    };
    let mut ops: Vec<Op> = (1..=6).map(|seq| Op::AppendEvent(event(ws, seq))).collect();
    ops.push(Op::AppendEvent(event(other, 1)));
    apply(store, ops);
    assert_eq!(store.event_bounds(ws).unwrap(), Some((1, 6)));
    assert_eq!(store.events(ws, 0, 10).unwrap(), (1..=6).map(|s| event(ws, s)).collect::<Vec<_>>());
    assert_eq!(store.events(ws, 2, 2).unwrap(), [event(ws, 3), event(ws, 4)]);
    assert_eq!(store.events(ws, 6, 10).unwrap(), []);
    assert_eq!(store.events(ws, u64::MAX, 10).unwrap(), []);
    apply(store, vec![Op::PruneEvents { workspace: ws, before: 4 }]);
    assert_eq!(store.event_bounds(ws).unwrap(), Some((4, 6)));
    assert_eq!(store.events(ws, 0, 10).unwrap(), [event(ws, 4), event(ws, 5), event(ws, 6)]);
    assert_eq!(store.event_bounds(other).unwrap(), Some((1, 1)), "per workspace");

    // Every kind of event reads back as it was logged.
    let ch = channel(ws, "general", ChannelKind::Public);
    let kinds = vec![
        Event::ChannelCreated { channel: ch.clone() },
        Event::MessageDeleted { channel: ch.id, message_id: message_id(), seq: 3, thread_root: None },
        Event::ReactionAdded { channel: ch.id, message_id: message_id(), emoji: "👍".into(), user },
        Event::ReadUpdated { channel: ch.id, user, seq: 2, thread_root: Some(message_id()) },
        Event::MemberUpdated { user, role: Role::Admin },
        Event::ConsentChanged {
            purpose: "training".into(),
            granted: true,
            by: user,
            entry_hash: "ab".into(),
            personal: true,
        },
    ];
    let records: Vec<EventRecord> = kinds
        .into_iter()
        .enumerate()
        .map(|(i, event)| EventRecord { workspace: ws, event_seq: 7 + i as u64, at: 5, event })
        .collect();
    apply(store, records.iter().cloned().map(Op::AppendEvent).collect());
    assert_eq!(store.events(ws, 6, 100).unwrap(), records);
    assert_eq!(store.event_bounds(ws).unwrap(), Some((4, 12)));
}

/// `message.created` and `message.updated` are logged by reference to the message
/// written in the same batch: a replay shows the message as stored now.
pub fn logged_messages_read_back_as_stored_now(store: &dyn Store) {
    let ws = workspace_id();
    let ch = channel_id();
    let first = message(ws, ch, 1, "first");
    let created = created_event(&first, 1, 5);
    let read_updated = EventRecord {
        workspace: ws,
        event_seq: 2,
        at: 6,
        event: Event::ReadUpdated { channel: ch, user: first.author, seq: 1, thread_root: None },
    };
    apply(
        store,
        vec![
            Op::PutMessage(first.clone()),
            Op::AppendEvent(created.clone()),
            Op::AppendEvent(read_updated.clone()),
        ],
    );
    assert_eq!(store.events(ws, 0, 10).unwrap(), vec![created.clone(), read_updated.clone()]);

    let mut edited = first.clone();
    edited.text = "first, edited".into();
    edited.edited_at = Some(9);
    let updated = EventRecord {
        workspace: ws,
        event_seq: 3,
        at: 9,
        event: Event::MessageUpdated { message: edited.clone() },
    };
    apply(store, vec![Op::PutMessage(edited.clone()), Op::AppendEvent(updated.clone())]);
    let replayed = store.events(ws, 0, 10).unwrap();
    assert_eq!(replayed[0].event, Event::MessageCreated { message: edited.clone() });
    assert_eq!((replayed[0].event_seq, replayed[0].at), (1, 5));
    assert_eq!(replayed[1..], [read_updated, updated]);
}

pub fn invites_are_listed_per_workspace_and_revoked(store: &dyn Store) {
    let (ws, other) = (workspace_id(), workspace_id());
    let invite = |workspace: WorkspaceId, code: &str| Invite {
        code: code.to_string(),
        workspace,
        created_by: user_id(),
        created_at: 1,
        expires_at: 2,
        max_uses: 3,
        uses: 0,
        role: Role::Guest,
    };
    let b = invite(ws, "b-code");
    apply(
        store,
        vec![
            Op::PutInvite(b.clone()),
            Op::PutInvite(invite(ws, "a-code")),
            Op::PutInvite(invite(other, "c")),
        ],
    );
    assert_eq!(store.invite("b-code").unwrap(), Some(b.clone()));
    assert_eq!(store.invite("zz").unwrap(), None);
    let codes = |ws| store.invites(ws).unwrap().into_iter().map(|i| i.code).collect::<Vec<_>>();
    assert_eq!(codes(ws), ["a-code", "b-code"]);
    let used = Invite { uses: 1, ..b.clone() };
    apply(store, vec![Op::PutInvite(used.clone())]);
    assert_eq!(store.invite("b-code").unwrap(), Some(used));
    apply(store, vec![Op::DeleteInvite { code: "a-code".into() }, Op::DeleteInvite { code: "zz".into() }]);
    assert_eq!(codes(ws), ["b-code"]);
    assert_eq!(codes(other), ["c"]);
    assert!(store.invite("a-code").unwrap().is_none());
}

pub fn blobs_are_kept_per_namespace_in_key_order(store: &dyn Store) {
    let (ws, other) = (workspace_id(), workspace_id());
    let put = |workspace, namespace, key: &[u8], value: &[u8]| Op::PutBlob {
        workspace,
        namespace,
        key: key.to_vec(),
        value: value.to_vec(),
    };
    apply(
        store,
        vec![
            put(ws, "stats", b"b", b"2"),
            put(ws, "stats", b"a\xff", b"1"),
            put(ws, "stats", b"", b"empty key"),
            put(ws, "stats", b"a", &[0, 159, 146, 150]),
            put(ws, "statsx", b"a", b"other namespace"),
            put(other, "stats", b"a", b"other workspace"),
        ],
    );
    assert_eq!(store.blob(ws, "stats", b"a").unwrap(), Some(vec![0, 159, 146, 150]));
    assert_eq!(store.blob(ws, "stats", b"c").unwrap(), None);
    assert_eq!(store.blob(ws, "nothing", b"a").unwrap(), None);
    let keys: Vec<&[u8]> = vec![b"", b"a", b"a\xff", b"b"];
    assert_eq!(store.blob_keys(ws, "stats").unwrap(), keys);
    let all = store.blobs(ws, "stats").unwrap();
    assert_eq!(all.iter().map(|(k, _)| k.as_slice()).collect::<Vec<_>>(), keys);
    assert_eq!(all[3].1, b"2");
    assert_eq!(store.blobs(ws, "statsx").unwrap(), [(b"a".to_vec(), b"other namespace".to_vec())]);
    apply(
        store,
        vec![
            put(ws, "stats", b"b", b"3"),
            Op::DeleteBlob { workspace: ws, namespace: "stats", key: b"a".to_vec() },
            Op::DeleteBlob { workspace: ws, namespace: "stats", key: b"zz".to_vec() },
        ],
    );
    assert_eq!(store.blob(ws, "stats", b"b").unwrap(), Some(b"3".to_vec()));
    assert_eq!(store.blob_keys(ws, "stats").unwrap().len(), 3);
    assert_eq!(store.blob(other, "stats", b"a").unwrap(), Some(b"other workspace".to_vec()));
}

/// A consent ledger append is an insert that refuses an entry already at its place
/// (whole: nothing of the batch lands) and moves the consent generation, which
/// nothing else moves; a plain blob write does not.
pub fn consent_appends_move_the_generation_and_never_overwrite(store: &dyn Store) {
    let (ws, other) = (workspace_id(), workspace_id());
    let append = |workspace, key: u8, value: &[u8]| Op::AppendConsent {
        workspace,
        namespace: "ledger",
        key: vec![key],
        value: value.to_vec(),
    };
    let start = store.consent_generation().unwrap();
    apply(store, vec![append(ws, 1, b"first")]);
    assert_eq!(store.consent_generation().unwrap(), start + 1);
    apply(store, vec![append(other, 1, b"other's first"), append(ws, 2, b"second")]);
    assert_eq!(store.consent_generation().unwrap(), start + 3, "one move per append");
    apply(store, vec![Op::PutBlob { workspace: ws, namespace: "stats", key: vec![1], value: vec![1] }]);
    assert_eq!(store.consent_generation().unwrap(), start + 3, "other writes do not move it");

    let refused = store.apply(Batch { ops: vec![append(ws, 3, b"third"), append(ws, 2, b"a rival second")] });
    assert!(matches!(refused, Err(StoreError::Taken(_))), "{refused:?}");
    assert_eq!(store.blob(ws, "ledger", &[2]).unwrap(), Some(b"second".to_vec()), "not overwritten");
    assert_eq!(store.blob(ws, "ledger", &[3]).unwrap(), None, "the refused batch wrote nothing");
    assert_eq!(store.consent_generation().unwrap(), start + 3, "nor moved the generation");
}

pub fn scanning_visits_every_message_in_order_and_can_stop(store: &dyn Store) {
    let ws = workspace_id();
    let (first, second) = (channel(ws, "first", ChannelKind::Public), channel(ws, "second", ChannelKind::Dm));
    let elsewhere = channel(workspace_id(), "first", ChannelKind::Public);
    let mut ops = vec![
        Op::PutChannel(second.clone()),
        Op::PutChannel(first.clone()),
        Op::PutChannel(elsewhere.clone()),
    ];
    let mut expected = Vec::new();
    for (ch, count) in [(&first, 1_205), (&second, 3)] {
        for seq in 1..=count {
            let m = message(ws, ch.id, seq, &format!("{} {seq}", ch.name));
            expected.push((ch.id, seq));
            ops.push(Op::PutMessage(m));
        }
    }
    ops.push(Op::PutMessage(message(elsewhere.workspace, elsewhere.id, 1, "not this workspace")));
    apply(store, ops);
    let mut seen = Vec::new();
    store
        .scan_messages(ws, &mut |m| {
            assert_eq!(
                m.text,
                format!("{} {}", if m.channel == first.id { "first" } else { "second" }, m.seq)
            );
            seen.push((m.channel, m.seq));
            true
        })
        .unwrap();
    assert_eq!(seen, expected, "every message, by channel id then seq");
    let mut count = 0;
    store
        .scan_messages(ws, &mut |_| {
            count += 1;
            count < 5
        })
        .unwrap();
    assert_eq!(count, 5, "stops when told");
    store.scan_messages(workspace_id(), &mut |_| panic!("an empty workspace has no messages")).unwrap();
}

/// A batch is all or nothing: when its last op is refused, none of the others is
/// visible, and the store goes on accepting batches.
pub fn a_refused_batch_writes_nothing(store: &dyn Store) {
    let ws = workspace_id();
    let taken = channel(ws, "taken", ChannelKind::Public);
    apply(store, vec![Op::PutChannel(taken.clone())]);
    let ch = channel(ws, "general", ChannelKind::Public);
    let root = message(ws, ch.id, 1, "root");
    let owner = user("owner@example.com", "owner");
    let ops = vec![
        Op::PutUser(owner.clone()),
        Op::PutChannel(ch.clone()),
        Op::PutMessage(root.clone()),
        Op::PutChannelMember { channel: ch.id, user: owner.user.id, membership: Default::default() },
        Op::SetReadMarker { channel: ch.id, user: owner.user.id, seq: 1 },
        Op::PutMention { channel: ch.id, user: owner.user.id, seq: 1 },
        Op::AppendEvent(created_event(&root, 1, 2)),
        Op::PutBlob { workspace: ws, namespace: "n", key: vec![1], value: vec![2] },
        Op::DeleteChannelMember { channel: ch.id, user: user_id() },
        Op::PruneEvents { workspace: ws, before: 1 },
        Op::PutChannel(Channel { id: channel_id(), ..taken.clone() }),
    ];
    assert!(matches!(store.apply(Batch { ops }), Err(StoreError::Taken(_))));
    assert!(store.user(owner.user.id).unwrap().is_none());
    assert!(store.channel(ch.id).unwrap().is_none());
    assert!(store.message(root.id).unwrap().is_none());
    assert_eq!(store.last_seq(ch.id).unwrap(), 0);
    assert!(store.channel_member(ch.id, owner.user.id).unwrap().is_none());
    assert_eq!(store.mention_count(ch.id, owner.user.id, 0).unwrap(), 0);
    assert_eq!(store.event_bounds(ws).unwrap(), None);
    assert_eq!(store.blob(ws, "n", &[1]).unwrap(), None);
    assert_eq!(store.channels(ws).unwrap(), [taken]);
    // Not stopped: the next batch is applied and flushed.
    apply(store, vec![Op::PutChannel(ch.clone())]);
    assert_eq!(store.channel_by_name(ws, "general").unwrap(), Some(ch.id));
    store.apply(Batch::new()).unwrap();
    store.flush().unwrap();
}

/// `apply` makes a batch visible at once; `flush` is only about durability.
pub fn a_batch_is_visible_before_it_is_flushed(store: &dyn Store) {
    let (ws, ch) = (workspace_id(), channel_id());
    for seq in 1..=20 {
        let m = message(ws, ch, seq, "x");
        store.apply(Batch { ops: vec![Op::PutMessage(m.clone())] }).unwrap();
        assert_eq!(store.last_seq(ch).unwrap(), seq);
        assert_eq!(store.message(m.id).unwrap(), Some(m));
    }
    store.flush().unwrap();
    store.flush().unwrap();
    assert_eq!(store.messages(ch, Direction::Forward { after: 0 }, 100).unwrap().len(), 20);
}

/// Batches applied from many threads at once all land, each whole, and each is
/// visible to its own thread's next read.
pub fn concurrent_batches_all_land(store: &dyn Store) {
    const THREADS: u64 = 6;
    const BATCHES: u64 = 25;
    let ws = workspace_id();
    let channels: Vec<ChannelId> = (0..THREADS).map(|_| channel_id()).collect();
    let reader = user_id();
    std::thread::scope(|scope| {
        for &ch in &channels {
            scope.spawn(move || {
                for seq in 1..=BATCHES {
                    let m = message(ws, ch, seq, "concurrent");
                    let ops = vec![
                        Op::PutMessage(m.clone()),
                        Op::SetReadMarker { channel: ch, user: reader, seq },
                        Op::PutMention { channel: ch, user: reader, seq },
                    ];
                    store.apply(Batch { ops }).unwrap();
                    assert_eq!(store.last_seq(ch).unwrap(), seq);
                    if seq % 10 == 0 {
                        store.flush().unwrap();
                    }
                }
            });
        }
    });
    store.flush().unwrap();
    for ch in channels {
        assert_eq!(store.last_seq(ch).unwrap(), BATCHES);
        assert_eq!(store.mention_count(ch, reader, 0).unwrap(), BATCHES);
        assert_eq!(
            store.messages(ch, Direction::Forward { after: 0 }, 1_000).unwrap().len(),
            BATCHES as usize
        );
    }
}

/// Threads racing to claim the same username and channel name: exactly one of each
/// wins, the others are refused with `Taken`, and the winner is what is stored.
pub fn one_of_racing_claims_to_a_name_wins(store: &dyn Store) {
    const THREADS: usize = 6;
    let ws = workspace_id();
    let claims: Vec<(UserRecord, Channel)> = (0..THREADS)
        .map(|i| {
            (user(&format!("racer{i}@example.com"), "racer"), channel(ws, "contested", ChannelKind::Public))
        })
        .collect();
    let outcomes: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = claims
            .iter()
            .map(|(record, ch)| {
                scope.spawn(move || {
                    let batch = Batch { ops: vec![Op::PutUser(record.clone()), Op::PutChannel(ch.clone())] };
                    match store.apply(batch) {
                        Ok(()) => true,
                        Err(StoreError::Taken(_)) => false,
                        Err(e) => panic!("a racing claim failed otherwise: {e}"),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|&&won| won).count(), 1, "{outcomes:?}");
    let winner = outcomes.iter().position(|&won| won).unwrap();
    assert_eq!(store.user_by_username("racer").unwrap().unwrap().user.id, claims[winner].0.user.id);
    assert_eq!(store.channel_by_name(ws, "contested").unwrap(), Some(claims[winner].1.id));
    assert_eq!(store.user_count().unwrap(), 1);
    let stored: BTreeSet<ChannelId> = store.channels(ws).unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(stored, BTreeSet::from([claims[winner].1.id]));
}

/// What [`fill_with_every_kind_of_record`] wrote, for the look-ups that need a key
/// ([`readable_records`]).
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub users: Vec<UserId>,
    pub emails: Vec<String>,
    pub usernames: Vec<String>,
    pub sessions: Vec<[u8; 32]>,
    pub workspaces: Vec<WorkspaceId>,
    /// Each channel with its workspace and name.
    pub channels: Vec<(ChannelId, WorkspaceId, String)>,
    pub messages: Vec<MessageId>,
    /// `(channel, author, client_msg_id)` of every idempotency key.
    pub client_ids: Vec<(ChannelId, UserId, String)>,
    pub invites: Vec<String>,
    pub blob_namespaces: Vec<(WorkspaceId, &'static str)>,
}

/// Writes at least one record of every kind a store holds, and of every key the sled
/// store writes for them (`keys.rs`): accounts (one disabled, one with a picture),
/// sessions, two workspaces with members, a public, a private (archived) and a direct
/// channel with memberships and read markers (one without a membership), messages
/// with a long text in parts, reactions, mentions, idempotency keys, a thread with
/// its members and read markers, an edit and a deletion, mention rows, activity,
/// an unread thread mention, a saved message, a pin, an event log pruned at its
/// start with events logged by reference and in full, invites and blobs of two
/// namespaces (an empty key, binary keys and values).
pub fn fill_with_every_kind_of_record(store: &dyn Store) -> Inventory {
    let ada = user("ada@example.com", "ada");
    let bob = user("Bob@Example.com", "bob").with_disabled(true);
    let carol = user("carol@example.com", "carol");
    let (a, b, c) = (ada.user.id, bob.user.id, carol.user.id);
    let ws = Workspace { id: workspace_id(), name: "acme".into(), created_by: a, created_at: 2 };
    let other = Workspace { id: workspace_id(), name: "other".into(), created_by: c, created_at: 3 };
    let general = Channel { created_by: a, ..channel(ws.id, "general", ChannelKind::Public) };
    let secret =
        Channel { topic: "plans".into(), archived: true, ..channel(ws.id, "secret", ChannelKind::Private) };
    let dm = channel(ws.id, "dm-ada-bob", ChannelKind::Dm);
    let elsewhere = channel(other.id, "general", ChannelKind::Public);
    let member =
        |workspace: &Workspace, user, role| Member { workspace: workspace.id, user, role, joined_at: 9 };
    apply(
        store,
        vec![
            Op::PutUser(ada.clone()),
            Op::PutUser(bob.clone()),
            Op::PutUser(carol.clone()),
            Op::PutAvatar { user: c, png: vec![0x89, b'P', b'N', b'G', 0, 0xFF] },
            Op::PutSession {
                token_hash: [1; 32],
                session: Session { user: a, created_at: 5, expires_at: 900 },
            },
            Op::PutSession {
                token_hash: [2; 32],
                session: Session { user: b, created_at: 6, expires_at: 50 },
            },
            Op::PutWorkspace(ws.clone()),
            Op::PutWorkspace(other.clone()),
            Op::PutMember(member(&ws, a, Role::Owner)),
            Op::PutMember(member(&ws, b, Role::Member)),
            Op::PutMember(member(&other, c, Role::Guest)),
            Op::PutChannel(general.clone()),
            Op::PutChannel(secret.clone()),
            Op::PutChannel(dm.clone()),
            Op::PutChannel(elsewhere.clone()),
        ],
    );

    let joined = |at: i64, read: u64| ChannelMembership { joined_at: at, last_read_seq: read };
    let message_by = |channel: &Channel, seq, author, text: &str| Message {
        author,
        ..message(channel.workspace, channel.id, seq, text)
    };
    let mut root = message_by(&general, 1, a, &"ü😀 long ".repeat(1_500));
    root.client_msg_id = Some("c-1".into());
    root.mentions = vec![b];
    root.reactions = vec![Reaction { emoji: "🎉".into(), users: vec![b, a] }];
    let reply =
        Message { thread_root: Some(root.id), mentions: vec![a], ..message_by(&general, 2, b, "@ada yes") };
    let mut edited = Message { thread_root: Some(root.id), ..message_by(&general, 3, a, "first try") };
    let deleted = Message { deleted: true, ..message_by(&general, 4, b, "") };
    let plain = Message { client_msg_id: Some("c-2".into()), ..message_by(&general, 5, b, "plain") };
    (root.reply_count, root.last_reply_at) = (2, Some(edited.created_at));
    let in_secret = message_by(&secret, 1, b, "secret");
    let in_dm = message_by(&dm, 1, a, "hello bob");
    let in_other = message_by(&elsewhere, 1, c, "elsewhere");
    let event = |workspace: &Workspace, event_seq, event| EventRecord {
        workspace: workspace.id,
        event_seq,
        at: 40 + event_seq as i64,
        event,
    };
    let mut ops = vec![
        Op::PutChannelMember { channel: general.id, user: a, membership: joined(10, 1) },
        Op::PutChannelMember { channel: general.id, user: b, membership: joined(11, 0) },
        Op::PutChannelMember { channel: secret.id, user: b, membership: joined(12, 0) },
        Op::PutChannelMember { channel: dm.id, user: a, membership: joined(13, 0) },
        Op::PutChannelMember { channel: dm.id, user: b, membership: joined(13, 0) },
        Op::PutChannelMember { channel: elsewhere.id, user: c, membership: joined(14, 0) },
        Op::SetReadMarker { channel: general.id, user: a, seq: 3 },
        Op::SetReadMarker { channel: dm.id, user: b, seq: 1 },
        // A marker without a membership is kept as it is, and is no membership.
        Op::SetReadMarker { channel: general.id, user: c, seq: 2 },
        Op::AppendEvent(event(&ws, 1, Event::MemberJoined { channel: None, user: a })),
        Op::AppendEvent(event(&ws, 2, Event::ChannelCreated { channel: general.clone() })),
    ];
    for (seq, m) in [&root, &reply, &edited, &deleted, &plain].into_iter().enumerate() {
        ops.push(Op::PutMessage(m.clone()));
        ops.push(Op::AppendEvent(created_event(m, 3 + seq as u64, 50 + seq as i64)));
    }
    ops.extend([
        Op::PutMessage(in_secret.clone()),
        Op::PutMessage(in_dm.clone()),
        Op::PutMessage(in_other.clone()),
        Op::AppendEvent(created_event(&in_other, 1, 60)),
        Op::PutMention { channel: general.id, user: b, seq: 1 },
        Op::PutMention { channel: general.id, user: a, seq: 2 },
        Op::PutThreadMember { workspace: ws.id, root: root.id, user: a, read_seq: 3 },
        Op::PutThreadMember { workspace: ws.id, root: root.id, user: b, read_seq: 2 },
        Op::PutActivity {
            workspace: ws.id,
            user: a,
            message: reply.id,
            activity: Activity { mention: true, reply: true },
        },
        Op::PutActivity {
            workspace: ws.id,
            user: b,
            message: edited.id,
            activity: Activity { mention: false, reply: true },
        },
        Op::PutThreadMention { workspace: ws.id, user: a, channel: general.id, seq: 2, root: root.id },
        Op::PutSaved { workspace: ws.id, user: b, message: root.id, at: 77 },
        Op::PutPin { channel: general.id, message: root.id, by: a, at: 88 },
        Op::PutInvite(Invite {
            code: "inv-a".into(),
            workspace: ws.id,
            created_by: a,
            created_at: 1,
            expires_at: 1_000,
            max_uses: 5,
            uses: 2,
            role: Role::Member,
        }),
        Op::PutInvite(Invite {
            code: "inv-b".into(),
            workspace: other.id,
            created_by: c,
            created_at: 2,
            expires_at: 3,
            max_uses: 1,
            uses: 0,
            role: Role::Guest,
        }),
        Op::PutBlob {
            workspace: ws.id,
            namespace: "consent_ledger",
            key: vec![0, 1, 0xFF],
            value: b"{\"entry\":1}".to_vec(),
        },
        Op::PutBlob { workspace: ws.id, namespace: "consent_ledger", key: Vec::new(), value: vec![0xFF, 0] },
        Op::PutBlob {
            workspace: ws.id,
            namespace: "search_log",
            key: a.to_bytes().to_vec(),
            value: b"query".to_vec(),
        },
        Op::PutBlob { workspace: other.id, namespace: "consent_ledger", key: vec![7], value: Vec::new() },
    ]);
    apply(store, ops);
    // An edit and a deletion after the fact, logged by reference; then the log's
    // start is pruned, as retention does.
    (edited.text, edited.edited_at) = ("second try, longer than the first".into(), Some(70));
    let mut unpinned_root = root.clone();
    unpinned_root.reactions.push(Reaction { emoji: "👍".into(), users: vec![c] });
    apply(
        store,
        vec![
            Op::PutMessage(edited.clone()),
            Op::AppendEvent(EventRecord {
                workspace: ws.id,
                event_seq: 8,
                at: 70,
                event: Event::MessageUpdated { message: edited.clone() },
            }),
            Op::PutMessage(unpinned_root.clone()),
            Op::AppendEvent(event(
                &ws,
                9,
                Event::ReactionAdded {
                    channel: general.id,
                    message_id: root.id,
                    emoji: "👍".into(),
                    user: c,
                },
            )),
            Op::AppendEvent(event(
                &ws,
                10,
                Event::MessageDeleted {
                    channel: general.id,
                    message_id: deleted.id,
                    seq: 4,
                    thread_root: None,
                },
            )),
            Op::PruneEvents { workspace: ws.id, before: 2 },
        ],
    );

    let channels = [&general, &secret, &dm, &elsewhere];
    let messages = [&root, &reply, &edited, &deleted, &plain, &in_secret, &in_dm, &in_other];
    Inventory {
        users: vec![a, b, c],
        emails: [&ada, &bob, &carol].iter().map(|r| r.user.email.clone()).collect(),
        usernames: [&ada, &bob, &carol].iter().map(|r| r.user.username.clone()).collect(),
        sessions: vec![[1; 32], [2; 32]],
        workspaces: vec![ws.id, other.id],
        channels: channels.iter().map(|ch| (ch.id, ch.workspace, ch.name.clone())).collect(),
        messages: messages.iter().map(|m| m.id).collect(),
        client_ids: vec![(general.id, a, "c-1".into()), (general.id, b, "c-2".into())],
        invites: vec!["inv-a".into(), "inv-b".into()],
        blob_namespaces: vec![(ws.id, "consent_ledger"), (ws.id, "search_log"), (other.id, "consent_ledger")],
    }
}

/// Everything the trait reads of the records in `inventory`, one line per read: two
/// stores holding the same records give the same lines.
pub fn readable_records(store: &dyn Store, inventory: &Inventory) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = |what: String, value: String| lines.push(format!("{what}: {value}"));
    line("user_count".into(), format!("{:?}", store.user_count().unwrap()));
    line("users".into(), format!("{:?}", store.users().unwrap()));
    line("workspace_ids".into(), format!("{:?}", store.workspace_ids().unwrap()));
    line("expired_sessions".into(), format!("{:?}", store.expired_sessions(i64::MAX, 100).unwrap()));
    for email in &inventory.emails {
        line(format!("user_by_email {email}"), format!("{:?}", store.user_by_email(email).unwrap()));
    }
    for name in &inventory.usernames {
        line(format!("user_by_username {name}"), format!("{:?}", store.user_by_username(name).unwrap()));
    }
    for hash in &inventory.sessions {
        line(format!("session {}", hash[0]), format!("{:?}", store.session(hash).unwrap()));
    }
    for &user in &inventory.users {
        line(format!("user {user}"), format!("{:?}", store.user(user).unwrap()));
        line(format!("avatar {user}"), format!("{:?}", store.avatar(user).unwrap()));
        line(format!("sessions_of {user}"), format!("{:?}", store.sessions_of(user).unwrap()));
        line(format!("workspaces_of {user}"), format!("{:?}", store.workspaces_of(user).unwrap()));
        for &ws in &inventory.workspaces {
            let at = format!("{user} in {ws}");
            line(format!("member {at}"), format!("{:?}", store.member(ws, user).unwrap()));
            line(format!("threads_of {at}"), format!("{:?}", store.threads_of(user, ws).unwrap()));
            line(format!("activity {at}"), format!("{:?}", store.activity(user, ws, None, 1_000).unwrap()));
            line(format!("saved {at}"), format!("{:?}", store.saved(user, ws).unwrap()));
            for &root in &inventory.messages {
                let marker = store.thread_read_marker(user, ws, root).unwrap();
                line(format!("thread_read_marker {at} {root}"), format!("{marker:?}"));
            }
            for (channel, _, _) in &inventory.channels {
                let mentions = store.thread_mentions(user, ws, *channel).unwrap();
                line(format!("thread_mentions {at} {channel}"), format!("{mentions:?}"));
            }
        }
        for (channel, _, _) in &inventory.channels {
            let at = format!("{user} in {channel}");
            line(
                format!("channel_member {at}"),
                format!("{:?}", store.channel_member(*channel, user).unwrap()),
            );
            line(
                format!("mention_count {at}"),
                format!("{:?}", store.mention_count(*channel, user, 0).unwrap()),
            );
        }
    }
    for &ws in &inventory.workspaces {
        line(format!("workspace {ws}"), format!("{:?}", store.workspace(ws).unwrap()));
        line(format!("members {ws}"), format!("{:?}", store.members(ws).unwrap()));
        line(format!("channels {ws}"), format!("{:?}", store.channels(ws).unwrap()));
        line(format!("events {ws}"), format!("{:?}", store.events(ws, 0, 10_000).unwrap()));
        line(format!("event_bounds {ws}"), format!("{:?}", store.event_bounds(ws).unwrap()));
        line(format!("invites {ws}"), format!("{:?}", store.invites(ws).unwrap()));
        let mut scanned = Vec::new();
        store
            .scan_messages(ws, &mut |m| {
                scanned.push(m);
                true
            })
            .unwrap();
        line(format!("scan_messages {ws}"), format!("{scanned:?}"));
    }
    for (channel, ws, name) in &inventory.channels {
        line(format!("channel {channel}"), format!("{:?}", store.channel(*channel).unwrap()));
        line(
            format!("channel_by_name {ws} {name}"),
            format!("{:?}", store.channel_by_name(*ws, name).unwrap()),
        );
        line(format!("channel_members {channel}"), format!("{:?}", store.channel_members(*channel).unwrap()));
        let history = store.messages(*channel, Direction::Forward { after: 0 }, 10_000).unwrap();
        line(format!("messages {channel}"), format!("{history:?}"));
        line(format!("last_seq {channel}"), format!("{:?}", store.last_seq(*channel).unwrap()));
        line(format!("unread_count {channel}"), format!("{:?}", store.unread_count(*channel, 0).unwrap()));
        line(format!("pins {channel}"), format!("{:?}", store.pins(*channel).unwrap()));
    }
    for &id in &inventory.messages {
        line(format!("message {id}"), format!("{:?}", store.message(id).unwrap()));
        line(format!("thread_replies {id}"), format!("{:?}", store.thread_replies(id, 1_000).unwrap()));
        line(format!("thread_reply_seqs {id}"), format!("{:?}", store.thread_reply_seqs(id).unwrap()));
        line(format!("thread_members {id}"), format!("{:?}", sorted(store.thread_members(id).unwrap())));
    }
    for (channel, author, client_id) in &inventory.client_ids {
        let found = store.message_by_client_id(*channel, *author, client_id).unwrap();
        line(format!("message_by_client_id {channel} {author} {client_id}"), format!("{found:?}"));
    }
    for code in &inventory.invites {
        line(format!("invite {code}"), format!("{:?}", store.invite(code).unwrap()));
    }
    for (ws, namespace) in &inventory.blob_namespaces {
        let blobs = store.blobs(*ws, namespace).unwrap();
        line(format!("blobs {ws} {namespace}"), format!("{blobs:?}"));
        line(
            format!("blob_keys {ws} {namespace}"),
            format!("{:?}", store.blob_keys(*ws, namespace).unwrap()),
        );
        for (key, _) in blobs {
            line(
                format!("blob {ws} {namespace} {key:?}"),
                format!("{:?}", store.blob(*ws, namespace, &key).unwrap()),
            );
        }
    }
    lines
}

/// Applies the export of `source` to `target` in batches of about `chunk_bytes`, and
/// flushes it.
pub fn export_into(source: &SledStore, target: &dyn Store, chunk_bytes: usize) -> ExportStats {
    let stats = source.export(chunk_bytes, &mut |batch, _| target.apply(batch)).expect("export");
    target.flush().expect("flush");
    stats
}

/// A directory under the system's temporary directory, removed when dropped (the
/// suite has no `tempfile`: it is compiled into backends' test builds as a feature).
pub struct ScratchDir(pub std::path::PathBuf);

impl ScratchDir {
    pub fn new(what: &str) -> ScratchDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("confab-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every record of a sled store, exported in small batches and applied to this
/// store, reads back the same through every read of the trait: ids, `seq`,
/// `event_seq`, timestamps, read markers, mention rows, blobs and the event log's
/// pruned start included (`confab migrate`).
pub fn a_sled_export_reproduces_every_record(store: &dyn Store) {
    let dir = ScratchDir::new("export-source");
    let source = SledStore::open(&dir.0, &Default::default()).expect("open a sled store");
    let inventory = fill_with_every_kind_of_record(&source);
    let stats = export_into(&source, store, 2_048);
    assert!(stats.batches > 3, "small chunks: {stats:?}");
    for kind in RecordKind::ALL {
        assert!(stats.records[&kind] > 0, "no {kind:?} exported: {stats:?}");
    }
    let (expected, found) = (readable_records(&source, &inventory), readable_records(store, &inventory));
    for (expected, found) in expected.iter().zip(&found) {
        assert_eq!(found, expected);
    }
    assert_eq!(found.len(), expected.len());
}
