//! The one HTTP fetch every feed shares, beside the pull loop that drives it: a timeout
//! per request, the body read as it arrives up to a bound (a cut body is a transient
//! fault), credentials sent to the feed's own origin only, status codes mapped to
//! [`FeedError`], and retries with exponential backoff and jitter that honour
//! `Retry-After`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::StatusCode;

use crate::config::FeedConfig;
use crate::feeds::{auth_header, FeedError};

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
    heartbeat: Option<super::pull::Heartbeat>,
}

impl FeedClient {
    pub fn new(feed: &FeedConfig) -> FeedClient {
        FeedClient {
            http: http_client(feed),
            feed: feed.clone(),
            retries: Arc::new(RetryCounter::default()),
            min_delay: Duration::from_millis(200),
            heartbeat: None,
        }
    }

    /// A heartbeat beaten on every retry: a feed that is retrying is still alive.
    pub fn with_heartbeat(mut self, heartbeat: Option<super::pull::Heartbeat>) -> FeedClient {
        self.heartbeat = heartbeat;
        self
    }

    /// Shortens the first backoff step (tests and the benchmark use a fast one).
    pub fn with_min_delay(mut self, min_delay: Duration) -> FeedClient {
        self.min_delay = min_delay;
        self
    }

    /// The most pages one pull of one stream may ask for.
    pub fn max_pages_per_pull(&self) -> u64 {
        self.feed.max_pages_per_pull
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
                super::events::RetryScheduled {
                    feed: self.feed.name,
                    error: err,
                    retry_in: dur,
                }
                .emit();
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
            .map_err(|e| {
                FeedError::transient(format!(
                    "request failed: {}",
                    crate::domain::masked_causes(&e)
                ))
            })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if status.is_redirection() {
            return Err(refused_redirect(&self.feed, status, resp.headers()));
        }
        let body = read_capped(resp, self.feed.max_response_bytes, url).await?;
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

/// The HTTP client of one feed: its credentials go to its own origin only. A redirect
/// to another origin (another host, port, or from https to http) is not followed: the
/// response comes back as the 3xx it is, and the pull fails naming where it pointed.
/// An internal CA and a client certificate come from the feed's config.
fn http_client(feed: &FeedConfig) -> reqwest::Client {
    let origin = feed.base_url.origin();
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            attempt.error("more than five redirects")
        } else if attempt.url().origin() == origin {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(feed.timeout_secs))
        .connect_timeout(Duration::from_secs(feed.timeout_secs.min(10)))
        .user_agent(concat!("popsync/", env!("CARGO_PKG_VERSION")))
        .redirect(redirects);
    // Both were checked when the config was loaded.
    if let Some(pem) = &feed.ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem).unwrap_or_default() {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some(identity) = feed
        .client_identity_pem
        .as_deref()
        .and_then(|pem| reqwest::Identity::from_pem(pem).ok())
    {
        builder = builder.identity(identity);
    }
    builder.build().expect("a TLS backend is compiled in")
}

/// A redirect popsync does not follow, as the error an operator reads.
fn refused_redirect(
    feed: &FeedConfig,
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
) -> FeedError {
    let target = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| feed.base_url.join(l).ok());
    let host = target
        .as_ref()
        .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("?")))
        .unwrap_or_else(|| "an unreadable Location".into());
    FeedError::Protocol(format!(
        "HTTP {} redirects to {host}, outside the feed's base_url {}: not followed, and no credentials were sent there; fix base_url if the department moved",
        status.as_u16(),
        feed.base_url.origin().ascii_serialization()
    ))
}

/// Reads a body as it arrives, refusing it once it passes `cap` bytes.
async fn read_capped(
    mut resp: reqwest::Response,
    cap: u64,
    url: &reqwest::Url,
) -> Result<bytes::Bytes, FeedError> {
    let too_large = || {
        FeedError::Protocol(format!(
            "the response from {} is larger than max_response_bytes ({cap} bytes); the page is refused (lower page_size, or raise max_response_bytes if the department's pages are that large)",
            url.path()
        ))
    };
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        FeedError::transient(format!(
            "body cut off: {}",
            crate::domain::masked_causes(&e)
        ))
    })? {
        if (body.len() + chunk.len()) as u64 > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The start of a body, for an error message (decoded lossily; GBK bodies show as such).
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.replace(['\r', '\n'], " ")
}
