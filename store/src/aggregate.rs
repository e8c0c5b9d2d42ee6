//! Event sourcing: an [`Aggregate`] is the fold of its stream's events. [`Store::load`]
//! folds the stream (from the latest usable snapshot, upcasting older payloads on the way)
//! into a [`Loaded`], which remembers the revision it was loaded at; [`Store::save`] appends
//! new events expecting that revision, so a concurrent writer gets
//! [`WrongExpectedRevision`](StoreError::WrongExpectedRevision) and nothing is written.
//!
//! The aggregate's events are stored as JSON (`serde`), each with the topic and schema
//! version its aggregate gives it. Loading reads the stream in chunks and folds each one on
//! the caller's task: no user code runs while the reading connection is held.

use std::fmt;
use std::ops::Deref;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StoreError;
use crate::event::{Appended, Direction, Expected, NewEvent, StoredEvent};
use crate::snapshot::SnapshotRow;
use crate::{Store, snapshot};

/// How many events a load reads at a time.
const CHUNK: usize = 512;

/// A consistency boundary whose state is the fold of its stream's events.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use staticbus_store::{Aggregate, Snapshots};
///
/// #[derive(Debug, Default, Serialize, Deserialize)]
/// struct Order {
///     lines: u32,
///     total: u64,
/// }
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// enum OrderEvent {
///     LineAdded { price: u64 },
///     Paid,
/// }
///
/// impl Aggregate for Order {
///     type Event = OrderEvent;
///     const KIND: &'static str = "order";
///     // Optional: a snapshot every 100 events (needs `Order: Serialize + Deserialize`).
///     const SNAPSHOTS: Option<Snapshots<Self>> = Some(Snapshots::every(100));
///
///     fn topic(event: &OrderEvent) -> &str {
///         match event {
///             OrderEvent::LineAdded { .. } => "order.line_added",
///             OrderEvent::Paid => "order.paid",
///         }
///     }
///
///     fn apply(&mut self, event: &OrderEvent) {
///         if let OrderEvent::LineAdded { price } = event {
///             self.lines += 1;
///             self.total += price;
///         }
///     }
/// }
///
/// assert_eq!(Order::stream_id("7"), "order-7");
/// ```
pub trait Aggregate: Default {
    /// What happens to it, stored as JSON. A payload holds the event as `serde` writes it
    /// (an internally tagged enum, `#[serde(tag = "type")]`, gives upcasters flat objects).
    type Event: Serialize + DeserializeOwned;

    /// The kind of aggregate: the prefix of its streams (`"order"`).
    const KIND: &'static str;

    /// Whether and how often its state is snapshotted (default: never). See [`Snapshots`].
    const SNAPSHOTS: Option<Snapshots<Self>> = None;

    /// The stream of the aggregate `id`: `"{KIND}-{id}"` unless overridden.
    fn stream_id(id: &str) -> String {
        format!("{}-{id}", Self::KIND)
    }

    /// The topic `event` is stored under (`"order.placed"`): a topic the bus accepts.
    fn topic(event: &Self::Event) -> &str;

    /// The schema version this code writes, and reads, for events of `topic` (default 1).
    /// Raise it when a topic's payload changes shape, and register an upcaster from the
    /// previous version ([`Upcasters`](crate::Upcasters)): a stored event of another version
    /// that no upcaster brings to this one is a
    /// [`SchemaVersion`](StoreError::SchemaVersion) error on load.
    fn schema_version(topic: &str) -> u32 {
        let _ = topic;
        1
    }

    /// Folds `event` into the state. It happened: this cannot fail (decisions, which can,
    /// come before the event is made).
    fn apply(&mut self, event: &Self::Event);
}

/// An aggregate's snapshot policy: its state is stored every `every` events (as JSON, under
/// a schema version of its own), and a load starts from the latest snapshot of the current
/// version, then reads only the events after it.
///
/// A snapshot of another version, or one that does not decode, is ignored (logged; the
/// stream is folded from its start) and rebuilt at the next save. Raise the
/// [`version`](Snapshots::version) whenever the aggregate's serialized form changes.
pub struct Snapshots<A> {
    every: u64,
    version: u32,
    encode: fn(&A) -> Result<Vec<u8>, serde_json::Error>,
    decode: fn(&[u8]) -> Result<A, serde_json::Error>,
}

impl<A: Serialize + DeserializeOwned> Snapshots<A> {
    /// A snapshot every `events` events, schema version 1.
    ///
    /// # Panics
    ///
    /// If `events` is 0: in [`Aggregate::SNAPSHOTS`], a build error wherever the aggregate
    /// is loaded or saved.
    pub const fn every(events: u64) -> Snapshots<A> {
        assert!(
            events > 0,
            "Snapshots::every(0): a snapshot needs at least 1 event"
        );
        Snapshots {
            every: events,
            version: 1,
            encode: encode::<A>,
            decode: decode::<A>,
        }
    }
}

impl<A> Snapshots<A> {
    /// The snapshots' schema version (default 1): snapshots stored under another version are
    /// ignored.
    pub const fn version(mut self, version: u32) -> Snapshots<A> {
        self.version = version;
        self
    }

    /// How many events between two snapshots.
    pub const fn interval(&self) -> u64 {
        self.every
    }

    /// The snapshots' schema version.
    pub const fn schema_version(&self) -> u32 {
        self.version
    }
}

fn encode<A: Serialize>(state: &A) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(state)
}

fn decode<A: DeserializeOwned>(payload: &[u8]) -> Result<A, serde_json::Error> {
    serde_json::from_slice(payload)
}

impl<A> Clone for Snapshots<A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A> Copy for Snapshots<A> {}

impl<A> fmt::Debug for Snapshots<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshots")
            .field("every", &self.every)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// An aggregate as loaded: its state, and the revision of its stream it reflects, which
/// [`Store::save`] expects. Dereferences to the state (read only: state changes through
/// events).
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    stream: String,
    state: A,
    revision: Option<u64>,
    events_read: u64,
    snapshot: Option<u64>,
}

impl<A> Loaded<A> {
    /// Its stream.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Its state.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// Its state, taken.
    pub fn into_state(self) -> A {
        self.state
    }

    /// The revision of the last event it reflects (`None`: a new stream, with no events).
    pub fn revision(&self) -> Option<u64> {
        self.revision
    }

    /// Whether its stream has no events.
    pub fn is_new(&self) -> bool {
        self.revision.is_none()
    }

    /// How many events the load read and folded (after the snapshot it started from).
    pub fn events_read(&self) -> u64 {
        self.events_read
    }

    /// The revision of the snapshot the load started from, or that the last save stored
    /// (`None`: none).
    pub fn snapshot_revision(&self) -> Option<u64> {
        self.snapshot
    }

    /// What an append after this state expects of the stream.
    fn expected(&self) -> Expected {
        match self.revision {
            Some(revision) => Expected::Exact(revision),
            None => Expected::NoStream,
        }
    }
}

impl<A> Deref for Loaded<A> {
    type Target = A;

    fn deref(&self) -> &A {
        &self.state
    }
}

impl Store {
    /// Loads aggregate `id`: the latest snapshot of the current version if `A` has
    /// [`Snapshots`], then every event after it, upcast to the schema version
    /// [`A::schema_version`](Aggregate::schema_version) gives its topic and folded with
    /// [`apply`](Aggregate::apply). A stream with no events is the default state at revision
    /// `None`.
    ///
    /// Fails if an event does not decode ([`Decode`](StoreError::Decode)), an upcaster
    /// fails ([`Upcast`](StoreError::Upcast)) or none brings an event to the version this
    /// code reads ([`SchemaVersion`](StoreError::SchemaVersion)), or reading fails.
    pub async fn load<A: Aggregate>(&self, id: &str) -> Result<Loaded<A>, StoreError> {
        let stream = A::stream_id(id);
        let mut loaded = Loaded {
            state: A::default(),
            revision: None,
            events_read: 0,
            snapshot: None,
            stream,
        };
        if let Some(policy) = A::SNAPSHOTS {
            self.start_from_snapshot(&mut loaded, &policy).await?;
        }
        loop {
            let from = loaded.revision.map_or(0, |r| r + 1);
            let chunk = self
                .read_stream(&loaded.stream, from, Direction::Forwards, CHUNK)
                .await?;
            let full = chunk.len() == CHUNK;
            for event in chunk {
                let revision = event.revision;
                let event = self.decode_event::<A>(event)?;
                loaded.state.apply(&event);
                loaded.revision = Some(revision);
                loaded.events_read += 1;
            }
            if !full {
                return Ok(loaded);
            }
        }
    }

    /// Appends `events` to `loaded`'s stream, expecting the revision it was loaded (or last
    /// saved) at, and applies them to its state. Every `n` events (its [`Snapshots`]) it
    /// then stores a snapshot; a snapshot that cannot be stored is logged, not an error (the
    /// events are).
    ///
    /// If another writer appended to the stream since, this fails with
    /// [`WrongExpectedRevision`](StoreError::WrongExpectedRevision), nothing is written and
    /// `loaded` is unchanged: load it again and decide again. An event that does not
    /// serialize is [`Encode`](StoreError::Encode).
    pub async fn save<A: Aggregate>(
        &self,
        loaded: &mut Loaded<A>,
        events: Vec<A::Event>,
    ) -> Result<Appended, StoreError> {
        let mut new = Vec::with_capacity(events.len());
        for event in &events {
            let topic = A::topic(event);
            let encoded = NewEvent::json(topic, event).map_err(|source| StoreError::Encode {
                stream: loaded.stream.clone(),
                topic: topic.to_owned(),
                source,
            })?;
            new.push(encoded.schema_version(A::schema_version(topic)));
        }
        let appended = self
            .append(loaded.stream.clone(), loaded.expected(), new)
            .await?;
        for event in &events {
            loaded.state.apply(event);
        }
        loaded.revision = appended.revision;
        if let Some(policy) = A::SNAPSHOTS {
            self.maybe_snapshot(loaded, &policy).await;
        }
        Ok(appended)
    }

    /// Starts `loaded` from its stream's snapshot, if there is one of `policy`'s version that
    /// decodes.
    async fn start_from_snapshot<A: Aggregate>(
        &self,
        loaded: &mut Loaded<A>,
        policy: &Snapshots<A>,
    ) -> Result<(), StoreError> {
        let stream = loaded.stream.clone();
        let row = self
            .read(move |conn, path| snapshot::read(conn, path, &stream))
            .await?;
        let Some(row) = row else {
            return Ok(());
        };
        if row.version != policy.version {
            tracing::debug!(
                stream = %loaded.stream, stored = row.version, current = policy.version,
                "staticbus-store: a snapshot of another version is ignored"
            );
            return Ok(());
        }
        match (policy.decode)(&row.payload) {
            Ok(state) => {
                loaded.state = state;
                loaded.revision = Some(row.revision);
                loaded.snapshot = Some(row.revision);
            }
            Err(error) => tracing::warn!(
                stream = %loaded.stream, revision = row.revision, %error,
                "staticbus-store: a snapshot that does not decode is ignored"
            ),
        }
        Ok(())
    }

    /// Stores a snapshot of `loaded` if `policy`'s number of events were saved since its
    /// last usable one.
    async fn maybe_snapshot<A: Aggregate>(&self, loaded: &mut Loaded<A>, policy: &Snapshots<A>) {
        let Some(revision) = loaded.revision else {
            return;
        };
        let since = revision + 1 - loaded.snapshot.map_or(0, |s| s + 1);
        if since < policy.every {
            return;
        }
        let payload = match (policy.encode)(&loaded.state) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::warn!(
                    stream = %loaded.stream, revision, %error,
                    "staticbus-store: the aggregate does not serialize: no snapshot"
                );
                return;
            }
        };
        let row = SnapshotRow {
            stream: loaded.stream.clone(),
            revision,
            version: policy.version,
            payload,
        };
        match self.write_snapshot(row).await {
            Ok(()) => loaded.snapshot = Some(revision),
            Err(error) => tracing::warn!(
                stream = %loaded.stream, revision, %error,
                "staticbus-store: a snapshot was not stored"
            ),
        }
    }

    /// `event`, upcast, as `A`'s event.
    fn decode_event<A: Aggregate>(&self, event: StoredEvent) -> Result<A::Event, StoreError> {
        let event = self.upcast(event)?;
        let expected = A::schema_version(&event.topic);
        if event.schema_version != expected {
            return Err(StoreError::SchemaVersion {
                position: event.position,
                stream: event.stream,
                topic: event.topic,
                version: event.schema_version,
                expected,
            });
        }
        event.json().map_err(|source| StoreError::Decode {
            position: event.position,
            stream: event.stream.clone(),
            topic: event.topic.clone(),
            version: event.schema_version,
            target: std::any::type_name::<A::Event>(),
            source,
        })
    }
}
