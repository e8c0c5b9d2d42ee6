//! `EventRef`: what a dynamic push handler sees, static or dynamic, without a copy.

use std::any::Any;
use std::fmt;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::{DynamicEvent, EventError};
use crate::linked::EventDesc;

/// A borrowed view of one event, handed to sync dynamic handlers (`system.on(...)`).
///
/// It is the same for events published on the dynamic bus and for static events seen under
/// their `#[event(name)]`: nothing is copied or encoded until a handler asks for it.
///
/// ```
/// use staticbus::{DynamicEvent, EventRef, EventSystem, Payload};
///
/// # fn main() -> Result<(), staticbus::Error> {
/// let system = EventSystem::builder().build()?;
/// let _sub = system.on("order.*", |e: &EventRef<'_>| {
///     let total: u64 = e.json_value().map(|v| v["total"].as_u64().unwrap_or(0)).unwrap_or(0);
///     println!("{} for {total}", e.topic());
/// })?;
/// let event = DynamicEvent::builder("order.created")
///     .json(&serde_json::json!({ "total": 42 }))
///     .build()?;
/// system.emit_dynamic(&event);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct EventRef<'a> {
    repr: Repr<'a>,
}

#[derive(Clone, Copy)]
enum Repr<'a> {
    Dynamic(&'a DynamicEvent),
    Static {
        desc: &'static EventDesc,
        value: &'a (dyn Any + Send + Sync),
    },
}

impl<'a> EventRef<'a> {
    pub(crate) fn dynamic_ref(event: &'a DynamicEvent) -> Self {
        EventRef {
            repr: Repr::Dynamic(event),
        }
    }

    /// A static event known by its description only.
    pub(crate) fn from_static(
        desc: &'static EventDesc,
        value: &'a (dyn Any + Send + Sync),
    ) -> Self {
        EventRef {
            repr: Repr::Static { desc, value },
        }
    }

    /// A static event's name; `None` for a dynamic event.
    pub(crate) fn static_name(&self) -> Option<&'static str> {
        match self.repr {
            Repr::Static { desc, .. } => Some(desc.name()),
            Repr::Dynamic(_) => None,
        }
    }

    /// A static event's description; `None` for a dynamic event.
    pub(crate) fn static_desc(&self) -> Option<&'static EventDesc> {
        match self.repr {
            Repr::Static { desc, .. } => Some(desc),
            Repr::Dynamic(_) => None,
        }
    }

    /// The value type-erased: a static event, or a dynamic event's value payload.
    pub(crate) fn value_any(&self) -> Option<&'a (dyn Any + Send + Sync)> {
        match self.repr {
            Repr::Dynamic(e) => e.payload().as_value().map(|v| v.as_any()),
            Repr::Static { value, .. } => Some(value),
        }
    }

    /// The topic: the dynamic event's topic, or the static event's `#[event(name)]`.
    pub fn topic(&self) -> &'a str {
        match self.repr {
            Repr::Dynamic(e) => e.topic().as_str(),
            Repr::Static { desc, .. } => desc.name(),
        }
    }

    /// The dynamic event, with its id, source, time and headers; `None` for a static event
    /// seen through `emit` (it has no such metadata).
    pub fn dynamic(&self) -> Option<&'a DynamicEvent> {
        match self.repr {
            Repr::Dynamic(e) => Some(e),
            Repr::Static { .. } => None,
        }
    }

    /// True for a static event (a `#[derive(StaticEvent)]` value), seen as it was published.
    pub fn is_static(&self) -> bool {
        matches!(self.repr, Repr::Static { .. })
    }

    /// The typed value, without a copy: a static event, or a dynamic event's value payload.
    pub fn downcast_ref<T: Any>(&self) -> Option<&'a T> {
        match self.repr {
            Repr::Dynamic(e) => e.downcast_ref::<T>(),
            Repr::Static { value, .. } => value.downcast_ref::<T>(),
        }
    }

    /// The encoded payload, for dynamic events that carry bytes.
    pub fn bytes(&self) -> Option<&'a Bytes> {
        match self.repr {
            Repr::Dynamic(e) => e.bytes(),
            Repr::Static { .. } => None,
        }
    }

    /// The payload decoded from JSON (or a serializable value encoded on demand).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, EventError> {
        match self.repr {
            Repr::Dynamic(e) => e.json(),
            Repr::Static { .. } => {
                serde_json::from_value(self.json_value()?).map_err(|source| EventError::Json {
                    topic: self.topic().to_owned(),
                    source,
                })
            }
        }
    }

    /// The payload as a JSON value; a static event is encoded only now, and only if its type
    /// implements `serde::Serialize`.
    pub fn json_value(&self) -> Result<serde_json::Value, EventError> {
        match self.repr {
            Repr::Dynamic(e) => e.json_value(),
            Repr::Static { desc, value } => match desc.json() {
                Some(encode) => encode(value).map_err(|source| EventError::Json {
                    topic: desc.name().to_owned(),
                    source,
                }),
                None => Err(EventError::NotSerializable {
                    topic: desc.name().to_owned(),
                    type_name: desc.type_name(),
                }),
            },
        }
    }
}

impl fmt::Debug for EventRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.repr {
            Repr::Dynamic(e) => f.debug_tuple("EventRef").field(e).finish(),
            Repr::Static { desc, .. } => f
                .debug_struct("EventRef")
                .field("topic", &desc.name())
                .field("static", &desc.type_name())
                .finish(),
        }
    }
}
