//! Patterns: what a subscription matches, an exact topic, a glob over segments or a regex.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::glob;
use super::topic::{Topic, TopicError};

/// The longest pattern [`Pattern`] accepts, in bytes.
const MAX_PATTERN_LEN: usize = 4096;

/// The most memory one compiled glob or regex may take.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Which syntax a [`Pattern`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatternKind {
    /// One topic, compared as a string.
    Exact,
    /// A glob over dot-separated segments (see [`Pattern`]).
    Glob,
    /// A regular expression, used as written.
    Regex,
}

impl fmt::Display for PatternKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PatternKind::Exact => "exact",
            PatternKind::Glob => "glob",
            PatternKind::Regex => "regex",
        })
    }
}

/// What a subscription matches: one topic, a glob over segments, or a regular expression.
///
/// [`Pattern::parse`] (also [`FromStr`] and `TryFrom<&str>`) picks the kind from the string:
///
/// - starts with `^` or ends with `$`: a **regex** (`^phase\.(started|completed)$`);
/// - contains `*`, `?`, `[` or `{`: a **glob** (`order.*`, `**.failed`);
/// - anything else: an **exact** topic, validated like [`Topic::new`] (`order.placed`).
///
/// # Globs
///
/// A topic is a list of dot-separated segments, and globs match segment-wise:
///
/// | Syntax | Matches | Example |
/// |---|---|---|
/// | `*` | any run of characters within one segment, possibly empty; never a `.` | `phase.*` matches `phase.started`, not `phase.a.b`; `ord*.created` matches `order.created` |
/// | `**` | a whole segment only; any number of whole segments (see below) | `order.**`, `**.failed`, `a.**.z` |
/// | `?` | exactly one character other than `.` | `v?.ping` matches `v2.ping` |
/// | `[abc]`, `[a-z]` | one character in the class | `v[0-9].ping` matches `v2.ping` |
/// | `[!a-z]`, `[^a-z]` | one character not in the class, never `.` | `v[!0-9].ping` matches `vx.ping` |
/// | `{a,b}` | any of the alternatives, which may contain wildcards, dots or be empty | `order.{placed,item.*}` |
///
/// Where `**` stands decides what it matches:
///
/// - `order.**` (at the end): **one or more** segments after `order`: `order.created`,
///   `order.item.added`, but not `order` itself;
/// - `**.failed` (at the start): **zero or more** segments before `failed`: `failed`,
///   `job.failed`, `job.step.failed`;
/// - `a.**.z` (in the middle): **zero or more** segments between: `a.z`, `a.b.z`, `a.b.c.z`;
/// - `**` alone: every topic.
///
/// Rules that keep a glob meaning one thing:
///
/// - `**` must be a whole segment, outside `{...}`: `a**b`, `a.**b`, `***` and `{a,**}` are
///   errors (use `*` to match within a segment);
/// - class members are letters, digits, `_` and `-` (a `-` first or last is literal, a range
///   may not span `.`), so a class never matches the dot between segments;
/// - `/`, `\`, spaces and other characters that cannot occur in a topic are errors, as are
///   empty segments (`a..b`), an unmatched `[`, `{` or `}`, and a `,` outside `{...}`;
/// - matching is case-sensitive, and a string that is not a valid [`Topic`] matches no glob.
///
/// # Regexes
///
/// Regexes use the [`regex`](https://docs.rs/regex) syntax and are used as written: an
/// unanchored regex matches anywhere in the topic (`placed$` matches `order.placed` and
/// `reorder.placed`), so anchor both ends unless you mean that, and escape dots (`\.`).
/// A regex that compiles to more than 1 MiB is an error.
///
/// # Examples
///
/// ```
/// use staticbus::{Pattern, PatternKind};
///
/// let p: Pattern = "order.**".parse()?;
/// assert_eq!(p.kind(), PatternKind::Glob);
/// assert!(p.matches("order.created"));
/// assert!(p.matches("order.item.added"));
/// assert!(!p.matches("order"));
///
/// let p = Pattern::parse(r"^phase\.(started|completed)$")?;
/// assert_eq!(p.kind(), PatternKind::Regex);
/// assert!(p.matches("phase.started") && !p.matches("phase.failed"));
///
/// let p = Pattern::parse("order.placed")?;
/// assert_eq!(p.kind(), PatternKind::Exact);
/// assert!(p.matches("order.placed") && !p.matches("order.placed.v2"));
///
/// let err = Pattern::parse("order.ite**").unwrap_err();
/// assert!(err.to_string().contains("`**` must be a whole segment"));
/// # Ok::<(), staticbus::PatternError>(())
/// ```
#[derive(Clone)]
pub struct Pattern {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Exact(Topic),
    /// The regex [`glob::to_regex`] made of `source`, matched against the dot-to-slash
    /// translation of the topic.
    Glob {
        source: Arc<str>,
        regex: regex::bytes::Regex,
    },
    Regex {
        source: Arc<str>,
        regex: regex::Regex,
    },
}

impl Pattern {
    /// A pattern matching exactly `topic`.
    pub fn exact(topic: Topic) -> Pattern {
        Pattern {
            inner: Inner::Exact(topic),
        }
    }

    /// A glob over dot-separated segments (see the [type docs](Pattern) for the syntax).
    ///
    /// # Errors
    ///
    /// [`PatternError::InvalidGlob`] naming the problem and its byte offset, or
    /// [`PatternError::Empty`] / [`PatternError::TooLong`].
    pub fn glob(pattern: &str) -> Result<Pattern, PatternError> {
        check_len(pattern)?;
        let invalid = |reason: String| PatternError::InvalidGlob {
            pattern: pattern.to_owned(),
            reason,
        };
        let source = glob::to_regex(pattern).map_err(invalid)?;
        let regex = regex::bytes::RegexBuilder::new(&source)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| invalid(regex_reason(&e)))?;
        Ok(Pattern {
            inner: Inner::Glob {
                source: Arc::from(pattern),
                regex,
            },
        })
    }

    /// A regular expression, used as written (anchor it yourself: `^phase\.(a|b)$`).
    ///
    /// # Errors
    ///
    /// [`PatternError::InvalidRegex`] if it does not parse or compiles to more than 1 MiB, or
    /// [`PatternError::Empty`] / [`PatternError::TooLong`].
    pub fn regex(pattern: &str) -> Result<Pattern, PatternError> {
        check_len(pattern)?;
        let regex = regex::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| PatternError::InvalidRegex {
                pattern: pattern.to_owned(),
                reason: regex_reason(&e),
            })?;
        Ok(Pattern {
            inner: Inner::Regex {
                source: Arc::from(pattern),
                regex,
            },
        })
    }

    /// Parses a pattern, choosing its kind from the string: a leading `^` or trailing `$`
    /// makes a regex, any of `*?[{` a glob, anything else an exact topic.
    ///
    /// # Errors
    ///
    /// What [`Pattern::regex`], [`Pattern::glob`] or [`Topic::new`] report for that kind, and
    /// [`PatternError::Unrecognized`] for a string that looks like an unanchored regex.
    pub fn parse(pattern: &str) -> Result<Pattern, PatternError> {
        if pattern.starts_with('^') || pattern.ends_with('$') {
            Pattern::regex(pattern)
        } else if pattern.contains(['*', '?', '[', '{']) {
            Pattern::glob(pattern)
        } else if pattern.is_empty() {
            Err(PatternError::Empty)
        } else {
            match Topic::new(pattern) {
                Ok(topic) => Ok(Pattern::exact(topic)),
                Err(TopicError::InvalidChar { ch, at, .. })
                    if matches!(ch, '\\' | '(' | ')' | '|' | '+') =>
                {
                    Err(PatternError::Unrecognized {
                        pattern: pattern.to_owned(),
                        ch,
                        at,
                    })
                }
                Err(e) => Err(PatternError::InvalidTopic(e)),
            }
        }
    }

    /// Whether `topic` matches.
    ///
    /// Exact patterns compare strings; globs match segment-wise and never match a string that
    /// is not a valid [`Topic`]; regexes search `topic` as written.
    pub fn matches(&self, topic: &str) -> bool {
        if matches!(self.inner, Inner::Glob { .. }) && !Topic::is_valid(topic) {
            return false;
        }
        self.matches_valid(topic)
    }

    /// [`matches`](Self::matches) for a [`Topic`], valid already: it is not checked again.
    pub fn matches_topic(&self, topic: &Topic) -> bool {
        self.matches_valid(topic.as_str())
    }

    /// Whether `topic`, a valid topic if the pattern is a glob, matches.
    fn matches_valid(&self, topic: &str) -> bool {
        match &self.inner {
            Inner::Exact(exact) => exact.as_str() == topic,
            Inner::Glob { regex, .. } => {
                let mut buf = [0u8; Topic::MAX_LEN];
                let buf = &mut buf[..topic.len()];
                for (slot, b) in buf.iter_mut().zip(topic.bytes()) {
                    *slot = if b == b'.' { b'/' } else { b };
                }
                regex.is_match(buf)
            }
            Inner::Regex { regex, .. } => regex.is_match(topic),
        }
    }

    /// The pattern as it was written.
    pub fn as_str(&self) -> &str {
        match &self.inner {
            Inner::Exact(topic) => topic.as_str(),
            Inner::Glob { source, .. } | Inner::Regex { source, .. } => source,
        }
    }

    /// Which syntax the pattern uses.
    pub fn kind(&self) -> PatternKind {
        match &self.inner {
            Inner::Exact(_) => PatternKind::Exact,
            Inner::Glob { .. } => PatternKind::Glob,
            Inner::Regex { .. } => PatternKind::Regex,
        }
    }

    /// The topic of an exact pattern, which a bus can look up instead of matching.
    pub fn exact_topic(&self) -> Option<&Topic> {
        match &self.inner {
            Inner::Exact(topic) => Some(topic),
            _ => None,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind() {
            PatternKind::Exact => "Exact",
            PatternKind::Glob => "Glob",
            PatternKind::Regex => "Regex",
        };
        f.debug_tuple(kind).field(&self.as_str()).finish()
    }
}

/// Two patterns are equal when they are of one kind and written alike.
impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.as_str() == other.as_str()
    }
}

impl Eq for Pattern {}

impl From<Topic> for Pattern {
    fn from(topic: Topic) -> Self {
        Pattern::exact(topic)
    }
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(pattern: &str) -> Result<Self, Self::Err> {
        Pattern::parse(pattern)
    }
}

impl TryFrom<&str> for Pattern {
    type Error = PatternError;

    fn try_from(pattern: &str) -> Result<Self, Self::Error> {
        Pattern::parse(pattern)
    }
}

impl TryFrom<&String> for Pattern {
    type Error = PatternError;

    fn try_from(pattern: &String) -> Result<Self, Self::Error> {
        Pattern::parse(pattern)
    }
}

impl TryFrom<String> for Pattern {
    type Error = PatternError;

    fn try_from(pattern: String) -> Result<Self, Self::Error> {
        Pattern::parse(&pattern)
    }
}

/// Why a string is not a valid [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is empty.
    #[error("invalid pattern \"\": a pattern cannot be empty; use \"**\" to match every topic")]
    Empty,
    /// The pattern is longer than 4096 bytes.
    #[error(
        "invalid pattern starting with {prefix:?}: it is {len} bytes long, patterns are at \
         most {max} bytes",
        max = MAX_PATTERN_LEN
    )]
    TooLong {
        /// The first characters of the pattern.
        prefix: String,
        /// Its length in bytes.
        len: usize,
    },
    /// An exact pattern that is not a valid topic.
    #[error(transparent)]
    InvalidTopic(#[from] TopicError),
    /// A glob that does not parse or breaks the segment rules.
    #[error("invalid glob pattern {pattern:?}: {reason}")]
    InvalidGlob {
        /// The pattern as written.
        pattern: String,
        /// What is wrong, and where.
        reason: String,
    },
    /// A regex that does not parse or is too large.
    #[error("invalid regex pattern {pattern:?}: {reason}")]
    InvalidRegex {
        /// The pattern as written.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
    /// Neither a topic nor a glob, and not anchored like a regex.
    #[error(
        "invalid pattern {pattern:?}: character {ch:?} at byte {at} cannot occur in a topic; \
         a regex pattern must start with `^` or end with `$` (e.g. {:?}), or use Pattern::regex",
        anchored(.pattern)
    )]
    Unrecognized {
        /// The pattern as written.
        pattern: String,
        /// The character that made it neither a topic nor a glob.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
}

/// `pattern` as an anchored regex, for error messages.
fn anchored(pattern: &str) -> String {
    if pattern.contains('|') {
        format!("^(?:{pattern})$")
    } else {
        format!("^{pattern}$")
    }
}

fn check_len(pattern: &str) -> Result<(), PatternError> {
    if pattern.is_empty() {
        return Err(PatternError::Empty);
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(PatternError::TooLong {
            prefix: pattern.chars().take(32).collect(),
            len: pattern.len(),
        });
    }
    Ok(())
}

fn regex_reason(err: &regex::Error) -> String {
    match err {
        regex::Error::CompiledTooBig(limit) => {
            format!("it compiles to more than {limit} bytes; simplify it or split it in two")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "tests/pattern.rs"]
mod tests;
