//! `popsync reconcile --full`: the whole city recomputed in memory with the run's own
//! code (`reconcile::prepare`, the rules, the registry plans, `tickets::plan`) and
//! compared with the stored tickets and registry. It writes no ticket, no golden
//! record and no run: only its outcome, in `full_checks`, for `status`.
//!
//! Today every run recomputes the whole city, so the two differ only through a bug or
//! a store edited behind popsync's back; once runs are incremental (issue 16), this is
//! the oracle they are checked against.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::events::FullCheckFinished;
use super::reconcile::{inputs_of, params_of};
use crate::config::Config;
use crate::domain::{format_timestamp, hex, now_local};
use crate::reconcile::prepare;
use crate::store::{FullCheckRow, RegistryComparison, Store, StoreError};
use crate::tickets::{plan, Change, ExistingTicket, Status};

/// Why a full check could not compare.
#[derive(Debug, thiserror::Error)]
pub enum FullCheckError {
    #[error("no reconciliation has run yet: there is no stored state to check (run `popsync reconcile` first)")]
    NoRun,
    #[error("records or settings changed since run {run_id} ({since}): the stored state is not the recompute's to equal; run `popsync reconcile` first, or give --as-of to compare anyway")]
    InputsMoved { run_id: i64, since: String },
    #[error("the last run's as-of date {0:?} is not a date")]
    BadAsOf(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How the stored tickets differ from the recompute: the changes the lifecycle would
/// make, counted per kind of change, with a few ticket IDs of each.
#[derive(Debug, Default, Serialize, Clone)]
pub struct TicketComparison {
    pub opened: u64,
    pub reopened: u64,
    /// Open tickets whose evidence the recompute changes.
    pub refreshed: u64,
    pub resolved: u64,
    pub withdrawn: u64,
    /// Up to five ticket IDs per kind of change.
    pub examples: BTreeMap<&'static str, Vec<String>>,
    pub stored_open: u64,
    pub recomputed_open: u64,
    /// SHA-256 over the stored open tickets' sorted (ticket_id, kind, township, status,
    /// evidence digest).
    pub stored_digest: String,
    /// The same over the open tickets the lifecycle would leave.
    pub recomputed_digest: String,
}

impl TicketComparison {
    pub fn differences(&self) -> u64 {
        self.opened + self.reopened + self.refreshed + self.resolved + self.withdrawn
    }
}

/// What one full check found.
#[derive(Debug, Serialize, Clone)]
pub struct FullCheck {
    /// The run whose stored state was checked (the last one).
    pub run_id: i64,
    pub as_of: String,
    /// Whether the recompute's inputs (sources, as-of date, settings) are the last run's.
    pub inputs_match_last_run: bool,
    pub equal: bool,
    pub tickets: TicketComparison,
    pub registry: RegistryComparison,
    pub checked_at: String,
    pub elapsed_ms: u64,
}

impl FullCheck {
    /// 0 when equal, 1 when they differ (2, could not check, is the caller's).
    pub fn exit_code(&self) -> u8 {
        if self.equal {
            0
        } else {
            1
        }
    }

    /// The report as operators read it.
    pub fn render_text(&self) -> String {
        let t = &self.tickets;
        let r = &self.registry;
        let mut out = format!(
            "full check of run {} as of {}: {}\n",
            self.run_id,
            self.as_of,
            if self.equal {
                "EQUAL: the stored tickets and registry are what a recompute gives"
            } else {
                "DIFFERENT: the stored tickets or registry are not what a recompute gives"
            }
        );
        if !self.inputs_match_last_run {
            out.push_str("note: the inputs (sources, as-of date or settings) are not the last run's, so differences are expected\n");
        }
        out.push_str(&format!(
            "tickets: {} open stored, {} after a recompute; opened {}, reopened {}, refreshed {}, resolved {}, withdrawn {}\n",
            t.stored_open, t.recomputed_open, t.opened, t.reopened, t.refreshed, t.resolved, t.withdrawn
        ));
        for (kind, ids) in &t.examples {
            out.push_str(&format!("  {kind}: {}\n", ids.join(" ")));
        }
        out.push_str(&format!("  digest stored     {}\n", t.stored_digest));
        out.push_str(&format!("  digest recomputed {}\n", t.recomputed_digest));
        out.push_str(&format!(
            "registry: {} golden records stored, {} recomputed; changed {}, missing {}, extra {}; records that denote nobody missing or changed {}, extra {}\n",
            r.persons_stored, r.persons_recomputed, r.persons_changed, r.persons_missing,
            r.persons_extra, r.unlinked_missing_or_changed, r.unlinked_extra
        ));
        if !r.examples.is_empty() {
            out.push_str(&format!("  e.g. {}\n", r.examples.join(" ")));
        }
        out.push_str(&format!("  digest stored     {}\n", r.stored_digest));
        out.push_str(&format!("  digest recomputed {}\n", r.recomputed_digest));
        if !self.equal && self.inputs_match_last_run {
            out.push_str("what to do: keep this report (--format json); the store was changed outside popsync or reconciliation has a bug (docs/operations.md, \"Full check\")\n");
        }
        out
    }
}

/// Recomputes the whole city as of the last run's date (or `as_of`) and compares it
/// with the stored state; records the outcome and emits its telemetry.
pub async fn full_check(
    store: &Store,
    config: &Config,
    as_of: Option<NaiveDate>,
) -> Result<FullCheck, FullCheckError> {
    let t0 = Instant::now();
    let result = compare(store, config, as_of, t0).await;
    if let Ok(c) = &result {
        store
            .record_full_check(&FullCheckRow {
                checked_at: c.checked_at.clone(),
                as_of: c.as_of.clone(),
                run_id: c.run_id,
                equal: c.equal,
                ticket_differences: c.tickets.differences(),
                registry_differences: c.registry.differences(),
                summary: serde_json::to_value(c).unwrap_or_default(),
            })
            .await?;
    }
    FullCheckFinished {
        result: &result,
        elapsed: t0.elapsed(),
    }
    .emit();
    result
}

async fn compare(
    store: &Store,
    config: &Config,
    as_of: Option<NaiveDate>,
    t0: Instant,
) -> Result<FullCheck, FullCheckError> {
    let Some((run_id, last_as_of, _, last)) = store.recent_runs(1).await?.into_iter().next() else {
        return Err(FullCheckError::NoRun);
    };
    let explicit = as_of.is_some();
    let as_of = match as_of {
        Some(d) => d,
        None => last_as_of
            .parse()
            .map_err(|_| FullCheckError::BadAsOf(last_as_of.clone()))?,
    };
    let params = params_of(config, as_of);
    // Read before the snapshot, as a run does: a commit landing meanwhile shows here.
    let inputs = inputs_of(store.source_version().await?, &params);
    let inputs_match_last_run = last["inputs"].as_str() == Some(inputs.as_str());
    if !inputs_match_last_run && !explicit {
        return Err(FullCheckError::InputsMoved {
            run_id,
            since: last["inputs"].as_str().unwrap_or("-").to_string(),
        });
    }
    let snapshot = store.load_snapshot().await?;
    let prepared = crate::parallel::off_the_runtime(|| prepare(&snapshot, &params));
    // The run's own shape: the rules on one thread, the registry plans on the other,
    // compared (not written) with the store's digests.
    let (drafts, _, registry) = prepared.tickets_beside(&params.counties, |plans| {
        tokio::runtime::Handle::current().block_on(store.compare_registry(&plans, &plans.unlinked))
    });
    let registry = registry?;
    let voided = prepared.voided_certificates();
    drop(prepared);
    drop(snapshot);
    let existing = store.ticket_states().await?;
    // A commit that landed while the records were read (a pull beside the check) made
    // the recompute a mix of two stores: no verdict, as if it had landed before.
    if !explicit && inputs_of(store.source_version().await?, &params) != inputs {
        return Err(FullCheckError::InputsMoved {
            run_id,
            since: last["inputs"].as_str().unwrap_or("-").to_string(),
        });
    }
    let changes = plan(&existing, drafts, &voided);
    let tickets = compare_tickets(&existing, &changes);
    Ok(FullCheck {
        run_id,
        as_of: as_of.to_string(),
        inputs_match_last_run,
        equal: tickets.differences() == 0 && registry.differences() == 0,
        tickets,
        registry,
        checked_at: format_timestamp(now_local()),
        elapsed_ms: t0.elapsed().as_millis() as u64,
    })
}

/// One open ticket as the digest reads it: (kind, township, status, evidence digest).
type OpenTicket = (String, String, &'static str, String);

/// The lifecycle's changes as differences, and each side's open tickets as a digest.
pub fn compare_tickets(existing: &[ExistingTicket], changes: &[Change]) -> TicketComparison {
    let mut stored: BTreeMap<String, OpenTicket> = BTreeMap::new();
    for t in existing.iter().filter(|t| t.status == Status::Open) {
        stored.insert(
            t.ticket_id.clone(),
            (
                t.kind.as_str().to_string(),
                t.township.to_string(),
                Status::Open.as_str(),
                t.evidence_digest.clone(),
            ),
        );
    }
    let mut after = stored.clone();
    let mut c = TicketComparison::default();
    let note = |c: &mut TicketComparison, what: &'static str, id: &str| {
        let ids = c.examples.entry(what).or_default();
        if ids.len() < 5 {
            ids.push(id.to_string());
        }
    };
    for change in changes {
        let (id, draft, digest) = match change {
            Change::Open {
                ticket_id,
                draft,
                digest,
            } => {
                c.opened += 1;
                note(&mut c, "opened", ticket_id);
                (ticket_id, draft, digest)
            }
            Change::Reopen {
                ticket_id,
                draft,
                digest,
                ..
            } => {
                c.reopened += 1;
                note(&mut c, "reopened", ticket_id);
                (ticket_id, draft, digest)
            }
            Change::Refresh {
                ticket_id,
                draft,
                digest,
                changed,
            } => {
                if *changed {
                    c.refreshed += 1;
                    note(&mut c, "refreshed", ticket_id);
                }
                (ticket_id, draft, digest)
            }
            Change::Resolve { ticket_id } => {
                c.resolved += 1;
                note(&mut c, "resolved", ticket_id);
                after.remove(ticket_id);
                continue;
            }
            Change::Withdraw { ticket_id } => {
                c.withdrawn += 1;
                note(&mut c, "withdrawn", ticket_id);
                after.remove(ticket_id);
                continue;
            }
        };
        after.insert(
            id.clone(),
            (
                draft.kind.as_str().to_string(),
                draft.township.to_string(),
                Status::Open.as_str(),
                digest.clone(),
            ),
        );
    }
    c.stored_open = stored.len() as u64;
    c.recomputed_open = after.len() as u64;
    c.stored_digest = open_digest(&stored);
    c.recomputed_digest = open_digest(&after);
    c
}

/// SHA-256 over open tickets in ticket ID order, in hex.
fn open_digest(open: &BTreeMap<String, OpenTicket>) -> String {
    let mut h = Sha256::new();
    for (id, (kind, township, status, digest)) in open {
        for part in [id.as_str(), kind, township, status, digest] {
            h.update(part.as_bytes());
            h.update([0]);
        }
    }
    hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TownshipCode;
    use crate::tickets::{ticket_id, Evidence, Subject, TicketDraft, TicketKind};

    fn draft(pis: &str, detail: &str) -> TicketDraft {
        TicketDraft {
            kind: TicketKind::PhantomRecord,
            township: TownshipCode::parse("349901003").expect("a township"),
            subject: Subject {
                pis_person_id: Some(pis.to_string()),
                ..Subject::default()
            },
            evidence: vec![Evidence {
                source: "pis",
                record: pis.to_string(),
                detail: detail.to_string(),
            }],
            summary_zh: String::new(),
            suggestion: None,
            person_key: None,
            village: None,
        }
    }

    fn stored(d: &TicketDraft, status: Status) -> ExistingTicket {
        let digest = crate::tickets::lifecycle::evidence_digest(d);
        ExistingTicket {
            ticket_id: ticket_id(d.kind, d.township, &d.subject_key()),
            kind: d.kind,
            township: d.township,
            subject_key: d.subject_key(),
            status,
            dismissed_digest: (status == Status::Dismissed).then(|| digest.clone()),
            evidence_digest: digest,
            certificates: Vec::new(),
            summary_zh: d.summary_zh.clone(),
            suggestion: d.suggestion.map(|s| s.to_string()),
        }
    }

    /// What the run would leave alone is no difference (an open ticket found again with
    /// the same evidence, a dismissal whose evidence is unchanged); what it would change
    /// is, and it moves the recomputed side's digest only.
    #[test]
    fn only_what_the_lifecycle_would_change_is_a_difference() {
        let (a, b, c) = (draft("P1", "x"), draft("P2", "x"), draft("P3", "x"));
        let existing = vec![
            stored(&a, Status::Open),
            stored(&b, Status::Dismissed),
            stored(&c, Status::Open),
        ];
        let voided = Default::default();
        let same = plan(&existing, vec![a.clone(), b.clone(), c.clone()], &voided);
        let equal = compare_tickets(&existing, &same);
        assert_eq!(equal.differences(), 0, "{equal:?}");
        assert_eq!(equal.stored_digest, equal.recomputed_digest);
        assert_eq!((equal.stored_open, equal.recomputed_open), (2, 2));

        let changed = plan(
            &existing,
            vec![draft("P1", "y"), b, draft("P4", "x")],
            &voided,
        );
        let differ = compare_tickets(&existing, &changed);
        assert_eq!(
            (
                differ.opened,
                differ.refreshed,
                differ.resolved,
                differ.reopened,
                differ.withdrawn
            ),
            (1, 1, 1, 0, 0),
            "{differ:?}"
        );
        assert_eq!(differ.examples["resolved"], [existing[2].ticket_id.clone()]);
        assert_eq!(differ.stored_digest, equal.stored_digest);
        assert_ne!(differ.recomputed_digest, differ.stored_digest);
    }
}
