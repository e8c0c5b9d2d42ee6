//! The one step that runs one handler, static or dynamic, and what it comes to.
//!
//! Every handler call of the crate goes through [`run`] (sync) or [`run_async`] (a future):
//! the `emit` table walk, `publish`, and the bus's route walk for run-time subscriptions. So
//! whatever applies to "one handler, one event" (isolating a panic, a timeout, a retry, a
//! circuit breaker, a tracing span) is written here once. Both are `#[inline(always)]`: on
//! `emit` the step costs nothing beyond the call itself.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::handler::{BoxError, HandlerInfo, HandlerResult};

/// What one handler call came to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// It ran and returned `Ok`.
    Handled,
    /// It ran and returned an error.
    Failed(BoxError),
}

impl From<HandlerResult> for Outcome {
    #[inline(always)]
    fn from(result: HandlerResult) -> Self {
        match result {
            Ok(()) => Outcome::Handled,
            Err(source) => Outcome::Failed(source),
        }
    }
}

/// Runs one sync handler call.
#[inline(always)]
pub(crate) fn run(call: impl FnOnce() -> HandlerResult) -> Outcome {
    Outcome::from(call())
}

/// Runs one async handler call to completion.
#[inline(always)]
pub(crate) async fn run_async<F>(call: F) -> Outcome
where
    F: Future<Output = HandlerResult>,
{
    Outcome::from(call.await)
}

/// Identifies one run-time subscription of one system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriptionId(pub(crate) u64);

impl SubscriptionId {
    /// The id as a number: unique within its system, increasing in subscription order.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// `#7`: reads well after a noun (`"subscription {id}"`).
impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Which handler an error came from.
#[derive(Debug, Clone)]
pub enum HandlerRef {
    /// A `#[handler]` function or `#[on]` method.
    Static(&'static HandlerInfo),
    /// A run-time subscription (`system.on(...)`).
    Subscription {
        /// Its id.
        id: SubscriptionId,
        /// Its pattern.
        pattern: Arc<str>,
    },
}

impl HandlerRef {
    /// The static handler's description, for `#[handler]` / `#[on]` handlers.
    pub fn static_info(&self) -> Option<&'static HandlerInfo> {
        match self {
            HandlerRef::Static(info) => Some(info),
            HandlerRef::Subscription { .. } => None,
        }
    }

    /// A human name: the static handler's path, or the subscription and its pattern.
    pub fn name(&self) -> Cow<'static, str> {
        match self {
            HandlerRef::Static(info) => Cow::Borrowed(info.function()),
            HandlerRef::Subscription { id, pattern } => {
                Cow::Owned(format!("subscription {id} ({pattern})"))
            }
        }
    }
}

/// The handlers of one dispatch that returned an error, in dispatch order.
#[derive(Debug, thiserror::Error)]
#[error("{} handler(s) of event {event:?} failed: {}", errors.len(), DisplayList(errors))]
pub struct HandlerErrors {
    /// The event's name or topic.
    pub event: Cow<'static, str>,
    /// Each failure, in dispatch order.
    pub errors: Vec<HandlerError>,
}

/// One handler's error, with the handler it came from.
#[derive(Debug, thiserror::Error)]
#[error("{} returned an error: {source}", handler.name())]
pub struct HandlerError {
    /// The handler that failed.
    pub handler: HandlerRef,
    /// What it returned.
    #[source]
    pub source: BoxError,
}

/// Items separated by `"; "`.
pub(crate) struct DisplayList<'a, T>(pub(crate) &'a [T]);

impl<T: fmt::Display> fmt::Display for DisplayList<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            item.fmt(f)?;
        }
        Ok(())
    }
}
