//! The writes that place records in cases: their rows and keys, merges, and the
//! change log's rows once placed.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::NaiveDate;

use super::{in_bound, CaseId, CaseRecords, PER_READ};
use crate::reconcile::cases::CaseKey;
use crate::store::bulk::{run_chunks, Insert};
use crate::store::copy::{copy_rows, push_text};
use crate::store::{doing, Backend, StoreError, WriteTx};

/// Each record's `case_records` row, sorted: clustered by case, rows go in key order,
/// each page filled once.
pub(super) fn case_rows(records: &CaseRecords) -> Vec<(CaseId, i64, &str)> {
    let mut rows: Vec<(CaseId, i64, &str)> = records
        .cases()
        .zip(records.record_keys())
        .filter_map(|(c, (tbl, key))| Some((c?, tbl, key)))
        .collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// Replaces every case's rows and keys (`keys`, sorted) and forgets the log rows a
/// rebuild read (`seqs`), in one transaction on PostgreSQL's own connection, by COPY.
pub(super) async fn rebuild_cases_by_copy(
    pool: &sqlx::PgPool,
    records: &CaseRecords,
    keys: &[(CaseKey, CaseId)],
    seqs: &[i64],
) -> Result<(), StoreError> {
    let what = "building cases";
    let mut tx = pool.begin().await.map_err(doing(what))?;
    empty_cases_for_copy(&mut tx, seqs).await?;
    copy_case_keys(&mut tx, keys).await?;
    copy_case_records(&mut tx, records).await?;
    index_copied_cases(&mut tx).await?;
    tx.commit().await.map_err(doing("committing cases"))
}

/// Empties the case tables on PostgreSQL, their keys dropped until
/// [`index_copied_cases`] (built once after the rows rather than entered row by row),
/// and forgets the log rows a rebuild read (`seqs`).
pub(super) async fn empty_cases_for_copy(
    conn: &mut sqlx::PgConnection,
    seqs: &[i64],
) -> Result<(), StoreError> {
    execute_each(
        conn,
        &[
            "TRUNCATE case_records, case_keys, case_merges, case_dates",
            // A first run cut short between its buckets left them dropped.
            "ALTER TABLE case_records DROP CONSTRAINT IF EXISTS case_records_pkey",
            "ALTER TABLE case_keys DROP CONSTRAINT IF EXISTS case_keys_pkey",
        ],
        "clearing cases",
    )
    .await?;
    sqlx::query("DELETE FROM unplaced WHERE seq = ANY($1)")
        .bind(seqs)
        .execute(&mut *conn)
        .await
        .map_err(doing("forgetting placed records"))?;
    Ok(())
}

/// Stores keys' cases by COPY, into tables [`empty_cases_for_copy`] emptied.
pub(super) async fn copy_case_keys(
    conn: &mut sqlx::PgConnection,
    keys: &[(CaseKey, CaseId)],
) -> Result<(), StoreError> {
    copy_rows(
        conn,
        "case_keys (case_key, case_id)",
        keys,
        |out, (k, c)| {
            let _ = write!(out, "{k}\t{c}");
        },
    )
    .await?;
    Ok(())
}

/// Stores each record's case by COPY, into tables [`empty_cases_for_copy`] emptied.
pub(super) async fn copy_case_records(
    conn: &mut sqlx::PgConnection,
    records: &CaseRecords,
) -> Result<(), StoreError> {
    let rows = case_rows(records);
    copy_rows(
        conn,
        "case_records (case_id, tbl, record_key)",
        &rows,
        |out, (c, t, k)| {
            let _ = write!(out, "{c}\t{t}\t");
            push_text(out, k);
        },
    )
    .await?;
    Ok(())
}

/// Builds the case tables' keys that [`empty_cases_for_copy`] dropped.
pub(super) async fn index_copied_cases(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    execute_each(
        conn,
        &[
            "ALTER TABLE case_records ADD CONSTRAINT case_records_pkey PRIMARY KEY (case_id, tbl, record_key)",
            "ALTER TABLE case_keys ADD CONSTRAINT case_keys_pkey PRIMARY KEY (case_key)",
        ],
        "indexing cases",
    )
    .await
}

/// Runs each statement in turn on a PostgreSQL connection.
async fn execute_each(
    conn: &mut sqlx::PgConnection,
    sqls: &[&str],
    what: &'static str,
) -> Result<(), StoreError> {
    for sql in sqls {
        sqlx::query(sql)
            .execute(&mut *conn)
            .await
            .map_err(doing(what))?;
    }
    Ok(())
}

/// Stores each record's case (`records`, every one in a case) and the keys' cases
/// (`keys`, sorted);
/// `conflict` is the keys' and records' `ON CONFLICT` clause (none into empty tables).
pub(super) async fn write_cases(
    tx: &mut WriteTx,
    backend: Backend,
    records: &CaseRecords,
    keys: &[(CaseKey, CaseId)],
    conflict: &str,
) -> Result<(), StoreError> {
    write_case_records(tx, backend, records, conflict).await?;
    write_case_keys(tx, backend, keys, conflict).await
}

/// Stores each record's case (`conflict`: the statement's tail).
pub(super) async fn write_case_records(
    tx: &mut WriteTx,
    backend: Backend,
    records: &CaseRecords,
    conflict: &str,
) -> Result<(), StoreError> {
    let rows = case_rows(records);
    run_chunks(
        tx,
        backend,
        &rows,
        Insert {
            head: "INSERT INTO case_records (case_id, tbl, record_key)",
            tail: conflict,
            doing: "storing the records of cases",
        },
        |q, (c, t, k)| q.bind(*c).bind(*t).bind(*k),
    )
    .await?;
    Ok(())
}

/// Stores each key's case (`keys`, sorted: B-tree pages fill one after another).
pub(super) async fn write_case_keys(
    tx: &mut WriteTx,
    backend: Backend,
    keys: &[(CaseKey, CaseId)],
    conflict: &str,
) -> Result<(), StoreError> {
    run_chunks(
        tx,
        backend,
        keys,
        Insert {
            head: "INSERT INTO case_keys (case_key, case_id)",
            tail: conflict,
            doing: "storing case keys",
        },
        |q, (k, c)| q.bind(*k).bind(*c),
    )
    .await?;
    Ok(())
}

/// Empties every case table (a rebuild's first step on SQLite).
pub(super) async fn empty_cases(tx: &mut WriteTx) -> Result<(), StoreError> {
    for table in ["case_records", "case_keys", "case_merges", "case_dates"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut **tx)
            .await
            .map_err(doing("clearing cases"))?;
    }
    Ok(())
}

/// Deletes the log rows a placement read (exactly those: a row logged meanwhile, even
/// with a lower number on PostgreSQL, stays).
pub(super) async fn forget_logged(
    tx: &mut WriteTx,
    backend: Backend,
    seqs: &[i64],
) -> Result<(), StoreError> {
    run_chunks(
        tx,
        backend,
        seqs,
        Insert {
            head: "DELETE FROM unplaced WHERE (seq) IN (SELECT column1 FROM (",
            tail: ") AS placed)",
            doing: "forgetting placed records",
        },
        |q, s| q.bind(*s),
    )
    .await?;
    Ok(())
}

/// Merges each `(absorbed, survivor)`: everything that carries the absorbed case (its
/// records, tickets, golden records and records that denote nobody) carries the
/// survivor, and its keys find the survivor through `case_merges`.
pub(super) async fn merge_cases(
    tx: &mut WriteTx,
    backend: Backend,
    merges: &[(CaseId, CaseId)],
) -> Result<(), StoreError> {
    if merges.is_empty() {
        return Ok(());
    }
    let relabel = |table: &str| {
        (
            "WITH v (a, s) AS (".to_string(),
            format!(") UPDATE {table} SET case_id = v.s FROM v WHERE {table}.case_id = v.a"),
        )
    };
    let statements = [
        relabel("case_records"),
        relabel("tickets"),
        relabel("persons"),
        relabel("unlinked_records"),
        // Chains stay one step long: what was merged into an absorbed case now
        // points on.
        (
            "WITH v (a, s) AS (".to_string(),
            ") UPDATE case_merges SET into_case = v.s FROM v WHERE case_merges.into_case = v.a"
                .to_string(),
        ),
        (
            "INSERT INTO case_merges (case_id, into_case)".to_string(),
            String::new(),
        ),
    ];
    for (head, tail) in &statements {
        run_chunks(
            tx,
            backend,
            merges,
            Insert {
                head,
                tail,
                doing: "merging cases",
            },
            |q, (a, s)| q.bind(*a).bind(*s),
        )
        .await?;
    }
    run_chunks(
        tx,
        backend,
        merges,
        Insert {
            head: "DELETE FROM case_dates WHERE (case_id) IN (SELECT column1 FROM (",
            tail: ") AS gone)",
            doing: "merging cases",
        },
        |q, (a, _)| q.bind(*a),
    )
    .await?;
    Ok(())
}

/// Replaces the next dates of `cases` (`None`: of every case) with those in `next` (a
/// case not in it has none).
pub(super) async fn write_case_dates(
    tx: &mut WriteTx,
    backend: Backend,
    cases: Option<&[CaseId]>,
    next: &HashMap<CaseId, NaiveDate>,
) -> Result<(), StoreError> {
    match cases {
        None => {
            sqlx::query("DELETE FROM case_dates")
                .execute(&mut **tx)
                .await
                .map_err(doing("clearing case dates"))?;
        }
        Some(cases) => {
            let sql = format!(
                "DELETE FROM case_dates WHERE case_id {}",
                in_bound(backend, true)
            );
            for chunk in cases.chunks(PER_READ) {
                sqlx::query(&sql)
                    .bind(serde_json::to_string(chunk).unwrap_or_default())
                    .execute(&mut **tx)
                    .await
                    .map_err(doing("clearing case dates"))?;
            }
        }
    }
    let mut rows: Vec<(CaseId, String)> = match cases {
        None => next.iter().map(|(c, d)| (*c, d.to_string())).collect(),
        Some(cases) => cases
            .iter()
            .filter_map(|c| next.get(c).map(|d| (*c, d.to_string())))
            .collect(),
    };
    rows.sort_unstable();
    run_chunks(
        tx,
        backend,
        &rows,
        Insert {
            head: "INSERT INTO case_dates (case_id, next_date)",
            tail: "",
            doing: "recording case dates",
        },
        |q, (c, d)| q.bind(*c).bind(d.as_str()),
    )
    .await?;
    Ok(())
}
