//! The static layer: events, handlers and plugins declared with the macros and gathered by the
//! linker, their per-type tables, and the `emit` walk.
//!
//! `#[derive(StaticEvent)]` gives a type a [`Table`], a `static` that starts empty;
//! `#[handler]` and `#[on]` put a [`HandlerDecl`] (a function pointer, its event type erased)
//! into one link-time slice, `#[plugin]` a [`PluginDecl`]. The [`registry()`] reads the
//! slices once, sorts every event's handlers into dispatch order and gives every plugin a slot;
//! building a system fills every table, so that `emit` is a walk over plain function pointers:
//! no type lookup, no allocation.
//!
//! Every handler thunk receives a [`Host`] (the plugin instances of its system, the rest of the
//! system behind a type-erased handle) and a [`Call`] (the ids of the call), and runs through
//! the one [`invoke`] step. This layer imports nothing from the rest of the crate.

mod breaker;
pub(crate) mod call;
mod config;
mod event;
mod guarded;
mod handler;
pub(crate) mod handler_layers;
mod host;
mod in_place;
mod instances;
pub(crate) mod invoke;
pub(crate) mod layered;
mod plugin;
mod registry;
pub(crate) mod request;
pub(crate) mod requesting;
mod retry;
mod table;

#[cfg(test)]
mod tests;

pub(crate) use breaker::{Admission, Breaker};
pub use breaker::{CircuitBreaker, CircuitOpen, CircuitState};
pub use call::{CallProbe, CallProbeFallback, CallProbeJson, JsonCallFn};
pub use config::{
    ConfigError, ConfigSection, NoConfig, parse_config, parse_no_config, take_config,
};
pub(crate) use config::{ENABLED, PLUGINS_KEY, line_of};
pub use event::{
    CloneFn, CloneProbeFallback, EventDecl, JsonFn, JsonProbeFallback, PersistCheck,
    PersistentEvent, Probes, StaticEvent, ValueProbe,
};
pub use handler::{
    AsyncFn, BoxError, BoxFuture, HandlerDecl, HandlerFn, HandlerInfo, HandlerKind, HandlerMeta,
    HandlerResult, IntoHandlerResult, SyncFn,
};
pub use handler_layers::{
    EnvelopeService, HandlerEnvelope, HandlerFailed, HandlerService, LayerRejected,
};
pub use host::{Call, Host, inactive, inactive_async};
pub(crate) use host::{SystemPart, WeakHost};
pub use invoke::{
    HandlerError, HandlerErrors, HandlerPanic, HandlerRef, HandlerTimeout, SubscriptionId,
    thunk_caught,
};
pub use layered::{
    AnyResponse, CacheProbe, CacheProbeCacheable, CacheProbeFallback, Cacheable, Metadata,
    NotRouted, RequestEnvelope, RequestService, ResponderFailed, ResponseCloner,
};
pub use plugin::{
    ConfigChangedFn, HookFn, InitFn, Lifecycle, Plugin, PluginDecl, PluginDefault, PluginInfo,
    PluginKey, PluginKeyed,
};
pub use registry::{
    EVENTS, EventInfo, HANDLERS, PLUGINS, REQUESTS, Registry, RegistryProblem, registry,
};
pub use request::{
    Answer, Answered, Attempts, IntoResponse, Request, RequestDecl, ResponderDecl, ResponderFn,
    ResponderFuture, ResponderInfo, ResponderMeta, ResponderSlot, ResponderTable, ThinError,
    answered, responder_inactive, retry_responder, start_responder,
};
pub use requesting::{RequestError, RequestFuture};
pub use retry::{Permanent, Retry};
pub use table::{Emitted, Table};

pub(crate) use event::EventDesc;
pub(crate) use table::{StaticRef, TableCore};
