//! `/metrics` (Prometheus), `/healthz` (alive), `/readyz` (store reachable, no feed
//! stuck) and `/daemon` (the daemon's view, read by `popsync status`).
//!
//! Gauges that describe the store are refreshed at scrape time, so they agree with
//! `popsync status` whatever this process did. A feed that is down is told apart from
//! a feed with nothing new: down is `popsync_feed_up 0` and a growing
//! `popsync_feed_seconds_since_success`; nothing new is `up 1`, a fresh last success
//! and a growing `popsync_feed_seconds_since_newest_record`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::DateTime;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use super::view::SharedView;
use crate::config::{Config, FeedConfig};
use crate::domain::now_local;
use crate::feeds::streams_of;
use crate::shutdown::Shutdown;
use crate::store::{FeedStatusRow, Store};

/// What the health endpoints read.
#[derive(Clone)]
pub struct HealthState {
    pub store: Store,
    pub config: Arc<Config>,
    pub prometheus: PrometheusHandle,
    pub view: SharedView,
}

impl HealthState {
    pub fn new(
        store: Store,
        config: Arc<Config>,
        prometheus: PrometheusHandle,
        view: SharedView,
    ) -> HealthState {
        HealthState {
            store,
            config,
            prometheus,
            view,
        }
    }
}

/// Installs the process-wide metrics recorder once and returns its handle. The
/// recorder is global: a second daemon in the same process (tests) shares it.
pub fn install_metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// Help texts, and every per-feed counter registered at 0 so that a feed that never
/// brought anything shows `0` rather than nothing.
pub fn describe_metrics(config: &Config) {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "popsync_records_ingested_total",
        "Records stored for the first time (pis: a newer version), per feed, since start"
    );
    describe_counter!(
        "popsync_records_quarantined_total",
        "Malformed records kept aside for the first time, per feed, since start"
    );
    describe_counter!(
        "popsync_feed_retries_total",
        "Feed requests retried after a transient fault"
    );
    describe_counter!(
        "popsync_feed_polls_total",
        "Feed polls by outcome (ok, failed, interrupted)"
    );
    describe_counter!("popsync_feed_failures_total", "Feed polls that failed");
    describe_gauge!(
        "popsync_feed_up",
        "1 when the feed's last poll succeeded, 0 when it failed"
    );
    describe_gauge!(
        "popsync_records_stored",
        "Distinct records in the store, per feed"
    );
    describe_gauge!(
        "popsync_records_in_quarantine",
        "Malformed records in the quarantine, per feed"
    );
    describe_gauge!(
        "popsync_feed_seconds_since_success",
        Unit::Seconds,
        "Seconds since every stream of the feed last pulled successfully"
    );
    describe_gauge!(
        "popsync_feed_seconds_since_newest_record",
        Unit::Seconds,
        "Seconds since the newest record the feed delivered was written by the department"
    );
    describe_gauge!(
        "popsync_feed_next_run_timestamp_seconds",
        Unit::Seconds,
        "When the feed is pulled next (Unix time)"
    );
    describe_gauge!(
        "popsync_feed_consecutive_failures",
        "Polls in a row that failed"
    );
    describe_gauge!(
        "popsync_feed_last_success_timestamp_seconds",
        Unit::Seconds,
        "When this process last pulled the feed successfully (Unix time)"
    );
    describe_gauge!(
        "popsync_reconcile_next_run_timestamp_seconds",
        Unit::Seconds,
        "When the next scheduled reconciliation starts (Unix time)"
    );
    for (what, help) in [
        (
            "served",
            "Distinct records the feed served in the last verify",
        ),
        (
            "stored",
            "Records stored or quarantined when the last verify of the feed ended",
        ),
        (
            "missing",
            "Records the feed served that the store lacked, in the last verify",
        ),
        (
            "changed",
            "Records stored with other content than served, in the last verify",
        ),
        (
            "extra",
            "Stored records the feed no longer serves, in the last verify",
        ),
        (
            "repaired",
            "Missing and changed records the last verify stored",
        ),
    ] {
        describe_gauge!(format!("popsync_verify_{what}"), help);
    }
    describe_gauge!(
        "popsync_verify_last_run_timestamp_seconds",
        Unit::Seconds,
        "When the feed's last verify ended (Unix time)"
    );
    describe_gauge!(
        "popsync_verify_next_run_timestamp_seconds",
        Unit::Seconds,
        "When the next scheduled verify starts (Unix time)"
    );
    describe_gauge!(
        "popsync_reconcile_full_equal",
        "1 when the last full check found the stored tickets and registry equal to a recompute, 0 when they differ"
    );
    describe_gauge!(
        "popsync_reconcile_full_differences",
        "Ticket changes and golden records by which the last full check found the store differing from a recompute"
    );
    describe_gauge!(
        "popsync_reconcile_full_last_run_timestamp_seconds",
        Unit::Seconds,
        "When the last full check ended (Unix time)"
    );
    describe_gauge!(
        "popsync_reconcile_full_next_run_timestamp_seconds",
        Unit::Seconds,
        "When the next scheduled full check starts (Unix time)"
    );
    describe_gauge!("popsync_tickets_open", "Open tickets per kind");
    describe_gauge!(
        "popsync_tickets_open_by_township",
        "Open tickets per kind and township"
    );
    describe_gauge!("popsync_ready", "1 when /readyz answers 200");
    describe_histogram!(
        "popsync_feed_pull_seconds",
        Unit::Seconds,
        "Duration of one feed poll"
    );
    describe_histogram!(
        "popsync_reconcile_seconds",
        Unit::Seconds,
        "Duration of one reconciliation run"
    );
    for feed in &config.feeds {
        let name = feed.name.as_str();
        metrics::counter!("popsync_records_ingested_total", "feed" => name).increment(0);
        metrics::counter!("popsync_records_quarantined_total", "feed" => name).increment(0);
        metrics::counter!("popsync_feed_retries_total", "feed" => name).increment(0);
        metrics::counter!("popsync_feed_failures_total", "feed" => name).increment(0);
    }
}

/// Drains the histograms' buckets now and then so memory stays flat when nobody scrapes.
pub async fn upkeep(mut shutdown: Shutdown) -> &'static str {
    let handle = install_metrics();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => handle.run_upkeep(),
            _ = shutdown.recv() => break,
        }
    }
    "metrics upkeep"
}

pub fn admin_router(state: HealthState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/daemon", get(daemon_view))
        .with_state(state)
}

/// What the townships' listener serves besides the API and the page: liveness only.
pub fn public_router() -> Router {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok\n")
}

fn seconds_since(ts: Option<&str>) -> Option<f64> {
    let t = DateTime::parse_from_rfc3339(ts?).ok()?;
    Some((now_local() - t).num_milliseconds() as f64 / 1000.0)
}

/// `newest_record_at` is RFC 3339 (nhc) or local `YYYY-MM-DD HH:MM:SS` (psb, pis) or
/// a date (mca).
fn seconds_since_record(ts: Option<&str>) -> Option<f64> {
    let s = ts?;
    if let Some(v) = seconds_since(Some(s)) {
        return Some(v);
    }
    let local = crate::domain::parse_local_datetime(s)
        .or_else(|| crate::domain::parse_dashed_date(s).and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    let cst = chrono::FixedOffset::east_opt(crate::domain::CST_OFFSET_SECS)?;
    let t = local.and_local_timezone(cst).single()?;
    Some((now_local() - t).num_milliseconds() as f64 / 1000.0)
}

/// The feed's rows of `feed_state`.
fn rows_of<'a>(states: &'a [FeedStatusRow], feed: &FeedConfig) -> Vec<&'a FeedStatusRow> {
    states
        .iter()
        .filter(|s| streams_of(feed.name).contains(&s.stream.as_str()))
        .collect()
}

/// Seconds since every stream of the feed succeeded (the oldest stream's success);
/// `None` when some stream never succeeded.
pub fn seconds_since_success(rows: &[&FeedStatusRow], feed: &FeedConfig) -> Option<f64> {
    if rows.len() < streams_of(feed.name).len() {
        return None;
    }
    rows.iter()
        .map(|r| seconds_since(r.last_success_at.as_deref()))
        .try_fold(0.0f64, |acc, s| s.map(|s| acc.max(s)))
}

/// Seconds since the newest record of any of the feed's streams.
pub fn seconds_since_newest_record(rows: &[&FeedStatusRow]) -> Option<f64> {
    rows.iter()
        .filter_map(|r| seconds_since_record(r.newest_record_at.as_deref()))
        .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b))))
}

async fn refresh_store_gauges(state: &HealthState) {
    if let Ok(counts) = state.store.record_counts().await {
        for (feed, records, quarantined) in counts {
            if state
                .config
                .feed(crate::config::FeedName::parse(feed).expect("known feed"))
                .is_none()
            {
                continue;
            }
            metrics::gauge!("popsync_records_stored", "feed" => feed).set(records as f64);
            metrics::gauge!("popsync_records_in_quarantine", "feed" => feed)
                .set(quarantined as f64);
        }
    }
    let view = state.view.snapshot();
    if let Ok(states) = state.store.feed_states().await {
        for feed in &state.config.feeds {
            let rows = rows_of(&states, feed);
            let name = feed.name.as_str();
            if let Some(s) = seconds_since_success(&rows, feed) {
                metrics::gauge!("popsync_feed_seconds_since_success", "feed" => name).set(s);
            }
            if let Some(s) = seconds_since_newest_record(&rows) {
                metrics::gauge!("popsync_feed_seconds_since_newest_record", "feed" => name).set(s);
            }
            if !rows.is_empty() {
                let failing = rows.iter().any(|r| r.last_error.is_some());
                metrics::gauge!("popsync_feed_up", "feed" => name).set(if failing {
                    0.0
                } else {
                    1.0
                });
            }
            if let Some(v) = view.feeds.get(name) {
                metrics::gauge!("popsync_feed_consecutive_failures", "feed" => name)
                    .set(v.consecutive_failures as f64);
            }
        }
    }
    refresh_ticket_gauges(&state.store).await;
}

/// Publishes open tickets per kind and per kind and township from the store. A pair
/// published before and now without open tickets is set to 0, not left at its old
/// value.
pub async fn refresh_ticket_gauges(store: &Store) {
    static PUBLISHED: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());
    let Ok(counts) = store.open_ticket_counts().await else {
        return;
    };
    let mut published = PUBLISHED.lock().unwrap_or_else(|e| e.into_inner());
    let now: BTreeSet<(String, String)> = counts
        .iter()
        .map(|(k, t, _)| (k.clone(), t.clone()))
        .collect();
    let mut per_kind: std::collections::BTreeMap<String, i64> = Default::default();
    for (kind, township) in published.difference(&now) {
        metrics::gauge!("popsync_tickets_open_by_township", "kind" => kind.clone(), "township" => township.clone()).set(0.0);
        per_kind.entry(kind.clone()).or_default();
    }
    for (kind, township, n) in counts {
        *per_kind.entry(kind.clone()).or_default() += n;
        metrics::gauge!("popsync_tickets_open_by_township", "kind" => kind, "township" => township)
            .set(n as f64);
    }
    for (kind, n) in per_kind {
        metrics::gauge!("popsync_tickets_open", "kind" => kind).set(n as f64);
    }
    published.extend(now);
}

async fn metrics(State(state): State<HealthState>) -> impl IntoResponse {
    refresh_store_gauges(&state).await;
    let (code, _) = readiness(&state).await;
    metrics::gauge!("popsync_ready").set(if code == StatusCode::OK { 1.0 } else { 0.0 });
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.prometheus.render(),
    )
}

/// Ready: the store answers, no feed's last poll failed in a way only an operator can
/// fix, and no feed has gone without success past its `stale_after_secs` (a feed that
/// never succeeded counts from the daemon's start). A feed whose last poll failed on a
/// transient fault is listed under `warnings` but does not make the daemon unready
/// until it goes stale.
async fn readiness(state: &HealthState) -> (StatusCode, serde_json::Value) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    if !state.store.ping().await {
        problems.push("the store does not answer".to_string());
    }
    let view = state.view.snapshot();
    let since_start = seconds_since(Some(&view.started_at)).unwrap_or(0.0);
    match state.store.feed_states().await {
        Ok(states) => {
            for feed in &state.config.feeds {
                let name = feed.name.as_str();
                let rows = rows_of(&states, feed);
                if let Some(v) = view.feeds.get(name) {
                    if v.last_outcome.as_deref() == Some("failed") {
                        let err = v.last_error.clone().unwrap_or_default();
                        if v.needs_operator {
                            problems.push(format!("{name}: last poll failed: {err}"));
                        } else {
                            warnings.push(format!(
                                "{name}: last poll failed, retried at the next run: {err}"
                            ));
                        }
                    }
                }
                let silent = seconds_since_success(&rows, feed).unwrap_or(since_start);
                if silent > feed.stale_after_secs as f64 {
                    problems.push(format!(
                        "{name}: no successful poll for {silent:.0} s (stale_after_secs = {})",
                        feed.stale_after_secs
                    ));
                }
            }
        }
        Err(e) => problems.push(format!(
            "cannot read feed states: {}",
            crate::domain::masked_causes(&e)
        )),
    }
    if problems.is_empty() {
        (StatusCode::OK, json!({"ready": true, "warnings": warnings}))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"ready": false, "problems": problems, "warnings": warnings}),
        )
    }
}

async fn readyz(State(state): State<HealthState>) -> impl IntoResponse {
    let (code, body) = readiness(&state).await;
    (code, Json(body))
}

async fn daemon_view(State(state): State<HealthState>) -> impl IntoResponse {
    Json(state.view.snapshot())
}
