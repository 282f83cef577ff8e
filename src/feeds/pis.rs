//! The family-planning register: offset paging over rows ordered by modification time.
//! Walking `pageNo` 1, 2, 3 … skips rows that are re-saved during the scan, so the
//! pager always asks page 1 from the newest `modifiedTime` already stored, and only
//! steps to page 2, 3 … while a whole page shares that one `modifiedTime`.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::json_fields::{self, code, required, text, RowError};
use super::{FeedError, StreamPager};
use crate::config::FeedConfig;
use crate::domain::{normalise_id, parse_dashed_date, parse_local_datetime, DivisionCode, Sex};
use crate::records::{
    boxed_unless_empty, Batch, InlineText, PisBirth, PisRecord, PisState, Records, WithRaw,
};

/// Where a fresh store starts reading.
const EPOCH: &str = "1970-01-01 00:00:00";

pub struct PisPager {
    base: reqwest::Url,
    page_size: u32,
    since: Option<String>,
    page_no: u32,
    done: bool,
}

impl PisPager {
    pub fn new(feed: &FeedConfig) -> PisPager {
        PisPager {
            base: feed.base_url.clone(),
            page_size: feed.page_size,
            since: None,
            page_no: 1,
            done: false,
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
        if self.done {
            return None;
        }
        let since = self
            .since
            .get_or_insert_with(|| cursor.unwrap_or(EPOCH).to_string())
            .clone();
        let mut url = self.base.join("rkxx/list").ok()?;
        url.query_pairs_mut()
            .append_pair("modifiedSince", &since)
            .append_pair("pageNo", &self.page_no.to_string())
            .append_pair("pageSize", &self.page_size.to_string());
        Some(url)
    }

    fn decode(&self, body: &[u8], cursor: Option<&str>) -> Result<Batch, FeedError> {
        let env: Envelope = serde_json::from_slice(body)
            .map_err(|e| FeedError::transient(format!("pis page unreadable (cut body?): {e}")))?;
        let count = env.list.len();
        let mut rows = Vec::with_capacity(count);
        let mut malformed = Vec::new();
        let mut newest: String = self
            .since
            .clone()
            .or_else(|| cursor.map(str::to_string))
            .unwrap_or_else(|| EPOCH.to_string());
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
            newest_record_at: Some(newest.clone()),
            cursor: newest,
            more: count >= self.page_size as usize,
            page_token: None,
        })
    }

    fn advance(&mut self, batch: &Batch) {
        self.done = !batch.more;
        if self
            .since
            .as_deref()
            .is_some_and(|s| batch.cursor.as_str() > s)
        {
            self.since = Some(batch.cursor.clone());
            self.page_no = 1;
        } else {
            // A whole page at the same modifiedTime: the only way on is the next page.
            self.page_no += 1;
        }
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
    let key = code(row, "personId");
    let fail = |r: String| (key.clone(), r);
    let person_id = key.clone().ok_or_else(|| fail("missing personId".into()))?;
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
    let sfzh = text(row, "sfzh").unwrap_or_default();
    Ok(PisRecord {
        person_id,
        id_norm: normalise_id(&sfzh).into(),
        sfzh,
        name: text(row, "xm").unwrap_or_default(),
        sex,
        birth_date,
        village,
        marital: code(row, "hyzk"),
        birth: boxed_unless_empty(PisBirth {
            mother_id: code(row, "mqSfzh"),
            birth_cert_no: code(row, "csyxzmbh"),
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

    const ROW: &str = r#"{"personId":"RK5249774639","sfzh":"34990120060425617x","xm":"陈宁杰","xb":"男","csrq":"2006-04-25","cunCode":"349901004005","hyzk":"10","mqSfzh":"","csyxzmbh":"","zt":"1","modifiedTime":"2011-08-25 13:10:07","delFlag":"0"}"#;

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
