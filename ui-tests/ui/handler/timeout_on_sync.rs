use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

// A sync call cannot be cancelled: only an `async fn` takes a timeout.
#[handler(timeout = "250ms")]
fn log_order(e: &OrderPlaced) {
    let _ = e.id;
}

fn main() {}
