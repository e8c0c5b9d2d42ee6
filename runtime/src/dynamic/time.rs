//! RFC 3339 timestamps: the CloudEvents `time` attribute, written and read.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from the Unix epoch to 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
pub(super) const MAX_TIME_SECS: u64 = 253_402_300_799;

/// Whether `time` can be written as RFC 3339: from 1970-01-01T00:00:00Z through
/// 9999-12-31T23:59:59.999999999Z.
pub(super) fn is_representable(time: SystemTime) -> bool {
    time.duration_since(UNIX_EPOCH)
        .is_ok_and(|since| since.as_secs() <= MAX_TIME_SECS)
}

/// RFC 3339 in UTC, with as many fractional digits as needed (none to nine); `None` if `time`
/// is not [representable](is_representable).
pub(super) fn rfc3339(time: SystemTime) -> Option<String> {
    // humantime panics before the epoch and fails after year 9999: check first.
    is_representable(time).then(|| humantime::format_rfc3339(time).to_string())
}

/// Parses an RFC 3339 timestamp with a `Z` or numeric offset (humantime takes UTC only).
pub(super) fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    const EXAMPLE: &str = "expected RFC 3339 such as \"2024-05-01T12:30:00Z\" or \
                           \"2024-05-01T14:30:00.5+02:00\"";
    // RFC 3339 allows lowercase `t` and `z`; humantime does not.
    let text = text.to_ascii_uppercase();
    let b = text.as_bytes();
    let (utc, offset_secs) = if text.ends_with('Z') {
        (text.clone(), 0)
    } else if b.len() >= 6
        && matches!(b[b.len() - 6], b'+' | b'-')
        && b[b.len() - 3] == b':'
        && [1, 2, 4, 5]
            .iter()
            .all(|&i| b[b.len() - 6 + i].is_ascii_digit())
    {
        let digits = |i: usize| i64::from(b[b.len() - 6 + i] - b'0');
        let hours = digits(1) * 10 + digits(2);
        let minutes = digits(4) * 10 + digits(5);
        if hours > 23 || minutes > 59 {
            return Err(format!("the UTC offset is out of range; {EXAMPLE}"));
        }
        let sign = if b[b.len() - 6] == b'-' { -1 } else { 1 };
        let head = text.get(..text.len() - 6).unwrap_or_default();
        (format!("{head}Z"), sign * (hours * 3600 + minutes * 60))
    } else {
        return Err(format!("it has no `Z` or UTC offset; {EXAMPLE}"));
    };
    const OUT_OF_RANGE: &str = "it lies outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59.999999999Z, \
                                the range staticbus supports";
    if utc
        .get(..4)
        .and_then(|year| year.parse::<u16>().ok())
        .is_some_and(|year| year < 1970)
    {
        return Err(OUT_OF_RANGE.into());
    }
    let local = humantime::parse_rfc3339(&utc).map_err(|e| format!("{e}; {EXAMPLE}"))?;
    let offset = Duration::from_secs(offset_secs.unsigned_abs());
    // A positive offset means the local time is ahead of UTC.
    let time = if offset_secs >= 0 {
        local.checked_sub(offset)
    } else {
        local.checked_add(offset)
    };
    match time {
        Some(time) if is_representable(time) => Ok(time),
        _ => Err(OUT_OF_RANGE.into()),
    }
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
