//! Consent under attack, over HTTP and WebSocket: an owner narrowing a grant, a member
//! toggling their key to burn the privacy budget, members and guests reading who chose
//! what, an owner of another workspace reading a shared model's contributors, and a
//! search log that could tell who has DMs with whom (issue 11, defects 3, 5, 6, 7), and
//! files, which training reads only under a grant naming them.

use std::time::{Duration, Instant};

use confab_client::{Client, CreateInvite};
use confab_core::{Event, Role, WorkspaceId};
use confab_tests::TestServer;
use reqwest::Method;
use serde_json::{Value, json};

crate::cases!(
    narrowing_a_grant_retires_the_models_that_used_what_was_removed,
    a_member_toggling_their_key_cannot_burn_the_privacy_budget,
    members_choices_are_visible_only_to_themselves,
    a_shared_models_other_contributors_are_a_count,
    dm_partners_never_reach_the_search_log,
    files_reach_training_only_under_a_grant_naming_them,
    a_member_previews_only_their_own_data,
);

/// The current policy of a purpose.
async fn policy(client: &Client, purpose: &str) -> Value {
    let (_, policies) = client.raw(Method::GET, "/consent/policies", None).await.unwrap();
    policies["policies"].as_array().unwrap().iter().find(|p| p["purpose"] == purpose).unwrap().clone()
}

/// Grants `purpose` for `ws` with these terms, as its owner; panics unless accepted.
pub(crate) async fn grant(
    owner: &Client,
    ws: WorkspaceId,
    purpose: &str,
    scope: &str,
    categories: &[&str],
    members: &str,
) {
    let p = policy(owner, purpose).await;
    let body = json!({
        "granted": true, "scope": scope, "categories": categories, "members": members,
        "policy_version": p["version"], "policy_sha256": p["sha256"], "accept": true,
    })
    .to_string();
    let (status, answer) =
        owner.raw(Method::PUT, &format!("/workspaces/{ws}/consent/{purpose}"), Some(&body)).await.unwrap();
    assert!(status.is_success(), "{answer}");
}

/// A workspace of an owner and three members who post and react to each other in
/// #general (enough for an emoji model with k = 2).
pub(crate) async fn team(server: &TestServer, name: &str) -> (Client, WorkspaceId, Vec<Client>) {
    let (owner, _) = server.user(&format!("{name}owner")).await;
    let (ws, general) = confab_tests::workspace(&owner, name).await;
    let mut members = vec![owner.clone()];
    for i in 0..3 {
        let (m, _) = server.user(&format!("{name}member{i}")).await;
        confab_tests::join(&owner, ws, &m).await;
        members.push(m);
    }
    for (i, author) in members.iter().enumerate() {
        for j in 0..4 {
            let m = author.post(general, &format!("pizza party number {i}{j}")).await.unwrap();
            for reactor in members.iter().filter(|r| r.token() != author.token()) {
                reactor.react(m.id, "🎉").await.unwrap();
            }
        }
    }
    (owner, ws, members)
}

pub(crate) async fn train(admin: &Client, purpose: &str) -> Value {
    let body = json!({ "purpose": purpose }).to_string();
    let (status, run) = admin.raw(Method::POST, "/admin/train", Some(&body)).await.unwrap();
    assert!(status.is_success(), "{run}");
    run
}

pub(crate) async fn models(owner: &Client, ws: WorkspaceId) -> Vec<Value> {
    let (status, listed) = owner.raw(Method::GET, &format!("/workspaces/{ws}/models"), None).await.unwrap();
    assert!(status.is_success(), "{listed}");
    listed["models"].as_array().unwrap().clone()
}

fn model<'a>(listed: &'a [Value], scope: &str) -> &'a Value {
    listed.iter().find(|m| m["manifest"]["scope"] == scope).unwrap_or_else(|| panic!("no {scope} model"))
}

fn history_actions(history: &Value) -> Vec<String> {
    history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"]["type"].as_str().unwrap().to_owned())
        .collect()
}

/// Defect 3: a re-grant with `granted: true` that removes something (here scope
/// shared → workspace and members opt_out → opt_in) retires, at once, every model
/// that used what was removed.
async fn narrowing_a_grant_retires_the_models_that_used_what_was_removed() {
    let server = TestServer::start_with(&[("CONFAB_TRAINING_MIN_USERS_PER_WORD", "2")]);
    let (admin, _) = server.user("root").await;
    let (acme, a, _) = team(&server, "acme").await;
    let (beta, b, _) = team(&server, "beta").await;
    for (owner, ws) in [(&acme, a), (&beta, b)] {
        grant(owner, ws, "emoji_suggestions", "shared", &["messages", "reactions"], "opt_out").await;
    }
    let run = train(&admin, "emoji_suggestions").await;
    assert_eq!(run["runs"][0]["models"].as_array().unwrap().len(), 3, "A, B and shared: {run}");
    let before = models(&beta, b).await;
    assert!(model(&before, "shared")["retired"].is_null());

    // Acme narrows: its own workspace only, members opted out until they opt in.
    grant(&acme, a, "emoji_suggestions", "workspace", &["messages", "reactions"], "opt_in").await;
    let after = models(&beta, b).await;
    assert!(
        !model(&after, "shared")["retired"].is_null(),
        "the shared model with Acme's data is still servable to every workspace: {after:?}"
    );
    assert_eq!(model(&after, "shared")["served"], false, "a retired model is not served: {after:?}");
    assert!(after.iter().filter(|m| m["served"] == true).count() <= 1, "one model served per purpose");
    let acme_models = models(&acme, a).await;
    let own = acme_models.iter().find(|m| m["manifest"]["scope"] == "workspace").unwrap();
    assert!(!own["retired"].is_null(), "Acme's model trained on members who never opted in is kept: {own}");
    // Beta's own model used nothing Acme removed.
    let beta_own = after.iter().find(|m| m["manifest"]["scope"] == "workspace").unwrap();
    assert!(beta_own["retired"].is_null(), "{beta_own}");
}

/// Defect 5: a member toggling their key retires the models at once, but costs the
/// workspace at most one rebuild per interval, and further key changes are
/// rate-limited (leaving never is).
async fn a_member_toggling_their_key_cannot_burn_the_privacy_budget() {
    let server = TestServer::start_with(&[
        ("CONFAB_TRAINING_MIN_USERS_PER_WORD", "2"),
        ("CONFAB_TRAINING_MEMBER_KEY_CHANGES_PER_HOUR", "4"),
    ]);
    let (admin, _) = server.user("root").await;
    let (acme, a, members) = team(&server, "acme").await;
    grant(&acme, a, "emoji_suggestions", "workspace", &["messages", "reactions"], "opt_out").await;
    train(&admin, "emoji_suggestions").await;
    let trained_with_them: Vec<Value> =
        models(&acme, a).await.iter().map(|m| m["manifest"]["id"].clone()).collect();
    assert!(!trained_with_them.is_empty(), "the run made a model");
    let path = format!("/workspaces/{a}/consent/emoji_suggestions/me");
    let toggler = &members[1];

    // The exclusion takes effect at once: the model is retired before the call returns.
    // (The rebuild it asks for may already have saved a model without them: that one
    // may serve.)
    let (status, _) = toggler.raw(Method::PUT, &path, Some(r#"{"included":false}"#)).await.unwrap();
    assert!(status.is_success());
    let listed = models(&acme, a).await;
    assert!(
        listed
            .iter()
            .filter(|m| trained_with_them.contains(&m["manifest"]["id"]))
            .all(|m| !m["retired"].is_null()),
        "a model with the member's data is still served: {listed:?}"
    );

    // The attack: toggle as fast as the server lets us.
    let mut refused = 0;
    for i in 0..12 {
        let body = if i % 2 == 0 { r#"{"included":true}"# } else { r#"{"included":false}"# };
        let (status, answer) = toggler.raw(Method::PUT, &path, Some(body)).await.unwrap();
        if status.as_u16() == 429 {
            assert_eq!(answer["error"]["code"], "rate_limited");
            refused += 1;
        } else {
            assert!(status.is_success(), "{answer}");
        }
    }
    assert!(refused > 0, "key changes are not rate-limited");
    // Leaving is never refused, whatever the limit.
    let (status, _) = toggler.raw(Method::PUT, &path, Some(r#"{"included":true}"#)).await.unwrap();
    let (leave, answer) = toggler.raw(Method::PUT, &path, Some(r#"{"included":false}"#)).await.unwrap();
    if status.is_success() {
        assert!(leave.is_success(), "an exclusion was refused: {answer}");
    }

    // Give any rebuilds time to run, then count what was spent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, history) =
        acme.raw(Method::GET, &format!("/workspaces/{a}/consent/history"), None).await.unwrap();
    let spends = history_actions(&history).iter().filter(|a| *a == "budget_spent").count();
    assert!(
        spends <= 2,
        "one run plus at most one coalesced rebuild may spend ε; the toggling spent {spends} times: {history}"
    );
    // And the owner can still train.
    let run = train(&admin, "emoji_suggestions").await;
    assert!(run["runs"][0]["refused"].is_null(), "{run}");
}

/// Defect 6: a member's key is theirs. Other members and guests see neither who nor
/// which way, in the state, the history or the events; owners see counts; the
/// history still verifies, for them and for the operator's `confab consent verify`.
async fn members_choices_are_visible_only_to_themselves() {
    let server = TestServer::start();
    let (owner, _) = server.user("ada").await;
    let (bob, bob_session) = server.user("bob").await;
    let (carol, _) = server.user("carol").await;
    let (guest, _) = server.user("gus").await;
    let (ws, _) = confab_tests::workspace(&owner, "W").await;
    confab_tests::join(&owner, ws, &bob).await;
    confab_tests::join(&owner, ws, &carol).await;
    let invite = owner
        .create_invite(ws, &CreateInvite { role: Some(Role::Guest), ..Default::default() })
        .await
        .unwrap();
    guest.accept_invite(&invite.code).await.unwrap();
    grant(&owner, ws, "emoji_suggestions", "workspace", &["messages", "reactions"], "opt_out").await;
    let bob_id = bob_session.user.id.to_string();

    let mut carol_live = carol.connect(&[]).await.unwrap();
    let mut bob_live = bob.connect(&[]).await.unwrap();
    let path = format!("/workspaces/{ws}/consent/emoji_suggestions/me");
    let (status, mine) = bob.raw(Method::PUT, &path, Some(r#"{"included":false}"#)).await.unwrap();
    assert!(status.is_success(), "{mine}");
    let own = mine["me"].as_array().unwrap().iter().find(|k| k["purpose"] == "emoji_suggestions").unwrap();
    assert_eq!((own["included"].as_bool(), own["chosen"].as_bool()), (Some(false), Some(true)), "{mine}");
    // Bob is told; then the owner changes something everyone may know.
    let (_, event) = bob_live.wait_event(Duration::from_secs(10), "consent.changed").await.unwrap();
    assert!(matches!(event, Event::ConsentChanged { personal: true, .. }), "{event:?}");
    grant(&owner, ws, "emoji_suggestions", "workspace", &["messages"], "opt_out").await;
    // Carol's first consent event is the owner's grant, not Bob's key.
    let (_, event) = carol_live.wait_event(Duration::from_secs(10), "consent.changed").await.unwrap();
    match event {
        Event::ConsentChanged { by, personal, .. } => {
            assert_ne!(by.to_string(), bob_id, "Carol was told Bob changed his key");
            assert!(!personal);
        }
        other => panic!("{other:?}"),
    }

    for (who, viewer) in [("carol", &carol), ("guest", &guest), ("owner", &owner)] {
        let (_, state) = viewer.raw(Method::GET, &format!("/workspaces/{ws}/consent"), None).await.unwrap();
        assert!(!state.to_string().contains(&bob_id), "{who} sees Bob's key: {state}");
        let (_, history) =
            viewer.raw(Method::GET, &format!("/workspaces/{ws}/consent/history"), None).await.unwrap();
        assert!(!history.to_string().contains(&bob_id), "{who} sees Bob in the history: {history}");
        assert!(history["verification"]["first_bad"].is_null(), "{history}");
        let entries = history["entries"].as_array().unwrap();
        for pair in entries.windows(2) {
            assert_eq!(pair[1]["prev_hash"], pair[0]["hash"], "{who}: the shown chain is not linked");
        }
        let key = entries.iter().find(|e| e["action"]["type"] == "member_set").unwrap();
        assert!(key["action"]["commitment"].is_string(), "{key}");
        assert!(key.get("opening").is_none() && key["action"].get("included").is_none(), "{key}");
    }
    let (_, state) = owner.raw(Method::GET, &format!("/workspaces/{ws}/consent"), None).await.unwrap();
    let counts = state["member_counts"].as_array().unwrap();
    let emoji = counts.iter().find(|c| c["purpose"] == "emoji_suggestions").unwrap();
    assert_eq!(emoji["opted_out"], 1, "{state}");
    let (_, state) = carol.raw(Method::GET, &format!("/workspaces/{ws}/consent"), None).await.unwrap();
    assert!(state.get("member_counts").is_none(), "members do not get counts: {state}");

    // Bob sees his own entry opened.
    let (_, history) =
        bob.raw(Method::GET, &format!("/workspaces/{ws}/consent/history"), None).await.unwrap();
    let key =
        history["entries"].as_array().unwrap().iter().find(|e| e["action"]["type"] == "member_set").unwrap();
    assert_eq!(key["opening"]["user"], json!(bob_id), "{key}");
    // The operator still verifies the whole chain, openings included.
    let out = server.cli(&["consent", "verify", "--workspace", &ws.to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["first_bad"].is_null(), "{report}");
    assert_eq!(report["entries"], 3);
}

/// Defect 7: an owner of another workspace reads a shared model's manifest; other
/// workspaces are a count, never ids, member counts or ledger hashes.
async fn a_shared_models_other_contributors_are_a_count() {
    let server = TestServer::start_with(&[("CONFAB_TRAINING_MIN_USERS_PER_WORD", "2")]);
    let (admin, _) = server.user("root").await;
    let (acme, a, _) = team(&server, "acme").await;
    let (beta, b, _) = team(&server, "beta").await;
    for (owner, ws) in [(&acme, a), (&beta, b)] {
        grant(owner, ws, "emoji_suggestions", "shared", &["messages", "reactions"], "opt_out").await;
    }
    train(&admin, "emoji_suggestions").await;
    let (_, acme_state) = acme.raw(Method::GET, &format!("/workspaces/{a}/consent"), None).await.unwrap();
    let acme_grant_hash = acme_state["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == "emoji_suggestions")
        .unwrap()["entry_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    // Anyone can become an owner: a third workspace with no grant at all.
    let (mallory, _) = server.user("mallory").await;
    let (m, _) = confab_tests::workspace(&mallory, "M").await;
    for (viewer, ws) in [(&beta, b), (&mallory, m)] {
        let listed = models(viewer, ws).await;
        let shared = model(&listed, "shared");
        let text = shared.to_string();
        assert!(!text.contains(&a.to_string()), "another workspace's id is shown: {text}");
        assert!(!text.contains(&acme_grant_hash), "another workspace's ledger hash is shown: {text}");
        let own = shared["manifest"]["contributors"].as_array().unwrap();
        assert!(own.iter().all(|c| c["workspace"] == json!(ws.to_string())), "{text}");
        let expected_others = if ws == b { 1 } else { 2 };
        assert_eq!(shared["other_contributors"], expected_others, "{text}");
    }
}

/// Defect 7: search impressions are logged for training with their features; a DM
/// partner's author affinity must not be among them (else the consent preview and
/// snapshots show who has DMs with whom).
async fn dm_partners_never_reach_the_search_log() {
    let server = TestServer::start();
    let (owner, _) = server.user("ada").await;
    let (bob, bob_session) = server.user("bob").await;
    let (carol, carol_session) = server.user("carol").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    confab_tests::join(&owner, ws, &bob).await;
    confab_tests::join(&owner, ws, &carol).await;
    grant(&owner, ws, "search_ranking", "workspace", &["messages", "search_interactions"], "opt_out").await;
    // Ada and Bob have a DM; Carol is a stranger to Ada.
    let dm = owner.open_dm(ws, &[bob_session.user.id]).await.unwrap();
    owner.post(dm.id, "our secret thread").await.unwrap();
    bob.post(general, "zebra crossing notes").await.unwrap();
    carol.post(general, "zebra crossing plans").await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, found) =
            owner.raw(Method::GET, &format!("/workspaces/{ws}/search?q=zebra"), None).await.unwrap();
        if status.is_success() && found["hits"].as_array().is_some_and(|h| h.len() == 2) {
            break;
        }
        assert!(Instant::now() < deadline, "search never found both messages: {found}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, preview) = owner
        .raw(Method::GET, &format!("/workspaces/{ws}/consent/preview?purpose=search_ranking"), None)
        .await
        .unwrap();
    assert!(status.is_success(), "{preview}");
    let interactions = preview["workspaces"][0]["search_interactions"].as_array().unwrap();
    let bob_id = json!(bob_session.user.id.to_string());
    let carol_id = json!(carol_session.user.id.to_string());
    let of =
        |author: &Value| -> Vec<&Value> { interactions.iter().filter(|i| i["author"] == *author).collect() };
    assert!(!of(&bob_id).is_empty() && !of(&carol_id).is_empty(), "{preview}");
    for i in of(&bob_id).into_iter().chain(of(&carol_id)) {
        assert_eq!(i["features"]["author_affinity"], 0.0, "a DM partner is visible in the log: {i}");
    }
    // The features of Bob's and Carol's impressions cannot be told apart by affinity.
    // As sets: the searches that waited for indexing logged an impression of Bob's
    // message each time it was found before Carol's was indexed.
    let affinities = |who: &Value| -> Vec<String> {
        let mut seen: Vec<String> = of(who)
            .iter()
            .map(|i| json!([i["features"]["author_affinity"], i["features"]["channel_affinity"]]).to_string())
            .collect();
        seen.sort();
        seen.dedup();
        seen
    };
    assert_eq!(affinities(&bob_id), affinities(&carol_id));
}

/// A file is data like a message: it reaches what training reads (the preview) only
/// under a grant naming `files`, only from public channels, and a member who is not
/// an admin sees only their own. Only a purpose whose policy names files may be
/// granted them.
async fn files_reach_training_only_under_a_grant_naming_them() {
    let server = TestServer::start();
    let (owner, _) = server.user("owner").await;
    let (member, _) = server.user("member").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    confab_tests::join(&owner, ws, &member).await;
    let secret = owner.create_channel(ws, "secret", true).await.unwrap().id;
    let plan_text = b"the zanzibarquux initiative starts in May";
    let plan = owner.upload(general, "quarterly-plan.txt", plan_text, "here is the plan").await.unwrap();
    owner.upload(secret, "hidden-okapifile.txt", b"okapisecret words", "private notes").await.unwrap();
    member.upload(general, "member-list.csv", b"name\nwombatrow\n", "my list").await.unwrap();
    let path = format!("/workspaces/{ws}/consent/preview?purpose=emoji_suggestions");
    let preview = |client: &Client| {
        let (client, path) = (client.clone(), path.clone());
        async move {
            let (status, preview) = client.raw(Method::GET, &path, None).await.unwrap();
            assert!(status.is_success(), "{preview}");
            preview
        }
    };

    grant(&owner, ws, "emoji_suggestions", "workspace", &["messages", "reactions"], "opt_out").await;
    let text = preview(&owner).await.to_string();
    assert!(text.contains("here is the plan"), "the message is read: {text}");
    for unread in ["zanzibarquux", "quarterly-plan", &plan.file.id.to_string(), "wombatrow"] {
        assert!(!text.contains(unread), "{unread} was read without `files`: {text}");
    }

    grant(&owner, ws, "emoji_suggestions", "workspace", &["messages", "reactions", "files"], "opt_out").await;
    let all = preview(&owner).await;
    let files = all["workspaces"][0]["files"].as_array().unwrap().clone();
    let mut names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["member-list.csv", "quarterly-plan.txt"], "{all}");
    let plan_row = files.iter().find(|f| f["name"] == "quarterly-plan.txt").unwrap();
    assert_eq!(plan_row["id"], plan.file.id.to_string());
    assert!(plan_row["text"].as_str().unwrap().contains("zanzibarquux"), "{plan_row}");
    assert!(!all.to_string().contains("okapi"), "a private channel's file was read: {all}");

    let mine = preview(&member).await;
    let names: Vec<&str> = mine["workspaces"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["member-list.csv"], "a member sees only their own files: {mine}");
    assert!(!mine.to_string().contains("zanzibarquux"));

    for purpose in ["search_ranking", "channel_suggestions"] {
        let p = policy(&owner, purpose).await;
        let body = json!({
            "granted": true, "scope": "workspace", "categories": ["messages", "files"], "members": "opt_out",
            "policy_version": p["version"], "policy_sha256": p["sha256"], "accept": true,
        });
        let path = format!("/workspaces/{ws}/consent/{purpose}");
        let (status, answer) = owner.raw(Method::PUT, &path, Some(&body.to_string())).await.unwrap();
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{purpose}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_field", "{answer}");
        assert!(answer.to_string().contains("files"), "the refusal names the category: {answer}");
    }
}

/// A member who is not an owner or admin previews what of theirs a run would read:
/// their own messages and reactions, never another member's text; the owner sees the
/// workspace's.
async fn a_member_previews_only_their_own_data() {
    let server = TestServer::start();
    let (owner, _) = server.user("owner").await;
    let (bob, bob_s) = server.user("bob").await;
    let (ws, general) = confab_tests::workspace(&owner, "W").await;
    confab_tests::join(&owner, ws, &bob).await;
    let owners = owner.post(general, "the owner's own words").await.unwrap();
    let bobs = bob.post(general, "bob's own words").await.unwrap();
    bob.react(owners.id, "🎉").await.unwrap();
    owner.react(bobs.id, "👀").await.unwrap();
    grant(&owner, ws, "emoji_suggestions", "workspace", &["messages", "reactions"], "opt_out").await;
    let path = format!("/workspaces/{ws}/consent/preview?purpose=emoji_suggestions");

    let (status, mine) = bob.raw(Method::GET, &path, None).await.unwrap();
    assert!(status.is_success(), "{mine}");
    let text = mine.to_string();
    assert!(text.contains("bob's own words"), "{text}");
    assert!(!text.contains("the owner's own words"), "another member's text in a member's preview: {text}");
    let me = json!(bob_s.user.id.to_string());
    let part = &mine["workspaces"][0];
    assert!(part["messages"].as_array().unwrap().iter().all(|m| m["author"] == me), "{text}");
    let reactions = part["reactions"].as_array().unwrap();
    assert_eq!(reactions.len(), 1, "only bob's own reaction: {text}");
    assert_eq!(reactions[0]["users"], json!([me]));

    let (_, all) = owner.raw(Method::GET, &path, None).await.unwrap();
    assert!(all.to_string().contains("the owner's own words") && all.to_string().contains("bob's own words"));

    // Excluded, bob's preview holds nothing of his.
    let key = format!("/workspaces/{ws}/consent/emoji_suggestions/me");
    let (status, _) = bob.raw(Method::PUT, &key, Some(r#"{"included":false}"#)).await.unwrap();
    assert!(status.is_success());
    let (_, mine) = bob.raw(Method::GET, &path, None).await.unwrap();
    assert_eq!(mine["workspaces"][0]["messages"], json!([]), "{mine}");
}
