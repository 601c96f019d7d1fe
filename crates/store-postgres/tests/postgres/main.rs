//! The PostgreSQL store against a throwaway server the tests start themselves
//! (`confab_test_support::postgres`): the conformance suite every backend passes, then what is
//! PostgreSQL's own — the schema and its migration by nodes starting together, the
//! tables below the trait, refusals of a shared log's positions, durability across
//! a server crash, fail-stop after a lost connection, and calls from tokio threads.

use confab_test_support::postgres as cluster;

mod leases;
mod migrate;

use std::sync::Barrier;

use confab_core::{
    Channel, ChannelId, ChannelKind, Event, EventRecord, Message, User, UserId, Workspace, WorkspaceId,
};
use confab_store::conformance::message;
use confab_store::{Batch, Direction, Op, Store, StoreError, UserRecord};
use confab_store_postgres::{NodeLockHeld, PgConfig, PgStore, SCHEMA_VERSION};

/// A store on a new database of the shared server, with the database's URL; `None`
/// when the run skips PostgreSQL.
fn open() -> Option<(String, PgStore)> {
    let url = cluster::shared()?.database();
    let store =
        PgStore::open(&PgConfig { connections: 3, ..PgConfig::new(url.clone()) }).expect("open the store");
    Some((url, store))
}

mod conformance {
    use super::open;

    confab_store::conformance_tests!(match open() {
        Some(opened) => opened,
        None => return,
    });
}

fn database_name(url: &str) -> &str {
    url.rsplit('/').next().expect("a database in the URL")
}

fn id<T>(make: fn(ulid::Ulid) -> T) -> T {
    make(ulid::Ulid::new())
}

fn workspace() -> Workspace {
    Workspace {
        id: id(WorkspaceId::from_ulid),
        name: "w".into(),
        created_by: id(UserId::from_ulid),
        created_at: 1,
    }
}

fn apply(store: &dyn Store, ops: Vec<Op>) {
    store.apply(Batch { ops }).expect("apply");
    store.flush().expect("flush");
}

/// Nodes started at the same moment against an empty database: one migrates, the
/// others wait on the lock and find the schema there; all of them then share it.
#[test]
fn nodes_opening_at_once_migrate_the_schema_once() {
    let Some(cluster) = cluster::shared() else { return };
    let url = cluster.database();
    const NODES: usize = 4;
    let barrier = Barrier::new(NODES);
    let stores: Vec<PgStore> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..NODES)
            .map(|node| {
                let (barrier, url) = (&barrier, &url);
                scope.spawn(move || {
                    // `postgresql://` is accepted as well as `postgres://`.
                    let url = match node % 2 {
                        0 => url.clone(),
                        _ => url.replacen("postgres://", "postgresql://", 1),
                    };
                    barrier.wait();
                    PgStore::open(&PgConfig { connections: 2, ..PgConfig::new(url) })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap().expect("every node opens")).collect()
    });
    let mut admin = cluster.admin(database_name(&url));
    let versions: Vec<i32> =
        admin.query("SELECT version FROM schema_migrations", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION as i32).collect::<Vec<_>>());
    let marks: i64 = admin.query_one("SELECT count(*) FROM flush_marks", &[]).unwrap().get(0);
    assert_eq!(marks, NODES as i64, "a flush row per open store");

    let ws = workspace();
    apply(&stores[0], vec![Op::PutWorkspace(ws.clone())]);
    assert_eq!(stores[NODES - 1].workspace(ws.id).unwrap(), Some(ws));
    drop(stores);
    let marks: i64 = admin.query_one("SELECT count(*) FROM flush_marks", &[]).unwrap().get(0);
    assert_eq!(marks, 0, "a closed store removes its row");
}

#[test]
fn a_database_migrated_by_a_newer_build_is_refused() {
    let Some((url, store)) = open() else { return };
    drop(store);
    let cluster = cluster::shared().unwrap();
    let newer = SCHEMA_VERSION as i32 + 1;
    cluster
        .admin(database_name(&url))
        .execute("INSERT INTO schema_migrations (version, name) VALUES ($1, 'from the future')", &[&newer])
        .unwrap();
    match PgStore::open(&PgConfig::new(url)) {
        Err(StoreError::SchemaVersion { found, expected }) => {
            assert_eq!((found, expected), (newer as u32, SCHEMA_VERSION));
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a newer schema was opened"),
    }
}

/// Records are rows under their keys, readable with SQL: what an operator sees in
/// `psql`, and what the constraints act on.
#[test]
fn records_are_rows_under_their_keys() {
    let Some((url, store)) = open() else { return };
    let ws = workspace();
    let user = UserRecord {
        user: User {
            id: id(UserId::from_ulid),
            email: "Ada@Example.com".into(),
            username: "ada".into(),
            display_name: "Ada".into(),
            instance_admin: true,
            created_at: 1,
            details: Default::default(),
        },
        password_hash: "hash".into(),
    };
    let channel = Channel {
        id: id(ChannelId::from_ulid),
        workspace: ws.id,
        name: "general".into(),
        kind: ChannelKind::Public,
        topic: String::new(),
        archived: false,
        created_by: user.user.id,
        created_at: 1,
    };
    let posted = message(ws.id, channel.id, 1, &"long text ".repeat(1_000));
    let created = EventRecord {
        workspace: ws.id,
        event_seq: 1,
        at: 2,
        event: Event::MessageCreated { message: posted.clone() },
    };
    apply(
        &store,
        vec![
            Op::PutUser(user.clone()),
            Op::PutWorkspace(ws.clone()),
            Op::PutChannel(channel.clone()),
            Op::PutMessage(posted.clone()),
            Op::AppendEvent(created),
        ],
    );
    let mut sql = cluster::shared().unwrap().admin(database_name(&url));
    let row =
        sql.query_one("SELECT id, email_lower, username, record->'user'->>'email' FROM users", &[]).unwrap();
    let (id, email, username, written): (String, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        (id, email.as_str(), username.as_str(), written.as_str()),
        (user.user.id.to_string(), "ada@example.com", "ada", "Ada@Example.com")
    );
    let row = sql.query_one("SELECT workspace, name, kind FROM channels", &[]).unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, String>(2)),
        (ws.id.to_string(), "general".into(), "public".into())
    );
    // The text has its own column; the record is the rest.
    let row = sql
        .query_one(
            "SELECT id, length(text), record->>'text' FROM messages WHERE channel = $1 AND seq = 1",
            &[&channel.id.to_string()],
        )
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, i32>(1), row.get::<_, String>(2)),
        (posted.id.to_string(), 10_000, String::new())
    );
    // The creation event names the message instead of copying it.
    let row =
        sql.query_one("SELECT kind, event IS NULL, message_channel, message_seq FROM events", &[]).unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, bool>(1), row.get::<_, String>(2), row.get::<_, i64>(3)),
        ("message.created".into(), true, channel.id.to_string(), 1)
    );
}

/// Two claims to one place of a channel's history or of a workspace's event log (a
/// node counting from a stale `seq`): the second is refused whole, the first stays.
#[test]
fn a_second_claim_to_a_place_in_a_log_is_refused() {
    let Some((_url, store)) = open() else { return };
    let ws = workspace();
    let channel = id(ChannelId::from_ulid);
    let first = message(ws.id, channel, 1, "first");
    let logged = EventRecord {
        workspace: ws.id,
        event_seq: 1,
        at: 1,
        event: Event::UserUpdated { user: first.author },
    };
    apply(&store, vec![Op::PutMessage(first.clone()), Op::AppendEvent(logged.clone())]);

    let rival = message(ws.id, channel, 1, "rival");
    let batch = Batch { ops: vec![Op::PutWorkspace(ws.clone()), Op::PutMessage(rival.clone())] };
    assert!(matches!(store.apply(batch), Err(StoreError::Taken("message seq"))));
    let rival_event = EventRecord { event: Event::UserUpdated { user: rival.author }, ..logged.clone() };
    let batch = Batch { ops: vec![Op::PutWorkspace(ws.clone()), Op::AppendEvent(rival_event)] };
    assert!(matches!(store.apply(batch), Err(StoreError::Taken("event seq"))));
    let moved = Message { seq: 2, ..first.clone() };
    assert!(matches!(
        store.apply(Batch { ops: vec![Op::PutMessage(moved)] }),
        Err(StoreError::Taken("message id"))
    ));

    assert_eq!(store.message_at(channel, 1).unwrap(), Some(first.clone()));
    assert_eq!(store.message(rival.id).unwrap(), None);
    assert_eq!(store.last_seq(channel).unwrap(), 1);
    assert_eq!(store.events(ws.id, 0, 10).unwrap(), [logged]);
    assert_eq!(store.workspace(ws.id).unwrap(), None, "refused batches wrote nothing");
    // The first message is still its own to edit.
    let edited = Message { text: "first, edited".into(), ..first };
    apply(&store, vec![Op::PutMessage(edited.clone())]);
    assert_eq!(store.messages(channel, Direction::Forward { after: 0 }, 10).unwrap(), [edited]);
}

/// A connection lost under the store may mean a server that crashed with batches
/// not yet flushed: writes stop (until a restart), reads go on over new connections.
#[test]
fn a_lost_connection_stops_writes_and_reads_go_on() {
    let Some((url, store)) = open() else { return };
    let ws = workspace();
    apply(&store, vec![Op::PutWorkspace(ws.clone())]);
    let mut admin = cluster::shared().unwrap().admin(database_name(&url));
    let ended: i64 = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()) AS ended",
            &[],
        )
        .unwrap()
        .get(0);
    // The store's three connections (and the migration's, if it is still closing).
    assert!(ended >= 3, "{ended} connections ended");
    assert!(store.flush().is_err(), "a flush over a lost connection fails");
    let later = Batch { ops: vec![Op::PutWorkspace(workspace())] };
    assert!(matches!(store.apply(later), Err(StoreError::Stopped)));
    assert!(matches!(store.flush(), Err(StoreError::Stopped)));
    for _ in 0..4 {
        assert_eq!(store.workspace(ws.id).unwrap(), Some(ws.clone()), "reads reconnect");
    }
}

/// Batches applied and then flushed survive a crash of the server (an immediate
/// shutdown writes nothing more), and the store that saw the crash stops its writes.
/// The server's WAL writer waits 10 s here, so what reaches disk is the flush's doing.
#[test]
fn flushed_batches_survive_a_crash_of_the_server() {
    if cluster::skipped() {
        return;
    }
    let cluster =
        cluster::TestCluster::start(&["wal_writer_delay = '10s'"]).unwrap_or_else(|why| panic!("{why}"));
    let url = cluster.database();
    let store = PgStore::open(&PgConfig::new(url.clone())).unwrap();
    let (ws, channel) = (workspace(), id(ChannelId::from_ulid));
    for seq in 1..=50 {
        let ops = vec![Op::PutMessage(message(ws.id, channel, seq, "durable"))];
        store.apply(Batch { ops }).unwrap();
    }
    store.flush().unwrap();
    cluster.crash_and_restart().unwrap();

    let after_crash = Batch { ops: vec![Op::PutWorkspace(ws.clone())] };
    assert!(store.apply(after_crash).is_err(), "the store lost its connections");
    assert!(matches!(
        store.apply(Batch { ops: vec![Op::PutWorkspace(ws.clone())] }),
        Err(StoreError::Stopped)
    ));
    drop(store);
    let reopened = PgStore::open(&PgConfig::new(url)).unwrap();
    assert_eq!(reopened.last_seq(channel).unwrap(), 50);
    assert_eq!(reopened.messages(channel, Direction::Forward { after: 0 }, 100).unwrap().len(), 50);
}

/// The trait is called from tokio's worker threads, where the synchronous client
/// itself would panic (it starts a runtime of its own): the store's connection
/// threads take the calls.
#[test]
fn the_store_is_called_from_tokio_workers() {
    let Some((_url, store)) = open() else { return };
    let store = std::sync::Arc::new(store);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let ws = workspace();
    let read = runtime.block_on({
        let (store, ws) = (store.clone(), ws.clone());
        async move {
            tokio::spawn(async move {
                apply(store.as_ref(), vec![Op::PutWorkspace(ws.clone())]);
                store.workspace(ws.id)
            })
            .await
        }
    });
    assert_eq!(read.expect("the task ran").unwrap(), Some(ws));
}

#[test]
fn backups_are_left_to_postgresql_tools() {
    let Some((_url, store)) = open() else { return };
    let dest = tempfile::tempdir().unwrap();
    let error = store.snapshot_to(dest.path(), &mut |_| {}).expect_err("no online copy");
    assert!(error.to_string().contains("pg_dump"), "{error}");
}

/// A wrong address fails at open, not on first use; so does one that is not one.
#[test]
fn a_wrong_address_fails_at_open() {
    let refused =
        PgStore::open(&PgConfig::new("postgres://confab@127.0.0.1:1/nothing")).err().expect("no server");
    assert!(matches!(refused, StoreError::Backend(_)), "{refused}");
    let garbage = PgStore::open(&PgConfig::new("postgres://confab@127.0.0.1:notaport/x"))
        .err()
        .expect("not an address");
    assert!(garbage.to_string().contains("not valid"), "{garbage}");
}

/// An exclusive store (as a server opens it) holds the database: a second one is
/// refused before it touches anything, naming the holder, while stores of other
/// databases open; once the first is gone, its lock goes with its session.
#[test]
fn a_second_exclusive_store_on_one_database_is_refused() {
    let Some(cluster) = cluster::shared() else { return };
    let url = cluster.database();
    let exclusive = |url: &str| PgConfig { connections: 1, exclusive: true, ..PgConfig::new(url) };
    let first = PgStore::open(&exclusive(&url)).expect("the first node");
    let refused = PgStore::open(&exclusive(&url)).err().expect("a second node is refused");
    let StoreError::Backend(cause) = &refused else { panic!("{refused}") };
    let held = cause.downcast_ref::<NodeLockHeld>().unwrap_or_else(|| panic!("{refused}"));
    assert!(held.holder.contains("backend pid"), "names the holder: {held}");
    assert!(refused.to_string().contains("another confab node is serving this database"), "{refused}");

    let other = PgStore::open(&exclusive(&cluster.database())).expect("another database is free");
    drop(other);
    drop(first);
    // The lock is released when the holding session ends, which the server notes a
    // moment after the client closes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match PgStore::open(&exclusive(&url)) {
            Ok(_) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("another confab node"), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("the lock outlived its store: {e}"),
        }
    }
}

#[test]
fn passwords_are_not_in_debug_output() {
    let config = PgConfig::new("postgres://confab:s3cret@db.example:5432/chat");
    let shown = format!("{config:?}");
    assert!(!shown.contains("s3cret") && shown.contains("confab:***@db.example:5432/chat"), "{shown}");
    let libpq = confab_store_postgres::redact_password("host=db user=confab password=s3cret dbname=chat");
    assert_eq!(libpq, "host=db user=confab password=*** dbname=chat");
}
