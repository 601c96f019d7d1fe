//! Bad input gets a specific error code, loses nothing, and the server stays up:
//! one table for HTTP, one for WebSocket frames.

use std::time::Duration;

use confab_client::ServerFrame;
use confab_tests::TestServer;
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

crate::cases!(
    http_bad_input_table,
    websocket_bad_frames_table,
    login_failures_are_throttled,
    a_corrupt_file_on_the_servers_disk_is_not_bad_input,
);

/// Who sends it, method, path, body; then the expected status and error code.
type BadRequest<'a> = (&'a confab_client::Client, Method, String, Option<String>, u16, &'static str);

async fn http_bad_input_table() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    let msg = ada.post(general, "keep me").await.unwrap().id;
    let long = "x".repeat(40_001);
    let huge = format!(r#"{{"text":"{}"}}"#, "y".repeat(300_000));
    let nested = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let anon = server.client();
    let table: Vec<BadRequest> = vec![
        (
            &anon,
            Method::POST,
            "/auth/signup".into(),
            Some(r#"{"email":"not-an-email","password":"long enough","display_name":"x"}"#.into()),
            400,
            "invalid_field",
        ),
        (
            &anon,
            Method::POST,
            "/auth/signup".into(),
            Some(r#"{"email":"a@b.co","password":"short","display_name":"x"}"#.into()),
            400,
            "invalid_field",
        ),
        (
            &anon,
            Method::POST,
            "/auth/signup".into(),
            Some(r#"{"email":"ada@example.com","password":"long enough","display_name":"x"}"#.into()),
            409,
            "email_taken",
        ),
        (
            &anon,
            Method::POST,
            "/auth/signup".into(),
            Some(r#"{"email":"c@d.co","password":"long enough","display_name":"x","admin":true}"#.into()),
            400,
            "invalid_request",
        ),
        (&anon, Method::POST, "/auth/signup".into(), Some("{not json".into()), 400, "invalid_request"),
        (
            &anon,
            Method::POST,
            "/auth/login".into(),
            Some(r#"{"email":"ada@example.com","password":"wrong password"}"#.into()),
            401,
            "invalid_credentials",
        ),
        (&anon, Method::GET, "/me".into(), None, 401, "unauthenticated"),
        (
            &ada,
            Method::POST,
            format!("/channels/{general}/messages"),
            Some(format!(r#"{{"text":"{long}"}}"#)),
            400,
            "invalid_field",
        ),
        (
            &ada,
            Method::POST,
            format!("/channels/{general}/messages"),
            Some(r#"{"text":"   "}"#.into()),
            400,
            "invalid_field",
        ),
        (
            &ada,
            Method::POST,
            format!("/channels/{general}/messages"),
            Some(r#"{"text":"a\u0000b"}"#.into()),
            400,
            "invalid_field",
        ),
        (
            &ada,
            Method::POST,
            format!("/channels/{general}/messages"),
            Some(r#"{"text":1}"#.into()),
            400,
            "invalid_request",
        ),
        (
            &ada,
            Method::POST,
            format!("/channels/{general}/messages"),
            Some(r#"{"text":"x","client_msg_id":""}"#.into()),
            400,
            "invalid_field",
        ),
        (
            &ada,
            Method::POST,
            format!("/channels/{general}/messages"),
            Some(r#"{"text":"x","thread_root":"nope"}"#.into()),
            400,
            "invalid_request",
        ),
        (&ada, Method::POST, format!("/channels/{general}/messages"), Some(huge), 413, "payload_too_large"),
        (&ada, Method::POST, format!("/channels/{general}/messages"), Some(nested), 400, "invalid_request"),
        (
            &ada,
            Method::POST,
            "/channels/not-an-id/messages".into(),
            Some(r#"{"text":"x"}"#.into()),
            400,
            "invalid_id",
        ),
        (
            &ada,
            Method::POST,
            "/channels/01ARZ3NDEKTSV4RRFFQ69G5FAV/messages".into(),
            Some(r#"{"text":"x"}"#.into()),
            404,
            "channel_not_found",
        ),
        (&ada, Method::GET, format!("/channels/{general}/messages?limit=0"), None, 400, "invalid_field"),
        (&ada, Method::GET, format!("/channels/{general}/messages?limit=abc"), None, 400, "invalid_request"),
        (
            &ada,
            Method::GET,
            format!("/channels/{general}/messages?before=2&after=1"),
            None,
            400,
            "invalid_field",
        ),
        (
            &ada,
            Method::POST,
            format!("/workspaces/{ws}/channels"),
            Some(r#"{"name":"Has Spaces"}"#.into()),
            400,
            "invalid_field",
        ),
        (
            &ada,
            Method::POST,
            format!("/workspaces/{ws}/channels"),
            Some(r#"{"name":"general"}"#.into()),
            409,
            "name_taken",
        ),
        (&ada, Method::POST, "/workspaces".into(), Some(r#"{"name":""}"#.into()), 400, "invalid_field"),
        (
            &ada,
            Method::POST,
            format!("/workspaces/{ws}/invites"),
            Some(r#"{"max_uses":0}"#.into()),
            400,
            "invalid_field",
        ),
        (
            &ada,
            Method::POST,
            format!("/workspaces/{ws}/invites"),
            Some(r#"{"role":"owner"}"#.into()),
            400,
            "invalid_field",
        ),
        (
            &ada,
            Method::POST,
            format!("/workspaces/{ws}/dms"),
            Some(r#"{"users":[]}"#.into()),
            400,
            "invalid_field",
        ),
        (&ada, Method::PUT, format!("/messages/{msg}/reactions/notanemoji"), None, 400, "invalid_field"),
        (
            &ada,
            Method::PATCH,
            format!("/messages/{msg}"),
            Some(r#"{"text":""}"#.into()),
            400,
            "invalid_field",
        ),
        (&ada, Method::GET, "/no/such/endpoint".into(), None, 404, "not_found"),
        (&ada, Method::DELETE, "/workspaces".into(), None, 400, "invalid_request"),
    ];
    let mut failures = Vec::new();
    for (client, method, path, body, status, code) in table {
        let (got, value) = client.raw(method.clone(), &path, body.as_deref()).await.unwrap();
        if got.as_u16() != status || value["error"]["code"] != code || !value["error"]["message"].is_string()
        {
            failures.push(format!("{method} {path}: expected {status} {code}, got {got} {value}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Nothing was lost and the server is still up.
    let history = ada.history(general, None, None, 10).await.unwrap();
    assert_eq!(history.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["keep me"]);
}

async fn websocket_bad_frames_table() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (_, general) = confab_tests::workspace(&ada, "W").await;

    // Before auth: anything else is refused and the connection closed.
    let (mut raw, _) = confab_client::Live::open(&server.url).await.unwrap();
    use futures_util::{SinkExt, StreamExt};
    raw.send(Message::text(r#"{"type":"send","req":"1","channel":"x","text":"hi"}"#)).await.unwrap();
    let reply = raw.next().await.unwrap().unwrap();
    assert!(reply.to_text().unwrap().contains("not_authenticated_yet"), "{reply:?}");
    let (mut raw, _) = confab_client::Live::open(&server.url).await.unwrap();
    raw.send(Message::text(r#"{"type":"auth","token":"wrong"}"#)).await.unwrap();
    let reply = raw.next().await.unwrap().unwrap();
    assert!(reply.to_text().unwrap().contains("unauthenticated"), "{reply:?}");

    let mut live = ada.connect(&[]).await.unwrap();
    let nested = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
    let cases: Vec<(Message, &str)> = vec![
        (Message::text("not json"), "invalid_request"),
        (Message::text(r#"{"type":"dance"}"#), "unknown_frame"),
        (Message::text(nested), "invalid_request"),
        (Message::binary(vec![0xff, 0xfe]), "invalid_request"),
        (Message::text(json!({"type":"send","req":"r","channel":general}).to_string()), "invalid_request"),
        (
            Message::text(json!({"type":"send","req":"r","channel":"bad","text":"x"}).to_string()),
            "invalid_request",
        ),
        (
            Message::text(json!({"type":"send","req":"r","channel":general,"text":""}).to_string()),
            "invalid_field",
        ),
        (
            Message::text(
                json!({"type":"send","req":"r","channel":general,"text":"x".repeat(40_001)}).to_string(),
            ),
            "invalid_field",
        ),
        (
            Message::text(json!({"type":"typing","channel":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}).to_string()),
            "channel_not_found",
        ),
        (Message::text(json!({"type":"auth","token":"again"}).to_string()), "invalid_request"),
    ];
    for (frame, code) in cases {
        let shown = format!("{frame:?}").chars().take(80).collect::<String>();
        live.send_raw(frame).await.unwrap();
        let reply = live
            .wait_for(Duration::from_secs(10), "error", |f| matches!(f, ServerFrame::Error { .. }))
            .await
            .unwrap();
        let ServerFrame::Error { error, .. } = reply else { unreachable!() };
        assert_eq!(error.code.as_str(), code, "{shown}");
    }
    // Still connected, still working.
    live.send_message("ok", general, "still here").await.unwrap();
    let ack = live
        .wait_for(Duration::from_secs(10), "ack", |f| matches!(f, ServerFrame::Ack { .. }))
        .await
        .unwrap();
    assert!(matches!(ack, ServerFrame::Ack { message, .. } if message.text == "still here"));
    // A frame over the size limit closes the connection cleanly; the server stays up.
    let _ = live.send_raw(Message::text("z".repeat(300_000))).await;
    let closed =
        live.wait_for(Duration::from_secs(10), "close", |f| matches!(f, ServerFrame::Closed { .. })).await;
    assert!(closed.is_ok() || matches!(closed, Err(confab_client::ClientError::WebSocket(_))), "{closed:?}");
    assert_eq!(ada.me().await.unwrap().username, "ada");
}

async fn login_failures_are_throttled() {
    let server = TestServer::start_with(&[("CONFAB_AUTH_LOGIN_FAILURES_PER_PAIR", "3")]);
    let (_ada, _) = server.user("ada").await;
    // One node: how failures reach the other nodes of a cluster is
    // `cluster::log_in_failures_count_on_every_node`.
    let anon = confab_client::Client::new(&server.url);
    let body = r#"{"email":"ada@example.com","password":"wrong password"}"#;
    for _ in 0..3 {
        let (status, _) = anon.raw(Method::POST, "/auth/login", Some(body)).await.unwrap();
        assert_eq!(status.as_u16(), 401);
    }
    let (status, value) = anon.raw(Method::POST, "/auth/login", Some(body)).await.unwrap();
    assert_eq!((status.as_u16(), value["error"]["code"].as_str()), (429, Some("rate_limited")));
    // Even the right password waits until the block ends.
    let good = r#"{"email":"ada@example.com","password":"correct horse battery"}"#;
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", server.url))
        .header("content-type", "application/json")
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
}

/// What is broken on the server's own disk is not the client's bad input: a model
/// manifest that does not parse answers `internal` (500) with the generic message,
/// never the parse error or the file; a malformed request to the same routes is
/// still the client's (400 with its code), and suggestions fall back to the defaults.
async fn a_corrupt_file_on_the_servers_disk_is_not_bad_input() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (ws, _) = confab_tests::workspace(&ada, "W").await;
    let id = "emoji-suggestions-ws-1700000000000-0123456789abcdef";
    let model = server.models_dir().join(id);
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("manifest.json"), br#"{"id": "emoji-sugg"#).unwrap();

    let (_, policies) = ada.raw(Method::GET, "/consent/policies", None).await.unwrap();
    let policy =
        policies["policies"].as_array().unwrap().iter().find(|p| p["purpose"] == "emoji_suggestions");
    let policy = policy.unwrap().clone();
    let grant = |accept: bool| {
        json!({
            "granted": true, "scope": "workspace", "categories": ["messages"], "members": "opt_out",
            "policy_version": policy["version"], "policy_sha256": policy["sha256"], "accept": accept,
        })
        .to_string()
    };
    let consent = format!("/workspaces/{ws}/consent/emoji_suggestions");
    let (status, refused) = ada.raw(Method::PUT, &consent, Some(&grant(false))).await.unwrap();
    assert_eq!((status.as_u16(), refused["error"]["code"].as_str()), (400, Some("consent_not_explicit")));

    let models = format!("/workspaces/{ws}/models");
    let (status, listed) = ada.raw(Method::GET, &models, None).await.unwrap();
    assert_eq!((status.as_u16(), listed["error"]["code"].as_str()), (500, Some("internal")), "{listed}");
    let (status, granted) = ada.raw(Method::PUT, &consent, Some(&grant(true))).await.unwrap();
    assert_eq!((status.as_u16(), granted["error"]["code"].as_str()), (500, Some("internal")), "{granted}");
    for body in [&listed, &granted] {
        let message = body["error"]["message"].as_str().unwrap();
        for cause in [id, "manifest", "EOF", "models/"] {
            assert!(!message.contains(cause), "the client is shown the cause ({cause:?}): {message}");
        }
    }

    let (status, picker) =
        ada.raw(Method::GET, &format!("/workspaces/{ws}/emoji/suggest?prefix=tad"), None).await.unwrap();
    assert!(status.is_success(), "{picker}");
    assert!(!picker["suggestions"].as_array().unwrap().is_empty(), "{picker}");
}
