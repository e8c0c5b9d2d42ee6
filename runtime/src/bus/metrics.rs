//! Counters of the bus, and the snapshot `EventSystem::metrics()` returns.
//!
//! Accounting invariant: every (event, matching subscription) pair ends in exactly one of
//! delivered, dropped (with a reason) or failed; until then it is buffered. So at any time
//! `delivered + dropped + failed + buffered == deliveries`, and once buffers are drained,
//! `delivered + dropped + failed == sum over events of matching subscriptions`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why an event did not reach a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Evicted from a full buffer by `DropOldest`.
    Evicted,
    /// Rejected by a full buffer (`DropNewest`, or no room left to evict into).
    Rejected,
    /// `Block` waited `default_timeout` without room.
    TimedOut,
    /// The subscription's filter said no.
    Filtered,
    /// The subscriber was gone (dropped, or the system shut down) with events still buffered.
    Closed,
    /// The subscription was removed while the event was being dispatched.
    Unsubscribed,
    /// `emit` borrows its event: async and channel subscribers need it owned (use `publish`).
    NotOwned,
    /// A typed subscriber got an event of another type under its name.
    TypeMismatch,
    /// The handler's circuit breaker was open: the call was not made.
    CircuitOpen,
}

pub(crate) const REASON_COUNT: usize = 9;

const REASONS: [DropReason; REASON_COUNT] = [
    DropReason::Evicted,
    DropReason::Rejected,
    DropReason::TimedOut,
    DropReason::Filtered,
    DropReason::Closed,
    DropReason::Unsubscribed,
    DropReason::NotOwned,
    DropReason::TypeMismatch,
    DropReason::CircuitOpen,
];

/// Publishes to at most this many subscriptions, every one of which took the event, are
/// counted by one atomic addition (see [`Counters::clean`]).
const CLEAN_MAX: usize = 8;

/// Counters of one topic; totals are summed at snapshot time, so the hot path bumps one set.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    published: AtomicU64,
    matched: AtomicU64,
    /// Wraps below zero when an event counted in `clean` is undelivered: only the sum with
    /// `clean` means anything, and it is computed with wrapping arithmetic.
    delivered: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    dropped: [AtomicU64; REASONS.len()],
    /// `clean[k]`: events published to exactly `k` subscriptions that all took it (handled
    /// or buffered; nothing dropped or failed), the common case. Each counts as 1 published,
    /// `k` matched and `k` delivered, with one addition instead of three.
    clean: [AtomicU64; CLEAN_MAX + 1],
}

/// What one dispatch did, counted locally and added to the topic's counters once.
#[derive(Debug, Default)]
pub(crate) struct Books {
    pub(crate) delivered: u32,
    pub(crate) failed: u32,
    /// Of `failed`: async handlers that ran out of their timeout.
    pub(crate) timed_out: u32,
    pub(crate) dropped: [u32; REASON_COUNT],
    any_dropped: bool,
}

impl Books {
    /// The books of a dispatch in which `n` subscriptions took the event.
    #[inline]
    pub(crate) fn delivered(n: usize) -> Books {
        Books {
            delivered: u32::try_from(n).unwrap_or(u32::MAX),
            ..Books::default()
        }
    }

    #[inline]
    pub(crate) fn drop_one(&mut self, reason: DropReason) {
        self.dropped[reason as usize] += 1;
        self.any_dropped = true;
    }
}

impl Counters {
    /// One published event with `matching` subscriptions, and what became of it so far.
    #[inline]
    pub(crate) fn record(&self, matching: usize, books: &Books) {
        if let Some(clean) = self.clean.get(matching)
            && books.delivered as usize == matching
        {
            // Every subscription took it, so nothing was dropped or failed.
            clean.fetch_add(1, Relaxed);
            return;
        }
        self.published.fetch_add(1, Relaxed);
        self.matched.fetch_add(matching as u64, Relaxed);
        if books.delivered != 0 {
            self.delivered
                .fetch_add(u64::from(books.delivered), Relaxed);
        }
        if books.failed != 0 {
            self.failed.fetch_add(u64::from(books.failed), Relaxed);
            if books.timed_out != 0 {
                self.timed_out
                    .fetch_add(u64::from(books.timed_out), Relaxed);
            }
        }
        if books.any_dropped {
            for (counter, &n) in self.dropped.iter().zip(books.dropped.iter()) {
                if n != 0 {
                    counter.fetch_add(u64::from(n), Relaxed);
                }
            }
        }
    }

    /// [`record`](Self::record) of a dispatch in which all `delivered` subscriptions took
    /// the event: one addition, with no books to build.
    #[inline]
    pub(crate) fn record_delivered(&self, matching: usize, delivered: usize) {
        match self.clean.get(matching) {
            Some(clean) if delivered == matching => {
                clean.fetch_add(1, Relaxed);
            }
            _ => self.record(matching, &Books::delivered(delivered)),
        }
    }

    /// A queued event whose detached handler then failed (ran out of its timeout).
    pub(crate) fn unhandled(&self, timed_out: bool) {
        self.delivered.fetch_sub(1, Relaxed);
        self.failed.fetch_add(1, Relaxed);
        if timed_out {
            self.timed_out.fetch_add(1, Relaxed);
        }
    }

    /// A buffered event that will not be received after all.
    pub(crate) fn undeliver(&self, reason: DropReason) {
        self.delivered.fetch_sub(1, Relaxed);
        self.dropped[reason as usize].fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> TopicMetrics {
        let dropped: BTreeMap<DropReason, u64> = REASONS
            .iter()
            .map(|&r| (r, self.dropped[r as usize].load(Relaxed)))
            .filter(|&(_, n)| n > 0)
            .collect();
        let (mut published, mut matched, mut delivered) = (
            self.published.load(Relaxed),
            self.matched.load(Relaxed),
            self.delivered.load(Relaxed),
        );
        for (k, clean) in (0u64..).zip(self.clean.iter()) {
            let n = clean.load(Relaxed);
            published = published.wrapping_add(n);
            matched = matched.wrapping_add(n.wrapping_mul(k));
            delivered = delivered.wrapping_add(n.wrapping_mul(k));
        }
        TopicMetrics {
            published,
            matched,
            delivered,
            failed: self.failed.load(Relaxed),
            timed_out: self.timed_out.load(Relaxed),
            dropped,
        }
    }
}

/// A topic's counts (or the whole bus's) at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicMetrics {
    /// Events published.
    pub published: u64,
    /// Deliveries owed: the sum, over published events, of their matching subscriptions.
    pub matched: u64,
    /// Handled successfully by a push handler, or accepted into a pull subscriber's buffer
    /// (an event later evicted, left unread when the subscriber goes, or of the wrong type for
    /// a typed subscriber moves from here to `dropped`).
    pub delivered: u64,
    /// A push handler returned an error, panicked, or (async) ran out of its timeout.
    pub failed: u64,
    /// Of `failed`: async handlers cancelled when they ran out of their timeout.
    pub timed_out: u64,
    /// Not delivered, by reason.
    pub dropped: BTreeMap<DropReason, u64>,
}

impl TopicMetrics {
    /// All drops, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Drops for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }
}

/// What [`EventSystem::metrics`](crate::EventSystem::metrics) returns.
///
/// Counts cover the bus: dynamic subscriptions, pull subscribers, and static handlers under
/// [`ImplementationType::ZeroCopy`](crate::ImplementationType). Static handlers on the
/// `StaticFastPath` tables are not counted: that path keeps no books, by design.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Totals over all topics.
    pub total: TopicMetrics,
    /// Per topic.
    pub topics: BTreeMap<String, TopicMetrics>,
    /// Events sitting in pull subscribers' buffers now.
    pub buffered_events: u64,
    /// Payload bytes sitting in buffers now.
    pub buffered_bytes: u64,
    /// The global event limit (`global_buffer_size`), if any.
    pub buffer_limit_events: Option<usize>,
    /// The global byte limit (`global_buffer_bytes`), if any.
    pub buffer_limit_bytes: Option<usize>,
    /// Live subscriptions (push and pull).
    pub subscriptions: usize,
    /// The dead-letter queue's counts.
    pub dead_letters: super::DeadLetterStats,
    /// Every handler's circuit breaker (those that have one), by handler.
    pub circuits: Vec<super::CircuitMetrics>,
    /// What went wrong, per handler (those to which something did): failures by kind,
    /// rejections, retries, dead letters. Successes are counted per topic (`delivered`).
    pub handlers: Vec<super::HandlerMetrics>,
}

impl MetricsSnapshot {
    /// The fuller of the two global limits, as a fraction in [0, 1]; `None` without limits.
    pub fn buffer_utilisation(&self) -> Option<f64> {
        let events = self
            .buffer_limit_events
            .map(|limit| self.buffered_events as f64 / limit as f64);
        let bytes = self
            .buffer_limit_bytes
            .map(|limit| self.buffered_bytes as f64 / limit as f64);
        match (events, bytes) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Per-topic snapshots, and their sum as the total.
pub(crate) fn snapshot<'a>(
    topics: impl Iterator<Item = (&'a str, &'a Counters)>,
) -> (TopicMetrics, BTreeMap<String, TopicMetrics>) {
    let topics: BTreeMap<String, TopicMetrics> =
        topics.map(|(t, c)| (t.to_owned(), c.snapshot())).collect();
    let mut total = TopicMetrics::default();
    for t in topics.values() {
        total.published += t.published;
        total.matched += t.matched;
        total.delivered += t.delivered;
        total.failed += t.failed;
        total.timed_out += t.timed_out;
        for (&reason, &n) in &t.dropped {
            *total.dropped.entry(reason).or_default() += n;
        }
    }
    (total, topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books(delivered: u32, drops: &[DropReason], failed: u32) -> Books {
        let mut books = Books {
            delivered,
            failed,
            ..Books::default()
        };
        for &reason in drops {
            books.drop_one(reason);
        }
        books
    }

    #[test]
    fn clean_and_mixed_publishes_add_up_to_the_same_totals() {
        let counters = Counters::default();
        // Clean: every subscription took it (0, 1, 3 and CLEAN_MAX subscriptions).
        counters.record(0, &books(0, &[], 0));
        counters.record(1, &books(1, &[], 0));
        counters.record(3, &books(3, &[], 0));
        counters.record(CLEAN_MAX, &books(CLEAN_MAX as u32, &[], 0));
        // Not clean: one filtered, one failed; and more subscriptions than `clean` covers.
        counters.record(3, &books(2, &[DropReason::Filtered], 0));
        counters.record(2, &books(1, &[], 1));
        counters.record(CLEAN_MAX + 1, &books(CLEAN_MAX as u32 + 1, &[], 0));
        let m = counters.snapshot();
        assert_eq!(m.published, 7);
        assert_eq!(
            m.matched,
            (1 + 3 + CLEAN_MAX + 3 + 2 + CLEAN_MAX + 1) as u64
        );
        assert_eq!(
            m.delivered,
            (1 + 3 + CLEAN_MAX + 2 + 1 + CLEAN_MAX + 1) as u64
        );
        assert_eq!(m.failed, 1);
        assert_eq!(m.dropped, BTreeMap::from([(DropReason::Filtered, 1)]));
        assert_eq!(
            m.delivered + m.failed + m.dropped.values().sum::<u64>(),
            m.matched
        );
    }

    #[test]
    fn undelivering_a_cleanly_counted_event_moves_it_to_dropped() {
        let counters = Counters::default();
        counters.record(1, &books(1, &[], 0));
        counters.record(1, &books(1, &[], 0));
        // The raw `delivered` counter goes below zero; the snapshot's sum does not.
        counters.undeliver(DropReason::Evicted);
        counters.undeliver(DropReason::Closed);
        let m = counters.snapshot();
        assert_eq!((m.published, m.matched, m.delivered), (2, 2, 0));
        assert_eq!(
            m.dropped,
            BTreeMap::from([(DropReason::Evicted, 1), (DropReason::Closed, 1)])
        );
    }
}
