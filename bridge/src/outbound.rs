//! Outbound: the events of an exported pattern, published to the broker. Each exported
//! pattern is a detached subscription of the system whose calls (as many at once as the
//! bridge allows unacknowledged messages) publish one event each and wait for the broker's
//! acknowledgement: an event counts as exported only then. A failed publish is retried by
//! the subscription's retry policy (the reliability layer's: full jitter, `max_elapsed`),
//! then the system dead-letters it, as any handler's failure. An event that came in from the
//! broker (it has the origin header) is never exported back.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use staticbus::{
    BoxError, DynamicEvent, EventSystem, HandlerContext, Permanent, SubscribeOptions, Subscription,
};

use crate::bridge::{Counters, ExportOptions};
use crate::codec::{CAUSATION, CORRELATION, Codec, ORIGIN};
use crate::transport::{Outgoing, Transport};

/// What an export's handler needs, behind one reference count (the future made per event
/// holds one pointer to it: small futures allocate from the allocator's fast bins).
struct Exporter<T> {
    transport: Arc<T>,
    codec: Arc<dyn Codec>,
    prefix: Arc<str>,
    counters: Arc<Counters>,
}

impl<T: Transport> Exporter<T> {
    /// The message of `event` (causation and correlation ids from the publishing call), or
    /// `None` for an event that came in from the broker.
    fn message(
        &self,
        event: &DynamicEvent,
        causation: Option<String>,
        correlation: Option<String>,
    ) -> Result<Option<Outgoing>, BoxError> {
        if event.header(ORIGIN).is_some() {
            self.counters.not_exported.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let (mut headers, payload) = self
            .codec
            .encode(event)
            .map_err(|e| BoxError::from(Permanent::new(e)))?;
        for (name, value) in [(CAUSATION, causation), (CORRELATION, correlation)] {
            if let Some(value) = value {
                headers.insert(name.to_owned(), value);
            }
        }
        let topic = event.topic().as_str();
        let mut subject = String::with_capacity(self.prefix.len() + 1 + topic.len());
        subject.push_str(&self.prefix);
        subject.push('.');
        subject.push_str(topic);
        Ok(Some(Outgoing {
            subject,
            id: event.id().to_owned(),
            headers,
            payload,
        }))
    }

    async fn export(&self, message: Outgoing) -> Result<(), BoxError> {
        match self.transport.publish(message).await {
            Ok(stored) => {
                let counter = if stored.duplicate {
                    &self.counters.export_duplicates
                } else {
                    &self.counters.exported
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                self.counters.export_errors.fetch_add(1, Ordering::Relaxed);
                if error.permanent {
                    Err(BoxError::from(Permanent::new(error)))
                } else {
                    Err(BoxError::from(error))
                }
            }
        }
    }
}

/// Subscribes the export of `pattern` on `system`.
pub(crate) fn export<T: Transport>(
    system: &EventSystem,
    pattern: &str,
    transport: Arc<T>,
    codec: Arc<dyn Codec>,
    prefix: Arc<str>,
    options: &ExportOptions,
    counters: Arc<Counters>,
) -> Result<Subscription, staticbus::Error> {
    let subscribe = SubscribeOptions::new()
        .concurrency(options.max_unacked)
        .buffer_capacity(options.queue)
        .retry(options.retry);
    let exporter = Arc::new(Exporter {
        transport,
        codec,
        prefix,
        counters,
    });
    system.on_async_with(
        pattern,
        subscribe,
        move |event: Arc<DynamicEvent>, ctx: &HandlerContext<'_>| {
            // Encoded before the future is made: the future holds the message, not the
            // event and the ids.
            let causation = ctx.causation_id().map(str::to_owned);
            let correlation = ctx.correlation_id().map(str::to_owned);
            let message = exporter.message(&event, causation, correlation);
            let exporter = Arc::clone(&exporter);
            async move {
                match message? {
                    Some(message) => exporter.export(message).await,
                    None => Ok(()),
                }
            }
        },
    )
}
