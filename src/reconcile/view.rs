//! The world as of one date: which records count, each PSB person's history, death
//! evidence, the current version of each certificate. Built once per reconciliation.

use std::hash::BuildHasher;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use hashbrown::HashTable;

use chrono::{Duration, NaiveDate};

use super::walks::IdWalk;
use crate::domain::{normalise_name, IdNumber, Sex, TownshipCode};
use crate::records::{
    BirthCertificate, CertStatus, Cremation, DeathCertificate, Marriage, PisRecord, PsbEvent,
    PsbEventKind, Snapshot,
};
use crate::tickets::Evidence;

/// Dates that decide what is overdue.
#[derive(Clone, Copy, Debug)]
pub struct Dates {
    pub as_of: NaiveDate,
    /// Events on or before this are overdue.
    pub overdue: NaiveDate,
    /// Births on or before this are overdue for `BIRTH_NOT_REGISTERED`.
    pub birth_overdue: NaiveDate,
}

impl Dates {
    pub fn new(as_of: NaiveDate, grace_days: i64, birth_grace_days: i64) -> Dates {
        Dates {
            as_of,
            overdue: as_of - Duration::days(grace_days),
            birth_overdue: as_of - Duration::days(birth_grace_days),
        }
    }
}

/// Name, sex and birth date as one department states them, normalised for comparing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub name: String,
    pub sex: Sex,
    pub birth_date: NaiveDate,
}

impl Identity {
    pub fn of_psb(r: &PsbEvent) -> Identity {
        Identity {
            name: normalise_name(&r.name),
            sex: r.sex,
            birth_date: r.birth_date,
        }
    }

    pub fn of_pis(r: &PisRecord) -> Identity {
        Identity {
            name: normalise_name(&r.name),
            sex: r.sex,
            birth_date: r.birth_date,
        }
    }
}

/// One person of the household register: every row of their ID, in event order.
pub struct PsbPerson<'a> {
    pub rows: Vec<&'a PsbEvent>,
}

impl<'a> PsbPerson<'a> {
    /// The latest event by (`ywrq`, `djsj`, `lsh`): it decides state and township.
    pub fn latest(&self) -> &'a PsbEvent {
        self.rows.last().expect("a person has at least one row")
    }

    pub fn on_register(&self) -> bool {
        self.latest().kind.keeps_on_register()
    }

    pub fn township(&self) -> TownshipCode {
        self.latest().division.township()
    }

    pub fn identity(&self) -> Identity {
        Identity::of_psb(self.latest())
    }

    /// The identities a PIS record may show without a mismatch: the current one, and
    /// while `BG` corrections are within grace, the one before them and after each.
    pub fn accepted_identities(&self, dates: &Dates) -> Vec<Identity> {
        let first_recent_bg = self
            .rows
            .iter()
            .position(|r| r.kind == PsbEventKind::Correction && r.event_date > dates.overdue);
        match first_recent_bg {
            None => vec![self.identity()],
            Some(i) => {
                let start = i.saturating_sub(1);
                let mut ids: Vec<Identity> = Vec::new();
                for r in &self.rows[start..] {
                    let id = Identity::of_psb(r);
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                ids
            }
        }
    }
}

/// Death evidence for one ID: its earliest date and every record saying so.
#[derive(Clone, Debug)]
pub struct DeathEvidence {
    pub date: NaiveDate,
    pub evidence: Vec<Evidence>,
}

/// The household register's persons in ID order (the rules walk them all, and their
/// output must not depend on a hash order), each found by ID through an index.
pub struct PsbPersons<'a> {
    people: Vec<(IdNumber, PsbPerson<'a>)>,
    /// Each person's place in `people`, hashed by their ID: 4 bytes a slot, where a
    /// map holding each ID again took 24.
    index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl<'a> PsbPersons<'a> {
    /// Groups rows by ID, each person's rows in event order.
    fn new(rows: impl Iterator<Item = &'a PsbEvent>) -> PsbPersons<'a> {
        let rows: Vec<&'a PsbEvent> = rows.collect();
        // Sorting small (ID, position) pairs reads no record; only the few rows of
        // one person are then compared by their fields.
        let mut order: Vec<(IdNumber, u32)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i as u32))
            .collect();
        order.sort_unstable();
        // At most one person per row: room for all of them, never grown.
        let mut people: Vec<(IdNumber, PsbPerson<'a>)> = Vec::with_capacity(order.len());
        for group in order.chunk_by(|a, b| a.0 == b.0) {
            let mut person: Vec<&'a PsbEvent> =
                group.iter().map(|&(_, i)| rows[i as usize]).collect();
            person.sort_by(|a, b| {
                (a.event_date, &a.recorded_at, &a.lsh).cmp(&(b.event_date, &b.recorded_at, &b.lsh))
            });
            people.push((group[0].0, PsbPerson { rows: person }));
        }
        let hasher = foldhash::fast::RandomState::default();
        let mut index = HashTable::with_capacity(people.len());
        for (at, (id, _)) in people.iter().enumerate() {
            index.insert_unique(hasher.hash_one(id), at as u32, |&i| {
                hasher.hash_one(people[i as usize].0)
            });
        }
        PsbPersons {
            people,
            index,
            hasher,
        }
    }

    pub fn get(&self, id: &IdNumber) -> Option<&PsbPerson<'a>> {
        self.position(id).map(|at| &self.people[at].1)
    }

    /// The person's place in ID order.
    pub fn position(&self, id: &IdNumber) -> Option<usize> {
        self.index
            .find(self.hasher.hash_one(id), |&i| {
                self.people[i as usize].0 == *id
            })
            .map(|&i| i as usize)
    }

    pub fn contains_key(&self, id: &IdNumber) -> bool {
        self.position(id).is_some()
    }

    /// Finds persons asked for in ID order by walking forward through them.
    pub fn walk(&self) -> IdWalk<'_, PsbPerson<'a>> {
        IdWalk::new(&self.people)
    }

    /// Every person, in ID order.
    pub fn iter(&self) -> impl Iterator<Item = (&IdNumber, &PsbPerson<'a>)> {
        self.people.iter().map(|(id, p)| (id, p))
    }

    pub fn len(&self) -> usize {
        self.people.len()
    }
}

impl<'a> std::ops::Index<&IdNumber> for PsbPersons<'a> {
    type Output = PsbPerson<'a>;

    fn index(&self, id: &IdNumber) -> &PsbPerson<'a> {
        self.get(id).expect("a PSB person of the view")
    }
}

/// The as-of view reconciliation rules read.
pub struct View<'a> {
    pub dates: Dates,
    pub psb: PsbPersons<'a>,
    pub marriages: Vec<&'a Marriage>,
    pub deaths: HashMap<IdNumber, DeathEvidence>,
    /// Current `VALID` birth certificates as of the date, in certificate-number order.
    pub birth_certs: Vec<&'a BirthCertificate>,
    /// Certificates whose current version is `VOID`.
    pub voided: HashSet<String>,
    pub pis: &'a [PisRecord],
}

impl<'a> View<'a> {
    /// Built on two cores: the household register's persons on one, the
    /// certificates, cremations and marriages as of the date on the other.
    pub fn build(snap: &'a Snapshot, dates: Dates) -> View<'a> {
        let (psb, others) = crate::parallel::join(
            || PsbPersons::new(snap.psb.iter().filter(|r| r.event_date <= dates.as_of)),
            || certificates_and_mca(snap, dates.as_of),
        );
        let mut deaths: HashMap<IdNumber, DeathEvidence> = HashMap::new();
        let mut add = |id: IdNumber, date: NaiveDate, ev: Evidence| {
            let e = deaths.entry(id).or_insert_with(|| DeathEvidence {
                date,
                evidence: Vec::new(),
            });
            e.date = e.date.min(date);
            e.evidence.push(ev);
        };
        for (_, p) in psb.iter() {
            for r in &p.rows {
                if r.kind == PsbEventKind::Death {
                    let d = r.death_date().unwrap_or(r.event_date);
                    add(
                        r.id,
                        d,
                        Evidence::new("psb", r.lsh.as_str(), format!("死亡注销 死亡日期 {}", d)),
                    );
                }
            }
        }
        for c in &others.cremations {
            if let Some(id) = c.id {
                add(
                    id,
                    c.death_date,
                    Evidence::new(
                        "mca",
                        c.cert_no.as_str(),
                        format!(
                            "火化 {} 死亡日期 {}",
                            slash(c.cremation_date),
                            slash(c.death_date)
                        ),
                    ),
                );
            }
        }
        for d in &others.deaths {
            if let Some(id) = d.id {
                add(
                    id,
                    d.death_date,
                    Evidence::new(
                        "nhc",
                        d.record_key(),
                        format!("死亡医学证明 死亡日期 {}", d.death_date),
                    ),
                );
            }
        }
        View {
            dates,
            psb,
            marriages: others.marriages,
            deaths,
            birth_certs: others.births,
            voided: others.voided,
            pis: &snap.pis,
        }
    }

    /// Death evidence dated on or before the overdue line.
    pub fn overdue_death(&self, id: &IdNumber) -> Option<&DeathEvidence> {
        self.deaths.get(id).filter(|d| d.date <= self.dates.overdue)
    }
}

/// What counts as of the date besides the household register, each in a stable
/// order.
struct CertificatesAndMca<'a> {
    /// Current valid birth certificates, by number.
    births: Vec<&'a BirthCertificate>,
    /// Current valid death certificates, by number.
    deaths: Vec<&'a DeathCertificate>,
    /// Numbers of certificates whose current version is void.
    voided: HashSet<String>,
    cremations: Vec<&'a Cremation>,
    /// By registration date and number.
    marriages: Vec<&'a Marriage>,
}

fn certificates_and_mca(snap: &Snapshot, as_of: NaiveDate) -> CertificatesAndMca<'_> {
    let (mut birth_certs, mut voided) = current_versions(
        snap.births
            .iter()
            .map(|b| (b.cert_no.as_str(), b.version, b.updated_date, b.status, b)),
        as_of,
    );
    let (mut death_certs, voided_deaths) = current_versions(
        snap.deaths
            .iter()
            .map(|d| (d.cert_no.as_str(), d.version, d.updated_date, d.status, d)),
        as_of,
    );
    voided.extend(voided_deaths);
    birth_certs.sort_by(|a, b| a.cert_no.cmp(&b.cert_no));
    death_certs.sort_by(|a, b| a.cert_no.cmp(&b.cert_no));
    let mut cremations: Vec<&Cremation> = snap
        .cremations
        .iter()
        .filter(|c| c.cremation_date <= as_of)
        .collect();
    cremations.sort_by(|a, b| a.cert_no.cmp(&b.cert_no));
    let mut marriages: Vec<&Marriage> = snap
        .marriages
        .iter()
        .filter(|m| m.reg_date <= as_of)
        .collect();
    marriages.sort_by(|a, b| (a.reg_date, &a.reg_no).cmp(&(b.reg_date, &b.reg_no)));
    CertificatesAndMca {
        births: birth_certs,
        deaths: death_certs,
        voided,
        cremations,
        marriages,
    }
}

/// The highest version dated on or before `as_of` of each certificate: the valid ones,
/// and the numbers of those whose current version is void.
fn current_versions<'a, T>(
    items: impl Iterator<Item = (&'a str, i64, NaiveDate, CertStatus, &'a T)>,
    as_of: NaiveDate,
) -> (Vec<&'a T>, HashSet<String>) {
    let mut best: HashMap<&'a str, (i64, CertStatus, &'a T)> = HashMap::new();
    for (no, version, date, status, item) in items {
        if date > as_of {
            continue;
        }
        match best.get(no) {
            Some((v, _, _)) if *v >= version => {}
            _ => {
                best.insert(no, (version, status, item));
            }
        }
    }
    let mut valid = Vec::new();
    let mut voided = HashSet::new();
    for (no, (_, status, item)) in best {
        match status {
            CertStatus::Valid => valid.push(item),
            CertStatus::Void => {
                voided.insert(no.to_string());
            }
        }
    }
    (valid, voided)
}

/// `YYYY/M/D`, the way civil affairs writes dates.
pub fn slash(d: NaiveDate) -> String {
    d.format("%Y/%-m/%-d").to_string()
}
