//! A ticket as the store gives it back: what exports, the API and the page read. It
//! lives with the tickets, not the store, so that the store depends on the tickets'
//! vocabulary and never the other way round.

/// A ticket as stored, for exports, the API and the page. Its texts are as stored;
/// `kind` and `status` parse with [`crate::reconcile::TicketKind::parse`] and
/// [`super::Status::parse`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoredTicket {
    pub ticket_id: String,
    pub kind: String,
    pub township: String,
    pub status: String,
    pub subject: serde_json::Value,
    pub opened_at: String,
    pub updated_at: String,
    pub evidence: serde_json::Value,
    pub summary_zh: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<serde_json::Value>,
    #[serde(skip)]
    pub person_key: Option<String>,
    #[serde(skip)]
    pub village: Option<String>,
}
