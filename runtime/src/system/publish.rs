//! Publishing and emitting, static and dynamic, written once on [`SystemRef`].

use std::borrow::Cow;
use std::sync::Arc;

use crate::bus::{Carried, Dispatched, Outgoing, StaticValue, Tally, TopicRef};
use crate::dynamic::{DynamicEvent, EventRef};
use crate::linked::{Call, Emitted, StaticEvent, Table};

use super::reports::{emitted_with, published};
use super::{Error, Published, SystemRef};

impl<'a> SystemRef<'a> {
    /// `emit`: the table walk when nothing else needs looking at, else the slow path.
    #[inline(always)]
    pub(crate) fn emit<E: StaticEvent>(&self, call: &Call<'_>, event: &E) -> Emitted {
        match E::__table().fast() {
            Some(handlers) => handlers.emit(self.host, call, event),
            None => self.emit_slow(call, event),
        }
    }

    /// `emit` when its fast path is not open: a dynamic subscription matches the event's name
    /// in some system, the table is not built yet, or the "async handlers skipped" warning
    /// is owed.
    #[inline(never)]
    pub(crate) fn emit_slow<E: StaticEvent>(&self, call: &Call<'_>, event: &E) -> Emitted {
        let table = E::__table();
        let handlers = table.built();
        let emitted = if self.zero_copy {
            Emitted::default()
        } else {
            let emitted = handlers.emit(self.host, call, event);
            if table.take_warning() {
                warn_async_skipped(E::NAME, handlers.async_count());
            }
            emitted
        };
        if !self.bus.static_match(handlers.index()) {
            return emitted;
        }
        let tally = self
            .bus
            .dispatch_now(self.host, call, EventRef::static_ref(event));
        emitted_with(emitted, tally)
    }

    /// `publish` of a static event: inline when its handlers are all sync and nothing else
    /// needs looking at (as `emit`, plus the shutdown check), else the whole walk.
    pub(crate) async fn publish<E: StaticEvent>(
        &self,
        call: &Call<'_>,
        event: E,
    ) -> Result<Published, Error> {
        let table = E::__table();
        if let Some(handlers) = table.fast()
            && handlers.async_count() == 0
            && !self.zero_copy
            && !self.bus.limits_dispatches()
        {
            if self.bus.is_closed() {
                return Err(Error::Shutdown);
            }
            return static_published::<E>(handlers.emit(self.host, call, &event));
        }
        Box::pin(self.publish_slow(table, call, event)).await
    }

    async fn publish_slow<E: StaticEvent>(
        &self,
        table: &'static Table<E>,
        call: &Call<'_>,
        event: E,
    ) -> Result<Published, Error> {
        let in_flight = self.bus.begin().map_err(|_| Error::Shutdown)?;
        let _permit = self.bus.permit().await;
        let handlers = table.built();
        let (handled, errors) = if self.zero_copy {
            (0, Vec::new())
        } else {
            handlers.publish(self.host, call, &event).await
        };
        let tally = if self.bus.static_match(handlers.index()) {
            let route = self.bus.with_route(TopicRef::Static(E::NAME), Arc::clone);
            let dispatched = if route.owned {
                let value = StaticValue {
                    size: event.__size(),
                    value: Arc::new(event),
                    desc: table.desc(),
                };
                let carried = Carried::Static {
                    value,
                    dynamic: None,
                };
                self.bus
                    .deliver(self.host, call, &route, carried, Some(in_flight))
            } else {
                let view = EventRef::static_ref(&event);
                self.bus
                    .deliver_borrowed(self.host, call, &route, view, Some(in_flight))
            };
            self.finish(call, dispatched).await?
        } else {
            Tally::default()
        };
        published(|| E::NAME.into(), handled, errors, tally)
    }

    /// Awaits what a dispatch left pending.
    async fn finish(&self, call: &Call<'_>, dispatched: Dispatched<'_>) -> Result<Tally, Error> {
        match dispatched {
            Dispatched::Done(tally) => Ok(tally),
            Dispatched::Shutdown => Err(Error::Shutdown),
            Dispatched::Pending(pending) => {
                // The pending walk borrows `call` no longer than this function.
                Ok(self.bus.finish(self.host, call, pending).await)
            }
        }
    }

    /// `emit_dynamic`: sync subscribers run inline; the others are counted as skipped.
    pub(crate) fn emit_dynamic(&self, call: &Call<'_>, event: &DynamicEvent) -> Emitted {
        if !self.bus.has_subscriptions() {
            return Emitted::default();
        }
        let tally = self
            .bus
            .dispatch_now(self.host, call, EventRef::dynamic_ref(event));
        emitted_with(Emitted::default(), tally)
    }

    /// `publish_dynamic` / `publish_shared`. Generic so that the future of a shared event holds
    /// a pointer, not a whole event.
    pub(crate) async fn publish_event<P>(
        &self,
        call: &Call<'_>,
        event: P,
    ) -> Result<Published, Error>
    where
        P: Outgoing + Send,
    {
        if let Err((size, max)) = self.bus.check_payload(event.as_event()) {
            return Err(Error::PayloadTooLarge {
                topic: event.as_event().topic().to_string(),
                size,
                max,
            });
        }
        let mut _permit = None;
        let in_flight = if self.bus.limits_dispatches() {
            let in_flight = self.bus.begin().map_err(|_| Error::Shutdown)?;
            _permit = self.bus.permit().await;
            Some(in_flight)
        } else {
            None
        };
        let tally = match self.bus.dispatch(self.host, call, event, in_flight) {
            Dispatched::Done(tally) => tally,
            dispatched => self.finish(call, dispatched).await?,
        };
        published(|| Cow::Borrowed(""), 0, Vec::new(), tally)
    }
}

/// A static publish that ran inline: its `Emitted` as a publish result.
#[inline]
fn static_published<E: StaticEvent>(emitted: Emitted) -> Result<Published, Error> {
    match emitted.into_result::<E>() {
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
