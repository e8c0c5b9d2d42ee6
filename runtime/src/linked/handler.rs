//! Handler descriptions: what `#[handler]` and `#[plugin]` register, and what a handler may return.

use std::any::{Any, TypeId};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr;
use std::sync::Arc;

use super::event::StaticEvent;
use super::host::{Call, Host};

/// The error type handlers return, boxed once it crosses into the bus.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a handler thunk hands back to the dispatcher.
pub type HandlerResult = Result<(), BoxError>;

/// A boxed, `Send` future, as async handlers return it.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A sync handler, erased to a plain function pointer: the system it runs in, the call's
/// context ids, the event.
pub type SyncFn<E> = fn(&Host, &Call<'_>, &E) -> HandlerResult;

/// An async handler, erased to a plain function pointer returning a boxed future.
pub type AsyncFn<E> = for<'a> fn(&'a Host, &'a Call<'a>, &'a E) -> BoxFuture<'a, HandlerResult>;

/// The typed entry point of one handler. Generated code builds these; users never do.
#[doc(hidden)]
pub enum HandlerFn<E> {
    /// Runs inline, from both `emit` and `publish`.
    Sync(SyncFn<E>),
    /// As `Sync`, a thunk that catches its own panics
    /// ([`thunk_caught`](super::invoke::thunk_caught)): what the macros generate in
    /// optimised builds, so that `emit`'s inlined fast path may call it bare when it is its
    /// table's only handler (no landing pad at the call site for it).
    SyncCaught(SyncFn<E>),
    /// Runs only from `publish`, awaited in dispatch order.
    Async(AsyncFn<E>),
}

impl<E> Clone for HandlerFn<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for HandlerFn<E> {}

/// Whether a handler runs inline or as a future.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandlerKind {
    /// A plain `fn`: runs from `emit` and from `publish`.
    Sync,
    /// An `async fn`: runs only from `publish`.
    Async,
}

impl fmt::Display for HandlerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandlerKind::Sync => "sync",
            HandlerKind::Async => "async",
        })
    }
}

/// Where a handler came from and where it sorts: one row of [`crate::registry()`].
#[derive(Debug)]
pub struct HandlerInfo {
    event_name: &'static str,
    event_type: &'static str,
    plugin: Option<&'static str>,
    function: &'static str,
    priority: i32,
    timeout: Option<std::time::Duration>,
    retry: Option<super::Retry>,
    breaker: Option<super::CircuitBreaker>,
    detached: Option<u32>,
    kind: HandlerKind,
    file: &'static str,
    line: u32,
}

impl HandlerInfo {
    /// The `#[event(name)]` of the event this handler takes.
    pub fn event_name(&self) -> &'static str {
        self.event_name
    }
    /// The Rust type of the event this handler takes.
    pub fn event_type(&self) -> &'static str {
        self.event_type
    }
    /// The plugin name for a `#[plugin]` method, `None` for a free `#[handler]` function.
    pub fn plugin(&self) -> Option<&'static str> {
        self.plugin
    }
    /// The handler's path: `module::function` or `module::Plugin::method`.
    pub fn function(&self) -> &'static str {
        self.function
    }
    /// Priority: higher runs first.
    pub fn priority(&self) -> i32 {
        self.priority
    }
    /// Its `#[on(timeout = "...")]` / `#[handler(timeout = "...")]` (async handlers only):
    /// how long a call may run before it is cancelled; `None` for the system's
    /// `handler_timeout`.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        self.timeout
    }
    /// Its `retries = N, ...`: how a failed call is tried again (a sync handler's by
    /// `publish` only).
    pub fn retry(&self) -> Option<&super::Retry> {
        self.retry.as_ref()
    }
    /// Its `circuit_breaker(...)`: when its circuit opens, and how it closes again.
    pub fn circuit_breaker(&self) -> Option<&super::CircuitBreaker> {
        self.breaker.as_ref()
    }
    /// Its `detached` / `concurrency = N` (async handlers only): its workers, if its calls
    /// run detached from the publishes, from its own queue.
    pub fn detached(&self) -> Option<u32> {
        self.detached
    }
    /// Sync or async.
    pub fn kind(&self) -> HandlerKind {
        self.kind
    }
    /// Source file of the handler.
    pub fn file(&self) -> &'static str {
        self.file
    }
    /// Source line of the handler.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The dispatch order key: priority descending, then plugin name (free functions first),
    /// then function path, then line. Nothing here depends on link order.
    pub(crate) fn order_key(&self) -> (std::cmp::Reverse<i32>, &str, &str, u32) {
        (
            std::cmp::Reverse(self.priority),
            self.plugin.unwrap_or(""),
            self.function,
            self.line,
        )
    }
}

impl fmt::Display for HandlerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.plugin {
            write!(f, "[{p}] ")?;
        }
        write!(
            f,
            "{} (priority {}, {}, {}:{})",
            self.function, self.priority, self.kind, self.file, self.line
        )
    }
}

/// Source location and ordering data the macros pass to [`HandlerDecl::new`].
#[doc(hidden)]
pub struct HandlerMeta {
    pub plugin: Option<&'static str>,
    pub function: &'static str,
    pub priority: i32,
    pub timeout: Option<std::time::Duration>,
    pub retry: Option<super::Retry>,
    pub breaker: Option<super::CircuitBreaker>,
    pub detached: Option<u32>,
    pub file: &'static str,
    pub line: u32,
}

/// A sync handler with its event type erased: [`SyncFn<E>`] called with the event's address.
///
/// # Safety
/// The pointer must point to a live value of the event type the handler was registered for.
pub(crate) type RawSync = unsafe fn(&Host, &Call<'_>, *const ()) -> HandlerResult;

/// An async handler with its event type erased: [`AsyncFn<E>`] called with the event's
/// address.
///
/// # Safety
/// The pointer must point to a value of the handler's event type that outlives the future.
pub(crate) type RawAsync =
    for<'a> unsafe fn(&'a Host, &'a Call<'a>, *const ()) -> BoxFuture<'a, HandlerResult>;

/// One handler, its event type erased: what a table holds and the bus calls.
#[derive(Clone, Copy)]
pub(crate) enum RawHandler {
    /// Runs inline.
    Sync(RawSync),
    /// Returns a future.
    Async(RawAsync),
}

/// `f` with its event type erased.
const fn erase_sync<E>(f: SyncFn<E>) -> RawSync {
    // SAFETY: a function pointer transmuted to another function pointer type, called only
    // through that type: the two differ in the event argument alone, `&E` against
    // `*const ()`, and for a sized `E` a reference and a raw pointer are ABI-compatible
    // (the `fn` primitive's documentation, "ABI compatibility"); `unsafe` only moves the
    // obligation to the caller: a `RawSync` is called with the address of an `E` (a
    // `HandlerDecl` keeps it with `E`'s `TypeId`, and tables hold only their own type's).
    // `linked/tests.rs` calls handlers through it, in every form of dispatch.
    #[allow(unsafe_code, reason = "one untyped handler table for every event type")]
    unsafe {
        std::mem::transmute::<SyncFn<E>, RawSync>(f)
    }
}

/// `f` with its event type erased; see [`erase_sync`].
const fn erase_async<E>(f: AsyncFn<E>) -> RawAsync {
    // SAFETY: as in `erase_sync`; the future may borrow the event, which its caller keeps
    // alive until the future is done (`RawAsync`'s contract).
    #[allow(unsafe_code, reason = "one untyped handler table for every event type")]
    unsafe {
        std::mem::transmute::<AsyncFn<E>, RawAsync>(f)
    }
}

/// One element of the global handler slice. Built by `#[handler]` and `#[plugin]`.
///
/// Data only: the handler's function pointer with its event type erased, and that type's
/// `TypeId`, evaluated at compile time. Tables take the handlers of their own type only.
#[doc(hidden)]
pub struct HandlerDecl {
    pub(crate) info: HandlerInfo,
    pub(crate) event_type: TypeId,
    pub(crate) handler: RawHandler,
    /// A sync handler whose thunk catches its own panics ([`HandlerFn::SyncCaught`]).
    pub(crate) caught: bool,
}

impl HandlerDecl {
    /// Describes one handler of `E`.
    pub const fn new<E: StaticEvent>(entry: HandlerFn<E>, meta: HandlerMeta) -> Self {
        let (kind, handler, caught) = match entry {
            HandlerFn::Sync(f) => (HandlerKind::Sync, RawHandler::Sync(erase_sync(f)), false),
            HandlerFn::SyncCaught(f) => (HandlerKind::Sync, RawHandler::Sync(erase_sync(f)), true),
            HandlerFn::Async(f) => (HandlerKind::Async, RawHandler::Async(erase_async(f)), false),
        };
        HandlerDecl {
            info: HandlerInfo {
                event_name: E::NAME,
                event_type: E::__TYPE_NAME,
                plugin: meta.plugin,
                function: meta.function,
                priority: meta.priority,
                timeout: meta.timeout,
                retry: meta.retry,
                breaker: meta.breaker,
                detached: meta.detached,
                kind,
                file: meta.file,
                line: meta.line,
            },
            event_type: TypeId::of::<E>(),
            handler,
            caught,
        }
    }

    /// Calls a sync handler on a value of its event type; `None` if it is async or `value`
    /// is of another type. Where a handler is reached by name rather than by type
    /// (`ImplementationType::ZeroCopy`), never on `emit`.
    pub(crate) fn call_sync(
        &self,
        host: &Host,
        call: &Call<'_>,
        value: &(dyn Any + Send + Sync),
    ) -> Option<HandlerResult> {
        let RawHandler::Sync(f) = self.handler else {
            return None;
        };
        if (*value).type_id() != self.event_type {
            return None;
        }
        // SAFETY: `value` is of the handler's event type (checked just above).
        #[allow(unsafe_code, reason = "a handler reached by name")]
        Some(unsafe { f(host, call, ptr::from_ref(value).cast()) })
    }

    /// The async form of [`call_sync`](Self::call_sync): the future owns the value.
    pub(crate) fn call_async<'a>(
        &self,
        host: &'a Host,
        call: &'a Call<'a>,
        value: Arc<dyn Any + Send + Sync>,
    ) -> Option<BoxFuture<'a, HandlerResult>> {
        let RawHandler::Async(f) = self.handler else {
            return None;
        };
        if (*value).type_id() != self.event_type {
            return None;
        }
        Some(Box::pin(async move {
            // SAFETY: `value` is of the handler's event type (checked above), and this
            // future owns it, so it outlives the handler's future, awaited right here.
            #[allow(unsafe_code, reason = "a handler reached by name")]
            let future = unsafe { f(host, call, Arc::as_ptr(&value).cast()) };
            future.await
        }))
    }
}

/// What a handler may return: `()` or `Result<(), E>` where `E` converts into [`BoxError`]
/// (any `std::error::Error + Send + Sync + 'static`, `BoxError`, `String`, `anyhow::Error`).
#[diagnostic::on_unimplemented(
    message = "a handler cannot return `{Self}`",
    label = "handlers return `()` or `Result<(), E>`",
    note = "`E` must be a `std::error::Error + Send + Sync + 'static` (or `BoxError`, `String`, `anyhow::Error`): errors are collected in what `emit`/`publish` return"
)]
pub trait IntoHandlerResult {
    /// Converts the handler's return value.
    fn into_handler_result(self) -> HandlerResult;
}

impl IntoHandlerResult for () {
    #[inline(always)]
    fn into_handler_result(self) -> HandlerResult {
        Ok(())
    }
}

/// Any error that converts into [`BoxError`]: every `std::error::Error + Send + Sync + 'static`,
/// `BoxError` itself, `String` and `&'static str` messages, and `anyhow::Error`.
impl<Err> IntoHandlerResult for Result<(), Err>
where
    Err: Into<BoxError>,
{
    #[inline(always)]
    fn into_handler_result(self) -> HandlerResult {
        self.map_err(Into::into)
    }
}

impl fmt::Debug for HandlerDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.info.fmt(f)
    }
}
