//! The four departmental feeds: the only module that knows their wire formats.
//!
//! Each department is one or more *streams* (mca and nhc serve two endpoints each).
//! A stream is a small pager behind [`StreamPager`]: it says which URL comes next
//! and decodes what came back into a [`Batch`]. The fetch with its retries and timeouts,
//! and the loop itself, are written once, in `src/sync/`: this module only decodes.

#[cfg(test)]
mod decode_tests;
mod json_fields;
mod mca;
mod nhc;
mod pis;
mod psb;

use crate::config::{FeedConfig, FeedName};
use crate::records::Batch;

/// Why a request or its body did not give a page.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FeedError {
    /// Worth retrying: a network fault, 5xx, 429, a cut body, psb code 5001.
    #[error("{message}")]
    Transient {
        message: String,
        /// A `Retry-After` the server asked for.
        retry_after_secs: Option<u64>,
    },
    /// The credentials were refused: retrying cannot help; an operator must act.
    #[error("authentication refused: {0}")]
    Auth(String),
    /// The department answered something popsync cannot use (a 4xx, an unreadable
    /// envelope that is not a cut body). Not retried.
    #[error("{0}")]
    Protocol(String),
}

impl FeedError {
    pub(crate) fn transient(message: impl Into<String>) -> FeedError {
        FeedError::Transient {
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, FeedError::Transient { .. })
    }
}

/// One stream's paging strategy. A pager lives for one pull: it may keep state
/// between pages (a page token, a date window) that is not worth storing.
pub trait StreamPager: Send + Sync {
    /// `psb`, `mca.marriage`, … — the key of its cursor and quarantine rows.
    fn stream(&self) -> &'static str;

    /// The next request given the stored cursor, or `None` once the stream is at
    /// its current end.
    fn next_url(&mut self, cursor: Option<&str>) -> Option<reqwest::Url>;

    /// Decodes a response body. `Ok` means the page was understood; malformed records
    /// inside it go to the batch's quarantine list, never into an error.
    fn decode(&self, body: &[u8], cursor: Option<&str>) -> Result<Batch, FeedError>;

    /// Called once the batch is decoded, before it is committed, so the next page can
    /// be asked for while this one is stored. A failed commit ends the pull, so a
    /// pager is never driven on past a batch that was lost.
    fn advance(&mut self, batch: &Batch);
}

/// The pagers for one feed, in the order they are pulled.
pub fn pagers(feed: &FeedConfig, today: chrono::NaiveDate) -> Vec<Box<dyn StreamPager>> {
    match feed.name {
        FeedName::Psb => vec![Box::new(psb::PsbPager::new(feed))],
        FeedName::Mca => vec![
            Box::new(mca::McaPager::new(feed, mca::Export::Marriage, today)),
            Box::new(mca::McaPager::new(feed, mca::Export::Cremation, today)),
        ],
        FeedName::Nhc => vec![
            Box::new(nhc::NhcPager::new(feed, nhc::Kind::Birth)),
            Box::new(nhc::NhcPager::new(feed, nhc::Kind::Death)),
        ],
        FeedName::Pis => vec![Box::new(pis::PisPager::new(feed))],
    }
}

/// The stream names of a feed, for status and cursors.
pub fn streams_of(feed: FeedName) -> &'static [&'static str] {
    match feed {
        FeedName::Psb => &["psb"],
        FeedName::Mca => &["mca.marriage", "mca.cremation"],
        FeedName::Nhc => &["nhc.birth", "nhc.death"],
        FeedName::Pis => &["pis"],
    }
}

/// How a feed sends its credentials.
pub(crate) fn auth_header(feed: &FeedConfig) -> (&'static str, String) {
    let secret = feed.secret.expose();
    match feed.name {
        FeedName::Psb | FeedName::Nhc => ("Authorization", format!("Bearer {secret}")),
        FeedName::Mca => ("X-Api-Key", secret.to_string()),
        FeedName::Pis => ("X-Auth-Token", secret.to_string()),
    }
}
