//! The synthetic city: its people and their timeline, generated deterministically
//! from a seed, then frozen into the four feeds' wire bytes.
//!
//! Generation first builds structured records (`Builder`), then `finish` serialises
//! them once. The base world is "quiet": the `pis` register reflects an event only
//! once its report delay has passed, and always once the event is overdue, so it
//! raises no ticket by itself. `inject.rs` adds the discrepancies, benign look-alikes
//! and malformed records on people no base event touches, so each expected ticket
//! follows from one injected fact.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use super::ids;
use super::names;
use super::wire::{self, BirthWire, DeathWire, PisWire, PsbWire};
use super::{ExpectedTicket, FeedCount, ServedCounts};

/// What to generate.
#[derive(Clone, Debug)]
pub struct WorldOptions {
    /// Everything follows from the seed: the same options give the same bytes.
    pub seed: u64,
    /// Population on the register when the feeds begin.
    pub persons: usize,
    /// The city's 6-digit county code.
    pub county: String,
    /// The day the feeds begin (the `CSH` snapshot).
    pub start: NaiveDate,
    /// The as-of date expected tickets are computed for; data runs 14 days past it.
    pub as_of: NaiveDate,
    /// Inject discrepancies, benign look-alikes and malformed records.
    pub inject: bool,
    /// `pis` records of the starting register that a data migration stamped with one
    /// `modifiedTime`: a block many pages long, where an offset walk can skip rows.
    pub pis_block: usize,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            seed: 1,
            persons: 2000,
            county: "349901".into(),
            start: NaiveDate::from_ymd_opt(2010, 1, 1).unwrap_or_default(),
            as_of: NaiveDate::from_ymd_opt(2014, 9, 1).unwrap_or_default(),
            inject: true,
            pis_block: 0,
        }
    }
}

/// A township and its villages (12-digit code, name).
#[derive(Clone, Debug)]
pub(crate) struct Township {
    pub code: String,
    pub name: String,
    pub villages: Vec<(String, String)>,
}

/// The generated city, in wire form.
pub struct World {
    pub(crate) opts: WorldOptions,
    pub(crate) townships: Vec<Township>,
    /// `psb` rows, each followed by a comma, concatenated; `psb_off[i]` is where row i starts.
    pub(crate) psb_arena: Vec<u8>,
    pub(crate) psb_off: Vec<usize>,
    pub(crate) nhc_birth: Vec<NhcItem>,
    pub(crate) nhc_death: Vec<NhcItem>,
    /// Per day, the GBK CSV lines of that day.
    pub(crate) mca_marriage: BTreeMap<NaiveDate, Vec<u8>>,
    pub(crate) mca_cremation: BTreeMap<NaiveDate, Vec<u8>>,
    /// `pis` records ordered by (modifiedTime, personId).
    pub(crate) pis: Vec<PisEntry>,
    pub(crate) expected: Vec<ExpectedTicket>,
    pub(crate) served: ServedCounts,
}

/// One `nhc` item: its order key and bytes.
#[derive(Clone, Debug)]
pub(crate) struct NhcItem {
    /// `updatedAt` as seconds (local time taken as UTC; only the order matters).
    pub at: i64,
    pub cert: String,
    pub version: u32,
    pub bytes: Vec<u8>,
}

/// One `pis` record: its order key and bytes.
#[derive(Clone, Debug)]
pub(crate) struct PisEntry {
    pub mt: NaiveDateTime,
    pub pid: String,
    pub bytes: Vec<u8>,
    /// Whether the fault mutator may re-save it (not for DUPLICATE groups, not malformed).
    pub mutable: bool,
}

impl World {
    /// Generates the world for `opts`; deterministic in `opts`.
    pub fn generate(opts: &WorldOptions) -> World {
        let mut b = Builder::new(opts.clone());
        b.population();
        if opts.inject {
            b.inject_all();
        }
        b.base_events();
        if opts.inject {
            b.benign();
            b.malformed();
            b.settle_invalid_ids();
        }
        b.finish()
    }

    /// Tickets tickets.md requires as of `opts.as_of` (grace 30 / 60 days).
    pub fn expected_tickets(&self) -> &[ExpectedTicket] {
        &self.expected
    }

    /// Per feed, distinct records served in total and how many are malformed.
    pub fn served(&self) -> ServedCounts {
        self.served.clone()
    }

    /// The city's townships: 9-digit code and name.
    pub fn townships(&self) -> Vec<(String, String)> {
        self.townships
            .iter()
            .map(|t| (t.code.clone(), t.name.clone()))
            .collect()
    }

    /// Number of `psb` rows in the log (repeated rows included).
    pub(crate) fn psb_len(&self) -> usize {
        self.psb_off.len() - 1
    }

    /// The bytes of rows `i..j` joined by commas.
    pub(crate) fn psb_slice(&self, i: usize, j: usize) -> &[u8] {
        if j <= i {
            return b"";
        }
        &self.psb_arena[self.psb_off[i]..self.psb_off[j] - 1]
    }
}

// ------------------------------------------------------------------ builder

pub(crate) struct Person {
    pub id: String,
    pub name: String,
    /// The name the `CSH` row (and an unapplied `pis` record) carries before a `BG`.
    pub csh_name: Option<String>,
    pub sex: u8,
    pub birth: NaiveDate,
    pub mz: &'static str,
    pub hh: u32,
    pub yhzgx: &'static str,
    /// Village at the start (CSH) and now.
    pub vill0: usize,
    pub vill: usize,
    /// Touched by some event or injection: no other may use this person.
    pub busy: bool,
    /// On the initial `CSH` snapshot.
    pub initial: bool,
    pub spouse: Option<usize>,
    /// The person's main `pis` record.
    pub pis: Option<usize>,
}

pub(crate) struct Ev {
    pub ywlx: &'static str,
    pub gmsfhm: String,
    pub xm: String,
    pub xb: String,
    pub csrq: String,
    pub mz: &'static str,
    pub hh: String,
    pub yhzgx: &'static str,
    pub xzqh: String,
    pub qyd: Option<String>,
    pub qwd: Option<String>,
    pub fq: Option<String>,
    pub mq: Option<String>,
    pub csyx: Option<String>,
    pub swrq: Option<String>,
    pub ywrq: NaiveDate,
    pub djsj: NaiveDateTime,
    pub malformed: bool,
}

pub(crate) struct Pis {
    pub pid: Option<String>,
    pub sfzh: String,
    pub xm: String,
    pub xb: u8,
    pub csrq: String,
    pub vill: usize,
    pub hyzk: &'static str,
    pub mq: String,
    pub csyx: String,
    pub zt: u8,
    pub mt: NaiveDateTime,
    pub del: bool,
    pub nomutate: bool,
    pub skip: bool,
    pub malformed: bool,
}

/// A person who may be `RESIDENT_MISSING`, for the `INVALID_ID` suggestion rule.
pub(crate) struct RmCand {
    pub id: String,
    pub township: String,
    pub key: (String, String, u8),
    /// Index of the injected RESIDENT_MISSING ticket, if one was expected.
    pub ticket: Option<usize>,
}

/// An active `pis` record that gets an `INVALID_ID` ticket.
pub(crate) struct InvRec {
    pub ticket: usize,
    pub township: String,
    pub key: (String, String, u8),
}

pub(crate) struct Builder {
    pub rng: SmallRng,
    pub o: WorldOptions,
    pub start: NaiveDate,
    pub asof: NaiveDate,
    pub end: NaiveDate,
    pub d30: NaiveDate,
    pub tw: Vec<Township>,
    /// Flat list of villages: (12-digit code, township index).
    pub vills: Vec<(String, usize)>,
    pub persons: Vec<Person>,
    ids: HashSet<u64>,
    pids: HashSet<u64>,
    nums: HashSet<u64>,
    pub evs: Vec<Ev>,
    pub pis: Vec<Pis>,
    pub births: Vec<(NaiveDateTime, BirthWire)>,
    pub deaths: Vec<(NaiveDateTime, DeathWire)>,
    pub marr: Vec<(NaiveDate, Vec<String>)>,
    pub crem: Vec<(NaiveDate, Vec<String>)>,
    hh_seq: u32,
    seqs: HashMap<String, u32>,
    pub expected: Vec<ExpectedTicket>,
    /// Tickets dropped by the `INVALID_ID` rule (indices into `expected`).
    pub dropped: HashSet<usize>,
    pub mal: [u64; 4],
    pub rm: Vec<RmCand>,
    pub inv: Vec<InvRec>,
    pub psb_repeats: usize,
}

pub(crate) const PSB: usize = 0;
pub(crate) const MCA: usize = 1;
pub(crate) const NHC: usize = 2;
pub(crate) const PIS: usize = 3;

pub(crate) fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}
pub(crate) fn fmt_ymd(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}
pub(crate) fn fmt_slash(d: NaiveDate) -> String {
    format!("{}/{}/{}", d.year(), d.month(), d.day())
}
pub(crate) fn fmt_dt(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}
pub(crate) fn fmt_rfc(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+08:00").to_string()
}

/// Normalised name as tickets.md defines it.
pub(crate) fn norm_name(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{3000}')
        .map(|c| match c {
            '.' | '•' | '・' | '‧' | '．' | '∙' => '·',
            _ => c,
        })
        .collect()
}

fn age_at(birth: NaiveDate, d: NaiveDate) -> i32 {
    let mut a = d.year() - birth.year();
    if (d.month(), d.day()) < (birth.month(), birth.day()) {
        a -= 1;
    }
    a
}

impl Builder {
    fn new(o: WorldOptions) -> Builder {
        let mut rng = SmallRng::seed_from_u64(o.seed ^ 0x5157_0C17_7E11_u64);
        let mut tw = Vec::new();
        let mut vills = Vec::new();
        for (ti, (t, name)) in names::TOWNSHIPS.iter().enumerate() {
            let urban = t.starts_with('0');
            let n = rng.random_range(7..=9);
            let code = format!("{}{}", o.county, t);
            let mut vs = Vec::new();
            let mut seen = HashSet::new();
            for k in 1..=n {
                let vcode = format!("{code}{:03}", if urban { k } else { 200 + k });
                let mut vn = names::village_name(&mut rng, urban);
                while !seen.insert(vn.clone()) {
                    vn = names::village_name(&mut rng, urban);
                }
                vills.push((vcode.clone(), ti));
                vs.push((vcode, vn));
            }
            tw.push(Township {
                code,
                name: (*name).to_string(),
                villages: vs,
            });
        }
        let (start, asof) = (o.start, o.as_of);
        Builder {
            rng,
            start,
            asof,
            end: asof + Duration::days(14),
            d30: asof - Duration::days(30),
            tw,
            vills,
            persons: Vec::with_capacity(o.persons + o.persons / 5),
            ids: HashSet::new(),
            pids: HashSet::new(),
            nums: HashSet::new(),
            evs: Vec::new(),
            pis: Vec::with_capacity(o.persons + o.persons / 5),
            births: Vec::new(),
            deaths: Vec::new(),
            marr: Vec::new(),
            crem: Vec::new(),
            hh_seq: 0,
            seqs: HashMap::new(),
            expected: Vec::new(),
            dropped: HashSet::new(),
            mal: [0; 4],
            rm: Vec::new(),
            inv: Vec::new(),
            psb_repeats: 0,
            o,
        }
    }

    // -------------------------------------------------------------- helpers

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
        let pid = self.new_pid();
        self.pis.push(Pis {
            pid: Some(pid),
            sfzh,
            xm,
            xb: sex,
            csrq: fmt_date(birth),
            vill,
            hyzk,
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

    /// A plain copy of record `i` under a new personId (for duplicates).
    pub fn copy_pis(&mut self, i: usize) -> usize {
        let pid = self.new_pid();
        let r = &self.pis[i];
        let c = Pis {
            pid: Some(pid),
            sfzh: r.sfzh.clone(),
            xm: r.xm.clone(),
            xb: r.xb,
            csrq: r.csrq.clone(),
            vill: r.vill,
            hyzk: r.hyzk,
            mq: r.mq.clone(),
            csyx: r.csyx.clone(),
            zt: r.zt,
            mt: r.mt,
            del: r.del,
            nomutate: false,
            skip: false,
            malformed: false,
        };
        self.pis.push(c);
        self.pis.len() - 1
    }

    /// The ID as a township clerk might have typed it.
    fn typed_id(&mut self, id: &str) -> String {
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

    // ----------------------------------------------------------- population

    #[allow(clippy::too_many_arguments)]
    fn new_person(
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
    fn population(&mut self) {
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

    // ---------------------------------------------------------- base events

    fn base_events(&mut self) {
        let n = self.o.persons as f64;
        let years = (self.end - self.start).num_days() as f64 / 365.25;
        let count = |rate: f64| (n * rate * years).round() as usize;
        for _ in 0..count(0.009) {
            let d = self.day(self.start + Duration::days(1), self.end);
            self.base_birth(d);
        }
        for _ in 0..count(0.007) {
            let d = self.day(self.start + Duration::days(1), self.end);
            self.base_death(d);
        }
        for _ in 0..count(0.007) {
            let d = self.day(self.start + Duration::days(1), self.end);
            self.base_move_out(d);
        }
        for _ in 0..count(0.005) {
            let d = self.day(self.start + Duration::days(1), self.end);
            self.base_move_in(d);
        }
        for _ in 0..count(0.003) {
            let d = self.day(self.start + Duration::days(1), self.end);
            self.base_move_within(d);
        }
        for _ in 0..count(0.001) {
            let d = self.day(self.start + Duration::days(1), self.end);
            self.base_correction(d);
        }
        for _ in 0..count(0.004) {
            let d = self.day(self.start + Duration::days(1), self.end);
            self.base_marriage(d);
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
        let id = self.new_id(&county, d, sex);
        self.persons.push(Person {
            id,
            name,
            csh_name: None,
            sex,
            birth: d,
            mz,
            hh,
            yhzgx: if sex == 1 { "20" } else { "30" },
            vill0: vill,
            vill,
            busy: true,
            initial: false,
            spouse: None,
            pis: None,
        });
        self.persons.len() - 1
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

    // --------------------------------------------------------------- finish

    fn finish(self) -> World {
        let Builder {
            o,
            tw,
            vills,
            persons,
            mut evs,
            pis,
            mut births,
            mut deaths,
            marr,
            crem,
            expected,
            dropped,
            mal,
            psb_repeats,
            mut rng,
            start,
            ..
        } = self;
        let county = o.county.clone();

        // psb: the snapshot, then events in the order they were recorded
        evs.sort_by_key(|e| e.djsj);
        let total = persons.iter().filter(|p| p.initial).count() + evs.len();
        let mut arena = Vec::with_capacity(total * 420);
        let mut off = Vec::with_capacity(total + psb_repeats + 1);
        let mut seq: u64 = 0;
        let start_dt = fmt_dt(start.and_time(NaiveTime::MIN));
        let start_ymd = fmt_ymd(start);
        let push_row = |arena: &mut Vec<u8>, off: &mut Vec<usize>, w: &PsbWire| {
            off.push(arena.len());
            let _ = serde_json::to_writer(&mut *arena, w);
            arena.push(b',');
        };
        for p in persons.iter().filter(|p| p.initial) {
            seq += 1;
            let lsh = format!("{county}{}{seq:08}", start.year());
            let name = p.csh_name.as_deref().unwrap_or(&p.name);
            let csrq = fmt_ymd(p.birth);
            let hh = format!("{county}{:06}", p.hh);
            let xb = p.sex.to_string();
            let w = PsbWire {
                lsh: &lsh,
                ywlx: "CSH",
                gmsfhm: &p.id,
                xm: name,
                xb: &xb,
                csrq: &csrq,
                mz: p.mz,
                hh: &hh,
                yhzgx: p.yhzgx,
                xzqh: &vills[p.vill0].0,
                qyd: None,
                qwd: None,
                fqsfhm: None,
                mqsfhm: None,
                csyxzmbh: None,
                swrq: None,
                ywrq: &start_ymd,
                djsj: &start_dt,
            };
            push_row(&mut arena, &mut off, &w);
        }
        let first_ev = off.len();
        let mut repeat_at: Vec<(usize, usize)> = Vec::new();
        if psb_repeats > 0 && evs.len() > 10 {
            for _ in 0..psb_repeats {
                let src = first_ev + rng.random_range(0..evs.len() - 5);
                repeat_at.push((src + rng.random_range(1..5), src));
            }
        }
        for (k, e) in evs.iter().enumerate() {
            seq += 1;
            let lsh = format!("{county}{}{seq:08}", e.djsj.year());
            let ywrq = fmt_ymd(e.ywrq);
            let djsj = fmt_dt(e.djsj);
            let w = PsbWire {
                lsh: &lsh,
                ywlx: e.ywlx,
                gmsfhm: &e.gmsfhm,
                xm: &e.xm,
                xb: &e.xb,
                csrq: &e.csrq,
                mz: e.mz,
                hh: &e.hh,
                yhzgx: e.yhzgx,
                xzqh: &e.xzqh,
                qyd: e.qyd.as_deref(),
                qwd: e.qwd.as_deref(),
                fqsfhm: e.fq.as_deref(),
                mqsfhm: e.mq.as_deref(),
                csyxzmbh: e.csyx.as_deref(),
                swrq: e.swrq.as_deref(),
                ywrq: &ywrq,
                djsj: &djsj,
            };
            push_row(&mut arena, &mut off, &w);
            let idx = first_ev + k;
            for &(at, src) in &repeat_at {
                if at == idx {
                    let row = arena[off[src]..off[src + 1]].to_vec();
                    off.push(arena.len());
                    arena.extend_from_slice(&row);
                }
            }
        }
        let psb_rows = off.len() - repeat_at.len();
        off.push(arena.len());
        arena.shrink_to_fit();

        // nhc: ordered by (updatedAt, certificateNo)
        let key = |c: &Option<String>| c.clone().unwrap_or_default();
        births.sort_by_key(|a| (a.0, key(&a.1.certificate_no)));
        deaths.sort_by_key(|a| (a.0, key(&a.1.certificate_no)));
        let nhc_birth: Vec<NhcItem> = births
            .iter()
            .map(|(t, w)| NhcItem {
                at: t.and_utc().timestamp(),
                cert: key(&w.certificate_no),
                version: w.version,
                bytes: serde_json::to_vec(w).unwrap_or_default(),
            })
            .collect();
        let nhc_death: Vec<NhcItem> = deaths
            .iter()
            .map(|(t, w)| NhcItem {
                at: t.and_utc().timestamp(),
                cert: key(&w.certificate_no),
                version: w.version,
                bytes: serde_json::to_vec(w).unwrap_or_default(),
            })
            .collect();

        // mca: per day
        let mut mca_marriage: BTreeMap<NaiveDate, Vec<u8>> = BTreeMap::new();
        for (d, f) in &marr {
            mca_marriage
                .entry(*d)
                .or_default()
                .extend(wire::csv_line_gbk(f));
        }
        let mut mca_cremation: BTreeMap<NaiveDate, Vec<u8>> = BTreeMap::new();
        for (d, f) in &crem {
            mca_cremation
                .entry(*d)
                .or_default()
                .extend(wire::csv_line_gbk(f));
        }

        // pis: ordered by (modifiedTime, personId)
        let mut pis_out: Vec<PisEntry> = pis
            .iter()
            .filter(|r| !r.skip)
            .map(|r| {
                let w = PisWire {
                    person_id: r.pid.clone(),
                    sfzh: r.sfzh.clone(),
                    xm: r.xm.clone(),
                    xb: if r.xb == 1 {
                        "男".into()
                    } else {
                        "女".into()
                    },
                    csrq: r.csrq.clone(),
                    cun_code: vills[r.vill].0.clone(),
                    hyzk: r.hyzk.into(),
                    mq_sfzh: r.mq.clone(),
                    csyxzmbh: r.csyx.clone(),
                    zt: r.zt.to_string(),
                    modified_time: fmt_dt(r.mt),
                    del_flag: if r.del { "1".into() } else { "0".into() },
                };
                PisEntry {
                    mt: r.mt,
                    pid: r.pid.clone().unwrap_or_default(),
                    bytes: serde_json::to_vec(&w).unwrap_or_default(),
                    mutable: r.pid.is_some() && !r.nomutate && !r.malformed,
                }
            })
            .collect();
        pis_out.sort_by(|a, b| (a.mt, &a.pid).cmp(&(b.mt, &b.pid)));

        let served = ServedCounts {
            psb: FeedCount {
                records: psb_rows as u64,
                malformed: mal[PSB],
            },
            mca: FeedCount {
                records: (marr.len() + crem.len()) as u64,
                malformed: mal[MCA],
            },
            nhc: FeedCount {
                records: (nhc_birth.len() + nhc_death.len()) as u64,
                malformed: mal[NHC],
            },
            pis: FeedCount {
                records: pis_out.len() as u64,
                malformed: mal[PIS],
            },
        };
        let expected = expected
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !dropped.contains(i))
            .map(|(_, t)| t)
            .collect();
        World {
            opts: o,
            townships: tw,
            psb_arena: arena,
            psb_off: off,
            nhc_birth,
            nhc_death,
            mca_marriage,
            mca_cremation,
            pis: pis_out,
            expected,
            served,
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
