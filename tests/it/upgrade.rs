//! A store written by an earlier release migrates in place the first time this one opens
//! it, and keeps what townships have done: every ticket's ID and status, a dismissal
//! with the evidence it was given for, and each ticket's history. The earlier store is
//! built as that release left it: its migrations only (up to 0008, the last before the
//! burn-down and ticket owners), and rows as it wrote them.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;

use popsync::store::{Actor, RunRecord, TicketFilter};
use popsync::tickets::{self, Status};
use sqlx::migrate::Migrator;

use crate::helpers::{backends, fresh_db, open_store, Backend};

/// The last migration of the release before the burn-down and ticket owners.
const LAST_OF_PREVIOUS_RELEASE: i64 = 8;

/// The earlier release's schema: the migrations it shipped, applied as it applied them.
async fn previous_release_schema(backend: Backend, url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let (dir, url) = match backend {
        Backend::Sqlite => ("sqlite", format!("{url}?mode=rwc")),
        Backend::Postgres => ("postgres", url.to_string()),
    };
    let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
    let mut migrator = Migrator::new(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir),
    )
    .await
    .expect("the migrations read");
    let shipped: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= LAST_OF_PREVIOUS_RELEASE)
        .cloned()
        .collect();
    assert!(
        shipped
            .last()
            .is_some_and(|m| m.version == LAST_OF_PREVIOUS_RELEASE),
        "the earlier release's migrations are here"
    );
    assert!(
        migrator.migrations.len() > shipped.len(),
        "this release adds migrations, or there is nothing to upgrade"
    );
    migrator.migrations = Cow::Owned(shipped);
    migrator.run(&pool).await.expect("the earlier schema");
    pool
}

/// One ticket as the earlier release stored it.
struct OldTicket {
    id: &'static str,
    kind: &'static str,
    status: &'static str,
    subject_key: &'static str,
    dismissed_digest: Option<&'static str>,
}

const OLD: [OldTicket; 3] = [
    OldTicket {
        id: "T00000000000000a1",
        kind: "DEATH_NOT_RECORDED",
        status: "open",
        subject_key: "id:34990119500101001X",
        dismissed_digest: None,
    },
    OldTicket {
        id: "T00000000000000a2",
        kind: "PHANTOM_RECORD",
        status: "dismissed",
        subject_key: "pis:RK0000000002",
        dismissed_digest: Some("d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2"),
    },
    OldTicket {
        id: "T00000000000000a3",
        kind: "RESIDENT_MISSING",
        status: "resolved",
        subject_key: "id:349901198001010031",
        dismissed_digest: None,
    },
];

async fn write_as_previous_release(pool: &sqlx::AnyPool) {
    let at = "2024-05-01T02:30:00+08:00";
    for t in &OLD {
        let digest = t
            .dismissed_digest
            .unwrap_or("e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0");
        sqlx::query(
            "INSERT INTO tickets (ticket_id, kind, township, subject_key, subject, status, opened_at,
             updated_at, evidence, evidence_digest, summary_zh, suggestion, person_key, village,
             dismissed_digest) VALUES ($1, $2, '349901001', $3, '{}', $4, $5, $5,
             '[{\"detail\":\"d\",\"record\":\"r\",\"source\":\"pis\"}]', $6, '说明', NULL, NULL,
             '349901001001', $7)",
        )
        .bind(t.id)
        .bind(t.kind)
        .bind(t.subject_key)
        .bind(t.status)
        .bind(at)
        .bind(digest)
        .bind(t.dismissed_digest)
        .execute(pool)
        .await
        .expect("an earlier ticket");
        sqlx::query(
            "INSERT INTO ticket_events (ticket_id, at, from_status, to_status, actor, reason)
             VALUES ($1, $2, NULL, 'open', 'reconcile', 'found')",
        )
        .bind(t.id)
        .bind(at)
        .execute(pool)
        .await
        .expect("its first event");
        if t.status != "open" {
            sqlx::query(
                "INSERT INTO ticket_events (ticket_id, at, from_status, to_status, actor, reason)
                 VALUES ($1, $2, 'open', $3, 'township 349901001', 'lives abroad')",
            )
            .bind(t.id)
            .bind(at)
            .bind(t.status)
            .execute(pool)
            .await
            .expect("its change");
        }
    }
    sqlx::query(
        "INSERT INTO reconcile_runs (as_of, started_at, finished_at, summary)
         VALUES ('2024-05-01', $1, $1, '{}')",
    )
    .bind(at)
    .execute(pool)
    .await
    .expect("an earlier run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_the_previous_release_migrates_in_place_and_keeps_its_tickets() {
    for backend in backends() {
        let db = fresh_db(backend).await;
        let pool = previous_release_schema(backend, &db.url).await;
        write_as_previous_release(&pool).await;
        pool.close().await;

        // This release opens it: the newer migrations run, nothing is lost.
        let store = open_store(&db).await;
        let all = store
            .list_tickets(&TicketFilter::default())
            .await
            .expect("the tickets read back");
        assert_eq!(all.len(), OLD.len(), "{backend:?}");
        for old in &OLD {
            let t = all
                .iter()
                .find(|t| t.ticket_id == old.id)
                .unwrap_or_else(|| panic!("{backend:?}: {} kept", old.id));
            assert_eq!(t.kind.as_str(), old.kind, "{backend:?}");
            assert_eq!(t.status.as_str(), old.status, "{backend:?}");
            assert_eq!(t.owner, None, "{backend:?}: no owner yet");
            let history = store.ticket_events(old.id).await.expect("history");
            let want = if old.status == "open" { 1 } else { 2 };
            assert_eq!(history.len(), want, "{backend:?}: {} history kept", old.id);
        }
        let states = store.ticket_states().await.expect("states");
        let dismissed = states
            .iter()
            .find(|s| s.ticket_id == OLD[1].id)
            .expect("the dismissal");
        assert_eq!(
            dismissed.dismissed_digest.as_deref(),
            OLD[1].dismissed_digest
        );

        // And it works on: a run that finds nothing resolves the open ticket, keeps the
        // dismissal, and starts the burn-down.
        let changes = tickets::plan(&states, Vec::new(), &HashSet::new());
        let open = tickets::readiness::open_after(&states, &changes);
        let now = "2024-05-02T02:30:00+08:00";
        let actor = Actor {
            name: "test-run",
            now,
        };
        store
            .apply_ticket_changes(
                &changes,
                &[],
                &actor,
                Some(&RunRecord {
                    as_of: "2024-05-02",
                    started_at: now,
                    summary: &serde_json::json!({}),
                    open: &open,
                }),
            )
            .await
            .expect("a run on the upgraded store");
        let status = |id: &str| {
            let store = store.clone();
            let id = id.to_string();
            async move { store.ticket(&id, None).await.unwrap().unwrap().status }
        };
        assert_eq!(status(OLD[0].id).await, Status::Resolved, "{backend:?}");
        assert_eq!(status(OLD[1].id).await, Status::Dismissed, "{backend:?}");
        let points = store.open_history(None).await.expect("burn-down");
        assert_eq!(
            points.get("349901001").map(Vec::len),
            Some(1),
            "{backend:?}: the upgraded store's first burn-down point"
        );
        store.close().await;
    }
}
