//! `DEATH_NOT_RECORDED`: the dead still on the family-planning register.

use foldhash::{HashSet, HashSetExt};

use super::Rules;
use crate::domain::IdNumber;
use crate::reconcile::sentences::{death_not_recorded, pis_evidence};
use crate::tickets::{Subject, TicketKind};

impl Rules<'_, '_> {
    /// `DEATH_NOT_RECORDED` (tickets.md, The kinds): a person with overdue death
    /// evidence from any source is denoted by an active PIS record; one ticket per
    /// township of such records. Returns the PIS records it covers, which get neither
    /// `INVALID_ID` nor `PHANTOM_RECORD`.
    pub(super) fn death_not_recorded(&mut self) -> HashSet<usize> {
        let mut covered = HashSet::new();
        let mut ids: Vec<IdNumber> = self.view.deaths.keys().copied().collect();
        ids.sort();
        for id in ids {
            let Some(death) = self.view.overdue_death(&id) else {
                continue;
            };
            let death = death.clone();
            for (township, recs) in self.active_by_township(&id) {
                covered.extend(recs.iter().copied());
                let mut ev = death.evidence.clone();
                ev.extend(recs.iter().map(|&i| pis_evidence(self.pis(i))));
                let summary = death_not_recorded(self.pis(recs[0]), &death);
                self.push(
                    TicketKind::DeathNotRecorded,
                    township,
                    Subject::id(id),
                    ev,
                    summary,
                    &recs,
                );
            }
        }
        covered
    }
}
