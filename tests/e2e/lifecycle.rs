//! The data lifecycle an operator runs: `confab user …` through a running server's
//! admin socket and on a stopped one's data dir, disabling that cuts an account off
//! at once, and one-time password-reset links.

use std::time::Duration;

use confab_client::ServerFrame;
use confab_tests::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

crate::cases!(
    user_commands_manage_accounts_online_and_offline,
    a_reset_link_works_once,
    a_reset_link_past_its_time_is_refused,
    erasure_reaches_everything,
    retention_policies_are_set_by_owners_and_admins,
    a_backup_under_write_load_restores_every_acknowledged_message,
    a_personal_export_holds_everything_about_them,
    a_workspace_export_imports_back_as_it_was,
    an_export_streams_its_progress_to_the_operator,
    reindex_and_train_stream_their_progress_to_the_operator,
    an_offline_export_opens_only_what_it_reads,
);

const WAIT: Duration = Duration::from_secs(5);
const PASSWORD: &str = "correct horse battery";

fn stdout_json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the command prints JSON")
}

fn failed_with(output: &std::process::Output, code: &str) {
    assert!(!output.status.success(), "expected a failure, got {}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(code), "expected {code} in {stderr}");
}

/// The account of `email` in `confab user list`.
fn listed(server: &TestServer, email: &str) -> Value {
    let list = stdout_json(&server.cli(&["user", "list"]));
    list.as_array().unwrap().iter().find(|a| a["email"] == email).cloned().unwrap_or(Value::Null)
}

/// Runs `confab user reset-password EMAIL` and returns the token of the printed link.
fn reset_token(server: &TestServer, email: &str) -> String {
    let output = server.cli(&["user", "reset-password", email]);
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    let link = String::from_utf8(output.stdout).unwrap();
    let link = link.trim();
    assert!(link.starts_with("http://") && link.contains("/reset.html#token="), "{link}");
    link.split_once("#token=").unwrap().1.to_string()
}

async fn user_commands_manage_accounts_online_and_offline() {
    let mut server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;

    // create: with --password, and with the password on standard input (through the
    // running server's admin socket).
    let bob = stdout_json(&server.cli(&["user", "create", "bob@example.com", "--password", PASSWORD]));
    assert_eq!(bob["email"], "bob@example.com");
    assert_eq!(bob["disabled"], false);
    assert_eq!(bob["instance_admin"], false, "only the first account administers the instance");
    let mut piped = server
        .command()
        .args(["user", "create", "cy@example.com", "--name", "Cy Young", "--data-dir"])
        .arg(server.data_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        piped.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    }
    let cy = stdout_json(&piped.wait_with_output().unwrap());
    assert_eq!(cy["display_name"], "Cy Young");
    let cy_client = server.client();
    cy_client.login("cy@example.com", PASSWORD).await.expect("the password came from standard input");
    failed_with(&server.cli(&["user", "create", "bob@example.com", "--password", PASSWORD]), "email_taken");
    failed_with(&server.cli(&["user", "create", "dee@example.com", "--password", "short"]), "invalid_field");
    failed_with(&server.cli(&["user", "disable", "nobody@example.com"]), "user_not_found");

    // disable: the open socket closes with 4001, the session is refused, log-in too.
    let bob_client =
        server.client().with_token(&server.client().login("bob@example.com", PASSWORD).await.unwrap().token);
    confab_tests::join(&ada, ws, &bob_client).await;
    let mut socket = bob_client.connect(&[]).await.unwrap();
    let disabled = stdout_json(&server.cli(&["user", "disable", "bob@example.com"]));
    assert_eq!(disabled["disabled"], true);
    match socket.wait_for(WAIT, "close", |f| matches!(f, ServerFrame::Closed { .. })).await {
        Ok(ServerFrame::Closed { code, .. }) => assert_eq!(code, Some(4001)),
        other => panic!("the disabled account's socket must close: {other:?}"),
    }
    let (status, _) = bob_client.raw(Method::GET, "/me", None).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session ended");
    let login = json!({"email": "bob@example.com", "password": PASSWORD}).to_string();
    let (status, body) = server.client().raw(Method::POST, "/auth/login", Some(&login)).await.unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "{body}"
    );
    let wrong = json!({"email": "bob@example.com", "password": "not the password"}).to_string();
    let (status, _) = server.client().raw(Method::POST, "/auth/login", Some(&wrong)).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a wrong password does not learn that it is disabled");
    assert_eq!(listed(&server, "bob@example.com")["disabled"], true);
    failed_with(&server.cli(&["user", "reset-password", "bob@example.com"]), "forbidden");

    // enable: the old password works again.
    assert_eq!(stdout_json(&server.cli(&["user", "enable", "bob@example.com"]))["disabled"], false);
    let bob_again = server.client().login("bob@example.com", PASSWORD).await.expect("enabled again");
    let bob_again = server.client().with_token(&bob_again.token);
    bob_again.post(general, "back").await.unwrap();

    // make-admin.
    assert_eq!(bob_again.raw(Method::GET, "/me", None).await.unwrap().1["instance_admin"], false);
    assert_eq!(stdout_json(&server.cli(&["user", "make-admin", "bob@example.com"]))["instance_admin"], true);
    assert_eq!(bob_again.raw(Method::GET, "/me", None).await.unwrap().1["instance_admin"], true);

    // Offline, on the stopped server's data dir: the same commands.
    server.stop();
    let dee = stdout_json(&server.cli(&["user", "create", "dee@example.com", "--password", PASSWORD]));
    assert_eq!(dee["email"], "dee@example.com");
    stdout_json(&server.cli(&["user", "disable", "ada@example.com"]));
    let list = stdout_json(&server.cli(&["user", "list"]));
    let emails: Vec<&str> = list.as_array().unwrap().iter().map(|a| a["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com"]);
    assert_eq!(list[0]["disabled"], true);
    assert_eq!(list[0]["workspaces"], 1);
    let token = reset_token(&server, "dee@example.com");
    server.restart();
    let (status, _) =
        server.client().raw(Method::POST, "/auth/login", Some(&login.replace("bob", "ada"))).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "disabled offline, refused online");
    let body = json!({"token": token, "new_password": "a brand new password"}).to_string();
    let (status, _) = server.client().raw(Method::POST, "/auth/reset_password", Some(&body)).await.unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT, "a link printed offline works once the server runs");
    server.client().login("dee@example.com", "a brand new password").await.unwrap();
}

async fn a_reset_link_works_once() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let mut socket = ada.connect(&[]).await.unwrap();
    let token = reset_token(&server, "ada@example.com");
    let reset = |token: &str, password: &str| json!({"token": token, "new_password": password}).to_string();
    let anyone = server.client();

    // Refused: a bad password, a forged or altered token, unknown fields.
    let (status, body) =
        anyone.raw(Method::POST, "/auth/reset_password", Some(&reset(&token, "x"))).await.unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_field")));
    let mut altered = token.clone().into_bytes();
    altered[30] = if altered[30] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for bad in [altered.as_str(), "", "not-a-token", &"A".repeat(5000)] {
        let (status, body) = anyone
            .raw(Method::POST, "/auth/reset_password", Some(&reset(bad, "a new password here")))
            .await
            .unwrap();
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_credentials")),
            "{bad:.40}: {body}"
        );
    }

    // Used once: the password changes, every session ends, the link is spent.
    let (status, _) = anyone
        .raw(Method::POST, "/auth/reset_password", Some(&reset(&token, "a new password here")))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    match socket.wait_for(WAIT, "close", |f| matches!(f, ServerFrame::Closed { .. })).await {
        Ok(ServerFrame::Closed { code, .. }) => assert_eq!(code, Some(4001)),
        other => panic!("the reset ends every session: {other:?}"),
    }
    assert!(anyone.login("ada@example.com", PASSWORD).await.is_err(), "the old password is gone");
    anyone.login("ada@example.com", "a new password here").await.unwrap();
    let (status, _) = anyone
        .raw(Method::POST, "/auth/reset_password", Some(&reset(&token, "yet another password")))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a link works once");
}

async fn a_reset_link_past_its_time_is_refused() {
    // Links that expire as they are made.
    let server = TestServer::start_with(&[("CONFAB_LIFECYCLE_PASSWORD_RESET_TTL_SECS", "0")]);
    server.user("ada").await;
    let token = reset_token(&server, "ada@example.com");
    let body = json!({"token": token, "new_password": "a new password here"}).to_string();
    let (status, _) = server.client().raw(Method::POST, "/auth/reset_password", Some(&body)).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an expired link is refused");
    server.client().login("ada@example.com", PASSWORD).await.expect("the password is unchanged");
}

async fn erasure_reaches_everything() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (bob, bob_s) = server.user("bob").await;
    let (cy, _) = server.user("cy").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    confab_tests::join(&ada, ws, &cy).await;
    let w = format!("/workspaces/{ws}");
    let (_, policy) = bob.raw(Method::GET, &format!("{w}/erasure"), None).await.unwrap();
    assert_eq!(policy["messages"], "delete", "a member reads the policy before deleting");
    let (status, _) =
        ada.raw(Method::PUT, &format!("{w}/erasure"), Some(r#"{"messages": "sometimes"}"#)).await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let zeppelin = bob.post(general, "the zeppelin leaves at noon").await.unwrap();
    ada.raw(Method::PUT, &format!("/messages/{}/reactions/tada", zeppelin.id), None).await.unwrap();
    let search = format!("{w}/search?q=zeppelin");
    for _ in 0..200 {
        if ada.raw(Method::GET, &search, None).await.unwrap().1["total"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(ada.raw(Method::GET, &search, None).await.unwrap().1["total"], 1, "indexed");
    let mut socket = bob.connect(&[]).await.unwrap();

    // A wrong password erases nothing.
    let (status, body) = bob.raw(Method::DELETE, "/me", Some(r#"{"password": "not it"}"#)).await.unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    let body = json!({"password": PASSWORD}).to_string();
    let (status, report) = bob.raw(Method::DELETE, "/me", Some(&body)).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["messages_deleted"], 1);
    match socket.wait_for(WAIT, "close", |f| matches!(f, ServerFrame::Closed { .. })).await {
        Ok(ServerFrame::Closed { code, .. }) => assert_eq!(code, Some(4001)),
        other => panic!("the erased account's socket must close: {other:?}"),
    }
    assert_eq!(bob.raw(Method::GET, "/me", None).await.unwrap().0, StatusCode::UNAUTHORIZED);
    assert!(server.client().login("bob@example.com", PASSWORD).await.is_err());
    let (_, members) = ada.raw(Method::GET, &format!("{w}/members"), None).await.unwrap();
    let members = members.to_string();
    assert!(!members.contains(&bob_s.user.id.to_string()) && !members.contains("bob"), "{members}");
    let (_, message) = ada.raw(Method::GET, &format!("/messages/{}", zeppelin.id), None).await.unwrap();
    assert!(!message.to_string().contains("zeppelin"), "the message is deleted: {message}");
    let mut total = Value::Null;
    for _ in 0..200 {
        total = ada.raw(Method::GET, &search, None).await.unwrap().1["total"].clone();
        if total == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(total, 0, "gone from the search index");
    assert!(listed(&server, "bob@example.com").is_null(), "the email is gone from the accounts");

    // The operator's way: only with --yes, and not the last owner of a workspace
    // others are still in.
    failed_with(&server.cli(&["user", "delete", "ada@example.com", "--yes"]), "last_owner");
    failed_with(&server.cli(&["user", "delete", "cy@example.com"]), "--yes");
    assert_eq!(cy.raw(Method::GET, "/me", None).await.unwrap().0, StatusCode::OK, "nothing happened");
    let report = stdout_json(&server.cli(&["user", "delete", "cy@example.com", "--yes"]));
    assert_eq!(report["workspaces"], 1);
    assert_eq!(cy.raw(Method::GET, "/me", None).await.unwrap().0, StatusCode::UNAUTHORIZED);
}

async fn retention_policies_are_set_by_owners_and_admins() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (bob, _) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    let w = format!("/workspaces/{ws}/retention");
    let c = format!("/channels/{general}/retention");
    assert_eq!(bob.raw(Method::GET, &w, None).await.unwrap().1, json!({"days": null}), "for ever by default");
    for (path, body, status) in
        [(&w, r#"{"days": 30}"#, StatusCode::FORBIDDEN), (&c, r#"{"days": 30}"#, StatusCode::FORBIDDEN)]
    {
        assert_eq!(bob.raw(Method::PUT, path, Some(body)).await.unwrap().0, status, "a member: {path}");
    }
    for body in [r#"{"days": -1}"#, r#"{"days": 0}"#, r#"{"days": "ten"}"#, r#"{"weeks": 2}"#] {
        let (status, _) = ada.raw(Method::PUT, &w, Some(body)).await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, body) = ada.raw(Method::PUT, &w, Some(r#"{"days": 30}"#)).await.unwrap();
    assert_eq!((status, body), (StatusCode::OK, json!({"days": 30})));
    assert_eq!(bob.raw(Method::GET, &w, None).await.unwrap().1["days"], 30);
    assert_eq!(bob.raw(Method::GET, &c, None).await.unwrap().1["effective_days"], 30, "inherited");
    let (_, body) = ada.raw(Method::PUT, &c, Some(r#"{"days": null}"#)).await.unwrap();
    assert_eq!(
        body,
        json!({"days": null, "set": true, "effective_days": null}),
        "the channel keeps for ever"
    );
    let (_, body) = ada.raw(Method::PUT, &w, Some(r#"{"days": null}"#)).await.unwrap();
    assert_eq!(body, json!({"days": null}));
}

/// Runs `confab ARGS` (no implied `--data-dir`).
fn confab(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .env("CONFAB_E2E_SERVER", "1")
        .arg("--")
        .args(args)
        .output()
        .unwrap()
}

async fn a_backup_under_write_load_restores_every_acknowledged_message() {
    use std::sync::{Arc, Mutex};
    let mut server = TestServer::start_creating_data_dir(&[
        ("CONFAB_LIMITS_MESSAGES_PER_SECOND", "100000"),
        ("CONFAB_LIMITS_MESSAGE_BURST", "100000"),
    ]);
    let (ada, _) = server.user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    let (_, policies) = ada.raw(Method::GET, "/consent/policies", None).await.unwrap();
    let policy = policies["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == "emoji_suggestions")
        .unwrap();
    let grant = json!({
        "granted": true, "scope": "workspace", "categories": ["messages"], "members": "opt_in",
        "policy_version": policy["version"], "policy_sha256": policy["sha256"], "accept": true,
    });
    let (status, _) = ada
        .raw(Method::PUT, &format!("/workspaces/{ws}/consent/emoji_suggestions"), Some(&grant.to_string()))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);

    // Writers post without pause; every acknowledged message is noted.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (ada, acked, stop) = (ada.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = format!("load {w} {n}");
                let message = ada.post(general, &text).await.expect("post");
                acked.lock().unwrap().push((message.id.to_string(), text));
                n += 1;
            }
        }));
    }
    while acked.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let backup_dir = tempfile::tempdir().unwrap();
    let out = backup_dir.path().join("backup");
    let before_backup: Vec<(String, String)> = acked.lock().unwrap().clone();
    let output = tokio::task::spawn_blocking({
        let args = [
            "backup".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "--data-dir".as_ref(),
            server.data_dir().as_os_str(),
        ]
        .map(std::ffi::OsStr::to_os_string);
        move || confab(&args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    let during = acked.lock().unwrap().len() - before_backup.len();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let report = stdout_json(&output);
    assert!(report["store_keys"].as_u64().unwrap() > 600, "{report}");
    let paused = report["writes_paused_ms"].as_f64().unwrap();
    assert!(paused < 1000.0, "writes waited {paused} ms");
    println!("backup: {report}; {during} posts acknowledged while it ran");
    assert!(out.join("backup.json").exists() && !out.join("index").exists(), "no search index in a backup");
    failed_with(
        &confab(&[
            "backup".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "--data-dir".as_ref(),
            server.data_dir().as_os_str(),
        ]),
        "not empty",
    );

    // Restore into the stopped server's emptied data dir, and serve it again.
    server.stop();
    let data_dir = server.data_dir().to_path_buf();
    // With no server running, the command opens the data dir itself.
    let offline = backup_dir.path().join("offline");
    let args = [
        "backup".as_ref(),
        "--out".as_ref(),
        offline.as_os_str(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ];
    assert!(
        stdout_json(&confab(&args))["store_keys"].as_u64().unwrap() > report["store_keys"].as_u64().unwrap()
    );
    std::fs::remove_dir_all(&data_dir).unwrap();
    let restored = stdout_json(&confab(&[
        "restore".as_ref(),
        out.as_os_str(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ]));
    assert_eq!(restored["ledgers_verified"], 1, "{restored}");
    failed_with(
        &confab(&["restore".as_ref(), out.as_os_str(), "--data-dir".as_ref(), data_dir.as_os_str()]),
        "empty",
    );
    server.restart();
    let ada =
        server.client().with_token(&server.client().login("ada@example.com", PASSWORD).await.unwrap().token);
    for (id, text) in &before_backup {
        let (status, message) = ada.raw(Method::GET, &format!("/messages/{id}"), None).await.unwrap();
        assert_eq!(status, StatusCode::OK, "acknowledged before the backup: {id}");
        assert_eq!(message["message"]["text"].as_str().or(message["text"].as_str()), Some(text.as_str()));
    }
    let verify = stdout_json(&server.cli(&["consent", "verify", "--workspace", &ws.to_string()]));
    assert!(verify["first_bad"].is_null() && verify["entries"] == 1, "{verify}");
    // The search index is rebuilt from the restored store.
    let (ws_s, probe) = (ws.to_string(), &before_backup[0].1);
    let mut total = Value::Null;
    for _ in 0..400 {
        let q = format!("/workspaces/{ws_s}/search?q=%22{}%22", probe.replace(' ', "%20"));
        total = ada.raw(Method::GET, &q, None).await.unwrap().1["total"].clone();
        if total.as_u64().is_some_and(|t| t >= 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(total.as_u64().is_some_and(|t| t >= 1), "search works on the restored data: {total}");
}

async fn a_personal_export_holds_everything_about_them() {
    use std::io::Read;
    let server = TestServer::start();
    let (ada, ada_s) = server.user("ada").await;
    let (bob, _) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "Exported").await;
    confab_tests::join(&ada, ws, &bob).await;
    let mine = ada.post(general, "my own words").await.unwrap();
    let gone = ada.post(general, "deleted words").await.unwrap();
    ada.raw(Method::DELETE, &format!("/messages/{}", gone.id), None).await.unwrap();
    let theirs = bob.post(general, "bob's words").await.unwrap();
    ada.raw(Method::PUT, &format!("/messages/{}/reactions/tada", theirs.id), None).await.unwrap();
    let picture = reqwest::Client::new()
        .put(format!("{}/api/v1/me/avatar", server.url))
        .bearer_auth(&ada_s.token)
        .body(crate::files::PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(picture.status(), StatusCode::OK);
    ada.raw(
        Method::PUT,
        &format!("/workspaces/{ws}/consent/emoji_suggestions/me"),
        Some(r#"{"included": false}"#),
    )
    .await
    .unwrap();

    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/me/export", server.url))
        .bearer_auth(&ada_s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let bytes = response.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut avatar = Vec::new();
    zip.by_name("avatar.png").expect("her picture").read_to_end(&mut avatar).unwrap();
    assert!(avatar.starts_with(b"\x89PNG"), "the picture the server made");
    let mut file = |name: &str| {
        let mut text = String::new();
        zip.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}")).read_to_string(&mut text).unwrap();
        text
    };
    let account: Value = serde_json::from_str(&file("account.json")).unwrap();
    assert_eq!(
        (account["email"].as_str(), account["id"].as_str()),
        (Some("ada@example.com"), Some(&*ada_s.user.id.to_string()))
    );
    let messages: Vec<Value> =
        file("messages.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(messages.len(), 1, "their messages, not deleted ones, not others': {messages:?}");
    assert_eq!(messages[0]["id"], mine.id.to_string());
    assert_eq!(messages[0]["text"], "my own words");
    let memberships: Value = serde_json::from_str(&file("memberships.json")).unwrap();
    assert_eq!(memberships["workspaces"][0]["workspace"], ws.to_string());
    assert_eq!(memberships["workspaces"][0]["role"], "owner");
    assert!(memberships["channels"].as_array().unwrap().iter().any(|c| c["name"] == "general"));
    let reactions: Value = serde_json::from_str(&file("reactions.json")).unwrap();
    assert_eq!(
        reactions,
        json!([{"workspace": ws, "channel": general, "message": theirs.id, "emoji": "🎉"}])
    );
    let markers: Value = serde_json::from_str(&file("read_markers.json")).unwrap();
    assert!(
        markers
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["channel"] == general.to_string() && m["last_read_seq"].as_u64() >= Some(2)),
        "{markers}"
    );
    let consent: Value = serde_json::from_str(&file("consent.json")).unwrap();
    assert_eq!(consent[0]["keys"][0]["purpose"], "emoji_suggestions");
    assert_eq!(consent[0]["keys"][0]["included"], false);
    let models: Value = serde_json::from_str(&file("models.json")).unwrap();
    assert!(models.is_array());
    let all =
        file("account.json") + &file("memberships.json") + &file("messages.jsonl") + &file("reactions.json");
    assert!(!all.contains("bob@example.com") && !all.contains("bob's words"), "nothing of anyone else");

    // Anonymous callers get nothing.
    let anonymous = reqwest::get(format!("{}/api/v1/me/export", server.url)).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

fn zip_text<R: std::io::Read + std::io::Seek>(archive: &mut zip::ZipArchive<R>, name: &str) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut archive.by_name(name).unwrap(), &mut text).unwrap();
    text
}

async fn a_workspace_export_imports_back_as_it_was() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (bob, bob_s) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "Source").await;
    confab_tests::join(&ada, ws, &bob).await;
    let root = ada.post(general, "a thread about <tags> & things").await.unwrap();
    let reply = json!({"text": "a reply", "thread_root": root.id}).to_string();
    let (status, _) =
        bob.raw(Method::POST, &format!("/channels/{general}/messages"), Some(&reply)).await.unwrap();
    assert_eq!(status, StatusCode::CREATED);
    let edited = bob.post(general, "first draft").await.unwrap();
    let edit = json!({"text": "final words"}).to_string();
    bob.raw(Method::PATCH, &format!("/messages/{}", edited.id), Some(&edit)).await.unwrap();
    bob.raw(Method::PUT, &format!("/messages/{}/reactions/tada", root.id), None).await.unwrap();
    let gone = ada.post(general, "deleted words").await.unwrap();
    ada.raw(Method::DELETE, &format!("/messages/{}", gone.id), None).await.unwrap();
    let secret = ada.create_channel(ws, "secret", true).await.unwrap().id;
    ada.add_member(secret, bob_s.user.id).await.unwrap();
    ada.post(secret, "private words").await.unwrap();
    let dm = ada.open_dm(ws, &[bob_s.user.id]).await.unwrap().id;
    bob.post(dm, "dm words").await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("source.zip");
    let ws_s = ws.to_string();
    let report = stdout_json(&server.cli(&["export", "workspace", &ws_s, "--out", file.to_str().unwrap()]));
    assert_eq!(
        (report["messages"].as_u64(), report["conversations"].as_u64()),
        (Some(5), Some(3)),
        "{report}"
    );
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&file).unwrap()).unwrap();
    for name in ["users.json", "channels.json", "groups.json", "dms.json", "confab_consent_ledger.json"] {
        assert!(zip.by_name(name).is_ok(), "{name}");
    }

    // The owner downloads the same export over HTTP, streamed: the same files with
    // the same contents. Other members may not.
    let download = reqwest::Client::new()
        .get(format!("{}/api/v1/workspaces/{ws}/export", server.url))
        .bearer_auth(ada.token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()["content-type"], "application/zip");
    let downloaded = download.bytes().await.unwrap();
    let mut streamed = zip::ZipArchive::new(std::io::Cursor::new(downloaded.to_vec())).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    let mut streamed_names: Vec<String> = streamed.file_names().map(|n| n.unwrap().into_owned()).collect();
    streamed_names.sort();
    assert_eq!(streamed_names, names);
    for name in names.iter().filter(|n| n.ends_with(".json")) {
        assert_eq!(zip_text(&mut streamed, name), zip_text(&mut zip, name), "{name}");
    }
    let (status, body) = bob.raw(Method::GET, &format!("/workspaces/{ws}/export"), None).await.unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));

    // Into a fresh server, where ada and bob already have accounts.
    let copy = TestServer::start();
    let (ada2, _) = copy.user("ada").await;
    let (bob2, _) = copy.user("bob").await;
    let imported =
        stdout_json(&copy.cli(&["import", "slack", file.to_str().unwrap(), "--workspace", "Copy", "--json"]));
    assert_eq!(imported["users_linked"], 2, "{imported}");
    let new_ws = imported["workspace"].as_str().unwrap().to_string();
    let (_, channels) = ada2.raw(Method::GET, &format!("/workspaces/{new_ws}/channels"), None).await.unwrap();
    let channels = channels["channels"].as_array().unwrap().clone();
    let id_of = |pred: &dyn Fn(&Value) -> bool| {
        channels.iter().find(|c| pred(c)).map(|c| c["id"].as_str().unwrap().to_string())
    };
    let general2 = id_of(&|c| c["name"] == "general").expect("#general");
    let secret2 = id_of(&|c| c["name"] == "secret" && c["kind"] == "private").expect("#secret, private");
    let dm2 = id_of(&|c| c["kind"] == "dm").expect("the DM");
    let texts = |messages: &Value| -> Vec<String> {
        messages["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, history) = ada2
        .raw(Method::GET, &format!("/channels/{general2}/messages?after=0&limit=100"), None)
        .await
        .unwrap();
    let roots: Vec<&Value> =
        history["messages"].as_array().unwrap().iter().filter(|m| m["thread_root"].is_null()).collect();
    let root_texts: Vec<&str> = roots.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(root_texts, ["a thread about <tags> & things", "final words"], "{history}");
    assert_eq!(roots[0]["reply_count"], 1, "the thread");
    assert!(roots[1]["edited_at"].is_number(), "the edit");
    assert_eq!(roots[0]["reactions"][0]["emoji"], "🎉");
    assert_eq!(roots[0]["reactions"][0]["users"].as_array().unwrap().len(), 1);
    let root2 = roots[0]["id"].as_str().unwrap();
    let (_, thread) = ada2.raw(Method::GET, &format!("/messages/{root2}/thread"), None).await.unwrap();
    assert_eq!(thread["replies"][0]["text"], "a reply", "{thread}");
    let (_, secret_history) =
        ada2.raw(Method::GET, &format!("/channels/{secret2}/messages"), None).await.unwrap();
    assert_eq!(texts(&secret_history), ["private words"]);
    let (_, dm_history) = bob2.raw(Method::GET, &format!("/channels/{dm2}/messages"), None).await.unwrap();
    assert_eq!(texts(&dm_history), ["dm words"]);
    assert!(!history.to_string().contains("deleted words"));
}

/// Sends one command to a running server's admin socket and reads its progress
/// lines (`done`, `total`) up to its answer.
async fn admin_with_progress(server: &TestServer, request: Value) -> (Vec<(u64, u64)>, Value) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let stream = tokio::net::UnixStream::connect(server.data_dir().join("admin.sock")).await.unwrap();
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{request}\n").as_bytes()).await.unwrap();
    let mut lines = tokio::io::BufReader::new(read).lines();
    let mut progress = Vec::new();
    loop {
        let line: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        match line.get("progress") {
            Some(p) => progress.push((p["done"].as_u64().unwrap(), p["total"].as_u64().unwrap())),
            None => return (progress, line),
        }
    }
}

/// Progress that starts at nothing done of `total`, never goes back, and ends done.
fn assert_progress_to(progress: &[(u64, u64)], total: u64) {
    assert_eq!(progress.first(), Some(&(0, total)), "{progress:?}");
    assert_eq!(progress.last(), Some(&(total, total)), "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0].0 <= w[1].0), "{progress:?}");
}

/// `confab export workspace` and `confab backup` draw a progress bar: through the
/// admin socket the server sends how far it got (messages of the channels' total for
/// an export, with an ETA; store keys for a backup) before its answer.
async fn an_export_streams_its_progress_to_the_operator() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "Progress").await;
    let project = ada.create_channel(ws, "project", false).await.unwrap().id;
    for i in 0..12 {
        ada.post(if i % 3 == 0 { project } else { general }, &format!("message {i}")).await.unwrap();
    }
    let out = server.data_dir().join("progress.zip");
    let request = json!({"command": "export_workspace", "workspace": ws, "out": out});
    let (progress, answer) = admin_with_progress(&server, request).await;
    assert_eq!(answer["ok"]["messages"], 12, "{answer}");
    assert_progress_to(&progress, 12);
}

/// `confab reindex` and `confab train` draw a progress bar with an ETA too, through
/// the admin socket as the others: messages read of the channels' total for a
/// reindex (thread replies included); for training, messages the consent gate read
/// of the public channels' total for each purpose (a workspace it leaves out, as
/// here without a grant, counts as done when its purpose's run ends).
async fn reindex_and_train_stream_their_progress_to_the_operator() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "Progress").await;
    let secret = ada.create_channel(ws, "secret", true).await.unwrap().id;
    let mut root = None;
    for i in 0..9 {
        let text = format!("message {i}");
        let posted = ada.post(if i % 3 == 0 { secret } else { general }, &text).await.unwrap();
        root = root.or(Some(posted.id).filter(|_| i % 3 != 0));
    }
    let reply = json!({"text": "a reply", "thread_root": root.unwrap()}).to_string();
    let (status, _) =
        ada.raw(Method::POST, &format!("/channels/{general}/messages"), Some(&reply)).await.unwrap();
    assert_eq!(status, StatusCode::CREATED);

    let (progress, answer) =
        admin_with_progress(&server, json!({"command": "reindex", "workspace": ws})).await;
    assert!(answer["ok"]["documents"].as_u64().is_some_and(|n| n >= 10), "{answer}");
    assert_progress_to(&progress, 10);

    let train = json!({"command": "train", "purpose": null, "dry_run": true});
    let (progress, answer) = admin_with_progress(&server, train).await;
    let runs = answer["ok"].as_array().unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(runs.len(), 3, "every purpose: {answer}");
    // #general's 6 messages and the reply, per purpose; #secret is never read.
    assert_progress_to(&progress, 3 * 7);
}

/// An export (or another command that only reads) on a data dir no server holds
/// opens the store, the ledgers and the models, and nothing only a server needs: it
/// neither opens nor rebuilds the search index (which took 31 s and 1.35 GB for
/// 1 M messages before it had even begun). `reindex`, which rebuilds it, does.
async fn an_offline_export_opens_only_what_it_reads() {
    let mut server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (ws, general) = confab_tests::workspace(&ada, "Offline").await;
    for i in 0..5 {
        ada.post(general, &format!("message {i}")).await.unwrap();
    }
    server.stop();
    let index = server.data_dir().join("index");
    std::fs::remove_dir_all(&index).unwrap();

    let out = server.data_dir().join("offline.zip");
    let ws_s = ws.to_string();
    let report = stdout_json(&server.cli(&["export", "workspace", &ws_s, "--out", out.to_str().unwrap()]));
    assert_eq!(report["messages"], 5, "{report}");
    assert!(out.exists());
    stdout_json(&server.cli(&["consent", "verify", "--workspace", &ws_s]));
    assert!(listed(&server, "ada@example.com").is_object());
    assert!(!index.exists(), "a command that only reads opened the search index");

    let reindexed = stdout_json(&server.cli(&["reindex"]));
    assert_eq!(reindexed["documents"], 5, "{reindexed}");
    assert!(index.exists());
}
