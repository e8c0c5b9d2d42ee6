//! Dispatch: one loop walks a route for every form of event and every kind of subscription.
//!
//! [`Bus::walk`] delivers an event to a route's subscriptions in order, each through one step:
//! a sync handler runs (through the [`invoke`] step), a pull subscriber gets the event pushed
//! into its buffer (backpressure decided by [`Bus::offer`]), an async handler's future comes
//! back to the caller, which awaits it and walks on from the next subscription. A borrowed
//! event (`emit`) reaches sync handlers only; the others count it as not owned. So `emit`
//! stays a plain function, and `publish` is the same walk with awaits in between.

use std::sync::Arc;

use crate::dynamic::{DynamicEvent, EventRef};
use crate::linked::invoke::{self, Outcome, Tried};
use crate::linked::{BoxError, BoxFuture, Call, HandlerResult, Host};
use crate::queue::{Buffer, Overflow, PushOutcome};

use super::backpressure::Offered;
use super::item::{Carried, Form, Item};
use super::metrics::{Books, DropReason};
use super::report::HandlerOutcome;
use super::route::{Route, TopicRef};
use super::shutdown::InFlight;
use super::subscription::{Pull, Sub, SubKind, SyncHandler};
use super::tally::Tally;
use super::{Bus, deadline_after};

/// The working state of one dispatch besides its tally: the books it adds to its topic's
/// counters when done, and the pushes left to wait for.
#[derive(Default)]
pub(crate) struct Run {
    pub(super) books: Books,
    /// Boxed: a dispatch that waits for nothing carries (and drops) one null pointer.
    #[allow(
        clippy::box_collection,
        reason = "a thin pointer on the hot path, see above"
    )]
    blocked: Option<Box<Vec<Blocked>>>,
    /// A static event is counted only where some metered subscription sees it.
    is_static: bool,
}

/// A push to a full buffer under `Block`, waited for after the walk.
struct Blocked {
    buffer: Arc<Buffer<Item>>,
    item: Item,
    bytes: usize,
    /// Where a reported dispatch keeps this push's outcome (a detached handler's).
    report: Option<usize>,
}

/// A handler's call to await before walking on from `at + 1`: an async handler's, or a
/// sync handler's retries.
pub(crate) struct Awaiting<'h> {
    at: usize,
    wait: Wait<'h>,
    /// Let through by its half-open circuit as a probe.
    probe: bool,
}

/// What is awaited of a call.
enum Wait<'h> {
    /// An async handler's first attempt, started.
    Call(BoxFuture<'h, HandlerResult>),
    /// A sync handler's first attempt failed with this: its retries.
    Retry(BoxError),
}

/// What [`Bus::deliver`] did; its counts are in the caller's [`Tally`].
pub(crate) enum Dispatched<'h> {
    /// Everything is done.
    Done,
    /// The bus is shut down: nothing was dispatched.
    Shutdown,
    /// Something is left to await ([`Bus::finish`]), the publish counted in flight meanwhile.
    Pending(Box<Pending<'h>>),
}

/// What [`Bus::deliver`] left to await.
pub(crate) struct Pending<'h> {
    route: Arc<Route>,
    event: Carried,
    run: Run,
    awaiting: Option<Awaiting<'h>>,
    _in_flight: InFlight<'h>,
}

impl Run {
    #[inline(always)]
    pub(super) fn new(is_static: bool) -> Run {
        Run {
            is_static,
            ..Run::default()
        }
    }

    /// Keeps a push that has to wait for room (`Block`), for after the walk.
    fn block(&mut self, pull: &Pull, item: Item, bytes: usize, report: Option<usize>) {
        self.blocked.get_or_insert_default().push(Blocked {
            buffer: Arc::clone(&pull.buffer),
            item,
            bytes,
            report,
        });
    }

    /// Counts every push left waiting as timed out, waiting for none: a dispatch that does
    /// not wait (a dead letter's announcement) gives up on full `Block` buffers at once.
    pub(super) fn give_up_blocked(&mut self) {
        for _ in self.blocked.take().into_iter().flat_map(|blocked| *blocked) {
            self.books.drop_one(DropReason::TimedOut);
        }
    }

    /// Whether `sub` takes this event: still subscribed, and passing its filter (which also
    /// refuses replays, for a subscription that takes none). Counts the
    /// drop otherwise; a filter that panicked is the subscription's failure, for the caller
    /// to count.
    #[inline(always)]
    fn admits(&mut self, sub: &Sub, call: &Call<'_>, event: &impl Form) -> Result<bool, Outcome> {
        if !sub.is_active() {
            self.books.drop_one(DropReason::Unsubscribed);
            return Ok(false);
        }
        if let Some(filter) = &sub.filter
            && !invoke::filter(|| filter(&event.view(), call.replay))?
        {
            self.books.drop_one(DropReason::Filtered);
            return Ok(false);
        }
        Ok(true)
    }
}

impl Bus {
    /// The one loop: delivers `event` to `route`'s subscriptions from `from` on, in order.
    /// Sync handlers run, pull subscribers get the event (or wait later, under `Block`), and
    /// an async handler stops the walk: its call comes back to be awaited.
    #[inline(always)]
    #[allow(
        clippy::too_many_arguments,
        reason = "the walk's state, kept apart so the caller's tally is never copied"
    )]
    pub(super) fn walk<'h, F: Form>(
        &self,
        host: &'h Host,
        call: &'h Call<'h>,
        route: &Route,
        event: &mut F,
        from: usize,
        run: &mut Run,
        tally: &mut Tally,
    ) -> Option<Awaiting<'h>> {
        self.walk_as::<F, false>(host, call, route, event, from, run, tally)
    }

    /// [`walk`](Self::walk) of a reported dispatch ([`Bus::deliver_reported`]), out of line:
    /// the one copy of the loop that keeps every outcome, so that the common walk never asks.
    #[cold]
    #[inline(never)]
    #[allow(
        clippy::too_many_arguments,
        reason = "the walk's state, as the walk has it"
    )]
    fn walk_reported<'h, F: Form>(
        &self,
        host: &'h Host,
        call: &'h Call<'h>,
        route: &Route,
        event: &mut F,
        from: usize,
        run: &mut Run,
        tally: &mut Tally,
    ) -> Option<Awaiting<'h>> {
        self.walk_as::<F, true>(host, call, route, event, from, run, tally)
    }

    /// The loop of [`walk`](Self::walk); `REPORTED`: the tally keeps every outcome.
    #[inline(always)]
    #[allow(
        clippy::too_many_arguments,
        reason = "the walk's state, as the walk has it"
    )]
    fn walk_as<'h, F: Form, const REPORTED: bool>(
        &self,
        host: &'h Host,
        call: &'h Call<'h>,
        route: &Route,
        event: &mut F,
        from: usize,
        run: &mut Run,
        tally: &mut Tally,
    ) -> Option<Awaiting<'h>> {
        let bytes = event.bytes();
        let last = route.subs.len().wrapping_sub(1);
        for (at, sub) in route.subs.iter().enumerate().skip(from) {
            match run.admits(sub, call, event) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(outcome) => {
                    tally.record::<REPORTED>(&mut run.books, sub, outcome, |error| {
                        self.bury_view(host, call, Some(event.view()), error)
                    });
                    continue;
                }
            }
            match &sub.kind {
                SubKind::Sync(handler) => {
                    let view = event.view();
                    if !sub.plain {
                        let waits = event.waits();
                        match self.call_sync(host, call, at, sub, handler, view, waits, run, tally)
                        {
                            Some(awaiting) => return Some(awaiting),
                            None => continue,
                        }
                    }
                    let outcome = invoke::run(|| handler(host, call, &view));
                    tally.record::<REPORTED>(&mut run.books, sub, outcome, |error| {
                        self.bury_view(host, call, Some(view), error)
                    });
                }
                SubKind::Pull(pull) => match event.item(pull.typed, at == last) {
                    Some(item) => self.push(sub, pull, item, bytes, run, tally),
                    None => tally.skip(&mut run.books, sub),
                },
                SubKind::Detached(detached) => match event.item(false, at == last) {
                    Some(item) => {
                        let item = item.detached(call);
                        detached.start(self, host, sub);
                        if REPORTED {
                            self.push_reported(sub, &detached.queue, item, bytes, run, tally);
                        } else {
                            self.push(sub, &detached.queue, item, bytes, run, tally);
                        }
                    }
                    None => tally.skip(&mut run.books, sub),
                },
                SubKind::Async(handler) => match event.dynamic() {
                    Some(shared) => {
                        let probe = match &sub.breaker {
                            None => false,
                            Some(breaker) => {
                                let view = event.view();
                                match self.admit(host, call, sub, breaker, view, run, tally) {
                                    Some(probe) => probe,
                                    None => continue,
                                }
                            }
                        };
                        match invoke::start_async(|| handler(host, call, shared)) {
                            Ok(future) => {
                                let wait = Wait::Call(future);
                                return Some(Awaiting { at, wait, probe });
                            }
                            Err(outcome) => {
                                if let Some(breaker) = &sub.breaker {
                                    self.tell_breaker(host, call, sub, breaker, false, probe);
                                }
                                tally.record::<REPORTED>(&mut run.books, sub, outcome, |error| {
                                    self.bury_view(host, call, Some(event.view()), error)
                                });
                            }
                        }
                    }
                    None => tally.skip(&mut run.books, sub),
                },
            }
        }
        None
    }

    /// Pushes into a pull subscriber's buffer without waiting, counting the outcome; a push
    /// that has to wait (`Block`) is kept for later.
    #[inline(always)]
    fn push(
        &self,
        sub: &Sub,
        pull: &Pull,
        item: Item,
        bytes: usize,
        run: &mut Run,
        tally: &mut Tally,
    ) {
        let offered = self.offer(sub, &pull.buffer, item, bytes);
        self.settle(pull, offered, bytes, run, tally);
    }

    /// [`push`](Self::push) into a detached handler's queue, in a reported dispatch: what
    /// the queue did is the handler's outcome (a push that has to wait settles it later).
    #[cold]
    #[inline(never)]
    fn push_reported(
        &self,
        sub: &Sub,
        pull: &Pull,
        item: Item,
        bytes: usize,
        run: &mut Run,
        tally: &mut Tally,
    ) {
        match self.offer(sub, &pull.buffer, item, bytes) {
            Offered::Now(outcome) => {
                tally.add_outcome(HandlerOutcome::pushed(sub.handler_ref(), &outcome));
                self.count_push(outcome, &mut run.books, tally);
            }
            Offered::Wait(item) => {
                let queued = HandlerOutcome::Queued {
                    handler: sub.handler_ref(),
                };
                let report = tally.add_outcome(queued);
                run.block(pull, item, bytes, report);
            }
        }
    }

    /// Counts what [`offer`](Self::offer) did with a push, keeping one that has to wait.
    #[inline(always)]
    pub(super) fn settle(
        &self,
        pull: &Pull,
        offered: Offered,
        bytes: usize,
        run: &mut Run,
        tally: &mut Tally,
    ) {
        match offered {
            Offered::Now(outcome) => self.count_push(outcome, &mut run.books, tally),
            Offered::Wait(item) => run.block(pull, item, bytes, None),
        }
    }

    #[inline(always)]
    fn count_push(&self, outcome: PushOutcome<Item>, books: &mut Books, tally: &mut Tally) {
        if matches!(outcome, PushOutcome::Enqueued) {
            tally.enqueued += 1;
            books.delivered += 1;
            // Holds nothing: skip the out-of-line drop glue on every push.
            std::mem::forget(outcome);
            return;
        }
        self.count_refused_push(outcome, books, tally);
    }

    #[cold]
    #[inline(never)]
    fn count_refused_push(&self, outcome: PushOutcome<Item>, books: &mut Books, tally: &mut Tally) {
        match outcome {
            PushOutcome::Enqueued => {
                tally.enqueued += 1;
                books.delivered += 1;
            }
            PushOutcome::EnqueuedEvicting(evicted) => {
                tally.enqueued += 1;
                books.delivered += 1;
                for old in evicted {
                    self.undeliver(&old, DropReason::Evicted);
                }
            }
            PushOutcome::Rejected(item) => {
                tally.rejected += 1;
                tally.refused += 1;
                tally.name(item.topic());
                books.drop_one(DropReason::Rejected);
            }
            PushOutcome::TimedOut(item) => {
                tally.timed_out += 1;
                tally.refused += 1;
                tally.name(item.topic());
                books.drop_one(DropReason::TimedOut);
            }
            PushOutcome::Closed(item) => {
                books.drop_one(DropReason::Closed);
                // Closed by a shutdown, not by its subscriber leaving: the publisher must
                // hear that its event was dropped.
                if self.drain.is_closed() {
                    tally.shut_out += 1;
                    tally.refused += 1;
                    tally.name(item.topic());
                }
            }
        }
    }

    /// Adds one finished dispatch to its topic's counters, once.
    #[inline]
    pub(super) fn record(&self, route: &Route, run: &Run) {
        if self.meters(route, run.is_static) {
            route.stats.record(route.metered, &run.books);
        }
    }

    /// Whether a dispatch on `route` is counted: metrics are on, and some metered
    /// subscription sees it (a static event with none is not counted, as on its table).
    #[inline(always)]
    pub(super) fn meters(&self, route: &Route, is_static: bool) -> bool {
        self.settings.metrics && (route.metered > 0 || !is_static)
    }

    /// Delivers a borrowed event now: sync handlers run, the other subscribers count it as
    /// not owned (`emit`, `emit_dynamic`).
    pub(crate) fn dispatch_now(
        &self,
        host: &Host,
        call: &Call<'_>,
        event: EventRef<'_>,
        tally: &mut Tally,
    ) {
        let topic = match (event.static_name(), event.dynamic()) {
            (Some(name), _) => name,
            (None, Some(dynamic)) => dynamic.topic().as_str(),
            (None, None) => return,
        };
        self.with_cached_route(topic, |route| {
            let mut run = Run::new(event.is_static());
            let mut event = event;
            let awaiting = self.walk(host, call, route, &mut event, 0, &mut run, tally);
            debug_assert!(awaiting.is_none(), "a borrowed event never awaits");
            self.record(route, &run);
        })
    }

    /// Delivers a borrowed event to a route of sync handlers only, the publish counted in
    /// flight meanwhile (`publish` when no subscription needs the event owned).
    pub(crate) fn deliver_borrowed(
        &self,
        host: &Host,
        call: &Call<'_>,
        route: &Route,
        mut event: EventRef<'_>,
        in_flight: Option<InFlight<'_>>,
        tally: &mut Tally,
    ) -> Dispatched<'static> {
        let _in_flight = match in_flight {
            Some(in_flight) => in_flight,
            None => match self.drain.begin() {
                Ok(in_flight) => in_flight,
                Err(_) => return Dispatched::Shutdown,
            },
        };
        let mut run = Run::new(event.is_static());
        let awaiting = self.walk(host, call, route, &mut event, 0, &mut run, tally);
        debug_assert!(awaiting.is_none(), "a borrowed event never awaits");
        self.record(route, &run);
        Dispatched::Done
    }

    /// Delivers a shared event on `route`. What is left to await (async handlers, buffers to
    /// wait for under `Block`) comes back as [`Dispatched::Pending`], for [`Bus::finish`],
    /// with the publish counted in flight.
    ///
    /// `in_flight` is the caller's, if it already counted itself (to wait for a permit). If
    /// not, a dispatch that runs handlers counts itself before the first one, and fails with
    /// `Shutdown` once the bus is closed. A route of pull subscribers only (the channel API)
    /// runs no handler: its pushes are not counted in flight unless one has to wait, and a
    /// push racing a shutdown lands before the buffer closes or is dropped as `Closed`.
    ///
    /// Out of line: one copy for every caller (each static event type's `publish` among
    /// them), not one per event type.
    #[inline(never)]
    pub(crate) fn deliver<'h>(
        &'h self,
        host: &'h Host,
        call: &'h Call<'h>,
        route: &Arc<Route>,
        mut event: Carried,
        in_flight: Option<InFlight<'h>>,
        tally: &mut Tally,
    ) -> Dispatched<'h> {
        let in_flight = match in_flight {
            Some(in_flight) => Some(in_flight),
            None if route.pull_only => {
                if self.drain.is_closed() {
                    return Dispatched::Shutdown;
                }
                None
            }
            None => match self.drain.begin() {
                Ok(in_flight) => Some(in_flight),
                Err(_) => return Dispatched::Shutdown,
            },
        };
        let mut run = Run::new(event.is_static());
        let awaiting = self.walk(host, call, route, &mut event, 0, &mut run, tally);
        self.conclude(route, event, run, awaiting, in_flight)
    }

    /// [`deliver`](Self::deliver) of a reported dispatch ([`Tally::reported`]): counted in
    /// flight by the caller, the event owned (every kind of subscription takes it), every
    /// outcome kept.
    pub(crate) fn deliver_reported<'h>(
        &'h self,
        host: &'h Host,
        call: &'h Call<'h>,
        route: &Arc<Route>,
        mut event: Carried,
        in_flight: InFlight<'h>,
        tally: &mut Tally,
    ) -> Dispatched<'h> {
        let mut run = Run::new(event.is_static());
        let awaiting = self.walk_reported(host, call, route, &mut event, 0, &mut run, tally);
        self.conclude(route, event, run, awaiting, Some(in_flight))
    }

    /// The end of a walk of a shared event: done, or what is left to await.
    #[inline(always)]
    pub(super) fn conclude<'h>(
        &'h self,
        route: &Arc<Route>,
        event: Carried,
        run: Run,
        awaiting: Option<Awaiting<'h>>,
        in_flight: Option<InFlight<'h>>,
    ) -> Dispatched<'h> {
        if awaiting.is_none() && run.blocked.is_none() {
            self.record(route, &run);
            event.release();
            return Dispatched::Done;
        }
        self.pending(route, event, run, awaiting, in_flight)
    }

    #[cold]
    #[inline(never)]
    fn pending<'h>(
        &'h self,
        route: &Arc<Route>,
        event: Carried,
        run: Run,
        awaiting: Option<Awaiting<'h>>,
        in_flight: Option<InFlight<'h>>,
    ) -> Dispatched<'h> {
        Dispatched::Pending(Box::new(Pending {
            route: Arc::clone(route),
            event,
            run,
            awaiting,
            _in_flight: in_flight.unwrap_or_else(|| self.drain.enter()),
        }))
    }

    /// Awaits an async handler's call (`future`, its first attempt) under its timeout (its
    /// own, else the system's), and its retries if it has a policy; `again` shares the event
    /// for each retry (`None`: it is gone, and the retry fails).
    pub(super) async fn await_call<'h>(
        &'h self,
        host: &'h Host,
        call: &'h Call<'h>,
        sub: &Sub,
        topic: &str,
        future: BoxFuture<'h, HandlerResult>,
        mut again: impl FnMut() -> Option<Arc<DynamicEvent>>,
    ) -> (Outcome, Tried) {
        let timeout = sub.timeout.or(self.settings.handler_timeout);
        // Through the system's handler layers, if it has some: as the subscription, which
        // is named (its pattern copied) only then.
        let who = host.handler_stack().map(|_| sub.handler_ref());
        let via = match &who {
            Some(who) => invoke::Via::of(host, topic, who),
            None => invoke::Via::DIRECT,
        };
        match (&sub.retry, sub.async_handler()) {
            (Some(retry), Some(handler)) => {
                let again = || match again() {
                    Some(shared) => invoke::start_async(|| handler(host, call, shared)),
                    None => Err(Outcome::Failed("the event was already taken".into())),
                };
                let jitter = |ceiling| self.jitter(ceiling);
                invoke::run_retrying(future, again, timeout, via, retry, jitter).await
            }
            _ => (
                invoke::run_async(future, timeout, via, 1).await,
                Tried::once(),
            ),
        }
    }

    /// A sync handler's call with a breaker or retries (off the walk's hot path): asked of
    /// the breaker, made, told; a failure with retries left, where the walk may wait
    /// (`waits`), comes back to be awaited ([`Bus::retry_sync`]).
    #[cold]
    #[inline(never)]
    #[allow(
        clippy::too_many_arguments,
        reason = "the walk's state, as the walk has it"
    )]
    fn call_sync<'h>(
        &self,
        host: &Host,
        call: &Call<'_>,
        at: usize,
        sub: &Sub,
        handler: &SyncHandler,
        view: EventRef<'_>,
        waits: bool,
        run: &mut Run,
        tally: &mut Tally,
    ) -> Option<Awaiting<'h>> {
        let probe = match &sub.breaker {
            None => false,
            Some(breaker) => self.admit(host, call, sub, breaker, view, run, tally)?,
        };
        let outcome = match invoke::run(|| handler(host, call, &view)) {
            Outcome::Failed(error) if sub.retry.is_some() && waits => {
                let wait = Wait::Retry(error);
                return Some(Awaiting { at, wait, probe });
            }
            outcome => outcome,
        };
        if let Some(breaker) = &sub.breaker
            && !outcome.is_skipped()
        {
            let succeeded = matches!(outcome, Outcome::Handled);
            self.tell_breaker(host, call, sub, breaker, succeeded, probe);
        }
        tally.record::<true>(&mut run.books, sub, outcome, |error| {
            self.bury_view(host, call, Some(view), error)
        });
        None
    }

    /// The retries of a sync handler's call whose first attempt failed with `error`, by its
    /// policy, on the event the walk holds.
    async fn retry_sync(
        &self,
        host: &Host,
        call: &Call<'_>,
        sub: &Sub,
        event: &Carried,
        error: BoxError,
    ) -> (Outcome, Tried) {
        let first = Outcome::Failed(error);
        match (&sub.kind, &sub.retry, event.viewed()) {
            (SubKind::Sync(handler), Some(retry), Some(view)) => {
                let again = || handler(host, call, &view);
                let jitter = |ceiling| self.jitter(ceiling);
                invoke::retry_sync(first, again, retry, jitter).await
            }
            _ => (first, Tried::once()),
        }
    }

    /// Awaits what [`Bus::deliver`] could not finish: each async handler in turn, walking on
    /// after it, then the pushes waiting for room (one deadline for all).
    pub(crate) async fn finish<'h>(
        &'h self,
        host: &'h Host,
        call: &'h Call<'h>,
        mut pending: Box<Pending<'h>>,
        tally: &mut Tally,
    ) {
        let p = &mut *pending;
        while let Some(awaiting) = p.awaiting.take() {
            let sub = &p.route.subs[awaiting.at];
            // The event is shared again only for a retry: a call that succeeds at once
            // costs what it costs without a policy.
            let event = &mut p.event;
            let (outcome, tried) = match awaiting.wait {
                Wait::Call(future) => {
                    // The envelope's topic, for handler layers (the handler's own copy of
                    // the event is shared again: no new one is made).
                    let named = host.handler_stack().and_then(|_| event.dynamic());
                    let topic = named.as_deref().map_or("", |e| e.topic().as_str());
                    self.await_call(host, call, sub, topic, future, || event.dynamic())
                        .await
                }
                Wait::Retry(error) => self.retry_sync(host, call, sub, event, error).await,
            };
            if let Some(breaker) = &sub.breaker
                && !outcome.is_skipped()
            {
                let succeeded = matches!(outcome, Outcome::Handled);
                self.tell_breaker(host, call, sub, breaker, succeeded, awaiting.probe);
            }
            if matches!(outcome, Outcome::Handled) && tried.attempts > 1 {
                self.handler_stats
                    .retried(&sub.handler_ref(), tried.attempts);
            }
            let event = &p.event;
            tally.record_attempts::<true>(&mut p.run.books, sub, outcome, tried, |error| {
                self.bury_view(host, call, event.viewed(), error)
            });
            let (route, event, run, next) = (&p.route, &mut p.event, &mut p.run, awaiting.at + 1);
            p.awaiting = if tally.reports() {
                self.walk_reported(host, call, route, event, next, run, tally)
            } else {
                self.walk(host, call, route, event, next, run, tally)
            };
        }
        if let Some(blocked) = p.run.blocked.take() {
            let deadline = deadline_after(self.settings.default_timeout);
            for blocked in *blocked {
                let block = Overflow::Block { deadline };
                let outcome = blocked
                    .buffer
                    .push(blocked.item, blocked.bytes, block)
                    .await;
                if let Some(at) = blocked.report {
                    tally.settle_outcome(at, &outcome);
                }
                self.count_push(outcome, &mut p.run.books, tally);
            }
        }
        self.record(&p.route, &p.run);
    }
}

/// Something that can be published on the bus, and the topic to route it by.
pub(crate) trait Outgoing {
    /// Its topic.
    fn topic(&self) -> TopicRef<'_>;
    /// Its payload size, for `max_payload_bytes`.
    fn as_event(&self) -> &DynamicEvent;
    /// Shared, for a route that needs it owned.
    fn into_shared(self) -> Arc<DynamicEvent>;
}

impl Outgoing for DynamicEvent {
    #[inline]
    fn topic(&self) -> TopicRef<'_> {
        TopicRef::Topic(DynamicEvent::topic(self))
    }
    #[inline]
    fn as_event(&self) -> &DynamicEvent {
        self
    }
    #[inline]
    fn into_shared(self) -> Arc<DynamicEvent> {
        Arc::new(self)
    }
}

impl Outgoing for Arc<DynamicEvent> {
    #[inline]
    fn topic(&self) -> TopicRef<'_> {
        TopicRef::Topic(DynamicEvent::topic(self))
    }
    #[inline]
    fn as_event(&self) -> &DynamicEvent {
        self
    }
    #[inline]
    fn into_shared(self) -> Arc<DynamicEvent> {
        self
    }
}

impl Bus {
    /// Publishes a dynamic event (owned or already shared) on its topic's route: borrowed by
    /// every subscriber when they are all sync handlers, moved into one `Arc` otherwise.
    ///
    /// Takes no reference count to find the route: this thread's remembered pull-only route,
    /// or the cache snapshot, is borrowed for the whole dispatch.
    ///
    /// The lookup is [`Bus::with_route`]'s, written out: here the topic is borrowed from the
    /// event that then moves into the dispatch. One helper for both (taking the event and a
    /// topic reader) measured 27 more instructions per `channel_bus` publish, so keep the two
    /// in step instead.
    #[inline]
    pub(crate) fn dispatch<'h, P: Outgoing>(
        &'h self,
        host: &'h Host,
        call: &'h Call<'h>,
        event: P,
        in_flight: Option<InFlight<'h>>,
        tally: &mut Tally,
    ) -> Dispatched<'h> {
        let generation = self.routes.generation();
        let mut event = Some(event);
        let mut in_flight = Some(in_flight);
        let hit = self.routes.with_last(generation, |key, route| {
            if !key.is(event.as_ref()?.topic()) {
                return None;
            }
            let shared = event.take()?.into_shared();
            Some(match in_flight.take()? {
                None => self.lane_shared(host, call, route, shared, tally),
                // Out of line: the walk inlined here would keep this closure (the channel
                // API's path) from being inlined into `dispatch`.
                in_flight => {
                    let shared = Carried::dynamic_event(shared);
                    self.deliver(host, call, route, shared, in_flight, tally)
                }
            })
        });
        if let Some(done) = hit {
            return done;
        }
        let (Some(event), Some(in_flight)) = (event, in_flight) else {
            unreachable!("taken only on a hit, which returned")
        };
        let routes = self.routes.snapshot();
        let built;
        let topic = event.topic();
        let route = match routes.get(topic.as_str()) {
            Some(route) => route,
            None => {
                built = self.build_route(topic.as_str());
                &built
            }
        };
        if route.pull_only {
            self.routes.remember(generation, topic, route);
        }
        if route.owned {
            let shared = Carried::dynamic_event(event.into_shared());
            self.deliver(host, call, route, shared, in_flight, tally)
        } else {
            let view = EventRef::dynamic_ref(event.as_event());
            self.deliver_borrowed(host, call, route, view, in_flight, tally)
        }
    }
}
