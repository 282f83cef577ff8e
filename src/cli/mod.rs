//! The command line: parse, load config, start telemetry, call the library. One file
//! per command group: `admin.rs` (API tokens and the audit trail), `tickets.rs`
//! (exports, dismissals), `readiness.rs` (before the provincial inspection).

mod admin;
mod readiness;
mod tickets;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use crate::config::{Config, FeedName, DEFAULT_CONFIG_PATH};
use crate::domain::{
    format_timestamp, mask_id_str, masked_person_key, now_local, person_key, today_local,
};
use crate::run::pull::{sync_feeds, SyncOptions};
use crate::shutdown::Shutdown;
use crate::store::{AuditAction, AuditResult, AuditRow, Store};
use crate::telemetry::{self, LogFormat};

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
        /// The date to evaluate at (default: today, China Standard Time; with --full,
        /// the last run's).
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Recompute the whole city in memory and compare it with the stored tickets
        /// and registry, writing neither; exit 0 equal, 1 different, 2 could not check.
        #[arg(long)]
        full: bool,
        /// Recompute every case, rebuilt from all the records, as a first run does
        /// (after a full check found the store different from a recompute).
        #[arg(long, conflicts_with = "full")]
        every_case: bool,
        /// Buckets of cases recomputed at once (default `[reconcile] workers`).
        #[arg(long, conflicts_with = "full", value_parser = clap::value_parser!(u8).range(1..=64))]
        workers: Option<u8>,
        /// The --full report's format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text, requires = "full")]
        format: OutputFormat,
    },
    /// Export, dismiss or reopen tickets.
    #[command(subcommand)]
    Tickets(tickets::TicketsCommand),
    /// Each township's standing before the provincial inspection, and whether its
    /// cleanup is on pace.
    Readiness(readiness::ReadinessArgs),
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
    Token(admin::TokenCommand),
    /// Show the audit trail, newest first.
    Audit(admin::AuditArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
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
                            "{}: FAILED after {stored} new records: {}\n  what to do: {}",
                            r.feed,
                            crate::domain::masked_causes(e),
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
            let options = crate::run::verify::VerifyOptions {
                repair,
                ..Default::default()
            };
            let report = crate::run::verify::verify_feeds(
                &store,
                &config,
                &feeds,
                &options,
                &Shutdown::never(),
            )
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
        Command::Reconcile {
            as_of,
            full: true,
            format,
            ..
        } => {
            let (config, store) = open(&cli.config).await?;
            let result = crate::run::full_check::full_check(&store, &config, as_of).await;
            store.close().await;
            let check = result.context("the full check could not compare")?;
            match format {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&check)?),
                OutputFormat::Text => print!("{}", check.render_text()),
            }
            Ok(ExitCode::from(check.exit_code()))
        }
        Command::Reconcile {
            as_of,
            every_case,
            workers,
            ..
        } => {
            let (mut config, store) = open(&cli.config).await?;
            if let Some(n) = workers {
                config.reconcile.workers = usize::from(n);
            }
            let as_of = as_of.unwrap_or_else(today_local);
            if every_case {
                store.recompute_every_case().await?;
            }
            let summary =
                crate::run::reconcile::run(&store, &config, as_of, &operator(None)).await?;
            print!(
                "{}",
                crate::run::reconcile::render_text(&summary, &config.city)
            );
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tickets(cmd) => {
            let (config, store) = open(&cli.config).await?;
            tickets::run(cmd, &config, &store).await
        }
        Command::Readiness(args) => {
            let (config, store) = open(&cli.config).await?;
            let code = readiness::run(args, &config, &store).await;
            store.close().await;
            code
        }
        Command::Person { id } => {
            let (_config, store) = open(&cli.config).await?;
            let key = person_key(&id);
            let person = store.person(&key, None).await?;
            store
                .audit(&AuditRow {
                    at: format_timestamp(now_local()),
                    actor: operator(None),
                    township: person.as_ref().and_then(|p| p.township.clone()),
                    action: AuditAction::PersonRead,
                    target: format!("person {}", masked_person_key(&key)),
                    result: if person.is_some() {
                        AuditResult::Ok
                    } else {
                        AuditResult::NotFound
                    },
                })
                .await?;
            let Some(person) = person else {
                eprintln!(
                    "popsync: no person {} in the registry (run `popsync reconcile` first?)",
                    masked_person_key(&key)
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
                inspection: config.inspection.clone(),
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
            admin::token(cmd, &config, &store).await
        }
        Command::Audit(args) => {
            let (_config, store) = open(&cli.config).await?;
            admin::audit(args, &store).await
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
