//! Confab's end-to-end tests: one binary, topic modules, each test against a real
//! server process over real HTTP and WebSockets.

mod abuse;
mod activity;
mod authz;
mod bad_input;
mod chat;
mod cli;
mod consent_attacks;
mod deps;
mod docs;
mod durability;
mod features;
mod files;
mod integrity;
mod lifecycle;
mod live;
mod pins;
mod profile;
mod revocation;
mod slack_api;
mod slack_import;

use std::future::Future;

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

fn main() {
    confab_tests::run_as_server_if_asked();
    let args = Arguments::from_args();
    let modules: Vec<(&str, Vec<Case>)> = vec![
        ("abuse", abuse::cases()),
        ("activity", activity::cases()),
        ("authz", authz::cases()),
        ("bad_input", bad_input::cases()),
        ("chat", chat::cases()),
        ("cli", cli::cases()),
        ("consent_attacks", consent_attacks::cases()),
        ("deps", deps::cases()),
        ("docs", docs::cases()),
        ("durability", durability::cases()),
        ("features", features::cases()),
        ("files", files::cases()),
        ("integrity", integrity::cases()),
        ("lifecycle", lifecycle::cases()),
        ("live", live::cases()),
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
                Trial::test(format!("{module}::{}", case.name), move || {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .map_err(|e| Failed::from(e.to_string()))?;
                    runtime.block_on((case.run)());
                    Ok(())
                })
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
