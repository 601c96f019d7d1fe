//! Writes a Slack-export-shaped zip from the real chat corpus
//! (`corpus/chitchat-dataset.json.gz`, see `corpus/README.md`), then (with
//! `--measure`) reads it back through `confab-slack-export` and prints the
//! read+convert throughput.
//!
//! ```sh
//! cargo run --release -p confab-slack-export --example slack_export_gen -- \
//!     --messages 500000 --out target/slack-export-500k.zip --measure
//! cargo run --release -p confab-slack-export --example slack_export_gen -- \
//!     --read target/slack-export-500k.zip          # measure an existing zip only
//! ```
//!
//! Options: `--messages N` (default 500000: message entries written, the planted
//! skipped subtypes included; membership events come on top), `--seed S` (default 7), `--out FILE` (default
//! `target/slack-export-<N>.zip`), `--corpus FILE`, `--measure`, `--read FILE`.
//!
//! # The model (seeded; the same seed writes the same archive)
//!
//! * **Users.** Each distinct corpus sender is a user `U…` with an email
//!   (`<handle>@example.com`); 2% are deleted. Plus a bot user `deploybot` (bot id
//!   `B0DEPLOY`, no email) and Slackbot (`USLACKBOT`, no email).
//! * **Replay.** To go past the corpus's 258,145 messages it is replayed in rounds;
//!   round `r` shifts every timestamp by `r × 240` days and remaps senders
//!   (`sender index + r × 331`, modulo the number of users). No text is invented.
//! * **Conversations.** Each corpus conversation (a dialogue of two senders) goes,
//!   by a seeded draw, to: a public channel (70%; 40 channels `c00-…`, picked by a
//!   Zipf(1.0) draw so a few are busy; `c00-general` is Slack's `is_general`
//!   channel; every 10th channel is archived), a private channel (10%; 8 `g0-…`), the
//!   DM of its two senders (15%), or an mpim of its two senders and a third user (5%).
//!   A user's first post in a channel is preceded by a `channel_join` (`group_join`
//!   in private channels); after 5% of dialogues there the last speaker leaves
//!   (`channel_leave` / `group_leave`) and joins again on their next post. Channels
//!   list their posters as members.
//! * **Per message** (independent draws): starts a thread 6% (the next 1–3
//!   messages of the same dialogue reply to it, each a `thread_broadcast` with
//!   10%); edited 4% (`edited` by the author 60 s later); reactions 12% (1–3
//!   distinct names from `+1 joy heart tada eyes 100 fire pray +1::skin-tone-3
//!   partyparrot`, Zipf(1.2); the other participant reacts, plus 0–3 random
//!   users); `file_share` with one file 1% (pdf or png, with `url_private` and
//!   `permalink`); `me_message` 0.5%; a `pinned_item` or `channel_topic` (skipped
//!   subtypes) 0.2%. After 1% of messages `deploybot` posts a `bot_message`
//!   (half with the text in `attachments[].fallback`).
//! * **Markup** planted into corpus text (which is escaped first, `&` `<` `>` as
//!   Slack does): a leading `<@U…>` of the other participant 3% (a third with a
//!   `|name` label), a `<#C…|name>` 1%, a `<https://…|label>` or bare `<https://…>`
//!   1%, `<!here>` / `<!channel>` / `<!everyone>` 0.5%, a `:tada:`-style shortcode 1%.
//! * **Day files** are UTC days; `ts` is the corpus second plus a unique microsecond
//!   part, so `ts` are unique per conversation.

use confab_test_support::rng::Rng;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use confab_slack_export::{Entry, Export, SlackUserId};
use serde::Deserialize;
use serde_json::{Value, json};
use zip::write::SimpleFileOptions;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Deserialize)]
struct CorpusConversation {
    messages: Vec<Vec<CorpusMessage>>,
}

#[derive(Deserialize)]
struct CorpusMessage {
    text: String,
    timestamp: String,
    sender: String,
}

struct Args {
    messages: usize,
    seed: u64,
    out: Option<PathBuf>,
    corpus: PathBuf,
    measure: bool,
    read: Option<PathBuf>,
}

fn args() -> Res<Args> {
    let mut a = Args {
        messages: 500_000,
        seed: 7,
        out: None,
        corpus: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/chitchat-dataset.json.gz"),
        measure: false,
        read: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--messages" => a.messages = value()?.parse()?,
            "--seed" => a.seed = value()?.parse()?,
            "--out" => a.out = Some(value()?.into()),
            "--corpus" => a.corpus = value()?.into(),
            "--measure" => a.measure = true,
            "--read" => a.read = Some(value()?.into()),
            other => return Err(format!("unknown option {other} (see the example's doc comment)").into()),
        }
    }
    Ok(a)
}

fn main() -> Res<()> {
    let args = args()?;
    if let Some(path) = &args.read {
        return measure(path);
    }
    let out = args.out.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../target/slack-export-{}.zip", args.messages))
    });
    let started = Instant::now();
    let written = generate(&args, &out)?;
    println!("wrote {} ({written} messages) in {:.1} s", out.display(), started.elapsed().as_secs_f64());
    if args.measure {
        measure(&out)?;
    }
    Ok(())
}

/// Reads every conversation of the export, converting markup, and prints the rate.
fn measure(path: &Path) -> Res<()> {
    let started = Instant::now();
    let export = Export::open(path)?;
    let names: HashMap<SlackUserId, String> =
        export.users().iter().map(|u| (u.id.clone(), u.name.clone())).collect();
    let resolve = |id: &SlackUserId| names.get(id).cloned();
    let (mut messages, mut other, mut bytes) = (0u64, 0u64, 0u64);
    let mut report = export.report().clone();
    for conversation in export.conversations() {
        let history = match export.messages(conversation, &resolve) {
            Ok(history) => history,
            Err(e) => {
                println!("skipped {}: {e}", conversation.name);
                continue;
            }
        };
        let mut history = history;
        for entry in history.by_ref() {
            match entry {
                Entry::Message(m) => {
                    messages += 1;
                    bytes += m.text.len() as u64;
                }
                Entry::Membership(_) => other += 1,
            }
        }
        report.merge(history.report());
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "read+convert: {messages} messages (+{other} membership events, {:.1} MB of text) in {secs:.2} s = {:.0} messages/s (one thread)",
        bytes as f64 / 1e6,
        messages as f64 / secs
    );
    print!("{report}");
    Ok(())
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SSZ`.
fn parse_iso(s: &str) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    Some(days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + sec)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// The first free microsecond at or after `us` in conversation `ci`: `ts` are unique
/// per conversation.
fn claim(used: &mut std::collections::HashSet<(usize, i64)>, ci: usize, mut us: i64) -> i64 {
    while !used.insert((ci, us)) {
        us += 1;
    }
    us
}

fn ts_of(us: i64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn public_name(i: usize) -> String {
    if i == 0 { "c00-general".to_owned() } else { format!("c{i:02}-topic") }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

struct Conv {
    id: String,
    name: String,
    kind: usize, // 0 public, 1 private, 2 mpim, 3 dm
    members: Vec<usize>,
    archived: bool,
    /// (micros, message) — sorted before writing.
    messages: Vec<(i64, Value)>,
}

impl Conv {
    fn new(id: String, name: String, kind: usize, archived: bool) -> Self {
        Conv { id, name, kind, members: Vec::new(), archived, messages: Vec::new() }
    }
}

const REACTIONS: [&str; 10] =
    ["+1", "joy", "heart", "tada", "eyes", "100", "fire", "pray", "+1::skin-tone-3", "partyparrot"];
const SHORTCODES: [&str; 5] = [":tada:", ":+1:", ":joy:", ":rocket:", ":partyparrot:"];
const ROUND_SHIFT_SECS: i64 = 240 * 86_400;

fn generate(args: &Args, out: &Path) -> Res<usize> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(File::open(&args.corpus)?).read_to_end(&mut json)?;
    let corpus: BTreeMap<String, CorpusConversation> = serde_json::from_slice(&json)?;
    drop(json);
    let mut senders: HashMap<&str, usize> = HashMap::new();
    let mut dialogues: Vec<Vec<(usize, i64, &str)>> = Vec::new();
    for conv in corpus.values() {
        let mut d = Vec::new();
        for m in conv.messages.iter().flatten() {
            let Some(at) = parse_iso(&m.timestamp) else { continue };
            let next = senders.len();
            let s = *senders.entry(m.sender.as_str()).or_insert(next);
            d.push((s, at, m.text.as_str()));
        }
        if !d.is_empty() {
            dialogues.push(d);
        }
    }
    let n_users = senders.len();
    let mut rng = Rng::new(args.seed);
    let uid = |i: usize| format!("U{i:07}");
    let handle = |i: usize| format!("user{i}");

    // Conversations: 40 public, 8 private, DMs and mpims made on demand.
    let mut convs: Vec<Conv> = Vec::new();
    for i in 0..40 {
        convs.push(Conv::new(format!("C{i:08}"), public_name(i), 0, i % 10 == 9));
    }
    for i in 0..8 {
        convs.push(Conv::new(format!("G{i:08}"), format!("g{i}-private"), 1, false));
    }
    let mut dms: HashMap<(usize, usize), usize> = HashMap::new();
    let mut mpims: HashMap<Vec<usize>, usize> = HashMap::new();
    let mut joined: std::collections::HashSet<(usize, usize)> = std::collections::HashSet::new();

    let mut written = 0usize;
    let mut micro = 0i64;
    let mut used: std::collections::HashSet<(usize, i64)> = std::collections::HashSet::new();
    let mut round = 0usize;
    'rounds: loop {
        for dialogue in &dialogues {
            let remap = |s: usize| (s + round * 331) % n_users;
            let a = remap(dialogue[0].0);
            let b = dialogue.iter().map(|m| remap(m.0)).find(|&s| s != a).unwrap_or((a + 1) % n_users);
            let draw = rng.unit();
            let ci = if draw < 0.70 {
                rng.zipf(40, 1.0)
            } else if draw < 0.80 {
                40 + rng.below(8)
            } else if draw < 0.95 {
                let pair = (a.min(b), a.max(b));
                *dms.entry(pair).or_insert_with(|| {
                    let mut c = Conv::new(format!("D{:08}", convs.len()), String::new(), 3, false);
                    c.members = vec![pair.0, pair.1];
                    convs.push(c);
                    convs.len() - 1
                })
            } else {
                let mut members = vec![a, b, rng.below(n_users)];
                members.sort_unstable();
                members.dedup();
                *mpims.entry(members.clone()).or_insert_with(|| {
                    let name = format!(
                        "mpdm-{}-1",
                        members.iter().map(|&m| handle(m)).collect::<Vec<_>>().join("--")
                    );
                    let mut c = Conv::new(format!("G{:08}", convs.len()), name, 2, false);
                    c.members = members.clone();
                    convs.push(c);
                    convs.len() - 1
                })
            };
            let kind = convs[ci].kind;
            let mut thread: Option<(String, usize, usize)> = None; // root ts, root user, replies left
            for &(sender, at, text) in dialogue {
                let user = remap(sender);
                let other = if user == a { b } else { a };
                let secs = at + round as i64 * ROUND_SHIFT_SECS;
                micro += 1;
                let c = &mut convs[ci];
                if kind <= 1 && joined.insert((ci, user)) {
                    if !c.members.contains(&user) {
                        c.members.push(user);
                    }
                    let subtype = if kind == 0 { "channel_join" } else { "group_join" };
                    let jus = claim(&mut used, ci, secs * 1_000_000 + micro % 1_000_000);
                    c.messages.push((
                        jus,
                        json!({"type": "message", "subtype": subtype, "user": uid(user),
                               "text": format!("<@{}> has joined the channel", uid(user)), "ts": ts_of(jus)}),
                    ));
                }
                let us = claim(&mut used, ci, secs * 1_000_000 + micro % 1_000_000);
                let ts = ts_of(us);

                let mut t = escape(text);
                if rng.chance(0.03) {
                    t = if rng.chance(0.33) {
                        format!("<@{}|{}> {t}", uid(other), handle(other))
                    } else {
                        format!("<@{}> {t}", uid(other))
                    };
                }
                if rng.chance(0.01) {
                    let k = rng.below(40);
                    t.push_str(&format!(" see <#C{k:08}|{}>", public_name(k)));
                }
                if rng.chance(0.01) {
                    let n = rng.below(1000);
                    if rng.chance(0.5) {
                        t.push_str(&format!(" <https://example.com/doc/{n}?a=1&amp;b=2|doc {n}>"));
                    } else {
                        t.push_str(&format!(" <https://example.com/page/{n}>"));
                    }
                }
                if rng.chance(0.005) {
                    t = format!("{} {t}", ["<!here>", "<!channel>", "<!everyone>"][rng.below(3)]);
                }
                if rng.chance(0.01) {
                    t.push(' ');
                    t.push_str(SHORTCODES[rng.below(SHORTCODES.len())]);
                }

                let mut m = json!({"type": "message", "user": uid(user), "text": t, "ts": ts,
                                   "client_msg_id": format!("{:08x}-gen", micro), "team": "T0GENERATED"});
                let o = m.as_object_mut().ok_or("not an object")?;
                if rng.chance(0.002) {
                    o.insert(
                        "subtype".into(),
                        json!(if rng.chance(0.5) { "pinned_item" } else { "channel_topic" }),
                    );
                } else if rng.chance(0.005) {
                    o.insert("subtype".into(), json!("me_message"));
                } else if rng.chance(0.01) {
                    let n = micro;
                    let (name, mime, size) = if rng.chance(0.5) {
                        (format!("notes-{n}.pdf"), "application/pdf", 20_000 + rng.below(500_000))
                    } else {
                        (format!("photo-{n}.png"), "image/png", 50_000 + rng.below(2_000_000))
                    };
                    o.insert("subtype".into(), json!("file_share"));
                    o.insert("files".into(), json!([{
                        "id": format!("F{n:09}"), "name": name, "title": name, "mimetype": mime, "size": size,
                        "url_private": format!("https://files.slack.com/files-pri/T0GENERATED-F{n:09}/{name}"),
                        "permalink": format!("https://generated.slack.com/files/{}/F{n:09}/{name}", uid(user)),
                    }]));
                }
                match &mut thread {
                    Some((root_ts, root_user, left)) if *left > 0 => {
                        o.insert("thread_ts".into(), json!(root_ts));
                        o.insert("parent_user_id".into(), json!(uid(*root_user)));
                        if rng.chance(0.1) && !o.contains_key("subtype") {
                            o.insert("subtype".into(), json!("thread_broadcast"));
                        }
                        *left -= 1;
                    }
                    _ if rng.chance(0.06) => {
                        o.insert("thread_ts".into(), json!(ts));
                        thread = Some((ts.clone(), user, 1 + rng.below(3)));
                    }
                    _ => thread = None,
                }
                if rng.chance(0.04) {
                    o.insert(
                        "edited".into(),
                        json!({"user": uid(user), "ts": format!("{}.000000", secs + 60)}),
                    );
                }
                if rng.chance(0.12) {
                    let mut reactions = Vec::new();
                    for _ in 0..1 + rng.below(3) {
                        let name = REACTIONS[rng.zipf(REACTIONS.len(), 1.2)];
                        if reactions.iter().any(|r: &Value| r["name"] == name) {
                            continue;
                        }
                        let mut users = vec![uid(other)];
                        for _ in 0..rng.below(4) {
                            let u = uid(rng.below(n_users));
                            if !users.contains(&u) {
                                users.push(u);
                            }
                        }
                        reactions.push(json!({"name": name, "users": users, "count": users.len()}));
                    }
                    o.insert("reactions".into(), Value::Array(reactions));
                }
                c.messages.push((us, m));
                written += 1;
                if rng.chance(0.01) {
                    let bus = claim(&mut used, ci, us + 500);
                    let bts = ts_of(bus);
                    let n = rng.below(10_000);
                    let bot = if rng.chance(0.5) {
                        json!({"type": "message", "subtype": "bot_message", "bot_id": "B0DEPLOY",
                               "username": "deploybot", "ts": bts,
                               "text": format!("Deployed build {n} to <https://ci.example.com/{n}|prod>")})
                    } else {
                        json!({"type": "message", "subtype": "bot_message", "bot_id": "B0DEPLOY", "ts": bts,
                               "text": "", "attachments": [{"fallback": format!("Build {n} passed"), "color": "good"}]})
                    };
                    c.messages.push((bus, bot));
                    written += 1;
                }
                if written >= args.messages {
                    break 'rounds;
                }
            }
            // The last speaker leaves now and then (and joins again on their next post).
            let last = remap(dialogue[dialogue.len() - 1].0);
            if convs[ci].kind <= 1 && rng.chance(0.05) && joined.remove(&(ci, last)) {
                let end = dialogue[dialogue.len() - 1].1 + round as i64 * ROUND_SHIFT_SECS + 1;
                let lus = claim(&mut used, ci, end * 1_000_000);
                let subtype = if convs[ci].kind == 0 { "channel_leave" } else { "group_leave" };
                convs[ci].messages.push((
                    lus,
                    json!({"type": "message", "subtype": subtype, "user": uid(last),
                           "text": format!("<@{}> has left the channel", uid(last)), "ts": ts_of(lus)}),
                ));
            }
        }
        round += 1;
    }

    // The archive.
    let mut zip = zip::ZipWriter::new(BufWriter::new(File::create(out)?));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let put = |zip: &mut zip::ZipWriter<BufWriter<File>>, name: &str, value: &Value| -> Res<()> {
        zip.start_file(name, options)?;
        serde_json::to_writer(&mut *zip, value)?;
        Ok(())
    };
    let mut users: Vec<Value> = (0..n_users)
        .map(|i| {
            json!({"id": uid(i), "team_id": "T0GENERATED", "name": handle(i), "deleted": i % 50 == 49,
                   "real_name": format!("User {i}"), "is_bot": false, "is_app_user": false,
                   "profile": {"email": format!("{}@example.com", handle(i)), "display_name": handle(i),
                               "real_name": format!("User {i}")}})
        })
        .collect();
    users.push(json!({"id": "U0DEPLOYBOT", "name": "deploybot", "is_bot": true,
                      "profile": {"bot_id": "B0DEPLOY", "real_name": "Deploy Bot"}}));
    users.push(
        json!({"id": "USLACKBOT", "name": "slackbot", "is_bot": false, "profile": {"real_name": "Slackbot"}}),
    );
    put(&mut zip, "users.json", &Value::Array(users))?;
    let directory = |kind: usize| -> Value {
        Value::Array(
            convs
                .iter()
                .filter(|c| c.kind == kind)
                .map(|c| {
                    let mut v = json!({"id": c.id, "created": 1_500_000_000, "members":
                                       c.members.iter().map(|&m| uid(m)).collect::<Vec<_>>()});
                    if kind != 3 {
                        v["name"] = json!(c.name);
                        v["creator"] = json!(uid(c.members.first().copied().unwrap_or(0)));
                        v["is_archived"] = json!(c.archived);
                        v["is_general"] = json!(c.name == "c00-general");
                        v["topic"] =
                            json!({"value": format!("About {}", c.name), "creator": "", "last_set": 0});
                        v["purpose"] = json!({"value": "", "creator": "", "last_set": 0});
                    }
                    v
                })
                .collect(),
        )
    };
    put(&mut zip, "channels.json", &directory(0))?;
    put(&mut zip, "groups.json", &directory(1))?;
    put(&mut zip, "mpims.json", &directory(2))?;
    put(&mut zip, "dms.json", &directory(3))?;
    put(
        &mut zip,
        "integration_logs.json",
        &json!({"logs": [{"user_id": uid(0), "user_name": handle(0), "date": "1500000000",
                          "change_type": "added", "app_type": "deploybot", "service_id": "B0DEPLOY"}]}),
    )?;
    for c in &mut convs {
        c.messages.sort_by_key(|(us, _)| *us);
        let folder = if c.kind == 3 { c.id.clone() } else { c.name.clone() };
        let mut day: Vec<&Value> = Vec::new();
        let mut current = i64::MIN;
        for (us, m) in &c.messages {
            let d = (us / 1_000_000).div_euclid(86_400);
            if d != current && !day.is_empty() {
                let (y, mo, da) = civil_from_days(current);
                zip.start_file(format!("{folder}/{y:04}-{mo:02}-{da:02}.json"), options)?;
                serde_json::to_writer(&mut zip, &day)?;
                day.clear();
            }
            current = d;
            day.push(m);
        }
        if !day.is_empty() {
            let (y, mo, da) = civil_from_days(current);
            zip.start_file(format!("{folder}/{y:04}-{mo:02}-{da:02}.json"), options)?;
            serde_json::to_writer(&mut zip, &day)?;
        }
    }
    zip.finish()?.flush()?;
    Ok(written)
}
