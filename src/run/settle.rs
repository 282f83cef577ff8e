//! The lifecycle of some cases' tickets: the tickets stored for those cases (and any
//! ticket a draft names, wherever it is stamped) planned against the drafts, and what
//! the plan changes counted per kind and township. A run that recomputed every case
//! plans once over all; a bucket plans over its own cases.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::store::cases::CaseId;
use crate::store::{Store, StoreError};
use crate::tickets::{plan, Change, ExistingTicket, TicketDraft};

/// Counts of one run, per kind and per township.
#[derive(Debug, Default, Serialize, Deserialize, Clone)]
pub struct Counts {
    pub opened: u64,
    pub still_open: u64,
    pub reopened: u64,
    pub resolved: u64,
    pub withdrawn: u64,
}

impl Counts {
    pub(super) fn add(&mut self, o: &Counts) {
        self.opened += o.opened;
        self.still_open += o.still_open;
        self.reopened += o.reopened;
        self.resolved += o.resolved;
        self.withdrawn += o.withdrawn;
    }
}

/// What some ticket changes did: in all, per kind, per township, and the tickets they
/// opened or reopened per township and kind (which are open, but not still open).
#[derive(Debug, Default, Serialize, Deserialize, Clone)]
pub struct TicketCounts {
    pub total: Counts,
    pub by_kind: BTreeMap<String, Counts>,
    pub by_township: BTreeMap<String, Counts>,
    pub came: BTreeMap<String, BTreeMap<String, u64>>,
}

impl TicketCounts {
    /// Counts `changes`, planned over `existing`.
    fn of(changes: &[Change], existing: &[ExistingTicket]) -> TicketCounts {
        let stored: HashMap<&str, &ExistingTicket> =
            existing.iter().map(|t| (t.ticket_id.as_str(), t)).collect();
        let mut out = TicketCounts::default();
        for c in changes {
            let (kind, township, came, bump): (&str, String, bool, fn(&mut Counts)) = match c {
                Change::Open { draft, .. } => {
                    (draft.kind.as_str(), draft.township.to_string(), true, |c| {
                        c.opened += 1
                    })
                }
                Change::Refresh { .. } => continue,
                Change::Reopen { draft, .. } => {
                    (draft.kind.as_str(), draft.township.to_string(), true, |c| {
                        c.reopened += 1
                    })
                }
                Change::Resolve { ticket_id } => {
                    let t = stored[ticket_id.as_str()];
                    (t.kind.as_str(), t.township.to_string(), false, |c| {
                        c.resolved += 1
                    })
                }
                Change::Withdraw { ticket_id } => {
                    let t = stored[ticket_id.as_str()];
                    (t.kind.as_str(), t.township.to_string(), false, |c| {
                        c.withdrawn += 1
                    })
                }
            };
            if came {
                *out.came
                    .entry(township.clone())
                    .or_default()
                    .entry(kind.to_string())
                    .or_default() += 1;
            }
            bump(&mut out.total);
            bump(out.by_kind.entry(kind.to_string()).or_default());
            bump(out.by_township.entry(township).or_default());
        }
        out
    }

    pub(super) fn add(&mut self, o: &TicketCounts) {
        self.total.add(&o.total);
        add_counts(&mut self.by_kind, &o.by_kind);
        add_counts(&mut self.by_township, &o.by_township);
        add_came(&mut self.came, &o.came);
    }
}

/// Adds counts per kind (or per township) into others.
pub(super) fn add_counts(into: &mut BTreeMap<String, Counts>, from: &BTreeMap<String, Counts>) {
    for (k, c) in from {
        into.entry(k.clone()).or_default().add(c);
    }
}

/// Adds tickets opened or reopened per township and kind into others.
pub(super) fn add_came(
    into: &mut BTreeMap<String, BTreeMap<String, u64>>,
    from: &BTreeMap<String, BTreeMap<String, u64>>,
) {
    for (township, kinds) in from {
        let into = into.entry(township.clone()).or_default();
        for (kind, n) in kinds {
            *into.entry(kind.clone()).or_default() += n;
        }
    }
}

/// A lifecycle plan for some cases' tickets.
pub(super) struct TicketPlan {
    /// The stored tickets planned over.
    pub existing: Vec<ExistingTicket>,
    pub changes: Vec<Change>,
    /// The tickets whose case changed (or that are new), and the case each now has.
    pub stamps: Vec<(String, CaseId)>,
    pub counts: TicketCounts,
}

/// Plans the tickets of `scope` (`None`: every ticket) against `drafts`, each draft's
/// case given by its ticket's ID in `draft_cases`.
pub(super) async fn plan_tickets(
    store: &Store,
    scope: Option<&[CaseId]>,
    drafts: Vec<TicketDraft>,
    draft_cases: &HashMap<String, CaseId>,
    voided: &HashSet<String>,
) -> Result<TicketPlan, StoreError> {
    let drafted: Vec<String> = draft_cases.keys().cloned().collect();
    let (existing, stamped) = store.ticket_states_of(scope, &drafted).await?;
    Ok(plan_against(
        existing,
        &stamped,
        drafts,
        draft_cases,
        voided,
    ))
}

/// Plans `drafts` where no ticket is stored (a first run's buckets): each opens one.
pub(super) fn plan_new_tickets(
    drafts: Vec<TicketDraft>,
    draft_cases: &HashMap<String, CaseId>,
    voided: &HashSet<String>,
) -> TicketPlan {
    plan_against(Vec::new(), &HashMap::new(), drafts, draft_cases, voided)
}

/// Plans `drafts` against the stored tickets `existing`, whose cases are `stamped`.
fn plan_against(
    existing: Vec<ExistingTicket>,
    stamped: &HashMap<String, Option<CaseId>>,
    drafts: Vec<TicketDraft>,
    draft_cases: &HashMap<String, CaseId>,
    voided: &HashSet<String>,
) -> TicketPlan {
    let changes = plan(&existing, drafts, voided);
    let mut stamps: Vec<(String, CaseId)> = draft_cases
        .iter()
        .filter(|(id, case)| stamped.get(*id).copied().flatten() != Some(**case))
        .map(|(id, case)| (id.clone(), *case))
        .collect();
    stamps.sort_unstable();
    let counts = TicketCounts::of(&changes, &existing);
    TicketPlan {
        existing,
        changes,
        stamps,
        counts,
    }
}
