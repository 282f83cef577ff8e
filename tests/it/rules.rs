//! Table-driven tests of the twelve ticket rules of tickets.md: for every kind, a case
//! that raises it (exact township and subject) and its benign twins that must not.
//! Every case asserts the exact set of tickets, so an extra ticket fails as surely as a
//! missing one. The last test reads the golden records a reconciliation plans.

use chrono::{Duration, NaiveDate};

use popsync::domain::{DivisionCode, IdNumber, Sex};
use popsync::reconcile::{reconcile, Params, Persons, TicketDraft, TicketKind};
use popsync::records::{
    BirthCertificate, CertStatus, Cremation, DeathCertificate, Marriage, MarriageKind, PisBirth,
    PisRecord, PisState, PsbEvent, PsbEventKind, PsbParticulars, Snapshot,
};

// ---------------------------------------------------------------------------------------
// The world builder
// ---------------------------------------------------------------------------------------

/// The as-of date `D` of every case.
const AS_OF: &str = "2014-09-01";
const COUNTY: &str = "349901";

/// Townships (9 digits) and villages (12 digits) of the city's one county.
const T1: &str = "349901001";
const T2: &str = "349901002";
const T3: &str = "349901003";
const V1: &str = "349901001001";
const V1B: &str = "349901001002";
const V2: &str = "349901002001";
const V3: &str = "349901003001";
/// A village of another city.
const ELSEWHERE: &str = "350101001001";

const M: Sex = Sex::Male;
const F: Sex = Sex::Female;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|_| panic!("bad test date {s}"))
}

/// `D - days` as `YYYY-MM-DD` (negative: after `D`).
fn ago(days: i64) -> String {
    (date(AS_OF) - Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// An 18-character ID with the right ISO 7064 MOD 11-2 check character.
fn make_id(county: &str, birth: &str, seq: u32) -> String {
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
fn wrong_check(id: &str) -> String {
    let (head, last) = id.split_at(17);
    let bad = if last == "0" { '1' } else { '0' };
    format!("{head}{bad}")
}

/// The legacy 15-digit form of an ID of someone born in 19xx.
fn legacy15(id: &str) -> String {
    assert_eq!(&id[6..8], "19");
    format!("{}{}", &id[..6], &id[8..17])
}

/// Full-width digits (and `Ｘ`).
fn full_width(id: &str) -> String {
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
struct P {
    id: String,
    name: String,
    sex: Sex,
    birth: String,
}

impl P {
    fn new(name: &str, sex: Sex, birth: &str, n: u32) -> P {
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
    fn with_x(name: &str, sex: Sex, birth: &str, mut n: u32) -> P {
        loop {
            let p = P::new(name, sex, birth, n);
            if p.id.ends_with('X') {
                return p;
            }
            n += 1;
        }
    }

    fn named(&self, name: &str) -> P {
        P {
            name: name.into(),
            ..self.clone()
        }
    }

    fn born(&self, birth: &str) -> P {
        P {
            birth: birth.into(),
            ..self.clone()
        }
    }

    fn sexed(&self, sex: Sex) -> P {
        P {
            sex,
            ..self.clone()
        }
    }
}

fn man(name: &str, birth: &str, n: u32) -> P {
    P::new(name, M, birth, n)
}

fn woman(name: &str, birth: &str, n: u32) -> P {
    P::new(name, F, birth, n)
}

fn id(s: &str) -> IdNumber {
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
struct World {
    snap: Snapshot,
    as_of: NaiveDate,
    lsh: u32,
    last: Last,
}

impl World {
    fn new(as_of: &str) -> World {
        World {
            snap: Snapshot::default(),
            as_of: date(as_of),
            lsh: 0,
            last: Last::None,
        }
    }

    fn params(&self) -> Params {
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
    fn psb(&mut self, kind: &str, p: &P, division: &str, ywrq: &str) -> &mut World {
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
    fn cs(&mut self, child: &P, mother: &P, division: &str, ywrq: &str) -> &mut World {
        self.psb("CS", child, division, ywrq);
        self.psb_particulars().mother_id = Some(id(&mother.id));
        self
    }

    /// An `SW` row: died on `swrq`, registered on `ywrq`.
    fn sw(&mut self, p: &P, division: &str, swrq: &str, ywrq: &str) -> &mut World {
        self.psb("SW", p, division, ywrq);
        self.psb_particulars().death_date = Some(date(swrq));
        self
    }

    fn last_psb(&mut self) -> &mut PsbEvent {
        assert!(matches!(self.last, Last::Psb), "no psb row to modify");
        self.snap.psb.last_mut().unwrap()
    }

    fn psb_particulars(&mut self) -> &mut PsbParticulars {
        self.last_psb().particulars.get_or_insert_with(Box::default)
    }

    /// The last `psb` row's `csyxzmbh`.
    fn csyxzmbh_cs(&mut self, cert_no: &str) -> &mut World {
        self.psb_particulars().birth_cert_no = Some(cert_no.into());
        self
    }

    fn lsh(&mut self, lsh: &str) -> &mut World {
        self.last_psb().lsh = lsh.into();
        self
    }

    fn djsj(&mut self, djsj: &str) -> &mut World {
        self.last_psb().recorded_at = djsj.into();
        self
    }

    // --- pis --------------------------------------------------------------------------

    /// A PIS record as typed: `zt` 1, not deleted, no `hyzk`, modified 2014-01-01.
    fn pis(
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
    fn pis_of(&mut self, person_id: &str, p: &P, village: &str) -> &mut World {
        self.pis(person_id, &p.id, &p.name, p.sex, &p.birth, village)
    }

    /// A person on the household register since 2010 with an agreeing PIS record there.
    fn resident(&mut self, person_id: &str, p: &P, village: &str) -> &mut World {
        self.psb("CSH", p, village, "2010-01-01")
            .pis_of(person_id, p, village)
    }

    fn last_pis(&mut self) -> &mut PisRecord {
        assert!(matches!(self.last, Last::Pis), "no pis record to modify");
        self.snap.pis.last_mut().unwrap()
    }

    fn zt(&mut self, zt: i64) -> &mut World {
        self.last_pis().state = PisState::from_code(zt).unwrap();
        self
    }

    fn deleted(&mut self) -> &mut World {
        let r = self.last_pis();
        r.deleted = true;
        r.ever_deleted = true;
        self
    }

    fn hyzk(&mut self, code: &str) -> &mut World {
        self.last_pis().marital = Some(code.into());
        self
    }

    fn pis_birth(&mut self) -> &mut PisBirth {
        self.last_pis().birth.get_or_insert_with(Box::default)
    }

    fn mq(&mut self, mother_sfzh: &str) -> &mut World {
        self.pis_birth().mother_id = Some(mother_sfzh.into());
        self
    }

    fn csyxzmbh(&mut self, cert_no: &str) -> &mut World {
        self.pis_birth().birth_cert_no = Some(cert_no.into());
        self
    }

    fn modified(&mut self, t: &str) -> &mut World {
        self.last_pis().modified_time = t.into();
        self
    }

    // --- nhc --------------------------------------------------------------------------

    /// Version 1, `VALID`, of a birth certificate, updated on the birth date.
    fn birth_cert(
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
    fn version(&mut self, no: &str, version: i64, status: &str, updated: &str) -> &mut World {
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
    fn death_cert(&mut self, no: &str, p: &P, death: &str) -> &mut World {
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

    fn cremation(&mut self, no: &str, p: &P, death: &str, cremated: &str) -> &mut World {
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
    fn marriage(
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
type Want = (&'static str, &'static str, String);

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
fn sid(p: &P) -> String {
    format!("id_number={}", p.id)
}

fn spid(person_id: &str) -> String {
    format!("pis_person_id={person_id}")
}

/// `INVALID_ID` with a suggested correction.
fn spid_suggest(person_id: &str, p: &P) -> String {
    format!("pis_person_id={person_id} suggestion={}", p.id)
}

/// `PHANTOM_RECORD` of a record with an ID.
fn sphantom(person_id: &str, id_number: &str) -> String {
    format!("id_number={id_number} pis_person_id={person_id}")
}

fn spids(ids: &[&str]) -> String {
    format!("pis_person_ids={}", ids.join(","))
}

fn scert(no: &str) -> String {
    format!("birth_cert_no={no}")
}

fn schild(child: &P) -> String {
    format!("child_id_number={}", child.id)
}

fn scert_child(no: &str, child: &P) -> String {
    format!("birth_cert_no={no} child_id_number={}", child.id)
}

/// Collects every case of a table; `finish` fails with all the cases that disagreed.
#[derive(Default)]
struct Table {
    failures: Vec<String>,
    cases: usize,
}

impl Table {
    fn check(&mut self, case: &str, w: &World, want: &[Want]) {
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

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} cases failed:\n{}",
            self.failures.len(),
            self.cases,
            self.failures.join("\n")
        );
    }
}

fn world() -> World {
    World::new(AS_OF)
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

// ---------------------------------------------------------------------------------------
// BIRTH_NOT_IN_PIS and BIRTH_NOT_REGISTERED
// ---------------------------------------------------------------------------------------

fn mum() -> P {
    woman("王芳", "1988-02-03", 1)
}

/// Someone public security does not know.
fn stranger_mum() -> P {
    woman("外地母亲", "1990-04-05", 7)
}

/// A world whose only resident is the mother, in T1.
fn with_mum() -> World {
    let mut w = world();
    w.resident("RKM", &mum(), V1);
    w
}

#[test]
fn rules_birth_not_in_pis() {
    let mut t = Table::default();
    let m = mum();
    let b30 = ago(30);
    let kid = man("陈小明", &b30, 1);
    const B1: &str = "B000000001";
    const B2: &str = "B000000002";

    t.check("raised: certificate only, birth on D-30, routed to the mother's PSB township (not the residence)",
        with_mum().birth_cert(B1, None, M, &b30, &m, V2), &[("BIRTH_NOT_IN_PIS", T1, scert(B1))]);
    t.check(
        "benign: birth on D-29 is within grace",
        with_mum().birth_cert(B1, None, M, &ago(29), &m, V2),
        &[],
    );
    t.check(
        "raised: mother unknown to psb: routed to the certificate's residence township",
        world().birth_cert(B1, None, M, &b30, &stranger_mum(), V3),
        &[("BIRTH_NOT_IN_PIS", T3, scert(B1))],
    );
    t.check("raised: CS row only: routed to the CS township, subject the child's ID (no RESIDENT_MISSING)",
        with_mum().cs(&kid, &m, V2, &ago(20)), &[("BIRTH_NOT_IN_PIS", T2, schild(&kid))]);
    t.check(
        "raised: CS registered overdue too: still one BIRTH_NOT_IN_PIS, RESIDENT_MISSING covered",
        with_mum().cs(&kid, &m, V2, &ago(30)),
        &[("BIRTH_NOT_IN_PIS", T2, schild(&kid))],
    );
    t.check(
        "raised: certificate and CS paired by csyxzmbh: CS township, both keys",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .cs(&kid, &m, V3, &ago(20))
            .csyxzmbh_cs(B1),
        &[("BIRTH_NOT_IN_PIS", T3, scert_child(B1, &kid))],
    );
    t.check(
        "raised: certificate and CS paired by mother, date and sex: one ticket, both keys",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .cs(&kid, &m, V3, &ago(20)),
        &[("BIRTH_NOT_IN_PIS", T3, scert_child(B1, &kid))],
    );
    t.check(
        "raised: certificate residence outside the city but CS row inside",
        world()
            .birth_cert(B1, None, M, &b30, &stranger_mum(), ELSEWHERE)
            .cs(&kid, &stranger_mum(), V2, &ago(20)),
        &[("BIRTH_NOT_IN_PIS", T2, scert_child(B1, &kid))],
    );
    t.check(
        "benign: birth outside the city (residence elsewhere, no CS)",
        world().birth_cert(B1, None, M, &b30, &stranger_mum(), ELSEWHERE),
        &[],
    );
    t.check(
        "benign: a moved-out (zt 2) record with the certificate number denotes the birth",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .pis("RK9", "", "陈小明", M, &b30, V1)
            .csyxzmbh(B1)
            .zt(2),
        &[],
    );
    t.check(
        "benign: a dead (zt 3) record with the child's ID denotes the birth (CS within grace)",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .cs(&kid, &m, V1, &ago(20))
            .pis_of("RK9", &kid, V1)
            .zt(3),
        &[],
    );
    t.check(
        "raised: zt 3 record denotes the birth, so the living child is RESIDENT_MISSING instead",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .cs(&kid, &m, V2, &ago(30))
            .pis_of("RK9", &kid, V1)
            .zt(3),
        &[("RESIDENT_MISSING", T2, sid(&kid))],
    );
    t.check("benign: a record without sfzh denotes the birth by mqSfzh (full-width, padded), csrq and xb",
        with_mum().birth_cert(B1, None, M, &b30, &m, V1).pis("RK9", "", "陈小明", M, &b30, V1).mq(&format!(" {} ", full_width(&m.id))),
        &[]);
    t.check(
        "benign: mother/date match but the record's sex differs: not the birth (and a PHANTOM)",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .pis("RK9", "", "陈小红", F, &b30, V1)
            .mq(&m.id),
        &[
            ("BIRTH_NOT_IN_PIS", T1, scert(B1)),
            ("PHANTOM_RECORD", T1, spid("RK9")),
        ],
    );
    t.check(
        "raised: a deleted record does not count",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .pis("RK9", "", "陈小明", M, &b30, V1)
            .csyxzmbh(B1)
            .deleted(),
        &[("BIRTH_NOT_IN_PIS", T1, scert(B1))],
    );
    t.check(
        "benign: voided certificate (version 2 VOID, dated before D)",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .version(B1, 2, "VOID", &ago(10)),
        &[],
    );
    t.check(
        "raised: void version dated after D does not count yet",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .version(B1, 2, "VOID", &ago(-1)),
        &[("BIRTH_NOT_IN_PIS", T1, scert(B1))],
    );
    t.check(
        "raised: voided then re-issued VALID on or before D",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .version(B1, 2, "VOID", &ago(20))
            .version(B1, 3, "VALID", &ago(0)),
        &[("BIRTH_NOT_IN_PIS", T1, scert(B1))],
    );
    t.check(
        "benign: voided, re-issue dated after D does not count yet",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .version(B1, 2, "VOID", &ago(20))
            .version(B1, 3, "VALID", &ago(-1)),
        &[],
    );

    // Twins: same mother, date, sex.
    t.check(
        "raised: unnamed twins: the one record pairs with the lower certificate number",
        with_mum()
            .birth_cert(B2, None, M, &b30, &m, V1)
            .birth_cert(B1, None, M, &b30, &m, V1)
            .pis("RK9", "", "陈大宝", M, &b30, V1)
            .mq(&m.id),
        &[("BIRTH_NOT_IN_PIS", T1, scert(B2))],
    );
    t.check(
        "raised: named twins: the record pairs by (normalised) name",
        with_mum()
            .birth_cert(B1, Some("陈大宝"), M, &b30, &m, V1)
            .birth_cert(B2, Some("陈二宝"), M, &b30, &m, V1)
            .pis("RK9", "", "陈 二宝", M, &b30, V1)
            .mq(&m.id),
        &[("BIRTH_NOT_IN_PIS", T1, scert(B1))],
    );
    t.check(
        "benign: named twins each with a record (records in reverse personId order)",
        with_mum()
            .birth_cert(B1, Some("陈大宝"), M, &b30, &m, V1)
            .birth_cert(B2, Some("陈二宝"), M, &b30, &m, V1)
            .pis("RK8", "", "陈二宝", M, &b30, V1)
            .mq(&m.id)
            .pis("RK9", "", "陈大宝", M, &b30, V1)
            .mq(&m.id),
        &[],
    );
    let twin1 = man("陈大", &b30, 1);
    let twin2 = man("陈二", &b30, 2);
    t.check(
        "raised: unnamed certificates pair with CS rows in lsh text order (L10 before L9)",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .birth_cert(B2, None, M, &b30, &m, V1)
            .cs(&twin1, &m, V2, &ago(20))
            .lsh("L9")
            .cs(&twin2, &m, V3, &ago(20))
            .lsh("L10")
            .pis_of("RK9", &twin2, V3),
        // B1 ↔ twin2 (L10) is denoted by RK9; B2 ↔ twin1 (L9) is not.
        &[("BIRTH_NOT_IN_PIS", T2, scert_child(B2, &twin1))],
    );
    t.check(
        "raised: named certificates pair with CS rows by name, not by lsh order",
        with_mum()
            .birth_cert(B1, Some("陈二"), M, &b30, &m, V1)
            .birth_cert(B2, Some("陈 大"), M, &b30, &m, V1)
            .cs(&twin1, &m, V2, &ago(20))
            .lsh("L1")
            .cs(&twin2, &m, V3, &ago(20))
            .lsh("L2")
            .pis_of("RK9", &twin1, V2),
        // B2 ↔ twin1 (陈大) is denoted by RK9; B1 ↔ twin2 (陈二) is not.
        &[("BIRTH_NOT_IN_PIS", T3, scert_child(B1, &twin2))],
    );
    t.finish();
}

#[test]
fn rules_birth_not_registered() {
    let mut t = Table::default();
    let m = mum();
    let b60 = ago(60);
    const B1: &str = "B000000001";
    // A record that denotes the birth, so that BIRTH_NOT_IN_PIS stays quiet.
    let base = |birth: &str, mother: &P, residence: &str| {
        let mut w = with_mum();
        w.birth_cert(B1, None, F, birth, mother, residence)
            .pis("RK9", "", "陈小红", F, birth, V1)
            .csyxzmbh(B1);
        w
    };

    t.check(
        "raised: birth on D-60, no CS row: routed to the mother's PSB township",
        &base(&b60, &m, V2),
        &[("BIRTH_NOT_REGISTERED", T1, scert(B1))],
    );
    t.check(
        "benign: birth on D-59 is within the 60-day grace",
        &base(&ago(59), &m, V2),
        &[],
    );
    t.check(
        "raised: mother unknown to psb: routed to the residence township",
        &base(&b60, &stranger_mum(), V2),
        &[("BIRTH_NOT_REGISTERED", T2, scert(B1))],
    );
    t.check(
        "raised: and with no PIS record either, both birth tickets",
        with_mum().birth_cert(B1, None, F, &b60, &m, V2),
        &[
            ("BIRTH_NOT_REGISTERED", T1, scert(B1)),
            ("BIRTH_NOT_IN_PIS", T1, scert(B1)),
        ],
    );
    let kid = woman("陈小红", &b60, 1);
    t.check(
        "benign: a CS row pairs with the certificate (by mother, date, sex)",
        base(&b60, &m, V2).cs(&kid, &m, V1, &ago(10)),
        &[],
    );
    t.check(
        "benign: voided certificate (its record now denotes no birth: PHANTOM_RECORD)",
        base(&b60, &m, V2).version(B1, 2, "VOID", &ago(5)),
        &[("PHANTOM_RECORD", T1, spid("RK9"))],
    );
    t.check(
        "raised: a void version dated after D does not count",
        base(&b60, &m, V2).version(B1, 2, "VOID", &ago(-2)),
        &[("BIRTH_NOT_REGISTERED", T1, scert(B1))],
    );
    t.check(
        "benign: certificate of another city",
        &base(&b60, &stranger_mum(), ELSEWHERE),
        &[],
    );
    t.check(
        "raised: the mother's PSB township is that of her latest row (QR into T3)",
        world()
            .psb("CSH", &m, V1, "2010-01-01")
            .psb("QR", &m, V3, &ago(200))
            .pis_of("RKM", &m, V3)
            .birth_cert(B1, None, F, &b60, &m, V2)
            .pis("RK9", "", "陈小红", F, &b60, V1)
            .csyxzmbh(B1),
        &[("BIRTH_NOT_REGISTERED", T3, scert(B1))],
    );
    t.finish();
}

// ---------------------------------------------------------------------------------------
// DEATH_NOT_RECORDED, MOVE_OUT_NOT_RECORDED, MOVE_IN_NOT_RECORDED
// ---------------------------------------------------------------------------------------

fn elder() -> P {
    man("赵六", "1950-01-01", 1)
}

fn with_elder() -> World {
    let mut w = world();
    w.resident("RK1", &elder(), V1);
    w
}

#[test]
fn rules_death_not_recorded() {
    let mut t = Table::default();
    let p = elder();
    let dnr = |town: &'static str, who: &P| ("DEATH_NOT_RECORDED", town, sid(who));

    t.check(
        "raised: cremation, died on D-30 (cremated later)",
        with_elder().cremation("HH1", &p, &ago(30), &ago(27)),
        &[dnr(T1, &p)],
    );
    t.check(
        "benign: died on D-29",
        with_elder().cremation("HH1", &p, &ago(29), &ago(27)),
        &[],
    );
    t.check(
        "raised: VALID death certificate, D-30",
        with_elder().death_cert("D1", &p, &ago(30)),
        &[dnr(T1, &p)],
    );
    t.check(
        "raised: psb SW dated by swrq (D-35), registered within grace",
        with_elder().sw(&p, V1, &ago(35), &ago(5)),
        &[dnr(T1, &p)],
    );
    t.check(
        "benign: psb SW with swrq on D-29",
        with_elder().sw(&p, V1, &ago(29), &ago(5)),
        &[],
    );
    t.check(
        "raised: sources disagree: the earliest date counts",
        with_elder()
            .cremation("HH1", &p, &ago(29), &ago(27))
            .death_cert("D1", &p, &ago(31)),
        &[dnr(T1, &p)],
    );
    t.check(
        "benign: cremation dated after D is ignored",
        with_elder().cremation("HH1", &p, &ago(40), &ago(-1)),
        &[],
    );
    t.check(
        "benign: SW row dated (ywrq) after D is ignored",
        with_elder().sw(&p, V1, &ago(40), &ago(-1)),
        &[],
    );
    t.check(
        "benign: voided death certificate",
        with_elder()
            .death_cert("D1", &p, &ago(40))
            .version("D1", 2, "VOID", &ago(10)),
        &[],
    );
    t.check(
        "raised: void version dated after D does not count yet",
        with_elder()
            .death_cert("D1", &p, &ago(40))
            .version("D1", 2, "VOID", &ago(-1)),
        &[dnr(T1, &p)],
    );
    t.check(
        "benign: voided, re-issued after D",
        with_elder()
            .death_cert("D1", &p, &ago(40))
            .version("D1", 2, "VOID", &ago(35))
            .version("D1", 3, "VALID", &ago(-1)),
        &[],
    );
    t.check(
        "raised: voided, re-issued on D",
        with_elder()
            .death_cert("D1", &p, &ago(40))
            .version("D1", 2, "VOID", &ago(35))
            .version("D1", 3, "VALID", &ago(0)),
        &[dnr(T1, &p)],
    );
    t.check(
        "benign: PIS record already dead (zt 3)",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .pis_of("RK1", &p, V1)
            .zt(3)
            .cremation("HH1", &p, &ago(40), &ago(38)),
        &[],
    );
    t.check(
        "benign: PIS record deleted",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .pis_of("RK1", &p, V1)
            .deleted()
            .cremation("HH1", &p, &ago(40), &ago(38)),
        &[],
    );

    // The record denotes the person whatever way its ID was typed.
    let px = P::with_x("钱七", M, "1951-07-08", 0);
    for (how, sfzh) in [
        ("legacy 15-digit", legacy15(&px.id)),
        ("lower-case x", px.id.to_lowercase()),
        ("full-width digits", full_width(&px.id)),
        (
            "surrounding and full-width spaces",
            format!("\u{3000} {} ", px.id),
        ),
    ] {
        t.check(
            &format!("raised: sfzh typed as {how}"),
            world()
                .psb("CSH", &px, V1, "2010-01-01")
                .pis("RK1", &sfzh, &px.name, M, &px.birth, V1)
                .cremation("HH1", &px, &ago(60), &ago(58)),
            &[dnr(T1, &px)],
        );
    }
    t.check(
        "raised: active records in two townships: one ticket in each (no RESIDENCE_MISMATCH)",
        with_elder()
            .pis_of("RK2", &p, V2)
            .cremation("HH1", &p, &ago(60), &ago(58)),
        &[
            dnr(T1, &p),
            dnr(T2, &p),
            ("DUPLICATE_RECORD", T2, spids(&["RK1", "RK2"])),
        ],
    );
    t.check(
        "precedence: dead: no IDENTITY, RESIDENCE or MARITAL ticket beside it",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .pis("RK1", &p.id, "赵九", M, &p.birth, V2)
            .hyzk("10")
            .marriage("JH1", "结婚", &p, &woman("某", "1952-01-01", 1), &ago(400))
            .cremation("HH1", &p, &ago(40), &ago(38)),
        &[dnr(T2, &p)],
    );
    t.check(
        "precedence: dead within grace: nothing at all yet",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .pis("RK1", &p.id, "赵九", M, &p.birth, V2)
            .cremation("HH1", &p, &ago(10), &ago(8)),
        &[],
    );
    let outsider = man("外地人", "1949-02-02", 3);
    t.check(
        "raised: dead person unknown to psb: DEATH_NOT_RECORDED, never PHANTOM_RECORD",
        world()
            .pis_of("RK5", &outsider, V3)
            .cremation("HH1", &outsider, &ago(40), &ago(38)),
        &[dnr(T3, &outsider)],
    );
    t.check(
        "benign: unknown to psb, died within grace: no PHANTOM_RECORD either",
        world()
            .pis_of("RK5", &outsider, V3)
            .cremation("HH1", &outsider, &ago(10), &ago(8)),
        &[],
    );
    let m = mum();
    let kid = man("陈小明", &ago(120), 1);
    t.check(
        "raised: a dead child whose record (no sfzh) denotes the birth",
        with_mum()
            .birth_cert("B000000001", None, M, &kid.birth, &m, V1)
            .cs(&kid, &m, V1, &ago(100))
            .pis("RK9", "", &kid.name, M, &kid.birth, V2)
            .csyxzmbh("B000000001")
            .death_cert("D1", &kid, &ago(40)),
        &[dnr(T2, &kid)],
    );
    t.finish();
}

#[test]
fn rules_move_out_not_recorded() {
    let mut t = Table::default();
    let p = elder();
    let out = |town: &'static str| ("MOVE_OUT_NOT_RECORDED", town, sid(&elder()));

    t.check(
        "raised: QC on D-30",
        with_elder().psb("QC", &p, V1, &ago(30)),
        &[out(T1)],
    );
    t.check(
        "benign: QC on D-29",
        with_elder().psb("QC", &p, V1, &ago(29)),
        &[],
    );
    t.check(
        "benign: QC dated after D is ignored",
        with_elder().psb("QC", &p, V1, &ago(-3)),
        &[],
    );
    t.check(
        "benign: the record is already moved out (zt 2)",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .pis_of("RK1", &p, V1)
            .zt(2)
            .psb("QC", &p, V1, &ago(60)),
        &[],
    );
    t.check(
        "benign: moved out and back in (QR later)",
        with_elder()
            .psb("QC", &p, V1, &ago(200))
            .psb("QR", &p, V1, &ago(100)),
        &[],
    );
    t.check(
        "raised: same ywrq, QC recorded later (djsj) is the current state",
        with_elder()
            .psb("QR", &p, V1, &ago(40))
            .djsj(&format!("{} 09:00:00", ago(40)))
            .psb("QC", &p, V1, &ago(40))
            .djsj(&format!("{} 15:00:00", ago(40))),
        &[out(T1)],
    );
    t.check(
        "benign: same ywrq, QR recorded later (djsj) is the current state",
        with_elder()
            .psb("QC", &p, V1, &ago(40))
            .djsj(&format!("{} 09:00:00", ago(40)))
            .psb("QR", &p, V1, &ago(40))
            .djsj(&format!("{} 15:00:00", ago(40))),
        &[],
    );
    t.check(
        "raised: records in two townships: one ticket each, no RESIDENCE or IDENTITY beside",
        with_elder()
            .pis("RK2", &p.id, "赵九", M, &p.birth, V2)
            .psb("QC", &p, V1, &ago(30)),
        &[
            out(T1),
            out(T2),
            ("DUPLICATE_RECORD", T2, spids(&["RK1", "RK2"])),
        ],
    );
    t.check(
        "precedence: QC within grace: off the register, no IDENTITY/RESIDENCE/MARITAL",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .pis("RK1", &p.id, "赵九", F, &p.birth, V2)
            .hyzk("10")
            .marriage("JH1", "结婚", &p, &woman("某", "1952-01-01", 1), &ago(400))
            .psb("QC", &p, V1, &ago(10)),
        &[],
    );
    t.finish();
}

#[test]
fn rules_move_in_not_recorded() {
    let mut t = Table::default();
    let p = elder();
    let min = |town: &'static str| ("MOVE_IN_NOT_RECORDED", town, sid(&elder()));

    t.check(
        "raised: QR into T2 on D-30, record still in T1 (no RESIDENCE_MISMATCH)",
        with_elder().psb("QR", &p, V2, &ago(30)),
        &[min(T2)],
    );
    t.check(
        "benign: QR on D-29",
        with_elder().psb("QR", &p, V2, &ago(29)),
        &[],
    );
    t.check(
        "benign: an active record in the destination township (another village)",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .psb("QR", &p, "349901002007", &ago(60))
            .pis_of("RK2", &p, V2),
        &[],
    );
    t.check(
        "benign: destination record present, stale record left in T1",
        with_elder()
            .psb("QR", &p, V2, &ago(60))
            .pis_of("RK2", &p, V2),
        // Equal modifiedTime: the larger personId (RK2, in T2) decides.
        &[("DUPLICATE_RECORD", T2, spids(&["RK1", "RK2"]))],
    );
    t.check(
        "raised: the destination record is moved out (zt 2)",
        with_elder()
            .psb("QR", &p, V2, &ago(60))
            .pis_of("RK2", &p, V2)
            .zt(2),
        &[min(T2)],
    );
    t.check(
        "benign: death evidence (even within grace)",
        with_elder()
            .psb("QR", &p, V2, &ago(60))
            .cremation("HH1", &p, &ago(5), &ago(3)),
        &[],
    );
    t.check(
        "raised: newcomer from another county with no record anywhere: not RESIDENT_MISSING",
        world().psb("QR", &p, V3, &ago(30)),
        &[min(T3)],
    );
    t.check(
        "benign: newcomer within grace: not RESIDENT_MISSING either",
        world().psb("QR", &p, V3, &ago(29)),
        &[],
    );
    t.check(
        "benign: move between villages of one township",
        with_elder().psb("QR", &p, V1B, &ago(60)),
        &[],
    );
    t.finish();
}

// ---------------------------------------------------------------------------------------
// RESIDENCE_MISMATCH, RESIDENT_MISSING
// ---------------------------------------------------------------------------------------

fn zhang() -> P {
    man("张三", "1980-03-04", 1)
}

#[test]
fn rules_residence_mismatch() {
    let mut t = Table::default();
    let p = zhang();
    let on_register = || {
        let mut w = world();
        w.psb("CSH", &zhang(), V1, "2010-01-01");
        w
    };
    let res = |town: &'static str| ("RESIDENCE_MISMATCH", town, sid(&zhang()));

    t.check(
        "raised: hukou in T1, record in T2",
        on_register().pis_of("RK1", &p, V2),
        &[res(T2)],
    );
    t.check(
        "benign: another village of the same township",
        on_register().pis_of("RK1", &p, V1B),
        &[],
    );
    t.check(
        "benign: the T2 record is moved out (zt 2): the person is RESIDENT_MISSING instead",
        on_register().pis_of("RK1", &p, V2).zt(2),
        &[("RESIDENT_MISSING", T1, sid(&p))],
    );
    t.check(
        "raised: records in T1 and T2: only the T2 one",
        on_register().pis_of("RK1", &p, V1).pis_of("RK2", &p, V2),
        &[res(T2), ("DUPLICATE_RECORD", T2, spids(&["RK1", "RK2"]))],
    );
    t.check(
        "raised: records in T2 and T3: one ticket in each",
        on_register().pis_of("RK1", &p, V2).pis_of("RK2", &p, V3),
        &[
            res(T2),
            res(T3),
            ("DUPLICATE_RECORD", T3, spids(&["RK1", "RK2"])),
        ],
    );
    t.check(
        "precedence: death evidence within grace: no RESIDENCE_MISMATCH",
        on_register()
            .pis_of("RK1", &p, V2)
            .cremation("HH1", &p, &ago(10), &ago(8)),
        &[],
    );
    t.check(
        "precedence: QC within grace: no RESIDENCE_MISMATCH",
        on_register()
            .pis_of("RK1", &p, V2)
            .psb("QC", &p, V1, &ago(10)),
        &[],
    );
    t.check(
        "benign: latest event a QR within grace (into T1, record in T2)",
        world()
            .psb("CSH", &p, V3, "2010-01-01")
            .psb("QR", &p, V1, &ago(29))
            .pis_of("RK1", &p, V2),
        &[],
    );
    t.check(
        "raised: latest event an overdue QR: MOVE_IN_NOT_RECORDED, not RESIDENCE_MISMATCH",
        world()
            .psb("CSH", &p, V3, "2010-01-01")
            .psb("QR", &p, V1, &ago(30))
            .pis_of("RK1", &p, V2),
        &[("MOVE_IN_NOT_RECORDED", T1, sid(&p))],
    );
    t.check(
        "benign: a BG after the QR keeps the QR's township (record in T2)",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .psb("QR", &p, V2, &ago(100))
            .psb("BG", &p, V2, &ago(50))
            .pis_of("RK1", &p, V2),
        &[],
    );
    t.check(
        "raised: after QR and BG, a record left in the old township",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .psb("QR", &p, V2, &ago(100))
            .psb("BG", &p, V2, &ago(50))
            .pis_of("RK1", &p, V1),
        &[res(T1)],
    );
    t.check(
        "raised: stands beside IDENTITY_MISMATCH on the same record",
        on_register().pis("RK1", &p.id, "张四", M, &p.birth, V2),
        &[res(T2), ("IDENTITY_MISMATCH", T2, sid(&p))],
    );
    t.finish();
}

#[test]
fn rules_resident_missing() {
    let mut t = Table::default();
    let p = zhang();
    let on_register = || {
        let mut w = world();
        w.psb("CSH", &zhang(), V1, "2010-01-01");
        w
    };
    let rm = |who: &P, town: &'static str| ("RESIDENT_MISSING", town, sid(who));

    t.check(
        "raised: on the register, no record at all",
        &on_register(),
        &[rm(&p, T1)],
    );
    t.check(
        "raised: the only record is moved out (zt 2)",
        on_register().pis_of("RK1", &p, V1).zt(2),
        &[rm(&p, T1)],
    );
    t.check(
        "raised: the only record is dead (zt 3)",
        on_register().pis_of("RK1", &p, V1).zt(3),
        &[rm(&p, T1)],
    );
    t.check(
        "raised: the only record is deleted",
        on_register().pis_of("RK1", &p, V1).deleted(),
        &[rm(&p, T1)],
    );
    t.check(
        "benign: a record with the ID full-width and padded",
        on_register().pis(
            "RK1",
            &format!(" {}\u{3000}", full_width(&p.id)),
            &p.name,
            M,
            &p.birth,
            V1,
        ),
        &[],
    );
    t.check(
        "benign: death evidence within grace",
        on_register().death_cert("D1", &p, &ago(3)),
        &[],
    );
    t.check(
        "benign: QC within grace",
        on_register().psb("QC", &p, V1, &ago(3)),
        &[],
    );
    t.check(
        "raised: after a BG (not CS/QR) within grace",
        on_register().psb("BG", &p, V2, &ago(3)),
        &[rm(&p, T2)],
    );
    let m = mum();
    let kid = man("陈小明", &ago(100), 1);
    // The birth is denoted (a zt-3 record), so BIRTH_NOT_IN_PIS does not cover the child.
    let born = |ywrq: &str| {
        let mut w = with_mum();
        w.cs(&kid, &m, V2, ywrq).pis_of("RK9", &kid, V2).zt(3);
        w
    };
    t.check(
        "benign: latest event a CS within grace",
        &born(&ago(29)),
        &[],
    );
    t.check(
        "raised: latest event a CS on D-30",
        &born(&ago(30)),
        &[rm(&kid, T2)],
    );

    // Suppression by an INVALID_ID record, and its suggestion.
    let typo = wrong_check(&p.id);
    t.check("suppressed: INVALID_ID record in the PSB township with the same name/csrq/xb carries the suggestion",
        on_register().pis("RK1", &typo, " 张　三 ", M, &p.birth, V1B), &[("INVALID_ID", T1, spid_suggest("RK1", &p))]);
    t.check(
        "not suppressed: the INVALID_ID record is in another township",
        on_register().pis("RK1", &typo, "张三", M, &p.birth, V2),
        &[rm(&p, T1), ("INVALID_ID", T2, spid("RK1"))],
    );
    t.check(
        "not suppressed: the INVALID_ID record's name differs",
        on_register().pis("RK1", &typo, "张山", M, &p.birth, V1),
        &[rm(&p, T1), ("INVALID_ID", T1, spid("RK1"))],
    );
    t.check(
        "not suppressed: the INVALID_ID record's csrq differs",
        on_register().pis("RK1", &typo, "张三", M, "1980-03-05", V1),
        &[rm(&p, T1), ("INVALID_ID", T1, spid("RK1"))],
    );
    t.check(
        "not suppressed: the matching record is deleted (no INVALID_ID for it)",
        on_register()
            .pis("RK1", &typo, "张三", M, &p.birth, V1)
            .deleted(),
        &[rm(&p, T1)],
    );
    let twin_name = man("张三", "1980-03-04", 9);
    t.check(
        "suppressed, no suggestion: two people with the same name and birth date match the record",
        on_register()
            .psb("CSH", &twin_name, V1B, "2010-01-01")
            .pis("RK1", &typo, "张三", M, &p.birth, V1),
        &[("INVALID_ID", T1, spid("RK1"))],
    );
    let other_valid = make_id(COUNTY, "19790101", 11);
    t.check(
        "suppressed: a valid ID of nobody that contradicts the record's csrq, with suggestion",
        on_register().pis("RK1", &other_valid, "张三", M, &p.birth, V1),
        &[("INVALID_ID", T1, spid_suggest("RK1", &p))],
    );
    t.check(
        "suppressed: record shows the identity before a BG still within grace",
        on_register()
            .psb("BG", &p.named("张叁"), V1, &ago(29))
            .pis("RK1", &typo, "张三", M, &p.birth, V1),
        &[("INVALID_ID", T1, spid_suggest("RK1", &p))],
    );
    t.check(
        "not suppressed: the BG is overdue, the record shows the old identity",
        on_register()
            .psb("BG", &p.named("张叁"), V1, &ago(30))
            .pis("RK1", &typo, "张三", M, &p.birth, V1),
        &[rm(&p, T1), ("INVALID_ID", T1, spid("RK1"))],
    );
    t.finish();
}

// ---------------------------------------------------------------------------------------
// PHANTOM_RECORD, INVALID_ID, IDENTITY_MISMATCH
// ---------------------------------------------------------------------------------------

#[test]
fn rules_phantom_record() {
    let mut t = Table::default();
    let nobody = man("孙七", "1990-01-01", 5);
    let phantom = |pid: &str| {
        (
            "PHANTOM_RECORD",
            T1,
            sphantom(pid, &man("孙七", "1990-01-01", 5).id),
        )
    };

    t.check(
        "raised: a valid ID that is no PSB person's, consistent with csrq and xb",
        world().pis_of("RK1", &nobody, V1),
        &[phantom("RK1")],
    );
    t.check(
        "raised: same, typed as a legacy 15-digit ID: subject holds the normalised ID",
        world().pis(
            "RK1",
            &legacy15(&nobody.id),
            &nobody.name,
            M,
            &nobody.birth,
            V1,
        ),
        &[phantom("RK1")],
    );
    t.check(
        "raised: no sfzh, no birth, csrq on D-30",
        world().pis("RK1", "", "无名", F, &ago(30), V1),
        &[("PHANTOM_RECORD", T1, spid("RK1"))],
    );
    t.check(
        "benign: no sfzh, csrq on D-29",
        world().pis("RK1", "", "无名", F, &ago(29), V1),
        &[],
    );
    let m = mum();
    t.check(
        "benign: no sfzh, denotes a birth by mother, date and sex",
        with_mum()
            .birth_cert("B000000001", None, F, &ago(40), &m, V1)
            .pis("RK1", "", "陈小红", F, &ago(40), V1)
            .mq(&m.id),
        &[],
    );
    t.check(
        "precedence: valid ID of nobody contradicting csrq: INVALID_ID, not PHANTOM_RECORD",
        world().pis("RK1", &nobody.id, &nobody.name, M, "1990-01-02", V1),
        &[("INVALID_ID", T1, spid("RK1"))],
    );
    t.check(
        "precedence: an invalid ID: INVALID_ID only",
        world().pis(
            "RK1",
            &wrong_check(&nobody.id),
            &nobody.name,
            M,
            &nobody.birth,
            V1,
        ),
        &[("INVALID_ID", T1, spid("RK1"))],
    );
    t.check(
        "precedence: the ID has death evidence within grace: nothing",
        world()
            .pis_of("RK1", &nobody, V1)
            .cremation("HH1", &nobody, &ago(10), &ago(9)),
        &[],
    );
    t.check(
        "precedence: the ID has overdue death evidence: DEATH_NOT_RECORDED only",
        world()
            .pis_of("RK1", &nobody, V1)
            .death_cert("D1", &nobody, &ago(30)),
        &[("DEATH_NOT_RECORDED", T1, sid(&nobody))],
    );
    t.check(
        "benign: moved-out record (zt 2)",
        world().pis_of("RK1", &nobody, V1).zt(2),
        &[],
    );
    t.check(
        "benign: dead record (zt 3)",
        world().pis_of("RK1", &nobody, V1).zt(3),
        &[],
    );
    t.check(
        "benign: deleted record",
        world().pis_of("RK1", &nobody, V1).deleted(),
        &[],
    );
    t.check(
        "raised: the person's only psb row is dated after D",
        world()
            .psb("QR", &nobody, V1, &ago(-2))
            .pis_of("RK1", &nobody, V1),
        &[phantom("RK1")],
    );
    t.check("benign: the person is a PSB person (record in another township: RESIDENCE_MISMATCH instead)",
        world().psb("CSH", &nobody, V2, "2010-01-01").pis_of("RK1", &nobody, V1),
        &[("RESIDENCE_MISMATCH", T1, sid(&nobody))]);
    t.finish();
}

#[test]
fn rules_invalid_id() {
    let mut t = Table::default();
    let p = zhang();
    let resident = || {
        let mut w = world();
        w.psb("CSH", &zhang(), V1, "2010-01-01");
        w
    };
    let inv = |town: &'static str| ("INVALID_ID", town, spid("RK1"));
    // These records match no PSB person, so RESIDENT_MISSING would stand beside them:
    // use someone else's name so that no suggestion is made.
    let rm = ("RESIDENT_MISSING", T1, sid(&p));

    for (how, sfzh) in [
        ("a wrong check character", wrong_check(&p.id)),
        ("17 characters", p.id[..17].to_string()),
        ("an impossible date", make_id(COUNTY, "19810230", 11)),
        ("letters", "3499011980ABCD1234".to_string()),
        ("a 15-digit ID with a letter", "34990180030401X".to_string()),
    ] {
        t.check(
            &format!("raised: {how}"),
            resident().pis("RK1", &sfzh, "某人", M, &p.birth, V1),
            &[inv(T1), rm.clone()],
        );
    }
    t.check(
        "raised: routed to the record's township",
        resident().pis("RK1", &wrong_check(&p.id), "某人", M, &p.birth, V3),
        &[inv(T3), rm.clone()],
    );
    let px = P::with_x("王五", M, "1972-08-18", 0);
    for (how, sfzh) in [
        ("lower-case x", px.id.to_lowercase()),
        ("full-width digits and Ｘ", full_width(&px.id)),
        ("legacy 15 digits", legacy15(&px.id)),
        ("surrounding spaces", format!("  {}\u{3000}", px.id)),
    ] {
        t.check(
            &format!("benign: a PSB person's ID typed with {how}"),
            world()
                .psb("CSH", &px, V1, "2010-01-01")
                .pis("RK1", &sfzh, &px.name, M, &px.birth, V1),
            &[],
        );
    }
    let nobody = woman("孙七", "1990-01-01", 5);
    t.check(
        "raised: valid ID of nobody that contradicts the record's xb",
        world().pis("RK1", &nobody.id, &nobody.name, M, &nobody.birth, V1),
        &[inv(T1)],
    );
    t.check(
        "raised: valid ID of nobody that contradicts the record's csrq",
        world().pis("RK1", &nobody.id, &nobody.name, F, "1991-01-01", V1),
        &[inv(T1)],
    );
    t.check("precedence: a PSB person's ID with a contradicting csrq: IDENTITY_MISMATCH, not INVALID_ID",
        resident().pis("RK1", &p.id, &p.name, M, "1980-03-05", V1), &[("IDENTITY_MISMATCH", T1, sid(&p))]);
    t.check(
        "benign: moved-out record (zt 2)",
        resident()
            .pis("RK1", &wrong_check(&p.id), "某人", M, &p.birth, V1)
            .zt(2),
        std::slice::from_ref(&rm),
    );
    t.check(
        "benign: deleted record",
        resident()
            .pis("RK1", &wrong_check(&p.id), "某人", M, &p.birth, V1)
            .deleted(),
        std::slice::from_ref(&rm),
    );
    t.check(
        "benign: empty sfzh is not INVALID_ID (a young child without a birth: PHANTOM_RECORD)",
        world().pis("RK1", "  ", "某人", M, "2014-01-01", V1),
        &[("PHANTOM_RECORD", T1, spid("RK1"))],
    );
    t.finish();
}

#[test]
fn rules_identity_mismatch() {
    let mut t = Table::default();
    let p = zhang();
    let resident = |who: &P| {
        let mut w = world();
        w.psb("CSH", who, V1, "2010-01-01");
        w
    };
    let im = |who: &P, town: &'static str| ("IDENTITY_MISMATCH", town, sid(who));

    t.check(
        "raised: name differs",
        resident(&p).pis("RK1", &p.id, "张四", M, &p.birth, V1),
        &[im(&p, T1)],
    );
    t.check(
        "raised: xb differs",
        resident(&p).pis("RK1", &p.id, &p.name, F, &p.birth, V1),
        &[im(&p, T1)],
    );
    t.check(
        "raised: csrq differs",
        resident(&p).pis("RK1", &p.id, &p.name, M, "1980-04-03", V1),
        &[im(&p, T1)],
    );
    t.check(
        "raised: routed to the record's township (another village, same township)",
        resident(&p).pis("RK1", &p.id, "张四", M, &p.birth, V1B),
        &[im(&p, T1)],
    );
    for name in [
        " 张三 ",
        "张 三",
        "张\u{3000}三",
        "\u{3000}张三\u{3000}",
        "张\u{00a0}三",
    ] {
        t.check(
            &format!("benign: name {name:?} normalises to 张三"),
            resident(&p).pis("RK1", &p.id, name, M, &p.birth, V1),
            &[],
        );
    }
    let q = man("买买提·艾力", "1985-06-07", 1);
    for name in [
        "买买提.艾力",
        "买买提•艾力",
        "买买提・艾力",
        "买买提‧艾力",
        "买买提．艾力",
        "买买提∙艾力",
        " 买买提 · 艾力 ",
    ] {
        t.check(
            &format!("benign: middle-dot variant {name:?}"),
            resident(&q).pis("RK1", &q.id, name, M, &q.birth, V1),
            &[],
        );
    }
    t.check(
        "benign: psb typed the dot as '.', the register as '·'",
        resident(&q.named("买买提.艾力")).pis_of("RK1", &q, V1),
        &[],
    );
    t.check(
        "raised: a different minority name",
        resident(&q).pis("RK1", &q.id, "买买提·阿力", M, &q.birth, V1),
        &[im(&q, T1)],
    );

    // BG corrections within grace.
    let renamed = p.named("张叁");
    t.check(
        "benign: BG within grace (D-29), record shows the identity before it",
        resident(&p)
            .psb("BG", &renamed, V1, &ago(29))
            .pis_of("RK1", &p, V1),
        &[],
    );
    t.check(
        "benign: BG within grace, record shows the corrected identity",
        resident(&p)
            .psb("BG", &renamed, V1, &ago(29))
            .pis_of("RK1", &renamed, V1),
        &[],
    );
    t.check(
        "raised: BG within grace, record shows neither identity",
        resident(&p)
            .psb("BG", &renamed, V1, &ago(29))
            .pis("RK1", &p.id, "张四", M, &p.birth, V1),
        &[im(&p, T1)],
    );
    t.check(
        "raised: BG overdue (D-30), record shows the identity before it",
        resident(&p)
            .psb("BG", &renamed, V1, &ago(30))
            .pis_of("RK1", &p, V1),
        &[im(&p, T1)],
    );
    t.check(
        "benign: BG correcting csrq within grace, record shows the old csrq",
        resident(&p)
            .psb("BG", &p.born("1980-04-03"), V1, &ago(5))
            .pis_of("RK1", &p, V1),
        &[],
    );
    t.check(
        "benign: BG correcting xb within grace, record shows the old xb",
        resident(&p)
            .psb("BG", &p.sexed(F), V1, &ago(5))
            .pis_of("RK1", &p, V1),
        &[],
    );
    let b = p.named("张叁");
    let c = p.named("张参");
    for (shown, want) in [
        (&p, vec![]),
        (&b, vec![]),
        (&c, vec![]),
        (&p.named("张四"), vec![im(&p, T1)]),
    ] {
        t.check(
            &format!("two BGs within grace, record shows {}", shown.name),
            resident(&p)
                .psb("BG", &b, V1, &ago(20))
                .psb("BG", &c, V1, &ago(10))
                .pis_of("RK1", shown, V1),
            &want,
        );
    }
    for (shown, want) in [(&p, vec![im(&p, T1)]), (&b, vec![]), (&c, vec![])] {
        t.check(
            &format!(
                "BG overdue then BG within grace, record shows {}",
                shown.name
            ),
            resident(&p)
                .psb("BG", &b, V1, &ago(40))
                .psb("BG", &c, V1, &ago(10))
                .pis_of("RK1", shown, V1),
            &want,
        );
    }

    t.check(
        "precedence: death evidence within grace: no IDENTITY_MISMATCH",
        resident(&p)
            .pis("RK1", &p.id, "张四", M, &p.birth, V1)
            .cremation("HH1", &p, &ago(10), &ago(9)),
        &[],
    );
    t.check(
        "precedence: QC within grace: no IDENTITY_MISMATCH",
        resident(&p)
            .pis("RK1", &p.id, "张四", M, &p.birth, V1)
            .psb("QC", &p, V1, &ago(10)),
        &[],
    );
    t.check(
        "raised: records in two townships: one in each (and RESIDENCE, DUPLICATE beside)",
        resident(&p)
            .pis("RK1", &p.id, "张四", M, &p.birth, V1)
            .pis("RK2", &p.id, "张四", M, &p.birth, V2),
        &[
            im(&p, T1),
            im(&p, T2),
            ("RESIDENCE_MISMATCH", T2, sid(&p)),
            ("DUPLICATE_RECORD", T2, spids(&["RK1", "RK2"])),
        ],
    );
    let m = mum();
    let kid = man("陈小明", &ago(120), 1);
    t.check(
        "raised: a child's record without sfzh denotes them through the birth",
        with_mum()
            .birth_cert("B000000001", None, M, &kid.birth, &m, V1)
            .cs(&kid, &m, V1, &ago(100))
            .pis("RK9", "", "陈晓明", M, &kid.birth, V1)
            .csyxzmbh("B000000001"),
        &[im(&kid, T1)],
    );
    t.finish();
}

// ---------------------------------------------------------------------------------------
// DUPLICATE_RECORD, MARITAL_STATUS_MISMATCH
// ---------------------------------------------------------------------------------------

#[test]
fn rules_duplicate_record() {
    let mut t = Table::default();
    let p = P::with_x("王五", M, "1972-08-18", 0);
    let on_register = || {
        let mut w = world();
        w.psb(
            "CSH",
            &P::with_x("王五", M, "1972-08-18", 0),
            V1,
            "2010-01-01",
        );
        w
    };
    let dup = |town: &'static str, ids: &[&str]| ("DUPLICATE_RECORD", town, spids(ids));
    let res = |town: &'static str| {
        (
            "RESIDENCE_MISMATCH",
            town,
            sid(&P::with_x("王五", M, "1972-08-18", 0)),
        )
    };

    t.check(
        "raised: two records with the same ID in one township",
        on_register().pis_of("RK1", &p, V1).pis_of("RK2", &p, V1B),
        &[dup(T1, &["RK1", "RK2"])],
    );
    t.check(
        "raised: same ID typed differently (lower-case x / 15-digit); the newer record's township",
        on_register()
            .pis("RK1", &legacy15(&p.id), &p.name, M, &p.birth, V1)
            .modified("2014-03-01 10:00:00")
            .pis("RK2", &p.id.to_lowercase(), &p.name, M, &p.birth, V2)
            .modified("2014-03-01 10:00:01"),
        &[dup(T2, &["RK1", "RK2"]), res(T2)],
    );
    t.check(
        "raised: the older record in T2: the ticket goes to T1",
        on_register()
            .pis_of("RK1", &p, V1)
            .modified("2014-05-01 00:00:00")
            .pis_of("RK2", &p, V2)
            .modified("2014-04-30 23:59:59"),
        &[dup(T1, &["RK1", "RK2"]), res(T2)],
    );
    t.check(
        "raised: equal modifiedTime: the larger personId's township (RK2 in T1)",
        on_register().pis_of("RK2", &p, V1).pis_of("RK1", &p, V2),
        &[dup(T1, &["RK1", "RK2"]), res(T2)],
    );
    t.check(
        "raised: three records: one ticket, ids sorted",
        on_register()
            .pis_of("RK3", &p, V1)
            .pis_of("RK1", &p, V1)
            .pis_of("RK2", &p, V1B),
        &[dup(T1, &["RK1", "RK2", "RK3"])],
    );
    t.check(
        "benign: the other record is moved out (zt 2)",
        on_register()
            .pis_of("RK1", &p, V1)
            .pis_of("RK2", &p, V2)
            .zt(2),
        &[],
    );
    t.check(
        "benign: the other record is dead (zt 3)",
        on_register()
            .pis_of("RK1", &p, V1)
            .pis_of("RK2", &p, V2)
            .zt(3),
        &[],
    );
    t.check(
        "benign: the other record is deleted",
        on_register()
            .pis_of("RK1", &p, V1)
            .pis_of("RK2", &p, V2)
            .deleted(),
        &[],
    );

    let m = mum();
    const B1: &str = "B000000001";
    const B2: &str = "B000000002";
    let b40 = ago(40);
    t.check(
        "raised: neither has sfzh, both denote the same birth (csyxzmbh)",
        with_mum()
            .birth_cert(B1, None, F, &b40, &m, V1)
            .pis("RK1", "", "陈小红", F, &b40, V1)
            .csyxzmbh(B1)
            .pis("RK2", "", "", F, &b40, V1)
            .csyxzmbh(B1),
        &[dup(T1, &["RK1", "RK2"])],
    );
    let young = ago(10);
    t.check("raised: neither has sfzh, no birth known: same mqSfzh (typed differently), csrq, xb and name",
        with_mum()
            .pis("RK1", "", "陈 宝", F, &young, V1).mq(&m.id)
            .pis("RK2", "", "陈宝", F, &young, V1).mq(&full_width(&m.id)),
        &[dup(T1, &["RK1", "RK2"])]);
    t.check(
        "benign: same mother, date and sex but different names (twins)",
        with_mum()
            .pis("RK1", "", "陈大宝", F, &young, V1)
            .mq(&m.id)
            .pis("RK2", "", "陈二宝", F, &young, V1)
            .mq(&m.id),
        &[],
    );
    t.check(
        "benign: same name, csrq, xb but different mothers",
        with_mum()
            .pis("RK1", "", "陈宝", F, &young, V1)
            .mq(&m.id)
            .pis("RK2", "", "陈宝", F, &young, V1)
            .mq(&stranger_mum().id),
        &[],
    );
    t.check(
        "benign: named twins, each record denotes its own birth",
        with_mum()
            .birth_cert(B1, Some("陈大宝"), F, &b40, &m, V1)
            .birth_cert(B2, Some("陈二宝"), F, &b40, &m, V1)
            .pis("RK1", "", "陈二宝", F, &b40, V1)
            .mq(&m.id)
            .pis("RK2", "", "陈大宝", F, &b40, V1)
            .mq(&m.id),
        &[],
    );
    let kid = woman("陈小红", &ago(120), 1);
    t.check(
        "raised: one record has the child's ID, the other (no sfzh) denotes the child's birth",
        with_mum()
            .birth_cert(B1, None, F, &kid.birth, &m, V1)
            .cs(&kid, &m, V1, &ago(100))
            .csyxzmbh_cs(B1)
            .pis_of("RK1", &kid, V1)
            .pis("RK2", "", "", F, &kid.birth, V2)
            .mq(&m.id)
            .modified("2014-06-01 00:00:00"),
        // RK2 denotes the child: it is also in the wrong township and has no name.
        &[
            dup(T2, &["RK1", "RK2"]),
            ("RESIDENCE_MISMATCH", T2, sid(&kid)),
            ("IDENTITY_MISMATCH", T2, sid(&kid)),
        ],
    );
    t.check(
        "raised: stands beside DEATH_NOT_RECORDED",
        on_register()
            .pis_of("RK1", &p, V1)
            .pis_of("RK2", &p, V1)
            .cremation("HH1", &p, &ago(50), &ago(48)),
        &[
            dup(T1, &["RK1", "RK2"]),
            ("DEATH_NOT_RECORDED", T1, sid(&p)),
        ],
    );
    t.finish();
}

fn husband() -> P {
    man("刘强", "1985-01-01", 1)
}

fn wife() -> P {
    woman("陈静", "1987-01-01", 1)
}

/// Husband (RKH) and wife (RKW) both on the register in T1, with the given `hyzk`.
fn couple(h_hyzk: &str, w_hyzk: &str) -> World {
    let mut w = world();
    w.resident("RKH", &husband(), V1)
        .hyzk(h_hyzk)
        .resident("RKW", &wife(), V1)
        .hyzk(w_hyzk);
    w
}

#[test]
fn rules_marital_status_mismatch() {
    let mut t = Table::default();
    let (h, wf) = (husband(), wife());
    let msm = |who: &P, town: &'static str| ("MARITAL_STATUS_MISMATCH", town, sid(who));

    t.check(
        "raised: married on D-30, wife still unmarried",
        couple("20", "10").marriage("JH1", "结婚", &h, &wf, &ago(30)),
        &[msm(&wf, T1)],
    );
    t.check(
        "raised: married, hyzk empty",
        world()
            .resident("RKH", &h, V1)
            .resident("RKW", &wf, V1)
            .hyzk("20")
            .marriage("JH1", "结婚", &h, &wf, &ago(30)),
        &[msm(&h, T1)],
    );
    t.check(
        "benign: married on D-29 (no overdue event)",
        couple("10", "10").marriage("JH1", "结婚", &h, &wf, &ago(29)),
        &[],
    );
    t.check(
        "benign: married registered after D",
        couple("10", "10").marriage("JH1", "结婚", &h, &wf, &ago(-1)),
        &[],
    );
    for code in ["20", "21", "22", "23"] {
        t.check(
            &format!("benign: married, hyzk {code}"),
            couple(code, code).marriage("JH1", "结婚", &h, &wf, &ago(300)),
            &[],
        );
    }
    t.check(
        "raised: married, hyzk 90 (not stated)",
        couple("90", "20").marriage("JH1", "结婚", &h, &wf, &ago(300)),
        &[msm(&h, T1)],
    );
    let divorced = |hh: &str, ww: &str, when: i64| {
        let mut w = couple(hh, ww);
        w.marriage("JH1", "结婚", &husband(), &wife(), &ago(400))
            .marriage("LH1", "离婚", &husband(), &wife(), &ago(when));
        w
    };
    t.check(
        "benign: divorce within grace, still 20 (what the overdue events imply)",
        &divorced("20", "20", 10),
        &[],
    );
    t.check(
        "benign: divorce within grace, already 40 (what all events imply)",
        &divorced("40", "40", 10),
        &[],
    );
    t.check(
        "raised: divorce within grace, hyzk 10 agrees with neither",
        &divorced("10", "40", 10),
        &[msm(&h, T1)],
    );
    t.check(
        "raised: divorce overdue, still 20",
        &divorced("20", "40", 30),
        &[msm(&h, T1)],
    );
    t.check(
        "benign: replacement certificate changes nothing",
        couple("20", "21")
            .marriage("JH1", "结婚", &h, &wf, &ago(400))
            .marriage("BL1", "补领结婚证", &h, &wf, &ago(40)),
        &[],
    );
    t.check(
        "raised: replacement certificate after a divorce does not re-marry",
        divorced("20", "40", 200).marriage("BL1", "补领结婚证", &h, &wf, &ago(40)),
        &[msm(&h, T1)],
    );
    t.check(
        "benign: only a replacement certificate: implies no status",
        couple("10", "10").marriage("BL1", "补领结婚证", &h, &wf, &ago(40)),
        &[],
    );
    t.check(
        "benign: annulment undoes the marriage: implies no status",
        couple("10", "20")
            .marriage("JH1", "结婚", &h, &wf, &ago(100))
            .marriage("CX1", "撤销婚姻", &h, &wf, &ago(50)),
        &[],
    );
    t.check(
        "benign: marriage overdue, annulled within grace: all events up to D imply no status",
        couple("10", "10")
            .marriage("JH1", "结婚", &h, &wf, &ago(100))
            .marriage("CX1", "撤销婚姻", &h, &wf, &ago(10)),
        &[],
    );
    let ex = woman("前妻", "1986-01-01", 2);
    let annulled_second = |hh: &str| {
        let mut w = couple(hh, "10");
        w.marriage(
            "JH0",
            "结婚",
            &husband(),
            &woman("前妻", "1986-01-01", 2),
            &ago(600),
        )
        .marriage(
            "LH0",
            "离婚",
            &husband(),
            &woman("前妻", "1986-01-01", 2),
            &ago(500),
        )
        .marriage("JH1", "结婚", &husband(), &wife(), &ago(100))
        .marriage("CX1", "撤销婚姻", &husband(), &wife(), &ago(50));
        w
    };
    t.check(
        "benign: annulled second marriage: back to divorced (40)",
        &annulled_second("40"),
        &[],
    );
    t.check(
        "raised: annulled second marriage, register still says married",
        &annulled_second("20"),
        &[msm(&h, T1)],
    );
    t.check(
        "raised: an annulment of another couple undoes nothing of this one",
        couple("40", "20")
            .marriage("JH1", "结婚", &h, &wf, &ago(400))
            .marriage("CX9", "撤销婚姻", &h, &ex, &ago(50)),
        &[msm(&h, T1)],
    );

    // Spouse death.
    t.check(
        "raised: wife died on D-30: husband still 20 (and her own record: DEATH_NOT_RECORDED only)",
        couple("20", "20")
            .marriage("JH1", "结婚", &h, &wf, &ago(400))
            .cremation("HH1", &wf, &ago(30), &ago(28)),
        &[msm(&h, T1), ("DEATH_NOT_RECORDED", T1, sid(&wf))],
    );
    t.check(
        "benign: wife died on D-30, husband widowed (30)",
        couple("30", "20")
            .marriage("JH1", "结婚", &h, &wf, &ago(400))
            .cremation("HH1", &wf, &ago(30), &ago(28)),
        &[("DEATH_NOT_RECORDED", T1, sid(&wf))],
    );
    for code in ["20", "30"] {
        t.check(
            &format!("benign: wife died within grace, husband {code}"),
            couple(code, "20")
                .marriage("JH1", "结婚", &h, &wf, &ago(400))
                .death_cert("D1", &wf, &ago(29)),
            &[],
        );
    }
    t.check(
        "raised: wife died within grace, husband 10",
        couple("10", "20")
            .marriage("JH1", "结婚", &h, &wf, &ago(400))
            .death_cert("D1", &wf, &ago(29)),
        &[msm(&h, T1)],
    );
    t.check(
        "benign: widowed then remarried: 20",
        couple("20", "20")
            .marriage("JH0", "结婚", &h, &ex, &ago(600))
            .cremation("HH0", &ex, &ago(500), &ago(498))
            .marriage("JH1", "结婚", &h, &wf, &ago(100)),
        &[],
    );
    t.check(
        "raised: widowed then remarried, register still 30",
        couple("30", "20")
            .marriage("JH0", "结婚", &h, &ex, &ago(600))
            .cremation("HH0", &ex, &ago(500), &ago(498))
            .marriage("JH1", "结婚", &h, &wf, &ago(100)),
        &[msm(&h, T1)],
    );
    t.check(
        "benign: divorced, then the ex-wife died: still 40",
        divorced("40", "40", 300).cremation("HH1", &wf, &ago(100), &ago(98)),
        &[("DEATH_NOT_RECORDED", T1, sid(&wf))],
    );
    t.check(
        "raised: divorced, then the ex-wife died: 30 is wrong",
        divorced("30", "40", 300).cremation("HH1", &wf, &ago(100), &ago(98)),
        &[msm(&h, T1), ("DEATH_NOT_RECORDED", T1, sid(&wf))],
    );

    // Precedence and routing.
    t.check(
        "precedence: dead (within grace): no MARITAL_STATUS_MISMATCH",
        couple("20", "10")
            .marriage("JH1", "结婚", &h, &wf, &ago(300))
            .death_cert("D1", &wf, &ago(5)),
        &[],
    );
    t.check(
        "precedence: moved out (QC within grace): no MARITAL_STATUS_MISMATCH",
        couple("20", "10")
            .marriage("JH1", "结婚", &h, &wf, &ago(300))
            .psb("QC", &wf, V1, &ago(5)),
        &[],
    );
    t.check(
        "raised: records in two townships: one in each (RESIDENCE, DUPLICATE beside)",
        couple("20", "10")
            .marriage("JH1", "结婚", &h, &wf, &ago(300))
            .pis_of("RKW2", &wf, V2)
            .hyzk("10"),
        &[
            msm(&wf, T1),
            msm(&wf, T2),
            ("RESIDENCE_MISMATCH", T2, sid(&wf)),
            ("DUPLICATE_RECORD", T2, spids(&["RKW", "RKW2"])),
        ],
    );
    let outsider = man("外地人", "1984-01-01", 3);
    t.check(
        "raised: a person unknown to psb is not off the register: PHANTOM and MARITAL both",
        couple("20", "20")
            .pis_of("RKX", &outsider, V2)
            .hyzk("10")
            .marriage("JH1", "结婚", &outsider, &ex, &ago(100)),
        &[
            msm(&outsider, T2),
            ("PHANTOM_RECORD", T2, sphantom("RKX", &outsider.id)),
        ],
    );
    t.check(
        "benign: no active record (zt 2): no MARITAL ticket (RESIDENT_MISSING instead)",
        world()
            .resident("RKH", &h, V1)
            .hyzk("20")
            .psb("CSH", &wf, V1, "2010-01-01")
            .pis_of("RKW", &wf, V1)
            .hyzk("10")
            .zt(2)
            .marriage("JH1", "结婚", &h, &wf, &ago(300)),
        &[("RESIDENT_MISSING", T1, sid(&wf))],
    );
    t.finish();
}

/// A golden record as a line: key, state, township, then each field with the record
/// it came from, then each link.
fn golden_line(p: &popsync::reconcile::GoldenRecord<'_>) -> String {
    let mut out = format!(
        "{} {} {}",
        p.key,
        p.state,
        p.township.map(|t| t.to_string()).unwrap_or_default()
    );
    for f in &p.fields {
        let r = &p.refs[f.from as usize];
        out.push_str(&format!(
            " | {}={} <{}:{}>",
            f.name, f.value, r.source, r.key
        ));
    }
    for l in &p.links {
        out.push_str(&format!(" | link {}:{}", l.source, l.key));
    }
    out
}

/// The registry is planned first and each golden record built when it is written:
/// every kind of person comes out with each field's source and every record that
/// denotes them, in key order.
#[test]
fn registry_golden_records_name_their_sources_and_links() {
    let h = man("张伟", "1980-03-04", 1);
    let wf = woman("李娜", "1982-05-06", 2);
    let dead = man("王强", "1950-01-02", 3);
    let outsider = man("外地人", "1984-01-01", 4);
    let mut w = world();
    w.resident("RKH", &h, V1)
        .hyzk("20")
        .resident("RKW", &wf, V1)
        .marriage("JH1", "结婚", &h, &wf, &ago(300))
        .resident("RKD", &dead, V2)
        .death_cert("SW1", &dead, &ago(100))
        .birth_cert("CS1", Some("张小"), M, &ago(200), &wf, V1)
        .pis_of("RKX", &outsider, V3)
        .hyzk("10");
    let out = reconcile(&w.snap, &w.params());
    let registry = &out.registry;
    let lines: Vec<String> = (0..registry.count())
        .map(|at| {
            assert_eq!(registry.key(at), registry.golden(at).key.as_str());
            golden_line(&registry.golden(at))
        })
        .collect();
    let d100 = ago(100);
    let want = [
        format!(
            "{} on_register 349901001 | name=张伟 <psb:L000001> | sex=男 <psb:L000001> \
             | birth_date=1980-03-04 <psb:L000001> | township=349901001 <psb:L000001> \
             | state=在册 <psb:L000001> | marital_status=已婚 <mca:JH1> \
             | link mca.marriage:JH1/husband | link pis:RKH | link psb:L000001",
            h.id
        ),
        format!(
            "{} on_register 349901001 | name=李娜 <psb:L000002> | sex=女 <psb:L000002> \
             | birth_date=1982-05-06 <psb:L000002> | township=349901001 <psb:L000002> \
             | state=在册 <psb:L000002> | marital_status=已婚 <mca:JH1> \
             | link mca.marriage:JH1/wife | link pis:RKW | link psb:L000002",
            wf.id
        ),
        format!(
            "{} dead 349901002 | name=王强 <psb:L000003> | sex=男 <psb:L000003> \
             | birth_date=1950-01-02 <psb:L000003> | township=349901002 <psb:L000003> \
             | state=死亡 {d100} <nhc:SW1#1> \
             | link nhc.death:SW1#1 | link pis:RKD | link psb:L000003",
            dead.id
        ),
        format!(
            "{} pis_only 349901003 | name=外地人 <pis:RKX> | sex=男 <pis:RKX> \
             | birth_date=1984-01-01 <pis:RKX> | township=349901003 <pis:RKX> \
             | marital_status=未婚 <pis:RKX> | link pis:RKX",
            outsider.id
        ),
        format!(
            "birth:CS1 unregistered_birth 349901001 | name=张小 <nhc:CS1#1> | sex=男 <nhc:CS1#1> \
             | birth_date={} <nhc:CS1#1> | mother_id={} <nhc:CS1#1> \
             | state=出生未落户 <nhc:CS1#1> | township=349901001 <nhc:CS1#1> \
             | link nhc.birth:CS1#1",
            ago(200),
            wf.id
        ),
    ];
    let mut want: Vec<String> = want.into_iter().collect();
    want.sort();
    assert_eq!(lines, want);
    assert!(
        out.registry.unlinked.is_empty(),
        "{:?}",
        out.registry.unlinked
    );
}
