//! Errors of building a system and of running handlers.

use std::fmt;

use crate::handler::{BoxError, HandlerInfo};

/// Everything that can go wrong in staticbus.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry found conflicts; `build()` reports all of them.
    #[error("{} registry problem(s): {}", .0.len(), DisplayList(.0))]
    Registry(Vec<RegistryProblem>),
    /// Plugins named with [`require_plugins`](crate::EventSystemBuilder::require_plugins) are
    /// not in the binary.
    #[error(
        "required plugin(s) {missing:?} are not linked into this binary (linked: {linked:?}); \
         name the crate that defines them once in the binary with `staticbus::link!(that_crate);`"
    )]
    MissingPlugins {
        /// Required names with no linked plugin.
        missing: Vec<String>,
        /// Names of the plugins that are linked.
        linked: Vec<&'static str>,
    },
    /// One or more handlers returned an error.
    #[error(transparent)]
    Handlers(#[from] HandlerErrors),
}

/// A conflict between registrations, found when the registry is first read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryProblem {
    /// Two event types declare the same name.
    #[error(
        "event name {name:?} is declared by two types, `{first}` and `{second}`; \
         give one of them another name with #[event(name = \"...\")]"
    )]
    DuplicateEventName {
        /// The contested name.
        name: &'static str,
        /// One type that declares it.
        first: &'static str,
        /// The other type that declares it.
        second: &'static str,
    },
    /// Two plugin types declare the same name.
    #[error(
        "plugin name {name:?} is used by two plugins, `{first}` and `{second}`; \
         rename one with #[plugin(name = \"...\")]"
    )]
    DuplicatePluginName {
        /// The contested name.
        name: &'static str,
        /// One plugin type that uses it.
        first: &'static str,
        /// The other plugin type that uses it.
        second: &'static str,
    },
    /// One plugin type reached the registry twice (a hand-written `PluginKeyed` impl).
    #[error("plugin `{plugin}` is registered twice; only `#[plugin]` should register plugins")]
    PluginRegisteredTwice {
        /// The plugin type.
        plugin: &'static str,
    },
}

/// The handlers of one dispatch that returned an error, in dispatch order.
#[derive(Debug, thiserror::Error)]
#[error("{} handler(s) of event {event:?} failed: {}", errors.len(), DisplayList(errors))]
pub struct HandlerErrors {
    /// The event's name.
    pub event: &'static str,
    /// Each failure, in dispatch order.
    pub errors: Vec<HandlerError>,
}

/// One handler's error, with the handler it came from.
#[derive(Debug, thiserror::Error)]
#[error("{} returned an error: {source}", handler.function())]
pub struct HandlerError {
    /// The handler that failed.
    pub handler: &'static HandlerInfo,
    /// What it returned.
    #[source]
    pub source: BoxError,
}

struct DisplayList<'a, T>(&'a [T]);

impl<T: fmt::Display> fmt::Display for DisplayList<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            item.fmt(f)?;
        }
        Ok(())
    }
}
