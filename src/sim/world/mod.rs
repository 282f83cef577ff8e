//! The synthetic city: its people and their timeline, generated deterministically
//! from a seed, then frozen into the four feeds' wire bytes.
//!
//! Generation first builds structured records (`Builder`), then `finish` serialises
//! them once. The base world is "quiet": the `pis` register reflects an event only
//! once its report delay has passed, and always once the event is overdue, so it
//! raises no ticket by itself. `inject` adds the discrepancies, benign look-alikes
//! and malformed records on people no base event touches, so each expected ticket
//! follows from one injected fact.
//!
//! This file holds what generation produces (`World`) and what it is asked for
//! (`WorldOptions`); the steps live beside it:
//! - `builder`: the builder's state and the structured records it collects;
//! - `helpers`: the draws and small records every step is made of;
//! - `households`: the starting register, household by household;
//! - `events`: the base events (births, deaths, moves, corrections, marriages);
//! - `freeze`: the records turned into the feeds' wire bytes, once.

mod builder;
mod events;
mod freeze;
mod helpers;
mod households;

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};

use super::{ExpectedTicket, ServedCounts};

pub(super) use builder::{
    fmt_date, fmt_dt, fmt_rfc, fmt_slash, norm_name, Builder, InvRec, Pis, RmCand, MCA, NHC, PIS,
    PSB,
};
pub(super) use events::letter_for;

/// What to generate.
#[derive(Clone, Debug)]
pub struct WorldOptions {
    /// Everything follows from the seed: the same options give the same bytes.
    pub seed: u64,
    /// Population on the register when the feeds begin.
    pub persons: usize,
    /// The city's 6-digit county code.
    pub county: String,
    /// The day the feeds begin (the `CSH` snapshot).
    pub start: NaiveDate,
    /// The as-of date expected tickets are computed for; data runs 14 days past it.
    pub as_of: NaiveDate,
    /// Inject discrepancies, benign look-alikes and malformed records.
    pub inject: bool,
    /// `pis` records of the starting register that a data migration stamped with one
    /// `modifiedTime`: a block many pages long, where an offset walk can skip rows.
    pub pis_block: usize,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            seed: 1,
            persons: 2000,
            county: "349901".into(),
            start: NaiveDate::from_ymd_opt(2010, 1, 1).unwrap_or_default(),
            as_of: NaiveDate::from_ymd_opt(2014, 9, 1).unwrap_or_default(),
            inject: true,
            pis_block: 0,
        }
    }
}

/// A township and its villages (12-digit code, name).
#[derive(Clone, Debug)]
pub(crate) struct Township {
    pub code: String,
    pub name: String,
    pub villages: Vec<(String, String)>,
}

/// The generated city, in wire form.
pub struct World {
    pub(crate) opts: WorldOptions,
    pub(crate) townships: Vec<Township>,
    /// `psb` rows, each followed by a comma, concatenated; `psb_off[i]` is where row i starts.
    pub(crate) psb_arena: Vec<u8>,
    pub(crate) psb_off: Vec<usize>,
    pub(crate) nhc_birth: Vec<NhcItem>,
    pub(crate) nhc_death: Vec<NhcItem>,
    /// Per day, the GBK CSV lines of that day.
    pub(crate) mca_marriage: BTreeMap<NaiveDate, Vec<u8>>,
    pub(crate) mca_cremation: BTreeMap<NaiveDate, Vec<u8>>,
    /// `pis` records ordered by (modifiedTime, personId).
    pub(crate) pis: Vec<PisEntry>,
    pub(crate) expected: Vec<ExpectedTicket>,
    pub(crate) served: ServedCounts,
}

/// One `nhc` item: its order key and bytes.
#[derive(Clone, Debug)]
pub(crate) struct NhcItem {
    /// `updatedAt` as seconds (local time taken as UTC; only the order matters).
    pub at: i64,
    pub cert: String,
    pub version: u32,
    pub bytes: Vec<u8>,
}

/// One `pis` record: its order key and bytes.
#[derive(Clone, Debug)]
pub(crate) struct PisEntry {
    pub mt: NaiveDateTime,
    pub pid: String,
    pub bytes: Vec<u8>,
    /// Whether the fault mutator may re-save it (not for DUPLICATE groups, not malformed).
    pub mutable: bool,
}

impl World {
    /// Generates the world for `opts`; deterministic in `opts`.
    pub fn generate(opts: &WorldOptions) -> World {
        let mut b = Builder::new(opts.clone());
        b.population();
        if opts.inject {
            b.inject_all();
        }
        b.base_events();
        if opts.inject {
            b.benign();
            b.malformed();
            b.settle_invalid_ids();
        }
        b.finish()
    }

    /// Tickets tickets.md requires as of `opts.as_of` (grace 30 / 60 days).
    pub fn expected_tickets(&self) -> &[ExpectedTicket] {
        &self.expected
    }

    /// Per feed, distinct records served in total and how many are malformed.
    pub fn served(&self) -> ServedCounts {
        self.served.clone()
    }

    /// The city's townships: 9-digit code and name.
    pub fn townships(&self) -> Vec<(String, String)> {
        self.townships
            .iter()
            .map(|t| (t.code.clone(), t.name.clone()))
            .collect()
    }

    /// Number of `psb` rows in the log (repeated rows included).
    pub(crate) fn psb_len(&self) -> usize {
        self.psb_off.len() - 1
    }

    /// The bytes of rows `i..j` joined by commas.
    pub(crate) fn psb_slice(&self, i: usize, j: usize) -> &[u8] {
        if j <= i {
            return b"";
        }
        &self.psb_arena[self.psb_off[i]..self.psb_off[j] - 1]
    }
}
