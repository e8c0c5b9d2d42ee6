//! The store as a system's sink ([`staticbus::EventSink`]): give it to
//! `EventSystem::builder().persist_to(store.clone())`, and the system appends each event it
//! persists (static `#[event(persist)]` types, dynamic topics chosen with
//! `persist_topics`) to the stream named after its topic, with `Expected::Any`.

use staticbus::{BoxError, BoxFuture, DurableEvent, EventSink};
use tokio::sync::oneshot;

use crate::Store;
use crate::error::StoreError;
use crate::event::{Expected, NewEvent};
use crate::writer::{Command, StreamAppend};

impl EventSink for Store {
    /// Queues `event` on the writer at once (in call order; a full queue holds the caller
    /// back), and resolves to its position once committed.
    fn persist(&self, event: DurableEvent) -> BoxFuture<'static, Result<u64, BoxError>> {
        let timestamp =
            jiff::Timestamp::try_from(event.time).unwrap_or_else(|_| jiff::Timestamp::now());
        let mut new = NewEvent::new(event.topic, event.payload)
            .id(event.id)
            .timestamp(timestamp);
        new.metadata = event.metadata;
        let (reply, answer) = oneshot::channel();
        let command = Command::Append {
            appends: vec![StreamAppend {
                stream: event.stream,
                expected: Expected::Any,
                events: vec![new],
            }],
            reply,
        };
        let queued = self.enqueue(command);
        Box::pin(async move {
            queued?;
            let appended = answer.await.map_err(|_| StoreError::Closed)??;
            let first = appended.first().ok_or(StoreError::Closed)?;
            Ok(first.first_position)
        })
    }
}

impl Store {
    /// Puts `command` on the writer's queue now: at once if there is room, else waiting for
    /// room (the publisher is held back).
    fn enqueue(&self, command: Command) -> Result<(), StoreError> {
        let queue = self.inner.queue.lock().clone().ok_or(StoreError::Closed)?;
        match queue.try_send(command) {
            Ok(()) => Ok(()),
            Err(flume::TrySendError::Full(command)) => {
                queue.send(command).map_err(|_| StoreError::Closed)
            }
            Err(flume::TrySendError::Disconnected(_)) => Err(StoreError::Closed),
        }
    }
}
