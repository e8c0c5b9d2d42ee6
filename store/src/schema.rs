//! The database: its tables, how a connection is set up, how a row becomes a
//! [`StoredEvent`].
//!
//! One table of events: `position` (the rowid, assigned by the one writer as the last plus
//! one, so positions have no gaps), `stream` and `revision` (unique together), `event_id`
//! (unique), topic, schema version, payload, metadata (a JSON object), timestamp (Unix
//! microseconds). `meta` holds the schema version; `checkpoints` the subscribers'
//! positions; `snapshots` one snapshot per aggregate stream (its revision, the aggregate's
//! snapshot version, the state as JSON).

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::error::StoreError;
use crate::event::StoredEvent;
use crate::options::{Durability, StoreOptions};

/// The schema this version writes and reads.
pub(crate) const SCHEMA_VERSION: u32 = 1;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY,
    stream         TEXT    NOT NULL,
    revision       INTEGER NOT NULL,
    event_id       TEXT    NOT NULL UNIQUE,
    topic          TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        BLOB    NOT NULL,
    metadata       TEXT    NOT NULL,
    timestamp      INTEGER NOT NULL,
    UNIQUE (stream, revision)
);
CREATE INDEX IF NOT EXISTS events_by_topic ON events (topic, position);
CREATE INDEX IF NOT EXISTS events_by_time ON events (timestamp, position);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    stream   TEXT    PRIMARY KEY,
    revision INTEGER NOT NULL,
    version  INTEGER NOT NULL,
    payload  BLOB    NOT NULL
);
";

/// The columns every read selects, in [`decode`]'s order.
pub(crate) const COLUMNS: &str =
    "position, stream, revision, event_id, topic, schema_version, payload, metadata, timestamp";

/// Opens (creating if needed) the store at `path` for writing: WAL, the durability's
/// `synchronous`, the tables, the schema version checked.
pub(crate) fn open_writer(path: &Path, options: &StoreOptions) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(options.busy_timeout).map_err(open_err)?;
    let sql = |e| StoreError::sqlite(path, e);
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            reason: format!("cannot use a write-ahead log (journal mode stays `{mode}`)"),
        });
    }
    let synchronous = match options.durability {
        Durability::PerEvent | Durability::PerBatch => "FULL",
        Durability::Interval => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(sql)?;
    conn.execute_batch(TABLES).map_err(sql)?;
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(sql)?;
    match version {
        None => {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                params![SCHEMA_VERSION.to_string()],
            )
            .map_err(sql)?;
        }
        Some(v) if v == SCHEMA_VERSION.to_string() => {}
        Some(v) => {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                reason: format!(
                    "schema version {v}, this staticbus-store reads version {SCHEMA_VERSION}"
                ),
            });
        }
    }
    Ok(conn)
}

/// A read-only connection to the store at `path` (which the writer created).
pub(crate) fn open_reader(path: &Path, options: &StoreOptions) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(options.busy_timeout).map_err(open_err)?;
    Ok(conn)
}

/// A row of [`COLUMNS`] as a stored event; a row that does not decode is corruption, named
/// by its position.
pub(crate) fn decode(path: &Path, row: &rusqlite::Row<'_>) -> Result<StoredEvent, StoreError> {
    let sql = |e| StoreError::sqlite(path, e);
    let position: i64 = row.get(0).map_err(sql)?;
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_owned(),
        reason: format!("the event at position {position}: {reason}"),
    };
    let unsigned = |value: i64, what: &str| {
        u64::try_from(value).map_err(|_| corrupt(format!("negative {what} {value}")))
    };
    let metadata: String = row.get(7).map_err(sql)?;
    let metadata: BTreeMap<String, String> = serde_json::from_str(&metadata)
        .map_err(|e| corrupt(format!("metadata is not a JSON object of strings: {e}")))?;
    let micros: i64 = row.get(8).map_err(sql)?;
    let timestamp = jiff::Timestamp::from_microsecond(micros)
        .map_err(|e| corrupt(format!("timestamp {micros} out of range: {e}")))?;
    let schema_version: i64 = row.get(5).map_err(sql)?;
    Ok(StoredEvent {
        position: unsigned(position, "position")?,
        stream: row.get(1).map_err(sql)?,
        revision: unsigned(row.get(2).map_err(sql)?, "revision")?,
        id: row.get(3).map_err(sql)?,
        topic: row.get(4).map_err(sql)?,
        schema_version: u32::try_from(schema_version)
            .map_err(|_| corrupt(format!("schema version {schema_version}")))?,
        payload: row.get(6).map_err(sql)?,
        metadata,
        timestamp,
    })
}

/// A `u64` as SQLite's integer (positions and revisions stay far below `i64::MAX`).
pub(crate) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
