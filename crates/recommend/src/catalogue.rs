//! The emoji catalogue: every Unicode emoji from the `emojis` crate with its CLDR name,
//! gemoji shortcodes, keywords and skin-tone variants, plus a sorted term index for
//! `:` autocomplete.
//!
//! `emojis` 0.9 exposes no CLDR keyword annotations, so an entry's keywords are the
//! words of its name, the words of its shortcodes (split on `_`) and the two words of
//! its group (e.g. `food`, `drink`). Nothing here is a hand-written emoji table.
//!
//! Every emoji, base or skin-toned, has a dense [`EmojiId`]; statistics are kept per
//! variant and suggestions are made per base emoji (an [`Entry`]).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::text;

/// Dense index of an emoji (base or skin-toned variant) in the catalogue.
///
/// Only meaningful inside one process: persisted statistics store the emoji itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmojiId(pub(crate) u16);

/// How a typed prefix matched an entry, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchKind {
    /// The prefix is a whole shortcode (`:tada`).
    ExactShortcode,
    /// The prefix starts a shortcode (`:ta` → `tada`).
    Shortcode,
    /// The prefix starts the full name, spaces read as `_` (`party_p`).
    Name,
    /// The prefix starts one word of the name (`pop` → party popper).
    NameWord,
    /// The prefix starts a keyword (shortcode word or group word).
    Keyword,
}

impl MatchKind {
    /// Quality in `[0, 1]` used by the ranking blend.
    pub fn quality(self) -> f32 {
        match self {
            MatchKind::ExactShortcode => 1.0,
            MatchKind::Shortcode => 0.85,
            MatchKind::Name => 0.75,
            MatchKind::NameWord => 0.6,
            MatchKind::Keyword => 0.3,
        }
    }
}

/// One base emoji (default skin tone) with everything the suggesters need.
#[derive(Debug)]
pub struct Entry {
    pub id: EmojiId,
    pub emoji: &'static str,
    /// CLDR short name, e.g. `party popper`.
    pub name: &'static str,
    /// gemoji shortcodes without colons, e.g. `["tada"]`; may be empty.
    pub shortcodes: Vec<&'static str>,
    /// Normalised keyword tokens (see the module doc for where they come from).
    pub keywords: Vec<String>,
    pub group: emojis::Group,
    /// The skin-toned variants (excluding the base itself), in `emojis` order.
    pub skin_tones: Vec<EmojiId>,
}

/// The process-wide catalogue; build it with [`catalogue`].
#[derive(Debug)]
pub struct Catalogue {
    /// Every emoji, base and variant, indexed by `EmojiId`.
    all: Vec<&'static emojis::Emoji>,
    /// For each `EmojiId`, the id of its base emoji.
    base_of: Vec<EmojiId>,
    /// For each `EmojiId` of a base emoji, its index in `entries`.
    entry_of: Vec<u16>,
    entries: Vec<Entry>,
    by_str: HashMap<&'static str, EmojiId>,
    /// `(term, entry index, kind)` sorted by term, for prefix search.
    terms: Vec<(String, u16, MatchKind)>,
}

/// The shared catalogue, built on first use (a few milliseconds).
pub fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(Catalogue::build)
}

impl Catalogue {
    fn build() -> Catalogue {
        let mut all = Vec::new();
        let mut base_of = Vec::new();
        let mut entry_of = Vec::new();
        let mut entries = Vec::new();
        let mut by_str = HashMap::new();
        for base in emojis::iter() {
            let base_id = EmojiId(all.len() as u16);
            let entry_index = entries.len() as u16;
            let mut push = |e: &'static emojis::Emoji| {
                let id = EmojiId(all.len() as u16);
                all.push(e);
                base_of.push(base_id);
                entry_of.push(entry_index);
                by_str.insert(e.as_str(), id);
                id
            };
            push(base);
            let mut skin_tones = Vec::new();
            if let Some(tones) = base.skin_tones() {
                for variant in tones.filter(|v| v.as_str() != base.as_str()) {
                    skin_tones.push(push(variant));
                }
            }
            let shortcodes: Vec<&'static str> = base.shortcodes().collect();
            let mut keywords = text::tokenize(base.name());
            for code in &shortcodes {
                keywords.extend(text::tokenize(&code.replace(['_', '-'], " ")));
            }
            keywords.extend(group_words(base.group()).iter().map(|w| (*w).to_string()));
            keywords.sort();
            keywords.dedup();
            entries.push(Entry {
                id: base_id,
                emoji: base.as_str(),
                name: base.name(),
                shortcodes,
                keywords,
                group: base.group(),
                skin_tones,
            });
        }
        let terms = build_terms(&entries);
        Catalogue { all, base_of, entry_of, entries, by_str, terms }
    }

    /// All base entries in CLDR order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The id of an emoji given as a character sequence or shortcode, normalised the
    /// way reactions are stored (`confab_core::emoji::normalize`).
    pub fn id_of(&self, emoji: &str) -> Option<EmojiId> {
        if let Some(&id) = self.by_str.get(emoji) {
            return Some(id);
        }
        confab_core::emoji::normalize(emoji).and_then(|e| self.by_str.get(e).copied())
    }

    /// The emoji characters of an id.
    pub fn as_str(&self, id: EmojiId) -> &'static str {
        self.all[id.0 as usize].as_str()
    }

    /// The base (default skin tone) of an emoji.
    pub fn base_of(&self, id: EmojiId) -> EmojiId {
        self.base_of[id.0 as usize]
    }

    /// The catalogue entry of an emoji's base.
    pub fn entry(&self, id: EmojiId) -> &Entry {
        &self.entries[self.entry_of[id.0 as usize] as usize]
    }

    /// The skin tone of an emoji, `None` if it takes none or is the default.
    pub fn skin_tone(&self, id: EmojiId) -> Option<emojis::SkinTone> {
        self.all[id.0 as usize].skin_tone().filter(|t| *t != emojis::SkinTone::Default)
    }

    /// This emoji's base in the given skin tone, if it has that tone.
    pub fn with_skin_tone(&self, id: EmojiId, tone: emojis::SkinTone) -> Option<EmojiId> {
        let base = self.all[self.base_of(id).0 as usize];
        base.with_skin_tone(tone).and_then(|e| self.by_str.get(e.as_str()).copied())
    }

    /// Number of ids (base and variants).
    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Base emoji whose shortcode, name or keyword starts with `prefix` (already
    /// lower-cased, no colons), each with its best match. Unordered.
    pub fn prefix_matches(&self, prefix: &str) -> Vec<(EmojiId, MatchKind)> {
        let mut best: HashMap<u16, MatchKind> = HashMap::new();
        if prefix.is_empty() {
            return Vec::new();
        }
        let start = self.terms.partition_point(|(term, _, _)| term.as_str() < prefix);
        for (term, entry, kind) in self.terms[start..].iter() {
            if !term.starts_with(prefix) {
                break;
            }
            let kind = if *kind == MatchKind::Shortcode && term.len() == prefix.len() {
                MatchKind::ExactShortcode
            } else {
                *kind
            };
            best.entry(*entry).and_modify(|k| *k = (*k).min(kind)).or_insert(kind);
        }
        best.into_iter().map(|(entry, kind)| (self.entries[entry as usize].id, kind)).collect()
    }
}

/// The searchable terms of every entry: shortcodes, the full name with `_` for spaces,
/// each name word and each keyword, all lower-case.
fn build_terms(entries: &[Entry]) -> Vec<(String, u16, MatchKind)> {
    let mut terms = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let i = i as u16;
        for code in &entry.shortcodes {
            terms.push((code.to_lowercase(), i, MatchKind::Shortcode));
        }
        let name = entry.name.to_lowercase();
        terms.push((name.replace(' ', "_"), i, MatchKind::Name));
        for word in name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            terms.push((word.to_string(), i, MatchKind::NameWord));
        }
        for keyword in &entry.keywords {
            terms.push((keyword.clone(), i, MatchKind::Keyword));
        }
    }
    terms.sort();
    terms.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2 == b.2);
    terms
}

/// The words of a group name, used as the weakest keywords.
fn group_words(group: emojis::Group) -> &'static [&'static str] {
    match group {
        emojis::Group::SmileysAndEmotion => &["smiley", "emotion"],
        emojis::Group::PeopleAndBody => &["people", "body"],
        emojis::Group::AnimalsAndNature => &["animal", "nature"],
        emojis::Group::FoodAndDrink => &["food", "drink"],
        emojis::Group::TravelAndPlaces => &["travel", "place"],
        emojis::Group::Activities => &["activity"],
        emojis::Group::Objects => &["object"],
        emojis::Group::Symbols => &["symbol"],
        emojis::Group::Flags => &["flag"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_the_full_set_with_variants() {
        let cat = catalogue();
        assert!(cat.entries().len() > 1800, "{}", cat.entries().len());
        let thumbs = cat.id_of(":thumbsup:").expect("thumbs up");
        let entry = cat.entry(thumbs);
        assert_eq!(entry.emoji, "👍");
        assert_eq!(entry.skin_tones.len(), 5);
        let medium = cat.id_of("👍🏽").expect("toned");
        assert_eq!(cat.base_of(medium), thumbs);
        assert_eq!(cat.skin_tone(medium), Some(emojis::SkinTone::Medium));
        assert_eq!(cat.with_skin_tone(thumbs, emojis::SkinTone::Medium), Some(medium));
        assert!(entry.keywords.iter().any(|k| k == "thumb"), "{:?}", entry.keywords);
    }

    #[test]
    fn prefix_lookup_matches_shortcodes_and_name_words() {
        let cat = catalogue();
        let tada = cat.id_of("🎉").expect("tada");
        let hits = cat.prefix_matches("tada");
        assert!(hits.contains(&(tada, MatchKind::ExactShortcode)));
        let hits = cat.prefix_matches("popp");
        assert!(hits.contains(&(tada, MatchKind::NameWord)), "{hits:?}");
        let hits = cat.prefix_matches("party_p");
        assert!(hits.contains(&(tada, MatchKind::Name)), "{hits:?}");
        assert!(cat.prefix_matches("zzzzqq").is_empty());
        assert!(cat.prefix_matches("").is_empty());
    }
}
