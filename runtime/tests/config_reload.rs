//! A configuration reloaded at run time, all or nothing: a valid file tells the running
//! plugins whose section changed (`#[config_changed]`), stops the ones it disables and makes
//! and starts the ones it enables; an invalid one changes nothing and is announced on
//! `staticbus.config.rejected`. `watch_config(true)` does it on each save, debounced.
//!
//! Every plugin of this file is linked into every system it builds: each test's
//! configuration disables the plugins it is not about. Each test has a directory of its own.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use staticbus::{
    CONFIG_REJECTED_TOPIC, CONFIG_RELOADED_TOPIC, ConfigRejected, ConfigReloaded, Error,
    EventSystem, PluginContext, PluginFailed, PluginProblem, PluginState, StaticEvent, plugin,
};

#[derive(StaticEvent, Debug, Clone)]
struct Ping;

#[derive(Debug, Deserialize)]
struct TunerConfig {
    level: u32,
    #[serde(default)]
    label: String,
}

/// Told of every change: `#[config_changed]` with a context, failing on level 13.
struct Tuner {
    level: AtomicU32,
    label: Mutex<String>,
    changes: AtomicU32,
    pings: AtomicU32,
}

#[plugin(name = "tuner")]
impl Tuner {
    #[init]
    fn init(config: TunerConfig) -> Result<Self, std::io::Error> {
        Ok(Tuner {
            level: AtomicU32::new(config.level),
            label: Mutex::new(config.label),
            changes: AtomicU32::new(0),
            pings: AtomicU32::new(0),
        })
    }

    #[config_changed]
    async fn reconfigure(
        &self,
        ctx: &PluginContext,
        config: TunerConfig,
    ) -> Result<(), std::io::Error> {
        assert_eq!(ctx.plugin_name(), "tuner");
        tokio::task::yield_now().await;
        if config.level == 13 {
            return Err(std::io::Error::other("13 is unlucky"));
        }
        self.level.store(config.level, Ordering::SeqCst);
        *self.label.lock().unwrap() = config.label;
        self.changes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    #[on]
    fn ping(&self, _: &Ping) {
        self.pings.fetch_add(1, Ordering::SeqCst);
    }
}

impl Tuner {
    fn level(&self) -> u32 {
        self.level.load(Ordering::SeqCst)
    }
    fn changes(&self) -> u32 {
        self.changes.load(Ordering::SeqCst)
    }
    fn pings(&self) -> u32 {
        self.pings.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Deserialize)]
struct FixedConfig {
    size: u32,
}

/// Reads a configuration but has no `#[config_changed]`: keeps the one it was made with.
struct Fixed {
    size: u32,
}

#[plugin(name = "fixed")]
impl Fixed {
    #[init]
    fn init(config: FixedConfig) -> Result<Self, std::io::Error> {
        Ok(Fixed { size: config.size })
    }
}

#[derive(Debug, Deserialize)]
struct ExtraConfig {
    greeting: String,
}

/// Depends on the tuner; records its start and shutdown.
struct Extra {
    greeting: String,
    started: AtomicBool,
    shut: AtomicBool,
    pings: AtomicU32,
}

#[plugin(name = "extra", depends_on = ["tuner"])]
impl Extra {
    #[init]
    async fn init(ctx: &PluginContext, config: ExtraConfig) -> Result<Self, std::io::Error> {
        // Its dependency is made first.
        assert!(ctx.system().plugin::<Tuner>().is_some());
        Ok(Extra {
            greeting: config.greeting,
            started: AtomicBool::new(false),
            shut: AtomicBool::new(false),
            pings: AtomicU32::new(0),
        })
    }

    #[start]
    fn start(&self) {
        self.started.store(true, Ordering::SeqCst);
    }

    #[shutdown]
    async fn shutdown(&self) {
        self.shut.store(true, Ordering::SeqCst);
    }

    #[on]
    fn ping(&self, _: &Ping) {
        self.pings.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Deserialize)]
struct FragileConfig {
    fail: bool,
}

/// Its `#[init]` fails when told to.
struct Fragile;

#[plugin(name = "fragile")]
impl Fragile {
    #[init]
    fn init(config: FragileConfig) -> Result<Self, std::io::Error> {
        if config.fail {
            Err(std::io::Error::other("no disk"))
        } else {
            Ok(Fragile)
        }
    }
}

/// Depends on the fragile plugin.
#[derive(Default)]
struct Leaning;

#[plugin(name = "leaning", depends_on = ["fragile"])]
impl Leaning {}

/// One configuration of this file's plugins: `None` is disabled.
#[derive(Default, Clone)]
struct Config {
    tuner: Option<u32>,
    fixed: Option<u32>,
    extra: Option<&'static str>,
    fragile: Option<bool>,
    leaning: bool,
}

impl Config {
    fn text(&self) -> String {
        let section = |name: &str, on: bool, body: String| {
            format!(
                "[plugins.{name}]\nenabled = {on}\n{}",
                if on { body } else { String::new() }
            )
        };
        [
            section(
                "tuner",
                self.tuner.is_some(),
                format!("level = {}\n", self.tuner.unwrap_or(0)),
            ),
            section(
                "fixed",
                self.fixed.is_some(),
                format!("size = {}\n", self.fixed.unwrap_or(0)),
            ),
            section(
                "extra",
                self.extra.is_some(),
                format!("greeting = {:?}\n", self.extra.unwrap_or("")),
            ),
            section(
                "fragile",
                self.fragile.is_some(),
                format!("fail = {}\n", self.fragile.unwrap_or(false)),
            ),
            section("leaning", self.leaning, String::new()),
        ]
        .join("\n")
    }
}

/// A directory of a test's own, removed when the test ends.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("staticbus-reload-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("staticbus.toml")
    }

    fn write(&self, text: &str) -> &Path {
        std::fs::write(self.file(), text).unwrap();
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(dir: &Dir, config: &Config) -> EventSystem {
    dir.write(&config.text());
    EventSystem::builder()
        .config_file(dir.file())
        .start()
        .await
        .unwrap()
}

fn state(system: &EventSystem, name: &str) -> PluginState {
    let plugins = system.plugins();
    plugins.iter().find(|p| p.name() == name).unwrap().state
}

/// Waits (real time, at most 5 s) until `done`.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_valid_reload_tells_the_plugins_whose_section_changed() {
    let dir = Dir::new("valid");
    let mut config = Config {
        tuner: Some(1),
        fixed: Some(5),
        ..Config::default()
    };
    let system = start(&dir, &config).await;
    let reloaded = system.subscribe_topic(CONFIG_RELOADED_TOPIC).unwrap();

    config.tuner = Some(2);
    config.fixed = Some(6);
    dir.write(
        &config
            .text()
            .replace("level = 2", "level = 2\nlabel = \"b\""),
    );
    let report = system.reload_config().await.unwrap();
    assert_eq!(report.changed, ["tuner"]);
    assert_eq!(report.unheard, ["fixed"]);
    assert!(report.started.is_empty() && report.stopped.is_empty());
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.source, dir.file().display().to_string());

    let tuner = system.plugin::<Tuner>().unwrap();
    assert_eq!((tuner.level(), tuner.changes()), (2, 1));
    assert_eq!(*tuner.label.lock().unwrap(), "b");
    // No `#[config_changed]`: it goes on with what it was made with.
    assert_eq!(system.plugin::<Fixed>().unwrap().size, 5);

    let event = reloaded.try_receive().unwrap().unwrap();
    assert_eq!(event.downcast_ref::<ConfigReloaded>(), Some(&report));
    let json = event.json_value().unwrap();
    assert_eq!(json["changed"], serde_json::json!(["tuner"]));

    // The same file again: no section changed, nobody is told.
    let again = system.reload_config().await.unwrap();
    assert!(
        again.changed.is_empty() && again.unheard.is_empty(),
        "{again:?}"
    );
    assert_eq!(tuner.changes(), 1);
    assert_eq!(state(&system, "tuner"), PluginState::Started);
}

#[tokio::test]
async fn an_invalid_file_changes_nothing_and_is_announced() {
    let dir = Dir::new("invalid");
    let config = Config {
        tuner: Some(1),
        extra: Some("hi"),
        ..Config::default()
    };
    let system = start(&dir, &config).await;
    let rejected = system.subscribe_topic(CONFIG_REJECTED_TOPIC).unwrap();
    let valid = config.text();
    let cases = [
        (
            "bad TOML",
            valid.replace("level = 1", "level = "),
            "staticbus.toml:3: ",
        ),
        (
            "unknown key",
            valid.replace("level = 1", "level = 2\nlevle = 3"),
            "key `levle`: unknown key",
        ),
        (
            "type error",
            valid.replace("level = 1", "level = \"high\""),
            "invalid type",
        ),
        (
            "a disabled dependency",
            valid.replace(
                "[plugins.tuner]\nenabled = true",
                "[plugins.tuner]\nenabled = false",
            ),
            "`extra` requires `tuner`, which is disabled",
        ),
    ];
    let file = dir.file().display().to_string();
    for (what, text, reason) in cases {
        dir.write(&text);
        let err = system.reload_config().await.unwrap_err();
        let Error::Plugins(problems) = &err else {
            panic!("{what}: {err}")
        };
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            problems.iter().any(|p| p.contains(reason)),
            "{what}: {problems:?}"
        );
        let event = rejected.try_receive().unwrap().expect(what);
        let announced = event.downcast_ref::<ConfigRejected>().unwrap();
        assert_eq!(announced.source, file, "{what}");
        assert_eq!(announced.problems, problems, "{what}");
        let json = event.json_value().unwrap();
        assert_eq!(json["source"], serde_json::json!(file));
        assert_eq!(json["problems"], serde_json::json!(problems));

        // Nothing changed: the plugins run on with their old values.
        let tuner = system.plugin::<Tuner>().unwrap();
        assert_eq!((tuner.level(), tuner.changes()), (1, 0), "{what}");
        assert_eq!(state(&system, "tuner"), PluginState::Started, "{what}");
        assert_eq!(state(&system, "extra"), PluginState::Started, "{what}");
        let before = tuner.pings();
        system.emit(&Ping);
        assert_eq!(tuner.pings(), before + 1, "{what}");
    }
    // The old configuration is still the one in force: reloading it changes no section.
    dir.write(&valid);
    let report = system.reload_config().await.unwrap();
    assert!(report.changed.is_empty(), "{report:?}");
    dir.write(&valid.replace("level = 1", "level = 3"));
    let report = system.reload_config().await.unwrap();
    assert_eq!(report.changed, ["tuner"]);
    assert_eq!(system.plugin::<Tuner>().unwrap().level(), 3);
}

#[tokio::test]
async fn a_failing_config_changed_is_reported_and_the_plugin_runs_on() {
    let dir = Dir::new("failing");
    let mut config = Config {
        tuner: Some(1),
        ..Config::default()
    };
    let system = start(&dir, &config).await;
    let failures = system.subscribe::<PluginFailed>().unwrap();
    config.tuner = Some(13);
    dir.write(&config.text());
    let report = system.reload_config().await.unwrap();
    assert!(report.changed.is_empty());
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let failure = &report.failed[0];
    assert_eq!(
        (failure.plugin, failure.phase, failure.error.as_str()),
        ("tuner", "config_changed", "13 is unlucky")
    );
    let failed = failures.try_receive().unwrap().unwrap();
    assert_eq!(
        (failed.plugin, failed.phase, failed.error.as_str()),
        ("tuner", "config_changed", "13 is unlucky")
    );
    assert_eq!(state(&system, "tuner"), PluginState::Started);
    let tuner = system.plugin::<Tuner>().unwrap();
    assert_eq!(tuner.level(), 1);
    system.emit(&Ping);
    assert_eq!(tuner.pings(), 1);
}

#[tokio::test]
async fn disabling_at_run_time_stops_the_plugin_for_good() {
    let dir = Dir::new("disable");
    let mut config = Config {
        tuner: Some(1),
        extra: Some("hi"),
        ..Config::default()
    };
    let system = start(&dir, &config).await;
    system.emit(&Ping);
    config.extra = None;
    dir.write(&config.text());
    let report = system.reload_config().await.unwrap();
    assert_eq!(report.stopped, ["extra"]);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(state(&system, "extra"), PluginState::Disabled);

    // Its `#[shutdown]` ran; its instance stays (a `&Extra` may still be held), its
    // handlers are skipped.
    let extra = system.plugin::<Extra>().unwrap();
    assert!(extra.shut.load(Ordering::SeqCst));
    let emitted = system.emit(&Ping);
    assert_eq!(emitted.handled(), 1, "only the tuner's handler ran");
    assert_eq!(extra.pings.load(Ordering::SeqCst), 1);
    assert_eq!(system.plugin::<Tuner>().unwrap().pings(), 2);

    // It was made once in this system: enabling it again is refused, and nothing changes.
    config.extra = Some("again");
    config.tuner = Some(2);
    dir.write(&config.text());
    let err = system.reload_config().await.unwrap_err();
    let Error::Plugins(problems) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        problems.as_slice(),
        [PluginProblem::Restart {
            plugin: "extra".to_owned()
        }]
    );
    assert!(err.to_string().contains("cannot be enabled again"), "{err}");
    assert_eq!(state(&system, "extra"), PluginState::Disabled);
    assert_eq!(system.plugin::<Tuner>().unwrap().level(), 1);
}

#[tokio::test]
async fn enabling_at_run_time_makes_and_starts_the_plugin() {
    let dir = Dir::new("enable");
    let mut config = Config {
        tuner: Some(1),
        ..Config::default()
    };
    let system = start(&dir, &config).await;
    assert!(system.plugin::<Extra>().is_none());
    assert_eq!(state(&system, "extra"), PluginState::Disabled);
    config.extra = Some("hello");
    config.tuner = Some(4);
    dir.write(&config.text());
    let report = system.reload_config().await.unwrap();
    assert_eq!(report.started, ["extra"]);
    assert_eq!(report.changed, ["tuner"]);
    assert!(report.is_clean(), "{report:?}");

    let extra = system.plugin::<Extra>().unwrap();
    assert_eq!(extra.greeting, "hello");
    assert!(extra.started.load(Ordering::SeqCst));
    assert_eq!(state(&system, "extra"), PluginState::Started);
    let order: Vec<_> = system.plugins().iter().map(|p| p.name()).collect();
    let (tuner, extra_at) = (
        order.iter().position(|&n| n == "tuner"),
        order.iter().position(|&n| n == "extra"),
    );
    assert!(tuner < extra_at, "dependencies first: {order:?}");
    system.emit(&Ping);
    assert_eq!(extra.pings.load(Ordering::SeqCst), 1);

    // Shut down with the others, in reverse dependency order.
    let report = system.shutdown(Duration::from_secs(1)).await;
    assert!(extra.shut.load(Ordering::SeqCst));
    let stopped = report.plugins.iter().find(|p| p.name() == "extra").unwrap();
    assert_eq!(stopped.state, PluginState::Stopped);
    assert!(matches!(system.reload_config().await, Err(Error::Shutdown)));
}

#[tokio::test]
async fn a_plugin_whose_init_fails_at_run_time_leaves_its_dependents_unmade() {
    let dir = Dir::new("fragile");
    let mut config = Config {
        tuner: Some(1),
        ..Config::default()
    };
    let system = start(&dir, &config).await;
    config.fragile = Some(true);
    config.leaning = true;
    dir.write(&config.text());
    let report = system.reload_config().await.unwrap();
    let failed: Vec<_> = report
        .failed
        .iter()
        .map(|f| (f.plugin, f.phase, f.error.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            ("fragile", "init", "no disk"),
            ("leaning", "init", "its dependency `fragile` is not running"),
        ]
    );
    assert!(report.started.is_empty());
    assert_eq!(state(&system, "fragile"), PluginState::Failed);
    assert_eq!(state(&system, "leaning"), PluginState::Failed);
    assert!(system.plugin::<Leaning>().is_none());

    // Never made: disabled, then enabled again, they are made.
    config.fragile = None;
    config.leaning = false;
    dir.write(&config.text());
    let report = system.reload_config().await.unwrap();
    assert!(report.stopped.is_empty() && report.is_clean(), "{report:?}");
    assert_eq!(state(&system, "fragile"), PluginState::Disabled);
    config.fragile = Some(false);
    config.leaning = true;
    dir.write(&config.text());
    let report = system.reload_config().await.unwrap();
    assert_eq!(report.started, ["fragile", "leaning"]);
    assert!(system.plugin::<Leaning>().is_some());
}

#[tokio::test]
async fn reloading_needs_a_configuration_file() {
    let value: toml::Table = toml::from_str(&Config::default().text()).unwrap();
    let err = EventSystem::builder()
        .config(&value)
        .watch_config(true)
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { option: "watch_config", reason } if reason.contains("given in code")),
        "{err}"
    );
    let err = EventSystem::builder()
        .watch_config(true)
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { option: "watch_config", reason } if reason.contains("none was given")),
        "{err}"
    );
    let system = EventSystem::builder().config(&value).build().unwrap();
    let err = system.reload_config().await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::InvalidConfig {
                option: "config_file",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn watching_needs_a_tokio_runtime() {
    let dir = Dir::new("no-runtime");
    dir.write(&Config::default().text());
    let err = EventSystem::builder()
        .config_file(dir.file())
        .watch_config(true)
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { option: "watch_config", reason } if reason.contains("Tokio runtime")),
        "{err}"
    );
}

async fn watched(dir: &Dir, config: &Config) -> EventSystem {
    dir.write(&config.text());
    EventSystem::builder()
        .config_file(dir.file())
        .watch_config(true)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_watcher_applies_each_save() {
    let dir = Dir::new("watch");
    let mut config = Config {
        tuner: Some(1),
        ..Config::default()
    };
    let system = watched(&dir, &config).await;
    let rejected = system.subscribe_topic(CONFIG_REJECTED_TOPIC).unwrap();
    let tuner = system.plugin::<Tuner>().unwrap();

    // Written in place.
    config.tuner = Some(7);
    dir.write(&config.text());
    until("level 7", || tuner.level() == 7).await;

    // Saved as editors do: another file renamed over it.
    config.tuner = Some(8);
    let temp = dir.0.join(".staticbus.toml.swp");
    std::fs::write(&temp, config.text()).unwrap();
    std::fs::rename(&temp, dir.file()).unwrap();
    until("level 8", || tuner.level() == 8).await;

    // An invalid save is announced and changes nothing.
    dir.write(&config.text().replace("level = 8", "level = \"high\""));
    let event = rejected
        .receive_timeout(Duration::from_secs(5))
        .await
        .unwrap();
    let announced = event.downcast_ref::<ConfigRejected>().unwrap();
    assert_eq!(announced.problems.len(), 1, "{announced:?}");
    assert!(
        announced.problems[0].contains("invalid type"),
        "{announced:?}"
    );
    assert_eq!(tuner.level(), 8);

    // Shut down: the watcher stops.
    system.shutdown(Duration::from_secs(1)).await;
    config.tuner = Some(9);
    dir.write(&config.text());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(tuner.level(), 8);
}

#[tokio::test]
async fn a_burst_of_writes_is_one_reload() {
    let dir = Dir::new("burst");
    let mut config = Config {
        tuner: Some(1),
        ..Config::default()
    };
    let system = watched(&dir, &config).await;
    let tuner = system.plugin::<Tuner>().unwrap();
    // Each write is several file events (an editor's save more), 30 ms after the last one:
    // well within the 200 ms the watcher waits for quiet, but long enough for a watcher
    // without a debounce to reload in between (the runtime runs it while this test sleeps).
    for level in 2..=6 {
        config.tuner = Some(level);
        dir.write(&config.text());
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    until("level 6", || tuner.level() == 6).await;
    // A late event may reload the same file again, which changes no section.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(tuner.changes(), 1);
}

#[tokio::test]
async fn the_watcher_does_not_keep_the_system_alive() {
    let dir = Dir::new("weak");
    let system = watched(
        &dir,
        &Config {
            tuner: Some(1),
            ..Config::default()
        },
    )
    .await;
    let handle = system.downgrade();
    drop(system);
    assert!(handle.upgrade().is_none());
    // A change after that finds no system to reload.
    dir.write(&Config::default().text());
    tokio::time::sleep(Duration::from_millis(400)).await;
}
