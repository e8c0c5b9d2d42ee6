//! Outbound: the events of an exported pattern, published to the broker. Each exported
//! pattern is a detached subscription of the system whose workers (as many as the bridge
//! allows unacknowledged messages) publish one event each and wait for the broker's
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
    system.on_async_with(
        pattern,
        subscribe,
        move |event: Arc<DynamicEvent>, ctx: &HandlerContext<'_>| {
            let transport = Arc::clone(&transport);
            let codec = Arc::clone(&codec);
            let prefix = Arc::clone(&prefix);
            let counters = Arc::clone(&counters);
            let causation = ctx.causation_id().map(str::to_owned);
            let correlation = ctx.correlation_id().map(str::to_owned);
            async move {
                if event.header(ORIGIN).is_some() {
                    counters.not_exported.fetch_add(1, Ordering::Relaxed);
                    return Ok::<(), BoxError>(());
                }
                let (mut headers, payload) = codec
                    .encode(&event)
                    .map_err(|e| BoxError::from(Permanent::new(e)))?;
                for (name, value) in [(CAUSATION, causation), (CORRELATION, correlation)] {
                    if let Some(value) = value {
                        headers.insert(name.to_owned(), value);
                    }
                }
                let message = Outgoing {
                    subject: format!("{prefix}.{}", event.topic().as_str()),
                    id: event.id().to_owned(),
                    headers,
                    payload,
                };
                match transport.publish(message).await {
                    Ok(stored) => {
                        let counter = if stored.duplicate {
                            &counters.export_duplicates
                        } else {
                            &counters.exported
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    }
                    Err(error) => {
                        counters.export_errors.fetch_add(1, Ordering::Relaxed);
                        Err(BoxError::from(error))
                    }
                }
            }
        },
    )
}
