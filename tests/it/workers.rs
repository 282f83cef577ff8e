//! Issue 16: a run recomputes its cases bucket by bucket, several buckets at once
//! (`[reconcile] workers`, `cases_per_bucket`). Two and four workers over small
//! buckets must write exactly what one worker writes in one bucket: the same tickets,
//! golden records, records that denote nobody and case dates, on a first run (every
//! case, into an empty registry), on a later day (the few cases due, one a bucket), and on a rebuild
//! over a full registry (`--every-case`).

use chrono::Duration;

use popsync::run::pull::sync_feeds;
use popsync::shutdown::Shutdown;

use crate::helpers::{backends, fast, fresh_db, open_store, City, TestDb};

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
            for r in sync_feeds(&store, &config, &[], fast(), &Shutdown::never()).await {
                assert!(r.result.is_ok(), "{:?}", r.result);
            }
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
