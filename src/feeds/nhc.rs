//! Health: birth and death medical certificates, paged by token, polled with an
//! inclusive `updatedSince`. Every version of a certificate is a record of its own.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::json_fields::{self, code, natural_key, required, text, RowError};
use super::{FeedError, StreamPager};
use crate::config::FeedConfig;
use crate::domain::{
    format_timestamp, local_date_of_rfc3339, parse_dashed_date, DivisionCode, IdNumber, Sex,
};
use crate::records::{
    Batch, BirthCertificate, CertStatus, DeathCertificate, InlineText, Records, WithRaw,
};

/// Where a fresh store starts reading.
const EPOCH: &str = "1970-01-01T00:00:00+08:00";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Birth,
    Death,
}

pub struct NhcPager {
    base: reqwest::Url,
    kind: Kind,
    page_size: u32,
    /// Fixed for the whole pull, from the stored cursor.
    since: Option<String>,
    page_token: Option<String>,
    done: bool,
    /// The page tokens this pull asked with: one handed back again means a loop.
    asked: std::collections::HashSet<String>,
}

impl NhcPager {
    pub fn new(feed: &FeedConfig, kind: Kind) -> NhcPager {
        NhcPager {
            base: feed.base_url.clone(),
            kind,
            page_size: feed.page_size,
            since: None,
            page_token: None,
            done: false,
            asked: Default::default(),
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    items: Vec<&'a RawValue>,
    #[serde(rename = "nextPageToken")]
    next_page_token: Option<String>,
}

impl StreamPager for NhcPager {
    fn stream(&self) -> &'static str {
        match self.kind {
            Kind::Birth => "nhc.birth",
            Kind::Death => "nhc.death",
        }
    }

    fn next_url(&mut self, cursor: Option<&str>) -> Option<reqwest::Url> {
        if self.done {
            return None;
        }
        let since = self
            .since
            .get_or_insert_with(|| cursor.unwrap_or(EPOCH).to_string())
            .clone();
        let path = match self.kind {
            Kind::Birth => "v2/birth-certificates",
            Kind::Death => "v2/death-certificates",
        };
        let mut url = self.base.join(path).ok()?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("updatedSince", &since);
            q.append_pair("pageSize", &self.page_size.to_string());
            if let Some(t) = &self.page_token {
                q.append_pair("pageToken", t);
                self.asked.insert(t.clone());
            }
        }
        Some(url)
    }

    fn decode(&self, body: &[u8], cursor: Option<&str>) -> Result<Batch, FeedError> {
        let env: Envelope = serde_json::from_slice(body).map_err(|e| {
            FeedError::transient(format!(
                "{} page unreadable (cut body?): {e}",
                self.stream()
            ))
        })?;
        let mut births = Vec::new();
        let mut deaths = Vec::new();
        let mut malformed = Vec::new();
        let mut newest: Option<String> = cursor.map(str::to_string);
        for raw in env.items {
            let raw_text = raw.get();
            let parsed = match self.kind {
                Kind::Birth => parse_birth(raw_text).map(|b| {
                    let t = b.updated_at.clone();
                    births.push(WithRaw {
                        record: b,
                        raw: raw_text.to_string(),
                    });
                    t
                }),
                Kind::Death => parse_death(raw_text).map(|d| {
                    let t = d.updated_at.clone();
                    deaths.push(WithRaw {
                        record: d,
                        raw: raw_text.to_string(),
                    });
                    t
                }),
            };
            match parsed {
                Ok(t) => {
                    if newest.as_deref().is_none_or(|n| t.as_str() > n) {
                        newest = Some(t.into());
                    }
                }
                Err(e) => malformed.push(json_fields::malformed(e, raw_text)),
            }
        }
        if let Some(t) = env
            .next_page_token
            .as_ref()
            .filter(|t| self.asked.contains(*t))
        {
            return Err(FeedError::Protocol(format!(
                "{} handed back page token {t:?} again: its paging loops; stopped",
                self.stream()
            )));
        }
        let records = match self.kind {
            Kind::Birth => Records::Births(births),
            Kind::Death => Records::Deaths(deaths),
        };
        Ok(Batch {
            stream: self.stream(),
            records,
            malformed,
            cursor: newest.clone().unwrap_or_else(|| EPOCH.to_string()),
            newest_record_at: newest,
            more: env.next_page_token.is_some(),
            page_token: env.next_page_token,
        })
    }

    fn advance(&mut self, batch: &Batch) {
        self.page_token = batch.page_token.clone();
        self.done = self.page_token.is_none();
    }
}

struct Common {
    cert_no: InlineText,
    version: i64,
    status: CertStatus,
    updated_at: InlineText,
    updated_date: chrono::NaiveDate,
}

fn common(row: &Map<String, Value>) -> Result<Common, RowError> {
    // The key is `certificateNo#version`: without a checked number and a version that
    // is a number, the record has none.
    let cert_no = natural_key(code(row, "certificateNo"), "certificateNo")?;
    let version = code(row, "version")
        .ok_or_else(|| (None, "missing version".to_string()))?
        .parse::<i64>()
        .map_err(|_| (None, "version is not a number".to_string()))?;
    let key = Some(format!("{cert_no}#{version}").into());
    let fail = |r: String| (key.clone(), r);
    let status = required(row, "status").map_err(fail)?;
    let status =
        CertStatus::from_code(&status).ok_or_else(|| fail(format!("unknown status {status:?}")))?;
    let updated = required(row, "updatedAt").map_err(fail)?;
    let (t, updated_date) = local_date_of_rfc3339(&updated)
        .ok_or_else(|| fail(format!("updatedAt {updated:?} is not RFC 3339")))?;
    Ok(Common {
        cert_no,
        version,
        status,
        updated_at: format_timestamp(t).into(),
        updated_date,
    })
}

fn sex(row: &Map<String, Value>, key: &str) -> Sex {
    match code(row, key).as_deref() {
        Some("M") => Sex::Male,
        Some("F") => Sex::Female,
        _ => Sex::Unknown,
    }
}

fn parse_object(raw: &str) -> Result<Map<String, Value>, RowError> {
    serde_json::from_str(raw).map_err(|e| (None, format!("item is not a JSON object: {e}")))
}

fn parse_birth(raw: &str) -> Result<BirthCertificate, RowError> {
    let row = parse_object(raw)?;
    let c = common(&row)?;
    let key = Some(format!("{}#{}", c.cert_no, c.version).into());
    let fail = |r: String| (key.clone(), r);
    let bd = required(&row, "birthDate").map_err(fail)?;
    let birth_date =
        parse_dashed_date(&bd).ok_or_else(|| fail(format!("impossible birthDate {bd}")))?;
    let mother = required(&row, "motherIdNo").map_err(fail)?;
    let mother_id = IdNumber::parse(&mother).map_err(|e| fail(format!("motherIdNo: {e}")))?;
    Ok(BirthCertificate {
        cert_no: c.cert_no,
        version: c.version,
        status: c.status,
        child_name: text(&row, "childName"),
        child_sex: sex(&row, "childSex"),
        birth_date,
        mother_name: text(&row, "motherName"),
        mother_id,
        father_name: text(&row, "fatherName"),
        father_id: text(&row, "fatherIdNo"),
        facility: text(&row, "facility"),
        residence: code(&row, "residenceCode").and_then(|s| DivisionCode::parse(&s)),
        updated_at: c.updated_at,
        updated_date: c.updated_date,
    })
}

fn parse_death(raw: &str) -> Result<DeathCertificate, RowError> {
    let row = parse_object(raw)?;
    let c = common(&row)?;
    let key = Some(format!("{}#{}", c.cert_no, c.version).into());
    let fail = |r: String| (key.clone(), r);
    let dd = required(&row, "deathDate").map_err(fail)?;
    let death_date =
        parse_dashed_date(&dd).ok_or_else(|| fail(format!("impossible deathDate {dd}")))?;
    let id = match code(&row, "idNo") {
        None => None,
        Some(s) => Some(IdNumber::parse(&s).map_err(|e| fail(format!("idNo: {e}")))?),
    };
    Ok(DeathCertificate {
        cert_no: c.cert_no,
        version: c.version,
        status: c.status,
        name: text(&row, "name"),
        id,
        sex: sex(&row, "sex"),
        death_date,
        residence: code(&row, "residenceCode").and_then(|s| DivisionCode::parse(&s)),
        updated_at: c.updated_at,
        updated_date: c.updated_date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions_and_refuses_impossible_dates() {
        let item = r#"{"certificateNo":"K514913759","version":2,"status":"VALID","childName":"李鹏宁","childSex":"M","birthDate":"2010-12-23","motherName":"潘瑶敏","motherIdNo":"349901197708235002","fatherName":"李欢","fatherIdNo":"349901198208227078","facility":"澄湖市中医院","residenceCode":"349901106207","updatedAt":"2011-04-14T14:45:23+08:00"}"#;
        let b = parse_birth(item).unwrap();
        assert_eq!((b.version, b.status), (2, CertStatus::Valid));
        assert_eq!(b.updated_at, "2011-04-14T14:45:23+08:00");
        let bad = item.replace("2010-12-23", "2010-02-30");
        let (key, reason) = parse_birth(&bad).unwrap_err();
        assert_eq!(key.as_deref(), Some("K514913759#2"));
        assert_eq!(reason, "impossible birthDate 2010-02-30");
    }
}
