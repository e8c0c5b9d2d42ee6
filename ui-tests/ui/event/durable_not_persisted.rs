use staticbus::prelude::*;

#[derive(StaticEvent)]
struct CartViewed {
    cart: u64,
}

async fn publish(system: &EventSystem) {
    // Not `#[event(persist)]`: `publish_durable` says so.
    let _ = system.publish_durable(CartViewed { cart: 1 }).await;
}

fn main() {}
