//! [`Payload`]: what a dynamic event carries, bytes or a shared value, never copied.

use std::any::{Any, type_name};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::linked::JsonFn;

/// What a [`DynamicEvent`](super::DynamicEvent) carries: nothing, bytes, or a shared value.
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
    /// [`DynamicEvent::payload_len`](super::DynamicEvent::payload_len) report (for payload
    /// limits and metrics). Other payloads are returned unchanged: bytes have their length.
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

#[cfg(test)]
#[path = "tests/payload.rs"]
mod tests;
