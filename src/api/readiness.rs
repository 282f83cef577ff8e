//! Readiness for the provincial inspection: each township's standing and its burn-down
//! (the page's countdown and chart), scoped like every list — a township sees itself,
//! an admin the whole city or the township named. Counts only, no one's data: not
//! audited, except a refused scope.

use axum::extract::State;
use axum::Json;

use super::auth::Scoped;
use super::schema::ErrorBody;
use super::tickets::ScopeQuery;
use super::{ApiError, ApiState};
use crate::domain::today_local;
use crate::tickets::readiness::{self, Readiness, ReadinessHistory};

/// `GET /api/v1/readiness`: each township's standing today, with the city row (the
/// townships ranked worst first) for an admin who names no township.
#[utoipa::path(get, path = "/api/v1/readiness", tag = "readiness", params(ScopeQuery),
    responses((status = 200, body = Readiness), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn readiness(
    Scoped { scope, .. }: Scoped,
    State(state): State<ApiState>,
) -> Result<Json<Readiness>, ApiError> {
    let today = today_local();
    let counted = state
        .store
        .readiness_counts(scope.as_deref(), today, state.inspection.fix_within_days)
        .await?;
    Ok(Json(readiness::readiness(
        counted,
        &state.city,
        &state.inspection,
        today,
        scope.as_deref(),
    )))
}

/// `GET /api/v1/readiness/history`: each township's open tickets per as-of date, and
/// the straight line to zero on the inspection date they are held to.
#[utoipa::path(get, path = "/api/v1/readiness/history", tag = "readiness", params(ScopeQuery),
    responses((status = 200, body = ReadinessHistory), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn history(
    Scoped { scope, .. }: Scoped,
    State(state): State<ApiState>,
) -> Result<Json<ReadinessHistory>, ApiError> {
    let points = state.store.open_history(scope.as_deref()).await?;
    Ok(Json(readiness::history(
        points,
        &state.city,
        &state.inspection,
        scope.as_deref(),
    )))
}
