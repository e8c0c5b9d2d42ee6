//! The dynamic bus: run-time subscriptions, routes and their caches, the one dispatch loop,
//! backpressure, in-flight tracking and shutdown, and accounting.
//!
//! Subscriptions live in one list sorted by (priority descending, id ascending); a
//! [`route`] is the part of it matching one topic, cached. [`dispatch`] walks a route, for
//! borrowed events (`emit`) and shared ones (`publish`) alike, delivering through one step per
//! subscription; [`backpressure`] decides what a full buffer does; [`shutdown`] counts the
//! publishes in flight and drains them; [`metrics`] keeps the books.
//!
//! Accounting invariant: every (event, matching subscription) pair ends in exactly one of
//! delivered, dropped (with a reason) or failed, counted once when the dispatch finishes.
//! Installed static handlers (`ImplementationType::ZeroCopy`) are not counted, as on the
//! static tables.

mod announce;
mod backpressure;
mod circuit;
mod dead_letter;
mod detached;
mod dispatch;
mod handler_stats;
mod item;
mod lane;
mod metrics;
pub(crate) mod persist;
mod redrive;
mod report;
mod route;
mod shutdown;
mod subscription;
mod tally;
mod value;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::dynamic::DynamicEvent;
use crate::linked::{Breaker, HandlerInfo, HandlerRef, ResponderInfo, TableCore};
use crate::queue::{Budget, Buffer};

pub use backpressure::{
    BackpressureContext, BackpressureDecision, BackpressureError, BackpressureStrategy,
    CustomStrategy,
};
pub use circuit::{
    CIRCUIT_CLOSED_TOPIC, CIRCUIT_HALF_OPEN_TOPIC, CIRCUIT_OPENED_TOPIC, CircuitChange,
    CircuitMetrics,
};
pub use dead_letter::{
    DEAD_LETTER_TOPIC, DEFAULT_DEAD_LETTER_CAPACITY, DeadLetter, DeadLetterReason, DeadLetterStats,
};
pub use handler_stats::HandlerMetrics;
pub use metrics::{DropReason, MetricsSnapshot, TopicMetrics};
pub use persist::{DurableEvent, EventSink, PersistError};
pub(crate) use persist::{Persistence, durable_dynamic, durable_static};
pub use report::{HandlerOutcome, OutcomeKind};
pub use subscription::{Delivery, Subscription, SubscriptionId, SubscriptionInfo};
pub use value::Received;

pub(crate) use detached::Detached;
pub(crate) use dispatch::{Dispatched, Outgoing};
pub(crate) use item::{Carried, Item};
pub(crate) use lane::Lane;
pub(crate) use route::{Route, TopicRef};
pub(crate) use shutdown::{Closed, InFlight};
pub(crate) use subscription::{AsyncHandler, Filter, NewSub, Pull, SubKind, SyncHandler};
pub(crate) use tally::Tally;
pub(crate) use value::StaticValue;

use dead_letter::DeadLetters;
use metrics::Counters;
use route::{FastMap, Routes};
use shutdown::Drain;
use subscription::Sub;

/// Beyond this many distinct topics, counts go to one shared bucket.
const TOPIC_STATS_LIMIT: usize = 10_000;
const OTHER_TOPICS: &str = "(other topics)";

/// What a bus runs with; validated by the system's builder.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) channel_capacity: usize,
    pub(crate) backpressure: BackpressureStrategy,
    pub(crate) global_buffer_events: Option<usize>,
    pub(crate) global_buffer_bytes: Option<usize>,
    pub(crate) default_timeout: Duration,
    /// How long an async handler may run, unless its subscription says otherwise.
    pub(crate) handler_timeout: Option<Duration>,
    /// Seeds the jitter of retry delays (`None`: a random seed).
    pub(crate) retry_seed: Option<u64>,
    pub(crate) max_concurrent_dispatches: Option<usize>,
    pub(crate) metrics: bool,
    pub(crate) max_payload_bytes: usize,
    /// How many dead letters the system keeps.
    pub(crate) dead_letter_capacity: usize,
    /// A handler's panic is its call's failure (true, the default), or goes on unwinding.
    pub(crate) isolate_panics: bool,
}

/// A static event type as the bus tracks it: its name, and its table, told whether some
/// dynamic subscription of this bus matches the name.
struct StaticEntry {
    name: &'static str,
    table: &'static TableCore,
    matched: AtomicBool,
}

pub(crate) struct Bus {
    pub(crate) settings: Settings,
    subs: Mutex<Vec<Arc<Sub>>>,
    /// Every subscription, installed static handlers included.
    live: AtomicUsize,
    /// Subscriptions metrics and listings see.
    listed: AtomicUsize,
    /// Per static event (registry order): does any subscription match its name? Recomputed
    /// on every subscribe/unsubscribe, so `emit` pays nothing when none does.
    statics: Box<[StaticEntry]>,
    routes: Routes,
    stats: Mutex<FastMap<Box<str>, Arc<Counters>>>,
    budget: Arc<Budget>,
    next_id: AtomicU64,
    drain: Drain,
    permits: Option<tokio::sync::Semaphore>,
    /// Draws the jitter of retry delays.
    jitter: parking_lot::Mutex<fastrand::Rng>,
    /// Handler calls that failed for good.
    dead_letters: DeadLetters,
    /// This system's breakers of static handlers (those that have one), on the tables.
    static_breakers: Box<[(&'static HandlerInfo, Breaker)]>,
    /// The breakers of the responders that have one (registry order).
    responder_breakers: Box<[(&'static ResponderInfo, Breaker)]>,
    /// Itself, for the workers of detached handlers (which must not keep it alive).
    me: std::sync::Weak<Bus>,
    /// What went wrong, per handler.
    handler_stats: handler_stats::HandlerStats,
    /// Where events (and dead letters) are persisted, if anywhere.
    pub(crate) persistence: Option<Persistence>,
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("settings", &self.settings)
            .field("subscriptions", &self.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Locks, recovering from poisoning: every critical section here leaves the data consistent
/// before anything that can panic (user code never runs under these locks).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `timeout` from now, or `None` (no deadline) when that is too far away to represent.
pub(crate) fn deadline_after(timeout: Duration) -> Option<tokio::time::Instant> {
    tokio::time::Instant::now().checked_add(timeout)
}

impl Bus {
    /// A bus for a system of these static events (name and table, in registry order).
    /// `guarded`: the static handlers with a circuit breaker that run on the tables (none
    /// under ZeroCopy, where they are subscriptions with their own).
    pub(crate) fn new(
        settings: Settings,
        statics: impl IntoIterator<Item = (&'static str, &'static TableCore)>,
        guarded: impl IntoIterator<Item = &'static HandlerInfo>,
        responders: impl IntoIterator<Item = &'static ResponderInfo>,
        persistence: Option<Persistence>,
    ) -> Arc<Bus> {
        let budget = Budget::new(settings.global_buffer_events, settings.global_buffer_bytes);
        let permits = settings
            .max_concurrent_dispatches
            .map(tokio::sync::Semaphore::new);
        let jitter = parking_lot::Mutex::new(match settings.retry_seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        });
        let dead_letters = DeadLetters::new(settings.dead_letter_capacity);
        Arc::new_cyclic(|me| Bus {
            me: me.clone(),
            handler_stats: handler_stats::HandlerStats::default(),
            settings,
            subs: Mutex::new(Vec::new()),
            live: AtomicUsize::new(0),
            listed: AtomicUsize::new(0),
            statics: statics
                .into_iter()
                .map(|(name, table)| StaticEntry {
                    name,
                    table,
                    matched: AtomicBool::new(false),
                })
                .collect(),
            routes: Routes::new(),
            stats: Mutex::new(FastMap::default()),
            budget,
            next_id: AtomicU64::new(1),
            drain: Drain::new(),
            permits,
            jitter,
            dead_letters,
            static_breakers: guarded
                .into_iter()
                .filter_map(|info| Some((info, Breaker::new(*info.circuit_breaker()?))))
                .collect(),
            responder_breakers: responders
                .into_iter()
                .filter_map(|info| Some((info, Breaker::new(*info.circuit_breaker()?))))
                .collect(),
            persistence,
        })
    }

    /// A retry's delay: drawn uniformly from zero to `ceiling` (full jitter), from the
    /// system's seeded generator.
    pub(crate) fn jitter(&self, ceiling: Duration) -> Duration {
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.jitter.lock().u64(0..=nanos))
    }

    /// One relaxed load: whether any subscription exists.
    #[inline(always)]
    pub(crate) fn has_subscriptions(&self) -> bool {
        self.live.load(Ordering::Relaxed) != 0
    }

    /// Whether any subscription matches static event number `index`.
    #[inline(always)]
    pub(crate) fn static_match(&self, index: usize) -> bool {
        self.statics
            .get(index)
            .is_some_and(|s| s.matched.load(Ordering::Relaxed))
    }

    /// Whether `shutdown` started.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.drain.is_closed()
    }

    /// Refuses new work after shutdown; counts work in flight for the drain.
    #[inline]
    pub(crate) fn begin(&self) -> Result<InFlight<'_>, Closed> {
        self.drain.begin()
    }

    fn lock_subs(&self) -> MutexGuard<'_, Vec<Arc<Sub>>> {
        lock(&self.subs)
    }

    /// Called with the subscription lock held, after every change.
    fn changed(&self, subs: &[Arc<Sub>]) {
        self.live.store(subs.len(), Ordering::Relaxed);
        self.listed.store(
            subs.iter().filter(|s| s.listed()).count(),
            Ordering::Relaxed,
        );
        for entry in self.statics.iter() {
            let matched = subs.iter().any(|s| s.pattern.matches(entry.name));
            if entry.matched.swap(matched, Ordering::Relaxed) != matched {
                entry.table.dynamic_ref(matched);
            }
        }
        self.routes.clear();
    }

    /// Adds a subscription (refused once shut down).
    pub(crate) fn subscribe(&self, new: NewSub) -> Result<SubscriptionId, Closed> {
        if self.is_closed() {
            return Err(Closed);
        }
        let id = SubscriptionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let sub = Arc::new(Sub::new(id, new));
        let mut subs = self.lock_subs();
        let at = subs.partition_point(|s| {
            (std::cmp::Reverse(s.priority), s.id) < (std::cmp::Reverse(sub.priority), id)
        });
        subs.insert(at, sub);
        self.changed(&subs);
        Ok(id)
    }

    /// Removes a subscription; a dispatch already past it finishes, none starts it again. A
    /// pull subscriber's buffer is closed and drained, what was left counted as dropped.
    pub(crate) fn unsubscribe(&self, id: SubscriptionId) -> bool {
        let removed = {
            let mut subs = self.lock_subs();
            let Some(at) = subs.iter().position(|s| s.id == id) else {
                return false;
            };
            let sub = subs.remove(at);
            sub.deactivate();
            self.changed(&subs);
            sub
        };
        if let Some(pull) = removed.pull() {
            for item in pull.buffer.close_and_drain() {
                self.undeliver(&item, DropReason::Closed);
            }
        }
        true
    }

    /// Closes every pull subscriber's buffer (receivers still drain what is buffered);
    /// returns how many events they hold.
    pub(crate) fn close_buffers(&self) -> usize {
        let mut buffered = 0;
        for sub in self.lock_subs().iter() {
            if let Some(pull) = sub.pull() {
                pull.buffer.close();
                buffered += pull.buffer.len();
            }
        }
        buffered
    }

    /// Moves one buffered event from delivered to dropped (evicted, unread at close, wrong
    /// type). Rare, so the topic's counters are looked up rather than carried by every item.
    pub(crate) fn undeliver(&self, item: &Item, reason: DropReason) {
        if self.settings.metrics {
            self.topic_stats(item.topic()).undeliver(reason);
        }
    }

    fn topic_stats(&self, topic: &str) -> Arc<Counters> {
        let mut stats = lock(&self.stats);
        if let Some(c) = stats.get(topic) {
            return Arc::clone(c);
        }
        let key = if stats.len() >= TOPIC_STATS_LIMIT {
            OTHER_TOPICS
        } else {
            topic
        };
        Arc::clone(stats.entry(key.into()).or_default())
    }

    /// Whether publishes wait for a permit (`max_concurrent_dispatches`).
    #[inline]
    pub(crate) fn limits_dispatches(&self) -> bool {
        self.permits.is_some()
    }

    /// A permit to dispatch, when they are limited.
    pub(crate) async fn permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        match &self.permits {
            Some(sem) => sem.acquire().await.ok(),
            None => None,
        }
    }

    /// `Err((size, max))` when the event's payload is over `max_payload_bytes`.
    #[inline]
    pub(crate) fn check_payload(&self, event: &DynamicEvent) -> Result<(), (usize, usize)> {
        let size = event.payload_len();
        let max = self.settings.max_payload_bytes;
        if size > max {
            return Err((size, max));
        }
        Ok(())
    }

    /// Every live subscription but installed static handlers.
    pub(crate) fn list(&self) -> Vec<SubscriptionInfo> {
        self.lock_subs()
            .iter()
            .filter(|s| s.listed())
            .map(|s| s.info())
            .collect()
    }

    pub(crate) fn metrics(&self) -> MetricsSnapshot {
        // Before the counters' lock: building a route takes that one under the subscription
        // lock, which `circuits` takes, so the two are never held in the other order.
        let circuits = self.circuits();
        let (total, topics) = {
            let stats = lock(&self.stats);
            metrics::snapshot(stats.iter().map(|(t, c)| (&**t, &**c)))
        };
        let (buffered_events, buffered_bytes) = self.budget.used();
        let (buffer_limit_events, buffer_limit_bytes) = self.budget.limits();
        MetricsSnapshot {
            total,
            topics,
            buffered_events: buffered_events as u64,
            buffered_bytes: buffered_bytes as u64,
            buffer_limit_events,
            buffer_limit_bytes,
            subscriptions: self.listed.load(Ordering::Relaxed),
            dead_letters: self.dead_letters.stats(),
            circuits,
            handlers: self.handler_stats.snapshot(),
        }
    }

    /// A static handler's call succeeded after `attempts`.
    #[cold]
    pub(crate) fn static_retried(&self, info: &'static HandlerInfo, attempts: u32) {
        self.handler_stats
            .retried(&HandlerRef::Static(info), attempts);
    }

    /// The breaker of static handler `info`, if it has one.
    pub(crate) fn static_breaker(&self, info: &'static HandlerInfo) -> Option<&Breaker> {
        self.static_breakers
            .iter()
            .find(|(known, _)| std::ptr::eq(*known, info))
            .map(|(_, breaker)| breaker)
    }

    /// Where this system persists events, if anywhere.
    #[inline(always)]
    pub(crate) fn persistence(&self) -> Option<&Persistence> {
        self.persistence.as_ref()
    }

    /// The breaker of responder `info` in this system, if it has one.
    pub(crate) fn responder_breaker(&self, info: &'static ResponderInfo) -> Option<&Breaker> {
        self.responder_breakers
            .iter()
            .find(|(known, _)| std::ptr::eq(*known, info))
            .map(|(_, breaker)| breaker)
    }

    /// Every circuit breaker: the static handlers' (registry order), the responders'
    /// (registry order), then the subscriptions' (subscription order).
    fn circuits(&self) -> Vec<CircuitMetrics> {
        let statics = self
            .static_breakers
            .iter()
            .map(|(info, breaker)| CircuitMetrics::of(&HandlerRef::Static(info), breaker));
        let responders = self
            .responder_breakers
            .iter()
            .map(|(info, breaker)| CircuitMetrics::named(info.method(), breaker));
        let subs = self.lock_subs();
        let mut circuits: Vec<(SubscriptionId, CircuitMetrics)> = subs
            .iter()
            .filter_map(|sub| {
                let breaker = sub.breaker.as_deref()?;
                Some((sub.id, CircuitMetrics::of(&sub.handler_ref(), breaker)))
            })
            .collect();
        drop(subs);
        circuits.sort_by_key(|(id, _)| *id);
        statics
            .chain(responders)
            .chain(circuits.into_iter().map(|(_, c)| c))
            .collect()
    }

    /// A buffer for a new pull subscriber: `capacity` slots, or the system's default.
    pub(crate) fn new_buffer(&self, capacity: Option<usize>) -> Arc<Buffer<Item>> {
        let capacity = capacity.unwrap_or(self.settings.channel_capacity);
        Buffer::new(capacity, Arc::clone(&self.budget))
    }
}

impl Drop for Bus {
    /// The last handle to the system is gone: no event will be published again, so every
    /// receiver gets what is buffered, then `Closed`; static tables stop looking for this bus.
    fn drop(&mut self) {
        self.close_buffers();
        for entry in self.statics.iter() {
            if entry.matched.load(Ordering::Relaxed) {
                entry.table.dynamic_ref(false);
            }
        }
    }
}
