//! One reconciliation run against the store: load, reconcile (pure), plan the
//! lifecycle (pure), write registry and tickets, and summarise for operators.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::NaiveDate;
use serde::Serialize;

use super::buckets::{recompute_due, recompute_every_case, Buckets};
use super::events::ReconcileFinished;
use crate::config::{CityConfig, Config};
use crate::domain::{format_timestamp, now_local};
use crate::reconcile::Params;
use crate::store::cases::CaseId;
use crate::store::{Actor, RegistryWrite, Store, StoreError};
use crate::tickets::readiness::{open_after, OpenByTownship};
use crate::tickets::TicketKind;
use crate::tickets::{plan, Change};

/// Counts of one run, per kind and per township.
#[derive(Debug, Default, Serialize, Clone)]
pub struct Counts {
    pub opened: u64,
    pub still_open: u64,
    pub reopened: u64,
    pub resolved: u64,
    pub withdrawn: u64,
}

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
    /// Open tickets per kind after the run (the page's chart reads this).
    pub open_by_kind: BTreeMap<String, u64>,
    /// Open tickets per kind per township after the run: stored as the day's
    /// burn-down points (`open_history`), not in the summary.
    #[serde(skip)]
    pub open_by_township: OpenByTownship,
    pub registry: RegistryWrite,
    /// How much of the city the run placed and recomputed.
    pub cases: CasesWork,
    pub steps_ms: BTreeMap<&'static str, u64>,
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

    /// Counts the tickets open after the run that it neither opened nor reopened
    /// (`came`, per township and kind) as still open, per kind, per township and in
    /// all: the same in a run that recomputed some cases as in one that recomputed
    /// the city.
    fn count_still_open(&mut self, came: &HashMap<(String, String), u64>) {
        let mut total = 0;
        for (township, kinds) in &self.open_by_township {
            for (kind, &open) in kinds {
                let new_here = came
                    .get(&(township.clone(), kind.clone()))
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
    pub fn slowest_step(&self) -> (&'static str, u64) {
        self.steps_ms
            .iter()
            .max_by_key(|(_, v)| **v)
            .map(|(k, v)| (*k, *v))
            .unwrap_or(("none", 0))
    }
}

struct Stopwatch(Instant, BTreeMap<&'static str, u64>);

impl Stopwatch {
    fn lap(&mut self, step: &'static str) {
        let now = Instant::now();
        self.1
            .insert(step, now.duration_since(self.0).as_millis() as u64);
        self.0 = now;
    }
}

/// Reconciles the records stored as of `as_of` and keeps the tickets current. Only the
/// cases that a new or changed record joined, or whose next date has come, are
/// recomputed; every case is when no run computed them yet, when the settings or
/// popsync changed, or when the as-of date moved back.
pub async fn run(
    store: &Store,
    config: &Config,
    as_of: NaiveDate,
    actor: &str,
) -> Result<RunSummary, StoreError> {
    let started_at = format_timestamp(now_local());
    let t0 = Instant::now();
    let mut sw = Stopwatch(Instant::now(), BTreeMap::new());
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
        if last["inputs"].as_str() == Some(inputs.as_str()) {
            let last = (inputs, last_run);
            return unchanged_run(store, config, as_of, actor, last, &started_at, (t0, sw)).await;
        }
    }
    let fresh = store.begin_registry_writes().await?;
    let (work, placement, due) = if every {
        let (records, keys, placement) = store.build_cases().await?;
        sw.lap("load");
        let work = recompute_every_case(store, &params, records, keys, fresh).await?;
        (work, placement, None)
    } else {
        let placement = store.place_records().await?;
        let due = store.cases_due(as_of).await?;
        sw.lap("place");
        let split = Buckets {
            workers: config.reconcile.workers,
            cases_per_bucket: config.reconcile.cases_per_bucket,
        };
        let work = recompute_due(store, &params, due.clone(), fresh, split).await?;
        (work, placement, Some(due))
    };
    store.end_registry_writes().await?;
    let scope = due.as_deref();
    let registry = work.registry;
    for (step, ms) in work.steps_ms {
        sw.1.insert(step, ms);
    }
    sw.lap("recompute");
    let (tickets, draft_cases, voided, next_dates) =
        (work.drafts, work.draft_cases, work.voided, work.next_dates);
    let drafted: Vec<String> = draft_cases.keys().cloned().collect();
    let (existing, stamped) = store.ticket_states_of(scope, &drafted).await?;
    let stored: std::collections::HashMap<&str, (TicketKind, &str)> = existing
        .iter()
        .map(|t| (t.ticket_id.as_str(), (t.kind, t.township.as_str())))
        .collect();
    let changes = plan(&existing, tickets, &voided);
    let stamps: Vec<(&str, CaseId)> = draft_cases
        .iter()
        .filter(|(id, case)| stamped.get(*id).copied().flatten() != Some(**case))
        .map(|(id, case)| (id.as_str(), *case))
        .collect();
    sw.lap("plan");
    let mut summary = RunSummary {
        registry,
        cases: CasesWork {
            records_placed: placement.records as u64,
            cases_merged: placement.merged as u64,
            cases_recomputed: work.cases as u64,
            every_case: scope.is_none(),
        },
        ..RunSummary::empty(as_of, inputs)
    };
    let open = match scope {
        None => open_after(&existing, &changes),
        Some(_) => {
            // Tickets outside the recomputed cases stand as they are.
            shifted(
                store.open_by_township().await?,
                &open_after(&existing, &[]),
                &open_after(&existing, &changes),
            )
        }
    };
    summary.set_open(open, &config.city);
    let mut came: HashMap<(String, String), u64> = HashMap::new();
    for c in &changes {
        let (kind, township, bump): (TicketKind, String, fn(&mut Counts)) = match c {
            Change::Open { draft, .. } => {
                *came
                    .entry((draft.township.to_string(), draft.kind.as_str().to_string()))
                    .or_default() += 1;
                (draft.kind, draft.township.to_string(), |c| c.opened += 1)
            }
            Change::Refresh { .. } => continue,
            Change::Reopen { draft, .. } => {
                *came
                    .entry((draft.township.to_string(), draft.kind.as_str().to_string()))
                    .or_default() += 1;
                (draft.kind, draft.township.to_string(), |c| c.reopened += 1)
            }
            Change::Resolve { ticket_id } => {
                let (k, t) = stored[ticket_id.as_str()];
                (k, t.to_string(), |c| c.resolved += 1)
            }
            Change::Withdraw { ticket_id } => {
                let (k, t) = stored[ticket_id.as_str()];
                (k, t.to_string(), |c| c.withdrawn += 1)
            }
        };
        bump(&mut summary.total);
        bump(
            summary
                .by_kind
                .entry(kind.as_str().to_string())
                .or_default(),
        );
        bump(summary.by_township.entry(township).or_default());
    }
    summary.count_still_open(&came);
    let summary = record_run(
        store,
        summary,
        &changes,
        &stamps,
        actor,
        &started_at,
        (t0, sw),
    )
    .await?;
    store
        .record_case_dates(scope, &next_dates, &settings, as_of)
        .await?;
    Ok(summary)
}

/// The stored open tickets per township and kind (`open`), with the recomputed
/// tickets' counts as they were (`before`) replaced by what they are (`after`).
fn shifted(
    mut open: OpenByTownship,
    before: &OpenByTownship,
    after: &OpenByTownship,
) -> OpenByTownship {
    for (by, sign) in [(before, -1i64), (after, 1)] {
        for (township, kinds) in by {
            let into = open.entry(township.clone()).or_default();
            for (kind, n) in kinds {
                let count = into.entry(kind.clone()).or_default();
                *count = count.saturating_add_signed(sign * *n as i64);
            }
        }
    }
    for kinds in open.values_mut() {
        kinds.retain(|_, n| *n > 0);
    }
    open
}

/// Applies the ticket changes and stores the run with its summary and each
/// township's burn-down point, in one transaction; logs the run's one INFO line.
async fn record_run(
    store: &Store,
    mut summary: RunSummary,
    changes: &[Change],
    stamps: &[(&str, CaseId)],
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
    summary.run_id = store
        .apply_ticket_changes(
            changes,
            stamps,
            &actor,
            &summary.as_of,
            started_at,
            &serde_json::to_value(&summary).unwrap_or_default(),
            &summary.open_by_township,
        )
        .await?;
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
fn settings_of(p: &Params) -> String {
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
