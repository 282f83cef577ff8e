//! The source records popsync keeps, one type per department record, normalised:
//! IDs parsed, dates parsed, codes checked. Feeds produce them, the store keeps them
//! (beside the raw text), reconciliation reads them.

use crate::domain::{DivisionCode, IdNumber, Sex};
use chrono::NaiveDate;

/// A text field of a record. Almost every value the departments send (keys, names,
/// codes, timestamps) fits in 24 bytes and is kept inline, in the record itself: a
/// snapshot of a million people is millions of strings that then need no allocation
/// of their own, to make, to follow when compared, or to free.
pub type InlineText = compact_str::CompactString;

/// `psb` household-registration event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PsbEventKind {
    /// On the register when the feed began.
    Snapshot,
    Birth,
    Death,
    MoveIn,
    MoveOut,
    Correction,
}

impl PsbEventKind {
    /// The wire code (`CSH`, `CS`, …).
    pub fn code(self) -> &'static str {
        match self {
            PsbEventKind::Snapshot => "CSH",
            PsbEventKind::Birth => "CS",
            PsbEventKind::Death => "SW",
            PsbEventKind::MoveIn => "QR",
            PsbEventKind::MoveOut => "QC",
            PsbEventKind::Correction => "BG",
        }
    }

    pub fn from_code(code: &str) -> Option<PsbEventKind> {
        Some(match code {
            "CSH" => PsbEventKind::Snapshot,
            "CS" => PsbEventKind::Birth,
            "SW" => PsbEventKind::Death,
            "QR" => PsbEventKind::MoveIn,
            "QC" => PsbEventKind::MoveOut,
            "BG" => PsbEventKind::Correction,
            _ => return None,
        })
    }

    /// After this event the person is on the register.
    pub fn keeps_on_register(self) -> bool {
        !matches!(self, PsbEventKind::Death | PsbEventKind::MoveOut)
    }
}

/// One household-registration event (`psb` row).
#[derive(Clone, Debug, PartialEq)]
pub struct PsbEvent {
    pub lsh: InlineText,
    pub kind: PsbEventKind,
    pub id: IdNumber,
    pub name: InlineText,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub division: DivisionCode,
    pub event_date: NaiveDate,
    /// `djsj`, `YYYY-MM-DD HH:MM:SS` local; its text order is its time order.
    pub recorded_at: InlineText,
    /// What only some kinds of event carry; `None` when the event carries none of it.
    pub particulars: Option<Box<PsbParticulars>>,
    /// What the store keeps and no rule reads. A snapshot leaves it out (`None`): in
    /// the record itself it took 120 of its 304 bytes.
    pub details: Option<Box<PsbDetails>>,
}

impl PsbEvent {
    /// `qwd`: where a move out went.
    pub fn to_county(&self) -> Option<&str> {
        self.particulars.as_ref()?.to_county.as_deref()
    }

    /// `mqsfhm`: a birth's mother.
    pub fn mother_id(&self) -> Option<&IdNumber> {
        self.particulars.as_ref()?.mother_id.as_ref()
    }

    /// `csyxzmbh`: a birth's medical certificate.
    pub fn birth_cert_no(&self) -> Option<&str> {
        self.particulars.as_ref()?.birth_cert_no.as_deref()
    }

    /// `swrq`: the date of a death.
    pub fn death_date(&self) -> Option<NaiveDate> {
        self.particulars.as_ref()?.death_date
    }
}

// A million of each are held while a city is reconciled.
const _: () = assert!(std::mem::size_of::<PsbEvent>() <= 128);
const _: () = assert!(std::mem::size_of::<PisRecord>() <= 176);

/// What only some kinds of household-register event carry: where a move out went
/// (`QC`), a birth's mother and certificate (`CS`), a death's date (`SW`). Nine
/// events in ten carry none of it: behind a pointer, a psb event is 128 bytes
/// instead of 192.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PsbParticulars {
    pub to_county: Option<InlineText>,
    pub mother_id: Option<IdNumber>,
    pub birth_cert_no: Option<InlineText>,
    pub death_date: Option<NaiveDate>,
}

/// `part` behind a pointer, or no pointer at all when nothing in it is set: for the
/// fields most records leave empty.
pub fn boxed_unless_empty<T: Default + PartialEq>(part: T) -> Option<Box<T>> {
    (part != T::default()).then(|| Box::new(part))
}

/// The fields of a household-register event that the store keeps beside the raw
/// record but reconciliation never reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PsbDetails {
    pub ethnicity: Option<InlineText>,
    pub household: Option<InlineText>,
    pub relation: Option<InlineText>,
    pub from_county: Option<InlineText>,
    /// Kept as typed: the father's ID never makes a record malformed.
    pub father_id: Option<InlineText>,
}

/// `mca` marriage-register business types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MarriageKind {
    Marriage,
    Divorce,
    /// 补领结婚证: no change of status.
    Replacement,
    /// 撤销婚姻: the annulled marriage never took place.
    Annulment,
}

impl MarriageKind {
    pub fn zh(self) -> &'static str {
        match self {
            MarriageKind::Marriage => "结婚",
            MarriageKind::Divorce => "离婚",
            MarriageKind::Replacement => "补领结婚证",
            MarriageKind::Annulment => "撤销婚姻",
        }
    }

    pub fn from_zh(s: &str) -> Option<MarriageKind> {
        Some(match s.trim() {
            "结婚" => MarriageKind::Marriage,
            "离婚" => MarriageKind::Divorce,
            "补领结婚证" => MarriageKind::Replacement,
            "撤销婚姻" => MarriageKind::Annulment,
            _ => return None,
        })
    }
}

/// One marriage-register row.
#[derive(Clone, Debug, PartialEq)]
pub struct Marriage {
    pub reg_no: InlineText,
    pub kind: MarriageKind,
    pub husband_name: InlineText,
    pub husband_id: IdNumber,
    pub wife_name: InlineText,
    pub wife_id: IdNumber,
    pub reg_date: NaiveDate,
    pub office: InlineText,
}

/// One cremation-register row.
#[derive(Clone, Debug, PartialEq)]
pub struct Cremation {
    pub cert_no: InlineText,
    pub name: InlineText,
    pub sex: Sex,
    /// Empty for an unidentified person.
    pub id: Option<IdNumber>,
    pub death_date: NaiveDate,
    pub cremation_date: NaiveDate,
    pub address: InlineText,
    pub funeral_home: InlineText,
}

/// Certificate status: a voided certificate is evidence of nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertStatus {
    Valid,
    Void,
}

impl CertStatus {
    pub fn code(self) -> &'static str {
        match self {
            CertStatus::Valid => "VALID",
            CertStatus::Void => "VOID",
        }
    }

    pub fn from_code(s: &str) -> Option<CertStatus> {
        match s {
            "VALID" => Some(CertStatus::Valid),
            "VOID" => Some(CertStatus::Void),
            _ => None,
        }
    }
}

/// One version of a birth medical certificate.
#[derive(Clone, Debug, PartialEq)]
pub struct BirthCertificate {
    pub cert_no: InlineText,
    pub version: i64,
    pub status: CertStatus,
    pub child_name: Option<InlineText>,
    pub child_sex: Sex,
    pub birth_date: NaiveDate,
    pub mother_name: Option<InlineText>,
    pub mother_id: IdNumber,
    pub father_name: Option<InlineText>,
    pub father_id: Option<InlineText>,
    pub facility: Option<InlineText>,
    pub residence: Option<DivisionCode>,
    /// RFC 3339 in local time, as the department sent it after normalisation.
    pub updated_at: InlineText,
    /// The local date of `updated_at`: what the as-of rule compares.
    pub updated_date: NaiveDate,
}

impl BirthCertificate {
    /// `certificateNo#version`: how links and evidence name this version.
    pub fn record_key(&self) -> String {
        format!("{}#{}", self.cert_no, self.version)
    }
}

/// One version of a death medical certificate.
#[derive(Clone, Debug, PartialEq)]
pub struct DeathCertificate {
    pub cert_no: InlineText,
    pub version: i64,
    pub status: CertStatus,
    pub name: Option<InlineText>,
    pub id: Option<IdNumber>,
    pub sex: Sex,
    pub death_date: NaiveDate,
    pub residence: Option<DivisionCode>,
    pub updated_at: InlineText,
    pub updated_date: NaiveDate,
}

impl DeathCertificate {
    /// `certificateNo#version`: how links and evidence name this version.
    pub fn record_key(&self) -> String {
        format!("{}#{}", self.cert_no, self.version)
    }
}

/// `pis` register states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PisState {
    OnRegister,
    MovedOut,
    Dead,
}

impl PisState {
    pub fn code(self) -> i64 {
        match self {
            PisState::OnRegister => 1,
            PisState::MovedOut => 2,
            PisState::Dead => 3,
        }
    }

    pub fn from_code(c: i64) -> Option<PisState> {
        match c {
            1 => Some(PisState::OnRegister),
            2 => Some(PisState::MovedOut),
            3 => Some(PisState::Dead),
            _ => None,
        }
    }
}

/// A register's marital status, `hyzk` (GB/T 2261.2), parsed once where the record is
/// decoded, so that the rules compare statuses, never codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hyzk {
    /// `10`
    Unmarried,
    /// `20`
    Married,
    /// `21`
    FirstMarriage,
    /// `22`
    Remarried,
    /// `23`, to a former spouse.
    RemarriedToFormer,
    /// `30`
    Widowed,
    /// `40`
    Divorced,
    /// `90`
    NotStated,
    /// A code outside the standard, kept as typed: the store and `verify` see what was
    /// served, and no rule takes it for a status.
    Other(InlineText),
}

impl Hyzk {
    pub fn parse(code: &str) -> Hyzk {
        match code {
            "10" => Hyzk::Unmarried,
            "20" => Hyzk::Married,
            "21" => Hyzk::FirstMarriage,
            "22" => Hyzk::Remarried,
            "23" => Hyzk::RemarriedToFormer,
            "30" => Hyzk::Widowed,
            "40" => Hyzk::Divorced,
            "90" => Hyzk::NotStated,
            other => Hyzk::Other(other.into()),
        }
    }

    /// The code as served, for the store.
    pub fn code(&self) -> &str {
        match self {
            Hyzk::Unmarried => "10",
            Hyzk::Married => "20",
            Hyzk::FirstMarriage => "21",
            Hyzk::Remarried => "22",
            Hyzk::RemarriedToFormer => "23",
            Hyzk::Widowed => "30",
            Hyzk::Divorced => "40",
            Hyzk::NotStated => "90",
            Hyzk::Other(code) => code,
        }
    }

    /// `20`–`23` all count as married (tickets.md `MARITAL_STATUS_MISMATCH`).
    pub fn is_married(&self) -> bool {
        matches!(
            self,
            Hyzk::Married | Hyzk::FirstMarriage | Hyzk::Remarried | Hyzk::RemarriedToFormer
        )
    }
}

/// One record of the family-planning register, as last modified.
#[derive(Clone, Debug, PartialEq)]
pub struct PisRecord {
    pub person_id: InlineText,
    /// `sfzh` exactly as typed (the export shows it so staff find the typo).
    pub sfzh: InlineText,
    /// Normalised `sfzh` (possibly invalid); empty when none was typed.
    pub id_norm: InlineText,
    pub name: InlineText,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub village: DivisionCode,
    pub marital: Option<Hyzk>,
    /// A child's birth as typed; `None` when neither is typed.
    pub birth: Option<Box<PisBirth>>,
    pub state: PisState,
    pub deleted: bool,
    /// `delFlag` 1 was seen for this record at some point: it is never active again.
    pub ever_deleted: bool,
    pub modified_time: InlineText,
}

impl PisRecord {
    /// `zt = 1` and never deleted.
    pub fn is_active(&self) -> bool {
        self.state == PisState::OnRegister && !self.ever_deleted
    }

    /// `mqSfzh`, as typed.
    pub fn mother_id(&self) -> Option<&str> {
        self.birth.as_ref()?.mother_id.as_deref()
    }

    /// `csyxzmbh`, as typed.
    pub fn birth_cert_no(&self) -> Option<&str> {
        self.birth.as_ref()?.birth_cert_no.as_deref()
    }
}

/// A register record's mother and birth certificate, typed for the few people the
/// register keeps as children: behind a pointer, a register record is 176 bytes
/// instead of 216.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PisBirth {
    pub mother_id: Option<InlineText>,
    pub birth_cert_no: Option<InlineText>,
}

/// A parsed record with the exact text it came from, kept beside it in the store.
#[derive(Clone, Debug)]
pub struct WithRaw<T> {
    pub record: T,
    pub raw: String,
}

/// A record that could not be parsed: kept aside, never dropped.
#[derive(Clone, Debug)]
pub struct Malformed {
    /// The natural key when the record has one, else a digest of its raw text.
    pub key: String,
    pub raw: String,
    pub reason: String,
}

/// The records of one page or window, all of one stream.
#[derive(Clone, Debug)]
pub enum Records {
    Psb(Vec<WithRaw<PsbEvent>>),
    Marriages(Vec<WithRaw<Marriage>>),
    Cremations(Vec<WithRaw<Cremation>>),
    Births(Vec<WithRaw<BirthCertificate>>),
    Deaths(Vec<WithRaw<DeathCertificate>>),
    Pis(Vec<WithRaw<PisRecord>>),
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Records::Psb(v) => v.len(),
            Records::Marriages(v) => v.len(),
            Records::Cremations(v) => v.len(),
            Records::Births(v) => v.len(),
            Records::Deaths(v) => v.len(),
            Records::Pis(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each record's key as the store keys it (nhc: `certificateNo#version`, the form
    /// the quarantine uses too) with its raw text, in page order: what `popsync verify`
    /// compares with the store.
    pub fn keyed_raw(&self) -> Vec<(String, &str)> {
        fn each<T>(v: &[WithRaw<T>], key: impl Fn(&T) -> String) -> Vec<(String, &str)> {
            v.iter().map(|w| (key(&w.record), w.raw.as_str())).collect()
        }
        match self {
            Records::Psb(v) => each(v, |r| r.lsh.to_string()),
            Records::Marriages(v) => each(v, |r| r.reg_no.to_string()),
            Records::Cremations(v) => each(v, |r| r.cert_no.to_string()),
            Records::Births(v) => each(v, |r| format!("{}#{}", r.cert_no, r.version)),
            Records::Deaths(v) => each(v, |r| format!("{}#{}", r.cert_no, r.version)),
            Records::Pis(v) => each(v, |r| r.person_id.to_string()),
        }
    }

    /// The records whose positions `keep` marks, in page order: the part of a page a
    /// repair stores.
    pub fn subset(&self, keep: &[bool]) -> Records {
        fn pick<T: Clone>(v: &[WithRaw<T>], keep: &[bool]) -> Vec<WithRaw<T>> {
            v.iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(w, _)| w.clone())
                .collect()
        }
        match self {
            Records::Psb(v) => Records::Psb(pick(v, keep)),
            Records::Marriages(v) => Records::Marriages(pick(v, keep)),
            Records::Cremations(v) => Records::Cremations(pick(v, keep)),
            Records::Births(v) => Records::Births(pick(v, keep)),
            Records::Deaths(v) => Records::Deaths(pick(v, keep)),
            Records::Pis(v) => Records::Pis(pick(v, keep)),
        }
    }
}

/// What one request brought, ready to be committed in one transaction with the cursor
/// that follows it.
#[derive(Clone, Debug)]
pub struct Batch {
    /// `psb`, `mca.marriage`, `mca.cremation`, `nhc.birth`, `nhc.death` or `pis`.
    pub stream: &'static str,
    pub records: Records,
    pub malformed: Vec<Malformed>,
    /// Where the next request starts, once this batch is stored.
    pub cursor: String,
    /// The newest record time the batch holds, for the lag metric.
    pub newest_record_at: Option<String>,
    /// The department says there is more after this batch.
    pub more: bool,
    /// The department's token for the next page, for feeds that page by token.
    pub page_token: Option<String>,
}

/// Everything reconciliation reads: all stored records of the four departments.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub psb: Vec<PsbEvent>,
    pub marriages: Vec<Marriage>,
    pub cremations: Vec<Cremation>,
    pub births: Vec<BirthCertificate>,
    pub deaths: Vec<DeathCertificate>,
    pub pis: Vec<PisRecord>,
}

#[cfg(test)]
mod hyzk_tests {
    use super::Hyzk;

    #[test]
    fn a_code_is_stored_as_served() {
        for code in ["10", "20", "21", "22", "23", "30", "40", "90", "99", "2O"] {
            assert_eq!(Hyzk::parse(code).code(), code);
        }
        assert!(Hyzk::parse("23").is_married());
        assert!(!Hyzk::parse("10").is_married());
        assert_eq!(Hyzk::parse("2O"), Hyzk::Other("2O".into()));
    }
}
