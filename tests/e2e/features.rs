//! Search, suggestions and consent through the HTTP API, as a client uses them.

use std::time::{Duration, Instant};

use confab_client::{Client, ServerFrame};
use confab_core::Event;
use confab_tests::TestServer;
use reqwest::Method;
use serde_json::{Value, json};

crate::cases!(
    search_finds_new_messages_with_operators_and_permissions,
    search_index_is_rebuilt_from_the_store,
    search_pages_through_every_result_and_features_name_the_message_limit,
    suggestions_stay_inside_their_workspace,
    consent_is_explicit_owner_only_recorded_and_revocable,
    training_reads_only_consented_workspaces_and_withdrawal_retires_models,
);

/// Polls a search until `pred` holds (the index commits in the background).
async fn search_until(client: &Client, ws: &str, q: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    let path = format!("/workspaces/{ws}/search?q={}", urlencode(q));
    loop {
        let (status, body) = client.raw(Method::GET, &path, None).await.unwrap();
        if status.is_success() && pred(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "search {q:?} never satisfied the check; last answer {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// The web client's "Load more": pages by `offset` cover every hit once, the
/// parameters are bounded, and `/features` tells a client the text limit it counts to.
async fn search_pages_through_every_result_and_features_name_the_message_limit() {
    let server = TestServer::start_with(&[
        ("CONFAB_LIMITS_MAX_MESSAGE_CHARS", "300"),
        ("CONFAB_LIMITS_MESSAGES_PER_SECOND", "1000"),
        ("CONFAB_LIMITS_SEARCHES_PER_SECOND", "1000"),
    ]);
    let (ada, _) = server.user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    let wsid = ws.to_string();
    for i in 0..25 {
        ada.post(general, &format!("release note number {i}")).await.unwrap();
    }
    search_until(&ada, &wsid, "release", |b| b["total"] == 25).await;
    let mut seen = std::collections::BTreeSet::new();
    for (offset, expected) in [(0, 10), (10, 10), (20, 5), (30, 0)] {
        let path = format!("/workspaces/{wsid}/search?q=release&limit=10&offset={offset}");
        let (status, page) = ada.raw(Method::GET, &path, None).await.unwrap();
        assert!(status.is_success(), "{status} {page}");
        assert_eq!(page["total"], 25);
        assert_eq!(page["hits"].as_array().unwrap().len(), expected, "offset {offset}: {page}");
        for text in texts(&page) {
            assert!(seen.insert(text.clone()), "{text} shown on two pages");
        }
    }
    assert_eq!(seen.len(), 25);
    for (query, field) in [("offset=1001", "offset"), ("limit=101", "limit"), ("limit=0", "limit")] {
        let path = format!("/workspaces/{wsid}/search?q=release&{query}");
        let (status, err) = ada.raw(Method::GET, &path, None).await.unwrap();
        assert_eq!(status.as_u16(), 400, "{query}: {err}");
        assert_eq!(err["error"]["code"], "invalid_field", "{query}: {err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(field), "{query}: {err}");
    }
    let (status, features) = Client::new(&server.url).raw(Method::GET, "/features", None).await.unwrap();
    assert!(status.is_success());
    assert_eq!(features["max_message_chars"], 300, "{features}");
    let too_long = json!({"text": "x".repeat(301)}).to_string();
    let (status, err) =
        ada.raw(Method::POST, &format!("/channels/{general}/messages"), Some(&too_long)).await.unwrap();
    assert_eq!((status.as_u16(), err["error"]["code"].as_str()), (400, Some("invalid_field")));
}

/// The current policy of a purpose, as `GET /consent/policies` shows it.
async fn policy(client: &Client, purpose: &str) -> Value {
    let (_, policies) = client.raw(Method::GET, "/consent/policies", None).await.unwrap();
    policies["policies"].as_array().unwrap().iter().find(|p| p["purpose"] == purpose).unwrap().clone()
}

fn texts(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| h["message"]["text"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn search_finds_new_messages_with_operators_and_permissions() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (bob, bob_s) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    let secret = ada.create_channel(ws, "secret", true).await.unwrap().id;
    ada.add_member(secret, bob_s.user.id).await.unwrap();
    let wsid = ws.to_string();

    let posted = Instant::now();
    ada.post(general, "the deploy pipeline is green").await.unwrap();
    let body = search_until(&bob, &wsid, "deploy", |b| b["total"] == 1).await;
    let searchable_after = posted.elapsed();
    assert!(searchable_after < Duration::from_secs(2), "searchable after {searchable_after:?}");
    let snippet = &body["hits"][0]["snippet"];
    assert!(
        snippet
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["highlight"] == true && p["text"].as_str().unwrap().to_lowercase().contains("deploy")),
        "{snippet}"
    );

    bob.post(general, "deploying tomorrow, pipeline permitting").await.unwrap();
    ada.post(secret, "secret deploy plans").await.unwrap();
    search_until(&bob, &wsid, "deploy", |b| b["total"] == 3).await;
    // Each node of a cluster indexes on its own: Ada's may be a moment behind Bob's.
    search_until(&ada, &wsid, "deploy", |b| b["total"] == 3).await;
    // Operators.
    let from_bob = search_until(&ada, &wsid, "deploy from:@bob", |b| b["total"].as_u64().is_some()).await;
    assert_eq!(texts(&from_bob), ["deploying tomorrow, pipeline permitting"]);
    let in_secret = search_until(&ada, &wsid, "deploy in:#secret", |b| b["total"].as_u64().is_some()).await;
    assert_eq!(texts(&in_secret), ["secret deploy plans"]);
    let phrase = search_until(&ada, &wsid, "\"pipeline is green\"", |b| b["total"].as_u64().is_some()).await;
    assert_eq!(texts(&phrase), ["the deploy pipeline is green"]);
    let excluded = search_until(&ada, &wsid, "deploy -secret", |b| b["total"].as_u64().is_some()).await;
    assert_eq!(excluded["total"], 2);
    // Leaving the private channel hides its messages at once.
    bob.leave(secret).await.unwrap();
    let (_, now) = bob.raw(Method::GET, &format!("/workspaces/{wsid}/search?q=deploy"), None).await.unwrap();
    assert!(!texts(&now).contains(&"secret deploy plans".to_string()), "{now}");
    assert_eq!(now["total"], 2);
    // Malformed queries say where; outsiders learn nothing.
    let (status, err) =
        ada.raw(Method::GET, &format!("/workspaces/{wsid}/search?q=%22open"), None).await.unwrap();
    assert_eq!((status.as_u16(), err["error"]["code"].as_str()), (400, Some("invalid_query")));
    let (outsider, _) = server.user("eve").await;
    let (status, _) =
        outsider.raw(Method::GET, &format!("/workspaces/{wsid}/search?q=deploy"), None).await.unwrap();
    assert_eq!(status.as_u16(), 404);
    // A click on a shown result is recorded; on anything else it is refused.
    let query_id = now["query_id"].as_str().unwrap();
    let message = now["hits"][0]["message"]["id"].as_str().unwrap();
    let click = json!({"query_id": query_id, "message": message}).to_string();
    let (status, _) =
        bob.raw(Method::POST, &format!("/workspaces/{wsid}/search/clicks"), Some(&click)).await.unwrap();
    assert_eq!(status.as_u16(), 204);
    let (status, _) =
        ada.raw(Method::POST, &format!("/workspaces/{wsid}/search/clicks"), Some(&click)).await.unwrap();
    assert_eq!(status.as_u16(), 404, "a click on someone else's search is refused");
}

async fn search_index_is_rebuilt_from_the_store() {
    let mut server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    for i in 0..20 {
        ada.post(general, &format!("rebuildable note {i}")).await.unwrap();
    }
    let wsid = ws.to_string();
    search_until(&ada, &wsid, "rebuildable", |b| b["total"] == 20).await;
    server.stop();
    std::fs::remove_dir_all(server.data_dir().join("index")).unwrap();
    server.restart();
    let ada = server.client().with_token(ada.token().unwrap());
    search_until(&ada, &wsid, "rebuildable", |b| b["total"] == 20).await;
    // A restart with an intact index catches up instead (and still finds new posts).
    ada.post(general, "rebuildable after restart").await.unwrap();
    server.restart();
    let ada = server.client().with_token(ada.token().unwrap());
    search_until(&ada, &wsid, "rebuildable", |b| b["total"] == 21).await;
}

async fn suggestions_stay_inside_their_workspace() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (bob, _) = server.user("bob").await;
    let (zed, _) = server.user("zed").await;
    let a = ada.create_workspace("A").await.unwrap().workspace.id;
    confab_tests::join(&ada, a, &bob).await;
    let b = zed.create_workspace("B").await.unwrap().workspace.id;
    // Workspace A: a public channel Bob is in and Ada is not, and a private one.
    let design = bob.create_channel(a, "design", false).await.unwrap();
    bob.post(design.id, "mockups are up").await.unwrap();
    let hush = bob.create_channel(a, "hush-hush", true).await.unwrap();
    bob.post(hush.id, "quiet").await.unwrap();
    let general_a = ada.channel_named(a, "general").await.unwrap().channel.id;
    let m = bob.post(general_a, "shipped it").await.unwrap();
    ada.react(m.id, "🎉").await.unwrap();
    // Workspace B: its own channel and an emoji only B uses.
    let b_channel = zed.create_channel(b, "b-only-room", false).await.unwrap();
    let general_b = zed.channel_named(b, "general").await.unwrap().channel.id;
    for _ in 0..5 {
        let m = zed.post(general_b, "quokka time").await.unwrap();
        zed.react(m.id, "🦓").await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let suggested = loop {
        let (_, body) = ada
            .raw(Method::GET, &format!("/workspaces/{a}/channels/suggested?limit=10"), None)
            .await
            .unwrap();
        if body["suggestions"].as_array().is_some_and(|s| !s.is_empty()) || Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let names: Vec<&str> = suggested["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["channel"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["design"], "{suggested}");
    assert!(suggested["suggestions"][0]["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let text = suggested.to_string();
    assert!(
        !text.contains("hush") && !text.contains(&b_channel.id.to_string()) && !text.contains("b-only"),
        "{text}"
    );
    // Emoji: the `:` prefix completes, and nothing of B's reactions shows in A.
    let (_, tada) =
        ada.raw(Method::GET, &format!("/workspaces/{a}/emoji/suggest?prefix=tad"), None).await.unwrap();
    assert_eq!(tada["suggestions"][0]["emoji"], "🎉", "{tada}");
    // B's habit: 🦓 on "quokka time", which names no emoji (the catalogue would
    // offer 🦓 for "zebra" in any workspace). Once B has learnt it (statistics are
    // updated in the background), A must not offer it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let in_b = loop {
        let in_b = emoji_for_quokka_time(&zed, b).await;
        if in_b.first().is_some_and(|e| e == "🦓") || Instant::now() > deadline {
            break in_b;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(in_b.first().map(String::as_str), Some("🦓"), "B learns its own habit: {in_b:?}");
    let in_a = emoji_for_quokka_time(&ada, a).await;
    assert!(!in_a.iter().any(|e| e == "🦓"), "B's habit leaked into A: {in_a:?}");
    // Outsiders get nothing.
    let (status, _) =
        zed.raw(Method::GET, &format!("/workspaces/{a}/emoji/suggest?prefix=tad"), None).await.unwrap();
    assert_eq!(status.as_u16(), 404);
}

/// The emoji a workspace's picker offers for the text "quokka time", in order.
async fn emoji_for_quokka_time(client: &Client, ws: confab_core::WorkspaceId) -> Vec<String> {
    let path = format!("/workspaces/{ws}/emoji/suggest?text=quokka%20time");
    let (_, body) = client.raw(Method::GET, &path, None).await.unwrap();
    body["suggestions"].as_array().unwrap().iter().map(|s| s["emoji"].as_str().unwrap().to_string()).collect()
}

async fn consent_is_explicit_owner_only_recorded_and_revocable() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (bob, _) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    let secret = ada.create_channel(ws, "secret", true).await.unwrap().id;
    ada.post(general, "public words").await.unwrap();
    ada.post(secret, "never training data").await.unwrap();
    let m = bob.post(general, "bob's words").await.unwrap();
    ada.react(m.id, "👍").await.unwrap();

    let emoji_policy = policy(&ada, "emoji_suggestions").await;
    assert!(emoji_policy["text"].as_str().unwrap().len() > 200);
    // Default: nothing granted.
    let (_, state) = bob.raw(Method::GET, &format!("/workspaces/{ws}/consent"), None).await.unwrap();
    assert!(state["purposes"].as_array().unwrap().iter().all(|p| p["granted"] == false), "{state}");

    let grant = |accept: Value, sha: &str| {
        json!({
            "granted": true, "scope": "workspace", "categories": ["messages", "reactions"], "members": "opt_out",
            "policy_version": emoji_policy["version"], "policy_sha256": sha, "accept": accept,
        })
        .to_string()
    };
    let sha = emoji_policy["sha256"].as_str().unwrap();
    let path = format!("/workspaces/{ws}/consent/emoji_suggestions");
    let table = [
        (&bob, grant(json!(true), sha), 403, "forbidden"),
        (&ada, grant(Value::Null, sha), 400, "consent_not_explicit"),
        (&ada, grant(json!(false), sha), 400, "consent_not_explicit"),
        (&ada, grant(json!(true), &"0".repeat(64)), 400, "policy_mismatch"),
    ];
    for (who, body, status, code) in table {
        let (got, value) = who.raw(Method::PUT, &path, Some(&body)).await.unwrap();
        assert_eq!((got.as_u16(), value["error"]["code"].as_str()), (status, Some(code)), "{body}");
    }
    let mut bob_live = bob.connect(&[]).await.unwrap();
    let (status, state) = ada.raw(Method::PUT, &path, Some(&grant(json!(true), sha))).await.unwrap();
    assert!(status.is_success(), "{state}");
    let (_, event) = bob_live.wait_event(Duration::from_secs(10), "consent.changed").await.unwrap();
    assert!(
        matches!(event, Event::ConsentChanged { granted: true, ref purpose, .. } if purpose == "emoji_suggestions")
    );

    // The preview is exactly what a run would read: public channels only.
    let (status, preview) = ada
        .raw(Method::GET, &format!("/workspaces/{ws}/consent/preview?purpose=emoji_suggestions"), None)
        .await
        .unwrap();
    assert!(status.is_success(), "{preview}");
    let text = preview.to_string();
    assert!(text.contains("public words") && text.contains("bob's words"), "{text}");
    assert!(!text.contains("never training data"), "a private channel reached the preview: {text}");
    let (status, mine) = bob
        .raw(Method::GET, &format!("/workspaces/{ws}/consent/preview?purpose=emoji_suggestions"), None)
        .await
        .unwrap();
    assert!(status.is_success(), "{mine}");
    let mine = mine.to_string();
    assert!(
        mine.contains("bob's words") && !mine.contains("public words"),
        "a member previews only their own: {mine}"
    );
    // Bob excludes himself: his words leave the preview at once.
    let (status, _) =
        bob.raw(Method::PUT, &format!("{path}/me"), Some(r#"{"included":false}"#)).await.unwrap();
    assert!(status.is_success());
    let (_, preview) = ada
        .raw(Method::GET, &format!("/workspaces/{ws}/consent/preview?purpose=emoji_suggestions"), None)
        .await
        .unwrap();
    assert!(!preview.to_string().contains("bob's words"));
    // Withdrawing is one call; the history records all of it, hash-chained.
    let (status, state) = ada.raw(Method::PUT, &path, Some(r#"{"granted":false}"#)).await.unwrap();
    assert!(status.is_success(), "{state}");
    let purpose =
        state["purposes"].as_array().unwrap().iter().find(|p| p["purpose"] == "emoji_suggestions").unwrap();
    assert_eq!(purpose["granted"], false);
    let (_, history) =
        bob.raw(Method::GET, &format!("/workspaces/{ws}/consent/history"), None).await.unwrap();
    let entries = history["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"]["type"].as_str().unwrap()).collect();
    assert_eq!(actions, ["grant", "member_set", "withdraw"], "{history}");
    for pair in entries.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    assert!(history["verification"]["first_bad"].is_null(), "{history}");
    let _ = bob_live
        .wait_for(Duration::from_secs(10), "withdrawal event", |f| {
            matches!(f, ServerFrame::Event { event: Event::ConsentChanged { granted: false, .. }, .. })
        })
        .await
        .unwrap();
}

async fn training_reads_only_consented_workspaces_and_withdrawal_retires_models() {
    let server = TestServer::start_with(&[("CONFAB_TRAINING_MIN_USERS_PER_WORD", "2")]);
    let (admin, _) = server.user("root").await;
    let mut teams = Vec::new();
    for team in ["a", "b"] {
        let (owner, _) = server.user(&format!("{team}owner")).await;
        let ws = owner.create_workspace(team).await.unwrap().workspace.id;
        let mut members = vec![owner.clone()];
        for i in 0..3 {
            let (m, _) = server.user(&format!("{team}member{i}")).await;
            confab_tests::join(&owner, ws, &m).await;
            members.push(m);
        }
        let general = owner.channel_named(ws, "general").await.unwrap().channel.id;
        for (i, author) in members.iter().enumerate() {
            for j in 0..4 {
                let m =
                    author.post(general, &format!("{team}canary pizza party number {i}{j}")).await.unwrap();
                for reactor in members.iter().filter(|r| r.token() != author.token()) {
                    reactor.react(m.id, "🎉").await.unwrap();
                }
            }
        }
        teams.push((owner, ws));
    }
    let (a_owner, a) = (&teams[0].0, teams[0].1);
    let b = teams[1].1;
    let policy = policy(a_owner, "emoji_suggestions").await;
    let grant = json!({
        "granted": true, "scope": "workspace", "categories": ["messages", "reactions"], "members": "opt_out",
        "policy_version": policy["version"], "policy_sha256": policy["sha256"], "accept": true,
    })
    .to_string();
    let (status, _) = a_owner
        .raw(Method::PUT, &format!("/workspaces/{a}/consent/emoji_suggestions"), Some(&grant))
        .await
        .unwrap();
    assert!(status.is_success());

    // Only the instance admin runs training; a dry run says who is in and why.
    let (status, _) =
        a_owner.raw(Method::POST, "/admin/train", Some(r#"{"purpose":"emoji_suggestions"}"#)).await.unwrap();
    assert_eq!(status.as_u16(), 403);
    let (_, plan) = admin
        .raw(Method::POST, "/admin/train", Some(r#"{"purpose":"emoji_suggestions","dry_run":true}"#))
        .await
        .unwrap();
    let plan_text = plan.to_string();
    assert!(plan_text.contains(&a.to_string()) && plan_text.contains(&b.to_string()), "{plan}");
    let (status, run) =
        admin.raw(Method::POST, "/admin/train", Some(r#"{"purpose":"emoji_suggestions"}"#)).await.unwrap();
    assert!(status.is_success(), "{run}");
    let models = run["runs"][0]["models"].as_array().unwrap();
    assert_eq!(models.len(), 1, "one workspace model for A, no shared model: {run}");
    let manifest = &models[0];
    assert_eq!(manifest["workspace"], json!(a.to_string()));
    let contributors: Vec<&str> = manifest["contributors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["workspace"].as_str().unwrap())
        .collect();
    assert_eq!(contributors, [a.to_string()]);
    assert!(!run.to_string().contains("bcanary"), "nothing of B reached training");
    let (_, listed) = a_owner.raw(Method::GET, &format!("/workspaces/{a}/models"), None).await.unwrap();
    assert_eq!(listed["models"][0]["manifest"]["id"], manifest["id"]);
    assert!(listed["models"][0]["retired"].is_null());
    // B sees no model of A's.
    let (b_owner, _) = (&teams[1].0, ());
    let (_, b_models) = b_owner.raw(Method::GET, &format!("/workspaces/{b}/models"), None).await.unwrap();
    assert_eq!(b_models["models"].as_array().unwrap().len(), 0, "{b_models}");

    // Withdrawal retires the model at once.
    let (status, _) = a_owner
        .raw(Method::PUT, &format!("/workspaces/{a}/consent/emoji_suggestions"), Some(r#"{"granted":false}"#))
        .await
        .unwrap();
    assert!(status.is_success());
    let (_, listed) = a_owner.raw(Method::GET, &format!("/workspaces/{a}/models"), None).await.unwrap();
    assert!(!listed["models"][0]["retired"].is_null(), "{listed}");
    // The privacy budget was recorded in the ledger.
    let (_, history) =
        a_owner.raw(Method::GET, &format!("/workspaces/{a}/consent/history"), None).await.unwrap();
    let actions: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["grant", "budget_spent", "withdraw"], "{history}");
}
