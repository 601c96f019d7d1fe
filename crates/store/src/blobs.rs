//! Where the contents of uploaded files live: the [`BlobStore`] trait and its
//! local-disk implementation, [`LocalBlobs`].
//!
//! Contents are addressed by their SHA-256 per workspace, so identical content
//! uploaded twice to one workspace is stored once (and never shared across
//! workspaces: deleting a workspace's files can never touch another's). Which file
//! names which content, in which message and channel, is not kept here but in the
//! [`Store`](crate::Store), beside the messages, so that permissions come from the
//! channel and a file's record is written in the same atomic batch as its message.
//!
//! An upload is streamed into a [`Staging`] file (never held in memory), hashed as it
//! goes, and synced ([`Staging::seal`]); [`BlobStore::place`] then moves it to its
//! address (a rename, cheap enough to do under the workspace's write lock) and
//! [`BlobStore::sync`] syncs the directory, before the message is acknowledged.
//!
//! The nodes of a cluster share one directory ([`LocalBlobs::open_shared`], on a
//! shared filesystem), so that a file uploaded through one node is downloaded
//! through any. What a shared directory needs that a node's own did not:
//! - each node stages in a directory of its own (`tmp/<node>/`), and clears only
//!   that one when it opens: another node's uploads in flight are not touched;
//! - two nodes placing the same content at once both rename a complete, synced file
//!   onto the same address (a rename is atomic, and the bytes are the same), so a
//!   reader sees either no file or the whole content;
//! - a node that deletes a content while another streams it: the reader keeps the
//!   file it opened (POSIX unlink semantics; the filesystem must keep them);
//! - directories are synced after every entry created or removed, on whichever node.
//!
//! Which node may place or remove a workspace's contents is the app's rule (the node
//! sequencing the workspace, under its write lock), not this module's. An upload
//! received by another node of the cluster is handed over to that node through the
//! directory: the receiving node moves its sealed upload to
//! `handoff/<workspace>/<file id>` ([`BlobStore::hand_off`]) and tells the holder
//! the file's id; the holder takes it ([`BlobStore::claim`]: a rename into its own
//! staging, so a handoff is taken once, then read through for its hash and size)
//! and places it as its own upload. A handoff the holder did not answer for is
//! deleted by the node that made it ([`BlobStore::discard_handoff`]), and those
//! nobody claimed or discarded (a node died in between) by
//! [`BlobStore::sweep_handoffs`]. An object store would be another implementation
//! of the trait that stages locally and uploads in `place`.
//!
//! Honest limits: a crash between `place` and the durable write of the file's record
//! leaves content that no record names (an orphan); staging files left by a crash
//! are deleted when the store (or, shared, that node's part of it) is opened.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use confab_core::{FileId, WorkspaceId};
use sha2::{Digest, Sha256};

/// The SHA-256 of a file's content: its address in a workspace.
pub type ContentHash = [u8; 32];

/// How many leading bytes of an upload are kept for sniffing its type.
pub const HEAD_BYTES: usize = 8192;

/// File contents, per workspace, by content hash.
pub trait BlobStore: Send + Sync + 'static {
    /// Starts an upload: a file to stream the bytes into.
    fn stage(&self) -> io::Result<Staging>;
    /// Moves a sealed upload to its address in `workspace`; if the workspace already
    /// has that content, the upload is dropped instead. Not durable until [`sync`].
    ///
    /// [`sync`]: BlobStore::sync
    fn place(&self, workspace: WorkspaceId, sealed: Sealed) -> io::Result<()>;
    /// Makes the placed content `hash` of `workspace` durable (syncs its directory).
    fn sync(&self, workspace: WorkspaceId, hash: &ContentHash) -> io::Result<()>;
    /// Opens a content for reading.
    fn open(&self, workspace: WorkspaceId, hash: &ContentHash) -> io::Result<File>;
    /// Deletes a content (nothing if it is not there).
    fn remove(&self, workspace: WorkspaceId, hash: &ContentHash) -> io::Result<()>;
    /// Whether the workspace holds the content (for tests and repair).
    fn contains(&self, workspace: WorkspaceId, hash: &ContentHash) -> bool;
    /// Every content of a workspace, with when it was written (for the sweep of
    /// contents no file names).
    fn list(&self, workspace: WorkspaceId) -> io::Result<Vec<(ContentHash, std::time::SystemTime)>>;
    /// Hands a sealed upload over to the node that sequences `workspace` (in a
    /// directory the nodes of a cluster share): moves it where every node finds it,
    /// under the id of the file it will be. Blocking.
    fn hand_off(&self, workspace: WorkspaceId, file: FileId, sealed: Sealed) -> io::Result<()>;
    /// Takes the upload handed off for `workspace` as `file`: moves it into this
    /// process's staging (so that it is taken once, and no sweep removes it
    /// meanwhile), then reads it through for its hash, size and head, as if it had
    /// been uploaded here. `NotFound` if there is no such handoff. Blocking.
    fn claim(&self, workspace: WorkspaceId, file: FileId) -> io::Result<Sealed>;
    /// Deletes the upload handed off for `workspace` as `file`, unless it was taken
    /// already (nothing then). Blocking.
    fn discard_handoff(&self, workspace: WorkspaceId, file: FileId) -> io::Result<()>;
    /// Deletes the handoffs of `workspace` older than `age` (never claimed: the
    /// holder never got the request, or a node died in between). Returns how many.
    fn sweep_handoffs(&self, workspace: WorkspaceId, age: std::time::Duration) -> io::Result<usize>;
}

/// What an upload's bytes say as they go by: their hash, their size and their
/// first [`HEAD_BYTES`] (received, or read again when another node hands it off).
#[derive(Default)]
struct BytesSeen {
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
}

impl BytesSeen {
    fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        let room = HEAD_BYTES.saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..room.min(bytes.len())]);
    }

    /// The sealed upload at `path`, with what the bytes said.
    fn seal(self, path: PathBuf) -> Sealed {
        Sealed { path, hash: self.hasher.finalize().into(), size: self.size, head: self.head }
    }
}

/// An upload being written. Dropping it deletes the partial file.
pub struct Staging {
    path: PathBuf,
    file: Option<File>,
    seen: BytesSeen,
}

impl Staging {
    /// Appends bytes. Blocking, but only to the page cache: the sync is in `seal`.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("upload already sealed"))?;
        file.write_all(bytes)?;
        self.seen.update(bytes);
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.seen.size
    }

    /// Syncs the file to disk and fixes its hash. Blocking.
    pub fn seal(mut self) -> io::Result<Sealed> {
        let file = self.file.take().ok_or_else(|| io::Error::other("upload already sealed"))?;
        file.sync_all()?;
        drop(file);
        let path = std::mem::take(&mut self.path);
        Ok(std::mem::take(&mut self.seen).seal(path))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A complete, synced upload not yet placed. Dropping it deletes the file.
pub struct Sealed {
    path: PathBuf,
    pub hash: ContentHash,
    pub size: u64,
    /// The first [`HEAD_BYTES`] bytes, for sniffing the type.
    pub head: Vec<u8>,
}

impl Sealed {
    /// Where the sealed bytes are, until placed (for reading them, e.g. a thumbnail).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Sealed {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Contents under a directory: `<root>/<workspace>/<first two hex digits>/<hex hash>`,
/// staging files in `<root>/tmp` (one node's own directory) or `<root>/tmp/<node>`
/// (a directory the nodes of a cluster share).
pub struct LocalBlobs {
    root: PathBuf,
    /// Where this process stages uploads: on the same filesystem as `root`, so that
    /// placing one is a rename.
    staging: PathBuf,
    next: AtomicU64,
}

impl LocalBlobs {
    /// Opens (creating) one node's own directory and deletes staging files a crash
    /// left.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<LocalBlobs> {
        let root = root.into();
        let staging = root.join("tmp");
        Self::open_staging(root, staging)
    }

    /// Opens a directory that the nodes of a cluster share, as the node `node` (a
    /// name unique in the cluster: a file-name component). The directory must exist
    /// already: it is the shared mount, and creating it would give this node a
    /// directory of its own that no other node reads. Deletes the staging files a
    /// crash of this node left, and no other node's.
    pub fn open_shared(root: impl Into<PathBuf>, node: &str) -> io::Result<LocalBlobs> {
        let root = root.into();
        let valid_node =
            !node.is_empty() && node.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_node {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad node name {node:?}")));
        }
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the shared directory does not exist (is the shared filesystem mounted?)",
            ));
        }
        let tmp = root.join("tmp");
        if !tmp.exists() {
            fs::create_dir_all(&tmp)?;
            sync_dir(&root)?;
        }
        let staging = tmp.join(node);
        Self::open_staging(root, staging)
    }

    fn open_staging(root: PathBuf, staging: PathBuf) -> io::Result<LocalBlobs> {
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        fs::create_dir_all(&staging)?;
        Ok(LocalBlobs { root, staging, next: AtomicU64::new(0) })
    }

    fn path(&self, workspace: WorkspaceId, hash: &ContentHash) -> PathBuf {
        let hex = hex(hash);
        self.root.join(workspace.to_string()).join(&hex[..2]).join(hex)
    }

    /// Where uploads handed off for `workspace` wait: `<root>/handoff/<workspace>`
    /// (beside the workspaces' directories, whose names are ids, and outside every
    /// node's staging, which its node clears when it starts).
    fn handoffs(&self, workspace: WorkspaceId) -> PathBuf {
        self.root.join("handoff").join(workspace.to_string())
    }

    fn staging_file(&self) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.staging.join(format!("{}-{n}.part", std::process::id()))
    }
}

impl BlobStore for LocalBlobs {
    fn stage(&self) -> io::Result<Staging> {
        let path = self.staging_file();
        let file = File::options().write(true).create_new(true).open(&path)?;
        Ok(Staging { path, file: Some(file), seen: BytesSeen::default() })
    }

    fn place(&self, workspace: WorkspaceId, mut sealed: Sealed) -> io::Result<()> {
        let dest = self.path(workspace, &sealed.hash);
        if dest.exists() {
            return Ok(()); // `sealed` deletes its copy when dropped
        }
        let dir = dest.parent().ok_or_else(|| io::Error::other("content path has no parent"))?;
        if !dir.exists() {
            // Another node of a shared directory may create it at the same time:
            // `create_dir_all` takes a directory that appeared meanwhile.
            fs::create_dir_all(dir)?;
            // The new directories' entries must be durable too.
            if let Some(ws_dir) = dir.parent() {
                sync_dir(ws_dir)?;
            }
            sync_dir(&self.root)?;
        }
        // If another node placed the same content meanwhile, this replaces its
        // complete, synced copy with an identical one, atomically.
        fs::rename(&sealed.path, &dest)?;
        sealed.path = PathBuf::new();
        Ok(())
    }

    fn sync(&self, workspace: WorkspaceId, hash: &ContentHash) -> io::Result<()> {
        let path = self.path(workspace, hash);
        sync_dir(path.parent().ok_or_else(|| io::Error::other("content path has no parent"))?)
    }

    fn open(&self, workspace: WorkspaceId, hash: &ContentHash) -> io::Result<File> {
        File::open(self.path(workspace, hash))
    }

    fn remove(&self, workspace: WorkspaceId, hash: &ContentHash) -> io::Result<()> {
        let path = self.path(workspace, hash);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(path.parent().unwrap_or(&self.root)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn contains(&self, workspace: WorkspaceId, hash: &ContentHash) -> bool {
        self.path(workspace, hash).exists()
    }

    fn list(&self, workspace: WorkspaceId) -> io::Result<Vec<(ContentHash, std::time::SystemTime)>> {
        let dir = self.root.join(workspace.to_string());
        let mut found = Vec::new();
        let shards = match fs::read_dir(&dir) {
            Ok(shards) => shards,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(e),
        };
        for shard in shards {
            for entry in fs::read_dir(shard?.path())? {
                let entry = entry?;
                let Some(hash) = entry.file_name().to_str().and_then(parse_hex) else { continue };
                found.push((hash, entry.metadata()?.modified()?));
            }
        }
        Ok(found)
    }

    fn hand_off(&self, workspace: WorkspaceId, file: FileId, mut sealed: Sealed) -> io::Result<()> {
        let dir = self.handoffs(workspace);
        if !dir.exists() {
            fs::create_dir_all(&dir)?;
        }
        // Durable only once the holder has placed it (and synced its address); a
        // handoff lost in a crash is an upload that was never acknowledged.
        fs::rename(&sealed.path, dir.join(file.to_string()))?;
        sealed.path = PathBuf::new();
        Ok(())
    }

    fn claim(&self, workspace: WorkspaceId, file: FileId) -> io::Result<Sealed> {
        let path = self.staging_file();
        fs::rename(self.handoffs(workspace).join(file.to_string()), &path)?;
        // From here on the file is this process's: dropping `sealed` deletes it.
        let mut sealed = BytesSeen::default().seal(path);
        let mut reader = File::open(&sealed.path)?;
        let (mut digest, mut buf) = (BytesSeen::default(), vec![0u8; 64 * 1024]);
        loop {
            let n = io::Read::read(&mut reader, &mut buf)?;
            if n == 0 {
                break;
            }
            digest.update(&buf[..n]);
        }
        Ok(digest.seal(std::mem::take(&mut sealed.path)))
    }

    fn discard_handoff(&self, workspace: WorkspaceId, file: FileId) -> io::Result<()> {
        match fs::remove_file(self.handoffs(workspace).join(file.to_string())) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn sweep_handoffs(&self, workspace: WorkspaceId, age: std::time::Duration) -> io::Result<usize> {
        let entries = match fs::read_dir(self.handoffs(workspace)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let now = std::time::SystemTime::now();
        let mut removed = 0;
        for entry in entries {
            let entry = entry?;
            let modified = match entry.metadata().and_then(|m| m.modified()) {
                Ok(modified) => modified,
                // Claimed or swept by another node meanwhile.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if now.duration_since(modified).unwrap_or_default() < age {
                continue;
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}

/// A hash from its lower-case hex form.
pub fn parse_hex(hex: &str) -> Option<ContentHash> {
    if hex.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(hash)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Lower-case hex of a hash.
pub fn hex(hash: &ContentHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(blobs: &LocalBlobs, bytes: &[u8]) -> Sealed {
        let mut staging = blobs.stage().unwrap();
        for chunk in bytes.chunks(3) {
            staging.write(chunk).unwrap();
        }
        staging.seal().unwrap()
    }

    #[test]
    fn content_is_addressed_by_hash_and_stored_once_per_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        let ws = WorkspaceId::from_ulid(ulid::Ulid::new());
        let other = WorkspaceId::from_ulid(ulid::Ulid::new());
        let sealed = upload(&blobs, b"hello world");
        let hash = sealed.hash;
        assert_eq!(hex(&hash), "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        assert_eq!((sealed.size, sealed.head.as_slice()), (11, &b"hello world"[..]));
        blobs.place(ws, sealed).unwrap();
        blobs.sync(ws, &hash).unwrap();
        blobs.place(ws, upload(&blobs, b"hello world")).unwrap();
        assert!(blobs.contains(ws, &hash));
        let listed: Vec<ContentHash> = blobs.list(ws).unwrap().into_iter().map(|(h, _)| h).collect();
        assert_eq!(listed, vec![hash]);
        assert_eq!(parse_hex(&hex(&hash)), Some(hash));
        assert!(blobs.list(other).unwrap().is_empty());
        assert!(!blobs.contains(other, &hash), "contents are not shared across workspaces");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "the duplicate was dropped");
        let mut read = String::new();
        io::Read::read_to_string(&mut blobs.open(ws, &hash).unwrap(), &mut read).unwrap();
        assert_eq!(read, "hello world");
        blobs.remove(ws, &hash).unwrap();
        assert!(!blobs.contains(ws, &hash));
        blobs.remove(ws, &hash).unwrap();
    }

    #[test]
    fn nodes_sharing_a_directory_stage_apart_and_read_each_others_contents() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not-mounted");
        assert!(LocalBlobs::open_shared(&missing, "a").is_err(), "a missing mount is not created");
        assert!(!missing.exists());
        assert!(LocalBlobs::open_shared(dir.path(), "../x").is_err());
        let a = LocalBlobs::open_shared(dir.path(), "a").unwrap();
        let b = LocalBlobs::open_shared(dir.path(), "b").unwrap();
        let ws = WorkspaceId::from_ulid(ulid::Ulid::new());

        // B's upload in flight survives A restarting (opening the directory again).
        let mut in_flight = b.stage().unwrap();
        in_flight.write(b"still being uploaded").unwrap();
        drop(a);
        let a = LocalBlobs::open_shared(dir.path(), "a").unwrap();
        let sealed = in_flight.seal().unwrap();

        // Both place the same content at once: one complete content, no staging left.
        let hash = sealed.hash;
        let from_a = upload(&a, b"still being uploaded");
        std::thread::scope(|s| {
            s.spawn(|| a.place(ws, from_a).unwrap());
            s.spawn(|| b.place(ws, sealed).unwrap());
        });
        a.sync(ws, &hash).unwrap();
        let mut read = String::new();
        io::Read::read_to_string(&mut b.open(ws, &hash).unwrap(), &mut read).unwrap();
        assert_eq!(read, "still being uploaded");
        assert_eq!(a.list(ws).unwrap().len(), 1);
        for node in ["a", "b"] {
            assert_eq!(fs::read_dir(dir.path().join("tmp").join(node)).unwrap().count(), 0, "{node}");
        }

        // A reader that opened the content keeps it while another node removes it.
        let mut open = b.open(ws, &hash).unwrap();
        a.remove(ws, &hash).unwrap();
        assert!(!b.contains(ws, &hash), "no node finds it any more");
        let mut read = String::new();
        io::Read::read_to_string(&mut open, &mut read).unwrap();
        assert_eq!(read, "still being uploaded");
    }

    #[test]
    fn an_upload_handed_off_is_claimed_once_by_another_node() {
        let dir = tempfile::tempdir().unwrap();
        let receiver = LocalBlobs::open_shared(dir.path(), "a").unwrap();
        let holder = LocalBlobs::open_shared(dir.path(), "b").unwrap();
        let ws = WorkspaceId::from_ulid(ulid::Ulid::new());
        let other = WorkspaceId::from_ulid(ulid::Ulid::new());
        let file = FileId::from_ulid(ulid::Ulid::new());
        let sealed = upload(&receiver, b"received by a, placed by b");
        let (hash, size) = (sealed.hash, sealed.size);
        receiver.hand_off(ws, file, sealed).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp/a")).unwrap().count(), 0, "no longer a's");

        // Only under its own workspace, and only once.
        assert_eq!(holder.claim(other, file).err().map(|e| e.kind()), Some(io::ErrorKind::NotFound));
        let claimed = holder.claim(ws, file).unwrap();
        assert_eq!((claimed.hash, claimed.size), (hash, size), "hashed again by the holder");
        assert_eq!(claimed.head, b"received by a, placed by b");
        assert_eq!(holder.claim(ws, file).err().map(|e| e.kind()), Some(io::ErrorKind::NotFound));
        holder.place(ws, claimed).unwrap();
        assert!(receiver.contains(ws, &hash));

        // A claimed handoff that is refused is deleted with it.
        let refused = FileId::from_ulid(ulid::Ulid::new());
        receiver.hand_off(ws, refused, upload(&receiver, b"refused")).unwrap();
        drop(holder.claim(ws, refused).unwrap());
        for staging in ["tmp/a", "tmp/b", &format!("handoff/{ws}")] {
            assert_eq!(fs::read_dir(dir.path().join(staging)).unwrap().count(), 0, "{staging}");
        }

        // One its node takes back (its holder did not answer) is deleted, unless the
        // holder took it first.
        let withdrawn = FileId::from_ulid(ulid::Ulid::new());
        receiver.hand_off(ws, withdrawn, upload(&receiver, b"withdrawn")).unwrap();
        receiver.discard_handoff(ws, withdrawn).unwrap();
        assert_eq!(holder.claim(ws, withdrawn).err().map(|e| e.kind()), Some(io::ErrorKind::NotFound));
        receiver.discard_handoff(ws, withdrawn).unwrap();

        // One nobody claims is swept once it is old enough, not before.
        let abandoned = FileId::from_ulid(ulid::Ulid::new());
        receiver.hand_off(ws, abandoned, upload(&receiver, b"abandoned")).unwrap();
        let hour = std::time::Duration::from_secs(3600);
        assert_eq!(holder.sweep_handoffs(ws, hour).unwrap(), 0);
        let path = dir.path().join(format!("handoff/{ws}/{abandoned}"));
        let old = std::time::SystemTime::now() - 2 * hour;
        File::options().write(true).open(&path).unwrap().set_modified(old).unwrap();
        assert_eq!(holder.sweep_handoffs(other, hour).unwrap(), 0);
        assert_eq!(holder.sweep_handoffs(ws, hour).unwrap(), 1);
        assert!(!path.exists());
    }

    #[test]
    fn an_abandoned_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        let mut staging = blobs.stage().unwrap();
        staging.write(b"half").unwrap();
        drop(staging);
        drop(upload(&blobs, b"sealed, never placed"));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        // A crash's leftovers are swept when the store is opened again.
        fs::write(dir.path().join("tmp/crashed.part"), b"x").unwrap();
        LocalBlobs::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
