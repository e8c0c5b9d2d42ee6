//! `EventSystem`: the plugin instances, the dynamic bus, and the entry points.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::bus::{
    Bus, Dispatched, NewSub, Publishable, SubKind, Subscription, SubscriptionInfo, Tally,
};
use crate::channel::{EventPublisher, EventSubscriber, Publish};
use crate::config::{BackpressureStrategy, Config, ImplementationType};
use crate::dynamic::{DynamicEvent, EventRef, Pattern, Payload, Topic};
use crate::error::{Error, HandlerError, HandlerErrors};
use crate::event::StaticEvent;
use crate::handler::{BoxError, BoxFuture, HandlerFn, HandlerInfo, IntoHandlerResult};
use crate::metrics::MetricsSnapshot;
use crate::plugin::{Context, Plugin};
use crate::registry::{Registry, registry};

/// The event system: one instance of every linked plugin, static dispatch through link-time
/// tables, and a dynamic bus for topics known only at run time.
///
/// Cheap to clone (two `Arc`s); share it between tasks.
#[derive(Clone)]
pub struct EventSystem {
    ctx: Arc<Context>,
    bus: Arc<Bus>,
    zero_copy: bool,
}

impl std::fmt::Debug for EventSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSystem")
            .field("plugins", &self.ctx)
            .field("bus", &self.bus)
            .finish()
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Configures and builds an [`EventSystem`].
///
/// ```
/// use std::time::Duration;
/// use staticbus::{BackpressureStrategy, EventSystem, ImplementationType};
///
/// # fn main() -> Result<(), staticbus::Error> {
/// let system = EventSystem::builder()
///     .channel_capacity(256)
///     .backpressure_strategy(BackpressureStrategy::DropOldest)
///     .global_buffer_size(10_000)
///     .default_timeout(Duration::from_millis(500))
///     .implementation(ImplementationType::StaticFastPath)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
#[must_use = "call .build() to get an EventSystem"]
pub struct EventSystemBuilder {
    required_plugins: Vec<String>,
    config: Config,
}

impl EventSystemBuilder {
    /// Makes `build()` fail unless plugins with these names are linked.
    ///
    /// The linker silently drops a plugin crate the binary never names; this turns that into
    /// an error at start-up instead of events that nobody handles.
    ///
    /// ```standalone_crate
    /// # use staticbus::EventSystem;
    /// let err = EventSystem::builder().require_plugins(["billing"]).build().unwrap_err();
    /// assert!(err.to_string().contains("staticbus::link!"));
    /// ```
    pub fn require_plugins<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_plugins
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// Events each pull subscriber ([`EventSubscriber`]) can buffer. Default 1024; at least 1.
    pub fn channel_capacity(mut self, events: usize) -> Self {
        self.config.channel_capacity = events;
        self
    }

    /// What publishing does when a subscriber's buffer is full. Default [`Block`](BackpressureStrategy::Block).
    pub fn backpressure_strategy(mut self, strategy: BackpressureStrategy) -> Self {
        self.config.backpressure = strategy;
        self
    }

    /// Most events buffered across all pull subscribers together. Default: no limit.
    pub fn global_buffer_size(mut self, events: usize) -> Self {
        self.config.global_buffer_events = Some(events);
        self
    }

    /// Most payload bytes buffered across all pull subscribers together. Default: no limit.
    pub fn global_buffer_bytes(mut self, bytes: usize) -> Self {
        self.config.global_buffer_bytes = Some(bytes);
        self
    }

    /// How long `Block` waits for room. Default 5 s.
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.config.default_timeout = timeout;
        self
    }

    /// Most `publish` calls dispatching at once; others wait their turn. Default: no limit.
    pub fn max_concurrent_dispatches(mut self, n: usize) -> Self {
        self.config.max_concurrent_dispatches = Some(n);
        self
    }

    /// Keep per-topic counts for [`EventSystem::metrics`]. Default on.
    pub fn enable_metrics(mut self, on: bool) -> Self {
        self.config.metrics = on;
        self
    }

    /// Which machinery carries static events; application code does not change.
    pub fn implementation(mut self, implementation: ImplementationType) -> Self {
        self.config.implementation = implementation;
        self
    }

    /// Largest payload a dynamic event may carry. Default 16 MiB.
    pub fn max_payload_bytes(mut self, bytes: usize) -> Self {
        self.config.max_payload_bytes = bytes;
        self
    }

    /// Buffer fill (0..=1) above which [`EventSystem::health_check`] reports. Default 0.8.
    pub fn health_buffer_threshold(mut self, fraction: f64) -> Self {
        self.config.health_threshold = fraction;
        self
    }

    /// Checks the options and the registry, builds every event's handler table and
    /// instantiates every linked `#[plugin]` (sorted by name, each with `Default`).
    ///
    /// Fails with [`Error::InvalidConfig`] naming the option at fault, with
    /// [`Error::Registry`] listing every registration conflict (two event types or two plugins
    /// with one name), or with [`Error::MissingPlugins`].
    pub fn build(self) -> Result<EventSystem, Error> {
        self.config.validate()?;
        let registry = registry();
        if !registry.problems().is_empty() {
            return Err(Error::Registry(registry.problems().to_vec()));
        }
        let linked: Vec<&'static str> = registry.plugins().map(|p| p.name()).collect();
        let missing: Vec<String> = self
            .required_plugins
            .into_iter()
            .filter(|name| !linked.contains(&name.as_str()))
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingPlugins { missing, linked });
        }
        registry.prepare_tables();
        tracing::debug!(
            plugins = ?linked,
            events = registry.events().len(),
            "staticbus: building event system; a plugin crate missing here was not linked \
             (add `staticbus::link!(that_crate);` to the binary)"
        );
        let zero_copy = self.config.implementation == ImplementationType::ZeroCopy;
        let system = EventSystem {
            ctx: Arc::new(Context::new(registry.plugin_decls())),
            bus: Bus::new(self.config, registry.static_events()),
            zero_copy,
        };
        if zero_copy {
            registry.install_zero_copy(&system);
        }
        Ok(system)
    }
}

/// Options of a push subscription: priority and filter.
///
/// ```
/// use staticbus::SubscribeOptions;
/// let options = SubscribeOptions::new()
///     .priority(10)
///     .filter(|e| e.topic().ends_with(".failed"));
/// ```
#[derive(Default)]
#[must_use]
pub struct SubscribeOptions {
    priority: i32,
    filter: Option<crate::bus::Filter>,
}

impl SubscribeOptions {
    /// Priority 0, no filter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Higher runs first; equal priorities run in subscription order.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Only events for which `filter` returns true reach the handler (the others count as
    /// dropped, reason `Filtered`).
    pub fn filter<F>(mut self, filter: F) -> Self
    where
        F: Fn(&EventRef<'_>) -> bool + Send + Sync + 'static,
    {
        self.filter = Some(Box::new(filter));
        self
    }
}

impl std::fmt::Debug for SubscribeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscribeOptions")
            .field("priority", &self.priority)
            .field("filter", &self.filter.is_some())
            .finish()
    }
}

/// What [`EventSystem::health_check`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// Everything that needs attention; empty when healthy.
    pub issues: Vec<HealthIssue>,
}

impl HealthReport {
    /// True when there is nothing to report.
    pub fn is_healthy(&self) -> bool {
        self.issues.is_empty()
    }
}

/// One finding of a health check.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HealthIssue {
    /// The system was shut down.
    Closed,
    /// The global buffer budget is fuller than the threshold.
    BufferAboveThreshold {
        /// Fill, 0..=1.
        utilisation: f64,
        /// The configured threshold.
        threshold: f64,
    },
    /// A pull subscriber is not keeping up: its buffer is fuller than the threshold.
    LaggingSubscriber {
        /// Which one.
        subscription: crate::SubscriptionId,
        /// Its pattern.
        pattern: String,
        /// Events waiting in its buffer.
        buffered: usize,
        /// Its capacity.
        capacity: usize,
    },
}

/// What [`EventSystem::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every publish in flight (see [`EventSystem::shutdown`]) finished before the deadline.
    pub drained: bool,
    /// Publishes still in flight (running handlers or waiting) at the deadline.
    pub in_flight: usize,
    /// Events left in pull subscribers' buffers, still receivable.
    pub buffered: usize,
}

/// What a synchronous [`EventSystem::emit`] did.
///
/// Sixteen bytes, returned in registers: the error list is boxed and only exists when a
/// handler failed, so a successful `emit` neither allocates nor drops anything.
#[derive(Debug, Default)]
pub struct Emitted {
    handled: u32,
    skipped_async: u32,
    errors: Option<ErrorList>,
}

/// Boxed so that `Emitted` stays 16 bytes (returned in registers) and drops with a null check.
#[allow(
    clippy::box_collection,
    reason = "a thin pointer on the hot path, see above"
)]
type ErrorList = Box<Vec<HandlerError>>;

impl Emitted {
    /// Sync handlers that ran and returned `Ok`.
    #[inline]
    pub fn handled(&self) -> usize {
        self.handled as usize
    }

    /// Async handlers `emit` did not run (use [`EventSystem::publish`] for those).
    #[inline]
    pub fn skipped_async(&self) -> usize {
        self.skipped_async as usize
    }

    /// Handlers that returned an error, in dispatch order.
    #[inline]
    pub fn errors(&self) -> &[HandlerError] {
        self.errors.as_deref().map_or(&[], Vec::as_slice)
    }

    /// True when no handler failed.
    #[inline]
    pub fn is_ok(&self) -> bool {
        self.errors.is_none()
    }

    /// `Err` with every handler error when any handler failed, naming event `E`.
    pub fn into_result<E: StaticEvent>(self) -> Result<Emitted, HandlerErrors> {
        match self.errors {
            None => Ok(self),
            Some(errors) => Err(HandlerErrors {
                event: E::NAME.into(),
                errors: *errors,
            }),
        }
    }

    /// Adds what the dynamic bus did for the same event.
    fn absorb(&mut self, mut tally: Tally) {
        // `Tally` counts subscriptions of one route: far below 2^32.
        self.handled += tally.handled as u32;
        self.skipped_async += tally.not_owned as u32;
        let errors = tally.take_errors();
        if !errors.is_empty() {
            self.errors.get_or_insert_default().extend(errors);
        }
    }
}

/// What [`EventSystem::publish`] did when every handler succeeded and every buffer took it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    handled: usize,
    enqueued: usize,
}

impl Published {
    pub(crate) fn new(handled: usize, enqueued: usize) -> Self {
        Published { handled, enqueued }
    }

    /// Handlers (sync and async, static and dynamic) that ran and returned `Ok`.
    pub fn handled(&self) -> usize {
        self.handled
    }

    /// Pull subscribers ([`EventSubscriber`]) that buffered the event.
    pub fn enqueued(&self) -> usize {
        self.enqueued
    }
}

impl EventSystem {
    /// Starts configuring a system.
    pub fn builder() -> EventSystemBuilder {
        EventSystemBuilder::default()
    }

    /// Calls every **sync** handler of `E`, inline, in dispatch order: the link-time table
    /// first, then dynamic subscribers whose pattern matches `E::NAME`.
    ///
    /// Never allocates (unless a handler fails: its error is boxed and collected), never
    /// awaits, never looks a type up: a static table of function pointers per event type, and
    /// one flag that says whether any dynamic subscription matches this event.
    /// Async handlers, and subscribers that need the event owned (async dynamic handlers, pull
    /// subscribers), are not run: [`Emitted::skipped_async`] counts them, and the first such
    /// `emit` per event type logs a `tracing` warning. Use [`publish`](Self::publish) for those.
    #[inline]
    pub fn emit<E: StaticEvent>(&self, event: &E) -> Emitted {
        let table = E::__table();
        // Zero unless a dynamic subscription matches `E::NAME` in some system (static handlers
        // travel the bus under `ImplementationType::ZeroCopy`), or a warning is owed.
        if table.slow_path.load(std::sync::atomic::Ordering::Relaxed) != 0 {
            return self.emit_slow(table, event);
        }
        emit_table(table, &self.ctx, event)
    }

    #[inline(never)]
    fn emit_slow<E: StaticEvent>(&self, table: &crate::event::Table<E>, event: &E) -> Emitted {
        let mut emitted = if self.zero_copy {
            Emitted::default()
        } else {
            let emitted = emit_table(table, &self.ctx, event);
            if table.first_async_skip() {
                table
                    .slow_path
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                warn_async_skipped(E::NAME, table.async_count);
            }
            emitted
        };
        if self.bus.static_match(table.index) {
            let mut tally = Tally::default();
            self.bus.with_route(E::NAME, |route| {
                self.bus
                    .dispatch_borrowed(route, EventRef::static_ref(event), &mut tally)
            });
            emitted.absorb(tally);
        }
        emitted
    }

    /// Calls every handler of `E`, sync and async, one after another in dispatch order (an
    /// async handler is awaited before the next starts): the link-time table first, then the
    /// dynamic subscribers of `E::NAME`, which see the event without a copy (moved into one
    /// `Arc` only if some of them need it owned).
    ///
    /// Every handler runs even when one fails; the failures come back together as
    /// [`Error::Handlers`]. Full subscriber buffers give [`Error::Backpressure`] (after handler
    /// errors, which take precedence). After [`shutdown`](Self::shutdown): [`Error::Shutdown`].
    pub async fn publish<E: StaticEvent>(&self, event: E) -> Result<Published, Error> {
        let _in_flight = self.bus.begin()?;
        let _permit = self.bus.permit().await;
        let table = E::__table();
        let ctx = &*self.ctx;
        let mut handled = 0;
        let mut errors = Vec::new();
        if !self.zero_copy {
            for &(handler, info) in table.ordered.iter() {
                let result = match handler {
                    HandlerFn::Sync(f) => f(ctx, &event),
                    HandlerFn::Async(f) => f(ctx, &event).await,
                };
                match result {
                    Ok(()) => handled += 1,
                    Err(source) => errors.push(HandlerError {
                        handler: crate::error::HandlerRef::Static(info),
                        source,
                    }),
                }
            }
        }
        let mut tally = Tally::default();
        if self.bus.static_match(table.index) {
            let route = self.bus.route(E::NAME);
            if route.needs_owned() {
                let owned = Arc::new(static_as_dynamic(event));
                self.bus.dispatch_owned(&route, owned, &mut tally).await;
            } else {
                self.bus
                    .dispatch_borrowed(&route, EventRef::static_ref(&event), &mut tally);
            }
        }
        finish(|| E::NAME.into(), handled, errors, tally)
    }

    /// Calls the sync subscribers of a dynamic event, inline; async and pull subscribers need
    /// it owned and are only counted ([`Emitted::skipped_async`]): use
    /// [`publish_dynamic`](Self::publish_dynamic) for those.
    pub fn emit_dynamic(&self, event: &DynamicEvent) -> Emitted {
        let mut emitted = Emitted::default();
        if self.bus.has_subscriptions() {
            let mut tally = Tally::default();
            self.bus.with_route(event.topic().as_str(), |route| {
                self.bus
                    .dispatch_borrowed(route, EventRef::dynamic_ref(event), &mut tally)
            });
            emitted.absorb(tally);
        }
        emitted
    }

    /// Delivers a dynamic event to every subscriber whose pattern matches its topic, in
    /// priority order: sync and async handlers run, pull subscribers buffer it (one shared
    /// `Arc`, never a copy per subscriber).
    ///
    /// A payload over `max_payload_bytes` is refused before anything is delivered.
    pub async fn publish_dynamic(&self, event: DynamicEvent) -> Result<Published, Error> {
        self.publish_event(event).await
    }

    /// [`publish_dynamic`](Self::publish_dynamic) for an event that is already shared: no
    /// copy and no allocation, whatever the subscribers (for fan-out or forwarding of one event).
    pub async fn publish_shared(&self, event: Arc<DynamicEvent>) -> Result<Published, Error> {
        self.publish_event(event).await
    }

    /// Generic so that the future of a shared event holds a pointer, not a whole event.
    async fn publish_event<P>(&self, event: P) -> Result<Published, Error>
    where
        P: Publishable + Send,
    {
        self.bus.check_payload(event.borrow())?;
        let mut tally = Tally::default();
        let mut _permit = None;
        let in_flight = if self.bus.limits_dispatches() {
            let in_flight = self.bus.begin()?;
            _permit = self.bus.permit().await;
            Some(in_flight)
        } else {
            None
        };
        match self.bus.dispatch(event, &mut tally, in_flight) {
            Dispatched::Done => {}
            Dispatched::Shutdown => return Err(Error::Shutdown),
            Dispatched::Pending(pending, _in_flight) => {
                self.bus.finish_pending(pending, &mut tally).await;
            }
        }
        let topic = tally.take_topic();
        finish(
            move || topic.map_or(Cow::Borrowed(""), |t| Cow::Owned(t.to_string())),
            0,
            Vec::new(),
            tally,
        )
    }

    /// Subscribes a sync handler to every topic `pattern` matches (exact topic, glob such as
    /// `order.*` / `order.**`, or regex such as `^phase\.(started|completed)$`; see
    /// [`Pattern`]). It sees dynamic events and static events under their name.
    ///
    /// Returns a handle: dropping it unsubscribes. An invalid pattern is an error here.
    pub fn on<P, F, R>(&self, pattern: P, handler: F) -> Result<Subscription, Error>
    where
        P: TryInto<Pattern>,
        P::Error: Into<Error>,
        F: Fn(&EventRef<'_>) -> R + Send + Sync + 'static,
        R: IntoHandlerResult,
    {
        self.on_with(pattern, SubscribeOptions::default(), handler)
    }

    /// [`on`](Self::on) with a priority and a filter.
    pub fn on_with<P, F, R>(
        &self,
        pattern: P,
        options: SubscribeOptions,
        handler: F,
    ) -> Result<Subscription, Error>
    where
        P: TryInto<Pattern>,
        P::Error: Into<Error>,
        F: Fn(&EventRef<'_>) -> R + Send + Sync + 'static,
        R: IntoHandlerResult,
    {
        let kind = SubKind::Sync(Box::new(move |e: &EventRef<'_>| {
            handler(e).into_handler_result()
        }));
        self.push_subscription(pattern, options, kind)
    }

    /// Subscribes an async handler; it runs from `publish`/`publish_dynamic` and receives the
    /// event owned and shared (`Arc`), static events included (their value is behind
    /// [`DynamicEvent::downcast_ref`]).
    pub fn on_async<P, F, Fut, R>(&self, pattern: P, handler: F) -> Result<Subscription, Error>
    where
        P: TryInto<Pattern>,
        P::Error: Into<Error>,
        F: Fn(Arc<DynamicEvent>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
        R: IntoHandlerResult,
    {
        self.on_async_with(pattern, SubscribeOptions::default(), handler)
    }

    /// [`on_async`](Self::on_async) with a priority and a filter.
    pub fn on_async_with<P, F, Fut, R>(
        &self,
        pattern: P,
        options: SubscribeOptions,
        handler: F,
    ) -> Result<Subscription, Error>
    where
        P: TryInto<Pattern>,
        P::Error: Into<Error>,
        F: Fn(Arc<DynamicEvent>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
        R: IntoHandlerResult,
    {
        let kind = SubKind::Async(Box::new(
            move |e: Arc<DynamicEvent>| -> BoxFuture<'static, Result<(), BoxError>> {
                let fut = handler(e);
                Box::pin(async move { fut.await.into_handler_result() })
            },
        ));
        self.push_subscription(pattern, options, kind)
    }

    fn push_subscription<P>(
        &self,
        pattern: P,
        options: SubscribeOptions,
        kind: SubKind,
    ) -> Result<Subscription, Error>
    where
        P: TryInto<Pattern>,
        P::Error: Into<Error>,
    {
        let pattern = pattern.try_into().map_err(Into::into)?;
        let id = self.bus.subscribe(NewSub {
            pattern,
            priority: options.priority,
            filter: options.filter,
            kind,
            info: None,
        });
        Ok(Subscription::new(id, &self.bus))
    }

    /// Every live subscription: id, pattern, priority, delivery, buffer fill.
    pub fn list_subscriptions(&self) -> Vec<SubscriptionInfo> {
        self.bus.list()
    }

    /// A publisher of `T`: a static event type, or [`DynamicEvent`].
    pub fn create_publisher<T: Publish>(&self) -> EventPublisher<T> {
        EventPublisher::new(self.clone())
    }

    /// A pull subscriber of static event `E`, with a bounded buffer (`channel_capacity`).
    /// It receives every `E` published by value (`publish`, `EventPublisher`), and dynamic
    /// events under `E::NAME` whose value is an `E`.
    pub fn subscribe<E: StaticEvent>(&self) -> Result<EventSubscriber<E>, Error> {
        let pattern = Pattern::exact(Topic::from_static_name(E::NAME));
        self.pull_subscription(pattern)
    }

    /// A pull subscriber of every dynamic (and static) event whose topic matches `pattern`.
    pub fn subscribe_topic<P>(&self, pattern: P) -> Result<EventSubscriber<DynamicEvent>, Error>
    where
        P: TryInto<Pattern>,
        P::Error: Into<Error>,
    {
        self.pull_subscription(pattern.try_into().map_err(Into::into)?)
    }

    fn pull_subscription<T>(&self, pattern: Pattern) -> Result<EventSubscriber<T>, Error> {
        if self.bus.is_closed() {
            return Err(Error::Shutdown);
        }
        let buffer = self.bus.new_buffer();
        let id = self.bus.subscribe(NewSub {
            pattern,
            priority: 0,
            filter: None,
            kind: SubKind::Pull(Arc::clone(&buffer)),
            info: None,
        });
        Ok(EventSubscriber::new(id, buffer, &self.bus))
    }

    /// Counts so far: published, delivered, dropped by reason, failed, per topic, buffers.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.bus.metrics()
    }

    /// Reports what needs attention: a closed system, a global buffer fuller than the
    /// threshold, pull subscribers that lag (buffer fuller than the threshold).
    pub fn health_check(&self) -> HealthReport {
        let threshold = self.bus.config.health_threshold;
        let mut issues = Vec::new();
        if self.bus.is_closed() {
            issues.push(HealthIssue::Closed);
        }
        if let Some(utilisation) = self.bus.metrics().buffer_utilisation()
            && utilisation >= threshold
        {
            issues.push(HealthIssue::BufferAboveThreshold {
                utilisation,
                threshold,
            });
        }
        for sub in self.bus.list() {
            if sub.capacity > 0 && sub.buffered as f64 >= threshold * sub.capacity as f64 {
                issues.push(HealthIssue::LaggingSubscriber {
                    subscription: sub.id,
                    pattern: sub.pattern,
                    buffered: sub.buffered,
                    capacity: sub.capacity,
                });
            }
        }
        HealthReport { issues }
    }

    /// Stops accepting publishes (they fail with [`Error::Shutdown`]), waits up to `deadline`
    /// for those in flight, then closes every pull subscriber: receivers get what is buffered,
    /// then [`Error::Closed`]. `emit` is not affected: it runs inline in its caller.
    ///
    /// In flight means running handlers or waiting (for room under `Block`, for an async
    /// handler, for a permit). A publish that only pushes into pull subscribers' buffers
    /// without waiting is not waited for: racing the shutdown, each of its pushes lands before
    /// that buffer closes (and is received) or is dropped as `Closed`, counted either way.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.bus.shutdown(deadline).await
    }

    /// This system's instance of plugin `P`, or `None` when `P` is not linked into the binary.
    pub fn plugin<P: Plugin>(&self) -> Option<&P> {
        self.ctx.plugin::<P>()
    }

    /// The process-wide registry this system was built from.
    pub fn registry(&self) -> &'static Registry {
        registry()
    }

    /// Which implementation carries static events.
    pub fn implementation(&self) -> ImplementationType {
        self.bus.config.implementation
    }

    pub(crate) fn install_static<E: StaticEvent>(&self) {
        let table = E::__table();
        for &(handler, info) in table.ordered.iter() {
            let ctx = Arc::clone(&self.ctx);
            let kind = match handler {
                HandlerFn::Sync(f) => SubKind::Sync(Box::new(move |e: &EventRef<'_>| {
                    match e.downcast_ref::<E>() {
                        Some(event) => f(&ctx, event),
                        None => Err(mismatch::<E>(e.topic())),
                    }
                })),
                HandlerFn::Async(f) => SubKind::Async(Box::new(move |e: Arc<DynamicEvent>| {
                    let ctx = Arc::clone(&ctx);
                    Box::pin(async move {
                        match e.value_arc::<E>() {
                            Some(event) => f(&ctx, &event).await,
                            None => Err(mismatch::<E>(e.topic().as_str())),
                        }
                    })
                })),
            };
            self.bus.subscribe(NewSub {
                pattern: Pattern::exact(Topic::from_static_name(E::NAME)),
                priority: info.priority(),
                filter: None,
                kind,
                info: Some(info),
            });
        }
    }
}

fn mismatch<E>(topic: &str) -> BoxError {
    format!(
        "event {topic:?} does not carry a `{}` value; a dynamic event published under a static \
         event's name must carry that type",
        std::any::type_name::<E>()
    )
    .into()
}

/// The link-time table part of `emit`.
#[inline(always)]
fn emit_table<E: StaticEvent>(table: &crate::event::Table<E>, ctx: &Context, event: &E) -> Emitted {
    for (i, &(handler, _)) in table.sync.iter().enumerate() {
        if let Err(source) = handler(ctx, event) {
            // The first failure leaves the fast loop: errors are collected out of line.
            return emit_failing(table, ctx, event, i, source);
        }
    }
    Emitted {
        // Fits: `Table::build` caps an event's handlers below 2^32.
        handled: table.sync.len() as u32,
        skipped_async: table.async_count,
        errors: None,
    }
}

/// The rest of `emit_table` after handler `failed` returned `source`: every later handler
/// still runs, and every error is collected.
#[cold]
#[inline(never)]
fn emit_failing<E: StaticEvent>(
    table: &crate::event::Table<E>,
    ctx: &Context,
    event: &E,
    failed: usize,
    source: BoxError,
) -> Emitted {
    let mut errors = push_error(None, table.sync[failed].1, source);
    for &(handler, info) in &table.sync[failed + 1..] {
        if let Err(source) = handler(ctx, event) {
            errors = push_error(Some(errors), info, source);
        }
    }
    Emitted {
        handled: (table.sync.len() - errors.len()) as u32,
        skipped_async: table.async_count,
        errors: Some(errors),
    }
}

/// A static event, moved once into an `Arc`, as a dynamic event for owned subscribers.
pub(crate) fn static_as_dynamic<E: StaticEvent>(event: E) -> DynamicEvent {
    DynamicEvent::from_static(
        Topic::from_static_name(E::NAME),
        Payload::from_parts(Arc::new(event), std::any::type_name::<E>(), E::__json()),
    )
}

/// The result of a publish; `event` names it, and is only called on failure.
#[inline]
fn finish(
    event: impl FnOnce() -> std::borrow::Cow<'static, str>,
    handled: usize,
    mut errors: Vec<HandlerError>,
    mut tally: Tally,
) -> Result<Published, Error> {
    if errors.is_empty() && tally.succeeded() {
        return Ok(Published {
            handled: handled + tally.handled,
            enqueued: tally.enqueued,
        });
    }
    errors.append(&mut tally.take_errors());
    if !errors.is_empty() {
        return Err(HandlerErrors {
            event: event(),
            errors,
        }
        .into());
    }
    if tally.rejected + tally.timed_out > 0 {
        return Err(tally.backpressure(&event()).into());
    }
    Ok(Published {
        handled: handled + tally.handled,
        enqueued: tally.enqueued,
    })
}

#[cold]
#[inline(never)]
fn push_error(
    errors: Option<ErrorList>,
    handler: &'static HandlerInfo,
    source: BoxError,
) -> ErrorList {
    let mut errors = errors.unwrap_or_default();
    errors.push(HandlerError {
        handler: crate::error::HandlerRef::Static(handler),
        source,
    });
    errors
}

#[cold]
#[inline(never)]
fn warn_async_skipped(event: &'static str, count: u32) {
    tracing::warn!(
        event,
        skipped = count,
        "staticbus: emit() skipped async handlers of this event; use publish().await to run them \
         (warned once per event type)"
    );
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
