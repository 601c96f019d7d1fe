//! The policy texts an owner is shown and accepts, one versioned Markdown file per
//! purpose, embedded in the binary.
//!
//! A grant names the version and the SHA-256 of the exact text the owner was shown;
//! the ledger refuses a grant whose pair is not the current one. Publishing a new
//! text means adding `<purpose>-v<N>.md` and pointing [`current_policy`] at it: the
//! hash changes, so existing grants stop counting until an owner accepts again.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::vocab::Purpose;

/// One purpose's policy text as served by `GET /consent/policies`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub purpose: Purpose,
    pub version: u32,
    /// Lower-case hex SHA-256 of the exact bytes of `text`.
    pub sha256: String,
    pub text: String,
}

const SEARCH_RANKING_V1: &str = include_str!("../policies/search_ranking-v1.md");
// Version 2 added the `files` category; version 1 stays in `policies/` as the text
// earlier grants accepted.
const EMOJI_SUGGESTIONS_V2: &str = include_str!("../policies/emoji_suggestions-v2.md");
const CHANNEL_SUGGESTIONS_V1: &str = include_str!("../policies/channel_suggestions-v1.md");

/// The current (version, text) of a purpose's policy.
fn current_text(purpose: Purpose) -> (u32, &'static str) {
    match purpose {
        Purpose::SearchRanking => (1, SEARCH_RANKING_V1),
        Purpose::EmojiSuggestions => (2, EMOJI_SUGGESTIONS_V2),
        Purpose::ChannelSuggestions => (1, CHANNEL_SUGGESTIONS_V1),
    }
}

/// Hex SHA-256 of some bytes.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The policy an owner must accept today to grant `purpose`.
pub fn current_policy(purpose: Purpose) -> Policy {
    let (version, text) = current_text(purpose);
    Policy { purpose, version, sha256: sha256_hex(text.as_bytes()), text: text.to_owned() }
}

/// Every purpose's current policy, in [`Purpose::ALL`] order.
pub fn policies() -> Vec<Policy> {
    Purpose::ALL.into_iter().map(current_policy).collect()
}

/// The current (version, sha256) of a purpose's policy, without copying the text.
pub(crate) fn current_version_and_hash(purpose: Purpose) -> (u32, String) {
    let (version, text) = current_text(purpose);
    (version, sha256_hex(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_purpose_has_a_hashed_policy() {
        let all = policies();
        assert_eq!(all.len(), Purpose::ALL.len());
        for p in &all {
            assert_eq!(p.sha256, sha256_hex(p.text.as_bytes()));
            assert_eq!(p.sha256.len(), 64);
            assert_eq!(current_version_and_hash(p.purpose), (p.version, p.sha256.clone()));
            assert!(p.text.contains(&format!("(version {})", p.version)), "{}", p.purpose);
        }
        // Distinct texts, so a hash accepted for one purpose is useless for another.
        assert_ne!(all[0].sha256, all[1].sha256);
        assert_ne!(all[1].sha256, all[2].sha256);
    }

    #[test]
    fn texts_say_what_the_design_promises() {
        for p in policies() {
            // Compare on collapsed whitespace: the files are wrapped at any word.
            let t = &p.text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(t.contains("Private channels and direct messages are never read"), "{}", p.purpose);
            for heading in [
                "## What is read",
                "## What is learned",
                "## What leaves the workspace",
                "## How members can exclude themselves",
                "## How to withdraw",
            ] {
                assert!(t.contains(heading), "{} lacks {heading}", p.purpose);
            }
            for category in p.purpose.allowed_categories() {
                assert!(t.contains(&format!("`{category}`")), "{} lacks {category}", p.purpose);
            }
            assert!(t.contains("With scope `workspace`: **nothing**"));
            assert!(t.contains("noise") && t.contains("at least k distinct"));
            assert!(t.contains("one call") && t.contains("cached training data"));
            assert!(t.contains("`members: opt_in`") && t.contains("`members: opt_out`"));
        }
    }
}
