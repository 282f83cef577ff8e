//! Table-driven tests of the twelve ticket rules of tickets.md: for every kind, a case
//! that raises it (exact township and subject) and its benign twins that must not.
//! Every case asserts the exact set of tickets, so an extra ticket fails as surely as a
//! missing one.
//!
//! `harness.rs` holds the world builder and the check; each other file holds the
//! tables of one group of kinds, named as `src/reconcile/rules/` names its files, and
//! `registry.rs` reads the golden records a reconciliation plans.

mod births;
mod deaths;
mod duplicates;
mod harness;
mod identity;
mod marriage;
mod registry;
mod residence;
