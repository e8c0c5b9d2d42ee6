use staticbus::prelude::*;

#[handler]
fn log_any(e: &impl StaticEvent) {
    let _ = e;
}

fn main() {}
