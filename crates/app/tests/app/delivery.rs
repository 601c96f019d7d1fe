//! Who hears of an event live: the hub's deliveries to connections, over the real
//! store. A write is acknowledged only after its events are queued for every
//! connection that may receive them, so the queues can be read as soon as it returns.

use std::sync::Arc;

use confab_app::hub::Subscription;
use confab_app::{App, Caller, CreateChannel, PostMessage};
use confab_store::Store;

/// The frames queued for a connection so far.
fn queued(subscription: &mut Subscription) -> Vec<String> {
    let mut frames = Vec::new();
    while let Ok(out) = subscription.events.try_recv() {
        frames.push(String::from_utf8(out.frame.to_vec()).unwrap());
    }
    frames
}

async fn post(app: &App, caller: Caller, channel: confab_core::ChannelId, text: &str) -> String {
    let post = PostMessage { text: text.into(), thread_root: None, client_msg_id: None };
    app.post_message(caller, channel, post).await.unwrap().id.to_string()
}

/// In a workspace with more connections than the channel has members (the hub then
/// visits the members, not every connection), a message reaches every connection of
/// every member, one user's two connections included, and no one else's.
#[tokio::test]
async fn a_channel_message_reaches_every_connection_of_its_members_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = crate::support::sled_store(dir.path());
    let app = crate::support::open(store, crate::support::config(), dir.path());
    let mut people = Vec::new();
    for i in 0..4 {
        let outcome = crate::support::sign_up(&app, i).await;
        people.push(app.authenticate_session(&outcome.token).unwrap());
    }
    let owner = people[0].caller;
    let others: Vec<_> = people[1..].iter().map(|p| p.caller).collect();
    let ws = crate::support::workspace_with(&app, owner, "Deliveries", &others).await;
    let general = app.list_channels(owner, ws).unwrap()[0].channel.id;
    let inner = CreateChannel { name: "inner".into(), private: true, topic: String::new() };
    let inner = app.create_channel(owner, ws, inner).await.unwrap().id;
    app.add_channel_member(owner, inner, people[1].caller.user).await.unwrap();

    // Five connections: everyone once, person 1 twice.
    let mut connections: Vec<(usize, Subscription)> =
        people.iter().enumerate().map(|(i, p)| (i, app.connect(p).unwrap().1)).collect();
    connections.push((1, app.connect(&people[1]).unwrap().1));
    for (_, subscription) in &mut connections {
        queued(subscription);
    }

    let secret = post(&app, owner, inner, "only for the two of us").await;
    for (person, subscription) in &mut connections {
        let got = queued(subscription).iter().any(|frame| frame.contains(&secret));
        assert_eq!(got, *person <= 1, "person {person}: the private channel's message");
    }
    let open = post(&app, people[3].caller, general, "for everyone").await;
    for (person, subscription) in &mut connections {
        let got = queued(subscription).iter().any(|frame| frame.contains(&open));
        assert!(got, "person {person}: #general's message");
    }
}
