//! Slack markup (`<@U…>`, `<#C…|name>`, `<http…|label>`, `<!here>`, `&amp;`) to the
//! plain "markdown-lite" Confab's clients render: `@username` mentions, `#channel`
//! links, bare `http(s)` URLs (autolinked; there is no `[label](url)` syntax), and
//! `@here` / `@channel` / `@everyone`.
//!
//! | Slack | Confab text |
//! |---|---|
//! | `<@U1>`, `<@U1\|ann>` | `@` + the resolver's username; unresolved: the label as plain text (no `@`, so it mentions nobody by accident), else `@U1` (upper case: never a Confab handle) |
//! | `<#C1\|general>`, `<#C1>` | `#` + the resolver's channel name, else the label, else the id |
//! | `<!here>`, `<!channel>`, `<!everyone>` (with or without `\|label`) | `@here`, `@channel`, `@everyone` |
//! | `<!subteam^S1\|@team>`, `<!date^…\|Feb 18>`, other `<!…>` | the label, else the word after `!` |
//! | `<https://x.y>`, `<https://x.y\|x.y>` | `https://x.y` (a label that only repeats the URL is dropped) |
//! | `<https://x.y\|the docs>` | `the docs (https://x.y)` |
//! | `<mailto:a@b.c\|a@b.c>` | `a@b.c`; another label: `label (mailto:a@b.c)` |
//! | `&amp;` `&lt;` `&gt;` | `&` `<` `>` (also inside URLs and labels) |
//! | `:tada:`, `*bold*`, `_it_`, `` `code` ``, `> quote` | unchanged (Confab reads them the same way) |
//!
//! A `<` without a closing `>` on the same line is kept as text.

use crate::model::{ConversationId, SlackUserId};

/// Maps Slack ids to Confab names while converting markup.
///
/// Any `Fn(&SlackUserId) -> Option<String>` is a resolver (users only).
pub trait Resolver {
    /// The Confab username (without `@`) of a Slack user, or `None` if unmapped.
    fn username(&self, user: &SlackUserId) -> Option<String>;

    /// The Confab channel name (without `#`) of a Slack conversation, or `None` to use
    /// the name the markup carries. Override it where names change (Slack's general
    /// channel becomes Confab's `#general`).
    fn channel(&self, _channel: &ConversationId) -> Option<String> {
        None
    }
}

impl<F: Fn(&SlackUserId) -> Option<String>> Resolver for F {
    fn username(&self, user: &SlackUserId) -> Option<String> {
        self(user)
    }
}

/// Converts Slack markup to Confab text (see the module's table).
pub fn convert_markup<Q: Resolver + ?Sized>(text: &str, resolver: &Q) -> String {
    convert(text, resolver, &mut |_| {})
}

/// [`convert_markup`], calling `unresolved` for every user mention the resolver could
/// not map.
pub(crate) fn convert<Q: Resolver + ?Sized>(
    text: &str,
    resolver: &Q,
    unresolved: &mut dyn FnMut(&SlackUserId),
) -> String {
    if !text.bytes().any(|b| b == b'<' || b == b'&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['<', '&']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if rest.starts_with('&') {
            let (decoded, len) = entity(rest);
            out.push_str(decoded);
            rest = &rest[len..];
            continue;
        }
        // A token runs to the next `>` on the same line.
        let Some(end) = rest[1..].find(['>', '\n']).map(|i| i + 1).filter(|&i| rest.as_bytes()[i] == b'>')
        else {
            out.push('<');
            rest = &rest[1..];
            continue;
        };
        token(&rest[1..end], resolver, unresolved, &mut out);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Decodes the entity at the start of `s` (which starts with `&`): the text and how
/// many bytes it took. Slack escapes only these three.
fn entity(s: &str) -> (&'static str, usize) {
    if s.starts_with("&amp;") {
        ("&", 5)
    } else if s.starts_with("&lt;") {
        ("<", 4)
    } else if s.starts_with("&gt;") {
        (">", 4)
    } else {
        ("&", 1)
    }
}

fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let (decoded, len) = entity(&rest[at..]);
        out.push_str(decoded);
        rest = &rest[at + len..];
    }
    out.push_str(rest);
    out
}

/// One `<…>` token's content.
fn token<Q: Resolver + ?Sized>(
    inner: &str,
    resolver: &Q,
    unresolved: &mut dyn FnMut(&SlackUserId),
    out: &mut String,
) {
    let (target, label) = match inner.split_once('|') {
        Some((t, l)) => (t, Some(decode(l)).filter(|l| !l.trim().is_empty())),
        None => (inner, None),
    };
    if let Some(id) = target.strip_prefix('@') {
        let id = SlackUserId::new(id);
        match resolver.username(&id) {
            Some(name) => {
                out.push('@');
                out.push_str(&name);
            }
            None => {
                unresolved(&id);
                match label {
                    Some(label) => out.push_str(label.trim_start_matches('@')),
                    None => {
                        out.push('@');
                        out.push_str(id.as_str());
                    }
                }
            }
        }
    } else if let Some(id) = target.strip_prefix('#') {
        out.push('#');
        match resolver.channel(&ConversationId::new(id)) {
            Some(name) => out.push_str(&name),
            None => out.push_str(label.as_deref().map_or(id, |l| l.trim_start_matches('#'))),
        }
    } else if let Some(command) = target.strip_prefix('!') {
        match command {
            "here" | "channel" | "everyone" => {
                out.push('@');
                out.push_str(command);
            }
            _ => match label {
                Some(label) => out.push_str(&label),
                None => out.push_str(command.split('^').next().unwrap_or(command)),
            },
        }
    } else {
        let url = decode(target);
        match label {
            Some(label) if !label_repeats_url(&label, &url) => {
                out.push_str(&label);
                out.push_str(" (");
                out.push_str(&url);
                out.push(')');
            }
            _ => out.push_str(url.strip_prefix("mailto:").unwrap_or(&url)),
        }
    }
}

/// Whether a link's label only repeats its URL (Slack writes `<http://a.b|a.b>` for a
/// link typed as text).
fn label_repeats_url(label: &str, url: &str) -> bool {
    let bare = |s: &str| {
        let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
        let s = s.strip_prefix("mailto:").unwrap_or(s);
        s.strip_suffix('/').unwrap_or(s).to_owned()
    };
    bare(label) == bare(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names;

    impl Resolver for Names {
        fn username(&self, user: &SlackUserId) -> Option<String> {
            match user.as_str() {
                "U1" => Some("ann".into()),
                "W2" => Some("bob.b".into()),
                _ => None,
            }
        }

        fn channel(&self, channel: &ConversationId) -> Option<String> {
            (channel.as_str() == "CGEN").then(|| "general".into())
        }
    }

    #[test]
    fn markup_table() {
        let table: &[(&str, &str)] = &[
            // Plain text passes through untouched, shortcodes and formatting included.
            ("hello :tada: *bold* _it_ `code` ~s~", "hello :tada: *bold* _it_ `code` ~s~"),
            ("", ""),
            // Users: resolved, with or without label; unresolved keep the label as plain
            // text, else the upper-case id.
            ("hi <@U1>!", "hi @ann!"),
            ("hi <@U1|annie>", "hi @ann"),
            ("<@W2>'s idea", "@bob.b's idea"),
            ("ping <@U9|zed>", "ping zed"),
            ("ping <@U9|@zed>", "ping zed"),
            ("ping <@U9>", "ping @U9"),
            // Channels: the resolver wins, else the label, else the id.
            ("see <#C1|random>", "see #random"),
            ("see <#CGEN|company>", "see #general"),
            ("see <#C7>", "see #C7"),
            // Specials.
            ("<!here> look", "@here look"),
            ("<!channel|@channel> look", "@channel look"),
            ("<!everyone>", "@everyone"),
            ("<!subteam^S1|@ops> paged", "@ops paged"),
            ("<!date^1392734382^{date_short}|Feb 18, 2014>", "Feb 18, 2014"),
            ("<!subteam^S1>", "subteam"),
            // Links: bare, label repeating the URL, real label, mailto.
            ("<https://example.com/a?b=1&amp;c=2>", "https://example.com/a?b=1&c=2"),
            ("<http://example.com|example.com>", "http://example.com"),
            ("<https://example.com/|https://example.com>", "https://example.com/"),
            ("read <https://docs.rs/zip|the zip docs> now", "read the zip docs (https://docs.rs/zip) now"),
            ("<https://x.y/?q=a&amp;b|A &amp; B>", "A & B (https://x.y/?q=a&b)"),
            ("<mailto:ann@example.com|ann@example.com>", "ann@example.com"),
            ("<mailto:ann@example.com|write Ann>", "write Ann (mailto:ann@example.com)"),
            // Entities, and what is not a token.
            ("a &amp; b &lt;c&gt; &amp;amp;", "a & b <c> &amp;"),
            ("&gt; quoted", "> quoted"),
            ("1 < 2 and &nbsp;", "1 < 2 and &nbsp;"),
            ("open < only\nnext > line", "open < only\nnext > line"),
            ("<@U1><@W2><#C1|x>", "@ann@bob.b#x"),
            ("ünïcödé <@U1> ✓", "ünïcödé @ann ✓"),
        ];
        for (input, want) in table {
            assert_eq!(convert_markup(input, &Names), *want, "input: {input:?}");
        }
    }

    #[test]
    fn closures_resolve_users_and_misses_are_reported() {
        let resolve = |u: &SlackUserId| (u.as_str() == "U1").then(|| "ann".to_string());
        assert_eq!(convert_markup("<@U1> <#C2|dev>", &resolve), "@ann #dev");
        let mut misses = Vec::new();
        let out = convert("<@U1> <@U2|bo> <@U3>", &resolve, &mut |id| misses.push(id.clone()));
        assert_eq!(out, "@ann bo @U3");
        assert_eq!(misses, vec![SlackUserId::new("U2"), SlackUserId::new("U3")]);
    }
}
