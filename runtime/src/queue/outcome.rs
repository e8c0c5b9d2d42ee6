//! What a push is told to do when its item does not fit ([`Overflow`]), and what pushes and
//! receives hand back: [`PushOutcome`] (with the [`Evicted`] items), [`TryRecv`],
//! [`RecvTimeout`].

use std::iter;

use tokio::time::Instant;

/// What a push does when the item does not fit: the buffer is full, or the shared budget is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Wait until room appears, or until `deadline` (`None`: no deadline). In
    /// [`Buffer::try_push`](super::Buffer::try_push), which cannot wait, the same as
    /// [`Overflow::DropNewest`].
    Block {
        /// When to give up with [`PushOutcome::TimedOut`].
        deadline: Option<Instant>,
    },
    /// Evict this buffer's oldest items until the new one fits. Never waits.
    DropOldest,
    /// Hand the new item back. Never waits.
    DropNewest,
}

/// What became of a pushed item.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an item that was not enqueued comes back in the outcome"]
pub(crate) enum PushOutcome<T> {
    /// The item is in the buffer.
    Enqueued,
    /// The item is in the buffer, after evicting these oldest ones ([`Overflow::DropOldest`]).
    EnqueuedEvicting(Evicted<T>),
    /// No room, and the strategy does not wait; or the item can never fit the budget (more
    /// bytes than the whole byte limit, or an event limit of zero), whatever the strategy.
    Rejected(T),
    /// [`Overflow::Block`] and the deadline passed before room appeared.
    TimedOut(T),
    /// The buffer is closed: the receiver is gone or the system shut down.
    Closed(T),
}

/// The items one [`Overflow::DropOldest`] push evicted, oldest first. Never empty; holding
/// the first item inline means evicting one item (the usual case) allocates nothing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Evicted<T> {
    /// The oldest evicted item.
    first: T,
    /// The others, oldest first; usually empty.
    rest: Vec<T>,
}

impl<T> Evicted<T> {
    /// The evicted items: the oldest, then the others, oldest first.
    pub(super) fn new(first: T, rest: Vec<T>) -> Self {
        Evicted { first, rest }
    }
}

impl<T> IntoIterator for Evicted<T> {
    type Item = T;
    type IntoIter = iter::Chain<iter::Once<T>, std::vec::IntoIter<T>>;

    fn into_iter(self) -> Self::IntoIter {
        iter::once(self.first).chain(self.rest)
    }
}

impl<'a, T> IntoIterator for &'a Evicted<T> {
    type Item = &'a T;
    type IntoIter = iter::Chain<iter::Once<&'a T>, std::slice::Iter<'a, T>>;

    fn into_iter(self) -> Self::IntoIter {
        iter::once(&self.first).chain(&self.rest)
    }
}

/// Why [`Buffer::try_recv`](super::Buffer::try_recv) returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TryRecv {
    /// Nothing is buffered now; more may come.
    #[error("no event is buffered yet; wait with `recv` or try again later")]
    Empty,
    /// The buffer is closed and every item in it was received.
    #[error("the subscription is closed and every buffered event was received")]
    Closed,
}

/// Why [`Buffer::recv_timeout`](super::Buffer::recv_timeout) returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecvTimeout {
    /// Nothing arrived in time.
    #[error("no event arrived before the timeout; wait longer or check that events are published")]
    TimedOut,
    /// The buffer is closed and every item in it was received.
    #[error("the subscription is closed and every buffered event was received")]
    Closed,
}
