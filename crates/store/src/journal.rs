//! Atomic batches on sled without `sled::Batch`.
//!
//! sled 0.34's `Tree::apply_batch` seals and writes its I/O buffer before and after
//! every batch (`PageCache::pin_log`), so every post cost two log writes with a
//! `sync_file_range` each and woke sled's whole I/O thread pool: measured, it halved
//! durable ingest (see docs/benchmarks.md). The store therefore writes a batch as
//! plain inserts and removes, preceded by one record holding the whole batch: the
//! journal, a single key that every batch overwrites.
//!
//! Why that is atomic: batches are applied one at a time, and sled recovers a
//! contiguous prefix of its log. So after a crash every batch before the one in the
//! journal is complete (its writes precede the journal record that replaced it), and
//! only the journal's batch may be partly written. Opening the store applies the
//! journal's batch again, which completes it: its writes are final values, and no
//! later write survived to be overwritten.

use std::collections::HashMap;

use sled::{IVec, Tree};

/// The key of the journal record (outside every record tag's range).
pub const JOURNAL_KEY: &[u8] = b"\xF1journal";

/// The sled writes of one batch, in order: `(key, Some(value))` inserts, `(key, None)`
/// removes.
#[derive(Default, Debug, PartialEq)]
pub struct Writes {
    entries: Vec<(IVec, Option<IVec>)>,
    /// Key → index of its last write in `entries`.
    last_write: HashMap<IVec, usize>,
    /// Whether the batch changes a key of a value spread over several keys (a long
    /// text's parts past the first): see [`Writes::touch_multi_key_value`].
    touches_multi_key_value: bool,
}

impl Writes {
    pub fn insert(&mut self, key: impl Into<IVec>, value: impl Into<IVec>) {
        self.push(key.into(), Some(value.into()));
    }

    pub fn remove(&mut self, key: impl Into<IVec>) {
        self.push(key.into(), None);
    }

    fn push(&mut self, key: IVec, value: Option<IVec>) {
        self.last_write.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
    }

    /// What the batch has staged for `key` so far: `None` if it does not write the
    /// key, `Some(None)` if it removes it.
    pub fn staged(&self, key: &[u8]) -> Option<Option<&IVec>> {
        self.last_write.get(key).map(|&i| self.entries[i].1.as_ref())
    }

    /// Notes that the batch changes a part of a value spread over several keys, so
    /// that applying it must keep readers of such values out (one key's write is
    /// atomic on its own; several are not).
    pub fn touch_multi_key_value(&mut self) {
        self.touches_multi_key_value = true;
    }

    pub fn touches_multi_key_value(&self) -> bool {
        self.touches_multi_key_value
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The keys the batch writes or removes.
    pub fn keys(&self) -> impl Iterator<Item = &IVec> {
        self.entries.iter().map(|(key, _)| key)
    }

    #[cfg(test)]
    pub fn entries(&self) -> &[(IVec, Option<IVec>)] {
        &self.entries
    }

    /// Records the batch in the journal, then applies it.
    pub fn apply_journaled(&self, tree: &Tree) -> sled::Result<()> {
        tree.insert(JOURNAL_KEY, self.encode())?;
        self.apply(tree)
    }

    /// Applies the writes in order.
    pub fn apply(&self, tree: &Tree) -> sled::Result<()> {
        for (key, value) in &self.entries {
            match value {
                Some(value) => tree.insert(key, value.clone())?,
                None => tree.remove(key)?,
            };
        }
        Ok(())
    }

    /// `u32` count, then per write: `u32` key length, key, `0` (remove) or `1` and a
    /// `u32` value length and the value; integers little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize =
            self.entries.iter().map(|(k, v)| 9 + k.len() + v.as_ref().map_or(0, |v| v.len())).sum();
        let mut out = Vec::with_capacity(4 + size);
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for (key, value) in &self.entries {
            out.extend_from_slice(&(key.len() as u32).to_le_bytes());
            out.extend_from_slice(key);
            match value {
                None => out.push(0),
                Some(value) => {
                    out.push(1);
                    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
                    out.extend_from_slice(value);
                }
            }
        }
        out
    }

    /// The inverse of [`Writes::encode`]; `None` if the bytes are not one whole batch.
    pub fn decode(mut bytes: &[u8]) -> Option<Writes> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, rest) = bytes.split_at_checked(n)?;
            *bytes = rest;
            Some(head)
        }
        fn take_u32(bytes: &mut &[u8]) -> Option<usize> {
            Some(u32::from_le_bytes(take(bytes, 4)?.try_into().ok()?) as usize)
        }
        let count = take_u32(&mut bytes)?;
        // Every write takes at least 5 bytes: a corrupt count cannot allocate much.
        let mut writes = Writes::default();
        writes.entries.reserve(count.min(bytes.len() / 5));
        for _ in 0..count {
            let len = take_u32(&mut bytes)?;
            let key = IVec::from(take(&mut bytes, len)?);
            let value = match take(&mut bytes, 1)?[0] {
                0 => None,
                1 => {
                    let len = take_u32(&mut bytes)?;
                    Some(IVec::from(take(&mut bytes, len)?))
                }
                _ => return None,
            };
            writes.push(key, value);
        }
        bytes.is_empty().then_some(writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips_and_damaged_bytes_are_refused() {
        let mut writes = Writes::default();
        writes.insert(b"a".as_slice(), b"1".as_slice());
        writes.remove(b"b".as_slice());
        writes.insert(b"".as_slice(), b"".as_slice());
        let bytes = writes.encode();
        assert_eq!(Writes::decode(&bytes), Some(writes));
        for cut in 0..bytes.len() {
            assert_eq!(Writes::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Writes::decode(&longer), None);
        assert_eq!(Writes::decode(&[0xFF, 0xFF, 0xFF, 0xFF]), None);
    }
}
