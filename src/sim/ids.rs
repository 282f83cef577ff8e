//! Resident ID numbers (GB 11643-1999): building valid ones, checking them, and the
//! hand-typed variants (legacy 15-digit, lower-case `x`, full-width digits, padding)
//! that the `pis` register holds.

use chrono::{Datelike, NaiveDate};

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

/// The ISO 7064 MOD 11-2 check character of the first 17 digits.
pub fn check_char(first17: &str) -> char {
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize] as char
}

/// An 18-digit ID from its parts; `seq` is 0..=999 (its parity is the sex).
pub fn make_id(addr: &str, birth: NaiveDate, seq: u32) -> String {
    let mut s = format!(
        "{addr}{:04}{:02}{:02}{:03}",
        birth.year(),
        birth.month(),
        birth.day(),
        seq
    );
    let c = check_char(&s);
    s.push(c);
    s
}

/// Whether `id` is a valid 18-character ID: digits, a real date, the right check.
#[cfg_attr(not(test), allow(dead_code))]
pub fn is_valid(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    if birth_of(id).is_none() {
        return false;
    }
    check_char(&id[..17]) as u8 == b[17]
}

/// The birth date an 18-digit ID carries, if it is a real date.
#[cfg_attr(not(test), allow(dead_code))]
pub fn birth_of(id: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(id.get(6..14)?, "%Y%m%d").ok()
}

/// The same ID with its check character replaced by a wrong one.
pub fn with_wrong_check(id: &str) -> String {
    let good = check_char(&id[..17]);
    let bad = CHECK
        .iter()
        .map(|&c| c as char)
        .find(|&c| c != good)
        .unwrap_or('0');
    // pick a wrong character that still looks ordinary (a digit) when possible
    let bad = if good == '0' {
        '1'
    } else if bad == 'X' {
        '0'
    } else {
        bad
    };
    format!("{}{}", &id[..17], bad)
}

/// Legacy 15-digit form (only meaningful for IDs of people born 19xx).
pub fn to15(id: &str) -> String {
    format!("{}{}{}", &id[..6], &id[8..17], "")
}

/// Full-width digits (and `Ｘ`), as some hand-typed values carry.
pub fn to_fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap_or(c),
            'X' => 'Ｘ',
            _ => c,
        })
        .collect()
}

/// Normalised ID as tickets.md defines it (trim, full-width → ASCII, `x` → `X`,
/// 15 → 18 digits). Used by the tests and by sanity checks of the generator.
#[cfg_attr(not(test), allow(dead_code))]
pub fn normalise(s: &str) -> String {
    let t: String = s
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}')
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - 0xFF10 + '0' as u32).unwrap_or(c),
            'x' | 'ｘ' | 'Ｘ' => 'X',
            _ => c,
        })
        .collect();
    if t.len() == 15 && t.bytes().all(|b| b.is_ascii_digit()) {
        let first17 = format!("{}19{}", &t[..6], &t[6..]);
        let c = check_char(&first17);
        return format!("{first17}{c}");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ids_check() {
        // from the spec's example responses
        assert!(is_valid("34990120101223537X"));
        assert!(is_valid("349901197208188924"));
        assert!(!is_valid("349901197208188925"));
        assert!(!is_valid("349901197202308924"));
        let id = make_id("349901", NaiveDate::from_ymd_opt(1977, 10, 1).unwrap(), 317);
        assert_eq!(id, "349901197710013177");
    }

    #[test]
    fn variants_normalise() {
        let id = "34990120060425617X";
        assert_eq!(normalise(&id.to_lowercase()), id);
        assert_eq!(normalise(&to_fullwidth(id)), id);
        assert_eq!(normalise(&format!(" {id}\u{3000}")), id);
        let old = "349901196903134579";
        assert_eq!(to15(old), "349901690313457");
        assert_eq!(normalise(&to15(old)), old);
        assert!(!is_valid(&with_wrong_check(old)));
    }
}
