//! The daemon's own view of its feeds: what the store cannot know because it lives
//! only in the running process — when each feed is pulled next, whether a pull is in
//! flight, and whether the last failure is one retrying can fix. The feed loops write
//! it; `/readyz`, `/daemon` (read by `popsync status`) and the metrics read it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::domain::{format_timestamp, now_local};
use crate::run::pull::{FeedReport, SyncError};

/// One feed as the daemon sees it. Serialised as-is for `/daemon`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FeedView {
    /// The cron schedule as written in the config.
    pub schedule: String,
    /// When the next pull starts (RFC 3339, China Standard Time).
    pub next_run_at: Option<String>,
    /// A pull is in flight now.
    pub pulling: bool,
    /// `ok`, `failed` or `interrupted`; `None` before the first pull of this process.
    pub last_outcome: Option<String>,
    pub last_pull_at: Option<String>,
    pub last_pull_new_records: u64,
    pub last_pull_duration_ms: u64,
    /// The last pull's error, as logged.
    pub last_error: Option<String>,
    /// True when the last error is one an operator must fix (credentials refused, an
    /// answer popsync cannot use, the database); false when the next pull may succeed.
    pub needs_operator: bool,
    /// Pulls in a row that failed.
    pub consecutive_failures: u64,
}

/// The whole view; `started_at` lets readiness judge a feed that never succeeded.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DaemonView {
    pub started_at: String,
    pub feeds: BTreeMap<String, FeedView>,
}

/// Shared between the loops and the HTTP handlers. Locks are held for a copy only.
#[derive(Clone, Debug, Default)]
pub struct SharedView(Arc<Mutex<DaemonView>>);

impl SharedView {
    /// A view with every configured feed present and nothing run yet.
    pub fn new(config: &Config) -> SharedView {
        let feeds = config
            .feeds
            .iter()
            .map(|f| {
                (
                    f.name.as_str().to_string(),
                    FeedView {
                        schedule: f.schedule_text.clone(),
                        ..FeedView::default()
                    },
                )
            })
            .collect();
        SharedView(Arc::new(Mutex::new(DaemonView {
            started_at: format_timestamp(now_local()),
            feeds,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, DaemonView> {
        // A panic while holding the lock leaves plain data behind: keep serving it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the whole view.
    pub fn snapshot(&self) -> DaemonView {
        self.lock().clone()
    }

    pub fn set_next_run(&self, feed: &str, next: Option<String>) {
        if let Some(f) = self.lock().feeds.get_mut(feed) {
            f.next_run_at = next;
        }
    }

    pub fn set_pulling(&self, feed: &str) {
        if let Some(f) = self.lock().feeds.get_mut(feed) {
            f.pulling = true;
            f.next_run_at = None;
        }
    }

    /// Records how a pull ended.
    pub fn record(&self, report: &FeedReport) {
        let mut view = self.lock();
        let Some(f) = view.feeds.get_mut(report.feed.as_str()) else {
            return;
        };
        f.pulling = false;
        f.last_pull_at = Some(format_timestamp(now_local()));
        f.last_pull_new_records = report.new_records();
        f.last_pull_duration_ms = report.duration.as_millis() as u64;
        match &report.result {
            Ok(()) => {
                f.last_outcome = Some("ok".into());
                f.last_error = None;
                f.needs_operator = false;
                f.consecutive_failures = 0;
            }
            // Stopped by shutdown: says nothing about the feed's health.
            Err(SyncError::Interrupted { .. }) => f.last_outcome = Some("interrupted".into()),
            Err(e) => {
                f.last_outcome = Some("failed".into());
                f.last_error = Some(crate::domain::masked_causes(&e));
                f.needs_operator = e.needs_operator();
                f.consecutive_failures += 1;
            }
        }
    }
}
