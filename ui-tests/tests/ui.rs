//! Compile-fail tests: each `ui/<macro>/<mistake>.rs` must fail to build with the diagnostics
//! in its `.stderr`; `ui/pass/*.rs` must build and run. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p staticbus-ui-tests`, then read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    // `ui/*/*.rs` would also match `ui/pass/`, so the compile-fail directories are listed.
    t.compile_fail("ui/event/*.rs");
    t.compile_fail("ui/handler/*.rs");
    t.compile_fail("ui/plugin/*.rs");
    t.compile_fail("ui/request/*.rs");
    t.pass("ui/pass/*.rs");
}
