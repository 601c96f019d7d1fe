//! The search query language: parsing a query string into clauses.
//!
//! Grammar (whitespace separates terms; every positive term must match):
//!
//! | syntax | meaning |
//! |---|---|
//! | `word` | the word, stemmed (`deploying` finds `deploy`); the exact form ranks higher |
//! | `"exact phrase"` | the words next to each other, unstemmed |
//! | `-word`, `-"a phrase"`, `-from:@bob` | excludes what follows the `-` |
//! | `from:@name` (`@` optional) | written by that user; several `from:` mean any of them |
//! | `in:#channel` (`#` optional) | in that channel; several `in:` mean any of them |
//! | `before:YYYY-MM-DD` | strictly before that day (UTC) |
//! | `after:YYYY-MM-DD` | strictly after that day (UTC) |
//! | `on:YYYY-MM-DD` | during that day (UTC) |
//! | `has:link`, `has:reaction`, `has:mention`, `has:file`, `has:image` | messages with a link, a reaction, a mention, a file, an image |
//! | `is:thread` | a thread reply, or a thread root with replies |
//!
//! Operator names are case-insensitive. A chunk `name:value` is an operator only when
//! `name` is ASCII letters and `value` does not start with `//`, so `10:30` and
//! `https://…` are plain words; a trailing colon (`todo:`) is punctuation. Anything
//! else that looks like an operator but is not one is an error, so a typo never
//! silently widens a search: quote it (`"re:deploy"`) to search for it literally.
//!
//! Errors are [`QueryError`]s carrying the character offset (0-based, in Unicode
//! scalar values) and the offending token; they convert into
//! [`confab_core::Error`] with [`ErrorCode::InvalidQuery`].
//!
//! Names in `from:`/`in:` are resolved later, by the caller's
//! [`Resolver`](crate::Resolver); this module does no lookups.

use std::fmt;

use confab_core::{Error, ErrorCode};
use time::Date;
use time::macros::format_description;

/// Longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 1_000;

/// A parsed query: its clauses in the order they were written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedQuery {
    pub clauses: Vec<Clause>,
}

/// One term of the query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    /// Written with a leading `-`: documents matching it are excluded.
    pub negated: bool,
    /// Character offset of the clause (of its `-` when negated).
    pub position: usize,
    pub kind: ClauseKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClauseKind {
    /// A free word, as written (analysis happens when the query is compiled).
    Word(String),
    /// The text between double quotes.
    Phrase(String),
    /// A username, without `@`, lower-cased.
    From(String),
    /// A channel name, without `#`, lower-cased.
    In(String),
    Before(Date),
    After(Date),
    On(Date),
    Has(HasKind),
    IsThread,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HasKind {
    Link,
    Reaction,
    Mention,
    /// Any attached file.
    File,
    /// An attached raster image.
    Image,
}

/// A malformed query: where, what, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    /// Character offset (0-based) of the offending token.
    pub position: usize,
    /// The offending token as written (may be empty for an empty query).
    pub token: String,
    pub reason: String,
}

impl QueryError {
    pub fn new(position: usize, token: impl Into<String>, reason: impl Into<String>) -> Self {
        QueryError { position, token: token.into(), reason: reason.into() }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid query at character {} ({:?}): {}", self.position, self.token, self.reason)
    }
}

impl std::error::Error for QueryError {}

impl From<QueryError> for Error {
    fn from(e: QueryError) -> Self {
        Error::new(ErrorCode::InvalidQuery, e.to_string())
    }
}

/// Parses a query string. See the module docs for the grammar.
pub fn parse(input: &str) -> Result<ParsedQuery, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    if chars.len() > MAX_QUERY_CHARS {
        return Err(QueryError::new(
            MAX_QUERY_CHARS,
            "",
            format!("query is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    let mut clauses = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let negated = chars[i] == '-';
        if negated {
            i += 1;
            if i >= chars.len() || chars[i].is_whitespace() {
                return Err(QueryError::new(
                    start,
                    "-",
                    "`-` must be followed by a word, phrase or operator to exclude",
                ));
            }
        }
        let kind = if chars[i] == '"' {
            let open = i;
            let Some(close) = (open + 1..chars.len()).find(|&j| chars[j] == '"') else {
                let token: String = chars[open..].iter().collect();
                return Err(QueryError::new(open, token, "unbalanced quote: this phrase is never closed"));
            };
            let phrase: String = chars[open + 1..close].iter().collect();
            i = close + 1;
            if phrase.trim().is_empty() {
                return Err(QueryError::new(open, "\"\"", "empty phrase"));
            }
            ClauseKind::Phrase(phrase)
        } else {
            let word_start = i;
            while i < chars.len() && !chars[i].is_whitespace() {
                i += 1;
            }
            let word: String = chars[word_start..i].iter().collect();
            if let Some(offset) = chars[word_start..i].iter().position(|&c| c == '"') {
                return Err(QueryError::new(
                    word_start + offset,
                    word,
                    "unbalanced quote: quotes must surround a whole phrase",
                ));
            }
            parse_word(&word, word_start)?
        };
        clauses.push(Clause { negated, position: start, kind });
    }
    if clauses.is_empty() {
        return Err(QueryError::new(0, input.trim(), "empty query: type something to search for"));
    }
    if let Some(first) = clauses.first().filter(|_| clauses.iter().all(|c| c.negated)) {
        let token: String = input.chars().skip(first.position).take_while(|c| !c.is_whitespace()).collect();
        return Err(QueryError::new(
            first.position,
            token,
            "a query of only exclusions matches everything: add a word or an operator to search for",
        ));
    }
    Ok(ParsedQuery { clauses })
}

const OPERATORS: &str = "from:, in:, before:, after:, on:, has:, is:";

/// Classifies a whitespace-free chunk: operator or plain word.
fn parse_word(word: &str, position: usize) -> Result<ClauseKind, QueryError> {
    let Some((name, value)) = word.split_once(':') else {
        return Ok(ClauseKind::Word(word.to_string()));
    };
    let looks_like_operator =
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic()) && !value.starts_with("//");
    if !looks_like_operator {
        return Ok(ClauseKind::Word(word.to_string()));
    }
    let name = name.to_ascii_lowercase();
    let known = matches!(name.as_str(), "from" | "in" | "before" | "after" | "on" | "has" | "is");
    if !known {
        if value.is_empty() {
            // `todo:` in prose: the colon is punctuation.
            return Ok(ClauseKind::Word(word.to_string()));
        }
        return Err(QueryError::new(
            position,
            word,
            format!("unknown operator `{name}:` (known: {OPERATORS}); quote it to search for it as text"),
        ));
    }
    let error = |reason: String| QueryError::new(position, word, reason);
    if value.is_empty() {
        return Err(error(format!("operator `{name}:` needs a value, e.g. {}", example(&name))));
    }
    match name.as_str() {
        "from" | "in" => {
            let sigil = if name == "from" { '@' } else { '#' };
            let bare = value.strip_prefix(sigil).unwrap_or(value);
            if bare.is_empty() {
                return Err(error(format!("operator `{name}:` needs a name after `{sigil}`")));
            }
            let bare = bare.to_lowercase();
            Ok(if name == "from" { ClauseKind::From(bare) } else { ClauseKind::In(bare) })
        }
        "before" | "after" | "on" => {
            let format = format_description!("[year]-[month]-[day]");
            let date = Date::parse(value, format)
                .map_err(|_| error(format!("bad date `{value}`: expected a real day as YYYY-MM-DD")))?;
            Ok(match name.as_str() {
                "before" => ClauseKind::Before(date),
                "after" => ClauseKind::After(date),
                _ => ClauseKind::On(date),
            })
        }
        "has" => match value.to_ascii_lowercase().as_str() {
            "link" | "links" => Ok(ClauseKind::Has(HasKind::Link)),
            "reaction" | "reactions" => Ok(ClauseKind::Has(HasKind::Reaction)),
            "mention" | "mentions" => Ok(ClauseKind::Has(HasKind::Mention)),
            "file" | "files" => Ok(ClauseKind::Has(HasKind::File)),
            "image" | "images" => Ok(ClauseKind::Has(HasKind::Image)),
            _ => Err(error(format!(
                "unknown `has:` value `{value}` (known: link, reaction, mention, file, image)"
            ))),
        },
        _ => match value.to_ascii_lowercase().as_str() {
            "thread" => Ok(ClauseKind::IsThread),
            _ => Err(error(format!("unknown `is:` value `{value}` (known: thread)"))),
        },
    }
}

fn example(name: &str) -> &'static str {
    match name {
        "from" => "from:@alice",
        "in" => "in:#general",
        "before" | "after" | "on" => "on:2024-05-31",
        "has" => "has:link",
        _ => "is:thread",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::date;

    use super::*;

    fn kinds(q: &str) -> Vec<(bool, ClauseKind)> {
        parse(q).unwrap().clauses.into_iter().map(|c| (c.negated, c.kind)).collect()
    }

    fn err(q: &str) -> QueryError {
        parse(q).unwrap_err()
    }

    #[test]
    fn words_phrases_and_exclusions() {
        use ClauseKind::*;
        assert_eq!(
            kinds(r#"deploy "release notes" -staging -"old build""#),
            [
                (false, Word("deploy".into())),
                (false, Phrase("release notes".into())),
                (true, Word("staging".into())),
                (true, Phrase("old build".into())),
            ]
        );
    }

    #[test]
    fn file_operators_parse() {
        use ClauseKind::*;
        assert_eq!(
            kinds("has:file -has:images HAS:Files"),
            [(false, Has(HasKind::File)), (true, Has(HasKind::Image)), (false, Has(HasKind::File))]
        );
    }

    #[test]
    fn every_operator_parses() {
        use ClauseKind::*;
        assert_eq!(
            kinds("x from:@Alice in:#General before:2024-02-29 after:2023-12-31 on:2024-01-15"),
            [
                (false, Word("x".into())),
                (false, From("alice".into())),
                (false, In("general".into())),
                (false, Before(date!(2024 - 02 - 29))),
                (false, After(date!(2023 - 12 - 31))),
                (false, On(date!(2024 - 01 - 15))),
            ]
        );
        assert_eq!(
            kinds("HAS:link has:reactions has:mention is:thread from:bob in:ops -from:@eve"),
            [
                (false, Has(HasKind::Link)),
                (false, Has(HasKind::Reaction)),
                (false, Has(HasKind::Mention)),
                (false, IsThread),
                (false, From("bob".into())),
                (false, In("ops".into())),
                (true, From("eve".into())),
            ]
        );
    }

    #[test]
    fn colons_in_ordinary_text_are_words() {
        use ClauseKind::*;
        assert_eq!(
            kinds("meet 10:30 https://x.io/a todo:"),
            [
                (false, Word("meet".into())),
                (false, Word("10:30".into())),
                (false, Word("https://x.io/a".into())),
                (false, Word("todo:".into())),
            ]
        );
    }

    #[test]
    fn positions_count_characters() {
        let q = parse("héllo  -wörld").unwrap();
        assert_eq!(q.clauses[0].position, 0);
        assert_eq!(q.clauses[1].position, 7);
        assert_eq!(err("élan bad:x").position, 5);
    }

    #[test]
    fn malformed_queries_say_where_and_what() {
        let e = err(r#"deploy "release notes"#);
        assert_eq!((e.position, e.token.as_str()), (7, "\"release notes"));
        assert!(e.reason.contains("unbalanced quote"));

        let e = err("a b\"c");
        assert_eq!(e.position, 3);

        let e = err("deploy foo:bar");
        assert_eq!((e.position, e.token.as_str()), (7, "foo:bar"));
        assert!(e.reason.contains("unknown operator"));

        let e = err("x before:2024-13-01");
        assert_eq!((e.position, e.token.as_str()), (2, "before:2024-13-01"));
        assert!(e.reason.contains("bad date"));
        assert!(err("x on:2023-02-29").reason.contains("bad date"));
        assert!(err("x after:yesterday").reason.contains("bad date"));

        let e = err("x from:");
        assert_eq!((e.position, e.token.as_str()), (2, "from:"));
        assert!(e.reason.contains("needs a value"));
        assert!(err("x from:@").reason.contains("needs a name"));
        assert!(err("x in:#").reason.contains("needs a name"));
        assert!(err("has:pictures").reason.contains("unknown `has:` value"));
        assert!(err("is:open").reason.contains("unknown `is:` value"));

        let e = err("-spam -\"buy now\"");
        assert_eq!((e.position, e.token.as_str()), (0, "-spam"));
        assert!(e.reason.contains("only exclusions"));

        assert!(err("   ").reason.contains("empty query"));
        assert!(err("").reason.contains("empty query"));
        assert!(err("x \"  \"").reason.contains("empty phrase"));
        assert_eq!(err("x - y").position, 2);
        assert_eq!(err(&"a".repeat(MAX_QUERY_CHARS + 1)).position, MAX_QUERY_CHARS);
    }

    #[test]
    fn errors_become_invalid_query_with_the_position_in_the_message() {
        let e: Error = err("x foo:bar").into();
        assert_eq!(e.code, ErrorCode::InvalidQuery);
        assert!(e.message.contains("character 2"), "{}", e.message);
        assert!(e.message.contains("foo:bar"), "{}", e.message);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn arbitrary_strings_never_panic_and_errors_have_positions(q in any::<String>()) {
            check_total(&q)?;
        }

        #[test]
        fn query_like_strings_never_panic(
            q in r#"(-?("[a-z ]{0,6}"?|[a-z]{0,5}:[@#]?[a-z0-9-]{0,10}|[a-zé]{1,5})[ ]{0,2}){0,6}"#
        ) {
            check_total(&q)?;
        }
    }

    fn check_total(q: &str) -> Result<(), TestCaseError> {
        match parse(q) {
            Ok(parsed) => {
                prop_assert!(!parsed.clauses.is_empty());
                prop_assert!(parsed.clauses.iter().any(|c| !c.negated));
                for clause in &parsed.clauses {
                    prop_assert!(clause.position < q.chars().count());
                }
            }
            Err(e) => {
                prop_assert!(e.position <= q.chars().count().max(MAX_QUERY_CHARS));
                let core: Error = e.clone().into();
                prop_assert_eq!(core.code, ErrorCode::InvalidQuery);
                let expected = format!("character {}", e.position);
                prop_assert!(core.message.contains(&expected));
            }
        }
        Ok(())
    }
}
