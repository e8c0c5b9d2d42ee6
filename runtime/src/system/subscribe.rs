//! Run-time subscriptions: push handlers (sync or async, with or without a context) and pull
//! subscribers, and their options.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::bus::{
    AsyncHandler, Closed, Detached, Filter, NewSub, Pull, SubKind, Subscription, SyncHandler,
};
use crate::dynamic::{DynamicEvent, EventRef, Pattern, Topic};
use crate::linked::{BoxError, BoxFuture, CircuitBreaker, IntoHandlerResult, Retry, StaticEvent};

use super::channel::{EventPublisher, EventSubscriber, Publish};
use super::{Error, EventSystem, HandlerContext};

/// Options of a subscription: priority and filter (push and pull), buffer capacity (pull),
/// timeout (async handlers).
///
/// ```
/// use staticbus::SubscribeOptions;
/// let options = SubscribeOptions::new()
///     .priority(10)
///     .filter(|e| e.topic().ends_with(".failed"));
/// let pull = SubscribeOptions::new().buffer_capacity(64);
/// ```
#[derive(Default)]
#[must_use]
pub struct SubscribeOptions {
    priority: i32,
    filter: Option<Filter>,
    capacity: Option<usize>,
    timeout: Option<Duration>,
    retry: Option<Retry>,
    breaker: Option<CircuitBreaker>,
    /// Detached, with this many workers.
    detached: Option<usize>,
    /// Replayed events refused.
    no_replays: bool,
}

impl SubscribeOptions {
    /// Priority 0, no filter, the system's `channel_capacity`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Higher runs first; equal priorities run in subscription order.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Only events for which `filter` returns true reach the subscription (the others count
    /// as dropped, reason `Filtered`).
    pub fn filter<F>(mut self, filter: F) -> Self
    where
        F: Fn(&EventRef<'_>) -> bool + Send + Sync + 'static,
    {
        self.filter = Some(Box::new(move |event, _| filter(event)));
        self
    }

    /// Whether replayed events ([`EventSystem::replay`], a store's replay) reach this
    /// subscription (the default) or not (`false`): a handler with a side effect that must
    /// not happen twice (an email, a payment), or a pull subscriber that wants live events
    /// only, the dynamic form of `#[handler(replay = false)]`. A replay it refuses counts as
    /// dropped, reason [`Filtered`](crate::DropReason::Filtered), as an event its filter
    /// refuses; events its handlers publish while handling a replay are replays too.
    pub fn replay(mut self, replays: bool) -> Self {
        self.no_replays = !replays;
        self
    }

    /// The filter a subscription gets: the user's `filter`, and the refusal of replays.
    fn subscription_filter(filter: Option<Filter>, no_replays: bool) -> Option<Filter> {
        if !no_replays {
            return filter;
        }
        Some(match filter {
            None => Box::new(|_, replay| !replay),
            Some(filter) => Box::new(move |event, replay| !replay && filter(event, replay)),
        })
    }

    /// Events this pull subscriber can buffer, instead of the system's `channel_capacity`
    /// (the old Go bus's `BufferSize`). At least 1. The global budget
    /// (`global_buffer_size`, `global_buffer_bytes`) still applies: under `DropOldest`, a full
    /// budget held by other buffers can still reject an event here. Push handlers have no
    /// buffer and ignore it.
    pub fn buffer_capacity(mut self, events: usize) -> Self {
        self.capacity = Some(events);
        self
    }

    /// How long this async handler may run before it is cancelled (its future dropped) and
    /// its call fails with a [`HandlerTimeout`](crate::HandlerTimeout), instead of the
    /// system's [`handler_timeout`](crate::EventSystemBuilder::handler_timeout). Any
    /// duration is valid: one too long to be a deadline is none. Only async handlers
    /// (`on_async_with`) take one: a sync handler or a pull subscriber given one is an
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How a failed call of this handler (sync or async) is tried again (see [`Retry`]):
    /// inside the `publish` that runs it, which waits for its last attempt. `emit` never
    /// waits: under it a sync handler's call is made once. A pull subscriber given one is an
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig).
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Puts this handler (sync or async) behind a circuit breaker (see [`CircuitBreaker`]):
    /// once it trips, calls are not made but rejected (reported as a
    /// [`CircuitOpen`](crate::CircuitOpen) failure, counted dropped
    /// [`DropReason::CircuitOpen`](crate::DropReason::CircuitOpen)) until probes succeed;
    /// each change of state is announced on `staticbus.circuit.*`. A pull subscriber given
    /// one is an [`Error::InvalidConfig`](crate::Error::InvalidConfig): it has no handler.
    pub fn circuit_breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Detaches this async handler from the publishes that reach it: each event waits in
    /// the handler's own bounded queue (`buffer_capacity`, else the system's
    /// `channel_capacity`; full, it follows the system's backpressure strategy, with exact
    /// accounting) for its worker, so `publish` does not wait for the call. One worker
    /// (calls one at a time, in order); see [`concurrency`](Self::concurrency). The call
    /// still has its timeout, retries, breaker; a failure is counted `failed` and becomes a
    /// dead letter. `shutdown` waits for the queue to drain, then cancels what is left.
    /// Only async handlers (`on_async_with`): a sync one given it is an
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig).
    pub fn detached(mut self) -> Self {
        self.detached = Some(self.detached.unwrap_or(1));
        self
    }

    /// A detached handler's calls at once: at most `n` (at least 1; at most 65,536, more
    /// is an [`Error::InvalidConfig`](crate::Error::InvalidConfig)), in no particular order
    /// between them. The handler's worker, one task, polls them together: they share its
    /// thread while they run, so a handler with heavy computation gives it to
    /// `tokio::task::spawn_blocking`. Implies [`detached`](Self::detached).
    /// `max_concurrent_dispatches` still bounds the whole system.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.detached = Some(n.max(1));
        self
    }
}

impl std::fmt::Debug for SubscribeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscribeOptions")
            .field("priority", &self.priority)
            .field("filter", &self.filter.is_some())
            .field("buffer_capacity", &self.capacity)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("circuit_breaker", &self.breaker)
            .field("detached", &self.detached)
            .field("replay", &!self.no_replays)
            .finish()
    }
}

/// A sync dynamic handler: `Fn(&EventRef<'_>) -> R`, or `Fn(&EventRef<'_>,
/// &HandlerContext<'_>) -> R` for one that takes a context; `R` is `()` or `Result<(), E>`.
/// Annotate the closure's arguments (`|e: &EventRef<'_>| ...`).
pub trait SyncHandlerFn<Args>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_handler(self) -> SyncHandler;
}

/// An async dynamic handler: `Fn(Arc<DynamicEvent>) -> Fut`, or `Fn(Arc<DynamicEvent>,
/// &HandlerContext<'_>) -> Fut` for one that takes a context (valid while the closure runs,
/// before its future starts: take a [`handle`](HandlerContext::handle) into the future).
pub trait AsyncHandlerFn<Args>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_handler(self) -> AsyncHandler;
}

/// Marker: a handler that takes the event only.
#[doc(hidden)]
pub struct EventOnly<R>(std::marker::PhantomData<R>);

/// Marker: a handler that takes the event and a context.
#[doc(hidden)]
pub struct WithContext<R>(std::marker::PhantomData<R>);

impl<F, R> SyncHandlerFn<EventOnly<R>> for F
where
    F: Fn(&EventRef<'_>) -> R + Send + Sync + 'static,
    R: IntoHandlerResult,
{
    fn into_handler(self) -> SyncHandler {
        Box::new(move |_, _, e| self(e).into_handler_result())
    }
}

impl<F, R> SyncHandlerFn<WithContext<R>> for F
where
    F: Fn(&EventRef<'_>, &HandlerContext<'_>) -> R + Send + Sync + 'static,
    R: IntoHandlerResult,
{
    fn into_handler(self) -> SyncHandler {
        Box::new(move |host, call, e| {
            let ctx = HandlerContext::for_event(host, call, e);
            self(e, &ctx).into_handler_result()
        })
    }
}

/// The handler's future, boxed, its output made a handler result where it is polled: an
/// `async` block awaiting it would hold it twice (as its capture and as what it awaits),
/// doubling the allocation, and copy it from one to the other on the first poll.
fn boxed<Fut, R>(fut: Fut) -> BoxFuture<'static, Result<(), BoxError>>
where
    Fut: Future<Output = R> + Send + 'static,
    R: IntoHandlerResult,
{
    Box::pin(IntoResult { fut })
}

pin_project_lite::pin_project! {
    /// A handler's future whose output becomes a handler result, polled in place.
    struct IntoResult<Fut> {
        #[pin]
        fut: Fut,
    }
}

impl<Fut> Future for IntoResult<Fut>
where
    Fut: Future,
    Fut::Output: IntoHandlerResult,
{
    type Output = Result<(), BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project()
            .fut
            .poll(cx)
            .map(IntoHandlerResult::into_handler_result)
    }
}

impl<F, Fut, R> AsyncHandlerFn<EventOnly<(Fut, R)>> for F
where
    F: Fn(Arc<DynamicEvent>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoHandlerResult,
{
    fn into_handler(self) -> AsyncHandler {
        Box::new(move |_, _, e| boxed(self(e)))
    }
}

impl<F, Fut, R> AsyncHandlerFn<WithContext<(Fut, R)>> for F
where
    F: Fn(Arc<DynamicEvent>, &HandlerContext<'_>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoHandlerResult,
{
    fn into_handler(self) -> AsyncHandler {
        Box::new(move |host, call, e| {
            let ctx = HandlerContext::for_event(host, call, &EventRef::dynamic_ref(&e));
            let fut = self(Arc::clone(&e), &ctx);
            boxed(fut)
        })
    }
}

impl EventSystem {
    /// Subscribes a sync handler to every topic `pattern` matches (exact topic, glob such as
    /// `order.*` / `order.**`, or regex such as `^phase\.(started|completed)$`; see
    /// [`Pattern`]). It sees dynamic events and static events under their name. The handler
    /// may take a [`HandlerContext`] after the event.
    ///
    /// Returns a handle: dropping it unsubscribes. An invalid pattern is an error here, and
    /// so is subscribing after [`shutdown`](Self::shutdown) ([`Error::Shutdown`]).
    pub fn on<P, H, Args>(&self, pattern: P, handler: H) -> Result<Subscription, Error>
    where
        P: TryInto<Pattern>,
        P::Error: Into<Error>,
        H: SyncHandlerFn<Args>,
    {
        self.on_with(pattern, SubscribeOptions::default(), handler)
    }

    /// [`on`](Self::on) with a priority and a filter.
    pub fn on_with<P, H, Args>(
        &self,
        pattern: P,
        options: SubscribeOptions,
        handler: H,
    ) -> Result<Subscription, Error>
    where
        P: TryInto<Pattern>,
        P::Error: Into<Error>,
        H: SyncHandlerFn<Args>,
    {
        let pattern = pattern.try_into().map_err(Into::into)?;
        self.push_subscription(pattern, options, SubKind::Sync(handler.into_handler()))
    }

    /// Subscribes an async handler; it runs from `publish`/`publish_dynamic` and receives the
    /// event owned and shared (`Arc`), static events included (their value is behind
    /// [`DynamicEvent::downcast_ref`]). It may take a [`HandlerContext`] after the event.
    pub fn on_async<P, H, Args>(&self, pattern: P, handler: H) -> Result<Subscription, Error>
    where
        P: TryInto<Pattern>,
        P::Error: Into<Error>,
        H: AsyncHandlerFn<Args>,
    {
        self.on_async_with(pattern, SubscribeOptions::default(), handler)
    }

    /// [`on_async`](Self::on_async) with a priority and a filter.
    pub fn on_async_with<P, H, Args>(
        &self,
        pattern: P,
        options: SubscribeOptions,
        handler: H,
    ) -> Result<Subscription, Error>
    where
        P: TryInto<Pattern>,
        P::Error: Into<Error>,
        H: AsyncHandlerFn<Args>,
    {
        let pattern = pattern.try_into().map_err(Into::into)?;
        self.push_subscription(pattern, options, SubKind::Async(handler.into_handler()))
    }

    fn push_subscription(
        &self,
        pattern: Pattern,
        options: SubscribeOptions,
        kind: SubKind,
    ) -> Result<Subscription, Error> {
        if !matches!(kind, SubKind::Async(_)) && options.timeout.is_some() {
            return Err(no_timeout("a sync handler"));
        }
        let kind = match (kind, options.detached) {
            (_, Some(n)) if n > staticbus_names::MAX_CONCURRENCY as usize => {
                return Err(Error::InvalidConfig {
                    option: "SubscribeOptions::concurrency",
                    reason: format!(
                        "{n} calls at once is more than the {} a detached handler may run \
                         (each call in flight holds its event and state)",
                        staticbus_names::MAX_CONCURRENCY
                    ),
                });
            }
            (SubKind::Async(handler), Some(concurrency)) => {
                let queue = Pull {
                    buffer: self.bus.new_buffer(options.capacity),
                    typed: false,
                };
                SubKind::Detached(Box::new(Detached::new(handler, queue, concurrency)))
            }
            (_, Some(_)) => {
                return Err(Error::InvalidConfig {
                    option: "SubscribeOptions::detached",
                    reason: "a sync handler runs inside the publish that calls it and cannot \
                             be detached: make it async (`on_async_with`)"
                        .into(),
                });
            }
            (kind, None) => kind,
        };
        let id = self
            .bus
            .subscribe(NewSub {
                pattern,
                priority: options.priority,
                filter: SubscribeOptions::subscription_filter(options.filter, options.no_replays),
                kind,
                info: None,
                timeout: options.timeout,
                retry: options.retry,
                breaker: options.breaker,
            })
            .map_err(shut)?;
        Ok(Subscription::new(id, &self.bus))
    }

    /// A publisher of `T`: a static event type, or [`DynamicEvent`].
    pub fn create_publisher<T: Publish>(&self) -> EventPublisher<T> {
        EventPublisher::new(self.clone())
    }

    /// A pull subscriber of static event `E`, with a bounded buffer (`channel_capacity`).
    /// It receives every `E` published by value (`publish`, `EventPublisher`) as it was
    /// published, without a copy, and dynamic events under `E::NAME` whose value is an `E`.
    pub fn subscribe<E: StaticEvent>(&self) -> Result<EventSubscriber<E>, Error> {
        self.subscribe_with::<E>(SubscribeOptions::default())
    }

    /// [`subscribe`](Self::subscribe) with options (buffer capacity, priority, filter).
    pub fn subscribe_with<E: StaticEvent>(
        &self,
        options: SubscribeOptions,
    ) -> Result<EventSubscriber<E>, Error> {
        let pattern = Pattern::exact(Topic::from_static_name(E::NAME));
        self.pull_subscription(pattern, options, true)
    }

    /// A pull subscriber of every dynamic (and static) event whose topic matches `pattern`.
    pub fn subscribe_topic<P>(&self, pattern: P) -> Result<EventSubscriber<DynamicEvent>, Error>
    where
        P: TryInto<Pattern>,
        P::Error: Into<Error>,
    {
        self.subscribe_topic_with(pattern, SubscribeOptions::default())
    }

    /// [`subscribe_topic`](Self::subscribe_topic) with options (buffer capacity, priority,
    /// filter).
    pub fn subscribe_topic_with<P>(
        &self,
        pattern: P,
        options: SubscribeOptions,
    ) -> Result<EventSubscriber<DynamicEvent>, Error>
    where
        P: TryInto<Pattern>,
        P::Error: Into<Error>,
    {
        let pattern = pattern.try_into().map_err(Into::into)?;
        self.pull_subscription(pattern, options, false)
    }

    fn pull_subscription<T>(
        &self,
        pattern: Pattern,
        options: SubscribeOptions,
        typed: bool,
    ) -> Result<EventSubscriber<T>, Error> {
        options.handler_only("a pull subscriber")?;
        if options.detached.is_some() {
            return Err(Error::InvalidConfig {
                option: "SubscribeOptions::detached",
                reason: "a pull subscriber already has its own queue: only an async handler \
                         (`on_async_with`) is detached"
                    .into(),
            });
        }
        if options.breaker.is_some() {
            return Err(Error::InvalidConfig {
                option: "SubscribeOptions::circuit_breaker",
                reason: "a pull subscriber has no handler to guard: put the breaker on the \
                         handler that processes what it receives"
                    .into(),
            });
        }
        if options.capacity == Some(0) {
            return Err(Error::InvalidConfig {
                option: "SubscribeOptions::buffer_capacity",
                reason: "must be at least 1: a subscriber with no buffer could never receive \
                         an event"
                    .into(),
            });
        }
        let buffer = self.bus.new_buffer(options.capacity);
        let id = self
            .bus
            .subscribe(NewSub {
                pattern,
                priority: options.priority,
                filter: SubscribeOptions::subscription_filter(options.filter, options.no_replays),
                kind: SubKind::Pull(Pull {
                    buffer: Arc::clone(&buffer),
                    typed,
                }),
                info: None,
                timeout: None,
                retry: None,
                breaker: None,
            })
            .map_err(shut)?;
        Ok(EventSubscriber::new(id, buffer, &self.bus))
    }
}

fn shut(_: Closed) -> Error {
    Error::Shutdown
}

impl SubscribeOptions {
    /// Refuses the options only a handler takes (`timeout`, `retry`), for `what`.
    fn handler_only(&self, what: &str) -> Result<(), Error> {
        if self.timeout.is_some() {
            return Err(no_timeout(what));
        }
        if self.retry.is_some() {
            return Err(no_retry(what));
        }
        Ok(())
    }
}

/// `SubscribeOptions::retry` given to a subscription that cannot have one.
fn no_retry(what: &str) -> Error {
    Error::InvalidConfig {
        option: "SubscribeOptions::retry",
        reason: format!(
            "{what} has no call to retry: only a handler (`on_with`, `on_async_with`) takes \
             a retry policy"
        ),
    }
}

/// `SubscribeOptions::timeout` given to a subscription that cannot have one.
fn no_timeout(what: &str) -> Error {
    Error::InvalidConfig {
        option: "SubscribeOptions::timeout",
        reason: format!(
            "{what} runs to the end once called and cannot be cancelled: only an async \
             handler (`on_async_with`) takes a timeout"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{BoxError, boxed};

    /// A future whose state holds `N` bytes across its await.
    async fn holding<const N: usize>() -> Result<(), BoxError> {
        let buffer = [7u8; N];
        tokio::task::yield_now().await;
        assert_eq!(std::hint::black_box(buffer)[N - 1], 7);
        Ok(())
    }

    #[test]
    fn a_boxed_handler_future_is_held_once() {
        let future = holding::<4096>();
        let size = std::mem::size_of_val(&future);
        let boxed = boxed(future);
        // Its own size: an `async` block awaiting it held it twice (8 KiB and more here).
        assert_eq!(std::mem::size_of_val(&*boxed), size);
    }

    #[tokio::test]
    async fn a_boxed_handler_future_still_runs_to_its_result() {
        assert!(boxed(holding::<64>()).await.is_ok());
        assert!(boxed(async { Err::<(), _>("refused") }).await.is_err());
    }
}
