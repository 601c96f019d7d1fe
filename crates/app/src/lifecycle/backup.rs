//! `confab backup --out DIR`: a consistent copy of a running server's data, taken
//! while it serves.
//!
//! What it holds, in `DIR`:
//! - `store/`: the store as of one moment ([`confab_store::Store::snapshot_to`]) —
//!   accounts, workspaces, messages, the event log, and each workspace's consent
//!   ledger, which lives in the store; writes wait only for the copy's short second
//!   phase, never for the whole copy;
//! - `models/`: the model registry, copied while no consent change or training run
//!   can save or retire a model (under the ledger's append lock);
//! - `files/`: the contents of uploaded files, copied after the store;
//! - `secret.key`, only from a data dir made before the key of password-reset links
//!   moved into the store (so a restore also brings back what a server reads then);
//! - `backup.json`: when, by which version, and how much.
//!
//! Not the search index: it is derived from the store and is rebuilt when a server
//! starts on the restored data dir. `confab restore DIR --data-dir NEW` brings it
//! back (server side) and verifies every workspace's ledger.

use std::path::{Path, PathBuf};

use confab_core::{Error, Millis};
use serde::{Deserialize, Serialize};

use super::{OnProgress, Progress};
use crate::error::{AppError, Result};
use crate::{App, now_ms};

/// The format `backup.json` names.
pub const BACKUP_FORMAT: &str = "confab-backup/1";

/// `backup.json`: what a backup holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupReport {
    pub format: String,
    pub confab_version: String,
    pub created_at: Millis,
    /// Keys of the store copied.
    pub store_keys: u64,
    pub store_bytes: u64,
    /// The bytes of the store's records (keys and values) copied: what the store
    /// holds, apart from how sled lays it out on disk (`store_bytes`).
    #[serde(default)]
    pub store_record_bytes: u64,
    /// Keys written during the copy and copied again while writes waited.
    pub store_keys_rewritten: u64,
    /// How long writes waited, in milliseconds.
    pub writes_paused_ms: f64,
    /// Files of the model registry copied.
    pub model_files: u64,
    /// Uploaded files' contents copied.
    #[serde(default)]
    pub files: u64,
    /// Wall time of the whole backup, in milliseconds.
    pub took_ms: f64,
}

/// Copies every file under `from` to `to` (created), returning how many;
/// `copied` is told the bytes of each file copied.
pub fn copy_tree(from: &Path, to: &Path, copied: &mut dyn FnMut(u64)) -> std::io::Result<u64> {
    std::fs::create_dir_all(to)?;
    let mut files = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            files += copy_tree(&entry.path(), &target, copied)?;
        } else if kind.is_file() {
            copied(std::fs::copy(entry.path(), &target)?);
            files += 1;
        }
    }
    Ok(files)
}

/// The bytes of every file under `dir` (for a progress bar's length).
pub fn tree_size(dir: &Path) -> std::io::Result<u64> {
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            bytes += tree_size(&entry.path())?;
        } else if kind.is_file() {
            bytes += entry.metadata()?.len();
        }
    }
    Ok(bytes)
}

/// A directory that does not exist or is empty (a backup or restore never mixes
/// with what is there).
pub fn require_empty(dir: &Path) -> std::io::Result<()> {
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()) {
        Ok(true) => Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} is not empty", dir.display()),
        )),
        Ok(false) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl App {
    /// Backs the server's data up into `dest` (absent or empty); see the module docs.
    /// `progress` is told how many store keys are copied so far.
    pub async fn backup(&self, dest: PathBuf, progress: OnProgress) -> Result<BackupReport> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || app.backup_blocking(&dest, progress)).await?
    }

    fn backup_blocking(&self, dest: &Path, mut progress: OnProgress) -> Result<BackupReport> {
        let started = std::time::Instant::now();
        let io = |what: &'static str| move |e: std::io::Error| AppError::other(what, e);
        if !dest.is_absolute() {
            return Err(Error::invalid_field("out", "must be an absolute path").into());
        }
        require_empty(dest).map_err(|e| Error::invalid_field("out", e.to_string()))?;
        let created = !dest.exists();
        std::fs::create_dir_all(dest).map_err(io("creating the backup dir"))?;
        let stats = match self
            .store()
            .snapshot_to(&dest.join("store"), &mut |keys| progress(Progress { done: keys, total: 0 }))
        {
            // A store that cannot be copied online (PostgreSQL) says which tools copy
            // it: that is the operator's answer, not a failure.
            Err(confab_store::StoreError::Io(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
                if created {
                    let _ = std::fs::remove_dir(dest);
                }
                return Err(Error::new(confab_core::ErrorCode::InvalidRequest, e.to_string()).into());
            }
            copied => copied?,
        };
        let data_dir = &self.inner.lifecycle.data_dir;
        let models = data_dir.join("models");
        let model_files = self.inner.ledger.while_unchanged(|| match models.exists() {
            true => copy_tree(&models, &dest.join("models"), &mut |_| {}),
            false => Ok(0),
        });
        let model_files = model_files.map_err(io("copying the models"))?;
        // Uploaded files' contents are immutable and named by their hash, so copying
        // them after the store gives every content the copy of the store names, except
        // one whose file is deleted between the two copies: that file then answers
        // not found after a restore.
        let uploads = data_dir.join("files");
        let files = match uploads.exists() {
            true => copy_tree(&uploads, &dest.join("files"), &mut |_| {}).map_err(io("copying the files"))?,
            false => 0,
        };
        // The reset-link key is in the store; a data dir from before keeps its old
        // file, which a restore then brings back along with it.
        let old_key = data_dir.join(super::reset::KEY_FILE);
        if old_key.exists() {
            std::fs::copy(&old_key, dest.join(super::reset::KEY_FILE))
                .map_err(io("copying the reset-link key"))?;
        }
        let report = BackupReport {
            format: BACKUP_FORMAT.to_string(),
            confab_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at: now_ms(),
            store_keys: stats.keys,
            store_bytes: stats.bytes,
            store_record_bytes: stats.record_bytes,
            store_keys_rewritten: stats.rewritten,
            writes_paused_ms: stats.barrier_micros as f64 / 1000.0,
            model_files,
            files,
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        let manifest = serde_json::to_vec_pretty(&report)?;
        std::fs::write(dest.join("backup.json"), manifest).map_err(io("writing backup.json"))?;
        Ok(report)
    }
}
