//! A first run's golden records on SQLite, on their way into `persons` in key order.
//!
//! `persons` is clustered by its key, and a bucket's golden records are spread over
//! the whole key range (cases are numbered by a hash). Inserted bucket by bucket, every
//! bucket split pages across the table and rewrote most of them: 21 s for a million,
//! against 3.4 s in key order. So each bucket writes its golden records, sorted, to a
//! file of its own (`store::spill`'s rows), and once every bucket is done one pass
//! merges the files and inserts the rows in key order. Memory stays one row per file.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::registry::{person_rows, RegistryCases};
use super::snapshot::Cell;
use super::spill::{self, spill_error, MergedChunks};
use super::{run_chunks, Insert, Store, StoreError, CHUNK};
use crate::reconcile::Persons;

/// The golden records' files of a first run's buckets (in a directory that goes with
/// the run's spill).
#[derive(Debug)]
pub struct RegistrySpill {
    dir: PathBuf,
    files: Mutex<Vec<PathBuf>>,
}

/// A golden record's row as it is inserted: key, township, state, text, digest, case.
type Row = (String, Option<String>, String, String, String, Option<i64>);

fn row_of(cells: &[Cell<'_>]) -> Result<Row, StoreError> {
    let text = |i: usize| match cells.get(i) {
        Some(Cell::Text(t)) => Some(t.to_string()),
        _ => None,
    };
    let bad = || StoreError::Corrupt {
        what: "spilled golden record",
        detail: format!("{} cells", cells.len()),
    };
    let case = match cells.get(5) {
        Some(Cell::Int(n)) => Some(*n),
        _ => None,
    };
    Ok((
        text(0).ok_or_else(bad)?,
        text(1),
        text(2).ok_or_else(bad)?,
        text(3).ok_or_else(bad)?,
        text(4).ok_or_else(bad)?,
        case,
    ))
}

impl RegistrySpill {
    /// Files for golden records in `dir` (one only this user may enter).
    pub fn new(dir: &Path) -> RegistrySpill {
        RegistrySpill {
            dir: dir.to_path_buf(),
            files: Mutex::new(Vec::new()),
        }
    }

    /// Writes a bucket's golden records (`persons`, their cases in `cases`) to a file
    /// of their own, in key order; how many.
    pub(super) fn persons<'a>(
        &self,
        persons: &(impl Persons<'a> + ?Sized),
        cases: &RegistryCases<'_>,
    ) -> Result<u64, StoreError> {
        let path = {
            let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            let path = self.dir.join(format!("persons-{}", files.len()));
            files.push(path.clone());
            path
        };
        let mut order: Vec<(usize, Option<&str>)> =
            (0..persons.count()).map(|at| (at, None)).collect();
        order.sort_unstable_by_key(|&(at, _)| persons.key(at));
        let file = File::create_new(&path).map_err(spill_error(&path))?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        let mut row = Vec::new();
        for chunk in order.chunks(CHUNK) {
            for p in person_rows(persons, chunk) {
                let township = p.township.as_ref().map(|t| t.as_str());
                let cells = [
                    Cell::Text(Cow::Borrowed(p.key)),
                    township.map_or(Cell::Null, |t| Cell::Text(Cow::Borrowed(t))),
                    Cell::Text(Cow::Borrowed(p.state)),
                    Cell::Text(Cow::Borrowed(&p.text)),
                    Cell::Text(Cow::Borrowed(&p.digest)),
                    cases.person(p.at).map_or(Cell::Null, Cell::Int),
                ];
                row.clear();
                spill::encode(&mut row, 0, 0, &cells);
                out.write_all(&row).map_err(spill_error(&path))?;
            }
        }
        out.flush().map_err(spill_error(&path))?;
        Ok(order.len() as u64)
    }
}

impl Store {
    /// Merges the buckets' golden records into `persons`, in key order, in one write.
    pub async fn merge_spilled_registry(&self, spill: &RegistrySpill) -> Result<(), StoreError> {
        let paths = std::mem::take(&mut *spill.files.lock().unwrap_or_else(|e| e.into_inner()));
        let mut chunks = MergedChunks::open(paths, row_of)?;
        let what = "merging golden records";
        let mut tx = self.begin_rebuild(what).await?;
        while let Some(chunk) = chunks.next().await {
            run_chunks(
                &mut tx,
                self.backend,
                &chunk?,
                Insert {
                    head: "INSERT INTO persons (person_key, township, state, record, digest, case_id)",
                    tail: "",
                    doing: what,
                },
                |q, (key, township, state, text, digest, case)| {
                    q.bind(key.as_str())
                        .bind(township.as_deref())
                        .bind(state.as_str())
                        .bind(text.as_str())
                        .bind(digest.as_str())
                        .bind(*case)
                },
            )
            .await?;
        }
        // Not every row read: the transaction goes back with `tx`.
        chunks.finish().await?;
        tx.commit(what).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bucket's file of golden records: `keys` in order, then, when `cut`, half a row.
    fn bucket_file(spill: &RegistrySpill, keys: &[&str], cut: bool) {
        let mut bytes = Vec::new();
        for key in keys {
            let cells = [
                Cell::Text(Cow::Borrowed(key)),
                Cell::Null,
                Cell::Text(Cow::Borrowed("on_register")),
                Cell::Text(Cow::Borrowed("{}")),
                Cell::Text(Cow::Borrowed("d")),
                Cell::Int(7),
            ];
            spill::encode(&mut bytes, 0, 0, &cells);
        }
        let whole = bytes.len();
        if cut {
            spill::encode(&mut bytes, 0, 0, &[Cell::Text(Cow::Borrowed("cut short"))]);
            bytes.truncate(whole + 6);
        }
        let mut files = spill.files.lock().unwrap();
        let path = spill.dir.join(format!("persons-{}", files.len()));
        std::fs::write(&path, bytes).unwrap();
        files.push(path);
    }

    /// The merge reads on a thread of its own: a file that ends inside a row fails the
    /// merge, and no golden record of it is kept, however many rows came first.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_merge_keeps_every_row_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        let store = Store::open(&url).await.unwrap();
        let spill = RegistrySpill::new(dir.path());
        let many: Vec<String> = (0..3 * CHUNK).map(|n| format!("k{n:05}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        bucket_file(&spill, &many, false);
        bucket_file(&spill, &["a", "z"], true);
        assert!(store.merge_spilled_registry(&spill).await.is_err());
        assert_eq!(store.count_rows("persons").await.unwrap(), 0);

        bucket_file(&spill, &many, false);
        bucket_file(&spill, &["a", "z"], false);
        store.merge_spilled_registry(&spill).await.unwrap();
        assert_eq!(
            store.count_rows("persons").await.unwrap(),
            3 * CHUNK as i64 + 2
        );
        let (first, last): (String, String) =
            sqlx::query_as("SELECT MIN(person_key), MAX(person_key) FROM persons")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert_eq!((first.as_str(), last.as_str()), ("a", "z"));
    }
}
