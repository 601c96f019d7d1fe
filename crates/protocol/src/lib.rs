//! Confab's wire protocol, defined once: the bodies of the HTTP API ([`http`]) and the
//! frames of the WebSocket ([`ws`]), as serde types. The server parses and answers
//! with them, the Rust client sends and reads them, the fuzz targets feed them, and
//! `tests/e2e/docs.rs` checks `docs/api.md` against them.
//!
//! This crate knows the JSON shapes and nothing else: no HTTP, no sockets, no
//! validation beyond the shape (the rules of each field are in `confab_core::validate`
//! and the app). The records inside the bodies (`Message`, `Channel`, `Event`, …) are
//! `confab_core`'s; bodies whose items belong to a crate this one does not depend on
//! (search hits, consent states, model manifests) are generic over the item.
//!
//! Why a crate of its own and not a module of `confab_core`: `core` is the domain
//! (records, events, rules) that every crate builds on, while this is the boundary
//! where the domain meets JSON on a socket. Keeping it apart means its dependents
//! (`app` for the hub's frames, `server`, `client`, the fuzz targets) are exactly the
//! code that speaks the wire, and `cargo metadata` shows it (`tests/e2e/deps.rs`
//! checks ARCHITECTURE.md's graph against it).

pub mod http;
pub mod ws;
