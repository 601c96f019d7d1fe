//! Offline evaluation of the default suggestions against baselines on workspaces
//! simulated from the real chat corpus (see `confab_test_support::simulate` for the
//! planted model).
//!
//! `cargo run --release -p confab-recommend --example recommend_eval -- --seed 7`
//! Options: `--seed N`, `--workspaces N`, `--corpus PATH`. Exits non-zero if the
//! defaults do not beat both baselines on hit@5 for every task, or if any channel
//! suggestion broke the privacy rules.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use confab_recommend::{ChannelWeights, EmojiAssociationModel, ScoringWeights};
use confab_test_support::corpus;
use confab_test_support::evaluate::{self, METHOD_DEFAULT, METHOD_POPULAR, METHOD_RANDOM};
use confab_test_support::simulate::{self, SimConfig};

fn main() -> ExitCode {
    let mut config = SimConfig::default();
    let mut corpus =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus/chitchat-dataset.json.gz"));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--seed", Some(v)) => config.seed = v.parse().unwrap_or(config.seed),
            ("--workspaces", Some(v)) => config.workspaces = v.parse().unwrap_or(config.workspaces),
            ("--corpus", Some(v)) => corpus = PathBuf::from(v),
            _ => {
                eprintln!("usage: recommend_eval [--seed N] [--workspaces N] [--corpus PATH]");
                return ExitCode::from(2);
            }
        }
    }
    let started = Instant::now();
    let conversations = match corpus::load_corpus(&corpus) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot read the corpus: {e}");
            return ExitCode::FAILURE;
        }
    };
    let workspaces = simulate::simulate(&conversations, &config);
    let report = evaluate::evaluate(
        &workspaces,
        EmojiAssociationModel::builtin(),
        &ScoringWeights::default(),
        &ChannelWeights::default(),
        config.seed,
    );
    println!(
        "seed {} · {} workspaces · {} members · {} train / {} held-out events · {} conversations · {:.1} s",
        config.seed,
        report.workspaces,
        report.members,
        report.train_events,
        report.heldout_events,
        conversations.len(),
        started.elapsed().as_secs_f64()
    );
    println!();
    print!("{}", report.table());
    println!();
    println!("privacy violations in channel suggestions: {}", report.privacy_violations);
    let mut ok = report.privacy_violations == 0;
    for task in [evaluate::TASK_PICKER, evaluate::TASK_PREFIX, evaluate::TASK_CHANNELS] {
        let hit5 = |method| report.row(task, method).map_or(0.0, |m| m.hit5);
        let beats = hit5(METHOD_DEFAULT) > hit5(METHOD_POPULAR) && hit5(METHOD_DEFAULT) > hit5(METHOD_RANDOM);
        println!("{task}: defaults beat the baselines on hit@5: {}", if beats { "yes" } else { "NO" });
        ok &= beats;
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
