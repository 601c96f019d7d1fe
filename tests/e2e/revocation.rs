//! An owner can cut someone off, and one member cannot make the server do unbounded
//! work: removing a member, revoking invites, demoting to guest, the write rate over
//! every mutation and the per-account quotas, each as a client would see it.

use std::time::Duration;

use confab_client::{CreateInvite, Live, ServerFrame};
use confab_core::Event;
use confab_tests::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::json;

crate::cases!(
    signing_out_closes_that_sessions_sockets,
    signing_out_everywhere_and_changing_the_password_close_the_other_sessions,
    a_removed_member_is_cut_off_at_once,
    invites_are_listed_to_whom_they_belong_and_revoked,
    demotion_to_guest_leaves_the_public_channels,
    every_mutation_counts_against_one_write_rate,
    workspaces_and_channels_have_per_account_quotas,
    a_channel_creator_lists_and_removes_members_and_an_invite_shows_where_it_leads,
);

const WAIT: Duration = Duration::from_secs(5);

/// Waits until `live` receives a `message.created` whose text is `text`; `None` if
/// none comes within `within`.
async fn receives_message(live: &mut Live, text: &str, within: Duration) -> Option<()> {
    live.wait_for(within, text, |f| {
        matches!(f, ServerFrame::Event { event: Event::MessageCreated { message }, .. } if message.text == text)
    })
    .await
    .ok()
    .map(drop)
}

/// Waits for the close frame and returns its code.
async fn closed_with(live: &mut Live) -> Option<u16> {
    match live.wait_for(WAIT, "close", |f| matches!(f, ServerFrame::Closed { .. })).await {
        Ok(ServerFrame::Closed { code, .. }) => code,
        other => panic!("expected the socket to close: {other:?}"),
    }
}

async fn signing_out_closes_that_sessions_sockets() {
    let server = TestServer::start();
    let (alice, _) = server.user("alice").await;
    let (ws, general) = confab_tests::workspace(&alice, "Acme").await;
    let laptop = server.client().with_token(
        &server.client().login("alice@example.com", "correct horse battery").await.unwrap().token,
    );
    let mut phone_socket = alice.connect(&[]).await.unwrap();
    let mut laptop_socket = laptop.connect(&[]).await.unwrap();
    laptop.logout().await.unwrap();
    assert_eq!(closed_with(&mut laptop_socket).await, Some(4001), "the signed-out session's socket closes");
    // The other session's socket is untouched and still receives.
    alice.post(general, "still here").await.unwrap();
    receives_message(&mut phone_socket, "still here", WAIT).await.expect("the other session receives");
    let (status, _) = laptop.raw(Method::GET, &format!("/workspaces/{ws}/channels"), None).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn signing_out_everywhere_and_changing_the_password_close_the_other_sessions() {
    let server = TestServer::start();
    let (alice, _) = server.user("alice").await;
    let login = || async {
        let session = server.client().login("alice@example.com", "correct horse battery").await.unwrap();
        server.client().with_token(&session.token)
    };
    // A password change keeps the session that made it and ends every other one.
    let other = login().await;
    let mut other_socket = other.connect(&[]).await.unwrap();
    let mut own_socket = alice.connect(&[]).await.unwrap();
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new}).to_string();
    let (status, body) = alice
        .raw(Method::POST, "/auth/password", Some(&change("wrong password", "a new long password")))
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    let (status, _) = alice
        .raw(Method::POST, "/auth/password", Some(&change("correct horse battery", "a new long password")))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(closed_with(&mut other_socket).await, Some(4001));
    assert!(other.me().await.is_err(), "the other session has ended");
    alice.me().await.expect("the session that changed the password goes on");
    assert!(server.client().login("alice@example.com", "correct horse battery").await.is_err());
    let again = server.client().login("alice@example.com", "a new long password").await.unwrap();
    let again = server.client().with_token(&again.token);

    // Signing out everywhere ends all of them, this one included.
    let mut again_socket = again.connect(&[]).await.unwrap();
    let (status, body) = alice.raw(Method::POST, "/auth/logout_all", None).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sessions_ended"], 2);
    assert_eq!(closed_with(&mut own_socket).await, Some(4001));
    assert_eq!(closed_with(&mut again_socket).await, Some(4001));
    assert!(alice.me().await.is_err() && again.me().await.is_err());
}

async fn a_removed_member_is_cut_off_at_once() {
    let server = TestServer::start();
    let (owner, _) = server.user("owner").await;
    let (mallory, mallory_s) = server.user("mallory").await;
    let (ws, general) = confab_tests::workspace(&owner, "Acme").await;
    confab_tests::join(&owner, ws, &mallory).await;
    let secret = owner.create_channel(ws, "secret", true).await.unwrap().id;
    owner.add_member(secret, mallory_s.user.id).await.unwrap();
    let mut live = mallory.connect(&[]).await.unwrap();
    owner.post(general, "before").await.unwrap();
    receives_message(&mut live, "before", WAIT).await.expect("a member receives");

    // A plain member cannot remove anyone.
    let path = format!("/workspaces/{ws}/members/{}", mallory_s.user.id);
    let (status, body) = mallory
        .raw(Method::DELETE, &format!("/workspaces/{ws}/members/{}", owner.me().await.unwrap().id), None)
        .await
        .unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));

    let (status, _) = owner.raw(Method::DELETE, &path, None).await.unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The removed member is told, on the socket they hold...
    let told = live
        .wait_for(WAIT, "member.left", |f| {
            matches!(f, ServerFrame::Event { event: Event::MemberLeft { channel: None, user }, .. }
                if *user == mallory_s.user.id)
        })
        .await;
    assert!(told.is_ok(), "the removed member gets member.left: {told:?}");
    // ...and hears nothing more from the workspace, public or private.
    owner.post(general, "after, public").await.unwrap();
    owner.post(secret, "after, private").await.unwrap();
    assert!(receives_message(&mut live, "after, public", Duration::from_millis(700)).await.is_none());
    assert!(receives_message(&mut live, "after, private", Duration::from_millis(100)).await.is_none());
    // Nothing of the workspace answers them any more.
    for path in [format!("/channels/{general}/messages"), format!("/channels/{secret}/messages")] {
        let (status, body) = mallory.raw(Method::GET, &path, None).await.unwrap();
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("channel_not_found"))
        );
    }
    assert!(mallory.workspaces().await.unwrap().is_empty());
    let members = owner.members(ws).await.unwrap();
    assert!(members.iter().all(|m| m.profile.id != mallory_s.user.id));
    // The last owner can neither leave nor be removed.
    let owner_id = owner.me().await.unwrap().id;
    let (status, body) =
        owner.raw(Method::DELETE, &format!("/workspaces/{ws}/members/{owner_id}"), None).await.unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("last_owner")));
}

async fn invites_are_listed_to_whom_they_belong_and_revoked() {
    let server = TestServer::start();
    let (owner, _) = server.user("owner").await;
    let (member, _) = server.user("member").await;
    let (stranger, _) = server.user("stranger").await;
    let (ws, _) = confab_tests::workspace(&owner, "Acme").await;
    confab_tests::join(&owner, ws, &member).await;
    let owners = owner.create_invite(ws, &CreateInvite::default()).await.unwrap();
    let members = member.create_invite(ws, &CreateInvite::default()).await.unwrap();
    let codes = |body: &serde_json::Value| -> Vec<String> {
        body["invites"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap().to_string()).collect()
    };
    let path = format!("/workspaces/{ws}/invites");
    let (_, all) = owner.raw(Method::GET, &path, None).await.unwrap();
    assert_eq!(codes(&all).len(), 3, "the owner sees every invite (one was used to join)");
    let (_, own) = member.raw(Method::GET, &path, None).await.unwrap();
    assert_eq!(codes(&own), vec![members.code.clone()], "a member sees only their own");
    // A member cannot revoke someone else's invite, nor learn that it exists.
    let (status, body) = member.raw(Method::DELETE, &format!("{path}/{}", owners.code), None).await.unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("invite_not_found")));
    let (status, _) = owner.raw(Method::DELETE, &format!("{path}/{}", owners.code), None).await.unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    let refused = stranger.accept_invite(&owners.code).await.unwrap_err().to_string();
    assert!(refused.contains("invite_not_found"), "{refused}");
    let (_, all) = owner.raw(Method::GET, &path, None).await.unwrap();
    assert!(!codes(&all).contains(&owners.code));
}

async fn demotion_to_guest_leaves_the_public_channels() {
    let server = TestServer::start();
    let (owner, _) = server.user("owner").await;
    let (member, member_s) = server.user("member").await;
    let (ws, general) = confab_tests::workspace(&owner, "Acme").await;
    confab_tests::join(&owner, ws, &member).await;
    let private = owner.create_channel(ws, "private", true).await.unwrap().id;
    owner.add_member(private, member_s.user.id).await.unwrap();
    owner.set_role(ws, member_s.user.id, confab_core::Role::Guest).await.unwrap();
    let channels = member.channels(ws).await.unwrap();
    let names: Vec<&str> = channels.iter().map(|c| c.channel.name.as_str()).collect();
    assert_eq!(names, vec!["private"], "a guest keeps the channels they were added to");
    let (status, _) = member.raw(Method::GET, &format!("/channels/{general}/messages"), None).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn every_mutation_counts_against_one_write_rate() {
    let server = TestServer::start_with(&[
        ("CONFAB_LIMITS_WRITE_BURST", "20"),
        ("CONFAB_LIMITS_WRITES_PER_SECOND", "1"),
    ]);
    let (alice, _) = server.user("alice").await;
    let (ws, general) = confab_tests::workspace(&alice, "Acme").await;
    let message = alice.post(general, "x").await.unwrap();
    // Edits, reactions and read markers share one budget: a flood is cut off.
    let mut limited = None;
    for n in 0..60 {
        let result = match n % 3 {
            0 => alice.edit(message.id, &format!("edit {n}")).await.map(drop),
            1 => alice.react(message.id, "tada").await.map(drop),
            _ => alice.mark_read(general, 1).await.map(drop),
        };
        if let Err(e) = result {
            limited = Some((n, e.to_string()));
            break;
        }
    }
    let (n, error) = limited.expect("the flood is rate limited");
    assert!(n <= 21 && error.contains("rate_limited"), "limited after {n}: {error}");
    // Searching has its own budget, and posting its own: both still work.
    alice.post(general, "still posting").await.expect("posting has its own rate");
    let (status, _) =
        alice.raw(Method::GET, &format!("/workspaces/{ws}/search?q=posting"), None).await.unwrap();
    assert_eq!(status, StatusCode::OK);
}

async fn workspaces_and_channels_have_per_account_quotas() {
    let server = TestServer::start_with(&[
        ("CONFAB_LIMITS_MAX_WORKSPACES_PER_USER", "2"),
        ("CONFAB_LIMITS_MAX_CHANNELS_PER_USER", "2"),
    ]);
    let (alice, _) = server.user("alice").await;
    let (ws, _) = confab_tests::workspace(&alice, "One").await;
    alice.create_workspace("Two").await.unwrap();
    let refused = alice.create_workspace("Three").await.unwrap_err().to_string();
    assert!(refused.contains("quota_exceeded"), "{refused}");
    // #general was created by the owner too: one more channel fits.
    alice.create_channel(ws, "one", false).await.unwrap();
    let refused = alice.create_channel(ws, "two", false).await.unwrap_err().to_string();
    assert!(refused.contains("quota_exceeded"), "{refused}");
}

async fn a_channel_creator_lists_and_removes_members_and_an_invite_shows_where_it_leads() {
    let server = TestServer::start();
    let (owner, owner_s) = server.user("owner").await;
    let (bob, bob_s) = server.user("bob").await;
    let (ws, _) = confab_tests::workspace(&owner, "Acme").await;
    // Whoever holds an invite code sees where it leads before joining.
    let code = owner.create_invite(ws, &CreateInvite::default()).await.unwrap().code;
    let (status, preview) = bob.raw(Method::GET, &format!("/invites/{code}"), None).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (preview["workspace"]["name"].as_str(), preview["role"].as_str()),
        (Some("Acme"), Some("member"))
    );
    bob.accept_invite(&code).await.unwrap();
    let private = owner.create_channel(ws, "private", true).await.unwrap().id;
    owner.add_member(private, bob_s.user.id).await.unwrap();
    let members = |body: &serde_json::Value| -> Vec<String> {
        body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["username"].as_str().unwrap().to_string())
            .collect()
    };
    let path = format!("/channels/{private}/members");
    let (_, listed) = bob.raw(Method::GET, &path, None).await.unwrap();
    assert_eq!(members(&listed), ["owner", "bob"]);
    // Bob is cut off from the channel at once.
    let mut live = bob.connect(&[]).await.unwrap();
    let (status, _) = owner.raw(Method::DELETE, &format!("{path}/{}", bob_s.user.id), None).await.unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    owner.post(private, "after bob left").await.unwrap();
    assert!(receives_message(&mut live, "after bob left", Duration::from_millis(700)).await.is_none());
    let (status, _) = bob.raw(Method::GET, &path, None).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Renaming the workspace tells its members.
    let (status, _) =
        owner.raw(Method::PATCH, &format!("/workspaces/{ws}"), Some(r#"{"name":"Acme Ltd"}"#)).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let renamed = live
        .wait_for(WAIT, "workspace.updated", |f| {
            matches!(f, ServerFrame::Event { event: Event::WorkspaceUpdated { workspace }, .. } if workspace.name == "Acme Ltd")
        })
        .await;
    assert!(renamed.is_ok(), "{renamed:?}");
    let _ = owner_s;
}
