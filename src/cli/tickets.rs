//! `popsync tickets …`: exports (each one audited: they carry whole ID numbers),
//! dismissals or reopenings by hand, and assignments to a township's staff (audited).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};

use super::operator;
use crate::config::Config;
use crate::domain::{format_timestamp, now_local, today_local};
use crate::store::{AuditAction, AuditResult, AuditRow, OwnerFilter, Store, TicketFilter};
use crate::tickets::export::{self, ExportFormat, ListTitle};
use crate::tickets::{assignment_target, Owner, Status};

#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// Write tickets as JSON Lines, CSV or .xlsx.
    Export(ExportArgs),
    /// Dismiss a ticket with the township's reason; it is not raised again unless its evidence changes.
    Dismiss {
        ticket: String,
        #[arg(long)]
        reason: String,
        /// Who dismissed it (default: the operator's login name).
        #[arg(long)]
        by: Option<String>,
    },
    /// Reopen a dismissed ticket.
    Reopen {
        ticket: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Assign a ticket to a named member of its township's staff (包保责任人), or clear its owner.
    Assign {
        ticket: String,
        /// The owner's name (at most 32 characters); an empty name clears the owner.
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        to: Option<String>,
        /// Clear the ticket's owner.
        #[arg(long)]
        clear: bool,
        /// Who assigned it (default: the operator's login name).
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,
    /// Only this township (9-digit code).
    #[arg(long)]
    pub township: Option<String>,
    /// `open` (default) or `all`.
    #[arg(long, default_value = "open", value_parser = ["open", "all"])]
    pub status: String,
    /// Only tickets assigned to this person; `none` for those nobody owns.
    #[arg(long)]
    pub owner: Option<String>,
    /// The file to write.
    #[arg(
        long,
        required_unless_present = "per_township",
        conflicts_with = "per_township"
    )]
    pub output: Option<PathBuf>,
    /// Write one file per township into this folder instead.
    #[arg(long)]
    pub per_township: Option<PathBuf>,
}

/// Runs `popsync tickets …`.
pub(super) async fn run(
    cmd: TicketsCommand,
    config: &Config,
    store: &Store,
) -> anyhow::Result<ExitCode> {
    match cmd {
        TicketsCommand::Export(args) => {
            let status = (args.status == "open").then_some(Status::Open);
            let owner = match args.owner.as_deref() {
                None => None,
                Some(raw) => {
                    Some(OwnerFilter::parse(raw).map_err(|e| anyhow::anyhow!("--owner: {e}"))?)
                }
            };
            let filter = TicketFilter {
                township: args.township.clone(),
                status,
                owner,
                ..TicketFilter::default()
            };
            let tickets = store.list_tickets(&filter).await?;
            // A printed list says which run it is as of: the latest, or today without one.
            let as_of = match store.latest_as_of().await? {
                Some(as_of) => as_of,
                None => today_local().to_string(),
            };
            // A spreadsheet opens on its scope's standing before the inspection (概况).
            let with_summary = |title: ListTitle, format: ExportFormat, township: Option<&str>| {
                let township = township.map(str::to_string);
                async move {
                    if format != ExportFormat::Xlsx {
                        return anyhow::Ok(title);
                    }
                    let summary = store
                        .summary(
                            township.as_deref(),
                            today_local(),
                            &config.city,
                            &config.inspection,
                        )
                        .await?;
                    anyhow::Ok(title.with_summary(summary))
                }
            };
            // Exports carry whole ID numbers: each is audited, with where it went.
            let audit_export = |destination: String, count: usize| AuditRow {
                at: format_timestamp(now_local()),
                actor: operator(None),
                township: args.township.clone(),
                action: AuditAction::TicketsExport,
                target: format!(
                    "{count} tickets ({}, {}) to {destination}",
                    args.format.extension(),
                    args.status
                ),
                result: AuditResult::Ok,
            };
            match (&args.output, &args.per_township) {
                (Some(path), _) => {
                    let title = ListTitle::new(&config.city, args.township.as_deref(), &as_of);
                    let title = with_summary(title, args.format, args.township.as_deref()).await?;
                    export::write(path, args.format, &tickets, &config.city, &title)?;
                    store
                        .audit(&audit_export(path.display().to_string(), tickets.len()))
                        .await?;
                    println!("wrote {} tickets to {}", tickets.len(), path.display());
                }
                (None, Some(dir)) => {
                    let by_township = export::by_township(&tickets);
                    for (code, list) in &by_township {
                        let name = config.city.township_name(code.as_str());
                        let file = if name == code.as_str() {
                            format!("{code}.{}", args.format.extension())
                        } else {
                            format!("{code}-{name}.{}", args.format.extension())
                        };
                        let path = dir.join(file);
                        let title = ListTitle::new(&config.city, Some(code.as_str()), &as_of);
                        let title = with_summary(title, args.format, Some(code.as_str())).await?;
                        export::write(&path, args.format, list, &config.city, &title)?;
                        let mut row = audit_export(path.display().to_string(), list.len());
                        row.township = Some(code.to_string());
                        store.audit(&row).await?;
                    }
                    println!(
                        "wrote {} tickets for {} townships into {}",
                        tickets.len(),
                        by_township.len(),
                        dir.display()
                    );
                }
                (None, None) => bail!("give --output FILE or --per-township DIR"),
            }
            Ok(ExitCode::SUCCESS)
        }
        TicketsCommand::Dismiss { ticket, reason, by } => {
            hand_change(store, &ticket, Status::Dismissed, &reason, by).await
        }
        TicketsCommand::Reopen { ticket, reason, by } => {
            hand_change(store, &ticket, Status::Open, &reason, by).await
        }
        TicketsCommand::Assign {
            ticket,
            to,
            clear: _,
            by,
        } => assign(store, &ticket, to.as_deref(), by).await,
    }
}

/// Assigns a ticket (an empty or missing name clears its owner), recorded in its history
/// and audited with the name masked.
async fn assign(
    store: &Store,
    ticket: &str,
    to: Option<&str>,
    by: Option<String>,
) -> anyhow::Result<ExitCode> {
    let owner = Owner::parse_or_clear(to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let now = format_timestamp(now_local());
    let who = operator(by);
    let actor = crate::store::Actor {
        name: &who,
        now: &now,
    };
    let done = store
        .assign_ticket(ticket, None, owner.as_ref(), &actor)
        .await?;
    store
        .audit(&AuditRow {
            at: now.clone(),
            actor: who.clone(),
            township: done.as_ref().map(|a| a.township.to_string()),
            action: AuditAction::TicketAssign,
            target: assignment_target(ticket, owner.as_ref()),
            result: if done.is_some() {
                AuditResult::Ok
            } else {
                AuditResult::NotFound
            },
        })
        .await?;
    match (done, &owner) {
        (None, _) => {
            eprintln!("popsync: ticket {ticket} does not exist");
            Ok(ExitCode::from(1))
        }
        (Some(_), Some(owner)) => {
            println!("ticket {ticket} is now assigned to {}", owner.as_str());
            Ok(ExitCode::SUCCESS)
        }
        (Some(_), None) => {
            println!("ticket {ticket} now has no owner");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn hand_change(
    store: &Store,
    ticket: &str,
    to: Status,
    reason: &str,
    by: Option<String>,
) -> anyhow::Result<ExitCode> {
    if reason.trim().is_empty() {
        bail!("--reason must say why");
    }
    let now = format_timestamp(now_local());
    let who = operator(by);
    let actor = crate::store::Actor {
        name: &who,
        now: &now,
    };
    let done = store
        .set_ticket_status_by_hand(ticket, None, to, &actor, reason)
        .await?;
    store
        .audit(&AuditRow {
            at: now.clone(),
            actor: who.clone(),
            township: store
                .ticket(ticket, None)
                .await?
                .map(|t| t.township.to_string()),
            action: if to == Status::Dismissed {
                AuditAction::TicketDismiss
            } else {
                AuditAction::TicketReopen
            },
            target: format!("ticket {ticket}"),
            result: if done {
                AuditResult::Ok
            } else {
                AuditResult::Refused
            },
        })
        .await?;
    if done {
        println!("ticket {ticket} is now {}", to.as_str());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "popsync: ticket {ticket} does not exist or is not {}",
            if to == Status::Dismissed {
                "open"
            } else {
                "dismissed"
            }
        );
        Ok(ExitCode::from(1))
    }
}
