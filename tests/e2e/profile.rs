//! People's profiles: a member edits their own display name, status (text and emoji)
//! and time zone with `PATCH /me`; the other members of their workspaces see it in the
//! member list and hear `user.updated` live, people outside them do not; bad values
//! are refused by field; an erased account keeps none of it. Bots and webhooks show
//! as bots in the member list; a person cannot pass for one. A channel's own
//! retention can be dropped again (`DELETE /channels/{ch}/retention`). A member's
//! picture (`PUT /me/avatar`) is a square PNG the server makes, shown to the members
//! of their workspaces only, and gone with the account.

use std::time::Duration;

use confab_client::{ServerFrame, UpdateProfile};
use confab_core::{ErrorCode, Event};
use confab_tests::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

crate::cases!(
    a_profile_change_reaches_the_members_of_each_workspace,
    bad_profile_values_are_refused_by_field,
    an_erased_account_keeps_no_status,
    bots_and_webhooks_are_marked_in_the_member_list,
    a_channel_follows_the_workspace_retention_again,
    a_picture_is_made_by_the_server_and_shown_to_workspace_members_only
);

const WAIT: Duration = Duration::from_secs(5);

fn member<'a>(members: &'a Value, id: &str) -> &'a Value {
    members["members"].as_array().unwrap().iter().find(|m| m["id"] == id).expect("listed")
}

async fn a_profile_change_reaches_the_members_of_each_workspace() {
    let server = TestServer::start();
    let (alice, alice_s) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let (outsider, _) = server.user("outsider").await;
    let (ws, _) = confab_tests::workspace(&alice, "Acme").await;
    confab_tests::join(&alice, ws, &bob).await;
    outsider.create_workspace("Elsewhere").await.unwrap();
    let mut bob_live = bob.connect(&[]).await.unwrap();
    let mut outsider_live = outsider.connect(&[]).await.unwrap();

    let me = alice
        .update_profile(&UpdateProfile {
            display_name: Some("Alice Liddell".into()),
            status_text: Some("  On holiday ".into()),
            status_emoji: Some(":palm_tree:".into()),
            time_zone: Some("Europe/Berlin".into()),
        })
        .await
        .unwrap();
    assert_eq!(me.display_name, "Alice Liddell");
    assert_eq!(me.details.status_text, "On holiday", "trimmed");
    assert_eq!(me.details.status_emoji, "🌴", "a shortcode is kept as its emoji");
    assert_eq!(me.details.time_zone, "Europe/Berlin");
    assert_eq!(alice.me().await.unwrap(), me, "stored");

    // Bob hears who changed, then reads the profile from the member list.
    let heard = bob_live
        .wait_for(WAIT, "user.updated", |f| {
            matches!(f, ServerFrame::Event { event: Event::UserUpdated { user }, .. } if *user == alice_s.user.id)
        })
        .await;
    assert!(heard.is_ok(), "{heard:?}");
    let (_, members) = bob.raw(Method::GET, &format!("/workspaces/{ws}/members"), None).await.unwrap();
    let listed = member(&members, &alice_s.user.id.to_string());
    assert_eq!(listed["display_name"], "Alice Liddell");
    assert_eq!(listed["status_text"], "On holiday");
    assert_eq!(listed["status_emoji"], "🌴");
    assert_eq!(listed["time_zone"], "Europe/Berlin");
    assert!(listed.get("email").is_none(), "others never see the email");
    let heard = outsider_live.wait_event(Duration::from_millis(700), "user.updated").await;
    assert!(heard.is_err(), "someone outside her workspaces hears nothing: {heard:?}");

    // Only the fields given change; an empty string clears a status.
    let me = alice
        .update_profile(&UpdateProfile { status_text: Some(String::new()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((me.display_name.as_str(), me.details.status_text.as_str()), ("Alice Liddell", ""));
    assert_eq!(me.details.status_emoji, "🌴");
    let (_, members) = bob.raw(Method::GET, &format!("/workspaces/{ws}/members"), None).await.unwrap();
    assert!(
        member(&members, &alice_s.user.id.to_string()).get("status_text").is_none(),
        "not sent when empty"
    );
}

async fn bad_profile_values_are_refused_by_field() {
    let server = TestServer::start();
    let (alice, _) = server.user("alice").await;
    let cases = [
        (json!({"status_text": "x".repeat(101)}), "status_text"),
        (json!({"status_text": "two\nlines"}), "status_text"),
        (json!({"status_emoji": "not an emoji"}), "status_emoji"),
        (json!({"status_emoji": "🌴🌴"}), "status_emoji"),
        (json!({"time_zone": "Berlin/../etc"}), "time_zone"),
        (json!({"display_name": "   "}), "display_name"),
    ];
    for (body, field) in cases {
        let (status, answer) = alice.raw(Method::PATCH, "/me", Some(&body.to_string())).await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["error"]["code"], ErrorCode::InvalidField.as_str(), "{body}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(field), "{body}: {answer}");
    }
    let (status, answer) = alice.raw(Method::PATCH, "/me", Some(r#"{"email":"x@y.z"}"#)).await.unwrap();
    assert_eq!((status, &answer["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("invalid_request")));
    let me = alice.me().await.unwrap();
    assert_eq!((me.display_name.as_str(), me.details), ("alice", Default::default()), "nothing changed");
}

async fn an_erased_account_keeps_no_status() {
    let server = TestServer::start();
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&alice, "Acme").await;
    confab_tests::join(&alice, ws, &bob).await;
    let (status, _) = alice
        .raw(Method::PUT, &format!("/workspaces/{ws}/erasure"), Some(r#"{"messages":"keep"}"#))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    bob.post(general, "kept after I go").await.unwrap();
    let bob_id = bob.me().await.unwrap().id;
    bob.update_profile(&UpdateProfile {
        status_text: Some("Moving to Lisbon".into()),
        status_emoji: Some("🚚".into()),
        time_zone: Some("Europe/Lisbon".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let (status, _) =
        bob.raw(Method::DELETE, "/me", Some(r#"{"password":"correct horse battery"}"#)).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    // His kept message is by "deleted user", whose profile says nothing else: a search
    // hit carries its author's profile.
    let mut hit = Value::Null;
    for _ in 0..100 {
        let (_, found) =
            alice.raw(Method::GET, &format!("/workspaces/{ws}/search?q=kept"), None).await.unwrap();
        if let Some(first) = found["hits"].as_array().and_then(|h| h.first()) {
            hit = first.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(hit["author"]["id"], bob_id.to_string(), "the kept message was found: {hit}");
    assert_eq!(hit["author"]["display_name"], "deleted user");
    for field in ["status_text", "status_emoji", "time_zone"] {
        assert!(hit["author"].get(field).is_none(), "{field} of an erased account: {hit}");
    }
}

async fn bots_and_webhooks_are_marked_in_the_member_list() {
    let server = TestServer::start();
    let (alice, _) = server.user("alice").await;
    let (ws, general) = confab_tests::workspace(&alice, "Acme").await;
    // A person signing up with the bots' address domain is no bot.
    let mimic = server
        .client()
        .signup_with(&confab_client::SignupRequest {
            email: "deploybot@bots.invalid".into(),
            password: "correct horse battery".into(),
            display_name: "deploybot".into(),
            username: Some("deploybot".into()),
            invite: None,
        })
        .await
        .unwrap();
    confab_tests::join(&alice, ws, &server.client().with_token(&mimic.token)).await;
    let (_, bot) = alice
        .raw(Method::POST, &format!("/workspaces/{ws}/bots"), Some(r#"{"name":"Deploy bot"}"#))
        .await
        .unwrap();
    let hook_body = json!({"channel": general}).to_string();
    let (_, hook) =
        alice.raw(Method::POST, &format!("/workspaces/{ws}/webhooks"), Some(&hook_body)).await.unwrap();
    let (_, members) = alice.raw(Method::GET, &format!("/workspaces/{ws}/members"), None).await.unwrap();
    assert_eq!(member(&members, bot["bot"]["id"].as_str().unwrap())["is_bot"], true);
    assert_eq!(member(&members, hook["webhook"]["bot"].as_str().unwrap())["is_bot"], true);
    let me = member(&members, &alice.me().await.unwrap().id.to_string());
    assert!(me.get("is_bot").is_none(), "a person: {me}");
    let mimic = member(&members, &mimic.user.id.to_string());
    assert!(mimic.get("is_bot").is_none(), "a person with a bots.invalid address: {mimic}");
    // A revoked bot's account (its messages stay) is still a bot's.
    let path = format!("/workspaces/{ws}/bots/{}", bot["bot"]["id"].as_str().unwrap());
    assert_eq!(alice.raw(Method::DELETE, &path, None).await.unwrap().0, StatusCode::NO_CONTENT);
    let (_, members) = alice.raw(Method::GET, &format!("/workspaces/{ws}/members"), None).await.unwrap();
    assert_eq!(member(&members, bot["bot"]["id"].as_str().unwrap())["is_bot"], true);
}

async fn a_channel_follows_the_workspace_retention_again() {
    let server = TestServer::start();
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&alice, "Acme").await;
    confab_tests::join(&alice, ws, &bob).await;
    let path = format!("/channels/{general}/retention");
    let put = |days: Value| json!({ "days": days }).to_string();
    alice.raw(Method::PUT, &format!("/workspaces/{ws}/retention"), Some(&put(json!(90)))).await.unwrap();
    let (_, own) = alice.raw(Method::PUT, &path, Some(&put(json!(7)))).await.unwrap();
    assert_eq!(own, json!({"days": 7, "set": true, "effective_days": 7}));
    let (status, refused) = bob.raw(Method::DELETE, &path, None).await.unwrap();
    assert_eq!((status, &refused["error"]["code"]), (StatusCode::FORBIDDEN, &json!("forbidden")));
    let (status, back) = alice.raw(Method::DELETE, &path, None).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(back, json!({"days": null, "set": false, "effective_days": 90}));
    let (_, read) = bob.raw(Method::GET, &path, None).await.unwrap();
    assert_eq!(read, back, "stored");
}

/// Sends `body` as the caller's picture: the status and the answer.
async fn put_avatar(client: &confab_client::Client, body: Vec<u8>) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .put(format!("{}/api/v1/me/avatar", client.base_url()))
        .bearer_auth(client.token().unwrap())
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Gets `user`'s picture as `client`: the status, the ETag and the bytes.
async fn get_avatar(
    client: &confab_client::Client,
    user: &str,
    etag: Option<&str>,
) -> (StatusCode, String, Vec<u8>) {
    let mut request = reqwest::Client::new()
        .get(format!("{}/api/v1/users/{user}/avatar", client.base_url()))
        .bearer_auth(client.token().unwrap());
    if let Some(tag) = etag {
        request = request.header("if-none-match", tag);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let tag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, tag, response.bytes().await.unwrap().to_vec())
}

async fn a_picture_is_made_by_the_server_and_shown_to_workspace_members_only() {
    let server = TestServer::start();
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let (carol, _) = server.user("carol").await;
    let (ws, _) = confab_tests::workspace(&alice, "Acme").await;
    confab_tests::join(&alice, ws, &bob).await;
    confab_tests::workspace(&carol, "Elsewhere").await;
    let alice_id = alice.me().await.unwrap().id.to_string();
    let mut live = bob.connect(&[]).await.unwrap();

    let (status, me) = put_avatar(&alice, crate::files::PNG.to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let version = me["avatar"].as_str().unwrap().to_owned();
    assert!(!version.is_empty(), "{me}");
    let (_, event) = live.wait_event(WAIT, "user.updated").await.unwrap();
    assert!(matches!(event, Event::UserUpdated { user } if user.to_string() == alice_id));
    let (_, members) = bob.raw(Method::GET, &format!("/workspaces/{ws}/members"), None).await.unwrap();
    assert_eq!(member(&members, &alice_id)["avatar"], version.as_str(), "members see the version");

    // A member gets the server's PNG: square, 256 px, whatever was sent.
    let (status, tag, png) = get_avatar(&bob, &alice_id, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert_eq!(
        (
            u32::from_be_bytes(png[16..20].try_into().unwrap()),
            u32::from_be_bytes(png[20..24].try_into().unwrap())
        ),
        (256, 256)
    );
    assert_eq!(tag, format!("\"{version}\""));
    assert_eq!(get_avatar(&bob, &alice_id, Some(&tag)).await.0, StatusCode::NOT_MODIFIED);
    assert_eq!(get_avatar(&alice, &alice_id, None).await.0, StatusCode::OK, "one's own");
    // Someone who shares no workspace with her learns nothing, not even that she has one.
    assert_eq!(get_avatar(&carol, &alice_id, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        get_avatar(&bob, &carol.me().await.unwrap().id.to_string(), None).await.0,
        StatusCode::NOT_FOUND
    );

    // Bad pictures are refused, and the one she has stays.
    let mut corrupt = crate::files::PNG[..30].to_vec();
    corrupt.extend_from_slice(&[0; 40]);
    for (body, code) in [
        (b"not an image at all".to_vec(), "invalid_field"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>x</script></svg>".to_vec(), "invalid_field"),
        (corrupt, "invalid_field"),
        (Vec::new(), "invalid_field"),
        (vec![0x89; 5 * 1024 * 1024 + 1], "payload_too_large"),
    ] {
        let (status, answer) = put_avatar(&alice, body).await;
        assert!(status.is_client_error(), "{answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
    }
    assert_eq!(get_avatar(&bob, &alice_id, None).await.2, png, "the picture she had is kept");

    // Removed: gone for everyone.
    let (status, me) = alice.raw(Method::DELETE, "/me/avatar", None).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(me.get("avatar").is_none(), "{me}");
    assert_eq!(get_avatar(&bob, &alice_id, None).await.0, StatusCode::NOT_FOUND);

    // An erased account keeps no picture.
    put_avatar(&bob, crate::files::PNG.to_vec()).await;
    let bob_id = bob.me().await.unwrap().id.to_string();
    assert_eq!(get_avatar(&alice, &bob_id, None).await.0, StatusCode::OK);
    let (status, _) =
        bob.raw(Method::DELETE, "/me", Some(r#"{"password":"correct horse battery"}"#)).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get_avatar(&alice, &bob_id, None).await.0, StatusCode::NOT_FOUND);
}
