//! popsync: pulls the four departmental population feeds, reconciles them into one
//! registry and raises discrepancy tickets for the township that must act.
//!
//! A record flows one way: `feeds` (wire formats) → `store` (SQL) → `reconcile`
//! (pure) → `tickets` (lifecycle, export). See `docs/architecture.md`.

pub mod api;
pub mod bench;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod domain;
pub mod feeds;
pub mod parallel;
pub mod reconcile;
pub mod records;
pub mod run;
pub mod shutdown;
pub mod sim;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod tickets;
