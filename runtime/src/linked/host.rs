//! `Host`: what every handler thunk receives, and `Call`: the ids of the call it runs in.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Weak};

use super::plugin::{Plugin, PluginDecl};

type Instance = Box<dyn Any + Send + Sync>;

/// One running system as the static layer sees it: its plugin instances, and the rest of the
/// system behind a type-erased handle that only the system layer reads.
///
/// Every handler thunk receives `&Host`. A handler that takes no context ignores it (a
/// register it was handed anyway); a plugin method reads its instance from a slot; a handler
/// that takes a `HandlerContext` builds one from it. Not public API: generated code names it.
///
/// A shared handle: the system holds one, and thunks get a reference to it, so that passing
/// it costs no instruction on `emit`. It keeps its own pointer to the plugin instances, so
/// that a plugin method reaches its instance in two dependent loads (slot, then instance).
#[doc(hidden)]
#[derive(Clone)]
pub struct Host {
    plugins: Arc<[Instance]>,
    shared: Arc<Shared>,
}

/// What a [`Host`] shares.
struct Shared {
    plugins: Arc<[Instance]>,
    system: Box<dyn Any + Send + Sync>,
}

/// A [`Host`] that does not keep its system alive.
#[derive(Clone)]
pub(crate) struct WeakHost(Weak<Shared>);

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("plugins", &self.plugins.len())
            .finish_non_exhaustive()
    }
}

impl WeakHost {
    /// The host, while its system lives.
    pub(crate) fn upgrade(&self) -> Option<Host> {
        let shared = self.0.upgrade()?;
        Some(Host {
            plugins: Arc::clone(&shared.plugins),
            shared,
        })
    }

    /// Whether its system still lives.
    pub(crate) fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

impl Host {
    /// Instantiates every plugin, in registry slot order, beside `system`.
    pub(crate) fn new(decls: &[&'static PluginDecl], system: impl Any + Send + Sync) -> Host {
        let plugins: Arc<[Instance]> = decls.iter().map(|d| (d.construct)()).collect();
        Host {
            plugins: Arc::clone(&plugins),
            shared: Arc::new(Shared {
                plugins,
                system: Box::new(system),
            }),
        }
    }

    /// The system layer's part, if it is a `T`.
    #[inline]
    pub(crate) fn system<T: Any>(&self) -> Option<&T> {
        self.shared.system.downcast_ref::<T>()
    }

    /// A handle that does not keep this host alive.
    pub(crate) fn downgrade(&self) -> WeakHost {
        WeakHost(Arc::downgrade(&self.shared))
    }

    /// The instance of `P`, if `P` is linked.
    #[inline]
    pub fn plugin<P: Plugin>(&self) -> Option<&P> {
        let slot = self.plugins.get(P::__key().index())?;
        debug_assert!(slot.is::<P>());
        let ptr: *const (dyn Any + Send + Sync) = &**slot;
        // SAFETY:
        // - slot `P::__key().index()` was filled by `PluginDecl::new::<P>().construct`: the
        //   registry assigns each decl's index to the key that same decl returns, and builds
        //   `plugins` in that index order (`Registry::plugin_decls`);
        // - `PluginKeyed`'s contract makes that key unique to `P`, and a type registered twice
        //   is rejected before any index is assigned twice (`PluginKey::assign` fails);
        // - so the `dyn Any` in the slot is a `P`, the cast only drops its vtable, and the
        //   reference lives as long as `&self`, which owns the box.
        // `tests/dispatch.rs` (`each_system_has_its_own_plugin_instances`) exercises it.
        #[allow(unsafe_code, reason = "checked-once slot cast on the dispatch path")]
        Some(unsafe { &*ptr.cast::<P>() })
    }

    /// The instance of `P` for a generated handler thunk.
    #[doc(hidden)]
    #[inline(always)]
    pub fn __plugin<P: Plugin>(&self) -> &P {
        match self.plugin::<P>() {
            Some(p) => p,
            None => missing_plugin(std::any::type_name::<P>()),
        }
    }
}

#[cold]
#[inline(never)]
fn missing_plugin(name: &str) -> ! {
    panic!("plugin `{name}` has a handler but no slot: its #[plugin] registration was not linked")
}

/// The ids of one handler call: what caused the event, the flow it belongs to, and which
/// attempt this is. Handlers read them through their `HandlerContext`.
///
/// A publish from outside any handler is [`Call::ROOT`]; a publish from inside one carries the
/// handler's event as its cause. Not public API: generated code names it.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call<'a> {
    pub(crate) causation: Option<&'a str>,
    pub(crate) correlation: Option<&'a str>,
    pub(crate) attempt: u32,
}

impl Call<'static> {
    /// A call with no cause: a publish from outside any handler, first attempt.
    pub const ROOT: Call<'static> = Call {
        causation: None,
        correlation: None,
        attempt: 1,
    };
}

impl<'a> Call<'a> {
    /// The call of a publish made while handling an event with id `cause` (if it has one)
    /// under this call: caused by it, in the same flow (correlation: this call's, else the
    /// cause itself), first attempt.
    pub(crate) fn child(&self, cause: Option<&'a str>) -> Call<'a> {
        Call {
            causation: cause,
            correlation: self.correlation.or(cause),
            attempt: 1,
        }
    }
}
