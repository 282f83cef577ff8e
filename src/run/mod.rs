//! A run against the store and the feeds: the pull of each feed with its fetch and
//! heartbeat, the reconciliation of what was stored, and the verify that reads a feed
//! whole. This layer is the glue between the pure layers (`feeds` decodes, `reconcile`
//! decides) and the store; the daemon, the CLI and the demo call it, nothing below it
//! does.

mod buckets;
mod events;
pub mod fetch;
pub mod full_check;
pub mod pull;
pub mod reconcile;
mod settle;
pub mod verify;
