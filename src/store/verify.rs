//! What `popsync verify` asks of the store: the stored version of the records a feed
//! serves (looked up a page at a time, so memory does not grow with the city), a
//! repair written the way a sync writes, and the last comparison per feed.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::{doing, values_placeholders, Store, StoreError};
use crate::domain::{format_timestamp, now_local};
use crate::records::{Batch, Records};

/// Keys looked up per statement.
const LOOKUP_CHUNK: usize = 500;

/// One stored record, as a comparison needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// The exact text the department sent when it was stored.
    pub raw: String,
    /// pis: the stored `modifiedTime` (a newer stored version is no difference).
    pub modified_time: String,
}

/// One feed's comparison of what it serves with what is stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyCounts {
    /// Distinct records the department served, well-formed or not.
    pub served: u64,
    /// Records stored or quarantined when the comparison ended.
    pub stored: u64,
    /// Served, and neither stored nor quarantined.
    pub missing: u64,
    /// Stored with other content than served.
    pub changed: u64,
    /// Stored, and no longer served.
    pub extra: u64,
    /// Missing and changed records stored by `--repair`.
    pub repaired: u64,
}

impl VerifyCounts {
    /// Whether the store holds exactly what the feed serves.
    pub fn matches(&self) -> bool {
        self.missing == 0 && self.changed == 0 && self.extra == 0
    }
}

/// The last comparison of one feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyRow {
    pub feed: String,
    pub finished_at: String,
    pub repair: bool,
    pub counts: VerifyCounts,
}

/// The table a stream's records live in, the expression that gives their key, and the
/// column the lookup narrows by (nhc keys are `certificateNo#version`).
fn table_of(stream: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match stream {
        "psb" => ("psb_rows", "lsh", "lsh"),
        "mca.marriage" => ("mca_marriages", "reg_no", "reg_no"),
        "mca.cremation" => ("mca_cremations", "cert_no", "cert_no"),
        "nhc.birth" => (
            "nhc_births",
            "cert_no || '#' || CAST(version AS TEXT)",
            "cert_no",
        ),
        "nhc.death" => (
            "nhc_deaths",
            "cert_no || '#' || CAST(version AS TEXT)",
            "cert_no",
        ),
        "pis" => ("pis_rows", "person_id", "person_id"),
        _ => return None,
    })
}

/// The part of a key the lookup column holds.
fn narrowed(key: &str) -> &str {
    key.split('#').next().unwrap_or(key)
}

fn unknown(stream: &str) -> StoreError {
    StoreError::UnknownStream(stream.to_string())
}

impl Store {
    /// The stored version of each of `keys` that is stored, by key.
    pub async fn stored_records(
        &self,
        stream: &str,
        keys: &[String],
    ) -> Result<HashMap<String, StoredRecord>, StoreError> {
        let (table, key, column) = table_of(stream).ok_or_else(|| unknown(stream))?;
        let extra = if stream == "pis" {
            "modified_time"
        } else {
            "''"
        };
        let mut narrow: Vec<&str> = keys.iter().map(|k| narrowed(k)).collect();
        narrow.sort_unstable();
        narrow.dedup();
        let mut out = HashMap::with_capacity(keys.len());
        for chunk in narrow.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT {key}, raw, {extra} FROM {table} WHERE {column} IN (VALUES {})",
                values_placeholders(self.backend, chunk.len(), 1)
            );
            let rows = chunk
                .iter()
                .fold(sqlx::query(&sql).persistent(false), |q, k| q.bind(*k))
                .fetch_all(&self.pool)
                .await
                .map_err(doing("reading stored records to compare"))?;
            for r in rows {
                let text = |i| {
                    r.try_get::<String, _>(i)
                        .map_err(doing("decoding a stored record"))
                };
                out.insert(
                    text(0)?,
                    StoredRecord {
                        raw: text(1)?,
                        modified_time: text(2)?,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Which of `keys` the quarantine holds for `feed`.
    pub async fn quarantined_keys(
        &self,
        feed: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let mut out = HashSet::new();
        for chunk in keys.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT feed, record_key FROM quarantine WHERE record_key IN (VALUES {})",
                values_placeholders(self.backend, chunk.len(), 1)
            );
            let rows = chunk
                .iter()
                .fold(sqlx::query(&sql).persistent(false), |q, k| {
                    q.bind(k.as_str())
                })
                .fetch_all(&self.pool)
                .await
                .map_err(doing("reading quarantined keys to compare"))?;
            for r in rows {
                let text = |i| {
                    r.try_get::<String, _>(i)
                        .map_err(doing("decoding a quarantined key"))
                };
                if text(0)? == feed {
                    out.insert(text(1)?);
                }
            }
        }
        Ok(out)
    }

    /// Stores a repair: the batch's records the way a sync stores them, in one
    /// transaction, replacing the stored versions of `replace` (records stored with
    /// other content). Moves no cursor. Returns the records written.
    ///
    /// A pis record is replaced only while its stored `modifiedTime` is not newer than
    /// the one served: its stored time is set back, so the sync's own upsert (newer
    /// wins, a `delFlag` 1 once seen is kept) takes the served version. A sync that
    /// stored a newer version since the verify read the page keeps it. The other
    /// feeds' rows never change once stored, so theirs are removed and stored again.
    pub async fn repair(&self, batch: &Batch, replace: &[String]) -> Result<u64, StoreError> {
        let mut tx = self.begin_write("beginning a repair").await?;
        if let Records::Pis(rows) = &batch.records {
            for r in rows
                .iter()
                .filter(|r| replace.iter().any(|k| k == r.record.person_id.as_str()))
            {
                sqlx::query(
                    "UPDATE pis_rows SET modified_time = '' WHERE person_id = $1 AND modified_time <= $2",
                )
                .bind(r.record.person_id.as_str())
                .bind(r.record.modified_time.as_str())
                .execute(&mut *tx)
                .await
                .map_err(doing("setting back a pis record a repair replaces"))?;
            }
        } else if !replace.is_empty() {
            let (table, key, _) = table_of(batch.stream).ok_or_else(|| unknown(batch.stream))?;
            for chunk in replace.chunks(LOOKUP_CHUNK) {
                let sql = format!(
                    "DELETE FROM {table} WHERE {key} IN (VALUES {})",
                    values_placeholders(self.backend, chunk.len(), 1)
                );
                chunk
                    .iter()
                    .fold(sqlx::query(&sql).persistent(false), |q, k| {
                        q.bind(k.as_str())
                    })
                    .execute(&mut *tx)
                    .await
                    .map_err(doing("removing stored versions a repair replaces"))?;
            }
        }
        let stats = self
            .write_batches(&mut tx, std::slice::from_ref(batch))
            .await?;
        tx.commit("committing a repair").await?;
        Ok(stats.new + stats.quarantined_new)
    }

    /// Keeps the outcome of one feed's comparison, for `status` and the metrics.
    pub async fn record_verify(
        &self,
        feed: &str,
        repair: bool,
        c: &VerifyCounts,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write("recording a verify").await?;
        sqlx::query(
            "INSERT INTO verify_runs (feed, finished_at, repair, served, stored, missing, changed, extra, repaired)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (feed) DO UPDATE SET finished_at = excluded.finished_at, repair = excluded.repair,
               served = excluded.served, stored = excluded.stored, missing = excluded.missing,
               changed = excluded.changed, extra = excluded.extra, repaired = excluded.repaired",
        )
        .bind(feed.to_string())
        .bind(format_timestamp(now_local()))
        .bind(i64::from(repair))
        .bind(c.served as i64)
        .bind(c.stored as i64)
        .bind(c.missing as i64)
        .bind(c.changed as i64)
        .bind(c.extra as i64)
        .bind(c.repaired as i64)
        .execute(&mut *tx)
        .await
        .map_err(doing("recording a verify"))?;
        tx.commit("recording a verify").await
    }

    /// The last comparison of every feed that was ever verified.
    pub async fn last_verifies(&self) -> Result<Vec<VerifyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT feed, finished_at, repair, served, stored, missing, changed, extra, repaired
             FROM verify_runs ORDER BY feed",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(doing("reading verify results"))?;
        rows.iter()
            .map(|r| {
                let n = |i| {
                    r.try_get::<i64, _>(i)
                        .map(|v| v.max(0) as u64)
                        .map_err(doing("decoding a verify result"))
                };
                Ok(VerifyRow {
                    feed: r.try_get(0).map_err(doing("decoding a verify result"))?,
                    finished_at: r.try_get(1).map_err(doing("decoding a verify result"))?,
                    repair: n(2)? == 1,
                    counts: VerifyCounts {
                        served: n(3)?,
                        stored: n(4)?,
                        missing: n(5)?,
                        changed: n(6)?,
                        extra: n(7)?,
                        repaired: n(8)?,
                    },
                })
            })
            .collect()
    }
}
