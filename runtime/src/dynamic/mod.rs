//! Events known only at run time: topics, patterns and zero-copy payloads.

mod event;
mod topic;

pub use event::*;
pub use topic::*;
