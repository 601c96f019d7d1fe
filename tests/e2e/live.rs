//! The WebSocket contract: resume with nothing lost or duplicated, resync past the
//! log's retention, a stuck client closed with the resume code without slowing the
//! others, presence, and events filtered by what the receiver may read.

use std::collections::BTreeSet;
use std::time::Duration;

use confab_client::{ClientError, ServerFrame};
use confab_core::{Event, Presence};
use confab_tests::TestServer;
use serde_json::json;

crate::cases!(
    resume_after_a_dropped_connection_loses_and_repeats_nothing,
    resuming_from_before_the_retained_log_asks_for_resync,
    a_stuck_client_is_closed_with_the_resume_code_and_others_are_served,
    presence_follows_connections,
    private_channel_events_reach_only_members,
);

const WAIT: Duration = Duration::from_secs(10);

/// Collects message texts from `message.created` events until `n` are seen.
async fn collect_texts(live: &mut confab_client::Live, n: usize) -> (Vec<String>, u64) {
    let mut texts = Vec::new();
    let mut last_seq = 0;
    while texts.len() < n {
        let (seq, event) = live.wait_event(WAIT, "message.created").await.unwrap();
        assert!(seq > last_seq, "event_seq must increase: {seq} after {last_seq}");
        last_seq = seq;
        if let Event::MessageCreated { message } = event {
            texts.push(message.text);
        }
    }
    (texts, last_seq)
}

async fn resume_after_a_dropped_connection_loses_and_repeats_nothing() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (bob, _) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;

    let mut bob_live = bob.connect(&[]).await.unwrap();
    for i in 0..5 {
        ada.post(general, &format!("m{i}")).await.unwrap();
    }
    let (seen, last) = collect_texts(&mut bob_live, 5).await;
    assert_eq!(seen, ["m0", "m1", "m2", "m3", "m4"]);
    bob_live.close().await.unwrap();

    // Messages posted while Bob is away, then Bob resumes from his last event_seq.
    for i in 5..12 {
        ada.post(general, &format!("m{i}")).await.unwrap();
    }
    let mut bob_live = bob.connect(&[(ws, last)]).await.unwrap();
    // A live message right after the reconnect must come after the replay, once.
    ada.post(general, "m12").await.unwrap();
    let (seen, _) = collect_texts(&mut bob_live, 8).await;
    assert_eq!(seen, ["m5", "m6", "m7", "m8", "m9", "m10", "m11", "m12"]);
    // Nothing else is pending: a ping comes back before any further message event.
    bob_live.send_json(&json!({"type": "ping", "req": 1})).await.unwrap();
    loop {
        match bob_live.next(WAIT).await.unwrap() {
            ServerFrame::Pong { .. } => break,
            ServerFrame::Event { event: Event::MessageCreated { message }, .. } => {
                panic!("duplicate {}", message.text)
            }
            _ => {}
        }
    }
}

async fn resuming_from_before_the_retained_log_asks_for_resync() {
    let server = TestServer::start_with(&[("CONFAB_EVENTS_RETENTION", "10")]);
    let (ada, _) = server.user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    for i in 0..40 {
        ada.post(general, &format!("m{i}")).await.unwrap();
    }
    let mut live = ada.connect(&[(ws, 1)]).await.unwrap();
    let frame = live.wait_for(WAIT, "resync", |f| matches!(f, ServerFrame::Resync { .. })).await.unwrap();
    assert_eq!(frame, ServerFrame::Resync { workspace: ws });
    // Resuming from a recent point still replays.
    let newest = live.workspaces[0].event_seq;
    let mut live = ada.connect(&[(ws, newest - 2)]).await.unwrap();
    let (seq, _) = live.wait_event(WAIT, "message.created").await.unwrap();
    assert_eq!(seq, newest - 1, "the replay starts right after the resume point");
}

async fn a_stuck_client_is_closed_with_the_resume_code_and_others_are_served() {
    let server = TestServer::start_with(&[
        ("CONFAB_WEBSOCKET_QUEUE_FRAMES", "16"),
        ("CONFAB_LIMITS_MESSAGES_PER_SECOND", "100000"),
        ("CONFAB_LIMITS_MESSAGE_BURST", "100000"),
        ("CONFAB_LIMITS_TEXT_BYTES_PER_SECOND", "1000000000"),
        ("CONFAB_LIMITS_TEXT_BURST_BYTES", "1000000000"),
        ("CONFAB_WEBSOCKET_CLOSE_TIMEOUT_SECS", "60"),
    ]);
    let (ada, _) = server.user("ada").await;
    let (bob, _) = server.user("bob").await;
    let (cy, _) = server.user("cy").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    for user in [&bob, &cy] {
        confab_tests::join(&ada, ws, user).await;
    }
    // Bob connects and never reads; Cy reads everything.
    let mut stuck = bob.connect(&[]).await.unwrap();
    let mut reader = cy.connect(&[]).await.unwrap();
    let big = "x".repeat(30_000);
    // Enough data to fill the kernel's socket buffers on both sides of loopback.
    let total = 600;
    let cy_reads = tokio::spawn(async move {
        let (texts, _) = collect_texts(&mut reader, total).await;
        texts.len()
    });
    for _ in 0..total {
        ada.post(general, &big).await.unwrap();
    }
    assert_eq!(cy_reads.await.unwrap(), total, "the reading client got every message");
    // Bob's socket buffers filled, his queue overflowed, and the server closed him
    // with the resume code (he sees it once he reads again).
    let mut closed_with = None;
    for _ in 0..(total + 10) {
        match stuck.next(WAIT).await {
            Ok(ServerFrame::Closed { code, .. }) => {
                closed_with = code;
                break;
            }
            Ok(_) => continue,
            Err(ClientError::WebSocket(_)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(closed_with, Some(4000), "a lagging client is told to resume");
}

async fn presence_follows_connections() {
    let server = TestServer::start();
    let (ada, ada_s) = server.user("ada").await;
    let (bob, _) = server.user("bob").await;
    let ws = ada.create_workspace("W").await.unwrap().workspace.id;
    confab_tests::join(&ada, ws, &bob).await;
    // Presence goes to the people one has DMs with.
    ada.open_dm(ws, &[bob.me().await.unwrap().id]).await.unwrap();
    let mut bob_live = bob.connect(&[]).await.unwrap();
    let ada_id = ada_s.user.id;
    let next_of_ada = async |live: &mut confab_client::Live| -> Presence {
        let frame = live
            .wait_for(WAIT, "Ada's presence", |f| {
                matches!(f, ServerFrame::Event { event: Event::Presence { user, .. }, .. } if *user == ada_id)
            })
            .await
            .unwrap();
        match frame {
            ServerFrame::Event { event: Event::Presence { status, .. }, .. } => status,
            _ => unreachable!(),
        }
    };
    let ada_live = ada.connect(&[]).await.unwrap();
    assert_eq!(next_of_ada(&mut bob_live).await, Presence::Online);
    let mut second = ada.connect(&[]).await.unwrap();
    second.send_json(&json!({"type": "presence", "status": "away"})).await.unwrap();
    ada_live.close().await.unwrap();
    // One connection left, and it is away.
    assert_eq!(next_of_ada(&mut bob_live).await, Presence::Away);
    second.close().await.unwrap();
    assert_eq!(next_of_ada(&mut bob_live).await, Presence::Offline);
}

async fn private_channel_events_reach_only_members() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (bob, bob_s) = server.user("bob").await;
    let (cy, _) = server.user("cy").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    for user in [&bob, &cy] {
        confab_tests::join(&ada, ws, user).await;
    }
    let secret = ada.create_channel(ws, "secret", true).await.unwrap();
    ada.add_member(secret.id, bob_s.user.id).await.unwrap();
    let mut cy_live = cy.connect(&[(ws, 0)]).await.unwrap();
    let mut bob_live = bob.connect(&[]).await.unwrap();
    ada.post(secret.id, "the secret plan").await.unwrap();
    ada.post(general, "public note").await.unwrap();
    let (_, event) = bob_live.wait_event(WAIT, "message.created").await.unwrap();
    assert!(matches!(event, Event::MessageCreated { message } if message.text == "the secret plan"));
    // Cy replays the whole log and then gets the live public message: nothing of
    // #secret, not even its creation.
    let mut kinds = BTreeSet::new();
    loop {
        let frame = cy_live.next(WAIT).await.unwrap();
        let text = format!("{frame:?}");
        assert!(!text.contains("secret"), "leaked to a non-member: {text}");
        if let ServerFrame::Event { event, .. } = frame {
            kinds.insert(event.kind());
            if matches!(&event, Event::MessageCreated { message } if message.text == "public note") {
                break;
            }
        }
    }
    assert!(kinds.contains("channel.created"), "Cy saw #general's creation: {kinds:?}");
}
