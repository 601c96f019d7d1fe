//! A hostile client against a real server: every input has a limit, memory stays
//! bounded, and one client's abuse does not lock others out (issue 12).

use std::time::Duration;

use confab_client::{Live, ServerFrame};
use confab_core::Event;
use confab_tests::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

crate::cases!(
    a_reader_whose_acks_arrive_together_is_not_closed,
    message_text_is_limited_in_bytes_not_only_in_writes,
    a_repeated_resume_list_replays_each_workspace_once,
    a_replay_past_the_byte_budget_gets_resync,
    a_resume_flood_that_never_reads_keeps_memory_bounded,
    errors_echo_at_most_a_few_dozen_characters_of_input,
    a_client_that_sends_but_never_reads_is_closed,
    a_full_reply_queue_closes_with_the_resume_code,
    a_write_that_makes_no_progress_drops_the_connection,
    posts_over_the_rate_are_refused_without_parsing_their_mentions,
    web_pages_carry_a_strict_content_security_policy,
    metrics_are_served_only_on_the_metrics_listener,
    the_data_dir_and_its_files_are_owner_only,
    a_strangers_wrong_passwords_do_not_lock_the_owner_out,
    forwarded_for_is_believed_only_from_trusted_proxies,
    sign_ups_are_throttled_per_address,
    log_ins_do_not_wait_behind_queued_sign_ups,
    log_ins_for_unknown_emails_compute_no_hash,
);

const WAIT: Duration = Duration::from_secs(10);

/// The server's resident memory, in KiB.
fn rss_kib(server: &TestServer) -> u64 {
    let pid = server.pid().expect("server running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

type RawSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An authenticated socket that the test drives frame by frame (or never reads).
async fn raw_socket(server: &TestServer, auth: serde_json::Value) -> RawSocket {
    let (mut socket, _) = Live::open(&server.url).await.expect("open a socket");
    socket.send(Message::text(auth.to_string())).await.expect("send auth");
    socket
}

/// Reads until a `pong` with `req`, counting `message.created` events and resyncs.
async fn count_until_pong(live: &mut Live, req: u64) -> (usize, usize) {
    live.send_json(&json!({"type": "ping", "req": req})).await.unwrap();
    let (mut created, mut resyncs) = (0, 0);
    loop {
        match live.next(WAIT).await.unwrap() {
            ServerFrame::Pong { .. } => return (created, resyncs),
            ServerFrame::Event { event: Event::MessageCreated { .. }, .. } => created += 1,
            ServerFrame::Resync { .. } => resyncs += 1,
            ServerFrame::Closed { code, reason } => panic!("closed {code:?} {reason}"),
            _ => {}
        }
    }
}

async fn a_repeated_resume_list_replays_each_workspace_once() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    for i in 0..5 {
        ada.post(general, &format!("m{i}")).await.unwrap();
    }
    let resume: Vec<_> = std::iter::repeat_n((ws, 0), 25).collect();
    let mut live = ada.connect(&resume).await.unwrap();
    let (created, resyncs) = count_until_pong(&mut live, 1).await;
    assert_eq!((created, resyncs), (5, 0), "one workspace named 25 times is replayed once");
}

async fn a_replay_past_the_byte_budget_gets_resync() {
    let server = TestServer::start_with(&[("CONFAB_WEBSOCKET_REPLAY_BUDGET_BYTES", "4000")]);
    let (ada, _) = server.user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    let (small_ws, small_general) = confab_tests::workspace(&ada, "Small").await;
    let text = "y".repeat(500);
    for _ in 0..20 {
        ada.post(general, &text).await.unwrap();
    }
    ada.post(small_general, "hi").await.unwrap();

    // Within the budget: the small workspace is replayed in full.
    let mut live = ada.connect(&[(small_ws, 0)]).await.unwrap();
    assert_eq!(count_until_pong(&mut live, 1).await, (1, 0));
    live.close().await.unwrap();

    // 20 messages of 500 bytes are past 4000 bytes: some events, then `resync`.
    let mut live = ada.connect(&[(ws, 0)]).await.unwrap();
    let (created, resyncs) = count_until_pong(&mut live, 2).await;
    assert_eq!(resyncs, 1, "a replay past the budget ends with resync");
    assert!(created < 8, "the replay stopped at the budget, sent {created}");
}

async fn a_resume_flood_that_never_reads_keeps_memory_bounded() {
    let server = TestServer::start_with(&[
        ("CONFAB_LIMITS_MESSAGES_PER_SECOND", "100000"),
        ("CONFAB_LIMITS_MESSAGE_BURST", "100000"),
        ("CONFAB_LIMITS_TEXT_BYTES_PER_SECOND", "1000000000"),
        ("CONFAB_LIMITS_TEXT_BURST_BYTES", "1000000000"),
        // The budget is not what bounds memory here: streaming is.
        ("CONFAB_WEBSOCKET_REPLAY_BUDGET_BYTES", "1000000000"),
    ]);
    let (ada, ada_session) = server.user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    // 12 MB of log.
    let big = "z".repeat(30_000);
    for _ in 0..400 {
        ada.post(general, &big).await.unwrap();
    }
    // Warm up: one full replay that is read, so caches are as full as they get.
    let mut live = ada.connect(&[(ws, 0)]).await.unwrap();
    assert_eq!(count_until_pong(&mut live, 1).await.0, 400);
    live.close().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(&server);

    // Attackers name the workspace 25 times each and never read.
    let resume: Vec<_> = (0..25).map(|_| json!({"workspace": ws, "after": 0})).collect();
    let mut sockets = Vec::new();
    for _ in 0..2 {
        let auth = json!({"type": "auth", "token": ada_session.token, "resume": resume});
        sockets.push(raw_socket(&server, auth).await);
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let grown_mib = rss_kib(&server).saturating_sub(before) / 1024;
    assert!(grown_mib < 24, "2 resume floods of 25 x 12 MB grew the server by {grown_mib} MiB");
    drop(sockets);
}

/// The next frame of a raw socket that is an `error`, as JSON.
async fn next_error(socket: &mut RawSocket) -> serde_json::Value {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next()).await.expect("a frame in time");
        if let Some(Ok(Message::Text(text))) = message {
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            if value["type"] == "error" {
                return value;
            }
        } else {
            panic!("expected an error frame, got {message:?}");
        }
    }
}

async fn errors_echo_at_most_a_few_dozen_characters_of_input() {
    let server = TestServer::start();
    let (_, session) = server.user("ada").await;
    let mut socket = raw_socket(&server, json!({"type": "auth", "token": session.token})).await;
    let long = "q".repeat(100_000);
    // An unknown type is named in the error...
    socket.send(Message::text(json!({"type": long}).to_string())).await.unwrap();
    let error = next_error(&mut socket).await;
    assert_eq!(error["error"]["code"], "unknown_frame");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.len() < 200, "an unknown type is echoed in {} bytes", message.len());
    // ...and so is a bad field in serde's message.
    let frame = json!({"type": "send", "req": "1", "channel": long, "text": "hi"});
    socket.send(Message::text(frame.to_string())).await.unwrap();
    let error = next_error(&mut socket).await;
    assert_eq!(error["error"]["code"], "invalid_request");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.len() < 300, "a parse error is echoed in {} bytes", message.len());
}

/// Reads a socket until it ends; returns the close code, if the server sent one.
/// Panics if the socket is still open after `within`.
async fn read_to_end(socket: &mut RawSocket, within: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Err(_) => panic!("the server did not close the connection within {within:?}"),
            Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

async fn a_client_that_sends_but_never_reads_is_closed() {
    let server = TestServer::start_with(&[("CONFAB_WEBSOCKET_PING_INTERVAL_SECS", "1")]);
    let (_, session) = server.user("ada").await;
    let mut socket = raw_socket(&server, json!({"type": "auth", "token": session.token})).await;
    // The client keeps sending for longer than three ping intervals but never reads,
    // so it never answers the server's pings.
    let mut send_failed = false;
    for _ in 0..40 {
        let frame = Message::text(json!({"type": "presence", "status": "online"}).to_string());
        if socket.send(frame).await.is_err() {
            // The server already closed the connection.
            send_failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let code = read_to_end(&mut socket, Duration::from_secs(5)).await;
    assert!(
        code == Some(4002) || (send_failed && code.is_none()),
        "a peer that answers no pings is closed as timed out (code {code:?})"
    );
}

/// An authenticated socket whose receive buffer is small, so the server's writes to
/// it stall soon once the test stops reading.
async fn small_buffer_socket(server: &TestServer, token: &str) -> RawSocket {
    let addr: std::net::SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(addr).await.unwrap();
    let url = format!("ws://{addr}/api/v1/ws");
    let (mut socket, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .expect("websocket handshake");
    socket.send(Message::text(json!({"type": "auth", "token": token}).to_string())).await.unwrap();
    socket
}

/// Sends `ping` frames (each answered with a pong) without reading, for `duration`.
async fn flood_pings(socket: &mut RawSocket, duration: Duration) {
    let req = "r".repeat(64);
    let frame = json!({"type": "ping", "req": req}).to_string();
    let until = tokio::time::Instant::now() + duration;
    while tokio::time::Instant::now() < until {
        for _ in 0..100 {
            // A send blocks once the socket's buffers are full: if the server has
            // stopped reading (it closed the connection), it would block until TCP
            // gives up, many minutes later. The flood ends with its duration.
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, socket.send(Message::text(frame.clone()))).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return,
            }
        }
        tokio::task::yield_now().await;
    }
}

async fn a_full_reply_queue_closes_with_the_resume_code() {
    let server = TestServer::start_with(&[
        ("CONFAB_WEBSOCKET_DIRECT_QUEUE_FRAMES", "8"),
        ("CONFAB_WEBSOCKET_WRITE_TIMEOUT_SECS", "120"),
        ("CONFAB_WEBSOCKET_CLOSE_TIMEOUT_SECS", "120"),
        ("CONFAB_LIMITS_FRAMES_PER_SECOND", "1000000"),
        ("CONFAB_LIMITS_FRAME_BURST", "1000000"),
    ]);
    let (_, session) = server.user("ada").await;
    let mut socket = small_buffer_socket(&server, &session.token).await;
    flood_pings(&mut socket, Duration::from_secs(4)).await;
    let code = read_to_end(&mut socket, Duration::from_secs(20)).await;
    assert_eq!(code, Some(4000), "a client whose replies pile up is told to resume");
}

async fn a_write_that_makes_no_progress_drops_the_connection() {
    let server = TestServer::start_with(&[
        ("CONFAB_WEBSOCKET_WRITE_TIMEOUT_SECS", "2"),
        ("CONFAB_WEBSOCKET_DIRECT_QUEUE_FRAMES", "1000000"),
        ("CONFAB_LIMITS_FRAMES_PER_SECOND", "1000000"),
        ("CONFAB_LIMITS_FRAME_BURST", "1000000"),
    ]);
    let (_, session) = server.user("ada").await;
    let mut socket = small_buffer_socket(&server, &session.token).await;
    // Flood until the socket breaks: once the pongs fill the buffers (sooner or later,
    // however busy the machine), the server's writer is stuck, and write_timeout_secs
    // later the server drops the socket, which ends the flood.
    flood_pings(&mut socket, Duration::from_secs(60)).await;
    let code = read_to_end(&mut socket, Duration::from_secs(20)).await;
    assert_eq!(code, None, "a stuck write ends the connection without a handshake");
}

async fn posts_over_the_rate_are_refused_without_parsing_their_mentions() {
    let server = TestServer::start_with(&[
        ("CONFAB_LIMITS_MESSAGES_PER_SECOND", "1"),
        ("CONFAB_LIMITS_MESSAGE_BURST", "1"),
    ]);
    let (ada, _) = server.user("ada").await;
    let (_, general) = confab_tests::workspace(&ada, "W").await;
    ada.post(general, "spends the burst").await.unwrap();
    // 40,000 characters of distinct mentions: parsing them took a quadratic pass
    // before the rate was checked.
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 39_990 {
        text.push_str(&format!("@u{i} "));
        i += 1;
    }
    let started = std::time::Instant::now();
    for _ in 0..20 {
        match ada.post(general, &text).await {
            Err(confab_client::ClientError::Api { error, .. }) => {
                assert_eq!(error.code, confab_core::ErrorCode::RateLimited)
            }
            Err(e) => panic!("expected rate_limited, got {e}"),
            Ok(m) => panic!("expected rate_limited, got message {}", m.id),
        }
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "20 refused posts took {took:?}");
}

/// The writes limit counts an edit of 160 KB like one of 10 bytes; the text limit
/// counts the bytes every member is sent and the index stores.
async fn message_text_is_limited_in_bytes_not_only_in_writes() {
    let server = TestServer::start_with(&[
        ("CONFAB_LIMITS_MAX_MESSAGE_CHARS", "1000"),
        ("CONFAB_LIMITS_TEXT_BYTES_PER_SECOND", "1"),
        ("CONFAB_LIMITS_TEXT_BURST_BYTES", "8000"),
    ]);
    let (ada, _) = server.user("ada").await;
    let (bob, _) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    let message = ada.post(general, "short text").await.unwrap();
    let long = "x".repeat(1000);
    for i in 0..7 {
        ada.edit(message.id, &long).await.unwrap_or_else(|e| panic!("edit {i} within the burst: {e}"));
    }
    match ada.edit(message.id, &long).await {
        Err(confab_client::ClientError::Api { error, .. }) => {
            assert_eq!(error.code, confab_core::ErrorCode::RateLimited)
        }
        other => panic!("the 8th 1,000-byte edit should be rate_limited, got {other:?}"),
    }
    match ada.post(general, &long).await {
        Err(confab_client::ClientError::Api { error, .. }) => {
            assert_eq!(error.code, confab_core::ErrorCode::RateLimited, "posts share the allowance")
        }
        other => panic!("a 1,000-byte post should be rate_limited, got {other:?}"),
    }
    // What is left of the burst still takes a short edit, and other members have their own.
    ada.edit(message.id, "fits").await.expect("a short edit within what is left");
    bob.post(general, &long).await.expect("another member's allowance is untouched");
}

async fn web_pages_carry_a_strict_content_security_policy() {
    let server = TestServer::start();
    let http = reqwest::Client::new();
    for path in ["/", "/index.html", "/js/main.js", "/css/app.css", "/no-such-file"] {
        let response = http.get(format!("{}{path}", server.url)).send().await.unwrap();
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
        };
        let csp = header("content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{path}: CSP {csp:?}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: CSP {csp:?}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert!(!header("referrer-policy").is_empty(), "{path}: no Referrer-Policy");
    }
}

async fn metrics_are_served_only_on_the_metrics_listener() {
    let (server, metrics_at) = server_with_metrics(&[]);
    let http = reqwest::Client::new();
    for path in ["/metrics", "/api/v1/metrics"] {
        let response = http.get(format!("{}{path}", server.url)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path} is not public");
    }
    // Some traffic, so there is something to report.
    server.user("ada").await;
    let mut body = String::new();
    for _ in 0..50 {
        if let Ok(response) = http.get(format!("http://{metrics_at}/metrics")).send().await {
            assert_eq!(response.status(), 200);
            body = response.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(body.contains("confab_http_request_seconds"), "metrics served on {metrics_at}: {body:.200}");
}

/// A server whose metrics are served on a loopback port of their own, and that address.
fn server_with_metrics(env: &[(&str, &str)]) -> (TestServer, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metrics_at = format!("127.0.0.1:{port}");
    let mut env = env.to_vec();
    env.push(("CONFAB_SERVER_METRICS_LISTEN", &metrics_at));
    (TestServer::start_with(&env), metrics_at)
}

/// The value of the sample `series` (name and labels, as rendered) in the server's
/// metrics, 0 when it has none yet.
async fn metric(metrics_at: &str, series: &str) -> f64 {
    let http = reqwest::Client::new();
    let mut body = None;
    for _ in 0..50 {
        if let Ok(response) = http.get(format!("http://{metrics_at}/metrics")).send().await {
            body = Some(response.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = body.unwrap_or_else(|| panic!("no metrics on {metrics_at}"));
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn log_ins_for_unknown_emails_compute_no_hash() {
    let (server, metrics_at) = server_with_metrics(&[]);
    server.user("ada").await;
    let hashes = r#"confab_password_hashes_total{purpose="log-in"}"#;
    let stranger = http_from([127, 0, 0, 2]);
    // A wrong password for a real account is checked against its hash...
    assert_eq!(try_login(&stranger, &server, "ada@example.com", "guess").await.1, "invalid_credentials");
    assert_eq!(metric(&metrics_at, hashes).await, 1.0);
    // ...and made-up emails get the same answer, after as long, without one.
    for i in 0..6 {
        let email = format!("nobody-{i}@example.com");
        assert_eq!(try_login(&stranger, &server, &email, "guess").await, (401, "invalid_credentials".into()));
    }
    assert_eq!(metric(&metrics_at, hashes).await, 1.0, "no hash for an email without an account");
    assert_eq!(metric(&metrics_at, "confab_login_decoys_total").await, 6.0);
}

async fn the_data_dir_and_its_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start_creating_data_dir(&[]);
    let (ada, _) = server.user("ada").await;
    confab_tests::workspace(&ada, "W").await;
    // The admin socket exists once the server answers commands through it.
    let out = server.cli(&["consent", "policies"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut stack = vec![server.data_dir().to_path_buf()];
    let mut seen = 0;
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", path.display());
        seen += 1;
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    assert!(seen > 3, "the data dir holds the store, the index and the admin socket");
    let dir_mode = std::fs::metadata(server.data_dir()).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
}

/// An HTTP client whose requests come from `local` (any 127.0.0.0/8 address is this
/// machine), so tests can be several client addresses.
fn http_from(local: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder().local_address(std::net::IpAddr::from(local)).build().unwrap()
}

/// Posts a log-in and returns the status and, if refused, the error code.
async fn try_login(
    http: &reqwest::Client,
    server: &TestServer,
    email: &str,
    password: &str,
) -> (u16, String) {
    try_login_via(http, server, email, password, None).await
}

async fn try_login_via(
    http: &reqwest::Client,
    server: &TestServer,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> (u16, String) {
    let mut request = http
        .post(format!("{}/api/v1/auth/login", server.url))
        .json(&json!({"email": email, "password": password}));
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    (status, body["error"]["code"].as_str().unwrap_or_default().to_string())
}

const PASSWORD: &str = "correct horse battery";

async fn a_strangers_wrong_passwords_do_not_lock_the_owner_out() {
    let server = TestServer::start();
    // Ada signs up (and so is known) from 127.0.0.1.
    server.user("ada").await;
    let stranger = http_from([127, 0, 0, 2]);
    let mut refused = false;
    for _ in 0..8 {
        let (status, code) = try_login(&stranger, &server, "ada@example.com", "guess").await;
        assert!(status == 401 || (status == 429 && code == "rate_limited"), "{status} {code}");
        refused |= status == 429;
    }
    assert!(refused, "the stranger is throttled");
    // Even the right password waits, from the stranger's address...
    assert_eq!(try_login(&stranger, &server, "ada@example.com", PASSWORD).await.0, 429);
    // ...but Ada, from her own address, gets in.
    let owner = http_from([127, 0, 0, 1]);
    assert_eq!(try_login(&owner, &server, "ada@example.com", PASSWORD).await, (200, String::new()));
}

async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let server = TestServer::start_with(&[
        ("CONFAB_SERVER_TRUSTED_PROXIES", "127.0.0.1"),
        ("CONFAB_AUTH_LOGIN_FAILURES_PER_ADDRESS", "3"),
    ]);
    let proxy = http_from([127, 0, 0, 1]);
    // Through the trusted proxy: each forwarded address is its own client.
    for i in 0..4 {
        let email = format!("nobody{i}@example.com");
        try_login_via(&proxy, &server, &email, "guess", Some("203.0.113.1")).await;
    }
    let (status, _) = try_login_via(&proxy, &server, "other@example.com", "guess", Some("203.0.113.1")).await;
    assert_eq!(status, 429, "203.0.113.1 spent its allowance");
    let (status, _) = try_login_via(&proxy, &server, "other@example.com", "guess", Some("203.0.113.2")).await;
    assert_eq!(status, 401, "203.0.113.2 is another client");
    // From a peer that is not a trusted proxy the header means nothing.
    let direct = http_from([127, 0, 0, 3]);
    for i in 0..4 {
        let email = format!("nobody{i}@example.com");
        try_login_via(&direct, &server, &email, "guess", Some(&format!("198.51.100.{i}"))).await;
    }
    let (status, _) = try_login_via(&direct, &server, "x@example.com", "guess", Some("198.51.100.99")).await;
    assert_eq!(status, 429, "a forged X-Forwarded-For does not escape the throttle");
}

async fn sign_ups_are_throttled_per_address() {
    let server = TestServer::start_with(&[("CONFAB_AUTH_SIGNUPS_PER_ADDRESS", "3")]);
    let signup = |http: reqwest::Client, name: String| {
        let url = format!("{}/api/v1/auth/signup", server.url);
        async move {
            let body =
                json!({"email": format!("{name}@example.com"), "password": PASSWORD, "display_name": name});
            http.post(url).json(&body).send().await.unwrap().status().as_u16()
        }
    };
    let one = http_from([127, 0, 0, 2]);
    for i in 0..3 {
        assert_eq!(signup(one.clone(), format!("a{i}")).await, 201);
    }
    assert_eq!(signup(one.clone(), "a3".into()).await, 429, "the fourth sign-up from one address waits");
    assert_eq!(signup(http_from([127, 0, 0, 3]), "b0".into()).await, 201, "another address may sign up");
}

async fn log_ins_do_not_wait_behind_queued_sign_ups() {
    // The real password-hashing cost, where a queue of sign-ups takes seconds.
    let server = TestServer::start_with(&[
        ("CONFAB_AUTH_ARGON2_MEMORY_KIB", "19456"),
        ("CONFAB_AUTH_ARGON2_ITERATIONS", "2"),
        ("CONFAB_AUTH_SIGNUPS_PER_ADDRESS", "1000"),
    ]);
    server.user("ada").await;
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    assert_eq!(try_login(&http, &server, "ada@example.com", PASSWORD).await.0, 200);
    let alone = started.elapsed();
    let mut signups = Vec::new();
    for i in 0..48 {
        let (http, url) = (http.clone(), format!("{}/api/v1/auth/signup", server.url));
        signups.push(tokio::spawn(async move {
            let body =
                json!({"email": format!("s{i}@example.com"), "password": PASSWORD, "display_name": "s"});
            http.post(url).json(&body).send().await.unwrap().status().as_u16()
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    assert_eq!(try_login(&http, &server, "ada@example.com", PASSWORD).await.0, 200);
    let behind = started.elapsed();
    for s in signups {
        assert_eq!(s.await.unwrap(), 201);
    }
    assert!(
        behind < alone * 5 + Duration::from_millis(400),
        "a log-in took {behind:?} behind 48 sign-ups, {alone:?} alone"
    );
}

/// A client that reads everything, with many sends in flight whose acks are released
/// together by one flush, is never closed for a full reply queue: acks have room of
/// their own. (Before, acks shared the `direct_queue_frames` slots and the benchmark's
/// legitimate sender was closed with 4000.)
async fn a_reader_whose_acks_arrive_together_is_not_closed() {
    let server = TestServer::start_with(&[
        ("CONFAB_WEBSOCKET_DIRECT_QUEUE_FRAMES", "2"),
        ("CONFAB_WEBSOCKET_MAX_INFLIGHT_SENDS", "64"),
        ("CONFAB_LIMITS_MESSAGES_PER_SECOND", "100000"),
        ("CONFAB_LIMITS_MESSAGE_BURST", "100000"),
        ("CONFAB_LIMITS_FRAMES_PER_SECOND", "100000"),
        ("CONFAB_LIMITS_FRAME_BURST", "100000"),
        ("CONFAB_LIMITS_TEXT_BYTES_PER_SECOND", "1000000000"),
        ("CONFAB_LIMITS_TEXT_BURST_BYTES", "1000000000"),
    ]);
    let (ada, _) = server.user("ada").await;
    let (_, general) = confab_tests::workspace(&ada, "W").await;
    let mut live = ada.connect(&[]).await.unwrap();
    for round in 0..5 {
        // 64 sends written before any ack is read: their acks leave in bursts.
        for n in 0..64 {
            live.send_message(&format!("{round}-{n}"), general, "burst").await.unwrap();
        }
        let mut acked = 0;
        while acked < 64 {
            match live.next(WAIT).await.unwrap() {
                ServerFrame::Ack { .. } => acked += 1,
                ServerFrame::Closed { code, reason } => panic!("closed {code:?} {reason} after {acked} acks"),
                _ => {}
            }
        }
    }
}
