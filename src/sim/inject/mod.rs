//! What `inject: true` adds to the quiet base world: every ticket kind of
//! tickets.md (with the expected ticket written down as it is injected), benign
//! look-alikes that must raise nothing, and malformed records per feed.
//!
//! Every case uses people no other event touches (`Builder::pick` marks them busy),
//! and every overdue date keeps a margin of two weeks from the grace limits, so the
//! expected tickets follow from the injected fact alone.
//!
//! This file holds the entry point and what the cases share; the cases live beside
//! it: `kinds` (one injection per ticket kind, and the `INVALID_ID` rule that
//! settles them), `lookalikes` (benign cases), `malformed` (records a client must
//! quarantine).

mod kinds;
mod lookalikes;
mod malformed;

use chrono::{Duration, NaiveDate};
use rand::Rng;
use serde_json::{json, Value};

use super::names;
use super::world::{Builder, Pis};

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
        self.push_pis(Pis::active(sfzh, xm, xb, csrq, vill, "90", mt))
    }

    /// A child born on an overdue day (see `overdue_day`) to a free mother, of sex
    /// `sex`, or of a random one when `None`: (birth day, mother, child). `None`
    /// when no mother is free.
    fn overdue_newborn(
        &mut self,
        margin: i64,
        sex: Option<u8>,
    ) -> Option<(NaiveDate, usize, usize)> {
        let d = self.overdue_day(margin);
        let mother = self.pick_mother(d)?;
        let sex = sex.unwrap_or_else(|| self.rng.random_range(1..=2u8));
        let child = self.new_child(mother, d, sex);
        Some((d, mother, child))
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
}
