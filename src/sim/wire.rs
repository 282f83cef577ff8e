//! Wire forms of the feed records: the exact JSON field order of feeds.md and the
//! examples, and the CSV lines of the `mca` exports (GBK, CRLF).

use serde::{Deserialize, Serialize};

/// One `psb` row, serialised only (the simulator never reads it back).
#[derive(Serialize)]
pub(crate) struct PsbWire<'a> {
    pub lsh: &'a str,
    pub ywlx: &'a str,
    pub gmsfhm: &'a str,
    pub xm: &'a str,
    pub xb: &'a str,
    pub csrq: &'a str,
    pub mz: &'a str,
    pub hh: &'a str,
    pub yhzgx: &'a str,
    pub xzqh: &'a str,
    pub qyd: Option<&'a str>,
    pub qwd: Option<&'a str>,
    pub fqsfhm: Option<&'a str>,
    pub mqsfhm: Option<&'a str>,
    pub csyxzmbh: Option<&'a str>,
    pub swrq: Option<&'a str>,
    pub ywrq: &'a str,
    pub djsj: &'a str,
}

/// One version of an `nhc` birth certificate.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BirthWire {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub certificate_no: Option<String>,
    pub version: u32,
    pub status: String,
    pub child_name: Option<String>,
    pub child_sex: String,
    pub birth_date: String,
    pub mother_name: String,
    pub mother_id_no: String,
    pub father_name: Option<String>,
    pub father_id_no: Option<String>,
    pub facility: String,
    pub residence_code: String,
    pub updated_at: String,
}

/// One version of an `nhc` death certificate.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeathWire {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub certificate_no: Option<String>,
    pub version: u32,
    pub status: String,
    pub name: String,
    pub id_no: Option<String>,
    pub sex: String,
    pub death_date: String,
    pub residence_code: String,
    pub updated_at: String,
}

/// One `pis` record (`personId` absent only in a malformed record).
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PisWire {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub person_id: Option<String>,
    pub sfzh: String,
    pub xm: String,
    pub xb: String,
    pub csrq: String,
    pub cun_code: String,
    pub hyzk: String,
    pub mq_sfzh: String,
    pub csyxzmbh: String,
    pub zt: String,
    pub modified_time: String,
    pub del_flag: String,
}

impl PisWire {
    /// Sets one field by its wire name; `false` for an unknown or read-only field.
    pub fn set(&mut self, field: &str, value: &str) -> bool {
        let v = value.to_string();
        match field {
            "sfzh" => self.sfzh = v,
            "xm" => self.xm = v,
            "xb" => self.xb = v,
            "csrq" => self.csrq = v,
            "cunCode" => self.cun_code = v,
            "hyzk" => self.hyzk = v,
            "mqSfzh" => self.mq_sfzh = v,
            "csyxzmbh" => self.csyxzmbh = v,
            "zt" => self.zt = v,
            "delFlag" => self.del_flag = v,
            _ => return false,
        }
        true
    }
}

pub(crate) const MARRIAGE_HEADER: &str =
    "登记证号,业务类别,男方姓名,男方身份证件号,女方姓名,女方身份证件号,登记日期,登记机关";
pub(crate) const CREMATION_HEADER: &str =
    "火化证明编号,逝者姓名,性别,身份证件号,死亡日期,火化日期,户籍地址,殡仪馆";

/// One CSV line (CRLF, quoted where needed), GBK-encoded.
pub(crate) fn csv_line_gbk(fields: &[String]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // writing to a Vec cannot fail
    let _ = w.write_record(fields);
    let utf8 = w.into_inner().unwrap_or_default();
    let s = String::from_utf8(utf8).unwrap_or_default();
    gbk(&s)
}

pub(crate) fn gbk(s: &str) -> Vec<u8> {
    let (b, _, _) = encoding_rs::GBK.encode(s);
    b.into_owned()
}
