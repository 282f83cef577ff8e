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
    let rules = rules::Rules::new(&view, &params.counties);
    let (tickets, births, pis_person) = rules.run();
    let (persons, unlinked) = registry::build(snap, &view, &births, &pis_person);
    Outcome {
        tickets,
        persons,
        unlinked,
        voided_certificates: view.voided.iter().cloned().collect(),
    }
}
