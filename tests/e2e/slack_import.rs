//! `confab import slack` end to end: a fixture export in Slack's documented layout
//! (threads, edits, reactions, private channels, DMs, mpims, bot messages, files, every
//! markup form, a malformed day file) imported into a running server through its admin
//! socket, read back over HTTP, searched; a re-import adds nothing; a dry run and an
//! import on a stopped server's data dir.

use std::io::{Cursor, Write};

use confab_tests::TestServer;
use reqwest::Method;
use serde_json::{Value, json};
use zip::write::SimpleFileOptions;

crate::cases!(a_slack_export_imports_once_with_everything_it_carries);

/// 2020-01-01T00:00:00Z.
const DAY1: i64 = 1_577_836_800;

fn ts(secs_after_day1: i64, micros: u32) -> String {
    format!("{}.{micros:06}", DAY1 + secs_after_day1)
}

fn zip_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        if name.ends_with('/') {
            zip.add_directory(name.as_str(), options).unwrap();
        } else {
            zip.start_file(name.as_str(), options).unwrap();
            zip.write_all(bytes).unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

fn j(v: Value) -> Vec<u8> {
    serde_json::to_vec_pretty(&v).unwrap()
}

/// The fixture's files, under `prefix` (`""` or `"folder/"`).
fn fixture_files(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let users = json!([
        {"id": "U1", "team_id": "T1", "name": "ann", "real_name": "Ann Archer", "is_admin": true,
         "is_owner": true, "tz": "Europe/Berlin", "color": "9f69e7", "updated": 1,
         "profile": {"email": "ann@example.com", "display_name": "Annie", "real_name": "Ann Archer",
                     "image_72": "https://x/a.png", "status_emoji": ":sun:"}},
        {"id": "U2", "name": "bob", "profile": {"email": "bob@example.com", "display_name": "",
                     "real_name": "Bob Baker"}},
        {"id": "U3", "name": "carol", "deleted": true, "profile": {"email": "carol@example.com"}},
        {"id": "UBOT", "name": "deploybot", "is_bot": true, "is_app_user": false,
         "profile": {"bot_id": "B1", "real_name": "Deploy Bot", "email": null}},
        {"id": "USLACKBOT", "name": "slackbot", "is_bot": false, "real_name": "Slackbot",
         "profile": {"real_name": "Slackbot"}}
    ]);
    let channels = json!([
        {"id": "C1", "name": "company", "created": DAY1 - 86_400, "creator": "U1", "is_archived": false,
         "is_general": true, "members": ["U1", "U2", "U3", "UBOT"], "pins": [{"id": "x"}],
         "topic": {"value": "Everything about <#C2|old-stuff> &amp; more", "creator": "U1", "last_set": 0},
         "purpose": {"value": "The whole company", "creator": "U1", "last_set": 0}},
        {"id": "C2", "name": "old-stuff", "created": DAY1, "creator": "U2", "is_archived": true,
         "is_general": false, "members": ["U2"], "topic": {"value": ""}, "purpose": null},
        {"id": "C3", "name": "quiet", "created": DAY1, "creator": "U1", "members": null}
    ]);
    let groups = json!([
        {"id": "G1", "name": "secret", "created": DAY1, "creator": "U1", "is_archived": false,
         "members": ["U1", "U2"], "topic": {"value": "shh"}, "purpose": {"value": ""}}
    ]);
    let dms = json!([{"id": "D1", "created": DAY1, "members": ["U1", "U2"]}]);
    let mpims = json!([
        {"id": "G2", "name": "mpdm-ann--bob--carol-1", "created": DAY1, "creator": "U1",
         "is_archived": false, "members": ["U1", "U2", "U3"],
         "topic": {"value": "Group messaging"}, "purpose": {"value": "Group messaging with: @ann @bob @carol"}}
    ]);
    let integration_logs = json!([
        {"user_id": "U1", "user_name": "ann", "date": "1577836800", "change_type": "added",
         "service_id": "1", "service_type": "Incoming WebHooks", "channel": "company", "scope": "incoming-webhook"},
        {"user_id": "U2", "user_name": "bob", "date": "1577923200", "change_type": "removed",
         "app_type": "Giphy", "reason": "uninstalled"}
    ]);

    // Day 1 of #company, written out of ts order on purpose.
    let general_day1 = json!([
        {"type": "message", "user": "U2", "text": "second, in a thread", "ts": ts(20, 0),
         "thread_ts": ts(10, 100), "parent_user_id": "U1", "client_msg_id": "abc",
         "blocks": [{"type": "rich_text"}], "user_profile": {"name": "bob"}},
        {"type": "message", "user": "U1",
         "text": "Hi <@U2> and <@U2|bob>, see <#C2|old-stuff> and <https://example.com/a?b=1&amp;c=2|the docs> \
                  or <https://example.com> <!here> <!channel> <!everyone> :tada: &lt;3 &amp; more <@U404>",
         "ts": ts(10, 100), "thread_ts": ts(10, 100), "reply_count": 2, "reply_users": ["U2", "U3"],
         "replies": [{"user": "U2", "ts": ts(20, 0)}, {"user": "U3", "ts": ts(86_400 + 5, 0)}],
         "edited": {"user": "U1", "ts": ts(15, 0)},
         "reactions": [
             {"name": "tada", "users": ["U2", "U3"], "count": 2},
             {"name": "+1::skin-tone-3", "users": ["U2"], "count": 5},
             {"name": "partyparrot", "users": ["U404"], "count": 1}
         ]},
        {"type": "message", "subtype": "channel_join", "user": "U3", "text": "<@U3> has joined the channel",
         "ts": ts(5, 0), "inviter": "U1"},
        {"type": "message", "subtype": "me_message", "user": "U2", "text": "waves", "ts": ts(30, 0)},
        {"type": "message", "subtype": "thread_broadcast", "user": "U3", "text": "also for everyone",
         "ts": ts(40, 0), "thread_ts": ts(10, 100), "parent_user_id": "U1", "root": {"ts": ts(10, 100)}},
        {"type": "message", "subtype": "file_share", "user": "U1", "text": "the plan", "ts": ts(50, 0),
         "upload": true, "display_as_bot": false,
         "files": [
             {"id": "F1", "name": "plan.pdf", "title": "The plan", "mimetype": "application/pdf",
              "filetype": "pdf", "size": 12_345, "url_private": "https://files.slack.com/F1/plan.pdf",
              "url_private_download": "https://files.slack.com/F1/download/plan.pdf",
              "permalink": "https://acme.slack.com/files/U1/F1/plan.pdf", "is_external": false},
             {"id": "F2", "mode": "tombstone"},
             {"id": "F3", "mode": "hidden_by_limit"}
         ]},
        {"type": "message", "subtype": "bot_message", "bot_id": "B1", "username": "deploybot",
         "text": "", "ts": ts(60, 0),
         "attachments": [{"fallback": "Deployed <https://ci.example.com/1|build 1> to prod", "color": "good"}]},
        {"type": "message", "subtype": "bot_message", "bot_id": "B9", "text": "webhook says hi",
         "ts": ts(61, 0), "bot_profile": {"name": "Hooky"}},
        {"type": "message", "subtype": "pinned_item", "user": "U1", "text": "pinned", "ts": ts(70, 0)},
        {"type": "message", "subtype": "channel_topic", "user": "U1", "text": "set the topic", "ts": ts(71, 0)},
        {"type": "message", "subtype": "channel_topic", "user": "U1", "text": "again", "ts": ts(72, 0)},
        {"type": "message", "user": "U1", "text": "", "ts": ts(80, 0)},
        {"type": "message", "text": "nobody wrote this", "ts": ts(81, 0)},
        {"type": "message", "user": "U1", "text": "bad ts", "ts": "yesterday"},
        {"type": "message", "subtype": "channel_leave", "user": "U2", "text": "<@U2> has left", "ts": ts(90, 0)},
        {"type": "message", "user": "UBOT", "bot_id": "B1", "text": "I am a bot user", "ts": ts(95, 0)}
    ]);
    let general_day2 = json!([
        {"type": "message", "user": "U3", "text": "late reply", "ts": ts(86_400 + 5, 0),
         "thread_ts": ts(10, 100), "parent_user_id": "U1"},
        {"type": "message", "user": "U1", "text": "a new day", "ts": ts(86_400 + 1, 0), "future_field": {"x": [1]}},
        // The same message again (as in an export assembled from overlapping ones).
        {"type": "message", "subtype": "me_message", "user": "U2", "text": "waves again", "ts": ts(30, 0)}
    ]);
    // Truncated: a malformed day file (line 3).
    let old_day1 = b"[\n  {\"type\": \"message\", \"user\": \"U2\", \"text\": \"ok\", \"ts\": \"1577836800.000100\"},\n  {\"type\": \"message\", \"user\": \"U2\", \"text\": \"cut".to_vec();
    let old_day2 = json!([{"type": "message", "user": "U2", "text": "still here", "ts": ts(86_400, 0)}]);
    let secret_day = json!([{"type": "message", "subtype": "group_join", "user": "U2", "ts": ts(1, 0)},
                           {"type": "message", "user": "U1", "text": "private *words*", "ts": ts(2, 0)}]);
    let dm_day = json!([{"type": "message", "user": "U1", "text": "hey bob", "ts": ts(3, 0)},
                       {"type": "message", "user": "U2", "text": "hey ann", "ts": ts(4, 0)}]);
    let mpim_day = json!([
        {"type": "message", "subtype": "file_share", "user": "U3", "text": "", "ts": ts(6, 0),
         "file": {"id": "F9", "title": "photo", "mimetype": "image/png", "size": 99,
                  "url_private": "https://files.slack.com/F9/photo.png"}}
    ]);

    let p = |s: &str| format!("{prefix}{s}");
    vec![
        (p("users.json"), j(users)),
        (p("channels.json"), j(channels)),
        (p("groups.json"), j(groups)),
        (p("dms.json"), j(dms)),
        (p("mpims.json"), j(mpims)),
        (p("integration_logs.json"), j(integration_logs)),
        (p("company/"), Vec::new()),
        (p("company/2020-01-01.json"), j(general_day1)),
        (p("company/2020-01-02.json"), j(general_day2)),
        (p("company/canvas.txt"), b"not a day".to_vec()),
        (p("old-stuff/2020-01-01.json"), old_day1),
        (p("old-stuff/2020-01-02.json"), j(old_day2)),
        (p("secret/2020-01-01.json"), j(secret_day)),
        (p("D1/2020-01-01.json"), j(dm_day)),
        (p("mpdm-ann--bob--carol-1/2020-01-01.json"), j(mpim_day)),
        (p("orphan/2020-01-01.json"), j(json!([]))),
        (p("orphan/2020-01-02.json"), j(json!([]))),
    ]
}

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
    server.client().login("bob@example.com", "bob's new password").await.unwrap();
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
