use std::rc::Rc;

use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

async fn flush() {}

#[handler]
async fn log_order(e: &OrderPlaced) {
    let id = Rc::new(e.id);
    flush().await;
    let _ = id;
}

fn main() {}
