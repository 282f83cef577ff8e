//! `MARITAL_STATUS_MISMATCH`: a register's `hyzk` that civil affairs contradicts.

use std::collections::BTreeMap;

use super::Rules;
use crate::domain::{IdNumber, TownshipCode};
use crate::reconcile::marital::MaritalHistory;
use crate::reconcile::sentences::{marital_status_mismatch, marriage_evidence, pis_evidence};
use crate::tickets::{Evidence, Subject, TicketKind};

impl Rules<'_, '_> {
    /// `MARITAL_STATUS_MISMATCH` (tickets.md, The kinds): a person, not off the
    /// register, with an active record and overdue `mca` marriage events, whose record's
    /// `hyzk` differs both from the status the overdue events imply and from the
    /// status all events up to `D` imply; one ticket per township of such records.
    pub(super) fn marital_mismatch(&mut self) {
        let histories = MaritalHistory::index(&self.view.marriages);
        let dates = self.view.dates;
        let mut ids: Vec<IdNumber> = histories
            .keys()
            .copied()
            .filter(|id| self.active_by_person.contains(id))
            .collect();
        ids.sort();
        for id in ids {
            if self.off_register(&id) {
                continue;
            }
            let h = &histories[&id];
            if !h.events.iter().any(|(m, _)| m.reg_date <= dates.overdue) {
                continue;
            }
            let (Some(overdue), Some(now)) = (
                h.status(self.view, dates.overdue),
                h.status(self.view, dates.as_of),
            ) else {
                continue;
            };
            let mut bad: BTreeMap<TownshipCode, Vec<usize>> = BTreeMap::new();
            for &i in self.active_by_person.of(&id) {
                let hyzk = self.pis(i).marital.as_ref();
                if !overdue.matches(hyzk) && !now.matches(hyzk) {
                    bad.entry(self.pis(i).village.township())
                        .or_default()
                        .push(i);
                }
            }
            for (township, recs) in bad {
                let mut ev: Vec<Evidence> = h
                    .events
                    .iter()
                    .filter(|(m, _)| m.reg_date <= dates.as_of)
                    .map(|(m, _)| marriage_evidence(m))
                    .collect();
                ev.extend(recs.iter().map(|&i| pis_evidence(self.pis(i))));
                let summary = marital_status_mismatch(self.pis(recs[0]), overdue);
                self.push(
                    TicketKind::MaritalStatusMismatch,
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
