//! The run layer's telemetry as typed events: each event writes its log line and its
//! metrics in one place, so that what operators read and what they graph cannot drift
//! apart, and the runs themselves only say what happened.

use std::time::Duration;

use super::pull::{StreamReport, SyncError};
use crate::config::FeedName;
use crate::domain::{mask_ids_in, masked_causes, now_local};
use crate::records::Batch;
use crate::store::{CommitStats, VerifyCounts};

/// One feed's pull ended: ok, failed or stopped by shutdown.
pub(crate) struct PollFinished<'a> {
    pub feed: FeedName,
    pub streams: &'a [StreamReport],
    pub result: &'a Result<(), SyncError>,
    pub duration: Duration,
}

impl PollFinished<'_> {
    /// The pull's duration, outcome and the feed's up/down state for the metrics, and
    /// the one line per feed poll: what it brought, where its cursors moved, how long it
    /// took and how it ended. A poll that failed says so at WARN when the next pull may
    /// succeed, at ERROR with what to do when an operator must act.
    pub fn emit(&self) {
        let name = self.feed.as_str();
        metrics::histogram!("popsync_feed_pull_seconds", "feed" => name)
            .record(self.duration.as_secs_f64());
        let outcome = match self.result {
            Ok(()) => "ok",
            Err(SyncError::Interrupted { .. }) => "interrupted",
            Err(_) => "failed",
        };
        metrics::counter!("popsync_feed_polls_total", "feed" => name, "outcome" => outcome)
            .increment(1);
        match self.result {
            Ok(()) => {
                metrics::gauge!("popsync_feed_up", "feed" => name).set(1.0);
                metrics::gauge!("popsync_feed_last_success_timestamp_seconds", "feed" => name)
                    .set(now_local().timestamp() as f64);
            }
            Err(SyncError::Interrupted { .. }) => {}
            Err(_) => {
                metrics::gauge!("popsync_feed_up", "feed" => name).set(0.0);
                metrics::counter!("popsync_feed_failures_total", "feed" => name).increment(1);
            }
        }
        self.log();
    }

    fn log(&self) {
        let sum = |f: fn(&StreamReport) -> u64| self.streams.iter().map(f).sum::<u64>();
        let new = sum(|s| s.stats.new);
        let already_seen = sum(|s| s.stats.seen);
        let quarantined = sum(|s| s.stats.quarantined_new);
        let pages = sum(|s| s.pages);
        let retries = sum(|s| s.retries);
        let cursor = self
            .streams
            .iter()
            .map(|s| {
                let from = s.cursor_before.as_deref().unwrap_or("start");
                let to = s.cursor_after.as_deref().unwrap_or("start");
                if from == to {
                    format!("{}={to} (unmoved)", s.stream)
                } else {
                    format!("{}={from}->{to}", s.stream)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let cursor = mask_ids_in(&cursor);
        let duration_ms = self.duration.as_millis() as u64;
        let feed = self.feed.as_str();
        macro_rules! poll {
        ($level:ident, $outcome:expr, $($extra:tt)*) => {
            tracing::$level!(
                feed, outcome = $outcome, new, already_seen, quarantined, pages, retries,
                cursor = %cursor, duration_ms, $($extra)*
            )
        };
    }
        match self.result {
            Ok(()) => poll!(info, "ok", "feed poll"),
            Err(SyncError::Interrupted { .. }) => {
                poll!(
                    info,
                    "interrupted",
                    "feed poll stopped by shutdown; the next start resumes from the stored cursor"
                )
            }
            Err(e) if !e.needs_operator() => poll!(
                warn, "failed", error = %masked_causes(e), next = "the next scheduled pull resumes from the stored cursor",
                "feed poll failed after every retry"
            ),
            Err(e) => {
                poll!(error, "failed", error = %masked_causes(e), action = e.hint(), "feed poll failed")
            }
        }
    }
}

/// One group of pages committed for a stream.
pub(crate) struct PagesStored<'a> {
    pub stream: &'static str,
    pub batches: &'a [Batch],
    pub stats: CommitStats,
}

impl PagesStored<'_> {
    /// The records counted for the metrics; each malformed record at DEBUG (masked), and
    /// one WARN per commit that kept any aside: the department's data, not popsync's
    /// fault, and `popsync quarantine` lists the records themselves.
    pub fn emit(&self) {
        let (stream, stats) = (self.stream, self.stats);
        let feed = stream.split('.').next().unwrap_or(stream);
        metrics::counter!("popsync_records_ingested_total", "feed" => feed.to_string())
            .increment(stats.new);
        metrics::counter!("popsync_records_quarantined_total", "feed" => feed.to_string())
            .increment(stats.quarantined_new);
        if let Some(t) = self
            .batches
            .iter()
            .filter_map(|b| b.newest_record_at.as_deref())
            .max()
        {
            tracing::trace!(stream, pages = self.batches.len(), newest = %t, "pages stored");
        }
        for m in self.batches.iter().flat_map(|b| &b.malformed) {
            tracing::debug!(stream, record = %mask_ids_in(mask_key(&m.key)), reason = %mask_ids_in(&m.reason), "malformed record quarantined");
        }
        if stats.quarantined_new > 0 {
            tracing::warn!(
                stream,
                count = stats.quarantined_new,
                see = %format!("popsync quarantine --feed {feed}"),
                "malformed records kept aside; the department should correct them"
            );
        }
    }
}

/// Record keys are register numbers, never ID numbers, but a digest key is shortened.
fn mask_key(key: &str) -> &str {
    key.get(..23).unwrap_or(key)
}

/// A feed request failed and will be tried again: a WARN, not yet an error.
pub(crate) struct RetryScheduled<'a> {
    pub feed: FeedName,
    pub error: &'a crate::feeds::FeedError,
    pub retry_in: Duration,
}

impl RetryScheduled<'_> {
    pub fn emit(&self) {
        metrics::counter!("popsync_feed_retries_total", "feed" => self.feed.as_str()).increment(1);
        tracing::warn!(
            feed = %self.feed,
            error = %masked_causes(self.error),
            retry_in_ms = self.retry_in.as_millis() as u64,
            "feed request failed; retrying"
        );
    }
}

/// One reconciliation run finished.
pub(crate) struct ReconcileFinished<'a> {
    pub summary: &'a super::reconcile::RunSummary,
    pub elapsed: Duration,
}

impl ReconcileFinished<'_> {
    /// The one INFO line per run, and its duration for the metrics.
    pub fn emit(&self) {
        let (slow, slow_ms) = self.summary.slowest_step();
        metrics::histogram!("popsync_reconcile_seconds").record(self.elapsed.as_secs_f64());
        let cases = &self.summary.cases;
        metrics::gauge!("popsync_reconcile_cases_recomputed").set(cases.cases_recomputed as f64);
        metrics::counter!("popsync_reconcile_records_placed_total").increment(cases.records_placed);
        tracing::info!(
            run_id = self.summary.run_id,
            as_of = %self.summary.as_of,
            unchanged_since_run = self.summary.unchanged_since,
            opened = self.summary.total.opened,
            reopened = self.summary.total.reopened,
            still_open = self.summary.total.still_open,
            resolved = self.summary.total.resolved,
            withdrawn = self.summary.total.withdrawn,
            records_placed = cases.records_placed,
            cases_recomputed = cases.cases_recomputed,
            every_case = cases.every_case,
            open_by_kind = %self.summary.open_by_kind.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
            slowest_step = slow,
            slowest_step_ms = slow_ms,
            duration_ms = self.elapsed.as_millis() as u64,
            "reconciliation finished"
        );
    }
}

/// One feed verified (or not: the read failed or was stopped).
pub(crate) struct VerifyFinished<'a> {
    pub feed: FeedName,
    pub repair: bool,
    pub result: &'a Result<VerifyCounts, SyncError>,
}

impl VerifyFinished<'_> {
    /// The feed's verify gauges, and the one line per verified feed. Missing or changed
    /// records are a WARN: the store held less than the department serves, which only a
    /// verify can find.
    pub fn emit(&self) {
        let name = self.feed.as_str();
        match self.result {
            Ok(c) => {
                for (what, v) in [
                    ("served", c.served),
                    ("stored", c.stored),
                    ("missing", c.missing),
                    ("changed", c.changed),
                    ("extra", c.extra),
                    ("repaired", c.repaired),
                ] {
                    metrics::gauge!(format!("popsync_verify_{what}"), "feed" => name).set(v as f64);
                }
                metrics::gauge!("popsync_verify_last_run_timestamp_seconds", "feed" => name)
                    .set(crate::domain::now_local().timestamp() as f64);
                let (served, stored, missing, changed, extra, repaired) = (
                    c.served, c.stored, c.missing, c.changed, c.extra, c.repaired,
                );
                if c.missing + c.changed > 0 {
                    let next = if self.repair {
                        "stored now; reconciliation follows"
                    } else {
                        "run `popsync verify --repair` to store them"
                    };
                    tracing::warn!(
                        feed = name,
                        served,
                        stored,
                        missing,
                        changed,
                        extra,
                        repaired,
                        next,
                        "verify found records the store lacks or holds otherwise"
                    );
                } else {
                    tracing::info!(
                        feed = name,
                        served,
                        stored,
                        missing,
                        changed,
                        extra,
                        "verify: the store matches the feed"
                    );
                }
            }
            Err(SyncError::Interrupted { .. }) => {
                tracing::info!(
                    feed = name,
                    "verify stopped by shutdown; repairs made so far are kept"
                )
            }
            Err(e) => {
                tracing::warn!(feed = name, error = %masked_causes(e), "verify could not read the feed whole; nothing was compared past the failure")
            }
        }
    }
}

/// A full check (`popsync reconcile --full`) ended: equal, different, or it could not
/// compare.
pub(crate) struct FullCheckFinished<'a> {
    pub result: &'a Result<super::full_check::FullCheck, super::full_check::FullCheckError>,
    pub elapsed: Duration,
}

impl FullCheckFinished<'_> {
    /// The full-check gauges, and its one line. A difference is an ERROR with what to
    /// do, counts only (no ticket or person named): the stored state is not what
    /// reconciliation gives, which only a bug or an edit behind popsync's back explains.
    pub fn emit(&self) {
        let elapsed_ms = self.elapsed.as_millis() as u64;
        match self.result {
            Ok(c) => {
                let (tickets, registry) = (c.tickets.differences(), c.registry.differences());
                metrics::gauge!("popsync_reconcile_full_equal").set(if c.equal {
                    1.0
                } else {
                    0.0
                });
                metrics::gauge!("popsync_reconcile_full_differences")
                    .set((tickets + registry) as f64);
                metrics::gauge!("popsync_reconcile_full_last_run_timestamp_seconds")
                    .set(now_local().timestamp() as f64);
                if c.equal {
                    tracing::info!(
                        run_id = c.run_id,
                        as_of = %c.as_of,
                        elapsed_ms,
                        "full check: the stored tickets and registry equal a recompute"
                    );
                } else {
                    let t = &c.tickets;
                    let r = &c.registry;
                    tracing::error!(
                        run_id = c.run_id,
                        as_of = %c.as_of,
                        ticket_differences = tickets,
                        opened = t.opened,
                        reopened = t.reopened,
                        refreshed = t.refreshed,
                        resolved = t.resolved,
                        withdrawn = t.withdrawn,
                        registry_differences = registry,
                        persons_changed = r.persons_changed,
                        persons_missing = r.persons_missing,
                        persons_extra = r.persons_extra,
                        elapsed_ms,
                        action = "keep `popsync reconcile --full --format json`, look in the database's and popsync's audit logs for who edited tickets or persons, and report it (docs/operations.md, \"Full check\")",
                        "full check: the stored tickets or registry differ from a recompute"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %masked_causes(e), elapsed_ms, "full check could not compare; the next scheduled check retries")
            }
        }
    }
}
