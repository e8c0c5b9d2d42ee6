//! Calls by name: a plugin's responder reached with its plugin's and method's names and JSON
//! arguments, for callers that know names only at run time. A responder is callable so when
//! its request type is `Deserialize` and its response `Serialize` (probed where the plugin is
//! declared; others are not callable by name, and say so).

use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::handler::BoxFuture;
use super::host::Host;
use super::layered::Metadata;
use super::request::Request;
use super::requesting::{RequestError, RequestFuture};

/// A responder called with JSON arguments: the request read from them, run as a typed request
/// (under `timeout`, else the responder's, else the system's; through the system's request
/// layers, if it has some, with the caller's metadata), its response written as JSON.
pub type JsonCallFn = for<'a> fn(
    &'a Host,
    serde_json::Value,
    Option<Duration>,
    Option<Box<Metadata>>,
) -> BoxFuture<'a, Result<serde_json::Value, CallFailure>>;

/// What went wrong in a [`JsonCallFn`] (the system turns it into a `CallError`).
#[doc(hidden)]
#[derive(Debug)]
pub enum CallFailure {
    /// The arguments are not a request of the responder's type.
    Arguments(serde_json::Error),
    /// The response could not be written as JSON.
    Response(serde_json::Error),
    /// The request itself failed.
    Request(RequestError),
}

fn json_call<'a, R>(
    host: &'a Host,
    args: serde_json::Value,
    timeout: Option<Duration>,
    metadata: Option<Box<Metadata>>,
) -> BoxFuture<'a, Result<serde_json::Value, CallFailure>>
where
    R: Request + DeserializeOwned,
    R::Response: Serialize,
{
    Box::pin(async move {
        let request: R = serde_json::from_value(args).map_err(CallFailure::Arguments)?;
        let response = RequestFuture::new(host, request, timeout, metadata)
            .await
            .map_err(CallFailure::Request)?;
        serde_json::to_value(response).map_err(CallFailure::Response)
    })
}

/// Finds, where a responder is declared, whether its request can be called with JSON
/// (autoref specialisation, as the event probes in `event.rs`).
#[doc(hidden)]
pub struct CallProbe<R>(pub PhantomData<fn() -> R>);

#[doc(hidden)]
pub trait CallProbeJson {
    fn json_call(&self) -> Option<JsonCallFn>;
}

impl<R> CallProbeJson for &CallProbe<R>
where
    R: Request + DeserializeOwned,
    R::Response: Serialize,
{
    #[inline(always)]
    fn json_call(&self) -> Option<JsonCallFn> {
        Some(json_call::<R>)
    }
}

#[doc(hidden)]
pub trait CallProbeFallback {
    fn json_call(&self) -> Option<JsonCallFn>;
}

impl<R> CallProbeFallback for CallProbe<R> {
    #[inline(always)]
    fn json_call(&self) -> Option<JsonCallFn> {
        None
    }
}
