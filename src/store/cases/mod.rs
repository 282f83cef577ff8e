//! Each source record's case (`reconcile/cases.rs` says which keys join records):
//! reading the records of chosen cases, placing the records stored since the last run
//! (merging the cases a record joins), building every case afresh, and the dates on
//! which cases fall due again.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use sqlx::Row;

pub(crate) mod buckets;
mod keysort;
pub(crate) mod log;
mod records;
pub mod spilled;
mod write;

pub use records::{CaseRecords, KeyCases};
use write::{
    empty_cases, forget_logged, merge_cases, rebuild_cases_by_copy, write_case_dates, write_cases,
};

use crate::reconcile::cases::{self as rules, CaseKey, Joiner, RecordKeys};
use crate::records::{
    BirthCertificate, Cremation, DeathCertificate, Marriage, PisRecord, PsbEvent,
};
use crate::store::bulk::{run_chunks, Insert};
use crate::store::snapshot::{birth_col, cremation_col, death_col, marriage_col, pis_col, psb_col};
use crate::store::snapshot::{
    births_record, case_cell, cremations_record, deaths_record, for_each_row, marriages_record,
    pis_record, psb_record, Cell, TableRead, BIRTHS, CREMATIONS, DEATHS, MARRIAGES, PIS, PSB,
};
use crate::store::{doing, Backend, Store, StoreError};

/// A case's number: the smallest key of its records when it was first formed.
pub type CaseId = i64;

/// Which records a read takes.
#[derive(Clone, Copy, Debug)]
pub enum Which<'a> {
    /// Every record, not yet in cases (a run that builds every case afresh).
    All,
    /// The records of these cases.
    Cases(&'a [CaseId]),
}

/// What the cases were last computed under (table `case_state`).
#[derive(Clone, Debug)]
pub struct CaseState {
    /// Popsync's version and the reconciliation settings.
    pub settings: String,
    pub as_of: Option<NaiveDate>,
}

/// What placing records did.
#[derive(Debug, Default)]
pub struct Placement {
    /// Records placed.
    pub records: usize,
    /// Cases merged into another.
    pub merged: usize,
}

/// One table of records as cases read it: its snapshot read, its number in
/// `case_records` and `unplaced`, and the column `case_records.record_key` names.
struct CaseTable {
    read: TableRead,
    tbl: i64,
    key: &'static str,
}

const TABLES: [CaseTable; 6] = [
    CaseTable {
        read: PSB,
        tbl: 0,
        key: "lsh",
    },
    CaseTable {
        read: MARRIAGES,
        tbl: 1,
        key: "reg_no",
    },
    CaseTable {
        read: CREMATIONS,
        tbl: 2,
        key: "cert_no",
    },
    CaseTable {
        read: BIRTHS,
        tbl: 3,
        key: "cert_no",
    },
    CaseTable {
        read: DEATHS,
        tbl: 4,
        key: "cert_no",
    },
    CaseTable {
        read: PIS,
        tbl: 5,
        key: "person_id",
    },
];

/// Numbers per statement when reading by a list of cases or keys.
const PER_READ: usize = 2_000;

/// A case's next date that every as-of date has passed: the case is due at the next
/// run (a record joined it, a ticket of it was reopened by hand, the bench asked).
pub(crate) const DUE_NOW: &str = "0001-01-01";

/// `IN (…the JSON array bound as $1…)`, its elements as integers or texts.
pub(crate) fn in_bound(backend: Backend, integers: bool) -> &'static str {
    match (backend, integers) {
        (Backend::Sqlite, _) => "IN (SELECT value FROM json_each($1))",
        (Backend::Postgres, true) => {
            "IN (SELECT value::bigint FROM json_array_elements_text($1::json) AS value)"
        }
        (Backend::Postgres, false) => {
            "IN (SELECT value FROM json_array_elements_text($1::json) AS value)"
        }
    }
}

/// Rows aggregated into one JSON array of arrays, by the backend's function.
fn json_rows(backend: Backend, columns: &str, from: &str) -> String {
    match backend {
        Backend::Sqlite => format!("SELECT json_group_array(json_array({columns})) FROM {from}"),
        Backend::Postgres => format!(
            "SELECT COALESCE(json_agg(json_build_array({columns})), '[]')::text FROM {from}"
        ),
    }
}

/// Each record's case when cases are built afresh from `keys`, and every key's case.
fn fresh_key_cases(keys: &RecordKeys) -> (Vec<CaseId>, KeyCases) {
    let cases = rules::fresh_cases(keys);
    let pairs: Vec<(CaseKey, CaseId)> = (0..keys.len())
        .flat_map(|i| keys.of_record(i).iter().map(move |&k| (k, i)))
        .map(|(k, i)| (k, cases[i]))
        .collect();
    (cases, KeyCases::new(pairs))
}

/// Records with their cases as a read meets them, table by table, in any order.
#[derive(Default)]
pub(super) struct Gathered {
    psb: Vec<(PsbEvent, Option<CaseId>)>,
    marriages: Vec<(Marriage, Option<CaseId>)>,
    cremations: Vec<(Cremation, Option<CaseId>)>,
    births: Vec<(BirthCertificate, Option<CaseId>)>,
    deaths: Vec<(DeathCertificate, Option<CaseId>)>,
    pis: Vec<(PisRecord, Option<CaseId>)>,
}

impl Gathered {
    /// Adds a row of table `tbl` (as `case_records` numbers tables), its case last.
    pub(super) fn push(&mut self, tbl: u8, r: &[Cell<'_>]) -> Result<(), StoreError> {
        match tbl {
            0 => self
                .psb
                .push((psb_record(r)?, case_cell(r, psb_col::case_id)?)),
            1 => self
                .marriages
                .push((marriages_record(r)?, case_cell(r, marriage_col::case_id)?)),
            2 => self
                .cremations
                .push((cremations_record(r)?, case_cell(r, cremation_col::case_id)?)),
            3 => self
                .births
                .push((births_record(r)?, case_cell(r, birth_col::case_id)?)),
            4 => self
                .deaths
                .push((deaths_record(r)?, case_cell(r, death_col::case_id)?)),
            5 => self
                .pis
                .push((pis_record(r)?, case_cell(r, pis_col::case_id)?)),
            _ => {
                return Err(StoreError::Corrupt {
                    what: "record table number",
                    detail: tbl.to_string(),
                })
            }
        }
        Ok(())
    }

    /// The records, each table in a snapshot's order (reconciliation's output must not
    /// depend on where rows lie in the file).
    pub(super) fn into_records(self) -> CaseRecords {
        let Gathered {
            mut psb,
            mut marriages,
            mut cremations,
            mut births,
            mut deaths,
            mut pis,
        } = self;
        psb.sort_unstable_by(|a, b| a.0.lsh.cmp(&b.0.lsh));
        pis.sort_by_cached_key(|r| r.0.person_id.clone());
        marriages.sort_unstable_by(|a, b| a.0.reg_no.cmp(&b.0.reg_no));
        cremations.sort_unstable_by(|a, b| a.0.cert_no.cmp(&b.0.cert_no));
        births
            .sort_unstable_by(|a, b| (&a.0.cert_no, a.0.version).cmp(&(&b.0.cert_no, b.0.version)));
        deaths
            .sort_unstable_by(|a, b| (&a.0.cert_no, a.0.version).cmp(&(&b.0.cert_no, b.0.version)));
        let mut out = CaseRecords::default();
        (out.snap.psb, out.psb) = psb.into_iter().unzip();
        (out.snap.pis, out.pis) = pis.into_iter().unzip();
        (out.snap.marriages, out.marriages) = marriages.into_iter().unzip();
        (out.snap.cremations, out.cremations) = cremations.into_iter().unzip();
        (out.snap.births, out.births) = births.into_iter().unzip();
        (out.snap.deaths, out.deaths) = deaths.into_iter().unzip();
        out
    }
}

impl Store {
    /// What the cases were last computed under; `None` before any run built them.
    pub async fn case_state(&self) -> Result<Option<CaseState>, StoreError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT settings, as_of FROM case_state WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(doing("reading the case state"))?;
        Ok(row.map(|(settings, as_of)| CaseState {
            settings,
            as_of: as_of.parse().ok(),
        }))
    }

    /// Makes the next run rebuild and recompute every case (`reconcile --every-case`).
    pub async fn recompute_every_case(&self) -> Result<(), StoreError> {
        sqlx::query("UPDATE case_state SET settings = ''")
            .execute(&self.pool)
            .await
            .map_err(doing("asking for every case to be recomputed"))?;
        Ok(())
    }

    /// Makes every case due, as a pull that touched the whole city would: the bench's
    /// way to measure a run that recomputes every case through the buckets.
    pub async fn make_every_case_due(&self) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO case_dates (case_id, next_date)
             SELECT DISTINCT case_id, $1 FROM case_records WHERE 1 = 1
             ON CONFLICT (case_id) DO UPDATE SET next_date = excluded.next_date",
        )
        .bind(DUE_NOW)
        .execute(&self.pool)
        .await
        .map_err(doing("making every case due"))?;
        Ok(())
    }

    /// Reads records with their cases, each table sorted as a snapshot is.
    pub async fn read_cases(&self, which: Which<'_>) -> Result<CaseRecords, StoreError> {
        match which {
            Which::All => {
                let snap = self.load_snapshot().await?;
                Ok(CaseRecords {
                    psb: vec![None; snap.psb.len()],
                    marriages: vec![None; snap.marriages.len()],
                    cremations: vec![None; snap.cremations.len()],
                    births: vec![None; snap.births.len()],
                    deaths: vec![None; snap.deaths.len()],
                    pis: vec![None; snap.pis.len()],
                    snap,
                })
            }
            Which::Cases(ids) => {
                let from = |t: &CaseTable| {
                    format!(
                        "case_records cr JOIN {table} ON {table}.{key} = cr.record_key WHERE cr.tbl = {tbl} AND cr.case_id {list}",
                        table = t.read.table,
                        key = t.key,
                        tbl = t.tbl,
                        list = in_bound(self.backend, true)
                    )
                };
                let chunks: Vec<String> = ids
                    .chunks(PER_READ)
                    .map(|c| serde_json::to_string(c).unwrap_or_default())
                    .collect();
                self.read_tables(
                    |t| {
                        json_rows(
                            self.backend,
                            &format!("{}, cr.case_id", t.read.columns),
                            &from(t),
                        )
                    },
                    &chunks,
                )
                .await
            }
        }
    }

    /// Reads every table by `sql` once per bound list, a record's case last in its row.
    async fn read_tables(
        &self,
        sql: impl Fn(&CaseTable) -> String,
        lists: &[String],
    ) -> Result<CaseRecords, StoreError> {
        let mut read = Gathered::default();
        let sqls: Vec<String> = TABLES.iter().map(&sql).collect();
        let Gathered {
            psb,
            marriages,
            cremations,
            births,
            deaths,
            pis,
        } = &mut read;
        macro_rules! table {
            ($t:expr, $out:ident, $convert:ident, $col:ident) => {
                self.read_lists(&sqls[$t], lists, |r| {
                    $out.push(($convert(r)?, case_cell(r, $col::case_id)?));
                    Ok(())
                })
            };
        }
        tokio::try_join!(
            table!(0, psb, psb_record, psb_col),
            table!(5, pis, pis_record, pis_col),
            async {
                table!(1, marriages, marriages_record, marriage_col).await?;
                table!(2, cremations, cremations_record, cremation_col).await?;
                table!(3, births, births_record, birth_col).await?;
                table!(4, deaths, deaths_record, death_col).await
            }
        )?;
        Ok(read.into_records())
    }

    /// Runs `sql` once per JSON list bound as `$1`, each answer one JSON array of rows.
    async fn read_lists(
        &self,
        sql: &str,
        lists: &[String],
        mut each: impl FnMut(&[Cell<'_>]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for list in lists {
            let text: String = sqlx::query(sql)
                .bind(list.as_str())
                .fetch_one(&self.pool)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(doing("reading the records of cases"))?;
            let mut row = Vec::new();
            for_each_row(&text, &mut row, &mut each)?;
        }
        Ok(())
    }

    /// The rows of a derived table (golden records, records that denote nobody) that
    /// carry one of `ids`.
    pub(super) async fn read_of_cases(
        &self,
        t: &TableRead,
        ids: &[CaseId],
        mut each: impl FnMut(&[Cell<'_>]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let from = format!("{} WHERE case_id {}", t.table, in_bound(self.backend, true));
        let sql = json_rows(self.backend, t.columns, &from);
        let lists: Vec<String> = ids
            .chunks(PER_READ)
            .map(|c| serde_json::to_string(c).unwrap_or_default())
            .collect();
        self.read_lists(&sql, &lists, &mut each).await
    }

    /// The cases due on or before `as_of`: time has come to a line their outcome
    /// depends on, or a record joined them since they were last computed.
    pub async fn cases_due(&self, as_of: NaiveDate) -> Result<Vec<CaseId>, StoreError> {
        sqlx::query_scalar("SELECT case_id FROM case_dates WHERE next_date <= $1")
            .bind(as_of.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(doing("finding the cases due"))
    }

    /// The records stored since the last placement: each logged row's number, and
    /// the records themselves (a certificate's every version).
    async fn unplaced(&self) -> Result<(Vec<i64>, CaseRecords), StoreError> {
        let log: Vec<(i64, i64, String)> =
            sqlx::query_as("SELECT seq, tbl, record_key FROM unplaced ORDER BY seq")
                .fetch_all(&self.pool)
                .await
                .map_err(doing("reading the records stored since the last run"))?;
        let seqs = log.iter().map(|(s, _, _)| *s).collect();
        let mut keys: HashMap<i64, BTreeSet<&str>> = HashMap::new();
        for (_, tbl, key) in &log {
            keys.entry(*tbl).or_default().insert(key.as_str());
        }
        let mut records = CaseRecords::default();
        for t in &TABLES {
            let Some(keys) = keys.get(&t.tbl) else {
                continue;
            };
            let keys: Vec<&str> = keys.iter().copied().collect();
            let lists: Vec<String> = keys
                .chunks(PER_READ)
                .map(|c| serde_json::to_string(c).unwrap_or_default())
                .collect();
            let from = format!(
                "{} WHERE {} {}",
                t.read.table,
                t.key,
                in_bound(self.backend, false)
            );
            let sql = json_rows(self.backend, &format!("{}, NULL", t.read.columns), &from);
            let s = &mut records.snap;
            self.read_lists(&sql, &lists, |r| {
                match t.tbl {
                    0 => s.psb.push(psb_record(r)?),
                    1 => s.marriages.push(marriages_record(r)?),
                    2 => s.cremations.push(cremations_record(r)?),
                    3 => s.births.push(births_record(r)?),
                    4 => s.deaths.push(deaths_record(r)?),
                    _ => s.pis.push(pis_record(r)?),
                }
                Ok(())
            })
            .await?;
        }
        Ok((seqs, records))
    }

    /// The stored cases of `keys`, each followed through merges to the case it is in now.
    async fn stored_cases(&self, keys: &[CaseKey]) -> Result<HashMap<CaseKey, CaseId>, StoreError> {
        let mut out = HashMap::new();
        let sql = format!(
            "SELECT case_key, case_id FROM case_keys WHERE case_key {}",
            in_bound(self.backend, true)
        );
        for chunk in keys.chunks(PER_READ) {
            let rows: Vec<(i64, i64)> = sqlx::query_as(&sql)
                .bind(serde_json::to_string(chunk).unwrap_or_default())
                .fetch_all(&self.pool)
                .await
                .map_err(doing("looking up case keys"))?;
            out.extend(rows);
        }
        let merges: HashMap<CaseId, CaseId> =
            sqlx::query_as("SELECT case_id, into_case FROM case_merges")
                .fetch_all(&self.pool)
                .await
                .map_err(doing("reading merged cases"))?
                .into_iter()
                .collect();
        for case in out.values_mut() {
            while let Some(&into) = merges.get(case) {
                *case = into;
            }
        }
        Ok(out)
    }

    /// Places the records stored since the last run in their cases: a record joins
    /// every stored case one of its keys is in (merged into the lowest-numbered) or,
    /// sharing no key with any, starts a case of its own. Every case a record joined is
    /// marked due and its log rows deleted, in one transaction: a run that stops before
    /// it has recomputed them leaves them due.
    pub async fn place_records(&self) -> Result<Placement, StoreError> {
        let (seqs, unplaced) = self.unplaced().await?;
        if seqs.is_empty() {
            return Ok(Placement::default());
        }
        let keys = RecordKeys::of(&unplaced.snap);
        let n = keys.len();
        let mut distinct: Vec<CaseKey> = keys.keys.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let stored = self.stored_cases(&distinct).await?;

        let mut joiner = Joiner::new(n);
        let mut node_of_key: HashMap<CaseKey, usize> = HashMap::with_capacity(distinct.len());
        let mut node_of_case: HashMap<CaseId, usize> = HashMap::new();
        for i in 0..n {
            for k in keys.of_record(i) {
                if let Some(&case) = stored.get(k) {
                    let node = *node_of_case.entry(case).or_insert_with(|| joiner.add());
                    joiner.union(i, node);
                }
                match node_of_key.get(k) {
                    Some(&j) => joiner.union(i, j),
                    None => {
                        node_of_key.insert(*k, i);
                    }
                }
            }
        }
        // Each group's case: the lowest stored case in it, or its smallest key.
        let mut stored_in: HashMap<usize, BTreeSet<CaseId>> = HashMap::new();
        for (&case, &node) in &node_of_case {
            stored_in.entry(joiner.find(node)).or_default().insert(case);
        }
        let mut smallest: HashMap<usize, CaseKey> = HashMap::new();
        for i in 0..n {
            let root = joiner.find(i);
            let least = keys
                .of_record(i)
                .iter()
                .copied()
                .min()
                .unwrap_or(CaseKey::MAX);
            smallest
                .entry(root)
                .and_modify(|m| *m = (*m).min(least))
                .or_insert(least);
        }
        let mut merges: Vec<(CaseId, CaseId)> = Vec::new();
        let mut case_of_root: HashMap<usize, CaseId> = HashMap::new();
        let mut record_case = Vec::with_capacity(n);
        for i in 0..n {
            let root = joiner.find(i);
            let case = *case_of_root
                .entry(root)
                .or_insert_with(|| match stored_in.get(&root) {
                    Some(cases) => {
                        let mut it = cases.iter().copied();
                        let survivor = it.next().expect("a non-empty set");
                        merges.extend(it.map(|absorbed| (absorbed, survivor)));
                        survivor
                    }
                    None => smallest[&root],
                });
            record_case.push(case);
        }
        let mut new_keys: Vec<(CaseKey, CaseId)> = node_of_key
            .iter()
            .filter(|(k, _)| !stored.contains_key(k))
            .map(|(&k, &i)| (k, record_case[i]))
            .collect();
        let mut due: Vec<CaseId> = case_of_root.values().copied().collect();
        due.sort_unstable();
        due.dedup();
        let mut placed = unplaced;
        placed.set_cases(&record_case);

        let mut tx = self.begin_write("placing records in cases").await?;
        merge_cases(&mut tx, self.backend, &merges).await?;
        new_keys.sort_unstable();
        write_cases(
            &mut tx,
            self.backend,
            &placed,
            &new_keys,
            "ON CONFLICT DO NOTHING",
        )
        .await?;
        run_chunks(
            &mut tx,
            self.backend,
            &due,
            Insert {
                head: "INSERT INTO case_dates (case_id, next_date)",
                tail: "ON CONFLICT (case_id) DO UPDATE SET next_date = excluded.next_date",
                doing: "marking cases due",
            },
            |q, c| q.bind(*c).bind(DUE_NOW),
        )
        .await?;
        forget_logged(&mut tx, self.backend, &seqs).await?;
        tx.commit("committing placed records").await?;
        Ok(Placement {
            records: n,
            merged: merges.len(),
        })
    }

    /// Marks the cases as being built (until a run has computed what it builds, the
    /// next run builds them again: no settings match ''), and reads the log of records
    /// stored since the last run: the rows a build may forget.
    async fn start_building_cases(&self) -> Result<Vec<i64>, StoreError> {
        // From here on every stored record is logged. A write that stored records
        // unlogged has committed before this commits: on SQLite it held the one
        // writer; on PostgreSQL it holds `case_state` in share mode, which this insert
        // waits for (`write_batches`).
        let mut tx = self.begin_write("starting to build cases").await?;
        sqlx::query(
            "INSERT INTO case_state (id, settings, as_of) VALUES (1, '', '')
             ON CONFLICT (id) DO UPDATE SET settings = ''",
        )
        .execute(&mut *tx)
        .await
        .map_err(doing("starting to build cases"))?;
        tx.commit("starting to build cases").await?;
        // The log next: a record stored after it was read stays logged even if the
        // records read after this include it.
        sqlx::query_scalar("SELECT seq FROM unplaced")
            .fetch_all(&self.pool)
            .await
            .map_err(doing("reading the records stored since the last run"))
    }

    /// Builds every case afresh from all the records: reads them, joins them, and
    /// replaces the stored cases. The records stored meanwhile stay logged for the
    /// next run. The records come back with their cases, for the run to recompute.
    pub async fn build_cases(&self) -> Result<(CaseRecords, KeyCases, Placement), StoreError> {
        let seqs = self.start_building_cases().await?;
        let mut records = self.read_cases(Which::All).await?;
        let (cases, keys) =
            crate::parallel::off_the_runtime(|| fresh_key_cases(&RecordKeys::of(&records.snap)));
        records.set_cases(&cases);

        if let Some(pool) = &self.copy_pool {
            rebuild_cases_by_copy(pool, &records, keys.pairs(), &seqs).await?;
        } else {
            let mut tx = self.begin_rebuild("building cases").await?;
            empty_cases(&mut tx).await?;
            write_cases(&mut tx, self.backend, &records, keys.pairs(), "").await?;
            forget_logged(&mut tx, self.backend, &seqs).await?;
            tx.commit("committing cases").await?;
        }
        let placement = Placement {
            records: cases.len(),
            merged: 0,
        };
        Ok((records, keys, placement))
    }

    /// Records that the cases were computed as of `as_of` under `settings`. `every`:
    /// every case's next date (a case not in it has none), replacing all, for a run
    /// that recomputed every case; `None` for a run of buckets, each of which recorded
    /// its cases' dates as it finished.
    pub async fn record_case_dates(
        &self,
        every: Option<&HashMap<CaseId, NaiveDate>>,
        settings: &str,
        as_of: NaiveDate,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write("recording case dates").await?;
        if let Some(next) = every {
            write_case_dates(&mut tx, self.backend, None, next).await?;
        }
        sqlx::query(
            "INSERT INTO case_state (id, settings, as_of) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, as_of = excluded.as_of",
        )
        .bind(settings)
        .bind(as_of.to_string())
        .execute(&mut *tx)
        .await
        .map_err(doing("recording the case state"))?;
        tx.commit("committing case dates").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh PostgreSQL database of its own (and the server's URL and its name, to
    /// drop it), or `None` where the suite has none.
    async fn fresh_postgres() -> Option<(Store, String, String)> {
        let url = std::env::var("POPSYNC_TEST_DATABASE_URL").ok()?;
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&url).await.unwrap();
        let name = format!("popsync_cases_{}", std::process::id());
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let (base, _) = url.rsplit_once('/').expect("a database in the URL");
        let store = Store::open(&format!("{base}/{name}")).await.unwrap();
        Some((store, url, name))
    }

    /// On PostgreSQL a write that found no cases built (so logs nothing) and a run
    /// that starts building them cannot miss each other: the run waits for the write to
    /// commit, then reads its record. Without the write's share lock on `case_state`
    /// the run reads the table before the record is committed, and the record is in
    /// neither the cases nor the log.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres_a_rebuild_waits_for_a_write_that_logged_nothing() {
        let Some((store, url, name)) = fresh_postgres().await else {
            eprintln!("POPSYNC_TEST_DATABASE_URL is not set: skipped");
            return;
        };
        let mut tx = store.begin_write("a write of records").await.unwrap();
        assert!(!log::logging(&mut tx, store.backend).await.unwrap());
        sqlx::query(
            "INSERT INTO psb_rows (lsh, ywlx, id_number, name, sex, birth_date, division, event_date,
             recorded_at, raw) VALUES ('L1', 'CSH', '349901199001011231', '张三', 1, '1990-01-01',
             '349901001001', '2010-01-01', '2010-01-01 00:00:00', '{}')",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        let building = tokio::spawn({
            let store = store.clone();
            async move { store.build_cases().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(!building.is_finished(), "the rebuild waits for the write");
        tx.commit("a write of records").await.unwrap();
        let (records, _, placement) = building.await.unwrap().unwrap();
        assert_eq!(records.snap.psb.len(), 1, "and then reads its record");
        assert_eq!(placement.records, 1);
        store.close().await;
        let admin = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    }
}
