//! Runnable examples of staticbus: see the `.rs` files beside `Cargo.toml`
//! (`cargo run --example quickstart`).
