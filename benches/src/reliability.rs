//! What the reliability options cost when nothing fails: `publish` of a shared dynamic event
//! to one async handler that is done at once, plain, with a timeout, and with a retry policy
//! (which never retries: the handler succeeds).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{Retry, SubscribeOptions, Subscription};

use crate::{DYN_PATTERN, payload_value, record};

/// Sum of the payload lengths the async handlers saw.
pub static ASYNC_PUBLISH: AtomicU64 = AtomicU64::new(0);

/// Events per timed iteration, all published in one task (`block_on`).
pub const ASYNC_BATCH: usize = 1000;

/// A system with one async handler on [`DYN_PATTERN`], subscribed with `options`.
pub struct AsyncPublish {
    system: EventSystem,
    _subscription: Subscription,
}

impl AsyncPublish {
    /// The plain handler.
    pub fn plain() -> Result<AsyncPublish, staticbus::Error> {
        Self::with_options(SubscribeOptions::new())
    }

    /// The handler under a timeout it never reaches.
    pub fn with_timeout() -> Result<AsyncPublish, staticbus::Error> {
        Self::with_options(SubscribeOptions::new().timeout(Duration::from_secs(60)))
    }

    /// The handler with a retry policy it never needs.
    pub fn with_retry() -> Result<AsyncPublish, staticbus::Error> {
        let retry = Retry::exponential(3, Duration::from_millis(50));
        Self::with_options(SubscribeOptions::new().retry(retry))
    }

    fn with_options(options: SubscribeOptions) -> Result<AsyncPublish, staticbus::Error> {
        let system = EventSystem::builder().build()?;
        let subscription =
            system.on_async_with(DYN_PATTERN, options, |e: Arc<DynamicEvent>| async move {
                record(&ASYNC_PUBLISH, payload_value(e.bytes()));
            })?;
        Ok(AsyncPublish {
            system,
            _subscription: subscription,
        })
    }

    /// Publishes `event` `n` times on `rt`, each awaited; returns how many handlers ran.
    pub fn batch(
        &self,
        rt: &tokio::runtime::Runtime,
        event: &Arc<DynamicEvent>,
        n: usize,
    ) -> usize {
        rt.block_on(async {
            let mut handled = 0;
            for _ in 0..n {
                let published = self
                    .system
                    .publish_shared(Arc::clone(event))
                    .await
                    .expect("the handler succeeds");
                handled += published.handled();
            }
            handled
        })
    }
}
