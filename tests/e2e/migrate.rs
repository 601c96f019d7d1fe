//! `confab migrate --to postgres://…`: a node run on sled moves to PostgreSQL. Its
//! store is copied into an empty database, and a node on PostgreSQL with the same
//! data dir serves everything as before: history, unread counts, search, files,
//! sign-in with the old password and old sessions, and a resumed event stream that
//! goes on at the next `event_seq`. Runs in the PostgreSQL mode, which has a
//! PostgreSQL server to copy into.

use std::time::{Duration, Instant};

use confab_client::{Client, PostOptions};
use confab_core::{ChannelId, Event, MessageId, WorkspaceId};
use confab_tests::TestServer;
use reqwest::Method;
use serde_json::Value;

crate::cases!(a_sled_node_moves_to_postgresql_with_its_data_dir);

const WAIT: Duration = Duration::from_secs(10);

/// The answers of `client` to `paths`, each as JSON.
async fn answers(client: &Client, paths: &[String]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for path in paths {
        let (status, body) = client.raw(Method::GET, path, None).await.unwrap();
        assert!(status.is_success(), "GET {path}: {status} {body}");
        out.push((path.clone(), body));
    }
    out
}

/// The ids of the messages a search finds, once it finds `expected` of them (the
/// index commits in the background).
async fn search_until(client: &Client, ws: WorkspaceId, q: &str, expected: usize) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let path = format!("/workspaces/{ws}/search?q={q}");
        let (status, found) = client.raw(Method::GET, &path, None).await.unwrap();
        let hits: Vec<String> = found["hits"]
            .as_array()
            .map(|hits| hits.iter().filter_map(|h| h["message"]["id"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        if status.is_success() && hits.len() == expected {
            return hits;
        }
        assert!(Instant::now() < deadline, "search {q:?} never found {expected}: {status} {found}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the migration must keep, read through the API as Ada and as Bob.
fn paths(ws: WorkspaceId, channels: &[ChannelId], root: MessageId) -> Vec<String> {
    let mut paths = vec![
        format!("/workspaces/{ws}/channels"),
        format!("/workspaces/{ws}/members"),
        format!("/workspaces/{ws}/threads?limit=50&offset=0"),
        format!("/workspaces/{ws}/activity?limit=50"),
        format!("/workspaces/{ws}/saved?limit=50&offset=0"),
        format!("/messages/{root}/thread"),
    ];
    paths.extend(channels.iter().map(|ch| format!("/channels/{ch}/messages?limit=100")));
    paths
}

async fn a_sled_node_moves_to_postgresql_with_its_data_dir() {
    let cluster = confab_tests::postgres().expect("the PostgreSQL mode has its server");
    let mut server = TestServer::start_on_sled(&[]);
    let (ada, ada_session) = server.user("ada").await;
    let (bob, bob_session) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "Acme").await;
    confab_tests::join(&ada, ws, &bob).await;
    let design = ada.create_channel(ws, "design", false).await.unwrap().id;
    bob.join(design).await.unwrap();
    let secret = ada.create_channel(ws, "secret", true).await.unwrap().id;
    let dm = ada.open_dm(ws, &[bob_session.user.id]).await.unwrap().id;

    let root = ada.post(general, "the quarterly zebra plan").await.unwrap();
    let reply = PostOptions { thread_root: Some(root.id), ..Default::default() };
    bob.post_with(general, "@ada the zebra looks good", reply.clone()).await.unwrap();
    let typo = ada.post_with(general, "agreed, shiping it", reply).await.unwrap();
    ada.edit(typo.id, "agreed, shipping it").await.unwrap();
    ada.react(root.id, "🦓").await.unwrap();
    bob.react(root.id, "👍").await.unwrap();
    let doomed = bob.post(general, "never mind").await.unwrap();
    bob.delete(doomed.id).await.unwrap();
    bob.set_saved(root.id, true).await.unwrap();
    let upload = ada.upload(design, "mockup.txt", b"the zebra mockup\n", "first mockup").await.unwrap();
    ada.post(design, "@bob have a look").await.unwrap();
    ada.post(secret, "ada's own notes").await.unwrap();
    bob.post(dm, "lunch?").await.unwrap();
    bob.mark_read(general, 1).await.unwrap();

    let zebra = search_until(&ada, ws, "zebra", 3).await;
    let channels = [general, design, secret, dm];
    let (ada_before, bob_before) = (
        answers(&ada, &paths(ws, &channels, root.id)).await,
        answers(&bob, &paths(ws, &channels[..2], root.id)).await,
    );

    // A data dir without a sled store is refused, rather than copied as an empty one.
    let url = cluster.database();
    let empty = tempfile::tempdir().unwrap();
    let nothing =
        server.command().args(["migrate", "--to", &url, "--data-dir"]).arg(empty.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&nothing.stderr);
    assert!(!nothing.status.success() && stderr.contains("no sled store"), "{stderr}");

    // A running node's data dir is refused: sled's lock.
    let refused = server.cli(&["migrate", "--to", &url]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("serving this data dir"), "{stderr}");

    server.stop();
    let newest = server.open_store().event_bounds(ws).unwrap().expect("an event log").1;
    let migrated = server.cli(&["migrate", "--to", &url]);
    let stderr = String::from_utf8_lossy(&migrated.stderr);
    assert!(migrated.status.success(), "confab migrate failed: {stderr}");
    let report: Value = serde_json::from_slice(&migrated.stdout).expect("the report as JSON");
    let kinds = report["records"].as_array().expect("counts per kind");
    for kind in kinds {
        assert_eq!(kind["exported"], kind["in_postgres"], "{kind}");
    }
    let exported = |name: &str| kinds.iter().find(|k| k["kind"] == name).map(|k| k["exported"].clone());
    // Every message, the deleted one's husk included.
    assert_eq!(exported("message"), Some(8.into()), "{report}");
    assert_eq!(exported("user"), Some(2.into()), "{report}");
    assert!(!report["database"].as_str().unwrap().is_empty());

    // A database that holds records is refused: the copy never merges.
    let again = server.cli(&["migrate", "--to", &url]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && stderr.contains("already holds records"), "{stderr}");

    // The node on PostgreSQL, with the same data dir (files, index, key).
    server.use_database(&url);
    server.restart();
    let ada = server.client().with_token(&ada_session.token);
    let bob = server.client().with_token(&bob_session.token);
    assert_eq!(answers(&ada, &paths(ws, &channels, root.id)).await, ada_before);
    assert_eq!(answers(&bob, &paths(ws, &channels[..2], root.id)).await, bob_before);
    assert_eq!(search_until(&ada, ws, "zebra", 3).await, zebra);
    let (_, content) = bob.download(upload.file.id, false).await.unwrap();
    assert_eq!(content, b"the zebra mockup\n");
    server.client().login("ada@example.com", "correct horse battery").await.expect("the old password");
    assert!(server.client().login("ada@example.com", "wrong horse").await.is_err());

    // While this node serves the database, another copy into it is refused.
    let busy = server.cli(&["migrate", "--to", &url]);
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert!(!busy.status.success() && stderr.contains("another confab node is serving"), "{stderr}");

    // Resuming from the newest event on sled goes on at the next event_seq.
    let mut live = bob.connect(&[(ws, newest)]).await.unwrap();
    let posted = ada.post(general, "the okapi follows").await.unwrap();
    let (event_seq, event) = live.wait_event(WAIT, "message.created").await.unwrap();
    assert_eq!(event_seq, newest + 1);
    assert!(matches!(event, Event::MessageCreated { message } if message.id == posted.id));
    assert_eq!(posted.seq, root.seq + 4, "general's seq goes on too");
    search_until(&ada, ws, "okapi", 1).await;
}
