//! Topics: validated event names, what a dynamic event is published under.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use staticbus_names::NameError;

/// What every topic error message ends with.
const TOPIC_RULE: &str = "topics are dot-separated segments of ASCII letters, digits, `_` or `-`, \
                          e.g. \"order.placed\"";

/// A validated topic name: what a dynamic event is published under and what a subscription
/// [`Pattern`](super::Pattern) matches.
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
    pub const MAX_LEN: usize = staticbus_names::MAX_LEN;

    /// Validates `name` and makes it a topic.
    ///
    /// # Errors
    ///
    /// [`TopicError`] if `name` is empty, longer than [`Topic::MAX_LEN`] bytes, has an empty
    /// segment (`a..b`, `.a`, `a.`) or a character other than ASCII letters, digits, `_`, `-`
    /// and the separating `.`.
    pub fn new(name: impl AsRef<str>) -> Result<Topic, TopicError> {
        Topic::made(name.as_ref())
    }

    /// [`new`](Self::new), one copy for every argument type. A name this thread made a
    /// topic of lately (the same few topics, event after event) shares that topic's
    /// allocation and is not validated again.
    fn made(name: &str) -> Result<Topic, TopicError> {
        if let Some(topic) = recent::find(name) {
            return Ok(topic);
        }
        validate_topic(name)?;
        let topic = Topic(Arc::from(name));
        recent::keep(&topic);
        Ok(topic)
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

/// The topics this thread made last from names (a few: the same topics come again and
/// again), kept so that making one again costs a comparison, not a validation and an
/// allocation; and so that events of one topic share its allocation ([`Topic::same`]
/// compares pointers first).
mod recent {
    use std::cell::RefCell;

    use super::Topic;

    /// How many are kept.
    const KEPT: usize = 4;

    thread_local! {
        static RECENT: RefCell<([Option<Topic>; KEPT], usize)> =
            const { RefCell::new(([None, None, None, None], 0)) };
    }

    /// The topic named `name`, if this thread made it lately.
    #[inline]
    pub(super) fn find(name: &str) -> Option<Topic> {
        RECENT
            .try_with(|recent| {
                let recent = recent.try_borrow().ok()?;
                recent
                    .0
                    .iter()
                    .flatten()
                    .find(|topic| topic.as_str() == name)
                    .cloned()
            })
            .ok()
            .flatten()
    }

    /// Keeps `topic` in place of the oldest.
    pub(super) fn keep(topic: &Topic) {
        let _ = RECENT.try_with(|recent| {
            if let Ok(mut recent) = recent.try_borrow_mut() {
                let (kept, next) = &mut *recent;
                kept[*next] = Some(topic.clone());
                *next = (*next + 1) % KEPT;
            }
        });
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

pub(super) use staticbus_names::{char_at, is_segment_byte};

/// Checks `name` against the name rule (defined once, in `staticbus-names`, for the macros
/// and the runtime), with the string in the error.
fn validate_topic(name: &str) -> Result<(), TopicError> {
    staticbus_names::check(name).map_err(|error| match error {
        NameError::Empty => TopicError::Empty,
        NameError::TooLong { len } => TopicError::TooLong {
            prefix: name.chars().take(32).collect(),
            len,
        },
        NameError::EmptySegment { at } => TopicError::EmptySegment {
            topic: name.to_owned(),
            at,
        },
        NameError::InvalidChar { ch, at } => TopicError::InvalidChar {
            topic: name.to_owned(),
            ch,
            at,
        },
    })
}

#[cfg(test)]
#[path = "tests/topic.rs"]
mod tests;
