//! The API's errors: one JSON shape, `{"error": {"code": "…", "message": "…"}}`, with
//! codes that stay stable for clients (listed in `docs/api.md`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::Caller;
use crate::store::StoreError;

/// Why a request failed. The message is Chinese where township staff may read it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, an unknown one or a revoked one.
    #[error("需要有效的访问令牌")]
    Unauthorized,
    /// A live token asking for a scope it does not have (another township's list).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing there, or nothing the caller may know exists.
    #[error("{0}")]
    NotFound(String),
    /// A malformed parameter or body.
    #[error("{0}")]
    BadRequest(String),
    /// The ticket is not in a status that allows the change.
    #[error("{0}")]
    Conflict(String),
    #[error("store")]
    Store(#[from] StoreError),
    #[error("export")]
    Export(#[from] crate::tickets::export::ExportError),
}

impl ApiError {
    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::Store(_) | ApiError::Export(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Store(_) | ApiError::Export(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::NotFound(message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            // The cause stays in the log; the client learns only that it was ours.
            ApiError::Store(_) | ApiError::Export(_) => {
                tracing::error!(error = %crate::domain::masked_causes(&self), "API request failed");
                "服务器内部错误，请稍后重试或联系管理员".to_string()
            }
            other => other.to_string(),
        };
        let body = super::schema::ErrorBody::new(self.code(), message);
        let mut res = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized) {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// Any other path under `/api/v1`: authenticated first, so that the set of paths is not
/// a way to probe without a token.
pub(super) async fn unknown_path(_caller: Caller) -> ApiError {
    ApiError::not_found("没有这个接口")
}
