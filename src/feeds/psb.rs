//! Public security household-registration changes: a cursor envelope with errors
//! that can arrive inside HTTP 200.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::json_fields::{self, code, natural_key, optional_identifier, required, text, RowError};
use super::{FeedError, StreamPager};
use crate::config::FeedConfig;
use crate::domain::{parse_compact_date, parse_local_datetime, DivisionCode, IdNumber, Sex};
use crate::records::{
    boxed_unless_empty, Batch, PsbDetails, PsbEvent, PsbEventKind, PsbParticulars, Records, WithRaw,
};

pub struct PsbPager {
    base: reqwest::Url,
    limit: u32,
    done: bool,
    /// The cursors this pull asked with: one handed back again means the paging loops.
    asked: std::collections::HashSet<String>,
}

impl PsbPager {
    pub fn new(feed: &FeedConfig) -> PsbPager {
        PsbPager {
            base: feed.base_url.clone(),
            limit: feed.page_size,
            done: false,
            asked: Default::default(),
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    code: i64,
    #[serde(default)]
    msg: Option<String>,
    #[serde(borrow)]
    data: Option<Data<'a>>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    rows: Vec<&'a RawValue>,
    cursor: String,
    more: bool,
}

impl StreamPager for PsbPager {
    fn stream(&self) -> &'static str {
        "psb"
    }

    fn next_url(&mut self, cursor: Option<&str>) -> Option<reqwest::Url> {
        if self.done {
            return None;
        }
        let mut url = self.base.join("api/hjxx/changes").ok()?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(c) = cursor {
                q.append_pair("cursor", c);
                self.asked.insert(c.to_string());
            }
            q.append_pair("limit", &self.limit.to_string());
        }
        Some(url)
    }

    fn decode(&self, body: &[u8], _cursor: Option<&str>) -> Result<Batch, FeedError> {
        let env: Envelope = serde_json::from_slice(body).map_err(|e| {
            FeedError::transient(format!("psb envelope unreadable (cut body?): {e}"))
        })?;
        let msg = env.msg.unwrap_or_default();
        match env.code {
            0 => {}
            4010 => return Err(FeedError::Auth(format!("psb code 4010: {msg}"))),
            5001 => return Err(FeedError::transient(format!("psb code 5001: {msg}"))),
            other => return Err(FeedError::Protocol(format!("psb code {other}: {msg}"))),
        }
        let data = env
            .data
            .ok_or_else(|| FeedError::Protocol("psb code 0 without data".into()))?;
        if data.more && self.asked.contains(&data.cursor) {
            return Err(FeedError::Protocol(format!(
                "psb handed back cursor {:?} again with more to come: its paging loops; stopped",
                data.cursor
            )));
        }
        let mut rows = Vec::with_capacity(data.rows.len());
        let mut malformed = Vec::new();
        let mut newest: Option<String> = None;
        for raw in data.rows {
            let raw_text = raw.get();
            match parse_row(raw_text) {
                Ok(ev) => {
                    if newest
                        .as_deref()
                        .is_none_or(|n| ev.recorded_at.as_str() > n)
                    {
                        newest = Some(ev.recorded_at.to_string());
                    }
                    rows.push(WithRaw {
                        record: ev,
                        raw: raw_text.to_string(),
                    })
                }
                Err(e) => malformed.push(json_fields::malformed(e, raw_text)),
            }
        }
        Ok(Batch {
            stream: "psb",
            records: Records::Psb(rows),
            malformed,
            cursor: data.cursor,
            newest_record_at: newest,
            more: data.more,
            page_token: None,
        })
    }

    fn advance(&mut self, batch: &Batch) {
        self.done = !batch.more;
    }
}

fn parse_row(raw: &str) -> Result<PsbEvent, RowError> {
    let row: Map<String, Value> =
        serde_json::from_str(raw).map_err(|e| (None, format!("row is not a JSON object: {e}")))?;
    let lsh = natural_key(code(&row, "lsh"), "lsh")?;
    let key = Some(lsh.clone());
    let fail = |reason: String| (key.clone(), reason);
    let ywlx = required(&row, "ywlx").map_err(fail)?;
    let kind =
        PsbEventKind::from_code(&ywlx).ok_or_else(|| fail(format!("unknown ywlx {ywlx:?}")))?;
    let gmsfhm = required(&row, "gmsfhm").map_err(fail)?;
    let id = IdNumber::parse(&gmsfhm).map_err(|e| fail(format!("gmsfhm: {e}")))?;
    let xb = required(&row, "xb").map_err(fail)?;
    let sex = match xb.as_str() {
        "1" => Sex::Male,
        "2" => Sex::Female,
        other => return Err(fail(format!("xb {other:?} is not 1 or 2"))),
    };
    let csrq = required(&row, "csrq").map_err(fail)?;
    let birth_date =
        parse_compact_date(&csrq).ok_or_else(|| fail(format!("impossible csrq {csrq}")))?;
    let xzqh = required(&row, "xzqh").map_err(fail)?;
    let division = DivisionCode::parse(&xzqh)
        .ok_or_else(|| fail(format!("xzqh {xzqh:?} is not a 12-digit code")))?;
    let ywrq = required(&row, "ywrq").map_err(fail)?;
    let event_date =
        parse_compact_date(&ywrq).ok_or_else(|| fail(format!("impossible ywrq {ywrq}")))?;
    let djsj = required(&row, "djsj").map_err(fail)?;
    parse_local_datetime(&djsj)
        .ok_or_else(|| fail(format!("djsj {djsj:?} is not YYYY-MM-DD HH:MM:SS")))?;
    let mother_id = match (kind, code(&row, "mqsfhm")) {
        (PsbEventKind::Birth, None) => return Err(fail("missing mqsfhm".into())),
        (_, Some(m)) => match IdNumber::parse(&m) {
            Ok(id) => Some(id),
            Err(e) if kind == PsbEventKind::Birth => return Err(fail(format!("mqsfhm: {e}"))),
            Err(_) => None,
        },
        (_, None) => None,
    };
    let death_date = match (kind, code(&row, "swrq")) {
        (PsbEventKind::Death, None) => return Err(fail("missing swrq".into())),
        (_, Some(d)) => match parse_compact_date(&d) {
            Some(d) => Some(d),
            None if kind == PsbEventKind::Death => {
                return Err(fail(format!("impossible swrq {d}")))
            }
            None => None,
        },
        (_, None) => None,
    };
    let birth_cert_no = optional_identifier(&row, "csyxzmbh").map_err(fail)?;
    Ok(PsbEvent {
        lsh,
        kind,
        id,
        name: text(&row, "xm").unwrap_or_default(),
        sex,
        birth_date,
        division,
        particulars: boxed_unless_empty(PsbParticulars {
            to_county: code(&row, "qwd"),
            mother_id,
            birth_cert_no,
            death_date,
        }),
        event_date,
        recorded_at: djsj,
        details: Some(Box::new(PsbDetails {
            ethnicity: code(&row, "mz"),
            household: code(&row, "hh"),
            relation: code(&row, "yhzgx"),
            from_county: code(&row, "qyd"),
            father_id: text(&row, "fqsfhm"),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str = r#"{"lsh":"349901201000000058","ywlx":"SW","gmsfhm":"349901193504124564","xm":"黄静","xb":"2","csrq":"19350412","mz":"01","hh":"349901000042","yhzgx":"02","xzqh":"349901104203","qyd":null,"qwd":null,"fqsfhm":null,"mqsfhm":null,"csyxzmbh":null,"swrq":"20100828","ywrq":"20100912","djsj":"2010-09-12 10:29:37"}"#;

    #[test]
    fn parses_a_death_row() {
        let ev = parse_row(ROW).unwrap();
        assert_eq!(ev.kind, PsbEventKind::Death);
        assert_eq!(ev.division.township().as_str(), "349901104");
        assert_eq!(ev.death_date().unwrap().to_string(), "2010-08-28");
    }

    #[test]
    fn names_the_reason_a_row_is_malformed() {
        let bad = ROW.replace("\"swrq\":\"20100828\"", "\"swrq\":null");
        assert_eq!(parse_row(&bad).unwrap_err().1, "missing swrq");
        let bad = ROW.replace("\"csrq\":\"19350412\"", "\"csrq\":\"19350230\"");
        assert_eq!(parse_row(&bad).unwrap_err().1, "impossible csrq 19350230");
        let bad = ROW.replace("349901193504124564", "349901193504124565");
        assert!(parse_row(&bad).unwrap_err().1.contains("check character"));
    }

    #[test]
    fn errors_inside_http_200_are_told_apart() {
        let p = PsbPager {
            base: "http://x/".parse().unwrap(),
            limit: 10,
            done: false,
            asked: Default::default(),
        };
        let busy = r#"{"code":5001,"msg":"系统繁忙,请稍后再试","data":null}"#;
        assert!(p.decode(busy.as_bytes(), None).unwrap_err().is_transient());
        let auth = r#"{"code":4010,"msg":"令牌无效","data":null}"#;
        assert!(matches!(
            p.decode(auth.as_bytes(), None),
            Err(FeedError::Auth(_))
        ));
        assert!(p
            .decode(b"{\"code\":0,\"msg\":", None)
            .unwrap_err()
            .is_transient());
    }
}
