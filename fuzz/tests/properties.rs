//! The fuzz targets' bodies as property tests, for stable Rust (libFuzzer needs
//! nightly). Inputs mix arbitrary text with text built from the pieces each parser
//! cares about (colons, shortcodes, `@`, JSON frames). Longer runs:
//! `PROPTEST_CASES=200000 cargo test --release`.

use proptest::prelude::*;

/// Text made of pieces that exercise the parsers' edges.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(":".to_string()),
        Just("::".to_string()),
        Just("@".to_string()),
        Just(".".to_string()),
        Just(" ".to_string()),
        Just("\n".to_string()),
        Just("tada".to_string()),
        Just("+1".to_string()),
        Just("thumbsup".to_string()),
        Just("m".to_string()),
        Just("x".to_string()),
        Just("10".to_string()),
        Just("é".to_string()),
        Just("Ⓜ".to_string()),
        Just("🎉".to_string()),
        Just("\u{fe0f}".to_string()),
        Just("_".to_string()),
        Just("-".to_string()),
        "[a-zA-Z0-9_.+-]{1,6}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

fn frame() -> impl Strategy<Value = String> {
    // Every arm must yield the same type: a regex strategy yields `String`.
    let ty = prop_oneof![
        Just("send".to_string()),
        Just("auth".to_string()),
        Just("typing".to_string()),
        Just("presence".to_string()),
        Just("ping".to_string()),
        "[a-z]{0,6}",
    ];
    let id = prop_oneof![Just("01HZY3Q7R6S0000000000000AB".to_string()), "[0-9A-Z]{0,28}"];
    (ty, id, tricky_text(), any::<bool>(), any::<u64>()).prop_map(|(ty, id, text, extra, n)| {
        let mut v = serde_json::json!({
            "type": ty, "req": n.to_string(), "channel": id, "text": text,
            "token": "t", "status": if extra { "away" } else { "online" },
        });
        if extra {
            v["resume"] = serde_json::json!([{ "workspace": id, "after": n }]);
            v["thread_root"] = serde_json::json!(null);
        }
        v.to_string()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn ws_frame_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) { confab_fuzz::ws_frame(&data) }

    #[test]
    fn ws_frame_shapes(f in frame()) { confab_fuzz::ws_frame(f.as_bytes()) }

    #[test]
    fn request_bodies(which in any::<u8>(), f in frame()) {
        let mut data = vec![which];
        data.extend_from_slice(f.as_bytes());
        confab_fuzz::request_bodies(&data)
    }

    #[test]
    fn request_body_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) { confab_fuzz::request_bodies(&data) }

    #[test]
    fn config_text(s in "(\\[(server|store|auth|limits|events|websocket)\\]\n)?([a-z_]{1,24} = (\"[^\"\n]{0,12}\"|[0-9]{1,6}|true))?\n?[ -~\n]{0,40}") {
        confab_fuzz::config(s.as_bytes())
    }

    #[test]
    fn mention_text(s in tricky_text()) { confab_fuzz::mention(s.as_bytes()) }

    #[test]
    fn emoji_text(s in tricky_text()) { confab_fuzz::emoji(s.as_bytes()) }

    #[test]
    fn validate_text(s in tricky_text()) { confab_fuzz::validate(s.as_bytes()) }

    #[test]
    fn arbitrary_strings(s in any::<String>()) {
        confab_fuzz::mention(s.as_bytes());
        confab_fuzz::emoji(s.as_bytes());
        confab_fuzz::validate(s.as_bytes());
    }
}

// Inputs the fuzzers found, kept as regression tests.

/// `config`, a file that does not parse: the harness compared the two loads' errors in
/// their `Debug` form, which includes a backtrace under `RUST_BACKTRACE=1`, so they
/// never matched (the bug was in the harness). Fails only with the backtrace on.
#[test]
fn config_error_with_backtrace() {
    confab_fuzz::config(b"\x0e");
}
