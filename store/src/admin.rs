//! Administration: a store's file opened read-only for tools (the `staticbus` command),
//! without a writer, never creating anything: its figures ([`StoreFile::stats`]), its rows in
//! bulk by position (both ways), a check of every row ([`StoreFile::verify`]) with a
//! checksum of them all, its snapshots table if there is one; and a probe of the write lock
//! ([`check_write_lock`]).
//!
//! ```
//! use staticbus_store::admin::StoreFile;
//! use staticbus_store::{Expected, NewEvent, Store};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let path = dir.path().join("events.db");
//! let store = Store::open(&path)?;
//! store.append("s", Expected::Any, vec![NewEvent::new("t.x", b"{}".to_vec())]).await?;
//! store.close().await?;
//!
//! let file = StoreFile::open(&path, std::time::Duration::from_secs(1))?;
//! assert_eq!(file.stats()?.events, 1);
//! let verification = file.verify(|_, _| {})?;
//! assert!(verification.problems.is_empty());
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

use crate::error::StoreError;
use crate::event::{Direction, StoredEvent};
use crate::read::{self, ReadFilter};
use crate::schema::{COLUMNS, SCHEMA_VERSION, decode, int};

/// Problems [`StoreFile::verify`] lists; past them it only counts
/// ([`Verification::unlisted`]).
pub const MAX_PROBLEMS: usize = 1000;

/// A store's database opened read-only: nothing is created or written, and a file that is
/// not an event store of this version is refused at [`open`](StoreFile::open).
pub struct StoreFile {
    path: PathBuf,
    conn: Connection,
}

impl std::fmt::Debug for StoreFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A store's figures ([`StoreFile::stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events stored.
    pub events: u64,
    /// Streams with at least one event.
    pub streams: u64,
    /// The first event's position and time (`None`: an empty store).
    pub first: Option<(u64, Timestamp)>,
    /// The last event's position and time (`None`: an empty store).
    pub last: Option<(u64, Timestamp)>,
    /// Events per topic, by topic.
    pub topics: Vec<(String, u64)>,
    /// The database file's size in bytes.
    pub file_bytes: u64,
    /// The write-ahead log's size in bytes (0: none).
    pub wal_bytes: u64,
}

/// What is wrong with a store, as [`StoreFile::verify`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// What kind of problem: `"gap"` (positions missing), `"revision"` (a stream's
    /// revisions not 0, 1, 2... in position order), `"row"` (a row that does not decode or
    /// breaks a rule: metadata, timestamp, topic, ids), `"checkpoint"` (past the last
    /// position), `"schema"` (the schema version), `"integrity"` (SQLite's
    /// `PRAGMA integrity_check`).
    pub kind: &'static str,
    /// The event's position, where there is one.
    pub position: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// What [`StoreFile::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// Rows read.
    pub events: u64,
    /// Streams seen.
    pub streams: u64,
    /// The last position (0: an empty store).
    pub last_position: u64,
    /// A checksum of every row ([`checksum`](StoreFile::verify) explains it), in hex: two
    /// stores holding the same rows have the same one.
    pub checksum: String,
    /// The problems, in the order found (at most [`MAX_PROBLEMS`]).
    pub problems: Vec<Problem>,
    /// Problems found past [`MAX_PROBLEMS`], not listed.
    pub unlisted: u64,
}

/// One row of the snapshots table ([`StoreFile::snapshots`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotInfo {
    /// The aggregate's stream.
    pub stream: String,
    /// The stream's revision the snapshot holds the state at.
    pub revision: u64,
    /// The snapshot's schema version.
    pub version: u64,
    /// The snapshot's size in bytes.
    pub bytes: u64,
}

impl StoreFile {
    /// Opens the store at `path` read-only, waiting up to `busy_timeout` for another
    /// process's lock. Fails with [`StoreError::Open`] when there is no such file, it is not
    /// an SQLite database, or not an event store of this schema version; with
    /// [`StoreError::Locked`] when the lock is not released in time.
    pub fn open(path: impl AsRef<Path>, busy_timeout: Duration) -> Result<StoreFile, StoreError> {
        let path = path.as_ref().to_owned();
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        if !path.is_file() {
            let what = if path.exists() {
                "it is not a file"
            } else {
                "no such file"
            };
            return Err(open_err(failure(ErrorCode::CannotOpen, what)));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(open_err)?;
        conn.busy_timeout(busy_timeout).map_err(open_err)?;
        let file = StoreFile { path, conn };
        file.check_schema()?;
        Ok(file)
    }

    /// A file that is not an event store (not SQLite, no `events` or `meta` table, another
    /// schema version) is [`StoreError::Open`]; a busy one [`StoreError::Locked`].
    fn check_schema(&self) -> Result<(), StoreError> {
        let not_a_store = |what: String| StoreError::Open {
            path: self.path.clone(),
            source: failure(ErrorCode::NotADatabase, &what),
        };
        let sql = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => StoreError::Open {
                path: self.path.clone(),
                source: e,
            },
            _ => StoreError::sqlite(&self.path, e),
        };
        let tables: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
                 AND name IN ('events', 'meta')",
                [],
                |row| row.get(0),
            )
            .map_err(sql)?;
        if tables != 2 {
            return Err(not_a_store(
                "not a staticbus event store (it has no `events` and `meta` tables)".to_owned(),
            ));
        }
        let version: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(sql)?;
        match version {
            Some(v) if v == SCHEMA_VERSION.to_string() => Ok(()),
            Some(v) => Err(not_a_store(format!(
                "schema version {v}, this staticbus-store reads version {SCHEMA_VERSION}"
            ))),
            None => Err(not_a_store(
                "not a staticbus event store (no schema version in `meta`)".to_owned(),
            )),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |e| StoreError::sqlite(&self.path, e)
    }

    /// The store's figures, read in one transaction.
    pub fn stats(&self) -> Result<Stats, StoreError> {
        let sql = self.sql();
        let tx = self.conn.unchecked_transaction().map_err(&sql)?;
        let (events, streams): (i64, i64) = tx
            .query_row(
                "SELECT count(*), count(DISTINCT stream) FROM events",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(&sql)?;
        let end = |order: &str| -> Result<Option<(u64, Timestamp)>, StoreError> {
            let row: Option<(i64, i64)> = tx
                .query_row(
                    &format!(
                        "SELECT position, timestamp FROM events ORDER BY position {order} LIMIT 1"
                    ),
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(&sql)?;
            row.map(|(position, micros)| {
                let at = Timestamp::from_microsecond(micros).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    reason: format!("the event at position {position}: timestamp {micros}: {e}"),
                })?;
                Ok((unsigned(position), at))
            })
            .transpose()
        };
        let first = end("ASC")?;
        let last = end("DESC")?;
        let mut statement = tx
            .prepare("SELECT topic, count(*) FROM events GROUP BY topic ORDER BY topic")
            .map_err(&sql)?;
        let topics = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, unsigned(row.get::<_, i64>(1)?)))
            })
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(&sql)?;
        drop(statement);
        tx.finish().map_err(&sql)?;
        let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        Ok(Stats {
            events: unsigned(events),
            streams: unsigned(streams),
            first,
            last,
            topics,
            file_bytes: size(&self.path),
            wal_bytes: size(Path::new(&wal)),
        })
    }

    /// The last position stored (0: an empty store).
    pub fn last_position(&self) -> Result<u64, StoreError> {
        crate::writer::last_position(&self.conn, &self.path)
    }

    /// Up to `limit` events with positions `from..=upto`, in position order.
    pub fn events(
        &self,
        from: u64,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if from > upto {
            return Ok(Vec::new());
        }
        let (events, _) = read::scan(
            &self.conn,
            &self.path,
            from,
            upto,
            limit,
            &ReadFilter::new(),
        )?;
        Ok(events)
    }

    /// Up to `limit` events with positions at or below `upto`, the last first.
    pub fn events_back(&self, upto: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = self.sql();
        let mut statement = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM events WHERE position <= ?1 ORDER BY position DESC LIMIT ?2"
            ))
            .map_err(&sql)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = statement.query(params![int(upto), limit]).map_err(&sql)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(&sql)? {
            out.push(decode(&self.path, row)?);
        }
        Ok(out)
    }

    /// Up to `limit` events of `stream` from revision `from` (included), in `direction`.
    pub fn read_stream(
        &self,
        stream: &str,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::stream(&self.conn, &self.path, stream, from, direction, limit)
    }

    /// The snapshots table's rows by stream, or `None` when the store has no snapshots
    /// table (a store written before snapshots existed).
    pub fn snapshots(&self) -> Result<Option<Vec<SnapshotInfo>>, StoreError> {
        let sql = self.sql();
        let exists: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'snapshots'",
                [],
                |row| row.get(0),
            )
            .map_err(&sql)?;
        if exists == 0 {
            return Ok(None);
        }
        let mut statement = self
            .conn
            .prepare(
                "SELECT stream, revision, version, length(payload) FROM snapshots ORDER BY stream",
            )
            .map_err(&sql)?;
        let rows = statement
            .query_map([], |row| {
                Ok(SnapshotInfo {
                    stream: row.get(0)?,
                    revision: unsigned(row.get(1)?),
                    version: unsigned(row.get(2)?),
                    bytes: unsigned(row.get::<_, Option<i64>>(3)?.unwrap_or(0)),
                })
            })
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(&sql)?;
        Ok(Some(rows))
    }

    /// Checks the whole store in one read transaction, calling `progress(rows read, rows)`
    /// as it goes: positions 1, 2, 3... with no gap; each stream's revisions 0, 1, 2... in
    /// position order; every row decodes (metadata a JSON object of strings, timestamp in
    /// range, non-negative numbers) and keeps the append rules (a valid topic, non-empty
    /// stream and id); checkpoints at or below the last position; the schema version; and
    /// SQLite's `PRAGMA integrity_check`.
    ///
    /// Rows carry no checksum of their own; the checksum computed here is FNV-1a (128 bits)
    /// over every row in position order, each column as a type tag and its value (integers
    /// as 8 little-endian bytes, text and blobs length-prefixed): equal for two stores with
    /// the same rows (an export imported into an empty store), different when any column of
    /// any row differs. It detects accidents, not tampering.
    pub fn verify(&self, mut progress: impl FnMut(u64, u64)) -> Result<Verification, StoreError> {
        let sql = self.sql();
        let tx = self.conn.unchecked_transaction().map_err(&sql)?;
        let mut found = Found::default();
        let total: i64 = tx
            .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
            .map_err(&sql)?;
        let total = unsigned(total);
        let mut statement = tx
            .prepare(&format!("SELECT {COLUMNS} FROM events ORDER BY position"))
            .map_err(&sql)?;
        let mut rows = statement.query([]).map_err(&sql)?;
        let mut hash = Fnv128::new();
        let mut streams: HashMap<String, u64> = HashMap::new();
        // Retention removes a prefix: positions go on after the last one it removed, and a
        // stream may start past revision 0.
        let pruned = crate::retention::pruned_through(&tx, &self.path)?;
        let mut last_position = pruned;
        let mut events = 0u64;
        while let Some(row) = rows.next().map_err(&sql)? {
            events += 1;
            for column in 0..9 {
                hash.value(row.get_ref(column).map_err(&sql)?);
            }
            let raw_position: i64 = row.get(0).map_err(&sql)?;
            let position = unsigned(raw_position);
            if position > last_position + 1 {
                let missing = if position == last_position + 2 {
                    format!("position {} is missing", last_position + 1)
                } else {
                    format!(
                        "positions {}..={} are missing",
                        last_position + 1,
                        position - 1
                    )
                };
                found.add("gap", Some(position), missing);
            }
            last_position = position;
            // The revision is checked on the raw columns, so that a row that does not
            // decode for another reason does not make its stream look broken as well.
            let place: Result<(String, i64), _> = row.get(1).and_then(|s| Ok((s, row.get(2)?)));
            if let Ok((stream, revision)) = place
                && let Ok(revision) = u64::try_from(revision)
            {
                let first = if pruned > 0 { revision } else { 0 };
                let next = streams.get(&stream).copied().unwrap_or(first);
                if let Some(message) = revision_problem(&stream, next, revision) {
                    found.add("revision", Some(position), message);
                }
                streams.insert(stream, next.max(revision + 1));
            }
            match decode(&self.path, row) {
                Ok(event) => check_rules(&event, &mut found),
                Err(StoreError::Corrupt { reason, .. }) => found.add("row", Some(position), reason),
                Err(error) => found.add(
                    "row",
                    Some(position),
                    format!("the event at position {position} does not decode: {error}"),
                ),
            }
            if events.is_multiple_of(512) {
                progress(events, total);
            }
        }
        drop(rows);
        drop(statement);
        progress(events, total);
        self.check_tables(&tx, last_position, &mut found)?;
        tx.finish().map_err(&sql)?;
        Ok(Verification {
            events,
            streams: streams.len() as u64,
            last_position,
            checksum: hash.hex(),
            problems: found.problems,
            unlisted: found.unlisted,
        })
    }

    /// The schema version, the checkpoints, `PRAGMA integrity_check`.
    fn check_tables(
        &self,
        conn: &Connection,
        last_position: u64,
        found: &mut Found,
    ) -> Result<(), StoreError> {
        let sql = self.sql();
        let mut statement = conn
            .prepare("SELECT name, position FROM checkpoints ORDER BY name")
            .map_err(&sql)?;
        let checkpoints = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(&sql)?;
        for (name, position) in checkpoints {
            if position < 0 || unsigned(position) > last_position {
                found.add(
                    "checkpoint",
                    None,
                    format!(
                        "checkpoint `{name}` is at position {position}, past the last \
                         position {last_position}"
                    ),
                );
            }
        }
        let mut statement = conn.prepare("PRAGMA integrity_check").map_err(&sql)?;
        let lines = statement
            .query_map([], |row| row.get::<_, String>(0))
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(&sql)?;
        for line in lines.into_iter().filter(|l| l != "ok") {
            found.add("integrity", None, format!("SQLite integrity check: {line}"));
        }
        Ok(())
    }
}

/// Whether a writer could take the store's write lock now (waiting up to `busy_timeout`):
/// [`StoreError::Locked`] if another connection holds it. Takes it and gives it back at
/// once, writing nothing; `path` must exist (nothing is created).
pub fn check_write_lock(path: impl AsRef<Path>, busy_timeout: Duration) -> Result<(), StoreError> {
    let path = path.as_ref();
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(busy_timeout).map_err(open_err)?;
    conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
        .map_err(|e| StoreError::sqlite(path, e))
}

/// The problems found so far.
#[derive(Default)]
struct Found {
    problems: Vec<Problem>,
    unlisted: u64,
}

impl Found {
    fn add(&mut self, kind: &'static str, position: Option<u64>, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                kind,
                position,
                message,
            });
        } else {
            self.unlisted += 1;
        }
    }
}

/// The rules an append checks, checked again on a stored row.
fn check_rules(event: &StoredEvent, found: &mut Found) {
    let position = Some(event.position);
    if let Err(error) = staticbus::Topic::new(&event.topic) {
        found.add(
            "row",
            position,
            format!("the event at position {}: topic: {error}", event.position),
        );
    }
    if event.stream.trim().is_empty() {
        found.add(
            "row",
            position,
            format!("the event at position {}: empty stream id", event.position),
        );
    }
    if event.id.is_empty() {
        found.add(
            "row",
            position,
            format!("the event at position {}: empty event id", event.position),
        );
    }
}

/// What is wrong with `revision` in a stream whose next revision is `next`, if anything.
fn revision_problem(stream: &str, next: u64, revision: u64) -> Option<String> {
    if revision > next {
        Some(format!(
            "stream `{stream}`: revision {revision} follows {}: {} missing",
            previous(next),
            missing_revisions(next, revision)
        ))
    } else if revision < next {
        Some(format!(
            "stream `{stream}`: revision {revision} comes after revision {} (out of order)",
            next - 1
        ))
    } else {
        None
    }
}

fn previous(next: u64) -> String {
    match next {
        0 => "nothing (a stream starts at revision 0)".to_owned(),
        n => format!("revision {}", n - 1),
    }
}

fn missing_revisions(from: u64, to: u64) -> String {
    if to == from + 1 {
        format!("revision {from} is")
    } else {
        format!("revisions {from}..={} are", to - 1)
    }
}

/// A stored integer as `u64` (negative ones are counted as 0 here; `decode` reports them).
fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// An SQLite error of `code` with `message`, for errors found here rather than by SQLite.
fn failure(code: ErrorCode, message: &str) -> rusqlite::Error {
    let raw = match code {
        ErrorCode::CannotOpen => rusqlite::ffi::SQLITE_CANTOPEN,
        _ => rusqlite::ffi::SQLITE_NOTADB,
    };
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(raw), Some(message.to_owned()))
}

/// FNV-1a, 128 bits: a stable hash (the same on every platform and version) of a sequence
/// of SQLite values.
struct Fnv128(u128);

impl Fnv128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

    fn new() -> Fnv128 {
        Fnv128(Fnv128::OFFSET)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u128::from(b);
            self.0 = self.0.wrapping_mul(Fnv128::PRIME);
        }
    }

    fn value(&mut self, value: ValueRef<'_>) {
        match value {
            ValueRef::Null => self.bytes(&[0]),
            ValueRef::Integer(i) => {
                self.bytes(&[1]);
                self.bytes(&i.to_le_bytes());
            }
            ValueRef::Real(f) => {
                self.bytes(&[2]);
                self.bytes(&f.to_bits().to_le_bytes());
            }
            ValueRef::Text(t) => {
                self.bytes(&[3]);
                self.bytes(&(t.len() as u64).to_le_bytes());
                self.bytes(t);
            }
            ValueRef::Blob(b) => {
                self.bytes(&[4]);
                self.bytes(&(b.len() as u64).to_le_bytes());
                self.bytes(b);
            }
        }
    }

    fn hex(&self) -> String {
        format!("fnv1a128:{:032x}", self.0)
    }
}
