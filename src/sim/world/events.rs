//! The base events of the quiet world (births, deaths, moves out, in and within the
//! county, name corrections, marriages), each with the records every department
//! keeps of it; the injections reuse the same record builders.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use rand::Rng;

use crate::sim::names;
use crate::sim::wire::{BirthWire, DeathWire};

use super::builder::{age_at, fmt_date, fmt_rfc, fmt_slash, fmt_ymd, Builder};

impl Builder {
    /// The base events, kind after kind: each kind at its yearly rate per person
    /// over the feeds' whole span, each event on a uniform day after the snapshot.
    pub(super) fn base_events(&mut self) {
        let n = self.o.persons as f64;
        let years = (self.end - self.start).num_days() as f64 / 365.25;
        type Event = fn(&mut Builder, NaiveDate);
        let kinds: [(f64, Event); 7] = [
            (0.009, Builder::base_birth),
            (0.007, Builder::base_death),
            (0.007, Builder::base_move_out),
            (0.005, Builder::base_move_in),
            (0.003, Builder::base_move_within),
            (0.001, Builder::base_correction),
            (0.004, Builder::base_marriage),
        ];
        for (rate, event) in kinds {
            for _ in 0..(n * rate * years).round() as usize {
                let d = self.day(self.start + Duration::days(1), self.end);
                event(self, d);
            }
        }
    }

    /// A free woman of child-bearing age on day `d`.
    pub fn pick_mother(&mut self, d: NaiveDate) -> Option<usize> {
        self.pick(|p| p.sex == 2 && (20..=40).contains(&age_at(p.birth, d)))
    }

    /// A newborn of `mother` on day `d`, living with her.
    pub fn new_child(&mut self, mother: usize, d: NaiveDate, sex: u8) -> usize {
        let m = &self.persons[mother];
        let (vill, hh, mz) = (m.vill, m.hh, m.mz);
        let father = m.spouse.filter(|&f| self.persons[f].sex == 1);
        let sur: String = match father {
            Some(f) => self.persons[f]
                .name
                .chars()
                .next()
                .map(String::from)
                .unwrap_or_default(),
            None => m.name.chars().next().map(String::from).unwrap_or_default(),
        };
        let name = if sur.is_empty() || m.name.contains('·') {
            names::minority_name(&mut self.rng, sex)
        } else {
            names::full_name(&mut self.rng, &sur, sex)
        };
        let county = self.o.county.clone();
        let yhzgx = if sex == 1 { "20" } else { "30" };
        let c = self.new_person(&county, name, sex, d, hh, yhzgx, vill, mz);
        self.persons[c].busy = true;
        self.persons[c].initial = false;
        c
    }

    /// Birth certificate versions of `child`: version 1 on the birth day, and when
    /// `name_later`, version 2 with the child's name filled in weeks later.
    pub fn birth_cert(&mut self, child: usize, mother: usize, name_later: bool) -> String {
        let c = &self.persons[child];
        let d = c.birth;
        let no = self.new_cert(letter_for(d.year()));
        let t1 = self.at_work(d) + Duration::hours(self.rng.random_range(0..6));
        let w = self.birth_wire(child, mother, &no, !name_later, t1);
        if t1.date() > self.end {
            return no;
        }
        self.births.push((t1, w.clone()));
        if name_later {
            let t2 = self.work_after(d, 10, 90);
            if t2.date() <= self.end {
                let mut w2 = w;
                w2.version = 2;
                w2.child_name = Some(self.persons[child].name.clone());
                w2.updated_at = fmt_rfc(t2);
                self.births.push((t2, w2));
            }
        }
        no
    }

    /// Version 1 of a birth certificate, filed at `at`: its `updatedAt`, and the time
    /// the feed orders it by, so the two always agree (the spec orders items by
    /// `updatedAt`, and a client resuming from it skips an item served out of order).
    pub fn birth_wire(
        &mut self,
        child: usize,
        mother: usize,
        no: &str,
        named: bool,
        at: NaiveDateTime,
    ) -> BirthWire {
        let facility = names::FACILITIES[self.rng.random_range(0..names::FACILITIES.len())];
        let c = &self.persons[child];
        let m = &self.persons[mother];
        let father = m.spouse.filter(|&f| self.persons[f].sex == 1);
        BirthWire {
            certificate_no: Some(no.to_string()),
            version: 1,
            status: "VALID".into(),
            child_name: if named { Some(c.name.clone()) } else { None },
            child_sex: if c.sex == 1 { "M".into() } else { "F".into() },
            birth_date: fmt_date(c.birth),
            mother_name: m.name.clone(),
            mother_id_no: m.id.clone(),
            father_name: father.map(|f| self.persons[f].name.clone()),
            father_id_no: father.map(|f| self.persons[f].id.clone()),
            facility: facility.into(),
            residence_code: self.vills[m.vill].0.clone(),
            updated_at: fmt_rfc(at),
        }
    }

    /// The `CS` row registering `child` on `ywrq`.
    pub fn cs_row(&mut self, child: usize, mother: usize, ywrq: NaiveDate, cert: Option<&str>) {
        let vill = self.persons[child].vill;
        let mut e = self.ev(child, "CS", ywrq, vill);
        let m = &self.persons[mother];
        e.mq = Some(m.id.clone());
        e.fq = Some(
            m.spouse
                .filter(|&f| self.persons[f].sex == 1)
                .map(|f| self.persons[f].id.clone())
                .unwrap_or_default(),
        );
        e.csyx = cert.map(String::from);
        self.evs.push(e);
    }

    /// A `pis` record for a child: with the child's ID, or without `sfzh` but with the
    /// mother's ID (and the certificate number when `cert` is given).
    pub fn child_pis(
        &mut self,
        child: usize,
        mother: usize,
        mt: NaiveDateTime,
        with_sfzh: bool,
        cert: Option<&str>,
    ) -> usize {
        let vill = self.persons[child].vill;
        let i = self.add_pis(child, vill, mt, "10");
        if !with_sfzh {
            self.pis[i].sfzh = String::new();
        }
        let mid = self.persons[mother].id.clone();
        if !with_sfzh || self.chance(0.3) {
            self.pis[i].mq = if self.o.inject {
                self.typed_id(&mid)
            } else {
                mid
            };
        }
        if let Some(c) = cert {
            self.pis[i].csyx = c.to_string();
        }
        self.persons[child].pis = Some(i);
        i
    }

    fn base_birth(&mut self, d: NaiveDate) {
        let Some(mother) = self.pick_mother(d) else {
            return;
        };
        let sex = self.rng.random_range(1..=2u8);
        let child = self.new_child(mother, d, sex);
        let cert = if self.chance(0.9) {
            let later = self.chance(0.6);
            Some(self.birth_cert(child, mother, later))
        } else {
            None
        };
        let ywrq = d + self.days(3, 25);
        let registered = ywrq <= self.end;
        if registered {
            let link = cert.clone().filter(|_| self.chance(0.85));
            self.cs_row(child, mother, ywrq, link.as_deref());
        }
        let with_sfzh = registered && self.chance(0.8);
        let reference = if with_sfzh { ywrq } else { d };
        if let Some(mt) = self.reflect(reference, d, 1, 20) {
            let c = cert.clone().filter(|_| self.chance(0.5));
            self.child_pis(child, mother, mt, with_sfzh, c.as_deref());
        }
    }

    /// Death evidence of person `p` who died on `dd`: any non-empty subset of a `SW`
    /// row, a cremation and a death certificate (version 1 without `idNo` when
    /// `id_later`). Returns the earliest date of evidence naming the ID.
    pub fn death_records(
        &mut self,
        p: usize,
        dd: NaiveDate,
        sw: bool,
        crem: bool,
        cert: bool,
        id_later: bool,
    ) -> Option<NaiveDate> {
        let mut first: Option<NaiveDate> = None;
        let mut note = |d: NaiveDate| first = Some(first.map_or(d, |f: NaiveDate| f.min(d)));
        let vill = self.persons[p].vill;
        if cert {
            let no = self.new_cert('D');
            let t1 = self.at_work(dd);
            let per = &self.persons[p];
            let w = DeathWire {
                certificate_no: Some(no),
                version: 1,
                status: "VALID".into(),
                name: per.name.clone(),
                id_no: if id_later { None } else { Some(per.id.clone()) },
                sex: if per.sex == 1 { "M".into() } else { "F".into() },
                death_date: fmt_date(dd),
                residence_code: self.vills[vill].0.clone(),
                updated_at: fmt_rfc(t1),
            };
            if t1.date() <= self.end {
                if !id_later {
                    note(dd);
                }
                self.deaths.push((t1, w.clone()));
                if id_later {
                    let t2 = self.work_after(dd, 2, 10);
                    if t2.date() <= self.end {
                        let mut w2 = w;
                        w2.version = 2;
                        w2.id_no = Some(self.persons[p].id.clone());
                        w2.updated_at = fmt_rfc(t2);
                        self.deaths.push((t2, w2));
                        note(t2.date());
                    }
                }
            }
        }
        if crem {
            let cd = dd + self.days(1, 4);
            if cd <= self.end {
                let no = format!(
                    "HH{}-{:05}",
                    cd.year(),
                    self.next_seq(format!("HH{}", cd.year()))
                );
                let per = &self.persons[p];
                let fields = vec![
                    no,
                    per.name.clone(),
                    if per.sex == 1 {
                        "男".into()
                    } else {
                        "女".into()
                    },
                    per.id.clone(),
                    fmt_slash(dd),
                    fmt_slash(cd),
                    self.address(vill),
                    names::FUNERAL_HOME.into(),
                ];
                self.crem.push((cd, fields));
                note(cd);
            }
        }
        if sw {
            let ywrq = dd + self.days(1, 20);
            if ywrq <= self.end {
                let mut e = self.ev(p, "SW", ywrq, vill);
                e.swrq = Some(fmt_ymd(dd));
                self.evs.push(e);
                note(ywrq);
            }
        }
        first
    }

    fn base_death(&mut self, dd: NaiveDate) {
        let Some(p) = self.pick(|p| age_at(p.birth, dd) >= 55 || p.yhzgx == "50") else {
            return;
        };
        let (sw, crem, cert) = (self.chance(0.85), self.chance(0.6), self.chance(0.5));
        let sw = sw || !(crem || cert);
        let id_later = cert && sw && self.chance(0.15);
        let first = self.death_records(p, dd, sw, crem, cert, id_later);
        if let Some(f) = first {
            if let Some(mt) = self.reflect(f, dd, 1, 10) {
                self.close_pis(p, 3, mt);
            }
        }
    }

    /// Sets the person's main record to `zt` at `mt`.
    pub fn close_pis(&mut self, p: usize, zt: u8, mt: NaiveDateTime) {
        if let Some(i) = self.persons[p].pis {
            self.pis[i].zt = zt;
            self.pis[i].mt = mt;
        }
    }

    pub fn qc_row(&mut self, p: usize, m: NaiveDate) {
        let vill = self.persons[p].vill;
        let mut e = self.ev(p, "QC", m, vill);
        e.qwd = Some(self.other_county().to_string());
        self.evs.push(e);
    }

    fn base_move_out(&mut self, m: NaiveDate) {
        let Some(p) = self.pick(|_| true) else { return };
        self.qc_row(p, m);
        if let Some(mt) = self.reflect(m, m, 3, 25) {
            self.close_pis(p, 2, mt);
        }
    }

    /// A person arriving from another county on day `m` into village `vill` (QR row).
    pub fn newcomer(&mut self, m: NaiveDate, vill: usize, hh: u32, head: bool) -> usize {
        let origin = self.other_county();
        let sex = self.rng.random_range(1..=2u8);
        let age = self.rng.random_range(18..60);
        let birth = {
            let lo = m - Duration::days(age * 365 + 364);
            let hi = m - Duration::days(age * 365 + 1);
            self.day(lo, hi)
        };
        let sur = names::surname(&mut self.rng);
        let name = names::full_name(&mut self.rng, sur, sex);
        let p = self.new_person(
            origin,
            name,
            sex,
            birth,
            hh,
            if head { "02" } else { "10" },
            vill,
            "01",
        );
        self.persons[p].initial = false;
        self.persons[p].busy = true;
        let mut e = self.ev(p, "QR", m, vill);
        e.qyd = Some(origin.to_string());
        self.evs.push(e);
        p
    }

    fn base_move_in(&mut self, m: NaiveDate) {
        let vill = self.random_vill();
        let hh = self.new_hh();
        let k = self.rng.random_range(1..=2);
        for j in 0..k {
            let p = self.newcomer(m, vill, hh, j == 0);
            if let Some(mt) = self.reflect(m, m, 3, 25) {
                let i = self.add_pis(p, vill, mt, if k == 2 { "20" } else { "10" });
                self.persons[p].pis = Some(i);
            }
        }
    }

    /// The `QR` row of a move of `p` into village `to` of another township.
    pub fn qr_within(&mut self, p: usize, m: NaiveDate, to: usize) {
        self.persons[p].vill = to;
        let mut e = self.ev(p, "QR", m, to);
        e.qyd = Some(self.o.county.clone());
        self.evs.push(e);
    }

    fn base_move_within(&mut self, m: NaiveDate) {
        let Some(p) = self.pick(|_| true) else { return };
        let from = self.persons[p].vill;
        let to = self.vill_elsewhere(from);
        self.qr_within(p, m, to);
        if let Some(mt) = self.reflect(m, m, 3, 25) {
            let old = self.persons[p].pis.unwrap_or(0);
            let hyzk = self.pis[old].hyzk;
            self.close_pis(p, 2, mt);
            let later = mt + Duration::minutes(self.rng.random_range(5..300));
            let i = self.add_pis(p, to, later, hyzk);
            self.persons[p].pis = Some(i);
        }
    }

    /// A `BG` row correcting the person's name (the `CSH` row carried `old`).
    pub fn bg_row(&mut self, p: usize, b: NaiveDate) {
        let sex = self.persons[p].sex;
        let old = self.persons[p].name.clone();
        if old.contains('·') {
            return;
        }
        let new = names::typo(&mut self.rng, &old, sex);
        self.persons[p].csh_name = Some(old.clone());
        self.persons[p].name = new;
        let vill = self.persons[p].vill;
        let e = self.ev(p, "BG", b, vill);
        self.evs.push(e);
        // the record keeps the name the register had until the correction is applied
        if let Some(i) = self.persons[p].pis {
            self.pis[i].xm = old;
        }
    }

    fn base_correction(&mut self, b: NaiveDate) {
        let Some(p) = self.pick(|p| !p.name.contains('·')) else {
            return;
        };
        self.bg_row(p, b);
        if let Some(mt) = self.reflect(b, b, 3, 25) {
            if let Some(i) = self.persons[p].pis {
                self.pis[i].xm = self.persons[p].name.clone();
                self.pis[i].mt = mt;
            }
        }
    }

    /// A marriage-register row.
    pub fn marriage_row(&mut self, kind: &str, day: NaiveDate, man: usize, woman: usize) {
        let prefix = match kind {
            "结婚" => "J",
            "离婚" => "L",
            "补领结婚证" => "B",
            _ => "C",
        };
        let seq = self.next_seq(format!("{prefix}{}", day.year()));
        let no = format!("{prefix}{}-{}-{seq:06}", self.o.county, day.year());
        let (m, w) = (&self.persons[man], &self.persons[woman]);
        let fields = vec![
            no,
            kind.to_string(),
            m.name.clone(),
            m.id.clone(),
            w.name.clone(),
            w.id.clone(),
            fmt_slash(day),
            names::MARRIAGE_OFFICE.to_string(),
        ];
        self.marr.push((day, fields));
    }

    /// A free single adult of sex `sex`, with `hyzk` set to unmarried.
    pub fn pick_single(&mut self, sex: u8, d: NaiveDate) -> Option<usize> {
        let p = self.pick(|p| {
            p.sex == sex && p.spouse.is_none() && (22..=50).contains(&age_at(p.birth, d))
        })?;
        if let Some(i) = self.persons[p].pis {
            self.pis[i].hyzk = "10";
        }
        Some(p)
    }

    fn base_marriage(&mut self, r1: NaiveDate) {
        let kind: f64 = self.rng.random();
        if kind < 0.15 {
            // a replacement certificate for a couple married before the feeds began
            let Some(a) = self.pick(|p| p.spouse.is_some() && p.sex == 1) else {
                return;
            };
            let Some(b) = self.persons[a].spouse else {
                return;
            };
            if self.persons[b].busy {
                return;
            }
            self.persons[b].busy = true;
            self.marriage_row("补领结婚证", r1, a, b);
            return;
        }
        let Some(man) = self.pick_single(1, r1) else {
            return;
        };
        let Some(woman) = self.pick_single(2, r1) else {
            return;
        };
        let mut events = vec![(r1, 'M')];
        self.marriage_row("结婚", r1, man, woman);
        if kind > 0.75 {
            let r2 = r1 + self.days(30, 700);
            if r2 <= self.end {
                let annul = kind > 0.93;
                self.marriage_row(if annul { "撤销婚姻" } else { "离婚" }, r2, man, woman);
                events.push((r2, if annul { 'A' } else { 'D' }));
            }
        }
        for p in [man, woman] {
            let s1 = implied(&events, self.d30);
            let s2 = implied(&events, self.asof);
            let code = |s: char| if s == 'M' { "20" } else { "40" };
            let hyzk = match (s1, s2) {
                (Some(a), Some(b)) => {
                    if self.chance(0.5) {
                        code(b)
                    } else {
                        code(a)
                    }
                }
                (Some(a), None) => code(a),
                (None, Some(b)) if self.chance(0.5) => code(b),
                // nothing to show, or an annulled marriage some registers keep as married
                _ => {
                    if events.iter().any(|e| e.1 == 'A' && e.0 <= self.asof) && self.chance(0.5) {
                        "20"
                    } else {
                        "10"
                    }
                }
            };
            if let Some(i) = self.persons[p].pis {
                self.pis[i].hyzk = hyzk;
            }
        }
    }
}

/// The certificate-number letter of a birth year (K for 2010, L for 2011, ...).
pub(crate) fn letter_for(year: i32) -> char {
    char::from_u32('K' as u32 + (year - 2010).clamp(0, 14) as u32).unwrap_or('K')
}

/// The marital status the events of one couple dated on or before `upto` imply:
/// `M` married, `D` divorced, `None` no status (no event, or only an annulled marriage).
pub(crate) fn implied(events: &[(NaiveDate, char)], upto: NaiveDate) -> Option<char> {
    let mut stack: Vec<Option<char>> = Vec::new();
    let mut s: Option<char> = None;
    for &(d, k) in events {
        if d > upto {
            continue;
        }
        match k {
            'M' => {
                stack.push(s);
                s = Some('M');
            }
            'D' => s = Some('D'),
            'A' => s = stack.pop().flatten(),
            _ => {}
        }
    }
    s
}
