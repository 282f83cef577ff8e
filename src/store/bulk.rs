//! Many rows in one statement: multi-row `VALUES` inserts (and deletes of the rows such
//! values name), bound a chunk at a time while the chunk before runs.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

use super::{doing, Backend, StoreError, WriteTx};

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

/// A statement over many rows of values, `{head} VALUES (…),(…) {tail}`: an insert, or
/// a delete of the rows those values name. A row binds one value per column named in the
/// head's first parentheses (`INSERT INTO t (a, b)`, `DELETE … WHERE (a) IN (…`).
pub(crate) struct Insert<'a> {
    pub head: &'a str,
    pub tail: &'a str,
    /// What the error says was being done.
    pub doing: &'static str,
}

/// The statements of one multi-row insert: a whole chunk's and the last, shorter one's.
pub(crate) struct InsertSql {
    full: String,
    last: String,
}

impl Insert<'_> {
    /// How many values a row binds: the columns in the head's first parentheses, counted
    /// from the head itself, so that the number can never drift from the list.
    fn columns(&self) -> usize {
        let list = self
            .head
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map_or("", |(list, _)| list);
        list.split(',').filter(|c| !c.trim().is_empty()).count()
    }

    /// The statements for inserting `rows` rows.
    pub(crate) fn sql(&self, backend: Backend, rows: usize) -> InsertSql {
        let statement = |n: usize| {
            format!(
                "{} VALUES {} {}",
                self.head,
                values_placeholders(backend, n, self.columns()),
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

    #[test]
    fn a_row_binds_one_value_per_column_the_head_names() {
        let insert = |head| Insert {
            head,
            tail: "",
            doing: "testing",
        };
        assert_eq!(insert("INSERT INTO t (a, b,\n c)").columns(), 3);
        assert_eq!(
            insert("DELETE FROM q WHERE (k) IN (SELECT column1 FROM (").columns(),
            1
        );
        let sql = insert("INSERT INTO t (a, b)").sql(Backend::Postgres, 2);
        assert_eq!(
            sql.last.trim(),
            "INSERT INTO t (a, b) VALUES ($1,$2),($3,$4)"
        );
    }
}
