//! `HandlerOutcome`: what one handler did with one event, for a reported publish
//! ([`PublishFuture::reported`](crate::PublishFuture::reported)).

use std::fmt;

use crate::linked::{HandlerError, HandlerRef};
use crate::queue::PushOutcome;

use super::metrics::DropReason;

/// What one handler did with one published event: an entry of a
/// [`PublishReport`](crate::PublishReport), in dispatch order (static handlers first, then
/// dynamic subscriptions by priority).
///
/// Handlers the event did not reach (a filter said no, the subscription was removed) have no
/// entry; neither have pull subscribers, which [`PublishReport::enqueued`] counts.
///
/// [`PublishReport::enqueued`]: crate::PublishReport::enqueued
#[derive(Debug)]
#[non_exhaustive]
pub enum HandlerOutcome {
    /// It ran and returned `Ok`.
    Succeeded {
        /// The handler.
        handler: HandlerRef,
        /// Calls made: 1, or more when it succeeded on a retry.
        attempts: u32,
    },
    /// It failed for good (after its last attempt), or its open circuit rejected the call:
    /// [`kind`](Self::kind) tells which; the error says how, how many attempts were made and
    /// whether it became a dead letter.
    Failed(HandlerError),
    /// A detached handler's queue took the event: its worker calls the handler later. That
    /// call's outcome is counted in [`metrics`](crate::EventSystem::metrics)`().handlers`, and
    /// becomes a dead letter if it fails for good.
    Queued {
        /// The handler.
        handler: HandlerRef,
    },
    /// A detached handler's queue refused the event: full (`DropNewest`, or `Block` past its
    /// timeout) or closed by a shutdown. The publish fails with a backpressure error, or
    /// `DroppedAtShutdown`, as for a pull subscriber.
    Refused {
        /// The handler.
        handler: HandlerRef,
        /// Why, as `metrics()` counts it.
        reason: DropReason,
    },
}

/// The kinds of [`HandlerOutcome`], for counting ([`PublishReport::count`]).
///
/// [`PublishReport::count`]: crate::PublishReport::count
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutcomeKind {
    /// Ran and returned `Ok` (maybe on a retry).
    Succeeded,
    /// Returned an error on its last attempt.
    Failed,
    /// Panicked on its last attempt (the panic was caught).
    Panicked,
    /// An async handler ran out of its timeout on its last attempt (its future was dropped).
    TimedOut,
    /// Its circuit breaker was open: the call was not made.
    Rejected,
    /// A detached handler's queue took the event.
    Queued,
    /// A detached handler's queue refused the event.
    Refused,
}

impl fmt::Display for OutcomeKind {
    /// Lower case, as in `metrics()`: `succeeded`, `timed out`, `rejected`...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutcomeKind::Succeeded => "succeeded",
            OutcomeKind::Failed => "failed",
            OutcomeKind::Panicked => "panicked",
            OutcomeKind::TimedOut => "timed out",
            OutcomeKind::Rejected => "rejected (circuit open)",
            OutcomeKind::Queued => "queued",
            OutcomeKind::Refused => "refused",
        })
    }
}

impl HandlerOutcome {
    /// The handler this is about.
    pub fn handler(&self) -> &HandlerRef {
        match self {
            HandlerOutcome::Succeeded { handler, .. }
            | HandlerOutcome::Queued { handler }
            | HandlerOutcome::Refused { handler, .. } => handler,
            HandlerOutcome::Failed(error) => &error.handler,
        }
    }

    /// Which kind of outcome it is.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            HandlerOutcome::Succeeded { .. } => OutcomeKind::Succeeded,
            HandlerOutcome::Queued { .. } => OutcomeKind::Queued,
            HandlerOutcome::Refused { .. } => OutcomeKind::Refused,
            HandlerOutcome::Failed(error) if error.panic().is_some() => OutcomeKind::Panicked,
            HandlerOutcome::Failed(error) if error.timeout().is_some() => OutcomeKind::TimedOut,
            HandlerOutcome::Failed(error) if error.circuit_open().is_some() => {
                OutcomeKind::Rejected
            }
            HandlerOutcome::Failed(_) => OutcomeKind::Failed,
        }
    }

    /// Calls made during this publish: 1 plus the retries; 0 when none was (a rejection by an
    /// open circuit, a detached handler's queue, whose worker makes the calls).
    pub fn attempts(&self) -> u32 {
        match self {
            HandlerOutcome::Succeeded { attempts, .. } => *attempts,
            HandlerOutcome::Failed(error) => error.attempts,
            HandlerOutcome::Queued { .. } | HandlerOutcome::Refused { .. } => 0,
        }
    }

    /// Whether the handler was called more than once (retried).
    pub fn retried(&self) -> bool {
        self.attempts() > 1
    }

    /// Whether the handler ran (at least one call was made).
    pub fn ran(&self) -> bool {
        self.attempts() > 0
    }

    /// Whether this outcome became a dead letter.
    pub fn dead_lettered(&self) -> bool {
        matches!(self, HandlerOutcome::Failed(error) if error.dead_lettered)
    }

    /// The failure, if it is one.
    pub fn error(&self) -> Option<&HandlerError> {
        match self {
            HandlerOutcome::Failed(error) => Some(error),
            _ => None,
        }
    }

    /// What a detached handler's queue did with a push.
    pub(super) fn pushed<T>(handler: HandlerRef, outcome: &PushOutcome<T>) -> HandlerOutcome {
        let reason = match outcome {
            PushOutcome::Enqueued | PushOutcome::EnqueuedEvicting(_) => {
                return HandlerOutcome::Queued { handler };
            }
            PushOutcome::Rejected(_) => DropReason::Rejected,
            PushOutcome::TimedOut(_) => DropReason::TimedOut,
            PushOutcome::Closed(_) => DropReason::Closed,
        };
        HandlerOutcome::Refused { handler, reason }
    }
}
