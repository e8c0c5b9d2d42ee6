//! Backpressure: what publishing does when a subscriber's buffer (or the global budget) is
//! full, decided in one place, [`Bus::offer`].

use std::fmt;
use std::sync::Arc;

use crate::dynamic::DynamicEvent;
use crate::queue::{Buffer, Overflow, PushOutcome};

use super::Bus;
use super::item::Item;
use super::subscription::{Sub, SubscriptionId};

/// What a publisher does when a subscriber's buffer (or the global buffer budget) is full.
#[derive(Clone, Default)]
pub enum BackpressureStrategy {
    /// Wait for room, up to the system's `default_timeout`; then the event is dropped for that
    /// subscriber and `publish` fails with an error for which
    /// [`Error::is_backpressure`](crate::Error::is_backpressure) holds.
    #[default]
    Block,
    /// Evict the subscriber's oldest buffered events to make room. Never waits. When other
    /// buffers hold the global budget (`global_buffer_size` / `global_buffer_bytes`), evicting
    /// this buffer's events may not free enough: the event is then rejected, as with
    /// `DropNewest`.
    DropOldest,
    /// Reject the new event for that subscriber; `publish` fails with a backpressure error.
    DropNewest,
    /// Decide per event and subscriber.
    Custom(CustomStrategy),
}

impl BackpressureStrategy {
    /// A strategy that asks `decide` each time a buffer is full. If `decide` panics, the
    /// event is refused for that subscriber, as under [`DropNewest`](Self::DropNewest).
    ///
    /// ```
    /// use staticbus::{BackpressureDecision, BackpressureStrategy};
    ///
    /// // Never block for telemetry; block (with the timeout) for everything else.
    /// let strategy = BackpressureStrategy::custom(|ctx| {
    ///     if ctx.event.topic().as_str().starts_with("telemetry.") {
    ///         BackpressureDecision::DropOldest
    ///     } else {
    ///         BackpressureDecision::Block
    ///     }
    /// });
    /// ```
    pub fn custom<F>(decide: F) -> Self
    where
        F: Fn(&BackpressureContext<'_>) -> BackpressureDecision + Send + Sync + 'static,
    {
        BackpressureStrategy::Custom(CustomStrategy(Arc::new(decide)))
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            BackpressureStrategy::Block => "Block",
            BackpressureStrategy::DropOldest => "DropOldest",
            BackpressureStrategy::DropNewest => "DropNewest",
            BackpressureStrategy::Custom(_) => "Custom",
        }
    }
}

impl fmt::Debug for BackpressureStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The decision function of [`BackpressureStrategy::Custom`].
#[derive(Clone)]
pub struct CustomStrategy(Arc<CustomFn>);

type CustomFn = dyn Fn(&BackpressureContext<'_>) -> BackpressureDecision + Send + Sync;

/// What a custom strategy decides for one event and one full subscriber buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackpressureDecision {
    /// Wait for room, up to the default timeout.
    Block,
    /// Evict the oldest buffered events.
    DropOldest,
    /// Reject this event for this subscriber.
    DropNewest,
}

/// What a custom strategy sees.
#[derive(Debug)]
#[non_exhaustive]
pub struct BackpressureContext<'a> {
    /// The event being delivered.
    pub event: &'a DynamicEvent,
    /// The subscription whose buffer is full.
    pub subscription: SubscriptionId,
    /// Events in that buffer now.
    pub buffered: usize,
    /// That buffer's capacity.
    pub capacity: usize,
}

/// What [`Bus::offer`] did with an item.
pub(crate) enum Offered {
    /// Done: enqueued, evicting, rejected or closed.
    Now(PushOutcome<Item>),
    /// The buffer is full and the decision is to wait (`Block`): the item comes back.
    Wait(Item),
}

impl Bus {
    /// The one backpressure decision point: pushes `item` into `buffer` without waiting or
    /// asking first (most pushes find room); a full buffer gets the strategy's decision.
    #[inline(always)]
    pub(crate) fn offer(
        &self,
        sub: &Sub,
        buffer: &Buffer<Item>,
        item: Item,
        bytes: usize,
    ) -> Offered {
        let first = match &self.settings.backpressure {
            BackpressureStrategy::DropOldest => Overflow::DropOldest,
            BackpressureStrategy::DropNewest => Overflow::DropNewest,
            // `try_push` cannot wait: "full" comes back as `Rejected`, decided below.
            BackpressureStrategy::Block | BackpressureStrategy::Custom(_) => Overflow::DropNewest,
        };
        match buffer.try_push(item, bytes, first) {
            PushOutcome::Rejected(mut item) => match self.decide(sub, buffer, &mut item) {
                BackpressureDecision::Block => Offered::Wait(item),
                BackpressureDecision::DropOldest if first != Overflow::DropOldest => {
                    Offered::Now(buffer.try_push(item, bytes, Overflow::DropOldest))
                }
                _ => Offered::Now(PushOutcome::Rejected(item)),
            },
            outcome => Offered::Now(outcome),
        }
    }

    /// What to do with a full buffer. Custom strategies are asked only then.
    #[cold]
    fn decide(&self, sub: &Sub, buffer: &Buffer<Item>, item: &mut Item) -> BackpressureDecision {
        match &self.settings.backpressure {
            BackpressureStrategy::Block => BackpressureDecision::Block,
            BackpressureStrategy::DropOldest => BackpressureDecision::DropOldest,
            BackpressureStrategy::DropNewest => BackpressureDecision::DropNewest,
            BackpressureStrategy::Custom(custom) => {
                let made;
                let event = match item {
                    Item::Dynamic(event) => &**event,
                    Item::Static(value) => {
                        made = value.make_dynamic();
                        &made
                    }
                };
                let ctx = BackpressureContext {
                    event,
                    subscription: sub.id,
                    buffered: buffer.len(),
                    capacity: buffer.capacity(),
                };
                // A strategy that panics decides nothing: the event is refused for this
                // subscriber, as under `DropNewest`, and the publish says so.
                let decide = std::panic::AssertUnwindSafe(|| (custom.0)(&ctx));
                std::panic::catch_unwind(decide).unwrap_or(BackpressureDecision::DropNewest)
            }
        }
    }
}

/// Full buffers refused an event for some subscribers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "backpressure on {topic:?}: {rejected} subscriber buffer(s) rejected the event and \
     {timed_out} stayed full until the timeout ({enqueued} accepted it)"
)]
pub struct BackpressureError {
    /// The event's topic.
    pub topic: String,
    /// Subscribers whose full buffer rejected it (`DropNewest`).
    pub rejected: usize,
    /// Subscribers whose buffer stayed full for `default_timeout` (`Block`).
    pub timed_out: usize,
    /// Subscribers that buffered it.
    pub enqueued: usize,
}
