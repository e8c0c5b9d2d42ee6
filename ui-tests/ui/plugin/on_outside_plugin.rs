use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[on]
fn placed(e: &OrderPlaced) {
    let _ = e.id;
}

fn main() {}
