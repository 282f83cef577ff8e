//! `/metrics` (Prometheus), `/healthz` (alive) and `/readyz` (store reachable, no
//! feed stuck). Gauges that describe the store are refreshed at scrape time, so a
//! feed that is down (`popsync_feed_up 0`, old last success) is told apart from a
//! feed with nothing new (`up 1`, fresh last success, old newest record).

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::DateTime;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::config::Config;
use crate::domain::now_local;
use crate::feeds::streams_of;
use crate::reconciliation::RunSummary;
use crate::store::Store;

/// What the health endpoints read.
#[derive(Clone)]
pub struct HealthState {
    pub store: Store,
    pub config: Arc<Config>,
    pub prometheus: PrometheusHandle,
}

/// Installs the process-wide metrics recorder once and returns its handle.
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

pub fn router(state: HealthState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { (StatusCode::OK, "ok\n") }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

fn seconds_since(ts: &Option<String>) -> Option<f64> {
    let t = DateTime::parse_from_rfc3339(ts.as_deref()?).ok()?;
    Some((now_local() - t).num_milliseconds() as f64 / 1000.0)
}

/// `newest_record_at` is RFC 3339 (nhc) or local `YYYY-MM-DD HH:MM:SS` (psb, pis).
fn seconds_since_record(ts: &Option<String>) -> Option<f64> {
    let s = ts.as_deref()?;
    if let Some(v) = seconds_since(&Some(s.to_string())) {
        return Some(v);
    }
    let local = crate::domain::parse_local_datetime(s)?;
    let cst = chrono::FixedOffset::east_opt(crate::domain::CST_OFFSET_SECS)?;
    let t = local.and_local_timezone(cst).single()?;
    Some((now_local() - t).num_milliseconds() as f64 / 1000.0)
}

async fn refresh_store_gauges(state: &HealthState) {
    if let Ok(counts) = state.store.record_counts().await {
        for (feed, records, quarantined) in counts {
            metrics::gauge!("popsync_records_stored", "feed" => feed).set(records as f64);
            metrics::gauge!("popsync_records_in_quarantine", "feed" => feed)
                .set(quarantined as f64);
        }
    }
    if let Ok(states) = state.store.feed_states().await {
        for feed in &state.config.feeds {
            let rows: Vec<_> = states
                .iter()
                .filter(|s| streams_of(feed.name).contains(&s.stream.as_str()))
                .collect();
            let name = feed.name.as_str();
            let since_success = rows
                .iter()
                .filter_map(|r| seconds_since(&r.last_success_at))
                .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
            if let Some(s) = since_success {
                metrics::gauge!("popsync_feed_seconds_since_success", "feed" => name).set(s);
            }
            let since_record = rows
                .iter()
                .filter_map(|r| seconds_since_record(&r.newest_record_at))
                .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b))));
            if let Some(s) = since_record {
                metrics::gauge!("popsync_feed_seconds_since_newest_record", "feed" => name).set(s);
            }
            let failing = rows.iter().any(|r| r.last_error.is_some());
            if !rows.is_empty() {
                metrics::gauge!("popsync_feed_up", "feed" => name).set(if failing {
                    0.0
                } else {
                    1.0
                });
            }
        }
    }
}

async fn metrics(State(state): State<HealthState>) -> impl IntoResponse {
    refresh_store_gauges(&state).await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.prometheus.render(),
    )
}

async fn readyz(State(state): State<HealthState>) -> impl IntoResponse {
    let mut problems = Vec::new();
    if !state.store.ping().await {
        problems.push("the store does not answer".to_string());
    }
    match state.store.feed_states().await {
        Ok(states) => {
            for feed in &state.config.feeds {
                for stream in streams_of(feed.name) {
                    let Some(row) = states.iter().find(|s| s.stream == *stream) else {
                        continue;
                    };
                    if let Some(err) = &row.last_error {
                        problems.push(format!("{stream}: last pull failed: {err}"));
                    } else if seconds_since(&row.last_success_at)
                        .is_some_and(|s| s > feed.stale_after_secs as f64)
                    {
                        problems.push(format!(
                            "{stream}: no successful pull for more than {} s",
                            feed.stale_after_secs
                        ));
                    }
                }
            }
        }
        Err(e) => problems.push(format!("cannot read feed states: {e}")),
    }
    if problems.is_empty() {
        (StatusCode::OK, Json(json!({"ready": true})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "problems": problems})),
        )
    }
}

/// Publishes open tickets per kind and township after a run.
pub async fn record_open_tickets(store: &Store, summary: &RunSummary) {
    for (kind, n) in &summary.open_by_kind {
        metrics::gauge!("popsync_tickets_open", "kind" => kind.clone()).set(*n as f64);
    }
    let filter = crate::store::TicketFilter {
        status: Some("open".into()),
        ..Default::default()
    };
    if let Ok(tickets) = store.list_tickets(&filter).await {
        let mut per: std::collections::BTreeMap<(String, String), u64> = Default::default();
        for t in tickets {
            *per.entry((t.kind, t.township)).or_default() += 1;
        }
        for ((kind, township), n) in per {
            metrics::gauge!("popsync_tickets_open_by_township", "kind" => kind, "township" => township).set(n as f64);
        }
    }
}
