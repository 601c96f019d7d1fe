//! Behaviour of the public API: suggestions, privacy, isolation and persistence.

use confab_core::{ChannelId, ChannelKind, UserId, WorkspaceId};
use confab_recommend::{
    ChannelInfo, ChannelWeights, EmojiAssociationModel, EmojiQuery, Format, MessageEvent, ModelError,
    ReactionEvent, RecommendConfig, Recommender, ScoringWeights,
};

const DAY: i64 = 24 * 60 * 60 * 1000;
const T0: i64 = 1_700_000_000_000;

fn ws(n: u128) -> WorkspaceId {
    WorkspaceId::from_bytes((0xAA00 + n).to_be_bytes())
}
fn user(n: u128) -> UserId {
    UserId::from_bytes((0xBB00 + n).to_be_bytes())
}
fn chan(n: u128) -> ChannelId {
    ChannelId::from_bytes((0xCC00 + n).to_be_bytes())
}

fn channel(r: &Recommender, w: WorkspaceId, c: ChannelId, name: &str, kind: ChannelKind) {
    r.on_channel(
        w,
        &ChannelInfo { id: c, name: name.into(), kind, created_at: T0 - 60 * DAY, topic: String::new() },
    );
}

fn say(
    r: &Recommender,
    w: WorkspaceId,
    c: ChannelId,
    author: UserId,
    text: &str,
    at: i64,
    mentions: &[UserId],
) {
    r.on_message(w, &MessageEvent { channel: c, author, text, at, mentions, reply_to_author: None });
}

fn react(r: &Recommender, w: WorkspaceId, c: ChannelId, text: &str, who: UserId, emoji: &str, at: i64) {
    r.on_reaction(
        w,
        &ReactionEvent { channel: c, message_author: user(999), message_text: text, user: who, emoji, at },
    );
}

fn emoji(
    r: &Recommender,
    w: WorkspaceId,
    who: UserId,
    prefix: Option<&str>,
    text: Option<&str>,
) -> Vec<String> {
    let query = EmojiQuery { user: who, prefix, text, limit: 8, now: T0 };
    r.suggest_emoji(w, &query, EmojiAssociationModel::builtin(), &ScoringWeights::default())
        .into_iter()
        .map(|s| s.emoji)
        .collect()
}

#[test]
fn reaction_picker_follows_the_members_own_frecency() {
    let r = Recommender::default();
    let w = ws(1);
    channel(&r, w, chan(1), "general", ChannelKind::Public);
    for i in 0..5 {
        react(&r, w, chan(1), "ok", user(1), "🦄", T0 - i * DAY);
    }
    react(&r, w, chan(1), "ok", user(2), "🐙", T0);
    assert_eq!(emoji(&r, w, user(1), None, None)[0], "🦄");
    assert_eq!(emoji(&r, w, user(2), None, None)[0], "🐙");
    // Old habits fade: a burst long ago loses to a few recent uses.
    for i in 0..20 {
        react(&r, w, chan(1), "ok", user(3), "🐢", T0 - 200 * DAY - i);
    }
    for _ in 0..2 {
        react(&r, w, chan(1), "ok", user(3), "🐝", T0 - DAY);
    }
    let picks = emoji(&r, w, user(3), None, None);
    assert_eq!(picks[0], "🐝", "{picks:?}");
    // Removing undoes adding.
    react(&r, w, chan(1), "ok", user(4), "🦊", T0);
    r.on_reaction_removed(
        w,
        &ReactionEvent {
            channel: chan(1),
            message_author: user(999),
            message_text: "ok",
            user: user(4),
            emoji: "🦊",
            at: T0,
        },
    );
    assert!(!emoji(&r, w, user(4), None, None).contains(&"🦊".to_string()));
}

#[test]
fn prefix_autocomplete_ranks_matches_and_keeps_skin_tone() {
    let r = Recommender::default();
    let w = ws(2);
    channel(&r, w, chan(1), "general", ChannelKind::Public);
    assert_eq!(emoji(&r, w, user(1), Some(":tada"), None)[0], "🎉");
    let thumbs = emoji(&r, w, user(1), Some("thumbsu"), None);
    assert_eq!(thumbs[0], "👍");
    // Every answer matches the prefix.
    for suggestion in r.suggest_emoji(
        w,
        &EmojiQuery { user: user(1), prefix: Some("sm"), text: None, limit: 20, now: T0 },
        EmojiAssociationModel::builtin(),
        &ScoringWeights::default(),
    ) {
        let matches = suggestion.shortcode.iter().any(|s| s.starts_with("sm"))
            || suggestion.name.to_lowercase().split(' ').any(|w| w.starts_with("sm"));
        assert!(matches, "{suggestion:?}");
    }
    // Frecency reorders within the matches; the member's tone is used.
    for _ in 0..3 {
        react(&r, w, chan(1), "ok", user(1), "😏", T0);
    }
    assert_eq!(emoji(&r, w, user(1), Some("sm"), None)[0], "😏");
    react(&r, w, chan(1), "ok", user(1), "👋🏾", T0);
    assert_eq!(emoji(&r, w, user(1), Some("thumbsu"), None)[0], "👍🏾");
    assert!(emoji(&r, w, user(1), Some("qqqzzz"), None).is_empty());
}

#[test]
fn prefix_autocomplete_puts_shortcodes_and_names_starting_with_the_prefix_first() {
    let r = Recommender::default();
    let w = ws(12);
    channel(&r, w, chan(1), "general", ChannelKind::Public);
    // 😂 is the workspace's favourite and the member's own, and matches `smi` only
    // through a keyword: it used to come first.
    for i in 0..10 {
        react(&r, w, chan(1), "ok", user(1), "😂", T0 - i);
        react(&r, w, chan(1), "ok", user(2), "😂", T0 - i);
    }
    let answer = r.suggest_emoji(
        w,
        &EmojiQuery { user: user(1), prefix: Some("smi"), text: None, limit: 20, now: T0 },
        EmojiAssociationModel::builtin(),
        &ScoringWeights::default(),
    );
    let starts = |s: &confab_recommend::EmojiSuggestion| {
        s.shortcode.as_deref().is_some_and(|c| c.starts_with("smi"))
            || s.name.to_lowercase().replace(' ', "_").starts_with("smi")
    };
    assert!(answer.iter().any(|s| s.emoji == "😂"), "😂 matches smi: {answer:?}");
    let first_other = answer.iter().position(|s| !starts(s)).expect("some match only by a word");
    assert!(first_other >= 3, "{answer:?}");
    assert!(answer[first_other..].iter().all(|s| !starts(s)), "{answer:?}");
    assert!(answer[..first_other].iter().any(|s| s.shortcode.as_deref() == Some("smile")), "{answer:?}");
}

#[test]
fn a_greeting_draws_a_wave_not_moons() {
    let r = Recommender::default();
    let w = ws(13);
    channel(&r, w, chan(1), "general", ChannelKind::Public);
    let picks = emoji(&r, w, user(1), None, Some("Hello team, first message"));
    assert_eq!(picks[0], "👋", "{picks:?}");
    // "first" named 🌓 first quarter moon and 🌛 first quarter moon face.
    assert!(!picks.iter().any(|e| e == "🌓" || e == "🌛"), "{picks:?}");
    assert_eq!(emoji(&r, w, user(1), None, Some("Thanks for the review"))[0], "🙏");
}

#[test]
fn text_suggestions_use_the_model_and_the_workspaces_own_reactions() {
    let r = Recommender::default();
    let w = ws(3);
    channel(&r, w, chan(1), "general", ChannelKind::Public);
    channel(&r, w, chan(2), "secret", ChannelKind::Private);
    let party = emoji(&r, w, user(1), None, Some("party tonight at my place"));
    assert!(party[..3].contains(&"🎉".to_string()) || party[..3].contains(&"🥳".to_string()), "{party:?}");
    // Learned locally in a public channel: "deploy" draws 🚀 for everyone.
    for i in 0..6 {
        react(&r, w, chan(1), "the deploy is done", user(10 + i), "🚀", T0);
        react(&r, w, chan(1), "lunch anyone", user(10 + i), "👍", T0);
    }
    assert_eq!(emoji(&r, w, user(1), None, Some("deploy finished"))[0], "🚀");
    // Words from a private channel teach nothing to others.
    for i in 0..6 {
        react(&r, w, chan(2), "acquisition news", user(20 + i), "🤫", T0);
    }
    assert!(!emoji(&r, w, user(1), None, Some("acquisition")).contains(&"🤫".to_string()));
}

#[test]
fn channel_suggestions_follow_contacts_and_never_leak_private_channels() {
    let r = Recommender::default();
    let w = ws(4);
    let me = user(1);
    let friends: Vec<UserId> = (10..16).map(user).collect();
    channel(&r, w, chan(1), "general", ChannelKind::Public);
    channel(&r, w, chan(2), "design", ChannelKind::Public);
    channel(&r, w, chan(3), "design-crit", ChannelKind::Public);
    channel(&r, w, chan(4), "board-secrets", ChannelKind::Private);
    channel(&r, w, chan(5), "old-stuff", ChannelKind::Public);
    channel(&r, w, chan(6), "dm-me-10", ChannelKind::Dm);
    channel(&r, w, chan(7), "random", ChannelKind::Public);
    for u in std::iter::once(me).chain(friends.iter().copied()) {
        r.on_join(w, chan(1), u);
    }
    for &f in &friends {
        for c in [2, 3, 4, 5] {
            r.on_join(w, chan(c), f);
        }
    }
    r.on_join(w, chan(7), user(50));
    r.on_join(w, chan(6), me);
    r.on_join(w, chan(6), friends[0]);
    r.on_channel_archived(w, chan(5), true);
    for (i, &f) in friends.iter().enumerate() {
        say(&r, w, chan(1), me, "hey", T0 - i as i64, &[f]);
    }
    say(&r, w, chan(6), me, "psst", T0, &[]);
    r.on_join(w, chan(2), me);

    let suggestions = r.suggest_channels(w, me, 10, T0, &ChannelWeights::default());
    let ids: Vec<ChannelId> = suggestions.iter().map(|s| s.channel).collect();
    assert_eq!(ids[0], chan(3), "{suggestions:?}");
    let contacts_only = ChannelWeights {
        activity: 0.0,
        similarity: 0.0,
        recency: 0.0,
        popularity: 0.0,
        ..ChannelWeights::default()
    };
    let by_contacts = r.suggest_channels(w, me, 1, T0, &contacts_only);
    assert_eq!(by_contacts[0].channel, chan(3));
    assert_eq!(by_contacts[0].reason, "6 people you talk to are here");
    for banned in [chan(1), chan(2), chan(4), chan(5), chan(6)] {
        assert!(!ids.contains(&banned), "{banned:?} in {suggestions:?}");
    }
    assert!(ids.contains(&chan(7)), "{suggestions:?}");
    for s in &suggestions {
        assert!(!s.reason.contains("board") && !s.reason.contains("dm-"), "{s:?}");
    }
    // With overlap weighted alone, the reason names the similar PUBLIC channel.
    let overlap_only = ChannelWeights {
        contacts: 0.0,
        activity: 0.0,
        recency: 0.0,
        popularity: 0.0,
        ..ChannelWeights::default()
    };
    let by_overlap = r.suggest_channels(w, me, 1, T0, &overlap_only);
    assert_eq!(by_overlap[0].channel, chan(3));
    assert!(
        by_overlap[0].reason == "similar to #design" || by_overlap[0].reason == "similar to #general",
        "{by_overlap:?}"
    );
    // A member of the private channel is still never suggested it; a stranger neither.
    assert!(
        r.suggest_channels(w, user(77), 10, T0, &ChannelWeights::default())
            .iter()
            .all(|s| s.channel != chan(4))
    );
}

/// Feeds workspace A's events; the same calls go to every recommender given.
fn feed_a(r: &Recommender, a: WorkspaceId) {
    channel(r, a, chan(1), "a-general", ChannelKind::Public);
    channel(r, a, chan(2), "a-dev", ChannelKind::Public);
    for i in 1..6 {
        r.on_join(a, chan(1), user(i));
    }
    r.on_join(a, chan(2), user(4));
    say(r, a, chan(1), user(2), "morning all ☕", T0 - DAY, &[user(1)]);
    react(r, a, chan(1), "morning all", user(1), "👍", T0 - DAY);
}

/// Workspace B: the same person (user 1) plus B's own members, an emoji and a word
/// only B uses, and channels only B has.
fn feed_b(r: &Recommender, b: WorkspaceId) {
    channel(r, b, chan(100), "b-only-channel", ChannelKind::Public);
    channel(r, b, chan(101), "b-other", ChannelKind::Public);
    for i in 0..30 {
        r.on_join(b, chan(100), user(200 + i));
        r.on_join(b, chan(101), user(200 + i));
        say(r, b, chan(100), user(200 + i), "zorblax 🦩", T0, &[user(1), user(2)]);
        react(r, b, chan(100), "zorblax morning", user(200 + i), "🦩", T0);
        react(r, b, chan(100), "zorblax morning", user(1), "🦩", T0);
    }
    r.on_join(b, chan(100), user(1));
}

#[test]
fn workspaces_are_isolated() {
    let (a, b) = (ws(10), ws(11));
    let both = Recommender::default();
    feed_a(&both, a);
    feed_b(&both, b);
    let a_only = Recommender::default();
    feed_a(&a_only, a);

    let prefixes = [None, Some("fl"), Some("flamingo"), Some("th"), Some("co")];
    let texts = [None, Some("zorblax"), Some("morning zorblax")];
    let people = [user(1), user(2), user(3), user(4), user(200)];
    let model = EmojiAssociationModel::builtin();
    let weights = ScoringWeights::default();
    for who in people {
        for prefix in prefixes {
            for text in texts {
                let query = EmojiQuery { user: who, prefix, text, limit: 10, now: T0 };
                let answer = both.suggest_emoji(a, &query, model, &weights);
                assert_eq!(answer, a_only.suggest_emoji(a, &query, model, &weights), "{query:?}");
                if prefix.is_none() {
                    assert!(answer.iter().all(|s| s.emoji != "🦩"), "{query:?} {answer:?}");
                }
            }
        }
        let channels = both.suggest_channels(a, who, 10, T0, &ChannelWeights::default());
        assert_eq!(channels, a_only.suggest_channels(a, who, 10, T0, &ChannelWeights::default()));
        for s in &channels {
            assert!([chan(1), chan(2)].contains(&s.channel), "{s:?}");
            assert!(!s.reason.contains("b-"), "{s:?}");
        }
    }
    // A member of A gets A's channels; nothing of B.
    let for_1 = both.suggest_channels(a, user(1), 10, T0, &ChannelWeights::default());
    assert_eq!(for_1.iter().map(|s| s.channel).collect::<Vec<_>>(), vec![chan(2)]);
    let exported = String::from_utf8(both.export(a).expect("export")).expect("utf8");
    assert_eq!(exported.as_bytes(), a_only.export(a).expect("export"));
    assert!(!exported.contains("zorblax") && !exported.contains("b-only") && !exported.contains('🦩'));
    assert!(!exported.contains(&user(200).to_string()));
    // B's own view does have them, so the checks above would notice a leak.
    let in_b = both.suggest_emoji(
        b,
        &EmojiQuery { user: user(3), prefix: None, text: Some("zorblax"), limit: 3, now: T0 },
        model,
        &weights,
    );
    assert_eq!(in_b[0].emoji, "🦩");
    both.forget_workspace(b);
    assert!(both.suggest_channels(b, user(200), 10, T0, &ChannelWeights::default()).is_empty());
    assert_eq!(both.workspaces(), vec![a]);
}

#[test]
fn statistics_round_trip_through_export_and_import() {
    let r = Recommender::new(RecommendConfig::default());
    let w = ws(20);
    channel(&r, w, chan(1), "general", ChannelKind::Public);
    channel(&r, w, chan(2), "eng", ChannelKind::Public);
    for i in 0..10 {
        r.on_join(w, chan(1), user(i));
        if i % 2 == 0 {
            r.on_join(w, chan(2), user(i));
        }
        say(&r, w, chan(1), user(i), "ship it 🚀", T0 - i as i64 * DAY, &[user(0)]);
        react(&r, w, chan(1), "ship it", user(i), "🚀", T0);
    }
    let bytes = r.export(w).expect("export");
    let restored = Recommender::default();
    restored.import(w, &bytes).expect("import");
    assert_eq!(restored.export(w).expect("export"), bytes);
    for who in [user(1), user(3), user(42)] {
        assert_eq!(emoji(&restored, w, who, None, Some("ship it")), emoji(&r, w, who, None, Some("ship it")));
        let before = r.suggest_channels(w, who, 5, T0, &ChannelWeights::default());
        let after = restored.suggest_channels(w, who, 5, T0, &ChannelWeights::default());
        assert_eq!(before.len(), after.len());
        for (x, y) in before.iter().zip(&after) {
            // Sums may run in another order after import: equal up to rounding.
            assert!(
                x.channel == y.channel && x.reason == y.reason && (x.score - y.score).abs() < 1e-4,
                "{x:?} {y:?}"
            );
        }
    }
    let mut snapshot: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    snapshot["format_version"] = 99.into();
    let err = restored.import(w, &serde_json::to_vec(&snapshot).expect("json")).expect_err("refused");
    assert!(
        matches!(err, ModelError::UnsupportedVersion { format: Format::Statistics, found: 99, .. }),
        "{err:?}"
    );
    let err = restored.import(w, b"not json").expect_err("refused");
    assert!(matches!(err, ModelError::Malformed { format: Format::Statistics, .. }), "{err:?}");
    assert_eq!(restored.export(w).expect("still there"), bytes);
}
