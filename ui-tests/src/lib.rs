//! Compile-fail tests of the staticbus macros live in `tests/` and `ui/`.
