//! The one integration-test binary: each module starts what it needs (real SQLite files
//! or PostgreSQL, real HTTP servers on port 0).

mod api;
mod browser;
