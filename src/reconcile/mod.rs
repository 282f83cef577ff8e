//! Reconciliation: pure. Records and an as-of date in; the registry (golden records and
//! links) and ticket drafts out. No I/O, no clock: the same input gives the same output.

mod births;
mod marital;
mod registry;
mod rules;
mod ticket;
mod view;

pub use registry::{Field, GoldenRecord, RecordRef, Unlinked};
pub use ticket::{Evidence, Subject, TicketDraft, TicketKind};

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
#[derive(Debug)]
pub struct Outcome<'a> {
    pub tickets: Vec<TicketDraft>,
    pub persons: Vec<GoldenRecord<'a>>,
    /// Source records that denote no person, with the reason.
    pub unlinked: Vec<Unlinked<'a>>,
    /// Certificates whose current version is void: tickets resting on them are withdrawn.
    pub voided_certificates: HashSet<String>,
}

/// Reconciles every department's records as of `params.as_of`.
pub fn reconcile<'a>(snap: &'a Snapshot, params: &Params) -> Outcome<'a> {
    let dates = view::Dates::new(
        params.as_of,
        params.grace_days,
        params.birth_registration_grace_days,
    );
    let view = view::View::build(snap, dates);
    let denoted = rules::Denotations::new(&view);
    // The rules and the golden records read the same view and denotations and
    // nothing of each other: on a second core, the golden records cost no time.
    let (tickets, (persons, unlinked)) = std::thread::scope(|s| {
        let registry =
            s.spawn(|| registry::build(snap, &view, &denoted.births, &denoted.pis_person));
        let tickets = rules::Rules::new(&view, &denoted, &params.counties).run();
        let registry = registry
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (tickets, registry)
    });
    Outcome {
        tickets,
        persons,
        unlinked,
        voided_certificates: view.voided.iter().cloned().collect(),
    }
}
