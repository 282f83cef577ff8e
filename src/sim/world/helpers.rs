//! The builder's shared steps: random days and office hours, IDs and numbers unique
//! in the world, villages, picking a free person, when the `pis` register reflects
//! an event, and the plain records (a `psb` row, a `pis` record, an expected ticket)
//! that the base events and the injections are made of.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use rand::Rng;
use serde_json::{Map, Value};

use crate::sim::{ids, names, ExpectedTicket};

use super::builder::{age_at, fmt_date, fmt_ymd, Builder, Ev, Person, Pis};

impl Builder {
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    /// A uniform day in `lo..=hi` (or `lo` when the range is empty).
    pub fn day(&mut self, lo: NaiveDate, hi: NaiveDate) -> NaiveDate {
        let n = (hi - lo).num_days();
        if n <= 0 {
            return lo;
        }
        lo + Duration::days(self.rng.random_range(0..=n))
    }

    /// A time in office hours (08:00–17:59) of day `d`.
    pub fn at_work(&mut self, d: NaiveDate) -> NaiveDateTime {
        let s = self.rng.random_range(8 * 3600..18 * 3600);
        d.and_time(NaiveTime::from_num_seconds_from_midnight_opt(s, 0).unwrap_or_default())
    }

    /// A time in office hours `lo..=hi` days after `d`.
    pub fn work_after(&mut self, d: NaiveDate, lo: i64, hi: i64) -> NaiveDateTime {
        let d = d + self.days(lo, hi);
        self.at_work(d)
    }

    pub fn days(&mut self, lo: i64, hi: i64) -> Duration {
        Duration::days(self.rng.random_range(lo..=hi))
    }

    /// A new ID, unique in the world.
    pub fn new_id(&mut self, addr: &str, birth: NaiveDate, sex: u8) -> String {
        loop {
            let mut seq = self.rng.random_range(0..500u32) * 2;
            if sex == 1 {
                seq += 1;
            }
            let id = ids::make_id(addr, birth, seq);
            let key: u64 = id[..17].parse().unwrap_or(0);
            if self.ids.insert(key) {
                return id;
            }
        }
    }

    pub(crate) fn new_pid(&mut self) -> String {
        loop {
            let n = self.rng.random_range(0..10_000_000_000u64);
            if self.pids.insert(n) {
                return format!("RK{n:010}");
            }
        }
    }

    /// A certificate number: a letter and 9 digits, unique.
    pub fn new_cert(&mut self, letter: char) -> String {
        loop {
            let n = self.rng.random_range(0..1_000_000_000u64);
            if self.nums.insert(n) {
                return format!("{letter}{n:09}");
            }
        }
    }

    /// The next number of a per-key counter (registration numbers).
    pub fn next_seq(&mut self, key: String) -> u32 {
        let e = self.seqs.entry(key).or_insert(0);
        *e += 1;
        *e
    }

    pub fn township_of(&self, v: usize) -> String {
        self.vills[v].0[..9].to_string()
    }

    pub fn random_vill(&mut self) -> usize {
        self.rng.random_range(0..self.vills.len())
    }

    /// A village in a township other than that of village `v`.
    pub fn vill_elsewhere(&mut self, v: usize) -> usize {
        loop {
            let w = self.random_vill();
            if self.vills[w].1 != self.vills[v].1 {
                return w;
            }
        }
    }

    /// A village in the same township as `v`, other than `v` when there is one.
    pub fn vill_same_township(&mut self, v: usize) -> usize {
        let t = self.vills[v].1;
        let cands: Vec<usize> = (0..self.vills.len())
            .filter(|&w| self.vills[w].1 == t && w != v)
            .collect();
        if cands.is_empty() {
            v
        } else {
            cands[self.rng.random_range(0..cands.len())]
        }
    }

    pub fn address(&self, v: usize) -> String {
        let t = &self.tw[self.vills[v].1];
        let vn = t
            .villages
            .iter()
            .find(|(c, _)| *c == self.vills[v].0)
            .map(|(_, n)| n.as_str())
            .unwrap_or("");
        format!("{}{}{}{}", names::PROVINCE, names::CITY, t.name, vn)
    }

    pub fn other_county(&mut self) -> &'static str {
        names::OTHER_COUNTIES[self.rng.random_range(0..names::OTHER_COUNTIES.len())]
    }

    pub fn other_residence(&mut self) -> String {
        let c = self.other_county();
        format!(
            "{c}{:03}{:03}",
            self.rng.random_range(1..6),
            self.rng.random_range(1..9)
        )
    }

    pub fn new_hh(&mut self) -> u32 {
        self.hh_seq += 1;
        self.hh_seq
    }

    /// A free person of the initial snapshot for whom `ok` holds; marks them busy.
    pub fn pick(&mut self, ok: impl Fn(&Person) -> bool) -> Option<usize> {
        let n = self.persons.len();
        if n == 0 {
            return None;
        }
        let good = |p: &Person| p.initial && !p.busy && p.pis.is_some() && ok(p);
        for _ in 0..300 {
            let i = self.rng.random_range(0..n);
            if good(&self.persons[i]) {
                self.persons[i].busy = true;
                return Some(i);
            }
        }
        let s = self.rng.random_range(0..n);
        let i = (0..n)
            .map(|k| (s + k) % n)
            .find(|&i| good(&self.persons[i]))?;
        self.persons[i].busy = true;
        Some(i)
    }

    pub fn age(&self, p: usize, d: NaiveDate) -> i32 {
        age_at(self.persons[p].birth, d)
    }

    /// The `pis` modification time of a report of an event: `delay` days after
    /// `reference` when that is before the as-of date, and always (the day before
    /// the as-of date at the latest) once the event dated `overdue` is overdue.
    pub fn reflect(
        &mut self,
        reference: NaiveDate,
        overdue: NaiveDate,
        lo: i64,
        hi: i64,
    ) -> Option<NaiveDateTime> {
        let t = reference + self.days(lo, hi);
        let last = self.asof - Duration::days(1);
        if t <= last {
            Some(self.at_work(t))
        } else if overdue <= self.d30 {
            Some(self.at_work(last))
        } else {
            None
        }
    }

    pub fn ticket(&mut self, kind: &str, township: String, subject: &[(&str, Value)]) -> usize {
        let mut m = Map::new();
        for (k, v) in subject {
            m.insert((*k).to_string(), v.clone());
        }
        self.expected.push(ExpectedTicket {
            kind: kind.to_string(),
            township,
            subject: m,
            suggestion: None,
        });
        self.expected.len() - 1
    }

    /// A psb row for person `p` as currently known.
    pub fn ev(&mut self, p: usize, ywlx: &'static str, ywrq: NaiveDate, vill: usize) -> Ev {
        let mut djsj = self.at_work(ywrq);
        if self.chance(0.04) {
            // recorded some days after the event
            djsj += self.days(1, 6);
        }
        let per = &self.persons[p];
        Ev {
            ywlx,
            gmsfhm: per.id.clone(),
            xm: per.name.clone(),
            xb: per.sex.to_string(),
            csrq: fmt_ymd(per.birth),
            mz: per.mz,
            hh: format!("{}{:06}", self.o.county, per.hh),
            yhzgx: per.yhzgx,
            xzqh: self.vills[vill].0.clone(),
            qyd: None,
            qwd: None,
            fq: None,
            mq: None,
            csyx: None,
            swrq: None,
            ywrq,
            djsj,
            malformed: false,
        }
    }

    /// Adds a `pis` record for person `p` in village `vill` (typed variants of ID and
    /// name when injecting look-alikes); returns its index.
    pub fn add_pis(
        &mut self,
        p: usize,
        vill: usize,
        mt: NaiveDateTime,
        hyzk: &'static str,
    ) -> usize {
        let per = &self.persons[p];
        let (id, sex, birth) = (per.id.clone(), per.sex, per.birth);
        let name = per.csh_name.clone().unwrap_or_else(|| per.name.clone());
        let (sfzh, xm) = if self.o.inject {
            (self.typed_id(&id), self.typed_name(&name))
        } else {
            (id, name)
        };
        self.push_pis(Pis::active(sfzh, xm, sex, fmt_date(birth), vill, hyzk, mt))
    }

    /// A plain copy of record `i` under a new personId (for duplicates).
    pub fn copy_pis(&mut self, i: usize) -> usize {
        let c = Pis {
            nomutate: false,
            skip: false,
            malformed: false,
            ..self.pis[i].clone()
        };
        self.push_pis(c)
    }

    /// Adds record `r` under a new personId, unique in the world; returns its index.
    pub(crate) fn push_pis(&mut self, r: Pis) -> usize {
        let pid = self.new_pid();
        self.pis.push(Pis {
            pid: Some(pid),
            ..r
        });
        self.pis.len() - 1
    }

    /// The ID as a township clerk might have typed it.
    pub(super) fn typed_id(&mut self, id: &str) -> String {
        let r: f64 = self.rng.random();
        if r < 0.05 && id[6..8] == *"19" {
            ids::to15(id)
        } else if r < 0.08 && id.ends_with('X') {
            id.to_lowercase()
        } else if r < 0.10 {
            ids::to_fullwidth(id)
        } else if r < 0.12 {
            match self.rng.random_range(0..3) {
                0 => format!(" {id}"),
                1 => format!("{id} "),
                _ => format!("\u{3000}{id}"),
            }
        } else {
            id.to_string()
        }
    }

    fn typed_name(&mut self, name: &str) -> String {
        let r: f64 = self.rng.random();
        if name.contains('·') {
            if r < 0.4 {
                let v = ['.', '•', '・', '‧', '．', '∙'][self.rng.random_range(0..6)];
                return name.replace('·', &v.to_string());
            }
            return name.to_string();
        }
        if r < 0.02 {
            format!(" {name} ")
        } else if r < 0.04 && name.chars().count() == 3 {
            let mut c = name.chars();
            let first = c.next().unwrap_or(' ');
            format!("{first} {}", c.as_str())
        } else if r < 0.05 {
            format!("{name}\u{3000}")
        } else {
            name.to_string()
        }
    }
}
