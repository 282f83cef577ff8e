//! The store: the only module that knows SQL. SQLite (embedded, the default) or
//! PostgreSQL, chosen by the URL, through sqlx's `Any` driver with portable SQL
//! (`$N` placeholders, `ON CONFLICT`), and one migrations folder per backend.

mod access;
mod api_queries;
mod feeds;
mod registry;
mod snapshot;
mod tickets;

pub use access::{hash_token, AuditRow, TokenOwner, TokenRow};
pub use feeds::{CommitStats, FeedStatusRow};
pub use registry::{LinkRow, PersonRow, RegistryWrite};
pub use tickets::{Actor, StoredTicket, TicketEventRow, TicketFilter};

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Executor, Transaction};

/// A store failure, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create the directory for {path}: {source}")]
    Directory {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot migrate the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error while {doing}: {source}")]
    Query {
        doing: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

/// Shorthand for mapping a sqlx error with what was being done.
pub(crate) fn doing(doing: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { doing, source }
}

/// Which database is behind the pool: a few statements differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The open store. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite's single writer, taken in turn. Without it, connections racing for the
    /// write lock sleep in SQLite's busy handler (up to 100 ms a time) while the lock
    /// sits free: four feeds syncing at once spent most of their time asleep.
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction, holding SQLite's writer turn until it commits or is dropped.
pub(crate) struct WriteTx {
    pub tx: Transaction<'static, Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub async fn commit(self, what: &'static str) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(doing(what))
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
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
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        // 16 MiB of page cache per connection (the default is 2 MiB):
                        // random-key inserts into pis_rows otherwise read pages back from disk.
                        conn.execute("PRAGMA cache_size = -16384").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        // Statement journals (every multi-row insert inside a
                        // transaction has one) in memory, not in temporary files.
                        conn.execute("PRAGMA temp_store = MEMORY").await?;
                        // Checkpoint every 64 MiB of WAL instead of every 4 MiB: index
                        // pages touched by many commits are copied back once, not each
                        // time (a 1,000,000-person first sync wrote a third less).
                        conn.execute("PRAGMA wal_autocheckpoint = 16384").await?;
                        conn.execute("PRAGMA journal_size_limit = 67108864").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                url: redact_url(&url),
                source,
            })?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store {
            pool,
            backend,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Begins a transaction that writes; on SQLite, waits for the writer's turn first.
    pub(crate) async fn begin_write(&self, what: &'static str) -> Result<WriteTx, StoreError> {
        let turn = match self.backend {
            Backend::Sqlite => Some(self.writer.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        let tx = self.pool.begin().await.map_err(doing(what))?;
        Ok(WriteTx { tx, _turn: turn })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// True when a trivial query answers: the readiness probe.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// SQLite URLs get `mode=rwc` (create on first use) and their directory made.
fn prepare_sqlite_url(url: &str) -> Result<String, StoreError> {
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

/// `($1, $2, …), (…)` for a multi-row insert of `rows` rows of `cols` columns. SQLite
/// gets anonymous `?`: sqlx asks SQLite for every parameter's name, a linear search
/// for `$NNN` and `?NNN`, which made thousand-row inserts quadratic (thirty times slower).
pub(crate) fn values_placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 6);
    let mut n = 1;
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            match backend {
                Backend::Sqlite => s.push('?'),
                Backend::Postgres => {
                    s.push('$');
                    s.push_str(&n.to_string());
                }
            }
            n += 1;
        }
        s.push(')');
    }
    s
}

/// Rows per multi-row INSERT: well under SQLite's 32,766 parameters.
pub(crate) const CHUNK: usize = 500;

pub(crate) type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// A multi-row insert: `{head} VALUES (…),(…) {tail}` with `cols` values a row.
pub(crate) struct Insert<'a> {
    pub head: &'a str,
    pub tail: &'a str,
    pub cols: usize,
    /// What the error says was being done.
    pub doing: &'static str,
}

/// Inserts rows in multi-row statements of `CHUNK` rows, `bind` adding one row's
/// values (borrowed, so nothing is copied on the way to the driver); returns the rows
/// affected.
pub(crate) async fn run_chunks<T>(
    tx: &mut WriteTx,
    backend: Backend,
    rows: &[T],
    insert: Insert<'_>,
    bind: impl for<'q> Fn(AnyQuery<'q>, &'q T) -> AnyQuery<'q> + Copy,
) -> Result<u64, StoreError> {
    let mut affected = 0;
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "{} VALUES {} {}",
            insert.head,
            values_placeholders(backend, chunk.len(), insert.cols),
            insert.tail
        );
        let mut q = sqlx::query(&sql);
        for row in chunk {
            q = bind(q, row);
        }
        affected += q
            .execute(&mut **tx)
            .await
            .map_err(doing(insert.doing))?
            .rows_affected();
    }
    Ok(affected)
}
