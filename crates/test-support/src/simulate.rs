//! A seeded simulator for offline evaluation: workspaces built from the real chat
//! corpus (its text, senders and timestamps) with planted preferences, a time-wise
//! train/held-out split, and hit@k / MRR against baselines.
//!
//! The `recommend_eval` example is its command line; a training crate can reuse the
//! same workspaces to check that a trained model beats the defaults.
//!
//! # Planted model (everything drawn from one seeded generator)
//!
//! * **Workspaces**: the corpus's conversations, shuffled, dealt round-robin into
//!   `workspaces` workspaces. Members are the real senders (the same sender has the
//!   same id in every workspace they appear in).
//! * **Teams**: senders are grouped by who talks to whom: walking conversations in time
//!   order, a sender without a team takes their partner's team, two newcomers start in
//!   the smallest team. About 25 members per team.
//! * **Channels**: `general` for all; per team three public channels (`tN-general`,
//!   `tN-dev`, `tN-social`) and one private (`tN-leads`); twelve public interest
//!   channels, each team preferring one of them. DMs are opened on demand.
//! * **Joins**: at their first message a member joins `general` and `tN-general`, each
//!   other team channel with probability 0.4 (else later, with probability 0.6), the
//!   private one with 0.3, their team's interest channel with 0.3 (else later with
//!   0.5) and any other interest channel with 0.1 (else later with 0.05, noise). A
//!   "later" join happens at a uniform time between first message and the corpus end.
//! * **Messages**: a same-team conversation goes to a team channel both are in, a
//!   cross-team one to an interest channel both are in or else to their DM; a one-person
//!   conversation to their team's general channel. 5% of messages mention the
//!   partner; 30% reply to them.
//! * **Reactions**: 30% of messages get one, from the conversation partner (or a
//!   teammate). The emoji is: the planted emoji of a trigger word in the text with
//!   probability 0.6 if there is one; else one of the reactor's two favourites (70/30)
//!   with probability 0.5; else a Zipf(1.0) draw from a 40-emoji workspace pool.
//!   Favourites are uniform draws from the pool. 15% of members use one skin tone on
//!   every emoji that takes one.
//! * **Trigger words**: 25 corpus words that the catalogue names (e.g. `dog` → 🐕,
//!   mapped to the built-in model's top emoji for them) and 25 frequent corpus words
//!   mapped to random pool emoji (jargon only the workspace's history can teach).
//!
//! [`crate::evaluate`] scores the suggestions on these workspaces.

use std::collections::HashMap;
use std::sync::Arc;

use confab_core::{ChannelId, ChannelKind, Millis, UserId, WorkspaceId};
use confab_recommend::catalogue::{EmojiId, catalogue};
use confab_recommend::{ChannelInfo, EmojiAssociationModel, MessageEvent, ReactionEvent, Recommender, text};

use crate::corpus::{Conversation, CorpusMessage};
use crate::rng::{Rng, splitmix};

const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// Simulator settings.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub workspaces: usize,
    /// Share of message time before the split (0.8 = 80% train).
    pub train_share: f64,
    pub reaction_rate: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig { seed: 7, workspaces: 4, train_share: 0.8, reaction_rate: 0.3 }
    }
}

/// One simulated event, in the vocabulary of the [`Recommender`] hooks.
#[derive(Clone, Debug)]
pub enum SimEvent {
    Channel(ChannelInfo),
    Join {
        channel: ChannelId,
        user: UserId,
    },
    Message {
        channel: ChannelId,
        author: UserId,
        text: Arc<str>,
        mentions: Vec<UserId>,
        reply_to_author: Option<UserId>,
    },
    Reaction {
        channel: ChannelId,
        message_author: UserId,
        message_text: Arc<str>,
        user: UserId,
        emoji: &'static str,
    },
}

#[derive(Clone, Debug)]
pub struct TimedEvent {
    pub at: Millis,
    pub event: SimEvent,
}

/// A simulated workspace: its events in time order and the split.
#[derive(Clone, Debug)]
pub struct SimWorkspace {
    pub id: WorkspaceId,
    pub events: Vec<TimedEvent>,
    pub split_at: Millis,
    pub channels: HashMap<ChannelId, ChannelInfo>,
    pub members: usize,
}

impl SimWorkspace {
    /// Feeds every event before `until` to the recommender.
    pub fn replay(&self, r: &Recommender, until: Millis) {
        for e in self.events.iter().take_while(|e| e.at < until) {
            apply(r, self.id, e);
        }
    }
}

/// Feeds one event.
pub fn apply(r: &Recommender, ws: WorkspaceId, e: &TimedEvent) {
    match &e.event {
        SimEvent::Channel(info) => r.on_channel(ws, info),
        SimEvent::Join { channel, user } => r.on_join(ws, *channel, *user),
        SimEvent::Message { channel, author, text, mentions, reply_to_author } => r.on_message(
            ws,
            &MessageEvent {
                channel: *channel,
                author: *author,
                text,
                at: e.at,
                mentions,
                reply_to_author: *reply_to_author,
            },
        ),
        SimEvent::Reaction { channel, message_author, message_text, user, emoji } => r.on_reaction(
            ws,
            &ReactionEvent {
                channel: *channel,
                message_author: *message_author,
                message_text,
                user: *user,
                emoji,
                at: e.at,
            },
        ),
    }
}

fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// The same sender has the same id in every workspace.
fn sender_id(sender: &str) -> UserId {
    let h = hash_str(sender);
    UserId::from_bytes(((splitmix(h) as u128) << 64 | splitmix(h ^ 1) as u128).to_be_bytes())
}

const INTERESTS: [&str; 12] = [
    "music", "movies", "sports", "food", "travel", "games", "books", "pets", "school", "jobs", "tech",
    "random",
];

/// Planted word → emoji, shared by all workspaces of a run.
fn plant_triggers(corpus: &[Conversation], pool: &[EmojiId], rng: &mut Rng) -> HashMap<String, EmojiId> {
    let cat = catalogue();
    let mut df: HashMap<String, usize> = HashMap::new();
    let mut total = 0usize;
    for m in corpus.iter().flat_map(|c| &c.messages) {
        total += 1;
        for t in text::tokenize(&m.text) {
            *df.entry(t).or_default() += 1;
        }
    }
    // Words in 0.05%..3% of messages: common enough to recur, rare enough to mean something.
    let mut band: Vec<(String, usize)> = df
        .into_iter()
        .filter(|(w, n)| *n * 2000 >= total && *n * 33 <= total && w.chars().all(|c| c.is_ascii_lowercase()))
        .collect();
    band.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let builtin = EmojiAssociationModel::builtin();
    let mut triggers = HashMap::new();
    for (word, _) in &band {
        if triggers.len() >= 25 {
            break;
        }
        if let Some(list) = builtin.weights.get(word) {
            let best = list.iter().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            if let Some(id) = best.and_then(|(e, _)| cat.id_of(e)) {
                triggers.insert(word.clone(), cat.base_of(id));
            }
        }
    }
    let mut jargon: Vec<&String> =
        band.iter().take(300).map(|(w, _)| w).filter(|w| !triggers.contains_key(*w)).collect();
    rng.shuffle(&mut jargon);
    for word in jargon.into_iter().take(25) {
        triggers.insert(word.clone(), pool[rng.below(pool.len())]);
    }
    triggers
}

struct Member {
    id: UserId,
    team: usize,
    first_seen: Millis,
    favourites: [EmojiId; 2],
    tone: Option<emojis::SkinTone>,
}

/// Builds the simulated workspaces (see the module doc for the planted model).
pub fn simulate(corpus: &[Conversation], config: &SimConfig) -> Vec<SimWorkspace> {
    let cat = catalogue();
    let mut rng = Rng::new(config.seed);
    let pool_groups = [
        emojis::Group::SmileysAndEmotion,
        emojis::Group::PeopleAndBody,
        emojis::Group::AnimalsAndNature,
        emojis::Group::FoodAndDrink,
        emojis::Group::Activities,
        emojis::Group::Symbols,
    ];
    let eligible: Vec<EmojiId> = cat
        .entries()
        .iter()
        .filter(|e| pool_groups.contains(&e.group) && !e.shortcodes.is_empty())
        .map(|e| e.id)
        .collect();
    let mut order: Vec<usize> = (0..corpus.len()).collect();
    rng.shuffle(&mut order);
    let mut pool_rng = rng.clone();
    let shared_pool: Vec<EmojiId> = (0..40).map(|_| eligible[pool_rng.below(eligible.len())]).collect();
    let triggers = plant_triggers(corpus, &shared_pool, &mut rng);
    let end = corpus.iter().flat_map(|c| &c.messages).map(|m| m.at).max().unwrap_or(0);

    (0..config.workspaces.max(1))
        .map(|w| {
            let convs: Vec<&Conversation> =
                order.iter().skip(w).step_by(config.workspaces.max(1)).map(|&i| &corpus[i]).collect();
            // Each workspace ranks the shared pool in its own order of popularity.
            let mut pool = shared_pool.clone();
            rng.shuffle(&mut pool);
            build_workspace(w, &convs, &pool, &triggers, end, config, &mut rng)
        })
        .collect()
}

fn build_workspace(
    index: usize,
    convs: &[&Conversation],
    pool: &[EmojiId],
    triggers: &HashMap<String, EmojiId>,
    end: Millis,
    config: &SimConfig,
    rng: &mut Rng,
) -> SimWorkspace {
    let ws = WorkspaceId::from_bytes(((config.seed as u128) << 64 | (index as u128 + 1)).to_be_bytes());
    let mut convs = convs.to_vec();
    convs.sort_by_key(|c| (c.messages[0].at, c.id.clone()));
    let start = convs.first().map_or(0, |c| c.messages[0].at) - DAY_MS;
    let cast = Cast::of(&convs, pool, rng);
    let mut timeline = Timeline { index, events: Vec::new(), channels: HashMap::new(), next_channel: 0 };
    let layout = Layout::plant(&cast, start, &mut timeline, rng);
    let joined = plan_joins(&cast, &layout, end, &mut timeline, rng);
    let reactions = Reactions { pool, triggers, rate: config.reaction_rate };
    post_conversations(&convs, &cast, &layout, &joined, &reactions, &mut timeline, rng);

    // Stable: simultaneous events keep their creation order (channel before join).
    let Timeline { mut events, channels, .. } = timeline;
    events.sort_by_key(|e| e.at);
    let mut times: Vec<Millis> =
        events.iter().filter(|e| matches!(e.event, SimEvent::Message { .. })).map(|e| e.at).collect();
    times.sort_unstable();
    let split_at = times.get((times.len() as f64 * config.train_share) as usize).copied().unwrap_or(end);
    SimWorkspace { id: ws, events, split_at, channels, members: cast.members.len() }
}

/// Members and teams, by who talks to whom.
struct Cast {
    members: Vec<Member>,
    index_of: HashMap<Arc<str>, usize>,
    teams: usize,
}

impl Cast {
    fn of(convs: &[&Conversation], pool: &[EmojiId], rng: &mut Rng) -> Cast {
        let mut cast = Cast { members: Vec::new(), index_of: HashMap::new(), teams: 0 };
        for c in convs {
            // Everyone in a conversation is present from its first message.
            let begun = c.messages[0].at;
            for m in &c.messages {
                if !cast.index_of.contains_key(&m.sender) {
                    cast.index_of.insert(m.sender.clone(), cast.members.len());
                    let favourites = [pool[rng.below(pool.len())], pool[rng.below(pool.len())]];
                    let tone = rng.chance(0.15).then(|| {
                        [
                            emojis::SkinTone::Light,
                            emojis::SkinTone::MediumLight,
                            emojis::SkinTone::Medium,
                            emojis::SkinTone::MediumDark,
                            emojis::SkinTone::Dark,
                        ][rng.below(5)]
                    });
                    cast.members.push(Member {
                        id: sender_id(&m.sender),
                        team: usize::MAX,
                        first_seen: begun,
                        favourites,
                        tone,
                    });
                }
            }
        }
        cast.teams = (cast.members.len() / 25).max(2);
        let mut team_size = vec![0usize; cast.teams];
        for c in convs {
            let people = cast.people_in(c);
            let known = people.iter().map(|&i| cast.members[i].team).find(|&t| t != usize::MAX);
            for &i in &people {
                if cast.members[i].team == usize::MAX {
                    let smallest = (0..cast.teams).min_by_key(|&t| (team_size[t], t)).unwrap_or(0);
                    let team = known.filter(|&t| team_size[t] < 40).unwrap_or(smallest);
                    cast.members[i].team = team;
                    team_size[team] += 1;
                }
            }
        }
        cast
    }

    /// The members who speak in a conversation, in order of their first message.
    fn people_in(&self, c: &Conversation) -> Vec<usize> {
        let mut people: Vec<usize> = Vec::new();
        for m in &c.messages {
            let i = self.index_of[&m.sender];
            if !people.contains(&i) {
                people.push(i);
            }
        }
        people
    }
}

/// The workspace's events so far, and the channels they created.
struct Timeline {
    index: usize,
    events: Vec<TimedEvent>,
    channels: HashMap<ChannelId, ChannelInfo>,
    next_channel: u128,
}

impl Timeline {
    fn new_channel(&mut self, name: String, kind: ChannelKind, at: Millis) -> ChannelId {
        self.next_channel += 1;
        let id = ChannelId::from_bytes(((self.index as u128 + 1) << 96 | self.next_channel).to_be_bytes());
        let info = ChannelInfo { id, name, kind, created_at: at, topic: String::new() };
        self.channels.insert(id, info.clone());
        self.events.push(TimedEvent { at, event: SimEvent::Channel(info) });
        id
    }
}

/// The planted channels.
struct Layout {
    general: ChannelId,
    interests: Vec<ChannelId>,
    /// Per team, the index of the interest channel it prefers.
    team_interest: Vec<usize>,
    /// Per team: general, dev, social (public) and leads (private).
    team_channels: Vec<[ChannelId; 4]>,
}

impl Layout {
    fn plant(cast: &Cast, start: Millis, timeline: &mut Timeline, rng: &mut Rng) -> Layout {
        let general = timeline.new_channel("general".into(), ChannelKind::Public, start);
        let interests: Vec<ChannelId> =
            INTERESTS.iter().map(|n| timeline.new_channel((*n).into(), ChannelKind::Public, start)).collect();
        let team_interest: Vec<usize> = (0..cast.teams).map(|_| rng.below(INTERESTS.len())).collect();
        let team_channels: Vec<[ChannelId; 4]> = (0..cast.teams)
            .map(|t| {
                let born =
                    cast.members.iter().filter(|m| m.team == t).map(|m| m.first_seen).min().unwrap_or(start)
                        - 1;
                [
                    timeline.new_channel(format!("t{t}-general"), ChannelKind::Public, born),
                    timeline.new_channel(format!("t{t}-dev"), ChannelKind::Public, born),
                    timeline.new_channel(format!("t{t}-social"), ChannelKind::Public, born),
                    timeline.new_channel(format!("t{t}-leads"), ChannelKind::Private, born),
                ]
            })
            .collect();
        Layout { general, interests, team_interest, team_channels }
    }
}

/// Member × channel → join time.
type Joined = HashMap<(usize, ChannelId), Millis>;

/// Plans every member's joins (see the module doc) and records them on the timeline.
fn plan_joins(cast: &Cast, layout: &Layout, end: Millis, timeline: &mut Timeline, rng: &mut Rng) -> Joined {
    let mut joined = Joined::new();
    for (i, m) in cast.members.iter().enumerate() {
        let team_channels = &layout.team_channels[m.team];
        let t0 = m.first_seen - 1;
        let later =
            |rng: &mut Rng| m.first_seen + (rng.unit() * (end - m.first_seen).max(0) as f64) as Millis;
        let mut plan = vec![(layout.general, t0), (team_channels[0], t0)];
        for &c in &team_channels[1..3] {
            if rng.chance(0.4) {
                plan.push((c, t0));
            } else if rng.chance(0.6) {
                plan.push((c, later(rng)));
            }
        }
        if rng.chance(0.3) {
            plan.push((team_channels[3], t0));
        }
        for (k, &c) in layout.interests.iter().enumerate() {
            let (now_p, later_p) = if k == layout.team_interest[m.team] { (0.3, 0.5) } else { (0.1, 0.05) };
            if rng.chance(now_p) {
                plan.push((c, t0));
            } else if rng.chance(later_p) {
                plan.push((c, later(rng)));
            }
        }
        for (c, at) in plan {
            joined.insert((i, c), at);
            timeline.events.push(TimedEvent { at, event: SimEvent::Join { channel: c, user: m.id } });
        }
    }
    joined
}

/// What reactions are drawn from.
struct Reactions<'a> {
    pool: &'a [EmojiId],
    triggers: &'a HashMap<String, EmojiId>,
    rate: f64,
}

/// Conversations into channels, with reactions.
fn post_conversations(
    convs: &[&Conversation],
    cast: &Cast,
    layout: &Layout,
    joined: &Joined,
    reactions: &Reactions<'_>,
    timeline: &mut Timeline,
    rng: &mut Rng,
) {
    let mut dms: HashMap<(usize, usize), ChannelId> = HashMap::new();
    let mut team_members: Vec<Vec<usize>> = vec![Vec::new(); cast.teams];
    for (i, m) in cast.members.iter().enumerate() {
        team_members[m.team].push(i);
    }
    for c in convs {
        let people = cast.people_in(c);
        let channel = channel_for(c.messages[0].at, &people, cast, layout, joined, &mut dms, timeline, rng);
        let mut previous_author: Option<usize> = None;
        for m in &c.messages {
            let author = cast.index_of[&m.sender];
            let partner = people.iter().copied().find(|&p| p != author);
            post_message(m, channel, author, partner, previous_author, cast, timeline, rng);
            previous_author = Some(author);
            if !rng.chance(reactions.rate) {
                continue;
            }
            let team = &team_members[cast.members[author].team];
            let reactor = partner.unwrap_or_else(|| team[rng.below(team.len())]);
            if reactor == author {
                continue;
            }
            react(m, channel, &cast.members[author], &cast.members[reactor], reactions, timeline, rng);
        }
    }
}

/// Where a conversation goes: a same-team one to a team channel both are in, a
/// cross-team one to an interest channel both are in or else their DM (opened now), a
/// one-person one to the team's general channel.
#[allow(clippy::too_many_arguments)]
fn channel_for(
    at: Millis,
    people: &[usize],
    cast: &Cast,
    layout: &Layout,
    joined: &Joined,
    dms: &mut HashMap<(usize, usize), ChannelId>,
    timeline: &mut Timeline,
    rng: &mut Rng,
) -> ChannelId {
    let member_at = |i: usize, c: ChannelId| joined.get(&(i, c)).is_some_and(|&j| j <= at);
    let a = people[0];
    let team_channels = &layout.team_channels[cast.members[a].team];
    let Some(b) = people.get(1).copied() else {
        return team_channels[0];
    };
    if cast.members[a].team == cast.members[b].team {
        let shared: Vec<ChannelId> =
            team_channels[..3].iter().copied().filter(|&ch| member_at(a, ch) && member_at(b, ch)).collect();
        return match shared.len() {
            0 => team_channels[0],
            1 => shared[0],
            n => {
                if rng.chance(0.5) {
                    shared[1 + rng.below(n - 1)]
                } else {
                    shared[0]
                }
            }
        };
    }
    if let Some(ch) = layout.interests.iter().copied().find(|&ch| member_at(a, ch) && member_at(b, ch)) {
        return ch;
    }
    *dms.entry((a.min(b), a.max(b))).or_insert_with(|| {
        let id = timeline.new_channel(format!("dm-{}-{}", a.min(b), a.max(b)), ChannelKind::Dm, at - 1);
        for p in [a, b] {
            timeline.events.push(TimedEvent {
                at: at - 1,
                event: SimEvent::Join { channel: id, user: cast.members[p].id },
            });
        }
        id
    })
}

/// One corpus message, mentioning or replying to the conversation partner now and then.
#[allow(clippy::too_many_arguments)]
fn post_message(
    m: &CorpusMessage,
    channel: ChannelId,
    author: usize,
    partner: Option<usize>,
    previous_author: Option<usize>,
    cast: &Cast,
    timeline: &mut Timeline,
    rng: &mut Rng,
) {
    let mentions = match partner {
        Some(p) if rng.chance(0.05) => vec![cast.members[p].id],
        _ => Vec::new(),
    };
    let reply_to_author =
        previous_author.filter(|&p| p != author && rng.chance(0.3)).map(|p| cast.members[p].id);
    timeline.events.push(TimedEvent {
        at: m.at,
        event: SimEvent::Message {
            channel,
            author: cast.members[author].id,
            text: m.text.clone(),
            mentions,
            reply_to_author,
        },
    });
}

/// `reactor`'s reaction to `m`: a trigger word's emoji, a favourite, or a pool draw.
fn react(
    m: &CorpusMessage,
    channel: ChannelId,
    author: &Member,
    reactor: &Member,
    reactions: &Reactions<'_>,
    timeline: &mut Timeline,
    rng: &mut Rng,
) {
    let cat = catalogue();
    let trigger = text::tokenize(&m.text).into_iter().find_map(|w| reactions.triggers.get(&w).copied());
    let pool = reactions.pool;
    let base = match trigger {
        Some(e) if rng.chance(0.6) => e,
        _ if rng.chance(0.5) => reactor.favourites[usize::from(!rng.chance(0.7))],
        _ => pool[rng.zipf(pool.len(), 1.0)],
    };
    let shown = reactor.tone.and_then(|t| cat.with_skin_tone(base, t)).unwrap_or(base);
    timeline.events.push(TimedEvent {
        at: m.at + 1_000 + rng.below(60_000) as Millis,
        event: SimEvent::Reaction {
            channel,
            message_author: author.id,
            message_text: m.text.clone(),
            user: reactor.id,
            emoji: cat.as_str(shown),
        },
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::parse_corpus;
    use crate::evaluate::{METHOD_DEFAULT, TASK_PICKER, evaluate};
    use confab_recommend::{ChannelWeights, ScoringWeights};

    /// senders over 60 days.
    fn tiny_corpus() -> Vec<Conversation> {
        let mut convs = serde_json::Map::new();
        for c in 0..60 {
            let (a, b) = (c % 12, (c * 5 + 1) % 12);
            let day = 1 + c % 28;
            let month = 4 + c / 28;
            let turns: Vec<serde_json::Value> = (0..6)
                .map(|t| {
                    let sender = if t % 2 == 0 { a } else { b };
                    serde_json::json!([{
                        "text": format!("we love pizza and the dog number {t}"),
                        "timestamp": format!("2018-{month:02}-{day:02}T10:{t:02}:00Z"),
                        "sender": format!("sender-{sender}"),
                    }])
                })
                .collect();
            convs.insert(format!("c{c:03}"), serde_json::json!({ "messages": turns, "ratings": {} }));
        }
        let json = serde_json::to_vec(&convs).expect("json");
        parse_corpus(&json).expect("parses")
    }

    #[test]
    fn simulation_is_seeded_and_evaluation_respects_privacy() {
        let corpus = tiny_corpus();
        assert_eq!(corpus.len(), 60);
        let config = SimConfig { seed: 5, workspaces: 2, ..SimConfig::default() };
        let a = simulate(&corpus, &config);
        let b = simulate(&corpus, &config);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].events.len(), b[0].events.len());
        assert!(a[0].events.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(a[0].events.iter().any(|e| matches!(e.event, SimEvent::Reaction { .. })));
        let report = evaluate(
            &a,
            EmojiAssociationModel::builtin(),
            &ScoringWeights::default(),
            &ChannelWeights::default(),
            5,
        );
        assert_eq!(report.privacy_violations, 0);
        let picker = report.row(TASK_PICKER, METHOD_DEFAULT).expect("picker row");
        assert!(picker.cases > 0 && (0.0..=1.0).contains(&picker.hit5));
        assert!(picker.hit1 <= picker.hit5);
        assert!(report.table().contains("| reaction picker (text) | confab defaults |"));
    }
}
