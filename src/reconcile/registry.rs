//! The golden records: one per person, each field with the source record it came from,
//! and a link from every source record to the person it denotes (or to none, and why).

use foldhash::{HashMap, HashMapExt};
use std::borrow::Cow;

use chrono::NaiveDate;
use compact_str::{format_compact, ToCompactString};

use super::denotes::Denotations;
use super::marital::{Implied, MaritalHistory};
use super::sentences::hyzk_zh;
use super::view::{DeathEvidence, View};
use crate::domain::{dashed_date, IdNumber, TownshipCode};
use crate::records::{BirthCertificate, InlineText, PisRecord, PsbEvent, PsbEventKind, Snapshot};

/// One field of a golden record: its value, and the source record it came from as
/// that record's place in the golden record's `refs` (most of a person's fields come
/// from one record, named once). A first run builds six million of these: values are
/// kept inline, without an allocation each.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub value: InlineText,
    pub from: u8,
}

/// A source record as links name it: its stream (`psb`, `mca.marriage`,
/// `mca.cremation`, `nhc.birth`, `nhc.death`, `pis`) and its key there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordRef<'a> {
    pub source: &'static str,
    pub key: Cow<'a, str>,
}

/// One person as popsync believes them to be, with every source record that denotes
/// them.
#[derive(Clone, Debug, PartialEq)]
pub struct GoldenRecord<'a> {
    /// The normalised ID, or `birth:CERTNO` for a child known only from a certificate.
    pub key: InlineText,
    pub township: Option<TownshipCode>,
    pub state: PersonState,
    pub fields: Vec<Field>,
    /// The records the fields came from, each once, in the order fields first name them.
    pub refs: Vec<RecordRef<'a>>,
    /// The source records that denote this person, in (source, key) order.
    pub links: Vec<RecordRef<'a>>,
}

impl<'a> GoldenRecord<'a> {
    /// A person with no fields and no links yet, with room for `fields` fields.
    pub fn new(
        key: impl Into<InlineText>,
        township: Option<TownshipCode>,
        state: PersonState,
        fields: usize,
    ) -> GoldenRecord<'a> {
        GoldenRecord {
            key: key.into(),
            township,
            state,
            fields: Vec::with_capacity(fields),
            // Most persons: the record their identity comes from, and their marital status's.
            refs: Vec::with_capacity(2),
            links: Vec::new(),
        }
    }

    /// Adds a field taken from the record `key` of `source`.
    pub fn push_field(
        &mut self,
        name: &'static str,
        value: impl Into<InlineText>,
        source: &'static str,
        key: impl Into<Cow<'a, str>>,
    ) {
        let record = RecordRef {
            source,
            key: key.into(),
        };
        let from = match self.refs.iter().position(|r| *r == record) {
            Some(at) => at,
            None => {
                self.refs.push(record);
                self.refs.len() - 1
            }
        };
        self.fields.push(Field {
            name,
            value: value.into(),
            from: u8::try_from(from).expect("a person's fields come from few records"),
        });
    }
}

/// A source record that denotes no person, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Unlinked<'a> {
    pub record: RecordRef<'a>,
    pub reason: &'static str,
}

/// Golden records as a registry write reads them: by position, in key order, each
/// built when the write needs it. The registry of a reconciliation builds them from
/// the snapshot; a slice of records already built serves as they are.
pub trait Persons<'a>: Sync {
    /// How many persons there are.
    fn count(&self) -> usize;
    /// The key of the person at `at`.
    fn key(&self, at: usize) -> &str;
    /// The golden record of the person at `at`.
    fn golden(&self, at: usize) -> Cow<'_, GoldenRecord<'a>>;
}

impl<'a> Persons<'a> for [GoldenRecord<'a>] {
    fn count(&self) -> usize {
        self.len()
    }

    fn key(&self, at: usize) -> &str {
        &self[at].key
    }

    fn golden(&self, at: usize) -> Cow<'_, GoldenRecord<'a>> {
        Cow::Borrowed(&self[at])
    }
}

/// The registry one reconciliation planned: for each person, in key order, where each
/// field comes from (a plan, not the texts), and the records that denote them; and
/// the records that denote nobody. A golden record is built from its plan when it is
/// written: a million built records held 750 MB at once, their plans hold a fifth.
pub struct RegistryPlans<'a> {
    snap: &'a Snapshot,
    plans: Vec<Plan<'a>>,
    /// Death notes the plans name by their place.
    deaths: Vec<DeathNote>,
    /// The records that denote each person: those of the plan at `i` are
    /// `links[link_starts[i]..link_starts[i + 1]]`.
    links: Vec<Linked>,
    link_starts: Vec<u32>,
    /// Source records that denote no person, with the reason.
    pub unlinked: Vec<Unlinked<'a>>,
}

impl<'a> Persons<'a> for RegistryPlans<'a> {
    fn count(&self) -> usize {
        self.plans.len()
    }

    fn key(&self, at: usize) -> &str {
        &self.plans[at].key
    }

    fn golden(&self, at: usize) -> Cow<'_, GoldenRecord<'a>> {
        Cow::Owned(self.build_golden(at))
    }
}

/// What one person's fields are taken from: 80 bytes, for a million people.
struct Plan<'a> {
    /// The normalised ID, or `birth:CERTNO`.
    key: InlineText,
    basis: Basis<'a>,
    /// Marital status, from civil affairs or else from the family-planning register.
    marital: Option<Marital<'a>>,
    township: Option<TownshipCode>,
    state: PersonState,
    /// The plan's place before the plans were put in key order: links name it so.
    found_at: u32,
}

/// The record a person's identity comes from.
#[derive(Clone, Copy)]
enum Basis<'a> {
    /// The latest household-register event, and the death note if the person died
    /// (`NO_DEATH` if not).
    Psb(&'a PsbEvent, u32),
    /// A child known only from its birth certificate.
    Birth(&'a BirthCertificate),
    /// A register record of a person no other department knows.
    Pis(&'a PisRecord),
    /// A death of a person known only from it.
    Death(u32),
}

// A million of them are held while the registry is written.
const _: () = assert!(std::mem::size_of::<Plan>() <= 80);

const NO_DEATH: u32 = u32::MAX;

/// A golden record's state; stored as its `as_str` text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersonState {
    OnRegister,
    MovedOut,
    Dead,
    UnregisteredBirth,
    PisOnly,
}

impl PersonState {
    /// `on_register`, `moved_out`, `dead`, `unregistered_birth` or `pis_only`.
    pub fn as_str(self) -> &'static str {
        match self {
            PersonState::OnRegister => "on_register",
            PersonState::MovedOut => "moved_out",
            PersonState::Dead => "dead",
            PersonState::UnregisteredBirth => "unregistered_birth",
            PersonState::PisOnly => "pis_only",
        }
    }
}

/// Where a person's marital status comes from: what civil affairs implies, from its
/// latest registration as of the date; else the register's own `hyzk`.
#[derive(Clone, Copy)]
enum Marital<'a> {
    Mca(Implied, &'a str),
    Pis(&'a PisRecord),
}

/// A death as a golden record's state shows it, and the record that says so.
struct DeathNote {
    date: NaiveDate,
    source: &'static str,
    record: String,
}

/// A source record, by its table and place in the snapshot.
#[derive(Clone, Copy)]
enum Linked {
    Psb(u32),
    Marriage(u32, bool),
    Cremation(u32),
    Birth(u32),
    Death(u32),
    Pis(u32),
}

impl<'a> RegistryPlans<'a> {
    /// The golden record of the person at `at`, built from its plan.
    fn build_golden(&self, at: usize) -> GoldenRecord<'a> {
        let plan = &self.plans[at];
        let mut person = GoldenRecord::new(plan.key.clone(), plan.township, plan.state, 6);
        let township = || {
            plan.township
                .map(|t| InlineText::from(t.as_str()))
                .unwrap_or_default()
        };
        match plan.basis {
            Basis::Psb(last, death) => {
                let lsh = last.lsh.as_str();
                person.push_field("name", last.name.trim(), "psb", lsh);
                person.push_field("sex", last.sex.zh(), "psb", lsh);
                person.push_field("birth_date", dashed_date(last.birth_date), "psb", lsh);
                person.push_field("township", township(), "psb", lsh);
                match plan.state {
                    PersonState::Dead => self.push_death(&mut person, death),
                    PersonState::MovedOut => person.push_field("state", "迁出", "psb", lsh),
                    _ => person.push_field("state", "在册", "psb", lsh),
                }
            }
            Basis::Birth(cert) => {
                let rec: Cow<'a, str> = cert.record_key().into();
                if let Some(n) = &cert.child_name {
                    person.push_field("name", n.trim(), "nhc", rec.clone());
                }
                person.push_field("sex", cert.child_sex.zh(), "nhc", rec.clone());
                person.push_field(
                    "birth_date",
                    dashed_date(cert.birth_date),
                    "nhc",
                    rec.clone(),
                );
                person.push_field(
                    "mother_id",
                    cert.mother_id.to_compact_string(),
                    "nhc",
                    rec.clone(),
                );
                person.push_field("state", "出生未落户", "nhc", rec.clone());
                if plan.township.is_some() {
                    person.push_field("township", township(), "nhc", rec);
                }
            }
            Basis::Pis(r) => {
                let pid = r.person_id.as_str();
                person.push_field("name", r.name.trim(), "pis", pid);
                person.push_field("sex", r.sex.zh(), "pis", pid);
                person.push_field("birth_date", dashed_date(r.birth_date), "pis", pid);
                person.push_field("township", township(), "pis", pid);
            }
            Basis::Death(d) => self.push_death(&mut person, d),
        }
        match plan.marital {
            Some(Marital::Mca(status, reg_no)) => {
                person.push_field("marital_status", status.zh(), "mca", reg_no)
            }
            Some(Marital::Pis(r)) => person.push_field(
                "marital_status",
                hyzk_zh(r.marital.as_ref()),
                "pis",
                r.person_id.as_str(),
            ),
            None => {}
        }
        let (from, to) = (self.link_starts[at], self.link_starts[at + 1]);
        person.links = self.links[from as usize..to as usize]
            .iter()
            .map(|&l| record_ref(self.snap, l))
            .collect();
        person.links.sort_unstable();
        person
    }

    fn push_death(&self, person: &mut GoldenRecord<'a>, note: u32) {
        let d = &self.deaths[note as usize];
        person.push_field(
            "state",
            format_compact!("死亡 {}", d.date),
            d.source,
            d.record.clone(),
        );
    }
}

/// The place of `row` in `rows`, the slice that holds it: the view keeps rows by
/// reference, and links name them by place.
fn place_of<T>(rows: &[T], row: &T) -> u32 {
    let at = (row as *const T as usize - rows.as_ptr() as usize) / std::mem::size_of::<T>();
    debug_assert!(std::ptr::eq(&rows[at], row), "a row of this slice");
    at as u32
}

/// A source record as links name it.
fn record_ref(snap: &Snapshot, record: Linked) -> RecordRef<'_> {
    let (source, key): (&'static str, Cow<'_, str>) = match record {
        Linked::Psb(i) => ("psb", snap.psb[i as usize].lsh.as_str().into()),
        Linked::Marriage(i, wife) => {
            let side = if wife { "wife" } else { "husband" };
            let m = &snap.marriages[i as usize];
            ("mca.marriage", format!("{}/{side}", m.reg_no).into())
        }
        Linked::Cremation(i) => (
            "mca.cremation",
            snap.cremations[i as usize].cert_no.as_str().into(),
        ),
        Linked::Birth(i) => ("nhc.birth", snap.births[i as usize].record_key().into()),
        Linked::Death(i) => ("nhc.death", snap.deaths[i as usize].record_key().into()),
        Linked::Pis(i) => ("pis", snap.pis[i as usize].person_id.as_str().into()),
    };
    RecordRef { source, key }
}

/// Builds the registry from the view and the rules' denotations: a plan for each
/// person in key order, the records that denote each, and those that denote nobody.
pub fn build<'a>(
    snap: &'a Snapshot,
    view: &View<'a>,
    denoted: &Denotations<'a>,
) -> RegistryPlans<'a> {
    let (births, pis_person) = (&denoted.births, &denoted.pis_person);
    // Room for every person up front: the household register's, the certificates'
    // children, and at most one for each register record or death whose ID the
    // household register does not know.
    let unknown_to_psb = (0..pis_person.len())
        .filter(|&i| pis_person[i].is_some() && denoted.psb_place(i).is_none())
        .count()
        + view
            .deaths
            .keys()
            .filter(|id| !view.psb.contains_key(id))
            .count();
    let mut plans: Vec<Plan<'a>> =
        Vec::with_capacity(view.psb.len() + births.len() + unknown_to_psb);
    let mut deaths: Vec<DeathNote> = Vec::with_capacity(view.deaths.len());
    let mut note = |d: &DeathEvidence| {
        deaths.push(DeathNote {
            date: d.date,
            source: d.evidence[0].source,
            record: d.evidence[0].record.clone(),
        });
        deaths.len() as u32 - 1
    };
    // The household register's persons are the first plans, in the view's order, so
    // the view's own index finds them; only the few persons it does not know need a
    // map of their own, not a second map of a million IDs.
    let mut others: HashMap<IdNumber, usize> = HashMap::new();
    // Each record that denotes a person, by the person's plan (its place before the
    // plans are sorted). A person's household-register rows are linked from the
    // person, without looking each row's ID up again.
    let mut linked: Vec<(u32, Linked)> = Vec::with_capacity(
        snap.psb.len() + 2 * snap.marriages.len() + snap.births.len() + snap.pis.len(),
    );
    let histories = MaritalHistory::index(&view.marriages);
    for (id, p) in view.psb.iter() {
        let at = plans.len() as u32;
        linked.extend(
            p.rows
                .iter()
                .map(|r| (at, Linked::Psb(place_of(&snap.psb, r)))),
        );
        let last: &'a PsbEvent = p.latest();
        let death = view.deaths.get(id);
        let state = if death.is_some() {
            PersonState::Dead
        } else if last.kind == PsbEventKind::MoveOut {
            PersonState::MovedOut
        } else {
            PersonState::OnRegister
        };
        let marital = histories.get(id).and_then(|h| {
            let s = h.status(view, view.dates.as_of)?;
            let last_event = h
                .events
                .iter()
                .rev()
                .find(|(m, _)| m.reg_date <= view.dates.as_of)
                .map(|(m, _)| m.reg_no.as_str())
                .unwrap_or_default();
            Some(Marital::Mca(s, last_event))
        });
        debug_assert_eq!(view.psb.position(id), Some(plans.len()));
        plans.push(Plan {
            key: id.to_compact_string(),
            township: Some(p.township()),
            state,
            basis: Basis::Psb(last, death.map_or(NO_DEATH, &mut note)),
            marital,
            found_at: plans.len() as u32,
        });
    }
    // Certificates of children known only from them, by certificate number.
    let mut by_cert: HashMap<&'a str, usize> = HashMap::new();
    for b in births {
        let (Some(cert), None) = (b.cert, b.cs) else {
            continue;
        };
        by_cert.insert(cert.cert_no.as_str(), plans.len());
        plans.push(Plan {
            key: format_compact!("birth:{}", cert.cert_no),
            township: cert.residence.map(|r| r.township()),
            state: PersonState::UnregisteredBirth,
            basis: Basis::Birth(cert),
            marital: None,
            found_at: plans.len() as u32,
        });
    }
    // Register records of people no other department knows, and the register's
    // marital status where civil affairs says nothing. The person each record
    // denotes is found once, for this and for its link.
    let mut pis_at: Vec<u32> = vec![u32::MAX; snap.pis.len()];
    for (i, r) in snap.pis.iter().enumerate() {
        let Some(id) = pis_person[i] else { continue };
        let at = match denoted.psb_place(i) {
            Some(at) => at,
            None => *others.entry(id).or_insert_with(|| {
                let state = if view.deaths.contains_key(&id) {
                    PersonState::Dead
                } else {
                    PersonState::PisOnly
                };
                plans.push(Plan {
                    key: id.to_compact_string(),
                    township: Some(r.village.township()),
                    state,
                    basis: Basis::Pis(r),
                    marital: None,
                    found_at: plans.len() as u32,
                });
                plans.len() - 1
            }),
        };
        pis_at[i] = at as u32;
        let plan = &mut plans[at];
        if r.is_active() && r.marital.is_some() && plan.marital.is_none() {
            plan.marital = Some(Marital::Pis(r));
        }
    }
    for (id, d) in &view.deaths {
        if view.psb.contains_key(id) {
            continue;
        }
        others.entry(*id).or_insert_with(|| {
            plans.push(Plan {
                key: id.to_compact_string(),
                township: None,
                state: PersonState::Dead,
                basis: Basis::Death(note(d)),
                marital: None,
                found_at: plans.len() as u32,
            });
            plans.len() - 1
        });
    }

    let mut unlinked = Vec::new();
    let mut link = |person: Result<usize, &'static str>, record: Linked| match person {
        Ok(at) => linked.push((at as u32, record)),
        Err(reason) => unlinked.push(Unlinked {
            record: record_ref(snap, record),
            reason,
        }),
    };
    let known = |id: Option<IdNumber>| match id {
        Some(id) => view
            .psb
            .position(&id)
            .or_else(|| others.get(&id).copied())
            .ok_or("ID of no known person"),
        None => Err("no ID"),
    };
    const LATER: &str = "dated after the as-of date";
    const VOIDED: &str = "certificate voided";
    // Rows up to the as-of date were linked from their person; the later ones
    // denote nobody yet.
    for (i, r) in snap.psb.iter().enumerate() {
        if r.event_date > view.dates.as_of {
            link(Err(LATER), Linked::Psb(i as u32));
        }
    }
    for (i, m) in snap.marriages.iter().enumerate() {
        for (wife, id) in [(false, m.husband_id), (true, m.wife_id)] {
            let person = if m.reg_date > view.dates.as_of {
                Err(LATER)
            } else {
                known(Some(id))
            };
            link(person, Linked::Marriage(i as u32, wife));
        }
    }
    for (i, c) in snap.cremations.iter().enumerate() {
        let person = if c.cremation_date > view.dates.as_of {
            Err(LATER)
        } else {
            known(c.id)
        };
        link(person, Linked::Cremation(i as u32));
    }
    // A certificate's child: the register person paired with it, else the
    // certificate's own golden record.
    let birth_person: HashMap<&'a str, Result<usize, &'static str>> = births
        .iter()
        .filter_map(|b| {
            let c = b.cert?;
            let person = match b.child_id() {
                Some(child) => known(Some(child)),
                None => by_cert.get(c.cert_no.as_str()).copied().ok_or(VOIDED),
            };
            Some((c.cert_no.as_str(), person))
        })
        .collect();
    for (i, c) in snap.births.iter().enumerate() {
        let person = if c.updated_date > view.dates.as_of {
            Err(LATER)
        } else if view.voided.contains(c.cert_no.as_str()) {
            Err(VOIDED)
        } else {
            birth_person
                .get(c.cert_no.as_str())
                .copied()
                .unwrap_or(Err(VOIDED))
        };
        link(person, Linked::Birth(i as u32));
    }
    for (i, d) in snap.deaths.iter().enumerate() {
        let person = if d.updated_date > view.dates.as_of {
            Err(LATER)
        } else if view.voided.contains(d.cert_no.as_str()) {
            Err(VOIDED)
        } else {
            known(d.id)
        };
        link(person, Linked::Death(i as u32));
    }
    for (i, r) in snap.pis.iter().enumerate() {
        let person = match pis_person[i] {
            Some(_) => Ok(pis_at[i] as usize),
            None if r.id_norm.is_empty() => Err("no ID and no birth it denotes"),
            None => Err("invalid ID"),
        };
        link(person, Linked::Pis(i as u32));
    }

    // Plans in key order; each plan's links then gathered behind one another.
    plans.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    let mut place = vec![0u32; plans.len()];
    for (at, p) in plans.iter().enumerate() {
        place[p.found_at as usize] = at as u32;
    }
    let mut link_starts = vec![0u32; plans.len() + 1];
    for (person, _) in &linked {
        link_starts[place[*person as usize] as usize + 1] += 1;
    }
    for i in 1..link_starts.len() {
        link_starts[i] += link_starts[i - 1];
    }
    let mut next = link_starts.clone();
    let mut links = vec![Linked::Psb(0); linked.len()];
    for (person, record) in linked {
        let at = &mut next[place[person as usize] as usize];
        links[*at as usize] = record;
        *at += 1;
    }
    RegistryPlans {
        snap,
        plans,
        deaths,
        links,
        link_starts,
        unlinked,
    }
}
