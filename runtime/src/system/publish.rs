//! Publishing and emitting, static and dynamic, written once on [`SystemRef`].
//!
//! Every publish first goes as far as it can without waiting; only what must wait (an async
//! handler, a permit, room in full buffers) becomes a boxed future. So the future a publish
//! returns stays small: it holds the event and, once it waits, one pointer.

use std::borrow::Cow;
use std::sync::Arc;

use crate::bus::{
    Carried, Dispatched, InFlight, Lane, Outgoing, Route, StaticValue, Tally, TopicRef,
};
use crate::dynamic::{DynamicEvent, EventRef};
use crate::linked::{BoxFuture, Call, Emitted, HandlerError, StaticEvent, StaticRef, TableCore};

use super::future::Start;
use super::reports::{emitted_with, published};
use super::{Error, Published, SystemRef};

impl<'a> SystemRef<'a> {
    /// `emit`: the table walk when nothing else needs looking at, else the slow path.
    #[inline(always)]
    pub(crate) fn emit<E: StaticEvent>(&self, call: &Call<'_>, event: &E) -> Emitted {
        if E::__PERSIST && !call.replay {
            self.persist_static(StaticRef::new(event));
        }
        match E::__TABLE.try_emit(self.host, call, event) {
            Some(emitted) => emitted,
            None => self.emit_slow(call, StaticRef::new(event)),
        }
    }

    /// `emit` when its fast path is not open: a dynamic subscription matches the event's name
    /// in some system, the table is not built yet, or the "async handlers skipped" warning
    /// is owed. One copy for every event type.
    #[inline(never)]
    pub(crate) fn emit_slow(&self, call: &Call<'_>, event: StaticRef<'_>) -> Emitted {
        let table = event.table();
        let handlers = table.built();
        let emitted = if self.zero_copy {
            Emitted::default()
        } else {
            let emitted = event.emit(self.host, call);
            if table.take_warning() {
                warn_async_skipped(table.desc().name(), handlers.async_count());
            }
            emitted
        };
        if !self.bus.static_match(handlers.index()) {
            return emitted;
        }
        let mut tally = Tally::default();
        let view = EventRef::from_static(table.desc(), event.value());
        self.bus.dispatch_now(self.host, call, view, &mut tally);
        emitted_with(emitted, tally)
    }

    /// `emit_dynamic`: sync subscribers run inline; the others are counted as skipped.
    pub(crate) fn emit_dynamic(&self, call: &Call<'_>, event: &DynamicEvent) -> Emitted {
        if !call.replay {
            self.persist_dynamic(event);
        }
        if !self.bus.has_subscriptions() {
            return Emitted::default();
        }
        let mut tally = Tally::default();
        self.bus
            .dispatch_now(self.host, call, EventRef::dynamic_ref(event), &mut tally);
        emitted_with(Emitted::default(), tally)
    }

    /// `publish` of a static event: inline when its handlers are all sync and nothing else
    /// needs looking at (as `emit`, plus the shutdown check), else as far as it goes without
    /// waiting, then the rest.
    pub(crate) async fn publish<E: StaticEvent>(
        &self,
        call: &Call<'_>,
        event: E,
    ) -> Result<Published, Error> {
        self.begin_static(call, event).finish().await
    }

    /// A static publish as far as it goes without waiting (an `#[event(persist)]` one handed
    /// to the store first).
    #[inline(always)]
    pub(crate) fn begin_static<E: StaticEvent>(&self, call: &'a Call<'a>, event: E) -> Start<'a> {
        if E::__PERSIST && !call.replay {
            self.persist_static(StaticRef::new(&event));
        }
        self.begin_static_unpersisted(call, event)
    }

    /// [`begin_static`](Self::begin_static) without persisting (a durable publish persisted
    /// it already).
    #[inline(always)]
    pub(crate) fn begin_static_unpersisted<E: StaticEvent>(
        &self,
        call: &'a Call<'a>,
        event: E,
    ) -> Start<'a> {
        let table = E::__TABLE;
        if self.plain {
            if self.bus.is_closed() {
                return Start::done(Err(Error::Shutdown));
            }
            if let Some(emitted) = table.try_publish(self.host, call, &event) {
                return static_start(E::NAME, emitted);
            }
        }
        let size = event.__size();
        let mut value = Some(StaticValue::new(event));
        self.publish_static(table.core(), call, &mut value, size)
    }

    /// `publish` when some dynamic subscription sees the event, or a handler is async, or
    /// publishes are limited. A publish that waits for an async static handler or a permit
    /// counts itself in flight from the start; one whose static handlers are all sync runs
    /// them at once, like `emit`, and the bus counts its dispatch if it runs handlers.
    ///
    /// One copy for every event type: the value comes type-erased, with its table.
    ///
    /// The value is taken out of `value` by whatever keeps it (a buffer, a publish that
    /// waits); what is left there afterwards the caller drops. Borrowed rather than moved in:
    /// the lane then moves it once, from the caller's frame into a buffer.
    #[inline(never)]
    pub(crate) fn publish_static(
        &self,
        table: &'static TableCore,
        call: &'a Call<'a>,
        value: &mut Option<StaticValue>,
        size: usize,
    ) -> Start<'a> {
        let handlers = table.built();
        let waits = !self.zero_copy && handlers.waits();
        let handled = !self.zero_copy && handlers.sync_count() > 0;
        if !(waits || handled || self.bus.limits_dispatches()) {
            // No static handler to run: the channel API's case, a pull-only route.
            let name = table.desc().name();
            match self.bus.lane_static(self.host, call, name, value, size) {
                Lane::Pushed(enqueued) => {
                    return Start::Counts {
                        handled: 0,
                        enqueued,
                    };
                }
                Lane::Walked(walked) => return self.static_walked(call, name, walked),
                Lane::Missed => {}
            }
        }
        match value.take() {
            Some(value) => self.publish_static_handled(table, call, value, size),
            None => unreachable!("a lane that misses leaves the value in place"),
        }
    }

    /// A static publish's start after its lane detoured.
    #[cold]
    #[inline(never)]
    #[allow(
        clippy::boxed_local,
        reason = "the lane's box, handed on as it came (it keeps `Lane` two words)"
    )]
    fn static_walked(
        &self,
        call: &'a Call<'a>,
        name: &'static str,
        walked: Box<(Dispatched<'a>, Tally)>,
    ) -> Start<'a> {
        let (dispatched, tally) = *walked;
        self.static_dispatched(call, name, Emitted::default(), dispatched, tally)
    }

    /// [`publish_static`](Self::publish_static) when the event has static handlers, or
    /// publishes wait for a permit, or this thread's remembered route is not the event's.
    #[inline(never)]
    fn publish_static_handled(
        &self,
        table: &'static TableCore,
        call: &'a Call<'a>,
        value: StaticValue,
        size: usize,
    ) -> Start<'a> {
        let handlers = table.built();
        if (!self.zero_copy && handlers.waits()) || self.bus.limits_dispatches() {
            return self.publish_static_waiting(table, call, value, size);
        }
        let name = table.desc().name();
        if self.bus.is_closed() {
            return Start::done(Err(Error::Shutdown));
        }
        let emitted = if self.zero_copy || handlers.sync_count() == 0 {
            Emitted::default()
        } else {
            value.view(table).emit(self.host, call)
        };
        if !self.bus.static_match(handlers.index()) {
            return static_start(name, emitted);
        }
        let mut tally = Tally::default();
        let dispatched = self.bus.with_route(TopicRef::Static(name), |route| {
            self.deliver_static(route, call, value, size, None, &mut tally)
        });
        self.static_dispatched(call, name, emitted, dispatched, tally)
    }

    /// A static publish's start, once its handlers ran (`emitted`) and the bus dispatched it.
    #[inline(always)]
    fn static_dispatched(
        &self,
        call: &'a Call<'a>,
        name: &'static str,
        emitted: Emitted,
        dispatched: Dispatched<'a>,
        mut tally: Tally,
    ) -> Start<'a> {
        match dispatched {
            Dispatched::Done if emitted.is_ok() && tally.succeeded() => {
                let (handled, enqueued) = tally.into_counts();
                Start::Counts {
                    handled: emitted.handled() + handled,
                    enqueued,
                }
            }
            Dispatched::Done => {
                let (handled, errors) = emitted.into_parts();
                Start::done(static_result(name, handled, errors, &mut tally))
            }
            dispatched => {
                let this = *self;
                let (handled, errors) = emitted.into_parts();
                Start::Later(Box::pin(async move {
                    this.finish(call, dispatched, &mut tally).await?;
                    static_result(name, handled, errors, &mut tally)
                }))
            }
        }
    }

    /// Delivers a static value on its route: moved, or borrowed by sync handlers only.
    /// `in_flight` is the publish's own count, if it took one before (to wait for a permit
    /// or its async handlers). Inlined into both static publishes, as the two copies it
    /// replaces were.
    #[inline(always)]
    fn deliver_static(
        &self,
        route: &Arc<Route>,
        call: &'a Call<'a>,
        value: StaticValue,
        size: usize,
        in_flight: Option<InFlight<'a>>,
        tally: &mut Tally,
    ) -> Dispatched<'a> {
        if route.owned {
            let carried = Carried::from_value(value, size);
            self.bus
                .deliver(self.host, call, route, carried, in_flight, tally)
        } else {
            let view = EventRef::from_static(value.desc(), value.as_any());
            self.bus
                .deliver_borrowed(self.host, call, route, view, in_flight, tally)
        }
    }

    /// A static publish that waits from the start: for its async handlers (in order, each
    /// awaited before the next), or for a permit.
    #[cold]
    #[inline(never)]
    fn publish_static_waiting(
        &self,
        table: &'static TableCore,
        call: &'a Call<'a>,
        value: StaticValue,
        size: usize,
    ) -> Start<'a> {
        let this = *self;
        Start::Later(Box::pin(async move {
            let in_flight = this.bus.begin().map_err(|_| Error::Shutdown)?;
            let _permit = this.bus.permit().await;
            let handlers = table.built();
            let (handled, errors) = this.table_handlers(table, call, &value).await;
            let name = table.desc().name();
            let mut tally = Tally::default();
            if this.bus.static_match(handlers.index()) {
                let route = this.bus.with_route(TopicRef::Static(name), Arc::clone);
                let dispatched =
                    this.deliver_static(&route, call, value, size, Some(in_flight), &mut tally);
                this.finish(call, dispatched, &mut tally).await?;
            }
            static_result(name, handled, errors, &mut tally)
        }))
    }

    /// Runs the handlers of `value`'s table, in order, each async one awaited (none under
    /// ZeroCopy: its static handlers are subscriptions of the event's name, on the route):
    /// how many succeeded, and the failures.
    pub(super) async fn table_handlers(
        &self,
        table: &'static TableCore,
        call: &Call<'_>,
        value: &StaticValue,
    ) -> (usize, Vec<HandlerError>) {
        if self.zero_copy {
            return (0, Vec::new());
        }
        let timeout = self.bus.settings.handler_timeout;
        let jitter = |ceiling| self.bus.jitter(ceiling);
        value
            .view(table)
            .publish(self.host, call, timeout, jitter)
            .await
    }

    /// Awaits what a dispatch left pending.
    pub(super) async fn finish(
        &self,
        call: &'a Call<'a>,
        dispatched: Dispatched<'a>,
        tally: &mut Tally,
    ) -> Result<(), Error> {
        match dispatched {
            Dispatched::Done => Ok(()),
            Dispatched::Shutdown => Err(Error::Shutdown),
            Dispatched::Pending(pending) => {
                self.bus.finish(self.host, call, pending, tally).await;
                Ok(())
            }
        }
    }

    /// `publish_dynamic` / `publish_shared`: as far as it goes without waiting (a payload over
    /// the limit is refused, the route delivered), then what is left, boxed (a permit, async
    /// handlers, room in full buffers). The result is built where it is returned, not moved
    /// through intermediate values.
    pub(crate) async fn publish_event<P>(
        &self,
        call: &Call<'_>,
        event: P,
    ) -> Result<Published, Error>
    where
        P: Outgoing + Send,
    {
        self.start_dynamic(call, event).finish().await
    }

    /// [`begin_dynamic`](Self::begin_dynamic) for a [`PublishFuture`](super::PublishFuture):
    /// success comes back as its two counts.
    #[inline(always)]
    pub(crate) fn start_dynamic<P>(&self, call: &'a Call<'a>, event: P) -> Start<'a>
    where
        P: Outgoing + Send,
    {
        if !call.replay {
            self.persist_dynamic(event.as_event());
        }
        self.start_dynamic_unpersisted(call, event)
    }

    /// [`start_dynamic`](Self::start_dynamic) without persisting (a durable publish persisted
    /// it already).
    #[inline(always)]
    pub(crate) fn start_dynamic_unpersisted<P>(&self, call: &'a Call<'a>, event: P) -> Start<'a>
    where
        P: Outgoing + Send,
    {
        if self.bus.check_payload(event.as_event()).is_err() || self.bus.limits_dispatches() {
            return self.begin_dynamic(call, event);
        }
        let mut tally = Tally::default();
        match self.bus.dispatch(self.host, call, event, None, &mut tally) {
            Dispatched::Done if tally.succeeded() => {
                let (handled, enqueued) = tally.into_counts();
                Start::Counts { handled, enqueued }
            }
            Dispatched::Done => Start::done(dynamic_result(&mut tally)),
            dispatched => Start::Later(self.later(call, dispatched, tally)),
        }
    }

    /// A dynamic publish as far as it goes without waiting.
    #[inline(always)]
    pub(crate) fn begin_dynamic<P>(&self, call: &'a Call<'a>, event: P) -> Start<'a>
    where
        P: Outgoing + Send,
    {
        if let Err((size, max)) = self.bus.check_payload(event.as_event()) {
            return Start::done(Err(too_large(event.as_event(), size, max)));
        }
        if self.bus.limits_dispatches() {
            return Start::Later(self.publish_limited(call, event.into_shared()));
        }
        let mut tally = Tally::default();
        match self.bus.dispatch(self.host, call, event, None, &mut tally) {
            Dispatched::Done => Start::done(dynamic_result(&mut tally)),
            dispatched => Start::Later(self.later(call, dispatched, tally)),
        }
    }

    /// [`Error::PayloadTooLarge`] if `event`'s payload is over `max_payload_bytes`.
    #[inline]
    pub(super) fn check_payload(&self, event: &DynamicEvent) -> Result<(), Error> {
        self.bus
            .check_payload(event)
            .map_err(|(size, max)| too_large(event, size, max))
    }

    /// A publish that waits for a permit first (`max_concurrent_dispatches`).
    #[cold]
    #[inline(never)]
    fn publish_limited(
        &self,
        call: &'a Call<'a>,
        event: Arc<DynamicEvent>,
    ) -> BoxFuture<'a, Result<Published, Error>> {
        let this = *self;
        Box::pin(async move {
            let in_flight = this.bus.begin().map_err(|_| Error::Shutdown)?;
            let _permit = this.bus.permit().await;
            let mut tally = Tally::default();
            let dispatched = this
                .bus
                .dispatch(this.host, call, event, Some(in_flight), &mut tally);
            this.finish(call, dispatched, &mut tally).await?;
            dynamic_result(&mut tally)
        })
    }

    /// What is left of a dispatch that did not finish at once, as one boxed future.
    #[cold]
    #[inline(never)]
    fn later(
        &self,
        call: &'a Call<'a>,
        dispatched: Dispatched<'a>,
        mut tally: Tally,
    ) -> BoxFuture<'a, Result<Published, Error>> {
        let this = *self;
        Box::pin(async move {
            this.finish(call, dispatched, &mut tally).await?;
            dynamic_result(&mut tally)
        })
    }
}

/// The error for `event`, whose payload of `size` bytes is over `max`.
#[inline]
fn too_large(event: &DynamicEvent, size: usize, max: usize) -> Error {
    Error::PayloadTooLarge {
        topic: event.topic().to_string(),
        size,
        max,
    }
}

/// A dynamic publish's result: the topic is named by the tally if anything failed.
#[inline(always)]
fn dynamic_result(tally: &mut Tally) -> Result<Published, Error> {
    published(|| Cow::Borrowed(""), 0, Vec::new(), tally)
}

/// A static publish's result: its table's part, then the bus's.
#[inline(always)]
pub(super) fn static_result(
    event: &'static str,
    handled: usize,
    errors: Vec<HandlerError>,
    tally: &mut Tally,
) -> Result<Published, Error> {
    published(|| event.into(), handled, errors, tally)
}

/// A static publish of `event` that ran its handlers inline and nothing else.
#[inline(always)]
pub(crate) fn static_start<'a>(event: &'static str, emitted: Emitted) -> Start<'a> {
    if emitted.is_ok() {
        Start::Counts {
            handled: emitted.handled(),
            enqueued: 0,
        }
    } else {
        Start::done(failed(event, emitted))
    }
}

/// A static publish whose handlers ran inline and some failed.
#[cold]
#[inline(never)]
fn failed(event: &'static str, emitted: Emitted) -> Result<Published, Error> {
    match emitted.into_result_named(event) {
        Ok(emitted) => Ok(Published::handled_only(emitted.handled())),
        Err(errors) => Err(errors.into()),
    }
}

#[cold]
#[inline(never)]
fn warn_async_skipped(event: &'static str, count: u32) {
    tracing::warn!(
        event,
        skipped = count,
        "staticbus: emit() skipped async handlers of this event; use publish().await to run them \
         (warned once per event type)"
    );
}
