//! Routes: the subscriptions matching one topic, their cache, and a thread's last route.
//!
//! Publishing looks the topic up in a route cache (topic -> the matching subscriptions, in
//! order) and evaluates patterns only on a miss; subscribing or unsubscribing clears the cache.
//! Routes are built while holding the subscription lock, so a cached route is never older than
//! the list it came from.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

use crate::dynamic::Topic;

use super::Bus;
use super::metrics::Counters;
use super::subscription::{Sub, SubKind};

/// Topics beyond this many are routed without caching (patterns evaluated per publish):
/// topic spaces can be unbounded (`user.123.x`), and the cache is copied on each insert.
const ROUTE_CACHE_LIMIT: usize = 1024;

pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The subscriptions matching one topic, in dispatch order.
pub(crate) struct Route {
    pub(crate) subs: Box<[Arc<Sub>]>,
    /// Some subscription needs the event owned (async handler or pull subscriber).
    pub(crate) owned: bool,
    /// Every subscription is a pull subscriber without a filter: no user code runs, so the
    /// dispatch is only pushes into buffers, and the route may be remembered per thread.
    pub(crate) pull_only: bool,
    /// Subscriptions that metrics count (all but installed static handlers).
    pub(crate) metered: usize,
    /// The route is one pull subscriber without a filter, typed or not: what the lane's
    /// single push needs to know, decided once.
    pub(crate) single: Single,
    pub(crate) stats: Arc<Counters>,
}

/// Whether a route is a single pull subscriber without a filter, and which kind.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Single {
    /// Anything else.
    No,
    /// A typed subscriber (`subscribe::<E>()`): it takes a static value as it is.
    Typed,
    /// An untyped one (`subscribe_topic`): it takes dynamic events.
    Untyped,
}

impl Single {
    fn of(subs: &[Arc<Sub>]) -> Single {
        match subs {
            [sub] if sub.filter.is_none() => match &sub.kind {
                SubKind::Pull(pull) if pull.typed => Single::Typed,
                SubKind::Pull(_) => Single::Untyped,
                _ => Single::No,
            },
            _ => Single::No,
        }
    }
}

/// The route cache of one bus.
pub(crate) struct Routes {
    /// Topic -> route, replaced whole (read-copy-update) on a miss, emptied on any change.
    map: ArcSwap<FastMap<Arc<str>, Arc<Route>>>,
    /// Moves (after `map` is emptied) on every subscribe and unsubscribe: a route cached
    /// under an older generation is stale.
    generation: AtomicU64,
    /// Unique per bus, for [`LastRoute`] (an address could be reused by a later bus).
    uid: u64,
}

/// Distinguishes buses for [`LastRoute`].
static BUS_IDS: AtomicU64 = AtomicU64::new(1);

/// The last pull-only route this thread published on, so that publishing again on it looks
/// nothing up: no route-cache snapshot (two atomic read-modify-writes), no hashing of the
/// topic. Valid while `generation` is the bus's.
///
/// It keeps its route alive until this thread publishes a pull-only route elsewhere or
/// exits: memory only, since pull-only routes hold no user code, and a subscriber that goes
/// away closes and drains its buffer whoever still references it.
struct LastRoute {
    bus: u64,
    generation: u64,
    topic: Key,
    route: Arc<Route>,
}

/// A topic as [`LastRoute`] compares it: pointer first, bytes second.
pub(crate) enum Key {
    Topic(Topic),
    Static(&'static str),
}

impl Key {
    #[inline]
    pub(crate) fn is(&self, topic: TopicRef<'_>) -> bool {
        match (self, topic) {
            (Key::Topic(a), TopicRef::Topic(b)) => a.same(b),
            // The same constant, nearly always: one comparison of addresses and lengths;
            // the bytes (a name the compiler copied) out of line.
            (Key::Static(a), TopicRef::Static(b)) => std::ptr::eq(*a, b) || same_bytes(a, b),
            (Key::Topic(a), TopicRef::Static(b)) => a.as_str() == b,
            (Key::Static(a), TopicRef::Topic(b)) => *a == b.as_str(),
        }
    }
}

/// Two names' bytes, for [`Key::is`] when their addresses differ.
#[cold]
#[inline(never)]
fn same_bytes(a: &str, b: &str) -> bool {
    a == b
}

/// A topic being published on: a dynamic event's, or a static event's name.
#[derive(Clone, Copy)]
pub(crate) enum TopicRef<'a> {
    Topic(&'a Topic),
    Static(&'static str),
}

impl TopicRef<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            TopicRef::Topic(topic) => topic.as_str(),
            TopicRef::Static(name) => name,
        }
    }

    fn key(&self) -> Key {
        match *self {
            TopicRef::Topic(topic) => Key::Topic(topic.clone()),
            TopicRef::Static(name) => Key::Static(name),
        }
    }
}

thread_local! {
    /// Borrowed (shared) for a whole dispatch on it; replaced only when not borrowed, so a
    /// publish from inside one (a `Custom` backpressure callback) just does not cache.
    static LAST_ROUTE: RefCell<Option<LastRoute>> = const { RefCell::new(None) };
}

impl Routes {
    pub(crate) fn new() -> Routes {
        Routes {
            map: ArcSwap::from_pointee(FastMap::default()),
            generation: AtomicU64::new(0),
            uid: BUS_IDS.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Forgets every route; called on every subscribe and unsubscribe.
    pub(crate) fn clear(&self) {
        self.map.store(Arc::new(FastMap::default()));
        // After emptying the cache: a publisher that reads the new generation then finds
        // the new cache (see `Bus::with_route`).
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The generation routes are valid under; read before looking a route up.
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The cached routes.
    #[inline]
    pub(crate) fn snapshot(&self) -> arc_swap::Guard<Arc<FastMap<Arc<str>, Arc<Route>>>> {
        self.map.load()
    }

    /// Runs `f` on this thread's remembered route and its topic, if it is still current;
    /// `f` says `None` if the topic is not the one it wants. `None` also when nothing is
    /// remembered (or it is stale, or in use by an outer dispatch).
    #[inline]
    pub(crate) fn with_last<R>(
        &self,
        generation: u64,
        f: impl FnOnce(&Key, &Arc<Route>) -> Option<R>,
    ) -> Option<R> {
        LAST_ROUTE
            .try_with(|slot| {
                let slot = slot.try_borrow().ok()?;
                let last = slot.as_ref()?;
                let fresh = last.bus == self.uid && last.generation == generation;
                if fresh {
                    f(&last.topic, &last.route)
                } else {
                    None
                }
            })
            .ok()
            .flatten()
    }

    /// Remembers `route` as this thread's last pull-only route, unless one is in use (or
    /// the thread is exiting: then there is nothing to remember it for).
    #[inline]
    pub(crate) fn remember(&self, generation: u64, topic: TopicRef<'_>, route: &Arc<Route>) {
        let _ = LAST_ROUTE.try_with(|slot| {
            if let Ok(mut slot) = slot.try_borrow_mut() {
                *slot = Some(LastRoute {
                    bus: self.uid,
                    generation,
                    topic: topic.key(),
                    route: Arc::clone(route),
                });
            }
        });
    }
}

impl Bus {
    /// Runs `f` on the route of `topic`: this thread's remembered route, the cached one, or
    /// one computed now (and cached while the cache has room). Takes no reference count.
    #[inline]
    pub(crate) fn with_route<R>(&self, topic: TopicRef<'_>, f: impl FnOnce(&Arc<Route>) -> R) -> R {
        let generation = self.routes.generation();
        let mut f = Some(f);
        let hit = self.routes.with_last(generation, |key, route| {
            if key.is(topic) {
                f.take().map(|f| f(route))
            } else {
                None
            }
        });
        if let Some(done) = hit {
            return done;
        }
        let Some(f) = f else {
            unreachable!("taken only on a hit, which returned")
        };
        self.with_route_missed(generation, topic, f)
    }

    /// [`with_route`](Self::with_route) when this thread's remembered route is not the one:
    /// out of line, so that `f` is inlined into the hit path, its only other call.
    #[inline(never)]
    fn with_route_missed<R>(
        &self,
        generation: u64,
        topic: TopicRef<'_>,
        f: impl FnOnce(&Arc<Route>) -> R,
    ) -> R {
        let routes = self.routes.snapshot();
        let built;
        let route = match routes.get(topic.as_str()) {
            Some(route) => route,
            None => {
                built = self.build_route(topic.as_str());
                &built
            }
        };
        if route.pull_only {
            self.routes.remember(generation, topic, route);
        }
        f(route)
    }

    /// Runs `f` on the cached route of `topic` (computed now on a miss), without looking at
    /// this thread's remembered one: for dispatches that run handlers, whose routes are
    /// never remembered.
    #[inline]
    pub(crate) fn with_cached_route<R>(&self, topic: &str, f: impl FnOnce(&Arc<Route>) -> R) -> R {
        let routes = self.routes.snapshot();
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
    pub(crate) fn build_route(&self, topic: &str) -> Arc<Route> {
        let subs = self.lock_subs();
        let matching: Box<[Arc<Sub>]> = subs
            .iter()
            .filter(|s| s.pattern.matches(topic))
            .cloned()
            .collect();
        let route = Arc::new(Route {
            // A sync handler with retries needs the event owned too: its retries are awaited.
            owned: matching
                .iter()
                .any(|s| !matches!(s.kind, SubKind::Sync(_)) || s.retry.is_some()),
            pull_only: matching
                .iter()
                .all(|s| matches!(s.kind, SubKind::Pull(_)) && s.filter.is_none()),
            metered: matching.iter().filter(|s| s.metered()).count(),
            single: Single::of(&matching),
            subs: matching,
            stats: self.topic_stats(topic),
        });
        let routes = self.routes.map.load();
        if routes.len() < ROUTE_CACHE_LIMIT {
            let mut updated = FastMap::clone(&routes);
            updated.insert(topic.into(), Arc::clone(&route));
            self.routes.map.store(Arc::new(updated));
        }
        route
    }
}
