//! Topics (validated event names) and the patterns subscriptions match them with.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// What every topic error message ends with.
const TOPIC_RULE: &str = "topics are dot-separated segments of ASCII letters, digits, `_` or `-`, \
                          e.g. \"order.placed\"";

/// The longest pattern [`Pattern`] accepts, in bytes.
const MAX_PATTERN_LEN: usize = 4096;

/// How deep `{...}` groups may nest in a glob.
const MAX_GLOB_NESTING: usize = 8;

/// The most memory one compiled glob or regex may take.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A validated topic name: what a dynamic event is published under and what a subscription
/// [`Pattern`] matches.
///
/// A topic is 1 to 255 bytes of dot-separated, non-empty segments made of ASCII letters, digits,
/// `_` and `-`, the same rule as static event names: `order.placed`,
/// `billing.v2.invoice_sent`. Topics compare, order and hash as their string, and clone
/// cheaply (the name is shared, never copied).
///
/// ```
/// use staticbus::Topic;
///
/// let topic = Topic::new("billing.v2.invoice_sent")?;
/// assert_eq!(topic.as_str(), "billing.v2.invoice_sent");
/// assert_eq!(topic.segments().count(), 3);
///
/// let err = Topic::new("order..placed").unwrap_err();
/// assert!(err.to_string().contains("empty segment at byte 6"));
/// # Ok::<(), staticbus::TopicError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Topic(Arc<str>);

impl Topic {
    /// The longest topic, in bytes.
    pub const MAX_LEN: usize = 255;

    /// Validates `name` and makes it a topic.
    ///
    /// # Errors
    ///
    /// [`TopicError`] if `name` is empty, longer than [`Topic::MAX_LEN`] bytes, has an empty
    /// segment (`a..b`, `.a`, `a.`) or a character other than ASCII letters, digits, `_`, `-`
    /// and the separating `.`.
    pub fn new(name: impl AsRef<str>) -> Result<Topic, TopicError> {
        let name = name.as_ref();
        validate_topic(name)?;
        Ok(Topic(Arc::from(name)))
    }

    /// Whether `name` is a valid topic (see [`Topic::new`]).
    pub fn is_valid(name: &str) -> bool {
        validate_topic(name).is_ok()
    }

    /// A topic from a static event name, already validated by `#[derive(StaticEvent)]`.
    ///
    /// Not public API. Used by the bus for static events.
    #[doc(hidden)]
    pub fn from_static_name(name: &'static str) -> Topic {
        debug_assert!(
            Topic::is_valid(name),
            "static event name {name:?} was not validated by the derive"
        );
        Topic(Arc::from(name))
    }

    /// The topic as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The dot-separated segments: `order.item.added` yields `order`, `item`, `added`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Topic").field(&&*self.0).finish()
    }
}

impl AsRef<str> for Topic {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Topic {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Topic {
    /// Equality that skips comparing the bytes when both share one allocation (events made
    /// from one `Topic` value do).
    #[inline]
    pub(crate) fn same(&self, other: &Topic) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl PartialEq<str> for Topic {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Topic {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl TryFrom<&str> for Topic {
    type Error = TopicError;

    fn try_from(name: &str) -> Result<Self, Self::Error> {
        Topic::new(name)
    }
}

impl TryFrom<&String> for Topic {
    type Error = TopicError;

    fn try_from(name: &String) -> Result<Self, Self::Error> {
        Topic::new(name)
    }
}

impl TryFrom<String> for Topic {
    type Error = TopicError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Topic::new(name)
    }
}

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Topic::new(name)
    }
}

impl serde::Serialize for Topic {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Topic {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TopicVisitor;

        impl serde::de::Visitor<'_> for TopicVisitor {
            type Value = Topic;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a topic string such as \"order.placed\"")
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Topic, E> {
                Topic::new(name).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(TopicVisitor)
    }
}

/// Why a string is not a valid [`Topic`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The string is empty.
    #[error("invalid topic \"\": a topic cannot be empty; {rule}", rule = TOPIC_RULE)]
    Empty,
    /// The string is longer than [`Topic::MAX_LEN`] bytes.
    #[error(
        "invalid topic starting with {prefix:?}: it is {len} bytes long, topics are at most \
         {max} bytes",
        max = Topic::MAX_LEN
    )]
    TooLong {
        /// The first characters of the string.
        prefix: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A segment is empty: two dots in a row, or a dot at the start or the end.
    #[error("invalid topic {topic:?}: empty segment at byte {at}; {rule}", rule = TOPIC_RULE)]
    EmptySegment {
        /// The rejected string.
        topic: String,
        /// Byte offset where the empty segment starts.
        at: usize,
    },
    /// A character outside ASCII letters, digits, `_`, `-` and `.`.
    #[error(
        "invalid topic {topic:?}: character {ch:?} at byte {at} is not allowed; {rule}",
        rule = TOPIC_RULE
    )]
    InvalidChar {
        /// The rejected string.
        topic: String,
        /// The offending character.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
}

fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn validate_topic(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::Empty);
    }
    if name.len() > Topic::MAX_LEN {
        return Err(TopicError::TooLong {
            prefix: name.chars().take(32).collect(),
            len: name.len(),
        });
    }
    let mut segment_start = 0;
    for (at, b) in name.bytes().enumerate() {
        if b == b'.' {
            if at == segment_start {
                return Err(TopicError::EmptySegment {
                    topic: name.to_owned(),
                    at,
                });
            }
            segment_start = at + 1;
        } else if !is_segment_byte(b) {
            return Err(TopicError::InvalidChar {
                topic: name.to_owned(),
                ch: char_at(name, at),
                at,
            });
        }
    }
    if segment_start == name.len() {
        return Err(TopicError::EmptySegment {
            topic: name.to_owned(),
            at: segment_start,
        });
    }
    Ok(())
}

/// The character starting at byte `at`, which follows only ASCII, so is a char boundary.
fn char_at(s: &str, at: usize) -> char {
    s.get(at..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

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
    /// The regex globset made of the dot-to-slash translation of `source`, matched against the
    /// same translation of the topic.
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
        let translated = translate_glob(pattern).map_err(invalid)?;
        let glob = globset::GlobBuilder::new(&translated)
            .literal_separator(true)
            .backslash_escape(false)
            .empty_alternates(true)
            .build()
            .map_err(|e| invalid(e.kind().to_string()))?;
        let regex = regex::bytes::RegexBuilder::new(glob.regex())
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
        match &self.inner {
            Inner::Exact(exact) => exact.as_str() == topic,
            Inner::Glob { regex, .. } => {
                if !Topic::is_valid(topic) {
                    return false;
                }
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

/// Checks a glob against the segment rules and translates it for globset: `.` becomes `/`,
/// and negated classes also exclude `/`, so that no wildcard crosses a segment.
fn translate_glob(pattern: &str) -> Result<String, String> {
    let b = pattern.as_bytes();
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut open_braces: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if is_segment_byte(c) => out.push(char::from(c)),
            b'.' => {
                if i == 0 {
                    return Err("it starts with `.` (an empty first segment)".into());
                }
                if i + 1 == b.len() {
                    return Err("it ends with `.` (an empty last segment)".into());
                }
                if b[i + 1] == b'.' {
                    return Err(format!("empty segment at byte {}", i + 1));
                }
                out.push('/');
            }
            b'*' => {
                let run = b[i..].iter().take_while(|&&c| c == b'*').count();
                if run > 2 {
                    return Err(format!(
                        "`{}` at byte {i}: use `*` within a segment or `**` as a whole segment",
                        "*".repeat(run)
                    ));
                }
                if run == 2 {
                    let starts_segment = i == 0 || b[i - 1] == b'.';
                    let ends_segment = i + 2 == b.len() || b[i + 2] == b'.';
                    if !starts_segment || !ends_segment {
                        return Err(format!(
                            "`**` must be a whole segment (`order.**`, `**.failed`, `a.**.z`), \
                             but the one at byte {i} is not; use `*` to match within a segment"
                        ));
                    }
                    if !open_braces.is_empty() {
                        return Err(format!(
                            "`**` at byte {i} is inside `{{...}}`, which is not supported; \
                             subscribe with one pattern per alternative"
                        ));
                    }
                }
                out.push_str(&pattern[i..i + run]);
                i += run;
                continue;
            }
            b'?' => out.push('?'),
            b'[' => {
                i = translate_class(pattern, i, &mut out)?;
                continue;
            }
            b'{' => {
                if open_braces.len() == MAX_GLOB_NESTING {
                    return Err(format!(
                        "`{{` at byte {i} nests groups more than {MAX_GLOB_NESTING} deep"
                    ));
                }
                open_braces.push(i);
                out.push('{');
            }
            b'}' => {
                if open_braces.pop().is_none() {
                    return Err(format!("`}}` at byte {i} has no matching `{{`"));
                }
                out.push('}');
            }
            b',' => {
                if open_braces.is_empty() {
                    return Err(format!(
                        "`,` at byte {i} is outside `{{...}}` and topics contain no commas; \
                         write alternatives as `{{a,b}}`"
                    ));
                }
                out.push(',');
            }
            b']' => return Err(format!("`]` at byte {i} has no matching `[`")),
            b'/' => {
                return Err(format!(
                    "`/` at byte {i}: topic segments are separated by `.` (write `a.*`, not `a/*`)"
                ));
            }
            b'\\' => {
                return Err(format!(
                    "`\\` at byte {i}: escapes are not supported (no topic character needs one); \
                     for a regex, start the pattern with `^` or use Pattern::regex"
                ));
            }
            c => {
                let regex_hint = if b"()|+^$".contains(&c) {
                    "; for a regex, anchor it with `^` and `$` or use Pattern::regex"
                } else {
                    ""
                };
                return Err(format!(
                    "character {:?} at byte {i} cannot occur in a topic; globs use ASCII \
                     letters, digits, `_`, `-`, `.` and the wildcards `*`, `**`, `?`, `[...]`, \
                     `{{a,b}}`{regex_hint}",
                    char_at(pattern, i)
                ));
            }
        }
        i += 1;
    }
    if let Some(&at) = open_braces.first() {
        return Err(format!("`{{` at byte {at} is never closed; add a `}}`"));
    }
    Ok(out)
}

/// Translates the class starting at `b[start] == b'['`, returning the index after its `]`.
///
/// Members are parsed as globset does (a leading `-` and a trailing `-` are literal, `x-y`
/// is a range), checked, then written back in a form that globset parses the same way.
fn translate_class(pattern: &str, start: usize, out: &mut String) -> Result<usize, String> {
    let b = pattern.as_bytes();
    let mut i = start + 1;
    let negated = matches!(b.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut ranges: Vec<(u8, u8)> = Vec::new();
    let mut in_range = false;
    loop {
        let Some(&c) = b.get(i) else {
            return Err(format!(
                "the character class at byte {start} is never closed; add a `]`"
            ));
        };
        i += 1;
        match c {
            b']' if ranges.is_empty() => {
                return Err(format!(
                    "the character class at byte {start} is empty; list characters as in `[abc]` \
                     or `[a-z]`"
                ));
            }
            b']' => break,
            b'-' if !ranges.is_empty() && !in_range => in_range = true,
            c if is_segment_byte(c) => {
                if in_range {
                    let last = ranges.len() - 1;
                    let lo = ranges[last].0;
                    if c < lo {
                        return Err(format!(
                            "the range `{}-{}` in the class at byte {start} is backwards; \
                             write `{}-{}`",
                            char::from(lo),
                            char::from(c),
                            char::from(c),
                            char::from(lo)
                        ));
                    }
                    ranges[last].1 = c;
                    in_range = false;
                } else {
                    ranges.push((c, c));
                }
            }
            _ => {
                return Err(format!(
                    "character {:?} at byte {} is not allowed in a character class; classes \
                     list ASCII letters, digits, `_` or `-`, e.g. `[a-z0-9]` or `[!_]`",
                    char_at(pattern, i - 1),
                    i - 1
                ));
            }
        }
    }
    if in_range {
        ranges.push((b'-', b'-'));
    }
    let mut dash = false;
    out.push('[');
    if negated {
        out.push_str("!/");
    }
    for &(lo, hi) in &ranges {
        if lo <= b'/' && hi >= b'.' {
            return Err(format!(
                "the range `{}-{}` in the class at byte {start} includes `.`, and a class never \
                 matches the dot between segments; list the characters you mean",
                char::from(lo),
                char::from(hi)
            ));
        }
        if lo == b'-' {
            dash = true;
        } else if lo == hi {
            out.push(char::from(lo));
        } else {
            out.push(char::from(lo));
            out.push('-');
            out.push(char::from(hi));
        }
    }
    if dash {
        out.push('-');
    }
    out.push(']');
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashSet;

    #[test]
    fn valid_topics() {
        for name in [
            "a",
            "order.placed",
            "billing.v2.invoice_sent",
            "A-b_C.9",
            "x.y.z.w.v",
            "-._",
            &"a".repeat(255),
        ] {
            let topic = Topic::new(name).unwrap_or_else(|e| panic!("{name:?}: {e}"));
            assert_eq!(topic.as_str(), name);
            assert!(Topic::is_valid(name));
        }
    }

    #[test]
    fn invalid_topics_name_the_problem() {
        let rule = "topics are dot-separated segments of ASCII letters, digits, `_` or `-`";
        let cases: &[(&str, &str)] = &[
            ("", "invalid topic \"\": a topic cannot be empty"),
            (
                "order..placed",
                "invalid topic \"order..placed\": empty segment at byte 6",
            ),
            (
                ".order",
                "invalid topic \".order\": empty segment at byte 0",
            ),
            (
                "order.",
                "invalid topic \"order.\": empty segment at byte 6",
            ),
            (".", "empty segment at byte 0"),
            (
                "order placed",
                "invalid topic \"order placed\": character ' ' at byte 5 is not allowed",
            ),
            ("order.*", "character '*' at byte 6 is not allowed"),
            ("a/b", "character '/' at byte 1 is not allowed"),
            (
                "caf\u{e9}.open",
                "character '\u{e9}' at byte 3 is not allowed",
            ),
            ("tab\t", "character '\\t' at byte 3 is not allowed"),
        ];
        for &(name, expected) in cases {
            let err = Topic::new(name).expect_err(name).to_string();
            assert!(err.contains(expected), "{name:?}: {err}");
            assert!(err.contains(rule), "{name:?}: {err}");
            assert!(!Topic::is_valid(name));
        }
    }

    #[test]
    fn too_long_topic_shows_a_prefix_only() {
        let name = "a".repeat(256);
        let err = Topic::new(&name).unwrap_err();
        assert_eq!(
            err,
            TopicError::TooLong {
                prefix: "a".repeat(32),
                len: 256
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "invalid topic starting with \"{}\": it is 256 bytes long, topics are at most \
                 255 bytes",
                "a".repeat(32)
            )
        );
        // A multi-byte prefix is cut on a character boundary.
        let err = Topic::new("\u{e9}".repeat(200)).unwrap_err();
        assert!(matches!(err, TopicError::TooLong { len: 400, .. }));
    }

    #[test]
    fn topic_conversions_and_traits() {
        let topic: Topic = "order.placed".parse().unwrap();
        assert_eq!(Topic::try_from("order.placed").unwrap(), topic);
        assert_eq!(
            Topic::try_from(String::from("order.placed")).unwrap(),
            topic
        );
        assert_eq!(
            Topic::try_from(&String::from("order.placed")).unwrap(),
            topic
        );
        assert!(Topic::try_from("bad topic").is_err());
        assert!("".parse::<Topic>().is_err());

        assert_eq!(topic.to_string(), "order.placed");
        assert_eq!(format!("{topic:?}"), "Topic(\"order.placed\")");
        assert_eq!(topic, "order.placed");
        assert_eq!(&topic, "order.placed");
        let s: &str = topic.as_ref();
        assert_eq!(s, "order.placed");
        assert_eq!(
            topic.segments().collect::<Vec<_>>(),
            ["order", "placed"].to_vec()
        );

        // Borrow<str>: look up by &str.
        let set: HashSet<Topic> = [topic.clone()].into_iter().collect();
        assert!(set.contains("order.placed"));
        let map: std::collections::BTreeMap<Topic, u8> = [(topic.clone(), 1)].into();
        assert_eq!(map.get("order.placed"), Some(&1));

        // Ordered by string.
        let mut topics: Vec<Topic> = ["b", "a.b", "a"].map(|t| Topic::new(t).unwrap()).into();
        topics.sort();
        assert_eq!(
            topics.iter().map(Topic::as_str).collect::<Vec<_>>(),
            ["a", "a.b", "b"]
        );

        // Clones share the name.
        let clone = topic.clone();
        assert!(std::ptr::eq(clone.as_str(), topic.as_str()));

        assert_eq!(Topic::from_static_name("order.placed"), topic);
    }

    #[test]
    fn topic_serde() {
        let topic = Topic::new("billing.v2.invoice_sent").unwrap();
        let json = serde_json::to_string(&topic).unwrap();
        assert_eq!(json, "\"billing.v2.invoice_sent\"");
        let back: Topic = serde_json::from_str(&json).unwrap();
        assert_eq!(back, topic);

        let err = serde_json::from_str::<Topic>("\"order..placed\"").unwrap_err();
        assert!(err.to_string().contains("empty segment at byte 6"), "{err}");
        let err = serde_json::from_str::<Topic>("42").unwrap_err();
        assert!(err.to_string().contains("a topic string"), "{err}");
        // Owned strings (escapes) go through the same validation.
        let back: Topic = serde_json::from_str("\"order\\u002eplaced\"").unwrap();
        assert_eq!(back, "order.placed");
    }

    /// (pattern, topic, expected match)
    const MATCHES: &[(&str, &str, bool)] = &[
        // exact
        ("order.placed", "order.placed", true),
        ("order.placed", "order.placed.v2", false),
        ("order.placed", "order", false),
        ("order.placed", "Order.placed", false),
        // `*` within one segment
        ("phase.*", "phase.started", true),
        ("phase.*", "phase.a.b", false),
        ("phase.*", "phase", false),
        ("ord*.created", "order.created", true),
        ("ord*.created", "ord.created", true),
        ("ord*.created", "order.item.created", false),
        ("*", "order", true),
        ("*", "order.placed", false),
        ("*.placed", "order.placed", true),
        ("*.placed", "a.order.placed", false),
        ("*.*", "a.b", true),
        ("*.*", "a.b.c", false),
        ("order.*ed", "order.placed", true),
        ("order.*ed", "order.placing", false),
        // `**` at the end: one or more segments
        ("order.**", "order.created", true),
        ("order.**", "order.item.added", true),
        ("order.**", "order", false),
        ("order.**", "orders.created", false),
        // `**` at the start: zero or more segments
        ("**.failed", "failed", true),
        ("**.failed", "job.failed", true),
        ("**.failed", "job.step.failed", true),
        ("**.failed", "job.failed.again", false),
        ("**.failed", "prefailed", false),
        // `**` in the middle: zero or more segments
        ("a.**.z", "a.z", true),
        ("a.**.z", "a.b.z", true),
        ("a.**.z", "a.b.c.z", true),
        ("a.**.z", "a.zz", false),
        ("a.**.z", "ab.z", false),
        ("a.**.z", "a.b.c", false),
        ("a.**.**.z", "a.z", true),
        ("a.**.**.z", "a.b.c.z", true),
        ("**.a.**", "a.x", true),
        ("**.a.**", "x.y.a.x.y", true),
        ("**.a.**", "a", false),
        ("a.*.**", "a.b.c", true),
        ("a.*.**", "a.b", false),
        // `**` alone and doubled
        ("**", "a", true),
        ("**", "a.b.c", true),
        ("**.**", "a", true),
        ("**.**", "a.b.c", true),
        // `?`
        ("v?.ping", "v2.ping", true),
        ("v?.ping", "v22.ping", false),
        ("a?b", "a.b", false),
        ("a?b", "a-b", true),
        // classes
        ("v[0-9].ping", "v2.ping", true),
        ("v[0-9].ping", "vx.ping", false),
        ("v[!0-9].ping", "vx.ping", true),
        ("v[!0-9].ping", "v2.ping", false),
        ("v[^0-9].ping", "vx.ping", true),
        ("a[!b]c", "a.c", false),
        ("a[^x]c", "a.c", false),
        ("[abc].x", "b.x", true),
        ("[abc].x", "d.x", false),
        ("[a-cx-z]", "y", true),
        ("[a-cx-z]", "m", false),
        ("a[-_]b", "a-b", true),
        ("a[_-]b", "a-b", true),
        ("a[_-]b", "a_b", true),
        ("a[!-]b", "a_b", true),
        ("a[!-]b", "a-b", false),
        ("a[!-]b", "a.b", false),
        // alternation
        ("order.{placed,shipped}", "order.shipped", true),
        ("order.{placed,shipped}", "order.cancelled", false),
        ("order.{placed,item.*}", "order.item.added", true),
        ("order.{placed,item.*}", "order.item.a.b", false),
        ("order{,.v2}", "order", true),
        ("order{,.v2}", "order.v2", true),
        ("order{,.v2}", "order.v3", false),
        ("{a,b}.{c,d}", "b.c", true),
        ("{a,{b,c}}.x", "c.x", true),
        ("{a*,b}.x", "abc.x", true),
        ("{a*,b}.x", "a.b.x", false),
        // regexes, used as written
        (r"^phase\.(started|completed)$", "phase.started", true),
        (r"^phase\.(started|completed)$", "phase.completed", true),
        (r"^phase\.(started|completed)$", "phase.failed", false),
        (r"^phase\.(started|completed)$", "phase.started.late", false),
        (r"placed$", "reorder.placed", true),
        (r"^order\.", "order.placed", true),
        (r"^order\.", "orders.placed", false),
        (r"^v\d+\.ping$", "v12.ping", true),
        // not valid topics never match a glob
        ("**", "", false),
        ("**", "a..b", false),
        ("*", "a/b", false),
        ("a.**", "a./b", false),
    ];

    #[test]
    fn pattern_table() {
        for &(pattern, topic, expected) in MATCHES {
            let p = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern:?}: {e}"));
            assert_eq!(
                p.matches(topic),
                expected,
                "{:?} pattern {pattern:?} on topic {topic:?}",
                p.kind()
            );
            assert_eq!(p.as_str(), pattern);
        }
        assert!(MATCHES.len() >= 30);
    }

    #[test]
    fn kind_detection() {
        let cases = [
            ("order.placed", PatternKind::Exact),
            ("order.*", PatternKind::Glob),
            ("v?.ping", PatternKind::Glob),
            ("v[0-9]", PatternKind::Glob),
            ("{a,b}", PatternKind::Glob),
            ("^order", PatternKind::Regex),
            ("placed$", PatternKind::Regex),
            ("^order.*$", PatternKind::Regex),
        ];
        for (pattern, kind) in cases {
            let p = Pattern::parse(pattern).unwrap();
            assert_eq!(p.kind(), kind, "{pattern:?}");
            assert_eq!(p.to_string(), pattern);
            assert_eq!(pattern.parse::<Pattern>().unwrap(), p);
            assert_eq!(Pattern::try_from(pattern).unwrap(), p);
            assert_eq!(Pattern::try_from(pattern.to_owned()).unwrap(), p);
            assert_eq!(Pattern::try_from(&pattern.to_owned()).unwrap(), p);
        }
        // Explicit constructors do not auto-detect.
        assert_eq!(
            Pattern::glob("order.placed").unwrap().kind(),
            PatternKind::Glob
        );
        assert_eq!(Pattern::regex("order").unwrap().kind(), PatternKind::Regex);
        assert!(Pattern::regex("order").unwrap().matches("reorder.x"));
        assert!(
            Pattern::glob("order.placed")
                .unwrap()
                .matches("order.placed")
        );
    }

    #[test]
    fn exact_patterns() {
        let topic = Topic::new("order.placed").unwrap();
        let p = Pattern::exact(topic.clone());
        assert_eq!(p.exact_topic(), Some(&topic));
        assert_eq!(Pattern::from(topic.clone()), p);
        assert_eq!(p, Pattern::parse("order.placed").unwrap());
        assert_ne!(p, Pattern::glob("order.placed").unwrap());
        assert_eq!(Pattern::glob("a.*").unwrap().exact_topic(), None);
    }

    #[test]
    fn pattern_debug_and_eq() {
        assert_eq!(
            format!("{:?}", Pattern::parse("order.**").unwrap()),
            "Glob(\"order.**\")"
        );
        assert_eq!(
            format!("{:?}", Pattern::parse("a.b").unwrap()),
            "Exact(\"a.b\")"
        );
        assert_eq!(
            format!("{:?}", Pattern::parse("^a").unwrap()),
            "Regex(\"^a\")"
        );
        assert_eq!(PatternKind::Glob.to_string(), "glob");
        assert_eq!(
            Pattern::parse("a.*").unwrap(),
            Pattern::parse("a.*").unwrap()
        );
        assert_ne!(
            Pattern::parse("a.*").unwrap(),
            Pattern::parse("a.?").unwrap()
        );
        assert_ne!(
            Pattern::parse("^a$").unwrap(),
            Pattern::parse("^a").unwrap()
        );
    }

    #[test]
    fn invalid_patterns_name_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("", "invalid pattern \"\": a pattern cannot be empty"),
            (
                "order.[",
                "invalid glob pattern \"order.[\": the character class at byte 6 is never closed",
            ),
            ("order.[]", "the character class at byte 6 is empty"),
            (
                "a[.]b",
                "character '.' at byte 2 is not allowed in a character class",
            ),
            (
                "a[--9]",
                "the range `--9` in the class at byte 1 includes `.`",
            ),
            (
                "a[z-a]",
                "the range `z-a` in the class at byte 1 is backwards",
            ),
            ("a**b", "`**` must be a whole segment"),
            ("a.**b", "but the one at byte 2 is not"),
            ("a**.b", "but the one at byte 1 is not"),
            ("a.***", "`***` at byte 2"),
            ("{a,**}.b", "`**` must be a whole segment"),
            ("x.{a.**,b}", "but the one at byte 5 is not"),
            ("x.{a.**.b,c}", "`**` at byte 5 is inside `{...}`"),
            (
                "order placed.*",
                "character ' ' at byte 5 cannot occur in a topic",
            ),
            (
                "order.[a-z]+",
                "character '+' at byte 11 cannot occur in a topic; globs use ASCII letters, \
                 digits, `_`, `-`, `.` and the wildcards `*`, `**`, `?`, `[...]`, `{a,b}`; for a \
                 regex, anchor it with `^` and `$` or use Pattern::regex",
            ),
            (
                "order/*",
                "`/` at byte 5: topic segments are separated by `.`",
            ),
            (r"order\.*", "`\\` at byte 5: escapes are not supported"),
            ("order..*", "empty segment at byte 6"),
            (".order.*", "it starts with `.`"),
            ("order.*.", "it ends with `.`"),
            ("order.{a,b", "`{` at byte 6 is never closed"),
            ("order.*}", "`}` at byte 7 has no matching `{`"),
            ("order.*]", "`]` at byte 7 has no matching `[`"),
            ("a,b*", "`,` at byte 1 is outside `{...}`"),
            (
                "{{{{{{{{{a}}}}}}}}}",
                "`{` at byte 8 nests groups more than 8 deep",
            ),
            (
                "caf\u{e9}.*",
                "character '\u{e9}' at byte 3 cannot occur in a topic",
            ),
            (
                "^order.(",
                "invalid regex pattern \"^order.(\": regex parse error",
            ),
            (
                "[a-z+$",
                "invalid regex pattern \"[a-z+$\": regex parse error",
            ),
            (
                "order placed",
                "invalid topic \"order placed\": character ' ' at byte 5 is not allowed",
            ),
            (
                "order..placed",
                "invalid topic \"order..placed\": empty segment at byte 6",
            ),
            (
                r"order\.placed",
                "character '\\\\' at byte 5 cannot occur in a topic; a regex pattern must start \
                 with `^` or end with `$`",
            ),
            ("a|b", "e.g. \"^(?:a|b)$\""),
        ];
        for &(pattern, expected) in cases {
            let err = Pattern::parse(pattern).expect_err(pattern).to_string();
            assert!(err.contains(expected), "{pattern:?}: {err}");
        }
    }

    #[test]
    fn explicit_constructors_reject_bad_input() {
        assert_eq!(Pattern::glob("").unwrap_err(), PatternError::Empty);
        assert_eq!(Pattern::regex("").unwrap_err(), PatternError::Empty);
        let err = Pattern::glob("order.placed now").unwrap_err();
        assert!(matches!(err, PatternError::InvalidGlob { .. }), "{err}");
        let err = Pattern::regex("(unclosed").unwrap_err();
        assert!(matches!(err, PatternError::InvalidRegex { .. }), "{err}");
    }

    #[test]
    fn oversized_patterns_are_errors() {
        let long = format!("^{}$", "a".repeat(5000));
        let err = Pattern::parse(&long).unwrap_err();
        assert!(matches!(err, PatternError::TooLong { len: 5002, .. }));
        assert!(
            err.to_string().contains("patterns are at most 4096 bytes"),
            "{err}"
        );

        // Small to write, huge to compile.
        let err = Pattern::regex(r"^\w{1000}\w{1000}\w{1000}$").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("compiles to more than 1048576 bytes"), "{msg}");

        let err = Pattern::glob(&"[a-z]?".repeat(700)).unwrap_err();
        assert!(matches!(err, PatternError::TooLong { .. }), "{err}");
    }

    #[test]
    fn long_globs_within_the_limit_work() {
        let glob = format!("{}*", "[a-z]".repeat(200));
        let p = Pattern::glob(&glob).unwrap();
        assert!(p.matches(&"q".repeat(200)));
        assert!(!p.matches(&"q".repeat(199)));
        // Longest topic.
        let p = Pattern::parse("**").unwrap();
        assert!(p.matches(&"a".repeat(255)));
        assert!(!p.matches(&"a".repeat(256)));
    }
}
