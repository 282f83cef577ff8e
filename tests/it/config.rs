//! Configuration: shipped files load, bad files are refused in one line naming the key.

use std::path::Path;

use popsync::config::Config;

use crate::helpers::secret_file;

fn minimal(dir: &Path, extra_feed: &str) -> String {
    let token = secret_file(dir, "psb", "t");
    format!(
        "[database]\nurl = \"sqlite://x.db\"\n[city]\ncounties = [\"349901\"]\n[feeds.psb]\nbase_url = \"https://127.0.0.1:1\"\ntoken_file = \"{}\"\n{extra_feed}",
        token.display()
    )
}

fn load(text: &str) -> Result<Config, String> {
    Config::from_toml(text, Path::new("popsync.toml"), &|name| {
        (name == "SET").then(|| "secret".to_string())
    })
    .map_err(|e| e.to_string())
}

#[test]
fn every_shipped_config_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["psb", "mca", "nhc", "pis"] {
        secret_file(dir.path(), name, "token");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for folder in ["config", "deploy"] {
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap().replace(
                "/run/credentials/popsync.service",
                &dir.path().display().to_string(),
            );
            let cfg = Config::from_toml(&text, &path, &|_| Some("token".into()))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(cfg.feeds.len(), 4, "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 2, "config/ and deploy/ ship at least one file each");
}

#[test]
fn bad_files_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let ok = minimal(dir.path(), "");
    assert!(load(&ok).is_ok(), "{:?}", load(&ok).err());
    let cases: Vec<(String, &str)> = vec![
        (ok.replace("[\"349901\"]", "[\"34990\"]"), "city.counties"),
        (
            ok.replace("https://127.0.0.1:1", "not a url"),
            "feeds.psb.base_url",
        ),
        (ok.replace("token_file", "token_fiel"), "token_fiel"),
        (ok.replace("sqlite://x.db", "mysql://x"), "database.url"),
        (
            minimal(dir.path(), "schedule = \"0 0 0 30 2 *\"\n"),
            "feeds.psb.schedule",
        ),
        (
            minimal(dir.path(), "schedule = \"every minute\"\n"),
            "feeds.psb.schedule",
        ),
        (
            minimal(dir.path(), "page_size = 5000\n"),
            "feeds.psb.page_size",
        ),
        (
            ok.replace(
                &format!("token_file = \"{}\"", dir.path().join("psb").display()),
                "token_env = \"UNSET\"",
            ),
            "feeds.psb.token_env",
        ),
        (
            ok.replace(
                &format!("token_file = \"{}\"", dir.path().join("psb").display()),
                "token_file = \"/nonexistent/psb\"",
            ),
            "feeds.psb.token_file",
        ),
        (
            ok.replace(
                &format!("token_file = \"{}\"", dir.path().join("psb").display()),
                "",
            ),
            "feeds.psb.token_file",
        ),
        (
            format!("{ok}[feeds.mca]\nbase_url = \"https://x\"\ntoken_env = \"SET\"\n"),
            "feeds.mca.api_key_file",
        ),
        (format!("{ok}[reconcile]\ngrace_dayz = 3\n"), "grace_dayz"),
        // Issue 17: the inspection's numbers are checked at start.
        (
            format!("{ok}[inspection]\nsample_size = 0\n"),
            "inspection.sample_size",
        ),
        (
            format!("{ok}[inspection]\npoints = 16\ndeduction_per_error = 20\n"),
            "inspection.deduction_per_error",
        ),
        (
            format!("{ok}[inspection]\ndate = \"2024-02-30\"\n"),
            "inspection.date",
        ),
        // Issue 14: plain HTTP only where the config says so, and TLS files checked.
        (
            ok.replace("https://127.0.0.1:1", "http://127.0.0.1:1"),
            "feeds.psb.allow_http",
        ),
        (
            minimal(dir.path(), "ca_file = \"/nonexistent/ca.pem\"\n"),
            "feeds.psb.ca_file",
        ),
        (
            minimal(
                dir.path(),
                &format!("ca_file = \"{}\"\n", dir.path().join("psb").display()),
            ),
            "feeds.psb.ca_file",
        ),
        (
            minimal(dir.path(), "client_cert_file = \"/etc/hostname\"\n"),
            "feeds.psb.client_key_file",
        ),
        (
            minimal(dir.path(), "max_response_bytes = 10\n"),
            "feeds.psb.max_response_bytes",
        ),
        (
            minimal(dir.path(), "max_pages_per_pull = 0\n"),
            "feeds.psb.max_pages_per_pull",
        ),
    ];
    assert!(load(
        &ok.replace("https://127.0.0.1:1", "http://127.0.0.1:1")
            .replace("[feeds.psb]\n", "[feeds.psb]\nallow_http = true\n")
    )
    .is_ok());
    for (text, key) in cases {
        let err = load(&text).expect_err(key);
        assert!(err.contains(key), "error for {key} does not name it: {err}");
        assert!(!err.contains('\n'), "error is one line: {err}");
    }
}

/// Issue 17: `[inspection]` may be left out (readiness then has no date to count down
/// to), and a date given as text is read as that day.
#[test]
fn the_inspection_section_is_optional_and_its_date_is_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let ok = minimal(dir.path(), "");
    let without = load(&ok).unwrap().inspection;
    assert_eq!(
        (
            without.date,
            without.points,
            without.deduction_per_error,
            without.sample_size,
            without.fix_within_days
        ),
        (None, 16.0, 1.0, 50, 14)
    );
    let with = load(&format!(
        "{ok}[inspection]\ndate = \"2024-06-30\"\nsample_size = 80\n"
    ))
    .unwrap()
    .inspection;
    assert_eq!(with.date, chrono::NaiveDate::from_ymd_opt(2024, 6, 30));
    assert_eq!(with.sample_size, 80);
}

/// Issue 16: `[reconcile] full_schedule` defaults to weekly, and one that never fires is
/// refused naming the key.
#[test]
fn the_full_check_schedule_defaults_to_weekly_and_must_fire() {
    let dir = tempfile::tempdir().unwrap();
    let ok = minimal(dir.path(), "");
    let config = load(&ok).unwrap();
    assert_eq!(config.reconcile.full_schedule, "0 30 3 * * Sun");
    assert!(popsync::daemon::next_fire(&config.reconcile_full_schedule).is_some());
    let err = load(&format!(
        "{ok}[reconcile]\nfull_schedule = \"0 0 0 30 2 *\"\n"
    ))
    .unwrap_err();
    assert!(err.contains("reconcile.full_schedule"), "{err}");
}

#[test]
fn workers_and_buckets_default_to_two_and_fifty_thousand_and_must_be_positive() {
    let dir = tempfile::tempdir().unwrap();
    let ok = minimal(dir.path(), "");
    let config = load(&ok).unwrap();
    assert_eq!(
        (config.reconcile.workers, config.reconcile.cases_per_bucket),
        (2, 50_000)
    );
    for (line, key) in [
        ("workers = 0", "reconcile.workers"),
        ("workers = 65", "reconcile.workers"),
        ("cases_per_bucket = 0", "reconcile.cases_per_bucket"),
    ] {
        let err = load(&format!("{ok}[reconcile]\n{line}\n")).unwrap_err();
        assert!(err.contains(key), "{line}: {err}");
    }
}
