//! A token check on the request's metadata.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use staticbus::{AnyResponse, BoxError, Layer, RequestEnvelope, Service};

use crate::{ResponseFuture, take_ready};

/// Why [`AuthLayer`] refused a request (the caller's
/// [`RequestError::Rejected`](staticbus::RequestError::Rejected) carries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The request carries no `"token"` metadata.
    #[error("request `{request}` carries no token")]
    Missing {
        /// The request's name.
        request: &'static str,
    },
    /// Its token did not pass the check.
    #[error("request `{request}` carries a token that is not valid")]
    Invalid {
        /// The request's name.
        request: &'static str,
    },
}

type TokenCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Passes on a request only if its `"token"` metadata
/// ([`RequestCall::metadata`](staticbus::RequestCall::metadata)) passes `check`; otherwise
/// answers [`AuthError::Missing`] or [`AuthError::Invalid`] and the layers inside it (and the
/// responder) are not called.
#[derive(Clone)]
pub struct AuthLayer {
    check: TokenCheck,
}

/// The metadata key the token is read from.
pub const TOKEN_KEY: &str = "token";

impl AuthLayer {
    /// A layer accepting the tokens `check` accepts.
    pub fn new(check: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        AuthLayer {
            check: Arc::new(check),
        }
    }
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthLayer")
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            check: Arc::clone(&self.check),
        }
    }
}

/// [`AuthLayer`]'s service.
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    check: TokenCheck,
}

impl<S: fmt::Debug> fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth").field("inner", &self.inner).finish()
    }
}

impl<S> Service<RequestEnvelope> for Auth<S>
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
        let refused = match envelope.metadata.get(TOKEN_KEY) {
            None => Some(AuthError::Missing { request }),
            Some(token) if !(self.check)(token) => Some(AuthError::Invalid { request }),
            Some(_) => None,
        };
        match refused {
            Some(error) => Box::pin(std::future::ready(Err(Box::new(error) as BoxError))),
            None => Box::pin(take_ready(&mut self.inner).call(envelope)),
        }
    }
}
