use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

// Every misuse of `detached` and `concurrency` is reported, each on its own token.
#[handler(detached)]
fn sync_detached(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(concurrency = 4)]
fn sync_concurrent(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(detached = true)]
async fn with_a_value(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(detached, concurrency = 0)]
async fn no_workers(e: &OrderPlaced) {
    let _ = e.id;
}

#[handler(concurrency = 100000)]
async fn too_many_workers(e: &OrderPlaced) {
    let _ = e.id;
}

fn main() {}
