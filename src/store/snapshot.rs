//! Reading every stored source record back as domain records, for reconciliation.

use chrono::NaiveDate;
use futures::TryStreamExt;
use sqlx::{ColumnIndex, Database, Decode, Executor, IntoArguments, Pool, Row, Type};

use super::{doing, Native, Store, StoreError};
use crate::domain::{DivisionCode, IdNumber, Sex};
use crate::records::{
    BirthCertificate, CertStatus, Cremation, DeathCertificate, Marriage, MarriageKind, PisRecord,
    PisState, PsbEvent, PsbEventKind, Snapshot,
};

fn corrupt(what: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: detail.into(),
    }
}

/// A row whose columns decode into the plain types the store uses.
pub(crate) trait Readable {
    fn string(&self, i: usize) -> Result<String, sqlx::Error>;
    fn opt_string(&self, i: usize) -> Result<Option<String>, sqlx::Error>;
    fn integer(&self, i: usize) -> Result<i64, sqlx::Error>;
}

impl<R> Readable for R
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'a> String: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> i64: Decode<'a, R::Database> + Type<R::Database>,
{
    fn string(&self, i: usize) -> Result<String, sqlx::Error> {
        self.try_get(i)
    }
    fn opt_string(&self, i: usize) -> Result<Option<String>, sqlx::Error> {
        self.try_get(i)
    }
    fn integer(&self, i: usize) -> Result<i64, sqlx::Error> {
        self.try_get(i)
    }
}

fn text<R: Readable>(r: &R, i: usize) -> Result<String, StoreError> {
    r.string(i).map_err(doing("decoding a stored record"))
}

fn opt_text<R: Readable>(r: &R, i: usize) -> Result<Option<String>, StoreError> {
    r.opt_string(i).map_err(doing("decoding a stored record"))
}

fn int<R: Readable>(r: &R, i: usize) -> Result<i64, StoreError> {
    r.integer(i).map_err(doing("decoding a stored record"))
}

fn day<R: Readable>(r: &R, i: usize, what: &'static str) -> Result<NaiveDate, StoreError> {
    let s = text(r, i)?;
    NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| corrupt(what, format!("date {s:?}")))
}

fn opt_day<R: Readable>(
    r: &R,
    i: usize,
    what: &'static str,
) -> Result<Option<NaiveDate>, StoreError> {
    opt_text(r, i)?
        .map(|s| {
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| corrupt(what, format!("date {s:?}")))
        })
        .transpose()
}

fn id<R: Readable>(r: &R, i: usize, what: &'static str) -> Result<IdNumber, StoreError> {
    let s = text(r, i)?;
    IdNumber::parse(&s).map_err(|e| corrupt(what, format!("ID: {e}")))
}

fn opt_id<R: Readable>(
    r: &R,
    i: usize,
    what: &'static str,
) -> Result<Option<IdNumber>, StoreError> {
    opt_text(r, i)?
        .map(|s| IdNumber::parse(&s).map_err(|e| corrupt(what, format!("ID: {e}"))))
        .transpose()
}

fn division<R: Readable>(r: &R, i: usize, what: &'static str) -> Result<DivisionCode, StoreError> {
    let s = text(r, i)?;
    DivisionCode::parse(&s).ok_or_else(|| corrupt(what, format!("division {s:?}")))
}

fn opt_division<R: Readable>(r: &R, i: usize) -> Result<Option<DivisionCode>, StoreError> {
    Ok(opt_text(r, i)?.and_then(|s| DivisionCode::parse(&s)))
}

impl Store {
    /// Every stored record, streamed out of the database into compact domain records.
    pub async fn load_snapshot(&self) -> Result<Snapshot, StoreError> {
        match &self.native {
            Native::Sqlite(pool) => load(pool).await,
            Native::Postgres(pool) => load(pool).await,
        }
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
        row.map(|r| text(&r, 0)).transpose()
    }
}

/// Streams every record out of one backend's native pool.
async fn load<DB>(pool: &Pool<DB>) -> Result<Snapshot, StoreError>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Readable,
    usize: ColumnIndex<DB::Row>,
{
    let mut snap = Snapshot::default();
    let mut rows = sqlx::query(
        "SELECT lsh, ywlx, id_number, name, sex, birth_date, ethnicity, household, relation, division,
         from_county, to_county, father_id, mother_id, birth_cert_no, death_date, event_date, recorded_at
         FROM psb_rows",
    )
    .fetch(pool);
    while let Some(r) = rows.try_next().await.map_err(doing("reading psb rows"))? {
        let code = text(&r, 1)?;
        snap.psb.push(PsbEvent {
            lsh: text(&r, 0)?,
            kind: PsbEventKind::from_code(&code).ok_or_else(|| corrupt("psb row", code))?,
            id: id(&r, 2, "psb row")?,
            name: text(&r, 3)?,
            sex: Sex::from_code(int(&r, 4)?),
            birth_date: day(&r, 5, "psb row")?,
            ethnicity: opt_text(&r, 6)?,
            household: opt_text(&r, 7)?,
            relation: opt_text(&r, 8)?,
            division: division(&r, 9, "psb row")?,
            from_county: opt_text(&r, 10)?,
            to_county: opt_text(&r, 11)?,
            father_id: opt_text(&r, 12)?,
            mother_id: opt_id(&r, 13, "psb row")?,
            birth_cert_no: opt_text(&r, 14)?,
            death_date: opt_day(&r, 15, "psb row")?,
            event_date: day(&r, 16, "psb row")?,
            recorded_at: text(&r, 17)?,
        });
    }
    drop(rows);
    let mut rows = sqlx::query(
        "SELECT reg_no, kind, husband_name, husband_id, wife_name, wife_id, reg_date, office FROM mca_marriages",
    )
    .fetch(pool);
    while let Some(r) = rows.try_next().await.map_err(doing("reading marriages"))? {
        let kind = text(&r, 1)?;
        snap.marriages.push(Marriage {
            reg_no: text(&r, 0)?,
            kind: MarriageKind::from_zh(&kind).ok_or_else(|| corrupt("marriage", kind))?,
            husband_name: text(&r, 2)?,
            husband_id: id(&r, 3, "marriage")?,
            wife_name: text(&r, 4)?,
            wife_id: id(&r, 5, "marriage")?,
            reg_date: day(&r, 6, "marriage")?,
            office: text(&r, 7)?,
        });
    }
    drop(rows);
    let mut rows = sqlx::query(
        "SELECT cert_no, name, sex, id_number, death_date, cremation_date, address, funeral_home FROM mca_cremations",
    )
    .fetch(pool);
    while let Some(r) = rows.try_next().await.map_err(doing("reading cremations"))? {
        snap.cremations.push(Cremation {
            cert_no: text(&r, 0)?,
            name: text(&r, 1)?,
            sex: Sex::from_code(int(&r, 2)?),
            id: opt_id(&r, 3, "cremation")?,
            death_date: day(&r, 4, "cremation")?,
            cremation_date: day(&r, 5, "cremation")?,
            address: text(&r, 6)?,
            funeral_home: text(&r, 7)?,
        });
    }
    drop(rows);
    let mut rows = sqlx::query(
        "SELECT cert_no, version, status, child_name, child_sex, birth_date, mother_name, mother_id, father_name,
         father_id, facility, residence_code, updated_at, updated_date FROM nhc_births",
    )
    .fetch(pool);
    while let Some(r) = rows
        .try_next()
        .await
        .map_err(doing("reading birth certificates"))?
    {
        let status = text(&r, 2)?;
        snap.births.push(BirthCertificate {
            cert_no: text(&r, 0)?,
            version: int(&r, 1)?,
            status: CertStatus::from_code(&status)
                .ok_or_else(|| corrupt("birth certificate", status))?,
            child_name: opt_text(&r, 3)?,
            child_sex: Sex::from_code(int(&r, 4)?),
            birth_date: day(&r, 5, "birth certificate")?,
            mother_name: opt_text(&r, 6)?,
            mother_id: id(&r, 7, "birth certificate")?,
            father_name: opt_text(&r, 8)?,
            father_id: opt_text(&r, 9)?,
            facility: opt_text(&r, 10)?,
            residence: opt_division(&r, 11)?,
            updated_at: text(&r, 12)?,
            updated_date: day(&r, 13, "birth certificate")?,
        });
    }
    drop(rows);
    let mut rows = sqlx::query(
        "SELECT cert_no, version, status, name, id_number, sex, death_date, residence_code, updated_at, updated_date
         FROM nhc_deaths",
    )
    .fetch(pool);
    while let Some(r) = rows
        .try_next()
        .await
        .map_err(doing("reading death certificates"))?
    {
        let status = text(&r, 2)?;
        snap.deaths.push(DeathCertificate {
            cert_no: text(&r, 0)?,
            version: int(&r, 1)?,
            status: CertStatus::from_code(&status)
                .ok_or_else(|| corrupt("death certificate", status))?,
            name: opt_text(&r, 3)?,
            id: opt_id(&r, 4, "death certificate")?,
            sex: Sex::from_code(int(&r, 5)?),
            death_date: day(&r, 6, "death certificate")?,
            residence: opt_division(&r, 7)?,
            updated_at: text(&r, 8)?,
            updated_date: day(&r, 9, "death certificate")?,
        });
    }
    drop(rows);
    let mut rows = sqlx::query(
        "SELECT person_id, sfzh, id_norm, name, sex, birth_date, village, marital, mother_id, birth_cert_no,
         state, deleted, ever_deleted, modified_time FROM pis_rows",
    )
    .fetch(pool);
    while let Some(r) = rows
        .try_next()
        .await
        .map_err(doing("reading pis records"))?
    {
        let state = int(&r, 10)?;
        snap.pis.push(PisRecord {
            person_id: text(&r, 0)?,
            sfzh: text(&r, 1)?,
            id_norm: text(&r, 2)?,
            name: text(&r, 3)?,
            sex: Sex::from_code(int(&r, 4)?),
            birth_date: day(&r, 5, "pis record")?,
            village: division(&r, 6, "pis record")?,
            marital: opt_text(&r, 7)?,
            mother_id: opt_text(&r, 8)?,
            birth_cert_no: opt_text(&r, 9)?,
            state: PisState::from_code(state)
                .ok_or_else(|| corrupt("pis record", state.to_string()))?,
            deleted: int(&r, 11)? != 0,
            ever_deleted: int(&r, 12)? != 0,
            modified_time: text(&r, 13)?,
        });
    }
    Ok(snap)
}
