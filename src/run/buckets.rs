//! A run's recompute: the cases due, bucket by bucket, or every case at once.
//!
//! A run that recomputes the cases due splits them into buckets: each bucket's
//! records read, reconciled and its golden records written before the worker reads
//! its next, so a run holds one bucket's records per worker in memory. Several
//! workers share the buckets: one bucket's reads and writes go on while another's
//! rules run. A run that recomputes every case has the city in memory already (it
//! has just built the cases from it) and recomputes it as one.
//!
//! The tickets are not a bucket's to write: the drafts of every bucket come back to
//! the run, which plans their lifecycle over all of them at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;

use crate::reconcile::{cases, prepare, Params, Persons};
use crate::store::cases::{CaseId, CaseRecords, KeyCases, Which};
use crate::store::{RegistryCases, RegistryWrite, Store, StoreError};
use crate::tickets::{ticket_id, TicketDraft};

/// What recomputing some cases gave the run, gathered in bucket order (the same
/// whichever worker took which bucket).
#[derive(Default)]
pub(super) struct Recomputed {
    /// Cases recomputed.
    pub cases: usize,
    pub registry: RegistryWrite,
    /// The tickets the rules raise in those cases.
    pub drafts: Vec<TicketDraft>,
    /// Each draft's case, by its ticket's ID: the case its subject's keys are in.
    pub draft_cases: HashMap<String, CaseId>,
    /// Certificates whose current version is void.
    pub voided: HashSet<String>,
    /// Each case's next date on which time alone can change its outcome.
    pub next_dates: HashMap<CaseId, NaiveDate>,
    /// Milliseconds per step, summed over the buckets (workers overlap them).
    pub steps_ms: BTreeMap<&'static str, u64>,
}

impl Recomputed {
    fn add(&mut self, b: Recomputed) {
        self.cases += b.cases;
        self.registry += b.registry;
        self.drafts.extend(b.drafts);
        self.draft_cases.extend(b.draft_cases);
        self.voided.extend(b.voided);
        self.next_dates.extend(b.next_dates);
        for (step, ms) in b.steps_ms {
            *self.steps_ms.entry(step).or_default() += ms;
        }
    }
}

/// How a run splits its recompute: buckets of `cases_per_bucket` cases, `workers` of
/// them at once.
#[derive(Clone, Copy, Debug)]
pub(super) struct Buckets {
    pub workers: usize,
    pub cases_per_bucket: usize,
}

/// Recomputes every case: `records` (all of them) with their keys' cases, `fresh`
/// when the registry was empty as the run began.
pub(super) async fn recompute_every_case(
    store: &Store,
    params: &Params,
    records: CaseRecords,
    key_case: KeyCases,
    fresh: bool,
) -> Result<Recomputed, StoreError> {
    let cases = key_case.cases();
    let mut work = recompute_records(store, params, (records, key_case), None, fresh).await?;
    work.cases = cases;
    Ok(work)
}

/// Recomputes `cases` (sorted) bucket by bucket, `fresh` when the registry was empty
/// as the run began. The first error stops the run; the buckets written before it stay
/// written, and their cases stay due (their dates are the run's to record).
pub(super) async fn recompute_due(
    store: &Store,
    params: &Params,
    cases: Vec<CaseId>,
    fresh: bool,
    split: Buckets,
) -> Result<Recomputed, StoreError> {
    let per = split.cases_per_bucket.max(1);
    let buckets = cases.len().div_ceil(per);
    let cases = Arc::new(cases);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..split.workers.clamp(1, buckets.max(1)) {
        let (store, params, cases, next) = (
            store.clone(),
            params.clone(),
            Arc::clone(&cases),
            Arc::clone(&next),
        );
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let at = next.fetch_add(1, Ordering::Relaxed);
                if at >= buckets {
                    return Ok::<_, StoreError>(done);
                }
                let bucket = &cases[at * per..((at + 1) * per).min(cases.len())];
                done.push((at, recompute_bucket(&store, &params, bucket, fresh).await?));
            }
        });
    }
    let mut done = Vec::with_capacity(buckets);
    while let Some(joined) = workers.join_next().await {
        let worker = joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        done.extend(worker?);
    }
    done.sort_unstable_by_key(|(at, _)| *at);
    let mut all = Recomputed::default();
    for (_, bucket) in done {
        all.add(bucket);
    }
    Ok(all)
}

/// One bucket: its records read, reconciled, and its golden records written.
async fn recompute_bucket(
    store: &Store,
    params: &Params,
    bucket: &[CaseId],
    fresh: bool,
) -> Result<Recomputed, StoreError> {
    let at = Instant::now();
    let records = store.read_cases(Which::Cases(bucket)).await?;
    let key_case = records.keyed_cases();
    let load_ms = at.elapsed().as_millis() as u64;
    let mut work =
        recompute_records(store, params, (records, key_case), Some(bucket), fresh).await?;
    work.cases = bucket.len();
    work.steps_ms.insert("load", load_ms);
    Ok(work)
}

/// Some cases' records, reconciled, their golden records written (`scope`: those of
/// which cases, `None` every case's): what the run needs for the tickets and the
/// cases' dates.
async fn recompute_records(
    store: &Store,
    params: &Params,
    (records, key_case): (CaseRecords, KeyCases),
    scope: Option<&[CaseId]>,
    fresh: bool,
) -> Result<Recomputed, StoreError> {
    let mut steps_ms = BTreeMap::new();
    let mut lap = {
        let mut at = Instant::now();
        move |steps: &mut BTreeMap<&'static str, u64>, step: &'static str| {
            let now = Instant::now();
            steps.insert(step, now.duration_since(at).as_millis() as u64);
            at = now;
        }
    };
    let prepared = crate::parallel::off_the_runtime(|| prepare(&records.snap, params));
    lap(&mut steps_ms, "reconcile");
    // The rules raise tickets on a thread of their own while this one plans the
    // golden records and writes them: the rules never wait for the store, nor the
    // registry for the rules.
    let (drafts, rules_took, registry) = prepared.tickets_beside(&params.counties, |plans| {
        let cases = RegistryCases {
            persons: (0..plans.count())
                .map(|at| key_case.get(&cases::person_key(plans.key(at))))
                .collect(),
            unlinked: plans
                .unlinked
                .iter()
                .map(|u| records.case_of_record(u.record.source, &u.record.key))
                .collect(),
            scope,
            fresh,
        };
        // A golden record or a record that denotes nobody without a case would be
        // out of every later run's reach.
        debug_assert!(
            cases.persons.iter().all(Option::is_some),
            "a golden record without a case"
        );
        debug_assert!(
            cases.unlinked.iter().all(Option::is_some),
            "an unlinked record without a case"
        );
        tokio::runtime::Handle::current().block_on(store.write_registry(
            &plans,
            &plans.unlinked,
            &cases,
        ))
    });
    let registry = registry?;
    lap(&mut steps_ms, "registry");
    steps_ms.insert("rules", rules_took.as_millis() as u64);
    let voided = prepared.voided_certificates();
    drop(prepared);
    let next_dates = records.next_dates(
        params.as_of,
        params.grace_days,
        params.birth_registration_grace_days,
    );
    drop(records);
    let draft_cases = drafts
        .iter()
        .filter_map(|d| {
            let case = cases::subject_keys(&d.subject)
                .iter()
                .find_map(|k| key_case.get(k))?;
            Some((ticket_id(d.kind, d.township, &d.subject_key()), case))
        })
        .collect();
    Ok(Recomputed {
        cases: 0,
        registry,
        drafts,
        draft_cases,
        voided,
        next_dates,
        steps_ms,
    })
}
