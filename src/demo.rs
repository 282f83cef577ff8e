//! `popsync demo`: the whole job on one machine with nothing installed — the built-in
//! simulator with faults, a sync into a fresh SQLite file, a reconciliation and the
//! township lists — and where everything is.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use crate::config::Config;
use crate::run::pull::{sync_feeds, SyncOptions};
use crate::shutdown::Shutdown;
use crate::sim::{Credentials, Faults, SimState, World, WorldOptions};
use crate::store::{Store, TicketFilter};
use crate::tickets::export::{self, ExportFormat};

/// `popsync demo` options.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the database, config and township lists go (replaced if present).
    #[arg(long, default_value = "popsync-demo")]
    pub dir: PathBuf,
    /// People in the simulated city at the feeds' start.
    #[arg(long, default_value_t = 3000)]
    pub persons: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Share of feed requests that fail (5xx, 429, cut bodies, resets, psb 5001, slow).
    #[arg(long, default_value_t = 0.03)]
    pub fault_rate: f64,
}

/// The config a new user would write for the simulator at `base_url`.
pub fn config_text(
    db_url: &str,
    base_url: &str,
    secrets: &Path,
    townships: &[(String, String)],
) -> String {
    let mut names = String::new();
    for (code, name) in townships {
        names.push_str(&format!("\"{code}\" = \"{name}\"\n"));
    }
    format!(
        r#"# Written by `popsync demo` for the built-in simulator.
[database]
url = "{db_url}"

[city]
counties = ["349901"]

[city.townships]
{names}
[feeds.psb]
base_url = "{base_url}"
# The built-in simulator speaks plain HTTP on the loopback.
allow_http = true
token_file = "{s}/psb"
schedule = "0 */15 * * * *"

[feeds.mca]
base_url = "{base_url}"
# The built-in simulator speaks plain HTTP on the loopback.
allow_http = true
api_key_file = "{s}/mca"
schedule = "0 0 * * * *"

[feeds.nhc]
base_url = "{base_url}"
# The built-in simulator speaks plain HTTP on the loopback.
allow_http = true
token_file = "{s}/nhc"
schedule = "0 */15 * * * *"

[feeds.pis]
base_url = "{base_url}"
# The built-in simulator speaks plain HTTP on the loopback.
allow_http = true
token_file = "{s}/pis"
schedule = "0 */15 * * * *"
"#,
        s = secrets.display()
    )
}

/// Writes the simulator's default credentials as secret files.
pub fn write_secrets(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let c = Credentials::default();
    for (name, value) in [
        ("psb", c.psb_token),
        ("mca", c.mca_key),
        ("nhc", c.nhc_token),
        ("pis", c.pis_token),
    ] {
        std::fs::write(dir.join(name), value + "\n")?;
    }
    Ok(())
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = std::path::absolute(&args.dir)?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let t0 = Instant::now();
    println!(
        "1/4 generating a simulated city of {} people (seed {})…",
        args.persons, args.seed
    );
    let opts = WorldOptions {
        seed: args.seed,
        persons: args.persons,
        ..WorldOptions::default()
    };
    let world = World::generate(&opts);
    let expected = world.expected_tickets().len();
    let townships = world.townships();
    let mut faults = Faults::all(args.fault_rate);
    faults.slow_ms = 300;
    let server = crate::sim::spawn(SimState::new(world, faults, Credentials::default())).await?;
    println!(
        "    simulator serving the four feeds at {} with {:.0}% of requests faulted",
        server.base_url(),
        args.fault_rate * 100.0
    );

    let secrets = dir.join("secrets");
    write_secrets(&secrets)?;
    let config_path = dir.join("popsync.toml");
    std::fs::write(
        &config_path,
        config_text(
            &format!("sqlite://{}", dir.join("popsync.db").display()),
            &server.base_url(),
            &secrets,
            &townships,
        ),
    )?;
    let config = Config::load(&config_path)?;
    let store = Store::open(&config.database.url).await?;

    println!(
        "2/4 syncing psb, mca, nhc and pis into {}…",
        dir.join("popsync.db").display()
    );
    let reports = sync_feeds(
        &store,
        &config,
        &[],
        SyncOptions::default(),
        &Shutdown::never(),
    )
    .await;
    for r in &reports {
        let q: u64 = r.streams.iter().map(|s| s.stats.quarantined_new).sum();
        let retries: u64 = r.streams.iter().map(|s| s.retries).sum();
        match &r.result {
            Ok(()) => println!(
                "    {}: {} records, {q} malformed kept aside, {retries} retries",
                r.feed,
                r.new_records()
            ),
            Err(e) => anyhow::bail!("{} failed: {}", r.feed, crate::domain::masked_causes(e)),
        }
    }
    server.stop().await;

    println!("3/4 reconciling as of {}…", opts.as_of);
    let summary = crate::run::reconcile::run(&store, &config, opts.as_of, "popsync demo").await?;
    print!(
        "{}",
        crate::run::reconcile::render_text(&summary, &config.city)
    );

    println!("4/4 writing the township lists…");
    let tickets = store
        .list_tickets(&TicketFilter {
            status: Some(crate::tickets::Status::Open),
            ..TicketFilter::default()
        })
        .await?;
    let as_of = opts.as_of.to_string();
    let lists = dir.join("townships");
    let by_township = export::by_township(&tickets);
    // Each list opens on its township's standing before the inspection, counted as of
    // the demo's date; the city office's workbook ranks them all.
    for (code, list) in &by_township {
        let name = config.city.township_name(code.as_str());
        let title = export::ListTitle::new(&config.city, Some(code.as_str()), &as_of).with_summary(
            store
                .summary(
                    Some(code.as_str()),
                    opts.as_of,
                    &config.city,
                    &config.inspection,
                )
                .await?,
        );
        for format in [ExportFormat::Xlsx, ExportFormat::Csv] {
            export::write(
                &lists.join(format!("{code}-{name}.{}", format.extension())),
                format,
                list,
                &config.city,
                &title,
            )?;
        }
    }
    let title = export::ListTitle::new(&config.city, None, &as_of).with_summary(
        store
            .summary(None, opts.as_of, &config.city, &config.inspection)
            .await?,
    );
    export::write(
        &dir.join("city.xlsx"),
        ExportFormat::Xlsx,
        &tickets,
        &config.city,
        &title,
    )?;
    export::write(
        &dir.join("tickets.jsonl"),
        ExportFormat::Jsonl,
        &tickets,
        &config.city,
        &title,
    )?;
    store.close().await;
    println!();
    println!(
        "done in {:.1} s: {} open tickets (the simulator injected {expected}).",
        t0.elapsed().as_secs_f64(),
        tickets.len()
    );
    println!("  database:        {}", dir.join("popsync.db").display());
    println!("  config:          {}", config_path.display());
    println!("  all tickets:     {}", dir.join("tickets.jsonl").display());
    println!(
        "  city workbook:   {}  (townships ranked, burn-downs)",
        dir.join("city.xlsx").display()
    );
    println!(
        "  township lists:  {}  (.xlsx and .csv per township)",
        lists.display()
    );
    println!("  next: popsync --config {} status", config_path.display());
    Ok(())
}
