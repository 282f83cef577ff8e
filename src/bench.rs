//! `popsync bench`: end-to-end speed and memory, measured on whole processes the way
//! an operator runs them. A simulated city is served by a `popsync sim` child; each
//! `popsync sync` and `popsync reconcile` is a child of its own whose wall time and
//! peak resident memory (`wait4` rusage) are recorded. Medians of several runs are
//! written to `docs/benchmarks.md`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// `popsync bench` options.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// People in the simulated city.
    #[arg(long, default_value_t = 1_000_000)]
    pub persons: usize,
    /// Runs of each measurement; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Where databases go while measuring.
    #[arg(long, default_value = "target/bench")]
    pub dir: PathBuf,
    /// The report to write.
    #[arg(long, default_value = "docs/benchmarks.md")]
    pub output: PathBuf,
}

/// One child process's cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    wall: Duration,
    peak_rss_mib: f64,
}

/// Runs a child to completion and reads its own rusage.
fn measure(cmd: &mut Command) -> anyhow::Result<Cost> {
    measure_exiting(cmd, 0)
}

/// As [`measure`], for a child whose success is exit code `expected` (`verify` exits 1
/// when it found, and repaired, something).
fn measure_exiting(cmd: &mut Command, expected: i32) -> anyhow::Result<Cost> {
    // Everything the bench wrote before (a gigabyte copied, a run's checkpoint) on disk
    // before the clock starts: unwritten, it competes with the timed run's own writes
    // (a second more for a first reconcile on this machine).
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let t0 = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting a child")?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data filled by the kernel; pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = t0.elapsed();
    if r != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != expected {
        bail!("{cmd:?} failed with status {status}");
    }
    Ok(Cost {
        wall,
        peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
    })
}

/// One `popsync reconcile --as-of` of the store `config` names, measured.
fn reconcile(exe: &Path, config: &Path, as_of: &str) -> anyhow::Result<Cost> {
    measure(Command::new(exe).args([
        "--config",
        config.to_str().unwrap_or_default(),
        "reconcile",
        "--as-of",
        as_of,
    ]))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn spread(v: &[f64]) -> String {
    let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    format!("{min:.2}–{max:.2}")
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let dir = std::path::absolute(&args.dir)?;
    std::fs::create_dir_all(&dir)?;
    eprintln!(
        "bench: generating and serving a city of {} people…",
        args.persons
    );
    let mut sim = start_sim(&exe, args.persons, 0)?;
    let base_url = sim.1.clone();
    eprintln!("bench: a second simulator of the same city hides {HIDDEN} pis records…");
    let hiding = start_sim(&exe, args.persons, HIDDEN);
    let hiding = match hiding {
        Ok(h) => h,
        Err(e) => {
            let _ = sim.0.kill();
            return Err(e);
        }
    };
    let result = measure_all(&exe, &dir, &base_url, &hiding.1, &args);
    for mut child in [sim.0, hiding.0] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut report = result?;
    report.push_str(&run_steps(&dir, args.runs).await?);
    report.push_str(&measure_buckets(&exe, &dir, args.runs).await?);
    std::fs::write(&args.output, &report)
        .with_context(|| format!("writing {}", args.output.display()))?;
    print!("{report}");
    Ok(())
}

/// pis records a verify finds missing and repairs.
const HIDDEN: usize = 1000;

/// A `popsync sim` child serving the bench's city (seed 1), `hide_pis` of its pis
/// records kept out of every answer; returns it with its base URL.
fn start_sim(
    exe: &Path,
    persons: usize,
    hide_pis: usize,
) -> anyhow::Result<(std::process::Child, String)> {
    let mut sim = Command::new(exe)
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "1",
            "--persons",
            &persons.to_string(),
            "--hide-pis",
            &hide_pis.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(sim.stdout.take().expect("piped")).read_line(&mut line)?;
    let base_url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    if !base_url.starts_with("http://") {
        let _ = sim.kill();
        bail!("the simulator did not start: {line:?}");
    }
    Ok((sim, base_url))
}

fn write_config(dir: &Path, base_url: &str) -> anyhow::Result<PathBuf> {
    crate::demo::write_secrets(&dir.join("secrets"))?;
    let db = format!("sqlite://{}", dir.join("popsync.db").display());
    let path = dir.join("popsync.toml");
    std::fs::write(
        &path,
        crate::demo::config_text(&db, base_url, &dir.join("secrets"), &[]),
    )?;
    Ok(path)
}

fn measure_all(
    exe: &Path,
    dir: &Path,
    base_url: &str,
    hiding_url: &str,
    args: &BenchArgs,
) -> anyhow::Result<String> {
    let mut syncs = Vec::new();
    let mut records = 0i64;
    let mut synced_db = None;
    for i in 0..args.runs {
        let run_dir = dir.join(format!("sync-{i}"));
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(&run_dir)?;
        let cfg = write_config(&run_dir, base_url)?;
        eprintln!("bench: sync run {}/{}…", i + 1, args.runs);
        syncs.push(measure(Command::new(exe).args([
            "--config",
            cfg.to_str().unwrap_or_default(),
            "sync",
        ]))?);
        let out = Command::new(exe)
            .args([
                "--config",
                cfg.to_str().unwrap_or_default(),
                "status",
                "--format",
                "json",
            ])
            .output()?;
        let status: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        records = ["psb", "mca", "nhc", "pis"]
            .iter()
            .map(|f| {
                status["feeds"][f]["records"].as_i64().unwrap_or(0)
                    + status["feeds"][f]["quarantined"].as_i64().unwrap_or(0)
            })
            .sum();
        synced_db = Some(run_dir);
    }
    let synced = synced_db.expect("at least one run");
    let as_of = crate::sim::WorldOptions::default().as_of.to_string();
    let mut first = Vec::new();
    let mut second = Vec::new();
    let mut next_day = Vec::new();
    let day_after =
        (crate::sim::WorldOptions::default().as_of + chrono::Duration::days(1)).to_string();
    for i in 0..args.runs {
        let run_dir = dir.join(format!("reconcile-{i}"));
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(&run_dir)?;
        std::fs::copy(synced.join("popsync.db"), run_dir.join("popsync.db"))?;
        let cfg = write_config(&run_dir, base_url)?;
        eprintln!("bench: reconcile run {}/{}…", i + 1, args.runs);
        first.push(reconcile(exe, &cfg, &as_of)?);
        second.push(reconcile(exe, &cfg, &as_of)?);
        // The service's next daily run: one more day of records and grace periods.
        next_day.push(reconcile(exe, &cfg, &day_after)?);
    }
    let (verified, repaired, after_pull) =
        measure_verify(exe, dir, &synced, (base_url, hiding_url), &as_of, args.runs)?;
    let secs = |v: &[Cost]| v.iter().map(|c| c.wall.as_secs_f64()).collect::<Vec<_>>();
    let mem = |v: &[Cost]| v.iter().map(|c| c.peak_rss_mib).collect::<Vec<_>>();
    let sync_s = median(secs(&syncs));
    let rate: Vec<f64> = secs(&syncs).iter().map(|s| records as f64 / s).collect();
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str(&format!(
        "Written by `popsync bench --persons {} --runs {}` (release build). Each figure is a whole\n\
         `popsync` process started the way an operator starts it, against the built-in simulator\n\
         (a separate process) over loopback, into a fresh SQLite file (WAL, `synchronous=FULL`;\n\
         the registry write `NORMAL`), after the bench's own earlier writes are on disk.\n\
         Medians of {} runs; min–max in brackets. Peak memory is the process's maximum\n\
         resident set.\n\n",
        args.persons, args.runs, args.runs
    ));
    out.push_str(&format!(
        "Machine: {} cores. Records served and stored: {records}.\n\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    ));
    out.push_str("| measurement | median | spread | peak memory (median) | target |\n|---|---|---|---|---|\n");
    out.push_str(&format!(
        "| `sync`, all four feeds from empty | {:.1} s ({:.0} records/s) | {} s | {:.0} MiB | ≥ 100,000 records/s, < 256 MiB |\n",
        sync_s,
        median(rate),
        spread(&secs(&syncs)),
        median(mem(&syncs))
    ));
    let row = |what: &str, costs: &[Cost], target: &str| {
        format!(
            "| {what} | {:.2} s | {} s | {:.0} MiB | {target} |\n",
            median(secs(costs)),
            spread(&secs(costs)),
            median(mem(costs))
        )
    };
    for (what, costs, target) in [
        ("`reconcile`, first run", &first, "≤ 5 s, ≤ 512 MiB"),
        (
            "`reconcile`, nothing changed",
            &second,
            "< 3 s, nothing new",
        ),
        (
            "`reconcile`, the next day (as of +1 day)",
            &next_day,
            "≤ 1 s, ≤ 256 MiB",
        ),
        (
            &format!("`reconcile` after a pull that brought {HIDDEN} pis records"),
            &after_pull,
            "≤ 1 s",
        ),
        (
            "`verify`, every feed read whole, nothing to find",
            &verified,
            "< 256 MiB",
        ),
        (
            &format!("`verify --repair`, {HIDDEN} pis records a sync could not see"),
            &repaired,
            "< 256 MiB",
        ),
    ] {
        out.push_str(&row(what, costs, target));
    }
    let ratio: Vec<f64> = first
        .iter()
        .zip(&second)
        .map(|(a, b)| b.wall.as_secs_f64() / a.wall.as_secs_f64())
        .collect();
    out.push_str(&format!(
        "\nSecond reconcile / first reconcile, run by run: median ratio {:.2}.\n",
        median(ratio)
    ));
    let ratio = |later: &[Cost]| {
        median(
            first
                .iter()
                .zip(later)
                .map(|(a, b)| b.wall.as_secs_f64() / a.wall.as_secs_f64())
                .collect(),
        )
    };
    out.push_str(&format!(
        "Next day / first reconcile: median ratio {:.3}. After a pull of {HIDDEN} pis records / first reconcile (of that store and of the full one, run by run): median ratio {:.3}.\n",
        ratio(&next_day),
        ratio(&after_pull)
    ));
    Ok(out)
}

/// `verify` on a copy of the synced store (nothing to find), and `verify --repair` on a
/// store synced from the simulator that hid [`HIDDEN`] pis records, against the one that
/// serves them with their old times; then the reconcile after that repair, which brought
/// the records as a pull would (the store was reconciled before it).
fn measure_verify(
    exe: &Path,
    dir: &Path,
    synced: &Path,
    (base_url, hiding_url): (&str, &str),
    as_of: &str,
    runs: usize,
) -> anyhow::Result<(Vec<Cost>, Vec<Cost>, Vec<Cost>)> {
    let (mut clean, mut repair, mut after) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let run_dir = dir.join(format!("verify-{i}"));
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(&run_dir)?;
        std::fs::copy(synced.join("popsync.db"), run_dir.join("popsync.db"))?;
        let cfg = write_config(&run_dir, base_url)?;
        eprintln!("bench: verify run {}/{runs}…", i + 1);
        clean.push(measure(Command::new(exe).args([
            "--config",
            cfg.to_str().unwrap_or_default(),
            "verify",
        ]))?);

        let run_dir = dir.join(format!("verify-repair-{i}"));
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(&run_dir)?;
        let hidden_cfg = write_config(&run_dir, hiding_url)?;
        eprintln!(
            "bench: sync without {HIDDEN} pis records, then verify --repair {}/{runs}…",
            i + 1
        );
        measure(Command::new(exe).args([
            "--config",
            hidden_cfg.to_str().unwrap_or_default(),
            "sync",
        ]))?;
        reconcile(exe, &hidden_cfg, as_of)?;
        let cfg = write_config(&run_dir, base_url)?;
        repair.push(measure_exiting(
            Command::new(exe).args([
                "--config",
                cfg.to_str().unwrap_or_default(),
                "verify",
                "--repair",
            ]),
            1,
        )?);
        after.push(reconcile(exe, &cfg, as_of)?);
        let _ = std::fs::remove_dir_all(dir.join(format!("verify-{i}")));
    }
    Ok((clean, repair, after))
}

/// Where each reconcile's time went, from the summaries the runs stored (`steps_ms`),
/// and whether the second runs raised nothing new.
async fn run_steps(dir: &Path, runs: usize) -> anyhow::Result<String> {
    let mut first: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let mut second: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let mut next: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let mut opened_again = 0;
    let mut unchanged = 0;
    for i in 0..runs {
        let db = dir.join(format!("reconcile-{i}")).join("popsync.db");
        let store = crate::store::Store::open(&format!("sqlite://{}", db.display())).await?;
        // Newest first: the next day's run, the second run, then the first.
        let recent = store.recent_runs(3).await?;
        store.close().await;
        let [(_, _, _, day_after), (_, _, _, later), (_, _, _, earlier)] = recent.as_slice() else {
            bail!("{} holds fewer than three runs", db.display());
        };
        for (summary, into) in [
            (earlier, &mut first),
            (later, &mut second),
            (day_after, &mut next),
        ] {
            for (step, ms) in summary["steps_ms"].as_object().into_iter().flatten() {
                into.entry(step.clone())
                    .or_default()
                    .push(ms.as_f64().unwrap_or(0.0) / 1000.0);
            }
        }
        opened_again += later["total"]["opened"].as_u64().unwrap_or(0);
        unchanged += usize::from(later["unchanged_since"].is_i64());
    }
    let mut out = String::from(
        "\n## Steps\n\nFrom the summary each run stores (`steps_ms`); medians over the runs, in seconds.\n\n\
         | step | first run | nothing changed | next day |\n|---|---|---|---|\n",
    );
    let steps: std::collections::BTreeSet<&String> = first
        .keys()
        .chain(second.keys())
        .chain(next.keys())
        .collect();
    for step in steps {
        let cell = |m: &std::collections::BTreeMap<String, Vec<f64>>| {
            m.get(step)
                .map(|v| format!("{:.2}", median(v.clone())))
                .unwrap_or_else(|| "–".into())
        };
        out.push_str(&format!(
            "| {step} | {} | {} | {} |\n",
            cell(&first),
            cell(&second),
            cell(&next)
        ));
    }
    out.push_str(&format!(
        "\nSecond runs: {opened_again} tickets opened in all; {unchanged} of {runs} found their inputs unchanged and recomputed nothing.\n"
    ));
    Ok(out)
}

/// A run that recomputes every case through the buckets, with one worker and with two:
/// each on a copy of a measured store after its next-day run, every case made due (as
/// a pull that touched the whole city would), reconciled one more day on. The run holds
/// a bucket's records per worker, not the city's.
async fn measure_buckets(exe: &Path, dir: &Path, runs: usize) -> anyhow::Result<String> {
    let as_of = (crate::sim::WorldOptions::default().as_of + chrono::Duration::days(2)).to_string();
    let mut by_workers: Vec<(u8, Vec<Cost>)> = vec![(1, Vec::new()), (2, Vec::new())];
    for i in 0..runs {
        for (workers, costs) in &mut by_workers {
            let run_dir = dir.join(format!("buckets-{i}-{workers}"));
            let _ = std::fs::remove_dir_all(&run_dir);
            std::fs::create_dir_all(&run_dir)?;
            std::fs::copy(
                dir.join(format!("reconcile-{i}")).join("popsync.db"),
                run_dir.join("popsync.db"),
            )?;
            let db = format!("sqlite://{}", run_dir.join("popsync.db").display());
            let store = crate::store::Store::open(&db).await?;
            store.make_every_case_due().await?;
            store.close().await;
            let cfg = write_config(&run_dir, "http://127.0.0.1:9")?;
            eprintln!(
                "bench: every case in buckets, {workers} worker(s), run {}/{runs}…",
                i + 1
            );
            costs.push(measure(Command::new(exe).args([
                "--config",
                cfg.to_str().unwrap_or_default(),
                "reconcile",
                "--as-of",
                &as_of,
                "--workers",
                &workers.to_string(),
            ]))?);
        }
    }
    let secs = |v: &[Cost]| v.iter().map(|c| c.wall.as_secs_f64()).collect::<Vec<_>>();
    let mut out = String::from(
        "\n## Every case through the buckets\n\nA run whose every case is due (as after a pull that touched the whole city) \
         recomputes them bucket by bucket (`[reconcile] cases_per_bucket`, default 50,000), \
         reading each bucket's records by case.\n\n\
         | workers | median | spread | peak memory (median) |\n|---|---|---|---|\n",
    );
    for (workers, costs) in &by_workers {
        out.push_str(&format!(
            "| {workers} | {:.1} s | {} s | {:.0} MiB |\n",
            median(secs(costs)),
            spread(&secs(costs)),
            median(costs.iter().map(|c| c.peak_rss_mib).collect())
        ));
    }
    let ratio: Vec<f64> = by_workers[0]
        .1
        .iter()
        .zip(&by_workers[1].1)
        .map(|(one, two)| two.wall.as_secs_f64() / one.wall.as_secs_f64())
        .collect();
    out.push_str(&format!(
        "\nTwo workers / one, run by run: median ratio {:.2}.\n",
        median(ratio)
    ));
    Ok(out)
}
