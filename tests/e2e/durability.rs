//! Nothing acknowledged is lost: across a graceful restart, and across kill -9 in
//! the middle of a stream of posts.

use std::time::Duration;

use confab_client::ServerFrame;
use confab_tests::TestServer;

crate::cases!(restart_keeps_everything, kill_during_ingest_loses_no_acknowledged_message);

async fn restart_keeps_everything() {
    let mut server = TestServer::start();
    let (ada, ada_s) = server.user("ada").await;
    let (bob, _) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    let private = ada.create_channel(ws, "plans", true).await.unwrap();
    let root = ada.post(general, "before the restart").await.unwrap();
    bob.react(root.id, "🎉").await.unwrap();
    ada.post(private.id, "private before").await.unwrap();
    let event_seq_before = ada.connect(&[]).await.unwrap().workspaces[0].event_seq;

    server.restart();
    let ada = server.client().with_token(ada.token().unwrap());
    let bob = server.client().with_token(bob.token().unwrap());
    assert_eq!(ada.me().await.unwrap().id, ada_s.user.id, "sessions survive a restart");
    let history = bob.history(general, None, None, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].reactions[0].emoji, "🎉");
    assert_eq!(ada.history(private.id, None, None, 10).await.unwrap()[0].text, "private before");
    // Sequence numbers continue where they stopped.
    assert_eq!(ada.post(general, "after").await.unwrap().seq, 2);
    let live = ada.connect(&[]).await.unwrap();
    assert!(live.workspaces[0].event_seq > event_seq_before);
}

/// Posts over several WebSockets, kills the server at a random moment, restarts it
/// and checks that every acknowledged message is there once, in order, with no gap
/// in `seq`. Repeated a few times here; `confab-bench crash` runs it at scale.
async fn kill_during_ingest_loses_no_acknowledged_message() {
    let mut server = TestServer::start_with(&[
        ("CONFAB_LIMITS_MESSAGES_PER_SECOND", "1000000"),
        ("CONFAB_LIMITS_MESSAGE_BURST", "1000000"),
        ("CONFAB_LIMITS_TEXT_BYTES_PER_SECOND", "1000000000"),
        ("CONFAB_LIMITS_TEXT_BURST_BYTES", "1000000000"),
    ]);
    let (ada, _) = server.user("ada").await;
    let (_, general) = confab_tests::workspace(&ada, "W").await;
    let token = ada.token().unwrap().to_string();
    let mut acknowledged_total = 0;
    for round in 0..3u64 {
        let url = server.url.clone();
        let mut senders = Vec::new();
        for s in 0..3 {
            let client = confab_client::Client::new(&url).with_token(&token);
            senders.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                let Ok(mut live) = client.connect(&[]).await else { return acked };
                for i in 0.. {
                    let text = format!("r{round}-s{s}-{i}");
                    if live.send_message(&text, general, &text).await.is_err() {
                        break;
                    }
                    match live
                        .wait_for(Duration::from_secs(5), "ack", |f| {
                            matches!(
                                f,
                                ServerFrame::Ack { .. }
                                    | ServerFrame::Error { .. }
                                    | ServerFrame::Closed { .. }
                            )
                        })
                        .await
                    {
                        Ok(ServerFrame::Ack { message, .. }) => acked.push((message.seq, message.text)),
                        _ => break,
                    }
                }
                acked
            }));
        }
        // Kill at a pseudo-random moment (seeded by the round) while they post.
        tokio::time::sleep(Duration::from_millis(150 + (round * 137) % 300)).await;
        server.kill();
        let mut acked = Vec::new();
        for s in senders {
            acked.extend(s.await.unwrap());
        }
        assert!(!acked.is_empty(), "round {round}: some posts were acknowledged before the kill");
        server.restart();
        let client = server.client().with_token(&token);
        let mut stored = Vec::new();
        let mut after = 0;
        loop {
            let page = client.history(general, None, Some(after), 200).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.seq;
            stored.extend(page.into_iter().map(|m| (m.seq, m.text)));
        }
        for (i, (seq, _)) in stored.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1, "seq has no gap");
        }
        let texts: std::collections::HashMap<&String, u64> = stored.iter().map(|(s, t)| (t, *s)).collect();
        assert_eq!(texts.len(), stored.len(), "no message is stored twice");
        for (seq, text) in &acked {
            assert_eq!(texts.get(text), Some(seq), "acknowledged {text} at seq {seq} survived the crash");
        }
        acknowledged_total += acked.len();
    }
    assert!(acknowledged_total > 30, "the test exercised real load: {acknowledged_total} acks");
}
