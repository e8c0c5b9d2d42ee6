//! Async handler calls through `tower` layers: one envelope ([`HandlerEnvelope`]) for every
//! handler, the boxed service the layers wrap ([`HandlerService`]), the innermost service
//! (which awaits the handler's call), and the system's one stack ([`HandlerStack`]).
//!
//! The envelope borrows what the call borrows (`'a`): a static handler's future borrows its
//! event, which the publish holds, so a `'static` envelope could only be had by copying the
//! event or by a lifetime transmute. The services are therefore generic over the envelope's
//! lifetime (`for<'a> Service<HandlerEnvelope<'a>>`), which every `tower` layer generic over
//! its request is (timeout, concurrency and rate limits, load shedding); a layer that needs
//! `'static` requests (`Buffer`, `SpawnReady`) does not fit, and is not needed: the stack is
//! one service, not a clone per call, behind an async lock held from `poll_ready` to `call`
//! (what `Buffer` gives a service that is not `Clone`, without a task). So layers need not be
//! `Clone` (`RateLimit` is not), and their state is the system's, shared by every layered
//! call.
//!
//! The invoke step ([`invoke::run_async`]) puts a call through the stack, when the system has
//! one, inside its panic isolation and its timeout: the timeout covers waiting for the lock
//! and for `poll_ready` as well as the call. A system without handler layers never comes
//! here.

use std::fmt;
use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::handler::{BoxError, BoxFuture, HandlerResult};
use super::invoke::{self, HandlerRef};

/// One async handler call as the [handler layers](crate::EventSystemBuilder::handler_layer)
/// see it: which event, which handler, which attempt, and the call itself (which only the
/// innermost service makes). It borrows what the call borrows, for `'a`.
pub struct HandlerEnvelope<'a> {
    event: &'a str,
    handler: &'a HandlerRef,
    attempt: u32,
    call: BoxFuture<'a, HandlerResult>,
}

impl<'a> HandlerEnvelope<'a> {
    /// The envelope of `handler`'s attempt `attempt` (1 for the first) on event `event`,
    /// whose call is `call`: for testing layers on their own (around
    /// [`HandlerService::calls`]); the system makes its own.
    pub fn new(
        event: &'a str,
        handler: &'a HandlerRef,
        attempt: u32,
        call: BoxFuture<'a, HandlerResult>,
    ) -> Self {
        HandlerEnvelope {
            event,
            handler,
            attempt,
            call,
        }
    }

    /// The event's name (a static event's `#[event(name)]`, a dynamic event's topic).
    pub fn event(&self) -> &'a str {
        self.event
    }

    /// The handler: a `#[handler]` / `#[on]` handler, or a subscription.
    pub fn handler(&self) -> &'a HandlerRef {
        self.handler
    }

    /// The handler's plugin, for an `#[on]` method.
    pub fn plugin(&self) -> Option<&'static str> {
        self.handler.static_info().and_then(|info| info.plugin())
    }

    /// Which attempt this is: 1, then 2, ... for each retry by the handler's policy (each
    /// attempt goes through the layers).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

impl fmt::Debug for HandlerEnvelope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerEnvelope")
            .field("event", &self.event)
            .field("handler", &self.handler.name())
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// The handler's own failure, as the layers see it: its error, or the
/// [`HandlerPanic`](crate::HandlerPanic) its panic became (the innermost service catches
/// it, so that the layers see a panic as a failure). The system unwraps it: the call's
/// failure is the handler's error itself.
#[derive(Debug, thiserror::Error)]
#[error("the handler failed: {0}")]
pub struct HandlerFailed(#[source] pub BoxError);

/// A handler layer's own error (anything but a [`HandlerFailed`] coming out of the stack):
/// the call's failure, recorded, retried and dead-lettered as any failure of the handler.
/// [`HandlerError::layer_rejected`](crate::HandlerError::layer_rejected) finds it; the
/// layer's error is its [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[error("rejected by a handler layer: {0}")]
pub struct LayerRejected(#[source] BoxError);

impl LayerRejected {
    /// The layer's error (`downcast_ref` it to the layer's type: tower's `Overloaded`,
    /// `Elapsed`, ...).
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }

    /// The layer's error, owned.
    pub fn into_error(self) -> BoxError {
        self.0
    }
}

/// A `tower` service of [`HandlerEnvelope<'a>`](HandlerEnvelope) whose future lives for
/// `'a`, its error a [`BoxError`]: what every handler layer's service is, for every `'a`
/// (`for<'a> EnvelopeService<'a>`). Implemented for every `Service<HandlerEnvelope<'a>,
/// Response = ()>` whose error converts into a `BoxError` and whose future is `Send + 'a`;
/// never implemented by hand. (A trait of its own because a bound such as
/// `for<'a> <S as Service<HandlerEnvelope<'a>>>::Future: 'a` is not used by the compiler
/// where `S` is generic.)
pub trait EnvelopeService<'a>: Send + 'static {
    /// `Service::poll_ready`, its error boxed.
    fn poll_ready_boxed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>>;
    /// `Service::call`, its future boxed.
    fn call_boxed(&mut self, envelope: HandlerEnvelope<'a>) -> BoxFuture<'a, HandlerResult>;
}

impl<'a, S> EnvelopeService<'a> for S
where
    S: Service<HandlerEnvelope<'a>, Response = ()> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'a,
{
    fn poll_ready_boxed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Service::poll_ready(self, cx).map_err(Into::into)
    }
    fn call_boxed(&mut self, envelope: HandlerEnvelope<'a>) -> BoxFuture<'a, HandlerResult> {
        Box::pin(ErrInto {
            future: Service::call(self, envelope),
        })
    }
}

pin_project_lite::pin_project! {
    /// A service's future, its error boxed (a type, not an `async` block: the block's `Send`
    /// would have to be proven for the future of every lifetime at once).
    struct ErrInto<F> {
        #[pin]
        future: F,
    }
}

impl<F, E> Future for ErrInto<F>
where
    F: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
{
    type Output = HandlerResult;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<HandlerResult> {
        self.project().future.poll(cx).map_err(Into::into)
    }
}

/// A service the handler layers wrap and make: any `tower` service of [`HandlerEnvelope`]s
/// of every lifetime, boxed.
pub struct HandlerService(Box<dyn ErasedService>);

/// [`EnvelopeService`] of every lifetime, as one object.
trait ErasedService: Send {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>>;
    fn call<'a>(&mut self, envelope: HandlerEnvelope<'a>) -> BoxFuture<'a, HandlerResult>;
}

impl<S: for<'a> EnvelopeService<'a>> ErasedService for S {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness does not depend on the envelope's lifetime (an impl cannot tell two
        // lifetimes apart): any one will do.
        EnvelopeService::<'static>::poll_ready_boxed(self, cx)
    }
    fn call<'a>(&mut self, envelope: HandlerEnvelope<'a>) -> BoxFuture<'a, HandlerResult> {
        EnvelopeService::<'a>::call_boxed(self, envelope)
    }
}

impl HandlerService {
    /// Boxes `service`.
    pub fn new<S: for<'a> EnvelopeService<'a>>(service: S) -> Self {
        HandlerService(Box::new(service))
    }

    /// The innermost service: always ready, it awaits the envelope's call (a panic in it
    /// caught), and fails with the handler's failure in a [`HandlerFailed`].
    pub fn calls() -> Self {
        HandlerService::new(Calls)
    }
}

impl fmt::Debug for HandlerService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HandlerService")
    }
}

impl<'a> Service<HandlerEnvelope<'a>> for HandlerService {
    type Response = ();
    type Error = BoxError;
    type Future = BoxFuture<'a, HandlerResult>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        ErasedService::poll_ready(&mut *self.0, cx)
    }
    fn call(&mut self, envelope: HandlerEnvelope<'a>) -> Self::Future {
        ErasedService::call(&mut *self.0, envelope)
    }
}

/// The innermost service: awaits the envelope's call.
#[derive(Clone, Copy)]
struct Calls;

impl<'a> Service<HandlerEnvelope<'a>> for Calls {
    type Response = ();
    type Error = BoxError;
    type Future = BoxFuture<'a, HandlerResult>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, envelope: HandlerEnvelope<'a>) -> Self::Future {
        Box::pin(async move {
            invoke::catching(envelope.call)
                .await
                .map_err(|source| Box::new(HandlerFailed(source)) as BoxError)
        })
    }
}

/// One layer given to the builder, as what makes a service of the one inside.
pub(crate) type HandlerLayerFn = Arc<dyn Fn(HandlerService) -> HandlerService + Send + Sync>;

/// The builder's handler layers, in the order given (first = outermost).
#[derive(Clone, Default)]
pub(crate) struct HandlerLayers(pub(crate) Vec<HandlerLayerFn>);

impl fmt::Debug for HandlerLayers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HandlerLayers({})", self.0.len())
    }
}

impl HandlerLayers {
    /// The layers around the innermost service, the first given outermost; `None` without
    /// layers.
    pub(crate) fn stack(&self) -> Option<HandlerStack> {
        if self.0.is_empty() {
            return None;
        }
        let stack = self
            .0
            .iter()
            .rev()
            .fold(HandlerService::calls(), |inner, layer| layer(inner));
        Some(HandlerStack(tokio::sync::Mutex::new(stack)))
    }
}

/// A system's stack of handler layers, built once: one service, which every layered call
/// goes through (`poll_ready` then `call`, under an async lock, fair: first come, first
/// served); the call's future then runs without the lock.
pub(crate) struct HandlerStack(tokio::sync::Mutex<HandlerService>);

impl HandlerStack {
    /// `envelope`'s call through the stack. Its failure is the handler's own (unwrapped from
    /// [`HandlerFailed`]) or a layer's, in a [`LayerRejected`].
    pub(crate) fn through<'a>(
        &'a self,
        envelope: HandlerEnvelope<'a>,
    ) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            let future = {
                let mut service = self.0.lock().await;
                poll_fn(|cx| Service::poll_ready(&mut *service, cx))
                    .await
                    .map_err(rejected)?;
                Service::call(&mut *service, envelope)
            };
            future.await.map_err(|source| match source.downcast() {
                Ok(failed) => {
                    let HandlerFailed(source) = *failed;
                    source
                }
                Err(source) => rejected(source),
            })
        })
    }
}

#[cold]
fn rejected(source: BoxError) -> BoxError {
    Box::new(LayerRejected(source))
}
