//! Benign look-alikes that must raise no ticket: twins, two people with one name and
//! birth day, voided and replaced certificates, records of non-residents.

use chrono::{Datelike, Duration, NaiveDate};
use rand::Rng;

use crate::sim::names;
use crate::sim::world::{fmt_rfc, fmt_slash, letter_for, Builder};

impl Builder {
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
        let q = self.add_person(id, name, sex, birth, hh, "02", vill, mz);
        self.persons[q].busy = true;
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
        let Some((d, mother, child)) = self.overdue_newborn(75, None) else {
            return;
        };
        let bad = self.birth_cert(child, mother, false);
        self.void_birth(&bad, 3);
        let good = self.birth_cert(child, mother, false);
        let ywrq = d + self.days(5, 20);
        self.cs_row(child, mother, ywrq, Some(&good));
        let mt = self.work_after(ywrq, 1, 15);
        self.child_pis(child, mother, mt, true, None);
    }

    fn birth_cert_void_standalone(&mut self) {
        let Some((_, mother, child)) = self.overdue_newborn(90, Some(1)) else {
            return;
        };
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
    pub(super) fn outsider(&mut self, sex: u8) -> usize {
        let hh = self.new_hh();
        let origin = self.other_county();
        let lo = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or(self.start);
        let hi = NaiveDate::from_ymd_opt(1992, 12, 31).unwrap_or(self.start);
        let birth = self.day(lo, hi);
        let id = self.new_id(origin, birth, sex);
        let sur = names::surname(&mut self.rng);
        let name = names::full_name(&mut self.rng, sur, sex);
        let vill = self.random_vill();
        let p = self.add_person(id, name, sex, birth, hh, "02", vill, "01");
        self.persons[p].initial = false;
        self.persons[p].busy = true;
        p
    }

    fn nonresident_records(&mut self) {
        // a birth in a city hospital to a mother living elsewhere
        let d = self.overdue_day(90);
        let mother = self.outsider(2);
        let child = self.new_child(mother, d, 2);
        let no = self.new_cert(letter_for(d.year()));
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
}
