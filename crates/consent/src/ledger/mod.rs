//! The consent ledger: an append-only, hash-chained log of every grant, withdrawal,
//! member key change and privacy-budget spend, one chain per workspace.
//!
//! Each entry's `hash` is the SHA-256 of the canonical JSON of all its other fields
//! (keys sorted, no whitespace), and `prev_hash` is the hash of the entry before it
//! (64 zeros for the first), so editing, dropping or reordering any entry breaks the
//! chain where [`Ledger::verify`] can see it. Current consent ([`ConsentState`]) is
//! never stored: it is always derived by folding the entries.
//!
//! Persistence is the app's [`LedgerStore`]; this module decides what may be
//! appended and serialises appends so two changes cannot chain off the same entry.
//!
//! * [`entry`]: what an entry records ([`Action`], [`LedgerEntry`], sealed keys).
//! * [`hash`]: the canonical JSON an entry's hash and a key's commitment are over.
//! * [`fold`](mod@fold): entries → current consent ([`ConsentState`]).
//! * [`verify`]: re-checking a chain, and the history as exported and shown.
//! * [`append`]: the [`Ledger`] itself: who may append what, one append at a time.
//!
//! Tests: `crates/consent/tests/ledger.rs`.

pub mod append;
pub mod entry;
pub mod fold;
pub mod hash;
pub mod verify;

use confab_core::WorkspaceId;

pub use append::{ConsentChange, GrantRequest, Ledger};
pub use entry::{Action, GENESIS_HASH, KeyOpening, LedgerEntry, sealed_actor};
pub use fold::{ConsentState, MemberKey, PurposeState, fold, member_included};
pub use verify::{LedgerExport, VerifyReport, verify_entries, verify_shown};

use crate::error::StorageError;

/// Where ledger entries live. The app implements it over its store.
pub trait LedgerStore {
    /// Appends one entry to its workspace's log. Must be durable before returning
    /// `Ok`. [`Ledger`] calls this only with the next `seq` of that workspace, one
    /// append at a time.
    fn append(&self, entry: &LedgerEntry) -> Result<(), StorageError>;
    /// All entries of one workspace in append order (an empty log for a workspace
    /// never seen).
    fn entries(&self, ws: WorkspaceId) -> Result<Vec<LedgerEntry>, StorageError>;
    /// A number that moves with every append to any workspace's log, whoever
    /// appended: other processes too, for a store several nodes share. A read that
    /// starts after an `append` returned (anywhere) must see that append's move.
    /// `None` (the default) for a store only this process appends to: the ledger then
    /// counts its own appends ([`Ledger::generation`]).
    fn generation(&self) -> Result<Option<u64>, StorageError> {
        Ok(None)
    }
}

impl<T: LedgerStore + ?Sized> LedgerStore for &T {
    fn append(&self, entry: &LedgerEntry) -> Result<(), StorageError> {
        (**self).append(entry)
    }
    fn entries(&self, ws: WorkspaceId) -> Result<Vec<LedgerEntry>, StorageError> {
        (**self).entries(ws)
    }
    fn generation(&self) -> Result<Option<u64>, StorageError> {
        (**self).generation()
    }
}

impl<T: LedgerStore + ?Sized> LedgerStore for std::sync::Arc<T> {
    fn append(&self, entry: &LedgerEntry) -> Result<(), StorageError> {
        (**self).append(entry)
    }
    fn entries(&self, ws: WorkspaceId) -> Result<Vec<LedgerEntry>, StorageError> {
        (**self).entries(ws)
    }
    fn generation(&self) -> Result<Option<u64>, StorageError> {
        (**self).generation()
    }
}
