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
    pub backend: Backend,
    _dir: tempfile::TempDir,
    pg_name: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_name.take() {
            // Best effort: the server drops it when no session holds it.
            let _ = std::process::Command::new("psql")
                .args([&admin, "-qc", &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")])
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
            backend,
            _dir: dir,
            pg_name: None,
        },
        Backend::Postgres => {
            let admin = std::env::var("POPSYNC_TEST_DATABASE_URL").expect("checked by backends()");
            let name = format!("popsync_t{}_{}", std::process::id(), rand_suffix());
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("POPSYNC_TEST_DATABASE_URL is set but PostgreSQL does not answer: {e}"));
            sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create a test database");
            let mut url = reqwest::Url::parse(&admin).expect("a URL");
            url.set_path(&format!("/{name}"));
            mark_postgres_suite_ran();
            TestDb { url: url.to_string(), backend, _dir: dir, pg_name: Some((admin, name)) }
        }
    }
}

/// `.ci/run` checks this marker so that a skipped PostgreSQL suite fails CI.
fn mark_postgres_suite_ran() {
    let marker = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("postgres-suite-ran");
    let _ = std::fs::write(marker, "yes\n");
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
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
