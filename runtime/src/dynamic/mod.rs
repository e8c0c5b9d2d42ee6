//! Events known only at run time: topics, patterns and zero-copy payloads.

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
pub use error::EventError;
pub use event::DynamicEvent;
pub use pattern::{Pattern, PatternError, PatternKind};
pub use payload::{JsonFn, Payload, ValuePayload};
pub use topic::{Topic, TopicError};
pub use view::EventRef;
