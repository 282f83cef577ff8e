//! The golden records: one per person, each field with the source record it came from,
//! and a link from every source record to the person it denotes (or to none, and why).

use foldhash::{HashMap, HashMapExt};
use std::borrow::Cow;

use super::births::Birth;
use super::marital::MaritalHistory;
use super::rules::hyzk_zh;
use super::view::View;
use crate::domain::{IdNumber, TownshipCode};
use crate::records::{PsbEvent, PsbEventKind, Snapshot};

/// One field of a golden record and where it came from. Values and record keys are
/// borrowed from the snapshot where they stand in it as they are: a first run builds a
/// million of these.
#[derive(Clone, Debug, PartialEq)]
pub struct Field<'a> {
    pub name: &'static str,
    pub value: Cow<'a, str>,
    pub source: &'static str,
    pub record: Cow<'a, str>,
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
    pub key: String,
    pub township: Option<TownshipCode>,
    /// `on_register`, `moved_out`, `dead`, `unregistered_birth` or `pis_only`.
    pub state: &'static str,
    pub fields: Vec<Field<'a>>,
    /// The source records that denote this person, in (source, key) order.
    pub links: Vec<RecordRef<'a>>,
}

/// A source record that denotes no person, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Unlinked<'a> {
    pub record: RecordRef<'a>,
    pub reason: &'static str,
}

fn field<'a>(
    name: &'static str,
    value: impl Into<Cow<'a, str>>,
    source: &'static str,
    record: impl Into<Cow<'a, str>>,
) -> Field<'a> {
    Field {
        name,
        value: value.into(),
        source,
        record: record.into(),
    }
}

/// Builds the registry from the view and the rules' denotations: golden records in
/// key order, each with its links, and the records that denote nobody.
pub fn build<'a>(
    snap: &'a Snapshot,
    view: &View<'a>,
    births: &[Birth<'a>],
    pis_person: &[Option<IdNumber>],
) -> (Vec<GoldenRecord<'a>>, Vec<Unlinked<'a>>) {
    let mut persons: Vec<GoldenRecord<'a>> = Vec::with_capacity(view.psb.len());
    let mut by_id: HashMap<IdNumber, usize> = HashMap::with_capacity(view.psb.len());
    let histories = MaritalHistory::index(&view.marriages);
    for (id, p) in view.psb.iter() {
        let last: &'a PsbEvent = p.latest();
        let lsh = last.lsh.as_str();
        // Room for state and marital status too: a vector that doubles when they
        // come holds eight fields for every person.
        let mut fields = Vec::with_capacity(6);
        fields.extend([
            field("name", last.name.trim(), "psb", lsh),
            field("sex", last.sex.zh(), "psb", lsh),
            field("birth_date", last.birth_date.to_string(), "psb", lsh),
            field("township", p.township().to_string(), "psb", lsh),
        ]);
        let state = if let Some(d) = view.deaths.get(id) {
            let first = &d.evidence[0];
            fields.push(field(
                "state",
                format!("死亡 {}", d.date),
                first.source,
                first.record.clone(),
            ));
            "dead"
        } else if last.kind == PsbEventKind::MoveOut {
            fields.push(field("state", "迁出", "psb", lsh));
            "moved_out"
        } else {
            fields.push(field("state", "在册", "psb", lsh));
            "on_register"
        };
        if let Some(h) = histories.get(id) {
            if let Some(s) = h.status(view, view.dates.as_of) {
                let last_event = h
                    .events
                    .iter()
                    .rev()
                    .find(|(m, _)| m.reg_date <= view.dates.as_of)
                    .map(|(m, _)| m.reg_no.as_str())
                    .unwrap_or_default();
                fields.push(field("marital_status", s.zh(), "mca", last_event));
            }
        }
        by_id.insert(*id, persons.len());
        persons.push(GoldenRecord {
            key: id.to_string(),
            township: Some(p.township()),
            state,
            fields,
            links: Vec::new(),
        });
    }
    // Certificates of children known only from them, by certificate number.
    let mut by_cert: HashMap<&'a str, usize> = HashMap::new();
    for b in births {
        let (Some(cert), None) = (b.cert, b.cs) else {
            continue;
        };
        let rec: Cow<'a, str> = format!("{}#{}", cert.cert_no, cert.version).into();
        let mut fields = Vec::with_capacity(6);
        if let Some(n) = &cert.child_name {
            fields.push(field("name", n.trim(), "nhc", rec.clone()));
        }
        fields.extend([
            field("sex", cert.child_sex.zh(), "nhc", rec.clone()),
            field(
                "birth_date",
                cert.birth_date.to_string(),
                "nhc",
                rec.clone(),
            ),
            field("mother_id", cert.mother_id.to_string(), "nhc", rec.clone()),
            field("state", "出生未落户", "nhc", rec.clone()),
        ]);
        if let Some(r) = cert.residence {
            fields.push(field("township", r.township().to_string(), "nhc", rec));
        }
        by_cert.insert(cert.cert_no.as_str(), persons.len());
        persons.push(GoldenRecord {
            key: format!("birth:{}", cert.cert_no),
            township: cert.residence.map(|r| r.township()),
            state: "unregistered_birth",
            fields,
            links: Vec::new(),
        });
    }
    // Register records of people no other department knows, and the register's
    // marital status where civil affairs says nothing.
    for (i, r) in snap.pis.iter().enumerate() {
        let Some(id) = pis_person[i] else { continue };
        let pid = r.person_id.as_str();
        let at = *by_id.entry(id).or_insert_with(|| {
            persons.push(GoldenRecord {
                key: id.to_string(),
                township: Some(r.village.township()),
                state: if view.deaths.contains_key(&id) {
                    "dead"
                } else {
                    "pis_only"
                },
                fields: {
                    let mut f = Vec::with_capacity(5);
                    f.extend([
                        field("name", r.name.trim(), "pis", pid),
                        field("sex", r.sex.zh(), "pis", pid),
                        field("birth_date", r.birth_date.to_string(), "pis", pid),
                        field("township", r.village.township().to_string(), "pis", pid),
                    ]);
                    f
                },
                links: Vec::new(),
            });
            persons.len() - 1
        });
        let entry = &mut persons[at];
        if r.is_active()
            && r.marital.is_some()
            && !entry.fields.iter().any(|f| f.name == "marital_status")
        {
            entry.fields.push(field(
                "marital_status",
                hyzk_zh(r.marital.as_deref()),
                "pis",
                pid,
            ));
        }
    }
    for (id, d) in &view.deaths {
        by_id.entry(*id).or_insert_with(|| {
            persons.push(GoldenRecord {
                key: id.to_string(),
                township: None,
                state: "dead",
                fields: vec![field(
                    "state",
                    format!("死亡 {}", d.date),
                    d.evidence[0].source,
                    d.evidence[0].record.clone(),
                )],
                links: Vec::new(),
            });
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
