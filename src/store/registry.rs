//! The registry tables: golden records and record links. Written as a difference
//! against what is stored, so a run that changes nothing writes nothing.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::snapshot::{opt_text, text, TableRead};
use super::{doing, run_chunks, Insert, Store, StoreError, CHUNK};
use crate::reconcile::{GoldenRecord, Link};

/// A stored golden record.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PersonRow {
    pub person_key: String,
    pub township: Option<String>,
    pub state: String,
    pub record: serde_json::Value,
}

/// A stored link from a source record.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LinkRow {
    pub source: String,
    pub record_key: String,
    pub reason: Option<String>,
}

/// What a registry write changed.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct RegistryWrite {
    pub persons_written: u64,
    pub persons_removed: u64,
    pub links_written: u64,
    pub links_removed: u64,
}

/// A digest of everything a golden record says, in field order.
fn person_digest(p: &GoldenRecord) -> String {
    let mut h = Sha256::new();
    h.update(p.state.as_bytes());
    h.update(
        p.township
            .map(|t| t.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    for f in &p.fields {
        for part in [f.name, f.value.as_str(), f.source, f.record.as_str()] {
            h.update(part.as_bytes());
            h.update([0]);
        }
    }
    h.finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A write that changes at least this many golden records, and at least half of
/// them, rebuilds the indexes below instead of updating them.
const BULK_WRITE_MIN: usize = 1_000;

/// The registry's secondary indexes, as the migrations create them.
const SECONDARY_INDEXES: [(&str, &str); 2] = [
    ("persons_township", "persons (township)"),
    ("record_links_person", "record_links (person_key)"),
];

/// A golden record on its way into `persons`.
struct PersonInsert<'a> {
    key: &'a str,
    id: Option<String>,
    township: Option<String>,
    state: &'static str,
    json: String,
    digest: &'a str,
}

const PERSON_DIGESTS: TableRead = TableRead {
    table: "persons",
    columns: "person_key, digest",
    key: &["person_key"],
};
const LINKS: TableRead = TableRead {
    table: "record_links",
    columns: "source, record_key, person_key, reason",
    key: &["source", "record_key"],
};

impl Store {
    /// Brings the registry tables to the given content, writing only what differs. A
    /// digest of the whole registry, kept from the last write, makes an unchanged run
    /// read and write nothing.
    pub async fn write_registry(
        &self,
        persons: &[GoldenRecord],
        links: &[Link],
    ) -> Result<RegistryWrite, StoreError> {
        // Digests come from the fields themselves: JSON is built only for the persons
        // that changed, which after the first run is almost none.
        let digests: Vec<String> = persons.iter().map(person_digest).collect();
        let mut whole = Sha256::new();
        for (p, d) in persons.iter().zip(&digests) {
            whole.update(p.key.as_bytes());
            whole.update(d.as_bytes());
        }
        for l in links {
            whole.update(l.source.as_bytes());
            whole.update(l.record_key.as_bytes());
            whole.update(l.person_key.as_deref().unwrap_or("-").as_bytes());
            whole.update(l.reason.unwrap_or("").as_bytes());
        }
        let whole: String = whole
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let last: Option<String> = sqlx::query("SELECT digest FROM registry_state WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(doing("reading the registry digest"))?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(doing("reading the registry digest"))?;
        let mut write = RegistryWrite::default();
        if last.as_deref() == Some(whole.as_str()) {
            return Ok(write);
        }

        let mut stored: HashMap<String, String> = HashMap::new();
        self.read_table(&PERSON_DIGESTS, |r| {
            stored.insert(text(r, 0)?, text(r, 1)?);
            Ok(())
        })
        .await?;
        let mut stored_links: HashMap<(String, String), (Option<String>, Option<String>)> =
            HashMap::new();
        self.read_table(&LINKS, |r| {
            stored_links.insert(
                (text(r, 0)?, text(r, 1)?),
                (opt_text(r, 2)?, opt_text(r, 3)?),
            );
            Ok(())
        })
        .await?;

        let mut tx = self.begin_write("beginning a registry write").await?;
        let mut changed: Vec<(&GoldenRecord, String)> = Vec::new();
        for (p, d) in persons.iter().zip(digests) {
            if stored.remove(&p.key).as_deref() != Some(d.as_str()) {
                changed.push((p, d));
            }
        }
        // In key order, B-tree pages fill one after another instead of being split
        // and rewritten at random.
        changed.sort_unstable_by(|a, b| a.0.key.cmp(&b.0.key));
        // A bulk write (the first run, or a change of rules) builds the secondary
        // indexes afterwards, by sorting, instead of updating them row by row.
        let bulk = changed.len() >= BULK_WRITE_MIN && changed.len() * 2 >= persons.len();
        if bulk {
            for (name, _) in SECONDARY_INDEXES {
                sqlx::query(&format!("DROP INDEX IF EXISTS {name}"))
                    .execute(&mut *tx)
                    .await
                    .map_err(doing("dropping a registry index for a bulk write"))?;
            }
        }
        // JSON is built a statement's worth at a time, never for the whole registry.
        for chunk in changed.chunks(CHUNK) {
            let rows: Vec<PersonInsert> = chunk
                .iter()
                .map(|(p, d)| PersonInsert {
                    key: &p.key,
                    id: p.id.map(|i| i.to_string()),
                    township: p.township.map(|t| t.to_string()),
                    state: p.state,
                    json: p.to_json_string(),
                    digest: d,
                })
                .collect();
            write.persons_written += run_chunks(
                &mut tx,
                self.backend,
                &rows,
                Insert {
                    head: "INSERT INTO persons (person_key, id_number, township, state, record, digest)",
                    tail: "ON CONFLICT (person_key) DO UPDATE SET id_number = excluded.id_number, township = excluded.township,
                     state = excluded.state, record = excluded.record, digest = excluded.digest",
                    cols: 6,
                    doing: "writing golden records",
                },
                |q, p| {
                    q.bind(p.key)
                        .bind(p.id.as_deref())
                        .bind(p.township.as_deref())
                        .bind(p.state)
                        .bind(p.json.as_str())
                        .bind(p.digest)
                },
            )
            .await?;
        }
        for key in stored.keys() {
            sqlx::query("DELETE FROM persons WHERE person_key = $1")
                .bind(key.clone())
                .execute(&mut *tx)
                .await
                .map_err(doing("removing golden records"))?;
            write.persons_removed += 1;
        }

        let mut changed: Vec<&Link> = Vec::new();
        for l in links {
            let now = (l.person_key.clone(), l.reason.map(str::to_string));
            if stored_links.remove(&(l.source.to_string(), l.record_key.clone())) != Some(now) {
                changed.push(l);
            }
        }
        changed.sort_unstable_by(|a, b| (a.source, &a.record_key).cmp(&(b.source, &b.record_key)));
        write.links_written += run_chunks(
            &mut tx,
            self.backend,
            &changed,
            Insert {
                head: "INSERT INTO record_links (source, record_key, person_key, reason)",
                tail: "ON CONFLICT (source, record_key) DO UPDATE SET person_key = excluded.person_key, reason = excluded.reason",
                cols: 4,
                doing: "writing record links",
            },
            |q, l| {
                q.bind(l.source)
                    .bind(l.record_key.as_str())
                    .bind(l.person_key.as_deref())
                    .bind(l.reason)
            },
        )
        .await?;
        for (source, key) in stored_links.keys() {
            sqlx::query("DELETE FROM record_links WHERE source = $1 AND record_key = $2")
                .bind(source.clone())
                .bind(key.clone())
                .execute(&mut *tx)
                .await
                .map_err(doing("removing record links"))?;
            write.links_removed += 1;
        }
        if bulk {
            for (name, on) in SECONDARY_INDEXES {
                sqlx::query(&format!("CREATE INDEX {name} ON {on}"))
                    .execute(&mut *tx)
                    .await
                    .map_err(doing("rebuilding a registry index after a bulk write"))?;
            }
        }
        sqlx::query("INSERT INTO registry_state (id, digest) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET digest = excluded.digest")
            .bind(whole)
            .execute(&mut *tx)
            .await
            .map_err(doing("recording the registry digest"))?;
        tx.commit("committing a registry write").await?;
        Ok(write)
    }

    /// One golden record, scoped to a township when one is given: the person's own
    /// township, or one that holds a ticket about them (it must see whom it is asked to fix).
    pub async fn person(
        &self,
        key: &str,
        township: Option<&str>,
    ) -> Result<Option<PersonRow>, StoreError> {
        let row = sqlx::query("SELECT person_key, township, state, record FROM persons WHERE person_key = $1 AND ($2 IS NULL OR township = $2
             OR EXISTS (SELECT 1 FROM tickets WHERE tickets.person_key = persons.person_key AND tickets.township = $2))")
            .bind(key.to_string())
            .bind(township.map(str::to_string))
            .fetch_optional(&self.pool)
            .await
            .map_err(doing("reading a golden record"))?;
        let Some(r) = row else { return Ok(None) };
        let d = || doing("decoding a golden record");
        let record: String = r.try_get(3).map_err(d())?;
        Ok(Some(PersonRow {
            person_key: r.try_get(0).map_err(d())?,
            township: r.try_get(1).map_err(d())?,
            state: r.try_get(2).map_err(d())?,
            record: serde_json::from_str(&record).map_err(|e| StoreError::Corrupt {
                what: "golden record",
                detail: e.to_string(),
            })?,
        }))
    }

    /// Every source record linked to a person.
    pub async fn person_links(&self, key: &str) -> Result<Vec<LinkRow>, StoreError> {
        let rows = sqlx::query("SELECT source, record_key, reason FROM record_links WHERE person_key = $1 ORDER BY source, record_key")
            .bind(key.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(doing("reading links"))?;
        rows.iter()
            .map(|r| {
                let d = || doing("decoding a link");
                Ok(LinkRow {
                    source: r.try_get(0).map_err(d())?,
                    record_key: r.try_get(1).map_err(d())?,
                    reason: r.try_get(2).map_err(d())?,
                })
            })
            .collect()
    }
}
