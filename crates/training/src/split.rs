//! The time-based train/held-out split shared by the pipelines, and the rank metrics.

use confab_core::Millis;

/// The split time of a workspace: the `(1 − heldout_share)` quantile of its record
/// times. Records strictly before it train; the rest are held out. `None` when there
/// are no records.
pub(crate) fn split_time(mut times: Vec<Millis>, heldout_share: f64) -> Option<Millis> {
    if times.is_empty() {
        return None;
    }
    times.sort_unstable();
    let index = ((times.len() as f64) * (1.0 - heldout_share)).floor() as usize;
    Some(times[index.min(times.len() - 1)])
}

/// Whether the first relevant item is within the top `k` of `ranked`.
pub(crate) fn hit_at<T>(ranked: &[T], k: usize, relevant: impl Fn(&T) -> bool) -> bool {
    ranked.iter().take(k).any(relevant)
}

/// NDCG@k of binary relevances given in ranked order.
pub(crate) fn ndcg_at(relevance_in_rank_order: &[bool], k: usize) -> f64 {
    let gain = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 =
        relevance_in_rank_order.iter().take(k).enumerate().filter(|(_, r)| **r).map(|(i, _)| gain(i)).sum();
    let relevant = relevance_in_rank_order.iter().filter(|r| **r).count();
    let ideal: f64 = (0..relevant.min(k)).map(gain).sum();
    if ideal > 0.0 { dcg / ideal } else { 0.0 }
}

/// Rounds a feature to 1e-5 so that float sums the suggestion statistics compute in
/// hash-map order cannot change the bits of a trained model.
pub(crate) fn quantise(x: f32) -> f64 {
    (f64::from(x) * 1e5).round() / 1e5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_holds_out_the_latest_share() {
        let times: Vec<Millis> = (0..10).collect();
        assert_eq!(split_time(times, 0.2), Some(8));
        assert_eq!(split_time(Vec::new(), 0.2), None);
        assert_eq!(split_time(vec![5], 0.2), Some(5));
    }

    #[test]
    fn ndcg_and_hits() {
        assert_eq!(ndcg_at(&[true, false], 10), 1.0);
        assert!((ndcg_at(&[false, true], 10) - 1.0 / 3f64.log2()).abs() < 1e-12);
        assert_eq!(ndcg_at(&[false, false], 10), 0.0);
        assert!(hit_at(&[1, 2, 3], 2, |&x| x == 2));
        assert!(!hit_at(&[1, 2, 3], 2, |&x| x == 3));
    }
}
