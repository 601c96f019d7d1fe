//! Highlighted snippets as plain-text fragments (never HTML): the client renders
//! `highlight: true` parts however it likes and needs no escaping rules from us.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use tantivy::tokenizer::TextAnalyzer;

use crate::tokenizer::analyze;

/// One fragment of a snippet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnippetPart {
    pub text: String,
    pub highlight: bool,
}

/// Longest snippet, in characters (plus an ellipsis at a cut end).
pub const SNIPPET_MAX_CHARS: usize = 200;
/// Characters of context kept before the first highlight when the text is cut.
const LEAD_CHARS: usize = 40;

/// The index tokens to highlight (exact forms and marked stems).
pub(crate) type HighlightTerms = HashSet<String>;

/// Builds the snippet of `text`: the whole text if short, else a window that starts a
/// little before the first highlighted term. `analyzer` is the index analyzer.
pub(crate) fn build_snippet(
    text: &str,
    terms: &HighlightTerms,
    analyzer: &mut TextAnalyzer,
) -> Vec<SnippetPart> {
    let ranges: Vec<(usize, usize)> = if terms.is_empty() {
        Vec::new()
    } else {
        analyze(analyzer, text)
            .into_iter()
            .filter(|t| terms.contains(&t.text))
            .map(|t| (t.offset_from, t.offset_to))
            .collect()
    };
    let ranges = merge(ranges);

    let (start, end) = window(text, ranges.first().map_or(0, |r| r.0));
    let mut parts = Vec::new();
    if start > 0 {
        parts.push(SnippetPart { text: "…".into(), highlight: false });
    }
    let mut at = start;
    for (from, to) in ranges {
        let (from, to) = (from.max(start), to.min(end));
        if from >= to {
            continue;
        }
        if from > at {
            push(&mut parts, &text[at..from], false);
        }
        push(&mut parts, &text[from..to], true);
        at = to;
    }
    if at < end {
        push(&mut parts, &text[at..end], false);
    }
    if end < text.len() {
        push(&mut parts, "…", false);
    }
    parts
}

fn push(parts: &mut Vec<SnippetPart>, text: &str, highlight: bool) {
    match parts.last_mut() {
        Some(last) if last.highlight == highlight => last.text.push_str(text),
        _ => parts.push(SnippetPart { text: text.to_string(), highlight }),
    }
}

/// Sorts byte ranges and merges overlapping or touching ones (a compound token and
/// its parts overlap).
fn merge(mut ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (from, to) in ranges {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    merged
}

/// The byte window shown: all of a short text, else up to `SNIPPET_MAX_CHARS`
/// characters starting `LEAD_CHARS` before `focus`, moved to a word start.
fn window(text: &str, focus: usize) -> (usize, usize) {
    if text.chars().count() <= SNIPPET_MAX_CHARS {
        return (0, text.len());
    }
    let before: Vec<(usize, char)> = text[..focus].char_indices().collect();
    let mut start = before.len().checked_sub(LEAD_CHARS).map_or(0, |k| before[k].0);
    if start > 0 {
        // Start after a space if there is one close by, so no word is cut in half.
        if let Some(space) = text[start..focus].find(char::is_whitespace) {
            start += space;
            start += text[start..].chars().next().map_or(0, char::len_utf8);
        }
    }
    let end = text[start..].char_indices().nth(SNIPPET_MAX_CHARS).map_or(text.len(), |(i, _)| start + i);
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::{index_analyzer, marked};

    fn snippet(text: &str, exact: &[&str], stems: &[&str]) -> Vec<(String, bool)> {
        let terms: HighlightTerms =
            exact.iter().map(|s| s.to_string()).chain(stems.iter().map(|s| marked(s))).collect();
        build_snippet(text, &terms, &mut index_analyzer())
            .into_iter()
            .map(|p| (p.text, p.highlight))
            .collect()
    }

    #[test]
    fn highlights_stemmed_and_exact_matches_without_markup() {
        assert_eq!(
            snippet("We <b>deployed</b> the Deploy bot", &["deploy"], &["deploy"]),
            [
                ("We <b>".to_string(), false),
                ("deployed".to_string(), true),
                ("</b> the ".to_string(), false),
                ("Deploy".to_string(), true),
                (" bot".to_string(), false),
            ]
        );
        assert_eq!(
            snippet("edit snake_case.rs now", &["snake_case.rs", "snake"], &[]),
            [("edit ".to_string(), false), ("snake_case.rs".to_string(), true), (" now".to_string(), false)]
        );
    }

    #[test]
    fn long_texts_are_cut_around_the_first_match() {
        let text = format!("{} needle {}", "hay ".repeat(100), "straw ".repeat(100));
        let parts = snippet(&text, &["needle"], &[]);
        assert!(parts.first().is_some_and(|p| p.0.starts_with("…hay") && !p.1));
        assert!(parts.last().is_some_and(|p| p.0.ends_with("straw …") && !p.1));
        assert!(parts.iter().any(|p| p.0 == "needle" && p.1));
        let shown: usize = parts.iter().map(|p| p.0.chars().count()).sum();
        assert!(shown <= SNIPPET_MAX_CHARS + 2, "{shown}");
    }

    #[test]
    fn no_match_shows_the_start() {
        assert_eq!(snippet("héllo wörld", &["zzz"], &[]), [("héllo wörld".to_string(), false)]);
    }
}
