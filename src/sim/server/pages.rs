//! Each feed's answer as feeds.md describes it: its parameters checked, its page
//! cut from the frozen bytes (`psb` by cursor, `mca` by date window, `nhc` by page
//! token, `pis` by page number), and, after a `pis` answer, a seeded re-save.

use std::sync::atomic::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::sim::wire;

use super::http::{json, resp, Request, Response, CSV, JSON, TEXT_GBK};
use super::SimState;

fn psb_bad(msg: &str) -> Response {
    json(
        400,
        serde_json::json!({"code": 4000, "msg": msg, "data": null}),
    )
}

/// `/api/hjxx/changes`: `limit` rows from `cursor` on; with `psb_rewind`, about one
/// page in ten hands back a cursor two rows early.
pub(super) fn psb(state: &SimState, req: &Request) -> Response {
    let limit: usize = match req.q("limit").unwrap_or("100").parse() {
        Ok(n) if (1..=1000).contains(&n) => n,
        _ => return psb_bad("limit 超出范围 (1-1000)"),
    };
    let live = state.live();
    let w = &live.world;
    let len = w.psb_len();
    let i = match req.q("cursor").unwrap_or("") {
        "" => 0,
        c => {
            let n = c
                .strip_prefix('c')
                .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse::<usize>().ok());
            match n {
                Some(n) if n <= len => n,
                _ => return psb_bad("cursor 无效"),
            }
        }
    };
    let j = (i + limit).min(len);
    let mut next = j;
    if state.faults.psb_rewind
        && j - i > 5
        && ((i as u64).wrapping_mul(2_654_435_761) >> 9).is_multiple_of(10)
    {
        next -= 2;
    }
    let more = next < len;
    let mut body = Vec::with_capacity(64 + w.psb_off[j] - w.psb_off[i]);
    body.extend_from_slice("{\"code\":0,\"msg\":\"成功\",\"data\":{\"rows\":[".as_bytes());
    body.extend_from_slice(w.psb_slice(i, j));
    body.extend_from_slice(format!("],\"cursor\":\"c{next:08}\",\"more\":{more}}}}}").as_bytes());
    resp(200, JSON, body)
}

/// `/export/{marriage,cremation}.csv`: the GBK CSV lines of the days `from..=to`,
/// a window of at most 31 days.
pub(super) fn mca(state: &SimState, req: &Request) -> Response {
    let bad = |m: &str| resp(400, TEXT_GBK, wire::gbk(m));
    let parse = |s: Option<&str>| {
        s.filter(|s| s.len() == 10)
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    };
    let (Some(from), Some(to)) = (parse(req.q("from")), parse(req.q("to"))) else {
        return bad("参数错误: from/to 须为 YYYY-MM-DD");
    };
    if to < from || (to - from).num_days() + 1 > 31 {
        return bad("参数错误: 查询区间不得超过31天");
    }
    let live = state.live();
    let (days, header) = if req.path.contains("marriage") {
        (&live.world.mca_marriage, wire::MARRIAGE_HEADER)
    } else {
        (&live.world.mca_cremation, wire::CREMATION_HEADER)
    };
    let mut body = wire::gbk(&format!("{header}\r\n"));
    for (_, lines) in days.range(from..=to) {
        body.extend_from_slice(lines);
    }
    resp(200, CSV, body)
}

fn parse_since_rfc(s: &str) -> Option<i64> {
    // a '+' left unencoded in the query arrives as a space
    let s = if s.contains('T') && s.matches(' ').count() == 1 {
        s.replace(' ', "+")
    } else {
        s.to_string()
    };
    if let Ok(dt) = DateTime::parse_from_rfc3339(&s) {
        let local = dt.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600)?);
        return Some(local.naive_local().and_utc().timestamp());
    }
    NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// `/v2/{birth,death}-certificates`: `pageSize` items from `updatedSince` or the
/// page token on, whichever is later.
pub(super) fn nhc(state: &SimState, req: &Request) -> Response {
    let size: usize = match req.q("pageSize").unwrap_or("100").parse() {
        Ok(n) if (1..=500).contains(&n) => n,
        _ => return json(400, serde_json::json!({"error": "pageSize must be 1..500"})),
    };
    let live = state.live();
    let items = if req.path.contains("birth") {
        &live.world.nhc_birth
    } else {
        &live.world.nhc_death
    };
    let mut start = 0;
    if let Some(s) = req.q("updatedSince").filter(|s| !s.is_empty()) {
        let Some(at) = parse_since_rfc(s) else {
            return json(400, serde_json::json!({"error": "invalid updatedSince"}));
        };
        start = items.partition_point(|x| x.at < at);
    }
    if let Some(t) = req.q("pageToken").filter(|s| !s.is_empty()) {
        let n = t
            .strip_prefix("t-")
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<usize>().ok());
        match n {
            Some(n) if n <= items.len() => start = start.max(n),
            _ => return json(400, serde_json::json!({"error": "invalid pageToken"})),
        }
    }
    let end = (start + size).min(items.len());
    let mut body = b"{\"items\":[".to_vec();
    for (k, it) in items[start..end].iter().enumerate() {
        if k > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&it.bytes);
    }
    body.extend_from_slice(b"],\"nextPageToken\":");
    if end < items.len() {
        body.extend_from_slice(format!("\"t-{end:06}\"").as_bytes());
    } else {
        body.extend_from_slice(b"null");
    }
    body.push(b'}');
    resp(200, JSON, body)
}

/// `/rkxx/list`: page `pageNo` of the records modified since `modifiedSince`; then,
/// with `mutate_pis`, perhaps one record re-saved, as a live register would.
pub(super) fn pis(state: &SimState, req: &Request) -> Response {
    let bad = || {
        json(
            400,
            serde_json::json!({"code": 400, "msg": "pageNo>=1, pageSize 1..1000"}),
        )
    };
    let page_no: usize = match req.q("pageNo").unwrap_or("1").parse() {
        Ok(n) if n >= 1 => n,
        _ => return bad(),
    };
    let size: usize = match req.q("pageSize").unwrap_or("100").parse() {
        Ok(n) if (1..=1000).contains(&n) => n,
        _ => return bad(),
    };
    let since = match req.q("modifiedSince").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
            Ok(t) => Some(t),
            Err(_) => {
                return json(
                    400,
                    serde_json::json!({"code": 400, "msg": "modifiedSince 格式应为 YYYY-MM-DD HH:MM:SS"}),
                )
            }
        },
    };
    let mut live = state.live();
    let (total, rows) = live.pis_page(since, page_no, size);
    let mut body = format!("{{\"total\":{total},\"pageNo\":{page_no},\"list\":[").into_bytes();
    body.extend_from_slice(&rows);
    body.extend_from_slice(b"]}");
    // after the response is built, the register may re-save one record
    if state.faults.mutate_pis > 0.0 {
        let n = state.pis_responses.fetch_add(1, Ordering::Relaxed) + 1;
        let mut rng = SmallRng::seed_from_u64(state.faults.seed.wrapping_mul(7919).wrapping_add(n));
        if rng.random::<f64>() < state.faults.mutate_pis {
            live.mutate(&mut rng, state.clock_base);
        }
    }
    resp(200, JSON, body)
}
