//! `popsync run`: the service. One task per feed pulls on its cron schedule (never two
//! pulls of one feed at once), one task reconciles on its schedule and after a pull
//! that brought records, one HTTP listener serves metrics, health, the API and the
//! page, and a watchdog tells systemd the loops make progress. Every task stops on
//! the one shutdown signal.

mod health;
mod schedule;
mod watchdog;

pub use health::{router as health_router, HealthState};
pub use schedule::next_fire;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::config::{Config, FeedConfig};
use crate::domain::today_local;
use crate::shutdown::{self, Shutdown, ShutdownTrigger};
use crate::store::Store;
use crate::sync::{sync_feed, Heartbeat, SyncOptions};

/// What each loop shares.
#[derive(Clone)]
struct Shared {
    store: Store,
    config: Arc<Config>,
    reconcile_wanted: Arc<Notify>,
}

/// Runs the service until SIGTERM/SIGINT. Returns once every task has stopped or the
/// shutdown timeout passed.
pub async fn run(config: Config, store: Store, extra_routes: axum::Router) -> anyhow::Result<()> {
    let (trigger, shutdown) = shutdown::channel();
    let signal_trigger = trigger.clone();
    tokio::spawn(async move {
        shutdown::signal().await;
        tracing::info!("shutdown requested; finishing work in flight");
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
    let shared = Shared {
        store: store.clone(),
        config: config.clone(),
        reconcile_wanted: Arc::new(Notify::new()),
    };
    let prometheus = health::install_metrics();
    let listener = tokio::net::TcpListener::bind(&config.http.listen)
        .await
        .with_context(|| format!("binding [http] listen = {}", config.http.listen))?;
    let addr = listener.local_addr()?;
    let state = HealthState {
        store: store.clone(),
        config: config.clone(),
        prometheus,
    };
    let app = health::router(state).merge(extra_routes);
    let mut tasks = JoinSet::new();
    let mut beats: Vec<(String, Heartbeat)> = Vec::new();
    {
        let mut sd = shutdown.clone();
        tasks.spawn(async move {
            let r = axum::serve(listener, app)
                .with_graceful_shutdown(async move { sd.recv().await })
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "the HTTP listener failed");
            }
            "http".to_string()
        });
    }
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
    tasks.spawn(watchdog::run(beats, shutdown.clone()));
    tracing::info!(listen = %addr, feeds = config.feeds.len(), "popsync is running");
    watchdog::ready();

    let mut sd = shutdown.clone();
    sd.recv().await;
    drop(trigger);
    watchdog::stopping();
    let deadline = Duration::from_secs(config.daemon.shutdown_timeout_secs);
    let drained = tokio::time::timeout(deadline, async {
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(name) => tracing::debug!(task = %name, "task stopped"),
                Err(e) => tracing::error!(error = %e, "a task panicked"),
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(timeout_secs = deadline.as_secs(), "work still in flight at the shutdown timeout was abandoned; it resumes from the stored cursor at the next start");
        tasks.abort_all();
    }
    store.close().await;
    tracing::info!("popsync stopped");
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
        let now = crate::domain::now_local();
        if now >= deadline {
            return true;
        }
        let wait = (deadline - now)
            .to_std()
            .unwrap_or_default()
            .min(Duration::from_secs(5));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {},
            _ = shutdown.recv() => return false,
        }
    }
}

async fn feed_loop(
    shared: Shared,
    feed: FeedConfig,
    hb: Heartbeat,
    mut shutdown: Shutdown,
) -> String {
    let name = feed.name.as_str();
    loop {
        let Some(next) = next_fire(&feed.schedule) else {
            tracing::error!(feed = name, "the schedule fires no more; this feed stops");
            break;
        };
        tracing::info!(feed = name, next_run = %next.to_rfc3339(), "next pull scheduled");
        if !sleep_until(next, &hb, &mut shutdown).await {
            break;
        }
        let options = SyncOptions {
            heartbeat: Some(hb.clone()),
            ..SyncOptions::default()
        };
        let report = sync_feed(&shared.store, &feed, options, shutdown.clone()).await;
        hb.beat();
        if report.new_records() > 0 {
            shared.reconcile_wanted.notify_one();
        }
        if shutdown.is_shutdown() {
            break;
        }
    }
    format!("feed {name}")
}

async fn reconcile_loop(shared: Shared, hb: Heartbeat, mut shutdown: Shutdown) -> String {
    while let Some(next) = next_fire(&shared.config.reconcile_schedule) {
        tracing::info!(next_run = %next.to_rfc3339(), "next reconciliation scheduled");
        let scheduled = sleep_until(next, &hb, &mut shutdown);
        tokio::select! {
            go = scheduled => if !go { break },
            _ = shared.reconcile_wanted.notified() => {
                // Let other feeds' pulls of the same moment land first.
                tokio::time::sleep(Duration::from_secs(1)).await;
            },
        }
        hb.beat();
        // A run in flight at shutdown finishes: it is one transaction and bounded.
        match crate::reconciliation::run(
            &shared.store,
            &shared.config,
            today_local(),
            "popsync run",
        )
        .await
        {
            Ok(summary) => health::record_open_tickets(&shared.store, &summary).await,
            Err(e) => {
                tracing::error!(error = %e, action = "check the database; the next scheduled run retries", "reconciliation failed")
            }
        }
        hb.beat();
        if shutdown.is_shutdown() {
            break;
        }
    }
    "reconcile".to_string()
}
