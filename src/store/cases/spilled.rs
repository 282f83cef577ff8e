//! A first run's cases, built with the city's records on disk rather than in memory:
//! the run's peak memory is one bucket per worker, not the city (docs/decisions.md,
//! "The first run, bucket by bucket").
//!
//! Every table is read once, in the order its rows lie in the file. Each row's keys go
//! to sorted runs on disk (`keysort`) and the row itself to a file of its table
//! (`store::spill`). The keys join the records into cases, as `build_cases` joins them;
//! the cases are cut into buckets of neighbouring case numbers; and one pass over the
//! table files writes each row, now with its case, to the file of its bucket. A worker
//! then reads one bucket's file as it would read the bucket's records from the
//! database, in a fraction of the time: one sequential read, where the database looks
//! every record up by its case.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::keysort::{self, KeyRuns, Merged};
use super::write::{
    copy_case_keys, copy_case_records, empty_cases, empty_cases_for_copy, forget_logged,
    index_copied_cases, write_case_dates, write_case_keys, write_case_records,
};
use super::{CaseId, CaseRecords, Gathered};
use crate::reconcile::cases::{self as rules, CaseKey};
use crate::store::snapshot::{
    births_record, cremations_record, deaths_record, marriages_record, pis_record, psb_record,
    Cell, TableRead, BIRTHS, CREMATIONS, DEATHS, MARRIAGES, PIS, PSB,
};
use crate::store::spill::{self, spill_error};
use crate::store::{doing, Backend, RegistrySpill, Store, StoreError, TicketSpill};

/// At most this many buckets (open files, while rows are sorted into them): a larger
/// city gets larger buckets.
const MOST_BUCKETS: usize = 256;

/// Tables in `case_records`' numbering, as the spill files are numbered.
const TABLE_COUNT: usize = 6;

/// The city's records spilled to files, bucket by bucket, their cases built. The files
/// go with this value.
pub struct SpilledCases {
    /// Removed, with every file in it, when this is dropped.
    pub dir: tempfile::TempDir,
    pub buckets: Vec<SpilledBucket>,
    /// Records read.
    pub records: usize,
    /// Cases built.
    pub cases: usize,
    /// SQLite: where the buckets' golden records wait to be merged in key order.
    pub registry: Option<RegistrySpill>,
    /// Where the buckets' new tickets wait to be merged in ID order.
    pub tickets: TicketSpill,
}

/// One bucket's file and its cases (neighbouring case numbers, in order).
pub struct SpilledBucket {
    path: PathBuf,
    pub cases: Vec<CaseId>,
}

/// The case keys of a table's row.
type KeysOf = fn(&[Cell<'_>]) -> Result<Vec<CaseKey>, StoreError>;

/// The keys of marriages, cremations, births and deaths, in that order.
const REST_KEYS: [KeysOf; 4] = [
    |r| Ok(rules::marriage_keys(&marriages_record(r)?)),
    |r| Ok(rules::cremation_keys(&cremations_record(r)?)),
    |r| Ok(rules::birth_keys(&births_record(r)?)),
    |r| Ok(rules::death_keys(&deaths_record(r)?)),
];

/// One table's rows on their way to its spill file, and their keys.
struct TableSpill {
    path: PathBuf,
    out: BufWriter<File>,
    row: Vec<u8>,
    tbl: u8,
    keys: KeyRuns,
}

impl TableSpill {
    fn create(dir: &Path, tbl: u8) -> Result<TableSpill, StoreError> {
        let path = dir.join(format!("table-{tbl}"));
        let out = File::create_new(&path).map_err(spill_error(&path))?;
        Ok(TableSpill {
            out: BufWriter::with_capacity(1 << 20, out),
            path,
            row: Vec::new(),
            tbl,
            keys: KeyRuns::new(dir, &tbl.to_string()),
        })
    }

    fn push(&mut self, r: &[Cell<'_>], keys: Vec<CaseKey>) -> Result<(), StoreError> {
        self.row.clear();
        spill::encode(&mut self.row, 0, self.tbl, r);
        self.out
            .write_all(&self.row)
            .map_err(spill_error(&self.path))?;
        self.keys.push(keys)
    }

    /// The file written whole, and the keys of its rows in sorted runs.
    fn finish(mut self) -> Result<(PathBuf, KeyRuns), StoreError> {
        self.out.flush().map_err(spill_error(&self.path))?;
        self.keys.finish()?;
        Ok((self.path, self.keys))
    }
}

impl Store {
    /// Where a first run spills records: beside the SQLite database (the service's own
    /// state directory), or the system's directory for temporary files.
    fn spill_dir(&self) -> PathBuf {
        self.lead_file
            .as_deref()
            .and_then(Path::parent)
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(std::env::temp_dir, Path::to_path_buf)
    }

    /// Whether any ticket is stored: a run that finds none, and no golden records,
    /// plans each bucket's tickets on its own (there is no stamp to be stale).
    pub async fn has_tickets(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM tickets LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(doing("looking for tickets"))?
            .is_some())
    }

    /// Builds every case afresh, as `build_cases` does, holding the records in files
    /// cut into buckets of about `cases_per_bucket` cases, not in memory. The cases
    /// stored are emptied; each bucket's are written as it is worked
    /// ([`Store::write_spilled_cases`]).
    pub async fn spill_cases(&self, cases_per_bucket: usize) -> Result<SpilledCases, StoreError> {
        let seqs = self.start_building_cases().await?;
        let base = self.spill_dir();
        if self.backend == Backend::Sqlite {
            remove_stale_spills(&base);
        }
        // Only this user may enter it (`tempfile` leaves a directory to the umask).
        let dir = tempfile::Builder::new()
            .prefix("popsync-cases-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(&base)
            .map_err(spill_error(&base))?;
        let mut spills = Vec::with_capacity(TABLE_COUNT);
        for tbl in 0..TABLE_COUNT as u8 {
            spills.push(TableSpill::create(dir.path(), tbl)?);
        }
        // Three tasks, so that both cores decode rows while the database builds pages
        // (one task decoded every table on one core). With the keys stored beside the
        // buckets' files below, the `spill` step of a million people went from
        // 5.3–6.7 s to 4.7–5.0 s.
        let pis = spills.pop();
        let psb = spills.remove(0);
        let both = |tbl: &'static TableRead, spill: TableSpill, keys: KeysOf| {
            self.spill_tables(vec![(tbl, spill, keys)])
        };
        let (psb, pis, rest) = tokio::try_join!(
            both(&PSB, psb, |r| Ok(rules::psb_keys(&psb_record(r)?))),
            both(&PIS, pis.expect("six tables"), |r| {
                Ok(rules::pis_keys(&pis_record(r)?))
            }),
            self.spill_tables(
                [&MARRIAGES, &CREMATIONS, &BIRTHS, &DEATHS]
                    .into_iter()
                    .zip(spills)
                    .zip(REST_KEYS)
                    .map(|((t, spill), keys)| (t, spill, keys))
                    .collect()
            ),
        )?;
        let spills = psb.into_iter().chain(rest).chain(pis);
        let mut tables = Vec::with_capacity(TABLE_COUNT);
        let mut keys = Vec::with_capacity(TABLE_COUNT);
        for spill in spills {
            let (path, table_keys) = spill.finish()?;
            tables.push((path, table_keys.records()));
            keys.push(table_keys);
        }
        let (cases, ids) = crate::parallel::off_the_runtime(|| keysort::cases_of(&keys))?;
        // The keys go to the database while the rows go to their buckets' files: both
        // only read the cases.
        let runtime = tokio::runtime::Handle::current();
        let (buckets, stored) = crate::parallel::join(
            || partition(dir.path(), &tables, &cases, ids, cases_per_bucket),
            || runtime.block_on(self.store_fresh_cases(&keys, &cases, &seqs)),
        );
        stored?;
        let buckets = buckets?;
        drop(keys);
        Ok(SpilledCases {
            records: cases.len(),
            cases: buckets.iter().map(|b| b.cases.len()).sum(),
            buckets,
            registry: (self.backend == Backend::Sqlite).then(|| RegistrySpill::new(dir.path())),
            tickets: TicketSpill::new(dir.path()),
            dir,
        })
    }

    /// Reads `tables` one after another on a task of its own, each row to its spill
    /// with the keys `KeysOf` finds in it; the spills, written whole.
    async fn spill_tables(
        &self,
        tables: Vec<(&'static TableRead, TableSpill, KeysOf)>,
    ) -> Result<Vec<TableSpill>, StoreError> {
        let store = self.clone();
        let task = tokio::spawn(async move {
            let mut done = Vec::with_capacity(tables.len());
            for (t, mut spill, keys) in tables {
                store
                    .read_table(t, |r| {
                        let found = keys(r)?;
                        spill.push(r, found)
                    })
                    .await?;
                done.push(spill);
            }
            Ok(done)
        });
        match task.await {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Query {
                doing: "spilling records",
                source: sqlx::Error::WorkerCrashed,
            }),
        }
    }

    /// Empties the case tables, forgets the log rows a rebuild read (`seqs`), and
    /// stores every key's case (`keys`' runs merged, each record's case in `cases`),
    /// in key order: bucket by bucket, each bucket's keys would land all over the
    /// table. The keys go a bounded batch at a time, never all held at once.
    async fn store_fresh_cases(
        &self,
        keys: &[KeyRuns],
        cases: &[CaseId],
        seqs: &[i64],
    ) -> Result<(), StoreError> {
        const BATCH: usize = 65_536;
        let mut merged = Merged::open(keys)?;
        let mut batch: Vec<(CaseKey, CaseId)> = Vec::with_capacity(BATCH);
        let mut last: Option<CaseKey> = None;
        let mut next_batch = |batch: &mut Vec<(CaseKey, CaseId)>| -> Result<bool, StoreError> {
            batch.clear();
            while batch.len() < BATCH {
                let Some((key, record)) = merged.next_pair()? else {
                    break;
                };
                // A key met again (in this batch or the last) is in the same case.
                if last != Some(key) {
                    batch.push((key, cases[record as usize]));
                    last = Some(key);
                }
            }
            Ok(!batch.is_empty())
        };
        if let Some(pool) = &self.copy_pool {
            let mut tx = pool.begin().await.map_err(doing("clearing cases"))?;
            empty_cases_for_copy(&mut tx, seqs).await?;
            while next_batch(&mut batch)? {
                copy_case_keys(&mut tx, &batch).await?;
            }
            tx.commit().await.map_err(doing("clearing cases"))
        } else {
            let mut tx = self.begin_rebuild("clearing cases").await?;
            empty_cases(&mut tx).await?;
            while next_batch(&mut batch)? {
                write_case_keys(&mut tx, self.backend, &batch, "").await?;
            }
            forget_logged(&mut tx, self.backend, seqs).await?;
            tx.commit("clearing cases").await
        }
    }

    /// A spilled bucket's records with their cases, each table in a snapshot's order;
    /// its file goes.
    pub async fn read_spilled(&self, bucket: &SpilledBucket) -> Result<CaseRecords, StoreError> {
        crate::parallel::off_the_runtime(|| {
            let bytes = std::fs::read(&bucket.path).map_err(spill_error(&bucket.path))?;
            let _ = std::fs::remove_file(&bucket.path);
            let mut input = &bytes[..];
            let mut cells = Vec::new();
            let mut read = Gathered::default();
            while let Some(row) = spill::split_row(&mut input)? {
                let (case, tbl) = spill::decode(row, &mut cells)?;
                cells.push(Cell::Int(case));
                read.push(tbl, &cells)?;
            }
            Ok(read.into_records())
        })
    }

    /// Stores each record's case of a spilled bucket (the keys' were stored as the
    /// cases were built).
    pub async fn write_spilled_cases(&self, records: &CaseRecords) -> Result<(), StoreError> {
        let what = "storing a bucket's cases";
        if let Some(pool) = &self.copy_pool {
            let mut conn = pool.acquire().await.map_err(doing(what))?;
            return copy_case_records(&mut conn, records).await;
        }
        let mut tx = self.begin_rebuild(what).await?;
        write_case_records(&mut tx, self.backend, records, "").await?;
        tx.commit(what).await
    }

    /// Once every spilled bucket is worked: on PostgreSQL, builds the case tables'
    /// keys, dropped while the buckets copied their rows.
    pub async fn end_spilled_cases(&self) -> Result<(), StoreError> {
        if let Some(pool) = &self.copy_pool {
            let mut conn = pool.acquire().await.map_err(doing("indexing cases"))?;
            index_copied_cases(&mut conn).await?;
        }
        Ok(())
    }

    /// Stores the next dates of a bucket's cases (`next`; a case not in it has none),
    /// without waiting for the disk ([`Store::begin_unsynced`]).
    pub async fn write_bucket_dates(
        &self,
        cases: &[CaseId],
        next: &HashMap<CaseId, NaiveDate>,
    ) -> Result<(), StoreError> {
        let what = "storing a bucket's case dates";
        let mut tx = self.begin_unsynced(what).await?;
        write_case_dates(&mut tx, self.backend, Some(cases), next).await?;
        tx.commit(what).await
    }
}

/// Removes the spills of runs that died before they could (killed, or the machine
/// went down): beside a SQLite database only the process that leads its runs spills,
/// and it holds the lead now. PostgreSQL's spills are in the system's temporary
/// directory, shared with others; the service's private one goes with each restart.
fn remove_stale_spills(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("popsync-cases-")
        {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => tracing::info!(
                    path = %entry.path().display(),
                    "removed the spill a reconciliation cut short left behind"
                ),
                Err(e) => tracing::warn!(
                    path = %entry.path().display(),
                    error = %e,
                    "cannot remove the spill a reconciliation cut short left behind"
                ),
            }
        }
    }
}

/// Cuts the cases (`ids`, sorted, each once) into buckets of neighbouring case
/// numbers, and copies every row from its table's file to its bucket's, with its case
/// (`cases`, each record's, records numbered table after table); the table files go.
fn partition(
    dir: &Path,
    tables: &[(PathBuf, usize)],
    cases: &[CaseId],
    ids: Vec<CaseId>,
    cases_per_bucket: usize,
) -> Result<Vec<SpilledBucket>, StoreError> {
    let per_bucket = cases_per_bucket
        .max(ids.len().div_ceil(MOST_BUCKETS))
        .max(1);
    let mut buckets = Vec::new();
    let mut outs = Vec::new();
    for (b, chunk) in ids.chunks(per_bucket).enumerate() {
        let path = dir.join(format!("bucket-{b}"));
        let file = File::create_new(&path).map_err(spill_error(&path))?;
        outs.push(BufWriter::with_capacity(1 << 16, file));
        buckets.push(SpilledBucket {
            path,
            cases: chunk.to_vec(),
        });
    }
    drop(ids);
    let firsts: Vec<CaseId> = buckets.iter().map(|b| b.cases[0]).collect();
    let mut cases = cases.iter();
    let mut row = Vec::new();
    for (path, count) in tables {
        let file = File::open(path).map_err(spill_error(path))?;
        let mut input = BufReader::with_capacity(1 << 20, file);
        for _ in 0..*count {
            let more = spill::next_row(&mut input, &mut row).map_err(spill_error(path))?;
            let case = cases.next().copied();
            let (true, Some(case)) = (more, case) else {
                return Err(StoreError::Corrupt {
                    what: "spilled table",
                    detail: format!("{} holds fewer rows than were read", path.display()),
                });
            };
            spill::set_case(&mut row, case);
            let b = firsts.partition_point(|&first| first <= case) - 1;
            let bucket = &buckets[b].path;
            spill::write_row(&mut outs[b], &row).map_err(spill_error(bucket))?;
        }
        let _ = std::fs::remove_file(path);
    }
    for (out, bucket) in outs.iter_mut().zip(&buckets) {
        out.flush().map_err(spill_error(&bucket.path))?;
    }
    Ok(buckets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The spill holds names and ID numbers: its directory is the service user's alone,
    /// and it goes, with every file in it, when the spill is dropped (as when a run
    /// ends or fails).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spill_is_private_and_goes_with_its_value() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let store = Store::open(&url).await.unwrap();
        let spilled = store.spill_cases(10).await.unwrap();
        let path = spilled.dir.path().to_path_buf();
        assert!(path.starts_with(dir.path()), "beside the database");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::write(path.join("bucket-x"), "a name").unwrap();
        drop(spilled);
        assert!(!path.exists());
        store.close().await;
    }
}
