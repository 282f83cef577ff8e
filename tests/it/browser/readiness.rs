//! The readiness view (issue 17) in Chromium, on a phone and on a desktop: a township's
//! figures as the API gives them, its burn-down drawn point for point with the dashed
//! line to zero on the inspection day, and for the admin one small chart per township
//! in the city's ranking with the laggard marked "落后". Measured in the DOM, then looked
//! at in the screenshot: the points and the line in their colours where the DOM says
//! they are, the laggard's badge in red.

use std::collections::BTreeMap;

use chrono::Duration;
use popsync::config::InspectionConfig;
use popsync::domain::{format_timestamp, now_local, today_local, DivisionCode, Sex, TownshipCode};
use popsync::records::{Batch, PisRecord, PisState, Records, WithRaw};
use popsync::tickets::{Subject, TicketDraft};
use serde_json::{json, Value};

use super::picture::Picture;
use super::screens::{check, colour, no_faults, Screen, DESKTOP, PHONE};
use super::{chromium_missing, Browser};
use crate::api::{fixture_drafts, run_at, spawn_app_with, App, TOWN_A, TOWN_B};

/// Open tickets after each of seven daily runs, the last one today. The inspection is
/// `DAYS_LEFT` days away, so the line falls from 6 to 3.75 by today: A (1 open) is on
/// pace, B (5 open) behind it.
const A_OPEN: [usize; 7] = [6, 5, 4, 3, 2, 2, 1];
const B_OPEN: [usize; 7] = [6, 6, 6, 5, 5, 5, 5];
const DAYS_LEFT: i64 = 10;

/// The page's colours for the steps, the line and a laggard (app.js, app.css).
const STEPS: &str = "#2980b9";
const LINE: &str = "#e67e22";
const BEHIND: &str = "#c0392b";

/// The regions of the readiness view that stack on a phone.
const READINESS: &[&str] = &[
    "header h1",
    "#who",
    "#readiness-back",
    "#readiness-title",
    "#readiness-dates",
    ".readiness-panel",
    "#readiness-grid > .small-chart",
];

/// `n` open tickets of `township`, one per PIS record `P{township}-{i}`.
fn drafts(township: &str, n: usize) -> Vec<TicketDraft> {
    let base = fixture_drafts().remove(2);
    (0..n)
        .map(|i| TicketDraft {
            township: TownshipCode::parse(township).expect("township"),
            subject: Subject {
                pis_person_id: Some(format!("P{township}-{i}")),
                ..Subject::default()
            },
            ..base.clone()
        })
        .collect()
}

/// `n` active register records in `township`'s first village.
fn register(township: &str, n: usize) -> Batch {
    let village = DivisionCode::parse(&format!("{township}001")).expect("village");
    let records = (0..n)
        .map(|i| WithRaw {
            record: PisRecord {
                person_id: format!("R{township}-{i}").into(),
                sfzh: "".into(),
                id_norm: "".into(),
                name: "王某".into(),
                sex: Sex::Male,
                birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).expect("date"),
                village,
                marital: None,
                birth: None,
                state: PisState::OnRegister,
                deleted: false,
                ever_deleted: false,
                modified_time: "2024-01-01 08:00:00".into(),
            },
            raw: "{}".into(),
        })
        .collect();
    Batch {
        stream: "pis",
        records: Records::Pis(records),
        malformed: Vec::new(),
        cursor: "0".into(),
        newest_record_at: None,
        more: false,
        page_token: None,
    }
}

/// The app with an inspection `DAYS_LEFT` days from today, 400 records in A and 150 in
/// B, and seven daily runs ending today with `A_OPEN` and `B_OPEN` open.
async fn burn_down_app() -> App {
    let today = today_local();
    let app = spawn_app_with(
        InspectionConfig {
            date: Some(today + Duration::days(DAYS_LEFT)),
            ..InspectionConfig::default()
        },
        false,
    )
    .await;
    app.store
        .commit_batches(&[register(TOWN_A, 400), register(TOWN_B, 150)])
        .await
        .expect("register stored");
    let start = now_local();
    for (day, (a, b)) in A_OPEN.into_iter().zip(B_OPEN).enumerate() {
        let as_of = today - Duration::days((A_OPEN.len() - 1 - day) as i64);
        let now = format_timestamp(start + Duration::seconds(day as i64));
        let these = [drafts(TOWN_A, a), drafts(TOWN_B, b)].concat();
        run_at(&app.store, these, &as_of.to_string(), &now, &json!({})).await;
    }
    app
}

/// `path`'s answer to `token`, which must be a success.
async fn get(app: &App, token: &str, path: &str) -> Value {
    let (status, body) = app.get(token, path).await;
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// What the page should show for each figure of `row` (a township's or the city's),
/// formatted as app.js does, by `data-figure`.
fn expected_figures(row: &Value, ready: &Value) -> BTreeMap<&'static str, String> {
    let f = |k: &str| row[k].as_f64().unwrap_or(f64::NAN);
    let per1000 = match row["errors_per_1000"].as_f64() {
        Some(v) => format!("{v:.2}"),
        None => "—".into(),
    };
    BTreeMap::from([
        ("records", format!("{} 条", row["records"])),
        ("open", format!("{} 件", row["open"])),
        ("errors_per_1000", per1000),
        ("overdue", format!("{} 件", row["overdue"])),
        (
            "p_sample_finds_error",
            format!("{:.1}%", f("p_sample_finds_error") * 100.0),
        ),
        (
            "expected_points_lost",
            format!(
                "{:.1} / {} 分",
                f("expected_points_lost"),
                ready["points"].as_f64().unwrap_or(f64::NAN)
            ),
        ),
        ("days_left", format!("{} 天", row["days_left"])),
    ])
}

/// The figures shown inside `scope` (a selector), by `data-figure`.
async fn shown_figures(browser: &mut Browser, scope: &str) -> BTreeMap<String, String> {
    let js = format!(
        "Object.fromEntries([...document.querySelectorAll({})].map(e => [e.dataset.figure, e.textContent]))",
        json!(format!("{scope} [data-figure]"))
    );
    serde_json::from_value(browser.eval(&js).await).expect("figures")
}

/// Reads one burn-down chart (`svg` a selector): its points (as-of date, open, centre
/// in the page's pixels), its dashed line and where its ends are in the page, the x of
/// the inspection day's rule, the y of the zero axis, all in the chart's own units as
/// well.
const CHART_PROBE: &str = r#"(sel) => {
  const s = document.querySelector(sel);
  if (!s) return null;
  const box = s.getBoundingClientRect();
  const scale = box.width / s.viewBox.baseVal.width;
  const page = (x, y) => [box.left + x * scale + scrollX, box.top + y * scale + scrollY];
  const num = (e, a) => e ? parseFloat(e.getAttribute(a)) : null;
  const line = s.querySelector('line.burn-line');
  const rule = s.querySelector('line.inspection-rule');
  const axis = s.querySelector('line.x-axis');
  return {
    points: [...s.querySelectorAll('circle.burn-point')].map(c => ({
      as_of: c.dataset.asOf, open: +c.dataset.open,
      cx: num(c, 'cx'), cy: num(c, 'cy'),
      page: page(num(c, 'cx'), num(c, 'cy')),
    })),
    line: line ? {
      x1: num(line, 'x1'), y1: num(line, 'y1'), x2: num(line, 'x2'), y2: num(line, 'y2'),
      dashed: !!line.getAttribute('stroke-dasharray'), stroke: line.getAttribute('stroke'),
      from: page(num(line, 'x1'), num(line, 'y1')), to: page(num(line, 'x2'), num(line, 'y2')),
    } : null,
    rule: rule ? { x: num(rule, 'x1'), as_of: rule.dataset.asOf } : null,
    axis_y: num(axis, 'y1'),
    inspection_label: !!(rule && s.querySelector('text.date-tick[data-as-of="' + rule.dataset.asOf + '"]')),
  };
}"#;

fn day(date: &str) -> i64 {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("a date");
    d.signed_duration_since(chrono::NaiveDate::default())
        .num_days()
}

/// Checks the chart `svg` against `history` (one township's burn-down from the API):
/// a point per history point with its count, in date order; the dashed line from the
/// first point to zero (the axis) at the inspection day's x, which lies where the dates'
/// scale puts it; and, in `picture`, each point and most of the line in their colours.
async fn check_chart(
    browser: &mut Browser,
    svg: &str,
    history: &Value,
    picture: &Picture,
    at: &str,
    faults: &mut Vec<String>,
) {
    let mut fault = |what: String| faults.push(format!("{at}, {svg}: {what}"));
    let m = browser
        .eval(&format!("({CHART_PROBE})({})", json!(svg)))
        .await;
    if m.is_null() {
        fault("no chart".into());
        return;
    }
    let n = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let want: Vec<(String, u64)> = history["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| {
            (
                p["as_of"].as_str().unwrap_or("").into(),
                p["open"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let points = m["points"].as_array().cloned().unwrap_or_default();
    let got: Vec<(String, u64)> = points
        .iter()
        .map(|p| {
            (
                p["as_of"].as_str().unwrap_or("").into(),
                p["open"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    if got != want {
        fault(format!("points {got:?}, the API's {want:?}"));
    }
    if points.windows(2).any(|w| n(&w[0]["cx"]) >= n(&w[1]["cx"])) {
        fault("the points do not go left to right".into());
    }
    // Fewer open is higher up: the y of each point falls with its count.
    if points.windows(2).any(|w| {
        (n(&w[0]["cy"]) < n(&w[1]["cy"])) != (w[0]["open"].as_u64() > w[1]["open"].as_u64())
    }) {
        fault("the points' heights do not follow their counts".into());
    }

    let line = &m["line"];
    let close = |a: f64, b: f64| (a - b).abs() < 0.6;
    match (line.as_object(), points.first(), points.last()) {
        (None, ..) => fault("no dashed line".into()),
        (Some(_), Some(first), Some(last)) => {
            if !line["dashed"].as_bool().unwrap_or(false) {
                fault("the line is not dashed".into());
            }
            if !close(n(&line["x1"]), n(&first["cx"])) || !close(n(&line["y1"]), n(&first["cy"])) {
                fault(format!(
                    "the line starts at ({}, {}), the first point is at ({}, {})",
                    line["x1"], line["y1"], first["cx"], first["cy"]
                ));
            }
            if !close(n(&line["y2"]), n(&m["axis_y"])) {
                fault(format!(
                    "the line ends at y {}, zero is at {}",
                    line["y2"], m["axis_y"]
                ));
            }
            let inspection = history["line"]["to"]["as_of"].as_str().unwrap_or("");
            if m["rule"]["as_of"].as_str() != Some(inspection)
                || !m["inspection_label"].as_bool().unwrap_or(false)
            {
                fault(format!(
                    "no labelled rule at the inspection day {inspection}: {}",
                    m["rule"]
                ));
            }
            if !close(n(&line["x2"]), n(&m["rule"]["x"])) {
                fault(format!(
                    "the line ends at x {}, the inspection day is at {}",
                    line["x2"], m["rule"]["x"]
                ));
            }
            // The inspection day's x where the points' dates put it.
            let (d0, d1) = (
                day(first["as_of"].as_str().unwrap_or("")),
                day(last["as_of"].as_str().unwrap_or("")),
            );
            let per_day = (n(&last["cx"]) - n(&first["cx"])) / (d1 - d0) as f64;
            let x = n(&first["cx"]) + per_day * (day(inspection) - d0) as f64;
            if (x - n(&line["x2"])).abs() > 1.0 {
                fault(format!(
                    "the inspection day is drawn at x {}, its date says {x:.1}",
                    line["x2"]
                ));
            }
            // The picture: each point in the steps' colour, and the line's colour along it.
            let steps = colour(STEPS);
            for p in &points {
                let (x, y) = (n(&p["page"][0]) as usize, n(&p["page"][1]) as usize);
                if !near(picture, x, y, steps, 1) {
                    fault(format!(
                        "the point {} at ({x}, {y}) is not {STEPS} in the picture",
                        p["as_of"]
                    ));
                }
            }
            if line["stroke"].as_str() != Some(LINE) {
                fault(format!(
                    "the line is drawn in {}, not {LINE}",
                    line["stroke"]
                ));
            }
            let dash = colour(LINE);
            let (from, to) = (&line["from"], &line["to"]);
            let samples = 40;
            let seen = (1..samples)
                .filter(|i| {
                    let t = f64::from(*i) / f64::from(samples);
                    let x = n(&from[0]) + t * (n(&to[0]) - n(&from[0]));
                    let y = n(&from[1]) + t * (n(&to[1]) - n(&from[1]));
                    near(picture, x as usize, y as usize, dash, 1)
                })
                .count();
            // Dashes of 6 with gaps of 4, where the steps do not cross it.
            if seen < 15 {
                fault(format!(
                    "the line shows in {seen} of {} places along it, not 15",
                    samples - 1
                ));
            }
        }
        _ => fault("a line but no points".into()),
    }
}

/// Whether a pixel within `r` of (`x`, `y`) is `want`.
fn near(picture: &Picture, x: usize, y: usize, want: [u8; 3], r: usize) -> bool {
    (y.saturating_sub(r)..=y + r).any(|y| {
        (x.saturating_sub(r)..=x + r)
            .any(|x| x < picture.width && y < picture.height && picture.at(x, y) == want)
    })
}

/// How many different left edges the elements `selector` names have: their columns.
async fn columns(browser: &mut Browser, selector: &str) -> u64 {
    let js = format!(
        "new Set([...document.querySelectorAll({})].map(e => Math.round(e.getBoundingClientRect().left))).size",
        json!(selector)
    );
    browser.eval(&js).await.as_u64().unwrap_or(0)
}

/// Signs `token` in and opens the readiness view from the list's button.
async fn open_readiness(browser: &mut Browser, token: &str) {
    browser.goto("/").await;
    browser.eval("sessionStorage.clear()").await;
    browser.goto("/").await;
    browser.wait_state("signed-out").await;
    browser.sign_in(token).await;
    browser.wait_state("list").await;
    browser.click("#open-readiness").await;
    browser.wait_state("readiness").await;
}

async fn township_view(
    browser: &mut Browser,
    app: &App,
    screen: &Screen,
    faults: &mut Vec<String>,
) {
    let at = format!("the township's readiness on the {}", screen.name);
    let ready = get(app, &app.token_a, "/api/v1/readiness").await;
    let history = get(app, &app.token_a, "/api/v1/readiness/history").await;
    open_readiness(browser, &app.token_a).await;
    let row = &ready["townships"][0];
    assert_eq!(row["township"], TOWN_A);
    let panel = format!(".readiness-panel[data-township=\"{TOWN_A}\"]");
    let mut want: BTreeMap<String, String> = expected_figures(row, &ready)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    want.insert("pace".into(), "进度正常".into());
    assert!(
        row["pace"]["on_pace"].as_bool().unwrap_or(false),
        "A is on pace: {row}"
    );
    let shown = shown_figures(browser, &panel).await;
    if shown != want {
        faults.push(format!("{at}: figures {shown:?}, the API's {want:?}"));
    }
    let text = browser
        .text(&format!("{}.textContent", Browser::visible(&panel)))
        .await;
    for label in [
        "在册记录",
        "待处理",
        "每千条差错",
        "超期未改",
        "抽查 50 条发现差错的概率",
        "预计扣分",
        "距检查",
        "燃尽图",
    ] {
        if !text.contains(label) {
            faults.push(format!("{at}: no {label:?} in {text:?}"));
        }
    }
    let picture = check(browser, screen, "readiness", READINESS, faults).await;
    let svg = format!("{panel} svg.burn-chart");
    check_chart(
        browser,
        &svg,
        &history["townships"][0],
        &picture,
        &at,
        faults,
    )
    .await;
    let width = browser
        .eval(&format!(
            "document.querySelector({}).getBoundingClientRect().width",
            json!(svg)
        ))
        .await
        .as_f64()
        .unwrap_or(0.0);
    if width < f64::from(screen.width.min(700)) * 0.8 {
        faults.push(format!(
            "{at}: the chart is {width:.0} px wide, under 80% of the screen's"
        ));
    }
}

async fn city_view(browser: &mut Browser, app: &App, screen: &Screen, faults: &mut Vec<String>) {
    let at = format!("the city's readiness on the {}", screen.name);
    let ready = get(app, &app.admin, "/api/v1/readiness").await;
    let history = get(app, &app.admin, "/api/v1/readiness/history").await;
    open_readiness(browser, &app.admin).await;
    let city = &ready["city"];
    let want: BTreeMap<String, String> = expected_figures(city, &ready)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain([("behind".to_string(), "进度落后：东岭乡".to_string())])
        .collect();
    let shown = shown_figures(browser, "#readiness-city").await;
    if shown != want {
        faults.push(format!(
            "{at}: the city's figures {shown:?}, the API's {want:?}"
        ));
    }
    assert_eq!(city["behind"], json!([TOWN_B]), "B is behind: {city}");

    // One small chart per township, in the ranking's order; the laggard marked.
    let ranking: Vec<String> = serde_json::from_value(city["ranking"].clone()).expect("ranking");
    assert_eq!(
        ranking[0], TOWN_B,
        "B, with more errors in fewer records, ranks worst"
    );
    let cards: Vec<(String, bool, String)> = serde_json::from_value(
        browser
            .eval("[...document.querySelectorAll('#readiness-grid > .small-chart')].map(c => [c.dataset.township, c.classList.contains('behind'), c.textContent])")
            .await,
    )
    .expect("cards");
    let order: Vec<&String> = cards.iter().map(|c| &c.0).collect();
    if order != ranking.iter().collect::<Vec<_>>() {
        faults.push(format!(
            "{at}: the charts are in the order {order:?}, the ranking is {ranking:?}"
        ));
    }
    for (code, marked, text) in &cards {
        let late = city["behind"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|b| b == code);
        if *marked != late || text.contains("落后") != late {
            faults.push(format!(
                "{at}: {code} (behind: {late}) is marked {marked}, reads {text:?}"
            ));
        }
    }
    let columns = columns(browser, "#readiness-grid > .small-chart").await;
    let want_columns = if screen.phone { 1 } else { 2 };
    if columns != want_columns {
        faults.push(format!(
            "{at}: the charts are in {columns} columns, not {want_columns}"
        ));
    }

    let picture = check(browser, screen, "readiness-city", READINESS, faults).await;
    for t in history["townships"].as_array().expect("townships") {
        let code = t["township"].as_str().unwrap_or("");
        let svg = format!(".small-chart[data-township=\"{code}\"] svg.burn-chart");
        check_chart(browser, &svg, t, &picture, &at, faults).await;
    }
    // The laggard's badge is red in the picture, just inside its left edge.
    let badge = browser
        .eval(&format!(
            "(() => {{ const b = document.querySelector('.small-chart[data-township=\"{TOWN_B}\"] .badge.behind'); \
             if (!b) return null; const r = b.getBoundingClientRect(); \
             return [Math.round(r.left + 3 + scrollX), Math.round(r.top + r.height / 2 + scrollY)]; }})()"
        ))
        .await;
    match badge.as_array() {
        Some(xy) => {
            let (x, y) = (
                xy[0].as_u64().unwrap_or(0) as usize,
                xy[1].as_u64().unwrap_or(0) as usize,
            );
            if !near(&picture, x, y, colour(BEHIND), 0) {
                faults.push(format!(
                    "{at}: the badge at ({x}, {y}) is not {BEHIND} in the picture"
                ));
            }
        }
        None => faults.push(format!("{at}: no 落后 badge on {TOWN_B}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_shows_the_burn_down_on_a_phone_and_a_desktop() {
    if chromium_missing() {
        return;
    }
    let app = burn_down_app().await;
    let mut browser = Browser::launch(&app.base).await;
    let mut faults = Vec::new();
    for screen in [PHONE, DESKTOP] {
        browser.emulate(&screen).await;
        township_view(&mut browser, &app, &screen, &mut faults).await;
        city_view(&mut browser, &app, &screen, &mut faults).await;
    }
    browser.close().await;
    no_faults(&faults);
}
