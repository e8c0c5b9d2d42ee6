//! `system.request(r).await`: a typed request to the one responder of its type (the future
//! and its errors are the static layer's, `linked/requesting.rs`).

use std::future::IntoFuture;
use std::time::Duration;

use crate::linked::request::Request;
use crate::linked::requesting::{RequestError, RequestFuture};

use super::EventSystem;

/// A request about to be sent: [`timeout`](Self::timeout) overrides the responder's and the
/// system's; `.await` it for the response.
#[must_use = "a request does nothing until it is awaited"]
pub struct RequestCall<'s, R: Request> {
    system: &'s EventSystem,
    request: R,
    timeout: Option<Duration>,
}

impl<'s, R: Request> RequestCall<'s, R> {
    /// How long the responder may take (any duration: one too long to be a deadline is
    /// none). Default: the responder's `#[responds(timeout = "..")]`, else the system's
    /// [`request_timeout`](crate::EventSystemBuilder::request_timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl<'s, R: Request> IntoFuture for RequestCall<'s, R> {
    type Output = Result<R::Response, RequestError>;
    type IntoFuture = RequestFuture<'s, R>;

    fn into_future(self) -> RequestFuture<'s, R> {
        let default = self.system.core().request_timeout;
        RequestFuture::new(&self.system.host, self.request, self.timeout, default)
    }
}

impl EventSystem {
    /// Sends `request` to the one `#[responds]` method of its type and awaits its response:
    /// a call through the request type's own table (no map), under the responder's or the
    /// system's timeout, or [`RequestCall::timeout`].
    ///
    /// Fails with [`RequestError::NoResponder`] when the responder's plugin is not running,
    /// [`Timeout`](RequestError::Timeout) (its future is dropped),
    /// [`Failed`](RequestError::Failed) with its error, or
    /// [`Panicked`](RequestError::Panicked).
    pub fn request<R: Request>(&self, request: R) -> RequestCall<'_, R> {
        RequestCall {
            system: self,
            request,
            timeout: None,
        }
    }
}
