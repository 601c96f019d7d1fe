//! `@username` mentions in message text.
//!
//! Parsing is one pass over the text with a set of the names found so far, so it is
//! linear in the text's length, and it stops at the first `max` distinct names.

use std::collections::HashSet;

/// Yields the lower-cased usernames mentioned in `text`, each once, in order.
///
/// A mention is `@` at the start or after a character that cannot be part of a
/// username (so `me@example.com` is not one), followed by username characters.
pub fn mentioned_usernames(text: &str) -> Vec<String> {
    mentioned_usernames_up_to(text, usize::MAX)
}

/// Like [`mentioned_usernames`], but stops once `max` distinct names are found.
pub fn mentioned_usernames_up_to(text: &str, max: usize) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if found.len() >= max {
            break;
        }
        if c == '@' && !prev.is_some_and(|p| p.is_alphanumeric() || is_username_char(p)) {
            let start = i + 1;
            let mut end = start;
            let mut last = c;
            while let Some(&(j, d)) = chars.peek() {
                if !is_username_char(d) {
                    break;
                }
                end = j + d.len_utf8();
                last = d;
                chars.next();
            }
            // A trailing dot ends a sentence, not a name.
            let name = text[start..end].trim_end_matches('.').to_ascii_lowercase();
            if !name.is_empty() && seen.insert(name.clone()) {
                found.push(name);
            }
            prev = Some(last);
            continue;
        }
        prev = Some(c);
    }
    found
}

fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mentions_but_not_emails() {
        assert_eq!(mentioned_usernames("hi @Alice and @bob."), ["alice", "bob"]);
        assert_eq!(mentioned_usernames("mail me@example.com"), Vec::<String>::new());
        assert_eq!(mentioned_usernames("@a @a @b_c-d"), ["a", "b_c-d"]);
        assert_eq!(mentioned_usernames("@ alone, @@x"), ["x"]);
        assert_eq!(mentioned_usernames("ünïcödé@x @é"), Vec::<String>::new());
        assert_eq!(mentioned_usernames_up_to("@a @b @a @c @d", 2), ["a", "b"]);
    }

    #[test]
    fn many_distinct_mentions_parse_in_linear_time() {
        // 150,000 distinct names: a pass that compares each name with every earlier
        // one does ~10^10 comparisons and takes minutes; a linear one, milliseconds.
        let text: String = (0..150_000).map(|i| format!("@u{i} ")).collect();
        let started = std::time::Instant::now();
        assert_eq!(mentioned_usernames(&text).len(), 150_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
    }

    #[test]
    fn parsing_stops_at_the_cap() {
        let text: String = (0..10).map(|i| format!("@u{i} ")).collect();
        assert_eq!(mentioned_usernames_up_to(&text, 3), ["u0", "u1", "u2"]);
        assert!(mentioned_usernames_up_to(&text, 0).is_empty());
    }
}
