//! A span per request, its outcome logged.

use std::task::{Context, Poll};

use staticbus::{AnyResponse, BoxError, Layer, RequestEnvelope, Service};
use tracing::Instrument;

use crate::{ResponseFuture, take_ready};

/// Runs each request in a `request` span (fields `request`, `plugin`, `method`) and logs its
/// outcome in it: a `debug` event on success, a `warn` event with the error on failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingLayer;

impl TracingLayer {
    /// The layer.
    pub fn new() -> Self {
        TracingLayer
    }
}

impl<S> Layer<S> for TracingLayer {
    type Service = Tracing<S>;

    fn layer(&self, inner: S) -> Tracing<S> {
        Tracing { inner }
    }
}

/// [`TracingLayer`]'s service.
#[derive(Debug, Clone)]
pub struct Tracing<S> {
    inner: S,
}

impl<S> Service<RequestEnvelope> for Tracing<S>
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
        let span = tracing::info_span!(
            "request",
            request = envelope.request,
            plugin = envelope.plugin,
            method = envelope.method,
        );
        let mut inner = take_ready(&mut self.inner);
        let future = span.in_scope(|| inner.call(envelope));
        Box::pin(
            async move {
                let outcome = future.await;
                match &outcome {
                    Ok(_) => tracing::debug!(outcome = "ok", "request answered"),
                    Err(error) => tracing::warn!(outcome = "error", %error, "request failed"),
                }
                outcome
            }
            .instrument(span),
        )
    }
}
