//! Ticket exports: JSON Lines exactly as tickets.md fixes it, and the CSV (UTF-8 with
//! BOM) and `.xlsx` township staff open directly, with Chinese column headers.

use std::io::Write;
use std::path::Path;

use rust_xlsxwriter::{
    Color, ExcelDateTime, Format as CellFormat, FormatAlign, Workbook, XlsxError,
};

use crate::config::CityConfig;
use crate::domain::TownshipCode;
use crate::tickets::summary::{add_summary_sheet, Summary};
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

/// How one column of the CSV and the spreadsheet is headed and laid out.
struct Column {
    header: &'static str,
    /// Width in Excel's units (one digit of the default 11-point font; the cells are
    /// set in 10 points, where an 18-digit ID takes 16 and a Chinese character about
    /// 1.8), chosen so that all columns fit one landscape A4 page at about three
    /// quarters of full size, and a kind's Chinese name fits whole on one line.
    width: f64,
    /// How its cells are written in the spreadsheet.
    cell: Cell,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cell {
    /// Text on one line.
    Plain,
    /// Text wrapped onto as many lines as it needs.
    Wrap,
    /// A code for machines (filtering, lookups): shrunk to fit its narrow column.
    Shrink,
    /// Digits that must stay text (a leading tab in the CSV keeps Excel from making
    /// an 18-digit ID a number).
    Digits,
    /// An RFC 3339 timestamp: a real date and time in the spreadsheet, shown as a date.
    Timestamp,
}

const COLUMNS: [Column; 16] = [
    col("工单编号", 16.0, Cell::Plain),
    col("问题类型", 11.5, Cell::Plain),
    col("问题类型代码", 8.0, Cell::Shrink),
    col("乡镇(街道)", 8.0, Cell::Wrap),
    col("乡镇代码", 8.5, Cell::Digits),
    col("村(居)代码", 11.0, Cell::Digits),
    col("状态", 6.0, Cell::Plain),
    col("责任人", 8.0, Cell::Wrap),
    col("身份证号", 16.0, Cell::Digits),
    col("人口库编号", 10.0, Cell::Wrap),
    col("出生医学证明编号", 10.0, Cell::Wrap),
    col("问题说明", 26.0, Cell::Wrap),
    col("证据", 30.0, Cell::Wrap),
    col("建议身份证号", 16.0, Cell::Digits),
    col("发现时间", 9.5, Cell::Timestamp),
    col("更新时间", 9.5, Cell::Timestamp),
];

const fn col(header: &'static str, width: f64, cell: Cell) -> Column {
    Column {
        header,
        width,
        cell,
    }
}

/// What a printed list says it is: whose list, and as of which day.
#[derive(Clone, Debug, PartialEq)]
pub struct ListTitle {
    /// The township's name (its code when the city names none), or 全市.
    pub place: String,
    /// The as-of date of the latest reconciliation run (or today's).
    pub as_of: String,
    /// The scope's standing before the inspection, printed as the workbook's first
    /// sheet (概况) of an `.xlsx`; CSV and JSON Lines carry tickets only.
    pub summary: Option<Summary>,
}

impl ListTitle {
    /// The title of one township's list (`Some(code)`) or the city's (`None`).
    pub fn new(city: &CityConfig, township: Option<&str>, as_of: impl Into<String>) -> ListTitle {
        ListTitle {
            place: township
                .map_or_else(|| "全市".to_string(), |t| city.township_name(t).to_string()),
            as_of: as_of.into(),
            summary: None,
        }
    }

    /// The same title, with the summary sheet's figures.
    pub fn with_summary(mut self, summary: Summary) -> ListTitle {
        self.summary = Some(summary);
        self
    }

    /// `城关镇 人口信息差错核查清单（截至 2024-05-01）`.
    pub fn text(&self) -> String {
        format!("{} 人口信息差错核查清单（截至 {}）", self.place, self.as_of)
    }
}

fn row(t: &Ticket, city: &CityConfig) -> [String; 16] {
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
    [
        t.ticket_id.clone(),
        t.kind.zh().to_string(),
        t.kind.to_string(),
        city.township_name(t.township.as_str()).to_string(),
        t.township.to_string(),
        t.village.clone().unwrap_or_default(),
        t.status.zh().to_string(),
        t.owner
            .as_ref()
            .map(|o| o.as_str().to_string())
            .unwrap_or_default(),
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
    title: &ListTitle,
) -> Result<(), ExportError> {
    let io = |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let bytes = encode(format, tickets, city, title, &path.display().to_string())?;
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

/// Whether Excel and LibreOffice would take a cell beginning (after any blank) with this
/// text for a formula: `=`, `+`, `-` or `@`. A register name `=HYPERLINK(…)` would become
/// a live link in a township's list.
pub fn starts_like_formula(text: &str) -> bool {
    text.trim_start().starts_with(['=', '+', '-', '@'])
}

/// A CSV cell that [`starts_like_formula`] gets a leading `'`, which shows it as the
/// text it is.
fn csv_cell(value: String) -> String {
    if starts_like_formula(&value) {
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
    title: &ListTitle,
) -> Result<Vec<u8>, ExportError> {
    encode(format, tickets, city, title, "download")
}

/// Encodes an export in memory; `label` names it in errors (a path or "download").
fn encode(
    format: ExportFormat,
    tickets: &[Ticket],
    city: &CityConfig,
    title: &ListTitle,
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
            w.write_record(COLUMNS.iter().map(|c| c.header))
                .map_err(|e| io(e.into()))?;
            for t in tickets {
                let r = row(t, city).into_iter().zip(&COLUMNS).map(|(v, c)| {
                    let v = csv_cell(v);
                    if c.cell == Cell::Digits && !v.is_empty() {
                        format!("\t{v}")
                    } else {
                        v
                    }
                });
                w.write_record(r).map_err(|e| io(e.into()))?;
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
            if let Some(summary) = &title.summary {
                add_summary_sheet(&mut book, summary, &title.place, &title.as_of).map_err(xerr)?;
            }
            add_list_sheet(&mut book, tickets, city, title).map_err(xerr)?;
            book.save_to_buffer().map_err(xerr)
        }
    }
}

/// The name of the list's sheet.
pub const LIST_SHEET: &str = "问题清单";

/// Adds the ticket list as a sheet of `book`, set up to be printed and signed: A4
/// landscape, one page wide, the header row on every page, the title in the page header
/// and the page number and a line for the checker's signature in the footer. A
/// workbook may get other sheets before or after it (a summary sheet, say).
pub fn add_list_sheet(
    book: &mut Workbook,
    tickets: &[Ticket],
    city: &CityConfig,
    title: &ListTitle,
) -> Result<(), XlsxError> {
    let sheet = book.add_worksheet().set_name(LIST_SHEET)?;
    let base = CellFormat::new()
        .set_font_size(10)
        .set_align(FormatAlign::Top);
    let header = base
        .clone()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_background_color(Color::RGB(0xE8_E8_E8));
    let formats: Vec<CellFormat> = COLUMNS
        .iter()
        .map(|c| match c.cell {
            Cell::Plain | Cell::Digits => base.clone(),
            Cell::Wrap => base.clone().set_text_wrap(),
            Cell::Shrink => base.clone().set_shrink(),
            Cell::Timestamp => base.clone().set_num_format("yyyy-mm-dd"),
        })
        .collect();
    let mut header_lines = 1;
    for (c, column) in COLUMNS.iter().enumerate() {
        header_lines = header_lines.max(lines(column.header, column.width, 1.1));
        let c = c as u16;
        sheet.set_column_width(c, column.width)?;
        sheet.write_string_with_format(0, c, column.header, &header)?;
    }
    sheet.set_row_height(0, row_height(header_lines))?;
    for (r, t) in tickets.iter().enumerate() {
        let r = r as u32 + 1;
        let cells = row(t, city);
        // Neither Excel nor LibreOffice fits a row to its wrapped text when it opens a
        // file, so each row gets the height its longest wrapped cell needs.
        let height = cells
            .iter()
            .zip(&COLUMNS)
            .filter(|(_, column)| column.cell == Cell::Wrap)
            .map(|(v, column)| lines(v, column.width, 1.0))
            .max()
            .unwrap_or(1);
        sheet.set_row_height(r, row_height(height))?;
        for (c, (v, column)) in cells.iter().zip(&COLUMNS).enumerate() {
            let (c, format) = (c as u16, &formats[c]);
            let at = match column.cell {
                Cell::Timestamp => excel_datetime(v),
                _ => None,
            };
            match at {
                Some(at) => sheet.write_datetime_with_format(r, c, at, format)?,
                None => sheet.write_string_with_format(r, c, v, format)?,
            };
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, tickets.len() as u32, COLUMNS.len() as u16 - 1)?;

    // Printing: townships print their list and sign it off.
    sheet
        .set_paper_size(9) // A4
        .set_landscape()
        .set_print_fit_to_pages(1, 0) // one page wide, as many long as it takes
        .set_print_center_horizontally(true)
        .set_print_gridlines(true)
        .set_margins(0.25, 0.25, 0.75, 0.8, 0.3, 0.3)
        .set_repeat_rows(0, 0)?
        .set_header(format!("&C&14{}", header_text(&title.text())))
        .set_footer(
            "&L核查人：＿＿＿＿＿＿＿＿＿＿　　日期：＿＿＿＿年＿＿月＿＿日&R第 &P 页 / 共 &N 页",
        );
    Ok(())
}

/// How many lines `text` takes wrapped in a column `width` units wide, set in 10
/// points (`scale` for bold): a Chinese character is about 13.3 pixels wide, other
/// characters about 6.2 on average; a little is kept spare, since lines break between
/// words, not anywhere.
fn lines(text: &str, width: f64, scale: f64) -> usize {
    let room = (width * 7.0 + 5.0 - 6.0) * 0.92;
    text.split('\n')
        .map(|line| {
            let px: f64 = line
                .chars()
                .map(|c| if c.is_ascii() { 6.2 } else { 13.3 } * scale)
                .sum();
            ((px / room).ceil() as usize).max(1)
        })
        .sum()
}

/// The height in points of a row of `lines` lines of 10-point text (LibreOffice sets
/// them about 11 points apart, Excel about 12.75 with a Chinese font), within Excel's
/// largest row (409 points).
fn row_height(lines: usize) -> f64 {
    (lines as f64 * 12.75 + 3.0).min(409.0)
}

/// Text for a page header or footer: `&` starts a control code there, so a literal one
/// is doubled.
fn header_text(text: &str) -> String {
    text.replace('&', "&&")
}

/// An RFC 3339 timestamp as the spreadsheet's date and time, in the offset it was
/// written in (popsync writes China Standard Time).
fn excel_datetime(text: &str) -> Option<ExcelDateTime> {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    ExcelDateTime::from_ymd(t.year().try_into().ok()?, t.month() as u8, t.day() as u8)
        .and_then(|d| d.and_hms(t.hour() as u16, t.minute() as u8, t.second()))
        .ok()
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
            owner: None,
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

    fn title() -> ListTitle {
        ListTitle::new(&city(), Some("349901001"), "2014-09-01")
    }

    #[test]
    fn no_csv_cell_starts_a_formula() {
        let tickets = [
            ticket("=HYPERLINK(\"http://evil\",\"点击\")"),
            ticket("+1+1"),
            ticket("  -2"),
            ticket("@SUM(A1)"),
        ];
        let bytes = to_bytes(ExportFormat::Csv, &tickets, &city(), &title()).unwrap();
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
        assert_eq!(cells, 4 * COLUMNS.len());
        assert!(text.contains("'=HYPERLINK"), "the text itself is kept");
        assert!(text.contains("'  -2"));
    }

    #[cfg(unix)]
    #[test]
    fn an_export_is_private_and_never_written_through_a_link_or_over_a_stranger() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("list.csv");
        write(&out, ExportFormat::Csv, &[ticket("x")], &city(), &title()).unwrap();
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // popsync's own file is replaced.
        write(&out, ExportFormat::Jsonl, &[ticket("y")], &city(), &title()).unwrap();
        assert!(std::fs::read_to_string(&out).unwrap().contains("\"y\""));

        let target = dir.path().join("passwd");
        std::fs::write(&target, "root:x:0:0\n").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = write(&link, ExportFormat::Csv, &[ticket("x")], &city(), &title()).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "root:x:0:0\n");

        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = write(
            &target,
            ExportFormat::Csv,
            &[ticket("x")],
            &city(),
            &title(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("did not write"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "root:x:0:0\n");
    }
}
