//! The memory budget all buffers of one system share: at most so many items and so many
//! declared bytes buffered at once. A limited count is kept in a [`Meter`] that only moves up
//! by a checked reservation; an unlimited one is not kept, [`Budget::used`] sums the buffers.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

use super::sync::lock;

/// The memory budget shared by every buffer of one system: at most `max_events` items and
/// at most `max_bytes` declared payload bytes buffered at once, all subscribers together.
pub(crate) struct Budget {
    /// Limit on buffered items; `None` is unlimited.
    max_events: Option<usize>,
    /// Limit on buffered bytes; `None` is unlimited.
    max_bytes: Option<usize>,
    /// The counters that have a limit.
    pub(super) meter: Meter,
    /// Every live buffer drawing on this budget, when a counter has no limit: such a counter
    /// is not kept centrally (that would cost every push and receive two contended atomic
    /// operations for a number only reports read), and [`Budget::used`] sums the buffers.
    pub(super) buffers: Mutex<Vec<Weak<dyn Held>>>,
    /// Pushers waiting for a release of budget (any buffer's), see [`Budget::release`].
    pub(super) waiters: AtomicUsize,
    /// Notified (all waiters) whenever budget is released while someone waits for it.
    pub(super) released: Notify,
}

/// The central counters of a [`Budget`]: those with a limit, which reservations must check.
pub(super) enum Meter {
    /// No limit: nothing to check, nothing kept.
    Unlimited,
    /// Only items are limited: one counter, moved up only by a compare-and-swap that checks
    /// the limit.
    Events(AtomicUsize),
    /// Only bytes are limited; as for `Events`.
    Bytes(AtomicUsize),
    /// Both are limited, and both limits fit in one word together: items in the high bits,
    /// bytes in the low `shift` bits. One compare-and-swap takes both or neither.
    Packed {
        /// `events << shift | bytes`.
        word: AtomicUsize,
        /// Bits for the byte count: enough for the byte limit.
        shift: u32,
    },
    /// Both are limited, with limits too large to share a word: the two counts move
    /// together under one lock.
    Both(Mutex<Used>),
}

/// Buffered items and bytes, for [`Meter::Both`].
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Used {
    /// Buffered items.
    events: usize,
    /// Buffered bytes.
    bytes: usize,
}

/// A buffer as its budget sees it: what it holds.
pub(super) trait Held: Send + Sync {
    /// Items and declared bytes held now.
    fn held(&self) -> (usize, usize);
}

impl Budget {
    /// A budget of at most `max_events` buffered items and `max_bytes` buffered bytes (either
    /// `None` for unlimited). `Some(0)` events admits nothing: every push is refused.
    pub(crate) fn new(max_events: Option<usize>, max_bytes: Option<usize>) -> Arc<Budget> {
        Self::with_packing(max_events, max_bytes, true)
    }

    /// [`new`](Self::new), optionally never packing two limits into one word (to test the
    /// locked fallback with small limits).
    pub(super) fn with_packing(
        max_events: Option<usize>,
        max_bytes: Option<usize>,
        pack: bool,
    ) -> Arc<Self> {
        let bits = |n: usize| usize::BITS - n.leading_zeros();
        let meter = match (max_events, max_bytes) {
            (None, None) => Meter::Unlimited,
            (Some(_), None) => Meter::Events(AtomicUsize::new(0)),
            (None, Some(_)) => Meter::Bytes(AtomicUsize::new(0)),
            (Some(events), Some(bytes))
                if pack && events > 0 && bits(events) + bits(bytes) <= usize::BITS =>
            {
                Meter::Packed {
                    word: AtomicUsize::new(0),
                    shift: bits(bytes),
                }
            }
            (Some(_), Some(_)) => Meter::Both(Mutex::new(Used::default())),
        };
        Arc::new(Budget {
            max_events,
            max_bytes,
            meter,
            buffers: Mutex::new(Vec::new()),
            waiters: AtomicUsize::new(0),
            released: Notify::new(),
        })
    }

    /// Items and bytes buffered now, all buffers together. A limited count is exact at the
    /// moment it is read; an unlimited one is summed over the buffers, each exact when read.
    pub(crate) fn used(&self) -> (usize, usize) {
        let (events, bytes) = match &self.meter {
            Meter::Both(used) => {
                let used = lock(used);
                return (used.events, used.bytes);
            }
            Meter::Packed { word, shift } => return unpack(word.load(SeqCst), *shift),
            Meter::Unlimited => (None, None),
            Meter::Events(events) => (Some(events.load(SeqCst)), None),
            Meter::Bytes(bytes) => (None, Some(bytes.load(SeqCst))),
        };
        // Upgrade under the lock, read after: reading locks each buffer, and dropping the
        // last handle to one runs its destructor.
        let live: Vec<Arc<dyn Held>> = lock(&self.buffers)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let (held_events, held_bytes) = live.iter().fold((0usize, 0usize), |(e, b), buffer| {
            let (events, bytes) = buffer.held();
            (e.wrapping_add(events), b.wrapping_add(bytes))
        });
        (events.unwrap_or(held_events), bytes.unwrap_or(held_bytes))
    }

    /// The limits on items and on bytes (`None` is unlimited).
    pub(crate) fn limits(&self) -> (Option<usize>, Option<usize>) {
        (self.max_events, self.max_bytes)
    }

    /// Lists `buffer` for [`used`](Self::used), if a counter is not kept centrally.
    pub(super) fn register(&self, buffer: Weak<dyn Held>) {
        if matches!(self.meter, Meter::Packed { .. } | Meter::Both(_)) {
            return;
        }
        let mut buffers = lock(&self.buffers);
        // Forget dropped buffers before the list would grow: amortized O(1).
        if buffers.len() == buffers.capacity() {
            buffers.retain(|buffer| buffer.strong_count() > 0);
        }
        buffers.push(buffer);
    }

    /// Whether an item of `bytes` could fit into an otherwise empty budget. One that cannot
    /// is refused at once rather than waited for.
    #[inline]
    pub(super) fn can_ever_fit(&self, bytes: usize) -> bool {
        self.max_events != Some(0) && self.max_bytes.is_none_or(|max| bytes <= max)
    }

    /// Takes `events` and `bytes` if both fit under the limits; takes nothing otherwise.
    #[inline(always)]
    pub(super) fn reserve(&self, events: usize, bytes: usize) -> bool {
        if let Meter::Unlimited = self.meter {
            return true;
        }
        self.reserve_limited(events, bytes)
    }

    /// [`reserve`](Self::reserve) under some limit.
    #[inline(never)]
    fn reserve_limited(&self, events: usize, bytes: usize) -> bool {
        match (&self.meter, self.max_events, self.max_bytes) {
            (Meter::Unlimited, ..) => true,
            (Meter::Events(used), Some(max), _) => take(used, events, max),
            (Meter::Bytes(used), _, Some(max)) => take(used, bytes, max),
            (Meter::Packed { word, shift }, Some(max_events), Some(max_bytes)) => {
                let mut current = word.load(SeqCst);
                loop {
                    let (used_events, used_bytes) = unpack(current, *shift);
                    if events > max_events.saturating_sub(used_events)
                        || bytes > max_bytes.saturating_sub(used_bytes)
                    {
                        return false;
                    }
                    // Both sums are within their limits, so they fit their fields.
                    let new = ((used_events + events) << shift) | (used_bytes + bytes);
                    match word.compare_exchange_weak(current, new, SeqCst, SeqCst) {
                        Ok(_) => return true,
                        Err(actual) => current = actual,
                    }
                }
            }
            (Meter::Both(used), Some(max_events), Some(max_bytes)) => {
                let mut used = lock(used);
                if events <= max_events.saturating_sub(used.events)
                    && bytes <= max_bytes.saturating_sub(used.bytes)
                {
                    used.events += events;
                    used.bytes += bytes;
                    true
                } else {
                    false
                }
            }
            // `new` pairs each meter with its limits.
            _ => false,
        }
    }

    /// Gives back `events` and `bytes`, then wakes every pusher waiting for budget, if any.
    #[inline(always)]
    pub(super) fn release(&self, events: usize, bytes: usize) {
        if let Meter::Unlimited = self.meter {
            return;
        }
        self.release_limited(events, bytes);
    }

    /// [`release`](Self::release) under some limit.
    #[inline(never)]
    fn release_limited(&self, events: usize, bytes: usize) {
        let wake = match &self.meter {
            Meter::Unlimited => return,
            // Sequentially consistent with the waiter's count-then-retry: either we see the
            // waiter, or the waiter's retry sees what we released.
            Meter::Events(used) if events > 0 => {
                used.fetch_sub(events, SeqCst);
                self.waiters.load(SeqCst) > 0
            }
            Meter::Bytes(used) if bytes > 0 => {
                used.fetch_sub(bytes, SeqCst);
                self.waiters.load(SeqCst) > 0
            }
            Meter::Events(_) | Meter::Bytes(_) => return,
            Meter::Packed { word, shift } if events > 0 || bytes > 0 => {
                // We give back no more than we hold, so neither field borrows from the other.
                word.fetch_sub((events << shift) | bytes, SeqCst);
                self.waiters.load(SeqCst) > 0
            }
            Meter::Packed { .. } => return,
            Meter::Both(used) => {
                if events == 0 && bytes == 0 {
                    return;
                }
                let mut used = lock(used);
                used.events = used.events.saturating_sub(events);
                used.bytes = used.bytes.saturating_sub(bytes);
                // Read under the lock: a waiter counts itself before it takes the lock to retry.
                self.waiters.load(SeqCst) > 0
            }
        };
        if wake {
            self.released.notify_waiters();
        }
    }
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (events, bytes) = self.used();
        f.debug_struct("Budget")
            .field("events", &events)
            .field("max_events", &self.max_events)
            .field("bytes", &bytes)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

/// Splits a [`Meter::Packed`] word into items and bytes.
fn unpack(word: usize, shift: u32) -> (usize, usize) {
    // `shift < usize::BITS`: the item limit, at least 1 if packed, takes a bit.
    let bytes_mask = (1usize << shift) - 1;
    (word >> shift, word & bytes_mask)
}

/// Adds `n` to `counter` if the sum stays at most `max`, by compare-and-swap, so the counter
/// never exceeds `max`, not even transiently, and a refusal takes nothing.
fn take(counter: &AtomicUsize, n: usize, max: usize) -> bool {
    if n == 0 {
        return true;
    }
    let mut current = counter.load(SeqCst);
    loop {
        if n > max.saturating_sub(current) {
            return false;
        }
        match counter.compare_exchange_weak(current, current + n, SeqCst, SeqCst) {
            Ok(_) => return true,
            Err(actual) => current = actual,
        }
    }
}
