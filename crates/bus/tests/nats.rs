//! `NatsBus` against a real `nats-server` (`confab_test_support::nats`): two nodes
//! see each other's events in order, forward requests to each other, and a restart
//! of NATS during publishing is reported to the subscriber, whose `Reorder` then
//! closes the gap from a (simulated) event log without a duplicate; ephemeral
//! messages (typing, presence) reach the other nodes of the cluster only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_bus::{
    Bus, BusError, BusEvent, Deliveries, Delivery, LossReason, NatsBus, NatsConfig, Reorder, ReorderConfig,
};
use confab_core::WorkspaceId;
use confab_test_support::nats;
use futures_util::StreamExt;

/// How long a test waits for something the bus should deliver promptly.
const PATIENCE: Duration = Duration::from_secs(20);

fn workspace(n: u64) -> WorkspaceId {
    WorkspaceId::from_ulid(ulid::Ulid::from_parts(n, 42))
}

fn event(ws: WorkspaceId, event_seq: u64) -> BusEvent {
    BusEvent { workspace: ws, event_seq, payload: Bytes::from(format!("{{\"seq\":{event_seq}}}")) }
}

async fn node(url: &str, cluster: &str, name: &str) -> NatsBus {
    // The client's and the bus's logs, shown with a failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("async_nats=debug,confab_bus=debug")
        .with_test_writer()
        .try_init();
    let mut config = NatsConfig::new(url, cluster);
    config.node_name = name.into();
    NatsBus::connect(config).await.expect("connect to the test nats-server")
}

async fn next(deliveries: &mut Deliveries, waiting_for: &str) -> Delivery {
    match tokio::time::timeout(PATIENCE, deliveries.next()).await {
        Ok(Some(delivery)) => delivery,
        Ok(None) => panic!("the subscription ended while waiting for {waiting_for}"),
        Err(_) => panic!("no delivery in {PATIENCE:?} while waiting for {waiting_for}"),
    }
}

#[tokio::test]
async fn two_nodes_see_each_others_events_in_order_per_workspace() {
    let Some(server) = nats::shared() else { return };
    let a = node(&server.url(), "order", "a").await;
    let b = node(&server.url(), "order", "b").await;
    let mut at_a = a.subscribe().await.unwrap();
    let mut at_b = b.subscribe().await.unwrap();
    assert!(a.is_connected() && b.is_connected());
    let (ws1, ws2, ws3) = (workspace(1), workspace(2), workspace(3));
    // a writes two workspaces interleaved, b a third.
    for seq in 1..=200 {
        a.publish(event(ws1, seq)).await.unwrap();
        a.publish(event(ws2, seq)).await.unwrap();
        if seq <= 50 {
            b.publish(event(ws3, seq)).await.unwrap();
        }
    }
    let mut seen_at_b: BTreeMap<WorkspaceId, Vec<u64>> = BTreeMap::new();
    while seen_at_b.values().map(Vec::len).sum::<usize>() < 400 {
        match next(&mut at_b, "a's events at b").await {
            Delivery::Event(e) => {
                assert_eq!(e, event(e.workspace, e.event_seq), "payload and envelope arrive intact");
                seen_at_b.entry(e.workspace).or_default().push(e.event_seq);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let in_order: Vec<u64> = (1..=200).collect();
    assert_eq!(seen_at_b[&ws1], in_order);
    assert_eq!(seen_at_b[&ws2], in_order);
    assert!(!seen_at_b.contains_key(&ws3), "a node does not receive its own events");
    for seq in 1..=50 {
        assert_eq!(next(&mut at_a, "b's events at a").await, Delivery::Event(event(ws3, seq)));
    }
    assert_eq!(a.stats().published, 400);
    assert_eq!(b.stats().received, 400);
    assert_eq!(a.stats().received, 50);

    // Another cluster on the same NATS hears none of it.
    let other = node(&server.url(), "elsewhere", "c").await;
    let mut at_other = other.subscribe().await.unwrap();
    a.publish(event(ws1, 201)).await.unwrap();
    assert_eq!(next(&mut at_b, "one more event at b").await, Delivery::Event(event(ws1, 201)));
    assert!(tokio::time::timeout(Duration::from_millis(200), at_other.next()).await.is_err());
}

#[tokio::test]
async fn ephemeral_messages_reach_the_other_nodes_of_the_cluster_only() {
    let Some(server) = nats::shared() else { return };
    let a = node(&server.url(), "ephemeral", "a").await;
    let b = node(&server.url(), "ephemeral", "b").await;
    let other = node(&server.url(), "ephemeral-elsewhere", "c").await;
    let mut at_a = a.subscribe_ephemeral().await.unwrap();
    let mut at_b = b.subscribe_ephemeral().await.unwrap();
    let mut at_other = other.subscribe_ephemeral().await.unwrap();
    a.publish_ephemeral(Bytes::from_static(b"typing")).await.unwrap();
    let heard = tokio::time::timeout(PATIENCE, at_b.next()).await.expect("b hears a");
    assert_eq!(heard, Some(Bytes::from_static(b"typing")));
    assert!(tokio::time::timeout(Duration::from_millis(200), at_a.next()).await.is_err(), "not its own");
    assert!(tokio::time::timeout(Duration::from_millis(200), at_other.next()).await.is_err());
}

#[tokio::test]
async fn a_request_reaches_the_node_serving_its_workspace() {
    let Some(server) = nats::shared() else { return };
    let holder = node(&server.url(), "requests", "holder").await;
    let forwarder = node(&server.url(), "requests", "forwarder").await;
    let (ws, unserved) = (workspace(10), workspace(11));
    let mut requests = holder.serve(ws).await.unwrap();
    let serving = tokio::spawn(async move {
        for _ in 0..3 {
            let request = requests.next().await.expect("a request");
            assert_eq!(request.workspace, ws);
            let answer = [b"ack ".as_slice(), &request.payload].concat();
            request.reply(Bytes::from(answer)).await.unwrap();
        }
        requests
    });
    for i in 0..3 {
        let payload = Bytes::from(format!("post {i}"));
        let answer = forwarder.request(ws, payload, Duration::from_secs(5)).await.unwrap();
        assert_eq!(answer, Bytes::from(format!("ack post {i}")));
    }
    let requests = serving.await.unwrap();

    let started = Instant::now();
    let nobody = forwarder.request(unserved, Bytes::from_static(b"x"), Duration::from_secs(5)).await;
    assert!(matches!(nobody, Err(BusError::NoResponder(w)) if w == unserved), "{nobody:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "no responder is known at once");

    // Served, but the holder does not answer: the requester's timeout holds.
    let started = Instant::now();
    let silent = forwarder.request(ws, Bytes::from_static(b"x"), Duration::from_millis(300)).await;
    assert!(matches!(silent, Err(BusError::Timeout(..))), "{silent:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Dropping the stream stops serving (the lease moved away).
    drop(requests);
    let deadline = Instant::now() + PATIENCE;
    loop {
        match forwarder.request(ws, Bytes::from_static(b"x"), Duration::from_millis(300)).await {
            Err(BusError::NoResponder(_)) => break,
            other => assert!(Instant::now() < deadline, "still served: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_nats_restart_is_reported_and_the_log_closes_the_gap() {
    if nats::skipped() {
        return;
    }
    // A server of this test's own: it is restarted.
    let server = nats::TestNats::start().expect("start nats-server");
    let publisher = node(&server.url(), "restart", "publisher").await;
    let subscriber = node(&server.url(), "restart", "subscriber").await;
    let mut deliveries = subscriber.subscribe().await.unwrap();
    let ws = workspace(20);

    // The simulated store: the publisher commits each event to the log (its head,
    // since the log holds 1..=head), then publishes it, and goes on through the
    // restart. The client would buffer what is published while disconnected and
    // might deliver it after all; a node that crashes loses that buffer, so while
    // disconnected this publisher does not publish: those events are only in the log.
    let total = 600u64;
    let log_head = Arc::new(AtomicU64::new(0));
    let publishing = tokio::spawn({
        let log_head = log_head.clone();
        async move {
            let mut only_in_log = 0;
            for seq in 1..=total {
                log_head.store(seq, Ordering::SeqCst);
                match publisher.is_connected() {
                    true => publisher.publish(event(ws, seq)).await.unwrap(),
                    false => only_in_log += 1,
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            only_in_log
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let restart = tokio::task::spawn_blocking(move || {
        server.stop_server();
        std::thread::sleep(Duration::from_millis(300));
        server.start_server().expect("start nats-server again");
        server
    });

    let config = ReorderConfig { max_pending: 256, gap_timeout: Duration::from_millis(200), gap_events: 32 };
    let mut reorder: Reorder<Bytes> = Reorder::new(0, config);
    let mut delivered = Vec::new();
    let (mut disconnected, mut lost, mut from_log) = (false, false, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered.len() < total as usize {
        assert!(Instant::now() < deadline, "delivered {} of {total}", delivered.len());
        let now = Instant::now();
        match tokio::time::timeout(Duration::from_millis(50), deliveries.next()).await {
            Ok(Some(Delivery::Event(e))) => {
                assert_eq!(e.workspace, ws);
                reorder.offer(e.event_seq, e.payload, now);
            }
            Ok(Some(Delivery::Disconnected)) => disconnected = true,
            Ok(Some(Delivery::Lost(reason))) => {
                assert_eq!(reason, LossReason::Reconnected);
                lost = true;
                reorder.connection_lost();
            }
            Ok(None) => panic!("the subscription ended"),
            Err(_) => {}
        }
        delivered.extend(reorder.ready());
        if let Some(catch_up) = reorder.take_catch_up(now) {
            let head = log_head.load(Ordering::SeqCst);
            let through = catch_up.through.map_or(head, |t| t.min(head));
            let read: Vec<(u64, Bytes)> =
                (catch_up.after + 1..=through).map(|seq| (seq, event(ws, seq).payload)).collect();
            from_log += read.len();
            reorder.fill(catch_up, read, true, now);
            delivered.extend(reorder.ready());
        }
    }
    let server = restart.await.unwrap();
    let only_in_log = publishing.await.unwrap();
    let seqs: Vec<u64> = delivered.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "every event once, in order");
    for (seq, payload) in &delivered {
        assert_eq!(payload, &event(ws, *seq).payload);
    }
    assert!(disconnected, "the subscriber was told the connection dropped");
    assert!(lost, "the subscriber was told events may be lost");
    let stats = subscriber.stats();
    assert!(stats.reconnects >= 1 && stats.losses >= 1, "{stats:?}");
    assert!(subscriber.is_connected(), "reconnected after the restart");
    assert!(only_in_log > 0, "events were committed while NATS was down");
    assert!(from_log >= only_in_log, "the log filled what the bus never carried");
    eprintln!(
        "restart: {total} events, {only_in_log} published while NATS was down (not on the bus), {} over \
         the bus, {from_log} read from the log, {} duplicates dropped",
        stats.received,
        reorder.duplicates()
    );
    drop(server);
}
