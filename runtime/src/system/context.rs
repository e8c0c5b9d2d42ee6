//! `HandlerContext`: what a handler may take besides its event; `SystemHandle`: a handle on a
//! system that does not keep it alive.

use std::fmt;
use std::sync::Arc;

use crate::dynamic::{DynamicEvent, EventRef};
use crate::linked::{Call, Emitted, Host, Plugin, StaticEvent};

use super::{Error, EventSystem, Published, SystemRef};
use crate::linked::WeakHost;

/// What a handler may take besides its event: the system it runs in (publish and emit
/// further events, reach the other plugins), and the ids of the event it is handling.
///
/// Take it as a second argument, after the event, in a `#[handler]` function, an `#[on]`
/// method or a dynamic closure:
///
/// ```standalone_crate
/// use staticbus::prelude::*;
///
/// #[derive(StaticEvent)]
/// struct OrderPlaced { id: u64 }
///
/// #[derive(StaticEvent)]
/// struct InvoiceDue { order: u64 }
///
/// #[handler]
/// fn bill(e: &OrderPlaced, ctx: &HandlerContext<'_>) {
///     assert_eq!(ctx.topic(), "order.placed");
///     ctx.emit(&InvoiceDue { order: e.id });
/// }
///
/// # fn main() -> Result<(), staticbus::Error> {
/// let system = EventSystem::builder().build()?;
/// let invoices = system.subscribe::<InvoiceDue>()?;
/// let _log = system.on("order.*", |e: &EventRef<'_>, ctx: &HandlerContext<'_>| {
///     assert_eq!(e.topic(), ctx.topic());
/// })?;
/// # Ok(()) }
/// ```
///
/// It is valid for the call: it borrows the system, so nothing a handler keeps can hold a
/// dropped system alive. To publish later (from a spawned task), take a
/// [`handle`](Self::handle). A publish through the context carries the handled event as its
/// cause: its handlers see [`causation_id`](Self::causation_id) (the handled event's id, for
/// dynamic events) and the same [`correlation_id`](Self::correlation_id).
pub struct HandlerContext<'a> {
    system: SystemRef<'a>,
    call: Call<'a>,
    topic: &'a str,
    event_id: Option<&'a str>,
}

impl fmt::Debug for HandlerContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerContext")
            .field("topic", &self.topic)
            .field("event_id", &self.event_id)
            .field("causation_id", &self.call.causation)
            .field("correlation_id", &self.call.correlation)
            .field("attempt", &self.call.attempt)
            .field("replay", &self.call.replay)
            .finish()
    }
}

impl<'a> HandlerContext<'a> {
    /// The context of a static handler's call. Not public API: generated code calls it.
    #[doc(hidden)]
    #[inline]
    pub fn __new(host: &'a Host, call: &Call<'a>, topic: &'static str) -> Self {
        HandlerContext {
            system: SystemRef::of(host),
            call: *call,
            topic,
            event_id: call.event,
        }
    }

    /// The context of a dynamic handler's call on `event`.
    #[inline]
    pub(crate) fn for_event(host: &'a Host, call: &Call<'a>, event: &EventRef<'a>) -> Self {
        HandlerContext {
            system: SystemRef::of(host),
            call: *call,
            topic: event.topic(),
            event_id: event.dynamic().map(DynamicEvent::id),
        }
    }

    /// The topic of the event being handled (a static event's name).
    pub fn topic(&self) -> &'a str {
        self.topic
    }

    /// The id of the event being handled: a dynamic event's CloudEvents `id`; `None` for a
    /// static event published in this process (one received from elsewhere, delivered by
    /// [`EventSystem::publish_as`](crate::EventSystem::publish_as), has the id it came with;
    /// but for a detached handler's).
    pub fn event_id(&self) -> Option<&'a str> {
        self.event_id
    }

    /// The id of the event whose handler published this one, if a handler did and its event
    /// had an id.
    pub fn causation_id(&self) -> Option<&'a str> {
        self.call.causation
    }

    /// The id shared by every event of one flow: the first event's id, passed down from
    /// cause to effect.
    pub fn correlation_id(&self) -> Option<&'a str> {
        self.call.correlation
    }

    /// Which attempt at handling this event this call is, from 1.
    pub fn attempt(&self) -> u32 {
        self.call.attempt
    }

    /// Whether the event is a stored one delivered again
    /// ([`EventSystem::replay`](crate::EventSystem::replay)), or was published by a handler
    /// of one, rather than a live one. A handler with side effects that must not happen
    /// twice (an email, a payment) returns early on a replay.
    pub fn is_replay(&self) -> bool {
        self.call.replay
    }

    /// This system's instance of plugin `P`, or `None` when `P` is not linked.
    pub fn plugin<P: Plugin>(&self) -> Option<&'a P> {
        self.system.host.plugin::<P>()
    }

    /// The call of an event published from here.
    fn child(&self) -> Call<'a> {
        self.call.child(self.event_id)
    }

    /// [`EventSystem::emit`] on this system, caused by the event being handled.
    pub fn emit<E: StaticEvent>(&self, event: &E) -> Emitted {
        self.system.emit(&self.child(), event)
    }

    /// [`EventSystem::publish`] on this system, caused by the event being handled.
    pub async fn publish<E: StaticEvent>(&self, event: E) -> Result<Published, Error> {
        let call = self.child();
        self.system.publish(&call, event).await
    }

    /// [`EventSystem::emit_dynamic`] on this system, caused by the event being handled.
    pub fn emit_dynamic(&self, event: &DynamicEvent) -> Emitted {
        self.system.emit_dynamic(&self.child(), event)
    }

    /// [`EventSystem::publish_dynamic`] on this system, caused by the event being handled.
    pub async fn publish_dynamic(&self, event: DynamicEvent) -> Result<Published, Error> {
        let call = self.child();
        self.system.publish_event(&call, event).await
    }

    /// A handle for later (a spawned task, an async dynamic handler's future): publishes
    /// through it carry the handled event as their cause, and it does not keep the system
    /// alive.
    pub fn handle(&self) -> SystemHandle {
        let child = self.child();
        SystemHandle {
            host: self.system.host.downgrade(),
            causation: child.causation.map(Arc::from),
            correlation: child.correlation.map(Arc::from),
        }
    }
}

/// A handle on a system that does not keep it alive: from
/// [`EventSystem::downgrade`] or [`HandlerContext::handle`].
///
/// Once every [`EventSystem`] clone is gone, its publishes fail with [`Error::Shutdown`] and
/// its emits return `None`.
#[derive(Clone)]
pub struct SystemHandle {
    host: WeakHost,
    causation: Option<Arc<str>>,
    correlation: Option<Arc<str>>,
}

impl fmt::Debug for SystemHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemHandle")
            .field("alive", &self.host.is_alive())
            .field("causation_id", &self.causation)
            .field("correlation_id", &self.correlation)
            .finish()
    }
}

impl SystemHandle {
    pub(crate) fn root(host: WeakHost) -> SystemHandle {
        SystemHandle {
            host,
            causation: None,
            correlation: None,
        }
    }

    fn call(&self) -> Call<'_> {
        Call {
            causation: self.causation.as_deref(),
            correlation: self.correlation.as_deref(),
            attempt: 1,
            replay: false,
            event: None,
        }
    }

    /// The system, while a clone of it lives.
    pub fn upgrade(&self) -> Option<EventSystem> {
        let host = self.host.upgrade()?;
        Some(EventSystem::from_host(host))
    }

    /// [`EventSystem::emit`], under this handle's cause; `None` once the system is gone.
    pub fn emit<E: StaticEvent>(&self, event: &E) -> Option<Emitted> {
        let host = self.host.upgrade()?;
        Some(SystemRef::of(&host).emit(&self.call(), event))
    }

    /// [`EventSystem::publish`], under this handle's cause.
    pub async fn publish<E: StaticEvent>(&self, event: E) -> Result<Published, Error> {
        let host = self.host.upgrade().ok_or(Error::Shutdown)?;
        SystemRef::of(&host).publish(&self.call(), event).await
    }

    /// [`EventSystem::emit_dynamic`], under this handle's cause; `None` once the system is
    /// gone.
    pub fn emit_dynamic(&self, event: &DynamicEvent) -> Option<Emitted> {
        let host = self.host.upgrade()?;
        Some(SystemRef::of(&host).emit_dynamic(&self.call(), event))
    }

    /// [`EventSystem::publish_dynamic`], under this handle's cause.
    pub async fn publish_dynamic(&self, event: DynamicEvent) -> Result<Published, Error> {
        let host = self.host.upgrade().ok_or(Error::Shutdown)?;
        SystemRef::of(&host)
            .publish_event(&self.call(), event)
            .await
    }
}
