use staticbus::prelude::*;

struct OrderPlaced {
    id: u64,
}

#[handler]
fn log_order(e: &OrderPlaced) {
    let _ = e.id;
}

fn main() {}
