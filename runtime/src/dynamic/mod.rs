//! Events known only at run time: topics, patterns and zero-copy payloads.

mod event;
mod glob;
mod pattern;
mod topic;
mod view;

pub use event::*;
pub use pattern::{Pattern, PatternError, PatternKind};
pub use topic::{Topic, TopicError};
pub use view::EventRef;
