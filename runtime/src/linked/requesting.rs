//! A typed request on its way: its responder called in the first poll, its future held in
//! place, under a timeout armed only if that poll is `Pending`; every way it can fail told
//! apart. `EventSystem::request` and calls by name (`call.rs`) both run one.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::handler::BoxError;
use super::host::{Call, Host};
use super::invoke::{self, HandlerPanic};
use super::layered::Through;
use super::request::{Request, ResponderFuture, ResponderInfo};

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No responder answers this request type in this system: its plugin is disabled, not
    /// made yet, stopped or failed. (A request type with no responder at all in the binary
    /// is a `build()` error.)
    #[error("no responder for request `{request}`: {reason}")]
    NoResponder {
        /// The request's name.
        request: &'static str,
        /// Why.
        reason: String,
    },
    /// The responder did not answer within the timeout: its future was dropped.
    #[error("request `{request}` to `{responder}` timed out after {after:?}")]
    Timeout {
        /// The request's name.
        request: &'static str,
        /// The responder (`module::Type::method`).
        responder: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// The responder returned an error.
    #[error("responder `{responder}` of request `{request}` failed: {source}")]
    Failed {
        /// The request's name.
        request: &'static str,
        /// The responder.
        responder: &'static str,
        /// Its error.
        source: BoxError,
    },
    /// A request layer ([`request_layer`](crate::EventSystemBuilder::request_layer))
    /// answered with an error of its own: the responder was not called, or its answer was
    /// not passed on. Tell the layers apart by their error types (`source.downcast_ref`).
    #[error("request `{request}` rejected by a layer: {source}")]
    Rejected {
        /// The request's name.
        request: &'static str,
        /// The layer's error.
        source: BoxError,
    },
    /// The responder (or a request layer) panicked (while its future was made or polled).
    #[error("responder `{responder}` of request `{request}` panicked: {}", .panic.message())]
    Panicked {
        /// The request's name.
        request: &'static str,
        /// The responder.
        responder: &'static str,
        /// The panic.
        panic: HandlerPanic,
    },
}

fn no_responder<R: Request>(reason: &str) -> RequestError {
    RequestError::NoResponder {
        request: R::NAME,
        reason: reason.to_owned(),
    }
}

pin_project_lite::pin_project! {
    /// A request on its way: the responder's future (held in place, not boxed, when it is
    /// small enough), under its timeout.
    #[must_use = "futures do nothing unless polled"]
    pub struct RequestFuture<'s, R: Request> {
        // Made in the first poll, in place (the responder's future is not moved after).
        #[pin]
        future: Option<ResponderFuture<'s, R::Response>>,
        // Until the first poll.
        request: Option<R>,
        info: Option<&'static ResponderInfo>,
        host: &'s Host,
        // The call's or the responder's; else `default_timeout`.
        timeout: Option<Duration>,
        default_timeout: Duration,
        // Made when the responder first returns `Pending`: an answer in the first poll reads
        // no clock.
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
        // The system's layers, when it has some: taken by the first poll, which then puts
        // the stack's future in the responder's place (`layered::start`).
        through: Through<'s>,
    }
}

impl<'s, R: Request> RequestFuture<'s, R> {
    /// `request` to its responder in `host`'s system, under `timeout` (else the responder's,
    /// else `default_timeout`); nothing is called before the first poll.
    pub(crate) fn new(
        host: &'s Host,
        request: R,
        timeout: Option<Duration>,
        default_timeout: Duration,
        through: Through<'s>,
    ) -> Self {
        RequestFuture {
            future: None,
            request: Some(request),
            info: None,
            host,
            timeout,
            default_timeout,
            sleep: None,
            through,
        }
    }
}

impl<R: Request> Future for RequestFuture<'_, R> {
    type Output = Result<R::Response, RequestError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(request) = this.request.take() {
            let Some(&(info, call)) = R::__table().responder() else {
                return Poll::Ready(Err(no_responder::<R>("the binary links none")));
            };
            let host = *this.host;
            if let Some(stack) = this.through.stack {
                let metadata = this.through.metadata.take();
                let future = super::layered::start(host, info, stack, metadata, request);
                this.future.set(Some(future));
            } else {
                match panic::catch_unwind(AssertUnwindSafe(|| call(host, &Call::ROOT, request))) {
                    Ok(future) => this.future.set(Some(future)),
                    Err(payload) => {
                        return Poll::Ready(Err(RequestError::Panicked {
                            request: R::NAME,
                            responder: info.method(),
                            panic: HandlerPanic::from_payload(payload.as_ref()),
                        }));
                    }
                }
            }
            *this.info = Some(info);
            if this.timeout.is_none() {
                *this.timeout = info.timeout();
            }
        }
        let (Some(future), Some(info)) = (this.future.as_mut().as_pin_mut(), *this.info) else {
            return Poll::Ready(Err(no_responder::<R>("the request was already answered")));
        };
        let polled = panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
        let outcome = match polled {
            Ok(Poll::Ready(Ok(response))) => Ok(response),
            Ok(Poll::Ready(Err(source))) if super::layered::is_outcome(&source) => {
                Err(super::layered::outcome(source))
            }
            Ok(Poll::Ready(Err(source))) if invoke::skipped(&source) => {
                Err(no_responder::<R>(&format!(
                    "its plugin `{}` is not running (disabled, not made yet, stopped or failed)",
                    info.plugin()
                )))
            }
            Ok(Poll::Ready(Err(source))) => Err(RequestError::Failed {
                request: R::NAME,
                responder: info.method(),
                source,
            }),
            Err(payload) => Err(RequestError::Panicked {
                request: R::NAME,
                responder: info.method(),
                panic: HandlerPanic::from_payload(payload.as_ref()),
            }),
            Ok(Poll::Pending) => {
                let timeout = *this.timeout.get_or_insert(*this.default_timeout);
                if this.sleep.is_none() {
                    // A deadline too far to represent is none.
                    match tokio::time::Instant::now().checked_add(timeout) {
                        Some(at) => *this.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
                        None => return Poll::Pending,
                    }
                }
                let Some(sleep) = this.sleep.as_mut() else {
                    return Poll::Pending;
                };
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                Err(RequestError::Timeout {
                    request: R::NAME,
                    responder: info.method(),
                    after: timeout,
                })
            }
        };
        // Done: the responder's future is dropped now (a timed-out one is cancelled).
        this.future.set(None);
        Poll::Ready(outcome)
    }
}
