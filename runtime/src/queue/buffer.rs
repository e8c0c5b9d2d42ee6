//! [`Buffer`]: the bounded queue of one pull subscriber. Pushing (with the [`Overflow`]
//! strategies), receiving, waiting for room or for an item, and closing.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use super::budget::{Budget, Held};
use super::outcome::{Evicted, Overflow, PushOutcome, RecvTimeout, TryRecv};
use super::sync::Waiting;

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
    ///
    /// Inlined into its caller, so that the item goes from the caller's registers into its
    /// slot: passed through memory, a just-built item is read back wider than it was written,
    /// which stalls.
    #[inline(always)]
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

    /// Pushes `item` if the buffer has room for it now (and the budget its bytes); else hands
    /// it back untouched, deciding nothing: a closed buffer, a full one, an exhausted budget
    /// are for [`try_push`](Self::try_push) and its overflow rule. The common case of a push,
    /// with nothing to return but the item on the way out.
    #[inline(always)]
    pub(crate) fn try_enqueue(&self, item: T, bytes: usize) -> Result<(), T> {
        let st = self.lock();
        if !st.closed && st.queue.len() < self.capacity && self.budget.reserve(1, bytes) {
            // Holds nothing: skip the drop glue.
            std::mem::forget(self.enqueue(st, item, bytes));
            return Ok(());
        }
        Err(item)
    }

    /// Appends an item for which a slot and budget are held, then wakes whoever the change
    /// concerns (see [`Buffer::not_empty`] and [`Buffer::not_full`]).
    #[inline(always)]
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
    #[inline(always)]
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
    #[inline(always)]
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

    /// Locks the state. A `parking_lot` lock: no poisoning to check on every lock and
    /// unlock of the hot path (no code that can panic runs under it: items are never
    /// dropped there).
    #[inline(always)]
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }
}

impl<T> Drop for Buffer<T> {
    /// A buffer dropped with items in it gives their budget back.
    fn drop(&mut self) {
        let st = self.state.get_mut();
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
