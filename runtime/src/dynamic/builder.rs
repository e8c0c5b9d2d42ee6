//! [`DynamicEventBuilder`]: sets a [`DynamicEvent`]'s attributes, then checks them all at once.

use std::any::{Any, type_name};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use serde::Serialize;

use super::cloudevents::JSON_CONTENT_TYPE;
use super::error::EventError;
use super::event::{DynamicEvent, content_type_of, default_source, new_id};
use super::header::{header_name_problem, reserved_hint};
use super::payload::Payload;
use super::time;
use super::topic::Topic;

/// Builds a [`DynamicEvent`]; made by [`DynamicEvent::builder`].
///
/// Setters never fail: the first problem (bad topic, bad header name, a value
/// [`json`](Self::json) could not serialize, empty attribute, time out of range) is returned
/// by [`build`](Self::build).
#[must_use = "a builder does nothing until `.build()`"]
pub struct DynamicEventBuilder {
    topic: Result<Topic, EventError>,
    // Shared already: the event keeps them as they are (one allocation each).
    id: Option<Arc<str>>,
    source: Option<Arc<str>>,
    time: Option<SystemTime>,
    subject: Option<String>,
    content_type: Option<Cow<'static, str>>,
    data_schema: Option<String>,
    headers: BTreeMap<String, String>,
    header_error: Option<EventError>,
    payload: Payload,
    /// Why [`json`](Self::json) could not serialize the current payload, reported by `build`.
    json_error: Option<(&'static str, serde_json::Error)>,
}

impl DynamicEventBuilder {
    /// A builder for an event on `topic`, or one whose `build` returns the topic's error.
    pub(super) fn new(topic: Result<Topic, EventError>) -> Self {
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
    #[inline]
    pub fn id(mut self, id: impl AsRef<str>) -> Self {
        self.id = Some(Arc::from(id.as_ref()));
        self
    }

    /// Sets the CloudEvents `source`, a URI-reference such as `/shop/checkout` (default
    /// `"staticbus"`). Must not be empty.
    #[inline]
    pub fn source(mut self, source: impl AsRef<str>) -> Self {
        self.source = Some(Arc::from(source.as_ref()));
        self
    }

    /// Sets the CloudEvents `time` (default: when [`build`](Self::build) runs). Must lie
    /// between 1970-01-01 and the end of year 9999, the range RFC 3339 timestamps can carry
    /// here.
    #[inline]
    pub fn time(mut self, time: SystemTime) -> Self {
        self.time = Some(time);
        self
    }

    /// Sets the CloudEvents `subject`. Must not be empty.
    #[inline]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the CloudEvents `datacontenttype`, e.g. `application/json`. Must not be empty.
    #[inline]
    pub fn content_type(mut self, content_type: impl AsRef<str>) -> Self {
        self.content_type = Some(content_type_of(content_type.as_ref()));
        self
    }

    /// Sets the CloudEvents `dataschema`, a URI. Must not be empty.
    #[inline]
    pub fn data_schema(mut self, data_schema: impl Into<String>) -> Self {
        self.data_schema = Some(data_schema.into());
        self
    }

    /// Adds a header: a CloudEvents extension attribute. A second value for one name replaces
    /// the first.
    ///
    /// Names follow the CloudEvents 1.0 extension attribute naming rule, 1 to 20 lowercase
    /// ASCII letters or digits (`traceparent`, `tenant`), and are not one of the CloudEvents
    /// attributes (`id`, `type`, `time`, ...); anything else makes [`build`](Self::build) fail.
    #[inline]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.add_header(name.into(), value.into());
        self
    }

    /// [`header`](Self::header)'s work, in place (the builder is not moved through it).
    fn add_header(&mut self, name: String, value: String) {
        if let Err(e) = check_header_name(&name) {
            self.header_error.get_or_insert(e);
        } else {
            self.headers.insert(name, value);
        }
    }

    /// Sets the payload to these bytes, shared, not copied (a `Vec<u8>`, `String`,
    /// `&'static [u8]` or [`Bytes`]).
    #[inline]
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
                self.content_type = Some(Cow::Borrowed(JSON_CONTENT_TYPE));
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
    #[inline]
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
            ("id", self.id.as_deref()),
            ("source", self.source.as_deref()),
            ("subject", self.subject.as_deref()),
            ("datacontenttype", self.content_type.as_deref()),
            ("dataschema", self.data_schema.as_deref()),
        ];
        for (attribute, value) in attributes {
            if value == Some("") {
                return Err(EventError::EmptyAttribute { attribute });
            }
        }
        let time = self.time.unwrap_or_else(SystemTime::now);
        if !time::is_representable(time) {
            return Err(EventError::TimeOutOfRange { time });
        }
        Ok(DynamicEvent {
            id: self.id.unwrap_or_else(new_id),
            topic,
            source: self.source.unwrap_or_else(default_source),
            time,
            subject: self.subject,
            content_type: self.content_type,
            data_schema: self.data_schema,
            headers: self.headers,
            payload: self.payload,
            replayed: false,
            cause: None,
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

/// A header name that [`DynamicEventBuilder::header`] accepts, or why not.
pub(super) fn check_header_name(name: &str) -> Result<(), EventError> {
    if let Some(hint) = reserved_hint(name) {
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

#[cfg(test)]
#[path = "tests/builder.rs"]
mod tests;
