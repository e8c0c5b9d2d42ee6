//! [`DynamicEvent`]: an event known only at run time, its attributes and payload accessors.

use std::any::{Any, type_name};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::builder::DynamicEventBuilder;
use super::cloudevents;
use super::error::EventError;
use super::payload::{Payload, ValuePayload};
use super::time::DebugTime;
use super::topic::Topic;

/// The `source` of an event that sets none.
const DEFAULT_SOURCE: &str = "staticbus";

/// An event known only at run time, mapped 1:1 onto the attributes of a
/// [CloudEvent 1.0](https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md).
///
/// | Accessor | CloudEvents attribute | Default |
/// |---|---|---|
/// | [`id`](Self::id) | `id` | a random UUID v4 |
/// | [`topic`](Self::topic) | `type` | (required) |
/// | [`source`](Self::source) | `source` | `"staticbus"` |
/// | [`time`](Self::time) | `time` | when the event was built |
/// | [`subject`](Self::subject) | `subject` | none |
/// | [`content_type`](Self::content_type) | `datacontenttype` | none (`.json()` sets `application/json`) |
/// | [`data_schema`](Self::data_schema) | `dataschema` | none |
/// | [`headers`](Self::headers) | extension attributes | none |
/// | [`payload`](Self::payload) | `data` / `data_base64` | [`Payload::Empty`] |
///
/// The payload is shared: [`Bytes`] and values behind an [`Arc`], so cloning an event or
/// handing it to many subscribers never copies the data, and a value is encoded as JSON only
/// when someone asks for JSON.
///
/// ```
/// use staticbus::{DynamicEvent, Payload};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Placed { id: u64, total_cents: u64 }
///
/// let event = DynamicEvent::builder("order.placed")
///     .source("/shop/checkout")
///     .header("tenant", "acme")
///     .json(&Placed { id: 7, total_cents: 990 })
///     .build()?;
/// assert_eq!(event.topic(), "order.placed");
/// assert_eq!(event.content_type(), Some("application/json"));
/// assert_eq!(event.json::<Placed>()?, Placed { id: 7, total_cents: 990 });
///
/// // Structured-mode CloudEvents JSON, and back.
/// let cloudevent = event.to_cloudevent()?;
/// assert_eq!(cloudevent["type"], "order.placed");
/// assert_eq!(cloudevent["tenant"], "acme");
/// assert_eq!(cloudevent["data"]["total_cents"], 990);
/// let back = DynamicEvent::from_cloudevent(&serde_json::to_vec(&cloudevent)?)?;
/// assert_eq!((back.id(), back.time()), (event.id(), event.time()));
///
/// // A value payload is shared with subscribers as it is: no encoding, no copy.
/// let event = DynamicEvent::new("job.done", Payload::value(vec![1u8, 2, 3]))?;
/// assert_eq!(event.downcast_ref::<Vec<u8>>(), Some(&vec![1, 2, 3]));
/// assert!(event.json_value().is_err()); // not made with Payload::serializable
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DynamicEvent {
    // `pub(super)`: the builder and the CloudEvents reader, in sibling files, make events;
    // outside this module the attributes are read through the accessors only.
    pub(super) id: Arc<str>,
    pub(super) topic: Topic,
    pub(super) source: Arc<str>,
    pub(super) time: SystemTime,
    pub(super) subject: Option<String>,
    /// `application/json`, the usual one, is not allocated (see `content_type_of`).
    pub(super) content_type: Option<Cow<'static, str>>,
    pub(super) data_schema: Option<String>,
    pub(super) headers: BTreeMap<String, String>,
    pub(super) payload: Payload,
    /// Queued for a detached handler by a replay: its worker's call is a replay too (not an
    /// attribute: never encoded, never compared, not shown).
    pub(crate) replayed: bool,
    /// Queued for a detached handler by a publish made inside a handler: the ids of that
    /// publish's call, which the worker's call carries too (not an attribute, as above).
    pub(crate) cause: Option<Arc<Cause>>,
}

/// The ids of the call that queued an event for a detached handler: what caused it, the
/// flow it belongs to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Cause {
    pub(crate) causation: Option<Box<str>>,
    pub(crate) correlation: Option<Box<str>>,
}

impl DynamicEvent {
    /// Starts an event on `topic` (a `&str`, `String` or [`Topic`]); problems surface at
    /// [`build`](DynamicEventBuilder::build).
    pub fn builder<T>(topic: T) -> DynamicEventBuilder
    where
        T: TryInto<Topic>,
        T::Error: Into<EventError>,
    {
        DynamicEventBuilder::new(topic.try_into().map_err(Into::into))
    }

    /// An event on `topic` carrying `payload`, every other attribute at its default.
    ///
    /// # Errors
    ///
    /// [`EventError::InvalidTopic`] if `topic` is not a valid [`Topic`].
    pub fn new<T>(topic: T, payload: Payload) -> Result<DynamicEvent, EventError>
    where
        T: TryInto<Topic>,
        T::Error: Into<EventError>,
    {
        DynamicEvent::builder(topic).payload(payload).build()
    }

    /// An event on an already validated topic with default attributes; cannot fail.
    ///
    /// Not public API. Used by the bus to publish static events to dynamic subscribers.
    #[doc(hidden)]
    pub fn from_static(topic: Topic, payload: Payload) -> DynamicEvent {
        DynamicEvent {
            id: new_id(),
            topic,
            source: default_source(),
            time: SystemTime::now(),
            subject: None,
            content_type: None,
            data_schema: None,
            headers: BTreeMap::new(),
            payload,
            replayed: false,
            cause: None,
        }
    }

    /// This event's attributes and headers, with `made`'s topic and payload (the dynamic
    /// form of a static value): an event received from elsewhere, published as its static
    /// type ([`EventSystem::publish_as`](crate::EventSystem::publish_as)).
    pub(crate) fn carrying(mut self, made: DynamicEvent) -> DynamicEvent {
        self.topic = made.topic;
        self.payload = made.payload;
        self
    }

    /// Whether `name` can be a header of an event: the CloudEvents extension attribute
    /// naming rule (1 to 20 of `a-z0-9`) and not one of its core attributes (`id`,
    /// `source`, ...). What [`DynamicEventBuilder::header`] accepts; for code that copies
    /// headers from elsewhere (a broker message) and must skip the others.
    ///
    /// ```
    /// use staticbus::DynamicEvent;
    ///
    /// assert!(DynamicEvent::is_header_name("traceparent"));
    /// assert!(!DynamicEvent::is_header_name("Nats-Msg-Id"));
    /// assert!(!DynamicEvent::is_header_name("source"));
    /// ```
    pub fn is_header_name(name: &str) -> bool {
        super::header::follows_header_name_rule(name)
            && super::header::reserved_hint(name).is_none()
    }

    /// The CloudEvents `id`: unique per `source`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The topic, which is the CloudEvents `type`.
    pub fn topic(&self) -> &Topic {
        &self.topic
    }

    /// The CloudEvents `source`: a URI-reference naming what produced the event.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The CloudEvents `time`: when the event happened.
    pub fn time(&self) -> SystemTime {
        self.time
    }

    /// The CloudEvents `subject`: what the event is about, within its source.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The CloudEvents `datacontenttype`: the media type of the payload.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The CloudEvents `dataschema`: a URI of the schema the payload adheres to.
    pub fn data_schema(&self) -> Option<&str> {
        self.data_schema.as_deref()
    }

    /// One header (CloudEvents extension attribute).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// Every header (CloudEvents extension attribute), ordered by name.
    pub fn headers(&self) -> &BTreeMap<String, String> {
        &self.headers
    }

    /// The payload.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The payload's size in bytes: the length of [`Payload::Bytes`], the size given with
    /// [`Payload::with_size`] for a value (else 0), 0 for [`Payload::Empty`].
    pub fn payload_len(&self) -> usize {
        self.payload.size()
    }

    /// The payload as a `T`, if it is a value of that type.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.payload.downcast_ref()
    }

    /// The shared payload value as an `Arc<T>`, if it is a value of that type; clones the
    /// `Arc`, never the value.
    pub fn value_arc<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.payload.downcast_arc()
    }

    /// The payload bytes, if the payload is [`Payload::Bytes`].
    pub fn bytes(&self) -> Option<&Bytes> {
        self.payload.as_bytes()
    }

    /// Reads the payload as JSON into a `T`: bytes are parsed, a serializable value is encoded
    /// first (now, not before).
    ///
    /// # Errors
    ///
    /// [`EventError::NoPayload`], [`EventError::NotSerializable`] (a value without a JSON
    /// encoder), [`EventError::Json`] (encoding the value failed) or
    /// [`EventError::Deserialize`] (the JSON is malformed or does not fit `T`).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, EventError> {
        let deserialize = |source| EventError::Deserialize {
            topic: self.topic.to_string(),
            target: type_name::<T>(),
            source,
        };
        match &self.payload {
            Payload::Empty => Err(self.no_payload()),
            Payload::Bytes(bytes) => serde_json::from_slice(bytes).map_err(deserialize),
            Payload::Value(value) => {
                serde_json::from_value(self.encode_value(value)?).map_err(deserialize)
            }
        }
    }

    /// The payload as a JSON value (see [`json`](Self::json)).
    ///
    /// # Errors
    ///
    /// As [`json`](Self::json).
    pub fn json_value(&self) -> Result<Value, EventError> {
        match &self.payload {
            Payload::Value(value) => self.encode_value(value),
            _ => self.json(),
        }
    }

    /// The event as a structured-mode CloudEvents 1.0 JSON object.
    ///
    /// The payload becomes `data` when it is JSON (a serializable value, or bytes whose
    /// content type is `application/json`, `text/json` or ends in `+json`), else
    /// `data_base64`; [`Payload::Empty`] writes neither. A serializable value on an event with
    /// no content type also writes `"datacontenttype": "application/json"`. Headers are
    /// written as top-level extension attributes; `time` in RFC 3339 with up to nanosecond
    /// precision.
    ///
    /// # Errors
    ///
    /// [`EventError::NotSerializable`] for a value without a JSON encoder,
    /// [`EventError::NotJsonContentType`] for a value whose content type is not JSON,
    /// [`EventError::Json`] when encoding fails or JSON-typed bytes are not JSON.
    pub fn to_cloudevent(&self) -> Result<Value, EventError> {
        cloudevents::to_cloudevent(self)
    }

    /// Reads one structured-mode CloudEvents 1.0 JSON event (see
    /// [`from_cloudevent_value`](Self::from_cloudevent_value)).
    ///
    /// # Errors
    ///
    /// [`EventError::InvalidCloudEvent`] if `json` is not JSON or not a valid event.
    pub fn from_cloudevent(json: &[u8]) -> Result<DynamicEvent, EventError> {
        cloudevents::from_cloudevent(json)
    }

    /// Reads one structured-mode CloudEvents 1.0 event from a JSON value.
    ///
    /// `specversion` must be `"1.0"`; `id`, `source` and `type` (a valid [`Topic`]) are
    /// required non-empty strings; `time` is RFC 3339 (`Z` or a numeric offset) from
    /// 1970 through 9999, and an event without one gets the time it was read; `null`
    /// attributes count as absent. `data_base64` becomes [`Payload::Bytes`]; `data` becomes
    /// the bytes of its JSON text when the content type is JSON or absent (then recorded as
    /// `application/json`), or of the string itself for other content types. Other members
    /// are extension attributes and become headers: strings as they are, numbers and
    /// booleans as their JSON text.
    ///
    /// # Errors
    ///
    /// [`EventError::InvalidCloudEvent`] naming the attribute at fault and what is wrong.
    pub fn from_cloudevent_value(value: Value) -> Result<DynamicEvent, EventError> {
        cloudevents::from_cloudevent_value(value)
    }

    fn no_payload(&self) -> EventError {
        EventError::NoPayload {
            topic: self.topic.to_string(),
        }
    }

    /// The value payload encoded as JSON, or the error naming this event's topic.
    pub(super) fn encode_value(&self, value: &ValuePayload) -> Result<Value, EventError> {
        match value.to_json() {
            Some(result) => result.map_err(|source| EventError::Json {
                topic: self.topic.to_string(),
                source,
            }),
            None => Err(EventError::NotSerializable {
                topic: self.topic.to_string(),
                type_name: value.type_name(),
            }),
        }
    }
}

impl fmt::Debug for DynamicEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicEvent")
            .field("id", &self.id)
            .field("topic", &self.topic.as_str())
            .field("source", &self.source)
            .field("time", &DebugTime(self.time))
            .field("subject", &self.subject)
            .field("content_type", &self.content_type)
            .field("data_schema", &self.data_schema)
            .field("headers", &self.headers)
            .field("payload", &self.payload)
            .finish()
    }
}

/// A UUID v4 made of a random per-process half and a counter: unique, and cheap (one random
/// draw per process, not a system call per event).
pub(super) fn new_id() -> Arc<str> {
    static PREFIX: std::sync::LazyLock<u64> =
        std::sync::LazyLock::new(|| uuid::Uuid::new_v4().as_u64_pair().0);
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&PREFIX.to_be_bytes());
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut buf = uuid::Uuid::encode_buffer();
    Arc::from(&*id.hyphenated().encode_lower(&mut buf))
}

/// A content type as an event keeps it: `application/json` (what `.json()` sets, what a
/// bridge reads back) borrowed from a constant, any other owned.
pub(super) fn content_type_of(content_type: &str) -> Cow<'static, str> {
    if content_type == super::cloudevents::JSON_CONTENT_TYPE {
        Cow::Borrowed(super::cloudevents::JSON_CONTENT_TYPE)
    } else {
        Cow::Owned(content_type.to_owned())
    }
}

/// The shared `source` of events that set none.
pub(super) fn default_source() -> Arc<str> {
    static SOURCE: std::sync::LazyLock<Arc<str>> =
        std::sync::LazyLock::new(|| Arc::from(DEFAULT_SOURCE));
    Arc::clone(&SOURCE)
}

// `pub(super)`: the other dynamic event tests share its fixtures.
#[cfg(test)]
#[path = "tests/event.rs"]
pub(super) mod tests;
