//! A ticket's owner (包保责任人): the named member of a township's staff who sees the
//! ticket through. The name is a staff member's personal data, so it is parsed once at
//! the edge (the CLI, the API) and only its masked form ever reaches a log line or the
//! audit trail.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::domain::{mask_ids_in, mask_name};

/// The longest owner name, in characters: a Chinese name with a note (`张三（村医）`)
/// fits, a paragraph does not.
pub const MAX_OWNER_CHARS: usize = 32;

/// The word a filter uses for "no owner" (`?owner=none`); refused as a name so that the
/// filter can never be ambiguous.
pub const UNASSIGNED: &str = "none";

/// A valid owner name: trimmed, 1 to [`MAX_OWNER_CHARS`] characters, no control or
/// invisible formatting characters, and not starting like a spreadsheet formula.
/// Its `Debug` is masked (`Owner(张*)`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Owner(String);

/// Why a name cannot be an owner. The messages are Chinese: township staff read them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnerError {
    #[error("责任人姓名不能为空")]
    Empty,
    #[error("责任人姓名不能超过 {MAX_OWNER_CHARS} 个字")]
    TooLong,
    #[error("责任人姓名不能含控制字符或不可见字符")]
    Control,
    #[error("责任人姓名不能以 = + - @ 开头（表格软件会把它当作公式）")]
    Formula,
    #[error("“none”表示未指派，不能作为责任人姓名")]
    Reserved,
}

impl Owner {
    /// Parses a name as typed. A name that starts like a formula is refused rather than
    /// neutralised: it would print with a stray `'` on every signed list.
    pub fn parse(raw: &str) -> Result<Owner, OwnerError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(OwnerError::Empty);
        }
        if name.chars().count() > MAX_OWNER_CHARS {
            return Err(OwnerError::TooLong);
        }
        if name.chars().any(invisible) {
            return Err(OwnerError::Control);
        }
        if super::export::starts_like_formula(name) {
            return Err(OwnerError::Formula);
        }
        if name.eq_ignore_ascii_case(UNASSIGNED) {
            return Err(OwnerError::Reserved);
        }
        Ok(Owner(name.to_string()))
    }

    /// An assignment's name as given: missing or blank clears the owner (`None`),
    /// anything else must parse.
    pub fn parse_or_clear(raw: Option<&str>) -> Result<Option<Owner>, OwnerError> {
        match raw.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(None),
            Some(name) => Owner::parse(name).map(Some),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form allowed in logs and the audit trail: `张*`.
    pub fn masked(&self) -> String {
        mask_name(&self.0)
    }
}

/// Control characters, and the invisible ones that make two names look alike or turn
/// text around (zero-width spaces and joiners, bidirectional overrides, BOM).
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Owner({})", self.masked())
    }
}

impl Serialize for Owner {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// What the audit trail says an assignment was about: the ticket and the new owner's
/// masked name (the history keeps the whole name, beside the ticket it concerns).
pub fn assignment_target(ticket: &str, owner: Option<&Owner>) -> String {
    let ticket = mask_ids_in(ticket);
    match owner {
        Some(o) => format!("ticket {ticket} to {}", o.masked()),
        None => format!("ticket {ticket} cleared"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_refuses_what_would_harm_a_list() {
        let ok = |raw: &str, want: &str| {
            assert_eq!(
                Owner::parse(raw).map(|o| o.as_str().to_string()),
                Ok(want.to_string())
            );
        };
        ok("  张三 ", "张三");
        ok("\u{3000}买买提·艾力\u{3000}", "买买提·艾力");
        ok("Li Si", "Li Si");
        ok(&"王".repeat(MAX_OWNER_CHARS), &"王".repeat(MAX_OWNER_CHARS));
        let bad = |raw: &str, want: OwnerError| assert_eq!(Owner::parse(raw), Err(want), "{raw:?}");
        bad("", OwnerError::Empty);
        bad(" \t ", OwnerError::Empty);
        bad(&"王".repeat(MAX_OWNER_CHARS + 1), OwnerError::TooLong);
        bad("张\n三", OwnerError::Control);
        bad("张\u{202e}三", OwnerError::Control);
        bad("张\u{200b}三", OwnerError::Control);
        bad("=HYPERLINK(\"x\")", OwnerError::Formula);
        bad(" +1", OwnerError::Formula);
        bad("-张三", OwnerError::Formula);
        bad("@张三", OwnerError::Formula);
        bad("None", OwnerError::Reserved);
    }

    #[test]
    fn debug_never_shows_the_whole_name() {
        let o = Owner::parse("张三丰").unwrap();
        assert_eq!(format!("{o:?}"), "Owner(张**)");
        assert_eq!(serde_json::to_string(&o).unwrap(), "\"张三丰\"");
    }
}
