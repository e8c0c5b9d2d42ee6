//! The one step that runs one handler, static or dynamic, and what it comes to.
//!
//! Every handler call of the crate goes through [`run`] (sync) or [`run_async`] (a future):
//! the `emit` table walk, `publish`, and the bus's route walk for run-time subscriptions. So
//! whatever applies to "one handler, one event" (isolating a panic, a timeout, a retry, a
//! circuit breaker, a tracing span, the system's handler layers around an async call) is
//! written here once. `run` and `start_async` are `#[inline(always)]`: on `emit` the step costs
//! nothing beyond the call itself.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::poll_fn;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use super::handler::{BoxError, BoxFuture, HandlerInfo, HandlerResult};
use super::handler_layers::{HandlerEnvelope, HandlerStack, LayerRejected};

/// What one handler call came to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// It ran and returned `Ok`.
    Handled,
    /// It ran and returned an error, or panicked (a [`HandlerPanic`]); or it did not run
    /// because its plugin is not running ([`skipped`]: the error is the `PluginInactive`
    /// mark), which every failure path checks first. Two variants, so that an `Outcome` is a
    /// nullable pointer on the hot path.
    Failed(BoxError),
}

impl From<HandlerResult> for Outcome {
    #[inline(always)]
    fn from(result: HandlerResult) -> Self {
        match result {
            Ok(()) => Outcome::Handled,
            Err(source) => Outcome::Failed(source),
        }
    }
}

/// Whether a handler's error is the mark of a handler whose plugin is not running: the call
/// was skipped (neither handled nor a failure, not retried, not told to a breaker).
#[inline]
pub(crate) fn skipped(source: &BoxError) -> bool {
    source.is::<super::host::PluginInactive>()
}

impl Outcome {
    /// [`skipped`] of a failure; false for a success.
    pub(crate) fn is_skipped(&self) -> bool {
        matches!(self, Outcome::Failed(source) if skipped(source))
    }
}

/// Runs one sync handler call. A panic stops at this step: it comes back as a failure
/// ([`HandlerPanic`]), and the dispatch goes on with the next handler. Unwinding costs
/// nothing until something panics.
#[inline(always)]
pub(crate) fn run(call: impl FnOnce() -> HandlerResult) -> Outcome {
    match panic::catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => Outcome::from(result),
        Err(payload) => panicked(payload),
    }
}

/// Runs a sync handler's body and catches a panic in it as the call's failure
/// ([`HandlerPanic`]), as [`run`] does around a call: what the thunks the macros generate in
/// optimised builds do, so that `emit`'s inlined fast path can call a table's single handler
/// bare (the landing pad is in the thunk, once per handler, not at every `emit` call site).
#[doc(hidden)]
#[inline(always)]
pub fn thunk_caught(body: impl FnOnce() -> HandlerResult) -> HandlerResult {
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => Err(panic_error(payload)),
    }
}

/// Makes one async handler call's future: a panic while making it (in the code of a closure
/// before its `async` block) is the call's failure, as one while polling it is.
#[inline(always)]
pub(crate) fn start_async<'a>(
    call: impl FnOnce() -> BoxFuture<'a, HandlerResult>,
) -> Result<BoxFuture<'a, HandlerResult>, Outcome> {
    panic::catch_unwind(AssertUnwindSafe(call)).map_err(panicked)
}

/// Whether an async call goes through the system's handler layers, and as what: the stack,
/// the event's name and the handler, for the envelope. [`Via::DIRECT`] for a system without
/// handler layers (its calls are polled as they are).
#[derive(Clone, Copy)]
pub(crate) struct Via<'s>(Option<(&'s HandlerStack, &'s str, &'s HandlerRef)>);

impl<'s> Via<'s> {
    /// Straight to the call.
    pub(crate) const DIRECT: Via<'static> = Via(None);

    /// Through `host`'s handler layers if its system has some, as `handler` on `event`.
    #[inline]
    pub(crate) fn of(host: &'s super::Host, event: &'s str, handler: &'s HandlerRef) -> Self {
        Via(host.handler_stack().map(|stack| (stack, event, handler)))
    }
}

/// Runs one async handler call (its attempt `attempt`) to completion, or until `timeout` runs
/// out (then it is cancelled: its future is dropped, and the call fails with a
/// [`HandlerTimeout`]). A panic in any poll ends it as a failure ([`HandlerPanic`]); the
/// future is dropped. Any timeout is valid: one too long to be a deadline is none. Through
/// the system's handler layers (`via`), the timeout and the panic isolation cover the whole
/// stack: waiting for it to be ready, a layer's own code, the call.
pub(crate) async fn run_async<'a>(
    call: BoxFuture<'a, HandlerResult>,
    timeout: Option<Duration>,
    via: Via<'a>,
    attempt: u32,
) -> Outcome {
    let call = match via.0 {
        None => call,
        Some((stack, event, handler)) => {
            stack.through(HandlerEnvelope::new(event, handler, attempt, call))
        }
    };
    timed(call, timeout).await
}

/// [`run_async`] of a call as it is.
async fn timed(mut call: BoxFuture<'_, HandlerResult>, timeout: Option<Duration>) -> Outcome {
    let caught =
        poll_fn(
            move |cx| match panic::catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx))) {
                Ok(Poll::Ready(result)) => Poll::Ready(Outcome::from(result)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(panicked(payload)),
            },
        );
    let deadline = timeout.and_then(|after| {
        let at = tokio::time::Instant::now().checked_add(after)?;
        Some((after, at))
    });
    match deadline {
        None => caught.await,
        Some((after, at)) => match tokio::time::timeout_at(at, caught).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Failed(Box::new(HandlerTimeout { after })),
        },
    }
}

/// Runs one async handler call (`first`, its first attempt's future) and, while it fails
/// with an error that is not [`Permanent`](super::Permanent), its retries (`again` makes the
/// next attempt's future), each after `jitter(ceiling)`, each under `timeout`, each `via`
/// the handler layers. Returns the last outcome and what the attempts were.
pub(crate) async fn run_retrying<'a>(
    first: BoxFuture<'a, HandlerResult>,
    again: impl FnMut() -> Result<BoxFuture<'a, HandlerResult>, Outcome>,
    timeout: Option<Duration>,
    via: Via<'a>,
    retry: &super::Retry,
    jitter: impl Fn(Duration) -> Duration,
) -> (Outcome, Tried) {
    // The clock is read only for a limit that needs it: a call that succeeds at once costs
    // what it costs without a policy.
    let started = retry
        .max_elapsed_limit()
        .map(|_| tokio::time::Instant::now());
    let first = run_async(first, timeout, via, 1).await;
    if matches!(first, Outcome::Handled) {
        return (first, Tried::once());
    }
    // Boxed: the retries' state (a backoff timer, another attempt under its timeout) is
    // made only for a call that failed, and the future of one that succeeds stays small
    // (a detached handler's worker allocates one per call it drives).
    Box::pin(retried(first, again, timeout, via, retry, jitter, started)).await
}

/// The retries of a sync handler's call whose first attempt came to `first`: each attempt
/// is `again` through [`run`], after `jitter(ceiling)`, awaited (so only a `publish` retries
/// a sync handler; `emit` never waits). `max_elapsed` counts from the first attempt's end
/// (its start is not read, so that a call that succeeds costs no clock read).
pub(crate) async fn retry_sync(
    first: Outcome,
    mut again: impl FnMut() -> HandlerResult,
    retry: &super::Retry,
    jitter: impl Fn(Duration) -> Duration,
) -> (Outcome, Tried) {
    let started = retry
        .max_elapsed_limit()
        .map(|_| tokio::time::Instant::now());
    // A sync attempt is made at once: its outcome comes back as a future that never started.
    let again = || Err::<BoxFuture<'_, HandlerResult>, _>(run(&mut again));
    retried(first, again, None, Via::DIRECT, retry, jitter, started).await
}

/// The retry loop both share: after a first attempt that came to `first`, while it fails
/// and a retry is due ([`next_delay`]), waits, then makes the next attempt (`again`: a
/// future to run under `timeout` and `via` the layers, or the outcome of an attempt already
/// made).
async fn retried<'a>(
    first: Outcome,
    mut again: impl FnMut() -> Result<BoxFuture<'a, HandlerResult>, Outcome>,
    timeout: Option<Duration>,
    via: Via<'a>,
    retry: &super::Retry,
    jitter: impl Fn(Duration) -> Duration,
    started: Option<tokio::time::Instant>,
) -> (Outcome, Tried) {
    let mut outcome = first;
    let mut attempts = 1;
    let mut first_error = None;
    while let Outcome::Failed(error) = &outcome {
        let Some(delay) = next_delay(retry, attempts, error, started, &jitter) else {
            break;
        };
        tokio::time::sleep(delay).await;
        attempts += 1;
        let next = match again() {
            Ok(future) => run_async(future, timeout, via, attempts).await,
            Err(made) => made,
        };
        if let Outcome::Failed(error) = std::mem::replace(&mut outcome, next)
            && first_error.is_none()
        {
            first_error = Some(error);
        }
    }
    let tried = Tried {
        attempts,
        first_error,
    };
    (outcome, tried)
}

/// The delay before the next attempt of a call that failed with `error` after `attempts`;
/// `None` when none is due: the policy's retries are spent, the error is
/// [`Permanent`](super::Permanent), or the delay would end past `max_elapsed`. Shared with
/// the pipeline's retries of a stage.
pub(crate) fn next_delay(
    retry: &super::Retry,
    attempts: u32,
    error: &BoxError,
    started: Option<tokio::time::Instant>,
    jitter: impl Fn(Duration) -> Duration,
) -> Option<Duration> {
    // `retries + 1` attempts at most (any `u32` of retries: the count cannot overflow).
    if attempts > retry.retries()
        || attempts == u32::MAX
        || error.is::<super::Permanent>()
        || skipped(error)
    {
        return None;
    }
    let delay = jitter(retry.ceiling(attempts));
    if let (Some(limit), Some(started)) = (retry.max_elapsed_limit(), started)
        && started.elapsed().saturating_add(delay) > limit
    {
        return None;
    }
    Some(delay)
}

/// What the attempts of one call were: how many, and the first one's error if it was
/// retried.
pub(crate) struct Tried {
    pub(crate) attempts: u32,
    pub(crate) first_error: Option<BoxError>,
}

impl Tried {
    /// One attempt.
    pub(crate) fn once() -> Self {
        Tried {
            attempts: 1,
            first_error: None,
        }
    }
}

/// An async handler ran out of its timeout (`SubscribeOptions::timeout`, or the system's
/// `handler_timeout`): it was cancelled (its future dropped), and the call failed. It is the
/// [`source`](HandlerError::source) of the handler's [`HandlerError`]
/// ([`HandlerError::timeout`] finds it); `metrics()` counts it as failed and as timed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {after:?}")]
pub struct HandlerTimeout {
    after: Duration,
}

impl HandlerTimeout {
    /// The timeout it ran out of.
    pub fn after(&self) -> Duration {
        self.after
    }
}

/// Asks a subscription's filter whether it takes the event. A panic there is the
/// subscription's failure, as one of its handler would be (the message says it was the
/// filter).
#[inline(always)]
pub(crate) fn filter(ask: impl FnOnce() -> bool) -> Result<bool, Outcome> {
    panic::catch_unwind(AssertUnwindSafe(ask)).map_err(filter_panicked)
}

#[cold]
#[inline(never)]
fn filter_panicked(payload: Box<dyn Any + Send>) -> Outcome {
    let mut panic = HandlerPanic::from_payload(payload.as_ref());
    panic.message = format!("in its filter: {}", panic.message);
    Outcome::Failed(Box::new(panic))
}

/// A caught panic, as the failure of its call.
#[cold]
#[inline(never)]
/// Makes a future with `make` and runs it to its output; a panic while making it or in any
/// poll comes back as the [`HandlerPanic`] it becomes (the future is dropped). For user code
/// that is not a handler: the plugins' lifecycle methods, a pipeline's stages, a batch's sink.
pub(crate) async fn caught<'a, R>(
    make: impl FnOnce() -> BoxFuture<'a, R>,
) -> Result<R, HandlerPanic> {
    let mut future = match panic::catch_unwind(AssertUnwindSafe(make)) {
        Ok(future) => future,
        Err(payload) => return Err(HandlerPanic::from_payload(payload.as_ref())),
    };
    poll_fn(
        move |cx| match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(HandlerPanic::from_payload(payload.as_ref()))),
        },
    )
    .await
}

/// [`caught`] of a fallible future: a panic is its error.
pub(crate) async fn catching<T>(future: BoxFuture<'_, Result<T, BoxError>>) -> Result<T, BoxError> {
    caught(|| future)
        .await
        .unwrap_or_else(|panic| Err(Box::new(panic)))
}

fn panicked(payload: Box<dyn Any + Send>) -> Outcome {
    Outcome::Failed(panic_error(payload))
}

/// A caught panic as the error of the call it ended (a [`HandlerPanic`]).
#[cold]
pub(crate) fn panic_error(payload: Box<dyn Any + Send>) -> BoxError {
    Box::new(HandlerPanic::from_payload(payload.as_ref()))
}

/// A handler panicked: the failure its panic became. Every other handler of the event, and
/// every later event, still ran. It is the [`source`](HandlerError::source) of the
/// handler's [`HandlerError`] ([`HandlerError::panic`] finds it).
///
/// Panics are caught only where they unwind: under `panic = "abort"` in the Cargo profile a
/// panicking handler aborts the process, as any panic does. The panic hook still runs first
/// (by default it prints the message and location to stderr).
///
/// ```
/// use staticbus::prelude::*;
///
/// fn broken(_: &EventRef<'_>) {
///     panic!("the handler broke");
/// }
///
/// let system = EventSystem::builder().build()?;
/// let _broken = system.on("tick", broken)?;
/// let _healthy = system.on("tick", |_: &EventRef<'_>| {})?;
///
/// let emitted = system.emit_dynamic(&DynamicEvent::builder("tick").build()?);
/// assert_eq!(emitted.handled(), 1, "the healthy handler ran");
/// let panic = emitted.errors()[0].panic().expect("the failure is the panic");
/// assert_eq!(panic.message(), "the handler broke");
/// # Ok::<(), staticbus::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("panicked: {message}")]
pub struct HandlerPanic {
    message: String,
}

impl HandlerPanic {
    /// The panic's message: what `panic!` was given, when it was a string.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The failure a caught panic's payload becomes.
    pub(crate) fn from_payload(payload: &(dyn Any + Send)) -> Self {
        let message = if let Some(text) = payload.downcast_ref::<&'static str>() {
            (*text).to_owned()
        } else if let Some(text) = payload.downcast_ref::<String>() {
            text.clone()
        } else {
            "(a panic payload that is not a string)".to_owned()
        };
        HandlerPanic { message }
    }
}

/// Identifies one run-time subscription of one system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriptionId(pub(crate) u64);

impl SubscriptionId {
    /// The id as a number: unique within its system, increasing in subscription order.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// `#7`: reads well after a noun (`"subscription {id}"`).
impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Which handler an error came from.
#[derive(Debug, Clone)]
pub enum HandlerRef {
    /// A `#[handler]` function or `#[on]` method.
    Static(&'static HandlerInfo),
    /// A run-time subscription (`system.on(...)`).
    Subscription {
        /// Its id.
        id: SubscriptionId,
        /// Its pattern.
        pattern: Arc<str>,
    },
}

impl HandlerRef {
    /// The static handler's description, for `#[handler]` / `#[on]` handlers.
    pub fn static_info(&self) -> Option<&'static HandlerInfo> {
        match self {
            HandlerRef::Static(info) => Some(info),
            HandlerRef::Subscription { .. } => None,
        }
    }

    /// A human name: the static handler's path, or the subscription and its pattern.
    pub fn name(&self) -> Cow<'static, str> {
        match self {
            HandlerRef::Static(info) => Cow::Borrowed(info.function()),
            HandlerRef::Subscription { id, pattern } => {
                Cow::Owned(format!("subscription {id} ({pattern})"))
            }
        }
    }
}

/// The handlers of one dispatch that returned an error, in dispatch order.
#[derive(Debug, thiserror::Error)]
#[error("{} handler(s) of event {event:?} failed: {}", errors.len(), DisplayList(errors))]
pub struct HandlerErrors {
    /// The event's name or topic.
    pub event: Cow<'static, str>,
    /// Each failure, in dispatch order.
    pub errors: Vec<HandlerError>,
}

/// One handler's error, with the handler it came from.
#[derive(Debug, thiserror::Error)]
#[error("{} {}", handler.name(), Failure(source))]
pub struct HandlerError {
    /// The handler that failed.
    pub handler: HandlerRef,
    /// What it returned, or the [`HandlerPanic`] its panic became (the last attempt's, when
    /// it was retried).
    #[source]
    pub source: BoxError,
    /// Calls made: 1, plus its retries (0: its circuit breaker rejected it).
    pub attempts: u32,
    /// The first attempt's error, when the call was retried (`source` is the last's).
    pub first_error: Option<BoxError>,
    /// Whether it became a dead letter (every final failure does, but those of the
    /// handlers of `staticbus.dead_letter`, and a rejection by an open circuit only if its
    /// policy says so).
    pub dead_lettered: bool,
}

impl HandlerError {
    /// `handler`'s call that failed with `source` after the attempts `tried`.
    pub(crate) fn failed(handler: HandlerRef, source: BoxError, tried: Tried) -> Self {
        HandlerError {
            handler,
            source,
            attempts: tried.attempts,
            first_error: tried.first_error,
            dead_lettered: false,
        }
    }

    /// `handler`'s call that its circuit `breaker` rejected (not made: no attempt); a dead
    /// letter only if the breaker's policy says so.
    pub(crate) fn rejected(handler: HandlerRef, breaker: &super::Breaker) -> Self {
        let open = super::CircuitOpen {
            state: breaker.counts().state,
            dead_letter: breaker.policy().dead_letters_rejected(),
        };
        HandlerError {
            handler,
            source: Box::new(open),
            attempts: 0,
            first_error: None,
            dead_lettered: false,
        }
    }

    /// The panic this failure was, if the handler panicked rather than returned an error.
    pub fn panic(&self) -> Option<&HandlerPanic> {
        self.source.downcast_ref()
    }

    /// The timeout this failure was, if an async handler ran out of it.
    pub fn timeout(&self) -> Option<&HandlerTimeout> {
        self.source.downcast_ref()
    }

    /// The layer's error this failure was, if one of the system's
    /// [handler layers](crate::EventSystemBuilder::handler_layer) failed the call (the
    /// handler may not have been called).
    pub fn layer_rejected(&self) -> Option<&LayerRejected> {
        self.source.downcast_ref()
    }

    /// The rejection this failure was, if the handler's circuit breaker did not let the call
    /// through (then `attempts` is 0).
    pub fn circuit_open(&self) -> Option<&super::CircuitOpen> {
        self.source.downcast_ref()
    }
}

/// "returned an error: ..." or "panicked: ...".
struct Failure<'a>(&'a BoxError);

impl fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(panic) = self.0.downcast_ref::<HandlerPanic>() {
            return panic.fmt(f);
        }
        if let Some(timeout) = self.0.downcast_ref::<HandlerTimeout>() {
            return timeout.fmt(f);
        }
        if let Some(open) = self.0.downcast_ref::<super::CircuitOpen>() {
            return open.fmt(f);
        }
        if let Some(rejected) = self.0.downcast_ref::<LayerRejected>() {
            return rejected.fmt(f);
        }
        write!(f, "returned an error: {}", self.0)
    }
}

/// Items separated by `"; "`.
pub(crate) struct DisplayList<'a, T>(pub(crate) &'a [T]);

impl<T: fmt::Display> fmt::Display for DisplayList<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            item.fmt(f)?;
        }
        Ok(())
    }
}
