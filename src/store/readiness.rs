//! What readiness for the inspection counts (issue 17): each township's active
//! register records and open tickets, and its open tickets after each as-of date's
//! last run (`open_history`). Counts only. Every query takes the township it serves
//! as a bind parameter, `None` for the whole city.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::{doing, run_chunks, Insert, Store, StoreError, WriteTx};
use crate::config::{CityConfig, InspectionConfig};
use crate::tickets::readiness::{
    history, readiness, Counted, HistoryPoint, OpenByTownship, Standing,
};
use crate::tickets::summary::Summary;

impl Store {
    /// The summary sheet of a printed list within `township` (or the city) on `today`:
    /// readiness and the burn-down, exactly as `popsync readiness` and the API give them.
    pub async fn summary(
        &self,
        township: Option<&str>,
        today: NaiveDate,
        city: &CityConfig,
        inspection: &InspectionConfig,
    ) -> Result<Summary, StoreError> {
        let counted = self
            .readiness_counts(township, today, inspection.fix_within_days)
            .await?;
        let points = counted.history.clone();
        Ok(Summary {
            readiness: readiness(counted, city, inspection, today, township),
            history: history(points, city, inspection, township),
        })
    }

    /// What readiness on `today` within `township` (or the city) is computed from
    /// (`tickets::readiness::readiness`): a ticket is overdue once open longer than
    /// `fix_within_days`.
    pub async fn readiness_counts(
        &self,
        township: Option<&str>,
        today: NaiveDate,
        fix_within_days: u32,
    ) -> Result<Counted, StoreError> {
        // Opened on a day before this one: open longer than `fix_within_days`.
        let overdue_before = today - chrono::Duration::days(i64::from(fix_within_days));
        Ok(Counted {
            standings: self
                .readiness_standing(township, &overdue_before.to_string())
                .await?,
            history: self.open_history(township).await?,
        })
    }

    /// Each township's standing within `township` (or the city): its active register
    /// records (`zt = 1`, `delFlag` 1 never seen, by the first nine digits of
    /// `cunCode`), its open tickets per kind, and how many of those were opened before
    /// `overdue_before` (a `YYYY-MM-DD` date: opened on an earlier day). A township
    /// with neither records nor open tickets is not listed.
    async fn readiness_standing(
        &self,
        township: Option<&str>,
        overdue_before: &str,
    ) -> Result<Vec<Standing>, StoreError> {
        let scope = township.map(str::to_string);
        let records: Vec<(String, i64)> = sqlx::query_as(
            "SELECT substr(village, 1, 9), COUNT(*) FROM pis_rows
             WHERE state = 1 AND ever_deleted = 0 AND village IS NOT NULL
               AND ($1 IS NULL OR substr(village, 1, 9) = $1)
             GROUP BY substr(village, 1, 9)",
        )
        .bind(scope.clone())
        .fetch_all(&self.pool)
        .await
        .map_err(doing("counting register records per township"))?;
        let tickets: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT township, kind, COUNT(*), SUM(CASE WHEN opened_at < $2 THEN 1 ELSE 0 END)
             FROM tickets WHERE status = 'open' AND ($1 IS NULL OR township = $1)
             GROUP BY township, kind",
        )
        .bind(scope)
        .bind(overdue_before.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(doing("counting open tickets per township"))?;
        let mut out: BTreeMap<String, Standing> = BTreeMap::new();
        for (township, records) in records {
            standing(&mut out, township).records = count(records);
        }
        for (township, kind, open, overdue) in tickets {
            let s = standing(&mut out, township);
            s.open_by_kind.insert(kind, count(open));
            s.overdue += count(overdue);
        }
        Ok(out.into_values().collect())
    }

    /// Open tickets per township and kind, a township that has any ticket listed even
    /// when none is open: what a run whose inputs were unchanged records.
    pub async fn open_by_township(&self) -> Result<OpenByTownship, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT township, kind, SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END)
             FROM tickets GROUP BY township, kind",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(doing("counting open tickets per township"))?;
        let mut out = OpenByTownship::new();
        for (township, kind, open) in rows {
            let kinds = out.entry(township).or_default();
            if open > 0 {
                kinds.insert(kind, count(open));
            }
        }
        Ok(out)
    }

    /// Each township's burn-down within `township` (or the city), oldest first.
    pub async fn open_history(
        &self,
        township: Option<&str>,
    ) -> Result<BTreeMap<String, Vec<HistoryPoint>>, StoreError> {
        let rows: Vec<(String, String, i64, String, i64, String)> = sqlx::query_as(
            "SELECT township, as_of, run_id, finished_at, open_count, open_by_kind FROM open_history
             WHERE ($1 IS NULL OR township = $1) ORDER BY township, as_of",
        )
        .bind(township.map(str::to_string))
        .fetch_all(&self.pool)
        .await
        .map_err(doing("reading the burn-down"))?;
        let mut out: BTreeMap<String, Vec<HistoryPoint>> = BTreeMap::new();
        for (township, as_of, run_id, finished_at, open, kinds) in rows {
            let corrupt = |detail: String| StoreError::Corrupt {
                what: "burn-down point",
                detail,
            };
            out.entry(township).or_default().push(HistoryPoint {
                as_of: as_of.parse().map_err(|_| corrupt(as_of.clone()))?,
                run_id,
                finished_at,
                open: count(open),
                open_by_kind: serde_json::from_str(&kinds).map_err(|e| corrupt(e.to_string()))?,
            });
        }
        Ok(out)
    }
}

/// The township's standing in `out`, added empty when it is not there yet.
fn standing(out: &mut BTreeMap<String, Standing>, township: String) -> &mut Standing {
    out.entry(township.clone()).or_insert_with(|| Standing {
        township,
        ..Standing::default()
    })
}

/// A count as SQL returns it.
fn count(n: i64) -> u64 {
    n.max(0) as u64
}

/// Stores a run's burn-down points, one per township, replacing that township's
/// point of the same as-of date: the day's last run stands for the day.
/// A reconciliation run as stored with its last ticket changes.
pub struct RunRecord<'a> {
    pub as_of: &'a str,
    pub started_at: &'a str,
    pub summary: &'a serde_json::Value,
    /// Each township's open tickets after the changes: the day's burn-down points.
    pub open: &'a OpenByTownship,
}

pub(super) async fn record_open_history(
    tx: &mut WriteTx,
    backend: super::Backend,
    run_id: i64,
    as_of: &str,
    finished_at: &str,
    open: &OpenByTownship,
) -> Result<(), StoreError> {
    let rows: Vec<(&str, i64, String)> = open
        .iter()
        .map(|(township, kinds)| {
            let total: u64 = kinds.values().sum();
            let json = serde_json::to_string(kinds).unwrap_or_else(|_| "{}".into());
            (township.as_str(), total as i64, json)
        })
        .collect();
    run_chunks(
        tx,
        backend,
        &rows,
        Insert {
            head: "INSERT INTO open_history (township, as_of, run_id, finished_at, open_count, open_by_kind)",
            tail: "ON CONFLICT (township, as_of) DO UPDATE SET run_id = excluded.run_id,
                   finished_at = excluded.finished_at, open_count = excluded.open_count,
                   open_by_kind = excluded.open_by_kind",
            doing: "recording the burn-down",
        },
        |q, (township, total, json)| {
            q.bind(*township)
                .bind(as_of)
                .bind(run_id)
                .bind(finished_at)
                .bind(*total)
                .bind(json.as_str())
        },
    )
    .await?;
    Ok(())
}
