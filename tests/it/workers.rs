//! Issue 16: a run recomputes its cases bucket by bucket, several buckets at once
//! (`[reconcile] workers`, `cases_per_bucket`). Two and four workers over small
//! buckets must write exactly what one worker writes in one bucket: the same tickets,
//! golden records, records that denote nobody and case dates, on a first run (every
//! case, into an empty registry), on a later day (the few cases due, one a bucket), and on a rebuild
//! over a full registry (`--every-case`).

use chrono::Duration;

use crate::helpers::{backends, fresh_db, open_store, sync_whole, City, TestDb};

/// What a run leaves behind, timestamps aside (the stores run seconds apart).
async fn written(db: &TestDb) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT ticket_id || '|' || kind || '|' || township || '|' || subject_key || '|' || status
         || '|' || evidence_digest || '|' || COALESCE(CAST(case_id AS TEXT), '-') FROM tickets ORDER BY ticket_id",
        "SELECT CAST(COUNT(*) AS TEXT) FROM ticket_events",
        "SELECT person_key || '|' || digest || '|' || CAST(case_id AS TEXT) FROM persons ORDER BY person_key",
        "SELECT source || '|' || record_key || '|' || reason || '|' || CAST(case_id AS TEXT)
         FROM unlinked_records ORDER BY source, record_key",
        "SELECT CAST(case_id AS TEXT) || '|' || next_date FROM case_dates ORDER BY case_id",
    ] {
        let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        out.push(format!("{} rows", rows.len()));
        out.extend(rows.into_iter().map(|(r,)| r));
    }
    pool.close().await;
    out
}

/// How many of the tickets' lookup indexes (those no constraint needs) the store has.
async fn lookup_indexes(db: &TestDb) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let names =
        "('tickets_township', 'tickets_township_owner', 'tickets_case', 'ticket_events_ticket')";
    let sql = if db.url.starts_with("sqlite") {
        format!("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN {names}")
    } else {
        format!("SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname IN {names}")
    };
    let (n,): (i64,) = sqlx::query_as(&sql).fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_and_four_workers_write_exactly_what_one_writes() {
    for backend in backends() {
        let city = City::start(31, 600, popsync::sim::Faults::none()).await;
        let mut stores = Vec::new();
        for (workers, per_bucket) in [(1, 50_000), (2, 17), (4, 17)] {
            let db = fresh_db(backend).await;
            let (_, config) = city.config(&db, |t| {
                format!("{t}\n[reconcile]\nworkers = {workers}\ncases_per_bucket = {per_bucket}\n")
            });
            assert_eq!(config.reconcile.workers, workers);
            let store = open_store(&db).await;
            sync_whole(&store, &config).await;
            stores.push((db, config, store));
        }
        let later = city.as_of + Duration::days(45);
        for (step, day) in [
            ("first run", city.as_of),
            ("45 days on", later),
            ("rebuilt", later),
        ] {
            let mut first: Option<(Vec<String>, u64)> = None;
            for (db, config, store) in &mut stores {
                // A later day has a few cases due: a bucket each, so that the workers
                // still share them.
                if config.reconcile.workers > 1 {
                    config.reconcile.cases_per_bucket = if step == "45 days on" { 1 } else { 17 };
                }
                let (config, store) = (&*config, &*store);
                if step == "rebuilt" {
                    store.recompute_every_case().await.unwrap();
                }
                let run = popsync::run::reconcile::run(store, config, day, "test")
                    .await
                    .unwrap();
                let workers = config.reconcile.workers;
                let cases = run.cases.cases_recomputed;
                if workers > 1 {
                    assert!(
                        cases as usize > workers * config.reconcile.cases_per_bucket,
                        "{backend:?} {step}: {cases} cases make more buckets than workers"
                    );
                }
                let state = written(db).await;
                match &first {
                    None => first = Some((state, cases)),
                    Some((one, one_cases)) => {
                        assert_eq!(
                            cases, *one_cases,
                            "{backend:?} {step}: {workers} workers recomputed other cases"
                        );
                        let differing: Vec<_> = one
                            .iter()
                            .zip(&state)
                            .filter(|(a, b)| a != b)
                            .take(5)
                            .collect();
                        assert!(
                            one.len() == state.len() && differing.is_empty(),
                            "{backend:?} {step}: {workers} workers wrote other rows than one: {differing:?}"
                        );
                    }
                }
            }
            let (state, _) = first.unwrap();
            assert!(
                state.iter().any(|r| r.contains("|open|")),
                "{backend:?} {step}: open tickets to compare"
            );
        }
        for (_, _, store) in stores {
            store.close().await;
        }
    }
}

/// A first run into an empty store reads the city once, spills its records to files
/// bucket by bucket and works the buckets (`store::cases::spilled`). It must leave
/// exactly what the whole city recomputed in memory leaves: the full check (which
/// recomputes in memory) finds it equal, and a rebuild of every case in memory the
/// same day changes no row, not even a ticket's history. The spill files are gone, and
/// so is one a killed run left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_run_from_spilled_buckets_leaves_what_a_rebuild_in_memory_leaves() {
    for backend in backends() {
        let city = City::start(37, 500, popsync::sim::Faults::none()).await;
        let db = fresh_db(backend).await;
        let (_, config) = city.config(&db, |t| {
            format!("{t}\n[reconcile]\nworkers = 2\ncases_per_bucket = 13\n")
        });
        let store = open_store(&db).await;
        sync_whole(&store, &config).await;
        // A spill left by a run that was killed goes with the next one.
        let dir = db
            .url
            .strip_prefix("sqlite://")
            .map(|file| std::path::Path::new(file).parent().unwrap().to_path_buf());
        if let Some(dir) = &dir {
            std::fs::create_dir(dir.join("popsync-cases-killed")).unwrap();
            std::fs::write(dir.join("popsync-cases-killed/table-0"), "x").unwrap();
        }
        let first = popsync::run::reconcile::run(&store, &config, city.as_of, "test")
            .await
            .unwrap();
        assert!(first.cases.every_case);
        assert!(
            first.cases.cases_recomputed > 2 * 13,
            "{backend:?}: more buckets than workers"
        );
        assert!(
            first.steps_ms.contains_key("settle") && first.steps_ms.contains_key("open"),
            "{backend:?}: worked in buckets, the tickets merged at the end"
        );
        // The indexes the tickets' merge dropped are built again.
        assert_eq!(lookup_indexes(&db).await, 4, "{backend:?}");
        let check = popsync::run::full_check::full_check(&store, &config, None)
            .await
            .unwrap();
        assert!(check.equal, "{backend:?}: {}", check.render_text());
        let spilled = written(&db).await;
        assert!(spilled.iter().any(|r| r.contains("|open|")), "{backend:?}");

        store.recompute_every_case().await.unwrap();
        let rebuilt = popsync::run::reconcile::run(&store, &config, city.as_of, "test")
            .await
            .unwrap();
        assert!(rebuilt.cases.every_case && rebuilt.steps_ms.contains_key("plan"));
        let differing: Vec<_> = spilled
            .iter()
            .zip(written(&db).await)
            .filter(|(a, b)| *a != b)
            .take(5)
            .collect();
        assert!(
            differing.is_empty(),
            "{backend:?}: the rebuild in memory changed {differing:?}"
        );
        if let Some(dir) = &dir {
            let left: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("popsync-cases-")
                })
                .collect();
            assert!(left.is_empty(), "spill left behind: {left:?}");
        }
        store.close().await;
    }
}

/// Two stores of `city`, synced and reconciled as of its date, then every case made
/// due; their config runs `workers` workers over buckets of one case.
async fn twins_every_case_due(
    city: &City,
    backend: crate::helpers::Backend,
    workers: usize,
) -> Vec<(
    TestDb,
    std::path::PathBuf,
    popsync::config::Config,
    popsync::store::Store,
)> {
    let mut twins = Vec::new();
    for _ in 0..2 {
        let db = fresh_db(backend).await;
        let (path, config) = city.config(&db, |t| {
            format!("{t}\n[reconcile]\nworkers = {workers}\ncases_per_bucket = 1\n")
        });
        let store = open_store(&db).await;
        sync_whole(&store, &config).await;
        popsync::run::reconcile::run(&store, &config, city.as_of, "test")
            .await
            .unwrap();
        store.make_every_case_due().await.unwrap();
        twins.push((db, path, config, store));
    }
    twins
}

/// Two `popsync reconcile` processes started together on one database: one leads the
/// run, the other (on PostgreSQL) works buckets of it while it waits, then leads a
/// run of its own that finds nothing changed. Neither fails, and the store holds
/// exactly what one process alone writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_database_share_a_run_instead_of_colliding() {
    for backend in backends() {
        let city = City::start(37, 500, popsync::sim::Faults::none()).await;
        let day = city.as_of + Duration::days(1);
        let mut dbs = Vec::new();
        for (db, path, _, store) in twins_every_case_due(&city, backend, 2).await {
            store.close().await;
            dbs.push((db, path));
        }
        let reconcile = |path: &std::path::Path| {
            std::process::Command::new(env!("CARGO_BIN_EXE_popsync"))
                .arg("--config")
                .arg(path)
                .args(["reconcile", "--as-of", &day.to_string()])
                .env("RUST_LOG", "info")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("popsync runs")
        };
        let (alone, together) = (&dbs[0], &dbs[1]);
        let one = reconcile(&alone.1).wait_with_output().unwrap();
        assert!(one.status.success(), "{backend:?}: {one:?}");
        let (a, b) = (reconcile(&together.1), reconcile(&together.1));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let logs = format!(
            "{}{}",
            String::from_utf8_lossy(&a.stderr),
            String::from_utf8_lossy(&b.stderr)
        );
        assert!(
            a.status.success() && b.status.success(),
            "{backend:?}: {logs}"
        );
        assert!(
            logs.contains("another popsync process leads a reconciliation"),
            "{backend:?}: one waited for the other: {logs}"
        );
        if backend == crate::helpers::Backend::Postgres {
            let helped: u64 = logs
                .split("buckets_helped=")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            assert!(helped > 0, "{backend:?}: the other worked buckets: {logs}");
        }
        assert_eq!(
            written(&alone.0).await,
            written(&together.0).await,
            "{backend:?}: two processes wrote other rows than one"
        );
    }
}

/// On PostgreSQL a claim is a row lock held by an open transaction: while one worker
/// holds a bucket another skips it, and a worker that dies (its connection gone) lets
/// go of it at once. A run whose bucket was taken by a worker that then died waits,
/// works that bucket itself, and writes what a run nobody disturbed writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_bucket_whose_worker_dies_is_worked_by_the_leader() {
    if !backends().contains(&crate::helpers::Backend::Postgres) {
        eprintln!("POPSYNC_TEST_DATABASE_URL is not set: skipped");
        return;
    }
    let backend = crate::helpers::Backend::Postgres;
    let city = City::start(41, 400, popsync::sim::Faults::none()).await;
    let day = city.as_of + Duration::days(1);
    let stores: Vec<_> = twins_every_case_due(&city, backend, 1)
        .await
        .into_iter()
        .map(|(db, _, config, store)| (db, config, store))
        .collect();
    let (undisturbed, disturbed) = (&stores[0], &stores[1]);
    popsync::run::reconcile::run(&undisturbed.2, &undisturbed.1, day, "test")
        .await
        .unwrap();

    let leading = tokio::spawn({
        let (store, config) = (disturbed.2.clone(), disturbed.1.clone());
        async move { popsync::run::reconcile::run(&store, &config, day, "test").await }
    });
    // Another process: it claims a bucket of the run, holds it, and dies.
    let other = open_store(&disturbed.0).await;
    let terms = loop {
        if let Some(terms) = other.open_run().await.unwrap() {
            break terms;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    let held = other
        .claim_bucket(&terms.run)
        .await
        .unwrap()
        .expect("a bucket left to claim");
    let next = other.claim_bucket(&terms.run).await.unwrap();
    assert!(
        next.as_ref().is_none_or(|c| c.bucket != held.bucket),
        "a held bucket is skipped, never claimed twice"
    );
    if let Some(next) = next {
        next.release().await;
    }
    // The leader works every other bucket, then waits for this one.
    while other.buckets_left().await.unwrap() > 1 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !leading.is_finished(),
        "the run waits for the bucket a worker holds"
    );
    drop(held);
    other.close().await;
    let run = leading.await.unwrap().unwrap();
    assert_eq!(run.cases.cases_recomputed, {
        let alone = undisturbed.2.recent_runs(1).await.unwrap();
        alone[0].3["cases"]["cases_recomputed"].as_u64().unwrap()
    });
    assert_eq!(
        written(&undisturbed.0).await,
        written(&disturbed.0).await,
        "the bucket let go of was worked, once"
    );
    for (_, _, store) in stores {
        store.close().await;
    }
}
