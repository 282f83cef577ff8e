//! Opening the store: the URL decides the backend, SQLite gets its directory, its
//! pragmas and a writing connection of its own, and the schema is migrated.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, Connection, Executor};

use super::writer::{SqliteWriter, AUTOCHECKPOINT, SYNCHRONOUS, WRITER_CACHE};
use super::{Backend, Store, StoreError};

/// Settings every SQLite connection gets.
async fn sqlite_pragmas(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    // 16 KiB pages for a new database (an existing one keeps its own): a first sync of
    // a million people spent 3.2 s committing instead of 5.5 s.
    // Set before WAL mode, which fixes the page size once the file exists.
    conn.execute("PRAGMA page_size = 16384").await?;
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute(SYNCHRONOUS).await?;
    conn.execute("PRAGMA busy_timeout = 30000").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    // Statement journals (every multi-row insert inside a transaction has one) in
    // memory, not in temporary files.
    conn.execute("PRAGMA temp_store = MEMORY").await?;
    // Checkpoint every 256 MiB of WAL (at 16 KiB pages) instead of every 4 MiB:
    // index pages touched by many commits are copied back once, not each time.
    conn.execute(AUTOCHECKPOINT).await?;
    conn.execute("PRAGMA journal_size_limit = 67108864").await?;
    Ok(())
}

pub(super) static SQLITE_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (and for SQLite creates) the database and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, backend) = if url.starts_with("sqlite:") {
            (prepare_sqlite_url(url)?, Backend::Sqlite)
        } else {
            (url.to_string(), Backend::Postgres)
        };
        let open_err = |source| StoreError::Open {
            url: redact_url(&url),
            source,
        };
        let options = AnyConnectOptions::from_str(&url).map_err(open_err)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlite_pragmas(conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(open_err)?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let writer = match backend {
            Backend::Sqlite => {
                let mut conn = AnyConnection::connect_with(&options)
                    .await
                    .map_err(open_err)?;
                sqlite_pragmas(&mut conn).await.map_err(open_err)?;
                conn.execute(WRITER_CACHE).await.map_err(open_err)?;
                Some(Arc::new(tokio::sync::Mutex::new(SqliteWriter {
                    conn,
                    in_transaction: false,
                    setup: super::writer::Setup::Ordinary,
                })))
            }
            Backend::Postgres => None,
        };
        // Connections made only when a run is led or a bucket claimed: each holds one
        // transaction open while its work uses the main pool.
        let claims = (backend == Backend::Postgres).then(|| {
            AnyPoolOptions::new()
                .max_connections(CLAIMS)
                .connect_lazy_with(options)
        });
        let copy_pool = match backend {
            Backend::Postgres => Some(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect_lazy(&url)
                    .map_err(open_err)?,
            ),
            Backend::Sqlite => None,
        };
        let lead_file = match backend {
            // Named as SQLite names its `-wal` and `-shm` files: never the database itself.
            Backend::Sqlite => sqlite_file(&url).map(|p| {
                let mut name = p.into_os_string();
                name.push("-lead");
                std::path::PathBuf::from(name)
            }),
            Backend::Postgres => None,
        };
        Ok(Store {
            pool,
            backend,
            writer,
            claims,
            copy_pool,
            lead_file,
        })
    }
}

/// Connections that hold a run's lead or a bucket's claim, at most: the lead and
/// `[reconcile] workers` (at most 64) claims.
const CLAIMS: u32 = 65;

/// SQLite URLs get `mode=rwc` (create on first use) and their directory made.
pub(super) fn prepare_sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path != ":memory:" {
        if let Some(dir) = Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
                    path: path.to_string(),
                    source,
                })?;
            }
        }
    }
    let query = match query {
        Some(q) if q.contains("mode=") => q.to_string(),
        Some(q) => format!("{q}&mode=rwc"),
        None => "mode=rwc".to_string(),
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// The file of a prepared SQLite URL; `None` for a database in memory.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    (path != ":memory:" && !query.contains("mode=memory")).then(|| Path::new(path).to_path_buf())
}

/// Hides a password in a URL before it goes into an error message.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
