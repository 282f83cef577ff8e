//! The golden records: one per person, each field with the source record it came from,
//! and a link from every source record to the person it denotes (or to none, and why).

use foldhash::{HashMap, HashMapExt};
use std::borrow::Cow;

use super::births::Birth;
use super::marital::MaritalHistory;
use super::rules::hyzk_zh;
use super::view::View;
use crate::domain::{IdNumber, TownshipCode};
use crate::records::{InlineText, PsbEvent, PsbEventKind, Snapshot};
use compact_str::{format_compact, ToCompactString};

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
    /// `on_register`, `moved_out`, `dead`, `unregistered_birth` or `pis_only`.
    pub state: &'static str,
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
        state: &'static str,
        fields: usize,
    ) -> GoldenRecord<'a> {
        GoldenRecord {
            key: key.into(),
            township,
            state,
            fields: Vec::with_capacity(fields),
            refs: Vec::with_capacity(1),
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

/// Builds the registry from the view and the rules' denotations: golden records in
/// key order, each with its links, and the records that denote nobody.
pub fn build<'a>(
    snap: &'a Snapshot,
    view: &View<'a>,
    births: &[Birth<'a>],
    pis_person: &[Option<IdNumber>],
) -> (Vec<GoldenRecord<'a>>, Vec<Unlinked<'a>>) {
    // Room for every person up front (a vector of a million golden records that
    // doubles is copied whole into fresh memory): the household register's, the
    // certificates' children, and at most one for each register record or death
    // whose ID the household register does not know.
    let unknown_to_psb = pis_person
        .iter()
        .flatten()
        .chain(view.deaths.keys())
        .filter(|id| !view.psb.contains_key(id))
        .count();
    let mut persons: Vec<GoldenRecord<'a>> =
        Vec::with_capacity(view.psb.len() + births.len() + unknown_to_psb);
    let mut by_id: HashMap<IdNumber, usize> = HashMap::with_capacity(view.psb.len());
    let histories = MaritalHistory::index(&view.marriages);
    for (id, p) in view.psb.iter() {
        let last: &'a PsbEvent = p.latest();
        let lsh = last.lsh.as_str();
        let death = view.deaths.get(id);
        let state = if death.is_some() {
            "dead"
        } else if last.kind == PsbEventKind::MoveOut {
            "moved_out"
        } else {
            "on_register"
        };
        // Room for state and marital status too: a vector that doubles when they
        // come holds eight fields for every person.
        let mut person = GoldenRecord::new(id.to_compact_string(), Some(p.township()), state, 6);
        person.links.reserve_exact(p.rows.len() + 1);
        person.push_field("name", last.name.trim(), "psb", lsh);
        person.push_field("sex", last.sex.zh(), "psb", lsh);
        person.push_field(
            "birth_date",
            last.birth_date.to_compact_string(),
            "psb",
            lsh,
        );
        person.push_field("township", p.township().to_compact_string(), "psb", lsh);
        match death {
            Some(d) => {
                let first = &d.evidence[0];
                person.push_field(
                    "state",
                    format_compact!("死亡 {}", d.date),
                    first.source,
                    first.record.clone(),
                );
            }
            None if state == "moved_out" => person.push_field("state", "迁出", "psb", lsh),
            None => person.push_field("state", "在册", "psb", lsh),
        }
        if let Some(h) = histories.get(id) {
            if let Some(s) = h.status(view, view.dates.as_of) {
                let last_event = h
                    .events
                    .iter()
                    .rev()
                    .find(|(m, _)| m.reg_date <= view.dates.as_of)
                    .map(|(m, _)| m.reg_no.as_str())
                    .unwrap_or_default();
                person.push_field("marital_status", s.zh(), "mca", last_event);
            }
        }
        by_id.insert(*id, persons.len());
        persons.push(person);
    }
    // Certificates of children known only from them, by certificate number.
    let mut by_cert: HashMap<&'a str, usize> = HashMap::new();
    for b in births {
        let (Some(cert), None) = (b.cert, b.cs) else {
            continue;
        };
        let rec: Cow<'a, str> = format!("{}#{}", cert.cert_no, cert.version).into();
        let mut person = GoldenRecord::new(
            format_compact!("birth:{}", cert.cert_no),
            cert.residence.map(|r| r.township()),
            "unregistered_birth",
            6,
        );
        if let Some(n) = &cert.child_name {
            person.push_field("name", n.trim(), "nhc", rec.clone());
        }
        person.push_field("sex", cert.child_sex.zh(), "nhc", rec.clone());
        person.push_field(
            "birth_date",
            cert.birth_date.to_compact_string(),
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
        if let Some(r) = cert.residence {
            person.push_field("township", r.township().to_compact_string(), "nhc", rec);
        }
        by_cert.insert(cert.cert_no.as_str(), persons.len());
        persons.push(person);
    }
    // Register records of people no other department knows, and the register's
    // marital status where civil affairs says nothing.
    for (i, r) in snap.pis.iter().enumerate() {
        let Some(id) = pis_person[i] else { continue };
        let pid = r.person_id.as_str();
        let at = *by_id.entry(id).or_insert_with(|| {
            let state = if view.deaths.contains_key(&id) {
                "dead"
            } else {
                "pis_only"
            };
            let township = r.village.township();
            let mut person = GoldenRecord::new(id.to_compact_string(), Some(township), state, 5);
            person.push_field("name", r.name.trim(), "pis", pid);
            person.push_field("sex", r.sex.zh(), "pis", pid);
            person.push_field("birth_date", r.birth_date.to_compact_string(), "pis", pid);
            person.push_field("township", township.to_compact_string(), "pis", pid);
            persons.push(person);
            persons.len() - 1
        });
        let entry = &mut persons[at];
        if r.is_active()
            && r.marital.is_some()
            && !entry.fields.iter().any(|f| f.name == "marital_status")
        {
            entry.push_field("marital_status", hyzk_zh(r.marital.as_deref()), "pis", pid);
        }
    }
    for (id, d) in &view.deaths {
        by_id.entry(*id).or_insert_with(|| {
            let mut person = GoldenRecord::new(id.to_compact_string(), None, "dead", 1);
            person.push_field(
                "state",
                format_compact!("死亡 {}", d.date),
                d.evidence[0].source,
                d.evidence[0].record.clone(),
            );
            persons.push(person);
            persons.len() - 1
        });
    }

    let mut unlinked = Vec::new();
    let mut link =
        |person: Result<usize, &'static str>, source: &'static str, key: Cow<'a, str>| {
            let record = RecordRef { source, key };
            match person {
                Ok(at) => persons[at].links.push(record),
                Err(reason) => unlinked.push(Unlinked { record, reason }),
            }
        };
    let known = |id: Option<IdNumber>| match id {
        Some(id) => by_id.get(&id).copied().ok_or("ID of no known person"),
        None => Err("no ID"),
    };
    const LATER: &str = "dated after the as-of date";
    const VOIDED: &str = "certificate voided";
    for r in &snap.psb {
        let person = if r.event_date > view.dates.as_of {
            Err(LATER)
        } else {
            known(Some(r.id))
        };
        link(person, "psb", r.lsh.as_str().into());
    }
    for m in &snap.marriages {
        for (side, id) in [("husband", m.husband_id), ("wife", m.wife_id)] {
            let person = if m.reg_date > view.dates.as_of {
                Err(LATER)
            } else {
                known(Some(id))
            };
            link(
                person,
                "mca.marriage",
                format!("{}/{side}", m.reg_no).into(),
            );
        }
    }
    for c in &snap.cremations {
        let person = if c.cremation_date > view.dates.as_of {
            Err(LATER)
        } else {
            known(c.id)
        };
        link(person, "mca.cremation", c.cert_no.as_str().into());
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
    for c in &snap.births {
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
        link(
            person,
            "nhc.birth",
            format!("{}#{}", c.cert_no, c.version).into(),
        );
    }
    for d in &snap.deaths {
        let person = if d.updated_date > view.dates.as_of {
            Err(LATER)
        } else if view.voided.contains(d.cert_no.as_str()) {
            Err(VOIDED)
        } else {
            known(d.id)
        };
        link(
            person,
            "nhc.death",
            format!("{}#{}", d.cert_no, d.version).into(),
        );
    }
    for (i, r) in snap.pis.iter().enumerate() {
        let person = match pis_person[i] {
            Some(id) => known(Some(id)),
            None if r.id_norm.is_empty() => Err("no ID and no birth it denotes"),
            None => Err("invalid ID"),
        };
        link(person, "pis", r.person_id.as_str().into());
    }
    for p in &mut persons {
        p.links.sort_unstable();
    }
    persons.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    (persons, unlinked)
}
