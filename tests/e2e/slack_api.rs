//! Slack integrations end to end: Slack's own Python SDK (`slack_sdk`, installed
//! into `target/slack-venv` by `tests/slack/venv.sh`) drives `/api/slack/` with a bot
//! token and a user token (`tests/slack/sdk_test.py`: every method, paging, errors,
//! rate limits); bots and incoming webhooks are created, used and revoked over HTTP.

use std::path::PathBuf;
use std::process::Command;

use confab_tests::TestServer;
use reqwest::Method;
use serde_json::{Value, json};

crate::cases!(slack_sdk_drives_every_method, webhooks_take_slacks_payload_until_revoked);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn ok(client: &confab_client::Client, method: Method, path: &str, body: Value) -> Value {
    let body = (!body.is_null()).then(|| body.to_string());
    let (status, value) = client.raw(method.clone(), path, body.as_deref()).await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {value}");
    value
}

async fn slack_sdk_drives_every_method() {
    // Slack posts count against [limits]: a small burst lets the script see 429.
    let server = TestServer::start_with(&[
        ("CONFAB_LIMITS_MESSAGES_PER_SECOND", "5"),
        ("CONFAB_LIMITS_MESSAGE_BURST", "40"),
    ]);
    let (owner, session) = server.user("owner").await;
    let (ws, general) = confab_tests::workspace(&owner, "Acme").await;
    let secret = owner.create_channel(ws, "secret", true).await.unwrap().id;
    let old = owner.create_channel(ws, "old", false).await.unwrap().id;
    ok(&owner, Method::PATCH, &format!("/channels/{old}"), json!({"archived": true})).await;
    let created =
        ok(&owner, Method::POST, &format!("/workspaces/{ws}/bots"), json!({"name": "Deploy Bot"})).await;
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("xoxb-"), "{created}");
    let bot_id = created["bot"]["id"].as_str().unwrap();
    assert_eq!(created["bot"]["is_bot"], true);

    let venv = Command::new(repo().join("tests/slack/venv.sh")).status().expect("run tests/slack/venv.sh");
    assert!(venv.success(), "tests/slack/venv.sh could not install slack_sdk");
    let methods = serde_json::to_string(confab_server::slack::api::METHODS).unwrap();
    let output = Command::new(repo().join("target/slack-venv/bin/python"))
        .arg(repo().join("tests/slack/sdk_test.py"))
        .env("SLACK_BASE", format!("{}/api/slack/", server.url))
        .env("USER_TOKEN", &session.token)
        .env("USER_ID", session.user.id.to_string())
        .env("USER_EMAIL", "owner@example.com")
        .env("BOT_TOKEN", token)
        .env("BOT_ID", bot_id)
        .env("TEAM_ID", ws.to_string())
        .env("GENERAL", general.to_string())
        .env("SECRET", secret.to_string())
        .env("ARCHIVED", old.to_string())
        .env("METHODS", methods)
        .output()
        .expect("run the slack_sdk script");
    assert!(
        output.status.success(),
        "slack_sdk script failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // Revoked, the bot's token stops working at once.
    ok(&owner, Method::DELETE, &format!("/workspaces/{ws}/bots/{bot_id}"), json!(null)).await;
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/api/slack/auth.test", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer, json!({"ok": false, "error": "invalid_auth"}));
}

async fn webhooks_take_slacks_payload_until_revoked() {
    let server = TestServer::start_with(&[("CONFAB_SLACK_WEBHOOK_BURST", "4")]);
    let (owner, _) = server.user("owner").await;
    let (member, _) = server.user("member").await;
    let (ws, general) = confab_tests::workspace(&owner, "Acme").await;
    confab_tests::join(&owner, ws, &member).await;
    let body = json!({"channel": general.to_string()}).to_string();
    let (status, _) =
        member.raw(Method::POST, &format!("/workspaces/{ws}/webhooks"), Some(&body)).await.unwrap();
    assert_eq!(status.as_u16(), 403, "members do not create webhooks");
    let hook =
        ok(&owner, Method::POST, &format!("/workspaces/{ws}/webhooks"), json!({"channel": general})).await;
    let url = hook["url"].as_str().unwrap().to_string();
    let id = hook["id"].as_str().unwrap().to_string();
    let listed = ok(&owner, Method::GET, &format!("/workspaces/{ws}/webhooks"), json!(null)).await;
    assert_eq!(listed["webhooks"][0]["id"], id.as_str());
    assert!(!listed.to_string().contains(url.rsplit('/').next().unwrap()), "the secret is shown once");

    let http = reqwest::Client::new();
    // JSON, as CI systems send it: text, username, icon_emoji.
    let first: Value = http
        .post(&url)
        .json(&json!({"text": "build <https://ci.example.com/7|#7> passed", "username": "CI", "icon_emoji": ":white_check_mark:"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["text"], "✅ *CI*: build #7 (https://ci.example.com/7) passed", "{first}");
    // Blocks only, as text; and a reply in a thread by thread_ts.
    // A ts is the message's second, then its seq (see confab_app::slack_bots::slack_ts).
    let ts =
        format!("{}.{:06}", first["created_at"].as_i64().unwrap() / 1000, first["seq"].as_u64().unwrap());
    let blocks = json!({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*deploy* done"}}], "thread_ts": ts});
    let second: Value = http.post(&url).json(&blocks).send().await.unwrap().json().await.unwrap();
    assert_eq!(second["text"], "*deploy* done", "{second}");
    assert_eq!(second["thread_root"], first["id"]);
    // A form's payload field, as `curl --data-urlencode payload=…` sends it.
    let payload = json!({"text": "from a form"}).to_string();
    let encoded: String = payload.bytes().map(|b| format!("%{b:02X}")).collect();
    let form = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("payload={encoded}"))
        .send()
        .await
        .unwrap();
    assert!(form.status().is_success(), "{}", form.text().await.unwrap());
    // No text at all is refused; then the per-webhook limit answers 429.
    let empty = http.post(&url).json(&json!({"username": "CI"})).send().await.unwrap();
    assert_eq!(empty.status().as_u16(), 400);
    let limited = http.post(&url).json(&json!({"text": "one too many"})).send().await.unwrap();
    assert_eq!(limited.status().as_u16(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let history =
        ok(&member, Method::GET, &format!("/channels/{general}/messages?limit=10"), json!(null)).await;
    let texts: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(texts.contains(&"from a form"), "{texts:?}");

    // A wrong secret is not found; revoked, the URL stops working.
    let wrong = format!("{}x", url);
    assert_eq!(http.post(&wrong).json(&json!({"text": "x"})).send().await.unwrap().status().as_u16(), 404);
    ok(&owner, Method::DELETE, &format!("/workspaces/{ws}/webhooks/{id}"), json!(null)).await;
    assert_eq!(http.post(&url).json(&json!({"text": "after"})).send().await.unwrap().status().as_u16(), 404);
}
