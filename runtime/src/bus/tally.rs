//! `Tally`: what one dispatch did, for the `Emitted` or `Published` it reports.

use crate::linked::invoke::{Outcome, Tried};
use crate::linked::{BoxError, Breaker, HandlerError, HandlerTimeout};

use super::backpressure::BackpressureError;
use super::metrics::{Books, DropReason};
use super::report::HandlerOutcome;
use super::subscription::Sub;

/// What one dispatch did, for `Emitted` / `Published`. The caller owns it and the dispatch
/// adds to it, so that nothing of it is copied on the way back; counts are read one by one,
/// each as wide as it was written (a wider load of fields just written one by one stalls).
#[derive(Default)]
#[repr(C)]
pub(crate) struct Tally {
    /// Pull subscribers that buffered the event.
    pub(crate) enqueued: usize,
    /// Subscribers that need the event owned, under a borrowed dispatch (`emit`).
    pub(crate) skipped: usize,
    /// Handlers that ran and returned `Ok`. Not next to `enqueued`: the two are read together
    /// into a `Published`, and as neighbours they would be read by one wide load.
    pub(crate) handled: usize,
    /// Full buffers that refused it (`DropNewest`, or no room to evict into).
    pub(crate) rejected: usize,
    /// Full buffers that stayed full for `default_timeout` (`Block`).
    pub(crate) timed_out: usize,
    /// Buffers closed by a shutdown before the event got in.
    pub(crate) shut_out: usize,
    /// `rejected + timed_out + shut_out`, kept apart so that the check on the common path
    /// reads one field.
    pub(super) refused: usize,
    /// Handler errors and the event's topic, once something failed; from the start, for a
    /// reported dispatch. Boxed: a dispatch that fails nothing carries (and drops) one null
    /// pointer, and a success checks that one pointer to know whether it is reported.
    failure: Option<Box<Failure>>,
}

#[derive(Default)]
struct Failure {
    errors: Vec<HandlerError>,
    topic: Option<Box<str>>,
    /// Each handler's outcome, in dispatch order, for a reported dispatch (whose failures go
    /// here instead of `errors`).
    report: Option<Vec<HandlerOutcome>>,
}

impl Tally {
    /// The tally of a reported dispatch: it keeps every handler's outcome.
    pub(crate) fn reported() -> Tally {
        Tally {
            failure: Some(Box::new(Failure {
                report: Some(Vec::new()),
                ..Failure::default()
            })),
            ..Tally::default()
        }
    }

    /// The list of outcomes, if this dispatch is reported.
    fn report(&mut self) -> Option<&mut Vec<HandlerOutcome>> {
        self.failure.as_mut()?.report.as_mut()
    }

    /// Whether this dispatch is reported.
    pub(super) fn reports(&self) -> bool {
        self.failure.as_ref().is_some_and(|f| f.report.is_some())
    }

    /// Adds a handler's outcome to the report; its index there (`None` if not reported).
    pub(super) fn add_outcome(&mut self, outcome: HandlerOutcome) -> Option<usize> {
        let report = self.report()?;
        report.push(outcome);
        Some(report.len() - 1)
    }

    /// Replaces the outcome at `at` (a detached handler's push that waited for room) by what
    /// the push did.
    pub(super) fn settle_outcome<T>(&mut self, at: usize, pushed: &crate::queue::PushOutcome<T>) {
        if let Some(entry) = self.report().and_then(|report| report.get_mut(at)) {
            *entry = HandlerOutcome::pushed(entry.handler().clone(), pushed);
        }
    }

    /// The outcomes reported, in dispatch order (empty unless the dispatch is reported).
    pub(crate) fn take_report(&mut self) -> Vec<HandlerOutcome> {
        self.report().map(std::mem::take).unwrap_or_default()
    }

    /// True when no handler failed and every buffer took the event.
    #[inline]
    pub(crate) fn succeeded(&self) -> bool {
        self.failure.is_none() && self.refused == 0
    }

    /// The counts of a dispatch that succeeded (nothing failed, so nothing is left to drop:
    /// the out-of-line drop glue is skipped).
    #[inline(always)]
    pub(crate) fn into_counts(self) -> (usize, usize) {
        let counts = (self.handled, self.enqueued);
        if self.failure.is_none() {
            std::mem::forget(self);
        }
        counts
    }

    /// The counts of a borrowed dispatch (handled, skipped) when no handler failed; the
    /// tally back otherwise.
    #[inline(always)]
    pub(crate) fn into_handled_skipped(self) -> Result<(usize, usize), Tally> {
        if self.failure.is_some() {
            return Err(self);
        }
        let counts = (self.handled, self.skipped);
        // Nothing failed, so it holds nothing to drop.
        std::mem::forget(self);
        Ok(counts)
    }

    /// The handler errors collected (empty when none failed).
    pub(crate) fn take_errors(&mut self) -> Vec<HandlerError> {
        self.failure
            .as_mut()
            .map(|f| std::mem::take(&mut f.errors))
            .unwrap_or_default()
    }

    /// The event's topic, if something went wrong.
    pub(crate) fn topic(&self) -> Option<&str> {
        self.failure.as_ref().and_then(|f| f.topic.as_deref())
    }

    /// The refusals, as an error.
    pub(crate) fn backpressure(&self, topic: &str) -> BackpressureError {
        BackpressureError {
            topic: topic.to_owned(),
            rejected: self.rejected,
            timed_out: self.timed_out,
            enqueued: self.enqueued,
        }
    }

    #[cold]
    pub(super) fn name(&mut self, topic: &str) {
        let failure = self.failure.get_or_insert_default();
        if failure.topic.is_none() {
            failure.topic = Some(topic.into());
        }
    }

    #[cold]
    fn fail(&mut self, error: HandlerError, topic: &str) {
        self.name(topic);
        if let Some(failure) = self.failure.as_mut() {
            match &mut failure.report {
                Some(report) => report.push(HandlerOutcome::Failed(error)),
                None => failure.errors.push(error),
            }
        }
    }

    /// A handler call that succeeded, in a dispatch that may be reported.
    #[cold]
    #[inline(never)]
    fn succeeded_reported(&mut self, sub: &Sub, attempts: u32) {
        let handler = sub.handler_ref();
        self.add_outcome(HandlerOutcome::Succeeded { handler, attempts });
    }

    /// Counts one handler call. If it failed, `fallen` is called with its error once: it
    /// buries the failure (its dead letter) and names the event's topic. `MAY_REPORT`: the
    /// dispatch may be reported, so a success asks whether to keep its outcome (a walk knows
    /// whether it is, and the common one never asks).
    #[inline(always)]
    pub(super) fn record<const MAY_REPORT: bool>(
        &mut self,
        books: &mut Books,
        sub: &Sub,
        outcome: Outcome,
        fallen: impl FnOnce(&mut HandlerError) -> String,
    ) {
        self.record_attempts::<MAY_REPORT>(books, sub, outcome, Tried::once(), fallen);
    }

    /// [`record`](Self::record) of a call made `attempts` times (it was retried).
    #[inline(always)]
    pub(super) fn record_attempts<const MAY_REPORT: bool>(
        &mut self,
        books: &mut Books,
        sub: &Sub,
        outcome: Outcome,
        tried: Tried,
        fallen: impl FnOnce(&mut HandlerError) -> String,
    ) {
        match outcome {
            Outcome::Handled => {
                self.handled += 1;
                if sub.metered() {
                    books.delivered += 1;
                }
                // Only a reported dispatch, or one where something already failed, has this.
                if MAY_REPORT && self.failure.is_some() {
                    self.succeeded_reported(sub, tried.attempts);
                }
            }
            Outcome::Failed(source) => {
                let Some(mut error) = self.failed(books, sub, source, tried) else {
                    return; // a static handler of a plugin that is not running: not reached
                };
                let topic = fallen(&mut error);
                self.fail(error, &topic);
            }
        }
    }

    /// Counts a failed call; its error, for the caller to bury and keep.
    #[cold]
    fn failed(
        &mut self,
        books: &mut Books,
        sub: &Sub,
        source: BoxError,
        tried: Tried,
    ) -> Option<HandlerError> {
        if crate::linked::invoke::skipped(&source) {
            return None;
        }
        if sub.metered() {
            books.failed += 1;
            if source.is::<HandlerTimeout>() {
                books.timed_out += 1;
            }
        }
        Some(HandlerError::failed(sub.handler_ref(), source, tried))
    }

    /// A call its circuit (in `state`) rejected: counted dropped, reported as a failure
    /// ([`CircuitOpen`]); `fallen` buries it if the policy says so, and names the topic.
    #[cold]
    pub(super) fn reject(
        &mut self,
        books: &mut Books,
        sub: &Sub,
        breaker: &Breaker,
        fallen: impl FnOnce(&mut HandlerError) -> String,
    ) {
        if sub.metered() {
            books.drop_one(DropReason::CircuitOpen);
        }
        let mut error = HandlerError::rejected(sub.handler_ref(), breaker);
        let topic = fallen(&mut error);
        self.fail(error, &topic);
    }

    /// A subscription that needs the event owned, under a borrowed dispatch.
    #[inline]
    pub(super) fn skip(&mut self, books: &mut Books, sub: &Sub) {
        self.skipped += 1;
        if sub.metered() {
            books.drop_one(DropReason::NotOwned);
        }
    }
}
