//! The system's configuration: a TOML document (a file, or a value from code) whose
//! `[plugins.<name>]` tables feed each plugin's `#[init]`, `enabled = false` leaving a linked
//! plugin out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::de::{DeTable, DeValue};

use crate::linked::{ConfigError, ConfigSection, ENABLED, PLUGINS_KEY as PLUGINS, line_of};

/// What a configuration given in code is called in errors.
const FROM_CODE: &str = "configuration from code";

/// Where the configuration comes from, as the builder was told.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    File(PathBuf),
    /// TOML made from a value given in code (or why it could not be made).
    Code(Result<String, String>),
}

/// A configuration read and checked at the top level.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    text: Arc<str>,
    source: Arc<str>,
    /// The plugins with a section, and whether each is enabled.
    enabled: BTreeMap<String, bool>,
}

impl Loaded {
    /// No configuration: every plugin enabled, every section empty.
    pub(crate) fn empty() -> Loaded {
        Loaded {
            text: Arc::from(""),
            source: Arc::from("no configuration"),
            enabled: BTreeMap::new(),
        }
    }

    /// Whether plugin `name` is enabled (the default).
    pub(crate) fn enabled(&self, name: &str) -> bool {
        self.enabled.get(name).copied().unwrap_or(true)
    }

    /// Where it was read from (a file's path, or "configuration from code").
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Each plugin's section as a value, `enabled` left out, a missing section an empty
    /// table: what a reload compares to tell which sections changed.
    pub(crate) fn sections(&self) -> BTreeMap<String, toml::Value> {
        let Ok(mut root) = self.text.parse::<toml::Table>() else {
            return BTreeMap::new();
        };
        let Some(toml::Value::Table(plugins)) = root.remove(PLUGINS) else {
            return BTreeMap::new();
        };
        plugins
            .into_iter()
            .map(|(name, mut section)| {
                if let toml::Value::Table(table) = &mut section {
                    table.remove(ENABLED);
                }
                (name, section)
            })
            .collect()
    }

    /// Plugin `name`'s section, for its reader.
    pub(crate) fn section(&self, name: &'static str) -> ConfigSection {
        ConfigSection {
            text: Arc::clone(&self.text),
            source: Arc::clone(&self.source),
            plugin: name,
        }
    }
}

fn problem(
    source: &str,
    plugin: Option<&str>,
    key: Option<&str>,
    line: Option<usize>,
    message: impl Into<String>,
) -> ConfigError {
    ConfigError {
        source: source.to_owned(),
        plugin: plugin.map(str::to_owned),
        key: key.map(str::to_owned),
        line,
        message: message.into(),
    }
}

/// Reads `source` and checks its shape: `[plugins.<name>]` tables of linked plugins (`linked`),
/// `enabled` a boolean. Every problem found is returned.
pub(crate) fn load(source: &Source, linked: &[&str]) -> Result<Loaded, Vec<ConfigError>> {
    match source {
        Source::File(path) => parse(read(path)?, &path.display().to_string(), linked),
        Source::Code(Ok(text)) => parse(text.clone(), FROM_CODE, linked),
        Source::Code(Err(reason)) => Err(vec![problem(
            FROM_CODE,
            None,
            None,
            None,
            format!("cannot be written as TOML: {reason}"),
        )]),
    }
}

fn read(path: &Path) -> Result<String, Vec<ConfigError>> {
    std::fs::read_to_string(path).map_err(|e| {
        let source = path.display().to_string();
        vec![problem(
            &source,
            None,
            None,
            None,
            format!("cannot be read: {e}"),
        )]
    })
}

/// [`load`] of a text already read, `source` naming it.
pub(crate) fn parse(
    text: String,
    source: &str,
    linked: &[&str],
) -> Result<Loaded, Vec<ConfigError>> {
    let line = |span: std::ops::Range<usize>| Some(line_of(&text, span.start));
    let root = match DeTable::parse(&text) {
        Ok(root) => root.into_inner(),
        Err(e) => {
            let at = e.span().and_then(line);
            return Err(vec![problem(
                source,
                None,
                None,
                at,
                e.message().to_owned(),
            )]);
        }
    };
    let mut errors = Vec::new();
    let mut enabled = BTreeMap::new();
    for (key, value) in &root {
        if key.get_ref() != PLUGINS {
            errors.push(problem(
                source,
                None,
                Some(key.get_ref()),
                line(key.span()),
                "unknown top-level key: the configuration holds `[plugins.<name>]` tables",
            ));
            continue;
        }
        let Some(plugins) = value.get_ref().as_table() else {
            let msg = "must be a table of `[plugins.<name>]` tables";
            errors.push(problem(
                source,
                None,
                Some(PLUGINS),
                line(value.span()),
                msg,
            ));
            continue;
        };
        for (plugin, section) in plugins {
            let name = plugin.get_ref().as_ref();
            if !linked.contains(&name) {
                let known = if linked.is_empty() {
                    "none".to_owned()
                } else {
                    linked.join(", ")
                };
                let msg = format!("no linked plugin has this name (linked: {known})");
                errors.push(problem(source, Some(name), None, line(plugin.span()), msg));
                continue;
            }
            let Some(table) = section.get_ref().as_table() else {
                let msg = format!("must be a table, not {}", section.get_ref().type_str());
                errors.push(problem(source, Some(name), None, line(section.span()), msg));
                continue;
            };
            let mut on = true;
            if let Some((key, flag)) = table.iter().find(|(k, _)| k.get_ref() == ENABLED) {
                match flag.get_ref() {
                    DeValue::Boolean(value) => on = *value,
                    other => errors.push(problem(
                        source,
                        Some(name),
                        Some(ENABLED),
                        line(key.span()),
                        format!("must be true or false, not {}", other.type_str()),
                    )),
                }
            }
            enabled.insert(name.to_owned(), on);
        }
    }
    errors.sort_by_key(|e| e.line);
    if errors.is_empty() {
        Ok(Loaded {
            text: Arc::from(text),
            source: Arc::from(source),
            enabled,
        })
    } else {
        Err(errors)
    }
}
