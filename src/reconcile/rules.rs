//! The twelve ticket rules of tickets.md, with their precedence. Each rule reads the
//! as-of [`View`] and the derived indexes below; none does I/O.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use super::births::{denote_births, mother_key, pair_births, Birth};
use super::marital::MaritalHistory;
use super::ticket::{Evidence, Subject, TicketDraft, TicketKind};
use super::view::{slash, IdWalk, Identity, PsbPerson, View};
use crate::domain::{normalise_name, same_name, IdNumber, TownshipCode};
use crate::records::{PisRecord, PsbEventKind};

/// Who denotes whom: births paired across departments, and the birth and person each
/// PIS record denotes. The rules and the golden records both read it, so it is built
/// first and both can be built from it at once.
pub struct Denotations<'a> {
    /// Every current birth certificate and `CS` row, paired where they are one birth.
    pub births: Vec<Birth<'a>>,
    /// Per PIS record (not deleted): the birth it denotes.
    pub pis_birth: Vec<Option<usize>>,
    /// Per PIS record: the person ID it denotes (valid `sfzh`, or its birth's child).
    pub pis_person: Vec<Option<IdNumber>>,
    /// Per PIS record: the place among the view's household-register persons of the
    /// person it denotes, or [`NOT_IN_PSB`]. Found once here: the rules and the golden
    /// records both ask it of a million records.
    pis_psb: Vec<u32>,
}

/// A PIS record denotes no person the household register knows.
const NOT_IN_PSB: u32 = u32::MAX;

/// The place among the view's household-register persons of each ID's person, or
/// [`NOT_IN_PSB`]: the IDs sorted, then walked beside the persons, who are in ID
/// order. Looked up one by one in the view's hash index, a million IDs took about
/// 0.5 s (3.4% of a first reconciliation's CPU samples).
fn psb_places(view: &View<'_>, ids: &[Option<IdNumber>]) -> Vec<u32> {
    let mut sorted: Vec<(IdNumber, u32)> = ids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| Some(((*id)?, i as u32)))
        .collect();
    sorted.sort_unstable();
    let mut places = vec![NOT_IN_PSB; ids.len()];
    let mut persons = view.psb.walk();
    for (id, i) in sorted {
        if let Some(at) = persons.find(&id) {
            places[i as usize] = at as u32;
        }
    }
    places
}

/// The place of `id`'s person among the view's household-register persons, or
/// [`NOT_IN_PSB`].
fn psb_place_of(view: &View<'_>, id: Option<IdNumber>) -> u32 {
    id.and_then(|id| view.psb.position(&id))
        .map_or(NOT_IN_PSB, |at| at as u32)
}

impl<'a> Denotations<'a> {
    /// Pairs the view's births and finds what each PIS record denotes. The births are
    /// paired on one core while the other reads the records' own IDs and finds their
    /// persons in the household register; only records without an ID wait for the
    /// births.
    pub fn new(view: &View<'a>) -> Denotations<'a> {
        let ((births, pis_birth), (mut pis_person, mut pis_psb)) = std::thread::scope(|s| {
            let births = s.spawn(|| {
                let births = pair_births(view);
                let pis_birth = denote_births(&births, view.pis);
                (births, pis_birth)
            });
            let own: Vec<Option<IdNumber>> = view
                .pis
                .iter()
                .map(|r| {
                    (!r.id_norm.is_empty())
                        .then(|| IdNumber::parse(&r.id_norm).ok())
                        .flatten()
                })
                .collect();
            let places = psb_places(view, &own);
            let births = births
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (births, (own, places))
        });
        for (i, r) in view.pis.iter().enumerate() {
            if r.id_norm.is_empty() {
                pis_person[i] = pis_birth[i].and_then(|b| births[b].child_id());
                pis_psb[i] = psb_place_of(view, pis_person[i]);
            }
        }
        Denotations {
            births,
            pis_birth,
            pis_person,
            pis_psb,
        }
    }

    /// Where the person PIS record `i` denotes stands among the view's
    /// household-register persons, if the register knows them.
    pub fn psb_place(&self, i: usize) -> Option<usize> {
        let at = self.pis_psb[i];
        (at != NOT_IN_PSB).then_some(at as usize)
    }
}

/// Everything the rules share: the view plus who-denotes-whom.
pub struct Rules<'a, 'v> {
    pub view: &'v View<'a>,
    pub counties: &'v [String],
    /// Births paired across departments, and what each PIS record denotes.
    pub denoted: &'v Denotations<'a>,
    /// Active PIS records per person ID.
    pub active_by_person: ActiveRecords,
    pub drafts: Vec<TicketDraft>,
}

/// Active PIS records per person ID, kept flat: every record index in person order,
/// and each person, in ID order, with where their records start: a sorted vector
/// instead of a hash map of persons to ranges, which held each ID in a table kept
/// partly empty. A lookup is a binary search.
pub struct ActiveRecords {
    records: Vec<usize>,
    persons: Vec<(IdNumber, u32)>,
}

impl ActiveRecords {
    fn new(mut pairs: Vec<(IdNumber, usize)>) -> ActiveRecords {
        pairs.sort_unstable();
        let mut persons: Vec<(IdNumber, u32)> = Vec::new();
        let mut records = Vec::with_capacity(pairs.len());
        for (n, &(id, i)) in pairs.iter().enumerate() {
            if persons.last().is_none_or(|(last, _)| *last != id) {
                persons.push((id, n as u32));
            }
            records.push(i);
        }
        persons.shrink_to_fit();
        ActiveRecords { records, persons }
    }

    /// The person's active records, in register order.
    pub fn of(&self, id: &IdNumber) -> &[usize] {
        match self.persons.binary_search_by(|(p, _)| p.cmp(id)) {
            Ok(at) => self.range(at),
            Err(_) => &[],
        }
    }

    pub fn contains(&self, id: &IdNumber) -> bool {
        !self.of(id).is_empty()
    }

    /// Finds persons asked for in ID order by walking forward, not searching: a rule
    /// that walks the household register in ID order asks a million times.
    pub fn walk(&self) -> ActiveWalk<'_> {
        ActiveWalk {
            active: self,
            persons: IdWalk::new(&self.persons),
        }
    }

    /// The records of the person at `at` of `persons`.
    fn range(&self, at: usize) -> &[usize] {
        let start = self.persons[at].1 as usize;
        let end = self
            .persons
            .get(at + 1)
            .map_or(self.records.len(), |(_, next)| *next as usize);
        &self.records[start..end]
    }
}

/// [`ActiveRecords`] read in ID order.
pub struct ActiveWalk<'r> {
    active: &'r ActiveRecords,
    persons: IdWalk<'r, u32>,
}

impl<'r> ActiveWalk<'r> {
    /// The person's active records; `id` must not be before the one asked last.
    pub fn of(&mut self, id: &IdNumber) -> &'r [usize] {
        self.persons
            .find(id)
            .map_or(&[], |at| self.active.range(at))
    }
}

fn pis_evidence(r: &PisRecord) -> Evidence {
    let state = match r.state.code() {
        1 => "在册",
        2 => "迁出",
        _ => "死亡",
    };
    Evidence::new(
        "pis",
        r.person_id.as_str(),
        format!(
            "{} {} {} {} 村居 {} 状态 {}",
            r.name.trim(),
            r.sex.zh(),
            r.birth_date,
            if r.sfzh.trim().is_empty() {
                "无身份证号".to_string()
            } else {
                format!("身份证号 {}", r.sfzh.trim())
            },
            r.village,
            state
        ),
    )
}

fn psb_evidence(r: &crate::records::PsbEvent) -> Evidence {
    let what = match r.kind {
        PsbEventKind::Snapshot => "在册",
        PsbEventKind::Birth => "出生登记",
        PsbEventKind::Death => "死亡注销",
        PsbEventKind::MoveIn => "迁入",
        PsbEventKind::MoveOut => "迁出",
        PsbEventKind::Correction => "身份变更",
    };
    Evidence::new(
        "psb",
        r.lsh.as_str(),
        format!(
            "{what} {} {} {} {} 住址 {} 业务日期 {}",
            r.name.trim(),
            r.sex.zh(),
            r.birth_date,
            r.id,
            r.division,
            r.event_date
        ),
    )
}

impl<'a, 'v> Rules<'a, 'v> {
    pub fn new(
        view: &'v View<'a>,
        denoted: &'v Denotations<'a>,
        counties: &'v [String],
    ) -> Rules<'a, 'v> {
        let active = view
            .pis
            .iter()
            .zip(&denoted.pis_person)
            .enumerate()
            .filter(|(_, (r, _))| r.is_active())
            .filter_map(|(i, (_, person))| Some(((*person)?, i)))
            .collect();
        Rules {
            view,
            counties,
            denoted,
            active_by_person: ActiveRecords::new(active),
            drafts: Vec::new(),
        }
    }

    fn pis(&self, i: usize) -> &'a PisRecord {
        &self.view.pis[i]
    }

    /// The person has an active record in the township.
    fn in_township(&self, id: &IdNumber, township: TownshipCode) -> bool {
        self.active_by_person
            .of(id)
            .iter()
            .any(|&i| self.pis(i).village.township() == township)
    }

    /// Active records of a person, grouped by township (first record of each kept for evidence).
    fn active_by_township(&self, id: &IdNumber) -> BTreeMap<TownshipCode, Vec<usize>> {
        let mut m: BTreeMap<TownshipCode, Vec<usize>> = BTreeMap::new();
        for &i in self.active_by_person.of(id) {
            m.entry(self.pis(i).village.township()).or_default().push(i);
        }
        m
    }

    fn push(
        &mut self,
        kind: TicketKind,
        township: TownshipCode,
        subject: Subject,
        evidence: Vec<Evidence>,
        summary_zh: String,
        records: &[usize],
    ) {
        let person_key = subject
            .id_number
            .or(subject.child_id_number)
            .map(|i| i.to_string());
        let village = records.first().map(|&i| self.pis(i).village.to_string());
        self.drafts.push(TicketDraft {
            kind,
            township,
            subject,
            evidence,
            summary_zh,
            suggestion: None,
            person_key,
            village,
        });
    }

    /// Off the register: death evidence, or a current state of `QC` (overdue or not).
    fn off_register(&self, id: &IdNumber) -> bool {
        self.view.deaths.contains_key(id)
            || self
                .view
                .psb
                .get(id)
                .is_some_and(|p| p.latest().kind == PsbEventKind::MoveOut)
    }

    /// Runs every rule; returns the drafts in a stable order.
    pub fn run(mut self) -> Vec<TicketDraft> {
        let death_records = self.death_not_recorded();
        self.move_out_not_recorded();
        let move_in = self.move_in_not_recorded();
        self.residence_mismatch();
        let birth_children = self.births_not_in_pis();
        self.births_not_registered();
        let invalid = self.invalid_ids(&death_records);
        self.resident_missing(&birth_children, &move_in, &invalid);
        self.phantoms(&death_records, &invalid);
        self.identity_mismatch();
        self.duplicates();
        self.marital_mismatch();
        let mut drafts = self.drafts;
        // The subject key is built once per draft, not once per comparison.
        drafts.sort_by_cached_key(|a| (a.kind, a.township, a.subject_key()));
        drafts
    }

    /// `DEATH_NOT_RECORDED`; returns the PIS records it covers.
    fn death_not_recorded(&mut self) -> HashSet<usize> {
        let mut covered = HashSet::new();
        let mut ids: Vec<IdNumber> = self.view.deaths.keys().copied().collect();
        ids.sort();
        for id in ids {
            let Some(death) = self.view.overdue_death(&id) else {
                continue;
            };
            let death = death.clone();
            for (township, recs) in self.active_by_township(&id) {
                covered.extend(recs.iter().copied());
                let mut ev = death.evidence.clone();
                ev.extend(recs.iter().map(|&i| pis_evidence(self.pis(i))));
                let summary = format!(
                    "{}已于{}死亡（{}），但人口信息系统中仍为在册，请核实后注销。",
                    self.pis(recs[0]).name.trim(),
                    slash(death.date),
                    sources_zh(&death.evidence)
                );
                self.push(
                    TicketKind::DeathNotRecorded,
                    township,
                    Subject::id(id),
                    ev,
                    summary,
                    &recs,
                );
            }
        }
        covered
    }

    fn move_out_not_recorded(&mut self) {
        let view = self.view;
        for (&id, p) in view.psb.iter() {
            let last = p.latest();
            if last.kind != PsbEventKind::MoveOut || last.event_date > self.view.dates.overdue {
                continue;
            }
            for (township, recs) in self.active_by_township(&id) {
                let mut ev = vec![psb_evidence(last)];
                ev.extend(recs.iter().map(|&i| pis_evidence(self.pis(i))));
                let to = last.to_county().unwrap_or("外地");
                let summary = format!(
                    "{}已于{}迁出至{}，但人口信息系统中仍为在册，请核实后办理迁出。",
                    last.name.trim(),
                    slash(last.event_date),
                    to
                );
                self.push(
                    TicketKind::MoveOutNotRecorded,
                    township,
                    Subject::id(id),
                    ev,
                    summary,
                    &recs,
                );
            }
        }
    }

    /// `MOVE_IN_NOT_RECORDED`; returns the persons it covers.
    fn move_in_not_recorded(&mut self) -> HashSet<IdNumber> {
        let mut covered = HashSet::new();
        let view = self.view;
        for (&id, p) in view.psb.iter() {
            let last = p.latest();
            if last.kind != PsbEventKind::MoveIn
                || last.event_date > self.view.dates.overdue
                || self.view.deaths.contains_key(&id)
            {
                continue;
            }
            let dest = last.division.township();
            if self.in_township(&id, dest) {
                continue;
            }
            covered.insert(id);
            let mut ev = vec![psb_evidence(last)];
            ev.extend(
                self.active_by_person
                    .of(&id)
                    .iter()
                    .map(|&i| pis_evidence(self.pis(i))),
            );
            let summary = format!(
                "{}已于{}迁入本乡镇（{}），人口信息系统中没有其在本乡镇的在册记录，请录入。",
                last.name.trim(),
                slash(last.event_date),
                last.division
            );
            self.push(
                TicketKind::MoveInNotRecorded,
                dest,
                Subject::id(id),
                ev,
                summary,
                &[],
            );
        }
        covered
    }

    fn residence_mismatch(&mut self) {
        let view = self.view;
        for (&id, p) in view.psb.iter() {
            let last = p.latest();
            if !p.on_register() || last.kind == PsbEventKind::MoveIn || self.off_register(&id) {
                continue;
            }
            let home = p.township();
            // Most people are registered where they live: no grouping to do.
            if self
                .active_by_person
                .of(&id)
                .iter()
                .all(|&i| self.pis(i).village.township() == home)
            {
                continue;
            }
            for (township, recs) in self.active_by_township(&id) {
                if township == home {
                    continue;
                }
                let mut ev = vec![psb_evidence(last)];
                ev.extend(recs.iter().map(|&i| pis_evidence(self.pis(i))));
                let summary = format!(
                    "{}的户籍在{}，但人口信息系统把其登记在本乡镇，请核实后迁出或更正。",
                    last.name.trim(),
                    home
                );
                self.push(
                    TicketKind::ResidenceMismatch,
                    township,
                    Subject::id(id),
                    ev,
                    summary,
                    &recs,
                );
            }
        }
    }

    /// `BIRTH_NOT_IN_PIS`; returns the children (by ID) it covers.
    fn births_not_in_pis(&mut self) -> HashSet<IdNumber> {
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
            let summary = format!(
                "{}于{}出生（母亲{}），人口信息系统中没有该出生人口的记录，请录入。",
                b.child_name().unwrap_or_else(|| "新生儿".into()),
                slash(b.date()),
                b.cert
                    .and_then(|c| c.mother_name.as_deref())
                    .unwrap_or("见证据")
                    .trim()
            );
            self.push(
                TicketKind::BirthNotInPis,
                township,
                subject,
                birth_evidence(b),
                summary,
                &[],
            );
        }
        covered
    }

    fn births_not_registered(&mut self) {
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
            let summary = format!(
                "出生医学证明{}记载的新生儿于{}出生，已超过{}天仍未办理户籍登记，请督促落户。",
                cert.cert_no,
                slash(cert.birth_date),
                (self.view.dates.as_of - self.view.dates.birth_overdue).num_days()
            );
            self.push(
                TicketKind::BirthNotRegistered,
                township,
                subject,
                birth_evidence(b),
                summary,
                &[],
            );
        }
    }

    /// `INVALID_ID`: active records whose `sfzh` is no PSB person's and is invalid or
    /// contradicts the record. Returns draft indexes per PIS record.
    fn invalid_ids(&mut self, death_records: &HashSet<usize>) -> HashMap<usize, usize> {
        let mut out = HashMap::new();
        for (i, r) in self.view.pis.iter().enumerate() {
            if !r.is_active() || r.id_norm.is_empty() || death_records.contains(&i) {
                continue;
            }
            let reason = match IdNumber::parse(&r.id_norm) {
                Err(e) => format!("身份证号“{}”无效（{}）", r.sfzh.trim(), id_error_zh(&e)),
                Ok(_) if self.denoted.psb_place(i).is_some() => continue,
                Ok(id) if id.birth_date() != r.birth_date => format!(
                    "身份证号“{}”中的出生日期与登记的出生日期{}不符",
                    r.sfzh.trim(),
                    r.birth_date
                ),
                Ok(id) if id.sex() != r.sex => format!(
                    "身份证号“{}”中的性别与登记的性别{}不符",
                    r.sfzh.trim(),
                    r.sex.zh()
                ),
                Ok(_) => continue,
            };
            let subject = Subject {
                pis_person_id: Some(r.person_id.to_string()),
                ..Subject::default()
            };
            let summary = format!("{}的{}，请核对户口簿后更正。", r.name.trim(), reason);
            out.insert(i, self.drafts.len());
            self.push(
                TicketKind::InvalidId,
                r.village.township(),
                subject,
                vec![pis_evidence(r)],
                summary,
                &[i],
            );
        }
        out
    }

    fn resident_missing(
        &mut self,
        birth_children: &HashSet<IdNumber>,
        move_in: &HashSet<IdNumber>,
        invalid: &HashMap<usize, usize>,
    ) {
        let dates = self.view.dates;
        let mut candidates: Vec<IdNumber> = Vec::new();
        let mut active = self.active_by_person.walk();
        for (id, p) in self.view.psb.iter() {
            let last = p.latest();
            if !p.on_register()
                || self.view.deaths.contains_key(id)
                || !active.of(id).is_empty()
                || birth_children.contains(id)
                || move_in.contains(id)
                || (matches!(last.kind, PsbEventKind::Birth | PsbEventKind::MoveIn)
                    && last.event_date > dates.overdue)
            {
                continue;
            }
            candidates.push(*id);
        }
        // An INVALID_ID record in the person's township with their name, sex and birth
        // date is most likely them with a mistyped ID.
        let mut invalid_by_township: HashMap<TownshipCode, Vec<usize>> = HashMap::new();
        for &i in invalid.keys() {
            invalid_by_township
                .entry(self.pis(i).village.township())
                .or_default()
                .push(i);
        }
        let mut matched_persons: HashMap<usize, Vec<IdNumber>> = HashMap::new();
        let mut suppressed: HashSet<IdNumber> = HashSet::new();
        for id in &candidates {
            let p = &self.view.psb[id];
            let Some(recs) = invalid_by_township.get(&p.township()) else {
                continue;
            };
            let mut accepted = p.accepted_identities(&dates);
            let current = p.identity();
            if !accepted.contains(&current) {
                accepted.push(current);
            }
            for &i in recs {
                if accepted.contains(&Identity::of_pis(self.pis(i))) {
                    suppressed.insert(*id);
                    matched_persons.entry(i).or_default().push(*id);
                }
            }
        }
        for (i, persons) in matched_persons {
            if persons.len() == 1 {
                let d = invalid[&i];
                self.drafts[d].suggestion = Some(persons[0]);
                self.drafts[d]
                    .summary_zh
                    .push_str(&format!("可能的正确身份证号：{}。", persons[0]));
            }
        }
        for id in candidates {
            if suppressed.contains(&id) {
                continue;
            }
            let p = &self.view.psb[&id];
            let last = p.latest();
            let summary = format!(
                "{}户籍在本乡镇（{}），但人口信息系统中没有其在册记录，请核实后录入。",
                last.name.trim(),
                last.division
            );
            self.push(
                TicketKind::ResidentMissing,
                p.township(),
                Subject::id(id),
                vec![psb_evidence(last)],
                summary,
                &[],
            );
        }
    }

    fn phantoms(&mut self, death_records: &HashSet<usize>, invalid: &HashMap<usize, usize>) {
        for (i, r) in self.view.pis.iter().enumerate() {
            if !r.is_active() || death_records.contains(&i) || invalid.contains_key(&i) {
                continue;
            }
            let (subject, why) = if r.id_norm.is_empty() {
                if self.denoted.pis_birth[i].is_some() || r.birth_date > self.view.dates.overdue {
                    continue;
                }
                (
                    Subject {
                        pis_person_id: Some(r.person_id.to_string()),
                        ..Subject::default()
                    },
                    "没有身份证号，也找不到对应的出生记录",
                )
            } else {
                // The record's own ID, parsed once in the denotations (none: invalid).
                let Some(id) = self.denoted.pis_person[i] else {
                    continue;
                };
                if self.denoted.psb_place(i).is_some() || self.view.deaths.contains_key(&id) {
                    continue;
                }
                (
                    Subject {
                        pis_person_id: Some(r.person_id.to_string()),
                        id_number: Some(id),
                        ..Subject::default()
                    },
                    "的身份证号在公安户籍中查无此人",
                )
            };
            let summary = format!(
                "{}{}，请核实此人是否存在，不存在的请删除。",
                r.name.trim(),
                why
            );
            self.push(
                TicketKind::PhantomRecord,
                r.village.township(),
                subject,
                vec![pis_evidence(r)],
                summary,
                &[i],
            );
        }
    }

    fn identity_mismatch(&mut self) {
        let view = self.view;
        // Household-register persons and their active records, both walked in ID
        // order; the few that disagree are kept, then raised.
        let mut disagreeing = Vec::new();
        let mut active = self.active_by_person.walk();
        for (&id, p) in view.psb.iter() {
            let records = active.of(&id);
            // On the register and not off it (`QC` is not "on the register").
            if records.is_empty() || !p.on_register() || view.deaths.contains_key(&id) {
                continue;
            }
            // The common case, checked without building identities: every record
            // states the person as the register does now.
            let last = p.latest();
            if records.iter().all(|&i| {
                let r = &view.pis[i];
                r.sex == last.sex
                    && r.birth_date == last.birth_date
                    && same_name(&r.name, &last.name)
            }) {
                continue;
            }
            let accepted = p.accepted_identities(&view.dates);
            let mut bad: BTreeMap<TownshipCode, Vec<usize>> = BTreeMap::new();
            for &i in records {
                if !accepted.contains(&Identity::of_pis(&view.pis[i])) {
                    bad.entry(view.pis[i].village.township())
                        .or_default()
                        .push(i);
                }
            }
            disagreeing.push((id, p, bad));
        }
        for (id, p, bad) in disagreeing {
            let current = p.identity();
            for (township, recs) in bad {
                let r = self.pis(recs[0]);
                let mut diffs = Vec::new();
                if normalise_name(&r.name) != current.name {
                    diffs.push(format!(
                        "姓名“{}”应为“{}”",
                        r.name.trim(),
                        p.latest().name.trim()
                    ));
                }
                if r.sex != current.sex {
                    diffs.push(format!("性别{}应为{}", r.sex.zh(), current.sex.zh()));
                }
                if r.birth_date != current.birth_date {
                    diffs.push(format!(
                        "出生日期{}应为{}",
                        r.birth_date, current.birth_date
                    ));
                }
                let mut ev = vec![psb_evidence(p.latest())];
                ev.extend(recs.iter().map(|&i| pis_evidence(self.pis(i))));
                let summary = format!(
                    "人口信息系统中的身份信息与公安户籍不符：{}。请按户籍更正。",
                    diffs.join("，")
                );
                self.push(
                    TicketKind::IdentityMismatch,
                    township,
                    Subject::id(id),
                    ev,
                    summary,
                    &recs,
                );
            }
        }
    }

    fn duplicates(&mut self) {
        let pis = self.view.pis;
        let active: Vec<usize> = (0..pis.len()).filter(|&i| pis[i].is_active()).collect();
        let mut uf = UnionFind::new(pis.len());
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
            uf: &mut UnionFind,
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
            let summary = format!(
                "人口信息系统中有{}条记录指同一人（{}），请保留一条、删除其余。",
                recs.len(),
                names.join("、")
            );
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

    fn marital_mismatch(&mut self) {
        let histories = MaritalHistory::index(&self.view.marriages);
        let dates = self.view.dates;
        let mut ids: Vec<IdNumber> = histories
            .keys()
            .copied()
            .filter(|id| self.active_by_person.contains(id))
            .collect();
        ids.sort();
        for id in ids {
            if self.off_register(&id) {
                continue;
            }
            let h = &histories[&id];
            if !h.events.iter().any(|(m, _)| m.reg_date <= dates.overdue) {
                continue;
            }
            let (Some(overdue), Some(now)) = (
                h.status(self.view, dates.overdue),
                h.status(self.view, dates.as_of),
            ) else {
                continue;
            };
            let mut bad: BTreeMap<TownshipCode, Vec<usize>> = BTreeMap::new();
            for &i in self.active_by_person.of(&id) {
                let hyzk = self.pis(i).marital.as_deref();
                if !overdue.matches(hyzk) && !now.matches(hyzk) {
                    bad.entry(self.pis(i).village.township())
                        .or_default()
                        .push(i);
                }
            }
            for (township, recs) in bad {
                let r = self.pis(recs[0]);
                let mut ev: Vec<Evidence> = h
                    .events
                    .iter()
                    .filter(|(m, _)| m.reg_date <= dates.as_of)
                    .map(|(m, _)| {
                        Evidence::new(
                            "mca",
                            m.reg_no.as_str(),
                            format!("{} 登记日期 {}", m.kind.zh(), slash(m.reg_date)),
                        )
                    })
                    .collect();
                ev.extend(recs.iter().map(|&i| pis_evidence(self.pis(i))));
                let summary = format!(
                    "{}的婚姻状况在人口信息系统中为“{}”，民政婚姻登记显示应为“{}”，请核实更正。",
                    r.name.trim(),
                    hyzk_zh(r.marital.as_deref()),
                    overdue.zh()
                );
                self.push(
                    TicketKind::MaritalStatusMismatch,
                    township,
                    Subject::id(id),
                    ev,
                    summary,
                    &recs,
                );
            }
        }
    }
}

fn birth_evidence(b: &Birth<'_>) -> Vec<Evidence> {
    let mut ev = Vec::new();
    if let Some(c) = b.cert {
        ev.push(Evidence::new(
            "nhc",
            c.record_key(),
            format!(
                "出生医学证明 {} {} 出生日期 {} 母亲 {} {}",
                c.child_name.as_deref().unwrap_or("（未取名）"),
                c.child_sex.zh(),
                c.birth_date,
                c.mother_name.as_deref().unwrap_or(""),
                c.mother_id
            ),
        ));
    }
    if let Some(r) = b.cs {
        ev.push(psb_evidence(r));
    }
    ev
}

fn sources_zh(ev: &[Evidence]) -> String {
    let mut names: Vec<&str> = ev
        .iter()
        .map(|e| match e.source {
            "psb" => "公安死亡注销",
            "mca" => "民政火化记录",
            _ => "卫健死亡医学证明",
        })
        .collect();
    names.dedup();
    names.join("、")
}

fn id_error_zh(e: &crate::domain::IdError) -> &'static str {
    use crate::domain::IdError;
    match e {
        IdError::Empty => "为空",
        IdError::Length(_) => "位数不对",
        IdError::NotDigits => "含有非法字符",
        IdError::BirthDate => "出生日期不存在",
        IdError::CheckCharacter => "校验位错误",
    }
}

/// GB/T 2261.2 marital status in words.
pub fn hyzk_zh(code: Option<&str>) -> &'static str {
    match code {
        Some("10") => "未婚",
        Some("20") => "已婚",
        Some("21") => "初婚",
        Some("22") => "再婚",
        Some("23") => "复婚",
        Some("30") => "丧偶",
        Some("40") => "离婚",
        Some("90") => "未说明",
        _ => "空",
    }
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn new(n: usize) -> UnionFind {
        UnionFind((0..n).collect())
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0[ra.max(rb)] = ra.min(rb);
        }
    }
}
