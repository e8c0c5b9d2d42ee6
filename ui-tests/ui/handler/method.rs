use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

struct Logger;

impl Logger {
    #[handler]
    fn log_order(&self, e: &OrderPlaced) {
        let _ = e.id;
    }
}

fn main() {}
