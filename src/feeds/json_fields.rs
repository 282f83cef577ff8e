//! Lenient field access for JSON rows: departments send strings, sometimes numbers,
//! sometimes null or empty strings for "absent". One row's oddity never fails a page.
//! For every feed, JSON or CSV: how a record identifier is checked at the edge, and
//! how a record that fails is kept aside.

use std::borrow::Cow;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::domain::check_record_key;
use crate::records::{InlineText, Malformed};

/// A field's text as sent: strings as they are, numbers printed; null and blank are absent.
fn field<'r>(row: &'r Map<String, Value>, key: &str) -> Option<Cow<'r, str>> {
    match row.get(key)? {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

/// A field as text (names keep their spaces: the rules compare them normalised).
pub fn text(row: &Map<String, Value>, key: &str) -> Option<InlineText> {
    field(row, key).map(|s| InlineText::from(s.as_ref()))
}

/// A field as trimmed text (for codes and dates).
pub fn code(row: &Map<String, Value>, key: &str) -> Option<InlineText> {
    field(row, key).map(|s| InlineText::from(s.trim()))
}

/// A record's own key (`lsh`, 登记证号, `certificateNo`, `personId`, …), checked as an
/// identifier. A key that is missing or fails cannot name the record, so the error
/// carries no key: the quarantine keys the record by the digest of its raw text instead,
/// and a bad key never reaches the store, a log line or an export.
pub fn natural_key(value: Option<InlineText>, field: &str) -> Result<InlineText, RowError> {
    let value = value.ok_or_else(|| (None, format!("missing {field}")))?;
    identifier(value, field).map_err(|reason| (None, reason))
}

/// A number that points at another feed's record (`csyxzmbh`): absent is no fault, but
/// a number that is there must be an identifier, or the record is malformed.
pub fn optional_identifier(
    row: &Map<String, Value>,
    key: &str,
) -> Result<Option<InlineText>, String> {
    code(row, key).map(|v| identifier(v, key)).transpose()
}

/// The value if it is an identifier, else the reason the record is malformed, naming
/// the field.
fn identifier(value: InlineText, field: &str) -> Result<InlineText, String> {
    match check_record_key(&value) {
        Ok(()) => Ok(value),
        Err(e) => Err(format!("{field} {e}")),
    }
}

/// Why one record is malformed: its natural key when it has one, and the reason.
pub type RowError = (Option<InlineText>, String);

/// The quarantine entry for a record that failed to parse: keyed by its natural key,
/// or by a digest of its raw text so that a redelivery is recognised.
pub fn malformed((key, reason): RowError, raw: &str) -> Malformed {
    Malformed {
        key: key.map_or_else(|| digest_key(raw.as_bytes()), String::from),
        raw: raw.to_string(),
        reason,
    }
}

/// The key a malformed record is recognised by when it lacks its natural key.
fn digest_key(raw: &[u8]) -> String {
    let d = Sha256::digest(raw);
    format!("sha256:{}", crate::domain::hex(&d[..16]))
}

/// A required field, or the reason the record is malformed.
pub fn required(row: &Map<String, Value>, key: &str) -> Result<InlineText, String> {
    code(row, key).ok_or_else(|| format!("missing {key}"))
}
