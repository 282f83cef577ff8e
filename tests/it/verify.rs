//! `popsync verify`: rows no cursor can see (committed late with old times, edited in
//! place, lost from the store) are found by reading each feed whole, reported exactly,
//! and stored by `--repair`, which never deletes and survives being killed.

use popsync::config::{Config, FeedName};
use popsync::run::pull::sync_feeds;
use popsync::run::verify::{verify_feeds, VerifyOptions, VerifyReport};
use popsync::shutdown::Shutdown;
use popsync::store::{Store, VerifyCounts};

use crate::helpers::{backends, fast, fresh_db, open_store, City};

fn options(repair: bool) -> VerifyOptions {
    VerifyOptions {
        repair,
        sync: fast(),
    }
}

async fn verify(store: &Store, config: &Config, repair: bool) -> VerifyReport {
    verify_feeds(store, config, &[], &options(repair), &Shutdown::never()).await
}

fn counts(report: &VerifyReport, feed: FeedName) -> VerifyCounts {
    let f = report
        .feeds
        .iter()
        .find(|f| f.feed == feed)
        .expect("verified");
    *f.result.as_ref().expect("read whole")
}

async fn sync_all(store: &Store, config: &Config) {
    for r in sync_feeds(store, config, &[], fast(), &Shutdown::never()).await {
        assert!(r.result.is_ok(), "{}: {:?}", r.feed, r.result);
    }
}

async fn stored_pis(store: &Store, ids: &[String]) -> usize {
    store.stored_records("pis", ids).await.unwrap().len()
}

/// Removes one stored row of `table` behind popsync's back, as a restored backup or a
/// hand edit would; returns its key.
async fn lose_one_row(url: &str, table: &str, key: &str) -> String {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let (k,): (String,) =
        sqlx::query_as(&format!("SELECT {key} FROM {table} ORDER BY {key} LIMIT 1"))
            .fetch_one(&pool)
            .await
            .unwrap();
    sqlx::query(&format!("DELETE FROM {table} WHERE {key} = $1"))
        .bind(k.clone())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_exactly_the_rows_a_sync_cannot_see_and_repair_stores_them() {
    for backend in backends() {
        let city = City::start(41, 300, popsync::sim::Faults::none()).await;
        let sim = &city.server.state;
        assert_eq!(sim.pis_hide_spread(7), 7);
        let hidden = sim.pis_hidden();
        let db = fresh_db(backend).await;
        let (_, config) = city.config(&db, |t| t);
        let store = open_store(&db).await;
        sync_all(&store, &config).await;
        // The transaction commits: the rows appear with their old modifiedTime, behind
        // the stored cursor, and a sync walks past them.
        sim.pis_reveal();
        sync_all(&store, &config).await;
        assert_eq!(
            stored_pis(&store, &hidden).await,
            0,
            "{backend:?}: the sync missed them"
        );

        // A vendor's fix in place, and rows lost from the store itself.
        let edited_id = sim
            .pis_editable_ids()
            .into_iter()
            .find(|id| !hidden.contains(id))
            .unwrap();
        sim.pis_edit_in_place(&edited_id, "xm", "改正名").unwrap();
        lose_one_row(&db.url, "psb_rows", "lsh").await;
        lose_one_row(&db.url, "mca_marriages", "reg_no").await;
        lose_one_row(&db.url, "nhc_births", "cert_no").await;

        let report = verify(&store, &config, false).await;
        assert_eq!(report.exit_code(), 1, "{backend:?}: {:?}", report.to_json());
        let pis = counts(&report, FeedName::Pis);
        assert_eq!(
            (pis.missing, pis.changed, pis.extra, pis.repaired),
            (7, 1, 0, 0),
            "{backend:?}"
        );
        assert_eq!(pis.served, city.world_served.pis.records, "{backend:?}");
        assert_eq!(pis.stored + pis.missing, pis.served, "{backend:?}");
        for feed in [FeedName::Psb, FeedName::Mca] {
            let c = counts(&report, feed);
            assert_eq!(
                (c.missing, c.changed, c.extra),
                (1, 0, 0),
                "{backend:?} {feed}"
            );
        }
        let nhc = counts(&report, FeedName::Nhc);
        assert!(
            nhc.missing >= 1 && nhc.changed == 0,
            "{backend:?}: every version of the certificate: {nhc:?}"
        );
        assert_eq!(
            stored_pis(&store, &hidden).await,
            0,
            "{backend:?}: a verify alone stores nothing"
        );

        let repaired = verify(&store, &config, true).await;
        let pis = counts(&repaired, FeedName::Pis);
        assert_eq!(
            (pis.missing, pis.changed, pis.repaired),
            (7, 1, 8),
            "{backend:?}"
        );
        assert_eq!(
            stored_pis(&store, &hidden).await,
            7,
            "{backend:?}: the hidden rows are stored"
        );
        let fixed = store
            .stored_records("pis", std::slice::from_ref(&edited_id))
            .await
            .unwrap();
        assert!(
            fixed[&edited_id].raw.contains("改正名"),
            "{backend:?}: the fix in place is stored"
        );

        let again = verify(&store, &config, false).await;
        assert!(again.matches(), "{backend:?}: {:?}", again.to_json());
        assert_eq!(again.exit_code(), 0);
        for (feed, records, quarantined) in store.record_counts().await.unwrap() {
            let c = match feed {
                "psb" => city.world_served.psb,
                "mca" => city.world_served.mca,
                "nhc" => city.world_served.nhc,
                _ => city.world_served.pis,
            };
            assert_eq!(
                records + quarantined,
                c.records as i64,
                "{backend:?} {feed}: stored = served"
            );
        }
        let last = store.last_verifies().await.unwrap();
        assert_eq!(
            last.len(),
            4,
            "{backend:?}: every feed's last verify is kept"
        );
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_no_longer_served_are_counted_never_deleted() {
    let city = City::start(42, 200, popsync::sim::Faults::none()).await;
    let db = fresh_db(crate::helpers::Backend::Sqlite).await;
    let (_, config) = city.config(&db, |t| t);
    let store = open_store(&db).await;
    sync_all(&store, &config).await;
    city.server.state.pis_hide_spread(3);
    let report = verify(&store, &config, true).await;
    let pis = counts(&report, FeedName::Pis);
    assert_eq!(
        (pis.missing, pis.changed, pis.extra, pis.repaired),
        (0, 0, 3, 0)
    );
    assert_eq!(report.exit_code(), 1);
    let (_, records, quarantined) = store.record_counts().await.unwrap()[3];
    assert_eq!(
        records + quarantined,
        city.world_served.pis.records as i64,
        "nothing deleted"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_repair_keeps_what_it_committed_and_a_second_run_finishes() {
    let city = City::start(43, 400, popsync::sim::Faults::none()).await;
    let sim = &city.server.state;
    sim.pis_hide_spread(60);
    let hidden = sim.pis_hidden();
    let db = fresh_db(crate::helpers::Backend::Sqlite).await;
    let (_, config) = city.config(&db, |t| {
        t.replace("[feeds.pis]\n", "[feeds.pis]\npage_size = 10\n")
    });
    let store = open_store(&db).await;
    sync_all(&store, &config).await;
    sim.pis_reveal();
    // Killed at an await point once the first repairs are committed: whatever it was
    // writing then is rolled back, what it committed stays.
    let only = [FeedName::Pis];
    let opts = options(true);
    let never = Shutdown::never();
    let run = verify_feeds(&store, &config, &only, &opts, &never);
    let watch = async {
        loop {
            if stored_pis(&store, &hidden).await > 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    };
    tokio::select! {
        _ = run => panic!("the verify ended before it could be killed"),
        _ = watch => {}
    }
    // What a restart finds: the store closed (whatever was in flight settled) and
    // opened again.
    store.close().await;
    let store = open_store(&db).await;
    let kept = stored_pis(&store, &hidden).await;
    assert!(
        kept > 0 && kept < hidden.len(),
        "killed part-way: {kept} of {}",
        hidden.len()
    );
    let second = verify_feeds(&store, &config, &only, &opts, &Shutdown::never()).await;
    let pis = counts(&second, FeedName::Pis);
    assert_eq!(
        pis.repaired as usize,
        hidden.len() - kept,
        "the rest, no more"
    );
    assert_eq!(stored_pis(&store, &hidden).await, hidden.len());
    assert!(verify(&store, &config, false).await.matches());
    store.close().await;
}

/// A verify reads a page, a sync stores a newer version of one of its records, then the
/// verify repairs with what it read: the newer version stays. An in-place fix is still
/// repaired, and a record once deleted keeps that memory through a repair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_never_sets_a_record_back_and_keeps_what_the_sync_remembers() {
    for backend in backends() {
        let city = City::start(44, 200, popsync::sim::Faults::none()).await;
        let sim = &city.server.state;
        let db = fresh_db(backend).await;
        let (_, config) = city.config(&db, |t| t);
        let store = open_store(&db).await;
        sync_all(&store, &config).await;
        let ids = sim.pis_editable_ids();
        let (id, gone) = (ids[0].clone(), ids[1].clone());
        let old = store
            .stored_records("pis", std::slice::from_ref(&id))
            .await
            .unwrap()[&id]
            .raw
            .clone();
        sim.pis_update(&id, "xm", "新名字").unwrap();
        sync_all(&store, &config).await;
        // What a verify that read the page before that sync would repair with.
        let feed = config.feed(FeedName::Pis).unwrap();
        let pager =
            popsync::feeds::pagers(feed, chrono::NaiveDate::from_ymd_opt(2014, 9, 1).unwrap())
                .remove(0);
        let body = format!(r#"{{"total":1,"pageNo":1,"list":[{old}]}}"#);
        let stale = pager.decode(body.as_bytes(), None).unwrap();
        store
            .repair(&stale, std::slice::from_ref(&id))
            .await
            .unwrap();
        let now = store
            .stored_records("pis", std::slice::from_ref(&id))
            .await
            .unwrap();
        assert!(
            now[&id].raw.contains("新名字"),
            "{backend:?}: the newer version stays: {}",
            now[&id].raw
        );

        // Deleted, then restored: the store remembers the deletion (`ever_deleted`).
        sim.pis_delete(&gone).unwrap();
        sync_all(&store, &config).await;
        sim.pis_update(&gone, "delFlag", "0").unwrap();
        sync_all(&store, &config).await;
        sim.pis_edit_in_place(&gone, "xm", "改正名").unwrap();
        sim.pis_edit_in_place(&id, "xm", "再改名").unwrap();
        let repaired = verify(&store, &config, true).await;
        assert_eq!(counts(&repaired, FeedName::Pis).repaired, 2, "{backend:?}");
        let now = store
            .stored_records("pis", &[id.clone(), gone.clone()])
            .await
            .unwrap();
        assert!(
            now[&id].raw.contains("再改名") && now[&gone].raw.contains("改正名"),
            "{backend:?}"
        );
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        let (ever,): (i64,) =
            sqlx::query_as("SELECT ever_deleted FROM pis_rows WHERE person_id = $1")
                .bind(gone.clone())
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        assert_eq!(
            ever, 1,
            "{backend:?}: a delFlag 1 once seen is kept through a repair"
        );
        store.close().await;
    }
}
