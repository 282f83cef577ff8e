//! Tests of the six streams' decoders through the seam the sync uses
//! ([`super::pagers`] and [`StreamPager::decode`]), on bodies built the way each
//! department sends them: a JSON envelope, or a GBK CSV export with its header.
//!
//! One row shape per stream, taken from the spec's examples; a test changes the fields
//! it is about and leaves the others well-formed.

mod fuzz;
mod identifiers;

use std::sync::LazyLock;

use chrono::NaiveDate;
use encoding_rs::GBK;
use serde_json::{json, Value};

use super::mca::Export;
use super::{pagers, StreamPager};
use crate::config::{Config, FeedName};
use crate::domain::check_record_key;
use crate::records::Batch;

/// One row of a body: each field's name and value, `None` where a JSON row leaves the
/// field out (a CSV row prints it empty).
type Row = Vec<(String, Option<Value>)>;

/// The six streams, in the order [`PAGERS`] holds their pagers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    Psb,
    Marriage,
    Cremation,
    Birth,
    Death,
    Pis,
}

/// Every stream, each test runs over all of them.
const STREAMS: [Stream; 6] = [
    Stream::Psb,
    Stream::Marriage,
    Stream::Cremation,
    Stream::Birth,
    Stream::Death,
    Stream::Pis,
];

/// One pager per stream, built once: `decode` never changes a pager, and reading the
/// configuration for every fuzz case would cost more than decoding.
static PAGERS: LazyLock<Vec<Box<dyn StreamPager>>> = LazyLock::new(|| {
    let today = NaiveDate::from_ymd_opt(2014, 1, 1).expect("a date");
    [FeedName::Psb, FeedName::Mca, FeedName::Nhc, FeedName::Pis]
        .into_iter()
        .flat_map(|name| {
            let secret = if name == FeedName::Mca {
                "api_key_env"
            } else {
                "token_env"
            };
            let toml = format!(
                "[database]\nurl = 'sqlite://x.db'\n[city]\ncounties = ['349901']\n\
                 [feeds.{name}]\nbase_url = 'https://127.0.0.1:1/'\n{secret} = 'SECRET'\n"
            );
            let cfg = Config::from_toml(&toml, std::path::Path::new("t.toml"), &|_| {
                Some("secret".into())
            })
            .expect("a test configuration");
            pagers(cfg.feed(name).expect("the feed"), today)
        })
        .collect()
});

impl Stream {
    /// The stream's pager from [`PAGERS`].
    fn pager(self) -> &'static dyn StreamPager {
        let i = STREAMS.iter().position(|s| *s == self).expect("a stream");
        PAGERS[i].as_ref()
    }

    /// What the stream's pager makes of `body`, read from the feed's start.
    fn decode(self, body: &[u8]) -> Result<Batch, super::FeedError> {
        self.pager().decode(body, None)
    }

    /// The stream is a GBK CSV export (mca), not JSON.
    fn is_csv(self) -> bool {
        matches!(self, Stream::Marriage | Stream::Cremation)
    }

    /// The field that keys a record.
    fn key_field(self) -> &'static str {
        match self {
            Stream::Psb => "lsh",
            Stream::Marriage => "登记证号",
            Stream::Cremation => "火化证明编号",
            Stream::Birth | Stream::Death => "certificateNo",
            Stream::Pis => "personId",
        }
    }

    /// A well-formed row from the spec's examples, field by field (a CSV export's in
    /// header order).
    fn sample(self) -> Vec<(String, Value)> {
        let csv = |export: Export, cells: [&str; 8]| {
            export
                .header()
                .map(String::from)
                .into_iter()
                .zip(cells.map(Value::from))
                .collect()
        };
        let row = match self {
            Stream::Marriage => {
                return csv(
                    Export::Marriage,
                    [
                        "J349901-2010-000001",
                        "结婚",
                        "吴泽俊",
                        "349901197710013177",
                        "陈云燕",
                        "349901197208188924",
                        "2010/5/13",
                        "澄湖市民政局婚姻登记处",
                    ],
                )
            }
            Stream::Cremation => {
                return csv(
                    Export::Cremation,
                    [
                        "HH2010-00001",
                        "黄静",
                        "女",
                        "349901193504124564",
                        "2010/8/28",
                        "2010/8/31",
                        "安徽省澄湖市龙泉镇西桥村",
                        "澄湖市殡仪馆",
                    ],
                )
            }
            Stream::Psb => {
                json!({"lsh":"349901201100000059","ywlx":"CS","gmsfhm":"34990120101223537X","xm":"李鹏宁","xb":"1","csrq":"20101223","mz":"01","hh":"349901000014","yhzgx":"20","xzqh":"349901106207","qyd":null,"qwd":null,"fqsfhm":"349901198208227078","mqsfhm":"349901197708235002","csyxzmbh":"K514913759","swrq":null,"ywrq":"20110105","djsj":"2011-01-05 09:12:44"})
            }
            Stream::Birth => {
                json!({"certificateNo":"K514913759","version":2,"status":"VALID","childName":"李鹏宁","childSex":"M","birthDate":"2010-12-23","motherName":"潘瑶敏","motherIdNo":"349901197708235002","fatherName":"李欢","fatherIdNo":"349901198208227078","facility":"澄湖市中医院","residenceCode":"349901106207","updatedAt":"2011-04-14T14:45:23+08:00"})
            }
            Stream::Death => {
                json!({"certificateNo":"D308926571","version":1,"status":"VALID","name":"邹鹏春","idNo":"349901199903207356","sex":"M","deathDate":"2011-03-03","residenceCode":"349901004001","updatedAt":"2011-03-03T15:32:43+08:00"})
            }
            Stream::Pis => {
                json!({"personId":"RK6717483319","sfzh":"349901197208188924","xm":"陈云燕","xb":"女","csrq":"1972-08-18","cunCode":"349901003003","hyzk":"20","mqSfzh":"","csyxzmbh":"","zt":"1","modifiedTime":"2010-08-03 11:37:48","delFlag":"0"})
            }
        };
        let Value::Object(fields) = row else {
            unreachable!("a sample row is an object")
        };
        fields.into_iter().collect()
    }

    /// A body holding `rows` and then, in a JSON body, `extra`: further rows that need
    /// not be objects.
    fn body(self, rows: &[Row], extra: &[Value]) -> Vec<u8> {
        if self.is_csv() {
            let cells = rows
                .iter()
                .map(|r| r.iter().map(|(_, v)| cell(v.as_ref())).collect())
                .collect::<Vec<Vec<String>>>();
            return self.csv_body(&cells);
        }
        let list: Vec<Value> = rows
            .iter()
            .map(|r| {
                Value::Object(
                    r.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
                        .collect(),
                )
            })
            .chain(extra.iter().cloned())
            .collect();
        let envelope = match self {
            Stream::Psb => {
                json!({"code":0,"msg":"成功","data":{"rows":list,"cursor":"c00000001","more":false}})
            }
            Stream::Birth | Stream::Death => json!({"items":list,"nextPageToken":null}),
            Stream::Pis => json!({"total":list.len(),"pageNo":1,"list":list}),
            Stream::Marriage | Stream::Cremation => unreachable!("a CSV body"),
        };
        envelope.to_string().into_bytes()
    }

    /// A GBK export: the header, then `rows` of cells, CRLF line ends.
    fn csv_body(self, rows: &[Vec<String>]) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .flexible(true)
            .from_writer(Vec::new());
        let header: Vec<String> = self.sample().into_iter().map(|(k, _)| k).collect();
        w.write_record(&header).expect("writes to memory");
        for r in rows {
            w.write_record(r).expect("writes to memory");
        }
        let text = String::from_utf8(w.into_inner().expect("flushed")).expect("UTF-8");
        GBK.encode(&text).0.into_owned()
    }

    /// The sample row with `field` set to `value`.
    fn row_with(self, field: &str, value: Value) -> Row {
        self.sample()
            .into_iter()
            .map(|(k, v)| {
                let v = if k == field { value.clone() } else { v };
                (k, Some(v))
            })
            .collect()
    }
}

/// A value as a CSV cell: what a department's export would print for it.
fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Whether `key` is a key popsync may store for a record of `stream`: a digest of the
/// raw text, or an identifier (nhc: an identifier, `#` and a version number).
fn is_safe_key(stream: Stream, key: &str) -> bool {
    if key.starts_with("sha256:") {
        return true;
    }
    match stream {
        Stream::Birth | Stream::Death => key.rsplit_once('#').is_some_and(|(no, version)| {
            check_record_key(no).is_ok() && version.parse::<i64>().is_ok()
        }),
        _ => check_record_key(key).is_ok(),
    }
}
