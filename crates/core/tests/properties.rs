//! Property tests for the parsers every client input goes through (the same bodies
//! the fuzz targets in `fuzz/` run for longer): they never panic and keep their
//! invariants on arbitrary input.

use confab_core::validate::{self, Limits};
use confab_core::{emoji, mention};
use proptest::prelude::*;

/// Strings rich in the characters the parsers care about.
fn chatty() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("@".to_string()),
            Just(":".to_string()),
            Just(" ".to_string()),
            Just("tada".to_string()),
            Just("+1".to_string()),
            Just("ada".to_string()),
            Just("é".to_string()),
            Just("👍🏽".to_string()),
            Just("\u{fe0f}".to_string()),
            "[a-z0-9_.-]{1,6}",
            any::<char>().prop_map(|c| c.to_string()),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn mentions_are_valid_lowercase_and_unique(text in chatty()) {
        let names = mention::mentioned_usernames(&text);
        let lower = text.to_ascii_lowercase();
        for (i, name) in names.iter().enumerate() {
            prop_assert!(!name.is_empty());
            prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b)));
            prop_assert!(!names[..i].contains(name), "duplicate {name}");
            let needle = format!("@{name}");
            prop_assert!(lower.contains(&needle), "{name} is not mentioned in {text:?}");
        }
    }

    #[test]
    fn emoji_normalisation_is_idempotent(input in chatty()) {
        if let Some(e) = emoji::normalize(&input) {
            prop_assert_eq!(emoji::normalize(e), Some(e));
        }
    }

    #[test]
    fn shortcode_expansion_leaves_colonless_text_alone(text in chatty()) {
        let expanded = emoji::expand_shortcodes(&text);
        if !text.contains(':') {
            prop_assert_eq!(&expanded, &text);
        }
        // Expansion only ever removes `:code:` runs: it never adds colons.
        prop_assert!(expanded.matches(':').count() <= text.matches(':').count());
    }

    #[test]
    fn validators_never_panic_and_accept_what_they_promise(text in chatty(), n in 0usize..100) {
        let limits = Limits { max_message_chars: n.max(1), ..Limits::default() };
        if let Ok(kept) = limits.message_text(&text) {
            prop_assert!(kept.chars().count() <= n.max(1));
            prop_assert!(!kept.is_empty());
        }
        if validate::channel_name(&text).is_ok() {
            prop_assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'));
        }
        let _ = validate::email(&text);
        let _ = validate::username(&text);
        let _ = limits.client_id("req", &text);
    }

    #[test]
    fn parsed_ids_round_trip(text in "[0-9A-Za-z]{0,30}") {
        // Crockford base32 also reads I, L and O as 1, 1 and 0; the printed form is
        // canonical and parses back to the same id.
        if let Ok(id) = confab_core::UserId::parse(&text) {
            prop_assert_eq!(text.len(), 26);
            prop_assert_eq!(confab_core::UserId::parse(&id.to_string()).unwrap(), id);
        }
    }
}
