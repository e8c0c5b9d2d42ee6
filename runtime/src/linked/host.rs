//! `Host`: what every handler thunk receives, and `Call`: the ids of the call it runs in.

use std::any::Any;
use std::fmt;
use std::ptr::NonNull;
use std::sync::{Arc, Weak};

use super::breaker::{Breaker, CircuitState};
use super::event::EventDesc;
use super::handler::HandlerInfo;
use super::handler_layers::HandlerStack;
use super::instances::{Instances, Plan};
use super::invoke::HandlerError;
use super::plugin::{Plugin, PluginKey};
use super::request::ResponderInfo;
use super::requesting::Requests;

/// What the static layer asks of the system above it, through the [`Host`] every handler
/// call has (the one call upward, written as a trait so that the layers still import one
/// way).
pub(crate) trait SystemPart: Any + Send + Sync {
    /// A static handler's call failed for good (after its last attempt): `error`, on an
    /// event of `desc`'s type, `copy` a copy of it (if the type is `Clone`). Called on the
    /// failure's cold path, before the dispatch goes on.
    fn static_failed(
        &self,
        host: &Host,
        call: &Call<'_>,
        desc: &EventDesc,
        copy: Option<Arc<dyn Any + Send + Sync>>,
        error: &mut HandlerError,
    );

    /// The breaker of static handler `info` in this system, if it has one.
    fn breaker(&self, info: &'static HandlerInfo) -> Option<&Breaker>;

    /// Static handler `info`'s call succeeded after `attempts` (for its counts).
    fn static_retried(&self, info: &'static HandlerInfo, attempts: u32);

    /// A retry's delay, drawn below `ceiling` from the system's (seedable) jitter.
    fn jitter(&self, ceiling: std::time::Duration) -> std::time::Duration;

    /// Static handler `info`'s circuit moved to `state` (announce it).
    fn circuit_moved(
        &self,
        host: &Host,
        call: &Call<'_>,
        info: &'static HandlerInfo,
        breaker: &Breaker,
        state: CircuitState,
    );

    /// The breaker of responder `info` in this system, if it has one.
    fn responder_breaker(&self, info: &'static ResponderInfo) -> Option<&Breaker>;

    /// Responder `info`'s circuit moved to `state` (announce it).
    fn responder_circuit_moved(&self, info: &'static ResponderInfo, state: CircuitState);
}

/// A host with no system (the static layer's own tests): failures go nowhere.
impl SystemPart for () {
    fn static_failed(
        &self,
        _: &Host,
        _: &Call<'_>,
        _: &EventDesc,
        _: Option<Arc<dyn Any + Send + Sync>>,
        _: &mut HandlerError,
    ) {
    }

    fn breaker(&self, _: &'static HandlerInfo) -> Option<&Breaker> {
        None
    }

    fn static_retried(&self, _: &'static HandlerInfo, _: u32) {}

    fn jitter(&self, ceiling: std::time::Duration) -> std::time::Duration {
        ceiling
    }

    fn circuit_moved(
        &self,
        _: &Host,
        _: &Call<'_>,
        _: &'static HandlerInfo,
        _: &Breaker,
        _: CircuitState,
    ) {
    }

    fn responder_breaker(&self, _: &'static ResponderInfo) -> Option<&Breaker> {
        None
    }

    fn responder_circuit_moved(&self, _: &'static ResponderInfo, _: CircuitState) {}
}

/// One running system as the static layer sees it: its plugin instances, and the rest of the
/// system behind a type-erased handle that only the system layer reads.
///
/// Every handler thunk receives `&Host`. A handler that takes no context ignores it (a
/// register it was handed anyway); a plugin method finds its instance at its type's offset
/// from [`Host`]'s base; a handler that takes a `HandlerContext` builds one from it. Not
/// public API: generated code names it.
///
/// A shared handle: the system holds one, and thunks get a reference to it, so that passing
/// it costs no instruction on `emit`. It keeps its own copy of the instances' base address,
/// so that a plugin method's instance is one load away from the `&Host` (and one from its
/// key), not behind a slot array.
#[doc(hidden)]
#[derive(Clone)]
pub struct Host {
    base: Base,
    shared: Arc<Shared>,
}

/// [`Instances::base`] of the instances a [`Host`] keeps alive through its `shared`.
#[derive(Clone, Copy)]
struct Base(NonNull<u8>);

// SAFETY: `Base` is only ever read through a `Host`, whose `shared` owns the `Instances` it
// points into, which is `Send + Sync` itself.
#[allow(unsafe_code, reason = "a copy of a Send + Sync arena's address")]
unsafe impl Send for Base {}
// SAFETY: as above.
#[allow(unsafe_code, reason = "a copy of a Send + Sync arena's address")]
unsafe impl Sync for Base {}

/// What a [`Host`] shares.
struct Shared {
    instances: Instances,
    system: Box<dyn SystemPart>,
    requests: Requests,
    /// The system's handler layers around its async handlers' calls, if it has some.
    handler_stack: Option<HandlerStack>,
}

/// A [`Host`] that does not keep its system alive.
#[derive(Clone)]
pub(crate) struct WeakHost(Weak<Shared>);

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("plugins", &self.shared.instances.len())
            .finish_non_exhaustive()
    }
}

impl WeakHost {
    /// The host, while its system lives.
    pub(crate) fn upgrade(&self) -> Option<Host> {
        let shared = self.0.upgrade()?;
        Some(Host {
            base: Base(shared.instances.base()),
            shared,
        })
    }

    /// Whether its system still lives.
    pub(crate) fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

impl Host {
    /// Room for every plugin of `plan` (none made yet: the system's lifecycle makes them),
    /// beside `system`, whose requests share `requests`, and its handler layers
    /// (`handler_stack`).
    pub(crate) fn new(
        plan: &'static Plan,
        system: impl SystemPart,
        requests: Requests,
        handler_stack: Option<HandlerStack>,
    ) -> Host {
        let instances = Instances::new(plan);
        Host {
            base: Base(instances.base()),
            shared: Arc::new(Shared {
                instances,
                system: Box::new(system),
                requests,
                handler_stack,
            }),
        }
    }

    /// What this system's requests share: the default timeout, the layers.
    #[inline(always)]
    pub(crate) fn requests(&self) -> &Requests {
        &self.shared.requests
    }

    /// The system's handler layers, if it has some: what its async handlers' calls go
    /// through.
    #[inline]
    pub(crate) fn handler_stack(&self) -> Option<&HandlerStack> {
        self.shared.handler_stack.as_ref()
    }

    /// This host's plugin instances.
    pub(crate) fn instances(&self) -> &Instances {
        &self.shared.instances
    }

    /// The system layer's part, if it is a `T`.
    #[inline]
    pub(crate) fn system<T: Any>(&self) -> Option<&T> {
        let system: &dyn Any = &*self.shared.system;
        system.downcast_ref::<T>()
    }

    /// Tells the system a static handler's call failed for good (see
    /// [`SystemPart::static_failed`]): `event` is the address of the value it was called
    /// with.
    ///
    /// # Safety
    /// `event` is the address of a live value of `desc`'s type.
    #[cold]
    #[inline(never)]
    #[allow(unsafe_code, reason = "a type-erased event's address")]
    pub(crate) unsafe fn static_failed(
        &self,
        call: &Call<'_>,
        desc: &EventDesc,
        event: *const (),
        error: &mut HandlerError,
    ) {
        // SAFETY: the caller's contract.
        let copy = unsafe { desc.copy_at(event) };
        self.shared
            .system
            .static_failed(self, call, desc, copy, error);
    }

    /// The breaker of static handler `info` in this system, if it has one.
    pub(crate) fn breaker(&self, info: &'static HandlerInfo) -> Option<&Breaker> {
        self.shared.system.breaker(info)
    }

    /// The breaker of responder `info` in this system, if it has one.
    pub(crate) fn responder_breaker(&self, info: &'static ResponderInfo) -> Option<&Breaker> {
        self.shared.system.responder_breaker(info)
    }

    /// Tells the system responder `info`'s circuit moved to `state`.
    #[cold]
    pub(crate) fn responder_circuit_moved(
        &self,
        info: &'static ResponderInfo,
        state: CircuitState,
    ) {
        self.shared.system.responder_circuit_moved(info, state);
    }

    /// Tells the system static handler `info`'s call succeeded after `attempts`.
    #[cold]
    pub(crate) fn static_retried(&self, info: &'static HandlerInfo, attempts: u32) {
        self.shared.system.static_retried(info, attempts);
    }

    /// A retry's delay below `ceiling`, from the system's jitter.
    pub(crate) fn jitter(&self, ceiling: std::time::Duration) -> std::time::Duration {
        self.shared.system.jitter(ceiling)
    }

    /// Tells the system static handler `info`'s circuit moved to `state`.
    #[cold]
    pub(crate) fn circuit_moved(
        &self,
        call: &Call<'_>,
        info: &'static HandlerInfo,
        breaker: &Breaker,
        state: CircuitState,
    ) {
        self.shared
            .system
            .circuit_moved(self, call, info, breaker, state);
    }

    /// A handle that does not keep this host alive.
    pub(crate) fn downgrade(&self) -> WeakHost {
        WeakHost(Arc::downgrade(&self.shared))
    }

    /// The instance of `P`, if `P` is linked and this system made one (it is enabled and its
    /// `#[init]` ran).
    #[inline]
    pub fn plugin<P: Plugin>(&self) -> Option<&P> {
        let at = self.address(P::__key());
        // SAFETY: `at` is the address of `P`'s slot in this host's live arena (`address`).
        #[allow(unsafe_code, reason = "the state byte of a slot")]
        let made = unsafe { super::instances::has_value(at) };
        // SAFETY: the instance exists (its state says so, and it is never unmade while the
        // arena lives); see `address` for why it is a `P`.
        #[allow(unsafe_code, reason = "a plugin instance in the arena")]
        made.then(|| unsafe { &*at.cast::<P>() })
    }

    /// The address of `key`'s slot: where a `P` is once its state byte says so. For a key the
    /// registry did not place, the address after the arena's first byte, whose state (that
    /// byte) is always zero.
    #[inline(always)]
    fn address<P: Plugin>(&self, key: &PluginKey<P>) -> *const u8 {
        let offset = key.offset();
        // SAFETY:
        // - a key's offset is `UNASSIGNED` (1: inside every arena, which has at least its
        //   first byte, the state of that offset, never written: so nothing is read there but
        //   that zero byte), or it was assigned by the registry's `Plan::place`
        //   (`SlotIndex::assign` is crate-private), once, to the key a `PluginDecl` returns,
        //   inside the plan's layout and aligned for that decl's type, with its state byte
        //   before it; and there is one plan, the registry's, from which every `Host` builds
        //   its `Instances` (`Host::new` only takes a `&'static Plan`, and only the registry
        //   makes one);
        // - a `PluginDecl::new::<Q>()` returns `Q::__key()`, a `PluginKey<Q>`, and only ever
        //   writes a `Q` there (`construct_at::<Q>`, `write_at::<Q>`, which checks): so at
        //   the offset of a `PluginKey<P>` every host holds a `P` once its state says so;
        // - `base` is the address of this host's instances, which `self.shared` keeps alive
        //   (and never moves) for as long as `&self` lives.
        // `tests/dispatch.rs` (`each_system_has_its_own_plugin_instances`),
        // `tests/plugin_instances.rs` and `tests/lifecycle.rs` exercise it.
        #[allow(unsafe_code, reason = "one add on every plugin method's dispatch path")]
        unsafe {
            self.base.0.as_ptr().add(offset).cast_const()
        }
    }

    /// The instance of `P` for a generated handler thunk, which names `P`'s key `static`
    /// itself (the key is then read with one load, not through `P::__key()`): `None` while
    /// the plugin's handlers are skipped (disabled, not initialized yet, stopped, failed).
    #[doc(hidden)]
    #[inline(always)]
    pub fn __plugin_at<P: Plugin>(&self, key: &PluginKey<P>) -> Option<&P> {
        let at = self.address(key);
        // SAFETY: `at` is the address of `P`'s slot in this host's live arena (`address`).
        #[allow(unsafe_code, reason = "the state byte of a slot")]
        let live = unsafe { super::instances::is_live(at) };
        // SAFETY: a live slot's instance exists; see `address` for why it is a `P`.
        #[allow(unsafe_code, reason = "a plugin instance in the arena")]
        live.then(|| unsafe { &*at.cast::<P>() })
    }
}

/// What the call of a handler whose plugin is not running comes to: the handler is skipped
/// (not called, not counted as handled, not a failure). Made by generated thunks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PluginInactive;

impl fmt::Display for PluginInactive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the handler's plugin is not running")
    }
}

impl std::error::Error for PluginInactive {}

/// The result of a sync thunk whose plugin is not running.
#[doc(hidden)]
#[cold]
#[inline(never)]
pub fn inactive() -> super::handler::HandlerResult {
    Err(Box::new(PluginInactive))
}

/// The future of an async thunk whose plugin is not running.
#[doc(hidden)]
#[cold]
#[inline(never)]
pub fn inactive_async<'a>() -> super::handler::BoxFuture<'a, super::handler::HandlerResult> {
    Box::pin(std::future::ready(inactive()))
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
    /// A stored event delivered again (a replay), and everything its handlers publish.
    pub(crate) replay: bool,
    /// The id of the event its static handlers handle, when the publish has one to give
    /// them (a static event received from elsewhere, `publish_as`); a static event
    /// published here has none. Not passed on to the calls of what they publish.
    pub(crate) event: Option<&'a str>,
}

impl Call<'static> {
    /// A call with no cause: a publish from outside any handler, first attempt.
    pub const ROOT: Call<'static> = Call {
        causation: None,
        correlation: None,
        attempt: 1,
        replay: false,
        event: None,
    };

    /// The call of a replay: a stored event delivered again.
    pub(crate) const REPLAY: Call<'static> = Call {
        causation: None,
        correlation: None,
        attempt: 1,
        replay: true,
        event: None,
    };
}

impl<'a> Call<'a> {
    /// Whether this call delivers a replayed event (generated thunks of `replay = false`
    /// handlers read it).
    #[doc(hidden)]
    #[inline(always)]
    pub fn __replay(&self) -> bool {
        self.replay
    }

    /// The call of a publish made while handling an event with id `cause` (if it has one)
    /// under this call: caused by it, in the same flow (correlation: this call's, else the
    /// cause itself), first attempt.
    pub(crate) fn child(&self, cause: Option<&'a str>) -> Call<'a> {
        Call {
            causation: cause,
            correlation: self.correlation.or(cause),
            attempt: 1,
            replay: self.replay,
            event: None,
        }
    }
}
