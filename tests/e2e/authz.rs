//! The authorisation matrix: every endpoint, for each role, a non-member and a member
//! of another workspace. Private channels and DMs must not leak through any of them;
//! what a caller may not know exists answers `*_not_found`. "Every endpoint" is
//! checked: the routes are read from the router's source, and one without a row (or
//! a reason it is checked elsewhere) fails the test.

use confab_client::{Client, CreateInvite};
use confab_tests::TestServer;
use reqwest::Method;
use serde_json::json;

crate::cases!(every_endpoint_checks_who_is_asking);

struct Actor {
    name: &'static str,
    client: Client,
}

/// What a request must answer: a success status, or an error status and code.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Ok,
    Err(u16, &'static str),
}

const NO_WS: Expect = Expect::Err(404, "workspace_not_found");
const NO_CH: Expect = Expect::Err(404, "channel_not_found");
const NO_MSG: Expect = Expect::Err(404, "message_not_found");
const FORBIDDEN: Expect = Expect::Err(403, "forbidden");
const UNAUTH: Expect = Expect::Err(401, "unauthenticated");
const NO_INVITE: Expect = Expect::Err(404, "invite_not_found");
const NO_USER: Expect = Expect::Err(404, "user_not_found");
const NOT_FOUND: Expect = Expect::Err(404, "not_found");
const NO_FILE: Expect = Expect::Err(404, "file_not_found");
/// A second channel of the same name is a name clash, whoever asks.
const NAME_TAKEN: Expect = Expect::Err(409, "name_taken");

async fn every_endpoint_checks_who_is_asking() {
    let server = TestServer::start();
    let (owner, _) = server.user("owner").await;
    let (admin, admin_s) = server.user("admin").await;
    let (member, member_s) = server.user("member").await;
    let (guest, guest_s) = server.user("guest").await;
    let (outsider, _) = server.user("outsider").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    let other_ws = outsider.create_workspace("Elsewhere").await.unwrap().workspace.id;
    for user in [&admin, &member] {
        confab_tests::join(&owner, ws, user).await;
    }
    let guest_invite = CreateInvite { role: Some(confab_core::Role::Guest), ..Default::default() };
    guest.accept_invite(&owner.create_invite(ws, &guest_invite).await.unwrap().code).await.unwrap();
    owner.set_role(ws, admin_s.user.id, confab_core::Role::Admin).await.unwrap();
    let project = owner.create_channel(ws, "project", false).await.unwrap().id;
    owner.add_member(project, guest_s.user.id).await.unwrap();
    let secret = owner.create_channel(ws, "secret", true).await.unwrap().id;
    owner.add_member(secret, member_s.user.id).await.unwrap();
    let dm = owner.open_dm(ws, &[member_s.user.id]).await.unwrap().id;
    let secret_msg = owner.post(secret, "secret words").await.unwrap().id;
    let dm_msg = member.post(dm, "dm words").await.unwrap().id;
    let general_msg = owner.post(general, "hello all").await.unwrap().id;
    let project_msg = owner.post(project, "project talk").await.unwrap().id;

    let actors = [
        Actor { name: "owner", client: owner.clone() },
        Actor { name: "admin", client: admin.clone() },
        Actor { name: "member", client: member.clone() },
        Actor { name: "guest", client: guest.clone() },
        Actor { name: "outsider", client: outsider.clone() },
        Actor { name: "anonymous", client: server.client() },
    ];
    // (method, path, body, expectation per actor in the order above)
    let w = format!("/workspaces/{ws}");
    let policy = owner.raw(Method::GET, "/consent/policies", None).await.unwrap().1["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == "emoji_suggestions")
        .cloned()
        .unwrap();
    let grant = serde_json::json!({
        "granted": true, "scope": "workspace", "categories": ["messages", "reactions"],
        "members": "opt_in", "policy_version": policy["version"], "policy_sha256": policy["sha256"],
        "accept": true,
    })
    .to_string();
    // A search of the owner's that found the #general message (once the index has it).
    let mut query_id = String::new();
    for _ in 0..100 {
        let (_, found) = owner.raw(Method::GET, &format!("{w}/search?q=hello"), None).await.unwrap();
        if found["hits"].as_array().is_some_and(|h| !h.is_empty()) {
            query_id = found["query_id"].as_str().unwrap().to_string();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!query_id.is_empty(), "the search index caught up");
    let (extra, extra_s) = server.user("extra").await;
    confab_tests::join(&owner, ws, &extra).await;
    let revocable = owner.create_invite(ws, &CreateInvite::default()).await.unwrap().code;
    let preview_code = owner.create_invite(ws, &CreateInvite::default()).await.unwrap().code;
    let scratch = owner.create_channel(ws, "scratch", false).await.unwrap().id;
    let bot_path = format!("/workspaces/{ws}/bots");
    let made = owner.raw(Method::POST, &bot_path, Some(r#"{"name":"revocable bot"}"#)).await.unwrap().1;
    let revocable_bot = made["bot"]["id"].as_str().unwrap().to_string();
    let hook_body = json!({"channel": general}).to_string();
    let hook_path = format!("/workspaces/{ws}/webhooks");
    let made = owner.raw(Method::POST, &hook_path, Some(&hook_body)).await.unwrap().1;
    let revocable_hook = made["id"].as_str().unwrap().to_string();
    owner.add_member(scratch, extra_s.user.id).await.unwrap();
    // Files: one of #secret; one of #general by a member; one of a private channel
    // that only `extra` and the member are in, so no admin may see it.
    let secret_file = owner.upload(secret, "plan.txt", b"the plan", "").await.unwrap().file.id;
    let general_file = member.upload(general, "note.txt", b"a note", "with a note").await.unwrap().file.id;
    let den = extra.create_channel(ws, "den", true).await.unwrap().id;
    extra.add_member(den, member_s.user.id).await.unwrap();
    let den_file = extra.upload(den, "den.txt", b"den notes", "in the den").await.unwrap().file.id;
    let table: Vec<(Method, String, Option<String>, [Expect; 6])> = vec![
        (
            Method::GET,
            "/me".into(),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, UNAUTH],
        ),
        (
            Method::PATCH,
            "/me".into(),
            Some(json!({"status_text": "here"}).to_string()),
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/members"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/channels"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/presence"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::POST,
            format!("{w}/invites"),
            Some("{}".into()),
            [Expect::Ok, Expect::Ok, Expect::Ok, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::POST,
            format!("{w}/invites"),
            Some(r#"{"role":"guest"}"#.into()),
            [Expect::Ok, Expect::Ok, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::PATCH,
            format!("{w}/members/{}", guest_s.user.id),
            Some(r#"{"role":"guest"}"#.into()),
            [Expect::Ok, Expect::Ok, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::POST,
            format!("{w}/dms"),
            Some(format!(r#"{{"users":["{}","{}"]}}"#, admin_s.user.id, member_s.user.id)),
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        // Channels of every kind.
        (
            Method::GET,
            format!("/channels/{general}"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::GET,
            format!("/channels/{project}/messages"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_CH, UNAUTH],
        ),
        (
            Method::GET,
            format!("/channels/{general}/messages"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::GET,
            format!("/channels/{secret}"),
            None,
            [Expect::Ok, NO_CH, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::GET,
            format!("/channels/{secret}/messages"),
            None,
            [Expect::Ok, NO_CH, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::GET,
            format!("/channels/{dm}/messages"),
            None,
            [Expect::Ok, NO_CH, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::POST,
            format!("/channels/{secret}/messages"),
            Some(r#"{"text":"x"}"#.into()),
            [Expect::Ok, NO_CH, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::POST,
            format!("/channels/{dm}/messages"),
            Some(r#"{"text":"x"}"#.into()),
            [Expect::Ok, NO_CH, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::POST,
            format!("/channels/{secret}/join"),
            None,
            [Expect::Ok, NO_CH, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::POST,
            format!("/channels/{general}/join"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::POST,
            format!("/channels/{secret}/members"),
            Some(format!(r#"{{"user":"{}"}}"#, member_s.user.id)),
            [Expect::Ok, NO_CH, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::PATCH,
            format!("/channels/{secret}"),
            Some(r#"{"topic":"t"}"#.into()),
            [Expect::Ok, NO_CH, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::POST,
            format!("/channels/{secret}/read"),
            Some(r#"{"seq":1}"#.into()),
            [Expect::Ok, NO_CH, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::POST,
            format!("/workspaces/{other_ws}/channels"),
            Some(r#"{"name":"intrude"}"#.into()),
            [NO_WS, NO_WS, NO_WS, NO_WS, Expect::Ok, UNAUTH],
        ),
        (
            Method::POST,
            format!("{w}/channels"),
            Some(r#"{"name":"guests-room"}"#.into()),
            [Expect::Ok, NAME_TAKEN, NAME_TAKEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        // Messages.
        (
            Method::GET,
            format!("/messages/{secret_msg}"),
            None,
            [Expect::Ok, NO_MSG, Expect::Ok, NO_MSG, NO_MSG, UNAUTH],
        ),
        (
            Method::GET,
            format!("/messages/{dm_msg}"),
            None,
            [Expect::Ok, NO_MSG, Expect::Ok, NO_MSG, NO_MSG, UNAUTH],
        ),
        (
            Method::GET,
            format!("/messages/{secret_msg}/thread"),
            None,
            [Expect::Ok, NO_MSG, Expect::Ok, NO_MSG, NO_MSG, UNAUTH],
        ),
        (
            Method::POST,
            format!("/messages/{secret_msg}/thread/read"),
            Some(r#"{"seq":1}"#.into()),
            [Expect::Ok, NO_MSG, Expect::Ok, NO_MSG, NO_MSG, UNAUTH],
        ),
        (
            Method::PUT,
            format!("/messages/{secret_msg}/saved"),
            None,
            [Expect::Ok, NO_MSG, Expect::Ok, NO_MSG, NO_MSG, UNAUTH],
        ),
        (
            Method::DELETE,
            format!("/messages/{secret_msg}/saved"),
            None,
            [Expect::Ok, NO_MSG, Expect::Ok, NO_MSG, NO_MSG, UNAUTH],
        ),
        (
            Method::PUT,
            format!("/messages/{secret_msg}/pin"),
            None,
            [Expect::Ok, NO_MSG, Expect::Ok, NO_MSG, NO_MSG, UNAUTH],
        ),
        (
            Method::GET,
            format!("/channels/{secret}/pins"),
            None,
            [Expect::Ok, NO_CH, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::DELETE,
            format!("/messages/{secret_msg}/pin"),
            None,
            [Expect::Ok, NO_MSG, Expect::Ok, NO_MSG, NO_MSG, UNAUTH],
        ),
        (
            Method::PUT,
            format!("/channels/{secret}/notifications"),
            Some(r#"{"level":"mute"}"#.into()),
            [Expect::Ok, NO_CH, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/saved"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        // Activity and threads: one's own, in workspaces one is in.
        (
            Method::GET,
            format!("{w}/activity"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/threads"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("/messages/{general_msg}"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, NO_MSG, NO_MSG, UNAUTH],
        ),
        (
            Method::GET,
            format!("/messages/{project_msg}"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_MSG, UNAUTH],
        ),
        (
            Method::PUT,
            format!("/messages/{secret_msg}/reactions/%F0%9F%91%8D"),
            None,
            [Expect::Ok, NO_MSG, Expect::Ok, NO_MSG, NO_MSG, UNAUTH],
        ),
        (
            Method::PATCH,
            format!("/messages/{secret_msg}"),
            Some(r#"{"text":"changed"}"#.into()),
            [Expect::Ok, NO_MSG, FORBIDDEN, NO_MSG, NO_MSG, UNAUTH],
        ),
        (
            Method::DELETE,
            format!("/messages/{dm_msg}"),
            None,
            [Expect::Ok, NO_MSG, Expect::Ok, NO_MSG, NO_MSG, UNAUTH],
        ),
        (
            Method::POST,
            format!("/channels/{project}/messages"),
            Some(r#"{"text":"project note"}"#.into()),
            [Expect::Ok, FORBIDDEN, FORBIDDEN, Expect::Ok, NO_CH, UNAUTH],
        ),
        (
            Method::DELETE,
            format!("/messages/{secret_msg}/reactions/%F0%9F%91%8D"),
            None,
            [Expect::Ok, NO_MSG, Expect::Ok, NO_MSG, NO_MSG, UNAUTH],
        ),
        (
            Method::GET,
            "/workspaces".into(),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, UNAUTH],
        ),
        (
            Method::POST,
            "/workspaces".into(),
            Some(r#"{"name":"Side project"}"#.into()),
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/invites"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::DELETE,
            format!("{w}/invites/{revocable}"),
            None,
            [Expect::Ok, NO_INVITE, NO_INVITE, NO_INVITE, NO_WS, UNAUTH],
        ),
        (
            Method::POST,
            format!("/invites/{revocable}/accept"),
            None,
            [NO_INVITE, NO_INVITE, NO_INVITE, NO_INVITE, NO_INVITE, UNAUTH],
        ),
        (
            Method::GET,
            format!("/invites/{preview_code}"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, UNAUTH],
        ),
        (
            Method::PATCH,
            w.clone(),
            Some(r#"{"name":"W renamed"}"#.into()),
            [Expect::Ok, Expect::Ok, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("/channels/{secret}/members"),
            None,
            [Expect::Ok, NO_CH, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::DELETE,
            format!("/channels/{scratch}/members/{}", extra_s.user.id),
            None,
            [Expect::Ok, NO_USER, FORBIDDEN, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::GET,
            format!("/files/{secret_file}/info"),
            None,
            [Expect::Ok, NO_FILE, Expect::Ok, NO_FILE, NO_FILE, UNAUTH],
        ),
        (
            Method::DELETE,
            format!("/files/{den_file}"),
            None,
            [NO_FILE, NO_FILE, FORBIDDEN, NO_FILE, NO_FILE, UNAUTH],
        ),
        (
            Method::DELETE,
            format!("/files/{general_file}"),
            None,
            [Expect::Ok, NO_FILE, NO_FILE, NO_FILE, NO_FILE, UNAUTH],
        ),
        // The machine-learning routes.
        (
            Method::GET,
            format!("{w}/search?q=secret"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::POST,
            format!("{w}/search/clicks"),
            Some(format!(r#"{{"query_id":"{query_id}","message":"{general_msg}"}}"#)),
            [Expect::Ok, NOT_FOUND, NOT_FOUND, NOT_FOUND, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/emoji/suggest?prefix=th"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/channels/suggested"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/consent"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/erasure"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::PUT,
            format!("{w}/erasure"),
            Some(json!({"messages": "keep"}).to_string()),
            [Expect::Ok, Expect::Ok, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/retention"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::PUT,
            format!("{w}/retention"),
            Some(json!({"days": null}).to_string()),
            [Expect::Ok, Expect::Ok, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/export"),
            None,
            [Expect::Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("/channels/{secret}/retention"),
            None,
            [Expect::Ok, NO_CH, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::PUT,
            format!("/channels/{general}/retention"),
            Some(json!({"days": null}).to_string()),
            [Expect::Ok, Expect::Ok, FORBIDDEN, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::DELETE,
            format!("/channels/{general}/retention"),
            None,
            [Expect::Ok, Expect::Ok, FORBIDDEN, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::POST,
            format!("{w}/bots"),
            Some(r#"{"name":"a bot"}"#.into()),
            [Expect::Ok, Expect::Ok, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/bots"),
            None,
            [Expect::Ok, Expect::Ok, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::DELETE,
            format!("{w}/bots/{revocable_bot}"),
            None,
            [Expect::Ok, NO_USER, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::POST,
            format!("{w}/webhooks"),
            Some(json!({"channel": general}).to_string()),
            [Expect::Ok, Expect::Ok, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/webhooks"),
            None,
            [Expect::Ok, Expect::Ok, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::DELETE,
            format!("{w}/webhooks/{revocable_hook}"),
            None,
            [Expect::Ok, NOT_FOUND, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/consent/history"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::PUT,
            format!("{w}/consent/emoji_suggestions"),
            Some(grant.clone()),
            [Expect::Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::PUT,
            format!("{w}/consent/emoji_suggestions/me"),
            Some(r#"{"included":false}"#.into()),
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/consent/preview?purpose=emoji_suggestions"),
            None,
            // Members and guests get only their own records (consent_attacks.rs).
            [Expect::Ok, Expect::Ok, Expect::Ok, Expect::Ok, NO_WS, UNAUTH],
        ),
        (
            Method::GET,
            format!("{w}/models"),
            None,
            [Expect::Ok, Expect::Ok, FORBIDDEN, FORBIDDEN, NO_WS, UNAUTH],
        ),
        (
            Method::POST,
            "/admin/train".into(),
            Some(r#"{"dry_run":true}"#.into()),
            [Expect::Ok, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, UNAUTH],
        ),
        // Leaving, and removing members, last: they change who may do what.
        (
            Method::POST,
            format!("/channels/{general}/leave"),
            None,
            [Expect::Ok, Expect::Ok, Expect::Ok, NO_CH, NO_CH, UNAUTH],
        ),
        (
            Method::DELETE,
            format!("{w}/members/{}", extra_s.user.id),
            None,
            [Expect::Ok, NO_USER, NO_USER, NO_USER, NO_WS, UNAUTH],
        ),
    ];
    every_route_has_a_row(&table, &[&revocable, &preview_code]);
    let mut failures = Vec::new();
    for (method, path, body, expectations) in &table {
        for (actor, expect) in actors.iter().zip(expectations) {
            let (status, value) = actor.client.raw(method.clone(), path, body.as_deref()).await.unwrap();
            let ok = match expect {
                Expect::Ok => status.is_success(),
                Expect::Err(code, name) => status.as_u16() == *code && value["error"]["code"] == *name,
            };
            if !ok {
                failures.push(format!(
                    "{} {method} {path}: expected {expect:?}, got {status} {value}",
                    actor.name
                ));
            }
            // Nothing of the private channel or the DM ever appears in an answer to
            // someone outside them.
            if !matches!(actor.name, "owner" | "member") {
                let text = value.to_string();
                assert!(
                    !text.contains("secret words") && !text.contains("dm words"),
                    "{} saw {text}",
                    actor.name
                );
            }
        }
    }
    assert!(failures.is_empty(), "{} authorisation failures:\n{}", failures.len(), failures.join("\n"));

    // Channel lists: only what each may see.
    // (DMs aside: the table opened some.)
    let names = |list: Vec<confab_core::ChannelView>| -> Vec<String> {
        let mut n: Vec<String> = list
            .into_iter()
            .filter(|c| c.channel.kind != confab_core::ChannelKind::Dm)
            .map(|c| c.channel.name)
            .collect();
        n.sort();
        n
    };
    let admin_ids: Vec<_> = admin.channels(ws).await.unwrap().into_iter().map(|c| c.channel.id).collect();
    assert!(!admin_ids.contains(&secret) && !admin_ids.contains(&dm), "{admin_ids:?}");
    assert!(names(member.channels(ws).await.unwrap()).contains(&"secret".to_string()));
    assert_eq!(names(guest.channels(ws).await.unwrap()), ["project"]);
}

/// Routes the table leaves out, each with where it is checked instead.
const NOT_IN_THE_TABLE: &[(&str, &str, &str)] = &[
    ("POST", "/auth/signup", "anyone may call it: bad_input and chat tests"),
    ("POST", "/auth/login", "anyone may call it: bad_input::login_failures_are_throttled"),
    (
        "POST",
        "/auth/logout",
        "ends the caller's own session: revocation::signing_out_closes_that_sessions_sockets",
    ),
    ("POST", "/auth/logout_all", "ends the caller's own sessions: revocation tests"),
    ("POST", "/auth/password", "changes the caller's own password: revocation tests"),
    ("GET", "/consent/policies", "public policy texts"),
    ("GET", "/features", "public feature list"),
    ("GET", "/ws", "the WebSocket: live tests"),
    ("GET", "/healthz", "public health check"),
    ("POST", "/auth/reset_password", "anyone holding a reset link: lifecycle::a_reset_link_works_once"),
    (
        "POST",
        "/hooks/{ws}/{hook}/{secret}",
        "anyone holding the webhook's URL: slack_api::webhooks_take_slacks_payload_until_revoked",
    ),
    ("GET", "/api/slack/{method}", "Slack's Web API: slack_api::slack_sdk_drives_every_method"),
    ("POST", "/api/slack/{method}", "Slack's Web API: slack_api::slack_sdk_drives_every_method"),
    ("DELETE", "/me", "erases the caller's own account: lifecycle::erasure_reaches_everything"),
    ("POST", "/channels/{ch}/files", "a multipart body: files::upload_download_and_who_may_read"),
    ("GET", "/files/{id}", "files::upload_download_and_who_may_read"),
    ("GET", "/files/{id}/thumb", "files::upload_download_and_who_may_read"),
    ("GET", "/me/export", "the caller's own data: lifecycle::a_personal_export_holds_everything_about_them"),
    (
        "PUT",
        "/me/avatar",
        "the caller's own picture: profile::a_picture_is_made_by_the_server_and_shown_to_workspace_members_only",
    ),
    (
        "DELETE",
        "/me/avatar",
        "the caller's own picture: profile::a_picture_is_made_by_the_server_and_shown_to_workspace_members_only",
    ),
    (
        "GET",
        "/users/{user}/avatar",
        "members of a shared workspace: profile::a_picture_is_made_by_the_server_and_shown_to_workspace_members_only",
    ),
];

/// A path with every id, code, emoji and purpose in it replaced by `{}`.
fn template_of(path: &str, codes: &[&str]) -> String {
    let path = path.split('?').next().unwrap_or(path);
    path.split('/')
        .map(|segment| {
            let id = segment.len() == 26 && segment.chars().all(|c| c.is_ascii_alphanumeric());
            if id || codes.contains(&segment) || segment.contains('%') || segment == "emoji_suggestions" {
                "{}".to_string()
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every registered route is in the table or in [`NOT_IN_THE_TABLE`], and that list
/// names only routes that exist.
fn every_route_has_a_row(table: &[(Method, String, Option<String>, [Expect; 6])], codes: &[&str]) {
    let covered: std::collections::HashSet<(String, String)> =
        table.iter().map(|(m, path, _, _)| (m.to_string(), template_of(path, codes))).collect();
    let routes = confab_tests::registered_routes();
    let mut missing = Vec::new();
    for (method, path) in &routes {
        let template =
            path.split('/').map(|s| if s.starts_with('{') { "{}" } else { s }).collect::<Vec<_>>().join("/");
        let elsewhere = NOT_IN_THE_TABLE.iter().any(|(m, p, _)| m == method && p == path);
        if !elsewhere && !covered.contains(&(method.clone(), template)) {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(missing.is_empty(), "routes without a row in the authorisation table: {missing:?}");
    for (method, path, _) in NOT_IN_THE_TABLE {
        assert!(
            routes.iter().any(|(m, p)| m == method && p == path),
            "{method} {path} is listed as checked elsewhere but is not a route"
        );
    }
}
