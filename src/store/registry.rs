//! The registry tables: golden records, each with the source records that denote it,
//! and the source records that denote nobody. Written as a difference against what is
//! stored, so a run that changes nothing writes nothing. `compare_registry` is the same
//! difference, read only, for `popsync reconcile --full`: it uses the write's digests,
//! so the check and the write cannot disagree on what differs.

use std::borrow::Cow;
use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::cases::CaseId;
use super::registry_fresh::copy_fresh_registry;
use super::registry_spill::RegistrySpill;
use super::snapshot::{case_cell, text, Cell, TableRead};
use super::{doing, run_chunks, Insert, Store, StoreError, CHUNK};
use crate::domain::hex;
use crate::domain::TownshipCode;
use crate::reconcile::{GoldenRecord, Persons, Unlinked};

/// A stored golden record, in the shape `popsync person` and the API show.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PersonRow {
    pub person_key: String,
    pub township: Option<String>,
    pub state: String,
    /// `{"fields": {NAME: {"record", "source", "value"}}, "key", "state", "township"}`.
    pub record: serde_json::Value,
}

/// A source record linked to a person.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LinkRow {
    pub source: String,
    pub record_key: String,
    /// Why the record denotes nobody; always empty for a person's own links.
    pub reason: Option<String>,
}

/// What a registry write changed.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RegistryWrite {
    pub persons_written: u64,
    pub persons_removed: u64,
    pub unlinked_written: u64,
    pub unlinked_removed: u64,
}

impl std::ops::AddAssign for RegistryWrite {
    fn add_assign(&mut self, other: RegistryWrite) {
        self.persons_written += other.persons_written;
        self.persons_removed += other.persons_removed;
        self.unlinked_written += other.unlinked_written;
        self.unlinked_removed += other.unlinked_removed;
    }
}

/// How the stored registry differs from a recompute (`compare_registry`): counts, a
/// few masked person keys, and a digest of each side to compare by eye.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RegistryComparison {
    pub persons_recomputed: u64,
    pub persons_stored: u64,
    /// Golden records stored with another digest than the recompute gives.
    pub persons_changed: u64,
    /// Golden records the recompute has and the store lacks.
    pub persons_missing: u64,
    /// Golden records stored that the recompute does not have.
    pub persons_extra: u64,
    /// Records that denote nobody, missing from the store or stored with another reason.
    pub unlinked_missing_or_changed: u64,
    pub unlinked_extra: u64,
    /// Up to five differing persons, their keys masked.
    pub examples: Vec<String>,
    /// SHA-256 over the recompute's sorted (person_key, digest) pairs.
    pub recomputed_digest: String,
    /// SHA-256 over the stored sorted (person_key, digest) pairs.
    pub stored_digest: String,
}

impl RegistryComparison {
    /// Every golden record and every record that denotes nobody that differs.
    pub fn differences(&self) -> u64 {
        self.persons_changed
            + self.persons_missing
            + self.persons_extra
            + self.unlinked_missing_or_changed
            + self.unlinked_extra
    }
}

/// SHA-256 over (key, digest) pairs in key order, in hex.
fn pairs_digest<'s>(pairs: impl Iterator<Item = (&'s str, &'s str)>) -> String {
    let mut h = Sha256::new();
    for (key, digest) in pairs {
        for part in [key, digest] {
            h.update(part.as_bytes());
            h.update([0]);
        }
    }
    hex(&h.finalize())
}

/// A golden record as stored in `persons.record`: `{"fields": [[NAME, VALUE, REF]],
/// "refs": [[SOURCE, RECORD]], "links": [[SOURCE, RECORD]]}`. A field names its
/// record by its place in `refs`, since most fields of a person come from one record:
/// a million people's text, links included, is 300 MB where the earlier form, with
/// each field's record spelled out and no links, was 564 MB.
#[derive(serde::Deserialize)]
struct StoredRecord {
    fields: Vec<(String, String, usize)>,
    refs: Vec<(String, String)>,
    links: Vec<(String, String)>,
}

/// Writes a golden record's stored text into `out` (cleared first).
fn stored_text(p: &GoldenRecord<'_>, out: &mut String) {
    out.clear();
    out.push_str("{\"fields\":[");
    for (i, f) in p.fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        json_str(out, f.name);
        out.push(',');
        json_str(out, &f.value);
        out.push(',');
        push_decimal(out, f.from);
        out.push(']');
    }
    out.push_str("],\"refs\":");
    json_pairs(out, p.refs.iter().map(|r| (r.source, r.key.as_ref())));
    out.push_str(",\"links\":");
    json_pairs(out, p.links.iter().map(|l| (l.source, l.key.as_ref())));
    out.push('}');
}

/// `n` in decimal, without the formatting machinery (six of these a golden record).
fn push_decimal(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + n / 10 % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

fn json_pairs<'s>(out: &mut String, pairs: impl Iterator<Item = (&'s str, &'s str)>) {
    out.push('[');
    for (i, (a, b)) in pairs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        json_str(out, a);
        out.push(',');
        json_str(out, b);
        out.push(']');
    }
    out.push(']');
}

/// A JSON string literal. Names, codes and keys almost never hold a character JSON
/// escapes: those are copied as they are, the rest go through serde_json (serialising
/// a `str` cannot fail).
fn json_str(out: &mut String, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// The stored text back in the shape `popsync person` and the API show.
fn expanded(
    key: &str,
    township: Option<&str>,
    state: &str,
    r: &StoredRecord,
) -> Result<serde_json::Value, StoreError> {
    let mut fields = serde_json::Map::new();
    for (name, value, at) in &r.fields {
        let (source, record) = r.refs.get(*at).ok_or_else(|| StoreError::Corrupt {
            what: "golden record",
            detail: format!("field {name} names record {at} of {}", r.refs.len()),
        })?;
        fields.insert(
            name.clone(),
            serde_json::json!({"record": record, "source": source, "value": value}),
        );
    }
    Ok(serde_json::json!({"fields": fields, "key": key, "state": state, "township": township}))
}

/// The first 12 bytes of a SHA-256, in hex: enough to tell a change.
fn short_hex(digest: &[u8]) -> String {
    hex(&digest[..12])
}

/// A digest of everything a golden record says: its state, township and stored text
/// (built into `buf`), hashed in one pass.
fn person_digest(p: &GoldenRecord<'_>, buf: &mut String) -> String {
    stored_text(p, buf);
    text_digest(p, buf)
}

/// The digest of a golden record whose stored text is `text`.
fn text_digest(p: &GoldenRecord<'_>, text: &str) -> String {
    let township = p.township.as_ref().map(|t| t.as_str()).unwrap_or_default();
    let mut h = Sha256::new();
    for part in [p.state.as_str(), township] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(text);
    short_hex(&h.finalize())
}

/// Every golden record's digest, in order; the halves on two cores.
fn digests_of<'a>(persons: &(impl Persons<'a> + ?Sized)) -> Vec<String> {
    let of = |range: std::ops::Range<usize>| {
        let mut buf = String::new();
        range
            .map(|at| person_digest(&persons.golden(at), &mut buf))
            .collect::<Vec<_>>()
    };
    let (n, half) = (persons.count(), persons.count() / 2);
    let (second, mut digests) = crate::parallel::join(|| of(half..n), || of(0..half));
    digests.extend(second);
    digests
}

/// The rows of one statement of golden records (by their place among `persons`),
/// each with its stored text. A person without a digest yet gets one from that text.
pub(super) fn person_rows<'p, 'a: 'p>(
    persons: &'p (impl Persons<'a> + ?Sized),
    chunk: &[(usize, Option<&'p str>)],
) -> Vec<PersonInsert<'p>> {
    chunk
        .iter()
        .map(|&(at, d)| {
            let p = persons.golden(at);
            // Room for most golden records (a million average 270 bytes) at once.
            let mut text = String::with_capacity(384);
            stored_text(&p, &mut text);
            let digest = match d {
                Some(d) => Cow::Borrowed(d),
                None => Cow::Owned(text_digest(&p, &text)),
            };
            PersonInsert {
                at,
                key: persons.key(at),
                township: p.township,
                state: p.state.as_str(),
                text,
                digest,
            }
        })
        .collect()
}

/// A golden record on its way into `persons`.
pub(super) struct PersonInsert<'a> {
    /// The person's place among those written.
    pub at: usize,
    pub key: &'a str,
    pub township: Option<TownshipCode>,
    pub state: &'static str,
    pub text: String,
    pub digest: Cow<'a, str>,
}

/// Which case each golden record and each record that denotes nobody came from, and
/// which cases a registry write covers: a run that recomputed some cases rewrites only
/// what they derived.
#[derive(Debug, Default)]
pub struct RegistryCases<'c> {
    /// By a golden record's place among the persons written.
    pub persons: Vec<Option<CaseId>>,
    /// By a record's place among the records that denote nobody.
    pub unlinked: Vec<Option<CaseId>>,
    /// The cases recomputed, whose stored rows alone are compared, rewritten or
    /// removed; `None`: every case, the whole registry.
    pub scope: Option<&'c [CaseId]>,
    /// The registry was empty when the run began (`Store::begin_fresh_registry`): every
    /// row is new, so nothing stored is read and rows go in as plain inserts.
    pub fresh: bool,
    /// A first run's bucket on SQLite: its golden records go to a file, merged into
    /// the registry in key order once every bucket is done (`registry_spill`).
    pub spill: Option<&'c RegistrySpill>,
}

impl RegistryCases<'_> {
    pub(super) fn person(&self, at: usize) -> Option<CaseId> {
        self.persons.get(at).copied().flatten()
    }

    pub(super) fn unlinked(&self, at: usize) -> Option<CaseId> {
        self.unlinked.get(at).copied().flatten()
    }
}

const PERSON_DIGESTS: TableRead = TableRead {
    table: "persons",
    columns: "person_key, digest",
    key: &["person_key"],
    by_rowid: false,
};
const UNLINKED: TableRead = TableRead {
    table: "unlinked_records",
    columns: "source, record_key, reason",
    key: &["source", "record_key"],
    by_rowid: false,
};
const PERSON_CASES: TableRead = TableRead {
    table: "persons",
    columns: "person_key, digest, case_id",
    key: &["person_key"],
    by_rowid: false,
};
const UNLINKED_CASES: TableRead = TableRead {
    table: "unlinked_records",
    columns: "source, record_key, reason, case_id",
    key: &["source", "record_key"],
    by_rowid: false,
};

impl Store {
    /// Brings the registry rows of some cases (`cases.scope`), or the whole registry,
    /// to the given content, writing only what differs.
    pub async fn write_registry<'a>(
        &self,
        persons: &(impl Persons<'a> + ?Sized),
        unlinked: &[Unlinked<'_>],
        cases: &RegistryCases<'_>,
    ) -> Result<RegistryWrite, StoreError> {
        let mut write = RegistryWrite::default();
        // Into an empty table (a first run) every person is new: each one's text is
        // built once, for its digest and its row together, and the rows are plain
        // inserts. Otherwise the digests come first: the stored text is built twice
        // for a person that changed (once for its digest, once for the statement),
        // and never kept for the whole registry.
        let empty = cases.fresh;
        if let (true, Some(pool)) = (empty, &self.copy_pool) {
            return copy_fresh_registry(pool, persons, unlinked, cases).await;
        }
        let mut digests: Vec<String> = Vec::new();
        let mut stored: HashMap<String, (String, Option<CaseId>)> = HashMap::new();
        let mut stored_unlinked: HashMap<(String, String), (String, Option<CaseId>)> =
            HashMap::new();
        if !empty {
            digests = digests_of(persons);
            self.read_scoped(&PERSON_CASES, cases.scope, |r| {
                stored.insert(text(r, 0)?, (text(r, 1)?, case_cell(r, 2)?));
                Ok(())
            })
            .await?;
            self.read_scoped(&UNLINKED_CASES, cases.scope, |r| {
                stored_unlinked.insert((text(r, 0)?, text(r, 1)?), (text(r, 2)?, case_cell(r, 3)?));
                Ok(())
            })
            .await?;
        }

        let mut tx = self.begin_rebuild("beginning a registry write").await?;
        // Persons come in key order: B-tree pages fill one after another instead of
        // being split and rewritten at random.
        let changed: Vec<(usize, Option<&str>)> = if empty {
            (0..persons.count()).map(|at| (at, None)).collect()
        } else {
            digests
                .iter()
                .enumerate()
                .filter(|(at, d)| {
                    stored.remove(persons.key(*at)) != Some((d.to_string(), cases.person(*at)))
                })
                .map(|(at, d)| (at, Some(d.as_str())))
                .collect()
        };
        if let (true, Some(spill)) = (empty, cases.spill) {
            write.persons_written +=
                crate::parallel::off_the_runtime(|| spill.persons(persons, cases))?;
        } else {
            // Stored text is built a statement's worth at a time, never for the whole
            // registry at once, and the next statement's while SQLite runs this one.
            let mut chunks = changed.chunks(CHUNK);
            let mut next = chunks.next().map(|c| person_rows(persons, c));
            while let Some(rows) = next.take() {
                let insert = Insert {
                    head:
                        "INSERT INTO persons (person_key, township, state, record, digest, case_id)",
                    tail: if empty {
                        ""
                    } else {
                        "ON CONFLICT (person_key) DO UPDATE SET township = excluded.township,
                         state = excluded.state, record = excluded.record, digest = excluded.digest,
                         case_id = excluded.case_id"
                    },
                    doing: "writing golden records",
                };
                // `join!` polls the statement first, which hands it to the driver.
                let (written, following) = tokio::join!(
                    run_chunks(&mut tx, self.backend, &rows, insert, |q, p| {
                        q.bind(p.key)
                            .bind(p.township.as_ref().map(|t| t.as_str()))
                            .bind(p.state)
                            .bind(p.text.as_str())
                            .bind(p.digest.as_ref())
                            .bind(cases.person(p.at))
                    }),
                    async { chunks.next().map(|c| person_rows(persons, c)) }
                );
                write.persons_written += written?;
                next = following;
            }
        }
        // A row read by its case goes only if it still carries that case: after a
        // rebuild, another bucket may have written the person with its new case.
        for (key, (_, case)) in &stored {
            let removed = match case {
                Some(case) => {
                    sqlx::query("DELETE FROM persons WHERE person_key = $1 AND case_id = $2")
                        .bind(key.clone())
                        .bind(*case)
                }
                None => sqlx::query("DELETE FROM persons WHERE person_key = $1").bind(key.clone()),
            }
            .execute(&mut *tx)
            .await
            .map_err(doing("removing golden records"))?;
            write.persons_removed += removed.rows_affected();
        }

        let mut changed: Vec<(&Unlinked, Option<CaseId>)> = unlinked
            .iter()
            .enumerate()
            .filter(|(at, u)| {
                let now = (u.reason.to_string(), cases.unlinked(*at));
                stored_unlinked.remove(&(u.record.source.to_string(), u.record.key.to_string()))
                    != Some(now)
            })
            .map(|(at, u)| (u, cases.unlinked(at)))
            .collect();
        changed.sort_unstable_by(|a, b| a.0.record.cmp(&b.0.record));
        write.unlinked_written += run_chunks(
            &mut tx,
            self.backend,
            &changed,
            Insert {
                head: "INSERT INTO unlinked_records (source, record_key, reason, case_id)",
                tail: "ON CONFLICT (source, record_key) DO UPDATE SET reason = excluded.reason,
                       case_id = excluded.case_id",
                doing: "writing records that denote nobody",
            },
            |q, (u, case)| {
                q.bind(u.record.source)
                    .bind(u.record.key.as_ref())
                    .bind(u.reason)
                    .bind(*case)
            },
        )
        .await?;
        for ((source, key), (_, case)) in &stored_unlinked {
            let removed = match case {
                Some(case) => sqlx::query(
                    "DELETE FROM unlinked_records WHERE source = $1 AND record_key = $2 AND case_id = $3",
                )
                .bind(source.clone())
                .bind(key.clone())
                .bind(*case),
                None => sqlx::query(
                    "DELETE FROM unlinked_records WHERE source = $1 AND record_key = $2",
                )
                .bind(source.clone())
                .bind(key.clone()),
            }
            .execute(&mut *tx)
            .await
            .map_err(doing("removing records that denote nobody"))?;
            write.unlinked_removed += removed.rows_affected();
        }
        tx.commit("committing a registry write").await?;
        self.checkpoint_in_background();
        Ok(write)
    }

    /// Reads a registry table whole, or the rows of the given cases only.
    async fn read_scoped(
        &self,
        t: &TableRead,
        scope: Option<&[CaseId]>,
        each: impl FnMut(&[Cell<'_>]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match scope {
            None => self.read_table(t, each).await,
            Some(cases) => self.read_of_cases(t, cases, each).await,
        }
    }

    /// Compares the stored registry with the given content, writing nothing: the
    /// difference `write_registry` would write, counted. Each golden record's digest is
    /// the one the write stores, so a record the write would leave alone is equal here.
    pub async fn compare_registry<'a>(
        &self,
        persons: &(impl Persons<'a> + ?Sized),
        unlinked: &[Unlinked<'_>],
    ) -> Result<RegistryComparison, StoreError> {
        let digests = digests_of(persons);
        let mut recomputed: Vec<(&str, &str)> = digests
            .iter()
            .enumerate()
            .map(|(at, d)| (persons.key(at), d.as_str()))
            .collect();
        recomputed.sort_unstable();
        let mut stored: std::collections::BTreeMap<String, String> = Default::default();
        self.read_table(&PERSON_DIGESTS, |r| {
            stored.insert(text(r, 0)?, text(r, 1)?);
            Ok(())
        })
        .await?;
        let mut c = RegistryComparison {
            persons_recomputed: recomputed.len() as u64,
            persons_stored: stored.len() as u64,
            recomputed_digest: pairs_digest(recomputed.iter().copied()),
            stored_digest: pairs_digest(stored.iter().map(|(k, d)| (k.as_str(), d.as_str()))),
            ..RegistryComparison::default()
        };
        let example = |c: &mut RegistryComparison, key: &str| {
            if c.examples.len() < 5 {
                c.examples.push(crate::domain::masked_person_key(key));
            }
        };
        for (key, digest) in &recomputed {
            match stored.remove(*key) {
                None => {
                    c.persons_missing += 1;
                    example(&mut c, key);
                }
                Some(d) if d != *digest => {
                    c.persons_changed += 1;
                    example(&mut c, key);
                }
                Some(_) => {}
            }
        }
        for key in stored.keys() {
            c.persons_extra += 1;
            example(&mut c, key);
        }
        let mut stored_unlinked: HashMap<(String, String), String> = HashMap::new();
        self.read_table(&UNLINKED, |r| {
            stored_unlinked.insert((text(r, 0)?, text(r, 1)?), text(r, 2)?);
            Ok(())
        })
        .await?;
        for u in unlinked {
            let key = (u.record.source.to_string(), u.record.key.to_string());
            if stored_unlinked.remove(&key).as_deref() != Some(u.reason) {
                c.unlinked_missing_or_changed += 1;
            }
        }
        c.unlinked_extra = stored_unlinked.len() as u64;
        Ok(c)
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
        let person_key: String = r.try_get(0).map_err(d())?;
        let township: Option<String> = r.try_get(1).map_err(d())?;
        let state: String = r.try_get(2).map_err(d())?;
        let record = stored_record(&r.try_get::<String, _>(3).map_err(d())?)?;
        Ok(Some(PersonRow {
            record: expanded(&person_key, township.as_deref(), &state, &record)?,
            person_key,
            township,
            state,
        }))
    }

    /// Every source record linked to a person, in (source, key) order.
    pub async fn person_links(&self, key: &str) -> Result<Vec<LinkRow>, StoreError> {
        let row = sqlx::query("SELECT record FROM persons WHERE person_key = $1")
            .bind(key.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(doing("reading links"))?;
        let Some(row) = row else {
            return Ok(Vec::new());
        };
        let text: String = row.try_get(0).map_err(doing("decoding links"))?;
        Ok(stored_record(&text)?
            .links
            .into_iter()
            .map(|(source, record_key)| LinkRow {
                source,
                record_key,
                reason: None,
            })
            .collect())
    }
}

fn stored_record(text: &str) -> Result<StoredRecord, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: "golden record",
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TownshipCode;
    use crate::reconcile::{PersonState, RecordRef};

    #[test]
    fn stored_text_names_each_record_once_and_reads_back_whole() {
        let mut p = GoldenRecord::new(
            "349901197208188924",
            TownshipCode::parse("349901003"),
            PersonState::OnRegister,
            3,
        );
        p.push_field("name", "陈\"云\"燕\n", "psb", "L1");
        p.push_field("sex", "女", "psb", "L1");
        p.push_field("marital_status", "已婚", "mca", "M9");
        p.links = vec![
            RecordRef {
                source: "pis",
                key: "RK1".into(),
            },
            RecordRef {
                source: "psb",
                key: "L1".into(),
            },
        ];
        let mut text = String::new();
        stored_text(&p, &mut text);
        assert_eq!(
            text.matches("\"L1\"").count(),
            2,
            "once in refs, once in links: {text}"
        );
        let stored = stored_record(&text).expect("parses");
        let shown = expanded(&p.key, Some("349901003"), p.state.as_str(), &stored).expect("whole");
        assert_eq!(shown["fields"]["name"]["value"], "陈\"云\"燕\n");
        assert_eq!(shown["fields"]["sex"]["record"], "L1");
        assert_eq!(shown["fields"]["marital_status"]["source"], "mca");
        assert_eq!(shown["fields"]["marital_status"]["record"], "M9");
        assert_eq!(shown["township"], "349901003");
        assert_eq!(
            stored.links,
            [
                ("pis".to_string(), "RK1".to_string()),
                ("psb".into(), "L1".into())
            ]
        );
    }

    fn person(key: &str, name: &str) -> GoldenRecord<'static> {
        let mut p = GoldenRecord::new(
            key,
            TownshipCode::parse("349901003"),
            PersonState::OnRegister,
            1,
        );
        p.push_field("name", name, "psb", format!("L{key}"));
        p
    }

    /// A first write builds each text once, for its digest and its row together; a
    /// later write takes the digests first. Both must agree, or every later run would
    /// rewrite every person.
    #[tokio::test]
    async fn a_first_write_and_a_later_one_agree_on_every_digest() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let store = Store::open(&url).await.unwrap();
        let mut persons: Vec<GoldenRecord> = (0..1200)
            .map(|i| person(&format!("{i:04}"), "王某"))
            .collect();
        let first = store
            .write_registry(persons.as_slice(), &[], &RegistryCases::default())
            .await
            .unwrap();
        assert_eq!(first.persons_written, 1200);
        let again = store
            .write_registry(persons.as_slice(), &[], &RegistryCases::default())
            .await
            .unwrap();
        assert_eq!(again.persons_written, 0, "nothing changed");
        persons[700] = person("0700", "王某某");
        let changed = store
            .write_registry(persons.as_slice(), &[], &RegistryCases::default())
            .await
            .unwrap();
        assert_eq!(changed.persons_written, 1, "only the changed person");
        store.close().await;
    }

    #[test]
    fn a_changed_link_changes_the_digest() {
        let mut p = GoldenRecord::new("k", None, PersonState::Dead, 1);
        p.push_field("state", "死亡 2010-03-22", "psb", "L1");
        p.links.push(RecordRef {
            source: "psb",
            key: "L1".into(),
        });
        let mut buf = String::new();
        let before = person_digest(&p, &mut buf);
        p.links.push(RecordRef {
            source: "pis",
            key: "RK1".into(),
        });
        assert_ne!(before, person_digest(&p, &mut buf));
    }
}
