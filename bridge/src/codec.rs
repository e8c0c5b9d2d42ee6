//! How an event becomes a broker message and back. The CloudEvents attributes travel in
//! headers (`ce-id`, `ce-source`, `ce-type`, `ce-time`, `ce-subject`, `ce-dataschema`,
//! `content-type`), the event's own headers (trace context among them) under their names,
//! and the body is the payload: JSON by default ([`JsonCodec`]); another codec changes the
//! body's format only (`CborCodec`, feature `cbor`: JSON payloads as CBOR).

use std::time::SystemTime;

use bytes::Bytes;
use staticbus::DynamicEvent;

use crate::transport::Headers;

/// The header of the event id (also the broker's deduplication id).
pub const ID: &str = "ce-id";
/// The header of the event's source.
pub const SOURCE: &str = "ce-source";
/// The header of the event's topic (its CloudEvents type).
pub const TYPE: &str = "ce-type";
/// The header of the event's time (RFC 3339).
pub const TIME: &str = "ce-time";
/// The header of the event's subject.
pub const SUBJECT: &str = "ce-subject";
/// The header of the event's data schema.
pub const DATA_SCHEMA: &str = "ce-dataschema";
/// The header of the payload's content type.
pub const CONTENT_TYPE: &str = "content-type";
/// The header marking an event that came in from the broker: set on every event the bridge
/// delivers locally, and never exported back (loop prevention). Its value names the bridge.
/// (Names that are both message and event headers: 1 to 20 of `a-z0-9`.)
pub const ORIGIN: &str = "staticbusorigin";
/// The header of the id of the event whose handling published this one, when known.
pub const CAUSATION: &str = "causationid";
/// The header of the first event of the flow this one belongs to, when known.
pub const CORRELATION: &str = "correlationid";
/// The header of a body `CborCodec` (feature `cbor`) made CBOR from JSON: its value is the
/// payload's content type, given back on decoding (with the body made JSON again).
pub const CBOR_FROM: &str = "staticbuscbor";

/// Headers the codec writes itself: an event header of one of these names is not copied.
pub const RESERVED: &[&str] = &[
    ID,
    SOURCE,
    TYPE,
    TIME,
    SUBJECT,
    DATA_SCHEMA,
    CONTENT_TYPE,
    ORIGIN,
    CBOR_FROM,
    "Nats-Msg-Id",
];

/// An event that cannot be encoded, or a message that is not an event.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The event's payload has no form the codec can send (a value that is not
    /// serializable).
    #[error("event `{topic}` (id `{id}`) cannot be encoded: {reason}")]
    Encode {
        /// Its topic.
        topic: String,
        /// Its id.
        id: String,
        /// Why.
        reason: String,
    },
    /// A message the codec cannot read as an event.
    #[error("the message on `{subject}` is not an event: {reason}")]
    Decode {
        /// Its subject.
        subject: String,
        /// Why.
        reason: String,
    },
}

/// Turns events into message headers and body, and back.
pub trait Codec: Send + Sync + 'static {
    /// The headers and body of `event`.
    fn encode(&self, event: &DynamicEvent) -> Result<(Headers, Bytes), CodecError>;
    /// The event a message carries (`subject`: the topic when no header names it, and
    /// where it came from, for errors; `headers`: name and value).
    fn decode(
        &self,
        subject: &str,
        headers: &[(&str, &str)],
        body: &Bytes,
    ) -> Result<DynamicEvent, CodecError>;
}

/// The default codec: the payload as JSON (a JSON payload as it is, byte for byte; bytes
/// as they are, under their content type; a value made serializable, or a static event
/// whose type is `Serialize`, encoded to JSON), the attributes in headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn encode(&self, event: &DynamicEvent) -> Result<(Headers, Bytes), CodecError> {
        let (body, content_type) = match event.bytes() {
            Some(bytes) => (bytes.clone(), event.content_type()),
            None if event.payload().is_empty() => (Bytes::new(), event.content_type()),
            None => {
                let failed = |reason: String| CodecError::Encode {
                    topic: event.topic().as_str().to_owned(),
                    id: event.id().to_owned(),
                    reason,
                };
                let value = event.json_value().map_err(|e| failed(e.to_string()))?;
                let json = serde_json::to_vec(&value).map_err(|e| failed(e.to_string()))?;
                (Bytes::from(json), Some("application/json"))
            }
        };
        Ok((attributes(event, content_type), body))
    }

    fn decode(
        &self,
        subject: &str,
        headers: &[(&str, &str)],
        body: &Bytes,
    ) -> Result<DynamicEvent, CodecError> {
        let builder = event_of(subject, headers);
        let builder = if body.is_empty() {
            builder
        } else {
            builder.bytes(body.clone())
        };
        builder.build().map_err(|e| CodecError::Decode {
            subject: subject.to_owned(),
            reason: e.to_string(),
        })
    }
}

/// The headers of `event`: its CloudEvents attributes, then its own headers (those not
/// [`RESERVED`]).
pub fn attributes(event: &DynamicEvent, content_type: Option<&str>) -> Headers {
    let mut headers = Headers::new();
    for (name, value) in event.headers() {
        if !RESERVED.contains(&name.as_str()) {
            headers.insert(name.clone(), value.clone());
        }
    }
    headers.insert(ID.to_owned(), event.id().to_owned());
    headers.insert(SOURCE.to_owned(), event.source().to_owned());
    headers.insert(TYPE.to_owned(), event.topic().as_str().to_owned());
    let time = jiff::Timestamp::try_from(event.time())
        .map(|t| t.to_string())
        .unwrap_or_default();
    headers.insert(TIME.to_owned(), time);
    let optional = [
        (SUBJECT, event.subject()),
        (DATA_SCHEMA, event.data_schema()),
        (CONTENT_TYPE, content_type),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            headers.insert(name.to_owned(), value.to_owned());
        }
    }
    headers
}

/// An event builder with the attributes of `headers` (the topic from `ce-type`), every
/// other header as an event header; the caller adds the payload.
pub fn event_of(subject: &str, headers: &[(&str, &str)]) -> staticbus::DynamicEventBuilder {
    // The attributes first, then one builder call each: the builder is not moved through
    // a loop (a copy of it per header).
    let (mut topic, mut id, mut source, mut subject_attr) = (subject, None, None, None);
    let (mut data_schema, mut content_type, mut time) = (None, None, None);
    let mut extensions = 0;
    for &(name, value) in headers {
        match name {
            TYPE => topic = value,
            ID => id = Some(value),
            SOURCE => source = Some(value),
            SUBJECT => subject_attr = Some(value),
            DATA_SCHEMA => data_schema = Some(value),
            CONTENT_TYPE => content_type = Some(value),
            TIME => time = value.parse::<jiff::Timestamp>().ok().and_then(system_time),
            _ => extensions += 1,
        }
    }
    let mut builder = DynamicEvent::builder(topic);
    if let Some(id) = id {
        builder = builder.id(id);
    }
    if let Some(source) = source {
        builder = builder.source(source);
    }
    if let Some(subject) = subject_attr {
        builder = builder.subject(subject);
    }
    if let Some(data_schema) = data_schema {
        builder = builder.data_schema(data_schema);
    }
    if let Some(content_type) = content_type {
        builder = builder.content_type(content_type);
    }
    if let Some(time) = time {
        builder = builder.time(time);
    }
    if extensions > 0 {
        builder = extension_headers(builder, headers);
    }
    builder
}

/// The headers that are event headers. The attributes' headers (`ce-*`, `content-type`) are
/// not event header names, nor are the broker's own (`Nats-Msg-Id`) or any other name an
/// event header cannot have: those stay on the message.
fn extension_headers(
    mut builder: staticbus::DynamicEventBuilder,
    headers: &[(&str, &str)],
) -> staticbus::DynamicEventBuilder {
    for &(name, value) in headers {
        if DynamicEvent::is_header_name(name) {
            builder = builder.header(name, value);
        }
    }
    builder
}

/// `time` as a `SystemTime`, if it is one on this platform.
fn system_time(time: jiff::Timestamp) -> Option<SystemTime> {
    let since = time.duration_since(jiff::Timestamp::UNIX_EPOCH);
    let magnitude = since.unsigned_abs();
    if since.is_negative() {
        SystemTime::UNIX_EPOCH.checked_sub(magnitude)
    } else {
        SystemTime::UNIX_EPOCH.checked_add(magnitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_comes_back_with_its_attributes_headers_and_payload() {
        let event = DynamicEvent::builder("order.placed")
            .id("e-1")
            .source("/shop")
            .subject("order-7")
            .header("traceparent", "00-abc-def-01")
            .json(&serde_json::json!({ "total": 7 }))
            .build()
            .unwrap();
        let (headers, body) = JsonCodec.encode(&event).unwrap();
        assert_eq!(headers[ID], "e-1");
        assert_eq!(headers[TYPE], "order.placed");
        assert_eq!(headers["traceparent"], "00-abc-def-01");
        let mut pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        // A broker's own header, and one named as a core attribute: not event headers.
        pairs.push(("Nats-Expected-Stream", "not an event header"));
        pairs.push(("data", "a foreign publisher's header"));
        let back = JsonCodec.decode("order.placed", &pairs, &body).unwrap();
        assert_eq!(
            (
                back.id(),
                back.source(),
                back.subject(),
                back.topic().as_str()
            ),
            ("e-1", "/shop", Some("order-7"), "order.placed")
        );
        let at = |e: &DynamicEvent| {
            jiff::Timestamp::try_from(e.time())
                .unwrap()
                .as_microsecond()
        };
        assert_eq!(at(&back), at(&event));
        assert_eq!(back.header("traceparent"), Some("00-abc-def-01"));
        assert_eq!(back.json::<serde_json::Value>().unwrap()["total"], 7);
    }

    #[test]
    fn no_attribute_header_is_an_event_header_name() {
        // `extension_headers` copies what `is_header_name` takes: never an attribute.
        for name in [TYPE, ID, SOURCE, SUBJECT, DATA_SCHEMA, CONTENT_TYPE, TIME] {
            assert!(!DynamicEvent::is_header_name(name), "{name}");
        }
    }

    #[test]
    fn a_value_that_cannot_be_encoded_and_a_message_without_a_topic_are_errors() {
        let event = DynamicEvent::builder("job.done")
            .value(vec![1u8, 2])
            .build()
            .unwrap();
        let error = JsonCodec.encode(&event).unwrap_err();
        assert!(error.to_string().contains("job.done"), "{error}");
        let error = JsonCodec
            .decode("bad subject", &[], &Bytes::new())
            .unwrap_err();
        assert!(error.to_string().contains("bad subject"), "{error}");
    }
}
