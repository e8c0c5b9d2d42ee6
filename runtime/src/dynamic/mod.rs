//! Events known only at run time: topics, subscription patterns, and CloudEvents-shaped
//! events whose payloads are shared, never copied.
//!
//! # Design
//!
//! - **Names are checked once.** A [`Topic`] is validated when it is made, by the same rule as
//!   static event names (so a static event reaches dynamic subscribers under its
//!   `#[event(name)]`), and is then a shared `Arc<str>`: nothing downstream checks it again.
//! - **Patterns are compiled once.** [`Pattern::parse`] tells exact, glob and regex apart by
//!   the string. An exact pattern is a topic the bus looks up rather than matches; a glob is
//!   checked against the segment rules here, so an error can name the byte and the rule, and
//!   becomes one regex; a regex is used as written, within a size limit.
//! - **An event is a value, mapped 1:1 onto CloudEvents 1.0.** [`DynamicEventBuilder`]'s
//!   setters never fail and `build` reports the first problem, so a [`DynamicEvent`] that
//!   exists has valid attributes. Ids are random per process plus a counter: unique without a
//!   system call per event.
//! - **Payloads are shared, JSON is made on demand.** A [`Payload`] is [`Bytes`](bytes::Bytes)
//!   or a value behind an `Arc`, with an optional JSON encoder ([`JsonFn`]): cloning an event
//!   or handing it to many subscribers copies no data, and a value is encoded only when
//!   someone asks for JSON.
//! - **CloudEvents JSON is a codec at the edge.** [`DynamicEvent::to_cloudevent`] and
//!   [`DynamicEvent::from_cloudevent`] are thin methods over `cloudevents.rs`. Reading is
//!   strict and each error names the attribute at fault; times are RFC 3339 from 1970 through
//!   9999, read and written with jiff.
//! - **Handlers borrow.** [`EventRef`] is what sync dynamic handlers see, for a dynamic event
//!   or a static one under its name, without copying or encoding either.
//!
//! # Layout
//!
//! One concept per file, and an `impl` next to its type: `topic.rs` ([`Topic`]), `pattern.rs`
//! ([`Pattern`]), `glob.rs` (glob checks and the translation to a regex), `event.rs`
//! ([`DynamicEvent`], ids), `builder.rs` ([`DynamicEventBuilder`]), `payload.rs`
//! ([`Payload`]), `cloudevents.rs` (the JSON codec), `time.rs` (RFC 3339), `header.rs` (the
//! header name rule), `error.rs` ([`EventError`]) and `view.rs` ([`EventRef`]).
//!
//! Files depend on each other one way where they can: `error` on `topic`, `time` and
//! `header`; `pattern` on `glob` and `topic`. Only `event` and the `builder` and
//! `cloudevents` that make events point at each other.
//!
//! Unit tests live in `tests/<file>.rs`, each included from the file it tests with
//! `#[cfg(test)] #[path = "tests/<file>.rs"] mod tests;` so that it reaches private items.
//! The fixtures the event tests share are in `tests/event.rs`.

mod builder;
mod cloudevents;
mod error;
mod event;
mod glob;
mod header;
mod pattern;
mod payload;
mod time;
mod topic;
mod view;

pub use builder::DynamicEventBuilder;
pub use cloudevents::is_json_content_type;
pub use error::EventError;
pub(crate) use event::Cause;
pub use event::DynamicEvent;
pub use pattern::{Pattern, PatternError, PatternKind};
pub use payload::{Payload, ValuePayload};
pub use topic::{Topic, TopicError};
pub use view::EventRef;

pub(crate) use time::rfc3339;
