use std::cell::Cell;

use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[derive(Default)]
struct Audit {
    seen: Cell<u64>,
}

#[plugin]
impl Audit {
    #[on]
    fn placed(&self, e: &OrderPlaced) {
        self.seen.set(self.seen.get() + e.id);
    }
}

fn main() {}
