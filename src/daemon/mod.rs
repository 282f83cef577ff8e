//! `popsync run`: the service. One task per feed pulls on its cron schedule (never two
//! pulls of one feed at once, since a feed's task awaits its pull before it sleeps
//! again), one task reconciles on its schedule and after a pull that brought records,
//! one HTTP listener serves metrics, health, the daemon's view, the API and the page,
//! and a watchdog tells systemd the loops make progress. Every task has a name, is
//! owned by the one `JoinSet` here, and stops on the one shutdown signal.
//!
//! Invariants: a slow or failing feed only ever delays its own task; nothing here
//! blocks on another feed. A page in flight at shutdown is abandoned (nothing of it
//! was committed; the next start resumes from the stored cursor), a reconciliation in
//! flight finishes (it is one transaction) unless the shutdown timeout passes first.

mod health;
mod listen;
mod schedule;
mod view;
mod watchdog;

pub use health::{
    install_metrics, seconds_since_newest_record, seconds_since_success, HealthState,
};
pub use schedule::next_fire;
pub use view::{DaemonView, FeedView, SharedView};

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::config::{Config, FeedConfig};
use crate::domain::{format_timestamp, now_local, today_local};
use crate::run::pull::{sync_feed, Heartbeat, SyncOptions};
use crate::shutdown::{self, Shutdown, ShutdownTrigger};
use crate::store::Store;

/// Idle loops beat at least this often, so the watchdog can tell idle from stuck.
const IDLE_BEAT: Duration = Duration::from_secs(5);

/// What each loop shares.
#[derive(Clone)]
struct Shared {
    store: Store,
    config: Arc<Config>,
    view: SharedView,
    reconcile_wanted: Arc<Notify>,
    /// Held by a reconciliation and by a full check: a check never compares a store
    /// that a run is halfway through writing.
    reconciling: Arc<tokio::sync::Mutex<()>>,
}

/// Runs the service until SIGTERM/SIGINT. Returns once every task has stopped or the
/// shutdown timeout passed; either way the process then exits 0.
pub async fn run(config: Config, store: Store, extra_routes: axum::Router) -> anyhow::Result<()> {
    let (trigger, shutdown) = shutdown::channel();
    let signal_trigger = trigger.clone();
    tokio::spawn(async move {
        shutdown::signal().await;
        tracing::info!(
            "shutdown requested; no new work is started, work in flight finishes or is abandoned"
        );
        signal_trigger.trigger();
    });
    serve(config, store, extra_routes, trigger, shutdown).await
}

/// The service with an explicit shutdown signal (tests trigger it themselves).
pub async fn serve(
    config: Config,
    store: Store,
    extra_routes: axum::Router,
    trigger: ShutdownTrigger,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let view = SharedView::new(&config);
    let shared = Shared {
        store: store.clone(),
        config: config.clone(),
        view: view.clone(),
        reconcile_wanted: Arc::new(Notify::new()),
        reconciling: Arc::new(tokio::sync::Mutex::new(())),
    };
    let prometheus = health::install_metrics();
    health::describe_metrics(&config);
    let bind = |key: &'static str, addr: String| async move {
        tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("config key `{key}`: cannot listen on {addr}"))
    };
    let listener = bind("http.listen", config.http.listen.clone()).await?;
    let admin_listener = bind("http.admin_listen", config.http.admin_listen.clone()).await?;
    let addr = listener.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;
    let tls = listen::tls_acceptor(&config.http)?;
    let limits = listen::Limits::of(&config.http);
    let state = HealthState::new(store.clone(), config.clone(), prometheus, view.clone());
    let township_app = health::public_router().merge(extra_routes);
    let mut tasks: JoinSet<&'static str> = JoinSet::new();
    let mut beats: Vec<(String, Heartbeat)> = Vec::new();
    let served_tls = tls.is_some();
    tasks.spawn({
        let shutdown = shutdown.clone();
        async move {
            listen::serve(listener, township_app, limits, tls, "townships", shutdown).await;
            "http"
        }
    });
    tasks.spawn({
        let shutdown = shutdown.clone();
        let app = health::admin_router(state);
        async move {
            listen::serve(admin_listener, app, limits, None, "admin", shutdown).await;
            "admin http"
        }
    });
    for feed in &config.feeds {
        let hb = Heartbeat::default();
        beats.push((format!("feed {}", feed.name), hb.clone()));
        tasks.spawn(feed_loop(
            shared.clone(),
            feed.clone(),
            hb,
            shutdown.clone(),
        ));
    }
    let hb = Heartbeat::default();
    beats.push(("reconcile".into(), hb.clone()));
    tasks.spawn(reconcile_loop(shared.clone(), hb, shutdown.clone()));
    let hb = Heartbeat::default();
    beats.push(("verify".into(), hb.clone()));
    tasks.spawn(verify_loop(shared.clone(), hb, shutdown.clone()));
    let hb = Heartbeat::default();
    beats.push(("full check".into(), hb.clone()));
    tasks.spawn(full_check_loop(shared.clone(), hb, shutdown.clone()));
    tasks.spawn(watchdog::run(beats, shutdown.clone()));
    tasks.spawn(health::upkeep(shutdown.clone()));
    tracing::info!(
        listen = %addr,
        tls = served_tls,
        admin_listen = %admin_addr,
        feeds = %config.feeds.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(","),
        shutdown_timeout_secs = config.daemon.shutdown_timeout_secs,
        "popsync is running"
    );
    watchdog::ready();

    let mut sd = shutdown.clone();
    sd.recv().await;
    let stop_started = Instant::now();
    drop(trigger);
    watchdog::stopping();
    // Leave a moment of the budget for closing the store.
    let budget = Duration::from_secs(config.daemon.shutdown_timeout_secs);
    let drain = budget.saturating_sub(Duration::from_millis(500));
    let drained = tokio::time::timeout(drain, async {
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(name) => tracing::debug!(task = name, "task stopped"),
                Err(e) => tracing::error!(error = %e, action = "report this as a bug with the log around it", "a task panicked"),
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            timeout_secs = budget.as_secs(),
            "work still in flight at the shutdown timeout was abandoned; it resumes from the stored cursor at the next start"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    let left = budget
        .saturating_sub(stop_started.elapsed())
        .max(Duration::from_millis(200));
    if tokio::time::timeout(left, store.close()).await.is_err() {
        tracing::warn!(
            "the store did not close in time; SQLite recovers from its journal at the next start"
        );
    }
    tracing::info!(
        stopped_in_ms = stop_started.elapsed().as_millis() as u64,
        "popsync stopped"
    );
    Ok(())
}

/// Sleeps until `deadline`, beating the heartbeat; false when shutdown came first.
async fn sleep_until(
    deadline: chrono::DateTime<chrono::FixedOffset>,
    hb: &Heartbeat,
    shutdown: &mut Shutdown,
) -> bool {
    loop {
        hb.beat();
        let now = now_local();
        if now >= deadline {
            return true;
        }
        let wait = (deadline - now).to_std().unwrap_or_default().min(IDLE_BEAT);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {},
            _ = shutdown.recv() => return false,
        }
    }
}

/// One feed: sleep until its schedule fires, pull it to its current end, repeat. A
/// firing missed while a pull ran is skipped, not queued: the next pull reads from the
/// stored cursor anyway.
async fn feed_loop(
    shared: Shared,
    feed: FeedConfig,
    hb: Heartbeat,
    mut shutdown: Shutdown,
) -> &'static str {
    let name = feed.name.as_str();
    // When the feed last succeeded, to tell a passing fault from a stale feed.
    let mut last_success = Instant::now();
    let mut stale_reported = false;
    loop {
        let Some(next) = next_fire(&feed.schedule) else {
            tracing::error!(feed = name, schedule = %feed.schedule_text, action = "fix the feed's schedule in the config and restart popsync", "the schedule fires no more; this feed is no longer pulled");
            shared.view.set_next_run(name, None);
            // Stay alive (beating) so the watchdog does not mistake this for a hang.
            while sleep_until(now_local() + chrono::Duration::days(1), &hb, &mut shutdown).await {}
            break;
        };
        let next_text = format_timestamp(next);
        shared.view.set_next_run(name, Some(next_text.clone()));
        metrics::gauge!("popsync_feed_next_run_timestamp_seconds", "feed" => name)
            .set(next.timestamp() as f64);
        tracing::info!(feed = name, next_run = %next_text, "next pull scheduled");
        if !sleep_until(next, &hb, &mut shutdown).await {
            break;
        }
        shared.view.set_pulling(name);
        let options = SyncOptions {
            heartbeat: Some(hb.clone()),
            ..SyncOptions::default()
        };
        let report = sync_feed(&shared.store, &feed, options, shutdown.clone()).await;
        hb.beat();
        shared.view.record(&report);
        match &report.result {
            Ok(()) => {
                if stale_reported {
                    tracing::info!(feed = name, "feed pulls succeed again");
                }
                last_success = Instant::now();
                stale_reported = false;
            }
            Err(e)
                if !e.needs_operator()
                    && !matches!(e, crate::run::pull::SyncError::Interrupted { .. }) =>
            {
                // Retrying could fix it, but not forever: once the feed has had no
                // success for longer than its threshold, an operator must look.
                let failing_for = last_success.elapsed().as_secs();
                if failing_for > feed.stale_after_secs && !stale_reported {
                    stale_reported = true;
                    tracing::error!(
                        feed = name,
                        failing_for_secs = failing_for,
                        stale_after_secs = feed.stale_after_secs,
                        error = %crate::domain::masked_causes(&e),
                        action = "the department has been unreachable past the feed's stale_after_secs: check its service and the network path, then run `popsync sync --feed NAME`",
                        "feed is stale"
                    );
                }
            }
            Err(_) => {}
        }
        if report.new_records() > 0 {
            shared.reconcile_wanted.notify_one();
        }
        if shutdown.is_shutdown() {
            break;
        }
    }
    match feed.name {
        crate::config::FeedName::Psb => "feed psb",
        crate::config::FeedName::Mca => "feed mca",
        crate::config::FeedName::Nhc => "feed nhc",
        crate::config::FeedName::Pis => "feed pis",
    }
}

/// Reconciles on `[reconcile] schedule`, and soon after any pull that stored records.
async fn reconcile_loop(shared: Shared, hb: Heartbeat, mut shutdown: Shutdown) -> &'static str {
    let mut next = next_fire(&shared.config.reconcile_schedule);
    loop {
        let Some(at) = next else {
            tracing::error!(schedule = %shared.config.reconcile.schedule, action = "fix [reconcile] schedule and restart popsync", "the reconcile schedule fires no more; reconciliation runs only after pulls that bring records");
            break;
        };
        tracing::info!(next_run = %format_timestamp(at), "next reconciliation scheduled");
        metrics::gauge!("popsync_reconcile_next_run_timestamp_seconds").set(at.timestamp() as f64);
        let reason = tokio::select! {
            go = sleep_until(at, &hb, &mut shutdown) => {
                if !go {
                    break;
                }
                next = next_fire(&shared.config.reconcile_schedule);
                "schedule"
            }
            _ = shared.reconcile_wanted.notified() => {
                // Let other feeds' pulls of the same moment land first.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {},
                    _ = shutdown.recv() => break,
                }
                "new records"
            }
        };
        if shutdown.is_shutdown() {
            break;
        }
        hb.beat();
        // A run in flight at shutdown finishes: it is one transaction and bounded; if
        // the shutdown timeout passes first it is dropped and rolls back.
        let reconciling = shared.reconciling.lock().await;
        let result =
            crate::run::reconcile::run(&shared.store, &shared.config, today_local(), "popsync run")
                .await;
        drop(reconciling);
        match result {
            Ok(summary) => {
                tracing::debug!(
                    run_id = summary.run_id,
                    trigger = reason,
                    "reconciliation triggered"
                );
                health::refresh_ticket_gauges(&shared.store).await;
            }
            Err(e) => tracing::error!(
                error = %crate::domain::masked_causes(&e),
                trigger = reason,
                action = "check disk space and the database server; the next scheduled run retries",
                "reconciliation failed"
            ),
        }
        hb.beat();
        if next.is_some_and(|n| n <= now_local()) {
            next = next_fire(&shared.config.reconcile_schedule);
        }
    }
    "reconcile"
}

/// Reads every feed whole on `[verify] schedule` and compares it with the store
/// (`popsync verify`); a repair that stored records asks for a reconciliation.
async fn verify_loop(shared: Shared, hb: Heartbeat, mut shutdown: Shutdown) -> &'static str {
    loop {
        let Some(at) = next_fire(&shared.config.verify_schedule) else {
            tracing::error!(schedule = %shared.config.verify.schedule, action = "fix [verify] schedule and restart popsync", "the verify schedule fires no more; run `popsync verify` by hand");
            while sleep_until(now_local() + chrono::Duration::days(1), &hb, &mut shutdown).await {}
            break;
        };
        tracing::info!(next_run = %format_timestamp(at), "next verify scheduled");
        metrics::gauge!("popsync_verify_next_run_timestamp_seconds").set(at.timestamp() as f64);
        if !sleep_until(at, &hb, &mut shutdown).await {
            break;
        }
        let options = crate::run::verify::VerifyOptions {
            repair: shared.config.verify.repair,
            sync: SyncOptions {
                heartbeat: Some(hb.clone()),
                ..SyncOptions::default()
            },
        };
        let report = crate::run::verify::verify_feeds(
            &shared.store,
            &shared.config,
            &[],
            &options,
            &shutdown,
        )
        .await;
        hb.beat();
        if report.repaired() > 0 {
            shared.reconcile_wanted.notify_one();
        }
        if shutdown.is_shutdown() {
            break;
        }
    }
    "verify"
}

/// Recomputes the whole city on `[reconcile] full_schedule` and compares it with the
/// stored tickets and registry (`popsync reconcile --full`); the check's event logs
/// an ERROR and sets the gauges when they differ.
async fn full_check_loop(shared: Shared, hb: Heartbeat, mut shutdown: Shutdown) -> &'static str {
    loop {
        let Some(at) = next_fire(&shared.config.reconcile_full_schedule) else {
            tracing::error!(schedule = %shared.config.reconcile.full_schedule, action = "fix [reconcile] full_schedule and restart popsync", "the full-check schedule fires no more; run `popsync reconcile --full` by hand");
            while sleep_until(now_local() + chrono::Duration::days(1), &hb, &mut shutdown).await {}
            break;
        };
        tracing::info!(next_run = %format_timestamp(at), "next full check scheduled");
        metrics::gauge!("popsync_reconcile_full_next_run_timestamp_seconds")
            .set(at.timestamp() as f64);
        if !sleep_until(at, &hb, &mut shutdown).await {
            break;
        }
        let reconciling = shared.reconciling.lock().await;
        hb.beat();
        // Its outcome is logged and counted by the check's event; nothing else to do.
        let _ = crate::run::full_check::full_check(&shared.store, &shared.config, None).await;
        drop(reconciling);
        hb.beat();
        if shutdown.is_shutdown() {
            break;
        }
    }
    "full check"
}
