//! What the queue tests share: the overflow strategies in short, timing constants, helpers
//! to wait and poll, one budget of every meter layout, and what tests read of a buffer, a
//! push outcome or evicted items beyond the crate-visible API.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use crate::queue::budget::Held;
use crate::queue::outcome::Evicted;
use crate::queue::{Budget, Buffer, Overflow, PushOutcome};

/// Wait for room, with no deadline.
pub(super) const BLOCK: Overflow = Overflow::Block { deadline: None };
/// Hand the new item back.
pub(super) const NEWEST: Overflow = Overflow::DropNewest;
/// Evict the oldest items.
pub(super) const OLDEST: Overflow = Overflow::DropOldest;

/// Long enough for a spawned task to reach its wait; short enough to keep tests quick.
pub(super) const SETTLE: Duration = Duration::from_millis(20);

/// A test that waits longer than this has hung.
pub(super) const HANG: Duration = Duration::from_secs(10);

/// Wait for room, giving up `d` from now.
pub(super) fn block_for(d: Duration) -> Overflow {
    Overflow::Block {
        deadline: Some(Instant::now() + d),
    }
}

/// One budget of each meter layout: no limit, an event limit, a byte limit, both (packed
/// into one word), both (under a lock).
pub(super) fn every_meter(events: usize, bytes: usize) -> [Arc<Budget>; 5] {
    [
        Budget::new(None, None),
        Budget::new(Some(events), None),
        Budget::new(None, Some(bytes)),
        Budget::new(Some(events), Some(bytes)),
        Budget::with_packing(Some(events), Some(bytes), false),
    ]
}

/// The outcome of a push that evicted `items`, oldest first.
pub(super) fn evicted<T>(items: impl IntoIterator<Item = T>) -> PushOutcome<T> {
    let mut items = items.into_iter();
    let first = items.next().expect("at least one evicted item");
    PushOutcome::EnqueuedEvicting(Evicted::new(first, items.collect()))
}

/// Receives everything buffered now, oldest first.
pub(super) fn contents<T>(buffer: &Buffer<T>) -> Vec<T> {
    let mut out = Vec::new();
    buffer.recv_batch(usize::MAX, &mut out);
    out
}

/// Polls `fut` once, outside any runtime.
pub(super) fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    pin!(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// Waits until `cond` holds, failing the test after [`HANG`].
pub(super) async fn until(mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(HANG, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("condition never held");
}

/// Waits for a spawned task, failing the test if it hangs (after [`HANG`]) or panicked.
pub(super) async fn join<T>(handle: tokio::task::JoinHandle<T>) -> T {
    tokio::time::timeout(HANG, handle)
        .await
        .expect("task hung")
        .expect("task panicked")
}

/// What tests read of a buffer beyond its crate-visible API.
pub(super) trait BufferExt {
    /// Declared bytes of the items buffered now.
    fn bytes(&self) -> usize;
    /// The budget this buffer draws on.
    fn budget(&self) -> &Arc<Budget>;
}

impl<T: Send> BufferExt for Buffer<T> {
    fn bytes(&self) -> usize {
        self.held().1
    }

    fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }
}

/// What tests ask of a push outcome.
pub(super) trait OutcomeExt {
    /// True when the item went into the buffer.
    fn is_enqueued(&self) -> bool;
}

impl<T> OutcomeExt for PushOutcome<T> {
    fn is_enqueued(&self) -> bool {
        matches!(self, Self::Enqueued | Self::EnqueuedEvicting(_))
    }
}

/// What tests ask of evicted items, through their iterators.
pub(super) trait EvictedExt<T> {
    /// How many items were evicted (at least one).
    fn len(&self) -> usize;
    /// The evicted items, oldest first.
    fn iter<'a>(&'a self) -> impl Iterator<Item = &'a T>
    where
        T: 'a;
    /// The evicted items in a `Vec`, oldest first.
    fn into_vec(self) -> Vec<T>;
}

impl<T> EvictedExt<T> for Evicted<T> {
    fn len(&self) -> usize {
        self.iter().count()
    }

    fn iter<'a>(&'a self) -> impl Iterator<Item = &'a T>
    where
        T: 'a,
    {
        self.into_iter()
    }

    fn into_vec(self) -> Vec<T> {
        self.into_iter().collect()
    }
}
