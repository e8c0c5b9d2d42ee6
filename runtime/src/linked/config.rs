//! A plugin's configuration section (`[plugins.<name>]` of the system's TOML configuration),
//! read into the type its `#[init]` takes, with errors that name the source, the plugin, the
//! key and the line.

use std::any::Any;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The top-level table of plugin sections.
pub(crate) const PLUGINS_KEY: &str = "plugins";
/// The key of a plugin's section the system reads itself (not handed to the plugin).
pub(crate) const ENABLED: &str = "enabled";

/// One plugin's section of a configuration, as the system hands it to the plugin's reader.
#[doc(hidden)]
#[derive(Clone)]
pub struct ConfigSection {
    /// The whole text it is part of (already checked at the top level: it parses).
    pub(crate) text: Arc<str>,
    /// Where the text came from: a file's path, or "configuration from code".
    pub(crate) source: Arc<str>,
    /// The plugin's name.
    pub(crate) plugin: &'static str,
}

impl fmt::Debug for ConfigSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigSection")
            .field("plugin", &self.plugin)
            .field("source", &self.source)
            .finish()
    }
}

/// What is wrong with a configuration: the source, the plugin, the key and the line where
/// they are known.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// Where the configuration came from: a file's path, or "configuration from code".
    pub source: String,
    /// The plugin whose section is at fault, if the problem is in one.
    pub plugin: Option<String>,
    /// The key at fault, dotted from the section (`limits.max`), if known.
    pub key: Option<String>,
    /// The 1-based line, if known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(plugin) = &self.plugin {
            write!(f, ": [plugins.{plugin}]")?;
        }
        if let Some(key) = &self.key {
            write!(f, " key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The 1-based line of byte `at` of `text`.
pub(crate) fn line_of(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl ConfigSection {
    /// An error in this section at `span` (of the text) about `key`.
    pub(crate) fn error(
        &self,
        key: Option<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            source: self.source.to_string(),
            plugin: Some(self.plugin.to_owned()),
            key,
            line: span.map(|s| line_of(&self.text, s.start)),
            message: message.into(),
        }
    }

    /// The section's table in `root` (the parsed text), `enabled` taken out, if it has one.
    fn find<'t>(&self, root: DeTable<'t>) -> Option<Spanned<DeValue<'t>>> {
        let (_, plugins) = root.into_iter().find(|(k, _)| k.get_ref() == PLUGINS_KEY)?;
        let DeValue::Table(plugins) = plugins.into_inner() else {
            return None;
        };
        let (_, section) = plugins
            .into_iter()
            .find(|(k, _)| k.get_ref() == self.plugin)?;
        let span = section.span();
        match section.into_inner() {
            DeValue::Table(mut table) => {
                table.remove(ENABLED);
                Some(Spanned::new(span, DeValue::Table(table)))
            }
            other => Some(Spanned::new(span, other)),
        }
    }
}

/// The span of the key at dotted `path` in `section`, if it is there.
fn key_span(section: Option<&Spanned<DeValue<'_>>>, path: &str) -> Option<Range<usize>> {
    let mut table = section?.get_ref().as_table()?;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        let (key, value) = table.iter().find(|(k, _)| k.get_ref() == segment)?;
        if segments.peek().is_none() {
            return Some(key.span());
        }
        table = value.get_ref().as_table()?;
    }
    None
}

/// What a plugin whose `#[init]` takes no configuration accepts: nothing.
#[doc(hidden)]
#[derive(Debug, serde::Deserialize)]
pub struct NoConfig {}

/// Reads `section` into a `C`: every unknown key and the first type error, each with its line.
#[doc(hidden)]
pub fn parse_config<C: DeserializeOwned + Send + 'static>(
    section: &ConfigSection,
) -> Result<Box<dyn Any + Send>, Vec<ConfigError>> {
    let root = match DeTable::parse(&section.text) {
        Ok(root) => root.into_inner(),
        Err(e) => return Err(vec![section.error(None, e.span(), e.message().to_owned())]),
    };
    let value = section.find(root);
    let present = value.is_some();
    let spans = value.clone();
    let value = value.unwrap_or_else(|| Spanned::new(0..0, DeValue::Table(DeTable::new())));
    let deserializer = toml::de::ValueDeserializer::from(value);
    let mut unknown = Vec::new();
    let parsed: Result<C, toml::de::Error> =
        serde_ignored::deserialize(deserializer, |path| unknown.push(path.to_string()));
    let takes = if std::any::TypeId::of::<C>() == std::any::TypeId::of::<NoConfig>() {
        "the plugin takes no configuration (its `#[init]` has no config parameter, or it has no \
         `#[init]`); only `enabled` is read"
            .to_owned()
    } else {
        format!("not a field of `{}`", std::any::type_name::<C>())
    };
    let mut errors: Vec<ConfigError> = unknown
        .into_iter()
        .map(|key| {
            let span = key_span(spans.as_ref(), &key);
            section.error(Some(key), span, format!("unknown key: {takes}"))
        })
        .collect();
    match parsed {
        Ok(config) if errors.is_empty() => Ok(Box::new(config)),
        Ok(_) => Err(errors),
        Err(e) => {
            let span = e.span().filter(|s| present && s.start < s.end);
            errors.push(section.error(None, span, e.message().to_owned()));
            Err(errors)
        }
    }
}

/// [`parse_config`] of a plugin that takes no configuration: compiled once, in the runtime,
/// so that a plugin crate instantiates no deserializer for it.
#[doc(hidden)]
pub fn parse_no_config(section: &ConfigSection) -> Result<Box<dyn Any + Send>, Vec<ConfigError>> {
    parse_config::<NoConfig>(section)
}

/// The configuration [`parse_config`] read, back as the `C` it is.
#[doc(hidden)]
pub fn take_config<C: 'static>(parsed: Box<dyn Any + Send>) -> C {
    match parsed.downcast::<C>() {
        Ok(config) => *config,
        Err(_) => unreachable!("a plugin's init is handed what its own config reader returned"),
    }
}
