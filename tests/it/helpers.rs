//! Shared test set-up: a fresh database per test on each backend, and config files.

use std::io::Write;
use std::path::{Path, PathBuf};

use popsync::store::Store;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database; dropped with the test (SQLite file in a tempdir, or a
/// PostgreSQL database of its own).
pub struct TestDb {
    pub url: String,
    _dir: tempfile::TempDir,
    pg_name: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_name.take() {
            // Best effort: the server drops it when no session holds it.
            let _ = std::process::Command::new("psql")
                .args([
                    &admin,
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .output();
        }
    }
}

/// The backends this machine can run: SQLite always, PostgreSQL when configured.
/// Says once, outside libtest's capture, when the PostgreSQL suite is skipped.
pub fn backends() -> Vec<Backend> {
    match std::env::var("POPSYNC_TEST_DATABASE_URL") {
        Ok(_) => vec![Backend::Sqlite, Backend::Postgres],
        Err(_) => {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: POPSYNC_TEST_DATABASE_URL is not set: the PostgreSQL suite is skipped (SQLite only)"
                );
            });
            vec![Backend::Sqlite]
        }
    }
}

/// A fresh database on `backend`.
pub async fn fresh_db(backend: Backend) -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    match backend {
        Backend::Sqlite => TestDb {
            url: format!("sqlite://{}", dir.path().join("popsync.db").display()),
            _dir: dir,
            pg_name: None,
        },
        Backend::Postgres => {
            let admin = std::env::var("POPSYNC_TEST_DATABASE_URL").expect("checked by backends()");
            let name = format!("popsync_t{}_{}", std::process::id(), rand_suffix());
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap_or_else(|e| {
                    panic!("POPSYNC_TEST_DATABASE_URL is set but PostgreSQL does not answer: {e}")
                });
            sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create a test database");
            let mut url = reqwest::Url::parse(&admin).expect("a URL");
            url.set_path(&format!("/{name}"));
            mark_postgres_suite_ran();
            TestDb {
                url: url.to_string(),
                _dir: dir,
                pg_name: Some((admin, name)),
            }
        }
    }
}

/// `.ci/run` checks this marker so that a skipped PostgreSQL suite fails CI.
fn mark_postgres_suite_ran() {
    let marker = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("postgres-suite-ran");
    let _ = std::fs::write(marker, "yes\n");
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{}_{}", N.fetch_add(1, Ordering::Relaxed), t)
}

/// Opens the test database as popsync does.
pub async fn open_store(db: &TestDb) -> Store {
    Store::open(&db.url).await.expect("store opens")
}

/// Writes a token file and returns its path.
pub fn secret_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("{value}\n")).unwrap();
    p
}

/// A simulated city served on 127.0.0.1:0, and a config pointing popsync at it.
pub struct City {
    pub server: popsync::sim::SimServer,
    pub world_served: popsync::sim::ServedCounts,
    pub expected: Vec<popsync::sim::ExpectedTicket>,
    pub as_of: chrono::NaiveDate,
    pub townships: Vec<(String, String)>,
    pub dir: tempfile::TempDir,
}

impl City {
    /// Generates and serves a city of `persons` people with these faults.
    pub async fn start(seed: u64, persons: usize, faults: popsync::sim::Faults) -> City {
        let opts = popsync::sim::WorldOptions {
            seed,
            persons,
            ..Default::default()
        };
        City::start_with(opts, faults).await
    }

    /// Generates and serves the world `opts` describes, with these faults.
    pub async fn start_with(
        opts: popsync::sim::WorldOptions,
        faults: popsync::sim::Faults,
    ) -> City {
        let world = popsync::sim::World::generate(&opts);
        let world_served = world.served();
        let expected = world.expected_tickets().to_vec();
        let townships = world.townships();
        let state =
            popsync::sim::SimState::new(world, faults, popsync::sim::Credentials::default());
        let server = popsync::sim::spawn(state).await.expect("simulator starts");
        let dir = tempfile::tempdir().unwrap();
        popsync::demo::write_secrets(&dir.path().join("secrets")).unwrap();
        City {
            server,
            world_served,
            expected,
            as_of: opts.as_of,
            townships,
            dir,
        }
    }

    /// Writes a config for `db` (with `edit` applied to its text) and loads it.
    pub fn config(
        &self,
        db: &TestDb,
        edit: impl Fn(String) -> String,
    ) -> (PathBuf, popsync::config::Config) {
        let text = popsync::demo::config_text(
            &db.url,
            &self.server.base_url(),
            &self.dir.path().join("secrets"),
            &self.townships,
        );
        let path = self
            .dir
            .path()
            .join(format!("popsync-{}.toml", rand_suffix()));
        std::fs::write(&path, edit(text)).unwrap();
        let config = popsync::config::Config::load(&path).expect("config loads");
        (path, config)
    }
}

/// Pulls every feed to its end, as `popsync sync` does; each must succeed.
pub async fn sync_whole(store: &Store, config: &popsync::config::Config) {
    let feeds = popsync::run::pull::sync_feeds(
        store,
        config,
        &[],
        fast(),
        &popsync::shutdown::Shutdown::never(),
    )
    .await;
    for r in feeds {
        assert!(r.result.is_ok(), "{}: {:?}", r.feed, r.result);
    }
}

/// Fast retries for tests: the first backoff step is 5 ms.
pub fn fast() -> popsync::run::pull::SyncOptions {
    popsync::run::pull::SyncOptions {
        min_retry_delay: std::time::Duration::from_millis(5),
        ..Default::default()
    }
}

/// Faults of every kind at `rate`, with short slow responses so tests stay quick.
pub fn all_faults(rate: f64) -> popsync::sim::Faults {
    let mut f = popsync::sim::Faults::all(rate);
    f.slow_ms = 30;
    f
}
