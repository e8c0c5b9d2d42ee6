//! Events received from elsewhere (a broker, a file, a script): published in the flow they
//! come from ([`Flow`]: their handlers see its causation and correlation ids), and a
//! dynamic event published as the static type its topic names (delivered to the static
//! handlers of its type as if it had been published here, and to the dynamic subscribers of
//! its name with its attributes).

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::bus::{StaticValue, Tally};
use crate::dynamic::DynamicEvent;
use crate::linked::{BoxFuture, Call, StaticEvent, TableCore};

use super::persist::persist_dynamic_now;
use super::publish::static_result;
use super::{Error, EventSystem, Published, SystemRef};

/// Where an event received from elsewhere sits in its flow, as its sender knew it (a
/// broker's headers): the handlers of an event published in it see these ids as their
/// [`causation_id`](crate::HandlerContext::causation_id) and
/// [`correlation_id`](crate::HandlerContext::correlation_id), and what they publish
/// continues the flow (caused by the event, in the same correlation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flow<'a> {
    /// The id of the event whose handler published it.
    pub causation: Option<&'a str>,
    /// The id of its flow: the first event's.
    pub correlation: Option<&'a str>,
}

impl<'a> Flow<'a> {
    /// The call of a publish in this flow.
    fn call(self) -> Call<'a> {
        Call {
            causation: self.causation,
            correlation: self.correlation,
            ..Call::ROOT
        }
    }
}

impl EventSystem {
    /// [`publish_dynamic`](Self::publish_dynamic) of an event received from elsewhere, in
    /// the flow it comes from: its handlers see `flow`'s ids as their causation and
    /// correlation, and what they publish is caused by `event`, in `flow`'s correlation
    /// (or, when it has none, `event`'s).
    ///
    /// ```standalone_crate
    /// use staticbus::prelude::*;
    /// use staticbus::Flow;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = EventSystem::builder().build()?;
    /// let _sub = system.on("order.paid", |_: &EventRef<'_>, ctx: &HandlerContext<'_>| {
    ///     assert_eq!(ctx.causation_id(), Some("order-7"));
    ///     assert_eq!(ctx.correlation_id(), Some("cart-1"));
    /// })?;
    /// let paid = DynamicEvent::builder("order.paid").id("payment-3").build()?;
    /// let flow = Flow { causation: Some("order-7"), correlation: Some("cart-1") };
    /// system.publish_dynamic_in(flow, paid).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`publish_dynamic`](Self::publish_dynamic).
    pub async fn publish_dynamic_in(
        &self,
        flow: Flow<'_>,
        event: DynamicEvent,
    ) -> Result<Published, Error> {
        self.view().publish_event(&flow.call(), event).await
    }

    /// Publishes `event` as the static event `E` its topic names: an event received from
    /// elsewhere (a broker, a file, a script), delivered as if `E` had been published here.
    ///
    /// Its payload becomes an `E` (a payload that is an `E` value already is taken as it is;
    /// any other is read as JSON). `E`'s static handlers get that value, as from
    /// [`publish`](Self::publish); the dynamic subscribers of its name, and typed subscribers of `E`,
    /// get `event` itself: its id, source, time and headers, its payload the `E` value
    /// (shared, no copy). Static handlers run first, then the dynamic route, as for a
    /// publish; the result is one [`Published`] for both.
    ///
    /// Its static handlers' context has `event`'s id
    /// ([`event_id`](crate::HandlerContext::event_id)), so what they publish is caused by
    /// it. [`publish_as_in`](Self::publish_as_in) publishes it in the flow it comes from.
    ///
    /// An `#[event(persist)]` type is persisted as `event` (with its id: a store keeps an
    /// event received twice once); another type, as a dynamic event of its topic is.
    ///
    /// ```standalone_crate
    /// use staticbus::prelude::*;
    ///
    /// #[derive(StaticEvent, serde::Deserialize)]
    /// #[event(name = "order.placed")]
    /// struct OrderPlaced { id: u64 }
    ///
    /// #[handler]
    /// fn bill(e: &OrderPlaced) -> Result<(), std::io::Error> {
    ///     assert_eq!(e.id, 7);
    ///     Ok(())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let system = EventSystem::builder().build()?;
    /// let received = DynamicEvent::builder("order.placed")
    ///     .id("from-the-broker-1")
    ///     .json(&serde_json::json!({ "id": 7 }))
    ///     .build()?;
    /// let published = system.publish_as::<OrderPlaced>(received).await?;
    /// assert_eq!(published.handled(), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NotItsType`] when the topic is not `E`'s name, [`Error::Event`] when the
    /// payload does not read as an `E` (nothing is delivered then); otherwise as
    /// [`publish`](Self::publish) (handlers' failures, a payload over the limit, a system
    /// shut down).
    pub async fn publish_as<E>(&self, event: DynamicEvent) -> Result<Published, Error>
    where
        E: StaticEvent + DeserializeOwned,
    {
        self.publish_as_in::<E>(Flow::default(), event).await
    }

    /// [`publish_as`](Self::publish_as) in the flow `event` comes from, as
    /// [`publish_dynamic_in`](Self::publish_dynamic_in) for a dynamic event.
    ///
    /// # Errors
    ///
    /// As [`publish_as`](Self::publish_as).
    pub async fn publish_as_in<E>(
        &self,
        flow: Flow<'_>,
        event: DynamicEvent,
    ) -> Result<Published, Error>
    where
        E: StaticEvent + DeserializeOwned,
    {
        if event.topic().as_str() != E::NAME {
            return Err(Error::NotItsType {
                topic: event.topic().as_str().to_owned(),
                type_name: E::__TYPE_NAME,
                name: E::NAME,
            });
        }
        let value = match event.value_arc::<E>() {
            Some(shared) => StaticValue::from_arc(shared),
            None => StaticValue::new(event.json::<E>()?),
        };
        self.view()
            .publish_as(E::__TABLE.core(), flow, value, event, E::__PERSIST)
            .await
    }
}

impl<'a> SystemRef<'a> {
    /// [`EventSystem::publish_as`] once the value is made: one copy for every type.
    #[inline(never)]
    fn publish_as(
        &self,
        table: &'static TableCore,
        flow: Flow<'a>,
        mut value: StaticValue,
        received: DynamicEvent,
        persist: bool,
    ) -> BoxFuture<'a, Result<Published, Error>> {
        let this = *self;
        Box::pin(async move {
            let event = Arc::new(received.carrying(value.make_dynamic()));
            // Its static handlers have its id; the route's handlers read it from the event.
            let call = &Call {
                event: Some(event.id()),
                ..flow.call()
            };
            this.check_payload(&event)?;
            if persist {
                if let Some(persistence) = this.bus.persistence() {
                    persist_dynamic_now(persistence, &event);
                }
            } else {
                this.persist_dynamic(&event);
            }
            let in_flight = this.bus.begin().map_err(|_| Error::Shutdown)?;
            let _permit = this.bus.permit().await;
            let (handled, errors) = this.table_handlers(table, call, &value).await;
            let mut tally = Tally::default();
            let dispatched = this.bus.dispatch(
                this.host,
                call,
                Arc::clone(&event),
                Some(in_flight),
                &mut tally,
            );
            this.finish(call, dispatched, &mut tally).await?;
            static_result(table.desc().name(), handled, errors, &mut tally)
        })
    }
}
