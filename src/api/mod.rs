//! The township API and page: each township reads and works its own discrepancy list
//! over HTTP, and every read of a person's data and every ticket change is audited.
//!
//! Invariants:
//! - Every `/api/v1` handler takes a [`auth::Caller`]; a request without a live bearer
//!   token never reaches the store.
//! - A township's caller is scoped **in the query itself**: handlers pass the caller's
//!   township to the store, never filter rows after reading them. Another township's
//!   ticket or person answers 404, exactly like one that does not exist.
//! - Lists mask ID numbers; only one ticket's detail and one person's record show them,
//!   and both are written to the audit trail before they are answered.
//! - This module binds no listener: the daemon merges [`router`] into its own, next to
//!   `/metrics` and the health probes.
//!
//! See `docs/api.md` for the HTTP contract.

pub mod auth;
mod error;
mod mask;
mod openapi;
mod persons;
mod readiness;
mod schema;
mod tickets;
mod web;

pub use error::ApiError;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use crate::config::{CityConfig, InspectionConfig};
use crate::store::Store;

/// What every handler needs: the store, the city (for township names and exports)
/// and the inspection readiness counts down to.
#[derive(Clone, Debug)]
pub struct ApiState {
    pub store: Store,
    pub city: CityConfig,
    pub inspection: InspectionConfig,
}

/// The API under `/api/v1` and the township page at `/`, ready to be merged into the
/// daemon's router (it has no fallback of its own, so merging never conflicts).
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/api/v1/me", get(tickets::me))
        .route("/api/v1/tickets", get(tickets::list))
        .route("/api/v1/tickets.xlsx", get(tickets::export_xlsx))
        .route("/api/v1/tickets.csv", get(tickets::export_csv))
        .route("/api/v1/tickets/{id}", get(tickets::detail))
        .route("/api/v1/tickets/{id}/dismiss", post(tickets::dismiss))
        .route("/api/v1/tickets/{id}/reopen", post(tickets::reopen))
        .route("/api/v1/tickets/{id}/assign", post(tickets::assign))
        .route("/api/v1/counts", get(tickets::counts))
        .route("/api/v1/runs", get(tickets::runs))
        .route("/api/v1/readiness", get(readiness::readiness))
        .route("/api/v1/readiness/history", get(readiness::history))
        .route("/api/v1/persons/{key}", get(persons::person))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1", get(error::unknown_path))
        .route(
            "/api/v1/{*rest}",
            get(error::unknown_path).post(error::unknown_path),
        )
        .layer(axum::middleware::map_response(no_store));
    api.merge(web::routes()).with_state(state)
}

/// API answers hold personal data: no cache may keep them, and no browser may guess
/// their type. A rejection axum makes by itself (a method the path does not take, a path
/// that is not UTF-8, a body too large) gets the same JSON error shape as ours.
async fn no_store(res: axum::response::Response) -> axum::response::Response {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let mut res = if res.status().is_client_error() && !is_json {
        let (code, message) = match res.status() {
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "此接口不支持该请求方法"),
            StatusCode::NOT_FOUND => ("not_found", "没有这个接口"),
            StatusCode::PAYLOAD_TOO_LARGE => ("bad_request", "请求体太大"),
            _ => ("bad_request", "请求有误"),
        };
        let body = schema::ErrorBody::new(code, message);
        let mut replaced = (res.status(), axum::Json(body)).into_response();
        if let Some(allow) = res.headers().get(header::ALLOW) {
            replaced.headers_mut().insert(header::ALLOW, allow.clone());
        }
        replaced
    } else {
        res
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}
