//! One injection per ticket kind of tickets.md, each writing down the ticket it
//! requires, and the `INVALID_ID` / `RESIDENT_MISSING` rule applied once all are in.

use chrono::{Datelike, Duration};
use rand::Rng;
use serde_json::json;

use crate::sim::world::{fmt_date, norm_name, Builder, InvRec, RmCand};
use crate::sim::{ids, names};

impl Builder {
    pub(super) fn inj_birth_not_in_pis(&mut self, i: usize) {
        let Some((d, mother, child)) = self.overdue_newborn(75, None) else {
            return;
        };
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

    pub(super) fn inj_birth_not_registered(&mut self) {
        let Some((d, mother, child)) = self.overdue_newborn(90, None) else {
            return;
        };
        let cert = self.birth_cert(child, mother, false);
        // the township did record the child, by its mother and certificate
        let mt = self.work_after(d, 10, 40);
        self.child_pis(child, mother, mt, false, Some(&cert));
        let t = self.township_of(self.persons[mother].vill);
        self.ticket("BIRTH_NOT_REGISTERED", t, &[("birth_cert_no", json!(cert))]);
    }

    pub(super) fn inj_death_not_recorded(&mut self, i: usize) {
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

    pub(super) fn inj_move_out(&mut self) {
        let m = self.overdue_day(45);
        let Some(p) = self.pick(|_| true) else { return };
        self.qc_row(p, m);
        let t = self.pis_township(self.main_pis(p));
        let subj = self.id_subject(p);
        self.ticket("MOVE_OUT_NOT_RECORDED", t, &subj);
    }

    pub(super) fn inj_move_in(&mut self, i: usize) {
        let m = self.overdue_day(45);
        if i.is_multiple_of(2) {
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

    pub(super) fn inj_residence(&mut self) {
        let Some(p) = self.pick(|_| true) else { return };
        let r = self.main_pis(p);
        let v = self.vill_elsewhere(self.pis[r].vill);
        self.pis[r].vill = v;
        let t = self.township_of(v);
        let subj = self.id_subject(p);
        self.ticket("RESIDENCE_MISMATCH", t, &subj);
    }

    pub(super) fn inj_resident_missing(&mut self, i: usize) {
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
        self.rm.push(RmCand {
            id,
            township: t,
            key,
            ticket: Some(k),
        });
    }

    pub(super) fn inj_phantom(&mut self, i: usize) {
        let (id, name, sex, birth) = self.fresh_identity();
        if i.is_multiple_of(2) {
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
        self.inv.push(InvRec {
            ticket: k,
            township: t,
            key,
        });
    }

    pub(super) fn inj_invalid_id(&mut self, i: usize) {
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
                self.rm.push(RmCand {
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

    pub(super) fn inj_identity(&mut self, i: usize) {
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

    pub(super) fn inj_duplicate(&mut self, i: usize) {
        match i % 3 {
            0 | 1 => {
                let Some(p) = self.pick(|_| true) else { return };
                let r = self.main_pis(p);
                let j = self.copy_pis(r);
                let v = if i.is_multiple_of(3) {
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
                let Some((d, mother, child)) = self.overdue_newborn(75, None) else {
                    return;
                };
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

    pub(super) fn inj_marital(&mut self, i: usize) {
        let divorced = i % 2 == 1;
        let r1 = self.overdue_day(if divorced { 400 } else { 45 });
        let Some(man) = self.pick_single(1, r1) else {
            return;
        };
        let Some(woman) = self.pick_single(2, r1) else {
            return;
        };
        // one party's record follows the register, the stale party's lags a step behind
        let (ok_hyzk, stale_hyzk) = if divorced {
            let r2 = r1 + self.days(30, 300);
            self.marriage_row("结婚", r1, man, woman);
            self.marriage_row("离婚", r2, man, woman);
            ("40", "20")
        } else {
            self.marriage_row("结婚", r1, man, woman);
            ("21", "10")
        };
        let (stale, ok) = if self.chance(0.5) {
            (man, woman)
        } else {
            (woman, man)
        };
        let ro = self.main_pis(ok);
        self.pis[ro].hyzk = ok_hyzk;
        let rs = self.main_pis(stale);
        self.pis[rs].hyzk = stale_hyzk;
        let t = self.pis_township(rs);
        let subj = self.id_subject(stale);
        self.ticket("MARITAL_STATUS_MISMATCH", t, &subj);
    }

    /// Applies the `INVALID_ID` / `RESIDENT_MISSING` rule: a resident matched by an
    /// invalid record in their township gets no RESIDENT_MISSING ticket, and when
    /// exactly one resident matches, the INVALID_ID ticket suggests their ID.
    pub(crate) fn settle_invalid_ids(&mut self) {
        let mut sugg = Vec::new();
        for inv in &self.inv {
            let m: Vec<&RmCand> = self
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
