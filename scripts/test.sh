#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, tests (incl. doc tests and trybuild ui tests),
# the runtime's tests again in release, the cross-crate fixture in release (linker section
# GC differs there), and the unsafe code's tests under Miri.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# NATS JetStream for the bridge's tests (staticbus-bridge): Debian's nats-server, installed
# if missing. Each test starts its own server (a free port, a directory under
# STATICBUS_NATS_TMP) and stops it when done; whatever a killed test left running is
# stopped here on exit, failure included. If it truly cannot be installed, the tests that
# need it say so loudly and pass without running.
ensure_nats() {
    command -v nats-server >/dev/null 2>&1 && return 0
    step "installing nats-server (Debian package)"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -q nats-server >/dev/null 2>&1 \
        || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q nats-server >/dev/null 2>&1; } \
        || true
    command -v nats-server >/dev/null 2>&1
}
STATICBUS_NATS_TMP="$(mktemp -d "${TMPDIR:-/tmp}/staticbus-nats.XXXXXX")"
export STATICBUS_NATS_TMP
stop_nats() {
    pkill -f -- "-sd $STATICBUS_NATS_TMP" 2>/dev/null || true
    rm -rf "$STATICBUS_NATS_TMP"
}
trap stop_nats EXIT
if ensure_nats; then
    export STATICBUS_REQUIRE_NATS=1
    echo "nats-server: $(nats-server --version)"
else
    echo "*** WARNING: nats-server could not be installed: the bridge's broker tests will be SKIPPED ***"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
# The bridge without its NATS transport (the trait only) still builds.
cargo check -q -p staticbus-bridge --no-default-features

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet

step "cargo test (debug)"
cargo test --workspace --all-features

step "runtime tests (release: inlining and timing differ)"
cargo test --release -p staticbus

step "examples that check their own counts"
cargo run -q --example quickstart >/dev/null
cargo run -q --example reliability
cargo run -q --example plugins >/dev/null
cargo run -q --example quality_monitor >/dev/null
cargo run -q -p staticbus-store --example event_sourcing >/dev/null
if command -v nats-server >/dev/null 2>&1; then
    cargo run -q -p staticbus-bridge --example cluster | tail -3
else
    echo "*** SKIPPED: the cluster example (no nats-server) ***"
fi

step "cross-crate fixture (release)"
cargo run --release -p fixture-app
cargo test --release -p fixture-app

# The unsafe code's own tests under Miri (nightly's; installed if missing): the in-place
# responder future (strict, leaks included) and the in-place bus values (whose tests leak
# their counters on purpose, and whose dynamic form reads the clock). Stacked borrows, then
# tree borrows for the future.
ensure_miri() {
    cargo +nightly miri --version >/dev/null 2>&1 && return 0
    # The components if nightly is there (a small download), else nightly itself.
    timeout 240 rustup component add --toolchain nightly miri rust-src >/dev/null 2>&1 \
        || timeout 240 rustup toolchain install nightly --profile minimal -c miri -c rust-src >/dev/null 2>&1 \
        || true
    cargo +nightly miri --version >/dev/null 2>&1
}
step "unsafe code under Miri"
if ensure_miri; then
    miri_target="${CARGO_TARGET_DIR:-target}/miri-build"
    CARGO_TARGET_DIR="$miri_target" cargo +nightly miri test -q -p staticbus --lib linked::in_place
    CARGO_TARGET_DIR="$miri_target" MIRIFLAGS=-Zmiri-tree-borrows \
        cargo +nightly miri test -q -p staticbus --lib linked::in_place
    CARGO_TARGET_DIR="$miri_target" MIRIFLAGS="-Zmiri-ignore-leaks -Zmiri-disable-isolation" \
        cargo +nightly miri test -q -p staticbus --lib bus::value
    # The derive's copier, called through a type-erased function pointer.
    CARGO_TARGET_DIR="$miri_target" cargo +nightly miri test -q -p staticbus --lib \
        linked::tests::the_derives_probes
else
    echo "*** WARNING: Miri could not be installed: the unsafe code's Miri run is SKIPPED ***"
fi

step "compile-time benchmark, quick (the generated crates build, warning-free)"
EVENTS=4 RUNS=1 OUT=target/compile_time_check benches/compile_time/run.sh
