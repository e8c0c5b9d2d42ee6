//! RFC 3339 timestamps, the CloudEvents `time` attribute, written and read with jiff.
//!
//! jiff does the date and time work: it checks field ranges and the calendar, applies UTC
//! offsets, and prints. This module keeps to RFC 3339 and to the range events carry, where
//! jiff is broader:
//!
//! - jiff reads RFC 9557 / ISO 8601, a superset of RFC 3339's `date-time` (a space for `T`,
//!   `20240501T123000Z`, no seconds, `,` before the fraction, `+02` or `+0200` offsets,
//!   `[...]` annotations, signed six-digit years). [`parse_rfc3339`] checks RFC 3339's shape
//!   first, so it reads what RFC 3339 allows and nothing else;
//! - RFC 3339 allows any number of fractional digits and jiff reads nine: further digits are
//!   dropped (a [`SystemTime`] keeps nanoseconds anyway);
//! - jiff accepts offsets up to ±25:59; RFC 3339's offset hours end at 23, so they are
//!   checked here;
//! - a `jiff::Timestamp` ends at 9999-12-30T22:00:00.999999999Z (so that any offset can be
//!   applied to it), a day short of the last time RFC 3339 can write, so times are converted
//!   as civil date-times in UTC, which end at 9999-12-31T23:59:59.999999999.
//!
//! A leap second (`23:59:60`) reads as `23:59:59`, as jiff reads it: a [`SystemTime`] has no
//! leap seconds.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::SignedDuration;
use jiff::civil::DateTime;
use jiff::fmt::temporal::{DateTimePrinter, Pieces};

/// Seconds from the Unix epoch to 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
pub(super) const MAX_TIME_SECS: u64 = 253_402_300_799;

/// The Unix epoch as a civil date-time in UTC.
const EPOCH: DateTime = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);

/// What every message about an unreadable time ends with.
const EXAMPLE: &str = "expected RFC 3339 such as \"2024-05-01T12:30:00Z\" or \
                       \"2024-05-01T14:30:00.5+02:00\"";

/// Why a readable time is refused.
const OUT_OF_RANGE: &str = "it lies outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59.999999999Z, \
                            the range staticbus supports";

/// RFC 3339's `date-time` before any fraction and the offset, byte by byte: `d` is a digit,
/// `T` is `T` or `t`, anything else is itself.
const DATE_TIME_SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";

/// A numeric UTC offset, as in [`DATE_TIME_SHAPE`]; `+` is `+` or `-`.
const OFFSET_SHAPE: &[u8] = b"+dd:dd";

/// Where the ninth fractional digit ends: the last one jiff reads, and a nanosecond.
const NANOS_END: usize = DATE_TIME_SHAPE.len() + 1 + 9;

/// Whether `time` can be written as RFC 3339: from 1970-01-01T00:00:00Z through
/// 9999-12-31T23:59:59.999999999Z.
pub(super) fn is_representable(time: SystemTime) -> bool {
    time.duration_since(UNIX_EPOCH)
        .is_ok_and(|since| since.as_secs() <= MAX_TIME_SECS)
}

/// RFC 3339 in UTC: no fraction for a whole second, else all nine digits
/// (`2023-11-14T22:13:20.500000000Z`); `None` if `time` is not
/// [representable](is_representable).
pub(crate) fn rfc3339(time: SystemTime) -> Option<String> {
    if !is_representable(time) {
        return None;
    }
    let since = SignedDuration::try_from(time.duration_since(UNIX_EPOCH).ok()?).ok()?;
    let utc = EPOCH.checked_add(since).ok()?;
    let digits = if utc.subsec_nanosecond() == 0 { 0 } else { 9 };
    let mut text = DateTimePrinter::new()
        .precision(Some(digits))
        .datetime_to_string(&utc);
    text.push('Z');
    Some(text)
}

/// Reads an RFC 3339 `date-time`: `2024-05-01T12:30:00Z`, `2024-05-01t14:30:00.5+02:00`.
///
/// `Err` says what is wrong, and where, and ends with an example of what is read.
pub(super) fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    let Some(offset_at) = offset_start(text) else {
        return Err(format!("it has no `Z` or UTC offset; {EXAMPLE}"));
    };
    let (date_time, offset) = text.split_at(offset_at);
    check_shape(date_time)
        .map_err(|why| format!("timestamp format is invalid: {why}; {EXAMPLE}"))?;
    if !offset_in_range(offset) {
        return Err(format!(
            "the UTC offset is out of range (RFC 3339 offsets lie between -23:59 and +23:59); \
             {EXAMPLE}"
        ));
    }
    let text = match date_time.get(..NANOS_END) {
        Some(head) if head.len() < date_time.len() => Cow::Owned(format!("{head}{offset}")),
        _ => Cow::Borrowed(text),
    };
    // The shape is RFC 3339's, so what jiff can still refuse is a field's value.
    let pieces = Pieces::parse(&*text)
        .map_err(|e| format!("numeric component is out of range; {EXAMPLE} ({e})"))?;
    let (Some(time), Some(offset)) = (pieces.time(), pieces.to_numeric_offset()) else {
        return Err(format!("timestamp format is invalid; {EXAMPLE}"));
    };
    // A positive offset means the local time is ahead of UTC.
    let offset = SignedDuration::from_secs(i64::from(offset.seconds()));
    let utc = pieces
        .date()
        .to_datetime(time)
        .checked_sub(offset)
        .map_err(|_| OUT_OF_RANGE.to_owned())?;
    Duration::try_from(utc.duration_since(EPOCH))
        .ok()
        .and_then(|since| UNIX_EPOCH.checked_add(since))
        .filter(|&time| is_representable(time))
        .ok_or_else(|| OUT_OF_RANGE.to_owned())
}

/// Where the offset at the end of `text` starts: a `Z` (or `z`), or `+hh:mm` / `-hh:mm`.
fn offset_start(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    if matches!(b.last(), Some(b'Z' | b'z')) {
        return Some(b.len() - 1);
    }
    let start = b.len().checked_sub(OFFSET_SHAPE.len())?;
    mismatch(&b[start..], OFFSET_SHAPE)
        .is_none()
        .then_some(start)
}

/// Whether `offset`, a `Z` or a numeric offset (its shape already checked), lies within
/// RFC 3339's `-23:59..=+23:59`; jiff reads hours up to 25.
fn offset_in_range(offset: &str) -> bool {
    let field = |range| {
        offset
            .get(range)
            .and_then(|digits: &str| digits.parse::<u8>().ok())
    };
    offset.len() == 1
        || (field(1..3).is_some_and(|h| h <= 23) && field(4..6).is_some_and(|m| m <= 59))
}

/// Checks that `date_time`, the text before the offset, is `YYYY-MM-DDThh:mm:ss` with an
/// optional `.` and digits, saying where it is not.
fn check_shape(date_time: &str) -> Result<(), String> {
    let b = date_time.as_bytes();
    // Every byte before a mismatch is ASCII, so `at` is a character boundary.
    let found = |at: usize| date_time.get(at..).and_then(|rest| rest.chars().next());
    if let Some(at) = mismatch(b, DATE_TIME_SHAPE) {
        let expected = match DATE_TIME_SHAPE[at] {
            b'd' => "a digit".to_owned(),
            c => format!("`{}`", char::from(c)),
        };
        return Err(match found(at) {
            Some(ch) => format!("byte {at} is {ch:?} where {expected} belongs"),
            None => format!("it ends at byte {at}, where {expected} belongs"),
        });
    }
    let seconds_end = DATE_TIME_SHAPE.len();
    let fraction = &b[seconds_end..];
    let Some((&first, digits)) = fraction.split_first() else {
        return Ok(());
    };
    if first != b'.' {
        return Err(format!(
            "byte {seconds_end} is {:?} where the offset or a `.` and fractional seconds belong",
            found(seconds_end).unwrap_or_default()
        ));
    }
    if digits.is_empty() {
        return Err(format!(
            "the `.` at byte {seconds_end} is not followed by fractional digits"
        ));
    }
    match digits.iter().position(|b| !b.is_ascii_digit()) {
        Some(i) => {
            let at = seconds_end + 1 + i;
            Err(format!(
                "byte {at} is {:?} where a fractional digit or the offset belongs",
                found(at).unwrap_or_default()
            ))
        }
        None => Ok(()),
    }
}

/// The first position where `text` does not fit `shape` (see [`DATE_TIME_SHAPE`]), counting
/// a missing byte as a mismatch; bytes past the shape are not looked at.
fn mismatch(text: &[u8], shape: &[u8]) -> Option<usize> {
    shape.iter().enumerate().find_map(|(at, &want)| {
        let fits = text.get(at).is_some_and(|&got| match want {
            b'd' => got.is_ascii_digit(),
            b'T' => got.eq_ignore_ascii_case(&b'T'),
            b'+' => matches!(got, b'+' | b'-'),
            _ => got == want,
        });
        (!fits).then_some(at)
    })
}

/// A time for messages: RFC 3339 when it can be, else seconds from the epoch.
pub(super) struct DescribeTime(pub(super) SystemTime);

impl fmt::Display for DescribeTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match rfc3339(self.0) {
            Some(text) => f.write_str(&text),
            None => match self.0.duration_since(UNIX_EPOCH) {
                Ok(after) => write!(f, "{}s after 1970-01-01T00:00:00Z", after.as_secs_f64()),
                Err(e) => write!(
                    f,
                    "{}s before 1970-01-01T00:00:00Z",
                    e.duration().as_secs_f64()
                ),
            },
        }
    }
}

/// Debug of a time as its RFC 3339 text, unquoted.
pub(super) struct DebugTime(pub(super) SystemTime);

impl fmt::Debug for DebugTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&DescribeTime(self.0), f)
    }
}

#[cfg(test)]
#[path = "tests/time.rs"]
mod tests;
