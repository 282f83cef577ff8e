//! Issue 16's oracle over random histories: whatever a reconciliation run leaves in
//! the store equals a full recompute of the same records at the same date.
//!
//! A seeded history starts from a small simulated city, synced and reconciled as of
//! its date, then takes random steps, one change or a few at once: a department
//! changes a record and popsync syncs it (or finds it with `verify --repair`);
//! records are written straight to the store through the sync's own write
//! (`Store::commit_batches`), dated before, on and after the as-of date; the as-of
//! date moves (a day, across the 30- and 60-day grace periods, backwards); staff
//! dismiss or reopen a ticket. Half the changes land on what a ticket names. After
//! each step the store is reconciled by the real binary (`popsync reconcile
//! --as-of`, so whichever run the command makes is the one checked) and the full
//! check (`run::full_check`) must find it EQUAL. After a third, two thirds and all of
//! the steps, a fresh store that got the same records in the same order, never
//! reconciled before, is reconciled straight at the date: its open tickets and its
//! registry's digest must be the walked store's.
//!
//! Runs recompute only the cases a change or the passing of time can affect; a case
//! they fail to recompute is a difference here, named with its seed and step.
//! `POPSYNC_INCREMENTAL_SEED=<seed>` replays one history (on SQLite).
//!
//! A ticket's words (summary, suggested ID) are compared too: an open ticket found
//! again with unchanged evidence but other words is rewritten (seed 2019 once kept a
//! likely correction that no longer held).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use chrono::{Duration, NaiveDate};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use popsync::config::Config;
use popsync::domain::{normalise_id, DivisionCode, IdNumber, Sex};
use popsync::records::{
    boxed_unless_empty, Batch, BirthCertificate, CertStatus, Cremation, DeathCertificate, Hyzk,
    Marriage, MarriageKind, PisRecord, PisState, PsbEvent, PsbEventKind, PsbParticulars, Records,
    Snapshot, WithRaw,
};
use popsync::run::full_check::full_check;
use popsync::run::pull::sync_feeds;
use popsync::run::verify::{verify_feeds, VerifyOptions};
use popsync::shutdown::Shutdown;
use popsync::store::{Actor, Store, TicketFilter};
use popsync::tickets::{ExistingTicket, Status, Ticket};

use crate::helpers::{backends, fast, fresh_db, open_store, Backend, City, TestDb};

/// Histories on SQLite, and how many steps each takes.
const SQLITE_SEEDS: [u64; 5] = [1601, 1602, 1603, 1604, 1605];
const SQLITE_STEPS: usize = 36;
/// The PostgreSQL history: shorter, each step costs more there.
const POSTGRES_SEED: u64 = 1606;
const POSTGRES_STEPS: usize = 12;
/// People on the simulated city's register: every ticket kind is injected, and a
/// full recompute stays a few milliseconds.
const PERSONS: usize = 250;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_runs_equal_a_full_recompute_over_random_histories() {
    let histories: Vec<(Backend, u64, usize)> = match std::env::var("POPSYNC_INCREMENTAL_SEED") {
        Ok(seed) => vec![(
            Backend::Sqlite,
            seed.parse().expect("POPSYNC_INCREMENTAL_SEED is a number"),
            SQLITE_STEPS,
        )],
        Err(_) => {
            let mut h: Vec<_> = SQLITE_SEEDS
                .iter()
                .map(|&s| (Backend::Sqlite, s, SQLITE_STEPS))
                .collect();
            if backends().contains(&Backend::Postgres) {
                h.push((Backend::Postgres, POSTGRES_SEED, POSTGRES_STEPS));
            }
            h
        }
    };
    let replay = histories.len() == 1;
    let mut moves = BTreeMap::new();
    for (backend, seed, steps) in histories {
        let started = std::time::Instant::now();
        let mut history = History::start(backend, seed, steps).await;
        for _ in 0..steps {
            history.step().await;
        }
        for (what, n) in history.lifecycle_moves().await {
            *moves.entry(what).or_insert(0) += n;
        }
        eprintln!(
            "incremental: seed {seed} on {backend:?}: {steps} steps in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    // An oracle is only as good as the histories it sees: these must have moved
    // tickets every way a run moves them.
    for what in ["resolved", "withdrawn", "reopened"] {
        assert!(
            replay || moves.get(what).is_some_and(|&n| n > 0),
            "no ticket {what} in any history: the generator lost its reach ({moves:?})"
        );
    }
}

/// One of the stores a history writes to, with the config file that names it: the
/// walked one (reconciled after every step), or a fresh twin of it (the same records,
/// reconciled once).
struct Twin {
    _db: TestDb,
    path: PathBuf,
    config: Config,
    store: Store,
}

impl Twin {
    /// A store with its config, `[reconcile]` set to `reconcile` (TOML lines).
    async fn new(city: &City, backend: Backend, reconcile: &str) -> Twin {
        let db = fresh_db(backend).await;
        let (path, config) = city.config(&db, |t| format!("{t}\n[reconcile]\n{reconcile}\n"));
        let store = open_store(&db).await;
        Twin {
            _db: db,
            path,
            config,
            store,
        }
    }

    /// Pulls every feed to its end, as `popsync sync` does.
    async fn sync(&self) -> Result<(), String> {
        for r in sync_feeds(&self.store, &self.config, &[], fast(), &Shutdown::never()).await {
            r.result.map_err(|e| format!("sync of {}: {e}", r.feed))?;
        }
        Ok(())
    }

    /// Reads every feed whole and stores what the cursors missed, as `popsync verify
    /// --repair` does: the only way a change made in place reaches a store.
    async fn repair(&self) -> Result<(), String> {
        let options = VerifyOptions {
            repair: true,
            sync: fast(),
        };
        let report =
            verify_feeds(&self.store, &self.config, &[], &options, &Shutdown::never()).await;
        for f in &report.feeds {
            if let Err(e) = &f.result {
                return Err(format!("verify of {}: {e}", f.feed));
            }
        }
        Ok(())
    }

    /// Stores `records` through the sync's own write, leaving the stream's cursor
    /// where the last sync put it: records a department served, as far as the store
    /// can tell, that no feed of the simulator serves again.
    async fn write(&self, stream: &'static str, records: Records) -> Result<(), String> {
        let cursor = self
            .store
            .cursor(stream)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{stream} was never synced"))?;
        let batch = Batch {
            stream,
            records,
            malformed: Vec::new(),
            cursor,
            newest_record_at: None,
            more: false,
            page_token: None,
        };
        let stats = self
            .store
            .commit_batches(&[batch])
            .await
            .map_err(|e| e.to_string())?;
        if stats.new == 0 {
            return Err(format!("nothing new stored in {stream}: a key was reused"));
        }
        Ok(())
    }

    /// `popsync reconcile --as-of`, the real binary: the run the product makes.
    fn reconcile(&self, as_of: NaiveDate) -> Result<(), String> {
        let out = Command::new(env!("CARGO_BIN_EXE_popsync"))
            .arg("--config")
            .arg(&self.path)
            .args(["reconcile", "--as-of", &as_of.to_string()])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "popsync reconcile --as-of {as_of} exited {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// The full check of the last run: the stored state against a recompute of the
    /// same records at the same date, and the registry's stored digest.
    async fn check(&self) -> Result<String, String> {
        let c = full_check(&self.store, &self.config, None)
            .await
            .map_err(|e| format!("the full check could not compare: {e}"))?;
        if c.equal {
            Ok(c.registry.stored_digest)
        } else {
            Err(c.render_text())
        }
    }
}

/// A random history and everything it needs to take its next step.
struct History {
    seed: u64,
    backend: Backend,
    rng: SmallRng,
    city: City,
    walked: Twin,
    /// Fresh stores that get every record the walked one gets, each reconciled once,
    /// straight at the date of its step, and compared then: (step, store).
    twins: Vec<(usize, Twin)>,
    as_of: NaiveDate,
    /// The step being taken (0: the start).
    step: usize,
    /// Keys made for records so far.
    keys: usize,
    /// What the start and each step did, in order: printed with a failure.
    log: Vec<String>,
    /// Register records the simulator lets tests edit, and those it holds back now.
    sim_pis: Vec<String>,
    hidden: BTreeSet<String>,
    /// Certificates the simulator serves (its voids apply only to them).
    sim_certs: Vec<String>,
}

impl History {
    /// A city synced into every store (a few register records held back from the
    /// first sync on some seeds), the walked store reconciled as of the city's date;
    /// fresh twins to compare with after a third, two thirds and all of `steps`.
    async fn start(backend: Backend, seed: u64, steps: usize) -> History {
        let mut rng = SmallRng::seed_from_u64(seed);
        let city = City::start(seed, PERSONS, popsync::sim::Faults::none()).await;
        let sim_pis = city.server.state.pis_editable_ids();
        let mut log = vec![format!("a city of {PERSONS} (world seed {seed})")];
        let hidden: BTreeSet<String> = if rng.random_bool(0.5) {
            city.server.state.pis_hide_spread(3);
            log.push("3 register records held back from the first sync".into());
            city.server.state.pis_hidden().into_iter().collect()
        } else {
            BTreeSet::new()
        };
        // The walked store recomputes in small buckets, several at once, the seed
        // saying how many; the fresh twins in one bucket.
        let split = format!(
            "workers = {}\ncases_per_bucket = {}",
            1 + seed % 4,
            5 + (seed % 5) * 20
        );
        log.push(format!(
            "the walked store's runs: {}",
            split.replace('\n', ", ")
        ));
        let walked = Twin::new(&city, backend, &split).await;
        let mut twins = Vec::new();
        for at in [steps / 3, 2 * steps / 3, steps] {
            twins.push((at, Twin::new(&city, backend, "").await));
        }
        let as_of = city.as_of;
        let mut history = History {
            seed,
            backend,
            rng,
            city,
            walked,
            twins,
            as_of,
            step: 0,
            keys: 0,
            log,
            sim_pis,
            hidden,
            sim_certs: Vec::new(),
        };
        let synced = history.sync_all().await;
        history.expect(synced, "the first sync");
        let snap = history.snapshot().await;
        history.sim_certs = snap
            .births
            .iter()
            .map(|b| b.cert_no.to_string())
            .chain(snap.deaths.iter().map(|d| d.cert_no.to_string()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        history
            .log
            .push(format!("synced; reconciled as of {as_of}"));
        history.reconcile_and_check().await;
        history
    }

    /// Takes one random step, then reconciles and checks.
    async fn step(&mut self) {
        self.step += 1;
        let done = if self.rng.random_range(0..10) == 0 {
            self.burst().await
        } else {
            self.change().await
        };
        let what = self.expect(done, "the step");
        self.log.push(format!("step {}: {what}", self.step));
        self.reconcile_and_check().await;
        while self.twins.first().is_some_and(|(at, _)| *at == self.step) {
            let (_, twin) = self.twins.remove(0);
            self.compare_with(&twin).await;
        }
    }

    /// One change of any kind.
    async fn change(&mut self) -> Result<String, String> {
        match self.rng.random_range(0..100) {
            0..40 => self.write_records().await,
            40..63 => self.department_edit().await,
            63..68 => self.edit_found_by_repair().await,
            68..90 => Ok(self.move_date()),
            _ => self.staff_decide().await,
        }
    }

    /// Two to four changes with no run between them: what a run finds after a
    /// daemon's sync brought several, or after a skipped night.
    async fn burst(&mut self) -> Result<String, String> {
        let mut what = Vec::new();
        for _ in 0..self.rng.random_range(2..5) {
            what.push(self.change().await?);
        }
        Ok(format!("at once: {}", what.join("; ")))
    }

    /// Where a history is, for every message: seed, backend and step.
    fn at(&self) -> String {
        format!(
            "seed {} on {:?}, step {} (as of {}; replay with POPSYNC_INCREMENTAL_SEED={})",
            self.seed, self.backend, self.step, self.as_of, self.seed
        )
    }

    /// The history so far, one step a line.
    fn steps(&self) -> String {
        let mut out = String::new();
        for s in &self.log {
            let _ = writeln!(out, "  {s}");
        }
        out
    }

    /// The value, or a panic naming the seed, the step and the history so far.
    fn expect<T>(&self, r: Result<T, String>, doing: &str) -> T {
        r.unwrap_or_else(|e| {
            panic!(
                "{}: {doing} failed: {e}\nhistory:\n{}",
                self.at(),
                self.steps()
            )
        })
    }

    /// Every store that takes records: the walked one, then the twins not compared yet.
    fn stores(&self) -> impl Iterator<Item = &Twin> {
        std::iter::once(&self.walked).chain(self.twins.iter().map(|(_, t)| t))
    }

    /// Syncs every store, so that each holds what the departments serve now.
    async fn sync_all(&self) -> Result<(), String> {
        for store in self.stores() {
            store.sync().await?;
        }
        Ok(())
    }

    /// The walked store's records: what changes are made about.
    async fn snapshot(&self) -> Snapshot {
        let snap = self.walked.store.load_snapshot().await;
        self.expect(snap.map_err(|e| e.to_string()), "loading the records")
    }

    /// The walked store's records, and what a step picks from them.
    async fn picks(&self) -> (Snapshot, Picks) {
        let snap = self.snapshot().await;
        let tickets = self
            .walked
            .store
            .list_tickets(&TicketFilter::default())
            .await;
        let tickets = self.expect(tickets.map_err(|e| e.to_string()), "listing tickets");
        let picks = Picks::of(&snap, &tickets, &self.walked.config.city.counties);
        (snap, picks)
    }

    /// `popsync reconcile --as-of` on the walked store, then the full check: EQUAL.
    async fn reconcile_and_check(&self) {
        self.expect(self.walked.reconcile(self.as_of), "reconciling");
        let checked = self.walked.check().await;
        if let Err(report) = checked {
            panic!(
                "{}: the stored state is not a full recompute's after: {}\n{report}history:\n{}",
                self.at(),
                self.log.last().map_or("", String::as_str),
                self.steps()
            );
        }
    }

    /// A date around the as-of date: before it, on it, or after it (so that moving
    /// the date later brings it in), across the grace periods.
    fn date(&mut self) -> NaiveDate {
        let days = *[-61, -31, -30, -29, -5, -1, 0, 0, 1, 5, 29, 31, 61]
            .choose(&mut self.rng)
            .expect("offsets");
        self.as_of + Duration::days(days)
    }

    /// A key no department uses, the same in every store.
    fn key(&mut self, prefix: &str) -> String {
        self.keys += 1;
        format!("{prefix}{}-{}", self.seed, self.keys)
    }

    /// Records about people already stored, written straight to every store.
    async fn write_records(&mut self) -> Result<String, String> {
        let (snap, people) = self.picks().await;
        let p = people.pick(&mut self.rng, None).clone();
        let date = self.date();
        let (stream, records, what) = match self.rng.random_range(0..12) {
            0 => {
                let death = date - Duration::days(self.rng.random_range(0..5));
                let particulars = PsbParticulars {
                    death_date: Some(death),
                    ..Default::default()
                };
                let r = self.psb(&p, PsbEventKind::Death, p.division, date, particulars);
                ("psb", r, format!("SW of {} dated {date}", p.id.as_str()))
            }
            1 => {
                // Out of the city, to a county of another prefecture.
                let particulars = PsbParticulars {
                    to_county: Some("350102".into()),
                    ..Default::default()
                };
                let r = self.psb(&p, PsbEventKind::MoveOut, p.division, date, particulars);
                ("psb", r, format!("QC of {} dated {date}", p.id.as_str()))
            }
            2 => {
                let to = people.village_elsewhere(&mut self.rng, p.division);
                let r = self.psb(&p, PsbEventKind::MoveIn, to, date, Default::default());
                let what = format!("QR of {} to {to} dated {date}", p.id.as_str());
                ("psb", r, what)
            }
            3 => {
                let mut q = p.clone();
                let what = if self.rng.random_bool(0.5) {
                    q.name = renamed(&p.name, &mut self.rng);
                    format!("BG of {}: name {} dated {date}", p.id.as_str(), q.name)
                } else {
                    q.birth_date = p.birth_date + Duration::days(self.rng.random_range(1..4));
                    let b = q.birth_date;
                    format!("BG of {}: birth date {b} dated {date}", p.id.as_str())
                };
                let r = self.psb(
                    &q,
                    PsbEventKind::Correction,
                    p.division,
                    date,
                    Default::default(),
                );
                ("psb", r, what)
            }
            4 => return self.birth(&people, date).await,
            5 => {
                let mut r = people.pis_of(&mut self.rng, &snap, &p);
                r.person_id = self.key("PROPP").into();
                r.modified_time = format!("{date} 10:00:00").into();
                if self.rng.random_bool(0.3) {
                    r.village = people.village_elsewhere(&mut self.rng, r.village);
                }
                let what = format!(
                    "pis {} duplicating {} in {}",
                    r.person_id,
                    r.sfzh,
                    r.village.as_str()
                );
                ("pis", Records::Pis(vec![raw(r)]), what)
            }
            6 => {
                let typed = with_wrong_check(p.id.as_str());
                let r = PisRecord {
                    person_id: self.key("PROPP").into(),
                    sfzh: typed.as_str().into(),
                    id_norm: normalise_id(&typed).into(),
                    name: p.name.as_str().into(),
                    sex: p.sex,
                    birth_date: p.birth_date,
                    village: p.division,
                    marital: None,
                    birth: None,
                    state: PisState::OnRegister,
                    deleted: false,
                    ever_deleted: false,
                    modified_time: format!("{date} 10:00:00").into(),
                };
                let what = format!(
                    "pis {} with {typed} mistyped for {}",
                    r.person_id,
                    p.id.as_str()
                );
                ("pis", Records::Pis(vec![raw(r)]), what)
            }
            7 => {
                let husband = people.pick(&mut self.rng, Some(Sex::Male)).clone();
                let wife = people.pick(&mut self.rng, Some(Sex::Female)).clone();
                let kind = *[
                    MarriageKind::Marriage,
                    MarriageKind::Marriage,
                    MarriageKind::Divorce,
                ]
                .choose(&mut self.rng)
                .expect("kinds");
                let m = Marriage {
                    reg_no: self.key("PROPM").into(),
                    kind,
                    husband_name: husband.name.as_str().into(),
                    husband_id: husband.id,
                    wife_name: wife.name.as_str().into(),
                    wife_id: wife.id,
                    reg_date: date,
                    office: "测试民政局".into(),
                };
                let what = format!(
                    "{} of {} and {} on {date}",
                    kind.zh(),
                    husband.id.as_str(),
                    wife.id.as_str()
                );
                ("mca.marriage", Records::Marriages(vec![raw(m)]), what)
            }
            8 => {
                let c = Cremation {
                    cert_no: self.key("PROPH").into(),
                    name: p.name.as_str().into(),
                    sex: p.sex,
                    id: Some(p.id),
                    death_date: date - Duration::days(2),
                    cremation_date: date,
                    address: "测试地址".into(),
                    funeral_home: "测试殡仪馆".into(),
                };
                let what = format!("cremation of {} on {date}", p.id.as_str());
                ("mca.cremation", Records::Cremations(vec![raw(c)]), what)
            }
            9 => {
                let d = DeathCertificate {
                    cert_no: self.key("PROPD").into(),
                    version: 1,
                    status: CertStatus::Valid,
                    name: Some(p.name.as_str().into()),
                    id: Some(p.id),
                    sex: p.sex,
                    death_date: date - Duration::days(1),
                    residence: Some(p.division),
                    updated_at: updated_at(date).into(),
                    updated_date: date,
                };
                let what = format!(
                    "death certificate {} of {} on {date}",
                    d.cert_no,
                    p.id.as_str()
                );
                ("nhc.death", Records::Deaths(vec![raw(d)]), what)
            }
            _ => return self.certificate_version(&snap, &people, date).await,
        };
        self.write_all(stream, records).await?;
        Ok(format!("write: {what}"))
    }

    /// A `CS` row naming a stored mother and a new certificate number; more often
    /// than not the certificate too, dated apart.
    async fn birth(&mut self, people: &Picks, date: NaiveDate) -> Result<String, String> {
        let mother = people.pick(&mut self.rng, Some(Sex::Female)).clone();
        let sex = if self.rng.random_bool(0.5) {
            Sex::Male
        } else {
            Sex::Female
        };
        let born = date - Duration::days(self.rng.random_range(0..20));
        let child_id = new_id(&mother.division.as_str()[..6], born, sex, &mut self.rng);
        let cert_no = self.key("PROPB");
        let child = Person {
            id: child_id,
            name: format!("{}新生", mother.name.chars().next().unwrap_or('王')),
            sex,
            birth_date: born,
            division: mother.division,
        };
        let particulars = PsbParticulars {
            mother_id: Some(mother.id),
            birth_cert_no: Some(cert_no.as_str().into()),
            ..Default::default()
        };
        let cs = self.psb(
            &child,
            PsbEventKind::Birth,
            mother.division,
            date,
            particulars,
        );
        self.write_all("psb", cs).await?;
        let mut what = format!(
            "write: CS of {} to mother {} with certificate {cert_no} dated {date}",
            child_id.as_str(),
            mother.id.as_str()
        );
        if self.rng.random_bool(0.6) {
            let issued = self.date();
            let cert = BirthCertificate {
                cert_no: cert_no.as_str().into(),
                version: 1,
                status: CertStatus::Valid,
                child_name: Some(child.name.as_str().into()),
                child_sex: sex,
                birth_date: born,
                mother_name: Some(mother.name.as_str().into()),
                mother_id: mother.id,
                father_name: None,
                father_id: None,
                facility: Some("测试医院".into()),
                residence: Some(mother.division),
                updated_at: updated_at(issued).into(),
                updated_date: issued,
            };
            self.write_all("nhc.birth", Records::Births(vec![raw(cert)]))
                .await?;
            let _ = write!(what, ", and the certificate issued {issued}");
        }
        Ok(what)
    }

    /// A new version of a stored birth or death certificate: void, or one field
    /// changed.
    async fn certificate_version(
        &mut self,
        snap: &Snapshot,
        people: &Picks,
        date: NaiveDate,
    ) -> Result<String, String> {
        let void = self.rng.random_bool(0.4);
        let status = if void {
            CertStatus::Void
        } else {
            CertStatus::Valid
        };
        let (stream, records, what) = if self.rng.random_bool(0.5) && !snap.births.is_empty() {
            let named = |b: &BirthCertificate| people.ticket_certs.contains(b.cert_no.as_str());
            let old = choose_named(&mut self.rng, &snap.births, named).expect("births");
            let version = 1 + snap
                .births
                .iter()
                .filter(|b| b.cert_no == old.cert_no)
                .map(|b| b.version)
                .max()
                .unwrap_or(0);
            let mut b = old.clone();
            let change = if void {
                "VOID".to_string()
            } else if self.rng.random_bool(0.5) {
                b.birth_date = old.birth_date - Duration::days(self.rng.random_range(1..40));
                format!("birth date {}", b.birth_date)
            } else {
                b.mother_id = people.pick(&mut self.rng, Some(Sex::Female)).id;
                format!("mother {}", b.mother_id.as_str())
            };
            (b.version, b.status, b.updated_date) = (version, status, date);
            b.updated_at = updated_at(date).into();
            let what = format!("birth certificate {}#{version}: {change}", b.cert_no);
            ("nhc.birth", Records::Births(vec![raw(b)]), what)
        } else {
            let named = |d: &DeathCertificate| people.ticket_certs.contains(d.cert_no.as_str());
            let old =
                choose_named(&mut self.rng, &snap.deaths, named).ok_or("no death certificate")?;
            let version = 1 + snap
                .deaths
                .iter()
                .filter(|d| d.cert_no == old.cert_no)
                .map(|d| d.version)
                .max()
                .unwrap_or(0);
            let mut d = old.clone();
            let change = if void {
                "VOID".to_string()
            } else if self.rng.random_bool(0.5) {
                d.death_date = old.death_date - Duration::days(self.rng.random_range(1..40));
                format!("death date {}", d.death_date)
            } else {
                let other = people.pick(&mut self.rng, None);
                d.id = Some(other.id);
                format!("ID {}", other.id.as_str())
            };
            (d.version, d.status, d.updated_date) = (version, status, date);
            d.updated_at = updated_at(date).into();
            let what = format!("death certificate {}#{version}: {change}", d.cert_no);
            ("nhc.death", Records::Deaths(vec![raw(d)]), what)
        };
        self.write_all(stream, records).await?;
        Ok(format!("write: {what} dated {date}"))
    }

    /// A household-register event of `p` in `division`.
    fn psb(
        &mut self,
        p: &Person,
        kind: PsbEventKind,
        division: DivisionCode,
        date: NaiveDate,
        particulars: PsbParticulars,
    ) -> Records {
        Records::Psb(vec![raw(PsbEvent {
            lsh: self.key("PROPL").into(),
            kind,
            id: p.id,
            name: p.name.as_str().into(),
            sex: p.sex,
            birth_date: p.birth_date,
            division,
            event_date: date,
            recorded_at: format!("{date} 16:00:00").into(),
            particulars: boxed_unless_empty(particulars),
            details: None,
        })])
    }

    /// Writes `records` to every store, in the same order.
    async fn write_all(&self, stream: &'static str, records: Records) -> Result<(), String> {
        for store in self.stores() {
            store.write(stream, records.clone()).await?;
        }
        Ok(())
    }

    /// A department changes a record it serves (register fields, deletion, a voided
    /// certificate); every store syncs it.
    async fn department_edit(&mut self) -> Result<String, String> {
        let (snap, picks) = self.picks().await;
        let what = if self.rng.random_range(0..6) == 0 {
            let named = |c: &String| picks.ticket_certs.contains(c);
            let cert =
                choose_named(&mut self.rng, &self.sim_certs, named).ok_or("no certificate")?;
            self.city
                .server
                .state
                .nhc_void(cert)
                .map_err(|e| e.to_string())?;
            format!("nhc voids {cert}")
        } else {
            let pid = self.editable_pis(&picks)?;
            if self.rng.random_range(0..8) == 0 {
                self.city
                    .server
                    .state
                    .pis_delete(&pid)
                    .map_err(|e| e.to_string())?;
                format!("pis deletes {pid}")
            } else {
                let (field, value) = self.pis_change(&pid, &snap, &picks);
                self.city
                    .server
                    .state
                    .pis_update(&pid, field, &value)
                    .map_err(|e| e.to_string())?;
                format!("pis sets {pid} {field} = {value:?}")
            }
        };
        self.sync_all().await?;
        Ok(format!("sync after {what}"))
    }

    /// A change no cursor sees (a record edited in place, held-back records served
    /// again), found by `verify --repair` in every store.
    async fn edit_found_by_repair(&mut self) -> Result<String, String> {
        let what = if !self.hidden.is_empty() && self.rng.random_bool(0.5) {
            self.city.server.state.pis_reveal();
            let revealed = std::mem::take(&mut self.hidden);
            format!("pis serves {revealed:?} again")
        } else {
            let (snap, picks) = self.picks().await;
            let pid = self.editable_pis(&picks)?;
            let (field, value) = self.pis_change(&pid, &snap, &picks);
            self.city
                .server
                .state
                .pis_edit_in_place(&pid, field, &value)
                .map_err(|e| e.to_string())?;
            format!("pis edits {pid} {field} = {value:?} in place")
        };
        for store in self.stores() {
            store.repair().await?;
        }
        Ok(format!("verify --repair after {what}"))
    }

    /// A register record the simulator lets tests edit and serves now, half the time
    /// one a ticket names.
    fn editable_pis(&mut self, picks: &Picks) -> Result<String, String> {
        let served: Vec<&String> = self
            .sim_pis
            .iter()
            .filter(|p| !self.hidden.contains(*p))
            .collect();
        choose_named(&mut self.rng, &served, |p| picks.ticket_pis.contains(*p))
            .map(|p| p.to_string())
            .ok_or_else(|| "no editable register record".into())
    }

    /// A field of register record `pid` and a new value for it, from what is stored.
    fn pis_change(&mut self, pid: &str, snap: &Snapshot, people: &Picks) -> (&'static str, String) {
        let current = snap.pis.iter().find(|r| r.person_id == pid);
        let rng = &mut self.rng;
        match (rng.random_range(0..8), current) {
            (0, Some(r)) => ("xm", renamed(&r.name, rng)),
            (1, Some(r)) => {
                let d = r.birth_date + Duration::days(rng.random_range(-3..4));
                ("csrq", d.to_string())
            }
            (2, Some(r)) => ("xb", if r.sex == Sex::Male { "女" } else { "男" }.into()),
            (3, Some(r)) if rng.random_bool(0.5) => ("sfzh", with_wrong_check(&r.id_norm)),
            (3, _) => ("sfzh", people.pick(rng, None).id.as_str().into()),
            (4, Some(r)) => (
                "cunCode",
                people.village_elsewhere(rng, r.village).as_str().into(),
            ),
            (5, _) => (
                "zt",
                ["1", "2", "3"].choose(rng).expect("states").to_string(),
            ),
            _ => (
                "hyzk",
                ["10", "20", "30", "40"]
                    .choose(rng)
                    .expect("codes")
                    .to_string(),
            ),
        }
    }

    /// The as-of date moves: a day, across a grace period, or back; the other way
    /// when it would leave the months around the city's data (it runs to 14 days
    /// past the city's date).
    fn move_date(&mut self) -> String {
        let mut days = *[1, 1, 1, 29, 30, 31, 59, 60, 61, -1, -30, -61]
            .choose(&mut self.rng)
            .expect("moves");
        let to = self.as_of + Duration::days(days);
        if to < self.city.as_of - Duration::days(90) || to > self.city.as_of + Duration::days(150) {
            days = -days;
        }
        self.as_of += Duration::days(days);
        format!("as of {days:+} days: {}", self.as_of)
    }

    /// Staff dismiss an open ticket, or reopen a dismissed one, in the walked store
    /// (the twins have no tickets yet).
    async fn staff_decide(&mut self) -> Result<String, String> {
        let tickets = self
            .walked
            .store
            .ticket_states()
            .await
            .map_err(|e| e.to_string())?;
        let dismissed: Vec<&ExistingTicket> = tickets
            .iter()
            .filter(|t| t.status == Status::Dismissed)
            .collect();
        let (from, to, reason) = if !dismissed.is_empty() && self.rng.random_bool(0.3) {
            (Status::Dismissed, Status::Open, "复核: 仍需处理")
        } else {
            (Status::Open, Status::Dismissed, "核实: 情况属实")
        };
        let candidates: Vec<&ExistingTicket> =
            tickets.iter().filter(|t| t.status == from).collect();
        let Some(t) = candidates.choose(&mut self.rng) else {
            return Ok("staff: nothing to decide".into());
        };
        let now = popsync::domain::format_timestamp(popsync::domain::now_local());
        let actor = Actor {
            name: "township staff",
            now: &now,
        };
        let changed = self
            .walked
            .store
            .set_ticket_status_by_hand(&t.ticket_id, None, to, &actor, reason)
            .await
            .map_err(|e| e.to_string())?;
        if !changed {
            return Err(format!("{} could not be set {to}", t.ticket_id));
        }
        Ok(format!("staff: {} {} {from} -> {to}", t.ticket_id, t.kind))
    }

    /// How many times the walked store's runs resolved, withdrew and reopened (found
    /// again after a resolution or a withdrawal) a ticket.
    async fn lifecycle_moves(&self) -> BTreeMap<&'static str, u64> {
        let store = &self.walked.store;
        let tickets = store.list_tickets(&TicketFilter::default()).await;
        let mut moves = BTreeMap::new();
        for t in self.expect(tickets.map_err(|e| e.to_string()), "listing tickets") {
            let events = store.ticket_events(&t.ticket_id).await;
            for e in self.expect(events.map_err(|e| e.to_string()), "reading a history") {
                let what = match (e.from_status.as_deref(), e.to_status.as_str()) {
                    (_, "resolved") => "resolved",
                    (_, "withdrawn") => "withdrawn",
                    (Some("resolved" | "withdrawn"), "open") => "reopened",
                    _ => continue,
                };
                *moves.entry(what).or_insert(0) += 1;
            }
        }
        moves
    }

    /// A twin, reconciled straight at the date, holds what the walked store holds:
    /// the same open tickets (a ticket staff dismissed is open there, with the
    /// evidence it was dismissed on) and the same registry.
    async fn compare_with(&self, twin: &Twin) {
        self.expect(twin.reconcile(self.as_of), "reconciling the fresh store");
        let twin_registry = twin.check().await;
        let twin_registry = self.expect(twin_registry, "the fresh store's full check");
        let walked_registry = self.walked.check().await;
        let walked_registry = self.expect(walked_registry, "the walked store's full check");
        let walked = self.walked.store.ticket_states().await;
        let walked = self.expect(walked.map_err(|e| e.to_string()), "reading tickets");
        let fresh = twin.store.ticket_states().await;
        let fresh = self.expect(fresh.map_err(|e| e.to_string()), "reading tickets");
        assert!(
            fresh.iter().any(|t| t.status == Status::Open),
            "{}: a fresh store of the city has open tickets to compare",
            self.at()
        );
        let mut differences = ticket_differences(&walked, &fresh);
        if walked_registry != twin_registry {
            differences.push(format!(
                "registry digest: walked {walked_registry}, fresh {twin_registry}"
            ));
        }
        assert!(
            differences.is_empty(),
            "{}: the walked store differs from a fresh store of the same records reconciled straight at {}:\n  {}\nhistory:\n{}",
            self.at(),
            self.as_of,
            differences.join("\n  "),
            self.steps()
        );
    }
}

/// Open tickets as (kind, township, subject, evidence digest, summary, suggested ID)
/// by ticket ID (the ID is a digest of the first three).
type Open = BTreeMap<String, (String, String, String, String, String, Option<String>)>;

/// How the walked store's tickets differ from a fresh store's: every open ticket the
/// same on both sides, except one staff dismissed, which is open in the fresh store
/// with the evidence it was dismissed on (other evidence would have reopened it).
fn ticket_differences(walked: &[ExistingTicket], fresh: &[ExistingTicket]) -> Vec<String> {
    let open = |tickets: &[ExistingTicket]| -> Open {
        tickets
            .iter()
            .filter(|t| t.status == Status::Open)
            .map(|t| {
                let what = (
                    t.kind.to_string(),
                    t.township.to_string(),
                    t.subject_key.clone(),
                    t.evidence_digest.clone(),
                    t.summary_zh.clone(),
                    t.suggestion.clone(),
                );
                (t.ticket_id.clone(), what)
            })
            .collect()
    };
    let (w, f) = (open(walked), open(fresh));
    let dismissed: BTreeMap<&str, Option<&str>> = walked
        .iter()
        .filter(|t| t.status == Status::Dismissed)
        .map(|t| (t.ticket_id.as_str(), t.dismissed_digest.as_deref()))
        .collect();
    let mut out = Vec::new();
    for (id, t) in &w {
        match f.get(id) {
            Some(ft) if ft == t => {}
            Some(ft) => out.push(format!("{id} open on both, walked {t:?}, fresh {ft:?}")),
            None => out.push(format!("{id} open only in the walked store: {t:?}")),
        }
    }
    for (id, t) in f.iter().filter(|(id, _)| !w.contains_key(*id)) {
        match dismissed.get(id.as_str()) {
            Some(Some(d)) if *d == t.3 => {}
            Some(d) => out.push(format!(
                "{id} dismissed on evidence {d:?} in the walked store, open with {t:?} in the fresh one"
            )),
            None => {
                let status = walked
                    .iter()
                    .find(|x| x.ticket_id == *id)
                    .map_or("absent", |x| x.status.as_str());
                out.push(format!("{id} open only in the fresh store ({status} in the walked one): {t:?}"));
            }
        }
    }
    out
}

/// A person of the household register, as their latest stored event states them.
#[derive(Clone, Debug)]
struct Person {
    id: IdNumber,
    name: String,
    sex: Sex,
    birth_date: NaiveDate,
    division: DivisionCode,
}

/// What a step picks from: the stored people, the villages of each township, and
/// what the tickets name, so that half the changes land on a ticket's people,
/// records and certificates: where tickets resolve, reopen and are withdrawn.
struct Picks {
    /// Those with an active register record (most tickets need one), then the rest.
    registered: Vec<Person>,
    others: Vec<Person>,
    villages: BTreeMap<String, Vec<DivisionCode>>,
    /// ID numbers, register records and certificate numbers tickets name.
    ticket_ids: BTreeSet<String>,
    ticket_pis: BTreeSet<String>,
    ticket_certs: BTreeSet<String>,
}

impl Picks {
    /// From the stored records and tickets; villages only of the city's `counties`.
    fn of(snap: &Snapshot, tickets: &[Ticket], counties: &[String]) -> Picks {
        let mut latest: BTreeMap<IdNumber, &PsbEvent> = BTreeMap::new();
        for r in &snap.psb {
            let e = latest.entry(r.id).or_insert(r);
            if (r.event_date, &r.recorded_at, &r.lsh) > (e.event_date, &e.recorded_at, &e.lsh) {
                *e = r;
            }
        }
        let active: BTreeSet<&str> = snap
            .pis
            .iter()
            .filter(|r| r.is_active())
            .map(|r| r.id_norm.as_str())
            .collect();
        let (mut registered, mut others) = (Vec::new(), Vec::new());
        let mut villages: BTreeMap<String, BTreeSet<DivisionCode>> = BTreeMap::new();
        for (id, e) in latest {
            let p = Person {
                id,
                name: e.name.to_string(),
                sex: e.sex,
                birth_date: e.birth_date,
                division: e.division,
            };
            if active.contains(id.as_str()) {
                registered.push(p);
            } else {
                others.push(p);
            }
        }
        for v in snap
            .psb
            .iter()
            .map(|r| r.division)
            .chain(snap.pis.iter().map(|r| r.village))
        {
            if counties.iter().any(|c| v.as_str().starts_with(c.as_str())) {
                villages
                    .entry(v.township().to_string())
                    .or_default()
                    .insert(v);
            }
        }
        let mut ticket_ids: BTreeSet<String> = BTreeSet::new();
        let mut ticket_pis: BTreeSet<String> = BTreeSet::new();
        let mut ticket_certs: BTreeSet<String> = BTreeSet::new();
        for t in tickets {
            let ids = [&t.subject.id_number, &t.subject.child_id_number];
            ticket_ids.extend(ids.into_iter().flatten().cloned());
            for e in &t.evidence {
                let named = match e.source.as_str() {
                    "pis" => &mut ticket_pis,
                    "nhc" => &mut ticket_certs,
                    _ => continue,
                };
                // A certificate's evidence names its version: `certificateNo#version`.
                let key = e.record.split('#').next().unwrap_or(&e.record);
                named.insert(key.to_string());
            }
        }
        Picks {
            registered,
            others,
            villages: villages
                .into_iter()
                .map(|(t, v)| (t, v.into_iter().collect()))
                .collect(),
            ticket_ids,
            ticket_pis,
            ticket_certs,
        }
    }

    /// Someone (of `sex`, when given), most often with an active register record,
    /// half the time one a ticket is about.
    fn pick(&self, rng: &mut SmallRng, sex: Option<Sex>) -> &Person {
        let from = if rng.random_bool(0.8) && !self.registered.is_empty() {
            &self.registered
        } else {
            &self.others
        };
        let fits: Vec<&Person> = from
            .iter()
            .filter(|p| sex.is_none_or(|s| p.sex == s))
            .collect();
        choose_named(rng, &fits, |p| self.ticket_ids.contains(p.id.as_str()))
            .copied()
            .or_else(|| self.registered.first())
            .expect("a city has people")
    }

    /// A village of another township than `of`'s.
    fn village_elsewhere(&self, rng: &mut SmallRng, of: DivisionCode) -> DivisionCode {
        let home = of.township().to_string();
        let others: Vec<&Vec<DivisionCode>> = self
            .villages
            .iter()
            .filter(|(t, _)| **t != home)
            .map(|(_, v)| v)
            .collect();
        others
            .choose(rng)
            .and_then(|v| v.choose(rng))
            .copied()
            .unwrap_or(of)
    }

    /// A stored register record of `p` to copy, active, or one made from the
    /// household register when they have none; its key and time are the caller's.
    fn pis_of(&self, rng: &mut SmallRng, snap: &Snapshot, p: &Person) -> PisRecord {
        let theirs: Vec<&PisRecord> = snap
            .pis
            .iter()
            .filter(|r| r.id_norm == p.id.as_str())
            .collect();
        match theirs.choose(rng) {
            Some(r) => PisRecord {
                state: PisState::OnRegister,
                deleted: false,
                ever_deleted: false,
                ..(*r).clone()
            },
            None => PisRecord {
                person_id: "".into(),
                sfzh: p.id.as_str().into(),
                id_norm: p.id.as_str().into(),
                name: p.name.as_str().into(),
                sex: p.sex,
                birth_date: p.birth_date,
                village: p.division,
                marital: Some(Hyzk::NotStated),
                birth: None,
                state: PisState::OnRegister,
                deleted: false,
                ever_deleted: false,
                modified_time: "".into(),
            },
        }
    }
}

/// One of `all`; half the time, when there are any, one that a ticket names.
fn choose_named<'a, T>(
    rng: &mut SmallRng,
    all: &'a [T],
    named: impl Fn(&T) -> bool,
) -> Option<&'a T> {
    let theirs: Vec<&T> = all.iter().filter(|t| named(t)).collect();
    if !theirs.is_empty() && rng.random_bool(0.5) {
        theirs.choose(rng).copied()
    } else {
        all.choose(rng)
    }
}

/// A record as a feed hands it over; its raw text says it was written here.
fn raw<T>(record: T) -> WithRaw<T> {
    WithRaw {
        record,
        raw: r#"{"written_by":"tests/it/incremental.rs"}"#.into(),
    }
}

/// A certificate's `updatedAt` on `date`, as the nhc decoder normalises it.
fn updated_at(date: NaiveDate) -> String {
    format!("{date}T10:00:00+08:00")
}

/// Another name: the last character changed.
fn renamed(name: &str, rng: &mut SmallRng) -> String {
    let mut chars: Vec<char> = name.trim().chars().collect();
    let pick = ['伟', '芳', '娜', '敏', '静', '磊']
        .into_iter()
        .filter(|c| chars.last() != Some(c))
        .collect::<Vec<_>>();
    let c = *pick.choose(rng).expect("names");
    if chars.len() > 1 {
        chars.pop();
    }
    chars.push(c);
    chars.into_iter().collect()
}

/// `id` with a check character that fails: a typo the register keeps.
fn with_wrong_check(id: &str) -> String {
    let first17 = id.get(..17).unwrap_or(id);
    "0123456789X"
        .chars()
        .map(|c| format!("{first17}{c}"))
        .find(|typed| typed != id && IdNumber::parse(typed).is_err())
        .expect("ten of the eleven check characters fail")
}

/// A valid new ID for a child born in county `county` on `born`: its check
/// character found by the service's own parser.
fn new_id(county: &str, born: NaiveDate, sex: Sex, rng: &mut SmallRng) -> IdNumber {
    let seq = rng.random_range(400..499) * 2 + u32::from(sex == Sex::Male);
    let first17 = format!("{county}{}{seq:03}", born.format("%Y%m%d"));
    "0123456789X"
        .chars()
        .find_map(|c| IdNumber::parse(&format!("{first17}{c}")).ok())
        .expect("one check character fits")
}
