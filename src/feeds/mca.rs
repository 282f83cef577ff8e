//! Civil affairs: two GBK-encoded CSV exports read in date windows of at most 31 days,
//! re-reading `overlap_days` before the last window for late uploads.

use chrono::{Duration, NaiveDate};
use encoding_rs::GBK;

use super::json_fields::{self, natural_key, RowError};
use super::{FeedError, StreamPager};
use crate::config::FeedConfig;
use crate::domain::{parse_slashed_date, IdNumber, Sex};
use crate::records::{Batch, Cremation, InlineText, Marriage, MarriageKind, Records, WithRaw};

/// The longest window the department accepts, counting both ends.
const WINDOW_DAYS: i64 = 31;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    Marriage,
    Cremation,
}

impl Export {
    fn path(self) -> &'static str {
        match self {
            Export::Marriage => "export/marriage.csv",
            Export::Cremation => "export/cremation.csv",
        }
    }

    fn stream(self) -> &'static str {
        match self {
            Export::Marriage => "mca.marriage",
            Export::Cremation => "mca.cremation",
        }
    }

    /// The export's header line, field by field: a body with another is refused.
    pub(super) fn header(self) -> [&'static str; 8] {
        match self {
            Export::Marriage => [
                "登记证号",
                "业务类别",
                "男方姓名",
                "男方身份证件号",
                "女方姓名",
                "女方身份证件号",
                "登记日期",
                "登记机关",
            ],
            Export::Cremation => [
                "火化证明编号",
                "逝者姓名",
                "性别",
                "身份证件号",
                "死亡日期",
                "火化日期",
                "户籍地址",
                "殡仪馆",
            ],
        }
    }
}

pub struct McaPager {
    base: reqwest::Url,
    export: Export,
    start_date: NaiveDate,
    overlap_days: i64,
    today: NaiveDate,
    /// The first day of the next window; set from the stored cursor on the first call.
    next_from: Option<NaiveDate>,
}

impl McaPager {
    pub fn new(feed: &FeedConfig, export: Export, today: NaiveDate) -> McaPager {
        McaPager {
            base: feed.base_url.clone(),
            export,
            start_date: feed.start_date,
            overlap_days: i64::from(feed.overlap_days),
            today,
            next_from: None,
        }
    }

    fn window(&self, from: NaiveDate) -> (NaiveDate, NaiveDate) {
        let to = (from + Duration::days(WINDOW_DAYS - 1)).min(self.today);
        (from, to)
    }
}

impl StreamPager for McaPager {
    fn stream(&self) -> &'static str {
        self.export.stream()
    }

    fn next_url(&mut self, cursor: Option<&str>) -> Option<reqwest::Url> {
        let from = match self.next_from {
            Some(f) => f,
            None => {
                // The stored cursor is the last day fully read; start `overlap_days`
                // before its end so late uploads are seen.
                let f = cursor
                    .and_then(|c| NaiveDate::parse_from_str(c, "%Y-%m-%d").ok())
                    .map(|last| (last - Duration::days(self.overlap_days - 1)).max(self.start_date))
                    .unwrap_or(self.start_date);
                self.next_from = Some(f);
                f
            }
        };
        if from > self.today {
            return None;
        }
        let (from, to) = self.window(from);
        let mut url = self.base.join(self.export.path()).ok()?;
        url.query_pairs_mut()
            .append_pair("from", &from.format("%Y-%m-%d").to_string())
            .append_pair("to", &to.format("%Y-%m-%d").to_string());
        Some(url)
    }

    fn decode(&self, body: &[u8], _cursor: Option<&str>) -> Result<Batch, FeedError> {
        let from = self.next_from.unwrap_or(self.start_date);
        let (_, to) = self.window(from);
        let (text, _, had_errors) = GBK.decode(body);
        if had_errors {
            tracing::warn!(
                stream = self.stream(),
                "export has bytes that are not GBK; replaced"
            );
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(text.as_bytes());
        let header = reader
            .headers()
            .map_err(|e| FeedError::transient(format!("{} header unreadable: {e}", self.stream())))?
            .clone();
        let expected = self.export.header();
        if header.len() != expected.len() || header.iter().zip(expected).any(|(a, b)| a.trim() != b)
        {
            return Err(FeedError::Protocol(format!(
                "{} header is {:?}, expected {:?}",
                self.stream(),
                header.iter().collect::<Vec<_>>(),
                expected
            )));
        }
        let mut marriages = Vec::new();
        let mut cremations = Vec::new();
        let mut malformed = Vec::new();
        for rec in reader.records() {
            let rec = rec.map_err(|e| {
                FeedError::transient(format!("{} CSV unreadable (cut body?): {e}", self.stream()))
            })?;
            let fields: Vec<&str> = rec.iter().collect();
            let raw = to_csv_line(&fields);
            let parsed = if fields.len() != 8 {
                Err((None, format!("{} fields, expected 8", fields.len())))
            } else {
                match self.export {
                    Export::Marriage => parse_marriage(&fields).map(|m| {
                        marriages.push(WithRaw {
                            record: m,
                            raw: raw.clone(),
                        })
                    }),
                    Export::Cremation => parse_cremation(&fields).map(|c| {
                        cremations.push(WithRaw {
                            record: c,
                            raw: raw.clone(),
                        })
                    }),
                }
            };
            if let Err(e) = parsed {
                malformed.push(json_fields::malformed(e, &raw));
            }
        }
        let records = match self.export {
            Export::Marriage => Records::Marriages(marriages),
            Export::Cremation => Records::Cremations(cremations),
        };
        Ok(Batch {
            stream: self.stream(),
            records,
            malformed,
            cursor: to.format("%Y-%m-%d").to_string(),
            newest_record_at: None,
            more: to < self.today,
            page_token: None,
        })
    }

    fn advance(&mut self, batch: &Batch) {
        let to = NaiveDate::parse_from_str(&batch.cursor, "%Y-%m-%d").unwrap_or(self.today);
        self.next_from = Some(to + Duration::days(1));
    }
}

fn to_csv_line(fields: &[&str]) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(fields);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

fn nonblank(s: &str) -> Option<InlineText> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.into())
}

fn date_field(s: &str, name: &str) -> Result<NaiveDate, String> {
    if s.trim().is_empty() {
        return Err(format!("missing {name}"));
    }
    parse_slashed_date(s).ok_or_else(|| format!("impossible {name} {}", s.trim()))
}

fn parse_marriage(f: &[&str]) -> Result<Marriage, RowError> {
    let reg_no = natural_key(nonblank(f[0]), "登记证号")?;
    let key = Some(reg_no.clone());
    let fail = |r: String| (key.clone(), r);
    let kind =
        MarriageKind::from_zh(f[1]).ok_or_else(|| fail(format!("unknown 业务类别 {:?}", f[1])))?;
    let husband_id = IdNumber::parse(f[3]).map_err(|e| fail(format!("男方身份证件号: {e}")))?;
    let wife_id = IdNumber::parse(f[5]).map_err(|e| fail(format!("女方身份证件号: {e}")))?;
    let reg_date = date_field(f[6], "登记日期").map_err(fail)?;
    Ok(Marriage {
        reg_no,
        kind,
        husband_name: f[2].trim().into(),
        husband_id,
        wife_name: f[4].trim().into(),
        wife_id,
        reg_date,
        office: f[7].trim().into(),
    })
}

fn parse_cremation(f: &[&str]) -> Result<Cremation, RowError> {
    let cert_no = natural_key(nonblank(f[0]), "火化证明编号")?;
    let key = Some(cert_no.clone());
    let fail = |r: String| (key.clone(), r);
    let sex = match f[2].trim() {
        "男" => Sex::Male,
        "女" => Sex::Female,
        other => return Err(fail(format!("性别 {other:?} is not 男 or 女"))),
    };
    let id = match nonblank(f[3]) {
        None => None,
        Some(s) => Some(IdNumber::parse(&s).map_err(|e| fail(format!("身份证件号: {e}")))?),
    };
    let death_date = date_field(f[4], "死亡日期").map_err(fail)?;
    let cremation_date = date_field(f[5], "火化日期").map_err(fail)?;
    Ok(Cremation {
        cert_no,
        name: f[1].trim().into(),
        sex,
        id,
        death_date,
        cremation_date,
        address: f[6].trim().into(),
        funeral_home: f[7].trim().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, FeedName};

    fn pager(export: Export) -> McaPager {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "key").unwrap();
        let toml = format!(
            "[database]\nurl='sqlite://x.db'\n[city]\ncounties=['349901']\n[feeds.mca]\nbase_url='https://127.0.0.1:1/'\napi_key_file='{}'\n",
            dir.path().join("k").display()
        );
        let cfg = Config::from_toml(&toml, std::path::Path::new("t.toml"), &|_| None).unwrap();
        McaPager::new(
            cfg.feed(FeedName::Mca).unwrap(),
            export,
            NaiveDate::from_ymd_opt(2010, 3, 1).unwrap(),
        )
    }

    #[test]
    fn decodes_gbk_csv_and_quarantines_bad_rows() {
        let mut p = pager(Export::Cremation);
        p.next_url(None).unwrap();
        let text = "火化证明编号,逝者姓名,性别,身份证件号,死亡日期,火化日期,户籍地址,殡仪馆\r\n\
                    HH2010-00001,黄静,女,349901193504124564,2010/8/28,2010/8/31,\"安徽省澄湖市,西桥村\",澄湖市殡仪馆\r\n\
                    HH2010-00002,无名,男,,2010/2/30,2010/3/1,,澄湖市殡仪馆\r\n";
        let (gbk, _, _) = GBK.encode(text);
        let batch = p.decode(&gbk, None).unwrap();
        let Records::Cremations(rows) = &batch.records else {
            panic!()
        };
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].record.address, "安徽省澄湖市,西桥村");
        assert_eq!(batch.malformed.len(), 1);
        assert_eq!(batch.malformed[0].key, "HH2010-00002");
        assert_eq!(batch.malformed[0].reason, "impossible 死亡日期 2010/2/30");
        assert_eq!(batch.cursor, "2010-01-31");
    }

    #[test]
    fn windows_span_at_most_31_days_and_overlap_on_the_next_pull() {
        let mut p = pager(Export::Marriage);
        let url = p.next_url(None).unwrap();
        assert!(
            url.as_str().ends_with("from=2010-01-01&to=2010-01-31"),
            "{url}"
        );
        let mut p = pager(Export::Marriage);
        let url = p.next_url(Some("2010-02-20")).unwrap();
        assert!(
            url.as_str().ends_with("from=2010-02-14&to=2010-03-01"),
            "{url}"
        );
    }
}
