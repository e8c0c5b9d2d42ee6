//! Detached async handlers: a subscription whose events wait in its own bounded queue (the
//! system's backpressure strategy, exact accounting, as any pull subscriber's) for its
//! workers, so the `publish` that reaches it does not wait for the call.
//!
//! An event counts as delivered once queued, as for a pull subscriber; if the call then
//! fails, it moves from delivered to failed (and it becomes a dead letter), so that
//! `delivered + dropped + failed = matched` holds once the queue is drained. The worker, one
//! task that takes queued events while fewer than `concurrency` calls run and drives those
//! calls (a call's wake-up wakes that one task: no task per call in flight), starts on the
//! Tokio runtime of the first publish that reaches the handler; it holds the system weakly,
//! and ends when the queue is closed (unsubscribe, shutdown, the system dropped) and its
//! calls have finished.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use crate::dynamic::EventRef;
use crate::linked::invoke::{self, Outcome, Tried};
use crate::linked::{Admission, Call, HandlerError, HandlerTimeout, Host, WeakHost};

use super::Bus;
use super::item::Item;
use super::metrics::DropReason;
use super::subscription::{AsyncHandler, Pull, Sub, SubKind};
use crate::queue::TryRecv;

/// A detached handler's side of the bus.
pub(crate) struct Detached {
    pub(crate) handler: AsyncHandler,
    /// Its queue (untyped: the handler takes a `DynamicEvent`).
    pub(crate) queue: Pull,
    /// Calls at once, at most.
    pub(crate) concurrency: usize,
    started: AtomicBool,
    /// Calls running now.
    running: AtomicUsize,
}

impl Detached {
    pub(crate) fn new(handler: AsyncHandler, queue: Pull, concurrency: usize) -> Detached {
        Detached {
            handler,
            queue,
            concurrency: concurrency.max(1),
            started: AtomicBool::new(false),
            running: AtomicUsize::new(0),
        }
    }

    /// Starts the worker the first time an event is queued (on the publish's runtime).
    #[inline]
    pub(crate) fn start(&self, bus: &Bus, host: &Host, sub: &Arc<Sub>) {
        if !self.started.load(Ordering::Acquire) {
            self.start_workers(bus, host, sub);
        }
    }

    #[cold]
    #[inline(never)]
    fn start_workers(&self, bus: &Bus, host: &Host, sub: &Arc<Sub>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Not on a Tokio runtime: the event waits in the queue for a publish that is.
            return;
        };
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let worker = Worker {
            bus: bus.me.clone(),
            host: host.downgrade(),
            sub: Arc::clone(sub),
        };
        runtime.spawn(worker.run());
    }

    /// Calls running now.
    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }
}

/// The worker of a detached handler.
struct Worker {
    bus: Weak<Bus>,
    host: WeakHost,
    sub: Arc<Sub>,
}

impl Worker {
    /// Takes queued events while fewer than `concurrency` calls run, and drives the calls,
    /// all in this one task; returns when the queue is closed and every call finished (or
    /// the system is gone).
    async fn run(self) {
        use futures_util::StreamExt as _;
        let SubKind::Detached(detached) = &self.sub.kind else {
            return;
        };
        let buffer = &detached.queue.buffer;
        let mut calls = futures_util::stream::FuturesUnordered::new();
        let mut open = true;
        loop {
            // What is queued, without waiting, while there is room.
            while open && calls.len() < detached.concurrency {
                match buffer.try_recv() {
                    Ok(item) => {
                        let Some(call) = self.call(detached, item) else {
                            return;
                        };
                        calls.push(call);
                    }
                    Err(TryRecv::Empty) => break,
                    Err(TryRecv::Closed) => open = false,
                }
            }
            // Then wait: for the next event when nothing runs; for a call to end or an
            // event to arrive, whichever comes first, when there is room (`recv` is
            // cancel-safe); for a call to end otherwise.
            let arrived = if calls.is_empty() {
                if !open {
                    return;
                }
                Some(buffer.recv().await)
            } else if open && calls.len() < detached.concurrency {
                tokio::select! {
                    biased;
                    _ = calls.next() => None,
                    item = buffer.recv() => Some(item),
                }
            } else {
                calls.next().await;
                None
            };
            match arrived {
                Some(Some(item)) => {
                    let Some(call) = self.call(detached, item) else {
                        return;
                    };
                    calls.push(call);
                }
                Some(None) => open = false,
                None => {}
            }
        }
    }

    /// The call of the handler on `item`, counted running until it ends; `None` when the
    /// system is gone.
    fn call<'w>(
        &'w self,
        detached: &'w Detached,
        item: Item,
    ) -> Option<impl Future<Output = ()> + 'w> {
        let (Some(bus), Some(host)) = (self.bus.upgrade(), self.host.upgrade()) else {
            return None;
        };
        detached.running.fetch_add(1, Ordering::AcqRel);
        let sub = &self.sub;
        Some(async move {
            bus.call_detached(&host, sub, detached, item).await;
            detached.running.fetch_sub(1, Ordering::AcqRel);
            bus.drain.detached_done();
        })
    }
}

impl Bus {
    /// One call of a detached handler on a queued event, through the invoke step (timeout,
    /// retries, breaker, panics caught); a failure moves the event from delivered to failed
    /// and is buried.
    async fn call_detached(&self, host: &Host, sub: &Sub, detached: &Detached, item: Item) {
        let Item::Dynamic(event) = item else {
            return;
        };
        // The call of the publish that queued it (see `Item::detached`).
        let cause = event.cause.as_deref();
        let call = Call {
            causation: cause.and_then(|c| c.causation.as_deref()),
            correlation: cause.and_then(|c| c.correlation.as_deref()),
            attempt: 1,
            replay: event.replayed,
            event: None,
        };
        let _permit = self.permit().await;
        let view = EventRef::dynamic_ref(&event);
        let mut probe = false;
        if let Some(breaker) = &sub.breaker {
            match self.ask_breaker(host, &call, sub, breaker) {
                Admission::Call => {}
                Admission::Probe => probe = true,
                Admission::Reject => {
                    if sub.metered() && self.settings.metrics {
                        self.topic_stats(event.topic().as_str())
                            .undeliver(DropReason::CircuitOpen);
                    }
                    let mut error = HandlerError::rejected(sub.handler_ref(), breaker);
                    self.bury_view(host, &call, Some(view), &mut error);
                    return;
                }
            }
        }
        let handler = &detached.handler;
        let started = invoke::start_async(|| handler(host, &call, Arc::clone(&event)));
        let (outcome, tried) = match started {
            Ok(future) => {
                let again = || Some(Arc::clone(&event));
                let topic = event.topic().as_str();
                self.await_call(host, &call, sub, topic, future, again)
                    .await
            }
            Err(outcome) => (outcome, Tried::once()),
        };
        if let Some(breaker) = &sub.breaker
            && !outcome.is_skipped()
        {
            let succeeded = matches!(outcome, Outcome::Handled);
            self.tell_breaker(host, &call, sub, breaker, succeeded, probe);
        }
        if matches!(outcome, Outcome::Handled) && tried.attempts > 1 {
            self.handler_stats
                .retried(&sub.handler_ref(), tried.attempts);
        }
        if let Outcome::Failed(source) = outcome
            && !invoke::skipped(&source)
        {
            if sub.metered() && self.settings.metrics {
                let timed_out = source.is::<HandlerTimeout>();
                self.topic_stats(event.topic().as_str())
                    .unhandled(timed_out);
            }
            let mut error = HandlerError::failed(sub.handler_ref(), source, tried);
            self.bury_view(host, &call, Some(view), &mut error);
        }
    }
}
