//! PostgreSQL's `COPY … FROM STDIN` for the largest writes of a first run: every
//! case's records and keys, and every golden record, millions of rows, which multi-row
//! `VALUES` statements sent to PostgreSQL at a fraction of SQLite's speed. sqlx's `Any`
//! connection has no COPY, so these writes go on a PostgreSQL connection of their own
//! (`Store::copy_pool`), each in one transaction there.

use sqlx::postgres::{PgConnection, PgCopyIn};

use super::{doing, StoreError};

/// Bytes of COPY data sent at a time.
const SEND: usize = 1 << 20;

const WHAT: &str = "copying rows into PostgreSQL";

/// One `COPY … FROM STDIN` under way: rows are written into a buffer as lines of COPY's
/// text format and sent a megabyte at a time.
pub(crate) struct CopyIn<'c> {
    copy: PgCopyIn<&'c mut PgConnection>,
    buf: String,
}

impl<'c> CopyIn<'c> {
    /// Starts copying into `target` (`table (columns)`).
    pub async fn begin(conn: &'c mut PgConnection, target: &str) -> Result<CopyIn<'c>, StoreError> {
        let copy = conn
            .copy_in_raw(&format!("COPY {target} FROM STDIN"))
            .await
            .map_err(doing(WHAT))?;
        Ok(CopyIn {
            copy,
            buf: String::with_capacity(SEND + 4096),
        })
    }

    /// Adds one row, its fields written by `line` (tab-separated; texts through
    /// [`push_text`], NULL as `\N`).
    pub async fn row(&mut self, line: impl FnOnce(&mut String)) -> Result<(), StoreError> {
        line(&mut self.buf);
        self.buf.push('\n');
        if self.buf.len() >= SEND {
            self.send().await?;
        }
        Ok(())
    }

    async fn send(&mut self) -> Result<(), StoreError> {
        let sent = self.copy.send(self.buf.as_bytes()).await.map(drop);
        self.buf.clear();
        sent.map_err(doing(WHAT))
    }

    /// Sends what is left and ends the COPY; how many rows it stored.
    pub async fn finish(mut self) -> Result<u64, StoreError> {
        if !self.buf.is_empty() {
            if let Err(e) = self.send().await {
                let _ = self.copy.abort("a send failed").await;
                return Err(e);
            }
        }
        self.copy.finish().await.map_err(doing(WHAT))
    }
}

/// A field in COPY's text format: backslash, tab, newline and carriage return escaped.
pub(crate) fn push_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Copies `rows` into `target`, each row's fields written by `line`; how many rows.
pub(crate) async fn copy_rows<T>(
    conn: &mut PgConnection,
    target: &str,
    rows: &[T],
    mut line: impl FnMut(&mut String, &T),
) -> Result<u64, StoreError> {
    let mut copy = CopyIn::begin(conn, target).await?;
    for row in rows {
        copy.row(|out| line(out, row)).await?;
    }
    copy.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_escaped_as_copy_reads_them() {
        let mut out = String::new();
        push_text(&mut out, "a\tb\\c\nd\re");
        assert_eq!(out, "a\\tb\\\\c\\nd\\re");
    }
}
