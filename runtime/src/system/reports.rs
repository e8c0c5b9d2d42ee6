//! What the system's calls report: `Published`, health, shutdown.

use std::borrow::Cow;

use crate::bus::{SubscriptionId, Tally};
use crate::linked::{Emitted, HandlerErrors};

use super::Error;

/// What [`EventSystem::publish`](crate::EventSystem::publish) did when every handler succeeded
/// and every buffer took the event.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    handled: usize,
    enqueued: usize,
}

impl Published {
    /// Handlers (sync and async, static and dynamic) that ran and returned `Ok`.
    pub fn handled(&self) -> usize {
        self.handled
    }

    /// Pull subscribers ([`EventSubscriber`](crate::EventSubscriber)) that buffered the event.
    pub fn enqueued(&self) -> usize {
        self.enqueued
    }

    /// `handled` handlers ran, `enqueued` buffers took the event.
    #[inline(always)]
    pub(crate) fn from_counts(handled: usize, enqueued: usize) -> Published {
        Published { handled, enqueued }
    }

    /// `handled` handlers ran, no buffer was involved.
    #[inline]
    pub(crate) fn handled_only(handled: usize) -> Published {
        Published {
            handled,
            enqueued: 0,
        }
    }

    /// Both reports summed (a batch).
    pub(crate) fn plus(self, other: Published) -> Published {
        Published {
            handled: self.handled + other.handled,
            enqueued: self.enqueued + other.enqueued,
        }
    }
}

/// The result of a publish: `handled` static handlers and the failures of the static walk,
/// then what the bus did. `event` names the event, and is only called when something failed.
///
/// Handler errors come first; then a shutdown that dropped the event for waiting publishers;
/// then buffers that refused it.
#[inline(always)]
pub(crate) fn published(
    event: impl FnOnce() -> Cow<'static, str>,
    handled: usize,
    errors: Vec<crate::linked::HandlerError>,
    tally: &mut Tally,
) -> Result<Published, Error> {
    if errors.is_empty() && tally.succeeded() {
        return Ok(Published {
            handled: handled + tally.handled,
            enqueued: tally.enqueued,
        });
    }
    not_published(event(), handled, errors, std::mem::take(tally))
}

/// [`published`] when something failed or was refused.
#[cold]
#[inline(never)]
fn not_published(
    event: Cow<'static, str>,
    handled: usize,
    mut errors: Vec<crate::linked::HandlerError>,
    mut tally: Tally,
) -> Result<Published, Error> {
    errors.append(&mut tally.take_errors());
    let name = || match tally.topic() {
        Some(topic) => Cow::Owned(topic.to_owned()),
        None => event.clone(),
    };
    if !errors.is_empty() {
        return Err(HandlerErrors {
            event: name(),
            errors,
        }
        .into());
    }
    if let Some(refused) = refusal(&tally, name) {
        return Err(refused);
    }
    Ok(Published {
        handled: handled + tally.handled,
        enqueued: tally.enqueued,
    })
}

/// The error for buffers that did not take the event, if any did not: a shutdown that
/// dropped it for waiting publishers first, then full buffers. `name` names the event.
pub(super) fn refusal(tally: &Tally, name: impl Fn() -> Cow<'static, str>) -> Option<Error> {
    if tally.shut_out > 0 {
        return Some(Error::DroppedAtShutdown {
            topic: name().into_owned(),
            dropped: tally.shut_out,
            enqueued: tally.enqueued,
        });
    }
    if tally.rejected + tally.timed_out > 0 {
        return Some(tally.backpressure(&name()).into());
    }
    None
}

/// `emit`'s result with what the bus did for the same event.
#[inline(always)]
pub(crate) fn emitted_with(mut emitted: Emitted, tally: Tally) -> Emitted {
    match tally.into_handled_skipped() {
        Ok((handled, skipped)) => {
            emitted.add_counts(handled, skipped);
            emitted
        }
        Err(tally) => emitted_failing(emitted, tally),
    }
}

/// [`emitted_with`] when some dynamic handler failed.
#[cold]
#[inline(never)]
fn emitted_failing(mut emitted: Emitted, mut tally: Tally) -> Emitted {
    let errors = tally.take_errors();
    emitted.add(tally.handled, tally.skipped, errors);
    emitted
}

/// What [`EventSystem::health_check`](crate::EventSystem::health_check) found.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// Everything that needs attention; empty when healthy.
    pub issues: Vec<HealthIssue>,
}

impl HealthReport {
    /// True when there is nothing to report.
    pub fn is_healthy(&self) -> bool {
        self.issues.is_empty()
    }
}

/// One finding of a health check.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HealthIssue {
    /// The system was shut down.
    Closed,
    /// The global buffer budget is fuller than the threshold.
    BufferAboveThreshold {
        /// Fill, 0..=1.
        utilisation: f64,
        /// The configured threshold.
        threshold: f64,
    },
    /// A pull subscriber is not keeping up: its buffer is fuller than the threshold.
    LaggingSubscriber {
        /// Which one.
        subscription: SubscriptionId,
        /// Its pattern.
        pattern: String,
        /// Events waiting in its buffer.
        buffered: usize,
        /// Its capacity.
        capacity: usize,
    },
}

/// What [`EventSystem::shutdown`](crate::EventSystem::shutdown) did.
///
/// `drained` is true exactly when `in_flight` is 0 and no detached handler had work left:
/// all describe the deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every publish in flight finished before the deadline.
    pub drained: bool,
    /// Publishes still in flight (running handlers or waiting) at the deadline.
    pub in_flight: usize,
    /// Events left in pull subscribers' buffers, still receivable.
    pub buffered: usize,
    /// Detached handlers that had work left at the deadline, by handler: queued events
    /// cancelled (counted dropped, `Closed`) and calls still running.
    pub detached: Vec<DetachedLeft>,
    /// Every plugin's state after the shutdown (`Stopped`, or `Failed` with why).
    pub plugins: Vec<super::PluginStatus>,
}

/// A detached handler's work left at a shutdown's deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DetachedLeft {
    /// The handler.
    pub handler: String,
    /// Events still queued for it, cancelled.
    pub cancelled: usize,
    /// Calls of it still running (they finish on their own; their outcome is counted).
    pub running: usize,
}
