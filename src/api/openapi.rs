//! `GET /api/v1/openapi.json`: the API described as OpenAPI 3.1, generated from the
//! handlers' annotations and the body types in `schema.rs`, so it cannot drift from
//! what the handlers answer. Served without a token: it holds no one's data.

use std::sync::OnceLock;

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{persons, readiness, tickets};

/// The document utoipa assembles.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "popsync township API",
        description = "Each township's discrepancy tickets, scoped by bearer token (docs/api.md)."
    ),
    paths(
        tickets::me,
        tickets::list,
        tickets::export_xlsx,
        tickets::export_csv,
        tickets::detail,
        tickets::dismiss,
        tickets::reopen,
        tickets::assign,
        tickets::counts,
        tickets::runs,
        readiness::readiness,
        readiness::history,
        persons::person
    ),
    modifiers(&BearerToken),
    security(("bearer" = []))
)]
struct ApiDoc;

/// Every path takes `Authorization: Bearer TOKEN`.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, built once.
fn spec() -> &'static utoipa::openapi::OpenApi {
    static SPEC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        doc
    })
}

pub(super) async fn document() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(spec())
}
