use staticbus::prelude::*;

#[derive(StaticEvent)]
struct OrderPlaced {
    id: u64,
}

#[derive(Default)]
struct Audit {
    seen: u64,
}

#[plugin]
impl Audit {
    #[on]
    fn placed(&mut self, e: &OrderPlaced) {
        self.seen += e.id;
    }
}

fn main() {}
