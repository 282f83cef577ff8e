//! The first sheet of a printed list, 概况: the standing the list's scope has before the
//! provincial inspection (the figures of `tickets::readiness`, the same the command, the
//! API and the page show) and its burn-down as a native Excel chart. A township's
//! workbook shows the township; the city office's shows every township ranked worst
//! first and the burn-down of all of them in one chart.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use rust_xlsxwriter::{
    Chart, ChartLegendPosition, ChartLine, ChartLineDashType, ChartMarker, ChartType, Color,
    Format as CellFormat, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError,
};

use super::readiness::{
    CityReadiness, Figures, Readiness, ReadinessHistory, TownshipHistory, TownshipReadiness,
};
use super::TicketKind;

/// The summary sheet's name.
pub const SUMMARY_SHEET: &str = "概况";

/// What the summary sheet shows: the scope's readiness and its burn-down, computed by
/// `tickets::readiness` from the store's counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub readiness: Readiness,
    pub history: ReadinessHistory,
}

/// The sheet's formats, made once.
struct Formats {
    title: CellFormat,
    label: CellFormat,
    value: CellFormat,
    header: CellFormat,
    cell: CellFormat,
    behind: CellFormat,
}

impl Formats {
    fn new() -> Formats {
        let base = CellFormat::new().set_font_size(11);
        let boxed = base.clone().set_border(FormatBorder::Thin);
        Formats {
            title: base.clone().set_bold().set_font_size(14),
            label: boxed.clone().set_background_color(Color::RGB(0xF2_F2_F2)),
            value: boxed.clone().set_align(FormatAlign::Right),
            header: boxed
                .clone()
                .set_bold()
                .set_text_wrap()
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter)
                .set_background_color(Color::RGB(0xE8_E8_E8)),
            cell: boxed.clone(),
            behind: boxed.set_bold().set_font_color(Color::RGB(0xB0_00_00)),
        }
    }
}

/// Adds 概况 to `book` (call it before the list sheet, so it is the first a person
/// opens and prints), set to print on one landscape page.
pub fn add_summary_sheet(
    book: &mut Workbook,
    summary: &Summary,
    place: &str,
    as_of: &str,
) -> Result<(), XlsxError> {
    let sheet = book.add_worksheet().set_name(SUMMARY_SHEET)?;
    let f = Formats::new();
    sheet.set_landscape();
    sheet.set_paper_size(9);
    sheet.set_print_fit_to_pages(1, 1);
    sheet.write_string_with_format(
        0,
        0,
        format!("{place} 迎检准备概况（截至 {as_of}）"),
        &f.title,
    )?;
    let r = &summary.readiness;
    let inspection = match (r.inspection_date, r.city.as_ref().map(|c| c.days_left)) {
        (Some(d), Some(Some(left))) => format!("检查日期 {d}，还有 {left} 天"),
        (Some(d), _) => format!("检查日期 {d}"),
        (None, _) => "未设置检查日期（[inspection] date）".to_string(),
    };
    sheet.write_string(1, 0, inspection)?;
    match (&r.city, r.townships.as_slice()) {
        (Some(city), _) => city_sheet(sheet, &f, summary, city),
        (None, [one]) => township_sheet(sheet, &f, summary, one),
        (None, _) => Ok(()),
    }
}

/// One township: its figures, its open tickets by kind, and its burn-down.
fn township_sheet(
    sheet: &mut Worksheet,
    f: &Formats,
    summary: &Summary,
    t: &TownshipReadiness,
) -> Result<(), XlsxError> {
    let points = summary.readiness.points;
    let pace = match &t.pace {
        Some(p) if p.on_pace => format!("进度正常（目标 {:.0}）", p.target_open),
        Some(p) => format!("进度落后（目标 {:.0}）", p.target_open),
        None => "—".to_string(),
    };
    let days = t
        .days_left
        .map_or_else(|| "—".to_string(), |d| d.to_string());
    let mut rows = figure_rows(&t.figures, points);
    rows.push(("距检查天数".into(), days));
    rows.push(("整改进度".into(), pace));
    sheet.set_column_width(0, 30)?;
    sheet.set_column_width(1, 22)?;
    for (i, (label, value)) in rows.iter().enumerate() {
        let row = 3 + i as u32;
        sheet.write_string_with_format(row, 0, label, &f.label)?;
        let format = if value.starts_with("进度落后") {
            &f.behind
        } else {
            &f.value
        };
        sheet.write_string_with_format(row, 1, value, format)?;
    }
    let mut row = 4 + rows.len() as u32;
    sheet.write_string_with_format(row, 0, "问题类型", &f.header)?;
    sheet.write_string_with_format(row, 1, "待处理", &f.header)?;
    for kind in TicketKind::ALL {
        if let Some(&n) = t.figures.open_by_kind.get(kind.as_str()) {
            row += 1;
            sheet.write_string_with_format(row, 0, kind.zh(), &f.cell)?;
            sheet.write_number_with_format(row, 1, n as f64, &f.value)?;
        }
    }
    let Some(history) = summary
        .history
        .townships
        .iter()
        .find(|h| h.township == t.township)
    else {
        return Ok(());
    };
    // The chart's data beside the figures: one row per as-of date, then the inspection
    // date, where the line reaches zero.
    let (date_col, open_col, line_col) = (3u16, 4u16, 5u16);
    sheet.set_column_width(date_col, 12)?;
    for (c, h) in [
        (date_col, "日期"),
        (open_col, "待处理"),
        (line_col, "目标线"),
    ] {
        sheet.write_string_with_format(3, c, h, &f.header)?;
    }
    let dates = burn_down_dates([history], summary);
    for (i, date) in dates.iter().enumerate() {
        let row = 4 + i as u32;
        sheet.write_string_with_format(row, date_col, date.to_string(), &f.cell)?;
        if let Some(p) = history.points.iter().find(|p| p.as_of == *date) {
            sheet.write_number_with_format(row, open_col, p.open as f64, &f.value)?;
        }
        if let Some(v) = line_at(history, *date) {
            sheet.write_number_with_format(row, line_col, v.round(), &f.value)?;
        }
    }
    let last = 3 + dates.len() as u32;
    let mut chart = Chart::new(ChartType::Line);
    chart.title().set_name("待处理问题数（燃尽图）");
    chart
        .add_series()
        .set_name("待处理")
        .set_categories((SUMMARY_SHEET, 4, date_col, last, date_col))
        .set_values((SUMMARY_SHEET, 4, open_col, last, open_col))
        .set_marker(ChartMarker::new().set_automatic())
        .set_format(
            ChartLine::new()
                .set_color(Color::RGB(0x1F_4E_79))
                .set_width(2.25),
        );
    chart
        .add_series()
        .set_name("目标线（检查日清零）")
        .set_categories((SUMMARY_SHEET, 4, date_col, last, date_col))
        .set_values((SUMMARY_SHEET, 4, line_col, last, line_col))
        .set_format(
            ChartLine::new()
                .set_color(Color::RGB(0xC0_50_4D))
                .set_dash_type(ChartLineDashType::Dash),
        );
    chart.legend().set_position(ChartLegendPosition::Bottom);
    chart.set_width(620).set_height(340);
    sheet.insert_chart(3, line_col + 2, &chart)?;
    Ok(())
}

/// The city office's sheet: the city's figures, every township ranked worst first, and
/// all their burn-downs in one chart.
fn city_sheet(
    sheet: &mut Worksheet,
    f: &Formats,
    summary: &Summary,
    c: &CityReadiness,
) -> Result<(), XlsxError> {
    let r = &summary.readiness;
    let figures = figure_rows(&c.figures, r.points);
    for (i, (label, value)) in figures.iter().enumerate() {
        let row = 3 + i as u32;
        sheet.write_string_with_format(row, 0, label, &f.label)?;
        sheet.write_string_with_format(row, 1, value, &f.value)?;
    }
    let top = 4 + figures.len() as u32;
    let headers = [
        ("排名", 6.0),
        ("乡镇(街道)", 14.0),
        ("乡镇代码", 11.0),
        ("在册记录", 10.0),
        ("待处理", 8.0),
        ("每千条差错", 10.0),
        ("超期未改", 9.0),
        ("抽查发现差错概率", 12.0),
        ("预计扣分", 9.0),
        ("整改进度", 10.0),
    ];
    sheet.set_column_width(0, 30)?;
    sheet.set_row_height(top, 30)?;
    for (col, (h, w)) in headers.iter().enumerate() {
        let col = col as u16;
        if col > 0 {
            sheet.set_column_width(col, *w)?;
        }
        sheet.write_string_with_format(top, col, *h, &f.header)?;
    }
    for (i, code) in c.ranking.iter().enumerate() {
        let Some(t) = r.townships.iter().find(|t| &t.township == code) else {
            continue;
        };
        let row = top + 1 + i as u32;
        let behind = c.behind.contains(code);
        let pace = match &t.pace {
            None => "—",
            Some(_) if behind => "落后",
            Some(_) => "正常",
        };
        let g = &t.figures;
        sheet.write_number_with_format(row, 0, (i + 1) as f64, &f.value)?;
        sheet.write_string_with_format(row, 1, &t.township_name, &f.cell)?;
        sheet.write_string_with_format(row, 2, &t.township, &f.cell)?;
        sheet.write_number_with_format(row, 3, g.records as f64, &f.value)?;
        sheet.write_number_with_format(row, 4, g.open as f64, &f.value)?;
        sheet.write_string_with_format(row, 5, rate(g), &f.value)?;
        sheet.write_number_with_format(row, 6, g.overdue as f64, &f.value)?;
        sheet.write_string_with_format(row, 7, percent(g.p_sample_finds_error), &f.value)?;
        sheet.write_string_with_format(
            row,
            8,
            format!("{:.2}", g.expected_points_lost),
            &f.value,
        )?;
        sheet.write_string_with_format(row, 9, pace, if behind { &f.behind } else { &f.cell })?;
    }
    // All burn-downs: a table of dates × townships under the ranking, then the chart.
    let ranked: Vec<&TownshipHistory> = c
        .ranking
        .iter()
        .filter_map(|code| {
            summary
                .history
                .townships
                .iter()
                .find(|h| &h.township == code)
        })
        .filter(|h| !h.points.is_empty())
        .collect();
    if ranked.is_empty() {
        return Ok(());
    }
    let dates = burn_down_dates(ranked.iter().copied(), summary);
    let table = top + 3 + c.ranking.len() as u32;
    sheet.write_string_with_format(table, 0, "日期", &f.header)?;
    for (j, h) in ranked.iter().enumerate() {
        sheet.write_string_with_format(table, 1 + j as u16, &h.township_name, &f.header)?;
    }
    for (i, date) in dates.iter().enumerate() {
        let row = table + 1 + i as u32;
        sheet.write_string_with_format(row, 0, date.to_string(), &f.cell)?;
        for (j, h) in ranked.iter().enumerate() {
            if let Some(p) = h.points.iter().find(|p| p.as_of == *date) {
                sheet.write_number_with_format(row, 1 + j as u16, p.open as f64, &f.value)?;
            }
        }
    }
    let last = table + dates.len() as u32;
    let mut chart = Chart::new(ChartType::Line);
    chart
        .title()
        .set_name("各乡镇待处理问题数（燃尽图，按风险排序）");
    for (j, h) in ranked.iter().enumerate() {
        let col = 1 + j as u16;
        let mut line = ChartLine::new();
        line.set_width(if c.behind.contains(&h.township) {
            2.75
        } else {
            1.25
        });
        let name = if c.behind.contains(&h.township) {
            format!("{}（落后）", h.township_name)
        } else {
            h.township_name.clone()
        };
        chart
            .add_series()
            .set_name(name.as_str())
            .set_categories((SUMMARY_SHEET, table + 1, 0, last, 0))
            .set_values((SUMMARY_SHEET, table + 1, col, last, col))
            .set_marker(ChartMarker::new().set_automatic())
            .set_format(&mut line);
    }
    chart.legend().set_position(ChartLegendPosition::Right);
    chart.set_width(640).set_height(380);
    // Right of the ranking, which it must not hide.
    sheet.insert_chart(3, headers.len() as u16 + 1, &chart)?;
    Ok(())
}

/// The figures every sheet shows, as label and text.
fn figure_rows(g: &Figures, points: f64) -> Vec<(String, String)> {
    vec![
        ("在册记录（人口库在册）".into(), g.records.to_string()),
        ("待处理问题".into(), g.open.to_string()),
        ("每千条记录差错".into(), rate(g)),
        ("超期未改".into(), g.overdue.to_string()),
        (
            format!("抽查 {} 条发现差错的概率", g.sample_size),
            percent(g.p_sample_finds_error),
        ),
        (
            format!("预计扣分（满分 {points}）"),
            format!("{:.2}", g.expected_points_lost),
        ),
    ]
}

fn rate(g: &Figures) -> String {
    g.errors_per_1000
        .map_or_else(|| "—".to_string(), |r| format!("{r:.1}"))
}

fn percent(p: f64) -> String {
    format!("{:.1}%", 100.0 * p)
}

/// Every date a burn-down has a point on, and the inspection date after them.
fn burn_down_dates<'a>(
    histories: impl IntoIterator<Item = &'a TownshipHistory>,
    summary: &Summary,
) -> Vec<NaiveDate> {
    let mut dates: BTreeSet<NaiveDate> = histories
        .into_iter()
        .flat_map(|h| h.points.iter().map(|p| p.as_of))
        .collect();
    if let Some(d) = summary.history.inspection_date {
        if dates.last().is_none_or(|last| *last < d) {
            dates.insert(d);
        }
    }
    dates.into_iter().collect()
}

/// Where the straight line to zero on the inspection date stands on `date`.
fn line_at(h: &TownshipHistory, date: NaiveDate) -> Option<f64> {
    let line = h.line.as_ref()?;
    let span = (line.to.as_of - line.from.as_of).num_days();
    if span <= 0 || date < line.from.as_of {
        return None;
    }
    let gone = (date - line.from.as_of).num_days().min(span);
    Some(line.from.open as f64 * (span - gone) as f64 / span as f64)
}
