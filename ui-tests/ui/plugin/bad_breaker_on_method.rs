use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[derive(Default)]
struct Billing;

// The same checks on `#[on]`, and a duplicate key.
#[plugin]
impl Billing {
    #[on(circuit_breaker(failures = 2, failures = 3, window = "forever"))]
    fn charge(&self, e: &OrderPlaced) {
        let _ = e.id;
    }
}

fn main() {}
