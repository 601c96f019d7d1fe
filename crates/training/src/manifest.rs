//! What every model carries: its [`Manifest`] (whose data made it, under which
//! ledger entry, with how much noise, and how it compares with the default on held-out
//! data) and its artifact (the weights JSON that serving reads).

use confab_consent::{
    Category, Coverage, GrantRef, Ledger, LedgerStore, MemberMode, Purpose, Scope, StorageError,
    WorkspaceSnapshot,
};
use confab_core::{Millis, WorkspaceId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The version of this crate, recorded as the code version of each model.
pub const CODE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A workspace whose data a model learned from, and the ledger entry that allowed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contributor {
    pub workspace: WorkspaceId,
    /// The grant entry (seq and hash in the workspace's hash-chained ledger).
    pub entry_seq: u64,
    pub entry_hash: String,
    pub policy_version: u32,
    pub members: MemberMode,
    /// How many distinct members' records the model's training split held (a count,
    /// never who).
    pub member_count: usize,
    /// The grant's scope and the categories the model read. (Absent in manifests
    /// written before they were recorded: such a model is never served.)
    #[serde(default = "workspace_scope")]
    pub scope: Scope,
    #[serde(default)]
    pub categories: Vec<Category>,
    /// The workspace's ledger head when the snapshot was taken: consent changes after
    /// it are checked against the model (`confab_consent::coverage`). 0 in older
    /// manifests, which then count as not covered.
    #[serde(default)]
    pub ledger_head_seq: u64,
    /// The workspace's retention cut-off when the snapshot was taken: nothing older
    /// was read. Absent: it kept messages for ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_cutoff: Option<Millis>,
}

fn workspace_scope() -> Scope {
    Scope::Workspace
}

impl Contributor {
    pub(crate) fn of(w: &WorkspaceSnapshot, member_count: usize) -> Self {
        let g = w.allowed_by();
        Contributor {
            workspace: w.workspace(),
            entry_seq: g.entry_seq,
            entry_hash: g.entry_hash.clone(),
            policy_version: g.policy_version,
            members: g.members,
            member_count,
            scope: g.scope,
            categories: g.categories.clone(),
            ledger_head_seq: g.head_seq,
            retention_cutoff: w.retention_cutoff(),
        }
    }

    /// The grant this contributor's data came in under, as the consent crate checks it.
    pub fn grant_ref(&self) -> GrantRef {
        GrantRef {
            entry_seq: self.entry_seq,
            entry_hash: self.entry_hash.clone(),
            scope: self.scope,
            categories: self.categories.clone(),
            members: self.members,
            policy_version: self.policy_version,
            head_seq: self.ledger_head_seq,
        }
    }
}

/// The offline evaluation of a model against the default on the held-out split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// `hit@5` (emoji, channels) or `ndcg@10` (search).
    pub metric: String,
    /// What the cases are, in a few words.
    pub task: String,
    /// Held-out cases scored.
    pub cases: usize,
    pub trained: f64,
    pub default: f64,
    /// Training examples (emoji: reacted messages; channels: joins; search: searches).
    pub train_examples: usize,
}

impl Evaluation {
    /// Whether the model beat the default: strictly better on at least one case.
    pub fn beats_default(&self) -> bool {
        self.cases > 0 && self.trained > self.default
    }
}

/// How the model's data was protected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Privacy {
    /// ε spent on each contributing workspace by this model (0 for models without
    /// noise: see the crate docs).
    pub epsilon: f64,
    /// `"discrete_laplace"` or `"none"`.
    pub mechanism: String,
    /// What one member can change: the sensitivity assumption in words.
    pub sensitivity: String,
    /// The k threshold on distinct members per word (emoji models).
    pub min_users_per_word: Option<usize>,
    /// The distinct-workspaces threshold per word (shared emoji models).
    pub min_workspaces_per_word: Option<usize>,
    /// Where the noise came from: `os` (served models) or `seeded` (tests only).
    pub noise: String,
}

/// Everything recorded about one trained model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `[a-z0-9_-]`, unique: derived from everything below and the weights.
    pub id: String,
    pub purpose: Purpose,
    pub scope: Scope,
    /// The workspace a `workspace`-scoped model belongs to (and is served to, only).
    pub workspace: Option<WorkspaceId>,
    pub created_at: Millis,
    /// `confab-training` version.
    pub code_version: String,
    /// The artifact's format, e.g. `emoji_association_model/1`.
    pub artifact_format: String,
    /// Sorted by workspace id.
    pub contributors: Vec<Contributor>,
    /// The snapshot's cut-off: no record after it was read.
    pub data_cutoff: Millis,
    pub privacy: Privacy,
    pub evaluation: Evaluation,
    /// Only a model that beats the default on held-out data is served.
    pub servable: bool,
    /// SHA-256 (hex) of the artifact bytes.
    pub artifact_sha256: String,
}

impl Manifest {
    pub fn includes(&self, ws: WorkspaceId) -> bool {
        self.contributors.iter().any(|c| c.workspace == ws)
    }

    /// Whether every contributor's *current* consent still covers this model: the
    /// first contributor whose does not, and why, else `Covered`.
    pub fn coverage<S: LedgerStore>(&self, ledger: &Ledger<S>) -> Result<Coverage, StorageError> {
        if self.contributors.is_empty() {
            return Ok(Coverage::Lapsed("the model names no contributor".to_owned()));
        }
        for c in &self.contributors {
            if let Coverage::Lapsed(why) =
                ledger.coverage(c.workspace, self.purpose, self.scope, &c.grant_ref())?
            {
                return Ok(Coverage::Lapsed(format!("workspace {}: {why}", c.workspace)));
            }
        }
        Ok(Coverage::Covered)
    }
}

/// A model fresh from a run: manifest plus artifact bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainedModel {
    pub manifest: Manifest,
    pub artifact: Vec<u8>,
}

/// Hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The stable key of a model slot: purpose, scope and (for workspace scope) workspace.
pub(crate) fn model_key(purpose: Purpose, scope: Scope, workspace: Option<WorkspaceId>) -> String {
    match workspace {
        Some(ws) => format!("{purpose}/{scope:?}/{ws}"),
        None => format!("{purpose}/{scope:?}"),
    }
}

/// A model id: purpose, scope, time and a hash of the manifest fields and the
/// weights (serialised without an id), so equal runs get equal ids and different
/// ones never collide.
pub(crate) fn model_id(
    purpose: Purpose,
    scope: Scope,
    created_at: Millis,
    identity: &[u8],
    weights_without_id: &[u8],
) -> String {
    let mut h = Sha256::new();
    h.update((identity.len() as u64).to_be_bytes());
    h.update(identity);
    h.update(weights_without_id);
    let digest = hex::encode(h.finalize());
    let scope = match scope {
        Scope::Workspace => "ws",
        Scope::Shared => "shared",
    };
    format!("{}-{scope}-{}-{}", purpose.as_str().replace('_', "-"), created_at.max(0), &digest[..16])
}

/// Whether `id` has the shape [`model_id`] makes (safe as a directory name).
pub fn is_model_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('-')
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_safe_and_content_addressed() {
        let a = model_id(Purpose::EmojiSuggestions, Scope::Shared, 5, b"x", b"w1");
        assert_eq!(a, model_id(Purpose::EmojiSuggestions, Scope::Shared, 5, b"x", b"w1"));
        assert_ne!(a, model_id(Purpose::EmojiSuggestions, Scope::Shared, 5, b"x", b"w2"));
        assert!(a.starts_with("emoji-suggestions-shared-5-"), "{a}");
        assert!(is_model_id(&a));
        for bad in ["", "../x", "A", "a/b", "-a", "a.b"] {
            assert!(!is_model_id(bad), "{bad}");
        }
    }
}
