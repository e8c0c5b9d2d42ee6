//! A persistent event store for staticbus: SQLite compiled in (`bundled`, so nothing needs
//! installing), in WAL mode; one writer thread that commits appends in groups; streams with
//! per-stream revisions and optimistic concurrency; a gap-free global position; idempotent
//! appends by event id; reads by stream and by position, filtered by topic pattern and time.
//!
//! A crate of its own, so that users of the bare bus do not compile SQLite.
//!
//! Event sourcing on top: an [`Aggregate`] is [loaded](Store::load) by folding its stream
//! (from its latest [snapshot](Snapshots), older payloads brought up to date by
//! [`Upcasters`]) and [saved](Store::save) expecting the revision it was loaded at;
//! [`testing::given`] checks an aggregate's decisions in memory.
//!
//! ```
//! use staticbus_store::{Expected, NewEvent, Store};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().join("events.db"))?;
//! let placed = NewEvent::json("order.placed", &serde_json::json!({ "total": 1250 }))?;
//! let appended = store.append("order-7", Expected::NoStream, vec![placed]).await?;
//! assert_eq!((appended.first_position, appended.revision), (1, Some(0)));
//!
//! // A writer that read the stream at revision 0 appends after it, or learns it is late.
//! let paid = NewEvent::new("order.paid", b"{}".to_vec());
//! store.append("order-7", Expected::Exact(0), vec![paid]).await?;
//! let events = store.read_stream("order-7", 0, Default::default(), 100).await?;
//! assert_eq!(events.len(), 2);
//! store.close().await?;
//! # Ok(())
//! # }
//! ```

pub mod admin;
mod aggregate;
mod error;
mod event;
mod options;
mod read;
mod replay;
mod retention;
mod revisions;
mod schema;
mod sink;
mod snapshot;
mod subscription;
pub mod testing;
mod upcast;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::oneshot;

pub use aggregate::{Aggregate, Loaded, Snapshots};
pub use error::StoreError;
pub use event::{Appended, Direction, Expected, NewEvent, StoredEvent};
pub use options::{Durability, StoreOptions};
pub use read::ReadFilter;
pub use replay::Replayed;
pub use retention::{Pruned, Retention};
pub use subscription::Subscription;
pub use upcast::{UpcastError, Upcasters};

use writer::{Command, Counters, StreamAppend, Writer};

/// What a store's writer did since it was opened: group commit puts many appends in one
/// batch (one transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WriterStats {
    /// Transactions committed.
    pub batches: u64,
    /// Appends (and checkpoints, snapshots) answered, stored or refused.
    pub appends: u64,
    /// Events stored.
    pub events: u64,
}

/// An open event store. Cheap to clone (an `Arc`): every clone appends through the same
/// writer. Dropping the last clone (or [`close`](Store::close)) lets the writer commit what
/// is queued, then stop.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    upcasters: upcast::Upcasters,
    counters: Arc<Counters>,
    queue: Mutex<Option<flume::Sender<Command>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    reader: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `path` (creating it if needed) with the default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// Opens the store at `path` (creating it if needed) with `options`. Fails with
    /// [`StoreError::Open`] (the file cannot be opened or created), [`Locked`], or
    /// [`Corrupt`] (not an event store of this version).
    ///
    /// [`Locked`]: StoreError::Locked
    /// [`Corrupt`]: StoreError::Corrupt
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store, StoreError> {
        options.validate()?;
        let path = path.as_ref().to_owned();
        let conn = schema::open_writer(&path, &options)?;
        let reader = schema::open_reader(&path, &options)?;
        let counters = Arc::new(Counters::default());
        let writer = Writer::new(conn, &path, options.clone(), Arc::clone(&counters))?;
        let (queue, commands) = flume::bounded(options.queue);
        let thread = std::thread::Builder::new()
            .name("staticbus-store-writer".to_owned())
            .spawn(move || writer.run(commands))
            .map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(Store {
            inner: Arc::new(Inner {
                upcasters: options.upcasters,
                path,
                counters,
                queue: Mutex::new(Some(queue)),
                writer: Mutex::new(Some(thread)),
                reader: Arc::new(Mutex::new(reader)),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// What the writer did since the store was opened.
    pub fn stats(&self) -> WriterStats {
        let c = &self.inner.counters;
        WriterStats {
            batches: c.batches.load(Ordering::Relaxed),
            appends: c.appends.load(Ordering::Relaxed),
            events: c.events.load(Ordering::Relaxed),
        }
    }

    /// Appends `events` to `stream` if it is as `expected`, in one transaction; returns
    /// after the commit, with their positions. Appending events whose ids are stored
    /// already (a retry) returns the stored positions and writes nothing
    /// ([`Appended::duplicate`]).
    pub async fn append(
        &self,
        stream: impl Into<String>,
        expected: Expected,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        let appended = self
            .append_all(vec![(stream.into(), expected, events)])
            .await?;
        appended.into_iter().next().ok_or(StoreError::Closed)
    }

    /// Appends to several streams atomically: all of them, or (one stream not as expected,
    /// one event invalid) none.
    pub async fn append_all(
        &self,
        appends: Vec<(String, Expected, Vec<NewEvent>)>,
    ) -> Result<Vec<Appended>, StoreError> {
        let appends = appends
            .into_iter()
            .map(|(stream, expected, events)| StreamAppend {
                stream,
                expected,
                events,
            })
            .collect();
        let (reply, answer) = oneshot::channel();
        self.send(Command::Append { appends, reply }).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores checkpoint `name` at `position` (a subscriber's progress), through the writer:
    /// in order with the appends before it.
    pub async fn save_checkpoint(
        &self,
        name: impl Into<String>,
        position: u64,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let name = name.into();
        self.send(Command::Checkpoint {
            name,
            position,
            reply,
        })
        .await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn send(&self, command: Command) -> Result<(), StoreError> {
        let queue = self.inner.queue.lock().clone().ok_or(StoreError::Closed)?;
        queue
            .send_async(command)
            .await
            .map_err(|_| StoreError::Closed)
    }

    /// Up to `limit` events of `stream` from revision `from` (included), in `direction`.
    pub async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let stream = stream.to_owned();
        self.read(move |conn, path| read::stream(conn, path, &stream, from, direction, limit))
            .await
    }

    /// Up to `limit` events from position `from` (included) that `filter` takes, in
    /// position order.
    pub async fn read_all(
        &self,
        from: u64,
        limit: usize,
        filter: &ReadFilter,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let filter = filter.clone();
        self.read(move |conn, path| read::all(conn, path, from, limit, &filter))
            .await
    }

    /// The last revision of `stream` (`None`: it has no events).
    pub async fn stream_revision(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        let stream = stream.to_owned();
        self.read(move |conn, path| read::revision(conn, path, &stream))
            .await
    }

    /// The position of the event whose id is `event_id` (`None`: no such event is stored,
    /// or retention removed it). A lookup by the unique index of ids.
    pub async fn position_of(&self, event_id: &str) -> Result<Option<u64>, StoreError> {
        let event_id = event_id.to_owned();
        self.read(move |conn, path| read::position_of(conn, path, &event_id))
            .await
    }

    /// The last position stored (0: an empty store).
    pub async fn last_position(&self) -> Result<u64, StoreError> {
        self.read(writer::last_position).await
    }

    /// The position checkpoint `name` was saved at (`None`: never saved).
    pub async fn checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let name = name.to_owned();
        self.read(move |conn, path| read::checkpoint(conn, path, &name))
            .await
    }

    /// Runs `read` on the reading connection, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection, &Path) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reader = Arc::clone(&self.inner.reader);
        let path = self.inner.path.clone();
        tokio::task::spawn_blocking(move || read(&reader.lock(), &path))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Applies the store's [`Retention`] now, through the writer (after the appends queued
    /// before it); what it removed. Without a retention, removes nothing.
    pub async fn apply_retention(&self) -> Result<Pruned, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Retain { reply }).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops taking appends, lets the writer commit and answer everything queued, and waits
    /// for it to stop. Appends after it (from any clone) fail with [`StoreError::Closed`].
    pub async fn close(&self) -> Result<(), StoreError> {
        self.inner.queue.lock().take();
        let writer = self.inner.writer.lock().take();
        if let Some(writer) = writer {
            tokio::task::spawn_blocking(move || writer.join())
                .await
                .map_err(|_| StoreError::Closed)?
                .map_err(|_| StoreError::Closed)?;
        }
        Ok(())
    }
}
