//! The harness of the rule tables: a builder of worlds (each department's records,
//! written the way the department writes them), the people the tables share, and
//! [`Table::check`], which runs the pure core without a database and reports every
//! case that disagreed as want/got. The last test shows the check itself can fail.

use chrono::{Duration, NaiveDate};

use popsync::domain::{DivisionCode, IdNumber, Sex};
use popsync::reconcile::{reconcile, Params};
use popsync::records::{
    BirthCertificate, CertStatus, Cremation, DeathCertificate, Marriage, MarriageKind, PisBirth,
    PisRecord, PisState, PsbEvent, PsbEventKind, PsbParticulars, Snapshot,
};
use popsync::tickets::{TicketDraft, TicketKind};

// ---------------------------------------------------------------------------------------
// The world builder
// ---------------------------------------------------------------------------------------

/// The as-of date `D` of every case.
const AS_OF: &str = "2014-09-01";
pub const COUNTY: &str = "349901";

/// Townships (9 digits) and villages (12 digits) of the city's one county.
pub const T1: &str = "349901001";
pub const T2: &str = "349901002";
pub const T3: &str = "349901003";
pub const V1: &str = "349901001001";
pub const V1B: &str = "349901001002";
pub const V2: &str = "349901002001";
pub const V3: &str = "349901003001";
/// A village of another city.
pub const ELSEWHERE: &str = "350101001001";

pub const M: Sex = Sex::Male;
pub const F: Sex = Sex::Female;

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|_| panic!("bad test date {s}"))
}

/// `D - days` as `YYYY-MM-DD` (negative: after `D`).
pub fn ago(days: i64) -> String {
    (date(AS_OF) - Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// An 18-character ID with the right ISO 7064 MOD 11-2 check character.
pub fn make_id(county: &str, birth: &str, seq: u32) -> String {
    let first17 = format!("{county}{}{seq:03}", birth.replace('-', ""));
    assert_eq!(first17.len(), 17, "{first17}");
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{first17}{check}")
}

/// Same 17 digits, a check character that is wrong.
pub fn wrong_check(id: &str) -> String {
    let (head, last) = id.split_at(17);
    let bad = if last == "0" { '1' } else { '0' };
    format!("{head}{bad}")
}

/// The legacy 15-digit form of an ID of someone born in 19xx.
pub fn legacy15(id: &str) -> String {
    assert_eq!(&id[6..8], "19");
    format!("{}{}", &id[..6], &id[8..17])
}

/// Full-width digits (and `Ｘ`).
pub fn full_width(id: &str) -> String {
    id.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32('０' as u32 + (c as u32 - '0' as u32)).unwrap(),
            'X' => 'Ｘ',
            c => c,
        })
        .collect()
}

/// A person as public security knows them.
#[derive(Clone, Debug)]
pub struct P {
    pub id: String,
    pub name: String,
    pub sex: Sex,
    pub birth: String,
}

impl P {
    pub fn new(name: &str, sex: Sex, birth: &str, n: u32) -> P {
        let seq = match sex {
            Sex::Male => 2 * n + 1,
            _ => 2 * n + 2,
        };
        P {
            id: make_id(COUNTY, birth, seq),
            name: name.into(),
            sex,
            birth: birth.into(),
        }
    }

    /// The first person of that sex and birth date (from sequence `n` on) whose ID ends in `X`.
    pub fn with_x(name: &str, sex: Sex, birth: &str, mut n: u32) -> P {
        loop {
            let p = P::new(name, sex, birth, n);
            if p.id.ends_with('X') {
                return p;
            }
            n += 1;
        }
    }

    pub fn named(&self, name: &str) -> P {
        P {
            name: name.into(),
            ..self.clone()
        }
    }

    pub fn born(&self, birth: &str) -> P {
        P {
            birth: birth.into(),
            ..self.clone()
        }
    }

    pub fn sexed(&self, sex: Sex) -> P {
        P {
            sex,
            ..self.clone()
        }
    }
}

pub fn man(name: &str, birth: &str, n: u32) -> P {
    P::new(name, M, birth, n)
}

pub fn woman(name: &str, birth: &str, n: u32) -> P {
    P::new(name, F, birth, n)
}

pub fn id(s: &str) -> IdNumber {
    IdNumber::parse(s).unwrap_or_else(|e| panic!("test ID {s}: {e}"))
}

fn div(s: &str) -> DivisionCode {
    DivisionCode::parse(s).unwrap_or_else(|| panic!("test division {s}"))
}

/// Which record the modifier methods act on.
#[derive(Clone, Copy)]
enum Last {
    None,
    Psb,
    Pis,
}

/// The records of one case.
pub struct World {
    pub snap: Snapshot,
    as_of: NaiveDate,
    lsh: u32,
    last: Last,
}

impl World {
    pub fn new(as_of: &str) -> World {
        World {
            snap: Snapshot::default(),
            as_of: date(as_of),
            lsh: 0,
            last: Last::None,
        }
    }

    pub fn params(&self) -> Params {
        Params {
            as_of: self.as_of,
            grace_days: 30,
            birth_registration_grace_days: 60,
            counties: vec![COUNTY.into()],
        }
    }

    // --- psb --------------------------------------------------------------------------

    /// One `psb` row: `kind` is the wire code (`CSH`, `CS`, `SW`, `QR`, `QC`, `BG`); the
    /// row carries `p`'s name, sex and birth date; `lsh` counts up, `djsj` is 10:00 on `ywrq`.
    pub fn psb(&mut self, kind: &str, p: &P, division: &str, ywrq: &str) -> &mut World {
        self.lsh += 1;
        self.snap.psb.push(PsbEvent {
            lsh: format!("L{:06}", self.lsh).into(),
            kind: PsbEventKind::from_code(kind).unwrap_or_else(|| panic!("ywlx {kind}")),
            id: id(&p.id),
            name: p.name.clone().into(),
            sex: p.sex,
            birth_date: date(&p.birth),
            division: div(division),
            event_date: date(ywrq),
            particulars: None,
            recorded_at: format!("{ywrq} 10:00:00").into(),
            details: None,
        });
        self.last = Last::Psb;
        self
    }

    /// A `CS` row for `child` born to `mother`, registered on `ywrq`.
    pub fn cs(&mut self, child: &P, mother: &P, division: &str, ywrq: &str) -> &mut World {
        self.psb("CS", child, division, ywrq);
        self.psb_particulars().mother_id = Some(id(&mother.id));
        self
    }

    /// An `SW` row: died on `swrq`, registered on `ywrq`.
    pub fn sw(&mut self, p: &P, division: &str, swrq: &str, ywrq: &str) -> &mut World {
        self.psb("SW", p, division, ywrq);
        self.psb_particulars().death_date = Some(date(swrq));
        self
    }

    pub fn last_psb(&mut self) -> &mut PsbEvent {
        assert!(matches!(self.last, Last::Psb), "no psb row to modify");
        self.snap.psb.last_mut().unwrap()
    }

    pub fn psb_particulars(&mut self) -> &mut PsbParticulars {
        self.last_psb().particulars.get_or_insert_with(Box::default)
    }

    /// The last `psb` row's `csyxzmbh`.
    pub fn csyxzmbh_cs(&mut self, cert_no: &str) -> &mut World {
        self.psb_particulars().birth_cert_no = Some(cert_no.into());
        self
    }

    pub fn lsh(&mut self, lsh: &str) -> &mut World {
        self.last_psb().lsh = lsh.into();
        self
    }

    pub fn djsj(&mut self, djsj: &str) -> &mut World {
        self.last_psb().recorded_at = djsj.into();
        self
    }

    // --- pis --------------------------------------------------------------------------

    /// A PIS record as typed: `zt` 1, not deleted, no `hyzk`, modified 2014-01-01.
    pub fn pis(
        &mut self,
        person_id: &str,
        sfzh: &str,
        name: &str,
        sex: Sex,
        csrq: &str,
        village: &str,
    ) -> &mut World {
        self.snap.pis.push(PisRecord {
            person_id: person_id.into(),
            sfzh: sfzh.into(),
            id_norm: popsync::domain::normalise_id(sfzh).into(),
            name: name.into(),
            sex,
            birth_date: date(csrq),
            village: div(village),
            marital: None,
            birth: None,
            state: PisState::OnRegister,
            deleted: false,
            ever_deleted: false,
            modified_time: "2014-01-01 08:00:00".into(),
        });
        self.last = Last::Pis;
        self
    }

    /// A PIS record that agrees with `p` in every field.
    pub fn pis_of(&mut self, person_id: &str, p: &P, village: &str) -> &mut World {
        self.pis(person_id, &p.id, &p.name, p.sex, &p.birth, village)
    }

    /// A person on the household register since 2010 with an agreeing PIS record there.
    pub fn resident(&mut self, person_id: &str, p: &P, village: &str) -> &mut World {
        self.psb("CSH", p, village, "2010-01-01")
            .pis_of(person_id, p, village)
    }

    pub fn last_pis(&mut self) -> &mut PisRecord {
        assert!(matches!(self.last, Last::Pis), "no pis record to modify");
        self.snap.pis.last_mut().unwrap()
    }

    pub fn zt(&mut self, zt: i64) -> &mut World {
        self.last_pis().state = PisState::from_code(zt).unwrap();
        self
    }

    pub fn deleted(&mut self) -> &mut World {
        let r = self.last_pis();
        r.deleted = true;
        r.ever_deleted = true;
        self
    }

    pub fn hyzk(&mut self, code: &str) -> &mut World {
        self.last_pis().marital = Some(popsync::records::Hyzk::parse(code));
        self
    }

    pub fn pis_birth(&mut self) -> &mut PisBirth {
        self.last_pis().birth.get_or_insert_with(Box::default)
    }

    pub fn mq(&mut self, mother_sfzh: &str) -> &mut World {
        self.pis_birth().mother_id = Some(mother_sfzh.into());
        self
    }

    pub fn csyxzmbh(&mut self, cert_no: &str) -> &mut World {
        self.pis_birth().birth_cert_no = Some(cert_no.into());
        self
    }

    pub fn modified(&mut self, t: &str) -> &mut World {
        self.last_pis().modified_time = t.into();
        self
    }

    // --- nhc --------------------------------------------------------------------------

    /// Version 1, `VALID`, of a birth certificate, updated on the birth date.
    pub fn birth_cert(
        &mut self,
        no: &str,
        child_name: Option<&str>,
        sex: Sex,
        birth: &str,
        mother: &P,
        residence: &str,
    ) -> &mut World {
        self.snap.births.push(BirthCertificate {
            cert_no: no.into(),
            version: 1,
            status: CertStatus::Valid,
            child_name: child_name.map(Into::into),
            child_sex: sex,
            birth_date: date(birth),
            mother_name: Some(mother.name.clone().into()),
            mother_id: id(&mother.id),
            father_name: None,
            father_id: None,
            facility: Some("市妇幼保健院".into()),
            residence: Some(div(residence)),
            updated_at: format!("{birth}T12:00:00+08:00").into(),
            updated_date: date(birth),
        });
        self.last = Last::None;
        self
    }

    /// Another version of certificate `no` (birth or death): a copy of its latest
    /// version so far, with `version`, `status`, and updated on `updated`.
    pub fn version(&mut self, no: &str, version: i64, status: &str, updated: &str) -> &mut World {
        let status = CertStatus::from_code(status).unwrap();
        if let Some(c) = self.snap.births.iter().rev().find(|c| c.cert_no == no) {
            let mut c = c.clone();
            c.version = version;
            c.status = status;
            c.updated_at = format!("{updated}T12:00:00+08:00").into();
            c.updated_date = date(updated);
            self.snap.births.push(c);
        } else if let Some(c) = self.snap.deaths.iter().rev().find(|c| c.cert_no == no) {
            let mut c = c.clone();
            c.version = version;
            c.status = status;
            c.updated_at = format!("{updated}T12:00:00+08:00").into();
            c.updated_date = date(updated);
            self.snap.deaths.push(c);
        } else {
            panic!("no certificate {no} to re-issue");
        }
        self.last = Last::None;
        self
    }

    /// Version 1, `VALID`, of a death certificate for `p`, updated on the death date.
    pub fn death_cert(&mut self, no: &str, p: &P, death: &str) -> &mut World {
        self.snap.deaths.push(DeathCertificate {
            cert_no: no.into(),
            version: 1,
            status: CertStatus::Valid,
            name: Some(p.name.clone().into()),
            id: Some(id(&p.id)),
            sex: p.sex,
            death_date: date(death),
            residence: None,
            updated_at: format!("{death}T12:00:00+08:00").into(),
            updated_date: date(death),
        });
        self.last = Last::None;
        self
    }

    // --- mca --------------------------------------------------------------------------

    pub fn cremation(&mut self, no: &str, p: &P, death: &str, cremated: &str) -> &mut World {
        self.snap.cremations.push(Cremation {
            cert_no: no.into(),
            name: p.name.clone().into(),
            sex: p.sex,
            id: Some(id(&p.id)),
            death_date: date(death),
            cremation_date: date(cremated),
            address: "本市".into(),
            funeral_home: "市殡仪馆".into(),
        });
        self.last = Last::None;
        self
    }

    /// One marriage-register row: `kind` is `结婚`, `离婚`, `补领结婚证` or `撤销婚姻`.
    pub fn marriage(
        &mut self,
        no: &str,
        kind: &str,
        husband: &P,
        wife: &P,
        registered: &str,
    ) -> &mut World {
        self.snap.marriages.push(Marriage {
            reg_no: no.into(),
            kind: MarriageKind::from_zh(kind).unwrap_or_else(|| panic!("业务类别 {kind}")),
            husband_name: husband.name.clone().into(),
            husband_id: id(&husband.id),
            wife_name: wife.name.clone().into(),
            wife_id: id(&wife.id),
            reg_date: date(registered),
            office: "市民政局婚姻登记处".into(),
        });
        self.last = Last::None;
        self
    }
}

// ---------------------------------------------------------------------------------------
// Expected tickets and the check
// ---------------------------------------------------------------------------------------

/// One expected ticket: kind, township, subject (rendered by [`render`]).
pub type Want = (&'static str, &'static str, String);

/// The subject's keys in a fixed order, then the `suggestion` if any.
fn render(t: &TicketDraft) -> String {
    let s = &t.subject;
    let mut parts = Vec::new();
    if let Some(i) = s.id_number {
        parts.push(format!("id_number={i}"));
    }
    if let Some(p) = &s.pis_person_id {
        parts.push(format!("pis_person_id={p}"));
    }
    if !s.pis_person_ids.is_empty() {
        parts.push(format!("pis_person_ids={}", s.pis_person_ids.join(",")));
    }
    if let Some(c) = &s.birth_cert_no {
        parts.push(format!("birth_cert_no={c}"));
    }
    if let Some(c) = s.child_id_number {
        parts.push(format!("child_id_number={c}"));
    }
    if let Some(g) = t.suggestion {
        parts.push(format!("suggestion={g}"));
    }
    parts.join(" ")
}

/// Subject `id_number` of a person (the normalised ID).
pub fn sid(p: &P) -> String {
    format!("id_number={}", p.id)
}

pub fn spid(person_id: &str) -> String {
    format!("pis_person_id={person_id}")
}

/// `INVALID_ID` with a suggested correction.
pub fn spid_suggest(person_id: &str, p: &P) -> String {
    format!("pis_person_id={person_id} suggestion={}", p.id)
}

/// `PHANTOM_RECORD` of a record with an ID.
pub fn sphantom(person_id: &str, id_number: &str) -> String {
    format!("id_number={id_number} pis_person_id={person_id}")
}

pub fn spids(ids: &[&str]) -> String {
    format!("pis_person_ids={}", ids.join(","))
}

pub fn scert(no: &str) -> String {
    format!("birth_cert_no={no}")
}

pub fn schild(child: &P) -> String {
    format!("child_id_number={}", child.id)
}

pub fn scert_child(no: &str, child: &P) -> String {
    format!("birth_cert_no={no} child_id_number={}", child.id)
}

/// Collects every case of a table; `finish` fails with all the cases that disagreed.
#[derive(Default)]
pub struct Table {
    failures: Vec<String>,
    cases: usize,
}

impl Table {
    pub fn check(&mut self, case: &str, w: &World, want: &[Want]) {
        self.cases += 1;
        let out = reconcile(&w.snap, &w.params());
        let mut got: Vec<(String, String, String)> = out
            .tickets
            .iter()
            .map(|t| {
                (
                    t.kind.as_str().to_string(),
                    t.township.to_string(),
                    render(t),
                )
            })
            .collect();
        got.sort();
        let mut want: Vec<(String, String, String)> = want
            .iter()
            .map(|(k, t, s)| {
                assert!(
                    TicketKind::parse(k).is_some(),
                    "case {case}: unknown kind {k}"
                );
                (k.to_string(), t.to_string(), s.clone())
            })
            .collect();
        want.sort();
        if got != want {
            let show = |v: &[(String, String, String)]| {
                if v.is_empty() {
                    "    (none)\n".to_string()
                } else {
                    v.iter()
                        .map(|(k, t, s)| format!("    {k} {t} {s}\n"))
                        .collect()
                }
            };
            self.failures.push(format!(
                "case `{case}`\n  want:\n{}  got:\n{}",
                show(&want),
                show(&got)
            ));
        }
    }

    pub fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} cases failed:\n{}",
            self.failures.len(),
            self.cases,
            self.failures.join("\n")
        );
    }
}

pub fn world() -> World {
    World::new(AS_OF)
}

// ---------------------------------------------------------------------------------------
// The people several tables share
// ---------------------------------------------------------------------------------------

/// The mother of the birth tables, and a bystander elsewhere.
pub fn mum() -> P {
    woman("王芳", "1988-02-03", 1)
}

/// Someone public security does not know.
pub fn stranger_mum() -> P {
    woman("外地母亲", "1990-04-05", 7)
}

/// A world whose only resident is the mother, in T1.
pub fn with_mum() -> World {
    let mut w = world();
    w.resident("RKM", &mum(), V1);
    w
}

/// The person of the death and move tables.
pub fn elder() -> P {
    man("赵六", "1950-01-01", 1)
}

/// A world whose only resident is the elder, in T1 (`RK1`).
pub fn with_elder() -> World {
    let mut w = world();
    w.resident("RK1", &elder(), V1);
    w
}

/// The person of the residence and identity tables.
pub fn zhang() -> P {
    man("张三", "1980-03-04", 1)
}

// ---------------------------------------------------------------------------------------
// The harness itself
// ---------------------------------------------------------------------------------------

#[test]
fn rules_harness_ids_and_quiet_baseline() {
    // The generator agrees with the IDs popsync's own unit tests use.
    assert_eq!(make_id("349901", "19720818", 892), "349901197208188924");
    assert_eq!(make_id("349901", "20101223", 537), "34990120101223537X");
    let x = P::with_x("王五", M, "1972-08-18", 0);
    assert!(x.id.ends_with('X') && IdNumber::parse(&x.id).is_ok());
    assert_eq!(popsync::domain::normalise_id(&legacy15(&x.id)), x.id);
    assert_eq!(popsync::domain::normalise_id(&full_width(&x.id)), x.id);
    assert!(IdNumber::parse(&wrong_check(&x.id)).is_err());

    let mut t = Table::default();
    let a = man("张三", "1980-03-04", 1);
    let b = woman("李梅", "1982-05-06", 1);
    t.check("nothing at all", &world(), &[]);
    t.check(
        "two residents whose records agree",
        world().resident("RK1", &a, V1).resident("RK2", &b, V2),
        &[],
    );
    // The check must be able to fail: an extra ticket is reported.
    let mut strict = Table::default();
    strict.check(
        "missing resident but nothing expected",
        world().psb("CSH", &a, V1, "2010-01-01"),
        &[],
    );
    assert_eq!(strict.failures.len(), 1);
    t.finish();
}
