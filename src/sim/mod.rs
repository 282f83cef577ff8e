//! Feed simulator: a deterministic synthetic city served over HTTP exactly as
//! `feeds.md` describes, with fault injection. It powers the demo, the integration
//! tests and the benchmarks.
//!
//! - `world` generates the city (people, timeline, the four feeds' records) from a
//!   seed and freezes it into wire bytes; `inject` adds the discrepancies, benign
//!   look-alikes and malformed records, and writes down the tickets they require.
//! - `server` serves the frozen world over a small HTTP/1.1 server of its own (so
//!   that faults such as a cut body or a connection reset are exact), and applies
//!   the lifecycle edits tests make (`SimState::pis_update`, ...).
//! - `cli` is `popsync sim`.

mod cli;
mod ids;
mod inject;
mod names;
mod server;
mod wire;
mod world;

#[cfg(test)]
mod tests;

pub use cli::{run_cli, SimArgs};
pub use server::{serve, spawn, SimServer, SimState};
pub use world::{World, WorldOptions};

/// One ticket tickets.md requires of the generated world as of its as-of date.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct ExpectedTicket {
    pub kind: String,
    /// 9-digit township code.
    pub township: String,
    pub subject: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub suggestion: Option<serde_json::Value>,
}

/// Distinct records each feed serves in total, as a client reading every feed to
/// its end once counts them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServedCounts {
    pub psb: FeedCount,
    pub mca: FeedCount,
    pub nhc: FeedCount,
    pub pis: FeedCount,
}

/// `records` includes the `malformed` ones (those a client must quarantine).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedCount {
    pub records: u64,
    pub malformed: u64,
}

/// The credentials each department accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub psb_token: String,
    pub mca_key: String,
    pub nhc_token: String,
    pub pis_token: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            psb_token: "psb-token".into(),
            mca_key: "mca-key".into(),
            nhc_token: "nhc-token".into(),
            pis_token: "pis-token".into(),
        }
    }
}

/// A transient failure the server can answer a feed request with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// HTTP 500, 502 or 503.
    ServerError,
    /// HTTP 429 with `Retry-After: 1`.
    TooManyRequests,
    /// `psb` only: `{"code":5001,...}` inside an HTTP 200.
    PsbBusy,
    /// The full `Content-Length`, half the body, then the connection closes.
    CutBody,
    /// The answer comes after `slow_ms`.
    Slow,
    /// The connection is reset (RST) without an answer.
    Reset,
}

impl FaultKind {
    /// Every kind, in the order of the `--faults` names `5xx,429,5001,cut,slow,reset`.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::ServerError,
        FaultKind::TooManyRequests,
        FaultKind::PsbBusy,
        FaultKind::CutBody,
        FaultKind::Slow,
        FaultKind::Reset,
    ];

    /// Parses one `--faults` name.
    pub fn parse(s: &str) -> Option<FaultKind> {
        Some(match s.trim() {
            "5xx" => FaultKind::ServerError,
            "429" => FaultKind::TooManyRequests,
            "5001" => FaultKind::PsbBusy,
            "cut" => FaultKind::CutBody,
            "slow" => FaultKind::Slow,
            "reset" => FaultKind::Reset,
            _ => return None,
        })
    }
}

/// Fault injection, decided per feed request from (`seed`, request number).
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Share of feed requests faulted, 0 = none.
    pub rate: f64,
    pub kinds: Vec<FaultKind>,
    pub seed: u64,
    /// How long a `Slow` answer waits, in milliseconds.
    pub slow_ms: u64,
    /// Probability that after a `pis` response one record is re-saved (moves to the end).
    pub mutate_pis: f64,
    /// About one `psb` page in ten hands back a cursor two rows early.
    pub psb_rewind: bool,
}

impl Faults {
    /// No faults at all: every request is answered in full, paging is stable.
    pub fn none() -> Faults {
        Faults {
            rate: 0.0,
            kinds: Vec::new(),
            seed: 1,
            slow_ms: 0,
            mutate_pis: 0.0,
            psb_rewind: false,
        }
    }

    /// Every fault kind at `rate`, plus `pis` re-saves (probability 0.1), `psb` rewinds,
    /// and slow answers of one second.
    pub fn all(rate: f64) -> Faults {
        Faults {
            rate,
            kinds: FaultKind::ALL.to_vec(),
            seed: 1,
            slow_ms: 1000,
            mutate_pis: 0.1,
            psb_rewind: true,
        }
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults::none()
    }
}
