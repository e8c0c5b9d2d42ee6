use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[handler]
fn log_order(e: &OrderPlaced) -> i32 {
    e.id as i32
}

fn main() {}
