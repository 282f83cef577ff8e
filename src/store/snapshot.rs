//! Reading every stored source record back as domain records, for reconciliation.

use std::borrow::Cow;
use std::fmt;

use chrono::NaiveDate;
use serde::de::{self, Deserialize, Deserializer, Visitor};
use sqlx::Row;

use super::{doing, Backend, Store, StoreError};
use crate::domain::{parse_dashed_date, DivisionCode, IdNumber, Sex};
use crate::records::{
    boxed_unless_empty, BirthCertificate, CertStatus, Cremation, DeathCertificate, Hyzk,
    InlineText, Marriage, MarriageKind, PisBirth, PisRecord, PisState, PsbEvent, PsbEventKind,
    PsbParticulars, Snapshot,
};

fn corrupt(what: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: detail.into(),
    }
}

/// One cell of a JSON-aggregated row, borrowed from the batch's text where it can be.
/// Parsed into `serde_json::Value`s instead, every text cell was allocated twice.
#[derive(Clone, Debug)]
pub(crate) enum Cell<'r> {
    Null,
    Int(i64),
    Text(Cow<'r, str>),
}

impl<'de> Deserialize<'de> for Cell<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cell<'de>, D::Error> {
        struct CellVisitor;
        impl<'de> Visitor<'de> for CellVisitor {
            type Value = Cell<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("null, an integer or a string")
            }
            fn visit_unit<E>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Null)
            }
            fn visit_i64<E>(self, v: i64) -> Result<Cell<'de>, E> {
                Ok(Cell::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell<'de>, E> {
                i64::try_from(v).map(Cell::Int).map_err(E::custom)
            }
            fn visit_f64<E>(self, v: f64) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Owned(v.to_string())))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Owned(v)))
            }
        }
        d.deserialize_any(CellVisitor)
    }
}

/// Calls `each` on every row of a page (a JSON array of arrays) as it is parsed, the
/// cells of one row at a time in `row`, which is left holding the last. Parsed whole
/// first, a page of 20,000 rows was 20,000 vectors of 13 or 14 cells (32 bytes each).
pub(super) fn for_each_row<'de, F>(
    text: &'de str,
    row: &mut Vec<Cell<'de>>,
    each: &mut F,
) -> Result<(), StoreError>
where
    F: FnMut(&[Cell<'de>]) -> Result<(), StoreError>,
{
    let mut stopped = None;
    let mut page = serde_json::Deserializer::from_str(text);
    let parsed = de::Deserializer::deserialize_seq(
        &mut page,
        Rows {
            row,
            each,
            stopped: &mut stopped,
        },
    )
    .and_then(|()| page.end());
    if let Some(e) = stopped {
        return Err(e);
    }
    parsed.map_err(|e| corrupt("record batch", e.to_string()))
}

/// The rows of a page, each handed on as soon as it is parsed; a row's error stops
/// the page and is kept in `stopped`.
struct Rows<'r, 'de, F> {
    row: &'r mut Vec<Cell<'de>>,
    each: &'r mut F,
    stopped: &'r mut Option<StoreError>,
}

impl<'de, F> Visitor<'de> for Rows<'_, 'de, F>
where
    F: FnMut(&[Cell<'de>]) -> Result<(), StoreError>,
{
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rows")
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut rows: A) -> Result<(), A::Error> {
        while rows.next_element_seed(RowCells(&mut *self.row))?.is_some() {
            if let Err(e) = (self.each)(self.row) {
                *self.stopped = Some(e);
                return Err(de::Error::custom("a row was refused"));
            }
        }
        Ok(())
    }
}

/// One row's cells, parsed into a buffer that the row before left empty of meaning.
struct RowCells<'r, 'de>(&'r mut Vec<Cell<'de>>);

impl<'de> de::DeserializeSeed<'de> for RowCells<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowCells<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a row: an array of cells")
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut cells: A) -> Result<(), A::Error> {
        self.0.clear();
        while let Some(cell) = cells.next_element::<Cell<'de>>()? {
            self.0.push(cell);
        }
        Ok(())
    }
}

/// A case's number from a cell (NULL: not in a case).
pub(super) fn case_cell(r: &[Cell<'_>], i: usize) -> Result<Option<i64>, StoreError> {
    match r.get(i) {
        Some(Cell::Int(n)) => Ok(Some(*n)),
        Some(Cell::Null) | None => Ok(None),
        Some(Cell::Text(t)) => t.parse().map(Some).map_err(|_| StoreError::Corrupt {
            what: "case number",
            detail: t.to_string(),
        }),
    }
}

/// A cell as text, without copying it; `None` for NULL.
fn cell_str<'c>(r: &'c [Cell<'_>], i: usize) -> Result<Option<Cow<'c, str>>, StoreError> {
    match r.get(i) {
        Some(Cell::Null) => Ok(None),
        Some(Cell::Text(s)) => Ok(Some(Cow::Borrowed(s.as_ref()))),
        Some(Cell::Int(n)) => Ok(Some(Cow::Owned(n.to_string()))),
        None => Err(corrupt("stored record", format!("no column {i}"))),
    }
}

fn required<'c>(r: &'c [Cell<'_>], i: usize) -> Result<Cow<'c, str>, StoreError> {
    cell_str(r, i)?.ok_or_else(|| corrupt("stored record", format!("column {i} is NULL")))
}

/// A text cell of a JSON-aggregated row (`read_table`), as a store error when it is not.
pub(crate) fn text<'c, T: From<Cow<'c, str>>>(
    r: &'c [Cell<'_>],
    i: usize,
) -> Result<T, StoreError> {
    required(r, i).map(T::from)
}

/// A nullable text cell of a JSON-aggregated row.
pub(crate) fn opt_text<'c, T: From<Cow<'c, str>>>(
    r: &'c [Cell<'_>],
    i: usize,
) -> Result<Option<T>, StoreError> {
    Ok(cell_str(r, i)?.map(T::from))
}

fn int(r: &[Cell<'_>], i: usize) -> Result<i64, StoreError> {
    match r.get(i) {
        Some(Cell::Int(n)) => Ok(*n),
        Some(Cell::Text(s)) => s.parse().map_err(|_| {
            corrupt(
                "stored record",
                format!("column {i}: {s:?} is not an integer"),
            )
        }),
        other => Err(corrupt(
            "stored record",
            format!("column {i}: expected an integer, got {other:?}"),
        )),
    }
}

fn day(r: &[Cell<'_>], i: usize, what: &'static str) -> Result<NaiveDate, StoreError> {
    let s = required(r, i)?;
    parse_dashed_date(&s).ok_or_else(|| corrupt(what, format!("date {s:?}")))
}

fn opt_day(r: &[Cell<'_>], i: usize, what: &'static str) -> Result<Option<NaiveDate>, StoreError> {
    cell_str(r, i)?
        .map(|s| parse_dashed_date(&s).ok_or_else(|| corrupt(what, format!("date {s:?}"))))
        .transpose()
}

fn id(r: &[Cell<'_>], i: usize, what: &'static str) -> Result<IdNumber, StoreError> {
    let s = required(r, i)?;
    IdNumber::parse(&s).map_err(|e| corrupt(what, format!("ID: {e}")))
}

fn opt_id(r: &[Cell<'_>], i: usize, what: &'static str) -> Result<Option<IdNumber>, StoreError> {
    cell_str(r, i)?
        .map(|s| IdNumber::parse(&s).map_err(|e| corrupt(what, format!("ID: {e}"))))
        .transpose()
}

fn division(r: &[Cell<'_>], i: usize, what: &'static str) -> Result<DivisionCode, StoreError> {
    let s = required(r, i)?;
    DivisionCode::parse(&s).ok_or_else(|| corrupt(what, format!("division {s:?}")))
}

fn opt_division(r: &[Cell<'_>], i: usize) -> Result<Option<DivisionCode>, StoreError> {
    Ok(cell_str(r, i)?.and_then(|s| DivisionCode::parse(&s)))
}

/// Rows per batch: each batch crosses from the database as one JSON text, because
/// crossing row by row (sqlx's SQLite worker hands over each row through a channel)
/// cost more than everything reconciliation does with the row.
const BATCH: usize = 20_000;

/// One page of a table as the database sent it.
struct Page {
    /// The rows as one JSON array of arrays.
    text: String,
    /// The page's last rowid, when paging by rowid.
    last_rowid: Option<i64>,
    rows: i64,
}

/// One table as reconciliation reads it: columns in the order its converter expects,
/// and the key that orders and pages it.
pub(crate) struct TableRead {
    pub table: &'static str,
    pub columns: &'static str,
    pub key: &'static [&'static str],
    /// On SQLite, page in rowid order (the table has rowids), else in key order.
    pub by_rowid: bool,
}

impl TableRead {
    /// The key cells of a row, owned: where the next page starts.
    fn key_of(&self, row: &[Cell<'_>]) -> Vec<Cell<'static>> {
        self.key
            .iter()
            .map(|k| {
                let i = self
                    .columns
                    .split(", ")
                    .position(|c| c == *k)
                    .expect("key is a column");
                match &row[i] {
                    Cell::Text(s) => Cell::Text(Cow::Owned(s.to_string())),
                    Cell::Int(n) => Cell::Int(*n),
                    Cell::Null => Cell::Null,
                }
            })
            .collect()
    }
}

/// Declares the columns a snapshot reads of one table, once: `LIST` for the SELECT, and
/// a constant per column holding its place in a row, so that a converter reads
/// `text(r, pis_col::marital)` and no column is ever read back by a bare index.
macro_rules! snapshot_columns {
    ($table:ident: $first:ident $(, $rest:ident)* $(,)?) => {
        #[allow(non_upper_case_globals)]
        pub(super) mod $table {
            #[allow(non_camel_case_types)]
            enum Place {
                $first,
                $($rest,)*
            }
            pub const LIST: &str = concat!(stringify!($first) $(, ", ", stringify!($rest))*);
            pub const $first: usize = Place::$first as usize;
            $(pub const $rest: usize = Place::$rest as usize;)*
            /// Where a read that adds the record's case after the columns puts it.
            pub const case_id: usize = [$(Place::$rest as usize,)* Place::$first as usize].len();
        }
    };
}

snapshot_columns!(psb_col: lsh, ywlx, id_number, name, sex, birth_date, division, to_county, mother_id, birth_cert_no, death_date, event_date, recorded_at);
snapshot_columns!(marriage_col: reg_no, kind, husband_name, husband_id, wife_name, wife_id, reg_date, office);
snapshot_columns!(cremation_col: cert_no, name, sex, id_number, death_date, cremation_date, address, funeral_home);
snapshot_columns!(birth_col: cert_no, version, status, child_name, child_sex, birth_date, mother_name, mother_id, father_name, father_id, facility, residence_code, updated_at, updated_date);
snapshot_columns!(death_col: cert_no, version, status, name, id_number, sex, death_date, residence_code, updated_at, updated_date);
snapshot_columns!(pis_col: person_id, sfzh, id_norm, name, sex, birth_date, village, marital, mother_id, birth_cert_no, state, deleted, ever_deleted, modified_time);
// Household, relation, ethnicity, origin and father are kept in the store but no rule
// reads them: a snapshot leaves them out of `psb_col` (`PsbEvent::details`).

pub(super) const PSB: TableRead = TableRead {
    table: "psb_rows",
    columns: psb_col::LIST,
    key: &["lsh"],
    by_rowid: true,
};
pub(super) const MARRIAGES: TableRead = TableRead {
    table: "mca_marriages",
    columns: marriage_col::LIST,
    key: &["reg_no"],
    by_rowid: true,
};
pub(super) const CREMATIONS: TableRead = TableRead {
    table: "mca_cremations",
    columns: cremation_col::LIST,
    key: &["cert_no"],
    by_rowid: true,
};
pub(super) const BIRTHS: TableRead = TableRead {
    table: "nhc_births",
    columns: birth_col::LIST,
    key: &["cert_no", "version"],
    by_rowid: true,
};
pub(super) const DEATHS: TableRead = TableRead {
    table: "nhc_deaths",
    columns: death_col::LIST,
    key: &["cert_no", "version"],
    by_rowid: true,
};
pub(super) const PIS: TableRead = TableRead {
    table: "pis_rows",
    columns: pis_col::LIST,
    key: &["person_id"],
    by_rowid: true,
};

impl Store {
    /// Every stored record, read in batches into compact domain records, each table in
    /// its key order. The two
    /// large tables and the four small ones are read at once, on three connections:
    /// SQLite builds one table's pages while another's are decoded here.
    pub async fn load_snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut snap = Snapshot::default();
        // Room for every record up front: grown by doubling, the psb vector alone was
        // copied whole into fresh memory at every doubling.
        snap.psb.reserve_exact(self.rows_in(&PSB).await?);
        snap.pis.reserve_exact(self.rows_in(&PIS).await?);
        snap.marriages
            .reserve_exact(self.rows_in(&MARRIAGES).await?);
        snap.cremations
            .reserve_exact(self.rows_in(&CREMATIONS).await?);
        snap.births.reserve_exact(self.rows_in(&BIRTHS).await?);
        snap.deaths.reserve_exact(self.rows_in(&DEATHS).await?);
        let psb = self.read_table(&PSB, |r| {
            snap.psb.push(psb_record(r)?);
            Ok(())
        });
        let pis = self.read_table(&PIS, |r| {
            snap.pis.push(pis_record(r)?);
            Ok(())
        });
        let others = async {
            self.read_table(&MARRIAGES, |r| {
                snap.marriages.push(marriages_record(r)?);
                Ok(())
            })
            .await?;
            self.read_table(&CREMATIONS, |r| {
                snap.cremations.push(cremations_record(r)?);
                Ok(())
            })
            .await?;
            self.read_table(&BIRTHS, |r| {
                snap.births.push(births_record(r)?);
                Ok(())
            })
            .await?;
            self.read_table(&DEATHS, |r| {
                snap.deaths.push(deaths_record(r)?);
                Ok(())
            })
            .await
        };
        tokio::try_join!(psb, pis, others)?;
        // Reconciliation's output must not depend on where rows lie in the file. The
        // two large tables are sorted at once, on two cores (0.44 s one after the
        // other for a million people).
        let Snapshot {
            psb,
            pis,
            marriages,
            cremations,
            births,
            deaths,
        } = &mut snap;
        crate::parallel::join(
            || psb.sort_unstable_by(|a, b| a.lsh.cmp(&b.lsh)),
            || {
                // pis rows lie at random: sorting keys and moving each record once beats
                // moving whole records at every step of the sort.
                pis.sort_by_cached_key(|r| r.person_id.clone());
                marriages.sort_unstable_by(|a, b| a.reg_no.cmp(&b.reg_no));
                cremations.sort_unstable_by(|a, b| a.cert_no.cmp(&b.cert_no));
                births
                    .sort_unstable_by(|a, b| (&a.cert_no, a.version).cmp(&(&b.cert_no, b.version)));
                deaths
                    .sort_unstable_by(|a, b| (&a.cert_no, a.version).cmp(&(&b.cert_no, b.version)));
            },
        );
        Ok(snap)
    }

    /// Room to make for a table's records (rows stored while the snapshot is read only
    /// make a vector grow). A table read by rowid has no more rows than its highest
    /// rowid, found without reading them: counting the two large tables read them
    /// whole, about 0.3 s before the first page.
    async fn rows_in(&self, t: &TableRead) -> Result<usize, StoreError> {
        let n = if t.by_rowid && self.backend == Backend::Sqlite {
            let sql = format!("SELECT COALESCE(MAX(rowid), 0) FROM {}", t.table);
            sqlx::query(&sql)
                .fetch_one(&self.pool)
                .await
                .map_err(doing("counting records"))?
                .try_get(0)
                .map_err(doing("counting records"))?
        } else {
            self.count_rows(t.table).await?
        };
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Pages through a table, each page aggregated into one JSON array. Source tables
    /// are paged on SQLite in rowid order, the order their rows lie in the file: in key
    /// order, a table whose keys arrived at random (pis) is read one seek per row, and
    /// reading the pis table took 7.7 s instead of 2.8 s. Other tables and PostgreSQL
    /// page in key order. Callers that need an order sort. When paging by rowid, the
    /// database builds the next page while this one is decoded.
    pub(crate) async fn read_table(
        &self,
        t: &TableRead,
        mut each: impl FnMut(&[Cell<'_>]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let by_rowid = t.by_rowid && self.backend == Backend::Sqlite;
        let order = if by_rowid {
            "rowid".to_string()
        } else {
            t.key.join(", ")
        };
        let key_len = if by_rowid { 1 } else { t.key.len() };
        let sql = |first: bool| {
            let cond = if first {
                "1 = 1".to_string()
            } else {
                format!(
                    "({order}) > ({})",
                    (1..=key_len)
                        .map(|i| format!("${i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            match self.backend {
                Backend::Sqlite if by_rowid => format!(
                    "SELECT json_group_array(json_array({cols})), max(_rowid), count(*) FROM (SELECT rowid AS _rowid, {cols} FROM {table} WHERE {cond} ORDER BY rowid LIMIT {BATCH})",
                    cols = t.columns,
                    table = t.table
                ),
                Backend::Sqlite => format!(
                    "SELECT json_group_array(json_array({cols})), NULL, count(*) FROM (SELECT {cols} FROM {table} WHERE {cond} ORDER BY {order} LIMIT {BATCH})",
                    cols = t.columns,
                    table = t.table
                ),
                Backend::Postgres => format!(
                    "SELECT COALESCE(json_agg(json_build_array({cols}) ORDER BY {order}), '[]')::text, NULL::bigint, count(*) FROM (SELECT {cols} FROM {table} WHERE {cond} ORDER BY {order} LIMIT {BATCH}) page",
                    cols = t.columns,
                    table = t.table
                ),
            }
        };
        let next_sql = sql(false);
        let mut next = Some(self.spawn_page(sql(true), Vec::new()));
        while let Some(pending) = next.take() {
            let page = match pending.await {
                Ok(page) => page?,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {
                    return Err(StoreError::Query {
                        doing: "reading a batch of records",
                        source: sqlx::Error::WorkerCrashed,
                    })
                }
            };
            let full = page.rows == BATCH as i64;
            if let (true, Some(rowid)) = (full, page.last_rowid) {
                next = Some(self.spawn_page(next_sql.clone(), vec![Cell::Int(rowid)]));
            }
            let mut last_row = Vec::new();
            for_each_row(&page.text, &mut last_row, &mut each)?;
            if full && next.is_none() {
                let after = t.key_of(&last_row);
                next = Some(self.spawn_page(next_sql.clone(), after));
            }
        }
        Ok(())
    }

    /// Asks for one page on a task of its own, so that it is built while the caller
    /// decodes the page before.
    fn spawn_page(
        &self,
        sql: String,
        after: Vec<Cell<'static>>,
    ) -> tokio::task::JoinHandle<Result<Page, StoreError>> {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let mut q = sqlx::query(&sql);
            for v in after {
                q = match v {
                    Cell::Int(n) => q.bind(n),
                    Cell::Text(s) => q.bind(s.into_owned()),
                    Cell::Null => q.bind(None::<String>),
                };
            }
            let d = || doing("reading a batch of records");
            let row = q.fetch_one(&pool).await.map_err(d())?;
            Ok(Page {
                text: row.try_get(0).map_err(d())?,
                last_rowid: row.try_get(1).map_err(d())?,
                rows: row.try_get(2).map_err(d())?,
            })
        })
    }

    /// The raw text of one stored record, for `popsync person`.
    pub async fn raw_record(&self, source: &str, key: &str) -> Result<Option<String>, StoreError> {
        let sql = match source {
            "psb" => "SELECT raw FROM psb_rows WHERE lsh = $1",
            "mca.marriage" => "SELECT raw FROM mca_marriages WHERE reg_no = $1",
            "mca.cremation" => "SELECT raw FROM mca_cremations WHERE cert_no = $1",
            "pis" => "SELECT raw FROM pis_rows WHERE person_id = $1",
            "nhc.birth" => {
                "SELECT raw FROM nhc_births WHERE cert_no || '#' || CAST(version AS TEXT) = $1"
            }
            "nhc.death" => {
                "SELECT raw FROM nhc_deaths WHERE cert_no || '#' || CAST(version AS TEXT) = $1"
            }
            _ => return Ok(None),
        };
        let row = sqlx::query(sql)
            .bind(key.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(doing("reading a raw record"))?;
        row.map(|r| r.try_get::<String, _>(0))
            .transpose()
            .map_err(doing("reading a raw record"))
    }
}

pub(super) fn psb_record(r: &[Cell<'_>]) -> Result<PsbEvent, StoreError> {
    let code: Cow<str> = text(r, psb_col::ywlx)?;
    Ok(PsbEvent {
        lsh: text(r, psb_col::lsh)?,
        kind: PsbEventKind::from_code(&code).ok_or_else(|| corrupt("psb row", code))?,
        id: id(r, psb_col::id_number, "psb row")?,
        name: text(r, psb_col::name)?,
        sex: Sex::from_code(int(r, psb_col::sex)?),
        birth_date: day(r, psb_col::birth_date, "psb row")?,
        division: division(r, psb_col::division, "psb row")?,
        particulars: boxed_unless_empty(PsbParticulars {
            to_county: opt_text(r, psb_col::to_county)?,
            mother_id: opt_id(r, psb_col::mother_id, "psb row")?,
            birth_cert_no: opt_text(r, psb_col::birth_cert_no)?,
            death_date: opt_day(r, psb_col::death_date, "psb row")?,
        }),
        event_date: day(r, psb_col::event_date, "psb row")?,
        recorded_at: text(r, psb_col::recorded_at)?,
        details: None,
    })
}

pub(super) fn marriages_record(r: &[Cell<'_>]) -> Result<Marriage, StoreError> {
    let kind: Cow<str> = text(r, marriage_col::kind)?;
    Ok(Marriage {
        reg_no: text(r, marriage_col::reg_no)?,
        kind: MarriageKind::from_zh(&kind).ok_or_else(|| corrupt("marriage", kind))?,
        husband_name: text(r, marriage_col::husband_name)?,
        husband_id: id(r, marriage_col::husband_id, "marriage")?,
        wife_name: text(r, marriage_col::wife_name)?,
        wife_id: id(r, marriage_col::wife_id, "marriage")?,
        reg_date: day(r, marriage_col::reg_date, "marriage")?,
        office: text(r, marriage_col::office)?,
    })
}

pub(super) fn cremations_record(r: &[Cell<'_>]) -> Result<Cremation, StoreError> {
    Ok(Cremation {
        cert_no: text(r, cremation_col::cert_no)?,
        name: text(r, cremation_col::name)?,
        sex: Sex::from_code(int(r, cremation_col::sex)?),
        id: opt_id(r, cremation_col::id_number, "cremation")?,
        death_date: day(r, cremation_col::death_date, "cremation")?,
        cremation_date: day(r, cremation_col::cremation_date, "cremation")?,
        address: text(r, cremation_col::address)?,
        funeral_home: text(r, cremation_col::funeral_home)?,
    })
}

pub(super) fn births_record(r: &[Cell<'_>]) -> Result<BirthCertificate, StoreError> {
    let status: Cow<str> = text(r, birth_col::status)?;
    Ok(BirthCertificate {
        cert_no: text(r, birth_col::cert_no)?,
        version: int(r, birth_col::version)?,
        status: CertStatus::from_code(&status)
            .ok_or_else(|| corrupt("birth certificate", status))?,
        child_name: opt_text(r, birth_col::child_name)?,
        child_sex: Sex::from_code(int(r, birth_col::child_sex)?),
        birth_date: day(r, birth_col::birth_date, "birth certificate")?,
        mother_name: opt_text(r, birth_col::mother_name)?,
        mother_id: id(r, birth_col::mother_id, "birth certificate")?,
        father_name: opt_text(r, birth_col::father_name)?,
        father_id: opt_text(r, birth_col::father_id)?,
        facility: opt_text(r, birth_col::facility)?,
        residence: opt_division(r, birth_col::residence_code)?,
        updated_at: text(r, birth_col::updated_at)?,
        updated_date: day(r, birth_col::updated_date, "birth certificate")?,
    })
}

pub(super) fn deaths_record(r: &[Cell<'_>]) -> Result<DeathCertificate, StoreError> {
    let status: Cow<str> = text(r, death_col::status)?;
    Ok(DeathCertificate {
        cert_no: text(r, death_col::cert_no)?,
        version: int(r, death_col::version)?,
        status: CertStatus::from_code(&status)
            .ok_or_else(|| corrupt("death certificate", status))?,
        name: opt_text(r, death_col::name)?,
        id: opt_id(r, death_col::id_number, "death certificate")?,
        sex: Sex::from_code(int(r, death_col::sex)?),
        death_date: day(r, death_col::death_date, "death certificate")?,
        residence: opt_division(r, death_col::residence_code)?,
        updated_at: text(r, death_col::updated_at)?,
        updated_date: day(r, death_col::updated_date, "death certificate")?,
    })
}

pub(super) fn pis_record(r: &[Cell<'_>]) -> Result<PisRecord, StoreError> {
    let state = int(r, pis_col::state)?;
    Ok(PisRecord {
        person_id: text(r, pis_col::person_id)?,
        sfzh: text(r, pis_col::sfzh)?,
        id_norm: text(r, pis_col::id_norm)?,
        name: text(r, pis_col::name)?,
        sex: Sex::from_code(int(r, pis_col::sex)?),
        birth_date: day(r, pis_col::birth_date, "pis record")?,
        village: division(r, pis_col::village, "pis record")?,
        marital: opt_text::<InlineText>(r, pis_col::marital)?.map(|c: InlineText| Hyzk::parse(&c)),
        birth: boxed_unless_empty(PisBirth {
            mother_id: opt_text(r, pis_col::mother_id)?,
            birth_cert_no: opt_text(r, pis_col::birth_cert_no)?,
        }),
        state: PisState::from_code(state)
            .ok_or_else(|| corrupt("pis record", state.to_string()))?,
        deleted: int(r, pis_col::deleted)? != 0,
        ever_deleted: int(r, pis_col::ever_deleted)? != 0,
        modified_time: text(r, pis_col::modified_time)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(row: &[Cell<'_>]) -> Vec<String> {
        (0..row.len())
            .map(|i| {
                cell_str(row, i)
                    .unwrap()
                    .map_or("NULL".into(), Cow::into_owned)
            })
            .collect()
    }

    #[test]
    fn a_page_is_handed_on_row_by_row_and_its_last_row_kept() {
        let page = r#"[["a", 1, null], ["b\"q", 2, "x"], ["c", 3, null]]"#;
        let mut seen = Vec::new();
        let mut last = Vec::new();
        for_each_row(page, &mut last, &mut |row| {
            seen.push(texts(row));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                vec!["a", "1", "NULL"],
                vec!["b\"q", "2", "x"],
                vec!["c", "3", "NULL"]
            ]
        );
        assert_eq!(texts(&last), ["c", "3", "NULL"]);
    }

    #[test]
    fn a_refused_row_stops_the_page_with_its_own_error_and_a_cut_page_is_corrupt() {
        let mut last = Vec::new();
        let mut rows = 0;
        let refused = for_each_row(r#"[["a"], ["b"], ["c"]]"#, &mut last, &mut |row| {
            rows += 1;
            match texts(row)[0].as_str() {
                "b" => Err(corrupt("stored record", "row b")),
                _ => Ok(()),
            }
        });
        assert_eq!(rows, 2, "nothing after the refused row");
        assert!(matches!(refused, Err(StoreError::Corrupt { detail, .. }) if detail == "row b"));
        let cut = for_each_row(r#"[["a"], ["b""#, &mut Vec::new(), &mut |_| Ok(()));
        assert!(matches!(
            cut,
            Err(StoreError::Corrupt {
                what: "record batch",
                ..
            })
        ));
    }
}
