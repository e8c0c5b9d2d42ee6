//! Per-handler counts of what went wrong: failures by kind, rejections, retries, dead
//! letters. Counted where those are made (all off the hot path): a call that succeeds at
//! once costs nothing here, so successes are counted per topic (`delivered`), not per
//! handler.

use std::collections::BTreeMap;

use crate::linked::{
    BoxError, CircuitOpen, HandlerError, HandlerPanic, HandlerRef, HandlerTimeout, LayerRejected,
    SubscriptionId,
};

/// One handler's counts in [`MetricsSnapshot::handlers`](crate::MetricsSnapshot::handlers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandlerMetrics {
    /// The handler's name (a static handler's path, or the subscription and its pattern).
    pub handler: String,
    /// Calls that failed for good (after their last attempt): errors, panics and timeouts.
    pub failed: u64,
    /// Of `failed`: the last attempt panicked.
    pub panicked: u64,
    /// Of `failed`: the last attempt ran out of its timeout.
    pub timed_out: u64,
    /// Of `failed`: a [handler layer](crate::EventSystemBuilder::handler_layer) failed the
    /// last attempt with its own error ([`LayerRejected`](crate::LayerRejected)).
    pub layer_rejected: u64,
    /// Calls its open circuit rejected (not made; not in `failed`).
    pub rejected: u64,
    /// Attempts made beyond the first, whatever the call came to.
    pub retried: u64,
    /// Dead letters made of its calls.
    pub dead_lettered: u64,
}

/// Who the counts are of: a static handler (its description's address) or a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Static(usize),
    Subscription(SubscriptionId),
}

impl Key {
    fn of(handler: &HandlerRef) -> Key {
        match handler {
            HandlerRef::Static(info) => Key::Static(std::ptr::from_ref(*info) as usize),
            HandlerRef::Subscription { id, .. } => Key::Subscription(*id),
        }
    }
}

/// Every handler's counts, by handler.
#[derive(Default)]
pub(crate) struct HandlerStats {
    counts: parking_lot::Mutex<BTreeMap<Key, HandlerMetrics>>,
}

impl HandlerStats {
    fn with(&self, handler: &HandlerRef, f: impl FnOnce(&mut HandlerMetrics)) {
        let mut counts = self.counts.lock();
        let entry = counts
            .entry(Key::of(handler))
            .or_insert_with(|| HandlerMetrics {
                handler: handler.name().into_owned(),
                ..HandlerMetrics::default()
            });
        f(entry);
    }

    /// A call that failed for good (or was rejected), and whether it became a dead letter.
    #[cold]
    pub(crate) fn fallen(&self, error: &HandlerError, buried: bool) {
        self.with(&error.handler, |m| {
            if is::<CircuitOpen>(&error.source) {
                m.rejected += 1;
            } else {
                m.failed += 1;
                m.panicked += u64::from(is::<HandlerPanic>(&error.source));
                m.timed_out += u64::from(is::<HandlerTimeout>(&error.source));
                m.layer_rejected += u64::from(is::<LayerRejected>(&error.source));
            }
            m.retried += u64::from(error.attempts.saturating_sub(1));
            m.dead_lettered += u64::from(buried);
        });
    }

    /// A call that succeeded after `attempts`.
    #[cold]
    pub(crate) fn retried(&self, handler: &HandlerRef, attempts: u32) {
        self.with(handler, |m| {
            m.retried += u64::from(attempts.saturating_sub(1))
        });
    }

    /// Every handler that has counts: static handlers first (in no particular order), then
    /// subscriptions by id.
    pub(crate) fn snapshot(&self) -> Vec<HandlerMetrics> {
        self.counts.lock().values().cloned().collect()
    }
}

fn is<T: std::error::Error + 'static>(error: &BoxError) -> bool {
    error.is::<T>()
}
