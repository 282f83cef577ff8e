//! `popsync run` as operators run it: the real binary, a real SQLite file, the
//! simulator as a real HTTP server on 127.0.0.1, second-level schedules. Each test
//! polls with short sleeps against a deadline; none sleeps for a fixed long time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use popsync::sim::{
    Credentials, FaultKind, Faults, ServedCounts, SimServer, SimState, World, WorldOptions,
};
use popsync::store::Store;
use serde_json::Value;
use sqlx::Row;

use crate::helpers::{backends, fresh_db, open_store, Backend, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_popsync");
const FEEDS: [&str; 4] = ["psb", "mca", "nhc", "pis"];

/// A simulated city small enough to sync in a second or two.
fn world() -> World {
    World::generate(&WorldOptions {
        seed: 11,
        persons: 300,
        ..WorldOptions::default()
    })
}

async fn simulator(faults: Faults) -> (SimServer, ServedCounts, Vec<(String, String)>) {
    let world = world();
    let served = world.served();
    let townships = world.townships();
    let server = popsync::sim::spawn(SimState::new(world, faults, Credentials::default()))
        .await
        .expect("simulator starts");
    (server, served, townships)
}

fn free_listen() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address")
}

/// One test's folder (config, secrets, log) and its fresh database.
struct Setup {
    dir: tempfile::TempDir,
    db: TestDb,
    listen: SocketAddr,
    /// The operators' listener: metrics, readiness, the daemon's view.
    admin: SocketAddr,
}

impl Setup {
    async fn new(backend: Backend) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        popsync::demo::write_secrets(&dir.path().join("secrets")).expect("secrets");
        Setup {
            dir,
            db: fresh_db(backend).await,
            listen: free_listen(),
            admin: free_listen(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn db_url(&self) -> String {
        self.db.url.clone()
    }

    /// The demo's config with every feed on `*/2 * * * * *`, plus `extra` appended.
    fn write_config(&self, base_url: &str, townships: &[(String, String)], extra: &str) -> PathBuf {
        let text =
            popsync::demo::config_text(&self.db.url, base_url, &self.path("secrets"), townships)
                .replace(
                    "schedule = \"0 */15 * * * *\"",
                    "schedule = \"*/2 * * * * *\"",
                )
                .replace("schedule = \"0 0 * * * *\"", "schedule = \"*/2 * * * * *\"");
        let text = format!(
            "{text}\n[reconcile]\nschedule = \"*/3 * * * * *\"\n\n[http]\nlisten = \"{}\"\nadmin_listen = \"{}\"\n\n[daemon]\nshutdown_timeout_secs = 5\n{extra}",
            self.listen, self.admin
        );
        let path = self.path("popsync.toml");
        std::fs::write(&path, text).expect("config written");
        path
    }
}

/// A daemon child process; killed if a test fails before it stops it.
struct Daemon {
    child: Child,
    log: PathBuf,
    listen: SocketAddr,
}

impl Daemon {
    fn start(config: &Path, listen: SocketAddr, log: PathBuf, format: &str) -> Daemon {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(BIN)
            .args([
                "--config",
                config.to_str().expect("utf-8 path"),
                "--log-format",
                format,
                "run",
            ])
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("popsync run starts");
        Daemon { child, log, listen }
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = self.child.try_wait().expect("child state") {
                panic!("popsync run exited early with {s}:\n{}", self.log_text());
            }
            if get(self.listen, "/healthz")
                .await
                .is_some_and(|(code, _)| code == 200)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "popsync run did not answer /healthz:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then the exit status and how long it took.
    async fn terminate(&mut self) -> (ExitStatus, Duration) {
        let t0 = Instant::now();
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(ok.success());
        let deadline = t0 + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().expect("child state") {
                return (s, t0.elapsed());
            }
            assert!(
                Instant::now() < deadline,
                "popsync run ignored SIGTERM:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let resp = client
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .ok()?;
    let code = resp.status().as_u16();
    Some((code, resp.text().await.ok()?))
}

/// The value of `name{labels…}` in a Prometheus text page (every label pair in
/// `labels` must be on the line).
fn metric(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn status_json(config: &Path) -> Value {
    let out = Command::new(BIN)
        .args([
            "--config",
            config.to_str().expect("utf-8"),
            "status",
            "--format",
            "json",
        ])
        .output()
        .expect("popsync status runs");
    assert!(
        out.status.success(),
        "popsync status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

/// (records, quarantined) per feed, as the store counts them.
async fn stored(store: &Store) -> BTreeMap<&'static str, (u64, u64)> {
    store
        .record_counts()
        .await
        .expect("counts")
        .into_iter()
        .map(|(f, r, q)| (f, (r as u64, q as u64)))
        .collect()
}

fn served_of(served: &ServedCounts, feed: &str) -> (u64, u64) {
    let c = match feed {
        "psb" => served.psb,
        "mca" => served.mca,
        "nhc" => served.nhc,
        _ => served.pis,
    };
    (c.records, c.malformed)
}

/// Whether the feed's stored records plus its quarantine are everything it served.
fn complete(
    counts: &BTreeMap<&'static str, (u64, u64)>,
    served: &ServedCounts,
    feed: &str,
) -> bool {
    let (r, q) = counts[feed];
    r + q == served_of(served, feed).0
}

/// Whether each of `feeds` holds everything served and its last pull of every stream
/// succeeded.
async fn synced(store: &Store, served: &ServedCounts, feeds: &[&str]) -> bool {
    let counts = stored(store).await;
    let states = store.feed_states().await.expect("feed states");
    feeds.iter().all(|f| {
        let streams =
            popsync::feeds::streams_of(popsync::config::FeedName::parse(f).expect("a feed"));
        complete(&counts, served, f)
            && streams.iter().all(|s| {
                states.iter().any(|r| {
                    r.stream == *s && r.last_success_at.is_some() && r.last_error.is_none()
                })
            })
    })
}

async fn wait_for<F, Fut>(what: &str, daemon: &Daemon, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn max_run_id(store: &Store) -> i64 {
    store
        .recent_runs(1)
        .await
        .expect("runs")
        .first()
        .map_or(0, |r| r.0)
}

/// Every ID number and name the store holds (so, that the simulator served).
async fn personal_data(url: &str) -> (Vec<String>, Vec<String>) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.expect("store opens");
    let columns: [(&str, &[&str], &[&str]); 6] = [
        ("psb_rows", &["id_number"], &["name"]),
        ("pis_rows", &["sfzh", "id_norm", "mother_id"], &["name"]),
        (
            "mca_marriages",
            &["husband_id", "wife_id"],
            &["husband_name", "wife_name"],
        ),
        ("mca_cremations", &["id_number"], &["name"]),
        (
            "nhc_births",
            &["mother_id", "father_id"],
            &["child_name", "mother_name", "father_name"],
        ),
        ("nhc_deaths", &["id_number"], &["name"]),
    ];
    let (mut ids, mut names) = (Vec::new(), Vec::new());
    for (table, id_cols, name_cols) in columns {
        for (cols, out) in [(id_cols, &mut ids), (name_cols, &mut names)] {
            for col in cols {
                let rows = sqlx::query(&format!(
                    "SELECT {col} FROM {table} WHERE {col} IS NOT NULL"
                ))
                .fetch_all(&pool)
                .await
                .expect("select");
                out.extend(
                    rows.iter()
                        .map(|r| r.get::<String, _>(0))
                        .filter(|s| s.chars().count() >= 2),
                );
            }
        }
    }
    pool.close().await;
    ids.sort();
    ids.dedup();
    names.sort();
    names.dedup();
    (ids, names)
}

/// The log holds no ID number or name the simulator served, and nothing ID-shaped.
async fn assert_no_personal_data(log: &str, url: &str) {
    let (ids, names) = personal_data(url).await;
    assert!(
        ids.len() > 100 && names.len() > 100,
        "the store holds personal data to look for"
    );
    for id in &ids {
        assert!(
            !log.contains(id.as_str()),
            "an ID number ({}) is in the log",
            popsync::domain::mask_id_str(id)
        );
    }
    for name in &names {
        assert!(
            !log.contains(name.as_str()),
            "a name ({}) is in the log",
            popsync::domain::mask_name(name)
        );
    }
    let mut run = 0;
    for c in log.chars() {
        run = if c.is_ascii_digit() || c == 'X' {
            run + 1
        } else {
            0
        };
        assert!(run < 15, "an ID-shaped run of 15+ digits is in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_syncs_reconciles_and_its_metrics_and_status_agree_with_the_store() {
    for backend in backends() {
        run_and_agree(backend).await;
    }
}

async fn run_and_agree(backend: Backend) {
    let (sim, served, townships) = simulator(Faults::none()).await;
    let setup = Setup::new(backend).await;
    let config = setup.write_config(&sim.base_url(), &townships, "");
    let mut daemon = Daemon::start(&config, setup.listen, setup.path("daemon.log"), "text");
    daemon.wait_healthy().await;
    let store = open_store(&setup.db).await;

    let what = format!("every feed to be synced ({backend:?})");
    wait_for(&what, &daemon, 40, || synced(&store, &served, &FEEDS)).await;
    // A reconciliation that started after the last record landed.
    let before = max_run_id(&store).await;
    wait_for("a reconciliation after the sync", &daemon, 15, || async {
        max_run_id(&store).await > before
    })
    .await;

    let counts = stored(&store).await;
    let (code, page) = get(setup.admin, "/metrics")
        .await
        .expect("/metrics answers");
    assert_eq!(code, 200);
    let status = status_json(&config);
    for feed in FEEDS {
        let (records, quarantined) = counts[feed];
        assert_eq!(
            quarantined,
            served_of(&served, feed).1,
            "{feed}: quarantined = malformed served"
        );
        assert_eq!(
            metric(&page, "popsync_records_stored", &[("feed", feed)]),
            Some(records as f64),
            "{feed} records in /metrics"
        );
        assert_eq!(
            metric(&page, "popsync_records_in_quarantine", &[("feed", feed)]),
            Some(quarantined as f64),
            "{feed} quarantine in /metrics"
        );
        assert_eq!(
            metric(&page, "popsync_feed_up", &[("feed", feed)]),
            Some(1.0),
            "{feed} up"
        );
        // This daemon ingested everything, each record once.
        assert_eq!(
            metric(&page, "popsync_records_ingested_total", &[("feed", feed)]),
            Some(records as f64),
            "{feed} ingested"
        );
        assert!(
            metric(
                &page,
                "popsync_feed_seconds_since_success",
                &[("feed", feed)]
            )
            .is_some_and(|s| s < 30.0),
            "{feed} fresh"
        );
        let s = &status["feeds"][feed];
        assert_eq!(s["records"], records, "{feed} records in status");
        assert_eq!(s["quarantined"], quarantined, "{feed} quarantine in status");
        assert_eq!(s["state"], "ok", "{feed} state in status");
        assert!(
            s["next_run_at"].is_string(),
            "{feed}: status shows the next run"
        );
        assert!(
            s["lag_secs"].as_u64().is_some_and(|l| l < 30),
            "{feed}: status shows the lag"
        );
        assert_eq!(
            status["daemon"]["view"]["feeds"][feed]["schedule"],
            "*/2 * * * * *"
        );
    }
    assert_eq!(status["daemon"]["running"], true);
    // Tickets: the store, /metrics and status say the same.
    let open: BTreeMap<String, i64> = store
        .ticket_counts(None)
        .await
        .expect("ticket counts")
        .into_iter()
        .filter(|(_, s, _)| s == "open")
        .map(|(k, _, n)| (k, n))
        .collect();
    assert!(!open.is_empty(), "the reconciliation opened tickets");
    for (kind, n) in &open {
        assert_eq!(
            metric(&page, "popsync_tickets_open", &[("kind", kind)]),
            Some(*n as f64),
            "{kind} in /metrics"
        );
        assert_eq!(status["tickets"]["open"][kind], *n, "{kind} in status");
    }
    let by_township: f64 = page
        .lines()
        .filter(|l| l.starts_with("popsync_tickets_open_by_township{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(
        by_township,
        open.values().sum::<i64>() as f64,
        "per-township gauges add up"
    );
    assert!(status["last_reconcile"]["run_id"].as_i64().is_some());
    let (ready, body) = get(setup.admin, "/readyz").await.expect("/readyz answers");
    assert_eq!(ready, 200, "{body}");

    let (exit, took) = daemon.terminate().await;
    assert!(exit.success(), "exit {exit}");
    assert!(took < Duration::from_secs(6), "stopped in {took:?}");
    store.close().await;
    let log = daemon.log_text();
    for line in [
        "feed poll",
        "reconciliation finished",
        "next pull scheduled",
        "popsync stopped",
    ] {
        assert!(log.contains(line), "the log says {line:?}:\n{log}");
    }
    assert!(!log.contains("ERROR"), "no ERROR in a healthy run:\n{log}");
    assert!(
        !log.contains('\u{1b}'),
        "plain text off a terminal, no colour codes"
    );
    assert_no_personal_data(&log, &setup.db_url()).await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_sync_exits_zero_in_time_and_the_next_start_resumes_exactly() {
    // First run: half the requests answer slowly and pages are small, so a sync is
    // surely in flight when SIGTERM comes.
    let slow = Faults {
        rate: 0.5,
        kinds: vec![FaultKind::Slow],
        slow_ms: 300,
        ..Faults::none()
    };
    let (slow_sim, served, townships) = simulator(slow).await;
    let setup = Setup::new(Backend::Sqlite).await;
    let config = setup.write_config(&slow_sim.base_url(), &townships, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("schedule = \"*/2", "page_size = 20\nschedule = \"*/2");
    // mca reads date windows and takes no page size.
    let text = fix_mca(&text);
    std::fs::write(&config, text).unwrap();
    let mut daemon = Daemon::start(&config, setup.listen, setup.path("first.log"), "json");
    daemon.wait_healthy().await;
    let store = Store::open(&setup.db_url()).await.expect("store opens");
    wait_for("the first pages to land", &daemon, 20, || async {
        stored(&store).await.values().any(|(r, _)| *r > 0)
    })
    .await;

    let (exit, took) = daemon.terminate().await;
    assert!(exit.success(), "exit {exit}:\n{}", daemon.log_text());
    assert!(
        took < Duration::from_secs(6),
        "stopped in {took:?}, shutdown_timeout_secs is 5"
    );
    let first = stored(&store).await;
    assert!(
        FEEDS.iter().any(|f| !complete(&first, &served, f)),
        "SIGTERM came in the middle of a sync: {first:?}"
    );
    let first_log = daemon.log_text();
    assert!(first_log.contains("popsync stopped"), "{first_log}");
    // The feeds still pulling were stopped mid-pull, not left to finish.
    assert!(
        first_log.contains("feed poll stopped by shutdown"),
        "{first_log}"
    );
    let integrity: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&sqlx::AnyPool::connect(&setup.db_url()).await.unwrap())
        .await
        .unwrap()
        .get(0);
    assert_eq!(integrity, "ok");
    slow_sim.stop().await;

    // Second run against the same world served without faults: it resumes from the
    // stored cursors and ends with exactly what was served, nothing stored twice.
    let (sim, served_again, _) = simulator(Faults::none()).await;
    assert_eq!(served, served_again);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&slow_base(&config), &sim.base_url());
    std::fs::write(&config, text).unwrap();
    let mut daemon = Daemon::start(&config, setup.listen, setup.path("second.log"), "json");
    daemon.wait_healthy().await;
    wait_for("the resumed sync to finish", &daemon, 40, || {
        synced(&store, &served, &FEEDS)
    })
    .await;
    let last = stored(&store).await;
    let (_, page) = get(setup.admin, "/metrics")
        .await
        .expect("/metrics answers");
    for feed in FEEDS {
        let (records, quarantined) = last[feed];
        let (all, malformed) = served_of(&served, feed);
        assert_eq!(
            (records, quarantined),
            (all - malformed, malformed),
            "{feed}: nothing lost"
        );
        // The second run stored exactly what the first had not: nothing repeated.
        let resumed =
            metric(&page, "popsync_records_ingested_total", &[("feed", feed)]).unwrap_or(0.0);
        assert_eq!(
            resumed,
            (records - first[feed].0) as f64,
            "{feed}: the second run ingested only the rest"
        );
    }
    let (exit, _) = daemon.terminate().await;
    assert!(exit.success());
    store.close().await;
    let log = format!("{first_log}{}", daemon.log_text());
    for line in log.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
    assert_no_personal_data(&log, &setup.db_url()).await;
    sim.stop().await;
}

/// `page_size` was added after every schedule; the mca feed takes none.
fn fix_mca(text: &str) -> String {
    let mut out = String::new();
    let mut in_mca = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_mca = line == "[feeds.mca]";
        }
        if in_mca && line.starts_with("page_size") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn slow_base(config: &Path) -> String {
    let text = std::fs::read_to_string(config).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("base_url"))
        .expect("a base_url");
    line.split('"').nth(1).expect("quoted").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_refused_authentication_is_down_while_the_others_keep_syncing() {
    let (sim, served, townships) = simulator(Faults::none()).await;
    let setup = Setup::new(Backend::Sqlite).await;
    std::fs::write(setup.path("secrets").join("nhc"), "a-revoked-token\n").unwrap();
    let config = setup.write_config(&sim.base_url(), &townships, "");
    let mut daemon = Daemon::start(&config, setup.listen, setup.path("daemon.log"), "json");
    daemon.wait_healthy().await;
    let store = Store::open(&setup.db_url()).await.expect("store opens");
    wait_for(
        "the other feeds to sync and nhc to fail",
        &daemon,
        40,
        || async {
            let nhc_failed = store
                .feed_states()
                .await
                .unwrap()
                .iter()
                .any(|s| s.stream.starts_with("nhc") && s.last_error.is_some());
            nhc_failed && synced(&store, &served, &["psb", "mca", "pis"]).await
        },
    )
    .await;

    let (_, page) = get(setup.admin, "/metrics")
        .await
        .expect("/metrics answers");
    assert_eq!(
        metric(&page, "popsync_feed_up", &[("feed", "nhc")]),
        Some(0.0),
        "nhc is down"
    );
    assert_eq!(
        metric(&page, "popsync_records_stored", &[("feed", "nhc")]),
        Some(0.0)
    );
    assert!(
        metric(&page, "popsync_feed_failures_total", &[("feed", "nhc")]).is_some_and(|n| n >= 1.0)
    );
    for feed in ["psb", "mca", "pis"] {
        assert_eq!(
            metric(&page, "popsync_feed_up", &[("feed", feed)]),
            Some(1.0),
            "{feed} is up"
        );
    }
    let (code, body) = get(setup.admin, "/readyz").await.expect("/readyz answers");
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("nhc") && body.contains("authentication"),
        "{body}"
    );
    let status = status_json(&config);
    assert_eq!(status["feeds"]["nhc"]["state"], "failing");
    assert!(
        status["feeds"]["nhc"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("authentication")),
        "{status}"
    );
    assert_eq!(
        status["daemon"]["view"]["feeds"]["nhc"]["needs_operator"],
        true
    );
    for feed in ["psb", "mca", "pis"] {
        assert_eq!(status["feeds"][feed]["state"], "ok", "{feed}");
    }
    // The others keep being pulled after nhc failed.
    let polls = |page: &str| {
        metric(
            page,
            "popsync_feed_polls_total",
            &[("feed", "psb"), ("outcome", "ok")],
        )
        .unwrap_or(0.0)
    };
    let before = polls(&page);
    wait_for("psb to keep polling", &daemon, 10, || async {
        polls(&get(setup.admin, "/metrics").await.unwrap().1) > before
    })
    .await;

    let (exit, _) = daemon.terminate().await;
    assert!(exit.success());
    store.close().await;
    let log = daemon.log_text();
    let errors: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON log line"))
        .filter(|v| v["level"] == "ERROR")
        .collect();
    assert!(!errors.is_empty(), "the refused token is an ERROR:\n{log}");
    for e in &errors {
        assert_eq!(e["feed"], "nhc", "only nhc errs: {e}");
        assert!(
            e["action"].as_str().is_some_and(|a| a.contains("token")),
            "the ERROR says what to do: {e}"
        );
    }
    assert_no_personal_data(&log, &setup.db_url()).await;
    sim.stop().await;
}

#[tokio::test]
async fn bad_schedules_and_bad_config_are_refused_at_start_naming_the_key() {
    let setup = Setup::new(Backend::Sqlite).await;
    let base = setup.write_config("http://127.0.0.1:9", &[], "");
    let good = std::fs::read_to_string(&base).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (
            good.replacen(
                "schedule = \"*/2 * * * * *\"",
                "schedule = \"0 0 0 30 2 *\"",
                1,
            ),
            "feeds.psb.schedule",
        ),
        (
            good.replacen(
                "schedule = \"*/2 * * * * *\"",
                "schedule = \"every two seconds\"",
                1,
            ),
            "feeds.psb.schedule",
        ),
        (
            good.replace(
                "schedule = \"*/3 * * * * *\"",
                "schedule = \"61 * * * * *\"",
            ),
            "reconcile.schedule",
        ),
        (
            good.replace(
                "schedule = \"*/3 * * * * *\"",
                "schedule = \"*/3 * * * * *\"\nfull_schedule = \"0 0 0 30 2 *\"",
            ),
            "reconcile.full_schedule",
        ),
        (
            good.replace(
                &format!("listen = \"{}\"", setup.listen),
                "listen = \"localhost\"",
            ),
            "http.listen",
        ),
        (
            good.replace("shutdown_timeout_secs = 5", "shutdown_timeout = 5"),
            "shutdown_timeout",
        ),
        (
            good.replacen(
                "base_url = \"http://127.0.0.1:9\"",
                "base_url = \"127.0.0.1:9\"",
                1,
            ),
            "feeds.psb.base_url",
        ),
    ];
    for (text, key) in cases {
        let path = setup.path("bad.toml");
        std::fs::write(&path, text).unwrap();
        let t0 = Instant::now();
        let out = Command::new(BIN)
            .args(["--config", path.to_str().unwrap(), "run"])
            .output()
            .expect("popsync runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key}: refused");
        assert!(stderr.contains(key), "{key}: named on stderr: {stderr}");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{key}: refused at once"
        );
    }
    // A port already taken is refused naming `http.listen` too.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let text = good.replace(
        &setup.listen.to_string(),
        &taken.local_addr().unwrap().to_string(),
    );
    let path = setup.path("taken.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(BIN)
        .args(["--config", path.to_str().unwrap(), "run"])
        .output()
        .expect("popsync runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("http.listen"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 13: `popsync run` verifies on `[verify] schedule`: rows committed late with old
/// times, which no pull can see, are found, repaired, reported in `/metrics`, `status`
/// and a WARN line without IDs, and a reconciliation follows the repair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_verifies_on_its_schedule_repairs_what_pulls_cannot_see_and_reconciles() {
    let world = world();
    let served = world.served();
    let townships = world.townships();
    let state = SimState::new(world, Faults::none(), Credentials::default());
    assert_eq!(state.pis_hide_spread(5), 5);
    let sim = popsync::sim::spawn(state).await.expect("simulator starts");
    let setup = Setup::new(Backend::Sqlite).await;
    let config = setup.write_config(
        &sim.base_url(),
        &townships,
        "\n[verify]\nschedule = \"*/2 * * * * *\"\n",
    );
    let mut daemon = Daemon::start(&config, setup.listen, setup.path("daemon.log"), "text");
    daemon.wait_healthy().await;
    let store = open_store(&setup.db).await;
    wait_for("psb, mca and nhc to be synced", &daemon, 40, || {
        synced(&store, &served, &["psb", "mca", "nhc"])
    })
    .await;
    wait_for("pis without the hidden rows", &daemon, 20, || async {
        stored(&store).await["pis"].0 + stored(&store).await["pis"].1 + 5 == served.pis.records
    })
    .await;
    sim.state.pis_reveal();
    let before = max_run_id(&store).await;
    wait_for(
        "the verify to repair the five rows",
        &daemon,
        20,
        || async {
            let (r, q) = stored(&store).await["pis"];
            r + q == served.pis.records
        },
    )
    .await;
    wait_for("a reconciliation after the repair", &daemon, 15, || async {
        max_run_id(&store).await > before
    })
    .await;
    // The gauges are the last verify's: the one that repaired, or a later one.
    wait_for("the verify gauges", &daemon, 15, || async {
        let page = get(setup.admin, "/metrics")
            .await
            .map(|(_, p)| p)
            .unwrap_or_default();
        metric(&page, "popsync_verify_served", &[("feed", "pis")])
            == Some(served.pis.records as f64)
            && metric(&page, "popsync_verify_missing", &[("feed", "pis")]) == Some(0.0)
    })
    .await;
    let status = status_json(&config);
    assert!(
        status["last_verify"]["pis"]["served"].as_u64() == Some(served.pis.records),
        "{status}"
    );
    let log = daemon.log_text();
    assert!(
        log.contains("verify found records the store lacks or holds otherwise")
            && log.contains("missing=5")
            && log.contains("repaired=5"),
        "{log}"
    );
    daemon.terminate().await;
    assert_no_personal_data(&daemon.log_text(), &setup.db_url()).await;
    store.close().await;
}

/// Issue 16: `popsync run` makes the full check on `[reconcile] full_schedule`; a golden
/// record edited behind its back turns `popsync_reconcile_full_equal` to 0 and writes
/// one ERROR line with what to do and counts, no one's data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_makes_the_full_check_on_its_schedule_and_reports_a_difference() {
    let (sim, served, townships) = simulator(Faults::none()).await;
    let setup = Setup::new(Backend::Sqlite).await;
    let config = setup.write_config(&sim.base_url(), &townships, "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "schedule = \"*/3 * * * * *\"",
        "schedule = \"*/3 * * * * *\"\nfull_schedule = \"*/2 * * * * *\"",
    );
    std::fs::write(&config, text).unwrap();
    let mut daemon = Daemon::start(&config, setup.listen, setup.path("daemon.log"), "text");
    daemon.wait_healthy().await;
    let store = open_store(&setup.db).await;
    wait_for("every feed to be synced", &daemon, 40, || {
        synced(&store, &served, &["psb", "mca", "nhc", "pis"])
    })
    .await;
    // A run that started before the last records landed may commit after this: the
    // second run from here saw them all, and later ones, unchanged, rewrite nothing.
    let synced_at = max_run_id(&store).await;
    wait_for(
        "two reconciliations after the sync",
        &daemon,
        20,
        || async { max_run_id(&store).await > synced_at + 1 },
    )
    .await;
    let full_equal = || async {
        let page = get(setup.admin, "/metrics")
            .await
            .map(|(_, p)| p)
            .unwrap_or_default();
        metric(&page, "popsync_reconcile_full_equal", &[])
    };
    wait_for(
        "a full check that finds the store equal",
        &daemon,
        30,
        || async { full_equal().await == Some(1.0) },
    )
    .await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&setup.db_url()).await.unwrap();
    let edited = sqlx::query(
        "UPDATE persons SET digest = 'edited' WHERE person_key = (SELECT MIN(person_key) FROM persons)",
    )
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(edited, 1, "one golden record edited");
    pool.close().await;
    wait_for(
        "a full check that finds the difference",
        &daemon,
        20,
        || async { full_equal().await == Some(0.0) },
    )
    .await;
    let page = get(setup.admin, "/metrics").await.unwrap().1;
    assert_eq!(
        metric(&page, "popsync_reconcile_full_differences", &[]),
        Some(1.0),
        "{page}"
    );
    assert!(metric(
        &page,
        "popsync_reconcile_full_last_run_timestamp_seconds",
        &[]
    )
    .is_some());
    let log = daemon.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("full check: the stored tickets or registry differ"))
        .unwrap_or_else(|| panic!("an ERROR line: {log}"));
    assert!(
        line.contains("ERROR") && line.contains("action=") && line.contains("persons_changed=1"),
        "{line}"
    );
    let status = status_json(&config);
    assert_eq!(status["last_full_check"]["equal"], false, "{status}");
    daemon.terminate().await;
    assert_no_personal_data(&daemon.log_text(), &setup.db_url()).await;
    store.close().await;
    sim.stop().await;
}

/// Writes `[http]` keys into a config `Setup::write_config` made.
fn with_http_keys(config: &Path, keys: &str) {
    let text = std::fs::read_to_string(config).expect("config");
    let text = text.replacen("\n[daemon]\n", &format!("{keys}\n[daemon]\n"), 1);
    std::fs::write(config, text).expect("config written");
}

/// Reads from `stream` until the server closes it; how long that took, if within `limit`.
async fn closed_within(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    limit: Duration,
) -> Option<Duration> {
    use tokio::io::AsyncReadExt;
    let t0 = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((t0 + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t0.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Issue 14: a client trickling its request head is dropped, connections past the cap
/// are closed at once, and `/metrics`, `/readyz` and `/daemon` answer only on the
/// operators' listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_greedy_clients_are_cut_off_and_operators_endpoints_stay_apart() {
    use tokio::io::AsyncWriteExt;
    let (sim, _, townships) = simulator(Faults::none()).await;
    let setup = Setup::new(Backend::Sqlite).await;
    let config = setup.write_config(&sim.base_url(), &townships, "");
    with_http_keys(
        &config,
        "header_read_timeout_secs = 1\nmax_connections = 3\n",
    );
    let mut daemon = Daemon::start(&config, setup.listen, setup.path("daemon.log"), "text");
    daemon.wait_healthy().await;

    // One byte of a request head every 200 ms: dropped once the second is up.
    let slow = tokio::net::TcpStream::connect(setup.listen).await.unwrap();
    let (mut read, mut write) = slow.into_split();
    write.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..50 {
            if write.write_all(b"X").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let took = closed_within(&mut read, Duration::from_secs(5)).await;
    trickle.abort();
    assert!(
        took.is_some_and(|t| t < Duration::from_secs(3)),
        "a trickling client was held: {took:?}"
    );

    // Three idle connections fill the listener; a fourth is closed at once.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(tokio::net::TcpStream::connect(setup.listen).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = tokio::net::TcpStream::connect(setup.listen).await.unwrap();
    let took = closed_within(&mut fourth, Duration::from_millis(500)).await;
    assert!(
        took.is_some(),
        "a connection past max_connections was served"
    );
    // The idle ones time out, and the listener serves again.
    for conn in &mut idle {
        assert!(
            closed_within(conn, Duration::from_secs(3)).await.is_some(),
            "an idle connection was held"
        );
    }
    assert_eq!(get(setup.listen, "/healthz").await.map(|r| r.0), Some(200));

    for path in ["/metrics", "/readyz", "/daemon"] {
        let (code, body) = get(setup.listen, path).await.expect("answers");
        assert_ne!(code, 200, "{path} on the townships' listener");
        assert!(!body.contains("popsync_"), "{path}: {body}");
        let (code, _) = get(setup.admin, path).await.expect("answers");
        assert!(
            code == 200 || (path == "/readyz" && code == 503),
            "{path} on the admin listener: {code}"
        );
    }
    // A bad token asking for a person by ID number: refused, and the log names the
    // route's pattern, never the ID the path held (in either log format).
    let id = "349901197208188924";
    let client = reqwest::Client::new();
    let refused = client
        .get(format!("http://{}/api/v1/persons/{id}", setup.listen))
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status().as_u16(), 401);
    daemon.terminate().await;
    let log = daemon.log_text();
    assert!(log.contains("route=/api/v1/persons/{key}"), "{log}");
    assert!(
        !log.contains(id) && !log.contains("197208188924"),
        "the ID is in the log:\n{log}"
    );
}

/// A throwaway CA and a certificate for 127.0.0.1 it signed, made with openssl:
/// (CA certificate, server certificate, server key).
fn throwaway_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=popsync test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "key.pem",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

/// Issue 14: the townships' listener speaks TLS with `tls_cert_file`/`tls_key_file`,
/// and a feed trusts an internal CA through `ca_file` (and only then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_in_and_out_with_an_internal_ca() {
    let (sim, _, townships) = simulator(Faults::none()).await;
    let setup = Setup::new(Backend::Sqlite).await;
    let (ca, cert, key) = throwaway_ca(setup.dir.path());
    let config = setup.write_config(&sim.base_url(), &townships, "");
    with_http_keys(
        &config,
        &format!(
            "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    );
    let mut daemon = Daemon::start(&config, setup.listen, setup.path("daemon.log"), "text");
    let pem = std::fs::read(&ca).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let healthz = loop {
        match client
            .get(format!("https://{}/healthz", setup.listen))
            .send()
            .await
        {
            Ok(r) => break r.status().as_u16(),
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "no TLS answer: {e}\n{}",
                    daemon.log_text()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(healthz, 200);
    assert!(
        get(setup.listen, "/healthz")
            .await
            .is_none_or(|(c, _)| c != 200),
        "plain HTTP is not served"
    );

    // A feed behind that certificate: refused without the CA, reached with ca_file (it
    // answers 404: the listener is popsync's own page and API, not a department).
    let untrusted = tls_pull_error(setup.dir.path(), setup.listen.port(), "").await;
    assert!(
        untrusted.contains("certificate") || untrusted.contains("Unknown"),
        "{untrusted}"
    );
    let trusted = tls_pull_error(
        setup.dir.path(),
        setup.listen.port(),
        &format!("ca_file = \"{}\"\n", ca.display()),
    )
    .await;
    assert!(trusted.contains("HTTP 404 from /rkxx/list"), "{trusted}");
    daemon.terminate().await;
}

/// Issue 14: mutual TLS. A department that asks for a client certificate gets the one
/// `client_cert_file`/`client_key_file` name; without it the handshake fails. The
/// department is `openssl s_server` demanding a certificate from the throwaway CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_presents_its_client_certificate_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = throwaway_ca(dir.path());
    let port = free_listen().port();
    let mut server = Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-www",
            "-Verify",
            "1",
            "-verify_return_error",
        ])
        .arg("-CAfile")
        .arg(&ca)
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "s_server did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ca_line = format!("ca_file = \"{}\"\n", ca.display());
    let without = tls_pull_error(dir.path(), port, &ca_line).await;
    assert!(
        without.contains("request failed"),
        "no certificate, no answer: {without}"
    );
    // The department's own certificate serves as popsync's client certificate here:
    // the CA signed it, which is all the department checks.
    let with = tls_pull_error(
        dir.path(),
        port,
        &format!(
            "{ca_line}client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    )
    .await;
    assert!(
        with.contains("unreadable"),
        "with the certificate, an answer (not a register's): {with}"
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// Pulls a pis feed at `https://127.0.0.1:PORT` with `extra` config keys once, into a
/// store in `dir`, and returns its error as an operator reads it (there is no register
/// behind these test servers, so the pull always fails; how it fails is the point).
async fn tls_pull_error(dir: &Path, port: u16, extra: &str) -> String {
    std::fs::write(dir.join("pis-token"), "t\n").unwrap();
    let text = format!(
        "[database]\nurl = \"sqlite://{}\"\n[city]\ncounties = [\"349901\"]\n[feeds.pis]\nbase_url = \"https://127.0.0.1:{port}\"\ntoken_file = \"{}\"\nmax_retries = 0\n{extra}",
        dir.join("feed.db").display(),
        dir.join("pis-token").display()
    );
    let config = popsync::config::Config::from_toml(&text, &dir.join("feed.toml"), &|_| None)
        .expect("the feed's config loads");
    let store = Store::open(&config.database.url).await.unwrap();
    let reports = popsync::run::pull::sync_feeds(
        &store,
        &config,
        &[],
        crate::helpers::fast(),
        &popsync::shutdown::Shutdown::never(),
    )
    .await;
    store.close().await;
    // As operators see it: the error and its causes, each once.
    popsync::domain::masked_causes(reports[0].result.as_ref().expect_err("no register there"))
}
