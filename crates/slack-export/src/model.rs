//! The model an importer maps 1:1: users, conversations, and per conversation its
//! entries (messages and membership changes) in `ts` order.

use std::fmt;

use sha2::{Digest, Sha256};

macro_rules! slack_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

slack_id!(
    /// A Slack user id (`U…`, `W…`, `USLACKBOT`).
    SlackUserId
);
slack_id!(
    /// A Slack conversation id (`C…` public, `G…` private or mpim, `D…` DM).
    ConversationId
);

/// One entry of `users.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: SlackUserId,
    /// Slack's handle (`name`), e.g. `egon.spengler`; the id when the export has none.
    pub name: String,
    /// `real_name` (top level, else the profile's), if not empty.
    pub real_name: Option<String>,
    /// The profile's `display_name`, if not empty.
    pub display_name: Option<String>,
    /// The profile's `email`, if not empty. Bots, apps and Slackbot have none: an
    /// importer creates them as new accounts (never fails on them).
    pub email: Option<String>,
    /// `is_bot`, or the Slackbot (`USLACKBOT`), whose own record says `false`.
    pub is_bot: bool,
    pub is_app_user: bool,
    pub deleted: bool,
    pub is_admin: bool,
    pub is_owner: bool,
    /// The profile's `bot_id` (`B…`), which `bot_message`s name as their author.
    pub bot_id: Option<String>,
    pub tz: Option<String>,
}

impl User {
    /// The name a person would recognise: display name, else real name, else handle.
    pub fn shown_name(&self) -> &str {
        self.display_name.as_deref().or(self.real_name.as_deref()).unwrap_or(&self.name)
    }
}

/// What kind of conversation, i.e. which directory file listed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConversationKind {
    /// `channels.json`.
    Public,
    /// `groups.json`.
    Private,
    /// `dms.json`: a direct conversation of two (or one, with oneself).
    Dm,
    /// `mpims.json`: a group DM; maps to a Confab DM of its members.
    Mpim,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Public => "public",
            ConversationKind::Private => "private",
            ConversationKind::Dm => "dm",
            ConversationKind::Mpim => "mpim",
        }
    }
}

/// One conversation of the directory files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: ConversationKind,
    /// The channel name without `#` (`mpdm-a--b-1` for an mpim, the id for a DM).
    pub name: String,
    /// The topic and purpose exactly as exported (they may hold Slack markup:
    /// [`crate::convert_markup`] converts them).
    pub topic: Option<String>,
    pub purpose: Option<String>,
    pub archived: bool,
    /// Slack's default channel; Confab merges it into its own `#general`.
    pub is_general: bool,
    pub members: Vec<SlackUserId>,
    pub creator: Option<SlackUserId>,
    /// `created` in milliseconds since the Unix epoch.
    pub created_ms: Option<i64>,
    /// The archive's day files of this conversation (`name/YYYY-MM-DD.json`), sorted.
    /// Empty when the export holds no messages for it.
    pub day_files: Vec<String>,
}

/// A stable key of a message or membership entry: derived from (conversation id,
/// `ts`) alone, so reading the same export twice gives the same keys and an importer
/// can skip what it stored before.
///
/// Shape: `slack:<conversation id>:<ts>` (e.g. `slack:C024BE91L:1503888888.000200`),
/// at most 64 printable ASCII characters. Ids or `ts` that would make it longer, or
/// not printable ASCII, give `slack:h:` and 56 hex digits of SHA-256 over both.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey(String);

impl MessageKey {
    pub const MAX_LEN: usize = 64;

    pub fn new(conversation: &ConversationId, ts: &str) -> Self {
        let plain = format!("slack:{conversation}:{ts}");
        if plain.len() <= Self::MAX_LEN && plain.bytes().all(|b| b.is_ascii_graphic()) {
            return MessageKey(plain);
        }
        let mut hash = Sha256::new();
        hash.update(conversation.as_str().as_bytes());
        hash.update([0]);
        hash.update(ts.as_bytes());
        let mut key = String::from("slack:h:");
        for b in &hash.finalize()[..28] {
            key.push_str(&format!("{b:02x}"));
        }
        MessageKey(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who wrote a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Author {
    /// A user of `users.json` (bot users included: see [`User::is_bot`]).
    User(SlackUserId),
    /// A `bot_message`: an integration's post, named by its bot id and the username it
    /// posted under; `user` is set when the bot acts as a bot user.
    Bot { bot_id: Option<String>, username: Option<String>, user: Option<SlackUserId> },
}

impl Author {
    /// The user id, for a user or a bot posting as a bot user.
    pub fn user(&self) -> Option<&SlackUserId> {
        match self {
            Author::User(u) => Some(u),
            Author::Bot { user, .. } => user.as_ref(),
        }
    }
}

/// The content-carrying message kinds (Slack `subtype`s an importer maps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKind {
    /// No subtype.
    Plain,
    /// `me_message` (`/me waves`): the text is the action, without the name.
    Me,
    /// `thread_broadcast`: a thread reply also shown in the channel.
    ThreadBroadcast,
    /// `file_share`: files, with an optional comment as text.
    FileShare,
    /// `bot_message`: see [`Author::Bot`].
    Bot,
}

/// `edited`: when and by whom the message was last edited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edited {
    pub ts: String,
    /// `ts` in milliseconds, when it parses.
    pub ts_ms: Option<i64>,
    pub user: Option<SlackUserId>,
}

/// One reaction: Slack's name and the users who reacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reaction {
    /// Slack's name, as exported: `tada`, `+1::skin-tone-3`, or a custom emoji's name.
    pub name: String,
    /// The Unicode emoji when the name is a standard (GitHub/gemoji) shortcode, with
    /// Slack's `::skin-tone-N` applied; `None` for custom emoji.
    pub emoji: Option<&'static str>,
    pub users: Vec<SlackUserId>,
    /// Slack's `count`; more than `users.len()` when Slack truncated the list.
    pub count: u32,
}

/// A file, carried as a link (the bytes are not in the export).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLink {
    pub id: Option<String>,
    /// The file name (else its title, else its id, else `file`).
    pub name: String,
    pub title: Option<String>,
    pub url_private: Option<String>,
    pub permalink: Option<String>,
    pub mimetype: Option<String>,
    pub size: Option<u64>,
}

impl FileLink {
    /// The link to show: the permalink, else `url_private`.
    pub fn link(&self) -> Option<&str> {
        self.permalink.as_deref().or(self.url_private.as_deref())
    }
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Stable across reads: see [`MessageKey`].
    pub key: MessageKey,
    /// Slack's `ts`, exactly as exported (`1503888888.000200`): the message's id in
    /// its conversation.
    pub ts: String,
    /// `ts` in milliseconds since the Unix epoch (microseconds truncated).
    pub ts_ms: i64,
    pub author: Author,
    pub kind: MessageKind,
    /// The text with Slack markup converted (see [`crate::convert_markup`]). A bot
    /// message without text gets its attachments' fallback texts, one a line.
    pub text: String,
    /// `thread_ts`: set on a thread's root (equal to `ts`) and on its replies.
    pub thread_ts: Option<String>,
    /// The key of the thread's root, for a reply (`thread_ts` ≠ `ts`). The root may
    /// be missing from the export (deleted, or outside a partial export).
    pub thread_key: Option<MessageKey>,
    pub parent_user_id: Option<SlackUserId>,
    pub edited: Option<Edited>,
    pub reactions: Vec<Reaction>,
    pub files: Vec<FileLink>,
}

impl Message {
    /// A reply in a thread (not its root).
    pub fn is_reply(&self) -> bool {
        self.thread_key.is_some()
    }
}

/// `channel_join` / `channel_leave` (and `group_*` in private channels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipChange {
    Joined,
    Left,
}

/// A membership change, as the conversation's history recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub key: MessageKey,
    pub ts: String,
    pub ts_ms: i64,
    pub user: SlackUserId,
    pub change: MembershipChange,
    /// Who added the user, when Slack recorded it.
    pub inviter: Option<SlackUserId>,
}

/// What a conversation's history yields, in `ts` order.
// Nearly every entry is a message: boxing it would cost an allocation each for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Message(Message),
    Membership(Membership),
}

impl Entry {
    pub fn key(&self) -> &MessageKey {
        match self {
            Entry::Message(m) => &m.key,
            Entry::Membership(m) => &m.key,
        }
    }

    pub fn ts(&self) -> &str {
        match self {
            Entry::Message(m) => &m.ts,
            Entry::Membership(m) => &m.ts,
        }
    }

    pub fn ts_ms(&self) -> i64 {
        match self {
            Entry::Message(m) => m.ts_ms,
            Entry::Membership(m) => m.ts_ms,
        }
    }
}

/// One entry of `integration_logs.json`: an app or integration added or removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntegrationLog {
    pub user_id: Option<SlackUserId>,
    pub user_name: Option<String>,
    /// `service_type` or `app_type`.
    pub service: Option<String>,
    /// `added`, `removed`, `enabled`, `disabled`, `expanded`, …
    pub change_type: Option<String>,
    pub channel: Option<String>,
    pub reason: Option<String>,
    pub date_ms: Option<i64>,
}

/// Parses a Slack `ts` (`seconds.micros`) to microseconds since the epoch.
pub fn parse_ts(ts: &str) -> Option<i64> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    if secs.is_empty() || frac.len() > 6 || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut micros: i64 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    for _ in frac.len()..6 {
        micros *= 10;
    }
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// The Unicode emoji for a Slack reaction name (`tada`, `+1::skin-tone-3`), if it is a
/// standard shortcode (the `emojis` crate's GitHub/gemoji set, which Slack's names
/// follow); `None` for custom emoji.
pub fn reaction_emoji(name: &str) -> Option<&'static str> {
    let (base, tone) = match name.split_once("::skin-tone-") {
        Some((base, tone)) => (base, Some(tone)),
        None => (name, None),
    };
    let emoji = emojis::get_by_shortcode(base)?;
    let tone = match tone {
        None => return Some(emoji.as_str()),
        Some("2") => emojis::SkinTone::Light,
        Some("3") => emojis::SkinTone::MediumLight,
        Some("4") => emojis::SkinTone::Medium,
        Some("5") => emojis::SkinTone::MediumDark,
        Some("6") => emojis::SkinTone::Dark,
        Some(_) => return Some(emoji.as_str()),
    };
    Some(emoji.with_skin_tone(tone).unwrap_or(emoji).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_parses_to_micros_exactly() {
        assert_eq!(parse_ts("1503888888.000200"), Some(1_503_888_888_000_200));
        assert_eq!(parse_ts("1503888888.5"), Some(1_503_888_888_500_000));
        assert_eq!(parse_ts("1503888888"), Some(1_503_888_888_000_000));
        for bad in ["", ".5", "15038.1234567", "abc.000001", "1.-1", "-1.000000", "1.2.3"] {
            assert_eq!(parse_ts(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_are_stable_short_and_distinct() {
        let c = ConversationId::new("C024BE91L");
        let k = MessageKey::new(&c, "1503888888.000200");
        assert_eq!(k.as_str(), "slack:C024BE91L:1503888888.000200");
        assert_eq!(k, MessageKey::new(&ConversationId::new("C024BE91L"), "1503888888.000200"));
        assert_ne!(k, MessageKey::new(&c, "1503888888.000201"));
        assert_ne!(k, MessageKey::new(&ConversationId::new("C024BE91M"), "1503888888.000200"));
        let long = ConversationId::new("C".repeat(80));
        let (a, b) = (MessageKey::new(&long, "1.000001"), MessageKey::new(&long, "1.000002"));
        assert!(a.as_str().starts_with("slack:h:") && a.as_str().len() == MessageKey::MAX_LEN, "{a}");
        assert_ne!(a, b);
        assert_eq!(a, MessageKey::new(&long, "1.000001"));
        let odd = MessageKey::new(&ConversationId::new("C 1"), "1.0");
        assert!(odd.as_str().bytes().all(|b| b.is_ascii_graphic()), "{odd}");
    }

    #[test]
    fn reaction_names_map_to_emoji() {
        assert_eq!(reaction_emoji("tada"), Some("🎉"));
        assert_eq!(reaction_emoji("+1"), Some("👍"));
        assert_eq!(reaction_emoji("+1::skin-tone-3"), Some("👍🏼"));
        assert_eq!(reaction_emoji("wave::skin-tone-6"), Some("👋🏿"));
        assert_eq!(reaction_emoji("heart"), Some("❤️"));
        assert_eq!(reaction_emoji("partyparrot"), None);
    }
}
