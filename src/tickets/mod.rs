//! Tickets: their vocabulary (kinds, drafts, the typed stored ticket), their lifecycle
//! from run to run, and the exports township staff open. Reconciliation writes drafts in
//! this vocabulary; the store maps its rows to [`Ticket`] once; exports, the API and the
//! page read only that.

mod draft;
pub mod export;
pub mod lifecycle;
mod owner;
pub mod readiness;
pub mod summary;
mod ticket;

pub use draft::{Evidence, Subject, TicketDraft, TicketKind};
pub use lifecycle::{plan, ticket_id, Change, ExistingTicket, Status};
pub use owner::{assignment_target, Owner, OwnerError, MAX_OWNER_CHARS, UNASSIGNED};
pub use ticket::{EvidenceLine, SubjectKeys, Suggestion, Ticket};
