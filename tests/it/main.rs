//! The one integration-test binary: real SQLite files, real PostgreSQL (when
//! `POPSYNC_TEST_DATABASE_URL` is set), the simulator as a real HTTP server.

mod config;
mod daemon;
mod helpers;
mod reconcile;
mod rules;
mod sync;
