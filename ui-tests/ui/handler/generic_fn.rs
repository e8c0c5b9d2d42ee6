use staticbus::prelude::*;

#[handler]
fn log_any<E: StaticEvent>(e: &E) {
    let _ = e;
}

fn main() {}
