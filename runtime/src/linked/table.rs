//! One event type's handler table, and the `emit` walk over it.
//!
//! [`Table<E>`] is a typed face over an untyped [`TableCore`]: handlers are stored with their
//! event type erased ([`RawHandler`]), so building, refreshing and walking a table is compiled
//! once for every event type, not once per type. Only the entry points that take an `&E` are
//! generic, and they are a cast and a call.

use std::any::Any;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::event::{EventDecl, EventDesc, StaticEvent};
use super::guarded;
use super::handler::{BoxError, HandlerInfo, RawHandler, RawSync};
use super::host::{Call, Host, PluginInactive};
use super::invoke::{self, HandlerError, HandlerErrors, HandlerRef, Outcome};

/// One event type's handlers, sorted once into dispatch order: a `static` the derive gives
/// each type.
///
/// The handlers are read from the link-time slice when the first system is built (or at
/// first use) and never change after. `emit` reads one pointer, `fast`: it points at the
/// built handlers while nothing else is owed for this event type, and is null otherwise
/// (not built yet, a dynamic subscription matches the event's name in some live system, or
/// the "async handlers skipped" warning is still owed), which sends `emit` to its slow path.
#[doc(hidden)]
#[repr(transparent)]
// `?Sized`: `StaticEvent::__TABLE` names `Table<Self>`, and the trait does not require `Sized`.
pub struct Table<E: ?Sized + 'static> {
    /// Never dropped (a table is a `static`): `ManuallyDrop` keeps `Table<E>` free of drop
    /// glue, which would otherwise be made for every event type.
    core: ManuallyDrop<TableCore>,
    _event: PhantomData<fn(&E)>,
}

/// A [`Table`] without its event type: everything but the typed entry points.
pub(crate) struct TableCore {
    desc: EventDesc,
    state: TableState,
}

/// A table's handlers and the pointers `emit` reads: the same empty value in every table
/// when it is made ([`TableState::EMPTY`]).
struct TableState {
    built: OnceLock<Built>,
    fast: AtomicPtr<Built>,
    /// `fast`'s only handler (the function itself), when it has exactly one (the most common
    /// table): `emit` then calls it without setting up a loop or reading it from the table.
    /// Null whenever `fast` is, or the table has more (or fewer) handlers, or any async one.
    single: AtomicPtr<()>,
    reasons: Mutex<SlowReasons>,
}

/// Why `emit` must leave its fast path, besides the table not being built yet.
#[derive(Default)]
struct SlowReasons {
    /// Live systems in which a dynamic subscription matches this event's name.
    dynamic_refs: usize,
    /// The table has async handlers and `emit` has not warned about skipping them yet.
    warned: bool,
}

/// The handlers of one event type, in dispatch order, their event type erased. Only ever
/// built by [`TableCore::built`] from the handlers registered for its own event type, so
/// each one may be called with the address of a value of that type.
pub(crate) struct Built {
    /// The sync handlers, the only thing `emit` walks.
    pub(super) sync: Box<[RawSync]>,
    /// `sync[i]`'s description, read only when it fails.
    pub(super) sync_info: Box<[&'static HandlerInfo]>,
    /// Every handler, sync and async, for `publish`.
    ordered: Box<[(RawHandler, &'static HandlerInfo)]>,
    pub(super) async_count: u32,
    /// This event's position in the registry (sorted by name), for per-system flags.
    index: usize,
    /// What the bus needs of the type (a copy of the table's), for a failure's dead letter.
    pub(super) desc: EventDesc,
    /// Some handler has a circuit breaker: `emit` walks through the gates
    /// ([`Built::emit_guarded`]), and the fast path stays closed.
    guarded: bool,
    /// `publish` must await some handler: an async one, or a sync one's retries.
    waits: bool,
    /// The only sync handler's thunk catches its own panics (`HandlerFn::SyncCaught`, what
    /// the macros generate in optimised builds): `emit` may call it bare (see `single_call`).
    bare_single: bool,
    /// The fast path stays closed: a handler has a breaker, or a sync one retries (which
    /// only `publish`'s waiting path does). `emit` and `publish` of other tables pay nothing.
    closed: bool,
}

/// A borrowed static event with its type erased, and its type's table: what the slow paths
/// of `emit` and `publish` take, so that they are compiled once for every event type.
#[derive(Clone, Copy)]
pub(crate) struct StaticRef<'a> {
    table: &'static TableCore,
    value: &'a (dyn Any + Send + Sync),
}

impl<'a> StaticRef<'a> {
    /// `event` with its table.
    #[inline(always)]
    pub(crate) fn new<E: StaticEvent>(event: &'a E) -> Self {
        StaticRef {
            // The field through `ManuallyDrop`'s `Deref`, one function for every type, not
            // the generic `core()` (a `const fn` for const contexts), one more per type.
            table: &E::__TABLE.core,
            value: event,
        }
    }

    /// `value` with `table`, if the value is of the table's event type.
    pub(crate) fn checked(
        table: &'static TableCore,
        value: &'a (dyn Any + Send + Sync),
    ) -> Option<Self> {
        ((*value).type_id() == table.desc.type_id()).then_some(StaticRef { table, value })
    }

    /// Its type's table.
    pub(crate) fn table(&self) -> &'static TableCore {
        self.table
    }

    /// The value, type-erased.
    pub(crate) fn value(&self) -> &'a (dyn Any + Send + Sync) {
        self.value
    }

    /// The value's address, for the table's handlers.
    fn as_ptr(&self) -> *const () {
        ptr::from_ref(self.value).cast()
    }

    /// `emit`'s fast path, type-erased: what [`Table::try_emit`] does, compiled once (debug
    /// builds call it instead of inlining the typed path at every call site).
    #[cfg(debug_assertions)]
    pub(crate) fn try_emit(&self, host: &Host, call: &Call<'_>) -> Option<Emitted> {
        // SAFETY: `value` is of `table`'s event type (checked, or typed at construction).
        #[allow(unsafe_code, reason = "the table's handlers take the table's type")]
        unsafe {
            self.table.try_emit(host, call, self.as_ptr())
        }
    }

    /// Calls every sync handler of its table, in order.
    pub(crate) fn emit(&self, host: &Host, call: &Call<'_>) -> Emitted {
        let built = self.table.built();
        // SAFETY: `value` is of `table`'s event type (checked, or typed at construction).
        #[allow(unsafe_code, reason = "the table's handlers take the table's type")]
        unsafe {
            if built.guarded {
                return built.emit_guarded(host, call, self.as_ptr());
            }
            built.emit(host, call, self.as_ptr())
        }
    }

    /// Calls every handler of its table, sync and async, in order (an async handler is
    /// awaited before the next starts); returns how many succeeded and the failures (each
    /// told to the system as it happens: its dead letter). `timeout` bounds each async
    /// handler's call (see [`invoke::run_async`]). `jitter` draws a retry's delay below its
    /// ceiling.
    pub(crate) async fn publish(
        &self,
        host: &Host,
        call: &Call<'_>,
        timeout: Option<std::time::Duration>,
        jitter: impl Fn(std::time::Duration) -> std::time::Duration + Copy,
    ) -> (usize, Vec<HandlerError>) {
        let mut handled = 0;
        let mut errors = Vec::new();
        self.publish_each(host, call, timeout, jitter, |_, result| match result {
            Ok(0) => {}
            Ok(_) => handled += 1,
            Err(error) => errors.push(error),
        })
        .await;
        (handled, errors)
    }

    /// [`publish`](Self::publish), telling `each` every handler's result as it comes: the
    /// attempts its call took (0: skipped, its plugin is not running), or its failure.
    pub(crate) async fn publish_each(
        &self,
        host: &Host,
        call: &Call<'_>,
        timeout: Option<std::time::Duration>,
        jitter: impl Fn(std::time::Duration) -> std::time::Duration + Copy,
        mut each: impl FnMut(&'static HandlerInfo, Result<u32, HandlerError>),
    ) {
        let built = self.table.built();
        for &(handler, info) in built.ordered.iter() {
            let result = self
                .call_one(host, call, handler, info, timeout, jitter)
                .await;
            each(info, result);
        }
    }

    /// Calls the handler of its table that `info` describes again (a dead letter's redrive):
    /// `None` if the table has no such handler.
    pub(crate) async fn redrive(
        &self,
        host: &Host,
        call: &Call<'_>,
        info: &'static HandlerInfo,
        timeout: Option<std::time::Duration>,
        jitter: impl Fn(std::time::Duration) -> std::time::Duration + Copy,
    ) -> Option<Result<u32, HandlerError>> {
        let built = self.table.built();
        let &(handler, info) = built
            .ordered
            .iter()
            .find(|(_, known)| ptr::eq(*known, info))?;
        let result = self
            .call_one(host, call, handler, info, timeout, jitter)
            .await;
        if let Ok(0) = result {
            // Its plugin is not running: the letter is buried again.
            let mut error = HandlerError::failed(
                HandlerRef::Static(info),
                Box::new(PluginInactive),
                invoke::Tried::once(),
            );
            // SAFETY: `value` is of `table`'s event type.
            #[allow(unsafe_code, reason = "the event's address, for its dead letter")]
            unsafe {
                host.static_failed(call, self.table.desc(), self.as_ptr(), &mut error)
            };
            return Some(Err(error));
        }
        Some(result)
    }

    /// One handler's call on the event, through the invoke step: a sync one run, an async
    /// one awaited under its timeout (`info`'s, else `timeout`), retried by its policy. A
    /// failure is told to the system before it comes back; a success comes back as the
    /// attempts it took.
    async fn call_one(
        &self,
        host: &Host,
        call: &Call<'_>,
        handler: RawHandler,
        info: &'static HandlerInfo,
        timeout: Option<std::time::Duration>,
        jitter: impl Fn(std::time::Duration) -> std::time::Duration + Copy,
    ) -> Result<u32, HandlerError> {
        let admitted = match guarded::gate(host, call, info) {
            guarded::Gate::Free => None,
            guarded::Gate::Let { breaker, probe } => Some((breaker, probe)),
            guarded::Gate::Rejected(breaker) => {
                let desc = self.table.desc();
                // SAFETY: `value` is of `table`'s event type.
                #[allow(unsafe_code, reason = "the event's address, for its dead letter")]
                return Err(unsafe {
                    guarded::rejected(host, call, info, breaker, desc, self.as_ptr())
                });
            }
        };
        let mut tried = invoke::Tried::once();
        #[allow(unsafe_code, reason = "the table's handlers take the table's type")]
        let outcome = match handler {
            RawHandler::Sync(f) => {
                // SAFETY: `value` is of `table`'s event type.
                let run = || unsafe { f(host, call, self.as_ptr()) };
                match (invoke::run(run), info.retry()) {
                    (Outcome::Failed(error), Some(retry)) => {
                        let first = Outcome::Failed(error);
                        let (outcome, made) = invoke::retry_sync(first, run, retry, jitter).await;
                        tried = made;
                        outcome
                    }
                    (outcome, _) => outcome,
                }
            }
            RawHandler::Async(f) => {
                // SAFETY: as above; `value` is borrowed for the whole call, so it outlives
                // the future.
                let start = || invoke::start_async(|| unsafe { f(host, call, self.as_ptr()) });
                let timeout = info.timeout().or(timeout);
                let who = HandlerRef::Static(info);
                let via = invoke::Via::of(host, self.table.desc().name(), &who);
                match (start(), info.retry()) {
                    (Ok(future), Some(retry)) => {
                        let (outcome, made) =
                            invoke::run_retrying(future, start, timeout, via, retry, jitter).await;
                        tried = made;
                        outcome
                    }
                    (Ok(future), None) => invoke::run_async(future, timeout, via, 1).await,
                    (Err(outcome), _) => outcome,
                }
            }
        };
        if let Some((breaker, probe)) = admitted
            && !outcome.is_skipped()
        {
            let succeeded = matches!(outcome, Outcome::Handled);
            guarded::tell(host, call, info, breaker, succeeded, probe);
        }
        match outcome {
            // Its plugin is not running: no attempt.
            Outcome::Failed(source) if invoke::skipped(&source) => Ok(0),
            Outcome::Handled => {
                if tried.attempts > 1 {
                    host.static_retried(info, tried.attempts);
                }
                Ok(tried.attempts)
            }
            Outcome::Failed(source) => {
                let mut error = HandlerError::failed(HandlerRef::Static(info), source, tried);
                // SAFETY: `value` is of `table`'s event type.
                #[allow(unsafe_code, reason = "the event's address, for its dead letter")]
                unsafe {
                    host.static_failed(call, self.table.desc(), self.as_ptr(), &mut error)
                };
                Err(error)
            }
        }
    }
}

impl<E: StaticEvent> Table<E> {
    /// `decl`'s table, typed: the derive's `__TABLE`.
    ///
    /// # Safety
    /// `decl` was made by [`EventDecl::new::<E>`](EventDecl::new), for this `E`: its
    /// handlers take an `E`.
    #[inline(always)]
    #[allow(unsafe_code, reason = "a typed view of the decl's table")]
    pub const unsafe fn of(decl: &'static EventDecl) -> &'static Self {
        // SAFETY: `Table<E>` is `repr(transparent)` over `ManuallyDrop<TableCore>`, itself
        // `repr(transparent)` over `TableCore` (the other field is a `PhantomData`); the
        // reference is to `decl.table`, alive for `'static`. Every test that emits goes
        // through it.
        // An `as` cast, not `cast()`: this runs in the const evaluator once per event type,
        // where a function call is a frame to interpret.
        unsafe { &*(&raw const decl.table as *const Self) }
    }

    /// The untyped table.
    #[inline(always)]
    pub(crate) const fn core(&'static self) -> &'static TableCore {
        // SAFETY: `ManuallyDrop<T>` is `repr(transparent)` over `T` (its `Deref` is not
        // const yet); the reference is to `self.core`, alive as long as `self`. Every test
        // that emits goes through it.
        #[allow(unsafe_code, reason = "a const `ManuallyDrop` deref")]
        unsafe {
            &*(&raw const self.core).cast::<TableCore>()
        }
    }

    /// `emit` when nothing but this table needs looking at: the single handler called
    /// directly, or the walk; `None` sends `emit` to its slow path.
    #[inline(always)]
    pub(crate) fn try_emit(&self, host: &Host, call: &Call<'_>, event: &E) -> Option<Emitted> {
        // SAFETY: this is `E`'s table, and `event` an `E`.
        #[allow(unsafe_code, reason = "the table's handlers take the table's type")]
        unsafe {
            self.core.try_emit(host, call, ptr::from_ref(event).cast())
        }
    }

    /// [`try_emit`](Self::try_emit) for `publish`: `None` also when a handler is async.
    #[inline(always)]
    pub(crate) fn try_publish(&self, host: &Host, call: &Call<'_>, event: &E) -> Option<Emitted> {
        // SAFETY: as in `try_emit`.
        #[allow(unsafe_code, reason = "the table's handlers take the table's type")]
        unsafe {
            self.core
                .try_publish(host, call, ptr::from_ref(event).cast())
        }
    }

    /// What the bus needs of this event type.
    #[inline(always)]
    pub(crate) fn desc(&'static self) -> &'static EventDesc {
        self.core.desc()
    }
}

impl TableState {
    /// The state of a table nothing has built yet.
    #[allow(
        clippy::declare_interior_mutable_const,
        reason = "a template copied into each table's static, never used in place"
    )]
    const EMPTY: TableState = TableState {
        built: OnceLock::new(),
        fast: AtomicPtr::new(ptr::null_mut()),
        single: AtomicPtr::new(ptr::null_mut()),
        reasons: Mutex::new(SlowReasons {
            dynamic_refs: 0,
            warned: false,
        }),
    };
}

impl TableCore {
    /// An empty table of the event `desc` describes.
    pub(crate) const fn new(desc: EventDesc) -> Self {
        // One evaluation of the empty state for every event type, copied into each table
        // (each derive's `static` initializer is evaluated when its crate is built).
        TableCore {
            desc,
            state: TableState::EMPTY,
        }
    }

    /// The handlers, if `emit` may walk them and nothing else: one acquire load.
    #[inline(always)]
    pub(crate) fn fast(&self) -> Option<&Built> {
        let built = self.state.fast.load(Ordering::Acquire);
        if built.is_null() {
            return None;
        }
        // SAFETY: `fast` is only ever null or `&self.state.built`'s value (see `refresh`),
        // stored with `Release` after the `OnceLock` was initialized; a `OnceLock`'s value never
        // moves or changes once set, and `self` is a `static`. So the pointer is valid and
        // the value initialized for as long as `&self` lives. `tests/no_alloc.rs` and
        // `tests/dispatch.rs` emit through it, and `fast_path_follows_dynamic_refs` below
        // checks the transitions.
        #[allow(unsafe_code, reason = "one load instead of two on every emit")]
        Some(unsafe { &*built })
    }

    /// `emit`'s fast path: the single handler or the walk. Inlined into every `emit` call
    /// site in optimized builds, so it holds no more than that: failures are handled out of
    /// line, taking the error by value (no cleanup code at the call site). One copy, called,
    /// in debug builds, where each call site's code is compile time and speed matters less.
    ///
    /// # Safety
    /// `event` points to a live value of this table's event type.
    #[cfg_attr(debug_assertions, inline(never))]
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[allow(unsafe_code, reason = "the table's handlers take the table's type")]
    unsafe fn try_emit(&self, host: &Host, call: &Call<'_>, event: *const ()) -> Option<Emitted> {
        // SAFETY: the caller's contract.
        unsafe { self.try_fast(host, call, event, false) }
    }

    /// `publish`'s inline part: the single handler or the walk, when every handler is sync
    /// and nothing else is owed. Called, not inlined, in debug builds, as
    /// [`try_emit`](Self::try_emit).
    ///
    /// # Safety
    /// `event` points to a live value of this table's event type.
    #[cfg_attr(debug_assertions, inline(never))]
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[allow(unsafe_code, reason = "the table's handlers take the table's type")]
    unsafe fn try_publish(
        &self,
        host: &Host,
        call: &Call<'_>,
        event: *const (),
    ) -> Option<Emitted> {
        // SAFETY: the caller's contract.
        unsafe { self.try_fast(host, call, event, true) }
    }

    /// The fast path both share: the single handler (a table of one sync handler), else the
    /// walk of the sync handlers, unless `sync_only` and the table has async ones (`publish`
    /// must await those). `None` when the fast path is not open. `sync_only` is a constant
    /// at each call: the check folds away.
    ///
    /// # Safety
    /// `event` points to a live value of this table's event type.
    #[inline(always)]
    #[allow(unsafe_code, reason = "the table's handlers take the table's type")]
    unsafe fn try_fast(
        &self,
        host: &Host,
        call: &Call<'_>,
        event: *const (),
        sync_only: bool,
    ) -> Option<Emitted> {
        let single = self.state.single.load(Ordering::Acquire);
        if !single.is_null() {
            // SAFETY: the caller's contract; `single` was just loaded non-null.
            return Some(unsafe { self.call_single(single, host, call, event) });
        }
        let built = self.fast()?;
        if sync_only && built.async_count > 0 {
            return None;
        }
        // SAFETY: the caller's contract.
        Some(unsafe { built.emit(host, call, event) })
    }

    /// Calls the table's only handler, read from `single`.
    ///
    /// # Safety
    /// `event` points to a live value of this table's event type; `single` was loaded
    /// non-null from `self.state.single`.
    #[inline(always)]
    #[allow(unsafe_code, reason = "one load and a call on every emit")]
    unsafe fn call_single(
        &self,
        single: *mut (),
        host: &Host,
        call: &Call<'_>,
        event: *const (),
    ) -> Emitted {
        // SAFETY: `single` is only ever null or `self.state.built`'s only handler, a `RawSync`
        // cast to a data pointer (see `refresh`); a function pointer and a data pointer have the
        // same size on every target Rust supports (`transmute` checks it).
        // `fast_path_follows_dynamic_refs` (in `linked/tests.rs`) checks it is set, called
        // and cleared with `fast`.
        let handler = unsafe { std::mem::transmute::<*mut (), RawSync>(single) };
        // SAFETY: the caller's contract: `event` is of this table's type.
        match unsafe { single_call(handler, host, call, event) } {
            Outcome::Handled => Emitted {
                handled: 1,
                skipped_async: 0,
                errors: None,
            },
            // SAFETY: the caller's contract.
            Outcome::Failed(source) => unsafe { self.single_failed(host, call, event, source) },
        }
    }

    /// The single handler failed with `source`: out of line, taking the error by value, so
    /// that an `emit` call site holds no cleanup code for it.
    ///
    /// # Safety
    /// As [`call_single`](Self::call_single).
    #[cold]
    #[inline(never)]
    #[allow(unsafe_code, reason = "the event's address, for its dead letter")]
    unsafe fn single_failed(
        &self,
        host: &Host,
        call: &Call<'_>,
        event: *const (),
        source: BoxError,
    ) -> Emitted {
        if invoke::skipped(&source) {
            // Its plugin is not running: not handled, not a failure.
            return Emitted::default();
        }
        let mut error = static_failure(self.built().sync_info[0], source);
        // SAFETY: the caller's contract.
        unsafe { host.static_failed(call, &self.desc, event, &mut error) };
        Emitted {
            handled: 0,
            // `single` is set only for a table of one sync handler: no async one skipped.
            skipped_async: 0,
            errors: Some(Box::new(vec![error])),
        }
    }

    /// The handlers, building them now if no system did yet.
    pub(crate) fn built(&self) -> &Built {
        if let Some(built) = self.state.built.get() {
            return built;
        }
        self.prepare();
        self.state.built.get_or_init(|| Built::build(&self.desc))
    }

    /// What the bus needs of this event type.
    pub(crate) fn desc(&self) -> &EventDesc {
        &self.desc
    }

    /// Builds the handlers now (`build()` does it for every table, so that `emit` never
    /// allocates).
    pub(crate) fn prepare(&self) {
        let built = self.state.built.get_or_init(|| Built::build(&self.desc));
        let mut reasons = self.lock();
        reasons.warned |= built.async_count == 0;
        self.refresh(&reasons);
    }

    /// True the first time it is called on a table with async handlers: `emit` warns once.
    pub(crate) fn take_warning(&self) -> bool {
        let mut reasons = self.lock();
        if reasons.warned {
            return false;
        }
        reasons.warned = true;
        self.refresh(&reasons);
        true
    }

    /// One more (or one fewer) live system in which a dynamic subscription matches this
    /// event.
    pub(crate) fn dynamic_ref(&self, added: bool) {
        let mut reasons = self.lock();
        if added {
            reasons.dynamic_refs += 1;
        } else {
            reasons.dynamic_refs = reasons.dynamic_refs.saturating_sub(1);
        }
        self.refresh(&reasons);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlowReasons> {
        self.state
            .reasons
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Points `fast` at the handlers exactly when nothing else is owed. Called with the
    /// reasons locked, so concurrent changes apply in order.
    fn refresh(&self, reasons: &SlowReasons) {
        let (fast, single) = match self.state.built.get() {
            Some(built) if reasons.dynamic_refs == 0 && reasons.warned && !built.closed => (
                ptr::from_ref(built).cast_mut(),
                match (&*built.sync, built.async_count) {
                    // Optimised builds call it bare: only a thunk that catches its panics.
                    ([only], 0) if built.bare_single || cfg!(debug_assertions) => *only as *mut (),
                    _ => ptr::null_mut(),
                },
            ),
            _ => (ptr::null_mut(), ptr::null_mut()),
        };
        // `single` first when opening, last when closing: whenever it is set, so is `fast`.
        if fast.is_null() {
            self.state.single.store(single, Ordering::Release);
            self.state.fast.store(fast, Ordering::Release);
        } else {
            self.state.fast.store(fast, Ordering::Release);
            self.state.single.store(single, Ordering::Release);
        }
    }
}

impl Built {
    /// The handlers registered for `desc`'s event type, in dispatch order.
    fn build(desc: &EventDesc) -> Self {
        let registry = super::registry::registry();
        // Detached handlers are the bus's: subscriptions with a queue of their own.
        let decls: Vec<_> = registry
            .handlers_of(desc.type_id())
            .iter()
            .copied()
            .filter(|d| d.info.detached().is_none())
            .collect();
        let mut sync = Vec::new();
        let mut sync_info = Vec::new();
        // Every sync handler's thunk catches its own panics.
        let mut sync_caught = true;
        let mut ordered = Vec::with_capacity(decls.len());
        for &decl in &decls {
            if let RawHandler::Sync(s) = decl.handler {
                sync.push(s);
                sync_info.push(&decl.info);
                sync_caught &= decl.caught;
            }
            ordered.push((decl.handler, &decl.info));
        }
        // `Emitted` counts in `u32`: cap here, once, so that `emit` can cast freely.
        let total = u32::try_from(ordered.len()).expect("an event has fewer than 2^32 handlers");
        let sync_len = sync.len() as u32;
        let guarded = decls.iter().any(|d| d.info.circuit_breaker().is_some());
        let sync_retried = decls
            .iter()
            .any(|d| matches!(d.handler, RawHandler::Sync(_)) && d.info.retry().is_some());
        Built {
            async_count: total - sync_len,
            sync: sync.into(),
            sync_info: sync_info.into(),
            ordered: ordered.into(),
            index: registry.event_index(desc.type_id()).unwrap_or(usize::MAX),
            desc: *desc,
            guarded,
            waits: total > sync_len || sync_retried,
            bare_single: sync_len == 1 && sync_caught,
            closed: guarded || sync_retried,
        }
    }

    /// This event's position in the registry.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Async handlers, which `emit` skips.
    pub(crate) fn async_count(&self) -> u32 {
        self.async_count
    }

    /// Whether `publish` must await some handler: an async one, or a sync one's retries.
    pub(crate) fn waits(&self) -> bool {
        self.waits
    }

    /// The handlers that have a circuit breaker.
    pub(crate) fn guarded_handlers(&self) -> impl Iterator<Item = &'static HandlerInfo> + '_ {
        self.ordered
            .iter()
            .map(|(_, info)| *info)
            .filter(|info| info.circuit_breaker().is_some())
    }

    /// Sync handlers, which `emit` runs.
    pub(crate) fn sync_count(&self) -> usize {
        self.sync.len()
    }

    /// Calls every sync handler, in order, through the one invoke step.
    ///
    /// # Safety
    /// `event` points to a live value of this table's event type.
    #[inline(always)]
    #[allow(unsafe_code, reason = "the table's handlers take the table's type")]
    pub(crate) unsafe fn emit(&self, host: &Host, call: &Call<'_>, event: *const ()) -> Emitted {
        let mut rest = &*self.sync;
        while let [handler, tail @ ..] = rest {
            // SAFETY: the caller's contract.
            if let Outcome::Failed(source) = invoke::run(|| unsafe { handler(host, call, event) }) {
                // The first failure (or skipped handler) leaves the fast loop: the rest is
                // counted out of line.
                let failed = self.sync.len() - rest.len();
                // SAFETY: the caller's contract.
                return unsafe { self.emit_failing(host, call, event, failed, source) };
            }
            rest = tail;
        }
        Emitted {
            // Fits: `build` caps an event's handlers below 2^32.
            handled: self.sync.len() as u32,
            skipped_async: self.async_count,
            errors: None,
        }
    }

    /// The rest of [`emit`](Self::emit) after handler `failed` returned `source` (a failure,
    /// or the mark of a skipped call: its plugin is not running): every later handler still
    /// runs, and every error is collected.
    ///
    /// # Safety
    /// As [`emit`](Self::emit).
    #[cold]
    #[inline(never)]
    #[allow(unsafe_code, reason = "the table's handlers take the table's type")]
    unsafe fn emit_failing(
        &self,
        host: &Host,
        call: &Call<'_>,
        event: *const (),
        failed: usize,
        source: BoxError,
    ) -> Emitted {
        let mut errors = Vec::new();
        let mut handled = failed;
        let mut count = |info, outcome| match outcome {
            Outcome::Handled => handled += 1,
            Outcome::Failed(source) if invoke::skipped(&source) => {}
            Outcome::Failed(source) => {
                let mut error = static_failure(info, source);
                // SAFETY: the caller's contract.
                unsafe { host.static_failed(call, &self.desc, event, &mut error) };
                errors.push(error);
            }
        };
        count(self.sync_info[failed], Outcome::Failed(source));
        let later = self.sync.iter().zip(self.sync_info.iter()).skip(failed + 1);
        for (handler, &info) in later {
            // SAFETY: the caller's contract.
            count(info, invoke::run(|| unsafe { handler(host, call, event) }));
        }
        Emitted {
            // Fits: `build` caps an event's handlers below 2^32.
            handled: handled as u32,
            skipped_async: self.async_count,
            errors: (!errors.is_empty()).then(|| Box::new(errors)),
        }
    }
}

/// The call of a table's single handler from `emit`'s fast path. In optimised builds it is
/// bare, so that an `emit` call site holds no landing pad for it: `single` is set in them
/// only for a thunk that catches its own panics ([`HandlerFn::SyncCaught`], what the macros
/// generate in optimised builds; see `refresh`). With debug assertions on, the fast path is
/// called, not inlined, and catches here (the macros' thunks then do not).
///
/// # Safety
/// `event` points to a live value of `handler`'s event type.
///
/// [`HandlerFn::SyncCaught`]: super::handler::HandlerFn::SyncCaught
#[inline(always)]
#[allow(unsafe_code, reason = "the table's handlers take the table's type")]
unsafe fn single_call(handler: RawSync, host: &Host, call: &Call<'_>, event: *const ()) -> Outcome {
    #[cfg(debug_assertions)]
    {
        // SAFETY: the caller's contract.
        invoke::run(|| unsafe { handler(host, call, event) })
    }
    #[cfg(not(debug_assertions))]
    {
        // SAFETY: the caller's contract; the thunk catches its own panics (see above).
        Outcome::from(unsafe { handler(host, call, event) })
    }
}

#[cold]
pub(super) fn static_failure(info: &'static HandlerInfo, source: BoxError) -> HandlerError {
    HandlerError::failed(HandlerRef::Static(info), source, invoke::Tried::once())
}

/// What a synchronous `emit` did.
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

    /// Async handlers `emit` did not run (use `publish` for those), and dynamic subscribers
    /// that need the event owned (async handlers, pull subscribers).
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
        self.into_result_named(E::NAME)
    }

    /// [`into_result`](Self::into_result) naming the event by its name.
    pub(crate) fn into_result_named(self, event: &'static str) -> Result<Emitted, HandlerErrors> {
        match self.errors {
            None => Ok(self),
            Some(errors) => Err(HandlerErrors {
                event: event.into(),
                errors: *errors,
            }),
        }
    }

    /// How many handlers succeeded, and the failures.
    pub(crate) fn into_parts(self) -> (usize, Vec<HandlerError>) {
        (
            self.handled as usize,
            self.errors.map(|e| *e).unwrap_or_default(),
        )
    }

    /// What a walk of the table did.
    pub(crate) fn from_parts(
        handled: usize,
        skipped_async: u32,
        errors: Vec<HandlerError>,
    ) -> Self {
        Emitted {
            // Counts of one table: `build` caps them below 2^32.
            handled: handled as u32,
            skipped_async,
            errors: (!errors.is_empty()).then(|| Box::new(errors)),
        }
    }

    /// Adds the counts of other handlers of the same event that all succeeded.
    #[inline(always)]
    pub(crate) fn add_counts(&mut self, handled: usize, skipped: usize) {
        // Counts of one route's subscriptions: far below 2^32.
        self.handled += handled as u32;
        self.skipped_async += skipped as u32;
    }

    /// Adds what other handlers of the same event did (the dynamic bus's subscribers).
    pub(crate) fn add(&mut self, handled: usize, skipped: usize, errors: Vec<HandlerError>) {
        // Counts of one route's subscriptions: far below 2^32.
        self.handled += handled as u32;
        self.skipped_async += skipped as u32;
        if !errors.is_empty() {
            self.errors.get_or_insert_default().extend(errors);
        }
    }
}
