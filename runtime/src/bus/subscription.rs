//! Subscriptions: what one is made of, how it receives events, and the handle that removes it.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::dynamic::{DynamicEvent, EventRef, Pattern, PatternKind};
use crate::linked::{
    BoxFuture, Breaker, Call, CircuitBreaker, HandlerInfo, HandlerRef, HandlerResult, Host, Retry,
};
use crate::queue::Buffer;

use super::Bus;
use super::item::Item;

pub use crate::linked::SubscriptionId;

/// How a subscription receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A sync push handler: runs from `emit` and `publish`.
    Sync,
    /// An async push handler: runs from `publish` only.
    Async,
    /// A pull subscriber ([`EventSubscriber`](crate::EventSubscriber)) with a bounded buffer.
    Pull,
    /// A detached async handler: its events wait in its own bounded queue for its workers;
    /// `publish` does not wait for the calls.
    Detached,
}

/// One row of [`EventSystem::list_subscriptions`](crate::EventSystem::list_subscriptions).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionInfo {
    /// Its id.
    pub id: SubscriptionId,
    /// The pattern as written.
    pub pattern: String,
    /// Exact, glob or regex.
    pub kind: PatternKind,
    /// Higher runs first.
    pub priority: i32,
    /// Push (sync or async) or pull.
    pub delivery: Delivery,
    /// Events buffered now (pull subscribers).
    pub buffered: usize,
    /// Buffer capacity (pull subscribers).
    pub capacity: usize,
}

/// A sync push handler: the system it runs in, the call's ids, the event.
pub(crate) type SyncHandler =
    Box<dyn Fn(&Host, &Call<'_>, &EventRef<'_>) -> HandlerResult + Send + Sync>;

/// An async push handler; its future may borrow the host and the call, never the event,
/// which it owns.
pub(crate) type AsyncHandler = Box<
    dyn for<'a> Fn(&'a Host, &'a Call<'a>, Arc<DynamicEvent>) -> BoxFuture<'a, HandlerResult>
        + Send
        + Sync,
>;

/// Which events reach a subscription, beyond its pattern: asked with the event and whether
/// it is a replay.
pub(crate) type Filter = Box<dyn Fn(&EventRef<'_>, bool) -> bool + Send + Sync>;

/// How one subscription takes an event.
pub(crate) enum SubKind {
    Sync(SyncHandler),
    Async(AsyncHandler),
    Pull(Pull),
    /// Boxed: it is large, and the other kinds are on the hot path.
    Detached(Box<super::detached::Detached>),
}

/// A pull subscriber's side of the bus: its buffer, and what it wants buffered.
pub(crate) struct Pull {
    pub(crate) buffer: Arc<Buffer<Item>>,
    /// A typed subscriber (`subscribe::<E>()`) takes a static event's value as it is; an
    /// untyped one (`subscribe_topic`) wants every event as a `DynamicEvent`.
    pub(crate) typed: bool,
}

pub(crate) struct Sub {
    pub(crate) id: SubscriptionId,
    pub(crate) pattern: Pattern,
    pub(crate) priority: i32,
    pub(crate) filter: Option<Filter>,
    pub(crate) kind: SubKind,
    /// Set for static handlers installed under `ImplementationType::ZeroCopy`: they are
    /// neither listed nor counted in metrics, as on the static tables.
    pub(crate) info: Option<&'static HandlerInfo>,
    /// How long an async handler may run (else the system's `handler_timeout`).
    pub(crate) timeout: Option<Duration>,
    /// How a failed async call is tried again.
    pub(crate) retry: Option<Retry>,
    /// The handler's circuit breaker, if it has one (boxed: most have none).
    pub(crate) breaker: Option<Box<Breaker>>,
    /// Neither a breaker nor retries: a sync handler's call is the walk's plain step (one
    /// flag read on the hot path instead of two options).
    pub(crate) plain: bool,
    pub(crate) active: AtomicBool,
    metered: bool,
}

impl Sub {
    pub(crate) fn new(id: SubscriptionId, new: NewSub) -> Sub {
        let metered = new.info.is_none() || matches!(new.kind, SubKind::Detached(_));
        Sub {
            id,
            pattern: new.pattern,
            priority: new.priority,
            filter: new.filter,
            kind: new.kind,
            info: new.info,
            timeout: new.timeout,
            retry: new.retry,
            plain: new.breaker.is_none() && new.retry.is_none(),
            breaker: new.breaker.map(|policy| Box::new(Breaker::new(policy))),
            active: AtomicBool::new(true),
            metered,
        }
    }

    /// Who failed, for an error.
    pub(crate) fn handler_ref(&self) -> HandlerRef {
        match self.info {
            Some(info) => HandlerRef::Static(info),
            None => HandlerRef::Subscription {
                id: self.id,
                pattern: self.pattern.as_str().into(),
            },
        }
    }

    /// Whether metrics count it: every subscription but installed static handlers, except
    /// detached ones (whose queue is the bus's, under either implementation).
    #[inline]
    pub(crate) fn metered(&self) -> bool {
        self.metered
    }

    /// Whether listings show it: every subscription but installed static handlers.
    #[inline]
    pub(crate) fn listed(&self) -> bool {
        self.info.is_none()
    }

    /// Still subscribed.
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    pub(crate) fn deactivate(&self) {
        self.active.store(false, Ordering::Release);
    }

    /// Its buffer: a pull subscriber's, or a detached handler's queue.
    pub(crate) fn pull(&self) -> Option<&Pull> {
        match &self.kind {
            SubKind::Pull(pull) => Some(pull),
            SubKind::Detached(detached) => Some(&detached.queue),
            _ => None,
        }
    }

    /// Its async handler: an async or a detached one's.
    pub(crate) fn async_handler(&self) -> Option<&AsyncHandler> {
        match &self.kind {
            SubKind::Async(handler) => Some(handler),
            SubKind::Detached(detached) => Some(&detached.handler),
            _ => None,
        }
    }

    pub(crate) fn info(&self) -> SubscriptionInfo {
        let (delivery, buffered, capacity) = match &self.kind {
            SubKind::Sync(_) => (Delivery::Sync, 0, 0),
            SubKind::Async(_) => (Delivery::Async, 0, 0),
            SubKind::Pull(p) => (Delivery::Pull, p.buffer.len(), p.buffer.capacity()),
            SubKind::Detached(d) => (
                Delivery::Detached,
                d.queue.buffer.len(),
                d.queue.buffer.capacity(),
            ),
        };
        SubscriptionInfo {
            id: self.id,
            pattern: self.pattern.as_str().to_owned(),
            kind: self.pattern.kind(),
            priority: self.priority,
            delivery,
            buffered,
            capacity,
        }
    }
}

/// What a new subscription is made of.
pub(crate) struct NewSub {
    pub(crate) pattern: Pattern,
    pub(crate) priority: i32,
    pub(crate) filter: Option<Filter>,
    pub(crate) kind: SubKind,
    pub(crate) info: Option<&'static HandlerInfo>,
    /// How long an async handler may run (else the system's `handler_timeout`).
    pub(crate) timeout: Option<Duration>,
    /// How a failed async call is tried again.
    pub(crate) retry: Option<Retry>,
    /// When the handler's circuit opens.
    pub(crate) breaker: Option<CircuitBreaker>,
}

/// A live subscription. Dropping it (or calling [`unsubscribe`](Self::unsubscribe)) removes
/// it, also while a dispatch is running: no handler call starts after that.
#[must_use = "dropping a Subscription unsubscribes it at once; keep it, or call .detach()"]
pub struct Subscription {
    id: SubscriptionId,
    bus: Weak<Bus>,
    detached: bool,
}

impl Subscription {
    pub(crate) fn new(id: SubscriptionId, bus: &Arc<Bus>) -> Self {
        Subscription {
            id,
            bus: Arc::downgrade(bus),
            detached: false,
        }
    }

    /// Its id.
    pub fn id(&self) -> SubscriptionId {
        self.id
    }

    /// Removes the subscription now; true if it was still there.
    pub fn unsubscribe(mut self) -> bool {
        self.detached = true;
        self.bus
            .upgrade()
            .is_some_and(|bus| bus.unsubscribe(self.id))
    }

    /// Keeps the subscription for the system's whole life, without holding a handle; remove
    /// it later with [`EventSystem::unsubscribe`](crate::EventSystem::unsubscribe).
    pub fn detach(mut self) -> SubscriptionId {
        self.detached = true;
        self.id
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if !self.detached
            && let Some(bus) = self.bus.upgrade()
        {
            bus.unsubscribe(self.id);
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}
