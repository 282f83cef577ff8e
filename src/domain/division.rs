//! Statistical division codes: 12 digits (county, township, village); a township is the
//! first 9.

use std::fmt;

/// A 12-digit village/community code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DivisionCode([u8; 12]);

/// A 9-digit township code: the unit a ticket is routed to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TownshipCode([u8; 9]);

impl DivisionCode {
    /// Accepts exactly 12 ASCII digits (surrounding spaces trimmed).
    pub fn parse(raw: &str) -> Option<DivisionCode> {
        let b = raw.trim().as_bytes();
        if b.len() != 12 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut a = [0u8; 12];
        a.copy_from_slice(b);
        Some(DivisionCode(a))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("digits")
    }

    /// The township the village lies in.
    pub fn township(&self) -> TownshipCode {
        let mut a = [0u8; 9];
        a.copy_from_slice(&self.0[..9]);
        TownshipCode(a)
    }
}

impl TownshipCode {
    /// Accepts exactly 9 ASCII digits.
    pub fn parse(raw: &str) -> Option<TownshipCode> {
        let b = raw.trim().as_bytes();
        if b.len() != 9 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut a = [0u8; 9];
        a.copy_from_slice(b);
        Some(TownshipCode(a))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("digits")
    }
}

impl fmt::Display for DivisionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl fmt::Debug for DivisionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl fmt::Display for TownshipCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl serde::Serialize for TownshipCode {
    /// As its text, the form the store, the exports and the API all use.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Debug for TownshipCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn township_is_the_first_nine_digits() {
        let d = DivisionCode::parse("349901104203").unwrap();
        assert_eq!(d.township().as_str(), "349901104");
        assert!(DivisionCode::parse("34990110420").is_none());
        assert!(DivisionCode::parse("34990110420a").is_none());
    }
}
