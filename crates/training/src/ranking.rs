//! The `search_ranking` pipeline: a logistic regression on logged search impressions
//! and clicks (`search_interactions`), producing [`RankingWeights`].
//!
//! Each interaction carries the ranking features of the shown hit by name; the names
//! are those of search's [`FeatureVector`] (read from its serialised form, so a feature
//! added there is picked up here), unknown names are ignored, missing ones are 0,
//! values are clamped to `[0, 1]`. The impressions of one search (searcher and query
//! id) are kept together; searches with no click or a single result are skipped. The
//! split is by time: the searches started in the latest `heldout_share` are held out.
//! `P(click) = σ(bias + w·x)` is fitted by Newton's method (fixed iterations, fixed
//! order, no randomness); its logit is exactly the linear score serving computes.
//!
//! Evaluation: NDCG@10 of the held-out searches' clicks, results ordered by the trained
//! weights and by [`RankingWeights::default`] (ties by message id).

use std::collections::BTreeMap;

use confab_consent::WorkspaceSnapshot;
use confab_core::{MessageId, UserId, WorkspaceId};
use confab_search::ranking::{self, FeatureVector, RANKING_WEIGHTS_FORMAT, RankingWeights};

use crate::config::TrainingConfig;
use crate::error::TrainingError;
use crate::fit::{Binary, logistic_regression};
use crate::manifest::Evaluation;
use crate::split::{ndcg_at, split_time};

pub(crate) struct RankingOutput {
    pub weights: RankingWeights,
    pub evaluation: Evaluation,
    pub member_counts: BTreeMap<WorkspaceId, usize>,
}

/// One search: its results' features and clicks.
struct Search {
    results: Vec<(MessageId, FeatureVector, Vec<f64>, bool)>,
}

/// The feature names, in `FeatureVector`'s serialised order.
pub(crate) fn feature_names() -> Result<Vec<String>, TrainingError> {
    match serde_json::to_value(FeatureVector::default()) {
        Ok(serde_json::Value::Object(map)) => Ok(map.keys().cloned().collect()),
        _ => Err(TrainingError::InvalidArtifact("search's FeatureVector is not a JSON object".into())),
    }
}

fn vector_of(
    names: &[String],
    features: &BTreeMap<String, f64>,
) -> Result<(FeatureVector, Vec<f64>), TrainingError> {
    let values: Vec<f64> = names
        .iter()
        .map(|n| features.get(n).copied().filter(|v| v.is_finite()).map_or(0.0, |v| v.clamp(0.0, 1.0)))
        .collect();
    let map: serde_json::Map<String, serde_json::Value> =
        names.iter().cloned().zip(values.iter().map(|v| serde_json::Value::from(*v as f32))).collect();
    let fv: FeatureVector = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| TrainingError::InvalidArtifact(format!("feature vector: {e}")))?;
    // The vector the model sees is exactly what serving sees: f32 values.
    let values = values.iter().map(|v| f64::from(*v as f32)).collect();
    Ok((fv, values))
}

/// Builds weights from `[bias, w…]` through search's own parser, so they are valid.
fn weights_of(names: &[String], fitted: &[f64]) -> Result<RankingWeights, TrainingError> {
    let mut map = serde_json::Map::new();
    map.insert("format_version".into(), RANKING_WEIGHTS_FORMAT.into());
    map.insert("bias".into(), serde_json::Value::from(fitted[0] as f32));
    for (name, w) in names.iter().zip(&fitted[1..]) {
        map.insert(name.clone(), serde_json::Value::from(*w as f32));
    }
    let json = serde_json::Value::Object(map).to_string();
    RankingWeights::from_json(&json).map_err(|e| TrainingError::InvalidArtifact(e.to_string()))
}

pub(crate) fn train(
    workspaces: &[&WorkspaceSnapshot],
    config: &TrainingConfig,
) -> Result<RankingOutput, TrainingError> {
    let names = feature_names()?;
    let mut train_searches: Vec<Search> = Vec::new();
    let mut held_out: Vec<Search> = Vec::new();
    let mut member_counts = BTreeMap::new();
    for w in workspaces {
        // (searcher, query id) → (first time, results).
        let mut searches: BTreeMap<(UserId, &str), (i64, Search)> = BTreeMap::new();
        for s in w.search_interactions() {
            let (fv, x) = vector_of(&names, &s.features)?;
            let entry = searches
                .entry((s.user, s.query_id.as_str()))
                .or_insert((s.at, Search { results: Vec::new() }));
            entry.0 = entry.0.min(s.at);
            entry.1.results.push((s.message, fv, x, s.clicked));
        }
        let Some(split) = split_time(searches.values().map(|(at, _)| *at).collect(), config.heldout_share)
        else {
            member_counts.insert(w.workspace(), 0);
            continue;
        };
        let mut members = std::collections::BTreeSet::new();
        for ((user, _), (at, mut search)) in searches {
            search.results.sort_by_key(|r| r.0);
            search.results.dedup_by_key(|r| r.0);
            if search.results.len() < 2 || !search.results.iter().any(|r| r.3) {
                continue;
            }
            if at < split {
                members.insert(user);
                train_searches.push(search);
            } else {
                held_out.push(search);
            }
        }
        member_counts.insert(w.workspace(), members.len());
    }

    let examples: Vec<Binary> = train_searches
        .iter()
        .flat_map(|s| s.results.iter().map(|r| Binary { x: r.2.clone(), y: r.3 }))
        .collect();
    let defaults = RankingWeights::default();
    let weights = if examples.is_empty() {
        defaults.clone()
    } else {
        weights_of(&names, &logistic_regression(&examples, names.len(), config.l2, config.iterations))?
    };
    let evaluation = Evaluation {
        metric: "ndcg@10".into(),
        task: "held-out searches with a click, results re-ranked; relevance = clicked".into(),
        cases: held_out.len(),
        trained: mean_ndcg(&held_out, &weights),
        default: mean_ndcg(&held_out, &defaults),
        train_examples: train_searches.len(),
    };
    Ok(RankingOutput { weights, evaluation, member_counts })
}

fn mean_ndcg(searches: &[Search], weights: &RankingWeights) -> f64 {
    if searches.is_empty() {
        return 0.0;
    }
    let total: f64 = searches
        .iter()
        .map(|s| {
            let mut ranked: Vec<(f32, MessageId, bool)> =
                s.results.iter().map(|r| (ranking::score(&r.1, weights), r.0, r.3)).collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let relevance: Vec<bool> = ranked.iter().map(|r| r.2).collect();
            ndcg_at(&relevance, 10)
        })
        .sum();
    total / searches.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_names_come_from_search_and_round_trip() {
        let names = feature_names().unwrap();
        assert!(names.contains(&"text".to_owned()) && names.contains(&"author_affinity".to_owned()));
        let mut features = BTreeMap::new();
        features.insert("text".to_owned(), 0.5);
        features.insert("recency".to_owned(), 7.0);
        features.insert("not_a_feature".to_owned(), 1.0);
        let (fv, x) = vector_of(&names, &features).unwrap();
        assert_eq!(fv.text, 0.5);
        assert_eq!(fv.recency, 1.0, "clamped");
        assert_eq!(x.len(), names.len());
        let fitted: Vec<f64> = (0..=names.len()).map(|i| i as f64 / 10.0).collect();
        let w = weights_of(&names, &fitted).unwrap();
        assert_eq!(w.bias, 0.0);
        assert_eq!(ranking::score(&fv, &w), ranking::score(&fv, &w));
    }
}
