#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, tests (incl. doc tests and trybuild ui tests),
# the runtime's tests again in release, and the cross-crate fixture in release (linker section
# GC differs there).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "cargo test (debug)"
cargo test --workspace

step "runtime tests (release: inlining and timing differ)"
cargo test --release -p staticbus

step "examples that check their own counts"
cargo run -q --example quickstart >/dev/null
cargo run -q --example reliability
cargo run -q --example plugins >/dev/null
cargo run -q --example quality_monitor >/dev/null
cargo run -q -p staticbus-store --example event_sourcing >/dev/null

step "cross-crate fixture (release)"
cargo run --release -p fixture-app
cargo test --release -p fixture-app

step "compile-time benchmark, quick (the generated crates build, warning-free)"
EVENTS=4 RUNS=1 OUT=target/compile_time_check benches/compile_time/run.sh
