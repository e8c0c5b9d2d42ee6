//! The one writer: a thread that owns the writing connection, takes appends from a queue,
//! and commits them in groups (one transaction per batch of up to `batch_events` events or
//! `batch_delay`). One append's failure (a wrong expected revision) leaves the others of its
//! batch committed: most failures are found before the append writes anything; one that
//! wrote has the batch run again with each append in a savepoint of its own. An append is
//! answered only after its transaction committed.
//!
//! Positions are assigned here, as the last one plus one: with one writer and a
//! transaction that either commits or leaves nothing, they have no gaps. Each stream's last
//! revision is remembered ([`Revisions`]), so that checking an expected revision costs no
//! query.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::error::StoreError;
use crate::event::{Appended, Expected, NewEvent};
use crate::options::{Durability, StoreOptions};
use crate::retention::Pruned;
use crate::revisions::Revisions;
use crate::schema::int;
use crate::snapshot::{self, SnapshotRow};

/// One stream's part of an append.
#[derive(Debug)]
pub(crate) struct StreamAppend {
    pub(crate) stream: String,
    pub(crate) expected: Expected,
    pub(crate) events: Vec<NewEvent>,
}

/// What the writer is asked.
pub(crate) enum Command {
    /// Appends to one or more streams, all or nothing.
    Append {
        appends: Vec<StreamAppend>,
        reply: oneshot::Sender<Result<Vec<Appended>, StoreError>>,
    },
    /// Stores a subscriber's checkpoint.
    Checkpoint {
        name: String,
        position: u64,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Stores an aggregate's snapshot.
    Snapshot {
        row: SnapshotRow,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Applies the store's retention now.
    Retain {
        reply: oneshot::Sender<Result<Pruned, StoreError>>,
    },
}

impl Command {
    /// The streams it appends to (none for other commands).
    fn streams(&self) -> impl Iterator<Item = &str> {
        let appends = match self {
            Command::Append { appends, .. } => appends.as_slice(),
            _ => &[],
        };
        appends.iter().map(|a| a.stream.as_str())
    }

    fn events(&self) -> usize {
        match self {
            Command::Append { appends, .. } => appends.iter().map(|a| a.events.len()).sum(),
            Command::Checkpoint { .. } | Command::Snapshot { .. } | Command::Retain { .. } => 1,
        }
    }
}

/// What the writer did, counted as it goes (read by [`Store::stats`](crate::Store::stats)).
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) batches: AtomicU64,
    pub(crate) appends: AtomicU64,
    pub(crate) events: AtomicU64,
    /// The last position committed, and whether the writer still runs: what catch-up
    /// subscriptions wait on.
    pub(crate) committed: tokio::sync::watch::Sender<Committed>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            batches: AtomicU64::new(0),
            appends: AtomicU64::new(0),
            events: AtomicU64::new(0),
            committed: tokio::sync::watch::Sender::new(Committed {
                position: 0,
                open: true,
            }),
        }
    }
}

/// What the writer committed last, as subscriptions see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Committed {
    /// The last position committed.
    pub(crate) position: u64,
    /// False once the writer stopped: nothing more will be committed.
    pub(crate) open: bool,
}

/// The writer's state.
pub(crate) struct Writer {
    conn: Connection,
    path: PathBuf,
    options: StoreOptions,
    /// The position the next event gets.
    next: u64,
    counters: Arc<Counters>,
    /// When the retention was last applied.
    retained: Instant,
    /// Each stream's last revision, as far as remembered.
    revisions: Revisions,
}

impl Writer {
    /// The writer of the store `conn` opened at `path`.
    pub(crate) fn new(
        conn: Connection,
        path: &Path,
        options: StoreOptions,
        counters: Arc<Counters>,
    ) -> Result<Writer, StoreError> {
        let next = last_position(&conn, path)? + 1;
        counters.committed.send_replace(Committed {
            position: next - 1,
            open: true,
        });
        Ok(Writer {
            conn,
            path: path.to_owned(),
            options,
            next,
            counters,
            retained: Instant::now(),
            revisions: Revisions::default(),
        })
    }

    /// Serves the queue until every sender is gone, then returns (everything queued
    /// before is committed and answered).
    pub(crate) fn run(mut self, queue: flume::Receiver<Command>) {
        while let Ok(first) = queue.recv() {
            let mut batch = vec![first];
            if self.options.durability != Durability::PerEvent {
                self.gather(&queue, &mut batch);
            }
            self.commit(batch);
            self.retain_if_due();
        }
        self.counters.committed.send_modify(|c| c.open = false);
    }

    /// Applies the retention, in a transaction of its own, when its interval has passed
    /// since the last time (a failure is logged: the appends are not affected).
    fn retain_if_due(&mut self) {
        let Some(retention) = self.options.retention else {
            return;
        };
        if self.retained.elapsed() < retention.interval() {
            return;
        }
        self.retained = Instant::now();
        let now = jiff::Timestamp::now().as_microsecond();
        let applied = self
            .conn
            .transaction()
            .map_err(|e| StoreError::sqlite(&self.path, e))
            .and_then(|tx| {
                let pruned = crate::retention::apply(&tx, &self.path, &retention, now)?;
                tx.commit().map_err(|e| StoreError::sqlite(&self.path, e))?;
                Ok(pruned)
            });
        match applied {
            Ok(pruned) if pruned.events > 0 => {
                self.revisions.clear();
                tracing::debug!(store = %self.path.display(), removed = pruned.events, through = pruned.through, "staticbus-store: retention");
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(store = %self.path.display(), %error, "staticbus-store: retention failed");
            }
        }
    }

    /// Adds to `batch` what arrives within `batch_delay`, up to `batch_events` events.
    fn gather(&self, queue: &flume::Receiver<Command>, batch: &mut Vec<Command>) {
        let mut events: usize = batch.iter().map(Command::events).sum();
        let deadline = Instant::now().checked_add(self.options.batch_delay);
        while events < self.options.batch_events {
            let next = match deadline {
                _ if self.options.batch_delay.is_zero() => queue.try_recv().ok(),
                Some(deadline) => queue.recv_deadline(deadline).ok(),
                None => queue.recv().ok(),
            };
            let Some(command) = next else {
                break;
            };
            events += command.events();
            batch.push(command);
        }
    }

    /// Commits `batch` in one transaction and answers each command.
    fn commit(&mut self, batch: Vec<Command>) {
        let start = self.next;
        let mut answers = Vec::with_capacity(batch.len());
        let mut outcome = self.apply_all(&batch, &mut answers, false);
        if matches!(outcome, Err(Applied::Redo)) {
            // A command failed after it wrote: the batch again, each command in a savepoint
            // (the first try wrote nothing that stays: its transaction was rolled back).
            self.next = start;
            answers.clear();
            outcome = self.apply_all(&batch, &mut answers, true);
        }
        if let Err(applied) = outcome {
            // Nothing of the batch is stored: every command gets the error, and positions
            // start again where they were.
            self.next = start;
            let message = match applied {
                Applied::Failed(error) => error.to_string(),
                Applied::Redo => "a command failed twice".to_owned(),
            };
            tracing::error!(store = %self.path.display(), error = %message, "staticbus-store: a batch failed");
            for command in batch {
                let error = StoreError::CommitFailed {
                    path: self.path.clone(),
                    reason: message.clone(),
                };
                answer(command, Err(error));
            }
            return;
        }
        let appends = batch.len() as u64;
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        self.counters.appends.fetch_add(appends, Ordering::Relaxed);
        self.counters
            .events
            .fetch_add(self.next - start, Ordering::Relaxed);
        // Committed: subscriptions may read up to here (before any append is answered).
        let position = self.next - 1;
        self.counters
            .committed
            .send_modify(|c| c.position = position);
        for (command, result) in batch.into_iter().zip(answers) {
            answer(command, result);
        }
    }

    /// Runs every command of a batch in one transaction: `answers` gets each one's result.
    ///
    /// Most failures (a wrong expected revision, an invalid event, a retry recognised) are
    /// found before a command writes anything, so the first try runs the commands as they
    /// are, with no savepoint: two statements fewer per append. A command that fails after
    /// it wrote (an insert refused midway) makes the batch [`Applied::Redo`]: it runs again
    /// with `savepoints`, each command in one, so that only the failing one is undone.
    fn apply_all(
        &mut self,
        batch: &[Command],
        answers: &mut Vec<Result<Answer, StoreError>>,
        savepoints: bool,
    ) -> Result<(), Applied> {
        let path = self.path.clone();
        let sql = |e| Applied::Failed(StoreError::sqlite(&path, e));
        // What an earlier try recorded went with its transaction (rolled back, or it
        // returned early on an error).
        self.revisions.transaction_done(false);
        let mut tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let revisions = &mut self.revisions;
        for command in batch {
            let before = self.next;
            let mut writer = Step {
                path: &path,
                options: &self.options,
                next: &mut self.next,
                revisions,
            };
            let result = if savepoints {
                let mut savepoint = tx.savepoint().map_err(sql)?;
                let result = writer.run(&savepoint, command);
                match &result {
                    Ok(_) => savepoint.commit().map_err(sql)?,
                    Err(_) => {
                        savepoint.set_drop_behavior(rusqlite::DropBehavior::Rollback);
                        drop(savepoint);
                    }
                }
                result
            } else {
                let result = writer.run(&tx, command);
                if result.is_err() && self.next != before {
                    // Dropping `tx` rolls it back.
                    return Err(Applied::Redo);
                }
                result
            };
            if result.is_err() {
                self.next = before;
                revisions.command_failed(command.streams());
            } else {
                revisions.command_done();
            }
            answers.push(result);
        }
        let committed = tx.commit().map_err(sql);
        revisions.transaction_done(committed.is_ok());
        committed
    }
}

/// Why a batch did not commit as it is.
enum Applied {
    /// A command failed after it wrote: run the batch again with savepoints.
    Redo,
    /// The transaction itself failed (begin, a savepoint, commit).
    Failed(StoreError),
}

/// What running one command of a batch needs of the writer.
struct Step<'a> {
    path: &'a Path,
    options: &'a StoreOptions,
    /// The position the next event gets.
    next: &'a mut u64,
    revisions: &'a mut Revisions,
}

impl Step<'_> {
    /// Runs one command on `conn` (the batch's transaction, or a savepoint of it).
    fn run(&mut self, conn: &Connection, command: &Command) -> Result<Answer, StoreError> {
        let path = self.path;
        let options = self.options;
        let sql = |e| StoreError::sqlite(path, e);
        match command {
            Command::Append { appends, .. } => self.append(conn, appends).map(Answer::Appended),
            Command::Checkpoint { name, position, .. } => conn
                .prepare_cached(
                    "INSERT INTO checkpoints (name, position) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                )
                .and_then(|mut s| s.execute(params![name, int(*position)]))
                .map(|_| Answer::Done)
                .map_err(sql),
            Command::Snapshot { row, .. } => {
                snapshot::write(conn, path, row).map(|()| Answer::Done)
            }
            Command::Retain { .. } => match &options.retention {
                Some(retention) => {
                    let now = jiff::Timestamp::now().as_microsecond();
                    let pruned = crate::retention::apply(conn, path, retention, now)?;
                    if pruned.events > 0 {
                        self.revisions.clear();
                    }
                    Ok(Answer::Pruned(pruned))
                }
                None => Ok(Answer::Pruned(Pruned {
                    events: 0,
                    through: crate::retention::pruned_through(conn, path)?,
                })),
            },
        }
    }
}

/// One command's result.
enum Answer {
    Appended(Vec<Appended>),
    Pruned(Pruned),
    Done,
}

fn answer(command: Command, result: Result<Answer, StoreError>) {
    // A caller that stopped waiting (dropped its future) is not told: its append is stored.
    match command {
        Command::Append { reply, .. } => {
            let _ = reply.send(result.map(|a| match a {
                Answer::Appended(appended) => appended,
                Answer::Pruned(_) | Answer::Done => Vec::new(),
            }));
        }
        Command::Retain { reply } => {
            let _ = reply.send(result.map(|a| match a {
                Answer::Pruned(pruned) => pruned,
                Answer::Appended(_) | Answer::Done => Pruned::default(),
            }));
        }
        Command::Checkpoint { reply, .. } | Command::Snapshot { reply, .. } => {
            let _ = reply.send(result.map(|_| ()));
        }
    }
}

/// The last position stored (0 for an empty store); after retention removed everything,
/// the last position it removed (positions never start again).
pub(crate) fn last_position(conn: &Connection, path: &Path) -> Result<u64, StoreError> {
    let last: Option<i64> = conn
        .query_row("SELECT max(position) FROM events", [], |row| row.get(0))
        .map_err(|e| StoreError::sqlite(path, e))?;
    let last = last.and_then(|p| u64::try_from(p).ok()).unwrap_or(0);
    Ok(last.max(crate::retention::pruned_through(conn, path)?))
}

impl Step<'_> {
    /// Checks every event of `appends`, then appends each stream's events, all or nothing (the
    /// caller's savepoint rolls back on an error).
    fn append(
        &mut self,
        conn: &Connection,
        appends: &[StreamAppend],
    ) -> Result<Vec<Appended>, StoreError> {
        let (path, options) = (self.path, self.options);
        let next = &mut *self.next;
        for part in appends {
            check(part, options)?;
        }
        let sql = |e| StoreError::sqlite(path, e);
        let mut done = Vec::with_capacity(appends.len());
        'parts: for part in appends {
            let actual = match self.revisions.get(&part.stream) {
                Some(known) => known,
                None => {
                    let stored: Option<i64> = conn
                        .prepare_cached("SELECT max(revision) FROM events WHERE stream = ?1")
                        .and_then(|mut s| s.query_row(params![part.stream], |row| row.get(0)))
                        .map_err(sql)?;
                    let stored = stored.and_then(|r| u64::try_from(r).ok());
                    self.revisions.set(&part.stream, stored);
                    stored
                }
            };
            if !part.expected.admits(actual) {
                // A retry of an append that was stored meets a stream that moved on: it is
                // recognised by its first event's id (looked up only here, and when an insert
                // finds the id stored, not on every append).
                if let Some(first) = part.events.first()
                    && let Some(stored) = stored_retry(conn, path, part, first)?
                {
                    done.push(stored);
                    continue;
                }
                return Err(StoreError::WrongExpectedRevision {
                    stream: part.stream.clone(),
                    expected: part.expected,
                    actual,
                });
            }
            let first_position = *next;
            let mut revision = actual;
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO events (position, stream, revision, event_id, topic, \
                 schema_version, payload, metadata, timestamp) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(sql)?;
            for event in &part.events {
                let this = revision.map_or(0, |r| r + 1);
                let metadata = serde_json::to_string(&event.metadata).unwrap_or_default();
                let inserted = insert.execute(params![
                    int(*next),
                    part.stream,
                    int(this),
                    event.id,
                    event.topic,
                    event.schema_version,
                    event.payload,
                    metadata,
                    event.timestamp.as_microsecond(),
                ]);
                if let Err(error) = inserted {
                    // The first event's id stored already: a retry (nothing of this part
                    // written yet), or a conflict.
                    if *next == first_position
                        && is_constraint(&error)
                        && let Some(stored) = stored_retry(conn, path, part, event)?
                    {
                        done.push(stored);
                        continue 'parts;
                    }
                    return Err(conflict(conn, path, &event.id, error));
                }
                revision = Some(this);
                *next += 1;
            }
            self.revisions.set(&part.stream, revision);
            done.push(Appended {
                first_position,
                last_position: next.saturating_sub(1),
                revision,
                duplicate: false,
            });
        }
        Ok(done)
    }
}

/// An event the store cannot take: an empty stream id, a bad topic, an oversized event,
/// one id twice.
fn check(part: &StreamAppend, options: &StoreOptions) -> Result<(), StoreError> {
    let invalid = |reason: String| StoreError::InvalidEvent {
        stream: part.stream.clone(),
        reason,
    };
    if part.stream.trim().is_empty() {
        return Err(invalid("a stream id must not be empty".to_owned()));
    }
    let mut ids = std::collections::HashSet::new();
    for event in &part.events {
        if let Err(error) = staticbus::Topic::new(&event.topic) {
            return Err(invalid(format!("event `{}`: {error}", event.id)));
        }
        if event.id.is_empty() {
            return Err(invalid("an event id must not be empty".to_owned()));
        }
        let size = event.payload.len()
            + event
                .metadata
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        if size > options.max_event_bytes {
            return Err(invalid(format!(
                "event `{}` carries {size} bytes, over the store's max_event_bytes ({})",
                event.id, options.max_event_bytes
            )));
        }
        if part.events.len() > 1 && !ids.insert(event.id.as_str()) {
            return Err(invalid(format!("event id `{}` appears twice", event.id)));
        }
    }
    Ok(())
}

/// If `first`'s id is stored already, the append is a retry: the positions of the events it
/// stored, if all of them are there, in this stream, in order; an [`IdConflict`] if not.
///
/// [`IdConflict`]: StoreError::IdConflict
fn stored_retry(
    conn: &Connection,
    path: &Path,
    part: &StreamAppend,
    first: &NewEvent,
) -> Result<Option<Appended>, StoreError> {
    let Some((position, stream, revision)) = find_id(conn, path, &first.id)? else {
        return Ok(None);
    };
    let conflict = |id: &str, position, stream: String, reason| StoreError::IdConflict {
        id: id.to_owned(),
        position,
        stream,
        reason,
    };
    if stream != part.stream {
        return Err(conflict(
            &first.id,
            position,
            stream,
            "an append cannot store it in another stream",
        ));
    }
    let mut last = (position, revision);
    for (n, event) in part.events.iter().enumerate().skip(1) {
        let expected = (position + n as u64, revision + n as u64);
        match find_id(conn, path, &event.id)? {
            Some((p, s, r)) if s == part.stream && (p, r) == expected => last = (p, r),
            Some((p, s, _)) => {
                return Err(conflict(
                    &event.id,
                    p,
                    s,
                    "stored, but not as part of the append it is retried with",
                ));
            }
            None => {
                return Err(conflict(
                    &first.id,
                    position,
                    stream,
                    "the append's first event is stored but not all of the others: it \
                     is not a retry of the append that stored it",
                ));
            }
        }
    }
    Ok(Some(Appended {
        first_position: position,
        last_position: last.0,
        revision: Some(last.1),
        duplicate: true,
    }))
}

/// Where the event with `id` is stored: position, stream, revision.
fn find_id(
    conn: &Connection,
    path: &Path,
    id: &str,
) -> Result<Option<(u64, String, u64)>, StoreError> {
    conn.prepare_cached("SELECT position, stream, revision FROM events WHERE event_id = ?1")
        .and_then(|mut s| {
            s.query_row(params![id], |row| {
                let position: i64 = row.get(0)?;
                let revision: i64 = row.get(2)?;
                Ok((
                    u64::try_from(position).unwrap_or(0),
                    row.get::<_, String>(1)?,
                    u64::try_from(revision).unwrap_or(0),
                ))
            })
            .optional()
        })
        .map_err(|e| StoreError::sqlite(path, e))
}

/// Whether SQLite refused a statement for a constraint (a unique id or revision).
fn is_constraint(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// An insert that failed: an id stored already (by another append) is an
/// [`IdConflict`](StoreError::IdConflict); anything else is SQLite's error.
fn conflict(conn: &Connection, path: &Path, id: &str, error: rusqlite::Error) -> StoreError {
    if is_constraint(&error)
        && let Ok(Some((position, stream, _))) = find_id(conn, path, id)
    {
        return StoreError::IdConflict {
            id: id.to_owned(),
            position,
            stream,
            reason: "stored by another append",
        };
    }
    StoreError::sqlite(path, error)
}
