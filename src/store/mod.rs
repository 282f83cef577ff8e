//! The store: the only module that knows SQL. SQLite (embedded, the default) or
//! PostgreSQL, chosen by the URL, through sqlx's `Any` driver with portable SQL
//! (`$N` placeholders, `ON CONFLICT`), and one migrations folder per backend.

mod access;
mod api_queries;
mod bulk;
pub mod cases;
mod copy;
mod feeds;
mod full_check;
mod open;
mod readiness;
mod registry;
mod registry_fresh;
mod registry_spill;
mod snapshot;
mod spill;
mod ticket_spill;
mod tickets;
mod verify;
mod writer;

pub use access::{hash_token, AuditAction, AuditResult, AuditRow, NewToken, TokenOwner, TokenRow};
pub use feeds::{CommitStats, FeedStatusRow};
pub use full_check::FullCheckRow;
pub use readiness::RunRecord;
pub use registry::{LinkRow, PersonRow, RegistryCases, RegistryComparison, RegistryWrite};
pub use registry_spill::RegistrySpill;
pub use ticket_spill::TicketSpill;
pub use tickets::{Actor, Assignment, OwnerFilter, TicketEventRow, TicketFilter};
pub use verify::{StoredRecord, VerifyCounts, VerifyRow};

pub(crate) use bulk::{run_chunks, values_placeholders, Insert, CHUNK};
pub use open::redact_url;
pub(crate) use writer::WriteTx;

use std::sync::Arc;

use sqlx::{AnyPool, Executor, Row};

use writer::SqliteWriter;

/// A store failure, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {url}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create the directory for {path}")]
    Directory {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot migrate the database schema")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error while {doing}")]
    Query {
        doing: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("no table holds records of stream {0:?}")]
    UnknownStream(String),
    #[error("cannot write or read {path}, where a first run keeps the records while it builds the cases")]
    Spill {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot lock {path}, the file that says which process leads reconciliation")]
    LeadFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
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
    /// PostgreSQL: the connections that hold a run's lead and the buckets' claims
    /// (`cases::buckets`), apart from the pool their work uses.
    claims: Option<AnyPool>,
    /// PostgreSQL: connections for `COPY` (`copy.rs`), which `Any` connections lack.
    copy_pool: Option<sqlx::PgPool>,
    /// SQLite: the file a run's leader holds locked (`cases::buckets`); `None` for a
    /// database in memory.
    lead_file: Option<std::path::PathBuf>,
}

impl Store {
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
        if let Some(claims) = &self.claims {
            claims.close().await;
        }
        if let Some(copy) = &self.copy_pool {
            copy.close().await;
        }
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

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

    use super::open::{prepare_sqlite_url, SQLITE_MIGRATIONS};
    use super::*;

    #[test]
    fn a_chained_cause_is_printed_once() {
        let e = StoreError::Directory {
            path: "/var/lib/popsync/popsync.db".into(),
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "access denied"),
        };
        let shown = crate::domain::masked_causes(&e);
        assert_eq!(
            shown,
            "cannot create the directory for /var/lib/popsync/popsync.db: access denied"
        );
        let edge = format!("{:#}", anyhow::Error::from(e));
        assert_eq!(edge.matches("access denied").count(), 1, "{edge}");
    }

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
    async fn a_rebuild_or_an_unsynced_write_skips_the_disk_wait_and_the_next_write_has_it_back() {
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
        // An unsynced commit keeps the ordinary cache and threshold; the next write
        // waits for the disk again.
        let mut tx = store.begin_unsynced("test").await.unwrap();
        assert_eq!(writer_setup(&mut tx).await, (-65536, 16384, 1), "NORMAL");
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
