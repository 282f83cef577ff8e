//! Where a person lives: `MOVE_OUT_NOT_RECORDED`, `MOVE_IN_NOT_RECORDED`,
//! `RESIDENCE_MISMATCH` and `RESIDENT_MISSING`.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use super::Rules;
use crate::domain::{IdNumber, TownshipCode};
use crate::reconcile::sentences::{
    move_in_not_recorded, move_out_not_recorded, pis_evidence, psb_evidence, residence_mismatch,
    resident_missing,
};
use crate::reconcile::view::Identity;
use crate::records::PsbEventKind;
use crate::tickets::{Subject, TicketDraft, TicketKind};

impl Rules<'_, '_> {
    /// `MOVE_OUT_NOT_RECORDED` (tickets.md, The kinds): a PSB person whose current
    /// state is an overdue `QC` is denoted by an active PIS record; one ticket per
    /// township of such records.
    pub(super) fn move_out_not_recorded(&mut self) {
        let view = self.view;
        for (&id, p) in view.psb.iter() {
            let last = p.latest();
            if last.kind != PsbEventKind::MoveOut || last.event_date > self.view.dates.overdue {
                continue;
            }
            for (township, recs) in self.active_by_township(&id) {
                let mut ev = vec![psb_evidence(last)];
                ev.extend(recs.iter().map(|&i| pis_evidence(self.pis(i))));
                self.push(
                    TicketKind::MoveOutNotRecorded,
                    township,
                    Subject::id(id),
                    ev,
                    move_out_not_recorded(last),
                    &recs,
                );
            }
        }
    }

    /// `MOVE_IN_NOT_RECORDED` (tickets.md, The kinds): a PSB person without death
    /// evidence whose current state is an overdue `QR` has no active PIS record in the
    /// destination township, which receives the ticket. Returns the persons it covers,
    /// who get no `RESIDENT_MISSING`.
    pub(super) fn move_in_not_recorded(&mut self) -> HashSet<IdNumber> {
        let mut covered = HashSet::new();
        let view = self.view;
        for (&id, p) in view.psb.iter() {
            let last = p.latest();
            if last.kind != PsbEventKind::MoveIn
                || last.event_date > self.view.dates.overdue
                || self.view.deaths.contains_key(&id)
            {
                continue;
            }
            let dest = last.division.township();
            if self.in_township(&id, dest) {
                continue;
            }
            covered.insert(id);
            let mut ev = vec![psb_evidence(last)];
            ev.extend(
                self.active_by_person
                    .of(&id)
                    .iter()
                    .map(|&i| pis_evidence(self.pis(i))),
            );
            self.push(
                TicketKind::MoveInNotRecorded,
                dest,
                Subject::id(id),
                ev,
                move_in_not_recorded(last),
                &[],
            );
        }
        covered
    }

    /// `RESIDENCE_MISMATCH` (tickets.md, The kinds): a PSB person on the register,
    /// not off it, whose latest event is not a `QR`, is denoted by an active PIS record
    /// in a township other than their PSB township; one ticket per such township.
    pub(super) fn residence_mismatch(&mut self) {
        let view = self.view;
        for (&id, p) in view.psb.iter() {
            let last = p.latest();
            if !p.on_register() || last.kind == PsbEventKind::MoveIn || self.off_register(&id) {
                continue;
            }
            let home = p.township();
            // Most people are registered where they live: no grouping to do.
            if self
                .active_by_person
                .of(&id)
                .iter()
                .all(|&i| self.pis(i).village.township() == home)
            {
                continue;
            }
            for (township, recs) in self.active_by_township(&id) {
                if township == home {
                    continue;
                }
                let mut ev = vec![psb_evidence(last)];
                ev.extend(recs.iter().map(|&i| pis_evidence(self.pis(i))));
                self.push(
                    TicketKind::ResidenceMismatch,
                    township,
                    Subject::id(id),
                    ev,
                    residence_mismatch(last, home),
                    &recs,
                );
            }
        }
    }

    /// `RESIDENT_MISSING` (tickets.md, The kinds): a PSB person on the register, with
    /// no death evidence, denoted by no active PIS record, not covered by
    /// `BIRTH_NOT_IN_PIS` (`birth_children`) or `MOVE_IN_NOT_RECORDED` (`move_in`),
    /// and whose latest event is not a `CS` or `QR` still within grace.
    ///
    /// Not raised when a held `INVALID_ID` draft's record (`invalid`, by PIS record)
    /// in their PSB township shows their name, sex and birth date (or an identity
    /// before a `BG` still within grace). Returns, for each such record that shows
    /// exactly one person, that person's ID: the record's likely correction.
    pub(super) fn resident_missing(
        &mut self,
        birth_children: &HashSet<IdNumber>,
        move_in: &HashSet<IdNumber>,
        invalid: &HashMap<usize, TicketDraft>,
    ) -> HashMap<usize, IdNumber> {
        let dates = self.view.dates;
        let mut candidates: Vec<IdNumber> = Vec::new();
        let mut active = self.active_by_person.walk();
        for (id, p) in self.view.psb.iter() {
            let last = p.latest();
            if !p.on_register()
                || self.view.deaths.contains_key(id)
                || !active.of(id).is_empty()
                || birth_children.contains(id)
                || move_in.contains(id)
                || (matches!(last.kind, PsbEventKind::Birth | PsbEventKind::MoveIn)
                    && last.event_date > dates.overdue)
            {
                continue;
            }
            candidates.push(*id);
        }
        // An INVALID_ID record in the person's township with their name, sex and birth
        // date is most likely them with a mistyped ID.
        let mut invalid_by_township: HashMap<TownshipCode, Vec<usize>> = HashMap::new();
        for &i in invalid.keys() {
            invalid_by_township
                .entry(self.pis(i).village.township())
                .or_default()
                .push(i);
        }
        let mut matched_persons: HashMap<usize, Vec<IdNumber>> = HashMap::new();
        let mut suppressed: HashSet<IdNumber> = HashSet::new();
        for id in &candidates {
            let p = &self.view.psb[id];
            let Some(recs) = invalid_by_township.get(&p.township()) else {
                continue;
            };
            let mut accepted = p.accepted_identities(&dates);
            let current = p.identity();
            if !accepted.contains(&current) {
                accepted.push(current);
            }
            for &i in recs {
                if accepted.contains(&Identity::of_pis(self.pis(i))) {
                    suppressed.insert(*id);
                    matched_persons.entry(i).or_default().push(*id);
                }
            }
        }
        let corrections = matched_persons
            .into_iter()
            .filter(|(_, persons)| persons.len() == 1)
            .map(|(i, persons)| (i, persons[0]))
            .collect();
        for id in candidates {
            if suppressed.contains(&id) {
                continue;
            }
            let p = &self.view.psb[&id];
            let last = p.latest();
            self.push(
                TicketKind::ResidentMissing,
                p.township(),
                Subject::id(id),
                vec![psb_evidence(last)],
                resident_missing(last),
                &[],
            );
        }
        corrections
    }
}
