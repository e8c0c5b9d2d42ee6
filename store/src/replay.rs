//! Replay: stored events delivered again to a running system's handlers and subscribers
//! ([`EventSystem::replay`]), by position, topic pattern and time range ([`ReadFilter`]).

use std::time::SystemTime;

use staticbus::{DynamicEvent, EventSystem};

use crate::Store;
use crate::error::StoreError;
use crate::event::StoredEvent;
use crate::read::{self, ReadFilter};

/// Rows read from the store at a time.
const CHUNK: usize = 512;

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Replayed {
    /// Events delivered again.
    pub events: u64,
    /// Of those, events some handler failed on (each failure is the handler's own, in the
    /// system's metrics and dead letters, as for a live event).
    pub failed: u64,
    /// Events that could not be made into an event of the bus (a topic or header it
    /// refuses), not delivered.
    pub skipped: u64,
    /// The position of the last event looked at (0: none).
    pub last_position: u64,
}

impl Store {
    /// Delivers again, in position order, every stored event from position `from` that
    /// `filter` takes and that was committed when the replay began, to `system`'s handlers
    /// and subscribers of its topic: an event of an `#[event(persist)]` type read back into
    /// that type for its static handlers ([`EventSystem::replay_static`]), any other as a
    /// dynamic event ([`EventSystem::replay`], keeping its id, source, time, subject,
    /// content type and headers). Handlers can tell it is a replay with
    /// `HandlerContext::is_replay`, and nothing is persisted again.
    pub async fn replay_into(
        &self,
        system: &EventSystem,
        from: u64,
        filter: &ReadFilter,
    ) -> Result<Replayed, StoreError> {
        let upto = self.inner.counters.committed.borrow().position;
        let mut done = Replayed::default();
        let mut next = from.max(1);
        while next <= upto {
            let (at, filter) = (next, filter.clone());
            let (events, after) = self
                .read(move |conn, path| read::scan(conn, path, at, upto, CHUNK, &filter))
                .await?;
            next = after;
            for stored in events {
                done.last_position = stored.position;
                // A stored `#[event(persist)]` type goes back to its static handlers (and
                // the dynamic subscribers of its name) as its own type.
                if let Some(replayed) = system.replay_static(&stored.topic, &stored.payload) {
                    done.events += 1;
                    if replayed.await.is_err() {
                        done.failed += 1;
                    }
                    continue;
                }
                let Some(event) = bus_event(&stored) else {
                    done.skipped += 1;
                    continue;
                };
                done.events += 1;
                if system.replay(event).await.is_err() {
                    done.failed += 1;
                }
            }
        }
        Ok(done)
    }
}

/// A stored event as the bus's event: its attributes from its metadata, the other entries
/// as headers; `None` (logged) if the bus refuses it.
fn bus_event(stored: &StoredEvent) -> Option<DynamicEvent> {
    let time = SystemTime::try_from(stored.timestamp).unwrap_or_else(|_| SystemTime::now());
    let mut builder = DynamicEvent::builder(stored.topic.as_str())
        .id(stored.id.as_str())
        .time(time)
        .bytes(stored.payload.clone());
    for (key, value) in &stored.metadata {
        builder = match key.as_str() {
            "source" => builder.source(value.as_str()),
            "subject" => builder.subject(value.as_str()),
            "datacontenttype" => builder.content_type(value.as_str()),
            "dataschema" => builder.data_schema(value.as_str()),
            "type" => builder,
            _ => builder.header(key.as_str(), value.as_str()),
        };
    }
    match builder.build() {
        Ok(event) => Some(event),
        Err(error) => {
            tracing::warn!(position = stored.position, topic = %stored.topic, %error, "staticbus-store: a stored event cannot be replayed");
            None
        }
    }
}
