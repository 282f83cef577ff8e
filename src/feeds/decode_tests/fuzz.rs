//! Bounded fuzzing of the six decoders: whatever a department sends, `decode` answers
//! `Ok` or `Err` and never panics (STYLE.md: never a panic on input), and a page it
//! understands accounts for every row, stored or quarantined under a safe key.
//!
//! Each property runs [`CASES`] cases per stream, so the whole module stays a few
//! seconds in a debug build. A failure prints the shrunk input; keep it as a unit test
//! beside the decoder it broke once fixed.

use std::fmt;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseResult, TestRunner};
use serde_json::Value;

use super::{is_safe_key, Row, Stream, STREAMS};

/// Cases per stream and property.
const CASES: u32 = 256;

/// A response body, shown as escaped bytes so that a failure can be pasted into a test.
#[derive(Clone)]
struct Body(Vec<u8>);

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

/// Runs `property` on [`CASES`] values of each stream's strategy; a failure names the
/// stream and the shrunk value.
fn for_each_stream<S>(
    strategy: impl Fn(Stream) -> S,
    property: impl Fn(Stream, S::Value) -> TestCaseResult,
) where
    S: Strategy,
    S::Value: fmt::Debug,
{
    for stream in STREAMS {
        let mut runner = TestRunner::new(ProptestConfig {
            cases: CASES,
            // Failures become unit tests, not files beside the source.
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        if let Err(e) = runner.run(&strategy(stream), |v| property(stream, v)) {
            panic!("{stream:?}: {e}");
        }
    }
}

/// Text of any characters, controls and quotes included.
fn any_text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..80).prop_map(String::from_iter)
}

/// A field's value: mostly the sample's (so that many rows are well-formed and the
/// decoder goes deep), else absent, null, a boolean, a number, any text, or text
/// near what the field holds.
fn field_value(sample: Value) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        16 => Just(Some(sample)),
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => any::<bool>().prop_map(|b| Some(Value::Bool(b))),
        1 => any::<i64>().prop_map(|n| Some(Value::from(n))),
        1 => (-1e20f64..1e20).prop_map(|x| Some(Value::from(x))),
        2 => any_text().prop_map(|s| Some(Value::String(s))),
        1 => "[A-Za-z0-9 ._/=\"-]{0,70}".prop_map(|s| Some(Value::String(s))),
        // Near an ID, a date or a time: full-width digits, `x`, separators.
        1 => "[0-9０-９xX /:.T+-]{0,20}".prop_map(|s| Some(Value::String(s))),
    ]
    .boxed()
}

/// A row of the stream's fields, each with a value from [`field_value`].
fn row(stream: Stream) -> impl Strategy<Value = Row> {
    stream
        .sample()
        .into_iter()
        .map(|(k, v)| field_value(v).prop_map(move |v| (k.clone(), v)))
        .collect::<Vec<_>>()
}

/// A JSON row that is no object.
fn not_an_object() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        any_text().prop_map(Value::from),
        vec(any_text().prop_map(Value::from), 0..3).prop_map(Value::Array),
    ]
}

/// A body of the stream's own shape holding up to eight rows of arbitrary field values
/// (JSON: and up to two rows that are no object; CSV: and rows of any number of cells),
/// with the number of rows in it.
fn plausible(stream: Stream) -> BoxedStrategy<(Body, usize)> {
    if stream.is_csv() {
        let cells = row(stream).prop_map(|r| {
            r.iter()
                .map(|(_, v)| super::cell(v.as_ref()))
                .collect::<Vec<_>>()
        });
        let any_cells = vec(any_text(), 1..12);
        vec(prop_oneof![6 => cells, 1 => any_cells], 0..8)
            .prop_map(move |rows| (Body(stream.csv_body(&rows)), rows.len()))
            .boxed()
    } else {
        (vec(row(stream), 0..8), vec(not_an_object(), 0..2))
            .prop_map(move |(rows, extra)| {
                (Body(stream.body(&rows, &extra)), rows.len() + extra.len())
            })
            .boxed()
    }
}

/// A decoded page accounts for at most `rows` rows (exactly, when `exact`), and every
/// key it holds is one popsync may store.
fn accounts_for(stream: Stream, body: &Body, rows: usize, exact: bool) -> TestCaseResult {
    let Ok(batch) = stream.decode(&body.0) else {
        prop_assert!(!exact, "a well-formed page was refused");
        return Ok(());
    };
    let seen = batch.records.len() + batch.malformed.len();
    if exact {
        prop_assert_eq!(seen, rows, "rows stored + quarantined");
    } else {
        prop_assert!(seen <= rows, "{} rows from a page of {}", seen, rows);
    }
    for (key, _) in batch.records.keyed_raw() {
        prop_assert!(is_safe_key(stream, &key), "stored under {:?}", key);
    }
    for m in &batch.malformed {
        prop_assert!(is_safe_key(stream, &m.key), "quarantined under {:?}", m.key);
        prop_assert!(!m.reason.is_empty(), "quarantined without a reason");
    }
    Ok(())
}

#[test]
fn arbitrary_bytes_never_panic() {
    // Raw bytes, and the stream's empty page with bytes spliced in anywhere: past the
    // envelope's or the header's first check, into the rows.
    for_each_stream(
        |stream| {
            let empty = stream.body(&[], &[]);
            prop_oneof![
                vec(any::<u8>(), 0..512).prop_map(Body),
                (vec(any::<u8>(), 0..256), 0..=empty.len()).prop_map(move |(bytes, at)| {
                    let mut body = empty.clone();
                    body.splice(at..at, bytes);
                    Body(body)
                }),
            ]
        },
        |stream, body| {
            // Ok or Err are both answers; only a panic fails, caught by the runner.
            let _ = stream.decode(&body.0);
            Ok(())
        },
    );
}

#[test]
fn every_row_of_a_well_formed_page_is_stored_or_quarantined() {
    for_each_stream(plausible, |stream, (body, rows)| {
        accounts_for(stream, &body, rows, true)
    });
}

#[test]
fn a_page_cut_anywhere_never_panics_nor_invents_rows() {
    for_each_stream(
        |stream| {
            plausible(stream).prop_flat_map(|(body, rows)| {
                let len = body.0.len();
                (Just(body), Just(rows), 0..=len)
            })
        },
        |stream, (body, rows, cut)| {
            let cut = Body(body.0[..cut].to_vec());
            accounts_for(stream, &cut, rows, false)
        },
    );
}
