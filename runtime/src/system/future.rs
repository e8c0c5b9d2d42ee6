//! `PublishFuture`: the future `EventSystem::publish`, `publish_dynamic` and `publish_shared`
//! return.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::bus::StaticValue;
use crate::dynamic::DynamicEvent;
use crate::linked::{BoxFuture, Call, StaticEvent, StaticRef};

use super::publish::static_start;
use super::{Error, EventSystem, Published, ReportedPublish};

/// A publish in progress, as [`EventSystem::publish`], [`publish_dynamic`] and
/// [`publish_shared`] return it. Like every future it does nothing until polled; its first
/// poll does everything that needs no waiting (every sync handler, every push into a buffer
/// with room), so a publish that waits for nothing is ready at once. What has to wait (an
/// async handler, a permit, room in a full buffer) continues as one boxed future.
///
/// `Send` when the event is; dropping it before it is ready cancels what was left to wait
/// for, as with any future.
///
/// [`publish_dynamic`]: EventSystem::publish_dynamic
/// [`publish_shared`]: EventSystem::publish_shared
#[must_use = "a publish does nothing until it is awaited"]
pub struct PublishFuture<'a, P> {
    system: &'a EventSystem,
    state: State<'a, P>,
}

enum State<'a, P> {
    /// Not polled yet.
    Start(P),
    /// Waiting for what the first poll could not finish.
    Waiting(BoxFuture<'a, Result<Published, Error>>),
    /// Ready was returned.
    Done,
}

/// What a [`PublishFuture`] publishes: a static event, or a dynamic one (owned or shared).
pub trait Publishable: Send + Sized + 'static {
    #[doc(hidden)]
    fn __begin<'a>(self, system: &'a EventSystem, _: Private) -> PublishStart<'a>;

    #[doc(hidden)]
    fn __reported<'a>(self, system: &'a EventSystem, _: Private) -> ReportedPublish<'a>;
}

/// Not public API.
#[doc(hidden)]
pub struct Private(());

/// Not public API.
#[doc(hidden)]
pub struct PublishStart<'a>(Start<'a>);

/// How far a publish got on its first poll.
pub(crate) enum Start<'a> {
    /// Everything succeeded: the common case, kept to two counts so that the whole result
    /// is built only where it is returned (moving a whole `Result` through intermediate
    /// values costs more than the handlers).
    Counts {
        /// Handlers that ran.
        handled: usize,
        /// Buffers that took the event.
        enqueued: usize,
    },
    /// Anything else, finished. Boxed, off the common path: it keeps `Start` three words,
    /// which every publish returns and matches.
    Done(Box<Result<Published, Error>>),
    /// The rest waits.
    Later(BoxFuture<'a, Result<Published, Error>>),
}

impl Start<'_> {
    /// A publish finished on its first poll, other than with its two counts.
    #[inline]
    pub(crate) fn done(result: Result<Published, Error>) -> Self {
        Start::Done(Box::new(result))
    }

    /// The result, once what waits is done.
    pub(crate) async fn finish(self) -> Result<Published, Error> {
        match self {
            Start::Counts { handled, enqueued } => Ok(Published::from_counts(handled, enqueued)),
            Start::Done(result) => *result,
            Start::Later(later) => later.await,
        }
    }
}

/// A static event, as [`EventSystem::publish`] takes it.
#[doc(hidden)]
pub struct StaticPublish<E>(pub(crate) E, PhantomData<fn() -> E>);

impl<E> StaticPublish<E> {
    pub(crate) fn new(event: E) -> Self {
        StaticPublish(event, PhantomData)
    }
}

impl<E: StaticEvent> Publishable for StaticPublish<E> {
    /// [`SystemRef::begin_static`](super::SystemRef::begin_static) written out on the
    /// `EventSystem` itself: building the `SystemRef` first, or sharing the inline part as a
    /// helper returning `Option<Start>`, costs 20 to 28 more instructions on every publish
    /// (`publish_free`: 62 and 70 against 42), measured. Keep the two in step.
    #[inline(always)]
    fn __begin<'a>(self, system: &'a EventSystem, _: Private) -> PublishStart<'a> {
        if E::__PERSIST {
            system.view().persist_static(StaticRef::new(&self.0));
        }
        let table = E::__TABLE;
        if system.plain {
            if system.bus.is_closed() {
                return PublishStart(Start::done(Err(Error::Shutdown)));
            }
            if let Some(emitted) = table.try_publish(&system.host, &Call::ROOT, &self.0) {
                return PublishStart(static_start(E::NAME, emitted));
            }
        }
        let size = self.0.__size();
        let mut value = Some(StaticValue::new(self.0));
        PublishStart(
            system
                .view()
                .publish_static(table.core(), &Call::ROOT, &mut value, size),
        )
    }

    fn __reported<'a>(self, system: &'a EventSystem, _: Private) -> ReportedPublish<'a> {
        if E::__PERSIST {
            system.view().persist_static(StaticRef::new(&self.0));
        }
        let size = self.0.__size();
        let value = StaticValue::new(self.0);
        system
            .view()
            .publish_static_reported(E::__TABLE.core(), &Call::ROOT, value, size)
    }
}

impl Publishable for DynamicEvent {
    #[inline(always)]
    fn __begin<'a>(self, system: &'a EventSystem, _: Private) -> PublishStart<'a> {
        PublishStart(system.view().start_dynamic(&Call::ROOT, self))
    }

    fn __reported<'a>(self, system: &'a EventSystem, _: Private) -> ReportedPublish<'a> {
        system.view().publish_dynamic_reported(&Call::ROOT, self)
    }
}

impl Publishable for Arc<DynamicEvent> {
    #[inline(always)]
    fn __begin<'a>(self, system: &'a EventSystem, _: Private) -> PublishStart<'a> {
        PublishStart(system.view().start_dynamic(&Call::ROOT, self))
    }

    fn __reported<'a>(self, system: &'a EventSystem, _: Private) -> ReportedPublish<'a> {
        system.view().publish_dynamic_reported(&Call::ROOT, self)
    }
}

impl<'a, P> PublishFuture<'a, P> {
    pub(crate) fn new(system: &'a EventSystem, event: P) -> Self {
        PublishFuture {
            system,
            state: State::Start(event),
        }
    }
}

impl<'a, P: Publishable> PublishFuture<'a, P> {
    /// This publish, reporting what happened handler by handler: a [`PublishReport`](super::PublishReport) with
    /// each handler's outcome (succeeded, failed, panicked, timed out, rejected by its
    /// circuit, queued for a detached handler), its attempts and whether it became a dead
    /// letter; [`PublishReport::into_result`](super::PublishReport::into_result) is what the publish returns otherwise.
    ///
    /// It does what the publish does, on the path a publish that waits takes: counted in
    /// flight from the start, every static handler through the same step (so a sync
    /// handler's retries are awaited, as when it has a policy), then the bus. Building the
    /// report allocates; a publish that is not reported pays nothing for it.
    ///
    /// ```
    /// use staticbus::{EventSystem, OutcomeKind, StaticEvent, handler};
    ///
    /// #[derive(Clone, StaticEvent)]
    /// struct Ping;
    ///
    /// #[handler]
    /// fn pong(_: &Ping) {}
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = EventSystem::builder().build()?;
    /// let report = system.publish(Ping).reported().await;
    /// assert_eq!(report.count(OutcomeKind::Succeeded), 1);
    /// assert!(report.outcome(&report.handlers()[0].handler().name()).is_some());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    /// On a publish that already returned its result, as polling it again would. On one
    /// already polled but not finished, the report is built from its result: its failures,
    /// and no entry for the handlers that succeeded (counted by
    /// [`handled`](super::PublishReport::handled)).
    pub fn reported(self) -> ReportedPublish<'a> {
        match self.state {
            State::Start(event) => event.__reported(self.system, Private(())),
            State::Waiting(later) => ReportedPublish::of_started(later),
            State::Done => {
                panic!("a PublishFuture was asked for its report after it returned Ready")
            }
        }
    }
}

/// The event is moved out on the first poll and never pinned, so the future may move.
impl<P> Unpin for PublishFuture<'_, P> {}

impl<P: Publishable> Future for PublishFuture<'_, P> {
    type Output = Result<Published, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let State::Waiting(later) = &mut this.state {
            return match later.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    this.state = State::Done;
                    Poll::Ready(result)
                }
                Poll::Pending => Poll::Pending,
            };
        }
        let State::Start(event) = std::mem::replace(&mut this.state, State::Done) else {
            panic!("a PublishFuture was polled after it returned Ready");
        };
        match event.__begin(this.system, Private(())).0 {
            Start::Counts { handled, enqueued } => {
                Poll::Ready(Ok(Published::from_counts(handled, enqueued)))
            }
            Start::Done(result) => Poll::Ready(*result),
            Start::Later(mut later) => match later.as_mut().poll(cx) {
                Poll::Ready(result) => Poll::Ready(result),
                Poll::Pending => {
                    this.state = State::Waiting(later);
                    Poll::Pending
                }
            },
        }
    }
}

impl<P> fmt::Debug for PublishFuture<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Start(_) => "not started",
            State::Waiting(_) => "waiting",
            State::Done => "done",
        };
        f.debug_struct("PublishFuture")
            .field("state", &state)
            .finish()
    }
}
