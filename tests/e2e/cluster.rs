//! The store on PostgreSQL (`[cluster] store`), as a node and its operator see it:
//! `/healthz` reports the store in both modes; in the PostgreSQL mode, a second node
//! on the same database is refused, `/healthz` turns 503 when the database stops
//! answering, and the sled-only commands say what to use instead. The rest of the
//! suite runs unchanged in both modes (`CONFAB_E2E_STORE`, see `confab_tests`).

use std::process::Stdio;
use std::time::{Duration, Instant};

use confab_tests::{StoreMode, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

crate::cases!(
    healthz_reports_the_store,
    a_second_node_on_one_database_is_refused,
    healthz_answers_503_when_the_database_stops_answering,
    sled_only_commands_point_to_postgresql_tools,
);

/// The tests that need the PostgreSQL store, which the sled mode skips.
pub const POSTGRES_ONLY: &[&str] = &[
    "a_second_node_on_one_database_is_refused",
    "healthz_answers_503_when_the_database_stops_answering",
    "sled_only_commands_point_to_postgresql_tools",
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
        assert_eq!(health(&server, path).await, (StatusCode::OK, healthy.clone()), "{path}");
    }
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
    assert_eq!(answer, (StatusCode::SERVICE_UNAVAILABLE, down));

    sql(format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"));
    let stopped =
        json!({"status": "unavailable", "store": "postgres", "store_reads": true, "writes_stopped": true});
    let answer = health_until(&server, |(_, body)| body["store_reads"] == true).await;
    assert_eq!(answer, (StatusCode::SERVICE_UNAVAILABLE, stopped));

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
