//! `popsync sim`: generate a world and serve it until Ctrl-C or SIGTERM.

use std::io::Write;

use anyhow::Context;
use chrono::NaiveDate;

use super::{Credentials, FaultKind, Faults, SimState, World, WorldOptions};

/// Command-line options of the simulator.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Seed of the generated world.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Population at the start of the feeds.
    #[arg(long, default_value_t = 2000)]
    pub persons: usize,
    /// As-of date of the expected tickets (the data runs 14 days past it).
    #[arg(long, default_value = "2014-09-01")]
    pub as_of: NaiveDate,
    /// Serve the quiet base world only: no discrepancies, look-alikes or malformed records.
    #[arg(long)]
    pub no_inject: bool,
    /// Share of feed requests answered with a fault (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Fault kinds, comma-separated: 5xx,429,5001,cut,slow,reset.
    #[arg(long, default_value = "5xx,429,5001,cut,slow,reset")]
    pub faults: String,
    /// Seed of the fault decisions.
    #[arg(long, default_value_t = 1)]
    pub fault_seed: u64,
    /// How long a slow answer waits, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub slow_ms: u64,
    /// Probability that after a pis response one record is re-saved.
    #[arg(long, default_value_t = 0.0)]
    pub mutate_pis: f64,
    /// About one psb page in ten hands back a cursor two rows early.
    #[arg(long)]
    pub psb_rewind: bool,
    /// pis records of the starting register that share one `modifiedTime` (a data
    /// migration's block, many pages long).
    #[arg(long, default_value_t = 0)]
    pub pis_block: usize,
    /// pis records kept out of every answer (a transaction not yet committed, a late
    /// import): a sync does not see them. Another simulator of the same seed without
    /// this option serves them, with their old times, for `popsync verify`.
    #[arg(long, default_value_t = 0)]
    pub hide_pis: usize,
    /// Write the expected tickets as JSON Lines to this file.
    #[arg(long)]
    pub expected_out: Option<std::path::PathBuf>,
    #[arg(long, default_value = "psb-token")]
    pub psb_token: String,
    #[arg(long, default_value = "mca-key")]
    pub mca_key: String,
    #[arg(long, default_value = "nhc-token")]
    pub nhc_token: String,
    #[arg(long, default_value = "pis-token")]
    pub pis_token: String,
}

/// Generates the world, binds, prints `popsync sim listening on http://ADDR` and
/// serves until Ctrl-C or SIGTERM.
pub async fn run_cli(args: SimArgs) -> anyhow::Result<()> {
    let mut kinds = Vec::new();
    for name in args.faults.split(',').filter(|s| !s.trim().is_empty()) {
        kinds.push(FaultKind::parse(name).with_context(|| {
            format!("unknown fault kind {name:?} (expected 5xx,429,5001,cut,slow,reset)")
        })?);
    }
    let opts = WorldOptions {
        seed: args.seed,
        persons: args.persons,
        as_of: args.as_of,
        inject: !args.no_inject,
        pis_block: args.pis_block,
        ..WorldOptions::default()
    };
    let t0 = std::time::Instant::now();
    let world = tokio::task::spawn_blocking(move || World::generate(&opts))
        .await
        .context("generating the world")?;
    tracing::info!(
        seconds = t0.elapsed().as_secs_f64(),
        expected = world.expected_tickets().len(),
        "sim: world generated"
    );
    if let Some(path) = &args.expected_out {
        let mut out = String::new();
        for t in world.expected_tickets() {
            out.push_str(&serde_json::to_string(t)?);
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))?;
    }
    let faults = Faults {
        rate: args.fault_rate,
        kinds,
        seed: args.fault_seed,
        slow_ms: args.slow_ms,
        mutate_pis: args.mutate_pis,
        psb_rewind: args.psb_rewind,
    };
    let creds = Credentials {
        psb_token: args.psb_token,
        mca_key: args.mca_key,
        nhc_token: args.nhc_token,
        pis_token: args.pis_token,
    };
    let state = SimState::new(world, faults, creds);
    let hidden = state.pis_hide_spread(args.hide_pis);
    if hidden > 0 {
        tracing::info!(hidden, "sim: pis records hidden");
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    {
        let mut so = std::io::stdout().lock();
        writeln!(so, "popsync sim listening on http://{addr}")?;
        so.flush()?;
    }
    super::serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
