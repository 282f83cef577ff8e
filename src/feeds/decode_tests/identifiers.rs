//! Record identifiers are checked at the edge, in every stream: a row whose key or
//! certificate number is not an identifier is quarantined with a reason naming the
//! field, never stored, and never keyed by the text that failed.

use serde_json::Value;

use super::{Stream, STREAMS};
use crate::records::Malformed;

/// Texts that are not identifiers, each with the end of the reason after the field's name.
fn bad_values() -> Vec<(String, String)> {
    let set = "identifiers hold only A-Z a-z 0-9 - _ . /";
    vec![
        ("RK 1".into(), format!("has ' ' at character 3; {set}")),
        ("RK\"1".into(), format!("has '\"' at character 3; {set}")),
        ("RK\n1".into(), format!("has '\\n' at character 3; {set}")),
        ("=1+1".into(), format!("has '=' at character 1; {set}")),
        (
            "7".repeat(200),
            "is 200 characters long, more than 64".into(),
        ),
        ("黄静01".into(), format!("has '黄' at character 1; {set}")),
        (
            "-1-1".into(),
            "starts with '-'; an identifier starts with a letter or a digit".into(),
        ),
    ]
}

/// Decodes one body holding the sample row of `stream` with `field` set to `value`:
/// the keys of the records stored, and the quarantined records.
fn decode_with(stream: Stream, field: &str, value: &str) -> (Vec<String>, Vec<Malformed>) {
    let body = stream.body(&[stream.row_with(field, Value::from(value))], &[]);
    let batch = stream
        .decode(&body)
        .unwrap_or_else(|e| panic!("{stream:?} with {field} = {value:?}: page refused: {e}"));
    let stored = batch
        .records
        .keyed_raw()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    (stored, batch.malformed)
}

/// Decodes each case's row (`stream`, `field` set to `value`) and fails listing every
/// case whose outcome differs from `want`, so one run shows every stream that is wrong.
fn check(cases: Vec<(Stream, &str, String, String)>) {
    let wrong: Vec<String> = cases
        .into_iter()
        .filter_map(|(stream, field, value, want)| {
            let (stored, malformed) = decode_with(stream, field, &value);
            let got = outcome(&stored, &malformed);
            (got != want)
                .then(|| format!("{stream:?} {field} = {value:?}\n  want: {want}\n  got:  {got}"))
        })
        .collect();
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// One row's outcome in words: `stored KEY` or `quarantined KEY: REASON`, with a digest
/// key written `digest`.
fn outcome(stored: &[String], malformed: &[Malformed]) -> String {
    match (stored, malformed) {
        ([key], []) => format!("stored {key}"),
        ([], [m]) if m.key.starts_with("sha256:") => format!("quarantined digest: {}", m.reason),
        ([], [m]) => format!("quarantined {}: {}", m.key, m.reason),
        _ => format!("{} stored, {} quarantined", stored.len(), malformed.len()),
    }
}

#[test]
fn a_bad_key_is_quarantined_under_the_digest_of_its_row_with_the_field_named() {
    let mut cases = Vec::new();
    for stream in STREAMS {
        let field = stream.key_field();
        for (value, tail) in bad_values() {
            cases.push((
                stream,
                field,
                value,
                format!("quarantined digest: {field} {tail}"),
            ));
        }
    }
    check(cases);
}

#[test]
fn keys_in_the_set_are_stored_trimmed() {
    let mut cases = Vec::new();
    for stream in STREAMS {
        let field = stream.key_field();
        let version = match stream {
            Stream::Birth => "#2",
            Stream::Death => "#1",
            _ => "",
        };
        let sample = stream
            .sample()
            .into_iter()
            .find(|(k, _)| k == field)
            .and_then(|(_, v)| v.as_str().map(String::from))
            .expect("the sample has its key");
        for (value, key) in [
            (sample.as_str(), sample.as_str()),
            ("2010/00017", "2010/00017"),
            ("HH.2010_1", "HH.2010_1"),
            (" RK1\t", "RK1"),
        ] {
            cases.push((
                stream,
                field,
                value.to_string(),
                format!("stored {key}{version}"),
            ));
        }
    }
    check(cases);
}

#[test]
fn a_bad_certificate_number_is_quarantined_under_the_record_key() {
    let mut cases = Vec::new();
    for (stream, key) in [
        (Stream::Psb, "349901201100000059"),
        (Stream::Pis, "RK6717483319"),
    ] {
        for (value, tail) in bad_values() {
            cases.push((
                stream,
                "csyxzmbh",
                value,
                format!("quarantined {key}: csyxzmbh {tail}"),
            ));
        }
        cases.push((stream, "csyxzmbh", "".into(), format!("stored {key}")));
        cases.push((
            stream,
            "csyxzmbh",
            "K514913759".into(),
            format!("stored {key}"),
        ));
    }
    check(cases);
}

#[test]
fn an_nhc_version_that_is_no_number_keys_its_row_by_digest() {
    let cases = [Stream::Birth, Stream::Death]
        .into_iter()
        .map(|stream| {
            (
                stream,
                "version",
                "=1+1".to_string(),
                "quarantined digest: version is not a number".to_string(),
            )
        })
        .collect();
    check(cases);
}
