//! `EventSystem`: the plugin instances plus the entry points `emit` and `publish`.

use std::sync::Arc;

use crate::error::{Error, HandlerError, HandlerErrors};
use crate::event::StaticEvent;
use crate::handler::{BoxError, HandlerFn, HandlerInfo};
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
                event: E::NAME,
                errors: *errors,
            }),
        }
    }
}

/// What [`EventSystem::publish`] did when every handler succeeded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    handled: usize,
}

impl Published {
    /// Handlers (sync and async) that ran and returned `Ok`.
    pub fn handled(&self) -> usize {
        self.handled
    }
}

impl EventSystem {
    /// Starts configuring a system.
    pub fn builder() -> EventSystemBuilder {
        EventSystemBuilder::default()
    }

    /// Calls every **sync** handler of `E`, inline, in dispatch order.
    ///
    /// Never allocates (unless a handler fails: its error is boxed and collected), never awaits,
    /// never looks a type up: a static table of function pointers per event type.
    /// Async handlers of `E` are not run: [`Emitted::skipped_async`] counts them, and the first
    /// such `emit` per event type logs a `tracing` warning. Use [`publish`](Self::publish) to
    /// run them.
    #[inline]
    pub fn emit<E: StaticEvent>(&self, event: &E) -> Emitted {
        let table = E::__table();
        let ctx = &*self.inner;
        let mut errors: Option<ErrorList> = None;
        for &(handler, info) in table.sync.iter() {
            if let Err(source) = handler(ctx, event) {
                // By value, so `errors` never escapes and stays in a register.
                errors = Some(push_error(errors, info, source));
            }
        }
        if table.first_async_skip() {
            warn_async_skipped(E::NAME, table.async_count);
        }
        let failed = errors.as_ref().map_or(0, |e| e.len());
        Emitted {
            // Both fit: `Table::build` caps an event's handlers below 2^32.
            handled: (table.sync.len() - failed) as u32,
            skipped_async: table.async_count,
            errors,
        }
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
fn push_error(
    errors: Option<ErrorList>,
    handler: &'static HandlerInfo,
    source: BoxError,
) -> ErrorList {
    let mut errors = errors.unwrap_or_default();
    errors.push(HandlerError { handler, source });
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
