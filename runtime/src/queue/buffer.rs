//! [`Buffer`]: the bounded queue of one pull subscriber. Pushing (with the [`Overflow`]
//! strategies), receiving, waiting for room or for an item, and closing.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use super::budget::{Budget, Held};
use super::outcome::{Evicted, Overflow, PushOutcome, RecvTimeout, TryRecv};
use super::sync::{Waiting, lock};

/// Slots a new buffer allocates up front; larger capacities grow on demand, once.
pub(super) const PREALLOCATED_MAX: usize = 1024;

/// The bounded buffer of one pull subscriber: the bus pushes, the receiver takes items out.
/// Shared as `Arc<Buffer<T>>`; any number of tasks may push and receive concurrently.
pub(crate) struct Buffer<T> {
    /// Most items held at once; at least 1.
    capacity: usize,
    /// Shared by every buffer of the system.
    pub(super) budget: Arc<Budget>,
    /// The items and their declared bytes.
    state: Mutex<State<T>>,
    /// Pushers waiting for a free slot of this buffer. Incremented under `state`'s lock.
    pub(super) push_waiters: AtomicUsize,
    /// Receivers waiting for an item. Incremented under `state`'s lock.
    pub(super) recv_waiters: AtomicUsize,
    /// Wakes blocked pushers. A receive that makes a full buffer not full wakes the first
    /// (`notify_one`, which Tokio serves in FIFO order); that pusher, once it has pushed,
    /// wakes the next if a slot is still free, and so on; one that cannot use its slot passes
    /// it on. Closing wakes them all. So one wake-up is in flight at a time however fast the
    /// receiver drains: no `notify` per item. (A notified pusher whose future is dropped
    /// before it runs hands the wake-up to the next waiter: Tokio's `Notified` does that.)
    not_full: Notify,
    /// Wakes waiting receivers, the same way: a push into an empty buffer wakes the first;
    /// a receiver that leaves items behind wakes the next; closing wakes them all.
    not_empty: Notify,
}

/// What [`Buffer::state`] guards.
struct State<T> {
    /// Items, oldest first, each with its declared bytes.
    queue: VecDeque<(T, usize)>,
    /// Sum of the declared bytes in `queue`.
    bytes: usize,
    /// No more pushes; set once.
    closed: bool,
}

/// What a blocked pusher waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// A free slot of this buffer.
    Slot,
    /// A release of the shared budget, by any buffer.
    Budget,
}

impl<T: Send + 'static> Buffer<T> {
    /// An empty, open buffer of `capacity` slots drawing on `budget`.
    ///
    /// The builder rejects a zero capacity with an error; should one get here anyway it is a
    /// bug, caught by a `debug_assert!` in debug builds and treated as 1 in release builds.
    pub(crate) fn new(capacity: usize, budget: Arc<Budget>) -> Arc<Self> {
        debug_assert!(capacity > 0, "the builder validates channel_capacity >= 1");
        let capacity = capacity.max(1);
        let buffer = Arc::new(Buffer {
            capacity,
            budget,
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(capacity.min(PREALLOCATED_MAX)),
                bytes: 0,
                closed: false,
            }),
            push_waiters: AtomicUsize::new(0),
            recv_waiters: AtomicUsize::new(0),
            not_full: Notify::new(),
            not_empty: Notify::new(),
        });
        let held: Weak<Self> = Arc::downgrade(&buffer);
        buffer.budget.register(held);
        buffer
    }
}

impl<T: Send> Held for Buffer<T> {
    fn held(&self) -> (usize, usize) {
        let st = self.lock();
        (st.queue.len(), st.bytes)
    }
}

impl<T> Buffer<T> {
    /// Pushes `item`, which counts as `bytes` against the budget, handling a full buffer or
    /// budget as `overflow` says.
    ///
    /// Only [`Overflow::Block`] waits: until a receiver of this buffer frees a slot, any buffer
    /// releases budget, the buffer closes, or the deadline passes. Blocked pushers get free
    /// slots in the order they started waiting, and a new blocking pusher queues behind them
    /// (only a push that does not wait, or one giving up at its deadline, may take a free
    /// slot first; a pusher that loses its slot that way queues again). Pushers waiting for
    /// budget all retry on every release, so small items may get in before large ones.
    ///
    /// Dropping the future drops the item. Waiting with a deadline needs the Tokio timer (a
    /// runtime with time enabled), like every Tokio timeout; a deadline already past does not.
    #[inline]
    pub(crate) fn push(
        &self,
        item: T,
        bytes: usize,
        overflow: Overflow,
    ) -> impl Future<Output = PushOutcome<T>> {
        self.push_with(item, bytes, overflow, || {})
    }

    /// [`push`](Self::push), calling `between_refusal_and_registration` whenever a blocking
    /// push has been refused by the budget and is about to count itself as a waiter for it,
    /// with this buffer's lock held. That is the window a lost wake-up would slip through: a
    /// release there notifies nobody, so only the retry after registering can see it. `push`
    /// passes a no-op; a test passes a release of budget.
    pub(super) async fn push_with(
        &self,
        item: T,
        bytes: usize,
        overflow: Overflow,
        mut between_refusal_and_registration: impl FnMut(),
    ) -> PushOutcome<T> {
        let Overflow::Block { deadline } = overflow else {
            return self.try_push(item, bytes, overflow);
        };
        let item = {
            let st = self.lock();
            if st.closed {
                return PushOutcome::Closed(item);
            }
            if !self.budget.can_ever_fit(bytes) {
                return PushOutcome::Rejected(item);
            }
            // Queue behind pushers already waiting for a slot rather than overtake them.
            if st.queue.len() < self.capacity
                && self.push_waiters.load(SeqCst) == 0
                && self.budget.reserve(1, bytes)
            {
                return self.enqueue(st, item, bytes);
            }
            item
        };
        if deadline.is_some_and(|deadline| deadline <= Instant::now()) {
            return PushOutcome::TimedOut(item);
        }
        let mut sleep = pin!(deadline.map(tokio::time::sleep_until));
        let mut first = true;
        let mut woken_for_slot = false;
        loop {
            let mut slot_freed = pin!(self.not_full.notified());
            let mut budget_freed = pin!(self.budget.released.notified());
            let (wait, waiting) = {
                let st = self.lock();
                if st.closed {
                    return PushOutcome::Closed(item);
                }
                // Only a newcomer defers to earlier waiters; a woken waiter takes its turn.
                let behind_others = first && self.push_waiters.load(SeqCst) > 0;
                first = false;
                if behind_others || st.queue.len() >= self.capacity {
                    // Registered under the lock: a receiver that frees a slot after this sees
                    // the count and notifies.
                    slot_freed.as_mut().enable();
                    (Wait::Slot, Waiting::new(&self.push_waiters))
                } else {
                    if self.budget.reserve(1, bytes) {
                        return self.enqueue(st, item, bytes);
                    }
                    between_refusal_and_registration();
                    // Count ourselves, then retry: a release either happened before the retry
                    // (and the retry sees it) or sees the count and notifies.
                    let waiting = Waiting::new(&self.budget.waiters);
                    if self.budget.reserve(1, bytes) {
                        drop(waiting);
                        return self.enqueue(st, item, bytes);
                    }
                    drop(st);
                    if woken_for_slot && self.push_waiters.load(SeqCst) > 0 {
                        // We were handed a free slot we cannot use (not enough budget for our
                        // item): pass it on, the next pusher's item may be smaller.
                        self.not_full.notify_one();
                    }
                    (Wait::Budget, waiting)
                }
            };
            let woken = poll_fn(|cx| {
                let notified = match wait {
                    Wait::Slot => slot_freed.as_mut().poll(cx),
                    Wait::Budget => budget_freed.as_mut().poll(cx),
                };
                if notified.is_ready() {
                    return Poll::Ready(true);
                }
                if expired(sleep.as_mut(), cx) {
                    Poll::Ready(false)
                } else {
                    Poll::Pending
                }
            })
            .await;
            drop(waiting);
            if !woken {
                return match self.try_push(item, bytes, Overflow::DropNewest) {
                    PushOutcome::Rejected(item) => PushOutcome::TimedOut(item),
                    outcome => outcome,
                };
            }
            woken_for_slot = wait == Wait::Slot;
        }
    }

    /// Pushes `item` without waiting: like [`push`](Self::push), except that
    /// [`Overflow::Block`] behaves as [`Overflow::DropNewest`] (for synchronous callers).
    #[inline]
    pub(crate) fn try_push(&self, item: T, bytes: usize, overflow: Overflow) -> PushOutcome<T> {
        let st = self.lock();
        if st.closed {
            return PushOutcome::Closed(item);
        }
        if !self.budget.can_ever_fit(bytes) {
            return PushOutcome::Rejected(item);
        }
        if st.queue.len() < self.capacity && self.budget.reserve(1, bytes) {
            return self.enqueue(st, item, bytes);
        }
        match overflow {
            Overflow::DropOldest => self.evict_and_enqueue(st, item, bytes),
            Overflow::Block { .. } | Overflow::DropNewest => PushOutcome::Rejected(item),
        }
    }

    /// Appends an item for which a slot and budget are held, then wakes whoever the change
    /// concerns (see [`Buffer::not_empty`] and [`Buffer::not_full`]).
    #[inline]
    fn enqueue(&self, mut st: MutexGuard<'_, State<T>>, item: T, bytes: usize) -> PushOutcome<T> {
        let was_empty = st.queue.is_empty();
        st.queue.push_back((item, bytes));
        st.bytes = st.bytes.wrapping_add(bytes);
        let wake_receiver = was_empty && self.recv_waiters.load(SeqCst) > 0;
        // Pass the turn on: there is still a free slot and someone queues for one.
        let wake_pusher = st.queue.len() < self.capacity && self.push_waiters.load(SeqCst) > 0;
        drop(st);
        if wake_receiver {
            self.not_empty.notify_one();
        }
        if wake_pusher {
            self.not_full.notify_one();
        }
        PushOutcome::Enqueued
    }

    /// Evicts the fewest oldest items that make room for `item` in this buffer and in the
    /// budget, or, when even evicting all of them would not, leaves the buffer as it was and
    /// hands `item` back.
    ///
    /// The evicted items' budget passes straight to the new item rather than going back to
    /// the shared pool first (where another buffer could take it); only the surplus is
    /// released. So nothing is evicted in vain.
    fn evict_and_enqueue(
        &self,
        mut st: MutexGuard<'_, State<T>>,
        item: T,
        bytes: usize,
    ) -> PushOutcome<T> {
        let len = st.queue.len();
        // The queue never holds more than `capacity`, so this is 1 when full, 0 otherwise.
        let mut evict = (len + 1).saturating_sub(self.capacity);
        let mut evicted_bytes = st
            .queue
            .iter()
            .take(evict)
            .fold(0usize, |sum, (_, b)| sum.wrapping_add(*b));
        loop {
            let need_events = usize::from(evict == 0);
            let need_bytes = bytes.saturating_sub(evicted_bytes);
            if self.budget.reserve(need_events, need_bytes) {
                break;
            }
            let Some((_, b)) = st.queue.get(evict) else {
                return PushOutcome::Rejected(item);
            };
            // Wraps only if the bytes are unlimited (then only `State::bytes` uses the sum,
            // and it wraps alike); under a byte limit the sum stays below it.
            evicted_bytes = evicted_bytes.wrapping_add(*b);
            evict += 1;
        }
        if evict == 0 {
            return self.enqueue(st, item, bytes);
        }
        // `1 <= evict <= len`: `get(evict)` was `Some` before each increment.
        let evicted = {
            let mut drained = st.queue.drain(..evict).map(|(item, _)| item);
            drained
                .next()
                .map(|first| Evicted::new(first, drained.collect()))
        };
        st.bytes = st.bytes.wrapping_sub(evicted_bytes);
        st.queue.push_back((item, bytes));
        st.bytes = st.bytes.wrapping_add(bytes);
        // The queue was not empty (we evicted from it), so no receiver waits for this item;
        // evicting more than one frees slots, and the first pusher woken passes the turn on.
        let wake_pushers = evict > 1 && self.push_waiters.load(SeqCst) > 0;
        drop(st);
        // We hold the evicted items' events and bytes plus what we reserved; the new item
        // keeps 1 event and `bytes`.
        self.budget
            .release(evict - 1, evicted_bytes.saturating_sub(bytes));
        if wake_pushers {
            self.not_full.notify_one();
        }
        match evicted {
            Some(evicted) => PushOutcome::EnqueuedEvicting(evicted),
            None => PushOutcome::Enqueued,
        }
    }

    /// Waits for the oldest item. `None` once the buffer is closed and empty.
    ///
    /// Cancel-safe: an item leaves the buffer only in the poll that returns it, so dropping
    /// the future loses nothing.
    pub(crate) async fn recv(&self) -> Option<T> {
        self.recv_until(None).await.ok()
    }

    /// The oldest item if one is buffered, without waiting.
    #[inline]
    pub(crate) fn try_recv(&self) -> Result<T, TryRecv> {
        let mut st = self.lock();
        match st.queue.pop_front() {
            Some((item, bytes)) => Ok(self.released_one(st, item, bytes)),
            None if st.closed => Err(TryRecv::Closed),
            None => Err(TryRecv::Empty),
        }
    }

    /// Waits at most `timeout` for the oldest item. A zero timeout never touches the timer.
    /// Cancel-safe, like [`recv`](Self::recv).
    pub(crate) async fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeout> {
        match self.try_recv() {
            Ok(item) => Ok(item),
            Err(TryRecv::Closed) => Err(RecvTimeout::Closed),
            Err(TryRecv::Empty) if timeout.is_zero() => Err(RecvTimeout::TimedOut),
            // A timeout too far away to represent is no timeout.
            Err(TryRecv::Empty) => self.recv_until(Instant::now().checked_add(timeout)).await,
        }
    }

    /// Waits for the oldest item until `deadline` (`None`: forever).
    async fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeout> {
        match self.try_recv() {
            Ok(item) => return Ok(item),
            Err(TryRecv::Closed) => return Err(RecvTimeout::Closed),
            Err(TryRecv::Empty) => {}
        }
        let mut sleep = pin!(deadline.map(tokio::time::sleep_until));
        loop {
            let mut pushed = pin!(self.not_empty.notified());
            let waiting = {
                let mut st = self.lock();
                if let Some((item, bytes)) = st.queue.pop_front() {
                    return Ok(self.released_one(st, item, bytes));
                }
                if st.closed {
                    return Err(RecvTimeout::Closed);
                }
                // Registered under the lock: a push after this sees the count and notifies.
                pushed.as_mut().enable();
                Waiting::new(&self.recv_waiters)
            };
            let woken = poll_fn(|cx| {
                if pushed.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(true);
                }
                if expired(sleep.as_mut(), cx) {
                    Poll::Ready(false)
                } else {
                    Poll::Pending
                }
            })
            .await;
            drop(waiting);
            if !woken {
                return self.try_recv().map_err(|err| match err {
                    TryRecv::Empty => RecvTimeout::TimedOut,
                    TryRecv::Closed => RecvTimeout::Closed,
                });
            }
        }
    }

    /// Finishes taking one item out: frees its slot and budget, then wakes whoever the change
    /// concerns (see [`Buffer::not_empty`] and [`Buffer::not_full`]).
    #[inline]
    fn released_one(&self, mut st: MutexGuard<'_, State<T>>, item: T, bytes: usize) -> T {
        st.bytes = st.bytes.wrapping_sub(bytes);
        let was_full = st.queue.len() + 1 == self.capacity;
        let wake_pusher = was_full && self.push_waiters.load(SeqCst) > 0;
        // Pass the turn on: there is more to take and another receiver waits.
        let wake_receiver = !st.queue.is_empty() && self.recv_waiters.load(SeqCst) > 0;
        drop(st);
        // Budget first: the pusher we wake needs it too.
        self.budget.release(1, bytes);
        if wake_pusher {
            self.not_full.notify_one();
        }
        if wake_receiver {
            self.not_empty.notify_one();
        }
        item
    }

    /// Moves up to `max` of the oldest items into `out` without waiting; returns how many.
    pub(crate) fn recv_batch(&self, max: usize, out: &mut Vec<T>) -> usize {
        let mut st = self.lock();
        let n = max.min(st.queue.len());
        if n == 0 {
            return 0;
        }
        let mut bytes = 0usize;
        out.extend(st.queue.drain(..n).map(|(item, b)| {
            bytes = bytes.wrapping_add(b);
            item
        }));
        st.bytes = st.bytes.wrapping_sub(bytes);
        let was_full = st.queue.len() + n == self.capacity;
        let wake = was_full && self.push_waiters.load(SeqCst) > 0;
        drop(st);
        self.budget.release(n, bytes);
        if wake {
            self.not_full.notify_one();
        }
        n
    }

    /// Closes the buffer: pushes (pending and future) get [`PushOutcome::Closed`]; receivers
    /// still get what is buffered, then `None` / `Closed`. Idempotent.
    pub(crate) fn close(&self) {
        let was_closed = std::mem::replace(&mut self.lock().closed, true);
        if !was_closed {
            self.wake_all();
        }
    }

    /// Closes the buffer and hands back everything still in it, oldest first, releasing its
    /// budget (the receiver is gone).
    pub(crate) fn close_and_drain(&self) -> Vec<T> {
        let (queue, bytes, was_closed) = {
            let mut st = self.lock();
            let queue = std::mem::take(&mut st.queue);
            let bytes = std::mem::take(&mut st.bytes);
            (queue, bytes, std::mem::replace(&mut st.closed, true))
        };
        self.budget.release(queue.len(), bytes);
        if !was_closed {
            self.wake_all();
        }
        queue.into_iter().map(|(item, _)| item).collect()
    }

    /// Wakes every waiting pusher and receiver, after closing.
    fn wake_all(&self) {
        self.not_full.notify_waiters();
        self.not_empty.notify_waiters();
        // Pushers of this buffer waiting for budget wait on the shared notification; waking
        // the others too is harmless (they retry), and closing is rare.
        if self.budget.waiters.load(SeqCst) > 0 {
            self.budget.released.notify_waiters();
        }
    }

    /// Items buffered now.
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// True when no item is buffered.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().queue.is_empty()
    }

    /// Most items the buffer holds at once.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// True once [`close`](Self::close) or [`close_and_drain`](Self::close_and_drain) ran.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Locks the state. No code that can panic runs under this lock (items are never dropped
    /// there), so poisoning cannot happen; it is ignored anyway rather than propagated.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        lock(&self.state)
    }
}

impl<T> Drop for Buffer<T> {
    /// A buffer dropped with items in it gives their budget back.
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        self.budget.release(st.queue.len(), st.bytes);
    }
}

impl<T> fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Buffer")
            .field("len", &st.queue.len())
            .field("capacity", &self.capacity)
            .field("bytes", &st.bytes)
            .field("closed", &st.closed)
            .finish_non_exhaustive()
    }
}

/// Whether the optional deadline timer has fired (registering `cx` if not).
fn expired(sleep: Pin<&mut Option<Sleep>>, cx: &mut Context<'_>) -> bool {
    sleep
        .as_pin_mut()
        .is_some_and(|sleep| sleep.poll(cx).is_ready())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    use std::task::Waker;

    use super::super::budget::Meter;
    use super::*;
    use PushOutcome::{Closed, Enqueued, Rejected, TimedOut};

    const BLOCK: Overflow = Overflow::Block { deadline: None };
    const NEWEST: Overflow = Overflow::DropNewest;
    const OLDEST: Overflow = Overflow::DropOldest;
    /// Long enough for a spawned task to reach its wait; short enough to keep tests quick.
    const SETTLE: Duration = Duration::from_millis(20);
    /// A test that waits longer than this has hung.
    const HANG: Duration = Duration::from_secs(10);

    /// What tests read of a buffer beyond its crate-visible API.
    trait BufferExt {
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
    trait OutcomeExt {
        /// True when the item went into the buffer.
        fn is_enqueued(&self) -> bool;
    }

    impl<T> OutcomeExt for PushOutcome<T> {
        fn is_enqueued(&self) -> bool {
            matches!(self, Self::Enqueued | Self::EnqueuedEvicting(_))
        }
    }

    /// What tests ask of evicted items, through their iterators.
    trait EvictedExt<T> {
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

    fn block_for(d: Duration) -> Overflow {
        Overflow::Block {
            deadline: Some(Instant::now() + d),
        }
    }

    /// One budget of each meter layout: no limit, an event limit, a byte limit, both (packed
    /// into one word), both (under a lock).
    fn every_meter(events: usize, bytes: usize) -> [Arc<Budget>; 5] {
        [
            Budget::new(None, None),
            Budget::new(Some(events), None),
            Budget::new(None, Some(bytes)),
            Budget::new(Some(events), Some(bytes)),
            Budget::with_packing(Some(events), Some(bytes), false),
        ]
    }

    #[test]
    fn both_limits_share_one_word_when_they_fit() {
        let packed = |events, bytes| {
            matches!(
                Budget::new(Some(events), Some(bytes)).meter,
                Meter::Packed { .. }
            )
        };
        assert!(packed(1 << 20, 1 << 30));
        assert!(packed(1, usize::MAX >> 1));
        assert!(packed(usize::MAX >> 1, 1));
        assert!(!packed(1 << 40, 1 << 40));
        assert!(!packed(1, usize::MAX));
        assert!(
            !packed(0, usize::MAX),
            "a zero item limit gives the bytes no room to share"
        );
        let budget = Budget::new(Some(3), Some(usize::MAX >> 2));
        assert_eq!(budget.used(), (0, 0));
        let buffer = Buffer::new(4, Arc::clone(&budget));
        assert_eq!(buffer.try_push(1, usize::MAX >> 2, NEWEST), Enqueued);
        assert_eq!(budget.used(), (1, usize::MAX >> 2));
        assert_eq!(buffer.try_push(2, 0, NEWEST), Enqueued);
        assert_eq!(buffer.try_push(3, 1, NEWEST), Rejected(3));
        assert_eq!(buffer.try_push(4, 0, NEWEST), Enqueued);
        assert_eq!(buffer.try_push(5, 0, NEWEST), Rejected(5));
        assert_eq!(budget.used(), (3, usize::MAX >> 2));
        assert_eq!(contents(&buffer), [1, 2, 4]);
        assert_eq!(budget.used(), (0, 0));
    }

    fn evicted<T>(items: impl IntoIterator<Item = T>) -> PushOutcome<T> {
        let mut items = items.into_iter();
        let first = items.next().expect("at least one evicted item");
        PushOutcome::EnqueuedEvicting(Evicted::new(first, items.collect()))
    }

    fn contents<T>(buffer: &Buffer<T>) -> Vec<T> {
        let mut out = Vec::new();
        buffer.recv_batch(usize::MAX, &mut out);
        out
    }

    /// Polls `fut` once, outside any runtime.
    fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
        pin!(fut).poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Waits until `cond` holds, failing the test after [`HANG`].
    async fn until(mut cond: impl FnMut() -> bool) {
        tokio::time::timeout(HANG, async {
            while !cond() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("condition never held");
    }

    async fn join<T>(handle: tokio::task::JoinHandle<T>) -> T {
        tokio::time::timeout(HANG, handle)
            .await
            .expect("task hung")
            .expect("task panicked")
    }

    #[tokio::test]
    async fn an_item_takes_one_slot_one_event_and_its_bytes() {
        for budget in every_meter(100, 1000) {
            let buffer = Buffer::new(4, Arc::clone(&budget));
            assert_eq!(buffer.try_push(1, 10, NEWEST), Enqueued);
            assert_eq!(buffer.push(2, 5, BLOCK).await, Enqueued);
            assert_eq!(buffer.push(3, 0, OLDEST).await, Enqueued);
            assert_eq!((buffer.len(), buffer.bytes()), (3, 15));
            assert_eq!(budget.used(), (3, 15), "{budget:?}");

            assert_eq!(buffer.try_recv(), Ok(1));
            assert_eq!(
                (buffer.len(), buffer.bytes(), budget.used()),
                (2, 5, (2, 5))
            );
            assert_eq!(buffer.recv().await, Some(2));
            assert_eq!(buffer.recv_timeout(SETTLE).await, Ok(3));
            assert_eq!(
                (buffer.len(), buffer.bytes(), budget.used()),
                (0, 0, (0, 0))
            );
            assert!(buffer.is_empty());
            assert_eq!(buffer.try_recv(), Err(TryRecv::Empty));
        }
    }

    #[tokio::test]
    async fn limits_and_capacity_are_reported() {
        let budget = Budget::new(Some(7), None);
        assert_eq!(budget.limits(), (Some(7), None));
        let buffer = Buffer::<u8>::new(3, Arc::clone(&budget));
        assert_eq!(buffer.capacity(), 3);
        assert!(Arc::ptr_eq(buffer.budget(), &budget));
        assert!(!buffer.is_closed());
        assert!(format!("{buffer:?}").contains("capacity: 3"));
        assert!(format!("{budget:?}").contains("max_events: Some(7)"));
    }

    #[tokio::test]
    async fn drop_newest_rejects_when_this_buffer_is_full() {
        for budget in every_meter(100, 1000) {
            let buffer = Buffer::new(2, Arc::clone(&budget));
            assert_eq!(buffer.try_push(1, 1, NEWEST), Enqueued);
            assert_eq!(buffer.push(2, 1, NEWEST).await, Enqueued);
            assert_eq!(buffer.push(3, 1, NEWEST).await, Rejected(3));
            assert_eq!(buffer.try_push(4, 1, NEWEST), Rejected(4));
            assert_eq!(budget.used(), (2, 2));
            assert_eq!(contents(&buffer), [1, 2]);
        }
    }

    #[tokio::test]
    async fn try_push_with_block_rejects_instead_of_waiting() {
        let buffer = Buffer::new(1, Budget::new(None, None));
        assert_eq!(buffer.try_push(1, 0, BLOCK), Enqueued);
        assert_eq!(buffer.try_push(2, 0, BLOCK), Rejected(2));
        let budget = Budget::new(Some(1), None);
        let other = Buffer::new(5, Arc::clone(&budget));
        let buffer = Buffer::new(5, budget);
        assert_eq!(other.try_push(1, 0, BLOCK), Enqueued);
        assert_eq!(buffer.try_push(2, 0, BLOCK), Rejected(2));
    }

    #[tokio::test]
    async fn the_event_limit_is_shared_by_all_buffers() {
        for budget in [
            Budget::new(Some(3), None),
            Budget::new(Some(3), Some(1000)),
            Budget::with_packing(Some(3), Some(1000), false),
        ] {
            let a = Buffer::new(10, Arc::clone(&budget));
            let b = Buffer::new(10, Arc::clone(&budget));
            assert_eq!(a.try_push(1, 1, NEWEST), Enqueued);
            assert_eq!(a.try_push(2, 1, NEWEST), Enqueued);
            assert_eq!(b.try_push(3, 1, NEWEST), Enqueued);
            assert_eq!(b.try_push(4, 1, NEWEST), Rejected(4));
            assert_eq!(a.try_push(5, 1, NEWEST), Rejected(5));
            assert_eq!(budget.used(), (3, 3));
            assert_eq!(a.try_recv(), Ok(1));
            assert_eq!(b.try_push(6, 1, NEWEST), Enqueued);
            assert_eq!(contents(&b), [3, 6]);
        }
    }

    #[tokio::test]
    async fn the_byte_limit_is_shared_by_all_buffers() {
        for budget in [
            Budget::new(None, Some(10)),
            Budget::new(Some(100), Some(10)),
            Budget::with_packing(Some(100), Some(10), false),
        ] {
            let a = Buffer::new(10, Arc::clone(&budget));
            let b = Buffer::new(10, Arc::clone(&budget));
            assert_eq!(a.try_push(1, 6, NEWEST), Enqueued);
            assert_eq!(b.try_push(2, 5, NEWEST), Rejected(2));
            assert_eq!(b.try_push(3, 4, NEWEST), Enqueued);
            assert_eq!(
                b.try_push(4, 0, NEWEST),
                Enqueued,
                "a zero-byte item still fits"
            );
            assert_eq!(a.try_push(5, 1, NEWEST), Rejected(5));
            assert_eq!(budget.used(), (3, 10));
            assert_eq!(b.bytes(), 4);
        }
    }

    #[tokio::test]
    async fn an_item_larger_than_the_byte_limit_is_rejected_by_every_strategy() {
        for budget in [
            Budget::new(None, Some(10)),
            Budget::new(Some(5), Some(10)),
            Budget::with_packing(Some(5), Some(10), false),
        ] {
            let buffer = Buffer::new(4, Arc::clone(&budget));
            assert_eq!(buffer.try_push(1, 3, NEWEST), Enqueued);
            for overflow in [BLOCK, OLDEST, NEWEST] {
                let outcome = tokio::time::timeout(HANG, buffer.push(2, 11, overflow)).await;
                assert_eq!(outcome, Ok(Rejected(2)), "{overflow:?}");
                assert_eq!(
                    buffer.try_push(2, 11, overflow),
                    Rejected(2),
                    "{overflow:?}"
                );
            }
            // Nothing was evicted for it.
            assert_eq!(contents(&buffer), [1]);
            assert_eq!(
                buffer.try_push(3, 10, NEWEST),
                Enqueued,
                "exactly the limit fits"
            );
        }
    }

    #[tokio::test]
    async fn a_zero_event_limit_admits_nothing() {
        for budget in [
            Budget::new(Some(0), None),
            Budget::new(Some(0), Some(10)),
            Budget::with_packing(Some(0), Some(10), false),
        ] {
            let buffer = Buffer::new(4, Arc::clone(&budget));
            for overflow in [BLOCK, OLDEST, NEWEST] {
                let outcome = tokio::time::timeout(HANG, buffer.push(1, 0, overflow)).await;
                assert_eq!(outcome, Ok(Rejected(1)), "{overflow:?}");
            }
            assert_eq!(budget.used(), (0, 0));
        }
    }

    #[tokio::test]
    async fn drop_oldest_evicts_this_buffers_oldest_items() {
        for budget in every_meter(100, 1000) {
            let buffer = Buffer::new(3, Arc::clone(&budget));
            for i in 1..=3 {
                assert_eq!(buffer.try_push(i, 10, OLDEST), Enqueued);
            }
            assert_eq!(buffer.try_push(4, 1, OLDEST), evicted([1]));
            assert_eq!(buffer.push(5, 2, OLDEST).await, evicted([2]));
            assert_eq!((buffer.len(), buffer.bytes()), (3, 13));
            assert_eq!(budget.used(), (3, 13), "{budget:?}");
            assert_eq!(contents(&buffer), [3, 4, 5]);
            assert_eq!(budget.used(), (0, 0));
        }
    }

    #[tokio::test]
    async fn drop_oldest_evicts_as_many_as_the_bytes_need() {
        for budget in [
            Budget::new(None, Some(10)),
            Budget::new(Some(100), Some(10)),
            Budget::with_packing(Some(100), Some(10), false),
        ] {
            let buffer = Buffer::new(8, Arc::clone(&budget));
            for i in 1..=3 {
                assert_eq!(buffer.try_push(i, 3, OLDEST), Enqueued);
            }
            let outcome = buffer.try_push(4, 8, OLDEST);
            assert_eq!(outcome, evicted([1, 2, 3]));
            if let PushOutcome::EnqueuedEvicting(evicted) = outcome {
                assert_eq!(evicted.len(), 3);
                assert_eq!(evicted.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
                assert_eq!((&evicted).into_iter().count(), 3);
                assert_eq!(evicted.into_vec(), [1, 2, 3]);
            }
            assert_eq!(
                (buffer.len(), buffer.bytes(), budget.used()),
                (1, 8, (1, 8))
            );

            // Evicting a large item for a smaller one gives the difference back.
            assert_eq!(buffer.try_push(5, 2, OLDEST), Enqueued);
            assert_eq!(buffer.try_push(6, 3, OLDEST), evicted([4]));
            assert_eq!((buffer.bytes(), budget.used()), (5, (2, 5)));
            assert_eq!(contents(&buffer), [5, 6]);
        }
    }

    #[tokio::test]
    async fn drop_oldest_evicts_for_the_event_limit_too() {
        for budget in [
            Budget::new(Some(2), None),
            Budget::new(Some(2), Some(100)),
            Budget::with_packing(Some(2), Some(100), false),
        ] {
            let buffer = Buffer::new(8, Arc::clone(&budget));
            assert_eq!(buffer.try_push(1, 1, OLDEST), Enqueued);
            assert_eq!(buffer.try_push(2, 1, OLDEST), Enqueued);
            assert_eq!(buffer.try_push(3, 1, OLDEST), evicted([1]));
            assert_eq!(budget.used(), (2, 2));
        }
    }

    #[tokio::test]
    async fn drop_oldest_changes_nothing_when_other_buffers_hold_the_budget() {
        for budget in [
            Budget::new(None, Some(10)),
            Budget::new(Some(100), Some(10)),
            Budget::with_packing(Some(100), Some(10), false),
        ] {
            let a = Buffer::new(4, Arc::clone(&budget));
            let b = Buffer::new(4, Arc::clone(&budget));
            assert_eq!(a.try_push(1, 8, NEWEST), Enqueued);
            // Nothing of ours to evict.
            assert_eq!(b.try_push(2, 5, OLDEST), Rejected(2));
            // Evicting all of ours would not be enough: keep them.
            assert_eq!(b.try_push(3, 1, OLDEST), Enqueued);
            assert_eq!(b.try_push(4, 1, OLDEST), Enqueued);
            assert_eq!(b.try_push(5, 5, OLDEST), Rejected(5));
            assert_eq!((b.len(), b.bytes(), budget.used()), (2, 2, (3, 10)));
            assert_eq!(contents(&b), [3, 4]);
        }
        for budget in [
            Budget::new(Some(2), None),
            Budget::new(Some(2), Some(100)),
            Budget::with_packing(Some(2), Some(100), false),
        ] {
            let a = Buffer::new(4, Arc::clone(&budget));
            let b = Buffer::new(4, Arc::clone(&budget));
            assert_eq!(a.try_push(1, 1, NEWEST), Enqueued);
            assert_eq!(a.try_push(2, 1, NEWEST), Enqueued);
            assert_eq!(b.try_push(3, 1, OLDEST), Rejected(3));
            assert_eq!(budget.used(), (2, 2));
        }
    }

    #[tokio::test]
    async fn drop_oldest_surplus_wakes_a_pusher_blocked_on_the_budget() {
        for budget in [
            Budget::new(None, Some(10)),
            Budget::new(Some(100), Some(10)),
            Budget::with_packing(Some(100), Some(10), false),
        ] {
            let a = Buffer::new(1, Arc::clone(&budget));
            let b = Buffer::new(4, Arc::clone(&budget));
            assert_eq!(a.try_push(1, 9, NEWEST), Enqueued);
            let pusher = tokio::spawn({
                let b = Arc::clone(&b);
                async move { b.push(2, 5, BLOCK).await }
            });
            tokio::time::sleep(SETTLE).await;
            assert!(!pusher.is_finished());
            assert_eq!(a.try_push(3, 1, OLDEST), evicted([1]));
            assert_eq!(join(pusher).await, Enqueued);
            assert_eq!(budget.used(), (2, 6));
        }
    }

    #[tokio::test]
    async fn block_waits_for_a_free_slot() {
        for budget in every_meter(100, 1000) {
            let buffer = Buffer::new(1, budget);
            assert_eq!(buffer.push(1, 1, BLOCK).await, Enqueued);
            let pusher = tokio::spawn({
                let buffer = Arc::clone(&buffer);
                async move { buffer.push(2, 1, BLOCK).await }
            });
            tokio::time::sleep(SETTLE).await;
            assert!(!pusher.is_finished());
            assert_eq!(buffer.recv().await, Some(1));
            assert_eq!(join(pusher).await, Enqueued);
            assert_eq!(buffer.try_recv(), Ok(2));
        }
    }

    #[tokio::test]
    async fn block_waits_for_budget_released_by_another_buffer() {
        let budgets = [
            Budget::new(Some(1), None),
            Budget::new(None, Some(10)),
            Budget::new(Some(1), Some(10)),
            Budget::with_packing(Some(1), Some(10), false),
        ];
        for budget in budgets {
            let a = Buffer::new(4, Arc::clone(&budget));
            let b = Buffer::new(4, Arc::clone(&budget));
            assert_eq!(a.push(1, 10, BLOCK).await, Enqueued);
            let pusher = tokio::spawn({
                let b = Arc::clone(&b);
                async move { b.push(2, 10, BLOCK).await }
            });
            tokio::time::sleep(SETTLE).await;
            assert!(!pusher.is_finished(), "{budget:?}");
            assert_eq!(a.recv().await, Some(1));
            assert_eq!(join(pusher).await, Enqueued, "{budget:?}");
            assert_eq!(budget.used(), (1, 10));
        }
    }

    #[tokio::test]
    async fn block_times_out_at_the_deadline() {
        let budget = Budget::new(Some(2), None);
        let full = Buffer::new(1, Arc::clone(&budget));
        let other = Buffer::new(1, Arc::clone(&budget));
        assert_eq!(full.push(1, 1, BLOCK).await, Enqueued);
        assert_eq!(other.push(2, 1, BLOCK).await, Enqueued);
        let starved = Buffer::new(4, Arc::clone(&budget));
        // Waiting for a slot, then for budget.
        for (buffer, item) in [(&full, 3), (&starved, 4)] {
            let wait = Duration::from_millis(30);
            let start = std::time::Instant::now();
            assert_eq!(buffer.push(item, 1, block_for(wait)).await, TimedOut(item));
            assert!(start.elapsed() >= wait);
        }
        assert_eq!(budget.used(), (2, 2));
        assert_eq!(
            (budget.waiters.load(SeqCst), full.push_waiters.load(SeqCst)),
            (0, 0),
            "waiters deregister"
        );
    }

    #[test]
    fn a_deadline_already_past_needs_no_runtime() {
        let buffer = Buffer::new(1, Budget::new(None, None));
        assert_eq!(buffer.try_push(1, 0, NEWEST), Enqueued);
        let past = Overflow::Block {
            deadline: Some(Instant::now()),
        };
        assert_eq!(poll_once(buffer.push(2, 0, past)), Poll::Ready(TimedOut(2)));
        assert_eq!(
            poll_once(buffer.recv_timeout(Duration::ZERO)),
            Poll::Ready(Ok(1))
        );
        assert_eq!(
            poll_once(buffer.recv_timeout(Duration::ZERO)),
            Poll::Ready(Err(RecvTimeout::TimedOut))
        );
    }

    #[tokio::test]
    async fn close_wakes_blocked_pushers_with_closed() {
        let budget = Budget::new(Some(2), None);
        let full = Buffer::new(1, Arc::clone(&budget));
        let starved = Buffer::new(4, Arc::clone(&budget));
        assert_eq!(full.push(1, 1, BLOCK).await, Enqueued);
        assert_eq!(starved.push(2, 1, BLOCK).await, Enqueued);
        let for_slot = tokio::spawn({
            let full = Arc::clone(&full);
            async move { full.push(3, 1, BLOCK).await }
        });
        let for_budget = tokio::spawn({
            let starved = Arc::clone(&starved);
            async move { starved.push(4, 1, BLOCK).await }
        });
        tokio::time::sleep(SETTLE).await;
        full.close();
        assert_eq!(join(for_slot).await, Closed(3));
        assert!(!for_budget.is_finished());
        starved.close();
        assert_eq!(join(for_budget).await, Closed(4));
        assert_eq!(budget.used(), (2, 2), "closing keeps what is buffered");
    }

    #[tokio::test]
    async fn after_close_receivers_drain_then_see_closed() {
        let budget = Budget::new(None, None);
        let buffer = Buffer::new(4, Arc::clone(&budget));
        for i in 1..=4 {
            assert_eq!(buffer.try_push(i, 1, NEWEST), Enqueued);
        }
        buffer.close();
        buffer.close();
        assert!(buffer.is_closed());
        for overflow in [BLOCK, OLDEST, NEWEST] {
            assert_eq!(buffer.push(9, 1, overflow).await, Closed(9));
            assert_eq!(buffer.try_push(9, 1, overflow), Closed(9));
        }
        assert_eq!(buffer.try_recv(), Ok(1));
        assert_eq!(buffer.recv().await, Some(2));
        assert_eq!(buffer.recv_timeout(SETTLE).await, Ok(3));
        let mut out = Vec::new();
        assert_eq!(buffer.recv_batch(10, &mut out), 1);
        assert_eq!(out, [4]);
        assert_eq!(buffer.recv().await, None);
        assert_eq!(buffer.try_recv(), Err(TryRecv::Closed));
        assert_eq!(buffer.recv_timeout(SETTLE).await, Err(RecvTimeout::Closed));
        assert_eq!(buffer.recv_batch(10, &mut out), 0);
        assert_eq!(budget.used(), (0, 0));
    }

    #[tokio::test]
    async fn close_wakes_waiting_receivers() {
        let buffer = Buffer::<u32>::new(4, Budget::new(None, None));
        let receivers = [
            tokio::spawn({
                let buffer = Arc::clone(&buffer);
                async move { buffer.recv().await.ok_or(RecvTimeout::Closed) }
            }),
            tokio::spawn({
                let buffer = Arc::clone(&buffer);
                async move { buffer.recv_timeout(HANG).await }
            }),
        ];
        tokio::time::sleep(SETTLE).await;
        buffer.close();
        for receiver in receivers {
            assert_eq!(join(receiver).await, Err(RecvTimeout::Closed));
        }
    }

    #[tokio::test]
    async fn close_and_drain_hands_back_everything_and_releases_the_budget() {
        for budget in every_meter(3, 30) {
            let a = Buffer::new(4, Arc::clone(&budget));
            let b = Buffer::new(4, Arc::clone(&budget));
            for i in 1..=3 {
                assert_eq!(a.try_push(i, 10, NEWEST), Enqueued);
            }
            let blocked = tokio::spawn({
                let b = Arc::clone(&b);
                async move { b.push(4, 10, BLOCK).await }
            });
            tokio::time::sleep(SETTLE).await;
            let limited = budget.limits() != (None, None);
            assert_eq!(blocked.is_finished(), !limited, "{budget:?}");
            assert_eq!(a.close_and_drain(), [1, 2, 3]);
            assert!(a.is_closed());
            assert_eq!(a.try_push(5, 1, NEWEST), Closed(5));
            assert_eq!(a.try_recv(), Err(TryRecv::Closed));
            assert_eq!(join(blocked).await, Enqueued);
            assert_eq!(budget.used(), (1, 10));
            assert!(a.close_and_drain().is_empty());
        }
    }

    #[tokio::test]
    async fn dropping_a_buffer_releases_its_budget() {
        for budget in every_meter(10, 100) {
            let buffer = Buffer::new(4, Arc::clone(&budget));
            assert_eq!(buffer.try_push(1, 7, NEWEST), Enqueued);
            assert_eq!(buffer.try_push(2, 8, NEWEST), Enqueued);
            drop(buffer);
            assert_eq!(budget.used(), (0, 0));
        }
    }

    #[tokio::test]
    async fn an_unlimited_count_is_summed_over_live_buffers_only() {
        let budget = Budget::new(Some(1000), None);
        let kept = Buffer::new(4, Arc::clone(&budget));
        assert_eq!(kept.try_push(0, 5, NEWEST), Enqueued);
        for i in 0..100 {
            let buffer = Buffer::new(4, Arc::clone(&budget));
            assert_eq!(buffer.try_push(i, 7, NEWEST), Enqueued);
            assert_eq!(budget.used(), (2, 12));
        }
        assert_eq!(budget.used(), (1, 5));
        // Dropped buffers are forgotten as the list grows.
        assert!(lock(&budget.buffers).len() <= 8);
        let packed = Budget::new(Some(10), Some(10));
        let _buffer = Buffer::<u8>::new(1, Arc::clone(&packed));
        assert!(lock(&packed.buffers).is_empty(), "no need to list buffers");
    }

    #[tokio::test]
    async fn recv_waits_for_a_push() {
        let buffer = Buffer::new(4, Budget::new(None, None));
        let receiver = tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move { buffer.recv().await }
        });
        tokio::time::sleep(SETTLE).await;
        assert!(!receiver.is_finished());
        assert_eq!(buffer.try_push(7, 0, NEWEST), Enqueued);
        assert_eq!(join(receiver).await, Some(7));
    }

    #[tokio::test]
    async fn a_burst_of_pushes_wakes_every_waiting_receiver() {
        let buffer = Buffer::new(4, Budget::new(None, None));
        let receivers: Vec<_> = (0..3)
            .map(|_| {
                let buffer = Arc::clone(&buffer);
                tokio::spawn(async move { buffer.recv().await })
            })
            .collect();
        until(|| buffer.recv_waiters.load(SeqCst) == 3).await;
        // Only the first push finds the buffer empty; the woken receivers pass the turn on.
        for i in 1..=3 {
            assert_eq!(buffer.try_push(i, 0, NEWEST), Enqueued);
        }
        let mut got = Vec::new();
        for receiver in receivers {
            got.push(join(receiver).await.expect("an item"));
        }
        got.sort_unstable();
        assert_eq!(got, [1, 2, 3]);
    }

    #[tokio::test]
    async fn a_burst_of_receives_wakes_every_blocked_pusher() {
        let buffer = Buffer::new(3, Budget::new(None, None));
        for i in 0..3 {
            assert_eq!(buffer.try_push(i, 0, NEWEST), Enqueued);
        }
        let pushers: Vec<_> = (3..6)
            .map(|i| {
                let buffer = Arc::clone(&buffer);
                tokio::spawn(async move { buffer.push(i, 0, BLOCK).await })
            })
            .collect();
        until(|| buffer.push_waiters.load(SeqCst) == 3).await;
        // Only the first receive finds the buffer full; the woken pushers pass the turn on.
        for i in 0..3 {
            assert_eq!(buffer.try_recv(), Ok(i));
        }
        for pusher in pushers {
            assert_eq!(join(pusher).await, Enqueued);
        }
        assert_eq!(contents(&buffer), [3, 4, 5]);
    }

    #[tokio::test]
    async fn recv_timeout_times_out_then_receives() {
        let buffer = Buffer::new(4, Budget::new(None, None));
        let wait = Duration::from_millis(30);
        let start = std::time::Instant::now();
        assert_eq!(buffer.recv_timeout(wait).await, Err(RecvTimeout::TimedOut));
        assert!(start.elapsed() >= wait);
        assert_eq!(buffer.recv_waiters.load(SeqCst), 0, "waiter deregisters");
        assert_eq!(buffer.try_push(1, 0, NEWEST), Enqueued);
        assert_eq!(buffer.recv_timeout(wait).await, Ok(1));
        // Too far away to represent: no deadline at all.
        tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move {
                tokio::time::sleep(SETTLE).await;
                buffer.try_push(2, 0, NEWEST)
            }
        });
        let far = tokio::time::timeout(HANG, buffer.recv_timeout(Duration::MAX)).await;
        assert_eq!(far, Ok(Ok(2)));
    }

    #[tokio::test]
    async fn recv_is_cancel_safe() {
        let buffer = Buffer::new(4, Budget::new(None, None));
        // Cancelled while waiting: the later item is not lost.
        assert!(tokio::time::timeout(SETTLE, buffer.recv()).await.is_err());
        assert_eq!(buffer.try_push(1, 0, NEWEST), Enqueued);
        assert_eq!(buffer.try_recv(), Ok(1));

        // Notified, then dropped before it ran: the item stays, and the notification passes
        // to the next waiting receiver.
        let mut first = Box::pin(buffer.recv());
        assert!(poll_once(first.as_mut()).is_pending());
        let second = tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move { buffer.recv().await }
        });
        tokio::time::sleep(SETTLE).await;
        assert_eq!(buffer.try_push(2, 0, NEWEST), Enqueued);
        drop(first);
        assert_eq!(join(second).await, Some(2));
        assert_eq!(buffer.recv_waiters.load(SeqCst), 0);
    }

    #[tokio::test]
    async fn a_receive_frees_the_slot_and_the_budget() {
        for budget in every_meter(1, 5) {
            let a = Buffer::new(1, Arc::clone(&budget));
            assert_eq!(a.try_push(1, 5, NEWEST), Enqueued);
            assert_eq!(a.try_push(2, 5, NEWEST), Rejected(2));
            assert_eq!(a.try_recv(), Ok(1));
            assert_eq!(a.try_push(2, 5, NEWEST), Enqueued);
            let b = Buffer::new(1, Arc::clone(&budget));
            let mut out = Vec::new();
            assert_eq!(a.recv_batch(1, &mut out), 1);
            assert_eq!(b.try_push(3, 5, NEWEST), Enqueued, "{budget:?}");
        }
    }

    #[tokio::test]
    async fn recv_batch_takes_up_to_max_and_wakes_blocked_pushers() {
        let budget = Budget::new(None, Some(100));
        let buffer = Buffer::new(4, Arc::clone(&budget));
        let mut out = vec![0];
        assert_eq!(buffer.recv_batch(8, &mut out), 0);
        for i in 1..=4 {
            assert_eq!(buffer.try_push(i, 10, NEWEST), Enqueued);
        }
        let pushers: Vec<_> = (5..=7)
            .map(|i| {
                let buffer = Arc::clone(&buffer);
                tokio::spawn(async move { buffer.push(i, 10, BLOCK).await })
            })
            .collect();
        tokio::time::sleep(SETTLE).await;
        assert_eq!(buffer.recv_batch(3, &mut out), 3);
        assert_eq!(out, [0, 1, 2, 3]);
        for pusher in pushers {
            assert_eq!(join(pusher).await, Enqueued);
        }
        assert_eq!(buffer.recv_batch(0, &mut out), 0);
        assert_eq!(buffer.recv_batch(usize::MAX, &mut out), 4);
        assert_eq!(out[4..], [4, 5, 6, 7]);
        assert_eq!(budget.used(), (0, 0));
    }

    #[tokio::test]
    async fn blocked_pushers_get_slots_in_arrival_order() {
        let buffer = Buffer::new(1, Budget::new(None, None));
        assert_eq!(buffer.try_push(0, 0, NEWEST), Enqueued);
        let mut pushers = Vec::new();
        for i in 1..=3 {
            let pusher = Arc::clone(&buffer);
            pushers.push(tokio::spawn(async move { pusher.push(i, 0, BLOCK).await }));
            until(|| buffer.push_waiters.load(SeqCst) == i).await;
        }
        // A newcomer queues behind them instead of taking the next free slot.
        let newcomer = tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move { buffer.push(4, 0, BLOCK).await }
        });
        until(|| buffer.push_waiters.load(SeqCst) == 4).await;
        let mut received = Vec::new();
        for _ in 0..5 {
            received.push(tokio::time::timeout(HANG, buffer.recv()).await.unwrap());
        }
        assert_eq!(received, [0, 1, 2, 3, 4].map(Some));
        for pusher in pushers.into_iter().chain([newcomer]) {
            assert_eq!(join(pusher).await, Enqueued);
        }
    }

    #[tokio::test]
    async fn a_newcomer_does_not_take_a_slot_handed_to_a_waiting_pusher() {
        let buffer = Buffer::new(1, Budget::new(None, None));
        assert_eq!(buffer.try_push(0, 0, NEWEST), Enqueued);
        let waiting = tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move { buffer.push(1, 0, BLOCK).await }
        });
        until(|| buffer.push_waiters.load(SeqCst) == 1).await;
        // Frees the slot and wakes the waiting pusher, which has not run yet (one thread).
        assert_eq!(buffer.try_recv(), Ok(0));
        assert!(poll_once(buffer.push(2, 0, BLOCK)).is_pending());
        assert_eq!(join(waiting).await, Enqueued);
        assert_eq!(buffer.try_recv(), Ok(1));
        // Non-blocking strategies never wait, so they take a free slot regardless.
        assert_eq!(buffer.try_push(3, 0, NEWEST), Enqueued);
    }

    #[tokio::test]
    async fn a_freed_slot_the_woken_pusher_cannot_use_passes_to_the_next() {
        let budget = Budget::new(None, Some(10));
        let buffer = Buffer::new(1, Arc::clone(&budget));
        let other = Buffer::new(1, Arc::clone(&budget));
        assert_eq!(buffer.try_push(0, 5, NEWEST), Enqueued);
        assert_eq!(other.try_push(100, 4, NEWEST), Enqueued);
        let big = tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move { buffer.push(1, 7, BLOCK).await }
        });
        until(|| buffer.push_waiters.load(SeqCst) == 1).await;
        let small = tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move { buffer.push(2, 1, BLOCK).await }
        });
        until(|| buffer.push_waiters.load(SeqCst) == 2).await;
        // Frees the slot and 5 bytes: 4 + 7 > 10 for the first waiter, 4 + 1 fits the second.
        assert_eq!(buffer.try_recv(), Ok(0));
        assert_eq!(join(small).await, Enqueued);
        assert!(!big.is_finished());
        assert_eq!(other.try_recv(), Ok(100));
        assert_eq!(buffer.try_recv(), Ok(2));
        assert_eq!(join(big).await, Enqueued);
        assert_eq!(budget.used(), (1, 7));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn eight_blocked_pushers_lose_nothing_and_keep_their_order() {
        const PUSHERS: u64 = 8;
        const EACH: u64 = 500;
        let buffer = Buffer::new(2, Budget::new(None, None));
        let pushers: Vec<_> = (0..PUSHERS)
            .map(|p| {
                let buffer = Arc::clone(&buffer);
                tokio::spawn(async move {
                    for i in 0..EACH {
                        assert_eq!(buffer.push((p, i), 1, BLOCK).await, Enqueued);
                    }
                })
            })
            .collect();
        let receiver = tokio::spawn({
            let buffer = Arc::clone(&buffer);
            async move {
                let mut next = [0; PUSHERS as usize];
                for n in 0..PUSHERS * EACH {
                    if n.is_multiple_of(64) {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    let (p, i) = buffer.recv().await.expect("not closed");
                    assert_eq!(i, next[p as usize], "pusher {p} out of order");
                    next[p as usize] += 1;
                }
                next
            }
        });
        for pusher in pushers {
            join(pusher).await;
        }
        assert_eq!(join(receiver).await, [EACH; PUSHERS as usize]);
        assert_eq!(buffer.len(), 0);
        assert_eq!(buffer.budget().used(), (0, 0));
    }

    #[test]
    fn a_release_between_refusal_and_registration_is_not_missed() {
        let budgets = [
            Budget::new(Some(1), None),
            Budget::new(None, Some(1)),
            Budget::new(Some(1), Some(1)),
            Budget::with_packing(Some(1), Some(1), false),
        ];
        for budget in budgets {
            let a = Buffer::new(4, Arc::clone(&budget));
            let b = Buffer::new(4, Arc::clone(&budget));
            assert_eq!(b.try_push(1, 1, NEWEST), Enqueued);
            let releaser = Arc::clone(&b);
            // Nobody waits yet when `b` releases, so nobody is notified: the pusher must see
            // the release when it retries after registering. Runs once, the first time.
            let mut hook = Some(move || assert_eq!(releaser.try_recv(), Ok(1)));
            let between = || {
                if let Some(release) = hook.take() {
                    release();
                }
            };
            assert_eq!(
                poll_once(a.push_with(2, 1, BLOCK, between)),
                Poll::Ready(Enqueued)
            );
            assert!(hook.is_none(), "the hook ran");
            assert_eq!(budget.used(), (1, 1));
        }
    }

    /// One pusher and one receiver on two threads, room for one event in the whole budget:
    /// every push waits for the previous item's release and every receive for the next push,
    /// so any lost wake-up deadlocks the pair.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ping_pong_through_a_budget_of_one_loses_no_wake_up() {
        const N: u64 = 20_000;
        for budget in [
            Budget::new(Some(1), None),
            Budget::new(Some(1), Some(10)),
            Budget::with_packing(Some(1), Some(10), false),
        ] {
            let buffer = Buffer::new(8, budget);
            let pusher = tokio::spawn({
                let buffer = Arc::clone(&buffer);
                async move {
                    for i in 0..N {
                        assert_eq!(buffer.push(i, 1, BLOCK).await, Enqueued);
                    }
                }
            });
            let receiver = tokio::spawn({
                let buffer = Arc::clone(&buffer);
                async move {
                    for i in 0..N {
                        assert_eq!(buffer.recv().await, Some(i));
                    }
                }
            });
            join(pusher).await;
            join(receiver).await;
        }
    }

    /// Pushers that wait without a deadline on many buffers sharing a small budget: a lost
    /// wake-up leaves one of them waiting forever once the others are done.
    async fn blocking_on_a_shared_budget(budget: Arc<Budget>) {
        const BUFFERS: usize = 6;
        const PUSHERS: usize = 12;
        const EACH: usize = 400;
        let buffers: Arc<Vec<_>> = Arc::new(
            (0..BUFFERS)
                .map(|_| Buffer::new(2, Arc::clone(&budget)))
                .collect(),
        );
        let pushers: Vec<_> = (0..PUSHERS)
            .map(|p| {
                let buffers = Arc::clone(&buffers);
                tokio::spawn(async move {
                    for i in 0..EACH {
                        let buffer = &buffers[(p + i) % BUFFERS];
                        assert_eq!(buffer.push(1u64, 1 + i % 7, BLOCK).await, Enqueued);
                    }
                })
            })
            .collect();
        let receivers: Vec<_> = (0..BUFFERS)
            .map(|b| {
                let buffers = Arc::clone(&buffers);
                tokio::spawn(async move {
                    let mut got = 0;
                    while let Some(one) = buffers[b].recv().await {
                        got += one;
                    }
                    got
                })
            })
            .collect();
        for pusher in pushers {
            join(pusher).await;
        }
        for buffer in buffers.iter() {
            buffer.close();
        }
        let mut total = 0;
        for receiver in receivers {
            total += join(receiver).await;
        }
        assert_eq!(total, (PUSHERS * EACH) as u64);
        assert_eq!(budget.used(), (0, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_wake_up_is_lost_among_pushers_blocked_on_the_budget() {
        for budget in every_meter(3, 12) {
            blocking_on_a_shared_budget(budget).await;
        }
    }

    /// Many buffers, pushers with every strategy and random deadlines, receivers of every kind
    /// that also give up at random, and a watcher: the budget stays within its limits at every
    /// instant, and every enqueued item is accounted for exactly once.
    async fn stress(budget: Arc<Budget>) {
        const BUFFERS: usize = 8;
        const PUSHERS: u64 = 16;
        const EACH: u64 = 2_000;
        let buffers: Arc<Vec<_>> = Arc::new(
            (0..BUFFERS)
                .map(|i| Buffer::new(1 + i % 4, Arc::clone(&budget)))
                .collect(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (max_events, max_bytes) = budget.limits();
        let watcher = tokio::spawn({
            let budget = Arc::clone(&budget);
            let stop = Arc::clone(&stop);
            async move {
                let mut checks = 0u64;
                while !stop.load(Relaxed) {
                    let (events, bytes) = budget.used();
                    assert!(
                        max_events.is_none_or(|max| events <= max),
                        "{events} events"
                    );
                    assert!(max_bytes.is_none_or(|max| bytes <= max), "{bytes} bytes");
                    checks += 1;
                    if checks.is_multiple_of(64) {
                        tokio::task::yield_now().await;
                    }
                }
                checks
            }
        });
        // Sum of the ids enqueued, and of the ids that came back out.
        let enqueued = Arc::new(AtomicU64::new(0));
        let out = Arc::new(AtomicU64::new(0));
        let pushers: Vec<_> = (0..PUSHERS)
            .map(|p| {
                let (buffers, enqueued, out) = (
                    Arc::clone(&buffers),
                    Arc::clone(&enqueued),
                    Arc::clone(&out),
                );
                tokio::spawn(async move {
                    let mut rng = p.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    for i in 0..EACH {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        let id = p * EACH + i + 1;
                        let buffer = &buffers[(rng % BUFFERS as u64) as usize];
                        let bytes = (rng >> 8) as usize % 40;
                        let overflow = match (rng >> 16) % 4 {
                            0 => OLDEST,
                            1 => NEWEST,
                            2 => block_for(Duration::from_micros((rng >> 20) % 500)),
                            _ => block_for(Duration::from_millis(5)),
                        };
                        let outcome = if (rng >> 24) % 8 == 0 {
                            buffer.try_push(id, bytes, overflow)
                        } else {
                            buffer.push(id, bytes, overflow).await
                        };
                        match outcome {
                            Enqueued => {
                                enqueued.fetch_add(id, Relaxed);
                            }
                            PushOutcome::EnqueuedEvicting(evicted) => {
                                enqueued.fetch_add(id, Relaxed);
                                out.fetch_add(evicted.into_iter().sum(), Relaxed);
                            }
                            Rejected(back) | TimedOut(back) | Closed(back) => {
                                assert_eq!(back, id);
                            }
                        }
                    }
                })
            })
            .collect();
        let receivers: Vec<_> = (0..BUFFERS)
            .map(|b| {
                let (buffers, out) = (Arc::clone(&buffers), Arc::clone(&out));
                tokio::spawn(async move {
                    let buffer = &buffers[b];
                    let mut batch = Vec::new();
                    for round in 0u64.. {
                        let got = match round % 4 {
                            0 => buffer.recv().await,
                            1 => match buffer.recv_timeout(Duration::from_micros(200)).await {
                                Ok(id) => Some(id),
                                Err(RecvTimeout::TimedOut) => continue,
                                Err(RecvTimeout::Closed) => None,
                            },
                            2 => {
                                let short = Duration::from_micros(100);
                                match tokio::time::timeout(short, buffer.recv()).await {
                                    Ok(got) => got,
                                    Err(_) => continue,
                                }
                            }
                            _ => {
                                batch.clear();
                                if buffer.recv_batch(3, &mut batch) == 0 {
                                    if buffer.is_closed() && buffer.is_empty() {
                                        return;
                                    }
                                    tokio::task::yield_now().await;
                                    continue;
                                }
                                out.fetch_add(batch.iter().sum(), Relaxed);
                                continue;
                            }
                        };
                        match got {
                            Some(id) => out.fetch_add(id, Relaxed),
                            None => return,
                        };
                    }
                })
            })
            .collect();
        for pusher in pushers {
            join(pusher).await;
        }
        for buffer in buffers.iter() {
            buffer.close();
        }
        for receiver in receivers {
            join(receiver).await;
        }
        stop.store(true, Relaxed);
        assert!(join(watcher).await > 0);
        assert_eq!(out.load(Relaxed), enqueued.load(Relaxed), "{budget:?}");
        assert!(enqueued.load(Relaxed) > 0);
        assert_eq!(budget.used(), (0, 0), "{budget:?}");
        for buffer in buffers.iter() {
            assert_eq!((buffer.len(), buffer.bytes()), (0, 0));
            assert_eq!(buffer.push_waiters.load(SeqCst), 0);
            assert_eq!(buffer.recv_waiters.load(SeqCst), 0);
        }
        assert_eq!(budget.waiters.load(SeqCst), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_budget_holds_under_contention_and_nothing_is_lost() {
        for budget in every_meter(6, 100) {
            stress(budget).await;
        }
    }

    #[tokio::test]
    async fn absurd_byte_counts_do_not_panic() {
        for budget in every_meter(10, usize::MAX) {
            let buffer = Buffer::new(2, Arc::clone(&budget));
            assert_eq!(buffer.try_push(1, usize::MAX, OLDEST), Enqueued);
            let second = buffer.try_push(2, usize::MAX, OLDEST);
            let third = buffer.try_push(3, usize::MAX, OLDEST);
            assert!(second.is_enqueued(), "{budget:?}");
            assert!(third.is_enqueued(), "{budget:?}");
            let mut out = Vec::new();
            buffer.recv_batch(usize::MAX, &mut out);
            assert_eq!(budget.used(), (0, 0), "{budget:?}");
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "channel_capacity")]
    fn a_zero_capacity_is_a_bug_caught_in_debug_builds() {
        let _ = Buffer::<u8>::new(0, Budget::new(None, None));
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn a_zero_capacity_counts_as_one_in_release_builds() {
        let buffer = Buffer::new(0, Budget::new(None, None));
        assert_eq!(buffer.capacity(), 1);
        assert_eq!(buffer.try_push(1, 0, NEWEST), Enqueued);
        assert_eq!(buffer.try_push(2, 0, NEWEST), Rejected(2));
    }
}
