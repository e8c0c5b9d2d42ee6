//! Benchmark support: the events and handlers the criterion benches dispatch.
