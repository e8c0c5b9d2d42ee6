//! `tower` layers for staticbus requests: give them to
//! [`EventSystemBuilder::request_layer`](staticbus::EventSystemBuilder::request_layer), the
//! first given outermost.
//!
//! - [`TracingLayer`]: a span per request (its name, plugin, method), its outcome logged.
//! - [`MetricsLayer`]: calls, successes, failures and total latency per request name, read
//!   through a shared [`Metrics`] handle.
//! - [`AuthLayer`]: checks the token in the request's `"token"` metadata; refuses with
//!   [`AuthError`] (the responder is not called).
//! - [`CacheLayer`]: answers repeated requests from a `moka` cache (TTL, size bound, LRU
//!   eviction), hits and misses counted.
//!
//! A layer's own error reaches the caller as
//! [`RequestError::Rejected`](staticbus::RequestError::Rejected); tell them apart with
//! `source.downcast_ref::<AuthError>()`.
//!
//! ```no_run
//! use std::time::Duration;
//! use staticbus::EventSystem;
//! use staticbus_middleware::{AuthLayer, CacheLayer, MetricsLayer, TracingLayer};
//!
//! let metrics = MetricsLayer::new();
//! let system = EventSystem::builder()
//!     .request_layer(TracingLayer::new())
//!     .request_layer(metrics.clone())
//!     .request_layer(AuthLayer::new(|token| token == "s3cret"))
//!     .request_layer(CacheLayer::new(Duration::from_secs(60), 10_000))
//!     .build()?;
//! # Ok::<(), staticbus::Error>(())
//! ```

mod auth;
mod cache;
mod metrics;
mod tracing_layer;

use std::future::Future;
use std::pin::Pin;

pub use auth::{Auth, AuthError, AuthLayer, TOKEN_KEY};
pub use cache::{Cache, CacheLayer, CacheStats};
pub use metrics::{Metrics, MetricsLayer, MetricsService, RequestMetrics};
pub use tracing_layer::{Tracing, TracingLayer};

/// The future of every service here.
pub type ResponseFuture = Pin<
    Box<dyn Future<Output = Result<staticbus::AnyResponse, staticbus::BoxError>> + Send + 'static>,
>;

/// The ready service of `slot`, taken for one call (a clone left in its place), as tower's
/// guides do: the clone is not the one `poll_ready` readied.
fn take_ready<S: Clone>(slot: &mut S) -> S {
    let clone = slot.clone();
    std::mem::replace(slot, clone)
}
