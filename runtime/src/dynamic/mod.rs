//! Events known only at run time: topics, patterns and zero-copy payloads.

mod event;
mod topic;
mod view;

pub use event::*;
pub use topic::*;
pub use view::EventRef;
