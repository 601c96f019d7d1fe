//! The bodies of Confab's fuzz targets, one public function per target. Each takes
//! arbitrary bytes, feeds them to a parser the server exposes to the network or to an
//! operator, and asserts the parser's invariants (a panic is a finding). The
//! libFuzzer binaries in `fuzz_targets/` call these, and `tests/properties.rs` runs
//! the same bodies as property tests on stable Rust.

use std::io::Write;
use std::path::PathBuf;

use confab_core::validate::{self, Limits};
use confab_core::{emoji, mention};
use confab_protocol::http;
use confab_protocol::ws::ClientFrame;
use serde::Serialize;

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

// ---------------------------------------------------------------------------------
// WebSocket client frames: `confab_protocol::ws::ClientFrame`, which server/src/ws.rs
// parses every frame into.

/// Parses a value, then checks that writing it back and reading that again gives the
/// same value (what the server accepted, it understood one way only).
fn round_trips<T>(raw: &str) -> Option<T>
where
    T: serde::de::DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let value: T = serde_json::from_str(raw).ok()?;
    let again: T = serde_json::from_str(&serde_json::to_string(&value).expect("serialises"))
        .expect("a frame the server accepted re-reads");
    assert_eq!(value, again, "frame does not round-trip: {raw}");
    Some(value)
}

/// Target `ws_frame`: client frames as the server decodes them. Invariants: no panic;
/// every accepted frame round-trips and has one of the documented types; a `send`
/// frame's text is then accepted or rejected by the message rules without panicking,
/// and its shortcode expansion and mentions keep their own invariants.
pub fn ws_frame(data: &[u8]) {
    let Some(raw) = text(data) else { return };
    let Some(frame) = round_trips::<ClientFrame>(raw) else { return };
    assert!(ClientFrame::TYPES.contains(&frame.type_name()), "undocumented frame type in {raw}");
    if let ClientFrame::Send(send) = frame {
        if let Ok(t) = Limits::default().message_text(&send.text) {
            expansion_invariants(t);
        }
    }
}

// ---------------------------------------------------------------------------------
// HTTP request bodies: `confab_protocol::http`, which the server's handlers read.

/// Target `request_bodies`: the first byte picks a request type, the rest is its
/// JSON body (or, for `HistoryQuery`, its query string). Invariants: no panic, and a
/// body that decodes goes through its validation rules without panicking; accepted
/// channel names, texts and ids satisfy their documented shapes.
pub fn request_bodies(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else { return };
    let Some(raw) = text(rest) else { return };
    let limits = Limits::default();
    match which % 5 {
        0 => {
            if let Ok(r) = serde_json::from_str::<http::SignupRequest>(raw) {
                validate_email(&r.email);
                let _ = limits.password(&r.password);
                display_name_invariants(&limits, &r.display_name);
                if let Some(u) = &r.username {
                    username_invariants(u);
                }
                if let Some(code) = &r.invite {
                    client_id_invariants(&limits, code);
                }
            }
        }
        1 => {
            if let Ok(r) = serde_json::from_str::<http::CreateChannel>(raw) {
                channel_name_invariants(&r.name);
                let _ = limits.topic(&r.topic);
            }
        }
        2 => {
            if let Ok(r) = serde_json::from_str::<http::PostMessage>(raw) {
                if let Ok(t) = limits.message_text(&r.text) {
                    message_text_invariants(&limits, &r.text, t);
                    expansion_invariants(t);
                }
                if let Some(id) = &r.client_msg_id {
                    client_id_invariants(&limits, id);
                }
            }
        }
        3 => {
            let _ = serde_json::from_str::<http::CreateInvite>(raw);
        }
        _ => {
            let _ = serde_urlencoded::from_str::<http::HistoryQuery>(raw);
            let _ = serde_json::from_str::<http::HistoryQuery>(raw);
        }
    }
}

// ---------------------------------------------------------------------------------
// Configuration.

fn scratch_file() -> PathBuf {
    thread_local! {
        static DIR: tempfile::TempDir = tempfile::tempdir().expect("temp dir");
    }
    DIR.with(|d| d.path().join("confab.toml"))
}

/// Target `config`: the bytes as a TOML settings file, and as `KEY=VALUE` lines of
/// environment. Invariants: no panic; loading is deterministic; a file with a
/// top-level table that is not a known section is rejected (unknown keys are
/// errors, as config/default.toml promises).
pub fn config(data: &[u8]) {
    let Some(raw) = text(data) else { return };
    let path = scratch_file();
    {
        let mut f = std::fs::File::create(&path).expect("scratch file");
        f.write_all(raw.as_bytes()).expect("write scratch file");
    }
    let first = outcome(confab_server::config::Config::load_from(Some(&path), std::iter::empty()));
    let second = outcome(confab_server::config::Config::load_from(Some(&path), std::iter::empty()));
    assert_eq!(first, second, "config loading is not deterministic");

    let env: Vec<(String, String)> = raw
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (format!("CONFAB_{k}"), v.to_string()))
        .collect();
    let _ = confab_server::config::Config::load_from(None, env);

    // An unknown section must never be accepted silently.
    let unknown = format!("{raw}\n[zz_not_a_section]\nkey = 1\n");
    std::fs::write(&path, unknown).expect("write scratch file");
    if let Ok(c) = confab_server::config::Config::load_from(Some(&path), std::iter::empty()) {
        panic!("an unknown [zz_not_a_section] table was accepted: {c:?}");
    }
}

/// What loading a configuration gave, for comparing two loads: the settings, or the
/// error's message chain. Not the error's `Debug` form: an `anyhow::Error` captures a
/// backtrace when `RUST_BACKTRACE` or `RUST_LIB_BACKTRACE` is set, and `Debug` prints
/// it. Two loads from different lines of this function would always differ.
fn outcome<E: std::fmt::Display>(loaded: Result<confab_server::config::Config, E>) -> Result<String, String> {
    loaded.map(|c| format!("{c:?}")).map_err(|e| format!("{e:#}"))
}

// ---------------------------------------------------------------------------------
// Mentions, emoji, validation.

/// Target `mention`. Invariants: no panic; each name is non-empty, only
/// `[a-z0-9_.-]`, does not end with `.`, appears once, and `@name` occurs in the
/// lower-cased text; there are no more names than `@`s.
pub fn mention(data: &[u8]) {
    let Some(raw) = text(data) else { return };
    mention_invariants(raw);
}

fn mention_invariants(text: &str) -> Vec<String> {
    let names = mention::mentioned_usernames(text);
    let lower = text.to_ascii_lowercase();
    assert!(names.len() <= text.matches('@').count(), "more mentions than @s in {text:?}");
    for (i, name) in names.iter().enumerate() {
        assert!(!name.is_empty(), "empty mention in {text:?}");
        assert!(
            name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b)),
            "mention {name:?} has characters a username cannot have ({text:?})"
        );
        assert!(!name.ends_with('.'), "mention {name:?} ends with a dot ({text:?})");
        assert!(!names[..i].contains(name), "mention {name:?} reported twice ({text:?})");
        assert!(lower.contains(&format!("@{name}")), "mention {name:?} not in {text:?}");
    }
    names
}

/// Target `emoji`. Invariants: no panic; `normalize` returns a catalogue emoji that
/// normalises to itself; `expand_shortcodes` leaves text without `:` unchanged and
/// leaves no `:code:` that names an emoji where its opening colon starts a word.
pub fn emoji(data: &[u8]) {
    let Some(raw) = text(data) else { return };
    if let Some(e) = emoji::normalize(raw) {
        assert!(!e.is_empty());
        assert_eq!(emoji::normalize(e), Some(e), "normalize is not idempotent for {raw:?}");
    }
    expansion_invariants(raw);
}

fn expansion_invariants(input: &str) -> String {
    let out = emoji::expand_shortcodes(input);
    if !input.contains(':') {
        assert_eq!(out, input, "text without colons changed");
    }
    if let Some(code) = leftover_shortcode(&out) {
        panic!("expand_shortcodes({input:?}) = {out:?} still holds :{code}:");
    }
    let _ = mention_invariants(&out);
    out
}

/// The first `:code:` in `s` whose opening colon does not follow a letter or digit
/// and whose code is a known shortcode.
pub fn leftover_shortcode(s: &str) -> Option<String> {
    for (i, _) in s.match_indices(':') {
        let opens_word = !s[..i].chars().next_back().is_some_and(char::is_alphanumeric);
        if !opens_word {
            continue;
        }
        let after = &s[i + 1..];
        let len = after.find(':')?;
        let code = &after[..len];
        let plausible = !code.is_empty()
            && code.len() <= 64
            && code.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b));
        if plausible && emoji::normalize(&format!(":{code}:")).is_some() && is_shortcode(code) {
            return Some(code.to_string());
        }
    }
    None
}

fn is_shortcode(code: &str) -> bool {
    // `normalize` also accepts emoji characters; a code here is ASCII, so a hit means
    // a shortcode.
    code.is_ascii() && emoji::normalize(code).is_some()
}

/// Target `validate`: the bytes as newline-separated fields, each run through every
/// rule. Invariants: no panic, and whatever a rule accepts has the documented shape.
pub fn validate(data: &[u8]) {
    let Some(raw) = text(data) else { return };
    let limits = Limits { max_message_chars: 64, ..Limits::default() };
    for field in raw.split('\n').chain(std::iter::once(raw)) {
        channel_name_invariants(field);
        username_invariants(field);
        validate_email(field);
        client_id_invariants(&limits, field);
        display_name_invariants(&limits, field);
        if let Ok(t) = limits.message_text(field) {
            message_text_invariants(&limits, field, t);
        }
        if let Ok(t) = limits.topic(field) {
            assert!(t.chars().count() <= limits.max_topic_chars);
        }
        if limits.password(field).is_ok() {
            let n = field.chars().count();
            assert!((limits.min_password_chars..=limits.max_password_chars).contains(&n));
        }
    }
}

fn channel_name_invariants(name: &str) {
    if validate::channel_name(name).is_ok() {
        assert!((1..=80).contains(&name.len()), "channel name {name:?}");
        assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b)));
    }
}

fn username_invariants(name: &str) {
    if validate::username(name).is_ok() {
        assert!((2..=32).contains(&name.len()), "username {name:?}");
        assert!(name.as_bytes()[0].is_ascii_alphanumeric());
        assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b)));
        // A valid username is found again as a mention of itself.
        assert_eq!(
            mention::mentioned_usernames(&format!("@{name}")).first().map(String::as_str),
            Some(name.trim_end_matches('.'))
        );
    }
}

fn validate_email(email: &str) {
    if validate::email(email).is_ok() {
        assert!(email.len() <= 254 && email.contains('@'));
        assert!(!email.chars().any(char::is_whitespace), "email {email:?}");
    }
}

fn client_id_invariants(limits: &Limits, id: &str) {
    if limits.client_id("client_msg_id", id).is_ok() {
        assert!(!id.is_empty() && id.len() <= limits.max_client_id_chars);
        assert!(id.bytes().all(|b| b.is_ascii_graphic()), "client id {id:?}");
    }
}

fn display_name_invariants(limits: &Limits, name: &str) {
    if let Ok(n) = limits.display_name(name) {
        assert!(!n.is_empty() && !n.contains('\n'));
        assert_eq!(n, n.trim());
        assert!(n.chars().count() <= limits.max_display_name_chars);
    }
}

fn message_text_invariants(limits: &Limits, raw: &str, accepted: &str) {
    assert_eq!(accepted, raw.trim(), "message text is not the trimmed input");
    assert!(!accepted.is_empty());
    assert!(accepted.chars().count() <= limits.max_message_chars);
    assert!(
        !accepted.chars().any(|c| c.is_control() && !"\n\t\r".contains(c)),
        "control character in {accepted:?}"
    );
}
