//! The events a system publishes about its plugins' lifecycle: static events, so that
//! `#[handler] fn f(e: &PluginFailed)` works, also seen by dynamic subscribers of their names.

use serde::Serialize;

use crate::StaticEvent;

/// `plugin.loaded`: a plugin was made (with `Default`, or by its `#[init]`).
#[derive(StaticEvent, Debug, Clone, PartialEq, Eq, Serialize)]
#[event(name = "plugin.loaded")]
pub struct PluginLoaded {
    /// The plugin's name.
    pub plugin: &'static str,
    /// Its version.
    pub version: &'static str,
}

/// `plugin.started`: a plugin's `#[start]` returned (or it has none), after every plugin was
/// made.
#[derive(StaticEvent, Debug, Clone, PartialEq, Eq, Serialize)]
#[event(name = "plugin.started")]
pub struct PluginStarted {
    /// The plugin's name.
    pub plugin: &'static str,
}

/// `plugin.stopped`: a plugin's `#[shutdown]` returned (or it has none); its handlers no
/// longer run.
#[derive(StaticEvent, Debug, Clone, PartialEq, Eq, Serialize)]
#[event(name = "plugin.stopped")]
pub struct PluginStopped {
    /// The plugin's name.
    pub plugin: &'static str,
}

/// `plugin.failed`: a plugin's `#[init]`, `#[start]`, `#[shutdown]` or `#[config_changed]`
/// failed, panicked or (shutdown) ran past its deadline. After a failed `#[config_changed]`
/// the plugin goes on running (with the configuration it had).
#[derive(StaticEvent, Debug, Clone, PartialEq, Eq, Serialize)]
#[event(name = "plugin.failed")]
pub struct PluginFailed {
    /// The plugin's name.
    pub plugin: &'static str,
    /// `"init"`, `"start"`, `"shutdown"` or `"config_changed"`.
    pub phase: &'static str,
    /// What went wrong.
    pub error: String,
}
