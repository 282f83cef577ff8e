//! The builder's state while a world is generated: the people, the structured
//! records of each feed before they are frozen, the expected tickets, and the plain
//! date and name forms the records are written with.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::sim::names;
use crate::sim::wire::{BirthWire, DeathWire};
use crate::sim::ExpectedTicket;

use super::{Township, WorldOptions};

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

#[derive(Clone)]
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

impl Pis {
    /// An active record (status 1, not deleted) without a mother's ID or certificate,
    /// and without a personId until [`Builder::push_pis`] gives it one.
    pub(crate) fn active(
        sfzh: String,
        xm: String,
        xb: u8,
        csrq: String,
        vill: usize,
        hyzk: &'static str,
        mt: NaiveDateTime,
    ) -> Pis {
        Pis {
            pid: None,
            sfzh,
            xm,
            xb,
            csrq,
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
        }
    }
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
    pub(super) ids: HashSet<u64>,
    pub(super) pids: HashSet<u64>,
    pub(super) nums: HashSet<u64>,
    pub evs: Vec<Ev>,
    pub pis: Vec<Pis>,
    pub births: Vec<(NaiveDateTime, BirthWire)>,
    pub deaths: Vec<(NaiveDateTime, DeathWire)>,
    pub marr: Vec<(NaiveDate, Vec<String>)>,
    pub crem: Vec<(NaiveDate, Vec<String>)>,
    pub(super) hh_seq: u32,
    pub(super) seqs: HashMap<String, u32>,
    pub expected: Vec<ExpectedTicket>,
    /// Tickets dropped by the `INVALID_ID` rule (indices into `expected`).
    pub dropped: HashSet<usize>,
    pub mal: [u64; 4],
    pub rm: Vec<RmCand>,
    pub inv: Vec<InvRec>,
    pub psb_repeats: usize,
}

/// Each feed's index in `Builder::mal`.
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

/// Age in whole years on day `d` of someone born on `birth`.
pub(super) fn age_at(birth: NaiveDate, d: NaiveDate) -> i32 {
    let mut a = d.year() - birth.year();
    if (d.month(), d.day()) < (birth.month(), birth.day()) {
        a -= 1;
    }
    a
}

impl Builder {
    /// A builder for `o`: the townships' villages drawn from the seed, nobody yet.
    pub(super) fn new(o: WorldOptions) -> Builder {
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
}
