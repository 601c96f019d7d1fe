//! Re-checking a workspace's chain, and the history as exported and as shown to a
//! member.

use confab_core::{UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

use super::entry::{Action, GENESIS_HASH, LedgerEntry};

/// The result of re-checking a workspace's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub workspace: WorkspaceId,
    /// How many entries the store holds.
    pub entries: usize,
    /// The first position where the chain is not intact: `(seq, reason)`, where `seq`
    /// is the seq the entry at that position should have (so a dropped entry is
    /// reported under its own, missing, seq).
    pub first_bad: Option<(u64, String)>,
    /// The newest entry's hash. The chain cannot show that entries were cut off its
    /// end: compare this with a head recorded elsewhere (e.g. the last
    /// `consent.changed` event) to catch that.
    pub head_hash: Option<String>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// Checks a chain: gapless seqs from 1, the right workspace, each `prev_hash` equal
/// to the previous entry's `hash`, and each `hash` equal to the recomputed one.
/// A sealed member key must carry an opening that matches its commitment, and no
/// stored entry may be marked `redacted`.
pub fn verify_entries(ws: WorkspaceId, entries: &[LedgerEntry]) -> VerifyReport {
    verify_chain(ws, entries, false)
}

/// [`verify_entries`] for a history as a member or owner is shown it
/// ([`LedgerExport::shown_to`]): a sealed key without its opening verifies by its hash
/// alone, and an older key entry marked `redacted` by its links alone.
pub fn verify_shown(ws: WorkspaceId, entries: &[LedgerEntry]) -> VerifyReport {
    verify_chain(ws, entries, true)
}

fn verify_chain(ws: WorkspaceId, entries: &[LedgerEntry], shown: bool) -> VerifyReport {
    let mut first_bad = None;
    let mut prev = GENESIS_HASH.to_owned();
    for (i, e) in entries.iter().enumerate() {
        let expected_seq = i as u64 + 1;
        let problem = if e.seq != expected_seq {
            Some(format!("expected seq {expected_seq}, found seq {} (missing or reordered entry)", e.seq))
        } else if e.workspace != ws {
            Some(format!("entry belongs to workspace {}", e.workspace))
        } else if e.prev_hash != prev {
            Some(format!("prev_hash {} does not match the previous entry's hash {prev}", e.prev_hash))
        } else if e.redacted && !shown {
            Some("a stored entry is marked redacted".to_owned())
        } else if e.redacted {
            None
        } else if let Some(problem) = seal_problem(e, shown) {
            Some(problem)
        } else {
            match e.compute_hash() {
                Ok(h) if h == e.hash => None,
                Ok(h) => Some(format!("hash {} does not match the entry's content (expected {h})", e.hash)),
                Err(_) => Some("entry cannot be serialised".to_owned()),
            }
        };
        if let Some(reason) = problem {
            first_bad = Some((expected_seq, reason));
            break;
        }
        prev.clone_from(&e.hash);
    }
    VerifyReport {
        workspace: ws,
        entries: entries.len(),
        first_bad,
        head_hash: entries.last().map(|e| e.hash.clone()),
    }
}

/// What is wrong with a member-key entry's seal, if anything.
fn seal_problem(e: &LedgerEntry, shown: bool) -> Option<String> {
    match (&e.action, &e.opening) {
        (Action::MemberSet { commitment: Some(c), purpose, user: None, included: None }, Some(o)) => {
            if o.commitment(e.workspace, *purpose) == *c {
                None
            } else {
                Some("the member key's opening does not match its commitment".to_owned())
            }
        }
        (Action::MemberSet { commitment: Some(_), user: None, included: None, .. }, None) if shown => None,
        (Action::MemberSet { commitment: Some(_), user: None, included: None, .. }, None) => {
            Some("a sealed member key has lost its opening".to_owned())
        }
        (Action::MemberSet { commitment: None, user: Some(_), included: Some(_), .. }, None) => None,
        (Action::MemberSet { .. }, _) => Some("malformed member key entry".to_owned()),
        (_, Some(_)) => Some("only a member key entry has an opening".to_owned()),
        (_, None) => None,
    }
}

/// A workspace's ledger as `GET /workspaces/{ws}/consent/history` and
/// `confab consent export` return it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerExport {
    pub workspace: WorkspaceId,
    pub entries: Vec<LedgerEntry>,
    pub verification: VerifyReport,
}

impl LedgerExport {
    /// The history as `viewer` may see it: every member-key entry but the viewer's own
    /// is [redacted](LedgerEntry::redacted). `verification` is still that of the whole
    /// stored chain (checked before redacting); [`verify_shown`] re-checks what is
    /// shown.
    pub fn shown_to(mut self, viewer: UserId) -> LedgerExport {
        for e in &mut self.entries {
            let own = e.member_key().is_some_and(|(_, user, _)| user == viewer);
            if e.is_member_key() && !own {
                *e = e.redacted();
            }
        }
        self
    }
}
