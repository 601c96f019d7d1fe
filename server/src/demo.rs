//! `confab demo`: a server on a fresh data dir, seeded from a slice of the real chat
//! corpus (`corpus/demo-slice.json`, embedded), so a newcomer sees chat, search,
//! suggestions and the consent page at work within a minute.
//!
//! What it seeds, deterministically (seed 7):
//! - two workspaces: **Acme** (six members) and **Globex** (three members), each
//!   with a few public channels, one private channel and a DM;
//! - the corpus's conversations replayed into channels, each corpus sender mapped to a
//!   member of that workspace;
//! - reactions from a small documented model ([`MOODS`]): a message with a word of a
//!   list (thanks → 🙏, haha/lol → 😂, movie → 🎬, pizza → 🍕, trip → ✈️, song → 🎵,
//!   dog → 🐶, game → 🎮, love → ❤️, great/awesome/cool/nice → 👍) gets that emoji
//!   from one to three other members with probability 0.8;
//! - a few searches with a click on the top result;
//! - Acme's owner grants `emoji_suggestions` (workspace scope, members opt-out) after
//!   reading the policy, and a training run builds Acme's emoji model (served if it
//!   beats the default on held-out data); Globex grants nothing.

use std::collections::BTreeMap;

use anyhow::Context;
use confab_app::{App, Caller, CreateChannel, CreateInvite, PostMessage, SignupRequest};
use confab_core::{ChannelId, WorkspaceId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::Config;

const SLICE: &[u8] = include_bytes!("../../corpus/demo-slice.json");
pub const PASSWORD: &str = "confab-demo";

/// Words the reaction model plants an emoji for, checked in order.
const MOODS: &[(&[&str], &str)] = &[
    (&["thanks", "thank"], "🙏"),
    (&["haha", "lol", "funny", "hilarious"], "😂"),
    (&["movie", "movies", "film", "netflix"], "🎬"),
    (&["food", "pizza", "eat", "eating", "dinner", "cook"], "🍕"),
    (&["travel", "trip", "vacation", "beach"], "✈️"),
    (&["music", "song", "songs", "band", "concert"], "🎵"),
    (&["dog", "dogs", "cat", "cats", "pet"], "🐶"),
    (&["game", "games", "play", "playing"], "🎮"),
    (&["love"], "❤️"),
    (&["great", "awesome", "cool", "nice"], "👍"),
];

struct Team {
    name: &'static str,
    members: &'static [&'static str],
    channels: &'static [&'static str],
}

const TEAMS: [Team; 2] = [
    Team {
        name: "Acme",
        members: &["alice", "bob", "carol", "dave", "erin", "frank"],
        channels: &["general", "random", "travel", "food", "movies"],
    },
    Team { name: "Globex", members: &["grace", "heidi", "ivan"], channels: &["general", "random", "music"] },
];

/// Seeds the app and returns the lines to print for the newcomer.
pub async fn seed(app: &App) -> anyhow::Result<Vec<String>> {
    let corpus = confab_test_support::corpus::parse_corpus(SLICE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rng = StdRng::seed_from_u64(7);
    let mut lines = vec![format!("Every demo account's password is {PASSWORD:?}.")];
    let mut conversations = corpus.iter();
    for (team_index, team) in TEAMS.iter().enumerate() {
        let mut callers = Vec::new();
        for name in team.members {
            let out = app
                .signup(SignupRequest {
                    email: format!("{name}@example.com"),
                    password: PASSWORD.into(),
                    display_name: capitalise(name),
                    username: Some((*name).into()),
                    invite: None,
                })
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            callers.push(Caller { user: out.user.id, instance_admin: out.user.instance_admin });
        }
        let owner = callers[0];
        let ws =
            app.create_workspace(owner, team.name).await.map_err(|e| anyhow::anyhow!("{e}"))?.workspace.id;
        let invite = app
            .create_invite(owner, ws, CreateInvite { max_uses: Some(100), ..Default::default() })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for caller in &callers[1..] {
            app.accept_invite(*caller, &invite.code).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let mut channels: Vec<ChannelId> = Vec::new();
        for (i, name) in team.channels.iter().enumerate() {
            let id = if *name == "general" {
                app.list_channels(owner, ws)
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .into_iter()
                    .find(|c| c.channel.name == "general")
                    .context("#general")?
                    .channel
                    .id
            } else {
                let creator = callers[i % callers.len()];
                let channel = app
                    .create_channel(
                        creator,
                        ws,
                        CreateChannel { name: (*name).into(), private: false, topic: String::new() },
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                channel.id
            };
            // Most members join most channels: leave some out for suggestions to fill.
            for (j, caller) in callers.iter().enumerate() {
                if (i + j) % 3 != 2 {
                    app.join_channel(*caller, id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                }
            }
            channels.push(id);
        }
        let private = app
            .create_channel(
                owner,
                ws,
                CreateChannel { name: "leadership".into(), private: true, topic: "Owners only".into() },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        channels.push(private.id);
        let dm = app.open_dm(owner, ws, &[callers[1].user]).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        channels.push(dm.id);
        // Replay conversations: Acme gets two thirds of the slice, Globex the rest.
        let share = if team_index == 0 { corpus.len() * 2 / 3 } else { corpus.len() };
        let mut posted = 0usize;
        for conversation in conversations.by_ref().take(share) {
            let channel = channels[rng.random_range(0..channels.len())];
            let members = channel_members(app, owner, channel, &callers)?;
            let mut speakers: BTreeMap<&str, Caller> = BTreeMap::new();
            for message in &conversation.messages {
                let next = members[rng.random_range(0..members.len())];
                let speaker = *speakers.entry(&message.sender).or_insert(next);
                let text: String = message.text.chars().take(2000).collect();
                if text.trim().is_empty() {
                    continue;
                }
                let post = PostMessage { text, thread_root: None, client_msg_id: None };
                let Ok(posted_message) = app.post_message(speaker, channel, post).await else { continue };
                posted += 1;
                plant_reactions(app, &mut rng, &members, speaker, &posted_message).await;
            }
        }
        // A few searches with a click on the top hit: the signal search ranking learns from.
        for (q, who) in [("movie", 1), ("travel", 2), ("pizza", 3), ("weekend", 0)] {
            let searcher = callers[who % callers.len()];
            let params =
                confab_app::search::SearchParams { q: q.into(), limit: Some(5), offset: None, sort: None };
            if let Ok(answer) = app.search(searcher, ws, params)
                && let Some(top) = answer.hits.first()
            {
                let click = confab_app::search::SearchClick {
                    query_id: answer.query_id.clone(),
                    message: top.message.id,
                };
                let _ = app.search_click(searcher, ws, click).await;
            }
        }
        if team_index == 0 {
            grant_emoji_suggestions(app, owner, ws).await?;
            let runs = app
                .run_training(
                    owner.user,
                    &[confab_consent::Purpose::EmojiSuggestions],
                    false,
                    confab_training::NoiseSource::Os,
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for model in runs.iter().flat_map(|r| &r.models) {
                lines.push(format!(
                    "trained model {} for {}: {} (held-out {} {:.3} vs default {:.3})",
                    model.id,
                    team.name,
                    if model.servable { "served" } else { "not served: it does not beat the default" },
                    model.evaluation.metric,
                    model.evaluation.trained,
                    model.evaluation.default,
                ));
            }
        }
        lines.push(format!(
            "{}: {} messages; sign in as {} (owner) or {}; {}",
            team.name,
            posted,
            format_args!("{}@example.com", team.members[0]),
            team.members[1..].iter().map(|m| format!("{m}@example.com")).collect::<Vec<_>>().join(", "),
            if team_index == 0 { "opted in to emoji_suggestions" } else { "no consent given" }
        ));
    }
    Ok(lines)
}

fn channel_members(
    app: &App,
    owner: Caller,
    channel: ChannelId,
    callers: &[Caller],
) -> anyhow::Result<Vec<Caller>> {
    let _ = app.channel(owner, channel).map_err(|e| anyhow::anyhow!("{e}"))?;
    let members: Vec<Caller> = callers.iter().copied().filter(|c| app.channel(*c, channel).is_ok()).collect();
    Ok(if members.is_empty() { vec![owner] } else { members })
}

async fn plant_reactions(
    app: &App,
    rng: &mut StdRng,
    members: &[Caller],
    author: Caller,
    message: &confab_core::Message,
) {
    let lower = message.text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).collect();
    let emoji =
        MOODS.iter().find(|(triggers, _)| triggers.iter().any(|t| words.contains(t))).map(|(_, e)| *e);
    let Some(emoji) = emoji else { return };
    if !rng.random_bool(0.8) {
        return;
    }
    let others: Vec<Caller> = members.iter().copied().filter(|m| m.user != author.user).collect();
    let count = rng.random_range(1..=3).min(others.len());
    for reactor in others.iter().take(count) {
        let _ = app.add_reaction(*reactor, message.id, emoji).await;
    }
}

async fn grant_emoji_suggestions(app: &App, owner: Caller, ws: WorkspaceId) -> anyhow::Result<()> {
    let policy = confab_consent::current_policy(confab_consent::Purpose::EmojiSuggestions);
    let request = confab_app::consent::ConsentChangeRequest {
        granted: true,
        scope: Some(confab_consent::Scope::Workspace),
        categories: Some(vec![confab_consent::Category::Messages, confab_consent::Category::Reactions]),
        members: Some(confab_consent::MemberMode::OptOut),
        policy_version: Some(policy.version),
        policy_sha256: Some(policy.sha256),
        accept: Some(true),
    };
    app.change_consent(owner, ws, "emoji_suggestions", request).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

fn capitalise(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Runs the demo: seeds a fresh data dir, prints how to sign in, and serves.
pub async fn run(mut config: Config) -> anyhow::Result<()> {
    if config.server.data_dir.join("store").exists() {
        anyhow::bail!(
            "{} already holds data; give `confab demo` a fresh --data-dir",
            config.server.data_dir.display()
        );
    }
    // The demo posts thousands of messages as a handful of people in seconds.
    config.app.limits.messages_per_second = 1_000_000;
    config.app.limits.message_burst = 1_000_000;
    // A small team: let a word into the emoji model once three members wrote it.
    config.app.training.min_users_per_word = config.app.training.min_users_per_word.min(3);
    let (app, store) = crate::open_app(&config).await?;
    let started = std::time::Instant::now();
    let lines = seed(&app).await?;
    println!(
        "Confab demo seeded in {:.1} s into {}",
        started.elapsed().as_secs_f64(),
        config.server.data_dir.display()
    );
    for line in lines {
        println!("  {line}");
    }
    println!("Open http://{} and sign in.", config.server.listen);
    crate::serve_app(config, app, store).await
}
