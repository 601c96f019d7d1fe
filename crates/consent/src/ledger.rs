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

use std::collections::BTreeMap;

use confab_core::{Error, ErrorCode, Event, Millis, Role, UserId, WorkspaceId};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::{current_version_and_hash, sha256_hex};
use crate::vocab::{Category, MemberMode, Purpose, Scope};

/// `prev_hash` of a workspace's first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a ledger entry records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// An owner allowed `purpose` to read `categories` of the workspace.
    Grant { purpose: Purpose, scope: Scope, categories: Vec<Category>, members: MemberMode },
    /// An owner withdrew the grant for `purpose`.
    Withdraw { purpose: Purpose },
    /// A member set their own key for `purpose`.
    ///
    /// Entries written since keys became private carry only a `commitment`: the
    /// SHA-256 of the member, their choice and a random nonce (the entry's
    /// [`KeyOpening`], which the hash does not cover). Showing the entry without its
    /// opening hides who chose what, yet the chain still verifies, and nobody can
    /// recover the member by trying ids. Older entries name `user` and `included`
    /// directly (the actor is then the member too).
    MemberSet {
        purpose: Purpose,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<UserId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        included: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commitment: Option<String>,
    },
    /// A training run spent `epsilon` of the workspace's privacy budget for `purpose`.
    BudgetSpent { purpose: Purpose, epsilon: f64, run_id: String },
}

impl Action {
    pub fn purpose(&self) -> Purpose {
        match self {
            Action::Grant { purpose, .. }
            | Action::Withdraw { purpose }
            | Action::MemberSet { purpose, .. }
            | Action::BudgetSpent { purpose, .. } => *purpose,
        }
    }
}

/// One link of a workspace's chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// 1-based, gapless per workspace.
    pub seq: u64,
    pub workspace: WorkspaceId,
    pub at: Millis,
    pub actor: UserId,
    pub action: Action,
    /// The current policy of the action's purpose when the entry was appended (for a
    /// grant: the one the owner accepted).
    pub policy_version: u32,
    pub policy_sha256: String,
    pub prev_hash: String,
    /// Hex SHA-256 of the canonical JSON of every other field (but `opening` and
    /// `redacted`).
    pub hash: String,
    /// For a sealed member key: who chose what, committed to by the action's
    /// `commitment`. Only the member themselves (and the operator) are shown it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening: Option<KeyOpening>,
    /// Set on an older (unsealed) member-key entry shown to someone else: its member
    /// and choice are blanked, so its hash can no longer be recomputed; its links are
    /// still checked. Never set on a stored entry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

/// What a sealed member-key entry commits to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyOpening {
    pub user: UserId,
    pub included: bool,
    /// 32 hex digits of OS randomness: makes the commitment impossible to brute-force
    /// from the (public) member ids.
    pub nonce: String,
}

impl KeyOpening {
    /// The commitment a `member_set` action carries for this opening.
    pub fn commitment(&self, ws: WorkspaceId, purpose: Purpose) -> Result<String, Error> {
        let value = serde_json::json!({
            "workspace": ws, "purpose": purpose, "user": self.user,
            "included": self.included, "nonce": self.nonce,
        });
        let mut text = String::new();
        write_canonical(&value, &mut text);
        Ok(sha256_hex(text.as_bytes()))
    }
}

/// The actor recorded on a sealed member-key entry (the nil id, which no account
/// has): the member is only in the opening.
pub fn sealed_actor() -> UserId {
    UserId::from_bytes([0; 16])
}

impl LedgerEntry {
    /// For a member-key entry: whose key and which choice, if known (opened or an
    /// older unsealed entry). `None` for other entries and for redacted ones.
    pub fn member_key(&self) -> Option<(Purpose, UserId, bool)> {
        match &self.action {
            Action::MemberSet { purpose, user: Some(user), included: Some(included), .. } => {
                Some((*purpose, *user, *included))
            }
            Action::MemberSet { purpose, commitment: Some(c), .. } => self
                .opening
                .as_ref()
                .filter(|o| o.commitment(self.workspace, *purpose).is_ok_and(|h| h == *c))
                .map(|o| (*purpose, o.user, o.included)),
            _ => None,
        }
    }

    /// Whether this is a member-key entry.
    pub fn is_member_key(&self) -> bool {
        matches!(self.action, Action::MemberSet { .. })
    }

    /// The entry as someone other than its member may see it: a sealed key without
    /// its opening (still verifiable), an older one blanked and marked `redacted`.
    pub fn redacted(&self) -> LedgerEntry {
        let mut out = self.clone();
        out.opening = None;
        if let Action::MemberSet { purpose, user: Some(_), .. } = &self.action {
            out.action =
                Action::MemberSet { purpose: *purpose, user: None, included: None, commitment: None };
            out.actor = sealed_actor();
            out.redacted = true;
        }
        out
    }
}

/// The fields covered by an entry's hash: everything but `hash` itself.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    workspace: WorkspaceId,
    at: Millis,
    actor: UserId,
    action: &'a Action,
    policy_version: u32,
    policy_sha256: &'a str,
    prev_hash: &'a str,
}

impl LedgerEntry {
    /// Recomputes the hash this entry should carry.
    pub fn compute_hash(&self) -> Result<String, Error> {
        let hashed = Hashed {
            seq: self.seq,
            workspace: self.workspace,
            at: self.at,
            actor: self.actor,
            action: &self.action,
            policy_version: self.policy_version,
            policy_sha256: &self.policy_sha256,
            prev_hash: &self.prev_hash,
        };
        let value = serde_json::to_value(&hashed).map_err(|_| Error::internal())?;
        let mut text = String::new();
        write_canonical(&value, &mut text);
        Ok(sha256_hex(text.as_bytes()))
    }
}

/// Writes JSON with object keys sorted and no whitespace. Done by hand rather than
/// relying on `serde_json::Map` ordering, which a `preserve_order` feature enabled
/// anywhere in the build would silently change (and with it every hash).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> = map.iter().collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, v)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Where ledger entries live. The app implements it over its store.
pub trait LedgerStore {
    /// Appends one entry to its workspace's log. Must be durable before returning
    /// `Ok`. [`Ledger`] calls this only with the next `seq` of that workspace, one
    /// append at a time.
    fn append(&self, entry: &LedgerEntry) -> Result<(), Error>;
    /// All entries of one workspace in append order (an empty log for a workspace
    /// never seen).
    fn entries(&self, ws: WorkspaceId) -> Result<Vec<LedgerEntry>, Error>;
}

impl<T: LedgerStore + ?Sized> LedgerStore for &T {
    fn append(&self, entry: &LedgerEntry) -> Result<(), Error> {
        (**self).append(entry)
    }
    fn entries(&self, ws: WorkspaceId) -> Result<Vec<LedgerEntry>, Error> {
        (**self).entries(ws)
    }
}

impl<T: LedgerStore + ?Sized> LedgerStore for std::sync::Arc<T> {
    fn append(&self, entry: &LedgerEntry) -> Result<(), Error> {
        (**self).append(entry)
    }
    fn entries(&self, ws: WorkspaceId) -> Result<Vec<LedgerEntry>, Error> {
        (**self).entries(ws)
    }
}

/// An owner's request to grant a purpose, as sent by `PUT /workspaces/{ws}/consent/{purpose}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRequest {
    pub purpose: Purpose,
    pub scope: Scope,
    pub categories: Vec<Category>,
    pub members: MemberMode,
    /// The policy version and hash of the text the owner was shown.
    pub policy_version: u32,
    pub policy_sha256: String,
    /// Must be `Some(true)`: consent is never implied.
    #[serde(default)]
    pub accept: Option<bool>,
}

/// A change the app announces as a `consent.changed` event.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsentChange {
    /// The appended entry.
    pub entry: LedgerEntry,
    pub purpose: Purpose,
    /// Whether `purpose` is granted for the workspace after the change (a member's
    /// key change leaves it as it was).
    pub granted: bool,
    pub actor: UserId,
    /// A member's own key: announced only to that member.
    pub personal: bool,
}

impl ConsentChange {
    pub fn entry_hash(&self) -> &str {
        &self.entry.hash
    }

    /// The `consent.changed` event payload.
    pub fn to_event(&self) -> Event {
        Event::ConsentChanged {
            purpose: self.purpose.as_str().to_owned(),
            granted: self.granted,
            by: self.actor,
            entry_hash: self.entry.hash.clone(),
            personal: self.personal,
        }
    }
}

/// One purpose's current consent in a workspace. The `Option`s are `None` when the
/// purpose is not granted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurposeState {
    pub purpose: Purpose,
    pub granted: bool,
    pub scope: Option<Scope>,
    /// Sorted, without duplicates; empty when not granted.
    pub categories: Vec<Category>,
    pub members: Option<MemberMode>,
    pub policy_version: Option<u32>,
    pub policy_sha256: Option<String>,
    pub granted_by: Option<UserId>,
    pub granted_at: Option<Millis>,
    /// The entry that set the current state: the grant while granted, the withdrawal
    /// after one, `None` if the purpose was never granted.
    pub entry_seq: Option<u64>,
    pub entry_hash: Option<String>,
}

/// A member's own key for one purpose: their latest choice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberKey {
    pub purpose: Purpose,
    pub user: UserId,
    pub included: bool,
    pub at: Millis,
    pub entry_seq: u64,
}

/// A workspace's consent, derived from its ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentState {
    pub workspace: WorkspaceId,
    /// One per purpose, in [`Purpose::ALL`] order.
    pub purposes: Vec<PurposeState>,
    /// Every member's latest key per purpose, sorted by (purpose, user). Only show a
    /// member their own: who excluded themselves is their business.
    pub members: Vec<MemberKey>,
    /// Seq and hash of the newest entry, if any.
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
}

impl ConsentState {
    /// The state of `purpose` (always present).
    pub fn purpose(&self, purpose: Purpose) -> &PurposeState {
        // `purposes` always holds every purpose; the fallback is unreachable.
        self.purposes.iter().find(|p| p.purpose == purpose).unwrap_or(match purpose {
            Purpose::SearchRanking => &NEVER[0],
            Purpose::EmojiSuggestions => &NEVER[1],
            Purpose::ChannelSuggestions => &NEVER[2],
        })
    }

    pub fn member_key(&self, purpose: Purpose, user: UserId) -> Option<&MemberKey> {
        self.members.iter().find(|k| k.purpose == purpose && k.user == user)
    }

    /// One member's keys, for `GET /workspaces/{ws}/consent`.
    pub fn keys_of(&self, user: UserId) -> Vec<&MemberKey> {
        self.members.iter().filter(|k| k.user == user).collect()
    }

    /// Whether `user`'s data may be read for `purpose` now.
    ///
    /// False unless the purpose is granted. A member's latest `included: false`
    /// always excludes them. Under `opt_out` everyone else is in. Under `opt_in` a
    /// member is in only with an `included: true` given after the current grant: an
    /// opt-in answers the grant in force, so a re-grant (new scope or categories)
    /// asks again.
    pub fn member_included(&self, purpose: Purpose, user: UserId) -> bool {
        let grant = self.purpose(purpose);
        if !grant.granted {
            return false;
        }
        let key = self.member_key(purpose, user);
        match (grant.members, key) {
            (_, Some(k)) if !k.included => false,
            (Some(MemberMode::OptOut), _) => true,
            (Some(MemberMode::OptIn), Some(k)) => grant.entry_seq.is_some_and(|g| k.entry_seq > g),
            _ => false,
        }
    }
}

static NEVER: [PurposeState; 3] = [
    PurposeState::never_granted(Purpose::SearchRanking),
    PurposeState::never_granted(Purpose::EmojiSuggestions),
    PurposeState::never_granted(Purpose::ChannelSuggestions),
];

impl PurposeState {
    const fn never_granted(purpose: Purpose) -> Self {
        PurposeState {
            purpose,
            granted: false,
            scope: None,
            categories: Vec::new(),
            members: None,
            policy_version: None,
            policy_sha256: None,
            granted_by: None,
            granted_at: None,
            entry_seq: None,
            entry_hash: None,
        }
    }
}

/// Free-function form of [`ConsentState::member_included`].
pub fn member_included(state: &ConsentState, purpose: Purpose, user: UserId) -> bool {
    state.member_included(purpose, user)
}

/// Folds a workspace's entries into its current consent. Does not verify the chain.
pub fn fold(ws: WorkspaceId, entries: &[LedgerEntry]) -> ConsentState {
    let mut purposes: Vec<PurposeState> = Purpose::ALL.into_iter().map(PurposeState::never_granted).collect();
    let mut members: BTreeMap<(Purpose, UserId), MemberKey> = BTreeMap::new();
    for e in entries {
        let Some(slot) = purposes.iter_mut().find(|p| p.purpose == e.action.purpose()) else {
            continue;
        };
        match &e.action {
            Action::Grant { purpose, scope, categories, members: mode } => {
                *slot = PurposeState {
                    purpose: *purpose,
                    granted: true,
                    scope: Some(*scope),
                    categories: normalise(categories),
                    members: Some(*mode),
                    policy_version: Some(e.policy_version),
                    policy_sha256: Some(e.policy_sha256.clone()),
                    granted_by: Some(e.actor),
                    granted_at: Some(e.at),
                    entry_seq: Some(e.seq),
                    entry_hash: Some(e.hash.clone()),
                };
            }
            Action::Withdraw { purpose } => {
                *slot = PurposeState {
                    entry_seq: Some(e.seq),
                    entry_hash: Some(e.hash.clone()),
                    ..PurposeState::never_granted(*purpose)
                };
            }
            Action::MemberSet { .. } => {
                // A key whose opening is missing or does not match its commitment
                // counts for nobody; verification reports it.
                if let Some((purpose, user, included)) = e.member_key() {
                    members.insert(
                        (purpose, user),
                        MemberKey { purpose, user, included, at: e.at, entry_seq: e.seq },
                    );
                }
            }
            Action::BudgetSpent { .. } => {}
        }
    }
    let head = entries.last();
    ConsentState {
        workspace: ws,
        purposes,
        members: members.into_values().collect(),
        head_seq: head.map(|e| e.seq),
        head_hash: head.map(|e| e.hash.clone()),
    }
}

fn normalise(categories: &[Category]) -> Vec<Category> {
    let mut out = categories.to_vec();
    out.sort();
    out.dedup();
    out
}

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
            match o.commitment(e.workspace, *purpose) {
                Ok(h) if h == *c => None,
                _ => Some("the member key's opening does not match its commitment".to_owned()),
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

/// The consent ledger over an app-provided store.
///
/// Appends are serialised by one mutex, so use one `Ledger` per store in a process.
/// Consent changes are rare; one lock for all workspaces costs nothing.
pub struct Ledger<S> {
    store: S,
    append_lock: Mutex<()>,
    /// Bumped after every append: anything derived from consent (served models) and
    /// cached is stale once this moves.
    generation: AtomicU64,
}

impl<S: LedgerStore> Ledger<S> {
    pub fn new(store: S) -> Self {
        Ledger { store, append_lock: Mutex::new(()), generation: AtomicU64::new(0) }
    }

    /// How many entries this `Ledger` has appended since it was opened: a cache of
    /// anything derived from consent is valid only while this has not moved.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Runs `f` holding the append lock: no consent change can be appended until it
    /// returns, so what `f` reads of the ledger (through [`Ledger::store`],
    /// [`Ledger::state`] or [`Ledger::coverage`], which do not take the lock) stays
    /// current while it acts on it. A training run saves its models this way. `f`
    /// must not append.
    pub fn while_unchanged<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.append_lock.lock();
        f()
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Grants `req.purpose`. Only an owner may; the request must say `accept: true`
    /// and name the current policy's version and hash; every category must be one the
    /// purpose may read.
    pub fn grant(
        &self,
        ws: WorkspaceId,
        actor: UserId,
        actor_role: Role,
        req: GrantRequest,
        now: Millis,
    ) -> Result<ConsentChange, Error> {
        require_owner(actor_role, "grant")?;
        if req.accept != Some(true) {
            return Err(Error::new(
                ErrorCode::ConsentNotExplicit,
                "a grant needs an explicit \"accept\": true; consent is never implied",
            ));
        }
        let (version, sha) = current_version_and_hash(req.purpose);
        if req.policy_version != version || req.policy_sha256 != sha {
            return Err(Error::new(
                ErrorCode::PolicyMismatch,
                format!(
                    "the {} policy you accepted (version {}, sha256 {}) is not the current one: \
                     version {version}, sha256 {sha}; read it again at GET /api/v1/consent/policies",
                    req.purpose, req.policy_version, req.policy_sha256
                ),
            ));
        }
        if req.categories.is_empty() {
            return Err(Error::invalid_field("categories", "name at least one category"));
        }
        if let Some(bad) = req.categories.iter().find(|c| !req.purpose.may_read(**c)) {
            let allowed: Vec<&str> = req.purpose.allowed_categories().iter().map(|c| c.as_str()).collect();
            return Err(Error::invalid_field(
                "categories",
                format!("{} cannot use {bad}; it may read only {}", req.purpose, allowed.join(", ")),
            ));
        }
        let action = Action::Grant {
            purpose: req.purpose,
            scope: req.scope,
            categories: normalise(&req.categories),
            members: req.members,
        };
        let entry = self.append(ws, actor, action, now, |_| Ok(()))?;
        Ok(ConsentChange { entry, purpose: req.purpose, granted: true, actor, personal: false })
    }

    /// Withdraws `purpose`, owner only. Withdrawing a purpose that is not granted is
    /// a successful no-op: it returns `Ok(None)` and appends nothing (there is no
    /// change to announce). A `Some` change always carries a new entry.
    pub fn withdraw(
        &self,
        ws: WorkspaceId,
        actor: UserId,
        actor_role: Role,
        purpose: Purpose,
        now: Millis,
    ) -> Result<Option<ConsentChange>, Error> {
        require_owner(actor_role, "withdraw")?;
        let entry = self.append_if(ws, actor, Action::Withdraw { purpose }, now, |state| {
            Ok(state.purpose(purpose).granted)
        })?;
        Ok(entry.map(|entry| ConsentChange { entry, purpose, granted: false, actor, personal: false }))
    }

    /// Sets `user`'s own key for `purpose`. The app checks that `user` is a member of
    /// `ws` and is the caller: nobody sets another member's key.
    pub fn set_member(
        &self,
        ws: WorkspaceId,
        user: UserId,
        purpose: Purpose,
        included: bool,
        now: Millis,
    ) -> Result<ConsentChange, Error> {
        let opening = KeyOpening { user, included, nonce: hex::encode(rand::random::<[u8; 16]>()) };
        let commitment = opening.commitment(ws, purpose)?;
        let action = Action::MemberSet { purpose, user: None, included: None, commitment: Some(commitment) };
        let _guard = self.append_lock.lock();
        let entries = self.store.entries(ws)?;
        let granted = fold(ws, &entries).purpose(purpose).granted;
        let entry = self.append_locked(ws, sealed_actor(), action, now, &entries, Some(opening))?;
        Ok(ConsentChange { entry, purpose, granted, actor: user, personal: true })
    }

    /// The workspace's current consent, folded from its entries.
    pub fn state(&self, ws: WorkspaceId) -> Result<ConsentState, Error> {
        Ok(fold(ws, &self.store.entries(ws)?))
    }

    /// Recomputes the workspace's chain.
    pub fn verify(&self, ws: WorkspaceId) -> Result<VerifyReport, Error> {
        Ok(verify_entries(ws, &self.store.entries(ws)?))
    }

    /// Every entry plus the verification of the chain.
    pub fn export(&self, ws: WorkspaceId) -> Result<LedgerExport, Error> {
        let entries = self.store.entries(ws)?;
        let verification = verify_entries(ws, &entries);
        Ok(LedgerExport { workspace: ws, entries, verification })
    }

    /// The privacy budget (ε) spent on the workspace for `purpose`, over its whole
    /// history (withdrawing and granting again does not reset it).
    pub fn epsilon_spent(&self, ws: WorkspaceId, purpose: Purpose) -> Result<f64, Error> {
        Ok(epsilon_in(&self.store.entries(ws)?, purpose))
    }

    /// Refuses (with `conflict`) a run that would take the workspace's spend for
    /// `purpose` past `cap`.
    pub fn can_spend(&self, ws: WorkspaceId, purpose: Purpose, epsilon: f64, cap: f64) -> Result<(), Error> {
        check_budget(ws, purpose, epsilon_in(&self.store.entries(ws)?, purpose), epsilon, cap)
    }

    /// Records that run `run_id` spent `epsilon` on the workspace for `purpose`,
    /// checking the cap under the append lock so concurrent runs cannot overshoot it.
    /// `actor` is whoever started the run. The purpose must be granted.
    #[allow(clippy::too_many_arguments)]
    pub fn spend(
        &self,
        ws: WorkspaceId,
        actor: UserId,
        purpose: Purpose,
        epsilon: f64,
        cap: f64,
        run_id: &str,
        now: Millis,
    ) -> Result<LedgerEntry, Error> {
        if run_id.is_empty() {
            return Err(Error::invalid_field("run_id", "must not be empty"));
        }
        let action = Action::BudgetSpent { purpose, epsilon, run_id: run_id.to_owned() };
        let check = |state: &ConsentState, entries: &[LedgerEntry]| {
            if !state.purpose(purpose).granted {
                return Err(Error::forbidden(format!(
                    "{purpose} is not granted for workspace {ws}; no budget can be spent"
                )));
            }
            check_budget(ws, purpose, epsilon_in(entries, purpose), epsilon, cap)
        };
        let _guard = self.append_lock.lock();
        let entries = self.store.entries(ws)?;
        check(&fold(ws, &entries), &entries)?;
        self.append_locked(ws, actor, action, now, &entries, None)
    }

    /// Appends unless `check` fails.
    fn append(
        &self,
        ws: WorkspaceId,
        actor: UserId,
        action: Action,
        now: Millis,
        check: impl FnOnce(&ConsentState) -> Result<(), Error>,
    ) -> Result<LedgerEntry, Error> {
        let entry = self.append_if(ws, actor, action, now, |state| check(state).map(|()| true))?;
        entry.ok_or_else(Error::internal)
    }

    /// Under the append lock: folds the current state, asks `decide` whether to
    /// append, and if so appends the next link of the chain.
    fn append_if(
        &self,
        ws: WorkspaceId,
        actor: UserId,
        action: Action,
        now: Millis,
        decide: impl FnOnce(&ConsentState) -> Result<bool, Error>,
    ) -> Result<Option<LedgerEntry>, Error> {
        let _guard = self.append_lock.lock();
        let entries = self.store.entries(ws)?;
        if !decide(&fold(ws, &entries))? {
            return Ok(None);
        }
        self.append_locked(ws, actor, action, now, &entries, None).map(Some)
    }

    /// Builds and stores the entry after `entries`; the caller holds the append lock.
    fn append_locked(
        &self,
        ws: WorkspaceId,
        actor: UserId,
        action: Action,
        now: Millis,
        entries: &[LedgerEntry],
        opening: Option<KeyOpening>,
    ) -> Result<LedgerEntry, Error> {
        let (seq, prev_hash) = match entries.last() {
            Some(last) => (last.seq + 1, last.hash.clone()),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let (policy_version, policy_sha256) = current_version_and_hash(action.purpose());
        let mut entry = LedgerEntry {
            seq,
            workspace: ws,
            at: now,
            actor,
            action,
            policy_version,
            policy_sha256,
            prev_hash,
            hash: String::new(),
            opening,
            redacted: false,
        };
        entry.hash = entry.compute_hash()?;
        self.store.append(&entry)?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(entry)
    }
}

fn require_owner(role: Role, what: &str) -> Result<(), Error> {
    if role == Role::Owner {
        Ok(())
    } else {
        Err(Error::forbidden(format!("only a workspace owner can {what} consent")))
    }
}

fn epsilon_in(entries: &[LedgerEntry], purpose: Purpose) -> f64 {
    entries
        .iter()
        .filter_map(|e| match &e.action {
            Action::BudgetSpent { purpose: p, epsilon, .. } if *p == purpose => Some(*epsilon),
            _ => None,
        })
        .sum()
}

fn check_budget(ws: WorkspaceId, purpose: Purpose, spent: f64, epsilon: f64, cap: f64) -> Result<(), Error> {
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(Error::invalid_field("epsilon", "must be a positive finite number"));
    }
    if !(cap.is_finite() && cap >= 0.0) {
        return Err(Error::invalid_field("cap", "must be a non-negative finite number"));
    }
    if spent + epsilon > cap {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "privacy budget exceeded for {purpose} in workspace {ws}: \
                 spent ε={spent}, this run needs ε={epsilon}, cap is ε={cap}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::current_policy;
    use crate::testing::{MemoryLedgerStore, grant_request, user_id, workspace_id};

    const ALL_SEARCH: &[Category] = &[Category::SearchInteractions, Category::Messages];

    fn ledger() -> Ledger<MemoryLedgerStore> {
        Ledger::new(MemoryLedgerStore::new())
    }

    fn owner() -> UserId {
        user_id(1)
    }

    fn grant(l: &Ledger<MemoryLedgerStore>, mode: MemberMode, at: Millis) -> ConsentChange {
        let req = grant_request(Purpose::SearchRanking, Scope::Workspace, ALL_SEARCH, mode);
        l.grant(workspace_id(1), owner(), Role::Owner, req, at).unwrap()
    }

    #[test]
    fn default_state_grants_nothing() {
        let l = ledger();
        let state = l.state(workspace_id(1)).unwrap();
        assert_eq!(state.purposes.len(), 3);
        for p in Purpose::ALL {
            let s = state.purpose(p);
            assert!(!s.granted && s.scope.is_none() && s.categories.is_empty());
            assert!(!state.member_included(p, owner()));
        }
        assert!(state.members.is_empty() && state.head_hash.is_none());
        assert_eq!(l.verify(workspace_id(1)).unwrap().entries, 0);
    }

    #[test]
    fn only_owners_grant_and_withdraw() {
        let l = ledger();
        let ws = workspace_id(1);
        for role in [Role::Admin, Role::Member, Role::Guest] {
            let req = grant_request(Purpose::SearchRanking, Scope::Workspace, ALL_SEARCH, MemberMode::OptIn);
            let err = l.grant(ws, user_id(2), role, req, 1).unwrap_err();
            assert_eq!(err.code, ErrorCode::Forbidden, "{role:?}");
        }
        assert!(l.store().entries(ws).unwrap().is_empty());
        grant(&l, MemberMode::OptIn, 1);
        for role in [Role::Admin, Role::Member, Role::Guest] {
            let err = l.withdraw(ws, user_id(2), role, Purpose::SearchRanking, 2).unwrap_err();
            assert_eq!(err.code, ErrorCode::Forbidden);
        }
        assert!(l.state(ws).unwrap().purpose(Purpose::SearchRanking).granted);
    }

    #[test]
    fn a_grant_must_be_explicit() {
        let l = ledger();
        for accept in [None, Some(false)] {
            let mut req = grant_request(
                Purpose::EmojiSuggestions,
                Scope::Workspace,
                &[Category::Messages],
                MemberMode::OptIn,
            );
            req.accept = accept;
            let err = l.grant(workspace_id(1), owner(), Role::Owner, req, 1).unwrap_err();
            assert_eq!(err.code, ErrorCode::ConsentNotExplicit);
        }
        // And the JSON body without `accept` deserialises to `None`.
        let body = serde_json::json!({
            "purpose": "emoji_suggestions", "scope": "workspace", "categories": ["messages"],
            "members": "opt_in", "policy_version": 1, "policy_sha256": "x"
        });
        assert_eq!(serde_json::from_value::<GrantRequest>(body).unwrap().accept, None);
        assert!(!l.state(workspace_id(1)).unwrap().purpose(Purpose::EmojiSuggestions).granted);
    }

    #[test]
    fn a_stale_policy_is_refused_naming_the_current_version() {
        let l = ledger();
        let current = current_policy(Purpose::ChannelSuggestions);
        let fresh = || {
            grant_request(
                Purpose::ChannelSuggestions,
                Scope::Shared,
                &[Category::Memberships],
                MemberMode::OptOut,
            )
        };
        let mut old_version = fresh();
        old_version.policy_version = 0;
        let mut other_hash = fresh();
        other_hash.policy_sha256 = current_policy(Purpose::SearchRanking).sha256;
        let mut upper_hash = fresh();
        upper_hash.policy_sha256 = current.sha256.to_uppercase();
        for req in [old_version, other_hash, upper_hash] {
            let err = l.grant(workspace_id(1), owner(), Role::Owner, req, 1).unwrap_err();
            assert_eq!(err.code, ErrorCode::PolicyMismatch);
            assert!(err.message.contains(&format!("version {}", current.version)), "{}", err.message);
            assert!(err.message.contains(&current.sha256));
        }
        assert!(l.store().entries(workspace_id(1)).unwrap().is_empty());
    }

    #[test]
    fn a_grant_may_name_only_its_purposes_categories() {
        let l = ledger();
        let ws = workspace_id(1);
        let bad = grant_request(
            Purpose::SearchRanking,
            Scope::Workspace,
            &[Category::Messages, Category::Reactions],
            MemberMode::OptIn,
        );
        let err = l.grant(ws, owner(), Role::Owner, bad, 1).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidField);
        assert!(err.message.contains("reactions"), "{}", err.message);
        let empty = grant_request(Purpose::SearchRanking, Scope::Workspace, &[], MemberMode::OptIn);
        assert_eq!(l.grant(ws, owner(), Role::Owner, empty, 1).unwrap_err().code, ErrorCode::InvalidField);
        // Duplicates and order are normalised.
        let dup = grant_request(
            Purpose::SearchRanking,
            Scope::Workspace,
            &[Category::SearchInteractions, Category::Messages, Category::Messages],
            MemberMode::OptIn,
        );
        let change = l.grant(ws, owner(), Role::Owner, dup, 1).unwrap();
        assert_eq!(
            l.state(ws).unwrap().purpose(Purpose::SearchRanking).categories,
            vec![Category::Messages, Category::SearchInteractions]
        );
        assert!(matches!(&change.entry.action, Action::Grant { categories, .. } if categories.len() == 2));
    }

    #[test]
    fn grant_and_withdraw_chain_and_fold() {
        let l = ledger();
        let ws = workspace_id(1);
        let g = grant(&l, MemberMode::OptIn, 10);
        assert_eq!(g.entry.seq, 1);
        assert_eq!(g.entry.prev_hash, GENESIS_HASH);
        assert_eq!(g.entry.hash, g.entry.compute_hash().unwrap());
        assert!(g.granted);
        let event = serde_json::to_value(g.to_event()).unwrap();
        assert_eq!(event["kind"], "consent.changed");
        assert_eq!(event["purpose"], "search_ranking");
        assert_eq!(event["entry_hash"], g.entry.hash.as_str());

        let state = l.state(ws).unwrap();
        let s = state.purpose(Purpose::SearchRanking);
        assert!(s.granted);
        assert_eq!(s.scope, Some(Scope::Workspace));
        assert_eq!(s.granted_by, Some(owner()));
        assert_eq!(s.granted_at, Some(10));
        assert_eq!((s.entry_seq, s.entry_hash.as_deref()), (Some(1), Some(g.entry.hash.as_str())));
        assert!(!state.purpose(Purpose::EmojiSuggestions).granted);

        let w = l.withdraw(ws, owner(), Role::Owner, Purpose::SearchRanking, 20).unwrap().unwrap();
        assert_eq!((w.entry.seq, w.granted), (2, false));
        assert_eq!(w.entry.prev_hash, g.entry.hash);
        let s = l.state(ws).unwrap().purpose(Purpose::SearchRanking).clone();
        assert!(!s.granted && s.scope.is_none() && s.granted_by.is_none());
        assert_eq!(s.entry_seq, Some(2));

        // Withdrawing again (or a purpose never granted) is a no-op without an entry.
        assert!(l.withdraw(ws, owner(), Role::Owner, Purpose::SearchRanking, 30).unwrap().is_none());
        assert!(l.withdraw(ws, owner(), Role::Owner, Purpose::EmojiSuggestions, 30).unwrap().is_none());
        assert_eq!(l.store().entries(ws).unwrap().len(), 2);
        assert!(l.verify(ws).unwrap().is_ok());
        // Another workspace's chain is independent.
        assert!(l.state(workspace_id(2)).unwrap().head_seq.is_none());
    }

    #[test]
    fn opt_in_members_are_out_until_they_opt_in_to_the_grant_in_force() {
        let l = ledger();
        let ws = workspace_id(1);
        let (alice, bob, carol) = (user_id(10), user_id(11), user_id(12));
        // Before any grant, even an opt-in includes nobody.
        l.set_member(ws, carol, Purpose::SearchRanking, true, 1).unwrap();
        assert!(!l.state(ws).unwrap().member_included(Purpose::SearchRanking, carol));

        grant(&l, MemberMode::OptIn, 2);
        let change = l.set_member(ws, alice, Purpose::SearchRanking, true, 3).unwrap();
        assert!(change.granted && change.actor == alice);
        let state = l.state(ws).unwrap();
        assert!(state.member_included(Purpose::SearchRanking, alice));
        assert!(!state.member_included(Purpose::SearchRanking, bob), "silence is not a yes");
        assert!(!state.member_included(Purpose::SearchRanking, carol), "a yes before the grant");
        assert!(!member_included(&state, Purpose::EmojiSuggestions, alice), "other purpose");
        assert_eq!(state.keys_of(alice).len(), 1);

        // A re-grant asks again.
        grant(&l, MemberMode::OptIn, 4);
        assert!(!l.state(ws).unwrap().member_included(Purpose::SearchRanking, alice));
        l.set_member(ws, alice, Purpose::SearchRanking, true, 5).unwrap();
        l.set_member(ws, alice, Purpose::SearchRanking, false, 6).unwrap();
        assert!(!l.state(ws).unwrap().member_included(Purpose::SearchRanking, alice));
    }

    #[test]
    fn opt_out_members_are_in_until_they_exclude_themselves() {
        let l = ledger();
        let ws = workspace_id(1);
        let (alice, bob) = (user_id(10), user_id(11));
        // An exclusion made before the grant still holds after it.
        l.set_member(ws, bob, Purpose::SearchRanking, false, 1).unwrap();
        grant(&l, MemberMode::OptOut, 2);
        let state = l.state(ws).unwrap();
        assert!(state.member_included(Purpose::SearchRanking, alice));
        assert!(!state.member_included(Purpose::SearchRanking, bob));
        l.set_member(ws, alice, Purpose::SearchRanking, false, 3).unwrap();
        l.set_member(ws, bob, Purpose::SearchRanking, true, 4).unwrap();
        let state = l.state(ws).unwrap();
        assert!(!state.member_included(Purpose::SearchRanking, alice));
        assert!(state.member_included(Purpose::SearchRanking, bob));
        // Withdrawal excludes everyone.
        l.withdraw(ws, owner(), Role::Owner, Purpose::SearchRanking, 5).unwrap();
        assert!(!l.state(ws).unwrap().member_included(Purpose::SearchRanking, bob));
    }

    /// A ledger with five entries in workspace 1.
    fn five_entries() -> Ledger<MemoryLedgerStore> {
        let l = ledger();
        let ws = workspace_id(1);
        grant(&l, MemberMode::OptOut, 1);
        l.set_member(ws, user_id(10), Purpose::SearchRanking, false, 2).unwrap();
        l.spend(ws, owner(), Purpose::SearchRanking, 0.5, 10.0, "run-1", 3).unwrap();
        l.set_member(ws, user_id(11), Purpose::SearchRanking, false, 4).unwrap();
        l.withdraw(ws, owner(), Role::Owner, Purpose::SearchRanking, 5).unwrap();
        assert!(l.verify(ws).unwrap().is_ok());
        l
    }

    fn first_bad(l: &Ledger<MemoryLedgerStore>) -> (u64, String) {
        l.verify(workspace_id(1)).unwrap().first_bad.expect("tampering goes unnoticed")
    }

    #[test]
    fn verify_catches_an_edited_field() {
        let l = five_entries();
        l.store().tamper(workspace_id(1), |e| {
            e[2].action =
                Action::BudgetSpent { purpose: Purpose::SearchRanking, epsilon: 0.1, run_id: "run-1".into() };
        });
        let (seq, reason) = first_bad(&l);
        assert_eq!(seq, 3);
        assert!(reason.contains("content"), "{reason}");

        let l = five_entries();
        l.store().tamper(workspace_id(1), |e| e[1].at += 1);
        assert_eq!(first_bad(&l).0, 2);

        let l = five_entries();
        l.store().tamper(workspace_id(1), |e| e[0].actor = user_id(99));
        assert_eq!(first_bad(&l).0, 1);
    }

    #[test]
    fn verify_catches_a_rehashed_entry_by_its_successor() {
        // Rewriting an entry and recomputing its hash breaks the next link.
        let l = five_entries();
        l.store().tamper(workspace_id(1), |e| {
            e[1].opening.as_mut().unwrap().included = true;
            let commitment =
                e[1].opening.as_ref().unwrap().commitment(e[1].workspace, Purpose::SearchRanking);
            e[1].action = Action::MemberSet {
                purpose: Purpose::SearchRanking,
                user: None,
                included: None,
                commitment: Some(commitment.unwrap()),
            };
            e[1].hash = e[1].compute_hash().unwrap();
        });
        let (seq, reason) = first_bad(&l);
        assert_eq!(seq, 3);
        assert!(reason.contains("prev_hash"), "{reason}");
        // A hash edited alone is caught at its own entry.
        let l = five_entries();
        l.store().tamper(workspace_id(1), |e| e[3].hash = "ab".repeat(32));
        assert_eq!(first_bad(&l).0, 4);
    }

    #[test]
    fn verify_catches_dropped_and_reordered_entries() {
        let l = five_entries();
        l.store().tamper(workspace_id(1), |e| {
            e.remove(1);
        });
        let (seq, reason) = first_bad(&l);
        assert_eq!(seq, 2);
        assert!(reason.contains("found seq 3"), "{reason}");

        let l = five_entries();
        l.store().tamper(workspace_id(1), |e| e.swap(2, 3));
        assert_eq!(first_bad(&l).0, 3);

        // Renumbering after a drop still breaks the prev link.
        let l = five_entries();
        l.store().tamper(workspace_id(1), |e| {
            e.remove(0);
            for (i, entry) in e.iter_mut().enumerate() {
                entry.seq = i as u64 + 1;
            }
        });
        assert_eq!(first_bad(&l).0, 1);

        // Truncating the tail is visible only as a different head.
        let l = five_entries();
        let head = l.verify(workspace_id(1)).unwrap().head_hash;
        l.store().tamper(workspace_id(1), |e| {
            e.pop();
        });
        let report = l.verify(workspace_id(1)).unwrap();
        assert!(report.is_ok());
        assert_ne!(report.head_hash, head);
    }

    #[test]
    fn export_carries_entries_and_verification() {
        let l = five_entries();
        let export = serde_json::to_value(l.export(workspace_id(1)).unwrap()).unwrap();
        assert_eq!(export["entries"].as_array().unwrap().len(), 5);
        assert_eq!(export["verification"]["first_bad"], serde_json::Value::Null);
        assert_eq!(export["entries"][2]["action"]["type"], "budget_spent");
        assert_eq!(export["entries"][0]["action"]["members"], "opt_out");
        // Entries round-trip through JSON (as a store would keep them) with their hash.
        let entries: Vec<LedgerEntry> = serde_json::from_value(export["entries"].clone()).unwrap();
        assert!(verify_entries(workspace_id(1), &entries).is_ok());
    }

    #[test]
    fn an_older_unsealed_key_entry_still_verifies_folds_and_redacts() {
        // A `member_set` entry as written before keys were sealed: user and choice in
        // the action, the member as actor, no commitment.
        let l = ledger();
        let ws = workspace_id(1);
        grant(&l, MemberMode::OptOut, 1);
        let entries = l.store().entries(ws).unwrap();
        let mut legacy = LedgerEntry {
            seq: 2,
            workspace: ws,
            at: 2,
            actor: user_id(10),
            action: Action::MemberSet {
                purpose: Purpose::SearchRanking,
                user: Some(user_id(10)),
                included: Some(false),
                commitment: None,
            },
            policy_version: entries[0].policy_version,
            policy_sha256: entries[0].policy_sha256.clone(),
            prev_hash: entries[0].hash.clone(),
            hash: String::new(),
            opening: None,
            redacted: false,
        };
        legacy.hash = legacy.compute_hash().unwrap();
        let json = serde_json::to_value(&legacy).unwrap();
        assert_eq!(
            json["action"],
            serde_json::json!({"type": "member_set", "purpose": "search_ranking", "user": user_id(10), "included": false})
        );
        l.store().append(&legacy).unwrap();
        assert!(l.verify(ws).unwrap().is_ok());
        assert!(!l.state(ws).unwrap().member_included(Purpose::SearchRanking, user_id(10)));
        let shown = l.export(ws).unwrap().shown_to(user_id(11));
        assert!(shown.entries[1].redacted && shown.entries[1].actor == sealed_actor());
        assert!(!serde_json::to_string(&shown).unwrap().contains(&user_id(10).to_string()));
        assert!(verify_shown(ws, &shown.entries).is_ok());
        assert!(!verify_entries(ws, &shown.entries).is_ok(), "a stored entry may not be redacted");
        // Its own member sees it as it is.
        assert!(!l.export(ws).unwrap().shown_to(user_id(10)).entries[1].redacted);
    }

    #[test]
    fn hashes_are_over_canonical_json() {
        let mut out = String::new();
        write_canonical(&serde_json::json!({"b": [1, {"z": 1, "a": "é\""}], "a": 0.5}), &mut out);
        assert_eq!(out, r#"{"a":0.5,"b":[1,{"a":"é\"","z":1}]}"#);
    }

    #[test]
    fn the_budget_cap_refuses_overspending() {
        let l = ledger();
        let ws = workspace_id(1);
        let spend = |eps: f64, run: &str| l.spend(ws, owner(), Purpose::SearchRanking, eps, 1.0, run, 5);
        assert_eq!(spend(0.1, "r0").unwrap_err().code, ErrorCode::Forbidden, "not granted");
        grant(&l, MemberMode::OptIn, 1);
        spend(0.4, "r1").unwrap();
        spend(0.4, "r2").unwrap();
        assert!((l.epsilon_spent(ws, Purpose::SearchRanking).unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(l.epsilon_spent(ws, Purpose::EmojiSuggestions).unwrap(), 0.0);
        l.can_spend(ws, Purpose::SearchRanking, 0.2, 1.0).unwrap();
        let err = l.can_spend(ws, Purpose::SearchRanking, 0.3, 1.0).unwrap_err();
        assert_eq!(err.code, ErrorCode::Conflict);
        assert!(err.message.contains("budget exceeded") && err.message.contains("cap"), "{}", err.message);
        assert_eq!(spend(0.3, "r3").unwrap_err().code, ErrorCode::Conflict);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(spend(bad, "r4").unwrap_err().code, ErrorCode::InvalidField);
        }
        assert_eq!(spend(0.1, "").unwrap_err().code, ErrorCode::InvalidField);
        assert_eq!(l.store().entries(ws).unwrap().len(), 3);
    }

    #[test]
    fn concurrent_appends_never_fork_the_chain() {
        let l = std::sync::Arc::new(ledger());
        let ws = workspace_id(1);
        grant(&l, MemberMode::OptOut, 0);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        l.set_member(ws, user_id(100 + t), Purpose::SearchRanking, i % 2 == 0, i).unwrap();
                        let req = grant_request(
                            Purpose::EmojiSuggestions,
                            Scope::Workspace,
                            &[Category::Reactions],
                            MemberMode::OptIn,
                        );
                        l.grant(ws, owner(), Role::Owner, req, i).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let report = l.verify(ws).unwrap();
        assert_eq!(report.entries, 201);
        assert!(report.is_ok(), "{:?}", report.first_bad);
    }
}
