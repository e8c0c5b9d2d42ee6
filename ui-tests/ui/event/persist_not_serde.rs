use staticbus::prelude::*;

// A persisted event is stored as JSON and read back: it must be Serialize and Deserialize.
#[derive(StaticEvent)]
#[event(persist)]
struct OrderPlaced {
    total: u64,
}

#[derive(StaticEvent)]
#[event(persist = true)]
struct OrderPaid;

fn main() {}
