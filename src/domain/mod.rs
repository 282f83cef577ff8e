//! Domain types parsed once at the edge and correct by construction afterwards:
//! ID numbers, names, division codes, dates, record identifiers and the masking rules
//! for logs; and the hex form of digests.

mod dates;
mod division;
mod hex;
mod id_number;
mod name;
mod person_key;
mod record_key;

pub use dates::{
    dashed_date, format_timestamp, local_date_of_rfc3339, now_local, parse_compact_date,
    parse_dashed_date, parse_local_datetime, parse_slashed_date, today_local, CST_OFFSET_SECS,
};
pub use division::{DivisionCode, TownshipCode};
pub use hex::hex;
pub use id_number::{
    mask_id_str, mask_ids_in, masked_causes, normalise_id, IdError, IdNumber, Sex,
};
pub use name::{mask_name, normalise_name, normalised_name_chars, same_name};
pub use person_key::{masked_person_key, person_key};
pub use record_key::{check_record_key, RecordKeyError, MAX_RECORD_KEY_CHARS};
