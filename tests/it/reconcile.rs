//! Reconciliation end to end: a simulated city with every kind injected gives exactly
//! the expected tickets, and the lifecycle holds over several runs.

use std::collections::BTreeSet;

use popsync::run::pull::sync_feeds;
use popsync::shutdown::Shutdown;
use popsync::store::{Actor, Store, TicketFilter};
use popsync::tickets::Status;

use crate::helpers::{all_faults, backends, fast, fresh_db, open_store, City};

fn canon(kind: &str, township: &str, subject: &serde_json::Value) -> String {
    format!(
        "{kind}|{township}|{}",
        serde_json::to_string(subject).unwrap()
    )
}

/// A stored ticket in the form `canon` gives the simulator's expectations.
fn canon_ticket(t: &popsync::tickets::Ticket) -> String {
    let subject = serde_json::to_value(&t.subject).unwrap();
    canon(t.kind.as_str(), t.township.as_str(), &subject)
}

async fn open_tickets(store: &Store) -> Vec<popsync::tickets::Ticket> {
    store
        .list_tickets(&TicketFilter {
            status: Some(popsync::tickets::Status::Open),
            ..Default::default()
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_with_every_kind_injected_gives_exactly_the_expected_tickets() {
    for backend in backends() {
        let city = City::start(21, 1200, all_faults(0.05)).await;
        let db = fresh_db(backend).await;
        let (_, config) = city.config(&db, |t| t);
        let store = open_store(&db).await;
        for r in sync_feeds(&store, &config, &[], fast(), &Shutdown::never()).await {
            assert!(r.result.is_ok(), "{:?}", r.result);
        }
        let first = popsync::run::reconcile::run(&store, &config, city.as_of, "test")
            .await
            .unwrap();
        assert_eq!(first.unchanged_since, None, "a first run computes");
        // Every source record is linked to the person it denotes, or kept as denoting
        // nobody with the reason: none is missing, none is counted twice.
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
            .await
            .unwrap();
        let links_sql = match backend {
            crate::helpers::Backend::Sqlite => {
                "SELECT CAST(SUM(json_array_length(record, '$.links')) AS INTEGER) FROM persons"
            }
            crate::helpers::Backend::Postgres => {
                "SELECT SUM(json_array_length((record::json)->'links'))::BIGINT FROM persons"
            }
        };
        let linked = scalar(&mut conn, links_sql).await;
        let unlinked = scalar(&mut conn, "SELECT COUNT(*) FROM unlinked_records").await;
        let records = scalar(
            &mut conn,
            "SELECT (SELECT COUNT(*) FROM psb_rows) + 2 * (SELECT COUNT(*) FROM mca_marriages)
               + (SELECT COUNT(*) FROM mca_cremations) + (SELECT COUNT(*) FROM nhc_births)
               + (SELECT COUNT(*) FROM nhc_deaths) + (SELECT COUNT(*) FROM pis_rows)",
        )
        .await;
        assert!(
            unlinked > 0,
            "{backend:?}: the city has records that denote nobody"
        );
        assert_eq!(
            linked + unlinked,
            records,
            "{backend:?}: every record linked once, to a person or to none"
        );
        let got: BTreeSet<String> = open_tickets(&store)
            .await
            .iter()
            .map(canon_ticket)
            .collect();
        let want: BTreeSet<String> = city
            .expected
            .iter()
            .map(|e| {
                canon(
                    &e.kind,
                    &e.township,
                    &serde_json::Value::Object(e.subject.clone()),
                )
            })
            .collect();
        let kinds: BTreeSet<&str> = city.expected.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds.len(), 12, "the simulator injects every kind");
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{backend:?}\nmissing {missing:#?}\nextra {extra:#?}"
        );
        // Suggestions on INVALID_ID tickets.
        let tickets = open_tickets(&store).await;
        for e in city.expected.iter().filter(|e| e.suggestion.is_some()) {
            let t = tickets
                .iter()
                .find(|t| {
                    canon_ticket(t)
                        == canon(
                            &e.kind,
                            &e.township,
                            &serde_json::Value::Object(e.subject.clone()),
                        )
                })
                .unwrap();
            assert_eq!(
                t.suggestion
                    .as_ref()
                    .map(|s| serde_json::to_value(s).unwrap()),
                e.suggestion,
                "{backend:?} suggestion of {}",
                t.ticket_id
            );
        }
        // The stored summary is the run's whole account, its ticket changes timed too.
        let (run_id, _, _, stored) = store.recent_runs(1).await.unwrap().remove(0);
        assert_eq!(run_id, first.run_id);
        assert_eq!(stored["run_id"], first.run_id);
        for step in [
            "load",
            "reconcile",
            "registry",
            "rules",
            "settle",
            "tickets",
        ] {
            assert!(
                stored["steps_ms"][step].is_u64(),
                "{backend:?} step {step}: {stored}"
            );
        }
        // A second run with nothing changed raises nothing new and changes nothing.
        let again = popsync::run::reconcile::run(&store, &config, city.as_of, "test")
            .await
            .unwrap();
        assert_eq!(
            (
                again.total.opened,
                again.total.resolved,
                again.total.reopened,
                again.total.withdrawn
            ),
            (0, 0, 0, 0)
        );
        assert_eq!(again.total.still_open as usize, want.len());
        assert_eq!(
            again.registry.persons_written, 0,
            "an unchanged registry writes nothing"
        );
        assert_eq!(
            again.unchanged_since,
            Some(first.run_id),
            "the same inputs are not recomputed"
        );
        let by_kind_open: u64 = again.by_kind.values().map(|c| c.still_open).sum();
        assert_eq!(by_kind_open as usize, want.len());
        // Another as-of date is another question: computed again, same answer here.
        let later = popsync::run::reconcile::run(
            &store,
            &config,
            city.as_of + chrono::Duration::days(1),
            "test",
        )
        .await
        .unwrap();
        assert_eq!(later.unchanged_since, None, "a new as-of date recomputes");
        store.close().await;
    }
}

fn pis_record_of(t: &popsync::tickets::Ticket) -> String {
    t.evidence
        .iter()
        .find(|e| e.source == "pis")
        .unwrap()
        .record
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_resolve_withdraw_stay_dismissed_and_reopen_over_runs() {
    for backend in backends() {
        let city = City::start(22, 800, popsync::sim::Faults::none()).await;
        // As of today: the simulator stamps a voided certificate after everything it
        // already served, as a department would, which is past the world's as-of date.
        let as_of = popsync::domain::today_local();
        let db = fresh_db(backend).await;
        let (_, config) = city.config(&db, |t| t);
        let store = open_store(&db).await;
        let sync = || async {
            for r in sync_feeds(&store, &config, &[], fast(), &Shutdown::never()).await {
                assert!(r.result.is_ok(), "{:?}", r.result)
            }
        };
        sync().await;
        popsync::run::reconcile::run(&store, &config, as_of, "test")
            .await
            .unwrap();
        let first = open_tickets(&store).await;
        let find = |kind: &str| {
            first
                .iter()
                .find(|t| t.kind.as_str() == kind)
                .unwrap_or_else(|| panic!("a {kind} ticket"))
                .clone()
        };
        let death = find("DEATH_NOT_RECORDED");
        let unregistered = find("BIRTH_NOT_REGISTERED");
        let phantom = find("PHANTOM_RECORD");

        // The township fixes the register: the death is recorded.
        city.server
            .state
            .pis_update(&pis_record_of(&death), "zt", "3")
            .unwrap();
        // Health voids the certificate a ticket rested on.
        let cert = unregistered.subject.birth_cert_no.as_deref().unwrap();
        city.server.state.nhc_void(cert).unwrap();
        // The township dismisses a phantom: "confirmed: lives abroad".
        let now = popsync::domain::format_timestamp(popsync::domain::now_local());
        let actor = Actor {
            name: "township 349901001",
            now: &now,
        };
        assert!(store
            .set_ticket_status_by_hand(
                &phantom.ticket_id,
                Some(phantom.township.as_str()),
                Status::Dismissed,
                &actor,
                "confirmed: lives abroad"
            )
            .await
            .unwrap());

        sync().await;
        let run = popsync::run::reconcile::run(&store, &config, as_of, "test")
            .await
            .unwrap();
        assert_eq!(
            run.unchanged_since, None,
            "new source records are reconciled"
        );
        // The only new problem: the child's register record, tied to the birth by the
        // voided certificate's number, now denotes no birth and is a phantom.
        let opened: Vec<&String> = run
            .by_kind
            .iter()
            .filter(|(_, c)| c.opened > 0)
            .map(|(k, _)| k)
            .collect();
        assert!(
            opened.iter().all(|k| *k == "PHANTOM_RECORD"),
            "no second ticket for the same problem: {opened:?}"
        );
        let status = |id: String| {
            let store = store.clone();
            async move {
                store
                    .ticket(&id, None)
                    .await
                    .unwrap()
                    .unwrap()
                    .status
                    .to_string()
            }
        };
        assert_eq!(status(death.ticket_id.clone()).await, "resolved");
        assert_eq!(status(unregistered.ticket_id.clone()).await, "withdrawn");
        assert_eq!(status(phantom.ticket_id.clone()).await, "dismissed");

        // A run with nothing new keeps the dismissal.
        popsync::run::reconcile::run(&store, &config, as_of, "test")
            .await
            .unwrap();
        assert_eq!(status(phantom.ticket_id.clone()).await, "dismissed");

        // Its evidence changes: it is raised again, as the same ticket.
        city.server
            .state
            .pis_update(&pis_record_of(&phantom), "xm", "王改名")
            .unwrap();
        sync().await;
        let run = popsync::run::reconcile::run(&store, &config, as_of, "test")
            .await
            .unwrap();
        assert_eq!(
            run.unchanged_since, None,
            "new source records are reconciled"
        );
        assert_eq!(status(phantom.ticket_id.clone()).await, "open");
        assert_eq!(run.total.reopened, 1);
        assert_eq!(run.total.opened, 0);
        let history: Vec<String> = store
            .ticket_events(&phantom.ticket_id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.to_status)
            .collect();
        assert_eq!(history, ["open", "dismissed", "open"]);
        let history: Vec<String> = store
            .ticket_events(&death.ticket_id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.to_status)
            .collect();
        assert_eq!(history, ["open", "resolved"]);
        store.close().await;
    }
}

/// One integer a query returns.
async fn scalar(conn: &mut sqlx::AnyConnection, sql: &str) -> i64 {
    sqlx::Row::get(&sqlx::query(sql).fetch_one(conn).await.unwrap(), 0)
}
