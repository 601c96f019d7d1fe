//! Consistent online copies of the store ([`SledStore::snapshot_to`]) for `confab
//! backup`, without stopping writes for the length of the copy.
//!
//! sled has no snapshots, and its iterators see concurrent writes. So the copy is
//! made in two phases:
//! 1. from now on, `apply` notes every key a batch writes (under the apply lock, so
//!    no batch is missed); then every key is copied while writes go on — a fuzzy
//!    copy, which may hold part of a batch applied meanwhile;
//! 2. the keys written meanwhile are copied again, in rounds, while writes still go
//!    on, until a round leaves few; then, under the apply lock — no batch is
//!    applied meanwhile — every key written since the last round is copied again
//!    with its current value (or removed).
//!
//! The result is the store exactly as it was at the moment of phase 2: every batch
//! applied before it whole, none after it. Writes wait only for the locked end of
//! phase 2, whose cost is the keys written during the last round, not the size of
//! the store. The
//! journal record is not copied: every batch in the copy is complete.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::SledStore;
use crate::journal::JOURNAL_KEY;
use crate::{Result, SnapshotStats, StoreError};

/// Keys copied between two progress reports.
const PROGRESS_EVERY: u64 = 10_000;
/// Catch-up rounds end once at most this many keys were written during the last one.
const FINAL_PHASE_KEYS: usize = 2_000;
/// At most this many catch-up rounds, against writers faster than the copy.
const CATCH_UP_ROUNDS: usize = 8;
/// The copy's page cache. sled's default is 1 GiB, which a backup of a large store
/// filled inside the running server (a 2 GB store: RSS 1.0 → 2.1 GB); the copy is
/// written once, in key order, and never read back here.
const COPY_CACHE_BYTES: u64 = 64 * 1024 * 1024;

impl SledStore {
    /// Copies the store, as of one moment, into a new sled database in `dest` (which
    /// must not hold one). `progress` is called with the number of keys copied so far.
    pub fn snapshot_to(&self, dest: &Path, progress: &mut dyn FnMut(u64)) -> Result<SnapshotStats> {
        let copy = sled::Config::new().path(dest).create_new(true).cache_capacity(COPY_CACHE_BYTES).open()?;
        let tree = copy.open_tree("confab")?;
        {
            let _guard = self.apply_lock.lock();
            self.snapshot_dirty.lock().clear();
            self.snapshot_tracking.store(true, Ordering::Release);
        }
        // Whatever happens next, stop noting keys.
        let result = self.copy_phases(&tree, progress);
        {
            let _guard = self.apply_lock.lock();
            self.snapshot_tracking.store(false, Ordering::Release);
            self.snapshot_dirty.lock().clear();
        }
        let mut stats = result?;
        copy.flush()?;
        stats.bytes = copy.size_on_disk()?;
        for kv in tree.iter() {
            let (key, value) = kv?;
            stats.record_bytes += (key.len() + value.len()) as u64;
        }
        Ok(stats)
    }

    fn copy_phases(&self, tree: &sled::Tree, progress: &mut dyn FnMut(u64)) -> Result<SnapshotStats> {
        let mut keys = 0u64;
        for kv in self.tree.iter() {
            let (key, value) = kv?;
            if key.as_ref() == JOURNAL_KEY {
                continue;
            }
            tree.insert(key, value)?;
            keys += 1;
            if keys.is_multiple_of(PROGRESS_EVERY) {
                progress(keys);
            }
        }
        // Catch up with the keys written meanwhile while writes still go on, until few
        // are left, so that the final phase under the lock stays short.
        let mut rewritten = 0;
        for _ in 0..CATCH_UP_ROUNDS {
            let dirty = std::mem::take(&mut *self.snapshot_dirty.lock());
            rewritten += self.recopy(tree, &dirty)?;
            if dirty.len() <= FINAL_PHASE_KEYS {
                break;
            }
        }
        let started = Instant::now();
        let guard = self.apply_lock.lock();
        self.check_running()?;
        let dirty = std::mem::take(&mut *self.snapshot_dirty.lock());
        rewritten += self.recopy(tree, &dirty)?;
        drop(guard);
        let barrier = started.elapsed();
        progress(keys);
        if tree.get(JOURNAL_KEY)?.is_some() {
            return Err(StoreError::CorruptJournal);
        }
        Ok(SnapshotStats {
            keys,
            rewritten,
            barrier_micros: barrier.as_micros() as u64,
            bytes: 0,
            record_bytes: 0,
        })
    }

    /// Copies the current value of each key (or its absence).
    fn recopy(&self, tree: &sled::Tree, keys: &std::collections::HashSet<sled::IVec>) -> Result<u64> {
        for key in keys {
            if key.as_ref() == JOURNAL_KEY {
                continue;
            }
            match self.tree.get(key)? {
                Some(value) => tree.insert(key, value)?,
                None => tree.remove(key)?,
            };
        }
        Ok(keys.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use confab_core::WorkspaceId;

    use super::*;
    use crate::{Batch, Op, Store};

    /// Batch `i` writes `a/i` and `b/i` together; the copy, taken while batches keep
    /// coming, holds both or neither of each, for a gapless prefix of the batches.
    #[test]
    fn a_snapshot_taken_under_writes_holds_whole_batches_up_to_one_moment() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(&dir.path().join("live"), &Default::default()).unwrap());
        let ws = WorkspaceId::from_ulid(ulid::Ulid::from_parts(1, 1));
        let put = move |store: &SledStore, i: u32| {
            let mut batch = Batch::new();
            for side in ["a", "b"] {
                let key = format!("{side}/{i:08}").into_bytes();
                batch.push(Op::PutBlob { workspace: ws, namespace: "t", key, value: vec![1; 64] });
            }
            store.apply(batch).unwrap();
        };
        for i in 0..5_000 {
            put(&store, i);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                // Paced, as a server's writes are by its flushes and rate limits.
                let mut i = 5_000;
                while !stop.load(Ordering::Relaxed) {
                    put(&store, i);
                    i += 1;
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                i
            })
        };
        let mut reports = 0;
        let stats = store.snapshot_to(&dir.path().join("copy"), &mut |_| reports += 1).unwrap();
        stop.store(true, Ordering::Relaxed);
        let written = writer.join().unwrap();
        assert!(reports > 0 && stats.keys >= 10_000, "{stats:?}");
        assert!(store.snapshot_dirty.lock().is_empty() && !store.snapshot_tracking.load(Ordering::Relaxed));
        drop(store);
        let copy = SledStore::open(&dir.path().join("copy"), &Default::default()).unwrap();
        let blobs = copy.blobs(ws, "t").unwrap();
        let count = |side: &str| blobs.iter().filter(|(k, _)| k.starts_with(side.as_bytes())).count();
        let (a, b) = (count("a/"), count("b/"));
        assert_eq!(a, b, "no batch is torn");
        assert!(a >= 5_000 && a <= written as usize, "{a} of {written}");
        // Two values of 64 bytes per batch, and their keys; sled's files take more.
        assert!(stats.record_bytes > 2 * a as u64 * 64 && stats.record_bytes < stats.bytes, "{stats:?}");
        for (n, (key, _)) in blobs.iter().take(a).enumerate() {
            assert_eq!(key, &format!("a/{n:08}").into_bytes(), "a gapless prefix");
        }
        println!("{stats:?}, {written} batches in all");
    }
}
