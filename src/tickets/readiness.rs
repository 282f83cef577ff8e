//! Readiness for the provincial inspection (issue 17): from each township's register
//! records and open tickets, how likely the inspectors' sample is to find an error,
//! how many of the inspection's points that is expected to cost, and whether the
//! township is clearing its tickets fast enough to reach none by the inspection date.
//!
//! Pure: counts and dates in, figures out. The store counts (`Store::readiness_standing`,
//! `Store::open_history`); `popsync readiness`, `GET /api/v1/readiness` and whatever
//! else shows readiness (the page, a spreadsheet) call [`readiness`] and [`history`]
//! on those counts, so every one shows the same numbers. The model and its
//! assumptions are in docs/decisions.md, "Readiness". Aggregate counts only: nothing
//! here names a person.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::{CityConfig, InspectionConfig};
use crate::tickets::{Change, ExistingTicket, Status};

/// Open tickets per kind (`DEATH_NOT_RECORDED` …); kinds with none are left out. The
/// API's types spell it out: utoipa would publish the alias as a schema named `BTreeMap`.
pub type OpenByKind = BTreeMap<String, u64>;

/// Open tickets per kind per township: one burn-down point each.
pub type OpenByTownship = BTreeMap<String, OpenByKind>;

/// Each township's open tickets once a run's `changes` are applied to the `existing`
/// tickets. Every township that holds a ticket, in any status, is listed, with an empty
/// map when none is open: its burn-down reaches zero instead of stopping short.
pub fn open_after(existing: &[ExistingTicket], changes: &[Change]) -> OpenByTownship {
    let mut open = OpenByTownship::new();
    let mut add = |township: &str, kind: &str, n: i64| {
        let kinds = open.entry(township.to_string()).or_default();
        let count = kinds.entry(kind.to_string()).or_default();
        *count = count.saturating_add_signed(n);
    };
    let stored: std::collections::HashMap<&str, &ExistingTicket> =
        existing.iter().map(|t| (t.ticket_id.as_str(), t)).collect();
    for t in existing {
        add(
            t.township.as_str(),
            t.kind.as_str(),
            i64::from(t.status == Status::Open),
        );
    }
    for c in changes {
        match c {
            Change::Open { draft, .. } | Change::Reopen { draft, .. } => {
                add(draft.township.as_str(), draft.kind.as_str(), 1)
            }
            Change::Refresh { .. } => {}
            Change::Resolve { ticket_id } | Change::Withdraw { ticket_id } => {
                if let Some(t) = stored.get(ticket_id.as_str()) {
                    add(
                        t.township.as_str(),
                        t.kind.as_str(),
                        -i64::from(t.status == Status::Open),
                    );
                }
            }
        }
    }
    for kinds in open.values_mut() {
        kinds.retain(|_, n| *n > 0);
    }
    open
}

/// What the store counts for one township: the inputs of its readiness.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Standing {
    /// 9-digit township code.
    pub township: String,
    /// Active register (`pis`) records: `zt = 1`, `delFlag` 1 never seen.
    pub records: u64,
    pub open_by_kind: OpenByKind,
    /// Open tickets opened more than `fix_within_days` ago.
    pub overdue: u64,
}

/// What the store counts for readiness within one scope (a township, or the city).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counted {
    /// One per township with register records or open tickets.
    pub standings: Vec<Standing>,
    /// Each township's burn-down, oldest first.
    pub history: BTreeMap<String, Vec<HistoryPoint>>,
}

/// One point of a township's burn-down: its open tickets after the last
/// reconciliation run of one as-of date.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct HistoryPoint {
    /// The run's as-of date, `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    pub as_of: NaiveDate,
    pub run_id: i64,
    /// When that run finished (RFC 3339, `+08:00`).
    pub finished_at: String,
    pub open: u64,
    pub open_by_kind: BTreeMap<String, u64>,
}

/// The figures a township row and the city row share.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    /// Active register records: the denominator.
    pub records: u64,
    /// Open tickets.
    pub open: u64,
    pub open_by_kind: BTreeMap<String, u64>,
    /// `1000 × open / records`; null without records.
    pub errors_per_1000: Option<f64>,
    /// Open tickets opened more than `fix_within_days` ago.
    pub overdue: u64,
    /// Records the inspectors draw: `[inspection] sample_size`, or every record when
    /// there are fewer.
    pub sample_size: u64,
    /// The probability that a random sample of `sample_size` records holds at least
    /// one error (hypergeometric; each open ticket one erroneous record).
    pub p_sample_finds_error: f64,
    /// The points that sample is expected to cost: E[min(points, deduction × errors found)].
    pub expected_points_lost: f64,
}

/// Whether a township clears its tickets fast enough: open today against the straight
/// line from its first burn-down point to zero on the inspection date.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Pace {
    /// The first point's as-of date and open count: where the line starts.
    #[schema(value_type = String, format = Date)]
    pub first_as_of: NaiveDate,
    pub first_open: u64,
    /// Where the line stands today.
    pub target_open: f64,
    /// Open today not above the line.
    pub on_pace: bool,
}

/// One township's readiness.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct TownshipReadiness {
    pub township: String,
    /// From `[city] townships`, else the code.
    pub township_name: String,
    #[serde(flatten)]
    pub figures: Figures,
    /// Days from today to the inspection (negative once it has passed); null without
    /// `[inspection] date`.
    pub days_left: Option<i64>,
    /// Null without an inspection date or before the township's first burn-down point.
    pub pace: Option<Pace>,
}

/// The whole city: every township's register and tickets together, the inspectors'
/// sample drawn from all of them, and the townships ranked worst first.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CityReadiness {
    #[serde(flatten)]
    pub figures: Figures,
    pub days_left: Option<i64>,
    /// Township codes, worst first: most expected points lost, then most errors per
    /// 1,000 records, then most open tickets.
    pub ranking: Vec<String>,
    /// Townships whose pace verdict is "behind", in ranking order.
    pub behind: Vec<String>,
}

/// `popsync readiness` and `GET /api/v1/readiness`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Readiness {
    /// The day the figures are for (`days_left`, `overdue`, the pace line).
    #[schema(value_type = String, format = Date)]
    pub as_of: NaiveDate,
    #[schema(value_type = Option<String>, format = Date)]
    pub inspection_date: Option<NaiveDate>,
    pub points: f64,
    pub deduction_per_error: f64,
    pub fix_within_days: u32,
    /// In township-code order.
    pub townships: Vec<TownshipReadiness>,
    /// Only for the whole city (an admin naming no township).
    pub city: Option<CityReadiness>,
}

/// One end of a burn-down's straight line.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct LineEnd {
    #[schema(value_type = String, format = Date)]
    pub as_of: NaiveDate,
    pub open: u64,
}

/// The line a township's burn-down is held to.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Line {
    /// The township's first point.
    pub from: LineEnd,
    /// Zero open on the inspection date.
    pub to: LineEnd,
}

/// One township's burn-down.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct TownshipHistory {
    pub township: String,
    pub township_name: String,
    /// Oldest first, one per as-of date.
    pub points: Vec<HistoryPoint>,
    /// Null without an inspection date or without points.
    pub line: Option<Line>,
}

/// `GET /api/v1/readiness/history`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ReadinessHistory {
    #[schema(value_type = Option<String>, format = Date)]
    pub inspection_date: Option<NaiveDate>,
    /// In township-code order.
    pub townships: Vec<TownshipHistory>,
}

/// The chance that a sample of `sample` records drawn without replacement from
/// `records`, `errors` of them wrong, holds at least one wrong record:
/// `1 − C(records − errors, sample) / C(records, sample)`, computed as a product.
/// `errors` is capped at `records` and `sample` at `records`.
pub fn p_sample_finds_error(records: u64, errors: u64, sample: u64) -> f64 {
    let (n_all, k, n) = clamp(records, errors, sample);
    if k == 0 {
        return 0.0;
    }
    if n_all - k < n {
        return 1.0;
    }
    // P(no error) = Π_{i<n} (N − K − i) / (N − i).
    let none: f64 = (0..n)
        .map(|i| (n_all - k - i) as f64 / (n_all - i) as f64)
        .product();
    1.0 - none
}

/// E[min(points, deduction × X)] with X hypergeometric: the errors a sample of
/// `sample` records finds among `records` of which `errors` are wrong. Exact, from the
/// whole probability mass function (no normal approximation).
pub fn expected_points_lost(
    records: u64,
    errors: u64,
    sample: u64,
    points: f64,
    deduction: f64,
) -> f64 {
    let (n_all, k, n) = clamp(records, errors, sample);
    if k == 0 || n == 0 {
        return 0.0;
    }
    hypergeometric_pmf(n_all, k, n)
        .map(|(x, p)| p * points.min(deduction * x as f64))
        .sum::<f64>()
        .min(points)
}

/// Errors capped at records, the sample at records.
fn clamp(records: u64, errors: u64, sample: u64) -> (u64, u64, u64) {
    (records, errors.min(records), sample.min(records))
}

/// `(x, P(X = x))` over X's support, for X hypergeometric(N, K, n) with K ≤ N, n ≤ N:
/// the first term from log-binomials, the rest by the ratio of neighbours, each in
/// logarithms so that no factorial is formed and no term underflows before its time.
fn hypergeometric_pmf(n_all: u64, k: u64, n: u64) -> impl Iterator<Item = (u64, f64)> {
    let lo = n.saturating_sub(n_all - k);
    let hi = n.min(k);
    let mut ln_p = ln_choose(k, lo) + ln_choose(n_all - k, n - lo) - ln_choose(n_all, n);
    (lo..=hi).map(move |x| {
        let p = ln_p.exp();
        if x < hi {
            // P(x+1)/P(x) = (K − x)(n − x) / ((x + 1)(N − K − n + x + 1))
            ln_p += ((k - x) as f64).ln() + ((n - x) as f64).ln()
                - ((x + 1) as f64).ln()
                - ((n_all - k + x + 1 - n) as f64).ln();
        }
        (x, p)
    })
}

/// ln C(a, b), as a sum of min(b, a − b) logarithms.
fn ln_choose(a: u64, b: u64) -> f64 {
    let b = b.min(a - b);
    (0..b)
        .map(|i| ((a - i) as f64).ln() - ((i + 1) as f64).ln())
        .sum()
}

/// A row's figures from its counts.
fn figures(records: u64, open_by_kind: OpenByKind, overdue: u64, i: &InspectionConfig) -> Figures {
    let open: u64 = open_by_kind.values().sum();
    let sample = u64::from(i.sample_size).min(records);
    Figures {
        records,
        open,
        open_by_kind,
        errors_per_1000: (records > 0).then(|| 1000.0 * open as f64 / records as f64),
        overdue,
        sample_size: sample,
        p_sample_finds_error: p_sample_finds_error(records, open, sample),
        expected_points_lost: expected_points_lost(
            records,
            open,
            sample,
            i.points,
            i.deduction_per_error,
        ),
    }
}

/// The pace verdict: `open_now` against the line from the first point to zero on
/// `inspection`, read at `today`. None without points.
pub fn pace(
    points: &[HistoryPoint],
    inspection: NaiveDate,
    today: NaiveDate,
    open_now: u64,
) -> Option<Pace> {
    let first = points.first()?;
    let span = (inspection - first.as_of).num_days();
    let left = (inspection - today).num_days();
    let share = if span > 0 {
        (left as f64 / span as f64).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let target_open = first.open as f64 * share;
    Some(Pace {
        first_as_of: first.as_of,
        first_open: first.open,
        target_open,
        // A hair of slack: a township exactly on the line is on pace.
        on_pace: open_now as f64 <= target_open + 1e-9,
    })
}

/// Readiness on `today` within `scope` (a township; `None` for the whole city, which
/// adds the city row). Every township of `[city] townships` is listed (the one in
/// scope only, when there is one), with or without records and tickets; a township
/// outside the city's counties is not.
pub fn readiness(
    counted: Counted,
    city: &CityConfig,
    inspection: &InspectionConfig,
    today: NaiveDate,
    scope: Option<&str>,
) -> Readiness {
    let mut standings: BTreeMap<String, Standing> = counted
        .standings
        .into_iter()
        .map(|s| (s.township.clone(), s))
        .collect();
    listed(&mut standings, city, scope, |code| Standing {
        township: code.to_string(),
        ..Standing::default()
    });
    let history = &counted.history;
    let days_left = inspection.date.map(|d| (d - today).num_days());
    let (mut records, mut open_by_kind, mut overdue) = (0, OpenByKind::new(), 0);
    let mut townships = Vec::with_capacity(standings.len());
    for s in standings.into_values() {
        records += s.records;
        overdue += s.overdue;
        for (kind, n) in &s.open_by_kind {
            *open_by_kind.entry(kind.clone()).or_default() += n;
        }
        let figures = figures(s.records, s.open_by_kind, s.overdue, inspection);
        let pace = inspection.date.and_then(|d| {
            let points = history.get(&s.township).map_or(&[][..], Vec::as_slice);
            pace(points, d, today, figures.open)
        });
        townships.push(TownshipReadiness {
            township_name: city.township_name(&s.township).to_string(),
            township: s.township,
            figures,
            days_left,
            pace,
        });
    }
    let city_row = scope.is_none().then(|| {
        let ranking = ranked(&townships);
        let behind = ranking
            .iter()
            .filter(|code| {
                townships
                    .iter()
                    .any(|t| &t.township == *code && t.pace.as_ref().is_some_and(|p| !p.on_pace))
            })
            .cloned()
            .collect();
        CityReadiness {
            figures: figures(records, open_by_kind, overdue, inspection),
            days_left,
            ranking,
            behind,
        }
    });
    Readiness {
        as_of: today,
        inspection_date: inspection.date,
        points: inspection.points,
        deduction_per_error: inspection.deduction_per_error,
        fix_within_days: inspection.fix_within_days,
        townships,
        city: city_row,
    }
}

/// Keeps in `rows` the townships readiness lists within `scope`: the city's own (its
/// counties'), every township of `[city] townships` added with `empty` when absent;
/// with a scope, that township alone.
fn listed<T>(
    rows: &mut BTreeMap<String, T>,
    city: &CityConfig,
    scope: Option<&str>,
    empty: impl Fn(&str) -> T,
) {
    rows.retain(|code, _| city.contains(code) && scope.is_none_or(|t| t == code));
    let configured = city.townships.keys().map(String::as_str);
    for code in scope
        .into_iter()
        .chain(configured.filter(|_| scope.is_none()))
    {
        if !rows.contains_key(code) {
            rows.insert(code.to_string(), empty(code));
        }
    }
}

/// Township codes worst first: expected points lost, errors per 1,000 records (a
/// township without records last), open tickets, then code.
fn ranked(townships: &[TownshipReadiness]) -> Vec<String> {
    let mut order: Vec<&TownshipReadiness> = townships.iter().collect();
    order.sort_by(|a, b| {
        let (fa, fb) = (&a.figures, &b.figures);
        fb.expected_points_lost
            .total_cmp(&fa.expected_points_lost)
            .then_with(|| {
                let rate = |f: &Figures| f.errors_per_1000.unwrap_or(-1.0);
                rate(fb).total_cmp(&rate(fa))
            })
            .then_with(|| fb.open.cmp(&fa.open))
            .then_with(|| a.township.cmp(&b.township))
    });
    order.into_iter().map(|t| t.township.clone()).collect()
}

/// Every township's burn-down within `scope` with the line it is held to; the
/// townships listed are those [`readiness`] lists (one without points has none).
pub fn history(
    mut points: BTreeMap<String, Vec<HistoryPoint>>,
    city: &CityConfig,
    inspection: &InspectionConfig,
    scope: Option<&str>,
) -> ReadinessHistory {
    listed(&mut points, city, scope, |_| Vec::new());
    let townships = points
        .into_iter()
        .map(|(township, points)| {
            let line = inspection.date.zip(points.first()).map(|(d, first)| Line {
                from: LineEnd {
                    as_of: first.as_of,
                    open: first.open,
                },
                to: LineEnd { as_of: d, open: 0 },
            });
            TownshipHistory {
                township_name: city.township_name(&township).to_string(),
                township,
                points,
                line,
            }
        })
        .collect();
    ReadinessHistory {
        inspection_date: inspection.date,
        townships,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn small_cases_agree_with_sums_done_by_hand() {
        // N = 10, K = 2, n = 3: P(0) = C(8,3)/C(10,3) = 56/120, P(1) = 2·28/120,
        // P(2) = 8/120.
        assert!(close(p_sample_finds_error(10, 2, 3), 64.0 / 120.0));
        let pmf: Vec<(u64, f64)> = hypergeometric_pmf(10, 2, 3).collect();
        let want = [(0, 56.0 / 120.0), (1, 56.0 / 120.0), (2, 8.0 / 120.0)];
        assert_eq!(pmf.len(), want.len());
        for ((x, p), (wx, wp)) in pmf.iter().zip(want) {
            assert_eq!(*x, wx);
            assert!(close(*p, wp), "P({x}) = {p}, want {wp}");
        }
        // Below the cap the expectation is the mean n·K/N.
        assert!(close(expected_points_lost(10, 2, 3, 16.0, 1.0), 0.6));
        // Two points an error, a cap of one point: E = 1 − P(0).
        assert!(close(
            expected_points_lost(10, 2, 3, 1.0, 2.0),
            64.0 / 120.0
        ));
        // N = 5, K = 3, n = 4: X is 2 (P = C(3,2)C(2,2)/C(5,4) = 3/5) or 3 (2/5);
        // with a cap of 2.5 points: 3/5·2 + 2/5·2.5 = 2.2.
        assert!(close(expected_points_lost(5, 3, 4, 2.5, 1.0), 2.2));
    }

    #[test]
    fn no_errors_find_nothing_and_too_many_cannot_be_missed() {
        for (records, sample) in [(1, 1), (10, 3), (500, 50), (100_000, 50)] {
            assert_eq!(p_sample_finds_error(records, 0, sample), 0.0);
            assert_eq!(expected_points_lost(records, 0, sample, 16.0, 1.0), 0.0);
            // K ≥ N − n + 1: every sample holds an error.
            let k = records - sample + 1;
            assert_eq!(p_sample_finds_error(records, k, sample), 1.0);
            assert_eq!(p_sample_finds_error(records, records * 2, sample), 1.0);
            if records <= 10 {
                // One error fewer and one sample in C(N, n) misses them all (beyond a
                // small N that chance is below a double's resolution next to 1).
                assert!(p_sample_finds_error(records, k - 1, sample) < 1.0);
            }
        }
        // No records: nothing to sample, whatever the tickets say.
        assert_eq!(p_sample_finds_error(0, 5, 50), 0.0);
        assert_eq!(expected_points_lost(0, 5, 50, 16.0, 1.0), 0.0);
    }

    #[test]
    fn both_rise_with_the_error_rate_at_one_sample_size() {
        let (records, sample) = (2_000, 50);
        let mut last = (0.0, 0.0);
        for k in 0..=records {
            let p = p_sample_finds_error(records, k, sample);
            let e = expected_points_lost(records, k, sample, 16.0, 1.0);
            assert!(
                p >= last.0 && e >= last.1 - 1e-9,
                "K = {k}: {p} {e} after {last:?}"
            );
            if last.0 < 0.999 && k > 0 {
                assert!(p > last.0, "strictly, until certain: K = {k}");
            }
            last = (p, e);
        }
    }

    #[test]
    fn expected_points_are_capped_and_the_mass_sums_to_one() {
        // Far more errors expected than points: all but certainly every point lost.
        for (records, k, sample) in [(1_000, 900, 50), (100_000, 20_000, 10_000)] {
            let total: f64 = hypergeometric_pmf(records, k, sample).map(|(_, p)| p).sum();
            assert!(
                (total - 1.0).abs() < 1e-9,
                "{records} {k} {sample}: {total}"
            );
            let e = expected_points_lost(records, k, sample, 16.0, 1.0);
            assert!(e <= 16.0 && e > 15.9, "{records} {k} {sample}: {e}");
        }
        // Every record wrong: the sample finds five errors for sure, the cap takes three.
        assert_eq!(expected_points_lost(10, 10, 5, 16.0, 1.0), 5.0);
        assert_eq!(expected_points_lost(10, 10, 5, 3.0, 1.0), 3.0);
    }

    fn point(day: u32, open: u64) -> HistoryPoint {
        HistoryPoint {
            as_of: NaiveDate::from_ymd_opt(2024, 5, day).unwrap(),
            run_id: i64::from(day),
            finished_at: String::new(),
            open,
            open_by_kind: OpenByKind::new(),
        }
    }

    #[test]
    fn pace_is_open_today_against_the_line_to_zero() {
        let d = |day| NaiveDate::from_ymd_opt(2024, 5, day).unwrap();
        let points = [point(1, 30), point(2, 29)];
        // 30 open on May 1, inspection May 31: the line falls one a day.
        let at = |today, open| pace(&points, d(31), d(today), open).unwrap();
        assert!(close(at(11, 20).target_open, 20.0));
        assert!(at(11, 20).on_pace, "on the line is on pace");
        assert!(!at(11, 21).on_pace);
        assert!(close(at(31, 0).target_open, 0.0));
        assert!(!at(31, 1).on_pace, "on the day, only zero is on pace");
        assert_eq!(at(11, 20).first_open, 30);
        // Before the first point the line is at its start; an inspection date on or
        // before the first point leaves nothing but zero on pace.
        assert!(close(
            pace(&points, d(31), d(1), 0).unwrap().target_open,
            30.0
        ));
        assert!(!pace(&points, d(1), d(1), 1).unwrap().on_pace);
        assert_eq!(pace(&[], d(31), d(11), 0), None);
    }

    fn inspection(date: Option<NaiveDate>) -> InspectionConfig {
        InspectionConfig {
            date,
            ..InspectionConfig::default()
        }
    }

    fn standing(township: &str, records: u64, open: &[(&str, u64)]) -> Standing {
        Standing {
            township: township.into(),
            records,
            open_by_kind: open.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            overdue: 0,
        }
    }

    #[test]
    fn the_city_adds_townships_up_and_ranks_them_worst_first() {
        let city = CityConfig {
            counties: vec!["349901".into()],
            townships: BTreeMap::from([("349901001".to_string(), "城关镇".to_string())]),
        };
        let standings = vec![
            standing("349901003", 1000, &[("INVALID_ID", 2)]),
            standing(
                "349901001",
                1000,
                &[("INVALID_ID", 1), ("PHANTOM_RECORD", 9)],
            ),
            standing("349901002", 0, &[]),
        ];
        let today = NaiveDate::from_ymd_opt(2024, 5, 11).unwrap();
        let date = NaiveDate::from_ymd_opt(2024, 5, 31);
        let counted = Counted {
            standings,
            history: BTreeMap::from([("349901001".to_string(), vec![point(1, 10)])]),
        };
        let r = readiness(counted.clone(), &city, &inspection(date), today, None);
        let codes: Vec<&str> = r.townships.iter().map(|t| t.township.as_str()).collect();
        assert_eq!(codes, ["349901001", "349901002", "349901003"]);
        let a = &r.townships[0];
        assert_eq!((a.township_name.as_str(), a.figures.open), ("城关镇", 10));
        assert_eq!(a.figures.errors_per_1000, Some(10.0));
        assert_eq!(a.days_left, Some(20));
        // 10 open, line from 10 on May 1 to 0 on May 31: 6.67 on May 11.
        assert!(!a.pace.as_ref().unwrap().on_pace);
        assert_eq!(r.townships[1].figures.errors_per_1000, None);
        assert_eq!(r.townships[2].pace, None, "no points, no verdict");
        let c = r.city.unwrap();
        assert_eq!((c.figures.records, c.figures.open), (2000, 12));
        assert_eq!(c.figures.open_by_kind["INVALID_ID"], 3);
        assert_eq!(c.ranking, ["349901001", "349901003", "349901002"]);
        assert_eq!(c.behind, ["349901001"]);

        let r = readiness(counted, &city, &inspection(None), today, Some("349901003"));
        assert_eq!((r.city, r.inspection_date), (None, None));
        assert_eq!(r.townships.len(), 1, "only the township in scope");
        assert_eq!(
            (r.townships[0].days_left, &r.townships[0].pace),
            (None, &None)
        );
        // A configured township with nothing counted is listed at zero.
        let r = readiness(Counted::default(), &city, &inspection(date), today, None);
        assert_eq!(r.townships.len(), 1);
        assert_eq!(r.townships[0].figures.records, 0);
        assert_eq!(r.city.unwrap().ranking, ["349901001"]);
    }
}
