//! Tests of RFC 3339 writing and reading, and of the time range events may carry.

use super::*;
use crate::dynamic::DynamicEvent;
use crate::dynamic::event::tests::{at, build_err, roundtrip};

#[test]
fn time_must_be_representable() {
    let before_epoch = UNIX_EPOCH - Duration::from_secs(1);
    let err = build_err(DynamicEvent::builder("a").time(before_epoch));
    assert_eq!(
        err,
        "event time 1s before 1970-01-01T00:00:00Z is out of range; CloudEvents times here \
         lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z"
    );
    let err = build_err(DynamicEvent::builder("a").time(at(MAX_TIME_SECS + 1, 0)));
    assert!(
        err.contains("253402300800s after 1970-01-01T00:00:00Z"),
        "{err}"
    );

    for time in [UNIX_EPOCH, at(MAX_TIME_SECS, 999_999_999)] {
        let event = DynamicEvent::builder("a").time(time).build().unwrap();
        assert_eq!(roundtrip(&event).time(), time);
    }
    assert_eq!(
        rfc3339(at(MAX_TIME_SECS, 999_999_999)).unwrap(),
        "9999-12-31T23:59:59.999999999Z"
    );
}

fn parse(text: &str) -> SystemTime {
    parse_rfc3339(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn parse_err(text: &str) -> String {
    match parse_rfc3339(text) {
        Ok(time) => panic!("{text:?} read as {}", DescribeTime(time)),
        Err(e) => e,
    }
}

/// 2023-11-14T22:13:20Z.
fn base() -> SystemTime {
    at(1_700_000_000, 0)
}

#[test]
fn writes_whole_seconds_bare_and_fractions_in_nine_digits() {
    for (time, text) in [
        (UNIX_EPOCH, "1970-01-01T00:00:00Z"),
        (at(1_700_000_000, 1), "2023-11-14T22:13:20.000000001Z"),
        (
            at(1_700_000_000, 500_000_000),
            "2023-11-14T22:13:20.500000000Z",
        ),
        // The last day of 9999, which jiff's Timestamp (it ends at 9999-12-30T22:00Z) cannot
        // hold.
        (at(MAX_TIME_SECS - 3600, 0), "9999-12-31T22:59:59Z"),
        (at(MAX_TIME_SECS, 0), "9999-12-31T23:59:59Z"),
    ] {
        assert_eq!(rfc3339(time).as_deref(), Some(text));
        assert_eq!(parse(text), time, "{text}");
    }
    assert_eq!(rfc3339(UNIX_EPOCH - Duration::from_nanos(1)), None);
    assert_eq!(rfc3339(at(MAX_TIME_SECS + 1, 0)), None);
    assert!(is_representable(at(MAX_TIME_SECS, 999_999_999)));
    assert!(!is_representable(at(MAX_TIME_SECS + 1, 0)));
}

#[test]
fn reads_both_ends_of_the_range() {
    for (text, time) in [
        ("1970-01-01T00:00:00Z", UNIX_EPOCH),
        ("1970-01-01T01:00:00+01:00", UNIX_EPOCH),
        ("1969-12-31T23:00:00-01:00", UNIX_EPOCH),
        (
            "9999-12-31T23:59:59.999999999Z",
            at(MAX_TIME_SECS, 999_999_999),
        ),
        ("9999-12-31T22:59:59-01:00", at(MAX_TIME_SECS, 0)),
        ("9999-12-30T22:00:01Z", at(MAX_TIME_SECS - 93_598, 0)),
    ] {
        assert_eq!(parse(text), time, "{text}");
    }
}

#[test]
fn reads_lowercase_t_and_z() {
    assert_eq!(parse("2023-11-14t22:13:20z"), base());
    assert_eq!(
        parse("2023-11-14t22:13:20.5z"),
        base() + Duration::from_millis(500)
    );
    assert_eq!(parse("2023-11-15t00:13:20+02:00"), base());
}

#[test]
fn reads_a_leap_second_as_the_second_before() {
    assert_eq!(parse("2016-12-31T23:59:60Z"), parse("2016-12-31T23:59:59Z"));
    assert_eq!(
        parse("2016-12-31T23:59:60.25Z"),
        parse("2016-12-31T23:59:59.25Z")
    );
}

#[test]
fn drops_fractional_digits_past_nanoseconds() {
    for (text, nanos) in [
        ("2023-11-14T22:13:20.1Z", 100_000_000),
        ("2023-11-14T22:13:20.000000001Z", 1),
        ("2023-11-14T22:13:20.1234567891Z", 123_456_789),
        ("2023-11-14T22:13:20.999999999999999+00:00", 999_999_999),
    ] {
        assert_eq!(parse(text), at(1_700_000_000, nanos), "{text}");
    }
}

/// jiff reads each of these (RFC 9557 / ISO 8601); RFC 3339 allows none of them.
#[test]
fn reads_rfc3339_shapes_only() {
    let no_offset = "it has no `Z` or UTC offset";
    for (text, expected) in [
        (
            "2023-11-14 22:13:20Z",
            "timestamp format is invalid: byte 10 is ' ' where `T` belongs",
        ),
        (
            "20231114T221320Z",
            "timestamp format is invalid: byte 4 is '1' where `-` belongs",
        ),
        (
            "2023-11-14T22:13Z",
            "timestamp format is invalid: it ends at byte 16, where `:` belongs",
        ),
        ("2023-1-14T22:13:20Z", "byte 6 is '-' where a digit belongs"),
        (
            "+002023-11-14T22:13:20Z",
            "byte 0 is '+' where a digit belongs",
        ),
        (
            "2023-11-14T22:13:20,5Z",
            "byte 19 is ',' where the offset or a `.` and fractional seconds belong",
        ),
        (
            "2023-11-14T22:13:20.Z",
            "the `.` at byte 19 is not followed by fractional digits",
        ),
        (
            "2023-11-14T22:13:20.5x5Z",
            "byte 21 is 'x' where a fractional digit or the offset belongs",
        ),
        (
            "2023-11-14T22:13:20+02:00Z",
            "byte 19 is '+' where the offset or a `.`",
        ),
        ("Z", "timestamp format is invalid: it ends at byte 0"),
        ("2023-11-14T22:13:20", no_offset),
        ("2023-11-14", no_offset),
        ("2023-11-14T22:13:20+02", no_offset),
        ("2023-11-14T22:13:20+0200", no_offset),
        ("2023-11-14T22:13:20+02:00:00", no_offset),
        ("2023-11-14T22:13:20Z[UTC]", no_offset),
        ("2023-11-14T22:13:20-05:00[America/New_York]", no_offset),
        ("", no_offset),
    ] {
        let err = parse_err(text);
        assert!(
            err.contains(expected),
            "{text:?}\n  got: {err}\n  want: {expected}"
        );
        assert!(err.contains("expected RFC 3339 such as"), "{err}");
    }
}

#[test]
fn checks_field_values() {
    assert_eq!(
        parse("2024-02-29T00:00:00Z"),
        at(1_709_164_800, 0),
        "a leap day"
    );
    for (text, detail) in [
        ("2023-02-29T00:00:00Z", "day"),
        ("2023-13-14T22:13:20Z", "month"),
        ("2023-11-00T22:13:20Z", "day"),
        ("2023-11-14T24:00:00Z", "hour"),
        ("2023-11-14T22:60:00Z", "minute"),
        ("2023-11-14T22:13:61Z", "second"),
    ] {
        let err = parse_err(text);
        assert!(
            err.starts_with("numeric component is out of range; expected RFC 3339"),
            "{text}: {err}"
        );
        assert!(err.contains(detail), "{text}: {err}");
    }
}

#[test]
fn offsets_lie_within_a_day() {
    assert_eq!(
        parse("2023-11-14T22:13:20+23:59"),
        base() - Duration::from_secs(23 * 3600 + 59 * 60)
    );
    assert_eq!(
        parse("2023-11-14T22:13:20-23:59"),
        base() + Duration::from_secs(23 * 3600 + 59 * 60)
    );
    assert_eq!(parse("2023-11-14T22:13:20-00:00"), base());
    // jiff reads hours up to 25; RFC 3339 stops at 23.
    for offset in ["+24:00", "-24:00", "+25:59", "+99:00", "+23:60", "-00:99"] {
        let err = parse_err(&format!("2023-11-14T22:13:20{offset}"));
        assert!(
            err.starts_with(
                "the UTC offset is out of range (RFC 3339 offsets lie between -23:59 and +23:59)"
            ),
            "{offset}: {err}"
        );
    }
}

#[test]
fn refuses_times_outside_the_range() {
    for text in [
        "1969-12-31T23:59:59.999999999Z",
        "0000-01-01T00:00:00Z",
        "1970-01-01T00:59:59+01:00",
        "9999-12-31T23:59:59-00:01",
        "9999-12-31T23:30:00-01:00",
    ] {
        assert_eq!(
            parse_err(text),
            "it lies outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59.999999999Z, the range \
             staticbus supports",
            "{text}"
        );
    }
}
