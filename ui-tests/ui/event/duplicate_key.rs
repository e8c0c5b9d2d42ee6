use staticbus::prelude::*;

#[derive(StaticEvent)]
#[event(name = "order.placed", name = "order.created")]
struct OrderPlaced {
    id: u64,
}

fn main() {}
