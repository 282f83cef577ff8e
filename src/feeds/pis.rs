//! The family-planning register: offset paging over rows ordered by
//! (`modifiedTime`, `personId`), from `modifiedSince` inclusive.
//!
//! Offset paging moves under a reader: a row re-saved during the walk leaves its place
//! for the end of the order, and every row behind it shifts one place forward. The
//! pager therefore asks page 1 from the newest `modifiedTime` already read whenever it
//! can, and walks by page number only through a *block*: more rows at one
//! `modifiedTime` than a page holds. A block is walked forward until its end is seen,
//! then read again from its last page back to its first. Rows only ever move towards
//! the front while it is read backwards, so every row still in the block is on a page
//! not yet read (docs/decisions.md, "A pis block read twice"). Until that backward
//! pass ends, the stored cursor stays at the block's time, so a killed sync walks the
//! block again.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::json_fields::{self, code, natural_key, optional_identifier, required, text, RowError};
use super::{FeedError, StreamPager};
use crate::config::FeedConfig;
use crate::domain::{normalise_id, parse_dashed_date, parse_local_datetime, DivisionCode, Sex};
use crate::records::{
    boxed_unless_empty, Batch, Hyzk, InlineText, PisBirth, PisRecord, PisState, Records, WithRaw,
};

/// Where a fresh store starts reading.
const EPOCH: &str = "1970-01-01 00:00:00";

/// Where the walk stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Walk {
    /// Page 1 from `since`: the usual step, one page at a time.
    Head,
    /// Page `page` of a block at `since`, walking forward to find where it ends.
    Ahead { page: u32 },
    /// Page `page` of a block at `since`, walking back to page 1. `then` is the newest
    /// time seen past the block, where the walk goes on once page 1 is read, or `None`
    /// when the block reaches the end of the register.
    Back { page: u32, then: Option<String> },
    /// At the register's current end.
    Done,
}

pub struct PisPager {
    base: reqwest::Url,
    page_size: u32,
    /// The `modifiedSince` of the walk; set from the stored cursor on the first call.
    since: Option<String>,
    walk: Walk,
}

impl PisPager {
    pub fn new(feed: &FeedConfig) -> PisPager {
        PisPager::at(feed.base_url.clone(), feed.page_size)
    }

    fn at(base: reqwest::Url, page_size: u32) -> PisPager {
        PisPager {
            base,
            page_size,
            since: None,
            walk: Walk::Head,
        }
    }

    /// The page the walk asks next.
    fn page_no(&self) -> u32 {
        match &self.walk {
            Walk::Head | Walk::Done => 1,
            Walk::Ahead { page } | Walk::Back { page, .. } => *page,
        }
    }

    /// The cursor stored with a page whose newest row is `newest`: the newest time
    /// read on the usual step, but the block's own time while a block is walked (rows
    /// of the block may still be unread), until its first page is read again.
    fn cursor_after(&self, since: &str, newest: &str) -> String {
        match &self.walk {
            Walk::Head => newest.to_string(),
            Walk::Back {
                page: 1,
                then: Some(then),
            } => then.clone(),
            _ => since.to_string(),
        }
    }

    /// The `modifiedSince` and walk after a page whose newest row is `newest`, and
    /// which was `full` (as many rows as asked for).
    fn next_walk(&self, since: &str, newest: &str, full: bool) -> (String, Walk) {
        let past = newest > since;
        let stay = || since.to_string();
        match &self.walk {
            Walk::Head if !full => (newest.to_string(), Walk::Done),
            Walk::Head if past => (newest.to_string(), Walk::Head),
            Walk::Head => (stay(), Walk::Ahead { page: 2 }),
            Walk::Ahead { page } if full && !past => (stay(), Walk::Ahead { page: page + 1 }),
            Walk::Ahead { page } => (
                stay(),
                Walk::Back {
                    page: page - 1,
                    then: past.then(|| newest.to_string()),
                },
            ),
            Walk::Back { page, then } if *page > 1 => (
                stay(),
                Walk::Back {
                    page: page - 1,
                    then: then.clone(),
                },
            ),
            Walk::Back { then: Some(t), .. } => (t.clone(), Walk::Head),
            Walk::Back { then: None, .. } | Walk::Done => (stay(), Walk::Done),
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    list: Vec<&'a RawValue>,
}

impl StreamPager for PisPager {
    fn stream(&self) -> &'static str {
        "pis"
    }

    fn next_url(&mut self, cursor: Option<&str>) -> Option<reqwest::Url> {
        if self.walk == Walk::Done {
            return None;
        }
        let since = self
            .since
            .get_or_insert_with(|| cursor.unwrap_or(EPOCH).to_string())
            .clone();
        let mut url = self.base.join("rkxx/list").ok()?;
        url.query_pairs_mut()
            .append_pair("modifiedSince", &since)
            .append_pair("pageNo", &self.page_no().to_string())
            .append_pair("pageSize", &self.page_size.to_string());
        Some(url)
    }

    fn decode(&self, body: &[u8], cursor: Option<&str>) -> Result<Batch, FeedError> {
        let env: Envelope = serde_json::from_slice(body)
            .map_err(|e| FeedError::transient(format!("pis page unreadable (cut body?): {e}")))?;
        let count = env.list.len();
        let mut rows = Vec::with_capacity(count);
        let mut malformed = Vec::new();
        let since = self
            .since
            .clone()
            .or_else(|| cursor.map(str::to_string))
            .unwrap_or_else(|| EPOCH.to_string());
        let mut newest = since.clone();
        for raw in env.list {
            let raw_text = raw.get();
            let (mt, parsed) = parse_row(raw_text);
            if let Some(mt) = mt {
                if mt.as_str() > newest.as_str() {
                    newest = mt.to_string();
                }
            }
            match parsed {
                Ok(r) => rows.push(WithRaw {
                    record: r,
                    raw: raw_text.to_string(),
                }),
                Err(e) => malformed.push(json_fields::malformed(e, raw_text)),
            }
        }
        Ok(Batch {
            stream: "pis",
            records: Records::Pis(rows),
            malformed,
            cursor: self.cursor_after(&since, &newest),
            newest_record_at: Some(newest),
            more: count >= self.page_size as usize,
            page_token: None,
        })
    }

    fn advance(&mut self, batch: &Batch) {
        let since = self.since.clone().unwrap_or_else(|| EPOCH.to_string());
        let newest = batch.newest_record_at.as_deref().unwrap_or(&since);
        let (since, walk) = self.next_walk(&since, newest, batch.more);
        self.since = Some(since);
        self.walk = walk;
    }
}
/// The row's valid `modifiedTime` (even when the row is malformed otherwise) and the row.
fn parse_row(raw: &str) -> (Option<InlineText>, Result<PisRecord, RowError>) {
    let row: Map<String, Value> = match serde_json::from_str(raw) {
        Ok(r) => r,
        Err(e) => return (None, Err((None, format!("row is not a JSON object: {e}")))),
    };
    let mt = code(&row, "modifiedTime").filter(|m| parse_local_datetime(m).is_some());
    (mt.clone(), parse_fields(&row, mt))
}

fn parse_fields(row: &Map<String, Value>, mt: Option<InlineText>) -> Result<PisRecord, RowError> {
    let person_id = natural_key(code(row, "personId"), "personId")?;
    let key = Some(person_id.clone());
    let fail = |r: String| (key.clone(), r);
    let sex = match required(row, "xb").map_err(fail)?.as_str() {
        "男" => Sex::Male,
        "女" => Sex::Female,
        other => return Err(fail(format!("xb {other:?} is not 男 or 女"))),
    };
    let csrq = required(row, "csrq").map_err(fail)?;
    let birth_date =
        parse_dashed_date(&csrq).ok_or_else(|| fail(format!("impossible csrq {csrq}")))?;
    let cun = required(row, "cunCode").map_err(fail)?;
    let village = DivisionCode::parse(&cun)
        .ok_or_else(|| fail(format!("cunCode {cun:?} is not a 12-digit code")))?;
    let zt = required(row, "zt").map_err(fail)?;
    let state = zt
        .parse::<i64>()
        .ok()
        .and_then(PisState::from_code)
        .ok_or_else(|| fail(format!("zt {zt:?} is not 1, 2 or 3")))?;
    let deleted = match required(row, "delFlag").map_err(fail)?.as_str() {
        "0" => false,
        "1" => true,
        other => return Err(fail(format!("delFlag {other:?} is not 0 or 1"))),
    };
    if code(row, "modifiedTime").is_none() {
        return Err(fail("missing modifiedTime".into()));
    }
    let modified_time = mt.ok_or_else(|| fail("modifiedTime is not YYYY-MM-DD HH:MM:SS".into()))?;
    let birth_cert_no = optional_identifier(row, "csyxzmbh").map_err(fail)?;
    let sfzh = text(row, "sfzh").unwrap_or_default();
    Ok(PisRecord {
        person_id,
        id_norm: normalise_id(&sfzh).into(),
        sfzh,
        name: text(row, "xm").unwrap_or_default(),
        sex,
        birth_date,
        village,
        marital: code(row, "hyzk").map(|c| Hyzk::parse(&c)),
        birth: boxed_unless_empty(PisBirth {
            mother_id: code(row, "mqSfzh"),
            birth_cert_no,
        }),
        state,
        deleted,
        ever_deleted: deleted,
        modified_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const ROW: &str = r#"{"personId":"RK5249774639","sfzh":"34990120060425617x","xm":"陈宁杰","xb":"男","csrq":"2006-04-25","cunCode":"349901004005","hyzk":"10","mqSfzh":"","csyxzmbh":"","zt":"1","modifiedTime":"2011-08-25 13:10:07","delFlag":"0"}"#;

    #[test]
    fn keeps_sfzh_as_typed_beside_its_normal_form() {
        let r = parse_row(ROW).1.unwrap();
        assert_eq!(r.sfzh, "34990120060425617x");
        assert_eq!(r.id_norm, "34990120060425617X");
        assert!(r.is_active());
        assert_eq!(r.mother_id(), None);
    }

    #[test]
    fn an_impossible_date_is_malformed_but_keeps_its_time() {
        let (mt, r) = parse_row(&ROW.replace("2006-04-25", "2003-02-30"));
        assert_eq!(mt.as_deref(), Some("2011-08-25 13:10:07"));
        assert_eq!(
            r.unwrap_err(),
            (
                Some("RK5249774639".into()),
                "impossible csrq 2003-02-30".into()
            )
        );
    }
}

/// The pager against a model of the register's offset paging, re-saving rows at every
/// moment of the walk (docs/decisions.md, "A pis block read twice").
#[cfg(test)]
mod walk_model {
    use std::collections::HashSet;

    use chrono::{Duration, NaiveDate};

    use super::*;

    /// The register: rows ordered by (`modifiedTime`, `personId`), times in seconds.
    #[derive(Clone)]
    struct Register {
        rows: Vec<(u32, String)>,
        clock: u32,
    }

    fn time_text(t: u32) -> String {
        let base = NaiveDate::from_ymd_opt(2014, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("a date");
        (base + Duration::seconds(i64::from(t)))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    impl Register {
        /// `before` rows at their own times, a block of `block` rows at one time,
        /// then `after` rows at their own times.
        fn new(before: u32, block: u32, after: u32) -> Register {
            let mut rows = Vec::new();
            let mut t = 10;
            for i in 0..before {
                rows.push((t, format!("A{i:02}")));
                t += 10;
            }
            for i in 0..block {
                rows.push((t, format!("B{i:02}")));
            }
            for i in 0..after {
                t += 10;
                rows.push((t, format!("C{i:02}")));
            }
            Register {
                rows,
                clock: t + 100,
            }
        }

        fn serve(&self, url: &reqwest::Url) -> Vec<u8> {
            let q = |k: &str| {
                url.query_pairs()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.to_string())
                    .expect("asked")
            };
            let (since, page_no, size) = (q("modifiedSince"), q("pageNo"), q("pageSize"));
            let (page_no, size): (usize, usize) = (page_no.parse().unwrap(), size.parse().unwrap());
            let list: Vec<String> = self
                .rows
                .iter()
                .filter(|(t, _)| time_text(*t) >= since)
                .skip((page_no - 1) * size)
                .take(size)
                .map(|(t, pid)| {
                    super::tests::ROW
                        .replace("RK5249774639", pid)
                        .replace("2011-08-25 13:10:07", &time_text(*t))
                })
                .collect();
            format!(
                r#"{{"total":0,"pageNo":{page_no},"list":[{}]}}"#,
                list.join(",")
            )
            .into_bytes()
        }

        /// The register saves row `pid` again: it moves to the end of the order.
        fn resave(&mut self, pid: &str) {
            let i = self.rows.iter().position(|(_, p)| p == pid).expect("a row");
            let (_, pid) = self.rows.remove(i);
            self.clock += 1;
            self.rows.push((self.clock, pid));
        }
    }

    /// Pulls to the end from `cursor` as a sync does, re-saving row `pid` after the
    /// `n`-th response for each `(n, pid)` of `resaves`; returns the stored cursor.
    fn pull(
        reg: &mut Register,
        page_size: u32,
        cursor: Option<String>,
        resaves: &[(usize, String)],
        responses: &mut usize,
        read: &mut HashSet<(String, String)>,
    ) -> Option<String> {
        let mut pager = PisPager::at("http://pis.test/".parse().unwrap(), page_size);
        let mut cursor = cursor;
        while let Some(url) = pager.next_url(cursor.as_deref()) {
            let batch = pager.decode(&reg.serve(&url), cursor.as_deref()).unwrap();
            let Records::Pis(rows) = &batch.records else {
                unreachable!()
            };
            for r in rows {
                read.insert((
                    r.record.person_id.to_string(),
                    r.record.modified_time.to_string(),
                ));
            }
            pager.advance(&batch);
            cursor = Some(batch.cursor.clone());
            *responses += 1;
            for (_, pid) in resaves.iter().filter(|(n, _)| *n == *responses) {
                reg.resave(pid);
            }
            assert!(*responses < 10_000, "the walk does not end");
        }
        cursor
    }

    /// Pulls until a pull began after the last re-save, checking after every pull that
    /// each row older than the stored cursor was read as it now stands, and at the end
    /// that every row was. Returns the rows missed, if any.
    fn missed(reg: &Register, page_size: u32, resaves: &[(usize, String)]) -> Vec<String> {
        let mut reg = reg.clone();
        let last = resaves.iter().map(|(n, _)| *n).max().unwrap_or(0);
        let (mut responses, mut read, mut cursor) = (0, HashSet::new(), None);
        let unread = |reg: &Register, read: &HashSet<(String, String)>, below: Option<&str>| {
            reg.rows
                .iter()
                .map(|(t, pid)| (pid.clone(), time_text(*t)))
                .filter(|(_, t)| below.is_none_or(|c| t.as_str() < c))
                .filter(|row| !read.contains(row))
                .map(|(pid, t)| format!("{pid}@{t}"))
                .collect::<Vec<_>>()
        };
        for _ in 0..10 {
            let began_after_last = responses >= last;
            cursor = pull(
                &mut reg,
                page_size,
                cursor,
                resaves,
                &mut responses,
                &mut read,
            );
            let skipped = unread(&reg, &read, cursor.as_deref());
            if !skipped.is_empty() {
                return skipped;
            }
            if began_after_last {
                return unread(&reg, &read, None);
            }
        }
        panic!("re-saves still pending after ten pulls");
    }

    fn pids(reg: &Register) -> Vec<String> {
        reg.rows.iter().map(|(_, p)| p.clone()).collect()
    }

    /// Responses of a pull with nothing re-saved: re-saves are tried after each of
    /// them and a few more.
    fn moments(reg: &Register, page_size: u32) -> usize {
        let mut n = 0;
        pull(
            &mut reg.clone(),
            page_size,
            None,
            &[],
            &mut n,
            &mut HashSet::new(),
        );
        n + 3
    }

    #[test]
    fn one_resave_at_any_moment_skips_nothing_at_any_page_size() {
        for reg in [
            Register::new(2, 10, 3),
            Register::new(2, 10, 0),
            Register::new(0, 7, 2),
        ] {
            for page_size in 1..=5 {
                for n in 1..=moments(&reg, page_size) {
                    for pid in pids(&reg) {
                        let m = missed(&reg, page_size, &[(n, pid.clone())]);
                        assert!(m.is_empty(), "page size {page_size}, {pid} re-saved after response {n}: missed {m:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn two_resaves_at_any_moments_skip_nothing_in_a_block_of_ten_pages_of_three() {
        for reg in [Register::new(2, 10, 3), Register::new(2, 10, 0)] {
            let all = pids(&reg);
            let moments = moments(&reg, 3);
            let mut cases = 0;
            for n1 in 1..=moments {
                for n2 in n1..=moments {
                    for p1 in &all {
                        for p2 in &all {
                            let resaves = [(n1, p1.clone()), (n2, p2.clone())];
                            let m = missed(&reg, 3, &resaves);
                            assert!(m.is_empty(), "re-saves {resaves:?}: missed {m:?}");
                            cases += 1;
                        }
                    }
                }
            }
            assert!(cases > 5_000, "{cases} interleavings");
        }
    }
}
