//! popsync: pulls the four departmental population feeds, reconciles them into one
//! registry and raises discrepancy tickets for the township that must act.
//!
//! A record flows one way: `feeds` (wire formats) → `store` (SQL) → `reconcile`
//! (pure) → `tickets` (lifecycle, export). See `docs/architecture.md`.

pub mod sim;
