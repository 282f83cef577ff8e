//! New tickets as they are inserted, and a first run's on their way into `tickets`,
//! in the order of their kind, township and subject.
//!
//! A ticket's ID is a hash, so the tickets of one bucket fall all over the tickets'
//! indexes (the ID's, the subject's, the case's). Inserted bucket by bucket, every
//! bucket dirtied nearly every leaf page of those indexes and wrote it to the WAL
//! again: work that grew with the tickets already written, so with the square of the
//! city (a 5,000,000-person first run wrote 19.3 GB where a 1,000,000-person one wrote
//! 3.1 GB). A first run's bucket therefore writes its new tickets, sorted, to a file of
//! its own (`store::spill`'s rows), and once every bucket is done one pass merges the
//! files and inserts the tickets in one write. Sorted by kind, township and subject,
//! as the unique index on them is, not by ID: a run's count of open tickets per
//! township and kind scans that index and reads each ticket's row, and rows laid in
//! ID order (a hash) made that scan a random read per ticket (at 1,000,000 persons,
//! a run that found nothing changed took 0.25–0.54 s to count them, against 0.02 s).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::cases::CaseId;
use super::snapshot::Cell;
use super::spill::{self, spill_error, MergedChunks};
use super::tickets::{evidence_json, suggestion_json};
use super::{doing, run_chunks, Actor, Backend, Insert, Store, StoreError, WriteTx};
use crate::tickets::Change;

/// A new ticket's columns, ready to bind.
pub(super) struct OpenedRow<'a> {
    pub ticket_id: &'a str,
    kind: &'a str,
    township: Cow<'a, str>,
    subject_key: Cow<'a, str>,
    subject: Cow<'a, str>,
    evidence: Cow<'a, str>,
    digest: &'a str,
    summary_zh: &'a str,
    suggestion: Option<Cow<'a, str>>,
    person_key: Option<&'a str>,
    village: Option<&'a str>,
    case_id: Option<CaseId>,
}

/// The rows of the tickets `changes` open, each with its case from `stamps`.
pub(super) fn opened_rows<'a>(
    changes: &'a [Change],
    stamps: &[(String, CaseId)],
) -> Vec<OpenedRow<'a>> {
    let stamp_of: HashMap<&str, _> = stamps.iter().map(|(t, c)| (t.as_str(), *c)).collect();
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Open {
                ticket_id,
                draft,
                digest,
            } => Some(OpenedRow {
                ticket_id,
                kind: draft.kind.as_str(),
                township: Cow::Owned(draft.township.to_string()),
                subject_key: Cow::Owned(draft.subject_key()),
                subject: Cow::Owned(draft.subject.to_json().to_string()),
                evidence: Cow::Owned(evidence_json(draft)),
                digest,
                summary_zh: &draft.summary_zh,
                suggestion: suggestion_json(draft).map(Cow::Owned),
                person_key: draft.person_key.as_deref(),
                village: draft.village.as_deref(),
                case_id: stamp_of.get(ticket_id.as_str()).copied(),
            }),
            _ => None,
        })
        .collect()
}

/// Inserts new tickets and their first events, in multi-row statements: a first run
/// opens tens of thousands.
pub(super) async fn insert_opened(
    tx: &mut WriteTx,
    backend: Backend,
    opened: &[OpenedRow<'_>],
    actor: &Actor<'_>,
) -> Result<(), StoreError> {
    run_chunks(
        tx,
        backend,
        opened,
        Insert {
            head: "INSERT INTO tickets (ticket_id, kind, township, subject_key, subject, status, opened_at, updated_at,
                   evidence, evidence_digest, summary_zh, suggestion, person_key, village, case_id)",
            tail: "",
            doing: "opening tickets",
        },
        |q, o| {
            q.bind(o.ticket_id)
                .bind(o.kind)
                .bind(o.township.as_ref())
                .bind(o.subject_key.as_ref())
                .bind(o.subject.as_ref())
                .bind("open")
                .bind(actor.now)
                .bind(actor.now)
                .bind(o.evidence.as_ref())
                .bind(o.digest)
                .bind(o.summary_zh)
                .bind(o.suggestion.as_deref())
                .bind(o.person_key)
                .bind(o.village)
                .bind(o.case_id)
        },
    )
    .await?;
    run_chunks(
        tx,
        backend,
        opened,
        Insert {
            head:
                "INSERT INTO ticket_events (ticket_id, at, from_status, to_status, actor, reason)",
            tail: "",
            doing: "recording ticket events",
        },
        |q, o| {
            q.bind(o.ticket_id)
                .bind(actor.now)
                .bind(None::<&str>)
                .bind("open")
                .bind(actor.name)
                .bind("raised")
        },
    )
    .await
    .map(drop)
}

fn text(s: &str) -> Cell<'_> {
    Cell::Text(Cow::Borrowed(s))
}

fn some(s: Option<&str>) -> Cell<'_> {
    s.map_or(Cell::Null, text)
}

/// The new tickets of a first run's buckets, in files (in a directory that goes with
/// the run's spill).
#[derive(Debug)]
pub struct TicketSpill {
    dir: PathBuf,
    files: Mutex<Vec<PathBuf>>,
}

/// A spilled ticket's columns, ordered by its kind, township and subject first (its
/// ID is a hash of those three).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct SpilledTicket {
    kind: String,
    township: String,
    subject_key: String,
    ticket_id: String,
    subject: String,
    evidence: String,
    digest: String,
    summary_zh: String,
    suggestion: Option<String>,
    person_key: Option<String>,
    village: Option<String>,
    case_id: Option<CaseId>,
}

impl SpilledTicket {
    fn of(cells: &[Cell<'_>]) -> Result<SpilledTicket, StoreError> {
        let bad = || StoreError::Corrupt {
            what: "spilled ticket",
            detail: format!("{} cells", cells.len()),
        };
        let text = |i: usize| match cells.get(i) {
            Some(Cell::Text(t)) => Some(t.to_string()),
            _ => None,
        };
        let case_id = match cells.get(11) {
            Some(Cell::Int(n)) => Some(*n),
            _ => None,
        };
        if cells.len() != 12 {
            return Err(bad());
        }
        Ok(SpilledTicket {
            kind: text(1).ok_or_else(bad)?,
            township: text(2).ok_or_else(bad)?,
            subject_key: text(3).ok_or_else(bad)?,
            ticket_id: text(0).ok_or_else(bad)?,
            subject: text(4).ok_or_else(bad)?,
            evidence: text(5).ok_or_else(bad)?,
            digest: text(6).ok_or_else(bad)?,
            summary_zh: text(7).ok_or_else(bad)?,
            suggestion: text(8),
            person_key: text(9),
            village: text(10),
            case_id,
        })
    }

    fn row(&self) -> OpenedRow<'_> {
        OpenedRow {
            ticket_id: &self.ticket_id,
            kind: &self.kind,
            township: Cow::Borrowed(&self.township),
            subject_key: Cow::Borrowed(&self.subject_key),
            subject: Cow::Borrowed(&self.subject),
            evidence: Cow::Borrowed(&self.evidence),
            digest: &self.digest,
            summary_zh: &self.summary_zh,
            suggestion: self.suggestion.as_deref().map(Cow::Borrowed),
            person_key: self.person_key.as_deref(),
            village: self.village.as_deref(),
            case_id: self.case_id,
        }
    }
}

impl TicketSpill {
    /// Files for new tickets in `dir` (one only this user may enter).
    pub fn new(dir: &Path) -> TicketSpill {
        TicketSpill {
            dir: dir.to_path_buf(),
            files: Mutex::new(Vec::new()),
        }
    }

    /// Writes the tickets a first run's bucket opens (`changes`, their cases in
    /// `stamps`) to a file of their own, sorted by kind, township and subject. Nothing was stored before a
    /// first run, so its buckets only open tickets: any other change is an error.
    pub fn write(&self, changes: &[Change], stamps: &[(String, CaseId)]) -> Result<(), StoreError> {
        let mut opened = opened_rows(changes, stamps);
        if opened.len() != changes.len() {
            return Err(StoreError::Corrupt {
                what: "a first run's ticket changes",
                detail: format!("{} of {} open a ticket", opened.len(), changes.len()),
            });
        }
        opened.sort_unstable_by(|a, b| {
            (a.kind, &a.township, &a.subject_key).cmp(&(b.kind, &b.township, &b.subject_key))
        });
        let path = {
            let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            let path = self.dir.join(format!("tickets-{}", files.len()));
            files.push(path.clone());
            path
        };
        let file = File::create_new(&path).map_err(spill_error(&path))?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        let mut row = Vec::new();
        for o in &opened {
            let cells = [
                text(o.ticket_id),
                text(o.kind),
                text(&o.township),
                text(&o.subject_key),
                text(&o.subject),
                text(&o.evidence),
                text(o.digest),
                text(o.summary_zh),
                some(o.suggestion.as_deref()),
                some(o.person_key),
                some(o.village),
                o.case_id.map_or(Cell::Null, Cell::Int),
            ];
            row.clear();
            spill::encode(&mut row, 0, 0, &cells);
            out.write_all(&row).map_err(spill_error(&path))?;
        }
        out.flush().map_err(spill_error(&path))
    }
}

/// Drops the indexes of `tickets` and `ticket_events` that no constraint needs (by
/// township, owner, case, and the events' by ticket), for a first run's merge to
/// build again once its tickets are in; the statements that build them. Inserted
/// one by one, 377,000 tickets at 5,000,000 persons spread over them, and the page
/// cache, full of the new rows' pages, wrote their pages out again and again.
async fn drop_lookup_indexes(
    tx: &mut WriteTx,
    backend: Backend,
) -> Result<Vec<String>, StoreError> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' \
             AND tbl_name IN ('tickets', 'ticket_events') AND sql IS NOT NULL ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT indexname::text, indexdef::text FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename IN ('tickets', 'ticket_events') \
             AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname"
        }
    };
    let d = || doing("dropping the tickets' lookup indexes");
    let found: Vec<(String, String)> = sqlx::query_as(sql)
        .fetch_all(&mut **tx)
        .await
        .map_err(d())?;
    let mut build = Vec::with_capacity(found.len());
    for (name, create) in found {
        sqlx::query(&format!("DROP INDEX {name}"))
            .execute(&mut **tx)
            .await
            .map_err(d())?;
        build.push(create);
    }
    Ok(build)
}

impl Store {
    /// Inserts every bucket's new tickets and their first events, by kind, township and
    /// subject, in one write; how many. Two buckets that opened one ticket fail the merge, and nothing
    /// of it is kept: a ticket's records are linked into one case, so that is a fault
    /// of the cases (the whole-city path would fail on it too, inserting it twice).
    pub async fn merge_spilled_tickets(
        &self,
        spill: &TicketSpill,
        actor: &Actor<'_>,
    ) -> Result<u64, StoreError> {
        let paths = std::mem::take(&mut *spill.files.lock().unwrap_or_else(|e| e.into_inner()));
        let mut chunks = MergedChunks::open(paths, SpilledTicket::of)?;
        let what = "opening a first run's tickets";
        let mut tx = self.begin_unsynced(what).await?;
        let indexes = drop_lookup_indexes(&mut tx, self.backend).await?;
        let mut last: Option<(String, String, String)> = None;
        let mut count = 0u64;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            for t in &chunk {
                let key = (t.kind.clone(), t.township.clone(), t.subject_key.clone());
                if last.as_ref() == Some(&key) {
                    return Err(StoreError::Corrupt {
                        what: "a first run's tickets",
                        detail: format!("ticket {} opened by two buckets", t.ticket_id),
                    });
                }
                last = Some(key);
            }
            let rows: Vec<OpenedRow<'_>> = chunk.iter().map(SpilledTicket::row).collect();
            insert_opened(&mut tx, self.backend, &rows, actor).await?;
            count += rows.len() as u64;
        }
        // Not every ticket read: the transaction goes back with `tx`.
        chunks.finish().await?;
        for sql in &indexes {
            sqlx::query(sql)
                .execute(&mut *tx)
                .await
                .map_err(doing("indexing a first run's tickets"))?;
        }
        tx.commit(what).await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::domain::TownshipCode;
    use crate::tickets::{plan, Evidence, Subject, TicketDraft, TicketKind};

    /// An invalid-ID draft about the PIS record `id`.
    fn draft(id: &str) -> TicketDraft {
        TicketDraft {
            kind: TicketKind::InvalidId,
            township: TownshipCode::parse("349901003").expect("a township"),
            subject: Subject {
                pis_person_id: Some(id.into()),
                ..Subject::default()
            },
            evidence: vec![Evidence::new("pis", id, "身份证号 34990119900101123X")],
            summary_zh: format!("{id} 的身份证号校验位不符"),
            suggestion: None,
            person_key: None,
            village: Some("一村".into()),
        }
    }

    /// A bucket's plan for the PIS records `ids`, each in case 7: its changes, stamps.
    fn bucket(ids: &[String]) -> (Vec<Change>, Vec<(String, CaseId)>) {
        let changes = plan(
            &[],
            ids.iter().map(|id| draft(id)).collect(),
            &HashSet::new(),
        );
        let stamps = changes
            .iter()
            .filter_map(|c| match c {
                Change::Open { ticket_id, .. } => Some((ticket_id.clone(), 7)),
                _ => None,
            })
            .collect();
        (changes, stamps)
    }

    async fn count(store: &Store, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    /// Every bucket's tickets go in once, in order, with their case and first
    /// event, and the lookup indexes come back; a ticket two buckets opened fails the
    /// merge, which then keeps nothing (its indexes included); and a bucket that would
    /// change a stored ticket is refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_first_runs_tickets_go_in_once_each_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        let actor = Actor {
            name: "test-run",
            now: "2024-05-02T02:30:00+08:00",
        };
        let ids: Vec<String> = (0..3 * super::super::CHUNK)
            .map(|n| format!("RK{n}"))
            .collect();
        let (first, second) = ids.split_at(ids.len() / 2);

        let indexes = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('tickets', 'ticket_events')";
        let indexed = count(&store, indexes).await;
        let spill = TicketSpill::new(dir.path());
        for half in [second, first] {
            let (changes, stamps) = bucket(half);
            spill.write(&changes, &stamps).unwrap();
        }
        assert_eq!(
            store.merge_spilled_tickets(&spill, &actor).await.unwrap(),
            ids.len() as u64
        );
        let n = ids.len() as i64;
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM tickets WHERE case_id = 7 AND status = 'open'"
            )
            .await,
            n
        );
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM ticket_events WHERE reason = 'raised'"
            )
            .await,
            n
        );
        // In the order of the unique index: each row's subject after the one before it.
        let out_of_order = "SELECT COUNT(*) FROM tickets a JOIN tickets b ON b.rowid = a.rowid + 1 WHERE b.subject_key < a.subject_key";
        assert_eq!(count(&store, out_of_order).await, 0);
        // The indexes the merge dropped are built again.
        assert_eq!(count(&store, indexes).await, indexed);

        let again = TicketSpill::new(dir.path());
        let (changes, stamps) = bucket(&["RKX".to_string(), "RKY".to_string()]);
        again.write(&changes, &stamps).unwrap();
        let (changes, stamps) = bucket(&["RKY".to_string()]);
        again.write(&changes, &stamps).unwrap();
        let twice = store
            .merge_spilled_tickets(&again, &actor)
            .await
            .unwrap_err();
        assert!(
            twice.to_string().contains("opened by two buckets"),
            "{twice}"
        );
        assert_eq!(count(&store, "SELECT COUNT(*) FROM tickets").await, n);
        assert_eq!(count(&store, indexes).await, indexed);

        let resolve = [Change::Resolve {
            ticket_id: "T1".to_string(),
        }];
        assert!(TicketSpill::new(dir.path()).write(&resolve, &[]).is_err());
        store.close().await;
    }
}
