//! In-memory stand-ins for the app's [`LedgerStore`] and [`DataSource`], and builders
//! of ids, records and grant requests, for the consent and training crates' tests.
//! Nothing here is durable: never use it to hold real consent.

use std::collections::HashMap;

use confab_core::{
    Channel, ChannelId, ChannelKind, FileId, Message, MessageId, Millis, Reaction, UserId, WorkspaceId,
};
use parking_lot::Mutex;

use confab_consent::{
    Category, DataSource, FileData, GrantRequest, LedgerEntry, LedgerStore, MemberMode, MembershipRecord,
    Purpose, Scope, SearchInteraction, StorageError, current_policy,
};

/// A ledger store in a map. For tests only.
#[derive(Default)]
pub struct MemoryLedgerStore {
    logs: Mutex<HashMap<WorkspaceId, Vec<LedgerEntry>>>,
}

impl MemoryLedgerStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Edits a workspace's stored entries behind the ledger's back, to test that
    /// verification and the gate catch tampering.
    pub fn tamper(&self, ws: WorkspaceId, edit: impl FnOnce(&mut Vec<LedgerEntry>)) {
        edit(self.logs.lock().entry(ws).or_default());
    }
}

impl LedgerStore for MemoryLedgerStore {
    fn append(&self, entry: &LedgerEntry) -> Result<(), StorageError> {
        self.logs.lock().entry(entry.workspace).or_default().push(entry.clone());
        Ok(())
    }

    fn entries(&self, ws: WorkspaceId) -> Result<Vec<LedgerEntry>, StorageError> {
        Ok(self.logs.lock().get(&ws).cloned().unwrap_or_default())
    }
}

/// A data source over plain vectors. For tests only.
///
/// Like a careless implementation, it hands the gate *every* channel and message it
/// holds, private and DM ones included, and ignores the workspace and channel asked
/// for, so tests show that the gate does its own filtering.
#[derive(Clone, Debug, Default)]
pub struct MemorySource {
    pub channels: Vec<Channel>,
    pub messages: Vec<Message>,
    pub memberships: Vec<(WorkspaceId, MembershipRecord)>,
    pub search_interactions: Vec<(WorkspaceId, SearchInteraction)>,
    pub files: Vec<FileData>,
    /// When set, returns only what was asked for, like a correct implementation.
    pub well_behaved: bool,
}

impl DataSource for MemorySource {
    fn public_channels(&self, ws: WorkspaceId) -> Result<Vec<Channel>, StorageError> {
        Ok(self
            .channels
            .iter()
            .filter(|c| !self.well_behaved || (c.workspace == ws && c.is_public()))
            .cloned()
            .collect())
    }

    fn messages(&self, ws: WorkspaceId, channel: ChannelId) -> Result<Vec<Message>, StorageError> {
        Ok(self
            .messages
            .iter()
            .filter(|m| !self.well_behaved || (m.workspace == ws && m.channel == channel))
            .cloned()
            .collect())
    }

    fn memberships(&self, ws: WorkspaceId) -> Result<Vec<MembershipRecord>, StorageError> {
        Ok(self
            .memberships
            .iter()
            .filter(|(w, _)| !self.well_behaved || *w == ws)
            .map(|(_, m)| m.clone())
            .collect())
    }

    fn search_interactions(&self, ws: WorkspaceId) -> Result<Vec<SearchInteraction>, StorageError> {
        Ok(self
            .search_interactions
            .iter()
            .filter(|(w, _)| !self.well_behaved || *w == ws)
            .map(|(_, s)| s.clone())
            .collect())
    }

    fn message_files(&self, message: &Message) -> Result<Vec<FileData>, StorageError> {
        Ok(self.files.iter().filter(|f| !self.well_behaved || f.message == message.id).cloned().collect())
    }
}

/// A deterministic id: `kind` in the first byte keeps ids of different kinds apart.
fn id_bytes(kind: u8, n: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = kind;
    b[8..].copy_from_slice(&n.to_be_bytes());
    b
}

pub fn workspace_id(n: u64) -> WorkspaceId {
    WorkspaceId::from_bytes(id_bytes(1, n))
}

pub fn user_id(n: u64) -> UserId {
    UserId::from_bytes(id_bytes(2, n))
}

pub fn channel_id(n: u64) -> ChannelId {
    ChannelId::from_bytes(id_bytes(3, n))
}

pub fn message_id(n: u64) -> MessageId {
    MessageId::from_bytes(id_bytes(4, n))
}

pub fn file_id(n: u64) -> FileId {
    FileId::from_bytes(id_bytes(5, n))
}

/// A text file attached to `message` (name and text as given).
pub fn text_file(id: FileId, message: MessageId, name: &str, text: &str) -> FileData {
    FileData {
        id,
        message,
        name: name.to_owned(),
        content_type: "text/plain; charset=utf-8".to_owned(),
        size: text.len() as u64,
        text: Some(text.to_owned()),
    }
}

pub fn channel(ws: WorkspaceId, id: ChannelId, kind: ChannelKind) -> Channel {
    Channel {
        id,
        workspace: ws,
        name: format!("c-{}", id.to_string().to_lowercase()),
        kind,
        topic: String::new(),
        archived: false,
        created_by: user_id(0),
        created_at: 0,
    }
}

/// A message with the given reactions `(emoji, users)`.
#[allow(clippy::too_many_arguments)]
pub fn message(
    ws: WorkspaceId,
    ch: ChannelId,
    seq: u64,
    id: MessageId,
    author: UserId,
    text: &str,
    created_at: Millis,
    reactions: Vec<(&str, Vec<UserId>)>,
) -> Message {
    Message {
        id,
        workspace: ws,
        channel: ch,
        seq,
        author,
        text: text.to_owned(),
        created_at,
        edited_at: None,
        deleted: false,
        thread_root: None,
        reply_count: 0,
        last_reply_at: None,
        reactions: reactions
            .into_iter()
            .map(|(emoji, users)| Reaction { emoji: emoji.to_owned(), users })
            .collect(),
        mentions: Vec::new(),
        client_msg_id: None,
        files: Vec::new(),
    }
}

/// An explicit grant of the current policy.
pub fn grant_request(
    purpose: Purpose,
    scope: Scope,
    categories: &[Category],
    members: MemberMode,
) -> GrantRequest {
    let policy = current_policy(purpose);
    GrantRequest {
        purpose,
        scope,
        categories: categories.to_vec(),
        members,
        policy_version: policy.version,
        policy_sha256: policy.sha256,
        accept: Some(true),
    }
}
