//! Per-workspace write leases (`confab_store_postgres::lease`): one node at a time
//! holds a workspace's lease, a lease that lapsed is taken with a new epoch, and a
//! node whose lease is gone cannot commit that workspace's messages or events —
//! whether its own clock noticed (the lease lapsed without renewal) or only the
//! database did (fencing).

use std::time::Duration;

use confab_core::{Event, EventRecord, WorkspaceId};
use confab_store::{Batch, Op, Store, StoreError};
use confab_store_postgres::{LEASE_TAKEN, LeaseConfig, LeaseOutcome, PgConfig, PgStore};

use super::{cluster, database_name, workspace};

/// A node of a cluster on the database `url`.
fn node(url: &str, name: &str, ttl: Duration, renew_every: Duration) -> PgStore {
    let leases = LeaseConfig::new(name, ttl, renew_every);
    PgStore::open(&PgConfig { connections: 2, leases: Some(leases), ..PgConfig::new(url) }).expect("open")
}

/// A batch logging one event of `ws` at `event_seq`.
fn event(ws: WorkspaceId, event_seq: u64) -> Batch {
    let user = confab_core::UserId::from_ulid(ulid::Ulid::new());
    let record =
        EventRecord { workspace: ws, event_seq, at: 1, event: Event::MemberJoined { channel: None, user } };
    Batch { ops: vec![Op::AppendEvent(record)] }
}

fn refused_for_the_lease(outcome: Result<(), StoreError>) -> bool {
    matches!(outcome, Err(StoreError::Taken(what)) if what == LEASE_TAKEN)
}

#[test]
fn one_node_at_a_time_holds_and_writes_a_workspace() {
    let Some(cluster) = cluster::shared() else { return };
    let url = cluster.database();
    let long = Duration::from_secs(30);
    let (a, b) =
        (node(&url, "a", long, Duration::from_secs(1)), node(&url, "b", long, Duration::from_secs(1)));
    let ws = workspace();
    a.apply(Batch { ops: vec![Op::PutWorkspace(ws.clone())] }).unwrap();

    assert!(refused_for_the_lease(a.apply(event(ws.id, 1))), "no lease, no events");
    assert_eq!(a.take_lease(ws.id).unwrap(), LeaseOutcome::Taken);
    assert_eq!(a.take_lease(ws.id).unwrap(), LeaseOutcome::Held, "held: no new epoch");
    let holder = a.lease_holder_name().unwrap().to_string();
    assert_eq!(b.take_lease(ws.id).unwrap(), LeaseOutcome::Elsewhere { holder });
    assert!(a.holds_lease(ws.id) && !b.holds_lease(ws.id));

    a.apply(event(ws.id, 1)).expect("the holder writes");
    assert!(refused_for_the_lease(b.apply(event(ws.id, 2))), "the other node does not");
    // Batches that touch no workspace's sequencing need no lease.
    b.apply(Batch { ops: vec![Op::PutWorkspace(workspace())] }).unwrap();
    a.flush().unwrap();
    assert_eq!(b.event_bounds(ws.id).unwrap(), Some((1, 1)), "only the holder's event is logged");

    // A node that stops releases its leases: the next node takes them at once (once
    // its last look, reused for a quarter of a second, is out of date), long before
    // they would have expired.
    drop(a);
    let released = std::time::Instant::now();
    while b.take_lease(ws.id).unwrap() != LeaseOutcome::Taken {
        assert!(released.elapsed() < Duration::from_secs(2), "the released lease is free");
        std::thread::sleep(Duration::from_millis(20));
    }
    b.apply(event(ws.id, 2)).expect("the new holder writes");
}

/// A holder that stops renewing (a killed or paused node): its own clock stops it
/// before the database lets another node in, and the lease is taken with a new
/// epoch once it expires.
#[test]
fn a_lease_that_is_not_renewed_lapses_and_is_taken_over() {
    let Some(cluster) = cluster::shared() else { return };
    let url = cluster.database();
    let ttl = Duration::from_millis(800);
    // `a` never renews within the test.
    let a = node(&url, "a", ttl, Duration::from_secs(3600));
    let b = node(&url, "b", ttl, Duration::from_millis(100));
    let ws = workspace();
    assert_eq!(a.take_lease(ws.id).unwrap(), LeaseOutcome::Taken);
    assert!(matches!(b.take_lease(ws.id).unwrap(), LeaseOutcome::Elsewhere { .. }));
    std::thread::sleep(ttl + Duration::from_millis(100));
    assert!(!a.holds_lease(ws.id), "the holder's clock let it go");
    assert!(refused_for_the_lease(a.apply(event(ws.id, 1))));
    assert_eq!(b.take_lease(ws.id).unwrap(), LeaseOutcome::Taken, "expired: free to take");
    // `b` renews: it keeps the lease well past its ttl.
    std::thread::sleep(ttl * 3);
    assert!(b.holds_lease(ws.id), "renewed");
    b.apply(event(ws.id, 1)).expect("the new holder writes");
    assert!(matches!(a.take_lease(ws.id).unwrap(), LeaseOutcome::Elsewhere { .. }));
    let mut sql = cluster.admin(database_name(&url));
    let epoch: i64 = sql
        .query_one("SELECT epoch FROM workspace_leases WHERE workspace = $1", &[&ws.id.to_string()])
        .unwrap()
        .get(0);
    assert_eq!(epoch, 2, "a new epoch for the new holder");
}

/// Fencing: a holder whose lease the database gave away while the holder's clock
/// still counted on it (a paused process, a clock that ran slow) cannot commit.
#[test]
fn a_stale_holders_commit_is_refused_by_the_database() {
    let Some(cluster) = cluster::shared() else { return };
    let url = cluster.database();
    let long = Duration::from_secs(60);
    let a = node(&url, "a", long, Duration::from_secs(3600));
    let b = node(&url, "b", long, Duration::from_secs(3600));
    let ws = workspace();
    assert_eq!(a.take_lease(ws.id).unwrap(), LeaseOutcome::Taken);
    a.apply(event(ws.id, 1)).unwrap();
    // The database's view: the lease expired.
    let mut sql = cluster.admin(database_name(&url));
    sql.execute("UPDATE workspace_leases SET expires_at = now() - interval '1 second'", &[]).unwrap();
    assert_eq!(b.take_lease(ws.id).unwrap(), LeaseOutcome::Taken);
    assert!(a.holds_lease(ws.id), "a's clock still counts on it");
    assert!(refused_for_the_lease(a.apply(event(ws.id, 2))), "but the database refuses its batch");
    assert!(!a.holds_lease(ws.id), "and a now knows it lost the lease");
    assert!(!a.writes_stopped(), "a refusal, not a failure: the node goes on");
    b.apply(event(ws.id, 2)).expect("the new holder continues the log");
    b.flush().unwrap();
    assert_eq!(a.event_bounds(ws.id).unwrap(), Some((1, 2)));
}

/// A node restarted under its name after a crash takes its workspaces back at once,
/// rather than after their leases expire; the previous process, should it still
/// run, is fenced off.
#[test]
fn a_node_restarted_under_its_name_takes_its_leases_back_at_once() {
    let Some(cluster) = cluster::shared() else { return };
    let url = cluster.database();
    let long = Duration::from_secs(60);
    let before = node(&url, "a", long, Duration::from_secs(3600));
    let other = node(&url, "b", long, Duration::from_secs(3600));
    let ws = workspace();
    assert_eq!(before.take_lease(ws.id).unwrap(), LeaseOutcome::Taken);
    before.apply(event(ws.id, 1)).unwrap();
    assert!(
        matches!(other.take_lease(ws.id).unwrap(), LeaseOutcome::Elsewhere { .. }),
        "not by another name"
    );
    let restarted = node(&url, "a", long, Duration::from_secs(3600));
    assert_eq!(restarted.take_lease(ws.id).unwrap(), LeaseOutcome::Taken, "at once, by its own name");
    restarted.apply(event(ws.id, 2)).unwrap();
    assert!(refused_for_the_lease(before.apply(event(ws.id, 3))), "the previous process is fenced off");
}

/// The consent generation is one row of the database: an append to a consent ledger
/// through one node has moved what every other node reads by the time its `apply`
/// returns, without waiting for a flush; and two nodes appending at one place of a
/// workspace's chain cannot both succeed, whichever holds the lease.
#[test]
fn a_consent_append_on_one_node_moves_the_generation_every_node_reads() {
    let Some(server) = cluster::shared() else { return };
    let url = server.database();
    let (ttl, renew) = (Duration::from_secs(5), Duration::from_secs(1));
    let (a, b) = (node(&url, "a", ttl, renew), node(&url, "b", ttl, renew));
    let ws = workspace().id;
    let append = |key: u8| Batch {
        ops: vec![Op::AppendConsent {
            workspace: ws,
            namespace: "consent_ledger",
            key: vec![key],
            value: vec![key],
        }],
    };
    let start = b.consent_generation().unwrap();
    assert_eq!(a.consent_generation().unwrap(), start);
    a.apply(append(1)).unwrap();
    assert_eq!(b.consent_generation().unwrap(), start + 1, "B sees A's append at once");
    b.apply(append(2)).unwrap();
    assert_eq!(a.consent_generation().unwrap(), start + 2, "and A sees B's");
    assert!(matches!(a.apply(append(2)), Err(StoreError::Taken(_))), "a second entry at one place");
    assert_eq!(b.consent_generation().unwrap(), start + 2, "a refused append moves nothing");
}
