//! A configuration reloaded at run time, all or nothing: the whole file is read and checked
//! as `build()` checks it (its shape, every enabled plugin's section, the dependency order
//! with the new `enabled` flags) before anything changes. A configuration with any problem
//! changes nothing (it is announced on [`CONFIG_REJECTED_TOPIC`]); a valid one replaces the
//! old and is applied plugin by plugin: the plugins it disables are stopped (dependents
//! first), the ones it enables are made and started (dependencies first), and the running
//! ones whose section changed are told (`#[config_changed]`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use staticbus_names::plugin::dependency;

use crate::dynamic::{DynamicEvent, Payload, Topic};
use crate::linked::invoke;
use crate::system::{Error, EventSystem};

use super::events::PluginFailed;
use super::{Loaded, PluginProblem, PluginState, Prepared, Source, prepare};

/// The topic a rejected configuration is announced on: a dynamic event whose payload is the
/// [`ConfigRejected`] (`event.downcast_ref::<ConfigRejected>()`, or its JSON: `source`, and
/// `problems`, a list of strings).
pub const CONFIG_REJECTED_TOPIC: &str = "staticbus.config.rejected";

/// The topic an applied configuration is announced on: a dynamic event whose payload is the
/// [`ConfigReloaded`] report (or its JSON).
pub const CONFIG_RELOADED_TOPIC: &str = "staticbus.config.reloaded";

/// A reloaded configuration that was refused: nothing changed, the old one stays. Announced
/// on [`CONFIG_REJECTED_TOPIC`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ConfigRejected {
    /// Where it was read from (the file's path).
    pub source: String,
    /// Every problem found, each naming the source, plugin, key and line where known.
    pub problems: Vec<String>,
}

/// What a configuration reload did ([`EventSystem::reload_config`]), each list in the order
/// it was done in. Also announced on [`CONFIG_RELOADED_TOPIC`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ConfigReloaded {
    /// Where it was read from (the file's path).
    pub source: String,
    /// Plugins the new configuration enabled that were made and started.
    pub started: Vec<&'static str>,
    /// Plugins the new configuration disabled that were stopped (their `#[shutdown]` ran).
    pub stopped: Vec<&'static str>,
    /// Running plugins whose section changed and whose `#[config_changed]` took it.
    pub changed: Vec<&'static str>,
    /// Running plugins whose section changed but that have no `#[config_changed]`: they go on
    /// with the configuration they were made with.
    pub unheard: Vec<&'static str>,
    /// Plugins whose step failed: an `#[init]` or `#[start]` (the plugin is then failed, its
    /// handlers skipped), a `#[shutdown]`, or a `#[config_changed]` (the plugin goes on
    /// running with its old configuration).
    pub failed: Vec<ReloadFailure>,
}

impl ConfigReloaded {
    /// Whether every step succeeded.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty()
    }
}

/// One plugin's step of a reload that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReloadFailure {
    /// The plugin.
    pub plugin: &'static str,
    /// `"init"`, `"start"`, `"shutdown"` or `"config_changed"`.
    pub phase: &'static str,
    /// What went wrong.
    pub error: String,
}

/// A system's configuration as reloads see it: where it comes from, the one in force, and
/// the watcher's stop signal.
pub(crate) struct Reload {
    source: Option<Source>,
    /// The configuration in force. Its lock is held for a whole reload, so reloads run one
    /// at a time, and a shutdown waits for the one running.
    current: tokio::sync::Mutex<Loaded>,
    /// Dropped (with the system, or by `shutdown`) to stop the watcher's task.
    watching: parking_lot::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Reload {
    pub(crate) fn new(prepared: &Prepared) -> Reload {
        Reload {
            source: prepared.source.clone(),
            current: tokio::sync::Mutex::new(prepared.loaded.clone()),
            watching: parking_lot::Mutex::new(None),
        }
    }

    /// Keeps the watcher's stop signal: dropping it stops the watcher.
    pub(crate) fn watching(&self, stop: tokio::sync::oneshot::Sender<()>) {
        *self.watching.lock() = Some(stop);
    }

    /// Stops the watcher, if there is one.
    pub(crate) fn stop_watching(&self) {
        self.watching.lock().take();
    }

    /// Waits (up to `deadline`) for a reload that is running to finish.
    pub(crate) async fn settle(&self, deadline: Duration) {
        let _ = tokio::time::timeout(deadline, self.current.lock()).await;
    }
}

impl EventSystem {
    /// Reads the configuration file again and applies it, all or nothing: what
    /// [`watch_config`](crate::EventSystemBuilder::watch_config) does on each change, and
    /// what a program without a watcher calls (on `SIGHUP`, say).
    ///
    /// The whole file is read and checked as `build()` checks it: its shape, every enabled
    /// plugin's section (read by the plugin's reader: unknown keys and type errors are
    /// problems), the dependency order with the new `enabled` flags. If anything is wrong,
    /// nothing changes: the old configuration stays, the problems are announced on
    /// [`CONFIG_REJECTED_TOPIC`] (a [`ConfigRejected`]) and returned as [`Error::Plugins`].
    ///
    /// Otherwise the new configuration replaces the old, and each plugin follows it: one it
    /// disables is shut down (its `#[shutdown]`, within
    /// [`plugin_shutdown_timeout`](crate::EventSystemBuilder::plugin_shutdown_timeout), in
    /// reverse dependency order), then is [`Disabled`](PluginState::Disabled), its handlers
    /// skipped; one it enables is made (its `#[init]` with its section, or `Default`) and
    /// started, in dependency order; a running one whose section changed is told through its
    /// `#[config_changed]` method. Each step is published as at start (`plugin.loaded`,
    /// `plugin.started`, `plugin.stopped`, `plugin.failed`); a failed one is in the report
    /// and does not undo the others. The report is returned and announced on
    /// [`CONFIG_RELOADED_TOPIC`].
    ///
    /// A plugin is made once per system: a reload that enables a plugin an earlier reload
    /// stopped is refused ([`PluginProblem::Restart`]). Reloads run one at a time: a plugin
    /// method that a reload runs (`#[init]`, `#[start]`, `#[shutdown]`, `#[config_changed]`)
    /// must not wait for another reload, which would wait for it.
    ///
    /// Fails with [`Error::InvalidConfig`] (`config_file`) when the system was not built
    /// with a configuration file, and with [`Error::Shutdown`] after
    /// [`shutdown`](Self::shutdown).
    pub async fn reload_config(&self) -> Result<ConfigReloaded, Error> {
        let reload = &self.core().reload;
        let source = match &reload.source {
            Some(source @ Source::File(_)) => source,
            other => {
                let given = match other {
                    None => "none",
                    Some(_) => "one given in code (`config`), which cannot change",
                };
                return Err(Error::InvalidConfig {
                    option: "config_file",
                    reason: format!(
                        "reload_config reads the system's configuration file again, and this \
                         system has {given}: build it with `config_file(path)`"
                    ),
                });
            }
        };
        let mut current = reload.current.lock().await;
        if self.bus.is_closed() {
            return Err(Error::Shutdown);
        }
        let checked = prepare(Some(source), self.registry(), |new| {
            self.restarts(&current, new)
        });
        match checked {
            Ok(prepared) => {
                let report = self.apply(&mut current, prepared).await;
                drop(current);
                tracing::info!(
                    source = %report.source,
                    started = ?report.started,
                    stopped = ?report.stopped,
                    changed = ?report.changed,
                    failed = report.failed.len(),
                    "staticbus: configuration reloaded"
                );
                self.announce(CONFIG_RELOADED_TOPIC, Payload::serializable(report.clone()))
                    .await;
                Ok(report)
            }
            Err(problems) => {
                drop(current);
                let rejected = ConfigRejected {
                    source: source_name(source),
                    problems: problems.iter().map(ToString::to_string).collect(),
                };
                tracing::warn!(
                    source = %rejected.source,
                    problems = ?rejected.problems,
                    "staticbus: configuration rejected; the one in force stays"
                );
                self.announce(CONFIG_REJECTED_TOPIC, Payload::serializable(rejected))
                    .await;
                Err(Error::Plugins(problems))
            }
        }
    }

    /// The plugins `new` enables that `current` does not and whose instance was made
    /// (and then stopped, or failed): each is a problem, since a plugin is made at most once
    /// per system.
    fn restarts(&self, current: &Loaded, new: &Loaded) -> Vec<PluginProblem> {
        self.registry()
            .plan()
            .decls()
            .enumerate()
            .filter(|&(index, decl)| {
                let name = decl.info().name();
                !current.enabled(name) && new.enabled(name) && self.host.instances().is_made(index)
            })
            .map(|(_, decl)| PluginProblem::Restart {
                plugin: decl.info().name().to_owned(),
            })
            .collect()
    }

    /// Puts `prepared` in force in place of `current` and has every plugin follow it.
    async fn apply(&self, current: &mut Loaded, mut prepared: Prepared) -> ConfigReloaded {
        let plugins = &self.core().plugins;
        let deadline = self.core().plugin_shutdown_timeout;
        let names: Vec<&'static str> = self
            .registry()
            .plan()
            .decls()
            .map(|d| d.info().name())
            .collect();
        let was: Vec<bool> = names.iter().map(|n| current.enabled(n)).collect();
        let mut report = ConfigReloaded {
            source: prepared.loaded.source().to_owned(),
            ..ConfigReloaded::default()
        };
        // Disabled now: stopped, dependents first (each of them is disabled too, or depends
        // on it optionally: the order checked that).
        for index in plugins.order().into_iter().rev() {
            if prepared.loaded.enabled(names[index]) {
                continue;
            }
            let running = matches!(
                plugins.state(index),
                Some(PluginState::Initialized | PluginState::Started)
            );
            if !running {
                // Failed before, or never made: nothing to stop.
                plugins.set(index, PluginState::Disabled, None);
                continue;
            }
            self.stop_one(index, deadline).await;
            if plugins.state(index) == Some(PluginState::Failed) {
                report.failed.push(ReloadFailure {
                    plugin: names[index],
                    phase: "shutdown",
                    error: plugins.error(index).unwrap_or_default(),
                });
            } else {
                report.stopped.push(names[index]);
                plugins.set(index, PluginState::Disabled, None);
            }
        }
        let (old, new) = (current.sections(), prepared.loaded.sections());
        let changed = |name: &str| section(&old, name) != section(&new, name);
        *current = prepared.loaded;
        plugins.set_order(prepared.order.clone());
        // Enabled now: made, dependencies first; running, with a new section: told.
        let mut made = Vec::new();
        for &index in &prepared.order {
            let config = prepared.configs.get_mut(index).and_then(Option::take);
            if !was[index] {
                let made_now = match self.blocker(index) {
                    Some(error) => Err(error),
                    None => self
                        .make_one(index, config)
                        .await
                        .map_err(|failure| failure.source.to_string()),
                };
                match made_now {
                    Ok(()) => made.push(index),
                    Err(error) => report.failed.push(self.give_up(index, "init", error).await),
                }
            } else if changed(names[index]) && plugins.state(index) == Some(PluginState::Started) {
                self.tell(index, config, &mut report).await;
            }
        }
        for index in made {
            if let Some(error) = self.blocker(index) {
                report
                    .failed
                    .push(self.give_up(index, "start", error).await);
                continue;
            }
            match self.start_one(index).await {
                Ok(()) => report.started.push(names[index]),
                Err(failure) => {
                    let error = failure.source.to_string();
                    self.failed(index, "start", error.clone()).await;
                    report.failed.push(ReloadFailure {
                        plugin: names[index],
                        phase: "start",
                        error,
                    });
                }
            }
        }
        report
    }

    /// Tells running plugin `index` of its new section through its `#[config_changed]`; a
    /// failure is reported and the plugin goes on running.
    async fn tell(
        &self,
        index: usize,
        config: Option<Box<dyn std::any::Any + Send>>,
        report: &mut ConfigReloaded,
    ) {
        let Some(decl) = self.plugin_decl(index) else {
            return;
        };
        let plugin = decl.info().name();
        let (Some(config_changed), Some(config)) = (decl.lifecycle().config_changed, config) else {
            report.unheard.push(plugin);
            return;
        };
        match invoke::catching(config_changed(&self.host, config)).await {
            Ok(()) => report.changed.push(plugin),
            Err(source) => {
                let error = source.to_string();
                tracing::warn!(
                    plugin,
                    error = %error,
                    "staticbus: plugin's #[config_changed] failed; it goes on with its old \
                     configuration"
                );
                let failed = PluginFailed {
                    plugin,
                    phase: "config_changed",
                    error: error.clone(),
                };
                let _ = self.publish(failed).await;
                report.failed.push(ReloadFailure {
                    plugin,
                    phase: "config_changed",
                    error,
                });
            }
        }
    }

    /// Why plugin `index`, enabled by a reload, cannot be made or started now: the system
    /// is shutting down, or a dependency it requires is not running (it failed in this
    /// reload).
    fn blocker(&self, index: usize) -> Option<String> {
        if self.bus.is_closed() {
            return Some("the system shut down during the reload".to_owned());
        }
        let decl = self.plugin_decl(index)?;
        let plugins = &self.core().plugins;
        let names: Vec<&str> = self
            .registry()
            .plan()
            .decls()
            .map(|d| d.info().name())
            .collect();
        let blocked = decl.info().depends_on().iter().find_map(|spec| {
            let dep = dependency(spec).ok().filter(|d| !d.optional)?;
            let at = names.iter().position(|&n| n == dep.name)?;
            let running = matches!(
                plugins.state(at),
                Some(PluginState::Initialized | PluginState::Started)
            );
            (!running).then_some(dep.name)
        })?;
        Some(format!("its dependency `{blocked}` is not running"))
    }

    /// Marks plugin `index` failed in `phase` (shut down first if it was made), and
    /// reports it.
    async fn give_up(&self, index: usize, phase: &'static str, error: String) -> ReloadFailure {
        self.stop_one(index, self.core().plugin_shutdown_timeout)
            .await;
        self.failed(index, phase, error.clone()).await;
        ReloadFailure {
            plugin: self.plugin_decl(index).map_or("?", |d| d.info().name()),
            phase,
            error,
        }
    }

    /// Publishes one of the system's own configuration events.
    async fn announce(&self, topic: &'static str, payload: Payload) {
        let event = DynamicEvent::from_static(Topic::from_static_name(topic), payload);
        if let Err(error) = self.publish_dynamic(event).await {
            tracing::debug!(topic, error = %error, "staticbus: announcing failed");
        }
    }
}

/// Plugin `name`'s section in `sections`, a missing one as an empty table.
fn section(sections: &BTreeMap<String, toml::Value>, name: &str) -> toml::Value {
    sections
        .get(name)
        .cloned()
        .unwrap_or_else(|| toml::Value::Table(toml::Table::new()))
}

/// How a source is named in errors.
fn source_name(source: &Source) -> String {
    match source {
        Source::File(path) => path.display().to_string(),
        Source::Code(_) => "configuration from code".to_owned(),
    }
}
