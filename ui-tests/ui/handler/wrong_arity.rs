use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[derive(StaticEvent)]
struct OrderShipped {
    id: u64,
}

#[handler]
fn log_order(placed: &OrderPlaced, shipped: &OrderShipped) {
    let _ = (placed.id, shipped.id);
}

fn main() {}
