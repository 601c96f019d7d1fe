//! `confab import slack` end to end: a fixture export in Slack's documented layout
//! (threads, edits, reactions, private channels, DMs, mpims, bot messages, files, every
//! markup form, a malformed day file) imported into a running server through its admin
//! socket, read back over HTTP, searched; a re-import adds nothing; a dry run and an
//! import on a stopped server's data dir.

use confab_test_support::slack_fixture::{DAY1, fixture_files, zip_of};
use confab_tests::TestServer;
use reqwest::Method;
use serde_json::{Value, json};

crate::cases!(a_slack_export_imports_once_with_everything_it_carries);

fn stdout_json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the command prints JSON")
}

async fn get(client: &confab_client::Client, path: &str) -> Value {
    let (status, value) = client.raw(Method::GET, path, None).await.unwrap();
    assert!(status.is_success(), "GET {path}: {status} {value}");
    value
}

/// Every message of a channel, oldest first.
async fn all_messages(client: &confab_client::Client, channel: &str) -> Vec<Value> {
    let page = get(client, &format!("/channels/{channel}/messages?after=0&limit=200")).await;
    page["messages"].as_array().unwrap().clone()
}

fn ms(secs_after_day1: i64) -> i64 {
    (DAY1 + secs_after_day1) * 1000
}

async fn a_slack_export_imports_once_with_everything_it_carries() {
    let mut server = TestServer::start();
    // Ann already has an account: the import links her by email, password intact.
    let (ann, _) = server.user("ann").await;
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("export.zip");
    std::fs::write(&zip, zip_of(&fixture_files("acme/"))).unwrap();
    let zip = zip.to_str().unwrap();

    // A dry run writes nothing and names what it counted.
    let dry = server.cli(&["import", "slack", zip, "--workspace", "Acme", "--dry-run"]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let report = String::from_utf8_lossy(&dry.stdout);
    for line in
        ["users 5", "channels 4", "messages ", "unknown subtypes", "malformed files 1", "2020-01-01.json"]
    {
        assert!(report.contains(line), "{line:?} in {report}");
    }
    assert!(
        get(&ann, "/workspaces").await["workspaces"].as_array().unwrap().is_empty(),
        "a dry run writes nothing"
    );

    // The import, through the running server's admin socket.
    let first = stdout_json(&server.cli(&["import", "slack", zip, "--workspace", "Acme", "--json"]));
    assert_eq!(first["workspace_created"], true, "{first}");
    assert_eq!(first["users_linked"], 1, "{first}");
    // bob, carol, deploybot, Slackbot, and the webhook bot B9 ("Hooky").
    assert_eq!(first["users_created"], 5, "{first}");
    let new_people: Vec<&str> =
        first["new_accounts"].as_array().unwrap().iter().map(|a| a["username"].as_str().unwrap()).collect();
    assert_eq!(new_people, ["bob"], "bots, Slackbot and deleted users get no sign-in link");
    // Bob has no password until his one-time link sets one; the link works once.
    let link = first["new_accounts"][0]["sign_in_token"].as_str().unwrap().to_string();
    assert!(server.client().login("bob@example.com", "").await.is_err());
    let reset = json!({"token": link, "new_password": "bob's new password"}).to_string();
    let (status, body) =
        server.client().raw(Method::POST, "/auth/reset_password", Some(&reset)).await.unwrap();
    assert!(status.is_success(), "{status} {body}");
    let (status, _) = server.client().raw(Method::POST, "/auth/reset_password", Some(&reset)).await.unwrap();
    assert_eq!(status.as_u16(), 401, "a sign-in link works once");
    let bob_client = server.client();
    let bob_client = bob_client
        .with_token(&bob_client.login("bob@example.com", "bob's new password").await.unwrap().token);
    // old-stuff has a malformed day file: that conversation is skipped, named.
    let skipped = first["conversations_skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{first}");
    let skipped = skipped[0].as_str().unwrap();
    assert!(skipped.contains("old-stuff/2020-01-01.json:3:"), "file and line: {skipped}");
    assert_eq!(first["messages_imported"], 14, "{first}");
    let ws = first["workspace"].as_str().unwrap().to_string();

    // Ann is the owner (Slack's primary owner); everyone is a member.
    let workspaces = get(&ann, "/workspaces").await;
    assert_eq!(workspaces["workspaces"][0]["name"], "Acme");
    assert_eq!(workspaces["workspaces"][0]["role"], "owner");
    let members = get(&ann, &format!("/workspaces/{ws}/members")).await;
    let members = members["members"].as_array().unwrap();
    let id_of = |username: &str| -> String {
        members.iter().find(|m| m["username"] == username).unwrap_or_else(|| panic!("{username}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (bob, carol, deploybot) = (id_of("bob"), id_of("carol"), id_of("deploybot"));
    let hooky = id_of("hooky");

    // Channels: Slack's general channel merged into #general, the private one
    // private, the DM and the mpim as DMs; the skipped conversation not created.
    let channels = get(&ann, &format!("/workspaces/{ws}/channels")).await;
    let channels = channels["channels"].as_array().unwrap();
    let named = |name: &str| channels.iter().find(|c| c["name"] == name).cloned();
    assert!(named("old-stuff").is_none(), "{channels:?}");
    let general = named("general").unwrap();
    assert_eq!(general["topic"], "Everything about #old-stuff & more");
    let secret = named("secret").unwrap();
    assert_eq!(secret["kind"], "private");
    let dms: Vec<&Value> = channels.iter().filter(|c| c["kind"] == "dm").collect();
    assert_eq!(dms.len(), 2, "{dms:?}");
    assert_eq!(general["unread_count"], 0, "imported history arrives read");

    // #general's history: ts order, original times, threads, edits, reactions,
    // files as links, bot messages, converted markup.
    let history = all_messages(&ann, general["id"].as_str().unwrap()).await;
    let times: Vec<i64> = history.iter().map(|m| m["created_at"].as_i64().unwrap()).collect();
    assert_eq!(times, [10, 20, 30, 40, 50, 60, 61, 95, 86_401, 86_405].map(ms));
    let seqs: Vec<u64> = history.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    let root = &history[0];
    assert_eq!(
        root["text"],
        "Hi @bob and @bob, see #old-stuff and the docs (https://example.com/a?b=1&c=2) or https://example.com \
         @here @channel @everyone 🎉 <3 & more @U404"
    );
    assert_eq!(root["mentions"], json!([bob]));
    assert_eq!(root["edited_at"], ms(15));
    assert_eq!(root["reply_count"], 3);
    assert_eq!(root["last_reply_at"], ms(86_405));
    let reactions = root["reactions"].as_array().unwrap();
    assert_eq!(reactions.len(), 2, "the custom emoji is left out: {reactions:?}");
    assert_eq!(reactions[0]["emoji"], "🎉");
    let mut tada_users: Vec<&str> =
        reactions[0]["users"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    tada_users.sort();
    let mut expected = vec![bob.as_str(), carol.as_str()];
    expected.sort();
    assert_eq!(tada_users, expected);
    assert_eq!(reactions[1]["emoji"], "👍🏼");
    for reply in [&history[1], &history[3], &history[9]] {
        assert_eq!(reply["thread_root"], root["id"], "{reply}");
    }
    assert_eq!(history[2]["text"], "_waves_");
    assert_eq!(history[4]["text"], "the plan\n📎 plan.pdf (https://acme.slack.com/files/U1/F1/plan.pdf)");
    assert_eq!(
        history[5]["author"],
        deploybot.as_str(),
        "a bot_message of a bot user's bot id is that user's"
    );
    assert!(
        history[5]["text"].as_str().unwrap().contains("build 1 (https://ci.example.com/1)"),
        "{}",
        history[5]
    );
    assert_eq!(history[6]["author"], hooky.as_str());
    assert_eq!(history[7]["author"], deploybot.as_str());
    let thread = get(&ann, &format!("/messages/{}/thread", root["id"].as_str().unwrap())).await;
    assert_eq!(thread["replies"].as_array().unwrap().len(), 3);

    // Bots show as bots: users.json's bot user, Slackbot, and the integration known
    // only by its bot id; people do not. A bot's email is its own id's, which nobody
    // can sign up with.
    let is_bot = |username: &str| {
        members.iter().find(|m| m["username"] == username).unwrap_or_else(|| panic!("{username}"))["is_bot"]
            == true
    };
    for bot in ["deploybot", "hooky", "slackbot"] {
        assert!(is_bot(bot), "{bot} is a bot: {members:?}");
    }
    for person in ["ann", "bob", "carol"] {
        assert!(!is_bot(person), "{person} is a person: {members:?}");
    }
    let signup = json!({"email": format!("{}@bots.invalid", deploybot.to_lowercase()),
                        "password": "a long password", "display_name": "Not a bot"});
    let (status, body) =
        server.client().raw(Method::POST, "/auth/signup", Some(&signup.to_string())).await.unwrap();
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (409, Some("email_taken")), "{body}");
    // Exported again, they are bots in users.json, without this server's address.
    let out = dir.path().join("again.zip");
    stdout_json(&server.cli(&["export", "workspace", &ws, "--out", out.to_str().unwrap()]));
    let mut exported = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    let users: Value = serde_json::from_reader(exported.by_name("users.json").unwrap()).unwrap();
    let user = |name: &str| users.as_array().unwrap().iter().find(|u| u["name"] == name).unwrap().clone();
    assert_eq!(
        (&user("deploybot")["is_bot"], &user("deploybot")["profile"]["email"]),
        (&json!(true), &Value::Null)
    );
    assert_eq!(
        (&user("bob")["is_bot"], &user("bob")["profile"]["email"]),
        (&json!(false), &json!("bob@example.com"))
    );

    // Imported history leaves activity, read: Bob's mention in the root and the
    // replies after his in its thread; Ann's, the replies in her thread. Nobody's
    // unread counts move.
    let activity_of = |page: &Value| -> Vec<(String, bool, bool, bool)> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let flag = |k: &str| i[k].as_bool().unwrap();
                (
                    i["message"]["id"].as_str().unwrap().to_string(),
                    flag("mention"),
                    flag("reply"),
                    flag("unread"),
                )
            })
            .collect()
    };
    let id = |m: &Value| m["id"].as_str().unwrap().to_string();
    let bobs = activity_of(&get(&bob_client, &format!("/workspaces/{ws}/activity")).await);
    assert_eq!(
        bobs,
        [
            (id(&history[9]), false, true, false),
            (id(&history[3]), false, true, false),
            (id(root), true, false, false)
        ]
    );
    let anns = activity_of(&get(&ann, &format!("/workspaces/{ws}/activity")).await);
    let replies = [&history[9], &history[3], &history[1]].map(|m| (id(m), false, true, false));
    assert_eq!(anns, replies);
    for client in [&ann, &bob_client] {
        let threads = get(client, &format!("/workspaces/{ws}/threads")).await;
        assert_eq!(threads["threads"].as_array().unwrap().len(), 1, "{threads}");
        assert_eq!(threads["threads"][0]["unread_replies"], 0, "{threads}");
        let channels = get(client, &format!("/workspaces/{ws}/channels")).await;
        for c in channels["channels"].as_array().unwrap() {
            assert_eq!((&c["unread_count"], &c["mention_count"]), (&json!(0), &json!(0)), "{c}");
        }
    }

    // The private channel, the DM and the group DM.
    let secret_history = all_messages(&ann, secret["id"].as_str().unwrap()).await;
    assert_eq!(secret_history.len(), 1);
    assert_eq!(secret_history[0]["text"], "private *words*");
    let mut dm_texts = Vec::new();
    for dm in &dms {
        for m in all_messages(&ann, dm["id"].as_str().unwrap()).await {
            dm_texts.push(m["text"].as_str().unwrap().to_string());
        }
    }
    dm_texts.sort();
    assert_eq!(dm_texts, ["hey ann", "hey bob", "📎 photo (https://files.slack.com/F9/photo.png)"]);

    // Search sees imported history (the private channel's too, for a member).
    let hits = get(&ann, &format!("/workspaces/{ws}/search?q=plan")).await;
    assert!(hits.to_string().contains("plan.pdf"), "{hits}");
    let hits = get(&ann, &format!("/workspaces/{ws}/search?q=words")).await;
    assert!(hits.to_string().contains("private"), "{hits}");

    // Importing is not consent: the ledger is empty.
    let consent = get(&ann, &format!("/workspaces/{ws}/consent/history")).await;
    assert!(consent["entries"].as_array().is_none_or(|e| e.is_empty()), "{consent}");

    // Ann signs in with her own password still.
    server.client().login("ann@example.com", "correct horse battery").await.unwrap();

    // A re-import adds nothing.
    let again = stdout_json(&server.cli(&["import", "slack", zip, "--workspace", "Acme", "--json"]));
    assert_eq!(again["workspace_created"], false, "{again}");
    assert_eq!(again["messages_imported"], 0, "{again}");
    assert_eq!(again["messages_already_imported"], 14, "{again}");
    assert_eq!(again["users_created"], 0, "{again}");
    assert_eq!(again["channels_created"], 0, "{again}");
    assert_eq!(again["dms_created"], 0, "{again}");
    assert_eq!(all_messages(&ann, general["id"].as_str().unwrap()).await.len(), 10);
    let root_again = get(&ann, &format!("/messages/{}", root["id"].as_str().unwrap())).await;
    assert_eq!(root_again["reply_count"], 3);
    assert_eq!(activity_of(&get(&ann, &format!("/workspaces/{ws}/activity")).await), replies);

    // On a stopped server's data dir, the same command works offline; the table
    // names the skipped file and the process exits 0.
    server.stop();
    let offline = server.cli(&["import", "slack", zip, "--workspace", "Acme"]);
    assert!(offline.status.success(), "{}", String::from_utf8_lossy(&offline.stderr));
    let table = String::from_utf8_lossy(&offline.stdout);
    assert!(table.contains("old-stuff/2020-01-01.json"), "{table}");
    assert!(table.contains("messages") && table.contains("14 already imported"), "{table}");
    server.restart();
    let ann = server
        .client()
        .with_token(&server.client().login("ann@example.com", "correct horse battery").await.unwrap().token);
    assert_eq!(all_messages(&ann, general["id"].as_str().unwrap()).await.len(), 10);
}
