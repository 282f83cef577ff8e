//! The last `popsync reconcile --full`: its outcome kept in `full_checks` (one row,
//! replaced by each check) for `popsync status` and the metrics.

use sqlx::Row;

use super::{doing, Store, StoreError};

/// The outcome of the last full check.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FullCheckRow {
    pub checked_at: String,
    pub as_of: String,
    /// The reconciliation run whose stored state was checked.
    pub run_id: i64,
    pub equal: bool,
    pub ticket_differences: u64,
    pub registry_differences: u64,
    /// The check's whole report, as `--format json` prints it.
    pub summary: serde_json::Value,
}

impl Store {
    /// Keeps the outcome of a full check, replacing the one before.
    pub async fn record_full_check(&self, c: &FullCheckRow) -> Result<(), StoreError> {
        let mut tx = self.begin_write("recording a full check").await?;
        sqlx::query(
            "INSERT INTO full_checks (id, checked_at, as_of, run_id, equal, ticket_differences, registry_differences, summary)
             VALUES (1, $1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at, as_of = excluded.as_of,
               run_id = excluded.run_id, equal = excluded.equal,
               ticket_differences = excluded.ticket_differences,
               registry_differences = excluded.registry_differences, summary = excluded.summary",
        )
        .bind(c.checked_at.clone())
        .bind(c.as_of.clone())
        .bind(c.run_id)
        .bind(i64::from(c.equal))
        .bind(c.ticket_differences as i64)
        .bind(c.registry_differences as i64)
        .bind(c.summary.to_string())
        .execute(&mut *tx)
        .await
        .map_err(doing("recording a full check"))?;
        tx.commit("recording a full check").await
    }

    /// The last full check, if one was ever made.
    pub async fn last_full_check(&self) -> Result<Option<FullCheckRow>, StoreError> {
        let Some(r) = sqlx::query(
            "SELECT checked_at, as_of, run_id, equal, ticket_differences, registry_differences, summary
             FROM full_checks WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(doing("reading the last full check"))?
        else {
            return Ok(None);
        };
        let d = || doing("decoding the last full check");
        let n = |i| r.try_get::<i64, _>(i).map(|v| v.max(0) as u64).map_err(d());
        let summary: String = r.try_get(6).map_err(d())?;
        Ok(Some(FullCheckRow {
            checked_at: r.try_get(0).map_err(d())?,
            as_of: r.try_get(1).map_err(d())?,
            run_id: r.try_get(2).map_err(d())?,
            equal: n(3)? == 1,
            ticket_differences: n(4)?,
            registry_differences: n(5)?,
            summary: serde_json::from_str(&summary).map_err(|e| StoreError::Corrupt {
                what: "full check summary",
                detail: e.to_string(),
            })?,
        }))
    }
}
