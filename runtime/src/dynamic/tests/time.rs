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
