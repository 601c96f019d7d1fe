//! Builds a small export in Slack's documented layout — every form the reader maps,
//! a malformed day file, an orphan folder — and checks what reads back, field by field.

use std::collections::HashMap;
use std::io::Cursor;

use confab_slack_export::{
    Author, ConversationId, ConversationKind, Entry, Error, Export, MembershipChange, Message, MessageKey,
    MessageKind, Resolver, SlackUserId,
};
use confab_test_support::slack_fixture::{DAY1, fixture_files, ts, zip_of};

fn open(bytes: Vec<u8>) -> Export<Cursor<Vec<u8>>> {
    Export::from_reader(Cursor::new(bytes), "fixture.zip").unwrap()
}

/// Confab usernames as an importer would resolve them: Slack handles, and Slack's
/// general channel named `general`.
struct Names(HashMap<SlackUserId, String>);

impl Resolver for Names {
    fn username(&self, user: &SlackUserId) -> Option<String> {
        self.0.get(user).cloned()
    }

    fn channel(&self, channel: &ConversationId) -> Option<String> {
        (channel.as_str() == "C1").then(|| "general".to_owned())
    }
}

fn names<R: std::io::Read + std::io::Seek>(export: &Export<R>) -> Names {
    Names(export.users().iter().map(|u| (u.id.clone(), u.name.clone())).collect())
}

fn messages(entries: &[Entry]) -> Vec<&Message> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Message(m) => Some(m),
            Entry::Membership(_) => None,
        })
        .collect()
}

fn sid(s: &str) -> SlackUserId {
    SlackUserId::new(s)
}

#[test]
fn directory_files_read_back_field_by_field() {
    let export = open(zip_of(&fixture_files("")));

    let users = export.users();
    assert_eq!(users.len(), 5);
    let ann = &users[0];
    assert_eq!(ann.id, sid("U1"));
    assert_eq!(ann.name, "ann");
    assert_eq!(ann.real_name.as_deref(), Some("Ann Archer"));
    assert_eq!(ann.display_name.as_deref(), Some("Annie"));
    assert_eq!(ann.shown_name(), "Annie");
    assert_eq!(ann.email.as_deref(), Some("ann@example.com"));
    assert!(ann.is_admin && ann.is_owner && !ann.is_bot && !ann.deleted);
    assert_eq!(ann.tz.as_deref(), Some("Europe/Berlin"));
    let bob = &users[1];
    assert_eq!(bob.display_name, None, "an empty display name is none");
    assert_eq!(bob.real_name.as_deref(), Some("Bob Baker"), "the profile's real name");
    assert_eq!(bob.shown_name(), "Bob Baker");
    assert!(users[2].deleted && users[2].email.is_some());
    let bot = &users[3];
    assert!(bot.is_bot && bot.email.is_none());
    assert_eq!(bot.bot_id.as_deref(), Some("B1"));
    let slackbot = &users[4];
    assert!(slackbot.is_bot, "Slackbot counts as a bot although its record says not");
    assert_eq!(slackbot.email, None);

    let conversations = export.conversations();
    let kinds: Vec<(&str, ConversationKind)> =
        conversations.iter().map(|c| (c.id.as_str(), c.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("C1", ConversationKind::Public),
            ("C2", ConversationKind::Public),
            ("C3", ConversationKind::Public),
            ("G1", ConversationKind::Private),
            ("G2", ConversationKind::Mpim),
            ("D1", ConversationKind::Dm),
        ]
    );
    let general = &conversations[0];
    assert_eq!(general.name, "company");
    assert!(general.is_general && !general.archived);
    assert_eq!(general.topic.as_deref(), Some("Everything about <#C2|old-stuff> &amp; more"));
    assert_eq!(general.purpose.as_deref(), Some("The whole company"));
    assert_eq!(general.members, [sid("U1"), sid("U2"), sid("U3"), sid("UBOT")]);
    assert_eq!(general.creator, Some(sid("U1")));
    assert_eq!(general.created_ms, Some((DAY1 - 86_400) * 1000));
    assert_eq!(general.day_files, ["company/2020-01-01.json", "company/2020-01-02.json"]);
    let old = &conversations[1];
    assert!(old.archived && !old.is_general);
    assert_eq!((old.topic.as_deref(), old.purpose.as_deref()), (None, None));
    assert!(conversations[2].members.is_empty() && conversations[2].day_files.is_empty());
    assert_eq!(conversations[3].name, "secret");
    assert_eq!(conversations[3].topic.as_deref(), Some("shh"));
    let mpim = &conversations[4];
    assert_eq!(mpim.name, "mpdm-ann--bob--carol-1");
    assert_eq!(mpim.members, [sid("U1"), sid("U2"), sid("U3")]);
    assert_eq!(mpim.day_files, ["mpdm-ann--bob--carol-1/2020-01-01.json"]);
    let dm = &conversations[5];
    assert_eq!(dm.name, "D1", "a DM is named by its id");
    assert_eq!(dm.members, [sid("U1"), sid("U2")]);
    assert_eq!(dm.day_files, ["D1/2020-01-01.json"], "a DM's folder is named by its id");

    let logs = export.integration_logs();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0].service.as_deref(), Some("Incoming WebHooks"));
    assert_eq!(logs[0].date_ms, Some(DAY1 * 1000));
    assert_eq!(logs[0].change_type.as_deref(), Some("added"));
    assert_eq!(logs[1].service.as_deref(), Some("Giphy"));
    assert_eq!(logs[1].reason.as_deref(), Some("uninstalled"));

    let report = export.report();
    assert_eq!((report.users, report.bots, report.deleted_users), (5, 2, 1));
    assert_eq!(
        report.users_without_email.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        ["UBOT", "USLACKBOT"]
    );
    assert_eq!((report.public_channels, report.private_channels, report.dms, report.mpims), (3, 1, 1, 1));
    assert_eq!(report.archived, 1);
    assert_eq!(report.integration_logs, 2);
    assert_eq!(
        report.skipped.get("folder orphan/ of no conversation in channels/groups/mpims/dms.json (day files)"),
        Some(&2)
    );
    assert_eq!(
        report.skipped.get("file in a conversation's folder that is not a YYYY-MM-DD.json day file"),
        Some(&1)
    );
}

#[test]
fn history_reads_back_in_ts_order_field_by_field() {
    let export = open(zip_of(&fixture_files("")));
    let resolver = names(&export);
    let general = &export.conversations()[0];
    let mut history = export.messages(general, &resolver).unwrap();
    let entries: Vec<Entry> = history.by_ref().collect();

    // ts order across and within day files (day 1 was written out of order).
    let order: Vec<&str> = entries.iter().map(|e| e.ts()).collect();
    let mut sorted = order.clone();
    sorted.sort_by_key(|t| confab_slack_export::parse_ts(t));
    assert_eq!(order, sorted);
    assert_eq!(
        order,
        [
            ts(5, 0),
            ts(10, 100),
            ts(20, 0),
            ts(30, 0),
            ts(40, 0),
            ts(50, 0),
            ts(60, 0),
            ts(61, 0),
            ts(90, 0),
            ts(95, 0),
            ts(86_400 + 1, 0),
            ts(86_400 + 5, 0)
        ]
    );

    // channel_join as a membership event.
    let Entry::Membership(join) = &entries[0] else { panic!("{:?}", entries[0]) };
    assert_eq!(join.user, sid("U3"));
    assert_eq!(join.change, MembershipChange::Joined);
    assert_eq!(join.inviter, Some(sid("U1")));
    assert_eq!(join.ts_ms, (DAY1 + 5) * 1000);
    assert_eq!(join.key.as_str(), format!("slack:C1:{}", ts(5, 0)));
    let Entry::Membership(leave) = &entries[8] else { panic!("{:?}", entries[8]) };
    assert_eq!((leave.user.as_str(), leave.change), ("U2", MembershipChange::Left));

    let all = messages(&entries);
    let root = all[0];
    assert_eq!(root.ts, ts(10, 100));
    assert_eq!(root.ts_ms, (DAY1 + 10) * 1000, "micros below a millisecond are cut");
    assert_eq!(root.key, MessageKey::new(&general.id, &ts(10, 100)));
    assert_eq!(root.author, Author::User(sid("U1")));
    assert_eq!(root.kind, MessageKind::Plain);
    assert_eq!(
        root.text,
        "Hi @bob and @bob, see #old-stuff and the docs (https://example.com/a?b=1&c=2) \
         or https://example.com @here @channel @everyone :tada: <3 & more @U404"
    );
    assert_eq!(root.thread_ts.as_deref(), Some(ts(10, 100).as_str()));
    assert!(!root.is_reply() && root.thread_key.is_none(), "a root is not a reply");
    let edited = root.edited.as_ref().unwrap();
    assert_eq!(
        (edited.ts.as_str(), edited.ts_ms, edited.user.as_ref()),
        (ts(15, 0).as_str(), Some((DAY1 + 15) * 1000), Some(&sid("U1")))
    );
    let reactions: Vec<(&str, Option<&str>, Vec<&str>, u32)> = root
        .reactions
        .iter()
        .map(|r| (r.name.as_str(), r.emoji, r.users.iter().map(|u| u.as_str()).collect(), r.count))
        .collect();
    assert_eq!(
        reactions,
        [
            ("tada", Some("🎉"), vec!["U2", "U3"], 2),
            ("+1::skin-tone-3", Some("👍🏼"), vec!["U2"], 5),
            ("partyparrot", None, vec!["U404"], 1),
        ]
    );

    let reply = all[1];
    assert_eq!(reply.text, "second, in a thread");
    assert_eq!(reply.thread_key.as_ref(), Some(&root.key));
    assert_eq!(reply.parent_user_id, Some(sid("U1")));
    assert!(reply.is_reply() && reply.edited.is_none() && reply.reactions.is_empty());

    assert_eq!((all[2].kind, all[2].text.as_str()), (MessageKind::Me, "waves"));
    let broadcast = all[3];
    assert_eq!(broadcast.kind, MessageKind::ThreadBroadcast);
    assert_eq!(broadcast.thread_key.as_ref(), Some(&root.key));

    let share = all[4];
    assert_eq!(share.kind, MessageKind::FileShare);
    assert_eq!(share.text, "the plan");
    assert_eq!(share.files.len(), 1, "tombstoned and hidden files are left out");
    let file = &share.files[0];
    assert_eq!(file.id.as_deref(), Some("F1"));
    assert_eq!(file.name, "plan.pdf");
    assert_eq!(file.title.as_deref(), Some("The plan"));
    assert_eq!(file.mimetype.as_deref(), Some("application/pdf"));
    assert_eq!(file.size, Some(12_345));
    assert_eq!(file.url_private.as_deref(), Some("https://files.slack.com/F1/plan.pdf"));
    assert_eq!(file.link(), Some("https://acme.slack.com/files/U1/F1/plan.pdf"));

    let deploy = all[5];
    assert_eq!(deploy.kind, MessageKind::Bot);
    assert_eq!(
        deploy.author,
        Author::Bot { bot_id: Some("B1".into()), username: Some("deploybot".into()), user: None }
    );
    assert_eq!(deploy.text, "Deployed build 1 (https://ci.example.com/1) to prod", "attachments' fallback");
    let hook = all[6];
    assert_eq!(
        hook.author,
        Author::Bot { bot_id: Some("B9".into()), username: Some("Hooky".into()), user: None }
    );
    assert_eq!(all[7].author, Author::User(sid("UBOT")), "a bot user's own message");
    assert_eq!(all[7].kind, MessageKind::Plain);
    assert_eq!(all[8].text, "a new day");
    assert_eq!(all[9].text, "late reply");
    assert_eq!(all[9].thread_key.as_ref(), Some(&root.key), "a reply on a later day finds its root");

    let report = history.report();
    assert_eq!(report.messages, 10);
    assert_eq!((report.replies, report.edited, report.bot_messages), (3, 1, 2));
    assert_eq!((report.reactions, report.reaction_users, report.files), (3, 4, 1));
    assert_eq!((report.joins, report.leaves), (1, 1));
    assert_eq!(report.unknown_subtypes.get("pinned_item"), Some(&1));
    assert_eq!(report.unknown_subtypes.get("channel_topic"), Some(&2));
    assert_eq!(report.skipped.get("message without text or files"), Some(&1));
    assert_eq!(report.skipped.get("message without user or bot id"), Some(&1));
    assert_eq!(report.skipped.get("message whose ts does not parse"), Some(&1));
    assert_eq!(report.skipped.get("file deleted before the export (tombstone)"), Some(&1));
    assert_eq!(report.skipped.get("file hidden by the plan's limit"), Some(&1));
    assert_eq!(report.skipped.get("message with the ts of another in its conversation"), Some(&1));
    assert_eq!(report.unmapped_users.iter().map(|u| u.as_str()).collect::<Vec<_>>(), ["U404"]);
    assert!(report.malformed_files.is_empty());
}

#[test]
fn private_dm_and_mpim_histories() {
    let export = open(zip_of(&fixture_files("")));
    let resolver = names(&export);
    let by_id = |id: &str| export.conversations().iter().find(|c| c.id.as_str() == id).unwrap();

    let secret: Vec<Entry> = export.messages(by_id("G1"), &resolver).unwrap().collect();
    assert!(
        matches!(&secret[0], Entry::Membership(m) if m.change == MembershipChange::Joined && m.user == sid("U2"))
    );
    assert_eq!(messages(&secret)[0].text, "private *words*");

    let dm: Vec<Entry> = export.messages(by_id("D1"), &resolver).unwrap().collect();
    let texts: Vec<&str> = messages(&dm).iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hey bob", "hey ann"]);
    assert_eq!(dm[0].key().as_str(), format!("slack:D1:{}", ts(3, 0)));

    let mpim: Vec<Entry> = export.messages(by_id("G2"), &resolver).unwrap().collect();
    let photo = messages(&mpim)[0];
    assert_eq!(photo.text, "", "a file share without a comment keeps its file");
    assert_eq!(photo.files.len(), 1);
    assert_eq!(photo.files[0].name, "photo", "the title names a file without a name");
    assert_eq!(photo.files[0].link(), Some("https://files.slack.com/F9/photo.png"));
    assert_eq!(photo.files[0].size, Some(99));

    assert_eq!(export.messages(by_id("C3"), &resolver).unwrap().count(), 0, "a conversation without history");
}

#[test]
fn a_malformed_day_file_is_named_and_its_conversation_can_be_skipped() {
    let export = open(zip_of(&fixture_files("")));
    let resolver = names(&export);
    let old = &export.conversations()[1];

    let Err(err) = export.messages(old, &resolver) else { panic!("a malformed day file must be an error") };
    assert_eq!(err.file(), "old-stuff/2020-01-01.json");
    let Error::Malformed { line, column, .. } = &err else { panic!("{err:?}") };
    assert_eq!(*line, 3, "{err}");
    assert!(*column > 0, "{err}");
    assert!(err.to_string().starts_with("old-stuff/2020-01-01.json:3:"), "{err}");

    // Lenient: the other day is still there, the bad one listed.
    let mut lenient = export.messages_lenient(old, &resolver);
    assert_eq!(lenient.malformed().len(), 1);
    assert_eq!(lenient.malformed()[0], err);
    let texts: Vec<String> = lenient
        .by_ref()
        .filter_map(|e| match e {
            Entry::Message(m) => Some(m.text),
            Entry::Membership(_) => None,
        })
        .collect();
    assert_eq!(texts, ["still here"]);
    assert_eq!(lenient.report().malformed_files, [err.to_string()]);

    // The other conversations are unaffected, and the dry run skips this one whole.
    assert!(export.messages(&export.conversations()[0], &resolver).is_ok());
    let dry = export.dry_run(&resolver);
    assert_eq!(dry.malformed_files, [err.to_string()]);
    assert_eq!(dry.skipped.get("conversation with a malformed day file (not imported)"), Some(&1));
    // #company 10 + secret 1 + DM 2 + mpim 1; not old-stuff's "still here".
    assert_eq!(dry.messages, 14);
    assert_eq!(dry.joins, 2);
    assert_eq!((dry.users, dry.public_channels, dry.private_channels, dry.dms, dry.mpims), (5, 3, 1, 1, 1));
    let printed = dry.to_string();
    for line in ["users 5 ", "channels 4 ", "messages 14 ", "dms 1", "mpims 1", "unmapped users 1", "  U404"]
    {
        assert!(printed.lines().any(|l| l.starts_with(line)), "{line:?} in\n{printed}");
    }
    assert!(printed.contains("  old-stuff/2020-01-01.json:3:"), "{printed}");
    assert!(printed.contains("  pinned_item 1"), "{printed}");
}

#[test]
fn keys_are_the_same_on_a_second_read() {
    let bytes = zip_of(&fixture_files(""));
    let keys = |bytes: Vec<u8>| -> Vec<MessageKey> {
        let export = open(bytes);
        let resolver = names(&export);
        let mut keys = Vec::new();
        for c in export.conversations() {
            if let Ok(history) = export.messages(c, &resolver) {
                keys.extend(history.map(|e| e.key().clone()));
            }
        }
        keys
    };
    let first = keys(bytes.clone());
    assert_eq!(first.len(), 17, "12 in #company, 2 in secret, 2 in the DM, 1 in the mpim");
    assert_eq!(first, keys(bytes));
    let mut unique = first.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), first.len(), "keys are distinct");
}

#[test]
fn an_export_inside_a_folder_reads_the_same() {
    let export = open(zip_of(&fixture_files("acme Slack export/")));
    assert_eq!(export.users().len(), 5);
    let general = &export.conversations()[0];
    assert_eq!(
        general.day_files,
        ["acme Slack export/company/2020-01-01.json", "acme Slack export/company/2020-01-02.json"]
    );
    let resolver = names(&export);
    assert_eq!(export.messages(general, &resolver).unwrap().count(), 12);
}

#[test]
fn missing_or_malformed_directory_files_are_errors_naming_the_file() {
    let files = fixture_files("");
    let without = |name: &str| files.iter().filter(|(n, _)| n != name).cloned().collect::<Vec<_>>();

    let err = Export::from_reader(Cursor::new(zip_of(&without("channels.json"))), "x.zip").err().unwrap();
    assert_eq!(err, Error::Missing { file: "channels.json".into() });
    let err = Export::from_reader(Cursor::new(zip_of(&without("users.json"))), "x.zip").err().unwrap();
    assert_eq!(err.file(), "users.json");

    // Optional files may be absent.
    let mut minimal = without("groups.json");
    minimal.retain(|(n, _)| !["dms.json", "mpims.json", "integration_logs.json"].contains(&n.as_str()));
    let export = open(zip_of(&minimal));
    assert_eq!(export.conversations().len(), 3);
    assert!(export.integration_logs().is_empty());

    // A user without an id makes users.json malformed, at its line.
    let mut bad = without("users.json");
    bad.push(("users.json".into(), b"[\n {\"id\": \"U1\"},\n {\"name\": \"noid\"}\n]".to_vec()));
    let err = Export::from_reader(Cursor::new(zip_of(&bad)), "x.zip").err().unwrap();
    let Error::Malformed { file, line, message, .. } = &err else { panic!("{err:?}") };
    assert_eq!((file.as_str(), *line), ("users.json", 3));
    assert!(message.contains("missing field `id`"), "{message}");

    // A malformed integration log is reported, not fatal.
    let mut bad = without("integration_logs.json");
    bad.push(("integration_logs.json".into(), b"{oops".to_vec()));
    let export = open(zip_of(&bad));
    assert_eq!(export.report().malformed_files.len(), 1);
    assert!(export.report().malformed_files[0].starts_with("integration_logs.json:1:"));

    let err = Export::from_reader(Cursor::new(b"not a zip".to_vec()), "x.zip").err().unwrap();
    assert!(matches!(&err, Error::Archive { file, .. } if file == "x.zip"), "{err:?}");
}
