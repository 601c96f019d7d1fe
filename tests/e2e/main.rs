//! Confab's end-to-end tests: one binary, topic modules, each test against a real
//! server process over real HTTP and WebSockets.
//!
//! The same tests run on either store: `CONFAB_E2E_STORE=postgres` runs every server
//! on PostgreSQL (`confab_tests::StoreMode`). A test that holds for one store only is
//! listed in [`only_on`] with the reason, and the other mode reports it ignored.

mod abuse;
mod activity;
mod authz;
mod bad_input;
mod chat;
mod cli;
mod cluster;
mod consent_attacks;
mod deps;
mod docs;
mod durability;
mod features;
mod files;
mod integrity;
mod lifecycle;
mod live;
mod migrate;
mod pins;
mod profile;
mod revocation;
mod slack_api;
mod slack_import;

use std::future::Future;

use confab_tests::StoreMode;
use libtest_mimic::{Arguments, Failed, Trial};

/// A test: a name and an async body.
pub struct Case {
    pub name: &'static str,
    pub run: fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
}

#[macro_export]
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        pub fn cases() -> Vec<$crate::Case> {
            vec![$($crate::Case { name: stringify!($name), run: || Box::pin($name()) }),*]
        }
    };
}

/// The store a test needs, and why the other mode skips it; `None` for the tests
/// that hold on both (nearly all).
fn only_on(module: &str, name: &str) -> Option<(StoreMode, &'static str)> {
    match (module, name) {
        ("lifecycle", "a_backup_under_write_load_restores_every_acknowledged_message") => Some((
            StoreMode::Sled,
            "confab backup and restore copy a sled store; on PostgreSQL they refuse and name pg_dump \
             and pg_restore (cluster::sled_only_commands_point_to_postgresql_tools)",
        )),
        ("migrate", _) => Some((StoreMode::Postgres, "copies a sled store into the run's PostgreSQL")),
        ("cluster", name) if cluster::POSTGRES_ONLY.contains(&name) => {
            Some((StoreMode::Postgres, "about the store on PostgreSQL"))
        }
        _ => None,
    }
}

fn main() {
    confab_tests::run_as_server_if_asked();
    let args = Arguments::from_args();
    let mode = confab_tests::store_mode();
    if mode == StoreMode::Postgres {
        // Start the run's PostgreSQL now: one clear failure if it cannot be, rather
        // than one per test.
        if confab_tests::postgres().is_none() {
            eprintln!("the end-to-end suite's PostgreSQL mode did not run");
            return;
        }
        if confab_tests::bus_mode() && confab_tests::nats().is_none() {
            eprintln!("the end-to-end suite's bus mode did not run");
            return;
        }
    }
    let modules: Vec<(&str, Vec<Case>)> = vec![
        ("abuse", abuse::cases()),
        ("activity", activity::cases()),
        ("authz", authz::cases()),
        ("bad_input", bad_input::cases()),
        ("chat", chat::cases()),
        ("cli", cli::cases()),
        ("cluster", cluster::cases()),
        ("consent_attacks", consent_attacks::cases()),
        ("deps", deps::cases()),
        ("docs", docs::cases()),
        ("durability", durability::cases()),
        ("features", features::cases()),
        ("files", files::cases()),
        ("integrity", integrity::cases()),
        ("lifecycle", lifecycle::cases()),
        ("live", live::cases()),
        ("migrate", migrate::cases()),
        ("pins", pins::cases()),
        ("profile", profile::cases()),
        ("revocation", revocation::cases()),
        ("slack_api", slack_api::cases()),
        ("slack_import", slack_import::cases()),
    ];
    let trials = modules
        .into_iter()
        .flat_map(|(module, cases)| {
            cases.into_iter().map(move |case| {
                let skip = only_on(module, case.name).filter(|(needs, _)| *needs != mode);
                if let Some((needs, why)) = skip {
                    eprintln!("{module}::{}: ignored, runs on {needs:?} only: {why}", case.name);
                }
                Trial::test(format!("{module}::{}", case.name), move || {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .map_err(|e| Failed::from(e.to_string()))?;
                    runtime.block_on((case.run)());
                    Ok(())
                })
                .with_ignored_flag(skip.is_some())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
