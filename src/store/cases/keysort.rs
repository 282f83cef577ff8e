//! The cases of a first run, found from keys kept on disk: every record's keys are
//! written as `(key, record)` pairs in sorted runs, and the runs merged in key order
//! join the records that share a key. Memory is the union-find's (four bytes a record)
//! and each record's case (eight), never the keys: held whole with a hash map over
//! them, the keys were most of a first run's peak (1.5 GiB at 5,000,000 persons).
//!
//! The cases are those `reconcile::cases::fresh_cases` builds in memory, numbered the
//! same way (each by its smallest key); a unit test holds the two equal.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::CaseId;
use crate::reconcile::cases::{CaseKey, Joiner};
use crate::store::spill::spill_error;
use crate::store::StoreError;

/// Pairs sorted in memory before they go to a run: 32 MB.
const RUN_PAIRS: usize = 1 << 21;

/// Bytes of a pair in a run: the key and the record, little-endian.
const PAIR_BYTES: usize = 12;

/// One table's records' keys, numbered from 0 in the order they are pushed, on their
/// way to sorted runs in `dir`.
pub(super) struct KeyRuns {
    dir: PathBuf,
    name: String,
    pairs: Vec<(CaseKey, u32)>,
    runs: Vec<PathBuf>,
    records: u32,
}

impl KeyRuns {
    /// Runs in `dir`, their files named after `name`.
    pub fn new(dir: &Path, name: &str) -> KeyRuns {
        KeyRuns {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            pairs: Vec::new(),
            runs: Vec::new(),
            records: 0,
        }
    }

    /// Numbers the next record, with its keys.
    pub fn push(&mut self, keys: Vec<CaseKey>) -> Result<(), StoreError> {
        let record = self.records;
        self.records += 1;
        self.pairs.extend(keys.into_iter().map(|k| (k, record)));
        if self.pairs.len() >= RUN_PAIRS {
            self.flush()?;
        }
        Ok(())
    }

    /// How many records were pushed.
    pub fn records(&self) -> usize {
        self.records as usize
    }

    /// Writes the pairs held as a last sorted run, and lets go of their room.
    pub fn finish(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        self.pairs = Vec::new();
        Ok(())
    }

    /// Writes the pairs held as one sorted run.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        if self.pairs.is_empty() {
            return Ok(());
        }
        self.pairs.sort_unstable();
        let path = self
            .dir
            .join(format!("keys-{}-{}", self.name, self.runs.len()));
        let file = File::create_new(&path).map_err(spill_error(&path))?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        for (key, record) in self.pairs.drain(..) {
            out.write_all(&key.to_le_bytes())
                .and_then(|()| out.write_all(&record.to_le_bytes()))
                .map_err(spill_error(&path))?;
        }
        out.flush().map_err(spill_error(&path))?;
        self.runs.push(path);
        Ok(())
    }
}

impl Drop for KeyRuns {
    /// The runs go once the cases are built from them (12 bytes a key on disk).
    fn drop(&mut self) {
        for path in &self.runs {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Every run of several tables' keys merged in key order, each record numbered after
/// the records of the tables before its own.
pub(super) struct Merged {
    inputs: Vec<(BufReader<File>, u32, PathBuf)>,
    heap: BinaryHeap<Reverse<(CaseKey, u32, usize)>>,
}

impl Merged {
    /// Opens the runs of `tables` (flushed), in their order.
    pub fn open(tables: &[KeyRuns]) -> Result<Merged, StoreError> {
        let mut merged = Merged {
            inputs: Vec::new(),
            heap: BinaryHeap::new(),
        };
        let mut offset = 0u32;
        for table in tables {
            for path in &table.runs {
                let file = File::open(path).map_err(spill_error(path))?;
                let at = merged.inputs.len();
                merged.inputs.push((
                    BufReader::with_capacity(1 << 16, file),
                    offset,
                    path.clone(),
                ));
                merged.refill(at)?;
            }
            offset += table.records;
        }
        Ok(merged)
    }

    /// Reads input `at`'s next pair onto the heap, if it has one.
    fn refill(&mut self, at: usize) -> Result<(), StoreError> {
        let (input, offset, path) = &mut self.inputs[at];
        let mut pair = [0; PAIR_BYTES];
        match input.read_exact(&mut pair) {
            Ok(()) => {
                let key = i64::from_le_bytes(pair[..8].try_into().unwrap_or_default());
                let record = u32::from_le_bytes(pair[8..].try_into().unwrap_or_default());
                self.heap.push(Reverse((key, *offset + record, at)));
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(()),
            Err(e) => Err(spill_error(path)(e)),
        }
    }

    /// The next pair in key order (then record order), or `None` after the last.
    pub fn next_pair(&mut self) -> Result<Option<(CaseKey, u32)>, StoreError> {
        let Some(Reverse((key, record, at))) = self.heap.pop() else {
            return Ok(None);
        };
        self.refill(at)?;
        Ok(Some((key, record)))
    }
}

/// Each record's case (records numbered table after table), as `fresh_cases` numbers
/// them: records sharing a key joined, each group named by its smallest key; and the
/// cases, sorted, each once.
pub(super) fn cases_of(tables: &[KeyRuns]) -> Result<(Vec<CaseId>, Vec<CaseId>), StoreError> {
    let n: usize = tables.iter().map(KeyRuns::records).sum();
    let mut joiner = Joiner::new(n);
    let mut merged = Merged::open(tables)?;
    let mut last: Option<(CaseKey, u32)> = None;
    while let Some((key, record)) = merged.next_pair()? {
        match last {
            Some((k, r)) if k == key => joiner.union(r as usize, record as usize),
            _ => last = Some((key, record)),
        }
    }
    // The pairs come in key order: a group's first pair met carries its smallest key.
    let mut smallest: Vec<CaseKey> = vec![CaseKey::MAX; n];
    let mut merged = Merged::open(tables)?;
    while let Some((key, record)) = merged.next_pair()? {
        let root = joiner.find(record as usize);
        if smallest[root] == CaseKey::MAX {
            smallest[root] = key;
        }
    }
    // Each record's case, written over `smallest` in place: a group's root is its
    // lowest-numbered record, so it is read before any record after it overwrites.
    let mut ids = Vec::new();
    for r in 0..n {
        let root = joiner.find(r);
        if root == r {
            ids.push(smallest[r]);
        }
        smallest[r] = smallest[root];
    }
    drop(joiner);
    ids.sort_unstable();
    ids.dedup();
    Ok((smallest, ids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::cases::{fresh_cases, RecordKeys};

    /// Random records with keys from a small range (so that they share keys and form
    /// chains), split over three tables, in runs of a few pairs.
    #[test]
    fn the_cases_from_sorted_runs_are_those_built_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut seed = 7u64;
        let mut next = move |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        let mut all = RecordKeys::empty();
        let mut tables: Vec<KeyRuns> = (0..3)
            .map(|t| KeyRuns::new(dir.path(), &t.to_string()))
            .collect();
        for (t, table) in tables.iter_mut().enumerate() {
            for _ in 0..200 + 50 * t {
                let keys: Vec<CaseKey> = (0..next(4)).map(|_| next(500) as i64 - 250).collect();
                all.push(keys.clone());
                table.push(keys).unwrap();
                if next(30) == 0 {
                    table.flush().unwrap();
                }
            }
            table.finish().unwrap();
        }
        assert!(tables.iter().all(|t| t.runs.len() > 1), "several runs each");
        let (cases, ids) = cases_of(&tables).unwrap();
        let want = fresh_cases(&all);
        assert_eq!(cases, want);
        let mut want_ids = want.clone();
        want_ids.sort_unstable();
        want_ids.dedup();
        assert_eq!(ids, want_ids);
        let mut merged = Merged::open(&tables).unwrap();
        let mut pairs = Vec::new();
        while let Some(pair) = merged.next_pair().unwrap() {
            pairs.push(pair);
        }
        assert!(pairs.windows(2).all(|w| w[0] <= w[1]), "in key order");
        assert_eq!(pairs.len(), all.keys.len());
    }
}
