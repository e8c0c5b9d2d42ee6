//! The rules for a plugin's `version` and its `depends_on` entries, defined once for
//! `#[plugin]` (which checks them at compile time) and the runtime (which reads them again
//! when it orders the plugins).

use std::fmt;

use semver::{Version, VersionReq};

/// One `depends_on` entry: `"storage"`, `"storage >= 1.0"`, `"cache?"`, `"cache? ^2"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The required plugin's name.
    pub name: String,
    /// `?` after the name: the plugin starts without it, after it if it is there.
    pub optional: bool,
    /// The versions accepted (`*` when none is written).
    pub requirement: VersionReq,
}

/// Why a `depends_on` entry or a version string is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecError {
    /// The entry has no plugin name before its requirement.
    MissingName,
    /// The name has a character other than ASCII letters, digits, `_`, `-` and `.`.
    InvalidName {
        /// The offending character.
        ch: char,
    },
    /// The requirement is not a semver requirement (`>= 1.0`, `^2.1`, `~1.2.3`, `=1.0.0`).
    Requirement(String),
    /// The version is not a semver version (`1.2.0`).
    Version(String),
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::MissingName => f.write_str(
                "a dependency starts with the plugin's name: \"storage\", \"storage >= 1.0\", \
                 or \"cache?\" for an optional one",
            ),
            SpecError::InvalidName { ch } => write!(
                f,
                "`{ch}` cannot be in a plugin name (ASCII letters, digits, `_`, `-`, `.`); write \
                 the name, then `?` if it is optional, then a semver requirement: \"cache? >= 1.0\""
            ),
            SpecError::Requirement(reason) => write!(
                f,
                "not a semver requirement ({reason}); write e.g. \">= 1.0\", \"^2.1\" or \"=1.0.0\""
            ),
            SpecError::Version(reason) => write!(
                f,
                "not a semver version ({reason}); write major.minor.patch, e.g. \"1.2.0\""
            ),
        }
    }
}

impl std::error::Error for SpecError {}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Reads one `depends_on` entry: the plugin's name, `?` if optional, then an optional semver
/// requirement, spaces around each part allowed.
///
/// ```
/// use staticbus_names::plugin::dependency;
///
/// let dep = dependency("storage >= 1.0").unwrap();
/// assert_eq!((dep.name.as_str(), dep.optional), ("storage", false));
/// assert!(dep.requirement.matches(&"1.4.0".parse().unwrap()));
/// assert!(dependency("cache?").unwrap().optional);
/// assert!(dependency(">= 1.0").is_err());
/// ```
pub fn dependency(spec: &str) -> Result<Dependency, SpecError> {
    let spec = spec.trim();
    let end = spec.find(|c: char| !is_name_char(c)).unwrap_or(spec.len());
    let (name, rest) = spec.split_at(end);
    if name.is_empty() {
        return Err(SpecError::MissingName);
    }
    // Right after the name comes a space, `?`, or a requirement's operator.
    if let Some(ch) = rest
        .chars()
        .next()
        .filter(|&c| !c.is_whitespace() && !"?=<>^~*".contains(c))
    {
        return Err(SpecError::InvalidName { ch });
    }
    let rest = rest.trim_start();
    let (optional, rest) = match rest.strip_prefix('?') {
        Some(rest) => (true, rest.trim()),
        None => (false, rest.trim()),
    };
    let requirement = if rest.is_empty() {
        VersionReq::STAR
    } else {
        VersionReq::parse(rest).map_err(|e| SpecError::Requirement(e.to_string()))?
    };
    Ok(Dependency {
        name: name.to_owned(),
        optional,
        requirement,
    })
}

/// Reads a plugin's version: a semver version.
///
/// ```
/// assert!(staticbus_names::plugin::version("1.2.0").is_ok());
/// assert!(staticbus_names::plugin::version("1.2").is_err());
/// ```
pub fn version(text: &str) -> Result<Version, SpecError> {
    Version::parse(text.trim()).map_err(|e| SpecError::Version(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_name_optional_and_requirement() {
        let dep = dependency(" cache ? ^2 ").unwrap();
        assert_eq!(dep.name, "cache");
        assert!(dep.optional);
        assert_eq!(dep.requirement, VersionReq::parse("^2").unwrap());
        let dep = dependency("a.b-c_d").unwrap();
        assert_eq!((dep.name.as_str(), dep.optional), ("a.b-c_d", false));
        assert_eq!(dep.requirement, VersionReq::STAR);
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        assert_eq!(dependency(""), Err(SpecError::MissingName));
        assert_eq!(dependency("?"), Err(SpecError::MissingName));
        assert!(matches!(
            dependency("storage >= one"),
            Err(SpecError::Requirement(_))
        ));
        assert!(matches!(
            dependency("storage cache"),
            Err(SpecError::Requirement(_))
        ));
        assert_eq!(
            dependency("sto/rage"),
            Err(SpecError::InvalidName { ch: '/' })
        );
        assert!(dependency("storage>=1.0").is_ok());
        assert!(matches!(version("v1"), Err(SpecError::Version(_))));
    }
}
