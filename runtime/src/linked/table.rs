//! One event type's handler table, and the `emit` walk over it.

use std::any::TypeId;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::event::{EventDesc, StaticEvent};
use super::handler::{BoxError, HandlerFn, HandlerInfo, SyncFn};
use super::host::{Call, Host};
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
pub struct Table<E: 'static> {
    desc: EventDesc,
    built: OnceLock<Built<E>>,
    fast: AtomicPtr<Built<E>>,
    /// `fast`'s only handler (the function itself), when it has exactly one (the most common
    /// table): `emit` then calls it without setting up a loop or reading it from the table. Null whenever `fast` is, or the table has more
    /// (or fewer) handlers, or any async one.
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

/// The handlers of one event type, in dispatch order.
pub(crate) struct Built<E> {
    /// The sync handlers, the only thing `emit` walks.
    sync: Box<[SyncFn<E>]>,
    /// `sync[i]`'s description, read only when it fails.
    sync_info: Box<[&'static HandlerInfo]>,
    /// Every handler, sync and async, for `publish`.
    ordered: Box<[(HandlerFn<E>, &'static HandlerInfo)]>,
    async_count: u32,
    /// This event's position in the registry (sorted by name), for per-system flags.
    index: usize,
}

impl<E: StaticEvent> Table<E> {
    /// An empty table, for the derive's `static`.
    #[allow(
        clippy::new_without_default,
        reason = "a const constructor for statics"
    )]
    pub const fn new() -> Self {
        Table {
            desc: EventDesc::of::<E>(),
            built: OnceLock::new(),
            fast: AtomicPtr::new(ptr::null_mut()),
            single: AtomicPtr::new(ptr::null_mut()),
            reasons: Mutex::new(SlowReasons {
                dynamic_refs: 0,
                warned: false,
            }),
        }
    }

    /// The handlers, if `emit` may walk them and nothing else: one acquire load.
    #[inline(always)]
    pub(crate) fn fast(&self) -> Option<&Built<E>> {
        let built = self.fast.load(Ordering::Acquire);
        if built.is_null() {
            return None;
        }
        // SAFETY: `fast` is only ever null or `&self.built`'s value (see `refresh`), stored
        // with `Release` after the `OnceLock` was initialized; a `OnceLock`'s value never
        // moves or changes once set, and `self` is a `static`. So the pointer is valid and
        // the value initialized for as long as `&self` lives. `tests/no_alloc.rs` and
        // `tests/dispatch.rs` emit through it, and `fast_path_follows_dynamic_refs` below
        // checks the transitions.
        #[allow(unsafe_code, reason = "one load instead of two on every emit")]
        Some(unsafe { &*built })
    }

    /// `emit` when nothing but this table needs looking at: the single handler called
    /// directly, or the walk; `None` sends `emit` to its slow path.
    #[inline(always)]
    pub(crate) fn try_emit(&self, host: &Host, call: &Call<'_>, event: &E) -> Option<Emitted> {
        let single = self.single.load(Ordering::Acquire);
        if !single.is_null() {
            return Some(self.call_single(single, host, call, event));
        }
        self.fast().map(|built| built.emit(host, call, event))
    }

    /// [`try_emit`](Self::try_emit) for `publish`: `None` also when a handler is async.
    #[inline(always)]
    pub(crate) fn try_publish(&self, host: &Host, call: &Call<'_>, event: &E) -> Option<Emitted> {
        let single = self.single.load(Ordering::Acquire);
        if !single.is_null() {
            return Some(self.call_single(single, host, call, event));
        }
        let built = self.fast()?;
        (built.async_count == 0).then(|| built.emit(host, call, event))
    }

    /// Calls the table's only handler, read from `single`.
    #[inline(always)]
    fn call_single(&self, single: *mut (), host: &Host, call: &Call<'_>, event: &E) -> Emitted {
        // SAFETY: `single` was loaded non-null from `self.single`, which is only ever null or
        // `self.built`'s only handler, a `SyncFn<E>` cast to a data pointer (see `refresh`);
        // a function pointer and a data pointer have the same size on every target Rust
        // supports (`transmute` checks it), and this one came from a `SyncFn<E>` of this very
        // `E`: `self` is the `static` table of `E`. `fast_path_follows_dynamic_refs` (in
        // `linked/tests.rs`) checks it is set, called and cleared with `fast`.
        #[allow(unsafe_code, reason = "one load and a call on every emit")]
        let handler = unsafe { std::mem::transmute::<*mut (), SyncFn<E>>(single) };
        match invoke::run(|| handler(host, call, event)) {
            Outcome::Handled => Emitted {
                handled: 1,
                skipped_async: 0,
                errors: None,
            },
            Outcome::Failed(source) => self.built().single_failed(source),
        }
    }

    /// The handlers, building them now if no system did yet.
    pub(crate) fn built(&self) -> &Built<E> {
        if let Some(built) = self.built.get() {
            return built;
        }
        self.prepare_now();
        self.built.get_or_init(Built::build)
    }

    /// What the bus needs of this event type.
    pub(crate) fn desc(&'static self) -> &'static EventDesc {
        &self.desc
    }

    fn prepare_now(&self) {
        let built = self.built.get_or_init(Built::build);
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

    fn lock(&self) -> std::sync::MutexGuard<'_, SlowReasons> {
        self.reasons.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Points `fast` at the handlers exactly when nothing else is owed. Called with the
    /// reasons locked, so concurrent changes apply in order.
    fn refresh(&self, reasons: &SlowReasons) {
        let (fast, single) = match self.built.get() {
            Some(built) if reasons.dynamic_refs == 0 && reasons.warned => (
                ptr::from_ref(built).cast_mut(),
                match (&*built.sync, built.async_count) {
                    ([only], 0) => *only as *mut (),
                    _ => ptr::null_mut(),
                },
            ),
            _ => (ptr::null_mut(), ptr::null_mut()),
        };
        // `single` first when opening, last when closing: whenever it is set, so is `fast`.
        if fast.is_null() {
            self.single.store(single, Ordering::Release);
            self.fast.store(fast, Ordering::Release);
        } else {
            self.fast.store(fast, Ordering::Release);
            self.single.store(single, Ordering::Release);
        }
    }
}

/// A table as the registry and the bus handle it, whatever its event type.
pub(crate) trait TableControl: Send + Sync {
    /// Builds the handlers now (`build()` does it for every table, so that `emit` never
    /// allocates).
    fn prepare(&self);
    /// One more (or one fewer) live system in which a dynamic subscription matches this
    /// event.
    fn dynamic_ref(&self, added: bool);
}

impl<E: StaticEvent> TableControl for Table<E> {
    fn prepare(&self) {
        self.prepare_now();
    }

    fn dynamic_ref(&self, added: bool) {
        let mut reasons = self.lock();
        if added {
            reasons.dynamic_refs += 1;
        } else {
            reasons.dynamic_refs = reasons.dynamic_refs.saturating_sub(1);
        }
        self.refresh(&reasons);
    }
}

impl<E: StaticEvent> Built<E> {
    fn build() -> Self {
        let registry = super::registry::registry();
        let decls = registry.handlers_of(TypeId::of::<HandlerFn<E>>());
        let mut sync = Vec::new();
        let mut sync_info = Vec::new();
        let mut ordered = Vec::with_capacity(decls.len());
        for decl in decls {
            let Some(f) = decl.typed::<E>() else {
                unreachable!("handler table of {} holds a foreign handler", E::NAME)
            };
            if let HandlerFn::Sync(s) = f {
                sync.push(s);
                sync_info.push(&decl.info);
            }
            ordered.push((f, &decl.info));
        }
        // `Emitted` counts in `u32`: cap here, once, so that `emit` can cast freely.
        let total = u32::try_from(ordered.len()).expect("an event has fewer than 2^32 handlers");
        Built {
            async_count: total - sync.len() as u32,
            sync: sync.into(),
            sync_info: sync_info.into(),
            ordered: ordered.into(),
            index: registry
                .event_index(TypeId::of::<HandlerFn<E>>())
                .unwrap_or(usize::MAX),
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

    /// Calls every sync handler, in order, through the one invoke step.
    #[inline(always)]
    pub(crate) fn emit(&self, host: &Host, call: &Call<'_>, event: &E) -> Emitted {
        let mut rest = &*self.sync;
        while let [handler, tail @ ..] = rest {
            if let Outcome::Failed(source) = invoke::run(|| handler(host, call, event)) {
                // The first failure leaves the fast loop: errors are collected out of line.
                let failed = self.sync.len() - rest.len();
                return self.emit_failing(host, call, event, failed, source);
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

    /// The single handler of the table failed with `source`.
    #[cold]
    #[inline(never)]
    fn single_failed(&self, source: BoxError) -> Emitted {
        Emitted {
            handled: 0,
            skipped_async: self.async_count,
            errors: Some(Box::new(vec![static_failure(self.sync_info[0], source)])),
        }
    }

    /// The rest of [`emit`](Self::emit) after handler `failed` returned `source`: every later
    /// handler still runs, and every error is collected.
    #[cold]
    #[inline(never)]
    fn emit_failing(
        &self,
        host: &Host,
        call: &Call<'_>,
        event: &E,
        failed: usize,
        source: BoxError,
    ) -> Emitted {
        let mut errors = vec![static_failure(self.sync_info[failed], source)];
        let later = self.sync.iter().zip(self.sync_info.iter()).skip(failed + 1);
        for (handler, &info) in later {
            if let Outcome::Failed(source) = invoke::run(|| handler(host, call, event)) {
                errors.push(static_failure(info, source));
            }
        }
        Emitted {
            handled: (self.sync.len() - errors.len()) as u32,
            skipped_async: self.async_count,
            errors: Some(Box::new(errors)),
        }
    }

    /// Calls every handler, sync and async, one after another in dispatch order (an async
    /// handler is awaited before the next starts); returns how many succeeded and the
    /// failures.
    pub(crate) async fn publish(
        &self,
        host: &Host,
        call: &Call<'_>,
        event: &E,
    ) -> (usize, Vec<HandlerError>) {
        let mut handled = 0;
        let mut errors = Vec::new();
        for &(handler, info) in self.ordered.iter() {
            let outcome = match handler {
                HandlerFn::Sync(f) => invoke::run(|| f(host, call, event)),
                HandlerFn::Async(f) => invoke::run_async(f(host, call, event)).await,
            };
            match outcome {
                Outcome::Handled => handled += 1,
                Outcome::Failed(source) => errors.push(static_failure(info, source)),
            }
        }
        (handled, errors)
    }
}

#[cold]
fn static_failure(info: &'static HandlerInfo, source: BoxError) -> HandlerError {
    HandlerError {
        handler: HandlerRef::Static(info),
        source,
    }
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
        match self.errors {
            None => Ok(self),
            Some(errors) => Err(HandlerErrors {
                event: E::NAME.into(),
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
