//! The one HTTP fetch every feed shares: a timeout per request, the body read whole
//! (a cut body is a transient fault), status codes mapped to [`FeedError`], and
//! retries with exponential backoff and jitter that honour `Retry-After`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::StatusCode;

use super::{auth_header, FeedError};
use crate::config::FeedConfig;

/// Counts retries so that logs and metrics can report them per pull.
#[derive(Debug, Default)]
pub struct RetryCounter(AtomicU64);

impl RetryCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A client for one feed.
#[derive(Clone)]
pub struct FeedClient {
    http: reqwest::Client,
    feed: FeedConfig,
    retries: Arc<RetryCounter>,
    min_delay: Duration,
    heartbeat: Option<crate::sync::Heartbeat>,
}

impl FeedClient {
    pub fn new(feed: &FeedConfig) -> FeedClient {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(feed.timeout_secs))
            .connect_timeout(Duration::from_secs(feed.timeout_secs.min(10)))
            .user_agent(concat!("popsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a TLS backend is compiled in");
        FeedClient {
            http,
            feed: feed.clone(),
            retries: Arc::new(RetryCounter::default()),
            min_delay: Duration::from_millis(200),
            heartbeat: None,
        }
    }

    /// A heartbeat beaten on every retry: a feed that is retrying is still alive.
    pub fn with_heartbeat(mut self, heartbeat: Option<crate::sync::Heartbeat>) -> FeedClient {
        self.heartbeat = heartbeat;
        self
    }

    /// Shortens the first backoff step (tests and the benchmark use a fast one).
    pub fn with_min_delay(mut self, min_delay: Duration) -> FeedClient {
        self.min_delay = min_delay;
        self
    }

    pub fn retries(&self) -> &RetryCounter {
        &self.retries
    }

    /// GETs `url` and decodes its body, retrying transient faults of either step.
    pub async fn fetch<T>(
        &self,
        url: reqwest::Url,
        decode: impl Fn(&[u8]) -> Result<T, FeedError>,
    ) -> Result<T, FeedError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(Duration::from_secs(self.feed.retry_max_delay_secs.max(1)))
            .with_max_times(self.feed.max_retries as usize)
            .with_jitter();
        let max_delay = Duration::from_secs(self.feed.retry_max_delay_secs.max(1));
        let attempt = || async {
            let body = self.get_once(&url).await?;
            decode(&body)
        };
        attempt
            .retry(backoff)
            .when(FeedError::is_transient)
            .adjust(|err, dur| {
                let asked = match err {
                    FeedError::Transient {
                        retry_after_secs: Some(s),
                        ..
                    } => Some(Duration::from_secs(*s).min(max_delay)),
                    _ => None,
                };
                dur.map(|d| asked.map_or(d, |a| a.max(d)))
            })
            .notify(|err, dur| {
                self.retries.0.fetch_add(1, Ordering::Relaxed);
                if let Some(h) = &self.heartbeat {
                    h.beat();
                }
                metrics::counter!("popsync_feed_retries_total", "feed" => self.feed.name.as_str())
                    .increment(1);
                tracing::warn!(
                    feed = %self.feed.name,
                    error = %err,
                    retry_in_ms = dur.as_millis() as u64,
                    "feed request failed; retrying"
                );
            })
            .await
    }

    async fn get_once(&self, url: &reqwest::Url) -> Result<bytes::Bytes, FeedError> {
        let (name, value) = auth_header(&self.feed);
        let resp = self
            .http
            .get(url.clone())
            .header(name, value)
            .send()
            .await
            .map_err(|e| FeedError::transient(format!("request failed: {}", error_chain(&e))))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = resp
            .bytes()
            .await
            .map_err(|e| FeedError::transient(format!("body cut off: {}", error_chain(&e))))?;
        match status {
            s if s.is_success() => Ok(body),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(FeedError::Auth(format!(
                "HTTP {} from {}",
                status.as_u16(),
                url.path()
            ))),
            StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => {
                Err(FeedError::Transient {
                    message: format!("HTTP {} from {}", status.as_u16(), url.path()),
                    retry_after_secs: retry_after,
                })
            }
            s if s.is_server_error() => Err(FeedError::Transient {
                message: format!("HTTP {} from {}", status.as_u16(), url.path()),
                retry_after_secs: retry_after,
            }),
            s => Err(FeedError::Protocol(format!(
                "HTTP {} from {}: {}",
                s.as_u16(),
                url.path(),
                snippet(&body)
            ))),
        }
    }
}

/// The error and its causes on one line: reqwest hides the useful part in sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The start of a body, for an error message (decoded lossily; GBK bodies show as such).
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.replace(['\r', '\n'], " ")
}
