//! The twelve ticket rules of tickets.md and their precedence. Each rule reads the
//! as-of [`View`], who denotes whom ([`Denotations`]) and the active records per
//! person; none does I/O, and none words a ticket itself ([`super::sentences`] does).
//! One file per group of kinds: `births.rs`, `deaths.rs`, `residence.rs` (moves,
//! residence, missing residents), `identity.rs` (IDs and identities),
//! `duplicates.rs`, `marriage.rs`; this file holds what they share and
//! [`Rules::run`], which orders them.

mod births;
mod deaths;
mod duplicates;
mod identity;
mod marriage;
mod residence;

use std::collections::BTreeMap;

use super::denotes::Denotations;
use super::view::View;
use super::walks::ActiveRecords;
use crate::domain::{IdNumber, TownshipCode};
use crate::records::{PisRecord, PsbEventKind};
use crate::tickets::{Evidence, Subject, TicketDraft, TicketKind};

/// Everything the rules share: the view plus who-denotes-whom.
pub struct Rules<'a, 'v> {
    view: &'v View<'a>,
    counties: &'v [String],
    /// Births paired across departments, and what each PIS record denotes.
    denoted: &'v Denotations<'a>,
    /// Active PIS records per person ID.
    active_by_person: ActiveRecords,
    drafts: Vec<TicketDraft>,
}

impl<'a, 'v> Rules<'a, 'v> {
    pub fn new(
        view: &'v View<'a>,
        denoted: &'v Denotations<'a>,
        counties: &'v [String],
    ) -> Rules<'a, 'v> {
        let active = view
            .pis
            .iter()
            .zip(&denoted.pis_person)
            .enumerate()
            .filter(|(_, (r, _))| r.is_active())
            .filter_map(|(i, (_, person))| Some(((*person)?, i)))
            .collect();
        Rules {
            view,
            counties,
            denoted,
            active_by_person: ActiveRecords::new(active),
            drafts: Vec::new(),
        }
    }

    /// Runs every rule; returns the drafts in a stable order.
    ///
    /// The order carries tickets.md's precedence, so that one problem is one ticket:
    /// the records `DEATH_NOT_RECORDED` covers get neither `INVALID_ID` nor
    /// `PHANTOM_RECORD`; the persons `BIRTH_NOT_IN_PIS` and `MOVE_IN_NOT_RECORDED`
    /// cover get no `RESIDENT_MISSING`; an `INVALID_ID` record that shows a missing
    /// resident suppresses their `RESIDENT_MISSING` and carries their ID as its likely
    /// correction, so its drafts are held until `RESIDENT_MISSING` has looked, then
    /// raised; `INVALID_ID` records get no `PHANTOM_RECORD`. Persons off the register
    /// are left out by the rules that must leave them out ([`Rules::off_register`]).
    pub fn run(mut self) -> Vec<TicketDraft> {
        let death_records = self.death_not_recorded();
        self.move_out_not_recorded();
        let move_in = self.move_in_not_recorded();
        self.residence_mismatch();
        let birth_children = self.births_not_in_pis();
        self.births_not_registered();
        let invalid = self.invalid_ids(&death_records);
        let corrections = self.resident_missing(&birth_children, &move_in, &invalid);
        self.phantoms(&death_records, &invalid);
        self.raise_invalid_ids(invalid, &corrections);
        self.identity_mismatch();
        self.duplicates();
        self.marital_mismatch();
        let mut drafts = self.drafts;
        // The subject key is built once per draft, not once per comparison. The sort
        // is stable and kinds come first in its key, so the order rules raise their
        // tickets in decides nothing between kinds.
        drafts.sort_by_cached_key(|a| (a.kind, a.township, a.subject_key()));
        drafts
    }

    fn pis(&self, i: usize) -> &'a PisRecord {
        &self.view.pis[i]
    }

    /// The person has an active record in the township.
    fn in_township(&self, id: &IdNumber, township: TownshipCode) -> bool {
        self.active_by_person
            .of(id)
            .iter()
            .any(|&i| self.pis(i).village.township() == township)
    }

    /// Active records of a person, grouped by township (first record of each kept for evidence).
    fn active_by_township(&self, id: &IdNumber) -> BTreeMap<TownshipCode, Vec<usize>> {
        let mut m: BTreeMap<TownshipCode, Vec<usize>> = BTreeMap::new();
        for &i in self.active_by_person.of(id) {
            m.entry(self.pis(i).village.township()).or_default().push(i);
        }
        m
    }

    /// A draft about `records` (PIS record indexes; the first names the village).
    fn draft(
        &self,
        kind: TicketKind,
        township: TownshipCode,
        subject: Subject,
        evidence: Vec<Evidence>,
        summary_zh: String,
        records: &[usize],
    ) -> TicketDraft {
        let person_key = subject
            .id_number
            .or(subject.child_id_number)
            .map(|i| i.to_string());
        let village = records.first().map(|&i| self.pis(i).village.to_string());
        TicketDraft {
            kind,
            township,
            subject,
            evidence,
            summary_zh,
            suggestion: None,
            person_key,
            village,
        }
    }

    /// Raises a draft (see [`Rules::draft`]).
    fn push(
        &mut self,
        kind: TicketKind,
        township: TownshipCode,
        subject: Subject,
        evidence: Vec<Evidence>,
        summary_zh: String,
        records: &[usize],
    ) {
        let draft = self.draft(kind, township, subject, evidence, summary_zh, records);
        self.drafts.push(draft);
    }

    /// Off the register: death evidence, or a current state of `QC` (overdue or not).
    fn off_register(&self, id: &IdNumber) -> bool {
        self.view.deaths.contains_key(id)
            || self
                .view
                .psb
                .get(id)
                .is_some_and(|p| p.latest().kind == PsbEventKind::MoveOut)
    }
}
