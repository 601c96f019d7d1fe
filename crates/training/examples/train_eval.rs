//! Trains every purpose on simulated, opted-in workspaces and prints each model's
//! held-out metric against its default, with the ε spent.
//!
//! `cargo run --release -p confab-training --example train_eval`
//! Options: `--seed N` (simulator and noise), `--workspaces N`, `--conversations N`
//! (a prefix of the corpus; 0 = all), `--epsilon X`, `--corpus PATH`.
//!
//! Workspaces come from `confab_test_support::simulate` (real corpus text, senders and
//! times, planted preferences) and `confab_test_support::training::add_click_logs`
//! (planted click preference); every workspace grants every purpose with scope
//! `shared`, through the real ledger and gate. Noise is seeded so the table is
//! reproducible; served models use the OS's randomness instead. Exits non-zero only
//! on an error; models that lose to their default are listed as not servable.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use confab_consent::{Gate, Ledger, Purpose, Scope};
use confab_test_support::consent::MemoryLedgerStore;
use confab_test_support::corpus;
use confab_test_support::simulate::{self, SimConfig};
use confab_test_support::training::{self as simulated, ClickConfig};
use confab_training::{NoiseSource, TrainingConfig, train};

fn main() -> ExitCode {
    let mut sim = SimConfig::default();
    let mut config = TrainingConfig::default();
    let mut conversations = 0usize;
    let mut corpus =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus/chitchat-dataset.json.gz"));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        let ok = match (arg.as_str(), value) {
            ("--seed", Some(v)) => v.parse().map(|v| sim.seed = v).is_ok(),
            ("--workspaces", Some(v)) => v.parse().map(|v| sim.workspaces = v).is_ok(),
            ("--conversations", Some(v)) => v.parse().map(|v| conversations = v).is_ok(),
            ("--epsilon", Some(v)) => v.parse().map(|v| config.epsilon = v).is_ok(),
            ("--corpus", Some(v)) => {
                corpus = PathBuf::from(v);
                true
            }
            _ => false,
        };
        if !ok {
            eprintln!(
                "usage: train_eval [--seed N] [--workspaces N] [--conversations N] [--epsilon X] [--corpus PATH]"
            );
            return ExitCode::from(2);
        }
    }
    let started = Instant::now();
    let all = match corpus::load_corpus(&corpus) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot read the corpus: {}", e.message);
            return ExitCode::FAILURE;
        }
    };
    let used = if conversations == 0 { &all[..] } else { &all[..conversations.min(all.len())] };
    let sims = simulate::simulate(used, &sim);
    let mut source = simulated::source_from_simulation(&sims);
    simulated::add_click_logs(&mut source, &ClickConfig { seed: sim.seed, ..ClickConfig::default() });
    let ledger = Ledger::new(MemoryLedgerStore::new());
    let ids: Vec<_> = sims.iter().map(|s| s.id).collect();
    for &ws in &ids {
        for purpose in Purpose::ALL {
            if let Err(e) = simulated::grant(&ledger, ws, purpose, Scope::Shared, 0) {
                eprintln!("grant: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let now = source.messages.iter().map(|m| m.created_at).max().unwrap_or(0) + 1;
    println!(
        "seed {} · {} workspaces · {} conversations · {} messages · {} search impressions · k = {} · ε = {} per count",
        sim.seed,
        ids.len(),
        used.len(),
        source.messages.len(),
        source.search_interactions.len(),
        config.min_users_per_word,
        config.epsilon
    );
    println!();
    println!("| purpose | model | metric | held-out cases | default | trained | ε spent | servable |");
    println!("|---|---|---|---:|---:|---:|---:|---|");
    let mut not_servable = 0usize;
    for purpose in [Purpose::EmojiSuggestions, Purpose::ChannelSuggestions, Purpose::SearchRanking] {
        let snapshot = match Gate::snapshot(&ledger, &source, purpose, &ids, now) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("snapshot: {e}");
                return ExitCode::FAILURE;
            }
        };
        let models = match train(purpose, &snapshot, &config, NoiseSource::Seeded(sim.seed), now) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("training {purpose}: {e}");
                return ExitCode::FAILURE;
            }
        };
        for (i, m) in models.iter().enumerate() {
            let e = &m.manifest.evaluation;
            let model = match m.manifest.scope {
                Scope::Shared => format!("shared ({} workspaces)", m.manifest.contributors.len()),
                Scope::Workspace => format!("workspace {}", i + 1),
            };
            println!(
                "| {purpose} | {model} | {} | {} | {:.3} | {:.3} | {} | {} |",
                e.metric,
                e.cases,
                e.default,
                e.trained,
                m.manifest.privacy.epsilon,
                if m.manifest.servable { "yes" } else { "no" }
            );
            not_servable += usize::from(!m.manifest.servable);
        }
    }
    println!();
    println!(
        "{not_servable} model(s) did not beat their default and would not be served · {:.1} s",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
