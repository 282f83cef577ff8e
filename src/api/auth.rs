//! Bearer tokens: who is calling, and which township's data they may see.
//!
//! Tokens are random 32-byte hex strings shown once at creation; the store keeps only
//! their SHA-256. A township token is bound to one township; an admin token is
//! city-wide and may name a township with `?township=`.

use axum::extract::{FromRequestParts, Query};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::tickets::{query, ScopeQuery};
use super::{ApiError, ApiState};
use crate::domain::{format_timestamp, hex, now_local, TownshipCode};
use crate::store::{AuditAction, AuditResult, AuditRow, TokenOwner};

/// The authenticated caller of one request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub owner: TokenOwner,
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Caller, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        let owner = match token {
            Some(token) => {
                state
                    .store
                    .token_owner(token, &format_timestamp(now_local()))
                    .await?
            }
            None => None,
        };
        if let Some(owner) = owner {
            return Ok(Caller { owner });
        }
        // The route's pattern, never the path itself: a path can hold an ID number.
        let route = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map_or("(no route)", |m| m.as_str())
            .to_string();
        let why = if token.is_some() {
            "unknown, revoked or expired token"
        } else {
            "no bearer token"
        };
        tracing::info!(route = %route, why, "API request refused (401)");
        state
            .store
            .audit(&AuditRow {
                at: format_timestamp(now_local()),
                actor: format!("api:{why}"),
                township: None,
                action: AuditAction::ApiRefused,
                target: format!("{} {route}", parts.method),
                result: AuditResult::Unauthorized,
            })
            .await?;
        Err(ApiError::Unauthorized)
    }
}

/// The token of an `Authorization: Bearer TOKEN` header (scheme case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A new token: 32 random bytes from the operating system's generator, as hex.
pub fn new_token() -> String {
    hex(&rand::random::<[u8; 32]>())
}

/// A new token ID, shown in lists and the audit trail (never secret).
pub fn new_token_id() -> String {
    format!("tok_{}", hex(&rand::random::<[u8; 6]>()))
}

impl Caller {
    /// The name written into ticket histories and the audit trail.
    pub fn actor(&self) -> String {
        format!("api:{} ({})", self.owner.name, self.owner.token_id)
    }

    pub fn is_admin(&self) -> bool {
        self.owner.is_admin
    }

    /// The township every query of this request is limited to; `None` only for an
    /// admin who asked for the whole city. A township token naming another township is
    /// refused (403); one naming none, or its own, is scoped to its own.
    pub fn scope(&self, requested: Option<&str>) -> Result<Option<String>, ApiError> {
        let requested = match requested.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => Some(
                TownshipCode::parse(raw)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("township 应为 9 位乡镇代码，收到 {raw:?}"))
                    })?
                    .to_string(),
            ),
        };
        if self.owner.is_admin {
            return Ok(requested);
        }
        let Some(own) = self.owner.township.clone() else {
            // A token that is neither an admin's nor a township's sees nothing.
            return Err(ApiError::Forbidden("此令牌未绑定乡镇".into()));
        };
        match requested {
            Some(other) if other != own => Err(ApiError::Forbidden("只能查看本乡镇的数据".into())),
            _ => Ok(Some(own)),
        }
    }

    /// [`Caller::scope`], with a refusal (403) written to the audit trail: a township
    /// probing another's data is something an assessor asks to see.
    pub async fn scope_audited(
        &self,
        state: &ApiState,
        requested: Option<&str>,
    ) -> Result<Option<String>, ApiError> {
        let scope = self.scope(requested);
        if let Err(ApiError::Forbidden(_)) = &scope {
            let asked = requested.map(str::trim).unwrap_or("-");
            let target = format!("township {}", asked.get(..9).unwrap_or(asked));
            self.audit(
                state,
                None,
                AuditAction::ApiRefused,
                target,
                AuditResult::Forbidden,
            )
            .await?;
        }
        scope
    }

    /// Appends one entry to the audit trail. `target` must already be masked.
    pub async fn audit(
        &self,
        state: &ApiState,
        township: Option<String>,
        action: AuditAction,
        target: String,
        result: AuditResult,
    ) -> Result<(), ApiError> {
        let entry = AuditRow {
            at: format_timestamp(now_local()),
            actor: self.actor(),
            township: township.or_else(|| self.owner.township.clone()),
            action,
            target,
            result,
        };
        state.store.audit(&entry).await?;
        Ok(())
    }
}

/// The preamble of every handler that reads within a scope: who calls, the `?township=`
/// (and `?limit=`) they asked with, and the township their queries are limited to (a
/// refusal already audited). One extractor, so no handler can forget the scope.
pub struct Scoped {
    pub caller: Caller,
    /// `None` only for an admin who asked for the whole city.
    pub scope: Option<String>,
    pub query: ScopeQuery,
}

impl FromRequestParts<ApiState> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Scoped, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let query = query(Query::<ScopeQuery>::from_request_parts(parts, state).await)?;
        let scope = caller
            .scope_audited(state, query.township.as_deref())
            .await?;
        Ok(Scoped {
            caller,
            scope,
            query,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_headers() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
    }

    #[test]
    fn tokens_are_64_hex_characters_and_differ() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
