//! `Error`: everything that can go wrong in staticbus, as the system reports it.

use crate::bus::BackpressureError;
use crate::linked::invoke::DisplayList;
use crate::linked::{BoxError, HandlerErrors, RegistryProblem};

use super::plugins::PluginProblem;

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
    /// The plugins cannot be set up: dependency problems (cycles, missing or disabled
    /// dependencies, versions that do not match) and configuration problems, all of them.
    #[error("{} plugin problem(s): {}", .0.len(), DisplayList(.0))]
    Plugins(Vec<PluginProblem>),
    /// `build()` cannot make these plugins: their `#[init]` or `#[start]` is async work that
    /// only [`start`](crate::EventSystemBuilder::start) awaits.
    #[error(
        "plugin(s) {plugins:?} have an `#[init]` or `#[start]` method: build the system with \
         `EventSystem::builder().start().await` instead of `build()`"
    )]
    NeedsStart {
        /// The plugins with an `#[init]` or `#[start]`.
        plugins: Vec<&'static str>,
    },
    /// A plugin's `#[init]` failed (or panicked); the plugins made before it were shut down.
    #[error("plugin `{plugin}` failed to initialize: {source}")]
    PluginInit {
        /// The plugin.
        plugin: String,
        /// Its error.
        source: BoxError,
    },
    /// A plugin's `#[start]` failed (or panicked); every plugin made was shut down.
    #[error("plugin `{plugin}` failed to start: {source}")]
    PluginStart {
        /// The plugin.
        plugin: String,
        /// Its error.
        source: BoxError,
    },
    /// One or more handlers returned an error.
    #[error(transparent)]
    Handlers(#[from] HandlerErrors),
    /// A builder or subscription option is invalid, alone or with another one.
    #[error("invalid option `{option}`: {reason}")]
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
    /// The system was shut down: it accepts no more publishes or subscriptions.
    #[error("the event system is shut down and accepts no more events or subscriptions")]
    Shutdown,
    /// A publish was waiting for room in full buffers (`Block`) when the system shut down and
    /// closed them: the event was dropped for those subscribers.
    #[error(
        "event {topic:?} was dropped for {dropped} subscriber(s): the system shut down while \
         the publish waited for room in their full buffers ({enqueued} buffered it)"
    )]
    DroppedAtShutdown {
        /// The event's topic.
        topic: String,
        /// Subscribers whose buffer closed before the event got in.
        dropped: usize,
        /// Subscribers that buffered it.
        enqueued: usize,
    },
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
    /// [`EventSystem::publish_as`](crate::EventSystem::publish_as) of an event whose topic is
    /// not the static type's name.
    #[error(
        "event {topic:?} cannot be published as a `{type_name}`: that type's events are named \
         {name:?}"
    )]
    NotItsType {
        /// The event's topic.
        topic: String,
        /// The static type asked for.
        type_name: &'static str,
        /// Its events' name.
        name: &'static str,
    },
    /// A durable publish could not persist its event: it was not dispatched either.
    #[error(transparent)]
    Persist(#[from] crate::bus::PersistError),
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
