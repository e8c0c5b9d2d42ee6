//! `system.request(r).await`: a typed request to the one responder of its type (the future
//! and its errors are the static layer's, `linked/requesting.rs`). A system with request
//! layers sends it through them (`linked/layered.rs`); one without takes the direct path, with
//! no envelope and no allocation.

use std::fmt;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use crate::linked::layered::{Metadata, RequestService};
use crate::linked::request::Request;
use crate::linked::requesting::{RequestError, RequestFuture};

use super::EventSystem;

/// A request about to be sent: [`timeout`](Self::timeout) overrides the responder's and the
/// system's, [`metadata`](Self::metadata) attaches what request layers read; `.await` it for
/// the response.
#[must_use = "a request does nothing until it is awaited"]
pub struct RequestCall<'s, R: Request> {
    system: &'s EventSystem,
    request: R,
    timeout: Option<Duration>,
    // Boxed, made by the first `metadata` call: a request without any carries a null
    // pointer, whose drop is one test (an empty map's is a call).
    metadata: Option<Box<Metadata>>,
}

impl<'s, R: Request> RequestCall<'s, R> {
    /// How long the responder may take (any duration: one too long to be a deadline is
    /// none). Default: the responder's `#[responds(timeout = "..")]`, else the system's
    /// [`request_timeout`](crate::EventSystemBuilder::request_timeout). With request layers,
    /// it covers the whole stack, waiting for it to be ready included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Attaches `key = value` to the request, for the system's
    /// [request layers](crate::EventSystemBuilder::request_layer) (a system without any
    /// ignores it): `system.request(r).metadata("token", "s3cret").await`.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.get_or_insert_default().insert(key, value);
        self
    }
}

impl<'s, R: Request> IntoFuture for RequestCall<'s, R> {
    type Output = Result<R::Response, RequestError>;
    type IntoFuture = RequestFuture<'s, R>;

    #[inline]
    fn into_future(self) -> RequestFuture<'s, R> {
        RequestFuture::new(&self.system.host, self.request, self.timeout, self.metadata)
    }
}

impl EventSystem {
    /// Sends `request` to the one `#[responds]` method of its type and awaits its response:
    /// a call through the request type's own table (no map), under the responder's or the
    /// system's timeout, or [`RequestCall::timeout`]; through the system's
    /// [request layers](crate::EventSystemBuilder::request_layer) if it has some.
    ///
    /// Fails with [`RequestError::NoResponder`] when the responder's plugin is not running,
    /// [`Timeout`](RequestError::Timeout) (its future is dropped),
    /// [`Failed`](RequestError::Failed) with its error,
    /// [`Panicked`](RequestError::Panicked), or [`Rejected`](RequestError::Rejected) with a
    /// layer's error.
    pub fn request<R: Request>(&self, request: R) -> RequestCall<'_, R> {
        RequestCall {
            system: self,
            request,
            timeout: None,
            metadata: None,
        }
    }
}

/// One layer given to the builder, as what makes a service of the one inside.
pub(crate) type LayerFn = Arc<dyn Fn(RequestService) -> RequestService + Send + Sync>;

/// The builder's request layers, in the order given (first = outermost).
#[derive(Clone, Default)]
pub(crate) struct RequestLayers(pub(crate) Vec<LayerFn>);

impl fmt::Debug for RequestLayers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestLayers({})", self.0.len())
    }
}

/// A system's stack of request layers around its responders, built once: `layers` around
/// the responders, the first given outermost; `None` without layers. Each request takes a
/// clone.
pub(crate) fn stack(layers: &RequestLayers) -> Option<parking_lot::Mutex<RequestService>> {
    if layers.0.is_empty() {
        return None;
    }
    let stack = layers
        .0
        .iter()
        .rev()
        .fold(RequestService::responders(), |inner, layer| layer(inner));
    Some(parking_lot::Mutex::new(stack))
}
