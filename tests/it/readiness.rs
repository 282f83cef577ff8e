//! Readiness for the provincial inspection (issue 17), end to end: a simulated city
//! synced and reconciled once a day for a month while two townships fix their register
//! at known paces, then the burn-down, the pace verdicts, the API's scoping and the
//! command's JSON checked against the ticket export.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use popsync::api::{router, ApiState};
use popsync::config::{Config, FeedName};
use popsync::domain::{format_timestamp, now_local};
use popsync::run::pull::sync_feeds;
use popsync::shutdown::Shutdown;
use popsync::store::{Actor, NewToken, Store, TicketFilter};
use popsync::tickets::readiness::{readiness, Readiness};
use popsync::tickets::Status;
use reqwest::StatusCode;
use serde_json::Value;

use crate::api::popsync;
use crate::helpers::{backends, fast, fresh_db, open_store, City};

/// Register records broken per township at the start of the month.
const BROKEN: usize = 20;
/// Daily runs: day 0 to day 29.
const DAYS: i64 = 30;

/// A register record the test breaks and later fixes: its key and its right name.
struct Broken {
    person_id: String,
    name: String,
}

/// Up to `per_township` active, editable register records in each of the first two
/// townships that have that many, by township.
async fn pick(city: &City, store: &Store, per_township: usize) -> Vec<(String, Vec<Broken>)> {
    let mut by_township: BTreeMap<String, Vec<Broken>> = BTreeMap::new();
    for pid in city.server.state.pis_editable_ids() {
        let raw = store.raw_record("pis", &pid).await.unwrap();
        let Some(raw) = raw else { continue };
        let w: Value = serde_json::from_str(&raw).unwrap();
        let text = |k: &str| match &w[k] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if text("zt") != "1" || text("delFlag") != "0" || text("sfzh").is_empty() {
            continue;
        }
        let list = by_township
            .entry(text("cunCode")[..9].to_string())
            .or_default();
        if list.len() < per_township {
            list.push(Broken {
                person_id: pid,
                name: text("xm"),
            });
        }
    }
    let mut full: Vec<(String, Vec<Broken>)> = by_township
        .into_iter()
        .filter(|(_, l)| l.len() == per_township)
        .collect();
    full.truncate(2);
    assert_eq!(
        full.len(),
        2,
        "two townships with {per_township} records each"
    );
    full
}

async fn sync_pis(store: &Store, config: &Config) {
    for r in sync_feeds(store, config, &[FeedName::Pis], fast(), &Shutdown::never()).await {
        assert!(r.result.is_ok(), "{:?}", r.result);
    }
}

async fn sync_all(store: &Store, config: &Config) {
    for r in sync_feeds(store, config, &[], fast(), &Shutdown::never()).await {
        assert!(r.result.is_ok(), "{:?}", r.result);
    }
}

/// `n` open `IDENTITY_MISMATCH` tickets, as readiness counts them.
fn identity(n: u64) -> BTreeMap<String, u64> {
    (n > 0)
        .then(|| ("IDENTITY_MISMATCH".to_string(), n))
        .into_iter()
        .collect()
}

/// Readiness on `today` as the command and the API compute it.
async fn readiness_on(store: &Store, config: &Config, today: NaiveDate) -> Readiness {
    let counted = store
        .readiness_counts(None, today, config.inspection.fix_within_days)
        .await
        .unwrap();
    readiness(counted, &config.city, &config.inspection, today, None)
}

/// A month of daily runs: township A fixes one broken record a day, township B one
/// every other day. The inspection is 30 days after the first run, so the line falls
/// by 20/30 a day: A stays on it or below, B is above it from the first day on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_of_daily_runs_burns_down_and_tells_who_is_behind() {
    for backend in backends() {
        let opts = popsync::sim::WorldOptions {
            seed: 17,
            persons: 600,
            inject: false,
            ..Default::default()
        };
        let city = City::start_with(opts, popsync::sim::Faults::none()).await;
        let db = fresh_db(backend).await;
        let start = city.as_of;
        let inspection = start + Duration::days(DAYS);
        let (config_path, config) = city.config(&db, |t| {
            format!("{t}\n[inspection]\ndate = \"{inspection}\"\nsample_size = 50\n")
        });
        let store = open_store(&db).await;
        sync_all(&store, &config).await;
        let broken = pick(&city, &store, BROKEN).await;
        for (_, records) in &broken {
            for b in records {
                let wrong = format!("{}错", b.name);
                city.server
                    .state
                    .pis_update(&b.person_id, "xm", &wrong)
                    .unwrap();
            }
        }
        let (town_a, town_b) = (broken[0].0.clone(), broken[1].0.clone());
        let mut fixed = (0, 0);
        for day in 0..DAYS {
            let today = start + Duration::days(day);
            // A fixes one a day, B one every other day, from day 1 on.
            let want = ((day as usize).min(BROKEN), (day as usize / 2).min(BROKEN));
            for (i, (count, want)) in [(&mut fixed.0, want.0), (&mut fixed.1, want.1)]
                .into_iter()
                .enumerate()
            {
                while *count < want {
                    let b = &broken[i].1[*count];
                    city.server
                        .state
                        .pis_update(&b.person_id, "xm", &b.name)
                        .unwrap();
                    *count += 1;
                }
            }
            sync_pis(&store, &config).await;
            popsync::run::reconcile::run(&store, &config, today, "test")
                .await
                .unwrap();
            let open_a = (BROKEN - fixed.0) as u64;
            let open_b = (BROKEN - fixed.1) as u64;
            let r = readiness_on(&store, &config, today).await;
            let row = |t: &str| r.townships.iter().find(|x| x.township == t).unwrap();
            let (a, b) = (row(&town_a), row(&town_b));
            // The broken names are the two townships' only tickets. (Elsewhere, events
            // the clean city's register has not caught up with fall overdue late in
            // the month.)
            assert_eq!(
                (&a.figures.open_by_kind, &b.figures.open_by_kind),
                (&identity(open_a), &identity(open_b)),
                "{backend:?} day {day}"
            );
            assert_eq!(a.days_left, Some(DAYS - day));
            let (pa, pb) = (a.pace.as_ref().unwrap(), b.pace.as_ref().unwrap());
            assert!(pa.on_pace, "{backend:?} day {day}: A {open_a} vs {pa:?}");
            assert_eq!(
                pb.on_pace,
                day == 0,
                "{backend:?} day {day}: B {open_b} vs {pb:?}"
            );
            let behind = &r.city.as_ref().unwrap().behind;
            assert_eq!(behind.contains(&town_b), day > 0, "{backend:?} day {day}");
            assert!(!behind.contains(&town_a), "{backend:?} day {day}");
        }

        // The burn-down: one point a day, each the day's open count, by kind too.
        let history = store.open_history(None).await.unwrap();
        for (town, per_day) in [(&town_a, 1), (&town_b, 2)] {
            let points = &history[town];
            assert_eq!(points.len(), DAYS as usize, "{backend:?} {town}");
            for (day, p) in points.iter().enumerate() {
                let open = BROKEN.saturating_sub(day / per_day) as u64;
                assert_eq!(p.as_of, start + Duration::days(day as i64));
                assert_eq!(p.open, open, "{backend:?} {town} day {day}");
                assert_eq!(p.open_by_kind, identity(open));
            }
        }
        assert_eq!(history[&town_a].last().unwrap().open, 0, "A reached zero");
        // Every configured township has its points, at zero when it never had a ticket.
        for code in config.city.townships.keys() {
            assert_eq!(history[code].len(), DAYS as usize, "{code}");
        }

        // A run with the last run's inputs still gives the day its point: a hand
        // dismissal since then shows in it.
        let last = start + Duration::days(DAYS - 1);
        let b_ticket = store
            .list_tickets(&TicketFilter {
                township: Some(town_b.clone()),
                status: Some(Status::Open),
                ..Default::default()
            })
            .await
            .unwrap()
            .remove(0);
        let now = format_timestamp(now_local());
        let actor = Actor {
            name: "township",
            now: &now,
        };
        assert!(store
            .set_ticket_status_by_hand(
                &b_ticket.ticket_id,
                Some(&town_b),
                Status::Dismissed,
                &actor,
                "confirmed: spelled so on the hukou"
            )
            .await
            .unwrap());
        let again = popsync::run::reconcile::run(&store, &config, last, "test")
            .await
            .unwrap();
        assert!(again.unchanged_since.is_some(), "{backend:?}");
        let points = &store.open_history(Some(&town_b)).await.unwrap()[&town_b];
        assert_eq!(points.len(), DAYS as usize, "the day's point is replaced");
        assert_eq!(points.last().unwrap().open, (BROKEN - fixed.1 - 1) as u64);

        // Overdue: open longer than `fix_within_days` (14) days. The tickets were opened
        // today by the clock, whatever the runs' as-of dates.
        let today = popsync::domain::today_local();
        for (days, overdue) in [(14, 0), (15, BROKEN - fixed.1 - 1)] {
            let r = readiness_on(&store, &config, today + Duration::days(days)).await;
            let b = r.townships.iter().find(|t| t.township == town_b).unwrap();
            assert_eq!(
                b.figures.overdue, overdue as u64,
                "{backend:?} after {days} days"
            );
        }

        check_against_the_export(&config_path, last, &db.url).await;
        check_the_api(&store, &config, &town_a, &town_b, start, inspection).await;
        store.close().await;
    }
}

/// `popsync readiness --format json` against `popsync tickets export`: the same open
/// tickets per township, and `errors_per_1000` computed from them.
async fn check_against_the_export(config_path: &std::path::Path, today: NaiveDate, db_url: &str) {
    let json: Value = serde_json::from_str(&popsync(
        config_path,
        &[
            "readiness",
            "--format",
            "json",
            "--as-of",
            &today.to_string(),
        ],
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("open.jsonl");
    popsync(
        config_path,
        &["tickets", "export", "--output", file.to_str().unwrap()],
    );
    let mut exported: BTreeMap<String, u64> = BTreeMap::new();
    for line in std::fs::read_to_string(&file).unwrap().lines() {
        let t: Value = serde_json::from_str(line).unwrap();
        assert_eq!(t["status"], "open");
        *exported
            .entry(t["township"].as_str().unwrap().into())
            .or_default() += 1;
    }
    assert!(!exported.is_empty());
    let rows = json["townships"].as_array().unwrap();
    let mut shown: BTreeMap<String, u64> = BTreeMap::new();
    for row in rows {
        let open = row["open"].as_u64().unwrap();
        let records = row["records"].as_u64().unwrap();
        if open > 0 {
            shown.insert(row["township"].as_str().unwrap().into(), open);
        }
        assert!(records > 0, "{row}");
        let rate = row["errors_per_1000"].as_f64().unwrap();
        assert!(
            (rate - 1000.0 * open as f64 / records as f64).abs() < 1e-9,
            "{row}"
        );
        for key in [
            "sample_size",
            "p_sample_finds_error",
            "expected_points_lost",
            "days_left",
            "overdue",
        ] {
            assert!(row[key].is_number(), "{key} in {row}");
        }
    }
    assert_eq!(shown, exported, "readiness counts what the export lists");
    assert_eq!(
        json["city"]["open"].as_u64().unwrap(),
        exported.values().sum::<u64>()
    );
    // The records are the register's active records, counted apart.
    let active = scalar(
        db_url,
        "SELECT COUNT(*) FROM pis_rows WHERE state = 1 AND ever_deleted = 0",
    )
    .await;
    assert_eq!(json["city"]["records"].as_i64().unwrap(), active);
    // Text for people names the townships and the verdicts.
    let text = popsync(config_path, &["readiness", "--as-of", &today.to_string()]);
    assert!(
        text.contains("BEHIND") && text.contains("on pace"),
        "{text}"
    );
}

/// One integer a query returns, read apart from popsync's store.
async fn scalar(url: &str, sql: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::Row::get(&sqlx::query(sql).fetch_one(&mut conn).await.unwrap(), 0)
}

/// The API: a township sees itself, the admin everything; both endpoints in the
/// OpenAPI document.
async fn check_the_api(
    store: &Store,
    config: &Config,
    town_a: &str,
    town_b: &str,
    start: NaiveDate,
    inspection: NaiveDate,
) {
    let now = format_timestamp(now_local());
    for (id, token, township) in [
        ("tok_a", "token-a", Some(town_a)),
        ("tok_admin", "token-admin", None),
    ] {
        store
            .create_token(&NewToken {
                token_id: id,
                token,
                township,
                is_admin: township.is_none(),
                name: id,
                created_at: &now,
                expires_at: None,
            })
            .await
            .unwrap();
    }
    let app = router(ApiState {
        store: store.clone(),
        city: config.city.clone(),
        inspection: config.inspection.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let get = |token: &'static str, path: String| {
        let req = client.get(format!("{base}{path}")).bearer_auth(token);
        async move {
            let res = req.send().await.unwrap();
            (
                res.status(),
                res.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    for path in ["/api/v1/readiness", "/api/v1/readiness/history"] {
        let (status, own) = get("token-a", path.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{path}: {own}");
        let towns: Vec<&str> = own["townships"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["township"].as_str().unwrap())
            .collect();
        assert_eq!(towns, [town_a], "{path}: a township sees itself");
        assert!(own["city"].is_null(), "{path}: and not the city");
        let (status, _) = get("token-a", format!("{path}?township={town_b}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        let (status, _) = get("nobody", path.to_string()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        let (status, all) = get("token-admin", path.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(all["townships"].as_array().unwrap().len() >= 2, "{path}");
        let (_, one) = get("token-admin", format!("{path}?township={town_b}")).await;
        assert_eq!(one["townships"][0]["township"], town_b, "{path}");
    }
    let (_, all) = get("token-admin", "/api/v1/readiness".into()).await;
    let behind = all["city"]["behind"].as_array().unwrap();
    assert!(behind.contains(&Value::from(town_b)) && !behind.contains(&Value::from(town_a)));
    assert_eq!(all["inspection_date"], inspection.to_string());
    let (_, history) = get("token-a", "/api/v1/readiness/history".into()).await;
    let a = &history["townships"][0];
    assert_eq!(a["points"].as_array().unwrap().len(), DAYS as usize);
    assert_eq!(a["points"][0]["open"], BROKEN);
    assert_eq!(
        a["line"],
        serde_json::json!({"from": {"as_of": start.to_string(), "open": BROKEN},
                           "to": {"as_of": inspection.to_string(), "open": 0}})
    );
    let (_, doc) = get("token-a", "/api/v1/openapi.json".into()).await;
    for path in ["/api/v1/readiness", "/api/v1/readiness/history"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} is described");
    }
    server.abort();
}
