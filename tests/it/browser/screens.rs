//! Every view of the page on a phone held upright (390 × 844) and on a laptop: measured
//! in the DOM (no sideways scroll, touch targets, kind names that do not wrap a character
//! a line, the chart inside the screen, one column on the phone) and looked at in a
//! screenshot of the whole page, which is kept under the target folder for people to
//! look at too (`tmp/screenshots/`).

use std::path::PathBuf;

use base64::Engine;
use popsync::domain::{format_timestamp, now_local};
use popsync::tickets::{TicketDraft, TicketKind};
use serde_json::{json, Value};

use super::picture::Picture;
use super::{chromium_missing, Browser};
use crate::api::{fixture_drafts, run_at, spawn_app, App, TOWN_A, TOWN_B};

/// A screen the page is checked on.
pub(super) struct Screen {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    /// A phone: a touch screen, so every control must be big enough for a finger, and
    /// one column.
    pub phone: bool,
}

pub(super) const PHONE: Screen = Screen {
    name: "phone",
    width: 390,
    height: 844,
    phone: true,
};

pub(super) const DESKTOP: Screen = Screen {
    name: "desktop",
    width: 1366,
    height: 900,
    phone: false,
};

/// The smallest a touch target may be, in CSS pixels, each way (WCAG 2.5.5, Apple's
/// guidelines).
pub(super) const TOUCH_PX: f64 = 44.0;

/// The regions of each view that must stack, one above the other, on a phone: every
/// visible element they name starts at the same left edge.
const SIGN_IN: &[&str] = &[
    "header h1",
    "#sign-in h2",
    "#sign-in p",
    "#sign-in-form label",
    "#token-input",
    "#sign-in-form button",
];
const LIST: &[&str] = &[
    "header h1",
    "#who",
    "#message",
    ".toolbar",
    ".overview > div",
    "#groups",
];
const DETAIL: &[&str] = &[
    "header h1",
    "#who",
    "#message",
    "#back",
    "#detail-title",
    "#detail-meta",
    "#detail-summary",
    "#evidence .dept",
    "#actions form",
    "#history",
];

/// Measures the page as it is now, in one script: `regions` are the selectors of
/// `SIGN_IN`, `LIST` or `DETAIL`. Kind names are the counts table's first cells, the
/// groups' headings and the chart's legend; their lines are counted from the boxes
/// their text is laid out in.
const PROBE: &str = r#"(regions) => {
  const shown = e => !e.closest('[hidden]') && e.getClientRects().length > 0;
  const all = s => [...document.querySelectorAll(s)].filter(shown);
  const box = e => e.getBoundingClientRect();
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' '
    + JSON.stringify((e.textContent || e.value || e.getAttribute('aria-label') || '').trim().slice(0, 24));
  const lines = e => {
    const r = document.createRange();
    r.selectNodeContents(e);
    return new Set([...r.getClientRects()].filter(q => q.width > 0).map(q => Math.round(q.bottom))).size;
  };
  const chart = document.getElementById('chart-svg');
  const drawn = chart && shown(chart);
  const bars = drawn ? [...chart.querySelectorAll('rect[data-kind]')] : [];
  const last = bars.sort((p, q) => box(p).right - box(q).right).pop();
  return {
    innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    controls: all('a[href], button, input, select, textarea')
      .map(e => ({ what: name(e), width: box(e).width, height: box(e).height })),
    kinds: all('#counts tr[data-kind] > td:first-child, .group[data-kind] > h3, .legend .kind')
      .map(e => ({ text: e.textContent.replace(/[（(].*$/, ''), lines: lines(e) })),
    chart: drawn ? { left: box(chart).left, right: box(chart).right } : null,
    bar: last ? {
      x: Math.floor(box(last).left + box(last).width / 2 + scrollX),
      y: Math.floor(box(last).top + box(last).height / 2 + scrollY),
      fill: last.getAttribute('fill'),
    } : null,
    lefts: regions.map(s => [s, all(s).map(e => Math.round(box(e).left))]),
  };
}"#;

impl Browser {
    /// Makes the tab a screen of `screen`'s size, as Chromium's device mode does.
    pub(super) async fn emulate(&mut self, screen: &Screen) {
        self.page(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": screen.width, "height": screen.height,
                   "deviceScaleFactor": 1, "mobile": screen.phone}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}{}", self.log()));
    }

    /// A picture of the whole page (all of its height, and all of its width should it
    /// be wider than the screen), written to `file` and decoded.
    async fn screenshot(&mut self, file: &PathBuf) -> Picture {
        let size = self
            .eval("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            .await;
        let shot = self
            .page(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true,
                       "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}}),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}{}", self.log()));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("the picture's data"))
            .expect("base64");
        std::fs::write(file, &png).expect("screenshot written");
        Picture::decode(&png)
    }
}

/// Where the screenshots go: beside the build, kept after the test.
fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// Checks the view the page shows now on `screen`, adding what is wrong to `faults`
/// (all of it, over every view and both screens, so one run shows every fault), and
/// writes its screenshot as `SCREEN-VIEW.png`, which it returns for a view's own checks.
pub(super) async fn check(
    browser: &mut Browser,
    screen: &Screen,
    view: &str,
    regions: &[&str],
    faults: &mut Vec<String>,
) -> Picture {
    let at = format!("{view} on the {}", screen.name);
    let mut fault = |what: String| faults.push(format!("{at}: {what}"));
    let m = browser
        .eval(&format!("({PROBE})({})", json!(regions)))
        .await;
    let width = f64::from(screen.width);
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);

    // No sideways scroll.
    if num(&m["scrollWidth"]) > width || num(&m["innerWidth"]) != width {
        fault(format!(
            "scrolls sideways: the page is {} px wide, the screen {width} (innerWidth {})",
            m["scrollWidth"], m["innerWidth"]
        ));
    }
    // Touch targets, on the phone.
    for c in m["controls"].as_array().into_iter().flatten() {
        let (w, h) = (num(&c["width"]), num(&c["height"]));
        if screen.phone && (w < TOUCH_PX || h < TOUCH_PX) {
            fault(format!(
                "{} is {w:.0} × {h:.0} px, under {TOUCH_PX}",
                c["what"]
            ));
        }
    }
    // Kind names read as words: at least four characters a line.
    for k in m["kinds"].as_array().into_iter().flatten() {
        let text = k["text"].as_str().unwrap_or("");
        let lines = k["lines"].as_u64().unwrap_or(0) as usize;
        if lines > text.chars().count().div_ceil(4) {
            fault(format!(
                "the kind name {text:?} is wrapped on {lines} lines"
            ));
        }
    }
    // The chart inside the screen.
    if let Some(chart) = m["chart"].as_object() {
        let (left, right) = (num(&chart["left"]), num(&chart["right"]));
        if left < 0.0 || right > width {
            fault(format!(
                "the chart spans {left:.0}..{right:.0} px, outside 0..{width}"
            ));
        }
    }
    // One column on the phone: every region starts at one left edge.
    if screen.phone {
        let lefts: Vec<(String, i64)> = m["lefts"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| {
                let s = r[0].as_str().unwrap_or("").to_string();
                let xs = r[1].as_array().cloned().unwrap_or_default();
                xs.into_iter()
                    .map(move |x| (s.clone(), x.as_i64().unwrap_or(-1)))
            })
            .collect();
        if lefts.len() < 4 {
            fault(format!("only {} regions found: {lefts:?}", lefts.len()));
        }
        if let Some((first, x0)) = lefts.first() {
            for (s, x) in &lefts {
                if x != x0 {
                    fault(format!(
                        "{s} starts at {x} px, {first} at {x0}: not one column"
                    ));
                }
            }
        }
    }

    // The picture: as wide as the screen, nothing running into its right edge, content
    // across its width (not a narrow strip), and the chart's right-most bar where the
    // DOM says it is, in its colour.
    let file = screenshots().join(format!("{}-{view}.png", screen.name));
    let picture = browser.screenshot(&file).await;
    let shown = file.display();
    // (On the desktop a scroll bar may take some of the screen's width.)
    let client = num(&m["clientWidth"]);
    if picture.width as f64 != client || client > width {
        fault(format!(
            "{shown} is {} px wide, the screen {width}",
            picture.width
        ));
    }
    let (w, h) = (picture.width, picture.height);
    let background = picture.at(w - 1, 0);
    if picture.any_but(w - 4..w, background) {
        fault(format!("{shown}: something runs into the right edge"));
    }
    if !picture.any_but(w * 2 / 3..w - 16, background) {
        fault(format!("{shown}: nothing in the right third"));
    }
    if let Some(bar) = m["bar"].as_object() {
        let (x, y) = (num(&bar["x"]) as usize, num(&bar["y"]) as usize);
        let fill = bar["fill"].as_str().unwrap_or("");
        let seen = (x < w && y < h).then(|| picture.at(x, y));
        if seen != Some(colour(fill)) {
            fault(format!(
                "{shown}: the last bar's middle ({x}, {y}) is {seen:?}, not {fill}"
            ));
        }
    }
    picture
}

/// How many different `edge`s (`left`, `top`) the elements `selector` names have: the
/// columns or rows they are laid out in.
async fn edges(browser: &mut Browser, selector: &str, edge: &str) -> u64 {
    let js = format!(
        "new Set([...document.querySelectorAll({})].map(e => e.getBoundingClientRect()[{}])).size",
        json!(selector),
        json!(edge)
    );
    browser.eval(&js).await.as_u64().unwrap_or(0)
}

/// On the desktop, `what` should count `want` (columns or rows).
fn side_by_side(faults: &mut Vec<String>, what: &str, got: u64, want: u64) {
    if got != want {
        faults.push(format!("on the desktop, {what}: {got}, not {want}"));
    }
}

/// `#rrggbb` as RGB.
pub(super) fn colour(hex: &str) -> [u8; 3] {
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16).unwrap_or(0);
    [byte(1), byte(3), byte(5)]
}

/// Nine more runs after the fixture's, a minute apart with their open tickets per kind,
/// so that the chart has ten bars to fit; township A gains two more kinds of ticket,
/// with the longest names.
async fn more_runs(app: &App) {
    let mut drafts = fixture_drafts();
    for (kind, summary) in [
        (
            TicketKind::MaritalStatusMismatch,
            "人口信息系统中的婚姻状况为未婚，但民政有其结婚登记，请核实后更正。",
        ),
        (
            TicketKind::ResidentMissing,
            "王某户籍在本乡镇，但人口信息系统中没有其在册记录，请核实后录入。",
        ),
    ] {
        let d: TicketDraft = drafts[0].clone();
        drafts.push(TicketDraft {
            kind,
            summary_zh: summary.to_string(),
            ..d
        });
    }
    let start = now_local();
    for (minute, take) in [5, 6, 7, 6, 4, 7, 5, 7, 7].into_iter().enumerate() {
        let these = drafts[..take].to_vec();
        let mut open = std::collections::BTreeMap::<&str, u64>::new();
        for d in &these {
            *open.entry(d.kind.as_str()).or_default() += 1;
        }
        let now = format_timestamp(start + chrono::Duration::minutes(minute as i64 + 1));
        let as_of = format!("2024-05-{:02}", minute + 2);
        run_at(
            &app.store,
            these,
            &as_of,
            &now,
            &json!({ "open_by_kind": open }),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_fits_a_phone_and_a_desktop() {
    if chromium_missing() {
        return;
    }
    let app = spawn_app().await;
    more_runs(&app).await;
    let own = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_A).await;
    let other = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_B).await;
    let mut browser = Browser::launch(&app.base).await;
    let mut faults = Vec::new();
    let with_message = |regions: &[&'static str]| [regions, &["#message"]].concat();

    for screen in [PHONE, DESKTOP] {
        browser.emulate(&screen).await;
        let s = &screen;
        browser.goto("/").await;
        browser.wait_state("signed-out").await;
        check(&mut browser, s, "sign-in", SIGN_IN, &mut faults).await;

        browser.sign_in(&app.token_a).await;
        browser.wait_state("list").await;
        check(&mut browser, s, "list", LIST, &mut faults).await;
        if !screen.phone {
            // Room enough for the counts beside the chart.
            let columns = edges(&mut browser, ".overview > div", "left").await;
            side_by_side(&mut faults, "the overview's parts", columns, 2);
        }

        browser.click(&format!("tr[data-ticket=\"{own}\"] a")).await;
        browser.wait_state("detail").await;
        check(&mut browser, s, "detail", DETAIL, &mut faults).await;
        if !screen.phone {
            // The departments side by side.
            let rows = edges(&mut browser, "#evidence .dept", "top").await;
            side_by_side(&mut faults, "the departments' rows", rows, 1);
        }

        browser.fill("#dismiss-reason", "已核实：长期在国外").await;
        browser.click("#dismiss-form button[type=submit]").await;
        browser.wait_state("detail").await;
        check(
            &mut browser,
            s,
            "dismissed",
            &with_message(DETAIL),
            &mut faults,
        )
        .await;
        browser.fill("#reopen-reason", "误驳回，重新核实").await;
        browser.click("#reopen-form button[type=submit]").await;
        browser.wait_state("detail").await;

        browser.goto(&format!("/#ticket={other}")).await;
        browser.wait_state("not-found").await;
        check(
            &mut browser,
            s,
            "not-found",
            &with_message(LIST),
            &mut faults,
        )
        .await;

        // The admin: the whole city, then one township picked, then one of its tickets.
        browser.goto("/").await;
        browser.wait_state("list").await;
        browser.click("#sign-out").await;
        browser.wait_state("signed-out").await;
        browser.sign_in(&app.admin).await;
        browser.wait_state("list").await;
        check(&mut browser, s, "city", LIST, &mut faults).await;
        // The whole city at once: each ticket says which township it is of.
        let place = |id: &str| {
            format!(
                "(() => {{ const c = document.querySelector('tr[data-ticket=\"{id}\"] td:nth-child(4)'); \
                 return c ? c.textContent : ''; }})()"
            )
        };
        let city_place = browser.text(&place(&other)).await;
        assert!(
            city_place.contains(" · "),
            "{}: the city list names the township: {city_place:?}",
            s.name
        );
        browser
            .eval(&format!(
                "(() => {{ const s = document.getElementById('township-select'); s.value = {}; \
                 s.dispatchEvent(new Event('change', {{bubbles: true}})); }})()",
                json!(TOWN_A)
            ))
            .await;
        browser
            .wait_for(
                &format!(
                    "document.body.dataset.state === 'list' && location.hash === '#township={TOWN_A}' \
                     && !document.querySelector('tr[data-ticket=\"{other}\"]')"
                ),
                "the list of one township",
            )
            .await;
        check(&mut browser, s, "city-township", LIST, &mut faults).await;
        let township_place = browser.text(&place(&own)).await;
        assert!(
            !township_place.contains(" · "),
            "{}: one township's list needs no township: {township_place:?}",
            s.name
        );
        browser.click(&format!("tr[data-ticket=\"{own}\"] a")).await;
        browser.wait_state("detail").await;
        check(&mut browser, s, "city-detail", DETAIL, &mut faults).await;
        browser.click("#sign-out").await;
        browser.wait_state("signed-out").await;
    }
    browser.close().await;
    no_faults(&faults);
}

/// Fails the test with every fault found, one a line.
pub(super) fn no_faults(faults: &[String]) {
    assert!(
        faults.is_empty(),
        "{} faults:\n{}",
        faults.len(),
        faults.join("\n")
    );
}
