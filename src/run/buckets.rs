//! A run's recompute: the cases due, bucket by bucket, or every case at once.
//!
//! The cases due are published as buckets in the store (`store::cases::buckets`), and
//! workers claim them one at a time: the leading process's `[reconcile] workers`, and
//! on PostgreSQL those of any other `popsync` process on the same database, which help
//! while they wait for the lead (`help`). A worker reads its bucket's records,
//! reconciles them, writes their golden records, applies their tickets' lifecycle,
//! and finishes the bucket with its cases' next dates and its outcome: a run holds a
//! bucket's records per worker in memory, and a bucket cut short is taken up again.
//! The leader sums the outcomes once every bucket is done.
//!
//! A run that recomputes every case has the city in memory already (it has just built
//! the cases from it) and recomputes it as one, planning every ticket at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::reconcile::{params_of, settings_of, Stopwatch};
use super::settle::{plan_new_tickets, plan_tickets, TicketCounts};
use crate::config::Config;
use crate::domain::{format_timestamp, now_local};
use crate::reconcile::{cases, prepare, Params, Persons};
use crate::store::cases::buckets::RunTerms;
use crate::store::cases::spilled::{SpilledBucket, SpilledCases};
use crate::store::cases::{CaseId, CaseRecords, KeyCases, Which};
use crate::store::{
    Actor, RegistryCases, RegistrySpill, RegistryWrite, Store, StoreError, TicketSpill,
};
use crate::tickets::{ticket_id, TicketDraft};

/// What recomputing some cases gave: for their tickets' lifecycle and their dates.
pub(super) struct Recomputed {
    pub registry: RegistryWrite,
    /// The tickets the rules raise in those cases.
    pub drafts: Vec<TicketDraft>,
    /// Each draft's case, by its ticket's ID: the case its subject's keys are in.
    pub draft_cases: HashMap<String, CaseId>,
    /// Certificates whose current version is void.
    pub voided: HashSet<String>,
    /// Each case's next date on which time alone can change its outcome.
    pub next_dates: HashMap<CaseId, NaiveDate>,
    /// Milliseconds per step.
    pub steps_ms: BTreeMap<String, u64>,
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
    let into = fresh.then_some(None);
    recompute_records(store, params, (records, key_case), None, into).await
}

/// Recomputes every case of a first run from its spill (`Store::spill_cases`), bucket
/// by bucket, `workers` at once: each bucket's cases, golden records, tickets and
/// dates are written as it is worked. Every bucket is this process's: the files are
/// on this machine.
pub(super) async fn recompute_spilled(
    store: &Store,
    params: &Params,
    spilled: SpilledCases,
    workers: usize,
    actor: &str,
) -> Result<BucketOutcome, StoreError> {
    let SpilledCases {
        dir,
        buckets,
        registry,
        tickets,
        ..
    } = spilled;
    let registry = registry.map(std::sync::Arc::new);
    let tickets = std::sync::Arc::new(tickets);
    let queue = std::sync::Arc::new(std::sync::Mutex::new(buckets.into_iter()));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let (store, params, actor, queue, registry, tickets) = (
            store.clone(),
            params.clone(),
            actor.to_string(),
            queue.clone(),
            registry.clone(),
            tickets.clone(),
        );
        set.spawn(async move {
            let mut done = BucketOutcome::default();
            loop {
                let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                let Some(bucket) = next else {
                    return Ok::<_, StoreError>(done);
                };
                let from = Source::Spilled(&bucket, registry.as_deref(), &tickets);
                let (next_dates, outcome) =
                    work_bucket(&store, &params, &bucket.cases, &actor, from).await?;
                store.write_bucket_dates(&bucket.cases, &next_dates).await?;
                done.add(outcome);
            }
        });
    }
    let mut all = BucketOutcome::default();
    while let Some(joined) = set.join_next().await {
        all.add(joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?);
    }
    store.end_spilled_cases().await?;
    let at = Instant::now();
    let now = format_timestamp(now_local());
    let actor = Actor {
        name: actor,
        now: &now,
    };
    store.merge_spilled_tickets(&tickets, &actor).await?;
    all.steps_ms
        .insert("open".to_string(), at.elapsed().as_millis() as u64);
    if let Some(registry) = registry {
        let at = Instant::now();
        store.merge_spilled_registry(&registry).await?;
        all.steps_ms
            .insert("merge".to_string(), at.elapsed().as_millis() as u64);
    }
    // The spill's files go with their directory, once both merges have read them.
    drop(dir);
    Ok(all)
}

/// What one bucket did, kept with it (as JSON) until the leader sums the run's.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct BucketOutcome {
    pub cases: u64,
    pub registry: RegistryWrite,
    pub tickets: TicketCounts,
    /// Milliseconds per step, summed over the buckets (workers overlap them).
    pub steps_ms: BTreeMap<String, u64>,
}

impl BucketOutcome {
    fn add(&mut self, o: BucketOutcome) {
        self.cases += o.cases;
        self.registry += o.registry;
        self.tickets.add(&o.tickets);
        for (step, ms) in o.steps_ms {
            *self.steps_ms.entry(step).or_default() += ms;
        }
    }
}

/// Recomputes the cases due (`cases`, sorted): publishes them in buckets, works them
/// with `split.workers` at once while workers of other processes may take some, and
/// once every bucket is done, sums their outcomes. The first error stops the run; the
/// buckets finished before it stay finished (their cases no longer due), the others
/// due.
pub(super) async fn recompute_due(
    store: &Store,
    params: &Params,
    terms: &RunTerms,
    cases: &[CaseId],
    split: Buckets,
    actor: &str,
) -> Result<BucketOutcome, StoreError> {
    let buckets: Vec<&[CaseId]> = cases.chunks(split.cases_per_bucket.max(1)).collect();
    store.publish_buckets(terms, &buckets).await?;
    loop {
        work_buckets(store, params, &terms.run, split.workers, actor).await?;
        if store.buckets_left().await? == 0 {
            break;
        }
        // Another process's workers hold the rest: wait for them, and take over any
        // bucket one lets go of unfinished.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut all = BucketOutcome::default();
    for text in store.take_bucket_outcomes().await? {
        let outcome = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            what: "bucket outcome",
            detail: e.to_string(),
        })?;
        all.add(outcome);
    }
    Ok(all)
}

/// What helping another process's run came to.
pub enum Help {
    /// Buckets worked (none when no run had buckets left).
    Worked(usize),
    /// The run is under other settings (the leader's, given): not helped.
    OtherSettings(String),
}

/// Helps the run another process leads on this database: works its buckets while one
/// is left to claim, if the run's settings are this process's too.
pub async fn help(store: &Store, config: &Config, actor: &str) -> Result<Help, StoreError> {
    let Some(terms) = store.open_run().await? else {
        return Ok(Help::Worked(0));
    };
    let params = params_of(config, terms.as_of);
    if settings_of(&params) != terms.settings {
        return Ok(Help::OtherSettings(terms.settings));
    }
    let worked = work_buckets(store, &params, &terms.run, config.reconcile.workers, actor).await?;
    Ok(Help::Worked(worked))
}

/// Claims and works buckets of `run`, `workers` at once, until none is left to claim;
/// how many.
async fn work_buckets(
    store: &Store,
    params: &Params,
    run: &str,
    workers: usize,
    actor: &str,
) -> Result<usize, StoreError> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let (store, params, run, actor) = (
            store.clone(),
            params.clone(),
            run.to_string(),
            actor.to_string(),
        );
        set.spawn(async move {
            let mut worked = 0;
            while let Some(claim) = store.claim_bucket(&run).await? {
                match work_bucket(&store, &params, &claim.cases, &actor, Source::Stored).await {
                    Ok((next_dates, outcome)) => {
                        let text = serde_json::to_string(&outcome).unwrap_or_default();
                        store.finish_bucket(claim, &next_dates, &text).await?
                    }
                    Err(e) => {
                        // Let go of it now, not when the connection is next used.
                        claim.release().await;
                        return Err(e);
                    }
                }
                worked += 1;
            }
            Ok::<_, StoreError>(worked)
        });
    }
    let mut worked = 0;
    while let Some(joined) = set.join_next().await {
        worked += joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    }
    Ok(worked)
}

/// Where a bucket's records are read from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// The database, by case.
    Stored,
    /// A first run's spill file, whose cases are stored as the bucket is worked, into
    /// an empty registry (on SQLite through a spill of golden records of its own).
    Spilled(
        &'a SpilledBucket,
        Option<&'a RegistrySpill>,
        &'a TicketSpill,
    ),
}

/// One bucket's cases: recomputed and their tickets' lifecycle applied; their next
/// dates and the bucket's outcome, to finish it with.
async fn work_bucket(
    store: &Store,
    params: &Params,
    cases: &[CaseId],
    actor: &str,
    from: Source<'_>,
) -> Result<(HashMap<CaseId, NaiveDate>, BucketOutcome), StoreError> {
    let work = recompute_bucket(store, params, cases, from).await?;
    let at = Instant::now();
    let plan = match from {
        Source::Stored => {
            let plan = plan_tickets(
                store,
                Some(cases),
                work.drafts,
                &work.draft_cases,
                &work.voided,
            )
            .await?;
            let now = format_timestamp(now_local());
            let actor = Actor {
                name: actor,
                now: &now,
            };
            store
                .apply_ticket_changes(&plan.changes, &plan.stamps, &actor, None)
                .await?;
            plan
        }
        // A first run's bucket: no ticket was stored as the run began, so each draft
        // opens one. They wait in a file of the bucket's own and go in, all in order,
        // once every bucket is done (`store::ticket_spill`).
        Source::Spilled(_, _, tickets) => {
            let plan = plan_new_tickets(work.drafts, &work.draft_cases, &work.voided);
            crate::parallel::off_the_runtime(|| tickets.write(&plan.changes, &plan.stamps))?;
            plan
        }
    };
    let mut steps_ms = work.steps_ms;
    steps_ms.insert("settle".to_string(), at.elapsed().as_millis() as u64);
    let outcome = BucketOutcome {
        cases: cases.len() as u64,
        registry: work.registry,
        tickets: plan.counts,
        steps_ms,
    };
    Ok((work.next_dates, outcome))
}

/// One bucket: its records read, reconciled, and its golden records written, compared
/// with those stored (never as plain inserts: a bucket cut short is worked again),
/// or, from a first run's spill, inserted into the empty registry.
async fn recompute_bucket(
    store: &Store,
    params: &Params,
    bucket: &[CaseId],
    from: Source<'_>,
) -> Result<Recomputed, StoreError> {
    let at = Instant::now();
    let (records, into) = match from {
        Source::Stored => (store.read_cases(Which::Cases(bucket)).await?, None),
        Source::Spilled(spilled, registry, _) => {
            let records = store.read_spilled(spilled).await?;
            store.write_spilled_cases(&records).await?;
            (records, Some(registry))
        }
    };
    let key_case = records.keyed_cases();
    let load_ms = at.elapsed().as_millis() as u64;
    let mut work =
        recompute_records(store, params, (records, key_case), Some(bucket), into).await?;
    work.steps_ms.insert("load".to_string(), load_ms);
    Ok(work)
}

/// Some cases' records, reconciled, their golden records written (`scope`: those of
/// which cases, `None` every case's; `into`: `Some` when the registry was empty as the
/// run began, with the spill its golden records wait in on SQLite): what the run needs
/// for the tickets and the cases' dates.
async fn recompute_records(
    store: &Store,
    params: &Params,
    (records, key_case): (CaseRecords, KeyCases),
    scope: Option<&[CaseId]>,
    into: Option<Option<&RegistrySpill>>,
) -> Result<Recomputed, StoreError> {
    let mut sw = Stopwatch::new();
    let prepared = crate::parallel::off_the_runtime(|| prepare(&records.snap, params));
    sw.lap("reconcile");
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
            fresh: into.is_some(),
            spill: into.flatten(),
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
    sw.lap("registry");
    sw.1.insert("rules".to_string(), rules_took.as_millis() as u64);
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
        registry,
        drafts,
        draft_cases,
        voided,
        next_dates,
        steps_ms: sw.1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process whose settings are not the leader's claims none of its buckets: a
    /// bucket recomputed under other grace periods would be wrong for that run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_under_other_settings_is_not_helped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "key").unwrap();
        let db = format!("sqlite://{}", dir.path().join("p.db").display());
        let toml = format!(
            "[database]\nurl='{db}'\n[city]\ncounties=['349901']\n[feeds.mca]\nbase_url='https://127.0.0.1:1/'\napi_key_file='{}'\n",
            dir.path().join("k").display()
        );
        let config = Config::from_toml(&toml, std::path::Path::new("t.toml"), &|_| None).unwrap();
        let store = Store::open(&db).await.unwrap();
        let as_of = NaiveDate::from_ymd_opt(2014, 9, 1).unwrap();
        let ours = settings_of(&params_of(&config, as_of));
        let terms = RunTerms {
            run: "r".into(),
            as_of,
            settings: ours.replace("grace 30/", "grace 45/"),
        };
        assert_ne!(terms.settings, ours);
        store.publish_buckets(&terms, &[&[1], &[2]]).await.unwrap();
        match help(&store, &config, "test").await.unwrap() {
            Help::OtherSettings(theirs) => assert_eq!(theirs, terms.settings),
            Help::Worked(n) => panic!("helped with {n} buckets"),
        }
        assert_eq!(store.buckets_left().await.unwrap(), 2, "none claimed");
        // Under the same settings it works them (the cases hold no records).
        let same = RunTerms {
            settings: ours,
            ..terms
        };
        store.publish_buckets(&same, &[&[1], &[2]]).await.unwrap();
        assert!(matches!(
            help(&store, &config, "test").await.unwrap(),
            Help::Worked(2)
        ));
        assert_eq!(store.buckets_left().await.unwrap(), 0);
        store.close().await;
    }
}
