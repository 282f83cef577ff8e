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

/// Loads `fragment` (the part after `#`) in a fresh headless Chromium profile and returns
/// the DOM it ends with.
async fn page(app: &App, fragment: &str) -> String {
    let profile = tempfile::tempdir().expect("a profile folder");
    // The page does all of a download up to the browser saving the file; Chromium is told
    // not to save it (`download_restrictions`), because a save still under way when
    // `--dump-dom` exits races the exit or hangs it. The page records in its DOM what it
    // handed to the browser (name, size, first bytes).
    std::fs::create_dir_all(profile.path().join("Default")).expect("profile folder");
    let prefs = serde_json::json!({
        "download": {"prompt_for_download": false},
        "download_restrictions": 3,
        "safebrowsing": {"enabled": false},
    });
    std::fs::write(
        profile.path().join("Default/Preferences"),
        prefs.to_string(),
    )
    .expect("preferences written");
    let url = format!("{}/#{fragment}", app.base);
    let log_path = profile.path().join("chromium.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let child = tokio::process::Command::new(CHROMIUM)
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
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("chromium starts");
    let step = fragment
        .split('&')
        .filter(|p| !p.starts_with("token="))
        .collect::<Vec<_>>()
        .join("&");
    let out = match tokio::time::timeout(Duration::from_secs(90), child.wait_with_output()).await {
        Ok(out) => out.expect("chromium runs"),
        Err(_) => panic!(
            "chromium did not finish within 90 s on #{step}; its log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        ),
    };
    assert!(
        out.status.success(),
        "chromium failed on #{step}: {}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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

    // Download the spreadsheet: fetched with the token, handed to the browser to save
    // under the township's name.
    let dom = page(&app, &format!("token={token}&action=download&format=xlsx")).await;
    assert!(
        dom.contains("data-action=\"download:ok\""),
        "the download finished:\n{dom}"
    );
    assert!(
        dom.contains("data-magic=\"PK\""),
        "an .xlsx (a zip) was handed over"
    );
    let name = dom
        .split("data-name=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("");
    assert!(
        name.starts_with("城关镇-问题清单-") && name.ends_with(".xlsx"),
        "named for the township: {name:?}"
    );
    let bytes: u64 = dom
        .split("data-bytes=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(bytes > 1000, "a real workbook, {bytes} bytes");

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
