//! Ticket exports: JSON Lines exactly as tickets.md fixes it, and the CSV (UTF-8 with
//! BOM) and `.xlsx` township staff open directly, with Chinese column headers.

use std::io::Write;
use std::path::Path;

use rust_xlsxwriter::{Format as CellFormat, Workbook};

use crate::config::CityConfig;
use crate::domain::TownshipCode;
use crate::tickets::Ticket;

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
    #[error("cannot write {path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write spreadsheet {path}")]
    Xlsx {
        path: String,
        source: rust_xlsxwriter::XlsxError,
    },
    #[error("refusing to write {path}: {reason}")]
    Refused { path: String, reason: &'static str },
}

/// Tickets grouped per township, in code order, for one file per township.
pub fn by_township(tickets: &[Ticket]) -> std::collections::BTreeMap<TownshipCode, Vec<Ticket>> {
    let mut groups: std::collections::BTreeMap<TownshipCode, Vec<Ticket>> = Default::default();
    for t in tickets {
        groups.entry(t.township).or_default().push(t.clone());
    }
    groups
}

/// The JSON Lines object of one ticket (tickets.md "The export").
pub fn ticket_json(t: &Ticket) -> serde_json::Value {
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

fn row(t: &Ticket, city: &CityConfig) -> Vec<String> {
    let s = &t.subject;
    let id = s
        .id_number
        .as_ref()
        .or(s.child_id_number.as_ref())
        .cloned()
        .unwrap_or_default();
    let pis = if s.pis_person_ids.is_empty() {
        s.pis_person_id.clone().unwrap_or_default()
    } else {
        s.pis_person_ids.join("、")
    };
    let evidence = t
        .evidence
        .iter()
        .map(|e| format!("[{} {}] {}", department_zh(&e.source), e.record, e.detail))
        .collect::<Vec<_>>()
        .join("\n");
    let suggestion = t.suggestion.as_ref().map_or("", |s| s.id_number.as_str());
    vec![
        t.ticket_id.clone(),
        t.kind.zh().to_string(),
        t.kind.to_string(),
        city.township_name(t.township.as_str()).to_string(),
        t.township.to_string(),
        t.village.clone().unwrap_or_default(),
        t.status.zh().to_string(),
        id,
        pis,
        s.birth_cert_no.clone().unwrap_or_default(),
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
    tickets: &[Ticket],
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
    write_private(path, &bytes)
}

/// Writes `bytes` to `path` readable by popsync's user alone (0600): a list of names
/// and ID numbers. A symbolic link is never followed, and a file is replaced only if it
/// looks like one popsync wrote (a regular file of this user, mode 0600), so an export
/// cannot be pointed at another file. The bytes go to a new file beside it first and
/// are renamed over it, so a reader never sees half an export.
#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let shown = path.display().to_string();
    let refuse = |reason| ExportError::Refused {
        path: shown.clone(),
        reason,
    };
    let io = |source| ExportError::Io {
        path: shown.clone(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(refuse("it is a symbolic link")),
        Ok(m) if !m.is_file() => return Err(refuse("it is not a regular file")),
        // SAFETY: geteuid takes no arguments and cannot fail.
        Ok(m) if m.uid() != unsafe { libc::geteuid() } || m.permissions().mode() & 0o777 != 0o600 => {
            return Err(refuse(
                "a file is there that popsync did not write (not this user's, or not mode 0600); remove it or choose another path",
            ))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp)
        .map_err(io)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(io(e));
    }
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    std::fs::write(path, bytes).map_err(|source| ExportError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// A spreadsheet cell that begins (after any blank) with `=`, `+`, `-` or `@` is taken
/// for a formula by Excel and LibreOffice: a register name `=HYPERLINK(…)` would become
/// a live link in a township's list. Such a cell gets a leading `'`, which shows it as
/// the text it is.
fn csv_cell(value: String) -> String {
    let starts_formula = value.trim_start().starts_with(['=', '+', '-', '@']);
    if starts_formula {
        format!("'{value}")
    } else {
        value
    }
}

/// The bytes `write` would put in a file, for downloads over HTTP.
pub fn to_bytes(
    format: ExportFormat,
    tickets: &[Ticket],
    city: &CityConfig,
) -> Result<Vec<u8>, ExportError> {
    encode(format, tickets, city, "download")
}

/// Encodes an export in memory; `label` names it in errors (a path or "download").
fn encode(
    format: ExportFormat,
    tickets: &[Ticket],
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
                        let v = csv_cell(v);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(summary: &str) -> Ticket {
        Ticket {
            ticket_id: "T0123456789abcdef".into(),
            kind: crate::tickets::TicketKind::PhantomRecord,
            township: TownshipCode::parse("349901001").unwrap(),
            status: crate::tickets::Status::Open,
            subject: crate::tickets::SubjectKeys {
                pis_person_id: Some("@RK1".into()),
                ..Default::default()
            },
            opened_at: "2014-09-01 02:30:00".into(),
            updated_at: "2014-09-01 02:30:00".into(),
            evidence: vec![crate::tickets::EvidenceLine {
                source: "pis".into(),
                record: "RK1".into(),
                detail: "-1+1".into(),
            }],
            summary_zh: summary.into(),
            suggestion: None,
            person_key: None,
            village: None,
        }
    }

    fn city() -> CityConfig {
        CityConfig {
            counties: vec!["349901".into()],
            townships: Default::default(),
        }
    }

    #[test]
    fn no_csv_cell_starts_a_formula() {
        let tickets = [
            ticket("=HYPERLINK(\"http://evil\",\"点击\")"),
            ticket("+1+1"),
            ticket("  -2"),
            ticket("@SUM(A1)"),
        ];
        let bytes = to_bytes(ExportFormat::Csv, &tickets, &city()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let mut cells = 0;
        for record in reader.records() {
            for cell in record.unwrap().iter() {
                let start = cell.trim_start().chars().next();
                assert!(
                    !matches!(start, Some('=' | '+' | '-' | '@')),
                    "a cell starts a formula: {cell:?}"
                );
                cells += 1;
            }
        }
        assert_eq!(cells, 4 * 15);
        assert!(text.contains("'=HYPERLINK"), "the text itself is kept");
        assert!(text.contains("'  -2"));
    }

    #[cfg(unix)]
    #[test]
    fn an_export_is_private_and_never_written_through_a_link_or_over_a_stranger() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("list.csv");
        write(&out, ExportFormat::Csv, &[ticket("x")], &city()).unwrap();
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // popsync's own file is replaced.
        write(&out, ExportFormat::Jsonl, &[ticket("y")], &city()).unwrap();
        assert!(std::fs::read_to_string(&out).unwrap().contains("\"y\""));

        let target = dir.path().join("passwd");
        std::fs::write(&target, "root:x:0:0\n").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = write(&link, ExportFormat::Csv, &[ticket("x")], &city()).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "root:x:0:0\n");

        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = write(&target, ExportFormat::Csv, &[ticket("x")], &city()).unwrap_err();
        assert!(err.to_string().contains("did not write"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "root:x:0:0\n");
    }
}
