//! API tokens (only their hashes) and the append-only audit trail.

use sha2::{Digest, Sha256};
use sqlx::{FromRow, Row};

use super::{doing, Store, StoreError};

/// Who a bearer token belongs to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TokenOwner {
    pub token_id: String,
    pub name: String,
    /// `None` for a city-wide operator token.
    pub township: Option<String>,
    pub is_admin: bool,
}

/// A token as listed (never the token itself).
#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenRow {
    pub token_id: String,
    pub name: String,
    pub township: Option<String>,
    pub is_admin: bool,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// When it stops working, if it was given an expiry.
    pub expires_at: Option<String>,
    /// When it last opened a request (to the minute).
    pub last_used_at: Option<String>,
}

/// One audit entry.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub township: Option<String>,
    pub action: AuditAction,
    pub target: String,
    pub result: AuditResult,
}

/// Defines an audit vocabulary: each word once, with its stored text, parsed back when
/// the trail is read.
macro_rules! audit_words {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// The text the trail stores.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

audit_words! {
    /// What was done, as the audit trail names it.
    AuditAction {
        /// One person's record read (API or `popsync person`).
        PersonRead => "person.read",
        /// One ticket's detail read, IDs whole.
        TicketRead => "ticket.read",
        /// A list of tickets read (IDs masked).
        TicketsList => "tickets.list",
        /// A download or file export of tickets (IDs whole).
        TicketsExport => "tickets.export",
        TicketDismiss => "ticket.dismiss",
        TicketReopen => "ticket.reopen",
        /// A ticket given to (or taken from) a named owner, 包保责任人.
        TicketAssign => "ticket.assign",
        TokenCreate => "token.create",
        TokenRevoke => "token.revoke",
        /// An API request refused: no or a bad token (401), or out of scope (403).
        ApiRefused => "api.refused",
    }
}

audit_words! {
    /// How it ended.
    AuditResult {
        Ok => "ok",
        /// Nothing there, or nothing within the caller's scope.
        NotFound => "not_found",
        /// The change was not allowed in the ticket's present state.
        Refused => "refused",
        /// No token, or one that is unknown, revoked or expired.
        Unauthorized => "401",
        /// A token asking beyond its township.
        Forbidden => "403",
    }
}

/// A token to create; only its hash is stored.
#[derive(Clone, Copy, Debug)]
pub struct NewToken<'a> {
    pub token_id: &'a str,
    pub token: &'a str,
    /// The township it may see; `None` for an admin token.
    pub township: Option<&'a str>,
    pub is_admin: bool,
    pub name: &'a str,
    pub created_at: &'a str,
    /// When it stops working; `None` for never (until revoked).
    pub expires_at: Option<&'a str>,
}

/// The stored form of a token: its SHA-256.
pub fn hash_token(token: &str) -> String {
    crate::domain::hex(&Sha256::digest(token.as_bytes()))
}

/// An audit entry as stored, before its words are parsed.
#[derive(sqlx::FromRow)]
struct AuditLine {
    at: String,
    actor: String,
    township: Option<String>,
    action: String,
    target: String,
    result: String,
}

impl Store {
    pub async fn create_token(&self, t: &NewToken<'_>) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_tokens (token_id, token_hash, township, is_admin, name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(t.token_id.to_string())
            .bind(hash_token(t.token))
            .bind(t.township.map(str::to_string))
            .bind(i64::from(t.is_admin))
            .bind(t.name.to_string())
            .bind(t.created_at.to_string())
            .bind(t.expires_at.map(str::to_string))
            .execute(&self.pool)
            .await
            .map_err(doing("creating a token"))?;
        Ok(())
    }

    /// The owner of a presented token, unless unknown, revoked or expired at `now`.
    /// Its last use is kept to the minute (one write a minute per token, not one per
    /// request).
    pub async fn token_owner(
        &self,
        token: &str,
        now: &str,
    ) -> Result<Option<TokenOwner>, StoreError> {
        let row = sqlx::query("SELECT token_id, name, township, is_admin FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)")
            .bind(hash_token(token))
            .bind(now.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(doing("checking a token"))?;
        let Some(r) = row else { return Ok(None) };
        let d = || doing("decoding a token");
        let owner = TokenOwner {
            token_id: r.try_get(0).map_err(d())?,
            name: r.try_get(1).map_err(d())?,
            township: r.try_get(2).map_err(d())?,
            is_admin: r.try_get::<i64, _>(3).map_err(d())? != 0,
        };
        let minute = now.get(..16).unwrap_or(now).to_string();
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_id = $2 AND (last_used_at IS NULL OR last_used_at < $1)")
            .bind(minute)
            .bind(owner.token_id.clone())
            .execute(&self.pool)
            .await
            .map_err(doing("noting a token's use"))?;
        Ok(Some(owner))
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query("SELECT token_id, name, township, is_admin, created_at, revoked_at, expires_at, last_used_at FROM api_tokens ORDER BY created_at, token_id")
            .fetch_all(&self.pool)
            .await
            .map_err(doing("listing tokens"))?;
        rows.iter()
            .map(|r| {
                let d = || doing("decoding a token");
                Ok(TokenRow {
                    token_id: r.try_get(0).map_err(d())?,
                    name: r.try_get(1).map_err(d())?,
                    township: r.try_get(2).map_err(d())?,
                    is_admin: r.try_get::<i64, _>(3).map_err(d())? != 0,
                    created_at: r.try_get(4).map_err(d())?,
                    revoked_at: r.try_get(5).map_err(d())?,
                    expires_at: r.try_get(6).map_err(d())?,
                    last_used_at: r.try_get(7).map_err(d())?,
                })
            })
            .collect()
    }

    /// Revokes a token; false when no live token has that ID.
    pub async fn revoke_token(&self, token_id: &str, now: &str) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL",
        )
        .bind(now.to_string())
        .bind(token_id.to_string())
        .execute(&self.pool)
        .await
        .map_err(doing("revoking a token"))?
        .rows_affected();
        Ok(n > 0)
    }

    /// Appends to the audit trail. `target` must never hold an ID number in plain text.
    pub async fn audit(&self, entry: &AuditRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_log (at, actor, township, action, target, result) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(entry.at.clone())
            .bind(entry.actor.clone())
            .bind(entry.township.clone())
            .bind(entry.action.as_str())
            .bind(entry.target.clone())
            .bind(entry.result.as_str())
            .execute(&self.pool)
            .await
            .map_err(doing("writing the audit trail"))?;
        Ok(())
    }

    /// The audit trail, newest first.
    pub async fn audit_entries(
        &self,
        township: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query("SELECT at, actor, township, action, target, result FROM audit_log WHERE ($1 IS NULL OR township = $1) ORDER BY audit_id DESC LIMIT $2")
            .bind(township.map(str::to_string))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(doing("reading the audit trail"))?;
        rows.iter()
            .map(|r| {
                let r = AuditLine::from_row(r).map_err(doing("decoding an audit entry"))?;
                let word = |what: &'static str, text: &str| StoreError::Corrupt {
                    what,
                    detail: format!("audit entry at {}: {text:?}", r.at),
                };
                Ok(AuditRow {
                    action: AuditAction::parse(&r.action)
                        .ok_or_else(|| word("audit action", &r.action))?,
                    result: AuditResult::parse(&r.result)
                        .ok_or_else(|| word("audit result", &r.result))?,
                    at: r.at,
                    actor: r.actor,
                    township: r.township,
                    target: r.target,
                })
            })
            .collect()
    }
}
