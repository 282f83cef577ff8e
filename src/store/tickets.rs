//! Tickets, their history and reconciliation runs.

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use std::collections::HashMap;

use super::cases::{CaseId, DUE_NOW};
use super::readiness::{record_open_history, RunRecord};
use super::ticket_spill::{insert_opened, opened_rows};
use super::{doing, run_chunks, Insert, Store, StoreError, WriteTx};
use crate::domain::TownshipCode;
use crate::tickets::{
    Change, EvidenceLine, ExistingTicket, Owner, OwnerError, Status, Ticket, TicketKind, UNASSIGNED,
};

/// One change of a ticket's status.
#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct TicketEventRow {
    pub at: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub reason: String,
}

/// Which tickets a list asks for. `township` scopes every query that serves a township.
#[derive(Clone, Debug, Default)]
pub struct TicketFilter {
    pub township: Option<String>,
    pub kind: Option<TicketKind>,
    pub status: Option<Status>,
    pub village: Option<String>,
    pub owner: Option<OwnerFilter>,
    pub limit: Option<i64>,
    pub offset: i64,
}

/// Which owner a list asks for: one named person's tickets, or those nobody owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerFilter {
    Is(Owner),
    Unassigned,
}

impl OwnerFilter {
    /// `none` (any case) asks for unassigned tickets; anything else must be a valid name.
    pub fn parse(raw: &str) -> Result<OwnerFilter, OwnerError> {
        if raw.trim().eq_ignore_ascii_case(UNASSIGNED) {
            return Ok(OwnerFilter::Unassigned);
        }
        Owner::parse(raw).map(OwnerFilter::Is)
    }

    /// The two bind values of the filter's SQL (`owner = $n`, `owner IS NULL`).
    pub(super) fn binds(f: Option<&OwnerFilter>) -> (Option<String>, i64) {
        match f {
            None => (None, 0),
            Some(OwnerFilter::Is(o)) => (Some(o.as_str().to_string()), 0),
            Some(OwnerFilter::Unassigned) => (None, 1),
        }
    }
}

/// The SQL condition of a [`TicketFilter`], on binds `$1` to `$6`, shared by the list
/// and its count so that the two can never disagree.
pub(super) const FILTER_SQL: &str = "($1 IS NULL OR township = $1) AND ($2 IS NULL OR kind = $2)
     AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR village = $4)
     AND ($5 IS NULL OR owner = $5) AND ($6 = 0 OR owner IS NULL)";

/// A statement whose first six binds are [`FILTER_SQL`]'s, bound from `f`.
pub(super) fn filtered<'q>(
    sql: &'q str,
    f: &TicketFilter,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let (owner, unassigned) = OwnerFilter::binds(f.owner.as_ref());
    sqlx::query(sql)
        .bind(f.township.clone())
        .bind(f.kind.map(|k| k.as_str()))
        .bind(f.status.map(|s| s.as_str()))
        .bind(f.village.clone())
        .bind(owner)
        .bind(unassigned)
}

/// An assignment as it was made: the ticket's township, who owned it before, and
/// whether anything changed (assigning the owner it already has records nothing).
#[derive(Clone, Debug)]
pub struct Assignment {
    pub township: TownshipCode,
    pub previous: Option<Owner>,
    pub changed: bool,
}

/// A ticket's columns as stored: decoded by name, mapped to a [`Ticket`] once.
#[derive(sqlx::FromRow)]
struct TicketRow {
    ticket_id: String,
    kind: String,
    township: String,
    status: String,
    subject: String,
    opened_at: String,
    updated_at: String,
    evidence: String,
    summary_zh: String,
    suggestion: Option<String>,
    person_key: Option<String>,
    village: Option<String>,
    owner: Option<String>,
}

const COLUMNS: &str = "ticket_id, kind, township, status, subject, opened_at, updated_at, evidence, summary_zh, suggestion, person_key, village, owner";

/// A stored owner name, parsed again as the type it was written from.
fn owner(ticket_id: &str, text: Option<&str>) -> Result<Option<Owner>, StoreError> {
    text.map(|t| {
        Owner::parse(t).map_err(|e| StoreError::Corrupt {
            what: "ticket owner",
            detail: format!("ticket {ticket_id}: {e}"),
        })
    })
    .transpose()
}

/// One of a ticket's JSON columns, or which ticket holds it wrongly.
fn json<T: serde::de::DeserializeOwned>(
    ticket_id: &str,
    column: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: "ticket JSON",
        detail: format!("ticket {ticket_id} column {column}: {e}"),
    })
}

/// A column that must hold one of a vocabulary's words.
fn word<T>(
    ticket_id: &str,
    what: &'static str,
    text: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::Corrupt {
        what,
        detail: format!("ticket {ticket_id}: {text:?}"),
    })
}

impl TryFrom<TicketRow> for Ticket {
    type Error = StoreError;

    fn try_from(r: TicketRow) -> Result<Ticket, StoreError> {
        let id = r.ticket_id.as_str();
        Ok(Ticket {
            kind: word(id, "ticket kind", &r.kind, TicketKind::parse)?,
            township: word(id, "ticket township", &r.township, TownshipCode::parse)?,
            status: word(id, "ticket status", &r.status, Status::parse)?,
            subject: json(id, "subject", &r.subject)?,
            evidence: json(id, "evidence", &r.evidence)?,
            suggestion: r
                .suggestion
                .as_deref()
                .map(|s| json(id, "suggestion", s))
                .transpose()?,
            owner: owner(id, r.owner.as_deref())?,
            opened_at: r.opened_at,
            updated_at: r.updated_at,
            summary_zh: r.summary_zh,
            person_key: r.person_key,
            village: r.village,
            ticket_id: r.ticket_id,
        })
    }
}

fn ticket_of(r: &AnyRow) -> Result<Ticket, StoreError> {
    TicketRow::from_row(r)
        .map_err(doing("decoding a ticket"))?
        .try_into()
}

/// Who changed something and why, for the ticket history.
pub struct Actor<'a> {
    pub name: &'a str,
    pub now: &'a str,
}

async fn event(
    tx: &mut WriteTx,
    id: &str,
    from: Option<&str>,
    to: &str,
    actor: &Actor<'_>,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO ticket_events (ticket_id, at, from_status, to_status, actor, reason) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id.to_string())
        .bind(actor.now.to_string())
        .bind(from.map(str::to_string))
        .bind(to.to_string())
        .bind(actor.name.to_string())
        .bind(reason.to_string())
        .execute(&mut **tx)
        .await
        .map_err(doing("recording a ticket event"))?;
    Ok(())
}

/// What the lifecycle reads of a stored ticket.
#[derive(sqlx::FromRow)]
struct StateRow {
    ticket_id: String,
    kind: String,
    township: String,
    subject_key: String,
    status: String,
    evidence_digest: String,
    dismissed_digest: Option<String>,
    evidence: String,
    case_id: Option<i64>,
    summary_zh: String,
    suggestion: Option<String>,
}

impl Store {
    /// What the lifecycle needs of every stored ticket.
    pub async fn ticket_states(&self) -> Result<Vec<ExistingTicket>, StoreError> {
        Ok(self.ticket_states_of(None, &[]).await?.0)
    }

    /// What the lifecycle needs of the tickets of some cases (`None`: every ticket)
    /// and of the tickets named in `ids`, and the case each is stamped with: a run
    /// that recomputed those cases plans over these, and finds a ticket it raises
    /// again wherever it was stamped.
    pub async fn ticket_states_of(
        &self,
        cases: Option<&[CaseId]>,
        ids: &[String],
    ) -> Result<(Vec<ExistingTicket>, HashMap<String, Option<CaseId>>), StoreError> {
        const COLUMNS: &str = "ticket_id, kind, township, subject_key, status, evidence_digest, dismissed_digest, evidence, case_id, summary_zh, suggestion";
        let mut rows = Vec::new();
        match cases {
            None => {
                rows = sqlx::query(&format!("SELECT {COLUMNS} FROM tickets"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(doing("reading ticket states"))?;
            }
            Some(cases) => {
                let in_list = |column: &str| {
                    let list = super::cases::in_bound(self.backend, column == "case_id");
                    format!("SELECT {COLUMNS} FROM tickets WHERE {column} {list}")
                };
                for (column, list) in [
                    (
                        "case_id",
                        cases
                            .chunks(2_000)
                            .map(|c| serde_json::to_string(c).unwrap_or_default())
                            .collect::<Vec<_>>(),
                    ),
                    (
                        "ticket_id",
                        ids.chunks(2_000)
                            .map(|c| serde_json::to_string(c).unwrap_or_default())
                            .collect(),
                    ),
                ] {
                    let sql = in_list(column);
                    for chunk in list {
                        rows.extend(
                            sqlx::query(&sql)
                                .bind(chunk)
                                .fetch_all(&self.pool)
                                .await
                                .map_err(doing("reading ticket states"))?,
                        );
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        let mut stamps = HashMap::with_capacity(rows.len());
        for r in rows {
            let r = StateRow::from_row(&r).map_err(doing("decoding a ticket state"))?;
            if stamps.contains_key(&r.ticket_id) {
                continue;
            }
            stamps.insert(r.ticket_id.clone(), r.case_id);
            let id = r.ticket_id.as_str();
            let evidence: Vec<EvidenceLine> = json(id, "evidence", &r.evidence)?;
            let certificates = evidence
                .into_iter()
                .filter(|e| e.source == "nhc")
                .map(|e| match e.record.split_once('#') {
                    Some((cert, _version)) => cert.to_string(),
                    None => e.record,
                })
                .collect();
            out.push(ExistingTicket {
                kind: word(id, "ticket kind", &r.kind, TicketKind::parse)?,
                township: word(id, "ticket township", &r.township, TownshipCode::parse)?,
                status: word(id, "ticket status", &r.status, Status::parse)?,
                subject_key: r.subject_key,
                evidence_digest: r.evidence_digest,
                dismissed_digest: r.dismissed_digest,
                certificates,
                summary_zh: r.summary_zh,
                suggestion: match r.suggestion {
                    Some(text) => {
                        Some(json::<crate::tickets::Suggestion>(id, "suggestion", &text)?.id_number)
                    }
                    None => None,
                },
                ticket_id: r.ticket_id,
            });
        }
        Ok((out, stamps))
    }

    /// Applies ticket changes and, with `run`, records the reconciliation run with its
    /// burn-down points, in one transaction; the run's number. `stamps` are the tickets
    /// whose case changed (or that are new) and the case each now comes from.
    pub async fn apply_ticket_changes(
        &self,
        changes: &[Change],
        stamps: &[(String, CaseId)],
        actor: &Actor<'_>,
        run: Option<&RunRecord<'_>>,
    ) -> Result<Option<i64>, StoreError> {
        // New tickets carry their case from the start; others are stamped below.
        let opened = opened_rows(changes, stamps);
        let mut tx = self.begin_write("beginning ticket changes").await?;
        insert_opened(&mut tx, self.backend, &opened, actor).await?;
        for c in changes {
            match c {
                Change::Open { .. } => {}
                Change::Refresh {
                    ticket_id,
                    draft,
                    digest,
                    changed,
                } => {
                    if *changed {
                        update_content(&mut tx, ticket_id, draft, digest, None, actor.now).await?;
                    }
                }
                Change::Reopen {
                    ticket_id,
                    from,
                    draft,
                    digest,
                    reason,
                } => {
                    update_content(&mut tx, ticket_id, draft, digest, Some("open"), actor.now)
                        .await?;
                    event(
                        &mut tx,
                        ticket_id,
                        Some(from.as_str()),
                        "open",
                        actor,
                        reason,
                    )
                    .await?;
                }
                Change::Resolve { ticket_id } => {
                    set_status(&mut tx, ticket_id, "resolved", actor, "no longer found").await?
                }
                Change::Withdraw { ticket_id } => {
                    set_status(
                        &mut tx,
                        ticket_id,
                        "withdrawn",
                        actor,
                        "the certificate it rested on was voided",
                    )
                    .await?
                }
            }
        }
        let opened_ids: std::collections::HashSet<&str> =
            opened.iter().map(|o| o.ticket_id).collect();
        let restamped: Vec<(&str, CaseId)> = stamps
            .iter()
            .filter(|(t, _)| !opened_ids.contains(t.as_str()))
            .map(|(t, c)| (t.as_str(), *c))
            .collect();
        run_chunks(
            &mut tx,
            self.backend,
            &restamped,
            Insert {
                head: "WITH v (t, c) AS (",
                tail: ") UPDATE tickets SET case_id = v.c FROM v WHERE tickets.ticket_id = v.t",
                doing: "recording tickets' cases",
            },
            |q, (t, c)| q.bind(*t).bind(*c),
        )
        .await?;
        let Some(run) = run else {
            tx.commit("committing ticket changes").await?;
            return Ok(None);
        };
        let run_id: i64 = sqlx::query("INSERT INTO reconcile_runs (as_of, started_at, finished_at, summary) VALUES ($1, $2, $3, $4) RETURNING run_id")
            .bind(run.as_of.to_string())
            .bind(run.started_at.to_string())
            .bind(actor.now.to_string())
            .bind(run.summary.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(doing("recording a reconciliation run"))?
            .try_get(0)
            .map_err(doing("recording a reconciliation run"))?;
        record_open_history(
            &mut tx,
            self.backend,
            run_id,
            run.as_of,
            actor.now,
            run.open,
        )
        .await?;
        tx.commit("committing ticket changes").await?;
        Ok(Some(run_id))
    }

    /// Tickets matching a filter, by kind then township then ID.
    pub async fn list_tickets(&self, f: &TicketFilter) -> Result<Vec<Ticket>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tickets WHERE {FILTER_SQL}
             ORDER BY kind, township, ticket_id LIMIT $7 OFFSET $8"
        );
        let rows = filtered(&sql, f)
            .bind(f.limit.unwrap_or(i64::MAX))
            .bind(f.offset)
            .fetch_all(&self.pool)
            .await
            .map_err(doing("listing tickets"))?;
        rows.iter().map(ticket_of).collect()
    }

    /// Counts per (kind, status) within a township (or the city).
    pub async fn ticket_counts(
        &self,
        township: Option<&str>,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        sqlx::query_as("SELECT kind, status, COUNT(*) FROM tickets WHERE ($1 IS NULL OR township = $1) GROUP BY kind, status ORDER BY kind, status")
            .bind(township.map(str::to_string))
            .fetch_all(&self.pool)
            .await
            .map_err(doing("counting tickets"))
    }

    /// Open tickets per (kind, township), for the metrics.
    pub async fn open_ticket_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        sqlx::query_as("SELECT kind, township, COUNT(*) FROM tickets WHERE status = 'open' GROUP BY kind, township ORDER BY kind, township")
            .fetch_all(&self.pool)
            .await
            .map_err(doing("counting open tickets"))
    }

    /// One ticket, scoped to a township when one is given (a township never sees another's).
    pub async fn ticket(
        &self,
        ticket_id: &str,
        township: Option<&str>,
    ) -> Result<Option<Ticket>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tickets WHERE ticket_id = $1 AND ($2 IS NULL OR township = $2)"
        );
        let row = sqlx::query(&sql)
            .bind(ticket_id.to_string())
            .bind(township.map(str::to_string))
            .fetch_optional(&self.pool)
            .await
            .map_err(doing("reading a ticket"))?;
        row.as_ref().map(ticket_of).transpose()
    }

    /// A ticket's status history.
    pub async fn ticket_events(&self, ticket_id: &str) -> Result<Vec<TicketEventRow>, StoreError> {
        sqlx::query_as("SELECT at, from_status, to_status, actor, reason FROM ticket_events WHERE ticket_id = $1 ORDER BY event_id")
            .bind(ticket_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(doing("reading ticket events"))
    }

    /// Dismisses (or reopens) a ticket by hand; `township` scopes the change in the
    /// query itself. Returns false when no such ticket is visible or the move is not allowed.
    pub async fn set_ticket_status_by_hand(
        &self,
        ticket_id: &str,
        township: Option<&str>,
        to: Status,
        actor: &Actor<'_>,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write("beginning a ticket change").await?;
        let (from_allowed, set_digest) = match to {
            Status::Dismissed => ("open", true),
            Status::Open => ("dismissed", false),
            _ => return Ok(false),
        };
        let updated = sqlx::query(
            "UPDATE tickets SET status = $1, updated_at = $2,
               dismissed_digest = CASE WHEN $3 = 1 THEN evidence_digest ELSE NULL END
             WHERE ticket_id = $4 AND status = $5 AND ($6 IS NULL OR township = $6)",
        )
        .bind(to.as_str())
        .bind(actor.now.to_string())
        .bind(i64::from(set_digest))
        .bind(ticket_id.to_string())
        .bind(from_allowed)
        .bind(township.map(str::to_string))
        .execute(&mut *tx)
        .await
        .map_err(doing("changing a ticket by hand"))?
        .rows_affected();
        if updated == 0 {
            return Ok(false);
        }
        if to == Status::Open {
            // A reopened ticket whose problem went while it was dismissed is resolved
            // by a recompute of its case: its case is made due for the next run.
            sqlx::query(
                "INSERT INTO case_dates (case_id, next_date)
                 SELECT case_id, $1 FROM tickets WHERE ticket_id = $2 AND case_id IS NOT NULL
                 ON CONFLICT (case_id) DO UPDATE SET next_date = excluded.next_date",
            )
            .bind(DUE_NOW)
            .bind(ticket_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(doing("making a reopened ticket's case due"))?;
        }
        event(
            &mut tx,
            ticket_id,
            Some(from_allowed),
            to.as_str(),
            actor,
            reason,
        )
        .await?;
        tx.commit("committing a ticket change").await?;
        Ok(true)
    }

    /// Assigns a ticket to `to` (or clears its owner with `None`), scoped to `township`
    /// in the query itself, and records the assignment in the ticket's history: who
    /// (the actor), whom (the reason names the new and the previous owner) and when.
    /// The status is left as it is, so the event goes from a status to the same status.
    /// Returns `None` when no such ticket is visible.
    pub async fn assign_ticket(
        &self,
        ticket_id: &str,
        township: Option<&str>,
        to: Option<&Owner>,
        actor: &Actor<'_>,
    ) -> Result<Option<Assignment>, StoreError> {
        let mut tx = self.begin_write("beginning an assignment").await?;
        let row = sqlx::query(
            "SELECT township, status, owner FROM tickets WHERE ticket_id = $1 AND ($2 IS NULL OR township = $2)",
        )
        .bind(ticket_id.to_string())
        .bind(township.map(str::to_string))
        .fetch_optional(&mut *tx)
        .await
        .map_err(doing("reading a ticket to assign"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let d = || doing("reading a ticket to assign");
        let code: String = row.try_get(0).map_err(d())?;
        let status: String = row.try_get(1).map_err(d())?;
        let stored: Option<String> = row.try_get(2).map_err(d())?;
        let assignment = Assignment {
            township: word(ticket_id, "ticket township", &code, TownshipCode::parse)?,
            previous: owner(ticket_id, stored.as_deref())?,
            changed: stored.as_deref() != to.map(Owner::as_str),
        };
        if !assignment.changed {
            return Ok(Some(assignment));
        }
        sqlx::query(
            "UPDATE tickets SET owner = $1 WHERE ticket_id = $2 AND ($3 IS NULL OR township = $3)",
        )
        .bind(to.map(|o| o.as_str().to_string()))
        .bind(ticket_id.to_string())
        .bind(township.map(str::to_string))
        .execute(&mut *tx)
        .await
        .map_err(doing("assigning a ticket"))?;
        let reason = match (to, &assignment.previous) {
            (Some(to), None) => format!("指派给 {}", to.as_str()),
            (Some(to), Some(was)) => format!("指派给 {}（原为 {}）", to.as_str(), was.as_str()),
            (None, Some(was)) => format!("取消指派（原为 {}）", was.as_str()),
            (None, None) => unreachable!("an unchanged assignment returned above"),
        };
        event(&mut tx, ticket_id, Some(&status), &status, actor, &reason).await?;
        tx.commit("committing an assignment").await?;
        Ok(Some(assignment))
    }

    /// The as-of date of the latest reconciliation run, if there was one: the date a
    /// printed list says it is "as of".
    pub async fn latest_as_of(&self) -> Result<Option<String>, StoreError> {
        sqlx::query("SELECT as_of FROM reconcile_runs ORDER BY run_id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(doing("reading the latest run"))?
            .map(|r| r.try_get(0).map_err(doing("reading the latest run")))
            .transpose()
    }

    /// Replaces a run's stored summary: the time its ticket changes took is known
    /// only once they are committed with the run.
    pub async fn update_run_summary(
        &self,
        run_id: i64,
        summary: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write("beginning a run summary").await?;
        sqlx::query("UPDATE reconcile_runs SET summary = $1 WHERE run_id = $2")
            .bind(summary.to_string())
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(doing("recording a run summary"))?;
        tx.commit("committing a run summary").await
    }

    /// Recent runs, newest first: (run_id, as_of, finished_at, summary).
    pub async fn recent_runs(
        &self,
        limit: i64,
    ) -> Result<Vec<(i64, String, String, serde_json::Value)>, StoreError> {
        let rows = sqlx::query("SELECT run_id, as_of, finished_at, summary FROM reconcile_runs ORDER BY run_id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(doing("reading runs"))?;
        rows.iter()
            .map(|r| {
                let d = || doing("decoding a run");
                let run_id: i64 = r.try_get(0).map_err(d())?;
                let summary: String = r.try_get(3).map_err(d())?;
                Ok((
                    run_id,
                    r.try_get(1).map_err(d())?,
                    r.try_get(2).map_err(d())?,
                    serde_json::from_str(&summary).map_err(|e| StoreError::Corrupt {
                        what: "run summary",
                        detail: format!("run {run_id}: {e}"),
                    })?,
                ))
            })
            .collect()
    }
}

pub(super) fn evidence_json(d: &crate::tickets::TicketDraft) -> String {
    serde_json::Value::Array(d.evidence.iter().map(|e| e.to_json()).collect()).to_string()
}

pub(super) fn suggestion_json(d: &crate::tickets::TicketDraft) -> Option<String> {
    d.suggestion
        .map(|s| serde_json::json!({"id_number": s.as_str()}).to_string())
}

async fn update_content(
    tx: &mut WriteTx,
    id: &str,
    draft: &crate::tickets::TicketDraft,
    digest: &str,
    status: Option<&str>,
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE tickets SET subject = $1, evidence = $2, evidence_digest = $3, summary_zh = $4, suggestion = $5,
         person_key = $6, village = $7, updated_at = $8, status = COALESCE($9, status),
         dismissed_digest = CASE WHEN $9 IS NULL THEN dismissed_digest ELSE NULL END WHERE ticket_id = $10",
    )
    .bind(draft.subject.to_json().to_string())
    .bind(evidence_json(draft))
    .bind(digest.to_string())
    .bind(draft.summary_zh.clone())
    .bind(suggestion_json(draft))
    .bind(draft.person_key.clone())
    .bind(draft.village.clone())
    .bind(now.to_string())
    .bind(status.map(str::to_string))
    .bind(id.to_string())
    .execute(&mut **tx)
    .await
    .map_err(doing("refreshing a ticket"))?;
    Ok(())
}

async fn set_status(
    tx: &mut WriteTx,
    id: &str,
    to: &str,
    actor: &Actor<'_>,
    reason: &str,
) -> Result<(), StoreError> {
    let from: String = sqlx::query("SELECT status FROM tickets WHERE ticket_id = $1")
        .bind(id.to_string())
        .fetch_one(&mut **tx)
        .await
        .map_err(doing("reading a ticket status"))?
        .try_get(0)
        .map_err(doing("reading a ticket status"))?;
    sqlx::query("UPDATE tickets SET status = $1, updated_at = $2 WHERE ticket_id = $3")
        .bind(to.to_string())
        .bind(actor.now.to_string())
        .bind(id.to_string())
        .execute(&mut **tx)
        .await
        .map_err(doing("changing a ticket status"))?;
    event(tx, id, Some(&from), to, actor, reason).await
}
