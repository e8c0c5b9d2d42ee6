use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

// Every misuse of the circuit breaker's keys is reported, each on its own token.
#[handler(circuit_breaker(fails = 3))]
fn unknown_key(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(circuit_breaker = 5)]
fn not_a_list(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(circuit_breaker(failures = 0, probes = "one"))]
fn not_counts(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(circuit_breaker(ratio = 1.5, window = "half a minute"))]
fn bad_ratio_and_window(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(circuit_breaker(ratio = 0.5, min_calls = 10))]
fn ratio_without_window(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(circuit_breaker(reset = "30s", dead_letter = "yes"))]
fn no_rule(e: &OrderPlaced) {
    let _ = e.id;
}

fn main() {}
