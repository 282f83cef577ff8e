//! The one integration-test binary: real SQLite files, real PostgreSQL (when
//! `POPSYNC_TEST_DATABASE_URL` is set), the simulator and popsync's own listener as
//! real HTTP servers on port 0.

mod api;
mod browser;
mod config;
mod daemon;
mod full_check;
mod helpers;
mod hostile;
mod incremental;
mod layers;
mod owners;
mod print;
mod readiness;
mod reconcile;
mod rules;
mod sync;
mod upgrade;
mod verify;
mod workers;
