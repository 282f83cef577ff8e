//! The character set of the record identifiers the departments send (`lsh`, 登记证号,
//! 火化证明编号, `certificateNo`, `personId`, `csyxzmbh`).
//!
//! These texts leave popsync in many places: store keys, quarantine rows, log fields,
//! ticket evidence, CSV and spreadsheet exports, API answers. Checked once at the edge,
//! none of those places has to wonder whether a key holds a quote, a line break, a
//! formula or a megabyte. Every number the departments are known to send is far inside
//! the set (`349901201000000058`, `J349901-2010-000001`, `HH2010-00001`, `K514913759`,
//! `RK2123872855`); `_`, `.` and `/` are allowed because registers elsewhere write their
//! numbers with them (`2010/00017`, `HH.2010.1`), and none of them means anything to a
//! CSV reader or a spreadsheet.

/// The longest identifier accepted, in characters: the longest in the spec's examples
/// is 19 (a marriage registration number), and a key stays one short line in a log or a cell.
pub const MAX_RECORD_KEY_CHARS: usize = 64;

/// Why a text is not a record identifier. The message names no value: the caller
/// names the field, and the raw record is kept beside the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordKeyError {
    /// Nothing after trimming: a missing key is reported as missing, not as this.
    #[error("is empty")]
    Empty,
    /// Past [`MAX_RECORD_KEY_CHARS`].
    #[error("is {0} characters long, more than {MAX_RECORD_KEY_CHARS}")]
    TooLong(usize),
    /// A leading `-`, `.` or `/`: an option to a command, a hidden or parent path, a
    /// spreadsheet's minus sign.
    #[error("starts with {0:?}; an identifier starts with a letter or a digit")]
    BadStart(char),
    /// A character outside the set, and where (counting from 1).
    #[error("has {ch:?} at character {at}; identifiers hold only A-Z a-z 0-9 - _ . /")]
    BadChar { ch: char, at: usize },
}

/// Checks `text` as a record identifier: 1 to [`MAX_RECORD_KEY_CHARS`] characters of
/// `A`-`Z`, `a`-`z`, `0`-`9`, `-`, `_`, `.` and `/`, the first a letter or a digit.
pub fn check_record_key(text: &str) -> Result<(), RecordKeyError> {
    let Some(first) = text.chars().next() else {
        return Err(RecordKeyError::Empty);
    };
    let len = text.chars().count();
    if len > MAX_RECORD_KEY_CHARS {
        return Err(RecordKeyError::TooLong(len));
    }
    if let Some((i, ch)) = text
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
    {
        return Err(RecordKeyError::BadChar { ch, at: i + 1 });
    }
    if !first.is_ascii_alphanumeric() {
        return Err(RecordKeyError::BadStart(first));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_numbers_departments_send() {
        for key in [
            "349901201000000058",
            "J349901-2010-000001",
            "HH2010-00001",
            "K514913759",
            "RK2123872855",
            "2010/00017",
            "HH.2010_1",
            "7",
            &"A".repeat(MAX_RECORD_KEY_CHARS),
        ] {
            assert_eq!(check_record_key(key), Ok(()), "{key}");
        }
    }

    #[test]
    fn refuses_what_could_break_a_line_a_cell_or_a_path() {
        use RecordKeyError::*;
        for (key, want) in [
            ("", Empty),
            ("RK 1", BadChar { ch: ' ', at: 3 }),
            ("RK\"1", BadChar { ch: '"', at: 3 }),
            ("RK1\n2", BadChar { ch: '\n', at: 4 }),
            ("=1+1", BadChar { ch: '=', at: 1 }),
            ("-1-1", BadStart('-')),
            ("../etc", BadStart('.')),
            ("/x", BadStart('/')),
            ("RK１２", BadChar { ch: '１', at: 3 }),
            ("黄静", BadChar { ch: '黄', at: 1 }),
            ("K514913759\0", BadChar { ch: '\0', at: 11 }),
        ] {
            assert_eq!(check_record_key(key), Err(want), "{key:?}");
        }
        assert_eq!(
            check_record_key(&"7".repeat(200)),
            Err(TooLong(200)),
            "200 digits"
        );
    }
}
