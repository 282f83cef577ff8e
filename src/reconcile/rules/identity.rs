//! Who a record says it is: `INVALID_ID`, `PHANTOM_RECORD` and `IDENTITY_MISMATCH`.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt, HashSet};

use super::Rules;
use crate::domain::{same_name, IdNumber, TownshipCode};
use crate::reconcile::sentences::{
    identity_mismatch, invalid_id_birth_date, invalid_id_malformed, invalid_id_sex,
    likely_correction, phantom_unknown_id, phantom_without_id, pis_evidence, psb_evidence,
};
use crate::reconcile::view::Identity;
use crate::tickets::{Subject, TicketDraft, TicketKind};

impl Rules<'_, '_> {
    /// `INVALID_ID` (tickets.md, The kinds): an active record, not covered by
    /// `DEATH_NOT_RECORDED` (`death_records`), whose non-empty `sfzh` denotes no PSB
    /// person and is not a valid ID, or is valid but contradicts the record's own
    /// `csrq` or `xb`.
    ///
    /// Returns the drafts by PIS record, held, not raised: `RESIDENT_MISSING` reads
    /// them first and may find each its likely correction; then
    /// [`Rules::raise_invalid_ids`] raises them.
    pub(super) fn invalid_ids(
        &self,
        death_records: &HashSet<usize>,
    ) -> HashMap<usize, TicketDraft> {
        let mut held = HashMap::new();
        for (i, r) in self.view.pis.iter().enumerate() {
            if !r.is_active() || r.id_norm.is_empty() || death_records.contains(&i) {
                continue;
            }
            let summary = match IdNumber::parse(&r.id_norm) {
                Err(e) => invalid_id_malformed(r, &e),
                Ok(_) if self.denoted.psb_place(i).is_some() => continue,
                Ok(id) if id.birth_date() != r.birth_date => invalid_id_birth_date(r),
                Ok(id) if id.sex() != r.sex => invalid_id_sex(r),
                Ok(_) => continue,
            };
            let subject = Subject {
                pis_person_id: Some(r.person_id.to_string()),
                ..Subject::default()
            };
            let draft = self.draft(
                TicketKind::InvalidId,
                r.village.township(),
                subject,
                vec![pis_evidence(r)],
                summary,
                &[i],
            );
            held.insert(i, draft);
        }
        held
    }

    /// Raises the held `INVALID_ID` drafts in register order, each with its likely
    /// correct ID where `RESIDENT_MISSING` found one (`corrections`, by PIS record).
    pub(super) fn raise_invalid_ids(
        &mut self,
        held: HashMap<usize, TicketDraft>,
        corrections: &HashMap<usize, IdNumber>,
    ) {
        let mut held: Vec<(usize, TicketDraft)> = held.into_iter().collect();
        held.sort_unstable_by_key(|&(i, _)| i);
        for (i, mut draft) in held {
            if let Some(&id) = corrections.get(&i) {
                draft.suggestion = Some(id);
                draft.summary_zh.push_str(&likely_correction(id));
            }
            self.drafts.push(draft);
        }
    }

    /// `PHANTOM_RECORD` (tickets.md, The kinds): an active record, covered by neither
    /// `DEATH_NOT_RECORDED` (`death_records`) nor `INVALID_ID` (`invalid`), that
    /// denotes nobody known: its valid ID is no PSB person's and has no death
    /// evidence; or it has no `sfzh`, denotes no birth, and its `csrq` is overdue.
    pub(super) fn phantoms(
        &mut self,
        death_records: &HashSet<usize>,
        invalid: &HashMap<usize, TicketDraft>,
    ) {
        for (i, r) in self.view.pis.iter().enumerate() {
            if !r.is_active() || death_records.contains(&i) || invalid.contains_key(&i) {
                continue;
            }
            let (subject, summary) = if r.id_norm.is_empty() {
                if self.denoted.pis_birth[i].is_some() || r.birth_date > self.view.dates.overdue {
                    continue;
                }
                (
                    Subject {
                        pis_person_id: Some(r.person_id.to_string()),
                        ..Subject::default()
                    },
                    phantom_without_id(r),
                )
            } else {
                // The record's own ID, parsed once in the denotations (none: invalid).
                let Some(id) = self.denoted.pis_person[i] else {
                    continue;
                };
                if self.denoted.psb_place(i).is_some() || self.view.deaths.contains_key(&id) {
                    continue;
                }
                (
                    Subject {
                        pis_person_id: Some(r.person_id.to_string()),
                        id_number: Some(id),
                        ..Subject::default()
                    },
                    phantom_unknown_id(r),
                )
            };
            self.push(
                TicketKind::PhantomRecord,
                r.village.township(),
                subject,
                vec![pis_evidence(r)],
                summary,
                &[i],
            );
        }
    }

    /// `IDENTITY_MISMATCH` (tickets.md, The kinds): an active record denotes a PSB
    /// person on the register, without death evidence, but its normalised name, `xb`
    /// or `csrq` differ from the person's current identity (while `BG` corrections are
    /// within grace, the identities before and after them are accepted too); one
    /// ticket per township of such records.
    pub(super) fn identity_mismatch(&mut self) {
        let view = self.view;
        // Household-register persons and their active records, both walked in ID
        // order; the few that disagree are kept, then raised.
        let mut disagreeing = Vec::new();
        let mut active = self.active_by_person.walk();
        for (&id, p) in view.psb.iter() {
            let records = active.of(&id);
            // On the register and not off it (`QC` is not "on the register").
            if records.is_empty() || !p.on_register() || view.deaths.contains_key(&id) {
                continue;
            }
            // The common case, checked without building identities: every record
            // states the person as the register does now.
            let last = p.latest();
            if records.iter().all(|&i| {
                let r = &view.pis[i];
                r.sex == last.sex
                    && r.birth_date == last.birth_date
                    && same_name(&r.name, &last.name)
            }) {
                continue;
            }
            let accepted = p.accepted_identities(&view.dates);
            let mut bad: BTreeMap<TownshipCode, Vec<usize>> = BTreeMap::new();
            for &i in records {
                if !accepted.contains(&Identity::of_pis(&view.pis[i])) {
                    bad.entry(view.pis[i].village.township())
                        .or_default()
                        .push(i);
                }
            }
            disagreeing.push((id, p, bad));
        }
        for (id, p, bad) in disagreeing {
            for (township, recs) in bad {
                let mut ev = vec![psb_evidence(p.latest())];
                ev.extend(recs.iter().map(|&i| pis_evidence(self.pis(i))));
                let summary = identity_mismatch(self.pis(recs[0]), p);
                self.push(
                    TicketKind::IdentityMismatch,
                    township,
                    Subject::id(id),
                    ev,
                    summary,
                    &recs,
                );
            }
        }
    }
}
