//! The plugins' configuration: `[plugins.<name>]` tables read into each plugin's `#[init]`
//! config type; every problem names the source, the plugin, the key and the line.

use std::path::PathBuf;

use serde::Deserialize;
use staticbus::{Error, EventSystem, PluginContext, PluginProblem, plugin};

#[derive(Debug, Deserialize)]
struct PricingConfig {
    currency: String,
    #[serde(default)]
    limits: Limits,
}

#[derive(Debug, Default, Deserialize)]
struct Limits {
    #[serde(default)]
    max: u32,
}

struct Pricing {
    currency: String,
    max: u32,
}

#[plugin(name = "pricing", version = "2.0.0")]
impl Pricing {
    #[init]
    async fn init(_ctx: &PluginContext, config: PricingConfig) -> Result<Self, std::io::Error> {
        Ok(Pricing {
            currency: config.currency,
            max: config.limits.max,
        })
    }
}

#[derive(Default)]
struct Quiet;

#[plugin(name = "quiet")]
impl Quiet {}

/// Writes `text` to a file of its own and returns its path.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("staticbus-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The configuration problems `build` reports for `text`, as (line, plugin, key, message).
async fn problems(name: &str, text: &str) -> Vec<staticbus::ConfigError> {
    let path = file(name, text);
    let err = EventSystem::builder()
        .config_file(&path)
        .start()
        .await
        .unwrap_err();
    let Error::Plugins(problems) = err else {
        panic!("{err}")
    };
    problems
        .into_iter()
        .map(|p| match p {
            PluginProblem::Config(e) => {
                assert_eq!(e.source, path.display().to_string());
                e
            }
            other => panic!("{other}"),
        })
        .collect()
}

#[tokio::test]
async fn a_valid_file_feeds_init() {
    let path = file(
        "valid.toml",
        "[plugins.pricing]\ncurrency = \"EUR\"\nlimits = { max = 7 }\n\n[plugins.quiet]\nenabled = true\n",
    );
    let system = EventSystem::builder()
        .config_file(&path)
        .start()
        .await
        .unwrap();
    let pricing = system.plugin::<Pricing>().unwrap();
    assert_eq!((pricing.currency.as_str(), pricing.max), ("EUR", 7));
}

#[tokio::test]
async fn unknown_keys_are_errors_with_their_lines() {
    let errors = problems(
        "unknown.toml",
        "[plugins.pricing]\ncurrency = \"EUR\"\ncurency = \"USD\"\nlimits = { max = 1, min = 0 }\n\n[plugins.quiet]\nverbose = true\n",
    )
    .await;
    let got: Vec<_> = errors
        .iter()
        .map(|e| (e.line, e.plugin.as_deref(), e.key.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(3), Some("pricing"), Some("curency")),
            (Some(4), Some("pricing"), Some("limits.min")),
            (Some(7), Some("quiet"), Some("verbose")),
        ]
    );
    let text = errors[0].to_string();
    assert!(text.ends_with(":3: [plugins.pricing] key `curency`: unknown key: not a field of `plugin_config::PricingConfig`"), "{text}");
    assert!(
        errors[2].message.contains("takes no configuration"),
        "{}",
        errors[2]
    );
}

#[tokio::test]
async fn a_value_of_the_wrong_type_names_its_line() {
    let errors = problems(
        "type.toml",
        "[plugins.pricing]\ncurrency = \"EUR\"\nlimits = { max = \"many\" }\n",
    )
    .await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, Some(3), "{}", errors[0]);
    assert!(errors[0].message.contains("invalid type"), "{}", errors[0]);
}

#[tokio::test]
async fn a_missing_field_and_a_missing_section_are_errors() {
    let errors = problems("missing.toml", "[plugins.pricing]\nlimits = { max = 1 }\n").await;
    assert!(
        errors[0].message.contains("missing field `currency`"),
        "{}",
        errors[0]
    );
    let errors = problems("empty.toml", "").await;
    assert_eq!(errors[0].plugin.as_deref(), Some("pricing"));
    assert!(
        errors[0].message.contains("missing field `currency`"),
        "{}",
        errors[0]
    );
}

#[tokio::test]
async fn shape_problems_are_all_reported() {
    let errors = problems(
        "shape.toml",
        "title = \"x\"\n[plugins.nobody]\na = 1\n[plugins.quiet]\nenabled = \"yes\"\n",
    )
    .await;
    let got: Vec<_> = errors
        .iter()
        .map(|e| (e.line, e.plugin.as_deref(), e.key.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(1), None, Some("title")),
            (Some(2), Some("nobody"), None),
            (Some(5), Some("quiet"), Some("enabled")),
        ]
    );
    assert!(
        errors[1].message.contains("linked: pricing, quiet"),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].message.contains("true or false, not string"),
        "{}",
        errors[2]
    );
}

#[tokio::test]
async fn bad_syntax_and_unreadable_files_are_errors() {
    let errors = problems("syntax.toml", "[plugins.pricing]\ncurrency = \n").await;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, Some(2), "{}", errors[0]);
    let missing = std::env::temp_dir().join("staticbus-no-such-dir/none.toml");
    let err = EventSystem::builder()
        .config_file(&missing)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("cannot be read"), "{err}");
}

#[tokio::test]
async fn configuration_from_code_and_disabling() {
    let config: toml::Table =
        toml::from_str("[plugins.pricing]\nenabled = false\n[plugins.quiet]\nenabled = false\n")
            .unwrap();
    // Disabled: its section is not read (no `currency` needed), it is not made.
    let system = EventSystem::builder().config(&config).build().unwrap();
    assert!(system.plugin::<Pricing>().is_none());
    assert!(system.plugin::<Quiet>().is_none());
    let err = EventSystem::builder().config(&42).build().unwrap_err();
    assert!(err.to_string().contains("configuration from code"), "{err}");
}
