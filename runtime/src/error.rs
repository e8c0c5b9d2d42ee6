//! Errors of building a system and of running handlers.

use std::fmt;

use crate::handler::{BoxError, HandlerInfo};

/// Everything that can go wrong in staticbus.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry found conflicts; `build()` reports all of them.
    #[error("{} registry problem(s): {}", .0.len(), DisplayList(.0))]
    Registry(Vec<RegistryProblem>),
    /// Plugins named with [`require_plugins`](crate::EventSystemBuilder::require_plugins) are
    /// not in the binary.
    #[error(
        "required plugin(s) {missing:?} are not linked into this binary (linked: {linked:?}); \
         name the crate that defines them once in the binary with `staticbus::link!(that_crate);`"
    )]
    MissingPlugins {
        /// Required names with no linked plugin.
        missing: Vec<String>,
        /// Names of the plugins that are linked.
        linked: Vec<&'static str>,
    },
    /// One or more handlers returned an error.
    #[error(transparent)]
    Handlers(#[from] HandlerErrors),
    /// A builder option is invalid, alone or with another one.
    #[error("invalid EventSystem option `{option}`: {reason}")]
    InvalidConfig {
        /// The builder method at fault.
        option: &'static str,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A topic name is malformed.
    #[error(transparent)]
    Topic(#[from] crate::dynamic::TopicError),
    /// A subscription pattern is malformed.
    #[error(transparent)]
    Pattern(#[from] crate::dynamic::PatternError),
    /// A dynamic event is malformed, or its payload cannot be decoded as asked.
    #[error(transparent)]
    Event(#[from] crate::dynamic::EventError),
    /// A dynamic event's payload is larger than `max_payload_bytes`; nothing was delivered.
    #[error(
        "event {topic:?} carries {size} payload bytes, more than max_payload_bytes ({max}); \
         nothing was delivered"
    )]
    PayloadTooLarge {
        /// The event's topic.
        topic: String,
        /// Its payload size.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// Full buffers refused the event for some subscribers (see [`Error::is_backpressure`]).
    #[error(transparent)]
    Backpressure(#[from] BackpressureError),
    /// The system was shut down: it accepts no more publishes.
    #[error("the event system is shut down and accepts no more events")]
    Shutdown,
    /// The subscriber is closed (the system shut down) and its buffer is empty.
    #[error("the subscriber is closed and has nothing left to receive")]
    Closed,
    /// No event arrived in time.
    #[error("no event arrived within {0:?}")]
    Timeout(std::time::Duration),
    /// Some events of a batch failed; the others were published.
    #[error("{} of {total} events of the batch failed; first: {}", errors.len(), errors.first().map(|(i, e)| format!("#{i}: {e}")).unwrap_or_default())]
    Batch {
        /// Events in the batch.
        total: usize,
        /// Each failure with the event's index in the batch.
        errors: Vec<(usize, Error)>,
    },
}

impl Error {
    /// True when the error means "a buffer was full": `DropNewest` rejected the event, or
    /// `Block` timed out waiting for room. Retrying later may succeed.
    pub fn is_backpressure(&self) -> bool {
        match self {
            Error::Backpressure(_) => true,
            Error::Batch { errors, .. } => errors.iter().any(|(_, e)| e.is_backpressure()),
            _ => false,
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

/// Which handler an error came from.
#[derive(Debug, Clone)]
pub enum HandlerRef {
    /// A `#[handler]` function or `#[on]` method.
    Static(&'static HandlerInfo),
    /// A run-time subscription (`system.on(...)`).
    Subscription {
        /// Its id.
        id: crate::SubscriptionId,
        /// Its pattern.
        pattern: std::sync::Arc<str>,
    },
}

impl HandlerRef {
    /// The static handler's description, for `#[handler]` / `#[on]` handlers.
    pub fn static_info(&self) -> Option<&'static HandlerInfo> {
        match self {
            HandlerRef::Static(info) => Some(info),
            HandlerRef::Subscription { .. } => None,
        }
    }
}

/// A conflict between registrations, found when the registry is first read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryProblem {
    /// Two event types declare the same name.
    #[error(
        "event name {name:?} is declared by two types, `{first}` and `{second}`; \
         give one of them another name with #[event(name = \"...\")]"
    )]
    DuplicateEventName {
        /// The contested name.
        name: &'static str,
        /// One type that declares it.
        first: &'static str,
        /// The other type that declares it.
        second: &'static str,
    },
    /// Two plugin types declare the same name.
    #[error(
        "plugin name {name:?} is used by two plugins, `{first}` and `{second}`; \
         rename one with #[plugin(name = \"...\")]"
    )]
    DuplicatePluginName {
        /// The contested name.
        name: &'static str,
        /// One plugin type that uses it.
        first: &'static str,
        /// The other plugin type that uses it.
        second: &'static str,
    },
    /// One plugin type reached the registry twice (a hand-written `PluginKeyed` impl).
    #[error("plugin `{plugin}` is registered twice; only `#[plugin]` should register plugins")]
    PluginRegisteredTwice {
        /// The plugin type.
        plugin: &'static str,
    },
}

/// The handlers of one dispatch that returned an error, in dispatch order.
#[derive(Debug, thiserror::Error)]
#[error("{} handler(s) of event {event:?} failed: {}", errors.len(), DisplayList(errors))]
pub struct HandlerErrors {
    /// The event's name or topic.
    pub event: std::borrow::Cow<'static, str>,
    /// Each failure, in dispatch order.
    pub errors: Vec<HandlerError>,
}

/// One handler's error, with the handler it came from.
#[derive(Debug, thiserror::Error)]
#[error("{} returned an error: {source}", handler.name())]
pub struct HandlerError {
    /// The handler that failed.
    pub handler: HandlerRef,
    /// What it returned.
    #[source]
    pub source: BoxError,
}

struct DisplayList<'a, T>(&'a [T]);

impl<T: fmt::Display> fmt::Display for DisplayList<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            item.fmt(f)?;
        }
        Ok(())
    }
}
