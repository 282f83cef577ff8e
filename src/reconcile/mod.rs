//! Reconciliation: pure. Records and an as-of date in; the registry (golden records and
//! links) and ticket drafts out. No I/O, no clock: the same input gives the same output.

mod births;
pub mod cases;
mod denotes;
mod marital;
mod registry;
mod rules;
mod sentences;
mod view;
mod walks;

use crate::tickets::TicketDraft;
pub use registry::{Field, GoldenRecord, PersonState, Persons, RecordRef, RegistryPlans, Unlinked};

use std::collections::HashSet;

use chrono::NaiveDate;

use crate::records::Snapshot;

/// What reconciliation needs besides the records.
#[derive(Clone, Debug)]
pub struct Params {
    pub as_of: NaiveDate,
    pub grace_days: i64,
    pub birth_registration_grace_days: i64,
    /// The city's 6-digit county codes.
    pub counties: Vec<String>,
}

/// What one reconciliation found. The registry borrows from the snapshot it was built
/// from.
pub struct Outcome<'a> {
    pub tickets: Vec<TicketDraft>,
    pub registry: RegistryPlans<'a>,
    /// Certificates whose current version is void: tickets resting on them are withdrawn.
    pub voided_certificates: HashSet<String>,
}

/// What both the rules and the registry read: the as-of view, and who denotes whom.
/// Neither reads anything of the other, so a run can raise tickets on one core while
/// it writes the registry with the other.
pub struct Prepared<'a> {
    snap: &'a Snapshot,
    view: view::View<'a>,
    denoted: denotes::Denotations<'a>,
}

/// Builds the as-of view of `snap` and pairs what denotes whom.
pub fn prepare<'a>(snap: &'a Snapshot, params: &Params) -> Prepared<'a> {
    let dates = view::Dates::new(
        params.as_of,
        params.grace_days,
        params.birth_registration_grace_days,
    );
    let view = view::View::build(snap, dates);
    let denoted = denotes::Denotations::new(&view);
    Prepared {
        snap,
        view,
        denoted,
    }
}

impl<'a> Prepared<'a> {
    /// Every ticket the rules raise, in a stable order.
    pub fn tickets(&self, counties: &[String]) -> Vec<TicketDraft> {
        rules::Rules::new(&self.view, &self.denoted, counties).run()
    }

    /// The golden records' plans and every record's link.
    pub fn registry(&self) -> RegistryPlans<'a> {
        registry::build(self.snap, &self.view, &self.denoted)
    }

    /// The rules on a thread of their own while the caller's thread plans the golden
    /// records and hands them to `with_plans` (a run writes them to the store there):
    /// neither waits for the other. The tickets, how long the rules took, and
    /// `with_plans`' result.
    pub fn tickets_beside<R>(
        &self,
        counties: &[String],
        with_plans: impl FnOnce(RegistryPlans<'a>) -> R,
    ) -> (Vec<TicketDraft>, std::time::Duration, R) {
        let ((tickets, rules_took), r) = crate::parallel::join(
            || {
                let started = std::time::Instant::now();
                (self.tickets(counties), started.elapsed())
            },
            || with_plans(self.registry()),
        );
        (tickets, rules_took, r)
    }

    /// Certificates whose current version is void.
    pub fn voided_certificates(&self) -> HashSet<String> {
        self.view.voided.iter().cloned().collect()
    }
}

/// Reconciles every department's records as of `params.as_of`: the registry and the
/// tickets, built on two threads at once.
pub fn reconcile<'a>(snap: &'a Snapshot, params: &Params) -> Outcome<'a> {
    let prepared = prepare(snap, params);
    let (tickets, _, registry) = prepared.tickets_beside(&params.counties, |plans| plans);
    Outcome {
        tickets,
        registry,
        voided_certificates: prepared.voided_certificates(),
    }
}
