//! Consent for Confab's machine learning: the policy texts, the ledger that records
//! every decision, and the gate through which alone training reads data.
//!
//! # The model in brief
//!
//! A workspace owner may grant a *purpose* ([`Purpose`]: search ranking, emoji or
//! channel suggestions) the right to read some *categories* of the workspace's data
//! ([`Category`]), with a *scope* ([`Scope`]: the workspace's own model only, or also
//! the instance-wide one) and a *member mode* ([`MemberMode`]: members out until they
//! opt in, or in until they opt out). The owner accepts a versioned policy text
//! ([`policies`]) by naming its version and SHA-256. Every member keeps their own key
//! per purpose. Each decision is an entry in an append-only, hash-chained
//! [`Ledger`]; current consent is always derived from it.
//!
//! # Invariants
//!
//! - **Default nothing.** A workspace with no ledger entries has no grants, and no
//!   other action implies one.
//! - **Only owners grant or withdraw**, and a grant needs `accept: true` and the
//!   current policy's exact version and hash.
//! - **The gate is the only path to data.** Training gets a [`Snapshot`], which only
//!   [`Gate::snapshot`] can build (no public constructor, no `Deserialize`), from the
//!   ledger's current state.
//! - **A snapshot never holds** private-channel or DM data, data of a workspace
//!   without a grant in force (or whose ledger does not verify), categories the
//!   grant does not name, or anything written or done by an excluded member.
//! - **Withdrawal is immediate**: the next snapshot leaves the workspace out.
//!
//! # Example
//!
//! ```
//! use confab_test_support::consent::{MemoryLedgerStore, MemorySource, grant_request, user_id, workspace_id};
//! use confab_consent::{Category, Gate, Ledger, MemberMode, Purpose, Scope};
//! use confab_core::Role;
//!
//! let ledger = Ledger::new(MemoryLedgerStore::new());
//! let (ws, owner) = (workspace_id(1), user_id(1));
//! let source = MemorySource::default();
//!
//! // Nothing is granted by default: the snapshot says why the workspace is out.
//! let snap = Gate::snapshot(&ledger, &source, Purpose::EmojiSuggestions, &[ws], 0)?;
//! assert!(snap.workspaces().is_empty() && snap.excluded().len() == 1);
//!
//! // The owner accepts the current policy text (version and SHA-256 come from it).
//! let req = grant_request(
//!     Purpose::EmojiSuggestions,
//!     Scope::Workspace,
//!     &[Category::Messages, Category::Reactions],
//!     MemberMode::OptIn,
//! );
//! let change = ledger.grant(ws, owner, Role::Owner, req, 0)?;
//! let _event = change.to_event(); // the app emits `consent.changed`
//! let snap = Gate::snapshot(&ledger, &source, Purpose::EmojiSuggestions, &[ws], 0)?;
//! assert_eq!(snap.for_workspace(ws).unwrap().allowed_by().entry_hash, change.entry.hash);
//! assert!(ledger.verify(ws)?.is_ok());
//! # Ok::<(), confab_consent::ConsentError>(())
//! ```
//!
//! The app implements [`LedgerStore`] (durable appends) and [`DataSource`] (read
//! access to one workspace's data) over its store; `confab-test-support` (`consent`)
//! has in-memory versions for tests. Their failures are [`StorageError`]s that carry
//! the app's own error; what the ledger refuses is a [`ConsentError`]. Which code a
//! client sees for either is the app's decision.

pub mod coverage;
pub mod error;
pub mod gate;
pub mod ledger;
pub mod policy;
pub mod vocab;

pub use coverage::{Coverage, coverage_of};
pub use error::{ConsentError, StorageError};
pub use gate::{
    DataSource, ExcludedWorkspace, ExclusionReason, FILE_TEXT_MAX_BYTES, FileData, FileRow, Gate, GrantRef,
    MembershipRecord, MessageRow, ReactionRow, SearchInteraction, Snapshot, WorkspaceSnapshot,
};
pub use ledger::{
    Action, ConsentChange, ConsentState, GENESIS_HASH, GrantRequest, KeyOpening, Ledger, LedgerEntry,
    LedgerExport, LedgerStore, MemberKey, PurposeState, VerifyReport, member_included, sealed_actor,
    verify_entries, verify_shown,
};
pub use policy::{Policy, current_policy, policies};
pub use vocab::{Category, MemberMode, Purpose, Scope};
