//! Masking for lists: a list shows `3499**********123X`, never a full ID number. Only
//! one ticket's detail and one person's record, both audited, show IDs whole.

use serde_json::Value;

use crate::domain::mask_id_str;

/// A ticket subject with its ID numbers masked (`pis_person_id`s and certificate numbers
/// are register keys, not personal IDs, and stay as they are).
pub fn mask_subject(subject: &Value) -> Value {
    let mut s = subject.clone();
    if let Some(m) = s.as_object_mut() {
        for key in ["id_number", "child_id_number"] {
            if let Some(Value::String(id)) = m.get(key) {
                let masked = mask_id_str(id);
                m.insert(key.to_string(), Value::String(masked));
            }
        }
    }
    s
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
        let s = serde_json::json!({"id_number": "34990119800101123X", "pis_person_id": "P1"});
        assert_eq!(
            mask_subject(&s),
            serde_json::json!({"id_number": "3499**********123X", "pis_person_id": "P1"})
        );
    }
}
