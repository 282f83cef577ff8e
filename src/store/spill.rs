//! Rows spilled to a file and read back: how a first run holds the city's records on
//! disk instead of in memory while it builds the cases (`cases::spilled`).
//!
//! A row is written as its cells, not as a record: one small codec serves every table,
//! and a row read back goes through the same conversion as a row read from the
//! database. Each row is `[length u32][case i64][table u8][cells u8]` and then its
//! cells, each a tag (0 null, 1 integer, 2 text) and its value, integers and lengths
//! little-endian. The files hold names and ID numbers: they are created in a directory
//! only this user may enter (`tempfile`), and removed with it.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use super::snapshot::Cell;
use super::{StoreError, CHUNK};

/// The error of a spill file that cannot be written or read, naming it.
pub(crate) fn spill_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Spill {
        path: path.display().to_string(),
        source,
    }
}

/// Appends one row (`table`'s `cells`, in `case`) to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, case: i64, table: u8, cells: &[Cell<'_>]) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&case.to_le_bytes());
    out.push(table);
    out.push(u8::try_from(cells.len()).unwrap_or(u8::MAX));
    for cell in cells.iter().take(usize::from(u8::MAX)) {
        match cell {
            Cell::Null => out.push(0),
            Cell::Int(n) => {
                out.push(1);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Cell::Text(s) => {
                out.push(2);
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Reads the next row's bytes (after its length) into `row`; `false` at the end.
pub(crate) fn next_row(input: &mut impl BufRead, row: &mut Vec<u8>) -> io::Result<bool> {
    if input.fill_buf()?.is_empty() {
        return Ok(false);
    }
    let mut len = [0; 4];
    input.read_exact(&mut len)?;
    row.resize(u32::from_le_bytes(len) as usize, 0);
    input.read_exact(row)?;
    Ok(true)
}

/// The next row's bytes (after its length) of a file read whole, borrowed from it;
/// `None` at its end.
pub(crate) fn split_row<'r>(input: &mut &'r [u8]) -> Result<Option<&'r [u8]>, StoreError> {
    if input.is_empty() {
        return Ok(None);
    }
    let cut = || StoreError::Corrupt {
        what: "spilled row",
        detail: "cut short".to_string(),
    };
    let len = input.get(..4).ok_or_else(cut)?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let row = input.get(4..4 + len).ok_or_else(cut)?;
    *input = &input[4 + len..];
    Ok(Some(row))
}

/// A row's bytes with its case replaced (as the partition pass sets it).
pub(crate) fn set_case(row: &mut [u8], case: i64) {
    if row.len() >= 8 {
        row[..8].copy_from_slice(&case.to_le_bytes());
    }
}

/// Writes a row's bytes, read by [`next_row`], back with its length.
pub(crate) fn write_row(out: &mut impl Write, row: &[u8]) -> io::Result<()> {
    out.write_all(&(row.len() as u32).to_le_bytes())?;
    out.write_all(row)
}

/// A row's case, table and cells, borrowed from its bytes.
pub(crate) fn decode<'r>(
    row: &'r [u8],
    cells: &mut Vec<Cell<'r>>,
) -> Result<(i64, u8), StoreError> {
    let bad = || StoreError::Corrupt {
        what: "spilled row",
        detail: "cut short or malformed".to_string(),
    };
    let take = |at: &mut usize, n: usize| -> Result<&'r [u8], StoreError> {
        let bytes = row.get(*at..*at + n).ok_or_else(bad)?;
        *at += n;
        Ok(bytes)
    };
    let mut at = 0;
    let case = i64::from_le_bytes(take(&mut at, 8)?.try_into().map_err(|_| bad())?);
    let head = take(&mut at, 2)?;
    let (table, n) = (head[0], head[1]);
    cells.clear();
    for _ in 0..n {
        let cell = match take(&mut at, 1)?[0] {
            0 => Cell::Null,
            1 => Cell::Int(i64::from_le_bytes(
                take(&mut at, 8)?.try_into().map_err(|_| bad())?,
            )),
            2 => {
                let len = u32::from_le_bytes(take(&mut at, 4)?.try_into().map_err(|_| bad())?);
                let text = std::str::from_utf8(take(&mut at, len as usize)?).map_err(|_| bad())?;
                Cell::Text(Cow::Borrowed(text))
            }
            _ => return Err(bad()),
        };
        cells.push(cell);
    }
    Ok((case, table))
}

/// One sorted file as a merge reads it: its next row, decoded.
struct Sorted<R> {
    input: BufReader<File>,
    bytes: Vec<u8>,
    path: PathBuf,
    decode: fn(&[Cell<'_>]) -> Result<R, StoreError>,
}

impl<R> Sorted<R> {
    /// The next row, or `None` at the file's end.
    fn next(&mut self) -> Result<Option<R>, StoreError> {
        if !next_row(&mut self.input, &mut self.bytes).map_err(spill_error(&self.path))? {
            return Ok(None);
        }
        let mut cells = Vec::new();
        decode(&self.bytes, &mut cells)?;
        (self.decode)(&cells).map(Some)
    }
}

/// The rows of files each sorted (by `R`'s order), merged in that order, [`CHUNK`] at a
/// time, read and decoded on a thread of its own while the caller inserts the chunk
/// before (the writer was idle for about a third of a merge that one thread did).
/// Each file is removed once opened; the open file goes when it is read.
pub(crate) struct MergedChunks<R> {
    chunks: tokio::sync::mpsc::Receiver<Result<Vec<R>, StoreError>>,
    reader: tokio::task::JoinHandle<()>,
}

impl<R: Ord + Send + 'static> MergedChunks<R> {
    pub(crate) fn open(
        paths: Vec<PathBuf>,
        decode: fn(&[Cell<'_>]) -> Result<R, StoreError>,
    ) -> Result<MergedChunks<R>, StoreError> {
        let mut files = Vec::with_capacity(paths.len());
        let mut heap = BinaryHeap::new();
        for path in paths {
            let file = File::open(&path).map_err(spill_error(&path))?;
            let _ = std::fs::remove_file(&path);
            let mut sorted = Sorted {
                input: BufReader::with_capacity(1 << 16, file),
                bytes: Vec::new(),
                path,
                decode,
            };
            if let Some(row) = sorted.next()? {
                heap.push(Reverse((row, files.len())));
            }
            files.push(sorted);
        }
        let (tx, chunks) = tokio::sync::mpsc::channel(2);
        let reader = tokio::task::spawn_blocking(move || {
            let mut chunk = Vec::with_capacity(CHUNK);
            let mut next = || -> Result<Option<R>, StoreError> {
                let Some(Reverse((row, at))) = heap.pop() else {
                    return Ok(None);
                };
                if let Some(following) = files[at].next()? {
                    heap.push(Reverse((following, at)));
                }
                Ok(Some(row))
            };
            loop {
                match next() {
                    Ok(Some(row)) => {
                        chunk.push(row);
                        if chunk.len() < CHUNK {
                            continue;
                        }
                    }
                    Ok(None) if chunk.is_empty() => return,
                    Ok(None) => {}
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                // The caller gave up (its error is the run's): nothing more to read.
                if tx.blocking_send(Ok(full)).is_err() {
                    return;
                }
            }
        });
        Ok(MergedChunks { chunks, reader })
    }

    /// The next chunk, or `None` once every row was sent or the reading thread ended;
    /// [`MergedChunks::finish`] tells which.
    pub(crate) async fn next(&mut self) -> Option<Result<Vec<R>, StoreError>> {
        self.chunks.recv().await
    }

    /// After the last chunk: whether the reading thread read every file to its end (a
    /// thread that panicked closes the channel as one that is done does).
    pub(crate) async fn finish(self) -> Result<(), StoreError> {
        match self.reader.await {
            Ok(()) => Ok(()),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Corrupt {
                what: "spilled rows",
                detail: "the merge's reading thread ended before the files did".to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(cells: &[Cell<'_>]) -> Vec<String> {
        cells.iter().map(|c| format!("{c:?}")).collect()
    }

    #[test]
    fn a_row_comes_back_as_it_went_with_its_case_set_later() {
        let row = vec![
            Cell::Text(Cow::Borrowed("王小明\t\\")),
            Cell::Null,
            Cell::Int(-7),
            Cell::Text(Cow::Borrowed("")),
        ];
        let mut file = Vec::new();
        encode(&mut file, 0, 5, &row);
        encode(&mut file, 0, 1, &[]);
        let mut input = io::BufReader::new(&file[..]);
        let (mut bytes, mut cells) = (Vec::new(), Vec::new());
        assert!(next_row(&mut input, &mut bytes).unwrap());
        set_case(&mut bytes, 42);
        let mut copied = Vec::new();
        write_row(&mut copied, &bytes).unwrap();
        let mut again = Vec::new();
        assert!(next_row(&mut io::BufReader::new(&copied[..]), &mut again).unwrap());
        assert_eq!(decode(&again, &mut cells).unwrap(), (42, 5));
        assert_eq!(texts(&cells), texts(&row));
        assert!(next_row(&mut input, &mut bytes).unwrap());
        assert_eq!(decode(&bytes, &mut cells).unwrap(), (0, 1));
        assert!(cells.is_empty());
        assert!(!next_row(&mut input, &mut bytes).unwrap());

        let (mut whole, mut cells) = (&file[..], Vec::new());
        let first = split_row(&mut whole).unwrap().unwrap();
        assert_eq!(decode(first, &mut cells).unwrap(), (0, 5));
        assert_eq!(texts(&cells), texts(&row));
        let second = split_row(&mut whole).unwrap().unwrap();
        assert_eq!(decode(second, &mut cells).unwrap(), (0, 1));
        assert!(split_row(&mut whole).unwrap().is_none());
    }

    #[test]
    fn a_cut_row_is_corrupt_not_a_panic() {
        let mut file = Vec::new();
        encode(&mut file, 9, 0, &[Cell::Text(Cow::Borrowed("110101"))]);
        for cut in 0..file.len() - 4 {
            let mut cells = Vec::new();
            assert!(
                decode(&file[4..4 + cut], &mut cells).is_err(),
                "cut at {cut}"
            );
        }
        let mut input = io::BufReader::new(&file[..file.len() - 1]);
        assert!(next_row(&mut input, &mut Vec::new()).is_err());
        assert!(split_row(&mut &file[..file.len() - 1]).is_err());
    }
}
