//! The first write of an empty registry (a first run): every golden record is new, so
//! rows go in without reading what is stored, the golden records' case index is built
//! once after them, and on PostgreSQL the rows go by COPY (`copy.rs`).

use std::fmt::Write as _;

use sqlx::PgPool;

use super::copy::{push_text, CopyIn};
use super::registry::{person_rows, RegistryCases, RegistryWrite};
use super::{doing, Backend, Store, StoreError, CHUNK};
use crate::reconcile::{Persons, Unlinked};

/// The golden records' case index, by which a run reads the golden records of some cases.
const PERSONS_CASE_INDEX: &str = "CREATE INDEX persons_case ON persons (case_id)";

impl Store {
    /// Whether the registry is empty, as before a first run: then every bucket writes
    /// its rows as plain inserts, and the golden records' case index is dropped, to be
    /// built once from all of them by [`Store::end_registry_writes`] (entered row by
    /// row in case order it took ten seconds for a million). A registry that is not
    /// empty gets its index back if a run stopped before building it.
    pub async fn begin_registry_writes(&self) -> Result<bool, StoreError> {
        let what = "looking for golden records";
        let mut tx = self.begin_write(what).await?;
        let mut empty = true;
        for sql in [
            "SELECT 1 FROM persons LIMIT 1",
            "SELECT 1 FROM unlinked_records LIMIT 1",
        ] {
            empty &= sqlx::query(sql)
                .fetch_optional(&mut *tx)
                .await
                .map_err(doing(what))?
                .is_none();
        }
        let index = match self.backend {
            Backend::Sqlite => "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'persons_case'",
            Backend::Postgres => "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'persons_case'",
        };
        let indexed = sqlx::query(index)
            .fetch_optional(&mut *tx)
            .await
            .map_err(doing(what))?
            .is_some();
        let sql = match (empty, indexed) {
            (true, true) => Some("DROP INDEX persons_case"),
            (false, false) => Some(PERSONS_CASE_INDEX),
            _ => None,
        };
        if let Some(sql) = sql {
            sqlx::query(sql)
                .execute(&mut *tx)
                .await
                .map_err(doing("setting up the golden records' case index"))?;
        }
        tx.commit(what).await?;
        Ok(empty)
    }

    /// After a run's registry writes into an empty registry: builds the golden
    /// records' case index that [`Store::begin_registry_writes`] dropped.
    pub async fn end_registry_writes(&self, fresh: bool) -> Result<(), StoreError> {
        if !fresh {
            return Ok(());
        }
        let what = "building the golden records' case index";
        let mut conn = self.pool.acquire().await.map_err(doing(what))?;
        // SQLite sorts the index's entries in temporary storage, which every
        // connection keeps in memory (for statement journals): for 5,000,000 persons
        // that was 340 MB over the run's peak. This sort goes to a temporary file.
        let sqlite = self.backend == Backend::Sqlite;
        if sqlite {
            sqlx::query("PRAGMA temp_store = FILE")
                .execute(&mut *conn)
                .await
                .map_err(doing(what))?;
        }
        let built = sqlx::query(PERSONS_CASE_INDEX).execute(&mut *conn).await;
        if sqlite {
            sqlx::query("PRAGMA temp_store = MEMORY")
                .execute(&mut *conn)
                .await
                .map_err(doing(what))?;
        }
        built.map_err(doing(what))?;
        Ok(())
    }
}

/// Writes a whole registry into empty tables by COPY, in one transaction on
/// PostgreSQL's own connection: the golden records a statement's worth at a time
/// (never the whole registry's text at once), then the records that denote nobody.
pub(super) async fn copy_fresh_registry<'a>(
    pool: &PgPool,
    persons: &(impl Persons<'a> + ?Sized),
    unlinked: &[Unlinked<'_>],
    cases: &RegistryCases<'_>,
) -> Result<RegistryWrite, StoreError> {
    let what = "writing golden records";
    let mut write = RegistryWrite::default();
    let mut tx = pool.begin().await.map_err(doing(what))?;
    let mut copy = CopyIn::begin(
        &mut tx,
        "persons (person_key, township, state, record, digest, case_id)",
    )
    .await?;
    let every: Vec<(usize, Option<&str>)> = (0..persons.count()).map(|at| (at, None)).collect();
    for chunk in every.chunks(CHUNK) {
        for p in person_rows(persons, chunk) {
            copy.row(|out| {
                push_text(out, p.key);
                out.push('\t');
                match &p.township {
                    Some(t) => push_text(out, t.as_str()),
                    None => out.push_str("\\N"),
                }
                out.push('\t');
                push_text(out, p.state);
                out.push('\t');
                push_text(out, &p.text);
                out.push('\t');
                push_text(out, &p.digest);
                out.push('\t');
                null_or(out, cases.person(p.at));
            })
            .await?;
        }
    }
    write.persons_written = copy.finish().await?;
    let mut copy = CopyIn::begin(
        &mut tx,
        "unlinked_records (source, record_key, reason, case_id)",
    )
    .await?;
    for (at, u) in unlinked.iter().enumerate() {
        copy.row(|out| {
            for field in [u.record.source, &u.record.key, u.reason] {
                push_text(out, field);
                out.push('\t');
            }
            null_or(out, cases.unlinked(at));
        })
        .await?;
    }
    write.unlinked_written = copy.finish().await?;
    tx.commit().await.map_err(doing(what))?;
    Ok(write)
}

/// A case number, or COPY's NULL.
fn null_or(out: &mut String, case: Option<i64>) {
    match case {
        Some(c) => {
            let _ = write!(out, "{c}");
        }
        None => out.push_str("\\N"),
    }
}
