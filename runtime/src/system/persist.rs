//! Persisting what a system publishes: static events marked `#[event(persist)]` and dynamic
//! topics matching the builder's `persist_topics`, handed to the builder's store
//! (`persist_to`) in publish order before they are dispatched; and `publish_durable`, which
//! returns only after the store committed the event.

use std::fmt;
use std::sync::Arc;

use crate::bus::{
    DurableEvent, EventSink, PersistError, Persistence, durable_dynamic, durable_static,
};
use crate::dynamic::{DynamicEvent, Pattern};
use crate::linked::{BoxFuture, Call, PersistentEvent, StaticRef};

use super::{Error, EventSystem, EventSystemBuilder, Published, SystemRef};

/// The builder's persistence options.
#[derive(Clone, Default)]
pub(crate) struct PersistConfig {
    sink: Option<Arc<dyn EventSink>>,
    topics: Vec<String>,
}

impl fmt::Debug for PersistConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistConfig")
            .field("store", &self.sink.is_some())
            .field("topics", &self.topics)
            .finish()
    }
}

impl PersistConfig {
    /// Every topic pattern parses; topics are given a store.
    pub(crate) fn check(&self) -> Result<(), Error> {
        for pattern in &self.topics {
            if let Err(error) = Pattern::parse(pattern) {
                return Err(Error::InvalidConfig {
                    option: "persist_topics",
                    reason: format!("`{pattern}`: {error}"),
                });
            }
        }
        if self.sink.is_none() && !self.topics.is_empty() {
            return Err(Error::InvalidConfig {
                option: "persist_topics",
                reason: "topics to persist need a store: add `persist_to(store)`".to_owned(),
            });
        }
        Ok(())
    }

    /// The system's persistence (after [`check`](Self::check)).
    pub(crate) fn persistence(&self) -> Option<Persistence> {
        let sink = Arc::clone(self.sink.as_ref()?);
        let topics = self
            .topics
            .iter()
            .filter_map(|p| Pattern::parse(p).ok())
            .collect();
        Some(Persistence { sink, topics })
    }
}

impl EventSystemBuilder {
    /// Persists events in `store` (`staticbus-store`'s `Store`, or any [`EventSink`]): every
    /// static event of a type marked `#[event(persist)]`, and every dynamic event whose topic
    /// matches [`persist_topics`](Self::persist_topics), handed to it in publish order
    /// before it is dispatched (a publish does not wait for the commit: use
    /// [`EventSystem::publish_durable`] for that). A store whose queue is full holds the
    /// publisher back.
    pub fn persist_to(mut self, store: impl EventSink) -> Self {
        self.config.persist.sink = Some(Arc::new(store));
        self
    }

    /// The dynamic topics to persist: patterns as subscriptions take them (`"order.*"`,
    /// `"^audit\\..*$"`); one that does not parse is a `build()` error
    /// ([`Error::InvalidConfig`] naming `persist_topics`), as is giving topics without a
    /// store.
    pub fn persist_topics<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config
            .persist
            .topics
            .extend(patterns.into_iter().map(Into::into));
        self
    }
}

/// What a durable publish did: where the store put the event, and its dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Durably {
    /// The event's position in the store.
    pub position: u64,
    /// Its dispatch, after the commit.
    pub published: Published,
}

impl SystemRef<'_> {
    /// Hands a static event marked `#[event(persist)]` to the system's store, if it has one
    /// (its outcome is logged: a publish does not wait for it).
    #[cold]
    #[inline(never)]
    pub(crate) fn persist_static(&self, event: StaticRef<'_>) {
        let Some(persistence) = self.bus.persistence() else {
            return;
        };
        match durable_static(event.table().desc(), event.value()) {
            Ok(durable) => crate::bus::persist::send(persistence, durable),
            Err(error) => crate::bus::persist::refused(&error),
        }
    }

    /// Hands a dynamic event to the system's store, if it has one and persists its topic.
    /// Inline: one test of the bus's field; the rest out of line.
    #[inline(always)]
    pub(crate) fn persist_dynamic(&self, event: &DynamicEvent) {
        if self.bus.persistence.is_some() {
            self.persist_dynamic_cold(event);
        }
    }

    #[cold]
    #[inline(never)]
    fn persist_dynamic_cold(&self, event: &DynamicEvent) {
        if let Some(persistence) = self.bus.persistence()
            && persistence.takes(event.topic().as_str())
        {
            persist_dynamic_now(persistence, event);
        }
    }

    /// Persists `durable` and waits for the commit.
    async fn persist_awaited(&self, durable: DurableEvent) -> Result<u64, Error> {
        let persistence = self.bus.persistence().ok_or(PersistError::NoStore)?;
        let topic = durable.topic.clone();
        let position = persistence
            .sink
            .persist(durable)
            .await
            .map_err(|source| PersistError::Store { topic, source })?;
        Ok(position)
    }
}

#[cold]
#[inline(never)]
pub(super) fn persist_dynamic_now(persistence: &crate::bus::Persistence, event: &DynamicEvent) {
    match durable_dynamic(event) {
        Ok(durable) => crate::bus::persist::send(persistence, durable),
        Err(error) => crate::bus::persist::refused(&error),
    }
}

/// A static event type marked `#[event(persist)]`, as a replay finds it by name: its
/// stored JSON read back into the type and published to its handlers as a replay. One
/// element of [`REPLAYERS`] per such type (the derive makes it).
#[doc(hidden)]
pub struct ReplayDecl {
    pub name: &'static str,
    pub replay: ReplayFn,
}

/// One persisted type's replay: its stored JSON read back and published as a replay.
#[doc(hidden)]
pub type ReplayFn =
    for<'a> fn(&'a EventSystem, &'a [u8]) -> BoxFuture<'a, Result<Published, Error>>;

/// Every `#[event(persist)]` type's replay.
#[doc(hidden)]
#[linkme::distributed_slice]
#[allow(unsafe_code, reason = "linker-section statics")]
pub static REPLAYERS: [ReplayDecl];

/// Reads `json` into an `E` and publishes it as a replay (the derive names it for each
/// `#[event(persist)]` type).
#[doc(hidden)]
pub fn replay_static<'a, E>(
    system: &'a EventSystem,
    json: &'a [u8],
) -> BoxFuture<'a, Result<Published, Error>>
where
    E: PersistentEvent + crate::linked::PersistCheck,
{
    Box::pin(async move {
        let event: E = serde_json::from_slice(json).map_err(|e| PersistError::Payload {
            topic: E::NAME.to_owned(),
            reason: format!(
                "the stored event does not read back as a `{}`: {e}",
                E::__TYPE_NAME
            ),
        })?;
        system
            .view()
            .begin_static_unpersisted(&Call::REPLAY, event)
            .finish()
            .await
    })
}

impl EventSystem {
    /// Delivers a stored static event again, if `topic` is the name of an
    /// `#[event(persist)]` type linked into the binary: `payload` (its JSON) read back into
    /// the type and published to its handlers (static and dynamic) as a replay, as
    /// [`replay`](Self::replay) does for dynamic events. `None` for any other topic.
    pub fn replay_static<'a>(
        &'a self,
        topic: &str,
        payload: &'a [u8],
    ) -> Option<BoxFuture<'a, Result<Published, Error>>> {
        let decl = REPLAYERS.iter().find(|d| d.name == topic)?;
        Some((decl.replay)(self, payload))
    }

    /// Persists `event` in the system's store ([`persist_to`]), waits for the commit, then
    /// publishes it as [`publish`](Self::publish) does: returns its position and its
    /// dispatch. An event the store did not commit is not dispatched
    /// ([`Error::Persist`]). Takes events marked `#[event(persist)]` (a compile error
    /// otherwise, which says so); a plain `publish` of one persists it too, without waiting.
    ///
    /// [`persist_to`]: crate::EventSystemBuilder::persist_to
    pub async fn publish_durable<E: PersistentEvent>(&self, event: E) -> Result<Durably, Error> {
        if self.bus.is_closed() {
            return Err(Error::Shutdown);
        }
        let view = self.view();
        let desc = E::__TABLE.core().desc();
        let durable = durable_static(desc, &event)?;
        let position = view.persist_awaited(durable).await?;
        let published = view
            .begin_static_unpersisted(&Call::ROOT, event)
            .finish()
            .await?;
        Ok(Durably {
            position,
            published,
        })
    }

    /// Delivers a stored `event` again, to the handlers and subscribers of its topic, as
    /// [`publish_dynamic`](Self::publish_dynamic) does, but as a **replay**: handlers see
    /// [`HandlerContext::is_replay`](crate::HandlerContext::is_replay) (and opt out of side
    /// effects with it), and nothing it or its handlers publish is persisted again.
    /// `staticbus-store`'s `Store::replay_into` drives it from the store (and
    /// [`replay_static`](Self::replay_static) for stored static events).
    pub async fn replay(&self, event: DynamicEvent) -> Result<Published, Error> {
        self.view().publish_event(&Call::REPLAY, event).await
    }

    /// [`publish_durable`](Self::publish_durable) for a dynamic event, whatever its topic
    /// (the builder's `persist_topics` choose what a plain publish persists).
    pub async fn publish_durable_dynamic(&self, event: DynamicEvent) -> Result<Durably, Error> {
        if self.bus.is_closed() {
            return Err(Error::Shutdown);
        }
        let view = self.view();
        let durable = durable_dynamic(&event)?;
        let position = view.persist_awaited(durable).await?;
        let published = view
            .start_dynamic_unpersisted(&Call::ROOT, event)
            .finish()
            .await?;
        Ok(Durably {
            position,
            published,
        })
    }
}
