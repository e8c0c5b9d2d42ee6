//! Calls, successes, failures and total latency per request name.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use staticbus::{AnyResponse, BoxError, Layer, RequestEnvelope, Service};

use crate::{ResponseFuture, take_ready};

/// One request name's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestMetrics {
    /// Requests that reached this layer (and were called on).
    pub calls: u64,
    /// Those answered.
    pub successes: u64,
    /// Those that failed (in a layer inside this one or in the responder).
    pub failures: u64,
    /// The time from call to outcome, summed over the finished ones (a request dropped
    /// before its outcome, such as a timed-out one, adds none).
    pub total_latency: Duration,
}

/// The shared counts of a [`MetricsLayer`] (every clone sees the same).
#[derive(Debug, Clone, Default)]
pub struct Metrics(Arc<Mutex<BTreeMap<&'static str, RequestMetrics>>>);

impl Metrics {
    /// A snapshot: each request name's counts.
    pub fn snapshot(&self) -> BTreeMap<&'static str, RequestMetrics> {
        self.0.lock().clone()
    }

    /// The counts of one request name (zero if it was never called).
    pub fn of(&self, request: &str) -> RequestMetrics {
        self.0.lock().get(request).copied().unwrap_or_default()
    }

    fn update(&self, request: &'static str, change: impl FnOnce(&mut RequestMetrics)) {
        change(self.0.lock().entry(request).or_default());
    }
}

/// Counts each request by name (see [`RequestMetrics`]); a clone counts into the same
/// [`Metrics`].
#[derive(Debug, Clone, Default)]
pub struct MetricsLayer {
    metrics: Metrics,
}

impl MetricsLayer {
    /// A layer with counts of its own.
    pub fn new() -> Self {
        MetricsLayer::default()
    }

    /// The shared counts.
    pub fn handle(&self) -> Metrics {
        self.metrics.clone()
    }

    /// A snapshot of the counts ([`Metrics::snapshot`]).
    pub fn metrics(&self) -> BTreeMap<&'static str, RequestMetrics> {
        self.metrics.snapshot()
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> MetricsService<S> {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// [`MetricsLayer`]'s service.
#[derive(Debug, Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Metrics,
}

impl<S> Service<RequestEnvelope> for MetricsService<S>
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
        let request = envelope.request;
        let metrics = self.metrics.clone();
        metrics.update(request, |m| m.calls += 1);
        let started = Instant::now();
        let future = take_ready(&mut self.inner).call(envelope);
        Box::pin(async move {
            let outcome = future.await;
            let elapsed = started.elapsed();
            metrics.update(request, |m| {
                match outcome {
                    Ok(_) => m.successes += 1,
                    Err(_) => m.failures += 1,
                }
                m.total_latency += elapsed;
            });
            outcome
        })
    }
}
