//! `system.call(plugin, method, json)`: a responder reached by its plugin's and method's
//! names with JSON arguments, for callers that know names only at run time.

use std::time::Duration;

use crate::linked::call::CallFailure;
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

impl EventSystem {
    /// Calls plugin `plugin`'s responder `method` (the `#[responds]` method's name) with
    /// `args` as its request, in JSON: the request is read from them, sent as
    /// [`request`](Self::request) would (the responder's or the system's timeout), and its
    /// response written back as JSON. For callers that know names only at run time
    /// (configuration, scripts, the network).
    ///
    /// Unknown plugin, unknown method, a responder whose types are not serde, bad arguments
    /// (serde's error) and the request's own failures ([`CallError::Request`]: timeout, ...)
    /// are distinct errors.
    pub async fn call(
        &self,
        plugin: &str,
        method: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, CallError> {
        self.call_within(plugin, method, args, None).await
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
        let default = self.core().request_timeout;
        json(&self.host, args, timeout, default)
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
