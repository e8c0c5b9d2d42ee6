//! Retention: the oldest events removed by age, by count and by size, applied by the writer
//! (at most every `every`, after a commit, and on [`Store::apply_retention`]), never past a
//! named checkpoint unless told to.
//!
//! Only a prefix is ever removed (positions `1..=n`), so what is left is still gap-free from
//! its first position; the last position removed is kept in `meta` (`pruned_through`), so
//! that positions never start again, even when everything was removed.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::schema::int;

/// Which old events the store removes ([`StoreOptions::retention`](crate::StoreOptions::retention)).
/// Each rule that is set asks for the events before some position to go; the one that asks
/// for the most wins. Meant for log-like streams: an event-sourced stream whose first events
/// are removed no longer folds to its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    max_age: Option<Duration>,
    max_events: Option<u64>,
    max_bytes: Option<u64>,
    past_checkpoints: bool,
    every: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: None,
            max_events: None,
            max_bytes: None,
            past_checkpoints: false,
            every: Duration::from_secs(1),
        }
    }
}

impl Retention {
    /// No rule yet (nothing is removed), applied at most once a second.
    pub fn new() -> Self {
        Retention::default()
    }

    /// Removes events older than `age` (by their timestamp; only a prefix: an event is
    /// removed when it and every event before it is that old).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Keeps at most the last `events` events.
    pub fn max_events(mut self, events: u64) -> Self {
        self.max_events = Some(events);
        self
    }

    /// Keeps at most about `bytes` of payloads and metadata (the newest events).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// Removes events no named checkpoint has passed yet too (default: never; a subscriber
    /// behind keeps what it has not read).
    pub fn past_checkpoints(mut self, yes: bool) -> Self {
        self.past_checkpoints = yes;
        self
    }

    /// How often the writer applies it, at most (default 1 s; after a commit).
    pub fn every(mut self, interval: Duration) -> Self {
        self.every = interval;
        self
    }

    pub(crate) fn interval(&self) -> Duration {
        self.every
    }
}

/// What one application of the retention removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Pruned {
    /// Events removed.
    pub events: u64,
    /// The last position removed so far (0: none ever).
    pub through: u64,
}

/// The last position retention removed (0: none).
pub(crate) fn pruned_through(conn: &Connection, path: &Path) -> Result<u64, StoreError> {
    let value: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'pruned_through'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(|e| StoreError::sqlite(path, e))?;
    Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Applies `retention` on `conn` (inside the writer's transaction), `now` in Unix
/// microseconds.
pub(crate) fn apply(
    conn: &Connection,
    path: &Path,
    retention: &Retention,
    now: i64,
) -> Result<Pruned, StoreError> {
    let sql = |e| StoreError::sqlite(path, e);
    let one = |query: &str, value: i64| -> Result<Option<i64>, StoreError> {
        conn.query_row(query, params![value], |row| row.get::<_, Option<i64>>(0))
            .map_err(sql)
    };
    let before = pruned_through(conn, path)?;
    let last = one("SELECT max(position) FROM events WHERE ?1 = ?1", 0)?.unwrap_or(0);
    let mut cutoff: i64 = 0;
    if let Some(age) = retention.max_age {
        let age = i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
        let oldest_kept = now.saturating_sub(age);
        // The first event young enough stays, and everything after it.
        let first_young = one(
            "SELECT min(position) FROM events WHERE timestamp >= ?1",
            oldest_kept,
        )?;
        cutoff = cutoff.max(first_young.map_or(last, |p| p - 1));
    }
    if let Some(keep) = retention.max_events {
        cutoff = cutoff.max(last.saturating_sub(int(keep)));
    }
    if let Some(bytes) = retention.max_bytes {
        let over = one(
            "SELECT position FROM (SELECT position, sum(length(payload) + length(metadata)) \
             OVER (ORDER BY position DESC) AS newer FROM events) WHERE newer > ?1 \
             ORDER BY position DESC LIMIT 1",
            int(bytes),
        )?;
        cutoff = cutoff.max(over.unwrap_or(0));
    }
    if !retention.past_checkpoints
        && let Some(slowest) = one("SELECT min(position) FROM checkpoints WHERE ?1 = ?1", 0)?
    {
        cutoff = cutoff.min(slowest);
    }
    if cutoff <= 0 {
        return Ok(Pruned {
            events: 0,
            through: before,
        });
    }
    let removed = conn
        .execute("DELETE FROM events WHERE position <= ?1", params![cutoff])
        .map_err(sql)?;
    let through = before.max(u64::try_from(cutoff).unwrap_or(0));
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('pruned_through', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![through.to_string()],
    )
    .map_err(sql)?;
    Ok(Pruned {
        events: removed as u64,
        through,
    })
}
