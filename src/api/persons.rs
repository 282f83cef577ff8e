//! `GET /api/v1/persons/{key}`: one golden record and the source records linked to it.
//! Every call is audited, found or not, with the key masked.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;

use super::auth::Caller;
use super::schema::{ErrorBody, PersonWithLinks};
use super::tickets::{query, ScopeQuery};
use super::{ApiError, ApiState};
use crate::domain::{masked_person_key, person_key};

/// `GET /api/v1/persons/{key}`: the golden record with its links, whole IDs (audited).
#[utoipa::path(get, path = "/api/v1/persons/{key}", tag = "persons",
    params(("key" = String, Path, description = "An ID number in any typed form, or `birth:CERTNO`"),
        ScopeQuery),
    responses((status = 200, body = PersonWithLinks), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn person(
    caller: Caller,
    State(state): State<ApiState>,
    Path(raw): Path<String>,
    q: Result<Query<ScopeQuery>, QueryRejection>,
) -> Result<Json<PersonWithLinks>, ApiError> {
    let scope = caller
        .scope_audited(&state, query(q)?.township.as_deref())
        .await?;
    let key = person_key(&raw);
    let target = format!("person {}", masked_person_key(&key));
    let Some(person) = state.store.person(&key, scope.as_deref()).await? else {
        caller
            .audit(&state, scope, "person.read", target, "not_found")
            .await?;
        return Err(ApiError::not_found("没有这个人员，或不在本乡镇"));
    };
    // Reached only once the person is proven to lie within the caller's scope.
    let links = state.store.person_links(&person.person_key).await?;
    caller
        .audit(&state, person.township.clone(), "person.read", target, "ok")
        .await?;
    Ok(Json(PersonWithLinks {
        person: person.into(),
        links: links.into_iter().map(Into::into).collect(),
    }))
}
