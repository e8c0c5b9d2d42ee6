//! Compile-time events and plugins: handler tables built at link time, dispatched through
//! plain function pointers.
//!
//! Declare an event, handle it with a free function or a plugin method, then emit it:
//!
//! ```standalone_crate
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use staticbus::prelude::*;
//!
//! #[derive(StaticEvent, Debug, Clone)]
//! #[event(name = "order.placed")]
//! pub struct OrderPlaced { pub id: u64, pub total_cents: u64 }
//!
//! static LOGGED: AtomicU64 = AtomicU64::new(0);
//!
//! #[handler(priority = 5)]
//! fn log_order(e: &OrderPlaced) {
//!     LOGGED.fetch_add(1, Ordering::Relaxed);
//! }
//!
//! #[derive(Default)]
//! pub struct Audit { revenue: AtomicU64 }
//!
//! #[plugin(name = "audit", version = "1.0.0")]
//! impl Audit {
//!     #[on(priority = 10)] // higher runs first
//!     fn placed(&self, e: &OrderPlaced) {
//!         self.revenue.fetch_add(e.total_cents, Ordering::Relaxed);
//!     }
//! }
//!
//! # fn main() -> Result<(), staticbus::Error> {
//! let system = EventSystem::builder().build()?; // instantiates every linked #[plugin]
//! let emitted = system.emit(&OrderPlaced { id: 1, total_cents: 999 });
//! assert_eq!(emitted.handled(), 2);
//!
//! let audit: &Audit = system.plugin::<Audit>().expect("linked");
//! assert_eq!(audit.revenue.load(Ordering::Relaxed), 999);
//! assert_eq!(LOGGED.load(Ordering::Relaxed), 1);
//! # Ok(()) }
//! ```
//!
//! Async handlers run from [`EventSystem::publish`], which also runs the sync ones, all in
//! one order; handlers may return `Result<(), E>` and their errors come back from
//! `emit`/`publish`:
//!
//! ```standalone_crate
//! use staticbus::prelude::*;
//!
//! #[derive(StaticEvent)]
//! struct Refund(u64);
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("refund {0} is too large")]
//! struct TooLarge(u64);
//!
//! #[handler]
//! fn check(r: &Refund) -> Result<(), TooLarge> {
//!     if r.0 > 100 { Err(TooLarge(r.0)) } else { Ok(()) }
//! }
//!
//! #[handler(priority = -1)]
//! async fn notify(r: &Refund) {
//!     tokio::task::yield_now().await;
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), staticbus::Error> {
//! let system = EventSystem::builder().build()?;
//! assert_eq!(system.publish(Refund(5)).await?.handled(), 2);
//!
//! let err = system.publish(Refund(500)).await.unwrap_err();
//! assert!(err.to_string().contains("refund 500 is too large"));
//!
//! // emit runs sync handlers only and says how many async ones it skipped.
//! let emitted = system.emit(&Refund(1));
//! assert_eq!((emitted.handled(), emitted.skipped_async()), (1, 1));
//! # Ok(()) }
//! ```
//!
//! Events known only at run time travel the dynamic bus: string topics, glob or regex
//! subscriptions, payloads shared (never copied) between subscribers, and a pull API with
//! bounded buffers and backpressure:
//!
//! ```
//! use std::sync::Arc;
//! use staticbus::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), staticbus::Error> {
//! let system = EventSystem::builder()
//!     .channel_capacity(64)
//!     .backpressure_strategy(BackpressureStrategy::DropOldest)
//!     .build()?;
//! let _audit = system.on("order.*", |e: &EventRef<'_>| println!("saw {}", e.topic()))?;
//! let orders = system.subscribe_topic("order.**")?;
//!
//! let created = DynamicEvent::builder("order.created")
//!     .json(&serde_json::json!({ "id": 7 }))
//!     .build()?;
//! assert_eq!(system.publish_dynamic(created).await?.enqueued(), 1);
//!
//! let received: Arc<DynamicEvent> = orders.receive().await?;
//! assert_eq!(received.json_value()?["id"], 7);
//! assert_eq!(system.metrics().total.delivered, 2); // the push handler and the buffer
//! # Ok(()) }
//! ```
//!
//! A handler that returns an error or panics fails alone: the others still run, and the
//! failure is reported, counted, retried by its policy and kept as a dead letter. Ask a
//! publish for its report to see each handler (README, "When a handler fails"):
//!
//! ```standalone_crate
//! use staticbus::prelude::*;
//! use staticbus::OutcomeKind;
//! #[derive(StaticEvent, Clone)]
//! struct Charge(u64);
//! #[handler(retries = 2, backoff = "constant", base = "1ms")]
//! fn gateway(c: &Charge) -> Result<(), std::io::Error> {
//!     Err(std::io::Error::other(format!("charge {} declined", c.0)))
//! }
//! #[handler]
//! fn ledger(_: &Charge) {}
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), staticbus::Error> {
//! let system = EventSystem::builder().build()?;
//! let report = system.publish(Charge(7)).reported().await;
//! assert_eq!(report.count(OutcomeKind::Succeeded), 1);
//! let failure = report.failures().next().expect("the gateway failed");
//! assert_eq!(failure.attempts, 3); // two retries, then the last failure
//! assert!(failure.dead_lettered);
//! assert_eq!(system.dead_letters().len(), 1);
//! # Ok(()) }
//! ```
//!
//! Misuse is a compile error at the offending token:
//!
//! ```compile_fail
//! use staticbus::prelude::*;
//! struct NotAnEvent;
//! #[handler]
//! fn oops(e: &NotAnEvent) {} // `NotAnEvent` is not a static event
//! ```
//!
//! # Linking
//!
//! Handlers register through linker sections ([`linkme`]). A crate of plugins that the binary
//! depends on but never names is dropped by the linker, with its handlers and no error. Name it
//! once in the binary with [`link!`]:
//!
//! ```ignore
//! staticbus::link!(my_plugins);
//! ```
//!
//! [`registry()`] lists what was linked; `build()` logs the plugin names at `debug` level.
//!
//! Crates that use the macros cannot `#![forbid(unsafe_code)]`: a linker-section static is
//! "unsafe code" to that lint. `#![deny(unsafe_code)]` works (generated code allows it locally).
//!
//! See `ARCHITECTURE.md` for the path of an event from `#[derive]` to handler.

extern crate self as staticbus;

mod bus;
mod dynamic;
mod linked;
mod pipeline;
mod queue;
mod system;

pub use bus::{
    BackpressureContext, BackpressureDecision, BackpressureError, BackpressureStrategy,
    CIRCUIT_CLOSED_TOPIC, CIRCUIT_HALF_OPEN_TOPIC, CIRCUIT_OPENED_TOPIC, CircuitChange,
    CircuitMetrics, CustomStrategy, DEAD_LETTER_TOPIC, DEFAULT_DEAD_LETTER_CAPACITY, DeadLetter,
    DeadLetterReason, DeadLetterStats, Delivery, DropReason, DurableEvent, EventSink,
    HandlerMetrics, HandlerOutcome, MetricsSnapshot, OutcomeKind, PersistError, Received,
    Subscription, SubscriptionId, SubscriptionInfo, TopicMetrics,
};
pub use dynamic::*;
pub use linked::{
    AnyResponse, Metadata, NotRouted, RequestEnvelope, RequestService, ResponderFailed,
    ResponseCloner,
};
pub use linked::{
    BoxError, CircuitBreaker, CircuitOpen, CircuitState, ConfigError, Emitted, EventInfo,
    HandlerError, HandlerErrors, HandlerInfo, HandlerKind, HandlerPanic, HandlerRef,
    HandlerTimeout, IntoHandlerResult, JsonFn, Permanent, PersistentEvent, Plugin, PluginInfo,
    Registry, RegistryProblem, Request, RequestError, RequestFuture, ResponderInfo, Retry,
    StaticEvent, registry,
};
pub use linked::{
    BoxFuture, EnvelopeService, HandlerEnvelope, HandlerFailed, HandlerResult, HandlerService,
    LayerRejected,
};
pub use pipeline::{
    BatchBuilder, BatchError, BatchProcessor, BatchReport, ChainCompleted, ChainFailed,
    ChainStarted, FailedBatch, FnStage, PhaseCompleted, PhaseFailed, PhaseFinalFailure,
    PhaseOutcome, PhaseRetrySuccess, PhaseRetrying, PhaseRun, PhaseStarted, Pipeline,
    PipelineBuilder, PipelineError, PipelineRun, PushError, SinkError, Stage, StageContext,
    StageFuture, StageOutcome, stage_fn,
};
pub use system::{
    AsyncHandlerFn, CONFIG_REJECTED_TOPIC, CONFIG_RELOADED_TOPIC, CallError, ConfigRejected,
    ConfigReloaded, DetachedLeft, Durably, Error, EventPublisher, EventSubscriber, EventSystem,
    EventSystemBuilder, Flow, HandlerContext, HealthIssue, HealthReport, ImplementationType,
    NamedCall, PluginContext, PluginFailed, PluginLoaded, PluginProblem, PluginStarted,
    PluginState, PluginStatus, PluginStopped, Publish, PublishFuture, PublishReport, Publishable,
    Published, Receive, Redriven, ReloadFailure, ReportedPublish, RequestCall, ShutdownReport,
    SubscribeOptions, SyncHandlerFn, SystemHandle,
};
/// The `tower` traits request layers are written against (re-exported: `tower-service` and
/// `tower-layer`).
pub use tower_layer::Layer;
pub use tower_service::Service;

pub use staticbus_macros::{
    Request, StaticEvent, config_changed, handler, init, on, plugin, responds, shutdown, start,
};

/// The names most programs need: `use staticbus::prelude::*;`.
pub mod prelude {
    pub use crate::{
        BackpressureStrategy, DynamicEvent, Emitted, Error, EventRef, EventSystem, HandlerContext,
        ImplementationType, Payload, Plugin, Published, StaticEvent, SubscribeOptions,
        Subscription, handler, on, plugin,
    };
}

/// Guarantees that a crate's handlers and plugins are linked into this binary.
///
/// The linker drops a dependency that nothing references, and with it every `#[handler]` and
/// `#[plugin]` it registers, silently. Put this once in the binary (or in a crate the binary
/// uses) for each such crate:
///
/// ```ignore
/// staticbus::link!(billing_plugins, audit_plugins);
/// ```
#[macro_export]
macro_rules! link {
    ($($krate:ident),+ $(,)?) => {
        $(
            #[allow(unused_imports)]
            use $krate as _;
        )+
    };
}

/// Not public API: the items of `#[derive(StaticEvent)]`'s impl that are the same for every
/// event type but for the type, and its `static`. `macro_rules!`, so that the derive hands
/// the compiler a few tokens per event rather than all of them (the impl's header stays the
/// derive's, so that an error in it, such as a type that is not `Send`, is on the type).
#[doc(hidden)]
#[macro_export]
macro_rules! __static_event_items {
    ($ident:ident, $type_path:expr) => {
        const __TYPE_NAME: &'static str = $type_path;
        #[allow(unsafe_code)]
        const __TABLE: &'static $crate::__private::Table<Self> =
            // SAFETY: `__STATICBUS_EVENT` is made by `EventDecl::new::<Self>`.
            unsafe { $crate::__private::Table::of(&__STATICBUS_EVENT) };
        const __PROBES: $crate::__private::Probes = {
            #[allow(unused_imports)]
            use $crate::__private::{CloneProbeFallback as _, JsonProbeFallback as _};
            $crate::__private::Probes {
                json: $crate::__private::ValueProbe::<$ident>::JSON,
                clone: $crate::__private::ValueProbe::<$ident>::CLONE,
            }
        };
    };
}

/// Not public API: the `static` of `#[derive(StaticEvent)]` (see `__static_event_items!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __static_event_decl {
    ($ident:ident, $line:expr) => {
        $crate::__private::EVENTS! {
            #![linkme_macro = $crate::__private::EVENTS]
            #[allow(unsafe_code)]
            static __STATICBUS_EVENT: $crate::__private::EventDecl =
                $crate::__private::EventDecl::new::<$ident>(::core::file!(), $line);
        }
    };
}

/// Not public API. Used by generated code.
#[doc(hidden)]
pub mod __private {
    #![allow(missing_docs, reason = "generated code only")]

    pub use crate::linked::{
        Answer, Answered, Attempts, CacheProbe, CacheProbeCacheable, CacheProbeFallback, Cacheable,
        CallProbe, CallProbeFallback, CallProbeJson, IntoResponse, JsonCallFn, REQUESTS,
        RequestDecl, ResponderDecl, ResponderFn, ResponderFuture, ResponderMeta, ResponderSlot,
        ResponderTable, ThinError, answered, responder_inactive, retry_responder, start_responder,
    };
    pub use crate::linked::{
        AsyncFn, BoxFuture, Call, CloneFn, CloneProbeFallback, ConfigChangedFn, ConfigSection,
        EVENTS, EventDecl, HANDLERS, HandlerDecl, HandlerFn, HandlerMeta, HandlerResult, HookFn,
        Host, InitFn, IntoHandlerResult, JsonProbeFallback, Lifecycle, NoConfig, PLUGINS,
        PersistCheck, PluginDecl, PluginDefault, PluginKey, PluginKeyed, Probes, SyncFn, Table,
        ValueProbe, inactive, inactive_async, parse_config, parse_no_config, take_config,
        thunk_caught,
    };
    pub use crate::system::{REPLAYERS, ReplayDecl, ReplayFn, replay_static};

    /// What an `#[init]` may return: `Result<Self, E>` for any error type a handler may
    /// return.
    #[diagnostic::on_unimplemented(
        message = "an `#[init]` method returns `Result<Self, E>`, not `{Self}`",
        label = "must be `Result<Self, E>` with `E: std::error::Error + Send + Sync + 'static`"
    )]
    pub trait IntoInitResult<P> {
        fn into_init(self) -> Result<P, crate::BoxError>;
    }

    impl<P, E: Into<crate::BoxError>> IntoInitResult<P> for Result<P, E> {
        fn into_init(self) -> Result<P, crate::BoxError> {
            self.map_err(Into::into)
        }
    }

    /// Type check that points at the user's token (generated with its span). A handler's
    /// event type needs none: `HandlerDecl::new::<E>` is generated with the type's span.
    pub fn assert_send_future<F: core::future::Future + Send>(_: &F) {}
}
