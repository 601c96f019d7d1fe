//! Nothing acknowledged is lost: across a graceful restart, and across kill -9 in
//! the middle of a stream of posts or of uploads.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use confab_client::ServerFrame;
use confab_tests::TestServer;
use sha2::Digest;
use tokio::io::AsyncWriteExt;

crate::cases!(
    restart_keeps_everything,
    kill_during_ingest_loses_no_acknowledged_message,
    kill_during_uploads_keeps_every_acknowledged_file_and_no_partial_one,
);

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

/// Acknowledgements a round of [`kill_during_ingest_loses_no_acknowledged_message`]
/// waits for before it picks its moment to kill.
const ACKS_BEFORE_THE_KILL: usize = 12;

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
    for round in 0..3u64 {
        let url = server.url.clone();
        let mut senders = Vec::new();
        // Acknowledgements so far this round: the kill waits for the first.
        let (acks_tx, mut acks) = tokio::sync::watch::channel(0usize);
        for s in 0..3 {
            let client = confab_client::Client::new(&url).with_token(&token);
            let acks_tx = acks_tx.clone();
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
                        Ok(ServerFrame::Ack { message, .. }) => {
                            acked.push((message.seq, message.text));
                            acks_tx.send_modify(|n| *n += 1);
                        }
                        _ => break,
                    }
                }
                acked
            }));
        }
        // Kill at a pseudo-random moment (seeded by the round) once they post: a
        // loaded machine may take a while for the first acknowledgements.
        tokio::time::timeout(Duration::from_secs(60), acks.wait_for(|n| *n >= ACKS_BEFORE_THE_KILL))
            .await
            .expect("acknowledgements within a minute")
            .expect("a sender is running");
        tokio::time::sleep(Duration::from_millis((round * 137) % 300)).await;
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
    }
}

/// The bytes of small upload `i` of uploader `u`: 256 KiB, distinct for every (u, i).
fn upload_content(u: u8, i: u32) -> Vec<u8> {
    let mut x = (u64::from(u) << 32 | u64::from(i)).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..256 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Every file directly in `dir` and one level below it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(std::fs::read_dir(&path).into_iter().flatten().flatten().map(|e| e.path()));
        } else {
            found.push(path);
        }
    }
    found
}

/// Starts an upload of 64 MiB over a raw connection and sends its body until the
/// server has staged at least `staged` bytes of it; the connection is returned open,
/// the body unfinished.
async fn start_large_upload(
    server: &TestServer,
    token: &str,
    channel: confab_core::ChannelId,
    staged: u64,
) -> tokio::net::TcpStream {
    const SIZE: usize = 64 << 20;
    let addr = server.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let boundary = "crashboundary";
    let part = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n"
    );
    let end = format!("\r\n--{boundary}--\r\n");
    let head = format!(
        "POST /api/v1/channels/{channel}/files HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n{part}",
        part.len() + SIZE + end.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let tmp = server.files_dir().join("tmp");
    let largest_staged =
        || files_under(&tmp).iter().filter_map(|p| p.metadata().ok()).map(|m| m.len()).max().unwrap_or(0);
    let block = vec![0x5a_u8; 1 << 20];
    for _ in 0..SIZE / block.len() - 1 {
        stream.write_all(&block).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_millis(200);
        while largest_staged() < staged && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if largest_staged() >= staged {
            return stream;
        }
    }
    panic!("the server never staged {staged} bytes of the upload");
}

/// Uploads files (kill -9 in the middle of a large upload's body and of a stream of
/// small ones), restarts, and checks: every acknowledged file downloads byte for byte,
/// the cut-off upload left nothing (no staging file, no message), and every content
/// on disk is complete and named by a file (any placed but never committed is swept).
async fn kill_during_uploads_keeps_every_acknowledged_file_and_no_partial_one() {
    let mut server = TestServer::start_with(&[
        ("CONFAB_FILES_ORPHAN_TTL_SECS", "0"),
        ("CONFAB_LIMITS_WRITES_PER_SECOND", "100000"),
        ("CONFAB_LIMITS_WRITE_BURST", "100000"),
    ]);
    let (ada, _) = server.user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    let token = ada.token().unwrap().to_string();
    let acks = Arc::new(AtomicUsize::new(0));
    let mut uploaders = Vec::new();
    for u in 0..3u8 {
        let client = confab_client::Client::new(&server.url).with_token(&token);
        let acks = acks.clone();
        uploaders.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                let content = upload_content(u, i);
                let Ok(posted) = client.upload(general, &format!("u{u}-{i}.bin"), &content, "").await else {
                    break;
                };
                acked.push((posted.file.id, content));
                acks.fetch_add(1, Ordering::Relaxed);
            }
            acked
        }));
    }
    let big = start_large_upload(&server, &token, general, 8 << 20).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acks.load(Ordering::Relaxed) < 6 {
        assert!(std::time::Instant::now() < deadline, "uploads are acknowledged before the kill");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    drop(big);
    let mut acked = Vec::new();
    for uploader in uploaders {
        acked.extend(uploader.await.unwrap());
    }
    let tmp = server.files_dir().join("tmp");
    assert!(
        files_under(&tmp).iter().any(|p| p.metadata().is_ok_and(|m| m.len() >= 8 << 20)),
        "the kill left the large upload half-written"
    );

    server.restart();
    assert!(files_under(&tmp).is_empty(), "no staging file survives a restart");
    let ada = server.client().with_token(&token);
    for (id, content) in &acked {
        let (_, bytes) = ada.download(*id, false).await.unwrap();
        assert!(bytes == *content, "acknowledged file {id} is byte-identical");
    }
    // The contents that files name (acknowledged, or committed just before the kill).
    let mut named = BTreeSet::new();
    let mut after = 0;
    loop {
        let page = ada.history(general, None, Some(after), 200).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for id in page.iter().flat_map(|m| m.files.clone()) {
            let (headers, bytes) = ada.download(id, false).await.unwrap();
            assert_ne!(bytes.len(), 64 << 20, "the cut-off upload was never posted");
            named.insert(headers["etag"].to_str().unwrap().trim_matches('"').to_string());
        }
    }
    assert!(named.len() >= acked.len(), "{} named, {} acknowledged", named.len(), acked.len());
    // On disk: exactly those, each complete (its bytes hash to its name), once the
    // start-up sweep has removed any content placed but never committed.
    let contents = server.files_dir().join(ws.to_string());
    let stored = || -> BTreeSet<String> {
        files_under(&contents).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stored() != named && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored(), named, "every stored content is named by a file, and every named one is stored");
    for path in files_under(&contents) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(sha256_hex(&std::fs::read(&path).unwrap()), name, "a stored content is complete");
    }
}
