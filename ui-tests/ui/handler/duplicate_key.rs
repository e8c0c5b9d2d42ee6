use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[handler(priority = 5, priority = 10)]
fn log_order(e: &OrderPlaced) {
    let _ = e.id;
}

fn main() {}
