//! The `emoji_suggestions` pipeline: a word → emoji association table
//! ([`EmojiAssociationModel`]) from the text of reacted public messages and the
//! reactions they got.
//!
//! 1. Time split per workspace (the latest `heldout_share` of messages held out).
//! 2. Each training reaction is an observation (word of the message, base emoji,
//!    reacting member) for every [`tokenize`] token of the message.
//! 3. **k-threshold**: a word is eligible only if at least `min_users_per_word`
//!    distinct members *wrote* reacted messages containing it, and for the shared
//!    model also only if those messages come from `min_workspaces_shared` workspaces.
//!    A word one person typed, however often, never enters.
//! 4. **Clipping**: each reacting member counts at most once per (word, emoji), and in
//!    at most `max_counts_per_user` such counts (their most frequent ones).
//! 5. **Noise**: each count gets discrete Laplace noise with `α = exp(−ε)` (sensitivity
//!    1 after clipping); counts that end up ≤ 0 are dropped.
//! 6. Weights are `noisy(w, e) / Σₑ noisy(w, e)`, in `[0, 1]`, best
//!    `max_emoji_per_word` per word.
//!
//! Evaluation: for each held-out reaction, rank emoji by the model's summed weights
//! over the message's tokens (the association model alone), hit@5 against the
//! built-in catalogue model.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use confab_consent::WorkspaceSnapshot;
use confab_core::{MessageId, UserId, WorkspaceId};
use confab_recommend::text::tokenize;
use confab_recommend::{EmojiAssociationModel, catalogue};

use crate::config::TrainingConfig;
use crate::error::TrainingError;
use crate::manifest::{Evaluation, Privacy};
use crate::noise::NoiseRng;
use crate::split::{hit_at, split_time};

/// One held-out case: the message's tokens and the (base) emoji reacted with.
struct Case {
    tokens: Vec<String>,
    emoji: String,
}

/// What the pipeline hands the runner.
pub(crate) struct EmojiOutput {
    pub model: EmojiAssociationModel,
    pub evaluation: Evaluation,
    pub member_counts: BTreeMap<WorkspaceId, usize>,
    pub privacy: Privacy,
}

/// FNV-1a: a fixed, cheap order among a member's equally frequent counts.
fn fnv(parts: &[&str]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The catalogue's base form of an emoji (skin tones folded), if it is catalogued.
fn base_emoji(emoji: &str) -> Option<&'static str> {
    let cat = catalogue();
    cat.id_of(emoji).map(|id| cat.as_str(cat.base_of(id)))
}

/// Whether serving's validation accepts `word` as a token.
fn valid_token(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_alphanumeric() && !c.is_uppercase())
}

pub(crate) fn train(
    workspaces: &[&WorkspaceSnapshot],
    shared: bool,
    config: &TrainingConfig,
    noise: &mut NoiseRng,
) -> Result<EmojiOutput, TrainingError> {
    // word → who wrote it / in which workspaces; reactor → (word, emoji) → times.
    let mut word_authors: BTreeMap<String, BTreeSet<UserId>> = BTreeMap::new();
    let mut word_workspaces: BTreeMap<String, BTreeSet<WorkspaceId>> = BTreeMap::new();
    let mut reactor_cells: BTreeMap<UserId, BTreeMap<(String, &'static str), u32>> = BTreeMap::new();
    let mut member_counts = BTreeMap::new();
    let mut cases: Vec<Case> = Vec::new();
    let mut train_examples = 0usize;

    for w in workspaces {
        let Some(split) =
            split_time(w.messages().iter().map(|m| m.created_at).collect(), config.heldout_share)
        else {
            member_counts.insert(w.workspace(), 0);
            continue;
        };
        let by_id: HashMap<MessageId, usize> =
            w.messages().iter().enumerate().map(|(i, m)| (m.id, i)).collect();
        let mut members: BTreeSet<UserId> = BTreeSet::new();
        let file_words = file_words(w);
        let mut tokens_of: HashMap<MessageId, Vec<String>> = HashMap::new();
        let mut counted: BTreeSet<MessageId> = BTreeSet::new();
        for r in w.reactions() {
            let Some(&i) = by_id.get(&r.message) else { continue };
            let Some(emoji) = base_emoji(&r.emoji) else { continue };
            let m = &w.messages()[i];
            let tokens = tokens_of.entry(m.id).or_insert_with(|| match file_words.get(&m.id) {
                Some(files) => tokenize(&format!("{}\n{files}", m.text)),
                None => tokenize(&m.text),
            });
            if m.created_at >= split {
                cases.push(Case { tokens: tokens.clone(), emoji: emoji.to_owned() });
                continue;
            }
            if counted.insert(m.id) {
                train_examples += 1;
                members.insert(m.author);
                for t in tokens.iter() {
                    word_authors.entry(t.clone()).or_default().insert(m.author);
                    word_workspaces.entry(t.clone()).or_default().insert(w.workspace());
                }
            }
            for &user in &r.users {
                members.insert(user);
                let cells = reactor_cells.entry(user).or_default();
                for t in tokens.iter() {
                    *cells.entry((t.clone(), emoji)).or_default() += 1;
                }
            }
        }
        member_counts.insert(w.workspace(), members.len());
    }

    let eligible = |word: &str| {
        word_authors.get(word).is_some_and(|a| a.len() >= config.min_users_per_word)
            && (!shared || word_workspaces.get(word).is_some_and(|s| s.len() >= config.min_workspaces_shared))
            && valid_token(word)
    };

    // Clip: each member adds 1 to at most `max_counts_per_user` counts.
    let mut counts: BTreeMap<(String, &'static str), i64> = BTreeMap::new();
    for cells in reactor_cells.values() {
        let mut mine: Vec<(&(String, &'static str), u32)> =
            cells.iter().filter(|(cell, _)| eligible(&cell.0)).map(|(c, n)| (c, *n)).collect();
        mine.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| fnv(&[&a.0.0, a.0.1]).cmp(&fnv(&[&b.0.0, b.0.1])))
                .then_with(|| a.0.cmp(b.0))
        });
        for (cell, _) in mine.into_iter().take(config.max_counts_per_user) {
            *counts.entry(cell.clone()).or_default() += 1;
        }
    }

    // Noise, in the counts' sorted order; then per-word weights.
    let mut noisy: BTreeMap<String, Vec<(&'static str, i64)>> = BTreeMap::new();
    for ((word, emoji), count) in counts {
        let released = count + noise.discrete_laplace(config.epsilon)?;
        if released > 0 {
            noisy.entry(word).or_default().push((emoji, released));
        }
    }
    let mut weights: BTreeMap<String, Vec<(String, f32)>> = BTreeMap::new();
    for (word, list) in noisy {
        let total: i64 = list.iter().map(|(_, n)| n).sum();
        let mut entries: Vec<(String, f32)> =
            list.into_iter().map(|(e, n)| (e.to_owned(), (n as f64 / total as f64) as f32)).collect();
        entries.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        entries.truncate(config.max_emoji_per_word);
        weights.insert(word, entries);
    }
    let model = EmojiAssociationModel::new(None, weights);

    let evaluation = Evaluation {
        metric: "hit@5".into(),
        task: "held-out reactions ranked from the message's words by the association model alone".into(),
        cases: cases.len(),
        trained: hit_rate(&cases, &model),
        default: hit_rate(&cases, EmojiAssociationModel::builtin()),
        train_examples,
    };
    let privacy = Privacy {
        epsilon: config.epsilon,
        mechanism: "discrete_laplace".into(),
        sensitivity: format!(
            "each reacting member adds at most 1 to any (word, emoji) count and to at most {} counts; \
             ε is per count, so a member's total loss is at most {} × ε",
            config.max_counts_per_user, config.max_counts_per_user
        ),
        min_users_per_word: Some(config.min_users_per_word),
        min_workspaces_per_word: shared.then_some(config.min_workspaces_shared),
        noise: String::new(),
    };
    Ok(EmojiOutput { model, evaluation, member_counts, privacy })
}

/// Share of cases whose emoji is in the model's top 5 for the message's words.
fn hit_rate(cases: &[Case], model: &EmojiAssociationModel) -> f64 {
    if cases.is_empty() {
        return 0.0;
    }
    let hits = cases
        .iter()
        .filter(|case| {
            let mut scores: BTreeMap<&'static str, f32> = BTreeMap::new();
            for t in &case.tokens {
                for (emoji, w) in model.weights.get(t).into_iter().flatten() {
                    if let Some(base) = base_emoji(emoji) {
                        *scores.entry(base).or_default() += *w;
                    }
                }
            }
            let mut ranked: Vec<(&'static str, f32)> = scores.into_iter().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            hit_at(&ranked, 5, |(e, _)| *e == case.emoji)
        })
        .count();
    hits as f64 / cases.len() as f64
}

/// The words a message's files add to it when `files` is granted (the snapshot then
/// holds them): each file's name and the head of a text file's text.
fn file_words(w: &WorkspaceSnapshot) -> HashMap<MessageId, String> {
    let mut words: HashMap<MessageId, String> = HashMap::new();
    for f in w.files() {
        let entry = words.entry(f.message).or_default();
        for part in std::iter::once(f.name.as_str()).chain(f.text.as_deref()) {
            entry.push('\n');
            entry.push_str(part);
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_like_serving_checks_them() {
        assert!(valid_token("pizza") && valid_token("v2"));
        assert!(!valid_token("") && !valid_token("Pizza") && !valid_token("a-b"));
    }

    #[test]
    fn skin_tones_fold_to_the_base_emoji() {
        assert_eq!(base_emoji("👍🏽"), Some("👍"));
        assert_eq!(base_emoji("not an emoji"), None);
    }
}
