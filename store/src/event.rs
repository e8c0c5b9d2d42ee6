//! The store's records: an event to append ([`NewEvent`]), an event as stored
//! ([`StoredEvent`]), what an append expects of its stream ([`Expected`]) and what it did
//! ([`Appended`]).

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;

/// What an append expects of its stream (optimistic concurrency): a writer that read the
/// stream at revision `n` appends with `Exact(n)`, and gets
/// [`WrongExpectedRevision`](crate::StoreError::WrongExpectedRevision) if someone else
/// appended since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Whatever the stream holds.
    Any,
    /// The stream has no events yet.
    NoStream,
    /// The stream has at least one event.
    Exists,
    /// The stream's last event has this revision (revisions count from 0).
    Exact(u64),
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Any => f.write_str("any revision"),
            Expected::NoStream => f.write_str("no events"),
            Expected::Exists => f.write_str("some events"),
            Expected::Exact(r) => write!(f, "revision {r}"),
        }
    }
}

impl Expected {
    /// Whether a stream whose last revision is `actual` (`None`: no events) meets it.
    pub(crate) fn admits(self, actual: Option<u64>) -> bool {
        match self {
            Expected::Any => true,
            Expected::NoStream => actual.is_none(),
            Expected::Exists => actual.is_some(),
            Expected::Exact(r) => actual == Some(r),
        }
    }
}

/// An event to append: its topic, its payload (bytes: JSON, or any codec), and what
/// describes it. The id defaults to a new UUID; the time to now.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub(crate) id: String,
    pub(crate) topic: String,
    pub(crate) schema_version: u32,
    pub(crate) payload: Vec<u8>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) timestamp: Timestamp,
}

impl NewEvent {
    /// An event on `topic` carrying `payload`, schema version 1, a new id, stamped now.
    pub fn new(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> NewEvent {
        NewEvent {
            id: uuid::Uuid::new_v4().to_string(),
            topic: topic.into(),
            schema_version: 1,
            payload: payload.into(),
            metadata: BTreeMap::new(),
            timestamp: Timestamp::now(),
        }
    }

    /// An event on `topic` whose payload is `value` in JSON.
    pub fn json<T: serde::Serialize + ?Sized>(
        topic: impl Into<String>,
        value: &T,
    ) -> Result<NewEvent, serde_json::Error> {
        Ok(NewEvent::new(topic, serde_json::to_vec(value)?))
    }

    /// Its id: appending an id that is already stored returns the stored event's positions
    /// (a retried append is stored once).
    pub fn id(mut self, id: impl Into<String>) -> NewEvent {
        self.id = id.into();
        self
    }

    /// The payload's schema version (for upcasting older payloads on load).
    pub fn schema_version(mut self, version: u32) -> NewEvent {
        self.schema_version = version;
        self
    }

    /// Sets metadata `key` (CloudEvents attributes, trace and causation ids...).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> NewEvent {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// When it happened (default: when it was made).
    pub fn timestamp(mut self, at: Timestamp) -> NewEvent {
        self.timestamp = at;
        self
    }

    /// Its id.
    pub fn event_id(&self) -> &str {
        &self.id
    }
}

/// An event as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredEvent {
    /// Its place in the whole store: 1, 2, 3... with no gaps.
    pub position: u64,
    /// Its stream.
    pub stream: String,
    /// Its place in its stream: 0, 1, 2... with no gaps.
    pub revision: u64,
    /// Its id (unique in the store).
    pub id: String,
    /// Its topic.
    pub topic: String,
    /// Its payload's schema version.
    pub schema_version: u32,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Its metadata.
    pub metadata: BTreeMap<String, String>,
    /// When it happened.
    pub timestamp: Timestamp,
}

impl StoredEvent {
    /// Its payload read as JSON into a `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.payload)
    }
}

/// What one append did: where its events are (or were already, for a retried append).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Appended {
    /// The first event's position (for an empty append: the next position).
    pub first_position: u64,
    /// The last event's position (for an empty append: the last position stored).
    pub last_position: u64,
    /// The stream's last revision after it (`None`: an empty append to an empty stream).
    pub revision: Option<u64>,
    /// Whether the events were stored already (an idempotent retry: nothing was written).
    pub duplicate: bool,
}

/// Which way a stream is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// From the given revision up.
    #[default]
    Forwards,
    /// From the given revision down.
    Backwards,
}
