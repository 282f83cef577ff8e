//! A ticket as the store gives it back, typed: what exports, the API and the page read.
//! The store maps its row to this once; nothing upstream parses a ticket's texts again.

use serde::{Deserialize, Serialize};

use super::{Owner, Status, TicketKind};
use crate::domain::TownshipCode;

/// A stored ticket. Its JSON form is the line of tickets.md "The export" (which fixes the
/// keys a line has *at least*): `owner` is added only when the ticket has one; the person
/// and village are for lists and filters, not the export.
#[derive(Clone, Debug, Serialize)]
pub struct Ticket {
    pub ticket_id: String,
    pub kind: TicketKind,
    pub township: TownshipCode,
    pub status: Status,
    pub subject: SubjectKeys,
    pub opened_at: String,
    pub updated_at: String,
    pub evidence: Vec<EvidenceLine>,
    pub summary_zh: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<Suggestion>,
    /// Who of the township's staff sees it through (包保责任人), if anyone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    #[serde(skip)]
    pub person_key: Option<String>,
    #[serde(skip)]
    pub village: Option<String>,
}

/// The keys a ticket is about, as stored (only those present): the stored form of a
/// draft's [`super::Subject`]. ID numbers are kept as text, since an `INVALID_ID`
/// ticket's own ID is not a valid one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubjectKeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pis_person_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pis_person_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_cert_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_id_number: Option<String>,
}

/// One stored line of evidence: which department's record says what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceLine {
    /// `psb`, `mca`, `nhc` or `pis`.
    pub source: String,
    pub record: String,
    pub detail: String,
}

/// The likely correct ID of an `INVALID_ID` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub id_number: String,
}
