//! `popsync verify`: each feed read whole from its beginning and compared, record by
//! record, with the store. Departments change rows that no cursor can see (a long
//! transaction committing old times, a vendor's fix in place, a late upload); a
//! periodic whole comparison is the only way to find them (feeds.md).
//!
//! The walk is a sync's walk with no stored cursor: the same pagers, the same fetch with
//! retries, so it reads what a sync would read. Each page is compared with the stored
//! versions of its records, looked up by key, so memory holds one page and a set of the
//! served keys' 64-bit digests (to count a record served twice once). `--repair`
//! stores a page's missing and changed records at once, in one transaction, through
//! the sync's own write, and never deletes: a record stored but no longer served is
//! only counted. A killed verify loses nothing: its repairs committed page by page,
//! and a new verify starts again from the beginning.

use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasher;

use super::events::VerifyFinished;
use super::fetch::FeedClient;
use super::pull::{next_page, SyncError, SyncOptions};
use crate::config::{Config, FeedConfig, FeedName};
use crate::domain::{masked_causes, today_local};
use crate::feeds::pagers;
use crate::records::{Batch, Records};
use crate::shutdown::Shutdown;
use crate::store::{Store, StoredRecord, VerifyCounts};

/// How a verify runs.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Store missing and changed records (never delete extra ones).
    pub repair: bool,
    /// Retries and the watchdog's heartbeat, as for a sync.
    pub sync: SyncOptions,
}

/// One feed's outcome.
#[derive(Debug)]
pub struct FeedVerify {
    pub feed: FeedName,
    pub result: Result<VerifyCounts, SyncError>,
}

/// Every verified feed's outcome, in config order.
#[derive(Debug)]
pub struct VerifyReport {
    pub feeds: Vec<FeedVerify>,
}

impl VerifyReport {
    /// Every feed was read whole and matches the store.
    pub fn matches(&self) -> bool {
        self.feeds
            .iter()
            .all(|f| f.result.as_ref().is_ok_and(VerifyCounts::matches))
    }

    /// Records a repair stored, over all feeds.
    pub fn repaired(&self) -> u64 {
        self.compared().map(|c| c.repaired).sum()
    }

    /// The counts of every feed that was read whole.
    fn compared(&self) -> impl Iterator<Item = &VerifyCounts> {
        self.feeds.iter().filter_map(|f| f.result.as_ref().ok())
    }

    /// 0 when every feed matches the store, 1 when one differs (repaired or not), 2
    /// when one could not be read whole.
    pub fn exit_code(&self) -> u8 {
        if self.feeds.iter().any(|f| f.result.is_err()) {
            2
        } else if self.matches() {
            0
        } else {
            1
        }
    }

    /// A table a person reads: one line per feed, then what the differences mean.
    pub fn render_text(&self, repair: bool) -> String {
        let mut out =
            String::from("feed    served    stored   missing   changed     extra  repaired\n");
        for f in &self.feeds {
            match &f.result {
                Ok(c) => out.push_str(&format!(
                    "{:<5} {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}\n",
                    f.feed.as_str(),
                    c.served,
                    c.stored,
                    c.missing,
                    c.changed,
                    c.extra,
                    c.repaired
                )),
                Err(e) => out.push_str(&format!(
                    "{:<5} could not be read whole: {}\n      what to do: {}\n",
                    f.feed.as_str(),
                    masked_causes(e),
                    e.hint()
                )),
            }
        }
        let differs = self.compared().any(|c| c.missing + c.changed > 0);
        if self.matches() {
            out.push_str("the store holds exactly what every feed serves\n");
        } else if differs && !repair {
            out.push_str(
                "missing and changed records can be stored with `popsync verify --repair`\n",
            );
        } else if differs {
            out.push_str(
                "missing and changed records were stored; reconcile to see their effect\n",
            );
        }
        if self.compared().any(|c| c.extra > 0) {
            out.push_str("extra: stored records the department no longer serves; popsync never deletes them (docs/operations.md)\n");
        }
        out
    }

    /// `{"feeds": {"pis": {"served": N, …}}}`; a feed that could not be read whole
    /// carries `"error"` instead of counts.
    pub fn to_json(&self) -> serde_json::Value {
        let feeds: BTreeMap<&str, serde_json::Value> = self
            .feeds
            .iter()
            .map(|f| {
                let v = match &f.result {
                    Ok(c) => serde_json::to_value(c).unwrap_or_default(),
                    Err(e) => serde_json::json!({"error": masked_causes(e)}),
                };
                (f.feed.as_str(), v)
            })
            .collect();
        serde_json::json!({ "feeds": feeds })
    }
}

/// Verifies the given feeds (all configured ones when `only` is empty), each feed a
/// task of its own as in a sync, so that one feed's pages are compared while
/// another's are fetched.
pub async fn verify_feeds(
    store: &Store,
    config: &Config,
    only: &[FeedName],
    options: &VerifyOptions,
    shutdown: &Shutdown,
) -> VerifyReport {
    // A JoinSet, so that a verify dropped half-way (a killed caller) stops its tasks.
    let mut tasks = tokio::task::JoinSet::new();
    for (i, f) in config
        .feeds
        .iter()
        .filter(|f| only.is_empty() || only.contains(&f.name))
        .enumerate()
    {
        let (store, feed, options, shutdown) =
            (store.clone(), f.clone(), options.clone(), shutdown.clone());
        tasks.spawn(async move {
            let result = verify_feed(&store, &feed, &options, shutdown).await;
            (
                i,
                FeedVerify {
                    feed: feed.name,
                    result,
                },
            )
        });
    }
    let mut feeds: Vec<(usize, FeedVerify)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        feeds.push(joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())));
    }
    feeds.sort_by_key(|(i, _)| *i);
    let feeds: Vec<FeedVerify> = feeds.into_iter().map(|(_, f)| f).collect();
    for f in &feeds {
        if let Ok(counts) = &f.result {
            if let Err(e) = store
                .record_verify(f.feed.as_str(), options.repair, counts)
                .await
            {
                tracing::error!(feed = %f.feed, error = %masked_causes(&e), action = "check disk space and the database server", "cannot record the verify outcome");
            }
        }
        VerifyFinished {
            feed: f.feed,
            repair: options.repair,
            result: &f.result,
        }
        .emit();
    }
    VerifyReport { feeds }
}

/// Reads one feed whole, comparing (and repairing) page by page.
async fn verify_feed(
    store: &Store,
    feed: &FeedConfig,
    options: &VerifyOptions,
    mut shutdown: Shutdown,
) -> Result<VerifyCounts, SyncError> {
    let client = FeedClient::new(feed)
        .with_min_delay(options.sync.min_retry_delay)
        .with_heartbeat(options.sync.heartbeat.clone());
    let mut counts = VerifyCounts::default();
    // Served records found in the store (or stored by this repair).
    let mut present = 0;
    for mut pager in pagers(feed, today_local()) {
        let stream = pager.stream();
        let store_err = |source| SyncError::Store { stream, source };
        let mut seen = ServedKeys::default();
        let (mut cursor, mut pages): (Option<String>, u64) = (None, 0);
        while let Some(batch) = next_page(
            &client,
            pager.as_mut(),
            cursor.as_deref(),
            &mut pages,
            &mut shutdown,
        )
        .await?
        {
            cursor = Some(batch.cursor.clone());
            let page = compare_page(store, &batch, &mut seen)
                .await
                .map_err(store_err)?;
            counts.served += page.served;
            counts.missing += page.missing;
            counts.changed += page.changed;
            present += page.present;
            if options.repair && page.differs() {
                let repair = page.repair_batch(&batch);
                counts.repaired += store
                    .repair(&repair, &page.replace)
                    .await
                    .map_err(store_err)?;
                present += page.missing;
            }
            if let Some(h) = &options.sync.heartbeat {
                h.beat();
            }
        }
    }
    let stream = crate::feeds::streams_of(feed.name)[0];
    let stored = store
        .record_counts()
        .await
        .map_err(|source| SyncError::Store { stream, source })?
        .into_iter()
        .find(|(name, _, _)| *name == feed.name.as_str())
        .map_or(0, |(_, records, quarantined)| records + quarantined);
    counts.stored = stored.max(0) as u64;
    counts.extra = counts.stored.saturating_sub(present);
    Ok(counts)
}

/// Digests of the keys a stream has served so far: a record served twice (a psb
/// redelivery, a pis row read again) counts once. Eight bytes a record.
#[derive(Default)]
struct ServedKeys(HashSet<u64, foldhash::fast::FixedState>);

impl ServedKeys {
    /// Whether `key` is served for the first time.
    fn first(&mut self, key: &str) -> bool {
        let digest = foldhash::fast::FixedState::with_seed(0x0070_6f70_7379_6e63).hash_one(key);
        self.0.insert(digest)
    }
}

/// One page compared with the store.
#[derive(Debug, Default)]
struct PageComparison {
    served: u64,
    present: u64,
    missing: u64,
    changed: u64,
    /// Well-formed records to store, by position in the page.
    store: Vec<bool>,
    /// Malformed records to quarantine, by position in the page.
    quarantine: Vec<bool>,
    /// Keys whose stored versions a repair replaces.
    replace: Vec<String>,
}

impl PageComparison {
    fn differs(&self) -> bool {
        self.missing + self.changed > 0
    }

    /// The page's missing and changed records, as a batch a repair stores.
    fn repair_batch(&self, batch: &Batch) -> Batch {
        Batch {
            stream: batch.stream,
            records: batch.records.subset(&self.store),
            malformed: batch
                .malformed
                .iter()
                .zip(&self.quarantine)
                .filter(|(_, q)| **q)
                .map(|(m, _)| m.clone())
                .collect(),
            cursor: String::new(),
            newest_record_at: None,
            more: false,
            page_token: None,
        }
    }
}

/// Compares a page's records, well-formed and malformed, with their stored versions.
async fn compare_page(
    store: &Store,
    batch: &Batch,
    seen: &mut ServedKeys,
) -> Result<PageComparison, crate::store::StoreError> {
    let keyed = batch.records.keyed_raw();
    let feed = batch.stream.split('.').next().unwrap_or(batch.stream);
    let mut keys: Vec<String> = keyed.iter().map(|(k, _)| k.clone()).collect();
    keys.extend(batch.malformed.iter().map(|m| m.key.clone()));
    let stored = store.stored_records(batch.stream, &keys).await?;
    let quarantined = store.quarantined_keys(feed, &keys).await?;
    let mut page = PageComparison {
        store: vec![false; keyed.len()],
        quarantine: vec![false; batch.malformed.len()],
        ..PageComparison::default()
    };
    for (i, (key, raw)) in keyed.iter().enumerate() {
        if !seen.first(key) {
            continue;
        }
        page.served += 1;
        match stored.get(key) {
            None => {
                page.missing += 1;
                page.store[i] = true;
            }
            Some(s) => {
                page.present += 1;
                if differs(s, raw, served_time(&batch.records, i)) {
                    page.changed += 1;
                    page.store[i] = true;
                    page.replace.push(key.clone());
                }
            }
        }
    }
    for (i, m) in batch.malformed.iter().enumerate() {
        if !seen.first(&m.key) {
            continue;
        }
        page.served += 1;
        if quarantined.contains(&m.key) || stored.contains_key(&m.key) {
            page.present += 1;
        } else {
            page.missing += 1;
            page.quarantine[i] = true;
        }
    }
    Ok(page)
}

/// The `modifiedTime` of a served pis record; other feeds' records have no version
/// time of their own (their key names the version).
fn served_time(records: &Records, i: usize) -> Option<&str> {
    match records {
        Records::Pis(v) => v.get(i).map(|w| w.record.modified_time.as_str()),
        _ => None,
    }
}

/// Whether the stored version is other than the served one. A pis record stored with a
/// newer `modifiedTime` than served was re-saved while the verify read: no difference.
fn differs(stored: &StoredRecord, served_raw: &str, served_time: Option<&str>) -> bool {
    if stored.raw == served_raw {
        return false;
    }
    served_time.is_none_or(|t| t >= stored.modified_time.as_str())
}
