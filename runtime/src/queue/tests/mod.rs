//! Unit tests of the queue layer, beside it rather than inline, so that they can reach what
//! is visible inside the layer (`pub(super)` items of its modules) without the production
//! code carrying test-only items.

mod blocking;
mod budget;
mod buffer;
mod stress;
mod support;
