//! Ticket exports: JSON Lines exactly as tickets.md fixes it, and the CSV (UTF-8 with
//! BOM) and `.xlsx` township staff open directly, with Chinese column headers.

use std::io::Write;
use std::path::Path;

use rust_xlsxwriter::{Format as CellFormat, Workbook};

use crate::config::CityConfig;
use crate::reconcile::TicketKind;
use crate::store::StoredTicket;
use crate::tickets::Status;

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
    Xlsx,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write spreadsheet {path}: {source}")]
    Xlsx {
        path: String,
        source: rust_xlsxwriter::XlsxError,
    },
}

/// Tickets grouped per township, in code order, for one file per township.
pub fn by_township(
    tickets: &[StoredTicket],
) -> std::collections::BTreeMap<&str, Vec<StoredTicket>> {
    let mut groups: std::collections::BTreeMap<&str, Vec<StoredTicket>> = Default::default();
    for t in tickets {
        groups
            .entry(t.township.as_str())
            .or_default()
            .push(t.clone());
    }
    groups
}

/// The JSON Lines object of one ticket (tickets.md "The export").
pub fn ticket_json(t: &StoredTicket) -> serde_json::Value {
    serde_json::to_value(t).unwrap_or_default()
}

/// The department a ticket's evidence source belongs to, as township staff name it.
pub fn department_zh(source: &str) -> &str {
    match source {
        "psb" => "公安",
        "mca" => "民政",
        "nhc" => "卫健",
        "pis" => "人口库",
        other => other,
    }
}

const HEADERS: [&str; 13] = [
    "工单编号",
    "问题类型",
    "问题类型代码",
    "乡镇(街道)",
    "乡镇代码",
    "村(居)代码",
    "状态",
    "身份证号",
    "人口库编号",
    "出生医学证明编号",
    "问题说明",
    "证据",
    "建议身份证号",
];
const TAIL_HEADERS: [&str; 2] = ["发现时间", "更新时间"];

fn row(t: &StoredTicket, city: &CityConfig) -> Vec<String> {
    let s = &t.subject;
    let text = |k: &str| s.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let id = if s.get("id_number").is_some() {
        text("id_number")
    } else {
        text("child_id_number")
    };
    let pis = match s.get("pis_person_ids").and_then(|v| v.as_array()) {
        Some(ids) => ids
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join("、"),
        None => text("pis_person_id"),
    };
    let evidence = t
        .evidence
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let source = department_zh(e["source"].as_str().unwrap_or(""));
            format!(
                "[{source} {}] {}",
                e["record"].as_str().unwrap_or(""),
                e["detail"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let kind = TicketKind::parse(&t.kind)
        .map(TicketKind::zh)
        .unwrap_or(&t.kind);
    let status = Status::parse(&t.status)
        .map(Status::zh)
        .unwrap_or(&t.status);
    let suggestion = t
        .suggestion
        .as_ref()
        .and_then(|v| v.get("id_number"))
        .and_then(|v| v.as_str())
        .unwrap_or("");
    vec![
        t.ticket_id.clone(),
        kind.to_string(),
        t.kind.clone(),
        city.township_name(&t.township).to_string(),
        t.township.clone(),
        t.village.clone().unwrap_or_default(),
        status.to_string(),
        id,
        pis,
        text("birth_cert_no"),
        t.summary_zh.clone(),
        evidence,
        suggestion.to_string(),
        t.opened_at.clone(),
        t.updated_at.clone(),
    ]
}

/// Writes tickets to `path` in `format`.
pub fn write(
    path: &Path,
    format: ExportFormat,
    tickets: &[StoredTicket],
    city: &CityConfig,
) -> Result<(), ExportError> {
    let io = |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let bytes = encode(format, tickets, city, &path.display().to_string())?;
    std::fs::write(path, bytes).map_err(io)
}

/// The bytes `write` would put in a file, for downloads over HTTP.
pub fn to_bytes(
    format: ExportFormat,
    tickets: &[StoredTicket],
    city: &CityConfig,
) -> Result<Vec<u8>, ExportError> {
    encode(format, tickets, city, "download")
}

/// Encodes an export in memory; `label` names it in errors (a path or "download").
fn encode(
    format: ExportFormat,
    tickets: &[StoredTicket],
    city: &CityConfig,
    label: &str,
) -> Result<Vec<u8>, ExportError> {
    let io = |source| ExportError::Io {
        path: label.to_string(),
        source,
    };
    match format {
        ExportFormat::Jsonl => {
            let mut out = Vec::new();
            for t in tickets {
                serde_json::to_writer(&mut out, &ticket_json(t)).map_err(|e| io(e.into()))?;
                out.write_all(b"\n").map_err(io)?;
            }
            Ok(out)
        }
        ExportFormat::Csv => {
            let mut out = Vec::new();
            out.write_all("\u{feff}".as_bytes()).map_err(io)?;
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(&mut out);
            let headers: Vec<&str> = HEADERS.iter().chain(TAIL_HEADERS.iter()).copied().collect();
            w.write_record(&headers).map_err(|e| io(e.into()))?;
            for t in tickets {
                // A leading tab keeps Excel from turning 18-digit IDs into numbers.
                let r: Vec<String> = row(t, city)
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        if matches!(i, 4 | 5 | 7 | 12) && !v.is_empty() {
                            format!("\t{v}")
                        } else {
                            v
                        }
                    })
                    .collect();
                w.write_record(&r).map_err(|e| io(e.into()))?;
            }
            w.flush().map_err(io)?;
            drop(w);
            Ok(out)
        }
        ExportFormat::Xlsx => {
            let xerr = |source| ExportError::Xlsx {
                path: label.to_string(),
                source,
            };
            let mut book = Workbook::new();
            let sheet = book.add_worksheet().set_name("问题清单").map_err(xerr)?;
            let bold = CellFormat::new().set_bold();
            let wrap = CellFormat::new().set_text_wrap();
            let headers: Vec<&str> = HEADERS.iter().chain(TAIL_HEADERS.iter()).copied().collect();
            for (c, h) in headers.iter().enumerate() {
                sheet
                    .write_string_with_format(0, c as u16, *h, &bold)
                    .map_err(xerr)?;
            }
            for (r, t) in tickets.iter().enumerate() {
                for (c, v) in row(t, city).iter().enumerate() {
                    if c == 10 || c == 11 {
                        sheet
                            .write_string_with_format(r as u32 + 1, c as u16, v, &wrap)
                            .map_err(xerr)?;
                    } else {
                        sheet
                            .write_string(r as u32 + 1, c as u16, v)
                            .map_err(xerr)?;
                    }
                }
            }
            for (c, width) in [
                (0, 18.0),
                (1, 14.0),
                (3, 12.0),
                (7, 21.0),
                (8, 16.0),
                (10, 60.0),
                (11, 70.0),
            ] {
                sheet.set_column_width(c, width).map_err(xerr)?;
            }
            sheet.set_freeze_panes(1, 0).map_err(xerr)?;
            sheet
                .autofilter(0, 0, tickets.len() as u32, headers.len() as u16 - 1)
                .map_err(xerr)?;
            book.save_to_buffer().map_err(xerr)
        }
    }
}
