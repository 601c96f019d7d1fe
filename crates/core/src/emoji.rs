//! Emoji normalisation: one stored form for a reaction, whether the client sent the
//! character (`👍`, `👍🏽`) or a shortcode (`:thumbsup:`, `+1`).
//!
//! The catalogue is the `emojis` crate (current Unicode emoji set plus gemoji
//! shortcodes); nothing here is a hand-written table.

/// Returns the canonical emoji for a character sequence or a shortcode (with or
/// without surrounding colons), or `None` if it is not an emoji.
pub fn normalize(input: &str) -> Option<&'static str> {
    let input = input.trim();
    if let Some(e) = emojis::get(input) {
        return Some(e.as_str());
    }
    // Clients often drop the emoji presentation selector (U+FE0F).
    let stripped: String = input.chars().filter(|&c| c != '\u{fe0f}').collect();
    if let Some(e) = emojis::get(&stripped) {
        return Some(e.as_str());
    }
    let code = input.strip_prefix(':').and_then(|s| s.strip_suffix(':')).unwrap_or(input);
    emojis::get_by_shortcode(code).map(|e| e.as_str())
}

/// Replaces every `:shortcode:` in `text` that names an emoji with the emoji itself,
/// leaving other colons untouched (`10:30`, `http://`).
pub fn expand_shortcodes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(':') {
        let after = &rest[start + 1..];
        let Some(len) = after.find(':') else { break };
        let code = &after[..len];
        // `a:b:c` and `10:30` are not shortcodes: the opening colon must not follow a
        // letter or digit.
        let opens_word = !out_tail_is_alnum(&out, &rest[..start]);
        let plausible = opens_word
            && !code.is_empty()
            && code.len() <= 64
            && code.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b));
        match plausible.then(|| emojis::get_by_shortcode(code)).flatten() {
            Some(emoji) => {
                out.push_str(&rest[..start]);
                out.push_str(emoji.as_str());
                rest = &after[len + 1..];
            }
            None => {
                // Keep the first colon and look again from the second one.
                out.push_str(&rest[..=start]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether the text just before a colon (`before`, else the end of `done`) ends in a
/// letter or digit.
fn out_tail_is_alnum(done: &str, before: &str) -> bool {
    before.chars().next_back().or_else(|| done.chars().next_back()).is_some_and(char::is_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_and_shortcodes_normalise_to_one_form() {
        assert_eq!(normalize("👍"), Some("👍"));
        assert_eq!(normalize(":thumbsup:"), Some("👍"));
        assert_eq!(normalize("+1"), Some("👍"));
        assert_eq!(normalize(":tada:"), Some("🎉"));
        assert_eq!(normalize("👍🏽"), Some("👍🏽"));
        assert_eq!(normalize("❤"), normalize("❤️"));
        assert_eq!(normalize("thumbs"), None);
        assert_eq!(normalize("<script>"), None);
        assert_eq!(normalize(""), None);
    }

    #[test]
    fn shortcodes_in_text_expand_and_other_colons_stay() {
        assert_eq!(expand_shortcodes("ship it :rocket: at 10:30"), "ship it 🚀 at 10:30");
        assert_eq!(expand_shortcodes("a:b:c :tada::tada:"), "a:b:c 🎉🎉");
        assert_eq!(expand_shortcodes("http://x.y :nope:"), "http://x.y :nope:");
        assert_eq!(expand_shortcodes(":"), ":");
    }
}
