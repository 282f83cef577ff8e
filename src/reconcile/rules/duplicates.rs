//! `DUPLICATE_RECORD`: two or more active records of one person, found by joining
//! records that share a key.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt};

use super::Rules;
use crate::domain::normalise_name;
use crate::reconcile::births::mother_key;
use crate::reconcile::cases::Joiner;
use crate::reconcile::sentences::{duplicate_record, pis_evidence};
use crate::records::PisRecord;
use crate::tickets::{Subject, TicketKind};

impl<'a> Rules<'a, '_> {
    /// `DUPLICATE_RECORD` (tickets.md, The kinds): two or more active records denote
    /// the same person: the same ID; or, when neither has an `sfzh`, the same birth, or
    /// the same non-empty `mqSfzh`, `csrq`, `xb` and normalised name; or one has the
    /// person's ID and the other, without `sfzh`, denotes that person's birth. Routed to
    /// the most recently modified record's township; stands beside any other ticket.
    pub(super) fn duplicates(&mut self) {
        let pis = self.view.pis;
        let active: Vec<usize> = (0..pis.len()).filter(|&i| pis[i].is_active()).collect();
        let mut uf = Joiner::new(pis.len());
        // Records that share a key are one person: a normalised ID, a birth, or a
        // mother, date, sex and name. IDs are borrowed (a birth's child ID from its
        // `CS` row) and sorted, so records with one ID lie side by side: a million
        // pairs of a borrowed text and a place, instead of a hash map of them.
        let mut by_id: Vec<(&'a str, u32)> = Vec::with_capacity(active.len());
        let mut by_birth: HashMap<usize, usize> = HashMap::new();
        let mut by_mother: HashMap<String, usize> = HashMap::new();
        fn link<K: std::hash::Hash + Eq>(
            map: &mut HashMap<K, usize>,
            key: K,
            i: usize,
            uf: &mut Joiner,
        ) {
            match map.get(&key) {
                Some(&j) => uf.union(i, j),
                None => {
                    map.insert(key, i);
                }
            }
        }
        for &i in &active {
            let r: &'a PisRecord = &pis[i];
            if !r.id_norm.is_empty() {
                by_id.push((r.id_norm.as_str(), i as u32));
                continue;
            }
            if let Some(b) = self.denoted.pis_birth[i] {
                link(&mut by_birth, b, i, &mut uf);
                if let Some(cs) = self.denoted.births[b].cs {
                    by_id.push((cs.id.as_str(), i as u32));
                }
            }
            if let Some(m) = mother_key(r) {
                let name = normalise_name(&r.name);
                if !name.is_empty() {
                    link(
                        &mut by_mother,
                        format!("{m}|{}|{}|{name}", r.birth_date, r.sex.code()),
                        i,
                        &mut uf,
                    );
                }
            }
        }
        by_id.sort_unstable();
        for same in by_id.chunk_by(|a, b| a.0 == b.0) {
            for pair in same.windows(2) {
                uf.union(pair[0].1 as usize, pair[1].1 as usize);
            }
        }
        drop(by_id);
        // Groups in the order of their roots, each group's records in register order:
        // small pairs sorted, instead of a map holding a vector for every record.
        let mut members: Vec<(u32, u32)> = active
            .iter()
            .map(|&i| (uf.find(i) as u32, i as u32))
            .collect();
        members.sort_unstable();
        for group in members.chunk_by(|a, b| a.0 == b.0) {
            if group.len() < 2 {
                continue;
            }
            let recs: Vec<usize> = group.iter().map(|&(_, i)| i as usize).collect();
            let newest = *recs
                .iter()
                .max_by(|&&a, &&b| {
                    (&pis[a].modified_time, &pis[a].person_id)
                        .cmp(&(&pis[b].modified_time, &pis[b].person_id))
                })
                .expect("two or more");
            let ids: BTreeSet<String> =
                recs.iter().map(|&i| pis[i].person_id.to_string()).collect();
            let subject = Subject {
                pis_person_ids: ids.into_iter().collect(),
                ..Subject::default()
            };
            let names: Vec<&str> = recs.iter().map(|&i| pis[i].name.trim()).collect();
            let summary = duplicate_record(&names);
            let ev = recs.iter().map(|&i| pis_evidence(&pis[i])).collect();
            let mut sorted = recs.clone();
            sorted.sort_by_key(|&i| i != newest);
            self.push(
                TicketKind::DuplicateRecord,
                pis[newest].village.township(),
                subject,
                ev,
                summary,
                &sorted,
            );
        }
    }
}
