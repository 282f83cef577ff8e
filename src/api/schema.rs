//! The bodies the API answers with, as types: the handlers build them, serde writes
//! them, and `utoipa` reads the same types to write `/api/v1/openapi.json`. A field
//! added here is in the published schema at once; schemathesis (in `.ci/run`) checks
//! every answer against it.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{LinkRow, PersonRow, TicketEventRow};
use crate::tickets::{SubjectKeys, Suggestion};

/// Every error: a stable `code` clients branch on and a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message: message.into(),
            },
        }
    }
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `unauthorized`, `forbidden`, `not_found`, `bad_request`, `conflict`,
    /// `method_not_allowed` or `internal`.
    pub code: String,
    /// Chinese, for people; may change.
    pub message: String,
}

/// A ticket kind with its Chinese name.
#[derive(Debug, Serialize, ToSchema)]
pub struct KindName {
    pub kind: String,
    pub kind_zh: String,
}

/// A township with its name.
#[derive(Debug, Serialize, ToSchema)]
pub struct TownshipName {
    pub township: String,
    pub township_name: String,
}

/// `GET /api/v1/me`: who the token belongs to, for the page's header.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub token_id: String,
    pub name: String,
    pub is_admin: bool,
    pub township: Option<String>,
    pub township_name: Option<String>,
    pub kinds: Vec<KindName>,
    /// The city's townships, for an admin's picker; empty for a township token.
    pub townships: Vec<TownshipName>,
}

/// What a list and a ticket's detail both show of it: no ID number, no resident's name
/// (the owner is a member of the township's staff).
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketHead {
    pub ticket_id: String,
    pub kind: String,
    pub kind_zh: String,
    pub township: String,
    pub township_name: String,
    pub village: Option<String>,
    pub status: String,
    pub status_zh: String,
    /// Who of the township's staff sees it through (包保责任人); `null` while nobody does.
    pub owner: Option<String>,
    pub opened_at: String,
    pub updated_at: String,
}

/// A ticket as a list shows it: every ID number masked, no evidence details.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketSummary {
    #[serde(flatten)]
    pub head: TicketHead,
    /// Who or what the ticket is about (tickets.md), IDs masked.
    pub subject: SubjectKeys,
    pub summary_zh: String,
    pub evidence_count: usize,
    pub has_suggestion: bool,
}

/// `GET /api/v1/tickets`: one page of the caller's tickets, with the total.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketList {
    pub township: Option<String>,
    pub total: i64,
    pub limit: Option<i64>,
    pub offset: i64,
    pub tickets: Vec<TicketSummary>,
}

/// One piece of evidence, with its department's Chinese name.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceItem {
    pub source: String,
    pub department_zh: String,
    /// The source record's key (`lsh`, certificate number, `personId`, …).
    pub record: String,
    /// What that record says, in Chinese.
    pub detail: String,
}

/// A ticket in full: IDs whole, evidence per department.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub head: TicketHead,
    pub subject: SubjectKeys,
    pub summary_zh: String,
    pub suggestion: Option<Suggestion>,
    pub person_key: Option<String>,
    pub evidence: Vec<EvidenceItem>,
    pub can_dismiss: bool,
    pub can_reopen: bool,
}

/// One change of a ticket's status, or an assignment (`from_status` equal to
/// `to_status`, the reason naming the new and the previous owner).
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub at: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub reason: String,
}

impl From<TicketEventRow> for HistoryEntry {
    fn from(r: TicketEventRow) -> HistoryEntry {
        HistoryEntry {
            at: r.at,
            from_status: r.from_status,
            to_status: r.to_status,
            actor: r.actor,
            reason: r.reason,
        }
    }
}

/// `GET /api/v1/tickets/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketWithHistory {
    pub ticket: TicketDetail,
    pub history: Vec<HistoryEntry>,
}

/// A dismissal's, reopening's or assignment's answer: the ticket as it now stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangedTicket {
    pub ticket: TicketSummary,
}

/// Tickets of one kind per status.
#[derive(Debug, Serialize, ToSchema)]
pub struct KindCount {
    pub kind: String,
    pub kind_zh: String,
    pub open: i64,
    pub dismissed: i64,
    pub resolved: i64,
    pub withdrawn: i64,
    pub total: i64,
}

/// `GET /api/v1/counts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Counts {
    pub township: Option<String>,
    pub township_name: Option<String>,
    pub kinds: Vec<KindCount>,
}

/// Open tickets per kind after one run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunOpen {
    pub run_id: i64,
    pub as_of: String,
    pub finished_at: String,
    pub open_by_kind: BTreeMap<String, i64>,
}

/// `GET /api/v1/runs`, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Runs {
    pub township: Option<String>,
    pub runs: Vec<RunOpen>,
}

/// A golden record: one per person, each field with its source.
#[derive(Debug, Serialize, ToSchema)]
pub struct Person {
    pub person_key: String,
    pub township: Option<String>,
    pub state: String,
    /// `{"fields": {NAME: {"record", "source", "value"}}, "key", "state", "township"}`.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}

impl From<PersonRow> for Person {
    fn from(p: PersonRow) -> Person {
        Person {
            person_key: p.person_key,
            township: p.township,
            state: p.state,
            record: p.record,
        }
    }
}

/// A source record linked to a person.
#[derive(Debug, Serialize, ToSchema)]
pub struct Link {
    pub source: String,
    pub record_key: String,
    pub reason: Option<String>,
}

impl From<LinkRow> for Link {
    fn from(l: LinkRow) -> Link {
        Link {
            source: l.source,
            record_key: l.record_key,
            reason: l.reason,
        }
    }
}

/// `GET /api/v1/persons/{key}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonWithLinks {
    pub person: Person,
    pub links: Vec<Link>,
}
