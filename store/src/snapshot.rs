//! Snapshots of aggregates: one row per stream (`snapshots`: stream, revision, schema
//! version, payload), read on the reading connection, written through the writer (the one
//! writing connection) with [`Command::Snapshot`](crate::writer::Command::Snapshot).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::Store;
use crate::error::StoreError;
use crate::schema::int;
use crate::writer::Command;

/// A stream's snapshot as stored.
#[derive(Debug)]
pub(crate) struct SnapshotRow {
    pub(crate) stream: String,
    /// The revision of the last event the state reflects.
    pub(crate) revision: u64,
    /// The aggregate's snapshot schema version.
    pub(crate) version: u32,
    pub(crate) payload: Vec<u8>,
}

/// The snapshot of `stream` (`None`: none stored).
pub(crate) fn read(
    conn: &Connection,
    path: &Path,
    stream: &str,
) -> Result<Option<SnapshotRow>, StoreError> {
    let row: Option<(i64, i64, Vec<u8>)> = conn
        .prepare_cached("SELECT revision, version, payload FROM snapshots WHERE stream = ?1")
        .and_then(|mut s| {
            s.query_row(params![stream], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()
        })
        .map_err(|e| StoreError::sqlite(path, e))?;
    let Some((revision, version, payload)) = row else {
        return Ok(None);
    };
    let corrupt = |what: &str, value: i64| StoreError::Corrupt {
        path: path.to_owned(),
        reason: format!("the snapshot of stream `{stream}`: {what} {value}"),
    };
    Ok(Some(SnapshotRow {
        stream: stream.to_owned(),
        revision: u64::try_from(revision).map_err(|_| corrupt("revision", revision))?,
        version: u32::try_from(version).map_err(|_| corrupt("version", version))?,
        payload,
    }))
}

/// Stores `row` as its stream's snapshot (on the writer's connection, in its savepoint).
/// An older snapshot of the same version is replaced; a newer one is kept (a slower saver
/// never takes a snapshot back); one of another version is always replaced.
pub(crate) fn write(conn: &Connection, path: &Path, row: &SnapshotRow) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO snapshots (stream, revision, version, payload) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (stream) DO UPDATE SET revision = excluded.revision, \
         version = excluded.version, payload = excluded.payload \
         WHERE excluded.revision > snapshots.revision OR excluded.version <> snapshots.version",
    )
    .and_then(|mut s| {
        s.execute(params![
            row.stream,
            int(row.revision),
            row.version,
            row.payload
        ])
    })
    .map(|_| ())
    .map_err(|e| StoreError::sqlite(path, e))
}

impl Store {
    /// Stores `row` through the writer, in order with the appends before it.
    pub(crate) async fn write_snapshot(&self, row: SnapshotRow) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Snapshot { row, reply }).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}
