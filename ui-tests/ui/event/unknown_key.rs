use staticbus::prelude::*;

#[derive(StaticEvent)]
#[event(nme = "x")]
struct OrderPlaced {
    id: u64,
}

fn main() {}
