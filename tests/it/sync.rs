//! Pulling the four feeds: exactly once through every fault, idempotent repeats,
//! an authentication failure that stops one feed only, and SIGKILL at random moments.

use popsync::config::FeedName;
use popsync::run::pull::sync_feeds;
use popsync::shutdown::Shutdown;

use crate::helpers::{all_faults, backends, fast, fresh_db, open_store, City};

fn served(city: &City, feed: &str) -> (i64, i64) {
    let c = match feed {
        "psb" => city.world_served.psb,
        "mca" => city.world_served.mca,
        "nhc" => city.world_served.nhc,
        _ => city.world_served.pis,
    };
    (c.records as i64, c.malformed as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connector_stores_exactly_what_was_served_through_every_fault() {
    for backend in backends() {
        let city = City::start(11, 400, all_faults(0.12)).await;
        let db = fresh_db(backend).await;
        let (_, config) = city.config(&db, |t| t);
        let store = open_store(&db).await;
        let reports = sync_feeds(&store, &config, &[], fast(), &Shutdown::never()).await;
        for r in &reports {
            assert!(r.result.is_ok(), "{backend:?} {}: {:?}", r.feed, r.result);
        }
        let retries: u64 = reports
            .iter()
            .flat_map(|r| &r.streams)
            .map(|s| s.retries)
            .sum();
        assert!(
            retries > 0,
            "faults were injected, so something was retried"
        );
        for (feed, records, quarantined) in store.record_counts().await.unwrap() {
            let (want, bad) = served(&city, feed);
            assert_eq!(
                records + quarantined,
                want,
                "{backend:?} {feed}: stored + quarantined = served"
            );
            assert_eq!(
                quarantined, bad,
                "{backend:?} {feed}: malformed records quarantined"
            );
        }
        // The reasons are kept with the raw text.
        let q = store.quarantine(None).await.unwrap();
        assert!(q.iter().all(|(_, _, reason, _)| !reason.is_empty()));

        // A repeat with nothing new stores nothing new.
        let again = sync_feeds(&store, &config, &[], fast(), &Shutdown::never()).await;
        for r in &again {
            assert!(r.result.is_ok(), "{:?}", r.result);
            assert_eq!(
                r.new_records(),
                0,
                "{backend:?} {}: a repeat stores nothing new",
                r.feed
            );
            let q: u64 = r.streams.iter().map(|s| s.stats.quarantined_new).sum();
            assert_eq!(
                q, 0,
                "{backend:?} {}: a redelivered malformed record is recognised",
                r.feed
            );
        }
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_stops_that_feed_only() {
    for backend in backends() {
        let city = City::start(12, 200, popsync::sim::Faults::none()).await;
        let db = fresh_db(backend).await;
        std::fs::write(city.dir.path().join("wrong"), "not-the-token\n").unwrap();
        let wrong = city.dir.path().join("wrong").display().to_string();
        let (_, config) = city.config(&db, |t| {
            let psb_secret = format!("{}/psb", city.dir.path().join("secrets").display());
            let pis_secret = format!("{}/pis", city.dir.path().join("secrets").display());
            t.replace(&psb_secret, &wrong).replace(&pis_secret, &wrong)
        });
        let store = open_store(&db).await;
        let reports = sync_feeds(&store, &config, &[], fast(), &Shutdown::never()).await;
        for r in &reports {
            match r.feed {
                FeedName::Psb | FeedName::Pis => {
                    let e = r
                        .result
                        .as_ref()
                        .expect_err("refused credentials fail the feed");
                    assert!(e.is_auth(), "{e}");
                }
                _ => assert!(r.result.is_ok(), "{}: {:?}", r.feed, r.result),
            }
        }
        let status = popsync::status::report(&store, &config).await.unwrap();
        assert_eq!(status.feeds["psb"].state, "failing");
        assert!(status.feeds["psb"]
            .last_error
            .as_deref()
            .unwrap()
            .contains("authentication"));
        assert_eq!(status.feeds["mca"].state, "ok");
        assert!(status.feeds["nhc"].records > 0);
        store.close().await;
    }
}

/// Every stored row, in key order, for comparing two stores.
async fn dump(url: &str) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let mut out = Vec::new();
    for (table, key) in [
        ("psb_rows", "lsh"),
        ("mca_marriages", "reg_no"),
        ("mca_cremations", "cert_no"),
        ("nhc_births", "cert_no, version"),
        ("nhc_deaths", "cert_no, version"),
        ("pis_rows", "person_id"),
        ("quarantine", "feed, record_key"),
    ] {
        let cols = if table == "quarantine" {
            "feed || ':' || record_key || ':' || reason".to_string()
        } else {
            "raw".to_string()
        };
        let rows: Vec<(String,)> =
            sqlx::query_as(&format!("SELECT {cols} FROM {table} ORDER BY {key}"))
                .fetch_all(&pool)
                .await
                .unwrap();
        out.push(format!("{table}: {}", rows.len()));
        out.extend(rows.into_iter().map(|r| r.0));
    }
    pool.close().await;
    out.extend(
        cursors(url)
            .await
            .into_iter()
            .map(|(s, c)| format!("cursor {s}={c:?}")),
    );
    out
}

/// Every feed's cursor or watermark: it moves with each committed page. A
/// store that a killed first run left without its file or tables has none.
async fn cursors(url: &str) -> Vec<(String, Option<String>)> {
    sqlx::any::install_default_drivers();
    let Ok(pool) = sqlx::AnyPool::connect(url).await else {
        return Vec::new(); // Killed before it created the file.
    };
    let rows = sqlx::query_as("SELECT stream, cursor FROM feed_state ORDER BY stream")
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
    pool.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_random_moments_ends_identical_to_an_uninterrupted_one() {
    let exe = env!("CARGO_BIN_EXE_popsync");
    // Faults stay on, but records are not re-saved during scans: both stores must
    // then hold byte-identical rows.
    let mut faults = all_faults(0.05);
    faults.mutate_pis = 0.0;
    let city = City::start(13, 5000, faults).await;
    let calm = fresh_db(crate::helpers::Backend::Sqlite).await;
    let killed = fresh_db(crate::helpers::Backend::Sqlite).await;
    // Small pages: many commits, so kills land between and inside them.
    let small_pages = |t: String| {
        t.replace(
            "schedule = \"0 */15 * * * *\"",
            "schedule = \"0 */15 * * * *\"\npage_size = 10",
        )
    };
    let (calm_cfg, _) = city.config(&calm, |t| t);
    let (killed_cfg, _) = city.config(&killed, small_pages);
    let run = |cfg: &std::path::Path| {
        std::process::Command::new(exe)
            .args(["--config", cfg.to_str().unwrap(), "sync"])
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let status = run(&calm_cfg).wait().unwrap();
    assert!(status.success());

    // Kill after 5 to 45 ms, again and again, until a sync reaches the end by
    // itself. How long a sync takes depends on the machine and on its retry
    // waits, so the test counts kills instead of guessing a duration: a kill
    // counts when the store moved on since the one before, and the sync had
    // not yet finished.
    let mut landed = 0;
    let mut last = cursors(&killed.url).await;
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..2000 {
        let mut child = run(&killed_cfg);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(std::time::Duration::from_millis(5 + seed % 41)).await;
        if child.try_wait().unwrap().is_some() {
            break; // It reached the end before the kill.
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let now = cursors(&killed.url).await;
        if now != last {
            landed += 1;
            last = now;
        }
    }
    assert!(landed >= 20, "only {landed} kills landed mid-sync");
    let status = run(&killed_cfg).wait().unwrap();
    assert!(status.success());
    let (a, b) = (dump(&calm.url).await, dump(&killed.url).await);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
}

/// Issue 13: a block of rows at one `modifiedTime`, ten pages long, walked while the
/// register re-saves a row after half of its answers. Rows behind a re-saved row
/// shift into pages already read; the pager must still store every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_of_ten_pages_loses_no_row_while_the_register_resaves_rows() {
    let opts = popsync::sim::WorldOptions {
        seed: 31,
        persons: 500,
        // About 235 rows keep the block's time: twelve pages of 20.
        pis_block: 260,
        ..Default::default()
    };
    for run in 0..16u64 {
        let mut faults = popsync::sim::Faults::none();
        faults.mutate_pis = 0.5;
        faults.seed = 100 + run;
        let city = City::start_with(opts.clone(), faults).await;
        let db = fresh_db(crate::helpers::Backend::Sqlite).await;
        let (_, config) = city.config(&db, |t| {
            t.replace("[feeds.pis]\n", "[feeds.pis]\npage_size = 20\n")
        });
        let store = open_store(&db).await;
        let mut pages = 0;
        for _ in 0..2 {
            let reports = sync_feeds(
                &store,
                &config,
                &[FeedName::Pis],
                fast(),
                &Shutdown::never(),
            )
            .await;
            assert!(reports[0].result.is_ok(), "{:?}", reports[0].result);
            pages += reports[0].streams[0].pages;
        }
        assert!(
            pages > 30,
            "run {run}: the block was walked ({pages} pages)"
        );
        let (_, records, quarantined) = store.record_counts().await.unwrap()[3];
        let (served, _) = served(&city, "pis");
        assert_eq!(
            records + quarantined,
            served,
            "run {run}: stored + quarantined = served"
        );
        store.close().await;
    }
}
