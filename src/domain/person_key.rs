//! A golden record's key as people type it: an ID number in any typed form (normalised
//! to 18 characters) or `birth:CERTNO` for a newborn known only by a birth certificate.
//! The CLI and the API both take one.

use super::id_number::{mask_id_str, normalise_id};

/// The key as the registry stores it.
pub fn person_key(typed: &str) -> String {
    if typed.starts_with("birth:") {
        typed.to_string()
    } else {
        normalise_id(typed)
    }
}

/// The key as a log line or the audit trail may hold it: an ID number masked, a
/// certificate number as it is.
pub fn masked_person_key(key: &str) -> String {
    if key.starts_with("birth:") {
        key.to_string()
    } else {
        mask_id_str(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_normalised_and_masked_certificates_kept() {
        assert_eq!(person_key(" 34990119720818892x "), "34990119720818892X");
        assert_eq!(person_key("birth:K123456789"), "birth:K123456789");
        assert_eq!(masked_person_key("birth:K123456789"), "birth:K123456789");
        assert!(!masked_person_key("34990119720818892X").contains("19720818"));
    }
}
