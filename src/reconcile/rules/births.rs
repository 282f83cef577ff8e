//! `BIRTH_NOT_IN_PIS` and `BIRTH_NOT_REGISTERED`: births the register lacks, and
//! births the household register lacks. (Pairing births is `reconcile/births.rs`.)

use foldhash::{HashSet, HashSetExt};

use super::Rules;
use crate::domain::IdNumber;
use crate::reconcile::sentences::{birth_evidence, birth_not_in_pis, birth_not_registered};
use crate::reconcile::view::PsbPerson;
use crate::tickets::{Subject, TicketKind};

impl Rules<'_, '_> {
    /// `BIRTH_NOT_IN_PIS` (tickets.md, The kinds): an overdue birth of the city that
    /// no PIS record denotes, routed to the `CS` row's township, else the mother's PSB
    /// township, else the certificate's residence township. Returns the children (by
    /// ID) it covers, who get no `RESIDENT_MISSING`.
    pub(super) fn births_not_in_pis(&mut self) -> HashSet<IdNumber> {
        let births = &self.denoted.births;
        let mut denoted = vec![false; births.len()];
        for b in self.denoted.pis_birth.iter().flatten() {
            denoted[*b] = true;
        }
        let mut covered = HashSet::new();
        for (bi, b) in births.iter().enumerate() {
            if denoted[bi] || b.date() > self.view.dates.overdue || !b.belongs_to(self.counties) {
                continue;
            }
            let township =
                b.cs.map(|r| r.division.township())
                    .or_else(|| {
                        b.mother()
                            .and_then(|m| self.view.psb.get(&m))
                            .map(PsbPerson::township)
                    })
                    .or_else(|| b.residence_township());
            let Some(township) = township else { continue };
            if let Some(c) = b.child_id() {
                covered.insert(c);
            }
            let subject = Subject {
                birth_cert_no: b.cert_no().map(str::to_string),
                child_id_number: b.child_id(),
                ..Subject::default()
            };
            self.push(
                TicketKind::BirthNotInPis,
                township,
                subject,
                birth_evidence(b),
                birth_not_in_pis(b),
                &[],
            );
        }
        covered
    }

    /// `BIRTH_NOT_REGISTERED` (tickets.md, The kinds): a `VALID` birth certificate of
    /// the city, past the birth-registration grace, with no `CS` row; routed to the
    /// mother's PSB township, else the certificate's residence township.
    pub(super) fn births_not_registered(&mut self) {
        for b in &self.denoted.births {
            let Some(cert) = b.cert else { continue };
            if b.cs.is_some()
                || cert.birth_date > self.view.dates.birth_overdue
                || !b.belongs_to(self.counties)
            {
                continue;
            }
            let township = self
                .view
                .psb
                .get(&cert.mother_id)
                .map(PsbPerson::township)
                .or_else(|| b.residence_township());
            let Some(township) = township else { continue };
            let subject = Subject {
                birth_cert_no: Some(cert.cert_no.to_string()),
                ..Subject::default()
            };
            let grace_days = (self.view.dates.as_of - self.view.dates.birth_overdue).num_days();
            self.push(
                TicketKind::BirthNotRegistered,
                township,
                subject,
                birth_evidence(b),
                birth_not_registered(cert, grace_days),
                &[],
            );
        }
    }
}
