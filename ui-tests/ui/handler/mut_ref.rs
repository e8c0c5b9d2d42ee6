use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[handler]
fn bump_order(e: &mut OrderPlaced) {
    e.id += 1;
}

fn main() {}
