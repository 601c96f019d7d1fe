//! A small Slack export in Slack's documented layout, as the Slack reader's tests and
//! the import's end-to-end test both read it: every form the reader maps (threads,
//! edits, reactions, private channels, DMs, mpims, bot messages, files, every markup
//! form), a malformed day file and an orphan folder.

use std::io::{Cursor, Write};

use serde_json::{Value, json};
use zip::write::SimpleFileOptions;

/// 2020-01-01T00:00:00Z.
pub const DAY1: i64 = 1_577_836_800;

/// A Slack `ts`: seconds after [`DAY1`] and microseconds.
pub fn ts(secs_after_day1: i64, micros: u32) -> String {
    format!("{}.{micros:06}", DAY1 + secs_after_day1)
}

pub fn zip_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
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

/// A JSON file's bytes.
pub fn j(v: Value) -> Vec<u8> {
    serde_json::to_vec_pretty(&v).unwrap()
}

/// The fixture's files, under `prefix` (`""` or `"folder/"`).
pub fn fixture_files(prefix: &str) -> Vec<(String, Vec<u8>)> {
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
