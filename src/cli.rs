//! The command line: parse, load config, start telemetry, call the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, FeedName, DEFAULT_CONFIG_PATH};
use crate::domain::{format_timestamp, mask_id_str, normalise_id, now_local, today_local};
use crate::shutdown::Shutdown;
use crate::store::{AuditRow, Store, TicketFilter};
use crate::sync::{sync_feeds, SyncOptions};
use crate::telemetry::{self, LogFormat};
use crate::tickets::export::{self, ExportFormat};
use crate::tickets::Status;

/// popsync: keeps the population register complete and correct.
#[derive(Debug, Parser)]
#[command(name = "popsync", version, about)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "POPSYNC_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull every configured feed (or the named ones) to its current end, once.
    Sync {
        /// Only this feed (psb, mca, nhc, pis); may be repeated.
        #[arg(long = "feed", value_parser = parse_feed)]
        feeds: Vec<FeedName>,
    },
    /// Read each feed whole and compare it with the store; exit 1 when they differ.
    Verify {
        /// Only this feed (psb, mca, nhc, pis); may be repeated.
        #[arg(long = "feed", value_parser = parse_feed)]
        feeds: Vec<FeedName>,
        /// Store the missing and changed records (nothing is ever deleted).
        #[arg(long)]
        repair: bool,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Show per feed what is stored, quarantined, and how the last pull went.
    Status {
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Reconcile the stored records and keep the tickets current.
    Reconcile {
        /// The date to evaluate at (default: today, China Standard Time).
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// Export, dismiss or reopen tickets.
    #[command(subcommand)]
    Tickets(TicketsCommand),
    /// Show one golden record with every source record linked to it (audited).
    Person {
        /// The ID number (any typed form) or `birth:CERTNO`.
        id: String,
    },
    /// Run as the service: pull on schedules, reconcile, serve metrics and the API.
    Run,
    /// Serve a simulated city's four feeds over HTTP, with fault injection.
    Sim(crate::sim::SimArgs),
    /// Simulator, sync, reconcile and township lists in a fresh folder: popsync at work.
    Demo(crate::demo::DemoArgs),
    /// Measure sync and reconcile on a large simulated city; writes docs/benchmarks.md.
    Bench(crate::bench::BenchArgs),
    /// List malformed records kept aside.
    Quarantine {
        #[arg(long, value_parser = parse_feed)]
        feed: Option<FeedName>,
    },
    /// Create, list or revoke the API's bearer tokens.
    #[command(subcommand)]
    Token(crate::api::cli::TokenCommand),
    /// Show the audit trail, newest first.
    Audit(crate::api::cli::AuditArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

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

fn parse_feed(s: &str) -> Result<FeedName, String> {
    FeedName::parse(s).ok_or_else(|| format!("unknown feed {s:?}: expected psb, mca, nhc or pis"))
}

/// The operator's name for history entries and the audit trail: the operating
/// system's user the process runs as (not `$USER`, which anyone can set), and beside
/// it, as a claim only, the name `--by` gave.
pub(crate) fn operator(by: Option<String>) -> String {
    let user = os_user();
    match by.map(|b| b.trim().to_string()).filter(|b| !b.is_empty()) {
        Some(by) => format!("cli:{user} (says: {by})"),
        None => format!("cli:{user}"),
    }
}

/// The name of the process's real user, from the password database; its uid when it
/// has no entry there.
fn os_user() -> String {
    // SAFETY: getuid cannot fail; getpwuid_r writes into the buffer and struct we own
    // and sets `found` to null or to `entry`, whose strings live in `buf`.
    unsafe {
        let uid = libc::getuid();
        let mut entry: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut entry, buf.as_mut_ptr(), buf.len(), &mut found);
        if rc == 0 && !found.is_null() && !entry.pw_name.is_null() {
            if let Ok(name) = std::ffi::CStr::from_ptr(entry.pw_name).to_str() {
                return name.to_string();
            }
        }
        format!("uid {uid}")
    }
}

/// Runs the command; returns the process exit code. Errors print with their causes.
pub async fn main(cli: Cli) -> ExitCode {
    telemetry::init(cli.log_format, "info");
    match dispatch(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("popsync: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn open(config_path: &Path) -> anyhow::Result<(Config, Store)> {
    let config = Config::load(config_path)?;
    let store = Store::open(&config.database.url)
        .await
        .with_context(|| format!("opening the store named in {}", config_path.display()))?;
    Ok((config, store))
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sim(args) => {
            crate::sim::run_cli(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            crate::demo::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => {
            crate::bench::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync { feeds } => {
            let (config, store) = open(&cli.config).await?;
            for f in &feeds {
                if config.feed(*f).is_none() {
                    bail!("feed {f} is not configured in {}", cli.config.display());
                }
            }
            let reports = sync_feeds(
                &store,
                &config,
                &feeds,
                SyncOptions::default(),
                &Shutdown::never(),
            )
            .await;
            let mut failed = Vec::new();
            for r in &reports {
                let stored: u64 = r.new_records();
                let q: u64 = r.streams.iter().map(|s| s.stats.quarantined_new).sum();
                match &r.result {
                    Ok(()) => println!(
                        "{}: ok, {stored} new records, {q} quarantined, {:.1} s",
                        r.feed,
                        r.duration.as_secs_f64()
                    ),
                    Err(e) => {
                        println!(
                            "{}: FAILED after {stored} new records: {e}\n  what to do: {}",
                            r.feed,
                            e.hint()
                        );
                        failed.push(r.feed.as_str());
                    }
                }
            }
            store.close().await;
            if failed.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "popsync: feeds that did not reach their end: {}",
                    failed.join(", ")
                );
                Ok(ExitCode::from(1))
            }
        }
        Command::Verify {
            feeds,
            repair,
            format,
        } => {
            let (config, store) = open(&cli.config).await?;
            for f in &feeds {
                if config.feed(*f).is_none() {
                    bail!("feed {f} is not configured in {}", cli.config.display());
                }
            }
            let options = crate::verify::VerifyOptions {
                repair,
                ..Default::default()
            };
            let report =
                crate::verify::verify_feeds(&store, &config, &feeds, &options, &Shutdown::never())
                    .await;
            store.close().await;
            match format {
                OutputFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&report.to_json())?)
                }
                OutputFormat::Text => print!("{}", report.render_text(repair)),
            }
            Ok(ExitCode::from(report.exit_code()))
        }
        Command::Status { format } => {
            let (config, store) = open(&cli.config).await?;
            let report = crate::status::report(&store, &config).await?;
            match format {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                OutputFormat::Text => print!("{}", crate::status::render_text(&report)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile { as_of } => {
            let (config, store) = open(&cli.config).await?;
            let as_of = as_of.unwrap_or_else(today_local);
            let summary =
                crate::reconciliation::run(&store, &config, as_of, &operator(None)).await?;
            print!(
                "{}",
                crate::reconciliation::render_text(&summary, &config.city)
            );
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tickets(cmd) => {
            let (config, store) = open(&cli.config).await?;
            tickets_command(cmd, &config, &store).await
        }
        Command::Person { id } => {
            let (_config, store) = open(&cli.config).await?;
            let key = if id.starts_with("birth:") {
                id.clone()
            } else {
                normalise_id(&id)
            };
            let person = store.person(&key, None).await?;
            store
                .audit(&AuditRow {
                    at: format_timestamp(now_local()),
                    actor: operator(None),
                    township: person.as_ref().and_then(|p| p.township.clone()),
                    action: "person.read".into(),
                    target: format!("person {}", mask_id_str(&key)),
                    result: if person.is_some() {
                        "ok".into()
                    } else {
                        "not_found".into()
                    },
                })
                .await?;
            let Some(person) = person else {
                eprintln!(
                    "popsync: no person {} in the registry (run `popsync reconcile` first?)",
                    mask_id_str(&key)
                );
                return Ok(ExitCode::from(1));
            };
            let links = store.person_links(&key).await?;
            let mut records = Vec::new();
            for l in &links {
                let raw_key = l.record_key.split('/').next().unwrap_or(&l.record_key);
                records.push(serde_json::json!({"source": l.source, "record": l.record_key, "raw": store.raw_record(&l.source, raw_key).await?}));
            }
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"person": person, "records": records})
                )?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run => {
            let (config, store) = open(&cli.config).await?;
            let api = crate::api::router(crate::api::ApiState {
                store: store.clone(),
                city: config.city.clone(),
            });
            crate::daemon::run(config, store, api).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Quarantine { feed } => {
            let (_config, store) = open(&cli.config).await?;
            let rows = store.quarantine(feed.map(FeedName::as_str)).await?;
            println!("feed  record key                         last seen                  reason");
            for (feed, key, reason, seen) in rows {
                println!(
                    "{feed:<5} {:<34} {seen:<26} {reason}",
                    mask_id_str_if_id(&key)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(cmd) => {
            let (config, store) = open(&cli.config).await?;
            crate::api::cli::token(cmd, &config, &store).await
        }
        Command::Audit(args) => {
            let (_config, store) = open(&cli.config).await?;
            crate::api::cli::audit(args, &store).await
        }
    }
}

/// Quarantine keys are register numbers; mask any that looks like an ID number.
fn mask_id_str_if_id(key: &str) -> String {
    if key.len() >= 15
        && key.chars().filter(char::is_ascii_digit).count() >= 15
        && !key.contains('-')
    {
        mask_id_str(key)
    } else {
        key.to_string()
    }
}

async fn tickets_command(
    cmd: TicketsCommand,
    config: &Config,
    store: &Store,
) -> anyhow::Result<ExitCode> {
    match cmd {
        TicketsCommand::Export(args) => {
            let status = (args.status == "open").then(|| "open".to_string());
            let filter = TicketFilter {
                township: args.township.clone(),
                status,
                ..TicketFilter::default()
            };
            let tickets = store.list_tickets(&filter).await?;
            // Exports carry whole ID numbers: each is audited, with where it went.
            let audit_export = |destination: String, count: usize| AuditRow {
                at: format_timestamp(now_local()),
                actor: operator(None),
                township: args.township.clone(),
                action: "tickets.export".into(),
                target: format!(
                    "{count} tickets ({}, {}) to {destination}",
                    args.format.extension(),
                    args.status
                ),
                result: "ok".into(),
            };
            match (&args.output, &args.per_township) {
                (Some(path), _) => {
                    export::write(path, args.format, &tickets, &config.city)?;
                    store
                        .audit(&audit_export(path.display().to_string(), tickets.len()))
                        .await?;
                    println!("wrote {} tickets to {}", tickets.len(), path.display());
                }
                (None, Some(dir)) => {
                    let by_township = export::by_township(&tickets);
                    for (code, list) in &by_township {
                        let name = config.city.township_name(code);
                        let file = if name == *code {
                            format!("{code}.{}", args.format.extension())
                        } else {
                            format!("{code}-{name}.{}", args.format.extension())
                        };
                        let path = dir.join(file);
                        export::write(&path, args.format, list, &config.city)?;
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
            township: store.ticket(ticket, None).await?.map(|t| t.township),
            action: format!(
                "ticket.{}",
                if to == Status::Dismissed {
                    "dismiss"
                } else {
                    "reopen"
                }
            ),
            target: format!("ticket {ticket}"),
            result: if done { "ok".into() } else { "refused".into() },
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
