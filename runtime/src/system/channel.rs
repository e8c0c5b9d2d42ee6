//! The pull ("channel") API: `EventPublisher<T>` and `EventSubscriber<T>`, static or dynamic.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::bus::{Bus, DropReason, Item, Received, SubscriptionId};
use crate::dynamic::DynamicEvent;
use crate::linked::StaticEvent;
use crate::queue::{Buffer, RecvTimeout, TryRecv};

use super::{Error, EventSystem, Published};

/// What an [`EventPublisher`] can publish: any static event type, or [`DynamicEvent`].
pub trait Publish: Sized + Send + 'static {
    /// Publishes `self` on `system`.
    fn publish_on(
        self,
        system: &EventSystem,
    ) -> impl Future<Output = Result<Published, Error>> + Send;
}

/// Publishes events of one type. Made by [`EventSystem::create_publisher`].
///
/// ```
/// use staticbus::prelude::*;
///
/// #[derive(StaticEvent, Debug)]
/// struct Reading(f64);
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), staticbus::Error> {
/// let system = EventSystem::builder().build()?;
/// let readings = system.subscribe::<Reading>()?;
/// let publisher = system.create_publisher::<Reading>();
/// publisher.publish_batch(vec![Reading(1.5), Reading(2.5)]).await?;
/// assert_eq!(readings.receive().await?.0, 1.5);
/// assert_eq!(readings.try_receive()?.map(|r| r.0), Some(2.5));
/// # Ok(()) }
/// ```
pub struct EventPublisher<T> {
    system: EventSystem,
    _type: PhantomData<fn(T)>,
}

impl<T> Clone for EventPublisher<T> {
    fn clone(&self) -> Self {
        EventPublisher {
            system: self.system.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for EventPublisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventPublisher")
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}

impl<T: Publish> EventPublisher<T> {
    pub(crate) fn new(system: EventSystem) -> Self {
        EventPublisher {
            system,
            _type: PhantomData,
        }
    }

    /// Publishes one event: as [`EventSystem::publish`] or [`EventSystem::publish_dynamic`].
    pub fn publish(&self, event: T) -> impl Future<Output = Result<Published, Error>> + Send + '_ {
        event.publish_on(&self.system)
    }

    /// Publishes every event, in order, even after one fails; returns the summed report, or
    /// [`Error::Batch`] with each failure and its index (a shutdown stops the batch).
    pub async fn publish_batch(&self, events: Vec<T>) -> Result<Published, Error> {
        let total = events.len();
        let mut sum = Published::default();
        let mut errors = Vec::new();
        for (i, event) in events.into_iter().enumerate() {
            match event.publish_on(&self.system).await {
                Ok(p) => sum = sum.plus(p),
                Err(Error::Shutdown) => {
                    errors.push((i, Error::Shutdown));
                    break;
                }
                Err(e) => errors.push((i, e)),
            }
        }
        if errors.is_empty() {
            Ok(sum)
        } else {
            Err(Error::Batch { total, errors })
        }
    }
}

/// What an [`EventSubscriber`] can receive: any static event type (as a [`Received`]), or
/// [`DynamicEvent`] (as an `Arc<DynamicEvent>`, shared with every other subscriber).
pub trait Receive: Sized + Send + Sync + 'static {
    /// What a receive returns.
    type Output: Send;

    #[doc(hidden)]
    /// The value, or the item back when it is not one.
    fn from_item(item: Buffered) -> Result<Self::Output, Buffered>;
}

/// One buffered event, on its way to a receiver. Not public API.
#[doc(hidden)]
pub struct Buffered(Item);

impl<E: StaticEvent> Receive for E {
    type Output = Received<E>;

    #[inline]
    fn from_item(item: Buffered) -> Result<Received<E>, Buffered> {
        match item.0 {
            Item::Static(value) => value
                .downcast::<E>()
                .map_err(|value| Buffered(Item::Static(value))),
            Item::Dynamic(event) => event
                .value_arc::<E>()
                .map(Received::shared)
                .ok_or(Buffered(Item::Dynamic(event))),
        }
    }
}

impl Receive for DynamicEvent {
    type Output = Arc<DynamicEvent>;

    #[inline]
    fn from_item(item: Buffered) -> Result<Arc<DynamicEvent>, Buffered> {
        match item.0 {
            Item::Dynamic(event) => Ok(event),
            // Untyped subscribers are pushed dynamic events only; should a static value get
            // here, it is made into one.
            Item::Static(mut value) => Ok(Arc::new(value.make_dynamic())),
        }
    }
}

/// Receives events from a bounded buffer (`channel_capacity`). Made by
/// [`EventSystem::subscribe`] (static event type) or [`EventSystem::subscribe_topic`]
/// (pattern). Dropping it unsubscribes; events still buffered count as dropped (`Closed`).
/// A typed subscriber's receives return a [`Received<E>`] (the value as it was published,
/// read through `Deref`); an untyped one's an `Arc<DynamicEvent>`.
///
/// What happens when the buffer is full is the system's
/// [`BackpressureStrategy`](crate::BackpressureStrategy). After
/// [`shutdown`](EventSystem::shutdown) it yields what is buffered, then [`Error::Closed`].
pub struct EventSubscriber<T> {
    id: SubscriptionId,
    buffer: Arc<Buffer<Item>>,
    bus: Weak<Bus>,
    _type: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for EventSubscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSubscriber")
            .field("id", &self.id)
            .field("type", &std::any::type_name::<T>())
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

impl<T> EventSubscriber<T> {
    pub(crate) fn new(id: SubscriptionId, buffer: Arc<Buffer<Item>>, bus: &Arc<Bus>) -> Self {
        EventSubscriber {
            id,
            buffer,
            bus: Arc::downgrade(bus),
            _type: PhantomData,
        }
    }

    /// Its subscription id.
    pub fn id(&self) -> SubscriptionId {
        self.id
    }

    /// Events waiting in its buffer.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// True once the system has shut down (what is buffered can still be received).
    pub fn is_closed(&self) -> bool {
        self.buffer.is_closed()
    }
}

impl<T: Receive> EventSubscriber<T> {
    /// The next event; waits for one. [`Error::Closed`] once the system is shut down and the
    /// buffer is empty. Cancel-safe: dropping the future loses no event.
    pub async fn receive(&self) -> Result<T::Output, Error> {
        loop {
            // Most receives find an event buffered: take it without setting up a wait.
            let item = match self.buffer.try_recv() {
                Ok(item) => Some(item),
                Err(TryRecv::Closed) => None,
                Err(TryRecv::Empty) => self.buffer.recv().await,
            };
            match item {
                Some(item) => {
                    if let Some(value) = self.accept(item) {
                        return Ok(value);
                    }
                }
                None => return Err(Error::Closed),
            }
        }
    }

    /// The next event, waiting at most `timeout` ([`Error::Timeout`]). Any duration is
    /// valid: one too long to represent as a deadline waits like [`receive`](Self::receive).
    pub async fn receive_timeout(&self, timeout: Duration) -> Result<T::Output, Error> {
        let Some(deadline) = tokio::time::Instant::now().checked_add(timeout) else {
            return self.receive().await;
        };
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.buffer.recv_timeout(left).await {
                Ok(item) => {
                    if let Some(value) = self.accept(item) {
                        return Ok(value);
                    }
                }
                Err(RecvTimeout::TimedOut) => return Err(Error::Timeout(timeout)),
                Err(RecvTimeout::Closed) => return Err(Error::Closed),
            }
        }
    }

    /// Up to `max` buffered events at once, without waiting (one lock for the whole batch);
    /// an empty `Vec` when nothing is buffered, [`Error::Closed`] once closed and drained.
    pub fn try_receive_batch(&self, max: usize) -> Result<Vec<T::Output>, Error> {
        // One lock: the batch is taken (and the Vec sized, by `extend`) under it.
        let mut items = Vec::new();
        self.buffer.recv_batch(max, &mut items);
        if items.is_empty() && self.buffer.is_closed() {
            return Err(Error::Closed);
        }
        Ok(items
            .into_iter()
            .filter_map(|item| self.accept(item))
            .collect())
    }

    /// The next event if one is buffered, without waiting; `Ok(None)` when empty.
    pub fn try_receive(&self) -> Result<Option<T::Output>, Error> {
        loop {
            match self.buffer.try_recv() {
                Ok(item) => {
                    if let Some(value) = self.accept(item) {
                        return Ok(Some(value));
                    }
                }
                Err(TryRecv::Empty) => return Ok(None),
                Err(TryRecv::Closed) => return Err(Error::Closed),
            }
        }
    }
}

impl<T: Receive> EventSubscriber<T> {
    /// The item's value; an item of another type moves from delivered to dropped.
    #[inline]
    fn accept(&self, item: Item) -> Option<T::Output> {
        match T::from_item(Buffered(item)) {
            Ok(value) => Some(value),
            Err(Buffered(item)) => {
                if let Some(bus) = self.bus.upgrade() {
                    bus.undeliver(&item, DropReason::TypeMismatch);
                }
                None
            }
        }
    }
}

impl<T> Drop for EventSubscriber<T> {
    fn drop(&mut self) {
        match self.bus.upgrade() {
            // Unsubscribing drains the buffer and counts what was left.
            Some(bus) => {
                bus.unsubscribe(self.id);
            }
            // The system is gone, and its counters with it: just release the budget.
            None => drop(self.buffer.close_and_drain()),
        }
    }
}

impl Publish for Arc<DynamicEvent> {
    fn publish_on(
        self,
        system: &EventSystem,
    ) -> impl std::future::Future<Output = Result<Published, Error>> + Send {
        system.publish_shared(self)
    }
}

impl Publish for DynamicEvent {
    fn publish_on(
        self,
        system: &EventSystem,
    ) -> impl std::future::Future<Output = Result<Published, Error>> + Send {
        system.publish_dynamic(self)
    }
}

impl<E: StaticEvent> Publish for E {
    fn publish_on(
        self,
        system: &EventSystem,
    ) -> impl std::future::Future<Output = Result<Published, Error>> + Send {
        system.publish(self)
    }
}
