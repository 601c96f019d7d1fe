//! People's profiles: a member edits their own display name, status (text and emoji)
//! and time zone with `PATCH /me`; the other members of their workspaces see it in the
//! member list and hear `user.updated` live, people outside them do not; bad values
//! are refused by field; an erased account keeps none of it. Bots and webhooks show
//! as bots in the member list; a person cannot pass for one. A channel's own
//! retention can be dropped again (`DELETE /channels/{ch}/retention`).

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
    a_channel_follows_the_workspace_retention_again
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
