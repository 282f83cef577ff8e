//! Births: pairing `CS` rows with birth certificates, and finding the PIS record that
//! denotes each birth, exactly as tickets.md's terms define them.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};

use chrono::NaiveDate;

use super::view::View;
use crate::domain::{normalise_id, normalise_name, IdNumber, Sex, TownshipCode};
use crate::records::{BirthCertificate, PisRecord, PsbEvent, PsbEventKind};

/// One child born, known from a certificate, a `CS` row, or both.
#[derive(Clone, Debug)]
pub struct Birth<'a> {
    pub cert: Option<&'a BirthCertificate>,
    pub cs: Option<&'a PsbEvent>,
}

impl<'a> Birth<'a> {
    pub fn date(&self) -> NaiveDate {
        self.cert
            .map(|c| c.birth_date)
            .or(self.cs.map(|r| r.birth_date))
            .expect("cert or CS")
    }

    pub fn mother(&self) -> Option<IdNumber> {
        self.cert
            .map(|c| c.mother_id)
            .or(self.cs.and_then(|r| r.mother_id().copied()))
    }

    pub fn sex(&self) -> Sex {
        self.cert
            .map(|c| c.child_sex)
            .or(self.cs.map(|r| r.sex))
            .expect("cert or CS")
    }

    /// The child's normalised name where any source knows it.
    pub fn child_name(&self) -> Option<String> {
        self.cs
            .map(|r| normalise_name(&r.name))
            .filter(|n| !n.is_empty())
            .or_else(|| {
                self.cert
                    .and_then(|c| c.child_name.as_deref())
                    .map(normalise_name)
                    .filter(|n| !n.is_empty())
            })
    }

    pub fn child_id(&self) -> Option<IdNumber> {
        self.cs.map(|r| r.id)
    }

    pub fn cert_no(&self) -> Option<&'a str> {
        self.cert.map(|c| c.cert_no.as_str())
    }

    /// Twins are ordered by certificate number; a birth known only from `CS` after them.
    fn order_key(&self) -> (u8, &str) {
        match (self.cert, self.cs) {
            (Some(c), _) => (0, c.cert_no.as_str()),
            (None, Some(r)) => (1, r.lsh.as_str()),
            (None, None) => (2, ""),
        }
    }

    pub fn belongs_to(&self, counties: &[String]) -> bool {
        let inside = |code: &str| counties.iter().any(|c| code.starts_with(c.as_str()));
        self.cert
            .and_then(|c| c.residence)
            .is_some_and(|d| inside(d.as_str()))
            || self.cs.is_some_and(|r| inside(r.division.as_str()))
    }

    /// The certificate's residence township, the last resort of routing.
    pub fn residence_township(&self) -> Option<TownshipCode> {
        self.cert.and_then(|c| c.residence).map(|d| d.township())
    }

    /// The (mother, date, sex) triple births and register records are matched on.
    fn triple(&self) -> Option<(IdNumber, NaiveDate, Sex)> {
        Some((self.mother()?, self.date(), self.sex()))
    }
}

/// Pairs every `CS` row with its certificate: by certificate number, else by mother,
/// date and sex, twins by name, else in certificate-number and `lsh` order.
pub fn pair_births<'a>(view: &View<'a>) -> Vec<Birth<'a>> {
    let certs: &[&BirthCertificate] = &view.birth_certs;
    let mut cs_rows: Vec<&PsbEvent> = view
        .psb
        .iter()
        .flat_map(|(_, p)| p.rows.iter().copied())
        .filter(|r| r.kind == PsbEventKind::Birth)
        .collect();
    cs_rows.sort_by(|a, b| a.lsh.cmp(&b.lsh));
    let by_no: HashMap<&str, usize> = certs
        .iter()
        .enumerate()
        .map(|(i, c)| (c.cert_no.as_str(), i))
        .collect();
    let mut cert_used = vec![false; certs.len()];
    let mut births = Vec::new();
    let mut unpaired_cs = Vec::new();
    for r in cs_rows {
        match r.birth_cert_no().and_then(|n| by_no.get(n)) {
            Some(&i) if !cert_used[i] => {
                cert_used[i] = true;
                births.push(Birth {
                    cert: Some(certs[i]),
                    cs: Some(r),
                });
            }
            _ => unpaired_cs.push(r),
        }
    }
    type Key = (IdNumber, NaiveDate, Sex);
    let mut groups: BTreeMap<Key, (Vec<&BirthCertificate>, Vec<&PsbEvent>)> = BTreeMap::new();
    let mut lone_cs = Vec::new();
    for (i, c) in certs.iter().enumerate() {
        if !cert_used[i] {
            groups
                .entry((c.mother_id, c.birth_date, c.child_sex))
                .or_default()
                .0
                .push(c);
        }
    }
    for r in unpaired_cs {
        match r.mother_id().copied() {
            Some(m) => groups
                .entry((m, r.birth_date, r.sex))
                .or_default()
                .1
                .push(r),
            None => lone_cs.push(r),
        }
    }
    for (_, (cs_certs, rows)) in groups {
        let name_of_cert = |c: &&BirthCertificate| {
            c.child_name
                .as_deref()
                .map(normalise_name)
                .filter(|n| !n.is_empty())
        };
        let name_of_row = |r: &&PsbEvent| Some(normalise_name(&r.name)).filter(|n| !n.is_empty());
        let pairs = pair_twins(&cs_certs, &rows, name_of_cert, name_of_row);
        let mut cert_done = vec![false; cs_certs.len()];
        let mut row_done = vec![false; rows.len()];
        for (ci, ri) in pairs {
            cert_done[ci] = true;
            row_done[ri] = true;
            births.push(Birth {
                cert: Some(cs_certs[ci]),
                cs: Some(rows[ri]),
            });
        }
        births.extend(
            cs_certs
                .iter()
                .zip(&cert_done)
                .filter(|(_, d)| !**d)
                .map(|(c, _)| Birth {
                    cert: Some(c),
                    cs: None,
                }),
        );
        births.extend(
            rows.iter()
                .zip(&row_done)
                .filter(|(_, d)| !**d)
                .map(|(r, _)| Birth {
                    cert: None,
                    cs: Some(r),
                }),
        );
    }
    births.extend(lone_cs.into_iter().map(|r| Birth {
        cert: None,
        cs: Some(r),
    }));
    births.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    births
}

/// Pairs two lists that agree on (mother, date, sex): first where names are known and
/// equal (one-to-one), then the rest in list order. Both lists come in their spec order.
fn pair_twins<A, B>(
    left: &[A],
    right: &[B],
    name_l: impl Fn(&A) -> Option<String>,
    name_r: impl Fn(&B) -> Option<String>,
) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    let mut l_done = vec![false; left.len()];
    let mut r_done = vec![false; right.len()];
    if left.len() > 1 || right.len() > 1 {
        for (li, l) in left.iter().enumerate() {
            let Some(ln) = name_l(l) else { continue };
            let hits: Vec<usize> = (0..right.len())
                .filter(|&ri| !r_done[ri] && name_r(&right[ri]).as_deref() == Some(ln.as_str()))
                .collect();
            if hits.len() == 1 {
                pairs.push((li, hits[0]));
                l_done[li] = true;
                r_done[hits[0]] = true;
            }
        }
    }
    let rest_l = (0..left.len()).filter(|&i| !l_done[i]);
    let rest_r: Vec<usize> = (0..right.len()).filter(|&i| !r_done[i]).collect();
    pairs.extend(rest_l.zip(rest_r));
    pairs
}

/// For every PIS record that is not deleted, the birth it denotes (index into `births`).
pub fn denote_births(births: &[Birth<'_>], pis: &[PisRecord]) -> Vec<Option<usize>> {
    let mut out = vec![None; pis.len()];
    let by_child: HashMap<IdNumber, usize> = births
        .iter()
        .enumerate()
        .filter_map(|(i, b)| Some((b.child_id()?, i)))
        .collect();
    let by_cert: HashMap<&str, usize> = births
        .iter()
        .enumerate()
        .filter_map(|(i, b)| Some((b.cert_no()?, i)))
        .collect();
    let mut by_triple: HashMap<(IdNumber, NaiveDate, Sex), Vec<usize>> = HashMap::new();
    for (i, b) in births.iter().enumerate() {
        if let Some(t) = b.triple() {
            by_triple.entry(t).or_default().push(i);
        }
    }
    let mut third_way: BTreeMap<(IdNumber, NaiveDate, Sex), Vec<usize>> = BTreeMap::new();
    for (pi, r) in pis.iter().enumerate() {
        if r.ever_deleted {
            continue;
        }
        if let Some(&b) = IdNumber::parse(&r.id_norm)
            .ok()
            .and_then(|id| by_child.get(&id))
        {
            out[pi] = Some(b);
            continue;
        }
        if let Some(&b) = r.birth_cert_no().and_then(|c| by_cert.get(c)) {
            out[pi] = Some(b);
            continue;
        }
        if !r.id_norm.is_empty() {
            continue;
        }
        let Some(mother) = r.mother_id().and_then(|m| IdNumber::parse(m).ok()) else {
            continue;
        };
        let key = (mother, r.birth_date, r.sex);
        if by_triple.contains_key(&key) {
            third_way.entry(key).or_default().push(pi);
        }
    }
    for (key, mut recs) in third_way {
        let group = &by_triple[&key];
        if group.len() == 1 {
            for pi in recs {
                out[pi] = Some(group[0]);
            }
            continue;
        }
        recs.sort_by(|a, b| pis[*a].person_id.cmp(&pis[*b].person_id));
        let pairs = pair_twins(
            &recs,
            group,
            |pi| Some(normalise_name(&pis[*pi].name)).filter(|n| !n.is_empty()),
            |bi| births[*bi].child_name(),
        );
        for (ri, bi) in pairs {
            out[recs[ri]] = Some(group[bi]);
        }
    }
    out
}

/// The normalised `mqSfzh`, when typed.
pub fn mother_key(r: &PisRecord) -> Option<String> {
    r.mother_id().map(normalise_id).filter(|m| !m.is_empty())
}
