use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[handler(prio = 5)]
fn log_order(e: &OrderPlaced) {
    let _ = e.id;
}

fn main() {}
