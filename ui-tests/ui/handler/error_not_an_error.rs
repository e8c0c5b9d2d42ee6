use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[derive(Debug)]
struct InvalidOrder(u64);

#[handler]
fn check_order(e: &OrderPlaced) -> Result<(), InvalidOrder> {
    if e.id == 0 { Err(InvalidOrder(e.id)) } else { Ok(()) }
}

fn main() {}
