//! Realistic synthetic search workspaces from the chit-chat corpus, shared by the
//! search bench (`crates/search/examples/search_bench.rs`) and the search crate's
//! integration tests (`crates/search/tests/search.rs`).
//!
//! Conversations are replayed round-robin, each replay into a different channel with
//! senders remapped to the workspace's users and timestamps spread over a year before
//! [`NOW`]. A seeded generator adds what the corpus lacks: thread replies (10%),
//! links (3%), code-like tokens (2%), mentions and reactions.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use confab_core::{ChannelId, MessageId, UserId, WorkspaceId};
use confab_search::IndexDoc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

/// "Now" of generated workspaces: 2024-06-01T00:00:00Z.
pub const NOW: i64 = 1_717_200_000_000;
const SPAN_MS: i64 = 365 * 86_400_000;

#[derive(Deserialize)]
struct Conversation {
    messages: Vec<Vec<RawMessage>>,
}

#[derive(Deserialize)]
struct RawMessage {
    text: String,
    sender: String,
}

/// One corpus message: its text and which of its conversation's senders wrote it.
pub struct CorpusMessage {
    pub text: String,
    pub sender: usize,
}

/// The corpus's path inside the repository.
pub fn corpus_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/chitchat-dataset.json.gz")
}

/// Loads the corpus: per conversation (in id order), its messages in order.
pub fn load(path: &Path) -> std::io::Result<Vec<Vec<CorpusMessage>>> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path)?).read_to_end(&mut json)?;
    let conversations: BTreeMap<String, Conversation> = serde_json::from_slice(&json)?;
    Ok(conversations
        .into_values()
        .map(|conversation| {
            let mut senders: Vec<String> = Vec::new();
            conversation
                .messages
                .into_iter()
                .flatten()
                .map(|m| {
                    let sender = match senders.iter().position(|s| *s == m.sender) {
                        Some(k) => k,
                        None => {
                            senders.push(m.sender);
                            senders.len() - 1
                        }
                    };
                    CorpusMessage { text: m.text, sender }
                })
                .collect()
        })
        .collect())
}

pub fn workspace_id(n: u64) -> WorkspaceId {
    WorkspaceId::from_ulid(ulid::Ulid::from_parts(1, u128::from(n)))
}
pub fn channel_id(workspace: u64, n: u64) -> ChannelId {
    ChannelId::from_ulid(ulid::Ulid::from_parts(2, (u128::from(workspace) << 32) | u128::from(n)))
}
pub fn user_id(n: u64) -> UserId {
    UserId::from_ulid(ulid::Ulid::from_parts(3, u128::from(n)))
}

/// The shape of a generated workspace.
pub struct WorkspaceSpec {
    pub workspace: u64,
    pub messages: usize,
    pub channels: u64,
    pub users: u64,
    pub seed: u64,
}

/// Generates `spec.messages` index documents, oldest first, calling `sink` for each
/// (so a million messages need not be held at once).
pub fn generate(corpus: &[Vec<CorpusMessage>], spec: &WorkspaceSpec, mut sink: impl FnMut(IndexDoc)) {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let workspace = workspace_id(spec.workspace);
    let step = (SPAN_MS / spec.messages.max(1) as i64).max(1);
    let start = NOW - SPAN_MS;
    // Recent thread roots per channel, to attach replies to.
    let mut roots: Vec<Vec<MessageId>> = vec![Vec::new(); spec.channels as usize];
    let mut produced = 0usize;
    let mut pass = 0u64;
    while produced < spec.messages {
        for (c, conversation) in corpus.iter().enumerate() {
            if produced >= spec.messages {
                break;
            }
            let channel_index = (c as u64 * 7 + pass * 13) % spec.channels;
            let channel = channel_id(spec.workspace, channel_index);
            // Each corpus sender of this replay becomes a workspace user.
            let user_base = rng.random_range(0..spec.users);
            for message in conversation {
                if produced >= spec.messages {
                    break;
                }
                let created_at = start + produced as i64 * step + rng.random_range(0..step);
                let author = user_id((user_base + message.sender as u64 * 17) % spec.users);
                let id =
                    MessageId::from_ulid(ulid::Ulid::from_parts(created_at as u64, rng.random::<u128>()));
                let mut text = message.text.clone();
                let roll: f64 = rng.random();
                if roll < 0.03 {
                    text.push_str(&format!(
                        " https://docs.example.com/{}/page{}",
                        WORDS[rng.random_range(0..WORDS.len())],
                        rng.random_range(0..50)
                    ));
                } else if roll < 0.05 {
                    text.push_str(&format!(" see {}", CODE[rng.random_range(0..CODE.len())]));
                }
                let has_mention = rng.random_bool(0.02);
                if has_mention {
                    text = format!("@user{} {text}", rng.random_range(0..spec.users));
                }
                let channel_roots = &mut roots[channel_index as usize];
                let thread_root = if !channel_roots.is_empty() && rng.random_bool(0.10) {
                    Some(channel_roots[rng.random_range(0..channel_roots.len())])
                } else {
                    None
                };
                if thread_root.is_none() && rng.random_bool(0.05) {
                    channel_roots.push(id);
                    if channel_roots.len() > 8 {
                        channel_roots.remove(0);
                    }
                }
                // Replies are counted on the root at generation time only roughly:
                // the generator gives roots a plausible reply count directly.
                let reply_count = if channel_roots.last() == Some(&id) { rng.random_range(1..12) } else { 0 };
                let reaction_count = if rng.random_bool(0.15) { rng.random_range(1..8) } else { 0 };
                sink(IndexDoc {
                    id,
                    workspace,
                    channel,
                    author,
                    thread_root,
                    created_at,
                    has_link: confab_search::text_has_link(&text),
                    has_mention,
                    has_file: false,
                    has_image: false,
                    file_names: Vec::new(),
                    file_texts: Vec::new(),
                    text,
                    reaction_count,
                    reply_count,
                });
                produced += 1;
            }
        }
        pass += 1;
    }
}

const WORDS: &[&str] = &["setup", "release", "billing", "api", "onboarding", "deploy", "search"];
const CODE: &[&str] = &[
    "src/index/writer.rs",
    "parse_query_string",
    "SearchIndexBuilder",
    "config/prod.toml",
    "handle_ws_frame()",
];
