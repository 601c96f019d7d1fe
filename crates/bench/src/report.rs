//! Latency histograms and the results table the bench prints (Markdown, so it can be
//! pasted into docs/benchmarks.md as is).

use std::fmt::Write as _;
use std::sync::Mutex;

use hdrhistogram::Histogram;

/// A latency distribution in microseconds.
#[derive(Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency(Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds"))
    }
}

impl Latency {
    pub fn record_us(&mut self, us: u64) {
        self.0.saturating_record(us.max(1));
    }

    pub fn merge(&mut self, other: &Latency) {
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn min_ms(&self) -> f64 {
        self.0.min() as f64 / 1000.0
    }

    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.0.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.0.max() as f64 / 1000.0
    }

    /// `min / p50 / p99 / max ms (n)`.
    pub fn summary(&self) -> String {
        if self.count() == 0 {
            return "no samples".into();
        }
        format!(
            "min {:.2} / p50 {:.2} / p99 {:.2} / max {:.2} ms (n={})",
            self.min_ms(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.max_ms(),
            self.count()
        )
    }
}

/// Whether a figure meets its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    /// No target for this row (context, baselines).
    Info,
}

/// One line of the results table.
#[derive(Clone, Debug)]
pub struct Row {
    pub scenario: String,
    pub metric: String,
    pub value: String,
    pub target: String,
    pub verdict: Verdict,
}

/// Every row produced during a run, printed at the end.
#[derive(Default)]
pub struct Report {
    rows: Mutex<Vec<Row>>,
}

impl Report {
    /// Adds a row with no target.
    pub fn info(&self, scenario: &str, metric: &str, value: impl Into<String>) {
        self.push(scenario, metric, value.into(), String::new(), Verdict::Info);
    }

    /// Adds a row with a target: `met` says whether the value meets it.
    pub fn target(&self, scenario: &str, metric: &str, value: impl Into<String>, target: &str, met: bool) {
        let verdict = if met { Verdict::Met } else { Verdict::Missed };
        self.push(scenario, metric, value.into(), target.to_string(), verdict);
    }

    fn push(&self, scenario: &str, metric: &str, value: String, target: String, verdict: Verdict) {
        let row = Row { scenario: scenario.into(), metric: metric.into(), value, target, verdict };
        println!("  {:<10} {:<52} {}{}", row.scenario, row.metric, row.value, verdict_suffix(&row));
        if let Ok(mut rows) = self.rows.lock() {
            rows.push(row);
        }
    }

    /// The Markdown table of every row so far.
    pub fn table(&self) -> String {
        let rows = self.rows.lock().map(|r| r.clone()).unwrap_or_default();
        let mut out =
            String::from("| scenario | metric | value | target | verdict |\n|---|---|---|---|---|\n");
        for r in rows {
            let verdict = match r.verdict {
                Verdict::Met => "met",
                Verdict::Missed => "**missed**",
                Verdict::Info => "",
            };
            let _ =
                writeln!(out, "| {} | {} | {} | {} | {} |", r.scenario, r.metric, r.value, r.target, verdict);
        }
        out
    }
}

fn verdict_suffix(row: &Row) -> String {
    match row.verdict {
        Verdict::Info => String::new(),
        Verdict::Met => format!("   [target {}: met]", row.target),
        Verdict::Missed => format!("   [target {}: MISSED]", row.target),
    }
}

/// `12,345`.
pub fn thousands(n: f64) -> String {
    let n = n.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_thousands_and_quantiles() {
        assert_eq!(thousands(1234567.0), "1,234,567");
        assert_eq!(thousands(12.0), "12");
        let mut l = Latency::default();
        for us in 1..=1000 {
            l.record_us(us);
        }
        assert!((l.quantile_ms(0.5) - 0.5).abs() < 0.01);
        assert_eq!(l.count(), 1000);
    }
}
