//! The ticket vocabulary reconciliation speaks: the twelve kinds, and a ticket as one
//! run finds it (a draft) with its subject, evidence and a plain Chinese sentence.
//! Drafts carry no status; the lifecycle decides that. It lives with the tickets so that
//! `reconcile` and the store both depend on it, and it on neither.

use std::fmt;

use serde_json::{json, Value};

use crate::domain::{IdNumber, TownshipCode};

/// The twelve kinds of tickets.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TicketKind {
    BirthNotInPis,
    BirthNotRegistered,
    DeathNotRecorded,
    MoveOutNotRecorded,
    MoveInNotRecorded,
    ResidenceMismatch,
    ResidentMissing,
    PhantomRecord,
    InvalidId,
    IdentityMismatch,
    DuplicateRecord,
    MaritalStatusMismatch,
}

impl TicketKind {
    pub const ALL: [TicketKind; 12] = [
        TicketKind::BirthNotInPis,
        TicketKind::BirthNotRegistered,
        TicketKind::DeathNotRecorded,
        TicketKind::MoveOutNotRecorded,
        TicketKind::MoveInNotRecorded,
        TicketKind::ResidenceMismatch,
        TicketKind::ResidentMissing,
        TicketKind::PhantomRecord,
        TicketKind::InvalidId,
        TicketKind::IdentityMismatch,
        TicketKind::DuplicateRecord,
        TicketKind::MaritalStatusMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketKind::BirthNotInPis => "BIRTH_NOT_IN_PIS",
            TicketKind::BirthNotRegistered => "BIRTH_NOT_REGISTERED",
            TicketKind::DeathNotRecorded => "DEATH_NOT_RECORDED",
            TicketKind::MoveOutNotRecorded => "MOVE_OUT_NOT_RECORDED",
            TicketKind::MoveInNotRecorded => "MOVE_IN_NOT_RECORDED",
            TicketKind::ResidenceMismatch => "RESIDENCE_MISMATCH",
            TicketKind::ResidentMissing => "RESIDENT_MISSING",
            TicketKind::PhantomRecord => "PHANTOM_RECORD",
            TicketKind::InvalidId => "INVALID_ID",
            TicketKind::IdentityMismatch => "IDENTITY_MISMATCH",
            TicketKind::DuplicateRecord => "DUPLICATE_RECORD",
            TicketKind::MaritalStatusMismatch => "MARITAL_STATUS_MISMATCH",
        }
    }

    pub fn parse(s: &str) -> Option<TicketKind> {
        TicketKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The heading township staff see.
    pub fn zh(self) -> &'static str {
        match self {
            TicketKind::BirthNotInPis => "出生未录入",
            TicketKind::BirthNotRegistered => "出生未落户",
            TicketKind::DeathNotRecorded => "死亡未注销",
            TicketKind::MoveOutNotRecorded => "迁出未注销",
            TicketKind::MoveInNotRecorded => "迁入未录入",
            TicketKind::ResidenceMismatch => "户籍地不符",
            TicketKind::ResidentMissing => "在册人员缺失",
            TicketKind::PhantomRecord => "查无此人",
            TicketKind::InvalidId => "身份证号有误",
            TicketKind::IdentityMismatch => "身份信息不符",
            TicketKind::DuplicateRecord => "重复记录",
            TicketKind::MaritalStatusMismatch => "婚姻状况不符",
        }
    }
}

impl serde::Serialize for TicketKind {
    /// As its text, the form the store, the exports and the API all use.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for TicketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The keys that say what a ticket is about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub id_number: Option<IdNumber>,
    pub pis_person_id: Option<String>,
    pub pis_person_ids: Vec<String>,
    pub birth_cert_no: Option<String>,
    pub child_id_number: Option<IdNumber>,
}

impl Subject {
    pub fn id(id: IdNumber) -> Subject {
        Subject {
            id_number: Some(id),
            ..Subject::default()
        }
    }

    /// The export form: only the keys present.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        if let Some(id) = self.id_number {
            m.insert("id_number".into(), json!(id.as_str()));
        }
        if let Some(p) = &self.pis_person_id {
            m.insert("pis_person_id".into(), json!(p));
        }
        if !self.pis_person_ids.is_empty() {
            m.insert("pis_person_ids".into(), json!(self.pis_person_ids));
        }
        if let Some(c) = &self.birth_cert_no {
            m.insert("birth_cert_no".into(), json!(c));
        }
        if let Some(id) = self.child_id_number {
            m.insert("child_id_number".into(), json!(id.as_str()));
        }
        Value::Object(m)
    }

    /// What makes two runs' tickets the same ticket. For a birth the certificate number
    /// wins, so a `CS` row arriving later refreshes the ticket instead of replacing it.
    pub fn identity_key(&self, kind: TicketKind) -> String {
        match kind {
            TicketKind::BirthNotInPis | TicketKind::BirthNotRegistered => {
                match (&self.birth_cert_no, self.child_id_number) {
                    (Some(c), _) => format!("cert:{c}"),
                    (None, Some(id)) => format!("child:{id}"),
                    (None, None) => "birth:?".into(),
                }
            }
            TicketKind::PhantomRecord | TicketKind::InvalidId => {
                format!("pis:{}", self.pis_person_id.as_deref().unwrap_or("?"))
            }
            TicketKind::DuplicateRecord => format!("pis:{}", self.pis_person_ids.join(",")),
            _ => format!(
                "id:{}",
                self.id_number.map(|i| i.to_string()).unwrap_or_default()
            ),
        }
    }
}

/// One piece of evidence: which department's record says what.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Evidence {
    /// `psb`, `mca`, `nhc` or `pis`.
    pub source: &'static str,
    /// The record's key in its feed (`lsh`, register number, `certificateNo#version`, `personId`).
    pub record: String,
    /// What the record says, in the words staff use.
    pub detail: String,
}

impl Evidence {
    pub fn new(
        source: &'static str,
        record: impl Into<String>,
        detail: impl Into<String>,
    ) -> Evidence {
        Evidence {
            source,
            record: record.into(),
            detail: detail.into(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({"source": self.source, "record": self.record, "detail": self.detail})
    }
}

/// A ticket as one reconciliation finds it.
#[derive(Clone, Debug, PartialEq)]
pub struct TicketDraft {
    pub kind: TicketKind,
    pub township: TownshipCode,
    pub subject: Subject,
    pub evidence: Vec<Evidence>,
    pub summary_zh: String,
    /// The likely correct ID of an `INVALID_ID` record.
    pub suggestion: Option<IdNumber>,
    /// The golden record the ticket is about, when there is one.
    pub person_key: Option<String>,
    /// The village of the PIS record concerned, for filtering lists.
    pub village: Option<String>,
}

impl TicketDraft {
    pub fn subject_key(&self) -> String {
        self.subject.identity_key(self.kind)
    }

    /// Certificate numbers the ticket rests on: if one is voided, the ticket is withdrawn.
    pub fn certificates(&self) -> impl Iterator<Item = &str> {
        self.evidence
            .iter()
            .filter(|e| e.source == "nhc")
            .map(|e| e.record.split('#').next().unwrap_or(&e.record))
    }
}
