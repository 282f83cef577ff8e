//! Feed records in, cursors and feed health out. A batch and the cursor that follows
//! it are committed in one transaction: a crash leaves either both or neither.

use sqlx::Row;

use super::{doing, run_chunks, Backend, Insert, Store, StoreError, WriteTx};
use crate::domain::{format_timestamp, now_local, IdNumber};
use crate::records::{Batch, Hyzk, Malformed, Records};

/// What a commit changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Records stored for the first time (or, for pis, a newer version stored).
    pub new: u64,
    /// Records already stored (redeliveries, overlap re-reads).
    pub seen: u64,
    /// Malformed records kept aside for the first time.
    pub quarantined_new: u64,
    /// Malformed records seen before.
    pub quarantined_seen: u64,
}

/// One stream's row of `feed_state`.
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct FeedStatusRow {
    pub stream: String,
    pub cursor: Option<String>,
    pub last_attempt_at: Option<String>,
    pub last_success_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub newest_record_at: Option<String>,
}

/// `YYYY-MM-DD`: chrono's `Display`, which does not interpret a format string.
fn date(d: chrono::NaiveDate) -> String {
    d.to_string()
}

impl Store {
    /// Stores consecutive batches of one stream and moves its cursor to the last
    /// one's, atomically. Several pages in one transaction write each touched index
    /// page once instead of once per page: SQLite's write volume, not its CPU, is
    /// what limits a large first sync.
    pub async fn commit_batches(&self, batches: &[Batch]) -> Result<CommitStats, StoreError> {
        let Some(last) = batches.last() else {
            return Ok(CommitStats::default());
        };
        let mut tx = self.begin_write("beginning a batch").await?;
        let stats = self.write_batches(&mut tx, batches).await?;
        let now = format_timestamp(now_local());
        let newest = batches
            .iter()
            .filter_map(|b| b.newest_record_at.as_deref())
            .max();
        sqlx::query(
            "INSERT INTO feed_state (stream, cursor, last_attempt_at, newest_record_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (stream) DO UPDATE SET cursor = excluded.cursor, last_attempt_at = excluded.last_attempt_at,
               newest_record_at = CASE WHEN excluded.newest_record_at IS NULL THEN feed_state.newest_record_at
                 WHEN feed_state.newest_record_at IS NULL OR excluded.newest_record_at > feed_state.newest_record_at
                 THEN excluded.newest_record_at ELSE feed_state.newest_record_at END",
        )
        .bind(last.stream)
        .bind(last.cursor.as_str())
        .bind(now)
        .bind(newest)
        .execute(&mut *tx)
        .await
        .map_err(doing("moving a feed cursor"))?;
        tx.commit("committing a batch").await?;
        Ok(stats)
    }

    /// Stores batches' records and malformed records inside `tx`, as a sync does, and
    /// moves the source version when anything was new. The cursor is the caller's.
    pub(super) async fn write_batches(
        &self,
        tx: &mut WriteTx,
        batches: &[Batch],
    ) -> Result<CommitStats, StoreError> {
        let mut stats = CommitStats::default();
        let now = format_timestamp(now_local());
        let mut pis_keys = Vec::new();
        let logging = super::cases::log::logging(tx, self.backend).await?;
        for batch in batches {
            if logging {
                super::cases::log::log_changed(tx, self.backend, &batch.records).await?;
            }
            let total = batch.records.len() as u64;
            let new = insert_records(tx, self.backend, &batch.records).await?;
            stats.new += new;
            stats.seen += total - new.min(total);
            let feed = batch.stream.split('.').next().unwrap_or(batch.stream);
            for m in &batch.malformed {
                if insert_malformed(tx, feed, batch.stream, m, &now).await? {
                    stats.quarantined_new += 1;
                } else {
                    stats.quarantined_seen += 1;
                }
            }
            if let Records::Pis(rows) = &batch.records {
                pis_keys.extend(rows.iter().map(|r| r.record.person_id.as_str()));
            }
        }
        // A record that arrives well-formed replaces its malformed earlier version.
        if !pis_keys.is_empty() && pis_quarantined(tx).await? {
            run_chunks(
                tx,
                self.backend,
                &pis_keys,
                Insert {
                    head: "DELETE FROM quarantine WHERE feed = 'pis' AND (record_key) IN (SELECT column1 FROM (",
                    tail: ") AS fixed)",
                    doing: "clearing fixed pis records from quarantine",
                },
                |q, k| q.bind(*k),
            )
            .await?;
        }
        if stats.new > 0 {
            sqlx::query("UPDATE source_version SET version = version + 1 WHERE id = 1")
                .execute(&mut **tx)
                .await
                .map_err(doing("moving the source version"))?;
        }
        Ok(stats)
    }

    /// How many commits have changed source records so far: part of a
    /// reconciliation's inputs.
    pub async fn source_version(&self) -> Result<i64, StoreError> {
        sqlx::query("SELECT version FROM source_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(doing("reading the source version"))?
            .try_get(0)
            .map_err(doing("reading the source version"))
    }

    /// Where the stream's next pull starts; `None` on a fresh store.
    pub async fn cursor(&self, stream: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT cursor FROM feed_state WHERE stream = $1")
            .bind(stream)
            .fetch_optional(&self.pool)
            .await
            .map_err(doing("reading a feed cursor"))?;
        Ok(row.and_then(|r| r.try_get::<Option<String>, _>(0).ok().flatten()))
    }

    /// Records the end of a pull of a whole feed: success clears the last error.
    pub async fn record_pull_outcome(
        &self,
        streams: &[&str],
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = format_timestamp(now_local());
        for stream in streams {
            let q = match error {
                None => sqlx::query(
                    "INSERT INTO feed_state (stream, last_attempt_at, last_success_at) VALUES ($1, $2, $2)
                     ON CONFLICT (stream) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                       last_success_at = excluded.last_success_at, last_error = NULL, last_error_at = NULL",
                )
                .bind(*stream)
                .bind(now.clone()),
                Some(e) => sqlx::query(
                    "INSERT INTO feed_state (stream, last_attempt_at, last_error, last_error_at) VALUES ($1, $2, $3, $2)
                     ON CONFLICT (stream) DO UPDATE SET last_attempt_at = excluded.last_attempt_at,
                       last_error = excluded.last_error, last_error_at = excluded.last_error_at",
                )
                .bind(*stream)
                .bind(now.clone())
                .bind(e.to_string()),
            };
            q.execute(&self.pool)
                .await
                .map_err(doing("recording a pull outcome"))?;
        }
        Ok(())
    }

    /// Every stream's state row.
    pub async fn feed_states(&self) -> Result<Vec<FeedStatusRow>, StoreError> {
        sqlx::query_as(
            "SELECT stream, cursor, last_attempt_at, last_success_at, last_error, last_error_at, newest_record_at
             FROM feed_state ORDER BY stream",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(doing("reading feed states"))
    }

    /// Distinct stored records per feed, as `status` reports them.
    pub async fn record_counts(&self) -> Result<[(&'static str, i64, i64); 4], StoreError> {
        let mut out = [("psb", 0, 0), ("mca", 0, 0), ("nhc", 0, 0), ("pis", 0, 0)];
        let tables: [&[&str]; 4] = [
            &["psb_rows"],
            &["mca_marriages", "mca_cremations"],
            &["nhc_births", "nhc_deaths"],
            &["pis_rows"],
        ];
        for (slot, tables) in out.iter_mut().zip(tables) {
            for t in tables {
                slot.1 += self.count_rows(t).await?;
            }
            let q: i64 = sqlx::query("SELECT COUNT(*) FROM quarantine WHERE feed = $1")
                .bind(slot.0)
                .fetch_one(&self.pool)
                .await
                .map_err(doing("counting quarantine"))?
                .try_get(0)
                .map_err(doing("counting quarantine"))?;
            slot.2 = q;
        }
        Ok(out)
    }

    /// The quarantine, newest first, for operators.
    pub async fn quarantine(
        &self,
        feed: Option<&str>,
    ) -> Result<Vec<(String, String, String, String)>, StoreError> {
        sqlx::query_as(
            "SELECT feed, record_key, reason, last_seen_at FROM quarantine WHERE ($1 IS NULL OR feed = $1) ORDER BY last_seen_at DESC, record_key",
        )
        .bind(feed.map(str::to_string))
        .fetch_all(&self.pool)
        .await
        .map_err(doing("reading the quarantine"))
    }
}

async fn insert_malformed(
    tx: &mut WriteTx,
    feed: &str,
    stream: &str,
    m: &Malformed,
    now: &str,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO quarantine (feed, stream, record_key, raw, reason, first_seen_at, last_seen_at, times_seen)
         VALUES ($1, $2, $3, $4, $5, $6, $6, 1) ON CONFLICT (feed, record_key) DO NOTHING",
    )
    .bind(feed.to_string())
    .bind(stream.to_string())
    .bind(m.key.clone())
    .bind(m.raw.clone())
    .bind(m.reason.clone())
    .bind(now.to_string())
    .execute(&mut **tx)
    .await
    .map_err(doing("quarantining a malformed record"))?
    .rows_affected();
    if inserted == 0 {
        sqlx::query(
            "UPDATE quarantine SET last_seen_at = $1, times_seen = times_seen + 1, raw = $2, reason = $3
             WHERE feed = $4 AND record_key = $5",
        )
        .bind(now.to_string())
        .bind(m.raw.clone())
        .bind(m.reason.clone())
        .bind(feed.to_string())
        .bind(m.key.clone())
        .execute(&mut **tx)
        .await
        .map_err(doing("updating a quarantined record"))?;
    }
    Ok(inserted > 0)
}

/// Whether the quarantine holds any pis record a well-formed one could replace.
async fn pis_quarantined(tx: &mut WriteTx) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT 1 FROM quarantine WHERE feed = 'pis' LIMIT 1")
        .fetch_optional(&mut **tx)
        .await
        .map_err(doing("looking for quarantined pis records"))?;
    Ok(row.is_some())
}

/// Stores a batch's records; returns how many were new (or, for pis, newer).
async fn insert_records(
    tx: &mut WriteTx,
    backend: Backend,
    records: &Records,
) -> Result<u64, StoreError> {
    match records {
        Records::Psb(rows) => {
            let insert = Insert {
                head: "INSERT INTO psb_rows (lsh, ywlx, id_number, name, sex, birth_date, ethnicity, household, relation,
                 division, from_county, to_county, father_id, mother_id, birth_cert_no, death_date, event_date,
                 recorded_at, raw)",
                tail: "ON CONFLICT (lsh) DO NOTHING",
                doing: "storing feed records",
            };
            run_chunks(tx, backend, rows, insert, |q, w| {
                let r = &w.record;
                let d = r.details.as_deref();
                q.bind(r.lsh.as_str())
                    .bind(r.kind.code())
                    .bind(r.id.as_str())
                    .bind(r.name.as_str())
                    .bind(r.sex.code())
                    .bind(date(r.birth_date))
                    .bind(d.and_then(|d| d.ethnicity.as_deref()))
                    .bind(d.and_then(|d| d.household.as_deref()))
                    .bind(d.and_then(|d| d.relation.as_deref()))
                    .bind(r.division.as_str())
                    .bind(d.and_then(|d| d.from_county.as_deref()))
                    .bind(r.to_county())
                    .bind(d.and_then(|d| d.father_id.as_deref()))
                    .bind(r.mother_id().map(IdNumber::as_str))
                    .bind(r.birth_cert_no())
                    .bind(r.death_date().map(date))
                    .bind(date(r.event_date))
                    .bind(r.recorded_at.as_str())
                    .bind(w.raw.as_str())
            })
            .await
        }
        Records::Marriages(rows) => {
            let insert = Insert {
                head: "INSERT INTO mca_marriages (reg_no, kind, husband_name, husband_id, wife_name, wife_id, reg_date, office, raw)",
                tail: "ON CONFLICT (reg_no) DO NOTHING",
                doing: "storing feed records",
            };
            run_chunks(tx, backend, rows, insert, |q, w| {
                let r = &w.record;
                q.bind(r.reg_no.as_str())
                    .bind(r.kind.zh())
                    .bind(r.husband_name.as_str())
                    .bind(r.husband_id.as_str())
                    .bind(r.wife_name.as_str())
                    .bind(r.wife_id.as_str())
                    .bind(date(r.reg_date))
                    .bind(r.office.as_str())
                    .bind(w.raw.as_str())
            })
            .await
        }
        Records::Cremations(rows) => {
            let insert = Insert {
                head: "INSERT INTO mca_cremations (cert_no, name, sex, id_number, death_date, cremation_date, address, funeral_home, raw)",
                tail: "ON CONFLICT (cert_no) DO NOTHING",
                doing: "storing feed records",
            };
            run_chunks(tx, backend, rows, insert, |q, w| {
                let r = &w.record;
                q.bind(r.cert_no.as_str())
                    .bind(r.name.as_str())
                    .bind(r.sex.code())
                    .bind(r.id.as_ref().map(|i| i.as_str()))
                    .bind(date(r.death_date))
                    .bind(date(r.cremation_date))
                    .bind(r.address.as_str())
                    .bind(r.funeral_home.as_str())
                    .bind(w.raw.as_str())
            })
            .await
        }
        Records::Births(rows) => {
            let insert = Insert {
                head: "INSERT INTO nhc_births (cert_no, version, status, child_name, child_sex, birth_date, mother_name,
                 mother_id, father_name, father_id, facility, residence_code, updated_at, updated_date, raw)",
                tail: "ON CONFLICT (cert_no, version) DO NOTHING",
                doing: "storing feed records",
            };
            run_chunks(tx, backend, rows, insert, |q, w| {
                let r = &w.record;
                q.bind(r.cert_no.as_str())
                    .bind(r.version)
                    .bind(r.status.code())
                    .bind(r.child_name.as_deref())
                    .bind(r.child_sex.code())
                    .bind(date(r.birth_date))
                    .bind(r.mother_name.as_deref())
                    .bind(r.mother_id.as_str())
                    .bind(r.father_name.as_deref())
                    .bind(r.father_id.as_deref())
                    .bind(r.facility.as_deref())
                    .bind(r.residence.as_ref().map(|d| d.as_str()))
                    .bind(r.updated_at.as_str())
                    .bind(date(r.updated_date))
                    .bind(w.raw.as_str())
            })
            .await
        }
        Records::Deaths(rows) => {
            let insert = Insert {
                head: "INSERT INTO nhc_deaths (cert_no, version, status, name, id_number, sex, death_date, residence_code,
                 updated_at, updated_date, raw)",
                tail: "ON CONFLICT (cert_no, version) DO NOTHING",
                doing: "storing feed records",
            };
            run_chunks(tx, backend, rows, insert, |q, w| {
                let r = &w.record;
                q.bind(r.cert_no.as_str())
                    .bind(r.version)
                    .bind(r.status.code())
                    .bind(r.name.as_deref())
                    .bind(r.id.as_ref().map(|i| i.as_str()))
                    .bind(r.sex.code())
                    .bind(date(r.death_date))
                    .bind(r.residence.as_ref().map(|d| d.as_str()))
                    .bind(r.updated_at.as_str())
                    .bind(date(r.updated_date))
                    .bind(w.raw.as_str())
            })
            .await
        }
        Records::Pis(rows) => {
            let insert = Insert {
                head: "INSERT INTO pis_rows (person_id, sfzh, id_norm, name, sex, birth_date, village, marital, mother_id,
                 birth_cert_no, state, deleted, ever_deleted, modified_time, raw)",
                tail: "ON CONFLICT (person_id) DO UPDATE SET sfzh = excluded.sfzh, id_norm = excluded.id_norm,
                 name = excluded.name, sex = excluded.sex, birth_date = excluded.birth_date, village = excluded.village,
                 marital = excluded.marital, mother_id = excluded.mother_id, birth_cert_no = excluded.birth_cert_no,
                 state = excluded.state, deleted = excluded.deleted,
                 ever_deleted = CASE WHEN pis_rows.ever_deleted = 1 THEN 1 ELSE excluded.ever_deleted END,
                 modified_time = excluded.modified_time, raw = excluded.raw
                 WHERE excluded.modified_time > pis_rows.modified_time",
                doing: "storing feed records",
            };
            run_chunks(tx, backend, rows, insert, |q, w| {
                let r = &w.record;
                q.bind(r.person_id.as_str())
                    .bind(r.sfzh.as_str())
                    .bind(r.id_norm.as_str())
                    .bind(r.name.as_str())
                    .bind(r.sex.code())
                    .bind(date(r.birth_date))
                    .bind(r.village.as_str())
                    .bind(r.marital.as_ref().map(Hyzk::code))
                    .bind(r.mother_id())
                    .bind(r.birth_cert_no())
                    .bind(r.state.code())
                    .bind(i64::from(r.deleted))
                    .bind(i64::from(r.ever_deleted))
                    .bind(r.modified_time.as_str())
                    .bind(w.raw.as_str())
            })
            .await
        }
    }
}
