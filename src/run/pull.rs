//! The pull loop, written once for every stream: ask the pager for the next URL,
//! fetch it with retries, commit the batch with its cursor, repeat until the stream
//! is at its current end. Feeds run concurrently; one failing never stops another.

use std::time::{Duration, Instant};

use super::events::{PagesStored, PollFinished};

pub use super::fetch::FeedClient;
use crate::config::{Config, FeedConfig, FeedName};
use crate::domain::{masked_causes, today_local};
use crate::feeds::{pagers, streams_of, FeedError};
use crate::records::Batch;
use crate::shutdown::Shutdown;
use crate::store::{CommitStats, Store, StoreError};

/// Why a feed's pull stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{stream}")]
    Feed {
        stream: &'static str,
        #[source]
        source: FeedError,
    },
    #[error("{stream}")]
    Store {
        stream: &'static str,
        #[source]
        source: StoreError,
    },
    #[error("{stream}: stopped by shutdown")]
    Interrupted { stream: &'static str },
}

impl SyncError {
    /// What the operator should do, for the ERROR line.
    pub fn hint(&self) -> &'static str {
        match self {
            SyncError::Feed { source: FeedError::Auth(_), .. } => {
                "the department refused the credentials: check or rotate the token file, then run `popsync sync --feed NAME`"
            }
            SyncError::Feed { source: FeedError::Transient { .. }, .. } => {
                "the department kept failing after every retry; the next scheduled pull resumes from the stored cursor"
            }
            SyncError::Feed { .. } => "the department answered something unexpected; check base_url and the department's service",
            SyncError::Store { .. } => "the database failed; check disk space and the database server",
            SyncError::Interrupted { .. } => "none: the next start resumes from the stored cursor",
        }
    }

    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            SyncError::Feed {
                source: FeedError::Auth(_),
                ..
            }
        )
    }

    /// Whether an operator must act before the feed can work again. A transient fault
    /// that outlasted every retry is not such a case: the next scheduled pull resumes
    /// from the stored cursor (the daemon raises an ERROR once the feed goes stale).
    pub fn needs_operator(&self) -> bool {
        !matches!(
            self,
            SyncError::Interrupted { .. }
                | SyncError::Feed {
                    source: FeedError::Transient { .. },
                    ..
                }
        )
    }
}

/// What one pull of one stream did.
#[derive(Debug, Clone, Default)]
pub struct StreamReport {
    pub stream: &'static str,
    pub pages: u64,
    pub stats: CommitStats,
    pub cursor_before: Option<String>,
    pub cursor_after: Option<String>,
    pub retries: u64,
}

/// What one pull of one feed did.
#[derive(Debug)]
pub struct FeedReport {
    pub feed: FeedName,
    pub streams: Vec<StreamReport>,
    pub duration: Duration,
    pub result: Result<(), SyncError>,
}

impl FeedReport {
    /// Records stored for the first time across the feed's streams.
    pub fn new_records(&self) -> u64 {
        self.streams.iter().map(|s| s.stats.new).sum()
    }
}

/// Knobs the daemon, tests and the benchmark turn; operators use the defaults.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The first backoff step.
    pub min_retry_delay: Duration,
    /// Beaten on every stored page and every retry, so the watchdog sees progress.
    pub heartbeat: Option<Heartbeat>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            min_retry_delay: Duration::from_millis(200),
            heartbeat: None,
        }
    }
}

/// The last moment a loop showed it was alive; the watchdog reads it.
#[derive(Debug, Clone)]
pub struct Heartbeat(std::sync::Arc<std::sync::Mutex<Instant>>);

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat(std::sync::Arc::new(std::sync::Mutex::new(Instant::now())))
    }
}

impl Heartbeat {
    pub fn beat(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// How long ago the last beat was.
    pub fn age(&self) -> Duration {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }
}

/// Pulls the given feeds (all configured ones when `only` is empty) concurrently.
pub async fn sync_feeds(
    store: &Store,
    config: &Config,
    only: &[FeedName],
    options: SyncOptions,
    shutdown: &Shutdown,
) -> Vec<FeedReport> {
    let feeds: Vec<&FeedConfig> = config
        .feeds
        .iter()
        .filter(|f| only.is_empty() || only.contains(&f.name))
        .collect();
    // Each feed is a task of its own, so decoding one feed's pages runs on one core
    // while another's are decoded or stored on the other.
    let tasks = feeds.into_iter().map(|f| {
        let (store, feed, options, shutdown) =
            (store.clone(), f.clone(), options.clone(), shutdown.clone());
        tokio::spawn(async move { sync_feed(&store, &feed, options, shutdown).await })
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())))
        .collect()
}

/// Pulls one feed's streams to their current end and records the outcome.
pub async fn sync_feed(
    store: &Store,
    feed: &FeedConfig,
    options: SyncOptions,
    shutdown: Shutdown,
) -> FeedReport {
    let started = Instant::now();
    let client = FeedClient::new(feed)
        .with_min_delay(options.min_retry_delay)
        .with_heartbeat(options.heartbeat.clone());
    let mut reports = Vec::new();
    let mut result = Ok(());
    for mut pager in pagers(feed, today_local()) {
        let mut report = StreamReport {
            stream: pager.stream(),
            ..StreamReport::default()
        };
        let retries_before = client.retries().get();
        let outcome = pull_stream(
            store,
            &client,
            pager.as_mut(),
            &mut report,
            &options,
            shutdown.clone(),
        )
        .await;
        report.retries = client.retries().get() - retries_before;
        reports.push(report);
        if let Err(e) = outcome {
            result = Err(e);
            break;
        }
    }
    // A pull stopped by shutdown says nothing about the feed: its last outcome stays.
    if !matches!(result, Err(SyncError::Interrupted { .. })) {
        let error_text = result.as_ref().err().map(|e| masked_causes(e));
        if let Err(e) = store
            .record_pull_outcome(streams_of(feed.name), error_text.as_deref())
            .await
        {
            tracing::error!(feed = %feed.name, error = %masked_causes(&e), action = "check disk space and the database server", "cannot record the pull outcome");
        }
    }
    let duration = started.elapsed();
    PollFinished {
        feed: feed.name,
        streams: &reports,
        result: &result,
        duration,
    }
    .emit();
    FeedReport {
        feed: feed.name,
        streams: reports,
        duration,
        result,
    }
}

/// Records fetched and decoded but not yet committed, across every stream of the
/// process: the department's latency and the decoding overlap SQLite's writes instead
/// of adding to them, and memory stays bounded however many feeds pull at once.
const RECORDS_PENDING: usize = 48_000;

static PENDING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(RECORDS_PENDING);

/// The most pages one transaction commits: what has queued up while the last commit
/// ran goes in together. Every commit rewrites the index pages its rows touched, and
/// pis person IDs are random, so a commit of a few pages rewrites nearly the whole
/// pis key index; with larger, fewer transactions a first pis sync wrote half as much.
const PAGES_PER_COMMIT: usize = 64;

/// A decoded page and its share of [`RECORDS_PENDING`], given back once committed.
type Pending = (Batch, tokio::sync::SemaphorePermit<'static>);

/// One stream's pull: a fetcher walks the pages and hands each decoded batch to a
/// committer, which stores whatever has queued up, with the cursor of its last page,
/// in one transaction.
async fn pull_stream(
    store: &Store,
    client: &FeedClient,
    pager: &mut dyn crate::feeds::StreamPager,
    report: &mut StreamReport,
    options: &SyncOptions,
    shutdown: Shutdown,
) -> Result<(), SyncError> {
    let stream = pager.stream();
    let store_err = |source| SyncError::Store { stream, source };
    let cursor = store.cursor(stream).await.map_err(store_err)?;
    report.cursor_before = cursor.clone();
    report.cursor_after = cursor.clone();
    let (pages, mut queued) = tokio::sync::mpsc::channel::<Pending>(PAGES_PER_COMMIT);
    // The committer is a task of its own: were it polled with the fetcher, a page
    // being decoded would keep it from handing SQLite its next statement.
    let committer = {
        let (store, options, mut report) = (store.clone(), options.clone(), report.clone());
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(PAGES_PER_COMMIT);
            let mut result = Ok(());
            while queued.recv_many(&mut group, PAGES_PER_COMMIT).await > 0 {
                let (batches, _pending): (Vec<Batch>, Vec<_>) = group.drain(..).unzip();
                match store.commit_batches(&batches).await {
                    Ok(stats) => {
                        record_pages(stream, &batches, stats, &mut report, &options);
                        report.cursor_after = batches.last().map(|b| b.cursor.clone());
                    }
                    Err(source) => {
                        // Dropping the queue stops the fetcher at its next page.
                        result = Err(SyncError::Store { stream, source });
                        break;
                    }
                }
            }
            (report, result)
        })
    };
    let fetched = fetch_pages(client, pager, cursor, pages, shutdown).await;
    let (committed_report, committed) = committer
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    *report = committed_report;
    committed.and(fetched)
}

/// Walks the stream from `cursor` to its current end, sending each decoded page on
/// once the pending records leave room for it. The pager moves past a page as soon
/// as it is decoded; if a commit fails, the stream stops and the stored cursor still
/// points before the lost pages.
async fn fetch_pages(
    client: &FeedClient,
    pager: &mut dyn crate::feeds::StreamPager,
    mut cursor: Option<String>,
    pages: tokio::sync::mpsc::Sender<Pending>,
    mut shutdown: Shutdown,
) -> Result<(), SyncError> {
    let stream = pager.stream();
    let mut asked = 0;
    while let Some(batch) =
        next_page(client, pager, cursor.as_deref(), &mut asked, &mut shutdown).await?
    {
        cursor = Some(batch.cursor.clone());
        let records = (batch.records.len() + batch.malformed.len()).clamp(1, RECORDS_PENDING);
        let room = tokio::select! {
            room = PENDING.acquire_many(records as u32) => room.expect("the semaphore is never closed"),
            _ = shutdown.recv() => return Err(SyncError::Interrupted { stream }),
        };
        if pages.send((batch, room)).await.is_err() {
            // The committer failed; its error is the one reported.
            return Ok(());
        }
    }
    Ok(())
}

/// Fetches and decodes the page after `cursor` and moves the pager past it; `None` at
/// the stream's current end. A page in flight at shutdown is abandoned. `pages` counts
/// the pull's pages: past the feed's `max_pages_per_pull` the pull fails, so that a
/// feed that never ends cannot hold a pull (and the watchdog's heartbeat) for ever.
pub(crate) async fn next_page(
    client: &FeedClient,
    pager: &mut dyn crate::feeds::StreamPager,
    cursor: Option<&str>,
    pages: &mut u64,
    shutdown: &mut Shutdown,
) -> Result<Option<Batch>, SyncError> {
    let stream = pager.stream();
    let Some(url) = pager.next_url(cursor) else {
        return Ok(None);
    };
    if shutdown.is_shutdown() {
        return Err(SyncError::Interrupted { stream });
    }
    let max = client.max_pages_per_pull();
    if *pages >= max {
        return Err(SyncError::Feed {
            stream,
            source: FeedError::Protocol(format!(
                "more than {max} pages in one pull (max_pages_per_pull): stopped; what was stored stays, and the next pull resumes from the stored cursor"
            )),
        });
    }
    *pages += 1;
    let fetch = client.fetch(url, |body| pager.decode(body, cursor));
    let batch = tokio::select! {
        b = fetch => b.map_err(|source| SyncError::Feed { stream, source })?,
        _ = shutdown.recv() => return Err(SyncError::Interrupted { stream }),
    };
    pager.advance(&batch);
    Ok(Some(batch))
}

/// Counts, metrics and log lines for one committed group of pages.
fn record_pages(
    stream: &'static str,
    batches: &[Batch],
    stats: CommitStats,
    report: &mut StreamReport,
    options: &SyncOptions,
) {
    if let Some(h) = &options.heartbeat {
        h.beat();
    }
    PagesStored {
        stream,
        batches,
        stats,
    }
    .emit();
    report.pages += batches.len() as u64;
    report.stats.new += stats.new;
    report.stats.seen += stats.seen;
    report.stats.quarantined_new += stats.quarantined_new;
    report.stats.quarantined_seen += stats.quarantined_seen;
}
