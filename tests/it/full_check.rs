//! `popsync reconcile --full`: after a run the recompute equals the store and nothing
//! is written; a store edited behind popsync's back (a ticket row lost, a golden
//! record's digest changed) is reported with exactly those differences.

use std::path::Path;
use std::process::Command;

use crate::helpers::{backends, fresh_db, open_store, sync_whole, City, TestDb};

/// Runs the real binary; its exit code and standard output.
fn popsync(config: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_popsync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("popsync runs");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    (
        out.status.code().unwrap_or(-1),
        format!("{stdout}{}", if stdout.is_empty() { &stderr } else { "" }),
    )
}

fn full_check(config: &Path) -> (i32, serde_json::Value) {
    let (code, out) = popsync(config, &["reconcile", "--full", "--format", "json"]);
    let report = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    (code, report)
}

async fn pool(db: &TestDb) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&db.url).await.unwrap()
}

/// Everything a check must not write: each ticket's state and events, each golden
/// record's digest, the runs.
async fn written(db: &TestDb) -> Vec<String> {
    let pool = pool(db).await;
    let mut out = Vec::new();
    for sql in [
        "SELECT ticket_id || '|' || status || '|' || evidence_digest || '|' || updated_at FROM tickets ORDER BY ticket_id",
        "SELECT person_key || '|' || digest FROM persons ORDER BY person_key",
        "SELECT CAST(run_id AS TEXT) || '|' || summary FROM reconcile_runs ORDER BY run_id",
        "SELECT CAST(COUNT(*) AS TEXT) FROM ticket_events",
        "SELECT source || '|' || record_key || '|' || reason FROM unlinked_records ORDER BY source, record_key",
    ] {
        let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        out.extend(rows.into_iter().map(|(r,)| r));
    }
    pool.close().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_check_equals_after_a_run_writes_nothing_and_finds_exactly_a_store_edited_behind_its_back(
) {
    for backend in backends() {
        let city = City::start(23, 400, popsync::sim::Faults::none()).await;
        let db = fresh_db(backend).await;
        let (path, config) = city.config(&db, |t| t);

        // Nothing to check before the first run: exit 2.
        let (code, out) = popsync(&path, &["reconcile", "--full"]);
        assert_eq!(code, 2, "{backend:?}: no run yet: {out}");
        assert!(out.contains("no reconciliation has run yet"), "{out}");

        let store = open_store(&db).await;
        sync_whole(&store, &config).await;
        popsync::run::reconcile::run(&store, &config, city.as_of, "test")
            .await
            .unwrap();
        store.close().await;

        let before = written(&db).await;
        let (code, equal) = full_check(&path);
        assert_eq!(code, 0, "{backend:?}: {equal:#}");
        assert_eq!(equal["equal"], true);
        assert_eq!(
            equal["as_of"],
            city.as_of.to_string(),
            "the last run's date"
        );
        assert_eq!(
            equal["tickets"]["stored_digest"],
            equal["tickets"]["recomputed_digest"]
        );
        assert_eq!(
            equal["registry"]["stored_digest"],
            equal["registry"]["recomputed_digest"]
        );
        assert!(
            equal["tickets"]["stored_open"].as_u64().unwrap() > 0,
            "{equal:#}"
        );
        assert_eq!(
            written(&db).await,
            before,
            "{backend:?}: the check wrote nothing"
        );
        let (code, text) = popsync(&path, &["reconcile", "--full"]);
        assert_eq!(code, 0);
        assert!(text.contains("EQUAL"), "{text}");

        // Behind popsync's back: one open ticket's row lost, one golden record's digest
        // changed.
        let pool = pool(&db).await;
        let (lost,): (String,) = sqlx::query_as(
            "SELECT ticket_id FROM tickets WHERE status = 'open' ORDER BY ticket_id LIMIT 1",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        sqlx::query("DELETE FROM tickets WHERE ticket_id = $1")
            .bind(lost.clone())
            .execute(&pool)
            .await
            .unwrap();
        let (edited,): (String,) =
            sqlx::query_as("SELECT person_key FROM persons ORDER BY person_key LIMIT 1")
                .fetch_one(&pool)
                .await
                .unwrap();
        sqlx::query("UPDATE persons SET digest = 'edited' WHERE person_key = $1")
            .bind(edited.clone())
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;

        let before = written(&db).await;
        let (code, differ) = full_check(&path);
        assert_eq!(code, 1, "{backend:?}: {differ:#}");
        assert_eq!(differ["equal"], false);
        let t = &differ["tickets"];
        assert_eq!(
            [
                &t["opened"],
                &t["reopened"],
                &t["refreshed"],
                &t["resolved"],
                &t["withdrawn"]
            ],
            [1, 0, 0, 0, 0],
            "{backend:?}: only the lost ticket: {t:#}"
        );
        assert_eq!(t["examples"]["opened"], serde_json::json!([lost]));
        assert_eq!(
            t["recomputed_digest"],
            equal["tickets"]["recomputed_digest"]
        );
        assert_ne!(t["stored_digest"], t["recomputed_digest"]);
        let r = &differ["registry"];
        assert_eq!(
            [
                &r["persons_changed"],
                &r["persons_missing"],
                &r["persons_extra"]
            ],
            [1, 0, 0],
            "{backend:?}: only the edited person: {r:#}"
        );
        assert_eq!(r["unlinked_missing_or_changed"], 0);
        assert_eq!(r["unlinked_extra"], 0);
        assert_eq!(
            r["recomputed_digest"],
            equal["registry"]["recomputed_digest"]
        );
        assert_ne!(r["stored_digest"], r["recomputed_digest"]);
        assert_eq!(
            written(&db).await,
            before,
            "{backend:?}: nothing repaired either"
        );
        let (_, text) = popsync(&path, &["reconcile", "--full"]);
        assert!(text.contains("DIFFERENT") && text.contains(&lost), "{text}");
        assert!(
            !text.contains(&edited),
            "a person's key is never printed whole: {text}"
        );

        // `status` shows the last check.
        let (code, status) = popsync(&path, &["status", "--format", "json"]);
        assert_eq!(code, 0, "{status}");
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        let last = &status["last_full_check"];
        assert_eq!(last["equal"], false, "{status:#}");
        assert_eq!(last["ticket_differences"], 1);
        assert_eq!(last["registry_differences"], 1);

        // A plain run with the same inputs recomputes nothing, so it repairs nothing;
        // `--every-case` rebuilds and recomputes every case, and the store is equal.
        let as_of = city.as_of.to_string();
        let (code, out) = popsync(&path, &["reconcile", "--as-of", &as_of]);
        assert_eq!(code, 0, "{out}");
        assert_eq!(full_check(&path).0, 1, "{backend:?}: still different");
        let (code, out) = popsync(&path, &["reconcile", "--as-of", &as_of, "--every-case"]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("(every case)"), "{out}");
        let (code, repaired) = full_check(&path);
        assert_eq!(code, 0, "{backend:?}: repaired: {repaired:#}");
    }
}

/// Issue 16's day-after check, at a small city's scale: a store reconciled as of D,
/// then D+1, then D+30 (grace periods expire on the way) holds the open tickets and
/// the registry of a fresh store reconciled straight at that date. The later runs
/// recompute only the cases whose date has come; this is the check that they lose
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_moved_day_by_day_equals_a_fresh_store_reconciled_straight_at_that_day() {
    for backend in backends() {
        let city = City::start(31, 800, popsync::sim::Faults::none()).await;
        let walked = fresh_db(backend).await;
        let (_, walked_config) = city.config(&walked, |t| t);
        let walked_store = open_store(&walked).await;
        sync_whole(&walked_store, &walked_config).await;
        let d = city.as_of;
        let mut compared = Vec::new();
        for day in [
            d,
            d + chrono::Duration::days(1),
            d + chrono::Duration::days(30),
        ] {
            popsync::run::reconcile::run(&walked_store, &walked_config, day, "test")
                .await
                .unwrap();
            if day == d {
                continue;
            }
            // A fresh store of the same records, reconciled straight at `day`.
            let fresh = fresh_db(backend).await;
            let (_, fresh_config) = city.config(&fresh, |t| t);
            let fresh_store = open_store(&fresh).await;
            sync_whole(&fresh_store, &fresh_config).await;
            popsync::run::reconcile::run(&fresh_store, &fresh_config, day, "test")
                .await
                .unwrap();
            let state = |store: &popsync::store::Store, config: &popsync::config::Config| {
                let (store, config) = (store.clone(), config.clone());
                async move {
                    let c = popsync::run::full_check::full_check(&store, &config, None)
                        .await
                        .expect("checked");
                    assert!(c.equal, "{backend:?} {day}: {}", c.render_text());
                    (
                        c.tickets.stored_open,
                        c.tickets.stored_digest,
                        c.registry.stored_digest,
                    )
                }
            };
            let walked_state = state(&walked_store, &walked_config).await;
            let fresh_state = state(&fresh_store, &fresh_config).await;
            assert!(walked_state.0 > 0, "{backend:?} {day}: tickets to compare");
            assert_eq!(
                walked_state, fresh_state,
                "{backend:?} {day}: (open tickets, their digest, the registry's digest) \
                 of the store moved day by day and of a fresh one"
            );
            fresh_store.close().await;
            compared.push(day);
        }
        assert_eq!(compared.len(), 2, "{backend:?}: D+1 and D+30 compared");
        walked_store.close().await;
    }
}

/// The change log names what a write changes and nothing else: nothing before the
/// first run built the cases; afterwards, a pull that re-reads records it already
/// holds (civil affairs' overlapping days) logs none of them, and a record a
/// department changed is logged once and placed by the next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_logs_exactly_the_records_it_changes_for_the_next_run() {
    for backend in backends() {
        let city = City::start(29, 300, popsync::sim::Faults::none()).await;
        let db = fresh_db(backend).await;
        let (_, config) = city.config(&db, |t| t);
        let logged = || async {
            let pool = pool(&db).await;
            let rows: Vec<(i64, String)> =
                sqlx::query_as("SELECT tbl, record_key FROM unplaced ORDER BY seq")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            pool.close().await;
            rows
        };
        let store = open_store(&db).await;
        sync_whole(&store, &config).await;
        assert_eq!(
            logged().await,
            [],
            "{backend:?}: nothing before the cases exist"
        );
        let first = popsync::run::reconcile::run(&store, &config, city.as_of, "test")
            .await
            .unwrap();
        assert!(first.cases.every_case && first.cases.records_placed > 0);

        sync_whole(&store, &config).await;
        assert_eq!(
            logged().await,
            [],
            "{backend:?}: re-read records are not logged"
        );

        let person = city.server.state.pis_editable_ids()[0].clone();
        city.server
            .state
            .pis_update(&person, "xm", "改名字")
            .unwrap();
        sync_whole(&store, &config).await;
        assert_eq!(logged().await, [(5, person.clone())], "{backend:?}");
        let next = popsync::run::reconcile::run(&store, &config, city.as_of, "test")
            .await
            .unwrap();
        assert!(!next.cases.every_case, "{backend:?}");
        assert_eq!(next.cases.records_placed, 1, "{backend:?}");
        assert_eq!(logged().await, [], "{backend:?}: placed and forgotten");
        store.close().await;
    }
}

/// A run that stops part way leaves its work to the next run: the cases a placed
/// record joined stay due until a run has recomputed them, and cases built afresh but
/// not yet recomputed are built and recomputed again, even with unchanged inputs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_short_leaves_its_work_to_the_next() {
    for backend in backends() {
        let city = City::start(31, 300, popsync::sim::Faults::none()).await;
        let db = fresh_db(backend).await;
        let (path, config) = city.config(&db, |t| t);
        let store = open_store(&db).await;
        let run = || popsync::run::reconcile::run(&store, &config, city.as_of, "test");
        sync_whole(&store, &config).await;
        run().await.unwrap();

        // A department's edit is pulled; a run places it and stops there.
        let person = city.server.state.pis_editable_ids()[0].clone();
        city.server
            .state
            .pis_update(&person, "xm", "改名字")
            .unwrap();
        sync_whole(&store, &config).await;
        assert_eq!(store.place_records().await.unwrap().records, 1);
        let next = run().await.unwrap();
        assert_eq!(next.cases.records_placed, 0, "{backend:?}: placed before");
        assert!(
            next.cases.cases_recomputed >= 1,
            "{backend:?}: its case stayed due"
        );
        assert_eq!(full_check(&path).0, 0, "{backend:?}");

        // A run builds the cases afresh and stops there.
        store.build_cases().await.unwrap();
        let again = run().await.unwrap();
        assert!(
            again.cases.every_case,
            "{backend:?}: rebuilt and recomputed"
        );
        assert_eq!(again.unchanged_since, None);
        assert_eq!(full_check(&path).0, 0, "{backend:?}");
        store.close().await;
    }
}
