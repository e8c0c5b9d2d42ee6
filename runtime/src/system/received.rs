//! A dynamic event published as the static type its topic names: an event that arrived from
//! elsewhere (a broker, a file, a script) as a topic, attributes and a payload, delivered to
//! the static handlers of its type as if it had been published here, and to the dynamic
//! subscribers of its name with its attributes.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::bus::{StaticValue, Tally};
use crate::dynamic::DynamicEvent;
use crate::linked::{BoxFuture, Call, StaticEvent, TableCore};

use super::persist::persist_dynamic_now;
use super::publish::static_result;
use super::{Error, EventSystem, Published, SystemRef};

impl EventSystem {
    /// Publishes `event` as the static event `E` its topic names: an event received from
    /// elsewhere (a broker, a file, a script), delivered as if `E` had been published here.
    ///
    /// Its payload becomes an `E` (a payload that is an `E` value already is taken as it is;
    /// any other is read as JSON). `E`'s static handlers get that value, as from
    /// [`publish`](Self::publish) (a static handler's context has no event id, as for any
    /// static event); the dynamic subscribers of its name, and typed subscribers of `E`,
    /// get `event` itself: its id, source, time and headers, its payload the `E` value
    /// (shared, no copy). Static handlers run first, then the dynamic route, as for a
    /// publish; the result is one [`Published`] for both.
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
            .publish_as(E::__table().core(), value, event, E::__PERSIST)
            .await
    }
}

impl<'a> SystemRef<'a> {
    /// [`EventSystem::publish_as`] once the value is made: one copy for every type.
    #[inline(never)]
    fn publish_as(
        &self,
        table: &'static TableCore,
        mut value: StaticValue,
        received: DynamicEvent,
        persist: bool,
    ) -> BoxFuture<'a, Result<Published, Error>> {
        let this = *self;
        Box::pin(async move {
            let call = &Call::ROOT;
            let event = Arc::new(received.carrying(value.make_dynamic()));
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
            let (handled, errors) = if this.zero_copy {
                // Its static handlers are subscriptions of its name: the route has them.
                (0, Vec::new())
            } else {
                let timeout = this.bus.settings.handler_timeout;
                let jitter = |ceiling| this.bus.jitter(ceiling);
                value
                    .view(table)
                    .publish(this.host, call, timeout, jitter)
                    .await
            };
            let mut tally = Tally::default();
            let dispatched = this
                .bus
                .dispatch(this.host, call, event, Some(in_flight), &mut tally);
            this.finish(call, dispatched, &mut tally).await?;
            static_result(table.desc().name(), handled, errors, &mut tally)
        })
    }
}
