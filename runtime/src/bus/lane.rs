//! The lane: a publish onto this thread's remembered pull-only route, the channel API's case.
//!
//! A pull-only route runs no user code: its dispatch is pushes into buffers. When every
//! buffer has room (the common case), the lane is all the dispatch there is: each push just
//! enqueues, and the topic's counters get the clean count. A full buffer (or a closed one)
//! goes to the one backpressure decision point ([`Bus::offer`]). Nothing else of a dispatch (its working state, the caller's
//! tally) is touched. The first push that does not simply take the event (a full buffer, a
//! closed one, a subscription leaving) hands the dispatch to the one walk, which goes on from
//! that subscription, so every outcome is counted where every other dispatch counts it.

use std::sync::Arc;

use crate::dynamic::DynamicEvent;
use crate::linked::{Call, Host};

use super::Bus;
use super::backpressure::Offered;
use super::dispatch::{Dispatched, Run};
use super::item::{Carried, Form, Item};
use super::metrics::Books;
use super::route::{Route, Single, TopicRef};
use super::subscription::{Pull, Sub, SubKind};
use super::tally::Tally;
use super::value::StaticValue;

/// What [`Bus::lane`] did.
pub(crate) enum Lane<'h> {
    /// Every subscription of the route buffered the event: how many there were.
    Pushed(usize),
    /// This thread's remembered route is not the topic's, or is stale, or the bus is
    /// shutting down: nothing was done, the event is untouched, for the full dispatch.
    Missed,
    /// Some push did not simply take the event: the walk finished the dispatch, its counts
    /// are in the tally. Boxed, off the common path: a small `Lane` is returned in registers.
    Walked(Box<(Dispatched<'h>, Tally)>),
}

impl Bus {
    /// Publishes a static event's value on this thread's remembered pull-only route, if it
    /// is the event's and current. A push takes the value out of `value`; on
    /// [`Lane::Missed`] it is left in place.
    #[inline(always)]
    pub(crate) fn lane_static<'h>(
        &'h self,
        host: &'h Host,
        call: &'h Call<'h>,
        name: &'static str,
        value: &mut Option<StaticValue>,
        size: usize,
    ) -> Lane<'h> {
        let generation = self.routes.generation();
        let hit = self.routes.with_last(generation, |key, route| {
            if !key.is(TopicRef::Static(name)) || self.drain.is_closed() {
                return None;
            }
            // To one typed subscriber, the common case, the value moves as it is.
            if let Some((sub, pull)) = single_pull(route, true) {
                let item = Item::Static(value.take()?);
                return Some(self.push_single(host, call, route, (sub, pull), item, size));
            }
            let mut event = Carried::from_value(value.take()?, size);
            let lane = self.push_route(host, call, route, &mut event);
            event.release();
            Some(lane)
        });
        hit.unwrap_or(Lane::Missed)
    }

    /// A dispatch of a shared dynamic event on this thread's remembered (pull-only) `route`,
    /// as [`deliver`](Self::deliver) would do it, through the lane; counts into `tally`.
    #[inline(always)]
    pub(super) fn lane_shared<'h>(
        &'h self,
        host: &'h Host,
        call: &'h Call<'h>,
        route: &Arc<Route>,
        event: Arc<DynamicEvent>,
        tally: &mut Tally,
    ) -> Dispatched<'h> {
        if self.drain.is_closed() {
            return Dispatched::Shutdown;
        }
        let lane = match single_pull(route, false) {
            Some(single) => {
                let bytes = event.payload_len();
                self.push_single(host, call, route, single, Item::Dynamic(event), bytes)
            }
            None => {
                let mut event = Carried::dynamic_event(event);
                let lane = self.push_route(host, call, route, &mut event);
                event.release();
                lane
            }
        };
        match lane {
            Lane::Pushed(pushed) => {
                tally.enqueued += pushed;
                Dispatched::Done
            }
            Lane::Walked(walked) => {
                // The caller's tally is a new one: a lane runs first or not at all.
                let (dispatched, walked_tally) = *walked;
                *tally = walked_tally;
                dispatched
            }
            Lane::Missed => unreachable!("a route is pushed to or walked"),
        }
    }

    /// Pushes `item` into the buffer of `route`'s only subscription.
    #[inline(always)]
    fn push_single<'h>(
        &'h self,
        host: &'h Host,
        call: &'h Call<'h>,
        route: &Arc<Route>,
        (sub, pull): (&Sub, &Pull),
        item: Item,
        bytes: usize,
    ) -> Lane<'h> {
        let is_static = matches!(item, Item::Static(_));
        match pull.buffer.try_enqueue(item, bytes) {
            Ok(()) => self.pushed(route, 1, is_static),
            Err(item) => self.refused_single(host, call, route, (sub, pull), item, bytes),
        }
    }

    /// [`push_single`](Self::push_single) when the buffer did not simply take the item: the
    /// backpressure decision, then the walk. Out of line, so the common push stays small.
    #[cold]
    #[inline(never)]
    fn refused_single<'h>(
        &'h self,
        host: &'h Host,
        call: &'h Call<'h>,
        route: &Arc<Route>,
        (sub, pull): (&Sub, &Pull),
        item: Item,
        bytes: usize,
    ) -> Lane<'h> {
        let is_static = matches!(item, Item::Static(_));
        let offered = self.offer(sub, &pull.buffer, item, bytes);
        // The event as a dispatch holds it once its last subscription took it.
        let mut taken = match is_static {
            true => Carried::Static {
                value: None,
                size: bytes,
                dynamic: None,
            },
            false => Carried::Dynamic(None),
        };
        self.detour(host, call, route, &mut taken, bytes, 0, Some(offered))
    }

    /// Pushes `event` into each buffer of the pull-only `route`, in order. Out of line: its
    /// loop and its detours would otherwise weigh on the single-subscriber push.
    #[inline(never)]
    fn push_route<'h>(
        &'h self,
        host: &'h Host,
        call: &'h Call<'h>,
        route: &Arc<Route>,
        event: &mut Carried,
    ) -> Lane<'h> {
        let bytes = event.bytes();
        let last = route.subs.len().wrapping_sub(1);
        for (at, sub) in route.subs.iter().enumerate() {
            // A pull-only route holds active, unfiltered pull subscribers, unless one is
            // leaving: the walk counts that.
            let SubKind::Pull(pull) = &sub.kind else {
                return self.detour(host, call, route, event, bytes, at, None);
            };
            if !sub.is_active() || sub.filter.is_some() {
                return self.detour(host, call, route, event, bytes, at, None);
            }
            let Some(item) = event.item(pull.typed, at == last) else {
                return self.detour(host, call, route, event, bytes, at, None);
            };
            if let Err(item) = pull.buffer.try_enqueue(item, bytes) {
                let offered = self.offer(sub, &pull.buffer, item, bytes);
                return self.detour(host, call, route, event, bytes, at, Some(offered));
            }
        }
        self.pushed(route, route.subs.len(), event.is_static())
    }

    /// A lane's dispatch in which all `pushed` subscriptions buffered the event, counted.
    #[inline(always)]
    fn pushed<'h>(&self, route: &Route, pushed: usize, is_static: bool) -> Lane<'h> {
        if self.meters(route, is_static) {
            route.stats.record_delivered(route.metered, pushed);
        }
        Lane::Pushed(pushed)
    }

    /// The rest of a lane's dispatch, the full way: the subscriptions before `at` buffered
    /// the event; `offered` is what the push to `at` did, if it was tried.
    #[cold]
    #[inline(never)]
    #[allow(
        clippy::too_many_arguments,
        reason = "the lane's state, handed on as it is"
    )]
    fn detour<'h>(
        &'h self,
        host: &'h Host,
        call: &'h Call<'h>,
        route: &Arc<Route>,
        event: &mut Carried,
        bytes: usize,
        at: usize,
        offered: Option<Offered>,
    ) -> Lane<'h> {
        let mut event = std::mem::replace(event, Carried::Dynamic(None));
        let mut tally = Tally::default();
        let mut run = Run::new(event.is_static());
        run.books = Books::delivered(at);
        tally.enqueued = at;
        let mut from = at;
        if let Some(offered) = offered {
            let SubKind::Pull(pull) = &route.subs[at].kind else {
                unreachable!("only a pull subscription is offered the event")
            };
            self.settle(pull, offered, bytes, &mut run, &mut tally);
            from += 1;
        }
        let awaiting = self.walk(host, call, route, &mut event, from, &mut run, &mut tally);
        let dispatched = self.conclude(route, event, run, awaiting, None);
        Lane::Walked(Box::new((dispatched, tally)))
    }
}

/// The route's only subscription, if it is an active pull subscriber without a filter (and
/// typed, when `typed`: a static value then moves into its buffer as it is).
#[inline(always)]
fn single_pull(route: &Route, typed: bool) -> Option<(&Sub, &Pull)> {
    let takes = match route.single {
        Single::Typed => true,
        Single::Untyped => !typed,
        Single::No => false,
    };
    if !takes {
        return None;
    }
    let sub = route.subs.first()?;
    let SubKind::Pull(pull) = &sub.kind else {
        return None;
    };
    sub.is_active().then_some((&**sub, pull))
}
