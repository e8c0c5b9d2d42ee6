//! The forms an event takes on the bus: carried through one dispatch, and held in a buffer.

use std::sync::Arc;

use crate::dynamic::{Cause, DynamicEvent, EventRef};
use crate::linked::Call;

use super::value::StaticValue;

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
    /// The item queued for a detached handler under `call`: the event says whether the
    /// call is a replay and, for a publish made inside a handler, its causation and
    /// correlation ids, for the worker that calls the handler later. A copy of the event
    /// only where it said otherwise (a replay, an event published inside a handler, or
    /// one published again under another call): never for an event published from outside
    /// any handler, live, that says nothing.
    #[inline]
    pub(crate) fn detached(self, call: &Call<'_>) -> Item {
        match self {
            Item::Dynamic(event) if !queued_under(&event, call) => {
                let mut copy = DynamicEvent::clone(&event);
                copy.replayed = call.replay;
                copy.cause = cause_of(call);
                Item::Dynamic(Arc::new(copy))
            }
            item => item,
        }
    }

    /// The event's topic (a static event's name).
    pub(crate) fn topic(&self) -> &str {
        match self {
            Item::Dynamic(event) => event.topic().as_str(),
            Item::Static(value) => value.desc().name(),
        }
    }
}

/// Whether `event` says what `call` is: a replay or not, and the same ids.
#[inline(always)]
fn queued_under(event: &DynamicEvent, call: &Call<'_>) -> bool {
    if event.replayed != call.replay {
        return false;
    }
    match (&event.cause, call.causation, call.correlation) {
        (None, None, None) => true,
        (Some(cause), causation, correlation) => {
            cause.causation.as_deref() == causation && cause.correlation.as_deref() == correlation
        }
        (None, _, _) => false,
    }
}

/// The ids `call` passes on, if it has any.
#[cold]
fn cause_of(call: &Call<'_>) -> Option<Arc<Cause>> {
    if call.causation.is_none() && call.correlation.is_none() {
        return None;
    }
    Some(Arc::new(Cause {
        causation: call.causation.map(Box::from),
        correlation: call.correlation.map(Box::from),
    }))
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
    /// Whether the walk may wait on it (a sync handler's retries): a publish's own event.
    fn waits(&self) -> bool;
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
    #[inline(always)]
    fn waits(&self) -> bool {
        false
    }
}

/// A shared event, for a dispatch in which some subscription needs it owned.
pub(crate) enum Carried {
    /// A shared dynamic event; `None` once moved into the last subscription that needed it
    /// (taken by replacing the pointer alone: the whole value, just written, would be read
    /// back wider than it was written, which stalls).
    Dynamic(Option<Arc<DynamicEvent>>),
    /// A static event, in place or shared; `dynamic` is its `DynamicEvent` form, made the
    /// first time a subscriber needs one (an async handler, an untyped pull subscriber).
    /// `value` is `None` once moved into the last subscription, a typed pull subscriber (no
    /// count to add and take back).
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

    /// A static event's value, moved already, counting `size` bytes.
    #[inline(always)]
    pub(crate) fn from_value(value: StaticValue, size: usize) -> Carried {
        Carried::Static {
            size,
            value: Some(value),
            dynamic: None,
        }
    }

    /// What sync handlers see, unless the event was moved into the last buffer already.
    pub(crate) fn viewed(&self) -> Option<EventRef<'_>> {
        match self {
            Carried::Dynamic(None) | Carried::Static { value: None, .. } => None,
            event => Some(event.view()),
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
            let value = if last {
                value.take()
            } else {
                value.as_mut().map(StaticValue::share)
            };
            return value.map(Item::Static);
        }
        self.dynamic().map(Item::Dynamic)
    }

    #[inline(always)]
    fn waits(&self) -> bool {
        true
    }

    fn dynamic(&mut self) -> Option<Arc<DynamicEvent>> {
        match self {
            Carried::Dynamic(event) => event.clone(),
            Carried::Static { value, dynamic, .. } => {
                if let Some(made) = dynamic {
                    return Some(Arc::clone(made));
                }
                let made = Arc::new(value.as_mut()?.make_dynamic());
                Some(Arc::clone(dynamic.insert(made)))
            }
        }
    }
}
