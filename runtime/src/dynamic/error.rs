//! [`EventError`]: why a dynamic event could not be built, read or converted.

use std::convert::Infallible;
use std::time::SystemTime;

use super::header::HEADER_NAME_RULE;
use super::time::DescribeTime;
use super::topic::TopicError;

/// Why a dynamic event could not be built, read or converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The topic is not a valid [`Topic`](super::Topic).
    #[error(transparent)]
    InvalidTopic(#[from] TopicError),
    /// A header name is not a valid CloudEvents extension attribute name.
    #[error(
        "invalid header name {name:?}: {reason}; header names are CloudEvents extension \
         attributes and follow the {rule}, e.g. \"traceparent\"",
        rule = HEADER_NAME_RULE
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
    /// A value given to [`DynamicEventBuilder::json`](super::DynamicEventBuilder::json) could
    /// not be serialized.
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
    /// Input given to [`DynamicEvent::from_cloudevent`](super::DynamicEvent::from_cloudevent)
    /// is not a valid CloudEvent.
    #[error("invalid CloudEvent: {reason}")]
    InvalidCloudEvent {
        /// What is wrong, naming the attribute.
        reason: String,
    },
}

/// For conversions that cannot fail, such as passing a [`Topic`](super::Topic) to
/// [`DynamicEvent::builder`](super::DynamicEvent::builder).
impl From<Infallible> for EventError {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

#[cfg(test)]
#[path = "tests/error.rs"]
mod tests;
