//! Repeated requests answered from a cache.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use moka::policy::EvictionPolicy;
use parking_lot::Mutex;
use staticbus::{AnyResponse, BoxError, Layer, RequestEnvelope, ResponseCloner, Service};

use crate::{ResponseFuture, take_ready};

/// The counts of a [`CacheLayer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Answered from the cache (the layers inside and the responder not called).
    pub hits: u64,
    /// Cacheable requests not in the cache (passed on; a success is then stored).
    pub misses: u64,
    /// Requests that cannot be cached (passed on, never stored).
    pub uncacheable: u64,
}

/// One stored response, with what clones it (a hit answers a clone).
struct Stored {
    // `AnyResponse` is `Send` only; the cache needs `Sync`.
    response: Mutex<AnyResponse>,
    cloner: ResponseCloner,
}

#[derive(Default)]
struct Counts {
    hits: AtomicU64,
    misses: AtomicU64,
    uncacheable: AtomicU64,
}

struct Shared {
    cache: moka::sync::Cache<(&'static str, String), Arc<Stored>>,
    counts: Counts,
}

/// Answers a request from a `moka` cache keyed by the request's name and its
/// [`cache_key`](RequestEnvelope::cache_key) (the request as JSON).
///
/// The rule: a request is cacheable when its envelope has a `cache_key`, that is when its type
/// is `Serialize` and its response type `Clone`; others pass through, counted as
/// `uncacheable`. Only successful responses are stored; a hit answers a clone. Entries live
/// `ttl` at most after they were stored, and at most `max_entries` are kept (the least
/// recently used evicted first). Metadata is not part of the key: put an [`AuthLayer`](crate::AuthLayer)
/// outside (given before) this layer if cached answers must be authorised too.
#[derive(Clone)]
pub struct CacheLayer {
    shared: Arc<Shared>,
}

impl CacheLayer {
    /// A cache of at most `max_entries` responses, each for `ttl`.
    pub fn new(ttl: Duration, max_entries: u64) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(max_entries)
            .time_to_live(ttl)
            .eviction_policy(EvictionPolicy::lru())
            .build();
        CacheLayer {
            shared: Arc::new(Shared {
                cache,
                counts: Counts::default(),
            }),
        }
    }

    /// The counts so far (every clone of this layer shares them).
    pub fn stats(&self) -> CacheStats {
        let counts = &self.shared.counts;
        CacheStats {
            hits: counts.hits.load(Ordering::Relaxed),
            misses: counts.misses.load(Ordering::Relaxed),
            uncacheable: counts.uncacheable.load(Ordering::Relaxed),
        }
    }

    /// How many responses are stored (moka's estimate, after its pending work is done).
    pub fn entries(&self) -> u64 {
        self.shared.cache.run_pending_tasks();
        self.shared.cache.entry_count()
    }
}

impl fmt::Debug for CacheLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLayer")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = Cache<S>;

    fn layer(&self, inner: S) -> Cache<S> {
        Cache {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// [`CacheLayer`]'s service.
#[derive(Clone)]
pub struct Cache<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for Cache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> Service<RequestEnvelope> for Cache<S>
where
    S: Service<RequestEnvelope, Response = AnyResponse, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = AnyResponse;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, envelope: RequestEnvelope) -> ResponseFuture {
        let counts = &self.shared.counts;
        let (Some(key), Some(cloner)) = (envelope.cache_key.clone(), envelope.response_cloner())
        else {
            counts.uncacheable.fetch_add(1, Ordering::Relaxed);
            return Box::pin(take_ready(&mut self.inner).call(envelope));
        };
        let key = (envelope.request, key);
        if let Some(stored) = self.shared.cache.get(&key) {
            let answer = stored.cloner.clone_response(&**stored.response.lock());
            if let Some(answer) = answer {
                counts.hits.fetch_add(1, Ordering::Relaxed);
                return Box::pin(std::future::ready(Ok(answer)));
            }
        }
        counts.misses.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&self.shared);
        let future = take_ready(&mut self.inner).call(envelope);
        Box::pin(async move {
            let response = future.await?;
            if let Some(copy) = cloner.clone_response(&*response) {
                let stored = Stored {
                    response: Mutex::new(copy),
                    cloner,
                };
                shared.cache.insert(key, Arc::new(stored));
            }
            Ok(response)
        })
    }
}
