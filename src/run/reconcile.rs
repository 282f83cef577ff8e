//! One reconciliation run against the store: load, reconcile (pure), plan the
//! lifecycle (pure), write registry and tickets, and summarise for operators.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::NaiveDate;
use serde::Serialize;

use super::buckets::{help, recompute_due, recompute_every_case, recompute_spilled, Buckets, Help};
use super::events::ReconcileFinished;
use super::settle::{add_came, add_counts, plan_tickets, TicketCounts};
use crate::config::{CityConfig, Config};
use crate::domain::{format_timestamp, now_local};
use crate::reconcile::Params;
use crate::store::cases::buckets::RunTerms;
use crate::store::cases::CaseId;
use crate::store::{Actor, Backend, RegistryWrite, RunRecord, Store, StoreError};
use crate::tickets::readiness::{open_after, OpenByTownship};
use crate::tickets::Change;

pub use super::settle::Counts;

/// How much of the city a run placed in cases and recomputed.
#[derive(Debug, Default, Serialize, Clone)]
pub struct CasesWork {
    /// Records new or changed since the last run, placed in their cases.
    pub records_placed: u64,
    /// Cases a placed record joined to another.
    pub cases_merged: u64,
    /// Cases recomputed.
    pub cases_recomputed: u64,
    /// Every case was recomputed (the first run, other settings, or an earlier date).
    pub every_case: bool,
}

/// What a run did, printed by `popsync reconcile` and stored with the run.
#[derive(Debug, Serialize, Clone)]
pub struct RunSummary {
    pub run_id: i64,
    pub as_of: String,
    pub total: Counts,
    pub by_kind: BTreeMap<String, Counts>,
    pub by_township: BTreeMap<String, Counts>,
    /// The tickets the run opened or reopened, per township and kind.
    #[serde(skip)]
    pub came: BTreeMap<String, BTreeMap<String, u64>>,
    /// Open tickets per kind after the run (the page's chart reads this).
    pub open_by_kind: BTreeMap<String, u64>,
    /// Open tickets per kind per township after the run: stored as the day's
    /// burn-down points (`open_history`), not in the summary.
    #[serde(skip)]
    pub open_by_township: OpenByTownship,
    pub registry: RegistryWrite,
    /// How much of the city the run placed and recomputed.
    pub cases: CasesWork,
    pub steps_ms: BTreeMap<String, u64>,
    /// The run's inputs: source version, as-of date, parameters and popsync version.
    pub inputs: String,
    /// Set when the inputs were those of this earlier run, so nothing was recomputed.
    pub unchanged_since: Option<i64>,
}

impl RunSummary {
    /// A run that has counted nothing yet.
    fn empty(as_of: NaiveDate, inputs: String) -> RunSummary {
        RunSummary {
            run_id: 0,
            as_of: as_of.to_string(),
            total: Counts::default(),
            by_kind: BTreeMap::new(),
            by_township: BTreeMap::new(),
            came: BTreeMap::new(),
            open_by_kind: BTreeMap::new(),
            open_by_township: OpenByTownship::new(),
            registry: RegistryWrite::default(),
            cases: CasesWork::default(),
            steps_ms: BTreeMap::new(),
            inputs,
            unchanged_since: None,
        }
    }

    /// Sets the open tickets after the run, per township (every configured township
    /// listed: one without tickets is a burn-down point at zero) and per kind.
    fn set_open(&mut self, mut open: OpenByTownship, city: &CityConfig) {
        for township in city.townships.keys() {
            open.entry(township.clone()).or_default();
        }
        self.open_by_kind = BTreeMap::new();
        for (kind, n) in open.values().flatten() {
            *self.open_by_kind.entry(kind.clone()).or_default() += n;
        }
        self.open_by_township = open;
    }

    /// Adds what some ticket changes did to the run's counts.
    fn add_tickets(&mut self, t: &TicketCounts) {
        self.total.add(&t.total);
        add_counts(&mut self.by_kind, &t.by_kind);
        add_counts(&mut self.by_township, &t.by_township);
        add_came(&mut self.came, &t.came);
    }

    /// Counts the tickets open after the run that it neither opened nor reopened as
    /// still open, per kind, per township and in all: the same in a run that
    /// recomputed some cases as in one that recomputed the city.
    fn count_still_open(&mut self) {
        let mut total = 0;
        for (township, kinds) in &self.open_by_township {
            for (kind, &open) in kinds {
                let new_here = self
                    .came
                    .get(township)
                    .and_then(|k| k.get(kind))
                    .copied()
                    .unwrap_or(0);
                let still = open.saturating_sub(new_here);
                if still > 0 {
                    self.by_kind.entry(kind.clone()).or_default().still_open += still;
                    self.by_township
                        .entry(township.clone())
                        .or_default()
                        .still_open += still;
                    total += still;
                }
            }
        }
        self.total.still_open = total;
    }

    /// The step that took longest, for the log line.
    pub fn slowest_step(&self) -> (&str, u64) {
        self.steps_ms
            .iter()
            .max_by_key(|(_, v)| **v)
            .map(|(k, v)| (k.as_str(), *v))
            .unwrap_or(("none", 0))
    }
}

/// Milliseconds per step of a run (or a bucket), each step timed from the last lap.
pub(super) struct Stopwatch(Instant, pub BTreeMap<String, u64>);

impl Stopwatch {
    pub fn new() -> Stopwatch {
        Stopwatch(Instant::now(), BTreeMap::new())
    }

    pub fn lap(&mut self, step: &str) {
        let now = Instant::now();
        self.1.insert(
            step.to_string(),
            now.duration_since(self.0).as_millis() as u64,
        );
        self.0 = now;
    }
}

/// Reconciles the records stored as of `as_of` and keeps the tickets current. Only the
/// cases that a new or changed record joined, or whose next date has come, are
/// recomputed; every case is when no run computed them yet, when the settings or
/// popsync changed, or when the as-of date moved back.
///
/// One process at a time leads the runs on a database. While another leads, this one
/// helps with its buckets (PostgreSQL) and waits; then it leads a run of its own,
/// which recomputes what was stored meanwhile, or finds nothing changed.
pub async fn run(
    store: &Store,
    config: &Config,
    as_of: NaiveDate,
    actor: &str,
) -> Result<RunSummary, StoreError> {
    let mut helped = 0;
    let (mut said, mut warned) = (false, false);
    loop {
        if let Some(lead) = store.try_lead().await? {
            if said {
                tracing::info!(
                    buckets_helped = helped,
                    "the other process's reconciliation is done; leading one"
                );
            }
            let summary = lead_run(store, config, as_of, actor).await;
            lead.end().await;
            return summary;
        }
        if !said {
            tracing::info!(
                "another popsync process leads a reconciliation of this database; helping with its buckets until it is done"
            );
            said = true;
        }
        if store.backend() == Backend::Postgres {
            match help(store, config, actor).await? {
                Help::Worked(worked) => {
                    metrics::counter!("popsync_reconcile_buckets_helped_total")
                        .increment(worked as u64);
                    helped += worked;
                }
                Help::OtherSettings(theirs) if !warned => {
                    tracing::warn!(
                        theirs = %theirs,
                        ours = %settings_of(&params_of(config, as_of)),
                        action = "give every popsync process on this database the same [reconcile] settings and version",
                        "another popsync process leads a reconciliation under other settings; not helping it"
                    );
                    warned = true;
                }
                Help::OtherSettings(_) => {}
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A run led by this process.
async fn lead_run(
    store: &Store,
    config: &Config,
    as_of: NaiveDate,
    actor: &str,
) -> Result<RunSummary, StoreError> {
    let started_at = format_timestamp(now_local());
    let t0 = Instant::now();
    let mut sw = Stopwatch::new();
    let params = params_of(config, as_of);
    // Read before the snapshot: a commit that lands while this run reads moves the
    // version on, and the next run recomputes.
    let inputs = inputs_of(store.source_version().await?, &params);
    let settings = settings_of(&params);
    let every = store.case_state().await?.is_none_or(|state| {
        state.settings != settings || state.as_of.is_none_or(|last| as_of < last)
    });
    // A run that must rebuild the cases (none computed yet, a rebuild asked for or cut
    // short) recomputes even with the last run's inputs.
    if let (false, Some((last_run, _, _, last))) =
        (every, store.recent_runs(1).await?.into_iter().next())
    {
        // A case made due since (a ticket reopened by hand) is work even so.
        if last["inputs"].as_str() == Some(inputs.as_str())
            && store.cases_due(as_of).await?.is_empty()
        {
            let last = (inputs, last_run);
            return unchanged_run(store, config, as_of, actor, last, &started_at, (t0, sw)).await;
        }
    }
    let mut summary = RunSummary::empty(as_of, inputs);
    let split = Buckets {
        workers: config.reconcile.workers,
        cases_per_bucket: config.reconcile.cases_per_bucket,
    };
    let done = if every {
        every_case(store, &params, split, &mut summary, &mut sw, actor).await?
    } else {
        let terms = RunTerms {
            run: format!("{started_at} {}", std::process::id()),
            as_of,
            settings: settings.clone(),
        };
        cases_due(
            store,
            split,
            (&params, &terms),
            &mut summary,
            &mut sw,
            actor,
        )
        .await?
    };
    summary.set_open(done.open, &config.city);
    summary.count_still_open();
    let summary = record_run(
        store,
        summary,
        &done.changes,
        &done.stamps,
        actor,
        &started_at,
        (t0, sw),
    )
    .await?;
    store
        .record_case_dates(done.next_dates.as_ref(), &settings, as_of)
        .await?;
    Ok(summary)
}

/// What a run's recompute leaves for the run's record.
struct Recomputation {
    /// Ticket changes still to apply with the run (a bucket applies its own).
    changes: Vec<Change>,
    stamps: Vec<(String, CaseId)>,
    /// The open tickets per township and kind after the run.
    open: OpenByTownship,
    /// Every case's next date, when every case was recomputed (a bucket records its
    /// own cases').
    next_dates: Option<HashMap<CaseId, NaiveDate>>,
}

/// Builds every case afresh from every record and recomputes them. Into an empty
/// registry with no tickets (a first run) the records are spilled to files and
/// recomputed bucket by bucket, as a run of due cases is; otherwise they are
/// recomputed in memory as one piece, planning every ticket at once, because the
/// golden records and tickets stored carry the cases of the last build, which a
/// bucket of the new cases cannot trust.
async fn every_case(
    store: &Store,
    params: &Params,
    split: Buckets,
    summary: &mut RunSummary,
    sw: &mut Stopwatch,
    actor: &str,
) -> Result<Recomputation, StoreError> {
    let fresh = store.begin_registry_writes().await?;
    if fresh && !store.has_tickets().await? {
        let spilled = store.spill_cases(split.cases_per_bucket).await?;
        sw.lap("spill");
        summary.cases = CasesWork {
            records_placed: spilled.records as u64,
            cases_merged: 0,
            cases_recomputed: spilled.cases as u64,
            every_case: true,
        };
        let done = recompute_spilled(store, params, spilled, split.workers, actor).await?;
        store.end_registry_writes(fresh).await?;
        sw.1.extend(done.steps_ms);
        sw.lap("recompute");
        summary.registry = done.registry;
        summary.add_tickets(&done.tickets);
        return Ok(Recomputation {
            changes: Vec::new(),
            stamps: Vec::new(),
            open: store.open_by_township().await?,
            next_dates: None,
        });
    }
    let (records, keys, placement) = store.build_cases().await?;
    sw.lap("load");
    let cases = keys.cases();
    let work = recompute_every_case(store, params, records, keys, fresh).await?;
    store.end_registry_writes(fresh).await?;
    sw.1.extend(work.steps_ms);
    sw.lap("recompute");
    let plan = plan_tickets(store, None, work.drafts, &work.draft_cases, &work.voided).await?;
    sw.lap("plan");
    summary.registry = work.registry;
    summary.cases = CasesWork {
        records_placed: placement.records as u64,
        cases_merged: 0,
        cases_recomputed: cases as u64,
        every_case: true,
    };
    summary.add_tickets(&plan.counts);
    Ok(Recomputation {
        open: open_after(&plan.existing, &plan.changes),
        changes: plan.changes,
        stamps: plan.stamps,
        next_dates: Some(work.next_dates),
    })
}

/// Places the records stored since the last run and recomputes the cases due, bucket
/// by bucket (`terms`: the run as its buckets are published).
async fn cases_due(
    store: &Store,
    split: Buckets,
    (params, terms): (&Params, &RunTerms),
    summary: &mut RunSummary,
    sw: &mut Stopwatch,
    actor: &str,
) -> Result<Recomputation, StoreError> {
    let placement = store.place_records().await?;
    let due = store.cases_due(terms.as_of).await?;
    sw.lap("place");
    // The golden records' case index stands: only a run that recomputes every case
    // drops it (into an empty registry) and builds it again; one cut short leaves the
    // cases to be rebuilt, and the next such run builds the index if it is missing.
    let done = recompute_due(store, params, terms, &due, split, actor).await?;
    sw.1.extend(done.steps_ms);
    sw.lap("recompute");
    summary.registry = done.registry;
    summary.cases = CasesWork {
        records_placed: placement.records as u64,
        cases_merged: placement.merged as u64,
        cases_recomputed: done.cases,
        every_case: false,
    };
    summary.add_tickets(&done.tickets);
    // The buckets applied their changes; the tickets of the other cases stand.
    Ok(Recomputation {
        changes: Vec::new(),
        stamps: Vec::new(),
        open: store.open_by_township().await?,
        next_dates: None,
    })
}

/// Applies the ticket changes and stores the run with its summary and each
/// township's burn-down point, in one transaction; logs the run's one INFO line.
async fn record_run(
    store: &Store,
    mut summary: RunSummary,
    changes: &[Change],
    stamps: &[(String, CaseId)],
    actor: &str,
    started_at: &str,
    (t0, mut sw): (Instant, Stopwatch),
) -> Result<RunSummary, StoreError> {
    let now = format_timestamp(now_local());
    let actor = Actor {
        name: actor,
        now: &now,
    };
    summary.steps_ms = sw.1.clone();
    let record = RunRecord {
        as_of: &summary.as_of,
        started_at,
        summary: &serde_json::to_value(&summary).unwrap_or_default(),
        open: &summary.open_by_township,
    };
    summary.run_id = store
        .apply_ticket_changes(changes, stamps, &actor, Some(&record))
        .await?
        .unwrap_or_default();
    sw.lap("tickets");
    summary.steps_ms = sw.1;
    store
        .update_run_summary(
            summary.run_id,
            &serde_json::to_value(&summary).unwrap_or_default(),
        )
        .await?;
    ReconcileFinished {
        summary: &summary,
        elapsed: t0.elapsed(),
    }
    .emit();
    Ok(summary)
}

/// What reconciliation needs besides the records, from the config, as of `as_of`.
pub(super) fn params_of(config: &Config, as_of: NaiveDate) -> Params {
    Params {
        as_of,
        grace_days: config.reconcile.grace_days,
        birth_registration_grace_days: config.reconcile.birth_registration_grace_days,
        counties: config.city.counties.clone(),
    }
}

/// What the cases' outcomes depend on besides the records and the date: a change
/// recomputes every case.
pub(super) fn settings_of(p: &Params) -> String {
    format!(
        "popsync {} · grace {}/{} days · counties {}",
        env!("CARGO_PKG_VERSION"),
        p.grace_days,
        p.birth_registration_grace_days,
        p.counties.join(",")
    )
}

/// What a run's result depends on. Equal inputs give equal drafts, and the lifecycle
/// plan keeps every ticket as it stands (a dismissal or reopening by staff included),
/// so a run with the last run's inputs has nothing to recompute or write.
pub(super) fn inputs_of(source_version: i64, p: &Params) -> String {
    format!(
        "{} · sources v{source_version} · as of {}",
        settings_of(p),
        p.as_of
    )
}

/// A run whose inputs are the last run's: recorded, with every open ticket counted as
/// still open, and nothing recomputed.
async fn unchanged_run(
    store: &Store,
    config: &Config,
    as_of: NaiveDate,
    actor: &str,
    (inputs, last_run): (String, i64),
    started_at: &str,
    (t0, mut sw): (Instant, Stopwatch),
) -> Result<RunSummary, StoreError> {
    let mut summary = RunSummary {
        unchanged_since: Some(last_run),
        ..RunSummary::empty(as_of, inputs)
    };
    // Open now, hand dismissals since the last run included: the day still gets its
    // burn-down point.
    let open = store.open_by_township().await?;
    for (township, kinds) in &open {
        for (kind, &n) in kinds {
            summary.total.still_open += n;
            summary.by_kind.entry(kind.clone()).or_default().still_open += n;
            summary
                .by_township
                .entry(township.clone())
                .or_default()
                .still_open += n;
        }
    }
    summary.set_open(open, &config.city);
    sw.lap("check");
    record_run(store, summary, &[], &[], actor, started_at, (t0, sw)).await
}

/// The run summary as operators read it after `popsync reconcile`.
pub fn render_text(s: &RunSummary, city: &crate::config::CityConfig) -> String {
    let row = |c: &Counts| {
        format!(
            "{:>6} {:>6} {:>6} {:>6} {:>6}",
            c.opened, c.still_open, c.reopened, c.resolved, c.withdrawn
        )
    };
    let mut out = format!("reconciliation run {} as of {}\n", s.run_id, s.as_of);
    out.push_str(&format!(
        "{:<26} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
        "", "opened", "open", "reopen", "resolv", "withdr"
    ));
    for (k, c) in &s.by_kind {
        out.push_str(&format!("{k:<26} {}\n", row(c)));
    }
    out.push_str(&format!("{:<26} {}\n", "total", row(&s.total)));
    out.push_str("per township:\n");
    for (t, c) in &s.by_township {
        out.push_str(&format!("  {t} {:<12} {}\n", city.township_name(t), row(c)));
    }
    if let Some(last) = s.unchanged_since {
        out.push_str(&format!(
            "nothing changed since run {last} (same sources, as-of date and settings): tickets are current\n"
        ));
    }
    let c = &s.cases;
    if s.unchanged_since.is_none() {
        out.push_str(&format!(
            "cases: {} records placed, {} cases merged, {} cases recomputed{}\n",
            c.records_placed,
            c.cases_merged,
            c.cases_recomputed,
            if c.every_case { " (every case)" } else { "" }
        ));
    }
    let (step, ms) = s.slowest_step();
    out.push_str(&format!(
        "registry: {} persons written, {} records that denote nobody written; slowest step {step} ({ms} ms)\n",
        s.registry.persons_written, s.registry.unlinked_written
    ));
    out
}
