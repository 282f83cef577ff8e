//! The township page in a real browser: headless Chromium loads the page from the real
//! server, driven by its address (`#token=…&ticket=…&action=…`, see `app.js`), and we
//! read the DOM it ends with (`--dump-dom`, after `--virtual-time-budget` lets the
//! page's requests finish). Skipped, with a message, where Chromium is not installed.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use popsync::domain::mask_id_str;
use popsync::reconcile::TicketKind;

use crate::api::{a1, b1, spawn_app, App, TOWN_A, TOWN_B};

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium_missing() -> bool {
    if Path::new(CHROMIUM).exists() {
        return false;
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED browser test: {CHROMIUM} is not installed (apt-get install -y chromium)"
    );
    true
}

/// What one page load ended with: the DOM and any files the page downloaded.
struct Loaded {
    dom: String,
    downloads: Vec<(String, Vec<u8>)>,
}

/// Loads `fragment` (the part after `#`) in a fresh headless Chromium profile.
async fn load(app: &App, fragment: &str) -> Loaded {
    let profile = tempfile::tempdir().expect("a profile folder");
    let downloads = profile.path().join("downloads");
    // Downloads go to a known folder without asking; Safe Browsing's download check is
    // off (it would wait for the network for ever, and never fires on our own files).
    std::fs::create_dir_all(profile.path().join("Default")).expect("profile folder");
    let prefs = serde_json::json!({
        "download": {"default_directory": downloads, "prompt_for_download": false, "directory_upgrade": true},
        "safebrowsing": {"enabled": false},
    });
    std::fs::write(
        profile.path().join("Default/Preferences"),
        prefs.to_string(),
    )
    .expect("preferences written");
    let url = format!("{}/#{fragment}", app.base);
    let run = tokio::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--virtual-time-budget=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&url)
        .env("HOME", profile.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("chromium finishes within 90 s")
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&downloads)
        .into_iter()
        .flatten()
        .flatten()
    {
        files.push((
            entry.file_name().to_string_lossy().into_owned(),
            std::fs::read(entry.path()).expect("downloaded file"),
        ));
    }
    Loaded {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        downloads: files,
    }
}

/// The DOM a page load ends with.
async fn page(app: &App, fragment: &str) -> String {
    load(app, fragment).await.dom
}

/// Both the DOM's final state and what it contains, with a readable failure.
fn assert_state(dom: &str, state: &str) {
    assert!(
        dom.contains(&format!("data-state=\"{state}\"")),
        "expected the page in state {state:?}; DOM:\n{dom}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_township_works_its_list_in_the_browser() {
    if chromium_missing() {
        return;
    }
    let app = spawn_app().await;
    let token = app.token_a.clone();
    let own = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_A).await;
    let other = app.ticket_id(TicketKind::DeathNotRecorded, TOWN_B).await;

    // Without a token: the sign-in form.
    let dom = page(&app, "").await;
    assert_state(&dom, "signed-out");
    assert!(dom.contains("访问令牌"));

    // A revoked token is sent back to sign in.
    let dom = page(&app, &format!("token={}", app.revoked)).await;
    assert_state(&dom, "signed-out");
    assert!(dom.contains("data-code=\"unauthorized\""), "{dom}");

    // Signed in: the township's open tickets grouped by kind, IDs masked, the chart.
    let dom = page(&app, &format!("token={token}")).await;
    assert_state(&dom, "list");
    assert!(dom.contains("城关镇"), "the header names the township");
    for kind in ["DEATH_NOT_RECORDED", "IDENTITY_MISMATCH", "INVALID_ID"] {
        assert!(
            dom.contains(&format!("class=\"group\" data-kind=\"{kind}\"")),
            "group {kind} shown:\n{dom}"
        );
    }
    assert!(dom.contains("死亡未注销（1）"), "groups carry their counts");
    assert!(dom.contains(&format!("data-ticket=\"{own}\"")));
    assert!(
        !dom.contains(&format!("data-ticket=\"{other}\"")),
        "another township's ticket is not listed"
    );
    assert!(
        dom.contains(&mask_id_str(&a1())) && !dom.contains(&a1()),
        "the list masks IDs"
    );
    assert!(
        dom.contains("id=\"chart-svg\"") && dom.contains("<rect"),
        "the chart is drawn"
    );
    assert!(!dom.contains(&token), "the token does not stay in the page");

    // One ticket: the whole ID and each department's evidence side by side.
    let dom = page(&app, &format!("token={token}&ticket={own}")).await;
    assert_state(&dom, "detail");
    assert!(dom.contains(&a1()), "the detail view shows the whole ID");
    for source in ["psb", "mca", "nhc", "pis"] {
        assert!(
            dom.contains(&format!("data-source=\"{source}\"")),
            "a column for {source}"
        );
    }
    assert!(
        dom.contains("公安")
            && dom.contains("民政")
            && dom.contains("卫健")
            && dom.contains("人口库")
    );
    assert!(
        dom.contains("HH2024-00812"),
        "the cremation record is shown"
    );

    // Dismiss it with a reason, through the page's own button handler.
    let dom = page(&app, &format!("token={token}&ticket={own}&action=dismiss&reason=%E5%B7%B2%E6%A0%B8%E5%AE%9E%EF%BC%9A%E9%95%BF%E6%9C%9F%E5%9C%A8%E5%9B%BD%E5%A4%96")).await;
    assert!(
        dom.contains("data-action=\"dismiss:ok\""),
        "the dismissal went through:\n{dom}"
    );
    assert!(
        dom.contains("data-status=\"dismissed\""),
        "the page shows the new status"
    );
    assert!(
        dom.contains("已核实：长期在国外"),
        "the history shows the reason"
    );
    assert_eq!(app.status_of(&own).await, "dismissed");

    // Download the spreadsheet.
    let loaded = load(&app, &format!("token={token}&action=download&format=xlsx")).await;
    assert!(
        loaded.dom.contains("data-action=\"download:ok\""),
        "the download finished:\n{}",
        loaded.dom
    );
    assert!(loaded.dom.contains("data-magic=\"PK\""), "an .xlsx arrived");
    let [(name, bytes)] = loaded.downloads.as_slice() else {
        panic!(
            "one file downloaded, got {:?}",
            loaded.downloads.iter().map(|d| &d.0).collect::<Vec<_>>()
        )
    };
    assert!(
        name.ends_with(".xlsx") && name.contains("城关镇"),
        "named for the township: {name}"
    );
    assert_eq!(&bytes[..2], b"PK", "the file is an .xlsx (a zip)");

    // Another township's ticket by address: not found, nothing of it shown.
    let dom = page(&app, &format!("token={token}&ticket={other}")).await;
    assert_state(&dom, "not-found");
    assert!(dom.contains("data-code=\"not_found\""));
    assert!(
        !dom.contains(&b1()) && !dom.contains(&mask_id_str(&b1())),
        "nothing of B's ticket leaks"
    );

    // The audit trail has the page's reads, the dismissal, the download and the probe.
    let audit = app
        .store
        .audit_entries(Some(TOWN_A), 100)
        .await
        .expect("audit");
    let has = |action: &str, result: &str| {
        audit
            .iter()
            .any(|e| e.action == action && e.result == result && e.actor.contains("城关镇-张三"))
    };
    assert!(
        has("ticket.read", "ok")
            && has("ticket.dismiss", "ok")
            && has("tickets.export", "ok")
            && has("ticket.read", "not_found"),
        "{audit:#?}"
    );
}
