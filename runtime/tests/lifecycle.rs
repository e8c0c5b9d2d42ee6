//! Plugins as components: made in dependency order (with `Default` or by `#[init]` with its
//! configuration), started once all are made, shut down in reverse; a failure rolls back what
//! was made; every step is published; disabled plugins' handlers are skipped.
//!
//! Every plugin of this file is linked into every system it builds: each test disables, in
//! its configuration, the plugins it is not about.

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use staticbus::{
    Error, EventSystem, PluginContext, PluginFailed, PluginLoaded, PluginStarted, PluginState,
    PluginStopped, StaticEvent, handler, plugin,
};

/// What happened, in order, across the plugins of a test (tests run one at a time: a lock).
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn log(line: impl Into<String>) {
    LOG.lock().unwrap().push(line.into());
}

fn take_log() -> Vec<String> {
    std::mem::take(&mut *LOG.lock().unwrap())
}

#[derive(StaticEvent, Debug, Clone)]
struct Ping(u32);

#[derive(Debug, Deserialize)]
struct StorageConfig {
    path: String,
    #[serde(default)]
    shards: u32,
}

struct Storage {
    path: String,
    shards: u32,
}

#[plugin(name = "storage", version = "1.4.0")]
impl Storage {
    #[init]
    async fn init(ctx: &PluginContext, config: StorageConfig) -> Result<Self, std::io::Error> {
        tokio::task::yield_now().await;
        log(format!(
            "init storage {} ({})",
            config.path,
            ctx.plugin_name()
        ));
        Ok(Storage {
            path: config.path,
            shards: config.shards,
        })
    }

    #[start]
    async fn start(&self) {
        log("start storage");
    }

    #[shutdown]
    async fn shutdown(&self, ctx: &PluginContext) -> Result<(), std::io::Error> {
        log(format!("shutdown storage ({})", ctx.plugin_name()));
        Ok(())
    }

    #[on]
    fn ping(&self, e: &Ping) {
        log(format!("storage got ping {}", e.0));
    }
}

#[derive(Default)]
struct Billing;

#[plugin(name = "billing", version = "1.2.0", depends_on = ["storage >= 1.0", "cache?"])]
impl Billing {
    #[start]
    fn start(&self, ctx: &PluginContext) {
        let storage = ctx.system().plugin::<Storage>().map(|s| s.path.clone());
        log(format!("start billing, storage at {storage:?}"));
    }

    #[shutdown]
    fn shutdown(&self) {
        log("shutdown billing");
    }

    #[on]
    fn ping(&self, e: &Ping) {
        log(format!("billing got ping {}", e.0));
    }
}

#[derive(Default)]
struct Api;

#[plugin(name = "api", depends_on = ["billing"])]
impl Api {
    #[start]
    async fn start(&self) -> Result<(), std::io::Error> {
        log("start api");
        Ok(())
    }

    #[shutdown]
    async fn shutdown(&self) {
        log("shutdown api");
    }
}

#[derive(Debug, Deserialize)]
struct FlakyConfig {
    fail_in: String,
}

struct Flaky;

#[plugin(name = "flaky", depends_on = ["storage"])]
impl Flaky {
    #[init]
    fn init(config: FlakyConfig) -> Result<Self, std::io::Error> {
        match config.fail_in.as_str() {
            "init" => Err(std::io::Error::other("no disk")),
            "panic" => panic!("init exploded"),
            _ => Ok(Flaky),
        }
    }

    #[start]
    fn start(&self) -> Result<(), std::io::Error> {
        log("start flaky");
        Err(std::io::Error::other("port taken"))
    }
}

#[derive(Default)]
struct Slow;

#[plugin(name = "slow")]
impl Slow {
    #[shutdown]
    async fn shutdown(&self) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

#[handler]
fn loaded(e: &PluginLoaded) {
    log(format!("loaded {} {}", e.plugin, e.version));
}

#[handler]
fn started(e: &PluginStarted) {
    log(format!("started {}", e.plugin));
}

#[handler]
fn stopped(e: &PluginStopped) {
    log(format!("stopped {}", e.plugin));
}

#[handler]
fn failed(e: &PluginFailed) {
    log(format!("failed {} in {}: {}", e.plugin, e.phase, e.error));
}

/// A configuration with `enabled` set for every plugin of this file, `extra` appended.
fn config(enabled: &[&str], extra: &str) -> toml::Table {
    let mut text = String::new();
    for name in ["storage", "billing", "api", "flaky", "slow"] {
        text.push_str(&format!(
            "[plugins.{name}]\nenabled = {}\n",
            enabled.contains(&name)
        ));
        if name == "storage" && enabled.contains(&name) {
            text.push_str("path = \"/var/data\"\nshards = 4\n");
        }
        if name == "flaky" && enabled.contains(&name) {
            text.push_str(extra);
        }
    }
    toml::from_str(&text).unwrap()
}

#[tokio::test]
async fn init_runs_in_dependency_order_then_start_then_shutdown_in_reverse() {
    let _serial = SERIAL.lock().await;
    take_log();
    let system = EventSystem::builder()
        .config(&config(&["storage", "billing", "api"], ""))
        .start()
        .await
        .unwrap();
    assert_eq!(
        take_log(),
        [
            "init storage /var/data (storage)",
            "loaded storage 1.4.0",
            "loaded billing 1.2.0",
            "loaded api 0.1.0",
            "start storage",
            "started storage",
            "start billing, storage at Some(\"/var/data\")",
            "started billing",
            "start api",
            "started api",
        ]
    );
    let storage = system.plugin::<Storage>().unwrap();
    assert_eq!((storage.path.as_str(), storage.shards), ("/var/data", 4));

    let states: Vec<_> = system
        .plugins()
        .iter()
        .map(|p| (p.name(), p.state))
        .collect();
    assert_eq!(
        states,
        [
            ("storage", PluginState::Started),
            ("billing", PluginState::Started),
            ("api", PluginState::Started),
            ("flaky", PluginState::Disabled),
            ("slow", PluginState::Disabled),
        ]
    );
    let billing = &system.plugins()[1];
    assert_eq!(billing.depends_on(), ["storage >= 1.0", "cache?"]);
    assert_eq!(billing.version(), "1.2.0");

    system.emit(&Ping(1));
    // Same priority: by name.
    assert_eq!(take_log(), ["billing got ping 1", "storage got ping 1"]);

    let report = system.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        take_log(),
        [
            "shutdown api",
            "stopped api",
            "shutdown billing",
            "stopped billing",
            "shutdown storage (storage)",
            "stopped storage",
        ]
    );
    assert!(
        report.plugins[..3]
            .iter()
            .all(|p| p.state == PluginState::Stopped)
    );
    // Stopped plugins' handlers are skipped: not run, not counted, not failures.
    let emitted = system.emit(&Ping(2));
    assert_eq!(emitted.handled(), 0);
    assert!(emitted.errors().is_empty());
    assert!(take_log().is_empty());
}

#[tokio::test]
async fn a_failed_init_shuts_down_what_was_made_in_reverse_and_names_the_plugin() {
    let _serial = SERIAL.lock().await;
    take_log();
    let err = EventSystem::builder()
        .config(&config(
            &["storage", "billing", "flaky"],
            "fail_in = \"init\"\n",
        ))
        .start()
        .await
        .unwrap_err();
    let Error::PluginInit { plugin, source } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (plugin.as_str(), source.to_string().as_str()),
        ("flaky", "no disk")
    );
    assert!(
        err.to_string()
            .contains("plugin `flaky` failed to initialize")
    );
    // billing sorts before flaky: both wait only for storage.
    assert_eq!(
        take_log(),
        [
            "init storage /var/data (storage)",
            "loaded storage 1.4.0",
            "loaded billing 1.2.0",
            "failed flaky in init: no disk",
            "shutdown billing",
            "stopped billing",
            "shutdown storage (storage)",
            "stopped storage",
        ]
    );
}

#[tokio::test]
async fn a_panicking_init_is_an_init_error() {
    let _serial = SERIAL.lock().await;
    take_log();
    let err = EventSystem::builder()
        .config(&config(&["storage", "flaky"], "fail_in = \"panic\"\n"))
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::PluginInit { plugin, source } if plugin == "flaky" && source.to_string().contains("init exploded")),
        "{err}"
    );
    take_log();
}

#[tokio::test]
async fn a_failed_start_stops_every_plugin_made() {
    let _serial = SERIAL.lock().await;
    take_log();
    let err = EventSystem::builder()
        .config(&config(&["storage", "flaky"], "fail_in = \"start\"\n"))
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::PluginStart { plugin, .. } if plugin == "flaky"),
        "{err}"
    );
    assert_eq!(
        take_log(),
        [
            "init storage /var/data (storage)",
            "loaded storage 1.4.0",
            "loaded flaky 0.1.0",
            "start storage",
            "started storage",
            "start flaky",
            "failed flaky in start: port taken",
            "shutdown storage (storage)",
            "stopped storage",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_past_its_deadline_marks_the_plugin_failed() {
    let _serial = SERIAL.lock().await;
    take_log();
    let system = EventSystem::builder()
        .config(&config(&["slow"], ""))
        .plugin_shutdown_timeout(Duration::from_millis(250))
        .build()
        .unwrap();
    take_log();
    let report = system.shutdown(Duration::from_secs(1)).await;
    let slow = report.plugins.iter().find(|p| p.name() == "slow").unwrap();
    assert_eq!(slow.state, PluginState::Failed);
    assert!(slow.error.as_deref().unwrap().contains("deadline of 250ms"));
    assert_eq!(
        take_log(),
        ["failed slow in shutdown: `#[shutdown]` ran past its deadline of 250ms"]
    );
}

#[tokio::test]
async fn build_refuses_plugins_that_need_start() {
    let _serial = SERIAL.lock().await;
    let err = EventSystem::builder()
        .config(&config(&["storage", "billing", "api"], ""))
        .build()
        .unwrap_err();
    let Error::NeedsStart { plugins } = &err else {
        panic!("{err}")
    };
    assert_eq!(plugins, &["storage", "billing", "api"]);
    assert!(err.to_string().contains(".start().await"), "{err}");
}

#[tokio::test]
async fn a_disabled_plugin_is_never_made_and_its_handlers_are_skipped() {
    let _serial = SERIAL.lock().await;
    take_log();
    let system = EventSystem::builder()
        .config(&config(&["slow"], ""))
        .build()
        .unwrap();
    assert!(system.plugin::<Storage>().is_none());
    assert!(system.plugin::<Slow>().is_some());
    take_log();
    let emitted = system.emit(&Ping(3));
    assert_eq!(emitted.handled(), 0);
    assert!(take_log().is_empty());
    let report = system.publish(Ping(4)).await.unwrap();
    assert_eq!(report.handled(), 0);
    assert!(take_log().is_empty());
}

#[tokio::test]
async fn dependency_problems_are_reported_together() {
    let _serial = SERIAL.lock().await;
    // billing needs storage (disabled); every problem is listed (`order.rs`'s unit tests
    // have several at once).
    let err = EventSystem::builder()
        .config(&config(&["billing", "api"], ""))
        .start()
        .await
        .unwrap_err();
    let Error::Plugins(problems) = &err else {
        panic!("{err}")
    };
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(
        text[0].contains("`billing` requires `storage`, which is disabled"),
        "{text:?}"
    );
}
