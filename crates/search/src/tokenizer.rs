//! Tokenisation for chat text.
//!
//! Chat mixes prose with code, paths and links, so the tokenizer splits on whitespace
//! first and then treats each chunk in one of two ways:
//!
//! - a plain word (`hello`, `naïve`) is one token;
//! - a compound chunk (`snake_case`, `CamelCase`, `src/lib.rs`, `https://x.io/a`,
//!   `don't`) yields the *whole* chunk as one token and each of its *parts* as tokens
//!   of their own, so both `snake_case` and `case` find it.
//!
//! The whole token sits at the position of the first part and spans all of them
//! (`position_length`), so phrase queries built from parts still line up. Leading and
//! trailing punctuation of a chunk (`(see`, `done.`) is dropped. Tokens are then
//! lower-cased and accents folded to ASCII (`café` → `cafe`).
//!
//! Stems live in the same field as exact forms: when the English Snowball stem of a
//! word differs from the word, the index analyzer emits it as a second token at the
//! same position, prefixed with [`STEM_MARKER`] (`running` → `running`, `\u{1}run`).
//! A word query matches the exact form, the stem as a word, or the marked stem, so
//! `runs` finds `running`, and an exact-form match scores higher (it matches twice).
//! One field instead of a stemmed and an exact one halves tokenization and postings,
//! which is most of the indexing cost. Compound wholes are not stemmed.
//!
//! Known limit: scripts written without spaces (Chinese, Japanese) are not segmented;
//! a run of such text is one token.

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, TextAnalyzer, Token, TokenFilter, TokenStream,
    Tokenizer, TokenizerManager,
};

/// The analyzer of the text field: exact forms plus marked stems.
pub const INDEX_ANALYZER: &str = "confab_chat";

/// Prefix of a stem token in the index (a control character no text token contains).
pub const STEM_MARKER: char = '\u{1}';

/// Tokens longer than this (in bytes) are dropped: they are noise (base64, hashes)
/// and would bloat the term dictionary. Parts of a long URL are still indexed.
const MAX_TOKEN_BYTES: usize = 120;

/// Registers the index analyzer under its name.
pub fn register(manager: &TokenizerManager) {
    manager.register(INDEX_ANALYZER, index_analyzer());
}

/// What the index stores: lower-cased, ASCII-folded tokens, each followed by its
/// marked stem when that differs.
pub fn index_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(ChatTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StemAlongside)
        .build()
}

/// Lower-cased, ASCII-folded tokens without stems: how queries are analyzed.
pub fn exact_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(ChatTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The English stem of an already lower-cased, folded token.
pub fn stem(token: &str) -> String {
    frostem::Stemmer::new(frostem::Algorithm::English).stem(token).into_owned()
}

/// The index token of a stem.
pub fn marked(stem: &str) -> String {
    let mut out = String::with_capacity(stem.len() + 1);
    out.push(STEM_MARKER);
    out.push_str(stem);
    out
}

/// Token filter that follows each token with its marked stem when the stem differs.
#[derive(Clone)]
pub struct StemAlongside;

impl TokenFilter for StemAlongside {
    type Tokenizer<T: Tokenizer> = StemAlongsideFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> StemAlongsideFilter<T> {
        StemAlongsideFilter { inner: tokenizer }
    }
}

#[derive(Clone)]
pub struct StemAlongsideFilter<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for StemAlongsideFilter<T> {
    type TokenStream<'a> = StemAlongsideStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        StemAlongsideStream {
            tail: self.inner.token_stream(text),
            stemmer: frostem::Stemmer::new(frostem::Algorithm::English),
            stem: Token::default(),
            stem_pending: false,
            on_stem: false,
        }
    }
}

pub struct StemAlongsideStream<T> {
    tail: T,
    stemmer: frostem::Stemmer,
    stem: Token,
    /// The next `advance` yields `stem`.
    stem_pending: bool,
    /// The current token is `stem`.
    on_stem: bool,
}

impl<T: TokenStream> TokenStream for StemAlongsideStream<T> {
    fn advance(&mut self) -> bool {
        if self.stem_pending {
            self.stem_pending = false;
            self.on_stem = true;
            return true;
        }
        self.on_stem = false;
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token();
        if !is_compound_whole(token) {
            let stemmed = self.stemmer.stem(&token.text);
            if stemmed != token.text.as_str() {
                self.stem.text.clear();
                self.stem.text.push(STEM_MARKER);
                self.stem.text.push_str(&stemmed);
                self.stem.offset_from = token.offset_from;
                self.stem.offset_to = token.offset_to;
                self.stem.position = token.position;
                self.stem.position_length = token.position_length;
                self.stem_pending = true;
            }
        }
        true
    }

    fn token(&self) -> &Token {
        if self.on_stem { &self.stem } else { self.tail.token() }
    }

    fn token_mut(&mut self) -> &mut Token {
        if self.on_stem { &mut self.stem } else { self.tail.token_mut() }
    }
}

/// Runs `analyzer` over `text` and collects its tokens.
pub fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        tokens.push(stream.token().clone());
    }
    tokens
}

/// Whether a token is the whole of a compound chunk (it spans several parts).
pub fn is_compound_whole(token: &Token) -> bool {
    token.position_length > 1
}

/// The chat tokenizer described in the module docs. It tokenizes eagerly into a
/// reusable buffer (chat messages are short), reusing the tokens' strings from one
/// text to the next so that indexing allocates little.
#[derive(Clone, Default)]
pub struct ChatTokenizer {
    tokens: TokenBuffer,
}

#[derive(Clone, Default)]
struct TokenBuffer {
    tokens: Vec<Token>,
    len: usize,
}

impl TokenBuffer {
    fn push(&mut self, text: &str, from: usize, to: usize, position: usize, position_length: usize) {
        if self.len == self.tokens.len() {
            self.tokens.push(Token::default());
        }
        let token = &mut self.tokens[self.len];
        token.offset_from = from;
        token.offset_to = to;
        token.position = position;
        token.position_length = position_length;
        token.text.clear();
        token.text.push_str(&text[from..to]);
        self.len += 1;
    }
}

pub struct ChatTokenStream<'a> {
    tokens: &'a mut [Token],
    /// Index of the current token plus one (0 before the first `advance`).
    next: usize,
}

impl Tokenizer for ChatTokenizer {
    type TokenStream<'a> = ChatTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> ChatTokenStream<'a> {
        self.tokens.len = 0;
        split_chat_text(text, &mut self.tokens);
        let len = self.tokens.len;
        ChatTokenStream { tokens: &mut self.tokens.tokens[..len], next: 0 }
    }
}

impl TokenStream for ChatTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next.saturating_sub(1)]
    }

    fn token_mut(&mut self) -> &mut Token {
        let index = self.next.saturating_sub(1);
        &mut self.tokens[index]
    }
}

/// Splits `text` into tokens as described in the module docs (no case folding here).
fn split_chat_text(text: &str, out: &mut TokenBuffer) {
    let mut position = 0usize;
    let mut parts: Vec<(usize, usize)> = Vec::new();
    for (chunk_start, chunk) in whitespace_chunks(text) {
        // Trim punctuation around the chunk: `(see`, `done.`, `"quoted"`.
        let Some(first) = chunk.char_indices().find(|(_, c)| c.is_alphanumeric()) else {
            continue;
        };
        let last_end = chunk
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_alphanumeric())
            .map_or(chunk.len(), |(i, c)| i + c.len_utf8());
        let start = chunk_start + first.0;
        let end = chunk_start + last_end;

        parts.clear();
        split_parts(text, start, end, &mut parts);
        if parts.len() == 1 {
            out.push(text, start, end, position, 1);
            position += 1;
            continue;
        }
        out.push(text, start, end, position, parts.len());
        for (offset, &(part_start, part_end)) in parts.iter().enumerate() {
            out.push(text, part_start, part_end, position + offset, 1);
        }
        position += parts.len();
    }
}

/// Yields `(byte offset, chunk)` for each maximal run of non-whitespace characters.
fn whitespace_chunks(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest_start = 0usize;
    std::iter::from_fn(move || {
        let rest = &text[rest_start..];
        let skip = rest.find(|c: char| !c.is_whitespace())?;
        let start = rest_start + skip;
        let len = text[start..].find(char::is_whitespace).unwrap_or(text.len() - start);
        rest_start = start + len;
        Some((start, &text[start..start + len]))
    })
}

/// Pushes the parts of `text[start..end]`: runs of letters and digits, with camel-case
/// runs split at case changes (`parseHTTPRequest` → `parse`, `HTTP`, `Request`).
fn split_parts(text: &str, start: usize, end: usize, parts: &mut Vec<(usize, usize)>) {
    let chunk = &text[start..end];
    let mut run_start: Option<usize> = None;
    let mut prev: Option<char> = None;
    let mut chars = chunk.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        if !c.is_alphanumeric() {
            if let Some(s) = run_start.take() {
                parts.push((start + s, start + i));
            }
        } else if let (Some(s), Some(p)) = (run_start, prev) {
            let lower_to_upper = p.is_lowercase() && c.is_uppercase();
            let acronym_end = p.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase);
            if lower_to_upper || acronym_end {
                parts.push((start + s, start + i));
                run_start = Some(i);
            }
        } else {
            run_start = Some(i);
        }
        prev = Some(c);
    }
    if let Some(s) = run_start {
        parts.push((start + s, end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
        analyze(analyzer, text).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn plain_words_are_lowercased_folded_and_trimmed() {
        let mut exact = exact_analyzer();
        assert_eq!(texts(&mut exact, "Hello, Café (naïve) WORLD!"), ["hello", "cafe", "naive", "world"]);
    }

    #[test]
    fn the_index_has_marked_stems_beside_exact_forms() {
        let mut index = index_analyzer();
        let tokens = analyze(&mut index, "Running jumps fast snake_cases");
        let at: Vec<(&str, usize)> = tokens.iter().map(|t| (t.text.as_str(), t.position)).collect();
        assert_eq!(
            at,
            [
                ("running", 0),
                ("\u{1}run", 0),
                ("jumps", 1),
                ("\u{1}jump", 1),
                ("fast", 2),
                ("snake_cases", 3),
                ("snake", 3),
                ("cases", 4),
                ("\u{1}case", 4),
            ]
        );
        assert_eq!(stem("deploying"), "deploy");
        assert_eq!(marked("run"), "\u{1}run");
    }

    #[test]
    fn code_like_chunks_yield_whole_and_parts() {
        let mut exact = exact_analyzer();
        assert_eq!(texts(&mut exact, "snake_case"), ["snake_case", "snake", "case"]);
        assert_eq!(texts(&mut exact, "CamelCase"), ["camelcase", "camel", "case"]);
        assert_eq!(texts(&mut exact, "parseHTTPRequest"), ["parsehttprequest", "parse", "http", "request"]);
        assert_eq!(texts(&mut exact, "src/lib.rs."), ["src/lib.rs", "src", "lib", "rs"]);
        assert_eq!(
            texts(&mut exact, "see https://example.com/a_b"),
            ["see", "https://example.com/a_b", "https", "example", "com", "a", "b"]
        );
    }

    #[test]
    fn positions_let_parts_form_phrases() {
        let mut exact = exact_analyzer();
        let tokens = analyze(&mut exact, "fix snake_case now");
        let at: Vec<(&str, usize, usize)> =
            tokens.iter().map(|t| (t.text.as_str(), t.position, t.position_length)).collect();
        assert_eq!(at, [("fix", 0, 1), ("snake_case", 1, 2), ("snake", 1, 1), ("case", 2, 1), ("now", 3, 1)]);
    }

    #[test]
    fn offsets_point_at_the_original_text() {
        let mut exact = exact_analyzer();
        let text = "¡Olé! a_b";
        for token in analyze(&mut exact, text) {
            assert!(text.is_char_boundary(token.offset_from) && text.is_char_boundary(token.offset_to));
        }
        assert!(texts(&mut exact, "  ... --- ").is_empty());
    }
}
