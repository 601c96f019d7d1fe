//! The sled backend's storage formats: what is written compactly on the hot path
//! (events by reference, read markers) reads back as the full records, and a
//! data dir of an older schema version opens and reads as it was written.

use confab_core::{
    Channel, ChannelId, ChannelKind, ChannelMembership, Event, EventRecord, Invite, Message, MessageId,
    Reaction, Role, UserId, WorkspaceId,
};
use confab_store::conformance::{created_event, message};
use confab_store::{Activity, Batch, Direction, Op, Session, SledStore, Store, StoreError};

fn apply(store: &SledStore, ops: Vec<Op>) {
    let mut batch = Batch::new();
    for op in ops {
        batch.push(op);
    }
    store.apply(batch).unwrap();
    store.flush().unwrap();
}

#[test]
fn a_logged_message_created_event_reads_back_with_the_stored_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    let ws = WorkspaceId::from_ulid(ulid::Ulid::new());
    let channel = ChannelId::from_ulid(ulid::Ulid::new());
    let first = message(ws, channel, 1, "first");
    let created = created_event(&first, 1, 5);
    let read_updated = EventRecord {
        workspace: ws,
        event_seq: 2,
        at: 6,
        event: Event::ReadUpdated { channel, user: first.author, seq: 1, thread_root: None },
    };
    apply(
        &store,
        vec![
            Op::PutMessage(first.clone()),
            Op::AppendEvent(created.clone()),
            Op::AppendEvent(read_updated.clone()),
        ],
    );
    assert_eq!(store.events(ws, 0, 10).unwrap(), vec![created.clone(), read_updated.clone()]);

    // The log names the message, so a replay shows it as it is now (here: edited).
    let mut edited = first.clone();
    edited.text = "first, edited".into();
    edited.edited_at = Some(9);
    apply(&store, vec![Op::PutMessage(edited.clone())]);
    let replayed = store.events(ws, 0, 10).unwrap();
    assert_eq!(replayed[0].event, Event::MessageCreated { message: edited });
    assert_eq!((replayed[0].event_seq, replayed[0].at), (1, 5));
    assert_eq!(store.events(ws, 1, 10).unwrap(), vec![read_updated]);
}

#[test]
fn the_read_marker_overrides_the_membership_until_the_member_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    let channel = ChannelId::from_ulid(ulid::Ulid::new());
    let user = UserId::from_ulid(ulid::Ulid::new());
    let joined = ChannelMembership { joined_at: 7, last_read_seq: 3 };
    apply(&store, vec![Op::PutChannelMember { channel, user, membership: joined.clone() }]);
    assert_eq!(store.channel_member(channel, user).unwrap(), Some(joined.clone()));

    apply(&store, vec![Op::SetReadMarker { channel, user, seq: 12 }]);
    let read = store.channel_member(channel, user).unwrap().unwrap();
    assert_eq!((read.joined_at, read.last_read_seq), (7, 12));
    // Marking as unread moves it back.
    apply(&store, vec![Op::SetReadMarker { channel, user, seq: 4 }]);
    assert_eq!(store.channel_member(channel, user).unwrap().unwrap().last_read_seq, 4);

    // Leaving drops the marker with the membership: a later join starts afresh.
    apply(&store, vec![Op::DeleteChannelMember { channel, user }]);
    assert_eq!(store.channel_member(channel, user).unwrap(), None);
    let rejoined = ChannelMembership { joined_at: 20, last_read_seq: 30 };
    apply(&store, vec![Op::PutChannelMember { channel, user, membership: rejoined.clone() }]);
    assert_eq!(store.channel_member(channel, user).unwrap(), Some(rejoined));
    // A marker without a membership is not a membership.
    let stranger = UserId::from_ulid(ulid::Ulid::new());
    apply(&store, vec![Op::SetReadMarker { channel, user: stranger, seq: 1 }]);
    assert_eq!(store.channel_member(channel, stranger).unwrap(), None);
}

#[test]
fn a_version_1_store_opens_with_its_full_events_and_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let ws = WorkspaceId::from_ulid(ulid::Ulid::new());
    let channel = ChannelId::from_ulid(ulid::Ulid::new());
    let old = message(ws, channel, 1, "from version 1");
    let record = created_event(&old, 1, 5);
    {
        // Write what version 1 wrote: the schema mark and the event with its message inline.
        let db = SledStore::open_raw(dir.path()).unwrap();
        let tree = db.open_tree("confab").unwrap();
        tree.insert(b"\xF0schema_version", &1u32.to_be_bytes()).unwrap();
        let mut key = vec![0x40];
        key.extend_from_slice(&ws.to_bytes());
        key.extend_from_slice(&1u64.to_be_bytes());
        tree.insert(key, serde_json::to_vec(&record).unwrap()).unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    assert_eq!(store.events(ws, 0, 10).unwrap(), vec![record]);
    drop(store);
    // Upgraded for good: a second open finds the current version.
    SledStore::open(dir.path(), &Default::default()).unwrap();
    {
        let db = SledStore::open_raw(dir.path()).unwrap();
        let version = db.open_tree("confab").unwrap().get(b"\xF0schema_version").unwrap().unwrap();
        assert_eq!(version.as_ref(), &confab_store::SCHEMA_VERSION.to_be_bytes());
        db.open_tree("confab").unwrap().insert(b"\xF0schema_version", &99u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(
        SledStore::open(dir.path(), &Default::default()),
        Err(StoreError::SchemaVersion { found: 99, expected: confab_store::SCHEMA_VERSION })
    ));
}

fn channel(workspace: WorkspaceId, name: &str, kind: ChannelKind) -> Channel {
    Channel {
        id: ChannelId::from_ulid(ulid::Ulid::new()),
        workspace,
        name: name.to_string(),
        kind,
        topic: String::new(),
        archived: false,
        created_by: UserId::from_ulid(ulid::Ulid::new()),
        created_at: 1,
    }
}

/// A DM's name is outside the channel name space: a public channel of the same name
/// can exist beside it, and looking the name up finds only the channel.
#[test]
fn a_direct_message_does_not_occupy_a_channel_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    let ws = WorkspaceId::from_ulid(ulid::Ulid::new());
    let dm = channel(ws, "dm-0011223344556677", ChannelKind::Dm);
    let squatter = channel(ws, "dm-0011223344556677", ChannelKind::Public);
    apply(&store, vec![Op::PutChannel(dm.clone())]);
    assert_eq!(store.channel_by_name(ws, &dm.name).unwrap(), None);
    apply(&store, vec![Op::PutChannel(squatter.clone())]);
    assert_eq!(store.channel_by_name(ws, &dm.name).unwrap(), Some(squatter.id));
    assert_eq!(store.channels(ws).unwrap().len(), 2);
}

/// A version-2 store kept name entries for DMs; opening it under version 3 drops them
/// and leaves every other channel's.
#[test]
fn upgrading_a_version_2_store_frees_the_names_of_direct_messages() {
    let dir = tempfile::tempdir().unwrap();
    let ws = WorkspaceId::from_ulid(ulid::Ulid::new());
    let dm = channel(ws, "dm-a1b2", ChannelKind::Dm);
    let general = channel(ws, "general", ChannelKind::Public);
    let name_key = |c: &Channel| {
        let mut key = vec![0x22];
        key.extend_from_slice(&c.workspace.to_bytes());
        key.extend_from_slice(c.name.as_bytes());
        key
    };
    {
        let store = SledStore::open(dir.path(), &Default::default()).unwrap();
        apply(&store, vec![Op::PutChannel(dm.clone()), Op::PutChannel(general.clone())]);
    }
    {
        // What version 2 wrote: a name entry for the DM too.
        let db = SledStore::open_raw(dir.path()).unwrap();
        let tree = db.open_tree("confab").unwrap();
        tree.insert(b"\xF0schema_version", &2u32.to_be_bytes()).unwrap();
        tree.insert(name_key(&dm), &dm.id.to_bytes()).unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    assert_eq!(store.channel_by_name(ws, "dm-a1b2").unwrap(), None);
    assert_eq!(store.channel_by_name(ws, "general").unwrap(), Some(general.id));
    apply(&store, vec![Op::PutChannel(channel(ws, "dm-a1b2", ChannelKind::Public))]);
}

/// sled writes large values to files of their own; a flush leaves every such file
/// synced. (What the test can see: the store reopens with the value after flushing,
/// and flushing with blobs present succeeds and keeps the store writable.)
#[test]
fn a_value_larger_than_a_log_segment_slot_survives_flush_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ws = WorkspaceId::from_ulid(ulid::Ulid::new());
    let ch = ChannelId::from_ulid(ulid::Ulid::new());
    let big = message(ws, ch, 1, &"x".repeat(300_000));
    {
        let store = SledStore::open(dir.path(), &Default::default()).unwrap();
        apply(&store, vec![Op::PutMessage(big.clone())]);
        store.flush().unwrap();
        let blobs = std::fs::read_dir(dir.path().join("blobs")).unwrap().count();
        assert!(blobs > 0, "the value went to a blob file");
        apply(&store, vec![Op::PutMessage(message(ws, ch, 2, "small"))]);
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    assert_eq!(store.message_at(ch, 1).unwrap().unwrap().text.len(), 300_000);
}

/// An edit is logged by reference: the log holds no second copy of the message, and
/// reads back as the message as stored.
#[test]
fn a_logged_message_updated_event_reads_back_with_the_stored_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    let ws = WorkspaceId::from_ulid(ulid::Ulid::new());
    let ch = ChannelId::from_ulid(ulid::Ulid::new());
    let mut edited = message(ws, ch, 1, &"long words ".repeat(2_000));
    apply(&store, vec![Op::PutMessage(edited.clone()), Op::AppendEvent(created_event(&edited, 1, 5))]);
    edited.text = "short".to_string();
    edited.edited_at = Some(6);
    let update = EventRecord {
        workspace: ws,
        event_seq: 2,
        at: 6,
        event: Event::MessageUpdated { message: edited.clone() },
    };
    apply(&store, vec![Op::PutMessage(edited.clone()), Op::AppendEvent(update.clone())]);
    assert_eq!(store.events(ws, 1, 10).unwrap(), vec![update]);
    let mut key = vec![0x40];
    key.extend_from_slice(&ws.to_bytes());
    key.extend_from_slice(&2u64.to_be_bytes());
    drop(store);
    let db = SledStore::open_raw(dir.path()).unwrap();
    let logged = db.open_tree("confab").unwrap().get(key).unwrap().unwrap();
    assert!(logged.len() < 100, "the log entry names the message: {} bytes", logged.len());
}

/// Invites are listed per workspace, and a revoked one is gone from the list and
/// from look-ups.
#[test]
fn invites_are_listed_per_workspace_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    let (ws, other) = (WorkspaceId::from_ulid(ulid::Ulid::new()), WorkspaceId::from_ulid(ulid::Ulid::new()));
    let invite = |workspace: WorkspaceId, code: &str| Invite {
        code: code.to_string(),
        workspace,
        created_by: UserId::from_ulid(ulid::Ulid::new()),
        created_at: 1,
        expires_at: 2,
        max_uses: 1,
        uses: 0,
        role: Role::Member,
    };
    apply(
        &store,
        vec![
            Op::PutInvite(invite(ws, "a")),
            Op::PutInvite(invite(ws, "b")),
            Op::PutInvite(invite(other, "c")),
        ],
    );
    let codes = |ws| store.invites(ws).unwrap().into_iter().map(|i| i.code).collect::<Vec<_>>();
    assert_eq!(codes(ws), ["a", "b"]);
    apply(&store, vec![Op::DeleteInvite { code: "a".into() }, Op::DeleteInvite { code: "zz".into() }]);
    assert_eq!(codes(ws), ["b"]);
    assert_eq!(codes(other), ["c"]);
    assert!(store.invite("a").unwrap().is_none());
}

/// Sessions are found by user (to sign out everywhere) and by expiry (to sweep), and
/// deleting one removes it from both.
#[test]
fn sessions_are_listed_per_user_and_by_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    let (alice, bob) = (UserId::from_ulid(ulid::Ulid::new()), UserId::from_ulid(ulid::Ulid::new()));
    let session = |user, expires_at| Session { user, created_at: 0, expires_at };
    apply(
        &store,
        vec![
            Op::PutSession { token_hash: [1; 32], session: session(alice, 100) },
            Op::PutSession { token_hash: [2; 32], session: session(alice, 900) },
            Op::PutSession { token_hash: [3; 32], session: session(bob, 50) },
        ],
    );
    let hashes = |user| store.sessions_of(user).unwrap().into_iter().map(|(h, _)| h[0]).collect::<Vec<_>>();
    assert_eq!(hashes(alice), [1, 2]);
    assert_eq!(hashes(bob), [3]);
    assert_eq!(store.expired_sessions(500, 10).unwrap(), vec![[1; 32], [3; 32]]);
    assert_eq!(store.expired_sessions(500, 1).unwrap().len(), 1);
    apply(&store, vec![Op::DeleteSession { token_hash: [1; 32] }]);
    assert_eq!(hashes(alice), [2]);
    assert_eq!(store.expired_sessions(500, 10).unwrap(), vec![[3; 32]]);
}

/// A message's text lives apart from its record (schema version 4): every way of
/// reading a message gives it back whole, a deleted message's text is gone, and a
/// record written by version 3 with its text inline still reads.
#[test]
fn a_message_reads_back_whole_whatever_its_record_holds() {
    let dir = tempfile::tempdir().unwrap();
    let ws = WorkspaceId::from_ulid(ulid::Ulid::new());
    let ch = channel(ws, "general", ChannelKind::Public);
    let long = "ü".repeat(20_000);
    let root = message(ws, ch.id, 1, &long);
    let mut reply = message(ws, ch.id, 2, "a reply");
    reply.thread_root = Some(root.id);
    let old = message(ws, ch.id, 3, "written by version 3");
    {
        let store = SledStore::open(dir.path(), &Default::default()).unwrap();
        apply(
            &store,
            vec![Op::PutChannel(ch.clone()), Op::PutMessage(root.clone()), Op::PutMessage(reply.clone())],
        );
        // A reaction rewrites the record; the text stays.
        let mut reacted = root.clone();
        reacted.reactions.push(Reaction { emoji: "🎉".into(), users: vec![reply.author] });
        apply(&store, vec![Op::PutMessage(reacted.clone()), Op::AppendEvent(created_event(&reacted, 1, 2))]);
        assert_eq!(store.message(root.id).unwrap(), Some(reacted.clone()));
        assert_eq!(store.thread_replies(root.id, 10).unwrap(), vec![reply.clone()]);
        assert_eq!(
            store.events(ws, 0, 10).unwrap()[0].event,
            Event::MessageCreated { message: reacted.clone() }
        );
        // Deleting empties the text for every reader.
        let mut deleted = reply.clone();
        (deleted.text, deleted.deleted) = (String::new(), true);
        apply(&store, vec![Op::PutMessage(deleted.clone())]);
        let history = store.messages(ch.id, Direction::Forward { after: 0 }, 10).unwrap();
        assert_eq!(history, vec![reacted.clone(), deleted.clone()]);
    }
    {
        // What version 3 wrote: the text inside the record.
        let db = SledStore::open_raw(dir.path()).unwrap();
        let tree = db.open_tree("confab").unwrap();
        tree.insert(b"\xF0schema_version", &3u32.to_be_bytes()).unwrap();
        let mut key = vec![0x30];
        key.extend_from_slice(&ch.id.to_bytes());
        key.extend_from_slice(&3u64.to_be_bytes());
        tree.insert(key, serde_json::to_vec(&old).unwrap()).unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    let mut scanned = Vec::new();
    store
        .scan_messages(ws, &mut |m| {
            scanned.push(m.text.chars().count());
            true
        })
        .unwrap();
    assert_eq!(scanned, vec![20_000, 0, old.text.len()]);
    assert_eq!(store.messages(ch.id, Direction::Backward { before: None }, 1).unwrap(), vec![old]);
}

/// One batch that changes a message's text and then puts it back ends with the
/// text it put last, though that is what the store held before the batch.
#[test]
fn the_last_text_a_batch_stages_is_the_one_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    let ws = WorkspaceId::from_ulid(ulid::Ulid::new());
    let ch = channel(ws, "general", ChannelKind::Public);
    let original = message(ws, ch.id, 1, "original");
    apply(&store, vec![Op::PutChannel(ch), Op::PutMessage(original.clone())]);
    let mut edited = original.clone();
    edited.text = "edited".into();
    apply(&store, vec![Op::PutMessage(edited), Op::PutMessage(original.clone())]);
    assert_eq!(store.message(original.id).unwrap(), Some(original));
}

/// A thread's members, their read markers, their activity (newest first, paged by
/// message id), their unread thread mentions, saved messages and a channel's pins
/// read back as written, and erasing a member forgets all of it (and their blobs of the
/// namespaces named) in that workspace only.
#[test]
fn threads_activity_and_thread_mentions_read_back_and_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    let (ws, other_ws) =
        (WorkspaceId::from_ulid(ulid::Ulid::new()), WorkspaceId::from_ulid(ulid::Ulid::new()));
    let ch = channel(ws, "general", ChannelKind::Public);
    let root = message(ws, ch.id, 1, "root");
    let (ada, bob) = (root.author, UserId::from_ulid(ulid::Ulid::new()));
    // Ids made one millisecond apart, so that their order is the replies' order.
    let replies: Vec<Message> = (2..5)
        .map(|seq| Message {
            id: MessageId::from_ulid(ulid::Ulid::from_parts(1_700_000_000_000 + seq, 7)),
            thread_root: Some(root.id),
            ..message(ws, ch.id, seq, "reply")
        })
        .collect();
    let mention = Activity { mention: true, reply: false };
    let reply = Activity { mention: false, reply: true };
    let mut ops = vec![Op::PutChannel(ch.clone()), Op::PutMessage(root.clone())];
    ops.extend(replies.iter().cloned().map(Op::PutMessage));
    ops.extend([
        Op::PutThreadMember { workspace: ws, root: root.id, user: ada, read_seq: 0 },
        Op::PutThreadMember { workspace: ws, root: root.id, user: bob, read_seq: 3 },
        Op::PutThreadMember { workspace: other_ws, root: root.id, user: ada, read_seq: 0 },
        Op::PutActivity { workspace: ws, user: ada, message: replies[0].id, activity: reply },
        Op::PutActivity { workspace: ws, user: ada, message: replies[1].id, activity: mention },
        Op::PutActivity { workspace: ws, user: ada, message: replies[2].id, activity: reply },
        Op::PutActivity { workspace: other_ws, user: ada, message: root.id, activity: mention },
        Op::PutThreadMention { workspace: ws, user: ada, channel: ch.id, seq: 3, root: root.id },
        Op::PutThreadMention { workspace: ws, user: ada, channel: ch.id, seq: 4, root: root.id },
    ]);
    apply(&store, ops);
    assert_eq!(store.thread_reply_seqs(root.id).unwrap(), [2, 3, 4]);
    let mut members = store.thread_members(root.id).unwrap();
    members.sort();
    let mut both = vec![ada, bob];
    both.sort();
    assert_eq!(members, both);
    assert_eq!(store.threads_of(bob, ws).unwrap(), [(root.id, 3)]);
    assert_eq!(store.thread_read_marker(bob, ws, root.id).unwrap(), Some(3));
    assert_eq!(store.thread_read_marker(bob, other_ws, root.id).unwrap(), None);

    let newest_first: Vec<_> = replies.iter().rev().map(|m| m.id).collect();
    let all = store.activity(ada, ws, None, 10).unwrap();
    assert_eq!(all.iter().map(|(id, _)| *id).collect::<Vec<_>>(), newest_first);
    assert_eq!(all[1].1, mention);
    let page = store.activity(ada, ws, Some(replies[2].id), 1).unwrap();
    assert_eq!(page, [(replies[1].id, mention)]);

    assert_eq!(store.thread_mentions(ada, ws, ch.id).unwrap(), [(3, root.id), (4, root.id)]);
    apply(&store, vec![Op::DeleteThreadMention { workspace: ws, user: ada, channel: ch.id, seq: 3 }]);
    assert_eq!(store.thread_mentions(ada, ws, ch.id).unwrap(), [(4, root.id)]);

    apply(
        &store,
        vec![
            Op::PutSaved { workspace: ws, user: ada, message: root.id, at: 42 },
            Op::PutSaved { workspace: ws, user: bob, message: root.id, at: 43 },
            Op::PutBlob {
                workspace: ws,
                namespace: "prefs",
                key: [&ada.to_bytes()[..], b"x"].concat(),
                value: vec![1],
            },
            Op::PutBlob {
                workspace: ws,
                namespace: "prefs",
                key: [&bob.to_bytes()[..], b"x"].concat(),
                value: vec![1],
            },
        ],
    );
    assert_eq!(store.saved(ada, ws).unwrap(), [(root.id, 42)]);
    apply(&store, vec![Op::ForgetPersonalState { workspace: ws, user: ada, blob_namespaces: &["prefs"] }]);
    assert_eq!(store.saved(ada, ws).unwrap(), []);
    assert_eq!(store.saved(bob, ws).unwrap(), [(root.id, 43)], "only hers");
    assert_eq!(store.blob_keys(ws, "prefs").unwrap(), [[&bob.to_bytes()[..], b"x"].concat()]);
    assert_eq!(store.threads_of(ada, ws).unwrap(), []);
    assert_eq!(store.thread_members(root.id).unwrap(), [bob]);
    assert_eq!(store.activity(ada, ws, None, 10).unwrap(), []);
    assert_eq!(store.thread_mentions(ada, ws, ch.id).unwrap(), []);
    assert_eq!(store.activity(ada, other_ws, None, 10).unwrap().len(), 1, "other workspaces keep theirs");
    assert_eq!(store.threads_of(ada, other_ws).unwrap(), [(root.id, 0)]);

    // A channel's pins: who and when, in message id order; pinning again keeps one.
    let pinned_reply = replies[0].id;
    apply(
        &store,
        vec![
            Op::PutPin { channel: ch.id, message: pinned_reply, by: bob, at: 7 },
            Op::PutPin { channel: ch.id, message: root.id, by: ada, at: 5 },
            Op::PutPin { channel: ch.id, message: root.id, by: bob, at: 6 },
        ],
    );
    let pin = |message, by, at| confab_store::Pin { message, by, at };
    let mut expected = vec![pin(root.id, bob, 6), pin(pinned_reply, bob, 7)];
    expected.sort_by_key(|p| p.message);
    assert_eq!(store.pins(ch.id).unwrap(), expected);
    apply(&store, vec![Op::DeletePin { channel: ch.id, message: root.id }]);
    assert_eq!(store.pins(ch.id).unwrap(), [pin(pinned_reply, bob, 7)]);
}

/// Opening a version-4 store makes the authors of each thread's root and replies its
/// members, with every reply already read.
#[test]
fn upgrading_a_version_4_store_indexes_the_threads_people_are_in() {
    let dir = tempfile::tempdir().unwrap();
    let ws = WorkspaceId::from_ulid(ulid::Ulid::new());
    let ch = channel(ws, "general", ChannelKind::Public);
    let root = message(ws, ch.id, 1, "root");
    let lone = message(ws, ch.id, 2, "no replies");
    let replies: Vec<Message> = (3..5)
        .map(|seq| Message { thread_root: Some(root.id), ..message(ws, ch.id, seq, "reply") })
        .collect();
    {
        let store = SledStore::open(dir.path(), &Default::default()).unwrap();
        let mut ops =
            vec![Op::PutChannel(ch.clone()), Op::PutMessage(root.clone()), Op::PutMessage(lone.clone())];
        ops.extend(replies.iter().cloned().map(Op::PutMessage));
        apply(&store, ops);
    }
    {
        let db = SledStore::open_raw(dir.path()).unwrap();
        db.open_tree("confab").unwrap().insert(b"\xF0schema_version", &4u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    for author in [root.author, replies[0].author, replies[1].author] {
        assert_eq!(store.threads_of(author, ws).unwrap(), [(root.id, 4)], "{author}");
    }
    assert_eq!(store.thread_members(root.id).unwrap().len(), 3);
    assert_eq!(store.threads_of(lone.author, ws).unwrap(), []);
}

/// Thread replies are not a channel's unread messages; past the first 1,000 after the
/// marker, messages count without being read (replies included), so a long backlog
/// costs no more to count than 1,000.
#[test]
fn unread_counts_skip_replies_and_read_at_most_a_thousand_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), &Default::default()).unwrap();
    let ws = WorkspaceId::from_ulid(ulid::Ulid::new());
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
    apply(&store, ops);
    assert_eq!(store.unread_count(ch.id, 1400).unwrap(), 51, "101 after the marker, 50 of them replies");
    assert_eq!(store.unread_count(ch.id, 1501).unwrap(), 0);
    // After seq 1: 1,000 read (500 replies), the other 500 counted unread.
    assert_eq!(store.unread_count(ch.id, 1).unwrap(), 500 + 500);
    assert_eq!(store.unread_count(ch.id, 0).unwrap(), 1 + 499 + 501);
}
