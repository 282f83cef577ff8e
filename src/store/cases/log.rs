//! The change log (`unplaced`): the source records a write stores new or changed, for
//! the next run to place in their cases. Written by `Store::write_batches` in the
//! transaction that stores the records, before it stores them, so that the log names
//! exactly the records the write is about to change.

use crate::records::Records;
use crate::store::{doing, Backend, StoreError, WriteTx};

/// Whether stored records are logged: once a run has begun to build the cases. On
/// PostgreSQL the write holds `case_state` in share mode until it commits, so a run
/// that starts building waits for it and then reads its records, or the write logs.
pub(crate) async fn logging(tx: &mut WriteTx, backend: Backend) -> Result<bool, StoreError> {
    if backend == Backend::Postgres {
        sqlx::query("LOCK TABLE case_state IN SHARE MODE")
            .execute(&mut **tx)
            .await
            .map_err(doing("locking the case state"))?;
    }
    let row: Option<i64> = sqlx::query_scalar("SELECT id FROM case_state")
        .fetch_optional(&mut **tx)
        .await
        .map_err(doing("reading the case state"))?;
    Ok(row.is_some())
}

/// Logs the records of a batch that the store does not hold yet as they are: a new
/// key, a new certificate version, or a pis record with a newer `modifiedTime`. One
/// statement per batch, its keys bound as one JSON array.
pub(crate) async fn log_changed(
    tx: &mut WriteTx,
    backend: Backend,
    records: &Records,
) -> Result<(), StoreError> {
    let (tbl, list, test) = match records {
        Records::Psb(rows) => (
            0,
            keys(rows.iter().map(|w| w.record.lsh.as_str())),
            "psb_rows WHERE lsh = {k}",
        ),
        Records::Marriages(rows) => (
            1,
            keys(rows.iter().map(|w| w.record.reg_no.as_str())),
            "mca_marriages WHERE reg_no = {k}",
        ),
        Records::Cremations(rows) => (
            2,
            keys(rows.iter().map(|w| w.record.cert_no.as_str())),
            "mca_cremations WHERE cert_no = {k}",
        ),
        Records::Births(rows) => (
            3,
            pairs(rows.iter().map(|w| {
                (
                    w.record.cert_no.as_str(),
                    serde_json::json!(w.record.version),
                )
            })),
            "nhc_births WHERE cert_no = {k} AND version = {v}",
        ),
        Records::Deaths(rows) => (
            4,
            pairs(rows.iter().map(|w| {
                (
                    w.record.cert_no.as_str(),
                    serde_json::json!(w.record.version),
                )
            })),
            "nhc_deaths WHERE cert_no = {k} AND version = {v}",
        ),
        Records::Pis(rows) => (
            5,
            pairs(rows.iter().map(|w| {
                (
                    w.record.person_id.as_str(),
                    serde_json::json!(w.record.modified_time.as_str()),
                )
            })),
            "pis_rows WHERE person_id = {k} AND modified_time >= {v}",
        ),
    };
    if list == "[]" {
        return Ok(());
    }
    let paired = matches!(tbl, 3..=5);
    let (from, k, v) = match (backend, paired) {
        (Backend::Sqlite, false) => ("json_each($1)", "value", ""),
        (Backend::Sqlite, true) => (
            "json_each($1)",
            "json_extract(value, '$[0]')",
            "json_extract(value, '$[1]')",
        ),
        (Backend::Postgres, false) => ("json_array_elements_text($1::json) AS value", "value", ""),
        (Backend::Postgres, true) => (
            "json_array_elements($1::json) AS e",
            "(e->>0)",
            if tbl == 5 {
                "(e->>1)"
            } else {
                "(e->>1)::bigint"
            },
        ),
    };
    let test = test.replace("{k}", k).replace("{v}", v);
    let sql = format!(
        "INSERT INTO unplaced (tbl, record_key) SELECT {tbl}, {k} FROM {from} WHERE NOT EXISTS (SELECT 1 FROM {test})"
    );
    sqlx::query(&sql)
        .bind(list)
        .execute(&mut **tx)
        .await
        .map_err(doing("logging stored records for the next run"))?;
    Ok(())
}

fn keys<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    serde_json::to_string(&keys.collect::<Vec<_>>()).unwrap_or_default()
}

fn pairs<'a>(pairs: impl Iterator<Item = (&'a str, serde_json::Value)>) -> String {
    let list: Vec<serde_json::Value> = pairs.map(|(k, v)| serde_json::json!([k, v])).collect();
    serde_json::to_string(&list).unwrap_or_default()
}
