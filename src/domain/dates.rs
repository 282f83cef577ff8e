//! The date and time forms the four feeds use. Local time is China Standard Time.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime};

/// UTC+08:00 in seconds.
pub const CST_OFFSET_SECS: i32 = 8 * 3600;

/// `YYYYMMDD` (psb).
pub fn parse_compact_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::from_ymd_opt(
        s[0..4].parse().ok()?,
        s[4..6].parse().ok()?,
        s[6..8].parse().ok()?,
    )
}

/// `YYYY-MM-DD` (nhc, pis, and every date the store keeps). The zero-padded form is
/// read digit by digit (millions are read back per reconciliation); anything else
/// goes to chrono's parser, so what is accepted does not change.
pub fn parse_dashed_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        if let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) {
            return NaiveDate::from_ymd_opt(y as i32, m, d);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// `YYYY-MM-DD`, as chrono's `Display` writes a date of years 0 to 9999, written digit
/// by digit, not through the formatting machinery: a first reconciliation writes a
/// date into each of a million golden records (with the digests' hex, 0.35 s of its
/// registry write).
pub fn dashed_date(d: NaiveDate) -> compact_str::CompactString {
    let (y, m, day) = (d.year(), d.month(), d.day());
    if !(0..=9999).contains(&y) {
        return compact_str::ToCompactString::to_compact_string(&d);
    }
    let digit = |n: u32| char::from(b'0' + (n % 10) as u8);
    let y = y as u32;
    [
        digit(y / 1000),
        digit(y / 100),
        digit(y / 10),
        digit(y),
        '-',
        digit(m / 10),
        digit(m),
        '-',
        digit(day / 10),
        digit(day),
    ]
    .into_iter()
    .collect()
}

/// `YYYY/M/D` without zero padding (mca); padded values are accepted too.
pub fn parse_slashed_date(s: &str) -> Option<NaiveDate> {
    let mut parts = s.trim().split('/');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// `YYYY-MM-DD HH:MM:SS` local time (psb `djsj`, pis `modifiedTime`).
pub fn parse_local_datetime(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S").ok()
}

/// An RFC 3339 timestamp in local time (nhc `updatedAt`), with its local calendar date.
pub fn local_date_of_rfc3339(s: &str) -> Option<(DateTime<FixedOffset>, NaiveDate)> {
    let t = DateTime::parse_from_rfc3339(s.trim()).ok()?;
    let cst = FixedOffset::east_opt(CST_OFFSET_SECS).expect("valid offset");
    let local = t.with_timezone(&cst);
    Some((local, local.date_naive()))
}

/// The current time in China Standard Time, the zone every stored timestamp uses.
pub fn now_local() -> DateTime<FixedOffset> {
    chrono::Utc::now().with_timezone(&FixedOffset::east_opt(CST_OFFSET_SECS).expect("valid offset"))
}

/// Today's date in China Standard Time: the default as-of date.
pub fn today_local() -> NaiveDate {
    now_local().date_naive()
}

/// RFC 3339 with seconds and `+08:00`, the form exports and the store use.
pub fn format_timestamp(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_feed_form_and_refuses_impossible_dates() {
        assert_eq!(
            parse_slashed_date("2014/8/5"),
            NaiveDate::from_ymd_opt(2014, 8, 5)
        );
        assert_eq!(parse_slashed_date("2012/2/30"), None);
        assert_eq!(parse_compact_date("19810230"), None);
        assert_eq!(
            parse_dashed_date("2011-04-30"),
            NaiveDate::from_ymd_opt(2011, 4, 30)
        );
        assert_eq!(parse_dashed_date("2011-04-31"), None);
        assert_eq!(
            parse_dashed_date("2011-4-30"),
            NaiveDate::from_ymd_opt(2011, 4, 30)
        );
        assert_eq!(parse_dashed_date("2011-0a-30"), None);
        let (_, d) = local_date_of_rfc3339("2014-08-31T23:30:00+08:00").unwrap();
        assert_eq!(d, NaiveDate::from_ymd_opt(2014, 8, 31).unwrap());
        let (_, d) = local_date_of_rfc3339("2014-08-31T16:30:00Z").unwrap();
        assert_eq!(d, NaiveDate::from_ymd_opt(2014, 9, 1).unwrap());
    }

    #[test]
    fn a_dashed_date_is_written_as_chrono_writes_it() {
        for (y, m, d) in [
            (2014, 9, 1),
            (1968, 12, 31),
            (5, 1, 9),
            (9999, 10, 10),
            (-3, 2, 1),
        ] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(dashed_date(date), date.to_string());
        }
    }
}
