//! Events on their way to durable storage: what a store receives ([`DurableEvent`]), what a
//! store implements ([`EventSink`]: `staticbus-store`'s `Store` does), and which events a
//! system persists ([`Persistence`]: static events marked `#[event(persist)]`, dynamic
//! topics matching the builder's patterns).
//!
//! The runtime does not depend on any store: a system given a sink hands it each event to
//! persist, in publish order, before the event is dispatched. A system without a sink pays
//! one check of an `Option` per dynamic publish, and nothing per static one whose type is
//! not marked (a constant of the type).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::dynamic::{DynamicEvent, Pattern};
use crate::linked::{BoxError, BoxFuture, EventDesc};

/// An event as a store receives it: its stream (the topic unless set otherwise), id, topic,
/// JSON payload, CloudEvents attributes and headers as metadata, time.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DurableEvent {
    /// The stream it is appended to (default: its topic).
    pub stream: String,
    /// Its id (a dynamic event's own; a new UUID for a static event).
    pub id: String,
    /// Its topic (a static event's name).
    pub topic: String,
    /// Its payload: a dynamic event's bytes as they are, else JSON.
    pub payload: Vec<u8>,
    /// `source`, `subject`, `datacontenttype`, `dataschema` when set, and every header
    /// (extension attribute: trace and causation ids...).
    pub metadata: BTreeMap<String, String>,
    /// When it happened.
    pub time: SystemTime,
}

/// Where a system persists events: implemented by `staticbus-store`'s `Store`, or by your
/// own storage.
pub trait EventSink: Send + Sync + 'static {
    /// Takes `event` for storage, in the order of the calls (it must be queued before this
    /// returns: the future may be dropped, the event is stored all the same). The future
    /// ends when it is committed, with its position, or with the store's error.
    fn persist(&self, event: DurableEvent) -> BoxFuture<'static, Result<u64, BoxError>>;
}

/// A system's persistence: its sink, and the dynamic topics it persists.
#[derive(Clone)]
pub(crate) struct Persistence {
    pub(crate) sink: Arc<dyn EventSink>,
    pub(crate) topics: Vec<Pattern>,
}

impl fmt::Debug for Persistence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Persistence")
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

/// Why an event could not be persisted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// The system has no store: give it one with
    /// [`persist_to`](crate::EventSystemBuilder::persist_to).
    #[error("the system persists nothing: give its builder a store with `persist_to(store)`")]
    NoStore,
    /// The event's payload cannot be written (a value payload that is not serializable, or
    /// serde's error).
    #[error("event `{topic}` cannot be persisted: {reason}")]
    Payload {
        /// The event's topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// The store refused it or failed (its own error).
    #[error("event `{topic}` was not persisted: {source}")]
    Store {
        /// The event's topic.
        topic: String,
        /// The store's error.
        source: BoxError,
    },
}

impl Persistence {
    /// Whether dynamic events on `topic` are persisted.
    pub(crate) fn takes(&self, topic: &str) -> bool {
        self.topics.iter().any(|p| p.matches(topic))
    }
}

/// A dynamic event as a store receives it.
pub(crate) fn durable_dynamic(event: &DynamicEvent) -> Result<DurableEvent, PersistError> {
    let topic = event.topic().as_str();
    let payload = match event.bytes() {
        Some(bytes) => bytes.to_vec(),
        None => {
            let value = event.json_value().map_err(|e| PersistError::Payload {
                topic: topic.to_owned(),
                reason: e.to_string(),
            })?;
            serde_json::to_vec(&value).map_err(|e| PersistError::Payload {
                topic: topic.to_owned(),
                reason: e.to_string(),
            })?
        }
    };
    let mut metadata = event.headers().clone();
    metadata.insert("source".to_owned(), event.source().to_owned());
    let optional = [
        ("subject", event.subject()),
        ("datacontenttype", event.content_type()),
        ("dataschema", event.data_schema()),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            metadata.insert(key.to_owned(), value.to_owned());
        }
    }
    Ok(DurableEvent {
        stream: topic.to_owned(),
        id: event.id().to_owned(),
        topic: topic.to_owned(),
        payload,
        metadata,
        time: event.time(),
    })
}

/// A static event (`value`, of `desc`'s type) as a store receives it: JSON through the
/// type's encoder (an `#[event(persist)]` type is `Serialize`: the derive checks it).
pub(crate) fn durable_static(
    desc: &EventDesc,
    value: &(dyn std::any::Any + Send + Sync),
) -> Result<DurableEvent, PersistError> {
    let topic = desc.name();
    let payload_error = |reason: String| PersistError::Payload {
        topic: topic.to_owned(),
        reason,
    };
    let json = desc
        .json()
        .ok_or_else(|| payload_error("its type is not `serde::Serialize`".to_owned()))?;
    let value = json(value).map_err(|e| payload_error(e.to_string()))?;
    let payload = serde_json::to_vec(&value).map_err(|e| payload_error(e.to_string()))?;
    let type_name = desc.type_name().to_owned();
    Ok(json_made_here(topic, payload, [("type", type_name)]))
}

/// A dead letter as a store receives it: on the stream and topic `staticbus.dead_letter`,
/// its JSON (as subscribers of that topic get it) as the payload, its handler and reason as
/// metadata.
pub(crate) fn durable_letter(letter: &super::DeadLetter) -> DurableEvent {
    let topic = super::DEAD_LETTER_TOPIC;
    // A letter's JSON cannot fail (strings and numbers; its event's JSON, `null` if none).
    let payload = serde_json::to_vec(letter).unwrap_or_default();
    let metadata = [
        ("handler", letter.handler().name().into_owned()),
        ("reason", letter.reason().as_str().to_owned()),
        ("deadtopic", letter.topic().to_owned()),
    ];
    json_made_here(topic, payload, metadata)
}

/// An event the runtime makes of its own values: a JSON `payload` on the stream named after
/// `topic`, a new id, the time now, `source` staticbus and the JSON content type, and
/// `metadata` besides.
fn json_made_here<const N: usize>(
    topic: &str,
    payload: Vec<u8>,
    metadata: [(&str, String); N],
) -> DurableEvent {
    let mut all = BTreeMap::from([
        ("source".to_owned(), "staticbus".to_owned()),
        ("datacontenttype".to_owned(), "application/json".to_owned()),
    ]);
    all.extend(metadata.map(|(key, value)| (key.to_owned(), value)));
    DurableEvent {
        stream: topic.to_owned(),
        id: uuid::Uuid::new_v4().to_string(),
        topic: topic.to_owned(),
        payload,
        metadata: all,
        time: SystemTime::now(),
    }
}

/// Hands `event` to the sink; a fire-and-forget persist's failure is logged (its future is
/// awaited on a task when a runtime is there, so that a refusal is not silent).
pub(crate) fn send(persistence: &Persistence, event: DurableEvent) {
    let topic = event.topic.clone();
    let stored = persistence.sink.persist(event);
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                if let Err(error) = stored.await {
                    tracing::error!(%topic, %error, "staticbus: an event was not persisted");
                }
            });
        }
        // Queued all the same (the sink's contract); its outcome goes unheard.
        Err(_) => drop(stored),
    }
}

/// [`send`] of what could not even be made into a durable event.
pub(crate) fn refused(error: &PersistError) {
    tracing::error!(%error, "staticbus: an event was not persisted");
}
