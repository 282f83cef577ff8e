//! The writes that place records in cases: their rows and keys, merges, and the
//! change log's rows once placed.

use super::{CaseId, CaseRecords};
use crate::reconcile::cases::CaseKey;
use crate::store::bulk::{run_chunks, Insert};
use crate::store::{Backend, StoreError, WriteTx};

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
    let mut rows: Vec<(CaseId, i64, &str)> = records
        .cases()
        .zip(records.record_keys())
        .filter_map(|(c, (tbl, key))| Some((c?, tbl, key)))
        .collect();
    // Clustered by case: rows go in key order, each page filled once.
    rows.sort_unstable();
    rows.dedup();
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
