//! Chinese personal names: the normal form tickets.md compares, and the mask for logs.

/// Trimmed, every kind of space removed, the middle-dot variants made `·`.
pub fn normalise_name(raw: &str) -> String {
    normalised_name_chars(raw).collect()
}

/// The two names are equal once normalised; compared without building either, since
/// the rules compare a million pairs a run.
pub fn same_name(a: &str, b: &str) -> bool {
    normalised_name_chars(a).eq(normalised_name_chars(b))
}

/// A name's characters once normalised, without building the name: what a case key
/// hashes.
pub fn normalised_name_chars(raw: &str) -> impl Iterator<Item = char> + '_ {
    raw.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '\u{200b}' | '\u{feff}'))
        .map(|c| match c {
            '.' | '•' | '・' | '‧' | '．' | '∙' | '\u{00b7}' => '·',
            c => c,
        })
}

/// The form allowed in logs: the surname and one `*` per further character (`张*`).
pub fn mask_name(raw: &str) -> String {
    let mut chars = raw.trim().chars();
    match chars.next() {
        None => String::new(),
        Some(first) => {
            let mut out = String::from(first);
            out.extend(chars.map(|_| '*'));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_spaces_and_middle_dots() {
        assert_eq!(normalise_name(" 买买提\u{3000}.艾力 "), "买买提·艾力");
        assert_eq!(normalise_name("阿依•古丽"), "阿依·古丽");
        assert_eq!(normalise_name("张 三"), "张三");
        assert!(same_name(" 买买提\u{3000}.艾力 ", "买买提•艾力"));
        assert!(!same_name("张三", "张三丰"));
    }

    #[test]
    fn masks_all_but_the_surname() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name(""), "");
    }
}
