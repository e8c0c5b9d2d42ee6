//! A typed request on its way: its responder called in the first poll, its future held in
//! place, under a timeout armed only if that poll is `Pending`; every way it can fail told
//! apart. `EventSystem::request` and calls by name (`call.rs`) both run one.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use super::breaker::{Admission, Breaker, CircuitState};
use super::handler::BoxError;
use super::host::{Call, Host};
use super::invoke::{self, HandlerPanic};
use super::layered::{Metadata, RequestService};
use super::request::{Answered, Attempts, Request, ResponderFuture, ResponderInfo, answered};

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No responder answers this request type in this system: its plugin is disabled, not
    /// made yet, stopped or failed. (A request type with no responder at all in the binary
    /// is a `build()` error.)
    #[error("no responder for request `{request}`: {reason}")]
    NoResponder {
        /// The request's name.
        request: &'static str,
        /// Why.
        reason: String,
    },
    /// The responder did not answer within the timeout: its future was dropped (with the
    /// attempt in progress, when it retries).
    #[error("request `{request}` to `{responder}` timed out after {after:?}{}", tries(*.attempts))]
    Timeout {
        /// The request's name.
        request: &'static str,
        /// The responder (`module::Type::method`).
        responder: &'static str,
        /// The timeout.
        after: Duration,
        /// Attempts made (the last one cancelled); 1 unless it retries.
        attempts: u32,
    },
    /// The responder returned an error (after its last attempt, when it retries).
    #[error("responder `{responder}` of request `{request}` failed{}: {source}", tries(*.attempts))]
    Failed {
        /// The request's name.
        request: &'static str,
        /// The responder.
        responder: &'static str,
        /// Its (last attempt's) error.
        source: BoxError,
        /// Attempts made; 1 unless it retries.
        attempts: u32,
    },
    /// The responder's circuit breaker (`#[responds(circuit_breaker(..))]`) is open, or
    /// half-open with its probes taken: the responder was not called.
    #[error("request `{request}` to `{responder}` rejected: its circuit is {state}")]
    CircuitOpen {
        /// The request's name.
        request: &'static str,
        /// The responder.
        responder: &'static str,
        /// The circuit's state.
        state: CircuitState,
    },
    /// A request layer ([`request_layer`](crate::EventSystemBuilder::request_layer))
    /// answered with an error of its own: the responder was not called, or its answer was
    /// not passed on. Tell the layers apart by their error types (`source.downcast_ref`).
    #[error("request `{request}` rejected by a layer: {source}")]
    Rejected {
        /// The request's name.
        request: &'static str,
        /// The layer's error.
        source: BoxError,
    },
    /// The responder (or a request layer) panicked (while its future was made or polled;
    /// in its last attempt, when it retries).
    #[error("responder `{responder}` of request `{request}` panicked{}: {}", tries(*.attempts), .panic.message())]
    Panicked {
        /// The request's name.
        request: &'static str,
        /// The responder.
        responder: &'static str,
        /// The panic.
        panic: HandlerPanic,
        /// Attempts made; 1 unless it retries.
        attempts: u32,
    },
}

impl RequestError {
    /// How many attempts the responder made: 0 when it was not called (no responder, an
    /// open circuit, a layer's rejection), else 1 unless it retries.
    pub fn attempts(&self) -> u32 {
        match self {
            RequestError::Timeout { attempts, .. }
            | RequestError::Failed { attempts, .. }
            | RequestError::Panicked { attempts, .. } => *attempts,
            RequestError::NoResponder { .. }
            | RequestError::CircuitOpen { .. }
            | RequestError::Rejected { .. } => 0,
        }
    }
}

/// ` after N attempts` in a message, for more than one.
fn tries(attempts: u32) -> String {
    if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    }
}

fn no_responder<R: Request>(reason: &str) -> RequestError {
    RequestError::NoResponder {
        request: R::NAME,
        reason: reason.to_owned(),
    }
}

/// What every request of one system shares: the default timeout, the stack of layers
/// (`None` without layers: requests take the direct path). Kept by the [`Host`], so that a
/// request reads them with no look-up.
pub(crate) struct Requests {
    /// How long a responder may take, unless it or the call says otherwise.
    pub(crate) timeout: Duration,
    /// The request layers around the responders, built once; each request takes a clone.
    pub(crate) stack: Option<parking_lot::Mutex<RequestService>>,
}

impl Default for Requests {
    fn default() -> Self {
        Requests {
            timeout: Duration::from_secs(5),
            stack: None,
        }
    }
}

/// What few requests need, boxed (made only by one that needs it): a request answered in its
/// first poll, with no metadata, no breaker and no retries, carries a null pointer, whose drop
/// is one test.
#[derive(Default)]
struct Extra<'s> {
    // Made when the responder first returns `Pending`: an answer in the first poll reads no
    // clock.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    // What the caller attached, for the layers (taken by the first poll).
    metadata: Option<Box<Metadata>>,
    // A retrying responder's count of its attempts.
    attempts: Attempts,
    // The responder's breaker, when it has one, and whether this call is its probe.
    gate: Option<(&'s Breaker, bool)>,
}

pin_project_lite::pin_project! {
    /// A request on its way: the responder's future (held in place, not boxed, when it is
    /// small enough), under its timeout.
    #[must_use = "futures do nothing unless polled"]
    pub struct RequestFuture<'s, R: Request> {
        // Made in the first poll, in place, by the responder's thunk (not moved after).
        #[pin]
        future: ResponderFuture<'s, R::Response>,
        // Until the first poll.
        request: Option<R>,
        host: &'s Host,
        // The call's; else the responder's, else the system's.
        timeout: Option<Duration>,
        extra: Option<Box<Extra<'s>>>,
    }
}

impl<'s, R: Request> RequestFuture<'s, R> {
    /// `request` to its responder in `host`'s system, under `timeout` (else the responder's,
    /// else the system's), with the caller's `metadata` for the layers; nothing is called
    /// before the first poll.
    #[inline]
    pub(crate) fn new(
        host: &'s Host,
        request: R,
        timeout: Option<Duration>,
        metadata: Option<Box<Metadata>>,
    ) -> Self {
        RequestFuture {
            future: ResponderFuture::new(),
            request: Some(request),
            host,
            timeout,
            extra: metadata.map(|metadata| {
                Box::new(Extra {
                    metadata: Some(metadata),
                    ..Extra::default()
                })
            }),
        }
    }
}

/// Asks the responder's breaker in this system whether it may be called: `Ok(None)` without
/// a breaker, `Ok(Some(gate))` to call it (telling the breaker how it ends), or the
/// rejection.
#[cold]
#[inline(never)]
fn admit<'s>(
    host: &'s Host,
    info: &'static ResponderInfo,
) -> Result<Option<(&'s Breaker, bool)>, RequestError> {
    let Some(breaker) = host.responder_breaker(info) else {
        return Ok(None);
    };
    let (admission, moved) = breaker.admit();
    if let Some(state) = moved {
        host.responder_circuit_moved(info, state);
    }
    match admission {
        Admission::Call => Ok(Some((breaker, false))),
        Admission::Probe => Ok(Some((breaker, true))),
        Admission::Reject => Err(RequestError::CircuitOpen {
            request: info.request(),
            responder: info.method(),
            state: breaker.counts().state,
        }),
    }
}

/// Tells the responder's breaker how a call it let through ended: a success, a failure
/// (failed, panicked, timed out), or neither (the responder did not run: its plugin is not
/// running, or a layer answered), which only gives its probe back.
#[cold]
#[inline(never)]
fn tell<T>(
    host: &Host,
    info: &'static ResponderInfo,
    (breaker, probe): (&Breaker, bool),
    outcome: &Result<T, RequestError>,
) {
    let succeeded = match outcome {
        Ok(_) => true,
        Err(RequestError::Failed { .. } | RequestError::Panicked { .. })
        | Err(RequestError::Timeout { .. }) => false,
        Err(_) => {
            breaker.release(probe);
            return;
        }
    };
    if let Some(state) = breaker.record(succeeded, probe) {
        host.responder_circuit_moved(info, state);
    }
}

impl<R: Request> RequestFuture<'_, R> {
    /// The first poll: finds the responder and, for a plain request (no breaker, no retries,
    /// no metadata, no layers), makes its future in place and polls it once, in one call; the
    /// error that ends the request at once otherwise.
    #[inline]
    fn begin(
        mut self: Pin<&mut Self>,
        request: R,
        cx: &mut Context<'_>,
    ) -> Result<Answered<R::Response>, Box<RequestError>> {
        let Some(&(info, call)) = R::__table().responder() else {
            return Err(Box::new(no_responder::<R>("the binary links none")));
        };
        let this = self.as_mut().project();
        let host = *this.host;
        if info.guarded || this.extra.is_some() || host.requests().stack.is_some() {
            return self.begin_guarded(info, call, request, cx);
        }
        let slot = this.future;
        panic::catch_unwind(AssertUnwindSafe(|| {
            call(host, &Call::ROOT, request, &None, slot, cx)
        }))
        .map_err(|payload| panicked::<R>(info, payload.as_ref(), 1))
    }

    /// The first poll of a request that is not plain: asks the responder's breaker, counts
    /// its attempts, sends it through the layers with its metadata.
    #[cold]
    #[inline(never)]
    fn begin_guarded(
        self: Pin<&mut Self>,
        info: &'static ResponderInfo,
        call: super::request::ResponderFn<R>,
        request: R,
        cx: &mut Context<'_>,
    ) -> Result<Answered<R::Response>, Box<RequestError>> {
        let mut this = self.project();
        let host = *this.host;
        if info.guarded {
            guard(host, info, this.extra.get_or_insert_default()).map_err(Box::new)?;
        }
        let polled = if let Some(stack) = &host.requests().stack {
            let metadata = this.extra.as_mut().and_then(|extra| extra.metadata.take());
            let attempts = this.extra.as_ref().and_then(|extra| extra.attempts.clone());
            let future = super::layered::start(host, info, stack, metadata, request, attempts);
            this.future.set(future);
            let future = this.future;
            panic::catch_unwind(AssertUnwindSafe(|| future.poll_held(cx)))
                .map(|polled| answered(polled.unwrap_or(Poll::Pending)))
        } else {
            const NO_ATTEMPTS: &Attempts = &None;
            let attempts = this
                .extra
                .as_ref()
                .map_or(NO_ATTEMPTS, |extra| &extra.attempts);
            let slot = this.future;
            panic::catch_unwind(AssertUnwindSafe(|| {
                call(host, &Call::ROOT, request, attempts, slot, cx)
            }))
        };
        polled.map_err(|payload| panicked::<R>(info, payload.as_ref(), count(this.extra)))
    }

    /// Every later poll: the responder's future, polled where it is.
    #[inline]
    fn again(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Result<Answered<R::Response>, Box<RequestError>> {
        let this = self.project();
        let answered_already = || Box::new(no_responder::<R>("the request was already answered"));
        let Some(info) = responder_info::<R>() else {
            return Err(answered_already());
        };
        let future = this.future;
        match panic::catch_unwind(AssertUnwindSafe(|| future.poll_held(cx))) {
            Ok(Some(polled)) => Ok(answered(polled)),
            // No future left: it answered (or failed) in an earlier poll.
            Ok(None) => Err(answered_already()),
            Err(payload) => Err(panicked::<R>(info, payload.as_ref(), count(this.extra))),
        }
    }

    /// The responder is not done: arms the timeout (the call's, else the responder's, else
    /// the system's) on the first `Pending`, and ends the request when it runs out.
    #[cold]
    fn wait(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<R::Response, RequestError>> {
        let this = self.as_mut().project();
        let Some(info) = responder_info::<R>() else {
            return Poll::Pending;
        };
        let host = *this.host;
        let timeout = *this
            .timeout
            .get_or_insert_with(|| info.timeout().unwrap_or(host.requests().timeout));
        let extra = this.extra.get_or_insert_default();
        if extra.sleep.is_none() {
            // A deadline too far to represent is none.
            match tokio::time::Instant::now().checked_add(timeout) {
                Some(at) => extra.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
                None => return Poll::Pending,
            }
        }
        let Some(sleep) = extra.sleep.as_mut() else {
            return Poll::Pending;
        };
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let error = RequestError::Timeout {
            request: R::NAME,
            responder: info.method(),
            after: timeout,
            attempts: count(this.extra),
        };
        Poll::Ready(self.finish(Err(error)))
    }

    /// The request is answered: the responder's future is dropped now, if it is still there
    /// (a timed-out one is cancelled), its breaker told.
    #[inline]
    fn finish(
        self: Pin<&mut Self>,
        outcome: Result<R::Response, RequestError>,
    ) -> Result<R::Response, RequestError> {
        let mut this = self.project();
        this.future.as_mut().clear();
        let gate = this.extra.as_mut().and_then(|extra| extra.gate.take());
        if let (Some(gate), Some(info)) = (gate, responder_info::<R>()) {
            tell(this.host, info, gate, &outcome);
        }
        outcome
    }
}

impl<R: Request> Future for RequestFuture<'_, R> {
    type Output = Result<R::Response, RequestError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let polled = match self.as_mut().project().request.take() {
            Some(request) => self.as_mut().begin(request, cx),
            None => self.as_mut().again(cx),
        };
        let outcome = match polled {
            // An answer leaves no future behind (the responder's is dropped as it answers):
            // only a breaker is left to tell.
            Ok(Poll::Ready(Ok(response))) if self.extra.is_none() => {
                return Poll::Ready(Ok(response));
            }
            Ok(Poll::Ready(Ok(response))) => Ok(response),
            Ok(Poll::Pending) => return self.wait(cx),
            Ok(Poll::Ready(Err(source))) => Err(self.as_mut().failure(*source)),
            Err(error) => Err(*error),
        };
        Poll::Ready(self.finish(outcome))
    }
}

impl<R: Request> RequestFuture<'_, R> {
    /// The request error a responder's error comes to.
    #[cold]
    fn failure(self: Pin<&mut Self>, source: BoxError) -> RequestError {
        let this = self.project();
        match responder_info::<R>() {
            Some(info) => failed::<R>(info, source, count(this.extra)),
            None => no_responder::<R>("the request was already answered"),
        }
    }
}

/// A panic caught while the responder's future was made or polled, as the request's error.
#[cold]
fn panicked<R: Request>(
    info: &'static ResponderInfo,
    payload: &(dyn std::any::Any + Send),
    attempts: u32,
) -> Box<RequestError> {
    Box::new(RequestError::Panicked {
        request: R::NAME,
        responder: info.method(),
        panic: HandlerPanic::from_payload(payload),
        attempts,
    })
}

/// `R`'s responder, as the first poll found it (installed once, never changed): what the
/// later polls and the errors name, read again rather than kept in every request.
fn responder_info<R: Request>() -> Option<&'static ResponderInfo> {
    R::__table().responder().map(|&(info, _)| info)
}

/// The attempts a responder made: its counter's, else 1.
fn count(extra: &Option<Box<Extra<'_>>>) -> u32 {
    let attempts = extra.as_ref().and_then(|extra| extra.attempts.as_ref());
    attempts.map_or(1, |n| n.load(Ordering::Relaxed))
}

/// A responder with a breaker or retries: its breaker asked (see [`admit`]; the gate kept in
/// `extra` when it lets the call through), its counter of attempts made.
#[cold]
#[inline(never)]
fn guard<'s>(
    host: &'s Host,
    info: &'static ResponderInfo,
    extra: &mut Extra<'s>,
) -> Result<(), RequestError> {
    if info.circuit_breaker.is_some() {
        extra.gate = admit(host, info)?;
    }
    if info.retries {
        extra.attempts = Some(Default::default());
    }
    Ok(())
}

/// What a responder's error comes to: an outcome of the layers, a plugin not running, a
/// panic caught in a retried attempt, or the responder's own failure.
#[cold]
fn failed<R: Request>(
    info: &'static ResponderInfo,
    source: BoxError,
    attempts: u32,
) -> RequestError {
    if super::layered::is_outcome(&source) {
        return super::layered::outcome(source, attempts);
    }
    if invoke::skipped(&source) {
        return no_responder::<R>(&format!(
            "its plugin `{}` is not running (disabled, not made yet, stopped or failed)",
            info.plugin()
        ));
    }
    match source.downcast::<HandlerPanic>() {
        Ok(panic) => RequestError::Panicked {
            request: R::NAME,
            responder: info.method(),
            panic: *panic,
            attempts,
        },
        Err(source) => RequestError::Failed {
            request: R::NAME,
            responder: info.method(),
            source,
            attempts,
        },
    }
}
