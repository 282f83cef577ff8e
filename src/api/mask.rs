//! Masking for lists: a list shows `3499**********123X`, never a full ID number. Only
//! one ticket's detail and one person's record, both audited, show IDs whole.

use crate::tickets::SubjectKeys;

use crate::domain::mask_id_str;

/// A ticket subject with its ID numbers masked (`pis_person_id`s and certificate numbers
/// are register keys, not personal IDs, and stay as they are).
pub fn mask_subject(subject: &SubjectKeys) -> SubjectKeys {
    SubjectKeys {
        id_number: subject.id_number.as_deref().map(mask_id_str),
        child_id_number: subject.child_id_number.as_deref().map(mask_id_str),
        ..subject.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_ids_inside_sentences_only() {
        assert_eq!(
            crate::domain::mask_ids_in("身份证号“34990119800101123X”无效，档案号 2014-00812"),
            "身份证号“3499**********123X”无效，档案号 2014-00812"
        );
        assert_eq!(
            crate::domain::mask_ids_in("出生日期1980-01-01"),
            "出生日期1980-01-01"
        );
        assert_eq!(
            crate::domain::mask_ids_in("349901198001011234"),
            "3499**********1234"
        );
    }

    #[test]
    fn masks_subject_ids() {
        let s = SubjectKeys {
            id_number: Some("34990119800101123X".into()),
            child_id_number: Some("349901201401011234".into()),
            pis_person_id: Some("P1".into()),
            ..SubjectKeys::default()
        };
        let masked = mask_subject(&s);
        assert_eq!(masked.id_number.as_deref(), Some("3499**********123X"));
        assert_eq!(
            masked.child_id_number.as_deref(),
            Some("3499**********1234")
        );
        assert_eq!(masked.pis_person_id.as_deref(), Some("P1"));
    }
}
