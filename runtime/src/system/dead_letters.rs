//! The dead-letter queue as the system shows it: inspect, purge, redrive; and the static
//! tables' way up to the bus ([`SystemPart`] for [`Core`]: a handler failed, its breaker,
//! its circuit moved).

use std::any::Any;
use std::sync::Arc;

use crate::bus::{DeadLetter, DeadLetterStats};
use crate::linked::{
    Breaker, Call, CircuitState, EventDesc, HandlerError, HandlerInfo, HandlerRef, Host,
    ResponderInfo, StaticRef, SystemPart,
};

use super::{Core, EventSystem};

impl SystemPart for Core {
    fn jitter(&self, ceiling: std::time::Duration) -> std::time::Duration {
        self.bus.jitter(ceiling)
    }

    fn static_failed(
        &self,
        host: &Host,
        call: &Call<'_>,
        desc: &EventDesc,
        copy: Option<Arc<dyn Any + Send + Sync>>,
        error: &mut HandlerError,
    ) {
        self.bus.bury_static(host, call, desc, copy, error);
    }

    fn breaker(&self, info: &'static HandlerInfo) -> Option<&Breaker> {
        self.bus.static_breaker(info)
    }

    fn static_retried(&self, info: &'static HandlerInfo, attempts: u32) {
        self.bus.static_retried(info, attempts);
    }

    fn circuit_moved(
        &self,
        host: &Host,
        call: &Call<'_>,
        info: &'static HandlerInfo,
        breaker: &Breaker,
        state: CircuitState,
    ) {
        self.bus
            .circuit_moved(host, call, HandlerRef::Static(info), breaker, state);
    }

    fn responder_breaker(&self, info: &'static ResponderInfo) -> Option<&Breaker> {
        self.bus.responder_breaker(info)
    }

    fn responder_circuit_moved(&self, info: &'static ResponderInfo, state: CircuitState) {
        // A request's caller gets `RequestError::CircuitOpen`; the change is logged, and its
        // counts are in `metrics().circuits`.
        tracing::info!(responder = info.method(), %state, "staticbus: circuit {state}");
    }
}

/// What [`EventSystem::redrive`] did with the letters it took.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Redriven {
    /// Letters the filter selected, taken out of the queue.
    pub taken: usize,
    /// Their handler ran and succeeded.
    pub succeeded: usize,
    /// Their handler failed again: each failure is a new dead letter (`errors` has them).
    pub failed: usize,
    /// Left in the queue: their handler is gone (unsubscribed), or the letter has no event
    /// (a static event type that is not `Clone`).
    pub unavailable: usize,
    /// The failures of `failed`, in redrive order.
    pub errors: Vec<HandlerError>,
}

impl EventSystem {
    /// The dead letters held (the most recent
    /// [`dead_letter_capacity`](crate::EventSystemBuilder::dead_letter_capacity)), oldest
    /// first: every handler call that failed for good (after its last attempt) and was not
    /// redriven or purged since.
    pub fn dead_letters(&self) -> Vec<Arc<DeadLetter>> {
        self.bus.dead_letters().list()
    }

    /// The dead-letter queue's counts (also in [`metrics`](Self::metrics)).
    pub fn dead_letter_stats(&self) -> DeadLetterStats {
        self.bus.dead_letters().stats()
    }

    /// Removes the dead letters `filter` selects; returns how many (`|_| true` purges all).
    pub fn purge_dead_letters(&self, filter: impl FnMut(&DeadLetter) -> bool) -> usize {
        self.bus.dead_letters().take(filter, false).len()
    }

    /// Takes the dead letters `filter` selects out of the queue and calls the handler each
    /// came from again with its event, oldest first: through the same step as a dispatch
    /// (panics caught, an async handler under its timeout and retried by its policy; a
    /// subscription's filter is not asked again, nor its circuit breaker: a redrive is the
    /// operator's decision). A call that fails again makes a new dead letter. A letter whose handler is gone, or that has no event, stays in the queue.
    ///
    /// Redriven calls are not counted in the topics' [`metrics`](Self::metrics) (they are
    /// no new publish); [`DeadLetterStats::redriven`] counts the letters taken.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use staticbus::BoxError;
    /// use staticbus::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), staticbus::Error> {
    /// let system = EventSystem::builder().build()?;
    /// let healthy = Arc::new(AtomicBool::new(false));
    /// let flag = Arc::clone(&healthy);
    /// let _sub = system.on("job", move |_: &EventRef<'_>| -> Result<(), BoxError> {
    ///     if flag.load(Ordering::Relaxed) { Ok(()) } else { Err("database down".into()) }
    /// })?;
    /// system.emit_dynamic(&DynamicEvent::builder("job").build()?);
    /// assert_eq!(system.dead_letters()[0].error(), "database down");
    ///
    /// healthy.store(true, Ordering::Relaxed);
    /// let redriven = system.redrive(|letter| letter.topic() == "job").await;
    /// assert_eq!(redriven.succeeded, 1);
    /// assert!(system.dead_letters().is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn redrive(&self, filter: impl FnMut(&DeadLetter) -> bool) -> Redriven {
        let letters = self.bus.dead_letters().take(filter, true);
        let mut report = Redriven {
            taken: letters.len(),
            ..Redriven::default()
        };
        for letter in letters {
            match self.redrive_one(&letter).await {
                Some(Ok(())) => report.succeeded += 1,
                Some(Err(error)) => {
                    report.failed += 1;
                    report.errors.push(error);
                }
                None => {
                    report.unavailable += 1;
                    self.bus.dead_letters().put_back(letter);
                }
            }
        }
        report
    }

    /// One letter back to its handler; `None` if it cannot go.
    async fn redrive_one(&self, letter: &DeadLetter) -> Option<Result<(), HandlerError>> {
        let call = Call::ROOT;
        match letter.handler() {
            HandlerRef::Subscription { id, .. } => {
                self.bus
                    .redrive_subscription(&self.host, &call, *id, letter)
                    .await
            }
            HandlerRef::Static(info) => {
                let value = letter.view()?.value_any()?;
                let view = StaticRef::checked(letter.table()?, value)?;
                let timeout = self.bus.settings.handler_timeout;
                let jitter = |ceiling| self.bus.jitter(ceiling);
                let result = view.redrive(&self.host, &call, info, timeout, jitter).await;
                result.map(|called| called.map(drop))
            }
        }
    }
}
