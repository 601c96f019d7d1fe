//! Whole chat flows as two people would use them: channels, DMs, threads,
//! reactions, mentions, read markers, edits and deletes, over HTTP and live.

use std::time::Duration;

use confab_client::{CreateInvite, PostOptions, ServerFrame};
use confab_core::{ChannelKind, ErrorCode, Event, Role};
use confab_tests::TestServer;
use serde_json::json;

crate::cases!(
    two_users_chat_in_a_channel_and_a_dm,
    retried_posts_are_idempotent,
    threads_reactions_mentions_and_read_markers,
    edits_and_deletes,
    invites_roles_and_the_last_owner,
);

const WAIT: Duration = Duration::from_secs(10);

async fn two_users_chat_in_a_channel_and_a_dm() {
    let server = TestServer::start();
    let (ada, ada_session) = server.user("ada").await;
    let (bob, bob_session) = server.user("bob").await;
    assert!(ada_session.user.instance_admin, "the first account administers the instance");
    assert!(!bob_session.user.instance_admin);

    let ws = ada.create_workspace("Engines").await.unwrap().workspace.id;
    let invite = ada.create_invite(ws, &CreateInvite::default()).await.unwrap();
    bob.accept_invite(&invite.code).await.unwrap();
    let general = bob.channel_named(ws, "general").await.unwrap();
    assert!(general.is_member, "a new member joins #general");

    let mut bob_live = bob.connect(&[]).await.unwrap();
    assert_eq!(bob_live.user.id, bob_session.user.id);
    let mut ada_live = ada.connect(&[]).await.unwrap();

    // Ada sends over the WebSocket; she gets an ack, Bob gets the event.
    ada_live.send_message("r1", general.channel.id, "hello bob").await.unwrap();
    let ack = ada_live.wait_for(WAIT, "ack", |f| matches!(f, ServerFrame::Ack { .. })).await.unwrap();
    let ServerFrame::Ack { req, message } = ack else { unreachable!() };
    assert_eq!(req, "r1");
    assert_eq!(message.seq, 1);
    let (_, event) = bob_live.wait_event(WAIT, "message.created").await.unwrap();
    let Event::MessageCreated { message: received } = event else { unreachable!() };
    assert_eq!(received.id, message.id);
    assert_eq!(received.text, "hello bob");

    // Bob answers over HTTP; Ada sees it live.
    let reply = bob.post(general.channel.id, "hi ada").await.unwrap();
    assert_eq!(reply.seq, 2);
    let seen = ada_live
        .wait_for(WAIT, "Bob's reply", |f| {
            matches!(f, ServerFrame::Event { event: Event::MessageCreated { message }, .. } if message.id == reply.id)
        })
        .await;
    assert!(seen.is_ok(), "{seen:?}");

    // History pages both ways.
    let newest_first = ada.history(general.channel.id, None, None, 10).await.unwrap();
    assert_eq!(newest_first.iter().map(|m| m.seq).collect::<Vec<_>>(), [2, 1]);
    let after_one = ada.history(general.channel.id, None, Some(1), 10).await.unwrap();
    assert_eq!(after_one.iter().map(|m| m.id).collect::<Vec<_>>(), [reply.id]);
    let before_two = ada.history(general.channel.id, Some(2), None, 10).await.unwrap();
    assert_eq!(before_two.iter().map(|m| m.seq).collect::<Vec<_>>(), [1]);

    // A DM between the two: opening it twice gives the same channel.
    let dm = ada.open_dm(ws, &[bob_session.user.id]).await.unwrap();
    assert_eq!(dm.kind, ChannelKind::Dm);
    assert_eq!(bob.open_dm(ws, &[ada_session.user.id]).await.unwrap().id, dm.id);
    ada.post(dm.id, "just between us").await.unwrap();
    let seen = bob_live
        .wait_for(WAIT, "the DM", |f| {
            matches!(f, ServerFrame::Event { event: Event::MessageCreated { message }, .. } if message.channel == dm.id)
        })
        .await;
    assert!(seen.is_ok(), "{seen:?}");
    let bob_channels = bob.channels(ws).await.unwrap();
    let bob_dm = bob_channels.iter().find(|c| c.channel.id == dm.id).expect("the DM is in Bob's list");
    assert_eq!(bob_dm.unread_count, 1);
    assert_eq!(bob_dm.dm_members.iter().map(|p| p.id).collect::<Vec<_>>(), [ada_session.user.id]);

    // Typing reaches the other member, not the typist.
    ada_live.send_json(&json!({"type": "typing", "channel": general.channel.id})).await.unwrap();
    let typing = bob_live.wait_event(WAIT, "typing").await.unwrap();
    assert!(matches!(typing.1, Event::Typing { user, .. } if user == ada_session.user.id));

    // Log-out ends the session.
    ada.logout().await.unwrap();
    assert_eq!(ada.me().await.unwrap_err().code(), Some(ErrorCode::Unauthenticated));
    let again = server.client().login("ada@example.com", "correct horse battery").await.unwrap();
    assert_eq!(again.user.id, ada_session.user.id);
}

async fn retried_posts_are_idempotent() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (_, general) = confab_tests::workspace(&ada, "W").await;
    let options = PostOptions { client_msg_id: Some("retry-me-1".into()), ..Default::default() };
    let first = ada.post_with(general, "once", options.clone()).await.unwrap();
    let second = ada.post_with(general, "once", options.clone()).await.unwrap();
    assert_eq!(first, second);
    // The same id over the WebSocket is the same message too.
    let mut live = ada.connect(&[]).await.unwrap();
    live.send_json(&json!({"type": "send", "req": "a", "channel": general, "text": "once", "client_msg_id": "retry-me-1"}))
        .await
        .unwrap();
    let ServerFrame::Ack { message, .. } =
        live.wait_for(WAIT, "ack", |f| matches!(f, ServerFrame::Ack { .. })).await.unwrap()
    else {
        unreachable!()
    };
    assert_eq!(message.id, first.id);
    let history = ada.history(general, None, None, 50).await.unwrap();
    assert_eq!(history.len(), 1, "a retry never duplicates: {history:?}");
    // A different id is a different message.
    let other = PostOptions { client_msg_id: Some("retry-me-2".into()), ..Default::default() };
    assert_ne!(ada.post_with(general, "once", other).await.unwrap().id, first.id);
}

async fn threads_reactions_mentions_and_read_markers() {
    let server = TestServer::start();
    let (ada, ada_s) = server.user("ada").await;
    let (bob, bob_s) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;

    let root = ada.post(general, "shall we ship? @bob").await.unwrap();
    assert_eq!(root.mentions, [bob_s.user.id]);
    let view = bob.channel_named(ws, "general").await.unwrap();
    assert_eq!((view.unread_count, view.mention_count), (1, 1));

    let reply = bob
        .post_with(general, "yes :rocket:", PostOptions { thread_root: Some(root.id), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(reply.text, "yes 🚀", "shortcodes in text become emoji");
    assert_eq!(reply.thread_root, Some(root.id));
    let thread = ada.thread(root.id).await.unwrap();
    assert_eq!(thread.root.reply_count, 1);
    assert_eq!(thread.replies.iter().map(|m| m.id).collect::<Vec<_>>(), [reply.id]);

    // Reactions: character and shortcode are one emoji; one per user per emoji.
    ada.react(reply.id, "👍").await.unwrap();
    ada.react(reply.id, ":thumbsup:").await.unwrap();
    let reacted = bob.react(reply.id, "+1").await.unwrap();
    assert_eq!(reacted.reactions.len(), 1);
    assert_eq!(reacted.reactions[0].emoji, "👍");
    assert_eq!(reacted.reactions[0].users, [ada_s.user.id, bob_s.user.id]);
    let unreacted = ada.unreact(reply.id, "👍").await.unwrap();
    assert_eq!(unreacted.reactions[0].users, [bob_s.user.id]);
    let err = ada.react(reply.id, "not-an-emoji").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidField));

    // Reading clears unread and mentions.
    let view = bob.channel_named(ws, "general").await.unwrap();
    assert_eq!(view.unread_count, 0, "posting in the channel marked Bob's own reply read: {view:?}");
    let root2 = ada.post(general, "@bob again").await.unwrap();
    let view = bob.channel_named(ws, "general").await.unwrap();
    assert_eq!((view.unread_count, view.mention_count), (1, 1));
    assert_eq!(bob.mark_read(general, root2.seq).await.unwrap(), root2.seq);
    let view = bob.channel_named(ws, "general").await.unwrap();
    assert_eq!((view.unread_count, view.mention_count), (0, 0));
}

async fn edits_and_deletes() {
    let server = TestServer::start();
    let (ada, _) = server.user("ada").await;
    let (bob, _) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&ada, "W").await;
    confab_tests::join(&ada, ws, &bob).await;
    let mut ada_live = ada.connect(&[]).await.unwrap();

    let bobs = bob.post(general, "tpyo").await.unwrap();
    assert_eq!(ada.edit(bobs.id, "hijack").await.unwrap_err().code(), Some(ErrorCode::Forbidden));
    let edited = bob.edit(bobs.id, "typo").await.unwrap();
    assert_eq!(edited.text, "typo");
    assert!(edited.edited_at.is_some());
    let (_, event) = ada_live.wait_event(WAIT, "message.updated").await.unwrap();
    assert!(matches!(event, Event::MessageUpdated { message } if message.text == "typo"));

    // An owner (admin) may delete another's message; a member may not.
    let adas = ada.post(general, "mine").await.unwrap();
    assert_eq!(bob.delete(adas.id).await.unwrap_err().code(), Some(ErrorCode::Forbidden));
    ada.delete(bobs.id).await.unwrap();
    let (_, event) = ada_live.wait_event(WAIT, "message.deleted").await.unwrap();
    assert!(matches!(event, Event::MessageDeleted { message_id, .. } if message_id == bobs.id));
    let gone = ada.message(bobs.id).await.unwrap();
    assert!(gone.deleted && gone.text.is_empty());
    assert_eq!(bob.edit(bobs.id, "back").await.unwrap_err().code(), Some(ErrorCode::MessageNotFound));
}

async fn invites_roles_and_the_last_owner() {
    let server = TestServer::start();
    let (ada, ada_s) = server.user("ada").await;
    let (bob, bob_s) = server.user("bob").await;
    let (cy, _) = server.user("cy").await;
    let ws = ada.create_workspace("W").await.unwrap().workspace.id;

    let single =
        ada.create_invite(ws, &CreateInvite { max_uses: Some(1), ..Default::default() }).await.unwrap();
    bob.accept_invite(&single.code).await.unwrap();
    assert_eq!(cy.accept_invite(&single.code).await.unwrap_err().code(), Some(ErrorCode::InviteExpired));
    assert_eq!(cy.accept_invite("nonexistent").await.unwrap_err().code(), Some(ErrorCode::InviteNotFound));

    // Members cannot change roles; owners can; the last owner cannot step down.
    assert_eq!(
        bob.set_role(ws, bob_s.user.id, Role::Admin).await.unwrap_err().code(),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        ada.set_role(ws, ada_s.user.id, Role::Member).await.unwrap_err().code(),
        Some(ErrorCode::LastOwner)
    );
    ada.set_role(ws, bob_s.user.id, Role::Owner).await.unwrap();
    assert_eq!(ada.set_role(ws, ada_s.user.id, Role::Member).await.unwrap().role, Role::Member);
    let members = bob.members(ws).await.unwrap();
    let roles: Vec<_> = members.iter().map(|m| (m.profile.username.as_str(), m.role)).collect();
    assert!(roles.contains(&("ada", Role::Member)) && roles.contains(&("bob", Role::Owner)), "{roles:?}");

    // A guest sees only the channels they are added to.
    let guest_invite =
        bob.create_invite(ws, &CreateInvite { role: Some(Role::Guest), ..Default::default() }).await.unwrap();
    cy.accept_invite(&guest_invite.code).await.unwrap();
    assert!(cy.channels(ws).await.unwrap().is_empty(), "a guest starts with no channels");
    let project = bob.create_channel(ws, "project", false).await.unwrap();
    assert_eq!(cy.join(project.id).await.unwrap_err().code(), Some(ErrorCode::ChannelNotFound));
    let cy_id = cy.me().await.unwrap().id;
    bob.add_member(project.id, cy_id).await.unwrap();
    let names: Vec<_> = cy.channels(ws).await.unwrap().into_iter().map(|c| c.channel.name).collect();
    assert_eq!(names, ["project"]);
}
