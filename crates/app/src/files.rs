//! Files: uploads attached to messages, their download, and their deletion, one by
//! one or with the message.
//!
//! An upload is a message: `POST /channels/{ch}/files` posts a message (with an
//! optional text) that lists the file's id, through the same path as any post
//! ([`App::post_message`]), so it is delivered over the WebSocket as a
//! `message.created` carrying the file's id. The contents live in a
//! [`BlobStore`], content-addressed per workspace; the records live in the store
//! as blobs of the workspace, written in the message's own batch:
//! - `files`: file id → [`FileRecord`] (name, size, type, content hash, channel,
//!   message);
//! - `file_contents`: content hash → [`ContentRecord`] (size and how many files name
//!   it): identical content is stored and counted once;
//! - `file_usage`: the workspace's bytes stored, checked against
//!   `files.workspace_quota_bytes`;
//! - `file_thumbs`: file id → the PNG thumbnail of a raster image, made once at
//!   upload in a bounded blocking pool, decoding under pixel and memory limits so
//!   that a decompression bomb is refused instead of exhausting memory.
//!
//! Permissions come from the channel: whoever may read the channel may download its
//! files, and anyone else gets `file_not_found`, as for a file that does not exist.
//! Search follows the same rule: a file's name and, for a text file of at most
//! `files.index_text_max_bytes`, its text are indexed with its message
//! ([`FileIndexing`]), so they are found exactly where the message is.
//!
//! Placing content and deleting it happen under the workspace's write lock, after
//! reading the content records, so an upload of content that a delete is removing
//! can never lose it.
//!
//! In a cluster, an upload is received by whichever node the client reached, and
//! placed by the node that sequences the workspace (under that lock). The receiving
//! node streams and seals it, hands it off through the directory the nodes share
//! (`BlobStore::hand_off`) and forwards only a [`HandedOff`] record per file; the
//! holder takes each handoff (`BlobStore::claim`), hashes it again, and posts it as
//! if it had been uploaded there ([`App::post_handed_off`]); what the holder did
//! not take when the forward fails, the receiving node deletes. So the bytes never
//! cross the bus, the limits and the quota answer as on one node, and a record can
//! only name a handoff of its own workspace, which is taken once. Deleting the file (or the message) that holds the last
//! reference to a content deletes the content once the deletion is durable. A file
//! deleted on its own leaves its message (`message.updated`); a message left with
//! neither text nor files is deleted with it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use confab_consent::{FILE_TEXT_MAX_BYTES, FileData};
use confab_core::{
    ChannelId, Error, ErrorCode, FileId, FileInfo, Message, MessageId, Millis, UserId, WorkspaceId,
};
use confab_store::blobs::{ContentHash, Sealed, Staging};
use confab_store::{BlobStore, Op, Store};
use serde::{Deserialize, Serialize};

use crate::directory::WorkspaceState;
use crate::error::{AppError, Result};
use crate::{App, Caller, Tx, new_ulid};

const FILES: &str = "files";
const CONTENTS: &str = "file_contents";
const USAGE: &str = "file_usage";
const THUMBS: &str = "file_thumbs";
const USAGE_KEY: &[u8] = b"bytes";

/// Longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 255;

/// The least age at which an upload handed off to another node and never claimed
/// is deleted, whatever `files.orphan_ttl_secs` says: far past any forwarded
/// request's timeout, so that a holder slow to answer never finds it gone.
const HANDOFF_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// `[files]`: upload limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Largest file, in bytes (a larger upload gets `413 payload_too_large`).
    pub max_bytes: u64,
    /// Bytes of file content one workspace may store (identical content counts once).
    pub workspace_quota_bytes: u64,
    /// Seconds after which content that no message names is removed.
    pub orphan_ttl_secs: u64,
    /// Seconds an upload may take, body included (other requests have
    /// `server.request_timeout_secs`).
    pub upload_timeout_secs: u64,
    /// Uploads being received at once, server-wide; more get `rate_limited`. Bounds
    /// the disk that unfinished uploads can take to this many times `max_bytes`.
    pub max_concurrent_uploads: usize,
    /// Longest side of a thumbnail, in pixels.
    pub thumbnail_px: u32,
    /// Widest and tallest image decoded for a thumbnail; a larger one is refused.
    pub image_max_side_px: u32,
    /// Most memory one image's decoding may take, in bytes; a larger one is refused.
    pub image_max_decode_bytes: u64,
    /// Thumbnails made at once (each a blocking thread).
    pub thumbnail_threads: usize,
    /// Largest text-like file whose text is searchable, in bytes; a larger one is
    /// found by its name only, and 0 indexes no file's text.
    pub index_text_max_bytes: u64,
    /// Files one message may carry (one upload request).
    pub max_files_per_message: usize,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            max_bytes: 100 * 1024 * 1024,
            workspace_quota_bytes: 10 * 1024 * 1024 * 1024,
            orphan_ttl_secs: 24 * 3600,
            upload_timeout_secs: 3600,
            max_concurrent_uploads: 32,
            thumbnail_px: 360,
            image_max_side_px: 12_000,
            image_max_decode_bytes: 256 * 1024 * 1024,
            thumbnail_threads: 2,
            index_text_max_bytes: 1024 * 1024,
            max_files_per_message: 10,
        }
    }
}

/// A directory of file contents that the nodes of a cluster share (`[cluster]
/// blobs`), and this node's name there (its staging directory's).
#[derive(Clone, Debug)]
pub struct SharedFiles {
    pub dir: std::path::PathBuf,
    pub node: String,
}

/// What the store keeps about one file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileRecord {
    pub info: FileInfo,
    pub channel: ChannelId,
    pub message: MessageId,
    pub uploader: UserId,
    pub created_at: Millis,
    /// SHA-256 of the content, hex.
    pub hash: String,
}

/// What the store keeps about one content of a workspace.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct ContentRecord {
    size: u64,
    /// Files naming this content.
    refs: u64,
}

/// The app's side of files: where contents live and how many uploads are running.
pub(crate) struct Files {
    pub(crate) blobs: Arc<dyn BlobStore>,
    uploads: Arc<tokio::sync::Semaphore>,
    pub(crate) thumbnails: Arc<tokio::sync::Semaphore>,
}

impl Files {
    pub(crate) fn new(blobs: Arc<dyn BlobStore>, config: &FilesConfig) -> Files {
        Files {
            blobs,
            uploads: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_uploads.max(1))),
            thumbnails: Arc::new(tokio::sync::Semaphore::new(config.thumbnail_threads.max(1))),
        }
    }
}

/// An upload being received: write the bytes with [`Upload::write`], then hand it to
/// [`App::post_file`]. Dropping it deletes what was written.
pub struct Upload {
    channel: ChannelId,
    staging: Staging,
    max_bytes: u64,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Upload {
    /// Appends a chunk; `payload_too_large` past `files.max_bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if self.staging.size() + bytes.len() as u64 > self.max_bytes {
            return Err(too_large(self.max_bytes).into());
        }
        self.staging.write(bytes).map_err(io("writing an upload"))
    }
}

/// An upload a node of a cluster received for a workspace another node sequences,
/// handed off through the shared directory: what the receiving node forwards to the
/// holder in its place ([`App::post_handed_off`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HandedOff {
    /// The file's id, under which its content waits for the holder.
    pub file: FileId,
    /// The name it was sent with (sanitised by the holder).
    pub name: String,
    /// The content's SHA-256 (hex) and size as the receiving node found them; the
    /// holder hashes the content again and refuses it if they differ.
    pub hash: String,
    pub size: u64,
}

/// A file ready to attach to a message (the upload sealed on disk).
pub(crate) struct Attachment {
    sealed: Sealed,
    info: FileInfo,
    /// PNG, for a raster image.
    thumbnail: Option<Vec<u8>>,
}

impl Attachment {
    pub(crate) fn id(&self) -> FileId {
        self.info.id
    }
}

fn too_large(max: u64) -> Error {
    Error::new(ErrorCode::PayloadTooLarge, format!("a file may have at most {max} bytes"))
}

fn file_not_found() -> Error {
    Error::new(ErrorCode::FileNotFound, "no such file")
}

/// A file name as stored: the last path component, without control characters,
/// trimmed, at most [`MAX_NAME_CHARS`] characters; `file` if nothing is left.
pub fn sanitize_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect();
    let clean = clean.trim().trim_start_matches('.').trim();
    if clean.is_empty() { "file".to_string() } else { clean.to_string() }
}

/// The content type sniffed from the first bytes; text if they are UTF-8, else
/// `application/octet-stream`. Never what the client said.
pub fn sniff(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_string();
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut at the end of the head is still text.
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    };
    if text && !head.contains(&0) {
        "text/plain; charset=utf-8".to_string()
    } else {
        "application/octet-stream".to_string()
    }
}

/// Whether a browser may show the type inline as an image: raster formats only (SVG
/// can carry script, so it is downloaded as an attachment).
pub fn is_inline_image(content_type: &str) -> bool {
    matches!(content_type, "image/png" | "image/jpeg" | "image/gif" | "image/webp")
}

fn usage(app: &App, ws: WorkspaceId) -> Result<u64> {
    let bytes = app.store().blob(ws, USAGE, USAGE_KEY)?;
    Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(0))
}

fn content(app: &App, ws: WorkspaceId, hash: &ContentHash) -> Result<Option<ContentRecord>> {
    match app.store().blob(ws, CONTENTS, hash)? {
        None => Ok(None),
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
    }
}

fn file_record(app: &App, ws: WorkspaceId, id: FileId) -> Result<Option<FileRecord>> {
    match app.store().blob(ws, FILES, &id.to_bytes())? {
        None => Ok(None),
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
    }
}

/// What a deletion's batch frees: the workspace's bytes stored once it is applied,
/// and the contents no file names any more (removed once it is durable).
struct Unused {
    used: u64,
    gone: Vec<ContentHash>,
}

impl Unused {
    /// Stages the new usage, if any content went.
    fn stage_usage(&self, tx: &mut Tx) -> Result<()> {
        if !self.gone.is_empty() {
            tx.op(put_json(tx.workspace, USAGE, USAGE_KEY.to_vec(), &self.used)?);
        }
        Ok(())
    }
}

impl App {
    /// Starts an upload to a channel the caller may post in. Counted against the
    /// caller's write rate; refused before any byte is received if the workspace's
    /// quota is used up or too many uploads are running.
    pub fn begin_upload(&self, caller: Caller, channel: ChannelId) -> Result<Upload> {
        let ws = self.channel_workspace(channel)?;
        {
            let state = self.workspace(ws)?;
            let state = state.read();
            let ch = state.readable_channel(caller.user, channel)?;
            if !ch.members.contains(&caller.user) {
                return Err(Error::forbidden("join the channel to post in it").into());
            }
            if ch.archived {
                return Err(Error::new(ErrorCode::ChannelArchived, "the channel is archived").into());
            }
        }
        self.check_write_rate(caller.user)?;
        let config = &self.config().files;
        if usage(self, ws)? >= config.workspace_quota_bytes {
            return Err(quota_exceeded(config.workspace_quota_bytes).into());
        }
        let permit =
            self.inner.files.uploads.clone().try_acquire_owned().map_err(|_| Error::rate_limited(1))?;
        let staging = self.inner.files.blobs.stage().map_err(io("staging an upload"))?;
        Ok(Upload { channel, staging, max_bytes: config.max_bytes, _permit: permit })
    }

    /// Posts a message with the uploaded file (and `text`, which may be empty), as a
    /// reply in `thread_root`'s thread if given (checked as for any reply).
    pub async fn post_file(
        &self,
        caller: Caller,
        upload: Upload,
        name: &str,
        text: String,
        thread_root: Option<MessageId>,
    ) -> Result<(FileInfo, Message)> {
        let (mut files, message) =
            self.post_files(caller, vec![(upload, name.to_owned())], text, thread_root).await?;
        Ok((files.remove(0), message))
    }

    /// Posts one message with every uploaded file (each with the name it was sent
    /// with), in order: at least one and at most `files.max_files_per_message`, all
    /// received for the same channel.
    pub async fn post_files(
        &self,
        caller: Caller,
        uploads: Vec<(Upload, String)>,
        text: String,
        thread_root: Option<MessageId>,
    ) -> Result<(Vec<FileInfo>, Message)> {
        let max = self.config().files.max_files_per_message;
        let Some(channel) = uploads.first().map(|(u, _)| u.channel) else {
            return Err(Error::invalid_field("file", "send the file in a part named `file`").into());
        };
        if uploads.len() > max {
            return Err(Error::invalid_field("file", format!("at most {max} files per message")).into());
        }
        if uploads.iter().any(|(u, _)| u.channel != channel) {
            return Err(
                Error::new(ErrorCode::InvalidRequest, "the files of one message go to one channel").into()
            );
        }
        if let Some((_, name)) = uploads.iter().find(|(u, _)| u.staging.size() == 0) {
            let name = sanitize_name(name);
            return Err(Error::invalid_field("file", format!("the file {name:?} is empty")).into());
        }
        let ws = self.channel_workspace(channel)?;
        if let Some(forwarder) = self.forwarder_for(ws)? {
            let handed = self.hand_off(ws, uploads).await?;
            let files: Vec<FileId> = handed.iter().map(|h| h.file).collect();
            let posted = forwarder.post_files(ws, caller, channel, handed, text, thread_root).await;
            if posted.is_err() {
                // The holder refused (and deleted what it took), or did not answer
                // in time: what it has not taken yet, it never will.
                self.discard_handoffs(ws, files).await;
            }
            return posted;
        }
        let mut attachments = Vec::with_capacity(uploads.len());
        for (upload, name) in uploads {
            let sealed = seal(upload).await?;
            attachments.push(self.attachment(sealed, FileId::from_ulid(new_ulid()), &name).await?);
        }
        self.post_attachments(caller, channel, attachments, text, thread_root).await
    }

    async fn post_attachments(
        &self,
        caller: Caller,
        channel: ChannelId,
        attachments: Vec<Attachment>,
        text: String,
        thread_root: Option<MessageId>,
    ) -> Result<(Vec<FileInfo>, Message)> {
        let infos = attachments.iter().map(|a| a.info.clone()).collect();
        let req = crate::PostMessage { text, thread_root, client_msg_id: None };
        let message = self.post_message_with(caller, channel, req, attachments).await?;
        Ok((infos, message))
    }

    /// Seals uploads received for `ws`, which another node sequences, and hands
    /// them off to it through the shared directory; returns what to forward.
    async fn hand_off(&self, ws: WorkspaceId, uploads: Vec<(Upload, String)>) -> Result<Vec<HandedOff>> {
        let mut sealed = Vec::with_capacity(uploads.len());
        for (upload, name) in uploads {
            sealed.push((seal(upload).await?, name));
        }
        let blobs = self.inner.files.blobs.clone();
        tokio::task::spawn_blocking(move || {
            let mut handed = Vec::with_capacity(sealed.len());
            for (sealed, name) in sealed {
                let file = FileId::from_ulid(new_ulid());
                let (hash, size) = (confab_store::blobs::hex(&sealed.hash), sealed.size);
                // One that fails leaves those before it to the sweep of handoffs.
                blobs.hand_off(ws, file, sealed)?;
                handed.push(HandedOff { file, name: sanitize_name(&name), hash, size });
            }
            Ok(handed)
        })
        .await?
        .map_err(io("handing off an upload"))
    }

    /// Deletes handoffs not taken (see [`App::post_files`]); a failure is logged,
    /// and the sweep of handoffs deletes them later.
    async fn discard_handoffs(&self, ws: WorkspaceId, files: Vec<FileId>) {
        let blobs = self.inner.files.blobs.clone();
        let discarded = tokio::task::spawn_blocking(move || {
            files.into_iter().try_for_each(|file| blobs.discard_handoff(ws, file))
        })
        .await;
        if let Ok(Err(e)) = discarded {
            tracing::warn!(error = %e, workspace = %ws, "deleting uploads handed off and not taken failed");
        }
    }

    /// Posts the files another node of the cluster received for this node's
    /// workspace and handed off (see the module doc), as [`App::post_files`] posts
    /// uploads received here: each handoff is taken from the channel's workspace
    /// only, once, and hashed again; then the same checks (type, image, quota,
    /// permission to post) answer as they would have on one node. Whatever is
    /// refused is deleted.
    pub async fn post_handed_off(
        &self,
        caller: Caller,
        channel: ChannelId,
        files: Vec<HandedOff>,
        text: String,
        thread_root: Option<MessageId>,
    ) -> Result<(Vec<FileInfo>, Message)> {
        let ws = self.channel_workspace(channel)?;
        let blobs = self.inner.files.blobs.clone();
        let wanted: Vec<FileId> = files.iter().map(|f| f.file).collect();
        // Every one is taken, even after a failure, so that a refusal deletes them all.
        let claimed: Vec<std::io::Result<Sealed>> = tokio::task::spawn_blocking(move || {
            wanted.into_iter().map(|file| blobs.claim(ws, file)).collect()
        })
        .await?;
        let mut sealed = Vec::with_capacity(claimed.len());
        for (claim, record) in claimed.into_iter().zip(&files) {
            let claim = claim.map_err(io("taking an upload another node handed off"))?;
            if confab_store::blobs::hex(&claim.hash) != record.hash || claim.size != record.size {
                return Err(AppError::Other {
                    context: "taking an upload another node handed off",
                    cause: format!("file {} is not the content its record names", record.file),
                });
            }
            sealed.push(claim);
        }
        let max = self.config().files.max_files_per_message;
        if sealed.is_empty() || sealed.len() > max || sealed.iter().any(|s| s.size == 0) {
            return Err(Error::invalid_field("file", format!("from 1 to {max} files, none empty")).into());
        }
        let mut attachments = Vec::with_capacity(sealed.len());
        for (sealed, record) in sealed.into_iter().zip(files) {
            attachments.push(self.attachment(sealed, record.file, &record.name).await?);
        }
        self.post_attachments(caller, channel, attachments, text, thread_root).await
    }

    /// A sealed upload as a file named `name`, with its thumbnail if it is a raster
    /// image.
    async fn attachment(&self, sealed: Sealed, id: FileId, name: &str) -> Result<Attachment> {
        let info =
            FileInfo { id, name: sanitize_name(name), size: sealed.size, content_type: sniff(&sealed.head) };
        let (sealed, thumbnail) = if is_inline_image(&info.content_type) {
            let (sealed, png) = self.thumbnail(sealed).await?;
            (sealed, Some(png))
        } else {
            (sealed, None)
        };
        Ok(Attachment { sealed, info, thumbnail })
    }

    /// The PNG thumbnail of an uploaded raster image, made in the bounded pool;
    /// `invalid_field` for an image that cannot be decoded within the limits.
    async fn thumbnail(&self, sealed: Sealed) -> Result<(Sealed, Vec<u8>)> {
        let _permit = self.inner.files.thumbnails.acquire().await.map_err(|_| Error::unavailable())?;
        let config = self.config().files.clone();
        let (sealed, made) = tokio::task::spawn_blocking(move || {
            let made = make_thumbnail(sealed.path(), &config);
            (sealed, made)
        })
        .await?;
        let png = made.map_err(|why| Error::invalid_field("file", format!("not a readable image: {why}")))?;
        Ok((sealed, png))
    }

    /// A file's thumbnail (PNG), if the caller may read its channel and it has one.
    pub fn file_thumbnail(&self, caller: Caller, id: FileId) -> Result<Vec<u8>> {
        let record = self.file(caller, id)?;
        let ws = self.channel_workspace(record.channel)?;
        self.store().blob(ws, THUMBS, &id.to_bytes())?.ok_or_else(|| {
            AppError::from(Error::new(
                ErrorCode::FileNotFound,
                "the file has no thumbnail (not a raster image)",
            ))
        })
    }

    /// Stages the records of a post's attachments in its batch and places their
    /// contents, under the workspace's write lock; the last step of the post that can
    /// fail. The quota is checked for all of them before anything is placed, and a
    /// content attached twice is stored and counted once. Returns the contents to
    /// sync before the post is acknowledged.
    pub(crate) fn stage_attachments(
        &self,
        tx: &mut Tx,
        message: &Message,
        attachments: Vec<Attachment>,
    ) -> Result<Vec<ContentHash>> {
        if attachments.is_empty() {
            return Ok(Vec::new());
        }
        let ws = tx.workspace;
        // Each content's record as it stands, and the bytes new to the workspace.
        let mut contents: HashMap<ContentHash, ContentRecord> = HashMap::new();
        let mut new_contents: HashSet<ContentHash> = HashSet::new();
        for attachment in &attachments {
            let (hash, size) = (attachment.sealed.hash, attachment.sealed.size);
            if let std::collections::hash_map::Entry::Vacant(entry) = contents.entry(hash) {
                let existing = content(self, ws, &hash)?;
                if existing.is_none() {
                    new_contents.insert(hash);
                }
                entry.insert(existing.unwrap_or(ContentRecord { size, refs: 0 }));
            }
        }
        let added: u64 = new_contents.iter().map(|h| contents[h].size).sum();
        let quota = self.config().files.workspace_quota_bytes;
        let used = usage(self, ws)?;
        if added > 0 && used.saturating_add(added) > quota {
            return Err(quota_exceeded(quota).into());
        }
        if added > 0 {
            tx.op(put_json(ws, USAGE, USAGE_KEY.to_vec(), &(used + added))?);
        }
        for attachment in attachments {
            let hash = attachment.sealed.hash;
            let record = contents.get_mut(&hash).ok_or_else(|| AppError::Other {
                context: "staging attachments",
                cause: "a content not looked up".into(),
            })?;
            if record.refs == 0 {
                // New content, placed once; a second copy in this post is dropped.
                self.inner.files.blobs.place(ws, attachment.sealed).map_err(io("placing an upload"))?;
            }
            record.refs += 1;
            self.stage_file_record(tx, message, attachment.info, attachment.thumbnail, hash)?;
        }
        for (hash, record) in &contents {
            tx.op(put_json(ws, CONTENTS, hash.to_vec(), record)?);
        }
        Ok(contents.into_keys().collect())
    }

    /// Stages one attached file's record (and its thumbnail).
    fn stage_file_record(
        &self,
        tx: &mut Tx,
        message: &Message,
        info: FileInfo,
        thumbnail: Option<Vec<u8>>,
        hash: ContentHash,
    ) -> Result<()> {
        let ws = tx.workspace;
        let record = FileRecord {
            info,
            channel: message.channel,
            message: message.id,
            uploader: message.author,
            created_at: tx.now,
            hash: confab_store::blobs::hex(&hash),
        };
        if let Some(png) = thumbnail {
            tx.op(Op::PutBlob {
                workspace: ws,
                namespace: THUMBS,
                key: record.info.id.to_bytes().to_vec(),
                value: png,
            });
        }
        tx.op(put_json(ws, FILES, record.info.id.to_bytes().to_vec(), &record)?);
        Ok(())
    }

    /// Makes placed content durable (before its message is acknowledged).
    pub(crate) async fn sync_content(&self, ws: WorkspaceId, hash: ContentHash) -> Result<()> {
        let blobs = self.inner.files.blobs.clone();
        tokio::task::spawn_blocking(move || blobs.sync(ws, &hash))
            .await?
            .map_err(io("syncing a file's directory"))
    }

    /// A file's record, if the caller may read its channel; `file_not_found` if not.
    pub fn file(&self, caller: Caller, id: FileId) -> Result<FileRecord> {
        let not_found = || AppError::from(file_not_found());
        // Files are kept per workspace: look in the caller's workspaces only.
        for ws in self.store().workspaces_of(caller.user)? {
            let Some(bytes) = self.store().blob(ws, FILES, &id.to_bytes())? else { continue };
            let record: FileRecord = serde_json::from_slice(&bytes)?;
            if self.workspace(ws)?.read().can_read(caller.user, record.channel) {
                return Ok(record);
            }
            return Err(not_found());
        }
        Err(not_found())
    }

    /// The workspace of a file in one of the caller's workspaces, whether or not
    /// they may read its channel: where a node of a cluster sends a write naming the
    /// file, and which workspace's log it reads before a read of it (its copy of the
    /// channel's members may be behind). `None` if no workspace of theirs has it.
    pub fn workspace_of_file(&self, caller: Caller, id: FileId) -> Option<WorkspaceId> {
        let workspaces = self.store().workspaces_of(caller.user).ok()?;
        workspaces.into_iter().find(|ws| matches!(self.store().blob(*ws, FILES, &id.to_bytes()), Ok(Some(_))))
    }

    /// A file's record and its content, open for reading.
    pub fn open_file(&self, caller: Caller, id: FileId) -> Result<(FileRecord, std::fs::File)> {
        let record = self.file(caller, id)?;
        let ws = self.channel_workspace(record.channel)?;
        let hash = confab_store::blobs::parse_hex(&record.hash).ok_or_else(|| AppError::Other {
            context: "reading a file record",
            cause: "a malformed hash".into(),
        })?;
        let file = self.inner.files.blobs.open(ws, &hash).map_err(io("opening file"))?;
        Ok((record, file))
    }

    /// Removes the workspace's contents that no file names and that were written
    /// more than `files.orphan_ttl_secs` ago (an upload cut off by a crash after its
    /// content was placed): checked under the workspace's write lock, which uploads
    /// place content and write their records under. Returns how many went.
    ///
    /// Uploads handed off to this workspace's holder by another node and never taken
    /// (see the module doc) are deleted too, after the same time but at least
    /// [`HANDOFF_MIN_AGE`], by whichever node sweeps first: the holder takes a handoff
    /// with a rename, so it either has it or finds it gone.
    pub async fn sweep_orphan_files(&self, ws: WorkspaceId) -> Result<usize> {
        let ttl = std::time::Duration::from_secs(self.config().files.orphan_ttl_secs);
        let blobs = self.inner.files.blobs.clone();
        let abandoned =
            tokio::task::spawn_blocking(move || blobs.sweep_handoffs(ws, ttl.max(HANDOFF_MIN_AGE)))
                .await?
                .map_err(io("sweeping handed-off uploads"))?;
        if abandoned > 0 {
            tracing::info!(workspace = %ws, uploads = abandoned, "deleted uploads handed off and never taken");
        }
        let blobs = self.inner.files.blobs.clone();
        let listed =
            tokio::task::spawn_blocking(move || blobs.list(ws)).await?.map_err(io("listing files"))?;
        let now = std::time::SystemTime::now();
        let old: Vec<ContentHash> = listed
            .into_iter()
            .filter(|(_, at)| now.duration_since(*at).unwrap_or_default() >= ttl)
            .map(|(hash, _)| hash)
            .collect();
        let mut orphans = Vec::new();
        for hash in old {
            if content(self, ws, &hash)?.is_none() {
                orphans.push(hash);
            }
        }
        self.remove_contents(ws, orphans)
    }

    /// Stages the deletion of a message's files in its deletion's batch; returns the
    /// contents no file names any more, to remove once the batch is durable.
    pub(crate) fn stage_file_deletions(&self, tx: &mut Tx, message: &Message) -> Result<Vec<ContentHash>> {
        let mut unused = Unused { used: usage(self, tx.workspace)?, gone: Vec::new() };
        for id in &message.files {
            self.stage_file_deletion(tx, *id, &mut unused)?;
        }
        unused.stage_usage(tx)?;
        Ok(unused.gone)
    }

    /// Stages the deletion of one file's records, and of its content's record if no
    /// other file names it (added to `unused`).
    fn stage_file_deletion(&self, tx: &mut Tx, id: FileId, unused: &mut Unused) -> Result<()> {
        let ws = tx.workspace;
        let key = id.to_bytes().to_vec();
        let Some(record) = file_record(self, ws, id)? else { return Ok(()) };
        tx.op(Op::DeleteBlob { workspace: ws, namespace: THUMBS, key: key.clone() });
        tx.op(Op::DeleteBlob { workspace: ws, namespace: FILES, key });
        let Some(hash) = confab_store::blobs::parse_hex(&record.hash) else { return Ok(()) };
        let Some(mut content) = content(self, ws, &hash)? else { return Ok(()) };
        content.refs = content.refs.saturating_sub(1);
        if content.refs == 0 {
            tx.op(Op::DeleteBlob { workspace: ws, namespace: CONTENTS, key: hash.to_vec() });
            unused.used = unused.used.saturating_sub(content.size);
            unused.gone.push(hash);
        } else {
            tx.op(put_json(ws, CONTENTS, hash.to_vec(), &content)?);
        }
        Ok(())
    }

    /// Deletes one file, which leaves its message: the author of the message (who
    /// uploaded it) or an admin who may read the channel; others get `forbidden`,
    /// and whoever may not read it `file_not_found`. The message goes on without it
    /// (`message.updated`), unless nothing is left of it (no text, no other file):
    /// then it is deleted (`message.deleted`). The content goes once no file names it.
    pub async fn delete_file(&self, caller: Caller, id: FileId) -> Result<()> {
        let ws = self.channel_workspace(self.file(caller, id)?.channel)?;
        let (unused, durable) = self.write_as(caller, ws, |state, tx| {
            // Read again under the lock: a concurrent deletion may have taken it.
            let record = file_record(self, ws, id)?.ok_or_else(file_not_found)?;
            let mut message = self.writable_message(state, caller, record.message)?;
            let is_admin = state.role(caller.user).is_some_and(|r| r.is_admin());
            if message.author != caller.user && record.uploader != caller.user && !is_admin {
                return Err(Error::forbidden("only the author or an admin deletes a file").into());
            }
            let mut unused = Unused { used: usage(self, ws)?, gone: Vec::new() };
            self.stage_file_deletion(tx, id, &mut unused)?;
            unused.stage_usage(tx)?;
            message.files.retain(|f| *f != id);
            if message.files.is_empty() && message.text.is_empty() {
                crate::messages::stage_tombstone(self, tx, message)?;
            } else {
                tx.op(Op::PutMessage(message.clone()));
                tx.emit(confab_core::Event::MessageUpdated { message });
            }
            Ok(unused.gone)
        })?;
        durable.wait().await?;
        self.remove_contents(ws, unused).map(drop)
    }

    /// Removes contents whose last file was deleted (durably), unless an upload named
    /// them again since: checked under the workspace's write lock, which uploads
    /// place content under. Returns how many went.
    ///
    /// In a cluster whose nodes share the contents, uploads to a workspace are placed
    /// by the node holding its lease, under that node's lock: so only that node
    /// removes them, holding the lease (taken if it is free, as for any write). When
    /// another node holds it, they are left: no record names them, so no node serves
    /// them, and the holder's sweep removes them after `files.orphan_ttl_secs`.
    pub(crate) fn remove_contents(&self, ws: WorkspaceId, hashes: Vec<ContentHash>) -> Result<usize> {
        if hashes.is_empty() {
            return Ok(0);
        }
        let state = self.workspace(ws)?;
        let mut lock: parking_lot::RwLockWriteGuard<'_, WorkspaceState> = state.write();
        match self.hold_lease(&mut lock) {
            Ok(()) => {}
            Err(AppError::Client(e)) if e.code == ErrorCode::Unavailable => {
                tracing::info!(workspace = %ws, contents = hashes.len(),
                    "another node sequences the workspace: its unused contents are left to its sweep");
                return Ok(0);
            }
            Err(e) => return Err(e),
        }
        let mut removed = 0;
        for hash in hashes {
            if content(self, ws, &hash)?.is_none() {
                self.inner.files.blobs.remove(ws, &hash).map_err(io("removing a file's content"))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Decodes an image under `files.image_max_side_px` and `image_max_decode_bytes` (a
/// decompression bomb is refused, not decoded).
fn decode_limited<R: std::io::BufRead + std::io::Seek>(
    reader: image::ImageReader<R>,
    config: &FilesConfig,
) -> Result<image::DynamicImage, String> {
    let mut reader = reader.with_guessed_format().map_err(|e| e.to_string())?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(config.image_max_side_px);
    limits.max_image_height = Some(config.image_max_side_px);
    limits.max_alloc = Some(config.image_max_decode_bytes);
    reader.limits(limits);
    reader.decode().map_err(|e| e.to_string())
}

/// Decodes an image under the configured limits and scales it down to a PNG.
fn make_thumbnail(path: &std::path::Path, config: &FilesConfig) -> Result<Vec<u8>, String> {
    let image = decode_limited(image::ImageReader::open(path).map_err(|e| e.to_string())?, config)?;
    // `thumbnail` scales to fit, up as well as down: a small image keeps its size.
    let px = config.thumbnail_px;
    let thumb = if image.width() <= px && image.height() <= px { image } else { image.thumbnail(px, px) };
    let mut png = std::io::Cursor::new(Vec::new());
    thumb.write_to(&mut png, image::ImageFormat::Png).map_err(|e| e.to_string())?;
    Ok(png.into_inner())
}

/// A profile picture from an uploaded image: decoded under the same limits as a
/// thumbnail, cropped square and scaled to `px`, as a PNG.
pub(crate) fn avatar_png(image: &[u8], px: u32, config: &FilesConfig) -> Result<Vec<u8>, String> {
    let decoded = decode_limited(image::ImageReader::new(std::io::Cursor::new(image)), config)?;
    let square = decoded.resize_to_fill(px, px, image::imageops::FilterType::Triangle);
    let mut png = std::io::Cursor::new(Vec::new());
    square.write_to(&mut png, image::ImageFormat::Png).map_err(|e| e.to_string())?;
    Ok(png.into_inner())
}

/// What the search index reads of files: their records in the store, and the text
/// of text-like files from the blob store.
pub(crate) struct FileIndexing {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    /// `files.index_text_max_bytes`.
    pub text_max_bytes: u64,
}

impl FileIndexing {
    /// A message as the search index sees it, with its files' names, the text of its
    /// text-like files, and whether one is a raster image (`has:image`); `None` for a
    /// deleted message.
    pub(crate) fn index_doc(&self, message: &Message) -> Option<confab_search::IndexDoc> {
        let mut doc = confab_search::IndexDoc::from_message(message)?;
        for id in &message.files {
            let record = self.store.blob(message.workspace, FILES, &id.to_bytes()).ok().flatten();
            let Some(record) = record.and_then(|b| serde_json::from_slice::<FileRecord>(&b).ok()) else {
                continue;
            };
            doc.has_image |= is_inline_image(&record.info.content_type);
            doc.file_texts.extend(self.text_of(message.workspace, &record));
            doc.file_names.push(record.info.name);
        }
        Some(doc)
    }

    /// The text of a text-like file: sniffed as text (whatever its name says), at
    /// most `files.index_text_max_bytes`, and UTF-8 throughout (the sniff saw only
    /// its head). `None` for any other file, or one whose content is gone.
    fn text_of(&self, ws: WorkspaceId, record: &FileRecord) -> Option<String> {
        if !is_text(&record.info.content_type) || record.info.size > self.text_max_bytes {
            return None;
        }
        let hash = confab_store::blobs::parse_hex(&record.hash)?;
        let file = self.blobs.open(ws, &hash).ok()?;
        let mut bytes = Vec::new();
        // Bounded even if the content is longer than its record says.
        std::io::Read::read_to_end(&mut std::io::Read::take(file, self.text_max_bytes), &mut bytes).ok()?;
        String::from_utf8(bytes).ok()
    }
}

/// A message's files as the consent gate reads them under `files` (through
/// [`crate::consent::StoreSource`]): name, type and size, and the head of a
/// text-like file's text, at most [`FILE_TEXT_MAX_BYTES`]. The content of any other
/// file is never opened.
pub(crate) fn training_files(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    message: &Message,
) -> Result<Vec<FileData>> {
    let mut out = Vec::new();
    for id in &message.files {
        let Some(bytes) = store.blob(message.workspace, FILES, &id.to_bytes())? else { continue };
        let record: FileRecord = serde_json::from_slice(&bytes)?;
        if record.message != message.id {
            continue;
        }
        let text = if is_text(&record.info.content_type) {
            head_text(blobs, message.workspace, &record.hash, FILE_TEXT_MAX_BYTES)
        } else {
            None
        };
        out.push(FileData {
            id: *id,
            message: message.id,
            name: record.info.name,
            content_type: record.info.content_type,
            size: record.info.size,
            text,
        });
    }
    Ok(out)
}

/// The first `max` bytes of a content as text, ending at its last whole character;
/// `None` if the content is gone or is not UTF-8.
fn head_text(blobs: &dyn BlobStore, ws: WorkspaceId, hash: &str, max: usize) -> Option<String> {
    let hash = confab_store::blobs::parse_hex(hash)?;
    let file = blobs.open(ws, &hash).ok()?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, max as u64), &mut bytes).ok()?;
    match String::from_utf8(bytes) {
        Ok(text) => Some(text),
        // Cut inside a character by the bound: keep what comes before it.
        Err(e) if e.utf8_error().error_len().is_none() => {
            let valid = e.utf8_error().valid_up_to();
            let mut bytes = e.into_bytes();
            bytes.truncate(valid);
            String::from_utf8(bytes).ok()
        }
        Err(_) => None,
    }
}

/// Whether a sniffed type is text: plain text (markdown, source code, CSV and any
/// other UTF-8 without NULs) or a text type `infer` recognised (HTML, XML, scripts).
pub fn is_text(content_type: &str) -> bool {
    content_type.starts_with("text/")
}

/// Syncs a received upload to disk (its hash and size are then fixed).
async fn seal(upload: Upload) -> Result<Sealed> {
    let staging = upload.staging;
    tokio::task::spawn_blocking(move || staging.seal()).await?.map_err(io("syncing an upload"))
}

/// A failed file-system step, with what was being done.
fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> AppError {
    move |e| AppError::Other { context, cause: e.to_string() }
}

fn quota_exceeded(quota: u64) -> Error {
    Error::new(ErrorCode::QuotaExceeded, format!("the workspace's files may take at most {quota} bytes"))
}

fn put_json<T: Serialize>(ws: WorkspaceId, namespace: &'static str, key: Vec<u8>, value: &T) -> Result<Op> {
    Ok(Op::PutBlob { workspace: ws, namespace, key, value: serde_json::to_vec(value)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitize_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_name("C:\\Users\\x\\report.pdf"), "report.pdf");
        assert_eq!(sanitize_name("a\0b\nc.txt"), "abc.txt");
        assert_eq!(sanitize_name("/"), "file");
        assert_eq!(sanitize_name("..."), "file");
        assert_eq!(sanitize_name(&"x".repeat(10_000)).chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn types_are_sniffed_from_content() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"hello, world\n"), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"\0\x01\x02\x03binary"), "application/octet-stream");
        assert_eq!(sniff("caf\u{e9}".as_bytes()), "text/plain; charset=utf-8");
        let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
        assert!(!is_inline_image(&sniff(svg)));
        assert!(is_inline_image("image/png") && !is_inline_image("image/svg+xml"));
    }
}
