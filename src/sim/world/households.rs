//! The starting register: households of one to six people (a head, a spouse,
//! children, a parent), each member on the `CSH` snapshot with a `pis` record.

use chrono::{Duration, NaiveDate};
use rand::Rng;

use crate::sim::names;

use super::builder::{Builder, Person};

impl Builder {
    /// A new person of the starting register, with an ID issued in county `addr`
    /// (see [`Builder::add_person`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new_person(
        &mut self,
        addr: &str,
        name: String,
        sex: u8,
        birth: NaiveDate,
        hh: u32,
        yhzgx: &'static str,
        vill: usize,
        mz: &'static str,
    ) -> usize {
        let id = self.new_id(addr, birth, sex);
        self.add_person(id, name, sex, birth, hh, yhzgx, vill, mz)
    }

    /// Adds person `id` living in village `vill`, household `hh`: on the `CSH`
    /// snapshot, free for any event, with no spouse and on no record until told
    /// otherwise; returns their index.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_person(
        &mut self,
        id: String,
        name: String,
        sex: u8,
        birth: NaiveDate,
        hh: u32,
        yhzgx: &'static str,
        vill: usize,
        mz: &'static str,
    ) -> usize {
        self.persons.push(Person {
            id,
            name,
            csh_name: None,
            sex,
            birth,
            mz,
            hh,
            yhzgx,
            vill0: vill,
            vill,
            busy: false,
            initial: true,
            spouse: None,
            pis: None,
        });
        self.persons.len() - 1
    }

    fn birth_for_age(&mut self, age: i64) -> NaiveDate {
        let lo = self.start - Duration::days(age * 365 + 364);
        let hi = self.start - Duration::days(age * 365 + 1);
        self.day(lo, hi)
    }

    /// The initial snapshot: households of one to six people, and their `pis` records.
    pub(super) fn population(&mut self) {
        let n = self.o.persons;
        let county = self.o.county.clone();
        while self.persons.len() < n {
            let hh = self.new_hh();
            let vill = self.random_vill();
            let addr: String = if self.chance(0.9) {
                county.clone()
            } else {
                self.other_county().to_string()
            };
            let minority = self.chance(0.01);
            let mz = if minority {
                "05"
            } else if self.chance(0.02) {
                "03"
            } else {
                "01"
            };
            let head_sex = if self.chance(0.7) { 1 } else { 2 };
            let head_age = self.rng.random_range(24..85);
            let sur = names::surname(&mut self.rng);
            let hname = if minority {
                names::minority_name(&mut self.rng, head_sex)
            } else {
                names::full_name(&mut self.rng, sur, head_sex)
            };
            let hb = self.birth_for_age(head_age);
            let head = self.new_person(&addr, hname, head_sex, hb, hh, "02", vill, mz);
            let mut members = vec![head];
            if self.chance(0.75) && self.persons.len() < n {
                let s = 3 - head_sex;
                let a = (head_age + self.rng.random_range(-5..6)).clamp(20, 95);
                let sname = if minority {
                    names::minority_name(&mut self.rng, s)
                } else {
                    let ss = names::surname(&mut self.rng);
                    names::full_name(&mut self.rng, ss, s)
                };
                let sb = self.birth_for_age(a);
                let sp = self.new_person(&addr, sname, s, sb, hh, "10", vill, mz);
                self.persons[sp].spouse = Some(head);
                self.persons[head].spouse = Some(sp);
                members.push(sp);
                let kids = self.rng.random_range(0..4);
                for _ in 0..kids {
                    if self.persons.len() >= n || head_age < 21 {
                        break;
                    }
                    let ka = self.rng.random_range(0..(head_age - 19).min(26));
                    let ks = self.rng.random_range(1..=2u8);
                    let kname = if minority {
                        names::minority_name(&mut self.rng, ks)
                    } else {
                        names::full_name(&mut self.rng, sur, ks)
                    };
                    let kb = self.birth_for_age(ka);
                    let rel = if ks == 1 { "20" } else { "30" };
                    let k = self.new_person(&addr, kname, ks, kb, hh, rel, vill, mz);
                    members.push(k);
                }
            }
            if self.chance(0.08) && self.persons.len() < n && head_age < 65 {
                let a = head_age + self.rng.random_range(24..30);
                let s = self.rng.random_range(1..=2u8);
                let pname = if s == 1 {
                    names::full_name(&mut self.rng, sur, 1)
                } else {
                    let ss = names::surname(&mut self.rng);
                    names::full_name(&mut self.rng, ss, 2)
                };
                let pb = self.birth_for_age(a);
                members.push(self.new_person(&addr, pname, s, pb, hh, "50", vill, mz));
            }
            for m in members {
                let hyzk = if self.persons[m].spouse.is_some() {
                    ["20", "21", "22"][self.rng.random_range(0..3)]
                } else if self.age(m, self.start) >= 22 {
                    ["10", "90", "40", "30"][self.rng.random_range(0..4)]
                } else {
                    "10"
                };
                let lo = NaiveDate::from_ymd_opt(2005, 1, 1).unwrap_or(self.start);
                let d = self.day(lo.min(self.start), self.start - Duration::days(1));
                let mt = self.at_work(d);
                // Drawn all the same, so that a block changes no other byte of the world.
                let mt = if self.pis.len() < self.o.pis_block {
                    let migration = lo.min(self.start) + (self.start - lo.min(self.start)) / 2;
                    migration.and_hms_opt(23, 0, 0).unwrap_or(mt)
                } else {
                    mt
                };
                let i = self.add_pis(m, vill, mt, hyzk);
                self.persons[m].pis = Some(i);
            }
        }
    }
}
