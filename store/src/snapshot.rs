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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::StoreOptions;
    use crate::schema;

    fn row(revision: u64, version: u32) -> SnapshotRow {
        SnapshotRow {
            stream: "order-1".to_owned(),
            revision,
            version,
            payload: format!("{{\"at\":{revision}}}").into_bytes(),
        }
    }

    #[test]
    fn a_slower_saver_never_takes_a_snapshot_back_but_another_version_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let conn = schema::open_writer(&path, &StoreOptions::new()).unwrap();
        let stored = |conn: &Connection| {
            let row = read(conn, &path, "order-1").unwrap().unwrap();
            (
                row.revision,
                row.version,
                String::from_utf8(row.payload).unwrap(),
            )
        };
        write(&conn, &path, &row(5, 1)).unwrap();
        write(&conn, &path, &row(3, 1)).unwrap();
        assert_eq!(stored(&conn), (5, 1, "{\"at\":5}".to_owned()));
        write(&conn, &path, &row(8, 1)).unwrap();
        assert_eq!(stored(&conn).0, 8);
        write(&conn, &path, &row(2, 2)).unwrap();
        assert_eq!(stored(&conn), (2, 2, "{\"at\":2}".to_owned()));
        assert!(read(&conn, &path, "order-2").unwrap().is_none());
    }
}
