//! Issue 17, lists people print and sign: a township's `.xlsx` rendered the way a
//! township prints it (LibreOffice headless to PDF, poppler to text and PNG) is A4
//! landscape, one page wide with every column, the header row and the title on every
//! page, and the page number and a signature line in the footer.
//!
//! Skipped, with a message, where LibreOffice or poppler is not installed (`.ci/run`
//! installs them). Page 1 is left as a PNG in `$CARGO_TARGET_TMPDIR/print/` to look at.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use popsync::domain::normalise_id;
use popsync::tickets::TicketKind;

use crate::api::{draft, fixture_drafts, popsync, run, spawn_app, TOWN_A};

const TOOLS: [&str; 4] = ["soffice", "pdfinfo", "pdftotext", "pdftoppm"];

/// The headers the list has, in order.
const HEADERS: [&str; 16] = [
    "工单编号",
    "问题类型",
    "问题类型代码",
    "乡镇(街道)",
    "乡镇代码",
    "村(居)代码",
    "状态",
    "责任人",
    "身份证号",
    "人口库编号",
    "出生医学证明编号",
    "问题说明",
    "证据",
    "建议身份证号",
    "发现时间",
    "更新时间",
];

/// How long one conversion may take on a loaded CI machine.
const CONVERT: Duration = Duration::from_secs(180);

fn missing_tool() -> Option<&'static str> {
    TOOLS.into_iter().find(|tool| {
        !std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false)
    })
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Text with every kind of space removed: a header cell wrapped onto two lines, or a
/// title set with extra spacing, still reads whole.
fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[tokio::test]
async fn a_printed_list_is_one_landscape_page_wide_with_its_header_on_every_page() {
    if let Some(tool) = missing_tool() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED print test: {tool} is not installed \
             (apt-get install -y libreoffice-calc-nogui poppler-utils fonts-noto-cjk)"
        );
        return;
    }
    let app = spawn_app().await;
    // Enough tickets for three pages or so, and a later run the list is as of.
    let extra = 36;
    let mut drafts = fixture_drafts();
    for i in 0..extra {
        let person = normalise_id(&format!(
            "349901{:02}{:02}{:02}{:03}",
            50 + i / 12,
            1 + i % 12,
            1 + i % 28,
            100 + i
        ));
        drafts.push(draft(
            if i % 2 == 0 { TicketKind::MaritalStatusMismatch } else { TicketKind::ResidentMissing },
            TOWN_A,
            &person,
            &format!("349901001{:03}", 1 + i % 7),
            "王某户籍在本乡镇，但人口信息系统中没有其在册记录，请核实后录入；如已迁出或死亡，请注明。",
        ));
    }
    run(&app.store, drafts, "2024-06-30").await;
    let own = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_A).await;
    popsync(
        &app.config_path,
        &["tickets", "assign", &own, "--to", "张三"],
    );

    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("list.xlsx");
    popsync(
        &app.config_path,
        &[
            "tickets",
            "export",
            "--format",
            "xlsx",
            "--township",
            TOWN_A,
            "--output",
            xlsx.to_str().unwrap(),
        ],
    );
    let tickets = 3 + extra;

    // One conversion, on a profile of its own (two at once would share one otherwise).
    let profile = format!("file://{}", dir.path().join("profile").display());
    let mut soffice = tokio::process::Command::new("soffice")
        .arg(format!("-env:UserInstallation={profile}"))
        .args([
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
        ])
        .arg(dir.path())
        .arg(&xlsx)
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("soffice starts");
    let status = tokio::time::timeout(CONVERT, soffice.wait())
        .await
        .expect("soffice converts within its time")
        .expect("soffice runs");
    assert!(status.success(), "soffice failed: {status}");
    let pdf = dir.path().join("list.pdf");
    assert!(pdf.is_file(), "soffice wrote no PDF");

    // Keep what a person looks at: the PDF and page 1 as PNG.
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("print");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::copy(&pdf, keep.join("list.pdf")).unwrap();
    output(
        Command::new("pdftoppm")
            .args(["-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile"])
            .arg(&pdf)
            .arg(keep.join("list-page1")),
    );
    assert!(keep.join("list-page1.png").is_file());

    // A4 landscape, every page.
    let info = output(
        Command::new("pdfinfo")
            .args(["-f", "1", "-l", "999"])
            .arg(&pdf),
    );
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("pdfinfo names the pages");
    let sizes: Vec<(f64, f64)> = info
        .lines()
        .filter(|l| l.starts_with("Page") && l.contains(" size: "))
        .map(|l| {
            let dims: Vec<f64> = l
                .split(" size: ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            (dims[0], dims[1])
        })
        .collect();
    assert_eq!(sizes.len(), pages, "{info}");
    for (w, h) in &sizes {
        assert!(
            (w - 841.9).abs() < 2.0 && (h - 595.3).abs() < 2.0,
            "every page is A4 landscape (842 x 595 pt): {info}"
        );
    }

    // Every page: the title, every column header (so no column went to a page of its
    // own), the page number and the signature line. Every ticket once.
    let text = output(Command::new("pdftotext").arg(&pdf).arg("-"));
    let page_texts: Vec<String> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .map(squeezed)
        .collect();
    assert_eq!(page_texts.len(), pages, "{text}");
    // Page 1 is the summary sheet (概况), on one page: the township's standing and its
    // burn-down, the figures `popsync readiness` gives.
    let mut page_texts = page_texts;
    let summary = page_texts.remove(0);
    let standing: serde_json::Value = serde_json::from_str(&popsync(
        &app.config_path,
        &["readiness", "--format", "json", "--township", TOWN_A],
    ))
    .unwrap();
    let own = &standing["townships"][0];
    assert!(
        summary.contains(&squeezed("城关镇 迎检准备概况（截至 2024-06-30）")),
        "{summary}"
    );
    for (label, value) in [
        ("在册记录", own["records"].to_string()),
        ("待处理问题", own["open"].to_string()),
        (
            "发现差错的概率",
            format!(
                "{:.1}%",
                100.0 * own["p_sample_finds_error"].as_f64().unwrap()
            ),
        ),
        (
            "预计扣分",
            format!("{:.2}", own["expected_points_lost"].as_f64().unwrap()),
        ),
        ("待处理问题数（燃尽图）", String::new()),
    ] {
        assert!(
            summary.contains(&squeezed(label)) && summary.contains(&value),
            "the summary shows {label} {value}: {summary}"
        );
    }
    // As a picture: the burn-down's line, in its colour, is drawn on the summary page
    // (at 60 dpi the PNG is 702 x 496), in the chart right of the figures.
    let page1 = crate::browser::picture::Picture::decode(
        &std::fs::read(keep.join("list-page1.png")).unwrap(),
    );
    let line = [0x1f, 0x4e, 0x79];
    let near = |c: [u8; 3]| {
        c.iter()
            .zip(line)
            .all(|(a, b): (&u8, u8)| (i16::from(*a) - i16::from(b)).abs() < 40)
    };
    let drawn = (0..page1.height)
        .flat_map(|y| (page1.width / 2..page1.width).map(move |x| (x, y)))
        .filter(|&(x, y)| near(page1.at(x, y)))
        .count();
    assert!(
        drawn > 20,
        "the burn-down line is drawn on the summary page ({drawn} pixels of its colour)"
    );
    let bytes = std::fs::read(&xlsx).unwrap();
    assert!(
        bytes.windows(20).any(|w| w == b"xl/charts/chart1.xml"),
        "the summary sheet has a native chart"
    );
    let list_first_page = pages - page_texts.len() + 1;
    let pages = page_texts.len();
    assert!(pages >= 2, "the test needs a list of several pages: {text}");
    let title = squeezed("城关镇 人口信息差错核查清单（截至 2024-06-30）");
    let stored = app
        .store
        .list_tickets(&popsync::store::TicketFilter {
            township: Some(TOWN_A.into()),
            status: Some(popsync::tickets::Status::Open),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), tickets);
    let mut rows_per_page = Vec::new();
    for (n, page) in page_texts.iter().enumerate() {
        assert!(
            page.contains(&title),
            "page {} has the title: {page}",
            n + 1
        );
        for header in HEADERS {
            assert!(
                page.contains(&squeezed(header)),
                "page {} shows the header {header}: {page}",
                n + 1
            );
        }
        assert!(
            page.contains(&format!("第{}页/共", n + 1))
                || page.contains(&format!("第{}页/共", n + list_first_page)),
            "page {} is numbered: {page}",
            n + 1
        );
        assert!(
            page.contains("核查人") && page.contains("日期"),
            "page {}: {page}",
            n + 1
        );
        rows_per_page.push(
            stored
                .iter()
                .filter(|t| page.contains(&t.ticket_id))
                .count(),
        );
    }
    assert_eq!(
        rows_per_page.iter().sum::<usize>(),
        tickets,
        "every ticket printed once: {rows_per_page:?}"
    );
    assert_eq!(
        pages,
        tickets.div_ceil(rows_per_page[0]),
        "as many pages as the rows need, not one per slice of columns: {rows_per_page:?}"
    );
    // The owner column, and the Chinese kind names whole.
    let all = page_texts.concat();
    assert!(all.contains("张三"), "the owner is printed");
    for kind in ["死亡未注销", "婚姻状况不符", "在册人员缺失", "身份证号有误"]
    {
        assert!(all.contains(kind), "{kind} is printed whole");
    }
}
