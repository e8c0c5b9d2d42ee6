//! `system.call(plugin, method, json)`: a responder reached by its plugin's and method's
//! names with JSON arguments, for callers that know names only at run time.

use std::fmt;
use std::future::IntoFuture;
use std::time::Duration;

use crate::linked::BoxFuture;
use crate::linked::call::CallFailure;
use crate::linked::layered::Metadata;
use crate::linked::{RequestError, registry};

use super::EventSystem;

/// Why a call by name got no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No linked plugin has this name.
    #[error("no plugin named `{plugin}` is linked (linked: {})", .linked.join(", "))]
    UnknownPlugin {
        /// The name asked for.
        plugin: String,
        /// The plugins that are linked.
        linked: Vec<&'static str>,
    },
    /// The plugin has no `#[responds]` method of this name.
    #[error(
        "plugin `{plugin}` has no responder named `{method}` (its responders: {})",
        if .methods.is_empty() { "none".to_owned() } else { .methods.join(", ") }
    )]
    UnknownMethod {
        /// The plugin.
        plugin: String,
        /// The name asked for.
        method: String,
        /// Its responders' names.
        methods: Vec<&'static str>,
    },
    /// The responder's request is not `Deserialize`, or its response not `Serialize`.
    #[error(
        "`{plugin}.{method}` cannot be called by name: its request `{request}` must be \
         `serde::Deserialize` and its response `serde::Serialize`"
    )]
    NotCallable {
        /// The plugin.
        plugin: String,
        /// The method.
        method: String,
        /// Its request type's name.
        request: &'static str,
    },
    /// The arguments are not a request of the responder's type.
    #[error("bad arguments for `{plugin}.{method}` (a `{request}`): {source}")]
    BadArguments {
        /// The plugin.
        plugin: String,
        /// The method.
        method: String,
        /// Its request type's name.
        request: &'static str,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The response could not be written as JSON.
    #[error("the response of `{plugin}.{method}` is not JSON: {source}")]
    BadResponse {
        /// The plugin.
        plugin: String,
        /// The method.
        method: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The request itself failed: no responder running, timeout, failure, panic.
    #[error(transparent)]
    Request(#[from] RequestError),
}

impl CallError {
    /// Whether the responder ran past its timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, CallError::Request(RequestError::Timeout { .. }))
    }
}

/// A call by name about to be made ([`EventSystem::call`]): [`timeout`](Self::timeout)
/// overrides the responder's and the system's, [`metadata`](Self::metadata) attaches what
/// request layers read; `.await` it for the JSON answer.
#[must_use = "a call does nothing until it is awaited"]
pub struct NamedCall<'a> {
    system: &'a EventSystem,
    plugin: &'a str,
    method: &'a str,
    args: serde_json::Value,
    timeout: Option<Duration>,
    metadata: Option<Box<Metadata>>,
}

impl NamedCall<'_> {
    /// How long the responder may take (any duration: one too long to be a deadline is
    /// none), over the responder's `#[responds(timeout = "..")]` and the system's
    /// [`request_timeout`](crate::EventSystemBuilder::request_timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Attaches `key = value` to the call, for the system's
    /// [request layers](crate::EventSystemBuilder::request_layer), as
    /// [`RequestCall::metadata`](crate::RequestCall::metadata) does for typed requests.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.get_or_insert_default().insert(key, value);
        self
    }
}

impl fmt::Debug for NamedCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedCall")
            .field("plugin", &self.plugin)
            .field("method", &self.method)
            .field("args", &self.args)
            .field("timeout", &self.timeout)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl<'a> IntoFuture for NamedCall<'a> {
    type Output = Result<serde_json::Value, CallError>;
    type IntoFuture = BoxFuture<'a, Result<serde_json::Value, CallError>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl NamedCall<'_> {
    async fn run(self) -> Result<serde_json::Value, CallError> {
        let NamedCall {
            system,
            plugin,
            method,
            args,
            timeout,
            metadata,
        } = self;
        let registry = registry();
        let Some(info) = registry.plugins().find(|p| p.name() == plugin) else {
            return Err(CallError::UnknownPlugin {
                plugin: plugin.to_owned(),
                linked: registry.plugins().map(|p| p.name()).collect(),
            });
        };
        let Some(decl) = registry.responder_named(info.name(), method) else {
            let mut methods: Vec<&'static str> = registry
                .responders()
                .iter()
                .filter(|r| r.plugin() == info.name())
                .map(|r| r.name())
                .collect();
            methods.sort_unstable();
            return Err(CallError::UnknownMethod {
                plugin: plugin.to_owned(),
                method: method.to_owned(),
                methods,
            });
        };
        let request = decl.info.request();
        let Some(json) = (decl.json)() else {
            return Err(CallError::NotCallable {
                plugin: plugin.to_owned(),
                method: method.to_owned(),
                request,
            });
        };
        json(&system.host, args, timeout, metadata)
            .await
            .map_err(|failure| match failure {
                CallFailure::Arguments(source) => CallError::BadArguments {
                    plugin: plugin.to_owned(),
                    method: method.to_owned(),
                    request,
                    source,
                },
                CallFailure::Response(source) => CallError::BadResponse {
                    plugin: plugin.to_owned(),
                    method: method.to_owned(),
                    source,
                },
                CallFailure::Request(error) => CallError::Request(error),
            })
    }
}

impl EventSystem {
    /// Calls plugin `plugin`'s responder `method` (the `#[responds]` method's name) with
    /// `args` as its request, in JSON: the request is read from them, sent as
    /// [`request`](Self::request) would (the responder's or the system's timeout, through
    /// the system's [request layers](crate::EventSystemBuilder::request_layer)), and its
    /// response written back as JSON. For callers that know names only at run time
    /// (configuration, scripts, the network). `.await` it, or set a
    /// [`timeout`](NamedCall::timeout) or [`metadata`](NamedCall::metadata) first.
    ///
    /// Unknown plugin, unknown method, a responder whose types are not serde, bad arguments
    /// (serde's error) and the request's own failures ([`CallError::Request`]: timeout, a
    /// layer's rejection, ...) are distinct errors.
    pub fn call<'a>(
        &'a self,
        plugin: &'a str,
        method: &'a str,
        args: serde_json::Value,
    ) -> NamedCall<'a> {
        NamedCall {
            system: self,
            plugin,
            method,
            args,
            timeout: None,
            metadata: None,
        }
    }

    /// [`call`](Self::call) under `timeout` (any duration: one too long to be a deadline is
    /// none), over the responder's and the system's.
    pub async fn call_within(
        &self,
        plugin: &str,
        method: &str,
        args: serde_json::Value,
        timeout: Option<Duration>,
    ) -> Result<serde_json::Value, CallError> {
        let call = self.call(plugin, method, args);
        match timeout {
            Some(timeout) => call.timeout(timeout).await,
            None => call.await,
        }
    }
}
