//! The forms an event takes on the bus: carried through one dispatch, and held in a buffer.

use std::any::{Any, TypeId};
use std::sync::Arc;

use crate::dynamic::{DynamicEvent, EventRef, Payload, Topic};
use crate::linked::{EventDesc, StaticEvent};

/// What a pull subscriber's buffer holds. It counts as delivered once buffered; an item
/// evicted, left unread at close, or of the wrong type for a typed subscriber moves from
/// delivered to dropped ([`Bus::undeliver`](super::Bus::undeliver)).
pub(crate) enum Item {
    /// A dynamic event, or a static one made into one for an untyped subscriber.
    Dynamic(Arc<DynamicEvent>),
    /// A static event's value as it was published, for a typed subscriber: no attributes,
    /// no copy.
    Static(StaticValue),
}

impl Item {
    /// The event's topic (a static event's name).
    pub(crate) fn topic(&self) -> &str {
        match self {
            Item::Dynamic(event) => event.topic().as_str(),
            Item::Static(value) => value.desc().name(),
        }
    }
}

/// A static event moved once into an `Arc`: a fat pointer whose vtable knows its type's
/// description, so that a buffered item stays two words.
#[derive(Clone)]
pub(crate) struct StaticValue(Arc<dyn StaticItem>);

/// A static event's value, as the bus holds it without knowing its type.
pub(crate) trait StaticItem: Any + Send + Sync {
    /// Its type's description.
    fn desc(&self) -> &'static EventDesc;
    /// What it counts for in the byte budget (`StaticEvent::__size`).
    fn size(&self) -> usize;
}

impl<E: StaticEvent> StaticItem for E {
    fn desc(&self) -> &'static EventDesc {
        E::__table().desc()
    }

    fn size(&self) -> usize {
        self.__size()
    }
}

impl StaticValue {
    /// `event`, moved into an `Arc`.
    pub(crate) fn new<E: StaticEvent>(event: E) -> StaticValue {
        StaticValue(Arc::new(event))
    }

    /// Its type's description.
    #[inline]
    pub(crate) fn desc(&self) -> &'static EventDesc {
        self.0.desc()
    }

    /// The value, type-erased.
    #[inline]
    pub(crate) fn as_any(&self) -> &(dyn Any + Send + Sync) {
        &*self.0
    }

    /// The value as an `E`, or itself back when it is another type.
    #[inline]
    pub(crate) fn downcast<E: Any + Send + Sync>(self) -> Result<Arc<E>, StaticValue> {
        if (*self.0).type_id() != TypeId::of::<E>() {
            return Err(self);
        }
        let any: Arc<dyn Any + Send + Sync> = self.0;
        any.downcast::<E>()
            .map_err(|_| unreachable!("the type was checked"))
    }

    /// The value as a dynamic event: its name as topic, the value as payload (shared, with
    /// its JSON encoder and size), every attribute at its default.
    #[cold]
    pub(crate) fn to_dynamic(&self) -> DynamicEvent {
        let desc = self.desc();
        let value: Arc<dyn Any + Send + Sync> = Arc::clone(&self.0) as Arc<dyn StaticItem>;
        let payload =
            Payload::from_parts(value, desc.type_name(), desc.json()).with_size(self.0.size());
        DynamicEvent::from_static(Topic::from_static_name(desc.name()), payload)
    }
}

/// How one dispatch holds its event: what the walk asks of it, borrowed or shared.
pub(crate) trait Form {
    /// What sync handlers and filters see.
    fn view(&self) -> EventRef<'_>;
    /// Whether it is static (its dispatch is counted only where some metered subscription
    /// sees it, as on the static tables).
    fn is_static(&self) -> bool;
    /// The bytes it counts for in buffer budgets.
    fn bytes(&self) -> usize;
    /// What a pull subscriber gets (`typed`: it takes a static value as it is); `None` when
    /// the event is only borrowed. `last`: no later subscription needs it, so it may be moved
    /// rather than shared once more.
    fn item(&mut self, typed: bool, last: bool) -> Option<Item>;
    /// The event as a shared `DynamicEvent` (for an async handler); `None` when borrowed.
    fn dynamic(&mut self) -> Option<Arc<DynamicEvent>>;
}

/// Borrowed from the caller (`emit`, or a publish that only sync handlers see): only sync
/// handlers can take it; the others count it as not owned.
impl Form for EventRef<'_> {
    #[inline(always)]
    fn view(&self) -> EventRef<'_> {
        *self
    }
    #[inline(always)]
    fn is_static(&self) -> bool {
        EventRef::is_static(self)
    }
    #[inline(always)]
    fn bytes(&self) -> usize {
        0
    }
    #[inline(always)]
    fn item(&mut self, _: bool, _: bool) -> Option<Item> {
        None
    }
    #[inline(always)]
    fn dynamic(&mut self) -> Option<Arc<DynamicEvent>> {
        None
    }
}

/// A shared event, for a dispatch in which some subscription needs it owned.
pub(crate) enum Carried {
    /// A shared dynamic event; `None` once moved into the last subscription that needed it
    /// (taken by replacing the pointer alone: the whole value, just written, would be read
    /// back wider than it was written, which stalls).
    Dynamic(Option<Arc<DynamicEvent>>),
    /// A shared static event; `dynamic` is its `DynamicEvent` form, made the first time a
    /// subscriber needs one (an async handler, an untyped pull subscriber). `value` is `None`
    /// once moved into the last subscription, a typed pull subscriber (no count to add and
    /// take back).
    Static {
        value: Option<StaticValue>,
        /// What it counts for in the byte budget.
        size: usize,
        dynamic: Option<Arc<DynamicEvent>>,
    },
}

impl Carried {
    /// Drops the event; when the last subscription took it, there is nothing left to drop,
    /// and the out-of-line drop glue is skipped.
    #[inline(always)]
    pub(crate) fn release(self) {
        if matches!(
            self,
            Carried::Dynamic(None)
                | Carried::Static {
                    value: None,
                    dynamic: None,
                    ..
                }
        ) {
            std::mem::forget(self);
        }
    }

    /// A static event, moved into an `Arc`.
    #[inline(always)]
    pub(crate) fn static_event<E: StaticEvent>(event: E) -> Carried {
        Carried::Static {
            size: event.__size(),
            value: Some(StaticValue::new(event)),
            dynamic: None,
        }
    }

    /// A shared dynamic event.
    #[inline(always)]
    pub(crate) fn dynamic_event(event: Arc<DynamicEvent>) -> Carried {
        Carried::Dynamic(Some(event))
    }
}

impl Form for Carried {
    #[inline]
    fn view(&self) -> EventRef<'_> {
        match self {
            Carried::Dynamic(Some(event)) => EventRef::dynamic_ref(event),
            Carried::Static {
                value: Some(value), ..
            } => EventRef::from_static(value.desc(), value.as_any()),
            Carried::Dynamic(None) | Carried::Static { value: None, .. } => {
                unreachable!("a taken event is not looked at again")
            }
        }
    }

    #[inline]
    fn is_static(&self) -> bool {
        matches!(self, Carried::Static { .. })
    }

    #[inline]
    fn bytes(&self) -> usize {
        match self {
            Carried::Dynamic(event) => event.as_ref().map_or(0, |e| e.payload_len()),
            Carried::Static { size, .. } => *size,
        }
    }

    #[inline]
    fn item(&mut self, typed: bool, last: bool) -> Option<Item> {
        if last && let Carried::Dynamic(event) = self {
            return event.take().map(Item::Dynamic);
        }
        if let Carried::Static { value, .. } = self
            && typed
        {
            let value = if last { value.take() } else { value.clone() };
            return value.map(Item::Static);
        }
        self.dynamic().map(Item::Dynamic)
    }

    fn dynamic(&mut self) -> Option<Arc<DynamicEvent>> {
        match self {
            Carried::Dynamic(event) => event.clone(),
            Carried::Static { value, dynamic, .. } => {
                if let Some(made) = dynamic {
                    return Some(Arc::clone(made));
                }
                let made = Arc::new(value.as_ref()?.to_dynamic());
                Some(Arc::clone(dynamic.insert(made)))
            }
        }
    }
}
