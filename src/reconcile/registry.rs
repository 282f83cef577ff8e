//! The golden records: one per person, each field with the source record it came from,
//! and a link from every source record to the person it denotes (or to none, and why).

use std::collections::{BTreeMap, HashMap};

use super::births::Birth;
use super::marital::MaritalHistory;
use super::rules::hyzk_zh;
use super::view::View;
use crate::domain::{IdNumber, TownshipCode};
use crate::records::{PsbEventKind, Snapshot};

/// One field of a golden record and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub value: String,
    pub source: &'static str,
    pub record: String,
}

/// One person as popsync believes them to be.
#[derive(Clone, Debug, PartialEq)]
pub struct GoldenRecord {
    /// The normalised ID, or `birth:CERTNO` for a child known only from a certificate.
    pub key: String,
    pub id: Option<IdNumber>,
    pub township: Option<TownshipCode>,
    /// `on_register`, `moved_out`, `dead`, `unregistered_birth` or `pis_only`.
    pub state: &'static str,
    pub fields: Vec<Field>,
}

impl GoldenRecord {
    /// The stored JSON form: `{"fields": {NAME: {"record", "source", "value"}}, "key",
    /// "state", "township"}`. Serialised straight from the record, without building a
    /// `serde_json::Value` first: a first run writes a million of these.
    pub fn to_json_string(&self) -> String {
        #[derive(serde::Serialize)]
        struct FieldJson<'a> {
            record: &'a str,
            source: &'a str,
            value: &'a str,
        }
        #[derive(serde::Serialize)]
        struct RecordJson<'a> {
            fields: BTreeMap<&'a str, FieldJson<'a>>,
            key: &'a str,
            state: &'a str,
            township: Option<String>,
        }
        let record = RecordJson {
            fields: self
                .fields
                .iter()
                .map(|f| {
                    (
                        f.name,
                        FieldJson {
                            record: &f.record,
                            source: f.source,
                            value: &f.value,
                        },
                    )
                })
                .collect(),
            key: &self.key,
            state: self.state,
            township: self.township.map(|t| t.to_string()),
        };
        // Serialising plain strings and maps cannot fail.
        serde_json::to_string(&record).unwrap_or_default()
    }
}

/// A source record's link to the person it denotes.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub source: &'static str,
    pub record_key: String,
    pub person_key: Option<String>,
    pub reason: Option<&'static str>,
}

fn field(
    name: &'static str,
    value: impl Into<String>,
    source: &'static str,
    record: impl Into<String>,
) -> Field {
    Field {
        name,
        value: value.into(),
        source,
        record: record.into(),
    }
}

/// Builds the registry from the view and the rules' denotations.
pub fn build(
    snap: &Snapshot,
    view: &View<'_>,
    births: &[Birth<'_>],
    pis_person: &[Option<IdNumber>],
) -> (Vec<GoldenRecord>, Vec<Link>) {
    let mut persons: BTreeMap<String, GoldenRecord> = BTreeMap::new();
    let histories = MaritalHistory::index(&view.marriages);
    for id in &view.psb_ids {
        let p = &view.psb[id];
        let last = p.latest();
        let mut fields = vec![
            field("name", last.name.trim(), "psb", &last.lsh),
            field("sex", last.sex.zh(), "psb", &last.lsh),
            field("birth_date", last.birth_date.to_string(), "psb", &last.lsh),
            field("township", p.township().to_string(), "psb", &last.lsh),
        ];
        let state = if let Some(d) = view.deaths.get(id) {
            let first = &d.evidence[0];
            fields.push(field(
                "state",
                format!("死亡 {}", d.date),
                first.source,
                &first.record,
            ));
            "dead"
        } else if last.kind == PsbEventKind::MoveOut {
            fields.push(field("state", "迁出", "psb", &last.lsh));
            "moved_out"
        } else {
            fields.push(field("state", "在册", "psb", &last.lsh));
            "on_register"
        };
        if let Some(h) = histories.get(id) {
            if let Some(s) = h.status(view, view.dates.as_of) {
                let last_event = h
                    .events
                    .iter()
                    .rev()
                    .find(|(m, _)| m.reg_date <= view.dates.as_of)
                    .map(|(m, _)| m.reg_no.clone())
                    .unwrap_or_default();
                fields.push(field("marital_status", s.zh(), "mca", last_event));
            }
        }
        persons.insert(
            id.to_string(),
            GoldenRecord {
                key: id.to_string(),
                id: Some(*id),
                township: Some(p.township()),
                state,
                fields,
            },
        );
    }
    for b in births {
        let (Some(cert), None) = (b.cert, b.cs) else {
            continue;
        };
        let key = format!("birth:{}", cert.cert_no);
        let rec = format!("{}#{}", cert.cert_no, cert.version);
        let mut fields = vec![
            field("sex", cert.child_sex.zh(), "nhc", &rec),
            field("birth_date", cert.birth_date.to_string(), "nhc", &rec),
            field("mother_id", cert.mother_id.to_string(), "nhc", &rec),
            field("state", "出生未落户", "nhc", &rec),
        ];
        if let Some(n) = &cert.child_name {
            fields.insert(0, field("name", n.trim(), "nhc", &rec));
        }
        if let Some(r) = cert.residence {
            fields.push(field("township", r.township().to_string(), "nhc", &rec));
        }
        persons.insert(
            key.clone(),
            GoldenRecord {
                key,
                id: None,
                township: cert.residence.map(|r| r.township()),
                state: "unregistered_birth",
                fields,
            },
        );
    }
    // Register records of people no other department knows, and the register's
    // marital status where civil affairs says nothing.
    for (i, r) in snap.pis.iter().enumerate() {
        let Some(id) = pis_person[i] else { continue };
        let key = id.to_string();
        let entry = persons.entry(key.clone()).or_insert_with(|| GoldenRecord {
            key,
            id: Some(id),
            township: Some(r.village.township()),
            state: if view.deaths.contains_key(&id) {
                "dead"
            } else {
                "pis_only"
            },
            fields: vec![
                field("name", r.name.trim(), "pis", &r.person_id),
                field("sex", r.sex.zh(), "pis", &r.person_id),
                field("birth_date", r.birth_date.to_string(), "pis", &r.person_id),
                field(
                    "township",
                    r.village.township().to_string(),
                    "pis",
                    &r.person_id,
                ),
            ],
        });
        if r.is_active()
            && !entry.fields.iter().any(|f| f.name == "marital_status")
            && r.marital.is_some()
        {
            entry.fields.push(field(
                "marital_status",
                hyzk_zh(r.marital.as_deref()),
                "pis",
                &r.person_id,
            ));
        }
    }
    for (id, d) in &view.deaths {
        let key = id.to_string();
        persons.entry(key.clone()).or_insert_with(|| GoldenRecord {
            key,
            id: Some(*id),
            township: None,
            state: "dead",
            fields: vec![field(
                "state",
                format!("死亡 {}", d.date),
                d.evidence[0].source,
                &d.evidence[0].record,
            )],
        });
    }

    let mut links = Vec::new();
    let known = |id: Option<IdNumber>| -> (Option<String>, Option<&'static str>) {
        match id {
            Some(id) if persons.contains_key(id.as_str()) => (Some(id.to_string()), None),
            Some(_) => (None, Some("ID of no known person")),
            None => (None, Some("no ID")),
        }
    };
    for r in &snap.psb {
        let (person_key, reason) = if r.event_date > view.dates.as_of {
            (None, Some("dated after the as-of date"))
        } else {
            known(Some(r.id))
        };
        links.push(Link {
            source: "psb",
            record_key: r.lsh.clone(),
            person_key,
            reason,
        });
    }
    for m in &snap.marriages {
        for (side, id) in [("husband", m.husband_id), ("wife", m.wife_id)] {
            let (person_key, reason) = if m.reg_date > view.dates.as_of {
                (None, Some("dated after the as-of date"))
            } else {
                known(Some(id))
            };
            links.push(Link {
                source: "mca.marriage",
                record_key: format!("{}/{side}", m.reg_no),
                person_key,
                reason,
            });
        }
    }
    for c in &snap.cremations {
        let (person_key, reason) = if c.cremation_date > view.dates.as_of {
            (None, Some("dated after the as-of date"))
        } else {
            known(c.id)
        };
        links.push(Link {
            source: "mca.cremation",
            record_key: c.cert_no.clone(),
            person_key,
            reason,
        });
    }
    let birth_key: HashMap<&str, String> = births
        .iter()
        .filter_map(|b| {
            let c = b.cert?;
            Some((
                c.cert_no.as_str(),
                b.child_id()
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| format!("birth:{}", c.cert_no)),
            ))
        })
        .collect();
    for c in &snap.births {
        let (person_key, reason) = if c.updated_date > view.dates.as_of {
            (None, Some("dated after the as-of date"))
        } else if view.voided.contains(&c.cert_no) {
            (None, Some("certificate voided"))
        } else {
            match birth_key.get(c.cert_no.as_str()) {
                Some(k) => (Some(k.clone()), None),
                None => (None, Some("certificate voided")),
            }
        };
        links.push(Link {
            source: "nhc.birth",
            record_key: format!("{}#{}", c.cert_no, c.version),
            person_key,
            reason,
        });
    }
    for d in &snap.deaths {
        let (person_key, reason) = if d.updated_date > view.dates.as_of {
            (None, Some("dated after the as-of date"))
        } else if view.voided.contains(&d.cert_no) {
            (None, Some("certificate voided"))
        } else {
            known(d.id)
        };
        links.push(Link {
            source: "nhc.death",
            record_key: format!("{}#{}", d.cert_no, d.version),
            person_key,
            reason,
        });
    }
    for (i, r) in snap.pis.iter().enumerate() {
        let (person_key, reason) = match pis_person[i] {
            Some(id) => (Some(id.to_string()), None),
            None if r.id_norm.is_empty() => (None, Some("no ID and no birth it denotes")),
            None => (None, Some("invalid ID")),
        };
        links.push(Link {
            source: "pis",
            record_key: r.person_id.clone(),
            person_key,
            reason,
        });
    }
    (persons.into_values().collect(), links)
}
