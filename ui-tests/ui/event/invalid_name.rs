use staticbus::prelude::*;

#[derive(StaticEvent)]
#[event(name = "order..placed")]
struct OrderPlaced {
    id: u64,
}

fn main() {}
