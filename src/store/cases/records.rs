//! Records read with their cases, and what a run derives from them: each key's case,
//! the case of a record a link names, and each case's next date.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::CaseId;
use crate::reconcile::cases::{self as rules, CaseKey, RecordKeys};
use crate::records::Snapshot;

/// Keys with their cases, sorted by key: a million golden records and a hundred
/// thousand drafts are each traced to their case by a binary search (a hash map of
/// the city's three million keys took a second to build).
pub struct KeyCases(Vec<(CaseKey, CaseId)>);

impl KeyCases {
    /// From any pairs; a key met twice keeps one case (a record's keys are all in its
    /// case).
    pub fn new(mut pairs: Vec<(CaseKey, CaseId)>) -> KeyCases {
        pairs.sort_unstable();
        pairs.dedup_by_key(|p| p.0);
        KeyCases(pairs)
    }

    pub fn get(&self, key: &CaseKey) -> Option<CaseId> {
        self.0
            .binary_search_by_key(key, |p| p.0)
            .ok()
            .map(|at| self.0[at].1)
    }

    /// How many cases the keys are in.
    pub fn cases(&self) -> usize {
        let mut cases: Vec<CaseId> = self.0.iter().map(|p| p.1).collect();
        cases.sort_unstable();
        cases.dedup();
        cases.len()
    }

    pub(super) fn pairs(&self) -> &[(CaseKey, CaseId)] {
        &self.0
    }
}

/// Records as a read returned them, each table in the snapshot's order, with each
/// record's case beside it (`None` before the cases are built).
#[derive(Default)]
pub struct CaseRecords {
    pub snap: Snapshot,
    pub psb: Vec<Option<CaseId>>,
    pub marriages: Vec<Option<CaseId>>,
    pub cremations: Vec<Option<CaseId>>,
    pub births: Vec<Option<CaseId>>,
    pub deaths: Vec<Option<CaseId>>,
    pub pis: Vec<Option<CaseId>>,
}

impl CaseRecords {
    /// Sets every record's case, in table order (as `RecordKeys` numbers records).
    pub(super) fn set_cases(&mut self, cases: &[CaseId]) {
        let mut it = cases.iter().map(|&c| Some(c));
        let s = &self.snap;
        self.psb = it.by_ref().take(s.psb.len()).collect();
        self.marriages = it.by_ref().take(s.marriages.len()).collect();
        self.cremations = it.by_ref().take(s.cremations.len()).collect();
        self.births = it.by_ref().take(s.births.len()).collect();
        self.deaths = it.by_ref().take(s.deaths.len()).collect();
        self.pis = it.by_ref().take(s.pis.len()).collect();
    }

    /// Every record's case, in table order.
    pub(super) fn cases(&self) -> impl Iterator<Item = Option<CaseId>> + '_ {
        self.psb
            .iter()
            .chain(&self.marriages)
            .chain(&self.cremations)
            .chain(&self.births)
            .chain(&self.deaths)
            .chain(&self.pis)
            .copied()
    }

    /// Every record's keys with its case: what a draft or a golden record is traced
    /// back to its case by.
    pub fn keyed_cases(&self) -> KeyCases {
        let keys = RecordKeys::of(&self.snap);
        let mut pairs: Vec<(CaseKey, CaseId)> = Vec::with_capacity(keys.keys.len());
        for (i, case) in self.cases().enumerate() {
            if let Some(c) = case {
                pairs.extend(keys.of_record(i).iter().map(|&k| (k, c)));
            }
        }
        KeyCases::new(pairs)
    }

    /// The case of the record a registry link names (`source`, key as links write it).
    pub fn case_of_record(&self, source: &str, key: &str) -> Option<CaseId> {
        let s = &self.snap;
        let at = |found: Result<usize, usize>, cases: &[Option<CaseId>]| {
            found.ok().and_then(|i| cases[i])
        };
        let cert = |key: &str| -> Option<(String, i64)> {
            let (no, version) = key.rsplit_once('#')?;
            Some((no.to_string(), version.parse().ok()?))
        };
        match source {
            "psb" => at(
                s.psb.binary_search_by(|r| r.lsh.as_str().cmp(key)),
                &self.psb,
            ),
            // A marriage is linked once per party: `REGNO/husband`, `REGNO/wife`.
            "mca.marriage" => {
                let no = key.rsplit_once('/').map_or(key, |(no, _)| no);
                at(
                    s.marriages.binary_search_by(|r| r.reg_no.as_str().cmp(no)),
                    &self.marriages,
                )
            }
            "mca.cremation" => at(
                s.cremations
                    .binary_search_by(|r| r.cert_no.as_str().cmp(key)),
                &self.cremations,
            ),
            "nhc.birth" => {
                let (no, v) = cert(key)?;
                let found = s
                    .births
                    .binary_search_by(|r| (r.cert_no.as_str(), r.version).cmp(&(&no, v)));
                at(found, &self.births)
            }
            "nhc.death" => {
                let (no, v) = cert(key)?;
                let found = s
                    .deaths
                    .binary_search_by(|r| (r.cert_no.as_str(), r.version).cmp(&(&no, v)));
                at(found, &self.deaths)
            }
            "pis" => at(
                s.pis.binary_search_by(|r| r.person_id.as_str().cmp(key)),
                &self.pis,
            ),
            _ => None,
        }
    }

    /// Per case, the first day after `as_of` on which time alone can change what the
    /// rules say of it; a case without one is not in the map.
    pub fn next_dates(
        &self,
        as_of: NaiveDate,
        grace_days: i64,
        birth_grace_days: i64,
    ) -> HashMap<CaseId, NaiveDate> {
        let mut out: HashMap<CaseId, NaiveDate> = HashMap::new();
        let mut put = |dates: &mut dyn Iterator<Item = NaiveDate>, case: &Option<CaseId>| {
            let Some(c) = *case else { return };
            for d in dates {
                if let Some(n) = rules::next_change(d, as_of, grace_days, birth_grace_days) {
                    out.entry(c).and_modify(|m| *m = (*m).min(n)).or_insert(n);
                }
            }
        };
        let s = &self.snap;
        for (r, c) in s.psb.iter().zip(&self.psb) {
            put(&mut rules::psb_dates(r), c);
        }
        for (r, c) in s.marriages.iter().zip(&self.marriages) {
            put(&mut rules::marriage_dates(r), c);
        }
        for (r, c) in s.cremations.iter().zip(&self.cremations) {
            put(&mut rules::cremation_dates(r), c);
        }
        for (r, c) in s.births.iter().zip(&self.births) {
            put(&mut rules::birth_dates(r), c);
        }
        for (r, c) in s.deaths.iter().zip(&self.deaths) {
            put(&mut rules::death_dates(r), c);
        }
        for (r, c) in s.pis.iter().zip(&self.pis) {
            put(&mut rules::pis_dates(r), c);
        }
        out
    }

    /// Each record's table and key as `case_records` holds them, in table order.
    pub(super) fn record_keys(&self) -> impl Iterator<Item = (i64, &str)> + '_ {
        let s = &self.snap;
        s.psb
            .iter()
            .map(|r| (0, r.lsh.as_str()))
            .chain(s.marriages.iter().map(|r| (1, r.reg_no.as_str())))
            .chain(s.cremations.iter().map(|r| (2, r.cert_no.as_str())))
            .chain(s.births.iter().map(|r| (3, r.cert_no.as_str())))
            .chain(s.deaths.iter().map(|r| (4, r.cert_no.as_str())))
            .chain(s.pis.iter().map(|r| (5, r.person_id.as_str())))
    }
}
