//! The store: the only module that knows SQL. SQLite (embedded, the default) or
//! PostgreSQL, chosen by the URL, through sqlx's `Any` driver with portable SQL
//! (`$N` placeholders, `ON CONFLICT`), and one migrations folder per backend.

mod access;
mod api_queries;
mod feeds;
mod registry;
mod snapshot;
mod tickets;
mod verify;

pub use access::{hash_token, AuditRow, NewToken, TokenOwner, TokenRow};
pub use feeds::{CommitStats, FeedStatusRow};
pub use registry::{LinkRow, PersonRow, RegistryWrite};
pub use tickets::{Actor, TicketEventRow, TicketFilter};
pub use verify::{StoredRecord, VerifyCounts, VerifyRow};

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Row, Transaction};

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
    #[error("no table holds records of stream {0:?}")]
    UnknownStream(String),
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
    /// SQLite's one writing connection, taken in turn. Without turns, connections
    /// racing for the write lock sleep in SQLite's busy handler (up to 100 ms a time)
    /// while the lock sits free; with one connection, the pages a write touches stay
    /// in its cache for the next one instead of being read back by another connection.
    writer: Option<Arc<tokio::sync::Mutex<SqliteWriter>>>,
}

/// The SQLite writing connection and whether a transaction of a dropped
/// [`WriteTx`] is still to be rolled back.
#[derive(Debug)]
struct SqliteWriter {
    conn: AnyConnection,
    in_transaction: bool,
    /// Set up for a rebuild ([`REBUILDING`]) until the next write begins.
    rebuilding: bool,
}

/// The writing connection's page cache, in SQLite's negative KiB: it holds the index
/// pages that random-key inserts (pis person IDs) touch from one commit to the next.
/// Readers keep SQLite's 2 MiB.
const WRITER_CACHE: &str = "PRAGMA cache_size = -65536";
/// A rebuild of derived tables (the registry), written in key order:
/// - it touches each page once, so a large cache only holds memory (55 MB more at
///   the peak of a first reconciliation of a million people);
/// - its commit does not copy the WAL into the file: the writer then calls
///   [`Store::checkpoint_in_background`];
/// - its commit does not wait for the disk. The first registry of a million people
///   is about 450 MB of WAL; waiting for it made that write 0.7 s longer (three
///   timings in alternation). In WAL mode the database stays whole; a power cut can
///   only lose this commit, and the registry's digest goes with it, so the next run
///   writes the registry again. The next commit with `synchronous = FULL` (the
///   run's tickets) syncs the WAL file, this write's pages included.
///
/// SQLite refuses to change `synchronous` inside a transaction: these are set
/// before `BEGIN`, and [`ORDINARY`] after the next write's turn comes.
const REBUILDING: [&str; 3] = [
    "PRAGMA cache_size = -8192",
    "PRAGMA wal_autocheckpoint = 0",
    "PRAGMA synchronous = NORMAL",
];
/// What every other write has: [`WRITER_CACHE`], the checkpoint threshold of
/// every connection (256 MiB of WAL at 16 KiB pages), and commits on disk.
const ORDINARY: [&str; 3] = [WRITER_CACHE, AUTOCHECKPOINT, SYNCHRONOUS];
const AUTOCHECKPOINT: &str = "PRAGMA wal_autocheckpoint = 16384";
const SYNCHRONOUS: &str = "PRAGMA synchronous = FULL";

/// A write transaction: on SQLite, the writer's turn until it commits or is dropped.
pub(crate) struct WriteTx {
    inner: Option<TxInner>,
}

enum TxInner {
    Pool(Transaction<'static, Any>),
    Sqlite(tokio::sync::OwnedMutexGuard<SqliteWriter>),
}

impl WriteTx {
    pub async fn commit(mut self, what: &'static str) -> Result<(), StoreError> {
        match self.inner.take() {
            Some(TxInner::Pool(tx)) => tx.commit().await.map_err(doing(what)),
            Some(TxInner::Sqlite(mut w)) => {
                let done = w.conn.execute("COMMIT").await.map_err(doing(what));
                // A failed COMMIT leaves the transaction open: the next turn rolls it back.
                w.in_transaction = done.is_err();
                done.map(drop)
            }
            None => Ok(()),
        }
    }

    fn conn(&mut self) -> &mut AnyConnection {
        match self
            .inner
            .as_mut()
            .expect("a WriteTx is used only until it commits")
        {
            TxInner::Pool(tx) => tx,
            TxInner::Sqlite(w) => &mut w.conn,
        }
    }
}

impl Drop for WriteTx {
    /// A transaction dropped unfinished (an error on the way) is rolled back at once,
    /// so SQLite's write lock is not held for the other connections' writes.
    fn drop(&mut self) {
        if let Some(TxInner::Sqlite(mut w)) = self.inner.take() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if w.conn.execute("ROLLBACK").await.is_ok() {
                        w.in_transaction = false;
                    }
                });
            }
        }
    }
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self
            .inner
            .as_ref()
            .expect("a WriteTx is used only until it commits")
        {
            TxInner::Pool(tx) => tx,
            TxInner::Sqlite(w) => &w.conn,
        }
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn()
    }
}

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
                    rebuilding: false,
                })))
            }
            Backend::Postgres => None,
        };
        Ok(Store {
            pool,
            backend,
            writer,
        })
    }

    /// Begins a transaction that writes; on SQLite, on the writing connection, once it
    /// is this caller's turn.
    pub(crate) async fn begin_write(&self, what: &'static str) -> Result<WriteTx, StoreError> {
        self.begin(what, false).await
    }

    /// Begins a write that rebuilds derived tables in key order: on SQLite, set up as
    /// [`REBUILDING`] says (on PostgreSQL, an ordinary transaction).
    pub(crate) async fn begin_rebuild(&self, what: &'static str) -> Result<WriteTx, StoreError> {
        self.begin(what, true).await
    }

    async fn begin(&self, what: &'static str, rebuild: bool) -> Result<WriteTx, StoreError> {
        let inner = match &self.writer {
            Some(writer) => {
                let mut w = writer.clone().lock_owned().await;
                if w.in_transaction {
                    // A transaction whose owner was dropped half-way. Its COMMIT may have
                    // gone through before the drop (a task aborted while awaiting it), so
                    // "no transaction is active" is no error; any other failure shows at
                    // BEGIN below, which refuses to nest.
                    let _ = w.conn.execute("ROLLBACK").await;
                    w.in_transaction = false;
                }
                if w.rebuilding != rebuild {
                    let pragmas = if rebuild { REBUILDING } else { ORDINARY };
                    for pragma in pragmas {
                        w.conn.execute(pragma).await.map_err(doing(what))?;
                    }
                    w.rebuilding = rebuild;
                }
                // Marked before it is sent: a caller dropped while BEGIN runs leaves a
                // transaction that the next turn must roll back.
                w.in_transaction = true;
                w.conn
                    .execute("BEGIN IMMEDIATE")
                    .await
                    .map_err(doing(what))?;
                TxInner::Sqlite(w)
            }
            None => TxInner::Pool(self.pool.begin().await.map_err(doing(what))?),
        };
        Ok(WriteTx { inner: Some(inner) })
    }

    /// Copies the WAL into the database file on a reading connection of its own, while
    /// the caller goes on writing (SQLite lets a checkpoint run beside a writer). A
    /// first registry write leaves about 450 MB in the WAL; with its commit copying
    /// them, a first reconciliation of a million people took 5–9% longer (two
    /// timings in alternation). A checkpoint that does not finish (the process ends)
    /// is taken up by the next one; the last connection to close finishes it.
    pub(crate) fn checkpoint_in_background(&self) {
        if self.backend == Backend::Sqlite {
            let pool = self.pool.clone();
            tokio::spawn(async move {
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(error = %e, "checkpointing the WAL failed; the next checkpoint retries");
                }
            });
        }
    }

    /// The number of rows in one of popsync's own tables.
    pub(crate) async fn count_rows(&self, table: &str) -> Result<i64, StoreError> {
        sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await
            .map_err(doing("counting records"))?
            .try_get(0)
            .map_err(doing("counting records"))
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
        if let Some(writer) = &self.writer {
            let mut w = writer.lock().await;
            if w.in_transaction && w.conn.execute("ROLLBACK").await.is_ok() {
                w.in_transaction = false;
            }
            // Everything into the main file, so a copy of it alone is whole.
            let _ = w.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await;
        }
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

/// A statement over many rows of values, `{head} VALUES (…),(…) {tail}` with `cols`
/// values a row: an insert, or a delete of the rows those values name.
pub(crate) struct Insert<'a> {
    pub head: &'a str,
    pub tail: &'a str,
    pub cols: usize,
    /// What the error says was being done.
    pub doing: &'static str,
}

/// The statements of one multi-row insert: a whole chunk's and the last, shorter one's.
pub(crate) struct InsertSql {
    full: String,
    last: String,
}

impl Insert<'_> {
    /// The statements for inserting `rows` rows.
    pub(crate) fn sql(&self, backend: Backend, rows: usize) -> InsertSql {
        let statement = |n: usize| {
            format!(
                "{} VALUES {} {}",
                self.head,
                values_placeholders(backend, n, self.cols),
                self.tail
            )
        };
        InsertSql {
            full: if rows >= CHUNK {
                statement(CHUNK)
            } else {
                String::new()
            },
            last: match rows % CHUNK {
                0 => String::new(),
                n => statement(n),
            },
        }
    }
}

/// One chunk's statement with its rows bound. Whole chunks reuse one prepared
/// statement; the last, of any length, is prepared once and not kept: kept, every
/// length ever seen would hold a prepared statement of thousands of parameters.
fn bind_chunk<'q, T>(
    sql: &'q InsertSql,
    chunk: &'q [T],
    bind: impl Fn(AnyQuery<'q>, &'q T) -> AnyQuery<'q>,
) -> AnyQuery<'q> {
    let q = if chunk.len() == CHUNK {
        sqlx::query(&sql.full)
    } else {
        sqlx::query(&sql.last).persistent(false)
    };
    chunk.iter().fold(q, bind)
}

/// Runs rows through multi-row statements of `CHUNK` rows, `bind` adding one row's
/// values (borrowed, so nothing is copied on the way to the driver); returns the rows
/// affected. Each chunk is bound while the one before it runs, so on SQLite the
/// writer's turn is spent writing, and at most two chunks are bound at a time.
pub(crate) async fn run_chunks<T>(
    tx: &mut WriteTx,
    backend: Backend,
    rows: &[T],
    insert: Insert<'_>,
    bind: impl for<'q> Fn(AnyQuery<'q>, &'q T) -> AnyQuery<'q> + Copy,
) -> Result<u64, StoreError> {
    let sql = insert.sql(backend, rows.len());
    let bound = |chunk| bind_chunk(&sql, chunk, bind);
    let mut chunks = rows.chunks(CHUNK);
    let mut next = chunks.next().map(bound);
    let mut affected = 0;
    while let Some(q) = next.take() {
        // `join!` polls the statement first, which hands it to the driver, then binds.
        let (done, following) =
            tokio::join!(q.execute(&mut **tx), async { chunks.next().map(bound) });
        affected += done.map_err(doing(insert.doing))?.rows_affected();
        next = following;
    }
    Ok(affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn feed_states(store: &Store) -> Vec<String> {
        store
            .feed_states()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.stream)
            .collect()
    }

    /// A write transaction holding one new `feed_state` row, left open.
    async fn write_stream(store: &Store, stream: &str) -> WriteTx {
        let mut tx = store.begin_write("test").await.unwrap();
        sqlx::query("INSERT INTO feed_state (stream, cursor) VALUES ($1, 'c')")
            .bind(stream.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        tx
    }

    /// The writer's (cache, checkpoint threshold, synchronous) inside a transaction.
    async fn writer_setup(tx: &mut WriteTx) -> (i64, i64, i64) {
        let mut setting = Vec::new();
        for pragma in ["cache_size", "wal_autocheckpoint", "synchronous"] {
            let (v,): (i64,) = sqlx::query_as(&format!("PRAGMA {pragma}"))
                .fetch_one(&mut **tx)
                .await
                .unwrap();
            setting.push(v);
        }
        (setting[0], setting[1], setting[2])
    }

    #[tokio::test]
    async fn a_write_begins_after_one_whose_commit_went_through_but_was_never_seen() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = Store::open(&url).await.unwrap();
        let tx = write_stream(&store, "a").await;
        tx.commit("test").await.unwrap();
        // What a task aborted while awaiting its COMMIT leaves: the commit is done,
        // the writer still thinks a transaction is open.
        store.writer.as_ref().unwrap().lock().await.in_transaction = true;
        let tx = write_stream(&store, "b").await;
        tx.commit("test").await.unwrap();
        assert_eq!(feed_states(&store).await, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_rebuild_skips_the_disk_wait_and_the_next_write_has_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = Store::open(&url).await.unwrap();
        let ordinary = (-65536, 16384, 2);
        let mut tx = store.begin_write("test").await.unwrap();
        assert_eq!(writer_setup(&mut tx).await, ordinary);
        tx.commit("test").await.unwrap();
        let mut tx = store.begin_rebuild("test").await.unwrap();
        assert_eq!(writer_setup(&mut tx).await, (-8192, 0, 1), "NORMAL");
        tx.commit("test").await.unwrap();
        let mut tx = store.begin_write("test").await.unwrap();
        assert_eq!(writer_setup(&mut tx).await, ordinary);
        tx.commit("test").await.unwrap();
        store.close().await;
    }

    #[tokio::test]
    async fn a_write_dropped_unfinished_is_rolled_back_and_blocks_no_one() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = Store::open(&url).await.unwrap();
        drop(write_stream(&store, "psb").await);
        // A pool connection writes at once instead of waiting out the busy timeout.
        let started = std::time::Instant::now();
        store.record_pull_outcome(&["pis"], None).await.unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        write_stream(&store, "nhc.birth")
            .await
            .commit("test")
            .await
            .unwrap();
        assert_eq!(feed_states(&store).await, ["nhc.birth", "pis"]);
    }

    /// A store written before the source tables lost their NOT NULL constraints
    /// keeps every record through the upgrade, and the tables come out without them.
    #[tokio::test]
    async fn upgrading_the_source_tables_keeps_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("u.db").display());
        let before_0006 = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(SQLITE_MIGRATIONS.migrations[..5].to_vec()),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(&prepare_sqlite_url(&url).unwrap()).unwrap();
        let pool = AnyPoolOptions::new().connect_with(options).await.unwrap();
        before_0006.run(&pool).await.unwrap();
        for row in [
            "INSERT INTO psb_rows VALUES ('L1','01','349901199001011234','张三',1,'1990-01-01',NULL,NULL,NULL,
             '349901001001',NULL,NULL,NULL,NULL,NULL,NULL,'2010-01-01','2010-01-01 00:00:00','{}')",
            "INSERT INTO mca_marriages VALUES ('M1','结婚','张三','a','李四','b','2010-01-01','o','x')",
            "INSERT INTO mca_cremations VALUES ('C1','张三',1,NULL,'2010-01-01','2010-01-02','a','f','x')",
            "INSERT INTO nhc_births VALUES ('B1',1,'0',NULL,1,'2010-01-01',NULL,'m',NULL,NULL,NULL,NULL,'t','2010-01-01','{}')",
            "INSERT INTO nhc_deaths VALUES ('D1',2,'0',NULL,NULL,1,'2010-01-01',NULL,'t','2010-01-01','{}')",
            "INSERT INTO pis_rows VALUES ('RK1','s','S','王五',2,'1990-01-01','349901001001',NULL,NULL,NULL,1,0,0,
             '2010-01-01 00:00:00','{}')",
        ] {
            sqlx::query(row).execute(&pool).await.unwrap();
        }
        pool.close().await;

        let store = Store::open(&url).await.unwrap();
        let counts: Vec<(&str, i64)> = store
            .record_counts()
            .await
            .unwrap()
            .iter()
            .map(|(feed, n, _)| (*feed, *n))
            .collect();
        assert_eq!(counts, [("psb", 1), ("mca", 2), ("nhc", 2), ("pis", 1)]);
        let not_null: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pragma_table_info('pis_rows') WHERE \"notnull\" = 1",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        assert_eq!(not_null, 0);
    }

    #[tokio::test]
    async fn a_new_database_gets_large_pages_and_close_leaves_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let store = Store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        write_stream(&store, "psb")
            .await
            .commit("test")
            .await
            .unwrap();
        store.close().await;
        // Only the main file is copied: what was committed must be in it.
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let copied = Store::open(&format!("sqlite://{}", copy.display()))
            .await
            .unwrap();
        assert_eq!(feed_states(&copied).await, ["psb"]);
        let page: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&copied.pool)
            .await
            .unwrap();
        assert_eq!(page, 16384);
    }
}
