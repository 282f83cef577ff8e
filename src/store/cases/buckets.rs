//! The buckets of the run in progress, shared through the store (table
//! `reconcile_buckets`): the process that leads the run publishes them, and workers of
//! any `popsync` process on the same database claim them one at a time, each bucket's
//! cases' dates recorded and the bucket marked done with its outcome in one
//! transaction.
//!
//! On PostgreSQL a claim is a row lock (`FOR UPDATE SKIP LOCKED`) held by a transaction
//! open for as long as the bucket's work takes: a process that dies lets go of its
//! bucket at once, for another to take. The lead is a transaction-level advisory lock,
//! held the same way. On SQLite, where one process writes at a time, a claim is a mark,
//! and the lead an exclusive lock on a file beside the database.

use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt;

use chrono::NaiveDate;
use sqlx::Row;

use super::write::write_case_dates;
use super::CaseId;
use crate::store::bulk::{run_chunks, Insert};
use crate::store::{doing, Store, StoreError, WriteTx};

/// The advisory lock a run's leader holds on PostgreSQL ("popsync" in ASCII).
const LEAD_LOCK: i64 = 0x0070_6f70_7379_6e63;

/// Leading the reconciliation of this database: held until dropped.
pub struct Lead(Held);

/// What holds a lead.
enum Held {
    /// PostgreSQL: the transaction that holds the advisory lock.
    Postgres(WriteTx),
    /// SQLite: the lock file, locked.
    Sqlite(std::fs::File),
    /// An in-memory SQLite database: no other process can open it.
    Alone,
}

impl Lead {
    /// Lets go of the lead (dropping it does too, a moment later on PostgreSQL).
    pub async fn end(self) {
        match self.0 {
            Held::Postgres(tx) => {
                if let Err(e) = tx.commit("letting go of the lead").await {
                    tracing::warn!(error = %e, "letting go of the lead failed; it goes with the connection");
                }
            }
            Held::Sqlite(file) => {
                let _ = file.unlock();
            }
            Held::Alone => {}
        }
    }
}

/// What a published run asks of the workers that help it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunTerms {
    /// The run's own name, unique to it: a worker still on a bucket of an earlier run
    /// (its leader gone) cannot finish a bucket of this one.
    pub run: String,
    pub as_of: NaiveDate,
    /// The leader's settings text: a helper with other settings must not help.
    pub settings: String,
}

/// One claimed bucket: its cases, and on PostgreSQL the transaction holding its row.
pub struct Claim {
    run: String,
    pub bucket: i64,
    pub cases: Vec<CaseId>,
    tx: Option<WriteTx>,
}

impl Claim {
    /// Lets go of a bucket unfinished, for another worker to take: at once on
    /// PostgreSQL (as when the process dies); on SQLite the bucket stays marked, and
    /// the run fails with the error that stopped its worker.
    pub async fn release(self) {
        if let Some(tx) = self.tx {
            if let Err(e) = tx.rollback("letting go of a bucket").await {
                tracing::warn!(error = %e, "letting go of a bucket failed; it goes with the connection");
            }
        }
    }
}

impl Store {
    /// Takes the lead of this database's reconciliation if no other process holds it.
    pub async fn try_lead(&self) -> Result<Option<Lead>, StoreError> {
        if let Some(mut tx) = self.begin_holding("taking the lead of a run").await? {
            let held: bool = sqlx::query("SELECT pg_try_advisory_xact_lock($1)")
                .bind(LEAD_LOCK)
                .fetch_one(&mut *tx)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(doing("taking the lead of a run"))?;
            if !held {
                // Not left idle in a transaction until the connection is next used.
                tx.rollback("taking the lead of a run").await?;
                return Ok(None);
            }
            return Ok(Some(Lead(Held::Postgres(tx))));
        }
        let Some(path) = &self.lead_file else {
            return Ok(Some(Lead(Held::Alone)));
        };
        // Never through a link another user planted, and readable by popsync alone.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|source| StoreError::LeadFile {
                path: path.display().to_string(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Lead(Held::Sqlite(file)))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(source)) => Err(StoreError::LeadFile {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Publishes a run's buckets (replacing any earlier run's): each a list of cases.
    pub async fn publish_buckets(
        &self,
        terms: &RunTerms,
        buckets: &[&[CaseId]],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write("publishing buckets").await?;
        sqlx::query("DELETE FROM reconcile_buckets")
            .execute(&mut *tx)
            .await
            .map_err(doing("publishing buckets"))?;
        let (run, as_of) = (terms.run.as_str(), terms.as_of.to_string());
        let rows: Vec<(i64, &str, String, &str, &str)> = buckets
            .iter()
            .enumerate()
            .map(|(at, cases)| {
                let cases = serde_json::to_string(cases).unwrap_or_default();
                (
                    at as i64,
                    run,
                    cases,
                    as_of.as_str(),
                    terms.settings.as_str(),
                )
            })
            .collect();
        run_chunks(
            &mut tx,
            self.backend,
            &rows,
            Insert {
                head: "INSERT INTO reconcile_buckets (bucket, run, cases, as_of, settings)",
                tail: "",
                doing: "publishing buckets",
            },
            |q, (at, run, cases, as_of, settings)| {
                q.bind(*at)
                    .bind(*run)
                    .bind(cases.as_str())
                    .bind(*as_of)
                    .bind(*settings)
            },
        )
        .await?;
        tx.commit("publishing buckets").await
    }

    /// The terms of the published run that has buckets left, if any.
    pub async fn open_run(&self) -> Result<Option<RunTerms>, StoreError> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT run, as_of, settings FROM reconcile_buckets WHERE done = 0 ORDER BY bucket LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(doing("reading the run in progress"))?;
        Ok(row.and_then(|(run, as_of, settings)| {
            Some(RunTerms {
                run,
                as_of: as_of.parse().ok()?,
                settings,
            })
        }))
    }

    /// Claims the first bucket of `run` that no worker holds and none finished, if any.
    pub async fn claim_bucket(&self, run: &str) -> Result<Option<Claim>, StoreError> {
        let what = "claiming a bucket";
        let (row, tx) = match self.begin_holding(what).await? {
            Some(mut tx) => {
                let row = sqlx::query(
                    "SELECT bucket, cases FROM reconcile_buckets WHERE run = $1 AND done = 0
                     ORDER BY bucket LIMIT 1 FOR UPDATE SKIP LOCKED",
                )
                .bind(run)
                .fetch_optional(&mut *tx)
                .await
                .map_err(doing(what))?;
                if row.is_none() {
                    tx.rollback(what).await?;
                    return Ok(None);
                }
                (row, Some(tx))
            }
            None => {
                let mut tx = self.begin_write(what).await?;
                let row = sqlx::query(
                    "UPDATE reconcile_buckets SET claimed = 1 WHERE bucket =
                     (SELECT MIN(bucket) FROM reconcile_buckets WHERE run = $1 AND claimed = 0 AND done = 0)
                     RETURNING bucket, cases",
                )
                .bind(run)
                .fetch_optional(&mut *tx)
                .await
                .map_err(doing(what))?;
                tx.commit(what).await?;
                (row, None)
            }
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let bucket: i64 = row.try_get(0).map_err(doing(what))?;
        let cases: String = row.try_get(1).map_err(doing(what))?;
        let cases = serde_json::from_str(&cases).map_err(|e| StoreError::Corrupt {
            what: "bucket",
            detail: format!("bucket {bucket}'s cases: {e}"),
        })?;
        Ok(Some(Claim {
            run: run.to_string(),
            bucket,
            cases,
            tx,
        }))
    }

    /// Finishes a claimed bucket: its cases' next dates (`next`) and its outcome, in the
    /// transaction that holds it, so a bucket is done exactly when its cases are no
    /// longer due.
    pub async fn finish_bucket(
        &self,
        claim: Claim,
        next: &HashMap<CaseId, NaiveDate>,
        outcome: &str,
    ) -> Result<(), StoreError> {
        let what = "finishing a bucket";
        let mut tx = match claim.tx {
            Some(tx) => tx,
            None => self.begin_write(what).await?,
        };
        write_case_dates(&mut tx, self.backend, Some(&claim.cases), next).await?;
        sqlx::query(
            "UPDATE reconcile_buckets SET done = 1, outcome = $3 WHERE run = $1 AND bucket = $2",
        )
        .bind(claim.run.as_str())
        .bind(claim.bucket)
        .bind(outcome)
        .execute(&mut *tx)
        .await
        .map_err(doing(what))?;
        tx.commit(what).await
    }

    /// How many of the published buckets are not done.
    pub async fn buckets_left(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM reconcile_buckets WHERE done = 0")
            .fetch_one(&self.pool)
            .await
            .map_err(doing("counting buckets left"))
    }

    /// The outcomes of the finished buckets, in bucket order; the buckets go.
    pub async fn take_bucket_outcomes(&self) -> Result<Vec<String>, StoreError> {
        let what = "reading the buckets' outcomes";
        let mut tx = self.begin_write(what).await?;
        let outcomes: Vec<String> = sqlx::query_scalar(
            "SELECT outcome FROM reconcile_buckets WHERE done = 1 ORDER BY bucket",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(doing(what))?;
        sqlx::query("DELETE FROM reconcile_buckets")
            .execute(&mut *tx)
            .await
            .map_err(doing(what))?;
        tx.commit(what).await?;
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On SQLite one store at a time holds the lead, until it lets go; a lead file that
    /// is a link (planted by another user) is refused, never locked through.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite_one_store_leads_and_a_planted_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let (a, b) = (
            Store::open(&url).await.unwrap(),
            Store::open(&url).await.unwrap(),
        );
        let lead = a.try_lead().await.unwrap().expect("the first leads");
        assert!(b.try_lead().await.unwrap().is_none(), "the second waits");
        lead.end().await;
        let lead = b.try_lead().await.unwrap().expect("then the second leads");
        lead.end().await;

        let other = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", other.path().join("q.db").display());
        let target = other.path().join("someone-elses");
        std::fs::write(&target, "").unwrap();
        std::os::unix::fs::symlink(&target, other.path().join("q.db-lead")).unwrap();
        let store = Store::open(&url).await.unwrap();
        assert!(matches!(
            store.try_lead().await,
            Err(StoreError::LeadFile { .. })
        ));
        for s in [a, b, store] {
            s.close().await;
        }
    }
}
