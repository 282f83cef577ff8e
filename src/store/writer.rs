//! SQLite's one writing connection, taken in turns, and the write transaction every
//! module writes through ([`WriteTx`]): the pragmas a write runs with, a rebuild's
//! cheaper ones, and a rollback of whatever a dropped owner left open.

use sqlx::{Any, AnyConnection, Executor, Transaction};

use super::{doing, Store, StoreError};

/// The SQLite writing connection and whether a transaction of a dropped
/// [`WriteTx`] is still to be rolled back.
#[derive(Debug)]
pub(super) struct SqliteWriter {
    pub(super) conn: AnyConnection,
    pub(super) in_transaction: bool,
    /// How the last write set the connection up, kept until a write needs another.
    pub(super) setup: Setup,
}

/// The writing connection's page cache, in SQLite's negative KiB: it holds the index
/// pages that random-key inserts (pis person IDs) touch from one commit to the next.
/// Readers keep SQLite's 2 MiB.
pub(super) const WRITER_CACHE: &str = "PRAGMA cache_size = -65536";
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
/// An ordinary write whose commit does not wait for the disk ([`Store::begin_unsynced`]).
const UNSYNCED: [&str; 3] = [WRITER_CACHE, AUTOCHECKPOINT, "PRAGMA synchronous = NORMAL"];

/// How the writing connection is set up for a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Setup {
    Ordinary,
    Rebuild,
    Unsynced,
}

pub(super) const AUTOCHECKPOINT: &str = "PRAGMA wal_autocheckpoint = 16384";
pub(super) const SYNCHRONOUS: &str = "PRAGMA synchronous = FULL";

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

    /// Rolls back now (dropping a transaction rolls it back too, but on a pooled
    /// connection only when that connection is next used).
    pub async fn rollback(mut self, what: &'static str) -> Result<(), StoreError> {
        match self.inner.take() {
            Some(TxInner::Pool(tx)) => tx.rollback().await.map_err(doing(what)),
            Some(TxInner::Sqlite(mut w)) => {
                let done = w.conn.execute("ROLLBACK").await.map_err(doing(what));
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

impl Store {
    /// Begins a transaction that writes; on SQLite, on the writing connection, once it
    /// is this caller's turn.
    pub(crate) async fn begin_write(&self, what: &'static str) -> Result<WriteTx, StoreError> {
        self.begin(what, Setup::Ordinary).await
    }

    /// Begins a transaction that writes and whose commit does not wait for the disk
    /// (SQLite `synchronous = NORMAL`, PostgreSQL `synchronous_commit = off`), for a
    /// first run's buckets. A power cut can lose the last such commits, never part of
    /// one, nor one without those before it: the store is then as a process killed a
    /// little earlier left it. The run's own record, written last, waits for the disk,
    /// and the WAL it syncs holds every commit before it.
    pub(crate) async fn begin_unsynced(&self, what: &'static str) -> Result<WriteTx, StoreError> {
        self.begin(what, Setup::Unsynced).await
    }

    /// Begins a write that rebuilds derived tables in key order: on SQLite, set up as
    /// [`REBUILDING`] says (on PostgreSQL, an ordinary transaction).
    pub(crate) async fn begin_rebuild(&self, what: &'static str) -> Result<WriteTx, StoreError> {
        self.begin(what, Setup::Rebuild).await
    }

    /// Begins a transaction that holds a lock for as long as some work takes (a run's
    /// lead, a bucket's claim): on PostgreSQL on a connection of its own, apart from the
    /// pool the work uses; `None` on SQLite, where one process runs alone.
    pub(crate) async fn begin_holding(
        &self,
        what: &'static str,
    ) -> Result<Option<WriteTx>, StoreError> {
        let Some(claims) = &self.claims else {
            return Ok(None);
        };
        let tx = claims.begin().await.map_err(doing(what))?;
        Ok(Some(WriteTx {
            inner: Some(TxInner::Pool(tx)),
        }))
    }

    async fn begin(&self, what: &'static str, setup: Setup) -> Result<WriteTx, StoreError> {
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
                if w.setup != setup {
                    let pragmas = match setup {
                        Setup::Ordinary => ORDINARY,
                        Setup::Rebuild => REBUILDING,
                        Setup::Unsynced => UNSYNCED,
                    };
                    for pragma in pragmas {
                        w.conn.execute(pragma).await.map_err(doing(what))?;
                    }
                    w.setup = setup;
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
            None => {
                let mut tx = self.pool.begin().await.map_err(doing(what))?;
                if setup == Setup::Unsynced && self.backend == super::Backend::Postgres {
                    sqlx::query("SET LOCAL synchronous_commit = off")
                        .execute(&mut *tx)
                        .await
                        .map_err(doing(what))?;
                }
                TxInner::Pool(tx)
            }
        };
        Ok(WriteTx { inner: Some(inner) })
    }
}
