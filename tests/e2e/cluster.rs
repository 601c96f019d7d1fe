//! The store on PostgreSQL (`[cluster] store`), as a node and its operator see it:
//! `/healthz` reports the store in both modes; in the PostgreSQL mode, a second node
//! on the same database is refused, `/healthz` turns 503 when the database stops
//! answering, and the sled-only commands say what to use instead. The rest of the
//! suite runs unchanged in both modes (`CONFAB_E2E_STORE`, see `confab_tests`).

use std::process::Stdio;
use std::time::{Duration, Instant};

use confab_client::{Client, PostOptions, ServerFrame};
use confab_core::{ChannelId, Event, Presence, UserId, WorkspaceId};
use confab_tests::{StoreMode, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

crate::cases!(
    healthz_reports_the_store,
    a_second_node_on_one_database_is_refused,
    healthz_answers_503_when_the_database_stops_answering,
    sled_only_commands_point_to_postgresql_tools,
    users_on_three_nodes_chat_live_in_one_order,
    a_write_through_another_node_is_sequenced_by_the_lease_holder,
    killing_the_lease_holder_under_load_loses_no_acknowledged_message,
    events_written_while_nats_is_down_reach_the_other_node_once_it_is_back,
    resuming_on_another_node_from_before_the_retained_log_asks_for_resync,
    typing_and_presence_reach_users_on_other_nodes,
    log_in_failures_count_on_every_node,
    sends_through_another_node_are_stored_in_send_order,
    resuming_on_a_node_that_has_not_heard_everything_sends_nothing_twice,
    slack_api_writes_through_another_node_are_sequenced_by_the_lease_holder,
    erasing_an_account_through_another_node_erases_it_where_each_workspace_is_sequenced,
    an_operator_command_beside_the_cluster_publishes_what_it_wrote,
    files_uploaded_through_one_node_are_served_by_every_node_until_deleted,
    a_node_reports_its_bus_and_leases,
    a_node_reports_how_late_the_bus_brings_events,
    a_withdrawal_on_one_node_stops_every_node_serving_the_models_it_lapsed,
    one_node_at_a_time_runs_the_training_schedule,
);

/// The tests that need the PostgreSQL store, which the sled mode skips.
pub const POSTGRES_ONLY: &[&str] = &[
    "a_second_node_on_one_database_is_refused",
    "healthz_answers_503_when_the_database_stops_answering",
    "sled_only_commands_point_to_postgresql_tools",
    "users_on_three_nodes_chat_live_in_one_order",
    "a_write_through_another_node_is_sequenced_by_the_lease_holder",
    "killing_the_lease_holder_under_load_loses_no_acknowledged_message",
    "events_written_while_nats_is_down_reach_the_other_node_once_it_is_back",
    "resuming_on_another_node_from_before_the_retained_log_asks_for_resync",
    "typing_and_presence_reach_users_on_other_nodes",
    "log_in_failures_count_on_every_node",
    "sends_through_another_node_are_stored_in_send_order",
    "resuming_on_a_node_that_has_not_heard_everything_sends_nothing_twice",
    "slack_api_writes_through_another_node_are_sequenced_by_the_lease_holder",
    "erasing_an_account_through_another_node_erases_it_where_each_workspace_is_sequenced",
    "an_operator_command_beside_the_cluster_publishes_what_it_wrote",
    "files_uploaded_through_one_node_are_served_by_every_node_until_deleted",
    "a_node_reports_its_bus_and_leases",
    "a_node_reports_how_late_the_bus_brings_events",
    "a_withdrawal_on_one_node_stops_every_node_serving_the_models_it_lapsed",
    "one_node_at_a_time_runs_the_training_schedule",
];

async fn health(server: &TestServer, path: &str) -> (StatusCode, Value) {
    let answer = reqwest::get(format!("{}{path}", server.url)).await.expect("GET /healthz");
    let status = answer.status();
    (status, answer.json().await.expect("a JSON body"))
}

async fn healthz_reports_the_store() {
    let server = TestServer::start();
    let store = match confab_tests::store_mode() {
        StoreMode::Sled => "sled",
        StoreMode::Postgres => "postgres",
    };
    let healthy = json!({"status": "ok", "store": store, "store_reads": true, "writes_stopped": false});
    for path in ["/healthz", "/api/v1/healthz"] {
        let answer = health(&server, path).await;
        if confab_tests::bus_mode() {
            assert_eq!(answer.1["bus"]["connected"], true, "a node reports its bus: {}", answer.1);
        }
        assert_eq!(without_bus(answer), (StatusCode::OK, healthy.clone()), "{path}");
    }
}

/// A `/healthz` answer without what a node of a cluster adds about its bus (in the
/// bus mode), which `a_node_reports_its_bus_and_leases` checks.
fn without_bus((status, mut body): (StatusCode, Value)) -> (StatusCode, Value) {
    if let Some(body) = body.as_object_mut() {
        body.remove("bus");
    }
    (status, body)
}

/// `/healthz`'s answer once `ready` holds for it, or after ten seconds.
async fn health_until(
    server: &TestServer,
    ready: impl Fn(&(StatusCode, Value)) -> bool,
) -> (StatusCode, Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = health(server, "/healthz").await;
        if ready(&answer) || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `confab ARGS` with `server`'s settings (and so its database) on another data
/// dir, and returns its output once it exits: it must, within a minute.
fn run_beside(server: &TestServer, args: &[&str]) -> std::process::Output {
    let other = tempfile::tempdir().unwrap();
    let mut child = server
        .command()
        .args(args)
        .arg("--data-dir")
        .arg(other.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("confab {args:?} went on running on a database another node serves");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Nodes do not coordinate yet (no bus), so a second one on the database would
/// assign the same `seq`s as the first: it is refused at start, and so is an offline
/// command from another data dir, while the first goes on serving.
async fn a_second_node_on_one_database_is_refused() {
    if confab_tests::bus_mode() {
        // Every server is a node of a cluster: a second node is welcome (the tests
        // below run several).
        return;
    }
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (_, general) = confab_tests::workspace(&ada, "W").await;

    for args in [&["serve", "--listen", "127.0.0.1:0"][..], &["user", "list"][..]] {
        let out = run_beside(&server, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "confab {args:?} started beside a serving node: {stderr}");
        assert!(
            stderr.contains("another confab node is serving this database")
                && stderr.contains("[cluster] bus")
                && stderr.contains("backend pid"),
            "confab {args:?}: {stderr}"
        );
    }
    let posted = ada.post(general, "still here").await.expect("the first node still serves");
    assert_eq!(posted.seq, 1);
}

/// `/healthz` reads the store: when the database stops answering it turns 503 with
/// the same body saying which part failed, and stays 503 once the database is back,
/// since a lost connection may have lost unflushed writes (fail-stop: restart).
async fn healthz_answers_503_when_the_database_stops_answering() {
    let mut server = TestServer::start();
    let url = server.store_url().expect("a PostgreSQL store").to_string();
    let database = url.rsplit('/').next().unwrap().to_string();
    let sql = |statements: String| {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let cluster = confab_tests::postgres().expect("the PostgreSQL mode");
                    cluster.admin("postgres").batch_execute(&statements).expect("administer the database");
                })
                .join()
                .unwrap()
        })
    };
    assert_eq!(health(&server, "/healthz").await.0, StatusCode::OK);

    sql(format!(
        "ALTER DATABASE {database} ALLOW_CONNECTIONS false;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
    ));
    // The backends end a moment after they are told to, and one read of the store
    // answers the checks of the next second: wait for the answer to change.
    let down =
        json!({"status": "unavailable", "store": "postgres", "store_reads": false, "writes_stopped": true});
    let answer = health_until(&server, |(_, body)| body["store_reads"] == false).await;
    assert_eq!(without_bus(answer), (StatusCode::SERVICE_UNAVAILABLE, down));

    sql(format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"));
    let stopped =
        json!({"status": "unavailable", "store": "postgres", "store_reads": true, "writes_stopped": true});
    let answer = health_until(&server, |(_, body)| body["store_reads"] == true).await;
    assert_eq!(without_bus(answer), (StatusCode::SERVICE_UNAVAILABLE, stopped));

    server.restart();
    assert_eq!(health(&server, "/healthz").await.0, StatusCode::OK, "a restart recovers");
}

/// `confab backup` and `confab restore` copy a sled store, and `confab demo` seeds
/// one: on PostgreSQL each says what to do instead, before touching anything.
async fn sled_only_commands_point_to_postgresql_tools() {
    let server = TestServer::start();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("backup");
    let out = out.to_str().unwrap();
    for (args, says) in [
        (&["backup", "--out", out][..], "pg_dump"),
        (&["restore", out][..], "pg_restore"),
        (&["demo", "--listen", "127.0.0.1:0"][..], "without a [cluster] section"),
    ] {
        let done = run_beside(&server, args);
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert!(!done.status.success() && stderr.contains(says), "confab {args:?}: {stderr}");
    }
    assert!(!std::path::Path::new(out).exists(), "nothing was written");

    // A backup asked of the running node itself (over its admin socket, as by an
    // operator whose settings lack [cluster]) gets the same answer, not `internal`.
    let request = json!({"command": "backup", "out": out});
    let stream = tokio::net::UnixStream::connect(server.data_dir().join("admin.sock")).await.unwrap();
    let (read, mut write) = stream.into_split();
    tokio::io::AsyncWriteExt::write_all(&mut write, format!("{request}\n").as_bytes()).await.unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(read));
    let answer: Value = loop {
        let line = lines.next_line().await.unwrap().expect("an answer");
        let line: Value = serde_json::from_str(&line).unwrap();
        if line.get("progress").is_none() {
            break line;
        }
    };
    assert_eq!(answer["error"]["code"], "invalid_request", "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("pg_dump"), "{answer}");
    assert!(!std::path::Path::new(out).exists(), "nothing was written");
}

/// How long a node's write lease lasts in these tests: a killed holder's
/// workspaces are taken over after this.
const LEASE_TTL_MS: &str = "1500";

/// `n` nodes of one cluster: one database, one NATS (the test binary's), a cluster
/// name of their own on it. `None` when the run skips NATS.
fn nodes(n: usize) -> Option<Vec<TestServer>> {
    nodes_with(n, &[])
}

/// [`nodes`] with more settings, the same on every node.
fn nodes_with(n: usize, settings: &[(&str, &str)]) -> Option<Vec<TestServer>> {
    let nats = confab_test_support::nats::shared()?;
    Some(nodes_on(nats, n, settings))
}

/// `n` nodes of one cluster on `nats`.
fn nodes_on(
    nats: &confab_test_support::nats::TestNats,
    n: usize,
    settings: &[(&str, &str)],
) -> Vec<TestServer> {
    nodes_on_with(nats, n, settings, |_| Vec::new())
}

/// [`nodes_on`], with settings of each node's own too (`per_node(i)` for the i-th).
fn nodes_on_with(
    nats: &confab_test_support::nats::TestNats,
    n: usize,
    settings: &[(&str, &str)],
    per_node: impl Fn(usize) -> Vec<(String, String)>,
) -> Vec<TestServer> {
    let cluster = format!("t{}", ulid_suffix());
    let env = |node: String| -> Vec<(String, String)> {
        let i = usize::from(node.as_bytes()[0] - b'a');
        let settings = settings.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        settings
            .chain(per_node(i))
            .chain([
                ("CONFAB_CLUSTER_BUS".into(), nats.url()),
                ("CONFAB_CLUSTER_NAME".into(), cluster.clone()),
                ("CONFAB_CLUSTER_NODE".into(), node),
                ("CONFAB_CLUSTER_LEASE_TTL_MS".into(), LEASE_TTL_MS.into()),
                ("CONFAB_CLUSTER_LEASE_RENEW_MS".into(), "300".into()),
            ])
            .collect()
    };
    let first_env = env("a".into());
    let first =
        TestServer::start_with(&first_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>());
    let store = first.store_url().expect("a PostgreSQL store").to_string();
    // The first node's shared files directory is every node's.
    let files = first.files_dir().display().to_string();
    let mut all = vec![first];
    for i in 1..n {
        let mut node_env = env(((b'a' + i as u8) as char).to_string());
        node_env.push(("CONFAB_CLUSTER_STORE".into(), store.clone()));
        node_env.push(("CONFAB_CLUSTER_BLOBS".into(), files.clone()));
        let pairs: Vec<(&str, &str)> = node_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.push(TestServer::start_with(&pairs));
    }
    all
}

/// `n` nodes on `nats`, each serving `/metrics` on a port of its own; with those
/// addresses, in the same order.
fn nodes_with_metrics(
    nats: &confab_test_support::nats::TestNats,
    n: usize,
) -> (Vec<TestServer>, Vec<String>) {
    let ports: Vec<String> = (0..n)
        .map(|_| {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            format!("127.0.0.1:{port}")
        })
        .collect();
    let nodes =
        nodes_on_with(nats, n, &[], |i| vec![("CONFAB_SERVER_METRICS_LISTEN".to_string(), ports[i].clone())]);
    (nodes, ports)
}

/// A short unique token (the clock), for names on the shared NATS.
fn ulid_suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{:x}{}", nanos, std::process::id())
}

/// `client`'s session on another node.
fn on(node: &TestServer, client: &Client) -> Client {
    Client::new(&node.url).with_token(client.token().expect("signed in"))
}

/// Which node holds `ws`'s write lease, by its configured name.
fn lease_holder(server: &TestServer, ws: WorkspaceId) -> Option<String> {
    let url = server.store_url()?.to_string();
    let database = url.rsplit('/').next()?.to_string();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let cluster = confab_tests::postgres()?;
                let row = cluster
                    .admin(&database)
                    .query_opt(
                        "SELECT holder FROM workspace_leases WHERE workspace = $1 AND expires_at > now()",
                        &[&ws.to_string()],
                    )
                    .ok()??;
                let holder: String = row.get(0);
                holder.split('/').next().map(str::to_string)
            })
            .join()
            .unwrap()
    })
}

/// The shared events a connection receives until `done` says it has all it
/// waits for: (event_seq, kind, message id) of messages created and updated and
/// of reactions added, in the order received.
async fn shared_events(
    live: &mut confab_client::Live,
    done: impl Fn(&[(u64, String, String)]) -> bool,
) -> Vec<(u64, String, String)> {
    let mut seen: Vec<(u64, String, String)> = Vec::new();
    while !done(&seen) {
        let frame = live.next(Duration::from_secs(20)).await.expect("a frame within 20 s");
        if let ServerFrame::Event { event_seq, event, .. } = frame {
            let id = match &event {
                Event::MessageCreated { message } | Event::MessageUpdated { message } => {
                    message.id.to_string()
                }
                Event::ReactionAdded { message_id, .. } => message_id.to_string(),
                _ => continue,
            };
            seen.push((event_seq, event.kind().to_string(), id));
        }
    }
    seen
}

/// Three nodes, a user on each: what any of them writes (a post over HTTP or the
/// WebSocket, a reaction, an edit) reaches all three live, in one order with no
/// gap or duplicate, whichever node sequences the workspace.
async fn users_on_three_nodes_chat_live_in_one_order() {
    let Some(nodes) = nodes(3) else { return };
    let (ada, _) = nodes[0].user("ada").await;
    let (bob, _) = nodes[1].user("bob").await;
    let (carol, _) = nodes[2].user("carol").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    assert_eq!(lease_holder(&nodes[0], ws).as_deref(), Some("a"), "the creating node sequences it");
    // Bob and Carol accept their invites on their own nodes: forwarded to A.
    confab_tests::join(&ada, ws, &bob).await;
    confab_tests::join(&ada, ws, &carol).await;

    let mut lives = Vec::new();
    for client in [&ada, &bob, &carol] {
        lives.push(client.connect(&[]).await.expect("connect"));
    }
    const ROUNDS: usize = 5;
    let mut posted = Vec::new();
    for round in 0..ROUNDS {
        posted.push(ada.post(general, &format!("ada {round}")).await.expect("ada posts on A").id);
        posted.push(bob.post(general, &format!("bob {round}")).await.expect("bob posts through B").id);
        // Carol over her WebSocket on C: the `send` is forwarded to A.
        lives[2].send_message(&format!("c{round}"), general, &format!("carol {round}")).await.unwrap();
        let ack = lives[2]
            .wait_for(Duration::from_secs(20), "carol's ack", |f| {
                matches!(f, ServerFrame::Ack { .. } | ServerFrame::Error { .. })
            })
            .await
            .unwrap();
        match ack {
            ServerFrame::Ack { message, .. } => posted.push(message.id),
            other => panic!("carol's send through C: {other:?}"),
        }
    }
    bob.react(posted[0], "thumbsup").await.expect("bob reacts through B");
    let carols = posted[2];
    carol.edit(carols, "carol 0, edited").await.expect("carol edits through C");

    let (reacted, edited) = (posted[0].to_string(), carols.to_string());
    let complete = |seen: &[(u64, String, String)]| {
        seen.iter().filter(|(_, kind, _)| kind == "message.created").count() == posted.len()
            && seen.iter().any(|(_, kind, id)| kind == "reaction.added" && *id == reacted)
            && seen.iter().any(|(_, kind, id)| kind == "message.updated" && *id == edited)
    };
    let mut orders = Vec::new();
    for live in &mut lives {
        orders.push(shared_events(live, complete).await);
    }
    for order in &orders {
        let seqs: Vec<u64> = order.iter().map(|(s, _, _)| *s).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in event_seq order, each once: {seqs:?}");
        let created: Vec<&String> =
            order.iter().filter(|(_, k, _)| k == "message.created").map(|(_, _, id)| id).collect();
        let posted: Vec<String> = posted.iter().map(|id| id.to_string()).collect();
        assert_eq!(created, posted.iter().collect::<Vec<_>>(), "every post, in the order acknowledged");
    }
    assert_eq!(orders[0], orders[1], "A and B saw the same events");
    assert_eq!(orders[0], orders[2], "A and C saw the same events");

    // The channel's history is gapless, read from any node.
    let history = on(&nodes[2], &ada).history(general, None, None, 200).await.unwrap();
    let mut seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=posted.len() as u64).collect::<Vec<_>>());
    assert!(history.iter().any(|m| m.id == carols && m.text == "carol 0, edited"));
}

/// A write sent to a node that does not hold the workspace's lease is served by the
/// node that does: the lease does not move, and the answer comes back whole.
async fn a_write_through_another_node_is_sequenced_by_the_lease_holder() {
    let Some(nodes) = nodes(2) else { return };
    let (ada, _) = nodes[0].user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    let ada_on_b = on(&nodes[1], &ada);
    for i in 1..=5u64 {
        let message = ada_on_b.post(general, &format!("via b {i}")).await.expect("posted through B");
        assert_eq!(message.seq, i);
    }
    let renamed = ada_on_b.create_channel(ws, "random", false).await.expect("a channel created through B");
    assert_eq!(lease_holder(&nodes[1], ws).as_deref(), Some("a"), "A still sequences the workspace");
    // A refusal comes back as the holder gave it.
    let (status, body) = ada_on_b
        .raw(reqwest::Method::POST, &format!("/workspaces/{ws}/channels"), Some(r#"{"name":"random"}"#))
        .await
        .unwrap();
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (409, Some("name_taken")), "{body}");
    let channels = ada.channels(ws).await.unwrap();
    assert!(channels.iter().any(|c| c.channel.id == renamed.id), "A knows the channel B's request made");

    // A profile change through B names no workspace; B has A log `user.updated`
    // in the workspace A sequences.
    let mut ada_live = ada.connect(&[]).await.expect("ada connects to A");
    let change = confab_client::UpdateProfile { display_name: Some("Ada L.".into()), ..Default::default() };
    ada_on_b.update_profile(&change).await.expect("a profile change through B");
    let (_, event) =
        ada_live.wait_event(Duration::from_secs(10), "user.updated").await.expect("user.updated");
    assert!(matches!(event, Event::UserUpdated { .. }), "{event:?}");
    assert_eq!(lease_holder(&nodes[1], ws).as_deref(), Some("a"), "the lease did not move");
}

/// The node holding a workspace's lease is killed (SIGKILL) while clients post
/// through both nodes, retrying with their idempotency keys: once the lease
/// expires the other node takes the workspace over, every acknowledged message is
/// stored once, at its place in a gapless history, and a client of the dead node
/// resumes on the other without a gap.
async fn killing_the_lease_holder_under_load_loses_no_acknowledged_message() {
    let Some(mut nodes) = nodes(2) else { return };
    let (ada, _) = nodes[0].user("ada").await;
    let (bob, _) = nodes[1].user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    let mut bob_on_a = on(&nodes[0], &bob).connect(&[]).await.expect("bob connects to A");

    const WRITERS: usize = 4;
    const PER_WRITER: usize = 30;
    let clients = [on(&nodes[0], &ada), on(&nodes[1], &ada)];
    let fallback = on(&nodes[1], &ada);
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (client, fallback) = (clients[w % 2].clone(), fallback.clone());
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..PER_WRITER {
                let key = format!("w{w}-{i}");
                let options = || PostOptions { thread_root: None, client_msg_id: Some(key.clone()) };
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut through = &client;
                let message = loop {
                    match through.post_with(general, &key, options()).await {
                        Ok(message) => break message,
                        // A dead node, or the takeover in progress: the same key
                        // again, through the node that is left.
                        Err(e) => {
                            assert!(Instant::now() < deadline, "{key} never acknowledged: {e}");
                            through = &fallback;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                };
                acked.push((key, message.id, message.seq));
            }
            acked
        }));
    }
    // Bob follows on A until a few messages went by, then A dies.
    let seen_before = shared_events(&mut bob_on_a, |seen| seen.len() >= 10).await;
    nodes[0].kill();
    let mut acked = Vec::new();
    for writer in writers {
        acked.extend(writer.await.unwrap());
    }
    assert_eq!(acked.len(), WRITERS * PER_WRITER);
    assert_eq!(lease_holder(&nodes[1], ws).as_deref(), Some("b"), "B took the workspace over");

    let survivor = on(&nodes[1], &ada);
    let mut history = Vec::new();
    let mut before = None;
    loop {
        let page = survivor.history(general, before, None, 200).await.unwrap();
        let Some(oldest) = page.iter().map(|m| m.seq).min() else { break };
        history.extend(page);
        if oldest == 1 {
            break;
        }
        before = Some(oldest);
    }
    history.sort_by_key(|m| m.seq);
    let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=history.len() as u64).collect::<Vec<_>>(), "a gapless history");
    assert_eq!(history.len(), acked.len(), "each acknowledged message once, nothing else");
    for (key, id, seq) in &acked {
        let stored = history.iter().find(|m| m.id == *id).unwrap_or_else(|| panic!("{key} was lost"));
        assert_eq!((&stored.text, stored.seq), (key, *seq), "{key} at the place it was acknowledged at");
    }

    // Bob resumes on B from the last event he saw on A: every message after it, once.
    let last = seen_before.last().map(|(seq, _, _)| *seq).unwrap();
    let mut bob_on_b = on(&nodes[1], &bob).connect(&[(ws, last)]).await.expect("bob resumes on B");
    let already: Vec<String> = seen_before.iter().map(|(_, _, id)| id.clone()).collect();
    let missing = history.len() - already.len();
    let rest = shared_events(&mut bob_on_b, |seen| seen.len() >= missing).await;
    let mut all: Vec<String> = already;
    all.extend(rest.iter().map(|(_, _, id)| id.clone()));
    let stored: Vec<String> = history.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(all, stored, "bob saw every message once, in order, across the two nodes");
}

/// Two nodes on a NATS of the test's own (to stop and start), Ada on A and Bob on B
/// in a workspace A sequences.
struct Pair {
    nats: confab_test_support::nats::TestNats,
    nodes: Vec<TestServer>,
    ada: Client,
    bob: Client,
    ws: WorkspaceId,
    general: confab_core::ChannelId,
}

async fn pair_on_own_nats() -> Option<Pair> {
    if confab_test_support::nats::skipped() {
        return None;
    }
    let nats = confab_test_support::nats::TestNats::start().expect("a nats-server");
    let nodes = nodes_on(&nats, 2, &[]);
    let (ada, _) = nodes[0].user("ada").await;
    let (bob, _) = nodes[1].user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    Some(Pair { nats, nodes, ada, bob, ws, general })
}

/// NATS goes away while the lease holder goes on writing: the other node's clients
/// get those events — in order, once — as soon as the bus is back, before what
/// comes next (the node reads the event log after what it delivered; what the
/// writer's NATS client held back and sends late is dropped as a duplicate).
async fn events_written_while_nats_is_down_reach_the_other_node_once_it_is_back() {
    let Some(Pair { nats, nodes: _nodes, ada, bob, general, .. }) = pair_on_own_nats().await else { return };
    let mut bob_live = bob.connect(&[]).await.expect("bob connects to B");
    let created = |n: usize| move |seen: &[(u64, String, String)]| seen.len() >= n;

    let mut posted = Vec::new();
    for i in 0..3 {
        posted.push(ada.post(general, &format!("before {i}")).await.unwrap().id.to_string());
    }
    let mut seen = shared_events(&mut bob_live, created(3)).await;

    nats.stop_server();
    // A sequences the workspace: its writes go on without the bus.
    for i in 0..5 {
        posted.push(ada.post(general, &format!("during {i}")).await.unwrap().id.to_string());
    }
    nats.start_server().expect("NATS again");
    // The missed events come from the log once B is reconnected; then live ones.
    let during = shared_events(&mut bob_live, created(5)).await;
    seen.extend(during);
    posted.push(ada.post(general, "after").await.unwrap().id.to_string());
    seen.extend(shared_events(&mut bob_live, created(1)).await);

    let seqs: Vec<u64> = seen.iter().map(|(seq, _, _)| *seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in event_seq order, each once: {seqs:?}");
    let ids: Vec<String> = seen.into_iter().map(|(_, _, id)| id).collect();
    assert_eq!(ids, posted, "bob saw every message, in order, once");
}

/// The lease holder prunes the event log past `events.retention`; a client resuming
/// on another node from before what the log keeps is told to resync there too,
/// rather than replayed a log with a hole in it.
async fn resuming_on_another_node_from_before_the_retained_log_asks_for_resync() {
    let Some(nodes) = nodes_with(2, &[("CONFAB_EVENTS_RETENTION", "10")]) else { return };
    let (ada, _) = nodes[0].user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    let ada_on_b = on(&nodes[1], &ada);
    // B holds the workspace in memory from here on.
    let live = ada_on_b.connect(&[]).await.unwrap();
    live.close().await.unwrap();
    for i in 0..40 {
        ada.post(general, &format!("m{i}")).await.unwrap();
    }
    let mut live = ada_on_b.connect(&[(ws, 1)]).await.unwrap();
    let frame = live
        .wait_for(Duration::from_secs(10), "resync", |f| matches!(f, ServerFrame::Resync { .. }))
        .await
        .unwrap();
    assert_eq!(frame, ServerFrame::Resync { workspace: ws });
}

/// Ada's presence as the next presence frame about her says.
async fn next_presence_of(live: &mut confab_client::Live, user: UserId) -> Presence {
    let frame = live
        .wait_for(
            Duration::from_secs(10),
            "a presence frame",
            |f| matches!(f, ServerFrame::Event { event: Event::Presence { user: u, .. }, .. } if *u == user),
        )
        .await
        .expect("a presence frame");
    match frame {
        ServerFrame::Event { event: Event::Presence { status, .. }, .. } => status,
        _ => unreachable!(),
    }
}

/// `user`'s presence in `ws` as `GET /workspaces/{ws}/presence` through `client` says.
async fn presence_listed(client: &Client, ws: WorkspaceId, user: UserId) -> Value {
    let (status, body) =
        client.raw(reqwest::Method::GET, &format!("/workspaces/{ws}/presence"), None).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries = body["presence"].as_array().expect("a list");
    let entry = entries.iter().find(|e| e["user"] == user.to_string().as_str()).expect("the user");
    entry["status"].clone()
}

/// Typing and presence are not in the event log, but they cross nodes like events,
/// under the same rules as on one node: a typing indicator in a private channel
/// reaches its members on other nodes and nobody else; presence reaches the user's
/// DM partners on other nodes. Presence is the union of the nodes: a user who
/// leaves one node while connected to another stays online everywhere.
async fn typing_and_presence_reach_users_on_other_nodes() {
    let Some(nodes) = nodes(3) else { return };
    let (ada, ada_s) = nodes[0].user("ada").await;
    let (bob, bob_s) = nodes[1].user("bob").await;
    let (carol, _) = nodes[2].user("carol").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    confab_tests::join(&ada, ws, &carol).await;
    let private = ada.create_channel(ws, "secret", true).await.unwrap();
    ada.add_member(private.id, bob_s.user.id).await.unwrap();
    // Presence goes to the people one has DMs with: Bob, not Carol.
    ada.open_dm(ws, &[bob_s.user.id]).await.unwrap();
    let ada_id = ada_s.user.id;

    let mut bob_live = bob.connect(&[]).await.expect("bob connects to B");
    let mut carol_live = carol.connect(&[]).await.expect("carol connects to C");
    let mut ada_live = ada.connect(&[]).await.expect("ada connects to A");
    assert_eq!(next_presence_of(&mut bob_live, ada_id).await, Presence::Online, "B hears A's arrival");
    assert_eq!(presence_listed(&on(&nodes[2], &carol), ws, ada_id).await, "online", "C knows it too");

    // Typing in the private channel reaches Bob on B; Carol on C, not a member,
    // gets only the typing in #general that follows it.
    ada_live.send_json(&json!({"type": "typing", "channel": private.id})).await.unwrap();
    let typing = |channel: ChannelId| {
        move |f: &ServerFrame| {
            matches!(f, ServerFrame::Event { event: Event::Typing { channel: c, user, .. }, .. }
                if *c == channel && *user == ada_id)
        }
    };
    bob_live.wait_for(Duration::from_secs(10), "typing in #secret", typing(private.id)).await.unwrap();
    ada_live.send_json(&json!({"type": "typing", "channel": general})).await.unwrap();
    let first = carol_live
        .wait_for(Duration::from_secs(10), "typing", |f| {
            matches!(f, ServerFrame::Event { event: Event::Typing { .. }, .. })
        })
        .await
        .unwrap();
    assert!(typing(general)(&first), "Carol's first typing frame is #general's: {first:?}");

    // Ada connects to C as well and leaves A: she is still online, and nobody is
    // told otherwise.
    let ada_on_c = on(&nodes[2], &ada).connect(&[]).await.expect("ada connects to C");
    tokio::time::sleep(Duration::from_millis(500)).await;
    ada_live.close().await.unwrap();
    let quiet = bob_live
        .wait_for(Duration::from_secs(2), "no presence change", |f| {
            matches!(f, ServerFrame::Event { event: Event::Presence { user, .. }, .. } if *user == ada_id)
        })
        .await;
    assert!(quiet.is_err(), "Ada is still connected to C: {quiet:?}");
    assert_eq!(presence_listed(&bob, ws, ada_id).await, "online", "B counts her connection on C");
    ada_on_c.close().await.unwrap();
    assert_eq!(next_presence_of(&mut bob_live, ada_id).await, Presence::Offline, "gone from every node");
    assert_eq!(presence_listed(&on(&nodes[0], &carol), ws, ada_id).await, "offline");
}

/// Guessing passwords through several nodes buys no more guesses: every node counts
/// the failed log-ins of the others, so once one node blocks a pair, the others do
/// too, even for the right password.
async fn log_in_failures_count_on_every_node() {
    let Some(nodes) = nodes_with(2, &[("CONFAB_AUTH_LOGIN_FAILURES_PER_PAIR", "3")]) else { return };
    let (ada, ada_s) = nodes[0].user("ada").await;
    let (bob, _) = nodes[1].user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    let mut ada_live = ada.connect(&[]).await.expect("ada connects to A");
    let mut bob_live = bob.connect(&[]).await.expect("bob connects to B");

    let guess = r#"{"email":"ada@example.com","password":"wrong password"}"#;
    let through_b = Client::new(&nodes[1].url);
    // Three are allowed; the fourth blocks the pair on B.
    for expected in [401, 401, 401, 429] {
        let (status, _) = through_b.raw(reqwest::Method::POST, "/auth/login", Some(guess)).await.unwrap();
        assert_eq!(status.as_u16(), expected);
    }
    // B relays what it says in order: once A shows Bob typing, which B relayed after
    // the failures, A has counted them.
    let bob_typing = |f: &ServerFrame| matches!(f, ServerFrame::Event { event: Event::Typing { user, .. }, .. } if *user != ada_s.user.id);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        bob_live.send_json(&json!({"type": "typing", "channel": general})).await.unwrap();
        if ada_live.wait_for(Duration::from_secs(1), "bob typing", bob_typing).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "A never heard Bob typing on B");
    }
    let right = r#"{"email":"ada@example.com","password":"correct horse battery"}"#;
    let (status, body) =
        Client::new(&nodes[0].url).raw(reqwest::Method::POST, "/auth/login", Some(right)).await.unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
}

/// Slack's API names its workspace in its arguments, not its path: its writes
/// through a node that does not sequence the workspace reach the one that does (a
/// session's form `POST`, and a bot's `GET`, which Slack's API allows for writes
/// too), and a client of a third node sees them live.
async fn slack_api_writes_through_another_node_are_sequenced_by_the_lease_holder() {
    let Some(nodes) = nodes(3) else { return };
    let (ada, _) = nodes[0].user("ada").await;
    let (carol, _) = nodes[2].user("carol").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &carol).await;
    let (_, bot) = ada
        .raw(reqwest::Method::POST, &format!("/workspaces/{ws}/bots"), Some(r#"{"name":"Deploy Bot"}"#))
        .await
        .unwrap();
    let bot_token = bot["token"].as_str().expect("a bot token").to_string();
    let mut carol_live = carol.connect(&[]).await.expect("carol connects to C");

    let http = reqwest::Client::new();
    let b = &nodes[1].url;
    let by_session = slack_answer(
        http.post(format!("{b}/api/slack/chat.postMessage"))
            .bearer_auth(ada.token().unwrap())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("channel={general}&text=from+a+script+through+B")),
    )
    .await;
    assert_eq!(by_session["ok"], true, "{by_session}");
    let joined = slack_answer(
        http.post(format!("{b}/api/slack/conversations.join"))
            .bearer_auth(&bot_token)
            .json(&json!({"channel": general})),
    )
    .await;
    assert_eq!(joined["ok"], true, "{joined}");
    let by_bot = slack_answer(
        http.get(format!("{b}/api/slack/chat.postMessage?token={bot_token}&channel={general}&text=deployed")),
    )
    .await;
    assert_eq!(by_bot["ok"], true, "{by_bot}");
    let created = slack_answer(
        http.post(format!("{b}/api/slack/conversations.create"))
            .bearer_auth(&bot_token)
            .json(&json!({"name": "deploys"})),
    )
    .await;
    assert_eq!(created["ok"], true, "a write naming no channel goes to the caller's workspace: {created}");

    for text in ["from a script through B", "deployed"] {
        carol_live
            .wait_for(Duration::from_secs(10), text, |f| {
                matches!(f, ServerFrame::Event { event: Event::MessageCreated { message }, .. } if message.text == text)
            })
            .await
            .expect("carol on C sees the post");
    }
    let history = carol.history(general, None, None, 10).await.unwrap();
    let mut seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
    seqs.sort();
    assert_eq!(seqs, [1, 2], "sequenced once each, by one node");
    assert_eq!(lease_holder(&nodes[1], ws).as_deref(), Some("a"), "A still sequences the workspace");
}

/// `DELETE /me` names no workspace but writes every workspace of the member's:
/// through B, a workspace A sequences is erased by A (and one B sequences by B),
/// and the other members see it on A at once; and so does `confab user delete`
/// run beside the cluster.
async fn erasing_an_account_through_another_node_erases_it_where_each_workspace_is_sequenced() {
    let Some(nodes) = nodes(2) else { return };
    let (ada, _) = nodes[0].user("ada").await;
    let (bob, bob_s) = nodes[1].user("bob").await;
    let (carol, carol_s) = nodes[1].user("carol").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    confab_tests::join(&ada, ws, &carol).await;
    carol.post(general, "carol was here").await.unwrap();
    let (own_ws, _) = confab_tests::workspace(&bob, "Bob's").await;
    for i in 0..3 {
        bob.post(general, &format!("bob {i}")).await.expect("bob posts through B");
    }
    let mut ada_live = ada.connect(&[]).await.expect("ada connects to A");
    assert_eq!(lease_holder(&nodes[0], ws).as_deref(), Some("a"));
    assert_eq!(lease_holder(&nodes[1], own_ws).as_deref(), Some("b"));

    let (status, report) = bob
        .raw(reqwest::Method::DELETE, "/me", Some(r#"{"password":"correct horse battery"}"#))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["workspaces"].as_u64(), report["messages_deleted"].as_u64()),
        (Some(2), Some(3)),
        "{report}"
    );

    ada_live
        .wait_for(Duration::from_secs(10), "bob leaves", |f| {
            matches!(f, ServerFrame::Event { event: Event::MemberLeft { channel: None, user }, .. }
                if *user == bob_s.user.id)
        })
        .await
        .expect("ada hears bob leave");
    let history = ada.history(general, None, None, 10).await.unwrap();
    assert!(
        history.iter().all(|m| m.author != bob_s.user.id || m.deleted),
        "bob's messages are gone: {history:?}"
    );
    let members = ada.members(ws).await.unwrap();
    assert!(members.iter().all(|m| m.profile.id != bob_s.user.id), "bob is no longer a member");
    assert_eq!(lease_holder(&nodes[0], ws).as_deref(), Some("a"), "A sequenced its workspace throughout");

    // The operator's `confab user delete`, run beside the cluster (no node on its
    // machine), forwards the same way.
    let out = run_beside(&nodes[1], &["user", "delete", "carol@example.com", "--yes"]);
    assert!(out.status.success(), "confab user delete: {}", String::from_utf8_lossy(&out.stderr));
    ada_live
        .wait_for(Duration::from_secs(10), "carol leaves", |f| {
            matches!(f, ServerFrame::Event { event: Event::MemberLeft { channel: None, user }, .. }
                if *user == carol_s.user.id)
        })
        .await
        .expect("ada hears carol leave");
    let history = ada.history(general, None, None, 10).await.unwrap();
    assert!(history.iter().all(|m| m.author != carol_s.user.id || m.deleted), "{history:?}");
    assert_eq!(lease_holder(&nodes[0], ws).as_deref(), Some("a"), "the command did not take the lease");
}

/// An operator command beside the cluster that sequences a workspace itself (its
/// lease was free) publishes the events it wrote before it exits: a client of a
/// node sees them live, not only on its next read of the log.
async fn an_operator_command_beside_the_cluster_publishes_what_it_wrote() {
    let Some(mut nodes) = nodes(2) else { return };
    let (ada, _) = nodes[0].user("ada").await;
    let (bob, _) = nodes[1].user("bob").await;
    let (carol, carol_s) = nodes[1].user("carol").await;
    let (ws, _) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    confab_tests::join(&ada, ws, &carol).await;
    let mut bob_live = bob.connect(&[]).await.expect("bob connects to B");
    // A stops cleanly and gives its lease back; nobody writes the workspace after.
    nodes[0].stop();
    assert_eq!(lease_holder(&nodes[1], ws), None);

    let out = run_beside(&nodes[1], &["user", "delete", "carol@example.com", "--yes"]);
    assert!(out.status.success(), "confab user delete: {}", String::from_utf8_lossy(&out.stderr));
    bob_live
        .wait_for(Duration::from_secs(10), "carol leaves", |f| {
            matches!(f, ServerFrame::Event { event: Event::MemberLeft { channel: None, user }, .. }
                if *user == carol_s.user.id)
        })
        .await
        .expect("bob on B hears the command's write live");
}

/// A file uploaded through the node sequencing its workspace, and one uploaded
/// through another node (forwarded), are downloaded byte for byte through all three
/// nodes, which share one files directory; once deleted (through a third node), no
/// node serves it and its content is gone from the shared directory.
async fn files_uploaded_through_one_node_are_served_by_every_node_until_deleted() {
    use sha2::Digest;
    let Some(nodes) = nodes(3) else { return };
    let (ada, _) = nodes[0].user("ada").await;
    let (bob, _) = nodes[1].user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    assert_eq!(lease_holder(&nodes[0], ws).as_deref(), Some("a"));

    // 300 KB that are no text and compress badly, through A (the holder), and a
    // small one through B (forwarded to A).
    let big: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let from_a = ada.upload(general, "big.bin", &big, "").await.expect("uploaded through A");
    let small = b"uploaded through B".to_vec();
    let from_b = bob.upload(general, "small.txt", &small, "").await.expect("uploaded through B");

    for (i, node) in nodes.iter().enumerate() {
        for (client, posted, bytes) in [(&ada, &from_a, &big), (&bob, &from_b, &small)] {
            let (_, got) = on(node, client)
                .download(posted.file.id, false)
                .await
                .unwrap_or_else(|e| panic!("{} downloaded through node {i}: {e:?}", posted.file.name));
            assert!(got == *bytes, "{} is byte for byte the same through node {i}", posted.file.name);
        }
    }

    // Deleted through C, forwarded to A: then no node serves it, and A removed the
    // content from the shared directory.
    let (status, body) = on(&nodes[2], &ada)
        .raw(reqwest::Method::DELETE, &format!("/files/{}", from_a.file.id), None)
        .await
        .unwrap();
    assert!(status.is_success(), "deleted through C: {status} {body}");
    for (i, node) in nodes.iter().enumerate() {
        match on(node, &ada).download(from_a.file.id, false).await {
            Err(confab_client::ClientError::Api { status: 404, error }) => {
                assert_eq!(error.code, confab_core::ErrorCode::FileNotFound, "node {i}")
            }
            other => panic!("node {i} still answers for the deleted file: {:?}", other.map(|(h, _)| h)),
        }
    }
    let hex: String = sha2::Sha256::digest(&big).iter().map(|b| format!("{b:02x}")).collect();
    let content = nodes[0].files_dir().join(ws.to_string()).join(&hex[..2]).join(&hex);
    assert!(!content.exists(), "the content is removed from the shared directory");
    let (_, got) = on(&nodes[2], &bob).download(from_b.file.id, false).await.expect("the other file stays");
    assert!(got == small);
}

/// The value of the gauge `name` in the metrics served at `metrics_at`, once it is
/// `wanted` (or whatever it is after ten seconds; `NaN` if it is not there).
async fn gauge_until(metrics_at: &str, name: &str, wanted: f64) -> f64 {
    gauge_where(metrics_at, name, |value| value == wanted).await
}

/// A gauge of the node whose metrics listen at `metrics_at`, once `ready` holds for
/// it, or after ten seconds.
async fn gauge_where(metrics_at: &str, name: &str, ready: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = gauge(metrics_at, name).await;
        if ready(value) || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the gauge `name` in the metrics served at `metrics_at` now (`NaN` if
/// it is not there, or the node does not answer).
async fn gauge(metrics_at: &str, name: &str) -> f64 {
    let body = match reqwest::get(format!("http://{metrics_at}/metrics")).await {
        Ok(answer) => answer.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

/// `/healthz` of a node says whether it is connected to the bus and since when,
/// staying `200` while NATS is away (a restart would not bring it back), and
/// `/metrics` counts the leases each node holds.
async fn a_node_reports_its_bus_and_leases() {
    if confab_tests::nats().is_none() {
        return;
    }
    let nats = confab_test_support::nats::TestNats::start().expect("a nats-server");
    let (nodes, ports) = nodes_with_metrics(&nats, 2);
    let connected = |answer: &(StatusCode, Value)| answer.1["bus"]["connected"] == true;
    let (status, before) = health_until(&nodes[1], connected).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["bus"]["connected"], true, "{before}");
    let since = before["bus"]["since"].as_i64().expect("since, in milliseconds");

    let (ada, _) = nodes[0].user("ada").await;
    let (ws1, _) = confab_tests::workspace(&ada, "W1").await;
    let (ws2, _) = confab_tests::workspace(&ada, "W2").await;
    // A created both, so it holds both leases, unless a loaded machine let one lapse
    // and another node took it: each node's gauge is what the lease table says.
    let held_by = |name: &str| {
        [ws1, ws2].iter().filter(|ws| lease_holder(&nodes[0], **ws).as_deref() == Some(name)).count() as f64
    };
    for (port, name) in ports.iter().zip(["a", "b"]) {
        let held = held_by(name);
        assert_eq!(gauge_until(port, "confab_cluster_leases_held", held).await, held, "node {name}");
    }
    assert!(held_by("a") + held_by("b") >= 1.0, "the leases are counted somewhere");
    assert_eq!(gauge_until(&ports[1], "confab_cluster_bus_connected", 1.0).await, 1.0);

    nats.stop_server();
    let (status, lost) = health_until(&nodes[1], |a| a.1["bus"]["connected"] == false).await;
    assert_eq!((status, &lost["bus"]["connected"]), (StatusCode::OK, &json!(false)), "{lost}");
    assert_eq!(lost["store_reads"], true, "{lost}");
    let lost_since = lost["bus"]["since"].as_i64().unwrap();
    assert!(lost_since > since, "since the loss: {lost}");
    assert_eq!(gauge_until(&ports[1], "confab_cluster_bus_connected", 0.0).await, 0.0);

    nats.start_server().expect("NATS again");
    let (_, back) = health_until(&nodes[1], connected).await;
    assert_eq!(back["bus"]["connected"], true, "{back}");
    assert!(back["bus"]["since"].as_i64().unwrap() >= lost_since, "{back}");
}

/// `/metrics` of a node says how late the events of other nodes reach it
/// (`confab_cluster_bus_lag_seconds`): an event written while NATS was away reaches
/// the other node once NATS is back, at least as late as NATS was away, and its gauge
/// says so; the lease holder, which delivers no other node's events, says 0.
async fn a_node_reports_how_late_the_bus_brings_events() {
    if confab_tests::nats().is_none() {
        return;
    }
    const LAG: &str = "confab_cluster_bus_lag_seconds";
    let nats = confab_test_support::nats::TestNats::start().expect("a nats-server");
    let (nodes, ports) = nodes_with_metrics(&nats, 2);
    let (ada, _) = nodes[0].user("ada").await;
    let (bob, _) = nodes[1].user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    let mut bob_live = bob.connect(&[]).await.expect("bob connects to B");
    ada.post(general, "before").await.unwrap();
    shared_events(&mut bob_live, |seen| !seen.is_empty()).await;

    nats.stop_server();
    ada.post(general, "while B is deaf").await.unwrap();
    let deaf = Duration::from_secs(2);
    tokio::time::sleep(deaf).await;
    nats.start_server().expect("NATS again");
    let seen = shared_events(&mut bob_live, |seen| !seen.is_empty()).await;
    assert_eq!(seen.len(), 1, "B delivered the message written while it was deaf: {seen:?}");
    let lag = gauge_where(&ports[1], LAG, |lag| lag >= deaf.as_secs_f64()).await;
    assert!(lag >= deaf.as_secs_f64(), "B got it at least {deaf:?} after A wrote it, and says {lag} s");
    // A created the workspace, so it sequences it, unless a loaded machine let the
    // lease lapse and B took it.
    if lease_holder(&nodes[0], ws).as_deref() == Some("a") {
        assert_eq!(gauge_until(&ports[0], LAG, 0.0).await, 0.0, "the holder delivers no other node's events");
    }
}

/// A workspace opts in and a model is trained from it on node B and on node C, each
/// serving its own; the owner withdraws through node A, which sequences the
/// workspace, while NATS is down (so that nothing but the shared database can tell
/// B and C). The moment A's call returns, neither B nor C serves a model built from
/// the workspace (`served` in `GET …/models` is the look-up their suggestions and
/// search make). Each then retires its model in its own registry: serving saw the
/// generation move and asked for the sweep, and the `consent.changed` event comes
/// from the bus once it is back.
async fn a_withdrawal_on_one_node_stops_every_node_serving_the_models_it_lapsed() {
    use crate::consent_attacks::{grant, models, train};
    if confab_test_support::nats::skipped() {
        return;
    }
    // A NATS of this test's own: it is stopped and started again.
    let nats = confab_test_support::nats::TestNats::start().expect("a nats-server");
    let nodes = nodes_on(&nats, 3, &[("CONFAB_TRAINING_MIN_USERS_PER_WORD", "2")]);
    let (admin, _) = nodes[0].user("root").await;
    let (owner, _) = nodes[0].user("owner").await;
    let (ws, general) = confab_tests::workspace(&owner, "acme").await;
    let mut members = vec![owner.clone()];
    for i in 0..3 {
        let (member, _) = nodes[0].user(&format!("member{i}")).await;
        confab_tests::join(&owner, ws, &member).await;
        members.push(member);
    }
    // A habit the built-in model does not know (a made-up word, a giraffe), so that
    // the model trained from it beats the default and is served.
    for (i, author) in members.iter().enumerate() {
        for j in 0..4 {
            let message = author.post(general, &format!("zorblax standup {i}{j}")).await.unwrap();
            for reactor in members.iter().filter(|r| r.token() != author.token()) {
                reactor.react(message.id, "🦒").await.unwrap();
            }
        }
    }
    assert_eq!(lease_holder(&nodes[0], ws).as_deref(), Some("a"), "A sequences the workspace");
    grant(&owner, ws, "emoji_suggestions", "workspace", &["messages", "reactions"], "opt_out").await;
    let followers = [&nodes[1], &nodes[2]];
    for node in followers {
        let run = train(&on(node, &admin), "emoji_suggestions").await;
        assert_eq!(run["runs"][0]["models"].as_array().unwrap().len(), 1, "{run}");
        // The node serves its model: suggestions there are made with it.
        let listed = models(&on(node, &owner), ws).await;
        assert!(listed.iter().any(|m| m["served"] == true), "{} serves its model: {listed:?}", node.url);
        let (status, _) = on(node, &owner)
            .raw(Method::GET, &format!("/workspaces/{ws}/emoji/suggest?limit=5"), None)
            .await
            .unwrap();
        assert!(status.is_success());
    }

    nats.stop_server();
    let (status, answer) = owner
        .raw(
            Method::PUT,
            &format!("/workspaces/{ws}/consent/emoji_suggestions"),
            Some(r#"{"granted":false}"#),
        )
        .await
        .unwrap();
    assert!(status.is_success(), "{answer}");
    for node in followers {
        let listed = models(&on(node, &owner), ws).await;
        assert!(
            listed.iter().all(|m| m["served"] == false),
            "{} still serves a model built from a workspace that withdrew: {listed:?}",
            node.url
        );
    }
    // The change reaches each node once the bus is back, and retires its model there.
    nats.start_server().expect("NATS again");
    for node in followers {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let listed = models(&on(node, &owner), ws).await;
            if listed.iter().all(|m| !m["retired"].is_null()) {
                break;
            }
            assert!(Instant::now() < deadline, "{} did not retire its model: {listed:?}", node.url);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A client that sends many messages at once over a WebSocket of a node that does
/// not sequence the workspace sees them stored in the order it sent them, as on the
/// node that does: forwarded sends of one connection go one at a time.
async fn sends_through_another_node_are_stored_in_send_order() {
    let Some(nodes) = nodes(2) else { return };
    let (ada, _) = nodes[0].user("ada").await;
    let (bob, _) = nodes[1].user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    assert_eq!(lease_holder(&nodes[0], ws).as_deref(), Some("a"));
    let mut live = bob.connect(&[]).await.expect("bob connects to B");
    const SENDS: usize = 40;
    for i in 0..SENDS {
        live.send_message(&format!("r{i}"), general, &format!("in order {i}")).await.unwrap();
    }
    let mut acked = 0;
    while acked < SENDS {
        let frame = live
            .wait_for(Duration::from_secs(20), "acks", |f| {
                matches!(f, ServerFrame::Ack { .. } | ServerFrame::Error { .. })
            })
            .await
            .unwrap();
        assert!(matches!(frame, ServerFrame::Ack { .. }), "{frame:?}");
        acked += 1;
    }
    let history = ada.history(general, None, None, 100).await.unwrap();
    let mut texts: Vec<String> = history
        .into_iter()
        .filter(|m| m.text.starts_with("in order"))
        .map(|m| (m.seq, m.text))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_values()
        .collect();
    texts.dedup();
    let sent: Vec<String> = (0..SENDS).map(|i| format!("in order {i}")).collect();
    assert_eq!(texts, sent, "stored in seq order");
}

/// A client that read events on the node sequencing a workspace, and resumes on a
/// node that has not heard them yet (NATS was down), gets what follows once, never
/// again what it had: the events between arrive at that node later, and its
/// connection does not send them twice (the cluster crash bench saw a resumed
/// client get up to 26 messages twice).
async fn resuming_on_a_node_that_has_not_heard_everything_sends_nothing_twice() {
    let Some(Pair { nats, nodes, ada, bob, ws, general }) = pair_on_own_nats().await else { return };
    // B holds the workspace in memory (so it follows it on the bus).
    let on_b = bob.connect(&[]).await.expect("bob connects to B");
    on_b.close().await.unwrap();

    nats.stop_server();
    let bob_on_a = on(&nodes[0], &bob);
    let mut on_a = bob_on_a.connect(&[]).await.expect("bob connects to A");
    let mut posted = Vec::new();
    for i in 0..5 {
        posted.push(ada.post(general, &format!("while B is deaf {i}")).await.unwrap().id.to_string());
    }
    let had = shared_events(&mut on_a, |seen| seen.len() >= 5).await;
    let resume_from = had.last().unwrap().0;
    on_a.close().await.unwrap();

    let mut on_b = bob.connect(&[(ws, resume_from)]).await.expect("bob resumes on B");
    let b_knows = on_b.workspaces.iter().find(|w| w.id == ws).unwrap().event_seq;
    assert!(b_knows < resume_from, "B is behind ({b_knows} < {resume_from}): the case under test");
    nats.start_server().expect("NATS again");
    let after = ada.post(general, "after").await.unwrap().id.to_string();
    let seen = shared_events(&mut on_b, |seen| seen.iter().any(|(_, _, id)| *id == after)).await;
    assert!(
        seen.iter().all(|(seq, _, _)| *seq > resume_from),
        "nothing bob had came again: resumed after {resume_from}, got {seen:?}"
    );
    let ids: Vec<&String> = seen.iter().map(|(_, _, id)| id).collect();
    assert_eq!(ids, [&after], "then what followed, once");
}

/// The JSON answer of a call of the Slack-compatible API.
async fn slack_answer(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// The lease of the training schedule, as the lease table names it: a ULID of time 0
/// (`confab_app::cluster::training_schedule_lease`).
fn training_schedule_lease() -> WorkspaceId {
    let mut bytes = [0; 16];
    bytes[15] = 1;
    WorkspaceId::from_bytes(bytes)
}

/// Each node's `confab_training_schedule_held`, once every node reports it and
/// exactly one of them reports 1 (or as they are after 30 seconds: the whole suite
/// may be loading the machine).
async fn schedule_gauges(ports: &[String]) -> Vec<f64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut values = Vec::new();
        for port in ports {
            values.push(gauge(port, "confab_training_schedule_held").await);
        }
        let ones = values.iter().filter(|v| **v == 1.0).count();
        let reported = values.iter().all(|v| *v == 0.0 || *v == 1.0);
        if (reported && ones == 1) || Instant::now() > deadline {
            return values;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Scheduled training spends each workspace's ε once per run, not once per node: one
/// node of three holds the schedule's lease and runs it (its gauge says so, and the
/// lease table agrees), and when that node is killed another takes it over.
async fn one_node_at_a_time_runs_the_training_schedule() {
    if confab_test_support::nats::skipped() {
        return;
    }
    let nats = confab_test_support::nats::shared().expect("NATS");
    let (mut nodes, ports) = nodes_with_metrics(nats, 3);
    let names = ["a", "b", "c"];
    let gauges = schedule_gauges(&ports).await;
    assert_eq!(gauges.iter().filter(|v| **v == 0.0).count(), 2, "one node runs the schedule: {gauges:?}");
    let first = gauges.iter().position(|v| *v == 1.0).unwrap();
    // The node that says so holds the lease (while it renews it; a loaded machine
    // may let it lapse and pass, so ask until the table and a gauge agree).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut holder = lease_holder(&nodes[0], training_schedule_lease());
    while holder.as_deref() != Some(names[first]) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        holder = lease_holder(&nodes[0], training_schedule_lease());
    }
    assert_eq!(holder.as_deref(), Some(names[first]), "the lease table names the node that runs it");
    // Workspaces count their own leases: the schedule's is not one of them.
    assert_eq!(gauge_until(&ports[first], "confab_cluster_leases_held", 0.0).await, 0.0);

    nodes[first].kill();
    let left: Vec<String> = (0..3).filter(|i| *i != first).map(|i| ports[i].clone()).collect();
    let after = schedule_gauges(&left).await;
    assert_eq!(after.iter().filter(|v| **v == 0.0).count(), 1, "another node took it over: {after:?}");
    assert_eq!(after.iter().filter(|v| **v == 1.0).count(), 1, "another node took it over: {after:?}");
}
