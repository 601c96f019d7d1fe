//! `@username` mentions in message text.

/// Yields the lower-cased usernames mentioned in `text`, each once, in order.
///
/// A mention is `@` at the start or after a character that cannot be part of a
/// username (so `me@example.com` is not one), followed by username characters.
pub fn mentioned_usernames(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '@' && !prev.is_some_and(|p| p.is_alphanumeric() || is_username_char(p)) {
            let start = i + 1;
            let mut end = start;
            while let Some(&(j, d)) = chars.peek() {
                if !is_username_char(d) {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            // A trailing dot ends a sentence, not a name.
            let name = text[start..end].trim_end_matches('.').to_ascii_lowercase();
            if !name.is_empty() && !found.contains(&name) {
                found.push(name);
            }
            prev = text[..end].chars().next_back();
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
    }
}
