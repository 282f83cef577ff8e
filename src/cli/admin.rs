//! `popsync token …` and `popsync audit`: issuing and revoking the API's bearer tokens,
//! and reading the audit trail.

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};

use super::operator;
use crate::api::auth::{new_token, new_token_id};
use crate::config::Config;
use crate::domain::{format_timestamp, now_local, TownshipCode};
use crate::store::{AuditAction, AuditResult, AuditRow, NewToken, Store};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once; only its hash is stored.
    Create {
        /// The township the token may see (9-digit code).
        #[arg(long, required_unless_present = "admin", conflicts_with = "admin")]
        township: Option<String>,
        /// A city-wide operator token instead of a township's.
        #[arg(long)]
        admin: bool,
        /// Who holds it, for lists and the audit trail (for example "城关镇-张三").
        #[arg(long)]
        name: Option<String>,
        /// How long it works: days (`90d`) or hours (`12h`). Without it, until revoked.
        #[arg(long, value_parser = parse_lifetime)]
        expires_in: Option<chrono::Duration>,
    },
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token by its ID (as `token list` shows it).
    Revoke { token_id: String },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this township's entries.
    #[arg(long)]
    pub township: Option<String>,
    /// How many entries, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
}

/// Runs `popsync token …`.
pub async fn token(cmd: TokenCommand, config: &Config, store: &Store) -> anyhow::Result<ExitCode> {
    let now = format_timestamp(now_local());
    match cmd {
        TokenCommand::Create {
            township,
            admin,
            name,
            expires_in,
        } => {
            let township = match township {
                None => None,
                Some(raw) => {
                    let Some(code) = TownshipCode::parse(&raw) else {
                        bail!("--township {raw:?} is not a 9-digit township code")
                    };
                    if !config.city.townships.is_empty()
                        && !config.city.townships.contains_key(code.as_str())
                    {
                        bail!("township {code} is not among the [city.townships] in the configuration; add it there first");
                    }
                    Some(code.to_string())
                }
            };
            let name = name.unwrap_or_else(|| match &township {
                Some(t) => format!("{}-{t}", config.city.township_name(t)),
                None => "admin".to_string(),
            });
            let (token_id, token) = (new_token_id(), new_token());
            let expires_at = expires_in.map(|d| format_timestamp(now_local() + d));
            store
                .create_token(&NewToken {
                    token_id: &token_id,
                    token: &token,
                    township: township.as_deref(),
                    is_admin: admin,
                    name: &name,
                    created_at: &now,
                    expires_at: expires_at.as_deref(),
                })
                .await?;
            store
                .audit(&AuditRow {
                    at: now,
                    actor: operator(None),
                    township: township.clone(),
                    action: AuditAction::TokenCreate,
                    target: format!(
                        "token {token_id} ({name}){}",
                        if admin { " admin" } else { "" }
                    ),
                    result: AuditResult::Ok,
                })
                .await?;
            eprintln!(
                "created token {token_id} for {}{}; it is shown only this once:",
                township.as_deref().unwrap_or("the whole city (admin)"),
                expires_at
                    .as_deref()
                    .map(|e| format!(", valid until {e}"))
                    .unwrap_or_default()
            );
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::List => {
            println!(
                "{:<18} {:<10} {:<6} {:<26} {:<26} {:<26} {:<17} name",
                "token id", "township", "admin", "created", "revoked", "expires", "last used"
            );
            for t in store.list_tokens().await? {
                println!(
                    "{:<18} {:<10} {:<6} {:<26} {:<26} {:<26} {:<17} {}",
                    t.token_id,
                    t.township.as_deref().unwrap_or("-"),
                    if t.is_admin { "yes" } else { "no" },
                    t.created_at,
                    t.revoked_at.as_deref().unwrap_or("-"),
                    t.expires_at.as_deref().unwrap_or("never"),
                    t.last_used_at.as_deref().unwrap_or("never"),
                    t.name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { token_id } => {
            let done = store.revoke_token(&token_id, &now).await?;
            store
                .audit(&AuditRow {
                    at: now,
                    actor: operator(None),
                    township: None,
                    action: AuditAction::TokenRevoke,
                    target: format!("token {token_id}"),
                    result: if done {
                        AuditResult::Ok
                    } else {
                        AuditResult::NotFound
                    },
                })
                .await?;
            if done {
                println!("revoked {token_id}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("popsync: no live token {token_id} (see `popsync token list`)");
                Ok(ExitCode::from(1))
            }
        }
    }
}

/// `90d` or `12h`: how long a new token works.
fn parse_lifetime(s: &str) -> Result<chrono::Duration, String> {
    let bad = || format!("{s:?} is not a lifetime such as 90d or 12h");
    let (n, unit) = s.trim().split_at(s.trim().len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    if !(1..=3650 * 24).contains(&n) {
        return Err(bad());
    }
    match unit {
        "d" => Ok(chrono::Duration::days(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        _ => Err(bad()),
    }
}

/// Runs `popsync audit`.
pub async fn audit(args: AuditArgs, store: &Store) -> anyhow::Result<ExitCode> {
    if let Some(t) = &args.township {
        if TownshipCode::parse(t).is_none() {
            bail!("--township {t:?} is not a 9-digit township code");
        }
    }
    if args.limit < 1 {
        bail!("--limit must be at least 1");
    }
    println!(
        "{:<26} {:<10} {:<16} {:<8} {:<36} actor",
        "at", "township", "action", "result", "target"
    );
    for e in store
        .audit_entries(args.township.as_deref(), args.limit)
        .await?
    {
        println!(
            "{:<26} {:<10} {:<16} {:<8} {:<36} {}",
            e.at,
            e.township.as_deref().unwrap_or("-"),
            e.action,
            e.result,
            e.target,
            e.actor
        );
    }
    Ok(ExitCode::SUCCESS)
}
