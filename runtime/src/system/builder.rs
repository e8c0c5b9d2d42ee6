//! `EventSystemBuilder`: what a system is configured with, checked before it is built.

use std::time::Duration;

use crate::bus::{BackpressureStrategy, Settings};
use crate::linked::handler_layers::{EnvelopeService, HandlerLayers, HandlerService};
use crate::linked::layered::{AnyResponse, RequestEnvelope, RequestService};
use crate::linked::{BoxError, registry};
use tower_layer::Layer;
use tower_service::Service;

use super::plugins::{self, Source, Watch};
use super::{Error, EventSystem};

/// Which machinery carries static events.
///
/// The same application code gives the same results under both: the same handlers run in the
/// same order among themselves, `emit` and `publish` report the same counts and errors,
/// [`metrics`](EventSystem::metrics) counts what dynamic subscriptions saw and nothing else
/// (static handlers keep no books), and
/// [`list_subscriptions`](EventSystem::list_subscriptions) lists dynamic subscriptions only
/// (`tests/implementations.rs` runs one scenario under both and compares). What differs:
///
/// | | `StaticFastPath` | `ZeroCopy` | why |
/// |---|---|---|---|
/// | order of static handlers and dynamic subscribers of one event | the table first, then the subscribers by priority | one list by priority | ZeroCopy keeps a single subscription list |
/// | subscription ids | from 1 | after the installed handlers' | installed handlers are subscriptions inside the bus |
/// | a dynamic event published under a static event's name | reaches dynamic subscribers only | also reaches the static handlers (carrying that type's value), or fails them with a type-mismatch error | ZeroCopy finds handlers by name, the tables by type |
/// | cost of `emit` | a walk over function pointers | a route lookup and a walk over boxed closures | what ZeroCopy is for: comparison, and code that must not depend on link-time tables |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImplementationType {
    /// Static events walk their link-time handler tables (plain function pointers); dynamic
    /// subscribers that match their name see them too. The default and the fast one.
    #[default]
    StaticFastPath,
    /// Static handlers are installed as dynamic subscriptions under the event's name, and
    /// static events travel the dynamic bus (topic lookup, priority-ordered subscribers). For
    /// comparison, and for code that must not depend on link-time tables. Same application
    /// code, same handler order, same results, same metrics (see ARCHITECTURE.md).
    ZeroCopy,
}

/// Validated settings of one system.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) settings: Settings,
    pub(crate) implementation: ImplementationType,
    pub(crate) health_threshold: f64,
    pub(crate) plugin_shutdown_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) request_layers: super::request::RequestLayers,
    pub(crate) handler_layers: HandlerLayers,
    pub(crate) persist: super::persist::PersistConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            settings: Settings {
                channel_capacity: 1024,
                backpressure: BackpressureStrategy::Block,
                global_buffer_events: None,
                global_buffer_bytes: None,
                default_timeout: Duration::from_secs(5),
                handler_timeout: None,
                retry_seed: None,
                max_concurrent_dispatches: None,
                metrics: true,
                max_payload_bytes: 16 * 1024 * 1024,
                dead_letter_capacity: crate::bus::DEFAULT_DEAD_LETTER_CAPACITY,
                isolate_panics: true,
            },
            implementation: ImplementationType::StaticFastPath,
            health_threshold: 0.8,
            plugin_shutdown_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            request_layers: super::request::RequestLayers::default(),
            persist: super::persist::PersistConfig::default(),
            handler_layers: HandlerLayers::default(),
        }
    }
}

fn invalid(option: &'static str, reason: impl Into<String>) -> Result<(), Error> {
    Err(Error::InvalidConfig {
        option,
        reason: reason.into(),
    })
}

/// Most concurrent dispatches a limit can allow (Tokio's semaphore holds at most this many
/// permits).
const MAX_DISPATCH_LIMIT: usize = tokio::sync::Semaphore::MAX_PERMITS;

impl Config {
    /// Rejects combinations that cannot work, naming the option and why.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        self.persist.check()?;
        let s = &self.settings;
        if s.channel_capacity == 0 {
            return invalid(
                "channel_capacity",
                "must be at least 1: a subscriber with no buffer could never receive an event",
            );
        }
        match s.max_concurrent_dispatches {
            Some(0) => {
                return invalid(
                    "max_concurrent_dispatches",
                    "must be at least 1 (or unset for no limit): 0 would block every publish",
                );
            }
            Some(n) if n > MAX_DISPATCH_LIMIT => {
                return invalid(
                    "max_concurrent_dispatches",
                    format!(
                        "{n} is more than the {MAX_DISPATCH_LIMIT} dispatches a limit can \
                         allow; leave it unset for no limit"
                    ),
                );
            }
            _ => {}
        }
        if s.global_buffer_events == Some(0) {
            return invalid(
                "global_buffer_size",
                "must be at least 1 event (or unset for no limit)",
            );
        }
        if s.max_payload_bytes == 0 {
            return invalid("max_payload_bytes", "must be at least 1 byte");
        }
        if let Some(bytes) = s.global_buffer_bytes
            && bytes < s.max_payload_bytes
        {
            return invalid(
                "global_buffer_bytes",
                format!(
                    "{bytes} bytes cannot hold one event of max_payload_bytes ({}); raise it or \
                     lower max_payload_bytes",
                    s.max_payload_bytes
                ),
            );
        }
        if s.default_timeout.is_zero() && matches!(s.backpressure, BackpressureStrategy::Block) {
            return invalid(
                "default_timeout",
                "is zero while backpressure_strategy is Block: every full buffer would fail at \
                 once; give Block a timeout, or choose DropNewest",
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
    pub(crate) config: Config,
    plugin_config: Option<Source>,
    watch_config: bool,
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

    /// Events each pull subscriber ([`EventSubscriber`](crate::EventSubscriber)) can buffer,
    /// unless it asks for its own capacity
    /// ([`SubscribeOptions::buffer_capacity`](crate::SubscribeOptions::buffer_capacity)).
    /// Default 1024; at least 1.
    pub fn channel_capacity(mut self, events: usize) -> Self {
        self.config.settings.channel_capacity = events;
        self
    }

    /// What publishing does when a subscriber's buffer is full. Default
    /// [`Block`](BackpressureStrategy::Block).
    pub fn backpressure_strategy(mut self, strategy: BackpressureStrategy) -> Self {
        self.config.settings.backpressure = strategy;
        self
    }

    /// Most events buffered across all pull subscribers together. Default: no limit.
    pub fn global_buffer_size(mut self, events: usize) -> Self {
        self.config.settings.global_buffer_events = Some(events);
        self
    }

    /// Most payload bytes buffered across all pull subscribers together. Default: no limit.
    /// A dynamic event counts its payload length; a static event its `size_of`, or what its
    /// `#[event(size = method)]` says.
    pub fn global_buffer_bytes(mut self, bytes: usize) -> Self {
        self.config.settings.global_buffer_bytes = Some(bytes);
        self
    }

    /// How long `Block` waits for room. Default 5 s. Any duration is valid: one too long to
    /// represent as a deadline means no deadline.
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.config.settings.default_timeout = timeout;
        self
    }

    /// How long an async handler (static or dynamic) may run before it is cancelled (its
    /// future dropped) and its call fails with a [`HandlerTimeout`](crate::HandlerTimeout),
    /// unless its subscription sets its own ([`SubscribeOptions::timeout`](crate::SubscribeOptions::timeout)).
    /// Default: none. Any duration is valid: one too long to be a deadline is none. Sync
    /// handlers cannot be pre-empted and have no timeout.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.config.settings.handler_timeout = Some(timeout);
        self
    }

    /// Seeds the random jitter of retry delays ([`Retry`](crate::Retry)), so that a run's
    /// schedule of attempts is the same every time (for tests). Default: a random seed.
    pub fn retry_seed(mut self, seed: u64) -> Self {
        self.config.settings.retry_seed = Some(seed);
        self
    }

    /// How many dead letters ([`EventSystem::dead_letters`]) the system keeps: the most
    /// recent ones, the oldest pushed out first (counted in
    /// [`DeadLetterStats::overflowed`](crate::DeadLetterStats::overflowed)). Default
    /// [`DEFAULT_DEAD_LETTER_CAPACITY`](crate::DEFAULT_DEAD_LETTER_CAPACITY). Any number is
    /// valid; 0 keeps none (each is still announced on
    /// [`DEAD_LETTER_TOPIC`](crate::DEAD_LETTER_TOPIC)).
    pub fn dead_letter_capacity(mut self, capacity: usize) -> Self {
        self.config.settings.dead_letter_capacity = capacity;
        self
    }

    /// Whether a panicking handler fails alone (default: on). On, its panic becomes its
    /// call's failure (a [`HandlerPanic`](crate::HandlerPanic)), counted and dead-lettered,
    /// and every other handler still runs. Off, once the call has failed for good (after its
    /// retries, counted for its handler in `metrics().handlers` and dead-lettered) the panic
    /// goes on unwinding, with its message, into the caller of `emit` / `publish` (for a
    /// detached handler: its worker task, which ends): the dispatch stops there, as without
    /// isolation, so later handlers do not run and the topic's counts of that dispatch are
    /// not recorded. Either way nothing of the bus is left locked. Under `panic = "abort"`
    /// nothing is caught at all.
    pub fn isolate_panics(mut self, on: bool) -> Self {
        self.config.settings.isolate_panics = on;
        self
    }

    /// Most `publish` calls dispatching at once; others wait their turn. Default: no limit.
    /// At most `tokio::sync::Semaphore::MAX_PERMITS`.
    pub fn max_concurrent_dispatches(mut self, n: usize) -> Self {
        self.config.settings.max_concurrent_dispatches = Some(n);
        self
    }

    /// Keep per-topic counts for [`EventSystem::metrics`]. Default on.
    pub fn enable_metrics(mut self, on: bool) -> Self {
        self.config.settings.metrics = on;
        self
    }

    /// Which machinery carries static events; application code does not change.
    pub fn implementation(mut self, implementation: ImplementationType) -> Self {
        self.config.implementation = implementation;
        self
    }

    /// Largest payload a dynamic event may carry. Default 16 MiB.
    pub fn max_payload_bytes(mut self, bytes: usize) -> Self {
        self.config.settings.max_payload_bytes = bytes;
        self
    }

    /// Buffer fill (0..=1) above which [`EventSystem::health_check`] reports. Default 0.8.
    pub fn health_buffer_threshold(mut self, fraction: f64) -> Self {
        self.config.health_threshold = fraction;
        self
    }

    /// Reads the plugins' configuration from a TOML file when the system is built: its
    /// `[plugins.<name>]` tables are handed to each plugin's `#[init]` (as the type its config
    /// parameter has), and `enabled = false` in one leaves that linked plugin out (never made,
    /// its handlers skipped). Unknown plugin names and unknown keys are errors; every error
    /// names the file, the plugin, the key and the line. Replaces an earlier
    /// [`config`](Self::config).
    ///
    /// ```toml
    /// [plugins.billing]
    /// currency = "EUR"
    ///
    /// [plugins.audit]
    /// enabled = false
    /// ```
    pub fn config_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
        self.plugin_config = Some(Source::File(path.as_ref().to_path_buf()));
        self
    }

    /// The plugins' configuration from code: any value that serializes to a TOML table of
    /// the shape [`config_file`](Self::config_file) reads (a `toml::Table`, or a struct of
    /// your own). Replaces an earlier `config_file`. A value that is not a table is an error
    /// of `build()`.
    pub fn config<T: serde::Serialize>(mut self, value: &T) -> Self {
        let text = toml::to_string(value).map_err(|e| e.to_string());
        self.plugin_config = Some(Source::Code(text));
        self
    }

    /// Watches the [`config_file`](Self::config_file) and reloads it after each change, once
    /// the file has been quiet for 200 ms (an editor's save is several events): what
    /// [`EventSystem::reload_config`] does, all or nothing. A file with any problem changes
    /// nothing and is announced on [`CONFIG_REJECTED_TOPIC`](crate::CONFIG_REJECTED_TOPIC);
    /// a valid one starts the plugins it enables, stops the ones it disables and tells the
    /// running ones whose section changed (`#[config_changed]`). Default off.
    ///
    /// The file's directory is watched (editors replace a file by renaming another over
    /// it), from before the file is first read, so no change is missed. The watcher runs on
    /// the Tokio runtime the system is built on, holds the system weakly (dropping its last
    /// clone stops it) and stops at [`shutdown`](EventSystem::shutdown).
    ///
    /// Only a configuration file can change: with a configuration given in code
    /// ([`config`](Self::config)), or none, `build()` and `start()` fail with
    /// [`Error::InvalidConfig`] naming `watch_config`, as they do outside a Tokio runtime or
    /// when the directory cannot be watched.
    pub fn watch_config(mut self, on: bool) -> Self {
        self.watch_config = on;
        self
    }

    /// How long each plugin's `#[shutdown]` may run (at a system's shutdown, or while a
    /// failed start is rolled back) before it is abandoned and the plugin marked failed.
    /// Default 5 s. Any duration is valid: one too long to be a deadline is none.
    pub fn plugin_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.plugin_shutdown_timeout = timeout;
        self
    }

    /// How long a request's responder may take ([`EventSystem::request`]) unless its
    /// `#[responds(timeout = "..")]` or the call's [`timeout`](crate::RequestCall::timeout)
    /// says otherwise; past it the responder's future is dropped and the request fails with
    /// [`RequestError::Timeout`](crate::RequestError::Timeout). Default 5 s. Any duration is
    /// valid: one too long to be a deadline is none.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Runs every [`EventSystem::request`] through `layer`, a `tower` [`Layer`] of
    /// [`RequestService`]s: the ecosystem's middleware (timeout, rate and concurrency limits,
    /// load shedding) or your own, over one type-erased [`RequestEnvelope`] for all request
    /// types. Layers apply in the order given: **the first given is the outermost** (it sees
    /// the request first and the response last). The request's timeout covers the whole
    /// stack, waiting for it to be ready included: a layer that never becomes ready makes
    /// [`RequestError::Timeout`](crate::RequestError::Timeout). A layer's own error comes
    /// back as [`RequestError::Rejected`](crate::RequestError::Rejected). Without any layer,
    /// requests take the direct path (no envelope, no allocation). Calls by name
    /// ([`EventSystem::call`]) go through the same layers: the envelope carries the typed
    /// request their JSON was read into.
    ///
    /// [`RequestEnvelope`]: crate::RequestEnvelope
    pub fn request_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<RequestService> + Send + Sync + 'static,
        L::Service: Service<RequestEnvelope, Response = AnyResponse> + Clone + Send + 'static,
        <L::Service as Service<RequestEnvelope>>::Error: Into<BoxError>,
        <L::Service as Service<RequestEnvelope>>::Future: Send + 'static,
    {
        let wrap = move |inner| RequestService::new(layer.layer(inner));
        self.config.request_layers.0.push(std::sync::Arc::new(wrap));
        self
    }

    /// Runs every **async** handler call of the system through `layer`, a `tower` [`Layer`]
    /// of [`HandlerService`]s whose service is a `Service<HandlerEnvelope<'a>, Response =
    /// ()>` for every `'a` ([`EnvelopeService`]): the ecosystem's middleware (timeout, rate and concurrency
    /// limits, load shedding) or your own, over one [`HandlerEnvelope`](crate::HandlerEnvelope) for every handler
    /// (event name, handler, plugin, attempt). Layers apply in the order given: **the first
    /// given is the outermost** (it sees the call first and its outcome last).
    ///
    /// Which calls: every call of an async handler of this system, once a handler layer is
    /// given (the layers are the application's, not each handler's: a plugin's handlers are
    /// covered without being marked): static `#[handler] async fn` and `#[on] async fn`
    /// (detached or not), `on_async` subscriptions, detached subscriptions, and redriven dead
    /// letters; each attempt of a retried call goes through the layers again. Sync handlers
    /// run inline in `emit` and never go through layers, and `emit` costs what it costs
    /// without them. Per-handler limits stay the handler's own (`timeout`, `retries`,
    /// `circuit_breaker`, `concurrency = N`).
    ///
    /// One stack per system, not a clone per call: each call takes its turn (first come,
    /// first served) for `poll_ready` and `call`, then runs its future alongside the others.
    /// So a layer need not be `Clone` (tower's `RateLimit` works as it is), and its state is
    /// shared by every layered call of the system: a `ConcurrencyLimitLayer::new(4)` lets
    /// four handler calls run at once in all, whichever handlers they are. The services are
    /// generic over the envelope's lifetime (`for<'a> Service<HandlerEnvelope<'a>>`, which a
    /// layer generic over its request is): a static handler's call borrows the event the
    /// publish holds, so a layer that needs `'static` requests (`Buffer`, `SpawnReady`) does
    /// not fit.
    ///
    /// The handler's timeout (its own, else [`handler_timeout`](Self::handler_timeout))
    /// covers the whole stack, waiting for it to be ready included: a layer that never
    /// becomes ready fails the call with a [`HandlerTimeout`](crate::HandlerTimeout). A call
    /// without any timeout waits for the layers as long as they make it wait, as it would
    /// for its handler: give the system a `handler_timeout` when a layer may hold calls
    /// back. A panic in a layer is the call's failure, as one in the handler is. A layer's
    /// own error is the handler's failure (counted, told to its breaker, retried by its
    /// policy, dead-lettered), as a [`LayerRejected`](crate::LayerRejected) holding the
    /// layer's error ([`HandlerError::layer_rejected`](crate::HandlerError::layer_rejected));
    /// the handler's own failure reaches the layers as a
    /// [`HandlerFailed`](crate::HandlerFailed) and comes out as itself. A system without
    /// handler layers polls each call as it is: no envelope, no lock, no allocation.
    ///
    /// The layers hold back the handler's future: an `async fn` handler's body, a closure's
    /// `async` block. What a closure does before it returns its future runs when the call is
    /// made, before the layers see it. The service a layer wraps is always a
    /// [`HandlerService`], whose future is a `BoxFuture<'a, HandlerResult>`: write your
    /// layer's service over it (`impl<'a> Service<HandlerEnvelope<'a>> for MyService`, an
    /// `async` block in `call` works). A service generic over its inner one whose future is
    /// an `async` block fails to compile ("implementation of `Send` is not general enough",
    /// a limit of the compiler's with such lifetimes); named futures, as tower's own layers
    /// have, are fine.
    ///
    /// ```
    /// use std::task::{Context, Poll};
    /// use staticbus::{BoxError, BoxFuture, EventSystem, HandlerEnvelope, HandlerResult};
    /// use staticbus::HandlerService;
    /// use tower_layer::layer_fn;
    /// use tower_service::Service;
    ///
    /// /// Logs each call's handler and attempt.
    /// struct Logged(HandlerService);
    ///
    /// impl<'a> Service<HandlerEnvelope<'a>> for Logged {
    ///     type Response = ();
    ///     type Error = BoxError;
    ///     type Future = BoxFuture<'a, HandlerResult>;
    ///
    ///     fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
    ///         self.0.poll_ready(cx)
    ///     }
    ///     fn call(&mut self, envelope: HandlerEnvelope<'a>) -> Self::Future {
    ///         let name = envelope.handler().name();
    ///         println!("{} #{} on {}", name, envelope.attempt(), envelope.event());
    ///         let call = self.0.call(envelope);
    ///         Box::pin(async move {
    ///             let result = call.await;
    ///             println!("{name}: {}", if result.is_ok() { "ok" } else { "failed" });
    ///             result
    ///         })
    ///     }
    /// }
    ///
    /// let system = EventSystem::builder().handler_layer(layer_fn(Logged)).build()?;
    /// # Ok::<(), staticbus::Error>(())
    /// ```
    pub fn handler_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<HandlerService> + Send + Sync + 'static,
        L::Service: for<'a> EnvelopeService<'a>,
    {
        let wrap = move |inner| HandlerService::new(layer.layer(inner));
        self.config.handler_layers.0.push(std::sync::Arc::new(wrap));
        self
    }

    /// Checks the options and the registry, builds every event's handler table, reads the
    /// plugins' configuration and orders the plugins (dependencies first), then makes every
    /// enabled linked `#[plugin]` with `Default`.
    ///
    /// Fails with [`Error::InvalidConfig`] naming the option at fault, with
    /// [`Error::Registry`] listing every registration conflict (two event types or two plugins
    /// with one name), with [`Error::MissingPlugins`], with [`Error::Plugins`] listing every
    /// dependency and configuration problem, or with [`Error::NeedsStart`] when a plugin has
    /// an `#[init]` or `#[start]` method: such a system is built with
    /// [`start`](Self::start).
    pub fn build(self) -> Result<EventSystem, Error> {
        let (config, prepared, watch) = self.prepare()?;
        let registry = registry();
        let needs: Vec<&'static str> = prepared
            .order
            .iter()
            .filter_map(|&i| registry.plan().decls().nth(i))
            .filter(|d| d.lifecycle().init.is_some() || d.lifecycle().start.is_some())
            .map(|d| d.info().name())
            .collect();
        if !needs.is_empty() {
            return Err(Error::NeedsStart { plugins: needs });
        }
        let system = EventSystem::new(config, registry, &prepared);
        system.make_plugins_now();
        if let Some(watch) = watch {
            watch.run(&system);
        }
        Ok(system)
    }

    /// [`build`](Self::build), then each enabled plugin is made in dependency order (its
    /// `#[init]`, awaited, with its configuration; or `Default`), then, once every one was
    /// made, each is started (its `#[start]`), each step published (`plugin.loaded`,
    /// `plugin.started`). If an `#[init]` or `#[start]` fails or panics, that plugin is marked
    /// failed (`plugin.failed`), the plugins already made are shut down in reverse order,
    /// and the error ([`Error::PluginInit`], [`Error::PluginStart`]) names the plugin.
    pub async fn start(self) -> Result<EventSystem, Error> {
        let (config, prepared, watch) = self.prepare()?;
        let deadline = config.plugin_shutdown_timeout;
        let system = EventSystem::new(config, registry(), &prepared);
        system.start_plugins(prepared.configs, deadline).await?;
        if let Some(watch) = watch {
            watch.run(&system);
        }
        Ok(system)
    }

    /// What `build` and `start` share: every check, the watch on the configuration file (set
    /// up before the file is read), and the plugins' configuration and order.
    fn prepare(self) -> Result<(Config, plugins::Prepared, Option<Watch>), Error> {
        self.config.validate()?;
        let watch = match (&self.plugin_config, self.watch_config) {
            (_, false) => None,
            (Some(Source::File(path)), true) => Some(Watch::new(path)?),
            (Some(Source::Code(_)), true) => {
                return Err(Error::InvalidConfig {
                    option: "watch_config",
                    reason: "watches the configuration file, and this configuration was given \
                             in code (`config`), which cannot change: give a file with \
                             `config_file(path)`"
                        .to_owned(),
                });
            }
            (None, true) => {
                return Err(Error::InvalidConfig {
                    option: "watch_config",
                    reason: "watches the configuration file, and none was given: add \
                             `config_file(path)`"
                        .to_owned(),
                });
            }
        };
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
        let prepared = plugins::prepare(self.plugin_config.as_ref(), registry, |_| Vec::new())
            .map_err(Error::Plugins)?;
        registry.prepare_tables();
        tracing::debug!(
            plugins = ?linked,
            events = registry.events().len(),
            "staticbus: building event system; a plugin crate missing here was not linked \
             (add `staticbus::link!(that_crate);` to the binary)"
        );
        Ok((self.config, prepared, watch))
    }
}
