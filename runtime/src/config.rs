//! What `EventSystem::builder()` configures: buffers, backpressure, limits, implementation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::dynamic::DynamicEvent;
use crate::error::Error;

/// What a publisher does when a subscriber's buffer (or the global buffer budget) is full.
#[derive(Clone, Default)]
pub enum BackpressureStrategy {
    /// Wait for room, up to the system's `default_timeout`; then the event is dropped for that
    /// subscriber and `publish` fails with an error for which [`Error::is_backpressure`] holds.
    #[default]
    Block,
    /// Evict the subscriber's oldest buffered events to make room. Never waits.
    DropOldest,
    /// Reject the new event for that subscriber; `publish` fails with a backpressure error.
    DropNewest,
    /// Decide per event and subscriber.
    Custom(CustomStrategy),
}

impl BackpressureStrategy {
    /// A strategy that asks `decide` each time a buffer is full.
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
pub struct CustomStrategy(pub(crate) Arc<CustomFn>);

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
    pub subscription: crate::SubscriptionId,
    /// Events in that buffer now.
    pub buffered: usize,
    /// That buffer's capacity.
    pub capacity: usize,
}

/// Which machinery carries static events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImplementationType {
    /// Static events walk their link-time handler tables (plain function pointers); dynamic
    /// subscribers that match their name see them too. The default and the fast one.
    #[default]
    StaticFastPath,
    /// Static handlers are installed as dynamic subscriptions under the event's name, and
    /// static events travel the dynamic bus (topic lookup, priority-ordered subscribers). For
    /// comparison, and for code that must not depend on link-time tables. Same application
    /// code, same handler order, same results.
    ZeroCopy,
}

/// Validated settings of one system.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) channel_capacity: usize,
    pub(crate) backpressure: BackpressureStrategy,
    pub(crate) global_buffer_events: Option<usize>,
    pub(crate) global_buffer_bytes: Option<usize>,
    pub(crate) default_timeout: Duration,
    pub(crate) max_concurrent_dispatches: Option<usize>,
    pub(crate) metrics: bool,
    pub(crate) implementation: ImplementationType,
    pub(crate) max_payload_bytes: usize,
    pub(crate) health_threshold: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            channel_capacity: 1024,
            backpressure: BackpressureStrategy::Block,
            global_buffer_events: None,
            global_buffer_bytes: None,
            default_timeout: Duration::from_secs(5),
            max_concurrent_dispatches: None,
            metrics: true,
            implementation: ImplementationType::StaticFastPath,
            max_payload_bytes: 16 * 1024 * 1024,
            health_threshold: 0.8,
        }
    }
}

impl Config {
    /// Rejects combinations that cannot work, naming the option and why.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid =
            |option: &'static str, reason: String| Err(Error::InvalidConfig { option, reason });
        if self.channel_capacity == 0 {
            return invalid(
                "channel_capacity",
                "must be at least 1: a subscriber with no buffer could never receive an event"
                    .into(),
            );
        }
        if self.max_concurrent_dispatches == Some(0) {
            return invalid(
                "max_concurrent_dispatches",
                "must be at least 1 (or unset for no limit): 0 would block every publish".into(),
            );
        }
        if self.global_buffer_events == Some(0) {
            return invalid(
                "global_buffer_size",
                "must be at least 1 event (or unset for no limit)".into(),
            );
        }
        if self.max_payload_bytes == 0 {
            return invalid("max_payload_bytes", "must be at least 1 byte".into());
        }
        if let Some(bytes) = self.global_buffer_bytes
            && bytes < self.max_payload_bytes
        {
            return invalid(
                "global_buffer_bytes",
                format!(
                    "{bytes} bytes cannot hold one event of max_payload_bytes ({}); raise it or \
                     lower max_payload_bytes",
                    self.max_payload_bytes
                ),
            );
        }
        if self.default_timeout.is_zero()
            && matches!(self.backpressure, BackpressureStrategy::Block)
        {
            return invalid(
                "default_timeout",
                "is zero while backpressure_strategy is Block: every full buffer would fail at \
                 once; give Block a timeout, or choose DropNewest"
                    .into(),
            );
        }
        if !(self.health_threshold > 0.0 && self.health_threshold <= 1.0) {
            return invalid(
                "health_buffer_threshold",
                format!("{} is not a fraction in (0, 1]", self.health_threshold),
            );
        }
        Ok(())
    }
}
