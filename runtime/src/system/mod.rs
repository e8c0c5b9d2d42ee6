//! The system layer: the `EventSystem` facade, its builder and configuration, the channel
//! API, the handler context, ZeroCopy installation, and the reports.
//!
//! An `EventSystem` is two handles: the [`Host`] (plugin instances, what every handler thunk
//! receives) and the [`Bus`]. Everything a system does is written once on [`SystemRef`], a
//! borrowed view of both plus the [`Call`] it publishes under: `EventSystem` calls it with
//! [`Call::ROOT`], a [`HandlerContext`] with a call caused by the event being handled.

mod builder;
mod call;
mod channel;
mod context;
mod dead_letters;
mod error;
mod future;
mod persist;
mod plugins;
mod publish;
mod received;
mod reported;
mod reports;
mod request;
mod subscribe;
mod zero_copy;

use std::sync::Arc;
use std::time::Duration;

use crate::bus::{Bus, MetricsSnapshot, SubscriptionId, SubscriptionInfo};
use crate::dynamic::DynamicEvent;
use crate::linked::requesting::Requests;
use crate::linked::{Call, Emitted, Host, Plugin, Registry, StaticEvent, StaticRef, registry};

pub use builder::{EventSystemBuilder, ImplementationType};
pub use call::{CallError, NamedCall};
pub use channel::{EventPublisher, EventSubscriber, Publish, Receive};
pub use context::{HandlerContext, SystemHandle};
pub use dead_letters::Redriven;
pub use error::Error;
pub use future::{PublishFuture, Publishable};
pub use persist::Durably;
#[doc(hidden)]
pub use persist::{REPLAYERS, ReplayDecl, ReplayFn, replay_static};
pub use plugins::{
    CONFIG_REJECTED_TOPIC, CONFIG_RELOADED_TOPIC, ConfigRejected, ConfigReloaded, PluginContext,
    PluginFailed, PluginLoaded, PluginProblem, PluginStarted, PluginState, PluginStatus,
    PluginStopped, ReloadFailure,
};
pub use received::Flow;
pub use reported::{PublishReport, ReportedPublish};
pub use reports::{DetachedLeft, HealthIssue, HealthReport, Published, ShutdownReport};
pub use request::RequestCall;
pub use subscribe::{AsyncHandlerFn, SubscribeOptions, SyncHandlerFn};

use builder::Config;
use future::StaticPublish;

/// What the system layer keeps in its [`Host`], so that a handler's context can reach the
/// bus: not a cycle, since the bus never holds the host.
struct Core {
    bus: Arc<Bus>,
    zero_copy: bool,
    /// Neither ZeroCopy nor a dispatch limit: a static publish may run inline.
    plain: bool,
    health_threshold: f64,
    plugins: plugins::Plugins,
    /// How long each plugin's `#[shutdown]` may take.
    plugin_shutdown_timeout: Duration,
    /// The configuration in force, for reloads.
    reload: plugins::Reload,
}

/// The event system: one instance of every linked plugin, static dispatch through link-time
/// tables, and a dynamic bus for topics known only at run time.
///
/// Cheap to clone (two `Arc`s); share it between tasks. Dropping the last clone closes every
/// pull subscriber: receivers get what is buffered, then [`Error::Closed`]. Handlers reach
/// their system through their [`HandlerContext`], never by holding a clone (which would keep
/// the system alive from inside itself).
#[derive(Clone)]
pub struct EventSystem {
    host: Host,
    bus: Arc<Bus>,
    zero_copy: bool,
    plain: bool,
}

impl std::fmt::Debug for EventSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSystem")
            .field("plugins", &self.host)
            .field("bus", &self.bus)
            .finish()
    }
}

/// A borrowed system: what every entry point (the system's own, a handler context's) runs on.
#[derive(Clone, Copy)]
pub(crate) struct SystemRef<'a> {
    host: &'a Host,
    bus: &'a Arc<Bus>,
    zero_copy: bool,
    /// Neither ZeroCopy nor a dispatch limit: a static publish may run inline.
    plain: bool,
}

impl<'a> SystemRef<'a> {
    /// The system `host` belongs to.
    fn of(host: &'a Host) -> SystemRef<'a> {
        let Some(core) = host.system::<Core>() else {
            unreachable!("every host is made by EventSystem::new, with a Core")
        };
        SystemRef {
            host,
            bus: &core.bus,
            zero_copy: core.zero_copy,
            plain: core.plain,
        }
    }
}

impl EventSystem {
    /// Starts configuring a system.
    pub fn builder() -> EventSystemBuilder {
        EventSystemBuilder::default()
    }

    pub(crate) fn new(
        config: Config,
        registry: &'static Registry,
        prepared: &plugins::Prepared,
    ) -> EventSystem {
        let zero_copy = config.implementation == ImplementationType::ZeroCopy;
        let plain = !zero_copy && config.settings.max_concurrent_dispatches.is_none();
        let statics = registry.events().iter().map(|e| (e.name(), e.table()));
        let guarded: Vec<_> = if zero_copy {
            Vec::new()
        } else {
            let tables = registry.events().iter().map(|e| e.table().built());
            tables.flat_map(|t| t.guarded_handlers()).collect()
        };
        let responders = registry.responders().iter().copied();
        let persistence = config.persist.persistence();
        let bus = Bus::new(config.settings, statics, guarded, responders, persistence);
        let requests = Requests {
            timeout: config.request_timeout,
            stack: request::stack(&config.request_layers),
        };
        let core = Core {
            bus: Arc::clone(&bus),
            zero_copy,
            plain,
            health_threshold: config.health_threshold,
            plugins: plugins::Plugins::new(registry, prepared),
            plugin_shutdown_timeout: config.plugin_shutdown_timeout,
            reload: plugins::Reload::new(prepared),
        };
        let system = EventSystem {
            host: Host::new(
                registry.plan(),
                core,
                requests,
                config.handler_layers.stack(),
            ),
            bus,
            zero_copy,
            plain,
        };
        zero_copy::install(&system.bus, registry, zero_copy);
        system
    }

    /// The system `host` belongs to.
    fn from_host(host: Host) -> EventSystem {
        let (bus, zero_copy, plain) = {
            let core = SystemRef::of(&host);
            (Arc::clone(core.bus), core.zero_copy, core.plain)
        };
        EventSystem {
            host,
            bus,
            zero_copy,
            plain,
        }
    }

    #[inline(always)]
    pub(crate) fn view(&self) -> SystemRef<'_> {
        SystemRef {
            host: &self.host,
            bus: &self.bus,
            zero_copy: self.zero_copy,
            plain: self.plain,
        }
    }

    fn core(&self) -> &Core {
        match self.host.system::<Core>() {
            Some(core) => core,
            None => unreachable!("every host is made by EventSystem::new, with a Core"),
        }
    }

    /// A handle that does not keep the system alive; [`SystemHandle::upgrade`] gets it back
    /// while a clone of it lives.
    pub fn downgrade(&self) -> SystemHandle {
        SystemHandle::root(self.host.downgrade())
    }

    /// Calls every **sync** handler of `E`, inline, in dispatch order: the link-time table
    /// first, then dynamic subscribers whose pattern matches `E::NAME`.
    ///
    /// Never allocates (unless a handler fails: its error is boxed and collected), never
    /// awaits, never looks a type up: a static table of function pointers per event type,
    /// one load that says whether anything else (a dynamic subscription to this event's name,
    /// in any system) needs looking at.
    /// Async handlers, and subscribers that need the event owned (async dynamic handlers, pull
    /// subscribers), are not run: [`Emitted::skipped_async`] counts them, and the first such
    /// `emit` per event type logs a `tracing` warning. Use [`publish`](Self::publish) for those.
    #[inline(always)]
    pub fn emit<E: StaticEvent>(&self, event: &E) -> Emitted {
        // With debug assertions on (debug builds), one function compiled once for every
        // event type: each `emit` call site then costs the build a call, not the typed fast
        // path (measured: the compile-time benchmark's debug rows). Without them (release
        // builds) the fast path below is inlined, the one the benches measure; both run the
        // same steps.
        #[cfg(debug_assertions)]
        {
            self.emit_erased(StaticRef::new(event), E::__PERSIST)
        }
        #[cfg(not(debug_assertions))]
        {
            if E::__PERSIST {
                self.view().persist_static(StaticRef::new(event));
            }
            // The inline part reads the table only: the view is made on the slow path.
            match E::__TABLE.try_emit(&self.host, &Call::ROOT, event) {
                Some(emitted) => emitted,
                None => self.emit_slow(StaticRef::new(event)),
            }
        }
    }

    /// [`emit`](Self::emit) with debug assertions on, type-erased.
    #[cfg(debug_assertions)]
    #[inline(never)]
    fn emit_erased(&self, event: StaticRef<'_>, persist: bool) -> Emitted {
        if persist {
            self.view().persist_static(event);
        }
        match event.try_emit(&self.host, &Call::ROOT) {
            Some(emitted) => emitted,
            None => self.emit_slow(event),
        }
    }

    /// `emit` off its fast path; one copy for every event type.
    #[inline(never)]
    fn emit_slow(&self, event: StaticRef<'_>) -> Emitted {
        self.view().emit_slow(&Call::ROOT, event)
    }

    /// Calls every handler of `E`, sync and async, one after another in dispatch order (an
    /// async handler is awaited before the next starts): the link-time table first, then the
    /// dynamic subscribers of `E::NAME`, which see the event without a copy (moved into one
    /// `Arc` only if some of them need it owned).
    ///
    /// Every handler runs even when one fails; the failures come back together as
    /// [`Error::Handlers`]. Full subscriber buffers give [`Error::Backpressure`] (after handler
    /// errors, which take precedence). After [`shutdown`](Self::shutdown): [`Error::Shutdown`].
    ///
    /// When every handler of `E` is sync and no dynamic subscription matches, this is `emit`
    /// plus one check that the system is open: it runs before the first `.await` returns.
    pub fn publish<E: StaticEvent>(&self, event: E) -> PublishFuture<'_, StaticPublish<E>> {
        PublishFuture::new(self, StaticPublish::new(event))
    }

    /// Calls the sync subscribers of a dynamic event, inline; async and pull subscribers need
    /// it owned and are only counted ([`Emitted::skipped_async`]): use
    /// [`publish_dynamic`](Self::publish_dynamic) for those.
    pub fn emit_dynamic(&self, event: &DynamicEvent) -> Emitted {
        self.view().emit_dynamic(&Call::ROOT, event)
    }

    /// Delivers a dynamic event to every subscriber whose pattern matches its topic, in
    /// priority order: sync and async handlers run, pull subscribers buffer it (one shared
    /// `Arc`, never a copy per subscriber).
    ///
    /// A payload over `max_payload_bytes` is refused before anything is delivered.
    pub fn publish_dynamic(&self, event: DynamicEvent) -> PublishFuture<'_, DynamicEvent> {
        PublishFuture::new(self, event)
    }

    /// [`publish_dynamic`](Self::publish_dynamic) for an event that is already shared: no
    /// copy and no allocation, whatever the subscribers (for fan-out or forwarding of one event).
    pub fn publish_shared(&self, event: Arc<DynamicEvent>) -> PublishFuture<'_, Arc<DynamicEvent>> {
        PublishFuture::new(self, event)
    }

    /// Every live subscription: id, pattern, priority, delivery, buffer fill. Static handlers
    /// are not subscriptions (under either implementation): see [`registry`](Self::registry).
    pub fn list_subscriptions(&self) -> Vec<SubscriptionInfo> {
        self.bus.list()
    }

    /// Removes subscription `id` (of any kind, also one whose handle was
    /// [`detach`](crate::Subscription::detach)ed); true if it was there. A pull subscriber's
    /// receiver then sees [`Error::Closed`] once it has taken what was buffered.
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        self.bus.unsubscribe(id)
    }

    /// Counts so far: published, delivered, dropped by reason, failed, per topic, buffers.
    ///
    /// They cover what dynamic subscriptions (push and pull) saw, static events included.
    /// Static handlers keep no books, under either implementation: a static event that no
    /// dynamic subscription matches is not counted.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.bus.metrics()
    }

    /// Reports what needs attention: a closed system, a global buffer fuller than the
    /// threshold, pull subscribers that lag (buffer fuller than the threshold).
    pub fn health_check(&self) -> HealthReport {
        let threshold = self.core().health_threshold;
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

    /// Stops accepting publishes and subscriptions (they fail with [`Error::Shutdown`]),
    /// waits up to `deadline` (any duration; one too long to represent is no deadline) for
    /// those in flight, then closes every pull subscriber: receivers get what is buffered,
    /// then [`Error::Closed`]. `emit` is not affected: it runs inline in its caller. The
    /// configuration watcher stops, and a reload that is running is waited for (up to
    /// `deadline` too; one still running after it makes no more plugins). Then the plugins
    /// are shut down, in reverse dependency order, each `#[shutdown]` within the builder's
    /// [`plugin_shutdown_timeout`](EventSystemBuilder::plugin_shutdown_timeout)
    /// (`plugin.stopped`, or `plugin.failed`, is emitted for each); their handlers are skipped
    /// from then on.
    ///
    /// In flight means running async handlers or waiting (for room under `Block`, for a
    /// permit). A publish that runs only sync handlers, or only pushes into buffers with room,
    /// finishes in the poll that started it and is not waited for: racing the shutdown, it
    /// either ran before the refusal or is refused, and each push lands before its buffer
    /// closes (and is received) or is dropped as `Closed`, counted either way. A publish
    /// waiting for room when the buffers close fails with [`Error::DroppedAtShutdown`].
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let drained = self.bus.shutdown(deadline).await;
        let reload = &self.core().reload;
        reload.stop_watching();
        reload.settle(deadline).await;
        self.stop_plugins(self.core().plugin_shutdown_timeout).await;
        let clean = drained.in_flight == 0 && drained.detached.is_empty();
        let detached = drained
            .detached
            .into_iter()
            .map(|(handler, cancelled, running)| DetachedLeft {
                handler,
                cancelled,
                running,
            });
        ShutdownReport {
            drained: clean,
            in_flight: drained.in_flight,
            buffered: drained.buffered,
            detached: detached.collect(),
            plugins: self.plugins(),
        }
    }

    /// Every linked plugin with its state in this system, version and dependencies: the
    /// enabled ones in the order they were made (dependencies first), then the disabled ones.
    pub fn plugins(&self) -> Vec<PluginStatus> {
        self.core().plugins.statuses(registry())
    }

    /// This system's instance of plugin `P`, or `None` when `P` is not linked into the binary.
    pub fn plugin<P: Plugin>(&self) -> Option<&P> {
        self.host.plugin::<P>()
    }

    /// The process-wide registry this system was built from.
    pub fn registry(&self) -> &'static Registry {
        registry()
    }

    /// Which implementation carries static events.
    pub fn implementation(&self) -> ImplementationType {
        if self.zero_copy {
            ImplementationType::ZeroCopy
        } else {
            ImplementationType::StaticFastPath
        }
    }
}
