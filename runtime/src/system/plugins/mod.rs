//! Plugins as components of a system: their configuration (`config.rs`), the order they are
//! made in (`order.rs`), their lifecycle (`lifecycle.rs`: made, started, stopped, each step
//! published as an event of `events.rs`), the state each is in, and a configuration reloaded
//! at run time (`reload.rs`, all or nothing; `watch.rs` watches the file).
//!
//! The static layer gives every plugin a slot in each system's arena and a state byte that
//! says whether its handlers run; this layer decides when: a plugin's handlers run from the
//! moment it is made (with `Default` or by its `#[init]`) until its `#[shutdown]` returns,
//! never while it is disabled or after it failed.

mod config;
mod events;
mod lifecycle;
mod order;
mod reload;
mod watch;

use std::any::Any;
use std::fmt;

use parking_lot::Mutex;

use crate::linked::{PluginInfo, Registry};

pub(crate) use config::{Loaded, Source, load};
pub use events::{PluginFailed, PluginLoaded, PluginStarted, PluginStopped};
pub use lifecycle::PluginContext;
pub use order::PluginProblem;
pub(crate) use reload::Reload;
pub use reload::{
    CONFIG_REJECTED_TOPIC, CONFIG_RELOADED_TOPIC, ConfigRejected, ConfigReloaded, ReloadFailure,
};
pub(crate) use watch::Watch;

/// Where a plugin is in its life, in one system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PluginState {
    /// Linked and enabled, not made yet (its `#[init]` has not run). Its handlers are skipped.
    Registered,
    /// Made; its handlers run; its `#[start]` has not run yet.
    Initialized,
    /// Started: running normally.
    Started,
    /// Its `#[shutdown]` is running; its handlers still run.
    Stopping,
    /// Shut down; its handlers are skipped.
    Stopped,
    /// Its `#[init]`, `#[start]` or `#[shutdown]` failed; its handlers are skipped.
    Failed,
    /// `enabled = false` in the configuration: never made (or stopped, when a reload disabled
    /// it), its handlers skipped.
    Disabled,
}

impl fmt::Display for PluginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginState::Registered => "registered",
            PluginState::Initialized => "initialized",
            PluginState::Started => "started",
            PluginState::Stopping => "stopping",
            PluginState::Stopped => "stopped",
            PluginState::Failed => "failed",
            PluginState::Disabled => "disabled",
        })
    }
}

/// One plugin of a system: what [`EventSystem::plugins`](crate::EventSystem::plugins) lists.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PluginStatus {
    /// Name, version, dependencies and origin.
    pub info: &'static PluginInfo,
    /// Its state now.
    pub state: PluginState,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl PartialEq for PluginStatus {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.info, other.info)
            && self.state == other.state
            && self.error == other.error
    }
}

impl Eq for PluginStatus {}

impl PluginStatus {
    /// The plugin's name.
    pub fn name(&self) -> &'static str {
        self.info.name()
    }
    /// The plugin's version.
    pub fn version(&self) -> &'static str {
        self.info.version()
    }
    /// Its `depends_on` entries as written.
    pub fn depends_on(&self) -> &'static [&'static str] {
        self.info.depends_on()
    }
}

/// One system's plugins: the order they are made in, and each one's state.
pub(crate) struct Plugins {
    /// Registry indexes of the enabled plugins, dependencies first (a reload replaces it).
    order: Mutex<Vec<usize>>,
    /// By registry index.
    states: Mutex<Vec<(PluginState, Option<String>)>>,
}

impl fmt::Debug for Plugins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugins")
            .field("order", &*self.order.lock())
            .finish_non_exhaustive()
    }
}

impl Plugins {
    /// The plugins of `registry`, those `prepared` enabled `Registered`, the others
    /// `Disabled`.
    pub(crate) fn new(registry: &Registry, prepared: &Prepared) -> Plugins {
        let states = (0..registry.plan().decls().len())
            .map(|i| {
                let on = prepared.configs.get(i).is_some_and(Option::is_some);
                let state = if on {
                    PluginState::Registered
                } else {
                    PluginState::Disabled
                };
                (state, None)
            })
            .collect();
        Plugins {
            order: Mutex::new(prepared.order.clone()),
            states: Mutex::new(states),
        }
    }

    pub(crate) fn set(&self, index: usize, state: PluginState, error: Option<String>) {
        if let Some(slot) = self.states.lock().get_mut(index) {
            *slot = (state, error);
        }
    }

    pub(crate) fn state(&self, index: usize) -> Option<PluginState> {
        self.states.lock().get(index).map(|(s, _)| *s)
    }

    /// Why plugin `index` failed, if it did.
    pub(crate) fn error(&self, index: usize) -> Option<String> {
        self.states.lock().get(index).and_then(|(_, e)| e.clone())
    }

    /// The enabled plugins' registry indexes, dependencies first.
    pub(crate) fn order(&self) -> Vec<usize> {
        self.order.lock().clone()
    }

    /// A reload's new order.
    pub(crate) fn set_order(&self, order: Vec<usize>) {
        *self.order.lock() = order;
    }

    /// Every plugin, in the order they are made in, then the disabled ones by name.
    pub(crate) fn statuses(&self, registry: &'static Registry) -> Vec<PluginStatus> {
        let order = self.order();
        let states = self.states.lock();
        let infos: Vec<&'static PluginInfo> = registry.plugins().collect();
        let disabled = (0..infos.len()).filter(|i| !order.contains(i));
        order
            .iter()
            .copied()
            .chain(disabled)
            .filter_map(|i| {
                let (state, error) = states.get(i)?.clone();
                Some(PluginStatus {
                    info: infos.get(i)?,
                    state,
                    error,
                })
            })
            .collect()
    }
}

/// What `build()` worked out before making any plugin.
pub(crate) struct Prepared {
    /// Registry indexes of the enabled plugins, dependencies first.
    pub(crate) order: Vec<usize>,
    /// By registry index: the configuration each enabled plugin's reader returned (`None`:
    /// disabled).
    pub(crate) configs: Vec<Option<Box<dyn Any + Send>>>,
    /// The configuration they were read from (what a reload compares the next one to).
    pub(crate) loaded: Loaded,
    /// Where it came from (where a reload reads it again).
    pub(crate) source: Option<Source>,
}

/// Reads the configuration, each enabled plugin's section, and orders the plugins: every
/// problem at once, with those `more` finds in the configuration (a reload's own checks).
pub(crate) fn prepare(
    source: Option<&Source>,
    registry: &Registry,
    more: impl FnOnce(&Loaded) -> Vec<PluginProblem>,
) -> Result<Prepared, Vec<PluginProblem>> {
    let decls: Vec<_> = registry.plan().decls().collect();
    let names: Vec<&str> = decls.iter().map(|d| d.info().name()).collect();
    let loaded = match source {
        None => Loaded::empty(),
        Some(source) => load(source, &names).map_err(|errors| {
            errors
                .into_iter()
                .map(PluginProblem::Config)
                .collect::<Vec<_>>()
        })?,
    };
    let mut problems = more(&loaded);
    let mut configs = Vec::with_capacity(decls.len());
    for decl in &decls {
        let name = decl.info().name();
        if !loaded.enabled(name) {
            configs.push(None);
            continue;
        }
        match (decl.lifecycle().config)(&loaded.section(name)) {
            Ok(config) => configs.push(Some(config)),
            Err(errors) => {
                problems.extend(errors.into_iter().map(PluginProblem::Config));
                configs.push(None);
            }
        }
    }
    let nodes: Vec<order::Node<'_>> = decls
        .iter()
        .map(|d| order::Node {
            name: d.info().name(),
            version: d.info().version(),
            depends_on: d.info().depends_on(),
            enabled: loaded.enabled(d.info().name()),
        })
        .collect();
    match order::order(&nodes) {
        Ok(order) if problems.is_empty() => Ok(Prepared {
            order,
            configs,
            loaded,
            source: source.cloned(),
        }),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}
