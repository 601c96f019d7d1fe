//! One workspace's live statistics, updated incrementally as events happen, and their
//! serialised form.
//!
//! What is kept, per workspace only:
//! * per member: channels, contacts (who they talk to, as decayed interaction weight,
//!   bounded to the strongest [`RecommendConfig::max_contacts`]), and emoji frecency;
//! * per channel: name, kind, archived flag, members (plus a MinHash signature for
//!   fast member-overlap estimates), message activity and its last few authors;
//! * workspace-wide: emoji popularity and a word → reaction co-occurrence table.
//!
//! Privacy rules applied at update time: emoji popularity and word → reaction
//! counts learn only from PUBLIC channels (a private channel's words or habits must not
//! surface in suggestions for people outside it); a member's own emoji frecency and
//! contacts learn from everything they do, since only they are served from them. A
//! channel the recommender has not been told about is treated as private.

use std::collections::{HashMap, HashSet};

use confab_core::{ChannelId, ChannelKind, Millis, UserId};
use serde::{Deserialize, Serialize};

use crate::catalogue::{EmojiId, catalogue};
use crate::error::{Format, ModelError};
use crate::text;

const DAY_MS: Millis = 24 * 60 * 60 * 1000;
/// Slots of a channel's MinHash signature: Jaccard error ≈ 0.06 at J = 0.3.
pub(crate) const MINHASH_SLOTS: usize = 64;
/// Authors remembered per channel for the "talks with" signal.
const RECENT_AUTHORS: usize = 4;
/// Emoji remembered per word in the co-occurrence table.
const EMOJI_PER_WORD: usize = 16;
/// DM participants credited as contacts of a sender (large group DMs are capped).
const MAX_DM_CONTACTS: usize = 8;

/// Tunables; the defaults suit a team chat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecommendConfig {
    /// Half-life of a member's own emoji frecency.
    pub user_emoji_half_life_ms: Millis,
    /// Half-life of workspace emoji popularity.
    pub workspace_emoji_half_life_ms: Millis,
    /// Half-life of the interaction weight between two members.
    pub contact_half_life_ms: Millis,
    /// Half-life of channel message activity ("active this week").
    pub channel_activity_half_life_ms: Millis,
    /// Half-life of the "new channel" bonus.
    pub new_channel_half_life_ms: Millis,
    /// Contacts kept per member; the weakest are dropped beyond it.
    pub max_contacts: usize,
    /// Contacts whose channels are searched for suggestions.
    pub contact_top_k: usize,
    /// Distinct words kept in the word → reaction table; the rarest are dropped.
    pub max_vocabulary: usize,
    /// Cold-start reaction picker, as emoji or shortcodes, best first.
    pub default_reactions: Vec<String>,
}

impl Default for RecommendConfig {
    fn default() -> Self {
        RecommendConfig {
            user_emoji_half_life_ms: 14 * DAY_MS,
            workspace_emoji_half_life_ms: 30 * DAY_MS,
            contact_half_life_ms: 30 * DAY_MS,
            channel_activity_half_life_ms: 7 * DAY_MS,
            new_channel_half_life_ms: 7 * DAY_MS,
            max_contacts: 256,
            contact_top_k: 25,
            max_vocabulary: 50_000,
            default_reactions: ["+1", "heart", "joy", "tada", "open_mouth", "cry", "pray", "eyes"]
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
        }
    }
}

/// A count with exponential time decay: `score` as of `at`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Frecency {
    pub score: f32,
    pub at: Millis,
}

/// `2^(-elapsed / half_life)`, 1 for no or negative elapsed time.
pub(crate) fn decay(elapsed: Millis, half_life: Millis) -> f32 {
    if elapsed <= 0 || half_life <= 0 { 1.0 } else { (-(elapsed as f64) / half_life as f64).exp2() as f32 }
}

impl Frecency {
    /// Adds `amount` (negative to undo) at time `at`; events may arrive out of order.
    pub fn add(&mut self, amount: f32, at: Millis, half_life: Millis) {
        if at >= self.at {
            self.score = self.score * decay(at - self.at, half_life) + amount;
            self.at = at;
        } else {
            self.score += amount * decay(self.at - at, half_life);
        }
        self.score = self.score.max(0.0);
    }

    /// The decayed value at `now` (never grown for a `now` in the past).
    pub fn value(&self, now: Millis, half_life: Millis) -> f32 {
        self.score * decay(now - self.at, half_life)
    }
}

/// What the app reports about a channel when it is created or changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelInfo {
    pub id: ChannelId,
    /// Shown in reasons ("similar to #design"), and only for public channels.
    pub name: String,
    pub kind: ChannelKind,
    pub created_at: Millis,
    /// Accepted for completeness; not used for ranking yet.
    #[serde(default)]
    pub topic: String,
}

/// A message as the recommender needs it.
#[derive(Clone, Copy, Debug)]
pub struct MessageEvent<'a> {
    pub channel: ChannelId,
    pub author: UserId,
    /// The text as posted; emoji and `:shortcodes:` in it count as the author's use.
    pub text: &'a str,
    pub at: Millis,
    /// Members mentioned with `@name`.
    pub mentions: &'a [UserId],
    /// The author of the message this one replies to (thread root or quoted), if any.
    pub reply_to_author: Option<UserId>,
}

/// A reaction added to (or removed from) a message.
#[derive(Clone, Copy, Debug)]
pub struct ReactionEvent<'a> {
    pub channel: ChannelId,
    pub message_author: UserId,
    /// The reacted-to message's text, for the word → reaction table.
    pub message_text: &'a str,
    /// Who reacted.
    pub user: UserId,
    /// The emoji as stored (normalised) or a shortcode; unknown emoji are ignored.
    pub emoji: &'a str,
    pub at: Millis,
}

#[derive(Debug)]
pub(crate) struct UserState {
    pub id: UserId,
    /// Sorted channel indices.
    pub channels: Vec<u32>,
    pub contacts: HashMap<u32, Frecency>,
    pub emoji: HashMap<EmojiId, Frecency>,
}

#[derive(Debug)]
pub(crate) struct ChannelState {
    pub id: ChannelId,
    pub name: String,
    pub kind: ChannelKind,
    pub created_at: Millis,
    pub archived: bool,
    pub members: HashSet<u32>,
    pub minhash: Box<[u32; MINHASH_SLOTS]>,
    pub activity: Frecency,
    pub messages: u64,
    pub recent_authors: Vec<u32>,
}

impl ChannelState {
    fn new(id: ChannelId) -> Self {
        ChannelState {
            id,
            name: String::new(),
            // Unknown until `on_channel` says otherwise: never suggested, never named.
            kind: ChannelKind::Private,
            created_at: 0,
            archived: false,
            members: HashSet::new(),
            minhash: Box::new([u32::MAX; MINHASH_SLOTS]),
            activity: Frecency::default(),
            messages: 0,
            recent_authors: Vec::new(),
        }
    }

    pub fn is_suggestable(&self) -> bool {
        self.kind == ChannelKind::Public && !self.archived
    }
}

#[derive(Debug, Default)]
pub(crate) struct WordStats {
    /// Reactions on public messages containing the word.
    pub total: f32,
    /// The most frequent of those reactions, approximately (space-saving counts).
    pub emoji: Vec<(EmojiId, f32)>,
}

/// All statistics of one workspace. Indices are local to this struct.
#[derive(Debug, Default)]
pub(crate) struct WorkspaceStats {
    pub users: Vec<UserState>,
    pub user_index: HashMap<UserId, u32>,
    pub channels: Vec<ChannelState>,
    pub channel_index: HashMap<ChannelId, u32>,
    /// Emoji use (reactions and in text) in public channels.
    pub popularity: HashMap<EmojiId, Frecency>,
    /// Undecayed reaction counts in public channels: the base rates for word lift.
    pub reaction_counts: HashMap<EmojiId, f32>,
    pub reaction_total: f32,
    pub words: HashMap<String, WordStats>,
}

/// The MinHash of one member in each slot: independent mixes of their id.
fn member_hashes(user: UserId) -> [u32; MINHASH_SLOTS] {
    let bits = u128::from_be_bytes(user.to_bytes());
    let h = splitmix((bits >> 64) as u64 ^ splitmix(bits as u64));
    std::array::from_fn(|i| (splitmix(h ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 32) as u32)
}

pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Estimated Jaccard similarity of two member sets from their signatures.
pub(crate) fn minhash_jaccard(a: &[u32; MINHASH_SLOTS], b: &[u32; MINHASH_SLOTS]) -> f32 {
    let equal = a.iter().zip(b.iter()).filter(|(x, y)| x == y && **x != u32::MAX).count();
    equal as f32 / MINHASH_SLOTS as f32
}

impl WorkspaceStats {
    pub fn user(&self, id: UserId) -> Option<u32> {
        self.user_index.get(&id).copied()
    }

    fn ensure_user(&mut self, id: UserId) -> u32 {
        if let Some(&i) = self.user_index.get(&id) {
            return i;
        }
        let i = self.users.len() as u32;
        self.users.push(UserState {
            id,
            channels: Vec::new(),
            contacts: HashMap::new(),
            emoji: HashMap::new(),
        });
        self.user_index.insert(id, i);
        i
    }

    fn ensure_channel(&mut self, id: ChannelId) -> u32 {
        if let Some(&i) = self.channel_index.get(&id) {
            return i;
        }
        let i = self.channels.len() as u32;
        self.channels.push(ChannelState::new(id));
        self.channel_index.insert(id, i);
        i
    }

    fn is_public(&self, channel: ChannelId) -> bool {
        self.channel_index
            .get(&channel)
            .is_some_and(|&c| self.channels[c as usize].kind == ChannelKind::Public)
    }

    pub fn on_channel(&mut self, info: &ChannelInfo) {
        let c = self.ensure_channel(info.id) as usize;
        let channel = &mut self.channels[c];
        channel.name.clone_from(&info.name);
        channel.kind = info.kind;
        channel.created_at = info.created_at;
    }

    pub fn on_channel_archived(&mut self, channel: ChannelId, archived: bool) {
        let c = self.ensure_channel(channel) as usize;
        self.channels[c].archived = archived;
    }

    pub fn on_join(&mut self, channel: ChannelId, user: UserId) {
        let c = self.ensure_channel(channel);
        let u = self.ensure_user(user);
        self.join_indices(c, u);
    }

    fn join_indices(&mut self, c: u32, u: u32) {
        let channel = &mut self.channels[c as usize];
        if !channel.members.insert(u) {
            return;
        }
        let hashes = member_hashes(self.users[u as usize].id);
        for (slot, h) in channel.minhash.iter_mut().zip(hashes) {
            *slot = (*slot).min(h);
        }
        let channels = &mut self.users[u as usize].channels;
        if let Err(pos) = channels.binary_search(&c) {
            channels.insert(pos, c);
        }
    }

    pub fn on_leave(&mut self, channel: ChannelId, user: UserId) {
        let (Some(&c), Some(&u)) = (self.channel_index.get(&channel), self.user_index.get(&user)) else {
            return;
        };
        if !self.channels[c as usize].members.remove(&u) {
            return;
        }
        let channels = &mut self.users[u as usize].channels;
        if let Ok(pos) = channels.binary_search(&c) {
            channels.remove(pos);
        }
        // A MinHash cannot forget one member; rebuild only if they held a slot.
        let hashes = member_hashes(self.users[u as usize].id);
        if self.channels[c as usize].minhash.iter().zip(hashes).any(|(s, h)| *s == h) {
            self.rebuild_minhash(c);
        }
    }

    pub(crate) fn rebuild_minhash(&mut self, c: u32) {
        let mut signature = [u32::MAX; MINHASH_SLOTS];
        for &m in &self.channels[c as usize].members {
            for (slot, h) in signature.iter_mut().zip(member_hashes(self.users[m as usize].id)) {
                *slot = (*slot).min(h);
            }
        }
        *self.channels[c as usize].minhash = signature;
    }

    /// Adds interaction weight from `from` to `to` (one direction).
    fn add_contact(&mut self, from: u32, to: u32, amount: f32, at: Millis, cfg: &RecommendConfig) {
        if from == to {
            return;
        }
        let contacts = &mut self.users[from as usize].contacts;
        contacts.entry(to).or_default().add(amount, at, cfg.contact_half_life_ms);
        if contacts.len() > cfg.max_contacts {
            // Keep the strongest three quarters; pruning in bulk keeps it amortised O(1).
            let keep = cfg.max_contacts * 3 / 4;
            let mut values: Vec<(u32, f32)> =
                contacts.iter().map(|(&c, f)| (c, f.value(at, cfg.contact_half_life_ms))).collect();
            values.select_nth_unstable_by(keep, |a, b| b.1.total_cmp(&a.1));
            for &(c, _) in &values[keep..] {
                contacts.remove(&c);
            }
        }
    }

    fn interact(&mut self, a: u32, b: u32, forward: f32, back: f32, at: Millis, cfg: &RecommendConfig) {
        self.add_contact(a, b, forward, at, cfg);
        self.add_contact(b, a, back, at, cfg);
    }

    pub fn on_message(&mut self, ev: &MessageEvent<'_>, cfg: &RecommendConfig) {
        let c = self.ensure_channel(ev.channel);
        let author = self.ensure_user(ev.author);
        // A message proves membership even if the join event was missed.
        self.join_indices(c, author);
        let channel = &mut self.channels[c as usize];
        channel.activity.add(1.0, ev.at, cfg.channel_activity_half_life_ms);
        channel.messages += 1;
        let kind = channel.kind;

        for &mentioned in ev.mentions {
            let m = self.ensure_user(mentioned);
            self.interact(author, m, 1.0, 0.5, ev.at, cfg);
        }
        if let Some(replied) = ev.reply_to_author {
            let r = self.ensure_user(replied);
            self.interact(author, r, 1.0, 0.5, ev.at, cfg);
        }
        if kind == ChannelKind::Dm {
            let others: Vec<u32> = self.channels[c as usize]
                .members
                .iter()
                .copied()
                .filter(|&m| m != author)
                .take(MAX_DM_CONTACTS)
                .collect();
            for other in others {
                self.interact(author, other, 1.0, 0.5, ev.at, cfg);
            }
        } else {
            // Posting right after someone in the same channel is talking with them.
            let recent = self.channels[c as usize].recent_authors.clone();
            for other in recent.into_iter().filter(|&o| o != author) {
                self.interact(author, other, 0.3, 0.3, ev.at, cfg);
            }
        }
        let recent = &mut self.channels[c as usize].recent_authors;
        recent.retain(|&a| a != author);
        recent.insert(0, author);
        recent.truncate(RECENT_AUTHORS);

        let public = kind == ChannelKind::Public;
        for emoji in text::extract_emoji(ev.text) {
            self.users[author as usize].emoji.entry(emoji).or_default().add(
                1.0,
                ev.at,
                cfg.user_emoji_half_life_ms,
            );
            if public {
                self.popularity.entry(emoji).or_default().add(1.0, ev.at, cfg.workspace_emoji_half_life_ms);
            }
        }
    }

    /// Adds (`sign` = 1) or undoes (`sign` = -1) a reaction.
    pub fn on_reaction(&mut self, ev: &ReactionEvent<'_>, sign: f32, cfg: &RecommendConfig) {
        let Some(emoji) = catalogue().id_of(ev.emoji) else {
            return;
        };
        let user = self.ensure_user(ev.user);
        self.users[user as usize].emoji.entry(emoji).or_default().add(
            sign,
            ev.at,
            cfg.user_emoji_half_life_ms,
        );
        if sign > 0.0 {
            let author = self.ensure_user(ev.message_author);
            self.interact(user, author, 0.5, 0.25, ev.at, cfg);
        }
        if !self.is_public(ev.channel) {
            return;
        }
        self.popularity.entry(emoji).or_default().add(sign, ev.at, cfg.workspace_emoji_half_life_ms);
        let count = self.reaction_counts.entry(emoji).or_default();
        *count = (*count + sign).max(0.0);
        self.reaction_total = (self.reaction_total + sign).max(0.0);
        for word in text::tokenize(ev.message_text) {
            if sign > 0.0 {
                self.words.entry(word).or_default().add(emoji);
            } else if let Some(stats) = self.words.get_mut(&word) {
                stats.remove(emoji);
            }
        }
        if self.words.len() > cfg.max_vocabulary {
            self.prune_vocabulary(cfg.max_vocabulary * 3 / 4);
        }
    }

    /// Keeps the `keep` words with the most reactions.
    fn prune_vocabulary(&mut self, keep: usize) {
        let mut totals: Vec<f32> = self.words.values().map(|w| w.total).collect();
        if keep >= totals.len() {
            return;
        }
        totals.select_nth_unstable_by(keep, |a, b| b.total_cmp(a));
        let threshold = totals[keep];
        self.words.retain(|_, w| w.total > threshold);
    }

    // ----- snapshots -----

    pub fn to_snapshot(&self) -> Snapshot {
        let cat = catalogue();
        let uid = |u: &u32| self.users[*u as usize].id;
        let emoji_list = |map: &HashMap<EmojiId, Frecency>| {
            let mut list: Vec<(String, Frecency)> =
                map.iter().map(|(&e, &f)| (cat.as_str(e).to_string(), f)).collect();
            list.sort_by(|a, b| a.0.cmp(&b.0));
            list
        };
        let mut words: Vec<WordSnapshot> = self
            .words
            .iter()
            .map(|(w, s)| {
                let emoji = s.emoji.iter().map(|&(e, n)| (cat.as_str(e).to_string(), n)).collect();
                (w.clone(), s.total, emoji)
            })
            .collect();
        words.sort_by(|a, b| a.0.cmp(&b.0));
        let mut reaction_counts: Vec<(String, f32)> =
            self.reaction_counts.iter().map(|(&e, &n)| (cat.as_str(e).to_string(), n)).collect();
        reaction_counts.sort_by(|a, b| a.0.cmp(&b.0));
        let mut snapshot = Snapshot {
            format_version: Snapshot::FORMAT_VERSION,
            channels: self
                .channels
                .iter()
                .map(|c| {
                    let mut members: Vec<UserId> = c.members.iter().map(uid).collect();
                    members.sort();
                    ChannelSnapshot {
                        id: c.id,
                        name: c.name.clone(),
                        kind: c.kind,
                        created_at: c.created_at,
                        archived: c.archived,
                        members,
                        activity: c.activity,
                        messages: c.messages,
                        recent_authors: c.recent_authors.iter().map(uid).collect(),
                    }
                })
                .collect(),
            users: self
                .users
                .iter()
                .map(|u| {
                    let mut contacts: Vec<(UserId, Frecency)> =
                        u.contacts.iter().map(|(c, &f)| (uid(c), f)).collect();
                    contacts.sort_by_key(|a| a.0);
                    UserSnapshot { id: u.id, contacts, emoji: emoji_list(&u.emoji) }
                })
                .collect(),
            popularity: emoji_list(&self.popularity),
            reaction_counts,
            reaction_total: self.reaction_total,
            words,
        };
        // Canonical order, so equal statistics export to equal bytes.
        snapshot.channels.sort_by_key(|c| c.id);
        snapshot.users.sort_by_key(|u| u.id);
        snapshot
    }

    pub fn from_snapshot(snapshot: Snapshot) -> Result<Self, ModelError> {
        if snapshot.format_version != Snapshot::FORMAT_VERSION {
            return Err(ModelError::UnsupportedVersion {
                format: Format::Statistics,
                found: snapshot.format_version,
                expected: Snapshot::FORMAT_VERSION,
            });
        }
        let cat = catalogue();
        // Emoji the catalogue no longer knows are dropped, not fatal: the catalogue
        // may change between releases.
        let emoji_map = |list: Vec<(String, Frecency)>| -> HashMap<EmojiId, Frecency> {
            list.into_iter().filter_map(|(e, f)| Some((cat.id_of(&e)?, f))).collect()
        };
        let mut stats = WorkspaceStats::default();
        for user in snapshot.users {
            let u = stats.ensure_user(user.id) as usize;
            stats.users[u].emoji = emoji_map(user.emoji);
            let contacts: Vec<(UserId, Frecency)> = user.contacts;
            for (contact, f) in contacts {
                let c = stats.ensure_user(contact);
                stats.users[u].contacts.insert(c, f);
            }
        }
        for channel in snapshot.channels {
            let c = stats.ensure_channel(channel.id);
            let state = &mut stats.channels[c as usize];
            state.name = channel.name;
            state.kind = channel.kind;
            state.created_at = channel.created_at;
            state.archived = channel.archived;
            state.activity = channel.activity;
            state.messages = channel.messages;
            for member in channel.members {
                let u = stats.ensure_user(member);
                stats.join_indices(c, u);
            }
            let recent: Vec<u32> = channel.recent_authors.into_iter().map(|a| stats.ensure_user(a)).collect();
            stats.channels[c as usize].recent_authors = recent;
        }
        stats.popularity = emoji_map(snapshot.popularity);
        stats.reaction_counts =
            snapshot.reaction_counts.into_iter().filter_map(|(e, n)| Some((cat.id_of(&e)?, n))).collect();
        stats.reaction_total = snapshot.reaction_total;
        stats.words = snapshot
            .words
            .into_iter()
            .map(|(w, total, emoji)| {
                let emoji = emoji.into_iter().filter_map(|(e, n)| Some((cat.id_of(&e)?, n))).collect();
                (w, WordStats { total, emoji })
            })
            .collect();
        Ok(stats)
    }
}

impl WordStats {
    fn add(&mut self, emoji: EmojiId) {
        self.total += 1.0;
        if let Some(entry) = self.emoji.iter_mut().find(|(e, _)| *e == emoji) {
            entry.1 += 1.0;
        } else if self.emoji.len() < EMOJI_PER_WORD {
            self.emoji.push((emoji, 1.0));
        } else if let Some(min) = self.emoji.iter_mut().min_by(|a, b| a.1.total_cmp(&b.1)) {
            // Space-saving: the newcomer inherits the weakest count, so a rising emoji
            // can displace a stale one while counts stay upper bounds.
            *min = (emoji, min.1 + 1.0);
        }
    }

    fn remove(&mut self, emoji: EmojiId) {
        self.total = (self.total - 1.0).max(0.0);
        if let Some(entry) = self.emoji.iter_mut().find(|(e, _)| *e == emoji) {
            entry.1 = (entry.1 - 1.0).max(0.0);
        }
    }
}

/// `(word, reactions on public messages with it, [(emoji, count)])`.
pub type WordSnapshot = (String, f32, Vec<(String, f32)>);

/// The serialised statistics of one workspace (JSON), versioned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format_version: u32,
    pub channels: Vec<ChannelSnapshot>,
    pub users: Vec<UserSnapshot>,
    pub popularity: Vec<(String, Frecency)>,
    pub reaction_counts: Vec<(String, f32)>,
    pub reaction_total: f32,
    /// `(word, reactions on messages with it, [(emoji, count)])`.
    pub words: Vec<WordSnapshot>,
}

impl Snapshot {
    pub const FORMAT_VERSION: u32 = 1;
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelSnapshot {
    pub id: ChannelId,
    pub name: String,
    pub kind: ChannelKind,
    pub created_at: Millis,
    pub archived: bool,
    pub members: Vec<UserId>,
    pub activity: Frecency,
    pub messages: u64,
    pub recent_authors: Vec<UserId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserSnapshot {
    pub id: UserId,
    pub contacts: Vec<(UserId, Frecency)>,
    pub emoji: Vec<(String, Frecency)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frecency_halves_every_half_life_and_takes_late_events() {
        let mut f = Frecency::default();
        f.add(1.0, 1_000, 100);
        assert!((f.value(1_100, 100) - 0.5).abs() < 1e-6);
        f.add(1.0, 900, 100);
        assert!((f.value(1_000, 100) - 1.5).abs() < 1e-6, "{f:?}");
        f.add(-5.0, 1_000, 100);
        assert_eq!(f.value(1_000, 100), 0.0);
        assert_eq!(f.value(0, 100), f.score, "a past `now` does not grow the score");
    }

    #[test]
    fn minhash_estimates_overlap() {
        let users: Vec<UserId> = (0..200u128).map(|i| UserId::from_bytes((i + 1).to_be_bytes())).collect();
        let sig = |members: &[UserId]| {
            let mut s = [u32::MAX; MINHASH_SLOTS];
            for &m in members {
                for (slot, h) in s.iter_mut().zip(member_hashes(m)) {
                    *slot = (*slot).min(h);
                }
            }
            s
        };
        let a = sig(&users[..100]);
        let b = sig(&users[50..150]); // true Jaccard 1/3
        let c = sig(&users[150..]);
        let j = minhash_jaccard(&a, &b);
        assert!((0.15..0.55).contains(&j), "{j}");
        assert!(minhash_jaccard(&a, &c) < 0.1);
        assert_eq!(minhash_jaccard(&a, &a), 1.0);
        assert_eq!(minhash_jaccard(&[u32::MAX; MINHASH_SLOTS], &[u32::MAX; MINHASH_SLOTS]), 0.0);
    }
}
