//! Cases: the records any rule of tickets.md may read together, and the dates on which
//! the passing of time alone can change what the rules say of them. An incremental
//! run recomputes only the cases a change or a date touched (docs/decisions.md,
//! "Incremental reconciliation"); this module says, record by record, which keys join
//! a record to its case and which of its dates matter. It lives beside the rules
//! because it must name every key they join on: a key left out here is a case cut in
//! two, and a ticket an incremental run never sees again.

use chrono::{Datelike, Duration, NaiveDate};

use crate::domain::{normalise_id, normalised_name_chars, IdNumber};
use crate::records::{
    BirthCertificate, Cremation, DeathCertificate, Marriage, PisRecord, PsbEvent, Snapshot,
};

/// A case key: a 64-bit FNV-1a hash of a kind letter and a value. Two values that
/// hash alike merge their cases, which costs a larger case and never a wrong answer;
/// the hash is written here, not taken from a hashing crate, because stored keys must
/// hash the same in every release.
pub type CaseKey = i64;

fn key(kind: u8, value: &str) -> CaseKey {
    Fnv::new(kind).str(value).done()
}

/// FNV-1a, fed piece by piece: a key is hashed without building its text.
struct Fnv(u64);

impl Fnv {
    fn new(kind: u8) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325).bytes(&[kind])
    }

    fn bytes(mut self, bytes: &[u8]) -> Fnv {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    fn str(self, s: &str) -> Fnv {
        self.bytes(s.as_bytes())
    }

    fn done(self) -> CaseKey {
        self.0 as i64
    }
}

/// An ID number as any department writes it (the rules compare normalised texts).
fn id_key(id: &str) -> CaseKey {
    key(b'i', id)
}

/// A birth certificate's number: the certificate's versions, the `CS` row and the
/// `pis` record that name it.
fn birth_cert_key(no: &str) -> CaseKey {
    key(b'b', no)
}

/// The identity a mistyped ID is matched by (`RESIDENT_MISSING`'s likely correction):
/// normalised name, birth date and sex. Not the township: a person's township is that
/// of their latest row, which another row does not know.
fn identity_key(name: &str, sex: i64, birth_date: NaiveDate) -> CaseKey {
    let mut h = Fnv::new(b'n');
    let mut utf8 = [0; 4];
    for c in normalised_name_chars(name) {
        h = h.str(c.encode_utf8(&mut utf8));
    }
    let day = birth_date.num_days_from_ce().to_le_bytes();
    h.bytes(b"|")
        .bytes(&sex.to_le_bytes())
        .bytes(b"|")
        .bytes(&day)
        .done()
}

/// The keys of one household-register row: its ID, its identity, and for a birth the
/// mother and the certificate.
pub fn psb_keys(r: &PsbEvent) -> Vec<CaseKey> {
    let mut keys = vec![
        id_key(r.id.as_str()),
        identity_key(&r.name, r.sex.code(), r.birth_date),
    ];
    keys.extend(r.mother_id().map(|m| id_key(m.as_str())));
    keys.extend(r.birth_cert_no().map(birth_cert_key));
    keys
}

/// Both parties of a marriage: a marital status, and a widowing, read both.
pub fn marriage_keys(m: &Marriage) -> Vec<CaseKey> {
    vec![id_key(m.husband_id.as_str()), id_key(m.wife_id.as_str())]
}

/// A cremation's ID (one without an ID is a case of its own, keyed by nothing else).
pub fn cremation_keys(c: &Cremation) -> Vec<CaseKey> {
    let mut keys = vec![key(b'r', &c.cert_no)];
    keys.extend(c.id.map(|id| id_key(id.as_str())));
    keys
}

/// A birth certificate's number (joining its versions) and the mother's ID.
pub fn birth_keys(b: &BirthCertificate) -> Vec<CaseKey> {
    vec![birth_cert_key(&b.cert_no), id_key(b.mother_id.as_str())]
}

/// A death certificate's number (joining its versions) and the dead person's ID.
pub fn death_keys(d: &DeathCertificate) -> Vec<CaseKey> {
    let mut keys = vec![key(b'd', &d.cert_no)];
    keys.extend(d.id.map(|id| id_key(id.as_str())));
    keys
}

/// A register record's own identifier (the record is changed in place, and its new
/// version must find the case its old one was in), its ID as typed, the mother and
/// certificate it names, and, when its ID cannot be the person's, its identity.
pub fn pis_keys(r: &PisRecord) -> Vec<CaseKey> {
    let mut keys = vec![key(b'p', &r.person_id)];
    if !r.id_norm.is_empty() {
        keys.push(id_key(&r.id_norm));
        let fits = IdNumber::parse(&r.id_norm)
            .is_ok_and(|id| id.birth_date() == r.birth_date && id.sex() == r.sex);
        if !fits {
            keys.push(identity_key(&r.name, r.sex.code(), r.birth_date));
        }
    }
    keys.extend(
        r.mother_id()
            .map(normalise_id)
            .filter(|m| !m.is_empty())
            .map(|m| id_key(&m)),
    );
    keys.extend(r.birth_cert_no().map(birth_cert_key));
    keys
}

/// The key a golden record is found by: its ID, or the certificate of a child known
/// only from one (`birth:CERTNO`).
pub fn person_key(person_key: &str) -> CaseKey {
    match person_key.strip_prefix("birth:") {
        Some(cert) => birth_cert_key(cert),
        None => id_key(person_key),
    }
}

/// The keys a ticket's subject names, any of which finds its case.
pub fn subject_keys(s: &crate::tickets::Subject) -> Vec<CaseKey> {
    let mut keys: Vec<CaseKey> = Vec::new();
    keys.extend(s.id_number.map(|id| id_key(id.as_str())));
    keys.extend(s.child_id_number.map(|id| id_key(id.as_str())));
    keys.extend(s.pis_person_id.as_deref().map(|p| key(b'p', p)));
    keys.extend(s.pis_person_ids.iter().map(|p| key(b'p', p)));
    keys.extend(s.birth_cert_no.as_deref().map(birth_cert_key));
    keys
}

/// Every date of a record that a rule compares with the as-of date or a grace line.
pub fn psb_dates(r: &PsbEvent) -> impl Iterator<Item = NaiveDate> {
    [Some(r.event_date), Some(r.birth_date), r.death_date()]
        .into_iter()
        .flatten()
}

pub fn marriage_dates(m: &Marriage) -> impl Iterator<Item = NaiveDate> {
    std::iter::once(m.reg_date)
}

pub fn cremation_dates(c: &Cremation) -> impl Iterator<Item = NaiveDate> {
    [c.death_date, c.cremation_date].into_iter()
}

pub fn birth_dates(b: &BirthCertificate) -> impl Iterator<Item = NaiveDate> {
    [b.updated_date, b.birth_date].into_iter()
}

pub fn death_dates(d: &DeathCertificate) -> impl Iterator<Item = NaiveDate> {
    [d.updated_date, d.death_date].into_iter()
}

pub fn pis_dates(r: &PisRecord) -> impl Iterator<Item = NaiveDate> {
    std::iter::once(r.birth_date)
}

/// The first day after `as_of` on which a record dated `date` can read differently:
/// the rules compare a date with the as-of date, with the grace line (`as_of` less
/// `grace_days`) and with the birth-registration line, each as `<=`, `<` or `>`, so
/// a comparison can flip only on the day the date reaches one of those lines or on
/// the day after.
pub fn next_change(
    date: NaiveDate,
    as_of: NaiveDate,
    grace_days: i64,
    birth_grace_days: i64,
) -> Option<NaiveDate> {
    [0, grace_days, birth_grace_days]
        .into_iter()
        .flat_map(|lag| {
            let line = date + Duration::days(lag);
            [line, line + Duration::days(1)]
        })
        .filter(|d| *d > as_of)
        .min()
}

/// Every record's keys in one vector (3.5 million small vectors were as many
/// allocations): records numbered in table order (psb, marriages, cremations, birth
/// and death certificates, pis), those of record `i` at `keys[starts[i]..starts[i + 1]]`.
pub struct RecordKeys {
    pub keys: Vec<CaseKey>,
    starts: Vec<usize>,
}

impl RecordKeys {
    /// No records yet.
    pub fn empty() -> RecordKeys {
        RecordKeys {
            keys: Vec::new(),
            starts: vec![0],
        }
    }

    pub fn of(s: &Snapshot) -> RecordKeys {
        let n = s.psb.len()
            + s.marriages.len()
            + s.cremations.len()
            + s.births.len()
            + s.deaths.len()
            + s.pis.len();
        let mut out = RecordKeys::empty();
        out.keys.reserve(n * 3);
        out.starts.reserve(n + 1);
        s.psb.iter().for_each(|r| out.push(psb_keys(r)));
        s.marriages.iter().for_each(|r| out.push(marriage_keys(r)));
        s.cremations
            .iter()
            .for_each(|r| out.push(cremation_keys(r)));
        s.births.iter().for_each(|r| out.push(birth_keys(r)));
        s.deaths.iter().for_each(|r| out.push(death_keys(r)));
        s.pis.iter().for_each(|r| out.push(pis_keys(r)));
        out
    }

    /// Numbers the next record, with its keys.
    pub fn push(&mut self, keys: Vec<CaseKey>) {
        self.keys.extend(keys);
        self.starts.push(self.keys.len());
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn of_record(&self, i: usize) -> &[CaseKey] {
        &self.keys[self.starts[i]..self.starts[i + 1]]
    }
}

/// Each record's case when cases are built afresh: records joined by every key they
/// share, each group numbered by its smallest key, so that the same records get the
/// same numbers in every run.
pub fn fresh_cases(keys: &RecordKeys) -> Vec<i64> {
    let n = keys.len();
    let mut joiner = Joiner::new(n);
    // Not reserved for every key: most keys recur (a record carries one to five, and
    // a million persons' 2.4 million records have 3.4 million distinct), and room for
    // all of them made the first run's peak at 5 million persons.
    let mut first: foldhash::HashMap<CaseKey, usize> = Default::default();
    for i in 0..n {
        for k in keys.of_record(i) {
            match first.get(k) {
                Some(&j) => joiner.union(i, j),
                None => {
                    first.insert(*k, i);
                }
            }
        }
    }
    let mut smallest: Vec<CaseKey> = vec![CaseKey::MAX; n];
    for i in 0..n {
        let root = joiner.find(i);
        for &k in keys.of_record(i) {
            smallest[root] = smallest[root].min(k);
        }
    }
    (0..n).map(|i| smallest[joiner.find(i)]).collect()
}

/// Disjoint sets of numbered records, each named by its smallest member: the cases
/// of a set of records (a record's keys join it to every other record and stored case
/// that carries one of them), and the rules' groups of duplicate register records.
pub struct Joiner {
    parent: Vec<u32>,
}

impl Joiner {
    pub fn new(n: usize) -> Joiner {
        Joiner {
            parent: (0..n as u32).collect(),
        }
    }

    /// Adds a node (a stored case met through a key) and returns its number.
    pub fn add(&mut self) -> usize {
        self.parent.push(self.parent.len() as u32);
        self.parent.len() - 1
    }

    pub fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] as usize != i {
            let up = self.parent[self.parent[i] as usize];
            self.parent[i] = up;
            i = up as usize;
        }
        i
    }

    pub fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb) as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_date_changes_the_reading_on_each_line_and_the_day_after() {
        let d = day("2014-09-01");
        assert_eq!(next_change(d, day("2014-08-01"), 30, 60), Some(d));
        assert_eq!(next_change(d, d, 30, 60), Some(day("2014-09-02")));
        assert_eq!(
            next_change(d, day("2014-09-02"), 30, 60),
            Some(day("2014-10-01"))
        );
        assert_eq!(
            next_change(d, day("2014-10-02"), 30, 60),
            Some(day("2014-10-31"))
        );
        assert_eq!(next_change(d, day("2014-11-01"), 30, 60), None);
    }

    #[test]
    fn keys_are_the_same_in_every_run_and_differ_by_kind() {
        assert_eq!(id_key("110101199003070012"), id_key("110101199003070012"));
        assert_ne!(id_key("X1"), birth_cert_key("X1"));
        // Pinned: a stored key must hash the same in every release.
        assert_eq!(key(b'i', ""), 0xaf63_e44c_8601_fa24_u64 as i64);
    }

    #[test]
    fn a_joiner_joins_through_shared_nodes() {
        let mut j = Joiner::new(3);
        let stored = j.add();
        j.union(0, stored);
        j.union(2, stored);
        assert_eq!(j.find(0), j.find(2));
        assert_ne!(j.find(1), j.find(0));
    }
}
