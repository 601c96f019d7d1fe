//! What a member must not miss: mentions in thread replies count until the thread is
//! read, the activity feed (mentions and replies in one's threads, only of channels
//! one may read now), the threads one is in with their unread replies, read markers
//! that move back ("mark as unread"), saved messages and notification levels.

use std::time::Duration;

use confab_client::{Client, PostOptions, ServerFrame};
use confab_core::{ChannelId, ErrorCode, Event, Message, MessageId, NotifyLevel};
use confab_tests::TestServer;

crate::cases!(
    a_mention_in_a_thread_reply_counts_until_the_thread_is_read,
    thread_replies_are_unread_in_their_thread_not_in_the_channel,
    activity_lists_mentions_and_replies_newest_first_and_only_what_one_may_read,
    threads_list_the_threads_one_is_in_with_their_unread_replies,
    a_read_marker_moves_back_to_mark_a_message_unread,
    saved_messages_are_ones_own_and_only_what_one_may_read,
    notification_levels_are_each_members_own_per_channel,
);

const WAIT: Duration = Duration::from_secs(10);

async fn reply(client: &Client, channel: ChannelId, root: MessageId, text: &str) -> Message {
    let options = PostOptions { thread_root: Some(root), ..Default::default() };
    client.post_with(channel, text, options).await.unwrap()
}

/// Bob's reply in a thread mentioning Alice is counted in #general's mentions;
/// reading the channel (as a client does once its newest message is on screen,
/// which the reply's `seq` is part of) leaves it counted; reading the thread
/// clears it, and marking the thread unread again brings it back.
async fn a_mention_in_a_thread_reply_counts_until_the_thread_is_read() {
    let server = TestServer::start();
    let (alice, alice_s) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&alice, "W").await;
    confab_tests::join(&alice, ws, &bob).await;
    let root = alice.post(general, "release plan").await.unwrap();
    alice.mark_read(general, root.seq).await.unwrap();
    let mut alice_live = alice.connect(&[]).await.unwrap();

    let mention = reply(&bob, general, root.id, "@alice can you check the numbers?").await;
    assert_eq!(mention.mentions, [alice_s.user.id]);
    let view = alice.channel_named(ws, "general").await.unwrap();
    assert_eq!((view.mention_count, view.thread_mention_count), (1, 1), "{view:?}");

    // Alice reads #general: its newest seq is the reply's. The mention stays.
    assert_eq!(alice.mark_read(general, mention.seq).await.unwrap(), mention.seq);
    let view = alice.channel_named(ws, "general").await.unwrap();
    assert_eq!(view.unread_count, 0);
    assert_eq!(view.mention_count, 1, "reading the channel is not reading its threads: {view:?}");

    // Reading the thread clears it, and her other sessions are told.
    assert_eq!(alice.mark_thread_read(root.id, mention.seq).await.unwrap(), mention.seq);
    let view = alice.channel_named(ws, "general").await.unwrap();
    assert_eq!((view.mention_count, view.thread_mention_count), (0, 0), "{view:?}");
    let told = alice_live
        .wait_for(WAIT, "the thread's read.updated", |f| {
            matches!(f, ServerFrame::Event { event: Event::ReadUpdated { thread_root: Some(r), seq, .. }, .. }
                if *r == root.id && *seq == mention.seq)
        })
        .await;
    assert!(told.is_ok(), "{told:?}");

    // Marked unread again (a marker before the reply): counted again.
    alice.mark_thread_read(root.id, mention.seq - 1).await.unwrap();
    assert_eq!(alice.channel_named(ws, "general").await.unwrap().mention_count, 1);
    // A deleted reply mentions nobody any more.
    bob.delete(mention.id).await.unwrap();
    assert_eq!(alice.channel_named(ws, "general").await.unwrap().mention_count, 0);
}

/// A channel's `unread_count` counts the messages after the read marker that are
/// not thread replies: replies are unread in their thread (the threads list counts
/// them), so a busy thread does not make its channel look unread.
async fn thread_replies_are_unread_in_their_thread_not_in_the_channel() {
    let server = TestServer::start();
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&alice, "W").await;
    confab_tests::join(&alice, ws, &bob).await;
    let root = alice.post(general, "release plan").await.unwrap();
    alice.mark_read(general, root.seq).await.unwrap();

    for i in 0..3 {
        reply(&bob, general, root.id, &format!("reply {i}")).await;
    }
    let view = alice.channel_named(ws, "general").await.unwrap();
    assert_eq!((view.unread_count, view.last_seq - view.last_read_seq), (0, 3), "{view:?}");
    let threads = alice.threads(ws, 20, 0).await.unwrap();
    assert_eq!(threads.threads[0].unread_replies, 3, "the replies are unread in the thread");

    let top = bob.post(general, "a new topic").await.unwrap();
    reply(&bob, general, root.id, "reply 3").await;
    let second = bob.post(general, "and another").await.unwrap();
    let view = alice.channel_named(ws, "general").await.unwrap();
    assert_eq!(view.unread_count, 2, "two messages in the channel, four replies around them: {view:?}");

    // Read up to the first of them: the one after it is left (and the reply between).
    alice.mark_read(general, top.seq).await.unwrap();
    assert_eq!(alice.channel_named(ws, "general").await.unwrap().unread_count, 1);
    alice.mark_read(general, second.seq).await.unwrap();
    assert_eq!(alice.channel_named(ws, "general").await.unwrap().unread_count, 0);
}

/// The activity feed: mentions and replies in one's threads, newest first, in
/// pages; each marked unread until read; nothing of a private channel one is not
/// in (or left), and never one's own messages.
async fn activity_lists_mentions_and_replies_newest_first_and_only_what_one_may_read() {
    let server = TestServer::start();
    let (alice, _) = server.user("alice").await;
    let (bob, bob_s) = server.user("bob").await;
    let (cy, cy_s) = server.user("cy").await;
    let (ws, general) = confab_tests::workspace(&alice, "W").await;
    confab_tests::join(&alice, ws, &bob).await;
    confab_tests::join(&alice, ws, &cy).await;
    let secret = alice.create_channel(ws, "secret", true).await.unwrap().id;
    alice.add_member(secret, bob_s.user.id).await.unwrap();

    let root = alice.post(general, "who reviews the release?").await.unwrap();
    let r1 = reply(&bob, general, root.id, "I can").await;
    let top = cy.post(general, "@alice lunch?").await.unwrap();
    let r2 = reply(&cy, general, root.id, "me too, @alice").await;
    let hidden = bob.post(secret, "@alice a secret").await.unwrap();
    let own = reply(&alice, general, root.id, "thanks both").await;
    let late = bob.post(general, "@alice one more thing").await.unwrap();
    // An outsider's mention of Alice in a private channel Alice is not in: none.
    let den = bob.create_channel(ws, "den", true).await.unwrap().id;
    bob.add_member(den, cy_s.user.id).await.unwrap();
    let unseen = bob.post(den, "@alice is not here").await.unwrap();
    assert!(unseen.mentions.is_empty(), "a mention of someone who cannot read it is no mention");

    let page = alice.activity(ws, None, 50).await.unwrap();
    let ids: Vec<_> = page.items.iter().map(|i| i.message.id).collect();
    let mut expected = vec![late.id, hidden.id, r2.id, top.id, r1.id];
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, expected, "newest first: {page:?}");
    assert!(!ids.contains(&own.id) && !ids.contains(&root.id), "never one's own messages");
    let item = |id: MessageId| page.items.iter().find(|i| i.message.id == id).unwrap();
    assert!(item(r1.id).reply && !item(r1.id).mention);
    assert!(item(r2.id).reply && item(r2.id).mention);
    assert!(item(top.id).mention && !item(top.id).reply);
    // Posting reads what came before: Alice's reply read the thread (and the
    // channel) up to it; only what came after is unread.
    assert!([r1.id, r2.id, top.id].iter().all(|id| !item(*id).unread), "{page:?}");
    assert!(item(late.id).unread);
    alice.mark_read(general, late.seq).await.unwrap();
    assert!(alice.activity(ws, None, 1).await.unwrap().items.iter().all(|i| !i.unread));

    // Pages of one.
    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let page = alice.activity(ws, before, 1).await.unwrap();
        paged.extend(page.items.iter().map(|i| i.message.id));
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, expected);

    // Alice leaves #secret: its mention goes from her activity.
    alice.leave(secret).await.unwrap();
    let after = alice.activity(ws, None, 50).await.unwrap();
    assert!(after.items.iter().all(|i| i.message.id != hidden.id), "{after:?}");
    let text = serde_json::to_string(&after.items).unwrap();
    assert!(!text.contains("a secret") && !text.contains("is not here"), "{text}");
    // Bob's feed: Alice's and Cy's replies in the thread he replied in.
    let bobs: Vec<_> = bob.activity(ws, None, 50).await.unwrap().items.iter().map(|i| i.message.id).collect();
    let mut expected = vec![own.id, r2.id];
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(bobs, expected);
    // Limits are checked.
    let err = alice.activity(ws, None, 0).await.unwrap_err();
    assert_eq!(err.code(), Some(confab_core::ErrorCode::InvalidField));
}

/// A thread is one's own once one started it (and it got a reply) or replied in
/// it; each shows its newest replies and how many are unread, the most recently
/// active first; reading it leaves none unread.
async fn threads_list_the_threads_one_is_in_with_their_unread_replies() {
    let server = TestServer::start();
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&alice, "W").await;
    confab_tests::join(&alice, ws, &bob).await;

    let older = alice.post(general, "first topic").await.unwrap();
    let newer = bob.post(general, "second topic").await.unwrap();
    let untouched = bob.post(general, "nobody replies").await.unwrap();
    let _ = untouched;
    assert_eq!(alice.threads(ws, 10, 0).await.unwrap().total, 0, "no replies yet: no threads");

    reply(&bob, general, older.id, "one").await;
    let two = reply(&bob, general, older.id, "two").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    reply(&alice, general, newer.id, "on the second").await;
    let last = reply(&bob, general, newer.id, "and back").await;

    let threads = alice.threads(ws, 10, 0).await.unwrap();
    assert_eq!(threads.total, 2);
    let roots: Vec<_> = threads.threads.iter().map(|t| t.root.id).collect();
    assert_eq!(roots, [newer.id, older.id], "most recently active first");
    let (second, first) = (&threads.threads[0], &threads.threads[1]);
    assert_eq!((first.unread_replies, first.last_read_seq), (2, 0), "Alice started it, Bob replied twice");
    assert_eq!(first.latest_replies.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["one", "two"]);
    assert_eq!(second.unread_replies, 1, "Bob's answer after Alice's own reply");
    assert_eq!(alice.threads(ws, 1, 1).await.unwrap().threads[0].root.id, older.id);

    alice.mark_thread_read(older.id, two.seq).await.unwrap();
    alice.mark_thread_read(newer.id, last.seq).await.unwrap();
    let threads = alice.threads(ws, 10, 0).await.unwrap();
    assert!(threads.threads.iter().all(|t| t.unread_replies == 0), "{threads:?}");
    // Bob is in both (he replied in each); the first from its start.
    assert_eq!(bob.threads(ws, 10, 0).await.unwrap().total, 2);
}

/// "Mark as unread": the channel's read marker moves back, and the unread and
/// mention counts come back with it.
async fn a_read_marker_moves_back_to_mark_a_message_unread() {
    let server = TestServer::start();
    let (alice, _) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&alice, "W").await;
    confab_tests::join(&alice, ws, &bob).await;
    let first = bob.post(general, "@alice one").await.unwrap();
    let second = bob.post(general, "two").await.unwrap();
    alice.mark_read(general, second.seq).await.unwrap();
    assert_eq!(alice.channel_named(ws, "general").await.unwrap().unread_count, 0);

    assert_eq!(alice.mark_read(general, first.seq - 1).await.unwrap(), first.seq - 1);
    let view = alice.channel_named(ws, "general").await.unwrap();
    assert_eq!((view.last_read_seq, view.unread_count, view.mention_count), (first.seq - 1, 2, 1));
    // Never beyond the newest message.
    assert_eq!(alice.mark_read(general, 1_000).await.unwrap(), second.seq);
}

/// Saved messages: one's own list, the most recently saved first; only messages one
/// may read now (a private channel left drops out), deleted ones left out.
async fn saved_messages_are_ones_own_and_only_what_one_may_read() {
    let server = TestServer::start();
    let (alice, _) = server.user("alice").await;
    let (bob, bob_s) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&alice, "W").await;
    confab_tests::join(&alice, ws, &bob).await;
    let secret = bob.create_channel(ws, "secret", true).await.unwrap().id;
    let hidden = bob.post(secret, "not for alice").await.unwrap();
    let first = bob.post(general, "keep this").await.unwrap();
    let second = bob.post(general, "and this").await.unwrap();
    let private = alice.create_channel(ws, "mine", true).await.unwrap().id;
    let later = alice.post(private, "a note to self").await.unwrap();

    assert_eq!(alice.set_saved(hidden.id, true).await.unwrap_err().code(), Some(ErrorCode::MessageNotFound));
    for id in [first.id, second.id, later.id] {
        alice.set_saved(id, true).await.unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    alice.set_saved(first.id, true).await.unwrap(); // again: saved anew, now the newest
    let page = alice.saved(ws, 10, 0).await.unwrap();
    let ids: Vec<_> = page.items.iter().map(|i| i.message.id).collect();
    assert_eq!(ids, [first.id, later.id, second.id]);
    assert_eq!(page.total, 3);
    assert_eq!(alice.saved(ws, 1, 1).await.unwrap().items[0].message.id, later.id);
    assert_eq!(bob.saved(ws, 10, 0).await.unwrap().total, 0, "one's own");

    alice.set_saved(second.id, false).await.unwrap();
    bob.delete(first.id).await.unwrap();
    alice.add_member(private, bob_s.user.id).await.unwrap();
    alice.leave(private).await.unwrap();
    let page = alice.saved(ws, 10, 0).await.unwrap();
    assert!(page.items.is_empty() && page.total == 0, "unsaved, deleted and left: {page:?}");
}

/// A member's notification level per channel: a DM notifies of everything and a
/// channel of mentions until they choose; their choice is theirs alone.
async fn notification_levels_are_each_members_own_per_channel() {
    let server = TestServer::start();
    let (alice, _) = server.user("alice").await;
    let (bob, bob_s) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&alice, "W").await;
    confab_tests::join(&alice, ws, &bob).await;
    let dm = alice.open_dm(ws, &[bob_s.user.id]).await.unwrap().id;
    let level = |list: &[confab_core::ChannelView], id: ChannelId| {
        list.iter().find(|c| c.channel.id == id).unwrap().notify
    };

    let list = alice.channels(ws).await.unwrap();
    assert_eq!((level(&list, general), level(&list, dm)), (NotifyLevel::Mentions, NotifyLevel::All));
    assert_eq!(alice.set_notify(general, NotifyLevel::Mute).await.unwrap(), NotifyLevel::Mute);
    alice.set_notify(dm, NotifyLevel::Mentions).await.unwrap();
    let list = alice.channels(ws).await.unwrap();
    assert_eq!((level(&list, general), level(&list, dm)), (NotifyLevel::Mute, NotifyLevel::Mentions));
    let list = bob.channels(ws).await.unwrap();
    assert_eq!(
        (level(&list, general), level(&list, dm)),
        (NotifyLevel::Mentions, NotifyLevel::All),
        "Bob's own"
    );

    let secret = bob.create_channel(ws, "secret", true).await.unwrap().id;
    assert_eq!(
        alice.set_notify(secret, NotifyLevel::All).await.unwrap_err().code(),
        Some(ErrorCode::ChannelNotFound)
    );
    let (status, _) = alice
        .raw(reqwest::Method::PUT, &format!("/channels/{general}/notifications"), Some(r#"{"level":"loud"}"#))
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 400);
}
