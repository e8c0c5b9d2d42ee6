//! What the bus says of itself on its own topics (a dead letter, a circuit's change): an
//! event published without waiting, from inside the dispatch that caused it.

use std::sync::Arc;

use crate::dynamic::{DynamicEvent, EventRef, Payload, Topic};
use crate::linked::{Call, Host};

use super::Bus;
use super::dispatch::Run;
use super::item::{Carried, Form, Item};
use super::tally::Tally;

/// An announcement as a walk carries it: owned, so pull subscribers get it, but never handed
/// to async handlers (the dispatch that caused it does not wait for them: they count it as
/// not owned, as under `emit`), and sync handlers are not retried on it.
struct Announced(Carried);

impl Form for Announced {
    fn view(&self) -> EventRef<'_> {
        self.0.view()
    }
    fn is_static(&self) -> bool {
        false
    }
    fn bytes(&self) -> usize {
        self.0.bytes()
    }
    fn item(&mut self, typed: bool, last: bool) -> Option<Item> {
        self.0.item(typed, last)
    }
    fn dynamic(&mut self) -> Option<Arc<DynamicEvent>> {
        None
    }
    fn waits(&self) -> bool {
        false
    }
}

impl Bus {
    /// Publishes `payload()` on `topic` without waiting: sync handlers run, pull subscribers
    /// get it if their buffer takes it now (a full `Block` buffer counts it timed out), async
    /// handlers count it as not owned. Nothing is made when no subscription matches.
    pub(super) fn announce(
        &self,
        host: &Host,
        call: &Call<'_>,
        topic: &'static str,
        payload: impl FnOnce() -> Payload,
    ) {
        if !self.has_subscriptions() {
            return;
        }
        self.with_cached_route(topic, |route| {
            if route.subs.is_empty() {
                return;
            }
            let event = DynamicEvent::from_static(Topic::from_static_name(topic), payload());
            let mut event = Announced(Carried::dynamic_event(Arc::new(event)));
            let mut run = Run::new(false);
            let mut tally = Tally::default();
            let awaiting = self.walk(host, call, route, &mut event, 0, &mut run, &mut tally);
            debug_assert!(awaiting.is_none(), "an announcement never awaits");
            run.give_up_blocked();
            self.record(route, &run);
        });
    }
}
