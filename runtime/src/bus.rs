//! The dynamic bus: run-time subscriptions, a per-topic route cache, and dispatch.
//!
//! Subscriptions live in one list sorted by (priority descending, id ascending). Publishing
//! looks the topic up in a route cache (topic -> the matching subscriptions, in order) and
//! evaluates patterns only on a miss; subscribing or unsubscribing clears the cache. Routes
//! are built while holding the subscription lock, so a cached route is never older than the
//! list it came from.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use arc_swap::ArcSwap;
use std::time::Duration;

use tokio::sync::Notify;

use crate::buffer::{Budget, Buffer, Overflow, PushOutcome};
use crate::config::{BackpressureContext, BackpressureDecision, BackpressureStrategy, Config};
use crate::dynamic::{DynamicEvent, EventRef, Pattern, PatternKind};
use crate::error::{BackpressureError, Error, HandlerError, HandlerRef};
use crate::handler::{BoxError, BoxFuture, HandlerInfo, HandlerResult};
use crate::metrics::{self, Books, Counters, DropReason, MetricsSnapshot};

/// An event being published: owned (moved into an `Arc` only if a subscriber needs it), or
/// already shared.
#[allow(
    clippy::large_enum_variant,
    reason = "lives briefly on the stack; boxing would allocate the copy this avoids"
)]
pub(crate) enum Publishing {
    Owned(DynamicEvent),
    Shared(Arc<DynamicEvent>),
}

impl Publishing {
    #[inline]
    fn into_shared(self) -> Arc<DynamicEvent> {
        match self {
            Publishing::Owned(event) => Arc::new(event),
            Publishing::Shared(event) => event,
        }
    }
}

/// An event as publishing hands it over: owned, or already shared. Generic dispatch keeps a
/// shared event a pointer until it is known where it goes (a [`Publishing`] is as large as an
/// event).
pub(crate) trait Publishable: Into<Publishing> + std::borrow::Borrow<DynamicEvent> {
    /// The event in an `Arc`: moved into a new one, or the one it is.
    fn into_shared(self) -> Arc<DynamicEvent>;
}

impl Publishable for DynamicEvent {
    #[inline]
    fn into_shared(self) -> Arc<DynamicEvent> {
        Arc::new(self)
    }
}

impl Publishable for Arc<DynamicEvent> {
    #[inline]
    fn into_shared(self) -> Arc<DynamicEvent> {
        self
    }
}

impl From<DynamicEvent> for Publishing {
    fn from(event: DynamicEvent) -> Self {
        Publishing::Owned(event)
    }
}

impl From<Arc<DynamicEvent>> for Publishing {
    fn from(event: Arc<DynamicEvent>) -> Self {
        Publishing::Shared(event)
    }
}

impl std::ops::Deref for Publishing {
    type Target = DynamicEvent;
    fn deref(&self) -> &DynamicEvent {
        match self {
            Publishing::Owned(event) => event,
            Publishing::Shared(event) => event,
        }
    }
}

/// What [`Bus::dispatch`] did.
pub(crate) enum Dispatched<'a> {
    /// Everything is done.
    Done,
    /// The bus is shut down: nothing was dispatched.
    Shutdown,
    /// Something is left to await, the publish counted in flight meanwhile. Boxed: rare,
    /// and the common outcomes stay small to move through the publish future.
    Pending(Box<Pending>, InFlight<'a>),
}

/// What [`Bus::dispatch`] left to await.
pub(crate) enum Pending {
    /// The route has async handlers: the whole dispatch runs as a future.
    Dispatch {
        route: Arc<Route>,
        event: Arc<DynamicEvent>,
    },
    /// Everything ran but these full buffers, where `Block` waits (never empty).
    Blocked {
        stats: Arc<Counters>,
        matched: usize,
        books: Books,
        blocked: Vec<(Arc<Buffer<Item>>, Item)>,
    },
}

/// Identifies one subscription of one system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriptionId(u64);

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subscription #{}", self.0)
    }
}

/// How a subscription receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A sync push handler: runs from `emit` and `publish`.
    Sync,
    /// An async push handler: runs from `publish` only.
    Async,
    /// A pull subscriber ([`EventSubscriber`](crate::EventSubscriber)) with a bounded buffer.
    Pull,
}

/// One row of [`EventSystem::list_subscriptions`](crate::EventSystem::list_subscriptions).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionInfo {
    /// Its id.
    pub id: SubscriptionId,
    /// The pattern as written.
    pub pattern: String,
    /// Exact, glob or regex.
    pub kind: PatternKind,
    /// Higher runs first.
    pub priority: i32,
    /// Push (sync or async) or pull.
    pub delivery: Delivery,
    /// Events buffered now (pull subscribers).
    pub buffered: usize,
    /// Buffer capacity (pull subscribers).
    pub capacity: usize,
    /// The static handler this subscription carries under `ImplementationType::ZeroCopy`.
    pub static_handler: Option<&'static str>,
}

pub(crate) type SyncHandler = Box<dyn Fn(&EventRef<'_>) -> HandlerResult + Send + Sync>;
pub(crate) type AsyncHandler =
    Box<dyn Fn(Arc<DynamicEvent>) -> BoxFuture<'static, HandlerResult> + Send + Sync>;
pub(crate) type Filter = Box<dyn Fn(&EventRef<'_>) -> bool + Send + Sync>;

pub(crate) enum SubKind {
    Sync(SyncHandler),
    Async(AsyncHandler),
    Pull(Arc<Buffer<Item>>),
}

/// What a pull subscriber's buffer holds: the shared event. It counts as delivered once
/// buffered; an item evicted, left unread at close, or of the wrong type for a typed
/// subscriber moves from delivered to dropped ([`Bus::undeliver`]).
pub(crate) struct Item {
    pub(crate) event: Arc<DynamicEvent>,
}

pub(crate) struct Sub {
    id: SubscriptionId,
    pattern: Pattern,
    priority: i32,
    filter: Option<Filter>,
    kind: SubKind,
    /// Set for static handlers installed under `ImplementationType::ZeroCopy`.
    info: Option<&'static HandlerInfo>,
    active: AtomicBool,
}

impl Sub {
    fn handler_ref(&self) -> HandlerRef {
        match self.info {
            Some(info) => HandlerRef::Static(info),
            None => HandlerRef::Subscription {
                id: self.id,
                pattern: self.pattern.as_str().into(),
            },
        }
    }
}

/// What a new subscription is made of.
pub(crate) struct NewSub {
    pub(crate) pattern: Pattern,
    pub(crate) priority: i32,
    pub(crate) filter: Option<Filter>,
    pub(crate) kind: SubKind,
    pub(crate) info: Option<&'static HandlerInfo>,
}

/// The subscriptions matching one topic, in dispatch order.
pub(crate) struct Route {
    subs: Box<[Arc<Sub>]>,
    /// Some subscription needs the event owned (async handler or pull subscriber).
    owned: bool,
    /// Some subscription is an async handler (the dispatch must be a future throughout).
    has_async: bool,
    /// Every subscription is a pull subscriber: no user code runs, so the dispatch is only
    /// pushes into buffers, and the route may be cached per thread ([`LastRoute`]).
    pull_only: bool,
    stats: Arc<Counters>,
}

/// The last pull-only route this thread published on, so that publishing again on it looks
/// nothing up: no route-cache snapshot (two atomic read-modify-writes), no hashing of the
/// topic. Valid while `generation` is the bus's (any subscribe or unsubscribe moves it).
///
/// It keeps its route alive until this thread publishes a pull-only route elsewhere or
/// exits: memory only, since pull-only routes hold no user code, and a subscriber that goes
/// away closes and drains its buffer whoever still references it.
struct LastRoute {
    bus: u64,
    generation: u64,
    topic: crate::dynamic::Topic,
    route: Arc<Route>,
}

thread_local! {
    /// Borrowed (shared) for a whole dispatch on it; replaced only when not borrowed, so a
    /// publish from inside one (a `Custom` backpressure callback) just does not cache.
    static LAST_ROUTE: RefCell<Option<LastRoute>> = const { RefCell::new(None) };
}

/// Remembers `last` as this thread's [`LastRoute`], unless one is in use (or the thread is
/// exiting: then there is nothing to remember it for).
#[inline]
fn remember_route(last: LastRoute) {
    let _ = LAST_ROUTE.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some(last);
        }
    });
}

/// Distinguishes buses for [`LastRoute`] (an address could be reused by a later bus).
static BUS_IDS: AtomicU64 = AtomicU64::new(1);

impl Route {
    pub(crate) fn needs_owned(&self) -> bool {
        self.owned
    }
}

/// Topics beyond this many are routed without caching (patterns evaluated per publish):
/// topic spaces can be unbounded (`user.123.x`), and the cache is copied on each insert.
const ROUTE_CACHE_LIMIT: usize = 1024;
/// Beyond this many distinct topics, counts go to one shared bucket.
const TOPIC_STATS_LIMIT: usize = 10_000;
const OTHER_TOPICS: &str = "(other topics)";

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub(crate) struct Bus {
    pub(crate) config: Config,
    subs: Mutex<Vec<Arc<Sub>>>,
    live: AtomicUsize,
    /// Per static event (registry order): does any subscription match its name? Recomputed
    /// on every subscribe/unsubscribe, so `emit` pays one load when none does.
    static_events: Box<[(&'static str, &'static AtomicUsize)]>,
    static_matches: Box<[AtomicBool]>,
    /// Topic -> route, replaced whole (read-copy-update) on a miss, emptied on any change.
    routes: ArcSwap<FastMap<Arc<str>, Arc<Route>>>,
    /// Moves (after `routes` is emptied) on every subscribe and unsubscribe: a route cached
    /// under an older generation is stale.
    generation: AtomicU64,
    /// Unique per bus, for [`LastRoute`].
    uid: u64,
    stats: Mutex<FastMap<Box<str>, Arc<Counters>>>,
    budget: Arc<Budget>,
    next_id: AtomicU64,
    closed: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
    permits: Option<tokio::sync::Semaphore>,
}

/// What one dispatch did, for `Emitted` / `Published`.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) handled: usize,
    pub(crate) enqueued: usize,
    pub(crate) not_owned: usize,
    pub(crate) rejected: usize,
    pub(crate) timed_out: usize,
    /// Handler errors and the event's topic, once something failed. Boxed: a dispatch that
    /// fails nothing carries (and drops) one null pointer.
    failure: Option<Box<Failure>>,
}

#[derive(Default)]
struct Failure {
    errors: Vec<HandlerError>,
    topic: Option<crate::dynamic::Topic>,
}

impl Tally {
    #[inline]
    fn name_if_failed(&mut self, event: &DynamicEvent) {
        if self.failure.is_some() || self.rejected + self.timed_out > 0 {
            self.name(event);
        }
    }

    #[cold]
    fn name(&mut self, event: &DynamicEvent) {
        let failure = self.failure.get_or_insert_default();
        if failure.topic.is_none() {
            failure.topic = Some(event.topic().clone());
        }
    }

    #[cold]
    fn fail(&mut self, error: HandlerError) {
        self.failure.get_or_insert_default().errors.push(error);
    }

    /// True when no handler failed and no buffer refused the event.
    #[inline]
    pub(crate) fn succeeded(&self) -> bool {
        self.failure.is_none() && self.rejected + self.timed_out == 0
    }

    /// The handler errors collected (empty when none failed).
    pub(crate) fn take_errors(&mut self) -> Vec<HandlerError> {
        self.failure
            .as_mut()
            .map(|f| std::mem::take(&mut f.errors))
            .unwrap_or_default()
    }

    /// The event's topic, if something failed.
    pub(crate) fn take_topic(&mut self) -> Option<crate::dynamic::Topic> {
        self.failure.as_mut().and_then(|f| f.topic.take())
    }

    pub(crate) fn backpressure(&self, topic: &str) -> BackpressureError {
        BackpressureError {
            topic: topic.to_owned(),
            rejected: self.rejected,
            timed_out: self.timed_out,
            enqueued: self.enqueued,
        }
    }
}

/// Locks, recovering from poisoning: every critical section here leaves the data consistent
/// before anything that can panic (user code never runs under these locks).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Bus {
    pub(crate) fn new(
        config: Config,
        static_events: Vec<(&'static str, &'static AtomicUsize)>,
    ) -> Arc<Bus> {
        let budget = Budget::new(config.global_buffer_events, config.global_buffer_bytes);
        let permits = config
            .max_concurrent_dispatches
            .map(tokio::sync::Semaphore::new);
        Arc::new(Bus {
            config,
            subs: Mutex::new(Vec::new()),
            live: AtomicUsize::new(0),
            static_matches: static_events
                .iter()
                .map(|_| AtomicBool::new(false))
                .collect(),
            static_events: static_events.into(),
            routes: ArcSwap::from_pointee(FastMap::default()),
            generation: AtomicU64::new(0),
            uid: BUS_IDS.fetch_add(1, Ordering::Relaxed),
            stats: Mutex::new(FastMap::default()),
            budget,
            next_id: AtomicU64::new(1),
            closed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            permits,
        })
    }

    /// One relaxed load: the static `emit` path asks this before anything else.
    #[inline(always)]
    pub(crate) fn has_subscriptions(&self) -> bool {
        self.live.load(Ordering::Relaxed) != 0
    }

    /// Whether any subscription matches static event number `index`.
    #[inline(always)]
    pub(crate) fn static_match(&self, index: usize) -> bool {
        self.static_matches
            .get(index)
            .is_some_and(|m| m.load(Ordering::Relaxed))
    }

    /// Called with the subscription lock held, after every change.
    fn changed(&self, subs: &[Arc<Sub>]) {
        self.live.store(subs.len(), Ordering::Relaxed);
        for (&(name, refs), flag) in self.static_events.iter().zip(self.static_matches.iter()) {
            let matched = subs.iter().any(|s| s.pattern.matches(name));
            if flag.swap(matched, Ordering::Relaxed) != matched {
                if matched {
                    refs.fetch_add(1, Ordering::Relaxed);
                } else {
                    refs.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        self.clear_routes();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn subscribe(&self, new: NewSub) -> SubscriptionId {
        let id = SubscriptionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let sub = Arc::new(Sub {
            id,
            pattern: new.pattern,
            priority: new.priority,
            filter: new.filter,
            kind: new.kind,
            info: new.info,
            active: AtomicBool::new(true),
        });
        let mut subs = lock(&self.subs);
        let at = subs.partition_point(|s| {
            (std::cmp::Reverse(s.priority), s.id) < (std::cmp::Reverse(sub.priority), id)
        });
        subs.insert(at, sub);
        self.changed(&subs);
        id
    }

    /// Removes a subscription; a dispatch already past it finishes, none starts it again.
    /// Returns the buffer of a pull subscriber, for the caller to drain.
    pub(crate) fn unsubscribe(&self, id: SubscriptionId) -> bool {
        let removed = {
            let mut subs = lock(&self.subs);
            let Some(at) = subs.iter().position(|s| s.id == id) else {
                return false;
            };
            let sub = subs.remove(at);
            sub.active.store(false, Ordering::Release);
            self.changed(&subs);
            sub
        };
        if let SubKind::Pull(buffer) = &removed.kind {
            for item in buffer.close_and_drain() {
                self.undeliver(&item.event, DropReason::Closed);
            }
        }
        true
    }

    fn clear_routes(&self) {
        self.routes.store(Arc::new(FastMap::default()));
        // After emptying the cache: a publisher that reads the new generation then finds
        // the new cache (see `dispatch`).
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The subscriptions matching `topic`, from the cache or computed once.
    pub(crate) fn route(&self, topic: &str) -> Arc<Route> {
        match self.routes.load().get(topic) {
            Some(route) => Arc::clone(route),
            None => self.build_route(topic),
        }
    }

    /// Runs `f` on the route of `topic` without taking a reference count on the hot path.
    #[inline]
    pub(crate) fn with_route<R>(&self, topic: &str, f: impl FnOnce(&Arc<Route>) -> R) -> R {
        let routes = self.routes.load();
        match routes.get(topic) {
            Some(route) => f(route),
            None => {
                drop(routes);
                f(&self.build_route(topic))
            }
        }
    }

    /// Evaluates every pattern once for `topic`, under the subscription lock so that the
    /// cached route is never older than the list; caches it while the cache has room.
    #[cold]
    fn build_route(&self, topic: &str) -> Arc<Route> {
        let subs = lock(&self.subs);
        let matching: Box<[Arc<Sub>]> = subs
            .iter()
            .filter(|s| s.pattern.matches(topic))
            .cloned()
            .collect();
        let route = Arc::new(Route {
            owned: matching.iter().any(|s| !matches!(s.kind, SubKind::Sync(_))),
            has_async: matching.iter().any(|s| matches!(s.kind, SubKind::Async(_))),
            pull_only: matching
                .iter()
                .all(|s| matches!(s.kind, SubKind::Pull(_)) && s.filter.is_none()),
            subs: matching,
            stats: self.topic_stats(topic),
        });
        let routes = self.routes.load();
        if routes.len() < ROUTE_CACHE_LIMIT {
            let mut updated = FastMap::clone(&routes);
            updated.insert(topic.into(), Arc::clone(&route));
            self.routes.store(Arc::new(updated));
        }
        route
    }

    /// Moves one buffered event from delivered to dropped (evicted, unread at close, wrong
    /// type). Rare, so the topic's counters are looked up rather than carried by every item.
    pub(crate) fn undeliver(&self, event: &DynamicEvent, reason: DropReason) {
        if self.config.metrics {
            self.topic_stats(event.topic().as_str()).undeliver(reason);
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

    /// Sync dispatch of a borrowed event: sync handlers run; async handlers and pull
    /// subscribers need the event owned and are counted as `NotOwned`.
    pub(crate) fn dispatch_borrowed(&self, route: &Route, event: EventRef<'_>, tally: &mut Tally) {
        let mut books = Books::default();
        for sub in route.subs.iter() {
            if !admits(sub, &event, &mut books) {
                continue;
            }
            match &sub.kind {
                SubKind::Sync(handler) => finish(&mut books, sub, handler(&event), tally),
                SubKind::Async(_) | SubKind::Pull(_) => {
                    tally.not_owned += 1;
                    books.drop_one(DropReason::NotOwned);
                }
            }
        }
        if self.config.metrics {
            route.stats.record(route.subs.len(), &books);
        }
    }

    /// Dispatches an owned event without awaiting when it can: every sync handler runs and
    /// every pull subscriber with room (or a non-blocking strategy) gets the event, in order.
    /// What is left (async handlers, or buffers to wait for under `Block`) comes back as
    /// [`Pending`], for [`Bus::finish_pending`] to await, with the publish counted in flight.
    ///
    /// `in_flight` is the caller's, if it already counted itself (to wait for a permit). If
    /// not, a dispatch that runs handlers counts itself before the first one, and fails with
    /// [`Error::Shutdown`] once the bus is closed. A route of pull subscribers only (the
    /// channel API) runs no handler: its pushes are not counted in flight unless one has to
    /// wait, and a push racing a shutdown lands before the buffer closes or is dropped as
    /// `Closed`; either way it is counted.
    pub(crate) fn dispatch<'a, P: Publishable>(
        &'a self,
        event: P,
        tally: &mut Tally,
        in_flight: Option<InFlight<'a>>,
    ) -> Dispatched<'a> {
        if in_flight.is_none() && self.is_closed() {
            return Dispatched::Shutdown;
        }
        // Read before the route cache: a route found after this is at least this new.
        let generation = self.generation.load(Ordering::Acquire);
        let mut event = Some(event);
        let hit = LAST_ROUTE.try_with(|slot| {
            let slot = slot.try_borrow().ok()?;
            let last = slot.as_ref()?;
            let fresh = last.bus == self.uid
                && last.generation == generation
                && last.topic.same(event.as_ref()?.borrow().topic());
            if !fresh {
                return None;
            }
            let event = event.take()?;
            Some(self.dispatch_pull(&last.route, Publishable::into_shared(event), tally))
        });
        if let Ok(Some(pending)) = hit {
            return self.dispatched(pending, in_flight);
        }
        // Taken only on a hit, which returned above.
        let Some(event) = event else {
            return Dispatched::Done;
        };
        // The route borrows the cache snapshot, not the event, which can then move into its Arc.
        let routes = self.routes.load();
        let built;
        let topic = event.borrow().topic();
        let route = match routes.get(topic.as_str()) {
            Some(route) => route,
            None => {
                built = self.build_route(topic.as_str());
                &built
            }
        };
        if route.pull_only {
            remember_route(LastRoute {
                bus: self.uid,
                generation,
                topic: topic.clone(),
                route: Arc::clone(route),
            });
            let pending = self.dispatch_pull(route, Publishable::into_shared(event), tally);
            return self.dispatched(pending, in_flight);
        }
        let in_flight = match in_flight {
            Some(in_flight) => in_flight,
            None => match self.begin() {
                Ok(in_flight) => in_flight,
                Err(_) => return Dispatched::Shutdown,
            },
        };
        let pending = self.dispatch_route(route, event.into(), tally);
        self.dispatched(pending, Some(in_flight))
    }

    #[inline(always)]
    fn dispatched<'a>(
        &'a self,
        pending: Option<Pending>,
        in_flight: Option<InFlight<'a>>,
    ) -> Dispatched<'a> {
        match pending {
            None => Dispatched::Done,
            Some(pending) => Self::pending(pending, in_flight.unwrap_or_else(|| self.enter())),
        }
    }

    #[cold]
    #[inline(never)]
    fn pending(pending: Pending, in_flight: InFlight<'_>) -> Dispatched<'_> {
        Dispatched::Pending(Box::new(pending), in_flight)
    }

    /// Pushes `event` into every buffer of a pull-only route, in order; the last one gets the
    /// caller's `Arc` itself, the others a clone.
    #[inline(never)]
    fn dispatch_pull(
        &self,
        route: &Route,
        event: Arc<DynamicEvent>,
        tally: &mut Tally,
    ) -> Option<Pending> {
        let mut books = Books::default();
        let mut blocked = Vec::new();
        let bytes = event.payload_len();
        if let Some((last, rest)) = route.subs.split_last() {
            for sub in rest {
                if admits(sub, &EventRef::dynamic_ref(&event), &mut books) {
                    let shared = Arc::clone(&event);
                    self.push_now(sub, shared, bytes, &mut books, tally, &mut blocked);
                }
            }
            if admits(last, &EventRef::dynamic_ref(&event), &mut books) {
                self.push_now(last, event, bytes, &mut books, tally, &mut blocked);
            }
        }
        self.blocked_or_done(route, books, blocked)
    }

    /// Pushes `event` into pull subscriber `sub`'s buffer without waiting, counting the
    /// outcome; a push that has to wait (`Block`) joins `blocked` instead.
    #[inline(always)]
    fn push_now(
        &self,
        sub: &Sub,
        event: Arc<DynamicEvent>,
        bytes: usize,
        books: &mut Books,
        tally: &mut Tally,
        blocked: &mut Vec<(Arc<Buffer<Item>>, Item)>,
    ) {
        if let SubKind::Pull(buffer) = &sub.kind {
            match self.try_enqueue(sub, buffer, Item { event }, bytes) {
                Ok(outcome) => self.count_push(outcome, books, tally),
                Err(item) => blocked.push((Arc::clone(buffer), item)),
            }
        }
    }

    /// Records a dispatch that finished, or hands over the buffers left to wait for.
    #[inline(always)]
    fn blocked_or_done(
        &self,
        route: &Route,
        books: Books,
        blocked: Vec<(Arc<Buffer<Item>>, Item)>,
    ) -> Option<Pending> {
        if blocked.is_empty() {
            if self.config.metrics {
                route.stats.record(route.subs.len(), &books);
            }
            None
        } else {
            Some(Pending::Blocked {
                stats: Arc::clone(&route.stats),
                matched: route.subs.len(),
                books,
                blocked,
            })
        }
    }

    /// [`dispatch`](Self::dispatch) on a route with handlers, the caller counted in flight.
    fn dispatch_route(
        &self,
        route: &Arc<Route>,
        event: Publishing,
        tally: &mut Tally,
    ) -> Option<Pending> {
        if !route.owned {
            self.dispatch_borrowed(route, EventRef::dynamic_ref(&event), tally);
            tally.name_if_failed(&event);
            return None;
        }
        let event = event.into_shared();
        if route.has_async {
            return Some(Pending::Dispatch {
                route: Arc::clone(route),
                event,
            });
        }
        let mut books = Books::default();
        let mut blocked = Vec::new();
        for sub in route.subs.iter() {
            if !admits(sub, &EventRef::dynamic_ref(&event), &mut books) {
                continue;
            }
            match &sub.kind {
                SubKind::Sync(handler) => {
                    let result = handler(&EventRef::dynamic_ref(&event));
                    finish(&mut books, sub, result, tally);
                }
                SubKind::Pull(_) => {
                    let shared = Arc::clone(&event);
                    let bytes = event.payload_len();
                    self.push_now(sub, shared, bytes, &mut books, tally, &mut blocked);
                }
                SubKind::Async(_) => unreachable!("routes with async handlers await"),
            }
        }
        tally.name_if_failed(&event);
        self.blocked_or_done(route, books, blocked)
    }

    /// Awaits what [`Bus::dispatch`] could not finish.
    pub(crate) async fn finish_pending(&self, pending: Box<Pending>, tally: &mut Tally) {
        match *pending {
            Pending::Dispatch { route, event } => {
                self.dispatch_owned(&route, Arc::clone(&event), tally).await;
                tally.name_if_failed(&event);
            }
            Pending::Blocked {
                stats,
                matched,
                mut books,
                blocked,
            } => {
                let deadline = tokio::time::Instant::now() + self.config.default_timeout;
                for (buffer, item) in blocked {
                    let block = Overflow::Block {
                        deadline: Some(deadline),
                    };
                    let bytes = item.event.payload_len();
                    let outcome = buffer.push(item, bytes, block).await;
                    self.count_push(outcome, &mut books, tally);
                }
                if self.config.metrics {
                    stats.record(matched, &books);
                }
            }
        }
    }

    /// Async dispatch of an owned event to every matching subscription, in order.
    pub(crate) async fn dispatch_owned(
        &self,
        route: &Route,
        event: Arc<DynamicEvent>,
        tally: &mut Tally,
    ) {
        let mut books = Books::default();
        for sub in route.subs.iter() {
            if !admits(sub, &EventRef::dynamic_ref(&event), &mut books) {
                continue;
            }
            match &sub.kind {
                SubKind::Sync(handler) => {
                    let result = handler(&EventRef::dynamic_ref(&event));
                    finish(&mut books, sub, result, tally);
                }
                SubKind::Async(handler) => {
                    let result = handler(Arc::clone(&event)).await;
                    finish(&mut books, sub, result, tally);
                }
                SubKind::Pull(buffer) => {
                    self.enqueue(sub, buffer, &event, &mut books, tally).await;
                }
            }
        }
        if self.config.metrics {
            route.stats.record(route.subs.len(), &books);
        }
    }

    async fn enqueue(
        &self,
        sub: &Sub,
        buffer: &Buffer<Item>,
        event: &Arc<DynamicEvent>,
        books: &mut Books,
        tally: &mut Tally,
    ) {
        let item = Item {
            event: Arc::clone(event),
        };
        let outcome = match self.try_enqueue(sub, buffer, item, event.payload_len()) {
            Ok(outcome) => outcome,
            Err(item) => {
                let deadline = tokio::time::Instant::now() + self.config.default_timeout;
                let block = Overflow::Block {
                    deadline: Some(deadline),
                };
                buffer.push(item, event.payload_len(), block).await
            }
        };
        self.count_push(outcome, books, tally);
    }

    /// Pushes without waiting or asking first (most pushes find room); a full buffer gets the
    /// strategy's decision. `Err` hands the item back when the decision is to wait (`Block`).
    #[inline(always)]
    fn try_enqueue(
        &self,
        sub: &Sub,
        buffer: &Buffer<Item>,
        item: Item,
        bytes: usize,
    ) -> Result<PushOutcome<Item>, Item> {
        let first = match &self.config.backpressure {
            BackpressureStrategy::DropOldest => Overflow::DropOldest,
            BackpressureStrategy::DropNewest => Overflow::DropNewest,
            // `try_push` cannot wait: "full" comes back as `Rejected`, decided below.
            BackpressureStrategy::Block | BackpressureStrategy::Custom(_) => Overflow::DropNewest,
        };
        match buffer.try_push(item, bytes, first) {
            PushOutcome::Rejected(item) => match self.decide(sub, buffer, &item.event) {
                BackpressureDecision::Block => Err(item),
                BackpressureDecision::DropOldest if !matches!(first, Overflow::DropOldest) => {
                    Ok(buffer.try_push(item, bytes, Overflow::DropOldest))
                }
                _ => Ok(PushOutcome::Rejected(item)),
            },
            outcome => Ok(outcome),
        }
    }

    #[inline(always)]
    fn count_push(&self, outcome: PushOutcome<Item>, books: &mut Books, tally: &mut Tally) {
        match outcome {
            PushOutcome::Enqueued => {
                tally.enqueued += 1;
                books.delivered += 1;
            }
            PushOutcome::EnqueuedEvicting(evicted) => {
                tally.enqueued += 1;
                books.delivered += 1;
                for old in &evicted {
                    self.undeliver(&old.event, DropReason::Evicted);
                }
            }
            PushOutcome::Rejected(item) => {
                tally.rejected += 1;
                tally.name(&item.event);
                books.drop_one(DropReason::Rejected);
            }
            PushOutcome::TimedOut(item) => {
                tally.timed_out += 1;
                tally.name(&item.event);
                books.drop_one(DropReason::TimedOut);
            }
            PushOutcome::Closed(_) => books.drop_one(DropReason::Closed),
        }
    }

    /// What to do with a full buffer. Custom strategies are asked only then.
    fn decide(
        &self,
        sub: &Sub,
        buffer: &Buffer<Item>,
        event: &DynamicEvent,
    ) -> BackpressureDecision {
        match &self.config.backpressure {
            BackpressureStrategy::Block => BackpressureDecision::Block,
            BackpressureStrategy::DropOldest => BackpressureDecision::DropOldest,
            BackpressureStrategy::DropNewest => BackpressureDecision::DropNewest,
            BackpressureStrategy::Custom(custom) => (custom.0)(&BackpressureContext {
                event,
                subscription: sub.id,
                buffered: buffer.len(),
                capacity: buffer.capacity(),
            }),
        }
    }

    /// Refuses new work after shutdown; counts work in flight for the drain.
    #[inline]
    pub(crate) fn begin(&self) -> Result<InFlight<'_>, Error> {
        let guard = self.enter();
        if self.is_closed() {
            return Err(Error::Shutdown);
        }
        Ok(guard)
    }

    /// Counts work in flight, closed or not (a pull-only dispatch about to wait: its buffers
    /// are open or will report `Closed`).
    #[inline]
    fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self)
    }

    /// Whether publishes wait for a permit (`max_concurrent_dispatches`).
    #[inline]
    pub(crate) fn limits_dispatches(&self) -> bool {
        self.permits.is_some()
    }

    pub(crate) async fn permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        match &self.permits {
            Some(sem) => sem.acquire().await.ok(),
            None => None,
        }
    }

    #[inline]
    pub(crate) fn check_payload(&self, event: &DynamicEvent) -> Result<(), Error> {
        let size = event.payload_len();
        if size > self.config.max_payload_bytes {
            return Err(Error::PayloadTooLarge {
                topic: event.topic().to_string(),
                size,
                max: self.config.max_payload_bytes,
            });
        }
        Ok(())
    }

    /// Stops accepting publishes, waits up to `deadline` for those in flight, then closes
    /// every pull subscriber's buffer (receivers still drain what is buffered).
    pub(crate) async fn shutdown(&self, deadline: Duration) -> crate::ShutdownReport {
        self.closed.store(true, Ordering::SeqCst);
        let drained = tokio::time::timeout(deadline, async {
            loop {
                let idle = self.idle.notified();
                if self.in_flight.load(Ordering::SeqCst) == 0 {
                    break;
                }
                idle.await;
            }
        })
        .await
        .is_ok();
        let mut buffered = 0;
        for sub in lock(&self.subs).iter() {
            if let SubKind::Pull(buffer) = &sub.kind {
                buffer.close();
                buffered += buffer.len();
            }
        }
        crate::ShutdownReport {
            drained,
            in_flight: self.in_flight.load(Ordering::Acquire),
            buffered,
        }
    }

    pub(crate) fn list(&self) -> Vec<SubscriptionInfo> {
        lock(&self.subs)
            .iter()
            .map(|s| {
                let (delivery, buffered, capacity) = match &s.kind {
                    SubKind::Sync(_) => (Delivery::Sync, 0, 0),
                    SubKind::Async(_) => (Delivery::Async, 0, 0),
                    SubKind::Pull(b) => (Delivery::Pull, b.len(), b.capacity()),
                };
                SubscriptionInfo {
                    id: s.id,
                    pattern: s.pattern.as_str().to_owned(),
                    kind: s.pattern.kind(),
                    priority: s.priority,
                    delivery,
                    buffered,
                    capacity,
                    static_handler: s.info.map(HandlerInfo::function),
                }
            })
            .collect()
    }

    pub(crate) fn metrics(&self) -> MetricsSnapshot {
        let stats = lock(&self.stats);
        let (total, topics) = metrics::snapshot(stats.iter().map(|(t, c)| (&**t, &**c)));
        let (buffered_events, buffered_bytes) = self.budget.used();
        let (buffer_limit_events, buffer_limit_bytes) = self.budget.limits();
        MetricsSnapshot {
            total,
            topics,
            buffered_events: buffered_events as u64,
            buffered_bytes: buffered_bytes as u64,
            buffer_limit_events,
            buffer_limit_bytes,
            subscriptions: self.live.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn new_buffer(&self) -> Arc<Buffer<Item>> {
        Buffer::new(self.config.channel_capacity, Arc::clone(&self.budget))
    }
}

/// Whether `sub` takes this event: still subscribed, and passing its filter. Counts the drop
/// otherwise.
#[inline]
fn admits(sub: &Sub, event: &EventRef<'_>, books: &mut Books) -> bool {
    if !sub.active.load(Ordering::Acquire) {
        books.drop_one(DropReason::Unsubscribed);
        return false;
    }
    if let Some(filter) = &sub.filter
        && !filter(event)
    {
        books.drop_one(DropReason::Filtered);
        return false;
    }
    true
}

#[inline]
fn finish(books: &mut Books, sub: &Sub, result: HandlerResult, tally: &mut Tally) {
    match result {
        Ok(()) => {
            tally.handled += 1;
            books.delivered += 1;
        }
        Err(source) => {
            books.failed += 1;
            tally.fail(failure(sub, source));
        }
    }
}

#[cold]
fn failure(sub: &Sub, source: BoxError) -> HandlerError {
    HandlerError {
        handler: sub.handler_ref(),
        source,
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        for (&(_, refs), flag) in self.static_events.iter().zip(self.static_matches.iter()) {
            if flag.load(Ordering::Relaxed) {
                refs.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// Counts one publish in flight; the last one out after shutdown wakes the drain.
pub(crate) struct InFlight<'a>(&'a Bus);

impl Drop for InFlight<'_> {
    #[inline]
    fn drop(&mut self) {
        // SeqCst on both sides (here and in `shutdown`): either this sees `closed`, or
        // the shutdown sees the count at zero; never neither.
        // Only a shutdown waits for the count to reach zero.
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 && self.0.is_closed() {
            self.0.idle.notify_waiters();
        }
    }
}

/// A live subscription. Dropping it (or calling [`unsubscribe`](Self::unsubscribe)) removes
/// it, also while a dispatch is running: no handler call starts after that.
#[must_use = "dropping a Subscription unsubscribes it at once; keep it, or call .detach()"]
pub struct Subscription {
    id: SubscriptionId,
    bus: Weak<Bus>,
    detached: bool,
}

impl Subscription {
    pub(crate) fn new(id: SubscriptionId, bus: &Arc<Bus>) -> Self {
        Subscription {
            id,
            bus: Arc::downgrade(bus),
            detached: false,
        }
    }

    /// Its id.
    pub fn id(&self) -> SubscriptionId {
        self.id
    }

    /// Removes the subscription now; true if it was still there.
    pub fn unsubscribe(mut self) -> bool {
        self.detached = true;
        self.bus
            .upgrade()
            .is_some_and(|bus| bus.unsubscribe(self.id))
    }

    /// Keeps the subscription for the system's whole life, without holding a handle.
    pub fn detach(mut self) -> SubscriptionId {
        self.detached = true;
        self.id
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if !self.detached
            && let Some(bus) = self.bus.upgrade()
        {
            bus.unsubscribe(self.id);
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

impl HandlerRef {
    /// A human name: the static handler's path, or the subscription and its pattern.
    pub fn name(&self) -> Cow<'static, str> {
        match self {
            HandlerRef::Static(info) => Cow::Borrowed(info.function()),
            HandlerRef::Subscription { id, pattern } => Cow::Owned(format!("{id} ({pattern})")),
        }
    }
}
