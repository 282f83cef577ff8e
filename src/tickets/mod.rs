//! Tickets after reconciliation: their lifecycle from run to run, and the exports
//! township staff open.

pub mod export;
pub mod lifecycle;
mod stored;

pub use lifecycle::{plan, ticket_id, Change, ExistingTicket, Status};
pub use stored::StoredTicket;
