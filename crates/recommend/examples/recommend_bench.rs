//! Latency of suggestions and updates on a large synthetic workspace: 10,000 members,
//! 2,000 channels (plus DMs), built by a seeded generator.
//!
//! `cargo run --release -p confab-recommend --example recommend_bench`
//! Options: `--seed N`, `--members N`, `--channels N`, `--messages N`, `--queries N`.
//!
//! The generator: members in teams of 50; each team has 8 channels (one private),
//! the rest of the channels are public interest channels joined with Zipf-skewed
//! popularity; everyone is in `general`. Messages go to one of the author's channels
//! or DMs, 10% mention a teammate, 30% reply to one; 30% get a reaction.

use std::time::{Duration, Instant};

use confab_core::{ChannelId, ChannelKind, UserId, WorkspaceId};
use confab_recommend::{
    ChannelInfo, ChannelWeights, EmojiAssociationModel, EmojiQuery, MessageEvent, ReactionEvent, Recommender,
    ScoringWeights, catalogue,
};
use confab_test_support::rng::Rng;

const DAY: i64 = 24 * 60 * 60 * 1000;
const T0: i64 = 1_700_000_000_000;
const WORDS: &[&str] = &[
    "deploy", "party", "lunch", "coffee", "bug", "fixed", "release", "meeting", "review", "pizza",
    "birthday", "thanks", "great", "ship", "tests", "green", "broken", "weekend", "dog", "cat", "launch",
    "rocket", "fire", "love", "happy", "sad", "music", "game", "today", "tomorrow",
];

struct Options {
    seed: u64,
    members: usize,
    channels: usize,
    messages: usize,
    queries: usize,
}

fn parse_options() -> Options {
    let mut o = Options { seed: 42, members: 10_000, channels: 2_000, messages: 300_000, queries: 2_000 };
    let mut args = std::env::args().skip(1);
    while let (Some(flag), Some(value)) = (args.next(), args.next()) {
        let Ok(v) = value.parse::<usize>() else {
            continue;
        };
        match flag.as_str() {
            "--seed" => o.seed = v as u64,
            "--members" => o.members = v,
            "--channels" => o.channels = v,
            "--messages" => o.messages = v,
            "--queries" => o.queries = v,
            _ => eprintln!("ignoring {flag}"),
        }
    }
    o
}

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
        samples.len(),
        us(at(0.0)),
        us(at(0.5)),
        us(at(0.95)),
        us(at(0.99)),
        us(at(1.0))
    );
}

fn main() {
    let o = parse_options();
    let mut rng = Rng::new(o.seed);
    let r = Recommender::default();
    let ws = WorkspaceId::from_bytes(1u128.to_be_bytes());
    let users: Vec<UserId> =
        (0..o.members).map(|i| UserId::from_bytes((0x1_0000 + i as u128).to_be_bytes())).collect();
    let channel_id = |i: usize| ChannelId::from_bytes((0x2_0000 + i as u128).to_be_bytes());
    let team_size = 50;
    let teams = o.members.div_ceil(team_size);
    let team_channels = 8;
    let interest_channels = o.channels.saturating_sub(teams * team_channels + 1).max(1);

    let build = Instant::now();
    let mut join_times = Vec::new();
    // Channels: 0 = general, then per team 8 (the last private), then interests.
    let info = |i: usize, name: String, kind| ChannelInfo {
        id: channel_id(i),
        name,
        kind,
        created_at: T0 - 90 * DAY,
        topic: String::new(),
    };
    r.on_channel(ws, &info(0, "general".into(), ChannelKind::Public));
    for t in 0..teams {
        for k in 0..team_channels {
            let kind = if k == team_channels - 1 { ChannelKind::Private } else { ChannelKind::Public };
            r.on_channel(ws, &info(1 + t * team_channels + k, format!("team{t}-{k}"), kind));
        }
    }
    let first_interest = 1 + teams * team_channels;
    for k in 0..interest_channels {
        r.on_channel(ws, &info(first_interest + k, format!("interest-{k}"), ChannelKind::Public));
    }
    let mut member_channels: Vec<Vec<usize>> = vec![Vec::new(); o.members];
    for (u, &user) in users.iter().enumerate() {
        let team = u / team_size;
        let mut mine = vec![0];
        for k in 0..team_channels {
            if k == 0 || rng.chance(0.5) {
                mine.push(1 + team * team_channels + k);
            }
        }
        for _ in 0..6 {
            mine.push(first_interest + rng.zipf(interest_channels, 0.8));
        }
        mine.sort_unstable();
        mine.dedup();
        for &c in &mine {
            let t = Instant::now();
            r.on_join(ws, channel_id(c), user);
            join_times.push(t.elapsed());
        }
        member_channels[u] = mine;
    }
    // DMs: one per member with a teammate.
    let mut dms: Vec<(usize, usize, usize)> = Vec::new();
    for u in 0..o.members {
        let other = (u / team_size * team_size + rng.below(team_size)).min(o.members - 1);
        if other != u {
            let id = o.channels + dms.len();
            r.on_channel(ws, &info(id, format!("dm-{id}"), ChannelKind::Dm));
            r.on_join(ws, channel_id(id), users[u]);
            r.on_join(ws, channel_id(id), users[other]);
            dms.push((id, u, other));
        }
    }

    let entries = catalogue().entries();
    let popular: Vec<&str> = (0..60).map(|_| entries[rng.below(300)].emoji).collect();
    let mut message_times = Vec::new();
    let mut reaction_times = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    for m in 0..o.messages {
        let at = T0 - 60 * DAY + (m as i64 * 60 * DAY) / o.messages as i64;
        let author = rng.below(o.members);
        let team_start = author / team_size * team_size;
        let teammate = (team_start + rng.below(team_size)).min(o.members - 1);
        let channel = if rng.chance(0.1) && !dms.is_empty() {
            dms[rng.below(dms.len())].0
        } else {
            member_channels[author][rng.below(member_channels[author].len())]
        };
        let words: Vec<&str> = (0..3 + rng.below(8)).map(|_| WORDS[rng.zipf(WORDS.len(), 1.0)]).collect();
        let text = words.join(" ");
        let mentions: Vec<UserId> = if rng.chance(0.1) { vec![users[teammate]] } else { Vec::new() };
        let reply = rng.chance(0.3).then_some(users[teammate]);
        let ev = MessageEvent {
            channel: channel_id(channel),
            author: users[author],
            text: &text,
            at,
            mentions: &mentions,
            reply_to_author: reply,
        };
        let t = Instant::now();
        r.on_message(ws, &ev);
        message_times.push(t.elapsed());
        if rng.chance(0.3) {
            let emoji = popular[rng.zipf(popular.len(), 1.0)];
            let ev = ReactionEvent {
                channel: channel_id(channel),
                message_author: users[author],
                message_text: &text,
                user: users[teammate],
                emoji,
                at: at + 1000,
            };
            let t = Instant::now();
            r.on_reaction(ws, &ev);
            reaction_times.push(t.elapsed());
        }
        if texts.len() < 5_000 {
            texts.push(text);
        }
    }
    let now = T0;
    println!(
        "workspace: {} members, {} channels (+{} DMs), {} messages, {} reactions; built in {:.1} s",
        o.members,
        o.channels,
        dms.len(),
        o.messages,
        reaction_times.len(),
        build.elapsed().as_secs_f64()
    );
    println!();
    println!("| operation | n | min µs | p50 µs | p95 µs | p99 µs | max µs |");
    println!("|---|---:|---:|---:|---:|---:|---:|");

    let model = EmojiAssociationModel::builtin();
    let weights = ScoringWeights::default();
    let codes: Vec<&str> = entries.iter().filter_map(|e| e.shortcodes.first().copied()).collect();
    let mut prefix_times = Vec::new();
    let mut text_times = Vec::new();
    let mut channel_times = Vec::new();
    for _ in 0..o.queries {
        let user = users[rng.below(o.members)];
        let code = codes[rng.below(codes.len())];
        let prefix: String = code.chars().take(1 + rng.below(3)).collect();
        let q = EmojiQuery { user, prefix: Some(&prefix), text: None, limit: 10, now };
        let t = Instant::now();
        let answer = r.suggest_emoji(ws, &q, model, &weights);
        prefix_times.push(t.elapsed());
        assert!(!answer.is_empty(), "{prefix}");

        let text = &texts[rng.below(texts.len())];
        let q = EmojiQuery { user, prefix: None, text: Some(text), limit: 10, now };
        let t = Instant::now();
        let answer = r.suggest_emoji(ws, &q, model, &weights);
        text_times.push(t.elapsed());
        assert!(!answer.is_empty());

        let t = Instant::now();
        let answer = r.suggest_channels(ws, user, 10, now, &ChannelWeights::default());
        channel_times.push(t.elapsed());
        assert!(!answer.is_empty());
    }
    percentiles("emoji: `:` prefix (1–3 letters)", prefix_times);
    percentiles("emoji: reaction picker with text", text_times);
    percentiles("channel suggestions", channel_times);
    percentiles("update: on_join", join_times);
    percentiles("update: on_message", message_times);
    percentiles("update: on_reaction", reaction_times);

    let t = Instant::now();
    let exported = r.export(ws).unwrap_or_default();
    let export_time = t.elapsed();
    let t = Instant::now();
    let restored = Recommender::default();
    let imported = restored.import(ws, &exported).is_ok();
    println!();
    println!(
        "export: {:.1} MB in {:.0} ms; import ({}): {:.0} ms",
        exported.len() as f64 / 1e6,
        export_time.as_secs_f64() * 1e3,
        if imported { "ok" } else { "FAILED" },
        t.elapsed().as_secs_f64() * 1e3
    );
}
