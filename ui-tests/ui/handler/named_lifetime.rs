use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[handler]
fn log_order<'a>(e: &'a OrderPlaced) {
    let _ = e.id;
}

fn main() {}
