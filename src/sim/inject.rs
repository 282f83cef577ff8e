//! What `inject: true` adds to the quiet base world: every ticket kind of
//! tickets.md (with the expected ticket written down as it is injected), benign
//! look-alikes that must raise nothing, and malformed records per feed.
//!
//! Every case uses people no other event touches (`Builder::pick` marks them busy),
//! and every overdue date keeps a margin of two weeks from the grace limits, so the
//! expected tickets follow from the injected fact alone.

use chrono::{Datelike, Duration, NaiveDate};
use rand::Rng;
use serde_json::{json, Value};

use super::ids;
use super::names;
use super::world::{fmt_date, fmt_rfc, fmt_slash, norm_name, Builder, Pis, MCA, NHC, PIS, PSB};

impl Builder {
    /// Injects about `persons / 170` cases (at least 2) of every ticket kind.
    pub(crate) fn inject_all(&mut self) {
        let k = (self.o.persons / 170).max(2);
        self.psb_repeats = 2;
        for i in 0..k {
            self.inj_birth_not_in_pis(i);
            self.inj_birth_not_registered();
            self.inj_death_not_recorded(i);
            self.inj_move_out();
            self.inj_move_in(i);
            self.inj_residence();
            self.inj_resident_missing(i);
            self.inj_phantom(i);
            self.inj_invalid_id(i);
            self.inj_identity(i);
            self.inj_duplicate(i);
            self.inj_marital(i);
        }
    }

    /// An overdue day with a safe margin: `start + 20 ..= as_of - margin`.
    fn overdue_day(&mut self, margin: i64) -> NaiveDate {
        let hi = self.asof - Duration::days(margin);
        self.day(self.start + Duration::days(20), hi)
    }

    fn id_subject(&self, p: usize) -> Vec<(&'static str, Value)> {
        vec![("id_number", json!(self.persons[p].id))]
    }

    fn main_pis(&self, p: usize) -> usize {
        self.persons[p].pis.unwrap_or(0)
    }

    fn pis_township(&self, r: usize) -> String {
        self.township_of(self.pis[r].vill)
    }

    /// The township of the most recently modified of two records (ties: larger personId).
    fn latest_township(&self, a: usize, b: usize) -> String {
        let ka = (self.pis[a].mt, self.pis[a].pid.clone());
        let kb = (self.pis[b].mt, self.pis[b].pid.clone());
        if ka >= kb {
            self.pis_township(a)
        } else {
            self.pis_township(b)
        }
    }

    fn dup_ticket(&mut self, a: usize, b: usize) {
        self.pis[a].nomutate = true;
        self.pis[b].nomutate = true;
        let mut ids = vec![
            self.pis[a].pid.clone().unwrap_or_default(),
            self.pis[b].pid.clone().unwrap_or_default(),
        ];
        ids.sort();
        let t = self.latest_township(a, b);
        self.ticket("DUPLICATE_RECORD", t, &[("pis_person_ids", json!(ids))]);
    }

    /// A record of someone no department knows (no person behind it).
    fn loose_pis(&mut self, sfzh: String, xm: String, xb: u8, csrq: String) -> usize {
        let vill = self.random_vill();
        let lo = NaiveDate::from_ymd_opt(2005, 1, 1).unwrap_or(self.start);
        let d = self.day(lo, self.start + Duration::days(200));
        let mt = self.at_work(d);
        let pid = self.new_pid();
        self.pis.push(Pis {
            pid: Some(pid),
            sfzh,
            xm,
            xb,
            csrq,
            vill,
            hyzk: "90",
            mq: String::new(),
            csyx: String::new(),
            zt: 1,
            mt,
            del: false,
            nomutate: false,
            skip: false,
            malformed: false,
        });
        self.pis.len() - 1
    }

    /// A fresh identity nobody in the world has: (ID, name, sex, birth).
    fn fresh_identity(&mut self) -> (String, String, u8, NaiveDate) {
        let sex = self.rng.random_range(1..=2u8);
        let lo = NaiveDate::from_ymd_opt(1935, 1, 1).unwrap_or(self.start);
        let hi = NaiveDate::from_ymd_opt(1995, 12, 31).unwrap_or(self.start);
        let birth = self.day(lo, hi);
        let county = self.o.county.clone();
        let id = self.new_id(&county, birth, sex);
        let sur = names::surname(&mut self.rng);
        let name = names::full_name(&mut self.rng, sur, sex);
        (id, name, sex, birth)
    }

    // ------------------------------------------------------------ the kinds

    fn inj_birth_not_in_pis(&mut self, i: usize) {
        let d = self.overdue_day(75);
        let Some(mother) = self.pick_mother(d) else {
            return;
        };
        let sex = self.rng.random_range(1..=2u8);
        let child = self.new_child(mother, d, sex);
        let later = self.chance(0.5);
        let cert = self.birth_cert(child, mother, later);
        let ywrq = d + self.days(3, 25);
        self.cs_row(child, mother, ywrq, Some(&cert));
        if i % 5 == 4 {
            // the child's record was deleted by mistake
            let mt = self.work_after(ywrq, 5, 30);
            let r = self.child_pis(child, mother, mt, true, None);
            self.pis[r].del = true;
        }
        let t = self.township_of(self.persons[child].vill);
        let id = self.persons[child].id.clone();
        self.ticket(
            "BIRTH_NOT_IN_PIS",
            t,
            &[
                ("birth_cert_no", json!(cert)),
                ("child_id_number", json!(id)),
            ],
        );
    }

    fn inj_birth_not_registered(&mut self) {
        let d = self.overdue_day(90);
        let Some(mother) = self.pick_mother(d) else {
            return;
        };
        let sex = self.rng.random_range(1..=2u8);
        let child = self.new_child(mother, d, sex);
        let cert = self.birth_cert(child, mother, false);
        // the township did record the child, by its mother and certificate
        let mt = self.work_after(d, 10, 40);
        self.child_pis(child, mother, mt, false, Some(&cert));
        let t = self.township_of(self.persons[mother].vill);
        self.ticket("BIRTH_NOT_REGISTERED", t, &[("birth_cert_no", json!(cert))]);
    }

    fn inj_death_not_recorded(&mut self, i: usize) {
        let dd = self.overdue_day(45);
        let p = match self.pick(|p| dd.year() - p.birth.year() >= 50) {
            Some(p) => p,
            None => match self.pick(|_| true) {
                Some(p) => p,
                None => return,
            },
        };
        let (sw, crem, cert) = (self.chance(0.6), self.chance(0.5), self.chance(0.5));
        let sw = sw || !(crem || cert);
        self.death_records(p, dd, sw, crem, cert, false);
        let r = self.main_pis(p);
        let t = self.pis_township(r);
        let subj = self.id_subject(p);
        self.ticket("DEATH_NOT_RECORDED", t, &subj);
        if i % 4 == 3 {
            // also entered in another township: one ticket there too, and a duplicate
            let j = self.copy_pis(r);
            let v = self.vill_elsewhere(self.pis[r].vill);
            self.pis[j].vill = v;
            let md = self.day(self.start, self.asof - Duration::days(40));
            self.pis[j].mt = self.at_work(md);
            let t2 = self.pis_township(j);
            self.ticket("DEATH_NOT_RECORDED", t2, &subj);
            self.dup_ticket(r, j);
        }
    }

    fn inj_move_out(&mut self) {
        let m = self.overdue_day(45);
        let Some(p) = self.pick(|_| true) else { return };
        self.qc_row(p, m);
        let t = self.pis_township(self.main_pis(p));
        let subj = self.id_subject(p);
        self.ticket("MOVE_OUT_NOT_RECORDED", t, &subj);
    }

    fn inj_move_in(&mut self, i: usize) {
        let m = self.overdue_day(45);
        if i % 2 == 0 {
            // arrived from elsewhere, never entered
            let vill = self.random_vill();
            let hh = self.new_hh();
            let p = self.newcomer(m, vill, hh, true);
            let t = self.township_of(vill);
            let subj = self.id_subject(p);
            self.ticket("MOVE_IN_NOT_RECORDED", t, &subj);
        } else {
            // moved between townships; the old township kept its record, the new one has none
            let Some(p) = self.pick(|_| true) else { return };
            let to = self.vill_elsewhere(self.persons[p].vill);
            self.qr_within(p, m, to);
            let t = self.township_of(to);
            let subj = self.id_subject(p);
            self.ticket("MOVE_IN_NOT_RECORDED", t, &subj);
        }
    }

    fn inj_residence(&mut self) {
        let Some(p) = self.pick(|_| true) else { return };
        let r = self.main_pis(p);
        let v = self.vill_elsewhere(self.pis[r].vill);
        self.pis[r].vill = v;
        let t = self.township_of(v);
        let subj = self.id_subject(p);
        self.ticket("RESIDENCE_MISMATCH", t, &subj);
    }

    fn inj_resident_missing(&mut self, i: usize) {
        let Some(p) = self.pick(|_| true) else { return };
        let r = self.main_pis(p);
        match i % 4 {
            0 => self.pis[r].skip = true,
            1 => self.pis[r].del = true,
            2 => self.pis[r].zt = 2,
            _ => self.pis[r].zt = 3,
        }
        let t = self.township_of(self.persons[p].vill);
        let subj = self.id_subject(p);
        let k = self.ticket("RESIDENT_MISSING", t.clone(), &subj);
        let per = &self.persons[p];
        let key = (norm_name(&per.name), fmt_date(per.birth), per.sex);
        let id = per.id.clone();
        self.rm.push(super::world::RmCand {
            id,
            township: t,
            key,
            ticket: Some(k),
        });
    }

    fn inj_phantom(&mut self, i: usize) {
        let (id, name, sex, birth) = self.fresh_identity();
        if i % 2 == 0 {
            // someone who left or died before the feeds began
            let r = self.loose_pis(id.clone(), name, sex, fmt_date(birth));
            let t = self.pis_township(r);
            let pid = self.pis[r].pid.clone().unwrap_or_default();
            self.ticket(
                "PHANTOM_RECORD",
                t,
                &[("pis_person_id", json!(pid)), ("id_number", json!(id))],
            );
        } else {
            let r = self.loose_pis(String::new(), name, sex, fmt_date(birth));
            let t = self.pis_township(r);
            let pid = self.pis[r].pid.clone().unwrap_or_default();
            self.ticket("PHANTOM_RECORD", t, &[("pis_person_id", json!(pid))]);
        }
    }

    fn invalid_ticket(&mut self, r: usize) {
        let t = self.pis_township(r);
        let pid = self.pis[r].pid.clone().unwrap_or_default();
        let k = self.ticket("INVALID_ID", t.clone(), &[("pis_person_id", json!(pid))]);
        let key = (
            norm_name(&self.pis[r].xm),
            self.pis[r].csrq.clone(),
            self.pis[r].xb,
        );
        self.inv.push(super::world::InvRec {
            ticket: k,
            township: t,
            key,
        });
    }

    fn inj_invalid_id(&mut self, i: usize) {
        match i % 3 {
            0 => {
                // a mistyped ID of a former resident
                let (id, name, sex, birth) = self.fresh_identity();
                let r = self.loose_pis(mistype(&id, i / 3), name, sex, fmt_date(birth));
                self.invalid_ticket(r);
            }
            1 => {
                // a resident whose only record has a mistyped ID: the ticket suggests it
                let Some(p) = self.pick(|p| !p.name.contains('·')) else {
                    return;
                };
                let r = self.main_pis(p);
                let id = self.persons[p].id.clone();
                self.pis[r].sfzh = mistype(&id, i / 3);
                self.pis[r].xm = self.persons[p].name.clone();
                self.invalid_ticket(r);
                let t = self.pis_township(r);
                let per = &self.persons[p];
                let key = (norm_name(&per.name), fmt_date(per.birth), per.sex);
                self.rm.push(super::world::RmCand {
                    id,
                    township: t,
                    key,
                    ticket: None,
                });
            }
            _ => {
                // a valid ID of nobody, contradicting the record's own birth date
                let (id, name, sex, birth) = self.fresh_identity();
                let wrong = birth + Duration::days(self.rng.random_range(1..300));
                let r = self.loose_pis(id, name, sex, fmt_date(wrong));
                self.invalid_ticket(r);
            }
        }
    }

    fn inj_identity(&mut self, i: usize) {
        let Some(p) = self.pick(|p| !p.name.contains('·')) else {
            return;
        };
        let r = self.main_pis(p);
        let per = &self.persons[p];
        let (name, sex, birth) = (per.name.clone(), per.sex, per.birth);
        match i % 4 {
            0 => self.pis[r].xm = names::typo(&mut self.rng, &name, sex),
            1 => {
                let mut d = birth + Duration::days(self.rng.random_range(1..40));
                if self.chance(0.5) {
                    d = birth - Duration::days(self.rng.random_range(1..40));
                }
                self.pis[r].csrq = fmt_date(d);
            }
            2 => self.pis[r].xb = 3 - sex,
            _ => {
                // an overdue BG correction the township never applied
                let b = self.overdue_day(45);
                self.bg_row(p, b);
            }
        }
        let t = self.pis_township(r);
        let subj = self.id_subject(p);
        self.ticket("IDENTITY_MISMATCH", t, &subj);
    }

    fn inj_duplicate(&mut self, i: usize) {
        match i % 3 {
            0 | 1 => {
                let Some(p) = self.pick(|_| true) else { return };
                let r = self.main_pis(p);
                let j = self.copy_pis(r);
                let v = if i % 3 == 0 {
                    self.vill_same_township(self.pis[r].vill)
                } else {
                    self.vill_elsewhere(self.pis[r].vill)
                };
                self.pis[j].vill = v;
                let md = self.day(self.start, self.asof - Duration::days(40));
                self.pis[j].mt = self.at_work(md);
                if self.chance(0.5) {
                    let id = self.persons[p].id.clone();
                    self.pis[j].sfzh = ids::to_fullwidth(&id);
                }
                self.dup_ticket(r, j);
                if i % 3 == 1 {
                    let t = self.pis_township(j);
                    let subj = self.id_subject(p);
                    self.ticket("RESIDENCE_MISMATCH", t, &subj);
                }
            }
            _ => {
                // a newborn entered twice: with its ID, and without, by certificate
                let d = self.overdue_day(75);
                let Some(mother) = self.pick_mother(d) else {
                    return;
                };
                let sex = self.rng.random_range(1..=2u8);
                let child = self.new_child(mother, d, sex);
                let cert = self.birth_cert(child, mother, false);
                let ywrq = d + self.days(3, 25);
                self.cs_row(child, mother, ywrq, Some(&cert));
                let mt1 = self.work_after(ywrq, 1, 20);
                let a = self.child_pis(child, mother, mt1, true, None);
                let mt2 = self.work_after(ywrq, 1, 20);
                let b = self.child_pis(child, mother, mt2, false, Some(&cert));
                self.dup_ticket(a, b);
            }
        }
    }

    fn inj_marital(&mut self, i: usize) {
        if i % 2 == 0 {
            let r = self.overdue_day(45);
            let Some(man) = self.pick_single(1, r) else {
                return;
            };
            let Some(woman) = self.pick_single(2, r) else {
                return;
            };
            self.marriage_row("结婚", r, man, woman);
            let (stale, ok) = if self.chance(0.5) {
                (man, woman)
            } else {
                (woman, man)
            };
            let ro = self.main_pis(ok);
            self.pis[ro].hyzk = "21";
            // the stale party's record still says unmarried
            let rs = self.main_pis(stale);
            self.pis[rs].hyzk = "10";
            let t = self.pis_township(rs);
            let subj = self.id_subject(stale);
            self.ticket("MARITAL_STATUS_MISMATCH", t, &subj);
        } else {
            let r1 = self.overdue_day(400);
            let Some(man) = self.pick_single(1, r1) else {
                return;
            };
            let Some(woman) = self.pick_single(2, r1) else {
                return;
            };
            let r2 = r1 + self.days(30, 300);
            self.marriage_row("结婚", r1, man, woman);
            self.marriage_row("离婚", r2, man, woman);
            let (stale, ok) = if self.chance(0.5) {
                (man, woman)
            } else {
                (woman, man)
            };
            let ro = self.main_pis(ok);
            self.pis[ro].hyzk = "40";
            let rs = self.main_pis(stale);
            self.pis[rs].hyzk = "20";
            let t = self.pis_township(rs);
            let subj = self.id_subject(stale);
            self.ticket("MARITAL_STATUS_MISMATCH", t, &subj);
        }
    }

    /// Applies the `INVALID_ID` / `RESIDENT_MISSING` rule: a resident matched by an
    /// invalid record in their township gets no RESIDENT_MISSING ticket, and when
    /// exactly one resident matches, the INVALID_ID ticket suggests their ID.
    pub(crate) fn settle_invalid_ids(&mut self) {
        let mut sugg = Vec::new();
        for inv in &self.inv {
            let m: Vec<&super::world::RmCand> = self
                .rm
                .iter()
                .filter(|c| c.township == inv.township && c.key == inv.key)
                .collect();
            if m.len() == 1 {
                sugg.push((inv.ticket, m[0].id.clone()));
            }
            for c in m {
                if let Some(t) = c.ticket {
                    self.dropped.insert(t);
                }
            }
        }
        for (t, id) in sugg {
            self.expected[t].suggestion = Some(json!({ "id_number": id }));
        }
    }

    // ---------------------------------------------------------- look-alikes

    /// Benign cases that must raise nothing.
    pub(crate) fn benign(&mut self) {
        let k = (self.o.persons / 170).max(2);
        for _ in 0..(k / 4).max(1) {
            self.twins();
            self.same_name_and_birth();
            self.birth_cert_voided_and_replaced();
            self.birth_cert_void_standalone();
            self.death_cert_voided();
            self.nonresident_records();
        }
    }

    fn twins(&mut self) {
        let d = self.overdue_day(75);
        let Some(mother) = self.pick_mother(d) else {
            return;
        };
        let sex = self.rng.random_range(1..=2u8);
        let ywrq = d + self.days(3, 20);
        for _ in 0..2 {
            let child = self.new_child(mother, d, sex);
            let cert = self.birth_cert(child, mother, false);
            self.cs_row(child, mother, ywrq, Some(&cert));
            let mt = self.work_after(ywrq, 1, 15);
            self.child_pis(child, mother, mt, true, None);
        }
    }

    fn same_name_and_birth(&mut self) {
        let Some(p) = self.pick(|p| !p.name.contains('·')) else {
            return;
        };
        let per = &self.persons[p];
        let (name, sex, birth, mz) = (per.name.clone(), per.sex, per.birth, per.mz);
        let vill = self.random_vill();
        let hh = self.new_hh();
        let county = self.o.county.clone();
        let id = self.new_id(&county, birth, sex);
        self.persons.push(super::world::Person {
            id,
            name,
            csh_name: None,
            sex,
            birth,
            mz,
            hh,
            yhzgx: "02",
            vill0: vill,
            vill,
            busy: true,
            initial: true,
            spouse: None,
            pis: None,
        });
        let q = self.persons.len() - 1;
        let d = self.day(
            self.start - Duration::days(900),
            self.start - Duration::days(1),
        );
        let mt = self.at_work(d);
        let r = self.add_pis(q, vill, mt, "90");
        self.persons[q].pis = Some(r);
    }

    /// Pushes a VOID version of the latest version of birth certificate `no`.
    fn void_birth(&mut self, no: &str, days_later: i64) {
        let Some((t, w)) = self
            .births
            .iter()
            .filter(|(_, w)| w.certificate_no.as_deref() == Some(no))
            .max_by_key(|(_, w)| w.version)
            .cloned()
        else {
            return;
        };
        let t2 = self.at_work(t.date() + Duration::days(days_later));
        let mut w2 = w;
        w2.version += 1;
        w2.status = "VOID".into();
        w2.updated_at = fmt_rfc(t2);
        self.births.push((t2, w2));
    }

    fn birth_cert_voided_and_replaced(&mut self) {
        let d = self.overdue_day(75);
        let Some(mother) = self.pick_mother(d) else {
            return;
        };
        let sex = self.rng.random_range(1..=2u8);
        let child = self.new_child(mother, d, sex);
        let bad = self.birth_cert(child, mother, false);
        self.void_birth(&bad, 3);
        let good = self.birth_cert(child, mother, false);
        let ywrq = d + self.days(5, 20);
        self.cs_row(child, mother, ywrq, Some(&good));
        let mt = self.work_after(ywrq, 1, 15);
        self.child_pis(child, mother, mt, true, None);
    }

    fn birth_cert_void_standalone(&mut self) {
        let d = self.overdue_day(90);
        let Some(mother) = self.pick_mother(d) else {
            return;
        };
        let child = self.new_child(mother, d, 1);
        let no = self.birth_cert(child, mother, false);
        self.void_birth(&no, 2);
    }

    fn death_cert_voided(&mut self) {
        let dd = self.overdue_day(60);
        let Some(p) = self.pick(|_| true) else { return };
        self.death_records(p, dd, false, false, true, false);
        if let Some((t, w)) = self.deaths.last().cloned() {
            let t2 = self.at_work(t.date() + Duration::days(3));
            let mut w2 = w;
            w2.version += 1;
            w2.status = "VOID".into();
            w2.updated_at = fmt_rfc(t2);
            self.deaths.push((t2, w2));
        }
    }

    /// Someone registered elsewhere (not on the snapshot, no record).
    fn outsider(&mut self, sex: u8) -> usize {
        let hh = self.new_hh();
        let m = self.start;
        let p = self.newcomer_silent(m, hh, sex);
        self.persons[p].initial = false;
        self.persons[p].busy = true;
        p
    }

    fn newcomer_silent(&mut self, _m: NaiveDate, hh: u32, sex: u8) -> usize {
        let origin = self.other_county();
        let lo = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or(self.start);
        let hi = NaiveDate::from_ymd_opt(1992, 12, 31).unwrap_or(self.start);
        let birth = self.day(lo, hi);
        let id = self.new_id(origin, birth, sex);
        let sur = names::surname(&mut self.rng);
        let name = names::full_name(&mut self.rng, sur, sex);
        let vill = self.random_vill();
        self.persons.push(super::world::Person {
            id,
            name,
            csh_name: None,
            sex,
            birth,
            mz: "01",
            hh,
            yhzgx: "02",
            vill0: vill,
            vill,
            busy: true,
            initial: false,
            spouse: None,
            pis: None,
        });
        self.persons.len() - 1
    }

    fn nonresident_records(&mut self) {
        // a birth in a city hospital to a mother living elsewhere
        let d = self.overdue_day(90);
        let mother = self.outsider(2);
        let child = self.new_child(mother, d, 2);
        let no = self.new_cert(super::world::letter_for(d.year()));
        let t = self.at_work(d);
        let mut w = self.birth_wire(child, mother, &no, true, t);
        w.residence_code = self.other_residence();
        self.births.push((t, w));
        // a cremation of someone registered elsewhere, and of an unidentified person
        let dd = self.overdue_day(60);
        let o = self.outsider(1);
        let cd = dd + Duration::days(2);
        let origin = self.persons[o].id[..6].to_string();
        for (name, sex, id, addr) in [
            (
                self.persons[o].name.clone(),
                "男",
                self.persons[o].id.clone(),
                format!("{origin}某地"),
            ),
            ("无名氏".to_string(), "男", String::new(), String::new()),
        ] {
            let seq = self.next_seq(format!("HH{}", cd.year()));
            let fields = vec![
                format!("HH{}-{seq:05}", cd.year()),
                name,
                sex.to_string(),
                id,
                fmt_slash(dd),
                fmt_slash(cd),
                addr,
                names::FUNERAL_HOME.to_string(),
            ];
            self.crem.push((cd, fields));
        }
        // a marriage of two people registered elsewhere
        let r = self.overdue_day(45);
        let a = self.outsider(1);
        let b = self.outsider(2);
        self.marriage_row("结婚", r, a, b);
    }

    // ------------------------------------------------------------ malformed

    /// A few malformed records per feed; each is an extra record, so quarantining it
    /// leaves the world as it was.
    pub(crate) fn malformed(&mut self) {
        self.malformed_psb();
        self.malformed_mca();
        self.malformed_nhc();
        self.malformed_pis();
    }

    fn malformed_psb(&mut self) {
        // a CS row whose gmsfhm fails its check, and one whose mqsfhm does
        for bad_mother in [false, true] {
            let d = self.overdue_day(90);
            let Some(mother) = self.pick_mother(d) else {
                continue;
            };
            let child = self.new_child(mother, d, 1);
            let ywrq = d + self.days(3, 20);
            self.cs_row(child, mother, ywrq, None);
            if let Some(e) = self.evs.last_mut() {
                if bad_mother {
                    e.mq = e.mq.as_deref().map(ids::with_wrong_check);
                } else {
                    e.gmsfhm = ids::with_wrong_check(&e.gmsfhm);
                }
                e.malformed = true;
                self.mal[PSB] += 1;
            }
        }
        // a QR row with an impossible birth date, and one without its address
        for missing_xzqh in [false, true] {
            let m = self.overdue_day(45);
            let vill = self.random_vill();
            let hh = self.new_hh();
            self.newcomer(m, vill, hh, true);
            if let Some(e) = self.evs.last_mut() {
                if missing_xzqh {
                    e.xzqh = String::new();
                } else {
                    let y = &e.csrq[..4];
                    e.csrq = format!("{y}0230");
                }
                e.malformed = true;
                self.mal[PSB] += 1;
            }
        }
    }

    fn malformed_mca(&mut self) {
        // marriages: no registration number, a party's ID failing its check, an impossible date
        for case in 0..3 {
            let r = self.overdue_day(60);
            let Some(man) = self.pick_single(1, r) else {
                continue;
            };
            let woman = if case == 0 {
                self.outsider(2)
            } else {
                match self.pick_single(2, r) {
                    Some(w) => w,
                    None => self.outsider(2),
                }
            };
            let day = if case == 2 {
                NaiveDate::from_ymd_opt(r.year(), 2, 28).unwrap_or(r)
            } else {
                r
            };
            self.marriage_row("结婚", day, man, woman);
            if let Some((_, f)) = self.marr.last_mut() {
                match case {
                    0 => f[0] = String::new(),
                    1 => f[5] = ids::with_wrong_check(&f[5]),
                    _ => f[6] = format!("{}/2/30", day.year()),
                }
                self.mal[MCA] += 1;
            }
        }
        // cremations: an impossible death date, no number, an ID failing its check
        for case in 0..3 {
            let dd = self.overdue_day(60);
            let Some(p) = self.pick(|_| true) else {
                continue;
            };
            let before = self.crem.len();
            let mut d = dd;
            while self.crem.len() == before {
                self.death_records(p, d, false, true, false, false);
                d -= Duration::days(5);
            }
            if let Some((_, f)) = self.crem.last_mut() {
                match case {
                    0 => {
                        let y = dd.year() - 1;
                        f[4] = format!("{y}/4/31");
                    }
                    1 => f[0] = String::new(),
                    _ => f[3] = ids::with_wrong_check(&f[3]),
                }
                self.mal[MCA] += 1;
            }
        }
    }

    fn malformed_nhc(&mut self) {
        for case in 0..3 {
            let d = self.overdue_day(90);
            let Some(mother) = self.pick_mother(d) else {
                continue;
            };
            let child = self.new_child(mother, d, 2);
            let no = self.new_cert(super::world::letter_for(d.year()));
            let t = self.at_work(d);
            let mut w = self.birth_wire(child, mother, &no, true, t);
            match case {
                0 => w.birth_date = format!("{}-02-30", d.year()),
                1 => w.certificate_no = None,
                _ => w.mother_id_no = ids::with_wrong_check(&w.mother_id_no),
            }
            self.births.push((t, w));
            self.mal[NHC] += 1;
        }
        for case in 0..3 {
            let dd = self.overdue_day(60);
            let Some(p) = self.pick(|_| true) else {
                continue;
            };
            self.death_records(p, dd, false, false, true, false);
            if let Some((_, w)) = self.deaths.last_mut() {
                match case {
                    0 => w.death_date = format!("{}-04-31", dd.year()),
                    1 => w.certificate_no = None,
                    _ => w.id_no = w.id_no.as_deref().map(ids::with_wrong_check),
                }
                self.mal[NHC] += 1;
            }
        }
    }

    fn malformed_pis(&mut self) {
        for case in 0..2 {
            let Some(p) = self.pick(|_| true) else {
                continue;
            };
            let r = self.main_pis(p);
            let j = self.copy_pis(r);
            let md = self.day(self.start, self.asof - Duration::days(40));
            self.pis[j].mt = self.at_work(md);
            if case == 0 {
                let y = &self.pis[j].csrq[..4];
                self.pis[j].csrq = format!("{y}-02-30");
            } else {
                self.pis[j].pid = None;
            }
            self.pis[j].malformed = true;
            self.pis[j].nomutate = true;
            self.mal[PIS] += 1;
        }
    }
}

/// An ID with one digit mistyped (or, for every third case, one digit missing):
/// never a valid ID, since the check catches any single wrong digit.
fn mistype(id: &str, i: usize) -> String {
    if i % 3 == 2 {
        return format!("{}{}", &id[..10], &id[11..]);
    }
    let mut b: Vec<u8> = id.as_bytes().to_vec();
    let pos = 14 + (i % 3);
    b[pos] = if b[pos] == b'9' { b'0' } else { b[pos] + 1 };
    String::from_utf8(b).unwrap_or_default()
}
