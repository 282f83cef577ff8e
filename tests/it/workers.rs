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
        for _ in 0..2 {
            let db = fresh_db(backend).await;
            let (path, config) = city.config(&db, |t| {
                format!("{t}\n[reconcile]\nworkers = 2\ncases_per_bucket = 1\n")
            });
            let store = open_store(&db).await;
            sync_whole(&store, &config).await;
            popsync::run::reconcile::run(&store, &config, city.as_of, "test")
                .await
                .unwrap();
            store.make_every_case_due().await.unwrap();
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
