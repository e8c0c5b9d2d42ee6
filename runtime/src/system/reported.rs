//! Reported publishes: [`PublishFuture::reported`](super::PublishFuture::reported) and the
//! [`PublishReport`] it returns, every handler's outcome in dispatch order.
//!
//! A reported publish takes the path a publish that waits takes (in flight from the start,
//! each static handler through the one invoke step, the bus's walk), with a tally that keeps
//! each outcome; a publish that is not reported never looks at any of it.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::bus::{Carried, HandlerOutcome, OutcomeKind, Outgoing, StaticValue, Tally, TopicRef};
use crate::linked::{BoxFuture, Call, HandlerError, HandlerErrors, HandlerRef, TableCore};

use super::reports::refusal;
use super::{Error, Published, SystemRef};

/// What one publish did, handler by handler: the result of
/// [`PublishFuture::reported`](super::PublishFuture::reported).
///
/// Every handler the event reached has one [`HandlerOutcome`], in dispatch order: static
/// handlers (`#[handler]`, `#[on]`) first, then dynamic subscriptions by priority. Each says
/// whether the handler succeeded, failed, panicked, timed out or was rejected by its circuit,
/// how many attempts it took and whether it became a dead letter; a detached handler's says
/// whether its queue took the event. [`into_result`](Self::into_result) gives what the
/// publish would have returned without the report.
///
/// ```
/// use staticbus::{BoxError, DynamicEvent, EventRef, EventSystem, OutcomeKind};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = EventSystem::builder().build()?;
/// let _ok = system.on("orders.*", |_: &EventRef<'_>| {})?;
/// let _bad = system.on("orders.*", |_: &EventRef<'_>| -> Result<(), BoxError> {
///     Err("no stock".into())
/// })?;
///
/// let report = system
///     .publish_dynamic(DynamicEvent::builder("orders.placed").build()?)
///     .reported()
///     .await;
/// assert_eq!(report.handlers().len(), 2);
/// assert_eq!(report.count(OutcomeKind::Succeeded), 1);
/// assert_eq!(report.count(OutcomeKind::Failed), 1);
/// assert!(report.into_result().is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PublishReport {
    event: Cow<'static, str>,
    handlers: Vec<HandlerOutcome>,
    handled: usize,
    enqueued: usize,
    problem: Option<Error>,
}

impl PublishReport {
    /// The report of a publish whose dispatch ran: `handlers` (the static ones') then what
    /// the bus's tally kept.
    fn new(
        event: Cow<'static, str>,
        mut handlers: Vec<HandlerOutcome>,
        mut tally: Tally,
        problem: Option<Error>,
    ) -> PublishReport {
        handlers.append(&mut tally.take_report());
        let handled = handlers
            .iter()
            .filter(|outcome| outcome.kind() == OutcomeKind::Succeeded)
            .count();
        let problem = problem.or_else(|| refusal(&tally, || event.clone()));
        PublishReport {
            handled,
            enqueued: tally.enqueued,
            event,
            handlers,
            problem,
        }
    }

    /// The report of a publish that dispatched nothing, for `problem`.
    fn refused(event: Cow<'static, str>, problem: Error) -> PublishReport {
        PublishReport {
            event,
            handlers: Vec::new(),
            handled: 0,
            enqueued: 0,
            problem: Some(problem),
        }
    }

    /// The report of a publish that was already polled when it was asked for one: its
    /// result, with its failures, and no entry for the handlers that succeeded.
    fn of_result(result: Result<Published, Error>) -> PublishReport {
        match result {
            Ok(published) => PublishReport {
                event: Cow::Borrowed(""),
                handlers: Vec::new(),
                handled: published.handled(),
                enqueued: published.enqueued(),
                problem: None,
            },
            Err(Error::Handlers(failed)) => PublishReport {
                event: failed.event,
                handlers: failed
                    .errors
                    .into_iter()
                    .map(HandlerOutcome::Failed)
                    .collect(),
                handled: 0,
                enqueued: 0,
                problem: None,
            },
            Err(problem) => PublishReport::refused(Cow::Borrowed(""), problem),
        }
    }

    /// The event's name (static) or topic (dynamic).
    pub fn event(&self) -> &str {
        &self.event
    }

    /// Every handler's outcome, in dispatch order.
    pub fn handlers(&self) -> &[HandlerOutcome] {
        &self.handlers
    }

    /// The outcome of `handler`, if the event reached it.
    pub fn outcome(&self, handler: &str) -> Option<&HandlerOutcome> {
        self.handlers
            .iter()
            .find(|outcome| outcome.handler().name() == handler)
    }

    /// How many outcomes are of `kind`.
    pub fn count(&self, kind: OutcomeKind) -> usize {
        self.handlers
            .iter()
            .filter(|outcome| outcome.kind() == kind)
            .count()
    }

    /// Handlers that ran and returned `Ok` (as [`Published::handled`]).
    pub fn handled(&self) -> usize {
        self.handled
    }

    /// Buffers that took the event: pull subscribers' and detached handlers' queues (as
    /// [`Published::enqueued`]).
    pub fn enqueued(&self) -> usize {
        self.enqueued
    }

    /// The failures (errors, panics, timeouts, rejections by an open circuit), in dispatch
    /// order.
    pub fn failures(&self) -> impl Iterator<Item = &HandlerError> {
        self.handlers.iter().filter_map(HandlerOutcome::error)
    }

    /// Outcomes that became dead letters.
    pub fn dead_lettered(&self) -> usize {
        self.failures().filter(|error| error.dead_lettered).count()
    }

    /// What went wrong that is not a handler's failure: the system was shut down, the
    /// payload was over the limit, or buffers refused the event (a backpressure error, or
    /// `DroppedAtShutdown`).
    pub fn problem(&self) -> Option<&Error> {
        self.problem.as_ref()
    }

    /// True when no handler failed and nothing else went wrong.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none() && self.failures().next().is_none()
    }

    /// What the publish returns without a report: `Ok` with its counts, or the failures of
    /// its handlers ([`Error::Handlers`]), else its [`problem`](Self::problem).
    pub fn into_result(self) -> Result<Published, Error> {
        let errors: Vec<HandlerError> = self
            .handlers
            .into_iter()
            .filter_map(|outcome| match outcome {
                HandlerOutcome::Failed(error) => Some(error),
                _ => None,
            })
            .collect();
        if !errors.is_empty() {
            let event = self.event;
            return Err(HandlerErrors { event, errors }.into());
        }
        match self.problem {
            Some(problem) => Err(problem),
            None => Ok(Published::from_counts(self.handled, self.enqueued)),
        }
    }
}

impl fmt::Display for PublishReport {
    /// One line per handler: `name: kind (attempts)`, then the problem if there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "publish of {:?}:", self.event)?;
        for outcome in &self.handlers {
            let name = outcome.handler().name();
            write!(f, "\n  {name}: {}", outcome.kind())?;
            if outcome.retried() {
                write!(f, " after {} attempts", outcome.attempts())?;
            }
            if outcome.dead_lettered() {
                f.write_str(", dead-lettered")?;
            }
        }
        if self.enqueued > 0 {
            write!(f, "\n  enqueued in {} buffer(s)", self.enqueued)?;
        }
        if let Some(problem) = &self.problem {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// The future [`PublishFuture::reported`](super::PublishFuture::reported) returns.
#[must_use = "a publish does nothing until it is awaited"]
pub struct ReportedPublish<'a>(BoxFuture<'a, PublishReport>);

impl<'a> ReportedPublish<'a> {
    /// The report of `started`, a publish already polled (see `PublishFuture::reported`).
    pub(super) fn of_started(started: BoxFuture<'a, Result<Published, Error>>) -> Self {
        ReportedPublish(Box::pin(
            async move { PublishReport::of_result(started.await) },
        ))
    }
}

impl Future for ReportedPublish<'_> {
    type Output = PublishReport;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<PublishReport> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for ReportedPublish<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportedPublish").finish_non_exhaustive()
    }
}

impl<'a> SystemRef<'a> {
    /// A static publish, reported: counted in flight from the start, after a permit if
    /// publishes are limited; each static handler through the invoke step, in order (an
    /// async one awaited before the next), then the bus's walk with a reporting tally.
    pub(crate) fn publish_static_reported(
        &self,
        table: &'static TableCore,
        call: &'a Call<'a>,
        value: StaticValue,
        size: usize,
    ) -> ReportedPublish<'a> {
        let this = *self;
        ReportedPublish(Box::pin(async move {
            let name = table.desc().name();
            let Ok(in_flight) = this.bus.begin() else {
                return PublishReport::refused(name.into(), Error::Shutdown);
            };
            let _permit = this.bus.permit().await;
            let mut handlers = Vec::new();
            if !this.zero_copy {
                let timeout = this.bus.settings.handler_timeout;
                let jitter = |ceiling| this.bus.jitter(ceiling);
                let each = |info, result: Result<u32, HandlerError>| {
                    if let Ok(0) = result {
                        return; // its plugin is not running: not reached
                    }
                    handlers.push(match result {
                        Ok(attempts) => HandlerOutcome::Succeeded {
                            handler: HandlerRef::Static(info),
                            attempts,
                        },
                        Err(error) => HandlerOutcome::Failed(error),
                    });
                };
                let view = value.view(table);
                view.publish_each(this.host, call, timeout, jitter, each)
                    .await;
            }
            let mut tally = Tally::reported();
            let mut problem = None;
            if this.bus.static_match(table.built().index()) {
                let route = this.bus.with_route(TopicRef::Static(name), Arc::clone);
                let event = Carried::from_value(value, size);
                let dispatched = this
                    .bus
                    .deliver_reported(this.host, call, &route, event, in_flight, &mut tally);
                problem = this.finish(call, dispatched, &mut tally).await.err();
            }
            PublishReport::new(name.into(), handlers, tally, problem)
        }))
    }

    /// A dynamic publish, reported: refused if its payload is over the limit; else counted
    /// in flight from the start, after a permit if publishes are limited, and walked with a
    /// reporting tally.
    pub(crate) fn publish_dynamic_reported<P>(
        &self,
        call: &'a Call<'a>,
        event: P,
    ) -> ReportedPublish<'a>
    where
        P: Outgoing + Send + 'a,
    {
        if !call.replay {
            self.persist_dynamic(event.as_event());
        }
        let this = *self;
        ReportedPublish(Box::pin(async move {
            let topic = event.as_event().topic().to_string();
            if let Err(too_large) = this.check_payload(event.as_event()) {
                return PublishReport::refused(topic.into(), too_large);
            }
            let Ok(in_flight) = this.bus.begin() else {
                return PublishReport::refused(topic.into(), Error::Shutdown);
            };
            let _permit = this.bus.permit().await;
            let mut tally = Tally::reported();
            let route = this.bus.with_route(event.topic(), Arc::clone);
            let event = Carried::dynamic_event(event.into_shared());
            let dispatched = this
                .bus
                .deliver_reported(this.host, call, &route, event, in_flight, &mut tally);
            let problem = this.finish(call, dispatched, &mut tally).await.err();
            PublishReport::new(topic.into(), Vec::new(), tally, problem)
        }))
    }
}
