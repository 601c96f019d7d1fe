//! Test support for Confab: simulation, evaluation corpora and in-memory stand-ins.
//!
//! Not product code. Only tests, examples, benches and the demo use this crate: no
//! product crate depends on it, and the server only through its `demo` cargo feature
//! (`tests/e2e/deps.rs` checks both). It is never published.
//!
//! * [`corpus`]: the real chat corpus (`corpus/`), read and parsed.
//! * [`rng`]: the seeded generator every simulation draws from.
//! * [`simulate`]: workspaces simulated from the corpus with planted preferences, as
//!   events in the suggestion hooks' vocabulary.
//! * [`evaluate`]: hit@k and MRR of the suggestions on those workspaces, against
//!   baselines (`crates/recommend/examples/recommend_eval.rs`).
//! * [`search`]: index documents generated from the corpus, for the search crate's
//!   tests and bench.
//! * [`consent`]: an in-memory ledger store and data source, ids and records.
//! * [`slack_fixture`]: a small Slack export in Slack's layout, for the Slack reader's
//!   and the import's tests.
//! * [`training`]: simulated workspaces as a consented data source, click logs, grants.
//! * `postgres` (feature `postgres`): a throwaway PostgreSQL server started with
//!   `initdb` and `pg_ctl`, one per test binary, with a fresh database per test.
//! * `nats` (feature `nats`): a throwaway `nats-server`, one per test binary, or
//!   one of a test's own for a test that restarts it.

pub mod consent;
pub mod corpus;
pub mod evaluate;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod rng;
pub mod search;
#[cfg(any(feature = "nats", feature = "postgres"))]
mod service;
pub mod simulate;
pub mod slack_fixture;
pub mod training;
