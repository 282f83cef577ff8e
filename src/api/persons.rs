//! `GET /api/v1/persons/{key}`: one golden record and the source records linked to it.
//! Every call is audited, found or not, with the key masked.

use axum::extract::{Path, State};
use axum::Json;

use super::auth::Scoped;
use super::schema::{ErrorBody, PersonWithLinks};
use super::tickets::ScopeQuery;
use super::{ApiError, ApiState};
use crate::domain::{masked_person_key, person_key};
use crate::store::{AuditAction, AuditResult};

/// `GET /api/v1/persons/{key}`: the golden record with its links, whole IDs (audited).
#[utoipa::path(get, path = "/api/v1/persons/{key}", tag = "persons",
    params(("key" = String, Path, description = "An ID number in any typed form, or `birth:CERTNO`"),
        ScopeQuery),
    responses((status = 200, body = PersonWithLinks), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn person(
    Scoped { caller, scope, .. }: Scoped,
    State(state): State<ApiState>,
    Path(raw): Path<String>,
) -> Result<Json<PersonWithLinks>, ApiError> {
    let key = person_key(&raw);
    let target = format!("person {}", masked_person_key(&key));
    let Some(person) = state.store.person(&key, scope.as_deref()).await? else {
        caller
            .audit(
                &state,
                scope,
                AuditAction::PersonRead,
                target,
                AuditResult::NotFound,
            )
            .await?;
        return Err(ApiError::not_found("没有这个人员，或不在本乡镇"));
    };
    // Reached only once the person is proven to lie within the caller's scope.
    let links = state.store.person_links(&person.person_key).await?;
    caller
        .audit(
            &state,
            person.township.clone(),
            AuditAction::PersonRead,
            target,
            AuditResult::Ok,
        )
        .await?;
    Ok(Json(PersonWithLinks {
        person: person.into(),
        links: links.into_iter().map(Into::into).collect(),
    }))
}
