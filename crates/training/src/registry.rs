//! [`ModelRegistry`]: trained models on disk, and which one a workspace may be served.
//!
//! Layout under the root the caller gives (e.g. `<data_dir>/models/`):
//!
//! ```text
//! <id>/manifest.json   the Manifest
//! <id>/artifact.json   the weights (deleted when the model is retired)
//! <id>/retired.json    present once retired: when and why
//! ```
//!
//! A model is written into a hidden staging directory and renamed into place, so a
//! reader sees all of it or nothing; single files are replaced by write-then-rename.
//! Artifacts are checked against the manifest's SHA-256 on every read.
//!
//! Serving rule ([`ModelRegistry::servable_for`]): a workspace gets its own newest
//! servable `workspace`-scoped model, else the newest servable shared model, in both
//! cases only one that every contributor's *current* consent still covers (checked
//! against the ledger on every look-up, whatever the files say). A
//! `workspace`-scoped model is never returned for another workspace.
//!
//! Crash safety: every file is synced before it is renamed into place, and the
//! directory holding a rename or removal is synced after it, so a retirement that
//! returned `Ok` survives a crash.
//!
//! Narrowing ([`ModelRegistry::retire_uncovered`]): after any consent change, every
//! model whose consent lapsed is retired at once. A run saves its models with
//! [`ModelRegistry::save_run`], under the ledger's append lock, retired from the start
//! if consent changed while it trained.
//!
//! Withdrawal ([`ModelRegistry::retire_including`]): every model whose manifest lists
//! the workspace for that purpose is retired at once (tombstone first, then the
//! artifact is deleted) and the shared models to rebuild are returned. Training keeps
//! no cached copy of any snapshot or record, here or elsewhere, so there is no training
//! data to delete besides the artifacts.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use confab_consent::{Coverage, Ledger, LedgerStore, Purpose, Scope};
use confab_core::{Millis, WorkspaceId};
use serde::{Deserialize, Serialize};

use crate::error::TrainingError;
use crate::manifest::{Manifest, TrainedModel, is_model_id, sha256_hex};

const MANIFEST: &str = "manifest.json";
const ARTIFACT: &str = "artifact.json";
const RETIRED: &str = "retired.json";

/// Why and when a model stopped being served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retirement {
    pub at: Millis,
    pub reason: String,
}

/// A model as the registry holds it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelRecord {
    pub manifest: Manifest,
    /// `Some` once retired; its artifact is then gone.
    pub retired: Option<Retirement>,
}

impl ModelRecord {
    pub fn is_served(&self) -> bool {
        self.retired.is_none() && self.manifest.servable
    }
}

/// A model ready to serve: its manifest and verified artifact bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct ServableModel {
    pub manifest: Manifest,
    pub artifact: Vec<u8>,
}

/// A model slot that must be trained again (without the withdrawn data).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Rebuild {
    pub purpose: Purpose,
    pub scope: Scope,
    pub workspace: Option<WorkspaceId>,
}

/// What a retirement did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Retired {
    /// Ids of the models that stopped being served.
    pub models: Vec<String>,
    /// What to rebuild: a run over a fresh snapshot rebuilds these without the data.
    pub rebuild: Vec<Rebuild>,
}

/// Trained models in a directory.
#[derive(Clone, Debug)]
pub struct ModelRegistry {
    root: PathBuf,
}

static STAGING_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainingError + '_ {
    move |source| TrainingError::Io { path: path.to_path_buf(), source }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), TrainingError> {
    let mut file = fs::File::create(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// Makes a directory's entries (creations, renames, removals) durable: without this a
/// crash may undo a rename or a removal the files' own syncs do not cover.
fn sync_dir(path: &Path) -> Result<(), TrainingError> {
    fs::File::open(path).and_then(|dir| dir.sync_all()).map_err(io(path))
}

impl ModelRegistry {
    /// Opens (creating if needed) a registry rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, TrainingError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io(&root))?;
        sync_dir(&root)?;
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(ModelRegistry { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, id: &str) -> Result<PathBuf, TrainingError> {
        if !is_model_id(id) {
            return Err(TrainingError::InvalidId(id.to_owned()));
        }
        Ok(self.root.join(id))
    }

    /// Stores a model atomically. Saving the same model again is a no-op; a different
    /// model under an existing id is refused.
    pub fn save(&self, model: &TrainedModel) -> Result<(), TrainingError> {
        self.save_as(model, None)
    }

    /// Saves a model, retired from the start if `retired` is given (its artifact is
    /// then never written): what a run does with a model whose consent lapsed while
    /// it trained.
    fn save_as(&self, model: &TrainedModel, retired: Option<&Retirement>) -> Result<(), TrainingError> {
        let id = &model.manifest.id;
        let dir = self.dir(id)?;
        if sha256_hex(&model.artifact) != model.manifest.artifact_sha256 {
            return Err(TrainingError::Corrupt(format!("{id}: artifact does not match its manifest hash")));
        }
        let manifest = serde_json::to_vec_pretty(&model.manifest)
            .map_err(|e| TrainingError::Corrupt(format!("{id}: manifest: {e}")))?;
        if dir.exists() {
            return match self.get(id)? {
                Some(existing) if existing.manifest == model.manifest => Ok(()),
                _ => Err(TrainingError::Corrupt(format!("{id}: a different model already has this id"))),
            };
        }
        let staging = self.root.join(format!(
            ".staging-{id}-{}-{}",
            std::process::id(),
            STAGING_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&staging).map_err(io(&staging))?;
        let contents = match retired {
            None => write_synced(&staging.join(ARTIFACT), &model.artifact),
            Some(r) => serde_json::to_vec_pretty(r)
                .map_err(|e| TrainingError::Corrupt(format!("{id}: retirement: {e}")))
                .and_then(|bytes| write_synced(&staging.join(RETIRED), &bytes)),
        };
        let written = contents
            .and_then(|()| write_synced(&staging.join(MANIFEST), &manifest))
            .and_then(|()| sync_dir(&staging))
            .and_then(|()| fs::rename(&staging, &dir).map_err(io(&dir)))
            .and_then(|()| sync_dir(&self.root));
        if written.is_err() {
            // Leave nothing half-written behind; the original error is what matters.
            let _ = fs::remove_dir_all(&staging);
        }
        written
    }

    /// Every model, retired ones included, oldest first.
    pub fn list(&self) -> Result<Vec<ModelRecord>, TrainingError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io(&self.root))? {
            let entry = entry.map_err(io(&self.root))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !is_model_id(name) || !entry.path().join(MANIFEST).is_file() {
                continue;
            }
            if let Some(record) = self.get(name)? {
                out.push(record);
            }
        }
        out.sort_by(|a, b| {
            (a.manifest.created_at, &a.manifest.id).cmp(&(b.manifest.created_at, &b.manifest.id))
        });
        Ok(out)
    }

    /// One model's record, `None` if there is none with that id.
    pub fn get(&self, id: &str) -> Result<Option<ModelRecord>, TrainingError> {
        let dir = self.dir(id)?;
        let path = dir.join(MANIFEST);
        if !path.is_file() {
            return Ok(None);
        }
        let bytes = fs::read(&path).map_err(io(&path))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| TrainingError::Corrupt(format!("{id}: manifest: {e}")))?;
        if manifest.id != id {
            return Err(TrainingError::Corrupt(format!("{id}: manifest names another id")));
        }
        let retired_path = dir.join(RETIRED);
        let retired = if retired_path.is_file() {
            let bytes = fs::read(&retired_path).map_err(io(&retired_path))?;
            Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| TrainingError::Corrupt(format!("{id}: retired: {e}")))?,
            )
        } else {
            None
        };
        Ok(Some(ModelRecord { manifest, retired }))
    }

    /// A model's artifact, checked against its manifest; `None` if retired or absent.
    pub fn artifact(&self, id: &str) -> Result<Option<Vec<u8>>, TrainingError> {
        let Some(record) = self.get(id)? else { return Ok(None) };
        if record.retired.is_some() {
            return Ok(None);
        }
        let path = self.dir(id)?.join(ARTIFACT);
        let bytes = fs::read(&path).map_err(io(&path))?;
        if sha256_hex(&bytes) != record.manifest.artifact_sha256 {
            return Err(TrainingError::Corrupt(format!("{id}: artifact does not match its manifest hash")));
        }
        Ok(Some(bytes))
    }

    /// The model `ws` may be served for `purpose`: its own newest servable
    /// `workspace`-scoped model, else the newest servable shared one, else `None`
    /// (serving then uses its defaults).
    ///
    /// Only a model every one of whose contributors' *current* consent still covers
    /// it ([`Manifest::coverage`]) is a candidate, whatever its files say: a lost
    /// retirement, a crash or a run racing a withdrawal cannot get a model served
    /// past its consent.
    pub fn servable_for<S: LedgerStore>(
        &self,
        ws: WorkspaceId,
        purpose: Purpose,
        ledger: &Ledger<S>,
    ) -> Result<Option<ServableModel>, TrainingError> {
        let records = self.list()?;
        let newest = |scope: Scope| -> Result<Option<&ModelRecord>, TrainingError> {
            let candidates = records
                .iter()
                .rev()
                .filter(|r| r.is_served() && r.manifest.purpose == purpose && r.manifest.scope == scope)
                .filter(|r| scope == Scope::Shared || r.manifest.workspace == Some(ws));
            for r in candidates {
                if r.manifest.coverage(ledger)?.is_covered() {
                    return Ok(Some(r));
                }
            }
            Ok(None)
        };
        let own = newest(Scope::Workspace)?;
        let Some(record) = (match own {
            Some(r) => Some(r),
            None => newest(Scope::Shared)?,
        }) else {
            return Ok(None);
        };
        // Belt and braces: a workspace model is only ever its own workspace's.
        if record.manifest.scope == Scope::Workspace
            && (record.manifest.workspace != Some(ws)
                || record.manifest.contributors.iter().any(|c| c.workspace != ws))
        {
            return Err(TrainingError::Corrupt(format!(
                "{}: workspace model with foreign data",
                record.manifest.id
            )));
        }
        Ok(self
            .artifact(&record.manifest.id)?
            .map(|artifact| ServableModel { manifest: record.manifest.clone(), artifact }))
    }

    fn retire(&self, id: &str, retirement: &Retirement) -> Result<(), TrainingError> {
        let dir = self.dir(id)?;
        let bytes = serde_json::to_vec_pretty(retirement)
            .map_err(|e| TrainingError::Corrupt(format!("{id}: retirement: {e}")))?;
        // Named per process and call: on a directory several nodes share, two may
        // retire the same model at once, and each must rename its own whole file.
        let tmp = dir.join(format!(
            ".{RETIRED}.tmp-{}-{}",
            std::process::id(),
            STAGING_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        write_synced(&tmp, &bytes)?;
        let target = dir.join(RETIRED);
        fs::rename(&tmp, &target).map_err(io(&target))?;
        sync_dir(&dir)?;
        let artifact = dir.join(ARTIFACT);
        match fs::remove_file(&artifact) {
            Ok(()) => sync_dir(&dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(TrainingError::Io { path: artifact, source: e }),
        }
    }

    /// Saves a run's models while no consent change can be appended, each retired
    /// from the start unless every contributor's current consent still covers it (a
    /// withdrawal or narrowing made while the run trained). Returns each model's
    /// retirement, `None` for those saved servable.
    pub fn save_run<S: LedgerStore>(
        &self,
        models: &[TrainedModel],
        ledger: &Ledger<S>,
        at: Millis,
    ) -> Result<Vec<Option<Retirement>>, TrainingError> {
        ledger.while_unchanged(|| {
            models
                .iter()
                .map(|model| {
                    let retired = match model.manifest.coverage(ledger)? {
                        Coverage::Covered => None,
                        Coverage::Lapsed(why) => Some(Retirement {
                            at,
                            reason: format!("consent changed while the model trained: {why}"),
                        }),
                    };
                    self.save_as(model, retired.as_ref())?;
                    Ok(retired)
                })
                .collect()
        })
    }

    /// Retires every model not yet retired whose contributors' current consent no
    /// longer covers it (any change that removed something it used), at once, and
    /// returns them with the model slots to rebuild over a fresh snapshot. The app
    /// calls this after every consent change; it is idempotent, so a failed or
    /// interrupted sweep is simply run again.
    pub fn retire_uncovered<S: LedgerStore>(
        &self,
        ledger: &Ledger<S>,
        at: Millis,
    ) -> Result<Retired, TrainingError> {
        let mut out = Retired::default();
        for record in self.list()? {
            let m = &record.manifest;
            if record.retired.is_some() {
                continue;
            }
            let Coverage::Lapsed(why) = m.coverage(ledger)? else { continue };
            self.retire(&m.id, &Retirement { at, reason: format!("consent no longer covers it: {why}") })?;
            out.models.push(m.id.clone());
            let rebuild = Rebuild { purpose: m.purpose, scope: m.scope, workspace: m.workspace };
            if !out.rebuild.contains(&rebuild) {
                out.rebuild.push(rebuild);
            }
        }
        out.rebuild.sort();
        Ok(out)
    }

    fn retire_where(
        &self,
        purpose: Purpose,
        ws: WorkspaceId,
        reason: &str,
        at: Millis,
        rebuild_own: bool,
    ) -> Result<Retired, TrainingError> {
        let mut out = Retired::default();
        for record in self.list()? {
            let m = &record.manifest;
            if record.retired.is_some() || m.purpose != purpose || !m.includes(ws) {
                continue;
            }
            self.retire(&m.id, &Retirement { at, reason: reason.to_owned() })?;
            out.models.push(m.id.clone());
            let rebuild = Rebuild { purpose, scope: m.scope, workspace: m.workspace };
            if (m.scope == Scope::Shared || rebuild_own) && !out.rebuild.contains(&rebuild) {
                out.rebuild.push(rebuild);
            }
        }
        out.rebuild.sort();
        Ok(out)
    }

    /// A withdrawal: every model of `purpose` whose manifest includes `ws` stops being
    /// served now and loses its artifact. Returns them and the shared models to
    /// rebuild (the workspace's own model is not rebuilt: it withdrew).
    pub fn retire_including(
        &self,
        ws: WorkspaceId,
        purpose: Purpose,
        at: Millis,
    ) -> Result<Retired, TrainingError> {
        self.retire_where(purpose, ws, &format!("workspace {ws} withdrew consent for {purpose}"), at, false)
    }

    /// A member excluded themselves in `ws` for `purpose`. Manifests record member
    /// counts, not who, so every model of that purpose including `ws` is retired; all
    /// of them are to be rebuilt (the gate leaves the member out of the next snapshot).
    pub fn retire_including_member(
        &self,
        ws: WorkspaceId,
        purpose: Purpose,
        at: Millis,
    ) -> Result<Retired, TrainingError> {
        self.retire_where(
            purpose,
            ws,
            &format!("a member of workspace {ws} excluded themselves from {purpose}"),
            at,
            true,
        )
    }

    /// A workspace was deleted: retires every model of every purpose that includes it.
    pub fn forget_workspace(&self, ws: WorkspaceId, at: Millis) -> Result<Retired, TrainingError> {
        let mut out = Retired::default();
        for purpose in Purpose::ALL {
            let r = self.retire_where(purpose, ws, &format!("workspace {ws} was deleted"), at, false)?;
            out.models.extend(r.models);
            out.rebuild.extend(r.rebuild);
        }
        Ok(out)
    }
}
