//! Routing: which feed a path is, whether the request carries that feed's
//! credentials, and whether (and how) it is faulted, before the feed answers.

use std::sync::atomic::Ordering;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::sim::FaultKind;

use super::http::{json, resp, Action, Request, Response, JSON};
use super::pages::{mca, nhc, pis, psb};
use super::SimState;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Feed {
    Psb,
    Mca,
    Nhc,
    Pis,
}

/// Answers one request: 404 for an unknown path; the feed's own refusal without its
/// credentials (so faults come after authentication); a fault when one is decided;
/// else the feed's page.
pub(super) fn handle(state: &SimState, req: &Request) -> Response {
    let feed = match req.path.as_str() {
        "/api/hjxx/changes" => Feed::Psb,
        "/export/marriage.csv" | "/export/cremation.csv" => Feed::Mca,
        "/v2/birth-certificates" | "/v2/death-certificates" => Feed::Nhc,
        "/rkxx/list" => Feed::Pis,
        "/__health" => return resp(200, "text/plain", b"ok".to_vec()),
        _ => return json(404, serde_json::json!({"error": "not found"})),
    };
    state.requests.fetch_add(1, Ordering::Relaxed);
    let c = &state.creds;
    let authorised = match feed {
        Feed::Psb => req.header("authorization") == format!("Bearer {}", c.psb_token),
        Feed::Mca => req.header("x-api-key") == c.mca_key,
        Feed::Nhc => req.header("authorization") == format!("Bearer {}", c.nhc_token),
        Feed::Pis => req.header("x-auth-token") == c.pis_token,
    };
    if !authorised {
        return match feed {
            Feed::Psb => json(
                200,
                serde_json::json!({"code": 4010, "msg": "令牌无效", "data": null}),
            ),
            Feed::Mca => json(401, serde_json::json!({"error": "invalid api key"})),
            Feed::Nhc => json(401, serde_json::json!({"error": "unauthorized"})),
            Feed::Pis => json(401, serde_json::json!({"code": 401, "msg": "未授权"})),
        };
    }
    let mut cut = false;
    let mut delay_ms = 0;
    if let Some(k) = decide_fault(state, feed) {
        match k {
            FaultKind::ServerError => {
                let n = state.faulted.load(Ordering::Relaxed);
                let code = [500, 502, 503][(n % 3) as usize];
                return json(code, serde_json::json!({"error": "server error"}));
            }
            FaultKind::TooManyRequests => {
                let mut r = json(429, serde_json::json!({"error": "too many requests"}));
                r.extra.push(("Retry-After", "1".into()));
                return r;
            }
            FaultKind::PsbBusy => {
                return json(
                    200,
                    serde_json::json!({"code": 5001, "msg": "系统繁忙,请稍后再试", "data": null}),
                );
            }
            FaultKind::Reset => {
                let mut r = resp(200, JSON, Vec::new());
                r.action = Action::Reset;
                return r;
            }
            FaultKind::Slow => delay_ms = state.faults.slow_ms,
            FaultKind::CutBody => cut = true,
        }
    }
    let mut r = match feed {
        Feed::Psb => psb(state, req),
        Feed::Mca => mca(state, req),
        Feed::Nhc => nhc(state, req),
        Feed::Pis => pis(state, req),
    };
    if cut && r.status == 200 {
        r.action = Action::Cut;
    }
    r.delay_ms = delay_ms;
    r
}

/// Whether (and how) this feed request is faulted: deterministic in the fault
/// seed and the number of faultable requests so far.
fn decide_fault(state: &SimState, feed: Feed) -> Option<FaultKind> {
    let f = &state.faults;
    if f.rate <= 0.0 || f.kinds.is_empty() {
        return None;
    }
    let n = state.faulted.fetch_add(1, Ordering::Relaxed) + 1;
    let mut rng = SmallRng::seed_from_u64(f.seed.wrapping_mul(1_000_003).wrapping_add(n));
    if rng.random::<f64>() >= f.rate {
        return None;
    }
    let kinds: Vec<FaultKind> = f
        .kinds
        .iter()
        .copied()
        .filter(|k| *k != FaultKind::PsbBusy || feed == Feed::Psb)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    Some(kinds[rng.random_range(0..kinds.len())])
}
