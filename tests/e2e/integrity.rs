//! The reviewer's reproductions of lost acknowledged messages, as a hostile member
//! does them over HTTP: a DM blocked by squatting its name, hammered while others post.

use confab_tests::TestServer;
use sha2::{Digest, Sha256};

crate::cases!(a_squatted_dm_name_neither_blocks_the_dm_nor_loses_concurrent_posts);

/// The name the DM of `people` had before DMs left the channel name space: public,
/// since member ids are.
fn old_dm_name(people: &[confab_core::UserId]) -> String {
    let mut people = people.to_vec();
    people.sort();
    let mut hasher = Sha256::new();
    for p in &people {
        hasher.update(p.to_bytes());
    }
    let digest = hasher.finalize();
    format!("dm-{}", digest.iter().take(12).map(|b| format!("{b:02x}")).collect::<String>())
}

async fn a_squatted_dm_name_neither_blocks_the_dm_nor_loses_concurrent_posts() {
    let server = TestServer::start();
    let (alice, alice_s) = server.user("alice").await;
    let (bob, bob_s) = server.user("bob").await;
    let (carol, _) = server.user("carol").await;
    let (mallory, _) = server.user("mallory").await;
    let (ws, general) = confab_tests::workspace(&alice, "Acme").await;
    for member in [&bob, &carol, &mallory] {
        confab_tests::join(&alice, ws, member).await;
    }
    // Mallory squats the name Alice and Bob's DM would get, and learns nothing by it.
    let name = old_dm_name(&[alice_s.user.id, bob_s.user.id]);
    mallory.create_channel(ws, &name, false).await.expect("any free name can be a channel");

    // Mallory keeps opening the DM with Bob... while three people post.
    let hammer = {
        let mallory = mallory.clone();
        let bob_id = bob_s.user.id;
        tokio::spawn(async move {
            let mut failures = 0;
            for _ in 0..60 {
                if mallory.open_dm(ws, &[bob_id]).await.is_err() {
                    failures += 1;
                }
            }
            failures
        })
    };
    let mut posters = Vec::new();
    for (i, client) in [alice.clone(), bob.clone(), carol.clone()].into_iter().enumerate() {
        posters.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in 0..60 {
                acked.push(client.post(general, &format!("{i}-{n}")).await.expect("post").id);
            }
            acked
        }));
    }
    assert_eq!(hammer.await.unwrap(), 0, "opening a DM never fails");
    let mut acked = Vec::new();
    for poster in posters {
        acked.extend(poster.await.unwrap());
    }
    // The squatted name blocked nothing: Alice and Bob have their DM.
    let dm = alice.open_dm(ws, &[bob_s.user.id]).await.expect("the DM opens");
    assert_ne!(dm.name, name);
    assert_eq!(bob.open_dm(ws, &[alice_s.user.id]).await.unwrap().id, dm.id);
    // Every acknowledged post is in the history once.
    let history = alice.history(general, None, Some(0), 200).await.expect("history");
    let stored: std::collections::HashSet<_> = history.iter().map(|m| m.id).collect();
    assert_eq!(stored.len(), history.len(), "no message twice");
    for id in &acked {
        assert!(stored.contains(id), "acknowledged message {id} is in the history");
    }
}
