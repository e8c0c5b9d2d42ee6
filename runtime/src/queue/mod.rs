//! The bounded buffer of one pull subscriber, and the memory budget all buffers share.
//!
//! The bus pushes into a [`Buffer`]; the subscriber's receiver takes items out. Each buffer
//! holds at most `capacity` items, and all buffers of one system together hold at most what
//! their shared [`Budget`] allows (a number of events and/or of payload bytes). When an item
//! does not fit, the pusher's [`Overflow`] strategy decides: wait for room, evict this
//! buffer's oldest items, or hand the new item back.
//!
//! The layer knows nothing of events: an item is any `T`, with a byte count its pusher
//! declares, and it uses only std, Tokio, `parking_lot` (the buffer's lock) and `thiserror`.
//!
//! - [`budget`]: [`Budget`], its meters (how the limited counts are kept), reserve and release.
//! - [`buffer`]: [`Buffer`], pushing, receiving, waiting, closing.
//! - [`outcome`]: what a push is told to do when an item does not fit ([`Overflow`]) and what
//!   pushes and receives hand back ([`PushOutcome`], [`Evicted`](outcome::Evicted),
//!   [`TryRecv`], [`RecvTimeout`]).
//! - [`sync`]: the poison-ignoring std lock of the budget and the waiter-count guard both of
//!   them use (a buffer's own state is behind a `parking_lot` mutex: no poisoning to check on
//!   the hot path).
//!
//! # Invariants
//!
//! - **Accounting.** An item occupies one slot of its buffer, and 1 event plus its declared
//!   `bytes` of the budget, from the moment it is enqueued until it is received, evicted,
//!   drained, or dropped with its buffer. A count with a limit is kept centrally; one without
//!   is not kept at all on the hot path, and [`Budget::used`] sums it over the live buffers.
//! - **Limits hold at every instant.** A limited count only moves up by a compare-and-swap
//!   that checks the limit (with both limits, one word holds both counts, or a lock guards
//!   them if the limits are too large to share a word), so concurrent pushers on many
//!   buffers never take the budget past a limit, not even for a moment, and a refused
//!   reservation never holds anything that could make another pusher fail.
//! - **No lost wake-ups.** A task that waits counts itself as a waiter in the same critical
//!   section in which it saw "no room" or "empty"; whoever then makes room or pushes reads
//!   the count after changing the state, so either the waiter sees the change or the changer
//!   sees the waiter and notifies it. The buffer gets this from its mutex; the budget, shared
//!   lock-free, from sequentially consistent atomics (Dekker's pattern: count, then retry).
//! - **One wake-up in flight.** Blocked pushers are woken one at a time in the order they
//!   blocked (and a newcomer queues behind them rather than overtake), each passing the turn
//!   to the next while room remains; receivers likewise. A burst of receives therefore costs
//!   one `notify`, not one per item, and no blocked pusher starves while the receiver runs.
//! - **Nothing is lost.** Every pushed item comes back exactly once: from a receive, as
//!   evicted, in a `PushOutcome` that did not enqueue it, or from `close_and_drain`.
//!   Receiving is cancel-safe: an item leaves the buffer only in the poll that returns it.
//!
//! # Cost
//!
//! An uncontended push or receive is one short mutex section, plus one compare-and-swap or
//! atomic subtraction on the budget if it has a limit. `Notify` is touched only when a task
//! waits (the waiter counts say so), and nothing is allocated per item: the queue is
//! preallocated (up to [`PREALLOCATED_MAX`](buffer::PREALLOCATED_MAX) slots) and evicting one
//! item allocates nothing.
//!
//! A producer and a consumer running flat out on two threads contend for the one lock;
//! receiving in batches ([`Buffer::recv_batch`]) amortizes it if that case matters.

mod budget;
mod buffer;
mod outcome;
mod sync;

#[cfg(test)]
mod tests;

pub(crate) use budget::Budget;
pub(crate) use buffer::Buffer;
pub(crate) use outcome::{Overflow, PushOutcome, RecvTimeout, TryRecv};
