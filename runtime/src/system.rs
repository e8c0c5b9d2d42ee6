//! `EventSystem`: the plugin instances plus the entry points `emit` and `publish`.

use std::sync::Arc;

use crate::error::{Error, HandlerError, HandlerErrors};
use crate::event::StaticEvent;
use crate::handler::HandlerFn;
use crate::plugin::{Context, Plugin};
use crate::registry::{Registry, registry};

/// The event system: one instance of every linked plugin, and dispatch to every handler.
///
/// Cheap to clone (an `Arc`); share it between tasks.
#[derive(Clone, Debug)]
pub struct EventSystem {
    inner: Arc<Context>,
}

/// Configures and builds an [`EventSystem`].
#[derive(Debug, Default)]
#[must_use = "call .build() to get an EventSystem"]
pub struct EventSystemBuilder {
    required_plugins: Vec<String>,
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

    /// Checks the registry, builds every event's handler table and instantiates every linked
    /// `#[plugin]` (sorted by name, each with `Default`).
    ///
    /// Fails with [`Error::Registry`] listing every conflict: two event types with one name, or
    /// two plugins with one name.
    pub fn build(self) -> Result<EventSystem, Error> {
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
        Ok(EventSystem {
            inner: Arc::new(Context::new(registry.plugin_decls())),
        })
    }
}

/// What a synchronous [`EventSystem::emit`] did.
#[derive(Debug, Default)]
pub struct Emitted {
    /// Sync handlers that ran and returned `Ok`.
    pub handled: usize,
    /// Async handlers `emit` did not run (use [`EventSystem::publish`] for those).
    pub skipped_async: usize,
    /// Handlers that returned an error, in dispatch order. Empty (and unallocated) when all
    /// succeeded.
    pub errors: Vec<HandlerError>,
}

impl Emitted {
    /// True when no handler failed.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Err` with every handler error when any handler failed.
    pub fn into_result<E: StaticEvent>(self) -> Result<Emitted, HandlerErrors> {
        into_result::<E>(self)
    }
}

/// What [`EventSystem::publish`] did when every handler succeeded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Handlers (sync and async) that ran and returned `Ok`.
    pub handled: usize,
}

fn into_result<E: StaticEvent>(emitted: Emitted) -> Result<Emitted, HandlerErrors> {
    if emitted.errors.is_empty() {
        Ok(emitted)
    } else {
        Err(HandlerErrors {
            event: E::NAME,
            errors: emitted.errors,
        })
    }
}

impl EventSystem {
    /// Starts configuring a system.
    pub fn builder() -> EventSystemBuilder {
        EventSystemBuilder::default()
    }

    /// Calls every **sync** handler of `E`, inline, in dispatch order.
    ///
    /// Never allocates (unless a handler fails: its error is boxed and collected), never awaits.
    /// Async handlers of `E` are not run: [`Emitted::skipped_async`] counts them, and the first
    /// such `emit` per event type logs a `tracing` warning. Use [`publish`](Self::publish) to
    /// run them.
    #[inline]
    pub fn emit<E: StaticEvent>(&self, event: &E) -> Emitted {
        let table = E::__table();
        let ctx = &*self.inner;
        let mut emitted = Emitted {
            handled: 0,
            skipped_async: table.async_count,
            errors: Vec::new(),
        };
        for (i, handler) in table.sync.iter().enumerate() {
            match handler(ctx, event) {
                Ok(()) => emitted.handled += 1,
                Err(source) => emitted.errors.push(HandlerError {
                    handler: table.sync_info[i],
                    source,
                }),
            }
        }
        if table.first_async_skip() {
            warn_async_skipped(E::NAME, table.async_count);
        }
        emitted
    }

    /// Calls every handler of `E`, sync and async, one after another in dispatch order
    /// (an async handler is awaited before the next handler starts).
    ///
    /// Every handler runs even when one fails; the failures come back together as
    /// [`Error::Handlers`].
    pub async fn publish<E: StaticEvent>(&self, event: E) -> Result<Published, Error> {
        let table = E::__table();
        let ctx = &*self.inner;
        let mut handled = 0;
        let mut errors = Vec::new();
        for &(handler, info) in table.ordered.iter() {
            let result = match handler {
                HandlerFn::Sync(f) => f(ctx, &event),
                HandlerFn::Async(f) => f(ctx, &event).await,
            };
            match result {
                Ok(()) => handled += 1,
                Err(source) => errors.push(HandlerError {
                    handler: info,
                    source,
                }),
            }
        }
        if errors.is_empty() {
            Ok(Published { handled })
        } else {
            Err(HandlerErrors {
                event: E::NAME,
                errors,
            }
            .into())
        }
    }

    /// This system's instance of plugin `P`, or `None` when `P` is not linked into the binary.
    pub fn plugin<P: Plugin>(&self) -> Option<&P> {
        self.inner.plugin::<P>()
    }

    /// The process-wide registry this system was built from.
    pub fn registry(&self) -> &'static Registry {
        registry()
    }
}

#[cold]
#[inline(never)]
fn warn_async_skipped(event: &'static str, count: usize) {
    tracing::warn!(
        event,
        skipped = count,
        "staticbus: emit() skipped async handlers of this event; use publish().await to run them \
         (warned once per event type)"
    );
}
