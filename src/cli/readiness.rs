//! `popsync readiness`: each township's standing before the provincial inspection and
//! whether its cleanup is on pace, for people (text) or scripts (JSON). The figures are
//! `tickets::readiness`'s, the same the API and the page show.

use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Args;

use super::OutputFormat;
use crate::config::Config;
use crate::domain::{today_local, TownshipCode};
use crate::store::Store;
use crate::tickets::readiness::{readiness, Figures, Readiness};

#[derive(Debug, Args)]
pub struct ReadinessArgs {
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Only this township (9-digit code); without it, every township and the city.
    #[arg(long)]
    pub township: Option<String>,
    /// The day to count from (default: today, China Standard Time).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
}

/// Runs `popsync readiness`.
pub(super) async fn run(
    args: ReadinessArgs,
    config: &Config,
    store: &Store,
) -> anyhow::Result<ExitCode> {
    let township = match args.township.as_deref() {
        None => None,
        Some(raw) => Some(
            TownshipCode::parse(raw)
                .with_context(|| format!("--township {raw:?} is not a 9-digit township code"))?
                .to_string(),
        ),
    };
    let today = args.as_of.unwrap_or_else(today_local);
    let counted = store
        .readiness_counts(
            township.as_deref(),
            today,
            config.inspection.fix_within_days,
        )
        .await?;
    let r = readiness(
        counted,
        &config.city,
        &config.inspection,
        today,
        township.as_deref(),
    );
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&r)?),
        OutputFormat::Text => print!("{}", render_text(&r, config)),
    }
    Ok(ExitCode::SUCCESS)
}

/// One row's figures in the table's columns.
fn columns(f: &Figures) -> String {
    let rate = f
        .errors_per_1000
        .map_or_else(|| "-".to_string(), |r| format!("{r:.1}"));
    format!(
        "{:>8} {:>6} {:>8} {:>7} {:>6} {:>7.1}% {:>7.2}",
        f.records,
        f.open,
        rate,
        f.overdue,
        f.sample_size,
        100.0 * f.p_sample_finds_error,
        f.expected_points_lost
    )
}

/// The report as operators read it: a line per township, the city, the ranking.
fn render_text(r: &Readiness, config: &Config) -> String {
    let mut out = match r.inspection_date {
        Some(date) => format!(
            "readiness for the provincial inspection on {date}, as of {}: {} days left\n",
            r.as_of,
            (date - r.as_of).num_days()
        ),
        None => format!(
            "readiness as of {}: no inspection date is set ([inspection] date), so no countdown and no pace verdict\n",
            r.as_of
        ),
    };
    out.push_str(&format!(
        "{} points, {} deducted per error found; inspectors sample up to {} records a township; tickets are overdue after {} days\n\n",
        r.points, r.deduction_per_error, config.inspection.sample_size, r.fix_within_days
    ));
    out.push_str(&format!(
        "{:<10} {:>8} {:>6} {:>8} {:>7} {:>6} {:>8} {:>7}  {:<22} name\n",
        "township", "records", "open", "per1000", "overdue", "sample", "P(find)", "E[lost]", "pace"
    ));
    for t in &r.townships {
        let pace = match &t.pace {
            None => "-".to_string(),
            Some(p) => format!(
                "{} ({} vs line {:.1})",
                if p.on_pace { "on pace" } else { "BEHIND" },
                t.figures.open,
                p.target_open
            ),
        };
        out.push_str(&format!(
            "{:<10} {}  {pace:<22} {}\n",
            t.township,
            columns(&t.figures),
            t.township_name
        ));
    }
    if let Some(c) = &r.city {
        out.push_str(&format!("{:<10} {}\n", "city", columns(&c.figures)));
        let named = |codes: &[String]| {
            codes
                .iter()
                .map(|t| format!("{t} {}", config.city.township_name(t)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!("\nworst first: {}\n", named(&c.ranking)));
        if r.inspection_date.is_some() {
            match c.behind.is_empty() {
                true => out.push_str("every township is on pace\n"),
                false => out.push_str(&format!("behind the line: {}\n", named(&c.behind))),
            }
        }
    }
    out
}
