//! Making, starting and stopping a system's plugins, in dependency order (stopping in reverse),
//! each step published as an event.

use std::any::Any;
use std::fmt;
use std::time::Duration;

use crate::linked::{BoxError, Host, PluginDecl, invoke};
use crate::system::{Error, EventSystem, SystemHandle};

use super::PluginState;
use super::events::{PluginFailed, PluginLoaded, PluginStarted, PluginStopped};

/// What a plugin's `#[init]`, `#[start]` and `#[shutdown]` methods receive: the system they
/// belong to, for the time of the call.
///
/// Publish and subscribe through [`system`](Self::system) while the method runs. To keep a
/// way to the system in the plugin, keep a [`handle`](Self::handle) (weak), never a clone of
/// the system: the system owns the plugin, so a plugin holding the system would keep it alive
/// forever.
pub struct PluginContext {
    system: EventSystem,
    plugin: &'static str,
}

impl fmt::Debug for PluginContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginContext")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl PluginContext {
    /// Not public API: generated code makes a context for a lifecycle method.
    #[doc(hidden)]
    pub fn __new(host: &Host, plugin: &'static str) -> PluginContext {
        PluginContext {
            system: EventSystem::from_host(host.clone()),
            plugin,
        }
    }

    /// The name of the plugin whose method runs.
    pub fn plugin_name(&self) -> &'static str {
        self.plugin
    }

    /// The system the plugin belongs to: publish, emit, subscribe, look other plugins up.
    pub fn system(&self) -> &EventSystem {
        &self.system
    }

    /// A handle to the system that does not keep it alive: what a plugin may store.
    pub fn handle(&self) -> SystemHandle {
        self.system.downgrade()
    }
}

/// A lifecycle step that failed: which plugin, in which phase, why.
pub(super) struct Failure {
    pub(super) index: usize,
    pub(super) phase: &'static str,
    pub(super) source: BoxError,
}

impl EventSystem {
    pub(super) fn plugin_decl(&self, index: usize) -> Option<&'static PluginDecl> {
        self.registry().plan().decls().nth(index)
    }

    /// `build()`'s step: makes every enabled plugin with `Default`, in dependency order, and
    /// starts it (no plugin here has an `#[init]` or a `#[start]`: `build` checked).
    pub(crate) fn make_plugins_now(&self) {
        let plugins = &self.core().plugins;
        for index in plugins.order() {
            let Some(decl) = self.plugin_decl(index) else {
                continue;
            };
            if !matches!(self.host.instances().construct(index), Ok(true)) {
                continue;
            }
            self.host.instances().set_live(index, true);
            plugins.set(index, PluginState::Initialized, None);
            let info = decl.info();
            self.emit(&PluginLoaded {
                plugin: info.name(),
                version: info.version(),
            });
            plugins.set(index, PluginState::Started, None);
            self.emit(&PluginStarted {
                plugin: info.name(),
            });
        }
    }

    /// `start()`'s step: makes every enabled plugin (its `#[init]` with its configuration, or
    /// `Default`) in dependency order, then starts each; if one fails, the plugins already
    /// made are shut down in reverse order and the error names the one that failed.
    pub(crate) async fn start_plugins(
        &self,
        mut configs: Vec<Option<Box<dyn Any + Send>>>,
        deadline: Duration,
    ) -> Result<(), Error> {
        let order = self.core().plugins.order();
        let mut made = Vec::with_capacity(order.len());
        for &index in &order {
            let config = configs.get_mut(index).and_then(Option::take);
            if let Err(failure) = self.make_one(index, config).await {
                return Err(self.roll_back(&made, failure, deadline).await);
            }
            made.push(index);
        }
        for &index in &order {
            if let Err(failure) = self.start_one(index).await {
                return Err(self.roll_back(&made, failure, deadline).await);
            }
        }
        Ok(())
    }

    pub(super) async fn make_one(
        &self,
        index: usize,
        config: Option<Box<dyn Any + Send>>,
    ) -> Result<(), Failure> {
        let Some(decl) = self.plugin_decl(index) else {
            return Ok(());
        };
        let failure = |source: BoxError| Failure {
            index,
            phase: "init",
            source,
        };
        let instances = self.host.instances();
        match decl.lifecycle().init {
            None => {
                instances
                    .construct(index)
                    .map_err(|e| failure(format!("{e:?}").into()))?;
            }
            Some(init) => {
                let Some(config) = config else {
                    return Err(failure("its configuration was not read".into()));
                };
                let value = invoke::catching(init(self.host.clone(), config))
                    .await
                    .map_err(failure)?;
                instances
                    .write(index, value)
                    .map_err(|e| failure(format!("{e:?}").into()))?;
            }
        }
        instances.set_live(index, true);
        self.core()
            .plugins
            .set(index, PluginState::Initialized, None);
        let info = decl.info();
        let loaded = PluginLoaded {
            plugin: info.name(),
            version: info.version(),
        };
        let _ = self.publish(loaded).await;
        Ok(())
    }

    pub(super) async fn start_one(&self, index: usize) -> Result<(), Failure> {
        let Some(decl) = self.plugin_decl(index) else {
            return Ok(());
        };
        if let Some(start) = decl.lifecycle().start {
            invoke::catching(start(&self.host))
                .await
                .map_err(|source| Failure {
                    index,
                    phase: "start",
                    source,
                })?;
        }
        self.core().plugins.set(index, PluginState::Started, None);
        let started = PluginStarted {
            plugin: decl.info().name(),
        };
        let _ = self.publish(started).await;
        Ok(())
    }

    /// After `failure`: marks its plugin failed, shuts `made` down in reverse, and returns
    /// the error naming the plugin.
    async fn roll_back(&self, made: &[usize], failure: Failure, deadline: Duration) -> Error {
        let plugin = self
            .plugin_decl(failure.index)
            .map_or("?", |d| d.info().name());
        let message = failure.source.to_string();
        self.failed(failure.index, failure.phase, message).await;
        for &index in made.iter().rev() {
            if index != failure.index {
                self.stop_one(index, deadline).await;
            }
        }
        match failure.phase {
            "init" => Error::PluginInit {
                plugin: plugin.to_owned(),
                source: failure.source,
            },
            _ => Error::PluginStart {
                plugin: plugin.to_owned(),
                source: failure.source,
            },
        }
    }

    /// Marks plugin `index` failed in `phase` (its handlers skipped), and says so.
    pub(super) async fn failed(&self, index: usize, phase: &'static str, error: String) {
        self.host.instances().set_live(index, false);
        self.core()
            .plugins
            .set(index, PluginState::Failed, Some(error.clone()));
        if let Some(decl) = self.plugin_decl(index) {
            let plugin = decl.info().name();
            tracing::warn!(plugin, phase, error = %error, "staticbus: plugin failed");
            self.emit(&PluginFailed {
                plugin,
                phase,
                error,
            });
        }
    }

    /// Shuts plugin `index` down (its `#[shutdown]`, within `deadline`), if it was made and
    /// is not stopped yet.
    pub(super) async fn stop_one(&self, index: usize, deadline: Duration) {
        let plugins = &self.core().plugins;
        let Some(decl) = self.plugin_decl(index) else {
            return;
        };
        match plugins.state(index) {
            Some(PluginState::Initialized | PluginState::Started) => {}
            _ => return,
        }
        plugins.set(index, PluginState::Stopping, None);
        if let Some(shutdown) = decl.lifecycle().shutdown {
            let run = invoke::catching(shutdown(&self.host));
            let result = match tokio::time::timeout(deadline, run).await {
                Ok(result) => result,
                Err(_) => {
                    Err(format!("`#[shutdown]` ran past its deadline of {deadline:?}").into())
                }
            };
            if let Err(source) = result {
                self.failed(index, "shutdown", source.to_string()).await;
                return;
            }
        }
        self.host.instances().set_live(index, false);
        plugins.set(index, PluginState::Stopped, None);
        self.emit(&PluginStopped {
            plugin: decl.info().name(),
        });
    }

    /// The shutdown's step: every plugin that was made, in reverse dependency order, each
    /// within `deadline`.
    pub(crate) async fn stop_plugins(&self, deadline: Duration) {
        let order = self.core().plugins.order();
        for &index in order.iter().rev() {
            self.stop_one(index, deadline).await;
        }
    }
}
