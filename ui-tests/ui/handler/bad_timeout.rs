use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

// Every bad value is reported, each on its own literal.
#[handler(timeout = "soon")]
async fn not_a_duration(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(timeout = 250)]
async fn not_a_string(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(timeout = "1000000000000000000s")]
async fn too_long(e: &OrderPlaced) {
    let _ = e.id;
}

fn main() {}
