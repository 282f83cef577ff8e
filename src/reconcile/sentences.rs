//! Every sentence the rules write in Chinese: the evidence lines a ticket shows, and
//! the one plain sentence (`summary_zh`) of each ticket kind, in the words township
//! staff use. The rules decide; this file only words what they decided, so wording is
//! changed here and nowhere else. (The death evidence lines are the view's, written
//! where it gathers them.)

use super::births::Birth;
use super::marital::Implied;
use super::view::{slash, DeathEvidence, PsbPerson};
use crate::domain::{normalise_name, IdError, IdNumber, TownshipCode};
use crate::records::{BirthCertificate, Hyzk, Marriage, PisRecord, PsbEvent, PsbEventKind};
use crate::tickets::Evidence;

// ---------------------------------------------------------------------------------------
// Evidence lines
// ---------------------------------------------------------------------------------------

/// A PIS record as evidence: name, sex, birth date, ID, village and state.
pub fn pis_evidence(r: &PisRecord) -> Evidence {
    let state = match r.state.code() {
        1 => "在册",
        2 => "迁出",
        _ => "死亡",
    };
    Evidence::new(
        "pis",
        r.person_id.as_str(),
        format!(
            "{} {} {} {} 村居 {} 状态 {}",
            r.name.trim(),
            r.sex.zh(),
            r.birth_date,
            if r.sfzh.trim().is_empty() {
                "无身份证号".to_string()
            } else {
                format!("身份证号 {}", r.sfzh.trim())
            },
            r.village,
            state
        ),
    )
}

/// A household-register row as evidence: what happened, to whom, where and when.
pub fn psb_evidence(r: &PsbEvent) -> Evidence {
    let what = match r.kind {
        PsbEventKind::Snapshot => "在册",
        PsbEventKind::Birth => "出生登记",
        PsbEventKind::Death => "死亡注销",
        PsbEventKind::MoveIn => "迁入",
        PsbEventKind::MoveOut => "迁出",
        PsbEventKind::Correction => "身份变更",
    };
    Evidence::new(
        "psb",
        r.lsh.as_str(),
        format!(
            "{what} {} {} {} {} 住址 {} 业务日期 {}",
            r.name.trim(),
            r.sex.zh(),
            r.birth_date,
            r.id,
            r.division,
            r.event_date
        ),
    )
}

/// A birth as evidence: its certificate, then its `CS` row, whichever it has.
pub fn birth_evidence(b: &Birth<'_>) -> Vec<Evidence> {
    let mut ev = Vec::new();
    if let Some(c) = b.cert {
        ev.push(Evidence::new(
            "nhc",
            c.record_key(),
            format!(
                "出生医学证明 {} {} 出生日期 {} 母亲 {} {}",
                c.child_name.as_deref().unwrap_or("（未取名）"),
                c.child_sex.zh(),
                c.birth_date,
                c.mother_name.as_deref().unwrap_or(""),
                c.mother_id
            ),
        ));
    }
    if let Some(r) = b.cs {
        ev.push(psb_evidence(r));
    }
    ev
}

/// A marriage-register row as evidence: its kind and registration date.
pub fn marriage_evidence(m: &Marriage) -> Evidence {
    Evidence::new(
        "mca",
        m.reg_no.as_str(),
        format!("{} 登记日期 {}", m.kind.zh(), slash(m.reg_date)),
    )
}

// ---------------------------------------------------------------------------------------
// Summaries, one per kind, in the order of tickets.md's table
// ---------------------------------------------------------------------------------------

/// `BIRTH_NOT_IN_PIS`.
pub fn birth_not_in_pis(b: &Birth<'_>) -> String {
    format!(
        "{}于{}出生（母亲{}），人口信息系统中没有该出生人口的记录，请录入。",
        b.child_name().unwrap_or_else(|| "新生儿".into()),
        slash(b.date()),
        b.cert
            .and_then(|c| c.mother_name.as_deref())
            .unwrap_or("见证据")
            .trim()
    )
}

/// `BIRTH_NOT_REGISTERED`: `grace_days` is how long a birth may wait for its `CS` row.
pub fn birth_not_registered(cert: &BirthCertificate, grace_days: i64) -> String {
    format!(
        "出生医学证明{}记载的新生儿于{}出生，已超过{}天仍未办理户籍登记，请督促落户。",
        cert.cert_no,
        slash(cert.birth_date),
        grace_days
    )
}

/// `DEATH_NOT_RECORDED` of the person PIS record `r` denotes.
pub fn death_not_recorded(r: &PisRecord, death: &DeathEvidence) -> String {
    format!(
        "{}已于{}死亡（{}），但人口信息系统中仍为在册，请核实后注销。",
        r.name.trim(),
        slash(death.date),
        sources_zh(&death.evidence)
    )
}

/// `MOVE_OUT_NOT_RECORDED`: `last` is the `QC` row.
pub fn move_out_not_recorded(last: &PsbEvent) -> String {
    format!(
        "{}已于{}迁出至{}，但人口信息系统中仍为在册，请核实后办理迁出。",
        last.name.trim(),
        slash(last.event_date),
        last.to_county().unwrap_or("外地")
    )
}

/// `MOVE_IN_NOT_RECORDED`: `last` is the `QR` row.
pub fn move_in_not_recorded(last: &PsbEvent) -> String {
    format!(
        "{}已于{}迁入本乡镇（{}），人口信息系统中没有其在本乡镇的在册记录，请录入。",
        last.name.trim(),
        slash(last.event_date),
        last.division
    )
}

/// `RESIDENCE_MISMATCH`: `last` is the person's latest row, `home` their PSB township.
pub fn residence_mismatch(last: &PsbEvent, home: TownshipCode) -> String {
    format!(
        "{}的户籍在{}，但人口信息系统把其登记在本乡镇，请核实后迁出或更正。",
        last.name.trim(),
        home
    )
}

/// `RESIDENT_MISSING`: `last` is the person's latest row.
pub fn resident_missing(last: &PsbEvent) -> String {
    format!(
        "{}户籍在本乡镇（{}），但人口信息系统中没有其在册记录，请核实后录入。",
        last.name.trim(),
        last.division
    )
}

/// `PHANTOM_RECORD` of a record without `sfzh` that denotes no birth.
pub fn phantom_without_id(r: &PisRecord) -> String {
    phantom(r, "没有身份证号，也找不到对应的出生记录")
}

/// `PHANTOM_RECORD` of a record whose valid ID is no PSB person's.
pub fn phantom_unknown_id(r: &PisRecord) -> String {
    phantom(r, "的身份证号在公安户籍中查无此人")
}

fn phantom(r: &PisRecord, why: &str) -> String {
    format!(
        "{}{}，请核实此人是否存在，不存在的请删除。",
        r.name.trim(),
        why
    )
}

/// `INVALID_ID` of a record whose `sfzh` is not a valid ID.
pub fn invalid_id_malformed(r: &PisRecord, e: &IdError) -> String {
    invalid_id(
        r,
        format!("身份证号“{}”无效（{}）", r.sfzh.trim(), id_error_zh(e)),
    )
}

/// `INVALID_ID` of a record whose valid ID states another birth date.
pub fn invalid_id_birth_date(r: &PisRecord) -> String {
    invalid_id(
        r,
        format!(
            "身份证号“{}”中的出生日期与登记的出生日期{}不符",
            r.sfzh.trim(),
            r.birth_date
        ),
    )
}

/// `INVALID_ID` of a record whose valid ID states the other sex.
pub fn invalid_id_sex(r: &PisRecord) -> String {
    invalid_id(
        r,
        format!(
            "身份证号“{}”中的性别与登记的性别{}不符",
            r.sfzh.trim(),
            r.sex.zh()
        ),
    )
}

fn invalid_id(r: &PisRecord, reason: String) -> String {
    format!("{}的{}，请核对户口簿后更正。", r.name.trim(), reason)
}

/// What an `INVALID_ID` summary gains when `RESIDENT_MISSING` found the likely ID.
pub fn likely_correction(id: IdNumber) -> String {
    format!("可能的正确身份证号：{}。", id)
}

/// `IDENTITY_MISMATCH` of record `r`: each of name, sex and birth date that differs
/// from `p`'s current identity, with what it should be.
pub fn identity_mismatch(r: &PisRecord, p: &PsbPerson<'_>) -> String {
    let current = p.identity();
    let mut diffs = Vec::new();
    if normalise_name(&r.name) != current.name {
        diffs.push(format!(
            "姓名“{}”应为“{}”",
            r.name.trim(),
            p.latest().name.trim()
        ));
    }
    if r.sex != current.sex {
        diffs.push(format!("性别{}应为{}", r.sex.zh(), current.sex.zh()));
    }
    if r.birth_date != current.birth_date {
        diffs.push(format!(
            "出生日期{}应为{}",
            r.birth_date, current.birth_date
        ));
    }
    format!(
        "人口信息系统中的身份信息与公安户籍不符：{}。请按户籍更正。",
        diffs.join("，")
    )
}

/// `DUPLICATE_RECORD` of the records with these names, one name a record.
pub fn duplicate_record(names: &[&str]) -> String {
    format!(
        "人口信息系统中有{}条记录指同一人（{}），请保留一条、删除其余。",
        names.len(),
        names.join("、")
    )
}

/// `MARITAL_STATUS_MISMATCH` of record `r`, which should say `implied`.
pub fn marital_status_mismatch(r: &PisRecord, implied: Implied) -> String {
    format!(
        "{}的婚姻状况在人口信息系统中为“{}”，民政婚姻登记显示应为“{}”，请核实更正。",
        r.name.trim(),
        hyzk_zh(r.marital.as_ref()),
        implied.zh()
    )
}

// ---------------------------------------------------------------------------------------
// Words
// ---------------------------------------------------------------------------------------

/// The departments that report a death, each named once, in the evidence's order.
fn sources_zh(ev: &[Evidence]) -> String {
    let mut names: Vec<&str> = ev
        .iter()
        .map(|e| match e.source {
            "psb" => "公安死亡注销",
            "mca" => "民政火化记录",
            _ => "卫健死亡医学证明",
        })
        .collect();
    names.dedup();
    names.join("、")
}

/// Why an `sfzh` is not a valid ID.
fn id_error_zh(e: &IdError) -> &'static str {
    match e {
        IdError::Empty => "为空",
        IdError::Length(_) => "位数不对",
        IdError::NotDigits => "含有非法字符",
        IdError::BirthDate => "出生日期不存在",
        IdError::CheckCharacter => "校验位错误",
    }
}

/// GB/T 2261.2 marital status in words.
pub fn hyzk_zh(hyzk: Option<&Hyzk>) -> &'static str {
    match hyzk {
        Some(Hyzk::Unmarried) => "未婚",
        Some(Hyzk::Married) => "已婚",
        Some(Hyzk::FirstMarriage) => "初婚",
        Some(Hyzk::Remarried) => "再婚",
        Some(Hyzk::RemarriedToFormer) => "复婚",
        Some(Hyzk::Widowed) => "丧偶",
        Some(Hyzk::Divorced) => "离婚",
        Some(Hyzk::NotStated) => "未说明",
        Some(Hyzk::Other(_)) | None => "空",
    }
}
