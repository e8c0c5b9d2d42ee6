//! Work in flight, and shutting down: refuse new publishes, wait for those running, close.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::Bus;
use super::metrics::DropReason;
use super::subscription::SubKind;

/// The bus's open/closed state and its count of publishes in flight.
pub(crate) struct Drain {
    closed: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

/// The bus is shut down: it accepts no more publishes or subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// What [`Bus::shutdown`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Drained {
    /// Publishes still in flight at the deadline; 0 when everything finished.
    pub(crate) in_flight: usize,
    /// Events left in pull subscribers' buffers.
    pub(crate) buffered: usize,
    /// Detached handlers with work left at the deadline: (handler, queued events cancelled,
    /// calls still running).
    pub(crate) detached: Vec<(String, usize, usize)>,
}

impl Drain {
    pub(crate) fn new() -> Drain {
        Drain {
            closed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }

    /// One load: whether `shutdown` started.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Refuses new work after shutdown; counts work in flight for the drain.
    #[inline]
    pub(crate) fn begin(&self) -> Result<InFlight<'_>, Closed> {
        let guard = self.enter();
        if self.is_closed() {
            return Err(Closed);
        }
        Ok(guard)
    }

    /// A detached handler's call ended: a shutdown waiting for the queues to drain looks
    /// again.
    pub(crate) fn detached_done(&self) {
        if self.is_closed() {
            self.idle.notify_waiters();
        }
    }

    /// Counts work in flight, closed or not (a push about to wait: its buffer is open, or
    /// will report `Closed`).
    #[inline]
    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self)
    }
}

/// Counts one publish in flight; the last one out after shutdown wakes the drain.
pub(crate) struct InFlight<'a>(&'a Drain);

impl Drop for InFlight<'_> {
    #[inline]
    fn drop(&mut self) {
        // SeqCst on both sides (here and in `shutdown`): either this sees `closed`, or
        // the shutdown sees the count at zero; never neither.
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 && self.0.is_closed() {
            self.0.idle.notify_waiters();
        }
    }
}

impl Bus {
    /// Stops accepting publishes, waits up to `deadline` for those in flight and for the
    /// detached handlers' queues to drain, then cancels what is still queued for them
    /// (counted dropped, `Closed`) and closes every pull subscriber's buffer (receivers
    /// still drain what is buffered).
    pub(crate) async fn shutdown(&self, deadline: Duration) -> Drained {
        let drain = &self.drain;
        drain.closed.store(true, Ordering::SeqCst);
        // `timeout` treats a deadline too far to represent as none.
        let finished = tokio::time::timeout(deadline, async {
            loop {
                let idle = drain.idle.notified();
                if drain.in_flight.load(Ordering::SeqCst) == 0 && self.detached_idle() {
                    break;
                }
                idle.await;
            }
        })
        .await
        .is_ok();
        let detached = self.cancel_detached();
        // Read once, before the buffers close: what the report says is what was true then.
        // (A publish refused after `closed` counts itself for a moment; one that finished
        // is 0; either way the wait's result decides.)
        let in_flight = if finished {
            0
        } else {
            drain.in_flight.load(Ordering::SeqCst)
        };
        Drained {
            in_flight,
            buffered: self.close_buffers(),
            detached,
        }
    }
}

impl Bus {
    /// Whether every detached handler's queue is empty and no call of one runs.
    fn detached_idle(&self) -> bool {
        self.lock_subs().iter().all(|sub| match &sub.kind {
            SubKind::Detached(d) => d.queue.buffer.is_empty() && d.running() == 0,
            _ => true,
        })
    }

    /// Cancels what is still queued for detached handlers (each event counted dropped,
    /// `Closed`); reports, by handler, what was cancelled and what still runs.
    fn cancel_detached(&self) -> Vec<(String, usize, usize)> {
        let detached: Vec<_> = self
            .lock_subs()
            .iter()
            .filter(|sub| matches!(sub.kind, SubKind::Detached(_)))
            .cloned()
            .collect();
        let mut left = Vec::new();
        for sub in detached {
            let SubKind::Detached(d) = &sub.kind else {
                continue;
            };
            let cancelled = d.queue.buffer.close_and_drain();
            for item in &cancelled {
                if sub.metered() {
                    self.undeliver(item, DropReason::Closed);
                }
            }
            let running = d.running();
            if !cancelled.is_empty() || running > 0 {
                left.push((
                    sub.handler_ref().name().into_owned(),
                    cancelled.len(),
                    running,
                ));
            }
        }
        left
    }
}
