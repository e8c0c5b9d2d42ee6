//! The queue layer: bounded buffers of pull subscribers and the memory budget they share.

mod buffer;

pub(crate) use buffer::{Budget, Buffer, Overflow, PushOutcome, RecvTimeout, TryRecv};
