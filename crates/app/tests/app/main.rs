//! `App`-level tests: the use cases in-process, over the real sled store, tantivy
//! index and model registry in a temporary data dir. One binary, topic modules.

mod cluster_order;
mod consent_models;
mod delivery;
mod erasure;
mod errors;
mod handoffs;
mod housekeeping;
mod integrity;
mod priority;
mod retention;
mod sessions;
mod support;
