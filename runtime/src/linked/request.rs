//! Requests between plugins: `#[derive(Request)]` types, each answered by exactly one
//! `#[responds]` method of a plugin, found through the request type's own table (a static the
//! registry fills once): a call walks no map.

use std::any::TypeId;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use super::handler::BoxError;
use super::host::{Call, Host};
use super::invoke::panic_error;

/// A type made a request with `#[derive(Request)]`: `#[request(response = Price)]` names the
/// type its responder answers with.
///
/// Implemented by `#[derive(Request)]` only.
pub trait Request: Send + Sized + 'static {
    /// What the responder answers.
    type Response: Send + 'static;
    /// The request's name (`#[request(name = "..")]`, default: the type's name), for errors.
    const NAME: &'static str;

    /// The request type's responder table.
    #[doc(hidden)]
    fn __table() -> &'static ResponderTable<Self>;
}

pub use super::in_place::ResponderFuture;

/// Where a retrying responder counts its attempts, for the request's error (`None` for a
/// responder without `retries`: its one attempt needs no counter).
pub type Attempts = Option<Arc<AtomicU32>>;

/// Where a responder's future is made, in place: in the request's own future (which pins
/// it), so that the responder's first poll needs no move of it.
pub type ResponderSlot<'p, 'a, T> = Pin<&'p mut ResponderFuture<'a, T>>;

/// A responder's error as its thunk returns it: boxed once more, a thin pointer, so that with
/// a response of up to one word the whole [`Answered`] is two words, returned in registers
/// (a larger answer goes through memory, where the caller's loads may not match the
/// callee's stores: measured, a stall of about 4 ns on each request).
#[doc(hidden)]
pub type ThinError = Box<BoxError>;

/// What a responder's thunk returns.
#[doc(hidden)]
pub type Answered<T> = Poll<Result<T, ThinError>>;

/// `polled`, its error (if any) made thin.
#[doc(hidden)]
#[inline(always)]
pub fn answered<T>(polled: Poll<Result<T, BoxError>>) -> Answered<T> {
    match polled {
        Poll::Ready(Ok(response)) => Poll::Ready(Ok(response)),
        Poll::Ready(Err(error)) => Poll::Ready(Err(thin(error))),
        Poll::Pending => Poll::Pending,
    }
}

/// `answer`, its error (if any) made a plain [`BoxError`] again: for callers that return it.
#[inline(always)]
fn thick<T>(answer: Answered<T>) -> Poll<Result<T, BoxError>> {
    answer.map(|answer| answer.map_err(|error| *error))
}

/// An error made thin (out of line: the rare case).
#[cold]
#[inline(never)]
fn thin(error: BoxError) -> ThinError {
    Box::new(error)
}

/// A responder, erased to a plain function pointer: given the system it runs in, the call's
/// ids, the request and the counter of its attempts, it makes its future in `slot` and polls
/// it once, there (so that an answer ready at once costs one call: no move of the future, no
/// second indirect call); a future ready at once is dropped before it returns.
pub type ResponderFn<R> = for<'a, 'p, 'c, 'w> fn(
    &'a Host,
    &'a Call<'a>,
    R,
    &'c Attempts,
    ResponderSlot<'p, 'a, <R as Request>::Response>,
    &'c mut Context<'w>,
) -> Answered<<R as Request>::Response>;

/// A request type's responder, once the registry installed the only one.
#[doc(hidden)]
pub struct ResponderTable<R: Request> {
    slot: OnceLock<(&'static ResponderInfo, ResponderFn<R>)>,
}

impl<R: Request> ResponderTable<R> {
    /// An empty table, for the derive's `static`.
    #[allow(
        clippy::new_without_default,
        reason = "a const constructor for statics"
    )]
    pub const fn new() -> Self {
        ResponderTable {
            slot: OnceLock::new(),
        }
    }

    /// Installs `call` as the responder (false if one is there already: the registry installs
    /// only request types with exactly one). Called by generated install functions.
    pub fn install(&self, info: &'static ResponderInfo, call: ResponderFn<R>) -> bool {
        self.slot.set((info, call)).is_ok()
    }

    /// The responder, if the registry installed one.
    #[inline]
    pub(crate) fn responder(&self) -> Option<&(&'static ResponderInfo, ResponderFn<R>)> {
        self.slot.get()
    }
}

/// One `#[responds]` method: what it answers, where it is.
#[derive(Debug)]
pub struct ResponderInfo {
    /// The request's name.
    pub(crate) request: &'static str,
    /// The plugin's name.
    pub(crate) plugin: &'static str,
    /// The method's own name.
    pub(crate) name: &'static str,
    /// `Type::method`, with the module path.
    pub(crate) method: &'static str,
    pub(crate) file: &'static str,
    pub(crate) line: u32,
    /// `#[responds(timeout = "..")]`: over the system's request timeout.
    pub(crate) timeout: Option<Duration>,
    /// `#[responds(retries = ..)]`: whether a failing call is made again.
    pub(crate) retries: bool,
    /// `#[responds(circuit_breaker(..))]`: when its circuit opens.
    pub(crate) circuit_breaker: Option<super::CircuitBreaker>,
    /// Whether it has a breaker or retries (one test on the direct path).
    pub(crate) guarded: bool,
    /// Whether its requests can be cached (request `Serialize`, response `Clone`).
    pub(crate) cacheable: fn() -> Option<super::layered::Cacheable>,
}

impl ResponderInfo {
    /// The request's name.
    pub fn request(&self) -> &'static str {
        self.request
    }
    /// The plugin the responder is a method of.
    pub fn plugin(&self) -> &'static str {
        self.plugin
    }
    /// The method's own name (what [`EventSystem::call`](crate::EventSystem::call) takes).
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// `module::Type::method`.
    pub fn method(&self) -> &'static str {
        self.method
    }
    /// Its source file.
    pub fn file(&self) -> &'static str {
        self.file
    }
    /// Its source line.
    pub fn line(&self) -> u32 {
        self.line
    }
    /// Its own timeout, if it has one.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
    /// Whether it retries a failing call (`#[responds(retries = N)]`).
    pub fn retries(&self) -> bool {
        self.retries
    }
    /// Its circuit breaker's policy, if it has one.
    pub fn circuit_breaker(&self) -> Option<&super::CircuitBreaker> {
        self.circuit_breaker.as_ref()
    }
}

impl fmt::Display for ResponderInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}:{})", self.method, self.file, self.line)
    }
}

/// What `#[responds]` declares of one method. Data only.
#[doc(hidden)]
pub struct ResponderMeta {
    pub plugin: &'static str,
    /// The method's own name: what calls by name use.
    pub name: &'static str,
    pub method: &'static str,
    pub file: &'static str,
    pub line: u32,
    pub timeout: Option<Duration>,
    pub retries: bool,
    pub circuit_breaker: Option<super::CircuitBreaker>,
}

/// One responder's registration (travels with its plugin's `PluginDecl`). Built by
/// `#[responds]`.
#[doc(hidden)]
pub struct ResponderDecl {
    pub(crate) request: TypeId,
    pub(crate) info: ResponderInfo,
    /// Puts the responder in its request type's table.
    pub(crate) install: fn(&'static ResponderInfo) -> bool,
    /// Its call with JSON, if its request and response are serde types.
    pub(crate) json: fn() -> Option<super::call::JsonCallFn>,
}

impl ResponderDecl {
    /// The responder of `R` whose `install` puts its function in `R`'s table.
    pub const fn new<R: Request>(
        meta: ResponderMeta,
        install: fn(&'static ResponderInfo) -> bool,
        json: fn() -> Option<super::call::JsonCallFn>,
        cacheable: fn() -> Option<super::layered::Cacheable>,
    ) -> Self {
        ResponderDecl {
            request: TypeId::of::<R>(),
            info: ResponderInfo {
                request: R::NAME,
                plugin: meta.plugin,
                name: meta.name,
                method: meta.method,
                file: meta.file,
                line: meta.line,
                timeout: meta.timeout,
                retries: meta.retries,
                guarded: meta.retries || meta.circuit_breaker.is_some(),
                circuit_breaker: meta.circuit_breaker,
                cacheable,
            },
            install,
            json,
        }
    }
}

/// One element of the request slice. Built by `#[derive(Request)]`.
#[doc(hidden)]
pub struct RequestDecl {
    pub(crate) type_id: TypeId,
    pub(crate) name: &'static str,
    pub(crate) type_name: &'static str,
    pub(crate) file: &'static str,
    pub(crate) line: u32,
}

impl RequestDecl {
    /// Describes request type `R`; `type_name` is its path (`module_path!()` and its name).
    pub const fn new<R: Request>(type_name: &'static str, file: &'static str, line: u32) -> Self {
        RequestDecl {
            type_id: TypeId::of::<R>(),
            name: R::NAME,
            type_name,
            file,
            line,
        }
    }
}

/// What a responder returns: `Result<Response, E>`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a `#[responds]` method returns `Result<{T}, E>` (the request's response), not `{Self}`",
    label = "must be `Result<{T}, E>` with `E: std::error::Error + Send + Sync + 'static`"
)]
pub trait IntoResponse<T> {
    fn into_response(self) -> Result<T, BoxError>;
}

impl<T, E: Into<BoxError>> IntoResponse<T> for Result<T, E> {
    fn into_response(self) -> Result<T, BoxError> {
        self.map_err(Into::into)
    }
}

/// What a responder whose plugin is not running answers: the `PluginInactive` mark.
#[doc(hidden)]
#[cold]
pub fn responder_inactive<T>() -> Answered<T> {
    Poll::Ready(Err(Box::new(Box::new(super::host::PluginInactive))))
}

/// Makes a responder's future in `slot` (in place if it fits in 128 bytes, else boxed) and
/// polls it once there; a future ready at once is dropped at once (generated thunks end
/// with it). Inlined into each thunk, where the future's type is known: its first poll is a
/// direct call.
#[doc(hidden)]
#[inline(always)]
pub fn start_responder<'a, T, F>(
    slot: ResponderSlot<'_, 'a, T>,
    future: F,
    cx: &mut Context<'_>,
) -> Answered<T>
where
    F: std::future::Future<Output = Result<T, BoxError>> + Send + 'a,
{
    answered(slot.start(future, cx))
}

pin_project_lite::pin_project! {
    /// An async responder's future, its output made a response by `map`
    /// ([`IntoResponse::into_response`]): what a responder without a context answers with,
    /// one state machine fewer than an `async` block around it.
    #[doc(hidden)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Answer<F, G> {
        #[pin]
        future: F,
        map: G,
    }
}

impl<F, G> Answer<F, G> {
    /// `future`, its output mapped with `map` (bound here, so that a closure's argument is
    /// typed from `F` and a wrong response is an error in its body, on the method's output).
    #[inline(always)]
    pub fn new<T>(future: F, map: G) -> Self
    where
        F: std::future::Future,
        G: Fn(F::Output) -> Result<T, BoxError>,
    {
        Answer { future, map }
    }
}

impl<T, F: std::future::Future, G: Fn(F::Output) -> Result<T, BoxError>> std::future::Future
    for Answer<F, G>
{
    type Output = Result<T, BoxError>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.future.poll(cx) {
            Poll::Ready(output) => Poll::Ready((this.map)(output)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Runs `R`'s responder `call` to its answer, as a future of its own: made and polled in
/// place, a panic in any poll caught as its [`HandlerPanic`](super::HandlerPanic) error. For
/// callers that cannot hold the slot themselves (the innermost service of the layers).
pub(crate) async fn answer<R: Request>(
    host: &Host,
    call: ResponderFn<R>,
    request: R,
    attempts: Attempts,
) -> Result<R::Response, BoxError> {
    let mut slot = std::pin::pin!(ResponderFuture::new());
    let mut first = Some((request, attempts));
    std::future::poll_fn(move |cx| {
        let polled = panic::catch_unwind(AssertUnwindSafe(|| match first.take() {
            Some((request, attempts)) => thick(call(
                host,
                &Call::ROOT,
                request,
                &attempts,
                slot.as_mut(),
                cx,
            )),
            None => match slot.as_mut().poll_held(cx) {
                Some(polled) => polled,
                None => thick(responder_inactive()),
            },
        }));
        polled.unwrap_or_else(|payload| Poll::Ready(Err(panic_error(payload))))
    })
    .await
}

/// A responder's attempts under its `retries` policy: `attempt` again, after the policy's
/// delay (the system's seedable jitter), while it fails (or panics: a panic is a
/// [`HandlerPanic`](super::HandlerPanic) error, retried as handlers' are) with an error that
/// is not [`Permanent`](super::Permanent) and the policy allows; the last error otherwise.
/// Each attempt is counted in `attempts` (which the request reads for its error, also when
/// its timeout cancels the attempts). The request's timeout bounds them all. Generated
/// thunks of `#[responds(retries = N)]` call it.
#[doc(hidden)]
pub async fn retry_responder<T, F, Fut>(
    host: &Host,
    retry: &super::Retry,
    attempts: Attempts,
    mut attempt: F,
) -> Result<T, BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BoxError>>,
{
    let started = retry
        .max_elapsed_limit()
        .map(|_| tokio::time::Instant::now());
    let mut made = 1;
    loop {
        if let Some(count) = &attempts {
            count.store(made, Ordering::Relaxed);
        }
        let error = match caught(&mut attempt).await {
            Ok(response) => return Ok(response),
            Err(error) => error,
        };
        let jitter = |ceiling| host.jitter(ceiling);
        let Some(delay) = super::invoke::next_delay(retry, made, &error, started, jitter) else {
            return Err(error);
        };
        tokio::time::sleep(delay).await;
        made += 1;
    }
}

/// One attempt, a panic while making or polling its future caught as its error.
async fn caught<T, F, Fut>(attempt: &mut F) -> Result<T, BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BoxError>>,
{
    let future = match panic::catch_unwind(AssertUnwindSafe(attempt)) {
        Ok(future) => future,
        Err(payload) => return Err(panic_error(payload)),
    };
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)))
            .unwrap_or_else(|payload| Poll::Ready(Err(panic_error(payload))))
    })
    .await
}
