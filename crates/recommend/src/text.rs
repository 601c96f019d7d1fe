//! Text handling shared by the live statistics, the association models and the
//! training crate: one tokenizer, so a word learned offline is the word looked up when
//! serving.
//!
//! Tokenizer version 1 (what [`crate::model::EmojiAssociationModel`] format 1 keys on):
//! lower-case, split on anything that is not a letter or digit, drop tokens shorter
//! than two characters and a short list of English stop words, then a light suffix
//! stemmer (`parties`→`party`, `partying`→`party`, `dogs`→`dog`). Distinct tokens only,
//! in first-seen order, at most [`MAX_TOKENS`].

use crate::catalogue::{EmojiId, catalogue};

/// Tokens kept from one text; longer texts only add noise and cost.
pub const MAX_TOKENS: usize = 64;

const STOP_WORDS: &[&str] = &[
    "about", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "for", "from", "had", "has",
    "have", "he", "her", "him", "his", "if", "in", "is", "it", "its", "me", "my", "no", "not", "of", "on",
    "or", "our", "she", "so", "that", "the", "their", "them", "then", "there", "they", "this", "to", "too",
    "us", "was", "we", "were", "what", "when", "with", "you", "your",
];

/// The distinct normalised tokens of `text` (see the module doc).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.split(|c: char| !c.is_alphanumeric()) {
        if out.len() >= MAX_TOKENS {
            break;
        }
        if raw.chars().count() < 2 {
            continue;
        }
        let lower = raw.to_lowercase();
        if STOP_WORDS.binary_search(&lower.as_str()).is_ok() {
            continue;
        }
        let token = stem(lower);
        if !out.contains(&token) {
            out.push(token);
        }
    }
    out
}

/// A light English suffix stemmer: enough to join plural and `-ing` forms with the
/// catalogue's name words, not a linguistic tool.
fn stem(mut word: String) -> String {
    let len = word.chars().count();
    if len > 5 && word.ends_with("ing") {
        word.truncate(word.len() - 3);
        // `partying` → `party`, `running` → `run`.
        let bytes = word.as_bytes();
        let n = bytes.len();
        if n >= 2 && bytes[n - 1] == bytes[n - 2] && !matches!(bytes[n - 1], b'l' | b's' | b'z') {
            word.truncate(n - 1);
        }
    } else if len > 4 && word.ends_with("ies") {
        word.truncate(word.len() - 3);
        word.push('y');
    } else if len > 3 && word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") {
        word.truncate(word.len() - 1);
    }
    word
}

/// Every catalogued emoji in `text`, in order (a `:shortcode:` counts as its emoji).
pub fn extract_emoji(text: &str) -> Vec<EmojiId> {
    let cat = catalogue();
    let expanded;
    let text = if text.contains(':') {
        expanded = confab_core::emoji::expand_shortcodes(text);
        expanded.as_str()
    } else {
        text
    };
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| !c.is_ascii()) {
        rest = &rest[start..];
        // The longest run of characters that could belong to one emoji sequence
        // (keycap bases are ASCII and are skipped: they are rare in chat).
        let run_len = rest.find(|c: char| c.is_ascii()).unwrap_or(rest.len());
        let run = &rest[..run_len];
        // Greedy: the longest prefix of the run that is an emoji, then go on after it.
        let mut ends: Vec<usize> = run.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
        ends.truncate(16);
        let mut advanced = false;
        for &end in ends.iter().rev() {
            if let Some(id) = cat.id_of(&run[..end]) {
                found.push(id);
                rest = &rest[end..];
                advanced = true;
                break;
            }
        }
        if !advanced {
            let first = run.chars().next().map_or(1, char::len_utf8);
            rest = &rest[first..];
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn tokens_are_normalised_and_distinct() {
        assert_eq!(tokenize("Parties! partying, the PARTY dogs a"), vec!["party", "dog"]);
        assert_eq!(tokenize("running glass bus"), vec!["run", "glass", "bus"]);
        assert!(tokenize("").is_empty());
        let long = "w".repeat(3) + &" x".repeat(10);
        assert_eq!(tokenize(&long), vec!["www"]);
    }

    #[test]
    fn emoji_are_found_in_text_and_shortcodes() {
        let cat = catalogue();
        let ids = extract_emoji("ship it 🚀🚀 :tada: and 👍🏽, café");
        let found: Vec<&str> = ids.iter().map(|&id| cat.as_str(id)).collect();
        assert_eq!(found, vec!["🚀", "🚀", "🎉", "👍🏽"]);
        assert!(extract_emoji("plain text, 10:30").is_empty());
    }
}
