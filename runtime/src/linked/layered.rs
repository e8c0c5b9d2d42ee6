//! Requests through `tower` layers: one type-erased envelope ([`RequestEnvelope`]) so that one
//! stack of layers serves every request type, the boxed service the layers wrap
//! ([`RequestService`]), and the innermost service, which calls the typed responder.
//!
//! The erased call is a generic function of the runtime (`erased_call::<R>`), named where the
//! request's type is known (`EventSystem::request`), so the macros generate nothing for it;
//! only the cacheability probe (is the request `Serialize`, its response `Clone`?) is made where
//! the responder is declared, as the JSON probe of calls by name. A system with no layer never
//! comes here: its requests take `RequestFuture`'s direct path.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use serde::Serialize;
use tower_service::Service;

use super::handler::{BoxError, BoxFuture};
use super::host::{Host, PluginInactive};
use super::invoke::{self, HandlerPanic};
use super::request::{Attempts, Request, ResponderInfo};
use super::requesting::RequestError;

/// A response with its type erased: what a layer's service answers (the request's
/// `Response`, boxed).
pub type AnyResponse = Box<dyn Any + Send>;

/// A request's metadata: string keys to string values, set with
/// [`RequestCall::metadata`](crate::RequestCall::metadata) and read by layers (an auth layer
/// reads `"token"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    /// No entries (allocates nothing).
    pub const fn new() -> Self {
        Metadata(BTreeMap::new())
    }
    /// Sets `key` to `value`, returning the value it replaces.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(key.into(), value.into())
    }
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }
    /// The entries, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
    /// How many entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// No entries?
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The erased call of one request type's responder.
type ErasedCall =
    fn(Host, Box<dyn Any + Send>, Attempts) -> BoxFuture<'static, Result<AnyResponse, BoxError>>;

/// A response's clone, its type erased (`None` if `response` is not of the request's type).
type CloneResponse = fn(&(dyn Any + Send)) -> Option<AnyResponse>;

/// One request as the layers see it, whatever its type.
pub struct RequestEnvelope {
    /// The request's name.
    pub request: &'static str,
    /// The responder's plugin.
    pub plugin: &'static str,
    /// The responder (`module::Type::method`).
    pub method: &'static str,
    /// What the caller attached ([`RequestCall::metadata`](crate::RequestCall::metadata)).
    pub metadata: Metadata,
    /// The request itself (`Box<R>`); a layer may read it with `downcast_ref`.
    pub body: Box<dyn Any + Send>,
    /// The request as JSON when it can be cached: its type is `Serialize` and its response
    /// `Clone` (probed where the responder is declared); else `None`.
    pub cache_key: Option<String>,
    target: Option<Target>,
    clone_response: Option<CloneResponse>,
}

/// Where the innermost service sends the envelope.
struct Target {
    host: Host,
    call: ErasedCall,
    attempts: Attempts,
}

impl RequestEnvelope {
    /// An envelope that reaches no responder (the innermost service answers it with
    /// [`NotRouted`]): for testing layers on their own.
    pub fn new(
        request: &'static str,
        plugin: &'static str,
        method: &'static str,
        body: Box<dyn Any + Send>,
    ) -> Self {
        RequestEnvelope {
            request,
            plugin,
            method,
            metadata: Metadata::new(),
            body,
            cache_key: None,
            target: None,
            clone_response: None,
        }
    }

    /// A clone of `response`, when this request is cacheable (its `cache_key` is set) and
    /// `response` is of its response type.
    pub fn clone_response(&self, response: &(dyn Any + Send)) -> Option<AnyResponse> {
        self.response_cloner()?.clone_response(response)
    }

    /// What clones this request's responses, when it is cacheable: a cache keeps it with the
    /// response it stores.
    pub fn response_cloner(&self) -> Option<ResponseCloner> {
        self.cache_key.as_ref()?;
        self.clone_response.map(ResponseCloner)
    }
}

impl fmt::Debug for RequestEnvelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestEnvelope")
            .field("request", &self.request)
            .field("plugin", &self.plugin)
            .field("method", &self.method)
            .field("metadata", &self.metadata)
            .field("cache_key", &self.cache_key)
            .finish_non_exhaustive()
    }
}

/// Clones the responses of one request type (from [`RequestEnvelope::response_cloner`]).
#[derive(Clone, Copy)]
pub struct ResponseCloner(CloneResponse);

impl ResponseCloner {
    /// A clone of `response` (`None` if it is not of the response type).
    pub fn clone_response(&self, response: &(dyn Any + Send)) -> Option<AnyResponse> {
        (self.0)(response)
    }
}

impl fmt::Debug for ResponseCloner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseCloner")
    }
}

/// The innermost service's error for an envelope made with [`RequestEnvelope::new`].
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the envelope reaches no responder")]
pub struct NotRouted;

/// The responder answered with an error (what the layers see; the caller gets
/// [`RequestError::Failed`] with the responder's own error).
#[derive(Debug, thiserror::Error)]
#[error("the responder failed: {0}")]
pub struct ResponderFailed(#[source] pub BoxError);

/// A service the layers wrap and make: any `tower` service of envelopes, boxed and clonable.
pub struct RequestService(Box<dyn ErasedService>);

trait ErasedService: Send {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>>;
    fn call(
        &mut self,
        envelope: RequestEnvelope,
    ) -> BoxFuture<'static, Result<AnyResponse, BoxError>>;
    fn clone_box(&self) -> Box<dyn ErasedService>;
}

impl<S> ErasedService for S
where
    S: Service<RequestEnvelope, Response = AnyResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Service::poll_ready(self, cx).map_err(Into::into)
    }
    fn call(
        &mut self,
        envelope: RequestEnvelope,
    ) -> BoxFuture<'static, Result<AnyResponse, BoxError>> {
        let future = Service::call(self, envelope);
        // Mapped in place, not awaited in an `async` block (which would hold it twice).
        Box::pin(futures_util::TryFutureExt::map_err(future, Into::into))
    }
    fn clone_box(&self) -> Box<dyn ErasedService> {
        Box::new(self.clone())
    }
}

impl RequestService {
    /// Boxes `service`.
    pub fn new<S>(service: S) -> Self
    where
        S: Service<RequestEnvelope, Response = AnyResponse> + Clone + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        RequestService(Box::new(service))
    }

    /// The innermost service: the envelope's responder, called.
    pub(crate) fn responders() -> Self {
        RequestService::new(Responders)
    }
}

impl Clone for RequestService {
    fn clone(&self) -> Self {
        RequestService(self.0.clone_box())
    }
}

impl fmt::Debug for RequestService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestService")
    }
}

impl Service<RequestEnvelope> for RequestService {
    type Response = AnyResponse;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<AnyResponse, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }
    fn call(&mut self, envelope: RequestEnvelope) -> Self::Future {
        self.0.call(envelope)
    }
}

/// The innermost service: calls the envelope's responder.
#[derive(Clone, Copy)]
struct Responders;

impl Service<RequestEnvelope> for Responders {
    type Response = AnyResponse;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<AnyResponse, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, envelope: RequestEnvelope) -> Self::Future {
        match envelope.target {
            Some(Target {
                host,
                call,
                attempts,
            }) => call(host, envelope.body, attempts),
            None => Box::pin(std::future::ready(Err(Box::new(NotRouted) as BoxError))),
        }
    }
}

/// The body was not the request type its envelope names (a layer replaced it).
#[derive(Debug, thiserror::Error)]
#[error("the envelope's body is not a `{0}` request")]
struct WrongBody(&'static str);

/// `R`'s responder, called with an erased request: the body downcast, the typed responder
/// run (a panic caught), its response boxed; its error wrapped in [`ResponderFailed`].
fn erased_call<R: Request>(
    host: Host,
    body: Box<dyn Any + Send>,
    attempts: Attempts,
) -> BoxFuture<'static, Result<AnyResponse, BoxError>> {
    Box::pin(async move {
        let request = match body.downcast::<R>() {
            Ok(request) => *request,
            Err(_) => return Err(Box::new(WrongBody(R::NAME)) as BoxError),
        };
        let Some(&(_, call)) = R::__table().responder() else {
            return Err(Box::new(PluginInactive) as BoxError);
        };
        match super::request::answer(&host, call, request, attempts).await {
            Ok(response) => Ok(Box::new(response) as AnyResponse),
            Err(source) if invoke::skipped(&source) || source.is::<HandlerPanic>() => Err(source),
            Err(source) => Err(Box::new(ResponderFailed(source)) as BoxError),
        }
    })
}

/// `request` through `service` (a clone of the system's stack) to its responder. What it
/// answers is a responder's answer to `RequestFuture` (which times it, so that its timeout
/// covers waiting for the stack to be ready too): the response, the responder's own error
/// (unwrapped from [`ResponderFailed`]), the `PluginInactive` mark, or an outcome of the
/// layers (`Layered`: a panic inside, a layer's error), unwrapped by [`outcome`].
fn layered<R: Request>(
    host: Host,
    info: &'static ResponderInfo,
    mut service: RequestService,
    request: R,
    metadata: Metadata,
    attempts: Attempts,
) -> BoxFuture<'static, Result<R::Response, BoxError>> {
    Box::pin(async move {
        let cacheable = (info.cacheable)();
        let cache_key = cacheable.and_then(|c| (c.key)(&request));
        let envelope = RequestEnvelope {
            request: R::NAME,
            plugin: info.plugin(),
            method: info.method(),
            metadata,
            body: Box::new(request),
            cache_key,
            target: Some(Target {
                host,
                call: erased_call::<R>,
                attempts,
            }),
            clone_response: cacheable.map(|c| c.clone),
        };
        std::future::poll_fn(|cx| Service::poll_ready(&mut service, cx))
            .await
            .map_err(|source| rejected::<R>(source, info))?;
        let source = match Service::call(&mut service, envelope).await {
            Ok(response) => {
                return match response.downcast::<R::Response>() {
                    Ok(response) => Ok(*response),
                    Err(_) => Err(rejected::<R>(Box::new(WrongResponse(R::NAME)), info)),
                };
            }
            Err(source) => source,
        };
        match source.downcast::<ResponderFailed>() {
            Ok(failed) => Err(failed.0),
            Err(source) if invoke::skipped(&source) => Err(source),
            Err(source) => Err(rejected::<R>(source, info)),
        }
    })
}

/// The future of `request` through the layers, in the responder's place (out of line: a
/// system without layers never calls it).
#[cold]
#[inline(never)]
pub(crate) fn start<'s, R: Request>(
    host: &'s Host,
    info: &'static ResponderInfo,
    stack: &parking_lot::Mutex<RequestService>,
    metadata: Option<Box<Metadata>>,
    request: R,
    attempts: Attempts,
) -> super::request::ResponderFuture<'s, R::Response> {
    let service = stack.lock().clone();
    let metadata = metadata.map(|m| *m).unwrap_or_default();
    let future = layered(host.clone(), info, service, request, metadata, attempts);
    super::request::ResponderFuture::holding(future)
}

/// An outcome of the layers, carried to `RequestFuture` as a responder's error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Layered(RequestError);

/// A layer's error (or a panic in the responder, caught inside the stack), as the caller
/// gets it.
fn rejected<R: Request>(source: BoxError, info: &'static ResponderInfo) -> BoxError {
    let error = match source.downcast::<HandlerPanic>() {
        Ok(panic) => RequestError::Panicked {
            request: R::NAME,
            responder: info.method(),
            panic: *panic,
            attempts: 1,
        },
        Err(source) => RequestError::Rejected {
            request: R::NAME,
            source,
        },
    };
    Box::new(Layered(error))
}

/// Whether a responder's error is an outcome of the layers.
pub(crate) fn is_outcome(source: &BoxError) -> bool {
    source.is::<Layered>()
}

/// The outcome of the layers `source` carries ([`is_outcome`]); a panic of the responder
/// inside them after `attempts`.
#[cold]
pub(crate) fn outcome(source: BoxError, attempts: u32) -> RequestError {
    match source.downcast::<Layered>() {
        Ok(layered) => match layered.0 {
            RequestError::Panicked {
                request,
                responder,
                panic,
                ..
            } => RequestError::Panicked {
                request,
                responder,
                panic,
                attempts,
            },
            error => error,
        },
        Err(source) => RequestError::Failed {
            request: "",
            responder: "",
            source,
            attempts,
        },
    }
}

/// A layer answered with a response of another type than the request's.
#[derive(Debug, thiserror::Error)]
#[error("a layer answered request `{0}` with a response of another type")]
struct WrongResponse(&'static str);

/// How a cacheable request type's key is made and its responses cloned.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Cacheable {
    key: fn(&dyn Any) -> Option<String>,
    clone: CloneResponse,
}

fn key_of<R: Serialize + 'static>(request: &dyn Any) -> Option<String> {
    serde_json::to_string(request.downcast_ref::<R>()?).ok()
}

fn clone_of<T: Clone + Send + 'static>(response: &(dyn Any + Send)) -> Option<AnyResponse> {
    let response: &dyn Any = response;
    Some(Box::new(response.downcast_ref::<T>()?.clone()))
}

/// Finds, where a responder is declared, whether its request can be cached: the request
/// `Serialize` (its key), the response `Clone` (autoref specialisation, as `CallProbe`).
#[doc(hidden)]
pub struct CacheProbe<R>(pub PhantomData<fn() -> R>);

#[doc(hidden)]
pub trait CacheProbeCacheable {
    fn cacheable(&self) -> Option<Cacheable>;
}

impl<R> CacheProbeCacheable for &CacheProbe<R>
where
    R: Request + Serialize,
    R::Response: Clone,
{
    #[inline(always)]
    fn cacheable(&self) -> Option<Cacheable> {
        Some(Cacheable {
            key: key_of::<R>,
            clone: clone_of::<R::Response>,
        })
    }
}

#[doc(hidden)]
pub trait CacheProbeFallback {
    fn cacheable(&self) -> Option<Cacheable>;
}

impl<R> CacheProbeFallback for CacheProbe<R> {
    #[inline(always)]
    fn cacheable(&self) -> Option<Cacheable> {
        None
    }
}
