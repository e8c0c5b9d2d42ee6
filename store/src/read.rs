//! Reading: one stream by revision, forwards or backwards; the whole store by position,
//! filtered by topic pattern and time range. On a read-only connection of its own (WAL:
//! readers never wait for the writer).

use std::path::Path;

use jiff::Timestamp;
use rusqlite::{Connection, params};
use staticbus::Pattern;

use crate::error::StoreError;
use crate::event::{Direction, StoredEvent};
use crate::schema::{COLUMNS, decode, int};

/// Which events a read of the whole store takes: a topic pattern (exact, glob or regex, as
/// the bus's subscriptions), a time range `[since, until)`.
#[derive(Debug, Clone, Default)]
pub struct ReadFilter {
    topic: Option<Pattern>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
}

impl ReadFilter {
    /// Every event.
    pub fn new() -> Self {
        ReadFilter::default()
    }

    /// Only events whose topic matches `pattern` (`"order.*"`, or a regex `"^order\\.(placed|paid)$"`...); a
    /// pattern that does not parse is the bus's [`PatternError`](staticbus::PatternError).
    pub fn topic(mut self, pattern: &str) -> Result<Self, staticbus::PatternError> {
        self.topic = Some(Pattern::parse(pattern)?);
        Ok(self)
    }

    /// Only events at or after `at`.
    pub fn since(mut self, at: Timestamp) -> Self {
        self.since = Some(at);
        self
    }

    /// Only events before `at`.
    pub fn until(mut self, at: Timestamp) -> Self {
        self.until = Some(at);
        self
    }

    /// What SQLite applies of the filter: the time range in Unix microseconds, and the
    /// topic when the pattern is an exact one (others are applied to each row read).
    fn sql_bounds(&self) -> (i64, i64, Option<String>) {
        let since = self.since.map_or(i64::MIN, |t| t.as_microsecond());
        let until = self.until.map_or(i64::MAX, |t| t.as_microsecond());
        let exact = self
            .topic
            .as_ref()
            .filter(|p| p.kind() == staticbus::PatternKind::Exact)
            .map(ToString::to_string);
        (since, until, exact)
    }

    fn takes(&self, event: &StoredEvent) -> bool {
        self.topic.as_ref().is_none_or(|p| p.matches(&event.topic))
    }
}

/// Up to `limit` events of `stream` from revision `from` (included), in `direction`.
pub(crate) fn stream(
    conn: &Connection,
    path: &Path,
    stream: &str,
    from: u64,
    direction: Direction,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = match direction {
        Direction::Forwards => format!(
            "SELECT {COLUMNS} FROM events WHERE stream = ?1 AND revision >= ?2 \
             ORDER BY revision ASC LIMIT ?3"
        ),
        Direction::Backwards => format!(
            "SELECT {COLUMNS} FROM events WHERE stream = ?1 AND revision <= ?2 \
             ORDER BY revision DESC LIMIT ?3"
        ),
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    query(conn, path, &sql, params![stream, int(from), limit])
}

/// Up to `limit` events from position `from` (included) that `filter` takes, in position
/// order.
pub(crate) fn all(
    conn: &Connection,
    path: &Path,
    from: u64,
    limit: usize,
    filter: &ReadFilter,
) -> Result<Vec<StoredEvent>, StoreError> {
    // Scans up to the largest position SQLite can hold, a chunk at a time (a pattern SQLite
    // cannot apply is applied to each chunk), until `limit` events are taken or a scan
    // reaches the end.
    const END: u64 = i64::MAX as u64;
    let chunk = limit.clamp(1, 1024);
    let mut out = Vec::new();
    let mut at = from;
    while out.len() < limit && at <= END {
        let (events, next) = scan(conn, path, at, END, chunk, filter)?;
        out.extend(events);
        at = next;
    }
    out.truncate(limit);
    Ok(out)
}

/// Events from position `from` up to `upto` (both included) that `filter` takes, reading at
/// most `limit` rows; and the position the next scan starts at (past every row looked at:
/// rows `filter` did not take are not looked at again).
pub(crate) fn scan(
    conn: &Connection,
    path: &Path,
    from: u64,
    upto: u64,
    limit: usize,
    filter: &ReadFilter,
) -> Result<(Vec<StoredEvent>, u64), StoreError> {
    let (since, until, exact) = filter.sql_bounds();
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE position >= ?1 AND position <= ?2          AND timestamp >= ?3 AND timestamp < ?4 AND (?5 IS NULL OR topic = ?5)          ORDER BY position LIMIT ?6"
    );
    let limit = limit.max(1);
    let rows = query(
        conn,
        path,
        &sql,
        params![int(from), int(upto), since, until, exact, int(limit as u64)],
    )?;
    let next = match rows.last() {
        Some(last) if rows.len() == limit => last.position + 1,
        _ => upto.saturating_add(1),
    };
    let events = rows.into_iter().filter(|e| filter.takes(e)).collect();
    Ok((events, next))
}

/// The last revision of `stream` (`None`: no events).
pub(crate) fn revision(
    conn: &Connection,
    path: &Path,
    stream: &str,
) -> Result<Option<u64>, StoreError> {
    let last: Option<i64> = conn
        .prepare_cached("SELECT max(revision) FROM events WHERE stream = ?1")
        .and_then(|mut s| s.query_row(params![stream], |row| row.get(0)))
        .map_err(|e| StoreError::sqlite(path, e))?;
    Ok(last.and_then(|r| u64::try_from(r).ok()))
}

/// The position of the event whose id is `event_id` (`None`: not stored).
pub(crate) fn position_of(
    conn: &Connection,
    path: &Path,
    event_id: &str,
) -> Result<Option<u64>, StoreError> {
    position_by(
        conn,
        path,
        "SELECT position FROM events WHERE event_id = ?1",
        event_id,
    )
}

/// The position checkpoint `name` stored (`None`: never stored).
pub(crate) fn checkpoint(
    conn: &Connection,
    path: &Path,
    name: &str,
) -> Result<Option<u64>, StoreError> {
    position_by(
        conn,
        path,
        "SELECT position FROM checkpoints WHERE name = ?1",
        name,
    )
}

/// The position `sql` (one `position` column, at most one row) selects for `key`.
fn position_by(
    conn: &Connection,
    path: &Path,
    sql: &str,
    key: &str,
) -> Result<Option<u64>, StoreError> {
    use rusqlite::OptionalExtension;
    let position: Option<i64> = conn
        .prepare_cached(sql)
        .and_then(|mut s| s.query_row(params![key], |row| row.get(0)).optional())
        .map_err(|e| StoreError::sqlite(path, e))?;
    Ok(position.and_then(|p| u64::try_from(p).ok()))
}

fn query(
    conn: &Connection,
    path: &Path,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sqlite = |e| StoreError::sqlite(path, e);
    let mut statement = conn.prepare_cached(sql).map_err(sqlite)?;
    let mut rows = statement.query(params).map_err(sqlite)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite)? {
        out.push(decode(path, row)?);
    }
    Ok(out)
}
