//! Handler descriptions: what `#[handler]` and `#[plugin]` register, and what a handler may return.

use std::any::{Any, TypeId};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
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
    /// Runs only from `publish`, awaited in dispatch order.
    Async(AsyncFn<E>),
}

impl<E> HandlerFn<E> {
    fn kind(&self) -> HandlerKind {
        match self {
            HandlerFn::Sync(_) => HandlerKind::Sync,
            HandlerFn::Async(_) => HandlerKind::Async,
        }
    }
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
    event_type: fn() -> &'static str,
    plugin: Option<&'static str>,
    function: &'static str,
    priority: i32,
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
        (self.event_type)()
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
    pub file: &'static str,
    pub line: u32,
}

/// Calls a type-erased handler on a type-erased event: `None` when the value is not of the
/// handler's event type. Used where a handler is reached by name rather than by type
/// (`ImplementationType::ZeroCopy`), never on `emit`.
pub(crate) type ErasedSync = fn(
    entry: &'static (dyn Any + Send + Sync),
    host: &Host,
    call: &Call<'_>,
    value: &(dyn Any + Send + Sync),
) -> Option<HandlerResult>;

/// The async form of [`ErasedSync`]: the future owns the value it was given.
pub(crate) type ErasedAsync = for<'a> fn(
    entry: &'static (dyn Any + Send + Sync),
    host: &'a Host,
    call: &'a Call<'a>,
    value: Arc<dyn Any + Send + Sync>,
) -> Option<BoxFuture<'a, HandlerResult>>;

/// One element of the global handler slice. Built by `#[handler]` and `#[plugin]`.
///
/// The typed function pointer sits behind `dyn Any` so that one link-time slice can hold
/// handlers of every event type; it is downcast once, when the event's table is built, and
/// never on the dispatch path.
#[doc(hidden)]
pub struct HandlerDecl {
    pub(crate) info: HandlerInfo,
    pub(crate) table_type: fn() -> TypeId,
    pub(crate) entry: &'static (dyn Any + Send + Sync),
    pub(crate) erased_sync: ErasedSync,
    pub(crate) erased_async: ErasedAsync,
}

impl HandlerDecl {
    /// Describes one handler of `E`.
    pub const fn new<E: StaticEvent>(entry: &'static HandlerFn<E>, meta: HandlerMeta) -> Self {
        HandlerDecl {
            info: HandlerInfo {
                event_name: E::NAME,
                event_type: std::any::type_name::<E>,
                plugin: meta.plugin,
                function: meta.function,
                priority: meta.priority,
                kind: match entry {
                    HandlerFn::Sync(_) => HandlerKind::Sync,
                    HandlerFn::Async(_) => HandlerKind::Async,
                },
                file: meta.file,
                line: meta.line,
            },
            table_type: TypeId::of::<HandlerFn<E>>,
            entry,
            erased_sync: erased_sync::<E>,
            erased_async: erased_async::<E>,
        }
    }

    pub(crate) fn typed<E: 'static>(&self) -> Option<HandlerFn<E>> {
        let f = self.entry.downcast_ref::<HandlerFn<E>>().copied();
        debug_assert!(f.is_none_or(|f| f.kind() == self.info.kind));
        f
    }
}

fn erased_sync<E: StaticEvent>(
    entry: &'static (dyn Any + Send + Sync),
    host: &Host,
    call: &Call<'_>,
    value: &(dyn Any + Send + Sync),
) -> Option<HandlerResult> {
    match (
        entry.downcast_ref::<HandlerFn<E>>(),
        value.downcast_ref::<E>(),
    ) {
        (Some(HandlerFn::Sync(f)), Some(event)) => Some(f(host, call, event)),
        _ => None,
    }
}

fn erased_async<'a, E: StaticEvent>(
    entry: &'static (dyn Any + Send + Sync),
    host: &'a Host,
    call: &'a Call<'a>,
    value: Arc<dyn Any + Send + Sync>,
) -> Option<BoxFuture<'a, HandlerResult>> {
    let Some(HandlerFn::Async(f)) = entry.downcast_ref::<HandlerFn<E>>() else {
        return None;
    };
    let f = *f;
    let event = value.downcast::<E>().ok()?;
    Some(Box::pin(async move { f(host, call, &event).await }))
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
