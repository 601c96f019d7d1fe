//! Pinned messages: who may pin and list them, the cap per channel, the live events
//! that carry them, and deletion unpinning.

use std::time::Duration;

use confab_client::Client;
use confab_core::{ChannelId, Event, MessageId};
use confab_tests::TestServer;
use reqwest::Method;
use serde_json::Value;

crate::cases!(
    members_pin_and_unpin_live_and_outsiders_cannot,
    a_channel_holds_at_most_the_configured_pins_and_deletion_unpins,
);

async fn pin(client: &Client, message: MessageId, method: Method) -> (u16, Value) {
    let (status, body) = client.raw(method, &format!("/messages/{message}/pin"), None).await.unwrap();
    (status.as_u16(), body)
}

async fn pinned(client: &Client, channel: ChannelId) -> (u16, Vec<String>) {
    let (status, body) = client.raw(Method::GET, &format!("/channels/{channel}/pins"), None).await.unwrap();
    let ids = body["pins"]
        .as_array()
        .map(|pins| pins.iter().map(|p| p["message"]["id"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    (status.as_u16(), ids)
}

/// A channel member pins; the other member's socket gets `message.pinned` and the
/// list names it; a workspace member outside a private channel, a reader of a
/// public channel who has not joined it, and another workspace's member cannot pin
/// or list what they may not.
async fn members_pin_and_unpin_live_and_outsiders_cannot() {
    let server = TestServer::start();
    let (alice, alice_s) = server.user("alice").await;
    let (bob, _) = server.user("bob").await;
    let (carol, _) = server.user("carol").await;
    let (mallory, _) = server.user("mallory").await;
    let (ws, general) = confab_tests::workspace(&alice, "W").await;
    confab_tests::join(&alice, ws, &bob).await;
    confab_tests::join(&alice, ws, &carol).await;
    mallory.create_workspace("Elsewhere").await.unwrap();
    let m = alice.post(general, "the plan for Monday").await.unwrap();

    let mut bob_live = bob.connect(&[]).await.unwrap();
    assert_eq!(pin(&alice, m.id, Method::PUT).await.0, 204);
    let (_, event) = bob_live.wait_event(Duration::from_secs(5), "message.pinned").await.unwrap();
    assert_eq!(event, Event::MessagePinned { channel: general, message_id: m.id, by: alice_s.user.id });
    assert_eq!(pinned(&bob, general).await, (200, vec![m.id.to_string()]));
    let (_, listed) = bob.raw(Method::GET, &format!("/channels/{general}/pins"), None).await.unwrap();
    assert_eq!(listed["pins"][0]["pinned_by"], alice_s.user.id.to_string());
    assert_eq!(listed["pins"][0]["message"]["text"], "the plan for Monday");
    // Pinning again changes nothing: one pin, no second event.
    assert_eq!(pin(&alice, m.id, Method::PUT).await.0, 204);
    assert_eq!(pinned(&alice, general).await.1.len(), 1);

    // Bob unpins; Alice's socket hears it.
    let mut alice_live = alice.connect(&[]).await.unwrap();
    assert_eq!(pin(&bob, m.id, Method::DELETE).await.0, 204);
    let (_, event) = alice_live.wait_event(Duration::from_secs(5), "message.unpinned").await.unwrap();
    assert!(matches!(event, Event::MessageUnpinned { message_id, .. } if message_id == m.id));
    assert_eq!(pinned(&alice, general).await, (200, vec![]));

    // A private channel: Carol is not in it.
    let secret = alice.create_channel(ws, "secret", true).await.unwrap().id;
    let hidden = alice.post(secret, "secret words").await.unwrap();
    assert_eq!(pin(&alice, hidden.id, Method::PUT).await.0, 204);
    let (status, body) = pin(&carol, hidden.id, Method::PUT).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("message_not_found")));
    let (status, body) = carol.raw(Method::GET, &format!("/channels/{secret}/pins"), None).await.unwrap();
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (404, Some("channel_not_found")));
    assert!(!body.to_string().contains("secret words"));
    let (status, _) = mallory.raw(Method::GET, &format!("/channels/{general}/pins"), None).await.unwrap();
    assert_eq!(status.as_u16(), 404);
    assert_eq!(pin(&mallory, m.id, Method::PUT).await.0, 404);
    // Carol's socket never hears of the private pins: the first she hears is #general's.
    let mut carol_live = carol.connect(&[]).await.unwrap();
    assert_eq!(pin(&alice, hidden.id, Method::DELETE).await.0, 204);
    assert_eq!(pin(&alice, hidden.id, Method::PUT).await.0, 204);
    assert_eq!(pin(&alice, m.id, Method::PUT).await.0, 204);
    let (_, event) = carol_live.wait_event(Duration::from_secs(5), "message.pinned").await.unwrap();
    assert!(matches!(event, Event::MessagePinned { message_id, .. } if message_id == m.id), "{event:?}");

    // A public channel Carol can read but has not joined: she reads its pins but
    // cannot pin.
    let open = alice.create_channel(ws, "open", false).await.unwrap().id;
    let notice = alice.post(open, "read me").await.unwrap();
    assert_eq!(pin(&alice, notice.id, Method::PUT).await.0, 204);
    assert_eq!(pinned(&carol, open).await, (200, vec![notice.id.to_string()]));
    let (status, body) = pin(&carol, notice.id, Method::DELETE).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
    let unknown: MessageId = "01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().unwrap();
    assert_eq!(pin(&alice, unknown, Method::PUT).await.0, 404);
    let (status, body) = alice.raw(Method::PUT, "/messages/not-an-id/pin", None).await.unwrap();
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("invalid_id")));
}

/// `limits.max_pins_per_channel` pins at most, then `quota_exceeded`; unpinning
/// makes room; deleting a pinned message unpins it, which frees its place.
async fn a_channel_holds_at_most_the_configured_pins_and_deletion_unpins() {
    let server = TestServer::start_with(&[("CONFAB_LIMITS_MAX_PINS_PER_CHANNEL", "2")]);
    let (alice, _) = server.user("alice").await;
    let (ws, general) = confab_tests::workspace(&alice, "W").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(alice.post(general, &format!("message {i}")).await.unwrap().id);
    }
    assert_eq!(pin(&alice, ids[0], Method::PUT).await.0, 204);
    assert_eq!(pin(&alice, ids[1], Method::PUT).await.0, 204);
    let (status, body) = pin(&alice, ids[2], Method::PUT).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("quota_exceeded")), "{body}");
    // Other channels have their own room.
    let other = alice.create_channel(ws, "other", false).await.unwrap().id;
    let elsewhere = alice.post(other, "elsewhere").await.unwrap().id;
    assert_eq!(pin(&alice, elsewhere, Method::PUT).await.0, 204);

    alice.delete(ids[0]).await.unwrap();
    let (_, listed) = pinned(&alice, general).await;
    assert_eq!(listed, vec![ids[1].to_string()], "the deleted message is unpinned");
    assert_eq!(pin(&alice, ids[2], Method::PUT).await.0, 204, "its place is free again");
    let (_, listed) = pinned(&alice, general).await;
    assert_eq!(listed, vec![ids[2].to_string(), ids[1].to_string()], "the most recently pinned first");
    // A deleted message cannot be pinned.
    assert_eq!(pin(&alice, ids[0], Method::PUT).await.0, 404);
}
