//! Dynamic events: CloudEvents 1.0 attributes over a payload that is shared, never copied.

use std::any::{Any, type_name};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::topic::{Topic, TopicError};

use crate::linked::JsonFn;

/// The `source` of an event that sets none.
const DEFAULT_SOURCE: &str = "staticbus";

/// The content type [`DynamicEventBuilder::json`] sets.
const JSON_CONTENT_TYPE: &str = "application/json";

/// The longest extension attribute (header) name, in characters.
const MAX_HEADER_NAME_LEN: usize = 20;

/// Seconds from the Unix epoch to 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
const MAX_TIME_SECS: u64 = 253_402_300_799;

/// CloudEvents attribute names that are not extensions, with how to set each one instead.
const RESERVED_ATTRIBUTES: &[(&str, &str)] = &[
    ("specversion", "staticbus always writes \"1.0\""),
    ("id", "set it with the builder's `.id()`"),
    ("source", "set it with the builder's `.source()`"),
    ("type", "the event's topic is its type"),
    ("subject", "set it with the builder's `.subject()`"),
    ("time", "set it with the builder's `.time()`"),
    (
        "datacontenttype",
        "set it with the builder's `.content_type()`",
    ),
    ("dataschema", "set it with the builder's `.data_schema()`"),
    ("data", "the payload is the data"),
];

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
    id: Arc<str>,
    topic: Topic,
    source: Arc<str>,
    time: SystemTime,
    subject: Option<String>,
    content_type: Option<String>,
    data_schema: Option<String>,
    headers: BTreeMap<String, String>,
    payload: Payload,
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
        }
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
        let mut ce = Map::new();
        ce.insert("specversion".into(), "1.0".into());
        ce.insert("id".into(), Value::from(&*self.id));
        ce.insert("source".into(), Value::from(&*self.source));
        ce.insert("type".into(), self.topic.as_str().into());
        ce.insert("time".into(), rfc3339(self.time)?.into());
        let optional = [
            ("subject", &self.subject),
            ("datacontenttype", &self.content_type),
            ("dataschema", &self.data_schema),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                ce.insert(name.into(), value.clone().into());
            }
        }
        for (name, value) in &self.headers {
            ce.insert(name.clone(), value.clone().into());
        }
        match &self.payload {
            Payload::Empty => {}
            Payload::Bytes(bytes) => {
                if self.content_type.as_deref().is_some_and(is_json_media_type) {
                    let data: Value =
                        serde_json::from_slice(bytes).map_err(|source| EventError::Json {
                            topic: self.topic.to_string(),
                            source,
                        })?;
                    ce.insert("data".into(), data);
                } else {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
                    ce.insert("data_base64".into(), encoded.into());
                }
            }
            Payload::Value(value) => {
                match self.content_type.as_deref() {
                    None => {
                        ce.insert("datacontenttype".into(), JSON_CONTENT_TYPE.into());
                    }
                    Some(ct) if is_json_media_type(ct) => {}
                    Some(ct) => {
                        return Err(EventError::NotJsonContentType {
                            topic: self.topic.to_string(),
                            type_name: value.type_name(),
                            content_type: ct.to_owned(),
                        });
                    }
                }
                ce.insert("data".into(), self.encode_value(value)?);
            }
        }
        Ok(Value::Object(ce))
    }

    /// Reads one structured-mode CloudEvents 1.0 JSON event (see
    /// [`from_cloudevent_value`](Self::from_cloudevent_value)).
    ///
    /// # Errors
    ///
    /// [`EventError::InvalidCloudEvent`] if `json` is not JSON or not a valid event.
    pub fn from_cloudevent(json: &[u8]) -> Result<DynamicEvent, EventError> {
        let value: Value = serde_json::from_slice(json)
            .map_err(|e| invalid_cloudevent(format!("it is not JSON: {e}")))?;
        DynamicEvent::from_cloudevent_value(value)
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
        let mut ce = match value {
            Value::Object(map) => map,
            Value::Array(_) => {
                return Err(invalid_cloudevent(
                    "it is a JSON array (a batch); read each element on its own".into(),
                ));
            }
            other => {
                return Err(invalid_cloudevent(format!(
                    "it is a JSON {}, not an object",
                    json_kind(&other)
                )));
            }
        };

        match take_string(&mut ce, "specversion")? {
            Some(version) if version == "1.0" => {}
            Some(version) => {
                return Err(invalid_cloudevent(format!(
                    "`specversion` is {version:?}; only CloudEvents \"1.0\" is supported"
                )));
            }
            None => return Err(missing_attribute("specversion")),
        }
        let id = take_required(&mut ce, "id")?;
        let source = take_required(&mut ce, "source")?;
        let kind = take_required(&mut ce, "type")?;
        let topic = Topic::new(&kind).map_err(|e| {
            invalid_cloudevent(format!(
                "`type` {kind:?} is not a valid staticbus topic ({e})"
            ))
        })?;
        let time = match take_string(&mut ce, "time")? {
            Some(time) => parse_rfc3339(&time).map_err(|reason| {
                invalid_cloudevent(format!("`time` {time:?} is not usable: {reason}"))
            })?,
            None => SystemTime::now(),
        };
        let subject = take_optional(&mut ce, "subject")?;
        let mut content_type = take_optional(&mut ce, "datacontenttype")?;
        let data_schema = take_optional(&mut ce, "dataschema")?;

        let data = take_non_null(&mut ce, "data");
        let data_base64 = take_non_null(&mut ce, "data_base64");
        let payload = match (data, data_base64) {
            (Some(_), Some(_)) => {
                return Err(invalid_cloudevent(
                    "it has both `data` and `data_base64`; an event carries at most one".into(),
                ));
            }
            (None, Some(Value::String(encoded))) => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.as_bytes())
                    .map_err(|e| {
                        invalid_cloudevent(format!("`data_base64` is not valid base64: {e}"))
                    })?;
                Payload::Bytes(Bytes::from(decoded))
            }
            (None, Some(other)) => {
                return Err(invalid_cloudevent(format!(
                    "`data_base64` must be a base64 string, found a JSON {}",
                    json_kind(&other)
                )));
            }
            (Some(data), None) => match content_type.as_deref() {
                None => {
                    content_type = Some(JSON_CONTENT_TYPE.to_owned());
                    Payload::Bytes(Bytes::from(data.to_string()))
                }
                Some(ct) if is_json_media_type(ct) => Payload::Bytes(Bytes::from(data.to_string())),
                Some(_) => match data {
                    Value::String(text) => Payload::Bytes(Bytes::from(text)),
                    other => {
                        return Err(invalid_cloudevent(format!(
                            "`data` is a JSON {} but `datacontenttype` {:?} is not a JSON \
                             media type; non-JSON data must be a string or in `data_base64`",
                            json_kind(&other),
                            content_type.as_deref().unwrap_or_default()
                        )));
                    }
                },
            },
            (None, None) => Payload::Empty,
        };

        let mut headers = BTreeMap::new();
        for (name, value) in ce {
            if let Some(reason) = header_name_problem(&name) {
                return Err(invalid_cloudevent(format!(
                    "extension attribute {name:?} has an invalid name: {reason}; CloudEvents \
                     attribute names are 1 to {MAX_HEADER_NAME_LEN} lowercase ASCII letters \
                     or digits"
                )));
            }
            let value = match value {
                Value::Null => continue,
                Value::String(s) => s,
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(invalid_cloudevent(format!(
                        "extension attribute {name:?} is a JSON {}; extension values must be \
                         strings, numbers or booleans",
                        json_kind(&other)
                    )));
                }
            };
            headers.insert(name, value);
        }

        Ok(DynamicEvent {
            id: id.into(),
            topic,
            source: source.into(),
            time,
            subject,
            content_type,
            data_schema,
            headers,
            payload,
        })
    }

    fn no_payload(&self) -> EventError {
        EventError::NoPayload {
            topic: self.topic.to_string(),
        }
    }

    fn encode_value(&self, value: &ValuePayload) -> Result<Value, EventError> {
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

/// Builds a [`DynamicEvent`]; made by [`DynamicEvent::builder`].
///
/// Setters never fail: the first problem (bad topic, bad header name, a value
/// [`json`](Self::json) could not serialize, empty attribute, time out of range) is returned
/// by [`build`](Self::build).
#[must_use = "a builder does nothing until `.build()`"]
pub struct DynamicEventBuilder {
    topic: Result<Topic, EventError>,
    id: Option<String>,
    source: Option<String>,
    time: Option<SystemTime>,
    subject: Option<String>,
    content_type: Option<String>,
    data_schema: Option<String>,
    headers: BTreeMap<String, String>,
    header_error: Option<EventError>,
    payload: Payload,
    /// Why [`json`](Self::json) could not serialize the current payload, reported by `build`.
    json_error: Option<(&'static str, serde_json::Error)>,
}

impl DynamicEventBuilder {
    fn new(topic: Result<Topic, EventError>) -> Self {
        DynamicEventBuilder {
            topic,
            id: None,
            source: None,
            time: None,
            subject: None,
            content_type: None,
            data_schema: None,
            headers: BTreeMap::new(),
            header_error: None,
            payload: Payload::Empty,
            json_error: None,
        }
    }

    /// Sets the CloudEvents `id` (default: a random UUID v4). Must not be empty.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the CloudEvents `source`, a URI-reference such as `/shop/checkout` (default
    /// `"staticbus"`). Must not be empty.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the CloudEvents `time` (default: when [`build`](Self::build) runs). Must lie
    /// between 1970-01-01 and the end of year 9999, the range RFC 3339 timestamps can carry
    /// here.
    pub fn time(mut self, time: SystemTime) -> Self {
        self.time = Some(time);
        self
    }

    /// Sets the CloudEvents `subject`. Must not be empty.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the CloudEvents `datacontenttype`, e.g. `application/json`. Must not be empty.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Sets the CloudEvents `dataschema`, a URI. Must not be empty.
    pub fn data_schema(mut self, data_schema: impl Into<String>) -> Self {
        self.data_schema = Some(data_schema.into());
        self
    }

    /// Adds a header: a CloudEvents extension attribute. A second value for one name replaces
    /// the first.
    ///
    /// Names are 1 to 20 lowercase ASCII letters or digits (`traceparent`, `tenant`) and
    /// not one of the CloudEvents attributes (`id`, `type`, `time`, ...); anything else makes
    /// [`build`](Self::build) fail.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        if let Err(e) = check_header_name(&name) {
            self.header_error.get_or_insert(e);
        } else {
            self.headers.insert(name, value.into());
        }
        self
    }

    /// Sets the payload to these bytes, shared, not copied (a `Vec<u8>`, `String`,
    /// `&'static [u8]` or [`Bytes`]).
    pub fn bytes(self, bytes: impl Into<Bytes>) -> Self {
        self.payload(Payload::bytes(bytes))
    }

    /// Serializes `value` as JSON once, now, into the payload bytes, and sets the content
    /// type to `application/json` (a later [`content_type`](Self::content_type) overrides it,
    /// e.g. with `application/vnd.shop+json`). If serialization fails,
    /// [`build`](Self::build) returns [`EventError::Serialize`], unless a later payload
    /// setter replaced this payload.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(bytes) => {
                self.content_type = Some(JSON_CONTENT_TYPE.to_owned());
                self.payload(Payload::Bytes(Bytes::from(bytes)))
            }
            Err(source) => {
                self.payload = Payload::Empty;
                self.json_error = Some((type_name::<T>(), source));
                self
            }
        }
    }

    /// Sets the payload to a value subscribers read with
    /// [`downcast_ref`](DynamicEvent::downcast_ref); it cannot be read as JSON.
    pub fn value<T: Any + Send + Sync>(self, value: T) -> Self {
        self.payload(Payload::value(value))
    }

    /// Sets the payload to a value subscribers read with
    /// [`downcast_ref`](DynamicEvent::downcast_ref), encoded as JSON only if one asks.
    pub fn serializable<T: Any + Send + Sync + Serialize>(self, value: T) -> Self {
        self.payload(Payload::serializable(value))
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: Payload) -> Self {
        self.payload = payload;
        self.json_error = None;
        self
    }

    /// Checks everything and makes the event.
    ///
    /// # Errors
    ///
    /// The first problem found: [`EventError::InvalidTopic`],
    /// [`EventError::InvalidHeaderName`], [`EventError::ReservedHeaderName`],
    /// [`EventError::Serialize`] (from [`json`](Self::json)), [`EventError::EmptyAttribute`],
    /// [`EventError::TimeOutOfRange`].
    pub fn build(self) -> Result<DynamicEvent, EventError> {
        let topic = self.topic?;
        if let Some(e) = self.header_error {
            return Err(e);
        }
        if let Some((type_name, source)) = self.json_error {
            return Err(EventError::Serialize {
                topic: topic.to_string(),
                type_name,
                source,
            });
        }
        let attributes = [
            ("id", &self.id),
            ("source", &self.source),
            ("subject", &self.subject),
            ("datacontenttype", &self.content_type),
            ("dataschema", &self.data_schema),
        ];
        for (attribute, value) in attributes {
            if value.as_deref() == Some("") {
                return Err(EventError::EmptyAttribute { attribute });
            }
        }
        let time = self.time.unwrap_or_else(SystemTime::now);
        check_time(time)?;
        Ok(DynamicEvent {
            id: self.id.map_or_else(new_id, Arc::from),
            topic,
            source: self.source.map_or_else(default_source, Arc::from),
            time,
            subject: self.subject,
            content_type: self.content_type,
            data_schema: self.data_schema,
            headers: self.headers,
            payload: self.payload,
        })
    }
}

impl fmt::Debug for DynamicEventBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicEventBuilder")
            .field("topic", &self.topic.as_ref().map(Topic::as_str))
            .field("payload", &self.payload)
            .finish_non_exhaustive()
    }
}

/// What a [`DynamicEvent`] carries: nothing, bytes, or a shared value.
///
/// Cloning never copies the data: [`Bytes`] and [`Arc`] are reference-counted.
#[derive(Clone, Default)]
pub enum Payload {
    /// No payload.
    #[default]
    Empty,
    /// Encoded bytes (JSON, protobuf, text, ...), described by the event's content type.
    Bytes(Bytes),
    /// A Rust value, shared behind an `Arc`.
    Value(ValuePayload),
}

impl Payload {
    /// A bytes payload, shared, not copied.
    pub fn bytes(bytes: impl Into<Bytes>) -> Payload {
        Payload::Bytes(bytes.into())
    }

    /// A value payload, moved once into an `Arc`. It cannot be read as JSON; use
    /// [`serializable`](Self::serializable) for that.
    pub fn value<T: Any + Send + Sync>(value: T) -> Payload {
        Payload::shared(Arc::new(value))
    }

    /// A value payload that can be read as JSON, encoded only when someone asks.
    pub fn serializable<T: Any + Send + Sync + Serialize>(value: T) -> Payload {
        Payload::shared_serializable(Arc::new(value))
    }

    /// A value payload already behind an `Arc`, shared as it is.
    pub fn shared<T: Any + Send + Sync>(value: Arc<T>) -> Payload {
        Payload::from_parts(value, type_name::<T>(), None)
    }

    /// A serializable value payload already behind an `Arc`, shared as it is.
    pub fn shared_serializable<T: Any + Send + Sync + Serialize>(value: Arc<T>) -> Payload {
        Payload::from_parts(value, type_name::<T>(), Some(encode_json::<T> as JsonFn))
    }

    /// A value payload from its parts: the value, its type name, and how to encode it as JSON.
    ///
    /// Not public API. Used by the bus for static events. An encoder given another type
    /// returns an error, never panics.
    #[doc(hidden)]
    pub fn from_parts(
        value: Arc<dyn Any + Send + Sync>,
        type_name: &'static str,
        to_json: Option<JsonFn>,
    ) -> Payload {
        Payload::Value(ValuePayload {
            value,
            type_name,
            to_json,
            size: 0,
        })
    }

    /// Declares the size in bytes of a value payload, which [`size`](Self::size) and
    /// [`DynamicEvent::payload_len`] report (for payload limits and metrics). Other payloads
    /// are returned unchanged: bytes have their length.
    pub fn with_size(self, size: usize) -> Payload {
        match self {
            Payload::Value(value) => Payload::Value(ValuePayload { size, ..value }),
            other => other,
        }
    }

    /// The size in bytes: the length of bytes, the declared size of a value (0 unless set
    /// with [`with_size`](Self::with_size)), 0 for `Empty`.
    pub fn size(&self) -> usize {
        match self {
            Payload::Empty => 0,
            Payload::Bytes(bytes) => bytes.len(),
            Payload::Value(value) => value.size,
        }
    }

    /// Whether this is [`Payload::Empty`].
    pub fn is_empty(&self) -> bool {
        matches!(self, Payload::Empty)
    }

    /// The bytes, if this is [`Payload::Bytes`].
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Payload::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The value, if this is [`Payload::Value`].
    pub fn as_value(&self) -> Option<&ValuePayload> {
        match self {
            Payload::Value(value) => Some(value),
            _ => None,
        }
    }

    /// The value as a `T`, if it is a value of that type.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.as_value()?.downcast_ref()
    }

    /// The shared value as an `Arc<T>`, if it is a value of that type.
    pub fn downcast_arc<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.as_value()?.downcast_arc()
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Self {
        Payload::Bytes(bytes)
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Empty => f.write_str("Empty"),
            Payload::Bytes(bytes) => f.debug_struct("Bytes").field("len", &bytes.len()).finish(),
            Payload::Value(value) => value.fmt(f),
        }
    }
}

/// A shared Rust value: the payload of [`Payload::Value`].
#[derive(Clone)]
pub struct ValuePayload {
    value: Arc<dyn Any + Send + Sync>,
    type_name: &'static str,
    to_json: Option<JsonFn>,
    size: usize,
}

impl ValuePayload {
    /// The value's type name, as [`std::any::type_name`] gives it.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Whether the value is a `T`.
    pub fn is<T: Any>(&self) -> bool {
        (*self.value).is::<T>()
    }

    /// The value as a `T`, if it is one.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        (*self.value).downcast_ref::<T>()
    }

    /// The shared value as an `Arc<T>`, if it is a `T`; clones the `Arc`, not the value.
    pub fn downcast_arc<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        Arc::clone(&self.value).downcast::<T>().ok()
    }

    /// The value, type-erased.
    pub fn as_any(&self) -> &(dyn Any + Send + Sync) {
        &*self.value
    }

    /// The shared value, type-erased.
    pub(crate) fn any_arc(&self) -> Arc<dyn Any + Send + Sync> {
        Arc::clone(&self.value)
    }

    /// Whether the value can be encoded as JSON.
    pub fn is_serializable(&self) -> bool {
        self.to_json.is_some()
    }

    /// Encodes the value as JSON now; `None` if it has no JSON encoder.
    pub fn to_json(&self) -> Option<Result<Value, serde_json::Error>> {
        self.to_json.map(|encode| encode(&*self.value))
    }

    /// The declared size in bytes (see [`Payload::with_size`]).
    pub fn size(&self) -> usize {
        self.size
    }
}

impl fmt::Debug for ValuePayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value")
            .field("type_name", &self.type_name)
            .field("serializable", &self.is_serializable())
            .field("size", &self.size)
            .finish()
    }
}

/// Why a dynamic event could not be built, read or converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The topic is not a valid [`Topic`].
    #[error(transparent)]
    InvalidTopic(#[from] TopicError),
    /// A header name is not a valid CloudEvents extension attribute name.
    #[error(
        "invalid header name {name:?}: {reason}; header names are CloudEvents extension \
         attribute names, 1 to {max} lowercase ASCII letters or digits, e.g. \"traceparent\"",
        max = MAX_HEADER_NAME_LEN
    )]
    InvalidHeaderName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header name is one of the CloudEvents context attributes.
    #[error(
        "header name {name:?} is reserved for the CloudEvents `{name}` attribute, which is not \
         an extension; {hint}"
    )]
    ReservedHeaderName {
        /// The rejected name.
        name: String,
        /// How to set that attribute instead.
        hint: &'static str,
    },
    /// A CloudEvents attribute was set to an empty string.
    #[error(
        "the CloudEvents attribute `{attribute}` cannot be an empty string; set a value or \
         leave it unset for the default"
    )]
    EmptyAttribute {
        /// The attribute's CloudEvents name.
        attribute: &'static str,
    },
    /// The event time cannot be written as an RFC 3339 timestamp.
    #[error(
        "event time {} is out of range; CloudEvents times here lie between \
         1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z",
        DescribeTime(*.time)
    )]
    TimeOutOfRange {
        /// The rejected time.
        time: SystemTime,
    },
    /// A value given to [`DynamicEventBuilder::json`] could not be serialized.
    #[error("could not serialize the `{type_name}` payload of event {topic:?} as JSON: {source}")]
    Serialize {
        /// The event's topic.
        topic: String,
        /// The value's type.
        type_name: &'static str,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// The payload could not be converted to or from JSON.
    #[error("the payload of event {topic:?} could not be converted to or from JSON: {source}")]
    Json {
        /// The event's topic.
        topic: String,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// The payload is JSON that does not fit the requested type.
    #[error("the payload of event {topic:?} cannot be read as `{target}`: {source}")]
    Deserialize {
        /// The event's topic.
        topic: String,
        /// The type asked for.
        target: &'static str,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// JSON was asked of an event without a payload.
    #[error("event {topic:?} has no payload to read as JSON")]
    NoPayload {
        /// The event's topic.
        topic: String,
    },
    /// JSON was asked of a value payload that has no JSON encoder.
    #[error(
        "the payload of event {topic:?} is a `{type_name}` value without a JSON encoder; \
         publish it with `Payload::serializable` (or the builder's `.serializable()` or \
         `.json()`) to read or send it as JSON, or read it with `downcast_ref::<{type_name}>()`"
    )]
    NotSerializable {
        /// The event's topic.
        topic: String,
        /// The value's type.
        type_name: &'static str,
    },
    /// A value payload cannot be written as CloudEvents `data` under a non-JSON content type.
    #[error(
        "the payload of event {topic:?} is a `{type_name}` value, which CloudEvents JSON carries \
         as JSON, but its content type is {content_type:?}; leave the content type unset or \
         use a JSON one (`application/json`, `...+json`)"
    )]
    NotJsonContentType {
        /// The event's topic.
        topic: String,
        /// The value's type.
        type_name: &'static str,
        /// The event's content type.
        content_type: String,
    },
    /// Input given to [`DynamicEvent::from_cloudevent`] is not a valid CloudEvent.
    #[error("invalid CloudEvent: {reason}")]
    InvalidCloudEvent {
        /// What is wrong, naming the attribute.
        reason: String,
    },
}

/// For conversions that cannot fail, such as passing a [`Topic`] to
/// [`DynamicEvent::builder`].
impl From<Infallible> for EventError {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

/// A UUID v4 made of a random per-process half and a counter: unique, and cheap (one random
/// draw per process, not a system call per event).
fn new_id() -> Arc<str> {
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

fn default_source() -> Arc<str> {
    static SOURCE: std::sync::LazyLock<Arc<str>> =
        std::sync::LazyLock::new(|| Arc::from(DEFAULT_SOURCE));
    Arc::clone(&SOURCE)
}

fn encode_json<T: Any + Serialize>(
    value: &(dyn Any + Send + Sync),
) -> Result<Value, serde_json::Error> {
    match value.downcast_ref::<T>() {
        Some(value) => serde_json::to_value(value),
        None => Err(serde::ser::Error::custom(format_args!(
            "the JSON encoder of `{}` was given another type",
            type_name::<T>()
        ))),
    }
}

/// The reason `name` is not a valid extension attribute name, ignoring reserved names.
fn header_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if let Some((at, ch)) = name
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
    {
        return Some(format!(
            "character {ch:?} at byte {at} is not a lowercase ASCII letter or digit"
        ));
    }
    if name.len() > MAX_HEADER_NAME_LEN {
        return Some(format!("it is {} characters long", name.len()));
    }
    None
}

fn check_header_name(name: &str) -> Result<(), EventError> {
    if let Some(&(_, hint)) = RESERVED_ATTRIBUTES.iter().find(|(n, _)| *n == name) {
        return Err(EventError::ReservedHeaderName {
            name: name.to_owned(),
            hint,
        });
    }
    match header_name_problem(name) {
        Some(reason) => Err(EventError::InvalidHeaderName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// `application/json`, `text/json` or any `+json` suffix, ignoring parameters and case.
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

fn check_time(time: SystemTime) -> Result<(), EventError> {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) if since.as_secs() <= MAX_TIME_SECS => Ok(()),
        _ => Err(EventError::TimeOutOfRange { time }),
    }
}

/// RFC 3339 in UTC, with as many fractional digits as needed (none to nine).
fn rfc3339(time: SystemTime) -> Result<String, EventError> {
    // humantime panics before the epoch and fails after year 9999: check first.
    check_time(time)?;
    Ok(humantime::format_rfc3339(time).to_string())
}

/// Parses an RFC 3339 timestamp with a `Z` or numeric offset (humantime takes UTC only).
fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    const EXAMPLE: &str = "expected RFC 3339 such as \"2024-05-01T12:30:00Z\" or \
                           \"2024-05-01T14:30:00.5+02:00\"";
    // RFC 3339 allows lowercase `t` and `z`; humantime does not.
    let text = text.to_ascii_uppercase();
    let b = text.as_bytes();
    let (utc, offset_secs) = if text.ends_with('Z') {
        (text.clone(), 0)
    } else if b.len() >= 6
        && matches!(b[b.len() - 6], b'+' | b'-')
        && b[b.len() - 3] == b':'
        && [1, 2, 4, 5]
            .iter()
            .all(|&i| b[b.len() - 6 + i].is_ascii_digit())
    {
        let digits = |i: usize| i64::from(b[b.len() - 6 + i] - b'0');
        let hours = digits(1) * 10 + digits(2);
        let minutes = digits(4) * 10 + digits(5);
        if hours > 23 || minutes > 59 {
            return Err(format!("the UTC offset is out of range; {EXAMPLE}"));
        }
        let sign = if b[b.len() - 6] == b'-' { -1 } else { 1 };
        let head = text.get(..text.len() - 6).unwrap_or_default();
        (format!("{head}Z"), sign * (hours * 3600 + minutes * 60))
    } else {
        return Err(format!("it has no `Z` or UTC offset; {EXAMPLE}"));
    };
    const OUT_OF_RANGE: &str = "it lies outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59.999999999Z, \
                                the range staticbus supports";
    if utc
        .get(..4)
        .and_then(|year| year.parse::<u16>().ok())
        .is_some_and(|year| year < 1970)
    {
        return Err(OUT_OF_RANGE.into());
    }
    let local = humantime::parse_rfc3339(&utc).map_err(|e| format!("{e}; {EXAMPLE}"))?;
    let offset = Duration::from_secs(offset_secs.unsigned_abs());
    // A positive offset means the local time is ahead of UTC.
    let time = if offset_secs >= 0 {
        local.checked_sub(offset)
    } else {
        local.checked_add(offset)
    };
    match time {
        Some(time) if check_time(time).is_ok() => Ok(time),
        _ => Err(OUT_OF_RANGE.into()),
    }
}

/// A time for messages: RFC 3339 when it can be, else seconds from the epoch.
struct DescribeTime(SystemTime);

impl fmt::Display for DescribeTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match rfc3339(self.0) {
            Ok(text) => f.write_str(&text),
            Err(_) => match self.0.duration_since(UNIX_EPOCH) {
                Ok(after) => write!(f, "{}s after 1970-01-01T00:00:00Z", after.as_secs_f64()),
                Err(e) => write!(
                    f,
                    "{}s before 1970-01-01T00:00:00Z",
                    e.duration().as_secs_f64()
                ),
            },
        }
    }
}

/// Debug of a time as its RFC 3339 text, unquoted.
struct DebugTime(SystemTime);

impl fmt::Debug for DebugTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&DescribeTime(self.0), f)
    }
}

fn invalid_cloudevent(reason: String) -> EventError {
    EventError::InvalidCloudEvent { reason }
}

fn missing_attribute(name: &str) -> EventError {
    invalid_cloudevent(format!("the required attribute `{name}` is missing"))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn take_non_null(ce: &mut Map<String, Value>, name: &str) -> Option<Value> {
    ce.remove(name).filter(|v| !v.is_null())
}

/// A string attribute, `None` if absent or null.
fn take_string(ce: &mut Map<String, Value>, name: &str) -> Result<Option<String>, EventError> {
    match take_non_null(ce, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid_cloudevent(format!(
            "`{name}` must be a string, found a JSON {}",
            json_kind(&other)
        ))),
    }
}

/// An optional attribute: absent, or a non-empty string.
fn take_optional(ce: &mut Map<String, Value>, name: &str) -> Result<Option<String>, EventError> {
    match take_string(ce, name)? {
        Some(s) if s.is_empty() => Err(invalid_cloudevent(format!(
            "`{name}` is an empty string; omit it instead"
        ))),
        other => Ok(other),
    }
}

/// A required attribute: a non-empty string.
fn take_required(ce: &mut Map<String, Value>, name: &str) -> Result<String, EventError> {
    match take_string(ce, name)? {
        None => Err(missing_attribute(name)),
        Some(s) if s.is_empty() => Err(invalid_cloudevent(format!(
            "the required attribute `{name}` is an empty string"
        ))),
        Some(s) => Ok(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Order {
        id: u64,
        total: u64,
    }

    /// Serializing it always fails.
    struct Unserializable;

    impl Serialize for Unserializable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refuses to serialize"))
        }
    }

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    /// Every attribute and the payload bytes of two events agree.
    fn assert_same(a: &DynamicEvent, b: &DynamicEvent) {
        assert_eq!(a.id(), b.id());
        assert_eq!(a.topic(), b.topic());
        assert_eq!(a.source(), b.source());
        assert_eq!(a.time(), b.time());
        assert_eq!(a.subject(), b.subject());
        assert_eq!(a.content_type(), b.content_type());
        assert_eq!(a.data_schema(), b.data_schema());
        assert_eq!(a.headers(), b.headers());
        assert_eq!(a.bytes(), b.bytes());
        assert_eq!(a.payload().is_empty(), b.payload().is_empty());
    }

    fn roundtrip(event: &DynamicEvent) -> DynamicEvent {
        let json = serde_json::to_vec(&event.to_cloudevent().unwrap()).unwrap();
        DynamicEvent::from_cloudevent(&json).unwrap()
    }

    fn build_err(builder: DynamicEventBuilder) -> String {
        builder.build().expect_err("build should fail").to_string()
    }

    fn read_err(json: Value) -> String {
        match DynamicEvent::from_cloudevent_value(json) {
            Ok(e) => panic!("accepted {e:?}"),
            Err(e) => {
                assert!(matches!(e, EventError::InvalidCloudEvent { .. }), "{e:?}");
                e.to_string()
            }
        }
    }

    fn minimal() -> Value {
        json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "a.b"})
    }

    fn with(mut base: Value, key: &str, value: Value) -> Value {
        base[key] = value;
        base
    }

    fn without(mut base: Value, key: &str) -> Value {
        if let Value::Object(map) = &mut base {
            map.remove(key);
        }
        base
    }

    #[test]
    fn builder_defaults() {
        let before = SystemTime::now();
        let event = DynamicEvent::builder("order.placed").build().unwrap();
        let after = SystemTime::now();
        let id = uuid::Uuid::parse_str(event.id()).unwrap();
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(event.topic(), "order.placed");
        assert_eq!(event.source(), "staticbus");
        assert!(before <= event.time() && event.time() <= after);
        assert_eq!(event.subject(), None);
        assert_eq!(event.content_type(), None);
        assert_eq!(event.data_schema(), None);
        assert!(event.headers().is_empty());
        assert!(event.payload().is_empty());
        assert_eq!(event.payload_len(), 0);

        let other = DynamicEvent::builder("order.placed").build().unwrap();
        assert_ne!(event.id(), other.id());
    }

    #[test]
    fn builder_sets_everything() {
        let event = DynamicEvent::builder(String::from("billing.v2.invoice_sent"))
            .id("inv-1")
            .source("/billing")
            .time(at(1_700_000_000, 5))
            .subject("invoice/42")
            .content_type("text/plain")
            .data_schema("https://example.invalid/invoice.json")
            .header("tenant", "acme")
            .header("traceparent", "00-abc-def-01")
            .header("tenant", "globex")
            .bytes("hello")
            .build()
            .unwrap();
        assert_eq!(event.id(), "inv-1");
        assert_eq!(event.topic().as_str(), "billing.v2.invoice_sent");
        assert_eq!(event.source(), "/billing");
        assert_eq!(event.time(), at(1_700_000_000, 5));
        assert_eq!(event.subject(), Some("invoice/42"));
        assert_eq!(event.content_type(), Some("text/plain"));
        assert_eq!(
            event.data_schema(),
            Some("https://example.invalid/invoice.json")
        );
        assert_eq!(event.header("tenant"), Some("globex"));
        assert_eq!(event.header("traceparent"), Some("00-abc-def-01"));
        assert_eq!(event.header("missing"), None);
        assert_eq!(event.headers().len(), 2);
        assert_eq!(event.bytes().map(|b| &b[..]), Some(&b"hello"[..]));
        assert_eq!(event.payload_len(), 5);
    }

    #[test]
    fn builder_accepts_topic_values() {
        let topic = Topic::new("a.b").unwrap();
        let event = DynamicEvent::builder(topic.clone()).build().unwrap();
        assert_eq!(event.topic(), &topic);
        let event = DynamicEvent::new(topic, Payload::bytes(vec![1, 2])).unwrap();
        assert_eq!(event.payload_len(), 2);
        assert_eq!(
            DynamicEvent::new("a.b", Payload::Empty).unwrap().topic(),
            "a.b"
        );
    }

    #[test]
    fn invalid_topic_is_a_build_error() {
        let err = DynamicEvent::builder("order..placed")
            .header("Bad", "x")
            .build()
            .unwrap_err();
        assert!(matches!(err, EventError::InvalidTopic(_)), "{err:?}");
        assert!(
            err.to_string().starts_with(
                "invalid topic \"order..placed\": empty segment at byte 6; topics are"
            )
        );
        let err = DynamicEvent::new("order placed", Payload::Empty).unwrap_err();
        assert!(err.to_string().contains("character ' ' at byte 5"), "{err}");
    }

    #[test]
    fn header_names_are_checked() {
        for name in ["traceparent", "a", "x1", "abcdefghijklmnopqrst"] {
            let event = DynamicEvent::builder("a")
                .header(name, "v")
                .build()
                .unwrap();
            assert_eq!(event.header(name), Some("v"));
        }
        let cases = [
            (
                "",
                "invalid header name \"\": it is empty; header names are CloudEvents",
            ),
            (
                "TraceParent",
                "character 'T' at byte 0 is not a lowercase ASCII letter",
            ),
            ("trace-id", "character '-' at byte 5"),
            ("trace_id", "character '_' at byte 5"),
            ("caf\u{e9}", "character '\u{e9}' at byte 3"),
            ("abcdefghijklmnopqrstu", "it is 21 characters long"),
        ];
        for (name, expected) in cases {
            let err = build_err(DynamicEvent::builder("a").header(name, "v"));
            assert!(err.contains(expected), "{name:?}: {err}");
            assert!(
                err.contains("1 to 20 lowercase ASCII letters or digits"),
                "{err}"
            );
        }
        for (name, hint) in RESERVED_ATTRIBUTES {
            let err = DynamicEvent::builder("a")
                .header(*name, "v")
                .build()
                .unwrap_err();
            assert!(
                matches!(err, EventError::ReservedHeaderName { .. }),
                "{err:?}"
            );
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("header name {name:?} is reserved")),
                "{msg}"
            );
            assert!(msg.ends_with(hint), "{msg}");
        }
        // The first bad header is the one reported.
        let err = build_err(
            DynamicEvent::builder("a")
                .header("X", "1")
                .header("id", "2"),
        );
        assert!(err.contains("\"X\""), "{err}");
    }

    #[test]
    fn empty_attributes_are_errors() {
        type Setter = fn(DynamicEventBuilder) -> DynamicEventBuilder;
        let cases: [(Setter, &str); 5] = [
            (|b| b.id(""), "id"),
            (|b| b.source(""), "source"),
            (|b| b.subject(""), "subject"),
            (|b| b.content_type(""), "datacontenttype"),
            (|b| b.data_schema(""), "dataschema"),
        ];
        for (set, attribute) in cases {
            let err = set(DynamicEvent::builder("a")).build().unwrap_err();
            assert!(
                matches!(err, EventError::EmptyAttribute { attribute: a } if a == attribute),
                "{err:?}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "the CloudEvents attribute `{attribute}` cannot be an empty string; set a \
                     value or leave it unset for the default"
                )
            );
        }
    }

    #[test]
    fn time_must_be_representable() {
        let before_epoch = UNIX_EPOCH - Duration::from_secs(1);
        let err = build_err(DynamicEvent::builder("a").time(before_epoch));
        assert_eq!(
            err,
            "event time 1s before 1970-01-01T00:00:00Z is out of range; CloudEvents times here \
             lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z"
        );
        let err = build_err(DynamicEvent::builder("a").time(at(MAX_TIME_SECS + 1, 0)));
        assert!(
            err.contains("253402300800s after 1970-01-01T00:00:00Z"),
            "{err}"
        );

        for time in [UNIX_EPOCH, at(MAX_TIME_SECS, 999_999_999)] {
            let event = DynamicEvent::builder("a").time(time).build().unwrap();
            assert_eq!(roundtrip(&event).time(), time);
        }
        assert_eq!(
            rfc3339(at(MAX_TIME_SECS, 999_999_999)).unwrap(),
            "9999-12-31T23:59:59.999999999Z"
        );
    }

    #[test]
    fn json_builder_serializes_once() {
        let event = DynamicEvent::builder("shop.order.created")
            .json(&Order { id: 7, total: 990 })
            .build()
            .unwrap();
        assert_eq!(event.content_type(), Some("application/json"));
        assert_eq!(
            event.bytes().map(|b| &b[..]),
            Some(&br#"{"id":7,"total":990}"#[..])
        );
        assert_eq!(event.json::<Order>().unwrap(), Order { id: 7, total: 990 });
        assert_eq!(event.json_value().unwrap(), json!({"id": 7, "total": 990}));

        // A later content type wins; unsized values work.
        let event = DynamicEvent::builder("a")
            .json("text")
            .content_type("application/vnd.shop+json")
            .build()
            .unwrap();
        assert_eq!(event.content_type(), Some("application/vnd.shop+json"));
        assert_eq!(event.json::<String>().unwrap(), "text");
    }

    #[test]
    fn json_builder_error_surfaces_at_build() {
        let err = DynamicEvent::builder("a.b")
            .json(&Unserializable)
            .build()
            .unwrap_err();
        assert!(matches!(err, EventError::Serialize { .. }), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "could not serialize the `staticbus::dynamic::event::tests::Unserializable` \
                 payload of event \"a.b\" as JSON: refuses to serialize"
            ),
            "{msg}"
        );
        // An invalid topic is the first problem.
        let err = DynamicEvent::builder("a..b")
            .json(&Unserializable)
            .build()
            .unwrap_err();
        assert!(matches!(err, EventError::InvalidTopic(_)), "{err:?}");
        // A later payload replaces the failed one, and the failure leaves no content type.
        let event = DynamicEvent::builder("a.b")
            .json(&Unserializable)
            .bytes("ok")
            .build()
            .unwrap();
        assert_eq!(event.payload_len(), 2);
        assert_eq!(event.content_type(), None);
    }

    #[test]
    fn value_payloads_are_shared() {
        let event = DynamicEvent::builder("job.done")
            .value(Order { id: 1, total: 2 })
            .build()
            .unwrap();
        assert_eq!(
            event.downcast_ref::<Order>(),
            Some(&Order { id: 1, total: 2 })
        );
        assert_eq!(event.downcast_ref::<u64>(), None);
        assert!(event.bytes().is_none());
        let a = event.value_arc::<Order>().unwrap();
        let clone = event.clone();
        let b = clone.value_arc::<Order>().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(event.value_arc::<String>().is_none());
        assert_eq!(event.payload_len(), 0);

        let value = event.payload().as_value().unwrap();
        assert!(value.is::<Order>());
        assert!(!value.is_serializable());
        assert!(value.to_json().is_none());
        assert!(value.as_any().downcast_ref::<Order>().is_some());
        assert_eq!(value.type_name(), "staticbus::dynamic::event::tests::Order");

        let shared = Arc::new(Order { id: 3, total: 4 });
        let event = DynamicEvent::new("a", Payload::shared(Arc::clone(&shared))).unwrap();
        assert!(Arc::ptr_eq(&event.value_arc::<Order>().unwrap(), &shared));
        let event = DynamicEvent::new("a", Payload::shared_serializable(shared)).unwrap();
        assert_eq!(event.json::<Order>().unwrap(), Order { id: 3, total: 4 });
    }

    #[test]
    fn bytes_payloads_are_shared() {
        let event = DynamicEvent::builder("a")
            .bytes(vec![7u8; 4096])
            .build()
            .unwrap();
        let clone = event.clone();
        assert_eq!(
            event.bytes().unwrap().as_ptr(),
            clone.bytes().unwrap().as_ptr()
        );
        assert_eq!(event.payload_len(), 4096);
        assert!(event.downcast_ref::<Vec<u8>>().is_none());
        assert!(event.value_arc::<Vec<u8>>().is_none());
        assert_eq!(Payload::from(Bytes::from_static(b"x")).size(), 1);
    }

    #[test]
    fn declared_value_size() {
        let payload = Payload::value([0u8; 64]).with_size(64);
        assert_eq!(payload.size(), 64);
        let event = DynamicEvent::new("a", payload).unwrap();
        assert_eq!(event.payload_len(), 64);
        assert_eq!(event.payload().as_value().unwrap().size(), 64);
        assert_eq!(Payload::bytes("abc").with_size(99).size(), 3);
        assert_eq!(Payload::Empty.with_size(99).size(), 0);
    }

    #[test]
    fn serializable_values_encode_on_demand() {
        let event = DynamicEvent::builder("a")
            .serializable(Order { id: 1, total: 2 })
            .build()
            .unwrap();
        assert!(event.payload().as_value().unwrap().is_serializable());
        assert_eq!(event.json::<Order>().unwrap(), Order { id: 1, total: 2 });
        assert_eq!(event.json_value().unwrap(), json!({"id": 1, "total": 2}));
        assert_eq!(
            event.downcast_ref::<Order>(),
            Some(&Order { id: 1, total: 2 })
        );
    }

    #[test]
    fn json_read_errors_name_the_topic() {
        let empty = DynamicEvent::builder("a.empty").build().unwrap();
        let err = empty.json::<Order>().unwrap_err();
        assert!(matches!(err, EventError::NoPayload { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "event \"a.empty\" has no payload to read as JSON"
        );

        let value = DynamicEvent::new("a.value", Payload::value(5u32)).unwrap();
        let err = value.json_value().unwrap_err();
        assert!(matches!(err, EventError::NotSerializable { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "the payload of event \"a.value\" is a `u32` value without a JSON encoder; \
                 publish it with `Payload::serializable`"
            ),
            "{msg}"
        );
        assert!(msg.contains("downcast_ref::<u32>()"), "{msg}");

        let malformed = DynamicEvent::builder("a.bad")
            .bytes("{not json")
            .build()
            .unwrap();
        let err = malformed.json::<Order>().unwrap_err();
        assert!(matches!(err, EventError::Deserialize { .. }), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "the payload of event \"a.bad\" cannot be read as \
                 `staticbus::dynamic::event::tests::Order`: key must be a string"
            ),
            "{msg}"
        );
        assert!(malformed.json_value().is_err());

        let wrong_shape = DynamicEvent::builder("a.shape")
            .json(&json!({"id": "x"}))
            .build()
            .unwrap();
        let msg = wrong_shape.json::<Order>().unwrap_err().to_string();
        assert!(msg.contains("cannot be read as"), "{msg}");
        assert!(
            msg.contains("invalid type: string \"x\", expected u64"),
            "{msg}"
        );

        let failing = DynamicEvent::new("a.fail", Payload::serializable(Unserializable)).unwrap();
        let err = failing.json_value().unwrap_err();
        assert!(matches!(err, EventError::Json { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the payload of event \"a.fail\" could not be converted to or from JSON: refuses to \
             serialize"
        );
    }

    #[test]
    fn mismatched_encoder_is_an_error_not_a_panic() {
        let payload =
            Payload::from_parts(Arc::new(5u8), "u8", Some(encode_json::<Order> as JsonFn));
        let event = DynamicEvent::new("a", payload).unwrap();
        let msg = event.json_value().unwrap_err().to_string();
        assert!(
            msg.contains("the JSON encoder of `staticbus::dynamic::event::tests::Order` was given another type"),
            "{msg}"
        );
        assert_eq!(event.downcast_ref::<u8>(), Some(&5));
    }

    #[test]
    fn debug_shows_the_payload_length_only() {
        let event = DynamicEvent::builder("upload.file")
            .id("1")
            .time(at(1_700_000_000, 0))
            .bytes(vec![b'x'; 1 << 20])
            .build()
            .unwrap();
        let debug = format!("{event:?}");
        assert!(debug.len() < 400, "{debug}");
        assert_eq!(
            debug,
            "DynamicEvent { id: \"1\", topic: \"upload.file\", source: \"staticbus\", time: \
             2023-11-14T22:13:20Z, subject: None, content_type: None, data_schema: None, \
             headers: {}, payload: Bytes { len: 1048576 } }"
        );
        let value = DynamicEvent::new("a", Payload::serializable(vec![0u64; 1000])).unwrap();
        let debug = format!("{:?}", value.payload());
        assert_eq!(
            debug,
            "Value { type_name: \"alloc::vec::Vec<u64>\", serializable: true, size: 0 }"
        );
        assert_eq!(format!("{:?}", Payload::Empty), "Empty");
        let builder = format!("{:?}", DynamicEvent::builder("a").bytes("xy"));
        assert_eq!(
            builder,
            "DynamicEventBuilder { topic: Ok(\"a\"), payload: Bytes { len: 2 }, .. }"
        );
    }

    #[test]
    fn cloudevent_json_exact() {
        let event = DynamicEvent::builder("order.placed")
            .id("A234-1234-1234")
            .source("/shop/checkout")
            .time(at(1_700_000_000, 120_000_000))
            .subject("order/7")
            .data_schema("https://example.invalid/order.json")
            .header("tenant", "acme")
            .header("traceparent", "00-1-2-01")
            .json(&Order { id: 7, total: 990 })
            .build()
            .unwrap();
        assert_eq!(
            event.to_cloudevent().unwrap(),
            json!({
                "specversion": "1.0",
                "id": "A234-1234-1234",
                "source": "/shop/checkout",
                "type": "order.placed",
                "time": "2023-11-14T22:13:20.120000000Z",
                "subject": "order/7",
                "datacontenttype": "application/json",
                "dataschema": "https://example.invalid/order.json",
                "tenant": "acme",
                "traceparent": "00-1-2-01",
                "data": {"id": 7, "total": 990},
            })
        );
    }

    #[test]
    fn cloudevent_data_encoding() {
        let ce = |builder: DynamicEventBuilder| builder.build().unwrap().to_cloudevent().unwrap();

        let empty = ce(DynamicEvent::builder("a"));
        assert!(empty.get("data").is_none() && empty.get("data_base64").is_none());
        assert!(empty.get("datacontenttype").is_none());

        let binary = ce(DynamicEvent::builder("a").bytes(vec![0u8, 159, 255]));
        assert_eq!(binary["data_base64"], "AJ//");
        assert!(binary.get("data").is_none());

        let text = ce(DynamicEvent::builder("a")
            .content_type("text/plain")
            .bytes("hi"));
        assert_eq!(text["data_base64"], "aGk=");

        for content_type in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/cloudevents+json",
            "text/json",
        ] {
            let doc = ce(DynamicEvent::builder("a")
                .content_type(content_type)
                .bytes(r#"{"k":[1,2]}"#));
            assert_eq!(doc["data"], json!({"k": [1, 2]}), "{content_type}");
            assert_eq!(doc["datacontenttype"], content_type);
        }

        let value = ce(DynamicEvent::builder("a").serializable(Order { id: 1, total: 2 }));
        assert_eq!(value["data"], json!({"id": 1, "total": 2}));
        assert_eq!(value["datacontenttype"], "application/json");

        let typed = ce(DynamicEvent::builder("a")
            .content_type("application/vnd.x+json")
            .serializable(3u8));
        assert_eq!(typed["data"], 3);
        assert_eq!(typed["datacontenttype"], "application/vnd.x+json");
    }

    #[test]
    fn cloudevent_encoding_errors() {
        let not_serializable = DynamicEvent::new("a.v", Payload::value(1u8)).unwrap();
        let err = not_serializable.to_cloudevent().unwrap_err();
        assert!(matches!(err, EventError::NotSerializable { .. }), "{err:?}");

        let text_value = DynamicEvent::builder("a.v")
            .content_type("text/plain")
            .serializable(1u8)
            .build()
            .unwrap();
        let err = text_value.to_cloudevent().unwrap_err();
        assert!(
            matches!(err, EventError::NotJsonContentType { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("but its content type is \"text/plain\""),
            "{err}"
        );

        let bad_json = DynamicEvent::builder("a.j")
            .content_type("application/json")
            .bytes("{oops")
            .build()
            .unwrap();
        let err = bad_json.to_cloudevent().unwrap_err();
        assert!(matches!(err, EventError::Json { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with("the payload of event \"a.j\""),
            "{err}"
        );

        let failing = DynamicEvent::new("a.f", Payload::serializable(Unserializable)).unwrap();
        assert!(matches!(
            failing.to_cloudevent().unwrap_err(),
            EventError::Json { .. }
        ));
    }

    #[test]
    fn roundtrip_bytes() {
        let all_bytes: Vec<u8> = (0..=255).collect();
        let event = DynamicEvent::builder("blob.stored")
            .source("urn:store")
            .content_type("application/octet-stream")
            .bytes(all_bytes.clone())
            .build()
            .unwrap();
        let back = roundtrip(&event);
        assert_same(&event, &back);
        assert_eq!(back.bytes().unwrap(), &all_bytes[..]);

        // No content type: still base64, still no content type.
        let event = DynamicEvent::builder("blob.raw")
            .bytes(vec![1, 2, 3])
            .build()
            .unwrap();
        assert_same(&event, &roundtrip(&event));

        // Empty bytes are not an empty payload.
        let event = DynamicEvent::builder("blob.empty")
            .bytes(Bytes::new())
            .build()
            .unwrap();
        let back = roundtrip(&event);
        assert_eq!(back.bytes().map(Bytes::len), Some(0));
    }

    #[test]
    fn roundtrip_json_and_attributes() {
        let event = DynamicEvent::builder("shop.order.created")
            .id("order-7")
            .source("https://shop.example.invalid/orders")
            .subject("7")
            .data_schema("https://example.invalid/order.json")
            .header("tenant", "acme")
            .header("priority", "5")
            .json(&Order { id: 7, total: 990 })
            .build()
            .unwrap();
        let back = roundtrip(&event);
        assert_same(&event, &back);
        assert_eq!(back.json::<Order>().unwrap(), Order { id: 7, total: 990 });

        let empty = DynamicEvent::builder("a").build().unwrap();
        assert_same(&empty, &roundtrip(&empty));

        // A serializable value comes back as JSON bytes.
        let value = DynamicEvent::builder("a")
            .serializable(Order { id: 1, total: 2 })
            .build()
            .unwrap();
        let back = roundtrip(&value);
        assert_eq!(back.content_type(), Some("application/json"));
        assert_eq!(back.json::<Order>().unwrap(), Order { id: 1, total: 2 });
        assert!(back.downcast_ref::<Order>().is_none());
    }

    #[test]
    fn roundtrip_time_precision() {
        for (secs, nanos, text) in [
            (0, 0, "1970-01-01T00:00:00Z"),
            (1_700_000_000, 0, "2023-11-14T22:13:20Z"),
            (1_700_000_000, 1, "2023-11-14T22:13:20.000000001Z"),
            (1_700_000_000, 123_456_789, "2023-11-14T22:13:20.123456789Z"),
            (1_700_000_000, 500_000_000, "2023-11-14T22:13:20.500000000Z"),
            (951_782_400, 0, "2000-02-29T00:00:00Z"),
        ] {
            let event = DynamicEvent::builder("t")
                .time(at(secs, nanos))
                .build()
                .unwrap();
            assert_eq!(event.to_cloudevent().unwrap()["time"], text);
            assert_eq!(roundtrip(&event).time(), at(secs, nanos), "{text}");
        }
        // Now, with whatever precision the clock has.
        let event = DynamicEvent::builder("t").build().unwrap();
        assert_eq!(roundtrip(&event).time(), event.time());
    }

    #[test]
    fn reads_time_offsets_and_case() {
        let base = at(1_700_000_000, 0); // 2023-11-14T22:13:20Z
        for (text, expected) in [
            ("2023-11-14T22:13:20Z", base),
            ("2023-11-14t22:13:20z", base),
            ("2023-11-14T22:13:20+00:00", base),
            ("2023-11-14T22:13:20-00:00", base),
            ("2023-11-15T00:13:20+02:00", base),
            ("2023-11-14T16:43:20-05:30", base),
            (
                "2023-11-15T00:13:20.25+02:00",
                base + Duration::from_millis(250),
            ),
            (
                "2023-11-14T22:13:20.1234567891Z",
                base + Duration::from_nanos(123_456_789),
            ),
        ] {
            let event =
                DynamicEvent::from_cloudevent_value(with(minimal(), "time", text.into())).unwrap();
            assert_eq!(event.time(), expected, "{text}");
        }
    }

    #[test]
    fn reads_missing_time_as_now_and_nulls_as_absent() {
        let before = SystemTime::now();
        let event = DynamicEvent::from_cloudevent_value(minimal()).unwrap();
        assert!(event.time() >= before);
        assert_eq!(event.id(), "1");
        assert_eq!(event.source(), "/s");
        assert_eq!(event.topic(), "a.b");
        assert!(event.payload().is_empty());

        let nulls = json!({
            "specversion": "1.0", "id": "1", "source": "/s", "type": "a.b",
            "time": null, "subject": null, "datacontenttype": null, "dataschema": null,
            "data": null, "data_base64": null, "tenant": null,
        });
        let event = DynamicEvent::from_cloudevent_value(nulls).unwrap();
        assert_eq!(
            (event.subject(), event.content_type(), event.data_schema()),
            (None, None, None)
        );
        assert!(event.headers().is_empty());
        assert!(event.payload().is_empty());
    }

    #[test]
    fn reads_data_by_content_type() {
        // No content type: `data` is JSON, and the content type is recorded.
        let event = DynamicEvent::from_cloudevent_value(with(
            minimal(),
            "data",
            json!({"id": 1, "total": 2}),
        ))
        .unwrap();
        assert_eq!(event.content_type(), Some("application/json"));
        assert_eq!(event.json::<Order>().unwrap(), Order { id: 1, total: 2 });

        // A JSON string under a JSON content type stays a JSON string.
        let doc = with(
            with(minimal(), "datacontenttype", "application/json".into()),
            "data",
            "hi".into(),
        );
        let event = DynamicEvent::from_cloudevent_value(doc).unwrap();
        assert_eq!(event.bytes().unwrap(), &b"\"hi\""[..]);

        // Text stays text.
        let doc = with(
            with(minimal(), "datacontenttype", "text/plain".into()),
            "data",
            "hi there".into(),
        );
        let event = DynamicEvent::from_cloudevent_value(doc).unwrap();
        assert_eq!(event.bytes().unwrap(), &b"hi there"[..]);
        assert_eq!(event.content_type(), Some("text/plain"));

        // Extensions of every scalar type become strings.
        let doc = json!({
            "specversion": "1.0", "id": "1", "source": "/s", "type": "a.b",
            "tenant": "acme", "count": 5, "ratio": 0.5, "sampled": true,
        });
        let event = DynamicEvent::from_cloudevent_value(doc).unwrap();
        assert_eq!(event.header("tenant"), Some("acme"));
        assert_eq!(event.header("count"), Some("5"));
        assert_eq!(event.header("ratio"), Some("0.5"));
        assert_eq!(event.header("sampled"), Some("true"));
    }

    #[test]
    fn malformed_cloudevents_are_errors() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!([minimal()]),
                "it is a JSON array (a batch); read each element on its own",
            ),
            (json!("event"), "it is a JSON string, not an object"),
            (json!(null), "it is a JSON null, not an object"),
            (
                without(minimal(), "specversion"),
                "the required attribute `specversion` is missing",
            ),
            (
                with(minimal(), "specversion", "0.3".into()),
                "`specversion` is \"0.3\"; only CloudEvents \"1.0\" is supported",
            ),
            (
                with(minimal(), "specversion", json!(1.0)),
                "`specversion` must be a string, found a JSON number",
            ),
            (
                without(minimal(), "id"),
                "the required attribute `id` is missing",
            ),
            (
                with(minimal(), "id", json!(null)),
                "the required attribute `id` is missing",
            ),
            (
                with(minimal(), "id", "".into()),
                "the required attribute `id` is an empty string",
            ),
            (
                with(minimal(), "id", json!(42)),
                "`id` must be a string, found a JSON number",
            ),
            (
                without(minimal(), "source"),
                "the required attribute `source` is missing",
            ),
            (
                without(minimal(), "type"),
                "the required attribute `type` is missing",
            ),
            (
                with(minimal(), "type", "com.example/created".into()),
                "`type` \"com.example/created\" is not a valid staticbus topic (invalid topic \
                 \"com.example/created\": character '/' at byte 11 is not allowed",
            ),
            (
                with(minimal(), "type", json!(["a"])),
                "`type` must be a string, found a JSON array",
            ),
            (
                with(minimal(), "time", json!(0)),
                "`time` must be a string, found a JSON number",
            ),
            (
                with(minimal(), "time", "yesterday".into()),
                "`time` \"yesterday\" is not usable: it has no `Z` or UTC offset",
            ),
            (
                with(minimal(), "time", "2023-11-14 22:13:20Z".into()),
                "`time` \"2023-11-14 22:13:20Z\" is not usable: timestamp format is invalid",
            ),
            (
                with(minimal(), "time", "2023-13-14T22:13:20Z".into()),
                "is not usable: numeric component is out of range; expected RFC 3339",
            ),
            (
                with(minimal(), "time", "2023-11-14T22:13:20+24:00".into()),
                "is not usable: the UTC offset is out of range",
            ),
            (
                with(minimal(), "time", "1969-12-31T23:59:59Z".into()),
                "is not usable: it lies outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59",
            ),
            (
                with(minimal(), "time", "1970-01-01T00:30:00+01:00".into()),
                "is not usable: it lies outside 1970-01-01T00:00:00Z",
            ),
            (
                with(minimal(), "time", "9999-12-31T23:30:00-01:00".into()),
                "is not usable: it lies outside",
            ),
            (
                with(minimal(), "time", "2023-11-14T22:13:20\u{e9}00:00".into()),
                "is not usable",
            ),
            (
                with(minimal(), "subject", "".into()),
                "`subject` is an empty string; omit it instead",
            ),
            (
                with(minimal(), "datacontenttype", json!(true)),
                "`datacontenttype` must be a string, found a JSON boolean",
            ),
            (
                with(
                    with(minimal(), "data", json!(1)),
                    "data_base64",
                    "AA==".into(),
                ),
                "it has both `data` and `data_base64`; an event carries at most one",
            ),
            (
                with(minimal(), "data_base64", json!([1, 2])),
                "`data_base64` must be a base64 string, found a JSON array",
            ),
            (
                with(minimal(), "data_base64", "not base64!".into()),
                "`data_base64` is not valid base64: ",
            ),
            (
                with(
                    with(minimal(), "datacontenttype", "text/plain".into()),
                    "data",
                    json!({"a": 1}),
                ),
                "`data` is a JSON object but `datacontenttype` \"text/plain\" is not a JSON \
                 media type",
            ),
            (
                with(minimal(), "TraceParent", "x".into()),
                "extension attribute \"TraceParent\" has an invalid name: character 'T' at \
                 byte 0 is not a lowercase ASCII letter or digit",
            ),
            (
                with(minimal(), "trace_id", "x".into()),
                "extension attribute \"trace_id\" has an invalid name: character '_' at byte 5",
            ),
            (
                with(minimal(), "abcdefghijklmnopqrstu", "x".into()),
                "it is 21 characters long",
            ),
            (
                with(minimal(), "tenant", json!({"id": 1})),
                "extension attribute \"tenant\" is a JSON object; extension values must be \
                 strings, numbers or booleans",
            ),
            (
                with(minimal(), "tags", json!(["a"])),
                "extension attribute \"tags\" is a JSON array",
            ),
        ];
        for (input, expected) in cases {
            let err = read_err(input.clone());
            assert!(err.starts_with("invalid CloudEvent: "), "{err}");
            assert!(
                err.contains(expected),
                "{input}\n  got: {err}\n  want: {expected}"
            );
        }
    }

    #[test]
    fn malformed_bytes_are_errors() {
        for input in [
            &b""[..],
            b"{",
            b"\xff\xfe",
            b"{\"specversion\": \"1.0\",}",
            b"nul",
        ] {
            let err = DynamicEvent::from_cloudevent(input).unwrap_err();
            assert!(
                matches!(err, EventError::InvalidCloudEvent { .. }),
                "{err:?}"
            );
            assert!(
                err.to_string()
                    .starts_with("invalid CloudEvent: it is not JSON: "),
                "{err}"
            );
        }
        // Deep nesting hits serde_json's recursion limit instead of the stack.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(DynamicEvent::from_cloudevent(deep.as_bytes()).is_err());
    }

    #[test]
    fn json_media_types() {
        for (ct, json) in [
            ("application/json", true),
            (" application/json ; charset=utf-8", true),
            ("APPLICATION/JSON", true),
            ("application/cloudevents+json", true),
            ("text/json", true),
            ("application/jsonx", false),
            ("text/plain", false),
            ("application/octet-stream", false),
            ("", false),
        ] {
            assert_eq!(is_json_media_type(ct), json, "{ct:?}");
        }
    }

    #[test]
    fn errors_are_send_sync_static() {
        fn check<E: std::error::Error + Send + Sync + 'static>() {}
        check::<EventError>();
        check::<TopicError>();
        check::<crate::PatternError>();
    }
}
